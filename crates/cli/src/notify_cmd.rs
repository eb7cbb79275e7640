//! `ripcord notify run|test|status`, `ripcord ack`, `ripcord incidents`, and the channels
//! that carry messages out: SMTP (lettre), Slack incoming webhooks and Alertmanager-shaped
//! webhooks (`ripcord_core::http`), commands (argv, no shell, `ripcord_core::process`) and
//! in-app (kept in the outbox). Core decides what is sent to whom and when
//! (`ripcord_core::notify`); this file only delivers.

use crate::messages::{Rendered, render};
use anyhow::Result;
use clap::{Args, Subcommand};
use ripcord_core::context::Ctx;
use ripcord_core::http::{Call, Client};
use ripcord_core::notify::worker::{self, Transport};
use ripcord_core::notify::{
    AckToken, DeliveryRecord, DeliveryStatus, IncidentStatus, Language, Message,
};
use ripcord_core::plan::{Channel, ChannelKind, Plan, SmtpSecurity};
use ripcord_core::{Error, exit};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub action: NotifyAction,
}

#[derive(Subcommand)]
pub enum NotifyAction {
    /// Follow the event log: open incidents, send, repeat and escalate by the plan's
    /// policy, retry failed deliveries. A first run starts at the end of the log.
    Run {
        /// Stop after this long (e.g. "10m"); default: until interrupted.
        #[arg(long = "for")]
        for_: Option<String>,
        /// One pass (read the new events, send what is due) and exit.
        #[arg(long, conflicts_with = "for_")]
        once: bool,
    },
    /// Send a test message through every channel (or one), to its recipients.
    Test {
        #[arg(long)]
        channel: Option<String>,
        /// Send it in this language instead of each recipient's.
        #[arg(long, value_parser = ["en", "ar"])]
        lang: Option<String>,
    },
    /// The outbox: every message, to whom, through which channel, its attempts.
    Status {
        /// Only this incident's messages.
        #[arg(long)]
        incident: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Timeout of a channel without one of its own in the plan is the plan's default (10 s).
pub struct Channels;

impl Transport for Channels {
    fn send(
        &self,
        plan: &Plan,
        ch: &Channel,
        d: &DeliveryRecord,
        ack_link: Option<&str>,
    ) -> Result<String, String> {
        let r = render(&plan.notify, &d.message, d.recipient.language, ack_link);
        match &ch.kind {
            ChannelKind::Smtp {
                host,
                port,
                security,
                username_env,
                password_env,
                from,
            } => smtp(
                host,
                *port,
                *security,
                username_env.as_deref(),
                password_env.as_deref(),
                from,
                &d.recipient.address,
                &r,
                ch.timeout,
            ),
            ChannelKind::Slack { url } => {
                let text = format!(
                    "{}\n{}",
                    r.subject,
                    r.fit(SLACK_MAX_CHARS.saturating_sub(r.subject.chars().count() + 1))
                );
                post_json(
                    url.expose(),
                    &serde_json::json!({ "text": text }),
                    ch.timeout,
                )
            }
            ChannelKind::Webhook { url } => {
                post_json(url.expose(), &alertmanager(plan, d, &r), ch.timeout)
            }
            ChannelKind::Command { argv, max_chars } => {
                let text = match max_chars {
                    Some(n) => r.fit(*n),
                    None => r.text.clone(),
                };
                let level = d.level.map(|l| l.to_string()).unwrap_or_default();
                let argv: Vec<String> = argv
                    .iter()
                    .map(|a| {
                        a.replace("{address}", &d.recipient.address)
                            .replace("{recipient}", &d.recipient.name)
                            .replace("{language}", d.recipient.language.code())
                            .replace("{subject}", &r.subject)
                            .replace("{incident}", d.incident.as_deref().unwrap_or(""))
                            .replace("{level}", &level)
                            .replace("{text}", &text)
                    })
                    .collect();
                ripcord_core::run::run_argv(&argv, ch.timeout)
                    .map(|_| "exit 0".to_string())
                    .map_err(|e| e.to_string())
            }
            ChannelKind::InApp => Ok("kept in the outbox for the dashboard".into()),
        }
    }
}

/// Slack shows up to 3,000 characters of a message's text in one block.
const SLACK_MAX_CHARS: usize = 3000;

#[allow(clippy::too_many_arguments)]
fn smtp(
    host: &str,
    port: u16,
    security: SmtpSecurity,
    username_env: Option<&str>,
    password_env: Option<&str>,
    from: &str,
    to: &str,
    r: &Rendered,
    timeout: Duration,
) -> Result<String, String> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{SmtpTransport, Transport as _};
    let email = lettre::Message::builder()
        .from(from.parse().map_err(|e| format!("from {from:?}: {e}"))?)
        .to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?)
        .subject(r.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(r.text.clone())
        .map_err(|e| format!("build the e-mail: {e}"))?;
    let builder = match security {
        SmtpSecurity::None => SmtpTransport::builder_dangerous(host),
        SmtpSecurity::Starttls => {
            SmtpTransport::starttls_relay(host).map_err(|e| format!("smtp {host}: {e}"))?
        }
        SmtpSecurity::Tls => SmtpTransport::relay(host).map_err(|e| format!("smtp {host}: {e}"))?,
    };
    let mut builder = builder.port(port).timeout(Some(timeout));
    if let (Some(u), Some(p)) = (username_env, password_env) {
        let user = std::env::var(u).map_err(|_| format!("environment variable {u} is not set"))?;
        let pass = std::env::var(p).map_err(|_| format!("environment variable {p} is not set"))?;
        ripcord_core::redact::register(&pass);
        builder = builder.credentials(Credentials::new(user, pass));
    }
    let resp = builder
        .build()
        .send(&email)
        .map_err(|e| format!("smtp {host}:{port}: {e}"))?;
    Ok(format!(
        "{} {}",
        resp.code(),
        resp.message().collect::<Vec<_>>().join(" ")
    ))
}

/// POSTs JSON through the one HTTP client (`ripcord_core::http`): a timeout on the whole
/// call, any 2xx is success, an error names the call with its password masked.
fn post_json(url: &str, body: &serde_json::Value, timeout: Duration) -> Result<String, String> {
    let headers = [("content-type".to_string(), "application/json".to_string())];
    let body = body.to_string();
    let call = Call::new("POST", url)
        .headers(&headers)
        .body(Some(&body))
        .read_body(64 << 10);
    Client::new(timeout)
        .send(&call)
        .and_then(|r| r.expect(&[], 200..300))
        .map(|r| format!("status {}", r.status))
        .map_err(|e| e.to_string())
}

/// The payload Alertmanager's webhook receivers read (version 4): one alert per message,
/// `resolved` when the incident is.
pub fn alertmanager(plan: &Plan, d: &DeliveryRecord, r: &Rendered) -> serde_json::Value {
    let (incident, starts, ends, cause) = match &d.message {
        Message::Test { .. } => (String::new(), ripcord_core::context::now(), None, ""),
        Message::LevelChanged { at, .. } => (String::new(), at.clone(), None, "level_changed"),
        Message::ApprovalNeeded { .. } => (
            String::new(),
            ripcord_core::context::now(),
            None,
            "approval_needed",
        ),
        Message::TrendWarning { .. } => (
            String::new(),
            ripcord_core::context::now(),
            None,
            "trend_warning",
        ),
        Message::CheckpointStale { .. } => (
            String::new(),
            ripcord_core::context::now(),
            None,
            "checkpoint_stale",
        ),
        Message::Briefing { brief, .. } => (
            String::new(),
            brief.detected_at.clone(),
            brief.resolved_at.clone(),
            "briefing",
        ),
        Message::EmergencyDetected { summary, .. }
        | Message::Escalated { summary, .. }
        | Message::RollbackStarted { summary, .. }
        | Message::RollbackCompleted { summary, .. }
        | Message::UserNotice { summary, .. } => (
            summary.incident.clone(),
            summary.detected_at.clone(),
            None,
            summary.cause.name(),
        ),
        Message::Resolved {
            summary,
            resolved_at,
            ..
        } => (
            summary.incident.clone(),
            summary.detected_at.clone(),
            Some(resolved_at.clone()),
            summary.cause.name(),
        ),
    };
    let status = if d.message.resolves() {
        "resolved"
    } else {
        "firing"
    };
    let alertname = match &d.message {
        Message::Test { .. } => "RipcordTest",
        Message::LevelChanged { .. } => "RipcordLevel",
        Message::ApprovalNeeded { .. } => "RipcordApproval",
        Message::TrendWarning { .. } => "RipcordTrend",
        Message::CheckpointStale { .. } => "RipcordCheckpoint",
        Message::Briefing { .. } => "RipcordBriefing",
        _ => "RipcordIncident",
    };
    let severity = match &d.message {
        Message::LevelChanged { .. }
        | Message::TrendWarning { .. }
        | Message::CheckpointStale { .. } => "warning",
        Message::Briefing { .. } => "info",
        _ => "critical",
    };
    let group =
        serde_json::json!({ "alertname": alertname, "plan": plan.name, "incident": incident });
    let mut labels = group.clone();
    let l = labels.as_object_mut().expect("an object");
    l.insert("severity".into(), severity.into());
    l.insert("cause".into(), cause.into());
    l.insert("message".into(), d.message.id().into());
    l.insert("language".into(), d.recipient.language.code().into());
    if let Some(level) = d.level {
        l.insert("level".into(), level.to_string().into());
    }
    let annotations = serde_json::json!({ "summary": r.subject, "description": r.text });
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\",incident=\"{incident}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": d.recipient.name,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts,
            "endsAt": ends.unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "generatorURL": "",
            "fingerprint": fingerprint(&format!("{}/{incident}", plan.name)),
        }],
    })
}

