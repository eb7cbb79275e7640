//! ripcord's lifecycle in the customer's database: read-only commands create nothing (also
//! for a role that may only read), `install` creates what ripcord needs, `uninstall` takes
//! every object away again, so the schema dump is byte for byte what it was. On PostgreSQL
//! the plan names a table in another schema (`erp.orders`), which capture, checkpoint,
//! rollback and uninstall must all handle.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn psql(url: &str, sql: &str) -> String {
    run(Command::new("psql").args([url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql]))
}

fn pg_dump(url: &str) -> String {
    // A fixed restrict key: pg_dump otherwise writes a random one into every dump.
    run(Command::new("pg_dump").args(["--schema-only", "--restrict-key=ripcord", url]))
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

fn mariadb(url: &str, sql: &str) -> String {
    run(Command::new("mariadb").args(["-h", "127.0.0.1", "-uroot", "-N", db_name(url), "-e", sql]))
}

fn mysqldump(url: &str) -> String {
    run(Command::new("mysqldump").args([
        "-h",
        "127.0.0.1",
        "-uroot",
        "--no-data",
        "--skip-dump-date",
        "--triggers",
        "--routines",
        "--events",
        db_name(url),
    ]))
}

fn sqlite_schema(url: &str) -> String {
    let c = rusqlite::Connection::open(url.trim_start_matches("sqlite:")).unwrap();
    let mut st = c
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?
        ))
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
    .join("\n")
}

fn write_plan(dir: &Path, url: &str, tables: &str, extra: &str) {
    std::fs::write(
        dir.join("ripcord.toml"),
        format!(
            r#"
[databases.shop]
url = "{url}"
{extra}

[components.sales]
database = "shop"
tables = [{tables}]
priority = "critical"
rto = "15m"

[[components.sales.invariants]]
name = "no negative total"
sql = "SELECT COUNT(*) FROM {orders} WHERE total < 0"
expect = 0
"#,
            orders = if tables.contains("erp.orders") {
                "erp.orders"
            } else {
                "orders"
            }
        ),
    )
    .unwrap();
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = ripcord_in(dir, args, &[]);
    assert_eq!(code(&o), 0, "ripcord {args:?}: {}", text(&o));
    text(&o)
}

const PG_SCHEMA: &str = "CREATE SCHEMA erp;
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
    CREATE TABLE erp.orders (id serial PRIMARY KEY,
        customer_id int NOT NULL REFERENCES customers(id), total numeric(10,2));
    CREATE INDEX orders_customer ON erp.orders (customer_id);
    INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 20) g;
    INSERT INTO erp.orders (customer_id, total) SELECT g, g * 1.5 FROM generate_series(1, 20) g;";

/// A login role that may only read, dropped after the database that grants to it.
struct Reader(String);

impl Reader {
    fn new() -> Self {
        let name = format!("ripcord_reader_{}", std::process::id());
        psql(
            "postgres://postgres@127.0.0.1:5432/postgres",
            &format!("DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN"),
        );
        Reader(name)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "postgres://postgres@127.0.0.1:5432/postgres",
                "-qc",
                &format!("DROP ROLE IF EXISTS {}", self.0),
            ])
            .output();
    }
}

