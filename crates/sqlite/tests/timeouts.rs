//! On SQLite, what holds a statement is another connection's lock on the file: ripcord's
//! own bookkeeping waits at most `statement_timeout` for it and says what gave up, while a
//! restore waits up to `lock_timeout` (here longer than the bound) and completes.

use ripcord_core::engine::{Engine, Housekeeping, RestoreOptions};
use ripcord_sqlite::SqliteEngine;
use rusqlite::Connection;
use std::time::{Duration, Instant};

fn setup() -> (tempfile::TempDir, String, SqliteEngine) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER);
             INSERT INTO a VALUES (1, 1), (2, 2), (3, 3);",
        )
        .unwrap();
    let url = format!("sqlite:{}", path.display());
    let mut e = SqliteEngine::open(&url).unwrap();
    e.prepare().unwrap();
    (dir, path.display().to_string(), e)
}

#[test]
fn housekeeping_behind_another_writer_ends_within_statement_timeout() {
    let (_dir, path, mut e) = setup();
    let mark = e.journal_mark().unwrap();
    e.set_lock_timeout(Duration::from_secs(30));
    e.set_statement_timeout(Duration::from_millis(500));
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let t = Instant::now();
    let err = e
        .prune_journal(std::slice::from_ref(&mark))
        .expect_err("pruning must give up")
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(err.starts_with("prune the journal: "), "{err}");
    assert!(err.contains("waited 0.5 s for the database file"), "{err}");
    let err = e
        .unfreeze(&["a".into()])
        .expect_err("unfreeze must give up")
        .to_string();
    assert!(err.starts_with("unfreeze: "), "{err}");
    other.execute_batch("COMMIT").unwrap();
    e.prune_journal(&[mark]).unwrap();
}

#[test]
fn a_restore_behind_another_writer_waits_past_statement_timeout() {
    let (_dir, path, mut e) = setup();
    e.set_lock_timeout(Duration::from_secs(30));
    e.set_statement_timeout(Duration::from_millis(300));
    let schema = e.table_schema("a").unwrap();
    let mut sink = ripcord_core::verify::Collect::default();
    e.snapshot(&["a".into()], &mut sink).unwrap();
    let rows: Vec<_> = sink.tables.remove(0).1;
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        other.execute_batch("COMMIT").unwrap();
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
