//! Legacy against the new side, row by row, through the component's reverse mapping: the
//! cutover's and the switch-based rollback's proof of a table whose mapping renames or
//! computes columns, and of any table the binary's range-checksum differ cannot compare.
//!
//! The new side's rows are streamed and carried into the legacy shape the way the sync
//! carries a write ([`replay::RowMapper`]: the mapping's expressions evaluated by the legacy
//! engine, one statement per batch, then `types::convert` across engines), and matched
//! with legacy's rows, streamed at the same time, by the legacy key. Both sides are
//! normalised for the legacy column's type before they are compared (a decimal's scale,
//! a timestamp's zone and precision), so only a difference in meaning counts.
//!
//! Memory: the two streams advance a row each in turn, and a row waits only until its
//! counterpart arrives. What waits is a 16-byte digest of its key and one of its compared
//! values (the row itself too while fewer than [`HOLD`] rows wait, to name the column that
//! differs). When both engines stream in one key order (integer keys) that is a handful of
//! rows; at worst (orders that disagree, e.g. text keys under different collations) it is
//! 32 bytes plus the map's overhead per row of the table. Besides, a few batches of
//! [`BATCH`] rows are in transit between the reader and the comparison.

use crate::context::Ctx;
use crate::engine::{Engine, SnapshotSink, TypeQuirks};
use crate::journal::RowImage;
use crate::plan::Component;
use crate::replay::{self, RowMapper};
use crate::rollback::{Checked, NotCompared, NotComparedWhy, TableProof};
use crate::schema::TableSchema;
use crate::value::{Row, Value};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

/// Rows of the new side mapped in one statement.
const BATCH: usize = 256;
/// Waiting rows kept whole (beyond, only their digests).
pub const HOLD: usize = 10_000;
const EXAMPLES: usize = 20;

/// Which legacy columns a comparison covers, and which it cannot.
struct Columns {
    /// Legacy column indexes compared, in legacy column order.
    compared: Vec<usize>,
    not_compared: Vec<NotCompared>,
}

fn columns(legacy: &TableSchema, new: &TableSchema, c: &Component, captured: &str) -> Columns {
    let rev = c.reverse_for(captured);
    let mut out = Columns {
        compared: Vec::new(),
        not_compared: Vec::new(),
    };
    for (i, col) in legacy.columns.iter().enumerate() {
        let why = if rev.ignore.contains(&col.name) {
            Some(NotComparedWhy::Ignored)
        } else if rev.columns.contains_key(&col.name) || new.column_index(&col.name).is_some() {
            None
        } else {
            Some(NotComparedWhy::NotProduced)
        };
        match why {
            None => out.compared.push(i),
            Some(why) => out.not_compared.push(NotCompared {
                column: col.name.clone(),
                why,
            }),
        }
    }
    out
}

/// The legacy columns `compare_databases` (identity tables) leaves out: those the new
/// side's table does not have.
pub(crate) fn identity_not_compared(legacy: &TableSchema, new: &TableSchema) -> Vec<NotCompared> {
    legacy
        .columns
        .iter()
        .filter(|c| new.column_index(&c.name).is_none())
        .map(|c| NotCompared {
            column: c.name.clone(),
            why: NotComparedWhy::NotProduced,
        })
        .collect()
}

/// A value as the legacy column holds it, in one form per meaning: numbers (and booleans)
/// as canonical decimal text, so `12.5`, `12.50` and `12.5e0` are one value.
fn normalise(v: &Value, decl: &str, quirks: &TypeQuirks) -> Value {
    let v = crate::types::convert(v, decl, quirks).unwrap_or_else(|_| v.clone());
    match &v {
        Value::Int(i) => Value::Decimal(i.to_string()),
        Value::Bool(b) => Value::Decimal((*b as u8).to_string()),
        Value::Float(f) if f.is_finite() => Value::Decimal(
            crate::exact::canon_decimal(&format!("{f}")).unwrap_or_else(|| format!("{f:?}")),
        ),
        Value::Decimal(d) => {
            Value::Decimal(crate::exact::canon_decimal(d).unwrap_or_else(|| d.clone()))
        }
        _ => v,
    }
}

