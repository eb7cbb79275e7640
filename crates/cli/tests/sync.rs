//! The parallel universe with real parts: two databases per test (SQLite, PostgreSQL,
//! MariaDB, MariaDB legacy with PostgreSQL new), a switch (flag file or Redis key), and an
//! "application" thread that routes every write by reading the switch and keeps writing
//! through `cutover`, the running `sync start` loop and a switch-based `rollback`. At the
//! end every write it made is on the primary side (legacy), none lost, none written to the
//! new side after the rollback, and the new side is fenced. Variants kill the sync loop and
//! the rollback with SIGKILL at crash points and resume them.

mod common;
use common::universe::*;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::value::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Route {
    File,
    Redis,
}

struct Universe {
    dir: tempfile::TempDir,
    _legacy: FreshDb,
    _new: FreshDb,
    route: Route,
    redis_key: String,
}

impl Drop for Universe {
    fn drop(&mut self) {
        if self.route == Route::Redis
            && let Ok(mut c) = redis_con()
        {
            let _ = redis::cmd("DEL").arg(&self.redis_key).query::<i64>(&mut c);
        }
    }
}

fn redis_con() -> redis::RedisResult<redis::Connection> {
    redis::Client::open("redis://127.0.0.1:6379/0")?.get_connection()
}

impl Universe {
    fn new(legacy_engine: &'static str, new_engine: &'static str, route: Route) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let redis_key = format!("ripcord-test:sync:{}:{nanos}", std::process::id());
        let switch = match route {
            Route::File => FILE_SWITCH.to_string(),
            Route::Redis => format!(
                "kind = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nkey = \"{redis_key}\"\nnew_value = \"new\"\nlegacy_value = \"legacy\"\n"
            ),
        };
        if route == Route::Redis {
            redis::cmd("SET")
                .arg(&redis_key)
                .arg("legacy")
                .query::<()>(&mut redis_con().expect("Redis must run at 127.0.0.1:6379"))
                .unwrap();
        }
        let u = Universe::with_plan(
            (legacy_engine, new_engine),
            (route, redis_key),
            r#"
[[components.orders.invariants]]
name = "no negative amounts"
sql = "SELECT COUNT(*) FROM orders WHERE amount < 0"
expect = 0
"#,
            &switch,
        );
        let ctx = ctx_for(&u.plan());
        for (db, engine) in [("legacy", legacy_engine), ("new", new_engine)] {
            create_orders(ctx.engine(db).unwrap().as_mut(), engine, 100, -1);
        }
        u
    }

    /// Two fresh databases and the plan `orders_plan(…, more, switch)` over them; no
    /// tables yet.
    fn with_plan(
        (legacy_engine, new_engine): (&'static str, &'static str),
        (route, redis_key): (Route, String),
        more: &str,
        switch: &str,
    ) -> Self {
        let legacy = FreshDb::new(legacy_engine);
        let new = FreshDb::new(new_engine);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ripcord.toml"),
            orders_plan(&legacy.url, &new.url, more, switch),
        )
        .unwrap();
        Universe {
            dir,
            _legacy: legacy,
            _new: new,
            route,
            redis_key,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plan(&self) -> PathBuf {
        self.path().join("ripcord.toml")
    }

    fn ripcord(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        ripcord_in(self.path(), args, env)
    }

    /// Runs ripcord here and asserts its exit code.
    fn expect(&self, want: i32, args: &[&str]) -> std::process::Output {
        let o = self.ripcord(args, &[]);
        assert_eq!(code(&o), want, "{args:?}: {}", text(&o));
        o
    }

    fn capture(&self) {
        self.expect(0, &["capture", "start", "-c", "orders"]);
    }

    /// Arms capture and cuts over: traffic on the new side, the sync marked running.
    fn cut_over(&self) {
        self.capture();
        self.expect(0, &["cutover", "-c", "orders", "--reason", "go"]);
    }

    /// A cutover that must refuse (exit 3) within `catch_up`.
    fn refused_cutover(&self, catch_up: &str) -> std::process::Output {
        self.expect(
            3,
            &[
                "cutover",
                "-c",
                "orders",
                "--reason",
                "go",
                "--catch-up",
                catch_up,
            ],
        )
    }

    /// Runs ripcord here and reads its JSON output, whatever its exit code.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let o = self.ripcord(args, &[]);
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)))
    }

    fn spawn_sync(&self, env: &[(&str, &str)]) -> Child {
        spawn_sync(self.path(), "sync-loop", env)
    }
}

/// Business writes of orders `ids` on the new side, each `(i, 'new', i, NULL)`.
fn insert_new_orders(e: &mut dyn Engine, ids: std::ops::RangeInclusive<i64>) {
    for i in ids {
        exec(
            e,
            &format!("INSERT INTO orders VALUES ({i}, 'new', {i}, NULL)"),
        );
    }
}

/// Reads the switch the way an application would.
fn route_now(u_route: Route, flag: &Path, key: &str, con: &mut Option<redis::Connection>) -> bool {
    match u_route {
        Route::File => std::fs::read_to_string(flag).is_ok_and(|s| s.trim() == "new"),
        Route::Redis => {
            let c = con.get_or_insert_with(|| redis_con().unwrap());
            let v: Option<String> = redis::cmd("GET").arg(key).query(c).unwrap();
            v.as_deref() == Some("new")
        }
    }
}

