//! Typed events: what happened, for whoever listens (the console timeline, the event log in
//! the state store; notifiers and the dashboard later). The audit log is separate: it
//! records actions, with a hash chain, whether or not anyone listens.
//!
//! # Delivery
//!
//! [`Bus::emit`] stamps the event with an [`Envelope`] (time, severity, subject) and queues
//! it; it never waits for a listener. One background thread per bus takes the queue in
//! order, appends what it took to the event log in one transaction (so a burst costs one
//! commit, not one per event), then hands each envelope to every sink in emit order. A slow
//! sink (SMTP, Slack) delays only the sinks after it, never the rollback. [`Bus::flush`]
//! waits until everything emitted so far reached every sink: the CLI calls it before it
//! prints, so the timeline still reads before the report.
//!
//! # The event log
//!
//! Table `events` of the state store, one row per envelope:
//! `seq` (assigned by the store on append), `at` (UTC RFC 3339 with milliseconds, when the
//! event was emitted), `severity` (`info`, `warning`, `critical`), `subject` (JSON
//! [`Subject`]) and `event` (JSON [`Event`], tagged by `kind`). `ripcord events --json` prints
//! the same envelopes as JSON Lines.
//!
//! Invariants a reader can rely on:
//! - append-only: a row is never changed or deleted;
//! - `seq` increases with every append and is never reused, so a reader that remembers the
//!   last `seq` it saw and asks for [`crate::state::StateStore::events_after`] it misses
//!   nothing and sees nothing twice; with several writers (a rollback and a `watch`) `seq`
//!   is the commit order, and `at` may step back across writers: order by `seq`;
//! - text in an event is scrubbed of registered secrets before it is stored or delivered;
//! - `Progress` and `DataProgress` are stored at most once a second per `what`, and their
//!   last one (done = total, `finished`) always; sinks still get every one;
//! - best effort: events still queued when the process is killed are lost (the audit log
//!   and the rollback record are the durable account; the event log is the narrative).
//!
//! Severity is for routing, derived from the kind of event ([`Event::severity`]):
//! `info` needs nobody; `warning` needs someone to look (a data gap, a conflict, a human
//! approval awaited, a guard level below red); `critical` means the migration or a rollback
//! is in trouble now (an invariant broken, a stop, a red level, a rollback that ended with
//! problems or over 120% of its target).

use crate::engine::Refusal;
use crate::journal::RowImage;
use crate::plan::Level;
use crate::rollback::{Figures, PhaseOutcome};
use crate::run::StopSource;
use crate::state::StateStore;
use crate::status::RuleStatus;
use crate::switch::Position;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

