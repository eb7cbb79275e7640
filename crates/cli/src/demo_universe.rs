//! `ripcord demo --story parallel-universe`: the parallel universe on SQLite in a
//! temporary folder. Two databases (legacy and new) and a flag file the application reads
//! before every write; a cutover; business writes on the new side carried back to legacy
//! live by the sync; the new version starts pricing orders at zero, a red rule stops the
//! watch and the rollback is a switch flip; the application's next write lands on
//! legacy; every write it made is on legacy, checked independently.

use crate::commands::{Engines, open};
use anyhow::{Context as _, Result, bail};
use ripcord_core::context::Ctx;
use ripcord_core::exit;
use ripcord_core::sync::{self, LoopOptions};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn say(s: &str) {
    eprintln!(
        "\n[{:>7.2}s] == {s}",
        crate::console::started().elapsed().as_secs_f64()
    );
}

const SEED_ORDERS: i64 = 500;

fn plan_text() -> String {
    r#"# The parallel universe: legacy stays current beside the new system.
[project]
name = "parallel-universe-demo"

[databases.legacy]
url = "sqlite:legacy.db"

[databases.new]
url = "sqlite:new.db"

[components.orders]
database = "legacy"          # kept current by the sync after the cutover
capture_database = "new"     # where the business writes after the cutover happen
tables = ["orders"]
priority = "critical"

[switches.orders_route]
component = "orders"
kind = "file"                # the application reads this flag before every write
path = "flags/orders_route"

[[probe]]
name = "zero_priced"
kind = "sql"
database = "new"
sql = "SELECT COUNT(*) FROM orders WHERE amount_baisa = 0"
interval = "100ms"

[[rule]]
name = "new pricing engine prices orders at zero"
when = "zero_priced > 0.0"
level = "red"
scenario = "pricing_bug"
components = ["orders"]

[decision_matrix.scenarios.pricing_bug]
severity = "critical"
decision = "rollback_now"
"#
    .to_string()
}

fn create(path: &Path) -> Result<()> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.execute_batch(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount_baisa INTEGER NOT NULL, side TEXT NOT NULL)",
    )?;
    let tx = c.unchecked_transaction()?;
    for i in 1..=SEED_ORDERS {
        let customer = if i % 2 == 0 {
            format!("ورشة {i}")
        } else {
            format!("Workshop {i}")
        };
        tx.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, 'seed')",
            rusqlite::params![-i, customer, 1000 + i * 25],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// What the application wrote: (id, side, amount).
