//! One conformance suite for every engine: checkpoint, capture, a migration with a schema
//! change and damaging writes, business writes, rollback with replay, the proof, and kill
//! and resume through the real binary. Each test runs in its own fresh database.

mod common;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::rollback::{self, Request};
use ripcord_core::value::Value;
use ripcord_core::verify::Collect;
use std::collections::BTreeMap;

const DDL: &[&str] = &[
    "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance DECIMAL(12,3) NOT NULL, note TEXT)",
    "CREATE TABLE transfers (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, amount DECIMAL(12,3) NOT NULL, memo VARCHAR(200))",
];

fn plan(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("ripcord.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[databases.legacy]
url = "{url}"

[components.ledger]
database = "legacy"
tables = ["accounts", "transfers"]
priority = "critical"
rto = "15m"

# The new `tier` column has no place in the legacy table; losing it on rollback is accepted.
[components.ledger.reverse.accounts]
ignore = ["tier"]

[[components.ledger.invariants]]
name = "no negative balance"
sql = "SELECT COUNT(*) FROM accounts WHERE balance < 0"
expect = 0

[[steps]]
name = "add tier"
component = "ledger"
forward = "ALTER TABLE accounts ADD COLUMN tier INT"

[[steps]]
name = "re-rate balances (the bug)"
component = "ledger"
forward = "UPDATE accounts SET balance = balance * 2, note = 'rated' WHERE id % 5 = 0"
"#
        ),
    )
    .unwrap();
    p
}

fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

/// owner, balance, note per account id: what the legacy table must hold after rollback.
type Model = BTreeMap<i64, (String, f64, Option<String>)>;

fn setup(engine: &'static str) -> (FreshDb, tempfile::TempDir, std::path::PathBuf, Model) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path(), &db.url);
    let ctx = ctx_for(&plan);
    let mut e = ctx.engine("legacy").unwrap();
    for d in DDL {
        exec(e.as_mut(), d);
    }
    let mut model = Model::new();
    let mut values = Vec::new();
    for id in 1..=120i64 {
        let owner = if id % 3 == 0 {
            format!("شركة الرواحي {id}")
        } else {
            format!("Owner {id}")
        };
        let balance = (id * 1234 % 100_000) as f64 / 1000.0;
        values.push(format!("({id}, '{owner}', {balance:.3}, NULL)"));
        model.insert(id, (owner, balance, None));
    }
    exec(
        e.as_mut(),
        &format!(
            "INSERT INTO accounts (id, owner, balance, note) VALUES {}",
            values.join(", ")
        ),
    );
    exec(
        e.as_mut(),
        "INSERT INTO transfers (id, account_id, amount, memo) VALUES (1, 1, 10.500, 'seed'), (2, 2, 0.001, NULL)",
    );
    (db, dir, plan, model)
}

/// Business writes on the migrated tables; updates `model` with what must survive.
fn business(e: &mut dyn Engine, model: &mut Model) {
    for id in 1000..1040i64 {
        exec(
            e,
            &format!(
                "INSERT INTO accounts (id, owner, balance, note, tier) VALUES ({id}, 'new {id} — عميل', 5.250, 'opened', 2)"
            ),
        );
        model.insert(
            id,
            (format!("new {id} — عميل"), 5.25, Some("opened".into())),
        );
    }
    // Owners renamed on accounts the migration damaged (id % 5 == 0) and on clean ones: only
    // the owner comes back; the doubled balance and the 'rated' note do not.
    for id in (5..=60i64).step_by(5).chain([7, 11, 13]) {
        exec(
            e,
            &format!("UPDATE accounts SET owner = 'renamed {id}' WHERE id = {id}"),
        );
        model.get_mut(&id).unwrap().0 = format!("renamed {id}");
    }
    // A business balance change on a damaged row: the business value wins (a conflict).
    exec(e, "UPDATE accounts SET balance = 99.999 WHERE id = 10");
    model.get_mut(&10).unwrap().1 = 99.999;
    for id in [2i64, 4, 1005, 1006] {
        exec(e, &format!("DELETE FROM accounts WHERE id = {id}"));
        model.remove(&id);
    }
    exec(
        e,
        "INSERT INTO transfers (id, account_id, amount, memo) VALUES (3, 1000, 1.000, 'تحويل'), (4, 3, 2.000, NULL)",
    );
    exec(e, "UPDATE transfers SET memo = 'corrected' WHERE id = 2");
    exec(e, "DELETE FROM transfers WHERE id = 1");
}