pub(crate) mod legacy;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An event, tagged by `kind`. Rows an older ripcord stored in a shape since retyped read
/// back through `legacy.rs`, so the log reads whole across upgrades.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "kind", rename_all = "snake_case")]
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
        /// Why it failed (the error, scrubbed); `None` when it passed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        seconds: f64,
    },
    InvariantChecked {
        component: String,
        name: String,
        ok: bool,
        measure: InvariantMeasure,
    },
    RunStopped {
        run: String,
        cause: RunStop,
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
        /// What the phase did.
        #[serde(default)]
        outcome: PhaseOutcome,
        /// The rollback's figures when the phase ended.
        #[serde(default)]
        figures: Figures,
    },
    Progress {
        what: Operation,
        done: u64,
        total: u64,
    },
    /// A long data operation under way (checkpoint read, restore): at most once a second,
    /// and once at the end. `total_rows` is 0 when unknown.
    DataProgress {
        what: Operation,
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
        cause: GapReason,
        /// `cause`'s code, for routing without reading the cause.
        #[serde(default)]
        code: GapCode,
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
        cause: LevelCause,
        evidence: serde_json::Value,
    },
    /// A probe's least-squares trend crosses its threshold within its horizon.
    TrendWarning {
        probe: String,
        /// The probe's `below` or `above` threshold the trend crosses.
        threshold: f64,
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
        source: StopSource,
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
        what: Operation,
        remaining_seconds: f64,
    },
    /// A sync pass: how far legacy is behind the new side after it.
    SyncLag {
        component: String,
        /// Business writes on the new side not yet on legacy.
        rows: u64,
        /// Age of the oldest of them.
        seconds: f64,
        /// Business writes this pass applied.
        applied: u64,
    },
    /// A business write the sync could not carry to legacy, as it happened.
    SyncGap {
        component: String,
        table: String,
        key: String,
        cause: GapReason,
        code: GapCode,
    },
    /// A component's sync stopped; `ok: false` when it stopped because it could not go on.
    SyncStopped {
        component: String,
        ok: bool,
        cause: SyncEnd,
    },
    /// A business-continuity workflow checked after a rollback.
    ContinuityChecked {
        run: String,
        workflow: String,
        ok: bool,
        verdict: ContinuityVerdict,
    },
    /// A traffic switch moved and its own read agrees (`switch::flip`).
    SwitchFlipped {
        switch: String,
        component: String,
        position: Position,
        /// The rollback whose `switch_back` phase flipped it.
        rollback: Option<String>,
        /// An unfinished flip (by id) this one completed.
        completed_unfinished: Option<String>,
    },
    /// A flip did not finish (an action or the read-back failed); the next flip completes it.
    SwitchFlipFailed {
        switch: String,
        component: String,
        target: Position,
        rollback: Option<String>,
        error: String,
    },
    /// A red rule stepped a switch back (its `fallback`) instead of stopping the run.
    SwitchFellBack {
        switch: String,
        component: String,
        rule: String,
        from: Position,
        to: Position,
    },
    /// A component's newest checkpoint is older than the plan's `max_checkpoint_age`
    /// (`check` found it): a rollback now would have to replay everything since.
    CheckpointStale {
        component: String,
        checkpoint: String,
        age_seconds: i64,
        limit_seconds: i64,
    },
    /// A probe's measured values over the minutes before a run stopped, as the guard held
    /// them in memory (the state store keeps only the last value): the one copy that
    /// outlives the run, for the report's "probe values around the stop".
    ProbeWindow {
        run: String,
        probe: String,
        /// When the guard saw the stop (ms since 1970).
        stop_ms: i64,
        baseline_median: Option<f64>,
        /// (ms since 1970, value), oldest first.
        samples: Vec<(i64, f64)>,
    },
    /// A kind this ripcord does not know, read from a log a newer ripcord wrote.
    #[serde(other)]
    Unknown,
}

/// What a progress or waiting event is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Reading a table into a checkpoint.
    Checkpoint { table: String },
    /// A differential checkpoint of a table over its base: `changed` keys.
    Differential {
        table: String,
        base: String,
        changed: u64,
    },
    /// Restoring a table (rows streamed into it).
    Restore { table: String },
    /// A table restored whole.
    Restored { table: String },
    /// Replaying the journal of these components.
    Replay { components: Vec<String> },
    /// Comparing a table with a checkpoint.
    Verify { table: String },
    /// Sampling a probe for its baseline.
    Baseline { probe: String },
    /// Waiting for people to approve a decision.
    Approval { decision: String, scenario: String },
    /// A sync pass that read nothing: a transaction on the new side is still open.
    SyncBlocked { component: String },
    /// Recorded by an older ripcord, which named the operation in a phrase.
    Described { text: String },
    /// An operation this ripcord does not know, from a newer ripcord's log.
    #[serde(other)]
    Other,
}

/// What an invariant's check measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "measured", rename_all = "snake_case")]
pub enum InvariantMeasure {
    /// The query's value against the expected one, as exact decimal text (no digit lost).
    Compared {
        value: String,
        expected: String,
        tolerance: String,
    },
    /// No number to compare: the query or the comparison failed or returned something
    /// else; `reason` is that error or value.
    Unmeasured { reason: String },
}

