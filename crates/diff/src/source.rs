//! What one side of a diff must answer. Engines answer in their own SQL (see [`crate::sql`]);
//! [`MemorySource`] answers for rows held in Rust (a checkpoint).

use crate::DiffError;
use crate::canon::{self, Checksum, Class};
use ripcord_core::schema::TableSchema;
use ripcord_core::value::Row;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// The canonical texts of a row's key columns.
pub type KeyVals = Vec<String>;
/// A row as canonical texts, in [`TableSpec::columns`] order (`None` = NULL).
pub type CanonRow = Vec<Option<String>>;

/// The function turning a row's encoding into its 64-bit hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Digest {
    /// First 8 bytes of MD5: every engine (and Rust) computes it, so any pair agrees.
    #[default]
    Md5,
    /// PostgreSQL's `hashtextextended(…, 0)` over the same encoding: several times cheaper
    /// than `md5()` there, used only when both sides are PostgreSQL.
    PgHashText,
}

/// The table and columns being compared; key columns come first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableSpec {
    pub table: String,
    pub columns: Vec<String>,
    pub decls: Vec<String>,
    pub classes: Vec<Class>,
    pub key_len: usize,
    /// The key is the table's declared primary key on this side: no NULL or duplicate
    /// keys can exist, so they are not searched for.
    pub key_is_primary: bool,
    #[serde(default)]
    pub digest: Digest,
}

impl TableSpec {
    /// Builds the spec from a side's schema. `key` and `columns` default to the primary key
    /// and every column.
    pub fn from_schema(
        schema: &TableSchema,
        key: &[String],
        columns: &[String],
    ) -> Result<TableSpec, DiffError> {
        let pk = schema.key_names();
        let key: Vec<String> = if key.is_empty() {
            pk.clone()
        } else {
            key.to_vec()
        };
        if key.is_empty() {
            return Err(DiffError::Usage(format!(
                "table {} has no primary key; name the key columns with --key",
                schema.name
            )));
        }
        let mut cols = key.clone();
        let rest: Vec<String> = if columns.is_empty() {
            schema.column_names()
        } else {
            columns.to_vec()
        };
        for c in rest {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        let mut decls = Vec::new();
        let mut classes = Vec::new();
        for c in &cols {
            let i = schema.column_index(c).ok_or_else(|| {
                DiffError::Usage(format!(
                    "table {} has no column {c:?} (columns: {})",
                    schema.name,
                    schema.column_names().join(", ")
                ))
            })?;
            let decl = schema.columns[i].decl_type.clone();
            classes.push(canon::classify(&decl));
            decls.push(decl);
        }
        for (c, class) in key.iter().zip(&classes) {
            if !class.can_be_key() {
                return Err(DiffError::Usage(format!(
                    "key column {c:?} of {} is a {:?} column; ripcord splits ranges on integer, decimal, text, date or binary keys",
                    schema.name, class
                )));
            }
        }
        Ok(TableSpec {
            table: schema.name.clone(),
            key_is_primary: key == pk,
            digest: Digest::Md5,
            key_len: key.len(),
            columns: cols,
            decls,
            classes,
        })
    }

    pub fn key_columns(&self) -> &[String] {
        &self.columns[..self.key_len]
    }
    pub fn key_classes(&self) -> &[Class] {
        &self.classes[..self.key_len]
    }
    pub fn key_of(&self, row: &CanonRow) -> KeyVals {
        row[..self.key_len]
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect()
    }
    pub fn cmp_keys(&self, a: &[String], b: &[String]) -> Ordering {
        canon::cmp_key(self.key_classes(), a, b)
    }
}

/// Keys in `[lo, hi)`; `None` is unbounded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub lo: Option<KeyVals>,
    pub hi: Option<KeyVals>,
}

impl Range {
    pub fn all() -> Range {
        Range::default()
    }
    pub fn contains(&self, spec: &TableSpec, k: &[String]) -> bool {
        self.lo
            .as_ref()
            .is_none_or(|lo| spec.cmp_keys(k, lo) != Ordering::Less)
            && self
                .hi
                .as_ref()
                .is_none_or(|hi| spec.cmp_keys(k, hi) == Ordering::Less)
    }
    /// The sub-ranges cut at `bounds` (sorted, inside this range): `bounds.len() + 1` of them.
    pub fn split(&self, bounds: &[KeyVals]) -> Vec<Range> {
        let mut out = Vec::with_capacity(bounds.len() + 1);
        let mut lo = self.lo.clone();
        for b in bounds {
            out.push(Range {
                lo,
                hi: Some(b.clone()),
            });
            lo = Some(b.clone());
        }
        out.push(Range {
            lo,
            hi: self.hi.clone(),
        });
        out
    }
}

