//! The notifier's worker on the SQLite state store with a clock the test controls and a
//! transport that records (or refuses) what it is given: events in the log open an
//! incident, rounds repeat and escalate at the policy's times, an ack stops its level,
//! failures back off and give up after `max_attempts`.

use ripcord_core::events::{Envelope, Event, LevelCause};
use ripcord_core::notify::worker::{self, Transport};
use ripcord_core::notify::{DeliveryRecord, DeliveryStatus, IncidentStatus, Message, time_ms};
use ripcord_core::plan::{Channel, Plan};
use ripcord_core::run::StopSource;
use ripcord_core::state::StateStore;
use ripcord_sqlite::SqliteState;
use std::cell::RefCell;

const PLAN: &str = r#"
[databases.app]
url = "sqlite:app.db"

[components.billing]
database = "app"
tables = ["invoices"]

[notify]
retry_after = "10s"
retry_max = "40s"
max_attempts = 3

[notify.channels.mail]
kind = "smtp"
host = "127.0.0.1"
security = "none"
from = "ripcord@example.com"

[[notify.levels]]
recipients = [{ name = "tech", channel = "mail", address = "tech@example.com" }]

[[notify.levels]]
recipients = [{ name = "boss", language = "ar", channel = "mail", address = "boss@example.com" }]

[[notify.levels]]
recipients = [{ name = "ceo", channel = "mail", address = "ceo@example.com" }]
"#;

const MIN: i64 = 60_000;

/// Records (recipient, message id, level); refuses while `refuse` is set.
#[derive(Default)]
struct Recorder {
    sent: RefCell<Vec<(String, String)>>,
    refuse: RefCell<bool>,
}

impl Transport for Recorder {
    fn send(
        &self,
        _: &Plan,
        _: &Channel,
        d: &DeliveryRecord,
        _: Option<&str>,
    ) -> Result<String, String> {
        if *self.refuse.borrow() {
            return Err("connection refused".into());
        }
        self.sent
            .borrow_mut()
            .push((d.recipient.name.clone(), d.message.id().to_string()));
        Ok("250 OK".into())
    }
}

impl Recorder {
    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.sent.borrow_mut())
    }
}

fn pair(who: &str, what: &str) -> (String, String) {
    (who.to_string(), what.to_string())
}

fn open() -> (tempfile::TempDir, Plan, SqliteState) {
    let dir = tempfile::tempdir().unwrap();
    let plan = ripcord_core::plan::parse(
        &dir.path().join("ripcord.toml"),
        PLAN,
        &|_| None,
        &[ripcord_sqlite::KIND],
    )
    .unwrap_or_else(|e| {
        panic!(
            "{:?}",
            e.problems.iter().map(|p| &p.message).collect::<Vec<_>>()
        )
    });
    let state = SqliteState::open(&dir.path().join("state.db")).unwrap();
    (dir, plan, state)
}

fn stop_event(state: &mut SqliteState) -> i64 {
    let mut e = [Envelope::new(Event::StopRequested {
        run: "run-1".into(),
        source: StopSource::Command {
            actor: "manual".into(),
            request: 1,
        },
        reason: "numbers look wrong".into(),
        scenario: None,
    })];
    state.append_events(&mut e).unwrap();
    time_ms(&e[0].at)
}

