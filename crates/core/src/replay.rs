//! Turning captured business writes into writes on the restored tables.
//!
//! Rules (ARCHITECTURE.md invariant 3): only business writes are carried back; an update carries
//! only the columns the business changed, mapped through the plan's reverse mapping, so the
//! migration's changes to other columns do not come back; where the business changed a
//! column the migration had also changed, the business value wins and the row is listed as
//! a conflict. A write that cannot be carried back is a [`Gap`], never dropped silently.

use crate::engine::Refusal;
use crate::engine::{ApplyOp, ApplyOutcome, Engine, ReplayPosition, TypeQuirks};
use crate::events::{GapCode, GapReason};
use crate::journal::{JournalEntry, Op, Origin, RowImage};
use crate::plan::Component;
use crate::schema::TableSchema;
use crate::value::{EncodedRow, Key, KeyPart, Row, StoredRow, Value, ValueRef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A business write that was not carried back (invariant 5), with why as data; the edge
/// words the reason and the suggested action (`console::gap_reason`, `gap_suggestion`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredGap", into = "StoredGap")]
pub struct Gap {
    pub component: String,
    pub table: String,
    pub key: String,
    pub seq: i64,
    pub op: Op,
    pub cause: GapReason,
    /// The captured row (new image, or old image for a delete), for manual re-entry.
    pub row: Option<RowImage>,
}

impl Gap {
    pub fn code(&self) -> GapCode {
        self.cause.code()
    }

    /// The write was applied, but some of its values have no place in the legacy table.
    pub fn partial(&self) -> bool {
        self.code() == GapCode::ValuesWithoutColumn
    }
}

/// A gap as stored (rollback and sync records, the target's replay log): `partial` and
/// `code` are written for readers of the JSON; a record an older ripcord wrote has a
/// `reason` and a `suggestion` sentence instead of a `cause`. The edge's JSON has them in
/// words beside the `cause` ([`with_words`]); what is stored never does.
#[derive(Serialize, Deserialize)]
struct StoredGap {
    component: String,
    table: String,
    key: String,
    seq: i64,
    op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cause: Option<GapReason>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    suggestion: String,
    row: Option<RowImage>,
    #[serde(default)]
    partial: bool,
    #[serde(default)]
    code: GapCode,
}

impl From<StoredGap> for Gap {
    fn from(g: StoredGap) -> Gap {
        Gap {
            cause: g.cause.unwrap_or_else(|| {
                crate::events::legacy::described_gap(g.code, g.partial, g.reason, g.suggestion)
            }),
            component: g.component,
            table: g.table,
            key: g.key,
            seq: g.seq,
            op: g.op,
            row: g.row,
        }
    }
}

/// How the edge words a gap: its reason and the suggested action.
pub type GapWords = fn(&Gap) -> (String, String);

thread_local! {
    static WORDS: std::cell::Cell<Option<GapWords>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (the edge serializing a report, a record or gaps as JSON for people and
/// programs) with every gap serialized on this thread carrying `reason` and `suggestion`
/// in `words`, as gaps had before they carried a `cause`.
pub fn with_words<T>(words: GapWords, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<GapWords>);
    impl Drop for Reset {
        fn drop(&mut self) {
            WORDS.with(|w| w.set(self.0));
        }
    }
    let _reset = Reset(WORDS.with(|w| w.replace(Some(words))));
    f()
}

impl From<Gap> for StoredGap {
    fn from(g: Gap) -> StoredGap {
        let (reason, suggestion) = WORDS
            .with(|w| w.get())
            .map(|words| words(&g))
            .unwrap_or_default();
        StoredGap {
            partial: g.partial(),
            code: g.code(),
            cause: Some(g.cause),
            reason,
            suggestion,
            component: g.component,
            table: g.table,
            key: g.key,
            seq: g.seq,
            op: g.op,
            row: g.row,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub table: String,
    pub key: String,
    pub seq: i64,
    pub columns: Vec<String>,
}

/// A row that both the migration and a later business write changed. Where the business
/// write left some of the migration's values in place (`kept_legacy`), replay could not
/// tell whether the business meant them (a row trigger does not see which columns an
/// UPDATE assigned), so the legacy values were kept and the row is listed for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub table: String,
    pub key: String,
    pub seq: i64,
    /// Legacy columns the business write changed (carried back).
    pub business_columns: Vec<String>,
    /// Legacy columns the migration had changed and the business write left as the
    /// migration set them, with that value: the legacy value was kept instead.
    pub kept_legacy: BTreeMap<String, Value>,
}

/// One business write, planned.
#[derive(Clone, Debug)]
pub enum Planned {
    Apply(ApplyOp),
    /// Nothing to write (an update that changed no column the legacy table has).
    Nothing,
    Gap(Gap),
}

#[derive(Clone, Debug, Default)]
pub struct ReplayPlan {
    /// In sequence order, one per business entry.
    pub items: Vec<(i64, Planned)>,
    pub conflicts: Vec<Conflict>,
    /// Captured columns that have no place in the legacy table, per table.
    pub unmapped_columns: BTreeMap<String, BTreeSet<String>>,
    /// Writes that were planned but lose values of such columns (not listed in `ignore`).
    pub partial_gaps: Vec<Gap>,
    pub overlaps: Vec<Overlap>,
}

impl ReplayPlan {
    pub fn business_entries(&self) -> u64 {
        self.items.len() as u64
    }
}

/// Evaluates reverse-mapping expressions over a captured row (the engine does it in SQL).
pub type Eval<'a> = dyn FnMut(&[String], &RowImage) -> Result<Vec<Value>, String> + 'a;

struct Mapper<'a> {
    component: &'a Component,
    targets: &'a BTreeMap<String, TableSchema>,
    /// The legacy engine's type quirks when the rows were captured on another engine.
    convert_to: Option<TypeQuirks>,
}

/// How a captured table's rows become rows of its legacy table.
struct MapShape<'s> {
    table: String,
    schema: &'s TableSchema,
    exprs: Vec<String>,
    /// The legacy columns `exprs` compute, in the same order.
    expr_cols: Vec<String>,
}

impl Mapper<'_> {
    /// The legacy table, its schema, and the legacy columns computed by expressions.
    fn shape(&self, captured: &str) -> Result<MapShape<'_>, GapReason> {
        let rev = self.component.reverse_for(captured);
        let schema = self
            .targets
            .get(&rev.table)
            .ok_or_else(|| GapReason::TableNotRestored {
                table: rev.table.clone(),
            })?;
        let mut exprs = Vec::new();
        let mut expr_cols = Vec::new();
        for col in &schema.columns {
            if let Some(e) = rev.columns.get(&col.name) {
                exprs.push(e.clone());
                expr_cols.push(col.name.clone());
            }
        }
        Ok(MapShape {
            table: rev.table,
            schema,
            exprs,
            expr_cols,
        })
    }

    /// The row in the legacy shape, given the expressions' values.
    fn assemble(
        &self,
        schema: &TableSchema,
        image: &RowImage,
        expr_cols: &[String],
        vals: Vec<Value>,
    ) -> Result<RowImage, GapReason> {
        let mut out = RowImage::new();
        for col in &schema.columns {
            if !expr_cols.contains(&col.name)
                && let Some(v) = image.get(&col.name)
            {
                out.insert(col.name.clone(), v.clone());
            }
        }
        for (c, v) in expr_cols.iter().zip(vals) {
            out.insert(c.clone(), v);
        }
        if let Some(target) = &self.convert_to {
            for col in &schema.columns {
                if let Some(v) = out.get_mut(&col.name) {
                    *v = crate::types::convert(v, &col.decl_type, target).map_err(|error| {
                        GapReason::ValueNotCarried {
                            column: col.name.clone(),
                            error,
                        }
                    })?;
                }
            }
        }
        Ok(out)
    }

    /// The legacy table and the row in its shape.
    fn map(
        &self,
        captured: &str,
        image: &RowImage,
        eval: &mut Eval,
    ) -> Result<(String, RowImage), GapReason> {
        let sh = self.shape(captured)?;
        let vals = if sh.exprs.is_empty() {
            Vec::new()
        } else {
            eval(&sh.exprs, image).map_err(|error| GapReason::MappingFailed { error })?
        };
        let row = self.assemble(sh.schema, image, &sh.expr_cols, vals)?;
        Ok((sh.table, row))
    }

    fn key(&self, table: &str, image: &RowImage) -> Result<RowImage, GapReason> {
        let schema = &self.targets[table];
        let mut k = RowImage::new();
        for name in schema.key_names() {
            match image.get(&name) {
                Some(v) if !v.is_null() => {
                    k.insert(name, v.clone());
                }
                _ => return Err(GapReason::KeyMissing { column: name }),
            }
        }
        Ok(k)
    }
}