/// NULL and duplicate keys found on one side; the diff refuses to run while there are any.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyProblems {
    pub null_keys: u64,
    /// Up to 20 duplicated keys with how many rows share each.
    pub duplicates: Vec<(KeyVals, u64)>,
}

impl KeyProblems {
    pub fn is_clean(&self) -> bool {
        self.null_keys == 0 && self.duplicates.is_empty()
    }
}

/// A foreign key, declared in the database or named by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub child: String,
    pub child_columns: Vec<String>,
    pub parent: String,
    pub parent_columns: Vec<String>,
}

impl std::fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}({}) → {}({})",
            self.child,
            self.child_columns.join(", "),
            self.parent,
            self.parent_columns.join(", ")
        )
    }
}

impl std::str::FromStr for ForeignKey {
    type Err = String;
    /// `child(col, …)->parent(col, …)`
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a foreign key; write child(col)->parent(col)");
        let (c, p) = s.split_once("->").ok_or_else(bad)?;
        let side = |t: &str| -> Result<(String, Vec<String>), String> {
            let (name, rest) = t.trim().split_once('(').ok_or_else(bad)?;
            let cols = rest.strip_suffix(')').ok_or_else(bad)?;
            let cols: Vec<String> = cols.split(',').map(|x| x.trim().to_string()).collect();
            if name.trim().is_empty() || cols.iter().any(String::is_empty) {
                return Err(bad());
            }
            Ok((name.trim().to_string(), cols))
        };
        let (child, child_columns) = side(c)?;
        let (parent, parent_columns) = side(p)?;
        if child_columns.len() != parent_columns.len() {
            return Err(format!("{s:?}: both sides need the same number of columns"));
        }
        Ok(ForeignKey {
            name: format!("declared {s}"),
            child,
            child_columns,
            parent,
            parent_columns,
        })
    }
}

/// One side of a diff. Each source owns its own connection, so the two sides run on two
/// threads at once.
pub trait DiffSource: Send {
    /// `sqlite`, `postgres`, `mysql` or `checkpoint`.
    fn kind(&self) -> &'static str;
    /// Where the rows come from, with any password removed.
    fn describe(&self) -> String;
    /// A digest cheaper than MD5 this engine offers; used when both sides offer the same.
    fn fast_digest(&self) -> Option<Digest> {
        None
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError>;
    fn key_problems(&mut self, spec: &TableSpec) -> Result<KeyProblems, DiffError>;
    fn count(&mut self, spec: &TableSpec, range: &Range) -> Result<u64, DiffError>;
    /// Every `step`-th key of the range in key order: quantile boundaries of the real rows.
    fn boundaries(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        step: u64,
    ) -> Result<Vec<KeyVals>, DiffError>;
    /// One checksum per sub-range of `range` cut at `bounds` (`bounds.len() + 1` of them).
    fn checksums(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        bounds: &[KeyVals],
    ) -> Result<Vec<Checksum>, DiffError>;
    /// The rows of a range as canonical texts, in any order.
    fn rows(&mut self, spec: &TableSpec, range: &Range) -> Result<Vec<CanonRow>, DiffError>;
    /// Foreign keys declared in the database.
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError>;
    /// Child rows whose parent is missing: how many, and up to `limit` of their
    /// foreign-key values.
    fn orphans(&mut self, fk: &ForeignKey, limit: usize) -> Result<(u64, Vec<KeyVals>), DiffError>;
    /// Runs an aggregate query: every column but the last is the group, the last the figure.
    fn aggregate(&mut self, sql: &str) -> Result<Vec<(String, Option<String>)>, DiffError>;
}

/// Rows held in memory: a checkpoint, or an expected state built from one.
pub struct MemorySource {
    name: String,
    schema: TableSchema,
    rows: Vec<Row>,
    /// Canonical rows for the last spec asked about, sorted by key.
    cache: Option<(Vec<String>, Vec<CanonRow>)>,
}

impl MemorySource {
    pub fn new(name: impl Into<String>, schema: TableSchema, rows: Vec<Row>) -> MemorySource {
        MemorySource {
            name: name.into(),
            schema,
            rows,
            cache: None,
        }
    }

