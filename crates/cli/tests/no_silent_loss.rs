//! Regression tests for issue #10, "no silent loss": each operator path an acceptance run
//! found losing business writes while the report said "0 lost, verified". Each test is
//! named after its finding and runs the real binary on a Workshop database (customers and
//! vehicles → service orders → invoices and payments, with foreign keys across components)
//! in a fresh database per engine.

mod common;
use common::*;
use ripcord::workshop::{self, Dialect};
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::value::Value;
use std::path::Path;
use std::process::Output;

struct Shop {
    /// Dropped with the test: the database goes with it.
    _db: FreshDb,
    dir: tempfile::TempDir,
    dialect: Dialect,
}

impl Shop {
    fn new(engine: &'static str) -> Shop {
        let db = FreshDb::new(engine);
        let dir = tempfile::tempdir().unwrap();
        let dialect = ripcord::registry::for_url(&db.url).unwrap().dialect;
        std::fs::write(
            dir.path().join("ripcord.toml"),
            workshop::plan_for(&db.url, dialect),
        )
        .unwrap();
        let s = Shop {
            _db: db,
            dir,
            dialect,
        };
        workshop::create(s.engine().as_mut(), 40, 3).unwrap();
        s
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn engine(&self) -> Box<dyn Engine> {
        let mut e = ctx_for(&self.path().join("ripcord.toml"))
            .engine("workshop")
            .unwrap();
        e.prepare().unwrap();
        e
    }

    fn business(&self, sql: &str) {
        self.engine()
            .execute(sql, Origin::Business)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn migration(&self, sql: &str) {
        self.engine()
            .execute(sql, Origin::Migration)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn scalar(&self, sql: &str) -> Value {
        self.engine().query_scalar(sql).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        count_in(self.engine().as_mut(), sql)
    }

    fn ripcord(&self, args: &[&str]) -> Output {
        self.ripcord_env(args, &[])
    }

    fn ripcord_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        ripcord_in(self.path(), args, env)
    }

    /// Starts ripcord and returns once it waits at crash point `point` (RIPCORD_PAUSE_AT);
    /// the wait for it is bounded and fails the test if the point is never reached.
    fn spawn_paused(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        point: &str,
    ) -> std::process::Child {
        let marker = self.path().join(format!("paused-{point}"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(self.path())
            .args(args)
            .env_remove("RIPCORD_CRASH_AT")
            .env("RIPCORD_ACTOR", "tester")
            .env("RIPCORD_PAUSE_AT", point)
            .env("RIPCORD_PAUSE_FILE", &marker)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        for _ in 0..600 {
            if marker.exists() {
                return child;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("ripcord {args:?} never reached {point}");
    }

    /// Runs a rollback killed at crash point `point`; returns its id.
    fn killed_at(&self, args: &[&str], point: &str) -> String {
        let o = self.ripcord_env(args, &[("RIPCORD_CRASH_AT", point)]);
        assert_eq!(o.status.code(), None, "killed at {point}: {}", text(&o));
        newest_rollback_json(self)["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `rollback --abandon ID` as an operator would; its exit code.
    fn abandon(&self, id: &str) -> i32 {
        let o = self.ripcord(&["rollback", "--abandon", id, "--reason", "operator chose"]);
        code(&o)
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.ripcord(args);
        assert_eq!(code(&o), 0, "ripcord {args:?}: {}", text(&o));
        text(&o)
    }

    fn new_chain(&self, id: i64) {
        self.business(&new_chain_sql(id));
    }

    fn delete_chain(&self, id: i64) {
        self.business(&delete_chain_sql(id));
    }

    fn chain_rows(&self, id: i64) -> i64 {
        [
            "customers",
            "vehicles",
            "service_orders",
            "invoices",
            "payments",
        ]
        .iter()
        .map(|t| self.count(&format!("SELECT COUNT(*) FROM {t} WHERE id = {id}")))
        .sum()
    }
}

/// One visit's writes across all three components, parents first, as the business makes
/// them: a new customer, their car, a service order, an invoice and a payment.
fn new_chain_sql(id: i64) -> String {
    let net = 10_000 + id;
    let vat = workshop::vat(net);
    let total = net + vat;
    format!(
        "INSERT INTO customers (id, name_ar, name_en, phone, created_at) VALUES ({id}, 'سالم {id}', 'Salim {id}', NULL, '2026-11-29T10:00:00Z');
         INSERT INTO vehicles (id, customer_id, plate, make, model, year) VALUES ({id}, {id}, 'P-{id}', 'Toyota', 'Hilux', 2024);
         INSERT INTO service_orders (id, vehicle_id, opened_at, status, description) VALUES ({id}, {id}, '2026-11-29T10:05:00Z', 'open', 'oil / زيت');
         INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES ({id}, {id}, {id}, {net}, {vat}, {total}, 'open', '2026-11-29T11:00:00Z');
         INSERT INTO payments (id, invoice_id, amount_baisa, method, paid_at) VALUES ({id}, {id}, {total}, 'cash', '2026-11-29T11:05:00Z')"
    )
}

/// The same chain removed, children first.
fn delete_chain_sql(id: i64) -> String {
    format!(
        "DELETE FROM payments WHERE id = {id};
         DELETE FROM invoices WHERE id = {id};
         DELETE FROM service_orders WHERE id = {id};
         DELETE FROM vehicles WHERE id = {id};
         DELETE FROM customers WHERE id = {id}"
    )
}

const CHAIN_TABLES: [&str; 5] = [
    "customers",
    "vehicles",
    "service_orders",
    "invoices",
    "payments",
];

fn count_in(e: &mut dyn Engine, sql: &str) -> i64 {
    match e.query_scalar(sql).unwrap() {
        Value::Int(n) => n,
        v => v.as_f64().unwrap() as i64,
    }
}

fn newest_rollback_json(s: &Shop) -> serde_json::Value {
    let o = s.ripcord(&["report", "--format", "json"]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

// Finding 1: several components rolled back together replayed one after another, so a
// child row replayed before its parent became an FK-violation "gap".
fn several_components_rolled_back_together(engine: &'static str) {
    let s = Shop::new(engine);
    s.ok(&["checkpoint"]);
    for id in 900_001..=900_030 {
        s.new_chain(id);
    }
    for id in 900_021..=900_030 {
        s.delete_chain(id);
    }
    let out = s.ok(&[
        "rollback",
        "--yes",
        "--reason",
        "all components, FKs across them",
    ]);
    let r = newest_rollback_json(&s);
    assert_eq!(r["gaps"].as_array().unwrap().len(), 0, "{out}");
    assert_eq!(r["figures"]["lost"], 0, "{out}");
    for id in 900_001..=900_020 {
        assert_eq!(s.chain_rows(id), 5, "chain {id} on {engine}: {out}");
    }
    for id in 900_021..=900_030 {
        assert_eq!(s.chain_rows(id), 0, "deleted chain {id} on {engine}: {out}");
    }
    let o = s.ripcord(&[
        "rollback", "--yes", "--reason", "again", "-c", "billing", "-c", "service",
    ]);
    assert_eq!(
        code(&o),
        0,
        "a second multi-component rollback: {}",
        text(&o)
    );
}

#[test]
fn several_components_rolled_back_together_replay_in_business_order_sqlite() {
    several_components_rolled_back_together("sqlite");
}
#[test]
fn several_components_rolled_back_together_replay_in_business_order_postgres() {
    several_components_rolled_back_together("postgres");
}
#[test]
fn several_components_rolled_back_together_replay_in_business_order_mariadb() {
    several_components_rolled_back_together("mysql");
}

// Finding 2: capture broken between checkpoint and rollback erased the writes made
// meanwhile and reported "0 at risk", "0 lost", exit 0.
fn capture_broken(engine: &'static str, breaker: &str) {
    let s = Shop::new(engine);
    s.ok(&["checkpoint", "-c", "billing"]);
    // Capture started again on armed tables changes nothing: continuity holds.
    s.ok(&["capture", "start", "-c", "billing"]);
    assert!(text(&s.ripcord(&["check"])).contains("unbroken since"));
    match breaker {
        "capture stop" => {
            s.ok(&["capture", "stop", "-c", "billing"]);
        }
        "drop trigger" => {
            let on = if s.dialect == Dialect::Postgres {
                " ON invoices"
            } else {
                ""
            };
            let name = if s.dialect == Dialect::Postgres {
                "_ripcord_cap_invoices".to_string()
            } else {
                "_ripcord_cap_invoices_i".to_string()
            };
            s.migration(&format!("DROP TRIGGER {name}{on}"));
        }
        "disable trigger" => {
            s.migration("ALTER TABLE invoices DISABLE TRIGGER _ripcord_cap_invoices")
        }
        "truncate" => s.migration(if s.dialect == Dialect::Sqlite {
            "DELETE FROM payments"
        } else {
            "TRUNCATE TABLE payments"
        }),
        other => panic!("{other}"),
    }
    s.business(&format!(
        "INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES (777001, 1, 1, 1000, {}, {}, 'open', '2026-11-29T12:00:00Z')",
        workshop::vat(1000),
        1000 + workshop::vat(1000)
    ));
    if breaker == "capture stop" {
        // Re-arming does not mend the window in between.
        s.ok(&["capture", "start", "-c", "billing"]);
    }
    let o = s.ripcord(&["rollback", "-c", "billing", "--dry-run"]);
    assert_eq!(
        code(&o),
        3,
        "{breaker} on {engine}: the dry run must refuse: {}",
        text(&o)
    );
    assert!(text(&o).contains("cannot vouch"), "{}", text(&o));
    let table = if breaker == "truncate" {
        "payments"
    } else {
        "invoices"
    };
    assert!(text(&o).contains(table), "names the table: {}", text(&o));
    let o = s.ripcord(&["check"]);
    assert_eq!(code(&o), 3, "check is NO-GO: {}", text(&o));
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "r"]);
    assert_eq!(code(&o), 3, "{breaker} on {engine}: refused: {}", text(&o));
    assert_eq!(
        s.count("SELECT COUNT(*) FROM invoices WHERE id = 777001"),
        1,
        "a refused rollback changes nothing"
    );
    // Forced: the report must not claim what it could not check.
    let o = s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--accept-uncaptured",
        "--reason",
        "we know",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("UNKNOWN"), "{}", text(&o));
    assert!(!text(&o).contains("completed, verified"), "{}", text(&o));
    let r = newest_rollback_json(&s);
    assert!(!r["uncaptured"].as_array().unwrap().is_empty());
    let o = s.ripcord(&["audit", "show"]);
    assert!(
        text(&o).contains("rollback.accept_uncaptured"),
        "{}",
        text(&o)
    );
}

#[test]
fn capture_stopped_between_checkpoint_and_rollback_is_refused_sqlite() {
    capture_broken("sqlite", "capture stop");
}
#[test]
fn capture_stopped_between_checkpoint_and_rollback_is_refused_postgres() {
    capture_broken("postgres", "capture stop");
}
#[test]
fn capture_stopped_between_checkpoint_and_rollback_is_refused_mariadb() {
    capture_broken("mysql", "capture stop");
}
#[test]
fn capture_trigger_dropped_behind_ripcords_back_is_refused_sqlite() {
    capture_broken("sqlite", "drop trigger");
}
#[test]
fn capture_trigger_dropped_behind_ripcords_back_is_refused_mariadb() {
    capture_broken("mysql", "drop trigger");
}
#[test]
fn capture_trigger_disabled_behind_ripcords_back_is_refused_postgres() {
    capture_broken("postgres", "disable trigger");
}
#[test]
fn table_truncated_after_the_checkpoint_is_refused_postgres() {
    capture_broken("postgres", "truncate");
}
#[test]
fn table_truncated_after_the_checkpoint_is_refused_mariadb() {
    capture_broken("mysql", "truncate");
}

// Finding 2, the other side: what ripcord itself does without letting a write escape (a
// rollback's restore, a step that changes a table's shape) keeps capture continuous.
fn continuity_kept(engine: &'static str) {
    let s = Shop::new(engine);
    s.ok(&["run"]);
    s.new_chain(910_001);
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "first"]);
    s.business("UPDATE invoices SET status = 'void' WHERE id = 910001");
    // The same checkpoint again: the first rollback re-armed capture in its restore.
    let out = s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "second"]);
    assert_eq!(
        s.scalar("SELECT status FROM invoices WHERE id = 910001"),
        Value::Text("void".into()),
        "{out}"
    );
}

#[test]
fn capture_rearmed_by_ripcord_keeps_continuity_sqlite() {
    continuity_kept("sqlite");
}
#[test]
fn capture_rearmed_by_ripcord_keeps_continuity_postgres() {
    continuity_kept("postgres");
}
#[test]
fn capture_rearmed_by_ripcord_keeps_continuity_mariadb() {
    continuity_kept("mysql");
}

// Finding 3: a rollback interrupted, a second one accepted, business writes, then
// `--resume` of the first restored over the newer writes and reported 0 lost.
#[test]
fn stale_resume_cannot_wipe_newer_writes() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    s.new_chain(920_001);
    let first = s.killed_at(
        &["rollback", "-c", "billing", "--yes", "--reason", "first"],
        "restore:mid",
    );
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "second"]);
    assert_eq!(code(&o), 5, "a second rollback is refused: {}", text(&o));
    assert!(
        text(&o).contains(&first),
        "names the unfinished one: {}",
        text(&o)
    );
    assert!(text(&o).contains("--resume"), "{}", text(&o));
    let o = s.ripcord(&["rollback", "-c", "customers", "--yes", "--reason", "other"]);
    assert_eq!(code(&o), 0, "another component is free: {}", text(&o));
    // Abandon needs a reason, then frees the component; the restore had begun, so billing
    // stays frozen until a new rollback restores it properly.
    assert_eq!(code(&s.ripcord(&["rollback", "--abandon", &first])), 2);
    assert_eq!(s.abandon(&first), 4);
    assert!(s.ok(&["audit", "show"]).contains("rollback.abandon"));
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "second"]);
    assert_eq!(s.chain_rows(920_001), 5);
    s.business("UPDATE invoices SET status = 'paid' WHERE id = 920001");
    let o = s.ripcord(&["rollback", "--resume", &first]);
    assert_eq!(
        code(&o),
        2,
        "an abandoned rollback is not resumed: {}",
        text(&o)
    );
    let o = s.ripcord(&["rollback", "--resume"]);
    assert_eq!(code(&o), 2, "nothing left to resume: {}", text(&o));
    assert_eq!(
        s.scalar("SELECT status FROM invoices WHERE id = 920001"),
        Value::Text("paid".into())
    );
}

