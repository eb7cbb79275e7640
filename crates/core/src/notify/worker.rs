//! The notifier: reads the event log by `seq`, keeps incidents, queues messages in the
//! outbox, and sends what is due through a [`Transport`] the binary supplies (SMTP, HTTP,
//! commands live there). It runs in its own process (`ripcord notify run`) or thread
//! (`watch`), never on a rollback's path.
//!
//! Crash safety: the incidents an event batch changed, the messages it queued and the new
//! cursor are committed in one transaction, and a delivery's key is unique, so an event
//! handled again after a crash queues nothing twice. A message is marked sent only after
//! its channel accepted it: a crash between the two sends it again (at least once) once
//! its claim expires. Claims also keep two notifiers from sending the same message.

use super::*;
use crate::plan::{Channel, Plan};
use crate::state::StateStore;
use crate::{Error, Result};
use std::time::{Duration, Instant};

use crate::events::{Envelope, Event, LevelCause};
use crate::plan::Level;

/// Sends one delivery through its channel, with a one-time acknowledgement link below it
/// when there is one: `Ok` with what the channel answered, `Err` with why not.
pub trait Transport {
    fn send(
        &self,
        plan: &Plan,
        channel: &Channel,
        d: &DeliveryRecord,
        ack_link: Option<&str>,
    ) -> std::result::Result<String, String>;
}

