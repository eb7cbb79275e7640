//! The MariaDB engine against a real server.

mod common;

use common::{TestDb, fresh_database};
use mysql::prelude::Queryable;
use ripcord_core::engine::*;
use ripcord_core::journal::{JournalMark, Op, Origin, RowImage};
use ripcord_core::schema::TableSchema;
use ripcord_core::value::{Row, Value};
use ripcord_mysql::MyEngine;
use ripcord_testkit::refusals::{assert_named_column_and_check, refusals, rule_breaking_ops};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Collect {
    tables: Vec<(TableSchema, Vec<Row>)>,
}

impl SnapshotSink for Collect {
    fn begin_table(&mut self, schema: &TableSchema) -> ripcord_core::Result<()> {
        self.tables.push((schema.clone(), Vec::new()));
        Ok(())
    }
    fn row(&mut self, row: Row) -> ripcord_core::Result<()> {
        self.tables.last_mut().unwrap().1.push(row);
        Ok(())
    }
    fn end_table(&mut self) -> ripcord_core::Result<()> {
        Ok(())
    }
}

fn engine(db: &TestDb) -> MyEngine {
    let mut e = MyEngine::open(&db.url).expect("open");
    e.prepare().expect("prepare");
    e
}

fn snap(e: &mut MyEngine, tables: &[&str]) -> (JournalMark, Collect) {
    let mut sink = Collect::default();
    let names: Vec<String> = tables.iter().map(|s| s.to_string()).collect();
    let mark = e.snapshot(&names, &mut sink).expect("snapshot");
    (mark, sink)
}

fn restore(e: &mut MyEngine, schema: &TableSchema, rows: &[Row], tag: &str, capture: bool) -> u64 {
    let mut it = rows.iter().cloned().map(Ok);
    e.restore_table(
        schema,
        &mut it,
        &RestoreOptions {
            restore_tag: tag.into(),
            capture,
            freeze: false,
        },
    )
    .expect("restore")
}