// Finding 3, resume's own check: writes that reached the journal after the interrupted
// rollback's drain (its freeze was lifted by hand) make the resume refuse.
#[test]
fn resume_refuses_when_the_freeze_did_not_hold() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint", "-c", "billing"]);
    s.new_chain(930_001);
    let o = s.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "first"],
        &[("RIPCORD_CRASH_AT", "drain:after")],
    );
    assert_eq!(o.status.code(), None, "{}", text(&o));
    s.engine()
        .unfreeze(&["invoices".into(), "payments".into()])
        .unwrap();
    s.business("UPDATE invoices SET status = 'void' WHERE id = 930001");
    let o = s.ripcord(&["rollback", "--resume"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("no longer frozen"), "{}", text(&o));
    assert!(
        text(&o).contains("business writes reached the journal"),
        "{}",
        text(&o)
    );
}

// Finding 6: the migration wrongly closes an invoice; the business then closes it for
// real (same value) and changes its amount. Only the amount comes back; the row must be
// listed for review instead of a silent "0 conflicts".
#[test]
fn business_write_that_leaves_the_migrations_value_in_place_is_listed_for_review() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint", "-c", "billing"]);
    let id = s.count("SELECT MIN(id) FROM invoices WHERE status = 'open'");
    s.migration(&format!(
        "UPDATE invoices SET status = 'paid' WHERE id = {id}"
    ));
    s.business(&format!(
        "UPDATE invoices SET status = 'paid', net_baisa = 20000, vat_baisa = 1000, total_baisa = 21000 WHERE id = {id}"
    ));
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "r"]);
    // The default keeps the legacy value (invariant 3: the migration's damage must not
    // come back through a business write that did not touch the column) and says so.
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("Overlaps"), "{}", text(&o));
    assert!(text(&o).contains("1 rows changed by both"), "{}", text(&o));
    assert_eq!(
        s.scalar(&format!("SELECT status FROM invoices WHERE id = {id}")),
        Value::Text("open".into()),
        "the legacy value is kept (the default)"
    );
    assert_eq!(
        s.count(&format!("SELECT net_baisa FROM invoices WHERE id = {id}")),
        20000
    );
    let o = s.ripcord(&["gaps", "--review"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o).contains(r#"status = "paid""#), "{}", text(&o));
    let r = newest_rollback_json(&s);
    assert_eq!(r["figures"]["review"], 1);
    assert!(
        r["overlaps"][0]["kept_legacy"]["status"]
            .to_string()
            .contains("paid"),
        "{r}"
    );
}

// Finding 7: a `--yes` rollback killed before its approve phase could not be resumed.
#[test]
fn resume_of_a_yes_rollback_killed_before_approve_continues() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint", "-c", "billing"]);
    s.new_chain(940_001);
    let o = s.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "r"],
        &[("RIPCORD_CRASH_AT", "assess:after")],
    );
    assert_eq!(o.status.code(), None, "{}", text(&o));
    s.ok(&["rollback", "--resume"]);
    assert_eq!(s.chain_rows(940_001), 5);
}