/// A one-time link acknowledging `d`'s level of its incident as its recipient, when the
/// plan has an `ack_url` and the message goes to a level that has not acknowledged yet
/// through a channel that leaves the machine. Each attempt gets a fresh token, kept
/// hashed; any of them acknowledges that level once.
fn ack_link(
    state: &mut dyn StateStore,
    plan: &Plan,
    channel: &Channel,
    d: &DeliveryRecord,
) -> Result<Option<String>> {
    let (Some(base), Some(incident), Some(level)) = (&plan.notify.ack_url, &d.incident, d.level)
    else {
        return Ok(None);
    };
    let asks = matches!(
        d.message,
        Message::EmergencyDetected { .. }
            | Message::Escalated { .. }
            | Message::RollbackStarted { .. }
            | Message::RollbackCompleted { .. }
    );
    if !asks || matches!(channel.kind, crate::plan::ChannelKind::InApp) {
        return Ok(None);
    }
    let acked = state
        .acks()?
        .iter()
        .any(|a| &a.incident == incident && a.level == level);
    if acked {
        return Ok(None);
    }
    let (token, rec) = AckToken::issue(incident, level, &d.recipient.name);
    state.save_ack_token(&rec)?;
    Ok(Some(format!(
        "{base}/ack/{token}?lang={}",
        d.recipient.language.code()
    )))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickReport {
    pub events: usize,
    pub queued: usize,
    pub sent: usize,
    pub failed_attempts: usize,
}

/// Events read per transaction.
const EVENTS_PER_BATCH: usize = 500;
/// Deliveries attempted per tick, so new events are looked at between slow channels.
const SENDS_PER_TICK: usize = 50;

/// One pass: new events, then the policy's due rounds, then due deliveries. `now_ms` is the
/// clock the policy and the retries read (tests pass their own).
pub fn tick(
    state: &mut dyn StateStore,
    plan: &Plan,
    transport: &dyn Transport,
    now_ms: i64,
) -> Result<TickReport> {
    let mut report = TickReport::default();
    let mut cursor = match state.notify_cursor()? {
        Some(c) => c,
        // A notifier that never ran starts at the end of the log: old rehearsals and
        // rollbacks are history, not news.
        None => {
            let end = state.last_event_seq()?;
            state.notify_commit(&NotifyBatch {
                cursor: Some(end),
                ..NotifyBatch::default()
            })?;
            end
        }
    };
    loop {
        let events = state.events_after(cursor, EVENTS_PER_BATCH)?;
        let Some(last) = events.last().and_then(|e| e.seq) else {
            break;
        };
        let mut open: Vec<IncidentRecord> = state
            .incidents()?
            .into_iter()
            .filter(|i| i.status == IncidentStatus::Open)
            .collect();
        let mut touched = BTreeSet::new();
        let mut queue = Vec::new();
        for e in &events {
            handle(plan, &mut open, &mut touched, e, &mut queue);
        }
        report.events += events.len();
        report.queued += queue.len();
        state.notify_commit(&NotifyBatch {
            incidents: open
                .into_iter()
                .filter(|i| touched.contains(&i.id))
                .collect(),
            deliveries: queue,
            cursor: Some(last),
        })?;
        cursor = last;
    }

    let acks = state.acks()?;
    let mut batch = NotifyBatch::default();
    for mut inc in state.incidents()? {
        if inc.status != IncidentStatus::Open {
            continue;
        }
        let acked = acks
            .iter()
            .filter(|a| a.incident == inc.id)
            .map(|a| a.level)
            .collect();
        let before = inc.clone();
        let due = advance(&mut inc, &acked, &plan.notify, now_ms);
        queue_due(plan, &inc, &due, &mut batch.deliveries);
        if inc != before {
            batch.incidents.push(inc);
        }
    }
    if !batch.incidents.is_empty() || !batch.deliveries.is_empty() {
        report.queued += batch.deliveries.len();
        state.notify_commit(&batch)?;
    }

    // Queued and committed, nothing sent: a kill here must lose nothing.
    crate::crash::point("notify:queued");
    send_due(state, plan, transport, now_ms, &mut report)?;
    Ok(report)
}

/// Sends every delivery due at `now_ms` (at most [`SENDS_PER_TICK`]), claimed first so a
/// second notifier leaves them alone, recording each attempt; a failure is retried after
/// the plan's backoff until `max_attempts`.
pub fn send_due(
    state: &mut dyn StateStore,
    plan: &Plan,
    transport: &dyn Transport,
    now_ms: i64,
    report: &mut TickReport,
) -> Result<()> {
    // Long enough for every channel's timeout: a claim outlives a send in progress.
    let longest = plan
        .notify
        .channels
        .values()
        .map(|c| c.timeout)
        .max()
        .unwrap_or_default();
    let claim_until = now_ms + ms(longest) * 2 + 30_000;
    for d in state.claim_due(now_ms, SENDS_PER_TICK, claim_until)? {
        let t = Instant::now();
        let result = match plan.notify.channels.get(&d.recipient.channel) {
            Some(ch) => {
                // A link the store could not keep would not work: the message goes
                // without one rather than later.
                let link = ack_link(state, plan, ch, &d).unwrap_or_else(|e| {
                    tracing::warn!(delivery = d.id, "no acknowledgement link: {e}");
                    None
                });
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    transport.send(plan, ch, &d, link.as_deref())
                }))
                .unwrap_or_else(|_| Err("the channel's sender panicked".into()))
            }
            None => Err(format!(
                "no channel named {:?} in the plan",
                d.recipient.channel
            )),
        };
        let ok = result.is_ok();
        let detail = crate::redact::scrub(&match result {
            Ok(s) | Err(s) => s,
        });
        let attempt = Attempt {
            at: crate::context::now(),
            ok,
            detail: detail.clone(),
            seconds: t.elapsed().as_secs_f64(),
        };
        let tries = d.attempts.len() as u32 + 1;
        let (status, next) = if ok {
            report.sent += 1;
            (DeliveryStatus::Sent, now_ms)
        } else {
            report.failed_attempts += 1;
            tracing::warn!(delivery = d.id, recipient = %d.recipient.name, channel = %d.recipient.channel, attempt = tries, "delivery failed: {detail}");
            if tries >= plan.notify.max_attempts {
                (DeliveryStatus::Failed, now_ms)
            } else {
                (
                    DeliveryStatus::Pending,
                    now_ms + ms(plan.notify.backoff(tries)),
                )
            }
        };
        state.record_attempt(d.id, &attempt, status, next)?;
    }
    Ok(())
}

