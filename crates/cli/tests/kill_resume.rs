//! The process is killed (SIGKILL, through crash points) at every phase boundary and in the
//! middle of restore and replay; `rollback --resume` then completes with every business
//! write present exactly once.

mod common;
use common::*;

const POINTS: &[&str] = ROLLBACK_CRASH_POINTS;

fn trial(point: &str) {
    let w = Workshop::new(120);
    let o = w.ripcord(&["run"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let writes = w.business_day(5, 80);
    let o = w.ripcord_env(
        &[
            "rollback",
            "-c",
            "billing",
            "--yes",
            "--reason",
            "kill test",
        ],
        &[("RIPCORD_CRASH_AT", point)],
    );
    assert_eq!(
        o.status.code(),
        None,
        "at {point} the process should have been killed: {}",
        text(&o)
    );
    // While interrupted after the freeze, business writes are refused.
    let o = w.ripcord(&["rollback", "--resume", "--yes"]);
    assert_eq!(code(&o), 0, "resume after a kill at {point}: {}", text(&o));
    let (checked, problems) = w.check_business_writes(&writes);
    assert!(checked > 100);
    assert!(problems.is_empty(), "after a kill at {point}: {problems:?}");
    let dup: i64 = w
        .db()
        .query_row(
            "SELECT COUNT(*) - COUNT(DISTINCT id) FROM payments",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 0);
    let frozen: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM _ripcord_frozen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(frozen, 0, "tables left frozen after a kill at {point}");
    let o = w.ripcord(&["verify", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = w.ripcord(&["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn killed_at_every_phase_boundary_and_mid_restore_and_replay_then_resumed() {
    for p in POINTS {
        trial(p);
    }
}

#[test]
fn a_frozen_table_refuses_business_writes_until_the_rollback_finishes() {
    let w = Workshop::new(60);
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    w.business_day(5, 10);
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "t"],
        &[("RIPCORD_CRASH_AT", "drain:after")],
    );
    assert_eq!(o.status.code(), None);
    let err = w
        .db()
        .execute("UPDATE invoices SET status = 'paid' WHERE id = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("frozen"), "{err}");
    let o = w.ripcord(&["check"]);
    assert!(text(&o).contains("frozen"), "{}", text(&o));
    assert_eq!(
        code(&w.ripcord(&["rollback", "--resume"])),
        0,
        "approved before the kill: no --yes needed"
    );
    w.db()
        .execute("UPDATE invoices SET status = 'paid' WHERE id = 1", [])
        .unwrap();
}
