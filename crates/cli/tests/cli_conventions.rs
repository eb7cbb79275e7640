//! The CLI a person expects: `--json` on every command that lists or reports (parsed here,
//! on a real run, with the field names docs/json.md promises), the plan found from a
//! subdirectory, exit codes as README documents them, completions, the man page, the
//! version with its commit, `stop --no-rollback`.

mod common;
use common::*;
use serde_json::Value;

fn json(w: &Workshop, args: &[&str]) -> (i32, Value) {
    let o = w.ripcord(args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}",
            text(&o)
        )
    });
    (code(&o), v)
}

fn has(v: &Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "no field {f:?} in {v}");
    }
}

#[test]
fn every_listing_and_report_command_prints_json_with_the_documented_fields() {
    let w = Workshop::new(30);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    w.business_day(3, 8);
    let o = w.ripcord(&[
        "rollback",
        "-c",
        "billing",
        "--yes",
        "--reason",
        "json test",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    let (c, v) = json(&w, &["checkpoints", "--json"]);
    assert_eq!(c, 0);
    has(
        &v[0],
        &[
            "id",
            "created_at",
            "components",
            "rows",
            "bytes",
            "new_bytes",
        ],
    );

    let (c, v) = json(&w, &["rollbacks", "--json"]);
    assert_eq!(c, 0);
    has(
        &v[0],
        &[
            "id",
            "components",
            "state",
            "phase",
            "started_at",
            "finished_at",
            "took_seconds",
            "at_risk",
            "recovered",
            "lost",
        ],
    );
    assert_eq!(v[0]["state"], "verified", "{v}");
    assert!(v[0]["at_risk"].as_u64().unwrap() > 0, "{v}");
    let id = v[0]["id"].as_str().unwrap().to_string();

    let (c, v) = json(&w, &["gaps", "--json"]);
    assert_eq!(c, 0);
    assert_eq!(v["rollback"], id.as_str());
    assert!(v["gaps"].as_array().unwrap().is_empty(), "{v}");
    let (c, v) = json(&w, &["gaps", "--review", "--json"]);
    assert_eq!(c, 0);
    assert!(v["overlaps"].is_array(), "{v}");

    // verify --json without --against: one JSON document on stdout, no table.
    let (c, v) = json(&w, &["verify", "--json"]);
    assert_eq!(c, 0, "{v}");
    has(&v, &["ok", "components", "invariants", "tables"]);
    has(
        &v["tables"][0],
        &[
            "component",
            "table",
            "rows",
            "fingerprint",
            "since_checkpoint",
        ],
    );
    has(&v["invariants"][0], &["component", "name", "ok", "detail"]);

    let (c, v) = json(&w, &["check", "--json"]);
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["decision"], "go", "{v}");
    has(&v["items"][0], &["kind", "subject", "status", "detail"]);
    let age = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "checkpoint_age")
        .unwrap_or_else(|| panic!("no checkpoint_age item: {v}"));
    assert_eq!(age["figures"]["limit_seconds"], 86400, "{age}");

    let (c, v) = json(&w, &["status", "--json"]);
    assert_eq!(c, 0);
    has(
        &v,
        &[
            "level",
            "capture",
            "unfinished_rollbacks",
            "locks",
            "newest_checkpoint",
        ],
    );
    has(
        &v["capture"][0],
        &["component", "database", "table", "capture", "frozen"],
    );

    let (c, v) = json(&w, &["audit", "show", "--json"]);
    assert_eq!(c, 0);
    has(&v[0], &["seq", "at", "actor", "action", "args", "result"]);

    let (c, v) = json(&w, &["report", "--json"]);
    assert_eq!(c, 0);
    has(
        &v,
        &[
            "id",
            "components",
            "verdict",
            "timeline",
            "total_seconds",
            "target_seconds",
            "target_share",
            "figures",
            "recovery_rate",
            "proof",
            "gaps",
            "overlaps",
        ],
    );
    assert_eq!(v["verdict"]["kind"], "verified", "{v}");
    let (_, same) = json(&w, &["report", "--format", "json"]);
    assert_eq!(same["id"], v["id"]);
}

