//! Guarded runs: probes, baselines, rules, levels, the decision matrix, approvals and
//! business-continuity checks. See docs/guard.md.
//!
//! The emergency stop itself (stop sources, cancelling the running statement) is in
//! `ripcord_core::run`; this crate decides when to pull it and what follows.

pub mod baseline;
pub mod monitor;
pub mod probe;
pub mod respond;
pub mod rules;
pub mod stats;

use monitor::{Monitor, Watched};
use respond::Resolution;
use ripcord_core::context::{Connector, Ctx, new_id};
use ripcord_core::run::{RunOptions, RunOutcome, StopListener, StopSwitch};
use ripcord_core::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A run under guard: what the run did and, if it was stopped, what followed.
#[derive(Debug)]
pub struct Guarded {
    pub outcome: RunOutcome,
    pub resolution: Option<Resolution>,
}

/// The monitor's fallback, when a rule names one: its own `Ctx` (a second state-store
/// connection) stepping the rule's switch back on the evaluator's thread.
fn fallback(ctx: &Ctx, connector: Arc<dyn Connector>) -> Result<Option<monitor::Fallback>> {
    if ctx.plan.rules.iter().all(|r| r.fallback.is_none()) {
        return Ok(None);
    }
    let mut own = ctx.for_thread(connector)?;
    Ok(Some(Box::new(move |rule, detail| {
        use ripcord_core::switch::StepBack;
        let name = rule.fallback.as_deref().unwrap_or_default();
        let sw = own
            .plan
            .switch(name)
            .cloned()
            .ok_or_else(|| format!("no switch named {name:?}"))?;
        match ripcord_core::switch::step_back(&mut own, &sw, &rule.name, detail) {
            Ok(StepBack::Moved { from, to }) => {
                Ok(format!("switch {name} stepped back from {from} to {to}"))
            }
            Ok(StepBack::AtLegacy) => Err(format!("switch {name} already reads legacy")),
            Ok(StepBack::NeedsRollback { why }) => Err(why),
            Err(e) => Err(e.to_string()),
        }
    })))
}

/// `ripcord run` under guard: probes and rules watch while the steps run; a red rule,
/// `ripcord stop`, the panic file or (with `signals`) SIGINT/SIGTERM stops it, and the
/// decision matrix says what follows.
pub fn run(ctx: &mut Ctx, connector: Arc<dyn Connector>, signals: bool) -> Result<Guarded> {
    let stop = StopSwitch::new();
    let id = new_id("run");
    let monitor = Monitor::start(
        &ctx.plan,
        connector.clone(),
        ctx.state.reopen()?,
        ctx.events.clone(),
        stop.clone(),
        Watched {
            run: id.clone(),
            mode: "run",
            actor: ctx.actor.clone(),
        },
        fallback(ctx, connector.clone())?,
    )?;
    let opts = RunOptions {
        stop,
        listen: true,
        signals,
        id: Some(id),
    };
    let schedule = ripcord_core::schedule::Scheduler::start(ctx, connector.clone())?;
    let outcome = ripcord_core::run::run_with(ctx, &opts);
    // No scheduled checkpoint once a stop's response (a rollback) may begin.
    if let Some(s) = schedule {
        s.finish();
    }
    let outcome = outcome?;
    let resolution = match &outcome.stopped {
        Some(s) => {
            // The probes go on through the response, so the report shows what followed
            // the stop too; `monitor` ends when this returns, on every path.
            monitor.record_only();
            Some(respond::respond(ctx, connector, &outcome.run, s)?)
        }
        None => None,
    };
    monitor.finish();
    Ok(Guarded {
        outcome,
        resolution,
    })
}