#[test]
fn check_on_a_fresh_postgres_database_creates_nothing_and_works_for_a_read_only_role() {
    let reader = Reader::new();
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    // SELECT and USAGE only: no CREATE on the database or any schema.
    psql(
        &db.url,
        &format!(
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             REVOKE CREATE, TEMPORARY ON DATABASE {d} FROM PUBLIC;
             GRANT USAGE ON SCHEMA erp TO {r};
             GRANT SELECT ON ALL TABLES IN SCHEMA public, erp TO {r};
             GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, erp TO {r};",
            d = db_name(&db.url),
            r = reader.0
        ),
    );
    let before = pg_dump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    let ro_url = db.url.replace("postgres@", &format!("{}@", reader.0));
    write_plan(dir.path(), &ro_url, r#""customers", "erp.orders""#, "");

    let o = ripcord_in(dir.path(), &["check"], &[]);
    let t = text(&o);
    // NO-GO (no checkpoint, capture off), not a crash, and it names what is missing.
    assert_eq!(code(&o), 3, "{t}");
    assert!(
        t.contains("ripcord is not installed in database shop (run `ripcord install -d shop`"),
        "{t}"
    );
    assert!(!t.contains("permission denied"), "{t}");
    assert!(
        t.contains("table sales.erp.orders") && t.contains("exists, has a primary key"),
        "{t}"
    );
    // The other commands that only look.
    ok(dir.path(), &["verify"]);
    ok(dir.path(), &["capture", "status"]);
    ok(dir.path(), &["checkpoints"]);
    // The diff engine takes the qualified name, and finds the foreign key across schemas.
    psql(
        &db.url,
        "SET session_replication_role = replica;
         INSERT INTO erp.orders (customer_id, total) VALUES (999, 1);",
    );
    let o = ripcord_in(
        dir.path(),
        &["diff", "shop", "shop", "-t", "erp.orders"],
        &[],
    );
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("erp.orders(customer_id) → customers(id)"),
        "{}",
        text(&o)
    );
    let dry = ok(dir.path(), &["install", "--dry-run"]);
    for object in [
        "ripcord",
        "_ripcord_journal",
        "_ripcord_capture()",
        "_ripcord_freeze()",
        "_ripcord_journal_txid",
    ] {
        assert!(dry.contains(object), "{object} missing from {dry}");
    }
    assert!(
        dry.contains("would create") && dry.contains("nothing was created"),
        "{dry}"
    );
    ok(dir.path(), &["uninstall", "--dry-run"]);
    assert_eq!(
        pg_dump(&db.url),
        before,
        "a read-only command changed the schema"
    );

    // Installing needs more than reading, and says where it failed.
    let o = ripcord_in(dir.path(), &["install"], &[]);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("permission denied"), "{}", text(&o));
    assert_eq!(pg_dump(&db.url), before);
}

#[test]
fn postgres_uninstall_after_capture_checkpoint_writes_and_rollback_leaves_pg_dump_byte_identical() {
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    let before = pg_dump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), &db.url, r#""customers", "erp.orders""#, "");

    ok(dir.path(), &["install"]);
    // Everything in ripcord's schema; nothing of ripcord's in the business schemas.
    let ours = psql(
        &db.url,
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname LIKE '\\_ripcord\\_%' ORDER BY 1",
    );
    assert!(ours.contains("ripcord._ripcord_journal"), "{ours}");
    assert!(
        !ours.contains("public.") && !ours.contains("erp."),
        "{ours}"
    );
    let funcs = psql(
        &db.url,
        "SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE p.proname LIKE '\\_ripcord\\_%' ORDER BY 1",
    );
    assert_eq!(
        funcs.trim(),
        "ripcord._ripcord_capture\nripcord._ripcord_freeze"
    );

    ok(dir.path(), &["capture", "start"]);
    ok(dir.path(), &["checkpoint"]);
    psql(
        &db.url,
        "INSERT INTO customers VALUES (21, 'new');
         INSERT INTO erp.orders (customer_id, total) VALUES (21, 7);
         UPDATE erp.orders SET total = 99 WHERE id = 3;
         DELETE FROM erp.orders WHERE id = 4;",
    );
    // The journal records the table as the plan names it.
    let journal = psql(
        &db.url,
        "SELECT tbl || ':' || op FROM ripcord._ripcord_journal ORDER BY seq",
    );
    assert_eq!(
        journal.trim(),
        "customers:I\nerp.orders:I\nerp.orders:U\nerp.orders:D"
    );
    // A rollback restores erp.orders (its sequence, index, foreign key) and carries the
    // business writes back onto it.
    let rb = ok(
        dir.path(),
        &[
            "rollback",
            "-c",
            "sales",
            "--reason",
            "lifecycle test",
            "--yes",
        ],
    );
    assert!(rb.contains("| lost (data gaps) | 0 |"), "{rb}");
    assert_eq!(
        psql(&db.url, "SELECT count(*), sum(total) FROM erp.orders").trim(),
        "20|410.50"
    );

    // The checkpoint still needs the journal: uninstall refuses and removes nothing.
    let o = ripcord_in(dir.path(), &["uninstall"], &[]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(
        text(&o).contains("needs the journal kept here"),
        "{}",
        text(&o)
    );
    assert!(
        psql(
            &db.url,
            "SELECT to_regclass('ripcord._ripcord_journal')::text"
        )
        .contains("_ripcord_journal")
    );
    let o = ripcord_in(dir.path(), &["uninstall", "--force"], &[]);
    assert_eq!(code(&o), 2, "--force without --reason: {}", text(&o));

    let out = ok(
        dir.path(),
        &["uninstall", "--force", "--reason", "lifecycle test"],
    );
    assert!(
        out.contains("_ripcord_cap_orders") && out.contains("erp.orders"),
        "{out}"
    );
    assert_eq!(pg_dump(&db.url), before);
    let audit = ok(dir.path(), &["audit", "show"]);
    assert!(audit.contains("uninstall"), "{audit}");
}

