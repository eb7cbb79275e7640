//! The dashboard in headless Chromium, driven over W3C WebDriver (chromium-driver, spoken
//! to with plain HTTP): the page loads, a level change made by another process shows
//! within 2 s, the stop button is refused without a token and with one stops the running
//! step of a guarded `ripcord run` on PostgreSQL (the statement leaves the server),
//! the Arabic page is right to left (DOM and computed style; a screenshot is kept in
//! target/test-artifacts/), and no token appears in the page. `scripts/test` installs
//! chromium and chromium-driver when they are missing; without them this test fails.

mod common;

use common::{FreshDb, code, text};
use ripcord_core::engine::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CFO: &str = "cfo-token-0123456789abcdef";

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> (Kill, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RIPCORD_DASHBOARD_TOKENS", format!("cfo={CFO}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (Kill(child), base)
}

struct Driver {
    _proc: Kill,
    url: String,
    session: String,
    agent: ureq::Agent,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bin = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|b| Command::new(b).arg("--version").output().is_ok())
            .expect("chromedriver is not installed: apt-get install chromium chromium-driver (scripts/test does)");
        let proc = Kill(
            Command::new(bin)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("http://127.0.0.1:{port}");
        let t = Instant::now();
        while agent.get(&format!("{url}/status")).call().is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1000", "--lang=en-US"]}
        }}});
        let mut d = Driver {
            _proc: proc,
            url,
            session: String::new(),
            agent,
        };
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.url)
        } else {
            format!("{}/session/{}{path}", self.url, self.session)
        };
        let mut res = match method {
            "POST" => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string())
                .unwrap(),
            "DELETE" => self.agent.delete(&url).call().unwrap(),
            _ => self.agent.get(&url).call().unwrap(),
        };
        let v: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
        assert!(
            v["value"]["error"].is_null(),
            "WebDriver {method} {path}: {v}"
        );
        v.get("sessionId")
            .map(|_| v.clone())
            .unwrap_or(v["value"].clone())
    }

    fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns true; the time it took.
    fn until(&self, script: &str, limit: Duration) -> Duration {
        let t = Instant::now();
        loop {
            if self.js(script) == json!(true) {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < limit,
                "not within {limit:?}: {script}\npage: {}",
                self.js("return document.getElementById('live').innerText")
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use std::io::Write;
        let b64 = self.call("GET", "/screenshot", None);
        let bytes = base64(b64.as_str().unwrap());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        path
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.url, self.session))
                .call();
        }
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (val(*c) as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// Statements of the step still running on the server.
fn sleeping(db: &FreshDb) -> i64 {
    ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")
        .unwrap()
        .to_string()
        .parse()
        .unwrap()
}

#[test]
fn chromium_shows_a_level_change_live_stops_the_step_with_a_token_and_reads_arabic_right_to_left() {
    let db = FreshDb::new("postgres");
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

[[probe]]
name = "checkout"
kind = "command"
command = "test ! -f alarm"
interval = "100ms"

[[rule]]
name = "checkout failing"
when = "!ok.checkout"
level = "orange"
"#,
            db.url
        ),
    )
    .unwrap();
    let (_server, base) = serve(dir.path());
    let d = Driver::start();
    d.goto(&base);
    assert_eq!(d.js("return document.documentElement.dir"), json!("ltr"));
    assert_eq!(
        d.js("return document.getElementById('level').dataset.level"),
        json!("unknown")
    );

    let run = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .arg("run")
        .env("RIPCORD_ACTOR", "tester")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The guard's first snapshot carries no event: the page's slow refresh shows it.
    d.until(
        "return document.getElementById('level').dataset.level === 'green'",
        Duration::from_secs(20),
    );
    // Another process changes the level: the page follows, without a reload.
    std::fs::write(dir.path().join("alarm"), "").unwrap();
    let took = d.until(
        "return document.getElementById('level').dataset.level === 'orange'",
        Duration::from_secs(10),
    );
    eprintln!("level change shown in the browser {took:?} after the alarm file appeared");
    assert!(
        took < Duration::from_secs(2),
        "the level change took {took:?}"
    );
    d.until(
        "return !!document.querySelector('#events li[data-kind=level_changed]')",
        Duration::from_secs(5),
    );
    // The probe's recent values as a small chart, sampled by the server while it runs.
    d.until(
        "var l = document.querySelector('#probes svg.spark polyline'); return !!l && l.getAttribute('points').split(' ').length >= 2",
        Duration::from_secs(10),
    );

    let t = Instant::now();
    while sleeping(&db) != 1 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the step never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The stop button without a token is refused, and the step goes on.
    d.js("document.getElementById('reason').value = 'checkout is down'; document.getElementById('confirm').checked = true; document.getElementById('stop').click(); return true");
    d.until(
        "return document.getElementById('action-result').textContent === 'a token is needed for this action'",
        Duration::from_secs(5),
    );
    assert_eq!(sleeping(&db), 1, "the step still runs");
    // With the person's token it stops the step.
    d.js(&format!(
        "document.getElementById('token').value = '{CFO}'; document.getElementById('stop').click(); return true"
    ));
    d.until(
        "return document.getElementById('action-result').textContent.indexOf('requested by cfo') >= 0",
        Duration::from_secs(5),
    );
    let out = run.wait_with_output().unwrap();
    assert_eq!(code(&out), 4, "{}", text(&out));
    assert!(
        text(&out).contains("ripcord stop (by cfo)"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("completed, verified"), "{}", text(&out));
    assert_eq!(sleeping(&db), 0, "the statement left the server");
    let balance = ripcord_postgres::PgEngine::open(&db.url)
        .unwrap()
        .query_scalar("SELECT balance FROM accounts WHERE id = 1")
        .unwrap()
        .to_string();
    assert_eq!(balance, "100", "rolled back per the matrix");
    // The page's markup never holds the token, not even while it is typed in its field.
    let html = d.js("return document.documentElement.outerHTML");
    assert!(!html.as_str().unwrap().contains(CFO));

    // Arabic: right to left in the DOM and in the layout.
    d.goto(&format!("{base}/?lang=ar"));
    assert_eq!(d.js("return document.documentElement.dir"), json!("rtl"));
    assert_eq!(d.js("return document.documentElement.lang"), json!("ar"));
    assert_eq!(
        d.js("return getComputedStyle(document.body).direction"),
        json!("rtl")
    );
    // The level's coloured edge is on the right: the logical border follows the direction.
    assert_eq!(
        d.js("var s = getComputedStyle(document.getElementById('level')); return parseFloat(s.borderRightWidth) > 4 * parseFloat(s.borderLeftWidth)"),
        json!(true)
    );
    // Identifiers stay left to right inside the Arabic text.
    assert_eq!(
        d.js("var b = document.querySelector('#rules bdi'); return b.textContent + '|' + getComputedStyle(b).direction"),
        json!("checkout failing|ltr")
    );
    // An event from another process arrives worded in Arabic, its line right to left.
    let cp = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .arg("checkpoint")
        .env("RIPCORD_ACTOR", "tester")
        .output()
        .unwrap();
    assert_eq!(code(&cp), 0, "{}", text(&cp));
    d.until(
        "return !!document.querySelector('#events li[data-kind=checkpoint_taken]')",
        Duration::from_secs(10),
    );
    let line = d.js(
        "var b = document.querySelector('#events li[data-kind=checkpoint_taken] bdi:last-child'); return b.textContent + '|' + getComputedStyle(b).direction",
    );
    let line = line.as_str().unwrap();
    assert!(line.starts_with("نقطة الحفظ"), "{line}");
    assert!(line.ends_with("|rtl"), "{line}");
    let shot = d.screenshot("dashboard-ar.png");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        shot.display()
    );
}
