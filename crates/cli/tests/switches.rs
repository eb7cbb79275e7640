//! Traffic switches with real parts: Redis at 127.0.0.1:6379, an HTTP server on loopback
//! started here, flag files, SQL switches on SQLite and PostgreSQL, commands. Flips are
//! persisted, audited, survive a kill in the middle, and a rollback's switch_back moves
//! them to legacy (or fails loudly).

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-switch-secret-42";

/// A unique Redis key prefix, its keys deleted when dropped.
struct RedisPrefix(String);

impl RedisPrefix {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        RedisPrefix(format!("ripcord-test:{}:{nanos}:", std::process::id()))
    }
    fn con(&self) -> redis::Connection {
        redis::Client::open("redis://127.0.0.1:6379/0")
            .unwrap()
            .get_connection()
            .expect("Redis must be running at 127.0.0.1:6379")
    }
    fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET")
            .arg(format!("{}{key}", self.0))
            .query(&mut self.con())
            .unwrap()
    }
    fn set(&self, key: &str, v: &str) {
        redis::cmd("SET")
            .arg(format!("{}{key}", self.0))
            .arg(v)
            .query::<()>(&mut self.con())
            .unwrap();
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let mut con = self.con();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.0))
            .query(&mut con)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _ = redis::cmd("DEL").arg(&keys).query::<i64>(&mut con);
        }
    }
}

/// A tiny HTTP gateway on loopback: PUT /route sets the upstream from the body, GET
/// /route reads it, POST /purge counts purges. Every call needs the bearer token.
struct Gateway {
    port: u16,
    upstream: Arc<Mutex<String>>,
    purges: Arc<AtomicU32>,
    /// When set, PUT of "legacy" answers 500.
    fail_legacy: Arc<AtomicBool>,
    unauthorized: Arc<AtomicU32>,
}

impl Gateway {
    fn start() -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let upstream = Arc::new(Mutex::new("legacy".to_string()));
        let purges = Arc::new(AtomicU32::new(0));
        let fail_legacy = Arc::new(AtomicBool::new(false));
        let unauthorized = Arc::new(AtomicU32::new(0));
        let (u, p, f, un) = (
            upstream.clone(),
            purges.clone(),
            fail_legacy.clone(),
            unauthorized.clone(),
        );
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let (mut len, mut auth) = (0usize, String::new());
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    match k.trim().to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap_or(0),
                        "authorization" => auth = v.trim().to_string(),
                        _ => {}
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).to_string();
                let (status, out) = if auth != format!("Bearer {TOKEN}") {
                    un.fetch_add(1, Ordering::SeqCst);
                    (401, String::new())
                } else {
                    match (method.as_str(), path.as_str()) {
                        ("PUT", "/route") => {
                            if body == "legacy" && f.load(Ordering::SeqCst) {
                                (500, "upstream pool exhausted".into())
                            } else {
                                *u.lock().unwrap() = body;
                                (200, String::new())
                            }
                        }
                        ("GET", "/route") => (200, u.lock().unwrap().clone()),
                        ("POST", "/purge") => {
                            p.fetch_add(1, Ordering::SeqCst);
                            (204, String::new())
                        }
                        _ => (404, String::new()),
                    }
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{out}",
                    out.len()
                );
            }
        });
        Gateway {
            port,
            upstream,
            purges,
            fail_legacy,
            unauthorized,
        }
    }
}

