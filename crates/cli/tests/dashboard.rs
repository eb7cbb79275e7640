//! `ripcord serve` with real parts: the real binary on a loopback port, real HTTP requests,
//! events appended by other processes, a running guarded run stopped from the dashboard,
//! `/metrics` read by a Prometheus text-format parser.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-9876543210ab";

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(dir: &Path, tokens: Option<&str>) -> Server {
        Server::start_env(dir, tokens, &[])
    }

    pub fn start_env(dir: &Path, tokens: Option<&str>, env: &[(&str, &str)]) -> Server {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
        c.current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("RIPCORD_DASHBOARD_TOKENS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(t) = tokens {
            c.env("RIPCORD_DASHBOARD_TOKENS", t);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve said {line:?}"))
            .to_string();
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut r = agent().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut res = r.call().unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

pub fn post(url: &str, headers: &[(&str, &str)], form: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut res = r.send(form).unwrap();
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap())
}

/// The `data:` lines of the server-sent events from `after` on, as they arrive.
fn sse(url: String) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let res = agent.get(&url).call().unwrap();
        for line in BufReader::new(res.into_body().into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(d) = line.strip_prefix("data:") {
                let v: serde_json::Value = serde_json::from_str(d.trim()).unwrap();
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<serde_json::Value>, kind: &str) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if v["kind"] == kind => return v,
            Ok(_) => continue,
            Err(e) => panic!("no {kind} event within 30 s: {e}"),
        }
    }
}

#[test]
fn the_page_shows_the_state_and_an_event_appended_by_another_process_arrives_live() {
    let w = Workshop::new(20);
    let s = Server::start(w.path(), None);
    let (status, page) = get(&s.base, &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<html lang=\"en\" dir=\"ltr\">"), "{page}");
    for c in ["customers", "service", "billing"] {
        assert!(page.contains(&format!("data-component=\"{c}\"")), "{page}");
    }
    assert!(page.contains("data-level=\"unknown\""), "{page}");
    assert!(page.contains("no rollbacks yet"), "{page}");
    assert!(page.contains("chain intact"), "{page}");
    assert!(page.contains("/assets/dashboard.js"), "{page}");
    // Read-only without tokens: the stop form is there, disabled.
    assert!(page.contains("id=\"stop\" disabled"), "{page}");
    let after = page
        .split("data-after=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();

    let live = sse(format!("{}/events?after={after}", s.base));
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let taken = wait_for(&live, "checkpoint_taken");
    assert!(taken["seq"].as_i64().unwrap() > after.parse::<i64>().unwrap());
    assert!(taken["text"].as_str().unwrap().contains(&id), "{taken}");

    let (_, fragment) = get(&format!("{}/fragment", s.base), &[]);
    assert!(!fragment.contains("<html"), "{fragment}");
    assert!(fragment.contains("old"), "a checkpoint age now: {fragment}");
    assert!(!fragment.contains(">none<"), "{fragment}");

    // Another host name (DNS rebinding) is refused.
    let (status, _) = get(&s.base, &[("Host", "evil.example:80")]);
    assert_eq!(status, 421);
}

#[test]
fn arabic_is_right_to_left_from_the_query_or_the_browser_preference() {
    let w = Workshop::new(5);
    let s = Server::start(w.path(), None);
    let (_, ar) = get(&format!("{}/?lang=ar", s.base), &[]);
    assert!(ar.contains("<html lang=\"ar\" dir=\"rtl\">"), "{ar}");
    assert!(ar.contains("المستوى العام"), "{ar}");
    assert!(ar.contains("<bdi dir=\"ltr\">billing</bdi>"), "{ar}");
    let (_, pref) = get(&s.base, &[("Accept-Language", "fr;q=0.9, ar-OM;q=0.8")]);
    assert!(pref.contains("dir=\"rtl\""), "{pref}");
    let (_, forced) = get(
        &format!("{}/?lang=en", s.base),
        &[("Accept-Language", "ar")],
    );
    assert!(forced.contains("dir=\"ltr\""), "{forced}");
    // The live feed in the page's language: an event from another process worded in
    // Arabic, its identifier isolated, the line marked right to left.
    let live = sse(format!("{}/events?after=0&lang=ar", s.base));
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let taken = wait_for(&live, "checkpoint_taken");
    assert_eq!(taken["dir"], "rtl", "{taken}");
    let line = taken["text"].as_str().unwrap();
    assert!(line.starts_with("نقطة الحفظ \u{2068}"), "{line}");
    assert!(line.contains(&format!("\u{2068}{id}\u{2069}")), "{line}");
    let (_, js) = get(&format!("{}/assets/dashboard.js", s.base), &[]);
    assert!(
        js.contains("\"&lang=\""),
        "the page asks for its language: {js}"
    );
    let (_, css) = get(&format!("{}/assets/dashboard.css", s.base), &[]);
    for physical in [
        "margin-left",
        "margin-right",
        "padding-left",
        "padding-right",
        "text-align: left",
        "border-left",
    ] {
        assert!(
            !css.contains(physical),
            "physical property {physical} in the CSS"
        );
    }
}