/// Evaluates reverse-mapping expressions over many captured rows at once, one result per
/// row in order (the engine does it in one statement).
pub type EvalBatch<'a> = dyn FnMut(&[String], &[RowImage]) -> Result<Vec<Vec<Value>>, String> + 'a;

/// Captured rows carried into the legacy table's shape the way the replay carries them
/// (reverse mapping, then the type conversion across engines), many at a time: the
/// comparison of legacy with the new side maps every row of the new side.
pub struct RowMapper<'a> {
    m: Mapper<'a>,
}

impl<'a> RowMapper<'a> {
    pub fn new(
        component: &'a Component,
        targets: &'a BTreeMap<String, TableSchema>,
        convert_to: Option<TypeQuirks>,
    ) -> Self {
        RowMapper {
            m: Mapper {
                component,
                targets,
                convert_to,
            },
        }
    }

    /// Each image of `captured` in the legacy shape, or why it cannot be carried. The
    /// expressions are evaluated for the whole batch at once; when that fails, row by row,
    /// so one bad row fails alone.
    pub fn map_rows(
        &self,
        captured: &str,
        images: &[RowImage],
        eval: &mut EvalBatch,
    ) -> Result<Vec<Result<RowImage, GapReason>>, GapReason> {
        let MapShape {
            schema,
            exprs,
            expr_cols,
            ..
        } = self.m.shape(captured)?;
        let vals: Vec<Result<Vec<Value>, GapReason>> = if exprs.is_empty() {
            images.iter().map(|_| Ok(Vec::new())).collect()
        } else {
            match eval(&exprs, images) {
                Ok(v) if v.len() == images.len() => v.into_iter().map(Ok).collect(),
                _ => images
                    .iter()
                    .map(|img| {
                        eval(&exprs, std::slice::from_ref(img))
                            .and_then(|mut v| v.pop().ok_or_else(|| "no result".to_string()))
                            .map_err(|error| GapReason::MappingFailed { error })
                    })
                    .collect(),
            }
        };
        Ok(images
            .iter()
            .zip(vals)
            .map(|(img, v)| self.m.assemble(schema, img, &expr_cols, v?))
            .collect())
    }
}

