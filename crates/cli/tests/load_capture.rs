//! Load during capture: pgbench (PostgreSQL) and sysbench (MariaDB) write concurrently
//! while capture is on, while `ripcord run` takes its checkpoint and migrates, and until
//! the rollback's freeze stops them. Every transaction moves money on an account and
//! records the move twice in one transaction: in `ledger` (part of the component, rolled
//! back) and in `truth` (outside it, never touched by ripcord). A committed transaction is
//! therefore exactly a row in `truth`; after the rollback each must be in `ledger` once and
//! every balance must be its start plus the sum of its committed moves.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCOUNTS: i64 = 500;

fn plan(url: &str) -> String {
    format!(
        r#"
[databases.bank]
url = "{url}"

[components.ledger]
database = "bank"
tables = ["accounts", "ledger"]
priority = "critical"
rto = "15m"

[components.ledger.reverse.accounts]
ignore = ["tier"]

[[steps]]
name = "add tier"
component = "ledger"
forward = "ALTER TABLE accounts ADD COLUMN tier INT"

[[steps]]
name = "damage every note (the bug)"
component = "ledger"
forward = "UPDATE accounts SET note = 'migrated'"
"#
    )
}

fn setup_sql() -> String {
    let values: Vec<String> = (1..=ACCOUNTS)
        .map(|i| format!("({i}, {}, 'note {i}')", 1000 * i))
        .collect();
    format!(
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(40) NOT NULL);
         CREATE TABLE ledger (id BIGINT PRIMARY KEY, aid BIGINT NOT NULL, delta BIGINT NOT NULL);
         CREATE TABLE truth (id BIGINT PRIMARY KEY, aid BIGINT NOT NULL, delta BIGINT NOT NULL);
         INSERT INTO accounts VALUES {};",
        values.join(", ")
    )
}

/// Lost, unexpected and wrong-balance counts, through the database's own client.
const CHECKS: &[(&str, &str)] = &[
    (
        "committed moves missing from ledger",
        "SELECT COUNT(*) FROM truth t LEFT JOIN ledger l ON l.id = t.id AND l.aid = t.aid AND l.delta = t.delta WHERE l.id IS NULL",
    ),
    (
        "ledger rows no committed transaction wrote",
        "SELECT COUNT(*) FROM ledger l LEFT JOIN truth t ON t.id = l.id WHERE t.id IS NULL",
    ),
    (
        "accounts whose balance is not start + committed moves",
        "SELECT COUNT(*) FROM accounts a LEFT JOIN (SELECT aid, SUM(delta) AS s FROM truth GROUP BY aid) m ON m.aid = a.id WHERE a.balance <> 1000 * a.id + COALESCE(m.s, 0)",
    ),
    (
        "notes the migration damaged that are still damaged",
        "SELECT COUNT(*) FROM accounts WHERE note <> CONCAT('note ', id)",
    ),
    ("accounts", "SELECT COUNT(*) - 500 FROM accounts"),
];