#[test]
fn metrics_parse_as_prometheus_text_with_the_rollback_against_its_target() {
    let w = Workshop::new(20);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    // The steps change billing (the run ends either way); the rollback takes them back.
    w.ripcord(&["run"]);
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "bad step"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let listed: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["rollbacks", "--json"]).stdout).unwrap();
    let rb = &listed[0];
    let s = Server::start(w.path(), None);
    let mut res = agent().get(&format!("{}/metrics", s.base)).call().unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = res.body_mut().read_to_string().unwrap();
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{body}"));
        match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    let billing = [("component", "billing")];
    assert_eq!(value("ripcord_rollback_target_seconds", &billing), 900.0);
    let took = value("ripcord_rollback_duration_seconds", &billing);
    assert!(
        (took - rb["took_seconds"].as_f64().unwrap()).abs() < 1e-6,
        "{took} vs {rb}"
    );
    let phases: f64 = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "ripcord_rollback_phase_duration_seconds")
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            _ => 0.0,
        })
        .sum();
    assert!(
        (phases - took).abs() < 1e-6,
        "phases {phases} vs total {took}"
    );
    assert_eq!(
        value("ripcord_rollback_target_ratio", &billing),
        took / 900.0
    );
    for (outcome, key) in [
        ("at_risk", "at_risk"),
        ("recovered", "recovered"),
        ("lost", "lost"),
    ] {
        assert_eq!(
            value(
                "ripcord_rollback_writes",
                &[("component", "billing"), ("outcome", outcome)]
            ),
            rb[key].as_f64().unwrap()
        );
    }
    assert_eq!(value("ripcord_rollback_verified", &billing), 1.0);
    let age = value(
        "ripcord_checkpoint_age_seconds",
        &[("component", "customers")],
    );
    assert!((0.0..600.0).contains(&age), "{age}");
    let status: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["status", "--json"]).stdout).unwrap();
    let want = match status["level"].as_str().unwrap() {
        "green" => 0.0,
        "unknown" => -1.0,
        other => panic!("level {other} after a run without rules"),
    };
    assert_eq!(value("ripcord_guard_level", &[]), want);
    assert_eq!(value("ripcord_audit_chain_intact", &[]), 1.0);
    assert_eq!(value("ripcord_rollbacks", &[("state", "verified")]), 1.0);
    let kpis: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["report", "--kpis", "--json"]).stdout).unwrap();
    assert_eq!(kpis["success_rate"], 1.0);
    assert_eq!(value("ripcord_rollback_success_ratio", &[]), 1.0);
    assert_eq!(
        kpis["tiers"][0]["tier"], "emergency",
        "billing's 15 min target"
    );
    assert_eq!(
        value("ripcord_rollbacks_over_target", &[("tier", "emergency")]),
        kpis["tiers"][0]["over_target"].as_f64().unwrap()
    );
    let human = text_of(&w.ripcord(&["report", "--kpis"]));
    assert!(
        human.contains("success rate 100.0%") && human.contains("emergency (≤ 15 min)"),
        "{human}"
    );
    assert!(human.contains("alert thresholds crossed: none"), "{human}");
    assert!(value("ripcord_journal_high_sequence", &[("database", "workshop")]) >= 0.0);
    assert_eq!(
        value(
            "ripcord_capture_tables",
            &[("component", "billing"), ("state", "on")]
        ),
        2.0
    );
    // No rollback of customers yet: no figures invented for it.
    assert!(
        !body.contains("ripcord_rollback_duration_seconds{component=\"customers\""),
        "{body}"
    );

    // The rollback's page on the dashboard and the self-contained HTML report.
    let id = rb["id"].as_str().unwrap();
    let (status, report) = get(&format!("{}/report/{id}?lang=ar", s.base), &[]);
    assert_eq!(status, 200);
    assert!(
        report.contains("dir=\"rtl\"") && report.contains("<svg"),
        "{report}"
    );
    let html = text_of(&w.ripcord(&["report", id, "--format", "html"]));
    assert!(html.starts_with("<!doctype html>") && html.contains("dir=\"ltr\""));
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    assert!(html.contains("completed, verified"), "{html}");
    let pm = text_of(&w.ripcord(&["postmortem", id]));
    assert!(
        pm.contains(&format!("# Post-mortem: rollback {id}")),
        "{pm}"
    );
    assert!(
        pm.contains("5. Why 5?") && pm.contains("## Remediation plan"),
        "{pm}"
    );
    assert!(
        pm.contains(&format!("| rollback {id} of billing to cp-")) && pm.contains("| verify "),
        "the rollback's events: {pm}"
    );
    assert!(
        pm.contains("started by hand"),
        "no guarded run's stop led to it: {pm}"
    );
    assert_eq!(text_of(&w.ripcord(&["report", id, "--postmortem"])), pm);
    let pm_ar = text_of(&w.ripcord(&["postmortem", id, "--format", "html", "--lang", "ar"]));
    assert!(
        pm_ar.contains("dir=\"rtl\"") && pm_ar.contains("لماذا <bdi dir=\"ltr\">5</bdi>؟"),
        "{pm_ar}"
    );
    assert!(
        pm_ar.contains(&format!(
            "<bdi dir=\"rtl\">الاسترجاع \u{2068}{id}\u{2069} لـ \u{2068}billing\u{2069}"
        )),
        "the rollback's events in Arabic: {pm_ar}"
    );
    // The markdown report in Arabic; without --lang, the English one as before.
    let md_ar = text_of(&w.ripcord(&["report", id, "--lang", "ar"]));
    assert!(
        md_ar.starts_with(&format!("# الاسترجاع \u{2068}{id}\u{2069}")),
        "{md_ar}"
    );
    assert!(
        md_ar.contains("## الأرقام") && !md_ar.contains("## Figures"),
        "{md_ar}"
    );
    let md = text_of(&w.ripcord(&["report", id]));
    assert!(md.starts_with(&format!("# Rollback {id}\n")), "{md}");
}

