//! Faults from outside ripcord, through the real binary: damaged and missing chunks, a
//! full disk during a checkpoint, a database that drops ripcord's connections in the middle
//! of a rollback, two operators rolling back the same component, and a lock holder lost
//! on another host.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chunk_files(w: &Workshop) -> Vec<std::path::PathBuf> {
    files_under(&w.path().join(".ripcord/store/chunks"))
}

fn chunk_id(f: &std::path::Path) -> String {
    f.file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".zst")
        .to_string()
}

fn count(w: &Workshop, sql: &str) -> i64 {
    w.db().query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Damages one chunk with `damage`, then a rollback must refuse before the freeze with an
/// error naming that chunk, and leave the tables as they were.
fn refused_by_name(damage: fn(&std::path::Path)) -> String {
    let w = Workshop::new(300);
    assert_eq!(code(&w.ripcord(&["checkpoint", "-c", "billing"])), 0);
    w.business_day(1, 5);
    let files = chunk_files(&w);
    assert!(files.len() > 1, "the table spans several chunks");
    let f = &files[files.len() / 2];
    let id = chunk_id(f);
    damage(f);
    let before = count(&w, "SELECT COUNT(*) + SUM(total_baisa) FROM invoices");
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "damaged"]);
    let t = text(&o);
    assert_ne!(code(&o), 0, "{t}");
    assert!(
        t.contains(&format!("chunk {id}")),
        "the error names the chunk: {t}"
    );
    assert_eq!(
        count(&w, "SELECT COUNT(*) + SUM(total_baisa) FROM invoices"),
        before,
        "nothing may change"
    );
    assert_eq!(count(&w, "SELECT COUNT(*) FROM _ripcord_frozen"), 0);
    let o = w.ripcord(&["check"]);
    assert_eq!(code(&o), 3, "check sees the damage: {}", text(&o));
    t
}

#[test]
fn a_truncated_chunk_is_refused_by_name() {
    let t = refused_by_name(|f| {
        let b = std::fs::read(f).unwrap();
        std::fs::write(f, &b[..b.len() / 2]).unwrap();
    });
    assert!(
        t.contains("cannot be decompressed") || t.contains("corrupt"),
        "{t}"
    );
}

#[test]
fn a_missing_chunk_is_refused_by_name() {
    let t = refused_by_name(|f| std::fs::remove_file(f).unwrap());
    assert!(t.contains("is missing from the store"), "{t}");
}

#[test]
fn an_empty_chunk_file_is_refused_by_name() {
    refused_by_name(|f| std::fs::write(f, b"").unwrap());
}

/// A size-limited tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn new(path: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "this test mounts a {size} tmpfs to fill it and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        SmallDisk {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_during_a_checkpoint_leaves_no_valid_checkpoint_and_says_so() {
    let w = Workshop::new(3000);
    // The state directory lives on a 4 MB filesystem: the state database fits, the
    // checkpoint's chunks do not.
    let disk = SmallDisk::new(&w.path().join(".ripcord"), "8m");
    assert_eq!(code(&w.ripcord(&["capture", "start"])), 0);
    // Fill the disk, then leave 96 KB: room for the state database, not for the chunks.
    let filler = disk.path.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).and_then(|_| f.sync_all()).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(96 * 1024)).unwrap();
    drop(f);
    let o = w.ripcord(&["checkpoint"]);
    let t = text(&o);
    assert_ne!(code(&o), 0, "{t}");
    assert!(
        t.contains("No space left on device") && t.contains("store"),
        "a clear error: {t}"
    );
    let mut ctx = w.ctx();
    assert!(
        ctx.state.checkpoints().unwrap().is_empty(),
        "nothing listed"
    );
    assert!(
        !w.path().join(".ripcord/store/manifests").exists()
            || files_under(&w.path().join(".ripcord/store/manifests")).is_empty(),
        "no manifest was published"
    );
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "x"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("has no checkpoint"), "{}", text(&o));
    // Room again: the next checkpoint succeeds and is whole.
    drop(ctx);
    drop(disk);
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(w.ctx().state.checkpoints().unwrap().len(), 1);
}

/// Runs `ripcord` under a pseudo-terminal (`script`), so it prompts for approval.
fn under_tty(dir: &std::path::Path, args: &str) -> std::process::Child {
    Command::new("script")
        .args([
            "-qfec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_ripcord")),
            "/dev/null",
        ])
        .current_dir(dir)
        .env("RIPCORD_ACTOR", "alice")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn of_two_concurrent_rollbacks_exactly_one_proceeds_and_the_other_names_the_holder() {
    let w = Workshop::new(100);
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    let writes = w.business_day(4, 30);
    // Alice's rollback takes the lock, then waits at her approval prompt.
    let mut alice = under_tty(w.path(), "rollback -c billing --reason alice");
    let mut out = alice.stdout.take().unwrap();
    let seen = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let t = Instant::now();
    while w.ctx().state.locks().unwrap().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "alice never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = w.ctx().state.locks().unwrap();
    // Bob, approved up front, is refused and told who holds the lock since when.
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "bob"],
        &[("RIPCORD_ACTOR", "bob")],
    );
    let t = text(&o);
    assert_eq!(code(&o), 5, "{t}");
    assert!(
        t.contains("held by alice") && t.contains(&format!("since {}", held[0].since)),
        "{t}"
    );
    assert_eq!(
        count(&w, "SELECT COUNT(*) FROM _ripcord_frozen"),
        0,
        "bob froze nothing"
    );
    // Alice approves and completes.
    alice
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"billing\n")
        .unwrap();
    let status = alice.wait().unwrap();
    let shown = seen.join().unwrap();
    assert!(status.success(), "alice's rollback: {shown}");
    let (checked, problems) = w.check_business_writes(&writes);
    assert!(checked > 30 && problems.is_empty(), "{problems:?}");
    let mut ctx = w.ctx();
    let rbs = ctx.state.rollbacks().unwrap();
    assert_eq!(rbs.len(), 1, "exactly one rollback ran");
    assert_eq!(rbs[0].actor, "alice");
    assert!(ctx.state.locks().unwrap().is_empty());
}