/// Why a run stopped.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RunStop {
    /// A step (its statement, command, verify or an invariant after it) failed.
    StepFailed { step: String, error: String },
    /// An emergency stop: a rule, `ripcord stop`, the panic file, a signal.
    Stop { source: StopSource, reason: String },
    /// Recorded by an older ripcord, which said why in a sentence.
    Described { text: String },
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Event::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Event {
    /// An older shape first: each has a field the current shape never writes, so a current
    /// row never reads as an old one (`legacy.rs`'s tests hold that).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if let Some(old) = legacy::read(&v) {
            return Ok(old);
        }
        Event::deserialize(v).map_err(serde::de::Error::custom)
    }
}

/// Why a business write became a data gap: the facts, for programs and for the edge to
/// word (the console's `gap_reason`; its `gap_suggestion` says what to do).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum GapReason {
    /// An update found no row with the write's key in the restored table.
    NoRow,
    /// The legacy database refused the write.
    Refused { refusal: Refusal },
    /// The migration created the row after the checkpoint; the restored table lacks it.
    CreatedByMigration,
    /// The legacy table the write maps to was not restored.
    TableNotRestored { table: String },
    /// A reverse-mapping expression failed; `error` is the database's message.
    MappingFailed { error: String },
    /// A value cannot be carried into a legacy column of another engine.
    ValueNotCarried { column: String, error: String },
    /// The mapped row has no value for a key column of the legacy table.
    KeyMissing { column: String },
    /// The journal entry lacks the row image its write needs.
    NoRowImage,
    /// Applied without these values of the captured table `captured`: the legacy table has
    /// no column for them.
    ValuesWithoutColumn { captured: String, values: RowImage },
    /// Recorded by an older ripcord, which stored a sentence and a suggestion.
    Described {
        code: GapCode,
        reason: String,
        suggestion: String,
    },
}

impl GapReason {
    pub fn code(&self) -> GapCode {
        match self {
            GapReason::NoRow => GapCode::NoRow,
            GapReason::Refused { .. } => GapCode::Refused,
            GapReason::CreatedByMigration => GapCode::CreatedByMigration,
            GapReason::TableNotRestored { .. }
            | GapReason::MappingFailed { .. }
            | GapReason::ValueNotCarried { .. }
            | GapReason::KeyMissing { .. }
            | GapReason::NoRowImage => GapCode::Unmappable,
            GapReason::ValuesWithoutColumn { .. } => GapCode::ValuesWithoutColumn,
            GapReason::Described { code, .. } => *code,
        }
    }
}

/// Why a rule's level, or the overall level, changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "snake_case")]
pub enum LevelCause {
    /// A rule's state after the sample that moved it, with the counts that decided it.
    Rule {
        status: RuleStatus,
        /// How long the current breach has held (0 when none).
        held_ms: u64,
        /// The rule's `for`.
        hold_ms: u64,
        /// Breaching samples in all.
        failures: u32,
        /// Samples in a row that could not be measured, and that could not be decided.
        errors: u32,
        inconclusive: u32,
        /// Why the sample could not be measured or decided, when that moved it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<RuleProblem>,
    },
    /// The overall level: the rules at it, and the probes whose trend raised it to yellow.
    Overall {
        rules: Vec<String>,
        trends: Vec<String>,
    },
    /// Recorded by an older ripcord, which said why in a sentence.
    Described { reason: String },
}

/// Why a rule could not be measured or decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum RuleProblem {
    /// A probe the rule reads could not measure: the probe's error.
    Unmeasured { probe: String, error: String },
    /// The rule reads a baseline that was never taken.
    NoBaseline { probe: String },
    /// The expression gave a value that is not a bool.
    NotBool { value: String },
    /// The expression failed: the evaluator's error.
    Failed { error: String },
}

