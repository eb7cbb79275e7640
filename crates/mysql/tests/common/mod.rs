//! A throwaway MariaDB database per test, on the server at 127.0.0.1:3306 (user `root`,
//! empty password) or at `RIPCORD_TEST_MYSQL` (a `mysql://` URL without a database). An
//! unreachable server fails the test: these tests never skip.

#![allow(dead_code)]

use mysql::prelude::Queryable;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestDb {
    /// `mysql://…/<database>`, ready for `MyEngine::open`.
    pub url: String,
    pub name: String,
    server: String,
}

fn server() -> String {
    std::env::var("RIPCORD_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Creates a uniquely named database; dropped with the returned value.
pub fn fresh_database() -> TestDb {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "ripcord_my_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos
    );
    let server = server();
    let mut c = mysql::Conn::new(mysql::Opts::from_url(&format!("{server}/")).unwrap())
        .unwrap_or_else(|e| panic!("MariaDB at {server} is not reachable: {e}"));
    c.query_drop(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
    ))
    .expect("create test database");
    TestDb {
        url: format!("{server}/{name}"),
        name,
        server,
    }
}

impl TestDb {
    /// A plain connection, as a business application would open it.
    pub fn conn(&self) -> mysql::Conn {
        mysql::Conn::new(mysql::Opts::from_url(&self.url).unwrap()).expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) =
            mysql::Conn::new(mysql::Opts::from_url(&format!("{}/", self.server)).unwrap())
        {
            let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
        }
    }
}
