//! The crash harness: random SIGKILLs during checkpoint, restore, replay and switch-back on
//! SQLite, PostgreSQL and MariaDB, and during the reverse sync and a switch-path rollback,
//! then resume, then an independent check.
//!
//! A trial builds the Workshop, may kill a `ripcord checkpoint`, runs the migration, lets
//! the business work, then rolls billing back while killing ripcord one to three times,
//! either at a named crash point chosen at random or after a random delay, resuming after
//! each kill until the rollback finishes. The expected data is not ripcord's: it is a
//! second database where the same business day ran without any migration. Both are dumped
//! by the database's own client (psql COPY, mariadb -B, sqlite3) and compared row by row.
//!
//! The `universe_*` trials do the same for the parallel universe: legacy and a separate new
//! database, a flag-file switch and a business that writes where the switch points. After
//! the cutover the `sync start` loop is killed once (at `sync:read`, `sync:batch`,
//! `sync:applied` or after a random delay) and restarted, then a switch-path rollback is
//! killed one to three times (any phase's `:before`/`:after`, `switch:intent`,
//! `switch:acted`, or a random delay) and resumed until it finishes. Legacy's dump must
//! equal a second database where the same business writes ran directly; the switch must
//! read legacy, the new side must refuse writes and the sync must be ended.
//!
//! `RIPCORD_HARNESS_SEED` replays a run; `RIPCORD_HARNESS_TRIALS` sets the trials per
//! engine (`scripts/crash-harness` runs the long one).

mod common;
use common::universe::*;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CUSTOMERS: i64 = 60;
const VISITS: i64 = 40;
/// Business days to pick from; each has its own expected state, computed once.
const BUSINESS_SEEDS: [u64; 3] = [11, 12, 13];

fn dialect(url: &str) -> ripcord::workshop::Dialect {
    ripcord::registry::for_url(url).unwrap().dialect
}

/// Every table of the Workshop as its database's own client prints it, rows in key order.
type Dump = BTreeMap<String, Vec<String>>;

fn dump(engine: &str, url: &str) -> Dump {
    dump_tables(engine, url, ripcord::workshop::TABLES)
}