#[test]
fn postgres_ripcord_schema_from_the_plan_holds_every_object_and_goes_with_uninstall() {
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    let before = pg_dump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        &db.url,
        r#""customers", "erp.orders""#,
        r#"ripcord_schema = "ops_ripcord""#,
    );
    ok(dir.path(), &["capture", "start"]);
    let trigger_fn = psql(
        &db.url,
        "SELECT DISTINCT n.nspname FROM pg_trigger g JOIN pg_proc p ON p.oid = g.tgfoid
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE g.tgname LIKE '\\_ripcord\\_%'",
    );
    assert_eq!(trigger_fn.trim(), "ops_ripcord");
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'ripcord'"
        )
        .trim(),
        "0"
    );
    ok(dir.path(), &["checkpoint"]);
    psql(&db.url, "UPDATE customers SET name = 'x' WHERE id = 1");
    assert_eq!(
        psql(&db.url, "SELECT count(*) FROM ops_ripcord._ripcord_journal").trim(),
        "1"
    );
    ok(dir.path(), &["uninstall", "--force", "--reason", "test"]);
    assert_eq!(pg_dump(&db.url), before);
}

#[test]
fn postgres_uninstall_keeps_a_schema_ripcord_did_not_create() {
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    // Empty, so only knowing that ripcord did not create it keeps it.
    psql(&db.url, "CREATE SCHEMA ops");
    let before = pg_dump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        &db.url,
        r#""customers""#,
        r#"ripcord_schema = "ops""#,
    );
    ok(dir.path(), &["install"]);
    assert!(!ok(dir.path(), &["install", "--dry-run"]).contains("would create"));
    ok(dir.path(), &["uninstall"]);
    assert_eq!(
        psql(
            &db.url,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'ops'"
        )
        .trim(),
        "1"
    );
    assert_eq!(pg_dump(&db.url), before);
}