/// 16 hex digits, stable for an incident (FNV-1a), as Alertmanager's fingerprints look.
fn fingerprint(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

pub fn run(ctx: &mut Ctx, args: NotifyArgs) -> Result<i32> {
    match args.action {
        NotifyAction::Run { for_, once } => {
            require_configured(&ctx.plan)?;
            if once {
                let r = worker::tick(
                    ctx.state.as_mut(),
                    &ctx.plan,
                    &Channels,
                    ripcord_core::run::now_ms(),
                )?;
                println!(
                    "notifier: {} event(s) read, {} message(s) queued, {} sent, {} failed attempt(s)",
                    r.events, r.queued, r.sent, r.failed_attempts
                );
                return Ok(exit::OK);
            }
            let until = for_
                .map(|f| {
                    humantime::parse_duration(&f).map_err(|e| {
                        Error::Usage(format!(
                            "--for {f:?} is not a duration ({e}); write e.g. 30m"
                        ))
                    })
                })
                .transpose()?
                .map(|d| Instant::now() + d);
            let interrupted = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                let _ = signal_hook::flag::register(sig, interrupted.clone());
            }
            eprintln!(
                "notifier running for plan {} ({} channel(s), {} level(s)); Ctrl-C to stop",
                ctx.plan.name,
                ctx.plan.notify.channels.len(),
                ctx.plan.notify.levels.len()
            );
            let stop =
                || interrupted.load(Ordering::SeqCst) || until.is_some_and(|u| Instant::now() >= u);
            let mut on_tick = |r: &worker::TickReport| {
                if r.queued + r.sent + r.failed_attempts > 0 {
                    eprintln!(
                        "notifier: {} event(s), {} queued, {} sent, {} failed attempt(s)",
                        r.events, r.queued, r.sent, r.failed_attempts
                    );
                }
            };
            worker::run(
                ctx.state.as_mut(),
                &ctx.plan,
                &Channels,
                &stop,
                &mut on_tick,
            );
            Ok(exit::OK)
        }
        NotifyAction::Test { channel, lang } => {
            if ctx.plan.notify.channels.is_empty() {
                return Err(Error::Usage(
                    "the plan has no [notify.channels]; see docs/notifications.md".into(),
                )
                .into());
            }
            let lang = lang.as_deref().and_then(Language::parse);
            let sent = worker::send_test(
                ctx.state.as_mut(),
                &ctx.plan,
                &Channels,
                channel.as_deref(),
                lang,
            )?;
            ctx.audit(
                "notify test",
                serde_json::json!({ "channel": channel, "messages": sent.len() }),
                "done",
            )?;
            let mut failed = 0;
            for d in &sent {
                let last = d.attempts.last();
                let ok = d.status == DeliveryStatus::Sent;
                failed += usize::from(!ok);
                println!(
                    "{} {} → {} ({}{}): {}",
                    if ok { "sent" } else { "FAILED" },
                    d.recipient.channel,
                    d.recipient.name,
                    d.recipient.language.code(),
                    if d.recipient.address.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", d.recipient.address)
                    },
                    last.map(|a| a.detail.as_str()).unwrap_or("")
                );
            }
            // Like a check that failed: the channel is not ready.
            Ok(if failed == 0 {
                exit::OK
            } else {
                exit::VERIFY_FAILED
            })
        }
        NotifyAction::Status { incident, json } => {
            let all = ctx.state.deliveries(incident.as_deref())?;
            if json {
                println!(
                    "{}",
                    ripcord_core::redact::scrub(&serde_json::to_string_pretty(&all)?)
                );
                return Ok(exit::OK);
            }
            println!("{}", crate::render::deliveries_console(&all));
            Ok(exit::OK)
        }
    }
}

