//! The renderings of the typed reports, on fixed data: console (no colour, 100 columns),
//! markdown and JSON. A change in wording, layout or a JSON field name shows up here.

use ripcord::render::{self, Term};
use ripcord_core::check::{CheckItem, CheckReport, ItemKind, ItemStatus, age_item};
use ripcord_core::report::RollbackReport;
use ripcord_core::rollback::RollbackRecord;
use ripcord_core::verify::{InvariantResult, SinceCheckpoint, TableState, VerifyReport};

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

fn check_report(no_go: bool) -> CheckReport {
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut r = CheckReport::default();
    r.push(CheckItem::ok(
        ItemKind::Plan,
        "ripcord.toml",
        true,
        "2 components, 1 steps",
    ));
    r.push(CheckItem::ok(
        ItemKind::Database,
        "erp",
        true,
        "postgres://ripcord:***@db.example/erp",
    ));
    r.push(CheckItem::ok(
        ItemKind::Table,
        "billing.invoices",
        true,
        "exists, has a primary key",
    ));
    r.push(CheckItem::ok(
        ItemKind::Invariant,
        "billing.VAT is 5% of net",
        !no_go,
        if no_go {
            "could not measure: column \"vat\" does not exist"
        } else {
            "0 vs expected 0 (tolerance 0)"
        },
    ));
    let taken = if no_go {
        "2026-11-27T09:30:00Z"
    } else {
        "2026-11-29T10:45:00Z"
    };
    r.push(age_item(
        "billing",
        "cp-1a2b3c",
        taken,
        now,
        std::time::Duration::from_secs(86400),
    ));
    r.push(CheckItem::new(
        ItemKind::StepVerify,
        "add discount column",
        ItemStatus::Warn,
        "does not run before the step: no such column: discount_baisa (expected only if the step creates what it reads)",
    ));
    r
}

#[test]
fn check_go_renders_on_console_markdown_and_json() {
    let r = check_report(false);
    insta::assert_snapshot!(
        "check_go_console",
        render::check_console(&r, &Term::plain(100))
    );
    insta::assert_snapshot!("check_go_markdown", render::check_markdown(&r));
    insta::assert_snapshot!("check_go_json", pretty(&render::check_json(&r)));
}

#[test]
fn check_no_go_names_the_broken_query_and_the_old_checkpoint() {
    let r = check_report(true);
    let console = render::check_console(&r, &Term::plain(100));
    assert!(console.trim_end().ends_with("NO-GO"), "{console}");
    insta::assert_snapshot!("check_no_go_console", console);
    insta::assert_snapshot!("check_no_go_json", pretty(&render::check_json(&r)));
}

#[test]
fn a_narrow_terminal_wraps_the_table_within_its_width() {
    let console = render::check_console(&check_report(true), &Term::plain(60));
    for line in console.lines() {
        assert!(
            line.chars().count() <= 60,
            "{} > 60: {line}",
            line.chars().count()
        );
    }
}

#[test]
fn colour_marks_no_go_red_only_when_asked() {
    let r = check_report(true);
    let plain = render::check_console(&r, &Term::plain(100));
    assert!(!plain.contains('\x1b'), "{plain}");
    let coloured = Term {
        colour: true,
        width: Some(100),
    };
    let out = render::check_console(&r, &coloured);
    assert!(out.contains("\x1b[1;31mNO-GO\x1b[0m"), "{out:?}");
}

fn verify_report() -> VerifyReport {
    VerifyReport {
        components: vec!["billing".into()],
        invariants: vec![InvariantResult {
            component: "billing".into(),
            name: "total = net + VAT".into(),
            ok: false,
            detail: "305655436 vs expected 305655435 (tolerance 0)".into(),
        }],
        tables: vec![
            TableState {
                component: "billing".into(),
                table: "invoices".into(),
                rows: 1200,
                fingerprint: "9f86d081884c7d659a2feaa0c55ad015".into(),
                since_checkpoint: SinceCheckpoint::Changed {
                    checkpoint: "cp-1a2b3c".into(),
                    rows_then: 1180,
                },
            },
            TableState {
                component: "billing".into(),
                table: "payments".into(),
                rows: 800,
                fingerprint: "2c26b46b68ffc68ff99b453c1d304134".into(),
                since_checkpoint: SinceCheckpoint::Unchanged {
                    checkpoint: "cp-1a2b3c".into(),
                },
            },
        ],
    }
}

#[test]
fn verify_renders_on_console_and_json() {
    let r = verify_report();
    assert!(!r.ok());
    insta::assert_snapshot!(
        "verify_console",
        render::verify_console(&r, &Term::plain(100))
    );
    insta::assert_snapshot!("verify_json", pretty(&render::verify_json(&r)));
}

