//! The state store: runs, checkpoints, rollbacks and their phases, locks, audit entries,
//! the event log.
//! A small object-safe trait so SQLite (the default, `.ripcord/state.db`) and later
//! PostgreSQL (shared by several operators and a dashboard) can both serve it.

use crate::audit::{AuditDraft, AuditEntry};
use crate::events::Envelope;
use crate::rollback::RollbackRecord;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub id: String,
    pub created_at: String,
    pub components: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub new_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub actor: String,
    pub status: String,
    pub detail: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub rollback: String,
    pub phase: String,
    /// `intent` before the phase acts, `done` or `failed` after.
    pub event: String,
    pub at: String,
    pub detail: String,
}

/// Who holds (or wants) a lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockOwner {
    pub owner: String,
    pub host: String,
    pub pid: u32,
}

impl LockOwner {
    pub fn current(actor: &str) -> Self {
        LockOwner {
            owner: actor.to_string(),
            host: hostname(),
            pid: std::process::id(),
        }
    }

    /// True when the holder is a process on this machine that no longer exists.
    pub fn is_dead_here(&self) -> bool {
        if self.host != hostname() {
            return false;
        }
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let r = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
        r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("lock {name} is held by {} (pid {} on {}) since {since}, lease until {lease_until}", holder.owner, holder.pid, holder.host)]
pub struct LockHeld {
    pub name: String,
    pub holder: LockOwner,
    pub since: String,
    pub lease_until: String,
}

impl LockHeld {
    /// Its lease ended and nobody renewed it: the next rollback takes it over, wherever
    /// its holder ran.
    pub fn lapsed(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.lease_until)
            .is_ok_and(|t| t < chrono::Utc::now())
    }
}

pub type StateResult<T> = Result<T, crate::Error>;

/// A probe's pre-migration baseline, pinned so rules compare against a fixed reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    pub probe: String,
    pub taken_at: String,
    /// The measured values, in the order taken.
    pub samples: Vec<f64>,
    /// Samples that could not be measured (kept apart from the values).
    pub errors: u32,
    pub median: f64,
    pub p95: f64,
}

/// A stop asked for by `ripcord stop` (from any terminal), picked up by the running
/// ripcord, which writes back what it did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopRecord {
    pub id: i64,
    pub at: String,
    /// Wall-clock milliseconds, for measuring the stop latency.
    pub at_ms: i64,
    pub actor: String,
    pub reason: String,
    pub scenario: Option<String>,
    pub handled_at: Option<String>,
    pub outcome: Option<String>,
}

/// A decision waiting for (or given by) a named approver, with its deadline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub id: String,
    pub run: String,
    pub scenario: String,
    /// What approval would do (`rollback_now`).
    pub proposal: String,
    pub approvers: Vec<String>,
    pub opened_at: String,
    pub deadline: String,
    pub deadline_ms: i64,
    /// `open`, `approved`, `rejected` or `expired`.
    pub status: String,
    pub answered_by: Option<String>,
    pub answered_at: Option<String>,
    pub evidence: serde_json::Value,
}

/// ripcord re-armed a table's capture without letting a write escape the journal (in one
/// transaction or under the table's write lock): the capture token went from `before` to
/// `after`, and continuity still holds across that change (see `continuity.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureLink {
    pub database: String,
    pub table: String,
    pub before: String,
    pub after: String,
    pub at: String,
    /// What re-armed it: `capture` (checkpoint, capture start) or a rollback id.
    pub by: String,
}

pub trait StateStore: Send {
    fn create_run(&mut self, id: &str, actor: &str, detail: &serde_json::Value) -> StateResult<()>;
    fn finish_run(&mut self, id: &str, status: &str, detail: &serde_json::Value)
    -> StateResult<()>;
    fn runs(&mut self) -> StateResult<Vec<RunRecord>>;

    fn add_checkpoint(&mut self, rec: &CheckpointRecord) -> StateResult<()>;
    /// Valid checkpoints, newest first.
    fn checkpoints(&mut self) -> StateResult<Vec<CheckpointRecord>>;
    /// Unlists a checkpoint (`ripcord prune`); false when it was not listed.
    fn remove_checkpoint(&mut self, id: &str) -> StateResult<bool>;

    fn add_capture_link(&mut self, link: &CaptureLink) -> StateResult<()>;
    /// Every link, oldest first.
    fn capture_links(&mut self) -> StateResult<Vec<CaptureLink>>;

    fn save_rollback(&mut self, r: &RollbackRecord) -> StateResult<()>;
    fn rollbacks(&mut self) -> StateResult<Vec<RollbackRecord>>;
    fn log_phase(
        &mut self,
        rollback: &str,
        phase: &str,
        event: &str,
        detail: &str,
    ) -> StateResult<()>;
    fn phases(&mut self, rollback: &str) -> StateResult<Vec<PhaseRecord>>;

    /// Takes the lock, or takes it over when its lease ran out or its holder died here.
    fn acquire_lock(&mut self, name: &str, owner: &LockOwner, lease: Duration) -> StateResult<()>;
    fn renew_lock(&mut self, name: &str, owner: &LockOwner, lease: Duration) -> StateResult<()>;
    fn release_lock(&mut self, name: &str, owner: &LockOwner) -> StateResult<()>;
    fn locks(&mut self) -> StateResult<Vec<LockHeld>>;