/// Runs [`tick`] every `poll` until `stop` says so; a failing tick is logged and tried
/// again next time (the state store may be busy with a rollback).
pub fn run(
    state: &mut dyn StateStore,
    plan: &Plan,
    transport: &dyn Transport,
    stop: &dyn Fn() -> bool,
    on_tick: &mut dyn FnMut(&TickReport),
) {
    loop {
        match tick(state, plan, transport, crate::run::now_ms()) {
            Ok(r) => on_tick(&r),
            Err(e) => tracing::warn!("notifier: {e}"),
        }
        let until = Instant::now() + plan.notify.poll;
        while Instant::now() < until {
            if stop() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50).min(plan.notify.poll));
        }
        if stop() {
            return;
        }
    }
}

/// Records an acknowledgement: of `level`, or of the level `by` is a recipient of.
pub fn ack(
    state: &mut dyn StateStore,
    plan: &Plan,
    incident: &str,
    by: &str,
    level: Option<u32>,
) -> Result<(IncidentRecord, AckRecord)> {
    let incidents = state.incidents()?;
    let Some(inc) = incidents.into_iter().find(|i| i.id == incident) else {
        return Err(Error::Usage(format!(
            "no incident {incident:?} (see `ripcord incidents`)"
        )));
    };
    if inc.status == IncidentStatus::Resolved {
        return Err(Error::Usage(format!(
            "incident {incident} is already resolved"
        )));
    }
    let level = match level {
        Some(l) => l,
        None => plan
            .notify
            .levels
            .iter()
            .find(|l| l.recipients.iter().any(|r| r.name == by))
            .map(|l| l.number)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{by:?} is not a recipient of any escalation level; pass --level N"
                ))
            })?,
    };
    if !inc
        .levels
        .iter()
        .any(|l| l.level == level && l.reached_ms.is_some())
    {
        return Err(Error::Usage(format!(
            "incident {incident} has not reached level {level} (it is at level {})",
            inc.level_reached()
        )));
    }
    let rec = AckRecord {
        incident: incident.to_string(),
        level,
        by: by.to_string(),
        at: crate::context::now(),
    };
    if !state.ack_incident(&rec)? {
        let who = state
            .acks()?
            .into_iter()
            .find(|a| a.incident == incident && a.level == level)
            .map(|a| format!("{} at {}", a.by, a.at))
            .unwrap_or_default();
        return Err(Error::Usage(format!(
            "level {level} of incident {incident} is already acknowledged ({who})"
        )));
    }
    Ok((inc, rec))
}

/// What moved a level, as names and codes a message shows as they are: the rule and its
/// state, or the rules and trending probes behind the overall level.
fn level_reason(rule: &str, cause: &LevelCause) -> String {
    match cause {
        LevelCause::Rule { status, .. } => format!("{rule}: {}", status.name()),
        LevelCause::Overall { rules, trends } => rules
            .iter()
            .chain(trends)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        LevelCause::Described { reason } if rule.is_empty() => reason.clone(),
        LevelCause::Described { reason } => format!("{rule}: {reason}"),
    }
}

