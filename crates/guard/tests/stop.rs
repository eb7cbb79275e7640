//! The emergency stop during a long-running step: its statement is cancelled on its
//! server (PostgreSQL cancel, MariaDB KILL QUERY) or its command's process group ended,
//! then the decision matrix rolls the component back.

mod common;

use common::*;
use mysql::prelude::Queryable;
use ripcord_core::events::Event;
use ripcord_core::run::StopSource;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn plan(url: &str, long_step: &str) -> String {
    format!(
        r#"
[databases.app]
url = "{url}"

[components.accounts]
database = "app"
tables = ["accounts"]
priority = "critical"

[[steps]]
name = "double balances"
component = "accounts"
forward = "UPDATE accounts SET balance = balance * 2"

[[steps]]
name = "long"
component = "accounts"
{long_step}
timeout = "60s"

[guard]
stop_poll = "20ms"
"#
    )
}

/// Asks for a stop through the state store, as `ripcord stop` does, once `step` started
/// and `running` sees its statement (or command) at work.
fn stop_when_started(
    s: &Setup,
    ctx: &ripcord_core::context::Ctx,
    step: &'static str,
    running: impl Fn() -> bool + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let mut state = ctx.state.reopen().unwrap();
    let events = s.events.clone();
    std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            let started = events
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, Event::StepStarted { step: st, .. } if st == step));
            if started && running() {
                state
                    .request_stop("operator", "payroll totals look wrong", None)
                    .unwrap();
                // A second operator pressing stop too: told it changed nothing.
                state.request_stop("operator 2", "me too", None).unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("step {step} never started");
    })
}

#[test]
fn a_stop_cancels_a_long_postgres_statement_and_rolls_back() {
    let db = FreshDb::postgres();
    db.connect()
        .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100), (2, 250)")
        .unwrap();
    let s = Setup::new(&plan(
        &db.url,
        r#"forward = "UPDATE accounts SET balance = 0; SELECT pg_sleep(30)""#,
    ));
    let mut ctx = s.ctx();
    let url = db.url.clone();
    let stopper = stop_when_started(&s, &ctx, "long", move || pg_sleeping(&url) == 1);
    let t = Instant::now();
    let g = ripcord_guard::run(&mut ctx, Arc::new(Engines), false).unwrap();
    stopper.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "the 30 s statement was cancelled"
    );
    let stopped = g.outcome.stopped.as_ref().expect("stopped");
    assert_eq!(stopped.step.as_deref(), Some("long"));
    assert!(matches!(stopped.request.source, StopSource::Command { .. }));
    let ms = stopped
        .cancelled_after_ms
        .expect("the statement was cancelled");
    // The target is 0.5 s; a loaded test machine gets some slack, a missed cancel does not.
    assert!(ms < 5_000.0, "cancelled {ms} ms after the stop request");
    assert_eq!(g.outcome.steps_done, vec!["double balances"]);
    // Nothing of ours is still running on the server.
    assert_eq!(pg_sleeping(&db.url), 0);
    // manual_stop is critical: rolled back at once, to the balances before the run.
    let res = g.resolution.expect("the matrix acted");
    assert_eq!(res.scenario, "manual_stop");
    assert!(res.rollback.as_ref().unwrap().ok());
    let rows: Vec<(i32, i32)> = db
        .connect()
        .query("SELECT id, balance FROM accounts ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, vec![(1, 100), (2, 250)]);
    // The `ripcord stop` request was answered with what happened.
    let answered = ctx.state.stop_requests_after(0).unwrap();
    assert!(
        answered[0]
            .outcome
            .as_deref()
            .unwrap()
            .contains("cancelled after")
    );
    let second = answered[1].outcome.as_deref().unwrap_or_default();
    assert!(second.contains("already stopping"), "{second:?}");
    let audit = ctx.state.audit_entries().unwrap();
    let stop = audit.iter().find(|a| a.action == "run.stop").unwrap();
    assert_eq!(stop.args["step"], "long");
    assert!(audit.iter().any(|a| a.action == "rollback.start"));
}

#[test]
fn a_stop_kills_a_long_mariadb_statement_and_rolls_back() {
    let db = FreshDb::mysql();
    db.conn()
        .query_drop("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100), (2, 250)")
        .unwrap();
    let s = Setup::new(&plan(
        &db.url,
        r#"forward = "UPDATE accounts SET balance = 0; SELECT SLEEP(30)""#,
    ));
    let mut ctx = s.ctx();
    let url = db.url.clone();
    let stopper = stop_when_started(&s, &ctx, "long", move || my_sleeping(&url) == 1);
    let t = Instant::now();
    let g = ripcord_guard::run(&mut ctx, Arc::new(Engines), false).unwrap();
    stopper.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "the 30 s statement was killed"
    );
    let stopped = g.outcome.stopped.as_ref().expect("stopped");
    assert_eq!(stopped.step.as_deref(), Some("long"));
    assert_eq!(my_sleeping(&db.url), 0, "KILL QUERY ended the statement");
    let res = g.resolution.expect("the matrix acted");
    assert!(res.rollback.as_ref().unwrap().ok());
    let rows: Vec<(i32, i32)> = db
        .conn()
        .query("SELECT id, balance FROM accounts ORDER BY id")
        .unwrap();
    assert_eq!(rows, vec![(1, 100), (2, 250)]);
}

