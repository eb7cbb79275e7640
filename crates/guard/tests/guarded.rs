//! Rules, levels, the confirming re-check, the decision matrix and the emergency stop,
//! against real parts on loopback.

mod common;

use common::*;
use ripcord_core::events::Event;
use ripcord_core::plan::{Decision, Level};
use ripcord_core::run::{StopSource, now_ms};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn http_plan(url: &str, rule: &str, extra: &str) -> String {
    http_plan_every(url, "200ms", "150ms", rule, extra)
}

fn http_plan_every(url: &str, interval: &str, timeout: &str, rule: &str, extra: &str) -> String {
    format!(
        r#"
[guard]
baseline_samples = 3
baseline_interval = "50ms"

[[probe]]
name = "latency"
kind = "http"
url = "{url}"
interval = "{interval}"
timeout = "{timeout}"

{rule}

[decision_matrix.scenarios.test_fix]
severity = "low"
decision = "fix_forward"
{extra}
"#
    )
}

fn level_changes(events: &[Event], rule: &str) -> Vec<(Level, Level, serde_json::Value)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LevelChanged {
                rule: r,
                from,
                to,
                evidence,
                ..
            } if r == rule => Some((*from, *to, evidence.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_rule_fires_once_held_for_its_duration_and_not_before() {
    let srv = HttpServer::start();
    let rule = r#"
[[rule]]
name = "failing"
when = "!ok.latency"
for = "700ms"
level = "red"
scenario = "test_fix"
"#;
    let s = Setup::new(&http_plan_every(&srv.url("/"), "300ms", "280ms", rule, ""));
    let mut ctx = s.ctx();
    let pinned = ripcord_guard::baseline::take(&mut ctx, Arc::new(Engines), None).unwrap();
    assert_eq!(pinned[0].samples.len(), 3);
    let flip = {
        let reply = srv.reply.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            let at = now_ms();
            reply.lock().unwrap().status = 503;
            at
        })
    };
    let (stopped, res) = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_secs(8)),
        false,
    )
    .unwrap()
    .expect("the rule fired");
    let failed_at = flip.join().unwrap();
    assert!(matches!(stopped.request.source, StopSource::Rule { .. }));
    assert_eq!(res.decision, Decision::FixForward);
    let events = s.events();
    let overall = level_changes(&events, "");
    let (_, to, ev) = overall.last().unwrap();
    assert_eq!(*to, Level::Red);
    let state = &ev["rules"][0];
    let since = state["breach_since_ms"].as_i64().unwrap();
    let failures = state["failures"].as_u64().unwrap();
    // No breach before the service failed.
    assert!(
        since >= failed_at,
        "breach at {since}, service failed at {failed_at}"
    );
    let held = stopped.request.at_ms - since;
    assert!(held >= 700, "fired after {held} ms, before its `for`");
    // Samples every 300 ms: the 4th breaching sample (≈900 ms) is the first held ≥ 700 ms.
    assert!((3..=5).contains(&failures), "{failures} breaching samples");
    // The rule's own level went green → red once, with its evidence.
    let rule_changes = level_changes(&events, "failing");
    assert_eq!(rule_changes.len(), 1, "{rule_changes:?}");
    assert!(rule_changes[0].2["baseline"]["latency"]["p95"].is_number());
    // Every level change and the decision are in the audit log.
    let audit = ctx.state.audit_entries().unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "guard.level" && a.result.contains("red"))
    );
    assert!(audit.iter().any(|a| a.action == "guard.decision"));
    assert!(audit.iter().any(|a| a.action == "watch.stop"));
}

#[test]
fn an_error_streak_is_not_mistaken_for_a_bad_value() {
    let srv = HttpServer::start();
    // Slower than the probe's timeout: every sample is "could not measure".
    srv.set(|r| r.delay = Duration::from_millis(400));
    let rule = r#"
[[rule]]
name = "slow"
when = "latency > 80.0"
level = "red"
consecutive_error_limit = 2
error_level = "orange"
"#;
    let s = Setup::new(&http_plan(&srv.url("/"), rule, ""));
    let mut ctx = s.ctx();
    let r = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_millis(1500)),
        false,
    )
    .unwrap();
    assert!(r.is_none(), "no stop on errors");
    let changes = level_changes(&s.events(), "slow");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].1, Level::Orange);
    let status = serde_json::to_value(ripcord_guard::status(&mut ctx).unwrap()).unwrap();
    assert_eq!(status["rules"][0]["status"], "could_not_measure");
    assert_eq!(status["rules"][0]["failures"], 0);
    assert_eq!(status["probes"][0]["last"]["outcome"], "unmeasured");
    assert_eq!(status["level"], "orange");
}