/// Applies one event to the open incidents (newest first) and queues what it says.
fn handle(
    plan: &Plan,
    open: &mut Vec<IncidentRecord>,
    touched: &mut BTreeSet<String>,
    env: &Envelope,
    q: &mut Vec<DeliveryRecord>,
) {
    let seq = env.seq.unwrap_or_default();
    let at_ms = time_ms(&env.at);
    match &env.event {
        Event::LevelChanged {
            rule,
            to: Level::Red,
            cause,
            ..
        } => {
            let reason = level_reason(rule, cause);
            open_or_attach(
                plan,
                open,
                touched,
                env,
                Cause::RedLevel,
                reason,
                None,
                &[],
                None,
                q,
            );
        }
        Event::StopRequested {
            run,
            source,
            reason,
            scenario,
        } => {
            open_or_attach(
                plan,
                open,
                touched,
                env,
                Cause::EmergencyStop,
                format!("{source}: {reason}"),
                Some(run),
                &[],
                scenario.as_deref(),
                q,
            );
        }
        Event::RollbackStarted {
            rollback,
            components,
            checkpoint,
            reason,
        } => {
            let i = open_or_attach(
                plan,
                open,
                touched,
                env,
                Cause::Rollback,
                reason.clone(),
                None,
                components,
                None,
                q,
            );
            let inc = &mut open[i];
            if !inc.rollbacks.contains(rollback) {
                inc.rollbacks.push(rollback.clone());
            }
            let msg = Message::RollbackStarted {
                summary: inc.summary(&plan.name),
                rollback: rollback.clone(),
                checkpoint: checkpoint.clone(),
            };
            to_reached(plan, inc, seq, &msg, q);
            to_users(plan, inc, seq, UserStage::Update, q);
        }
        Event::RollbackFinished {
            rollback,
            ok,
            seconds,
            rto_seconds,
            at_risk,
            recovered,
            lost,
        } => {
            let Some(i) = open.iter().position(|i| i.rollbacks.contains(rollback)) else {
                return;
            };
            touched.insert(open[i].id.clone());
            let outcome = RollbackOutcome {
                rollback: rollback.clone(),
                ok: *ok,
                seconds: *seconds,
                rto_seconds: *rto_seconds,
                at_risk: *at_risk,
                recovered: *recovered,
                lost: *lost,
            };
            let inc = &mut open[i];
            inc.outcome = Some(outcome.clone());
            let msg = Message::RollbackCompleted {
                summary: inc.summary(&plan.name),
                outcome,
            };
            to_reached(plan, inc, seq, &msg, q);
            to_users(plan, inc, seq, UserStage::Update, q);
            if *ok {
                resolve(plan, inc, seq, &env.at, at_ms, q);
            }
        }
        Event::LevelChanged {
            rule,
            to: Level::Green,
            ..
        } if rule.is_empty() => {
            // Back to green with no rollback under way: the red level was the incident.
            if let Some(inc) = open.first_mut()
                && inc.cause == Cause::RedLevel
                && inc.rollbacks.is_empty()
            {
                touched.insert(inc.id.clone());
                resolve(plan, inc, seq, &env.at, at_ms, q);
            }
        }
        Event::LevelChanged {
            rule,
            from,
            to: to @ (Level::Yellow | Level::Orange),
            cause,
            ..
        } if rule.is_empty()
            && to > from
            && !open.iter().any(|i| i.status == IncidentStatus::Open) =>
        {
            let msg = Message::LevelChanged {
                plan: plan.name.clone(),
                level: *to,
                reason: level_reason(rule, cause),
                at: env.at.clone(),
            };
            to_level_one(plan, &format!("level/e{seq}"), &[], &msg, q);
        }
        Event::ApprovalRequested {
            run,
            decision,
            scenario,
            approvers,
            deadline,
        } => {
            let msg = Message::ApprovalNeeded {
                plan: plan.name.clone(),
                run: run.clone(),
                decision: decision.clone(),
                scenario: scenario.clone(),
                approvers: approvers.clone(),
                deadline: deadline.clone(),
            };
            to_level_one(plan, &format!("approval/e{seq}"), approvers, &msg, q);
        }
        Event::TrendWarning {
            probe,
            threshold,
            eta_seconds,
        } => {
            let msg = Message::TrendWarning {
                plan: plan.name.clone(),
                probe: probe.clone(),
                threshold: *threshold,
                eta_seconds: *eta_seconds,
            };
            to_level_one(plan, &format!("trend/e{seq}"), &[], &msg, q);
        }
        Event::CheckpointStale {
            component,
            checkpoint,
            age_seconds,
            ..
        } => {
            let msg = Message::CheckpointStale {
                plan: plan.name.clone(),
                checkpoint: checkpoint.clone(),
                component: component.clone(),
                age_seconds: *age_seconds as f64,
            };
            // Keyed by the checkpoint: every `check` says it, level 1 hears it once.
            to_level_one(
                plan,
                &format!("stale/{component}/{checkpoint}"),
                &[],
                &msg,
                q,
            );
        }
        Event::DecisionMade { scenario, .. } => {
            if let Some(inc) = open.first_mut()
                && let Some(impact) = scenario_impact(plan, Some(scenario))
                && impact > inc.impact
            {
                inc.impact = impact;
                touched.insert(inc.id.clone());
            }
        }
        _ => {}
    }
}

