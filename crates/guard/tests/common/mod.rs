#![allow(dead_code)]
//! Real parts on loopback for the guard's tests: an HTTP server whose status, latency and
//! body the test controls, fresh PostgreSQL and MariaDB databases (dropped at the end; an
//! unreachable server fails the test), and a context on a plan written by the test.

use ripcord_core::context::{Connector, Ctx};
use ripcord_core::engine::{Engine, EngineKind};
use ripcord_core::events::{Bus, Event, Recorder};
use ripcord_core::plan::Database;
use ripcord_core::store::Store;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The engines, as their crates declare them: the binary's registry, which this crate
/// cannot depend on, holds the same three.
pub const KINDS: [EngineKind; 3] = [
    ripcord_sqlite::KIND,
    ripcord_postgres::KIND,
    ripcord_mysql::KIND,
];

/// Opens the engine whose kind claims the URL, like the binary's registry does.
pub struct Engines;

impl Connector for Engines {
    fn connect(&self, db: &Database) -> ripcord_core::Result<Box<dyn Engine>> {
        let url = db.url.expose();
        Ok(if ripcord_sqlite::KIND.matches(url) {
            Box::new(ripcord_sqlite::SqliteEngine::open(url)?)
        } else if ripcord_mysql::KIND.matches(url) {
            Box::new(ripcord_mysql::MyEngine::open(url)?)
        } else {
            Box::new(ripcord_postgres::PgEngine::open(url)?)
        })
    }
}

/// What the test server answers; changed by the test while it runs.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub body: String,
    /// Alternate between `status` and 200 on every request (a flapping service).
    pub flap: bool,
}

pub struct HttpServer {
    pub port: u16,
    pub reply: Arc<Mutex<Reply>>,
    pub hits: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
}

impl HttpServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(Reply {
            status: 200,
            delay: Duration::ZERO,
            body: "ok".into(),
            flap: false,
        }));
        let hits = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (r, h, d) = (reply.clone(), hits.clone(), done.clone());
        std::thread::spawn(move || {
            while !d.load(Ordering::SeqCst) {
                let (mut sock, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                let n = h.fetch_add(1, Ordering::SeqCst);
                let reply = r.lock().unwrap().clone();
                std::thread::spawn(move || {
                    sock.set_nonblocking(false).unwrap();
                    let mut buf = [0u8; 4096];
                    let mut req = Vec::new();
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => req.extend_from_slice(&buf[..k]),
                        }
                    }
                    std::thread::sleep(reply.delay);
                    let status = if reply.flap && n % 2 == 1 {
                        200
                    } else {
                        reply.status
                    };
                    let _ = write!(
                        sock,
                        "HTTP/1.1 {status} X\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        reply.body.len(),
                        reply.body
                    );
                });
            }
        });
        HttpServer {
            port,
            reply,
            hits,
            done,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, f: impl FnOnce(&mut Reply)) {
        f(&mut self.reply.lock().unwrap());
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

#[allow(unused_imports)] // not every test binary uses them
pub use ripcord_testkit::{FreshDb, my_server, pg_server};

/// A folder with a plan, and a context on it whose events are recorded.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub events: Recorder,
    /// Shared by every context, so `events()` can wait for the ones still being delivered.
    bus: Bus,
}

impl Setup {
    pub fn new(plan: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ripcord.toml"), plan).unwrap();
        let events = Recorder::default();
        let bus = Bus::default();
        bus.subscribe(Box::new(events.clone()));
        Setup { dir, events, bus }
    }

    pub fn ctx(&self) -> Ctx {
        let plan = ripcord_core::plan::load(&self.dir.path().join("ripcord.toml"), &KINDS)
            .unwrap_or_else(|e| panic!("{:?}", miette_free(*e)));
        let state = ripcord_sqlite::SqliteState::open(&plan.state_dir.join("state.db")).unwrap();
        let store = Store::open(plan.state_dir.join("store"));
        let events = self.bus.clone();
        Ctx {
            plan,
            state: Box::new(state),
            store,
            events,
            actor: "tester".into(),
            connector: Box::new(Engines),
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.bus.flush();
        self.events.0.lock().unwrap().clone()
    }
}

fn miette_free(e: ripcord_core::plan::PlanError) -> String {
    e.problems
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}
