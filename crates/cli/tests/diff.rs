//! `ripcord diff` and `ripcord verify --against` through the real binary: every engine pair,
//! a checkpoint against the live table, exit codes, JSON, secrets, and the orphans a
//! component rollback leaves behind.

mod common;

use common::{FreshDb, Workshop, code, text};
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use std::process::Command;

fn ripcord(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .args(args)
        .env("RIPCORD_ACTOR", "tester")
        .env("RIPCORD_PLAN", "/nonexistent/ripcord.toml")
        .output()
        .unwrap()
}

fn engine(url: &str) -> Box<dyn Engine> {
    let mut e = (ripcord::registry::for_url(url).unwrap().connect)(url).unwrap();
    e.prepare().unwrap();
    e
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

#[test]
fn every_engine_pair_through_the_binary() {
    let dbs = [
        FreshDb::new("sqlite"),
        FreshDb::new("postgres"),
        FreshDb::new("mysql"),
    ];
    for d in &dbs {
        ripcord::workshop::create(&mut *engine(&d.url), 40, 7).unwrap();
    }
    for (i, j) in [(0, 1), (1, 2), (2, 0)] {
        let (a, b) = (&dbs[i].url, &dbs[j].url);
        for t in ["customers", "vehicles", "invoices"] {
            let o = ripcord(&["diff", a, b, "--table", t]);
            assert_eq!(code(&o), 0, "{a} vs {b} {t}: {}", text(&o));
            assert!(text(&o).contains("no data gaps"), "{}", text(&o));
        }
    }
    // One Arabic letter changed, one row gone: both found, exit 3, JSON for scripts.
    engine(&dbs[2].url)
        .execute(
            "UPDATE customers SET name_ar = CONCAT(name_ar, 'ة') WHERE id = 5",
            Origin::Migration,
        )
        .unwrap();
    let mut my = engine(&dbs[2].url);
    let first = my
        .query_scalar("SELECT min(id) FROM payments")
        .unwrap()
        .to_string();
    my.execute(
        &format!("DELETE FROM payments WHERE id = {first}"),
        Origin::Migration,
    )
    .unwrap();
    for a in [&dbs[0].url, &dbs[1].url] {
        let o = ripcord(&[
            "diff",
            a,
            &dbs[2].url,
            "-t",
            "customers",
            "-t",
            "payments",
            "--json",
        ]);
        assert_eq!(code(&o), 3, "{}", text(&o));
        let j = json(&o);
        assert_eq!(j["tables"][0]["changed"][0]["key"][0], "5", "{j}");
        assert_eq!(
            j["tables"][0]["changed"][0]["columns"][0]["column"],
            "name_ar"
        );
        assert_eq!(j["tables"][1]["missing_in_b"][0][0], first.as_str(), "{j}");
        assert!(
            j["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["key"] == first.as_str()
                    && g["what"].as_str().unwrap().contains("missing in B")),
            "{j}"
        );
        // The table for people says the same.
        let o = ripcord(&["diff", a, &dbs[2].url, "-t", "customers"]);
        assert_eq!(code(&o), 3);
        assert!(text(&o).contains("name_ar") && text(&o).contains("data-gap report"));
    }
}

#[test]
fn usage_errors_exit_2_and_passwords_are_never_printed() {
    let o = ripcord(&["diff", "ftp://x", "sqlite:/nope.db", "--table", "t"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("not a database URL"), "{}", text(&o));
    let o = ripcord(&[
        "diff",
        "postgres://alice:s3cr3t-pw@127.0.0.1:1/x",
        "sqlite:/nope.db",
        "--table",
        "t",
    ]);
    assert_ne!(code(&o), 0);
    assert!(!text(&o).contains("s3cr3t-pw"), "{}", text(&o));
    let db = FreshDb::new("sqlite");
    ripcord::workshop::create(&mut *engine(&db.url), 5, 1).unwrap();
    for (flag, value, says) in [
        ("--tolerance", "name_ar", "COLUMN=AMOUNT"),
        ("--columns", "nope", "no column \"nope\""),
    ] {
        let o = ripcord(&["diff", &db.url, &db.url, "-t", "customers", flag, value]);
        assert_eq!(code(&o), 2, "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
    }
}

#[test]
fn checkpoint_against_live_and_verify_against() {
    let w = Workshop::new(30);
    let o = w.ripcord(&["checkpoint", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = w.ripcord(&["verify", "-c", "billing", "--against", &id]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    w.db()
        .execute(
            "UPDATE invoices SET net_baisa = net_baisa + 1000 WHERE id = 4",
            [],
        )
        .unwrap();
    let o = w.ripcord(&[
        "diff",
        &format!("checkpoint:{id}"),
        "workshop",
        "--table",
        "invoices",
        "--json",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let j = json(&o);
    assert_eq!(j["tables"][0]["changed"][0]["key"][0], "4", "{j}");
    let o = w.ripcord(&[
        "verify",
        "-c",
        "billing",
        "--against",
        &format!("checkpoint:{id}"),
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("net_baisa"), "{}", text(&o));
    let o = w.ripcord(&["audit", "show"]);
    assert!(text(&o).contains("diff"), "{}", text(&o));
}

#[test]
fn a_component_rollback_that_orphans_rows_fails_its_proof() {
    let w = Workshop::new(10);
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // A migration adds a customer and a vehicle (not replayed on rollback), then the
    // business opens a service order on that vehicle (another component, kept).
    let mut e = w.engine();
    e.execute(
        "INSERT INTO customers VALUES (9001, 'سالم', 'Salim', NULL, '2026-01-01'); \
         INSERT INTO vehicles VALUES (9001, 9001, 'OM-9001', 'Toyota', 'Hilux', 2020)",
        Origin::Migration,
    )
    .unwrap();
    e.execute(
        "INSERT INTO service_orders VALUES (9001, 9001, '2026-01-02', 'open', 'تغيير زيت')",
        Origin::Business,
    )
    .unwrap();
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "customers",
        "--yes",
        "--reason",
        "test orphans",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("referential integrity"), "{out}");
    assert!(
        out.contains("service_orders(vehicle_id) → vehicles(id)"),
        "{out}"
    );
    let o = w.ripcord(&["report", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["proof"]["orphans"].as_array().unwrap().len(), 1, "{r}");
    // The rows themselves were restored exactly: the proof's tables show no differences.
    for t in r["proof"]["tables"].as_array().unwrap() {
        assert_eq!(t["differences"], 0, "{t}");
    }
    // verify --against reports the same orphans.
    let o = w.ripcord(&["verify", "-c", "service", "--against", "workshop"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("parents that do not exist"),
        "{}",
        text(&o)
    );
}

/// A `salary` table with a 3-decimal currency on `url`'s engine.
fn salary(url: &str, rows: &str) {
    let decl = if url.starts_with("sqlite:") {
        "NUMERIC(12,3)"
    } else {
        "decimal(12,3)"
    };
    engine(url)
        .execute(
            &format!(
                "CREATE TABLE salary (id BIGINT PRIMARY KEY, amount_omr {decl} NOT NULL); \
                 INSERT INTO salary VALUES {rows}"
            ),
            Origin::Migration,
        )
        .unwrap();
}

/// Issue #10, finding 5: `diff` and `verify --against` give no column a tolerance it was
/// not given, and `--aggregate` compares exactly unless `--aggregate-tolerance` is set.
#[test]
fn no_default_money_tolerance_three_decimal_currency() {
    let a = FreshDb::new("postgres");
    let b = [
        FreshDb::new("mysql"),
        FreshDb::new("sqlite"),
        FreshDb::new("postgres"),
    ];
    salary(&a.url, "(1, 10.000), (2, 250.125), (3, 7.500)");
    for db in &b {
        salary(&db.url, "(1, 10.005), (2, 250.125), (3, 7.500)");
        let o = ripcord(&["diff", &a.url, &db.url, "-t", "salary", "--json"]);
        assert_eq!(code(&o), 3, "{}", text(&o));
        let j = json(&o);
        let t = &j["tables"][0];
        assert_eq!(t["changed"][0]["key"][0], "1", "{j}");
        assert_eq!(t["changed"][0]["columns"][0]["delta"], "0.005", "{j}");
        assert_eq!(t["within_tolerance"].as_array().unwrap().len(), 0, "{j}");
        assert!(
            j["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["key"] == "1"),
            "{j}"
        );
        let o = ripcord(&[
            "diff",
            &a.url,
            &db.url,
            "-t",
            "salary",
            "--aggregate",
            "SELECT 'all', sum(amount_omr) FROM salary",
            "--columns",
            "id",
        ]);
        assert_eq!(code(&o), 3, "{}", text(&o));
        assert!(text(&o).contains("BROKEN"), "{}", text(&o));
    }
    // verify --against, through a plan whose component lives on the PostgreSQL side.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            "[project]\nname = \"payroll\"\n\n[databases.payroll]\nurl = \"{}\"\n\n\
             [components.pay]\ndatabase = \"payroll\"\ntables = [\"salary\"]\n\
             priority = \"critical\"\nrto = \"15m\"\n",
            b[2].url
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(dir.path())
        .args(["verify", "-c", "pay", "--against", &a.url])
        .env("RIPCORD_ACTOR", "tester")
        .output()
        .unwrap();
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("amount_omr"), "{}", text(&o));
}

/// Issue #10, finding 5: a difference within an explicitly set tolerance is still listed
/// and counted (changed rows, gap report, JSON); the exit code is 0 only when every
/// difference is within its tolerance.
#[test]
fn within_tolerance_differences_are_listed_and_counted() {
    let (a, b) = (FreshDb::new("mysql"), FreshDb::new("postgres"));
    salary(&a.url, "(1, 10.000), (2, 250.125), (3, 7.500)");
    salary(&b.url, "(1, 10.005), (2, 250.125), (3, 7.500)");
    let args = |json: bool| {
        let mut v = vec![
            "diff",
            a.url.as_str(),
            b.url.as_str(),
            "-t",
            "salary",
            "--tolerance",
            "amount_omr=0.005",
        ];
        if json {
            v.push("--json");
        }
        v
    };
    let o = ripcord(&args(true));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let j = json(&o);
    let t = &j["tables"][0];
    assert_eq!(t["within_tolerance"][0]["key"][0], "1", "{j}");
    let gaps = j["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{j}");
    assert_eq!(gaps[0]["key"], "1", "{j}");
    assert_eq!(gaps[0]["within_tolerance"], true, "{j}");
    assert_eq!(j["within_tolerance"], 1, "{j}");
    assert_eq!(j["beyond_tolerance"], 0, "{j}");
    let o = ripcord(&args(false));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("data-gap report"), "{out}");
    assert!(out.contains("1 within tolerance"), "{out}");
    assert!(!out.contains("no data gaps"), "{out}");
    // One more row beyond the tolerance: exit 3, and both rows are still listed.
    engine(&b.url)
        .execute(
            "UPDATE salary SET amount_omr = 7.506 WHERE id = 3",
            Origin::Migration,
        )
        .unwrap();
    let o = ripcord(&args(true));
    assert_eq!(code(&o), 3, "{}", text(&o));
    let j = json(&o);
    let keys: Vec<(&str, bool)> = j["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["within_tolerance"] == true))
        .collect();
    assert_eq!(keys, [("3", false), ("1", true)], "{j}");
    assert_eq!(j["within_tolerance"], 1, "{j}");
    assert_eq!(j["beyond_tolerance"], 1, "{j}");
}

/// Issue #10, finding 9 ("the proof does not scale"): the checkpoint side of
/// `verify --against` is streamed against the live table, a few batches at a time, instead
/// of being loaded whole; the differences are still found row by row.
#[test]
fn verify_against_a_checkpoint_streams_in_bounded_memory() {
    const ROWS: i64 = 40_000;
    let w = Workshop::new(5);
    w.db()
        .execute_batch(&format!(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {ROWS}) \
             INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) \
             SELECT 1000000 + x, (SELECT order_id FROM invoices LIMIT 1), (SELECT customer_id FROM invoices LIMIT 1), \
                    20 * x, x, 21 * x, 'open', '2026-01-01T00:00:00Z' FROM g"
        ))
        .unwrap();
    let o = w.ripcord(&["checkpoint", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    w.db()
        .execute_batch(
            "UPDATE invoices SET net_baisa = net_baisa + 1 WHERE id = 1000005; \
             DELETE FROM invoices WHERE id = 1000010; \
             INSERT INTO invoices (id, order_id, customer_id, net_baisa, vat_baisa, total_baisa, status, issued_at) \
               SELECT 2000000, order_id, customer_id, 1, 0, 1, 'open', issued_at FROM invoices WHERE id = 1000001",
        )
        .unwrap();
    let o = w.ripcord(&["verify", "-c", "billing", "--against", &id, "--json"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let j = json(&o);
    let t = j["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "invoices")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(t["changed"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["changed"][0]["key"][0], "1000005", "{t}");
    assert_eq!(t["missing_in_b"], serde_json::json!([["1000010"]]), "{t}");
    assert_eq!(t["missing_in_a"], serde_json::json!([["2000000"]]), "{t}");
    let rows = t["rows_a"].as_u64().unwrap();
    assert!(rows > ROWS as u64, "{t}");
    let held = t["stats"]["rows_held_peak"].as_u64().unwrap_or(u64::MAX);
    assert!(
        held > 0 && held <= 10_000,
        "{held} of {rows} checkpoint rows held at once: {t}"
    );
}

/// Issue #10 (the proof's speed): on PostgreSQL most live rows are matched against the
/// expected row from their COPY text without being read into values. A single changed
/// value among many rows, of any type, is still found, and so is a change in a row whose
/// text needs COPY escapes (left to the full reader); a row rewritten with the same values
/// is not reported.
#[test]
fn verify_against_a_checkpoint_finds_single_changes_on_postgres() {
    let db = FreshDb::new("postgres");
    let mut e = engine(&db.url);
    e.execute(
        "CREATE TABLE t (id bigint PRIMARY KEY, amount numeric(12,3), at timestamptz, \
           note text, data bytea, ok boolean, f double precision); \
         INSERT INTO t SELECT g, g / 1000.0, timestamptz '2026-01-01' + g * interval '1 second', \
           CASE WHEN g % 100 = 7 THEN E'tab\\there \\\\ back' WHEN g % 10 = 3 THEN NULL \
             ELSE 'محمد ' || g END, \
           decode(md5(g::text), 'hex'), g % 2 = 0, g / 7.0 FROM generate_series(1, 20000) g",
        Origin::Migration,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            "[project]\nstate_dir = \"{}\"\n[databases.db]\nurl = \"{}\"\n\
             [components.c]\ndatabase = \"db\"\ntables = [\"t\"]\n",
            dir.path().join("state").display(),
            db.url
        ),
    )
    .unwrap();
    let o = common::ripcord_in(dir.path(), &["checkpoint", "-c", "c"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = common::ripcord_in(dir.path(), &["verify", "-c", "c", "--against", &id], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    e.execute(
        "UPDATE t SET amount = amount + 0.001 WHERE id = 12345; \
         UPDATE t SET note = E'tab\\there \\\\ Back' WHERE id = 507; \
         UPDATE t SET data = '\\x00' WHERE id = 9000; \
         UPDATE t SET at = at + interval '1 microsecond' WHERE id = 1; \
         UPDATE t SET ok = NOT ok WHERE id = 20000; \
         UPDATE t SET f = NULL WHERE id = 4444; \
         UPDATE t SET note = note, amount = amount WHERE id BETWEEN 100 AND 200",
        Origin::Migration,
    )
    .unwrap();
    let o = common::ripcord_in(
        dir.path(),
        &["verify", "-c", "c", "--against", &id, "--json"],
        &[],
    );
    assert_eq!(code(&o), 3, "{}", text(&o));
    let j = json(&o);
    let t = &j["tables"][0];
    let changed: Vec<(String, Vec<String>)> = t["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"][0].as_str().unwrap().to_string(),
                c["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["column"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let want: Vec<(String, Vec<String>)> = [
        ("1", "at"),
        ("507", "note"),
        ("4444", "f"),
        ("9000", "data"),
        ("12345", "amount"),
        ("20000", "ok"),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), vec![c.to_string()]))
    .collect();
    assert_eq!(changed, want, "{t}");
    assert_eq!(t["rows_a"], 20000, "{t}");
    assert_eq!(t["rows_b"], 20000, "{t}");
    assert_eq!(t["missing_in_a"], serde_json::json!([]), "{t}");
    assert_eq!(t["missing_in_b"], serde_json::json!([]), "{t}");
}