fn rollback_record() -> RollbackRecord {
    serde_json::from_value(serde_json::json!({
        "version": 2,
        "id": "rb-20261129-120000-abcd",
        "components": ["billing"],
        "checkpoints": {"billing": "cp-1a2b3c"},
        "reason": "VAT rounding broke invoices",
        "actor": "amal",
        "approved_by": "amal",
        "status": {"status": "completed", "ok": false},
        "started_at": "2026-11-29T12:00:00.000Z",
        "finished_at": "2026-11-29T12:00:09.500Z",
        "drain_to": {"erp": 4711},
        "figures": {"at_risk": 40, "recovered": 39, "lost": 1, "restored_rows": 2000, "conflicts": 1, "review": 1},
        "gaps": [{
            "component": "billing", "table": "payments", "key": "[17]", "seq": 4700,
            "op": "insert", "reason": "the legacy table has no column for currency",
            "suggestion": "re-enter the payment by hand", "row": null
        }],
        "conflicts": [{"table": "invoices", "key": "[3]", "seq": 4690, "columns": ["status"]}],
        "unmapped_columns": {"invoices": ["discount_baisa"]},
        "phase_times": [
            {"phase": "assess", "seconds": 0.5},
            {"phase": "approve", "seconds": 0.0},
            {"phase": "freeze", "seconds": 0.25},
            {"phase": "drain", "seconds": 0.25},
            {"phase": "restore", "seconds": 5.0},
            {"phase": "replay", "seconds": 2.0},
            {"phase": "verify", "seconds": 1.0},
            {"phase": "switch_back", "seconds": 0.0},
            {"phase": "unfreeze", "seconds": 0.25},
            {"phase": "report", "seconds": 0.25}
        ],
        "proof": {
            "tables": [{"component": "billing", "table": "invoices", "rows": 1200, "differences": 0, "examples": []}],
            "invariants": [{"component": "billing", "name": "total = net + VAT", "ok": true, "detail": "1 vs expected 1 (tolerance 0)"}]
        },
        "rto_seconds": 7.0,
        "notes": ["1 business write could not be carried back"],
        "overlaps": [{"table": "invoices", "key": "[5]", "seq": 4695, "business_columns": ["paid_at"], "kept_legacy": {"status": {"t": "text", "v": "open"}}}]
    }))
    .unwrap()
}

#[test]
fn the_rollback_report_renders_as_markdown_json_and_a_timeline() {
    let r = RollbackReport::of(&rollback_record());
    // 9.5 s against a 7 s target: over 120% of it.
    assert!(r.over_target);
    assert_eq!(r.write_downtime_seconds, 8.75);
    insta::assert_snapshot!("rollback_markdown", render::rollback_markdown(&r));
    insta::assert_snapshot!("rollback_json", render::rollback_json(&r));
    insta::assert_snapshot!(
        "rollback_console",
        render::rollback_console(&r, &Term::plain(100))
    );
}

/// A guarded run's stop, the decision, then the rollback's own events, at fixed times.
fn event_log() -> Vec<ripcord_core::events::Envelope> {
    use ripcord_core::events::{Envelope, Event};
    let at = |i: i64| format!("2026-11-29T11:59:5{i}.000Z");
    let stop_ms = 1_795_953_595_000;
    let events = vec![
        Event::ProbeWindow {
            run: "run-20261129-115900-ef01".into(),
            probe: "wrong_invoices".into(),
            stop_ms,
            baseline_median: Some(0.0),
            samples: (0..10)
                .map(|i| {
                    (
                        stop_ms - 9_000 + i * 1_000,
                        if i < 6 { 0.0 } else { 4.0 * (i - 5) as f64 },
                    )
                })
                .collect(),
        },
        Event::RunStopped {
            run: "run-20261129-115900-ef01".into(),
            cause: ripcord_core::events::RunStop::Stop {
                source: ripcord_core::run::StopSource::Rule {
                    rule: "invoices wrong".into(),
                    level: ripcord_core::plan::Level::Red,
                },
                reason: "rule \"invoices wrong\" is red: wrong_invoices > 0 (12)".into(),
            },
            components: vec!["billing".into()],
        },
        Event::DecisionMade {
            run: "run-20261129-115900-ef01".into(),
            scenario: "data_corruption".into(),
            decision: "rollback_now".into(),
            by: "matrix".into(),
            evidence: serde_json::json!({"rule": "invoices wrong", "value": 12.0}),
        },
        Event::RollbackStarted {
            rollback: "rb-20261129-120000-abcd".into(),
            components: vec!["billing".into()],
            checkpoint: "cp-1a2b3c".into(),
            reason: "VAT rounding broke invoices".into(),
        },
        // The values after the stop, told when the guard ends after the rollback.
        Event::ProbeWindow {
            run: "run-20261129-115900-ef01".into(),
            probe: "wrong_invoices".into(),
            stop_ms,
            baseline_median: Some(0.0),
            samples: (1..=3).map(|i| (stop_ms + i * 1_000, 12.0)).collect(),
        },
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let mut e = Envelope::new(event);
            e.seq = Some(i as i64 + 1);
            e.at = at(i as i64);
            e
        })
        .collect()
}

