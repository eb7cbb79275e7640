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
        fell_back: None,
    };
    s.save_switch(&r).unwrap();
    assert_eq!(s.switches().unwrap(), vec![r.clone()]);
    r.pending = None;
    r.position = Some(Position::New { stage: Some(50) });
    s.save_switch(&r).unwrap();
    assert_eq!(s.reopen().unwrap().switches().unwrap(), vec![r]);
}

fn incident(id: &str, opened_ms: i64) -> crate::notify::IncidentRecord {
    use crate::notify::*;
    IncidentRecord {
        id: id.into(),
        opened_at: ms_time(opened_ms),
        opened_ms,
        cause: Cause::EmergencyStop,
        reason: "manual: test".into(),
        run: Some("run-1".into()),
        rollbacks: vec![],
        components: vec!["billing".into()],
        impact: crate::plan::Impact::Moderate,
        status: IncidentStatus::Open,
        resolved_at: None,
        resolved_ms: None,
        levels: vec![LevelState {
            level: 1,
            reached_ms: Some(opened_ms),
            rounds: 1,
            last_sent_ms: Some(opened_ms),
        }],
        user_rounds: 0,
        outcome: None,
    }
}

fn delivery(key: &str, inc: &str) -> crate::notify::DeliveryRecord {
    use crate::notify::*;
    let r = crate::plan::Recipient {
        name: "Huda".into(),
        language: crate::plan::Language::Ar,
        channel: "mail".into(),
        address: "huda@example.com".into(),
    };
    let msg = Message::EmergencyDetected {
        summary: incident(inc, 1_000).summary("payroll"),
        level: 1,
        round: 0,
    };
    DeliveryRecord::new(key.into(), Some(1), &r, msg)
}

/// The notifier's outbox: incidents replaced whole, deliveries queued once per key (an
/// event handled twice after a crash queues nothing twice), the cursor moved in the same
/// commit, due deliveries by time, attempts appended, acks once per level.
pub fn notify_outbox_and_acks(open: Open) {
    use crate::notify::*;
    let mut s = open();
    assert_eq!(
        s.notify_cursor().unwrap(),
        None,
        "a fresh store has no cursor"
    );
    assert_eq!(s.last_event_seq().unwrap(), 0);
    let mut inc = incident("inc-7", 1_000);
    let batch = NotifyBatch {
        incidents: vec![inc.clone()],
        deliveries: vec![delivery("inc-7/L1/r0/Huda/mail", "inc-7")],
        cursor: Some(7),
    };
    s.notify_commit(&batch).unwrap();
    s.notify_commit(&batch).unwrap();
    assert_eq!(s.notify_cursor().unwrap(), Some(7));
    let all = s.deliveries(None).unwrap();
    assert_eq!(all.len(), 1, "the same key is queued once: {all:?}");
    assert!(all[0].id > 0);
    assert_eq!(all[0].recipient.language, crate::plan::Language::Ar);
    assert_eq!(s.deliveries(Some("inc-other")).unwrap().len(), 0);

    inc.status = IncidentStatus::Resolved;
    let older = incident("inc-3", 500);
    s.notify_commit(&NotifyBatch {
        incidents: vec![inc.clone(), older],
        ..NotifyBatch::default()
    })
    .unwrap();
    let ids: Vec<String> = s.incidents().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["inc-7", "inc-3"], "newest first");
    assert_eq!(s.incidents().unwrap()[0], inc);
    assert_eq!(
        s.notify_cursor().unwrap(),
        Some(7),
        "no cursor given: unchanged"
    );

    let id = all[0].id;
    let claimed = s.claim_due(0, 10, 1_000).unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        s.claim_due(999, 10, 2_000).unwrap().is_empty(),
        "claimed: another notifier does not get it"
    );
    let failed = Attempt {
        at: "2026-01-01T00:00:00.000Z".into(),
        ok: false,
        detail: "connection refused".into(),
        seconds: 0.1,
    };
    s.record_attempt(id, &failed, DeliveryStatus::Pending, 5_000)
        .unwrap();
    assert!(
        s.claim_due(4_999, 10, 4_999).unwrap().is_empty(),
        "backing off"
    );
    let d = s.claim_due(5_000, 10, 6_000).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].attempts, vec![failed.clone()]);
    let ok = Attempt {
        ok: true,
        detail: "250 OK".into(),
        ..failed
    };
    s.record_attempt(id, &ok, DeliveryStatus::Sent, 5_000)
        .unwrap();
    assert!(s.claim_due(i64::MAX, 10, i64::MAX).unwrap().is_empty());
    let d = s.reopen().unwrap().deliveries(Some("inc-7")).unwrap();
    assert_eq!(d[0].status, DeliveryStatus::Sent);
    assert_eq!(d[0].attempts.len(), 2);

    let ack = AckRecord {
        incident: "inc-7".into(),
        level: 1,
        by: "Huda".into(),
        at: "2026-01-01T00:00:00.000Z".into(),
    };
    assert!(s.ack_incident(&ack).unwrap());
    assert!(
        !s.ack_incident(&AckRecord {
            by: "Omar".into(),
            ..ack.clone()
        })
        .unwrap()
    );
    assert_eq!(s.acks().unwrap(), vec![ack]);
}