fn dump(db: &TestDb, table: &str) -> String {
    let bin = if std::path::Path::new("/usr/bin/mysqldump").exists() {
        "/usr/bin/mysqldump"
    } else {
        "mariadb-dump"
    };
    let out = std::process::Command::new(bin)
        .args([
            "-h127.0.0.1",
            "-uroot",
            "--skip-dump-date",
            "--no-create-info",
            "--skip-extended-insert",
            "--hex-blob",
            "--skip-triggers",
            &db.name,
            table,
        ])
        .output()
        .expect("run mysqldump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const TYPED: &str = "CREATE TABLE typed (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    i8 TINYINT, u64 BIGINT UNSIGNED, i64 BIGINT, m DECIMAL(12,3), d DOUBLE, f FLOAT,
    dt DATETIME(6), ts TIMESTAMP(6) NULL, ts0 TIMESTAMP NULL, dd DATE, tt TIME(3), y YEAR,
    name VARCHAR(200), body TEXT, ch CHAR(3), j JSON, e ENUM('a','b','c'), s SET('x','y','z'),
    bl BLOB, vb VARBINARY(16), flag TINYINT(1)
) ENGINE=InnoDB";

const TYPED_ROWS: &str = "INSERT INTO typed (i8,u64,i64,m,d,f,dt,ts,ts0,dd,tt,y,name,body,ch,j,e,s,bl,vb,flag) VALUES
 (NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
 (-128, 18446744073709551615, -9223372036854775808, -999999999.999, 0.1e0 + 0.2e0, 3.4028234e38,
  '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '1970-01-01 00:00:01', '1000-01-01', '-838:59:59.000', 1901,
  'مَرْحَبًا بِكُمْ فِي الْمَتْجَرِ', '👋🏽 emoji 🇸🇦', 'abc', '{\"a\": [1, 2.50, \"x\"], \"b\": null}', 'c', 'x,z',
  X'00FF000000', X'', 1),
 (127, 0, 9223372036854775807, 0.000, -1e-300, 0.1,
  '2024-02-29 12:00:00.000001', '2024-06-30 23:59:59.5', '2024-06-30 23:59:59', '2024-02-29', '00:00:00.001', 2155,
  '', 'a''b\\\\c\"d\\n\\0e', '', '[]', 'a', '', X'', X'00', 0),
 (0, 42, 0, 1234567.890, 2.5e-308, -1.17549435e-38,
  '2000-01-01 00:00:00', '2000-01-01 00:00:00', '2000-01-01 00:00:00', '2000-01-01', '12:34:56.789', 2000,
  'plain', NULL, NULL, '{}', 'b', 'x,y,z', X'DEADBEEF', X'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', 0)";

#[test]
fn introspection() {
    let db = fresh_database();
    let mut c = db.conn();
    c.query_drop(
        "CREATE TABLE parent (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE) ENGINE=InnoDB;
         CREATE TABLE child (a INT NOT NULL, b VARCHAR(5) NOT NULL, pid INT, note TEXT,
            PRIMARY KEY (b, a), KEY (note(10)),
            CONSTRAINT fk_child_parent FOREIGN KEY (pid) REFERENCES parent (id)) ENGINE=InnoDB;
         CREATE TABLE nokey (x INT) ENGINE=InnoDB;
         CREATE TRIGGER child_bi BEFORE INSERT ON child FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'n/a');
         INSERT INTO parent (code) VALUES ('a'), ('b');",
    )
    .unwrap();
    let mut e = engine(&db);
    assert_eq!(e.kind(), "mysql");
    assert_eq!(e.list_tables().unwrap(), vec!["child", "nokey", "parent"]);
    let s = e.table_schema("child").unwrap();
    assert_eq!(s.column_names(), vec!["a", "b", "pid", "note"]);
    assert_eq!(s.key_names(), vec!["b", "a"]);
    assert!(s.columns[0].not_null && !s.columns[2].not_null);
    assert_eq!(s.columns[1].decl_type, "varchar(5)");
    assert!(
        s.create_sql
            .contains("CONSTRAINT `fk_child_parent` FOREIGN KEY")
    );
    assert_eq!(s.post_sql.len(), 1);
    assert!(s.post_sql[0].contains("child_bi"), "{}", s.post_sql[0]);
    let p = e.table_schema("parent").unwrap();
    assert!(
        !p.create_sql.contains("AUTO_INCREMENT="),
        "{}",
        p.create_sql
    );
    assert!(matches!(
        e.table_schema("nokey"),
        Err(EngineError::NoPrimaryKey(_))
    ));
    assert!(matches!(
        e.table_schema("nope"),
        Err(EngineError::NoSuchTable(_))
    ));
    assert_eq!(e.count_rows("parent").unwrap(), 2);
    assert_eq!(
        e.query_scalar("SELECT code FROM parent WHERE id = 2")
            .unwrap(),
        Value::Text("b".into())
    );
    assert_eq!(
        e.query_scalar("SELECT 1 FROM parent WHERE id = 99")
            .unwrap(),
        Value::Null
    );
}

#[test]
fn open_errors_hide_the_password() {
    let e = MyEngine::open("mariadb://root:hunter2secret@127.0.0.1:1/x")
        .err()
        .expect("must fail");
    let shown = e.to_string();
    assert!(matches!(e, EngineError::Connect { .. }));
    assert!(!shown.contains("hunter2secret"), "{shown}");
    let db = fresh_database();
    let url = db.url.replacen("mysql://", "mariadb://", 1);
    MyEngine::open(&url).expect("mariadb:// works");
}

#[test]
fn types_round_trip_through_snapshot_restore_and_journal() {
    let db = fresh_database();
    let mut c = db.conn();
    c.query_drop(TYPED).unwrap();
    c.query_drop(TYPED_ROWS).unwrap();
    let mut e = engine(&db);
    let before = dump(&db, "typed");
    let (_, sink) = snap(&mut e, &["typed"]);
    let (schema, rows) = sink.tables[0].clone();
    assert_eq!(rows.len(), 4);
    let r = &rows[1];
    assert_eq!(r[2], Value::Decimal("18446744073709551615".into()));
    assert_eq!(r[3], Value::Int(i64::MIN));
    assert!(matches!(&r[4], Value::Decimal(d) if d == "-999999999.999"));
    assert!(matches!(r[5], Value::Float(f) if f == 0.1 + 0.2));
    assert!(matches!(r[6], Value::Float(f) if f as f32 == f32::MAX));
    assert_eq!(r[8], Value::Text("2038-01-19 03:14:07.999999".into()));
    assert_eq!(r[19], Value::Blob(vec![0, 255, 0, 0, 0]));
    assert_eq!(r[21], Value::Int(1));
    assert_eq!(rows[2][13], Value::Text(String::new()));
    assert_eq!(rows[3][14], Value::Null);
    assert!(matches!(&rows[2][4], Value::Decimal(d) if d == "0.000"));

    // Restore the snapshot over a changed table: the dump must match the original.
    c.query_drop("UPDATE typed SET name = 'changed'; DELETE FROM typed WHERE id = 1; INSERT INTO typed (name) VALUES ('new')").unwrap();
    let next_id: i64 = c
        .query_first("SELECT MAX(id) + 1 FROM typed")
        .unwrap()
        .unwrap();
    assert_eq!(restore(&mut e, &schema, &rows, "r1", true), 4);
    assert_eq!(dump(&db, "typed"), before);
    assert!(e.restore_done("r1").unwrap());
    assert!(!e.restore_done("r2").unwrap());
    let after = e.table_schema("typed").unwrap();
    assert_eq!(after.create_sql, schema.create_sql);
    // The AUTO_INCREMENT counter kept the ids handed out after the checkpoint.
    c.query_drop("INSERT INTO typed (name) VALUES ('later')")
        .unwrap();
    let id: i64 = c
        .query_first("SELECT id FROM typed WHERE name = 'later'")
        .unwrap()
        .unwrap();
    assert!(id >= next_id, "id {id} reused (expected >= {next_id})");
    c.query_drop("DELETE FROM typed WHERE name = 'later'")
        .unwrap();
    assert_eq!(e.captured_tables().unwrap(), vec!["typed"]);

    // Capture: a business session in another time zone rewrites every row; the journal
    // images must equal the snapshot's values exactly.
    let mark = e.journal_mark().unwrap();
    c.query_drop("SET time_zone = '-07:00'").unwrap();
    c.query_drop("DELETE FROM typed").unwrap();
    c.query_drop("SET time_zone = '+00:00'").unwrap();
    c.query_drop(TYPED_ROWS).unwrap();
    c.query_drop("SET time_zone = '+09:30'").unwrap();
    c.query_drop("UPDATE typed SET flag = flag").unwrap();
    let entries = e
        .read_journal(&mark, i64::MAX, &["typed".to_string()])
        .unwrap();
    let deletes: Vec<_> = entries.iter().filter(|x| x.op == Op::Delete).collect();
    let inserts: Vec<_> = entries.iter().filter(|x| x.op == Op::Insert).collect();
    let updates: Vec<_> = entries.iter().filter(|x| x.op == Op::Update).collect();
    assert_eq!((deletes.len(), inserts.len(), updates.len()), (4, 4, 4));
    assert!(entries.iter().all(|x| x.origin == Origin::Business));
    let (_, now) = snap(&mut e, &["typed"]);
    let now_rows = &now.tables[0].1;
    for (d, row) in deletes.iter().zip(&rows) {
        assert_eq!(d.old.as_ref().unwrap(), &schema.image(row));
    }
    for ((i, u), row) in inserts.iter().zip(&updates).zip(now_rows) {
        assert_eq!(i.new.as_ref().unwrap(), &schema.image(row));
        assert_eq!(u.new.as_ref().unwrap(), &schema.image(row));
        assert_eq!(u.old.as_ref().unwrap(), &schema.image(row));
    }
    // Same data, new ids: everything but the key equals the original snapshot.
    for (a, b) in now_rows.iter().zip(&rows) {
        assert_eq!(a[1..], b[1..]);
    }
    assert!(entries[0].at.ends_with('Z'));
}

#[test]
fn restore_keeps_foreign_keys_both_ways() {
    let db = fresh_database();
    let mut c = db.conn();
    c.query_drop(
        "CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE child (id INT PRIMARY KEY, pid INT, CONSTRAINT fk_c FOREIGN KEY (pid) REFERENCES parent (id)) ENGINE=InnoDB;
         INSERT INTO parent VALUES (1), (2); INSERT INTO child VALUES (10, 1), (11, 2);
         CREATE TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW SET @x = NEW.id;",
    )
    .unwrap();
    let mut e = engine(&db);
    let (_, sink) = snap(&mut e, &["parent", "child"]);
    let create_child = sink.tables[1].0.create_sql.clone();
    for (schema, rows) in &sink.tables {
        restore(&mut e, schema, rows, &format!("fk:{}", schema.name), false);
    }
    assert_eq!(e.table_schema("child").unwrap().create_sql, create_child);
    assert_eq!(e.table_schema("parent").unwrap().post_sql.len(), 1);
    let err = c
        .query_drop("INSERT INTO child VALUES (12, 99)")
        .unwrap_err();
    assert!(err.to_string().contains("fk_c"), "{err}");
    c.query_drop("INSERT INTO child VALUES (12, 2)").unwrap();
    let leftovers: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE '\\_ripcord\\_%\\_%\\_%'")
        .unwrap();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn simple_table(db: &TestDb, e: &mut MyEngine) -> TableSchema {
    db.conn()
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL) ENGINE=InnoDB")
        .unwrap();
    let s = e.table_schema("t").unwrap();
    e.capture_install(std::slice::from_ref(&s)).unwrap();
    s
}

fn id_of(img: &RowImage) -> i64 {
    match img["id"] {
        Value::Int(i) => i,
        ref v => panic!("id {v:?}"),
    }
}

#[test]
fn a_write_committed_late_with_a_lower_seq_is_a_hole() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    let mut a = db.conn();
    let mut b = db.conn();
    a.query_drop("START TRANSACTION").unwrap();
    a.query_drop("INSERT INTO t VALUES (1, 'a')").unwrap();
    b.query_drop("INSERT INTO t VALUES (2, 'b')").unwrap();
    let (mark, sink) = snap(&mut e, &["t"]);
    let ids: Vec<&Value> = sink.tables[0].1.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, vec![&Value::Int(2)]);
    a.query_drop("COMMIT").unwrap();
    let seq_a: i64 = a
        .query_first("SELECT seq FROM _ripcord_journal WHERE JSON_VALUE(new_row, '$.id') = 'i:1'")
        .unwrap()
        .unwrap();
    assert!(seq_a < mark.high, "A took the lower seq");
    assert_eq!(mark.holes, vec![seq_a]);
    let got = e.read_journal(&mark, i64::MAX, &["t".into()]).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].seq, seq_a);
    assert_eq!(id_of(got[0].new.as_ref().unwrap()), 1);
    // The non-snapshot mark sees both as committed.
    let m = e.journal_mark().unwrap();
    assert!(m.holes.is_empty() && m.high == mark.high);
}