/// The application: writes order n to the side the switch names, retrying (after reading
/// the switch again) when that side refuses it (frozen). Until it first sees the new side
/// it also copies each legacy write to the new side, standing in for the forward
/// replication that keeps the new system current before a cutover.
struct App {
    stop: Arc<AtomicBool>,
    next: Arc<AtomicI64>,
    log: Arc<Mutex<Vec<(i64, &'static str)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl App {
    fn start(u: &Universe) -> App {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicI64::new(1));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, n, l) = (stop.clone(), next.clone(), log.clone());
        let plan = u.plan();
        let flag = u.path().join("flags/orders_v2");
        let key = u.redis_key.clone();
        let route = u.route;
        let thread = std::thread::spawn(move || {
            let ctx = ctx_for(&plan);
            let mut legacy = ctx.engine("legacy").unwrap();
            let mut new = ctx.engine("new").unwrap();
            let mut con = None;
            let mut forward = true;
            while !s.load(Ordering::SeqCst) {
                let id = n.load(Ordering::SeqCst);
                let t = Instant::now();
                loop {
                    let to_new = route_now(route, &flag, &key, &mut con);
                    forward &= !to_new;
                    let side = if to_new { "new" } else { "legacy" };
                    let sql = format!(
                        "INSERT INTO orders (id, side, amount, note) VALUES ({id}, '{side}', {}.50, 'طلب {id}')",
                        id % 1000
                    );
                    let db = if to_new { &mut new } else { &mut legacy };
                    match db.execute(&sql, Origin::Business) {
                        Ok(()) => {
                            if forward {
                                new.execute(&sql, Origin::Business)
                                    .unwrap_or_else(|e| panic!("forward copy of {id}: {e}"));
                            }
                            l.lock().unwrap().push((id, side));
                            break;
                        }
                        Err(e) => {
                            assert!(
                                t.elapsed() < Duration::from_secs(90),
                                "write {id} refused for 90 s: {e}"
                            );
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
                n.store(id + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        App {
            stop,
            next,
            log,
            thread: Some(thread),
        }
    }

    fn written(&self) -> i64 {
        self.next.load(Ordering::SeqCst) - 1
    }

    fn on(&self, side: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| *s == side)
            .count()
    }

    fn wait(&self, side: &str, at_least: usize) {
        let t = Instant::now();
        while self.on(side) < at_least {
            assert!(
                t.elapsed() < Duration::from_secs(90),
                "the application stopped writing to {side}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(mut self) -> Vec<(i64, &'static str)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.log.lock().unwrap().clone()
    }
}

/// `(id, side)` of every order the application wrote, from one database.
fn orders(ctx: &ripcord_core::context::Ctx, db: &str) -> Vec<(i64, String)> {
    let mut e = ctx.engine(db).unwrap();
    let n = match e
        .query_scalar("SELECT COUNT(*) FROM orders WHERE id > 0")
        .unwrap()
    {
        Value::Int(n) => n,
        v => panic!("count: {v:?}"),
    };
    let mut out = Vec::new();
    // Few rows: one query per id keeps this engine-neutral.
    let max = match e
        .query_scalar("SELECT COALESCE(MAX(id), 0) FROM orders")
        .unwrap()
    {
        Value::Int(n) => n,
        v => panic!("max: {v:?}"),
    };
    for id in 1..=max {
        if let Value::Text(s) = e
            .query_scalar(&format!("SELECT side FROM orders WHERE id = {id}"))
            .unwrap()
        {
            out.push((id, s));
        }
    }
    assert_eq!(out.len() as i64, n);
    out
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t.elapsed() > within {
            let _ = child.kill();
            panic!("the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn child_text(child: Child) -> String {
    let o = child.wait_with_output().unwrap();
    text(&o)
}

#[derive(Clone, Copy, Default)]
struct Faults {
    /// Kill the first sync loop after it committed a batch, then start another.
    kill_sync: bool,
    /// Kill the rollback at this crash point, then `rollback --resume`.
    kill_rollback_at: Option<&'static str>,
}

/// The whole story on one pair of engines. Stories run in parallel, also several on one
/// MariaDB server: a pass waits only for writers of its own journal.
fn story(legacy: &'static str, new: &'static str, route: Route, faults: Faults) {
    let u = Universe::new(legacy, new, route);
    u.capture();
    let app = App::start(&u);
    app.wait("legacy", 15);

    // Cutover while the application writes.
    let o = u.ripcord(&["cutover", "-c", "orders", "--reason", "go live"], &[]);
    assert_eq!(code(&o), 0, "cutover: {}", text(&o));
    app.wait("new", 10);

    // The sync loop, killed once after a committed batch when asked.
    if faults.kill_sync {
        let mut first = u.spawn_sync(&[("RIPCORD_CRASH_AT", "sync:applied")]);
        let s = wait_exit(&mut first, Duration::from_secs(60));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(s.signal(), Some(9), "{}", child_text(first));
        let v = u.json(&["sync", "status", "--json"]);
        assert!(
            v[0]["lag"]["position"].as_i64().is_some(),
            "the killed loop committed a batch: {v}"
        );
    }
    let mut sync = u.spawn_sync(&[]);
    let before_new = app.on("new");
    app.wait("new", before_new + 30);

    // The loop keeps legacy current: lag measured, then caught up.
    let t = Instant::now();
    loop {
        let o = u.expect(0, &["sync", "status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v[0]["record"]["state"]["state"], "running", "{v}");
        assert!(v[0]["runner"]["holder"]["pid"].as_u64().is_some(), "{v}");
        if v[0]["record"]["applied"].as_u64().unwrap() >= 20 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the sync does not apply: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Rollback by switch while the application writes and the loop runs.
    let env: Vec<(&str, &str)> = faults
        .kill_rollback_at
        .map(|p| vec![("RIPCORD_CRASH_AT", p)])
        .unwrap_or_default();
    let o = u.ripcord(
        &["rollback", "-c", "orders", "--yes", "--reason", "red rule"],
        &env,
    );
    if faults.kill_rollback_at.is_some() {
        assert_eq!(o.status.code(), None, "killed: {}", text(&o));
        let o = u.ripcord(&["rollback", "--resume", "--yes"], &[]);
        assert_eq!(code(&o), 0, "resume: {}", text(&o));
    } else {
        assert_eq!(code(&o), 0, "rollback: {}", text(&o));
    }
    let rolled_back_at = app.written();
    let s = wait_exit(&mut sync, Duration::from_secs(30));
    let out = child_text(sync);
    assert!(
        s.success(),
        "the sync loop ends when the rollback takes over: {out}"
    );
    assert!(out.contains("drained by rollback"), "{out}");

    let before_legacy = app.on("legacy");
    app.wait("legacy", before_legacy + 15);
    let log = app.finish();
    let total = log.len() as i64;
    assert_eq!(total, *log.iter().map(|(i, _)| i).max().unwrap());

    // The report: switch path, nothing lost.
    let o = u.expect(0, &["report", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rb = &v;
    assert_eq!(rb["mode"]["path"], "switch", "{v}");
    assert_eq!(rb["figures"]["lost"], 0, "{v}");
    assert!(rb["figures"]["at_risk"].as_u64().unwrap() >= 30, "{v}");

    let ctx = ctx_for(&u.plan());
    let on_legacy = orders(&ctx, "legacy");
    let on_new = orders(&ctx, "new");
    // Every write the application made is on legacy, where it said it wrote it.
    let expected: Vec<(i64, String)> = log.iter().map(|(i, s)| (*i, s.to_string())).collect();
    assert_eq!(on_legacy, expected, "legacy holds every write, none lost");
    // The new side holds only writes made before the rollback, each also on legacy.
    for (id, side) in &on_new {
        assert!(
            *id <= rolled_back_at,
            "order {id} reached the new side after the rollback"
        );
        assert!(expected.contains(&(*id, side.clone())));
    }
    assert!(
        log.iter()
            .any(|(i, s)| *s == "legacy" && *i > rolled_back_at),
        "the application writes to legacy after the rollback"
    );
    // Fenced: the new side refuses a late write.
    let late = ctx.engine("new").unwrap().execute(
        "INSERT INTO orders VALUES (999999, 'late', 1, NULL)",
        Origin::Business,
    );
    assert!(
        late.is_err(),
        "the new side must stay frozen after the rollback"
    );
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["state"]["state"], "ended", "{v}");
    u.expect(0, &["audit", "verify"]);
}

#[test]
fn sqlite_app_keeps_writing_through_cutover_sync_and_switch_rollback() {
    story("sqlite", "sqlite", Route::File, Faults::default());
}

#[test]
fn postgres_app_keeps_writing_through_cutover_sync_and_switch_rollback() {
    story("postgres", "postgres", Route::Redis, Faults::default());
}

#[test]
fn mariadb_app_keeps_writing_through_cutover_sync_and_switch_rollback() {
    story("mysql", "mysql", Route::File, Faults::default());
}

#[test]
fn mariadb_legacy_postgres_new_app_keeps_writing_through_cutover_sync_and_rollback() {
    story("mysql", "postgres", Route::Redis, Faults::default());
}

#[test]
fn sync_killed_after_a_batch_resumes_exactly_once_postgres() {
    story(
        "postgres",
        "postgres",
        Route::File,
        Faults {
            kill_sync: true,
            kill_rollback_at: Some("drain:after"),
        },
    );
}

#[test]
fn switch_rollback_killed_mid_flip_resumes_with_nothing_lost_mariadb() {
    story(
        "mysql",
        "mysql",
        Route::Redis,
        Faults {
            kill_sync: true,
            kill_rollback_at: Some("switch:acted"),
        },
    );
}

#[test]
fn switch_rollback_killed_before_unfreeze_resumes_sqlite() {
    story(
        "sqlite",
        "sqlite",
        Route::File,
        Faults {
            kill_sync: true,
            kill_rollback_at: Some("switch_back:after"),
        },
    );
}

/// SQLite on both sides, cut over, with a legacy that refuses what the new side accepts:
/// an order whose note is 'bad'.
fn cut_over_onto_a_legacy_that_refuses_bad_notes() -> (Universe, ripcord_core::context::Ctx) {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "CREATE TRIGGER legacy_rule BEFORE INSERT ON orders WHEN NEW.note = 'bad' BEGIN SELECT RAISE(ABORT, 'legacy refuses bad notes'); END",
    );
    u.cut_over();
    (u, ctx)
}

/// A write of a critical component that legacy refuses stops the sync loudly (exit 3,
/// state failed, the gap named), and `sync status` exits 3 until someone acts.
#[test]
fn a_critical_table_that_cannot_sync_stops_the_sync_loudly() {
    let (u, ctx) = cut_over_onto_a_legacy_that_refuses_bad_notes();
    let mut new = ctx.engine("new").unwrap();
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (1, 'new', 1, 'fine')",
    );
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (2, 'new', 2, 'bad')",
    );
    let o = u.expect(3, &["sync", "start", "--interval", "50ms"]);
    assert!(
        text(&o).contains("critical component orders"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("legacy refuses bad notes"),
        "{}",
        text(&o)
    );
    let o = u.expect(3, &["sync", "status"]);
    assert!(text(&o).contains("FAILED"), "{}", text(&o));
    // The failure is data (the first gap, the database's message verbatim), with its
    // words beside it for readers of the JSON from before it was typed.
    let o = u.ripcord(&["sync", "status", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let state = &v[0]["record"]["state"];
    assert_eq!(state["state"], "failed", "{v}");
    let failure = &state["failure"];
    assert_eq!(failure["kind"], "critical_gaps", "{v}");
    assert_eq!(
        (&failure["component"], &failure["table"], &failure["gaps"]),
        (&"orders".into(), &"orders".into(), &1.into()),
        "{v}"
    );
    assert_eq!(
        failure["cause"]["refusal"]["message"], "legacy refuses bad notes",
        "{v}"
    );
    assert!(
        state["error"]
            .as_str()
            .unwrap()
            .contains("could not be applied to legacy"),
        "{v}"
    );
    // The good write before it reached legacy; the bad one is a gap, not a silent loss.
    let mut legacy = ctx.engine("legacy").unwrap();
    assert_eq!(
        legacy
            .query_scalar("SELECT side FROM orders WHERE id = 1")
            .unwrap(),
        Value::Text("new".into())
    );
    // A rollback now says the write is lost and fails (exit 3), never "0 lost".
    u.expect(3, &["rollback", "-c", "orders", "--yes", "--reason", "red"]);
    let v = u.json(&["report", "--json"]);
    let rb = &v;
    assert_eq!(rb["figures"]["lost"], 1, "{v}");
}

/// Regression: after a critical component's sync failed, `sync start` (with or without
/// `-c`) and `sync resume` refuse, name the gap and say the way out, instead of carrying
/// on past the lost write; `--accept-gap --reason` lets it run on, audited, with the gap
/// still listed, and a later write legacy refuses stops it again.
#[test]
fn a_failed_critical_sync_is_not_restarted_silently() {
    let (u, ctx) = cut_over_onto_a_legacy_that_refuses_bad_notes();
    let mut new = ctx.engine("new").unwrap();
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (1, 'new', 1, 'bad')",
    );
    u.expect(3, &["sync", "start", "--once"]);
    // Written after the failure: nothing may carry it until someone decides.
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (2, 'new', 2, 'fine')",
    );
    for args in [
        &["sync", "start", "--once"][..],
        &["sync", "start", "--once", "-c", "orders"][..],
        &["sync", "resume", "-c", "orders"][..],
    ] {
        let o = u.ripcord(args, &[]);
        assert_eq!(code(&o), 3, "{args:?}: {}", text(&o));
        for needle in [
            "FAILED",
            "legacy refuses bad notes",
            "1 business write(s)",
            "ripcord rollback -c orders",
            "--accept-gap --reason",
        ] {
            assert!(
                text(&o).contains(needle),
                "{args:?} lacks {needle:?}: {}",
                text(&o)
            );
        }
    }
    let item = check_item(&u, "sync", "orders");
    assert_eq!(item["status"], "no_go", "{item}");
    assert!(
        item["detail"].as_str().unwrap().contains("FAILED"),
        "{item}"
    );
    let mut legacy = ctx.engine("legacy").unwrap();
    let count = |e: &mut dyn Engine, id: i64| {
        e.query_scalar(&format!("SELECT COUNT(*) FROM orders WHERE id = {id}"))
            .unwrap()
    };
    assert_eq!(count(legacy.as_mut(), 2), Value::Int(0), "nothing ran on");
    // --accept-gap needs a reason and the component named.
    u.expect(2, &["sync", "start", "--once", "--accept-gap"]);
    u.expect(
        2,
        &[
            "sync",
            "start",
            "--once",
            "--accept-gap",
            "--reason",
            "typo",
        ],
    );
    u.expect(
        0,
        &[
            "sync",
            "start",
            "--once",
            "-c",
            "orders",
            "--accept-gap",
            "--reason",
            "order 1 re-entered by the desk",
        ],
    );
    assert_eq!(
        count(legacy.as_mut(), 2),
        Value::Int(1),
        "runs on after the gap"
    );
    let o = u.ripcord(&["sync", "status", "--json"], &[]);
    assert_eq!(code(&o), 3, "the gap stays listed: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["record"]["state"]["state"], "running", "{v}");
    assert_eq!(v[0]["record"]["gaps"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v[0]["record"]["accepted"][0]["reason"], "order 1 re-entered by the desk",
        "{v}"
    );
    let o = u.ripcord(&["audit", "show"], &[]);
    assert!(text(&o).contains("sync.accept_gap"), "{}", text(&o));
    // The acceptance covered that gap only: the next refused write stops it again.
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (3, 'new', 3, 'bad')",
    );
    u.expect(3, &["sync", "start", "--once"]);
    let o = u.expect(3, &["sync", "start", "--once"]);
    assert!(text(&o).contains("2 business write(s)"), "{}", text(&o));
}

/// Regression: a second cutover after a switch-path rollback used to pass the precheck with
/// the new side fenced and stale, and end in a slow "still differ" at verify (or, where
/// only counts are compared, cut over onto stale rows). Now the precheck refuses at once,
/// says why and the way out; `cutover --unfence` lifts the fence only while traffic is on
/// legacy; after a re-base the second cutover proves the sides agree and the new sync
/// carries writes again.
#[test]
fn a_second_cutover_after_a_rollback_refuses_until_the_new_side_is_rebased() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    let flag = u.path().join("flags/orders_v2");
    u.capture();
    // Unfencing is refused while the new side is primary.
    u.expect(0, &["cutover", "-c", "orders", "--reason", "go"]);
    let o = u.expect(
        3,
        &["cutover", "--unfence", "-c", "orders", "--reason", "x"],
    );
    assert!(text(&o).contains("the new side is primary"), "{}", text(&o));
    let mut new = ctx.engine("new").unwrap();
    let mut legacy = ctx.engine("legacy").unwrap();
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (1, 'new', 1, NULL)",
    );
    u.expect(0, &["sync", "start", "--once"]);
    u.expect(0, &["rollback", "-c", "orders", "--yes", "--reason", "red"]);
    exec(
        legacy.as_mut(),
        "INSERT INTO orders VALUES (2, 'legacy', 2, NULL)",
    );

    let o = u.expect(3, &["cutover", "-c", "orders", "--reason", "again"]);
    for needle in [
        "fenced since rollback",
        "cutover --unfence -c orders",
        "nothing changed",
    ] {
        assert!(text(&o).contains(needle), "lacks {needle:?}: {}", text(&o));
    }
    assert!(!flag.exists(), "no switch moved");
    exec(
        legacy.as_mut(),
        "INSERT INTO orders VALUES (3, 'legacy', 3, NULL)",
    );
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["state"]["state"], "ended", "{v}");

    u.expect(2, &["cutover", "--unfence", "-c", "orders"]);
    assert!(
        new.execute(
            "INSERT INTO orders VALUES (2, 'legacy', 2, NULL)",
            Origin::Business
        )
        .is_err(),
        "still fenced"
    );
    u.expect(
        0,
        &[
            "cutover",
            "--unfence",
            "-c",
            "orders",
            "--reason",
            "re-base",
        ],
    );
    assert!(!flag.exists(), "traffic stays on legacy");
    // The re-base: legacy's writes since the rollback, brought to the new side.
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (2, 'legacy', 2, NULL)",
    );
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (3, 'legacy', 3, NULL)",
    );
    u.expect(0, &["cutover", "-c", "orders", "--reason", "again"]);
    assert_eq!(std::fs::read_to_string(&flag).unwrap().trim(), "new");
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (4, 'new', 4, NULL)",
    );
    u.expect(0, &["sync", "start", "--once"]);
    assert_eq!(
        legacy
            .query_scalar("SELECT side FROM orders WHERE id = 4")
            .unwrap(),
        Value::Text("new".into())
    );
    let o = u.ripcord(&["audit", "show"], &[]);
    assert!(text(&o).contains("cutover.unfence"), "{}", text(&o));
}

/// `check --json`'s item of one kind and subject.
fn check_item(u: &Universe, kind: &str, subject: &str) -> serde_json::Value {
    let o = u.ripcord(&["check", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}: {}", text(&o)));
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind && i["subject"] == subject)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} item for {subject}: {v}"))
}

fn status_json(u: &Universe) -> serde_json::Value {
    let o = u.expect(0, &["status", "--json"]);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `status` shows each sync (state, lag, runner) and each switch (read beside where
/// ripcord put it); `check` is NO-GO while a running sync has no live process, GO once
/// the loop runs it, NO-GO again when the loop is killed, WARN while paused, and NO-GO
/// for a switch moved outside ripcord.
#[test]
fn status_and_check_show_syncs_runners_and_switches() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.capture();
    let sw = check_item(&u, "switch", "orders_route");
    assert_eq!(sw["status"], "go", "{sw}");
    assert_eq!(sw["detail"], "reads legacy", "{sw}");
    u.expect(0, &["cutover", "-c", "orders", "--reason", "go"]);

    // Marked running, but nothing runs it.
    let item = check_item(&u, "sync", "orders");
    assert_eq!(item["status"], "no_go", "{item}");
    assert!(
        item["detail"]
            .as_str()
            .unwrap()
            .contains("no process runs it"),
        "{item}"
    );
    let v = status_json(&u);
    assert_eq!(v["syncs"][0]["component"], "orders", "{v}");
    assert_eq!(v["syncs"][0]["state"]["state"], "running", "{v}");
    assert_eq!(v["syncs"][0]["should_run"], true, "{v}");
    assert_eq!(v["syncs"][0]["runner_alive"], false, "{v}");
    assert_eq!(v["syncs"][0]["lag_rows"], 0, "{v}");
    assert_eq!(v["switches"][0]["name"], "orders_route", "{v}");
    assert_eq!(v["switches"][0]["position"]["side"], "new", "{v}");
    assert_eq!(v["switches"][0]["agrees"], true, "{v}");
    let o = u.ripcord(&["status"], &[]);
    for needle in ["orders_route", "running", "NONE"] {
        assert!(text(&o).contains(needle), "lacks {needle:?}: {}", text(&o));
    }

    // The loop runs it: GO, and its lock is not a NO-GO.
    let mut sync = u.spawn_sync(&[]);
    let t = Instant::now();
    while status_json(&u)["syncs"][0]["runner_alive"] != true {
        assert!(t.elapsed() < Duration::from_secs(60), "no runner seen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let item = check_item(&u, "sync", "orders");
    assert_eq!(item["status"], "go", "{item}");
    assert_eq!(check_item(&u, "lock", "sync:orders")["status"], "go");

    // Killed: its lock stays, its process is gone.
    sync.kill().unwrap();
    sync.wait().unwrap();
    let mut new = ctx.engine("new").unwrap();
    insert_new_orders(new.as_mut(), 1..=3);
    let v = status_json(&u);
    assert_eq!(v["syncs"][0]["runner_alive"], false, "{v}");
    assert!(v["syncs"][0]["runner"]["holder"]["pid"].is_u64(), "{v}");
    assert_eq!(v["syncs"][0]["lag_rows"], 3, "{v}");
    let item = check_item(&u, "sync", "orders");
    assert_eq!(item["status"], "no_go", "{item}");
    assert!(
        item["detail"].as_str().unwrap().contains("is gone"),
        "{item}"
    );
    assert_eq!(item["figures"]["lag_rows"], 3, "{item}");

    // Paused on purpose: a warning, not a NO-GO.
    u.expect(0, &["sync", "pause", "-c", "orders"]);
    assert_eq!(check_item(&u, "sync", "orders")["status"], "warn");

    // A switch moved by hand: ripcord's belief is wrong.
    std::fs::remove_file(u.path().join("flags/orders_v2")).unwrap();
    let sw = check_item(&u, "switch", "orders_route");
    assert_eq!(sw["status"], "no_go", "{sw}");
    assert!(
        sw["detail"].as_str().unwrap().contains("outside ripcord"),
        "{sw}"
    );
    let v = status_json(&u);
    assert_eq!(v["switches"][0]["agrees"], false, "{v}");
}

/// A red rule whose fallback would move a cut-over component's switch to legacy (frozen
/// behind its sync) does not flip it there: the rule stops the watch, saying why, and the
/// decision matrix's rollback moves the traffic back by the switch path, nothing lost.
#[test]
fn a_fallback_that_would_reach_frozen_legacy_stops_the_watch_instead() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let mut plan = std::fs::read_to_string(u.plan()).unwrap();
    plan.push_str(
        r#"
[[probe]]
name = "trouble"
kind = "command"
command = "test ! -e trouble"
interval = "100ms"

[[rule]]
name = "trouble on the new side"
when = "!ok.trouble"
level = "red"
fallback = "orders_route"
scenario = "trouble"
components = ["orders"]

[decision_matrix.scenarios.trouble]
decision = "rollback_now"
"#,
    );
    std::fs::write(u.plan(), plan).unwrap();
    u.cut_over();
    let ctx = ctx_for(&u.plan());
    exec(
        ctx.engine("new").unwrap().as_mut(),
        "INSERT INTO orders VALUES (1, 'new', 1, NULL)",
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    c.current_dir(u.path())
        .args(["watch", "--for", "90s"])
        .env_remove("RIPCORD_CRASH_AT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut watch = c.spawn().unwrap();
    std::fs::write(u.path().join("trouble"), "").unwrap();
    wait_exit(&mut watch, Duration::from_secs(60));
    let out = child_text(watch);
    assert!(out.contains("could not help"), "{out}");
    assert!(out.contains("legacy is frozen"), "{out}");
    assert!(!u.path().join("flags/orders_v2").exists(), "{out}");
    let v = u.json(&["report", "--json"]);
    assert_eq!(v["mode"]["path"], "switch", "{v}");
    assert_eq!(v["figures"]["lost"], 0, "{v}");
    assert_eq!(
        ctx.engine("legacy")
            .unwrap()
            .query_scalar("SELECT side FROM orders WHERE id = 1")
            .unwrap(),
        Value::Text("new".into())
    );
    let o = u.ripcord(&["events", "--json"], &[]);
    assert!(!text(&o).contains("switch_fell_back"), "{}", text(&o));
}

/// Pause holds one component back (its lag shows and grows); resume catches it up.
#[test]
fn pause_shows_the_lag_and_resume_catches_up() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.cut_over();
    u.expect(0, &["sync", "pause", "-c", "orders"]);
    let mut new = ctx.engine("new").unwrap();
    insert_new_orders(new.as_mut(), 1..=5);
    u.expect(0, &["sync", "start", "--once"]);
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["state"]["state"], "paused", "{v}");
    assert_eq!(v[0]["lag"]["rows"], 5, "{v}");
    assert!(v[0]["lag"]["seconds"].as_f64().unwrap() >= 0.0);
    u.expect(0, &["sync", "resume", "-c", "orders"]);
    u.expect(0, &["sync", "start", "--once"]);
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["lag"]["rows"], 0, "{v}");
    assert_eq!(v[0]["record"]["applied"], 5, "{v}");
    // Lag events went to the event log.
    let o = u.ripcord(&["events", "--json"], &[]);
    assert!(text(&o).contains("\"sync_lag\""), "{}", text(&o));
}

/// The cutover refuses when the sides differ (nothing moved, legacy writable again).
#[test]
fn cutover_refuses_when_the_sides_differ_and_moves_nothing() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.capture();
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "INSERT INTO orders VALUES (7, 'legacy', 7, NULL)",
    );
    let o = u.refused_cutover("300ms");
    assert!(text(&o).contains("still differ"), "{}", text(&o));
    assert!(
        !u.path().join("flags/orders_v2").exists(),
        "no switch moved"
    );
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "INSERT INTO orders VALUES (8, 'legacy', 8, NULL)",
    );
    let o = u.expect(0, &["sync", "status", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
}

/// `ripcord watch` runs the sync beside the guard; a dry run shows the switch path.
#[test]
fn watch_runs_the_sync_and_a_dry_run_shows_the_switch_path() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.cut_over();
    let mut new = ctx.engine("new").unwrap();
    insert_new_orders(new.as_mut(), 1..=3);
    let o = u.expect(0, &["rollback", "-c", "orders", "--dry-run"]);
    assert!(text(&o).contains("switch path"), "{}", text(&o));
    u.expect(0, &["watch", "--for", "2s"]);
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["applied"], 3, "{v}");
    assert_eq!(v[0]["lag"]["rows"], 0, "{v}");
    assert_eq!(
        ctx.engine("legacy")
            .unwrap()
            .query_scalar("SELECT COUNT(*) FROM orders WHERE side = 'new'")
            .unwrap(),
        Value::Int(3)
    );
}

/// A cutover killed between its phases resumes where it stopped: legacy frozen, the
/// switch on the new side, the sync started from the mark it recorded before the kill.
#[test]
fn a_cutover_killed_before_its_flip_resumes() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.capture();
    let o = u.ripcord(
        &["cutover", "-c", "orders", "--reason", "go"],
        &[("RIPCORD_CRASH_AT", "cutover:flip:before")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    // Killed after the freeze: legacy refuses business writes meanwhile.
    assert!(
        ctx.engine("legacy")
            .unwrap()
            .execute(
                "INSERT INTO orders VALUES (5, 'legacy', 5, NULL)",
                Origin::Business
            )
            .is_err()
    );
    let o = u.ripcord(&["cutover", "-c", "orders", "--reason", "again"], &[]);
    assert_eq!(
        code(&o),
        5,
        "an unfinished cutover holds the component: {}",
        text(&o)
    );
    u.expect(0, &["cutover", "--resume"]);
    assert_eq!(
        std::fs::read_to_string(u.path().join("flags/orders_v2"))
            .unwrap()
            .trim(),
        "new"
    );
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["state"]["state"], "running", "{v}");
}

/// Equal row counts are not enough: one value that differs refuses the cutover, on
/// PostgreSQL (its own hash) and across engines (MD5).
fn cutover_sees_a_value_difference(legacy: &'static str, new: &'static str) {
    let u = Universe::new(legacy, new, Route::File);
    let ctx = ctx_for(&u.plan());
    u.capture();
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "UPDATE orders SET amount = 7.75 WHERE id = -42",
    );
    let o = u.refused_cutover("0s");
    assert!(
        text(&o).contains("-42"),
        "the differing row is named: {}",
        text(&o)
    );
}

#[test]
fn cutover_sees_a_value_difference_with_equal_counts_postgres() {
    cutover_sees_a_value_difference("postgres", "postgres");
}

#[test]
fn cutover_sees_a_value_difference_with_equal_counts_mariadb_to_postgres() {
    cutover_sees_a_value_difference("mysql", "postgres");
}

/// A cutover whose flip fails stops with legacy frozen; abandoned while no switch moved,
/// legacy takes writes again and the unfinished flip is completed back to legacy.
#[test]
fn a_cutover_whose_flip_fails_can_be_abandoned_while_no_switch_moved() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    u.capture();
    // The flag is written aside then renamed: a folder where the aside file goes makes
    // every write fail, while the read still says legacy.
    std::fs::create_dir_all(u.path().join("flags/orders_v2.ripcord-tmp")).unwrap();
    u.expect(3, &["cutover", "-c", "orders", "--reason", "go"]);
    let o = u.ripcord(&["cutover", "--json", "--resume"], &[]);
    assert_ne!(code(&o), 0, "{}", text(&o));
    let id = ctx_for(&u.plan()).state.cutovers().unwrap()[0].id.clone();
    let o = u.ripcord(&["cutover", "--abandon", &id], &[]);
    assert_eq!(code(&o), 2, "a reason is required: {}", text(&o));
    // Completing the unfinished flip back to legacy works: removing an absent flag
    // succeeds, and the read says legacy.
    u.expect(
        4,
        &["cutover", "--abandon", &id, "--reason", "switch broken"],
    );
    let o = u.ripcord(&["switch", "status"], &[]);
    assert_eq!(code(&o), 0, "the switch record agrees again: {}", text(&o));
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "INSERT INTO orders VALUES (9, 'legacy', 9, NULL)",
    );
}

