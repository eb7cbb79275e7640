//! Notifications: incidents opened from the event log, escalation by the plan's policy,
//! and messages as data in an outbox in the state store, sent by a worker
//! ([`worker::tick`]) with retries. Wording lives at the edge: the binary renders each
//! message in its recipient's language.
//!
//! An overall level rising to yellow or orange with no incident open is told to level 1
//! once. An incident opens on a red level, an emergency stop or a rollback, and is resolved when
//! its rollback finished well (or when the level went back to green before any rollback).
//! Level 1 is reached when it opens; a level is sent to `delay` after it was reached, again
//! every `repeat`, and reaches the next level `escalate_after` after it was reached, unless
//! someone acknowledged it (`ripcord ack`). Acks are rows of their own, never a field of the
//! incident the worker rewrites, so one cannot be lost to a concurrent update.

pub mod catalog;
pub mod worker;

pub use crate::plan::{Impact, Language, NotifyPlan, Recipient};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    RedLevel,
    EmergencyStop,
    Rollback,
}

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::RedLevel => "red_level",
            Cause::EmergencyStop => "emergency_stop",
            Cause::Rollback => "rollback",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

/// Where one escalation level of an incident stands.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelState {
    pub level: u32,
    /// When the level was reached (ms since the epoch); `None`: not yet.
    pub reached_ms: Option<i64>,
    /// Rounds of messages sent to the level (the first one and its repeats).
    pub rounds: u32,
    pub last_sent_ms: Option<i64>,
}

/// A rollback's result, as the incident's messages show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackOutcome {
    pub rollback: String,
    pub ok: bool,
    pub seconds: f64,
    pub rto_seconds: f64,
    pub at_risk: u64,
    pub recovered: u64,
    pub lost: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// `inc-SEQ`, after the event that opened it, so handling that event twice (after a
    /// crash) opens the same incident.
    pub id: String,
    pub opened_at: String,
    pub opened_ms: i64,
    pub cause: Cause,
    pub reason: String,
    pub run: Option<String>,
    pub rollbacks: Vec<String>,
    pub components: Vec<String>,
    pub impact: Impact,
    pub status: IncidentStatus,
    pub resolved_at: Option<String>,
    pub resolved_ms: Option<i64>,
    pub levels: Vec<LevelState>,
    /// Periodic user updates sent (significant impact).
    pub user_rounds: u32,
    pub outcome: Option<RollbackOutcome>,
}

impl IncidentRecord {
    pub fn summary(&self, plan: &str) -> Summary {
        Summary {
            incident: self.id.clone(),
            plan: plan.to_string(),
            cause: self.cause,
            reason: self.reason.clone(),
            detected_at: self.opened_at.clone(),
            components: self.components.clone(),
            run: self.run.clone(),
        }
    }
    /// The highest level reached.
    pub fn level_reached(&self) -> u32 {
        self.levels
            .iter()
            .filter(|l| l.reached_ms.is_some())
            .map(|l| l.level)
            .max()
            .unwrap_or(0)
    }
}

/// `ripcord ack INCIDENT --as NAME`: stops repeats and escalation for that level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckRecord {
    pub incident: String,
    pub level: u32,
    pub by: String,
    pub at: String,
}

/// A one-time acknowledgement link's token for one level of an incident and one
/// recipient. Only its hash is kept: the token itself exists in the message alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckToken {
    /// BLAKE3 of the token, hex.
    pub hash: String,
    pub incident: String,
    pub level: u32,
    /// Who the link was sent to: the ack is theirs.
    pub recipient: String,
    pub created_at: String,
    pub used_at: Option<String>,
}

impl AckToken {
    /// A new random token (64 hex digits, 256 bits) and its record.
    pub fn issue(incident: &str, level: u32, recipient: &str) -> (String, AckToken) {
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let rec = AckToken {
            hash: AckToken::hash_of(&token),
            incident: incident.to_string(),
            level,
            recipient: recipient.to_string(),
            created_at: crate::context::now(),
            used_at: None,
        };
        (token, rec)
    }

    pub fn hash_of(token: &str) -> String {
        blake3::hash(token.as_bytes()).to_hex().to_string()
    }
}

/// What every incident message says about the incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub incident: String,
    pub plan: String,
    pub cause: Cause,
    pub reason: String,
    pub detected_at: String,
    pub components: Vec<String>,
    pub run: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStage {
    Started,
    Update,
    Resolved,
}