#[test]
fn the_rollback_report_and_post_mortem_render_as_html_and_markdown_in_english_and_arabic() {
    use ripcord::report_html;
    use ripcord::serve::i18n::Lang;
    let r = RollbackReport::of(&rollback_record());
    let pm = ripcord_core::report::PostMortem::gather(r.clone(), &event_log());
    assert!(pm.stop.is_some() && pm.decision.is_some(), "{pm:#?}");
    assert_eq!(pm.events.len(), 1);
    assert_eq!(
        pm.probes.len(),
        1,
        "the stopped run's probe values, before and after the stop joined: {pm:#?}"
    );
    assert_eq!(pm.probes[0].samples.len(), 13);
    for lang in [Lang::En, Lang::Ar] {
        let code = lang.code();
        let html = report_html::rollback(&pm, lang);
        assert!(html.contains("<polyline"), "the probe's values are drawn");
        assert!(html.contains(">+3.00 s</text>"), "and those after the stop");
        assert!(
            !html.contains("<script") && !html.contains(" src="),
            "self-contained"
        );
        insta::assert_snapshot!(format!("rollback_html_{code}"), html);
        insta::assert_snapshot!(
            format!("postmortem_md_{code}"),
            report_html::postmortem_md(&pm, lang)
        );
        let pm_html = report_html::postmortem_html(&pm, lang);
        if lang == Lang::Ar {
            // The page, and every event line on it, reads right to left.
            assert!(pm_html.contains("<html lang=\"ar\" dir=\"rtl\">"));
            assert!(
                pm_html
                    .contains("<bdi dir=\"rtl\">الاسترجاع \u{2068}rb-20261129-120000-abcd\u{2069}"),
                "{pm_html}"
            );
            let md = report_html::postmortem_md(&pm, lang);
            assert!(
                md.contains("| قرار \u{2068}data_corruption\u{2069}"),
                "the event lines in Arabic: {md}"
            );
            assert!(!md.contains("Components:"), "the summary in Arabic: {md}");
        }
        insta::assert_snapshot!(format!("postmortem_html_{code}"), pm_html);
    }
}

#[test]
fn the_kpis_name_the_thresholds_a_rollback_crossed() {
    let k = ripcord_core::report::Kpis::of(&[rollback_record()]);
    insta::assert_snapshot!("kpis_console", render::kpis_console(&k, &Term::plain(100)));
}

/// Every string in `v`, keys aside.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// A core value stores data only: no string in its JSON is a sentence (its data here has
/// no spaces, so a space is a word added in core), and it reads back as it was.
fn stores_data_only<T>(value: &T) -> serde_json::Value
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let v = serde_json::to_value(value).unwrap();
    let mut all = Vec::new();
    strings(&v, &mut all);
    assert!(
        all.iter().all(|s| !s.contains(' ')),
        "a sentence in the stored form: {v}"
    );
    assert_eq!(&serde_json::from_value::<T>(v.clone()).unwrap(), value);
    v
}

/// Regression (issue 11): a rollback's notes were sentences built in core and stored so.
/// Each note is data in the record and reads the same line as before at the edge; a
/// record an older ripcord wrote, with sentences, still reads and shows them unchanged.
#[test]
fn rollback_notes_are_stored_as_data_and_worded_as_before() {
    use ripcord_core::events::ContinuityVerdict;
    use ripcord_core::rollback::RollbackNote as N;
    let cases = [
        (
            N::RefusedWritesToDeletedRows { writes: 2 },
            "2 refused writes were to rows the business deleted later; those rows are absent, as the business left them",
        ),
        (
            N::ReferentialIntegrity {
                orphans: "lines(order_id)->orders(id):3".into(),
            },
            "referential integrity: lines(order_id)->orders(id):3",
        ),
        (
            N::NotSwitchedBack,
            "traffic was not switched back: verification did not pass",
        ),
        (
            N::NoneRecovered { at_risk: 7 },
            "7 business writes were at risk and none was carried back: this rollback failed",
        ),
        (
            N::CountOnly {
                table: "orders".into(),
                why: "unmatched".into(),
            },
            "orders: only the row counts were compared (unmatched); the rollback cannot vouch for its values",
        ),
        (
            N::BothSidesStayFrozen,
            "legacy stays frozen and traffic stays on the new side (frozen too): verification did not pass",
        ),
        (
            N::AbandonedLeftFrozen {
                tables: vec!["orders".into(), "lines".into()],
            },
            "abandoned after restoring orders, lines: those tables hold the checkpoint without the business writes since, so they stay frozen until a new rollback of their components restores them and carries the writes back",
        ),
        (
            N::AbandonedWhileSwitching,
            "abandoned while moving the switches: legacy and the new side both stay frozen until traffic is placed by hand (`ripcord switch status`)",
        ),
        (
            N::AbandonedBeforeSwitching,
            "abandoned before the switches moved: traffic stays on the new side (unfrozen), legacy stays frozen and its sync is running again",
        ),
        (
            N::Continuity {
                workflow: "checkout".into(),
                ok: false,
                verdict: ContinuityVerdict::Unmeasured {
                    error: "refused".into(),
                },
            },
            "continuity check \"checkout\": FAILED (could not measure: refused)",
        ),
    ];
    for (note, line) in &cases {
        stores_data_only(note);
        assert_eq!(render::rollback_note(note), *line);
        // And in Arabic for `report --lang ar` (issue 15).
        let ar = ripcord::serve::i18n::Tr::with(ripcord::serve::i18n::Lang::Ar, |tr| {
            render::rollback_note_in(tr, note)
        });
        assert!(has_arabic(&ar) && !ar.contains('{'), "{ar}");
    }

    // A version-3 record, notes as sentences.
    let mut old = serde_json::to_value(rollback_record()).unwrap();
    old["version"] = 3.into();
    old["notes"] = serde_json::json!(["1 business write could not be carried back"]);
    let rec: RollbackRecord = serde_json::from_value(old).unwrap();
    assert_eq!(
        rec.notes,
        vec![N::Described {
            text: "1 business write could not be carried back".into()
        }]
    );
    let r = RollbackReport::of(&rec);
    assert!(
        render::rollback_markdown(&r).contains("> 1 business write could not be carried back\n")
    );
    let json: serde_json::Value = serde_json::from_str(&render::rollback_json(&r)).unwrap();
    assert_eq!(
        json["notes"],
        serde_json::json!(["1 business write could not be carried back"])
    );
    assert_eq!(json["notes_typed"][0]["note"], "described", "{json}");
    // What this ripcord writes is typed, and says so by its version.
    let mut rec = rec;
    rec.notes.push(N::NotSwitchedBack);
    let stored = serde_json::to_value(&rec).unwrap();
    assert_eq!(
        stored["notes"][1],
        serde_json::json!({"note": "not_switched_back"})
    );
}