/// The sync's wait for writers in flight: a writer of this journal holding a sequence
/// below the mark is waited for until it ends, committed or rolled back.
#[test]
fn inflight_waits_for_an_open_writer_of_this_journal_below_the_mark() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    for end in ["COMMIT", "ROLLBACK"] {
        let mut a = db.conn();
        let mut b = db.conn();
        a.query_drop("START TRANSACTION").unwrap();
        let id = if end == "COMMIT" { 10 } else { 20 };
        a.query_drop(format!("INSERT INTO t VALUES ({id}, 'a')"))
            .unwrap();
        b.query_drop(format!("INSERT INTO t VALUES ({}, 'b')", id + 1))
            .unwrap();
        let mark = e.journal_mark().unwrap();
        let token = e.journal_inflight().unwrap().unwrap();
        assert!(
            !e.journal_inflight_done(&token).unwrap(),
            "a is open below {mark:?}"
        );
        assert!(!e.journal_inflight_done(&token).unwrap(), "still open");
        a.query_drop(end).unwrap();
        assert!(e.journal_inflight_done(&token).unwrap(), "a ended ({end})");
    }
}

/// The bug: the in-flight check read every transaction on the server that had written
/// (INNODB_TRX), so a writer in another database, or another universe's sync, held this
/// journal's passes back. Writers elsewhere, and writers of this database above the mark,
/// are not waited for.
#[test]
fn inflight_ignores_writers_of_other_databases_on_the_server() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    db.conn()
        .query_drop("INSERT INTO t VALUES (1, 'committed')")
        .unwrap();
    let other = fresh_database();
    let mut o = other.conn();
    o.query_drop("CREATE TABLE u (id INT PRIMARY KEY) ENGINE=InnoDB")
        .unwrap();
    o.query_drop("START TRANSACTION").unwrap();
    o.query_drop("INSERT INTO u VALUES (1)").unwrap();
    let token = e.journal_inflight().unwrap().unwrap();
    assert!(
        e.journal_inflight_done(&token).unwrap(),
        "a writer in another database does not hold this journal"
    );
    // An open writer of this journal that took the highest sequence is after the mark.
    let mut a = db.conn();
    a.query_drop("START TRANSACTION").unwrap();
    a.query_drop("INSERT INTO t VALUES (2, 'open')").unwrap();
    let token = e.journal_inflight().unwrap().unwrap();
    assert!(e.journal_inflight_done(&token).unwrap());
    a.query_drop("ROLLBACK").unwrap();
    o.query_drop("ROLLBACK").unwrap();
}

