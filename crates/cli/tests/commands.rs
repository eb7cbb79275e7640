//! The commands as an operator uses them: run stopping on a failed step, dry runs,
//! incremental checkpoints, listings and exit codes.

mod common;
use common::*;

#[test]
fn a_failed_step_stops_the_run_and_says_how_to_roll_back() {
    let w = Workshop::new(30);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    let plan = plan.replace(
        "forward = \"UPDATE invoices SET discount_baisa = net_baisa / 20 WHERE status = 'open' AND id % 10 = 0\"",
        "forward = \"UPDATE invoices SET vat_baisa = vat_baisa + 1 WHERE id % 10 = 0\"",
    );
    std::fs::write(w.path().join("ripcord.toml"), plan).unwrap();
    let o = w.ripcord(&["run"]);
    assert_eq!(code(&o), 4, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("invariant \\\"VAT is 5% of net") || t.contains("VAT is 5% of net"),
        "{t}"
    );
    assert!(t.contains("ripcord rollback -c billing"), "{t}");
    // The migration's own writes are not business writes: rolling back carries none back.
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "bad step"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        text(&o).contains("| business writes at risk | 0 |"),
        "{}",
        text(&o)
    );
    let bad: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) FROM invoices WHERE vat_baisa <> (net_baisa * 5 + 50) / 100",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0);
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let w = Workshop::new(30);
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    w.business_day(4, 12);
    let state_before = w.ctx().state.audit_entries().unwrap().len();
    let o = w.ripcord(&["rollback", "-c", "billing", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("invoices (")
            && t.contains("business writes at risk")
            && t.contains("dry run: nothing was changed"),
        "{t}"
    );
    let frozen: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM _ripcord_frozen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(frozen, 0);
    assert!(w.ctx().state.rollbacks().unwrap().is_empty());
    assert_eq!(w.ctx().state.audit_entries().unwrap().len(), state_before);
}

#[test]
fn a_second_checkpoint_after_a_few_changes_stores_little_new_data() {
    let w = Workshop::new(400);
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    w.db()
        .execute(
            "UPDATE invoices SET status = 'paid' WHERE id IN (5, 500)",
            [],
        )
        .unwrap();
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    let list = w.ctx().state.checkpoints().unwrap();
    assert_eq!(list.len(), 2);
    let (second, first) = (&list[0], &list[1]);
    assert_eq!(
        first.new_bytes, first.bytes,
        "the first checkpoint stores everything"
    );
    assert!(
        second.new_bytes * 4 < second.bytes,
        "second checkpoint stored {} of {} bytes anew",
        second.new_bytes,
        second.bytes
    );
    let o = w.ripcord(&["checkpoints"]);
    assert!(
        text(&o).contains(&second.id) && text(&o).contains("billing"),
        "{}",
        text(&o)
    );
}

#[test]
fn usage_errors_say_so_with_exit_code_2() {
    let w = Workshop::new(10);
    let o = w.ripcord(&["rollback", "-c", "nope", "--yes", "--reason", "x"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("no component named \"nope\""));
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("--reason"), "{}", text(&o));
    let o = w.ripcord(&["serve", "--listen", "localhost"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("--listen \"localhost\" is not an address:port"),
        "{}",
        text(&o)
    );
    let o = w.ripcord_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("RIPCORD_DASHBOARD_TOKENS", "alice=tooshort-secret")],
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("the token of \"alice\" is shorter"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("tooshort-secret"), "{}", text(&o));
    std::fs::write(
        w.path().join("bad.toml"),
        "[databases.x]\nurl = \"oracle://x\"\n",
    )
    .unwrap();
    let o = w.ripcord(&["--plan", "bad.toml", "check"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("bad.toml:2:7"), "{}", text(&o));
}

#[test]
fn a_gap_is_reported_with_key_and_reason_and_fails_the_rollback() {
    let w = Workshop::new(30);
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    // The new version accepts a payment method the legacy CHECK constraint does not know.
    let db = w.db();
    db.execute_batch(
        "CREATE TABLE p2 AS SELECT * FROM payments; DROP TABLE payments;
         CREATE TABLE payments (id BIGINT PRIMARY KEY, invoice_id BIGINT NOT NULL, amount_baisa BIGINT NOT NULL, method VARCHAR(20) NOT NULL, paid_at VARCHAR(40) NOT NULL);
         INSERT INTO payments SELECT * FROM p2; DROP TABLE p2;",
    )
    .unwrap();
    drop(db);
    assert_eq!(code(&w.ripcord(&["capture", "start", "-c", "billing"])), 0);
    w.db().execute("INSERT INTO payments (id, invoice_id, amount_baisa, method, paid_at) VALUES (900001, 1, 1000, 'wallet', 'now')", []).unwrap();
    w.db().execute("INSERT INTO payments (id, invoice_id, amount_baisa, method, paid_at) VALUES (900002, 2, 2000, 'cash', 'now')", []).unwrap();
    // Re-creating the table dropped its capture: ripcord cannot vouch for the moment in
    // between, so the rollback needs the operator's explicit acceptance.
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "gap test"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("cannot vouch"), "{}", text(&o));
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--accept-uncaptured",
        "--reason",
        "gap test",
    ]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = w.ripcord(&["gaps"]);
    assert_eq!(code(&o), 3);
    let t = text(&o);
    assert!(
        t.contains("payments")
            && t.contains("CHECK constraint failed")
            && t.contains("enter the row by hand"),
        "{t}"
    );
    let cash: i64 = w.db().query_row("SELECT COUNT(*) FROM payments WHERE amount_baisa = 2000 AND method = 'cash' AND paid_at = 'now'", [], |r| r.get(0)).unwrap();
    assert_eq!(cash, 1, "the write that could be carried back was");
}

