//! The state of things as data, for `ripcord status` and `ripcord rollbacks`: capture per
//! table, unfinished rollbacks, locks, the newest checkpoint, and the guard's snapshot
//! (`GuardSnapshot`, which the guard's monitor writes). Read-only: nothing here changes a
//! database or the state store.

use crate::Result;
use crate::context::Ctx;
use crate::rollback::{RollbackRecord, Status};
use crate::state::LockHeld;
use serde::{Deserialize, Serialize};

/// Where a rollback stands, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackState {
    /// Completed and proven.
    Verified,
    /// Completed with gaps, differences or an accepted capture break.
    Unverified,
    Abandoned,
    /// Stopped by an error; `--resume` retries the phase.
    Failed,
    /// Not finished: running now, or interrupted (crash, kill, Ctrl-C).
    Unfinished,
}

impl RollbackState {
    pub fn of(r: &RollbackRecord) -> Self {
        match &r.status {
            Status::Abandoned { .. } => RollbackState::Abandoned,
            Status::Completed { .. } if r.unfinished() => RollbackState::Unfinished,
            Status::Completed { ok: true } => RollbackState::Verified,
            Status::Completed { ok: false } => RollbackState::Unverified,
            Status::Failed { .. } => RollbackState::Failed,
            Status::Running { .. } => RollbackState::Unfinished,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            RollbackState::Verified => "verified",
            RollbackState::Unverified => "UNVERIFIED",
            RollbackState::Abandoned => "abandoned",
            RollbackState::Failed => "FAILED",
            RollbackState::Unfinished => "unfinished",
        }
    }
}

/// One line of `ripcord rollbacks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollbackSummary {
    pub id: String,
    pub components: Vec<String>,
    pub state: RollbackState,
    /// The phase it stopped in, when unfinished or failed.
    pub phase: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The phases' time, summed.
    pub took_seconds: f64,
    pub at_risk: u64,
    pub recovered: u64,
    pub lost: u64,
}

impl RollbackSummary {
    pub fn of(r: &RollbackRecord) -> Self {
        let phase = match &r.status {
            Status::Running { phase } | Status::Failed { phase, .. } => {
                Some(phase.name().to_string())
            }
            _ => None,
        };
        RollbackSummary {
            id: r.id.clone(),
            components: r.components.clone(),
            state: RollbackState::of(r),
            phase,
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            took_seconds: r.total_seconds(),
            at_risk: r.figures.at_risk,
            recovered: r.figures.recovered,
            lost: r.figures.lost,
        }
    }
}

/// Capture of one table the plan captures, as its database says now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureState {
    pub component: String,
    pub database: String,
    pub table: String,
    pub capture: bool,
    pub frozen: bool,
}

/// A component whose capture database could not be asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unreachable {
    pub component: String,
    pub database: String,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewestCheckpoint {
    pub id: String,
    pub created_at: String,
    pub components: Vec<String>,
    pub age_seconds: Option<i64>,
    /// The plan's `max_checkpoint_age`; `check` is NO-GO past it.
    pub limit_seconds: i64,
}

/// A component's reverse sync as `status` and `check` show it: the record's state, the
/// lag measured now, and whether a live process runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncView {
    pub component: String,
    pub cutover: Option<String>,
    pub state: crate::sync::SyncState,
    /// The legacy side's applied position and the new side's journal high, measured now.
    pub position: Option<i64>,
    pub high: Option<i64>,
    /// Business writes on the new side not yet on legacy, and the age of the oldest
    /// (`None` when not measured: ended, or the measure failed).
    pub lag_rows: Option<u64>,
    pub lag_seconds: Option<f64>,
    pub lag_error: Option<String>,
    pub applied: u64,
    pub gaps: usize,
    /// Times someone let it run on past its gaps (`sync start --accept-gap`).
    pub accepted: usize,
    /// The process holding the component's sync lock, if any.
    pub runner: Option<LockHeld>,
    /// A runner holds the lock, is not known dead, and its lease has not run out.
    pub runner_alive: bool,
    /// The state says a process should be applying it now (running).
    pub should_run: bool,
}

