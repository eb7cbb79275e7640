//! The rollback: a persisted state machine. Each phase records its intent before it acts and
//! its result after; the record (a serde-tagged status) is saved at every boundary, so
//! `--resume` after a crash continues where it stopped. Restore is skipped for tables whose
//! restore committed (the target says so), and replay continues from the position stored in
//! the target with the rows it applied, so nothing is restored twice over newer data and no
//! write is applied twice.

use crate::checkpoint;
use crate::context::{Ctx, new_id, now};
use crate::continuity::{self, Break};
use crate::engine::{ApplyOp, RestoreOptions};
use crate::events::{Event, Operation};
use crate::journal::{JournalEntry, JournalMark, Origin};
use crate::plan::Component;
use crate::replay::{self, Conflict, Expected, Gap, Overlap, Planned};
use crate::schema::TableSchema;
use crate::state::LockOwner;
use crate::store::{CheckpointId, ComponentEntry, Manifest};
use crate::verify::{self, Collect, InvariantResult};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod phases;
use phases::run_phase;

/// How long a rollback lock holds without renewal (a `LeaseKeeper` renews it every third of
/// that while the rollback runs).
/// `RIPCORD_LOCK_LEASE_SECS` shortens it for tests of a holder lost on another host.
fn lease() -> Duration {
    std::env::var("RIPCORD_LOCK_LEASE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs)
}
const BATCH: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Assess,
    Approve,
    Freeze,
    Drain,
    Restore,
    Replay,
    Verify,
    SwitchBack,
    Unfreeze,
    Report,
}

pub const PHASES: [Phase; 10] = [
    Phase::Assess,
    Phase::Approve,
    Phase::Freeze,
    Phase::Drain,
    Phase::Restore,
    Phase::Replay,
    Phase::Verify,
    Phase::SwitchBack,
    Phase::Unfreeze,
    Phase::Report,
];

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Assess => "assess",
            Phase::Approve => "approve",
            Phase::Freeze => "freeze",
            Phase::Drain => "drain",
            Phase::Restore => "restore",
            Phase::Replay => "replay",
            Phase::Verify => "verify",
            Phase::SwitchBack => "switch_back",
            Phase::Unfreeze => "unfreeze",
            Phase::Report => "report",
        }
    }
    fn next(self) -> Option<Phase> {
        PHASES
            .iter()
            .position(|p| *p == self)
            .and_then(|i| PHASES.get(i + 1).copied())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Working on (or about to redo) `phase`.
    Running {
        phase: Phase,
    },
    /// Stopped by an error in `phase`; `--resume` retries that phase.
    Failed {
        phase: Phase,
        error: String,
    },
    Completed {
        ok: bool,
    },
    /// Given up by an operator (`rollback --abandon ID --reason …`); never resumed.
    Abandoned {
        by: String,
        reason: String,
    },
}

/// What a phase did, as data (the `PhaseFinished` event carries it; the console words
/// it). The running totals are the event's `figures`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PhaseOutcome {
    /// Every chunk re-hashed; `at_risk` business writes since the checkpoint.
    Assessed {
        at_risk: u64,
    },
    Approved {
        by: String,
    },
    /// Writes to the components' tables are blocked.
    Frozen,
    /// The journal is drained: `at_risk` business writes to carry back.
    Drained {
        at_risk: u64,
    },
    /// `rows` restored; `already` tables were restored before a restart.
    Restored {
        rows: u64,
        already: u64,
    },
    /// The business writes were carried back (see `figures`).
    Replayed,
    /// The row-by-row proof and the invariants.
    Verified {
        differences: u64,
        broken_invariants: u64,
    },
    /// The switches moved to legacy (or found there from this rollback), in plan order.
    SwitchedBack {
        switches: Vec<SwitchMoved>,
        invalidations: u64,
    },
    /// The plan has no switch for these components.
    NoSwitches,
    /// Not switched back: the proof did not pass (invariant 6).
    SwitchBackSkipped,
    /// Writes are allowed again.
    Unfrozen,
    /// The closing figures (see `figures`).
    Reported,
    /// Switch path: legacy is kept current by the sync; `pending` writes still to drain.
    SyncPending {
        pending: u64,
    },
    /// Switch path: writes to the new side and to legacy are blocked.
    BothSidesFrozen,
    /// Switch path: the sync's tail applied; `applied` now, `at_risk` since the cutover.
    SyncDrained {
        applied: u64,
        at_risk: u64,
    },
    /// Switch path: nothing to restore or replay, the sync kept legacy current.
    KeptCurrentBySync,
    /// Switch path: legacy compared with the new side, and the invariants.
    SidesCompared {
        differences: u64,
        broken_invariants: u64,
        /// Tables whose values could not be compared (only their row counts): the
        /// rollback cannot end verified.
        #[serde(default)]
        count_only: Vec<String>,
    },
    /// Switch path: the proof did not pass; both sides stay frozen.
    BothSidesStayFrozen,
    /// Switch path: legacy takes writes again; the new side stays frozen (fenced).
    LegacyUnfrozenNewFenced,
    /// Recorded by an older ripcord, which carried the phase's sentence instead.
    Described {
        detail: String,
    },
    /// From a log a newer ripcord wrote.
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchMoved {
    pub switch: String,
    /// This rollback had already moved it (before a restart).
    pub already: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Business writes made since the checkpoint.
    pub at_risk: u64,
    /// Of those, carried back into the restored tables.
    pub recovered: u64,
    /// Of those, not carried back (data gaps).
    pub lost: u64,
    pub restored_rows: u64,
    pub conflicts: u64,
    /// Rows where a business write left the migration's value in place and the legacy
    /// value was kept: to be reviewed (`ripcord gaps --review`).
    #[serde(default)]
    pub review: u64,
}