/// Sync records are kept per component and replaced whole; cutovers are listed newest
/// first.
pub fn sync_and_cutover_records_round_trip(open: Open) {
    use crate::cutover::{CutoverPhase, CutoverRecord, CutoverStatus};
    use crate::sync::{SyncRecord, SyncState};
    let mut s = open();
    let mut r = SyncRecord {
        component: "orders".into(),
        tag: "sync:orders:co-1".into(),
        from: crate::journal::JournalMark {
            high: 7,
            holes: vec![5],
            snapshot: None,
        },
        cutover: Some("co-1".into()),
        state: SyncState::Running,
        started_at: "2026-01-01T00:00:00.000Z".into(),
        updated_at: "2026-01-01T00:00:00.000Z".into(),
        applied: 0,
        gaps: Vec::new(),
        position: None,
        lag_rows: 3,
        lag_seconds: 1.5,
        last_pass_at: None,
        accepted: Vec::new(),
    };
    s.save_sync(&r).unwrap();
    r.state = SyncState::Draining {
        rollback: "rb-1".into(),
    };
    r.position = Some(9);
    s.save_sync(&r).unwrap();
    assert_eq!(s.reopen().unwrap().syncs().unwrap(), vec![r]);
    let c = |id: &str, at: &str| CutoverRecord {
        id: id.into(),
        components: vec!["orders".into()],
        reason: "go".into(),
        actor: "alice".into(),
        status: CutoverStatus::Running {
            phase: CutoverPhase::Flip,
        },
        started_at: at.into(),
        finished_at: None,
        phase_times: vec![(CutoverPhase::Precheck, 0.5)],
        checks: Vec::new(),
        catch_up_seconds: 10.0,
        proof: Vec::new(),
        marks: Default::default(),
        notes: Vec::new(),
    };
    s.save_cutover(&c("co-1", "2026-01-01T00:00:00.000Z"))
        .unwrap();
    s.save_cutover(&c("co-2", "2026-01-02T00:00:00.000Z"))
        .unwrap();
    let mut done = c("co-1", "2026-01-01T00:00:00.000Z");
    done.status = CutoverStatus::Completed;
    s.save_cutover(&done).unwrap();
    let list = s.cutovers().unwrap();
    assert_eq!(
        list.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["co-2", "co-1"]
    );
    assert_eq!(list[1].status, CutoverStatus::Completed);
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
            fn notify_outbox_and_acks() {
                $crate::state_conformance::notify_outbox_and_acks(&$open);
            }
            #[test]
            fn sync_and_cutover_records_round_trip() {
                $crate::state_conformance::sync_and_cutover_records_round_trip(&$open);
            }
            #[test]
            fn reopen_sees_the_same_store() {
                $crate::state_conformance::reopen_sees_the_same_store(&$open);
            }
        }
    };
}