// Finding 7: a completed rollback killed before it released its lock left `check` NO-GO
// for a lock whose holder is dead on this host.
#[test]
fn dead_holders_lock_after_a_completed_rollback_is_not_no_go() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    let o = s.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "r"],
        &[("RIPCORD_CRASH_AT", "finish:before-unlock")],
    );
    assert_eq!(o.status.code(), None, "{}", text(&o));
    let o = s.ripcord(&["check"]);
    let out = text(&o);
    assert!(out.contains("stale"), "{out}");
    assert!(!out.contains("NO-GO"), "{out}");
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "again"]);
}

// Operator-model seed 1162 (SQLite): a rollback of all components killed after its
// restore, then abandoned, leaves them at the checkpoint. Rolling back billing alone then
// replayed invoices and payments whose orders and customers only the journal held: every
// such write became a foreign-key gap, "lost", though nothing had been lost yet. Refused
// now, naming the components to roll back with it; together they lose nothing.
#[test]
fn rolling_back_a_child_component_over_parents_an_abandoned_rollback_left_stale_is_refused() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    s.new_chain(980_001);
    let id = s.killed_at(&["rollback", "--yes", "--reason", "first"], "restore:after");
    assert_eq!(s.abandon(&id), 4);
    let o = s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "billing only",
    ]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&id) && t.contains("-c billing -c") && t.contains("service"),
        "names the rollback and the components to add: {t}"
    );
    assert_eq!(s.chain_rows(980_001), 0, "nothing was changed");
    s.ok(&[
        "rollback",
        "-c",
        "billing",
        "-c",
        "service",
        "-c",
        "customers",
        "--yes",
        "--reason",
        "together",
    ]);
    assert_eq!(s.chain_rows(980_001), 5);
}

