//! The guard while a run or a watch is under way: one thread per probe, sampling at its
//! interval, and one evaluator that turns samples into rule levels, trend warnings and the
//! overall level; a red rule is re-checked once and then stops the run through the
//! [`StopSwitch`]. Every level change is an event and an audit entry with its evidence.

use crate::probe::{Prober, Sample};
use crate::rules::{Compiled, Eval, RuleState, RuleStatus};
use crate::stats;
use ripcord_core::audit::AuditDraft;
use ripcord_core::context::Connector;
use ripcord_core::events::{Bus, Event, LevelCause};
use ripcord_core::plan::{Level, Plan};
use ripcord_core::run::{StopRequest, StopSource, StopSwitch, now_ms};
use ripcord_core::state::{BaselineRecord, StateStore};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the monitor guards: a run (`mode` "run") or a watch without steps.
#[derive(Clone, Debug)]
pub struct Watched {
    pub run: String,
    pub mode: &'static str,
    pub actor: String,
}

/// Steps a red rule's `fallback` switch back (`switch::step_back`): `Ok` with what moved,
/// the run going on; `Err` with why it could not help, and the rule then stops the run
/// like any red rule.
pub type Fallback =
    Box<dyn FnMut(&ripcord_core::plan::Rule, &str) -> Result<String, String> + Send>;

pub struct Monitor {
    done: Arc<AtomicBool>,
    /// Set once the run stopped and its response began: the probes are still measured and
    /// their values kept for the report, but no rule is evaluated any more.
    recording_only: Arc<AtomicBool>,
    probes: Vec<JoinHandle<()>>,
    evaluator: Option<JoinHandle<()>>,
    /// The latest overall level, for callers that want it without the state store.
    pub level: Arc<Mutex<Level>>,
}

impl Monitor {
    pub fn start(
        plan: &Plan,
        connector: Arc<dyn Connector>,
        mut state: Box<dyn StateStore>,
        bus: Bus,
        stop: StopSwitch,
        watched: Watched,
        fallback: Option<Fallback>,
    ) -> ripcord_core::Result<Monitor> {
        let done = Arc::new(AtomicBool::new(false));
        let recording_only = Arc::new(AtomicBool::new(false));
        let (tx, rx) = channel::<Sample>();
        let mut probes = Vec::new();
        for p in &plan.probes {
            let mut prober = Prober::new(p, plan, connector.clone());
            let tx: Sender<Sample> = tx.clone();
            let d = done.clone();
            let interval = p.interval;
            probes.push(std::thread::spawn(move || {
                let start = Instant::now();
                let mut k: u32 = 0;
                while !d.load(Ordering::SeqCst) {
                    let s = prober.measure();
                    if tx.send(s).is_err() {
                        return;
                    }
                    // Fixed rate; a slow sample skips the slots it overran.
                    k += 1;
                    let mut next = start + interval * k;
                    while next < Instant::now() {
                        k += 1;
                        next = start + interval * k;
                    }
                    while Instant::now() < next && !d.load(Ordering::SeqCst) {
                        std::thread::sleep((next - Instant::now()).min(Duration::from_millis(20)));
                    }
                }
            }));
        }
        drop(tx);
        let baselines: HashMap<String, BaselineRecord> = state
            .baselines()?
            .into_iter()
            .map(|b| (b.probe.clone(), b))
            .collect();
        let rules = plan
            .rules
            .iter()
            .map(Compiled::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ripcord_core::Error::Usage)?;
        let level = Arc::new(Mutex::new(Level::Green));
        let mut ev = Evaluator {
            plan: plan.clone(),
            rechecks: plan
                .probes
                .iter()
                .map(|p| (p.name.clone(), Prober::new(p, plan, connector.clone())))
                .collect(),
            states: plan.rules.iter().map(RuleState::new).collect(),
            rules,
            latest: HashMap::new(),
            history: HashMap::new(),
            trends: HashMap::new(),
            window: HashMap::new(),
            window_told: None,
            after: HashMap::new(),
            recording_only: recording_only.clone(),
            baselines,
            overall: Level::Green,
            state,
            bus,
            stop,
            watched,
            level: level.clone(),
            saved: None,
            fallback,
        };
        let d = done.clone();
        let evaluator = std::thread::spawn(move || ev.run(rx, d));
        Ok(Monitor {
            done,
            recording_only,
            probes,
            evaluator: Some(evaluator),
            level,
        })
    }

