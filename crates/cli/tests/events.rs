//! The event log as another process sees it: one `ripcord` writes events while it works,
//! another reads them by sequence number (`ripcord events --after N --json`, `--follow`).

mod common;
use common::*;
use serde_json::Value;
use std::io::BufRead;

/// The envelopes `ripcord events --json [--after N]` prints.
fn events_after(w: &Workshop, after: i64) -> Vec<Value> {
    let o = w.ripcord(&["events", "--json", "--after", &after.to_string()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn kind(e: &Value) -> &str {
    e["event"]["kind"].as_str().unwrap()
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

fn position(events: &[Value], k: &str) -> usize {
    events
        .iter()
        .position(|e| kind(e) == k)
        .unwrap_or_else(|| panic!("no {k} in {events:#?}"))
}

#[test]
fn a_command_s_events_are_read_by_sequence_from_another_process() {
    let w = Workshop::new(40);
    let plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    // Without the ignore, a value in the new column becomes a data gap on rollback.
    std::fs::write(
        w.path().join("ripcord.toml"),
        plan.replace("ignore = [\"discount_baisa\"]", ""),
    )
    .unwrap();

    let o = w.ripcord(&["checkpoint"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let checkpoint = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let first = events_after(&w, 0);
    let s = seqs(&first);
    assert!(s[0] > 0 && s.windows(2).all(|p| p[0] < p[1]), "{s:?}");
    let taken = position(&first, "checkpoint_taken");
    assert!(
        position(&first, "capture_installed") < taken,
        "capture on first"
    );
    assert_eq!(first[taken]["event"]["id"], checkpoint.as_str());
    assert!(
        first[taken]["subject"]["components"]
            .as_array()
            .unwrap()
            .contains(&"billing".into())
    );
    assert!(first.iter().all(|e| e["severity"] == "info"), "{first:#?}");
    let seen = *s.last().unwrap();
    assert_eq!(
        events_after(&w, seen),
        Vec::<Value>::new(),
        "nothing new yet"
    );

    assert_eq!(code(&w.ripcord(&["run"])), 0);
    w.db()
        .execute(
            "UPDATE invoices SET discount_baisa = 777, status = 'paid' WHERE id = 3",
            [],
        )
        .unwrap();
    let o = w.ripcord(&["rollback", "-c", "billing", "--yes", "--reason", "events"]);
    assert_eq!(code(&o), 3, "{}", text(&o));

    // A reader that stopped at `seen` gets the rest, once and in order.
    let rest = events_after(&w, seen);
    let s = seqs(&rest);
    assert!(s[0] > seen && s.windows(2).all(|p| p[0] < p[1]), "{s:?}");
    assert_eq!(kind(&rest[0]), "run_started");
    let started = position(&rest, "rollback_started");
    let rollback = rest[started]["event"]["rollback"].as_str().unwrap();
    assert_eq!(rest[started]["subject"]["rollback"], rollback);
    let gap = position(&rest, "data_gap");
    assert_eq!(rest[gap]["event"]["code"], "values_without_column");
    // Why, as data, not a sentence (the console words it).
    let cause = &rest[gap]["event"]["cause"];
    assert_eq!(cause["why"], "values_without_column", "{cause}");
    assert!(cause["values"].is_object(), "{cause}");
    assert!(rest[gap]["event"].get("reason").is_none(), "{}", rest[gap]);
    assert_eq!(rest[gap]["severity"], "warning");
    assert_eq!(rest[gap]["subject"]["rollback"], rollback);
    let finished = position(&rest, "rollback_finished");
    assert!(started < gap && gap < finished);
    assert_eq!(rest[finished]["event"]["ok"], false);
    assert_eq!(rest[finished]["severity"], "critical");
    let replayed = rest
        .iter()
        .find(|e| kind(e) == "phase_finished" && e["event"]["phase"] == "replay")
        .unwrap();
    assert_eq!(replayed["event"]["figures"]["lost"], 1);
    // What a phase did is data: the console words it.
    assert_eq!(replayed["event"]["outcome"]["outcome"], "replayed");
    assert!(replayed["event"].get("detail").is_none(), "{replayed}");
    let restored = rest
        .iter()
        .find(|e| kind(e) == "phase_finished" && e["event"]["phase"] == "restore")
        .unwrap();
    assert!(
        restored["event"]["outcome"]["rows"].as_u64().unwrap() > 0,
        "{restored}"
    );
    let phases: Vec<&str> = rest
        .iter()
        .filter(|e| kind(e) == "phase_finished")
        .map(|e| e["event"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases[..3], ["assess", "approve", "freeze"]);

    // The same log for people.
    let o = w.ripcord(&["events", "--after", &seen.to_string()]);
    let t = text(&o);
    assert!(
        t.contains("warning") && t.contains("DATA GAP invoices"),
        "{t}"
    );
}

#[test]
fn follow_prints_events_another_process_appends() {
    let w = Workshop::new(20);
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_ripcord"))
        .current_dir(w.path())
        .args(["events", "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let o = w.ripcord(&["checkpoint", "-c", "billing"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let mut kinds = Vec::new();
    for l in lines.by_ref() {
        let e: Value = serde_json::from_str(&l.unwrap()).unwrap();
        kinds.push(kind(&e).to_string());
        if kind(&e) == "checkpoint_taken" {
            assert_eq!(e["event"]["id"], id.as_str());
            break;
        }
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(kinds, ["capture_installed", "checkpoint_taken"]);
}

/// A switch flip and a run stopped by a failed step are data in the log (position, cause,
/// step), not sentences: a notifier routes and words them itself.
#[test]
fn switch_flips_and_run_stops_are_typed_events() {
    let w = Workshop::new(30);
    let mut plan = std::fs::read_to_string(w.path().join("ripcord.toml")).unwrap();
    plan = plan.replace(
        "forward = \"UPDATE invoices SET discount_baisa = net_baisa / 20 WHERE status = 'open' AND id % 10 = 0\"",
        "forward = \"UPDATE invoices SET vat_baisa = vat_baisa + 1 WHERE id % 10 = 0\"",
    );
    plan.push_str(
        "\n[switches.flag]\ncomponent = \"billing\"\nkind = \"file\"\npath = \"flags/v2\"\n",
    );
    std::fs::write(w.path().join("ripcord.toml"), plan).unwrap();
    let o = w.ripcord(&["switch", "to-new", "--reason", "typed"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = w.ripcord(&["run"]);
    assert_eq!(code(&o), 4, "{}", text(&o));
    let all = events_after(&w, 0);
    let flip = &all[position(&all, "switch_flipped")]["event"];
    assert_eq!(flip["switch"], "flag");
    assert_eq!(flip["component"], "billing");
    assert_eq!(flip["position"]["side"], "new");
    let stop = &all[position(&all, "run_stopped")];
    assert_eq!(stop["severity"], "critical");
    assert_eq!(stop["event"]["cause"]["by"], "step_failed");
    assert!(stop["event"]["cause"]["step"].is_string(), "{stop}");
    assert!(stop["event"].get("reason").is_none(), "{stop}");
    let broken = all
        .iter()
        .find(|e| kind(e) == "invariant_checked" && e["event"]["ok"] == false)
        .expect("the step broke an invariant");
    let m = &broken["event"]["measure"];
    assert_eq!(m["measured"], "compared", "{broken}");
    assert_ne!(m["value"], m["expected"], "{broken}");
    // For people, the console words them.
    let t = text(&w.ripcord(&["events"]));
    assert!(t.contains("switch \"flag\" (billing) now new"), "{t}");
    assert!(t.contains("run stopped: step"), "{t}");
}
