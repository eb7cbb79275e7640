//! The cutover: moving a component's traffic to the new side with legacy kept current by
//! the sync. A persisted phase list like a rollback's: each phase is recorded before it
//! acts and after, so `cutover --resume` after a crash continues where it stopped.
//!
//! Legacy is frozen *before* the switches move and before the sync's starting mark is
//! read: a write still routed to legacy in that window is refused (the application
//! retries after reading the switch again), never accepted on a side nothing carries
//! forward. The verify compares the two sides with legacy frozen, so the mark that
//! follows is a point where legacy holds everything the new side holds.

use crate::context::{Ctx, new_id, now};
use crate::engine::Engine;
use crate::journal::JournalMark;
use crate::rollback::TableProof;
use crate::state::LockOwner;
use crate::switch::{self, FlipRequest, Position, Side};
use crate::sync;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CutoverPhase {
    Precheck,
    FreezeLegacy,
    Verify,
    Mark,
    Unfence,
    Flip,
    StartSync,
    Report,
}

pub const CUTOVER_PHASES: [CutoverPhase; 8] = [
    CutoverPhase::Precheck,
    CutoverPhase::FreezeLegacy,
    CutoverPhase::Verify,
    CutoverPhase::Mark,
    CutoverPhase::Unfence,
    CutoverPhase::Flip,
    CutoverPhase::StartSync,
    CutoverPhase::Report,
];

