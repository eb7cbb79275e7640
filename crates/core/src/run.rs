//! `ripcord run`: a checkpoint first, then the plan's steps in order, each recorded; on a
//! failed step, verify or invariant, stop and say how to roll back.
//!
//! The emergency stop lives here too. A [`StopSwitch`] is shared by whoever may ask for a
//! stop (a red rule, `ripcord stop` through the state store, the panic file, SIGINT or
//! SIGTERM); triggering it cancels the running step's statement on its server at once
//! (through the engine's cancel handle) or ends the running command's process group. What
//! follows a stop (rollback, approval, fix forward) is the caller's: see ripcord-guard.

use crate::checkpoint;
use crate::context::{Ctx, new_id};
use crate::engine::CancelHandle;
use crate::engine::Engine;
use crate::events::{Event, RunStop};
use crate::journal::Origin;
use crate::plan::{Action, Level, Step};
use crate::state::StateStore;
use crate::verify;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RunOutcome {
    pub run: String,
    pub checkpoint: String,
    pub steps_done: Vec<String>,
    /// Set when an emergency stop ended the run.
    pub stopped: Option<Stopped>,
}

/// Where a stop came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopSource {
    Rule {
        rule: String,
        level: Level,
    },
    /// `ripcord stop`: the request's id in the state store.
    Command {
        actor: String,
        request: i64,
    },
    PanicFile {
        path: String,
    },
    Signal {
        signal: String,
    },
}

impl std::fmt::Display for StopSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopSource::Rule { rule, level } => write!(f, "rule {rule:?} ({level})"),
            StopSource::Command { actor, .. } => write!(f, "ripcord stop (by {actor})"),
            StopSource::PanicFile { path } => write!(f, "panic file {path}"),
            StopSource::Signal { signal } => write!(f, "signal {signal}"),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StopRequest {
    pub source: StopSource,
    pub reason: String,
    /// The decision-matrix scenario that applies (none: the caller's default).
    pub scenario: Option<String>,
    /// Components to roll back (empty: the running step's, or all).
    pub components: Vec<String>,
    pub evidence: serde_json::Value,
    /// Wall-clock milliseconds when the stop was asked for.
    pub at_ms: i64,
}

impl StopRequest {
    pub fn new(source: StopSource, reason: impl Into<String>) -> Self {
        StopRequest {
            source,
            reason: reason.into(),
            scenario: None,
            components: Vec::new(),
            evidence: serde_json::Value::Null,
            at_ms: now_ms(),
        }
    }
}

/// What a run did when it was stopped.
#[derive(Clone, Debug, Serialize)]
pub struct Stopped {
    pub request: StopRequest,
    /// The step that was running, if any.
    pub step: Option<String>,
    /// From the stop request to the step's statement or command ended.
    pub cancelled_after_ms: Option<f64>,
    /// The components the stop affects: the request's, else the running step's, else all.
    pub components: Vec<String>,
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Default)]
struct StopInner {
    request: Mutex<Option<StopRequest>>,
    changed: Condvar,
    /// The running statement's cancel handle, and which statement it is.
    cancel: Mutex<Option<Box<dyn CancelHandle>>>,
    armed: AtomicU64,
    /// Set (under `request`'s lock) once the run is over: later triggers are refused.
    closed: AtomicBool,
    /// The running command's process group (0: none).
    pgid: AtomicI32,
}

/// Shared between the run and everyone who may stop it; the first trigger wins.
#[derive(Clone, Default)]
pub struct StopSwitch(Arc<StopInner>);