    /// Appends to the audit chain atomically (reads the head and writes the entry and the
    /// new head in one transaction).
    fn append_audit(&mut self, draft: AuditDraft) -> StateResult<AuditEntry>;
    /// Entries in stored order.
    fn audit_entries(&mut self) -> StateResult<Vec<AuditEntry>>;
    fn audit_head(&mut self) -> StateResult<Option<(i64, String)>>;

    /// A second connection to the same store, for a watcher thread.
    fn reopen(&self) -> StateResult<Box<dyn StateStore>>;

    /// Replaces the probe's baseline.
    fn pin_baseline(&mut self, b: &BaselineRecord) -> StateResult<()>;
    fn baselines(&mut self) -> StateResult<Vec<BaselineRecord>>;

    fn request_stop(
        &mut self,
        actor: &str,
        reason: &str,
        scenario: Option<&str>,
    ) -> StateResult<StopRecord>;
    /// Stop requests with an id above `id`, oldest first.
    fn stop_requests_after(&mut self, id: i64) -> StateResult<Vec<StopRecord>>;
    /// The highest stop request id (0 when there is none).
    fn last_stop_id(&mut self) -> StateResult<i64>;
    fn answer_stop(&mut self, id: i64, outcome: &str) -> StateResult<()>;

    fn save_decision(&mut self, d: &DecisionRecord) -> StateResult<()>;
    /// Newest first.
    fn decisions(&mut self) -> StateResult<Vec<DecisionRecord>>;
    /// Answers an open decision; false when it was no longer open (someone else answered
    /// first, or its deadline passed).
    fn answer_decision(&mut self, id: &str, status: &str, by: &str) -> StateResult<bool>;

    /// Appends to the event log in one transaction and sets each envelope's `seq`. The log
    /// is append-only and `seq` only grows (format and invariants: `events.rs`).
    fn append_events(&mut self, events: &mut [Envelope]) -> StateResult<()>;
    /// At most `limit` events with a `seq` above `seq`, in `seq` order: how another process
    /// (`ripcord events`, a notifier, a dashboard) follows the log.
    fn events_after(&mut self, seq: i64, limit: usize) -> StateResult<Vec<Envelope>>;

    /// The guard's latest picture (level, probes, rules), for `ripcord status`.
    fn save_guard_status(&mut self, status: &serde_json::Value) -> StateResult<()>;
    fn guard_status(&mut self) -> StateResult<Option<serde_json::Value>>;

    /// Replaces the switch's record (`crate::switch`: intent before a flip, result after).
    fn save_switch(&mut self, r: &crate::switch::SwitchRecord) -> StateResult<()>;
    /// Every switch record, by name.
    fn switches(&mut self) -> StateResult<Vec<crate::switch::SwitchRecord>>;

    /// How far the notifier read the event log; `None` before it first ran.
    fn notify_cursor(&mut self) -> StateResult<Option<i64>>;
    /// The highest `seq` in the event log (0 when empty).
    fn last_event_seq(&mut self) -> StateResult<i64>;
    /// In one transaction: replaces the incidents given, adds the deliveries whose key is
    /// new (a known key is left as it is), and moves the cursor when given.
    fn notify_commit(&mut self, batch: &crate::notify::NotifyBatch) -> StateResult<()>;
    /// Newest first.
    fn incidents(&mut self) -> StateResult<Vec<crate::notify::IncidentRecord>>;
    /// Records an acknowledgement; false when that level of that incident was already
    /// acknowledged (the first one stands).
    fn ack_incident(&mut self, ack: &crate::notify::AckRecord) -> StateResult<bool>;
    /// Oldest first.
    fn acks(&mut self) -> StateResult<Vec<crate::notify::AckRecord>>;
    /// Keeps a one-time acknowledgement link's token (by its hash only).
    fn save_ack_token(&mut self, t: &crate::notify::AckToken) -> StateResult<()>;
    /// The token with this hash, used or not.
    fn ack_token(&mut self, hash: &str) -> StateResult<Option<crate::notify::AckToken>>;
    /// Marks the token used at `at`; false when it already was (a link works once).
    fn use_ack_token(&mut self, hash: &str, at: &str) -> StateResult<bool>;
    /// The outbox, oldest first; only one incident's when named.
    fn deliveries(
        &mut self,
        incident: Option<&str>,
    ) -> StateResult<Vec<crate::notify::DeliveryRecord>>;
    /// Pending deliveries whose next attempt is due at `now_ms`, oldest first, claimed in
    /// the same transaction: their next attempt moves to `claim_until_ms`, so a second
    /// notifier does not send them too, and one killed mid-send is retried after that.
    fn claim_due(
        &mut self,
        now_ms: i64,
        limit: usize,
        claim_until_ms: i64,
    ) -> StateResult<Vec<crate::notify::DeliveryRecord>>;
    /// Appends an attempt to a delivery and sets its status and next attempt time.
    fn record_attempt(
        &mut self,
        id: i64,
        attempt: &crate::notify::Attempt,
        status: crate::notify::DeliveryStatus,
        next_attempt_ms: i64,
    ) -> StateResult<()>;
    /// Replaces the component's sync record (`crate::sync`).
    fn save_sync(&mut self, r: &crate::sync::SyncRecord) -> StateResult<()>;
    /// Every sync record, by component.
    fn syncs(&mut self) -> StateResult<Vec<crate::sync::SyncRecord>>;

    /// Replaces a cutover's record (`crate::cutover`: saved at every phase boundary).
    fn save_cutover(&mut self, r: &crate::cutover::CutoverRecord) -> StateResult<()>;
    /// Every cutover, newest first.
    fn cutovers(&mut self) -> StateResult<Vec<crate::cutover::CutoverRecord>>;
}
