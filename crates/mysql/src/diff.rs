//! MariaDB/MySQL's side of a diff: canonical texts, row hashes and checksums per key range
//! computed in SQL (see `ripcord_diff::canon` for the encoding), on a connection of its own
//! inside one read-only consistent-snapshot transaction. Text keys compare as bytes
//! (`CAST(… AS BINARY)`, hex literals), never through a collation, so `utf8mb4_general_ci`
//! or PAD SPACE cannot merge keys that PostgreSQL keeps apart.

use crate::sql::q;
use mysql::Conn;
use mysql::prelude::Queryable;
use ripcord_core::engine::Engine;
use ripcord_core::schema::TableSchema;
use ripcord_diff::canon::{self, Class};
use ripcord_diff::sql::{Dialect, SqlSource, checked_number};
use ripcord_diff::{CanonRow, DiffError, ForeignKey, TableSpec};

pub struct MyDiff {
    conn: Conn,
    url: String,
    shown: String,
}

struct My;

fn hex_lit(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2 + 3);
    s.push_str("X'");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s.push('\'');
    s
}

impl Dialect for My {
    fn ident(&self, name: &str) -> String {
        q(name)
    }
    fn key_expr(&self, col: &str, class: Class) -> String {
        match class {
            Class::Text => format!("CAST({} AS BINARY)", q(col)),
            _ => q(col),
        }
    }
    fn key_lit(&self, text: &str, class: Class) -> String {
        match class {
            Class::Int | Class::Bool | Class::Decimal => checked_number(text),
            Class::Blob => {
                let bytes: Vec<u8> = (0..text.len() / 2)
                    .filter_map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
                    .collect();
                hex_lit(&bytes)
            }
            _ => hex_lit(text.as_bytes()),
        }
    }
    fn canon_expr(&self, e: &str, class: Class, decl: &str) -> String {
        match class {
            Class::Decimal if canon::decimal_scale(decl).unwrap_or(0) > 0 => {
                format!("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({e} AS CHAR)))")
            }
            Class::Blob => format!("LOWER(HEX({e}))"),
            Class::Timestamp => {
                format!("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {e}) AS CHAR)")
            }
            Class::Text | Class::Json => format!("CONVERT({e} USING utf8mb4)"),
            _ => format!("CAST({e} AS CHAR)"),
        }
    }
    fn checksum_agg(&self, spec: &TableSpec) -> String {
        let fields: Vec<String> = spec
            .columns
            .iter()
            .zip(&spec.classes)
            .zip(&spec.decls)
            .map(|((c, &k), d)| {
                let t = self.canon_expr(&q(c), k, d);
                format!("IF({} IS NULL, '~', CONCAT(LENGTH({t}), ':', {t}))", q(c))
            })
            .collect();
        format!(
            "CAST(SUM(CAST(CONV(LEFT(MD5(CONCAT('1', {})), 16), 16, 10) AS UNSIGNED)) AS CHAR)",
            fields.join(", ")
        )
    }
}

impl MyDiff {
    pub fn open(url: &str) -> Result<MyDiff, DiffError> {
        let shown = ripcord_core::redact::redact_url(url);
        let fail = |e: String| {
            let mut e = e;
            for s in ripcord_core::redact::secrets_in_url(url) {
                e = e.replace(&s, "***");
            }
            DiffError::query(shown.clone(), "connect", e)
        };
        let target = crate::connect::resolve(url, &crate::connect::Env::process()).map_err(fail)?;
        if target.opts.get_db_name().is_none() {
            return Err(fail("the URL names no database".into()));
        }
        let mut conn = crate::connect::open(&target).map_err(fail)?;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .map_err(|e| fail(crate::describe(&e)))?;
        Ok(MyDiff {
            conn,
            url: url.to_string(),
            shown,
        })
    }
}

impl SqlSource for MyDiff {
    fn kind(&self) -> &'static str {
        "mysql"
    }
    fn dialect(&self) -> &dyn Dialect {
        &My
    }
    fn shown(&self) -> &str {
        &self.shown
    }
    fn rows_of(&mut self, sql: &str, context: &str) -> Result<Vec<CanonRow>, DiffError> {
        let shown = self.shown.clone();
        let fail = |e: mysql::Error| DiffError::query(shown.clone(), context, crate::describe(&e));
        let rows: Vec<mysql::Row> = self.conn.query(sql).map_err(fail)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        mysql::Value::NULL => None,
                        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect())
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        let mut e = crate::MyEngine::open(&self.url).map_err(|e| DiffError::Core(e.into()))?;
        let read = e.table_schema(table);
        let columns = format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IF(IS_NULLABLE = 'NO', 'true', 'false') FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            hex_lit(table.as_bytes())
        );
        self.schema_or_columns(table, read, &columns)
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        let sql = "SELECT CONSTRAINT_NAME, TABLE_NAME, \
             GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR ','), \
             REFERENCED_TABLE_NAME, \
             GROUP_CONCAT(REFERENCED_COLUMN_NAME ORDER BY ORDINAL_POSITION SEPARATOR ',') \
             FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
             GROUP BY CONSTRAINT_NAME, TABLE_NAME, REFERENCED_TABLE_NAME ORDER BY 1";
        self.foreign_keys_of(sql)
    }
}