fn text_of(o: &std::process::Output) -> String {
    assert_eq!(code(o), 0, "{}", text(o));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn sleeping_run(db: &FreshDb) -> tempfile::TempDir {
    use ripcord_core::engine::Engine;
    ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100)",
            ripcord_core::journal::Origin::Business,
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            r#"
[databases.app]
url = "{}"

[components.accounts]
database = "app"
tables = ["accounts"]

[[steps]]
name = "long"
component = "accounts"
forward = "UPDATE accounts SET balance = 0; SELECT pg_sleep(60)"
"#,
            // trust authentication takes any password: one to look for in every page.
            db.url
                .replace("postgres@", &format!("postgres:{PASSWORD}@"))
        ),
    )
    .unwrap();
    dir
}

const PASSWORD: &str = "pw-never-shown-42";

fn sleeping(db: &FreshDb) -> i64 {
    use ripcord_core::engine::Engine;
    let mut e = ripcord_postgres::PgEngine::open(&db.url).unwrap();
    e.query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
        .unwrap()
        .to_string()
        .parse()
        .unwrap()
}

#[test]
fn the_stop_is_refused_without_a_token_or_cross_site_and_audited_with_one() {
    let db = FreshDb::new("postgres");
    let dir = sleeping_run(&db);
    let s = Server::start(dir.path(), Some(&format!("alice={ALICE}, bob={BOB}")));
    let run = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .arg("run")
        .env("RIPCORD_ACTOR", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while sleeping(&db) != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("{}/api/stop", s.base);
    let origin = s.base.clone();
    let form = "reason=payroll+totals+wrong&confirm=yes";
    let refused = [
        (vec![("Origin", origin.as_str())], 401),
        (
            vec![("Origin", "http://evil.example"), ("X-Ripcord-Token", BOB)],
            403,
        ),
        (
            vec![("Sec-Fetch-Site", "cross-site"), ("X-Ripcord-Token", BOB)],
            403,
        ),
        (
            vec![
                ("Origin", origin.as_str()),
                ("X-Ripcord-Token", "not-a-known-token-xx"),
            ],
            403,
        ),
    ];
    for (headers, want) in &refused {
        let (status, body) = post(&url, headers, form);
        assert_eq!(status, *want, "{headers:?}: {body}");
    }
    let (status, body) = post(
        &url,
        &[("Origin", origin.as_str()), ("X-Ripcord-Token", ALICE)],
        "reason=&confirm=yes",
    );
    assert_eq!(status, 400, "a reason is needed: {body}");
    let (status, body) = post(
        &url,
        &[("Origin", origin.as_str()), ("X-Ripcord-Token", ALICE)],
        "reason=payroll+totals+wrong",
    );
    assert_eq!(status, 400, "the confirmation is needed: {body}");
    assert_eq!(sleeping(&db), 1, "nothing refused stopped the step");

    let (status, body) = post(
        &url,
        &[("Origin", origin.as_str()), ("X-Ripcord-Token", ALICE)],
        form,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("requested by alice"), "{body}");
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(
        text(&out).contains("ripcord stop (by alice)"),
        "{}",
        text(&out)
    );
    assert_eq!(sleeping(&db), 0, "the statement left the server");
    use ripcord_core::engine::Engine;
    let balance = ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .query_scalar("SELECT balance FROM accounts WHERE id = 1")
        .unwrap()
        .to_string();
    assert_eq!(balance, "100");

    let audit: serde_json::Value =
        serde_json::from_slice(&ripcord_in(dir.path(), &["audit", "show", "--json"], &[]).stdout)
            .unwrap();
    let stops: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "stop.request")
        .collect();
    assert_eq!(
        stops.len(),
        1,
        "only the accepted stop is audited: {stops:?}"
    );
    assert_eq!(stops[0]["actor"], "alice");
    assert_eq!(stops[0]["args"]["via"], "dashboard");
    assert_eq!(stops[0]["args"]["reason"], "payroll totals wrong");
    assert_eq!(code(&ripcord_in(dir.path(), &["audit", "verify"], &[])), 0);
    // No page, fragment, metric or report shows a token or the database password.
    let rollback = serde_json::from_slice::<serde_json::Value>(
        &ripcord_in(dir.path(), &["rollbacks", "--json"], &[]).stdout,
    )
    .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/".to_string(),
        "/?lang=ar".into(),
        "/fragment".into(),
        "/metrics".into(),
        format!("/report/{rollback}"),
    ] {
        let (_, body) = get(&format!("{}{path}", s.base), &[]);
        assert!(
            !body.contains(ALICE) && !body.contains(BOB) && !body.contains(PASSWORD),
            "{path}: {body}"
        );
    }
}