// The same with a parent component's rollback unfinished after its restore: its tables
// hold the checkpoint until it is resumed, so a child's rollback waits for that.
#[test]
fn rolling_back_a_child_component_while_its_parents_rollback_has_not_replayed_is_refused() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    s.new_chain(990_001);
    let parent = s.killed_at(
        &["rollback", "-c", "service", "--yes", "--reason", "first"],
        "restore:after",
    );
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "billing"]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("ripcord rollback --resume {parent}")),
        "{}",
        text(&o)
    );
    s.ok(&["rollback", "--resume", &parent]);
    s.ok(&["rollback", "-c", "billing", "--yes", "--reason", "billing"]);
    assert_eq!(s.chain_rows(990_001), 5);
}

// Found in the architecture review: a lock whose lease ended on another host is taken
// over by the next rollback, yet `check` called it NO-GO.
#[test]
fn a_lapsed_lease_from_another_host_is_stale_not_no_go() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    let db = rusqlite::Connection::open(s.path().join(".ripcord/state.db")).unwrap();
    db.execute(
        "INSERT INTO locks (name, owner, host, pid, since, lease_until_ms) VALUES ('rollback:billing', 'mona', 'another-host', 1, '2026-11-30T05:00:00Z', 1000)",
        [],
    )
    .unwrap();
    drop(db);
    let out = text(&s.ripcord(&["check"]));
    assert!(out.contains("lease has ended"), "{out}");
    assert!(!out.contains("NO-GO"), "{out}");
    s.ok(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "taken over",
    ]);
}