impl Figures {
    pub fn recovery_rate(&self) -> f64 {
        if self.at_risk == 0 {
            1.0
        } else {
            self.recovered as f64 / self.at_risk as f64
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    pub phase: Phase,
    pub seconds: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableProof {
    pub component: String,
    pub table: String,
    pub rows: u64,
    pub differences: u64,
    pub examples: Vec<String>,
    /// The most checkpoint rows held in memory at once while proving this table.
    #[serde(default)]
    pub rows_held_peak: u64,
    /// What was compared: every row's values, or only the row count.
    #[serde(default)]
    pub checked: Checked,
}

/// How far a table's proof goes. Only `Contents` can make a proof pass: equal row counts
/// say nothing about the values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Checked {
    /// Every row compared value by value, except the columns listed.
    Contents {
        #[serde(default)]
        not_compared: Vec<NotCompared>,
    },
    /// Only the row counts: ripcord cannot vouch for the values, for the reason given.
    CountOnly { why: String },
}

impl Default for Checked {
    fn default() -> Self {
        Checked::Contents {
            not_compared: Vec::new(),
        }
    }
}

impl Checked {
    pub fn contents(&self) -> bool {
        matches!(self, Checked::Contents { .. })
    }
}

/// A legacy column a proof left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotCompared {
    pub column: String,
    pub why: NotComparedWhy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotComparedWhy {
    /// Listed in the reverse mapping's `ignore`.
    Ignored,
    /// The reverse mapping gives it no value (no expression, no new-side column of its name).
    NotProduced,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Proof {
    pub tables: Vec<TableProof>,
    pub invariants: Vec<InvariantResult>,
    /// Foreign keys touching the restored tables with rows whose parent is missing.
    #[serde(default)]
    pub orphans: Vec<String>,
}

impl Proof {
    pub fn ok(&self) -> bool {
        self.tables
            .iter()
            .all(|t| t.differences == 0 && t.checked.contents())
            && self.invariants.iter().all(|i| i.ok)
            && self.orphans.is_empty()
    }
}

/// The persisted record's format. 1: before capture evidence, approvals kept for resume,
/// overlaps and abandon (fields added since default when read). 3: the switch path
/// (`mode`), which an older ripcord would mistake for a restore. 4: `notes` are typed
/// ([`RollbackNote`]; the sentences of older records read back as `Described`). A ripcord
/// refuses to act on a record newer than it knows, as a reshape migration refuses newer
/// state.
pub const RECORD_VERSION: u32 = 4;

fn first_version() -> u32 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollbackRecord {
    #[serde(default = "first_version")]
    pub version: u32,
    pub id: String,
    pub components: Vec<String>,
    /// Component → checkpoint id it is restored from.
    pub checkpoints: BTreeMap<String, String>,
    pub reason: String,
    pub actor: String,
    pub approved_by: Option<String>,
    pub status: Status,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Capture database → last journal sequence to replay (read after the freeze).
    pub drain_to: BTreeMap<String, i64>,
    pub figures: Figures,
    pub gaps: Vec<Gap>,
    pub conflicts: Vec<Conflict>,
    pub unmapped_columns: BTreeMap<String, Vec<String>>,
    pub phase_times: Vec<PhaseTime>,
    pub proof: Option<Proof>,
    /// The slowest-priority component's recovery-time target, in seconds.
    pub rto_seconds: f64,
    pub notes: Vec<RollbackNote>,
    /// Who approved up front (`--yes`), so a resume after a crash before the approve phase
    /// does not ask again.
    #[serde(default)]
    pub approval: Option<String>,
    /// Capture breaks the operator accepted (`--accept-uncaptured`): writes in these windows
    /// may be missing, in unknown number, so the rollback cannot end verified.
    #[serde(default)]
    pub uncaptured: Vec<Break>,
    /// Capture database → captured table → capture token, read after the freeze: the
    /// `before` side of the links the restore records.
    #[serde(default)]
    pub tokens_at_freeze: BTreeMap<String, BTreeMap<String, Option<String>>>,
    #[serde(default)]
    pub overlaps: Vec<Overlap>,
    /// Tables an abandon left frozen: restored, without the business writes since.
    #[serde(default)]
    pub left_frozen: Vec<String>,
    #[serde(default)]
    pub mode: Mode,
}

/// What a rollback's report says beside its figures, as data; the edge words it
/// (`render::rollback_note`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "note", rename_all = "snake_case")]
pub enum RollbackNote {
    /// Refused writes to rows the business deleted later: not gaps, those rows end absent
    /// either way (invariant 2c).
    RefusedWritesToDeletedRows { writes: u64 },
    /// A foreign key with rows whose parent is missing, as the differ found it.
    ReferentialIntegrity { orphans: String },
    /// The proof did not pass, so the switches were not moved back (invariant 6).
    NotSwitchedBack,
    /// Business writes were at risk and none was carried back: the rollback failed.
    NoneRecovered { at_risk: u64 },
    /// Switch path: only `table`'s row counts were compared, for the reason given.
    CountOnly { table: String, why: String },
    /// Switch path: the proof did not pass; legacy and the new side both stay frozen.
    BothSidesStayFrozen,
    /// Abandoned after restoring `tables`: they stay frozen (invariant 8).
    AbandonedLeftFrozen { tables: Vec<String> },
    /// Switch path abandoned while the switches moved: both sides stay frozen.
    AbandonedWhileSwitching,
    /// Switch path abandoned before the switches moved: traffic stays on the new side.
    AbandonedBeforeSwitching,
    /// A guarded run's business-continuity workflow, checked after the rollback.
    Continuity {
        workflow: String,
        ok: bool,
        verdict: crate::events::ContinuityVerdict,
    },
    /// Written by an older ripcord, as a sentence.
    Described { text: String },
}

impl Serialize for RollbackNote {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        RollbackNote::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for RollbackNote {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::words::or_sentence(d, RollbackNote::deserialize, |text| {
            RollbackNote::Described { text }
        })
    }
}

/// How a rollback brings legacy back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum Mode {
    /// Restore the checkpoint, replay the journal (no sync running).
    #[default]
    Restore,
    /// The components were cut over and legacy kept current by the sync: freeze the new
    /// side, drain the sync's tail, verify the two sides, flip the switches, unfreeze
    /// legacy; the new side stays frozen (fenced) until `cutover --unfence` (a re-base) and a cutover.
    Switch {
        /// Component → the sync's tag in the legacy database.
        tags: BTreeMap<String, String>,
    },
}

impl RollbackRecord {
    pub fn total_seconds(&self) -> f64 {
        self.phase_times.iter().map(|p| p.seconds).sum()
    }
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Completed { ok: true })
    }
    /// Not completed, not abandoned: it holds its components until resumed or abandoned.
    pub fn unfinished(&self) -> bool {
        match self.status {
            Status::Abandoned { .. } => false,
            Status::Completed { .. } => self.finished_at.is_none(),
            _ => true,
        }
    }
    /// Overlaps where a business write left the migration's value in place.
    pub fn to_review(&self) -> impl Iterator<Item = &Overlap> {
        self.overlaps.iter().filter(|o| !o.kept_legacy.is_empty())
    }
}