#[test]
fn a_decision_is_answered_from_the_dashboard_as_the_token_s_person() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        r#"
[[probe]]
name = "checkout"
kind = "command"
command = "exit 1"
interval = "100ms"

[[rule]]
name = "checkout failing"
when = "!ok.checkout"
level = "red"
scenario = "partial_integration_failure"

[decision_matrix.scenarios.partial_integration_failure]
approvers = ["cfo"]
approval_timeout = "1m"
"#,
    )
    .unwrap();
    let s = Server::start(dir.path(), Some(&format!("cfo={ALICE},mallory={BOB}")));
    let watch = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .args(["watch", "--for", "30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let decision = loop {
        let (_, f) = get(&format!("{}/fragment", s.base), &[]);
        if let Some(rest) = f.split("class=\"decision\" data-decision=\"").nth(1) {
            assert!(f.contains("partial_integration_failure"), "{f}");
            break rest.split('"').next().unwrap().to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no open decision: {f}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let origin = s.base.clone();
    let url = |a: &str| format!("{}/api/decisions/{decision}/{a}", s.base);
    let (status, body) = post(&url("reject"), &[("Origin", &origin)], "");
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(
        &url("approve"),
        &[("Origin", &origin), ("X-Ripcord-Token", BOB)],
        "",
    );
    assert_eq!(status, 409, "mallory is no approver: {body}");
    assert!(body.contains("not an approver"), "{body}");
    let (status, body) = post(
        &url("reject"),
        &[("Origin", &origin), ("X-Ripcord-Token", ALICE)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("rejected") && body.contains("as cfo"),
        "{body}"
    );
    let out = watch.wait_with_output().unwrap();
    assert!(
        text(&out)
            .contains("decision: fix_forward for scenario partial_integration_failure (by cfo)"),
        "{}",
        text(&out)
    );
    let export = text(&ripcord_in(dir.path(), &["audit", "export"], &[]));
    let line = export
        .lines()
        .find(|l| l.contains("\"action\":\"approval.reject\""))
        .unwrap_or_else(|| panic!("{export}"));
    assert!(
        line.contains("\"actor\":\"cfo\"") && line.contains("\"via\":\"dashboard\""),
        "{line}"
    );
    assert!(
        !export.contains("approval.approve"),
        "mallory's refusal is not an approval"
    );
}

/// The Workshop with notifications to in-app recipients only, `[dashboard]` tokens from the
/// plan, the plan's own wording of the users' notice, and an open incident: a rollback
/// that ended with a data gap (so it is not resolved).
fn open_incident() -> (Workshop, String) {
    let w = Workshop::new(20);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    let plan = plan.replace("ignore = [\"discount_baisa\"]", "");
    let extra = r#"
[notify.channels.app]
kind = "in_app"

[[notify.levels]]
recipients = [{ name = "ops", channel = "app" }]

[notify.users]
recipients = [{ name = "staff", channel = "app" }]

[notify.messages.user-notice]
en = """
Workshop desk: billing is paused ({ $stage }) since { $detected }.
    .subject = Workshop billing notice
"""

[dashboard]
tokens = [{ name = "carol", token_env = "CAROL_DASH_TOKEN" }]
"#;
    std::fs::write(w.path().join("ripcord.toml"), format!("{plan}{extra}")).unwrap();
    let ok = |args: &[&str]| {
        let o = w.ripcord(args);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    };
    ok(&["notify", "run", "--once"]);
    ok(&["run"]);
    w.db()
        .execute(
            "UPDATE invoices SET discount_baisa = 777, status = 'paid' WHERE id = 3",
            [],
        )
        .unwrap();
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "VAT wrong",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    ok(&["notify", "run", "--once"]);
    let inc: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["incidents", "--json"]).stdout).unwrap();
    assert_eq!(inc[0]["incident"]["status"], "open", "{inc:#}");
    let id = inc[0]["incident"]["id"].as_str().unwrap().to_string();
    (w, id)
}

const CAROL: &str = "carol-token-from-the-plan-0123";

#[test]
fn an_incident_is_acknowledged_from_the_dashboard_as_the_plan_token_s_person() {
    let (w, id) = open_incident();
    // The plan names carol and the variable; without it set, serve refuses to start.
    let o = w.ripcord(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("CAROL_DASH_TOKEN") && text(&o).contains("carol"),
        "{}",
        text(&o)
    );
    let s = Server::start_env(w.path(), None, &[("CAROL_DASH_TOKEN", CAROL)]);
    let (status, page) = get(&s.base, &[]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!(
            "data-incident=\"{id}\" data-level=\"1\">Acknowledge level"
        )),
        "{page}"
    );
    // The users' in-app notice, in the plan's wording.
    assert!(page.contains("Workshop billing notice"), "{page}");
    assert!(page.contains("Workshop desk: billing is paused"), "{page}");
    assert!(!page.contains(CAROL), "no token on the page");

    let url = format!("{}/api/incidents/{id}/ack", s.base);
    let origin = s.base.clone();
    let (status, body) = post(&url, &[("Origin", &origin)], "level=1");
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(
        &url,
        &[
            ("Origin", "http://evil.example"),
            ("X-Ripcord-Token", CAROL),
        ],
        "level=1",
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(
        &url,
        &[("Origin", &origin), ("X-Ripcord-Token", CAROL)],
        "level=1",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("incident {id} acknowledged at level 1 by carol")),
        "{body}"
    );
    let (status, body) = post(
        &url,
        &[("Origin", &origin), ("X-Ripcord-Token", CAROL)],
        "level=1",
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already acknowledged (carol"), "{body}");

    let (_, page) = get(&s.base, &[]);
    assert!(
        page.contains("acknowledged by <bdi dir=\"ltr\">carol</bdi>"),
        "{page}"
    );
    assert!(
        !page.contains("class=\"ack\""),
        "no button once acknowledged: {page}"
    );
    let inc: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["incidents", "--json"]).stdout).unwrap();
    assert_eq!(inc[0]["acks"][0]["by"], "carol", "{inc:#}");
    // Audited as `ripcord ack` is, by the token's person, from the dashboard.
    let export = text(&w.ripcord(&["audit", "export"]));
    let acks: Vec<&str> = export
        .lines()
        .filter(|l| l.contains("\"action\":\"ack\""))
        .collect();
    assert_eq!(acks.len(), 2, "{export}");
    assert!(
        acks[0].contains("\"actor\":\"carol\"")
            && acks[0].contains("\"via\":\"dashboard\"")
            && acks[0].contains("\"result\":\"acknowledged\""),
        "{}",
        acks[0]
    );
    assert!(acks[1].contains("refused: level 1"), "{}", acks[1]);
    assert!(!export.contains(CAROL));
}