/// Two databases where the new side's table is reshaped: `orders_v2` keeps money in cents
/// and has a column legacy does not (`channel`, ignored); the reverse mapping computes
/// legacy's `amount`. `key` names the new side's key column (`id` keeps it by name).
fn mapped_universe(legacy_engine: &'static str, new_engine: &'static str, key: &str) -> Universe {
    let u = Universe::with_plan(
        (legacy_engine, new_engine),
        (Route::File, String::new()),
        r#"
[components.orders.reverse.orders_v2]
table = "orders"
columns = { amount = "amount_cents / 100.0" }
ignore = ["channel"]
"#,
        FILE_SWITCH,
    );
    let ctx = ctx_for(&u.plan());
    create_orders(
        ctx.engine("legacy").unwrap().as_mut(),
        legacy_engine,
        100,
        -1,
    );
    let mut n = ctx.engine("new").unwrap();
    exec(
        n.as_mut(),
        &format!(
            "CREATE TABLE orders_v2 ({key} bigint PRIMARY KEY, side varchar(10) NOT NULL, amount_cents bigint NOT NULL, note varchar(100), channel varchar(10))"
        ),
    );
    let rows: Vec<String> = (1..=100)
        .map(|i| format!("({}, 'seed', {}, 'نقطة {i}', 'web')", -i, i * 100 + 25))
        .collect();
    exec(
        n.as_mut(),
        &format!("INSERT INTO orders_v2 VALUES {}", rows.join(", ")),
    );
    u
}