#[test]
fn the_worker_escalates_on_the_policy_clock_and_an_ack_stops_it() {
    let (_dir, plan, mut s) = open();
    let t = Recorder::default();
    worker::tick(&mut s, &plan, &t, 0).unwrap();
    let t0 = stop_event(&mut s);
    let at = |m: i64| t0 + m * MIN;

    worker::tick(&mut s, &plan, &t, at(0)).unwrap();
    assert_eq!(t.take(), [pair("tech", "emergency-detected")]);
    let inc = s.incidents().unwrap().remove(0);
    assert_eq!(inc.status, IncidentStatus::Open);

    worker::tick(&mut s, &plan, &t, at(14)).unwrap();
    assert!(t.take().is_empty());
    worker::tick(&mut s, &plan, &t, at(15)).unwrap();
    assert_eq!(t.take(), [pair("tech", "reminder")]);
    // 30 min: a reminder to level 1, and level 2 reached; its first message 15 min later.
    worker::tick(&mut s, &plan, &t, at(30)).unwrap();
    assert_eq!(t.take(), [pair("tech", "reminder")]);
    worker::tick(&mut s, &plan, &t, at(45)).unwrap();
    assert_eq!(
        t.take(),
        [pair("tech", "reminder"), pair("boss", "escalated")]
    );

    // Level 1 acknowledges: its reminders stop; level 2 goes on and escalates after 2 h.
    let (_, ack) = worker::ack(&mut s, &plan, &inc.id, "tech", None).unwrap();
    assert_eq!(ack.level, 1);
    worker::tick(&mut s, &plan, &t, at(75)).unwrap();
    assert_eq!(t.take(), [pair("boss", "reminder")]);
    worker::tick(&mut s, &plan, &t, at(180)).unwrap();
    assert_eq!(
        t.take(),
        [pair("boss", "reminder"), pair("ceo", "escalated")],
        "level 3 reached at 150 min, told 30 min later"
    );
    let err = worker::ack(&mut s, &plan, &inc.id, "tech", None).unwrap_err();
    assert!(
        err.to_string().contains("already acknowledged (tech"),
        "{err}"
    );

    // A rollback of the incident that ends well resolves it: everyone reached hears.
    let mut e = [
        Envelope::new(Event::RollbackStarted {
            rollback: "rb-1".into(),
            components: vec!["billing".into()],
            checkpoint: "cp-1".into(),
            reason: "stop".into(),
        }),
        Envelope::new(Event::RollbackFinished {
            rollback: "rb-1".into(),
            ok: true,
            seconds: 12.0,
            rto_seconds: 900.0,
            at_risk: 3,
            recovered: 3,
            lost: 0,
        }),
    ];
    s.append_events(&mut e).unwrap();
    worker::tick(&mut s, &plan, &t, at(181)).unwrap();
    let sent = t.take();
    for who in ["tech", "boss", "ceo"] {
        for what in ["rollback-started", "rollback-completed", "issue-resolved"] {
            assert!(sent.contains(&pair(who, what)), "{who} {what}: {sent:?}");
        }
    }
    let inc = s.incidents().unwrap().remove(0);
    assert_eq!(inc.status, IncidentStatus::Resolved);
    worker::tick(&mut s, &plan, &t, at(600)).unwrap();
    assert!(t.take().is_empty(), "a resolved incident is quiet");
    let resolved = s
        .deliveries(Some(&inc.id))
        .unwrap()
        .into_iter()
        .find(|d| d.recipient.name == "boss" && d.message.id() == "issue-resolved")
        .unwrap();
    match resolved.message {
        Message::Resolved { outcome, .. } => assert_eq!(outcome.unwrap().recovered, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_delivery_backs_off_and_gives_up_after_max_attempts() {
    let (_dir, plan, mut s) = open();
    let t = Recorder::default();
    worker::tick(&mut s, &plan, &t, 0).unwrap();
    let t0 = stop_event(&mut s);
    *t.refuse.borrow_mut() = true;
    let secs = |x: i64| t0 + x * 1000;
    worker::tick(&mut s, &plan, &t, secs(0)).unwrap();
    let d = |s: &mut SqliteState| s.deliveries(None).unwrap().remove(0);
    assert_eq!(d(&mut s).attempts.len(), 1);
    assert_eq!(
        d(&mut s).next_attempt_ms,
        secs(10),
        "first retry after 10 s"
    );
    worker::tick(&mut s, &plan, &t, secs(9)).unwrap();
    assert_eq!(d(&mut s).attempts.len(), 1, "not before");
    worker::tick(&mut s, &plan, &t, secs(10)).unwrap();
    assert_eq!(d(&mut s).next_attempt_ms, secs(30), "then 20 s later");
    worker::tick(&mut s, &plan, &t, secs(30)).unwrap();
    let last = d(&mut s);
    assert_eq!(last.status, DeliveryStatus::Failed, "3 attempts: given up");
    assert!(
        last.attempts
            .iter()
            .all(|a| !a.ok && a.detail == "connection refused")
    );
    *t.refuse.borrow_mut() = false;
    worker::tick(&mut s, &plan, &t, secs(100)).unwrap();
    assert_eq!(
        t.take(),
        Vec::<(String, String)>::new(),
        "a failed delivery stays failed; the next reminder is a new one at 15 min"
    );
    worker::tick(&mut s, &plan, &t, secs(15 * 60)).unwrap();
    assert_eq!(t.take(), [pair("tech", "reminder")]);
}

#[test]
fn a_yellow_or_orange_level_tells_level_one_once_without_an_incident() {
    let (_dir, plan, mut s) = open();
    let t = Recorder::default();
    worker::tick(&mut s, &plan, &t, 0).unwrap();
    let level = |from, to| {
        Envelope::new(Event::LevelChanged {
            rule: String::new(),
            from,
            to,
            cause: LevelCause::Overall {
                rules: vec!["error_rate".into()],
                trends: vec![],
            },
            evidence: serde_json::Value::Null,
        })
    };
    use ripcord_core::plan::Level::*;
    let mut e = [
        level(Green, Yellow),
        level(Yellow, Orange),
        level(Orange, Yellow),
        // One rule's level is not the overall level.
        Envelope::new(Event::LevelChanged {
            rule: "latency".into(),
            from: Green,
            to: Orange,
            cause: LevelCause::Overall {
                rules: vec![],
                trends: vec![],
            },
            evidence: serde_json::Value::Null,
        }),
    ];
    s.append_events(&mut e).unwrap();
    worker::tick(&mut s, &plan, &t, time_ms(&e[0].at)).unwrap();
    assert_eq!(
        t.take(),
        [pair("tech", "level-changed"), pair("tech", "level-changed")],
        "up to yellow, up to orange; not back down, not a single rule"
    );
    assert!(s.incidents().unwrap().is_empty());
    let d = s.deliveries(None).unwrap();
    assert!(matches!(
        d[1].message,
        Message::LevelChanged { level: Orange, .. }
    ));
}

#[test]
fn an_approval_request_reaches_level_one_and_the_named_approvers_and_a_trend_warns_level_one() {
    let (_dir, plan, mut s) = open();
    let t = Recorder::default();
    worker::tick(&mut s, &plan, &t, 0).unwrap();
    let mut e = [
        Envelope::new(Event::ApprovalRequested {
            run: "run-1".into(),
            decision: "rollback".into(),
            scenario: "data_corruption".into(),
            // "tech" is level 1 already: told once. "nobody" is in no level: skipped.
            approvers: vec!["boss".into(), "tech".into(), "nobody".into()],
            deadline: "2026-11-29T21:20:00Z".into(),
        }),
        Envelope::new(Event::TrendWarning {
            probe: "errors".into(),
            threshold: 50.0,
            eta_seconds: 240.0,
        }),
    ];
    s.append_events(&mut e).unwrap();
    let now = time_ms(&e[0].at);
    worker::tick(&mut s, &plan, &t, now).unwrap();
    assert_eq!(
        t.take(),
        [
            pair("tech", "approval-needed"),
            pair("boss", "approval-needed"),
            pair("tech", "trend-warning"),
        ]
    );
    assert!(
        s.incidents().unwrap().is_empty(),
        "neither opens an incident"
    );
    // Told once: the next tick has nothing new to send.
    worker::tick(&mut s, &plan, &t, now + MIN).unwrap();
    assert!(t.take().is_empty());
    let d = s.deliveries(None).unwrap();
    assert_eq!(d[1].level, Some(2), "boss is told as the level-2 recipient");
}

/// Records (recipient, message id, link) for the one-time acknowledgement links.
#[derive(Default)]
struct Links(RefCell<Vec<(String, String, Option<String>)>>);

impl Transport for Links {
    fn send(
        &self,
        _: &Plan,
        _: &Channel,
        d: &DeliveryRecord,
        link: Option<&str>,
    ) -> Result<String, String> {
        self.0.borrow_mut().push((
            d.recipient.name.clone(),
            d.message.id().to_string(),
            link.map(str::to_string),
        ));
        Ok("250 OK".into())
    }
}

fn token_of(link: &str) -> &str {
    link.split("/ack/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
}

/// With `ack_url`, each message to a level that has not acknowledged carries a link of its
/// own, whose token the store keeps only hashed; after the level's ack its news comes
/// without one, and a token is used once.
#[test]
fn ack_links_go_to_levels_not_yet_acknowledged_one_token_per_message_kept_hashed() {
    use ripcord_core::notify::AckToken;
    let (_dir, mut plan, mut s) = open();
    plan.notify.ack_url = Some("https://r.example".into());
    let t = Links::default();
    worker::tick(&mut s, &plan, &t, 0).unwrap();
    let t0 = stop_event(&mut s);
    let at = |m: i64| t0 + m * MIN;
    let take = || std::mem::take(&mut *t.0.borrow_mut());

    worker::tick(&mut s, &plan, &t, at(0)).unwrap();
    let sent = take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (who, what, link) = &sent[0];
    assert_eq!(
        (who.as_str(), what.as_str()),
        ("tech", "emergency-detected")
    );
    let link = link.clone().expect("a link to level 1");
    assert!(
        link.starts_with("https://r.example/ack/") && link.ends_with("?lang=en"),
        "{link}"
    );
    let token = token_of(&link).to_string();
    assert_eq!(token.len(), 64);
    let inc = s.incidents().unwrap().remove(0);
    let rec = s.ack_token(&AckToken::hash_of(&token)).unwrap().unwrap();
    assert_eq!(
        (rec.incident.as_str(), rec.level, rec.recipient.as_str()),
        (inc.id.as_str(), 1, "tech")
    );
    assert!(s.ack_token(&token).unwrap().is_none(), "not kept in clear");

    worker::tick(&mut s, &plan, &t, at(15)).unwrap();
    let reminder = take();
    let again = reminder[0].2.clone().unwrap();
    assert_ne!(token_of(&again), token, "a token per message");

    // Level 2 is reached at 30 min (told at 45); level 1 acknowledges in between.
    worker::tick(&mut s, &plan, &t, at(30)).unwrap();
    take();
    worker::ack(&mut s, &plan, &inc.id, "tech", None).unwrap();
    worker::tick(&mut s, &plan, &t, at(45)).unwrap();
    let sent = take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].0.as_str(), sent[0].1.as_str()),
        ("boss", "escalated")
    );
    assert!(
        sent[0].2.as_deref().unwrap().ends_with("?lang=ar"),
        "{sent:?}"
    );

    let mut e = [Envelope::new(Event::RollbackStarted {
        rollback: "rb-1".into(),
        components: vec!["billing".into()],
        checkpoint: "cp-1".into(),
        reason: "stop".into(),
    })];
    s.append_events(&mut e).unwrap();
    worker::tick(&mut s, &plan, &t, at(46)).unwrap();
    let sent = take();
    let news = |who: &str| {
        sent.iter()
            .find(|(w, m, _)| w == who && m == "rollback-started")
            .unwrap_or_else(|| panic!("{sent:?}"))
            .2
            .clone()
    };
    assert_eq!(news("tech"), None, "level 1 acknowledged: no link");
    assert!(news("boss").is_some(), "level 2 has not");

    let hash = AckToken::hash_of(&token);
    assert!(s.use_ack_token(&hash, "2026-11-30T00:00:00Z").unwrap());
    assert!(!s.use_ack_token(&hash, "2026-11-30T00:00:01Z").unwrap());
    assert_eq!(
        s.ack_token(&hash).unwrap().unwrap().used_at.as_deref(),
        Some("2026-11-30T00:00:00Z")
    );
}
