//! Store corruption, partial checkpoints, audit tampering, locks and secrets, through the
//! real binary.

mod common;
use common::*;
use ripcord_core::state::LockOwner;

fn chunk_files(w: &Workshop) -> Vec<std::path::PathBuf> {
    files_under(&w.path().join(".ripcord/store/chunks"))
}

#[test]
fn a_flipped_byte_in_a_chunk_is_detected_and_the_rollback_refuses_before_touching_anything() {
    let w = Workshop::new(80);
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    w.business_day(1, 5);
    let before: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    for f in chunk_files(&w) {
        // Flip a byte inside the compressed frame of every chunk.
        let mut b = std::fs::read(&f).unwrap();
        let i = b.len() / 2;
        b[i] ^= 0x40;
        std::fs::write(&f, b).unwrap();
    }
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "corrupt"]);
    assert_ne!(code(&o), 0);
    let t = text(&o);
    assert!(
        t.contains("chunk") && (t.contains("corrupt") || t.contains("cannot be decompressed")),
        "{t}"
    );
    let after: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, after, "nothing may change");
    let frozen: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM _ripcord_frozen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(frozen, 0, "the refusal comes before the freeze");
    let o = w.ripcord(&["check"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
}

#[test]
fn a_chunk_that_decompresses_but_hashes_wrong_is_refused_by_name() {
    let w = Workshop::new(40);
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    let f = &chunk_files(&w)[0];
    let id = f
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".zst")
        .to_string();
    let mut data = zstd::decode_all(&std::fs::read(f).unwrap()[..]).unwrap();
    data[10] ^= 1;
    std::fs::write(f, zstd::encode_all(&data[..], 3).unwrap()).unwrap();
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "corrupt"]);
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(
        text(&o).contains(&format!("chunk {id} is corrupt")),
        "{}",
        text(&o)
    );
}

#[test]
fn a_checkpoint_killed_before_its_manifest_is_never_listed() {
    let w = Workshop::new(40);
    let o = w.ripcord_env(
        &["checkpoint"],
        &[("RIPCORD_CRASH_AT", "checkpoint:before-manifest")],
    );
    assert_eq!(o.status.code(), None);
    assert!(
        !chunk_files(&w).is_empty(),
        "chunks were written before the kill"
    );
    let mut ctx = w.ctx();
    assert!(ctx.state.checkpoints().unwrap().is_empty());
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "x"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("has no checkpoint"), "{}", text(&o));
}

#[test]
fn audit_edit_delete_and_reorder_are_each_detected() {
    for tamper in [
        "UPDATE audit SET result = 'nothing happened' WHERE seq = 2",
        "DELETE FROM audit WHERE seq = 2",
        "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
        "UPDATE audit SET pos = -pos WHERE seq IN (2, 3); UPDATE audit SET pos = 3 WHERE pos = -2; UPDATE audit SET pos = 2 WHERE pos = -3",
    ] {
        let w = Workshop::new(20);
        assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
        assert_eq!(code(&w.ripcord(&["verify"])), 0);
        assert_eq!(code(&w.ripcord(&["check"])), 0);
        let o = w.ripcord(&["audit", "verify"]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let db = rusqlite::Connection::open(w.path().join(".ripcord/state.db")).unwrap();
        db.execute_batch(tamper).unwrap();
        drop(db);
        let o = w.ripcord(&["audit", "verify"]);
        assert_eq!(code(&o), 3, "{tamper}: {}", text(&o));
        assert!(text(&o).contains("BROKEN"), "{}", text(&o));
    }
}

#[test]
fn two_rollbacks_of_one_component_exclude_each_other_and_a_dead_holder_is_taken_over() {
    let w = Workshop::new(20);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    // Someone alive (this test process) holds the billing lock.
    let mut ctx = w.ctx();
    let me = LockOwner::current("alice");
    ctx.state
        .acquire_lock("rollback:billing", &me, std::time::Duration::from_secs(600))
        .unwrap();
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "second operator",
    ]);
    assert_eq!(code(&o), 5, "{}", text(&o));
    assert!(text(&o).contains("held by alice"), "{}", text(&o));
    ctx.state.release_lock("rollback:billing", &me).unwrap();
    // A holder that died on this machine (a pid that no longer exists) is taken over.
    let dead = LockOwner {
        owner: "bob".into(),
        host: ripcord_core::state::hostname(),
        pid: dead_pid(),
    };
    ctx.state
        .acquire_lock(
            "rollback:billing",
            &dead,
            std::time::Duration::from_secs(600),
        )
        .unwrap();
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "bob died"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(ctx.state.locks().unwrap().is_empty());
}

fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_password_in_a_database_url_reaches_no_log_audit_report_or_output() {
    let w = Workshop::new(40);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    let plan = plan.replace("url = \"sqlite:workshop.db\"", "url = \"sqlite:workshop.db?password=${WS_PASSWORD}\"\n\n[databases.reporting]\nurl = \"postgres://report:Pg-S3cret-99@127.0.0.1/reports?sslmode=disable\"");
    std::fs::write(w.path().join("ripcord.toml"), plan).unwrap();
    let env = [("WS_PASSWORD", "Hunter2-Secret")];
    let mut all = String::new();
    for args in [
        vec!["check"],
        vec!["run"],
        vec!["verify"],
        vec![
            "rollback",
            "-c",
            "billing",
            "--yes",
            "--reason",
            "secrets test",
        ],
        vec!["report"],
        vec!["report", "--format", "json"],
        vec!["audit", "export"],
        vec!["audit", "show"],
    ] {
        if args
            == vec![
                "rollback",
                "-c",
                "billing",
                "--yes",
                "--reason",
                "secrets test",
            ]
        {
            w.business_day(2, 10);
        }
        let o = w.ripcord_env(&args, &env);
        if matches!(args[0], "run" | "rollback") {
            assert_eq!(code(&o), 0, "{args:?}: {}", text(&o));
        }
        all.push_str(&text(&o));
    }
    assert!(
        all.contains("password=***") && all.contains("report:***@"),
        "URLs are shown redacted: {all}"
    );
    // A step that fails with the URL in its error must not leak it either.
    let o = w.ripcord_env(
        &["--plan", "ripcord.toml", "capture", "status", "-c", "nope"],
        &env,
    );
    all.push_str(&text(&o));
    for f in files_under(&w.path().join(".ripcord")) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
    }
    assert!(all.contains("rollback"), "the test saw the outputs");
    for secret in ["Hunter2-Secret", "Pg-S3cret-99"] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_new_checkpoint_rewrites_a_corrupt_chunk_it_would_otherwise_reuse() {
    let w = Workshop::new(40);
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    let f = chunk_files(&w)[0].clone();
    let mut b = std::fs::read(&f).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x40;
    std::fs::write(&f, &b).unwrap();
    assert_eq!(code(&w.ripcord(&["check"])), 3, "the corruption is seen");
    // Same data: the second checkpoint names the same chunks, finds one corrupt and rewrites it.
    let o = w.ripcord(&["checkpoint", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_ne!(std::fs::read(&f).unwrap(), b, "the chunk was rewritten");
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "after heal",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}