#[test]
fn concurrent_writers_are_in_the_snapshot_or_the_journal_never_both_never_neither() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|w| {
            let url = db.url.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&url).unwrap()).unwrap();
                let mut rng = 0x9e3779b97f4a7c15u64 ^ (w as u64 + 1);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 40 {
                    let base = (w * 100_000 + n * 2) as i64;
                    c.query_drop("START TRANSACTION").unwrap();
                    c.query_drop(format!("INSERT INTO t VALUES ({base}, 'x')"))
                        .unwrap();
                    std::thread::sleep(Duration::from_micros(next() % 3000));
                    c.query_drop(format!("INSERT INTO t VALUES ({}, 'y')", base + 1))
                        .unwrap();
                    if next() % 10 == 0 {
                        c.query_drop("ROLLBACK").unwrap();
                    } else {
                        c.query_drop("COMMIT").unwrap();
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (mark, sink) = snap(&mut e, &["t"]);
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let in_snapshot: BTreeSet<i64> = sink.tables[0]
        .1
        .iter()
        .map(|r| match r[0] {
            Value::Int(i) => i,
            _ => unreachable!(),
        })
        .collect();
    let replayed: BTreeSet<i64> = e
        .read_journal(&mark, i64::MAX, &["t".into()])
        .unwrap()
        .iter()
        .map(|x| x.seq)
        .collect();
    let all: Vec<(i64, String)> = db
        .conn()
        .query("SELECT seq, new_row FROM _ripcord_journal ORDER BY seq")
        .unwrap();
    assert!(!in_snapshot.is_empty() && !replayed.is_empty());
    for (seq, new_row) in &all {
        let img = ripcord_core::journal::RowImage::from_iter(
            serde_json::from_str::<BTreeMap<String, serde_json::Value>>(new_row)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| k == "id")
                .map(|(k, v)| (k, Value::Int(v.as_str().unwrap()[2..].parse().unwrap()))),
        );
        let id = id_of(&img);
        assert!(
            in_snapshot.contains(&id) != replayed.contains(seq),
            "seq {seq} (id {id}): in snapshot {}, replayed {}",
            in_snapshot.contains(&id),
            replayed.contains(seq)
        );
    }
    eprintln!(
        "{} journal rows, {} in the snapshot, {} replayed, {} holes at the mark",
        all.len(),
        in_snapshot.len(),
        replayed.len(),
        mark.holes.len()
    );
}