pub fn key_text(key: &RowImage) -> String {
    Key(key.values().map(KeyPart::from).collect()).to_string()
}

fn raw_key(image: Option<&RowImage>, key_names: &[String]) -> Option<String> {
    let image = image?;
    let mut k = RowImage::new();
    for n in key_names {
        k.insert(n.clone(), image.get(n)?.clone());
    }
    Some(key_text(&k))
}

fn changed_columns(old: &RowImage, new: &RowImage) -> BTreeSet<String> {
    old.keys()
        .chain(new.keys())
        .filter(|c| old.get(*c) != new.get(*c))
        .cloned()
        .collect()
}

/// Plans the replay of a component's journal entries (already filtered to after the
/// checkpoint's mark, in sequence order) onto the restored legacy tables.
pub fn plan(
    entries: &[JournalEntry],
    component: &Component,
    targets: &BTreeMap<String, TableSchema>,
    convert_to: Option<TypeQuirks>,
    eval: &mut Eval,
) -> ReplayPlan {
    let mut p = Planner::new(component, targets, convert_to);
    p.add(entries, eval);
    p.finish()
}

/// [`plan`], fed page by page: the journal is read in pages (`rollback::journal_pages`) so
/// memory holds one page of entries, not the whole journal. Entries must come in sequence
/// order across pages.
pub struct Planner<'a> {
    m: Mapper<'a>,
    out: ReplayPlan,
    /// (captured table, key) → columns the migration changed, and rows it created.
    migration_changed: BTreeMap<(String, String), BTreeSet<String>>,
    migration_created: BTreeSet<(String, String)>,
}

impl<'a> Planner<'a> {
    pub fn new(
        component: &'a Component,
        targets: &'a BTreeMap<String, TableSchema>,
        convert_to: Option<TypeQuirks>,
    ) -> Self {
        Planner {
            m: Mapper {
                component,
                targets,
                convert_to,
            },
            out: ReplayPlan::default(),
            migration_changed: BTreeMap::new(),
            migration_created: BTreeSet::new(),
        }
    }

    pub fn finish(self) -> ReplayPlan {
        self.out
    }

