//! A throwaway MariaDB database per test (the shared test kit, `crates/testkit`). An
//! unreachable server fails the test: these tests never skip.

#![allow(dead_code)]

pub use ripcord_testkit::FreshDb as TestDb;

/// Creates a uniquely named database; dropped with the returned value.
pub fn fresh_database() -> TestDb {
    TestDb::mysql()
}