fn require_configured(plan: &Plan) -> Result<()> {
    if !plan.notify.configured() {
        return Err(Error::Usage(
            "the plan names nobody to notify: add [notify.channels] and [[notify.levels]] (docs/notifications.md)".into(),
        )
        .into());
    }
    Ok(())
}

pub fn ack(ctx: &mut Ctx, incident: &str, level: Option<u32>) -> Result<i32> {
    println!("{}", acknowledge(ctx, incident, level, "cli")?);
    Ok(exit::OK)
}

/// Acknowledges `incident` as the context's actor, audited the same way whatever asked
/// (`via`: the command, the dashboard's button or a message's link).
pub fn acknowledge(ctx: &mut Ctx, incident: &str, level: Option<u32>, via: &str) -> Result<String> {
    let by = ctx.actor.clone();
    let r = worker::ack(ctx.state.as_mut(), &ctx.plan, incident, &by, level);
    let (inc, rec) = match r {
        Ok(x) => x,
        Err(e) => {
            ctx.audit(
                "ack",
                serde_json::json!({ "incident": incident, "level": level, "via": via }),
                &format!("refused: {e}"),
            )?;
            return Err(e.into());
        }
    };
    ctx.audit(
        "ack",
        serde_json::json!({ "incident": incident, "level": rec.level, "via": via }),
        "acknowledged",
    )?;
    Ok(format!(
        "incident {} acknowledged at level {} by {}: no more reminders to that level, and no escalation from it",
        inc.id, rec.level, rec.by
    ))
}

