//! A checkpoint (or the expected state built from one) against a live table in bounded
//! memory: both sides are streamed in key order and merged, so neither is ever held whole.
//!
//! The checkpoint side is decoded on its own thread and handed over in small batches
//! through a bounded channel; the live side is the engine's own key-ordered snapshot
//! stream (PostgreSQL `COPY … ORDER BY`), the fastest read every engine offers. Rows that
//! are the same value for value pass without further work; any other pair is compared the
//! way [`crate::diff_table`] compares downloaded rows (canonical texts, numbers exactly).
//!
//! The merge is only correct when both streams come in the same key order. Rust orders
//! keys canonically ([`crate::canon::cmp_key`]: numbers by value, text and binary by
//! bytes); an engine orders them by its collation. Instead of trusting that the two
//! agree, every key is checked to be strictly greater than the one before on both sides:
//! at the first that is not, the comparison stops and says so ([`Streamed::NotOrdered`]),
//! and the caller falls back to the range-checksum diff, which never relies on order.

use crate::canon::{self, Class};
use crate::compare::{ColumnChange, RowChange, compare_value};
use crate::source::{KeyVals, TableSpec};
use crate::{DiffError, Options, TableDiff};
use ripcord_core::engine::{Engine, RawRow, SnapshotSink};
use ripcord_core::schema::TableSchema;
use ripcord_core::value::{Row, Value, ValueRef};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, Ordering as Mem};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

/// One row of the reference side, in its schema's column order: a checkpoint row still
/// encoded, or values where `None` is a value the reference does not know (a default the
/// database filled in on insert): a column with any such value is left out of the
/// comparison.
pub use ripcord_core::replay::ExpectedRow;

/// Rows per batch handed from the decoding thread, and batches in flight: together the
/// most reference rows held at once (plus the one being compared).
const BATCH: usize = 1024;
const IN_FLIGHT: usize = 4;

/// The outcome of a streamed comparison.
pub enum Streamed {
    Done(Box<TableDiff>),
    /// The two sides do not come in one key order (an engine collation Rust does not
    /// reproduce, a key type without a byte order): nothing can be concluded from the merge.
    NotOrdered(String),
}

