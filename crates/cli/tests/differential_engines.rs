//! Differential checkpoints on MariaDB and SQLite: the stored rows equal a full read row by
//! row, and a rollback to the differential checkpoint restores exactly them.

mod common;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::rollback::{self, Request};
use ripcord_core::verify::Collect;

fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

fn live(e: &mut dyn Engine) -> Vec<ripcord_core::value::Row> {
    let mut c = Collect::default();
    e.snapshot(&["accounts".to_string()], &mut c).unwrap();
    c.tables.remove(0).1
}

fn differential_restores_exactly_what_a_full_read_holds(engine: &'static str) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("ripcord.toml");
    std::fs::write(
        &plan,
        format!(
            "[databases.legacy]\nurl = \"{}\"\n\n[components.ledger]\ndatabase = \"legacy\"\ntables = [\"accounts\"]\n",
            db.url
        ),
    )
    .unwrap();
    let mut ctx = ctx_for(&plan);
    let mut e = ctx.engine("legacy").unwrap();
    exec(
        e.as_mut(),
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance DECIMAL(12,3), note VARCHAR(20))",
    );
    let values: Vec<String> = (1..=300)
        .map(|i| format!("({i}, 'عميل {i}', {i}.125, NULL)"))
        .collect();
    exec(
        e.as_mut(),
        &format!("INSERT INTO accounts VALUES {}", values.join(", ")),
    );
    let full = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert!(full.components[0].tables[0].delta.is_none());
    for sql in [
        "INSERT INTO accounts VALUES (0, 'first', NULL, 'x'), (1000, 'last', 1, NULL)",
        "UPDATE accounts SET owner = 'renamed', note = 'n' WHERE id = 7",
        "UPDATE accounts SET id = 3000 WHERE id = 8",
        "DELETE FROM accounts WHERE id = 9",
        "INSERT INTO accounts VALUES (9, 'back again', 9.999, NULL)",
        "UPDATE accounts SET balance = balance + 1 WHERE id = 10",
        "UPDATE accounts SET balance = balance + 1 WHERE id = 10",
        "DELETE FROM accounts WHERE id IN (11, 12)",
        "INSERT INTO accounts VALUES (5000, 'gone soon', 1, NULL)",
        "DELETE FROM accounts WHERE id = 5000",
    ] {
        exec(e.as_mut(), sql);
    }
    let diff = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    let t = &diff.components[0].tables[0];
    let d = t.delta.as_ref().expect("differential on this engine");
    assert_eq!(d.base, full.id);
    assert_eq!(d.changes, 9, "0, 1000, 7, 8, 3000, 9, 10, 11, 12: {d:?}");
    let full_read = live(e.as_mut());
    let stored: Vec<_> = ctx
        .store
        .rows(&diff.id, t)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(stored, full_read, "row by row, in key order");

    // Restore it over changed data: the table becomes exactly the full read.
    exec(
        e.as_mut(),
        "UPDATE accounts SET owner = 'later' WHERE id = 1",
    );
    exec(e.as_mut(), "DELETE FROM accounts WHERE id = 2");
    let req = Request {
        components: vec!["ledger".into()],
        to: Some(diff.id.0.clone()),
        reason: "differential".into(),
        accept_uncaptured: false,
    };
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some("tester".into())).unwrap();
    assert!(
        rec.ok(),
        "{}",
        ripcord::render::rollback_record_markdown(&rec)
    );
    let mut expected = full_read;
    // The business writes after the checkpoint are carried back over it.
    for r in expected.iter_mut() {
        if r[0] == ripcord_core::value::Value::Int(1) {
            r[1] = ripcord_core::value::Value::Text("later".into());
        }
    }
    expected.retain(|r| r[0] != ripcord_core::value::Value::Int(2));
    assert_eq!(live(e.as_mut()), expected);
}

#[test]
fn differential_on_mariadb_restores_exactly_what_a_full_read_holds() {
    differential_restores_exactly_what_a_full_read_holds("mysql");
}

#[test]
fn differential_on_sqlite_restores_exactly_what_a_full_read_holds() {
    differential_restores_exactly_what_a_full_read_holds("sqlite");
}