    /// Plans the next entries.
    pub fn add(&mut self, entries: &[JournalEntry], eval: &mut Eval) {
        let Planner {
            m,
            out,
            migration_changed,
            migration_created,
        } = self;
        let (component, targets) = (m.component, m.targets);
        for e in entries {
            let legacy = component.reverse_for(&e.table).table;
            let key_names = targets
                .get(&legacy)
                .map(|s| s.key_names())
                .unwrap_or_default();
            match e.origin {
                Origin::Ripcord => continue,
                Origin::Migration => {
                    let img = e.new.as_ref().or(e.old.as_ref());
                    if let Some(k) = raw_key(img, &key_names) {
                        match (e.op, &e.old, &e.new) {
                            (Op::Update, Some(o), Some(n)) => migration_changed
                                .entry((e.table.clone(), k))
                                .or_default()
                                .extend(changed_columns(o, n)),
                            (Op::Insert, _, _) => {
                                migration_created.insert((e.table.clone(), k));
                            }
                            _ => {}
                        }
                    }
                    continue;
                }
                Origin::Business => {}
            }
            let gap = |cause: GapReason, key: String| Gap {
                component: component.name.clone(),
                table: legacy.clone(),
                key,
                seq: e.seq,
                op: e.op,
                cause,
                row: e.new.clone().or_else(|| e.old.clone()),
            };
            let raw_k = raw_key(e.new.as_ref().or(e.old.as_ref()), &key_names)
                .unwrap_or_else(|| "?".into());
            #[allow(clippy::result_large_err)] // a short-lived Result inside one loop turn
            let planned = (|| -> Result<Planned, Gap> {
                let fail = |r: GapReason| gap(r, raw_k.clone());
                // A write applied without values the legacy table cannot hold.
                let partial =
                    |out: &mut ReplayPlan,
                     table: &str,
                     values: &mut dyn Iterator<Item = (&String, &Value)>| {
                        note_lost(out, component, &e.table, &m.targets[table], values, |c| {
                            gap(c, raw_k.clone())
                        })
                    };
                match (e.op, &e.old, &e.new) {
                    (Op::Insert, _, Some(new)) => {
                        let (table, row) = m.map(&e.table, new, eval).map_err(fail)?;
                        m.key(&table, &row).map_err(fail)?;
                        partial(
                            &mut *out,
                            &table,
                            &mut new.iter().filter(|(_, v)| !v.is_null()),
                        );
                        Ok(Planned::Apply(ApplyOp::Insert { table, row }))
                    }
                    (Op::Update, Some(old), Some(new)) => {
                        let (table, mold) = m.map(&e.table, old, eval).map_err(fail)?;
                        let (_, mnew) = m.map(&e.table, new, eval).map_err(fail)?;
                        let key = m.key(&table, &mold).map_err(fail)?;
                        if migration_created.contains(&(e.table.clone(), raw_k.clone())) {
                            return Err(gap(GapReason::CreatedByMigration, raw_k.clone()));
                        }
                        let set: RowImage = mnew
                            .iter()
                            .filter(|(c, v)| mold.get(*c) != Some(*v))
                            .map(|(c, v)| (c.clone(), v.clone()))
                            .collect();
                        let raw_changed = changed_columns(old, new);
                        if let Some(mc) = migration_changed.get(&(e.table.clone(), raw_k.clone())) {
                            let legacy_has =
                                |c: &&String| m.targets[&table].column_index(c).is_some();
                            // Only the migration's changes to legacy columns can be undone by
                            // the restore, so only those make an overlap.
                            if mc.iter().any(|c| legacy_has(&c)) {
                                out.overlaps.push(Overlap {
                                    table: table.clone(),
                                    key: key_text(&key),
                                    seq: e.seq,
                                    business_columns: raw_changed
                                        .iter()
                                        .filter(legacy_has)
                                        .cloned()
                                        .collect(),
                                    kept_legacy: mc
                                        .iter()
                                        .filter(legacy_has)
                                        .filter(|c| !raw_changed.contains(*c))
                                        .filter_map(|c| new.get(c).map(|v| (c.clone(), v.clone())))
                                        .collect(),
                                });
                            }
                            // Only columns the legacy table has can conflict there.
                            let both: Vec<String> = raw_changed
                                .intersection(mc)
                                .filter(legacy_has)
                                .cloned()
                                .collect();
                            if !both.is_empty() {
                                out.conflicts.push(Conflict {
                                    table: table.clone(),
                                    key: key_text(&key),
                                    seq: e.seq,
                                    columns: both,
                                });
                            }
                        }
                        let mut changed_values =
                            new.iter().filter(|(c, _)| raw_changed.contains(*c));
                        partial(&mut *out, &table, &mut changed_values);
                        if set.is_empty() {
                            Ok(Planned::Nothing)
                        } else {
                            Ok(Planned::Apply(ApplyOp::Update { table, key, set }))
                        }
                    }
                    (Op::Delete, Some(old), _) => {
                        let (table, mold) = m.map(&e.table, old, eval).map_err(fail)?;
                        let key = m.key(&table, &mold).map_err(fail)?;
                        Ok(Planned::Apply(ApplyOp::Delete { table, key }))
                    }
                    _ => Err(fail(GapReason::NoRowImage)),
                }
            })();
            out.items
                .push((e.seq, planned.unwrap_or_else(Planned::Gap)));
        }
    }
}

/// True when `expr` mentions `name` as a whole word.
fn mentions(expr: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    expr.match_indices(name).any(|(i, _)| {
        !expr[..i].chars().next_back().is_some_and(word)
            && !expr[i + name.len()..].chars().next().is_some_and(word)
    })
}

/// Captured values with no place in the legacy table: not a legacy column, not used by a
/// mapping expression, not knowingly ignored. Ignored ones are noted for the report.
fn lost_values<'k, 'v>(
    component: &Component,
    captured: &str,
    target: &TableSchema,
    values: impl Iterator<Item = (&'k String, &'v Value)>,
    out: &mut ReplayPlan,
) -> Vec<(String, Value)> {
    let rev = component.reverse_for(captured);
    let mut lost = Vec::new();
    for (c, v) in values {
        if target.column_index(c).is_some() || rev.columns.values().any(|x| mentions(x, c)) {
            continue;
        }
        out.unmapped_columns
            .entry(target.name.clone())
            .or_default()
            .insert(c.clone());
        if !rev.ignore.contains(c) {
            lost.push((c.clone(), v.clone()));
        }
    }
    lost
}

