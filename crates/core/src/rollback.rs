//! The rollback: a persisted state machine. Each phase records its intent before it acts and
//! its result after; the record (a serde-tagged status) is saved at every boundary, so
//! `--resume` after a crash continues where it stopped. Restore is skipped for tables whose
//! restore committed (the target says so), and replay continues from the position stored in
//! the target with the rows it applied, so nothing is restored twice over newer data and no
//! write is applied twice.

use crate::checkpoint;
use crate::context::{Ctx, new_id, now};
use crate::engine::{ApplyOp, ReplayPosition, RestoreOptions};
use crate::events::Event;
use crate::journal::{JournalEntry, JournalMark, Origin};
use crate::plan::Component;
use crate::replay::{self, Conflict, Expected, Gap, Planned};
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
}

impl RollbackRecord {
    pub fn total_seconds(&self) -> f64 {
        self.phase_times.iter().map(|p| p.seconds).sum()
    }
    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Completed { ok: true })
    }
}

/// What a rollback would do, computed without touching anything (`--dry-run` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct RollbackPlan {
    pub components: Vec<PlannedComponent>,
    pub rto_seconds: f64,
    /// A rough figure: restore at 50,000 rows/s and replay at 2,000 writes/s.
    pub expected_seconds: f64,
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
    let mut rto: f64 = 0.0;
    let (mut rows_total, mut writes_total) = (0u64, 0u64);
    for c in &comps {
        let m = checkpoint::find(ctx, &c.name, req.to.as_deref())?;
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
    })
}

/// Starts a rollback. `approve` is asked once, after assessment, and returns the name of
/// whoever approved, or `None` to abandon.
pub fn start(
    ctx: &mut Ctx,
    req: &Request,
    approve: &mut dyn FnMut(&RollbackPlan) -> Option<String>,
) -> Result<RollbackRecord> {
    let plan = assess(ctx, req)?;
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
    };
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    ctx.state.save_rollback(&rec)?;
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
    drive(ctx, &mut rec, &owner, approval)?;
    Ok(rec)
}