/// Compares `reference` (rows of `ref_schema`, in key order) with `table` read from `live`.
/// `opts.key` must be empty (the primary key); `opts.columns` and tolerances apply as in
/// [`crate::diff_table`]. `progress` receives live rows and bytes as they are compared.
#[allow(clippy::too_many_arguments)] // one call site per command; a struct would only rename them
pub fn diff_ordered(
    ref_name: &str,
    ref_schema: &TableSchema,
    reference: &mut (dyn Iterator<Item = ripcord_core::Result<ExpectedRow>> + Send),
    live: &mut dyn Engine,
    live_name: &str,
    table: &str,
    opts: &Options,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Streamed, DiffError> {
    if !opts.key.is_empty() {
        return Err(DiffError::Usage(
            "a streamed comparison uses the primary key".into(),
        ));
    }
    let started = Instant::now();
    let consumed = AtomicU64::new(0);
    let peak = AtomicU64::new(0);
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<ripcord_core::Result<Vec<ExpectedRow>>>(IN_FLIGHT);
        // Compared rows go back to this thread to be freed where they were allocated: freed
        // on the comparing thread, every row's strings cross allocator arenas, which cost
        // as much as decoding them.
        let (spent_tx, spent_rx) = sync_channel::<Vec<ExpectedRow>>(IN_FLIGHT);
        let (consumed, peak) = (&consumed, &peak);
        s.spawn(move || {
            let fresh = || match spent_rx.try_recv() {
                Ok(mut v) => {
                    v.clear();
                    v
                }
                Err(_) => Vec::with_capacity(BATCH),
            };
            let mut batch = fresh();
            // Counted here and compared with the other thread's count once a batch, not
            // once a row: two threads writing one counter per row spend their time
            // passing its cache line back and forth. Rows held peak just before a send.
            let mut made = 0u64;
            let mut top = 0u64;
            let mut note = |made: u64| {
                top = top.max(made.saturating_sub(consumed.load(Mem::Relaxed)));
                peak.store(top, Mem::Relaxed);
            };
            for r in reference {
                match r {
                    Ok(row) => {
                        batch.push(row);
                        made += 1;
                        if batch.len() == BATCH {
                            note(made);
                            if tx.send(Ok(std::mem::replace(&mut batch, fresh()))).is_err() {
                                return; // the comparison stopped early
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                note(made);
                let _ = tx.send(Ok(batch));
            }
        });
        let mut sink = Merge {
            ref_schema,
            opts,
            rx,
            spent_tx,
            spent: Vec::with_capacity(BATCH),
            batch: Vec::new().into_iter(),
            head: None,
            last_a: None,
            last_b: None,
            consumed,
            state: None,
            unknown: Vec::new(),
            not_ordered: None,
            ref_error: None,
            out: TableDiff::default(),
            progress,
            ref_name,
            live_name,
        };
        let r = live.snapshot(&[table.to_string()], &mut sink);
        if let Some(why) = sink.not_ordered.take() {
            return Ok(Streamed::NotOrdered(why));
        }
        if let Some(e) = sink.ref_error.take() {
            return Err(DiffError::Core(e));
        }
        r?;
        Ok(match sink.finish()? {
            Streamed::Done(mut out) => {
                out.stats.seconds = started.elapsed().as_secs_f64();
                out.stats.download_seconds = out.stats.seconds;
                out.stats.rows_downloaded = out.rows_b;
                out.stats.rows_held_peak = peak.load(Mem::Relaxed);
                Streamed::Done(out)
            }
            other => other,
        })
    })
}

struct State {
    spec_a: TableSpec,
    spec_b: TableSpec,
    /// Position of each spec column in the reference and in the live row.
    idx_a: Vec<usize>,
    idx_b: Vec<usize>,
    tol: Vec<Option<crate::Decimal>>,
    /// For each live column, the reference row's position of the same column; `None` when
    /// some live column is not compared, so a live row cannot be matched whole.
    whole: Option<Vec<usize>>,
    /// The key is one integer column on both sides: `MKey::Int` for integer values
    /// (`Class::Int` orders by value, as `i64` does).
    int_key: bool,
}

/// A key in the merge. A single integer key (most tables) stays a number, so the merge
/// neither formats nor re-parses a text per row; any other key is its canonical texts.
#[derive(Clone)]
enum MKey {
    Int(i64),
    Canon(KeyVals),
}

impl MKey {
    fn of<'r>(
        st: &State,
        spec: &TableSpec,
        idx: &[usize],
        get: impl Fn(usize) -> Option<ValueRef<'r>>,
    ) -> Option<MKey> {
        if st.int_key
            && let Some(ValueRef::Int(i)) = get(idx[0])
        {
            return Some(MKey::Int(i));
        }
        let key_len = spec.key_len;
        spec.key_classes()
            .iter()
            .zip(&idx[..key_len])
            .map(|(c, &i)| get(i).and_then(|v| canon::canon_value(*c, &v.to_value())))
            .collect::<Option<KeyVals>>()
            .map(MKey::Canon)
    }

    /// The canonical texts, as reports and the text comparison take them.
    fn texts(self) -> KeyVals {
        match self {
            MKey::Int(i) => vec![i.to_string()],
            MKey::Canon(k) => k,
        }
    }

    fn cmp(&self, other: &MKey, st: &State) -> Ordering {
        match (self, other) {
            (MKey::Int(a), MKey::Int(b)) => a.cmp(b),
            _ => st
                .spec_a
                .cmp_keys(&self.clone().texts(), &other.clone().texts()),
        }
    }
}

/// A reference row with its key.
type Head = (MKey, ExpectedRow);

struct Merge<'a> {
    ref_schema: &'a TableSchema,
    opts: &'a Options,
    rx: Receiver<ripcord_core::Result<Vec<ExpectedRow>>>,
    spent_tx: SyncSender<Vec<ExpectedRow>>,
    spent: Vec<ExpectedRow>,
    batch: std::vec::IntoIter<ExpectedRow>,
    head: Option<Head>,
    last_a: Option<MKey>,
    last_b: Option<MKey>,
    consumed: &'a AtomicU64,
    state: Option<State>,
    /// Spec columns in which the reference left a value unknown.
    unknown: Vec<bool>,
    not_ordered: Option<String>,
    ref_error: Option<ripcord_core::Error>,
    out: TableDiff,
    progress: &'a mut dyn FnMut(u64, u64),
    ref_name: &'a str,
    live_name: &'a str,
}

fn stop() -> ripcord_core::Error {
    ripcord_core::Error::Verify("streamed comparison stopped".into())
}

impl Merge<'_> {
    /// Hands a compared row back to the decoding thread (see `diff_ordered`).
    fn spend(&mut self, row: ExpectedRow) {
        self.spent.push(row);
        if self.spent.len() == BATCH {
            let full = std::mem::replace(&mut self.spent, Vec::with_capacity(BATCH));
            // Full or gone: the rows are simply freed here.
            let _ = self.spent_tx.try_send(full);
        }
    }

    fn state(&self) -> &State {
        self.state.as_ref().expect("begin_table first")
    }

    /// The next reference row, checked to come after the previous one.
    fn pull(&mut self) -> Result<Option<Head>, ripcord_core::Error> {
        let row = loop {
            if let Some(r) = self.batch.next() {
                break r;
            }
            // Every row handed over so far has been taken: published once a batch.
            self.consumed.store(self.out.rows_a, Mem::Relaxed);
            match self.rx.recv() {
                Ok(Ok(b)) => self.batch = b.into_iter(),
                Ok(Err(e)) => {
                    self.ref_error = Some(e);
                    return Err(stop());
                }
                Err(_) => return Ok(None),
            }
        };
        self.out.rows_a += 1;
        let st = self.state();
        let Some(k) = MKey::of(st, &st.spec_a, &st.idx_a, |i| row.get(i)) else {
            self.not_ordered = Some(format!("{}: a row has no key value", self.ref_name));
            return Err(stop());
        };
        if let Some(prev) = &self.last_a
            && prev.cmp(&k, st) != Ordering::Less
        {
            self.not_ordered = Some(format!(
                "{}: key {} does not come after {} in byte order",
                self.ref_name,
                crate::report::key_text(&k.texts()),
                crate::report::key_text(&prev.clone().texts())
            ));
            return Err(stop());
        }
        self.last_a = Some(k.clone());
        Ok(Some((k, row)))
    }

    fn head(&mut self) -> Result<Option<&Head>, ripcord_core::Error> {
        if self.head.is_none() {
            self.head = self.pull()?;
        }
        Ok(self.head.as_ref())
    }

    fn compare(&mut self, key: MKey, a: &ExpectedRow, b: &Row) {
        let st = self.state.as_ref().expect("begin_table first");
        let mut changes: Vec<ColumnChange> = Vec::new();
        for c in st.spec_a.key_len..st.spec_a.columns.len() {
            let Some(va) = a.get(st.idx_a[c]) else {
                self.unknown[c] = true;
                continue;
            };
            let vb = &b[st.idx_b[c]];
            // Same variant and same content: then the canonical texts are equal too.
            if va.same(vb.as_value_ref()) {
                continue;
            }
            let (ca, cb) = (
                canon::canon_value(st.spec_a.classes[c], &va.to_value()),
                canon::canon_value(st.spec_b.classes[c], vb),
            );
            if let Some(ch) = compare_value(
                &st.spec_a.columns[c],
                (st.spec_a.classes[c], st.spec_b.classes[c]),
                st.tol[c].as_ref(),
                &ca,
                &cb,
            ) {
                changes.push(ch);
            }
        }
        if !changes.is_empty() {
            let rc = RowChange {
                key: key.texts(),
                columns: changes,
            };
            if rc.columns.iter().all(|c| c.within_tolerance) {
                self.out.within_tolerance.push(rc);
            } else {
                self.out.changed.push(rc);
            }
        }
    }

    fn finish(mut self) -> Result<Streamed, DiffError> {
        // Reference rows after the last live row are missing from the live table.
        loop {
            let h = match self.head.take() {
                Some(h) => Some(h),
                None => match self.pull() {
                    Ok(h) => h,
                    Err(e) => {
                        if let Some(why) = self.not_ordered.take() {
                            return Ok(Streamed::NotOrdered(why));
                        }
                        return Err(DiffError::Core(self.ref_error.take().unwrap_or(e)));
                    }
                },
            };
            match h {
                Some((k, _)) => self.out.missing_in_b.push(k.texts()),
                None => break,
            }
        }
        // A column the reference does not know for some row is not compared for any row,
        // the rule the in-memory comparison follows.
        let unknown: Vec<String> = self
            .state()
            .spec_a
            .columns
            .iter()
            .zip(&self.unknown)
            .filter(|(_, u)| **u)
            .map(|(c, _)| c.clone())
            .collect();
        if !unknown.is_empty() {
            let rows: Vec<RowChange> = std::mem::take(&mut self.out.changed)
                .into_iter()
                .chain(std::mem::take(&mut self.out.within_tolerance))
                .collect();
            for mut rc in rows {
                rc.columns.retain(|c| !unknown.contains(&c.column));
                if rc.columns.is_empty() {
                    continue;
                }
                if rc.columns.iter().all(|c| c.within_tolerance) {
                    self.out.within_tolerance.push(rc);
                } else {
                    self.out.changed.push(rc);
                }
            }
            self.out.columns.retain(|c| !unknown.contains(c));
        }
        self.out.sort();
        Ok(Streamed::Done(Box::new(self.out)))
    }
}