/// Regression (issue 11): a failed sync stored the failure as a sentence. It is data now
/// (which table and key, the database's code and message verbatim) and reads as before
/// at the edge; a record an older ripcord wrote reads back with its sentence.
#[test]
fn a_failed_sync_is_stored_as_data_and_worded_as_before() {
    use ripcord::console;
    use ripcord_core::engine::{Refusal, Violated};
    use ripcord_core::events::GapReason;
    use ripcord_core::sync::{SyncFailure, SyncState};
    let failure = SyncFailure::CriticalGaps {
        component: "orders".into(),
        gaps: 1,
        table: "orders".into(),
        key: "[2]".into(),
        seq: 5,
        cause: GapReason::Refused {
            refusal: Refusal::new(Violated::Other, "1811", "legacy-refuses-bad-notes"),
        },
    };
    let state = SyncState::Failed {
        failure: failure.clone(),
    };
    let v = stores_data_only(&state);
    assert_eq!(
        v["failure"]["cause"]["refusal"],
        serde_json::json!({"violated": {"rule": "other"}, "code": "1811", "message": "legacy-refuses-bad-notes"})
    );
    assert_eq!(
        console::sync_failure(&failure),
        "1 write(s) of critical component orders could not be applied to legacy (first: orders [2] #5: the legacy database refused the write: legacy-refuses-bad-notes)"
    );
    // JSON for people keeps the words beside the data.
    let mut worded = v.clone();
    console::word_json(&mut worded);
    assert_eq!(worded["error"], console::sync_failure(&failure).as_str());
    assert_eq!(worded["failure"], v["failure"]);

    let old: SyncState = serde_json::from_value(
        serde_json::json!({"state": "failed", "error": "2 write(s) of critical component orders could not be applied"}),
    )
    .unwrap();
    assert_eq!(
        old,
        SyncState::Failed {
            failure: SyncFailure::Described {
                error: "2 write(s) of critical component orders could not be applied".into()
            }
        }
    );
    let acceptance: ripcord_core::sync::GapAcceptance = serde_json::from_value(
        serde_json::json!({"by": "ops", "reason": "known", "at": "2026-11-29T12:00:00Z", "gaps": 1, "error": "lost one"}),
    )
    .unwrap();
    assert_eq!(
        acceptance.failure,
        SyncFailure::Described {
            error: "lost one".into()
        }
    );
}