#[test]
fn the_plan_is_found_from_a_subdirectory() {
    let w = Workshop::new(10);
    let sub = w.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    let o = ripcord_in(&sub, &["checkpoints", "--json"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // The state went next to the plan, not into the subdirectory.
    assert!(!sub.join(".ripcord").exists());
    assert!(w.path().join(".ripcord").exists());
}

#[test]
fn without_a_plan_here_or_above_the_error_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let o = ripcord_in(dir.path(), &["checkpoints"], &[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("or any directory above it") && text(&o).contains("ripcord init"),
        "{}",
        text(&o)
    );
}

#[test]
fn init_with_another_name_says_to_pass_it_next() {
    let dir = tempfile::tempdir().unwrap();
    let o = ripcord_in(dir.path(), &["init", "--plan", "other.toml"], &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("--plan other.toml"), "{}", text(&o));
    let o = ripcord_in(dir.path(), &["init"], &[]);
    assert!(!text(&o).contains("--plan"), "{}", text(&o));
}

#[test]
fn a_missing_table_or_one_without_a_key_is_a_plan_error_exit_2() {
    let w = Workshop::new(10);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    std::fs::write(
        w.path().join("ripcord.toml"),
        plan.replacen(
            "tables = [\"invoices\"",
            "tables = [\"no_such_table\", \"invoices\"",
            1,
        ),
    )
    .unwrap();
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        text(&o).contains("no_such_table does not exist"),
        "{}",
        text(&o)
    );

    let w = Workshop::new(10);
    w.db()
        .execute_batch("CREATE TABLE keyless (a INTEGER, b TEXT)")
        .unwrap();
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    std::fs::write(
        w.path().join("ripcord.toml"),
        plan.replacen(
            "tables = [\"invoices\"",
            "tables = [\"keyless\", \"invoices\"",
            1,
        ),
    )
    .unwrap();
    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("has no primary key"), "{}", text(&o));
}

#[test]
fn a_rollback_nobody_approved_exits_6_and_changes_nothing() {
    let w = Workshop::new(10);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    w.business_day(5, 4);
    let before: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    // No --yes and stdin is not a terminal: nobody can approve.
    let o = w.ripcord(&["rollback", "-c", "billing", "--reason", "unapproved"]);
    assert_eq!(code(&o), 6, "{}", text(&o));
    assert!(text(&o).contains("nothing was changed"), "{}", text(&o));
    let after: i64 = w
        .db()
        .query_row("SELECT COUNT(*) FROM invoices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(before, after);
}

#[test]
fn completions_man_page_and_version_with_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = ripcord_in(dir.path(), &["completions", shell], &[]);
        assert_eq!(code(&o), 0, "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            s.contains("rollbacks") && s.contains("checkpoint"),
            "{shell}: {s}"
        );
    }
    let o = ripcord_in(dir.path(), &["man"], &[]);
    assert_eq!(code(&o), 0);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.starts_with(".ie") || s.contains(".TH ripcord"), "{s}");
    let o = ripcord_in(dir.path(), &["--version"], &[]);
    let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        // The binary may be a commit behind a checkout that moved since it was built.
        Some(_) => assert!(
            regex::Regex::new(r"^ripcord \d+\.\d+\.\d+ \([0-9a-f]{7,}\)$")
                .unwrap()
                .is_match(&v),
            "{v}"
        ),
        None => assert!(v.starts_with("ripcord "), "{v}"),
    }
}

#[test]
fn stop_help_names_the_decision_matrix_and_no_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let o = ripcord_in(dir.path(), &["stop", "--help"], &[]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("decision matrix") && s.contains("--no-rollback"),
        "{s}"
    );
}