/// Level 1's recipients, and any recipient (of any level, or a user) named in `also`:
/// the approvers of a decision hear it wherever the plan lists them. Once per name and
/// channel.
fn to_level_one(
    plan: &Plan,
    key: &str,
    also: &[String],
    msg: &Message,
    q: &mut Vec<DeliveryRecord>,
) {
    let mut seen = BTreeSet::new();
    let mut push = |level: Option<u32>, r: &Recipient| {
        if seen.insert((r.name.clone(), r.channel.clone())) {
            let key = format!("{key}/{}/{}", r.name, r.channel);
            q.push(DeliveryRecord::new(key, level, r, msg.clone()));
        }
    };
    if let Some(l) = plan.notify.level(1) {
        for r in &l.recipients {
            push(Some(1), r);
        }
    }
    for l in &plan.notify.levels {
        for r in l.recipients.iter().filter(|r| also.contains(&r.name)) {
            push(Some(l.number), r);
        }
    }
    for r in plan.notify.users.iter().filter(|r| also.contains(&r.name)) {
        push(None, r);
    }
}

fn scenario_impact(plan: &Plan, scenario: Option<&str>) -> Option<Impact> {
    plan.scenarios
        .get(scenario?)
        .and_then(|s| Impact::from_scenario(&s.impact))
}

/// The newest open incident, or a new one opened by this event (level 1 reached now, its
/// first round and the users' first notice queued). Returns its index in `open`.
#[allow(clippy::too_many_arguments)]
fn open_or_attach(
    plan: &Plan,
    open: &mut Vec<IncidentRecord>,
    touched: &mut BTreeSet<String>,
    env: &Envelope,
    cause: Cause,
    reason: String,
    run: Option<&String>,
    components: &[String],
    scenario: Option<&str>,
    q: &mut Vec<DeliveryRecord>,
) -> usize {
    let id = format!("inc-{}", env.seq.unwrap_or_default());
    if let Some(i) = open.iter().position(|i| i.status == IncidentStatus::Open) {
        let inc = &mut open[i];
        if inc.run.is_none() {
            inc.run = run.cloned();
        }
        for c in components.iter().chain(&env.subject.components) {
            if !inc.components.contains(c) {
                inc.components.push(c.clone());
            }
        }
        if let Some(impact) = scenario_impact(plan, scenario)
            && impact > inc.impact
        {
            inc.impact = impact;
        }
        touched.insert(inc.id.clone());
        return i;
    }
    let at_ms = time_ms(&env.at);
    let mut comps: Vec<String> = components.to_vec();
    for c in &env.subject.components {
        if !comps.contains(c) {
            comps.push(c.clone());
        }
    }
    let mut inc = IncidentRecord {
        id,
        opened_at: env.at.clone(),
        opened_ms: at_ms,
        cause,
        reason,
        run: run.cloned().or_else(|| env.subject.run.clone()),
        rollbacks: Vec::new(),
        components: comps,
        impact: scenario_impact(plan, scenario).unwrap_or(plan.notify.default_impact),
        status: IncidentStatus::Open,
        resolved_at: None,
        resolved_ms: None,
        levels: Vec::new(),
        user_rounds: 0,
        outcome: None,
    };
    let due = advance(&mut inc, &BTreeSet::new(), &plan.notify, at_ms);
    queue_due(plan, &inc, &due, q);
    to_users(
        plan,
        &inc,
        env.seq.unwrap_or_default(),
        UserStage::Started,
        q,
    );
    touched.insert(inc.id.clone());
    open.insert(0, inc);
    0
}