fn scalar(engine: &str, db: &FreshDb, sql: &str) -> i64 {
    let o = match engine {
        "postgres" => Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", &db.url, "-c", sql])
            .output(),
        _ => Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-uroot", "-N", "-B", name(db), "-e", sql])
            .output(),
    }
    .unwrap();
    assert!(
        o.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

fn rows(engine: &str, db: &FreshDb, sql: &str) -> Vec<String> {
    let o = match engine {
        "postgres" => Command::new("psql")
            .args(["-X", "-At", "-F", " ", &db.url, "-c", sql])
            .output(),
        _ => Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-uroot", "-N", "-B", name(db), "-e", sql])
            .output(),
    }
    .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn name(db: &FreshDb) -> &str {
    db.url.rsplit('/').next().unwrap()
}

const PGBENCH: &str = r"\set aid random(1, 500)
\set delta random(-500, 500)
BEGIN;
UPDATE accounts SET balance = balance + :delta WHERE id = :aid;
WITH n AS (SELECT nextval('move_ids') AS id),
     l AS (INSERT INTO ledger SELECT id, :aid, :delta FROM n RETURNING id)
INSERT INTO truth SELECT id, :aid, :delta FROM l;
END;
";

const SYSBENCH: &str = r#"
local n = 0
function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
end
function event()
  n = n + 1
  local id = (sysbench.tid + 1) * 100000000 + n
  local aid = math.random(1, 500)
  local delta = math.random(-500, 500)
  -- A refused write (the freeze) ends the thread, but as an application would: rolled
  -- back first. A thread that died inside its transaction would hold the table's metadata
  -- lock until sysbench exits, and the freeze of its other tables would wait for it.
  local ok, err = pcall(function()
    con:query("BEGIN")
    con:query(string.format("UPDATE accounts SET balance = balance + %d WHERE id = %d", delta, aid))
    con:query(string.format("INSERT INTO ledger VALUES (%d, %d, %d)", id, aid, delta))
    con:query(string.format("INSERT INTO truth VALUES (%d, %d, %d)", id, aid, delta))
    con:query("COMMIT")
  end)
  if not ok then
    pcall(function() con:query("ROLLBACK") end)
    error(err)
  end
end
function thread_done()
  con:disconnect()
end
"#;

fn load(engine: &str, db: &FreshDb, dir: &std::path::Path) -> Child {
    let mut c = match engine {
        "postgres" => {
            std::fs::write(dir.join("moves.sql"), PGBENCH).unwrap();
            let mut c = Command::new("pgbench");
            c.args(["-n", "-c", "4", "-j", "2", "-T", "120", "-f"])
                .arg(dir.join("moves.sql"))
                .arg(&db.url);
            c
        }
        _ => {
            std::fs::write(dir.join("moves.lua"), SYSBENCH).unwrap();
            let mut c = Command::new("sysbench");
            c.arg(dir.join("moves.lua")).args([
                "--db-driver=mysql",
                "--mysql-host=127.0.0.1",
                "--mysql-user=root",
                &format!("--mysql-db={}", name(db)),
                "--threads=4",
                "--time=120",
                "run",
            ]);
            c
        }
    };
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{engine} load generator: {e} (install pgbench / sysbench)"))
}

fn load_during_capture(engine: &'static str) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ripcord.toml"), plan(&db.url)).unwrap();
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let mut e = ctx.engine("bank").unwrap();
    for s in setup_sql().split(';').filter(|s| !s.trim().is_empty()) {
        e.execute(s, ripcord_core::journal::Origin::Business)
            .unwrap();
    }
    if engine == "postgres" {
        e.execute(
            "CREATE SEQUENCE move_ids",
            ripcord_core::journal::Origin::Business,
        )
        .unwrap();
    }
    drop(e);
    let bin = env!("CARGO_BIN_EXE_ripcord");
    let ripcord = |args: &[&str]| {
        let o = Command::new(bin)
            .current_dir(dir.path())
            .env("RIPCORD_ACTOR", "tester")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
    };

    ripcord(&["capture", "start"]);
    let started = Instant::now();
    let mut writers = load(engine, &db, dir.path());
    std::thread::sleep(Duration::from_secs(3));
    let before_checkpoint = scalar(engine, &db, "SELECT COUNT(*) FROM truth");
    assert!(before_checkpoint > 0, "the load is running");
    // The checkpoint and the migration run under load.
    ripcord(&["run"]);
    std::thread::sleep(Duration::from_secs(3));
    let before_rollback = scalar(engine, &db, "SELECT COUNT(*) FROM truth");
    // The rollback freezes the tables under load: the writers fail from then on.
    ripcord(&["rollback", "-c", "ledger", "--yes", "--reason", "load test"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while writers.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_running = writers.try_wait().unwrap().is_none();
    if still_running {
        writers.kill().unwrap();
    }
    let out = writers.wait_with_output().unwrap();
    let load_secs = started.elapsed().as_secs_f64();
    let committed = scalar(engine, &db, "SELECT COUNT(*) FROM truth");
    let mut bad = Vec::new();
    for (what, sql) in CHECKS {
        let n = scalar(engine, &db, sql);
        if n != 0 {
            bad.push(format!("{what}: {n}"));
        }
    }
    println!(
        "load during capture on {engine}: {committed} transactions committed in {load_secs:.1}s \
         ({before_checkpoint} before the checkpoint, {} during checkpoint and migration, {} until the freeze), \
         4 writers, {} ledger rows checked, problems: {bad:?}",
        before_rollback - before_checkpoint,
        committed - before_rollback,
        scalar(engine, &db, "SELECT COUNT(*) FROM ledger"),
    );
    assert!(
        !still_running,
        "the writers kept writing through the freeze: {}",
        text(&out)
    );
    assert!(
        committed > before_rollback,
        "writes committed between the checkpoint and the freeze"
    );
    if !bad.is_empty() {
        // Where the lost moves went: their journal entries and the checkpoint's mark.
        let lost_sql = "SELECT t.id FROM truth t LEFT JOIN ledger l ON l.id = t.id WHERE l.id IS NULL ORDER BY t.id LIMIT 5";
        let lost = rows(engine, &db, lost_sql);
        let mut ctx = ctx_for(&dir.path().join("ripcord.toml"));
        let rb = &ctx.state.rollbacks().unwrap()[0];
        let cp = rb.checkpoints["ledger"].clone();
        let m = ctx
            .store
            .manifest(&ripcord_core::store::CheckpointId(cp))
            .unwrap();
        let mark = &m.components[0].journal_mark;
        let mut seen = Vec::new();
        for id in &lost {
            let like = format!("%{id}%");
            let q = format!(
                "SELECT seq, op, origin FROM {} WHERE tbl = 'ledger' AND {} LIKE '{like}'",
                if engine == "postgres" {
                    "ripcord._ripcord_journal"
                } else {
                    "_ripcord_journal"
                },
                if engine == "postgres" {
                    "new_row::text"
                } else {
                    "new_row"
                }
            );
            seen.push(format!("{id}: {:?}", rows(engine, &db, &q)));
        }
        panic!(
            "{bad:?}; lost moves {seen:?}; checkpoint mark high {} with {} holes {:?}; drained to {:?}",
            mark.high,
            mark.holes.len(),
            &mark.holes[..mark.holes.len().min(20)],
            rb.drain_to
        );
    }
    let mut ctx = ctx_for(&dir.path().join("ripcord.toml"));
    assert!(
        ctx.engine("bank")
            .unwrap()
            .frozen_tables()
            .unwrap()
            .is_empty()
    );
    let rb = &ctx.state.rollbacks().unwrap()[0];
    assert_eq!(rb.figures.lost, 0);
    assert!(rb.figures.at_risk > 0);
}

#[test]
fn pgbench_writes_through_capture_checkpoint_and_freeze_and_all_come_back_once() {
    load_during_capture("postgres");
}

#[test]
fn sysbench_writes_through_capture_checkpoint_and_freeze_and_all_come_back_once() {
    load_during_capture("mysql");
}
