//! Checks a component: its invariants (aggregates with a tolerance), and its row counts and
//! fingerprints beside its newest checkpoint.

use crate::Result;
use crate::context::Ctx;
use crate::engine::{Engine, SnapshotSink};
use crate::events::{Event, InvariantMeasure};
use crate::exact::Decimal;
use crate::plan::{Check, Component};
use crate::schema::TableSchema;
use crate::value::{Fingerprint, Row, Value};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvariantResult {
    pub component: String,
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

pub fn invariants(
    ctx: &Ctx,
    engine: &mut dyn Engine,
    c: &Component,
) -> Result<Vec<InvariantResult>> {
    let mut out = Vec::new();
    for inv in &c.invariants {
        let got = engine.query_scalar(&inv.sql);
        let (ok, measure) = match got {
            Err(e) => (false, unmeasured(format!("could not measure: {e}"))),
            Ok(v) => match exact_number(&v) {
                None => (
                    false,
                    unmeasured(format!("query returned {v}, not a number")),
                ),
                Some(x) => {
                    let want = match &inv.check {
                        Check::Expect(n) => exact_f64(*n)
                            .ok_or_else(|| format!("expected value {n} is not a number")),
                        Check::Equals(q) => engine
                            .query_scalar(q)
                            .map_err(|e| e.to_string())
                            .and_then(|v| {
                                exact_number(&v).ok_or_else(|| {
                                    format!("comparison query returned {v}, not a number")
                                })
                            }),
                    };
                    let tolerance = exact_f64(inv.tolerance).unwrap_or_default();
                    match want {
                        Err(e) => (
                            false,
                            unmeasured(format!("could not measure the comparison: {e}")),
                        ),
                        Ok(w) => {
                            // Exact: bigint sums past 2^53 and numeric totals keep every
                            // digit, so a difference of one unit is never rounded away.
                            let ok = x.sub(&w).abs() <= tolerance;
                            (
                                ok,
                                InvariantMeasure::Compared {
                                    value: x.to_string(),
                                    expected: w.to_string(),
                                    tolerance: tolerance.to_string(),
                                },
                            )
                        }
                    }
                }
            },
        };
        ctx.emit(Event::InvariantChecked {
            component: c.name.clone(),
            name: inv.name.clone(),
            ok,
            measure: measure.clone(),
        });
        out.push(InvariantResult {
            component: c.name.clone(),
            name: inv.name.clone(),
            ok,
            detail: describe_measure(&measure),
        });
    }
    Ok(out)
}

fn unmeasured(reason: String) -> InvariantMeasure {
    InvariantMeasure::Unmeasured { reason }
}

/// The report's wording of a measure (the console words the event the same way).
pub fn describe_measure(m: &InvariantMeasure) -> String {
    match m {
        InvariantMeasure::Compared {
            value,
            expected,
            tolerance,
        } => format!("{value} vs expected {expected} (tolerance {tolerance})"),
        InvariantMeasure::Unmeasured { reason } => reason.clone(),
    }
}

/// A query's value as an exact decimal: integers and decimals with every digit, a float
/// as the decimal its shortest text says.
fn exact_number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Int(i) => Decimal::parse(&i.to_string()),
        Value::Bool(b) => Decimal::parse(if *b { "1" } else { "0" }),
        Value::Float(f) => exact_f64(*f),
        Value::Decimal(d) | Value::Text(d) => Decimal::parse(d),
        Value::Null | Value::Blob(_) => None,
    }
}

/// A number written in the plan (TOML reads it as a double) as the decimal it was written
/// as: the shortest text that reads back as the same double.
fn exact_f64(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    Decimal::parse(&format!("{f:?}"))
}

/// Rows of tables read through a snapshot, kept in memory per table.
#[derive(Default)]
pub struct Collect {
    pub tables: Vec<(TableSchema, Vec<Row>)>,
}