/// Records a partial gap when a write carries values the legacy table cannot hold.
fn note_lost<'k, 'v>(
    out: &mut ReplayPlan,
    component: &Component,
    captured: &str,
    target: &TableSchema,
    values: impl Iterator<Item = (&'k String, &'v Value)>,
    gap: impl FnOnce(GapReason) -> Gap,
) {
    let lost = lost_values(component, captured, target, values, out);
    if lost.is_empty() {
        return;
    }
    out.partial_gaps.push(gap(GapReason::ValuesWithoutColumn {
        captured: captured.to_string(),
        values: lost.into_iter().collect(),
    }));
}

/// Applies planned writes to a target in batches, exactly once: each batch commits its rows
/// with its position and its gaps in one transaction (`Engine::apply`), and a restart
/// skips what a committed batch covered. The rollback's replay uses it; so can a continuous
/// sync, with its own tag.
pub struct Applier<'a> {
    /// The replay's name in the target (its position and gap log are kept under it).
    pub tag: &'a str,
    pub batch: usize,
    /// Legacy table → key columns, to name an insert's key in its gap.
    pub key_names: &'a BTreeMap<String, Vec<String>>,
    /// Writes applied without some values (recorded with the batch that holds them).
    pub partial_gaps: &'a [Gap],
}

impl Applier<'_> {
    /// Applies `items` (sequence, component, planned write; in sequence order) after the
    /// position already committed under the tag. `after_batch` gets the writes applied so
    /// far and the number pending. Returns the writes applied now and the gaps of every
    /// batch ever committed under the tag (also those before a restart).
    pub fn apply(
        &self,
        engine: &mut dyn Engine,
        items: &[(i64, &str, Planned)],
        after_batch: &mut dyn FnMut(u64, u64),
    ) -> crate::Result<(u64, Vec<Gap>)> {
        let done_to = engine.replay_position(self.tag)?.unwrap_or(i64::MIN);
        let pending: Vec<&(i64, &str, Planned)> =
            items.iter().filter(|(s, _, _)| *s > done_to).collect();
        let mut applied = 0u64;
        for batch in pending.chunks(self.batch.max(1)) {
            let ops: Vec<(i64, &str, &ApplyOp)> = batch
                .iter()
                .filter_map(|(s, c, p)| match p {
                    Planned::Apply(op) => Some((*s, *c, op)),
                    _ => None,
                })
                .collect();
            let in_batch: BTreeSet<i64> = batch.iter().map(|(s, _, _)| *s).collect();
            let planned_gaps: Vec<Gap> = batch
                .iter()
                .filter_map(|(_, _, p)| match p {
                    Planned::Gap(g) => Some(g.clone()),
                    _ => None,
                })
                .chain(
                    self.partial_gaps
                        .iter()
                        .filter(|g| in_batch.contains(&g.seq))
                        .cloned(),
                )
                .collect();
            let only_ops: Vec<ApplyOp> = ops.iter().map(|(_, _, o)| (*o).clone()).collect();
            let pos = ReplayPosition {
                rollback: self.tag.to_string(),
                last_seq: batch.last().expect("chunks are not empty").0,
            };
            let summarize = |outcomes: &[ApplyOutcome]| {
                let mut gaps = planned_gaps.clone();
                for ((seq, comp, op), o) in ops.iter().zip(outcomes) {
                    let keys = self
                        .key_names
                        .get(op.table())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    gaps.extend(outcome_gap(comp, *seq, op, o, keys));
                }
                serde_json::to_string(&gaps).expect("gaps serialize")
            };
            engine.apply(&only_ops, &pos, &summarize)?;
            applied += only_ops.len() as u64;
            after_batch(applied, pending.len() as u64);
        }
        let mut gaps = Vec::new();
        for (_, json) in engine.replay_log(self.tag)? {
            let batch: Vec<Gap> = serde_json::from_str(&json)
                .map_err(|e| crate::Error::Internal(format!("replay log unreadable: {e}")))?;
            gaps.extend(batch);
        }
        Ok((applied, gaps))
    }
}

/// Turns an engine's refusal of a planned write into a gap. `key_names` are the legacy
/// table's key columns (an insert's key is read from its row).
pub fn outcome_gap(
    component: &str,
    seq: i64,
    op: &ApplyOp,
    outcome: &ApplyOutcome,
    key_names: &[String],
) -> Option<Gap> {
    let (key, kind, row) = match op {
        ApplyOp::Insert { row, .. } => (
            key_names
                .iter()
                .map(|n| (n.clone(), row.get(n).cloned().unwrap_or(Value::Null)))
                .collect(),
            Op::Insert,
            Some(row.clone()),
        ),
        ApplyOp::Update { key, set, .. } => (key.clone(), Op::Update, Some(set.clone())),
        ApplyOp::Delete { key, .. } => (key.clone(), Op::Delete, None),
    };
    let key_t = key_text(&key);
    let cause = match (outcome, kind) {
        (ApplyOutcome::Applied, _) | (ApplyOutcome::NoRow, Op::Delete) => return None,
        (ApplyOutcome::NoRow, _) => GapReason::NoRow,
        (ApplyOutcome::Refused(r), _) => GapReason::Refused {
            refusal: Refusal::clone(r),
        },
    };
    Some(Gap {
        component: component.to_string(),
        table: op.table().to_string(),
        key: key_t,
        seq,
        op: kind,
        cause,
        row,
    })
}