#[test]
fn quiet_hides_the_timeline_and_rust_log_filters_the_log_file() {
    let w = Workshop::new(10);
    let o = w.ripcord(&["-q", "checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).trim().is_empty(),
        "{}",
        text(&o)
    );
    let loud = w.ripcord(&["checkpoint"]);
    assert!(!String::from_utf8_lossy(&loud.stderr).trim().is_empty());
    let log = w.path().join(".ripcord/ripcord.log");
    let before = std::fs::read_to_string(&log).unwrap().len();
    let o = w.ripcord_env(&["checkpoints"], &[("RUST_LOG", "error")]);
    assert_eq!(code(&o), 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), before);
    let o = w.ripcord_env(&["checkpoints"], &[("RUST_LOG", "info")]);
    assert_eq!(code(&o), 0);
    assert!(std::fs::read_to_string(&log).unwrap().len() > before);
}

#[test]
fn an_old_checkpoint_is_no_go() {
    let w = Workshop::new(10);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    assert!(
        plan.contains("[project]"),
        "the example plan has a [project] table"
    );
    std::fs::write(
        w.path().join("ripcord.toml"),
        plan.replacen("[project]", "[project]\nmax_checkpoint_age = \"1s\"", 1),
    )
    .unwrap();
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (c, v) = json(&w, &["check", "--json"]);
    assert_eq!(c, 3, "{v}");
    assert_eq!(v["decision"], "no_go");
    let age = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "checkpoint_age")
        .unwrap();
    assert_eq!(age["status"], "no_go", "{age}");
    assert!(
        age["figures"]["age_seconds"].as_i64().unwrap() >= 2,
        "{age}"
    );
}