fn img(pairs: &[(&str, Value)]) -> RowImage {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn apply_is_exactly_once_and_refusals_are_reported() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    let t = || "t".to_string();
    let ops = vec![
        ApplyOp::Insert {
            table: t(),
            row: img(&[("id", Value::Int(1)), ("v", Value::Text("one".into()))]),
        },
        ApplyOp::Insert {
            table: t(),
            row: img(&[("id", Value::Int(1)), ("v", Value::Text("dup".into()))]),
        },
        ApplyOp::Update {
            table: t(),
            key: img(&[("id", Value::Int(1))]),
            set: img(&[("v", Value::Text("one".into()))]),
        },
        ApplyOp::Update {
            table: t(),
            key: img(&[("id", Value::Int(99))]),
            set: img(&[("v", Value::Text("x".into()))]),
        },
        ApplyOp::Insert {
            table: t(),
            row: img(&[
                ("id", Value::Int(2)),
                ("v", Value::Text("far too long for twenty chars".into())),
            ]),
        },
        ApplyOp::Insert {
            table: t(),
            row: img(&[
                ("id", Value::Int(3)),
                ("v", Value::Text("it's \\ ok".into())),
            ]),
        },
        ApplyOp::Delete {
            table: t(),
            key: img(&[("id", Value::Int(98))]),
        },
        ApplyOp::Update {
            table: t(),
            key: img(&[("id", Value::Int(3))]),
            set: img(&[("v", Value::Null)]),
        },
        ApplyOp::Delete {
            table: t(),
            key: img(&[("id", Value::Int(1))]),
        },
    ];
    let pos = ReplayPosition {
        rollback: "rb1".into(),
        last_seq: 17,
    };
    let out = e
        .apply(&ops, &pos, &|o| format!("{} outcomes", o.len()))
        .unwrap();
    assert_eq!(out[0], ApplyOutcome::Applied);
    assert!(
        matches!(&out[1], ApplyOutcome::Refused(r) if r.message.contains("Duplicate")),
        "{:?}",
        out[1]
    );
    assert_eq!(
        out[2],
        ApplyOutcome::Applied,
        "same value is still a matched row"
    );
    assert_eq!(out[3], ApplyOutcome::NoRow);
    assert!(
        matches!(&out[4], ApplyOutcome::Refused(r) if r.message.contains("too long")),
        "{:?}",
        out[4]
    );
    assert_eq!(out[5], ApplyOutcome::Applied);
    assert_eq!(out[6], ApplyOutcome::NoRow);
    assert!(
        matches!(&out[7], ApplyOutcome::Refused(_)),
        "NOT NULL: {:?}",
        out[7]
    );
    assert_eq!(out[8], ApplyOutcome::Applied);
    assert_eq!(out.len(), ops.len());
    assert_eq!(e.replay_position("rb1").unwrap(), Some(17));
    assert_eq!(e.replay_position("other").unwrap(), None);
    assert_eq!(
        e.replay_log("rb1").unwrap(),
        vec![(17, "9 outcomes".to_string())]
    );
    assert_eq!(e.count_rows("t").unwrap(), 1);
    assert_eq!(
        e.query_scalar("SELECT v FROM t WHERE id = 3").unwrap(),
        Value::Text("it's \\ ok".into())
    );
    // ripcord's own writes are journaled as ripcord, never as business.
    let j = e
        .read_journal(&JournalMark::default(), i64::MAX, &["t".into()])
        .unwrap();
    assert!(!j.is_empty() && j.iter().all(|x| x.origin == Origin::Ripcord));

    // The same position again: the position row conflicts, so the batch's rows roll back.
    let again = vec![ApplyOp::Insert {
        table: t(),
        row: img(&[("id", Value::Int(50)), ("v", Value::Text("z".into()))]),
    }];
    assert!(e.apply(&again, &pos, &|_| String::new()).is_err());
    assert_eq!(e.count_rows("t").unwrap(), 1);
    assert_eq!(
        e.query_scalar("SELECT @ripcord_origin").unwrap(),
        Value::Null
    );
}

