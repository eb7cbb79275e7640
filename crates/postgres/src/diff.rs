//! PostgreSQL's side of a diff: canonical texts, row hashes and checksums per key range
//! computed in SQL (see `ripcord_diff::canon` for the encoding), on a connection of its own
//! inside one read-only repeatable-read transaction, so every answer comes from one snapshot.

use crate::{describe, q};
use postgres::{Client, NoTls, SimpleQueryMessage};
use ripcord_core::engine::EngineError;
use ripcord_core::schema::TableSchema;
use ripcord_diff::canon::{Checksum, Class};
use ripcord_diff::sql::{self, Dialect, checked_number, std_lit};
use ripcord_diff::{
    CanonRow, DiffError, DiffSource, Digest, ForeignKey, KeyProblems, KeyVals, Range, TableSpec,
};

// JIT off: the bucket CASE of a checksum query is large, and compiling it costs far more
// than evaluating it (tens of seconds against a fraction of one on a 200k-row table).
const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; \
    SET extra_float_digits = 1; SET bytea_output = 'hex'; SET jit = off; \
    BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

pub struct PgDiff {
    client: Client,
    schema: String,
    shown: String,
}

struct Pg;

impl Dialect for Pg {
    fn ident(&self, name: &str) -> String {
        q(name)
    }
    fn key_expr(&self, col: &str, class: Class) -> String {
        match class {
            Class::Text => format!("{} COLLATE \"C\"", q(col)),
            _ => q(col),
        }
    }
    fn key_lit(&self, text: &str, class: Class) -> String {
        match class {
            Class::Int | Class::Decimal => checked_number(text),
            Class::Bool => (if text == "1" { "true" } else { "false" }).into(),
            Class::Blob => format!("{}::bytea", std_lit(&format!("\\x{text}"))),
            _ => std_lit(text),
        }
    }
    fn canon_expr(&self, e: &str, class: Class, decl: &str) -> String {
        match class {
            Class::Bool if decl.to_ascii_lowercase().starts_with("bool") => {
                format!("CASE WHEN {e} THEN '1' WHEN NOT {e} THEN '0' END")
            }
            Class::Decimal => format!("trim_scale(({e})::numeric)::text"),
            Class::Blob => format!("encode({e}, 'hex')"),
            Class::Timestamp => {
                format!("((extract(epoch from {e}) * 1000000)::bigint)::text")
            }
            _ => format!("({e})::text"),
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
                format!(
                    "CASE WHEN {} IS NULL THEN '~' ELSE concat(octet_length({t}), ':', {t}) END",
                    q(c)
                )
            })
            .collect();
        match spec.digest {
            Digest::Md5 => format!(
                "sum(('x' || left(md5(concat('1', {})), 16))::bit(64)::bigint)::text",
                fields.join(", ")
            ),
            Digest::PgHashText => format!(
                "sum(hashtextextended(concat('1', {}), 0))::text",
                fields.join(", ")
            ),
        }
    }
}

impl PgDiff {
    pub fn open(url: &str) -> Result<PgDiff, DiffError> {
        let shown = ripcord_core::redact::redact_url(url);
        let fail = |e: postgres::Error| {
            DiffError::query(
                shown.clone(),
                "connect",
                ripcord_core::redact::scrub(&describe(&e)),
            )
        };
        let mut client = Client::connect(url, NoTls).map_err(fail)?;
        client.batch_execute(SESSION).map_err(fail)?;
        let schema: Option<String> = client
            .query_one("SELECT current_schema()::text", &[])
            .map_err(fail)?
            .get(0);
        let schema = schema.ok_or_else(|| {
            DiffError::query(
                shown.clone(),
                "connect",
                "no schema in the search_path exists",
            )
        })?;
        Ok(PgDiff {
            client,
            schema,
            shown,
        })
    }

    fn rows_of(&mut self, sql: &str, context: &str) -> Result<Vec<CanonRow>, DiffError> {
        let msgs = self
            .client
            .simple_query(sql)
            .map_err(|e| DiffError::query(self.shown.clone(), context, describe(&e)))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect())
    }

    fn scalar(&mut self, sql: &str, context: &str) -> Result<u64, DiffError> {
        let rows = self.rows_of(sql, context)?;
        let v = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default();
        v.parse().map_err(|_| {
            DiffError::query(self.shown.clone(), context, format!("not a count: {v:?}"))
        })
    }
}