impl SnapshotSink for Merge<'_> {
    fn begin_table(&mut self, live: &TableSchema) -> ripcord_core::Result<()> {
        let mut build = || -> Result<State, DiffError> {
            let names_b = live.column_names();
            let names_a = self.ref_schema.column_names();
            let columns: Vec<String> = if self.opts.columns.is_empty() {
                names_a
                    .iter()
                    .filter(|c| names_b.contains(c))
                    .cloned()
                    .collect()
            } else {
                self.opts.columns.clone()
            };
            let key = self.ref_schema.key_names();
            let spec_a = TableSpec::from_schema(self.ref_schema, &key, &columns)?;
            let spec_b = TableSpec::from_schema(live, &key, &columns)?;
            let idx = |s: &TableSchema, spec: &TableSpec| -> Vec<usize> {
                spec.columns
                    .iter()
                    .map(|c| s.column_index(c).expect("checked by from_schema"))
                    .collect()
            };
            let mut out = TableDiff::new(
                &live.name,
                self.ref_name.to_string(),
                self.live_name.to_string(),
                &spec_a,
            );
            out.columns_only(&names_a, &names_b);
            self.out = out;
            let idx_a = idx(self.ref_schema, &spec_a);
            let whole = live
                .columns
                .iter()
                .map(|c| {
                    spec_a
                        .columns
                        .iter()
                        .position(|s| *s == c.name)
                        .map(|p| idx_a[p])
                })
                .collect();
            let int_key = spec_a.key_len == 1
                && spec_a.classes[0] == Class::Int
                && spec_b.classes[0] == Class::Int;
            Ok(State {
                int_key,
                idx_a,
                whole,
                idx_b: idx(live, &spec_b),
                tol: self.opts.tolerances.for_spec(&spec_a),
                spec_a,
                spec_b,
            })
        };
        match build() {
            Ok(st) => {
                self.unknown = vec![false; st.spec_a.columns.len()];
                self.state = Some(st);
                Ok(())
            }
            Err(DiffError::Core(e)) => Err(e),
            Err(e) => Err(ripcord_core::Error::Usage(e.to_string())),
        }
    }

    fn row(&mut self, row: Row) -> ripcord_core::Result<()> {
        self.out.rows_b += 1;
        (self.progress)(1, 0);
        let st = self.state();
        let Some(kb) = MKey::of(st, &st.spec_b, &st.idx_b, |i| {
            row.get(i).map(Value::as_value_ref)
        }) else {
            self.not_ordered = Some(format!("{}: a row has a NULL key", self.live_name));
            return Err(stop());
        };
        if let Some(prev) = &self.last_b
            && prev.cmp(&kb, st) != Ordering::Less
        {
            self.not_ordered = Some(format!(
                "{}: key {} does not come after {} in byte order",
                self.live_name,
                crate::report::key_text(&kb.texts()),
                crate::report::key_text(&prev.clone().texts())
            ));
            return Err(stop());
        }
        loop {
            if self.head()?.is_none() {
                self.out.missing_in_a.push(kb.clone().texts());
                break;
            }
            let ka = &self.head.as_ref().expect("pulled").0;
            let ord = ka.cmp(&kb, self.state());
            match ord {
                Ordering::Less => {
                    let (ka, _) = self.head.take().expect("seen");
                    self.out.missing_in_b.push(ka.texts());
                }
                Ordering::Equal => {
                    let (ka, a) = self.head.take().expect("seen");
                    self.compare(ka, &a, &row);
                    self.spend(a);
                    break;
                }
                Ordering::Greater => {
                    self.out.missing_in_a.push(kb.clone().texts());
                    break;
                }
            }
        }
        self.last_b = Some(kb);
        Ok(())
    }

    fn end_table(&mut self) -> ripcord_core::Result<()> {
        Ok(())
    }

    /// Nearly every live row is the next expected row, value for value: when the engine
    /// says so from the row as read, it is not built, its key not canonicalised and its
    /// values not compared one by one. Its key is the expected row's, which comes after
    /// every live key so far (the merge keeps the head above the last live key), so the
    /// order check holds too. Anything else goes through `row`.
    fn raw_row(&mut self, raw: &dyn RawRow) -> ripcord_core::Result<bool> {
        if self.state().whole.is_none() || self.head()?.is_none() {
            return Ok(false);
        }
        let st = self.state.as_ref().expect("begin_table first");
        let whole = st.whole.as_ref().expect("checked");
        let (_, a) = self.head.as_ref().expect("pulled");
        // A value the reference does not know is no match, and `row` records the unknown
        // column.
        if !raw.is(a, whole) {
            return Ok(false);
        }
        let (ka, a) = self.head.take().expect("pulled");
        self.spend(a);
        self.out.rows_b += 1;
        (self.progress)(1, 0);
        self.last_b = Some(ka);
        Ok(true)
    }
}
