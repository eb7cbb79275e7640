//! Typed events: what happened, for whoever listens (the console timeline now; the notifier,
//! the dashboard and metrics later). The audit log is separate: it records actions, with a
//! hash chain, whether or not anyone listens.

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
