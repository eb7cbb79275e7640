//! SQLite's side of a diff. SQLite has no MD5 in SQL, so two Rust functions are registered
//! on the connection: `ripcord_canon(class, value)` (the canonical text) and the aggregate
//! `ripcord_checksum(classes, col, …)` (the sum of row hashes), both from
//! `ripcord_diff::canon`, so SQLite's checksums equal the other engines' by construction.
//! Reads run inside one transaction, so every answer comes from one snapshot.

use crate::engine::to_value;
use ripcord_core::engine::Engine;
use ripcord_core::schema::TableSchema;
use ripcord_diff::canon::{self, Checksum, Class};
use ripcord_diff::sql::{Dialect, SqlSource, checked_number, std_lit};
use ripcord_diff::{CanonRow, DiffError, ForeignKey, TableSpec};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::{Connection, OpenFlags};

pub struct SqliteDiff {
    conn: Connection,
    url: String,
    shown: String,
}

struct Lite;

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Dialect for Lite {
    fn ident(&self, name: &str) -> String {
        quote(name)
    }
    fn key_expr(&self, col: &str, class: Class) -> String {
        match class {
            Class::Text => format!("{} COLLATE BINARY", quote(col)),
            _ => quote(col),
        }
    }
    fn key_lit(&self, text: &str, class: Class) -> String {
        match class {
            Class::Int | Class::Bool | Class::Decimal => checked_number(text),
            Class::Blob => format!("X'{text}'"),
            _ => std_lit(text),
        }
    }
    fn canon_expr(&self, e: &str, class: Class, _decl: &str) -> String {
        format!("ripcord_canon('{}', {e})", class.code())
    }
    fn checksum_agg(&self, spec: &TableSpec) -> String {
        let codes: Vec<&str> = spec.classes.iter().map(|c| c.code()).collect();
        let cols: Vec<String> = spec.columns.iter().map(|c| quote(c)).collect();
        format!(
            "ripcord_checksum('{}', {})",
            codes.join(","),
            cols.join(", ")
        )
    }
}

fn user_err(msg: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(msg.into())
}

fn class_arg(ctx: &Context<'_>, i: usize) -> rusqlite::Result<Class> {
    let code: String = ctx.get(i)?;
    Class::from_code(&code).ok_or_else(|| user_err(format!("unknown column class {code:?}")))
}

/// The checksum aggregate: first argument the comma-separated classes, then the columns.
struct ChecksumAgg;

impl Aggregate<(Vec<Class>, Checksum), String> for ChecksumAgg {
    fn init(&self, ctx: &mut Context<'_>) -> rusqlite::Result<(Vec<Class>, Checksum)> {
        let codes: String = ctx.get(0)?;
        let classes = codes
            .split(',')
            .map(|c| Class::from_code(c).ok_or_else(|| user_err(format!("unknown class {c:?}"))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((classes, Checksum::default()))
    }
    fn step(
        &self,
        ctx: &mut Context<'_>,
        acc: &mut (Vec<Class>, Checksum),
    ) -> rusqlite::Result<()> {
        if ctx.len() != acc.0.len() + 1 {
            return Err(user_err(format!(
                "ripcord_checksum: {} classes for {} columns",
                acc.0.len(),
                ctx.len() - 1
            )));
        }
        let fields: Vec<Option<String>> = acc
            .0
            .iter()
            .enumerate()
            .map(|(i, &c)| canon::canon_value(c, &to_value(ctx.get_raw(i + 1))))
            .collect();
        acc.1.add(canon::row_hash(&fields));
        Ok(())
    }
    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<(Vec<Class>, Checksum)>,
    ) -> rusqlite::Result<String> {
        Ok(acc.map(|a| a.1.sum).unwrap_or(0).to_string())
    }
}

/// Registers `ripcord_canon` and `ripcord_checksum` on a connection.
pub fn register_diff_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("ripcord_canon", 2, flags, |ctx| {
        let class = class_arg(ctx, 0)?;
        Ok(canon::canon_value(class, &to_value(ctx.get_raw(1))))
    })?;
    conn.create_aggregate_function("ripcord_checksum", -1, flags, ChecksumAgg)
}

impl SqliteDiff {
    pub fn open(url: &str) -> Result<SqliteDiff, DiffError> {
        let shown = ripcord_core::redact::redact_url(url);
        let path = url
            .strip_prefix("sqlite:")
            .unwrap_or(url)
            .trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        let fail = |e: rusqlite::Error| DiffError::query(shown.clone(), "open", e);
        if path != ":memory:" && !std::path::Path::new(path).exists() {
            return Err(DiffError::query(
                shown,
                "open",
                "the database file does not exist",
            ));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(fail)?;
        register_diff_functions(&conn).map_err(fail)?;
        conn.execute_batch("BEGIN").map_err(fail)?;
        Ok(SqliteDiff {
            conn,
            url: url.to_string(),
            shown,
        })
    }
}

impl SqlSource for SqliteDiff {
    fn kind(&self) -> &'static str {
        "sqlite"
    }
    fn dialect(&self) -> &dyn Dialect {
        &Lite
    }
    fn shown(&self) -> &str {
        &self.shown
    }
    fn rows_of(&mut self, sql: &str, context: &str) -> Result<Vec<CanonRow>, DiffError> {
        let fail = |e: rusqlite::Error| DiffError::query(self.shown.clone(), context, e);
        let mut st = self.conn.prepare(sql).map_err(fail)?;
        let n = st.column_count();
        let mut rows = st.query([]).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(fail)? {
            out.push(
                (0..n)
                    .map(|i| {
                        r.get_ref(i).map(|v| match to_value(v) {
                            ripcord_core::value::Value::Null => None,
                            other => canon::canon_value(Class::Text, &other),
                        })
                    })
                    .collect::<rusqlite::Result<CanonRow>>()
                    .map_err(fail)?,
            );
        }
        Ok(out)
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        let mut e = crate::SqliteEngine::open(&self.url).map_err(|e| DiffError::Core(e.into()))?;
        let read = e.table_schema(table);
        let columns = format!(
            "SELECT name, type, CASE WHEN \"notnull\" THEN 'true' ELSE 'false' END FROM pragma_table_info({}) ORDER BY cid",
            std_lit(table)
        );
        self.schema_or_columns(table, read, &columns)
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        let sql = "SELECT 'fk_' || m.name || '_' || f.id, m.name, \
             group_concat(f.\"from\", ','), f.\"table\", group_concat(f.\"to\", ',') \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' GROUP BY m.name, f.id ORDER BY 1";
        self.foreign_keys_of(sql)
    }
}