/// `ripcord watch`: probes and rules with no migration step in flight (a parallel-run
/// period). Returns when `for_` has passed (`None`) or after acting on a stop.
pub fn watch(
    ctx: &mut Ctx,
    connector: Arc<dyn Connector>,
    for_: Option<Duration>,
    signals: bool,
) -> Result<Option<(ripcord_core::run::Stopped, Resolution)>> {
    let syncing = ctx.state.syncs()?.iter().any(|r| {
        matches!(
            r.state,
            ripcord_core::sync::SyncState::Running | ripcord_core::sync::SyncState::Paused
        )
    });
    if ctx.plan.probes.is_empty()
        && !syncing
        && ctx
            .plan
            .components
            .iter()
            .all(|c| c.checkpoint_every.is_none())
    {
        return Err(Error::Usage(
            "the plan has no [[probe]], no component sets checkpoint_every and no sync runs: there is nothing to watch".into(),
        ));
    }
    let id = new_id("watch");
    ctx.state
        .create_run(&id, &ctx.actor, &serde_json::json!({"mode": "watch"}))?;
    ctx.audit("watch.start", serde_json::json!({"run": id}), "started")?;
    let stop = StopSwitch::new();
    let listener = StopListener::start(
        ctx.state.reopen()?,
        ctx.plan.guard.panic_file.clone(),
        ctx.plan.guard.stop_poll,
        signals,
        stop.clone(),
    )?;
    let monitor = Monitor::start(
        &ctx.plan,
        connector.clone(),
        ctx.state.reopen()?,
        ctx.events.clone(),
        stop.clone(),
        Watched {
            run: id.clone(),
            mode: "watch",
            actor: ctx.actor.clone(),
        },
        fallback(ctx, connector.clone())?,
    )?;
    let schedule = ripcord_core::schedule::Scheduler::start(ctx, connector.clone())?;
    // The reverse sync runs beside the guard; a critical table that cannot sync ends it
    // loudly (its event), and the watch reports it when it returns.
    let sync = ripcord_core::sync::Background::start(ctx, connector.clone())?;
    let started = Instant::now();
    let req = loop {
        let left = for_.map(|f| f.saturating_sub(started.elapsed()));
        let sync_failed = sync.as_ref().is_some_and(|s| s.ended())
            && ctx
                .state
                .syncs()?
                .iter()
                .any(|r| matches!(r.state, ripcord_core::sync::SyncState::Failed { .. }));
        if left == Some(Duration::ZERO) || sync_failed {
            // A stop that came in the last moment is acted on; a later one is refused.
            break stop.close();
        }
        let slice = left
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        if let Some(r) = stop.wait(slice) {
            break Some(r);
        }
    };
    if let Some(s) = schedule {
        s.finish();
    }
    let synced = sync.map(|s| s.finish());
    // As in `run`: recorded through the response, for the report.
    let monitor = match req {
        Some(_) => {
            monitor.record_only();
            Some(monitor)
        }
        None => {
            monitor.finish();
            None
        }
    };
    listener.finish();
    if let Some(Err(e)) = synced {
        return Err(e);
    }
    let Some(req) = req else {
        ctx.state
            .finish_run(&id, "completed", &serde_json::json!({"mode": "watch"}))?;
        ctx.audit("watch.finish", serde_json::json!({"run": id}), "completed")?;
        return Ok(None);
    };
    let components = if req.components.is_empty() {
        ctx.plan.components.iter().map(|c| c.name.clone()).collect()
    } else {
        req.components.clone()
    };
    let stopped = ripcord_core::run::Stopped {
        request: req.clone(),
        step: None,
        cancelled_after_ms: None,
        components: components.clone(),
    };
    ctx.emit(ripcord_core::events::Event::StopRequested {
        run: id.clone(),
        source: req.source.clone(),
        reason: req.reason.clone(),
        scenario: req.scenario.clone(),
    });
    ctx.state.finish_run(
        &id,
        "stopped",
        &serde_json::json!({"mode": "watch", "stop": stopped}),
    )?;
    ctx.audit(
        "watch.stop",
        serde_json::json!({"run": id, "source": req.source, "reason": req.reason, "scenario": req.scenario, "components": components, "evidence": req.evidence}),
        &format!("stopped by {}: {}", req.source, req.reason),
    )?;
    if let ripcord_core::run::StopSource::Command { request, .. } = &req.source {
        ctx.state
            .answer_stop(*request, &format!("watch {id} stopped"))?;
    }
    let res = respond::respond(ctx, connector, &id, &stopped)?;
    drop(monitor);
    Ok(Some((stopped, res)))
}

/// The guard's part of `ripcord status`: the running monitor's last snapshot (level, rules,
/// probes; written by another process) and, from the state store, the run, baselines and
/// open decisions. All typed; the CLI renders them. Schema in docs/guard.md.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GuardStatus {
    pub schema: u32,
    /// A guard on this host wrote its snapshot in the last 5 s and is still alive.
    pub live: bool,
    /// `green`, `yellow`, `orange`, `red`, or `unknown` before any guard ran.
    pub level: String,
    pub updated_at: Option<String>,
    /// `run` or `watch`.
    pub mode: Option<String>,
    pub stopping: Option<ripcord_core::status::StopView>,
    pub run: Option<ripcord_core::state::RunRecord>,
    pub rules: Vec<ripcord_core::status::RuleView>,
    pub probes: Vec<ripcord_core::status::ProbeView>,
    pub baselines: Vec<ripcord_core::state::BaselineRecord>,
    pub open_decisions: Vec<ripcord_core::state::DecisionRecord>,
}

/// `ripcord status`: the guard's level, each probe's last value against its baseline, the
/// rules, open decisions and the current run.
pub fn status(ctx: &mut Ctx) -> Result<GuardStatus> {
    let snapshot: Option<ripcord_core::status::GuardSnapshot> = match ctx.state.guard_status()? {
        None => None,
        Some(v) => Some(serde_json::from_value(v).map_err(|e| {
            ripcord_core::Error::Usage(format!(
                "the guard's last status in the state store is not one this ripcord reads ({e}); a guard of another ripcord version wrote it, and the next `ripcord run` or `watch` replaces it"
            ))
        })?),
    };
    let live = snapshot.as_ref().is_some_and(|g| {
        let fresh = ripcord_core::run::now_ms() - g.updated_ms < 5_000;
        let owner = ripcord_core::state::LockOwner {
            owner: String::new(),
            host: g.host.clone(),
            pid: g.pid,
        };
        fresh && owner.host == ripcord_core::state::hostname() && !owner.is_dead_here()
    });
    let run = ctx.state.runs()?.into_iter().next();
    let open_decisions = ctx
        .state
        .decisions()?
        .into_iter()
        .filter(|d| d.status == "open")
        .collect();
    let baselines = ctx.state.baselines()?;
    Ok(match snapshot {
        Some(g) => GuardStatus {
            schema: g.schema,
            live,
            level: g.level.name().to_string(),
            updated_at: Some(g.updated_at),
            mode: Some(g.mode),
            stopping: g.stopping,
            run,
            rules: g.rules,
            probes: g.probes,
            baselines,
            open_decisions,
        },
        None => GuardStatus {
            schema: ripcord_core::status::GUARD_SNAPSHOT_SCHEMA,
            live,
            level: "unknown".into(),
            updated_at: None,
            mode: None,
            stopping: None,
            run,
            rules: Vec::new(),
            probes: Vec::new(),
            baselines,
            open_decisions,
        },
    })
}
