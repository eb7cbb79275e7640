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
