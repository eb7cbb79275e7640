//! The `StateStore` conformance suite: what every state store must do, written once. An
//! implementation proves itself with one line in its tests,
//! `ripcord_core::state_store_conformance!(|| Box::new(MyStore::open(...)))`, where the
//! closure opens a fresh, empty store each time (SQLite now; a PostgreSQL store later
//! runs the same suite).

use crate::audit::{self, AuditDraft};
use crate::state::{CaptureLink, CheckpointRecord, LockOwner, StateStore};
use std::time::Duration;

pub type Open<'a> = &'a dyn Fn() -> Box<dyn StateStore>;

fn checkpoint(id: &str, at: &str) -> CheckpointRecord {
    CheckpointRecord {
        id: id.into(),
        created_at: at.into(),
        components: vec!["billing".into()],
        rows: 1,
        bytes: 1,
        new_bytes: 1,
    }
}

/// Checkpoints are listed newest first.
pub fn checkpoints_newest_first(open: Open) {
    let mut s = open();
    s.add_checkpoint(&checkpoint("cp-a", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    s.add_checkpoint(&checkpoint("cp-b", "2026-01-02T00:00:00.000Z"))
        .unwrap();
    let ids: Vec<String> = s.checkpoints().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["cp-b", "cp-a"]);
}

/// A removed checkpoint is no longer listed; removing it again says it was not there.
pub fn removed_checkpoints_are_unlisted(open: Open) {
    let mut s = open();
    s.add_checkpoint(&checkpoint("cp-a", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    s.add_checkpoint(&checkpoint("cp-b", "2026-01-02T00:00:00.000Z"))
        .unwrap();
    assert!(s.remove_checkpoint("cp-a").unwrap());
    assert!(!s.remove_checkpoint("cp-a").unwrap());
    let ids: Vec<String> = s.checkpoints().unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["cp-b"]);
}

/// One holder at a time; the holder renews and releases; a holder that died on this host
/// is taken over, and so is an expired lease.
pub fn locks_have_owners_and_leases(open: Open) {
    let mut s = open();
    let me = LockOwner::current("alice");
    // Another operator on another machine: alive as far as this host can tell.
    let other = LockOwner {
        owner: "bob".into(),
        host: "elsewhere".into(),
        pid: 1,
    };
    let lease = Duration::from_secs(300);
    s.acquire_lock("rollback:billing", &me, lease).unwrap();
    let held = s.acquire_lock("rollback:billing", &other, lease);
    assert!(
        matches!(held, Err(crate::Error::Locked(_))),
        "a second owner must be refused while the holder's lease runs: {held:?}"
    );
    s.renew_lock("rollback:billing", &me, lease).unwrap();
    assert_eq!(s.locks().unwrap().len(), 1);
    s.release_lock("rollback:billing", &me).unwrap();
    assert!(s.locks().unwrap().is_empty());

    // A holder whose process is gone on this host.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = LockOwner {
        pid: dead_pid,
        ..LockOwner::current("carol")
    };
    s.acquire_lock("rollback:crm", &dead, lease).unwrap();
    s.acquire_lock("rollback:crm", &me, lease).unwrap();
    assert_eq!(s.locks().unwrap()[0].holder.owner, "alice");

    // A lease that ran out, held from another host.
    let far = LockOwner {
        host: "elsewhere".into(),
        ..LockOwner::current("dave")
    };
    s.acquire_lock("rollback:service", &far, Duration::from_millis(1))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.acquire_lock("rollback:service", &me, lease).unwrap();
}

/// Appends keep the chain; the stored head vouches for the last entry.
pub fn audit_chain_holds(open: Open) {
    let mut s = open();
    for i in 0..3 {
        s.append_audit(AuditDraft {
            actor: "alice".into(),
            action: format!("step.{i}"),
            args: serde_json::json!({"i": i}),
            result: "ok".into(),
        })
        .unwrap();
    }
    let entries = s.audit_entries().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(audit::verify(&entries, s.audit_head().unwrap()).unwrap(), 3);
}

/// Capture links come back in the order they were recorded.
pub fn capture_links_keep_their_order(open: Open) {
    let mut s = open();
    for (b, a) in [("t1", "t2"), ("t2", "t3")] {
        s.add_capture_link(&CaptureLink {
            database: "erp".into(),
            table: "invoices".into(),
            before: b.into(),
            after: a.into(),
            at: "2026-01-01T00:00:00.000Z".into(),
            by: "capture".into(),
        })
        .unwrap();
    }
    let links: Vec<String> = s
        .capture_links()
        .unwrap()
        .into_iter()
        .map(|l| l.after)
        .collect();
    assert_eq!(links, ["t2", "t3"]);
}

/// A second connection to the same store sees what the first wrote.
pub fn reopen_sees_the_same_store(open: Open) {
    let mut s = open();
    s.add_checkpoint(&checkpoint("cp-x", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    let mut other = s.reopen().unwrap();
    assert_eq!(other.checkpoints().unwrap()[0].id, "cp-x");
}

/// A switch record is replaced whole, and read back as written.
pub fn switch_records_round_trip(open: Open) {
    use crate::switch::{Flip, Position, Side, SwitchRecord};
    let mut s = open();
    let mut r = SwitchRecord {
        name: "billing_route".into(),
        component: "billing".into(),
        position: None,
        pending: Some(Flip {
            id: "flip-1".into(),
            to: Side::New,
            stage: Some(50),
            actor: "alice".into(),
            reason: "canary".into(),
            rollback: None,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            error: None,
        }),
        last: None,
        updated_at: "2026-01-01T00:00:00.000Z".into(),
    };
    s.save_switch(&r).unwrap();
    assert_eq!(s.switches().unwrap(), vec![r.clone()]);
    r.pending = None;
    r.position = Some(Position::New { stage: Some(50) });
    s.save_switch(&r).unwrap();
    assert_eq!(s.reopen().unwrap().switches().unwrap(), vec![r]);
}

/// Runs every check of the suite as its own test against `$open`, a closure returning a
/// fresh `Box<dyn StateStore>`.
#[macro_export]
macro_rules! state_store_conformance {
    ($open:expr) => {
        mod state_store_conformance {
            use super::*;
            #[test]
            fn checkpoints_newest_first() {
                $crate::state_conformance::checkpoints_newest_first(&$open);
            }
            #[test]
            fn removed_checkpoints_are_unlisted() {
                $crate::state_conformance::removed_checkpoints_are_unlisted(&$open);
            }
            #[test]
            fn locks_have_owners_and_leases() {
                $crate::state_conformance::locks_have_owners_and_leases(&$open);
            }
            #[test]
            fn audit_chain_holds() {
                $crate::state_conformance::audit_chain_holds(&$open);
            }
            #[test]
            fn capture_links_keep_their_order() {
                $crate::state_conformance::capture_links_keep_their_order(&$open);
            }
            #[test]
            fn switch_records_round_trip() {
                $crate::state_conformance::switch_records_round_trip(&$open);
            }
            #[test]
            fn reopen_sees_the_same_store() {
                $crate::state_conformance::reopen_sees_the_same_store(&$open);
            }
        }
    };
}