/// What a one-time link did; the page that answers words it in the reader's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkAck {
    Acknowledged {
        incident: String,
        level: u32,
        by: String,
    },
    Unknown,
    /// Its incident is resolved.
    Expired {
        incident: String,
    },
    Used {
        at: String,
    },
}

/// Uses a one-time link from a message: acknowledges its level of its incident as the
/// recipient it was sent to, audited like `ripcord ack` (`"via": "link"`). A link works
/// once, and not after its incident is resolved.
pub fn acknowledge_link(ctx: &mut Ctx, token: &str) -> Result<LinkAck> {
    let Some(t) = ctx.state.ack_token(&AckToken::hash_of(token))? else {
        return Ok(LinkAck::Unknown);
    };
    ctx.actor = t.recipient.clone();
    let resolved = ctx
        .state
        .incidents()?
        .into_iter()
        .find(|i| i.id == t.incident)
        .is_none_or(|i| i.status != IncidentStatus::Open);
    let refusal = if resolved {
        Some((
            LinkAck::Expired {
                incident: t.incident.clone(),
            },
            format!(
                "incident {} is resolved: its acknowledgement links have expired",
                t.incident
            ),
        ))
    } else if !ctx
        .state
        .use_ack_token(&t.hash, &ripcord_core::context::now())?
    {
        let at = ctx
            .state
            .ack_token(&t.hash)?
            .and_then(|t| t.used_at)
            .unwrap_or_default();
        let why = format!("this acknowledgement link was already used ({at}); a link works once");
        Some((LinkAck::Used { at }, why))
    } else {
        None
    };
    if let Some((refused, why)) = refusal {
        ctx.audit(
            "ack",
            serde_json::json!({ "incident": t.incident, "level": t.level, "via": "link" }),
            &format!("refused: {why}"),
        )?;
        return Ok(refused);
    }
    acknowledge(ctx, &t.incident, Some(t.level), "link")?;
    Ok(LinkAck::Acknowledged {
        incident: t.incident,
        level: t.level,
        by: t.recipient,
    })
}

