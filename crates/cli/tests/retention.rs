//! Retention through the real binary: `prune` by policy, the journal pruned, the store's
//! garbage collected, a killed checkpoint's chunks collected and audited, and checkpoints
//! an unfinished rollback needs never deleted.

mod common;
use common::*;
use ripcord_core::store::{CheckpointId, Store};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn checkpoint(w: &Workshop) -> String {
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string()
}

fn store(w: &Workshop) -> Store {
    Store::open(w.path().join(".ripcord/store"))
}

fn chunk_files(w: &Workshop) -> BTreeSet<PathBuf> {
    files_under(&w.path().join(".ripcord/store/chunks"))
        .into_iter()
        .collect()
}

/// The chunk files every listed checkpoint names.
fn referenced(w: &Workshop) -> BTreeSet<PathBuf> {
    let mut ctx = w.ctx();
    let s = store(w);
    let mut out = BTreeSet::new();
    for rec in ctx.state.checkpoints().unwrap() {
        let m = s.manifest(&CheckpointId(rec.id)).unwrap();
        for t in m.components.iter().flat_map(|c| &c.tables) {
            for ch in t.all_chunks() {
                out.insert(
                    w.path()
                        .join(".ripcord/store/chunks")
                        .join(&ch.id.0[..2])
                        .join(format!("{}.zst", ch.id.0)),
                );
            }
        }
    }
    out
}