/// The state a table must have after a replay, built in memory from the checkpoint rows and
/// the planned writes: the independent side of the post-rollback proof.
pub struct Expected {
    pub schema: TableSchema,
    /// `None` for a column whose value the model does not know (a default filled in by the
    /// database on insert).
    pub rows: BTreeMap<Key, Vec<Option<Value>>>,
}

impl Expected {
    pub fn from_rows(schema: TableSchema, rows: impl IntoIterator<Item = Row>) -> Self {
        let rows = rows
            .into_iter()
            .map(|r| (schema.key_of(&r), r.into_iter().map(Some).collect()))
            .collect();
        Expected { schema, rows }
    }

    fn key_of_image(&self, img: &RowImage) -> Key {
        Key(self
            .schema
            .key_names()
            .iter()
            .map(|n| KeyPart::from(img.get(n).unwrap_or(&Value::Null)))
            .collect())
    }

    /// Applies one write the way every engine must: insert refuses a duplicate key, update
    /// and delete report a missing row.
    pub fn apply(&mut self, op: &ApplyOp) -> ApplyOutcome {
        match op {
            ApplyOp::Insert { row, .. } => {
                let k = self.key_of_image(row);
                if self.rows.contains_key(&k) {
                    return ApplyOutcome::Refused(Refusal::new(
                        crate::engine::Violated::KeyConflict { constraint: None },
                        "",
                        "duplicate key",
                    ));
                }
                let r = self
                    .schema
                    .columns
                    .iter()
                    .map(|c| row.get(&c.name).cloned())
                    .collect();
                self.rows.insert(k, r);
                ApplyOutcome::Applied
            }
            ApplyOp::Update { key, set, .. } => {
                let k = self.key_of_image(key);
                let Some(mut r) = self.rows.remove(&k) else {
                    return ApplyOutcome::NoRow;
                };
                for (c, v) in set {
                    if let Some(i) = self.schema.column_index(c) {
                        r[i] = Some(v.clone());
                    }
                }
                let nk = Key(self
                    .schema
                    .primary_key
                    .iter()
                    .map(|&i| KeyPart::from(r[i].as_ref().unwrap_or(&Value::Null)))
                    .collect());
                self.rows.insert(nk, r);
                ApplyOutcome::Applied
            }
            ApplyOp::Delete { key, .. } => match self.rows.remove(&self.key_of_image(key)) {
                Some(_) => ApplyOutcome::Applied,
                None => ApplyOutcome::NoRow,
            },
        }
    }

    /// Compares with the actual rows (in key order); returns up to `limit` differences and
    /// their total count.
    pub fn compare(&self, actual: &[Row], limit: usize) -> (Vec<String>, u64) {
        let mut diffs = Vec::new();
        let mut count = 0u64;
        let mut note = |d: String, diffs: &mut Vec<String>| {
            count += 1;
            if diffs.len() < limit {
                diffs.push(d);
            }
        };
        let mut seen = BTreeSet::new();
        for row in actual {
            let k = self.schema.key_of(row);
            match self.rows.get(&k) {
                None => note(
                    format!(
                        "{} {k}: present, but no business write or checkpoint row explains it",
                        self.schema.name
                    ),
                    &mut diffs,
                ),
                Some(exp) => {
                    for (i, (e, a)) in exp.iter().zip(row).enumerate() {
                        if let Some(e) = e
                            && e != a
                        {
                            note(
                                format!(
                                    "{} {k}: column {} is {a}, expected {e}",
                                    self.schema.name, self.schema.columns[i].name
                                ),
                                &mut diffs,
                            );
                        }
                    }
                }
            }
            seen.insert(k);
        }
        for k in self.rows.keys() {
            if !seen.contains(k) {
                note(format!("{} {k}: missing", self.schema.name), &mut diffs);
            }
        }
        (diffs, count)
    }
}

/// A row of the expected state: a checkpoint row no write touched, still in its encoding
/// (compared without building values), or values, where one the expected state does not
/// know is `None` (see [`Expected::rows`]).
#[derive(Clone, Debug)]
pub enum ExpectedRow {
    Stored(EncodedRow),
    Values(Vec<Option<Value>>),
}