/// The bug: the switch rollback compared a table whose reverse mapping computes a column
/// by row count only, so a value that differs on legacy ended "completed and verified"
/// (exit 0) and moved traffic to a legacy that did not hold what the new side held. Now
/// every row is compared through the mapping: the difference is found and named, no switch
/// moves, exit 3.
fn mapped_table_value_difference_with_equal_counts(legacy: &'static str, new: &'static str) {
    let u = mapped_universe(legacy, new, "id");
    let ctx = ctx_for(&u.plan());
    u.capture();
    // The sides agree through the mapping: the cutover's comparison passes.
    let o = u.ripcord(&["cutover", "-c", "orders", "--reason", "go"], &[]);
    assert_eq!(code(&o), 0, "cutover: {}", text(&o));
    let mut n = ctx.engine("new").unwrap();
    for i in 1..=5 {
        exec(
            n.as_mut(),
            &format!(
                "INSERT INTO orders_v2 VALUES ({i}, 'new', {}, 'طلب {i}', 'app')",
                i * 1000 + 50
            ),
        );
    }
    exec(
        n.as_mut(),
        "UPDATE orders_v2 SET amount_cents = 77777 WHERE id = -42",
    );
    u.expect(0, &["sync", "start", "--once"]);
    let mut l = ctx.engine("legacy").unwrap();
    assert_eq!(
        l.query_scalar("SELECT COUNT(*) FROM orders WHERE id = 3 AND amount = 30.5")
            .unwrap(),
        Value::Int(1),
        "the sync carried the mapped value"
    );
    // A synced row's value then differs on legacy, counts unchanged (legacy is frozen
    // since the cutover: thawed for the edit, as someone by hand would).
    l.unfreeze(&["orders".into()]).unwrap();
    exec(l.as_mut(), "UPDATE orders SET amount = 31.5 WHERE id = 3");
    l.freeze(&["orders".into()]).unwrap();

    let o = u.ripcord(
        &["rollback", "-c", "orders", "--yes", "--reason", "red rule"],
        &[],
    );
    assert_eq!(code(&o), 3, "not verified: {}", text(&o));
    let v = u.json(&["report", "--json"]);
    assert_eq!(v["mode"]["path"], "switch", "{v}");
    assert_ne!(v["verdict"]["kind"], "verified", "{v}");
    let t = &v["proof"]["tables"][0];
    assert_eq!(t["table"], "orders", "{v}");
    assert_eq!(t["rows"], 105, "{v}");
    assert_eq!(t["differences"], 1, "{v}");
    assert_eq!(t["checked"]["kind"], "contents", "{v}");
    assert_eq!(
        t["checked"]["not_compared"],
        serde_json::json!([]),
        "every legacy column is produced by the mapping: {v}"
    );
    let example = t["examples"][0].as_str().unwrap();
    assert!(
        example.contains("orders 3") && example.contains("column amount"),
        "{example}"
    );
    // Invariant 6: no switch moved to a legacy that differs.
    assert_eq!(
        std::fs::read_to_string(u.path().join("flags/orders_v2"))
            .unwrap()
            .trim(),
        "new"
    );
}

