//! Property: for random table contents and a random sequence of business inserts, updates
//! and deletes after a checkpoint (interleaved with migration writes tagged as migration),
//! a rollback yields exactly the checkpoint state plus the business writes, row by row,
//! with only the columns the business changed carried back.

mod common;
use proptest::prelude::*;
use ripcord_core::rollback::{self, Request};
use ripcord_core::value::Value;
use rusqlite::Connection;
use std::collections::{BTreeMap, BTreeSet};

type Row = [Value; 4];

#[derive(Debug, Clone)]
enum Step {
    BizInsert(Row),
    BizUpdate(usize, Vec<(usize, Value)>),
    BizDelete(usize),
    MigUpdate(usize, usize, Value),
    MigInsert(Row),
    MigDelete(usize),
}

fn val(col: usize) -> BoxedStrategy<Value> {
    let v = match col {
        0 => "[a-zA-Z0-9 'ء-ي|\"]{0,8}".prop_map(Value::Text).boxed(),
        1 => any::<i64>().prop_map(Value::Int).boxed(),
        2 => (-1.0e12..1.0e12f64).prop_map(Value::Float).boxed(),
        _ => proptest::collection::vec(any::<u8>(), 0..5)
            .prop_map(Value::Blob)
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 4 => v].boxed()
}

fn row() -> impl Strategy<Value = Row> {
    (val(0), val(1), val(2), val(3)).prop_map(|(a, b, c, d)| [a, b, c, d])
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => row().prop_map(Step::BizInsert),
        4 => (any::<usize>(), proptest::collection::vec((0..4usize).prop_flat_map(|c| (Just(c), val(c))), 1..3)).prop_map(|(i, ch)| Step::BizUpdate(i, ch)),
        2 => any::<usize>().prop_map(Step::BizDelete),
        2 => (any::<usize>(), 0..4usize).prop_flat_map(|(i, c)| (Just(i), Just(c), val(c))).prop_map(|(i, c, v)| Step::MigUpdate(i, c, v)),
        1 => row().prop_map(Step::MigInsert),
        1 => any::<usize>().prop_map(Step::MigDelete),
    ]
}

const COLS: [&str; 4] = ["a", "b", "c", "d"];

fn sql(v: &Value) -> rusqlite::types::Value {
    ripcord_sqlite_value(v)
}

fn ripcord_sqlite_value(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Null => S::Null,
        Value::Int(i) => S::Integer(*i),
        Value::Float(f) => S::Real(*f),
        Value::Text(t) => S::Text(t.clone()),
        Value::Blob(b) => S::Blob(b.clone()),
        other => panic!("not generated: {other:?}"),
    }
}

fn write(conn: &Connection, origin: &str, sql_text: &str, params: Vec<rusqlite::types::Value>) {
    // The migration's own writes are tagged the way the engine tags a step's transaction.
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute("UPDATE _ripcord_ctl SET origin = ?1", [origin])
        .unwrap();
    tx.execute(sql_text, rusqlite::params_from_iter(params))
        .unwrap();
    tx.execute("UPDATE _ripcord_ctl SET origin = 'business'", [])
        .unwrap();
    tx.commit().unwrap();
}

fn pick(live: &BTreeMap<i64, Row>, i: usize) -> Option<i64> {
    if live.is_empty() {
        None
    } else {
        live.keys().nth(i % live.len()).copied()
    }
}