/// A message as data: the binary words it (`crates/cli/locales/*.ftl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Round 0 is the first message to the level; later rounds are reminders.
    EmergencyDetected {
        summary: Summary,
        level: u32,
        round: u32,
    },
    /// The first message to a level reached because the one below did not acknowledge.
    Escalated {
        summary: Summary,
        level: u32,
        unacknowledged_seconds: f64,
    },
    RollbackStarted {
        summary: Summary,
        rollback: String,
        checkpoint: String,
    },
    RollbackCompleted {
        summary: Summary,
        outcome: RollbackOutcome,
    },
    Resolved {
        summary: Summary,
        resolved_at: String,
        duration_seconds: f64,
        outcome: Option<RollbackOutcome>,
    },
    /// What the business's users hear, by impact.
    UserNotice {
        summary: Summary,
        impact: Impact,
        stage: UserStage,
    },
    /// The overall guard level rose to yellow or orange with no incident open: level 1
    /// is told to watch closer or to prepare a rollback (docs/product.md).
    LevelChanged {
        plan: String,
        level: crate::plan::Level,
        reason: String,
        at: String,
    },
    Test {
        plan: String,
        channel: String,
    },
    /// A stopped run waits for someone to approve its rollback before `deadline`.
    ApprovalNeeded {
        plan: String,
        run: String,
        decision: String,
        scenario: String,
        approvers: Vec<String>,
        deadline: String,
    },
    /// A probe's trend crosses its threshold within `eta_seconds`.
    TrendWarning {
        plan: String,
        probe: String,
        /// The threshold the trend crosses.
        threshold: f64,
        eta_seconds: f64,
    },
    /// The newest checkpoint of a component is older than the plan allows (`check`'s
    /// `checkpoint_stale` event).
    CheckpointStale {
        plan: String,
        checkpoint: String,
        component: String,
        age_seconds: f64,
    },
    /// The payroll seed's leadership notice, all-staff notice and technical-team brief
    /// (no event raises them yet: ripcord does not know a root cause or the measures
    /// people decide on).
    Briefing {
        audience: BriefingKind,
        brief: Briefing,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BriefingKind {
    Leadership,
    AllStaff,
    TechnicalTeam,
}

/// The seed's placeholders; `None` is shown as "not known yet".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Briefing {
    pub plan: String,
    pub emergency_type: String,
    pub detected_at: String,
    pub affected_systems: Vec<String>,
    pub business_impact: Option<String>,
    pub estimated_resolution: Option<String>,
    pub next_update: Option<String>,
    pub resolved_at: Option<String>,
    pub root_cause: Option<String>,
    pub actions_taken: Option<String>,
    pub preventive_measures: Option<String>,
}

impl Message {
    pub fn id(&self) -> &'static str {
        match self {
            Message::EmergencyDetected { round: 0, .. } => "emergency-detected",
            Message::EmergencyDetected { .. } => "reminder",
            Message::Escalated { .. } => "escalated",
            Message::RollbackStarted { .. } => "rollback-started",
            Message::RollbackCompleted { .. } => "rollback-completed",
            Message::Resolved { .. } => "issue-resolved",
            Message::UserNotice { .. } => "user-notice",
            Message::LevelChanged { .. } => "level-changed",
            Message::Test { .. } => "test",
            Message::ApprovalNeeded { .. } => "approval-needed",
            Message::TrendWarning { .. } => "trend-warning",
            Message::CheckpointStale { .. } => "checkpoint-stale",
            Message::Briefing {
                audience: BriefingKind::Leadership,
                ..
            } => "leadership-notice",
            Message::Briefing {
                audience: BriefingKind::AllStaff,
                ..
            } => "all-staff-notice",
            Message::Briefing {
                audience: BriefingKind::TechnicalTeam,
                ..
            } => "technical-brief",
        }
    }
    pub fn incident(&self) -> Option<&str> {
        match self {
            Message::EmergencyDetected { summary, .. }
            | Message::Escalated { summary, .. }
            | Message::RollbackStarted { summary, .. }
            | Message::RollbackCompleted { summary, .. }
            | Message::Resolved { summary, .. }
            | Message::UserNotice { summary, .. } => Some(&summary.incident),
            Message::LevelChanged { .. }
            | Message::Test { .. }
            | Message::ApprovalNeeded { .. }
            | Message::TrendWarning { .. }
            | Message::CheckpointStale { .. }
            | Message::Briefing { .. } => None,
        }
    }
    /// Resolved and completed rollbacks read as "resolved" to an alert receiver.
    pub fn resolves(&self) -> bool {
        matches!(self, Message::Resolved { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    /// Gave up after the plan's `max_attempts`.
    Failed,
}

impl DeliveryStatus {
    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One try at sending a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: String,
    pub ok: bool,
    /// What the channel answered, or why it failed (scrubbed of secrets).
    pub detail: String,
    pub seconds: f64,
}

/// One message to one recipient through one channel: the outbox row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Set by the store.
    pub id: i64,
    /// Unique: the same message queued twice (an event handled again after a crash) is one
    /// delivery.
    pub key: String,
    pub incident: Option<String>,
    /// The escalation level it goes to; `None` for users and tests.
    pub level: Option<u32>,
    pub recipient: Recipient,
    pub message: Message,
    pub status: DeliveryStatus,
    pub created_at: String,
    /// Not sent before this (ms since the epoch).
    pub next_attempt_ms: i64,
    pub attempts: Vec<Attempt>,
}

impl DeliveryRecord {
    pub fn new(key: String, level: Option<u32>, recipient: &Recipient, message: Message) -> Self {
        DeliveryRecord {
            id: 0,
            key,
            incident: message.incident().map(str::to_string),
            level,
            recipient: recipient.clone(),
            message,
            status: DeliveryStatus::Pending,
            created_at: crate::context::now(),
            next_attempt_ms: 0,
            attempts: Vec::new(),
        }
    }
}

/// What the worker writes in one transaction: incidents (replaced whole), new deliveries
/// (ignored when their key is already there) and how far it read the event log.
#[derive(Clone, Debug, Default)]
pub struct NotifyBatch {
    pub incidents: Vec<IncidentRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    pub cursor: Option<i64>,
}

/// A message the policy says is due to a level now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Level {
        level: u32,
        round: u32,
    },
    /// A periodic update to users (significant impact).
    Users {
        round: u32,
    },
}