impl SnapshotSink for Collect {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<()> {
        self.tables.push((schema.clone(), Vec::new()));
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.tables
            .last_mut()
            .expect("begin_table first")
            .1
            .push(row);
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Row counts and fingerprints, without keeping rows.
#[derive(Default)]
pub struct Fingerprints {
    pub tables: Vec<(String, u64, String)>,
    current: Option<(String, Fingerprint)>,
}

impl SnapshotSink for Fingerprints {
    fn begin_table(&mut self, schema: &TableSchema) -> Result<()> {
        self.current = Some((schema.name.clone(), Fingerprint::default()));
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<()> {
        self.current
            .as_mut()
            .expect("begin_table first")
            .1
            .add(&row);
        Ok(())
    }
    fn end_table(&mut self) -> Result<()> {
        let (n, f) = self.current.take().expect("begin_table first");
        self.tables.push((n, f.rows(), f.finish()));
        Ok(())
    }
}

/// The outcome of comparing one table's expected rows with the live table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableCheck {
    /// Rows in the live table.
    pub rows: u64,
    /// Rows missing, unexpected or different.
    pub differences: u64,
    /// Up to 20 of them, described for the report.
    pub examples: Vec<String>,
    /// The most checkpoint rows held in memory at once (filled by the caller).
    #[serde(default)]
    pub rows_held_peak: u64,
}

/// Counts rows read from a checkpoint against rows of the live table compared, to report
/// the most checkpoint rows held at once: a regression that collects the checkpoint again,
/// anywhere between the store and the comparison, shows up as a peak near the row count.
/// Reads and comparisons happen on two threads; each counter sits on its own cache line
/// and has one writer, and callers report comparisons in steps of [`HeldRows::STEP`], so
/// the threads do not pass a line back and forth once a row (the peak may read up to a
/// step high).
#[derive(Default)]
pub struct HeldRows {
    read: Line,
    compared: Line,
    peak: Line,
}

#[derive(Default)]
#[repr(align(64))]
struct Line(std::sync::atomic::AtomicU64);

impl HeldRows {
    /// Live rows compared between two calls of [`HeldRows::compared`], at most.
    pub const STEP: u64 = 256;

    /// Call for each checkpoint row read (from one thread).
    pub fn read(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let read = self.read.0.load(Relaxed) + 1;
        self.read.0.store(read, Relaxed);
        let held = read.saturating_sub(self.compared.0.load(Relaxed));
        if held > self.peak.0.load(Relaxed) {
            self.peak.0.store(held, Relaxed);
        }
    }
    /// Call with live rows compared (from one thread), every [`HeldRows::STEP`] rows or
    /// fewer.
    pub fn compared(&self, n: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.compared
            .0
            .store(self.compared.0.load(Relaxed) + n, Relaxed);
    }
    pub fn peak(&self) -> u64 {
        self.peak.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Hands [`HeldRows::compared`] its counts in steps, from a per-row progress callback.
pub struct Compared<'a> {
    held: &'a HeldRows,
    pending: u64,
}

impl<'a> Compared<'a> {
    pub fn new(held: &'a HeldRows) -> Self {
        Compared { held, pending: 0 }
    }
    pub fn add(&mut self, n: u64) {
        self.pending += n;
        if self.pending >= HeldRows::STEP {
            self.held.compared(std::mem::take(&mut self.pending));
        }
    }
}

/// Row-by-row comparison of expected rows with a live database, supplied by the binary
/// (the diff engine lives in `ripcord-diff`, which depends on this crate, so core cannot
/// call it directly). The rollback's verify phase uses it when the connector offers one.
pub trait TableDiffer: Send + Sync {
    /// Compares `expected` (rows in `schema`'s column order) with `schema.name` in `db`.
    fn compare(
        &self,
        db: &crate::plan::Database,
        schema: &TableSchema,
        expected: Vec<Row>,
        columns: &[String],
    ) -> Result<TableCheck>;
    /// Compares the expected rows, streamed in key order, with `schema.name` in `db`,
    /// holding neither side in memory. `progress` receives live rows and bytes as they are
    /// compared. `Ok(None)` when the two sides turn out not to come in one key order; the
    /// caller then compares another way (see `compare`).
    fn compare_stream(
        &self,
        _db: &crate::plan::Database,
        _schema: &TableSchema,
        _expected: &mut (dyn Iterator<Item = Result<crate::replay::ExpectedRow>> + Send),
        _progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Option<TableCheck>> {
        Ok(None)
    }
    /// Compares `table` in two databases (any engines) by range checksums pushed into
    /// both, over the columns both have; `None` where the binary cannot.
    fn compare_databases(
        &self,
        _a: &crate::plan::Database,
        _b: &crate::plan::Database,
        _table: &str,
    ) -> Result<Option<TableCheck>> {
        Ok(None)
    }
    /// Rows pointing at parents that do not exist, for every foreign key touching `tables`
    /// in `db`, one line per foreign key with orphans.
    fn orphans(&self, db: &crate::plan::Database, tables: &[String]) -> Result<Vec<String>>;
    /// Foreign keys declared in `db` as (child table, parent table), so restores can put
    /// parents first. Empty where the engine cannot say.
    fn foreign_keys(&self, db: &crate::plan::Database) -> Result<Vec<(String, String)>> {
        let _ = db;
        Ok(Vec::new())
    }
}

/// The expected model's rows, with the columns whose every value is known (the model does
/// not know defaults the database filled in; those columns are left out of the comparison).
pub fn known_rows(exp: crate::replay::Expected) -> (TableSchema, Vec<Row>, Vec<String>) {
    let n = exp.schema.columns.len();
    let mut known = vec![true; n];
    for r in exp.rows.values() {
        for (i, v) in r.iter().enumerate() {
            known[i] &= v.is_some();
        }
    }
    let columns = exp
        .schema
        .columns
        .iter()
        .zip(&known)
        .filter(|(_, k)| **k)
        .map(|(c, _)| c.name.clone())
        .collect();
    let rows = exp
        .rows
        .into_values()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or(crate::value::Value::Null))
                .collect()
        })
        .collect();
    (exp.schema, rows, columns)
}

/// The rollback's proof of one table without holding it: the checkpoint's rows, merged
/// with the replay's writes (`ops`, in sequence order, only the ones applied), streamed
/// in key order against the live table. `Ok(None)` when that cannot be done (keys without
/// a byte order, or the two sides' orders differ): the caller builds the expected state in
/// memory instead.
pub fn stream_proof(
    ctx: &Ctx,
    differ: &dyn TableDiffer,
    db: &crate::plan::Database,
    checkpoint: &crate::store::CheckpointId,
    t: &crate::store::TableEntry,
    ops: &[&crate::engine::ApplyOp],
) -> Result<Option<TableCheck>> {
    let Some(mut overlay) = crate::replay::Overlay::new(t.schema.clone(), ops) else {
        return Ok(None);
    };
    if overlay.needs_fill() {
        overlay.fill(ctx.store.rows(checkpoint, t))?;
    }
    let held = HeldRows::default();
    let mut expected = overlay.stream(
        ctx.store
            .stored_rows(checkpoint, t)
            .inspect(|_| held.read()),
    );
    let bus = ctx.events.clone();
    let mut meter = crate::progress::Meter::new(
        &bus,
        crate::events::Operation::Verify {
            table: t.schema.name.clone(),
        },
        t.rows,
    );
    let mut compared = Compared::new(&held);
    let r = differ.compare_stream(db, &t.schema, &mut expected, &mut |n, b| {
        compared.add(n);
        meter.add(n, b)
    });
    meter.finish();
    if expected.out_of_order() {
        return Ok(None);
    }
    Ok(r?.map(|c| TableCheck {
        rows_held_peak: held.peak(),
        ..c
    }))
}

/// How a table stands beside the newest checkpoint of its component.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SinceCheckpoint {
    Unchanged { checkpoint: String },
    Changed { checkpoint: String, rows_then: u64 },
    NoCheckpoint,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    pub component: String,
    pub table: String,
    pub rows: u64,
    pub fingerprint: String,
    pub since_checkpoint: SinceCheckpoint,
}