fn dump_tables(engine: &str, url: &str, tables: &[&str]) -> Dump {
    let mut out = Dump::new();
    for t in tables {
        let sql = format!("SELECT * FROM {t} ORDER BY id");
        let o = match engine {
            "postgres" => Command::new("psql")
                .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c"])
                .arg(format!("COPY ({sql}) TO STDOUT"))
                .output(),
            "mysql" => {
                let name = url.rsplit('/').next().unwrap();
                Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-uroot", "-N", "-B", name, "-e", &sql])
                    .output()
            }
            _ => Command::new("sqlite3")
                .args(["-separator", "\t", url.trim_start_matches("sqlite:"), &sql])
                .output(),
        }
        .unwrap_or_else(|e| panic!("cannot run the {engine} client: {e}"));
        assert!(
            o.status.success(),
            "{engine} dump of {t}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let rows = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        out.insert(t.to_string(), rows);
    }
    out
}

#[derive(Default)]
struct Comparison {
    compared: u64,
    lost: Vec<String>,
    duplicated: Vec<String>,
}

/// Multiset comparison per table: an expected row missing is lost, an actual row beyond
/// what is expected (a second copy, or a row that should not be there) is duplicated.
fn compare(expected: &Dump, actual: &Dump) -> Comparison {
    let mut c = Comparison::default();
    for (t, want) in expected {
        let mut have: HashMap<&str, i64> = HashMap::new();
        for r in &actual[t] {
            *have.entry(r.as_str()).or_default() += 1;
        }
        for r in want {
            c.compared += 1;
            match have.get_mut(r.as_str()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => c.lost.push(format!("{t}: {r}")),
            }
        }
        for (r, n) in have {
            for _ in 0..n {
                c.duplicated.push(format!("{t}: {r}"));
            }
        }
    }
    c
}

/// A fresh Workshop database of `CUSTOMERS` customers, its folder and its plan.
fn workshop(engine: &'static str) -> (FreshDb, tempfile::TempDir, std::path::PathBuf) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("ripcord.toml");
    std::fs::write(
        &plan,
        ripcord::workshop::plan_for(&db.url, dialect(&db.url)),
    )
    .unwrap();
    let ctx = ctx_for(&plan);
    let mut e = ctx.engine("workshop").unwrap();
    ripcord::workshop::create(e.as_mut(), CUSTOMERS, 3).unwrap();
    (db, dir, plan)
}

/// The state a perfect rollback leaves: the same Workshop and business day, no migration.
fn expected(engine: &'static str, business_seed: u64) -> Dump {
    let (db, _dir, plan) = workshop(engine);
    let ctx = ctx_for(&plan);
    let mut e = ctx.engine("workshop").unwrap();
    ripcord::workshop::business_day(e.as_mut(), CUSTOMERS, business_seed, VISITS).unwrap();
    dump(engine, &db.url)
}

/// Every rollback phase's `:before` and `:after` crash points.
fn phase_points() -> Vec<String> {
    ripcord_core::rollback::PHASES
        .iter()
        .flat_map(|p| {
            [
                format!("{}:before", p.name()),
                format!("{}:after", p.name()),
            ]
        })
        .collect()
}

fn named_points(engine: &str) -> Vec<String> {
    let mut v = phase_points();
    v.extend(["restore:mid".into(), "replay:mid".into()]);
    if engine == "mysql" {
        v.extend([
            "mysql:restore:before-swap".into(),
            "mysql:restore:after-swap".into(),
            "mysql:restore:before-thaw-interim".into(),
        ]);
    }
    v
}

#[derive(Default)]
struct Tally {
    trials: u64,
    faults: u64,
    named: u64,
    delayed: u64,
    compared: u64,
    lost: u64,
    duplicated: u64,
    failures: Vec<String>,
}

struct Harness {
    engine: &'static str,
    expected: HashMap<u64, Dump>,
    /// Longest rollback seen finishing on its own; random delays are drawn below it.
    rollback_ms: u64,
    checkpoint_ms: u64,
}

/// How one ripcord process ended.
enum End {
    Exited(i32, String),
    Killed,
}

fn spawn(dir: &std::path::Path, args: &[&str], crash_at: Option<&str>) -> std::process::Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ripcord"));
    c.current_dir(dir)
        .args(args)
        .env_remove("RIPCORD_CRASH_AT")
        .env("RIPCORD_ACTOR", "harness")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = crash_at {
        c.env("RIPCORD_CRASH_AT", p);
    }
    c.spawn().unwrap()
}

/// Runs ripcord, killing it with SIGKILL after `delay` if it is still running then.
fn run_until(mut child: std::process::Child, delay: Option<Duration>) -> (End, Duration) {
    let t = Instant::now();
    if let Some(d) = delay {
        while t.elapsed() < d {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            child.wait().unwrap();
            return (End::Killed, t.elapsed());
        }
    }
    let o = child.wait_with_output().unwrap();
    let took = t.elapsed();
    match o.status.code() {
        None => (End::Killed, took),
        Some(c) => (End::Exited(c, text(&o)), took),
    }
}

impl Tally {
    /// Adds a comparison's figures; a row lost or duplicated fails the trial.
    fn count(&mut self, cmp: &Comparison) -> Result<(), String> {
        self.compared += cmp.compared;
        self.lost += cmp.lost.len() as u64;
        self.duplicated += cmp.duplicated.len() as u64;
        if cmp.lost.is_empty() && cmp.duplicated.is_empty() {
            return Ok(());
        }
        Err(format!(
            "{} rows lost {:?}, {} duplicated or unexpected {:?}",
            cmp.lost.len(),
            &cmp.lost[..cmp.lost.len().min(5)],
            cmp.duplicated.len(),
            &cmp.duplicated[..cmp.duplicated.len().min(5)]
        ))
    }
}