/// Regression (issue 11): the guard's rule detail was a sentence in its status snapshot.
/// It is data now, worded by the edge as before, and `status --json` keeps the words as
/// `detail` beside it.
#[test]
fn a_rule_detail_is_stored_as_data_and_worded_as_before() {
    use ripcord::console;
    use ripcord_core::events::RuleProblem;
    use ripcord_core::status::RuleDetail as D;
    let cases = [
        (
            D::Held {
                held_ms: 298,
                failures: 4,
            },
            "held 298 ms (4 breaching samples in all)",
        ),
        (
            D::Breaching {
                held_ms: 100,
                hold_ms: 700,
            },
            "breaching for 100 ms of 700 ms",
        ),
        (
            D::CouldNotMeasure {
                times: 3,
                problem: RuleProblem::Unmeasured {
                    probe: "lat".into(),
                    error: "refused".into(),
                },
            },
            "could not measure 3 times in a row: lat: refused",
        ),
        (
            D::Inconclusive {
                times: 1,
                problem: RuleProblem::NoBaseline {
                    probe: "lat".into(),
                },
            },
            "inconclusive 1 times: no baseline for lat: run `ripcord baseline` before the migration",
        ),
        (D::NotConfirmed, "not confirmed on re-check"),
    ];
    for (detail, line) in &cases {
        stores_data_only(detail);
        assert_eq!(console::rule_detail(detail), *line);
        // And in Arabic on the dashboard's `?lang=ar` page (issue 15).
        let ar = ripcord::serve::i18n::Tr::with(ripcord::serve::i18n::Lang::Ar, |tr| {
            console::rule_detail_in(tr, detail)
        });
        assert!(has_arabic(&ar) && !ar.contains('{'), "{ar}");
    }
    let view = ripcord_core::status::RuleView {
        name: "slow".into(),
        level: ripcord_core::plan::Level::Red,
        status: ripcord_core::status::RuleStatus::Firing,
        breach_since_ms: Some(1),
        failures: 4,
        consecutive_errors: 0,
        inconclusive: 0,
        why: Some(cases[0].0.clone()),
    };
    let mut v = serde_json::to_value(&view).unwrap();
    console::word_json(&mut v);
    assert_eq!(
        v["detail"], "held 298 ms (4 breaching samples in all)",
        "{v}"
    );
    assert_eq!(v["why"]["kind"], "held", "{v}");
}

