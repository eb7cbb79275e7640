use super::*;
use crate::plan::{Channel, ChannelKind, EscalationLevel, NotifyPlan, default_level};
use std::time::Duration;

const MIN: i64 = 60_000;

fn recipient(name: &str, channel: &str) -> Recipient {
    Recipient {
        name: name.into(),
        language: Language::En,
        channel: channel.into(),
        address: format!("{name}@example.com"),
    }
}

/// The seed's three levels, one recipient each.
fn policy() -> NotifyPlan {
    let mut n = NotifyPlan::default();
    for (number, who) in [(1, "tech"), (2, "manager"), (3, "ceo")] {
        let (name, delay, repeat, escalate_after) = default_level(number);
        n.levels.push(EscalationLevel {
            number,
            name: name.into(),
            delay,
            repeat,
            escalate_after,
            recipients: vec![recipient(who, "mail")],
        });
    }
    n
}

fn incident() -> IncidentRecord {
    IncidentRecord {
        id: "inc-1".into(),
        opened_at: ms_time(0),
        opened_ms: 0,
        cause: Cause::EmergencyStop,
        reason: "manual: test".into(),
        run: None,
        rollbacks: vec![],
        components: vec![],
        impact: Impact::Moderate,
        status: IncidentStatus::Open,
        resolved_at: None,
        resolved_ms: None,
        levels: vec![],
        user_rounds: 0,
        outcome: None,
    }
}

/// Steps the clock minute by minute and records what was due when.
fn timeline(until_min: i64, acked_at: Option<(i64, u32)>) -> Vec<(i64, Due)> {
    let cfg = policy();
    let mut inc = incident();
    let mut acked = BTreeSet::new();
    let mut out = Vec::new();
    for m in 0..=until_min {
        if let Some((at, level)) = acked_at
            && m == at
        {
            acked.insert(level);
        }
        for d in advance(&mut inc, &acked, &cfg, m * MIN) {
            out.push((m, d));
        }
    }
    out
}

#[test]
fn the_seed_policy_repeats_and_escalates_on_a_controlled_clock() {
    let l = |level, round| Due::Level { level, round };
    let got = timeline(240, None);
    let want = [
        (0, l(1, 0)),
        (15, l(1, 1)),
        (30, l(1, 2)),
        // Level 2 reached at 30 min; its first message 15 min later, then every 30 min.
        (45, l(1, 3)),
        (45, l(2, 0)),
        (60, l(1, 4)),
        (75, l(1, 5)),
        (75, l(2, 1)),
    ];
    assert_eq!(&got[..want.len()], &want[..], "{got:?}");
    // Level 3 reached 2 h after level 2 (at 150 min), first told 30 min later, then hourly.
    let l3: Vec<i64> = got
        .iter()
        .filter(|(_, d)| matches!(d, Due::Level { level: 3, .. }))
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(l3, vec![180, 240]);
}

#[test]
fn an_ack_stops_that_levels_repeats_and_its_escalation() {
    let got = timeline(300, Some((20, 1)));
    let level = |n| {
        got.iter()
            .filter(move |(_, d)| matches!(d, Due::Level { level, .. } if *level == n))
    };
    assert_eq!(
        level(1).map(|(m, _)| *m).collect::<Vec<_>>(),
        vec![0, 15],
        "no reminder after the ack at 20 min"
    );
    assert_eq!(
        level(2).count(),
        0,
        "acknowledged before 30 min: never escalated"
    );
    assert_eq!(level(3).count(), 0);
}

#[test]
fn an_ack_of_level_two_leaves_level_one_repeating_and_stops_level_three() {
    let got = timeline(300, Some((50, 2)));
    assert!(
        got.iter()
            .any(|(m, d)| *m > 50 && matches!(d, Due::Level { level: 1, .. }))
    );
    assert!(
        !got.iter()
            .any(|(_, d)| matches!(d, Due::Level { level: 3, .. }))
    );
}

#[test]
fn a_late_worker_sends_the_first_message_then_only_the_newest_reminder_and_escalates_on_time() {
    let cfg = policy();
    let mut inc = incident();
    let due = advance(&mut inc, &BTreeSet::new(), &cfg, 100 * MIN);
    assert_eq!(
        due,
        vec![
            Due::Level { level: 1, round: 0 },
            Due::Level { level: 2, round: 0 }
        ],
        "the first messages, not a reminder in their place"
    );
    assert_eq!(
        inc.levels[1].reached_ms,
        Some(30 * MIN),
        "reached when it was due"
    );
    assert!(advance(&mut inc, &BTreeSet::new(), &cfg, 100 * MIN).is_empty());
}

#[test]
fn a_resolved_incident_is_quiet() {
    let cfg = policy();
    let mut inc = incident();
    inc.status = IncidentStatus::Resolved;
    assert!(advance(&mut inc, &BTreeSet::new(), &cfg, 1000 * MIN).is_empty());
}

#[test]
fn users_hear_by_impact() {
    let mut cfg = policy();
    for (name, kind) in [
        ("app", ChannelKind::InApp),
        (
            "sms",
            ChannelKind::Command {
                argv: vec!["x".into()],
                max_chars: None,
            },
        ),
        (
            "mail",
            ChannelKind::Smtp {
                host: "h".into(),
                port: 25,
                security: crate::plan::SmtpSecurity::None,
                username_env: None,
                password_env: None,
                from: "a@b".into(),
            },
        ),
    ] {
        cfg.channels.insert(
            name.into(),
            Channel {
                name: name.into(),
                kind,
                timeout: Duration::from_secs(1),
            },
        );
    }
    cfg.users = vec![
        recipient("in-app", "app"),
        recipient("email", "mail"),
        recipient("sms", "sms"),
    ];
    let who = |impact, stage| -> Vec<String> {
        users_for(&cfg, impact, stage)
            .into_iter()
            .map(|r| r.name.clone())
            .collect()
    };
    assert!(who(Impact::None, UserStage::Resolved).is_empty());
    assert!(who(Impact::Minimal, UserStage::Started).is_empty());
    assert_eq!(who(Impact::Minimal, UserStage::Resolved), ["in-app"]);
    assert_eq!(
        who(Impact::Moderate, UserStage::Started),
        ["in-app", "email"]
    );
    assert!(who(Impact::Moderate, UserStage::Update).is_empty());
    assert_eq!(who(Impact::Significant, UserStage::Update).len(), 3);

    // Significant: users hear again every `update_every`.
    let mut inc = incident();
    inc.impact = Impact::Significant;
    cfg.users_update_every = Duration::from_secs(30 * 60);
    let acked = [1, 2, 3].into_iter().collect();
    assert!(advance(&mut inc, &acked, &cfg, 29 * MIN).is_empty());
    assert_eq!(
        advance(&mut inc, &acked, &cfg, 30 * MIN),
        vec![Due::Users { round: 1 }]
    );
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let n = NotifyPlan {
        retry_after: Duration::from_secs(5),
        retry_max: Duration::from_secs(60),
        ..NotifyPlan::default()
    };
    let got: Vec<u64> = (1..=6).map(|i| n.backoff(i).as_secs()).collect();
    assert_eq!(got, vec![5, 10, 20, 40, 60, 60]);
}
