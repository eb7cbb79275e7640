//! The guard's commands from other terminals: `ripcord stop`, SIGTERM, `approve` and
//! `reject` against a running `ripcord run` or `ripcord watch`.

mod common;

use common::{FreshDb, code, text};
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ripcord(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir)
        .args(args)
        .env("RIPCORD_ACTOR", "tester")
        .output()
        .unwrap()
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir)
        .args(args)
        .env("RIPCORD_ACTOR", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sleeping_run(db: &FreshDb) -> tempfile::TempDir {
    ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100)",
            Origin::Business,
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
            db.url
        ),
    )
    .unwrap();
    dir
}

/// Waits until the step's pg_sleep is running on the server.
fn wait_for_sleep(db: &FreshDb) {
    let mut e = ripcord_postgres::PgEngine::open(&db.url).unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        let n = e
            .query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
            .unwrap()
            .to_string();
        if n == "1" {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the step never started");
}

#[test]
fn ripcord_stop_from_another_terminal_cancels_the_statement() {
    let db = FreshDb::new("postgres");
    let dir = sleeping_run(&db);
    let run = spawn(dir.path(), &["run"]);
    wait_for_sleep(&db);
    let stop = ripcord(
        dir.path(),
        &["stop", "--reason", "payroll totals look wrong"],
    );
    assert_eq!(code(&stop), 0, "{}", text(&stop));
    assert!(text(&stop).contains("cancelled after"), "{}", text(&stop));
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(
        text(&out).contains("ripcord stop (by tester)"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("completed, verified"), "{}", text(&out));
    let balance = ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .query_scalar("SELECT balance FROM accounts WHERE id = 1")
        .unwrap()
        .to_string();
    assert_eq!(balance, "100");
    // With nothing running, a stop says so instead of pretending.
    let idle = ripcord(dir.path(), &["stop", "--reason", "again", "--wait", "0.3"]);
    assert_ne!(code(&idle), 0);
    assert!(
        text(&idle).contains("nothing was stopped"),
        "{}",
        text(&idle)
    );
    let no_reason = ripcord(dir.path(), &["stop"]);
    assert_eq!(code(&no_reason), 2, "{}", text(&no_reason));
}

#[test]
fn sigterm_stops_the_run_like_ripcord_stop() {
    let db = FreshDb::new("postgres");
    let dir = sleeping_run(&db);
    let run = spawn(dir.path(), &["run"]);
    wait_for_sleep(&db);
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGTERM);
    }
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(text(&out).contains("signal SIGTERM"), "{}", text(&out));
    assert!(text(&out).contains("completed, verified"), "{}", text(&out));
}

