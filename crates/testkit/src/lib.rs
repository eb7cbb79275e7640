//! Test helpers shared by every crate's integration tests (dev-only, never published): a
//! fresh database per test on every engine, uniquely named, created empty and dropped when
//! the value goes out of scope; and (`refusals`) the rule-breaking replay batch every
//! engine's refusal test applies.
//!
//! The servers are `postgres://postgres@127.0.0.1:5432` and `mysql://root@127.0.0.1:3306`
//! unless `RIPCORD_TEST_PG` / `RIPCORD_TEST_MYSQL` name others (a URL without a database).
//! A server that cannot be reached fails the test loudly: tests never skip.

pub mod refusals;

use mysql::prelude::Queryable;
use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other test (in this process or another) uses: prefix, pid, counter, time.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The PostgreSQL server, without a database.
pub fn pg_server() -> String {
    std::env::var("RIPCORD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

/// The MariaDB/MySQL server, without a database.
pub fn my_server() -> String {
    std::env::var("RIPCORD_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
        .trim_end_matches('/')
        .to_string()
}

fn pg_admin() -> postgres::Client {
    let url = format!("{}/postgres", pg_server());
    postgres::Client::connect(&url, postgres::NoTls).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url} ({e}); these tests need a real server \
             (set RIPCORD_TEST_PG to point at one)"
        )
    })
}

fn my_admin() -> mysql::Conn {
    let server = my_server();
    mysql::Conn::new(mysql::Opts::from_url(&format!("{server}/")).expect("a mysql:// URL"))
        .unwrap_or_else(|e| {
            panic!(
                "MariaDB is not reachable at {server} ({e}); these tests need a real server \
                 (set RIPCORD_TEST_MYSQL to point at one)"
            )
        })
}

/// A fresh empty database on one engine (`postgres`, `mysql` or `sqlite`), dropped with
/// the value.
pub struct FreshDb {
    /// The database's URL, ready for the engine's `open` (SQLite: `sqlite:PATH`).
    pub url: String,
    /// The database's name on its server (SQLite: empty).
    pub name: String,
    engine: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl FreshDb {
    pub fn new(engine: &'static str) -> Self {
        match engine {
            "postgres" | "mysql" => {
                let name = unique("ripcord_t");
                let (created, server) = if engine == "postgres" {
                    let sql = format!("CREATE DATABASE {name}");
                    (
                        pg_admin().batch_execute(&sql).map_err(|e| e.to_string()),
                        pg_server(),
                    )
                } else {
                    // A case-insensitive default collation on purpose (MariaDB's default):
                    // what ripcord compares must not depend on it.
                    let sql = format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
                    );
                    (
                        my_admin().query_drop(sql).map_err(|e| e.to_string()),
                        my_server(),
                    )
                };
                created.unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                FreshDb {
                    url: format!("{server}/{name}"),
                    name,
                    engine,
                    _dir: None,
                }
            }
            "sqlite" => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join("legacy.db");
                rusqlite::Connection::open(&path)
                    .and_then(|c| c.pragma_update(None, "journal_mode", "WAL"))
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
                FreshDb {
                    url: format!("sqlite:{}", path.display()),
                    name: String::new(),
                    engine,
                    _dir: Some(dir),
                }
            }
            other => panic!("no test database for engine {other:?} (postgres, mysql, sqlite)"),
        }
    }

    pub fn postgres() -> Self {
        Self::new("postgres")
    }

    pub fn mysql() -> Self {
        Self::new("mysql")
    }

    pub fn sqlite() -> Self {
        Self::new("sqlite")
    }

    /// `postgres`, `mysql` or `sqlite`.
    pub fn engine(&self) -> &'static str {
        self.engine
    }

    /// The database name, for tools such as pg_dump.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain PostgreSQL client on the database.
    pub fn connect(&self) -> postgres::Client {
        assert_eq!(self.engine, "postgres", "connect() is for PostgreSQL");
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }

    /// A plain MariaDB connection, as a business application would open it.
    pub fn conn(&self) -> mysql::Conn {
        assert_eq!(self.engine, "mysql", "conn() is for MariaDB/MySQL");
        mysql::Conn::new(mysql::Opts::from_url(&self.url).expect("a mysql:// URL"))
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let r = match self.engine {
            "postgres" => pg_admin()
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .map_err(|e| e.to_string()),
            "mysql" => my_admin()
                .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        };
        if let Err(e) = r
            && !std::thread::panicking()
        {
            panic!("cannot drop test database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(engine: &str, name: &str) -> bool {
        match engine {
            "postgres" => pg_admin()
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE datname = $1",
                    &[&name],
                )
                .map(|r| r.get::<_, i64>(0) == 1)
                .unwrap(),
            _ => {
                my_admin()
                    .exec_first::<i64, _, _>(
                        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
                        (name,),
                    )
                    .unwrap()
                    == Some(1)
            }
        }
    }

    #[test]
    fn every_engine_gets_a_fresh_database_that_is_dropped_after() {
        for engine in ["postgres", "mysql"] {
            let (a, b) = (FreshDb::new(engine), FreshDb::new(engine));
            assert_ne!(a.name, b.name);
            assert!(
                exists(engine, &a.name),
                "{engine}: {} was not created",
                a.name
            );
            let name = a.name.clone();
            drop(a);
            assert!(!exists(engine, &name), "{engine}: {name} was not dropped");
        }
        let lite = FreshDb::sqlite();
        let path = lite.url.strip_prefix("sqlite:").unwrap().to_string();
        assert!(std::path::Path::new(&path).exists());
        drop(lite);
        assert!(!std::path::Path::new(&path).exists());
    }
}