// Finding 8: a refused insert's gap had no key ("(see row)").
#[test]
fn refused_insert_gap_names_its_key() {
    let s = Shop::new("postgres");
    s.ok(&["checkpoint", "-c", "billing"]);
    // A payment for an invoice the legacy side cannot have: its parent order is in
    // another component that is not rolled back, and the legacy rejects it by FK.
    s.business(&format!(
        "INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES (950001, 1, 1, 1000, {}, {}, 'open', '2026-11-29T12:00:00Z')",
        workshop::vat(1000),
        1000 + workshop::vat(1000)
    ));
    s.migration("ALTER TABLE invoices DROP CONSTRAINT invoices_order_id_fkey");
    s.business("INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) VALUES (950002, 99999999, 1, 1000, 50, 1050, 'open', '2026-11-29T12:00:00Z')");
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "r"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = s.ripcord(&["gaps"]);
    let out = text(&o);
    assert!(out.contains("950002"), "the gap names its key: {out}");
    assert!(!out.contains("(see row)"), "{out}");
}

// Finding 1 across engines: MariaDB legacy, business in PostgreSQL, all components rolled
// back together.
#[test]
fn several_components_rolled_back_together_replay_in_business_order_mariadb_legacy_postgres_new() {
    let legacy = FreshDb::new("mysql");
    let new = FreshDb::new("postgres");
    let dir = tempfile::tempdir().unwrap();
    let component = |name: &str, tables: &str, priority: &str| {
        format!(
            "[components.{name}]\ndatabase = \"legacy\"\ncapture_database = \"new\"\ntables = [{tables}]\npriority = \"{priority}\"\nrto = \"15m\"\n"
        )
    };
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            "[databases.legacy]\nurl = \"{}\"\n[databases.new]\nurl = \"{}\"\n{}{}{}",
            legacy.url,
            new.url,
            component("customers", "\"customers\", \"vehicles\"", "critical"),
            component("service", "\"service_orders\"", "important"),
            component("billing", "\"invoices\", \"payments\"", "critical"),
        ),
    )
    .unwrap();
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    for db in ["legacy", "new"] {
        let mut e = ctx.engine(db).unwrap();
        e.prepare().unwrap();
        workshop::create(e.as_mut(), 40, 3).unwrap();
    }
    let run = |args: &[&str]| {
        let o = ripcord_in(dir.path(), args, &[]);
        assert_eq!(code(&o), 0, "ripcord {args:?}: {}", text(&o));
        text(&o)
    };
    run(&["checkpoint"]);
    // The business works in PostgreSQL: whole chains across the three components, some
    // removed again children first.
    let shop_new = |sql: &str| {
        ctx.engine("new")
            .unwrap()
            .execute(sql, Origin::Business)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    for id in 960_001..=960_020i64 {
        shop_new(&new_chain_sql(id));
    }
    for id in 960_016..=960_020i64 {
        shop_new(&delete_chain_sql(id));
    }
    let out = run(&[
        "rollback",
        "--yes",
        "--reason",
        "cross-engine, all components",
    ]);
    let mut l = ctx.engine("legacy").unwrap();
    for id in 960_001..=960_020i64 {
        let rows: i64 = CHAIN_TABLES
            .iter()
            .map(|t| {
                count_in(
                    l.as_mut(),
                    &format!("SELECT COUNT(*) FROM {t} WHERE id = {id}"),
                )
            })
            .sum();
        let want = if id > 960_015 { 0 } else { 5 };
        assert_eq!(rows, want, "chain {id} in the MariaDB legacy: {out}");
    }
}