/// Continues the newest rollback that did not complete. `approval` is used only when the
/// interrupted rollback had not been approved yet.
pub fn resume(ctx: &mut Ctx, approval: Option<String>) -> Result<RollbackRecord> {
    let mut rec = ctx
        .state
        .rollbacks()?
        .into_iter()
        .find(|r| !matches!(r.status, Status::Completed { .. }) || r.finished_at.is_none())
        .ok_or_else(|| Error::Usage("there is no unfinished rollback to resume".into()))?;
    let owner = LockOwner::current(&ctx.actor);
    lock_all(ctx, &rec, &owner)?;
    if let Status::Failed { phase, .. } = rec.status {
        rec.status = Status::Running { phase };
    }
    ctx.audit(
        "rollback.resume",
        serde_json::json!({"rollback": rec.id, "status": rec.status}),
        "resuming",
    )?;
    let approval = rec.approved_by.clone().or(approval);
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
        let result = run_phase(ctx, rec, phase, &approval);
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
                            && !zero_recovered(rec),
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
                });
                crate::crash::point(&format!("{}:after", phase.name()));
                let _ = ctx.state.renew_lock(
                    &format!("rollback:{}", rec.components[0]),
                    owner,
                    lease(),
                );
            }
            Err(e) => {
                let msg = crate::redact::scrub(&e.to_string());
                rec.status = Status::Failed {
                    phase,
                    error: msg.clone(),
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
            for l in &loaded {
                let mut engine = ctx.engine(&l.component.database)?;
                let captured_here = l.component.capture_database == l.component.database;
                for t in &l.entry().tables {
                    let tag = format!("{}:{}", rec.id, t.schema.name);
                    if engine.restore_done(&tag)? {
                        skipped += 1;
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
            for l in &loaded {
                let plan = plan_replay(ctx, rec, l)?;
                let mut engine = ctx.engine(&l.component.database)?;
                let tag = format!("{}:{}", rec.id, l.component.name);
                let done_to = engine.replay_position(&tag)?.unwrap_or(i64::MIN);
                let pending: Vec<&(i64, Planned)> =
                    plan.items.iter().filter(|(s, _)| *s > done_to).collect();
                let mut batches = 0;
                for batch in pending.chunks(BATCH) {
                    let ops: Vec<(i64, ApplyOp)> = batch
                        .iter()
                        .filter_map(|(s, p)| {
                            if let Planned::Apply(op) = p {
                                Some((*s, op.clone()))
                            } else {
                                None
                            }
                        })
                        .collect();
                    let in_batch: std::collections::BTreeSet<i64> =
                        batch.iter().map(|(s, _)| *s).collect();
                    let planned_gaps: Vec<Gap> = batch
                        .iter()
                        .filter_map(|(_, p)| {
                            if let Planned::Gap(g) = p {
                                Some(g.clone())
                            } else {
                                None
                            }
                        })
                        .chain(
                            plan.partial_gaps
                                .iter()
                                .filter(|g| in_batch.contains(&g.seq))
                                .cloned(),
                        )
                        .collect();
                    let only_ops: Vec<ApplyOp> = ops.iter().map(|(_, o)| o.clone()).collect();
                    let pos = ReplayPosition {
                        rollback: tag.clone(),
                        last_seq: batch.last().expect("non-empty").0,
                    };
                    let comp = l.component.name.clone();
                    let summarize = |outcomes: &[crate::engine::ApplyOutcome]| {
                        let mut gaps = planned_gaps.clone();
                        for ((seq, op), o) in ops.iter().zip(outcomes) {
                            gaps.extend(replay::outcome_gap(&comp, *seq, op, o));
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
                        what: format!("replayed {}", l.component.name),
                        done: applied_total,
                        total: pending.len() as u64,
                    });
                }
                // Gaps of every batch, including those applied before a restart.
                for (_, json) in engine.replay_log(&tag)? {
                    let gaps: Vec<Gap> = serde_json::from_str(&json)
                        .map_err(|e| Error::Internal(format!("replay log unreadable: {e}")))?;
                    rec.gaps.extend(gaps);
                }
                rec.conflicts.extend(plan.conflicts.clone());
                for (t, cols) in plan.unmapped_columns {
                    rec.unmapped_columns.insert(t, cols.into_iter().collect());
                }
            }
            for g in &rec.gaps {
                ctx.emit(Event::DataGap {
                    rollback: rec.id.clone(),
                    table: g.table.clone(),
                    key: g.key.clone(),
                    reason: g.reason.clone(),
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
            ctx.audit("replay", serde_json::json!({"rollback": rec.id, "applied": applied_total, "gaps": rec.gaps.len()}), "ok")?;
            Ok(format!(
                "{} of {} business writes carried back, {} gaps, {} conflicts",
                rec.figures.recovered, rec.figures.at_risk, rec.figures.lost, rec.figures.conflicts
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
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    for t in &l.entry().tables {
        let rows = ctx
            .store
            .rows(&l.manifest.id, t)
            .collect::<Result<Vec<_>>>()?;
        expected.insert(
            t.schema.name.clone(),
            Expected::from_rows(t.schema.clone(), rows),
        );
    }
    for (seq, p) in &plan.items {
        if let Planned::Apply(op) = p
            && !gap_seqs.contains(seq)
            && let Some(e) = expected.get_mut(op.table())
        {
            e.apply(op);
        }
    }
    // The diff engine compares checksums per key range in the database and downloads only
    // ranges that differ; without one, the whole table is read back and compared here.
    if let (Some(differ), Some(db)) = (
        ctx.connector.differ(),
        ctx.plan.databases.get(&l.component.database),
    ) {
        let mut out = Vec::new();
        for (name, exp) in expected {
            let (schema, rows, columns) = verify::known_rows(exp);
            let c = differ.compare(db, &schema, rows, &columns)?;
            out.push(TableProof {
                component: l.component.name.clone(),
                table: name,
                rows: c.rows,
                differences: c.differences,
                examples: c.examples,
            });
        }
        return Ok(out);
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
        });
    }
    Ok(out)
}
