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