impl Harness {
    /// Rolls `component` back, killing the rollback one to three times (see `faulty`) and
    /// resuming it until it finishes.
    fn rollback_with_faults(
        &mut self,
        rng: &mut StdRng,
        dir: &std::path::Path,
        component: &str,
        points: &[String],
        tally: &mut Tally,
        log: &mut Vec<String>,
    ) -> Result<(), String> {
        let plan = dir.join("ripcord.toml");
        let start = [
            "rollback",
            "-c",
            component,
            "--yes",
            "--reason",
            "crash harness",
        ];
        let resume = ["rollback", "--resume", "--yes"];
        let faults = rng.random_range(1..=3);
        let mut started = false;
        for attempt in 0..faults + 8 {
            // Start the rollback until one is recorded, then resume it.
            let args: &[&str] = if started { &resume } else { &start };
            let end = if attempt < faults {
                self.faulty(rng, dir, args, points, tally, log)
            } else {
                log.push(format!("{args:?}"));
                run_until(spawn(dir, args, None), None).0
            };
            started = started || !ctx_for(&plan).state.rollbacks().unwrap().is_empty();
            match end {
                End::Killed => continue,
                End::Exited(0, _) => return Ok(()),
                End::Exited(2, out) if out.contains("no unfinished rollback") => return Ok(()),
                End::Exited(c, out) => return Err(format!("exited {c}: {out}")),
            }
        }
        Err("the rollback never finished".into())
    }

    fn new(engine: &'static str) -> Self {
        Harness {
            engine,
            expected: HashMap::new(),
            rollback_ms: 3000,
            checkpoint_ms: 1000,
        }
    }

    /// One fault on a command: a named crash point or a kill after a random delay.
    fn faulty(
        &mut self,
        rng: &mut StdRng,
        dir: &std::path::Path,
        args: &[&str],
        points: &[String],
        tally: &mut Tally,
        log: &mut Vec<String>,
    ) -> End {
        let is_checkpoint = args[0] == "checkpoint";
        let (end, took) = if rng.random_bool(0.5) {
            let p = &points[rng.random_range(0..points.len())];
            log.push(format!("{args:?} crash at {p}"));
            let r = run_until(spawn(dir, args, Some(p)), None);
            if matches!(r.0, End::Killed) {
                tally.named += 1;
            }
            r
        } else {
            let budget = if is_checkpoint {
                self.checkpoint_ms
            } else {
                self.rollback_ms
            };
            let d = Duration::from_millis(rng.random_range(0..=budget));
            log.push(format!("{args:?} kill after {d:?}"));
            let r = run_until(spawn(dir, args, None), Some(d));
            if matches!(r.0, End::Killed) {
                tally.delayed += 1;
            }
            r
        };
        match &end {
            End::Killed => tally.faults += 1,
            End::Exited(0, _) => {
                // Finished before the fault: its duration bounds the next random delays.
                let ms = (took.as_millis() as u64 * 6 / 5).max(20);
                if is_checkpoint {
                    self.checkpoint_ms = ms;
                } else {
                    self.rollback_ms = ms;
                }
            }
            End::Exited(..) => {}
        }
        end
    }

    fn trial(&mut self, seed: u64, tally: &mut Tally) -> Result<(), String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let engine = self.engine;
        let business_seed = BUSINESS_SEEDS[rng.random_range(0..BUSINESS_SEEDS.len())];
        self.expected
            .entry(business_seed)
            .or_insert_with(|| expected(engine, business_seed));
        let (db, dir, plan) = workshop(engine);
        let mut log = Vec::new();
        let fail = |log: &[String], what: String| {
            Err(format!("{engine} seed {seed}: {what}\n  steps: {log:?}"))
        };

