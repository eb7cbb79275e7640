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
        insta::assert_snapshot!(
            format!("postmortem_html_{code}"),
            report_html::postmortem_html(&pm, lang)
        );
    }
}

#[test]
fn the_kpis_name_the_thresholds_a_rollback_crossed() {
    let k = ripcord_core::report::Kpis::of(&[rollback_record()]);
    insta::assert_snapshot!("kpis_console", render::kpis_console(&k, &Term::plain(100)));
}
