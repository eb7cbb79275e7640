//! Continuous reverse sync: after a cutover, the new side's journal is applied to the legacy
//! tables through the component's reverse mappings and the rollback's exactly-once
//! [`replay::Applier`], under the sync's own tag, so legacy stays current and a rollback is
//! a switch flip.
//!
//! What makes it exactly-once and gap-free while writers run:
//! - the applied position lives in the legacy database, committed with the rows
//!   (`Engine::apply`), so a kill -9 resumes after the last committed batch;
//! - a pass reads only entries at or below a journal mark whose in-flight transactions
//!   have all ended (`Engine::journal_inflight`), so no entry below the position can
//!   commit later and be skipped (invariant 2d);
//! - one process applies a component at a time (lock `sync:{component}`); a rollback takes
//!   the component over (`hand_over`) before it drains the tail.
//!
//! The record in the state store says where the sync started (the cutover's mark), whether
//! it runs, is paused, stopped, failed or was drained by a rollback, and the gaps so far.

use crate::context::{Ctx, now};
use crate::engine::Engine;
use crate::events::{Event, GapReason};
use crate::journal::{JournalEntry, JournalMark, Origin, RowImage};
use crate::plan::{Component, Priority};
use crate::replay::{self, Gap, Planned};
use crate::rollback::TableProof;
use crate::schema::TableSchema;
use crate::state::LockOwner;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const BATCH: usize = 500;
/// How long a sync lock holds without renewal; the loop renews it every pass.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    Running,
    /// `sync pause -c C`: the loop skips the component; its lag grows and shows.
    Paused,
    /// `sync stop`: no loop applies it until `sync start`; a rollback still drains it.
    Stopped,
    /// A write of a critical component could not be applied: stopped loudly. (An older
    /// ripcord stored the failure as a sentence under `error`.)
    Failed {
        #[serde(alias = "error")]
        failure: SyncFailure,
    },
    /// A rollback took it over to drain the tail.
    Draining {
        rollback: String,
    },
    /// A rollback drained it and moved traffic back to legacy; the new side is fenced.
    Ended {
        rollback: String,
    },
}

impl SyncState {
    /// Still carrying (or owing) writes: the new side is, or was last, primary.
    pub fn active(&self) -> bool {
        !matches!(self, SyncState::Ended { .. })
    }
}

impl std::fmt::Display for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncState::Running => f.write_str("running"),
            SyncState::Paused => f.write_str("paused"),
            SyncState::Stopped => f.write_str("stopped"),
            SyncState::Failed { failure } => {
                write!(f, "FAILED: {}", crate::words::sync_failure(failure))
            }
            SyncState::Draining { rollback } => write!(f, "drained by rollback {rollback}"),
            SyncState::Ended { rollback } => write!(f, "ended by rollback {rollback}"),
        }
    }
}

/// Why a sync failed, as data; the edge words it (`console::sync_failure`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "kind", rename_all = "snake_case")]
pub enum SyncFailure {
    /// Business writes of a critical component could not be applied to legacy.
    CriticalGaps {
        component: String,
        gaps: u64,
        /// The first of them: where, and why (a refusal keeps the database's code and
        /// message verbatim).
        table: String,
        key: String,
        seq: i64,
        cause: GapReason,
    },
    /// Recorded by an older ripcord, which said it in a sentence.
    Described { error: String },
}

impl Serialize for SyncFailure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        SyncFailure::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for SyncFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        crate::words::or_sentence(d, SyncFailure::deserialize, |error| {
            SyncFailure::Described { error }
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    pub component: String,
    /// The replay tag in the legacy database (position and gap log are kept under it).
    pub tag: String,
    /// The new side's journal mark at cutover: every business write after it is synced.
    pub from: JournalMark,
    pub cutover: Option<String>,
    pub state: SyncState,
    pub started_at: String,
    pub updated_at: String,
    /// Business writes applied by this record's passes (all processes).
    pub applied: u64,
    /// Every write that could not be carried to legacy so far.
    pub gaps: Vec<Gap>,
    /// The last pass: position reached and lag measured after it.
    pub position: Option<i64>,
    pub lag_rows: u64,
    pub lag_seconds: f64,
    pub last_pass_at: Option<String>,
    /// Each time someone let a failed sync run on past its gaps (`--accept-gap`).
    #[serde(default)]
    pub accepted: Vec<GapAcceptance>,
}

/// An operator's decision to let a failed critical sync run on past its gaps: who, why,
/// when, and how many gaps it covered. The gaps stay in the record (a rollback still
/// reports them as lost).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GapAcceptance {
    pub by: String,
    pub reason: String,
    pub at: String,
    pub gaps: u64,
    /// The failure it lifted (an older ripcord stored its sentence under `error`).
    #[serde(alias = "error")]
    pub failure: SyncFailure,
}