/// One event of every kind the console words, with every optional part, for the event-line
/// snapshots.
fn every_kind_of_event() -> Vec<ripcord_core::events::Event> {
    use ripcord_core::engine::{Refusal, Violated};
    use ripcord_core::events::{
        ContinuityVerdict, Event, GapCode, GapReason, LevelCause, Operation, RunStop, SyncEnd,
    };
    use ripcord_core::plan::Level;
    use ripcord_core::rollback::{Figures, PhaseOutcome, SwitchMoved};
    use ripcord_core::status::RuleStatus;
    use ripcord_core::switch::Position;
    let figures = Figures {
        at_risk: 40,
        recovered: 39,
        lost: 1,
        restored_rows: 2000,
        conflicts: 1,
        review: 1,
    };
    let phase = |phase: &str, seconds: f64, outcome: PhaseOutcome| Event::PhaseFinished {
        rollback: "rb-1".into(),
        phase: phase.into(),
        seconds,
        outcome,
        figures: figures.clone(),
    };
    let rule = |status: RuleStatus| LevelCause::Rule {
        status,
        held_ms: 3000,
        hold_ms: 5000,
        failures: 4,
        errors: 3,
        inconclusive: 2,
        problem: None,
    };
    let gap = |cause: GapReason| Event::DataGap {
        rollback: "rb-1".into(),
        table: "payments".into(),
        key: "[17]".into(),
        code: cause.code(),
        cause,
    };
    let mut out = vec![
        Event::CaptureInstalled {
            database: "erp".into(),
            tables: vec!["invoices".into(), "payments".into()],
        },
        Event::CheckpointTaken {
            id: "cp-1a2b3c".into(),
            components: vec!["billing".into()],
            rows: 2000,
            bytes: 3 << 20,
            new_bytes: 4096,
            seconds: 1.25,
        },
        Event::RunStarted {
            run: "run-9".into(),
        },
        Event::StepStarted {
            run: "run-9".into(),
            step: "add VAT column".into(),
        },
        Event::StepFinished {
            run: "run-9".into(),
            step: "add VAT column".into(),
            ok: true,
            error: None,
            seconds: 0.5,
        },
        Event::StepFinished {
            run: "run-9".into(),
            step: "backfill".into(),
            ok: false,
            error: Some("duplicate key value".into()),
            seconds: 2.0,
        },
        Event::RunStopped {
            run: "run-9".into(),
            cause: RunStop::StepFailed {
                step: "backfill".into(),
                error: "duplicate key value".into(),
            },
            components: vec!["billing".into()],
        },
        Event::RunStopped {
            run: "run-9".into(),
            cause: RunStop::Stop {
                source: ripcord_core::run::StopSource::Command {
                    actor: "amal".into(),
                    request: 7,
                },
                reason: "invoices look wrong".into(),
            },
            components: vec!["billing".into()],
        },
        Event::RollbackStarted {
            rollback: "rb-1".into(),
            components: vec!["billing".into()],
            checkpoint: "cp-1a2b3c".into(),
            reason: "invoices look wrong".into(),
        },
        Event::PhaseStarted {
            rollback: "rb-1".into(),
            phase: "restore".into(),
        },
        Event::Progress {
            what: Operation::Replay {
                components: vec!["billing".into()],
            },
            done: 20,
            total: 40,
        },
        Event::DataProgress {
            what: Operation::Restore {
                table: "invoices".into(),
            },
            rows: 1000,
            total_rows: 2000,
            bytes: 1 << 20,
            seconds: 0.5,
            finished: false,
        },
        Event::DataProgress {
            what: Operation::Checkpoint {
                table: "invoices".into(),
            },
            rows: 2000,
            total_rows: 2000,
            bytes: 2 << 20,
            seconds: 1.0,
            finished: true,
        },
        phase("assess", 0.5, PhaseOutcome::Assessed { at_risk: 40 }),
        phase("approve", 0.0, PhaseOutcome::Approved { by: "amal".into() }),
        phase("freeze", 0.25, PhaseOutcome::Frozen),
        phase("drain", 0.25, PhaseOutcome::Drained { at_risk: 40 }),
        phase(
            "restore",
            5.0,
            PhaseOutcome::Restored {
                rows: 2000,
                already: 0,
            },
        ),
        phase(
            "restore",
            5.0,
            PhaseOutcome::Restored {
                rows: 2000,
                already: 2,
            },
        ),
        phase("replay", 2.0, PhaseOutcome::Replayed),
        phase(
            "verify",
            1.0,
            PhaseOutcome::Verified {
                differences: 0,
                broken_invariants: 0,
            },
        ),
        phase(
            "switch_back",
            0.1,
            PhaseOutcome::SwitchedBack {
                switches: vec![
                    SwitchMoved {
                        switch: "billing-flag".into(),
                        already: false,
                    },
                    SwitchMoved {
                        switch: "vat-flag".into(),
                        already: true,
                    },
                ],
                invalidations: 1,
            },
        ),
        phase("switch_back", 0.0, PhaseOutcome::NoSwitches),
        phase("switch_back", 0.0, PhaseOutcome::SwitchBackSkipped),
        phase("unfreeze", 0.25, PhaseOutcome::Unfrozen),
        phase("report", 0.25, PhaseOutcome::Reported),
        phase("drain", 0.1, PhaseOutcome::SyncPending { pending: 3 }),
        phase("freeze", 0.1, PhaseOutcome::BothSidesFrozen),
        phase(
            "drain",
            0.1,
            PhaseOutcome::SyncDrained {
                applied: 3,
                at_risk: 40,
            },
        ),
        phase("restore", 0.0, PhaseOutcome::KeptCurrentBySync),
        phase(
            "verify",
            1.0,
            PhaseOutcome::SidesCompared {
                differences: 2,
                broken_invariants: 1,
                count_only: vec![],
            },
        ),
        phase(
            "verify",
            1.0,
            PhaseOutcome::SidesCompared {
                differences: 0,
                broken_invariants: 0,
                count_only: vec!["audit_log".into()],
            },
        ),
        phase("unfreeze", 0.0, PhaseOutcome::BothSidesStayFrozen),
        phase("unfreeze", 0.1, PhaseOutcome::LegacyUnfrozenNewFenced),
        gap(GapReason::NoRow),
        gap(GapReason::Refused {
            refusal: Refusal::new(
                Violated::NotNull {
                    column: Some("currency".into()),
                },
                "23502",
                "null value in column \"currency\"",
            ),
        }),
        gap(GapReason::CreatedByMigration),
        gap(GapReason::TableNotRestored {
            table: "payments".into(),
        }),
        gap(GapReason::MappingFailed {
            error: "no reverse for status".into(),
        }),
        gap(GapReason::ValueNotCarried {
            column: "amount".into(),
            error: "not a number".into(),
        }),
        gap(GapReason::KeyMissing {
            column: "id".into(),
        }),
        gap(GapReason::NoRowImage),
        gap(GapReason::ValuesWithoutColumn {
            captured: "payments".into(),
            values: [(
                "currency".to_string(),
                ripcord_core::value::Value::Text("OMR".into()),
            )]
            .into(),
        }),
        gap(GapReason::Described {
            code: GapCode::Unmappable,
            reason: "an older reason".into(),
            suggestion: "an older suggestion".into(),
        }),
        Event::Conflict {
            rollback: "rb-1".into(),
            table: "invoices".into(),
            key: "[3]".into(),
            columns: vec!["status".into()],
        },
        Event::RollbackFinished {
            rollback: "rb-1".into(),
            ok: true,
            seconds: 9.5,
            rto_seconds: 900.0,
            at_risk: 40,
            recovered: 40,
            lost: 0,
        },
        Event::RollbackFinished {
            rollback: "rb-1".into(),
            ok: false,
            seconds: 9.5,
            rto_seconds: 7.0,
            at_risk: 40,
            recovered: 39,
            lost: 1,
        },
        Event::RtoExceeded {
            rollback: "rb-1".into(),
            seconds: 9.5,
            rto_seconds: 7.0,
        },
        Event::SyncLag {
            component: "billing".into(),
            rows: 12,
            seconds: 1.5,
            applied: 300,
        },
        Event::SyncGap {
            component: "billing".into(),
            table: "payments".into(),
            key: "[17]".into(),
            cause: GapReason::NoRow,
            code: GapCode::NoRow,
        },
        Event::SyncStopped {
            component: "billing".into(),
            ok: false,
            cause: SyncEnd::CriticalGaps {
                gaps: 2,
                table: "payments".into(),
                key: "[17]".into(),
                seq: 4700,
                cause: GapReason::NoRow,
            },
        },
        Event::SyncStopped {
            component: "billing".into(),
            ok: true,
            cause: SyncEnd::Described {
                reason: "released".into(),
            },
        },
        Event::SwitchFlipped {
            switch: "billing-flag".into(),
            component: "billing".into(),
            position: Position::Legacy,
            rollback: Some("rb-1".into()),
            completed_unfinished: None,
        },
        Event::SwitchFlipped {
            switch: "billing-flag".into(),
            component: "billing".into(),
            position: Position::New { stage: Some(2) },
            rollback: None,
            completed_unfinished: Some("flip-3".into()),
        },
        Event::SwitchFlipFailed {
            switch: "billing-flag".into(),
            component: "billing".into(),
            target: Position::Legacy,
            rollback: Some("rb-1".into()),
            error: "HTTP 503".into(),
        },
        Event::SwitchFellBack {
            switch: "billing-flag".into(),
            component: "billing".into(),
            rule: "errors".into(),
            from: Position::New { stage: Some(2) },
            to: Position::Legacy,
        },
        Event::ProbeWindow {
            run: "run-9".into(),
            probe: "wrong_invoices".into(),
            stop_ms: 10_000,
            baseline_median: Some(0.0),
            samples: vec![(9_000, 0.0), (10_000, 4.0)],
        },
        Event::LevelChanged {
            rule: String::new(),
            from: Level::Green,
            to: Level::Red,
            cause: LevelCause::Overall {
                rules: vec!["errors".into()],
                trends: vec!["latency".into()],
            },
            evidence: serde_json::Value::Null,
        },
        Event::LevelChanged {
            rule: String::new(),
            from: Level::Red,
            to: Level::Green,
            cause: LevelCause::Overall {
                rules: vec![],
                trends: vec![],
            },
            evidence: serde_json::Value::Null,
        },
        Event::CheckpointStale {
            component: "billing".into(),
            checkpoint: "cp-1a2b3c".into(),
            age_seconds: 30 * 3600,
            limit_seconds: 24 * 3600,
        },
        Event::TrendWarning {
            probe: "latency".into(),
            threshold: 500.0,
            eta_seconds: 170.0,
        },
        Event::NotConfirmed {
            rule: "errors".into(),
            evidence: serde_json::Value::Null,
        },
        Event::StopRequested {
            run: "run-9".into(),
            source: ripcord_core::run::StopSource::Command {
                actor: "amal".into(),
                request: 7,
            },
            reason: "invoices look wrong".into(),
            scenario: None,
        },
        Event::StatementCancelled {
            run: "run-9".into(),
            step: "backfill".into(),
            after_ms: 42.0,
        },
        Event::DecisionMade {
            run: "run-9".into(),
            scenario: "data_corruption".into(),
            decision: "rollback_now".into(),
            by: "matrix".into(),
            evidence: serde_json::Value::Null,
        },
        Event::ApprovalRequested {
            run: "run-9".into(),
            decision: "rollback".into(),
            scenario: "data_corruption".into(),
            approvers: vec!["Huda".into(), "Omar".into()],
            deadline: "2026-11-29T21:20:00Z".into(),
        },
        Event::ApprovalRequested {
            run: "run-9".into(),
            decision: "rollback".into(),
            scenario: "data_corruption".into(),
            approvers: vec![],
            deadline: "2026-11-29T21:20:00Z".into(),
        },
        Event::ApprovalAnswered {
            run: "run-9".into(),
            decision: "rollback".into(),
            approved: true,
            by: "Huda".into(),
        },
        Event::ApprovalAnswered {
            run: "run-9".into(),
            decision: "rollback".into(),
            approved: false,
            by: "Omar".into(),
        },
        Event::Waiting {
            what: Operation::Approval {
                decision: "rollback".into(),
                scenario: "data_corruption".into(),
            },
            remaining_seconds: 120.0,
        },
        Event::Waiting {
            what: Operation::SyncBlocked {
                component: "billing".into(),
            },
            remaining_seconds: 5.0,
        },
        Event::ContinuityChecked {
            run: "run-9".into(),
            workflow: "issue invoice".into(),
            ok: false,
            verdict: ContinuityVerdict::Unmeasured {
                error: "HTTP 500".into(),
            },
        },
        Event::Unknown,
    ];
    for status in [
        RuleStatus::Firing,
        RuleStatus::Breaching,
        RuleStatus::CouldNotMeasure,
        RuleStatus::Inconclusive,
        RuleStatus::Ok,
    ] {
        out.push(Event::LevelChanged {
            rule: "errors".into(),
            from: Level::Yellow,
            to: Level::Orange,
            cause: rule(status),
            evidence: serde_json::Value::Null,
        });
    }
    for what in [
        Operation::Differential {
            table: "invoices".into(),
            base: "cp-1".into(),
            changed: 12,
        },
        Operation::Restored {
            table: "invoices".into(),
        },
        Operation::Verify {
            table: "invoices".into(),
        },
        Operation::Baseline {
            probe: "latency".into(),
        },
        Operation::Other,
    ] {
        out.push(Event::Progress {
            what,
            done: 1,
            total: 2,
        });
    }
    out
}

