//! `checkpoint_every`: validated in the plan, and `ripcord watch` takes the checkpoints on
//! schedule, differential where the engine allows, audited.

mod common;
use common::*;
use ripcord_core::store::{CheckpointId, Store};

fn plan(dir: &std::path::Path, db: &str, every: &str) {
    std::fs::write(
        dir.join("ripcord.toml"),
        format!(
            "[databases.legacy]\nurl = \"{db}\"\n\n[components.ledger]\ndatabase = \"legacy\"\ntables = [\"accounts\"]\ncheckpoint_every = \"{every}\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_checkpoint_every_that_is_not_a_duration_is_a_plan_error_pointing_at_it() {
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), "sqlite:legacy.db", "hourly");
    let o = ripcord_in(dir.path(), &["check"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("checkpoint_every \"hourly\" is not a duration"),
        "{t}"
    );
    assert!(t.contains("ripcord.toml:7"), "names the line: {t}");
}

#[test]
fn watch_takes_checkpoints_on_schedule_differential_and_audited() {
    let db = FreshDb::new("sqlite");
    let dir = tempfile::tempdir().unwrap();
    plan(dir.path(), &db.url, "1s");
    let ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let mut e = ctx.engine("legacy").unwrap();
    e.execute(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)",
        ripcord_core::journal::Origin::Business,
    )
    .unwrap();
    let values: Vec<String> = (1..=200).map(|i| format!("({i}, 'o{i}')")).collect();
    e.execute(
        &format!("INSERT INTO accounts VALUES {}", values.join(", ")),
        ripcord_core::journal::Origin::Business,
    )
    .unwrap();
    drop(e);

    let o = ripcord_in(dir.path(), &["watch", "--for", "3500ms"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let mut ctx = ctx_for(&dir.path().join("ripcord.toml"));
    let list = ctx.state.checkpoints().unwrap();
    assert!(list.len() >= 3, "one a second for 3.5 s: {}", list.len());
    let store = Store::open(dir.path().join(".ripcord/store"));
    let newest = store.manifest(&CheckpointId(list[0].id.clone())).unwrap();
    assert!(
        newest.components[0].tables[0].delta.is_some(),
        "later ones are differential on SQLite"
    );
    let scheduled = ctx
        .state
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "checkpoint.scheduled" && a.result.starts_with("ok"))
        .count();
    assert_eq!(scheduled, list.len(), "each one audited as scheduled");
}