impl SyncRecord {
    /// Why a failed sync may not simply run again, and the two ways out.
    pub fn refusal(&self) -> Option<String> {
        let SyncState::Failed { failure } = &self.state else {
            return None;
        };
        let c = &self.component;
        let error = crate::words::sync_failure(failure);
        Some(format!(
            "the sync of {c} FAILED ({error}); legacy lacks {} business write(s) the new side took, so running on would carry on past a lost write. Ways out: `ripcord rollback -c {c} --reason \"…\"` (moves traffic back and reports the writes as lost), or accept the loss explicitly with `ripcord sync start -c {c} --accept-gap --reason \"…\"` (audited; the writes stay listed as gaps and a rollback still reports them lost). `ripcord sync status -c {c}` lists them.",
            self.gaps.len()
        ))
    }
}

pub fn tag(component: &str, cutover: &str) -> String {
    format!("sync:{component}:{cutover}")
}

pub fn record(ctx: &mut Ctx, component: &str) -> Result<Option<SyncRecord>> {
    Ok(ctx
        .state
        .syncs()?
        .into_iter()
        .find(|r| r.component == component))
}

/// The component's sync side: the legacy database it writes and the new one it reads.
fn sides(c: &Component) -> Result<()> {
    if c.capture_database == c.database {
        return Err(Error::Usage(format!(
            "component {} captures in its own database {}: a sync needs the new side in another database (`capture_database`)",
            c.name, c.database
        )));
    }
    Ok(())
}

fn component(ctx: &Ctx, name: &str) -> Result<Component> {
    let c = ctx
        .plan
        .component(name)
        .cloned()
        .ok_or_else(|| Error::Usage(format!("no component named {name:?} in the plan")))?;
    sides(&c)?;
    Ok(c)
}

/// Records a new sync from `from` (the cutover's mark), running.
pub fn begin(
    ctx: &mut Ctx,
    component: &str,
    from: JournalMark,
    cutover: &str,
) -> Result<SyncRecord> {
    self::component(ctx, component)?;
    let rec = SyncRecord {
        component: component.to_string(),
        tag: tag(component, cutover),
        from,
        cutover: Some(cutover.to_string()),
        state: SyncState::Running,
        started_at: now(),
        updated_at: now(),
        applied: 0,
        gaps: Vec::new(),
        position: None,
        lag_rows: 0,
        lag_seconds: 0.0,
        last_pass_at: None,
        accepted: Vec::new(),
    };
    ctx.state.save_sync(&rec)?;
    ctx.audit(
        "sync.begin",
        serde_json::json!({"component": component, "tag": rec.tag, "from": rec.from}),
        "running",
    )?;
    Ok(rec)
}

/// What one pass did.
#[derive(Clone, Debug, Default)]
pub struct Pass {
    /// Business writes applied now.
    pub applied: u64,
    /// Business writes that were pending when the pass read the journal.
    pub pending: u64,
    /// The journal mark the pass read up to (every entry at or below it is final).
    pub high: i64,
    pub position: Option<i64>,
    /// Gaps first seen in this pass.
    pub new_gaps: Vec<Gap>,
    /// A transaction in flight on the new side did not end in time: nothing was read.
    pub waited: bool,
}

/// How far legacy is behind the new side.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Lag {
    pub rows: u64,
    pub seconds: f64,
    pub position: Option<i64>,
    pub high: i64,
}

/// Entries of the component after the sync's position, up to `upto`.
fn unapplied(
    new: &mut dyn Engine,
    rec: &SyncRecord,
    c: &Component,
    pos: Option<i64>,
    upto: i64,
) -> Result<Vec<JournalEntry>> {
    // Until the first batch commits, the cutover's mark (with its holes or snapshot) says
    // what legacy already has; after it, every entry at or below the position is settled.
    let after = match pos {
        Some(p) if p >= rec.from.high => JournalMark {
            high: p,
            holes: Vec::new(),
            snapshot: None,
        },
        _ => rec.from.clone(),
    };
    Ok(new
        .read_journal(&after, upto, &c.captured_tables())?
        .into_iter()
        .filter(|e| pos.is_none_or(|p| e.seq > p))
        .collect())
}

