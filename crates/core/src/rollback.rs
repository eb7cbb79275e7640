//! The rollback: a persisted state machine. Each phase records its intent before it acts and
//! its result after; the record (a serde-tagged status) is saved at every boundary, so
//! `--resume` after a crash continues where it stopped. Restore is skipped for tables whose
//! restore committed (the target says so), and replay continues from the position stored in
//! the target with the rows it applied, so nothing is restored twice over newer data and no
//! write is applied twice.

use crate::checkpoint;
use crate::context::{Ctx, new_id, now};
use crate::continuity::{self, Break};
use crate::engine::{ApplyOp, ReplayPosition, RestoreOptions};
use crate::events::Event;
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

/// How long a rollback lock holds without renewal (renewed after every phase).
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
        self.tables.iter().all(|t| t.differences == 0)
            && self.invariants.iter().all(|i| i.ok)
            && self.orphans.is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollbackRecord {
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
    pub notes: Vec<String>,
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

fn components_of(ctx: &Ctx, names: &[String]) -> Result<Vec<Component>> {
    if names.is_empty() {
        return Ok(ctx.plan.components.clone());
    }
    names
        .iter()
        .map(|n| {
            ctx.plan
                .component(n)
                .cloned()
                .ok_or_else(|| Error::Usage(format!("no component named {n:?} in the plan")))
        })
        .collect()
}

fn journal_after(
    ctx: &Ctx,
    c: &Component,
    mark: &JournalMark,
    upto: Option<i64>,
) -> Result<Vec<JournalEntry>> {
    let mut e = ctx.engine(&c.capture_database)?;
    let upto = match upto {
        Some(u) => u,
        None => e.journal_mark()?.high,
    };
    Ok(e.read_journal(mark, upto, &c.captured_tables())?)
}

pub fn assess(ctx: &mut Ctx, req: &Request) -> Result<RollbackPlan> {
    let comps = components_of(ctx, &req.components)?;
    let mut out = Vec::new();
    let mut breaks = Vec::new();
    let mut rto: f64 = 0.0;
    let (mut rows_total, mut writes_total) = (0u64, 0u64);
    for c in &comps {
        let m = checkpoint::find(ctx, &c.name, req.to.as_deref())?;
        breaks.extend(continuity::check(ctx, c, &m)?);
        let entry = m.component(&c.name).expect("find checks it");
        let entries = journal_after(ctx, c, &entry.journal_mark, None)?;
        let at_risk = entries
            .iter()
            .filter(|e| e.origin == Origin::Business)
            .count() as u64;
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
    let names = components_of(ctx, &req.components)?
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
    // A table whose restore committed holds the checkpoint without the business writes
    // since: it stays frozen until a new rollback carries them back. The rest is untouched.
    let mut left_frozen = Vec::new();
    for l in load(ctx, &rec)? {
        let mut engine = ctx.engine(&l.component.database)?;
        let mut thaw = Vec::new();
        for t in &l.component.tables {
            if restore_began && engine.restore_done(&format!("{}:{t}", rec.id))? {
                left_frozen.push(t.clone());
            } else {
                thaw.push(t.clone());
            }
        }
        engine.unfreeze(&thaw)?;
        if l.component.capture_database != l.component.database {
            ctx.engine(&l.component.capture_database)?
                .unfreeze(&l.component.captured_tables())?;
        }
    }
    if !left_frozen.is_empty() {
        rec.notes.push(format!(
            "abandoned after restoring {}: those tables hold the checkpoint without the business writes since, so they stay frozen until a new rollback of their components restores them and carries the writes back",
            left_frozen.join(", ")
        ));
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
    for l in load(ctx, rec)? {
        let frozen = ctx.engine(&l.component.database)?.frozen_tables()?;
        let thawed: Vec<&String> = l
            .component
            .tables
            .iter()
            .filter(|t| !frozen.contains(t))
            .collect();
        if !thawed.is_empty() {
            problems.push(format!(
                "{}: tables {} are no longer frozen",
                l.component.name,
                thawed
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(&upto) = rec.drain_to.get(&l.component.capture_database) {
            let mut e = ctx.engine(&l.component.capture_database)?;
            let high = e.journal_mark()?.high;
            let newer = e
                .read_journal(
                    &JournalMark {
                        high: upto,
                        holes: Vec::new(),
                        snapshot: None,
                    },
                    high,
                    &l.component.captured_tables(),
                )?
                .into_iter()
                .filter(|x| x.origin == Origin::Business)
                .count();
            if newer > 0 {
                problems.push(format!(
                    "{}: {newer} business writes reached the journal after the drain",
                    l.component.name
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

fn drive(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    owner: &LockOwner,
    approval: Option<String>,
) -> Result<()> {
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
            Ok(detail) => {
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
                ctx.state
                    .log_phase(&rec.id, phase.name(), "done", &detail)?;
                ctx.state.save_rollback(rec)?;
                ctx.emit(Event::PhaseFinished {
                    rollback: rec.id.clone(),
                    phase: phase.name().into(),
                    seconds: secs,
                    detail,
                    figures: rec.figures.clone(),
                });
                crate::crash::point(&format!("{}:after", phase.name()));
                renew_all(ctx, &rec.components, owner);
            }
            Err(e) => {
                let msg = crate::redact::scrub(&e.to_string());
                rec.status = if phase == Phase::Approve && matches!(e, Error::Stopped(_)) {
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

fn run_phase(
    ctx: &mut Ctx,
    rec: &mut RollbackRecord,
    phase: Phase,
    approval: &Option<String>,
    owner: &LockOwner,
) -> Result<String> {
    let loaded = load(ctx, rec)?;
    match phase {
        Phase::Assess => {
            // Invariant 1: nothing destructive without chunks that re-hash to their ids.
            for l in &loaded {
                let e = l.entry();
                for t in &e.tables {
                    for ch in t.all_chunks() {
                        ctx.store.get_chunk(ch).map_err(|err| {
                            Error::Verify(format!(
                                "checkpoint {} cannot be used for {}: {err}",
                                l.manifest.id, t.schema.name
                            ))
                        })?;
                    }
                }
            }
            // Before anything is frozen: a resumed rollback whose capture broke since it
            // started must stop here, not after freezing the tables.
            let mut breaks = Vec::new();
            for l in &loaded {
                breaks.extend(continuity::check(ctx, &l.component, &l.manifest)?);
            }
            let new_breaks: Vec<Break> = breaks
                .into_iter()
                .filter(|b| !accepted_break(rec, b))
                .collect();
            if !new_breaks.is_empty() {
                return Err(uncaptured_error(&new_breaks));
            }
            let mut at_risk = 0;
            for l in &loaded {
                at_risk += journal_after(ctx, &l.component, &l.entry().journal_mark, None)?
                    .iter()
                    .filter(|e| e.origin == Origin::Business)
                    .count() as u64;
            }
            Ok(format!(
                "checkpoints verified; {at_risk} business writes since the checkpoint"
            ))
        }
        Phase::Approve => match (&rec.approved_by, approval) {
            (Some(who), _) => Ok(format!("approved by {who}")),
            (None, Some(who)) => {
                rec.approved_by = Some(who.clone());
                ctx.audit(
                    "rollback.approve",
                    serde_json::json!({"rollback": rec.id}),
                    &format!("approved by {who}"),
                )?;
                Ok(format!("approved by {who}"))
            }
            (None, None) => Err(Error::Stopped(
                "the rollback was not approved; nothing was changed".into(),
            )),
        },
        Phase::Freeze => {
            for l in &loaded {
                ctx.engine(&l.component.database)?
                    .freeze(&l.component.tables)?;
                if l.component.capture_database != l.component.database
                    || l.component.captured_tables() != l.component.tables
                {
                    ctx.engine(&l.component.capture_database)?
                        .freeze(&l.component.captured_tables())?;
                }
            }
            ctx.audit(
                "freeze",
                serde_json::json!({"rollback": rec.id, "components": rec.components}),
                "frozen",
            )?;
            Ok("writes to the components' tables are blocked".into())
        }
        Phase::Drain => {
            // Capture may have broken between the assessment and the freeze: look again,
            // now that no business write can move it.
            let mut breaks = Vec::new();
            for l in &loaded {
                breaks.extend(continuity::check(ctx, &l.component, &l.manifest)?);
            }
            let new_breaks: Vec<Break> = breaks
                .into_iter()
                .filter(|b| !accepted_break(rec, b))
                .collect();
            if !new_breaks.is_empty() {
                let Error::Verify(msg) = uncaptured_error(&new_breaks) else {
                    unreachable!("uncaptured_error is a verification error")
                };
                return Err(Error::Verify(format!(
                    "{msg}\nThis rollback has frozen the tables and changed nothing else: give it up with `ripcord rollback --abandon {} --reason \"…\"` (that unfreezes them).",
                    rec.id
                )));
            }
            for l in &loaded {
                let db = &l.component.capture_database;
                let tables = l.component.captured_tables();
                let tokens = continuity::tokens(ctx, db, &tables)?;
                let map = rec.tokens_at_freeze.entry(db.clone()).or_default();
                for (t, tok) in tables.into_iter().zip(tokens) {
                    map.entry(t).or_insert(tok);
                }
            }
            for l in &loaded {
                let db = &l.component.capture_database;
                if !rec.drain_to.contains_key(db) {
                    let high = ctx.engine(db)?.journal_mark()?.high;
                    rec.drain_to.insert(db.clone(), high);
                }
            }
            let mut at_risk = 0;
            for l in &loaded {
                let upto = rec.drain_to[&l.component.capture_database];
                at_risk += journal_after(ctx, &l.component, &l.entry().journal_mark, Some(upto))?
                    .iter()
                    .filter(|e| e.origin == Origin::Business)
                    .count() as u64;
            }
            rec.figures.at_risk = at_risk;
            Ok(format!(
                "journal drained: {at_risk} business writes to carry back"
            ))
        }
        Phase::Restore => {
            let mut restored = 0;
            let mut skipped = 0;
            for (l, t) in restore_order(ctx, &loaded)? {
                let mut engine = ctx.engine(&l.component.database)?;
                let captured_here = l.component.capture_database == l.component.database;
                {
                    let tag = format!("{}:{}", rec.id, t.schema.name);
                    // The restore re-arms capture in its own transaction: no write escapes,
                    // so the token it leaves continues the checkpoint's (a link).
                    let relink = |ctx: &mut Ctx, rec: &RollbackRecord| -> Result<()> {
                        if !captured_here {
                            return Ok(());
                        }
                        let db = &l.component.capture_database;
                        let before = rec
                            .tokens_at_freeze
                            .get(db)
                            .and_then(|m| m.get(&t.schema.name))
                            .cloned()
                            .flatten();
                        continuity::link(
                            ctx,
                            db,
                            std::slice::from_ref(&t.schema.name),
                            &[before],
                            &rec.id,
                        )
                    };
                    if engine.restore_done(&tag)? {
                        skipped += 1;
                        relink(ctx, rec)?;
                        continue;
                    }
                    let half = t.rows / 2;
                    let mut n = 0u64;
                    let bus = ctx.events.clone();
                    let mut meter = crate::progress::Meter::new(
                        &bus,
                        format!("restore {}", t.schema.name),
                        t.rows,
                    );
                    let row_bytes = t.bytes / t.rows.max(1);
                    let mut rows = ctx.store.rows(&l.manifest.id, t).inspect(|_| {
                        n += 1;
                        meter.add(1, row_bytes);
                        if n == half.max(1) {
                            crate::crash::point("restore:mid");
                        }
                    });
                    let opts = RestoreOptions {
                        restore_tag: tag,
                        capture: captured_here
                            && l.component.captured_tables().contains(&t.schema.name),
                        freeze: true,
                    };
                    restored += engine.restore_table(&t.schema, &mut rows, &opts)?;
                    drop(rows);
                    meter.finish();
                    relink(ctx, rec)?;
                    renew_all(ctx, &rec.components, owner);
                    ctx.emit(Event::Progress {
                        what: format!("restored {}", t.schema.name),
                        done: t.rows,
                        total: t.rows,
                    });
                }
            }
            rec.figures.restored_rows = restored;
            ctx.audit(
                "restore",
                serde_json::json!({"rollback": rec.id, "rows": restored}),
                "ok",
            )?;
            Ok(format!(
                "{restored} rows restored{}",
                if skipped > 0 {
                    format!(" ({skipped} tables already restored before a restart)")
                } else {
                    String::new()
                }
            ))
        }
        Phase::Replay => {
            let mut applied_total = 0u64;
            rec.gaps.clear();
            rec.conflicts.clear();
            rec.overlaps.clear();
            // One replay per target database (and capture journal), across all its
            // components, in the order the business wrote: new rows need their parents
            // first, deletes their children first, and no fixed component order gives both.
            let mut groups: BTreeMap<(String, String), Vec<&Loaded>> = BTreeMap::new();
            for l in &loaded {
                groups
                    .entry((
                        l.component.database.clone(),
                        l.component.capture_database.clone(),
                    ))
                    .or_default()
                    .push(l);
            }
            for ((db, _), group) in groups {
                let mut items: Vec<(i64, &str, Planned)> = Vec::new();
                let mut partial_gaps: Vec<Gap> = Vec::new();
                let mut key_names: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for l in &group {
                    let plan = plan_replay(ctx, rec, l)?;
                    for t in &l.entry().tables {
                        key_names.insert(t.schema.name.clone(), t.schema.key_names());
                    }
                    let name = l.component.name.as_str();
                    items.extend(plan.items.into_iter().map(|(s, p)| (s, name, p)));
                    partial_gaps.extend(plan.partial_gaps);
                    rec.conflicts.extend(plan.conflicts);
                    rec.overlaps.extend(plan.overlaps);
                    for (t, cols) in plan.unmapped_columns {
                        rec.unmapped_columns.insert(t, cols.into_iter().collect());
                    }
                }
                items.sort_by_key(|(s, _, _)| *s);
                let names: Vec<&str> = group.iter().map(|l| l.component.name.as_str()).collect();
                let tag = format!("{}:{}", rec.id, names.join("+"));
                let mut engine = ctx.engine(&db)?;
                let done_to = engine.replay_position(&tag)?.unwrap_or(i64::MIN);
                let pending: Vec<&(i64, &str, Planned)> =
                    items.iter().filter(|(s, _, _)| *s > done_to).collect();
                let mut batches = 0;
                for batch in pending.chunks(BATCH) {
                    let ops: Vec<(i64, &str, ApplyOp)> = batch
                        .iter()
                        .filter_map(|(s, c, p)| match p {
                            Planned::Apply(op) => Some((*s, *c, op.clone())),
                            _ => None,
                        })
                        .collect();
                    let in_batch: std::collections::BTreeSet<i64> =
                        batch.iter().map(|(s, _, _)| *s).collect();
                    let planned_gaps: Vec<Gap> = batch
                        .iter()
                        .filter_map(|(_, _, p)| match p {
                            Planned::Gap(g) => Some(g.clone()),
                            _ => None,
                        })
                        .chain(
                            partial_gaps
                                .iter()
                                .filter(|g| in_batch.contains(&g.seq))
                                .cloned(),
                        )
                        .collect();
                    let only_ops: Vec<ApplyOp> = ops.iter().map(|(_, _, o)| o.clone()).collect();
                    let pos = ReplayPosition {
                        rollback: tag.clone(),
                        last_seq: batch.last().expect("non-empty").0,
                    };
                    let summarize = |outcomes: &[crate::engine::ApplyOutcome]| {
                        let mut gaps = planned_gaps.clone();
                        for ((seq, comp, op), o) in ops.iter().zip(outcomes) {
                            let keys = key_names.get(op.table()).map(Vec::as_slice).unwrap_or(&[]);
                            gaps.extend(replay::outcome_gap(comp, *seq, op, o, keys));
                        }
                        serde_json::to_string(&gaps).expect("gaps serialize")
                    };
                    engine.apply(&only_ops, &pos, &summarize)?;
                    applied_total += only_ops.len() as u64;
                    batches += 1;
                    if batches == 1 {
                        crate::crash::point("replay:mid");
                    }
                    ctx.emit(Event::Progress {
                        what: format!("replayed {}", names.join(", ")),
                        done: applied_total,
                        total: pending.len() as u64,
                    });
                    if batches % 20 == 0 {
                        renew_all(ctx, &rec.components, owner);
                    }
                }
                // A write refused on a row the business deleted later in the same journal
                // (its parent is in a component not rolled back, say) leaves nothing
                // missing: the row's final state is "absent" either way.
                let mut deleted_at: BTreeMap<(String, String), i64> = BTreeMap::new();
                for (seq, _, p) in &items {
                    if let Planned::Apply(ApplyOp::Delete { table, key }) = p {
                        deleted_at.insert((table.clone(), replay::key_text(key)), *seq);
                    }
                }
                let mut moot = 0;
                // Gaps of every batch, including those applied before a restart.
                for (_, json) in engine.replay_log(&tag)? {
                    let gaps: Vec<Gap> = serde_json::from_str(&json)
                        .map_err(|e| Error::Internal(format!("replay log unreadable: {e}")))?;
                    for g in gaps {
                        let later_deleted = deleted_at
                            .get(&(g.table.clone(), g.key.clone()))
                            .is_some_and(|d| *d > g.seq);
                        if later_deleted && !g.partial && g.op != crate::journal::Op::Delete {
                            moot += 1;
                        } else {
                            rec.gaps.push(g);
                        }
                    }
                }
                if moot > 0 {
                    rec.notes.push(format!(
                        "{moot} refused writes were to rows the business deleted later; those rows are absent, as the business left them"
                    ));
                }
            }
            for g in &rec.gaps {
                ctx.emit(Event::DataGap {
                    rollback: rec.id.clone(),
                    table: g.table.clone(),
                    key: g.key.clone(),
                    reason: g.reason.clone(),
                    code: crate::events::GapCode::of(g),
                });
            }
            for c in &rec.conflicts {
                ctx.emit(Event::Conflict {
                    rollback: rec.id.clone(),
                    table: c.table.clone(),
                    key: c.key.clone(),
                    columns: c.columns.clone(),
                });
            }
            rec.figures.lost = rec.gaps.len() as u64;
            rec.figures.recovered = rec.figures.at_risk.saturating_sub(rec.figures.lost);
            rec.figures.conflicts = rec.conflicts.len() as u64;
            rec.figures.review = rec.to_review().count() as u64;
            ctx.audit("replay", serde_json::json!({"rollback": rec.id, "applied": applied_total, "gaps": rec.gaps.len(), "review": rec.figures.review}), "ok")?;
            Ok(format!(
                "{} of {} business writes carried back, {} gaps, {} conflicts, {} to review",
                rec.figures.recovered,
                rec.figures.at_risk,
                rec.figures.lost,
                rec.figures.conflicts,
                rec.figures.review
            ))
        }
        Phase::Verify => {
            let mut proof = Proof::default();
            for l in &loaded {
                proof.tables.extend(prove(ctx, rec, l)?);
                let mut engine = ctx.engine(&l.component.database)?;
                proof
                    .invariants
                    .extend(verify::invariants(ctx, engine.as_mut(), &l.component)?);
                if let (Some(d), Some(db)) = (
                    ctx.connector.differ(),
                    ctx.plan.databases.get(&l.component.database),
                ) {
                    proof.orphans.extend(d.orphans(db, &l.component.tables)?);
                }
            }
            for o in &proof.orphans {
                rec.notes.push(format!("referential integrity: {o}"));
            }
            let ok = proof.ok();
            let diffs: u64 = proof.tables.iter().map(|t| t.differences).sum();
            let broken = proof.invariants.iter().filter(|i| !i.ok).count();
            rec.proof = Some(proof);
            ctx.audit(
                "verify",
                serde_json::json!({"rollback": rec.id}),
                if ok { "ok" } else { "failed" },
            )?;
            Ok(format!(
                "row-by-row proof: {diffs} differences; invariants: {broken} broken"
            ))
        }
        Phase::SwitchBack => {
            // Invariant 6: traffic only moves back after verification passed.
            if rec.proof.as_ref().is_some_and(Proof::ok) {
                Ok("no traffic switches in this plan; nothing to move".into())
            } else {
                rec.notes
                    .push("traffic was not switched back: verification did not pass".into());
                Ok("skipped: verification did not pass".into())
            }
        }
        Phase::Unfreeze => {
            for l in &loaded {
                ctx.engine(&l.component.database)?
                    .unfreeze(&l.component.tables)?;
                ctx.engine(&l.component.capture_database)?
                    .unfreeze(&l.component.captured_tables())?;
            }
            ctx.audit("unfreeze", serde_json::json!({"rollback": rec.id}), "ok")?;
            Ok("writes allowed again".into())
        }
        Phase::Report => {
            if zero_recovered(rec) {
                rec.notes.push(format!("{} business writes were at risk and none was carried back: this rollback failed", rec.figures.at_risk));
            }
            Ok(format!(
                "{} at risk, {} recovered, {} lost, recovery rate {:.1}%",
                rec.figures.at_risk,
                rec.figures.recovered,
                rec.figures.lost,
                rec.figures.recovery_rate() * 100.0
            ))
        }
    }
}

/// Tables in the order they are restored: a parent before the tables whose foreign keys
/// point at it (so an interrupted restore never leaves children restored over missing
/// parents), then the seeds' restoration tiers (critical components first). A cycle of
/// foreign keys falls back to the tiers alone.
fn restore_order<'a>(
    ctx: &Ctx,
    loaded: &'a [Loaded],
) -> Result<Vec<(&'a Loaded, &'a crate::store::TableEntry)>> {
    let mut all: Vec<(&Loaded, &crate::store::TableEntry)> = loaded
        .iter()
        .flat_map(|l| l.entry().tables.iter().map(move |t| (l, t)))
        .collect();
    all.sort_by_key(|(l, _)| l.component.priority);
    let mut edges: Vec<(String, String, String)> = Vec::new();
    if let Some(d) = ctx.connector.differ() {
        let dbs: std::collections::BTreeSet<&String> =
            loaded.iter().map(|l| &l.component.database).collect();
        for db in dbs {
            if let Some(plan_db) = ctx.plan.databases.get(db) {
                for (child, parent) in d.foreign_keys(plan_db)? {
                    if child != parent {
                        edges.push((db.clone(), child, parent));
                    }
                }
            }
        }
    }
    let key = |(l, t): &(&Loaded, &crate::store::TableEntry)| {
        (l.component.database.clone(), t.schema.name.clone())
    };
    let mut out = Vec::with_capacity(all.len());
    let mut done: std::collections::BTreeSet<(String, String)> = Default::default();
    while !all.is_empty() {
        // The first (in tier order) whose restored parents are all restored already.
        let ready = all.iter().position(|x| {
            let (db, name) = key(x);
            edges.iter().all(|(d, child, parent)| {
                *d != db
                    || *child != name
                    || done.contains(&(d.clone(), parent.clone()))
                    || !all.iter().any(|y| key(y) == (d.clone(), parent.clone()))
            })
        });
        let next = all.remove(ready.unwrap_or(0));
        done.insert(key(&next));
        out.push(next);
    }
    Ok(out)
}

/// The replay plan of one component, against the restored tables' schemas.
fn plan_replay(ctx: &Ctx, rec: &RollbackRecord, l: &Loaded) -> Result<replay::ReplayPlan> {
    let upto = *rec
        .drain_to
        .get(&l.component.capture_database)
        .ok_or_else(|| Error::Internal("replay before drain".into()))?;
    let entries = journal_after(ctx, &l.component, &l.entry().journal_mark, Some(upto))?;
    let mut target = ctx.engine(&l.component.database)?;
    let target_kind = target.kind();
    let cross_engine = (l.component.capture_database != l.component.database
        && ctx.engine(&l.component.capture_database)?.kind() != target_kind)
        .then_some(target_kind);
    let targets: BTreeMap<String, TableSchema> = l
        .entry()
        .tables
        .iter()
        .map(|t| (t.schema.name.clone(), t.schema.clone()))
        .collect();
    let mut eval = |exprs: &[String], img: &crate::journal::RowImage| {
        target.eval_exprs(exprs, img).map_err(|e| e.to_string())
    };
    let plan = replay::plan(&entries, &l.component, &targets, cross_engine, &mut eval);
    Ok(plan)
}

/// Rebuilds each table's expected state (checkpoint rows + the business writes that were
/// carried back) and compares it with the table, row by row.
fn prove(ctx: &Ctx, rec: &RollbackRecord, l: &Loaded) -> Result<Vec<TableProof>> {
    let plan = plan_replay(ctx, rec, l)?;
    let gap_seqs: std::collections::BTreeSet<i64> = rec
        .gaps
        .iter()
        .filter(|g| !g.partial)
        .map(|g| g.seq)
        .collect();
    let applied: Vec<&ApplyOp> = plan
        .items
        .iter()
        .filter_map(|(seq, p)| match p {
            Planned::Apply(op) if !gap_seqs.contains(seq) => Some(op),
            _ => None,
        })
        .collect();
    let ops_of = |table: &str| -> Vec<&ApplyOp> {
        applied
            .iter()
            .copied()
            .filter(|op| op.table() == table)
            .collect()
    };
    let expected_in_memory = |t: &crate::store::TableEntry| -> Result<Expected> {
        let rows = ctx
            .store
            .rows(&l.manifest.id, t)
            .collect::<Result<Vec<_>>>()?;
        let mut e = Expected::from_rows(t.schema.clone(), rows);
        for op in ops_of(&t.schema.name) {
            e.apply(op);
        }
        Ok(e)
    };
    // The checkpoint's rows stream, with the replayed writes laid over them, against the
    // table read in key order: memory stays bounded whatever the table's size. Only when
    // the keys cannot be ordered the same way on both sides is the expected state built
    // in memory and handed to the range-checksum diff.
    if let (Some(differ), Some(db)) = (
        ctx.connector.differ(),
        ctx.plan.databases.get(&l.component.database),
    ) {
        let mut out = Vec::new();
        for t in &l.entry().tables {
            let ops = ops_of(&t.schema.name);
            let c = match verify::stream_proof(ctx, differ, db, &l.manifest.id, t, &ops)? {
                Some(c) => c,
                None => {
                    let (schema, rows, columns) = verify::known_rows(expected_in_memory(t)?);
                    verify::TableCheck {
                        rows_held_peak: rows.len() as u64,
                        ..differ.compare(db, &schema, rows, &columns)?
                    }
                }
            };
            out.push(TableProof {
                component: l.component.name.clone(),
                table: t.schema.name.clone(),
                rows: c.rows,
                differences: c.differences,
                examples: c.examples,
                rows_held_peak: c.rows_held_peak,
            });
        }
        return Ok(out);
    }
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for t in &l.entry().tables {
        expected.insert(t.schema.name.clone(), expected_in_memory(t)?);
    }
    let mut engine = ctx.engine(&l.component.database)?;
    let mut collect = Collect::default();
    engine.snapshot(&l.component.tables, &mut collect)?;
    let mut out = Vec::new();
    for (schema, rows) in collect.tables {
        let exp = &expected[&schema.name];
        let (examples, differences) = exp.compare(&rows, 20);
        out.push(TableProof {
            component: l.component.name.clone(),
            table: schema.name.clone(),
            rows: rows.len() as u64,
            differences,
            examples,
            rows_held_peak: rows.len() as u64,
        });
    }
    Ok(out)
}