/// Every event line as `ripcord events`, the dashboard and the reports word it.
#[test]
fn every_event_line_in_english() {
    let lines: Vec<String> = every_kind_of_event()
        .iter()
        .map(ripcord::console::describe)
        .collect();
    insta::assert_snapshot!("event_lines_en", lines.join("\n"));
}

fn has_arabic(s: &str) -> bool {
    s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

/// Every event line in Arabic, as the dashboard (`?lang=ar`) and the Arabic reports show
/// them: worded in Arabic, identifiers and numbers between FSI and PDI.
#[test]
fn every_event_line_in_arabic() {
    use ripcord::serve::i18n::Lang;
    let lines: Vec<String> = every_kind_of_event()
        .iter()
        .map(|e| ripcord::console::describe_in(Lang::Ar, e))
        .collect();
    for l in &lines {
        assert!(has_arabic(l), "not in Arabic: {l}");
        // Fluent shows a missing argument or message as `{$name}` / `{???}`.
        assert!(!l.contains('{'), "{l}");
        assert_eq!(
            l.matches('\u{2068}').count(),
            l.matches('\u{2069}').count(),
            "every isolate closed: {l}"
        );
    }
    let joined = lines.join("\n");
    for id in [
        "\u{2068}cp-1a2b3c\u{2069}",
        "\u{2068}rb-1\u{2069}",
        "\u{2068}\"billing-flag\"\u{2069}",
    ] {
        assert!(joined.contains(id), "{id:?} isolated in {joined}");
    }
    insta::assert_snapshot!("event_lines_ar", joined);
}

/// The dashboard's live feed (`/events?lang=ar`): each event's line in Arabic, marked
/// right to left.
#[test]
fn the_dashboards_event_feed_in_arabic() {
    use ripcord::serve::i18n::Lang;
    let feed: Vec<serde_json::Value> = event_log()
        .iter()
        .map(|e| ripcord::serve::sse_data(e, Lang::Ar))
        .collect();
    for v in &feed {
        assert_eq!(v["dir"], "rtl");
        assert!(has_arabic(v["text"].as_str().unwrap()), "{v}");
    }
    let en = ripcord::serve::sse_data(&event_log()[3], Lang::En);
    assert_eq!(en["dir"], "ltr");
    assert_eq!(
        en["text"],
        "rollback rb-20261129-120000-abcd of billing to cp-1a2b3c: VAT rounding broke invoices"
    );
    insta::assert_snapshot!(
        "dashboard_event_feed_ar",
        feed.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `ripcord report RB --format md --lang ar`: the whole report in Arabic, the English one
/// unchanged (`rollback_markdown`).
#[test]
fn the_rollback_report_in_markdown_in_arabic() {
    use ripcord::serve::i18n::Lang;
    let r = RollbackReport::of(&rollback_record());
    let ar = render::rollback_markdown_in(&r, Lang::Ar);
    assert!(
        ar.starts_with("# الاسترجاع \u{2068}rb-20261129-120000-abcd\u{2069}"),
        "{ar}"
    );
    assert!(!ar.contains('{'), "{ar}");
    assert_eq!(
        render::rollback_markdown_in(&r, Lang::En),
        render::rollback_markdown(&r)
    );
    insta::assert_snapshot!("rollback_markdown_ar", ar);
}

/// The report's notifications section: English as before, Arabic with `--lang ar`.
#[test]
fn the_reports_notifications_section_in_english_and_arabic() {
    use ripcord::serve::i18n::Lang;
    use ripcord_core::notify::{Cause, Impact, IncidentRecord, IncidentStatus};
    let inc = IncidentRecord {
        id: "inc-7".into(),
        opened_at: "2026-11-29T11:59:51.000Z".into(),
        opened_ms: 0,
        cause: Cause::EmergencyStop,
        reason: "invoices look wrong".into(),
        run: None,
        rollbacks: vec!["rb-1".into()],
        components: vec!["billing".into()],
        impact: Impact::Moderate,
        status: IncidentStatus::Resolved,
        resolved_at: Some("2026-11-29T12:10:00.000Z".into()),
        resolved_ms: None,
        levels: vec![],
        user_rounds: 0,
        outcome: None,
    };
    assert_eq!(
        render::notifications_markdown_in(&inc, &[], Lang::En),
        "## Notifications\n\nIncident inc-7 (emergency_stop), resolved 2026-11-29T12:10:00.000Z.\n\n| message | to | level | channel | language | status | last attempt |\n|---|---|---|---|---|---|---|\n"
    );
    assert_eq!(
        render::notifications_markdown_in(&inc, &[], Lang::Ar),
        "## التنبيهات\n\nالحادثة \u{2068}inc-7\u{2069} (\u{2068}emergency_stop\u{2069})، حُلّت في \u{2068}2026-11-29T12:10:00.000Z\u{2069}.\n\n| الرسالة | إلى | المستوى | القناة | اللغة | الحالة | آخر محاولة |\n|---|---|---|---|---|---|---|\n"
    );
}