/// Why a component's sync stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum SyncEnd {
    /// Another command stopped it, or a rollback asked for the component: its state then.
    Released { state: crate::sync::SyncState },
    /// Business writes of a critical component could not be applied to legacy.
    CriticalGaps {
        gaps: u64,
        /// The first of them.
        table: String,
        key: String,
        seq: i64,
        cause: GapReason,
    },
    /// Recorded by an older ripcord, which said why in a sentence.
    Described { reason: String },
}

/// What a business-continuity workflow found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum ContinuityVerdict {
    /// The probe measured `value` (`detail` is the probe's own note, as it gave it); the
    /// event's `ok` says whether the workflow's `expect` held.
    Measured { value: f64, detail: String },
    /// The workflow's `expect` could not be evaluated on `value`: the evaluator's error.
    ExpectFailed { value: f64, error: String },
    /// The probe could not measure: its error.
    Unmeasured { error: String },
    /// Recorded by an older ripcord, which said it in a sentence.
    Described { detail: String },
}

/// The kind of a data gap, for routing and counting ([`GapReason`] has the facts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapCode {
    /// No row with the write's key in the restored table.
    NoRow,
    /// The legacy database refused the write (a constraint, a type).
    Refused,
    /// The migration created the row after the checkpoint; the restored table lacks it.
    CreatedByMigration,
    /// The write could not be mapped back to the legacy shape (reverse mapping, a value
    /// that cannot be carried, a missing key or row image).
    Unmappable,
    /// Applied, but some of its values have no column in the legacy table.
    ValuesWithoutColumn,
    #[default]
    Other,
}

/// How urgently someone should hear of an event; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|v| v.name() == s)
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// What an event is about, so a listener can follow one run, rollback or component without
/// knowing every kind of event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
}

/// An event with what every listener needs to route it. `seq` is set once the event log
/// stored it (`None` for an event not stored: a throttled progress event, a bus without a
/// log, a failed append).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub at: String,
    pub severity: Severity,
    pub subject: Subject,
    pub event: Event,
}

impl Envelope {
    /// Stamped now.
    pub fn new(event: Event) -> Self {
        Envelope {
            seq: None,
            at: crate::context::now(),
            severity: event.severity(),
            subject: event.subject(),
            event,
        }
    }
}

impl Event {
    pub fn severity(&self) -> Severity {
        use Severity::*;
        match self {
            Event::StepFinished { ok: false, .. }
            | Event::DataGap { .. }
            | Event::Conflict { .. }
            | Event::TrendWarning { .. }
            | Event::NotConfirmed { .. }
            | Event::StatementCancelled { .. }
            | Event::SyncGap { .. }
            | Event::SwitchFellBack { .. }
            | Event::CheckpointStale { .. }
            | Event::ApprovalRequested { .. }
            | Event::ApprovalAnswered {
                approved: false, ..
            } => Warning,
            Event::InvariantChecked { ok: false, .. }
            | Event::RunStopped { .. }
            | Event::StopRequested { .. }
            | Event::RtoExceeded { .. }
            | Event::RollbackFinished { ok: false, .. }
            | Event::SyncStopped { ok: false, .. }
            | Event::ContinuityChecked { ok: false, .. }
            | Event::SwitchFlipFailed { .. } => Critical,
            Event::LevelChanged { to, .. } => match to {
                Level::Green => Info,
                Level::Yellow | Level::Orange => Warning,
                Level::Red => Critical,
            },
            _ => Info,
        }
    }

