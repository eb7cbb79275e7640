#![allow(dead_code)]
//! A fresh PostgreSQL database per test, dropped when the test ends (the shared test kit,
//! `crates/testkit`). A test that cannot reach the server fails; it never skips.

pub use ripcord_testkit::FreshDb as TestDb;

/// Creates a uniquely named empty database.
pub fn fresh_database() -> TestDb {
    TestDb::postgres()
}