/// A refused write was one English string; a gap now says which rule it broke.
#[test]
fn a_refused_write_says_which_rule_it_broke() {
    let db = fresh_database();
    let mut c = db.conn();
    c.query_drop(
        "CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, n INT,
             CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id),
             CONSTRAINT n_positive CHECK (n > 0)) ENGINE=InnoDB;
         INSERT INTO parent VALUES (1); INSERT INTO child VALUES (1, 1, 1);",
    )
    .unwrap();
    let mut e = engine(&db);
    let refused = refusals(&mut e, &rule_breaking_ops(true));
    let fk = |table: &str| Violated::ForeignKey {
        constraint: Some("child_parent_fk".into()),
        table: Some(table.into()),
    };
    assert_eq!(refused[0].violated, fk("parent"), "{:?}", refused[0]);
    assert_eq!(refused[0].code, "1452");
    assert_eq!(
        refused[1].violated,
        Violated::KeyConflict {
            constraint: Some("PRIMARY".into())
        },
        "{:?}",
        refused[1]
    );
    assert_named_column_and_check(&refused);
    assert_eq!(refused[4].violated, fk("child"), "{:?}", refused[4]);
}

#[test]
fn rates() {
    let db = fresh_database();
    let mut e = engine(&db);
    let schema = simple_table(&db, &mut e);
    let n = 20_000i64;
    let ops: Vec<ApplyOp> = (0..n)
        .map(|i| ApplyOp::Insert {
            table: "t".into(),
            row: img(&[("id", Value::Int(i)), ("v", Value::Text(format!("v{i}")))]),
        })
        .chain((0..n).map(|i| ApplyOp::Update {
            table: "t".into(),
            key: img(&[("id", Value::Int(i))]),
            set: img(&[("v", Value::Text("u".into()))]),
        }))
        .collect();
    let t0 = Instant::now();
    let out = e
        .apply(
            &ops,
            &ReplayPosition {
                rollback: "perf".into(),
                last_seq: 1,
            },
            &|_| String::new(),
        )
        .unwrap();
    let apply_rate = ops.len() as f64 / t0.elapsed().as_secs_f64();
    assert!(out.iter().all(|o| *o == ApplyOutcome::Applied));
    e.capture_remove(&["t".into()]).unwrap();
    assert!(e.captured_tables().unwrap().is_empty());
    db.conn()
        .query_drop("INSERT INTO t SELECT seq + 100000, CONCAT('row ', seq) FROM seq_1_to_180000")
        .unwrap();
    let t0 = Instant::now();
    let (_, sink) = snap(&mut e, &["t"]);
    let rows = &sink.tables[0].1;
    let snap_rate = rows.len() as f64 / t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    restore(&mut e, &schema, rows, "perf", false);
    let restore_rate = rows.len() as f64 / t0.elapsed().as_secs_f64();
    assert_eq!(e.count_rows("t").unwrap(), rows.len() as u64);
    eprintln!(
        "apply {apply_rate:.0} ops/s, snapshot {snap_rate:.0} rows/s, restore {restore_rate:.0} rows/s ({} rows)",
        rows.len()
    );
    // Rates are printed for a look, never asserted: the machine is shared and noisy
    // (bench/engines.sh measures them beside the peers).
}