/// What a rollback would do, computed without touching anything (`--dry-run` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct RollbackPlan {
    pub components: Vec<PlannedComponent>,
    pub rto_seconds: f64,
    /// A rough figure: restore at 50,000 rows/s and replay at 2,000 writes/s.
    pub expected_seconds: f64,
    /// Captured tables whose writes since the checkpoint the journal may not hold: a
    /// rollback refuses unless told `--accept-uncaptured`.
    pub breaks: Vec<Break>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlannedComponent {
    pub name: String,
    pub checkpoint: String,
    pub checkpoint_taken: String,
    pub database: String,
    pub capture_database: String,
    pub tables: Vec<(String, u64)>,
    pub writes_at_risk: u64,
}

pub struct Request {
    pub components: Vec<String>,
    pub to: Option<String>,
    pub reason: String,
    /// Proceed over capture breaks; the report then says writes may be missing.
    pub accept_uncaptured: bool,
}

/// Sequence numbers per journal page. `RIPCORD_JOURNAL_PAGE` lowers it for tests of a
/// journal larger than one page.
fn journal_page() -> i64 {
    std::env::var("RIPCORD_JOURNAL_PAGE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n: &i64| n > 0)
        .unwrap_or(10_000)
}

/// Hands the component's journal after `mark`, up to `upto` (default: now), to `f` in
/// sequence order, a page at a time: memory holds one page, not the whole journal. The
/// first page is read against `mark` itself (its holes are below its `high`); later pages
/// against the end of the one before.
pub(crate) fn journal_pages(
    ctx: &Ctx,
    c: &Component,
    mark: &JournalMark,
    upto: Option<i64>,
    mut f: impl FnMut(Vec<JournalEntry>) -> Result<()>,
) -> Result<()> {
    // Also the dry run's read: it must create nothing.
    let mut e = ctx.engine(&c.capture_database)?;
    ctx.require_installed(&c.capture_database, e.as_mut())?;
    let upto = match upto {
        Some(u) => u,
        None => e.journal_mark()?.high,
    };
    let tables = c.captured_tables();
    let page = journal_page();
    let mut after = mark.clone();
    loop {
        let end = after.high.saturating_add(page).min(upto);
        f(e.read_journal(&after, end, &tables)?)?;
        if end >= upto {
            return Ok(());
        }
        after = JournalMark {
            high: end,
            holes: Vec::new(),
            snapshot: None,
        };
    }
}

/// How many business writes the journal holds after `mark` (up to `upto`).
pub(crate) fn business_writes_after(
    ctx: &Ctx,
    c: &Component,
    mark: &JournalMark,
    upto: Option<i64>,
) -> Result<u64> {
    let mut n = 0;
    journal_pages(ctx, c, mark, upto, |page| {
        n += page.iter().filter(|e| e.origin == Origin::Business).count() as u64;
        Ok(())
    })?;
    Ok(n)
}

pub fn assess(ctx: &mut Ctx, req: &Request) -> Result<RollbackPlan> {
    let comps = ctx.components(&req.components)?;
    let names: Vec<String> = comps.iter().map(|c| c.name.clone()).collect();
    let synced = synced_of(ctx, &names)?;
    if !synced.is_empty() {
        return switch_plan(ctx, &names, &synced);
    }
    let mut out = Vec::new();
    let mut breaks = Vec::new();
    let mut rto: f64 = 0.0;
    let (mut rows_total, mut writes_total) = (0u64, 0u64);
    for c in &comps {
        let m = checkpoint::find(ctx, &c.name, req.to.as_deref())?;
        breaks.extend(continuity::check(ctx, c, &m)?);
        let entry = m.component(&c.name).expect("find checks it");
        let at_risk = business_writes_after(ctx, c, &entry.journal_mark, None)?;
        rto = rto.max(c.rto.as_secs_f64());
        let tables: Vec<(String, u64)> = entry
            .tables
            .iter()
            .map(|t| (t.schema.name.clone(), t.rows))
            .collect();
        rows_total += tables.iter().map(|t| t.1).sum::<u64>();
        writes_total += at_risk;
        out.push(PlannedComponent {
            name: c.name.clone(),
            checkpoint: m.id.0.clone(),
            checkpoint_taken: m.created_at.clone(),
            database: c.database.clone(),
            capture_database: c.capture_database.clone(),
            tables,
            writes_at_risk: at_risk,
        });
    }
    Ok(RollbackPlan {
        components: out,
        rto_seconds: rto,
        expected_seconds: rows_total as f64 / 50_000.0 + writes_total as f64 / 2_000.0,
        breaks,
    })
}

/// The refusal of a rollback over capture breaks, naming each table and window.
pub fn uncaptured_error(breaks: &[Break]) -> Error {
    let list: Vec<String> = breaks.iter().map(|b| format!("  - {b}")).collect();
    Error::Verify(format!(
        "ripcord cannot vouch that the journal holds every business write since the checkpoint:\n{}\nA rollback now could erase those writes without knowing it. Take a new checkpoint after fixing capture, or pass --accept-uncaptured --reason \"…\" to roll back anyway (the report will say writes may be missing, in unknown number).",
        list.join("\n")
    ))
}

/// True when the operator accepted this break when the rollback started.
fn accepted_break(rec: &RollbackRecord, b: &Break) -> bool {
    rec.uncaptured
        .iter()
        .any(|a| a.database == b.database && a.table == b.table)
}

/// A rollback that holds one of `components` and did not finish.
fn unfinished_holding(ctx: &mut Ctx, components: &[String]) -> Result<Option<RollbackRecord>> {
    Ok(ctx
        .state
        .rollbacks()?
        .into_iter()
        .find(|r| r.unfinished() && r.components.iter().any(|c| components.contains(c))))
}

/// Starts a rollback. `approve` is asked once, after assessment, and returns the name of
/// whoever approved, or `None` to abandon.
pub fn start(
    ctx: &mut Ctx,
    req: &Request,
    approve: &mut dyn FnMut(&RollbackPlan) -> Option<String>,
) -> Result<RollbackRecord> {
    let names = ctx
        .components(&req.components)?
        .into_iter()
        .map(|c| c.name)
        .collect::<Vec<_>>();
    while let Some(mut r) = unfinished_holding(ctx, &names)? {
        // One that stopped before its freeze changed nothing (an unanswered prompt, a
        // Ctrl-C, a crash while assessing): the new rollback supersedes it, so a later
        // `--resume` cannot pick it up and act on a stale assessment.
        if !reached(ctx, &r.id, Phase::Freeze)? {
            r.status = Status::Abandoned {
                by: ctx.actor.clone(),
                reason: "superseded by a new rollback before it changed anything".into(),
            };
            r.finished_at = Some(now());
            ctx.state.save_rollback(&r)?;
            ctx.audit(
                "rollback.abandon",
                serde_json::json!({"rollback": r.id, "reason": "superseded", "restore_began": false}),
                "superseded before its freeze",
            )?;
            continue;
        }
        return Err(Error::Held(format!(
            "rollback {} of {} did not finish ({}); a new rollback would restore over it. Continue it with `ripcord rollback --resume {}`, or give it up with `ripcord rollback --abandon {} --reason \"…\"`",
            r.id,
            r.components.join(", "),
            status_line(&r.status),
            r.id,
            r.id
        )));
    }
    let synced = synced_of(ctx, &names)?;
    if !synced.is_empty() {
        if req.to.is_some() {
            return Err(Error::Usage(
                "--to names a checkpoint, but these components are synced: their rollback flips the switches back and restores nothing".into(),
            ));
        }
        return start_switch(ctx, req, &names, synced, approve);
    }
    refuse_stale_parents(ctx, &names)?;
    let plan = assess(ctx, req)?;
    if !plan.breaks.is_empty() && !req.accept_uncaptured {
        ctx.audit(
            "rollback.refused",
            serde_json::json!({"components": names, "breaks": plan.breaks}),
            "capture not continuous since the checkpoint",
        )?;
        return Err(uncaptured_error(&plan.breaks));
    }
    let mut rec = RollbackRecord {
        version: RECORD_VERSION,
        id: new_id("rb"),
        components: plan.components.iter().map(|c| c.name.clone()).collect(),
        checkpoints: plan
            .components
            .iter()
            .map(|c| (c.name.clone(), c.checkpoint.clone()))
            .collect(),
        reason: req.reason.clone(),
        actor: ctx.actor.clone(),
        approved_by: None,
        status: Status::Running {
            phase: Phase::Assess,
        },
        started_at: now(),
        finished_at: None,
        drain_to: BTreeMap::new(),
        figures: Figures::default(),
        gaps: Vec::new(),
        conflicts: Vec::new(),
        unmapped_columns: BTreeMap::new(),
        phase_times: Vec::new(),
        proof: None,
        rto_seconds: plan.rto_seconds,
        notes: Vec::new(),
        approval: None,
        uncaptured: plan.breaks.clone(),
        tokens_at_freeze: BTreeMap::new(),
        overlaps: Vec::new(),
        left_frozen: Vec::new(),
        mode: Mode::Restore,
    };
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    ctx.state.save_rollback(&rec)?;
    if !rec.uncaptured.is_empty() {
        ctx.audit(
            "rollback.accept_uncaptured",
            serde_json::json!({"rollback": rec.id, "breaks": rec.uncaptured, "reason": rec.reason}),
            "accepted: writes in these windows may be missing",
        )?;
    }
    ctx.audit(
        "rollback.start",
        serde_json::json!({"rollback": rec.id, "components": rec.components, "checkpoints": rec.checkpoints, "reason": rec.reason}),
        "started",
    )?;
    ctx.emit(Event::RollbackStarted {
        rollback: rec.id.clone(),
        components: rec.components.clone(),
        checkpoint: rec
            .checkpoints
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        reason: rec.reason.clone(),
    });
    let approval = approve(&plan);
    // Kept so a resume after a crash before the approve phase needs no second approval.
    rec.approval = approval.clone();
    ctx.state.save_rollback(&rec)?;
    drive(ctx, &mut rec, &owner, approval)?;
    Ok(rec)
}

/// Refuses to roll back tables whose foreign-key parents, in a component outside this
/// rollback, stand at a checkpoint without the business writes since: left so by an
/// abandoned rollback, or restored by an unfinished one that has not replayed. The replay
/// of new child rows would find no parent and every such write would end a gap, though
/// the journal holds the parents too (operator-model seed 1162). Rolled back together, one
/// replay in business order carries both; an unfinished one is resumed first.
fn refuse_stale_parents(ctx: &mut Ctx, names: &[String]) -> Result<()> {
    // db, table, component, why
    let mut stale: Vec<(String, String, String, String)> = Vec::new();
    let mut frozen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in ctx.state.rollbacks()? {
        let unfinished_stale = r.unfinished() && {
            let log = ctx.state.phases(&r.id)?;
            log.iter().any(|p| p.phase == Phase::Restore.name())
                && !log
                    .iter()
                    .any(|p| p.phase == Phase::Replay.name() && p.event == "done")
        };
        let abandoned_stale =
            matches!(r.status, Status::Abandoned { .. }) && !r.left_frozen.is_empty();
        if !unfinished_stale && !abandoned_stale {
            continue;
        }
        let why = if unfinished_stale {
            format!(
                "which rollback {} restored to its checkpoint and has not replayed yet (resume it first: `ripcord rollback --resume {}`)",
                r.id, r.id
            )
        } else {
            format!(
                "which rollback {} left at its checkpoint when it was abandoned",
                r.id
            )
        };
        // A component since removed from the plan has no tables to look at here.
        let comps: Vec<Component> = r
            .components
            .iter()
            .filter(|n| !names.contains(n))
            .filter_map(|n| ctx.plan.component(n).cloned())
            .collect();
        for c in comps {
            if !frozen.contains_key(&c.database) {
                let on = ctx.engine(&c.database)?.frozen_tables()?;
                frozen.insert(c.database.clone(), on);
            }
            let frozen = &frozen[&c.database];
            for t in &c.tables {
                let held = unfinished_stale || r.left_frozen.contains(t);
                if held
                    && frozen.contains(t)
                    && !stale.iter().any(|s| s.0 == c.database && s.1 == *t)
                {
                    stale.push((c.database.clone(), t.clone(), c.name.clone(), why.clone()));
                }
            }
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let Some(differ) = ctx.connector.differ() else {
        return Ok(());
    };
    let mut found: Vec<String> = Vec::new();
    let mut add: Vec<String> = Vec::new();
    let mut keys: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in ctx.components(names)? {
        let Some(plan_db) = ctx.plan.databases.get(&c.database) else {
            continue;
        };
        if !keys.contains_key(&c.database) {
            keys.insert(c.database.clone(), differ.foreign_keys(plan_db)?);
        }
        for (child, parent) in keys[&c.database].iter().cloned() {
            if !c.tables.contains(&child) {
                continue;
            }
            if let Some((_, _, comp, why)) =
                stale.iter().find(|s| s.0 == c.database && s.1 == parent)
            {
                found.push(format!(
                    "{child} (component {}) references {parent} (component {comp}), {why}",
                    c.name
                ));
                if !add.contains(comp) {
                    add.push(comp.clone());
                }
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = names
        .iter()
        .chain(&add)
        .map(|c| format!("-c {c}"))
        .collect();
    Err(Error::Held(format!(
        "rolling back {} alone would lose business writes the journal holds:\n  - {}\nThe rows written since to the child tables need the parents written since, which only a rollback of their component brings back. Roll them back together, in one replay in the order the business wrote: `ripcord rollback {} --reason \"…\"`",
        names.join(", "),
        found.join("\n  - "),
        all.join(" ")
    )))
}

/// The components' syncs that still carry writes: all of them, or none (a mix is refused).
fn synced_of(ctx: &mut Ctx, names: &[String]) -> Result<Vec<crate::sync::SyncRecord>> {
    let synced: Vec<crate::sync::SyncRecord> = ctx
        .state
        .syncs()?
        .into_iter()
        .filter(|r| r.state.active() && names.contains(&r.component))
        .collect();
    if !synced.is_empty() && synced.len() != names.len() {
        let with: Vec<&str> = synced.iter().map(|r| r.component.as_str()).collect();
        return Err(Error::Usage(format!(
            "{} were cut over and are synced, the others are not: roll them back separately",
            with.join(", ")
        )));
    }
    Ok(synced)
}

/// What a switch-path rollback would do: nothing to restore, the sync's lag to drain.
fn switch_plan(
    ctx: &mut Ctx,
    names: &[String],
    synced: &[crate::sync::SyncRecord],
) -> Result<RollbackPlan> {
    let comps = ctx.components(names)?;
    let mut planned = Vec::new();
    let mut rto: f64 = 0.0;
    let mut writes = 0;
    for c in &comps {
        let s = synced
            .iter()
            .find(|s| s.component == c.name)
            .expect("one per component");
        let lag = crate::sync::lag(ctx, s)?;
        rto = rto.max(c.rto.as_secs_f64());
        writes += lag.rows;
        planned.push(PlannedComponent {
            name: c.name.clone(),
            checkpoint: format!("none (switch path, sync {})", s.tag),
            checkpoint_taken: s.started_at.clone(),
            database: c.database.clone(),
            capture_database: c.capture_database.clone(),
            tables: Vec::new(),
            writes_at_risk: lag.rows,
        });
    }
    Ok(RollbackPlan {
        components: planned,
        rto_seconds: rto,
        expected_seconds: writes as f64 / 2_000.0,
        breaks: Vec::new(),
    })
}

/// The switch path: the components were cut over and legacy is kept current by the sync,
/// so nothing is restored; the plan shown for approval counts the writes still to drain.
fn start_switch(
    ctx: &mut Ctx,
    req: &Request,
    names: &[String],
    synced: Vec<crate::sync::SyncRecord>,
    approve: &mut dyn FnMut(&RollbackPlan) -> Option<String>,
) -> Result<RollbackRecord> {
    let plan = switch_plan(ctx, names, &synced)?;
    let rto = plan.rto_seconds;
    let mut rec = RollbackRecord {
        version: RECORD_VERSION,
        id: new_id("rb"),
        components: names.to_vec(),
        checkpoints: BTreeMap::new(),
        reason: req.reason.clone(),
        actor: ctx.actor.clone(),
        approved_by: None,
        status: Status::Running {
            phase: Phase::Assess,
        },
        started_at: now(),
        finished_at: None,
        drain_to: BTreeMap::new(),
        figures: Figures::default(),
        gaps: Vec::new(),
        conflicts: Vec::new(),
        unmapped_columns: BTreeMap::new(),
        phase_times: Vec::new(),
        proof: None,
        rto_seconds: rto,
        notes: Vec::new(),
        approval: None,
        uncaptured: Vec::new(),
        tokens_at_freeze: BTreeMap::new(),
        overlaps: Vec::new(),
        left_frozen: Vec::new(),
        mode: Mode::Switch {
            tags: synced
                .iter()
                .map(|s| (s.component.clone(), s.tag.clone()))
                .collect(),
        },
    };
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    ctx.state.save_rollback(&rec)?;
    ctx.audit(
        "rollback.start",
        serde_json::json!({"rollback": rec.id, "components": rec.components, "path": "switch", "reason": rec.reason}),
        "started",
    )?;
    ctx.emit(Event::RollbackStarted {
        rollback: rec.id.clone(),
        components: rec.components.clone(),
        checkpoint: "none: switch path (legacy kept current by the sync)".into(),
        reason: rec.reason.clone(),
    });
    let approval = approve(&plan);
    rec.approval = approval.clone();
    ctx.state.save_rollback(&rec)?;
    drive(ctx, &mut rec, &owner, approval)?;
    Ok(rec)
}

/// True when the rollback began `phase` (its intent is logged before it acts).
fn reached(ctx: &mut Ctx, id: &str, phase: Phase) -> Result<bool> {
    Ok(ctx
        .state
        .phases(id)?
        .iter()
        .any(|p| p.phase == phase.name()))
}

fn status_line(s: &Status) -> String {
    match s {
        Status::Running { phase } => format!("interrupted in {}", phase.name()),
        Status::Failed { phase, error } => format!("failed in {}: {error}", phase.name()),
        Status::Completed { .. } => "interrupted after its last phase".into(),
        Status::Abandoned { by, .. } => format!("abandoned by {by}"),
    }
}

/// Gives up an unfinished rollback. Tables it had not begun to restore are unfrozen; a
/// table it had begun to restore stays frozen (it may hold the checkpoint without the
/// business writes since) until a new rollback restores it and carries them back.
pub fn abandon(ctx: &mut Ctx, id: &str, reason: &str) -> Result<RollbackRecord> {
    let mut rec = ctx
        .state
        .rollbacks()?
        .into_iter()
        .find(|r| r.id == id || r.id.starts_with(id))
        .ok_or_else(|| {
            Error::Usage(format!(
                "no rollback {id:?}; `ripcord report` lists the newest"
            ))
        })?;
    if !rec.unfinished() {
        return Err(Error::Usage(format!(
            "rollback {} is not unfinished ({}); there is nothing to abandon",
            rec.id,
            status_line(&rec.status)
        )));
    }
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    let restore_began = reached(ctx, &rec.id, Phase::Restore)?;
    // A table a restore may have changed holds the checkpoint without the business writes
    // since: it stays frozen until a new rollback carries them back. The rest is untouched.
    let mut left_frozen = Vec::new();
    if let Mode::Switch { .. } = rec.mode {
        abandon_switch(ctx, &mut rec)?;
    }
    let restored = match rec.mode {
        Mode::Restore => load(ctx, &rec)?,
        Mode::Switch { .. } => Vec::new(),
    };
    for l in restored {
        let mut engine = ctx.engine_installed(&l.component.database)?;
        let mut thaw = Vec::new();
        for t in &l.component.tables {
            if restore_began && engine.restore_touched(&format!("{}:{t}", rec.id))? {
                left_frozen.push(t.clone());
            } else {
                thaw.push(t.clone());
            }
        }
        engine.unfreeze(&thaw)?;
        if l.component.capture_database != l.component.database {
            ctx.engine_installed(&l.component.capture_database)?
                .unfreeze(&l.component.captured_tables())?;
        }
    }
    if !left_frozen.is_empty() {
        rec.notes.push(RollbackNote::AbandonedLeftFrozen {
            tables: left_frozen.clone(),
        });
    }
    rec.left_frozen = left_frozen;
    rec.status = Status::Abandoned {
        by: ctx.actor.clone(),
        reason: reason.to_string(),
    };
    rec.finished_at = Some(now());
    ctx.state.save_rollback(&rec)?;
    ctx.audit(
        "rollback.abandon",
        serde_json::json!({"rollback": rec.id, "reason": reason, "restore_began": restore_began}),
        "abandoned",
    )?;
    unlock_all(ctx, &rec, &owner);
    Ok(rec)
}

/// Gives up a switch-path rollback. Before the switches moved, traffic is still on the new
/// side: it is unfrozen there and its sync set running again (`ripcord sync start` carries
/// on); legacy stays frozen. After they began to move, both sides stay frozen: the
/// operator decides where traffic goes (`ripcord switch status`).
fn abandon_switch(ctx: &mut Ctx, rec: &mut RollbackRecord) -> Result<()> {
    let flipped = reached(ctx, &rec.id, Phase::SwitchBack)?;
    for c in components_of(ctx, rec)? {
        if !flipped {
            ctx.engine_installed(&c.capture_database)?
                .unfreeze(&c.captured_tables())?;
            if let Some(mut s) = crate::sync::record(ctx, &c.name)?
                && matches!(&s.state, crate::sync::SyncState::Draining { rollback } if rollback == &rec.id)
            {
                s.state = crate::sync::SyncState::Running;
                s.updated_at = now();
                ctx.state.save_sync(&s)?;
            }
        }
    }
    rec.notes.push(if flipped {
        RollbackNote::AbandonedWhileSwitching
    } else {
        RollbackNote::AbandonedBeforeSwitching
    });
    Ok(())
}

/// Refuses to resume when what the interrupted rollback relied on moved: its tables are
/// no longer frozen, or business writes reached the journal after its drain.
fn check_resumable(ctx: &mut Ctx, rec: &RollbackRecord) -> Result<()> {
    let phase = match &rec.status {
        Status::Running { phase } | Status::Failed { phase, .. } => *phase,
        _ => return Ok(()),
    };
    // Before the freeze nothing relied on it; from the unfreeze on, writes are allowed.
    if !matches!(
        phase,
        Phase::Drain | Phase::Restore | Phase::Replay | Phase::Verify | Phase::SwitchBack
    ) {
        return Ok(());
    }
    let mut problems = Vec::new();
    for c in components_of(ctx, rec)? {
        let frozen = ctx.engine_installed(&c.database)?.frozen_tables()?;
        let thawed: Vec<&String> = c.tables.iter().filter(|t| !frozen.contains(t)).collect();
        if !thawed.is_empty() {
            problems.push(format!(
                "{}: tables {} are no longer frozen",
                c.name,
                thawed
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(&upto) = rec.drain_to.get(&c.capture_database) {
            let mut e = ctx.engine_installed(&c.capture_database)?;
            let high = e.journal_mark()?.high;
            let newer = e
                .read_journal(
                    &JournalMark {
                        high: upto,
                        holes: Vec::new(),
                        snapshot: None,
                    },
                    high,
                    &c.captured_tables(),
                )?
                .into_iter()
                .filter(|x| x.origin == Origin::Business)
                .count();
            if newer > 0 {
                problems.push(format!(
                    "{}: {newer} business writes reached the journal after the drain",
                    c.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Verify(format!(
            "rollback {} cannot be resumed safely: {}. Resuming would restore over newer data. Give it up with `ripcord rollback --abandon {} --reason \"…\"` and start a new rollback.",
            rec.id,
            problems.join("; "),
            rec.id
        )))
    }
}

/// Continues an unfinished rollback: the one named, or the newest. `approval` is used only
/// when the interrupted rollback had not been approved yet (nor up front).
pub fn resume(ctx: &mut Ctx, id: Option<&str>, approval: Option<String>) -> Result<RollbackRecord> {
    let all = ctx.state.rollbacks()?;
    let mut rec = match id {
        Some(id) => {
            let r = all
                .into_iter()
                .find(|r| r.id == id || r.id.starts_with(id))
                .ok_or_else(|| Error::Usage(format!("no rollback {id:?}")))?;
            if !r.unfinished() {
                return Err(Error::Usage(format!(
                    "rollback {} is not unfinished ({}); there is nothing to resume",
                    r.id,
                    status_line(&r.status)
                )));
            }
            r
        }
        None => all
            .into_iter()
            .find(RollbackRecord::unfinished)
            .ok_or_else(|| Error::Usage("there is no unfinished rollback to resume".into()))?,
    };
    if rec.version > RECORD_VERSION {
        return Err(Error::Usage(format!(
            "rollback {} was written by a newer ripcord (record version {}, this one knows {RECORD_VERSION}); resume it with that version",
            rec.id, rec.version
        )));
    }
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    if let Err(e) = check_resumable(ctx, &rec) {
        unlock_all(ctx, &rec, &owner);
        return Err(e);
    }
    if let Status::Failed { phase, .. } = rec.status {
        rec.status = Status::Running { phase };
    }
    ctx.audit(
        "rollback.resume",
        serde_json::json!({"rollback": rec.id, "status": rec.status}),
        "resuming",
    )?;
    let approval = rec
        .approved_by
        .clone()
        .or_else(|| rec.approval.clone())
        .or(approval);
    drive(ctx, &mut rec, &owner, approval)?;
    Ok(rec)
}

fn lock_all(ctx: &mut Ctx, rec: &RollbackRecord, owner: &LockOwner) -> Result<()> {
    let mut taken: Vec<String> = Vec::new();
    for c in &rec.components {
        let name = format!("rollback:{c}");
        if let Err(e) = ctx.state.acquire_lock(&name, owner, lease()) {
            for t in taken {
                ctx.state.release_lock(&t, owner)?;
            }
            return Err(e);
        }
        taken.push(name);
    }
    Ok(())
}

/// Renews every lock of the rollback (between phases and during long ones), so a long
/// restore does not lose a lock to another operator.
fn renew_all(ctx: &mut Ctx, components: &[String], owner: &LockOwner) {
    for c in components {
        let _ = ctx
            .state
            .renew_lock(&format!("rollback:{c}"), owner, lease());
    }
}

fn unlock_all(ctx: &mut Ctx, rec: &RollbackRecord, owner: &LockOwner) {
    for c in &rec.components {
        let _ = ctx.state.release_lock(&format!("rollback:{c}"), owner);
    }
}

/// Renews every lock of a rollback from a thread of its own, every third of the lease, while
/// the rollback runs: one long statement (the restore of a large table) must not let a lease
/// run out and another operator take the components over. Stops when dropped.
struct LeaseKeeper {
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LeaseKeeper {
    fn start(ctx: &Ctx, components: &[String], owner: &LockOwner) -> Result<Self> {
        let mut state = ctx.state.reopen()?;
        let names: Vec<String> = components.iter().map(|c| format!("rollback:{c}")).collect();
        let owner = owner.clone();
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let every = lease() / 3;
            let (lock, cv) = &*flag;
            let mut stopped = lock.lock().expect("lease keeper flag");
            loop {
                stopped = cv
                    .wait_timeout(stopped, every)
                    .expect("lease keeper flag")
                    .0;
                if *stopped {
                    return;
                }
                for n in &names {
                    // A released lock has no row left to renew: this never takes one back.
                    if let Err(e) = state.renew_lock(n, &owner, lease()) {
                        tracing::warn!(lock = %n, error = %e, "cannot renew the rollback lock");
                    }
                }
            }
        });
        Ok(LeaseKeeper {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut s) = lock.lock() {
            *s = true;
        }
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn drive(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    owner: &LockOwner,
    approval: Option<String>,
) -> Result<()> {
    let _leases = LeaseKeeper::start(ctx, &rec.components, owner)?;
    while let Status::Running { phase } = rec.status.clone() {
        let t = Instant::now();
        ctx.state.log_phase(&rec.id, phase.name(), "intent", "")?;
        ctx.emit(Event::PhaseStarted {
            rollback: rec.id.clone(),
            phase: phase.name().into(),
        });
        crate::crash::point(&format!("{}:before", phase.name()));
        let result = run_phase(ctx, rec, phase, &approval, owner);
        let secs = t.elapsed().as_secs_f64();
        match result {
            Ok(outcome) => {
                rec.phase_times.retain(|p| p.phase != phase);
                rec.phase_times.push(PhaseTime {
                    phase,
                    seconds: secs,
                });
                rec.status = match phase.next() {
                    Some(n) => Status::Running { phase: n },
                    None => Status::Completed {
                        ok: rec.proof.as_ref().is_some_and(Proof::ok)
                            && rec.gaps.is_empty()
                            && !zero_recovered(rec)
                            && rec.uncaptured.is_empty(),
                    },
                };
                let detail = serde_json::to_string(&outcome).expect("serializes");
                ctx.state
                    .log_phase(&rec.id, phase.name(), "done", &detail)?;
                ctx.state.save_rollback(rec)?;
                ctx.emit(Event::PhaseFinished {
                    rollback: rec.id.clone(),
                    phase: phase.name().into(),
                    seconds: secs,
                    outcome,
                    figures: rec.figures.clone(),
                });
                crate::crash::point(&format!("{}:after", phase.name()));
                renew_all(ctx, &rec.components, owner);
            }
            Err(e) => {
                let msg = crate::redact::scrub(&e.to_string());
                rec.status = if phase == Phase::Approve && matches!(e, Error::NotApproved(_)) {
                    // Not approved: nothing was changed, nothing is left to resume.
                    rec.finished_at = Some(now());
                    Status::Abandoned {
                        by: ctx.actor.clone(),
                        reason: msg.clone(),
                    }
                } else {
                    Status::Failed {
                        phase,
                        error: msg.clone(),
                    }
                };
                ctx.state.log_phase(&rec.id, phase.name(), "failed", &msg)?;
                ctx.state.save_rollback(rec)?;
                ctx.audit(
                    "rollback.failed",
                    serde_json::json!({"rollback": rec.id, "phase": phase.name()}),
                    &msg,
                )?;
                unlock_all(ctx, rec, owner);
                return Err(e);
            }
        }
    }
    rec.finished_at = Some(now());
    ctx.state.save_rollback(rec)?;
    let total = rec.total_seconds();
    ctx.emit(Event::RollbackFinished {
        rollback: rec.id.clone(),
        ok: rec.ok(),
        seconds: total,
        rto_seconds: rec.rto_seconds,
        at_risk: rec.figures.at_risk,
        recovered: rec.figures.recovered,
        lost: rec.figures.lost,
    });
    if total > rec.rto_seconds * 1.2 {
        ctx.emit(Event::RtoExceeded {
            rollback: rec.id.clone(),
            seconds: total,
            rto_seconds: rec.rto_seconds,
        });
    }
    ctx.audit(
        "rollback.finish",
        serde_json::json!({"rollback": rec.id, "figures": rec.figures, "gaps": rec.gaps.len(), "seconds": total}),
        if rec.ok() { "ok" } else { "failed verification or left data gaps" },
    )?;
    crate::crash::point("finish:before-unlock");
    unlock_all(ctx, rec, owner);
    Ok(())
}

fn zero_recovered(rec: &RollbackRecord) -> bool {
    rec.figures.at_risk > 0 && rec.figures.recovered == 0
}

struct Loaded {
    component: Component,
    manifest: Manifest,
}

impl Loaded {
    fn entry(&self) -> &ComponentEntry {
        self.manifest
            .component(&self.component.name)
            .expect("checked when the rollback started")
    }
}

/// The rollback's components as the plan has them now.
fn components_of(ctx: &Ctx, rec: &RollbackRecord) -> Result<Vec<Component>> {
    rec.components
        .iter()
        .map(|name| {
            ctx.plan
                .component(name)
                .cloned()
                .ok_or_else(|| Error::Usage(format!("component {name:?} is no longer in the plan")))
        })
        .collect()
}

fn load(ctx: &Ctx, rec: &RollbackRecord) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for name in &rec.components {
        let component =
            ctx.plan.component(name).cloned().ok_or_else(|| {
                Error::Usage(format!("component {name:?} is no longer in the plan"))
            })?;
        let manifest = ctx
            .store
            .manifest(&CheckpointId(rec.checkpoints[name].clone()))?;
        out.push(Loaded {
            component,
            manifest,
        });
    }
    Ok(out)
}