#[test]
fn mariadb_uninstall_after_capture_checkpoint_writes_and_rollback_leaves_mysqldump_identical() {
    let db = FreshDb::new("mysql");
    mariadb(
        &db.url,
        "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);
         CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2),
             KEY orders_customer (customer_id), FOREIGN KEY (customer_id) REFERENCES customers(id));
         CREATE TRIGGER business_audit BEFORE UPDATE ON customers FOR EACH ROW SET NEW.name = NEW.name;
         INSERT INTO customers VALUES (1,'a'),(2,'b'),(3,'c');
         INSERT INTO orders VALUES (1,1,1.5),(2,2,2.5),(3,3,3.5);",
    );
    let before = mysqldump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), &db.url, r#""customers", "orders""#, "");
    let o = ripcord_in(dir.path(), &["check"], &[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains("ripcord is not installed in database shop"),
        "{}",
        text(&o)
    );
    assert_eq!(mysqldump(&db.url), before, "check changed the schema");

    ok(dir.path(), &["install"]);
    ok(dir.path(), &["capture", "start"]);
    ok(dir.path(), &["checkpoint"]);
    mariadb(
        &db.url,
        "INSERT INTO customers VALUES (4,'d'); UPDATE orders SET total = 9 WHERE id = 2;
         DELETE FROM orders WHERE id = 3;",
    );
    let rb = ok(
        dir.path(),
        &[
            "rollback",
            "-c",
            "sales",
            "--reason",
            "lifecycle test",
            "--yes",
        ],
    );
    assert!(rb.contains("| lost (data gaps) | 0 |"), "{rb}");
    let o = ripcord_in(dir.path(), &["uninstall"], &[]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    ok(dir.path(), &["uninstall", "--force", "--reason", "test"]);
    assert_eq!(mysqldump(&db.url), before);
    assert_eq!(
        mariadb(
            &db.url,
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"
        )
        .trim(),
        "1",
        "the business's own trigger stays"
    );
}

#[test]
fn sqlite_uninstall_after_capture_checkpoint_writes_and_rollback_leaves_sqlite_master_identical() {
    let db = FreshDb::new("sqlite");
    let path = db.url.trim_start_matches("sqlite:").to_string();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL);
             CREATE INDEX orders_customer ON orders (customer_id);
             INSERT INTO customers VALUES (1,'a'),(2,'b');
             INSERT INTO orders VALUES (1,1,1.5),(2,2,2.5);",
        )
        .unwrap();
    let before = sqlite_schema(&db.url);
    let dir = tempfile::tempdir().unwrap();
    write_plan(dir.path(), &db.url, r#""customers", "orders""#, "");
    let o = ripcord_in(dir.path(), &["check"], &[]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert_eq!(sqlite_schema(&db.url), before, "check changed the schema");

    ok(dir.path(), &["capture", "start"]);
    ok(dir.path(), &["checkpoint"]);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "INSERT INTO customers VALUES (3,'c'); UPDATE orders SET total = 9 WHERE id = 2;",
        )
        .unwrap();
    ok(
        dir.path(),
        &[
            "rollback",
            "-c",
            "sales",
            "--reason",
            "lifecycle test",
            "--yes",
        ],
    );
    // The journal's AUTOINCREMENT brought SQLite's sqlite_sequence; it goes too.
    assert!(sqlite_schema(&db.url).contains("sqlite_sequence"));
    ok(dir.path(), &["uninstall", "--force", "--reason", "test"]);
    assert_eq!(sqlite_schema(&db.url), before);
    let c = rusqlite::Connection::open(&path).unwrap();
    let integrity: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let n: i64 = c
        .query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3, "the business rows stay");
}

#[test]
fn postgres_objects_of_the_earlier_layout_in_public_are_refused_then_removed_by_uninstall() {
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    let before = pg_dump(&db.url);
    let dir = tempfile::tempdir().unwrap();
    // The layout before ripcord had a schema of its own: everything in `public`.
    write_plan(
        dir.path(),
        &db.url,
        r#""customers""#,
        r#"ripcord_schema = "public""#,
    );
    ok(dir.path(), &["capture", "start"]);
    ok(dir.path(), &["checkpoint"]);
    write_plan(dir.path(), &db.url, r#""customers""#, "");
    let o = ripcord_in(dir.path(), &["capture", "start"], &[]);
    assert_ne!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("an earlier ripcord keeps its journal in schema \"public\""),
        "{}",
        text(&o)
    );
    let listed = ok(dir.path(), &["uninstall", "--dry-run"]);
    assert!(
        listed.contains("_ripcord_journal") && listed.contains("_ripcord_cap_customers"),
        "{listed}"
    );
    ok(
        dir.path(),
        &[
            "uninstall",
            "--force",
            "--reason",
            "move to the ripcord schema",
        ],
    );
    assert_eq!(pg_dump(&db.url), before);
    ok(dir.path(), &["capture", "start"]);
    assert!(
        psql(
            &db.url,
            "SELECT to_regclass('ripcord._ripcord_journal')::text"
        )
        .contains("ripcord")
    );
}