fn check_model(e: &mut dyn Engine, model: &Model) {
    let mut c = Collect::default();
    e.snapshot(&["accounts".into(), "transfers".into()], &mut c)
        .unwrap();
    let (schema, rows) = &c.tables[0];
    assert_eq!(
        schema.column_names(),
        vec!["id", "owner", "balance", "note"],
        "the legacy shape is back"
    );
    let got: Model = rows
        .iter()
        .map(|r| {
            let id = match &r[0] {
                Value::Int(i) => *i,
                other => other.as_f64().unwrap() as i64,
            };
            let text = |v: &Value| match v {
                Value::Text(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            };
            (
                id,
                (text(&r[1]).unwrap(), r[2].as_f64().unwrap(), text(&r[3])),
            )
        })
        .collect();
    assert_eq!(got.len(), model.len());
    for (id, want) in model {
        let have = &got[id];
        assert_eq!(have.0, want.0, "owner of {id}");
        assert!(
            (have.1 - want.1).abs() < 0.0005,
            "balance of {id}: {} vs {}",
            have.1,
            want.1
        );
        assert_eq!(have.2, want.2, "note of {id}");
    }
    let transfers: Vec<String> = c.tables[1]
        .1
        .iter()
        .map(|r| format!("{}:{}", r[0], r[3]))
        .collect();
    assert_eq!(transfers, vec!["2:\"corrected\"", "3:\"تحويل\"", "4:NULL"]);
}

fn rollback_with_replay(engine: &'static str) {
    let (_db, _dir, plan, mut model) = setup(engine);
    let mut ctx = ctx_for(&plan);
    ripcord_core::run::run(&mut ctx).unwrap();
    let mut e = ctx.engine("legacy").unwrap();
    business(e.as_mut(), &mut model);
    let req = Request {
        components: vec!["ledger".into()],
        to: None,
        reason: "conformance".into(),
        accept_uncaptured: false,
    };
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some("tester".into())).unwrap();
    assert!(
        rec.ok(),
        "{}",
        ripcord::render::rollback_record_markdown(&rec)
    );
    assert_eq!(rec.figures.lost, 0);
    assert!(rec.figures.at_risk >= 60, "{:?}", rec.figures);
    assert_eq!(rec.figures.recovered, rec.figures.at_risk);
    assert!(
        rec.conflicts
            .iter()
            .any(|c| c.key == "10" && c.columns == vec!["balance".to_string()]),
        "{:?}",
        rec.conflicts
    );
    let mut e = ctx.engine("legacy").unwrap();
    check_model(e.as_mut(), &model);
    assert!(e.frozen_tables().unwrap().is_empty());
    // Capture is back on the restored tables: a later write is journaled.
    assert!(
        e.captured_tables()
            .unwrap()
            .contains(&"accounts".to_string())
    );
}

fn kill_and_resume(engine: &'static str) {
    for point in ["freeze:after", "restore:mid", "replay:mid", "verify:before"] {
        let (_db, dir, plan, mut model) = setup(engine);
        let mut ctx = ctx_for(&plan);
        ripcord_core::run::run(&mut ctx).unwrap();
        let mut e = ctx.engine("legacy").unwrap();
        business(e.as_mut(), &mut model);
        drop(e);
        let bin = env!("CARGO_BIN_EXE_ripcord");
        let o = std::process::Command::new(bin)
            .current_dir(dir.path())
            .env("RIPCORD_CRASH_AT", point)
            .args(["rollback", "-c", "ledger", "--yes", "--reason", "kill"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), None, "{engine} {point}: {}", text(&o));
        let o = std::process::Command::new(bin)
            .current_dir(dir.path())
            .args(["rollback", "--resume"])
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{engine} resume after {point}: {}", text(&o));
        let mut e = ctx.engine("legacy").unwrap();
        check_model(e.as_mut(), &model);
        assert!(e.frozen_tables().unwrap().is_empty());
    }
}

/// The demo story, end to end through the binary, on this engine.
fn demo(engine: &'static str) {
    let db = FreshDb::new(engine);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .args(["demo", "--url", &db.url])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains(" 0 records lost")
            && t.contains("0 missing or wrong")
            && t.contains("audit chain: intact"),
        "{t}"
    );
}

/// `ripcord demo --story parallel-universe`: cutover, live sync, a red rule, rollback by
/// switch, the next write on legacy, nothing lost (SQLite only; CI runs it too).
#[test]
fn demo_story_parallel_universe() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .args(["demo", "--story", "parallel-universe"])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    for needle in [
        "rollback by switch flip (switch path)",
        "0 missing, 0 unexpected",
        "500 seed orders kept",
        "0 written to the new side after the rollback",
        "new side fenced: yes",
        "audit chain: intact",
        " 0 records lost",
    ] {
        assert!(t.contains(needle), "lacks {needle:?}: {t}");
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .args([
            "demo",
            "--story",
            "parallel-universe",
            "--url",
            "sqlite:x.db",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", text(&o));
}

macro_rules! conformance {
    ($engine:ident) => {
        mod $engine {
            #[test]
            fn demo() {
                super::demo(stringify!($engine));
            }
            #[test]
            fn rollback_with_replay() {
                super::rollback_with_replay(stringify!($engine));
            }
            #[test]
            fn kill_and_resume() {
                super::kill_and_resume(stringify!($engine));
            }
        }
    };
}

conformance!(sqlite);
conformance!(mysql);
conformance!(postgres);