    fn canon(&mut self, spec: &TableSpec) -> Result<&[CanonRow], DiffError> {
        if self.cache.as_ref().is_none_or(|(c, _)| *c != spec.columns) {
            let idx: Vec<usize> = spec
                .columns
                .iter()
                .map(|c| {
                    self.schema.column_index(c).ok_or_else(|| {
                        DiffError::Usage(format!(
                            "{}: table {} has no column {c:?}",
                            self.name, self.schema.name
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            let mut rows: Vec<CanonRow> = self
                .rows
                .iter()
                .map(|r| {
                    idx.iter()
                        .zip(&spec.classes)
                        .map(|(&i, &c)| canon::canon_value(c, &r[i]))
                        .collect()
                })
                .collect();
            rows.sort_by(|a, b| spec.cmp_keys(&spec.key_of(a), &spec.key_of(b)));
            self.cache = Some((spec.columns.clone(), rows));
        }
        Ok(&self.cache.as_ref().expect("filled").1)
    }

    fn in_range<'a>(
        &'a mut self,
        spec: &TableSpec,
        range: &Range,
    ) -> Result<&'a [CanonRow], DiffError> {
        let rows = self.canon(spec)?;
        let start = match &range.lo {
            None => 0,
            Some(lo) => {
                rows.partition_point(|r| spec.cmp_keys(&spec.key_of(r), lo) == Ordering::Less)
            }
        };
        let end = match &range.hi {
            None => rows.len(),
            Some(hi) => {
                rows.partition_point(|r| spec.cmp_keys(&spec.key_of(r), hi) == Ordering::Less)
            }
        };
        Ok(&rows[start..end.max(start)])
    }
}

impl DiffSource for MemorySource {
    fn kind(&self) -> &'static str {
        "checkpoint"
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn schema(&mut self, table: &str) -> Result<TableSchema, DiffError> {
        if table != self.schema.name {
            return Err(DiffError::Usage(format!(
                "{} holds table {}, not {table}",
                self.name, self.schema.name
            )));
        }
        Ok(self.schema.clone())
    }
    fn key_problems(&mut self, spec: &TableSpec) -> Result<KeyProblems, DiffError> {
        let rows = self.canon(spec)?;
        let mut p = KeyProblems::default();
        let mut prev: Option<(KeyVals, u64)> = None;
        for r in rows {
            if r[..spec.key_len].iter().any(Option::is_none) {
                p.null_keys += 1;
                continue;
            }
            let k = spec.key_of(r);
            match &mut prev {
                Some((pk, n)) if spec.cmp_keys(pk, &k) == Ordering::Equal => *n += 1,
                _ => {
                    if let Some((pk, n)) = prev.take()
                        && n > 1
                        && p.duplicates.len() < 20
                    {
                        p.duplicates.push((pk, n));
                    }
                    prev = Some((k, 1));
                }
            }
        }
        if let Some((pk, n)) = prev
            && n > 1
            && p.duplicates.len() < 20
        {
            p.duplicates.push((pk, n));
        }
        Ok(p)
    }
    fn count(&mut self, spec: &TableSpec, range: &Range) -> Result<u64, DiffError> {
        Ok(self.in_range(spec, range)?.len() as u64)
    }
    fn boundaries(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        step: u64,
    ) -> Result<Vec<KeyVals>, DiffError> {
        let rows = self.in_range(spec, range)?;
        Ok(rows
            .iter()
            .skip(step.max(1) as usize - 1)
            .step_by(step.max(1) as usize)
            .map(|r| spec.key_of(r))
            .collect())
    }
    fn checksums(
        &mut self,
        spec: &TableSpec,
        range: &Range,
        bounds: &[KeyVals],
    ) -> Result<Vec<Checksum>, DiffError> {
        let rows = self.in_range(spec, range)?.to_vec();
        let mut out = vec![Checksum::default(); bounds.len() + 1];
        for r in &rows {
            let k = spec.key_of(r);
            let b = bounds.partition_point(|x| spec.cmp_keys(x, &k) != Ordering::Greater);
            out[b].add(canon::row_hash(r));
        }
        Ok(out)
    }
    fn rows(&mut self, spec: &TableSpec, range: &Range) -> Result<Vec<CanonRow>, DiffError> {
        Ok(self.in_range(spec, range)?.to_vec())
    }
    fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, DiffError> {
        Ok(Vec::new())
    }
    fn orphans(&mut self, _: &ForeignKey, _: usize) -> Result<(u64, Vec<KeyVals>), DiffError> {
        Err(DiffError::Usage(format!(
            "{}: foreign keys are checked on live databases, not checkpoints",
            self.name
        )))
    }
    fn aggregate(&mut self, _: &str) -> Result<Vec<(String, Option<String>)>, DiffError> {
        Err(DiffError::Usage(format!(
            "{}: aggregate queries run on live databases, not checkpoints",
            self.name
        )))
    }
}

/// The schema of a table without a primary key, from rows of (name, declared type,
/// not null as `true`/`false`): enough to diff it on columns named by `--key`.
pub fn columns_only(table: &str, cols: Vec<CanonRow>) -> TableSchema {
    TableSchema {
        name: table.to_string(),
        columns: cols
            .into_iter()
            .map(|r| ripcord_core::schema::Column {
                name: r.first().cloned().flatten().unwrap_or_default(),
                decl_type: r.get(1).cloned().flatten().unwrap_or_default(),
                not_null: r.get(2).cloned().flatten().as_deref() == Some("true"),
            })
            .collect(),
        primary_key: Vec::new(),
        create_sql: String::new(),
        post_sql: Vec::new(),
    }
}
