//! Lock waits of freeze and of arming capture are bounded: a business transaction holding a table makes the
//! freeze fail in bounded time, naming that transaction, and leaves no table frozen.

mod common;

use common::fresh_database;
use mysql::prelude::Queryable;
use ripcord_core::engine::Engine;
use ripcord_mysql::MyEngine;
use std::time::Duration;

#[test]
fn freeze_blocked_by_an_open_transaction_names_it_and_freezes_nothing() {
    let db = fresh_database();
    let mut app = db.conn();
    app.query_drop("CREATE TABLE a (id INT PRIMARY KEY, v INT)")
        .unwrap();
    app.query_drop("CREATE TABLE b (id INT PRIMARY KEY, v INT)")
        .unwrap();
    app.query_drop("INSERT INTO a VALUES (1, 1)").unwrap();
    app.query_drop("INSERT INTO b VALUES (1, 1)").unwrap();
    let mut e = MyEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_lock_timeout(Duration::from_secs(1));
    // The business transaction touches `b` and stays open: it holds b's metadata lock.
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("UPDATE b SET v = 2 WHERE id = 1").unwrap();
    let thread: u32 = app.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    let err = e
        .freeze(&["a".into(), "b".into()])
        .expect_err("the freeze must give up")
        .to_string();
    assert!(err.contains("waited 1 s for a lock on a, b"), "{err}");
    assert!(err.contains(&format!("thread {thread} ")), "{err}");
    assert!(err.contains("in a transaction for"), "{err}");
    // `a` was frozen before `b` blocked: taken back.
    assert!(e.frozen_tables().unwrap().is_empty());
    let triggers: Vec<String> = app
        .query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_ripcord\\_frz%'")
        .unwrap();
    assert!(triggers.is_empty(), "{triggers:?}");
    app.query_drop("COMMIT").unwrap();
    // Nothing in the way: the freeze holds.
    e.freeze(&["a".into(), "b".into()]).unwrap();
    assert_eq!(e.frozen_tables().unwrap().len(), 2);
    e.unfreeze(&["a".into(), "b".into()]).unwrap();
}

/// `checkpoint` and `capture start` arm capture under the table's write lock: an open
/// business transaction makes them give up in bounded time, naming it, and leaves no
/// capture trigger behind.
#[test]
fn capture_install_blocked_by_an_open_transaction_names_it() {
    let db = fresh_database();
    let mut app = db.conn();
    app.query_drop("CREATE TABLE c (id INT PRIMARY KEY, v INT)")
        .unwrap();
    app.query_drop("INSERT INTO c VALUES (1, 1)").unwrap();
    let mut e = MyEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_lock_timeout(Duration::from_secs(1));
    let schema = e.table_schema("c").unwrap();
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("UPDATE c SET v = 2 WHERE id = 1").unwrap();
    let thread: u32 = app.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    let err = e
        .capture_install(std::slice::from_ref(&schema))
        .expect_err("arming capture must give up")
        .to_string();
    assert!(err.contains("waited 1 s for a lock on c"), "{err}");
    assert!(err.contains(&format!("thread {thread} ")), "{err}");
    assert!(e.captured_tables().unwrap().is_empty());
    app.query_drop("COMMIT").unwrap();
    e.capture_install(std::slice::from_ref(&schema)).unwrap();
    assert_eq!(e.captured_tables().unwrap(), vec!["c".to_string()]);
}