#[test]
fn switch_rollback_of_a_mapped_table_is_not_verified_by_equal_counts_sqlite() {
    mapped_table_value_difference_with_equal_counts("sqlite", "sqlite");
}

#[test]
fn switch_rollback_of_a_mapped_table_is_not_verified_by_equal_counts_postgres() {
    mapped_table_value_difference_with_equal_counts("postgres", "postgres");
}

#[test]
fn switch_rollback_of_a_mapped_table_is_not_verified_by_equal_counts_mariadb() {
    mapped_table_value_difference_with_equal_counts("mysql", "mysql");
}

#[test]
fn switch_rollback_of_a_mapped_table_is_not_verified_by_equal_counts_mariadb_to_postgres() {
    mapped_table_value_difference_with_equal_counts("mysql", "postgres");
}

/// The same bug at the cutover: a mapped table whose values differ (counts equal) was
/// cut over on its row count. Now the cutover refuses, naming the row.
#[test]
fn cutover_of_a_mapped_table_sees_a_value_difference_with_equal_counts() {
    let u = mapped_universe("sqlite", "sqlite", "id");
    let ctx = ctx_for(&u.plan());
    u.capture();
    exec(
        ctx.engine("legacy").unwrap().as_mut(),
        "UPDATE orders SET amount = 7.75 WHERE id = -42",
    );
    let o = u.refused_cutover("0s");
    assert!(
        text(&o).contains("orders -42: column amount is 7.75"),
        "the differing row is named: {}",
        text(&o)
    );
    assert!(
        !u.path().join("flags/orders_v2").exists(),
        "no switch moved"
    );
}

