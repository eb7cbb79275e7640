//! PostgreSQL's side of a diff: canonical texts, row hashes and checksums per key range
//! computed in SQL (see `ripcord_diff::canon` for the encoding), on a connection of its own
//! inside one read-only repeatable-read transaction, so every answer comes from one snapshot.

use crate::{describe, q};
use postgres::{Client, SimpleQueryMessage};
use ripcord_core::schema::TableSchema;
use ripcord_diff::canon::Class;
use ripcord_diff::sql::{Dialect, SqlSource, checked_number, std_lit};
use ripcord_diff::{CanonRow, DiffError, Digest, ForeignKey, TableSpec};

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
    fn table(&self, name: &str) -> String {
        crate::qn(name)
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
        let (client, schema, _tls) = crate::connect::connect(url, |c| {
            c.batch_execute(SESSION)?;
            c.query_one("SELECT current_schema()::text", &[])
                .map(|r| r.get::<_, Option<String>>(0))
        })
        .map_err(|e| DiffError::query(shown.clone(), "connect", ripcord_core::redact::scrub(&e)))?;
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
}

impl SqlSource for PgDiff {
    fn kind(&self) -> &'static str {
        "postgres"
    }
    fn dialect(&self) -> &dyn Dialect {
        &Pg
    }
    fn shown(&self) -> &str {
        &self.shown
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
    fn fast_digest(&self) -> Option<Digest> {
        Some(Digest::PgHashText)
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        let schema = self.schema.clone();
        let read = crate::ddl::read_schema(&mut self.client, &schema, table).map(|s| s.0);
        let (s, t) = crate::split(&schema, table);
        let columns = format!(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull::text FROM pg_attribute \
             WHERE attrelid = to_regclass({}) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            std_lit(&format!("{}.{}", q(s), q(t)))
        );
        self.schema_or_columns(table, read, &columns)
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        let cols = |rel: &str, keys: &str| {
            format!(
                "(SELECT string_agg(a.attname, ',' ORDER BY k.i) FROM unnest(c.{keys}) WITH ORDINALITY k(n, i) \
                 JOIN pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = k.n)"
            )
        };
        // Tables named as a plan names them: bare in the default schema, `schema.table`
        // elsewhere (ripcord's own schema has no foreign keys).
        let name = |rel: &str, ns: &str| {
            format!(
                "CASE WHEN {ns}.nspname = {s} THEN {rel}.relname::text ELSE {ns}.nspname || '.' || {rel}.relname END",
                s = std_lit(&self.schema)
            )
        };
        let sql = format!(
            "SELECT c.conname, {}, {}, {}, {} FROM pg_constraint c \
             JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pl ON pl.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace JOIN pg_namespace pn ON pn.oid = pl.relnamespace \
             WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            name("cl", "n"),
            cols("conrelid", "conkey"),
            name("pl", "pn"),
            cols("confrelid", "confkey"),
        );
        self.foreign_keys_of(&sql)
    }
}
