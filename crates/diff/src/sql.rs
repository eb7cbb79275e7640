//! SQL shared by the engines' diff sources. Each engine supplies a [`Dialect`]: how to quote,
//! how to compare keys in binary order, how to write a canonical text and the row hash.
//! The queries are the same shape everywhere, so their results line up across engines.

use crate::DiffError;
use crate::canon::{self, Checksum, Class};
use crate::source::{
    CanonRow, DiffSource, Digest, ForeignKey, KeyProblems, KeyVals, Range, TableSpec,
};
use ripcord_core::schema::TableSchema;

pub trait Dialect {
    fn ident(&self, name: &str) -> String;
    /// A table name as the plan or the command line writes it (`s.t` on engines with
    /// schemas); by default one identifier.
    fn table(&self, name: &str) -> String {
        self.ident(name)
    }
    /// A key column's expression, compared in binary order (never a collation).
    fn key_expr(&self, col: &str, class: Class) -> String;
    /// A canonical key text as a literal comparable with [`Dialect::key_expr`].
    fn key_lit(&self, text: &str, class: Class) -> String;
    /// The canonical text of `expr` (NULL stays NULL); `decl` is the declared type.
    fn canon_expr(&self, expr: &str, class: Class, decl: &str) -> String;
    /// The aggregate giving count-independent checksum text over the rows of a group:
    /// the sum of the row hashes (any width, signed or not; reduced modulo 2^64 in Rust).
    fn checksum_agg(&self, spec: &TableSpec) -> String;
}

fn lit_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A quoted text literal in standard SQL (no backslash escapes).
pub fn std_lit(s: &str) -> String {
    lit_text(s)
}

/// Checks a key literal's text before it is written into SQL.
pub fn checked_number(text: &str) -> String {
    if canon::is_plain_number(text) {
        text.to_string()
    } else {
        // Never reached with canonical keys; quoting keeps a bad value from becoming SQL.
        lit_text(text)
    }
}

fn tuple(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().expect("one")
    } else {
        format!("({})", items.join(", "))
    }
}

fn key_tuple(d: &dyn Dialect, spec: &TableSpec) -> String {
    tuple(
        spec.key_columns()
            .iter()
            .zip(spec.key_classes())
            .map(|(c, &k)| d.key_expr(c, k))
            .collect(),
    )
}

fn lit_tuple(d: &dyn Dialect, spec: &TableSpec, k: &KeyVals) -> String {
    tuple(
        k.iter()
            .zip(spec.key_classes())
            .map(|(t, &c)| d.key_lit(t, c))
            .collect(),
    )
}

/// `WHERE` condition of a range (`1=1` when unbounded).
pub fn range_cond(d: &dyn Dialect, spec: &TableSpec, r: &Range) -> String {
    let k = key_tuple(d, spec);
    let mut parts = Vec::new();
    if let Some(lo) = &r.lo {
        parts.push(format!("{k} >= {}", lit_tuple(d, spec, lo)));
    }
    if let Some(hi) = &r.hi {
        parts.push(format!("{k} < {}", lit_tuple(d, spec, hi)));
    }
    if parts.is_empty() {
        "1=1".into()
    } else {
        parts.join(" AND ")
    }
}

/// The bucket of a row among `bounds`, as a binary search written in nested CASEs
/// (log2(n) comparisons per row, on every engine, for any key).
pub fn bucket_expr(d: &dyn Dialect, spec: &TableSpec, bounds: &[KeyVals]) -> String {
    let k = key_tuple(d, spec);
    fn build(
        d: &dyn Dialect,
        spec: &TableSpec,
        k: &str,
        bounds: &[KeyVals],
        lo: usize,
        hi: usize,
        out: &mut String,
    ) {
        if lo == hi {
            out.push_str(&lo.to_string());
            return;
        }
        let mid = (lo + hi).div_ceil(2);
        out.push_str("CASE WHEN ");
        out.push_str(k);
        out.push_str(" < ");
        out.push_str(&lit_tuple(d, spec, &bounds[mid - 1]));
        out.push_str(" THEN ");
        build(d, spec, k, bounds, lo, mid - 1, out);
        out.push_str(" ELSE ");
        build(d, spec, k, bounds, mid, hi, out);
        out.push_str(" END");
    }
    let mut out = String::new();
    build(d, spec, &k, bounds, 0, bounds.len(), &mut out);
    out
}

pub fn count_sql(d: &dyn Dialect, spec: &TableSpec, r: &Range) -> String {
    format!(
        "SELECT count(*) FROM {} WHERE {}",
        d.table(&spec.table),
        range_cond(d, spec, r)
    )
}