/// A table whose rows cannot be matched (the mapping gives legacy's key no value) cannot
/// be compared beyond its row count: the cutover refuses instead of vouching for it.
#[test]
fn cutover_refuses_a_table_it_can_compare_only_by_row_count() {
    let u = mapped_universe("sqlite", "sqlite", "order_id");
    u.capture();
    let o = u.refused_cutover("0s");
    assert!(
        text(&o).contains("cannot compare the values of orders")
            && text(&o).contains("key column(s) id"),
        "{}",
        text(&o)
    );
    assert!(
        !u.path().join("flags/orders_v2").exists(),
        "no switch moved"
    );
    // Legacy takes writes again.
    exec(
        ctx_for(&u.plan()).engine("legacy").unwrap().as_mut(),
        "INSERT INTO orders VALUES (9, 'legacy', 9, NULL)",
    );
}

/// The bug: MariaDB's in-flight check read every transaction on the server that had
/// written (INNODB_TRX), so a writer in another database, or another universe's sync,
/// held this sync's passes back and made the switch rollback's drain refuse ("stayed open
/// after the freeze"). Now only writers of this database's journal count.
#[test]
fn a_writer_elsewhere_on_the_mariadb_server_holds_neither_the_sync_nor_the_drain() {
    let u = Universe::new("mysql", "mysql", Route::File);
    let ctx = ctx_for(&u.plan());
    u.cut_over();
    let mut n = ctx.engine("new").unwrap();
    insert_new_orders(n.as_mut(), 1..=3);
    // Another database on the same server, with a transaction that wrote and stays open.
    let other = FreshDb::new("mysql");
    let mut app = other.conn();
    {
        use mysql::prelude::Queryable;
        app.query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
            .unwrap();
        app.query_drop("START TRANSACTION").unwrap();
        app.query_drop("INSERT INTO t VALUES (1)").unwrap();
    }
    u.expect(0, &["sync", "start", "--once", "--settle", "2s"]);
    let v = u.json(&["sync", "status", "--json"]);
    assert_eq!(v[0]["record"]["applied"], 3, "the pass did not wait: {v}");
    exec(n.as_mut(), "INSERT INTO orders VALUES (4, 'new', 4, NULL)");
    let o = u.ripcord(
        &["rollback", "-c", "orders", "--yes", "--reason", "red"],
        &[],
    );
    assert_eq!(
        code(&o),
        0,
        "the drain read the tail in one pass: {}",
        text(&o)
    );
    assert_eq!(
        ctx.engine("legacy")
            .unwrap()
            .query_scalar("SELECT COUNT(*) FROM orders WHERE side = 'new'")
            .unwrap(),
        Value::Int(4)
    );
    {
        use mysql::prelude::Queryable;
        app.query_drop("ROLLBACK").unwrap();
    }
}