        if rng.random_bool(0.3) {
            let points = vec!["checkpoint:before-manifest".to_string()];
            if let End::Exited(c, out) = self.faulty(
                &mut rng,
                dir.path(),
                &["checkpoint"],
                &points,
                tally,
                &mut log,
            ) && c != 0
            {
                return fail(&log, format!("checkpoint exited {c}: {out}"));
            }
            // Whatever is listed must be whole: every chunk of every listed checkpoint re-hashes.
            let mut ctx = ctx_for(&plan);
            for cp in ctx.state.checkpoints().unwrap() {
                let id = ripcord_core::store::CheckpointId(cp.id.clone());
                let verified = ctx.store.manifest(&id).and_then(|m| ctx.store.verify(&m));
                if let Err(err) = verified {
                    return fail(
                        &log,
                        format!("listed checkpoint {} is not whole: {err}", cp.id),
                    );
                }
            }
        }

        let o = run_until(spawn(dir.path(), &["run"], None), None).0;
        if let End::Exited(c, out) = o
            && c != 0
        {
            return fail(&log, format!("run exited {c}: {out}"));
        }
        let ctx = ctx_for(&plan);
        let mut e = ctx.engine("workshop").unwrap();
        ripcord::workshop::business_day(e.as_mut(), CUSTOMERS, business_seed, VISITS).unwrap();
        drop(e);

        let points = named_points(engine);
        if let Err(e) =
            self.rollback_with_faults(&mut rng, dir.path(), "billing", &points, tally, &mut log)
        {
            return fail(&log, e);
        }

        // The independent check: the database's own dump against the expected state.
        let cmp = compare(&self.expected[&business_seed], &dump(engine, &db.url));
        if let Err(e) = tally.count(&cmp) {
            return fail(&log, e);
        }
        let mut ctx = ctx_for(&plan);
        let rb = ctx.state.rollbacks().unwrap();
        if rb.iter().any(|r| r.finished_at.is_none()) {
            return fail(&log, "a rollback is left unfinished".into());
        }
        // A process killed after finishing but before releasing its lock leaves the row
        // behind; what matters is that the next operator is not blocked by it.
        let next = ripcord_core::state::LockOwner::current("next-operator");
        if let Err(err) = ctx
            .state
            .acquire_lock("rollback:billing", &next, Duration::from_secs(5))
            .and_then(|_| ctx.state.release_lock("rollback:billing", &next))
        {
            return fail(&log, format!("billing is left locked: {err}"));
        }
        let mut e = ctx.engine("workshop").unwrap();
        let frozen = e.frozen_tables().unwrap();
        if !frozen.is_empty() {
            return fail(&log, format!("tables left frozen: {frozen:?}"));
        }
        // A business write goes through on every table: nothing frozen, nothing locked.
        for t in ripcord::workshop::TABLES {
            let sql = format!(
                "UPDATE {t} SET id = id WHERE id = (SELECT m FROM (SELECT MIN(id) AS m FROM {t}) x)"
            );
            if let Err(err) = e.execute(&sql, ripcord_core::journal::Origin::Business) {
                return fail(&log, format!("business write on {t} refused: {err}"));
            }
        }
        tally.trials += 1;
        Ok(())
    }
}

/// The parallel universe: legacy and a separate new database, a flag-file switch, the
/// business routed by it.
struct Universe {
    dir: tempfile::TempDir,
    legacy: FreshDb,
    _new: FreshDb,
    /// Where the same business writes run directly, with no migration.
    expected: FreshDb,
    expected_dir: tempfile::TempDir,
}

const SEED_ORDERS: i64 = 60;

impl Universe {
    fn new(legacy_engine: &'static str, new_engine: &'static str) -> Self {
        let legacy = FreshDb::new(legacy_engine);
        let new = FreshDb::new(new_engine);
        let expected = FreshDb::new(legacy_engine);
        let dir = tempfile::tempdir().unwrap();
        let expected_dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ripcord.toml"),
            orders_plan(&legacy.url, &new.url, "", FILE_SWITCH),
        )
        .unwrap();
        std::fs::write(
            expected_dir.path().join("ripcord.toml"),
            format!(
                "[databases.legacy]\nurl = \"{}\"\n\n[components.orders]\ndatabase = \"legacy\"\ntables = [\"orders\"]\n",
                expected.url
            ),
        )
        .unwrap();
        let u = Universe {
            dir,
            legacy,
            _new: new,
            expected,
            expected_dir,
        };
        let ctx = ctx_for(&u.plan());
        let ectx = ctx_for(&u.expected_dir.path().join("ripcord.toml"));
        let dbs = [
            (ctx.engine("legacy").unwrap(), legacy_engine),
            (ctx.engine("new").unwrap(), new_engine),
            (ectx.engine("legacy").unwrap(), legacy_engine),
        ];
        for (mut e, engine) in dbs {
            create_orders(e.as_mut(), engine, SEED_ORDERS, 1);
        }
        u
    }

    fn plan(&self) -> std::path::PathBuf {
        self.dir.path().join("ripcord.toml")
    }

    /// Whether the switch sends the business to the new side, read as an application would.
    fn routed_to_new(&self) -> bool {
        std::fs::read_to_string(self.dir.path().join("flags/orders_v2"))
            .is_ok_and(|s| s.trim() == "new")
    }
}