fn seconds_since(at: &str) -> f64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| (chrono::Utc::now().signed_duration_since(t)).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0)
        .max(0.0)
}

/// Measures the lag now: business writes on the new side not yet on legacy, and the age
/// of the oldest.
pub fn lag(ctx: &Ctx, rec: &SyncRecord) -> Result<Lag> {
    let c = component(ctx, &rec.component)?;
    let mut new = ctx.engine(&c.capture_database)?;
    let mut legacy = ctx.engine(&c.database)?;
    let pos = legacy.replay_position(&rec.tag)?;
    let high = new.journal_mark()?.high;
    let entries = unapplied(new.as_mut(), rec, &c, pos, high)?;
    let business: Vec<&JournalEntry> = entries
        .iter()
        .filter(|e| e.origin == Origin::Business)
        .collect();
    Ok(Lag {
        rows: business.len() as u64,
        seconds: business.first().map_or(0.0, |e| seconds_since(&e.at)),
        position: pos,
        high,
    })
}

/// Applies what the new side committed since the last pass. `settle` bounds the wait for
/// transactions in flight; `stop_on_critical` fails a critical component's sync on its
/// first gap (the loop), where a rollback's drain records the gaps as losses instead.
pub fn pass(
    ctx: &mut Ctx,
    rec: &mut SyncRecord,
    settle: Duration,
    stop_on_critical: bool,
) -> Result<Pass> {
    let c = component(ctx, &rec.component)?;
    let mut new = ctx.engine_installed(&c.capture_database)?;
    let mark = new.journal_mark()?;
    let token = new.journal_inflight()?.ok_or_else(|| {
        Error::Verify(format!(
            "the {} engine cannot say which transactions are in flight, so a sync from database {} cannot vouch that it misses no write",
            new.kind(),
            c.capture_database
        ))
    })?;
    let t = Instant::now();
    while !new.journal_inflight_done(&token)? {
        if t.elapsed() > settle {
            return Ok(Pass {
                waited: true,
                high: mark.high,
                ..Pass::default()
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Legacy is opened only now: no session of ours sits open through the wait.
    let mut legacy = ctx.engine_installed(&c.database)?;
    let pos = legacy.replay_position(&rec.tag)?;
    let entries = unapplied(new.as_mut(), rec, &c, pos, mark.high)?;
    crate::crash::point("sync:read");
    let mut targets: BTreeMap<String, TableSchema> = BTreeMap::new();
    for t in &c.tables {
        targets.insert(t.clone(), legacy.table_schema(t)?);
    }
    let cross = (new.kind() != legacy.kind()).then_some(legacy.types());
    let plan = {
        let mut eval = |exprs: &[String], img: &RowImage| {
            legacy.eval_exprs(exprs, img).map_err(|e| e.to_string())
        };
        replay::plan(&entries, &c, &targets, cross, &mut eval)
    };
    let items: Vec<(i64, &str, Planned)> = plan
        .items
        .into_iter()
        .map(|(s, p)| (s, c.name.as_str(), p))
        .collect();
    let mut out = Pass {
        pending: items.len() as u64,
        high: mark.high,
        position: pos,
        ..Pass::default()
    };
    if !items.is_empty() {
        let key_names: BTreeMap<String, Vec<String>> = targets
            .iter()
            .map(|(t, s)| (t.clone(), s.key_names()))
            .collect();
        let applier = replay::Applier {
            tag: &rec.tag,
            batch: BATCH,
            key_names: &key_names,
            partial_gaps: &plan.partial_gaps,
        };
        // A long backlog must not outlive the lock's lease: another process could take
        // the component over and apply the same batches.
        let owner = LockOwner::current(&ctx.actor);
        let lock = lock_name(&c.name);
        let state = &mut ctx.state;
        let mut after_batch = |_: u64, _: u64| {
            let _ = state.renew_lock(&lock, &owner, LEASE);
            crate::crash::point("sync:batch");
        };
        let (applied, gaps) = applier.apply(legacy.as_mut(), &items, &mut after_batch)?;
        crate::crash::point("sync:applied");
        out.applied = applied;
        out.position = legacy.replay_position(&rec.tag)?;
        let seen: BTreeSet<(i64, String, String)> = rec
            .gaps
            .iter()
            .map(|g| (g.seq, g.table.clone(), g.key.clone()))
            .collect();
        out.new_gaps = gaps
            .into_iter()
            .filter(|g| !seen.contains(&(g.seq, g.table.clone(), g.key.clone())))
            .collect();
        rec.applied += items
            .iter()
            .filter(|(_, _, p)| matches!(p, Planned::Apply(_)))
            .count() as u64;
        rec.gaps.extend(out.new_gaps.iter().cloned());
    }
    for g in &out.new_gaps {
        ctx.emit(Event::SyncGap {
            component: c.name.clone(),
            table: g.table.clone(),
            key: g.key.clone(),
            cause: g.cause.clone(),
            code: g.code(),
        });
    }
    rec.position = out.position;
    rec.last_pass_at = Some(now());
    rec.updated_at = now();
    // Another command may have paused, stopped or taken the sync over meanwhile: the
    // state is theirs, only the figures are this pass's.
    if let Some(current) = record(ctx, &rec.component)? {
        rec.state = current.state;
    }
    if stop_on_critical && c.priority == Priority::Critical && !out.new_gaps.is_empty() {
        let g = &out.new_gaps[0];
        let failure = SyncFailure::CriticalGaps {
            component: c.name.clone(),
            gaps: out.new_gaps.len() as u64,
            table: g.table.clone(),
            key: g.key.clone(),
            seq: g.seq,
            cause: g.cause.clone(),
        };
        let error = crate::words::sync_failure(&failure);
        rec.state = SyncState::Failed { failure };
        ctx.state.save_sync(rec)?;
        ctx.audit(
            "sync.failed",
            serde_json::json!({"component": c.name, "gaps": out.new_gaps}),
            &error,
        )?;
        ctx.emit(Event::SyncStopped {
            component: c.name.clone(),
            ok: false,
            cause: crate::events::SyncEnd::CriticalGaps {
                gaps: out.new_gaps.len() as u64,
                table: g.table.clone(),
                key: g.key.clone(),
                seq: g.seq,
                cause: g.cause.clone(),
            },
        });
        return Err(Error::Verify(format!(
            "sync stopped: {error}. Legacy no longer holds every business write; `ripcord sync status` lists the gaps."
        )));
    }
    ctx.state.save_sync(rec)?;
    Ok(out)
}

/// How `run` loops.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// Pause between passes.
    pub interval: Duration,
    /// Longest wait for transactions in flight on the new side, per pass.
    pub settle: Duration,
    /// One pass per component, then return.
    pub once: bool,
    /// `--accept-gap --reason`: a named failed sync runs on past its gaps (audited).
    pub accept_gap: Option<String>,
}

/// Why the loop ended.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoopEnd {
    pub passes: u64,
    pub applied: u64,
    /// Components that left the loop and why (stopped, drained by a rollback…).
    pub ended: Vec<(String, String)>,
    pub gaps: u64,
}

fn lock_name(c: &str) -> String {
    format!("sync:{c}")
}

/// The sync loop: a pass per running component every `interval`, until every component
/// is stopped, handed to a rollback or failed, or `stop` says so. Holds `sync:{c}` for
/// each component it runs.
pub fn run(
    ctx: &mut Ctx,
    components: &[String],
    opts: &LoopOptions,
    stop: &dyn Fn() -> bool,
) -> Result<LoopEnd> {
    if opts.accept_gap.is_some() && components.is_empty() {
        return Err(Error::Usage(
            "--accept-gap needs the failed component named with -c".into(),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let all = ctx.state.syncs()?;
    let wanted: Vec<String> = if components.is_empty() {
        // A failed sync is never skipped quietly: the operator decides (rollback, or
        // `--accept-gap` naming it), and may name the others meanwhile.
        let failed: Vec<String> = all.iter().filter_map(SyncRecord::refusal).collect();
        if !failed.is_empty() {
            return Err(Error::Verify(format!(
                "{}\nThe other components' syncs can run meanwhile: name them with -c.",
                failed.join("\n")
            )));
        }
        all.iter()
            .filter(|r| matches!(r.state, SyncState::Running | SyncState::Paused))
            .map(|r| r.component.clone())
            .collect()
    } else {
        components.to_vec()
    };
    for c in &wanted {
        component(ctx, c)?;
        let r = all.iter().find(|r| &r.component == c).ok_or_else(|| {
            Error::Usage(format!(
                "component {c} has no sync: `ripcord cutover -c {c}` starts one"
            ))
        })?;
        match &r.state {
            SyncState::Running | SyncState::Paused => names.push(c.clone()),
            SyncState::Stopped => {
                let mut r = r.clone();
                r.state = SyncState::Running;
                r.updated_at = now();
                ctx.state.save_sync(&r)?;
                names.push(c.clone());
            }
            SyncState::Failed { failure } => {
                let Some(reason) = opts.accept_gap.as_deref() else {
                    return Err(Error::Verify(r.refusal().unwrap_or_default()));
                };
                let mut r = r.clone();
                let acceptance = GapAcceptance {
                    by: ctx.actor.clone(),
                    reason: reason.to_string(),
                    at: now(),
                    gaps: r.gaps.len() as u64,
                    failure: failure.clone(),
                };
                ctx.audit(
                    "sync.accept_gap",
                    serde_json::json!({"component": c, "acceptance": acceptance, "gaps": r.gaps}),
                    &format!(
                        "{} gap(s) accepted; the sync runs on (they stay listed)",
                        acceptance.gaps
                    ),
                )?;
                r.accepted.push(acceptance);
                r.state = SyncState::Running;
                r.updated_at = now();
                ctx.state.save_sync(&r)?;
                names.push(c.clone());
            }
            other => {
                return Err(Error::Usage(format!(
                    "the sync of {c} is {other}; it cannot be started again (a cutover starts a new one)"
                )));
            }
        }
    }
    if names.is_empty() {
        return Err(Error::Usage(
            "no sync to run: `ripcord cutover -c C` starts one".into(),
        ));
    }
    let owner = LockOwner::current(&ctx.actor);
    let mut held: Vec<String> = Vec::new();
    for c in &names {
        if let Err(e) = ctx.state.acquire_lock(&lock_name(c), &owner, LEASE) {
            for h in &held {
                let _ = ctx.state.release_lock(&lock_name(h), &owner);
            }
            return Err(e);
        }
        held.push(c.clone());
    }
    ctx.audit(
        "sync.start",
        serde_json::json!({"components": names}),
        "running",
    )?;
    let result = run_locked(ctx, &mut held, opts, stop, &owner);
    for h in &held {
        let _ = ctx.state.release_lock(&lock_name(h), &owner);
    }
    result
}

fn run_locked(
    ctx: &mut Ctx,
    held: &mut Vec<String>,
    opts: &LoopOptions,
    stop: &dyn Fn() -> bool,
    owner: &LockOwner,
) -> Result<LoopEnd> {
    let mut end = LoopEnd::default();
    let mut last_lag: BTreeMap<String, (u64, Instant)> = BTreeMap::new();
    loop {
        let mut i = 0;
        while i < held.len() {
            let c = held[i].clone();
            let Some(mut rec) = record(ctx, &c)? else {
                return Err(Error::Internal(format!("the sync record of {c} vanished")));
            };
            match rec.state {
                SyncState::Running => {}
                SyncState::Paused => {
                    i += 1;
                    continue;
                }
                ref other => {
                    // Stopped, or a rollback asks for the component: let it go now.
                    ctx.emit(Event::SyncStopped {
                        component: c.clone(),
                        ok: true,
                        cause: crate::events::SyncEnd::Released {
                            state: other.clone(),
                        },
                    });
                    end.ended.push((c.clone(), other.to_string()));
                    let _ = ctx.state.release_lock(&lock_name(&c), owner);
                    held.remove(i);
                    continue;
                }
            }
            let p = pass(ctx, &mut rec, opts.settle, true)?;
            end.passes += 1;
            end.applied += p.applied;
            end.gaps += p.new_gaps.len() as u64;
            // The lag as it stands after the pass, from the journal itself.
            match lag(ctx, &rec) {
                Ok(l) => {
                    // The record may have changed meanwhile (pause, stop, hand-over):
                    // only the figures are ours to write.
                    if let Some(mut now_rec) = record(ctx, &c)? {
                        now_rec.lag_rows = l.rows;
                        now_rec.lag_seconds = l.seconds;
                        ctx.state.save_sync(&now_rec)?;
                    }
                    let report = match last_lag.get(&c) {
                        Some((rows, at)) => {
                            *rows != l.rows || at.elapsed() > Duration::from_secs(5)
                        }
                        None => true,
                    };
                    if report || p.applied > 0 {
                        last_lag.insert(c.clone(), (l.rows, Instant::now()));
                        ctx.emit(Event::SyncLag {
                            component: c.clone(),
                            rows: l.rows,
                            seconds: l.seconds,
                            applied: p.applied,
                        });
                    }
                }
                Err(e) => tracing::warn!(component = %c, error = %e, "cannot measure the sync lag"),
            }
            if p.waited {
                ctx.emit(Event::Waiting {
                    what: crate::events::Operation::SyncBlocked {
                        component: c.clone(),
                    },
                    remaining_seconds: 0.0,
                });
            }
            let _ = ctx.state.renew_lock(&lock_name(&c), owner, LEASE);
            i += 1;
        }
        if held.is_empty() || opts.once || stop() {
            return Ok(end);
        }
        let t = Instant::now();
        while t.elapsed() < opts.interval {
            if stop() {
                return Ok(end);
            }
            std::thread::sleep(Duration::from_millis(20).min(opts.interval));
        }
    }
}

/// Sets the state of the components' syncs (pause, resume to running, stop), audited.
pub fn set_state(ctx: &mut Ctx, components: &[String], to: SyncState) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for mut r in ctx.state.syncs()? {
        if !components.is_empty() && !components.contains(&r.component) {
            continue;
        }
        if !matches!(
            r.state,
            SyncState::Running | SyncState::Paused | SyncState::Stopped
        ) {
            if !components.is_empty() {
                if let Some(refusal) = r.refusal() {
                    return Err(Error::Verify(refusal));
                }
                return Err(Error::Usage(format!(
                    "the sync of {} is {}; only a running, paused or stopped sync can be changed",
                    r.component, r.state
                )));
            }
            continue;
        }
        r.state = to.clone();
        r.updated_at = now();
        ctx.state.save_sync(&r)?;
        ctx.audit(
            "sync.state",
            serde_json::json!({"component": r.component, "state": to}),
            &to.to_string(),
        )?;
        changed.push(r.component);
    }
    for c in components {
        if !changed.contains(c) {
            return Err(Error::Usage(format!(
                "component {c} has no sync: `ripcord cutover -c {c}` starts one"
            )));
        }
    }
    Ok(changed)
}

/// What `ripcord sync status` shows for one component.
#[derive(Clone, Debug, Serialize)]
pub struct SyncStatus {
    pub record: SyncRecord,
    /// Measured now, from both databases.
    pub lag: Option<Lag>,
    pub lag_error: Option<String>,
    /// The process running the loop for it, if one holds its lock.
    pub runner: Option<crate::state::LockHeld>,
}

pub fn status(ctx: &mut Ctx, components: &[String]) -> Result<Vec<SyncStatus>> {
    let locks = ctx.state.locks()?;
    let mut out = Vec::new();
    for r in ctx.state.syncs()? {
        if !components.is_empty() && !components.contains(&r.component) {
            continue;
        }
        let (lag, lag_error) = if r.state.active() {
            match lag(ctx, &r) {
                Ok(l) => (Some(l), None),
                Err(e) => (None, Some(crate::redact::scrub(&e.to_string()))),
            }
        } else {
            (None, None)
        };
        let runner = locks
            .iter()
            .find(|l| l.name == lock_name(&r.component))
            .cloned();
        out.push(SyncStatus {
            record: r,
            lag,
            lag_error,
            runner,
        });
    }
    Ok(out)
}

/// A rollback takes a component's sync over: the loop lets it go at its next pass (or its
/// dead holder's lease is taken over); the caller then drains with [`pass`].
pub fn hand_over(ctx: &mut Ctx, rec: &mut SyncRecord, rollback: &str) -> Result<LockOwner> {
    if !matches!(&rec.state, SyncState::Draining { rollback: r } if r == rollback) {
        rec.state = SyncState::Draining {
            rollback: rollback.to_string(),
        };
        rec.updated_at = now();
        ctx.state.save_sync(rec)?;
    }
    let owner = LockOwner::current(&ctx.actor);
    let t = Instant::now();
    loop {
        match ctx
            .state
            .acquire_lock(&lock_name(&rec.component), &owner, LEASE)
        {
            Ok(()) => return Ok(owner),
            // Past the lease, a holder on another host that died has lost it.
            Err(e) if t.elapsed() > LEASE + Duration::from_secs(30) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        // A pass that read the record just before the hand-over may have written it back.
        if let Some(mut now_rec) = record(ctx, &rec.component)?
            && now_rec.state != rec.state
        {
            now_rec.state = rec.state.clone();
            ctx.state.save_sync(&now_rec)?;
        }
    }
}

pub fn release(ctx: &mut Ctx, component: &str, owner: &LockOwner) {
    let _ = ctx.state.release_lock(&lock_name(component), owner);
}

/// Compares a component's legacy tables with the new side's, every row: where the reverse
/// mapping keeps the table's name and columns, by range checksums pushed into both
/// databases (only differing ranges are downloaded); otherwise, or without the binary's
/// differ, row by row through the mapping (`sides.rs`). A table whose values cannot be
/// compared says so (`Checked::CountOnly`), and its proof cannot pass. The cutover's and
/// the switch-based rollback's verification.
pub fn compare_sides(ctx: &Ctx, c: &Component) -> Result<Vec<TableProof>> {
    sides(c)?;
    let mut out = Vec::new();
    for (t, captured) in c.tables.iter().zip(c.captured_tables()) {
        let rev = c.reverse_for(&captured);
        let identity = rev.columns.is_empty() && &captured == t;
        let pushed = match (identity, ctx.connector.differ()) {
            (true, Some(d)) => {
                let (a, b) = (
                    &ctx.plan.databases[&c.database],
                    &ctx.plan.databases[&c.capture_database],
                );
                d.compare_databases(a, b, t)?
            }
            _ => None,
        };
        let proof = match pushed {
            Some(check) => {
                // The checksums cover the columns both tables have.
                let mut legacy = ctx.engine(&c.database)?;
                let mut new = ctx.engine(&c.capture_database)?;
                let not_compared = crate::sides::identity_not_compared(
                    &legacy.table_schema(t)?,
                    &new.table_schema(&captured)?,
                );
                let (ln, nn) = (legacy.count_rows(t)?, new.count_rows(&captured)?);
                let mut examples = Vec::new();
                if ln != nn {
                    examples.push(format!(
                        "{t}: {ln} rows on legacy, {nn} on the new side ({captured})"
                    ));
                }
                examples.extend(check.examples);
                TableProof {
                    component: c.name.clone(),
                    table: t.clone(),
                    rows: ln,
                    differences: check.differences.max(ln.abs_diff(nn)),
                    examples,
                    rows_held_peak: check.rows_held_peak,
                    checked: crate::rollback::Checked::Contents { not_compared },
                }
            }
            None => crate::sides::compare_mapped(ctx, c, t, &captured)?,
        };
        out.push(proof);
    }
    Ok(out)
}

/// The sync loop on a thread of its own, for `ripcord watch`: started when a component's
/// sync is running or paused, stopped before a stop's response (a rollback) begins.
pub struct Background {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Result<LoopEnd>>,
}

impl Background {
    /// `None` when no sync is running or paused.
    pub fn start(
        ctx: &mut Ctx,
        connector: std::sync::Arc<dyn crate::context::Connector>,
    ) -> Result<Option<Background>> {
        // Named, so a failed sync of another component (which `run` refuses when none is
        // named) does not keep these from running; `check` and `status` show that one.
        let names: Vec<String> = ctx
            .state
            .syncs()?
            .into_iter()
            .filter(|r| matches!(r.state, SyncState::Running | SyncState::Paused))
            .map(|r| r.component)
            .collect();
        if names.is_empty() {
            return Ok(None);
        }
        let mut own = ctx.for_thread(connector)?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ripcord-sync".into())
            .spawn(move || {
                let opts = LoopOptions {
                    interval: Duration::from_millis(500),
                    settle: Duration::from_secs(10),
                    once: false,
                    accept_gap: None,
                };
                run(&mut own, &names, &opts, &|| {
                    flag.load(std::sync::atomic::Ordering::SeqCst)
                })
            })
            .map_err(|e| Error::Internal(format!("start the sync loop: {e}")))?;
        Ok(Some(Background { stop, handle }))
    }

    /// The loop ended by itself (every sync stopped or handed over, or a failure).
    pub fn ended(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the loop after its pass; its outcome (a critical failure is an error).
    pub fn finish(self) -> Result<LoopEnd> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.handle
            .join()
            .map_err(|_| Error::Internal("the sync loop panicked".into()))?
    }
}