impl SyncView {
    pub fn of(s: crate::sync::SyncStatus, now: chrono::DateTime<chrono::Utc>) -> SyncView {
        use crate::sync::SyncState;
        let runner_alive = s.runner.as_ref().is_some_and(|l| {
            !l.holder.is_dead_here()
                && chrono::DateTime::parse_from_rfc3339(&l.lease_until).map_or(true, |t| t >= now)
        });
        SyncView {
            component: s.record.component.clone(),
            cutover: s.record.cutover.clone(),
            should_run: matches!(s.record.state, SyncState::Running),
            state: s.record.state.clone(),
            position: s.lag.as_ref().map_or(s.record.position, |l| l.position),
            high: s.lag.as_ref().map(|l| l.high),
            lag_rows: s.lag.as_ref().map(|l| l.rows),
            lag_seconds: s.lag.as_ref().map(|l| l.seconds),
            lag_error: s.lag_error,
            applied: s.record.applied,
            gaps: s.record.gaps.len(),
            accepted: s.record.accepted.len(),
            runner: s.runner,
            runner_alive,
        }
    }
}

/// A switch as `status` and `check` show it: where ripcord last put it beside what its
/// read says now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchView {
    pub name: String,
    pub component: String,
    pub kind: String,
    /// Where the last finished flip left it (`None`: never flipped, i.e. legacy).
    pub persisted: Option<crate::switch::Position>,
    /// What the switch's read says now (`None` when it could not be read).
    pub position: Option<crate::switch::Position>,
    /// The target of a flip that started and did not finish.
    pub pending: Option<crate::switch::Position>,
    pub read_error: Option<String>,
    /// Read now, where ripcord last put it, nothing unfinished.
    pub agrees: bool,
}

impl SwitchView {
    pub fn of(s: &crate::switch::SwitchStatus) -> SwitchView {
        SwitchView {
            name: s.name.clone(),
            component: s.component.clone(),
            kind: s.kind.name().to_string(),
            persisted: s.persisted.clone(),
            position: s.position.clone(),
            pending: s.pending.as_ref().map(|f| f.target()),
            read_error: s.read_error.clone(),
            agrees: s.agrees(),
        }
    }
}

/// `ripcord status` beyond the guard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub capture: Vec<CaptureState>,
    pub unreachable: Vec<Unreachable>,
    pub unfinished_rollbacks: Vec<RollbackSummary>,
    pub locks: Vec<LockHeld>,
    pub newest_checkpoint: Option<NewestCheckpoint>,
    /// Every component's reverse sync (empty without a cutover).
    #[serde(default)]
    pub syncs: Vec<SyncView>,
    /// Every switch of the plan.
    #[serde(default)]
    pub switches: Vec<SwitchView>,
}

/// The syncs and switches, measured and read now (read-only).
pub fn universe(
    ctx: &mut Ctx,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<SyncView>, Vec<SwitchView>)> {
    let syncs = crate::sync::status(ctx, &[])?
        .into_iter()
        .map(|s| SyncView::of(s, now))
        .collect();
    let switches = crate::switch::status(ctx, &[])?
        .iter()
        .map(SwitchView::of)
        .collect();
    Ok((syncs, switches))
}

pub fn overview(ctx: &mut Ctx, now: chrono::DateTime<chrono::Utc>) -> Result<Overview> {
    let mut capture = Vec::new();
    let mut unreachable = Vec::new();
    for c in ctx.plan.components.clone() {
        let asked = ctx
            .engine(&c.capture_database)
            .and_then(|mut e| Ok((e.captured_tables()?, e.frozen_tables()?)));
        match asked {
            Ok((on, frozen)) => {
                for t in c.captured_tables() {
                    capture.push(CaptureState {
                        component: c.name.clone(),
                        database: c.capture_database.clone(),
                        capture: on.contains(&t),
                        frozen: frozen.contains(&t),
                        table: t,
                    });
                }
            }
            Err(e) => unreachable.push(Unreachable {
                component: c.name.clone(),
                database: c.capture_database.clone(),
                error: crate::redact::scrub(&e.to_string()),
            }),
        }
    }
    let newest_checkpoint = ctx.state.checkpoints()?.into_iter().next().map(|c| {
        let age_seconds = chrono::DateTime::parse_from_rfc3339(&c.created_at)
            .ok()
            .map(|t| now.signed_duration_since(t).num_seconds().max(0));
        NewestCheckpoint {
            id: c.id,
            created_at: c.created_at,
            components: c.components,
            age_seconds,
            limit_seconds: ctx.plan.max_checkpoint_age.as_secs() as i64,
        }
    });
    let (syncs, switches) = universe(ctx, now)?;
    Ok(Overview {
        syncs,
        switches,
        capture,
        unreachable,
        unfinished_rollbacks: ctx
            .state
            .rollbacks()?
            .iter()
            .filter(|r| r.unfinished())
            .map(RollbackSummary::of)
            .collect(),
        locks: ctx.state.locks()?,
        newest_checkpoint,
    })
}