    /// After a stop, while the response (a decision, a rollback) runs: the probes go on
    /// and their values for [`WINDOW_MS`] after the stop are told at [`Monitor::finish`],
    /// so a report shows the values around the stop, not only before it. No rule is
    /// evaluated any more: the stop has been made, and nothing may start another.
    pub fn record_only(&self) {
        self.recording_only.store(true, Ordering::SeqCst);
    }

    /// Stops the guard. Waits for the evaluator (a few ms) but not for a probe in the
    /// middle of a sample: a rollback must not wait up to a probe's timeout to start.
    /// Such a probe ends on its own once its sample is taken.
    pub fn finish(self) {}
}

impl Drop for Monitor {
    /// Also on an early return: no guard thread outlives its run.
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.evaluator.take() {
            let _ = t.join();
        }
        self.probes.clear();
    }
}

/// How far back the values told at a stop reach, and at most how many per probe.
const WINDOW_MS: i64 = 120_000;
const WINDOW_MAX: usize = 600;

/// A probe's values of the last two minutes, at most one a second (the first of each
/// second apart), for the snapshot the guard saves four times a second
/// (`ProbeView.recent`): the window before a stop, then what was measured after it.
fn recent(
    before: Option<&VecDeque<(i64, f64)>>,
    after: Option<&Vec<(i64, f64)>>,
) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for &(t, v) in before
        .into_iter()
        .flatten()
        .chain(after.into_iter().flatten())
    {
        if out.last().is_none_or(|(last, _)| t - last >= 1000) {
            out.push((t, v));
        }
    }
    let newest = out.last().map(|(t, _)| *t).unwrap_or_default();
    out.retain(|(t, _)| newest - t <= WINDOW_MS);
    out
}

struct Evaluator {
    plan: Plan,
    rules: Vec<Compiled>,
    states: Vec<RuleState>,
    rechecks: HashMap<String, Prober>,
    latest: HashMap<String, Sample>,
    /// (seconds, value) of recent measured samples, for trends.
    history: HashMap<String, VecDeque<(f64, f64)>>,
    /// Probe → (message, seconds until the threshold).
    trends: HashMap<String, (String, f64)>,
    /// (ms, value) of each probe's measured samples over the last `WINDOW_MS`, told once
    /// as `ProbeWindow` events when the run stops.
    window: HashMap<String, VecDeque<(i64, f64)>>,
    /// When the window before the stop was told (the stop's time, ms).
    window_told: Option<i64>,
    /// Values measured after the stop (at most `WINDOW_MS` after it), told at the end.
    after: HashMap<String, Vec<(i64, f64)>>,
    recording_only: Arc<AtomicBool>,
    baselines: HashMap<String, BaselineRecord>,
    overall: Level,
    state: Box<dyn StateStore>,
    bus: Bus,
    stop: StopSwitch,
    watched: Watched,
    level: Arc<Mutex<Level>>,
    saved: Option<Instant>,
    fallback: Option<Fallback>,
}

