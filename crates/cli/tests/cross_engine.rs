//! MariaDB legacy → PostgreSQL new, with the documented example plan: the legacy component
//! is checkpointed in MariaDB, business writes land in PostgreSQL, a rollback carries them
//! back into MariaDB through the reverse mapping and the type correspondence, and the one
//! value that cannot fit is a data gap, not a silent loss.

mod common;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::rollback::{self, Request};
use ripcord_core::value::Value;

fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

#[test]
fn mariadb_legacy_gets_every_business_write_made_in_postgresql() {
    let legacy = FreshDb::new("mysql");
    let new = FreshDb::new("postgres");
    let dir = tempfile::tempdir().unwrap();
    let plan = ripcord::commands::example_plan("erp-mariadb-to-postgres")
        .replace("${LEGACY_URL}", &legacy.url)
        .replace("${NEW_URL}", &new.url);
    std::fs::write(dir.path().join("ripcord.toml"), plan).unwrap();
    let mut ctx = ctx_for(&dir.path().join("ripcord.toml"));

    let mut l = ctx.engine("legacy").unwrap();
    exec(
        l.as_mut(),
        "CREATE TABLE customers (id BIGINT PRIMARY KEY, full_name VARCHAR(60) NOT NULL, balance DECIMAL(12,3) NOT NULL, joined_at DATETIME(6) NOT NULL, vip TINYINT(1) NOT NULL, profile JSON, code CHAR(36))",
    );
    let mut n = ctx.engine("new").unwrap();
    exec(
        n.as_mut(),
        "CREATE TABLE customers (id bigint PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, balance numeric(12,3) NOT NULL, joined_at timestamptz NOT NULL, vip boolean NOT NULL, profile jsonb, code uuid, loyalty int)",
    );
    let mut lrows = Vec::new();
    let mut nrows = Vec::new();
    for id in 1..=30 {
        let (first, last) = if id % 2 == 0 {
            ("سالم".to_string(), format!("الحارثي{id}"))
        } else {
            ("Aisha".to_string(), format!("Al Saadi {id}"))
        };
        lrows.push(format!(
            "({id}, '{first} {last}', {id}.125, '2025-01-{:02} 08:00:00.000001', {}, NULL, NULL)",
            id % 28 + 1,
            id % 2
        ));
        nrows.push(format!("({id}, '{first}', '{last}', {id}.125, '2025-01-{:02} 08:00:00.000001+00', {}, NULL, NULL, 0)", id % 28 + 1, id % 2 == 1));
    }
    exec(
        l.as_mut(),
        &format!("INSERT INTO customers VALUES {}", lrows.join(", ")),
    );
    exec(
        n.as_mut(),
        &format!("INSERT INTO customers VALUES {}", nrows.join(", ")),
    );
    // Cutover: checkpoint the legacy component; capture turns on in PostgreSQL.
    ripcord_core::checkpoint::take(&mut ctx, &["customers".to_string()]).unwrap();

    // The business works in PostgreSQL.
    exec(
        n.as_mut(),
        "INSERT INTO customers VALUES (100, 'Fatma', 'Al Kindi', 12.5, '2026-11-21 10:00:00.123456+04', true, '{\"tier\": \"gold\"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 7)",
    );
    exec(
        n.as_mut(),
        "UPDATE customers SET balance = 99.999, vip = true WHERE id = 2",
    );
    exec(
        n.as_mut(),
        "UPDATE customers SET last_name = 'البلوشي' WHERE id = 3",
    );
    exec(n.as_mut(), "UPDATE customers SET loyalty = 5 WHERE id = 4");
    exec(n.as_mut(), "DELETE FROM customers WHERE id = 5");
    exec(
        n.as_mut(),
        &format!(
            "INSERT INTO customers VALUES (101, 'Khalid', '{}', 1, '2026-11-21 10:00:00+00', false, NULL, NULL, NULL)",
            "x".repeat(80)
        ),
    );

    let req = Request {
        components: vec!["customers".into()],
        to: None,
        reason: "cross-engine".into(),
        accept_uncaptured: false,
    };
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some("tester".into())).unwrap();
    let report = ripcord::render::rollback_record_markdown(&rec);
    assert!(rec.proof.as_ref().unwrap().ok(), "{report}");
    assert_eq!(rec.figures.at_risk, 6, "{report}");
    assert_eq!(rec.gaps.len(), 1, "{report}");
    assert_eq!(rec.figures.recovered, 5, "{report}");
    assert!(
        matches!(
            &rec.gaps[0].cause,
            ripcord_core::events::GapReason::ValueNotCarried { column, error }
                if column == "full_name" && error.contains("does not fit varchar(60)")
        ),
        "{:?}",
        rec.gaps[0]
    );
    assert_eq!(rec.gaps[0].key, "101");

    let mut l = ctx.engine("legacy").unwrap();
    let one = |l: &mut dyn Engine, sql: &str| l.query_scalar(sql).unwrap();
    assert_eq!(
        one(l.as_mut(), "SELECT full_name FROM customers WHERE id = 100"),
        Value::Text("Fatma Al Kindi".into())
    );
    assert_eq!(
        one(
            l.as_mut(),
            "SELECT CAST(joined_at AS CHAR) FROM customers WHERE id = 100"
        ),
        Value::Text("2026-11-21 06:00:00.123456".into())
    );
    assert_eq!(
        one(l.as_mut(), "SELECT vip FROM customers WHERE id = 100"),
        Value::Int(1)
    );
    assert_eq!(
        one(
            l.as_mut(),
            "SELECT CAST(balance AS CHAR) FROM customers WHERE id = 2"
        ),
        Value::Text("99.999".into())
    );
    assert_eq!(
        one(l.as_mut(), "SELECT vip FROM customers WHERE id = 2"),
        Value::Int(1)
    );
    assert_eq!(
        one(l.as_mut(), "SELECT full_name FROM customers WHERE id = 3"),
        Value::Text("Aisha البلوشي".into())
    );
    assert_eq!(
        one(
            l.as_mut(),
            "SELECT JSON_VALUE(profile, '$.tier') FROM customers WHERE id = 100"
        ),
        Value::Text("gold".into())
    );
    assert_eq!(
        one(l.as_mut(), "SELECT code FROM customers WHERE id = 100"),
        Value::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())
    );
    assert_eq!(
        one(
            l.as_mut(),
            "SELECT COUNT(*) FROM customers WHERE id IN (5, 101)"
        ),
        Value::Int(0)
    );
    assert_eq!(
        one(l.as_mut(), "SELECT COUNT(*) FROM customers"),
        Value::Int(30)
    );
    assert!(l.frozen_tables().unwrap().is_empty());
    assert!(
        ctx.engine("new")
            .unwrap()
            .frozen_tables()
            .unwrap()
            .is_empty()
    );
}
