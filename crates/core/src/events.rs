//! Typed events: what happened, for whoever listens (the console timeline now; the notifier,
//! the dashboard and metrics later). The audit log is separate: it records actions, with a
//! hash chain, whether or not anyone listens.

use crate::plan::Level;
use serde::Serialize;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    CaptureInstalled {
        database: String,
        tables: Vec<String>,
    },
    CheckpointTaken {
        id: String,
        components: Vec<String>,
        rows: u64,
        bytes: u64,
        new_bytes: u64,
        seconds: f64,
    },
    RunStarted {
        run: String,
    },
    StepStarted {
        run: String,
        step: String,
    },
    StepFinished {
        run: String,
        step: String,
        ok: bool,
        detail: String,
        seconds: f64,
    },
    InvariantChecked {
        component: String,
        name: String,
        ok: bool,
        detail: String,
    },
    RunStopped {
        run: String,
        reason: String,
        components: Vec<String>,
    },
    RollbackStarted {
        rollback: String,
        components: Vec<String>,
        checkpoint: String,
        reason: String,
    },
    PhaseStarted {
        rollback: String,
        phase: String,
    },
    PhaseFinished {
        rollback: String,
        phase: String,
        seconds: f64,
        detail: String,
    },
    Progress {
        what: String,
        done: u64,
        total: u64,
    },
    /// A long data operation under way (checkpoint read, restore): at most once a second,
    /// and once at the end. `total_rows` is 0 when unknown.
    DataProgress {
        what: String,
        rows: u64,
        total_rows: u64,
        bytes: u64,
        seconds: f64,
        finished: bool,
    },
    DataGap {
        rollback: String,
        table: String,
        key: String,
        reason: String,
    },
    Conflict {
        rollback: String,
        table: String,
        key: String,
        columns: Vec<String>,
    },
    RollbackFinished {
        rollback: String,
        ok: bool,
        seconds: f64,
        rto_seconds: f64,
        at_risk: u64,
        recovered: u64,
        lost: u64,
    },
    RtoExceeded {
        rollback: String,
        seconds: f64,
        rto_seconds: f64,
    },
    /// A rule's level changed (`rule` empty: the overall level). `evidence` holds the probe
    /// values, baselines and the expression that decided it.
    LevelChanged {
        rule: String,
        from: Level,
        to: Level,
        reason: String,
        evidence: serde_json::Value,
    },
    /// A probe's least-squares trend crosses its threshold within its horizon.
    TrendWarning {
        probe: String,
        message: String,
        eta_seconds: f64,
    },
    /// A red rule's confirming re-check did not confirm it: no abort.
    NotConfirmed {
        rule: String,
        evidence: serde_json::Value,
    },
    /// Someone or something asked to stop: a rule, `ripcord stop`, the panic file, a signal.
    StopRequested {
        run: String,
        source: String,
        reason: String,
        scenario: Option<String>,
    },
    /// The running step's statement or command was ended after a stop.
    StatementCancelled {
        run: String,
        step: String,
        /// From the stop request to the cancelled statement.
        after_ms: f64,
    },
    /// The decision matrix answered a stop.
    DecisionMade {
        run: String,
        scenario: String,
        decision: String,
        by: String,
        evidence: serde_json::Value,
    },
    ApprovalRequested {
        run: String,
        decision: String,
        scenario: String,
        approvers: Vec<String>,
        deadline: String,
    },
    /// `approved` false is a rejection; `by` is "deadline" when nobody answered in time.
    ApprovalAnswered {
        run: String,
        decision: String,
        approved: bool,
        by: String,
    },
    /// A long wait, with the time left.
    Waiting {
        what: String,
        remaining_seconds: f64,
    },
    /// A business-continuity workflow checked after a rollback.
    ContinuityChecked {
        run: String,
        workflow: String,
        ok: bool,
        detail: String,
    },
}

impl Event {
    /// A console line for the guard's events (`None` for the others, which the console
    /// renders itself).
    pub fn guard_line(&self) -> Option<String> {
        Some(match self {
            Event::LevelChanged {
                rule,
                from,
                to,
                reason,
                ..
            } if rule.is_empty() => format!("level {from} → {to}: {reason}"),
            Event::LevelChanged {
                rule,
                from,
                to,
                reason,
                ..
            } => format!("rule {rule:?}: {from} → {to} ({reason})"),
            Event::TrendWarning { message, .. } => format!("trend: {message}"),
            Event::NotConfirmed { rule, .. } => {
                format!("rule {rule:?} did not hold on the confirming re-check: no abort")
            }
            Event::StopRequested { source, reason, .. } => {
                format!("STOP requested by {source}: {reason}")
            }
            Event::StatementCancelled { step, after_ms, .. } => {
                format!("step {step:?} cancelled {after_ms:.0} ms after the stop request")
            }
            Event::DecisionMade {
                scenario,
                decision,
                by,
                ..
            } => format!("decision for {scenario}: {decision} (by {by})"),
            Event::ApprovalRequested {
                approvers,
                deadline,
                decision,
                ..
            } => format!(
                "waiting for approval of {decision} by {} until {deadline}: ripcord approve|reject RUN --as NAME",
                if approvers.is_empty() {
                    "anyone".to_string()
                } else {
                    approvers.join(" or ")
                }
            ),
            Event::ApprovalAnswered {
                approved,
                by,
                decision,
                ..
            } => format!(
                "{decision} {} by {by}",
                if *approved { "approved" } else { "rejected" }
            ),
            Event::Waiting {
                what,
                remaining_seconds,
            } => format!("{what}: {remaining_seconds:.0} s left"),
            Event::ContinuityChecked {
                workflow,
                ok,
                detail,
                ..
            } => format!(
                "continuity {workflow:?}: {} {detail}",
                if *ok { "passed" } else { "FAILED" }
            ),
            _ => return None,
        })
    }
}

pub trait EventSink: Send {
    fn emit(&mut self, event: &Event);
}

/// Fans events out to every subscriber.
#[derive(Clone, Default)]
pub struct Bus {
    sinks: Arc<Mutex<Vec<Box<dyn EventSink>>>>,
}

impl Bus {
    pub fn subscribe(&self, sink: Box<dyn EventSink>) {
        self.sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sink);
    }
    pub fn emit(&self, event: Event) {
        for s in self
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            s.emit(&event);
        }
    }
}

/// Keeps every event, for tests and for building a report.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Event>>>);

impl EventSink for Recorder {
    fn emit(&mut self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}