// "Ctrl-C or SIGTERM during a rollback prints which phase it stopped in, that the tables
// stay frozen, and the exact resume command."
#[test]
fn sigterm_during_a_rollback_says_where_it_stopped_and_how_to_resume() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint", "-c", "billing"]);
    s.new_chain(970_001);
    let child = s.spawn_paused(
        &["rollback", "-c", "billing", "--yes", "--reason", "r"],
        &[],
        "restore:before",
    );
    // SAFETY: signalling the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    let id = newest_rollback_json(&s)["id"].as_str().unwrap().to_string();
    assert_eq!(code(&o), 4, "{out}");
    assert!(out.contains("stopped in its restore phase"), "{out}");
    assert!(out.contains("stay frozen"), "{out}");
    assert!(
        out.contains(&format!("ripcord rollback --resume {id}")),
        "{out}"
    );
    s.ok(&["rollback", "--resume", &id]);
    assert_eq!(s.chain_rows(970_001), 5);
}

// Finding 9: the rollback's proof held every checkpoint row in memory (1.2 GB for 1M
// rows). The checkpoint now streams against the table with the replayed writes laid over
// it; the proof still finds every difference, and holds a few batches of rows at a time.
fn rollback_proof_streams_the_checkpoint(engine: &'static str) {
    const ROWS: i64 = 40_000;
    let s = Shop::new(engine);
    s.migration(&format!(
        "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {ROWS}) \
         INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) \
         SELECT 1000000 + x, (SELECT min(order_id) FROM invoices), (SELECT min(customer_id) FROM invoices), \
                20 * x, x, 21 * x, 'open', '2026-01-01T00:00:00Z' FROM g"
    ));
    s.ok(&["checkpoint"]);
    for id in 900_001..=900_003 {
        s.new_chain(id);
    }
    s.business("UPDATE invoices SET status = 'paid' WHERE id = 1000007");
    s.business("DELETE FROM invoices WHERE id = 1000011");
    s.migration("UPDATE invoices SET net_baisa = net_baisa + 1 WHERE id = 1000020");
    let out = s.ok(&["rollback", "--yes", "--reason", "finding 9"]);
    let r = newest_rollback_json(&s);
    assert_eq!(r["figures"]["lost"], 0, "{out}");
    let t = r["proof"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "invoices")
        .unwrap_or_else(|| panic!("{r}"))
        .clone();
    assert_eq!(t["differences"], 0, "{t}");
    assert!(t["rows"].as_u64().unwrap() > ROWS as u64, "{t}");
    let held = t["rows_held_peak"].as_u64().unwrap_or(u64::MAX);
    assert!(held > 0 && held <= 10_000, "{held} rows held at once: {t}");
    assert_eq!(
        s.count("SELECT COUNT(*) FROM invoices WHERE id = 1000011"),
        0
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM invoices WHERE id = 1000007 AND status = 'paid'"),
        1
    );
    assert_eq!(
        s.count("SELECT COUNT(*) FROM invoices WHERE id = 1000020 AND net_baisa = 400"),
        1
    );
}

#[test]
fn rollback_proof_streams_the_checkpoint_in_bounded_memory_sqlite() {
    rollback_proof_streams_the_checkpoint("sqlite");
}

#[test]
fn rollback_proof_streams_the_checkpoint_in_bounded_memory_postgres() {
    rollback_proof_streams_the_checkpoint("postgres");
}

// "Restores follow the FK dependencies, then component priority": billing is critical and
// service important, but invoices point at service orders, so those are restored first.
#[test]
fn restores_follow_foreign_keys_then_priority() {
    let s = Shop::new("postgres");
    s.ok(&["checkpoint"]);
    s.new_chain(980_001);
    s.ok(&["rollback", "--yes", "--reason", "order"]);
    // The event log, in sequence order, holds one `restored` progress event a table.
    let out = s.ok(&["events", "--json"]);
    let at = |t: &str| {
        out.find(&format!("{{\"op\":\"restored\",\"table\":\"{t}\"}}"))
            .unwrap_or_else(|| panic!("no restore event for {t}: {out}"))
    };
    assert!(at("customers") < at("vehicles"), "{out}");
    assert!(at("vehicles") < at("service_orders"), "{out}");
    assert!(at("service_orders") < at("invoices"), "{out}");
    assert!(at("invoices") < at("payments"), "{out}");
    assert_eq!(s.chain_rows(980_001), 5);
}

