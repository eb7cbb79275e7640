//! Differential checkpoints on PostgreSQL: the journal's changes since a full checkpoint
//! stand in for a re-read, give exactly the rows a full read would, and are refused
//! whenever a write could have escaped the journal.

mod common;
use common::*;
use ripcord_core::engine::Engine;
use ripcord_core::journal::Origin;
use ripcord_core::rollback::{self, Request};
use ripcord_core::store::Manifest;
use ripcord_core::value::Fingerprint;
use ripcord_core::verify::Collect;

fn exec(e: &mut dyn Engine, sql: &str) {
    e.execute(sql, Origin::Business)
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

fn setup() -> (FreshDb, tempfile::TempDir, std::path::PathBuf) {
    let db = FreshDb::new("postgres");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ripcord.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[databases.legacy]
url = "{}"

[components.ledger]
database = "legacy"
tables = ["accounts", "codes"]
"#,
            db.url
        ),
    )
    .unwrap();
    let ctx = ctx_for(&p);
    let mut e = ctx.engine("legacy").unwrap();
    exec(
        e.as_mut(),
        "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, balance NUMERIC(12,3), seen TIMESTAMPTZ)",
    );
    exec(
        e.as_mut(),
        "CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT)",
    );
    exec(
        e.as_mut(),
        "INSERT INTO accounts SELECT g, 'عميل ' || g, g * 1.125, '2026-01-01 10:00:00.123456+03' FROM generate_series(1, 300) g",
    );
    exec(
        e.as_mut(),
        "INSERT INTO codes VALUES ('b', 'bee'), ('a', 'ay'), ('Z', 'zed'), ('ب', 'باء')",
    );
    (db, dir, p)
}

fn live(e: &mut dyn Engine, table: &str) -> Vec<ripcord_core::value::Row> {
    let mut c = Collect::default();
    e.snapshot(&[table.to_string()], &mut c).unwrap();
    c.tables.remove(0).1
}

fn entry<'a>(m: &'a Manifest, table: &str) -> &'a ripcord_core::store::TableEntry {
    m.components[0]
        .tables
        .iter()
        .find(|t| t.schema.name == table)
        .unwrap()
}

fn assert_same_as_live(ctx: &ripcord_core::context::Ctx, m: &Manifest, e: &mut dyn Engine) {
    for table in ["accounts", "codes"] {
        let t = entry(m, table);
        let stored: Vec<_> = ctx.store.rows(&m.id, t).collect::<Result<_, _>>().unwrap();
        let now = live(e, table);
        assert_eq!(
            stored, now,
            "{table}: the checkpoint's rows are the live rows, in key order"
        );
        let mut f = Fingerprint::default();
        now.iter().for_each(|r| f.add(r));
        assert_eq!(ctx.store.fingerprint(&m.id, t).unwrap(), f.finish());
    }
}

#[test]
fn differential_checkpoint_equals_a_full_read() {
    let (_db, _dir, plan) = setup();
    let mut ctx = ctx_for(&plan);
    let full = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert_eq!(full.format, 1);
    assert!(entry(&full, "accounts").delta.is_none());
    assert!(entry(&full, "accounts").capture_token.is_some());

    let mut e = ctx.engine("legacy").unwrap();
    for sql in [
        "INSERT INTO accounts VALUES (0, 'first', NULL, NULL), (1000, 'last', 1, now())",
        "UPDATE accounts SET owner = 'renamed' WHERE id = 7",
        "UPDATE accounts SET id = 3000 WHERE id = 8",
        "DELETE FROM accounts WHERE id = 9",
        "INSERT INTO accounts VALUES (9, 'back again', 9.999, NULL)",
        "UPDATE accounts SET balance = balance + 1 WHERE id = 10",
        "UPDATE accounts SET balance = balance + 1 WHERE id = 10",
        "DELETE FROM accounts WHERE id IN (11, 12)",
        "INSERT INTO accounts VALUES (5000, 'gone soon', 1, NULL)",
        "DELETE FROM accounts WHERE id = 5000",
        "INSERT INTO codes VALUES ('aa', 'between a and b'), ('ا', 'alef')",
        "UPDATE codes SET label = 'BEE' WHERE code = 'b'",
    ] {
        exec(e.as_mut(), sql);
    }
    let diff = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert_eq!(diff.format, 2, "a differential manifest is format 2");
    let d = entry(&diff, "accounts")
        .delta
        .as_ref()
        .expect("differential");
    assert_eq!(d.base, full.id);
    assert_eq!(
        d.changes, 9,
        "0, 1000, 7, 8, 3000, 9, 10, 11, 12 and nothing for 5000: {d:?}"
    );
    assert_eq!(entry(&diff, "accounts").rows, 300 + 2 + 1 - 1 - 2);
    assert_same_as_live(&ctx, &diff, e.as_mut());

    // Another differential is still over the full one, never a chain.
    exec(
        e.as_mut(),
        "UPDATE accounts SET owner = 'again' WHERE id = 20",
    );
    let second = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert_eq!(
        entry(&second, "accounts").delta.as_ref().unwrap().base,
        full.id
    );
    assert_same_as_live(&ctx, &second, e.as_mut());

    // Rolling back to a differential checkpoint restores its merged rows and replays.
    exec(
        e.as_mut(),
        "UPDATE accounts SET owner = 'after' WHERE id = 21",
    );
    let req = Request {
        components: vec!["ledger".into()],
        to: Some(second.id.0.clone()),
        reason: "differential".into(),
        accept_uncaptured: false,
    };
    let rec = rollback::start(&mut ctx, &req, &mut |_| Some("tester".into())).unwrap();
    assert!(
        rec.ok(),
        "{}",
        ripcord::render::rollback_record_markdown(&rec)
    );
    assert_eq!(rec.figures.restored_rows, 300 + 2 + 1 - 1 - 2 + 4 + 2);
    let owner = e
        .query_scalar("SELECT owner FROM accounts WHERE id = 21")
        .unwrap();
    assert_eq!(owner.to_string(), "\"after\"");
}

#[test]
fn writes_that_bypass_the_journal_force_a_full_checkpoint() {
    let (_db, _dir, plan) = setup();
    let mut ctx = ctx_for(&plan);
    ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    let mut e = ctx.engine("legacy").unwrap();
    // TRUNCATE fires no row trigger; the same number of rows comes back, changed.
    exec(e.as_mut(), "TRUNCATE codes");
    exec(
        e.as_mut(),
        "INSERT INTO codes VALUES ('b', 'x'), ('a', 'x'), ('Z', 'x'), ('ب', 'x')",
    );
    let m = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert!(entry(&m, "codes").delta.is_none(), "truncated: full");
    assert!(
        entry(&m, "accounts").delta.is_none(),
        "one database group, all or none"
    );
    assert_same_as_live(&ctx, &m, e.as_mut());

    // Capture switched off and on again: writes in between were never journaled.
    e.capture_remove(&["accounts".into()]).unwrap();
    exec(
        e.as_mut(),
        "UPDATE accounts SET owner = 'unseen' WHERE id = 1",
    );
    let m = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert!(
        entry(&m, "accounts").delta.is_none(),
        "capture was off: full"
    );
    assert_same_as_live(&ctx, &m, e.as_mut());

    // With nothing in the way, the next one is differential again.
    exec(
        e.as_mut(),
        "UPDATE accounts SET owner = 'seen' WHERE id = 2",
    );
    let m = ripcord_core::checkpoint::take(&mut ctx, &["ledger".into()]).unwrap();
    assert!(entry(&m, "accounts").delta.is_some());
    assert_same_as_live(&ctx, &m, e.as_mut());
}