fn resolve(
    plan: &Plan,
    inc: &mut IncidentRecord,
    seq: i64,
    at: &str,
    at_ms: i64,
    q: &mut Vec<DeliveryRecord>,
) {
    inc.status = IncidentStatus::Resolved;
    inc.resolved_at = Some(at.to_string());
    inc.resolved_ms = Some(at_ms);
    let msg = Message::Resolved {
        summary: inc.summary(&plan.name),
        resolved_at: at.to_string(),
        duration_seconds: (at_ms - inc.opened_ms).max(0) as f64 / 1000.0,
        outcome: inc.outcome.clone(),
    };
    to_reached(plan, inc, seq, &msg, q);
    to_users(plan, inc, seq, UserStage::Resolved, q);
}

/// Every recipient of every level reached (once each), whether or not it acknowledged:
/// an ack stops reminders, not news.
fn to_reached(
    plan: &Plan,
    inc: &IncidentRecord,
    seq: i64,
    msg: &Message,
    q: &mut Vec<DeliveryRecord>,
) {
    let mut seen = BTreeSet::new();
    for st in inc.levels.iter().filter(|l| l.reached_ms.is_some()) {
        let Some(l) = plan.notify.level(st.level) else {
            continue;
        };
        for r in &l.recipients {
            if seen.insert((r.name.clone(), r.channel.clone())) {
                let key = format!("{}/e{seq}/{}/{}/{}", inc.id, msg.id(), r.name, r.channel);
                q.push(DeliveryRecord::new(key, Some(l.number), r, msg.clone()));
            }
        }
    }
}

fn to_users(
    plan: &Plan,
    inc: &IncidentRecord,
    seq: i64,
    stage: UserStage,
    q: &mut Vec<DeliveryRecord>,
) {
    let msg = Message::UserNotice {
        summary: inc.summary(&plan.name),
        impact: inc.impact,
        stage,
    };
    for r in users_for(&plan.notify, inc.impact, stage) {
        let key = format!(
            "{}/users/e{seq}/{:?}/{}/{}",
            inc.id, stage, r.name, r.channel
        );
        q.push(DeliveryRecord::new(key, None, r, msg.clone()));
    }
}

fn queue_due(plan: &Plan, inc: &IncidentRecord, due: &[Due], q: &mut Vec<DeliveryRecord>) {
    for d in due {
        match *d {
            Due::Level { level, round } => {
                let Some(l) = plan.notify.level(level) else {
                    continue;
                };
                let reached = |n: u32| {
                    inc.levels
                        .iter()
                        .find(|s| s.level == n)
                        .and_then(|s| s.reached_ms)
                };
                let msg = if round == 0 && level > 1 {
                    Message::Escalated {
                        summary: inc.summary(&plan.name),
                        level,
                        unacknowledged_seconds: match (reached(level), reached(1)) {
                            (Some(a), Some(b)) => (a - b).max(0) as f64 / 1000.0,
                            _ => 0.0,
                        },
                    }
                } else {
                    Message::EmergencyDetected {
                        summary: inc.summary(&plan.name),
                        level,
                        round,
                    }
                };
                for r in &l.recipients {
                    let key = format!("{}/L{level}/r{round}/{}/{}", inc.id, r.name, r.channel);
                    q.push(DeliveryRecord::new(key, Some(level), r, msg.clone()));
                }
            }
            Due::Users { round } => {
                let msg = Message::UserNotice {
                    summary: inc.summary(&plan.name),
                    impact: inc.impact,
                    stage: UserStage::Update,
                };
                for r in users_for(&plan.notify, inc.impact, UserStage::Update) {
                    let key = format!("{}/users/r{round}/{}/{}", inc.id, r.name, r.channel);
                    q.push(DeliveryRecord::new(key, None, r, msg.clone()));
                }
            }
        }
    }
}

