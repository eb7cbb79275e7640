//! `check --rehearse` on every engine: the newest checkpoint is restored into scratch
//! objects, verified and timed, the business tables are untouched, and the scratch is gone
//! afterwards, also when the rehearsal is over its target.

mod common;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::verify::Collect;

fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

fn setup(engine: &'static str, rto: &str) -> (FreshDb, tempfile::TempDir) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            r#"
[databases.legacy]
url = "{}"

[components.ledger]
database = "legacy"
tables = ["accounts", "codes"]
rto = "{rto}"
"#,
            db.url
        ),
    )
    .unwrap();
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let mut e = ctx.engine("legacy").unwrap();
    exec(
        e.as_mut(),
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(100) NOT NULL, balance DECIMAL(12,3))",
    );
    exec(
        e.as_mut(),
        "CREATE TABLE codes (code VARCHAR(20) PRIMARY KEY, label VARCHAR(50))",
    );
    let mut values = Vec::new();
    for i in 1..=500 {
        values.push(format!("({i}, 'عميل {i}', {i}.125)"));
    }
    exec(
        e.as_mut(),
        &format!("INSERT INTO accounts VALUES {}", values.join(", ")),
    );
    exec(
        e.as_mut(),
        "INSERT INTO codes VALUES ('b', 'bee'), ('a', NULL), ('ب', 'باء')",
    );
    (db, dir)
}

fn business(e: &mut dyn Engine) -> Vec<(String, Vec<ripcord_core::value::Row>)> {
    let mut c = Collect::default();
    e.snapshot(&["accounts".into(), "codes".into()], &mut c)
        .unwrap();
    c.tables
        .into_iter()
        .map(|(s, rows)| (s.name, rows))
        .collect()
}

fn scratch_left(engine: &str, e: &mut dyn Engine, dir: &std::path::Path, db: &FreshDb) -> i64 {
    match engine {
        "postgres" => match e
            .query_scalar(
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ripcord\\_rehearse%'",
            )
            .unwrap()
        {
            ripcord_core::value::Value::Int(n) => n,
            v => panic!("{v:?}"),
        },
        "mysql" => match e
            .query_scalar(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'ripcord\\_rehearse%'",
            )
            .unwrap()
        {
            ripcord_core::value::Value::Int(n) => n,
            v => panic!("{v:?}"),
        },
        _ => {
            let file = db.url.trim_start_matches("sqlite:");
            let folder = std::path::Path::new(file).parent().unwrap();
            let _ = dir;
            std::fs::read_dir(folder)
                .unwrap()
                .filter(|f| {
                    f.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .contains("ripcord_rehearse")
                })
                .count() as i64
        }
    }
}

fn rehearse_leaves_business_tables_untouched_and_no_scratch(engine: &'static str) {
    let (db, dir) = setup(engine, "15m");
    let o = ripcord_in(dir.path(), &["checkpoint"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let mut e = ctx.engine("legacy").unwrap();
    let before = business(e.as_mut());

    let o = ripcord_in(dir.path(), &["check", "--rehearse"], &[]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    assert!(
        t.contains("rehearse ledger") && t.contains("503 rows") && t.contains("verified, dropped"),
        "{t}"
    );
    assert_eq!(
        business(e.as_mut()),
        before,
        "the business tables are untouched"
    );
    assert_eq!(
        scratch_left(engine, e.as_mut(), dir.path(), &db),
        0,
        "scratch dropped"
    );

    // Over its recovery-time target: NO-GO, and the scratch is dropped all the same.
    let plan = dir.path().join("ripcord.toml");
    let p = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("\"15m\"", "\"1ns\"");
    std::fs::write(&plan, p).unwrap();
    let o = ripcord_in(dir.path(), &["check", "--rehearse"], &[]);
    let t = text(&o);
    assert_ne!(code(&o), 0, "{t}");
    assert!(t.contains("over the recovery-time target"), "{t}");
    assert_eq!(business(e.as_mut()), before);
    assert_eq!(scratch_left(engine, e.as_mut(), dir.path(), &db), 0);
}

#[test]
fn rehearse_on_postgres_leaves_business_tables_untouched_and_no_scratch() {
    rehearse_leaves_business_tables_untouched_and_no_scratch("postgres");
}

#[test]
fn rehearse_on_mariadb_leaves_business_tables_untouched_and_no_scratch() {
    rehearse_leaves_business_tables_untouched_and_no_scratch("mysql");
}

#[test]
fn rehearse_on_sqlite_leaves_business_tables_untouched_and_no_scratch() {
    rehearse_leaves_business_tables_untouched_and_no_scratch("sqlite");
}

/// `check --rehearse` failed on a plan naming `erp.orders`: the checkpoint's DDL created
/// the table in `erp` (where it exists) and the scratch was looked up as `"erp.orders"`.
#[test]
fn rehearse_failed_on_schema_qualified_postgres_tables() {
    let db = FreshDb::new("postgres");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            r#"
[databases.legacy]
url = "{}"

[components.sales]
database = "legacy"
tables = ["customers", "erp.orders", "erp.Lines"]
rto = "15m"
"#,
            db.url
        ),
    )
    .unwrap();
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let mut e = ctx.engine("legacy").unwrap();
    exec(
        e.as_mut(),
        "CREATE SCHEMA erp;
         CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE erp.orders (id serial PRIMARY KEY,
             customer_id int NOT NULL REFERENCES customers(id), total numeric(10,2) CHECK (total >= 0));
         CREATE INDEX orders_customer ON erp.orders (customer_id);
         CREATE TABLE erp.\"Lines\" (order_id int REFERENCES erp.orders(id), n int,
             qty int GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (order_id, n));
         INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20) g;
         INSERT INTO erp.orders (customer_id, total) SELECT g, g * 1.5 FROM generate_series(1, 20) g;
         INSERT INTO erp.\"Lines\" (order_id, n) SELECT g, 1 FROM generate_series(1, 20) g;",
    );
    let o = ripcord_in(dir.path(), &["checkpoint"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    const ERP_OBJECTS: &str = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'erp'";
    let erp_objects = e.query_scalar(ERP_OBJECTS).unwrap();
    let before = {
        let mut c = Collect::default();
        e.snapshot(
            &["customers".into(), "erp.orders".into(), "erp.Lines".into()],
            &mut c,
        )
        .unwrap();
        c.tables
    };

    let o = ripcord_in(dir.path(), &["check", "--rehearse", "--json"], &[]);
    let t = text(&o);
    assert_eq!(code(&o), 0, "{t}");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rehearsal = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "rehearsal")
        .unwrap_or_else(|| panic!("no rehearsal item: {t}"));
    assert_eq!(rehearsal["status"], "go", "{t}");
    assert_eq!(rehearsal["figures"]["rows"], 60, "{t}");
    assert_eq!(rehearsal["figures"]["verified"], true, "{t}");

    let mut c = Collect::default();
    e.snapshot(
        &["customers".into(), "erp.orders".into(), "erp.Lines".into()],
        &mut c,
    )
    .unwrap();
    assert_eq!(c.tables, before, "the business tables are untouched");
    assert_eq!(scratch_left("postgres", e.as_mut(), dir.path(), &db), 0);
    // Nothing of the scratch landed in the business schema either.
    assert_eq!(e.query_scalar(ERP_OBJECTS).unwrap(), erp_objects);
}