#[test]
fn a_broken_invariant_query_is_no_go_in_check() {
    let w = Workshop::new(10);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    let sql = regex::Regex::new(r#"(?m)^sql = "SELECT[^"]*""#).unwrap();
    assert!(sql.is_match(&plan), "the workshop plan has an invariant");
    let broken = sql.replacen(&plan, 1, r#"sql = "SELECT no_such_column FROM invoices""#);
    std::fs::write(w.path().join("ripcord.toml"), broken.as_ref()).unwrap();
    let (c, v) = json(&w, &["check", "--json"]);
    assert_eq!(c, 3, "{v}");
    let inv = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "invariant" && i["status"] == "no_go")
        .unwrap_or_else(|| panic!("no failing invariant item: {v}"));
    assert!(
        inv["detail"]
            .as_str()
            .unwrap()
            .contains("could not measure"),
        "{inv}"
    );
}

#[test]
fn postgres_notices_stay_out_of_the_log_unless_asked_for() {
    let db = FreshDb::new("postgres");
    let mut e = ripcord_postgres::PgEngine::open(&db.url).unwrap();
    ripcord_core::engine::Engine::execute(
        &mut e,
        "CREATE TABLE t (id int PRIMARY KEY, v text)",
        ripcord_core::journal::Origin::Business,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ripcord.toml"),
        format!(
            "[databases.app]\nurl = \"{}\"\n[components.c]\ndatabase = \"app\"\ntables = [\"t\"]\n",
            db.url
        ),
    )
    .unwrap();
    let notices = || {
        std::fs::read_to_string(dir.path().join(".ripcord/ripcord.log"))
            .unwrap()
            .matches("NOTICE")
            .count()
    };
    // Installing capture twice: the second install's `IF NOT EXISTS` raises NOTICEs.
    for _ in 0..2 {
        let o = ripcord_in(dir.path(), &["capture", "start"], &[]);
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    assert_eq!(notices(), 0);
    let o = ripcord_in(dir.path(), &["capture", "start"], &[("RUST_LOG", "info")]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        notices() > 0,
        "RUST_LOG=info lets the driver's NOTICEs through"
    );
}

#[test]
fn readme_exit_code_table_lists_every_exit_code_and_only_those() {
    use ripcord_core::exit;
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("### Exit codes")
        .nth(1)
        .expect("README has an exit-code section");
    let documented: std::collections::BTreeSet<i32> = section
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            l.trim_start_matches('|')
                .split('|')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    let codes = [
        exit::OK,
        exit::INTERNAL,
        exit::USAGE,
        exit::VERIFY_FAILED,
        exit::STOPPED,
        exit::LOCKED,
        exit::NOT_APPROVED,
    ];
    assert_eq!(documented, codes.into_iter().collect());
    let dir = tempfile::tempdir().unwrap();
    let help =
        String::from_utf8_lossy(&ripcord_in(dir.path(), &["--help"], &[]).stdout).to_string();
    for c in codes {
        assert!(
            help.contains(&format!("{c} ")),
            "--help does not explain exit code {c}: {help}"
        );
    }
}

#[test]
fn status_and_rollbacks_show_a_rollback_killed_mid_restore_as_unfinished() {
    let w = Workshop::new(10);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    w.business_day(7, 4);
    let o = w.ripcord_env(
        &["rollback", "-c", "billing", "--yes", "--reason", "killed"],
        &[("RIPCORD_CRASH_AT", "restore:after")],
    );
    assert_ne!(code(&o), 0, "{}", text(&o));
    let (c, v) = json(&w, &["rollbacks", "--json"]);
    assert_eq!(c, 0);
    assert_eq!(v[0]["state"], "unfinished", "{v}");
    assert_eq!(v[0]["phase"], "replay", "{v}");
    let (_, s) = json(&w, &["status", "--json"]);
    assert_eq!(s["unfinished_rollbacks"][0]["id"], v[0]["id"], "{s}");
    let frozen: Vec<&Value> = s["capture"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["frozen"] == true)
        .collect();
    assert!(
        !frozen.is_empty(),
        "the killed rollback left billing frozen: {s}"
    );
    // The console says the same, with the command that continues it.
    let o = w.ripcord(&["status"]);
    assert!(
        text(&o).contains("UNFINISHED rollback") && text(&o).contains("--resume"),
        "{}",
        text(&o)
    );
    let o = w.ripcord(&["rollbacks"]);
    assert!(text(&o).contains("unfinished (replay)"), "{}", text(&o));
}

/// The fields docs/json.md documents under `## heading`, one bullet per field, nested by
/// indentation: each is the chain of field names from the top (`checkpoints[]`, `id`).
fn documented(heading: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json.md"),
    )
    .unwrap();
    let start = doc
        .find(&format!("## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/json.md has no section {heading:?}"))
        + 3;
    let body = &doc[start..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for line in body.lines() {
        let indent = line.len() - line.trim_start().len();
        let Some(rest) = line.trim_start().strip_prefix("- `") else {
            continue;
        };
        let name = rest.split('`').next().unwrap().to_string();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut path: Vec<String> = stack.iter().map(|(_, n)| n.clone()).collect();
        path.push(name.clone());
        out.push(path);
        stack.push((indent, name));
    }
    assert!(!out.is_empty(), "no field documented under {heading:?}");
    out
}

/// Every field documented under `heading` is in `v` (array fields checked on their first
/// element, which must exist), and every field `v` has where the page documents the
/// fields one by one is documented.
fn matches_documented(v: &Value, heading: &str) {
    let paths = documented(heading);
    let key = |seg: &str| seg.trim_end_matches("[]").to_string();
    fn walk(
        v: &Value,
        at: &[String],
        paths: &[Vec<String>],
        heading: &str,
        key: &dyn Fn(&str) -> String,
    ) {
        let children: Vec<&String> = paths
            .iter()
            .filter(|p| p.len() == at.len() + 1 && p[..at.len()] == *at)
            .map(|p| &p[at.len()])
            .collect();
        if children.is_empty() {
            return; // a leaf, or a value documented in a section of its own
        }
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("{heading}: {} is not an object: {v}", at.join(".")));
        for name in obj.keys() {
            assert!(
                children.iter().any(|c| key(c) == *name),
                "{heading}: field {:?} of {} is in the output but not in docs/json.md",
                name,
                if at.is_empty() {
                    "the top".to_string()
                } else {
                    at.join(".")
                }
            );
        }
        for c in children {
            let field = obj.get(&key(c)).unwrap_or_else(|| {
                panic!(
                    "{heading}: documented field {c:?} under {:?} is not in the output: {v}",
                    at.join(".")
                )
            });
            let mut next_at = at.to_vec();
            next_at.push(c.clone());
            let has_children = paths
                .iter()
                .any(|p| p.len() > next_at.len() && p[..next_at.len()] == next_at[..]);
            if c.ends_with("[]") {
                let items = field
                    .as_array()
                    .unwrap_or_else(|| panic!("{heading}: {c} is not an array: {field}"));
                if has_children {
                    assert!(
                        !items.is_empty(),
                        "{heading}: {c} is empty, so its documented fields cannot be checked"
                    );
                    for item in items {
                        walk(item, &next_at, paths, heading, key);
                    }
                }
            } else {
                walk(field, &next_at, paths, heading, key);
            }
        }
    }
    walk(v, &[], &paths, heading, &key);
}

#[test]
fn prune_and_gc_json_have_exactly_the_fields_docs_json_md_documents() {
    let w = Workshop::new(30);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    w.business_day(4, 6);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    let killed = || {
        let o = w.ripcord_env(
            &["checkpoint"],
            &[("RIPCORD_CRASH_AT", "checkpoint:before-manifest")],
        );
        assert_eq!(o.status.code(), None, "killed: {}", text(&o));
    };

    let (c, v) = json(&w, &["prune", "--keep-last", "1", "--dry-run", "--json"]);
    assert_eq!(c, 0, "{v}");
    matches_documented(&v, "`ripcord prune --dry-run --json`");
    let fates: Vec<bool> = v["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["keep"].as_bool().unwrap())
        .collect();
    assert!(fates.contains(&true) && fates.contains(&false), "{v}");

    killed();
    let (c, v) = json(&w, &["prune", "--keep-last", "1", "--json"]);
    assert_eq!(c, 0, "{v}");
    matches_documented(&v, "`ripcord prune --json`");
    matches_documented(&v["gc"], "`ripcord gc --json`");
    assert!(v["gc"]["chunks_removed"].as_u64().unwrap() > 0, "{v}");

    killed();
    let (c, v) = json(&w, &["gc", "--json"]);
    assert_eq!(c, 0, "{v}");
    matches_documented(&v, "`ripcord gc --json`");
    assert_eq!(v["interrupted"][0]["components"][0], "billing", "{v}");
}

/// `ripcord status | head -1` panicked ("failed printing to stdout: Broken pipe"), exit 101.
/// A command whose reader went away ends like any Unix tool: by SIGPIPE, saying nothing.
/// (`status` did panic; `events` already stopped quietly.)
#[test]
fn status_into_a_closed_pipe_ends_by_sigpipe_instead_of_panicking() {
    use std::os::unix::process::ExitStatusExt;
    let w = Workshop::new(5);
    assert_eq!(code(&w.ripcord(&["checkpoint"])), 0);
    for args in [&["status"][..], &["events"], &["checkpoints", "--json"]] {
        // The reader is gone before the command starts, so its first line meets EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
            .current_dir(w.path())
            .args(args)
            .env("RIPCORD_ACTOR", "tester")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        // Ended by SIGPIPE like a C tool, or (a command that stops printing on its own
        // write error) quietly with success.
        assert!(
            out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
            "{args:?}: {:?}, {stderr}",
            out.status
        );
    }
}