impl DiffSource for PgDiff {
    fn kind(&self) -> &'static str {
        "postgres"
    }
    fn describe(&self) -> String {
        self.shown.clone()
    }
    fn fast_digest(&self) -> Option<Digest> {
        Some(Digest::PgHashText)
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        let schema = self.schema.clone();
        match crate::ddl::read_schema(&mut self.client, &schema, table) {
            Ok(s) => Ok(s.0),
            // A table without a primary key can still be diffed on columns named by --key.
            Err(EngineError::NoPrimaryKey(_)) => {
                let sql = format!(
                    "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull::text FROM pg_attribute \
                     WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                    std_lit(&format!("{}.{}", q(&schema), q(table)))
                );
                let cols = self.rows_of(&sql, &format!("table {table}"))?;
                Ok(ripcord_diff::source::columns_only(table, cols))
            }
            Err(e) => Err(DiffError::query(
                self.shown.clone(),
                format!("table {table}"),
                e,
            )),
        }
    }
    fn key_problems(&mut self, spec: &TableSpec) -> Result<KeyProblems, DiffError> {
        let null_keys = self.scalar(&sql::null_keys_sql(&Pg, spec), "NULL keys")?;
        let duplicates = self
            .rows_of(&sql::duplicates_sql(&Pg, spec), "duplicate keys")?
            .into_iter()
            .map(|mut r| {
                let n = r.pop().flatten().and_then(|s| s.parse().ok()).unwrap_or(0);
                (r.into_iter().map(Option::unwrap_or_default).collect(), n)
            })
            .collect();
        Ok(KeyProblems {
            null_keys,
            duplicates,
        })
    }
    fn count(&mut self, spec: &TableSpec, range: &Range) -> Result<u64, DiffError> {
        self.scalar(&sql::count_sql(&Pg, spec, range), "count")
    }
    fn boundaries(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        step: u64,
    ) -> Result<Vec<KeyVals>, DiffError> {
        Ok(self
            .rows_of(&sql::boundaries_sql(&Pg, spec, range, step), "boundaries")?
            .into_iter()
            .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
            .collect())
    }
    fn checksums(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        bounds: &[KeyVals],
    ) -> Result<Vec<Checksum>, DiffError> {
        let rows = self.rows_of(&sql::checksums_sql(&Pg, spec, range, bounds), "checksums")?;
        sql::collect_buckets(&self.shown, rows, bounds.len() + 1)
    }
    fn rows(&mut self, spec: &TableSpec, range: &Range) -> Result<Vec<CanonRow>, DiffError> {
        self.rows_of(&sql::rows_sql(&Pg, spec, range), "rows")
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        let cols = |rel: &str, keys: &str| {
            format!(
                "(SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.{keys}) WITH ORDINALITY k(n, i) \
                 JOIN pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = k.n)"
            )
        };
        let sql = format!(
            "SELECT c.conname, cl.relname, {}, pl.relname, {} FROM pg_constraint c \
             JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = {} ORDER BY 1",
            cols("conrelid", "conkey"),
            cols("confrelid", "confkey"),
            std_lit(&self.schema)
        );
        Ok(self
            .rows_of(&sql, "foreign keys")?
            .into_iter()
            .map(|r| sql::fk_of(&r))
            .collect())
    }
    fn orphans(&mut self, fk: &ForeignKey, limit: usize) -> Result<(u64, Vec<KeyVals>), DiffError> {
        let context = format!("orphans of {fk}");
        let n = self.scalar(&sql::orphans_sql(&Pg, fk, None), &context)?;
        let ex = if n == 0 {
            Vec::new()
        } else {
            self.rows_of(&sql::orphans_sql(&Pg, fk, Some(limit)), &context)?
                .into_iter()
                .map(|r| r.into_iter().map(|v| v.unwrap_or_default()).collect())
                .collect()
        };
        Ok((n, ex))
    }
    fn aggregate(&mut self, sql: &str) -> Result<Vec<(String, Option<String>)>, DiffError> {
        Ok(self
            .rows_of(sql, "aggregate")?
            .into_iter()
            .map(ripcord_diff::aggregate::split_row)
            .collect())
    }
}