fn check(initial: Vec<Row>, steps: Vec<Step>) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("p.db")).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER, c REAL, d BLOB);").unwrap();
    let mut live: BTreeMap<i64, Row> = BTreeMap::new();
    for (i, r) in initial.into_iter().enumerate() {
        let id = i as i64 + 1;
        let mut p = vec![rusqlite::types::Value::Integer(id)];
        p.extend(r.iter().map(sql));
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params_from_iter(p),
        )
        .unwrap();
        live.insert(id, r);
    }
    std::fs::write(dir.path().join("ripcord.toml"), "[databases.main]\nurl = \"sqlite:p.db\"\n[components.comp]\ndatabase = \"main\"\ntables = [\"t\"]\n").unwrap();
    let mut ctx = common::ctx_for(&dir.path().join("ripcord.toml"));
    ripcord_core::checkpoint::take(&mut ctx, &["comp".to_string()]).unwrap();

    let mut expected = live.clone();
    let mut mig_created = BTreeSet::new();
    // Per row: business updates of a row the migration created (gaps), unless the business
    // deleted the row later (then nothing is missing).
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    let mut next_id = 10_000;
    for s in steps {
        match s.clone() {
            Step::BizInsert(r) | Step::MigInsert(r) => {
                next_id += 1;
                let mig = matches!(s, Step::MigInsert(_));
                let mut p = vec![rusqlite::types::Value::Integer(next_id)];
                p.extend(r.iter().map(sql));
                write(
                    &conn,
                    if mig { "migration" } else { "business" },
                    "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
                    p,
                );
                live.insert(next_id, r.clone());
                if mig {
                    mig_created.insert(next_id);
                } else {
                    expected.insert(next_id, r);
                }
            }
            Step::BizUpdate(i, changes) => {
                let Some(id) = pick(&live, i) else { continue };
                let sets: Vec<String> = changes
                    .iter()
                    .enumerate()
                    .map(|(n, (c, _))| format!("{} = ?{}", COLS[*c], n + 2))
                    .collect();
                let mut p = vec![rusqlite::types::Value::Integer(id)];
                p.extend(changes.iter().map(|(_, v)| sql(v)));
                write(
                    &conn,
                    "business",
                    &format!("UPDATE t SET {} WHERE id = ?1", sets.join(", ")),
                    p,
                );
                let before = live[&id].clone();
                let row = live.get_mut(&id).unwrap();
                for (c, v) in &changes {
                    row[*c] = v.clone();
                }
                let after = row.clone();
                if mig_created.contains(&id) {
                    *gaps.entry(id).or_default() += 1;
                } else if let Some(e) = expected.get_mut(&id) {
                    for c in 0..4 {
                        if before[c] != after[c] {
                            e[c] = after[c].clone();
                        }
                    }
                }
            }
            Step::BizDelete(i) | Step::MigDelete(i) => {
                let Some(id) = pick(&live, i) else { continue };
                let mig = matches!(s, Step::MigDelete(_));
                write(
                    &conn,
                    if mig { "migration" } else { "business" },
                    "DELETE FROM t WHERE id = ?1",
                    vec![rusqlite::types::Value::Integer(id)],
                );
                live.remove(&id);
                if !mig {
                    expected.remove(&id);
                    gaps.remove(&id);
                }
            }
            Step::MigUpdate(i, c, v) => {
                let Some(id) = pick(&live, i) else { continue };
                write(
                    &conn,
                    "migration",
                    &format!("UPDATE t SET {} = ?2 WHERE id = ?1", COLS[c]),
                    vec![rusqlite::types::Value::Integer(id), sql(&v)],
                );
                live.get_mut(&id).unwrap()[c] = v;
            }
        }
    }

    let req = Request {
        components: vec!["comp".into()],
        to: None,
        reason: "property".into(),
        accept_uncaptured: false,
    };
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some("tester".into())).unwrap();
    assert_eq!(
        rec.gaps.len(),
        gaps.values().sum::<usize>(),
        "gaps: {:?}",
        rec.gaps
    );
    assert!(rec.proof.as_ref().unwrap().ok(), "{:?}", rec.proof);

    let mut st = conn
        .prepare("SELECT id, a, b, c, d FROM t ORDER BY id")
        .unwrap();
    let actual: BTreeMap<i64, Row> = st
        .query_map([], |r| {
            let v = |i| r.get_ref(i).map(ripcord_sqlite::to_value);
            Ok((r.get(0)?, [v(1)?, v(2)?, v(3)?, v(4)?]))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same rows"
    );
    for (id, exp) in &expected {
        assert_eq!(&actual[id], exp, "row {id}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn rollback_is_checkpoint_plus_business_writes(initial in proptest::collection::vec(row(), 0..25), steps in proptest::collection::vec(step(), 0..40)) {
        check(initial, steps);
    }
}