/// The guard's last snapshot: written by the running monitor (`ripcord run`/`watch`) into
/// the state store a few times a second and read by `ripcord status`, maybe in another
/// process. Its fields are `ripcord status --json`'s (docs/guard.md); `schema` changes
/// when they do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardSnapshot {
    pub schema: u32,
    pub updated_at: String,
    /// Wall-clock milliseconds of `updated_at`, to judge whether the guard is alive.
    pub updated_ms: i64,
    pub pid: u32,
    pub host: String,
    /// `run` or `watch`.
    pub mode: String,
    pub run: String,
    pub level: crate::plan::Level,
    pub stopping: Option<StopView>,
    pub rules: Vec<RuleView>,
    pub probes: Vec<ProbeView>,
}

/// The version of [`GuardSnapshot`]'s fields.
pub const GUARD_SNAPSHOT_SCHEMA: u32 = 1;

/// A stop the guard was asked for and is acting on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopView {
    pub source: crate::run::StopSource,
    pub reason: String,
    pub scenario: Option<String>,
}

/// Where a rule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Pending,
    Ok,
    /// Breaching, not yet for long enough.
    Breaching,
    Firing,
    CouldNotMeasure,
    Inconclusive,
}

impl RuleStatus {
    pub fn name(self) -> &'static str {
        match self {
            RuleStatus::Pending => "pending",
            RuleStatus::Ok => "ok",
            RuleStatus::Breaching => "breaching",
            RuleStatus::Firing => "firing",
            RuleStatus::CouldNotMeasure => "could_not_measure",
            RuleStatus::Inconclusive => "inconclusive",
        }
    }
}

/// One rule in the guard's snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub name: String,
    pub level: crate::plan::Level,
    pub status: RuleStatus,
    /// Wall-clock ms of the first breaching sample of the current streak.
    pub breach_since_ms: Option<i64>,
    /// Breaching samples seen in all.
    pub failures: u32,
    pub consecutive_errors: u32,
    pub inconclusive: u32,
    /// What the status rests on, as data (`None`: nothing to say, e.g. ok); the edge
    /// words it (`console::rule_detail`), and `status --json` has the words as `detail`.
    #[serde(default)]
    pub why: Option<RuleDetail>,
}

/// What a rule's status rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleDetail {
    /// Fired: breaching for `held_ms` (or past its failure limit), `failures` breaching
    /// samples in all.
    Held { held_ms: u64, failures: u32 },
    /// Breaching for `held_ms` of the `hold_ms` it needs to fire.
    Breaching { held_ms: u64, hold_ms: u64 },
    /// Could not be measured `times` in a row.
    CouldNotMeasure {
        times: u32,
        problem: crate::events::RuleProblem,
    },
    /// Could not be decided `times` in a row.
    Inconclusive {
        times: u32,
        problem: crate::events::RuleProblem,
    },
    /// A red rule's confirming re-check did not confirm it: its clock starts again.
    NotConfirmed,
}

/// What one measurement of a probe gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// `ok` is the probe's own verdict: an expected HTTP status (and body), exit code 0,
    /// a non-zero SQL value, a number from Prometheus.
    Measured {
        value: f64,
        ok: bool,
        detail: String,
    },
    Unmeasured {
        reason: String,
    },
}

/// One measurement of a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeSample {
    pub probe: String,
    pub at_ms: i64,
    #[serde(flatten)]
    pub outcome: ProbeOutcome,
}

impl ProbeSample {
    pub fn value(&self) -> Option<f64> {
        match &self.outcome {
            ProbeOutcome::Measured { value, .. } => Some(*value),
            ProbeOutcome::Unmeasured { .. } => None,
        }
    }
    pub fn ok(&self) -> bool {
        matches!(self.outcome, ProbeOutcome::Measured { ok: true, .. })
    }
}

/// One probe in the guard's snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeView {
    pub name: String,
    /// `sql`, `http`, `command` or `prometheus`.
    pub kind: String,
    pub tier: crate::plan::Priority,
    pub interval_ms: u64,
    /// `None` before the first sample.
    pub last: Option<ProbeSample>,
    /// `None` without a pinned baseline.
    pub baseline: Option<BaselineFigures>,
    pub trend: Option<TrendView>,
    /// (ms, value) of its measured samples over the last two minutes, at most one a
    /// second, oldest first: kept with the snapshot in the state store so a dashboard
    /// started later (or after the guard stopped) still draws the probe's recent values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<(i64, f64)>,
}

/// A probe's pinned baseline in short.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineFigures {
    pub median: f64,
    pub p95: f64,
    /// Samples it was taken from.
    pub n: usize,
}

/// Where a probe's trend is heading, when it crosses a rule's threshold soon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendView {
    pub message: String,
    pub eta_seconds: f64,
}