// Issue 11: "the lock lease is renewed only for the first component and only between
// phases, so a long restore can lose a lock to another operator". Every lock of a
// rollback stays leased while one phase takes longer than the lease.
#[test]
fn every_lock_is_renewed_while_a_phase_outlasts_its_lease() {
    let s = Shop::new("sqlite");
    s.ok(&["checkpoint"]);
    s.new_chain(990_001);
    let mut child = s.spawn_paused(
        &[
            "rollback",
            "-c",
            "customers",
            "-c",
            "billing",
            "--yes",
            "--reason",
            "r",
        ],
        &[("RIPCORD_LOCK_LEASE_SECS", "1")],
        "restore:before",
    );
    // Well past the 1 s lease, still in the same phase.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let locks = ctx_for(&s.path().join("ripcord.toml"))
        .state
        .locks()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let now = chrono::Utc::now();
    for name in ["rollback:customers", "rollback:billing"] {
        let l = locks
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name} is not held: {locks:?}"));
        let until = chrono::DateTime::parse_from_rfc3339(&l.lease_until).unwrap();
        assert!(
            until > now - chrono::Duration::seconds(1),
            "{name} lapsed: {l:?}"
        );
    }
}

// Found by the operator-model long run: a MariaDB rollback killed right after its table
// swap, then abandoned, thawed the swapped table (the restore's "done" marker comes after
// the swap), so the checkpoint's rows stood live without the business writes since and
// the report said 0 lost. A table a restore may have changed stays frozen.
#[test]
fn abandon_after_a_mariadb_restore_killed_after_the_swap_keeps_the_table_frozen() {
    let s = Shop::new("mysql");
    s.ok(&["checkpoint", "-c", "billing"]);
    s.new_chain(940_001);
    let id = s.killed_at(
        &["rollback", "-c", "billing", "--yes", "--reason", "first"],
        "mysql:restore:after-swap",
    );
    assert_eq!(s.abandon(&id), 4);
    let status: serde_json::Value =
        serde_json::from_str(&s.ok(&["status", "--json"])).expect("status --json");
    let frozen: Vec<&str> = status["capture"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["frozen"] == true)
        .filter_map(|t| t["table"].as_str())
        .collect();
    assert!(
        !frozen.is_empty(),
        "the swapped table stays frozen: {status}"
    );
    // The swap gave the table a new identity that no capture link vouches for: a new
    // rollback says so instead of claiming; told to go ahead, it carries the writes back.
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "second"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("cannot vouch"), "{}", text(&o));
    let o = s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--accept-uncaptured",
        "--reason",
        "the swap was killed while frozen",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert_eq!(s.chain_rows(940_001), 5);
}

/// Operator-model seed 589 (MariaDB): a rollback killed after its restore, then abandoned,
/// left its tables frozen with the checkpoint's rows; `checkpoint` of them succeeded and
/// recorded the lost writes as the truth, and a later rollback to it said 0 lost.
fn checkpoint_of_tables_an_abandoned_rollback_left_frozen(engine: &'static str, crash: &str) {
    let s = Shop::new(engine);
    s.ok(&["checkpoint", "-c", "billing"]);
    s.new_chain(950_001);
    let id = s.killed_at(
        &["rollback", "-c", "billing", "--yes", "--reason", "first"],
        crash,
    );
    s.abandon(&id);
    let o = s.ripcord(&["checkpoint", "-c", "billing"]);
    assert_eq!(code(&o), 5, "refused, not taken: {}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("frozen") && t.contains(&id) && t.contains("abandoned"),
        "names the tables and the rollback that left them: {t}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&s.ok(&["checkpoints", "--json"])).expect("checkpoints --json");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(1),
        "no checkpoint of the stale rows was listed: {listed}"
    );
    // The way out the message names brings the writes back.
    s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--accept-uncaptured",
        "--reason",
        "carry the writes back",
    ]);
    assert_eq!(s.chain_rows(950_001), 5);
}

#[test]
fn checkpoint_of_tables_an_abandoned_rollback_left_frozen_is_refused_mariadb() {
    checkpoint_of_tables_an_abandoned_rollback_left_frozen("mysql", "mysql:restore:after-swap");
}

#[test]
fn checkpoint_of_tables_an_abandoned_rollback_left_frozen_is_refused_postgres() {
    checkpoint_of_tables_an_abandoned_rollback_left_frozen("postgres", "restore:after");
}

#[test]
fn checkpoint_of_tables_an_abandoned_rollback_left_frozen_is_refused_sqlite() {
    checkpoint_of_tables_an_abandoned_rollback_left_frozen("sqlite", "restore:after");
}

