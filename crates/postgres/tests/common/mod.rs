#![allow(dead_code)]
//! A fresh PostgreSQL database per test, dropped when the test ends.
//!
//! The server is `postgres://postgres@127.0.0.1:5432` unless `RIPCORD_TEST_PG` names
//! another (a URL without a database). A test that cannot reach it fails; it never skips.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestDb {
    pub url: String,
    name: String,
}

fn server() -> String {
    std::env::var("RIPCORD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

fn admin() -> postgres::Client {
    let url = format!("{}/postgres", server());
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url} ({e}); these tests need a real server \
             (set RIPCORD_TEST_PG to point at one)"
        )
    })
}

/// Creates a uniquely named empty database and returns its URL.
pub fn fresh_database() -> TestDb {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "ripcord_pg_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    admin()
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    TestDb {
        url: format!("{}/{name}", server()),
        name,
    }
}

impl TestDb {
    /// The database name, for tools such as pg_dump.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain client connection to the database.
    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let r = admin().batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
        if let Err(e) = r
            && !std::thread::panicking()
        {
            panic!("cannot drop test database {}: {e}", self.name);
        }
    }
}
