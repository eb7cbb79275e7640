//! The guarded-runs "done when" demo, through the real binary: a plan with probes and
//! rules runs a migration on PostgreSQL whose bug makes a probe go red; ripcord stops it,
//! rolls back, runs the continuity checks and reports.

mod common;

use common::{FreshDb, code, text};
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// A payroll front end on loopback: answers 200 "ok" to every request.
fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            });
        }
    });
    port
}

fn pg(url: &str) -> ripcord_postgres::PgEngine {
    ripcord_postgres::PgEngine::open(url).unwrap()
}

#[test]
fn a_buggy_migration_goes_red_is_stopped_rolled_back_and_checked() {
    let db = FreshDb::new("postgres");
    pg(&db.url)
        .execute(
            "CREATE TABLE employees (id int PRIMARY KEY, name text NOT NULL);
             CREATE TABLE payslips (id int PRIMARY KEY, employee_id int NOT NULL, gross_pay numeric(12,2) NOT NULL, deductions numeric(12,2) NOT NULL, net_pay numeric(12,2) NOT NULL);
             INSERT INTO employees SELECT g, 'employee ' || g FROM generate_series(1, 50) g;
             INSERT INTO payslips SELECT g, g, 5000 + g, 1000, 4000 + g FROM generate_series(1, 50) g;",
            Origin::Business,
        )
        .unwrap();
    let port = http_server();
    let dir = tempfile::tempdir().unwrap();
    let plan = format!(
        r#"
[databases.payroll]
url = "{url}"

[components.payroll]
database = "payroll"
tables = ["employees", "payslips"]
priority = "critical"

[[steps]]
name = "add the allowance column"
component = "payroll"
forward = "ALTER TABLE payslips ADD COLUMN allowance numeric(12,2) NOT NULL DEFAULT 150"

[[steps]]
name = "recalculate net pay"
component = "payroll"
# The bug: the allowance is added to net pay but was already part of gross pay.
forward = "UPDATE payslips SET net_pay = gross_pay + allowance - deductions"

[[steps]]
name = "rebuild payslip reports"
component = "payroll"
forward = "SELECT pg_sleep(30)"
timeout = "2m"

[guard]
baseline_samples = 3
baseline_interval = "50ms"

[[probe]]
name = "payslip_mismatches"
kind = "sql"
database = "payroll"
sql = "SELECT count(*) FROM payslips WHERE net_pay <> gross_pay - deductions"
interval = "100ms"
timeout = "80ms"

[[probe]]
name = "payslips_balance"
kind = "sql"
database = "payroll"
sql = "SELECT count(*) FROM payslips WHERE net_pay = gross_pay - deductions"
tier = "optional"

[[probe]]
name = "issue_payslip"
kind = "http"
url = "http://127.0.0.1:{port}/workflows/issue-payslip"
tier = "optional"

[[rule]]
trigger = "data corruption"
name = "payslips corrupted"
when = "payslip_mismatches > baseline.payslip_mismatches.p95"
for = "200ms"
level = "red"
scenario = "data_corruption"

[[workflow]]
name = "every payslip balances"
probe = "payslips_balance"
expect = "value == 50.0"

[[workflow]]
name = "issue payslip"
probe = "issue_payslip"
"#,
        url = db.url
    );
    std::fs::write(dir.path().join("ripcord.toml"), plan).unwrap();
    let ripcord = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(dir.path())
            .args(args)
            .env("RIPCORD_ACTOR", "tester")
            .output()
            .unwrap()
    };

    let b = ripcord(&["baseline"]);
    assert_eq!(code(&b), 0, "{}", text(&b));
    assert!(text(&b).contains("payslip_mismatches"), "{}", text(&b));

    let t = std::time::Instant::now();
    let r = ripcord(&["run"]);
    let out = text(&r);
    assert_eq!(code(&r), 4, "{out}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(25),
        "the long step was cancelled"
    );
    assert!(
        out.contains("STOPPED by rule \"payslips corrupted\""),
        "{out}"
    );
    assert!(
        out.contains("step \"rebuild payslip reports\" cancelled"),
        "{out}"
    );
    assert!(
        out.contains("decision: rollback_now for scenario data_corruption"),
        "{out}"
    );
    assert!(out.contains("completed, verified"), "{out}");
    assert!(out.contains("| every payslip balances | passed |"), "{out}");
    assert!(out.contains("| issue payslip | passed |"), "{out}");
    assert!(out.contains("the run is resolved"), "{out}");

    // The payslips are back as they were before the run; the new column is gone.
    let mut e = pg(&db.url);
    assert_eq!(
        e.query_scalar("SELECT count(*) FROM payslips WHERE net_pay = gross_pay - deductions")
            .unwrap()
            .to_string(),
        "50"
    );
    assert_eq!(
        e.query_scalar("SELECT count(*) FROM information_schema.columns WHERE table_name = 'payslips' AND column_name = 'allowance'")
            .unwrap()
            .to_string(),
        "0"
    );

    let st = ripcord(&["status", "--json"]);
    assert_eq!(code(&st), 0, "{}", text(&st));
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(j["schema"], 1);
    assert_eq!(j["run"]["status"], "resolved");
    assert_eq!(j["live"], false);
    assert_eq!(j["level"], "red");
    assert!(j["open_decisions"].as_array().unwrap().is_empty());
    let probe = j["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "payslip_mismatches")
        .unwrap();
    assert_eq!(probe["baseline"]["median"], 0.0);
    assert_eq!(probe["last"]["outcome"], "measured");

    let rep = ripcord(&["report"]);
    assert!(
        text(&rep).contains("continuity check \"issue payslip\": passed"),
        "{}",
        text(&rep)
    );
    let audit = ripcord(&["audit", "verify"]);
    assert_eq!(code(&audit), 0, "{}", text(&audit));
    let export = text(&ripcord(&["audit", "export"]));
    for action in [
        "guard.level",
        "run.stop",
        "guard.decision",
        "rollback.start",
        "guard.continuity",
        "guard.resolved",
    ] {
        assert!(
            export.contains(&format!("\"action\":\"{action}\"")),
            "no {action} in the audit log"
        );
    }
}