fn digest(values: &[Value]) -> u128 {
    let mut buf = Vec::with_capacity(64);
    crate::value::encode_row(&mut buf, values);
    let h = blake3::hash(&buf);
    u128::from_le_bytes(h.as_bytes()[..16].try_into().expect("16 bytes"))
}

/// One row in the comparison's terms: its key and its compared values, normalised.
struct Prepared {
    key: u128,
    values: u128,
    key_text: String,
    row: Vec<Value>,
}

struct Shape<'a> {
    schema: &'a TableSchema,
    compared: &'a [usize],
    quirks: TypeQuirks,
}

impl Shape<'_> {
    /// `get(i)`: legacy column `i`'s value (`None`: absent, compared as NULL).
    fn prepare(&self, get: impl Fn(usize) -> Option<Value>) -> Prepared {
        let norm = |i: usize| {
            let col = &self.schema.columns[i];
            normalise(&get(i).unwrap_or(Value::Null), &col.decl_type, &self.quirks)
        };
        let key: Vec<Value> = self.schema.primary_key.iter().map(|&i| norm(i)).collect();
        let row: Vec<Value> = self.compared.iter().map(|&i| norm(i)).collect();
        let raw_key: RowImage = self
            .schema
            .primary_key
            .iter()
            .map(|&i| {
                (
                    self.schema.columns[i].name.clone(),
                    get(i).unwrap_or(Value::Null),
                )
            })
            .collect();
        Prepared {
            key: digest(&key),
            values: digest(&row),
            key_text: replay::key_text(&raw_key),
            row,
        }
    }
}

struct Waiting {
    values: u128,
    /// Key text and compared values, while few rows wait.
    held: Option<Box<(String, Vec<Value>)>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Legacy,
    New,
}

/// Matches the two streams' rows by key digest.
struct Matcher<'a> {
    table: &'a str,
    captured: &'a str,
    column_names: Vec<String>,
    waiting: [HashMap<u128, Waiting>; 2],
    held: usize,
    peak: usize,
    differences: u64,
    examples: Vec<String>,
    legacy_rows: u64,
}

impl<'a> Matcher<'a> {
    /// Nothing seen yet of `table` (legacy) and `captured` (the new side).
    fn new(table: &'a str, captured: &'a str, column_names: Vec<String>) -> Self {
        Matcher {
            table,
            captured,
            column_names,
            waiting: [HashMap::new(), HashMap::new()],
            held: 0,
            peak: 0,
            differences: 0,
            examples: Vec::new(),
            legacy_rows: 0,
        }
    }