/// Queues a test message to every recipient of `channel` (every channel when `None`), or
/// to one made-up recipient per channel nobody uses, and sends them now.
pub fn send_test(
    state: &mut dyn StateStore,
    plan: &Plan,
    transport: &dyn Transport,
    channel: Option<&str>,
    language: Option<Language>,
) -> Result<Vec<DeliveryRecord>> {
    if let Some(c) = channel
        && !plan.notify.channels.contains_key(c)
    {
        let known: Vec<&str> = plan.notify.channels.keys().map(String::as_str).collect();
        return Err(Error::Usage(format!(
            "no channel named {c:?} in the plan's [notify.channels] (channels: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let everyone: Vec<&Recipient> = plan
        .notify
        .levels
        .iter()
        .flat_map(|l| &l.recipients)
        .chain(&plan.notify.users)
        .collect();
    let stamp = crate::context::new_id("test");
    let mut batch = NotifyBatch::default();
    for ch in plan.notify.channels.values() {
        if channel.is_some_and(|c| c != ch.name) {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut to: Vec<Recipient> = everyone
            .iter()
            .filter(|r| r.channel == ch.name && seen.insert((r.name.clone(), r.address.clone())))
            .map(|r| (*r).clone())
            .collect();
        if to.is_empty() {
            to.push(Recipient {
                name: "test".into(),
                language: Language::En,
                channel: ch.name.clone(),
                address: String::new(),
            });
        }
        for mut r in to {
            if let Some(l) = language {
                r.language = l;
            }
            let key = format!("{stamp}/{}/{}", ch.name, r.name);
            let msg = Message::Test {
                plan: plan.name.clone(),
                channel: ch.name.clone(),
            };
            let mut d = DeliveryRecord::new(key, None, &r, msg);
            // Sent here and now, never by a notifier running meanwhile.
            d.next_attempt_ms = i64::MAX;
            batch.deliveries.push(d);
        }
    }
    let keys: BTreeSet<String> = batch.deliveries.iter().map(|d| d.key.clone()).collect();
    state.notify_commit(&batch)?;
    // Only the test messages: other due deliveries are the notifier's business.
    for d in state.deliveries(None)? {
        if keys.contains(&d.key) && d.status == DeliveryStatus::Pending {
            one(state, plan, transport, d)?;
        }
    }
    Ok(state
        .deliveries(None)?
        .into_iter()
        .filter(|d| keys.contains(&d.key))
        .collect())
}

fn one(
    state: &mut dyn StateStore,
    plan: &Plan,
    transport: &dyn Transport,
    d: DeliveryRecord,
) -> Result<()> {
    let t = Instant::now();
    let result = match plan.notify.channels.get(&d.recipient.channel) {
        Some(ch) => transport.send(plan, ch, &d, None),
        None => Err("no such channel".into()),
    };
    let ok = result.is_ok();
    let detail = crate::redact::scrub(&match result {
        Ok(s) | Err(s) => s,
    });
    let attempt = Attempt {
        at: crate::context::now(),
        ok,
        detail,
        seconds: t.elapsed().as_secs_f64(),
    };
    let status = if ok {
        DeliveryStatus::Sent
    } else {
        // A test is not retried: the person running it reads the answer now.
        DeliveryStatus::Failed
    };
    state.record_attempt(d.id, &attempt, status, crate::run::now_ms())
}