    pub fn subject(&self) -> Subject {
        let run = |r: &String| Subject {
            run: Some(r.clone()),
            ..Subject::default()
        };
        let rollback = |r: &String| Subject {
            rollback: Some(r.clone()),
            ..Subject::default()
        };
        match self {
            Event::RunStarted { run: r }
            | Event::StepStarted { run: r, .. }
            | Event::StepFinished { run: r, .. }
            | Event::StopRequested { run: r, .. }
            | Event::StatementCancelled { run: r, .. }
            | Event::DecisionMade { run: r, .. }
            | Event::ApprovalRequested { run: r, .. }
            | Event::ApprovalAnswered { run: r, .. }
            | Event::ContinuityChecked { run: r, .. } => run(r),
            Event::RunStopped {
                run: r, components, ..
            } => Subject {
                components: components.clone(),
                ..run(r)
            },
            Event::RollbackStarted {
                rollback: r,
                components,
                ..
            } => Subject {
                components: components.clone(),
                ..rollback(r)
            },
            Event::PhaseStarted { rollback: r, .. }
            | Event::PhaseFinished { rollback: r, .. }
            | Event::DataGap { rollback: r, .. }
            | Event::Conflict { rollback: r, .. }
            | Event::RollbackFinished { rollback: r, .. }
            | Event::RtoExceeded { rollback: r, .. } => rollback(r),
            Event::CheckpointTaken { components, .. } => Subject {
                components: components.clone(),
                ..Subject::default()
            },
            Event::InvariantChecked { component, .. }
            | Event::SyncLag { component, .. }
            | Event::SyncGap { component, .. }
            | Event::SyncStopped { component, .. } => Subject {
                components: vec![component.clone()],
                ..Subject::default()
            },
            Event::SwitchFlipped {
                component,
                rollback,
                ..
            }
            | Event::SwitchFlipFailed {
                component,
                rollback,
                ..
            } => Subject {
                rollback: rollback.clone(),
                components: vec![component.clone()],
                ..Subject::default()
            },
            Event::SwitchFellBack { component, .. } => Subject {
                components: vec![component.clone()],
                ..Subject::default()
            },
            _ => Subject::default(),
        }
    }
}

pub trait EventSink: Send {
    fn emit(&mut self, event: &Event);
    /// The event with its envelope; sinks that route by severity or show the time or the
    /// sequence number override this one.
    fn deliver(&mut self, envelope: &Envelope) {
        self.emit(&envelope.event);
    }
}

/// Takes events from any thread and delivers them, in emit order, off the caller's thread
/// (see the module documentation). Clones share one queue and one delivery thread; when the
/// last clone goes, it waits for the queue to drain.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: Option<mpsc::Sender<Msg>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

enum Msg {
    Event(Box<Envelope>),
    Subscribe(Box<dyn EventSink>),
    Persist(Box<dyn StateStore>),
    Flush(mpsc::SyncSender<()>),
}

impl Default for Bus {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name("ripcord-events".into())
            .spawn(move || Worker::default().run(rx))
            .expect("cannot start the event delivery thread");
        Bus {
            inner: Arc::new(Inner {
                tx: Some(tx),
                worker: Some(worker),
            }),
        }
    }
}

impl Bus {
    /// Delivers every event emitted after this call to `sink`.
    pub fn subscribe(&self, sink: Box<dyn EventSink>) {
        self.send(Msg::Subscribe(sink));
    }

    /// Appends every event emitted after this call to the event log of `store` (give it a
    /// connection of its own: `StateStore::reopen`).
    pub fn persist_to(&self, store: Box<dyn StateStore>) {
        self.send(Msg::Persist(store));
    }

    /// Queues the event and returns: never waits for the log or a sink.
    pub fn emit(&self, event: Event) {
        self.send(Msg::Event(Box::new(Envelope::new(event))));
    }

    /// Waits until every event emitted before this call was stored and reached every sink.
    /// Returns at once on the delivery thread itself (a sink that flushes would wait for
    /// itself) and when that thread is gone.
    pub fn flush(&self) {
        if self.on_delivery_thread() {
            return;
        }
        let (done, wait) = mpsc::sync_channel(1);
        if self
            .inner
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Flush(done)).is_ok())
        {
            let _ = wait.recv();
        }
    }

    fn send(&self, m: Msg) {
        if let Some(tx) = &self.inner.tx {
            // Fails only when the delivery thread is gone (a sink panicked while it was
            // alone): the event has nobody left to reach.
            let _ = tx.send(m);
        }
    }

    fn on_delivery_thread(&self) -> bool {
        self.inner
            .worker
            .as_ref()
            .is_some_and(|w| w.thread().id() == std::thread::current().id())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.worker.take()
            && w.thread().id() != std::thread::current().id()
        {
            let _ = w.join();
        }
    }
}