/// The business: random inserts, updates and deletes of orders, each run on the side the
/// switch names and, the same statement, on the expected database.
struct Business {
    next_id: i64,
    live: Vec<i64>,
}

impl Business {
    fn new() -> Self {
        Business {
            next_id: SEED_ORDERS + 1,
            live: (1..=SEED_ORDERS).collect(),
        }
    }

    /// `n` writes; before the cutover (`forward`) each legacy write is also copied to the
    /// new side, standing in for the forward replication that keeps it current.
    fn work(
        &mut self,
        rng: &mut StdRng,
        u: &Universe,
        n: usize,
        forward: bool,
    ) -> Result<(), String> {
        use ripcord_core::journal::Origin;
        let ctx = ctx_for(&u.plan());
        let ectx = ctx_for(&u.expected_dir.path().join("ripcord.toml"));
        let to_new = u.routed_to_new();
        let side = if to_new { "new" } else { "legacy" };
        let mut target = ctx.engine(side).unwrap();
        let mut copy = (forward && !to_new).then(|| ctx.engine("new").unwrap());
        let mut expected = ectx.engine("legacy").unwrap();
        for _ in 0..n {
            let roll = rng.random_range(0..10);
            let sql = if roll < 5 || self.live.len() < 10 {
                let id = self.next_id;
                self.next_id += 1;
                self.live.push(id);
                format!(
                    "INSERT INTO orders (id, side, amount, note) VALUES ({id}, '{side}', {}.50, 'طلب {id}')",
                    id % 1000
                )
            } else if roll < 8 {
                let id = self.live[rng.random_range(0..self.live.len())];
                let amount = rng.random_range(1..10_000);
                format!(
                    "UPDATE orders SET amount = {amount}.75, note = 'تعديل {side} {amount}' WHERE id = {id}"
                )
            } else {
                let id = self.live.swap_remove(rng.random_range(0..self.live.len()));
                format!("DELETE FROM orders WHERE id = {id}")
            };
            target
                .execute(&sql, Origin::Business)
                .map_err(|e| format!("the business write `{sql}` on {side} was refused: {e}"))?;
            if let Some(c) = copy.as_mut() {
                c.execute(&sql, Origin::Business)
                    .map_err(|e| format!("forward copy of `{sql}`: {e}"))?;
            }
            expected
                .execute(&sql, Origin::Business)
                .map_err(|e| format!("`{sql}` on the expected database: {e}"))?;
        }
        Ok(())
    }
}

