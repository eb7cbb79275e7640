//! The PostgreSQL engine against a real server: one fresh database per test.

mod common;

use common::{TestDb, fresh_database};
use ripcord_core::engine::*;
use ripcord_core::journal::{JournalMark, Op, Origin, RowImage};
use ripcord_core::schema::TableSchema;
use ripcord_core::value::{Row, Value};
use ripcord_postgres::PgEngine;
use ripcord_testkit::refusals::{assert_named_column_and_check, refusals, rule_breaking_ops};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Collect {
    tables: Vec<(TableSchema, Vec<Row>)>,
}

impl SnapshotSink for Collect {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<(), ripcord_core::Error> {
        self.tables.push((schema.clone(), Vec::new()));
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<(), ripcord_core::Error> {
        self.tables.last_mut().unwrap().1.push(row);
        Ok(())
    }
    fn end_table(&mut self) -> Result<(), ripcord_core::Error> {
        Ok(())
    }
}

fn engine(db: &TestDb) -> PgEngine {
    let mut e = PgEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e
}

fn snap(e: &mut PgEngine, tables: &[&str]) -> (JournalMark, Collect) {
    let mut c = Collect::default();
    let t: Vec<String> = tables.iter().map(|s| s.to_string()).collect();
    let mark = e.snapshot(&t, &mut c).unwrap();
    (mark, c)
}

fn pg_dump(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/pg_dump")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "--no-owner",
            "--no-privileges",
        ])
        .args(args)
        .arg(db.name())
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| {
            !l.starts_with("--")
                && !l.starts_with("\\restrict")
                && !l.starts_with("\\unrestrict")
                && !l.trim().is_empty()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const TYPES_DDL: &str = "
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE everything (
        id bigint PRIMARY KEY,
        i2 smallint, i4 integer, i8 bigint,
        f4 real, f8 double precision,
        n numeric, money numeric(12,3),
        ok boolean,
        t text, vc varchar(20), ch char(5),
        ts timestamp, tstz timestamptz, d date, tm time, tmtz timetz, iv interval,
        u uuid, j json, jb jsonb, ia int[], ta text[], m mood, b bytea, addr inet
    );";

const TYPES_ROWS: &str = "
    INSERT INTO everything VALUES
    (1, -32768, -2147483648, -9223372036854775808, 3.4028235e38, 1.7976931348623157e308,
     -123456789012345678901234567890.123456789012345678901234567890, 1234567.891,
     true, 'مَرْحَبًا بِالعَالَم', 'emoji 🎉👨‍👩‍👧', 'ab',
     '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.123456+05:30', '2024-02-29', '23:59:59.999999',
     '12:00:00+03', '1 year 2 mons 3 days 04:05:06.789',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1,  \"a\": [1, 2]}', '{\"z\": 1.50, \"a\": \"x\"}',
     '{1,NULL,3}', '{\"a b\",\"c,d\",NULL,\"\"}', 'happy', '\\x00ff0000abcd', '192.168.0.1/24'),
    (2, 32767, 2147483647, 9223372036854775807, 1e-45, 5e-324,
     0.000000000000000000000000000001, -0.001,
     false, '', '', '', '0001-01-01 00:00:00', '1970-01-01 00:00:00+00', '4713-01-01 BC', '00:00:00',
     '00:00:00-14', '-1 days +02:03:00', '00000000-0000-0000-0000-000000000000', '[]', '{}',
     '{}', '{}', 'sad', '\\x', '::1'),
    (3, NULL, NULL, NULL, 'NaN', '-Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL,
     'infinity', '-infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, 0, 0, 0, -0.0, 0.1, 12.300, 0.000, true, E'tab\\there\\nnewline\\\\back ''q''', 'x', 'x    ',
     '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.000001-08', '2000-01-01', '12:34:56.000001',
     '23:59:59.999999+14', '00:00:00', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\"s\"', '[1, \"two\", null]',
     '{{1,2},{3,4}}', '{\"\\\\\",\"\\\"\"}', 'ok', '\\x5c0a09', '10.0.0.0/8');";

fn as_images(schema: &TableSchema, rows: &[Row]) -> BTreeMap<i64, RowImage> {
    rows.iter()
        .map(|r| {
            let Value::Int(id) = r[0] else { panic!("id") };
            (id, schema.image(r))
        })
        .collect()
}

#[test]
fn values_map_to_the_documented_kinds() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(TYPES_DDL, Origin::Business).unwrap();
    e.execute(TYPES_ROWS, Origin::Business).unwrap();
    let (_, c) = snap(&mut e, &["everything"]);
    let (schema, rows) = &c.tables[0];
    let r1 = schema.image(&rows[0]);
    assert_eq!(r1["i8"], Value::Int(i64::MIN));
    assert_eq!(r1["f8"], Value::Float(f64::MAX));
    assert_eq!(r1["money"], Value::Decimal("1234567.891".into()));
    assert_eq!(r1["ok"], Value::Bool(true));
    assert_eq!(
        r1["tstz"],
        Value::Text("2024-02-29 18:29:59.123456+00".into())
    );
    assert_eq!(r1["b"], Value::Blob(vec![0, 255, 0, 0, 0xab, 0xcd]));
    assert_eq!(r1["ia"], Value::Text("{1,NULL,3}".into()));
    assert_eq!(
        r1["iv"],
        Value::Text("1 year 2 mons 3 days 04:05:06.789".into())
    );
    let r4 = schema.image(&rows[3]);
    assert_eq!(r4["n"], Value::Decimal("12.300".into()));
    assert_eq!(r4["f8"], Value::Float(0.1));
    let r2 = schema.image(&rows[1]);
    assert_eq!(r2["t"], Value::Text(String::new()));
    let r3 = schema.image(&rows[2]);
    assert_eq!(r3["t"], Value::Null);
    assert!(matches!(r3["f4"], Value::Float(f) if f.is_nan()));
    assert_eq!(schema.columns[7].decl_type, "numeric(12,3)");
    assert_eq!(
        e.query_scalar("SELECT money FROM everything WHERE id = 4")
            .unwrap(),
        Value::Decimal("0.000".into())
    );
    assert_eq!(
        e.query_scalar("SELECT count(*) FROM everything").unwrap(),
        Value::Int(4)
    );
    assert_eq!(
        e.query_scalar("SELECT tstz FROM everything WHERE id = 2")
            .unwrap(),
        Value::Text("1970-01-01 00:00:00+00".into())
    );
    assert_eq!(e.query_scalar("SELECT 1 WHERE false").unwrap(), Value::Null);
    assert_eq!(e.count_rows("everything").unwrap(), 4);
}

#[test]
fn snapshot_restore_round_trip_is_byte_identical_in_pg_dump() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(TYPES_DDL, Origin::Business).unwrap();
    e.execute(TYPES_ROWS, Origin::Business).unwrap();
    let before = pg_dump(&db, &["--data-only", "-t", "everything"]);
    let (_, c) = snap(&mut e, &["everything"]);
    let (schema, rows) = &c.tables[0];
    // The migration damages the table; the restore must put it back exactly.
    e.execute(
        "UPDATE everything SET money = money * 2, tstz = now(); ALTER TABLE everything DROP COLUMN jb; DELETE FROM everything WHERE id = 2",
        Origin::Migration,
    )
    .unwrap();
    let mut it = rows.clone().into_iter().map(Ok);
    let opts = RestoreOptions {
        restore_tag: "rb1:everything".into(),
        capture: true,
        freeze: false,
    };
    assert_eq!(e.restore_table(schema, &mut it, &opts).unwrap(), 4);
    assert!(e.restore_done("rb1:everything").unwrap());
    assert!(!e.restore_done("rb2:everything").unwrap());
    assert_eq!(e.captured_tables().unwrap(), vec!["everything".to_string()]);
    let after = pg_dump(&db, &["--data-only", "-t", "everything"]);
    assert_eq!(before, after);
    let (_, again) = snap(&mut e, &["everything"]);
    assert_eq!(&again.tables[0].1, rows);
}

fn business_session(db: &TestDb) -> postgres::Client {
    let mut c = db.connect();
    // Deliberately unlike ripcord's session: the journal must not depend on it.
    c.batch_execute(
        "SET TimeZone = 'America/New_York'; SET DateStyle = 'German, DMY'; SET IntervalStyle = 'iso_8601';
         SET extra_float_digits = 0; SET bytea_output = 'escape'",
    )
    .unwrap();
    c
}

#[test]
fn journal_images_decode_to_exactly_the_snapshot_values() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(TYPES_DDL, Origin::Business).unwrap();
    let schema = e.table_schema("everything").unwrap();
    e.capture_install(std::slice::from_ref(&schema)).unwrap();
    let mark = e.journal_mark().unwrap();
    let mut biz = business_session(&db);
    biz.batch_execute(TYPES_ROWS).unwrap();
    let (_, c) = snap(&mut e, &["everything"]);
    let inserted = as_images(&c.tables[0].0, &c.tables[0].1);
    biz.batch_execute(
        "UPDATE everything SET t = 'changed' WHERE id = 1; DELETE FROM everything WHERE id = 4",
    )
    .unwrap();
    let upto = e.journal_mark().unwrap().high;
    let j = e.read_journal(&mark, upto, &["everything".into()]).unwrap();
    assert_eq!(j.len(), 6);
    for entry in &j[..4] {
        assert_eq!(entry.op, Op::Insert);
        assert_eq!(entry.origin, Origin::Business);
        let new = entry.new.as_ref().unwrap();
        let Value::Int(id) = new["id"] else { panic!() };
        for (k, v) in &inserted[&id] {
            assert_eq!(&new[k], v, "row {id} column {k}");
        }
        assert_eq!(new.len(), inserted[&id].len());
    }
    assert_eq!(j[4].op, Op::Update);
    assert_eq!(j[4].old.as_ref().unwrap(), &inserted[&1]);
    let mut changed = inserted[&1].clone();
    changed.insert("t".into(), Value::Text("changed".into()));
    assert_eq!(j[4].new.as_ref().unwrap(), &changed);
    assert_eq!(j[5].op, Op::Delete);
    assert_eq!(j[5].old.as_ref().unwrap(), &inserted[&4]);
    assert!(j[5].new.is_none());
    assert!(j[5].at.ends_with('Z'), "{}", j[5].at);

    // Migration writes are tagged; after a type change the old images still decode.
    e.execute(
        "UPDATE everything SET i4 = 7 WHERE id = 2",
        Origin::Migration,
    )
    .unwrap();
    e.execute(
        "ALTER TABLE everything ALTER COLUMN vc TYPE int USING 0",
        Origin::Migration,
    )
    .unwrap();
    let upto = e.journal_mark().unwrap().high;
    let j = e.read_journal(&mark, upto, &["everything".into()]).unwrap();
    assert_eq!(j.len(), 7);
    assert_eq!(j[6].origin, Origin::Migration);
    assert_eq!(j[0].new.as_ref().unwrap()["vc"], inserted[&1]["vc"]);

    e.capture_remove(&["everything".into()]).unwrap();
    assert!(e.captured_tables().unwrap().is_empty());
}

#[test]
fn late_commit_with_a_lower_sequence_is_replayed() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE acct (id int PRIMARY KEY, v text)",
        Origin::Business,
    )
    .unwrap();
    let schema = e.table_schema("acct").unwrap();
    e.capture_install(&[schema]).unwrap();
    let mut a = db.connect();
    let mut b = db.connect();
    a.batch_execute("BEGIN; INSERT INTO acct VALUES (1, 'a')")
        .unwrap();
    b.batch_execute("INSERT INTO acct VALUES (2, 'b')").unwrap();
    let (mark, c) = snap(&mut e, &["acct"]);
    a.batch_execute("COMMIT").unwrap();
    // A took the lower sequence number but committed after the snapshot.
    let seq_a: i64 = a
        .query_one(
            "SELECT seq FROM ripcord._ripcord_journal WHERE new_row->>'id' = '1'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        seq_a <= mark.high,
        "A's entry sits below the mark: {seq_a} <= {}",
        mark.high
    );
    assert_eq!(
        c.tables[0].1,
        vec![vec![Value::Int(2), Value::Text("b".into())]]
    );
    let upto = e.journal_mark().unwrap().high;
    let j = e.read_journal(&mark, upto, &["acct".into()]).unwrap();
    assert_eq!(j.len(), 1, "{j:?}");
    assert_eq!(j[0].seq, seq_a);
    assert_eq!(j[0].new.as_ref().unwrap()["id"], Value::Int(1));
    // Without the snapshot the mark alone would miss it: that is the bug this prevents.
    let blind = JournalMark {
        snapshot: None,
        ..mark.clone()
    };
    assert!(
        e.read_journal(&blind, upto, &["acct".into()])
            .unwrap()
            .is_empty()
    );
    // Explicit holes are honoured too.
    let holes = JournalMark {
        holes: vec![seq_a],
        snapshot: None,
        ..mark
    };
    assert_eq!(
        e.read_journal(&holes, upto, &["acct".into()])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn concurrent_writers_every_write_is_in_the_snapshot_or_the_journal_never_both() {
    use std::sync::{Arc, Barrier};
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE hits (id bigint PRIMARY KEY, who int NOT NULL, v int NOT NULL)",
        Origin::Business,
    )
    .unwrap();
    let schema = e.table_schema("hits").unwrap();
    e.capture_install(&[schema]).unwrap();
    let start = e.journal_mark().unwrap();
    let threads = 8;
    let per_thread = 150;
    let go = Arc::new(Barrier::new(threads + 1));
    // One writer holds a transaction open across the snapshot: a guaranteed hole.
    let hold = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let mut handles = Vec::new();
    for w in 0..threads {
        let url = db.url.clone();
        let (go, hold, release) = (go.clone(), hold.clone(), release.clone());
        handles.push(std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            go.wait();
            for i in 0..per_thread {
                let id = (w * 100_000 + i) as i64;
                let mut tx = c.transaction().unwrap();
                tx.execute("INSERT INTO hits VALUES ($1, $2, 0)", &[&id, &(w as i32)])
                    .unwrap();
                if i % 3 == 0 && i > 0 {
                    // Update an earlier row of this writer in the same transaction.
                    tx.execute("UPDATE hits SET v = v + 1 WHERE id = $1", &[&(id - 1)])
                        .unwrap();
                }
                if w == 0 && i == 10 {
                    hold.wait();
                    release.wait();
                }
                if i % 7 == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                tx.commit().unwrap();
            }
        }));
    }
    go.wait();
    hold.wait();
    let (mark, c) = snap(&mut e, &["hits"]);
    release.wait();
    for h in handles {
        h.join().unwrap();
    }
    let upto = e.journal_mark().unwrap().high;
    let entries = e.read_journal(&mark, upto, &["hits".into()]).unwrap();
    assert!(
        entries.iter().any(|x| x.seq <= mark.high),
        "the held transaction must show up as a late commit below the mark"
    );
    // Every committed journal entry is either seen by the snapshot or returned, never both.
    let all = e.read_journal(&start, upto, &["hits".into()]).unwrap();
    let returned: BTreeSet<i64> = entries.iter().map(|x| x.seq).collect();
    let mut model: BTreeMap<i64, i64> = c.tables[0]
        .1
        .iter()
        .map(|r| match (&r[0], &r[2]) {
            (Value::Int(id), Value::Int(v)) => (*id, *v),
            _ => panic!(),
        })
        .collect();
    let snapshot_ids: BTreeSet<i64> = model.keys().copied().collect();
    for x in &all {
        let id = match (&x.new, &x.old) {
            (Some(n), _) | (None, Some(n)) => match n["id"] {
                Value::Int(i) => i,
                _ => panic!(),
            },
            _ => panic!(),
        };
        if x.op == Op::Insert {
            assert_eq!(
                snapshot_ids.contains(&id),
                !returned.contains(&x.seq),
                "insert of {id} (seq {}) must be in exactly one of snapshot and journal",
                x.seq
            );
        }
        if returned.contains(&x.seq) {
            let n = x.new.as_ref().unwrap();
            if let (Value::Int(id), Value::Int(v)) = (&n["id"], &n["v"]) {
                model.insert(*id, *v);
            }
        }
    }
    // Replaying what was returned on top of the snapshot gives the final table.
    let final_rows: BTreeMap<i64, i64> = db
        .connect()
        .query("SELECT id, v::bigint FROM hits", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(final_rows.len(), threads * per_thread);
    assert_eq!(model, final_rows);
}

#[test]
fn apply_is_exactly_once_and_refusals_become_outcomes() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE pay (id bigint PRIMARY KEY, name text UNIQUE, amount numeric(12,3) NOT NULL,
                           at timestamptz, data jsonb, tags text[], raw bytea, ok boolean, ratio float8,
                           twice bigint GENERATED ALWAYS AS (id * 2) STORED)",
        Origin::Business,
    )
    .unwrap();
    let img = |pairs: &[(&str, Value)]| -> RowImage {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    };
    let row = |id: i64, name: &str| {
        img(&[
            ("id", Value::Int(id)),
            ("name", Value::Text(name.into())),
            ("amount", Value::Decimal("10.500".into())),
            ("at", Value::Text("2024-01-02 03:04:05.123456+00".into())),
            ("data", Value::Text("{\"k\": [1, 2]}".into())),
            ("tags", Value::Text("{a,\"b c\"}".into())),
            ("raw", Value::Blob(vec![0, 1, 2])),
            ("ok", Value::Bool(true)),
            ("ratio", Value::Float(0.1)),
            ("twice", Value::Int(id * 2)),
        ])
    };
    let t = "pay".to_string();
    let ops = vec![
        ApplyOp::Insert {
            table: t.clone(),
            row: row(1, "one"),
        },
        ApplyOp::Insert {
            table: t.clone(),
            row: row(2, "two"),
        },
        ApplyOp::Insert {
            table: t.clone(),
            row: row(3, "one"),
        }, // unique violation
        ApplyOp::Update {
            table: t.clone(),
            key: img(&[("id", Value::Int(2))]),
            set: img(&[("amount", Value::Decimal("99.125".into()))]),
        },
        ApplyOp::Update {
            table: t.clone(),
            key: img(&[("id", Value::Int(42))]),
            set: img(&[("amount", Value::Int(1))]),
        },
        ApplyOp::Delete {
            table: t.clone(),
            key: img(&[("id", Value::Int(1))]),
        },
        ApplyOp::Delete {
            table: t.clone(),
            key: img(&[("id", Value::Int(1))]),
        },
        ApplyOp::Insert {
            table: t.clone(),
            row: img(&[("id", Value::Int(5)), ("amount", Value::Null)]),
        },
        ApplyOp::Insert {
            table: t.clone(),
            row: row(6, "six"),
        },
    ];
    let pos = ReplayPosition {
        rollback: "rb:ledger".into(),
        last_seq: 77,
    };
    let out = e
        .apply(&ops, &pos, &|o: &[ApplyOutcome]| {
            format!("{} outcomes", o.len())
        })
        .unwrap();
    assert_eq!(out[0], ApplyOutcome::Applied);
    assert_eq!(out[1], ApplyOutcome::Applied);
    assert!(
        matches!(&out[2], ApplyOutcome::Refused(r) if r.message.contains("duplicate key")),
        "{out:?}"
    );
    assert_eq!(out[3], ApplyOutcome::Applied);
    assert_eq!(out[4], ApplyOutcome::NoRow);
    assert_eq!(out[5], ApplyOutcome::Applied);
    assert_eq!(out[6], ApplyOutcome::NoRow);
    assert!(
        matches!(&out[7], ApplyOutcome::Refused(r) if r.message.contains("null value")),
        "{out:?}"
    );
    assert_eq!(out[8], ApplyOutcome::Applied);
    assert_eq!(e.replay_position("rb:ledger").unwrap(), Some(77));
    assert_eq!(e.replay_position("other").unwrap(), None);
    assert_eq!(
        e.replay_log("rb:ledger").unwrap(),
        vec![(77, "9 outcomes".to_string())]
    );
    let (_, c) = snap(&mut e, &["pay"]);
    let rows = as_images(&c.tables[0].0, &c.tables[0].1);
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), vec![2, 6]);
    let mut want = row(2, "two");
    want.insert("amount".into(), Value::Decimal("99.125".into()));
    assert_eq!(rows[&2], want);
    assert_eq!(rows[&6], row(6, "six"));
    // The same position again is refused as a whole: a batch commits once.
    assert!(
        e.apply(&ops[..1], &pos, &|_: &[ApplyOutcome]| String::new())
            .is_err()
    );
    assert_eq!(e.count_rows("pay").unwrap(), 2);
}

/// A refused write was one English string; a gap now says which rule it broke.
#[test]
fn a_refused_write_says_which_rule_it_broke() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE parent (id bigint PRIMARY KEY);
         CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL
             CONSTRAINT child_parent_fk REFERENCES parent (id),
             n int CONSTRAINT n_positive CHECK (n > 0));
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1, 1);",
        Origin::Business,
    )
    .unwrap();
    let refused = refusals(&mut e, &rule_breaking_ops(true));
    let fk = |table: &str| Violated::ForeignKey {
        constraint: Some("child_parent_fk".into()),
        table: Some(table.into()),
    };
    assert_eq!(refused[0].violated, fk("parent"));
    assert_eq!(refused[0].code, "23503");
    assert!(
        refused[0].message.contains("is not present"),
        "{:?}",
        refused[0]
    );
    assert_eq!(
        refused[1].violated,
        Violated::KeyConflict {
            constraint: Some("child_pkey".into())
        }
    );
    assert_named_column_and_check(&refused);
    assert_eq!(refused[4].violated, fk("child"));
}

#[test]
fn freeze_blocks_business_writes_and_lets_ripcord_through() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute("CREATE TABLE f (id int PRIMARY KEY)", Origin::Business)
        .unwrap();
    e.freeze(&["f".into()]).unwrap();
    assert_eq!(e.frozen_tables().unwrap(), vec!["f".to_string()]);
    let er = e
        .execute("INSERT INTO f VALUES (1)", Origin::Business)
        .unwrap_err();
    assert!(
        er.to_string()
            .contains("ripcord: table f is frozen while a rollback runs"),
        "{er}"
    );
    assert!(e.execute("DELETE FROM f", Origin::Migration).is_err());
    let mut raw = db.connect();
    assert!(raw.batch_execute("INSERT INTO f VALUES (2)").is_err());
    assert!(raw.batch_execute("TRUNCATE f").is_err());
    e.execute("INSERT INTO f VALUES (3)", Origin::Ripcord)
        .unwrap();
    let out = e
        .apply(
            &[ApplyOp::Insert {
                table: "f".into(),
                row: [("id".to_string(), Value::Int(4))].into_iter().collect(),
            }],
            &ReplayPosition {
                rollback: "x".into(),
                last_seq: 1,
            },
            &|_: &[ApplyOutcome]| String::new(),
        )
        .unwrap();
    assert_eq!(out, vec![ApplyOutcome::Applied]);
    e.unfreeze(&["f".into()]).unwrap();
    assert!(e.frozen_tables().unwrap().is_empty());
    raw.batch_execute("INSERT INTO f VALUES (2)").unwrap();
    assert_eq!(e.count_rows("f").unwrap(), 3);
}

#[test]
fn freeze_waits_for_in_flight_writers() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute("CREATE TABLE w (id int PRIMARY KEY)", Origin::Business)
        .unwrap();
    let mut writer = db.connect();
    writer
        .batch_execute("BEGIN; INSERT INTO w VALUES (1)")
        .unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        writer.batch_execute("COMMIT").unwrap();
        Instant::now()
    });
    e.freeze(&["w".into()]).unwrap();
    let frozen_at = Instant::now();
    let committed_at = t.join().unwrap();
    assert!(
        frozen_at >= committed_at,
        "freeze returned before the writer committed"
    );
    assert_eq!(e.count_rows("w").unwrap(), 1);
}

#[test]
fn cancel_interrupts_a_running_statement() {
    let db = fresh_database();
    let mut e = engine(&db);
    let h = e.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        h.cancel();
    });
    let start = Instant::now();
    let r = e.execute("SELECT pg_sleep(30)", Origin::Migration);
    t.join().unwrap();
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The connection is still usable afterwards.
    assert_eq!(e.query_scalar("SELECT 1").unwrap(), Value::Int(1));
}

#[test]
fn open_failure_never_shows_the_password() {
    let url = "postgres://postgres:s3cr3t-pw@127.0.0.1:1/nowhere";
    let Err(e) = PgEngine::open(url) else {
        panic!("connected to port 1?")
    };
    let msg = e.to_string();
    assert!(matches!(e, EngineError::Connect { .. }));
    assert!(!msg.contains("s3cr3t-pw"), "{msg}");
    assert!(
        msg.contains("postgres://postgres:***@127.0.0.1:1/nowhere"),
        "{msg}"
    );
}

#[test]
fn eval_exprs_casts_inputs_by_kind() {
    let db = fresh_database();
    let mut e = engine(&db);
    let input: RowImage = [
        ("a".to_string(), Value::Int(40)),
        ("price".to_string(), Value::Decimal("10.50".into())),
        ("name".to_string(), Value::Text("Ada".into())),
        ("flag".to_string(), Value::Bool(true)),
        ("raw".to_string(), Value::Blob(vec![1, 2])),
        ("f".to_string(), Value::Float(0.5)),
    ]
    .into_iter()
    .collect();
    let exprs = vec![
        "a + 2".to_string(),
        "price * 2".to_string(),
        "upper(name)".to_string(),
        "NOT flag".to_string(),
        "raw || '\\x03'::bytea".to_string(),
        "f * 2".to_string(),
        "NULL::int".to_string(),
    ];
    let out = e.eval_exprs(&exprs, &input).unwrap();
    assert_eq!(
        out,
        vec![
            Value::Int(42),
            Value::Decimal("21.00".into()),
            Value::Text("ADA".into()),
            Value::Bool(false),
            Value::Blob(vec![1, 2, 3]),
            Value::Float(1.0),
            Value::Null,
        ]
    );
    // Cached statement, other values.
    let mut other = input.clone();
    other.insert("a".into(), Value::Int(1));
    assert_eq!(
        e.eval_exprs(&exprs[..1], &other).unwrap(),
        vec![Value::Int(3)]
    );
}

#[test]
fn tables_without_primary_key_are_refused() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute("CREATE TABLE loose (a int)", Origin::Business)
        .unwrap();
    assert!(matches!(
        e.table_schema("loose"),
        Err(EngineError::NoPrimaryKey(_))
    ));
    assert!(matches!(
        e.table_schema("nope"),
        Err(EngineError::NoSuchTable(_))
    ));
    assert_eq!(e.list_tables().unwrap(), vec!["loose".to_string()]);
}

const RICH_DEPS: &str = "
    CREATE TYPE status AS ENUM ('new', 'paid', 'void');
    CREATE TABLE customers (id bigint PRIMARY KEY, email text UNIQUE);
    CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
    CREATE SEQUENCE shared_seq;";

const RICH: &str = "
    CREATE TABLE \"Order Lines\" (
        id serial PRIMARY KEY,
        ident bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 100 INCREMENT BY 5),
        customer_id bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        parent_id int REFERENCES \"Order Lines\" (id) DEFERRABLE INITIALLY DEFERRED,
        state status NOT NULL DEFAULT 'new',
        qty numeric(10,2) NOT NULL DEFAULT 0 CHECK (qty >= 0),
        price numeric(12,3),
        total numeric GENERATED ALWAYS AS (qty * price) STORED,
        label varchar(40) COLLATE \"C\",
        \"Mixed Case\" text DEFAULT 'x''y',
        ref bigint DEFAULT nextval('shared_seq'),
        tags text[] DEFAULT '{}',
        updated_at timestamptz DEFAULT now(),
        CONSTRAINT line_unique UNIQUE (customer_id, label),
        CONSTRAINT price_positive CHECK (price > 0) NOT VALID
    ) WITH (fillfactor = 80);
    CREATE INDEX lines_state ON \"Order Lines\" (state) WHERE state <> 'void';
    CREATE INDEX lines_lower ON \"Order Lines\" (lower(label));
    CREATE TRIGGER lines_touch BEFORE UPDATE ON \"Order Lines\" FOR EACH ROW EXECUTE FUNCTION touch();
    COMMENT ON TABLE \"Order Lines\" IS 'the lines';
    COMMENT ON COLUMN \"Order Lines\".qty IS 'how many, it''s quoted';
    INSERT INTO customers VALUES (1, 'a@x');
    INSERT INTO \"Order Lines\" (customer_id, qty, price, label) VALUES (1, 2, 3.5, 'a'), (1, 1, 1, 'b');";

#[test]
fn ddl_recreates_the_table_as_pg_dump_sees_it() {
    let src = fresh_database();
    let mut e = engine(&src);
    e.execute(RICH_DEPS, Origin::Business).unwrap();
    e.execute(RICH, Origin::Business).unwrap();
    let schema = e.table_schema("Order Lines").unwrap();
    assert_eq!(schema.key_names(), vec!["id".to_string()]);
    assert_eq!(schema.columns[1].decl_type, "bigint");
    assert!(schema.post_sql.iter().any(|s| s.contains("FOREIGN KEY")));

    let dst = fresh_database();
    let mut d = engine(&dst);
    d.execute(RICH_DEPS, Origin::Business).unwrap();
    d.execute("INSERT INTO customers VALUES (1, 'a@x')", Origin::Business)
        .unwrap();
    d.execute(&schema.create_sql, Origin::Ripcord).unwrap();
    for s in &schema.post_sql {
        d.execute(s, Origin::Ripcord)
            .unwrap_or_else(|er| panic!("{s}: {er}"));
    }
    let a = pg_dump(&src, &["--schema-only", "-t", "\"Order Lines\""]);
    let b = pg_dump(&dst, &["--schema-only", "-t", "\"Order Lines\""]);
    assert_eq!(a, b);
    assert!(a.contains("lines_touch") && a.contains("fillfactor"), "{a}");
    // Sequences continue where they were.
    let next = |e: &mut PgEngine| {
        e.query_scalar("SELECT nextval(pg_get_serial_sequence('\"Order Lines\"', 'id'))")
            .unwrap()
    };
    assert_eq!(next(&mut e), next(&mut d));
    let next_ident = |e: &mut PgEngine| {
        e.query_scalar("SELECT nextval(pg_get_serial_sequence('\"Order Lines\"', 'ident'))")
            .unwrap()
    };
    assert_eq!(next_ident(&mut e), next_ident(&mut d));
}

#[test]
fn restore_keeps_foreign_keys_and_sequences_correct() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(RICH_DEPS, Origin::Business).unwrap();
    e.execute(RICH, Origin::Business).unwrap();
    let (_, c) = snap(&mut e, &["customers", "Order Lines"]);
    let schema_before = pg_dump(&db, &["--schema-only"]);
    let data_before = pg_dump(
        &db,
        &["--data-only", "-t", "customers", "-t", "\"Order Lines\""],
    );
    // After the checkpoint: a new customer with a line (replayed later), ids handed out.
    e.execute(
        "INSERT INTO customers VALUES (2, 'b@x'); INSERT INTO \"Order Lines\" (customer_id, qty, price, label) VALUES (2, 1, 1, 'c')",
        Origin::Business,
    )
    .unwrap();
    let id_after: Value = e
        .query_scalar("SELECT max(id) FROM \"Order Lines\"")
        .unwrap();
    // Restore the parent first: the child's rows still point at customer 2.
    for (i, (schema, rows)) in c.tables.iter().enumerate() {
        let mut it = rows.clone().into_iter().map(Ok);
        let opts = RestoreOptions {
            restore_tag: format!("r:{i}"),
            capture: false,
            freeze: true,
        };
        e.restore_table(schema, &mut it, &opts).unwrap();
    }
    let no_setval = |s: String| {
        s.lines()
            .filter(|l| !l.contains("setval"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        no_setval(pg_dump(
            &db,
            &["--data-only", "-t", "customers", "-t", "\"Order Lines\""]
        )),
        no_setval(data_before)
    );
    // The sequence did not go back: the id handed out after the checkpoint stays unused.
    let next = e
        .query_scalar("SELECT nextval(pg_get_serial_sequence('\"Order Lines\"', 'id'))")
        .unwrap();
    assert!(next > id_after, "{next} > {id_after}");
    let mut frozen = e.frozen_tables().unwrap();
    frozen.sort();
    assert_eq!(
        frozen,
        vec!["Order Lines".to_string(), "customers".to_string()]
    );
    e.unfreeze(&frozen).unwrap();
    // Everything the schema had is back (frozen triggers gone, keys validated).
    let schema_after = pg_dump(&db, &["--schema-only"]);
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("setval"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&schema_before), strip(&schema_after));
}

#[test]
fn restore_with_a_dangling_child_adds_the_key_not_valid_until_unfreeze() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE ch (id int PRIMARY KEY, p int REFERENCES p);
         INSERT INTO p VALUES (1)",
        Origin::Business,
    )
    .unwrap();
    let (_, c) = snap(&mut e, &["p"]);
    e.execute(
        "INSERT INTO p VALUES (2); INSERT INTO ch VALUES (1, 2)",
        Origin::Business,
    )
    .unwrap();
    let (schema, rows) = &c.tables[0];
    let mut it = rows.clone().into_iter().map(Ok);
    let opts = RestoreOptions {
        restore_tag: "t".into(),
        capture: false,
        freeze: true,
    };
    e.restore_table(schema, &mut it, &opts).unwrap();
    let valid = |e: &mut PgEngine| {
        e.query_scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'ch_p_fkey'")
            .unwrap()
    };
    assert_eq!(valid(&mut e), Value::Bool(false));
    // Replay brings parent 2 back, then the key validates on unfreeze.
    e.apply(
        &[ApplyOp::Insert {
            table: "p".into(),
            row: [("id".to_string(), Value::Int(2))].into_iter().collect(),
        }],
        &ReplayPosition {
            rollback: "t".into(),
            last_seq: 1,
        },
        &|_: &[ApplyOutcome]| String::new(),
    )
    .unwrap();
    e.unfreeze(&["p".into()]).unwrap();
    assert_eq!(valid(&mut e), Value::Bool(true));
}

#[test]
fn rough_throughput() {
    let db = fresh_database();
    let mut e = engine(&db);
    e.execute(
        "CREATE TABLE big (id bigint PRIMARY KEY, name text, amount numeric(12,3), at timestamptz);
         INSERT INTO big SELECT g, 'name ' || g, g / 7.0, '2024-01-01'::timestamptz + g * interval '1 second'
         FROM generate_series(1, 100000) g",
        Origin::Business,
    )
    .unwrap();
    let t0 = Instant::now();
    let (_, c) = snap(&mut e, &["big"]);
    let snap_s = t0.elapsed().as_secs_f64();
    let (schema, rows) = &c.tables[0];
    assert_eq!(rows.len(), 100_000);
    let t1 = Instant::now();
    let mut it = rows.clone().into_iter().map(Ok);
    let opts = RestoreOptions {
        restore_tag: "big".into(),
        capture: true,
        freeze: false,
    };
    e.restore_table(schema, &mut it, &opts).unwrap();
    let restore_s = t1.elapsed().as_secs_f64();
    let ops: Vec<ApplyOp> = (0..20_000i64)
        .map(|i| ApplyOp::Update {
            table: "big".into(),
            key: [("id".to_string(), Value::Int(i + 1))]
                .into_iter()
                .collect(),
            set: [("amount".to_string(), Value::Decimal("1.500".into()))]
                .into_iter()
                .collect(),
        })
        .collect();
    let t2 = Instant::now();
    let out = e
        .apply(
            &ops,
            &ReplayPosition {
                rollback: "big".into(),
                last_seq: 1,
            },
            &|_: &[ApplyOutcome]| String::new(),
        )
        .unwrap();
    let apply_s = t2.elapsed().as_secs_f64();
    assert!(out.iter().all(|o| *o == ApplyOutcome::Applied));
    eprintln!(
        "snapshot {:.0} rows/s, restore {:.0} rows/s, apply {:.0} ops/s (captured)",
        100_000.0 / snap_s,
        100_000.0 / restore_s,
        20_000.0 / apply_s
    );
}