impl CutoverPhase {
    pub fn name(self) -> &'static str {
        match self {
            CutoverPhase::Precheck => "precheck",
            CutoverPhase::FreezeLegacy => "freeze_legacy",
            CutoverPhase::Verify => "verify",
            CutoverPhase::Mark => "mark",
            CutoverPhase::Unfence => "unfence",
            CutoverPhase::Flip => "flip",
            CutoverPhase::StartSync => "start_sync",
            CutoverPhase::Report => "report",
        }
    }
    fn next(self) -> Option<CutoverPhase> {
        let i = CUTOVER_PHASES.iter().position(|p| *p == self)?;
        CUTOVER_PHASES.get(i + 1).copied()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CutoverStatus {
    Running {
        phase: CutoverPhase,
    },
    /// Stopped by an error; `cutover --resume` retries the phase.
    Failed {
        phase: CutoverPhase,
        error: String,
    },
    /// The sides differ (or a precheck failed): legacy was unfrozen, nothing moved.
    Refused {
        error: String,
    },
    Completed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CutoverRecord {
    pub id: String,
    pub components: Vec<String>,
    pub reason: String,
    pub actor: String,
    pub status: CutoverStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Seconds each finished phase took.
    pub phase_times: Vec<(CutoverPhase, f64)>,
    /// What the precheck found, one line each.
    pub checks: Vec<String>,
    /// How long the verify waits for the new side to match frozen legacy.
    pub catch_up_seconds: f64,
    pub proof: Vec<TableProof>,
    /// Component → the new side's journal mark the sync starts from.
    pub marks: BTreeMap<String, JournalMark>,
    pub notes: Vec<String>,
}

impl CutoverRecord {
    pub fn unfinished(&self) -> bool {
        matches!(
            self.status,
            CutoverStatus::Running { .. } | CutoverStatus::Failed { .. }
        )
    }
}

pub struct CutoverRequest {
    pub components: Vec<String>,
    pub reason: String,
    /// How long to wait, with legacy frozen, for the new side to match it (the forward
    /// replication's lag) before refusing.
    pub catch_up: Duration,
}

fn lock_name(c: &str) -> String {
    format!("cutover:{c}")
}

/// The unfinished cutover holding any of the named components.
fn unfinished_of(ctx: &mut Ctx, names: &[String]) -> Result<Option<CutoverRecord>> {
    Ok(ctx
        .state
        .cutovers()?
        .into_iter()
        .find(|c| c.unfinished() && c.components.iter().any(|n| names.contains(n))))
}

/// The unfinished cutover whose id is or starts with `id`; the newest when none is named.
fn unfinished_by_id(ctx: &mut Ctx, id: Option<&str>) -> Result<Option<CutoverRecord>> {
    Ok(ctx
        .state
        .cutovers()?
        .into_iter()
        .find(|c| c.unfinished() && id.is_none_or(|i| c.id == i || c.id.starts_with(i))))
}

/// Lets legacy take business writes again.
fn unfreeze_legacy(ctx: &mut Ctx, comps: &[crate::plan::Component]) -> Result<()> {
    for c in comps {
        ctx.engine_installed(&c.database)?.unfreeze(&c.tables)?;
    }
    Ok(())
}

/// The component's captured tables the engine holds frozen.
fn frozen_captured(e: &mut dyn Engine, c: &crate::plan::Component) -> Result<Vec<String>> {
    let frozen = e.frozen_tables()?;
    Ok(c.captured_tables()
        .into_iter()
        .filter(|t| frozen.contains(t))
        .collect())
}

/// Starts a cutover of the components (all when none is named).
pub fn start(ctx: &mut Ctx, req: &CutoverRequest) -> Result<CutoverRecord> {
    let names: Vec<String> = ctx
        .components(&req.components)?
        .into_iter()
        .map(|c| c.name)
        .collect();
    if let Some(c) = unfinished_of(ctx, &names)? {
        return Err(Error::Held(format!(
            "cutover {} of {} did not finish; continue it with `ripcord cutover --resume {}`",
            c.id,
            c.components.join(", "),
            c.id
        )));
    }
    let mut rec = CutoverRecord {
        id: new_id("co"),
        components: names,
        reason: req.reason.clone(),
        actor: ctx.actor.clone(),
        status: CutoverStatus::Running {
            phase: CutoverPhase::Precheck,
        },
        started_at: now(),
        finished_at: None,
        phase_times: Vec::new(),
        checks: Vec::new(),
        catch_up_seconds: req.catch_up.as_secs_f64(),
        proof: Vec::new(),
        marks: BTreeMap::new(),
        notes: Vec::new(),
    };
    ctx.state.save_cutover(&rec)?;
    ctx.audit(
        "cutover.start",
        serde_json::json!({"cutover": rec.id, "components": rec.components, "reason": rec.reason}),
        "started",
    )?;
    drive(ctx, &mut rec)?;
    Ok(rec)
}

/// Continues an unfinished cutover: the one named, or the newest.
pub fn resume(ctx: &mut Ctx, id: Option<&str>) -> Result<CutoverRecord> {
    let mut rec = unfinished_by_id(ctx, id)?
        .ok_or_else(|| Error::Usage("there is no unfinished cutover to resume".into()))?;
    if let CutoverStatus::Failed { phase, .. } = rec.status {
        rec.status = CutoverStatus::Running { phase };
    }
    ctx.audit(
        "cutover.resume",
        serde_json::json!({"cutover": rec.id, "status": rec.status}),
        "resuming",
    )?;
    drive(ctx, &mut rec)?;
    Ok(rec)
}

/// Gives up an unfinished cutover whose switches have not moved: legacy is unfrozen and
/// takes traffic as before. Once a switch reads the new side, traffic is there: resume the
/// cutover or roll back instead.
pub fn abandon(ctx: &mut Ctx, id: &str, reason: &str) -> Result<CutoverRecord> {
    let mut rec = unfinished_by_id(ctx, Some(id))?
        .ok_or_else(|| Error::Usage(format!("no unfinished cutover {id:?}")))?;
    let status = switch::status(ctx, &rec.components)?;
    let moved: Vec<String> = status
        .iter()
        .filter(|s| !matches!(s.position, Some(Position::Legacy)))
        .map(|s| s.name.clone())
        .collect();
    if !moved.is_empty() {
        return Err(Error::Usage(format!(
            "cutover {}: switches {} do not read legacy; traffic may be on the new side, so resume the cutover (`ripcord cutover --resume {}`) and roll back if needed",
            rec.id,
            moved.join(", "),
            rec.id
        )));
    }
    // A flip cut short while every switch still reads legacy: complete it back to legacy,
    // so the record agrees with the switch.
    for st in status.iter().filter(|s| s.pending.is_some()) {
        if let Some(sw) = ctx.plan.switch(&st.name).cloned() {
            switch::flip(
                ctx,
                &sw,
                &FlipRequest {
                    to: Side::Legacy,
                    stage: None,
                    reason,
                    rollback: None,
                },
            )?;
        }
    }
    let comps = ctx.components(&rec.components)?;
    unfreeze_legacy(ctx, &comps)?;
    rec.status = CutoverStatus::Refused {
        error: format!("abandoned by {}: {reason}", ctx.actor),
    };
    rec.finished_at = Some(now());
    ctx.state.save_cutover(&rec)?;
    ctx.audit(
        "cutover.abandon",
        serde_json::json!({"cutover": rec.id, "reason": reason}),
        "legacy unfrozen, no switch moved",
    )?;
    Ok(rec)
}

/// Lifts the fence a switch-path rollback left on the new side, so it can be re-based from
/// legacy before a second cutover. Only while traffic is on legacy: every switch of the
/// component reads legacy, no flip is unfinished, no sync carries writes and no rollback
/// or cutover is unfinished. Audited. The cutover that follows still proves both sides
/// agree before any switch moves. Returns the tables unfrozen.
pub fn unfence(ctx: &mut Ctx, components: &[String], reason: &str) -> Result<Vec<String>> {
    let comps = ctx.components(components)?;
    let names: Vec<String> = comps.iter().map(|c| c.name.clone()).collect();
    if let Some(r) = ctx
        .state
        .rollbacks()?
        .into_iter()
        .find(|r| r.unfinished() && r.components.iter().any(|n| names.contains(n)))
    {
        return Err(Error::Held(format!(
            "rollback {} of {} is unfinished; resume or abandon it first",
            r.id,
            r.components.join(", ")
        )));
    }
    if let Some(c) = unfinished_of(ctx, &names)? {
        return Err(Error::Held(format!(
            "cutover {} of {} did not finish; resume or abandon it first",
            c.id,
            c.components.join(", ")
        )));
    }
    let mut problems = Vec::new();
    for c in &comps {
        if c.capture_database == c.database {
            problems.push(format!(
                "{}: captures in its own database {}; there is no new side to unfence",
                c.name, c.database
            ));
            continue;
        }
        if let Some(s) = sync::record(ctx, &c.name)?
            && s.state.active()
        {
            problems.push(format!(
                "{}: its sync is {}: the new side is primary, not fenced",
                c.name, s.state
            ));
        }
        for st in switch::status(ctx, std::slice::from_ref(&c.name))? {
            if st.pending.is_some() || st.position != Some(Position::Legacy) {
                problems.push(format!(
                    "{}: switch {} {}; traffic may reach the new side",
                    c.name,
                    st.name,
                    match (&st.pending, &st.position, &st.read_error) {
                        (Some(p), _, _) => format!("has an unfinished flip to {}", p.target()),
                        (_, _, Some(e)) => format!("cannot be read ({e})"),
                        (_, Some(p), _) => format!("reads {p}"),
                        _ => "cannot be read".into(),
                    }
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Verify(format!(
            "unfence refused, nothing changed:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    let thawed = unfence_new_side(ctx, &comps)?;
    ctx.audit(
        "cutover.unfence",
        serde_json::json!({"components": names, "tables": thawed, "reason": reason}),
        if thawed.is_empty() {
            "the new side was not fenced"
        } else {
            "new side unfenced for a re-base; traffic on legacy"
        },
    )?;
    Ok(thawed)
}

/// Unfreezes the components' tables the new side holds frozen (a rollback's fence), as
/// `database.table`.
fn unfence_new_side(ctx: &mut Ctx, comps: &[crate::plan::Component]) -> Result<Vec<String>> {
    let mut thawed = Vec::new();
    for c in comps {
        let mut e = ctx.engine_installed(&c.capture_database)?;
        let fenced = frozen_captured(e.as_mut(), c)?;
        if !fenced.is_empty() {
            e.unfreeze(&fenced)?;
            thawed.extend(fenced.iter().map(|t| format!("{}.{t}", c.capture_database)));
        }
    }
    Ok(thawed)
}

fn drive(ctx: &mut Ctx, rec: &mut CutoverRecord) -> Result<()> {
    let owner = LockOwner::current(&ctx.actor);
    let mut held: Vec<String> = Vec::new();
    for c in &rec.components {
        if let Err(e) = ctx
            .state
            .acquire_lock(&lock_name(c), &owner, Duration::from_secs(300))
        {
            for h in &held {
                let _ = ctx.state.release_lock(&lock_name(h), &owner);
            }
            return Err(e);
        }
        held.push(c.clone());
    }
    let result = drive_locked(ctx, rec);
    for h in &held {
        let _ = ctx.state.release_lock(&lock_name(h), &owner);
    }
    result
}

fn drive_locked(ctx: &mut Ctx, rec: &mut CutoverRecord) -> Result<()> {
    while let CutoverStatus::Running { phase } = rec.status.clone() {
        let t = Instant::now();
        ctx.state.log_phase(&rec.id, phase.name(), "intent", "")?;
        crate::crash::point(&format!("cutover:{}:before", phase.name()));
        match run_phase(ctx, rec, phase) {
            Ok(detail) => {
                rec.phase_times.retain(|(p, _)| *p != phase);
                rec.phase_times.push((phase, t.elapsed().as_secs_f64()));
                rec.status = match phase.next() {
                    Some(n) => CutoverStatus::Running { phase: n },
                    None => CutoverStatus::Completed,
                };
                ctx.state
                    .log_phase(&rec.id, phase.name(), "done", &detail)?;
                ctx.state.save_cutover(rec)?;
                crate::crash::point(&format!("cutover:{}:after", phase.name()));
            }
            Err(stop) => {
                let (e, refused) = match stop {
                    Refusal::Refused(e) => (e, true),
                    Refusal::Failed(e) => (e, false),
                };
                let msg = crate::redact::scrub(&e.to_string());
                if refused {
                    rec.status = CutoverStatus::Refused { error: msg.clone() };
                    rec.finished_at = Some(now());
                } else {
                    rec.status = CutoverStatus::Failed {
                        phase,
                        error: msg.clone(),
                    };
                }
                ctx.state.log_phase(&rec.id, phase.name(), "failed", &msg)?;
                ctx.state.save_cutover(rec)?;
                ctx.audit(
                    if refused {
                        "cutover.refused"
                    } else {
                        "cutover.failed"
                    },
                    serde_json::json!({"cutover": rec.id, "phase": phase.name()}),
                    &msg,
                )?;
                return Err(e);
            }
        }
    }
    rec.finished_at = Some(now());
    ctx.state.save_cutover(rec)?;
    ctx.audit(
        "cutover.finish",
        serde_json::json!({"cutover": rec.id, "components": rec.components, "marks": rec.marks}),
        "traffic on the new side, legacy frozen, sync started",
    )?;
    Ok(())
}

/// A phase that fails either refuses the cutover (nothing moved, legacy writable again)
/// or stops it where `--resume` can continue.
enum Refusal {
    Refused(Error),
    Failed(Error),
}

impl<E: Into<Error>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Failed(e.into())
    }
}

fn run_phase(
    ctx: &mut Ctx,
    rec: &mut CutoverRecord,
    phase: CutoverPhase,
) -> std::result::Result<String, Refusal> {
    let comps = ctx.components(&rec.components)?;
    match phase {
        CutoverPhase::Precheck => precheck(ctx, rec).map_err(Refusal::Refused),
        CutoverPhase::FreezeLegacy => {
            for c in &comps {
                ctx.engine_installed(&c.database)?.freeze(&c.tables)?;
            }
            ctx.audit(
                "cutover.freeze_legacy",
                serde_json::json!({"cutover": rec.id}),
                "legacy frozen",
            )?;
            Ok("legacy tables refuse business writes".into())
        }
        CutoverPhase::Verify => verify(ctx, rec),
        CutoverPhase::Mark => {
            for c in &comps {
                if !rec.marks.contains_key(&c.name) {
                    let m = ctx.engine_installed(&c.capture_database)?.journal_mark()?;
                    rec.marks.insert(c.name.clone(), m);
                }
            }
            Ok(format!(
                "sync starts after {}",
                rec.marks
                    .iter()
                    .map(|(c, m)| format!("{c}: #{}", m.high))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        CutoverPhase::Unfence => {
            let thawed = unfence_new_side(ctx, &comps)?;
            Ok(if thawed.is_empty() {
                "the new side was not fenced".into()
            } else {
                format!("new side unfenced: {}", thawed.join(", "))
            })
        }
        CutoverPhase::Flip => {
            let switches: Vec<crate::plan::Switch> = ctx
                .plan
                .switches_of(&rec.components)
                .into_iter()
                .cloned()
                .collect();
            let records = ctx.state.switches()?;
            let mut moved = Vec::new();
            for sw in &switches {
                let done = records.iter().any(|r| {
                    r.name == sw.name
                        && r.pending.is_none()
                        && matches!(r.position, Some(Position::New { .. }))
                        && r.last.as_ref().is_some_and(|l| l.flip.reason == rec.id)
                });
                if done {
                    moved.push(format!("{} (already)", sw.name));
                    continue;
                }
                switch::flip(
                    ctx,
                    sw,
                    &FlipRequest {
                        to: Side::New,
                        stage: None,
                        reason: &rec.id,
                        rollback: None,
                    },
                )?;
                moved.push(sw.name.clone());
            }
            Ok(format!("switches on the new side: {}", moved.join(", ")))
        }
        CutoverPhase::StartSync => {
            let mut started = Vec::new();
            for c in &comps {
                let fresh = sync::record(ctx, &c.name)?
                    .is_some_and(|r| r.cutover.as_deref() == Some(rec.id.as_str()));
                if !fresh {
                    let mark = rec.marks[&c.name].clone();
                    sync::begin(ctx, &c.name, mark, &rec.id)?;
                }
                started.push(c.name.clone());
            }
            Ok(format!(
                "sync marked running for {} (`ripcord sync start` or `ripcord watch` applies it)",
                started.join(", ")
            ))
        }
        CutoverPhase::Report => Ok(format!(
            "{} cut over; legacy frozen and kept current by the sync",
            rec.components.join(", ")
        )),
    }
}

/// Before anything changes: separate sides, capture armed on the new side, an engine that
/// can follow its journal live, switches to move, no rollback or sync holding the
/// component, invariants green.
fn precheck(ctx: &mut Ctx, rec: &mut CutoverRecord) -> Result<String> {
    let comps = ctx.components(&rec.components)?;
    let rollbacks = ctx.state.rollbacks()?;
    let mut problems = Vec::new();
    rec.checks.clear();
    for c in &comps {
        if c.capture_database == c.database {
            problems.push(format!(
                "{}: captures in its own database {}; a cutover needs the new side in another database (`capture_database`)",
                c.name, c.database
            ));
            continue;
        }
        let sync_rec = sync::record(ctx, &c.name)?;
        if let Some(r) = rollbacks
            .iter()
            .find(|r| r.unfinished() && r.components.contains(&c.name))
        {
            problems.push(format!(
                "{}: rollback {} is unfinished; resume or abandon it first",
                c.name, r.id
            ));
        }
        if let Some(s) = &sync_rec
            && s.state.active()
            && s.cutover.as_deref() != Some(rec.id.as_str())
        {
            problems.push(format!(
                "{}: already cut over (its sync is {}); roll back before cutting over again",
                c.name, s.state
            ));
        }
        let mut new = ctx.engine_installed(&c.capture_database)?;
        let fenced = frozen_captured(new.as_mut(), c)?;
        if !fenced.is_empty() {
            let why = match sync_rec.as_ref().map(|s| &s.state) {
                Some(sync::SyncState::Ended { rollback }) => format!(
                    "is fenced since rollback {rollback} moved traffic back to legacy: it has refused every write since, so it lacks what legacy took meanwhile and cutting over would serve stale rows"
                ),
                _ => "is frozen (an earlier rollback's fence or freeze)".to_string(),
            };
            problems.push(format!(
                "{}: the new side {} ({}) {why}. Re-base it first: `ripcord cutover --unfence -c {} --reason \"…\"` lifts the fence (traffic stays on legacy), bring the new side up to date from legacy (your migration or forward replication), then cut over again; its verify proves both sides agree before any switch moves",
                c.name,
                c.capture_database,
                fenced.join(", "),
                c.name
            ));
        }
        if ctx
            .plan
            .switches_of(std::slice::from_ref(&c.name))
            .is_empty()
        {
            problems.push(format!(
                "{}: the plan has no [switches.NAME] for it, so no traffic would move",
                c.name
            ));
        }
        let armed = new.captured_tables()?;
        let missing: Vec<String> = c
            .captured_tables()
            .into_iter()
            .filter(|t| !armed.contains(t))
            .collect();
        if missing.is_empty() {
            rec.checks.push(format!(
                "{}: capture armed on {} ({})",
                c.name,
                c.capture_database,
                c.captured_tables().join(", ")
            ));
        } else {
            problems.push(format!(
                "{}: capture is not armed on {} for {} (run `ripcord capture start -c {}`)",
                c.name,
                c.capture_database,
                missing.join(", "),
                c.name
            ));
        }
        if new.journal_inflight()?.is_none() {
            problems.push(format!(
                "{}: the {} engine cannot follow its journal live, so no sync could vouch for it",
                c.name,
                new.kind()
            ));
        }
        let mut legacy = ctx.engine_installed(&c.database)?;
        for i in crate::verify::invariants(ctx, legacy.as_mut(), c)? {
            if i.ok {
                rec.checks
                    .push(format!("{}: invariant {} holds", c.name, i.name));
            } else {
                problems.push(format!(
                    "{}: invariant {} is broken: {}",
                    c.name, i.name, i.detail
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::Verify(format!(
            "cutover refused, nothing changed:\n  - {}",
            problems.join("\n  - ")
        )));
    }
    Ok(format!("{} checks passed", rec.checks.len()))
}

/// With legacy frozen, the two sides must hold the same rows; the new side may still be
/// catching up (the forward replication's lag), so this looks again until `catch_up`.
/// Still different: legacy is unfrozen and the cutover refused.
fn verify(ctx: &mut Ctx, rec: &mut CutoverRecord) -> std::result::Result<String, Refusal> {
    let comps = ctx.components(&rec.components)?;
    let t = Instant::now();
    let catch_up = Duration::from_secs_f64(rec.catch_up_seconds);
    loop {
        let mut proof = Vec::new();
        for c in &comps {
            proof.extend(sync::compare_sides(ctx, c)?);
        }
        let diffs: u64 = proof.iter().map(|p| p.differences).sum();
        let count_only: Vec<String> = proof
            .iter()
            .filter_map(|p| match &p.checked {
                crate::rollback::Checked::CountOnly { why } => Some(format!("{}: {why}", p.table)),
                crate::rollback::Checked::Contents { .. } => None,
            })
            .collect();
        rec.proof = proof;
        // Waiting cannot help: the comparison itself falls short.
        if !count_only.is_empty() {
            unfreeze_legacy(ctx, &comps)?;
            return Err(Refusal::Refused(Error::Verify(format!(
                "cutover refused: ripcord cannot compare the values of {} (only row counts), so it cannot vouch that legacy holds what the new side holds; legacy was unfrozen, no switch moved",
                count_only.join("; ")
            ))));
        }
        if diffs == 0 {
            return Ok(format!(
                "legacy and the new side agree ({} tables)",
                rec.proof.len()
            ));
        }
        if t.elapsed() >= catch_up {
            unfreeze_legacy(ctx, &comps)?;
            let examples: Vec<String> = rec
                .proof
                .iter()
                .flat_map(|p| p.examples.iter().take(5).cloned())
                .collect();
            return Err(Refusal::Refused(Error::Verify(format!(
                "cutover refused: legacy and the new side still differ after {:.0} s ({diffs} differences: {}); legacy was unfrozen, no switch moved",
                catch_up.as_secs_f64(),
                examples.join("; ")
            ))));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