/// `ripcord verify` as data: every invariant, every table's count and fingerprint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VerifyReport {
    pub components: Vec<String>,
    pub invariants: Vec<InvariantResult>,
    pub tables: Vec<TableState>,
}

impl VerifyReport {
    pub fn broken(&self) -> usize {
        self.invariants.iter().filter(|i| !i.ok).count()
    }
    /// Verified when every invariant holds (a table changed since its checkpoint is normal).
    pub fn ok(&self) -> bool {
        self.broken() == 0
    }
}

/// Runs `verify` for the named components (they must exist in the plan).
pub fn report(ctx: &mut Ctx, names: &[String]) -> Result<VerifyReport> {
    let mut out = VerifyReport {
        components: names.to_vec(),
        ..VerifyReport::default()
    };
    for c in ctx.components(names)? {
        let mut e = ctx.engine(&c.database)?;
        out.invariants.extend(invariants(ctx, e.as_mut(), &c)?);
        let mut fp = Fingerprints::default();
        e.snapshot(&c.tables, &mut fp)?;
        let cp = crate::checkpoint::find(ctx, &c.name, None).ok();
        for (table, rows, f) in fp.tables {
            let then = cp.as_ref().and_then(|m| {
                m.component(&c.name)
                    .and_then(|ce| ce.tables.iter().find(|x| x.schema.name == table))
                    .map(|x| (m, x))
            });
            let since_checkpoint = match then {
                None => SinceCheckpoint::NoCheckpoint,
                Some((m, x)) => match ctx.store.fingerprint(&m.id, x) {
                    Ok(g) if g == f => SinceCheckpoint::Unchanged {
                        checkpoint: m.id.0.clone(),
                    },
                    _ => SinceCheckpoint::Changed {
                        checkpoint: m.id.0.clone(),
                        rows_then: x.rows,
                    },
                },
            };
            out.tables.push(TableState {
                component: c.name.clone(),
                table,
                rows,
                fingerprint: f,
                since_checkpoint,
            });
        }
    }
    Ok(out)
}