impl Evaluator {
    fn run(&mut self, rx: Receiver<Sample>, done: Arc<AtomicBool>) {
        self.save_status(true);
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(s) => self.take(s),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.window_told.is_none() && self.stop.requested().is_some() {
                self.tell_window();
            }
            if done.load(Ordering::SeqCst) {
                break;
            }
            self.save_status(false);
        }
        self.tell_after();
        self.save_status(true);
    }

    /// The values after the stop, one event per probe with the same `stop_ms` as the
    /// window before it: the report joins the two.
    fn tell_after(&mut self) {
        let Some(stop_ms) = self.window_told else {
            return;
        };
        for p in &self.plan.probes {
            let Some(samples) = self.after.remove(&p.name).filter(|w| !w.is_empty()) else {
                continue;
            };
            self.tell_probe_window(&p.name, stop_ms, samples);
        }
    }

    /// The values before the stop, one event per probe, so the report can draw them.
    fn tell_window(&mut self) {
        let stop_ms = now_ms();
        self.window_told = Some(stop_ms);
        for p in &self.plan.probes {
            let Some(w) = self.window.get(&p.name).filter(|w| !w.is_empty()) else {
                continue;
            };
            self.tell_probe_window(&p.name, stop_ms, w.iter().copied().collect());
        }
    }

    fn tell_probe_window(&self, probe: &str, stop_ms: i64, samples: Vec<(i64, f64)>) {
        self.bus.emit(Event::ProbeWindow {
            run: self.watched.run.clone(),
            probe: probe.to_string(),
            stop_ms,
            baseline_median: self.baselines.get(probe).map(|b| b.median),
            samples,
        });
    }

    fn audit(&mut self, action: &str, args: serde_json::Value, result: &str) {
        let draft = AuditDraft {
            actor: self.watched.actor.clone(),
            action: action.into(),
            args,
            result: result.into(),
        };
        if let Err(e) = self.state.append_audit(draft) {
            tracing::error!(error = %e, action, "cannot write the audit entry");
        }
    }

    fn take(&mut self, s: Sample) {
        let name = s.probe.clone();
        let now = s.at_ms;
        if let (Some(stop_ms), Some(v)) = (self.window_told, s.value())
            && now > stop_ms
            && now - stop_ms <= WINDOW_MS
        {
            let a = self.after.entry(name.clone()).or_default();
            if a.len() < WINDOW_MAX {
                a.push((now, v));
            }
        }
        if self.recording_only.load(Ordering::SeqCst) {
            self.latest.insert(name, s);
            return;
        }
        if let Some(v) = s.value() {
            let w = self.window.entry(name.clone()).or_default();
            w.push_back((now, v));
            while w.len() > WINDOW_MAX || w.front().is_some_and(|(t, _)| now - t > WINDOW_MS) {
                w.pop_front();
            }
            let cap = self
                .plan
                .probe(&name)
                .and_then(|p| p.trend.as_ref())
                .map(|t| t.window)
                .unwrap_or(20);
            let h = self.history.entry(name.clone()).or_default();
            h.push_back((now as f64 / 1000.0, v));
            while h.len() > cap {
                h.pop_front();
            }
        }
        self.latest.insert(name.clone(), s);
        self.trend(&name, now);
        for i in 0..self.rules.len() {
            if self.rules[i].rule.probes.contains(&name) {
                self.evaluate(i, now);
            }
        }
        self.overall_level();
    }

    fn trend(&mut self, probe: &str, now: i64) {
        let Some(t) = self.plan.probe(probe).and_then(|p| p.trend.clone()) else {
            return;
        };
        let pts: Vec<(f64, f64)> = self
            .history
            .get(probe)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let eta = stats::eta(&t, &pts, now as f64 / 1000.0);
        match (eta, self.trends.contains_key(probe)) {
            (Some(secs), had) => {
                let threshold = t.below.or(t.above).unwrap_or_default();
                let message = format!(
                    "{probe} reaches {threshold} in {}",
                    humantime::format_duration(Duration::from_secs(secs.round() as u64))
                );
                self.trends
                    .insert(probe.to_string(), (message.clone(), secs));
                if !had {
                    self.bus.emit(Event::TrendWarning {
                        probe: probe.into(),
                        threshold,
                        eta_seconds: secs,
                    });
                    let evidence = serde_json::json!({"probe": probe, "points": pts, "threshold": threshold, "eta_seconds": secs});
                    self.audit("guard.trend", evidence, &message);
                }
            }
            (None, true) => {
                self.trends.remove(probe);
            }
            (None, false) => {}
        }
    }

    fn evaluate(&mut self, i: usize, now: i64) {
        let (eval, evidence) = self.rules[i].evaluate(&self.latest, &self.baselines);
        let rule = self.rules[i].rule.clone();
        let before = self.states[i].level;
        let mut after = self.states[i].update(&rule, &eval, now);
        if after == Level::Red && before != Level::Red && !self.stop.is_stopped() {
            after = self.confirm_and_stop(i, evidence.clone());
        }
        if after != before {
            let s = &self.states[i];
            let cause = LevelCause::Rule {
                status: s.status,
                held_ms: s.breach_since_ms.map_or(0, |t| (now - t).max(0) as u64),
                hold_ms: rule.hold.as_millis() as u64,
                failures: s.failures,
                errors: s.consecutive_errors,
                inconclusive: s.inconclusive,
                problem: match &eval {
                    Eval::Error(p) | Eval::Inconclusive(p) => Some(p.clone()),
                    _ => None,
                },
            };
            let status = s.status.name();
            self.bus.emit(Event::LevelChanged {
                rule: rule.name.clone(),
                from: before,
                to: after,
                cause: cause.clone(),
                evidence: evidence.clone(),
            });
            self.audit(
                "guard.level",
                serde_json::json!({"run": self.watched.run, "rule": rule.name, "from": before, "to": after, "cause": cause, "evidence": evidence}),
                &format!("{before} → {after}: {status}"),
            );
            self.save_status(true);
        }
    }

    /// gh-ost's critical-load re-check: measure the rule's probes once more, now, and stop
    /// only if the rule still holds. Returns the rule's level afterwards.
    fn confirm_and_stop(&mut self, i: usize, evidence: serde_json::Value) -> Level {
        let rule = self.rules[i].rule.clone();
        let mut evidence = evidence;
        if self.plan.guard.confirm {
            let mut fresh = self.latest.clone();
            for p in &rule.probes {
                if let Some(prober) = self.rechecks.get_mut(p) {
                    fresh.insert(p.clone(), prober.measure());
                }
            }
            let (eval, recheck) = self.rules[i].evaluate(&fresh, &self.baselines);
            // The re-check confirms what made the rule red: a breach for a firing rule; for
            // one raised to a red `error_level`, that it still cannot be measured (or
            // decided). A measured value never confirms an error, nor an error a breach.
            let confirmed = match self.states[i].status {
                RuleStatus::Firing => eval == Eval::Breach,
                RuleStatus::CouldNotMeasure => matches!(eval, Eval::Error(_)),
                RuleStatus::Inconclusive => matches!(eval, Eval::Inconclusive(_)),
                _ => false,
            };
            if !confirmed {
                self.states[i].reset();
                self.bus.emit(Event::NotConfirmed {
                    rule: rule.name.clone(),
                    evidence: serde_json::json!({"first": evidence, "recheck": recheck}),
                });
                self.audit(
                    "guard.not_confirmed",
                    serde_json::json!({"run": self.watched.run, "rule": rule.name, "first": evidence, "recheck": recheck}),
                    "red rule not confirmed on re-check: no abort",
                );
                return self.states[i].level;
            }
            evidence = serde_json::json!({"first": evidence, "recheck": recheck});
        }
        // A rule with a fallback steps its switch back and lets the run go on; when that
        // cannot help, the rule stops the run like any red rule, saying why.
        let mut unhelped = None;
        // The stop's reason and the fallback's flip keep it in words (the edge's).
        let detail = self.states[i]
            .detail
            .as_ref()
            .map(ripcord_core::words::rule_detail)
            .unwrap_or_default();
        if let (Some(sw), Some(f)) = (rule.fallback.clone(), self.fallback.as_mut()) {
            match f(&rule, &detail) {
                Ok(done) => {
                    self.audit(
                        "guard.fallback_instead_of_stop",
                        serde_json::json!({"run": self.watched.run, "rule": rule.name, "switch": sw, "evidence": evidence}),
                        &done,
                    );
                    return Level::Red;
                }
                Err(why) => {
                    unhelped = Some(format!(
                        "; its fallback of switch {sw:?} could not help: {why}"
                    ))
                }
            }
        }
        let req = StopRequest {
            scenario: rule.scenario.clone(),
            components: rule.components.clone(),
            evidence,
            ..StopRequest::new(
                StopSource::Rule {
                    rule: rule.name.clone(),
                    level: rule.level,
                },
                format!(
                    "rule {:?} is red: {} ({}){}",
                    rule.name,
                    rule.when,
                    detail,
                    unhelped.unwrap_or_default()
                ),
            )
        };
        self.stop.trigger(req);
        Level::Red
    }

    fn overall_level(&mut self) {
        let mut level = self
            .states
            .iter()
            .map(|s| s.level)
            .max()
            .unwrap_or(Level::Green);
        if !self.trends.is_empty() {
            level = level.max(Level::Yellow);
        }
        if level != self.overall {
            let from = self.overall;
            self.overall = level;
            *self.level.lock().unwrap_or_else(|e| e.into_inner()) = level;
            let rules: Vec<String> = self
                .states
                .iter()
                .filter(|s| s.level == level && level != Level::Green)
                .map(|s| s.name.clone())
                .collect();
            let mut trends: Vec<String> = match level {
                Level::Yellow => self.trends.keys().cloned().collect(),
                _ => Vec::new(),
            };
            trends.sort();
            let names = rules
                .iter()
                .chain(&trends)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            self.bus.emit(Event::LevelChanged {
                rule: String::new(),
                from,
                to: level,
                cause: LevelCause::Overall { rules, trends },
                evidence: serde_json::json!({"rules": self.states}),
            });
            self.audit(
                "guard.level",
                serde_json::json!({"run": self.watched.run, "from": from, "to": level, "rules": self.states}),
                &format!("overall {from} → {level}: {names}"),
            );
            self.save_status(true);
        }
    }

    fn save_status(&mut self, force: bool) {
        if !force
            && self
                .saved
                .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.saved = Some(Instant::now());
        use ripcord_core::status::{
            BaselineFigures, GUARD_SNAPSHOT_SCHEMA, GuardSnapshot, ProbeView, StopView, TrendView,
        };
        let probes: Vec<ProbeView> = self
            .plan
            .probes
            .iter()
            .map(|p| ProbeView {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                tier: p.tier,
                interval_ms: p.interval.as_millis() as u64,
                last: self.latest.get(&p.name).cloned(),
                baseline: self.baselines.get(&p.name).map(|b| BaselineFigures {
                    median: b.median,
                    p95: b.p95,
                    n: b.samples.len(),
                }),
                trend: self.trends.get(&p.name).map(|(m, s)| TrendView {
                    message: m.clone(),
                    eta_seconds: *s,
                }),
                recent: recent(self.window.get(&p.name), self.after.get(&p.name)),
            })
            .collect();
        let snapshot = GuardSnapshot {
            schema: GUARD_SNAPSHOT_SCHEMA,
            updated_at: ripcord_core::context::now(),
            updated_ms: now_ms(),
            pid: std::process::id(),
            host: ripcord_core::state::hostname(),
            mode: self.watched.mode.to_string(),
            run: self.watched.run.clone(),
            level: self.overall,
            stopping: self.stop.requested().map(|r| StopView {
                source: r.source,
                reason: r.reason,
                scenario: r.scenario,
            }),
            rules: self.states.iter().map(|r| r.view()).collect(),
            probes,
        };
        let status = match serde_json::to_value(&snapshot) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot encode the guard status");
                return;
            }
        };
        if let Err(e) = self.state.save_guard_status(&status) {
            tracing::warn!(error = %e, "cannot save the guard status");
        }
    }
}