/// Appends switches of every kind on the Workshop's billing component.
fn add_switches(w: &Workshop, r: &RedisPrefix, gw: &Gateway) {
    let dir = w.path();
    std::fs::write(dir.join("cmd_new"), "new\n").unwrap();
    std::fs::write(dir.join("cmd_legacy"), "legacy\n").unwrap();
    std::fs::copy(dir.join("cmd_legacy"), dir.join("cmd_flag")).unwrap();
    w.db()
        .execute_batch(
            "CREATE TABLE system_config (id INTEGER PRIMARY KEY, active_database TEXT NOT NULL);
             INSERT INTO system_config VALUES (1, 'legacy');",
        )
        .unwrap();
    let p = &r.0;
    let port = gw.port;
    let d = dir.display();
    let plan = format!(
        r#"
[switches.billing_route]
component = "billing"
kind = "redis"
url = "redis://127.0.0.1:6379/0"
key = "{p}route"
new_value = "new:{{stage}}"
publish = "{p}routes"
stages = [10, 50, 100]

[[switches.billing_route.invalidate]]
kind = "redis"
url = "redis://127.0.0.1:6379/0"
pattern = "{p}cache:*"

[switches.billing_flag]
component = "billing"
kind = "file"
path = "flags/v2_enabled"

[switches.billing_db]
component = "billing"
kind = "sql"
database = "workshop"
to_new = "UPDATE system_config SET active_database = 'new' WHERE id = 1"
to_legacy = "UPDATE system_config SET active_database = 'legacy' WHERE id = 1"
read = "SELECT active_database FROM system_config WHERE id = 1"

[switches.billing_gateway]
component = "billing"
kind = "http"
to_new = {{ method = "PUT", url = "http://127.0.0.1:{port}/route", body = "new", expect_status = [200], headers = {{ Authorization = "Bearer ${{GW_TOKEN}}" }} }}
to_legacy = {{ method = "PUT", url = "http://127.0.0.1:{port}/route", body = "legacy", expect_status = [200], headers = {{ Authorization = "Bearer ${{GW_TOKEN}}" }} }}
read = {{ url = "http://127.0.0.1:{port}/route", headers = {{ Authorization = "Bearer ${{GW_TOKEN}}" }} }}

[[switches.billing_gateway.invalidate]]
kind = "http"
url = "http://127.0.0.1:{port}/purge"
expect_status = [204]
headers = {{ Authorization = "Bearer ${{GW_TOKEN}}" }}

[switches.billing_cmd]
component = "billing"
kind = "command"
to_new = ["cp", "{d}/cmd_new", "{d}/cmd_flag"]
to_legacy = ["cp", "{d}/cmd_legacy", "{d}/cmd_flag"]
read = ["cat", "{d}/cmd_flag"]
"#
    );
    let path = dir.join("ripcord.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&plan);
    std::fs::write(&path, text).unwrap();
}

fn sw(w: &Workshop, args: &[&str]) -> std::process::Output {
    w.ripcord_env(args, &[("GW_TOKEN", TOKEN)])
}

fn config(w: &Workshop) -> String {
    w.db()
        .query_row(
            "SELECT active_database FROM system_config WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn every_kind_moves_to_new_and_back_and_status_reads_the_real_position() {
    let w = Workshop::new(20);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);

    let o = sw(&w, &["switch", "status"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("never flipped"), "{}", text(&o));

    r.set("cache:a", "1");
    r.set("cache:b", "2");
    r.set("other", "kept");
    // A subscriber on the switch's channel hears the flip.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let channel = format!("{}routes", r.0);
    let listener = std::thread::spawn(move || {
        let mut con = redis::Client::open("redis://127.0.0.1:6379/0")
            .unwrap()
            .get_connection()
            .unwrap();
        let mut ps = con.as_pubsub();
        ps.subscribe(&channel).unwrap();
        ps.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        ready_tx.send(()).unwrap();
        ps.get_message().unwrap().get_payload::<String>().unwrap()
    });
    ready_rx.recv().unwrap();
    let o = sw(
        &w,
        &[
            "switch", "to-new", "-c", "billing", "--stage", "50", "--reason", "canary",
        ],
    );
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert_eq!(r.get("route").as_deref(), Some("new:50"));
    assert_eq!(r.get("cache:a"), None, "the cache keys are invalidated");
    assert_eq!(r.get("cache:b"), None);
    assert_eq!(r.get("other").as_deref(), Some("kept"));
    assert_eq!(
        std::fs::read_to_string(w.path().join("flags/v2_enabled")).unwrap(),
        "new"
    );
    assert_eq!(config(&w), "new");
    assert_eq!(*gw.upstream.lock().unwrap(), "new");
    assert_eq!(gw.purges.load(Ordering::SeqCst), 1);
    assert_eq!(
        std::fs::read_to_string(w.path().join("cmd_flag")).unwrap(),
        "new\n"
    );
    assert!(out.contains("billing_route: new (stage 50)"), "{out}");
    assert_eq!(listener.join().unwrap(), "billing_route=new:50");
    assert!(out.contains("1 subscriber(s) received it"), "{out}");
    assert!(out.contains("read back \"new:50\""), "{out}");
    assert!(!out.contains(TOKEN), "the token is never printed: {out}");

    let o = sw(&w, &["switch", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    for s in v.as_array().unwrap() {
        assert_eq!(s["persisted"], s["position"], "{s}");
        assert_eq!(s["position"]["side"], "new", "{s}");
    }

    // Someone moves a switch behind ripcord's back: status says so (exit 3).
    std::fs::remove_file(w.path().join("flags/v2_enabled")).unwrap();
    let o = sw(&w, &["switch", "status"]);
    assert_eq!(code(&o), 3, "{}", text(&o));

    let o = sw(&w, &["switch", "to-legacy", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(r.get("route"), None, "no legacy_value: the key is deleted");
    assert!(!w.path().join("flags/v2_enabled").exists());
    assert_eq!(config(&w), "legacy");
    assert_eq!(*gw.upstream.lock().unwrap(), "legacy");
    assert_eq!(gw.purges.load(Ordering::SeqCst), 2);
    assert_eq!(gw.unauthorized.load(Ordering::SeqCst), 0);
    let o = sw(&w, &["switch", "status"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Every flip is audited with its evidence; the chain holds; the token is nowhere.
    let o = sw(&w, &["audit", "show"]);
    let audit = text(&o);
    assert_eq!(audit.matches("switch.flip").count(), 10, "{audit}");
    assert!(audit.contains("read_back"), "{audit}");
    assert!(!audit.contains(TOKEN));
    assert_eq!(code(&sw(&w, &["audit", "verify"])), 0);
}

#[test]
fn bad_stage_and_unknown_switch_are_usage_errors() {
    let w = Workshop::new(20);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    let o = sw(&w, &["switch", "to-new", "--stage", "42"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("42 is not one of them"), "{}", text(&o));
    let o = sw(&w, &["switch", "status", "--switch", "nope"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(r.get("route"), None, "nothing moved");
}

#[test]
fn a_flip_killed_mid_way_is_reported_then_completed_by_the_next_command() {
    let w = Workshop::new(20);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    let o = w.ripcord_env(
        &[
            "switch",
            "to-new",
            "--switch",
            "billing_route",
            "--stage",
            "10",
        ],
        &[("GW_TOKEN", TOKEN), ("RIPCORD_CRASH_AT", "switch:acted")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    // The action ran; the record still says the flip is unfinished.
    assert_eq!(r.get("route").as_deref(), Some("new:10"));
    let o = sw(&w, &["switch", "status", "--switch", "billing_route"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("(interrupted)"), "{}", text(&o));
    let o = sw(
        &w,
        &[
            "switch",
            "to-new",
            "--switch",
            "billing_route",
            "--stage",
            "10",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("completed the unfinished flip"),
        "{}",
        text(&o)
    );
    let o = sw(&w, &["switch", "status", "--switch", "billing_route"]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Killed after recording the intent, before acting: the next command (here the other
    // way) leaves it in a known state.
    let o = w.ripcord_env(
        &["switch", "to-new", "--switch", "billing_flag"],
        &[("GW_TOKEN", TOKEN), ("RIPCORD_CRASH_AT", "switch:intent")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    assert!(!w.path().join("flags/v2_enabled").exists());
    assert_eq!(
        code(&sw(&w, &["switch", "status", "--switch", "billing_flag"])),
        3
    );
    let o = sw(&w, &["switch", "to-legacy", "--switch", "billing_flag"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sw(
        &w,
        &["switch", "status", "--switch", "billing_flag", "--json"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["position"]["side"], "legacy");
    assert!(v[0]["pending"].is_null());
}

#[test]
fn rollback_moves_the_switches_to_legacy_and_invalidates_caches() {
    let w = Workshop::new(60);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    let o = sw(&w, &["run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sw(&w, &["switch", "to-new", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        r.get("route").as_deref(),
        Some("new:100"),
        "default: the last stage"
    );
    let writes = w.business_day(3, 30);
    r.set("cache:x", "stale");
    let o = sw(
        &w,
        &["rollback", "-c", "billing", "--yes", "--reason", "red"],
    );
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(out.contains("5 switch(es) moved to legacy"), "{out}");
    assert_eq!(r.get("route"), None);
    assert_eq!(r.get("cache:x"), None);
    assert_eq!(config(&w), "legacy");
    assert_eq!(*gw.upstream.lock().unwrap(), "legacy");
    assert!(!w.path().join("flags/v2_enabled").exists());
    let (_, problems) = w.check_business_writes(&writes);
    assert!(problems.is_empty(), "{problems:?}");
    let o = sw(&w, &["switch", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in v.as_array().unwrap() {
        assert_eq!(s["position"]["side"], "legacy", "{s}");
    }
}

#[test]
fn a_switch_that_fails_fails_the_rollback_loudly_and_resume_completes_it() {
    let w = Workshop::new(40);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    assert_eq!(code(&sw(&w, &["run"])), 0);
    assert_eq!(code(&sw(&w, &["switch", "to-new", "-c", "billing"])), 0);
    gw.fail_legacy.store(true, Ordering::SeqCst);
    let o = sw(
        &w,
        &["rollback", "-c", "billing", "--yes", "--reason", "red"],
    );
    let out = text(&o);
    assert_ne!(code(&o), 0, "{out}");
    assert!(out.contains("billing_gateway"), "{out}");
    assert!(out.contains("status 500"), "{out}");
    assert!(!out.contains(TOKEN), "{out}");
    assert_eq!(*gw.upstream.lock().unwrap(), "new", "the gateway refused");
    let o = sw(&w, &["switch", "status", "--switch", "billing_gateway"]);
    assert_eq!(code(&o), 3);
    assert!(text(&o).contains("status 500"), "{}", text(&o));

    // Traffic cannot be sent to the new side while the rollback is unfinished.
    let o = sw(&w, &["switch", "to-new", "-c", "billing"]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(text(&o).contains("is unfinished"), "{}", text(&o));

    gw.fail_legacy.store(false, Ordering::SeqCst);
    let o = sw(&w, &["rollback", "--resume", "--yes"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(*gw.upstream.lock().unwrap(), "legacy");
    let o = sw(&w, &["switch", "status"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn a_rollback_killed_in_switch_back_resumes_with_every_switch_on_legacy() {
    let w = Workshop::new(40);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    assert_eq!(code(&sw(&w, &["run"])), 0);
    assert_eq!(code(&sw(&w, &["switch", "to-new", "-c", "billing"])), 0);
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "red"],
        &[("GW_TOKEN", TOKEN), ("RIPCORD_CRASH_AT", "switch:acted")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    let o = sw(&w, &["rollback", "--resume", "--yes"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = sw(&w, &["switch", "status", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in v.as_array().unwrap() {
        assert_eq!(s["position"]["side"], "legacy", "{s}");
    }
}

/// An "application" routes every write by reading the flag file and keeps writing through
/// `switch to-new` and a rollback. Each write records the side it read; the new side
/// receives no write once the rollback has finished, and the switch ends on legacy.
#[test]
fn an_application_routing_by_the_switch_writes_where_it_points_through_to_new_and_rollback() {
    let w = Workshop::new(40);
    let r = RedisPrefix::new();
    let gw = Gateway::start();
    add_switches(&w, &r, &gw);
    assert_eq!(code(&sw(&w, &["run"])), 0);
    let sides = tempfile::tempdir().unwrap();
    for side in ["legacy", "new"] {
        rusqlite::Connection::open(sides.path().join(format!("{side}.db")))
            .unwrap()
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE writes (n INTEGER PRIMARY KEY, read TEXT NOT NULL, at_ms INTEGER NOT NULL);",
            )
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = w.path().join("flags/v2_enabled");
    let app = {
        let (stop, flag, dir) = (stop.clone(), flag.clone(), sides.path().to_path_buf());
        std::thread::spawn(move || {
            let open = |s: &str| {
                let c = rusqlite::Connection::open(dir.join(format!("{s}.db"))).unwrap();
                c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                c
            };
            let (legacy, new) = (open("legacy"), open("new"));
            let mut n = 0i64;
            while !stop.load(Ordering::SeqCst) {
                let side = match std::fs::read_to_string(&flag) {
                    Ok(s) if s.trim() == "new" => "new",
                    _ => "legacy",
                };
                let db = if side == "new" { &new } else { &legacy };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as i64;
                db.execute(
                    "INSERT INTO writes VALUES (?1, ?2, ?3)",
                    rusqlite::params![n, side, now],
                )
                .unwrap();
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            n
        })
    };
    let count = |side: &str| -> i64 {
        rusqlite::Connection::open(sides.path().join(format!("{side}.db")))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM writes", [], |r| r.get(0))
            .unwrap()
    };
    let wait_for = |side: &str, at_least: i64| {
        let t = std::time::Instant::now();
        while count(side) < at_least {
            assert!(
                t.elapsed().as_secs() < 60,
                "the app stopped writing to {side}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    wait_for("legacy", 20);
    assert_eq!(code(&sw(&w, &["switch", "to-new", "-c", "billing"])), 0);
    wait_for("new", 20);
    let o = sw(
        &w,
        &["rollback", "-c", "billing", "--yes", "--reason", "red"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let rolled_back_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let legacy_then = count("legacy");
    wait_for("legacy", legacy_then + 20);
    stop.store(true, Ordering::SeqCst);
    let total = app.join().unwrap();

    let rows = |side: &str| -> Vec<(i64, String, i64)> {
        let c = rusqlite::Connection::open(sides.path().join(format!("{side}.db"))).unwrap();
        let mut st = c.prepare("SELECT n, read, at_ms FROM writes").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let (legacy, new) = (rows("legacy"), rows("new"));
    assert_eq!(legacy.len() + new.len(), total as usize, "no write lost");
    assert!(legacy.iter().all(|(_, s, _)| s == "legacy"));
    assert!(new.iter().all(|(_, s, _)| s == "new"));
    assert!(
        new.iter().all(|(_, _, at)| *at <= rolled_back_ms),
        "a write reached the new side after the rollback"
    );
    assert!(legacy.iter().any(|(_, _, at)| *at > rolled_back_ms));
    assert!(!flag.exists(), "the switch ends on legacy");
}

/// A SQL switch on a server database: flips, stages, read-back, and a failing statement.
fn sql_switch_on(engine: &'static str) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            r#"
[databases.legacy]
url = "{}"

[components.orders]
database = "legacy"
tables = ["orders"]

[switches.orders_db]
component = "orders"
kind = "sql"
database = "legacy"
to_new = "UPDATE system_config SET active_database = 'new:{{stage}}' WHERE id = 1"
to_legacy = "UPDATE system_config SET active_database = 'legacy' WHERE id = 1"
read = "SELECT active_database FROM system_config WHERE id = 1"
new_value = "new:{{stage}}"
stages = [10, 50, 100]
"#,
            db.url
        ),
    )
    .unwrap();
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let setup = |sql: &str| {
        ctx.engine("legacy")
            .unwrap()
            .execute(sql, ripcord_core::journal::Origin::Migration)
            .unwrap()
    };
    setup("CREATE TABLE orders (id int PRIMARY KEY)");
    setup("CREATE TABLE system_config (id int PRIMARY KEY, active_database varchar(40) NOT NULL)");
    setup("INSERT INTO system_config VALUES (1, 'legacy')");
    let o = ripcord_in(dir.path(), &["switch", "to-new", "--stage", "10"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("orders_db: new (stage 10)"),
        "{}",
        text(&o)
    );
    let o = ripcord_in(dir.path(), &["switch", "to-new", "--stage", "100"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = ripcord_in(dir.path(), &["switch", "status", "--json"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["position"]["stage"], 100);
    assert_eq!(v[0]["read_back"], "new:100");
    let o = ripcord_in(dir.path(), &["switch", "to-legacy"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // A statement that fails fails the flip and says which switch.
    setup("DROP TABLE system_config");
    let o = ripcord_in(dir.path(), &["switch", "to-new"], &[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("switch \"orders_db\""), "{}", text(&o));
}

#[test]
fn an_sql_switch_on_postgres_moves_and_reads_back() {
    sql_switch_on("postgres");
}

#[test]
fn an_sql_switch_on_mariadb_moves_and_reads_back() {
    sql_switch_on("mysql");
}