// Found by the operator-model long run, seed 1170 (MariaDB): a rollback killed right after
// its table swap left the swapped-in table with neither freeze nor capture triggers. A
// business write reached it, no journal held it, the resume re-armed capture and linked
// the tokens as if nothing could have escaped, and a later rollback said "0 lost,
// verified" over the lost write. The swapped-in table is frozen from its first moment, at
// every point a kill can land.
fn mariadb_restore_killed_at(point: &str) {
    let s = Shop::new("mysql");
    s.ok(&["checkpoint", "-c", "billing"]);
    let void = "SELECT COUNT(*) FROM invoices WHERE status = 'void'";
    let voided = s.count(void);
    s.killed_at(
        &["rollback", "-c", "billing", "--yes", "--reason", "first"],
        point,
    );
    for sql in [
        "UPDATE invoices SET status = 'void'",
        "UPDATE payments SET method = 'card'",
        "DELETE FROM invoices",
    ] {
        let e = s
            .engine()
            .execute(sql, Origin::Business)
            .expect_err("a business write while the rollback is unfinished is refused");
        assert!(e.to_string().contains("frozen"), "{sql}: {e}");
    }
    let o = s.ripcord(&["rollback", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(s.count(void), voided, "the refused write is not there");
    // Thawed once finished, and the journal holds the next write: a new rollback vouches
    // for it and carries it back.
    s.new_chain(960_001);
    let o = s.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "second"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(s.chain_rows(960_001), 5);
}

#[test]
fn write_after_a_mariadb_swap_killed_mid_rollback_is_refused_after_swap() {
    mariadb_restore_killed_at("mysql:restore:after-swap");
}

#[test]
fn write_after_a_mariadb_swap_killed_mid_rollback_is_refused_before_thaw() {
    mariadb_restore_killed_at("mysql:restore:before-thaw-interim");
}

// Found in review after seed 1170: a migration step that swaps a captured table in (copy,
// drop, rename) leaves it without capture triggers until `run` re-arms capture after the
// step; a business write in between reached no journal, yet `run` linked the tokens from
// before the step to after the re-arm as if capture had never stopped, and a rollback
// said "0 lost, verified" without that write. Now only triggers that still stood when the
// step's SQL ended are linked: the rollback cannot vouch, and says so.
fn step_that_swaps_a_captured_table(engine: &'static str) {
    let s = Shop::new(engine);
    s.ok(&["checkpoint", "-c", "billing"]);
    let plan = std::fs::read_to_string(s.path().join("ripcord.toml")).unwrap();
    let head = &plan[..plan.find("\n[[steps]]").expect("the example has steps")];
    std::fs::write(
        s.path().join("ripcord.toml"),
        format!(
            "{head}\n[[steps]]\nname = \"swap payments\"\ncomponent = \"billing\"\nforward = \"\"\"\nCREATE TABLE payments_new (id BIGINT PRIMARY KEY, invoice_id BIGINT NOT NULL, amount_baisa BIGINT NOT NULL, method VARCHAR(20) NOT NULL, paid_at VARCHAR(40) NOT NULL);\nINSERT INTO payments_new SELECT id, invoice_id, amount_baisa, method, paid_at FROM payments;\nDROP TABLE payments;\nALTER TABLE payments_new RENAME TO payments\n\"\"\"\n"
        ),
    )
    .unwrap();
    let point = "step:swap payments:forward-done";
    let run = s.spawn_paused(&["run"], &[], point);
    // The business pays an invoice while the swapped-in table has no capture yet.
    s.business("INSERT INTO payments (id, invoice_id, amount_baisa, method, paid_at) VALUES (970001, 1, 1050, 'card', '2026-11-30T06:00:00Z')");
    std::fs::remove_file(s.path().join(format!("paused-{point}"))).unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let o = s.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "after the swap",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("cannot vouch"), "{}", text(&o));
    assert!(text(&o).contains("payments"), "{}", text(&o));
    assert_eq!(
        s.count("SELECT COUNT(*) FROM payments WHERE id = 970001"),
        1
    );
}

#[test]
fn step_that_swaps_a_captured_table_breaks_continuity_sqlite() {
    step_that_swaps_a_captured_table("sqlite");
}

#[test]
fn step_that_swaps_a_captured_table_breaks_continuity_postgres() {
    step_that_swaps_a_captured_table("postgres");
}

#[test]
fn step_that_swaps_a_captured_table_breaks_continuity_mariadb() {
    step_that_swaps_a_captured_table("mysql");
}

// The fix for seed 1170 named its interim freeze after the table alone. A rollback killed
// after its swap and abandoned leaves the swapped-in table frozen by that interim freeze;
// the next rollback's `CREATE TRIGGER IF NOT EXISTS` for its own new table found the name
// taken (trigger names are unique per database) and did nothing, so its swapped-in table
// stood unfrozen again. Each restore's interim freeze has names of its own.
#[test]
fn a_second_mariadb_swap_after_an_abandoned_one_is_frozen_too() {
    let s = Shop::new("mysql");
    s.ok(&["checkpoint", "-c", "billing"]);
    let killed_after_swap = |args: &[&str]| s.killed_at(args, "mysql:restore:after-swap");
    let first = killed_after_swap(&["rollback", "-c", "billing", "--yes", "--reason", "first"]);
    assert_eq!(s.abandon(&first), 4);
    killed_after_swap(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--accept-uncaptured",
        "--reason",
        "second",
    ]);
    let e = s
        .engine()
        .execute("UPDATE invoices SET status = 'void'", Origin::Business)
        .expect_err("the second swapped-in table is frozen too");
    assert!(e.to_string().contains("frozen"), "{e}");
    let o = s.ripcord(&["rollback", "--resume"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let interim = s.count("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE '\\_ripcord\\_frn\\_%'");
    assert_eq!(
        interim, 0,
        "no interim freeze is left once the restore is done"
    );
}