fn ms(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Moves an open incident along the policy up to `now_ms`: reaches levels whose lower level
/// went unacknowledged for `escalate_after` (at that moment, not at `now`, so a late worker
/// computes the same times), and returns the rounds due. Reminders missed while nothing ran
/// are not sent late one by one: only the newest one due is; a level's first message is
/// never skipped.
pub fn advance(
    inc: &mut IncidentRecord,
    acked: &BTreeSet<u32>,
    cfg: &NotifyPlan,
    now_ms: i64,
) -> Vec<Due> {
    let mut due = Vec::new();
    if inc.status != IncidentStatus::Open {
        return due;
    }
    for l in &cfg.levels {
        if !inc.levels.iter().any(|s| s.level == l.number) {
            inc.levels.push(LevelState {
                level: l.number,
                reached_ms: (l.number == 1).then_some(inc.opened_ms),
                ..LevelState::default()
            });
        }
    }
    inc.levels.sort_by_key(|s| s.level);
    for i in 0..inc.levels.len() {
        let Some(pol) = cfg.level(inc.levels[i].level) else {
            continue;
        };
        let Some(reached) = inc.levels[i].reached_ms else {
            continue;
        };
        if acked.contains(&pol.number) {
            continue;
        }
        let st = &mut inc.levels[i];
        let first = reached + ms(pol.delay);
        if now_ms >= first {
            let rounds = match pol.repeat {
                Some(r) if !r.is_zero() => 1 + ((now_ms - first) / ms(r)) as u32,
                _ => 1,
            };
            if rounds > st.rounds {
                // The first message always goes (it says what happened, or that it was
                // escalated); missed reminders collapse into the newest one.
                due.push(Due::Level {
                    level: pol.number,
                    round: if st.rounds == 0 { 0 } else { rounds - 1 },
                });
                st.rounds = rounds;
                st.last_sent_ms = Some(now_ms);
            }
        }
        if let Some(after) = pol.escalate_after
            && now_ms >= reached + ms(after)
            && let Some(next) = inc.levels.get_mut(i + 1)
            && next.reached_ms.is_none()
        {
            next.reached_ms = Some(reached + ms(after));
        }
    }
    if inc.impact == Impact::Significant && !cfg.users.is_empty() {
        let every = ms(cfg.users_update_every).max(1);
        let rounds = ((now_ms - inc.opened_ms).max(0) / every) as u32;
        if rounds > inc.user_rounds {
            due.push(Due::Users { round: rounds });
            inc.user_rounds = rounds;
        }
    }
    due
}

/// The users who hear of an incident at this stage, by its impact.
pub fn users_for(cfg: &NotifyPlan, impact: Impact, stage: UserStage) -> Vec<&Recipient> {
    use crate::plan::ChannelKind;
    let kind = |r: &Recipient| cfg.channels.get(&r.channel).map(|c| c.kind.name());
    cfg.users
        .iter()
        .filter(|r| match (impact, stage) {
            (Impact::None, _) => false,
            (Impact::Minimal, UserStage::Resolved) => kind(r) == Some(ChannelKind::InApp.name()),
            (Impact::Minimal, _) => false,
            (Impact::Moderate, UserStage::Update) => false,
            (Impact::Moderate, _) => matches!(kind(r), Some("in_app" | "smtp")),
            (Impact::Significant, _) => true,
        })
        .collect()
}

/// Milliseconds since the epoch of an RFC 3339 time (0 when it does not read).
pub fn time_ms(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

pub fn ms_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