#[test]
fn only_a_named_approver_answers_a_waiting_watch() {
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
    let watch = spawn(dir.path(), &["watch", "--for", "30s"]);
    let t = Instant::now();
    let run = loop {
        assert!(t.elapsed() < Duration::from_secs(20), "no decision opened");
        let st = ripcord(dir.path(), &["status", "--json"]);
        let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        if let Some(d) = j["open_decisions"].as_array().and_then(|a| a.first()) {
            assert_eq!(d["scenario"], "partial_integration_failure");
            break d["run"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let human = ripcord(dir.path(), &["status"]);
    assert!(text(&human).contains("OPEN DECISION"), "{}", text(&human));
    let bob = ripcord(dir.path(), &["reject", &run, "--as", "bob"]);
    assert_eq!(code(&bob), 2, "{}", text(&bob));
    assert!(text(&bob).contains("not an approver"), "{}", text(&bob));
    let cfo = ripcord(dir.path(), &["reject", &run, "--as", "cfo"]);
    assert_eq!(code(&cfo), 0, "{}", text(&cfo));
    let out = watch.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(
        text(&out)
            .contains("decision: fix_forward for scenario partial_integration_failure (by cfo)"),
        "{}",
        text(&out)
    );
    let export = text(&ripcord(dir.path(), &["audit", "export"]));
    assert!(export.contains("\"action\":\"approval.reject\""));
    assert!(export.contains("\"action\":\"approval.request\""));
}

#[test]
fn check_pins_a_baseline_of_every_probe_and_says_no_go_when_one_cannot_be_measured() {
    let db = FreshDb::new("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let plan = |extra: &str| {
        format!(
            r#"
[databases.app]
url = "{}"

[components.accounts]
database = "app"
tables = ["accounts"]

[guard]
baseline_samples = 3
baseline_interval = "10ms"

[[probe]]
name = "seven"
kind = "sql"
database = "app"
sql = "SELECT 7"

[[probe]]
name = "shell"
kind = "command"
command = "true"
{extra}
"#,
            db.url
        )
    };
    rusqlite::Connection::open(db.url.trim_start_matches("sqlite:"))
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
        .unwrap();
    std::fs::write(dir.path().join("ripcord.toml"), plan("")).unwrap();
    let cp = ripcord(dir.path(), &["checkpoint"]);
    assert_eq!(code(&cp), 0, "{}", text(&cp));
    let out = ripcord(dir.path(), &["check"]);
    let all = text(&out);
    assert_eq!(code(&out), 0, "{all}");
    assert!(all.contains("probe seven"), "{all}");
    assert!(all.contains("median 7.000"), "{all}");
    let status = ripcord(dir.path(), &["status", "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(s["baselines"].as_array().unwrap().len(), 2, "{s}");

    std::fs::write(
        dir.path().join("ripcord.toml"),
        plan("\n[[probe]]\nname = \"broken\"\nkind = \"sql\"\ndatabase = \"app\"\nsql = \"SELECT * FROM no_such_table\"\n"),
    )
    .unwrap();
    let out = ripcord(dir.path(), &["check"]);
    let all = text(&out);
    assert_ne!(code(&out), 0, "{all}");
    assert!(all.contains("NO-GO") && all.contains("broken"), "{all}");
}

#[test]
fn stop_no_rollback_halts_the_run_without_rolling_back() {
    let db = FreshDb::new("postgres");
    let dir = sleeping_run(&db);
    let run = spawn(dir.path(), &["run"]);
    wait_for_sleep(&db);
    let stop = ripcord(
        dir.path(),
        &["stop", "--no-rollback", "--reason", "halt, we fix forward"],
    );
    assert_eq!(code(&stop), 0, "{}", text(&stop));
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(
        text(&out).contains("decision: fix_forward for scenario manual_halt"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("# Rollback"), "{}", text(&out));
    let listed = ripcord(dir.path(), &["rollbacks", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]), "no rollback was started");
}

fn read_flag(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("flags/checkout")).ok()
}

fn wait_flag(dir: &Path, want: Option<&str>, watch: &mut Child) {
    let t = Instant::now();
    while read_flag(dir).as_deref().map(str::trim) != want {
        assert!(
            watch.try_wait().unwrap().is_none(),
            "the watch ended before the switch reached {want:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the switch never reached {want:?}: {:?}",
            read_flag(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rule_level(dir: &Path) -> String {
    let st = ripcord(dir, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    j["rules"][0]["level"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `run` steps advance a staged flag (10 → 50); a red rule naming it as `fallback` steps
/// it back a stage at a time (50 → 10 → legacy) while the watch goes on, each time
/// audited and evented; a later `run` does not push it forward again past the fallback.
#[test]
fn a_red_rule_steps_its_fallback_switch_back_without_a_rollback() {
    let db = FreshDb::new("sqlite");
    let dir = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(db.url.trim_start_matches("sqlite:"))
        .unwrap()
        .execute_batch("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
        .unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            r#"
[databases.app]
url = "{}"

[components.checkout]
database = "app"
tables = ["orders"]

[switches.checkout_flag]
component = "checkout"
kind = "file"
path = "flags/checkout"
stages = [10, 50, 100]
new_value = "new:{{stage}}"

[[steps]]
name = "canary"
switch = "checkout_flag"
stage = 10

[[steps]]
name = "add column"
component = "checkout"
forward = "ALTER TABLE orders ADD COLUMN note TEXT"

[[steps]]
name = "half"
switch = "checkout_flag"
stage = 50

[[probe]]
name = "checkout"
kind = "command"
command = "test ! -e trouble"
interval = "100ms"

[[rule]]
name = "checkout failing"
when = "!ok.checkout"
level = "red"
fallback = "checkout_flag"
"#,
            db.url
        ),
    )
    .unwrap();
    let out = ripcord(dir.path(), &["run"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(read_flag(dir.path()).unwrap().trim(), "new:50");

    let mut watch = spawn(dir.path(), &["watch", "--for", "120s"]);
    std::fs::write(dir.path().join("trouble"), "").unwrap();
    wait_flag(dir.path(), Some("new:10"), &mut watch);
    // Cleared, then red again: one more stage back, to legacy (the file removed).
    std::fs::remove_file(dir.path().join("trouble")).unwrap();
    let t = Instant::now();
    while rule_level(dir.path()) != "green" {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the rule never cleared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(dir.path().join("trouble"), "").unwrap();
    wait_flag(dir.path(), None, &mut watch);
    // The events are delivered off the evaluator's thread: wait for the second one
    // before the watch is killed.
    let t = Instant::now();
    let events = loop {
        let events = text(&ripcord(dir.path(), &["events", "--json"]));
        if events.matches("\"switch_fell_back\"").count() >= 2 {
            break events;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{events}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        events.matches("\"switch_fell_back\"").count(),
        2,
        "{events}"
    );
    assert!(
        watch.try_wait().unwrap().is_none(),
        "a fallback is not a stop"
    );
    watch.kill().unwrap();
    watch.wait().unwrap();
    std::fs::remove_file(dir.path().join("trouble")).unwrap();
    let audit = text(&ripcord(dir.path(), &["audit", "export"]));
    assert_eq!(
        audit.matches("\"action\":\"guard.fallback\"").count(),
        2,
        "{audit}"
    );
    assert!(!audit.contains("\"action\":\"rollback.start\""), "{audit}");
    // The next run refuses to push the flag forward past the fallback.
    let out = ripcord(dir.path(), &["run"]);
    assert_ne!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("stepped back"), "{}", text(&out));
    assert_eq!(read_flag(dir.path()), None);
}