fn scrape(base: &str) -> (String, prometheus_parse::Scrape) {
    let mut res = agent().get(&format!("{base}/metrics")).call().unwrap();
    let body = res.body_mut().read_to_string().unwrap();
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    (body, scrape)
}

fn sample(m: &(String, prometheus_parse::Scrape), name: &str, labels: &[(&str, &str)]) -> f64 {
    let s =
        m.1.samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", m.0));
    match s.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v)
        | prometheus_parse::Value::Counter(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn metrics_count_notification_deliveries_per_channel() {
    let (w, _) = open_incident();
    let outbox: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["notify", "status", "--json"]).stdout).unwrap();
    let sent = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["recipient"]["channel"] == "app" && d["status"] == "sent")
        .count() as f64;
    assert!(sent >= 2.0, "{outbox:#}");
    let s = Server::start_env(w.path(), None, &[("CAROL_DASH_TOKEN", CAROL)]);
    let m = scrape(&s.base);
    let app = |outcome: &'static str| [("channel", "app"), ("outcome", outcome)];
    assert_eq!(
        sample(&m, "ripcord_notify_deliveries_total", &app("sent")),
        sent
    );
    assert_eq!(
        sample(&m, "ripcord_notify_deliveries_total", &app("failed")),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "ripcord_notify_attempts_total",
            &[("channel", "app"), ("result", "ok")]
        ),
        sent
    );
    assert_eq!(
        sample(&m, "ripcord_notify_pending", &[("channel", "app")]),
        0.0
    );
}