/// At most this many events per log transaction, so a flood still reaches sinks steadily.
const BATCH: usize = 512;

#[derive(Default)]
struct Worker {
    sinks: Vec<Box<dyn EventSink>>,
    log: Option<Log>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        let mut batch = Vec::new();
        while let Ok(first) = rx.recv() {
            for m in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)) {
                match m {
                    Msg::Event(e) => batch.push(*e),
                    Msg::Subscribe(s) => {
                        self.deliver(&mut batch);
                        self.sinks.push(s);
                    }
                    Msg::Persist(store) => {
                        self.deliver(&mut batch);
                        self.log = Some(Log {
                            store,
                            progress: HashMap::new(),
                        });
                    }
                    Msg::Flush(done) => {
                        self.deliver(&mut batch);
                        let _ = done.send(());
                    }
                }
            }
            self.deliver(&mut batch);
        }
    }

    fn deliver(&mut self, batch: &mut Vec<Envelope>) {
        if batch.is_empty() {
            return;
        }
        batch.iter_mut().for_each(scrub);
        if let Some(log) = &mut self.log {
            log.append(batch);
        }
        for e in batch.drain(..) {
            // A sink that panics is dropped; the others, and the log, keep going.
            self.sinks.retain_mut(|s| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.deliver(&e))).is_ok()
            });
        }
    }
}

/// Secrets can reach an event through an error message (a driver quoting its URL).
fn scrub(e: &mut Envelope) {
    if let Ok(mut v) = serde_json::to_value(&e.event)
        && crate::redact::scrub_json(&mut v)
        && let Ok(clean) = serde_json::from_value(v)
    {
        e.event = clean;
    }
    if let Ok(mut v) = serde_json::to_value(&e.subject)
        && crate::redact::scrub_json(&mut v)
        && let Ok(clean) = serde_json::from_value(v)
    {
        e.subject = clean;
    }
}

/// Progress events come once a batch or once a second; this often is plenty for a log.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

struct Log {
    store: Box<dyn StateStore>,
    /// When the last progress event of each `what` was stored.
    progress: HashMap<Operation, Instant>,
}

impl Log {
    fn append(&mut self, batch: &mut [Envelope]) {
        let keep: Vec<usize> = (0..batch.len())
            .filter(|&i| self.wanted(&batch[i].event))
            .collect();
        let mut stored: Vec<Envelope> = keep.iter().map(|&i| batch[i].clone()).collect();
        if stored.is_empty() {
            return;
        }
        match self.store.append_events(&mut stored) {
            Ok(()) => {
                for (i, e) in keep.into_iter().zip(stored) {
                    batch[i].seq = e.seq;
                }
            }
            // The events still reach the sinks; the log misses them, and says so in the log
            // file rather than failing the rollback that emitted them.
            Err(err) => tracing::warn!(events = stored.len(), "event log append failed: {err}"),
        }
    }