#[test]
fn a_value_in_a_new_column_without_a_place_in_legacy_is_a_partial_gap_unless_ignored() {
    let w = Workshop::new(40);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    std::fs::write(
        w.path().join("ripcord.toml"),
        plan.replace("ignore = [\"discount_baisa\"]", ""),
    )
    .unwrap();
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    w.db()
        .execute(
            "UPDATE invoices SET discount_baisa = 777, status = 'paid' WHERE id = 3",
            [],
        )
        .unwrap();
    w.db()
        .execute("UPDATE invoices SET status = 'void' WHERE id = 4", [])
        .unwrap();
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "partial"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("applied without discount_baisa = 777"), "{t}");
    assert!(t.contains("| lost (data gaps) | 1 |"), "{t}");
    // The rest of the write did come back.
    let s: String = w
        .db()
        .query_row("SELECT status FROM invoices WHERE id = 3", [], |r| r.get(0))
        .unwrap();
    assert_eq!(s, "paid");
}

/// Issue #10, "exact comparison": invariants compared through f64 could not tell
/// 2^53 + 1 from 2^53, so a bigint total one unit off passed. They are exact now, and a
/// tolerance is an exact bound too.
#[test]
fn invariants_compare_integers_and_decimals_exactly() {
    let w = Workshop::new(5);
    let mut plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    plan.push_str(
        r#"
[[components.billing.invariants]]
name = "bigint total off by one"
sql = "SELECT 9007199254740993"
equals = "SELECT 9007199254740992"

[[components.billing.invariants]]
name = "decimal within its tolerance"
sql = "SELECT '1000000000000000.005'"
equals = "SELECT '1000000000000000'"
tolerance = 0.005

[[components.billing.invariants]]
name = "decimal beyond its tolerance"
sql = "SELECT '1000000000000000.006'"
equals = "SELECT '1000000000000000'"
tolerance = 0.005
"#,
    );
    std::fs::write(w.path().join("ripcord.toml"), plan).unwrap();
    let o = w.ripcord(&["verify", "-c", "billing"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    let t = text(&o);
    let line = |name: &str| {
        t.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name}: {t}"))
            .to_string()
    };
    assert!(line("bigint total off by one").contains("BROKEN"), "{t}");
    assert!(
        line("bigint total off by one").contains("9007199254740993 vs expected 9007199254740992"),
        "{t}"
    );
    assert!(
        !line("decimal within its tolerance").contains("BROKEN"),
        "{t}"
    );
    assert!(
        line("decimal beyond its tolerance").contains("BROKEN"),
        "{t}"
    );
}

/// The rollback reads the journal a page at a time (`RIPCORD_JOURNAL_PAGE` sequence numbers
/// a page): a journal many pages long must be counted, planned and replayed whole.
#[test]
fn a_journal_larger_than_one_page_is_replayed_whole() {
    let w = Workshop::new(120);
    let o = w.ripcord(&["run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let writes = w.business_day(5, 80);
    let journal: i64 = w
        .db()
        .query_row("SELECT count(*) FROM _ripcord_journal", [], |r| r.get(0))
        .unwrap();
    assert!(journal > 10 * 7, "only {journal} journal entries");
    let page = [("RIPCORD_JOURNAL_PAGE", "7")];
    let o = w.ripcord_env(&["rollback", "-c", "billing", "--dry-run"], &page);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = w.ripcord(&["rollback", "-c", "billing", "--dry-run"]);
    let whole = text(&o);
    let o = w.ripcord_env(&["rollback", "-c", "billing", "--dry-run"], &page);
    assert_eq!(text(&o), whole, "paged and whole reads count differently");
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "pages"],
        &page,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (checked, problems) = w.check_business_writes(&writes);
    assert!(checked > 100);
    assert!(problems.is_empty(), "{problems:?}");
}