#[test]
fn metrics_show_the_sync_lag_measured_at_the_scrape() {
    let dir = tempfile::tempdir().unwrap();
    for db in ["legacy", "new"] {
        let c = rusqlite::Connection::open(dir.path().join(format!("{db}.db"))).unwrap();
        c.execute_batch(
            "CREATE TABLE orders (id bigint PRIMARY KEY, side varchar(10) NOT NULL, amount decimal(12,2) NOT NULL);
             INSERT INTO orders VALUES (-1, 'seed', 1.25), (-2, 'seed', 2.5);",
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("ripcord.toml"),
        r#"
[databases.legacy]
url = "sqlite:legacy.db"

[databases.new]
url = "sqlite:new.db"

[components.orders]
database = "legacy"
capture_database = "new"
tables = ["orders"]

[switches.orders_route]
component = "orders"
kind = "file"
path = "flags/orders_v2"
"#,
    )
    .unwrap();
    let ok = |args: &[&str]| {
        let o = ripcord_in(dir.path(), args, &[]);
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    };
    ok(&["capture", "start", "-c", "orders"]);
    ok(&["cutover", "-c", "orders", "--reason", "go"]);
    let new = rusqlite::Connection::open(dir.path().join("new.db")).unwrap();
    new.busy_timeout(Duration::from_secs(30)).unwrap();
    for i in 1..=3 {
        new.execute(&format!("INSERT INTO orders VALUES ({i}, 'new', {i})"), [])
            .unwrap();
    }
    let s = Server::start(dir.path(), None);
    let orders = [("component", "orders")];
    let m = scrape(&s.base);
    assert_eq!(sample(&m, "ripcord_sync_lag_measured", &orders), 1.0);
    assert_eq!(sample(&m, "ripcord_sync_lag_rows", &orders), 3.0);
    assert!(sample(&m, "ripcord_sync_lag_seconds", &orders) >= 0.0);
    assert_eq!(
        sample(&m, "ripcord_sync_applied_writes_total", &orders),
        0.0
    );
    ok(&["sync", "start", "--once"]);
    let m = scrape(&s.base);
    assert_eq!(sample(&m, "ripcord_sync_lag_rows", &orders), 0.0);
    assert_eq!(sample(&m, "ripcord_sync_lag_seconds", &orders), 0.0);
    assert_eq!(
        sample(&m, "ripcord_sync_applied_writes_total", &orders),
        3.0
    );
}

/// Regression (issue 15): the probe charts were kept in the server's memory only, so a
/// `serve` started after a guarded run drew nothing. The guard now keeps each probe's
/// recent values with its snapshot in the state store and a fresh server starts from them.
#[test]
fn a_fresh_serve_draws_the_probe_values_of_a_guard_that_ran_before_it() {
    let w = Workshop::new(5);
    let plan = w.path().join("ripcord.toml");
    let mut text_of_plan = std::fs::read_to_string(&plan).unwrap();
    text_of_plan.push_str(
        r#"
[[probe]]
name = "customer_count"
kind = "sql"
database = "workshop"
sql = "SELECT count(*) FROM customers"
interval = "200ms"
"#,
    );
    std::fs::write(&plan, text_of_plan).unwrap();
    let o = w.ripcord(&["watch", "--for", "4s"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let status: serde_json::Value =
        serde_json::from_slice(&w.ripcord(&["status", "--json"]).stdout).unwrap();
    let recent = status["probes"][0]["recent"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("the probe's recent values are kept: {status:#}"));
    assert!(
        recent.len() >= 3,
        "at most one a second over 4 s: {recent:?}"
    );
    let times: Vec<i64> = recent.iter().map(|p| p[0].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|t| t[1] - t[0] >= 1000),
        "one a second at most: {times:?}"
    );
    assert!(recent.iter().all(|p| p[1] == 5.0), "{recent:?}");

    // The guard has stopped; a server started now draws what it measured.
    let s = Server::start(w.path(), None);
    let (status, fragment) = get(&format!("{}/fragment", s.base), &[]);
    assert_eq!(status, 200, "{fragment}");
    let row = fragment
        .split("<tr>")
        .find(|r| r.contains(">customer_count</bdi>"))
        .unwrap_or_else(|| panic!("the probe's row: {fragment}"));
    let points = row
        .split("<polyline")
        .nth(1)
        .and_then(|p| p.split("points=\"").nth(1))
        .and_then(|p| p.split('"').next())
        .unwrap_or_else(|| panic!("a chart of the probe's values: {row}"));
    // The kept values, and the guard's last one when it came less than a second after.
    let drawn = points.split(' ').count();
    assert!(
        drawn == recent.len() || drawn == recent.len() + 1,
        "every kept value drawn ({} kept): {points}",
        recent.len()
    );
}