#[test]
fn a_flapping_probe_does_not_stop_after_the_confirming_recheck() {
    let srv = HttpServer::start();
    srv.set(|r| {
        r.status = 500;
        r.flap = true;
    });
    let rule = r#"
[[rule]]
name = "down"
when = "!ok.latency"
level = "red"
scenario = "test_fix"
"#;
    let s = Setup::new(&http_plan(&srv.url("/"), rule, ""));
    let mut ctx = s.ctx();
    let r = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_millis(1200)),
        false,
    )
    .unwrap();
    assert!(r.is_none(), "a flapping probe must not stop the run");
    let not_confirmed = s
        .events()
        .iter()
        .filter(|e| matches!(e, Event::NotConfirmed { .. }))
        .count();
    assert!(not_confirmed >= 2, "{not_confirmed} re-checks");
    let audit = ctx.state.audit_entries().unwrap();
    assert!(audit.iter().any(|a| a.action == "guard.not_confirmed"));
    assert!(ctx.state.rollbacks().unwrap().is_empty());

    // The same service failing steadily is confirmed and stops.
    srv.set(|r| r.flap = false);
    let r = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_secs(5)),
        false,
    )
    .unwrap();
    assert!(r.is_some());
}

/// A small SQLite table, made through ripcord's own engine.
fn sqlite_component(dir: &std::path::Path) {
    use ripcord_core::engine::Engine;
    // An empty file is an empty SQLite database.
    std::fs::File::create(dir.join("app.db")).unwrap();
    let mut e =
        ripcord_sqlite::SqliteEngine::open(&format!("sqlite:{}", dir.join("app.db").display()))
            .unwrap();
    e.prepare().unwrap();
    e.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); INSERT INTO accounts VALUES (1, 100), (2, 250)",
        ripcord_core::journal::Origin::Business,
    )
    .unwrap();
}

#[test]
fn an_approval_deadline_expires_to_the_scenario_default() {
    let srv = HttpServer::start();
    srv.set(|r| r.status = 503);
    let plan = format!(
        r#"
[databases.app]
url = "sqlite:app.db"

[components.accounts]
database = "app"
tables = ["accounts"]

[[probe]]
name = "svc"
kind = "http"
url = "{u}"
interval = "100ms"
timeout = "80ms"

[[probe]]
name = "balances"
kind = "sql"
database = "app"
sql = "SELECT sum(balance) FROM accounts"
interval = "1s"

[[rule]]
name = "service down"
when = "!ok.svc"
level = "red"
scenario = "needs_approval"

[decision_matrix.scenarios.needs_approval]
severity = "high"
approvers = ["cfo"]
approval_timeout = "600ms"
on_timeout = "rollback_now"

[[workflow]]
name = "balances add up"
probe = "balances"
expect = "value == 350.0"
attempts = 1
"#,
        u = srv.url("/")
    );
    let s = Setup::new(&plan);
    sqlite_component(s.dir.path());
    let mut ctx = s.ctx();
    ripcord_core::checkpoint::take(&mut ctx, &["accounts".to_string()]).unwrap();
    // The migration's damage after the checkpoint: the rollback must undo it.
    {
        use ripcord_core::engine::Engine;
        let mut e = ripcord_sqlite::SqliteEngine::open(&format!(
            "sqlite:{}",
            s.dir.path().join("app.db").display()
        ))
        .unwrap();
        e.prepare().unwrap();
        e.execute(
            "UPDATE accounts SET balance = 0 WHERE id = 2",
            ripcord_core::journal::Origin::Migration,
        )
        .unwrap();
    }
    let t = Instant::now();
    let (_, res) = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_secs(10)),
        false,
    )
    .unwrap()
    .expect("stopped");
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "waited for the deadline"
    );
    assert_eq!(res.decision, Decision::RollbackNow);
    assert_eq!(res.decided_by, "deadline");
    let d = &ctx.state.decisions().unwrap()[0];
    assert_eq!(d.status, "expired");
    assert_eq!(d.approvers, vec!["cfo"]);
    let rb = res.rollback.as_ref().expect("rolled back by the default");
    assert!(rb.ok(), "{:?}", rb.status);
    assert!(rb.approved_by.as_deref().unwrap().contains("deadline"));
    // The migration's write is undone; the continuity workflow checks it.
    assert_eq!(res.continuity.len(), 1);
    assert!(res.continuity[0].ok, "{:?}", res.continuity);
    assert!(res.resolved);
    let audit = ctx.state.audit_entries().unwrap();
    assert!(audit.iter().any(|a| a.action == "approval.request"));
    assert!(audit.iter().any(|a| a.action == "approval.expired"));
    assert!(audit.iter().any(|a| a.action == "guard.continuity"));
    let run = &ctx.state.runs().unwrap()[0];
    assert_eq!(run.status, "resolved");
    // The probes went on through the wait for the approver and the rollback: their values
    // after the stop are told too, under the same stop time, for the report.
    let windows: Vec<(i64, Vec<(i64, f64)>)> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ProbeWindow {
                probe,
                stop_ms,
                samples,
                ..
            } if probe == "svc" => Some((stop_ms, samples)),
            _ => None,
        })
        .collect();
    assert_eq!(windows.len(), 2, "before and after the stop: {windows:?}");
    let (stop_ms, before) = &windows[0];
    let (after_stop, after) = &windows[1];
    assert_eq!(stop_ms, after_stop);
    assert!(before.iter().all(|(t, _)| t <= stop_ms), "{before:?}");
    assert!(
        after.len() >= 3 && after.iter().all(|(t, _)| t > stop_ms),
        "measured through the 600 ms wait at 100 ms: {after:?}"
    );
}

