#![allow(dead_code)]
//! Throwaway databases for the diff tests: a fresh PostgreSQL database (server at
//! `RIPCORD_TEST_PG`, default `postgres://postgres@127.0.0.1:5432`), a fresh MariaDB database
//! (`RIPCORD_TEST_MYSQL`, default `mysql://root@127.0.0.1:3306`) and a SQLite file. Each is
//! dropped when the value is. An unreachable server fails the test: nothing is skipped.

use mysql::prelude::Queryable;
use ripcord_testkit::FreshDb;

/// One test database on one engine (the shared test kit's), with a way to run setup SQL.
pub struct Db(FreshDb);

impl Db {
    pub fn pg() -> Db {
        Db(FreshDb::postgres())
    }

    pub fn my() -> Db {
        Db(FreshDb::mysql())
    }

    pub fn lite() -> Db {
        Db(FreshDb::sqlite())
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    pub fn kind(&self) -> &'static str {
        self.0.engine()
    }

    /// Runs statements separated by `;` at line ends.
    pub fn exec(&self, sql: &str) {
        let url = self.url();
        match self.kind() {
            "postgres" => self
                .0
                .connect()
                .batch_execute(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            "mysql" => {
                let mut c = self.0.conn();
                c.query_drop("SET NAMES utf8mb4").unwrap();
                c.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            _ => rusqlite::Connection::open(url.trim_start_matches("sqlite:"))
                .unwrap()
                .execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }

    pub fn source(&self) -> Box<dyn ripcord_diff::DiffSource> {
        let url = self.url();
        match self.kind() {
            "postgres" => Box::new(ripcord_postgres::PgDiff::open(url).unwrap()),
            "mysql" => Box::new(ripcord_mysql::MyDiff::open(url).unwrap()),
            _ => Box::new(ripcord_sqlite::SqliteDiff::open(url).unwrap()),
        }
    }

    /// Column types per engine for the shared test table.
    pub fn types(&self) -> Types {
        match self.kind() {
            "postgres" => Types {
                money: "numeric(12,3)",
                ts: "timestamptz",
                text: "text",
                flag: "boolean",
                blob: "bytea",
                tru: "true",
                fal: "false",
                blob_lit: "'\\x00ff10'::bytea",
            },
            "mysql" => Types {
                money: "decimal(12,3)",
                ts: "datetime(6)",
                text: "varchar(200)",
                flag: "tinyint(1)",
                blob: "varbinary(50)",
                tru: "1",
                fal: "0",
                blob_lit: "X'00ff10'",
            },
            _ => Types {
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