#[test]
fn a_holder_killed_on_another_host_loses_the_lock_when_its_lease_runs_out() {
    let w = Workshop::new(60);
    assert_eq!(code(&w.ripcord(&["run"])), 0);
    let writes = w.business_day(6, 20);
    let lease = [("RIPCORD_LOCK_LEASE_SECS", "3")];
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "host A"],
        &[lease[0], ("RIPCORD_CRASH_AT", "freeze:after")],
    );
    assert_eq!(o.status.code(), None, "killed with SIGKILL: {}", text(&o));
    // The dead process ran on another machine: its pid means nothing here, only the lease.
    let db = rusqlite::Connection::open(w.path().join(".ripcord/state.db")).unwrap();
    db.execute("UPDATE locks SET host = 'ops-host-2'", [])
        .unwrap();
    drop(db);
    let o = w.ripcord(&["rollback", "--resume", "--yes"]);
    let t = text(&o);
    assert_eq!(code(&o), 5, "the lease still runs: {t}");
    assert!(t.contains("on ops-host-2") && t.contains("since"), "{t}");
    let until = w.ctx().state.locks().unwrap()[0].lease_until.clone();
    std::thread::sleep(Duration::from_millis(3200));
    let o = w.ripcord(&["rollback", "--resume", "--yes"]);
    assert_eq!(code(&o), 0, "taken over after {until}: {}", text(&o));
    let (_, problems) = w.check_business_writes(&writes);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(w.ctx().state.locks().unwrap().is_empty());
    assert_eq!(count(&w, "SELECT COUNT(*) FROM _ripcord_frozen"), 0);
}

/// Drops every connection ripcord has to the database, again and again, from the moment
/// the rollback's freeze is recorded until the process gives up.
fn database_goes_away(engine: &'static str) {
    let db = FreshDb::new(engine);
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("ripcord.toml");
    let d = ripcord::registry::for_url(&db.url).unwrap().dialect;
    std::fs::write(&plan, ripcord::workshop::plan_for(&db.url, d)).unwrap();
    let ctx = ctx_for(&plan);
    let mut e = ctx.engine("workshop").unwrap();
    ripcord::workshop::create(e.as_mut(), 1500, 3).unwrap();
    drop(e);
    let bin = env!("CARGO_BIN_EXE_ripcord");
    let run = |args: &[&str]| {
        Command::new(bin)
            .current_dir(dir.path())
            .env("RIPCORD_ACTOR", "tester")
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&["run"])), 0);
    let mut e = ctx.engine("workshop").unwrap();
    let writes = ripcord::workshop::business_day(e.as_mut(), 1500, 8, 120).unwrap();
    drop(e);
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut child = Command::new(bin)
        .current_dir(dir.path())
        .env("RIPCORD_ACTOR", "tester")
        .args([
            "rollback",
            "-c",
            "billing",
            "--yes",
            "--reason",
            "db goes away",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = dir.path().join(".ripcord/state.db");
    let frozen = || {
        rusqlite::Connection::open(&state)
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM phases WHERE phase = 'freeze' AND event = 'done'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .unwrap_or(0)
            > 0
    };
    let t = Instant::now();
    while !frozen() && child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut kills = 0;
    while child.try_wait().unwrap().is_none() {
        let o = match engine {
            "postgres" => Command::new("psql")
                .args(["-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c"])
                .arg(format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ))
                .output()
                .unwrap(),
            _ => {
                let ids = Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-uroot", "-N", "-B", "-e"])
                    .arg(format!(
                        "SELECT id FROM information_schema.processlist WHERE db = '{name}' AND id <> CONNECTION_ID()"
                    ))
                    .output()
                    .unwrap();
                let ids = String::from_utf8_lossy(&ids.stdout).to_string();
                let sql: String = ids
                    .split_whitespace()
                    .map(|id| format!("KILL CONNECTION {id};"))
                    .collect();
                if sql.is_empty() {
                    continue;
                }
                Command::new("mariadb")
                    .args(["-h", "127.0.0.1", "-uroot", "-f", "-e", &sql])
                    .output()
                    .unwrap()
            }
        };
        if String::from_utf8_lossy(&o.stdout).trim() != "0" {
            kills += 1;
        }
    }
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert!(kills > 0, "no connection was dropped: {t}");
    assert_ne!(
        code(&o),
        0,
        "the rollback cannot finish without its database: {t}"
    );
    assert!(
        !t.contains("panicked"),
        "a lost database is an error, not a crash: {t}"
    );
    // The database is back: the rollback resumes where it stopped and completes.
    let o = run(&["rollback", "--resume", "--yes"]);
    assert_eq!(code(&o), 0, "{engine} resume: {}", text(&o));
    let mut e = ctx.engine("workshop").unwrap();
    let (checked, problems) =
        ripcord::workshop::check_business_writes(e.as_mut(), &writes).unwrap();
    assert!(checked > 100 && problems.is_empty(), "{problems:?}");
    assert!(e.frozen_tables().unwrap().is_empty());
}

#[test]
fn postgres_goes_away_mid_rollback_and_the_rollback_resumes() {
    database_goes_away("postgres");
}

#[test]
fn mariadb_goes_away_mid_rollback_and_the_rollback_resumes() {
    database_goes_away("mysql");
}
