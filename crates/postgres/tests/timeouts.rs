//! `statement_timeout` bounds ripcord's own bookkeeping statements, and only those: a
//! session holding a lock on ripcord's journal makes them fail in bounded time naming what
//! timed out and who holds the lock, while a restore, a migration step and a verify read
//! that run longer than the bound finish.

mod common;

use common::fresh_database;
use ripcord_core::engine::{Engine, Housekeeping, RestoreOptions};
use ripcord_core::journal::Origin;
use ripcord_core::value::Value;
use ripcord_postgres::PgEngine;
use std::time::{Duration, Instant};

#[test]
fn housekeeping_blocked_by_a_lock_on_the_journal_ends_within_statement_timeout() {
    let db = fresh_database();
    let mut app = db.connect();
    app.batch_execute("CREATE TABLE a (id INT PRIMARY KEY, v INT); INSERT INTO a VALUES (1, 1)")
        .unwrap();
    let mut e = PgEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    let mark = e.journal_mark().unwrap();
    e.set_statement_timeout(Duration::from_millis(800));
    let pid: i32 = app
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    app.batch_execute(
        "SET application_name = 'vacuum-job'; BEGIN; LOCK TABLE ripcord._ripcord_journal IN ACCESS EXCLUSIVE MODE",
    )
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
    assert!(err.contains(&format!("pid {pid} ")), "{err}");
    assert!(err.contains("application \"vacuum-job\""), "{err}");

    let err = e
        .read_journal(&mark, i64::MAX, &["a".into()])
        .expect_err("the read must give up")
        .to_string();
    assert!(err.starts_with("read the journal: "), "{err}");
    let err = e
        .prune_journal(std::slice::from_ref(&mark))
        .expect_err("the prune must give up")
        .to_string();
    assert!(err.starts_with("prune the journal: "), "{err}");
    // A checkpoint's snapshot reads the mark too: bounded there as well.
    let mut sink = ripcord_core::verify::Collect::default();
    let err = e
        .snapshot(&["a".into()], &mut sink)
        .expect_err("the snapshot's mark must give up")
        .to_string();
    assert!(err.contains("read the journal mark"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    // The bound is the engine's own: the session is back to its default afterwards.
    let shown: String = e
        .client()
        .query_one("SHOW statement_timeout", &[])
        .unwrap()
        .get(0);
    assert_eq!(shown, "0");
    app.batch_execute("COMMIT").unwrap();
    e.journal_mark().unwrap();
}

#[test]
fn restores_steps_and_verify_reads_are_not_cut_by_statement_timeout() {
    let db = fresh_database();
    let mut app = db.connect();
    app.batch_execute(
        "CREATE TABLE a (id INT PRIMARY KEY, v INT); INSERT INTO a SELECT g, g FROM generate_series(1, 100) g",
    )
    .unwrap();
    let mut e = PgEngine::open(&db.url).unwrap();
    e.prepare().unwrap();
    e.set_statement_timeout(Duration::from_millis(300));
    e.set_lock_timeout(Duration::from_secs(30));

    // A migration step and a verify read that run longer than the bound.
    e.execute("SELECT pg_sleep(1)", Origin::Migration).unwrap();
    assert_eq!(
        e.query_scalar("SELECT count(*) FROM pg_sleep(1)").unwrap(),
        Value::Int(1)
    );

    // A restore that waits 1.5 s for a business transaction to finish: it takes longer than
    // the bound and completes.
    let schema = e.table_schema("a").unwrap();
    let mut sink = ripcord_core::verify::Collect::default();
    e.snapshot(&["a".into()], &mut sink).unwrap();
    let rows: Vec<_> = sink.tables.remove(0).1;
    app.batch_execute("BEGIN; UPDATE a SET v = 0 WHERE id = 1")
        .unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        app.batch_execute("ROLLBACK").unwrap();
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
    assert_eq!(n, 100);
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    holder.join().unwrap();
    assert!(e.restore_done("rb-test:a").unwrap());
}