impl StopSwitch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a stop. Cancels the running statement and ends the running command's
    /// process group at once. Returns false when a stop was already asked for, or the
    /// switch was [closed](Self::close) because the run is over.
    pub fn trigger(&self, req: StopRequest) -> bool {
        {
            let mut r = self.0.request.lock().unwrap_or_else(|e| e.into_inner());
            if r.is_some() || self.0.closed.load(Ordering::SeqCst) {
                return false;
            }
            tracing::warn!(source = %req.source, reason = %req.reason, "emergency stop");
            *r = Some(req);
        }
        self.0.changed.notify_all();
        self.kill_command();
        let armed = self.0.armed.load(Ordering::SeqCst);
        if armed != 0 {
            self.keep_cancelling(armed);
        }
        true
    }

    /// Ends the switch's life: a later [`trigger`](Self::trigger) is refused (and its
    /// source told so) instead of being accepted and then ignored. Returns the stop that
    /// came first, if any, so a stop that arrived after the last check is still acted on.
    pub fn close(&self) -> Option<StopRequest> {
        let r = self.0.request.lock().unwrap_or_else(|e| e.into_inner());
        self.0.closed.store(true, Ordering::SeqCst);
        r.clone()
    }

    /// A cancel that reaches the server before the statement started is lost, so keep
    /// cancelling statement `id` every 100 ms (for up to 30 s) until it has ended.
    fn keep_cancelling(&self, id: u64) {
        let me = self.clone();
        std::thread::spawn(move || {
            for _ in 0..300 {
                if me.0.armed.load(Ordering::SeqCst) != id {
                    return;
                }
                if let Some(c) =
                    me.0.cancel
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .as_ref()
                {
                    c.cancel();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    pub fn requested(&self) -> Option<StopRequest> {
        self.0
            .request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn is_stopped(&self) -> bool {
        self.requested().is_some()
    }

    /// Waits up to `timeout` for a stop.
    pub fn wait(&self, timeout: Duration) -> Option<StopRequest> {
        let r = self.0.request.lock().unwrap_or_else(|e| e.into_inner());
        let (r, _) = self
            .0
            .changed
            .wait_timeout_while(r, timeout, |r| r.is_none())
            .unwrap_or_else(|e| e.into_inner());
        r.clone()
    }

    fn arm(&self, cancel: Box<dyn CancelHandle>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        *self.0.cancel.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel);
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        self.0.armed.store(id, Ordering::SeqCst);
        // A stop that came before arming would otherwise never reach this statement.
        if self.is_stopped() {
            self.keep_cancelling(id);
        }
    }

    fn disarm(&self) {
        self.0.armed.store(0, Ordering::SeqCst);
        *self.0.cancel.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn set_pgid(&self, pgid: i32) {
        self.0.pgid.store(pgid, Ordering::SeqCst);
        if self.is_stopped() {
            self.kill_command();
        }
    }

    fn kill_command(&self) {
        crate::process::kill_group(self.0.pgid.swap(0, Ordering::SeqCst));
    }
}

/// Watches the stop sources that are not rules: `ripcord stop` requests in the state
/// store, the panic file, and (when asked) SIGINT/SIGTERM.
pub struct StopListener {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    signals: Option<signal_hook::iterator::Handle>,
    stop: StopSwitch,
}

impl StopListener {
    pub fn start(
        mut state: Box<dyn StateStore>,
        panic_file: PathBuf,
        poll: Duration,
        signals: bool,
        stop: StopSwitch,
    ) -> Result<Self> {
        let done = Arc::new(AtomicBool::new(false));
        let mut last = state.last_stop_id()?;
        let d = done.clone();
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            loop {
                // One more round after `finish`: a request that came in since the last one
                // is answered, instead of leaving `ripcord stop` to wait for nothing.
                let last_round = d.load(Ordering::SeqCst);
                if panic_file.exists() {
                    s.trigger(StopRequest {
                        scenario: Some("manual_stop".into()),
                        ..StopRequest::new(
                            StopSource::PanicFile {
                                path: panic_file.display().to_string(),
                            },
                            format!("panic file {} exists", panic_file.display()),
                        )
                    });
                }
                match state.stop_requests_after(last) {
                    Ok(reqs) => {
                        for r in reqs {
                            last = r.id;
                            let took = s.trigger(StopRequest {
                                scenario: Some(r.scenario.unwrap_or_else(|| "manual_stop".into())),
                                at_ms: r.at_ms,
                                ..StopRequest::new(
                                    StopSource::Command {
                                        actor: r.actor,
                                        request: r.id,
                                    },
                                    r.reason,
                                )
                            });
                            // The winner is answered once the stop took effect; a request
                            // that lost is answered now, or `ripcord stop` would wait and
                            // then claim nothing was stopped.
                            if !took {
                                let outcome = match s.requested() {
                                    Some(first) => format!(
                                        "already stopping (by {}: {}); this request changed nothing",
                                        first.source, first.reason
                                    ),
                                    None => "the run had already finished; nothing was stopped"
                                        .to_string(),
                                };
                                if let Err(e) = state.answer_stop(r.id, &outcome) {
                                    tracing::warn!(error = %e, request = r.id, "cannot answer a stop request");
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read stop requests"),
                }
                if last_round {
                    break;
                }
                std::thread::sleep(poll);
            }
        });
        let signals = if signals {
            use signal_hook::consts::{SIGINT, SIGTERM};
            let mut sig = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
                .map_err(|e| Error::Internal(format!("cannot watch signals: {e}")))?;
            let handle = sig.handle();
            let s = stop.clone();
            std::thread::spawn(move || {
                for n in sig.forever() {
                    let name = if n == SIGINT { "SIGINT" } else { "SIGTERM" };
                    let first = s.trigger(StopRequest {
                        scenario: Some("manual_stop".into()),
                        ..StopRequest::new(
                            StopSource::Signal {
                                signal: name.into(),
                            },
                            format!("{name} received"),
                        )
                    });
                    if !first && s.is_stopped() {
                        eprintln!(
                            "ripcord: already stopping ({name} ignored). A rollback is crash-safe: after kill -9, `ripcord rollback --resume` continues it."
                        );
                    } else if !first {
                        eprintln!("ripcord: the run has already finished ({name} ignored)");
                    }
                }
            });
            Some(handle)
        } else {
            None
        };
        Ok(StopListener {
            done,
            thread: Some(thread),
            signals,
            stop,
        })
    }

    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        // After a stop the signal thread stays: signal-hook keeps its handlers installed
        // once closed, so without the thread a Ctrl-C during the rollback that follows
        // would vanish without the note that a second signal is ignored.
        if let Some(h) = self.signals.take()
            && !self.stop.is_stopped()
        {
            h.close();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone, Default)]
pub struct RunOptions {
    pub stop: StopSwitch,
    /// Watch `ripcord stop` requests and the panic file.
    pub listen: bool,
    /// Also stop on SIGINT/SIGTERM (the binary sets this; tests do not).
    pub signals: bool,
    /// The run's id (default: a new one), so a guard can name the run before it starts.
    pub id: Option<String>,
}

pub fn run(ctx: &mut Ctx) -> Result<RunOutcome> {
    run_with(ctx, &RunOptions::default())
}

/// Runs the plan's steps; an emergency stop through `opts.stop` ends the run with
/// `RunOutcome::stopped` set (a failed step is still an error).
pub fn run_with(ctx: &mut Ctx, opts: &RunOptions) -> Result<RunOutcome> {
    if ctx.plan.steps.is_empty() {
        return Err(Error::Usage("the plan has no [[steps]] to run".into()));
    }
    let run = opts.id.clone().unwrap_or_else(|| new_id("run"));
    ctx.state.create_run(
        &run,
        &ctx.actor,
        &serde_json::json!({"steps": ctx.plan.steps.iter().map(|s| &s.name).collect::<Vec<_>>()}),
    )?;
    ctx.audit("run.start", serde_json::json!({"run": run}), "started")?;
    ctx.emit(Event::RunStarted { run: run.clone() });
    let listener = if opts.listen {
        Some(StopListener::start(
            ctx.state.reopen()?,
            ctx.plan.guard.panic_file.clone(),
            ctx.plan.guard.stop_poll,
            opts.signals,
            opts.stop.clone(),
        )?)
    } else {
        None
    };
    let r = run_steps(ctx, &run, &opts.stop);
    // Whatever ended the run, a stop asked for from now on is refused and told so.
    opts.stop.close();
    if let Some(l) = listener {
        l.finish();
    }
    r
}

fn run_steps(ctx: &mut Ctx, run: &str, stop: &StopSwitch) -> Result<RunOutcome> {
    let run = run.to_string();
    let comps: Vec<String> = ctx.plan.components.iter().map(|c| c.name.clone()).collect();
    let cp = checkpoint::take(ctx, &comps)?;
    let mut done = Vec::new();
    let steps = ctx.plan.steps.clone();
    for step in &steps {
        if stop.is_stopped() {
            let s = stopped(ctx, &run, stop, None, &done)?;
            return Ok(RunOutcome {
                run,
                checkpoint: cp.id.0,
                steps_done: done,
                stopped: Some(s),
            });
        }
        ctx.emit(Event::StepStarted {
            run: run.clone(),
            step: step.name.clone(),
        });
        let t = Instant::now();
        let result = run_step(ctx, step, stop);
        if stop.is_stopped() {
            let s = stopped(ctx, &run, stop, Some(step), &done)?;
            return Ok(RunOutcome {
                run,
                checkpoint: cp.id.0,
                steps_done: done,
                stopped: Some(s),
            });
        }
        let secs = t.elapsed().as_secs_f64();
        let (ok, detail) = match &result {
            Ok(d) => (true, d.clone()),
            Err(e) => (false, crate::redact::scrub(&e.to_string())),
        };
        ctx.emit(Event::StepFinished {
            run: run.clone(),
            step: step.name.clone(),
            ok,
            error: (!ok).then(|| detail.clone()),
            seconds: secs,
        });
        ctx.audit(
            "step",
            serde_json::json!({"run": run, "step": step.name}),
            &if ok {
                format!("ok: {detail}")
            } else {
                format!("failed: {detail}")
            },
        )?;
        if !ok {
            let affected: Vec<String> = step.component.iter().cloned().collect();
            let how = match affected.first() {
                Some(c) => format!(
                    "roll back with: ripcord rollback -c {c} --reason \"step {} failed\"",
                    step.name
                ),
                None => "roll back with: ripcord rollback --reason \"…\"".into(),
            };
            ctx.state.finish_run(
                &run,
                "stopped",
                &serde_json::json!({"failed_step": step.name, "error": detail}),
            )?;
            ctx.emit(Event::RunStopped {
                run: run.clone(),
                cause: RunStop::StepFailed {
                    step: step.name.clone(),
                    error: detail.clone(),
                },
                components: affected,
            });
            return Err(Error::Stopped(format!(
                "step {:?} failed: {detail}\n{how}",
                step.name
            )));
        }
        done.push(step.name.clone());
    }
    // A stop that came after the last step's check is acted on, not silently dropped; any
    // later one is refused (and `ripcord stop` told so).
    if stop.close().is_some() {
        let s = stopped(ctx, &run, stop, None, &done)?;
        return Ok(RunOutcome {
            run,
            checkpoint: cp.id.0,
            steps_done: done,
            stopped: Some(s),
        });
    }
    ctx.state
        .finish_run(&run, "completed", &serde_json::json!({"steps": done}))?;
    ctx.audit("run.finish", serde_json::json!({"run": run}), "completed")?;
    Ok(RunOutcome {
        run,
        checkpoint: cp.id.0,
        steps_done: done,
        stopped: None,
    })
}

/// Records a stop: the run's status, an audit entry with the evidence, the events, and
/// the answer to a `ripcord stop` request.
fn stopped(
    ctx: &mut Ctx,
    run: &str,
    stop: &StopSwitch,
    step: Option<&Step>,
    done: &[String],
) -> Result<Stopped> {
    let ended = now_ms();
    let req = stop.requested().expect("only called once stopped");
    let components = if !req.components.is_empty() {
        req.components.clone()
    } else if let Some(c) = step.and_then(|s| s.component.clone()) {
        vec![c]
    } else {
        ctx.plan.components.iter().map(|c| c.name.clone()).collect()
    };
    let after = step.map(|_| (ended - req.at_ms).max(0) as f64);
    let s = Stopped {
        request: req.clone(),
        step: step.map(|s| s.name.clone()),
        cancelled_after_ms: after,
        components: components.clone(),
    };
    ctx.emit(Event::StopRequested {
        run: run.to_string(),
        source: req.source.clone(),
        reason: req.reason.clone(),
        scenario: req.scenario.clone(),
    });
    if let (Some(st), Some(ms)) = (step, after) {
        ctx.emit(Event::StatementCancelled {
            run: run.to_string(),
            step: st.name.clone(),
            after_ms: ms,
        });
    }
    let detail = serde_json::json!({
        "stop": s, "steps_done": done,
    });
    ctx.state.finish_run(run, "stopped", &detail)?;
    ctx.audit(
        "run.stop",
        serde_json::json!({"run": run, "source": req.source, "reason": req.reason,
            "scenario": req.scenario, "step": s.step, "cancelled_after_ms": after,
            "components": components, "evidence": req.evidence}),
        &format!("stopped by {}: {}", req.source, req.reason),
    )?;
    ctx.emit(Event::RunStopped {
        run: run.to_string(),
        cause: RunStop::Stop {
            source: req.source.clone(),
            reason: req.reason.clone(),
        },
        components,
    });
    if let StopSource::Command { request, .. } = &req.source {
        let outcome = match (&s.step, after) {
            (Some(st), Some(ms)) => {
                format!("run {run} stopped; step {st:?} cancelled after {ms:.0} ms")
            }
            _ if done.len() == ctx.plan.steps.len() => {
                format!("run {run} stopped after its last step")
            }
            _ => format!("run {run} stopped between steps"),
        };
        ctx.state.answer_stop(*request, &outcome)?;
    }
    Ok(s)
}

fn run_step(ctx: &mut Ctx, step: &Step, stop: &StopSwitch) -> Result<String> {
    if let (None, Some((name, stage))) = (&step.forward, &step.advance) {
        return advance(ctx, step, name, *stage);
    }
    // A step may rewrite a table (a copying ALTER gives it a new identity) while its capture
    // triggers keep journaling every write: the tokens before the step and after capture is
    // re-armed below are linked, so capture stays continuous across the migration itself.
    // Only where the triggers still stood when the step's SQL ended: a step that swapped a
    // table in (copy, drop, rename) left it uncaptured until the re-arm, and a business
    // write in between reached no journal; no link vouches for that.
    let captured: Vec<(String, Vec<String>)> = ctx
        .plan
        .components
        .iter()
        .filter(|c| c.capture_database == step.database)
        .map(|c| (c.capture_database.clone(), c.captured_tables()))
        .collect();
    let mut before = Vec::new();
    for (db, tables) in &captured {
        before.push(crate::continuity::tokens(ctx, db, tables)?);
    }
    let mut engine = ctx.engine_installed(&step.database)?;
    if let Some(forward) = &step.forward {
        perform_stoppable(
            engine.as_mut(),
            forward,
            step.timeout,
            Origin::Migration,
            Some(stop),
        )?;
    }
    let mut still_armed = Vec::new();
    for (db, tables) in &captured {
        still_armed.push(crate::continuity::tokens(ctx, db, tables)?);
    }
    crate::crash::point(&format!("step:{}:forward-done", step.name));
    if stop.is_stopped() {
        return Err(Error::Stopped("stopped".into()));
    }
    // The step may have changed table shapes: reinstall capture so the triggers match.
    if let Some(c) = step
        .component
        .as_ref()
        .and_then(|c| ctx.plan.component(c))
        .cloned()
    {
        checkpoint::ensure_capture(ctx, &c)?;
    }
    for (((db, tables), before), mid) in captured.iter().zip(&before).zip(&still_armed) {
        let before: Vec<Option<String>> = before
            .iter()
            .zip(mid)
            .map(|(b, m)| m.as_ref().and(b.clone()))
            .collect();
        crate::continuity::link(ctx, db, tables, &before, &format!("step {}", step.name))?;
    }
    if let Some(v) = &step.verify {
        match v {
            Action::Sql(sql) => {
                let val = engine.query_scalar(sql)?;
                if !truthy(&val) {
                    return Err(Error::Verify(format!("verify query returned {val}")));
                }
            }
            Action::Command(_) => perform_stoppable(
                engine.as_mut(),
                v,
                step.timeout,
                Origin::Migration,
                Some(stop),
            )?,
        }
    }
    if let Some(c) = step
        .component
        .as_ref()
        .and_then(|c| ctx.plan.component(c))
        .cloned()
    {
        let results = verify::invariants(ctx, engine.as_mut(), &c)?;
        if let Some(bad) = results.iter().find(|r| !r.ok) {
            return Err(Error::Verify(format!(
                "invariant {:?} broken: {}",
                bad.name, bad.detail
            )));
        }
    }
    if let Some((name, stage)) = &step.advance {
        if stop.is_stopped() {
            return Err(Error::Stopped("stopped before the switch moved".into()));
        }
        return advance(ctx, step, name, *stage);
    }
    Ok("done".into())
}

/// A step's switch to the new side (a progressive rollout's next stage), only after its
/// forward and checks passed, and never while a rollback holds the switch's component.
fn advance(ctx: &mut Ctx, step: &Step, name: &str, stage: Option<u32>) -> Result<String> {
    let sw = ctx
        .plan
        .switch(name)
        .cloned()
        .ok_or_else(|| Error::Usage(format!("no switch named {name:?} in the plan")))?;
    if let Some(r) = ctx
        .state
        .rollbacks()?
        .into_iter()
        .find(|r| r.unfinished() && r.components.contains(&sw.component))
    {
        return Err(Error::Held(format!(
            "rollback {} of {} is unfinished: switch {name:?} stays where it is",
            r.id, sw.component
        )));
    }
    if let Some(fb) = ctx
        .state
        .switches()?
        .into_iter()
        .find(|r| r.name == name)
        .and_then(|r| r.fell_back)
    {
        return Err(Error::Verify(format!(
            "switch {name:?} was stepped back from {} to {} by rule {:?} at {}: a step does not push it forward again; look, then `ripcord switch to-new -c {}` (a person's flip) and run again",
            fb.from, fb.to, fb.rule, fb.at, sw.component
        )));
    }
    // A step is held to what holds a person's `ripcord switch to-new` (without --force):
    // it must not send traffic to a fenced new side, or to one no sync carries back.
    let refused =
        crate::switch::refusals(ctx, std::slice::from_ref(&sw), crate::switch::Side::New)?;
    if !refused.is_empty() {
        return Err(Error::Held(format!(
            "switch {name:?} stays where it is:\n  - {}",
            refused
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  - ")
        )));
    }
    let reason = format!("step {}", step.name);
    let done = crate::switch::flip(
        ctx,
        &sw,
        &crate::switch::FlipRequest {
            to: crate::switch::Side::New,
            stage,
            reason: &reason,
            rollback: None,
        },
    )?;
    Ok(format!("switch {name} now {}", done.position))
}

fn truthy(v: &crate::value::Value) -> bool {
    use crate::value::Value::*;
    match v {
        Null => false,
        Bool(b) => *b,
        Int(i) => *i != 0,
        Float(f) => *f != 0.0,
        Decimal(d) | Text(d) => !matches!(d.trim(), "" | "0" | "f" | "false"),
        Blob(b) => !b.is_empty(),
    }
}

/// Runs an argv without a shell (a notification command, a switch), its stdout on success;
/// killed after `timeout`.
pub fn run_argv(argv: &[String], timeout: Duration) -> Result<String> {
    crate::switch::run_argv_for(argv, timeout)
}

/// Runs one action: SQL through the engine (cancelled at the timeout), or a shell command
/// in its own process group (killed at the timeout).
pub fn perform(
    engine: &mut dyn Engine,
    action: &Action,
    timeout: Duration,
    origin: Origin,
) -> Result<()> {
    perform_stoppable(engine, action, timeout, origin, None)
}

/// [`perform`], also ended by an emergency stop through `stop`.
pub fn perform_stoppable(
    engine: &mut dyn Engine,
    action: &Action,
    timeout: Duration,
    origin: Origin,
    stop: Option<&StopSwitch>,
) -> Result<()> {
    if stop.is_some_and(StopSwitch::is_stopped) {
        return Err(Error::Stopped(
            "not started: an emergency stop came first".into(),
        ));
    }
    match action {
        Action::Sql(sql) => {
            if let Some(s) = stop {
                s.arm(engine.cancel_handle());
            }
            let cancel = engine.cancel_handle();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let guard = std::thread::spawn(move || {
                if rx.recv_timeout(timeout).is_err() {
                    cancel.cancel();
                }
            });
            let r = engine.execute(sql, origin);
            if let Some(s) = stop {
                s.disarm();
            }
            let _ = tx.send(());
            let _ = guard.join();
            let by_stop = stop.is_some_and(StopSwitch::is_stopped);
            r.map_err(|e| match e {
                crate::engine::EngineError::Cancelled if by_stop => {
                    Error::Stopped("cancelled by an emergency stop".into())
                }
                crate::engine::EngineError::Cancelled => Error::Stopped(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                )),
                e => e.into(),
            })
        }
        Action::Command(cmd) => {
            let set_pgid = |pgid: i32| {
                if let Some(s) = stop {
                    s.set_pgid(pgid);
                }
            };
            let r = crate::process::Program::shell(cmd, timeout)
                .env("RIPCORD_ORIGIN", origin.as_str())
                .on_start(&set_pgid)
                .run();
            if let Some(s) = stop {
                s.0.pgid.store(0, Ordering::SeqCst);
            }
            match r {
                _ if stop.is_some_and(StopSwitch::is_stopped) => {
                    Err(Error::Stopped("command ended by an emergency stop".into()))
                }
                Ok(f) if f.status.success() => Ok(()),
                Ok(f) => Err(Error::Verify(format!("command exited with {}", f.status))),
                Err(crate::process::ProcessError::TimedOut(_)) => Err(Error::Stopped(format!(
                    "command timed out after {}",
                    humantime::format_duration(timeout)
                ))),
                Err(e) => Err(Error::Internal(e.to_string())),
            }
        }
    }
}