/// A read-only command used to switch a SQLite file to WAL (`journal_mode` is written into
/// the file's header), so `check` changed the customer's file. Now every read-only command
/// leaves it byte for byte as it was, and install/uninstall give the header's mode back.
#[test]
fn read_only_commands_switched_a_sqlite_file_to_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL);
             INSERT INTO customers VALUES (1,'a'),(2,'b');
             INSERT INTO orders VALUES (1,1,1.5),(2,2,2.5);",
        )
        .unwrap();
    let url = format!("sqlite:{}", path.display());
    let plan_dir = dir.path().join("plan");
    std::fs::create_dir(&plan_dir).unwrap();
    write_plan(&plan_dir, &url, r#""customers", "orders""#, "");
    let before = std::fs::read(&path).unwrap();
    // Bytes 18 and 19 of the header: 1 = rollback journal, 2 = WAL.
    assert_eq!(
        &before[18..20],
        &[1, 1],
        "the test starts from a non-WAL file"
    );
    let siblings = |p: &Path| -> Vec<String> {
        ["-wal", "-shm", "-journal"]
            .iter()
            .map(|s| format!("{}{s}", p.display()))
            .filter(|f| Path::new(f).exists())
            .collect()
    };
    for args in [
        &["check"][..],
        &["check", "--json"],
        &["status", "--json"],
        &["verify"],
        &["diff", "shop", "shop", "-t", "orders"],
        &["checkpoints"],
        &["capture", "status"],
        &["install", "--dry-run"],
    ] {
        let o = ripcord_in(&plan_dir, args, &[]);
        assert_ne!(code(&o), 1, "ripcord {args:?}: {}", text(&o));
        assert!(
            std::fs::read(&path).unwrap() == before,
            "ripcord {args:?} changed the file: {}",
            text(&o)
        );
        assert!(
            siblings(&path).is_empty(),
            "ripcord {args:?} left {:?}",
            siblings(&path)
        );
    }
    // A writer may switch to WAL; uninstall sets the mode back.
    ok(&plan_dir, &["install"]);
    assert_eq!(
        &std::fs::read(&path).unwrap()[18..20],
        &[2, 2],
        "install uses WAL"
    );
    ok(&plan_dir, &["uninstall"]);
    let after = std::fs::read(&path).unwrap();
    assert_eq!(
        &after[18..20],
        &[1, 1],
        "uninstall gives the journal mode back"
    );
}

/// A session holding a lock on ripcord's journal used to hold `checkpoint` for as long as it
/// liked (PostgreSQL; the engine tests cover MariaDB and SQLite and every bounded read); ripcord's own bookkeeping now gives up after the plan's `statement_timeout`,
/// saying what it was doing and who holds the lock.
#[test]
fn a_lock_on_the_journal_ends_checkpoint_within_statement_timeout() {
    let db = FreshDb::new("postgres");
    psql(&db.url, PG_SCHEMA);
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        &db.url,
        r#""customers""#,
        r#"statement_timeout = "1s""#,
    );
    ok(dir.path(), &["install"]);
    let mut holder = Command::new("psql")
        .args([
            &db.url,
            "-qAt",
            "-c",
            "SET application_name = 'journal-holder'",
            "-c",
            "BEGIN; LOCK TABLE ripcord._ripcord_journal IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(20); COMMIT",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while psql(
        &db.url,
        "SELECT count(*) FROM pg_locks WHERE relation = 'ripcord._ripcord_journal'::regclass AND mode = 'AccessExclusiveLock' AND granted",
    )
    .trim()
        != "1"
    {
        assert!(waited.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let t = std::time::Instant::now();
    let o = ripcord_in(dir.path(), &["checkpoint"], &[]);
    let took = t.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let out = text(&o);
    assert_ne!(code(&o), 0, "{out}");
    assert!(took < std::time::Duration::from_secs(8), "{took:?}: {out}");
    // A checkpoint installs first (idempotent), and that is where it meets the lock.
    assert!(
        out.contains("install ripcord's objects: create ripcord tables did not finish within 1 s (statement_timeout"),
        "{out}"
    );
    assert!(out.contains("application \"journal-holder\""), "{out}");
}