fn listed(w: &Workshop) -> Vec<String> {
    w.ctx()
        .state
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn journal_seqs(w: &Workshop) -> (i64, i64) {
    w.db()
        .query_row(
            "SELECT COUNT(*), COALESCE(MIN(seq), 0) FROM _ripcord_journal",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn prune_keeps_by_policy_collects_chunks_and_kept_checkpoints_still_restore() {
    let w = Workshop::new(300);
    let cp1 = checkpoint(&w);
    w.business_day(1, 40);
    let cp2 = checkpoint(&w);
    w.business_day(2, 40);
    let cp3 = checkpoint(&w);
    let writes = w.business_day(3, 10);
    let before = chunk_files(&w);
    let (journal_before, _) = journal_seqs(&w);

    let o = w.ripcord(&["prune", "--keep-last", "1", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("would delete") && t.contains("last 1 of billing"),
        "{t}"
    );
    assert_eq!(listed(&w).len(), 3, "a dry run deletes nothing");
    assert_eq!(chunk_files(&w), before);

    let o = w.ripcord(&["prune", "--keep-last", "1"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(listed(&w), std::slice::from_ref(&cp3));
    for gone in [&cp1, &cp2] {
        assert!(
            !w.path()
                .join(format!(".ripcord/store/manifests/{gone}.json"))
                .exists()
        );
    }
    let after = chunk_files(&w);
    assert_eq!(
        after,
        referenced(&w),
        "exactly the kept checkpoint's chunks remain"
    );
    assert!(
        after.len() < before.len(),
        "{} → {}",
        before.len(),
        after.len()
    );

    // The journal lost what cp3 already holds, and kept every entry since.
    let m = store(&w).manifest(&CheckpointId(cp3.clone())).unwrap();
    let high = m.components[0].journal_mark.high;
    let (journal_after, min_seq) = journal_seqs(&w);
    assert!(
        journal_after < journal_before,
        "{journal_before} → {journal_after}"
    );
    assert!(
        min_seq > high,
        "entries after the mark ({high}) are kept: min {min_seq}"
    );

    store(&w).verify(&m).unwrap();
    let o = w.ripcord(&["rollback", "--yes", "--reason", "after prune"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let (applied, missing) = w.check_business_writes(&writes);
    assert!(missing.is_empty(), "{missing:?} ({applied} applied)");

    let audit: Vec<String> = w
        .ctx()
        .state
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        audit.iter().any(|a| a == "prune") && audit.iter().any(|a| a == "gc"),
        "{audit:?}"
    );
}

#[test]
fn a_killed_checkpoint_leaves_no_chunks_after_gc_and_is_audited_as_interrupted() {
    let w = Workshop::new(200);
    checkpoint(&w);
    w.business_day(1, 30);
    let o = w.ripcord_env(
        &["checkpoint"],
        &[("RIPCORD_CRASH_AT", "checkpoint:before-manifest")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    let orphans: Vec<PathBuf> = chunk_files(&w)
        .difference(&referenced(&w))
        .cloned()
        .collect();
    assert!(!orphans.is_empty(), "the killed checkpoint wrote chunks");

    let o = w.ripcord(&["gc"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("interrupted checkpoint"), "{}", text(&o));
    assert_eq!(chunk_files(&w), referenced(&w), "no orphan chunk is left");
    let audit = w.ctx().state.audit_entries().unwrap();
    let e = audit
        .iter()
        .find(|e| e.action == "checkpoint interrupted")
        .expect("audited");
    assert!(e.result.contains("abandoned"), "{}", e.result);

    // The next checkpoint after the collection is whole.
    let cp = checkpoint(&w);
    let m = store(&w).manifest(&CheckpointId(cp)).unwrap();
    store(&w).verify(&m).unwrap();
}

#[test]
fn a_checkpoint_an_unfinished_rollback_needs_is_refused_for_deletion() {
    let w = Workshop::new(100);
    let cp1 = checkpoint(&w);
    w.business_day(1, 10);
    let cp2 = checkpoint(&w);
    let o = w.ripcord_env(
        &[
            "rollback", "-c", "billing", "--to", &cp1, "--yes", "--reason", "test",
        ],
        &[("RIPCORD_CRASH_AT", "restore:mid")],
    );
    assert_eq!(o.status.code(), None, "killed: {}", text(&o));

    let o = w.ripcord(&["prune", "--forget", &cp1]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(text(&o).contains("is unfinished"), "{}", text(&o));

    let o = w.ripcord(&["prune", "--keep-last", "1", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("is unfinished"), "{}", text(&o));

    let o = w.ripcord(&["prune", "--keep-last", "1"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(listed(&w), [cp2, cp1.clone()]);
    let m = store(&w).manifest(&CheckpointId(cp1)).unwrap();
    store(&w).verify(&m).unwrap();

    // The rollback still finishes from it.
    let o = w.ripcord(&["rollback", "--resume"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

/// On a server engine: prune deletes only journal entries the kept checkpoint holds, and a
/// rollback after it still carries back every write made since.
fn prune_on_a_server_keeps_what_a_rollback_replays(engine: &'static str) {
    use ripcord_core::engine::Engine;
    use ripcord_core::journal::Origin;
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("ripcord.toml");
    std::fs::write(
        &plan,
        format!(
            "[databases.legacy]\nurl = \"{}\"\n\n[components.ledger]\ndatabase = \"legacy\"\ntables = [\"accounts\"]\n",
            db.url
        ),
    )
    .unwrap();
    let ctx = ctx_for(&plan);
    let mut e = ctx.engine("legacy").unwrap();
    let exec = |e: &mut dyn Engine, sql: &str| e.execute(sql, Origin::Business).unwrap();
    exec(
        e.as_mut(),
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner VARCHAR(50) NOT NULL)",
    );
    let values: Vec<String> = (1..=100).map(|i| format!("({i}, 'o{i}')")).collect();
    exec(
        e.as_mut(),
        &format!("INSERT INTO accounts VALUES {}", values.join(", ")),
    );
    let cp = |dir: &std::path::Path| {
        let o = ripcord_in(dir, &["checkpoint"], &[]);
        assert_eq!(code(&o), 0, "{}", text(&o));
    };
    cp(dir.path());
    for i in 1..=30 {
        exec(
            e.as_mut(),
            &format!("UPDATE accounts SET owner = 'a{i}' WHERE id = {i}"),
        );
    }
    cp(dir.path());
    for i in 31..=40 {
        exec(
            e.as_mut(),
            &format!("UPDATE accounts SET owner = 'b{i}' WHERE id = {i}"),
        );
    }
    // PostgreSQL keeps ripcord's tables in their own schema.
    let journal = |e: &mut dyn Engine| match e
        .query_scalar(if e.kind() == "postgres" {
            "SELECT COUNT(*) FROM ripcord._ripcord_journal"
        } else {
            "SELECT COUNT(*) FROM _ripcord_journal"
        })
        .unwrap()
    {
        ripcord_core::value::Value::Int(n) => n,
        v => panic!("{v:?}"),
    };
    assert_eq!(journal(e.as_mut()), 40);
    let o = ripcord_in(dir.path(), &["prune", "--keep-last", "1"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        journal(e.as_mut()),
        10,
        "only the writes since the kept checkpoint"
    );
    let o = ripcord_in(
        dir.path(),
        &["rollback", "--yes", "--reason", "after prune"],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    for (id, owner) in [(30, "a30"), (40, "b40"), (50, "o50")] {
        assert_eq!(
            e.query_scalar(&format!("SELECT owner FROM accounts WHERE id = {id}"))
                .unwrap(),
            ripcord_core::value::Value::Text(owner.into())
        );
    }
}

#[test]
fn prune_on_postgres_keeps_what_a_rollback_replays() {
    prune_on_a_server_keeps_what_a_rollback_replays("postgres");
}

#[test]
fn prune_on_mariadb_keeps_what_a_rollback_replays() {
    prune_on_a_server_keeps_what_a_rollback_replays("mysql");
}
