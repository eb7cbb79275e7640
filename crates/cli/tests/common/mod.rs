#![allow(dead_code)]
//! Shared by the integration tests: a Workshop folder with a plan, and a way to run the
//! real `ripcord` binary in it.

pub mod universe;

use ripcord_core::context::Ctx;
use ripcord_core::events::Bus;
use ripcord_core::store::Store;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Workshop {
    pub dir: tempfile::TempDir,
    pub customers: i64,
}

impl Workshop {
    /// A Workshop database with `customers` customers and the example plan.
    pub fn new(customers: i64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("workshop.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        drop(conn);
        std::fs::write(
            dir.path().join("ripcord.toml"),
            ripcord::commands::example_plan("workshop"),
        )
        .unwrap();
        let w = Workshop { dir, customers };
        ripcord::workshop::create(&mut *w.engine(), customers, 3).unwrap();
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn db(&self) -> Connection {
        let c = Connection::open(self.path().join("workshop.db")).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
        c
    }

    /// The Workshop database through ripcord's SQLite engine.
    pub fn engine(&self) -> Box<dyn ripcord_core::engine::Engine> {
        let mut e = ripcord_sqlite::SqliteEngine::open(&format!(
            "sqlite:{}",
            self.path().join("workshop.db").display()
        ))
        .unwrap();
        ripcord_core::engine::Engine::prepare(&mut e).unwrap();
        Box::new(e)
    }

    pub fn business_day(&self, seed: u64, visits: i64) -> ripcord::workshop::BusinessWrites {
        ripcord::workshop::business_day(&mut *self.engine(), self.customers, seed, visits).unwrap()
    }

    pub fn check_business_writes(
        &self,
        w: &ripcord::workshop::BusinessWrites,
    ) -> (u64, Vec<String>) {
        ripcord::workshop::check_business_writes(&mut *self.engine(), w).unwrap()
    }

    pub fn ripcord(&self, args: &[&str]) -> Output {
        self.ripcord_env(args, &[])
    }

    pub fn ripcord_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        ripcord_in(self.path(), args, env)
    }

    pub fn ctx(&self) -> Ctx {
        ctx_for(&self.path().join("ripcord.toml"))
    }
}

/// Every crash point a rollback passes (`crates/core/src/crash.rs`), in order.
pub const ROLLBACK_CRASH_POINTS: &[&str] = &[
    "assess:before",
    "assess:after",
    "approve:after",
    "freeze:after",
    "drain:after",
    "restore:before",
    "restore:mid",
    "restore:after",
    "replay:before",
    "replay:mid",
    "replay:after",
    "verify:before",
    "verify:after",
    "switch_back:after",
    "unfreeze:before",
    "unfreeze:after",
    "report:before",
    "report:after",
];

/// Runs the real binary in `dir` (where its ripcord.toml is) as actor "tester".
pub fn ripcord_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    c.current_dir(dir)
        .args(args)
        .env_remove("RIPCORD_CRASH_AT")
        .env("RIPCORD_ACTOR", "tester");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A context on a plan, without the console timeline.
pub fn ctx_for(plan: &Path) -> Ctx {
    let plan = ripcord_core::plan::load(plan, &ripcord::registry::kinds())
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(*e)));
    let state = ripcord_sqlite::SqliteState::open(&plan.state_dir.join("state.db")).unwrap();
    let store = Store::open(plan.state_dir.join("store"));
    Ctx {
        plan,
        state: Box::new(state),
        store,
        events: Bus::default(),
        actor: "tester".into(),
        connector: Box::new(ripcord::commands::Engines),
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A fresh database on one engine, dropped when the value goes out of scope (the shared
/// test kit, `crates/testkit`); a missing server fails the test loudly.
#[allow(unused_imports)] // not every test binary uses it
pub use ripcord_testkit::FreshDb;
