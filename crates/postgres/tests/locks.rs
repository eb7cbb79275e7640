//! Lock waits of freeze and of arming capture are bounded: a business transaction holding a table makes the
//! freeze fail in bounded time, naming that session, and leaves no table frozen.

mod common;

use common::fresh_database;
use ripcord_core::engine::Engine;
use ripcord_postgres::PgEngine;
use std::time::Duration;

#[test]
fn freeze_blocked_by_an_open_transaction_names_it_and_freezes_nothing() {
    let db = fresh_database();
    let mut app = db.connect();
    app.batch_execute(
        "CREATE TABLE a (id INT PRIMARY KEY, v INT); CREATE TABLE b (id INT PRIMARY KEY, v INT);
         INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 1)",
    )
    .unwrap();
    let mut e = PgEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_lock_timeout(Duration::from_millis(500));
    let pid: i32 = app
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    app.batch_execute("SET application_name = 'billing'; BEGIN; UPDATE b SET v = 2 WHERE id = 1")
        .unwrap();
    let err = e
        .freeze(&["a".into(), "b".into()])
        .expect_err("the freeze must give up")
        .to_string();
    assert!(err.contains("for a lock on a, b"), "{err}");
    assert!(err.contains(&format!("pid {pid} ")), "{err}");
    assert!(err.contains("application \"billing\""), "{err}");
    assert!(
        err.contains("last statement: ") && err.contains("UPDATE b SET v = 2"),
        "{err}"
    );
    assert!(e.frozen_tables().unwrap().is_empty());
    app.batch_execute("COMMIT").unwrap();
    e.freeze(&["a".into(), "b".into()]).unwrap();
    assert_eq!(e.frozen_tables().unwrap().len(), 2);
    e.unfreeze(&["a".into(), "b".into()]).unwrap();
}

/// `checkpoint` and `capture start` arm capture with CREATE TRIGGER, which waits for every
/// open transaction on the table: bounded, naming the blocker, arming nothing.
#[test]
fn capture_install_blocked_by_an_open_transaction_names_it() {
    let db = fresh_database();
    let mut app = db.connect();
    app.batch_execute("CREATE TABLE c (id INT PRIMARY KEY, v INT); INSERT INTO c VALUES (1, 1)")
        .unwrap();
    let mut e = PgEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_lock_timeout(Duration::from_millis(500));
    let schema = e.table_schema("c").unwrap();
    let pid: i32 = app
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    app.batch_execute("BEGIN; UPDATE c SET v = 2 WHERE id = 1")
        .unwrap();
    let err = e
        .capture_install(std::slice::from_ref(&schema))
        .expect_err("arming capture must give up")
        .to_string();
    assert!(err.contains("for a lock on c"), "{err}");
    assert!(err.contains(&format!("pid {pid} ")), "{err}");
    assert!(e.captured_tables().unwrap().is_empty());
    app.batch_execute("COMMIT").unwrap();
    e.capture_install(std::slice::from_ref(&schema)).unwrap();
    assert_eq!(e.captured_tables().unwrap(), vec!["c".to_string()]);
}