impl ExpectedRow {
    pub fn len(&self) -> usize {
        match self {
            ExpectedRow::Stored(e) => e.len(),
            ExpectedRow::Values(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i`; `None` when it is not known or past the row.
    #[inline]
    pub fn get(&self, i: usize) -> Option<ValueRef<'_>> {
        match self {
            ExpectedRow::Stored(e) => (i < e.len()).then(|| e.get(i)),
            ExpectedRow::Values(v) => v.get(i)?.as_ref().map(Value::as_value_ref),
        }
    }
}

impl From<StoredRow> for ExpectedRow {
    fn from(r: StoredRow) -> Self {
        match r {
            StoredRow::Encoded(e) => ExpectedRow::Stored(e),
            StoredRow::Values(v) => ExpectedRow::Values(v.into_iter().map(Some).collect()),
        }
    }
}

impl From<Vec<Option<Value>>> for ExpectedRow {
    fn from(v: Vec<Option<Value>>) -> Self {
        ExpectedRow::Values(v)
    }
}

/// What the replay's writes made of one key.
enum Touch {
    /// The key's writes in sequence order, applied when the stream reaches the key (its
    /// checkpoint row, if any, is only known then).
    Ops(Vec<ApplyOp>),
    /// The key's final row (`None`: absent), computed beforehand by [`Overlay::fill`].
    Final(Option<Vec<Option<Value>>>),
}

/// The expected state of a table as the checkpoint's rows with the replay's writes laid
/// over them: only the keys the writes touch are held in memory, never the table.
pub struct Overlay {
    schema: TableSchema,
    /// Touched keys (key column values in primary-key order), sorted in
    /// [`crate::store::key_order`], the order checkpoint rows are stored in.
    touched: Vec<(Vec<Value>, Touch)>,
    /// Every write, when one changes a key: such a write links two keys, so the final rows
    /// are computed from the touched keys' checkpoint rows before streaming (`fill`).
    pending: Vec<ApplyOp>,
}

impl Overlay {
    /// `ops` in sequence order. `None` when the touched keys cannot be put in the order
    /// checkpoint rows are stored in (a key part that is not an integer, text or binary).
    pub fn new(schema: TableSchema, ops: &[&ApplyOp]) -> Option<Overlay> {
        let key_names = schema.key_names();
        let key_vals = |img: &RowImage| -> Vec<Value> {
            key_names
                .iter()
                .map(|n| img.get(n).cloned().unwrap_or(Value::Null))
                .collect()
        };
        let moves = ops.iter().any(|op| match op {
            ApplyOp::Update { key, set, .. } => key_names
                .iter()
                .any(|n| set.get(n).is_some_and(|v| key.get(n) != Some(v))),
            _ => false,
        });
        let mut by_key: BTreeMap<Key, (Vec<Value>, Vec<ApplyOp>)> = BTreeMap::new();
        let mut touch = |k: Vec<Value>, op: Option<&ApplyOp>| {
            let e = by_key
                .entry(Key(k.iter().map(KeyPart::from).collect()))
                .or_insert_with(|| (k, Vec::new()));
            if let Some(op) = op {
                e.1.push(op.clone());
            }
        };
        for op in ops {
            match op {
                ApplyOp::Insert { row, .. } => touch(key_vals(row), Some(op)),
                ApplyOp::Update { key, set, .. } => {
                    touch(key_vals(key), Some(op));
                    if moves {
                        let mut nk = key.clone();
                        for n in &key_names {
                            if let Some(v) = set.get(n) {
                                nk.insert(n.clone(), v.clone());
                            }
                        }
                        touch(key_vals(&nk), None);
                    }
                }
                ApplyOp::Delete { key, .. } => touch(key_vals(key), Some(op)),
            }
        }
        let mut touched: Vec<(Vec<Value>, Touch)> = by_key
            .into_values()
            .map(|(k, ops)| {
                let t = if moves {
                    Touch::Final(None)
                } else {
                    Touch::Ops(ops)
                };
                (k, t)
            })
            .collect();
        // key_order is total over keys whose parts are integer, text or binary, with one
        // kind per key column.
        let orderable = |a: &Value, b: &Value| {
            matches!(
                (a, b),
                (Value::Int(_), Value::Int(_))
                    | (Value::Text(_), Value::Text(_))
                    | (Value::Blob(_), Value::Blob(_))
            )
        };
        if let Some(first) = touched.first() {
            let ok = touched
                .iter()
                .all(|(k, _)| k.iter().zip(&first.0).all(|(a, b)| orderable(a, b)));
            if !ok {
                return None;
            }
        }
        touched.sort_by(|a, b| crate::store::key_order(&a.0, &b.0).expect("orderable"));
        Some(Overlay {
            schema,
            touched,
            pending: if moves {
                ops.iter().map(|o| (*o).clone()).collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Touched keys held in memory.
    pub fn len(&self) -> usize {
        self.touched.len()
    }

    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    /// True when [`Overlay::fill`] must read the checkpoint once before streaming.
    pub fn needs_fill(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Computes every touched key's final row from the checkpoint rows of those keys.
    pub fn fill(&mut self, base: impl Iterator<Item = crate::Result<Row>>) -> crate::Result<()> {
        let keys: BTreeSet<Key> = self
            .touched
            .iter()
            .map(|(k, _)| Key(k.iter().map(KeyPart::from).collect()))
            .collect();
        let mut exp = Expected {
            schema: self.schema.clone(),
            rows: BTreeMap::new(),
        };
        for r in base {
            let r = r?;
            let k = self.schema.key_of(&r);
            if keys.contains(&k) {
                exp.rows.insert(k, r.into_iter().map(Some).collect());
            }
        }
        for op in std::mem::take(&mut self.pending) {
            exp.apply(&op);
        }
        for (k, t) in &mut self.touched {
            *t = Touch::Final(exp.rows.remove(&Key(k.iter().map(KeyPart::from).collect())));
        }
        Ok(())
    }

    /// The expected rows in key order: `base` (the checkpoint's rows, in key order, as
    /// [`crate::store::Store::stored_rows`] reads them) merged with the touched keys.
    pub fn stream<I: Iterator<Item = crate::Result<StoredRow>>>(
        self,
        base: I,
    ) -> ExpectedStream<I> {
        debug_assert!(self.pending.is_empty(), "fill first");
        ExpectedStream {
            schema: self.schema,
            base,
            touched: self.touched.into_iter().peekable(),
            held: None,
            last: None,
            spare: Vec::new(),
            out_of_order: false,
        }
    }
}

/// See [`Overlay::stream`].
pub struct ExpectedStream<I> {
    schema: TableSchema,
    base: I,
    touched: std::iter::Peekable<std::vec::IntoIter<(Vec<Value>, Touch)>>,
    /// A base row read ahead while touched keys below it were emitted; its key is `last`.
    held: Option<StoredRow>,
    /// The key of the last base row read.
    last: Option<Vec<Value>>,
    /// The key vector before that one, kept to build the next key in: no allocation per row.
    spare: Vec<Value>,
    out_of_order: bool,
}

impl<I> ExpectedStream<I> {
    /// The checkpoint's rows were not in key order: the stream stopped with an error and
    /// the expected state must be built another way.
    pub fn out_of_order(&self) -> bool {
        self.out_of_order
    }

    fn resolve(&self, t: Touch, base: Option<StoredRow>) -> Option<ExpectedRow> {
        match t {
            Touch::Final(r) => r.map(ExpectedRow::Values),
            Touch::Ops(ops) => {
                let mut exp = Expected {
                    schema: self.schema.clone(),
                    rows: BTreeMap::new(),
                };
                if let Some(b) = base {
                    let b = b.into_values();
                    exp.rows
                        .insert(self.schema.key_of(&b), b.into_iter().map(Some).collect());
                }
                for op in &ops {
                    exp.apply(op);
                }
                exp.rows.into_values().next().map(ExpectedRow::Values)
            }
        }
    }
}

impl<I: Iterator<Item = crate::Result<StoredRow>>> ExpectedStream<I> {
    /// The next base row; its key is then `self.last`.
    fn next_base(&mut self) -> crate::Result<Option<StoredRow>> {
        if let Some(h) = self.held.take() {
            return Ok(Some(h));
        }
        let Some(r) = self.base.next().transpose()? else {
            return Ok(None);
        };
        let mut k = std::mem::take(&mut self.spare);
        k.clear();
        k.extend(self.schema.primary_key.iter().map(|&i| r.get(i).to_value()));
        if let Some(prev) = &self.last
            && crate::store::key_order(prev, &k) != Some(std::cmp::Ordering::Less)
        {
            self.out_of_order = true;
            return Err(crate::Error::Verify(format!(
                "checkpoint rows of {} are not in byte order of their keys",
                self.schema.name
            )));
        }
        if let Some(old) = self.last.replace(k) {
            self.spare = old;
        }
        Ok(Some(r))
    }

    fn step(&mut self) -> crate::Result<Option<ExpectedRow>> {
        use std::cmp::Ordering;
        loop {
            let base = self.next_base()?;
            let Some((tk, _)) = self.touched.peek() else {
                return Ok(base.map(ExpectedRow::from));
            };
            // A base row read has its key in `last`.
            let ord = match base.as_ref().and(self.last.as_ref()) {
                None => Ordering::Greater,
                Some(bk) => match crate::store::key_order(bk, tk) {
                    Some(o) => o,
                    None => {
                        self.out_of_order = true;
                        return Err(crate::Error::Verify(format!(
                            "a key of {} cannot be ordered against the replayed writes",
                            self.schema.name
                        )));
                    }
                },
            };
            match ord {
                Ordering::Less => {
                    return Ok(base.map(ExpectedRow::from));
                }
                Ordering::Greater => {
                    self.held = base;
                    let (_, t) = self.touched.next().expect("peeked");
                    if let Some(r) = self.resolve(t, None) {
                        return Ok(Some(r));
                    }
                }
                Ordering::Equal => {
                    let (_, t) = self.touched.next().expect("peeked");
                    if let Some(r) = self.resolve(t, base) {
                        return Ok(Some(r));
                    }
                }
            }
        }
    }
}

impl<I: Iterator<Item = crate::Result<StoredRow>>> Iterator for ExpectedStream<I> {
    type Item = crate::Result<ExpectedRow>;
    fn next(&mut self) -> Option<Self::Item> {
        self.step().transpose()
    }
}