/// Every `step`-th key in binary key order, as canonical texts.
pub fn boundaries_sql(d: &dyn Dialect, spec: &TableSpec, r: &Range, step: u64) -> String {
    let inner: Vec<String> = spec
        .key_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} AS _rk{i}", d.ident(c)))
        .collect();
    let outer: Vec<String> = (0..spec.key_len)
        .map(|i| d.canon_expr(&format!("_rk{i}"), spec.classes[i], &spec.decls[i]))
        .collect();
    let order: Vec<String> = spec
        .key_columns()
        .iter()
        .zip(spec.key_classes())
        .map(|(c, &k)| d.key_expr(c, k))
        .collect();
    format!(
        "SELECT {} FROM (SELECT {}, row_number() OVER (ORDER BY {}) AS _rn FROM {} WHERE {}) _s WHERE _rn % {} = 0 ORDER BY _rn",
        outer.join(", "),
        inner.join(", "),
        order.join(", "),
        d.table(&spec.table),
        range_cond(d, spec, r),
        step.max(1)
    )
}

/// Bucket number, row count and checksum per bucket (buckets without rows are absent).
pub fn checksums_sql(d: &dyn Dialect, spec: &TableSpec, r: &Range, bounds: &[KeyVals]) -> String {
    format!(
        "SELECT {} AS _b, count(*), {} FROM {} WHERE {} GROUP BY 1",
        bucket_expr(d, spec, bounds),
        d.checksum_agg(spec),
        d.table(&spec.table),
        range_cond(d, spec, r)
    )
}

pub fn rows_sql(d: &dyn Dialect, spec: &TableSpec, r: &Range) -> String {
    let cols: Vec<String> = spec
        .columns
        .iter()
        .zip(&spec.classes)
        .zip(&spec.decls)
        .map(|((c, &k), decl)| d.canon_expr(&d.ident(c), k, decl))
        .collect();
    format!(
        "SELECT {} FROM {} WHERE {}",
        cols.join(", "),
        d.table(&spec.table),
        range_cond(d, spec, r)
    )
}

/// NULL keys: one count.
pub fn null_keys_sql(d: &dyn Dialect, spec: &TableSpec) -> String {
    let conds: Vec<String> = spec
        .key_columns()
        .iter()
        .map(|c| format!("{} IS NULL", d.ident(c)))
        .collect();
    format!(
        "SELECT count(*) FROM {} WHERE {}",
        d.table(&spec.table),
        conds.join(" OR ")
    )
}