pub fn incidents(ctx: &mut Ctx, json: bool) -> Result<i32> {
    let incidents = ctx.state.incidents()?;
    let acks = ctx.state.acks()?;
    let deliveries = ctx.state.deliveries(None)?;
    if json {
        let v: Vec<serde_json::Value> = incidents
            .iter()
            .map(|i| {
                let mine: Vec<&DeliveryRecord> = deliveries
                    .iter()
                    .filter(|d| d.incident.as_deref() == Some(&i.id))
                    .collect();
                serde_json::json!({
                    "incident": i,
                    "acks": acks.iter().filter(|a| a.incident == i.id).collect::<Vec<_>>(),
                    "messages": {
                        "sent": mine.iter().filter(|d| d.status == DeliveryStatus::Sent).count(),
                        "pending": mine.iter().filter(|d| d.status == DeliveryStatus::Pending).count(),
                        "failed": mine.iter().filter(|d| d.status == DeliveryStatus::Failed).count(),
                    },
                })
            })
            .collect();
        println!(
            "{}",
            ripcord_core::redact::scrub(&serde_json::to_string_pretty(&v)?)
        );
        return Ok(exit::OK);
    }
    if incidents.is_empty() {
        println!("no incidents");
        return Ok(exit::OK);
    }
    println!(
        "{}",
        crate::render::incidents_console(&incidents, &acks, &deliveries)
    );
    Ok(exit::OK)
}

/// The notifier on a thread of its own while `watch` or `run` guards, with its own
/// connection to the state store: a slow channel never holds up a stop or a rollback.
pub struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// `None` when the plan names nobody to notify.
    pub fn start(ctx: &Ctx) -> Result<Option<Background>> {
        if !ctx.plan.notify.configured() {
            return Ok(None);
        }
        let mut state = ctx.state.reopen()?;
        let plan = ctx.plan.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("ripcord-notifier".into())
            .spawn(move || {
                worker::run(
                    state.as_mut(),
                    &plan,
                    &Channels,
                    &|| flag.load(Ordering::SeqCst),
                    &mut |_| {},
                )
            })?;
        Ok(Some(Background {
            stop,
            handle: Some(handle),
        }))
    }
}

impl Drop for Background {
    /// Asks the thread to stop and does not wait: it may be inside a slow channel's
    /// timeout, and what it has not sent stays in the outbox for the next notifier.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.handle.take());
    }
}
