//! Secrets on the server engines: a password written in a PostgreSQL URL and a MariaDB
//! password handed in through the environment never reach any output ripcord produces —
//! stdout and stderr of every command (errors included), the log at its most verbose,
//! audit entries, markdown and JSON reports, the store, the state database.

mod common;
use common::*;
use std::process::Command;

const PG_PASSWORD: &str = "Pg-Pass-Secret-4471";
const MY_TOKEN: &str = "My-Token-Secret-9382";

fn mariadb(sql: &str) {
    let o = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-uroot", "-e", sql])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A MariaDB user whose password is the token, dropped with the test.
struct MyUser(String);

impl Drop for MyUser {
    fn drop(&mut self) {
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-uroot", "-e"])
            .arg(format!("DROP USER IF EXISTS '{}'@'%'", self.0))
            .status();
    }
}

#[test]
fn passwords_and_tokens_in_urls_and_environment_reach_no_output_on_server_engines() {
    // SAFETY: the only test in this binary, before it starts any thread; the test's own
    // plan loading resolves `${MY_DB_TOKEN}` as ripcord does.
    unsafe { std::env::set_var("MY_DB_TOKEN", MY_TOKEN) };
    let pg = FreshDb::new("postgres");
    let my = FreshDb::new("mysql");
    let my_name = my.url.rsplit('/').next().unwrap().to_string();
    let user = MyUser(format!("rc_{}", std::process::id()));
    mariadb(&format!(
        "CREATE USER '{u}'@'%' IDENTIFIED BY '{MY_TOKEN}'; GRANT ALL ON {my_name}.* TO '{u}'@'%'",
        u = user.0
    ));
    // PostgreSQL trusts local connections, so any password in the URL is accepted; the
    // MariaDB user really needs its password.
    let pg_url = pg
        .url
        .replace("postgres@", &format!("postgres:{PG_PASSWORD}@"));
    let my_url = my
        .url
        .replace("root@", &format!("{}:${{MY_DB_TOKEN}}@", user.0));
    let dir = tempfile::tempdir().unwrap();
    let pg_plan = ripcord::workshop::plan_for(&pg_url, ripcord::workshop::Dialect::Postgres);
    let my_plan = ripcord::workshop::plan_for(&my_url, ripcord::workshop::Dialect::Mysql);
    std::fs::create_dir_all(dir.path().join("pg")).unwrap();
    std::fs::create_dir_all(dir.path().join("my")).unwrap();
    std::fs::write(dir.path().join("pg/ripcord.toml"), &pg_plan).unwrap();
    std::fs::write(dir.path().join("my/ripcord.toml"), &my_plan).unwrap();
    // A plan whose database refuses the password: the connection error must not echo it.
    std::fs::create_dir_all(dir.path().join("bad")).unwrap();
    std::fs::write(
        dir.path().join("bad/ripcord.toml"),
        my_plan.replace("${MY_DB_TOKEN}", &format!("{MY_TOKEN}-wrong")),
    )
    .unwrap();
    let env = [
        ("MY_DB_TOKEN", MY_TOKEN),
        ("RIPCORD_LOG", "trace"),
        ("RIPCORD_ACTOR", "tester"),
    ];
    let run = |sub: &str, args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(dir.path().join(sub))
            .envs(env)
            .args(args)
            .output()
            .unwrap();
        (code(&o), text(&o))
    };

    let mut all = String::new();
    for (sub, url) in [("pg", &pg.url), ("my", &my.url)] {
        let ctx = ctx_for(&dir.path().join(sub).join("ripcord.toml"));
        let _ = url;
        let mut e = ctx.engine("workshop").unwrap();
        ripcord::workshop::create(e.as_mut(), 40, 3).unwrap();
        drop(e);
        for args in [
            vec!["check"],
            vec!["run"],
            vec!["checkpoints"],
            vec!["capture", "status"],
            vec!["verify"],
        ] {
            let (c, out) = run(sub, &args);
            if args[0] == "run" {
                assert_eq!(c, 0, "{sub} {args:?}: {out}");
            }
            all.push_str(&out);
        }
        let mut e = ctx.engine("workshop").unwrap();
        ripcord::workshop::business_day(e.as_mut(), 40, 2, 10).unwrap();
        drop(e);
        for args in [
            vec!["rollback", "-c", "billing", "--yes", "--reason", "secrets"],
            vec!["report"],
            vec!["report", "--format", "json"],
            vec!["report", "--format", "html", "--lang", "ar"],
            vec!["report", "--kpis"],
            vec!["postmortem", "--format", "html"],
            vec!["postmortem"],
            vec!["gaps"],
            vec!["audit", "show"],
            vec!["audit", "export"],
            vec!["audit", "verify"],
            // Errors that carry the plan's databases.
            vec!["capture", "status", "-c", "nope"],
            vec!["rollback", "--resume"],
        ] {
            let (c, out) = run(sub, &args);
            if args[0] == "rollback" && args.len() > 2 {
                assert_eq!(c, 0, "{sub} {args:?}: {out}");
            }
            all.push_str(&out);
        }
        for f in files_under(&dir.path().join(sub).join(".ripcord")) {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
        }
    }
    let (c, out) = run("bad", &["check"]);
    assert_ne!(c, 0, "a wrong password fails the check: {out}");
    assert!(out.contains("Access denied"), "the failure is shown: {out}");
    all.push_str(&out);
    for f in files_under(&dir.path().join("bad/.ripcord")) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
    }

    // The outputs are real: the log is verbose, the reports and the audit are there.
    for expected in [
        "rollback",
        "audit chain",
        "\"rollback\"",
        "plan database",
        "TRACE",
    ] {
        assert!(all.contains(expected), "{expected:?} not in the outputs");
    }
    assert!(all.contains(":***@"), "URLs are shown redacted");
    for secret in [PG_PASSWORD, MY_TOKEN] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
}