/// Duplicated keys (binary comparison), at most 20, with their row counts.
pub fn duplicates_sql(d: &dyn Dialect, spec: &TableSpec) -> String {
    let keys: Vec<String> = spec
        .key_columns()
        .iter()
        .zip(spec.key_classes())
        .map(|(c, &k)| d.key_expr(c, k))
        .collect();
    let canon: Vec<String> = spec
        .key_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| d.canon_expr(&d.ident(c), spec.classes[i], &spec.decls[i]))
        .collect();
    let not_null: Vec<String> = spec
        .key_columns()
        .iter()
        .map(|c| format!("{} IS NOT NULL", d.ident(c)))
        .collect();
    format!(
        "SELECT {}, count(*) FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1 LIMIT 20",
        canon
            .iter()
            .enumerate()
            .map(|(i, c)| format!("min({c}) AS _k{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        d.table(&spec.table),
        not_null.join(" AND "),
        keys.join(", ")
    )
}

/// Child rows whose parent row is missing: their foreign-key values.
pub fn orphans_sql(d: &dyn Dialect, fk: &ForeignKey, limit: Option<usize>) -> String {
    let sel: Vec<String> = fk
        .child_columns
        .iter()
        .map(|c| d.canon_expr(&format!("c.{}", d.ident(c)), Class::Text, "text"))
        .collect();
    let not_null: Vec<String> = fk
        .child_columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", d.ident(c)))
        .collect();
    let join: Vec<String> = fk
        .child_columns
        .iter()
        .zip(&fk.parent_columns)
        .map(|(c, p)| format!("p.{} = c.{}", d.ident(p), d.ident(c)))
        .collect();
    let what = if limit.is_some() {
        sel.join(", ")
    } else {
        "count(*)".into()
    };
    format!(
        "SELECT {what} FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {}){}",
        d.table(&fk.child),
        not_null.join(" AND "),
        d.table(&fk.parent),
        join.join(" AND "),
        limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
    )
}

/// A foreign key from a row of (name, child, child columns, parent, parent columns), the
/// column lists comma-separated.
pub fn fk_of(r: &[Option<String>]) -> ForeignKey {
    let s = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let list = |i: usize| s(i).split(',').map(str::to_string).collect();
    ForeignKey {
        name: s(0),
        child: s(1),
        child_columns: list(2),
        parent: s(3),
        parent_columns: list(4),
    }
}

/// Checksums from rows of (bucket, count, sum); buckets without rows are zero.
pub fn collect_buckets(
    shown: &str,
    rows: Vec<Vec<Option<String>>>,
    n: usize,
) -> Result<Vec<Checksum>, DiffError> {
    let mut out = vec![Checksum::default(); n];
    for r in rows {
        let bad = |what: &str| {
            DiffError::query(shown, "checksums", format!("unexpected {what} in {r:?}"))
        };
        let field = |i: usize| r.get(i).cloned().flatten();
        let b: usize = field(0)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bucket"))?;
        let c: u64 = field(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("count"))?;
        let sum = Checksum::from_sql(c, field(2).as_deref())
            .map_err(|e| DiffError::query(shown, "checksums", e))?;
        *out.get_mut(b).ok_or_else(|| bad("bucket"))? = sum;
    }
    Ok(out)
}

/// A live database answering the [`DiffSource`](crate::DiffSource) questions in its own SQL.
/// An engine supplies its [`Dialect`], a way to run a query, and what differs between
/// engines (schema, declared foreign keys); the blanket `DiffSource` impl does the rest.
pub trait SqlSource: Send {
    /// `sqlite`, `postgres` or `mysql`.
    fn kind(&self) -> &'static str;
    fn dialect(&self) -> &dyn Dialect;
    /// The database's URL with any password removed.
    fn shown(&self) -> &str;
    /// Runs `sql`; every value as its text (`None` = NULL). `context` names it in errors.
    fn rows_of(&mut self, sql: &str, context: &str) -> Result<Vec<CanonRow>, DiffError>;
    /// See [`DiffSource::fast_digest`](crate::DiffSource::fast_digest).
    fn fast_digest(&self) -> Option<Digest> {
        None
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError>;
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError>;

    /// The first value of the first row, as a count.
    fn scalar(&mut self, sql: &str, context: &str) -> Result<u64, DiffError> {
        let rows = self.rows_of(sql, context)?;
        let v = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default();
        v.parse()
            .map_err(|_| DiffError::query(self.shown(), context, format!("not a count: {v:?}")))
    }
    /// A table's schema as the engine read it (`read`). A table without a primary key is
    /// read from `columns_sql` instead (rows of name, declared type, not null as
    /// `true`/`false`), so it can still be diffed on columns named by `--key`.
    fn schema_or_columns(
        &mut self,
        table: &str,
        read: Result<TableSchema, ripcord_core::engine::EngineError>,
        columns_sql: &str,
    ) -> Result<TableSchema, DiffError> {
        match read {
            Ok(s) => Ok(s),
            Err(ripcord_core::engine::EngineError::NoPrimaryKey(_)) => {
                let cols = self.rows_of(columns_sql, &format!("table {table}"))?;
                Ok(crate::source::columns_only(table, cols))
            }
            Err(e) => Err(DiffError::query(self.shown(), format!("table {table}"), e)),
        }
    }
    /// The foreign keys `sql` lists, a row each as [`fk_of`] reads it.
    fn foreign_keys_of(&mut self, sql: &str) -> Result<Vec<ForeignKey>, DiffError> {
        Ok(self
            .rows_of(sql, "foreign keys")?
            .into_iter()
            .map(|r| fk_of(&r))
            .collect())
    }
    /// Rows of texts with NULL read as the empty text.
    fn keys_of(&mut self, sql: &str, context: &str) -> Result<Vec<KeyVals>, DiffError> {
        Ok(self
            .rows_of(sql, context)?
            .into_iter()
            .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
            .collect())
    }
}

impl<T: SqlSource> DiffSource for T {
    fn kind(&self) -> &'static str {
        SqlSource::kind(self)
    }
    fn describe(&self) -> String {
        self.shown().to_string()
    }
    fn fast_digest(&self) -> Option<Digest> {
        SqlSource::fast_digest(self)
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        SqlSource::schema(self, table)
    }
    fn key_problems(&mut self, spec: &TableSpec) -> Result<KeyProblems, DiffError> {
        let null_keys = self.scalar(&null_keys_sql(self.dialect(), spec), "NULL keys")?;
        let duplicates = self
            .rows_of(&duplicates_sql(self.dialect(), spec), "duplicate keys")?
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
        self.scalar(&count_sql(self.dialect(), spec, range), "count")
    }
    fn boundaries(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        step: u64,
    ) -> Result<Vec<KeyVals>, DiffError> {
        let sql = boundaries_sql(self.dialect(), spec, range, step);
        self.keys_of(&sql, "boundaries")
    }
    fn checksums(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        bounds: &[KeyVals],
    ) -> Result<Vec<Checksum>, DiffError> {
        let sql = checksums_sql(self.dialect(), spec, range, bounds);
        let rows = self.rows_of(&sql, "checksums")?;
        collect_buckets(self.shown(), rows, bounds.len() + 1)
    }
    fn rows(&mut self, spec: &TableSpec, range: &Range) -> Result<Vec<CanonRow>, DiffError> {
        self.rows_of(&rows_sql(self.dialect(), spec, range), "rows")
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        SqlSource::foreign_keys(self)
    }
    fn orphans(&mut self, fk: &ForeignKey, limit: usize) -> Result<(u64, Vec<KeyVals>), DiffError> {
        let context = format!("orphans of {fk}");
        let n = self.scalar(&orphans_sql(self.dialect(), fk, None), &context)?;
        let ex = if n == 0 {
            Vec::new()
        } else {
            self.keys_of(&orphans_sql(self.dialect(), fk, Some(limit)), &context)?
        };
        Ok((n, ex))
    }
    fn aggregate(&mut self, sql: &str) -> Result<Vec<(String, Option<String>)>, DiffError> {
        Ok(self
            .rows_of(sql, "aggregate")?
            .into_iter()
            .map(crate::aggregate::split_row)
            .collect())
    }
}