/// Bug: `ripcord switch to-legacy` by hand while a component's sync ran moved its traffic
/// onto legacy frozen behind the sync (writes refused, or split across the sides), and
/// `to-new` after a switch-path rollback moved it onto the fenced new side (or, once
/// unfenced, onto a side no sync carries back). All are refused (exit 5) naming the way
/// (rollback; re-base and cutover); `--force --reason` moves anyway and is audited.
#[test]
fn a_manual_switch_onto_a_side_that_refuses_writes_is_refused() {
    let u = Universe::new("sqlite", "sqlite", Route::File);
    let ctx = ctx_for(&u.plan());
    let flag = u.path().join("flags/orders_v2");
    u.cut_over();
    let mut new = ctx.engine("new").unwrap();
    exec(
        new.as_mut(),
        "INSERT INTO orders VALUES (1, 'new', 1, NULL)",
    );

    for state in ["running", "paused"] {
        if state == "paused" {
            u.expect(0, &["sync", "pause", "-c", "orders"]);
        }
        let o = u.ripcord(&["switch", "to-legacy", "-c", "orders"], &[]);
        assert_eq!(code(&o), 5, "{state}: {}", text(&o));
        for needle in [
            "legacy is frozen behind the sync",
            "ripcord rollback -c orders",
            "nothing moved",
        ] {
            assert!(
                text(&o).contains(needle),
                "{state}: lacks {needle:?}: {}",
                text(&o)
            );
        }
        assert_eq!(std::fs::read_to_string(&flag).unwrap().trim(), "new");
    }
    let o = u.ripcord(&["switch", "to-legacy", "-c", "orders", "--force"], &[]);
    assert_eq!(code(&o), 2, "--force without --reason: {}", text(&o));
    assert_eq!(std::fs::read_to_string(&flag).unwrap().trim(), "new");

    u.expect(0, &["sync", "resume", "-c", "orders"]);
    u.expect(0, &["rollback", "-c", "orders", "--yes", "--reason", "red"]);
    assert!(!flag.exists(), "the rollback moved traffic to legacy");

    let o = u.expect(5, &["switch", "to-new", "-c", "orders"]);
    for needle in ["is fenced since rollback", "cutover --unfence -c orders"] {
        assert!(text(&o).contains(needle), "lacks {needle:?}: {}", text(&o));
    }
    assert!(!flag.exists(), "no switch moved onto the fenced side");
    // Unfenced for a re-base, the new side still has no sync carrying writes back.
    u.expect(
        0,
        &[
            "cutover",
            "--unfence",
            "-c",
            "orders",
            "--reason",
            "re-base",
        ],
    );
    let o = u.expect(5, &["switch", "to-new", "-c", "orders"]);
    assert!(
        text(&o).contains("ripcord cutover -c orders"),
        "{}",
        text(&o)
    );
    assert!(!flag.exists(), "no switch moved onto the unsynced side");
    // A `run` step advancing the switch is held to the same (it once flipped it onto a side
    // no sync carries back, refusals being checked only by `ripcord switch`).
    let plan = std::fs::read_to_string(u.plan()).unwrap();
    std::fs::write(
        u.plan(),
        format!("{plan}\n[[steps]]\nname = \"orders back to v2\"\nswitch = \"orders_route\"\n"),
    )
    .unwrap();
    let o = u.ripcord(&["run"], &[]);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("none carries writes back now"),
        "{}",
        text(&o)
    );
    assert!(
        !flag.exists(),
        "no step moved the switch onto the unsynced side"
    );
    std::fs::write(u.plan(), plan).unwrap();

    u.expect(
        0,
        &[
            "switch", "to-new", "-c", "orders", "--force", "--reason", "drill",
        ],
    );
    assert_eq!(std::fs::read_to_string(&flag).unwrap().trim(), "new");
    let o = u.ripcord(&["audit", "show"], &[]);
    assert!(text(&o).contains("switch.forced"), "{}", text(&o));
}