#[test]
fn a_stop_ends_a_running_command_and_its_children() {
    let db = FreshDb::postgres();
    db.connect()
        .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100)")
        .unwrap();
    let marker = tempfile::tempdir().unwrap();
    let m = marker.path().join("finished");
    let started = marker.path().join("started");
    let s = Setup::new(&format!(
        "{}\n[decision_matrix.scenarios.manual_stop]\ndecision = \"fix_forward\"\n",
        plan(
            &db.url,
            &format!(
                "forward_command = \"touch {}; sh -c 'sleep 3; touch {}' & wait\"",
                started.display(),
                m.display()
            ),
        )
    ));
    let mut ctx = s.ctx();
    let started = marker.path().join("started");
    let seen = started.clone();
    let stopper = stop_when_started(&s, &ctx, "long", move || seen.exists());
    let g = ripcord_guard::run(&mut ctx, Arc::new(Engines), false).unwrap();
    stopper.join().unwrap();
    assert_eq!(
        g.outcome.stopped.as_ref().unwrap().step.as_deref(),
        Some("long")
    );
    let res = g.resolution.unwrap();
    assert_eq!(res.decision, ripcord_core::plan::Decision::FixForward);
    assert!(res.rollback.is_none());
    // The grandchild was in the killed process group: it never finishes its work.
    std::thread::sleep(Duration::from_secs(4));
    assert!(!m.exists(), "a child of the command survived the stop");
    assert_eq!(ctx.state.runs().unwrap()[0].status, "fix_forward");
}

#[test]
fn the_panic_file_stops_a_run() {
    let db = FreshDb::postgres();
    db.connect()
        .batch_execute("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); INSERT INTO accounts VALUES (1, 100)")
        .unwrap();
    let s = Setup::new(&plan(&db.url, r#"forward = "SELECT pg_sleep(30)""#));
    let mut ctx = s.ctx();
    let panic_file = ctx.plan.guard.panic_file.clone();
    let events = s.events.clone();
    let toucher = std::thread::spawn(move || {
        while !events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::StepStarted { step, .. } if step == "long"))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&panic_file, "").unwrap();
    });
    let g = ripcord_guard::run(&mut ctx, Arc::new(Engines), false).unwrap();
    toucher.join().unwrap();
    let stopped = g.outcome.stopped.unwrap();
    assert!(matches!(
        stopped.request.source,
        StopSource::PanicFile { .. }
    ));
    assert_eq!(stopped.step.as_deref(), Some("long"));
}

/// How many of the test's 30 s pg_sleep statements the server is running.
fn pg_sleeping(url: &str) -> i64 {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

/// How many of the test's 30 s SLEEP statements the MariaDB server is running.
fn my_sleeping(url: &str) -> i64 {
    let mut c = mysql::Conn::new(mysql::Opts::from_url(url).unwrap()).unwrap();
    c.query_first("SELECT count(*) FROM information_schema.processlist WHERE info LIKE '%SLEEP(30)%' AND id <> CONNECTION_ID()")
        .unwrap()
        .unwrap()
}

#[test]
fn a_stop_interrupts_a_long_sqlite_statement() {
    use ripcord_core::engine::Engine;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    std::fs::File::create(&db).unwrap();
    let url = format!("sqlite:{}", db.display());
    let mut e = ripcord_sqlite::SqliteEngine::open(&url).unwrap();
    e.prepare().unwrap();
    e.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); INSERT INTO accounts VALUES (1, 100)",
        ripcord_core::journal::Origin::Business,
    )
    .unwrap();
    let s = Setup::new(&plan(
        &url,
        r#"forward = "UPDATE accounts SET balance = 0; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) SELECT count(*) FROM c""#,
    ));
    let mut ctx = s.ctx();
    let since = Instant::now();
    let stopper = stop_when_started(&s, &ctx, "long", move || {
        since.elapsed() > Duration::from_millis(300)
    });
    let t = Instant::now();
    let g = ripcord_guard::run(&mut ctx, Arc::new(Engines), false).unwrap();
    stopper.join().unwrap();
    // The step's own timeout is 60 s: well under that, or the stop did not interrupt it.
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "the statement was interrupted"
    );
    assert_eq!(g.outcome.stopped.unwrap().step.as_deref(), Some("long"));
    assert!(g.resolution.unwrap().rollback.unwrap().ok());
    assert_eq!(
        e.query_scalar("SELECT balance FROM accounts").unwrap(),
        ripcord_core::value::Value::Int(100)
    );
}

#[test]
fn a_stop_after_the_switch_closed_is_refused_and_the_first_one_kept() {
    use ripcord_core::run::{StopRequest, StopSwitch};
    let manual = |why: &str| {
        StopRequest::new(
            StopSource::Signal {
                signal: "SIGINT".into(),
            },
            why,
        )
    };
    // A stop that arrived before the run closed its switch is handed back, not dropped.
    let s = StopSwitch::new();
    assert!(s.trigger(manual("late but in time")));
    assert_eq!(s.close().unwrap().reason, "late but in time");
    // Once closed, a stop is refused: its source can say the run had already finished.
    let s = StopSwitch::new();
    assert!(s.close().is_none());
    assert!(!s.trigger(manual("too late")));
    assert!(!s.is_stopped());
}