/// A child killed and waited for when a trial returns early, so no sync loop outlives it.
struct Reaped(Option<std::process::Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for a process to exit, killing it (and saying so) past `within`.
fn exit_within(mut child: std::process::Child, within: Duration) -> Result<End, String> {
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the process did not exit within {within:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    Ok(match o.status.code() {
        None => End::Killed,
        Some(c) => End::Exited(c, text(&o)),
    })
}

fn universe_points() -> Vec<String> {
    let mut v = phase_points();
    v.extend(["switch:intent".into(), "switch:acted".into()]);
    v
}

impl Harness {
    /// Cutover, business on the new side, the sync loop killed and restarted, then a
    /// switch-path rollback killed one to three times and resumed.
    fn universe_trial(
        &mut self,
        new_engine: &'static str,
        seed: u64,
        tally: &mut Tally,
    ) -> Result<(), String> {
        let mut rng = StdRng::seed_from_u64(seed);
        let engine = self.engine;
        let u = Universe::new(engine, new_engine);
        let dir = u.dir.path();
        let mut log = Vec::new();
        let fail = |log: &[String], what: String| {
            Err(format!(
                "{engine}->{new_engine} seed {seed}: {what}\n  steps: {log:?}"
            ))
        };
        let mut biz = Business::new();
        let ok = |o: std::process::Output, what: &str| -> Result<(), String> {
            if code(&o) == 0 {
                Ok(())
            } else {
                Err(format!("{what} exited {}: {}", code(&o), text(&o)))
            }
        };
        let steps = (|| -> Result<(), String> {
            ok(
                ripcord_in(dir, &["capture", "start", "-c", "orders"], &[]),
                "capture start",
            )?;
            biz.work(&mut rng, &u, 30, true)?;
            ok(
                ripcord_in(
                    dir,
                    &["cutover", "-c", "orders", "--reason", "harness"],
                    &[],
                ),
                "cutover",
            )?;
            if !u.routed_to_new() {
                return Err("the switch does not read new after the cutover".into());
            }
            biz.work(&mut rng, &u, 40, false)?;
            Ok(())
        })();
        if let Err(e) = steps {
            return fail(&log, e);
        }

        // The sync loop, killed once at a named point or after a random delay.
        let sync_points = ["sync:read", "sync:batch", "sync:applied"];
        let end = if rng.random_bool(0.5) {
            let p = sync_points[rng.random_range(0..sync_points.len())];
            log.push(format!("sync crash at {p}"));
            match exit_within(
                spawn_sync(dir, "harness-sync", &[("RIPCORD_CRASH_AT", p)]),
                Duration::from_secs(60),
            ) {
                Ok(End::Killed) => {
                    tally.named += 1;
                    End::Killed
                }
                Ok(e) => e,
                Err(e) => return fail(&log, format!("sync with {p}: {e}")),
            }
        } else {
            let d = Duration::from_millis(rng.random_range(0..=1500));
            log.push(format!("sync kill after {d:?}"));
            let r = run_until(spawn_sync(dir, "harness-sync", &[]), Some(d)).0;
            if matches!(r, End::Killed) {
                tally.delayed += 1;
            }
            r
        };
        match end {
            End::Killed => tally.faults += 1,
            End::Exited(c, out) => return fail(&log, format!("the sync loop exited {c}: {out}")),
        }
        if let Err(e) = biz.work(&mut rng, &u, 20, false) {
            return fail(&log, e);
        }
        log.push("sync restarted".into());
        let mut sync = Reaped(Some(spawn_sync(dir, "harness-sync", &[])));
        if let Err(e) = biz.work(&mut rng, &u, 20, false) {
            return fail(&log, e);
        }

        // The switch-path rollback, killed one to three times, resumed until it finishes.
        let points = universe_points();
        if let Err(e) = self.rollback_with_faults(&mut rng, dir, "orders", &points, tally, &mut log)
        {
            return fail(&log, e);
        }
        // The loop hands the component over to the rollback and ends.
        match exit_within(sync.0.take().unwrap(), Duration::from_secs(60)) {
            Ok(End::Exited(0, _)) => {}
            Ok(End::Exited(c, out)) => {
                return fail(&log, format!("the sync loop exited {c}: {out}"));
            }
            Ok(End::Killed) => return fail(&log, "the sync loop was killed".into()),
            Err(e) => return fail(&log, format!("the sync loop after the rollback: {e}")),
        }
        if u.routed_to_new() {
            return fail(&log, "the switch still reads new after the rollback".into());
        }
        // The business goes on, on legacy.
        if let Err(e) = biz.work(&mut rng, &u, 20, false) {
            return fail(&log, e);
        }

        // The independent check: legacy as its own client dumps it, against the expected.
        let want = dump_tables(engine, &u.expected.url, &["orders"]);
        let cmp = compare(&want, &dump_tables(engine, &u.legacy.url, &["orders"]));
        if let Err(e) = tally.count(&cmp) {
            return fail(&log, e);
        }
        let mut ctx = ctx_for(&u.plan());
        if ctx
            .state
            .rollbacks()
            .unwrap()
            .iter()
            .any(|r| r.finished_at.is_none())
        {
            return fail(&log, "a rollback is left unfinished".into());
        }
        // Fenced: the new side refuses a late write.
        let late = ctx.engine("new").unwrap().execute(
            "INSERT INTO orders VALUES (999999, 'late', 1, NULL)",
            ripcord_core::journal::Origin::Business,
        );
        if late.is_ok() {
            return fail(
                &log,
                "the new side accepts writes after the rollback".into(),
            );
        }
        let o = ripcord_in(dir, &["sync", "status", "--json"], &[]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if v[0]["record"]["state"]["state"] != "ended" {
            return fail(&log, format!("the sync is not ended: {v}"));
        }
        tally.trials += 1;
        Ok(())
    }
}

fn base_seed() -> u64 {
    std::env::var("RIPCORD_HARNESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_007
        })
}

/// Runs the trials (`RIPCORD_HARNESS_TRIALS`, else `default_trials`) from one base seed,
/// prints the tally and asserts that no trial failed, nothing was lost or duplicated and
/// at least `min_faults(trials)` faults landed.
fn run_trials(
    title: &str,
    mut h: Harness,
    default_trials: u64,
    min_faults: fn(u64) -> u64,
    trial: impl Fn(&mut Harness, u64, &mut Tally) -> Result<(), String>,
) {
    let trials = std::env::var("RIPCORD_HARNESS_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_trials);
    let base = base_seed();
    println!("{title}: seed {base} (replay with RIPCORD_HARNESS_SEED={base}), {trials} trials");
    let mut tally = Tally::default();
    let t = Instant::now();
    for i in 0..trials {
        let seed = base.wrapping_mul(1_000_003).wrapping_add(i);
        if let Err(e) = trial(&mut h, seed, &mut tally) {
            println!("FAILED {e}");
            tally.failures.push(e);
        }
    }
    println!(
        "{title}: trials {} (failed {}), faults injected {} (named points {}, random delays {}), rows compared {}, rows lost {}, rows duplicated {}, {:.1}s",
        tally.trials + tally.failures.len() as u64,
        tally.failures.len(),
        tally.faults,
        tally.named,
        tally.delayed,
        tally.compared,
        tally.lost,
        tally.duplicated,
        t.elapsed().as_secs_f64()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {trials} trials failed (seed {base}):\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        tally.faults >= min_faults(trials),
        "too few faults landed: {}",
        tally.faults
    );
    assert_eq!((tally.lost, tally.duplicated), (0, 0));
}

/// At least one fault every second trial.
fn harness(engine: &'static str, default_trials: u64) {
    run_trials(
        &format!("crash harness {engine}"),
        Harness::new(engine),
        default_trials,
        |trials| trials.div_ceil(2),
        |h, seed, tally| h.trial(seed, tally),
    );
}

#[test]
fn sqlite() {
    harness("sqlite", 12);
}

#[test]
fn postgres() {
    harness("postgres", 8);
}

#[test]
fn mysql() {
    harness("mysql", 8);
}

/// At least one fault every trial.
fn universe_harness(legacy: &'static str, new: &'static str, default_trials: u64) {
    run_trials(
        &format!("crash harness universe {legacy}->{new}"),
        Harness::new(legacy),
        default_trials,
        |trials| trials,
        |h, seed, tally| h.universe_trial(new, seed, tally),
    );
}

#[test]
fn universe_sqlite() {
    universe_harness("sqlite", "sqlite", 2);
}

#[test]
fn universe_postgres() {
    universe_harness("postgres", "postgres", 2);
}

#[test]
fn universe_mariadb_legacy_postgres_new() {
    universe_harness("mysql", "postgres", 1);
}