    fn note(&mut self, e: impl FnOnce() -> String) {
        self.differences += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(e());
        }
    }

    fn add(&mut self, side: Side, p: Prepared) {
        let (mine, other) = match side {
            Side::Legacy => (0, 1),
            Side::New => (1, 0),
        };
        if side == Side::Legacy {
            self.legacy_rows += 1;
        }
        if let Some(w) = self.waiting[other].remove(&p.key) {
            if w.held.is_some() {
                self.held -= 1;
            }
            if w.values != p.values {
                let (legacy_vals, new_vals) = match (&w.held, side) {
                    (Some(h), Side::Legacy) => (Some(&p.row), Some(&h.1)),
                    (Some(h), Side::New) => (Some(&h.1), Some(&p.row)),
                    (None, Side::Legacy) => (Some(&p.row), None),
                    (None, Side::New) => (None, Some(&p.row)),
                };
                let (table, captured) = (self.table, self.captured);
                let names = &self.column_names;
                let what = match (legacy_vals, new_vals) {
                    (Some(l), Some(n)) => names
                        .iter()
                        .zip(l.iter().zip(n))
                        .filter(|(_, (a, b))| a != b)
                        .map(|(c, (a, b))| {
                            format!("column {c} is {a} on legacy, {b} from the new side")
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    _ => "values differ from the new side's".to_string(),
                };
                let key = p.key_text.clone();
                self.note(|| format!("{table} {key}: {what} ({captured})"));
            }
            return;
        }
        if self.waiting[mine].contains_key(&p.key) {
            let (table, captured, key) = (self.table, self.captured, p.key_text.clone());
            let on = match side {
                Side::Legacy => "legacy".to_string(),
                Side::New => format!("the new side ({captured})"),
            };
            self.note(|| format!("{table} {key}: more than one row on {on} with this key"));
            return;
        }
        let held = (self.held < HOLD).then(|| Box::new((p.key_text, p.row)));
        if held.is_some() {
            self.held += 1;
        }
        self.waiting[mine].insert(
            p.key,
            Waiting {
                values: p.values,
                held,
            },
        );
        self.peak = self.peak.max(self.waiting[0].len() + self.waiting[1].len());
    }

    fn finish(&mut self) {
        for (i, w) in std::mem::take(&mut self.waiting).into_iter().enumerate() {
            for (_, w) in w {
                let (table, captured) = (self.table, self.captured);
                let where_ = if i == 0 {
                    format!("on legacy, not on the new side ({captured})")
                } else {
                    format!("on the new side ({captured}), not on legacy")
                };
                match w.held {
                    Some(h) => self.note(|| format!("{table} {}: {where_}", h.0)),
                    None => self.note(|| format!("{table}: a row {where_}")),
                }
            }
        }
    }
}

/// Hands legacy's rows to the comparing thread, a batch per message.
struct ToChannel {
    tx: mpsc::SyncSender<Vec<Row>>,
    rows: Vec<Row>,
}

impl ToChannel {
    fn send(&mut self) -> Result<()> {
        let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(BATCH));
        self.tx
            .send(rows)
            .map_err(|_| Error::Internal("the comparison stopped reading legacy".into()))
    }
}