type Log = Arc<Mutex<Vec<(i64, &'static str, i64)>>>;

/// The application: order after order, each to the side the flag names; a write a side
/// refuses (frozen) is retried after reading the flag again. With `bug` set, the new side's
/// pricing engine prices its orders at zero.
struct App {
    stop: Arc<AtomicBool>,
    bug: Arc<AtomicBool>,
    log: Log,
    refused: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl App {
    fn start(root: &Path) -> App {
        let stop = Arc::new(AtomicBool::new(false));
        let bug = Arc::new(AtomicBool::new(false));
        let log: Log = Arc::default();
        let refused = Arc::new(AtomicU64::new(0));
        let (s, b, l, r) = (stop.clone(), bug.clone(), log.clone(), refused.clone());
        let root: PathBuf = root.to_path_buf();
        let thread = std::thread::spawn(move || -> Result<()> {
            let open = |f: &str| -> Result<Connection> {
                let c = Connection::open(root.join(f))?;
                c.busy_timeout(Duration::from_secs(10))?;
                Ok(c)
            };
            let (legacy, new) = (open("legacy.db")?, open("new.db")?);
            let flag = root.join("flags/orders_route");
            let mut id = 0i64;
            while !s.load(Ordering::SeqCst) {
                id += 1;
                let t = Instant::now();
                loop {
                    let to_new = std::fs::read_to_string(&flag).is_ok_and(|v| v.trim() == "new");
                    let (db, side) = if to_new {
                        (&new, "new")
                    } else {
                        (&legacy, "legacy")
                    };
                    let amount = if to_new && b.load(Ordering::SeqCst) && id % 3 == 0 {
                        0
                    } else {
                        1000 + (id * 37) % 5000
                    };
                    match db.execute(
                        "INSERT INTO orders VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![id, format!("عميل {id}"), amount, side],
                    ) {
                        Ok(_) => {
                            l.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((id, side, amount));
                            break;
                        }
                        Err(e) => {
                            r.fetch_add(1, Ordering::SeqCst);
                            if t.elapsed() > Duration::from_secs(60) {
                                bail!("order {id} refused for a minute: {e}");
                            }
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(4));
            }
            Ok(())
        });
        App {
            stop,
            bug,
            log,
            refused,
            thread: Some(thread),
        }
    }

    fn on(&self, side: &str) -> usize {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, s, _)| *s == side)
            .count()
    }

    fn wait(&self, side: &str, at_least: usize) -> Result<()> {
        let t = Instant::now();
        while self.on(side) < at_least {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                bail!("the application stopped writing");
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("the application wrote no more to {side} for a minute");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<(i64, &'static str, i64)>> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the application panicked"))??;
        }
        Ok(self.log.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Every order the application wrote, read back from legacy: (id, side, amount).
fn legacy_orders(root: &Path) -> Result<Vec<(i64, String, i64)>> {
    let c = Connection::open(root.join("legacy.db"))?;
    let mut st = c.prepare("SELECT id, side, amount_baisa FROM orders WHERE id > 0 ORDER BY id")?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn count(root: &Path, db: &str, sql: &str) -> Result<i64> {
    Ok(Connection::open(root.join(db))?.query_row(sql, [], |r| r.get(0))?)
}

pub fn run(keep: bool) -> Result<i32> {
    let t = crate::console::started();
    let dir = tempfile::Builder::new()
        .prefix("ripcord-universe-")
        .tempdir()?;
    let root = dir.path().to_path_buf();
    create(&root.join("legacy.db"))?;
    create(&root.join("new.db"))?;
    let plan_path = root.join("ripcord.toml");
    std::fs::write(&plan_path, plan_text())?;
    let plan = ripcord_core::plan::load(&plan_path, &crate::registry::kinds())
        .map_err(|e| anyhow::anyhow!("{:?}", miette::Report::new(*e)))?;
    let mut ctx = open(plan, "demo-operator".into())?;

    say(&format!(
        "1. Two Workshop order books, legacy.db and new.db, {SEED_ORDERS} orders each (the new system loaded from legacy); plan and state in {}",
        root.display()
    ));
    let c = ctx.plan.component("orders").cloned().context("the plan")?;
    ripcord_core::checkpoint::ensure_capture(&mut ctx, &c)?;
    eprintln!("           capture armed on the new side; the flag file says legacy");

    say(
        "2. ripcord cutover -c orders: freeze legacy, prove both sides equal, flip the flag, start the sync",
    );
    let co = ripcord_core::cutover::start(
        &mut ctx,
        &ripcord_core::cutover::CutoverRequest {
            components: vec!["orders".into()],
            reason: "go live with the new order system".into(),
            catch_up: Duration::from_secs(5),
        },
    )?;
    ctx.events.flush();
    eprintln!(
        "           cutover {} in {:.3}s; the application now writes to the new side",
        co.id,
        co.phase_times.iter().map(|p| p.1).sum::<f64>()
    );

    say(
        "3. The business writes on the new side; the sync carries each write back to legacy as it happens",
    );
    let app = App::start(&root);
    app.wait("new", 60)?;
    let (passes, applied) = carry_back(&mut ctx, 50)?;
    ctx.events.flush();
    let lag = sync::status(&mut ctx, &[])?
        .into_iter()
        .next()
        .and_then(|s| s.lag)
        .context("the sync's lag")?;
    eprintln!(
        "           {applied} business writes applied to legacy in {passes} passes; legacy {} write(s) behind",
        lag.rows
    );

    say(
        "4. The new pricing engine starts pricing orders at zero; ripcord watch: a red rule, and the rollback is a switch flip",
    );
    app.bug.store(true, Ordering::SeqCst);
    let watched = ripcord_guard::watch(
        &mut ctx,
        Arc::new(Engines),
        Some(Duration::from_secs(60)),
        false,
    )?;
    ctx.events.flush();
    let Some((stopped, _)) = watched else {
        bail!("the red rule did not stop the watch; this is a bug in the demo");
    };
    eprintln!(
        "           stopped by {}: {}",
        stopped.request.source, stopped.request.reason
    );
    let rec = ctx
        .state
        .rollbacks()?
        .into_iter()
        .next()
        .context("no rollback after the stop")?;

    say("5. The application's next writes land on legacy");
    let before = app.on("legacy");
    app.wait("legacy", before + 10)?;
    let refused = app.refused.load(Ordering::SeqCst);
    let log = app.finish()?;
    let on_new = log.iter().filter(|(_, s, _)| *s == "new").count();
    let on_legacy = log.iter().filter(|(_, s, _)| *s == "legacy").count();
    let zero = log.iter().filter(|(_, _, a)| *a == 0).count();
    eprintln!(
        "           the application wrote {} orders: {on_new} on the new side ({zero} priced at zero), then {on_legacy} on legacy; {refused} attempts refused and retried",
        log.len()
    );

    say("6. Independent check: every order the application wrote is on legacy, as written");
    let on_legacy_db = legacy_orders(&root)?;
    let expected: Vec<(i64, String, i64)> = log
        .iter()
        .map(|(i, s, a)| (*i, s.to_string(), *a))
        .collect();
    let missing = expected
        .iter()
        .filter(|e| !on_legacy_db.contains(e))
        .count();
    let extra = on_legacy_db
        .iter()
        .filter(|e| !expected.contains(e))
        .count();
    let late_on_new = count(
        &root,
        "new.db",
        &format!(
            "SELECT COUNT(*) FROM orders WHERE side = 'legacy' AND id > {}",
            log.iter()
                .filter(|(_, s, _)| *s == "new")
                .map(|(i, _, _)| *i)
                .max()
                .unwrap_or(0)
        ),
    )?;
    let seed_ok = count(
        &root,
        "legacy.db",
        "SELECT COUNT(*) FROM orders WHERE id < 0",
    )?;
    eprintln!(
        "           {} orders checked: {missing} missing, {extra} unexpected; {seed_ok} seed orders kept; {late_on_new} written to the new side after the rollback",
        expected.len()
    );
    let fenced = ctx
        .engine("new")?
        .frozen_tables()?
        .contains(&"orders".to_string());

    say("7. The rollback's report (ripcord report)");
    println!("{}", crate::render::rollback_record_markdown(&rec));
    let audit_code = crate::demo::audit_verify(&mut ctx)?;

    let switch_path = matches!(rec.mode, ripcord_core::rollback::Mode::Switch { .. });
    let f = &rec.figures;
    let ok = rec.ok()
        && switch_path
        && missing == 0
        && extra == 0
        && late_on_new == 0
        && seed_ok == SEED_ORDERS
        && fenced
        && on_legacy >= 10
        && audit_code == exit::OK;
    eprintln!("== Summary ==");
    eprintln!(
        "   rollback by switch flip ({}) took {:.3}s for {} rows; writes at risk: {}   recovered: {}   lost: {}",
        if switch_path {
            "switch path"
        } else {
            "NOT the switch path"
        },
        rec.total_seconds(),
        seed_ok + expected.len() as i64,
        f.at_risk,
        f.recovered,
        f.lost
    );
    eprintln!(
        "   new side fenced: {}; audit chain: {}",
        if fenced { "yes" } else { "NO" },
        if audit_code == 0 { "intact" } else { "BROKEN" }
    );
    eprintln!(
        "   {} records lost. Story finished in {:.1}s.",
        f.lost + missing as u64,
        t.elapsed().as_secs_f64()
    );
    if keep {
        let kept = dir.keep();
        eprintln!("   demo folder kept: {}", kept.display());
    }
    Ok(if ok { exit::OK } else { exit::VERIFY_FAILED })
}

/// Sync passes until at least `at_least` business writes reached legacy.
fn carry_back(ctx: &mut Ctx, at_least: u64) -> Result<(u64, u64)> {
    let opts = LoopOptions {
        interval: Duration::from_millis(20),
        settle: Duration::from_secs(5),
        once: true,
        accept_gap: None,
    };
    let (mut passes, mut applied) = (0, 0);
    let t = Instant::now();
    while applied < at_least {
        let end = sync::run(ctx, &[], &opts, &|| false)?;
        passes += end.passes;
        applied += end.applied;
        if t.elapsed() > Duration::from_secs(60) {
            bail!("the sync carried only {applied} writes in a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((passes, applied))
}
