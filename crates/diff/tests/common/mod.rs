#![allow(dead_code)]
//! Throwaway databases for the diff tests: a fresh PostgreSQL database (server at
//! `RIPCORD_TEST_PG`, default `postgres://postgres@127.0.0.1:5432`), a fresh MariaDB database
//! (`RIPCORD_TEST_MYSQL`, default `mysql://root@127.0.0.1:3306`) and a SQLite file. Each is
//! dropped when the value is. An unreachable server fails the test: nothing is skipped.

use mysql::prelude::Queryable;
use std::sync::atomic::{AtomicU32, Ordering};

fn unique(prefix: &str) -> String {
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

fn pg_server() -> String {
    std::env::var("RIPCORD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_string()
}

fn my_server() -> String {
    std::env::var("RIPCORD_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
        .trim_end_matches('/')
        .to_string()
}

/// One test database on one engine, with a way to run setup SQL.
pub enum Db {
    Pg {
        url: String,
        name: String,
    },
    My {
        url: String,
        name: String,
    },
    Lite {
        url: String,
        _dir: tempfile::TempDir,
    },
}

impl Db {
    pub fn pg() -> Db {
        let name = unique("ripcord_diff_pg");
        let admin = format!("{}/postgres", pg_server());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin}: {e}"));
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        Db::Pg {
            url: format!("{}/{name}", pg_server()),
            name,
        }
    }

    pub fn my() -> Db {
        let name = unique("ripcord_diff_my");
        let server = my_server();
        let mut c = mysql::Conn::new(mysql::Opts::from_url(&format!("{server}/")).unwrap())
            .unwrap_or_else(|e| panic!("MariaDB at {server} is not reachable: {e}"));
        // A case-insensitive default collation on purpose: the diff must not use it.
        c.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        ))
        .expect("create database");
        Db::My {
            url: format!("{server}/{name}"),
            name,
        }
    }

    pub fn lite() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("diff.db");
        rusqlite::Connection::open(&path).expect("create sqlite file");
        Db::Lite {
            url: format!("sqlite:{}", path.display()),
            _dir: dir,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Db::Pg { url, .. } | Db::My { url, .. } | Db::Lite { url, .. } => url,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Pg { .. } => "postgres",
            Db::My { .. } => "mysql",
            Db::Lite { .. } => "sqlite",
        }
    }

    /// Runs statements separated by `;` at line ends.
    pub fn exec(&self, sql: &str) {
        match self {
            Db::Pg { url, .. } => postgres::Client::connect(url, postgres::NoTls)
                .unwrap()
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Db::My { url, .. } => {
                let mut c = mysql::Conn::new(mysql::Opts::from_url(url).unwrap()).unwrap();
                c.query_drop("SET NAMES utf8mb4").unwrap();
                c.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Db::Lite { url, .. } => rusqlite::Connection::open(url.trim_start_matches("sqlite:"))
                .unwrap()
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    pub fn source(&self) -> Box<dyn ripcord_diff::DiffSource> {
        match self {
            Db::Pg { url, .. } => Box::new(ripcord_postgres::PgDiff::open(url).unwrap()),
            Db::My { url, .. } => Box::new(ripcord_mysql::MyDiff::open(url).unwrap()),
            Db::Lite { url, .. } => Box::new(ripcord_sqlite::SqliteDiff::open(url).unwrap()),
        }
    }

    /// Column types per engine for the shared test table.
    pub fn types(&self) -> Types {
        match self {
            Db::Pg { .. } => Types {
                money: "numeric(12,3)",
                ts: "timestamptz",
                text: "text",
                flag: "boolean",
                blob: "bytea",
                tru: "true",
                fal: "false",
                blob_lit: "'\\x00ff10'::bytea",
            },
            Db::My { .. } => Types {
                money: "decimal(12,3)",
                ts: "datetime(6)",
                text: "varchar(200)",
                flag: "tinyint(1)",
                blob: "varbinary(50)",
                tru: "1",
                fal: "0",
                blob_lit: "X'00ff10'",
            },
            Db::Lite { .. } => Types {
                money: "NUMERIC(12,3)",
                ts: "DATETIME",
                text: "TEXT",
                flag: "INTEGER",
                blob: "BLOB",
                tru: "1",
                fal: "0",
                blob_lit: "X'00ff10'",
            },
        }
    }
}

pub struct Types {
    pub money: &'static str,
    pub ts: &'static str,
    pub text: &'static str,
    pub flag: &'static str,
    pub blob: &'static str,
    pub tru: &'static str,
    pub fal: &'static str,
    pub blob_lit: &'static str,
}

impl Drop for Db {
    fn drop(&mut self) {
        match self {
            Db::Pg { name, .. } => {
                if let Ok(mut c) =
                    postgres::Client::connect(&format!("{}/postgres", pg_server()), postgres::NoTls)
                {
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
            Db::My { name, .. } => {
                if let Ok(mut c) =
                    mysql::Conn::new(mysql::Opts::from_url(&format!("{}/", my_server())).unwrap())
                {
                    let _ = c.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"));
                }
            }
            Db::Lite { .. } => {}
        }
    }
}

/// Creates the shared `invoice` table on `db` and fills it with `n` rows; every row has
/// Arabic or English text, NULLs, money, a timestamp, a flag and bytes.
pub fn invoice(db: &Db, n: i64) {
    let t = db.types();
    db.exec(&format!(
        "CREATE TABLE invoice (id bigint PRIMARY KEY, customer_name {text}, net {money} NOT NULL, \
         issued_at {ts}, paid {flag}, raw {blob}, note {text})",
        text = t.text,
        money = t.money,
        ts = t.ts,
        flag = t.flag,
        blob = t.blob
    ));
    let mut values = Vec::new();
    for i in 1..=n {
        let name = match i % 3 {
            0 => format!("'محمد بن سالم الحارثي {i}'"),
            1 => format!("'Fatima Al-Balushi {i}'"),
            _ => "NULL".into(),
        };
        let net = format!("{}.{:03}", (i * 104729) % 1000, (i * 7) % 1000);
        let zone = if db.kind() == "postgres" { "+00" } else { "" };
        let ts = format!(
            "'2024-01-{:02} 10:{:02}:{:02}.{:06}{zone}'",
            1 + i % 28,
            i % 60,
            (i * 7) % 60,
            (i * 31) % 1_000_000
        );
        let flag = if i % 2 == 0 { t.tru } else { t.fal };
        let raw = if i % 5 == 0 { t.blob_lit } else { "NULL" };
        let note = if i % 4 == 0 {
            "'تغيير زيت المحرك - oil change'".to_string()
        } else {
            format!("'note|{i}'")
        };
        values.push(format!("({i}, {name}, {net}, {ts}, {flag}, {raw}, {note})"));
    }
    for chunk in values.chunks(500) {
        db.exec(&format!("INSERT INTO invoice VALUES {}", chunk.join(", ")));
    }
}