impl SnapshotSink for ToChannel {
    fn begin_table(&mut self, _: &TableSchema) -> Result<()> {
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// The new side's rows, mapped a batch at a time, each followed by one of legacy's.
struct NewSide<'a, 'm> {
    new_schema: &'a TableSchema,
    captured: &'a str,
    mapper: &'a RowMapper<'m>,
    eval: &'a mut dyn Engine,
    shape: &'a Shape<'a>,
    legacy: mpsc::Receiver<Vec<Row>>,
    /// Legacy rows received and not yet matched, in stream order.
    legacy_rows: std::collections::VecDeque<Row>,
    legacy_done: bool,
    batch: Vec<RowImage>,
    m: Matcher<'a>,
}

impl NewSide<'_, '_> {
    fn next_legacy(&mut self) {
        if self.legacy_rows.is_empty() && !self.legacy_done {
            match self.legacy.recv() {
                Ok(rows) => self.legacy_rows.extend(rows),
                Err(_) => self.legacy_done = true,
            }
        }
        if let Some(r) = self.legacy_rows.pop_front() {
            let p = self.shape.prepare(|i| r.get(i).cloned());
            self.m.add(Side::Legacy, p);
        }
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let eval = &mut *self.eval;
        let mut ev = |exprs: &[String], imgs: &[RowImage]| {
            eval.eval_exprs_batch(exprs, imgs)
                .map_err(|e| e.to_string())
        };
        let mapped = self
            .mapper
            .map_rows(self.captured, &batch, &mut ev)
            .map_err(|r| Error::Verify(crate::words::gap_reason(&r)))?;
        let key_names = self.new_schema.key_names();
        for (img, m) in batch.iter().zip(mapped) {
            match m {
                Ok(row) => {
                    let schema = self.shape.schema;
                    let p = self
                        .shape
                        .prepare(|i| row.get(&schema.columns[i].name).cloned());
                    self.m.add(Side::New, p);
                }
                Err(reason) => {
                    let key: RowImage = key_names
                        .iter()
                        .filter_map(|k| img.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    let (table, captured) = (self.m.table, self.captured);
                    let key = replay::key_text(&key);
                    self.m.note(|| {
                        format!(
                            "{captured} {key}: cannot be carried to legacy {table}: {}",
                            crate::words::gap_reason(&reason)
                        )
                    });
                }
            }
            self.next_legacy();
        }
        Ok(())
    }
}

impl SnapshotSink for NewSide<'_, '_> {
    fn begin_table(&mut self, _: &TableSchema) -> Result<()> {
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.batch.push(self.new_schema.image(&row));
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        self.flush()
    }
}

/// Compares legacy table `t` with the new side's `captured` through the reverse mapping.
pub(crate) fn compare_mapped(
    ctx: &Ctx,
    c: &Component,
    t: &str,
    captured: &str,
) -> Result<TableProof> {
    let mut legacy = ctx.engine(&c.database)?;
    let mut new = ctx.engine(&c.capture_database)?;
    let lschema = legacy.table_schema(t)?;
    let nschema = new.table_schema(captured)?;
    let cols = columns(&lschema, &nschema, c, captured);
    let mut proof = TableProof {
        component: c.name.clone(),
        table: t.to_string(),
        ..TableProof::default()
    };
    let unkeyed: Vec<&NotCompared> = cols
        .not_compared
        .iter()
        .filter(|n| lschema.key_names().contains(&n.column))
        .collect();
    if !unkeyed.is_empty() {
        let ln = legacy.count_rows(t)?;
        let nn = new.count_rows(captured)?;
        proof.rows = ln;
        proof.differences = ln.abs_diff(nn);
        if ln != nn {
            proof.examples.push(format!(
                "{t}: {ln} rows on legacy, {nn} on the new side ({captured})"
            ));
        }
        let names: Vec<&str> = unkeyed.iter().map(|n| n.column.as_str()).collect();
        proof.checked = Checked::CountOnly {
            why: format!(
                "the reverse mapping gives no value for key column(s) {} of {t}, so rows cannot be matched",
                names.join(", ")
            ),
        };
        return Ok(proof);
    }
    let quirks = legacy.types();
    let cross = (new.kind() != legacy.kind()).then_some(quirks);
    let targets: BTreeMap<String, TableSchema> =
        std::iter::once((t.to_string(), lschema.clone())).collect();
    let mapper = RowMapper::new(c, &targets, cross);
    let mut eval = ctx.engine(&c.database)?;
    let shape = Shape {
        schema: &lschema,
        compared: &cols.compared,
        quirks,
    };
    let column_names: Vec<String> = cols
        .compared
        .iter()
        .map(|&i| lschema.columns[i].name.clone())
        .collect();
    let (tx, rx) = mpsc::sync_channel::<Vec<Row>>(4);
    let table = t.to_string();
    let (m, legacy_result) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut sink = ToChannel {
                tx,
                rows: Vec::with_capacity(BATCH),
            };
            legacy.snapshot(std::slice::from_ref(&table), &mut sink)
        });
        let mut side = NewSide {
            new_schema: &nschema,
            captured,
            mapper: &mapper,
            eval: eval.as_mut(),
            shape: &shape,
            legacy: rx,
            legacy_rows: std::collections::VecDeque::new(),
            legacy_done: false,
            batch: Vec::new(),
            m: Matcher::new(t, captured, column_names),
        };
        let r = new.snapshot(&[captured.to_string()], &mut side).map(|_| ());
        let r = r.map(|()| {
            while !side.legacy_done || !side.legacy_rows.is_empty() {
                side.next_legacy();
            }
        });
        let NewSide { m, legacy, .. } = side;
        // Dropping the receiver stops a reader still sending (after an error here).
        drop(legacy);
        let legacy_result = reader
            .join()
            .map_err(|_| Error::Internal("the legacy reader panicked".into()))
            .and_then(|r| r.map(|_| ()));
        (r.map(|()| m), legacy_result)
    });
    let mut m = m?;
    legacy_result?;
    m.finish();
    proof.rows = m.legacy_rows;
    proof.differences = m.differences;
    proof.examples = m.examples;
    proof.rows_held_peak = m.peak as u64;
    proof.checked = Checked::Contents {
        not_compared: cols.not_compared,
    };
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    const PG: TypeQuirks = TypeQuirks {
        timestamp_fraction_digits: 6,
        bool_as_int: false,
    };

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn values_are_compared_by_meaning_as_the_legacy_column_holds_them() {
        let n = |v: Value, decl: &str| normalise(&v, decl, &PG);
        let d = |s: &str| Value::Decimal(s.into());
        assert_eq!(
            n(d("12.50"), "numeric(12,2)"),
            n(Value::Float(12.5), "numeric(12,2)")
        );
        assert_eq!(
            n(d("12.5000000"), "numeric(12,2)"),
            n(d("12.5"), "numeric(12,2)")
        );
        // No declared scale: compared as exact decimals, trailing zeros aside.
        assert_eq!(n(d("12.5"), "numeric"), n(d("12.500"), "numeric"));
        assert_ne!(n(d("12.5"), "numeric"), n(d("12.51"), "numeric"));
        assert_eq!(n(Value::Int(7), "bigint"), n(d("7"), "bigint"));
        assert_eq!(n(Value::Int(1), "boolean"), n(Value::Bool(true), "boolean"));
        assert_eq!(
            n(t("2026-03-01 12:00:00+04"), "timestamp"),
            n(t("2026-03-01 08:00:00"), "timestamp")
        );
        assert_ne!(n(t("a"), "text"), n(t("b"), "text"));
        assert_ne!(n(Value::Null, "text"), n(t(""), "text"));
    }

    fn schema() -> TableSchema {
        let col = |name: &str, decl: &str| Column {
            name: name.into(),
            decl_type: decl.into(),
            not_null: true,
        };
        TableSchema {
            name: "orders".into(),
            columns: vec![col("id", "bigint"), col("amount", "numeric(12,2)")],
            primary_key: vec![0],
            create_sql: String::new(),
            post_sql: Vec::new(),
        }
    }

    fn matcher() -> Matcher<'static> {
        Matcher::new("orders", "orders_v2", vec!["id".into(), "amount".into()])
    }

    /// Rows match by key whatever order each side streams in; a value that differs, a row
    /// on one side only and a key twice on one side are each one difference; in one order
    /// only a row or two wait at once.
    #[test]
    fn rows_match_by_key_in_any_order_and_every_difference_counts() {
        let s = schema();
        let shape = Shape {
            schema: &s,
            compared: &[0, 1],
            quirks: PG,
        };
        let row = |id: i64, amount: &str| {
            let r = [Value::Int(id), Value::Decimal(amount.into())];
            shape.prepare(|i| r.get(i).cloned())
        };
        let mut m = matcher();
        for i in 1..=1000 {
            m.add(Side::New, row(i, "1.5"));
            m.add(Side::Legacy, row(i, "1.50"));
        }
        m.finish();
        assert_eq!((m.differences, m.legacy_rows), (0, 1000));
        assert!(m.peak <= 1, "{}", m.peak);

        let mut m = matcher();
        for i in 1..=5 {
            m.add(Side::New, row(6 - i, if 6 - i == 2 { "9" } else { "1" }));
            m.add(Side::Legacy, row(i, "1"));
        }
        m.add(Side::New, row(7, "1"));
        m.add(Side::Legacy, row(8, "1"));
        m.add(Side::Legacy, row(8, "1"));
        m.finish();
        assert_eq!(m.differences, 4, "{:?}", m.examples);
        let all = m.examples.join("\n");
        assert!(
            all.contains("orders 2: column amount is 1 on legacy, 9 from the new side"),
            "{all}"
        );
        assert!(
            all.contains("orders 7: on the new side (orders_v2), not on legacy"),
            "{all}"
        );
        assert!(
            all.contains("orders 8: on legacy, not on the new side"),
            "{all}"
        );
        assert!(all.contains("more than one row on legacy"), "{all}");
    }
}