#[test]
fn a_named_approver_can_reject_before_the_deadline() {
    let srv = HttpServer::start();
    srv.set(|r| r.status = 503);
    let rule = r#"
[[rule]]
name = "service down"
when = "!ok.latency"
level = "red"
scenario = "needs_approval"
"#;
    let extra = r#"
[decision_matrix.scenarios.needs_approval]
severity = "high"
approvers = ["cfo"]
approval_timeout = "30s"
on_timeout = "rollback_now"
"#;
    let s = Setup::new(&http_plan(&srv.url("/"), rule, extra));
    let mut ctx = s.ctx();
    let mut other = ctx.state.reopen().unwrap();
    let answer = std::thread::spawn(move || {
        for _ in 0..200 {
            if let Some(d) = other
                .decisions()
                .unwrap()
                .into_iter()
                .find(|d| d.status == "open")
            {
                return other.answer_decision(&d.id, "rejected", "cfo").unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    let t = Instant::now();
    let (_, res) = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_secs(10)),
        false,
    )
    .unwrap()
    .expect("stopped");
    assert!(answer.join().unwrap());
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "did not wait for the deadline"
    );
    assert_eq!(res.decision, Decision::FixForward);
    assert_eq!(res.decided_by, "cfo");
    assert!(res.rollback.is_none());
    assert!(
        s.events().iter().any(
            |e| matches!(e, Event::ApprovalAnswered { approved: false, by, .. } if by == "cfo")
        )
    );
}

#[test]
fn a_falling_trend_warns_yellow_before_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("free");
    let plan = format!(
        r#"
[[probe]]
name = "disk_free"
kind = "command"
# Falls by one on every sample, from 100.
command = "n=$(cat {c} 2>/dev/null || echo 100); echo $((n - 1)) > {c}; echo $n"
value = "stdout"
interval = "100ms"
trend = {{ below = 50.0, within = "1h", window = 5 }}

[[rule]]
name = "disk nearly full"
when = "disk_free < 50.0"
level = "red"
"#,
        c = counter.display()
    );
    let s = Setup::new(&plan);
    let mut ctx = s.ctx();
    let r = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_millis(900)),
        false,
    )
    .unwrap();
    assert!(r.is_none(), "the threshold is not crossed yet");
    let events = s.events();
    let warning = events
        .iter()
        .find_map(|e| match e {
            Event::TrendWarning {
                probe,
                threshold,
                eta_seconds,
            } => Some(((probe.clone(), *threshold), *eta_seconds)),
            _ => None,
        })
        .expect("a trend warning");
    assert_eq!(warning.0, ("disk_free".to_string(), 50.0));
    // About ten samples a second, one down each: 40-odd to go takes a few seconds.
    assert!(warning.1 > 0.5 && warning.1 < 30.0, "{}", warning.1);
    let overall = level_changes(&events, "");
    assert_eq!(overall.first().map(|c| c.1), Some(Level::Yellow));
    assert!(
        ctx.state
            .audit_entries()
            .unwrap()
            .iter()
            .any(|a| a.action == "guard.trend")
    );
}