#[test]
fn freeze_blocks_business_writes_but_not_ripcord() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    let mut c = db.conn();
    c.query_drop("INSERT INTO t VALUES (1, 'a')").unwrap();
    e.freeze(&["t".into()]).unwrap();
    e.freeze(&["t".into()]).unwrap();
    assert_eq!(e.frozen_tables().unwrap(), vec!["t"]);
    for sql in [
        "INSERT INTO t VALUES (2, 'b')",
        "UPDATE t SET v = 'z'",
        "DELETE FROM t",
    ] {
        let err = c.query_drop(sql).unwrap_err().to_string();
        assert!(err.contains("ripcord: table t is frozen"), "{err}");
    }
    // A session that sets the tag to something else is still blocked.
    c.query_drop("SET @ripcord_origin = 'migration'").unwrap();
    assert!(c.query_drop("DELETE FROM t").is_err());
    let out = e
        .apply(
            &[ApplyOp::Insert {
                table: "t".into(),
                row: img(&[("id", Value::Int(2)), ("v", Value::Text("b".into()))]),
            }],
            &ReplayPosition {
                rollback: "f".into(),
                last_seq: 1,
            },
            &|_| String::new(),
        )
        .unwrap();
    assert_eq!(out, vec![ApplyOutcome::Applied]);
    e.execute("UPDATE t SET v = 'r' WHERE id = 1", Origin::Ripcord)
        .unwrap();
    assert!(
        e.execute("UPDATE t SET v = 'm' WHERE id = 1", Origin::Migration)
            .is_err()
    );
    e.unfreeze(&["t".into()]).unwrap();
    assert!(e.frozen_tables().unwrap().is_empty());
    c.query_drop("DELETE FROM t WHERE id = 2").unwrap();
    assert_eq!(e.count_rows("t").unwrap(), 1);
}

#[test]
fn execute_tags_origin_and_eval_exprs() {
    let db = fresh_database();
    let mut e = engine(&db);
    simple_table(&db, &mut e);
    e.execute(
        "INSERT INTO t VALUES (1, 'm'); UPDATE t SET v = 'mm' WHERE id = 1",
        Origin::Migration,
    )
    .unwrap();
    assert!(
        e.execute(
            "INSERT INTO t VALUES (2, 'x'); INSERT INTO t VALUES (2, 'dup')",
            Origin::Migration
        )
        .is_err()
    );
    assert_eq!(e.count_rows("t").unwrap(), 1, "a failed step rolls back");
    db.conn()
        .query_drop("INSERT INTO t VALUES (3, 'b')")
        .unwrap();
    let j = e
        .read_journal(&JournalMark::default(), i64::MAX, &["t".into()])
        .unwrap();
    let origins: Vec<Origin> = j.iter().map(|x| x.origin).collect();
    assert_eq!(
        origins,
        vec![Origin::Migration, Origin::Migration, Origin::Business]
    );
    let input = img(&[
        ("a", Value::Int(2)),
        ("b", Value::Decimal("1.50".into())),
        ("s", Value::Text("x".into())),
    ]);
    let v = e
        .eval_exprs(
            &[
                "a * 10".into(),
                "b * 2".into(),
                "CONCAT(s, '!')".into(),
                "a / 4e0".into(),
                "NULL".into(),
            ],
            &input,
        )
        .unwrap();
    assert_eq!(
        v,
        vec![
            Value::Int(20),
            Value::Decimal("3.00".into()),
            Value::Text("x!".into()),
            Value::Float(0.5),
            Value::Null
        ]
    );
}

#[test]
fn cancel_interrupts_a_running_statement() {
    let db = fresh_database();
    let mut e = engine(&db);
    for sql in [
        "SELECT SLEEP(30)",
        "SELECT BENCHMARK(100000000000, MD5('x'))",
    ] {
        let h = e.cancel_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            h.cancel();
        });
        let t0 = Instant::now();
        let r = e.query_scalar(sql);
        t.join().unwrap();
        assert!(matches!(r, Err(EngineError::Cancelled)), "{sql}: {r:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{sql} took {:?}",
            t0.elapsed()
        );
    }
    let h = e.cancel_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        h.cancel();
    });
    db.conn()
        .query_drop("CREATE TABLE k (id INT PRIMARY KEY)")
        .unwrap();
    let r = e.execute(
        "INSERT INTO k VALUES (1); DO SLEEP(30); INSERT INTO k VALUES (2)",
        Origin::Migration,
    );
    t.join().unwrap();
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    assert_eq!(
        e.count_rows("k").unwrap(),
        0,
        "a cancelled step is rolled back"
    );
    // The engine is usable afterwards.
    assert_eq!(e.query_scalar("SELECT 7").unwrap(), Value::Int(7));
}

