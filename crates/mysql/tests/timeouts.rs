//! `statement_timeout` bounds ripcord's own bookkeeping statements (MariaDB's
//! `max_statement_time`), and only those: a session holding ripcord's journal makes them
//! fail in bounded time naming what timed out, while a restore, a migration step and a
//! verify read that run longer than the bound finish.

mod common;

use common::fresh_database;
use mysql::prelude::Queryable;
use ripcord_core::engine::{Engine, Housekeeping, RestoreOptions};
use ripcord_core::journal::Origin;
use ripcord_mysql::MyEngine;
use std::time::{Duration, Instant};

#[test]
fn housekeeping_blocked_by_a_lock_on_the_journal_ends_within_statement_timeout() {
    let db = fresh_database();
    let mut app = db.conn();
    app.query_drop("CREATE TABLE a (id INT PRIMARY KEY, v INT)")
        .unwrap();
    app.query_drop("INSERT INTO a VALUES (1, 1)").unwrap();
    let mut e = MyEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    let mark = e.journal_mark().unwrap();
    e.set_statement_timeout(Duration::from_millis(800));
    let thread: u32 = app.query_first("SELECT CONNECTION_ID()").unwrap().unwrap();
    app.query_drop("LOCK TABLES _ripcord_journal WRITE, _ripcord_replay WRITE")
        .unwrap();

    let t = Instant::now();
    let err = e
        .journal_mark()
        .expect_err("the mark must give up")
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(err.starts_with("read the journal mark: "), "{err}");
    assert!(
        err.contains("did not finish within 0.8 s (statement_timeout"),
        "{err}"
    );
    let err = e
        .read_journal(&mark, i64::MAX, &["a".into()])
        .expect_err("the read must give up")
        .to_string();
    assert!(err.starts_with("read the journal: "), "{err}");
    let err = e
        .replay_position("rb-x")
        .expect_err("the replay position must give up")
        .to_string();
    assert!(err.starts_with("read the replay position: "), "{err}");
    let mut sink = ripcord_core::verify::Collect::default();
    let err = e
        .snapshot(&["a".into()], &mut sink)
        .expect_err("the snapshot's mark must give up")
        .to_string();
    // The snapshot first looks for ripcord's objects; MariaDB's information_schema waits
    // for the locked journal there, or skips it and the mark waits: either gives up bounded.
    assert!(
        (err.contains("read the journal mark") || err.contains("look for ripcord's objects"))
            && err.contains("did not finish within 0.8 s (statement_timeout"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    app.query_drop("UNLOCK TABLES").unwrap();
    e.journal_mark().unwrap();

    // A business transaction holding journal rows: pruning them gives up, naming it.
    app.query_drop("INSERT INTO a VALUES (2, 2)").unwrap();
    let after = e.journal_mark().unwrap();
    let schema = e.table_schema("a").unwrap();
    e.capture_install(&[schema]).unwrap();
    app.query_drop("INSERT INTO a VALUES (3, 3)").unwrap();
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("SELECT * FROM _ripcord_journal FOR UPDATE")
        .unwrap();
    let now = e.journal_mark().unwrap();
    let t = Instant::now();
    let err = e
        .prune_journal(&[now])
        .expect_err("the prune must give up")
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(err.starts_with("prune the journal: "), "{err}");
    assert!(err.contains(&format!("thread {thread} ")), "{err}");
    app.query_drop("COMMIT").unwrap();
    assert_eq!(e.prune_journal(&[after]).unwrap(), Some(0));
    // The bound was the session's only while ripcord's statements ran.
    assert_eq!(
        e.query_scalar("SELECT @@SESSION.max_statement_time = @@GLOBAL.max_statement_time")
            .unwrap(),
        ripcord_core::value::Value::Int(1)
    );
}

#[test]
fn restores_steps_and_verify_reads_are_not_cut_by_statement_timeout() {
    let db = fresh_database();
    let mut app = db.conn();
    app.query_drop("CREATE TABLE a (id INT PRIMARY KEY, v INT)")
        .unwrap();
    app.query_drop("INSERT INTO a VALUES (1, 1), (2, 2), (3, 3)")
        .unwrap();
    let mut e = MyEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_statement_timeout(Duration::from_millis(300));
    e.set_lock_timeout(Duration::from_secs(30));

    e.execute("DO SLEEP(1)", Origin::Migration).unwrap();
    assert_eq!(
        e.query_scalar("SELECT SLEEP(1) + 7").unwrap(),
        ripcord_core::value::Value::Int(7)
    );

    let schema = e.table_schema("a").unwrap();
    let mut sink = ripcord_core::verify::Collect::default();
    e.snapshot(&["a".into()], &mut sink).unwrap();
    let rows: Vec<_> = sink.tables.remove(0).1;
    app.query_drop("START TRANSACTION").unwrap();
    app.query_drop("UPDATE a SET v = 0 WHERE id = 1").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        app.query_drop("ROLLBACK").unwrap();
    });
    let t = Instant::now();
    let mut it = rows.into_iter().map(Ok);
    let n = e
        .restore_table(
            &schema,
            &mut it,
            &RestoreOptions {
                restore_tag: "rb-test:a".into(),
                capture: false,
                freeze: false,
            },
        )
        .unwrap();
    assert_eq!(n, 3);
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    holder.join().unwrap();
    assert!(e.restore_done("rb-test:a").unwrap());
}
