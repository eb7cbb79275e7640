//! The SQLite state store against the `StateStore` conformance suite, each test in a fresh
//! store file.

use ripcord_core::state::StateStore;
use ripcord_sqlite::SqliteState;

fn open() -> Box<dyn StateStore> {
    // The directory lives as long as the test process: each store is its own file in it.
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    Box::new(SqliteState::open(&dir.path().join("state.db")).unwrap())
}

ripcord_core::state_store_conformance!(|| open());

/// Rollback locks and records live in the state store: another process holding its file
/// locked makes a statement give up in bounded time, saying so, instead of "database is
/// locked" alone.
#[test]
fn a_state_store_held_by_another_process_gives_up_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut s = SqliteState::open(&path)
        .unwrap()
        .with_busy_timeout(std::time::Duration::from_millis(300))
        .unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let owner = ripcord_core::state::LockOwner {
        owner: "alice".into(),
        host: ripcord_core::state::hostname(),
        pid: std::process::id(),
    };
    let t = std::time::Instant::now();
    let err = s
        .acquire_lock(
            "component:billing",
            &owner,
            std::time::Duration::from_secs(60),
        )
        .expect_err("the lock must give up")
        .to_string();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    assert!(
        err.contains("another process kept the state store locked"),
        "{err}"
    );
    other.execute_batch("COMMIT").unwrap();
    s.acquire_lock(
        "component:billing",
        &owner,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
}