const CRASH_URL: &str = "RIPCORD_MY_CRASH_CHILD_URL";

/// Child half of the crash test: restores `t` and is killed at `RIPCORD_CRASH_AT`. Does
/// nothing when run as an ordinary test.
#[test]
fn crash_child_restore() {
    let Ok(url) = std::env::var(CRASH_URL) else {
        return;
    };
    let mut e = MyEngine::open(&url).unwrap();
    let (_, sink) = snap(&mut e, &["t"]);
    let (schema, mut rows) = sink.tables[0].clone();
    rows.retain(|r| r[0] != Value::Int(2));
    let mut it = rows.into_iter().map(Ok);
    let opts = RestoreOptions {
        restore_tag: "crash".into(),
        capture: true,
        freeze: true,
    };
    e.restore_table(&schema, &mut it, &opts).unwrap();
    panic!("the crash point was not reached");
}

fn crash_at(db: &TestDb, point: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_restore",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_URL, &db.url)
        .env("RIPCORD_CRASH_AT", point)
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the child must be killed at {point}: {status:?}"
    );
}

#[test]
fn restore_reruns_after_a_crash_at_any_point() {
    for point in [
        "none",
        "mysql:restore:before-swap",
        "mysql:restore:after-swap",
        "mysql:restore:before-thaw-interim",
    ] {
        let db = fresh_database();
        let mut e = engine(&db);
        simple_table(&db, &mut e);
        let mut c = db.conn();
        c.query_drop("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
            .unwrap();
        if point == "none" {
            // No crash: a plain restore, then a rerun with the same tag is a no-op.
            let (_, sink) = snap(&mut e, &["t"]);
            let (schema, rows) = sink.tables[0].clone();
            restore(&mut e, &schema, &rows[..1], "crash", true);
            assert_eq!(restore(&mut e, &schema, &rows, "crash", true), 1);
            assert_eq!(e.count_rows("t").unwrap(), 1);
            continue;
        }
        crash_at(&db, point);
        assert!(!e.restore_done("crash").unwrap());
        let (schema, rows) = {
            let s = e
                .table_schema("t")
                .or_else(|_| e.table_schema("_ripcord_new_t"))
                .unwrap();
            (s, Vec::<Row>::new())
        };
        if point != "mysql:restore:before-swap" {
            // The swapped-in table is frozen from its first moment (operator-model seed
            // 1170: a write here once escaped both the freeze and the journal).
            assert_eq!(e.count_rows("t").unwrap(), 2);
            let refused = c
                .query_drop("INSERT INTO t VALUES (9, 'late')")
                .unwrap_err()
                .to_string();
            assert!(refused.contains("frozen"), "{point}: {refused}");
        }
        let mut schema = schema;
        schema.name = "t".into();
        schema.create_sql = schema.create_sql.replace("`_ripcord_new_t`", "`t`");
        // A rerun after the marker does not read the rows: pass none.
        let mut it = rows.into_iter().map(Ok);
        let opts = RestoreOptions {
            restore_tag: "crash".into(),
            capture: true,
            freeze: true,
        };
        e.restore_table(&schema, &mut it, &opts).unwrap();
        assert!(e.restore_done("crash").unwrap());
        let ids: Vec<i64> = c.query("SELECT id FROM t ORDER BY id").unwrap();
        assert_eq!(ids, vec![1, 3], "{point}");
        let tables: Vec<String> = c
            .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND (TABLE_NAME LIKE '\\_ripcord\\_new\\_%' OR TABLE_NAME LIKE '\\_ripcord\\_old\\_%')")
            .unwrap();
        assert!(tables.is_empty(), "{tables:?}");
        let swap: i64 = c
            .query_first("SELECT COUNT(*) FROM _ripcord_swap")
            .unwrap()
            .unwrap();
        assert_eq!(swap, 0);
        assert!(
            c.query_drop("INSERT INTO t VALUES (10, 'blocked')")
                .unwrap_err()
                .to_string()
                .contains("frozen")
        );
        assert_eq!(e.captured_tables().unwrap(), vec!["t"]);
        let interim: i64 = c
            .query_first("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_ripcord\\_frn\\_%'")
            .unwrap()
            .unwrap();
        assert_eq!(
            interim, 0,
            "{point}: the interim freeze is gone once the restore is done"
        );
    }
}