    fn wanted(&mut self, e: &Event) -> bool {
        let (what, last) = match e {
            Event::Progress { what, done, total } => (what, done >= total),
            Event::DataProgress { what, finished, .. } => (what, *finished),
            _ => return true,
        };
        if last {
            self.progress.remove(what);
            return true;
        }
        let now = Instant::now();
        match self.progress.get(what) {
            Some(t) if now.duration_since(*t) < PROGRESS_EVERY => false,
            _ => {
                self.progress.insert(what.clone(), now);
                true
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn progress(n: u64) -> Event {
        Event::Progress {
            what: Operation::Restore {
                table: "test".into(),
            },
            done: n,
            total: 100,
        }
    }

    /// Blocks on the barrier at its first event, then records.
    struct Stuck(Arc<Barrier>, Recorder, bool);

    impl EventSink for Stuck {
        fn emit(&mut self, e: &Event) {
            if !self.2 {
                self.2 = true;
                self.0.wait();
            }
            self.1.emit(e);
        }
    }

    #[test]
    fn a_stuck_sink_does_not_block_emit_and_flush_waits_for_it() {
        let bus = Bus::default();
        let gate = Arc::new(Barrier::new(2));
        let seen = Recorder::default();
        bus.subscribe(Box::new(Stuck(gate.clone(), seen.clone(), false)));
        let after = Recorder::default();
        bus.subscribe(Box::new(after.clone()));
        // The sink is stuck on the first event until the barrier opens below, after every
        // emit returned: a blocking emit would never get there.
        for n in 0..5 {
            bus.emit(progress(n));
        }
        assert!(after.0.lock().unwrap().is_empty(), "delivery is in order");
        gate.wait();
        bus.flush();
        let got = |r: &Recorder| -> Vec<u64> {
            r.0.lock()
                .unwrap()
                .iter()
                .map(|e| match e {
                    Event::Progress { done, .. } => *done,
                    _ => unreachable!(),
                })
                .collect()
        };
        assert_eq!(got(&seen), vec![0, 1, 2, 3, 4]);
        assert_eq!(got(&after), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_sink_sees_only_events_after_it_subscribed_and_a_panicking_one_is_dropped() {
        struct Boom;
        impl EventSink for Boom {
            fn emit(&mut self, _: &Event) {
                panic!("a broken sink");
            }
        }
        let bus = Bus::default();
        bus.emit(progress(0));
        let r = Recorder::default();
        bus.subscribe(Box::new(Boom));
        bus.subscribe(Box::new(r.clone()));
        bus.emit(progress(1));
        bus.emit(progress(2));
        let clone = bus.clone();
        drop(bus);
        clone.flush();
        assert_eq!(r.0.lock().unwrap().len(), 2);
    }

    #[test]
    fn dropping_the_last_bus_delivers_what_was_queued() {
        let r = Recorder::default();
        let bus = Bus::default();
        bus.subscribe(Box::new(r.clone()));
        bus.emit(progress(7));
        drop(bus);
        assert_eq!(r.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn severity_follows_the_kind_and_the_level() {
        let level = |to| Event::LevelChanged {
            rule: String::new(),
            from: Level::Green,
            to,
            cause: LevelCause::Overall {
                rules: vec![],
                trends: vec![],
            },
            evidence: serde_json::Value::Null,
        };
        assert_eq!(level(Level::Green).severity(), Severity::Info);
        assert_eq!(level(Level::Orange).severity(), Severity::Warning);
        assert_eq!(level(Level::Red).severity(), Severity::Critical);
        let rto = Event::RtoExceeded {
            rollback: "rb-1".into(),
            seconds: 2.0,
            rto_seconds: 1.0,
        };
        assert_eq!(rto.severity(), Severity::Critical);
        assert_eq!(rto.subject().rollback.as_deref(), Some("rb-1"));
        assert_eq!(progress(1).severity(), Severity::Info);
    }

    #[test]
    fn envelopes_round_trip_and_unknown_kinds_still_read() {
        let e = Envelope::new(Event::DataGap {
            rollback: "rb-1".into(),
            table: "payments".into(),
            key: "id=4".into(),
            cause: GapReason::NoRow,
            code: GapCode::NoRow,
        });
        assert_eq!(e.severity, Severity::Warning);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""kind":"data_gap""#) && json.contains(r#""code":"no_row""#));
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert!(matches!(
            back.event,
            Event::DataGap {
                code: GapCode::NoRow,
                ..
            }
        ));
        let newer: Event = serde_json::from_str(r#"{"kind":"from_the_future","x":1}"#).unwrap();
        assert!(matches!(newer, Event::Unknown));
    }
}
