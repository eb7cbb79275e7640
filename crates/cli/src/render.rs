//! Every rendering of a report, in one place: the check, verify and rollback reports as
//! console tables, markdown and JSON. Core decides (GO/NO-GO, verified or not); this only
//! words and lays out what it decided.
//!
//! Console tables fit the terminal (comfy-table's dynamic arrangement); red and green only
//! when stdout is a terminal and `NO_COLOR` is not set (<https://no-color.org>).

use crate::serve::i18n::{Lang, Tr};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use ripcord_core::check::{CheckReport, Decision, ItemStatus};
use ripcord_core::report::{RollbackReport, Verdict};
use ripcord_core::rollback::RollbackNote;
use ripcord_core::verify::{SinceCheckpoint, VerifyReport};
use std::fmt::Write;
use std::io::IsTerminal;

/// How console output may look: colours, and a width to fit (None: the terminal's, if any).
#[derive(Clone, Copy, Debug)]
pub struct Term {
    pub colour: bool,
    pub width: Option<u16>,
}

impl Term {
    /// Colour only on a terminal and without `NO_COLOR`; the width is the terminal's.
    pub fn detect() -> Self {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let tty = std::io::stdout().is_terminal();
        // On a terminal comfy-table asks it for its width; piped, COLUMNS may say one.
        let width = (!tty)
            .then(|| std::env::var("COLUMNS").ok()?.trim().parse::<u16>().ok())
            .flatten()
            .filter(|w| *w >= 20);
        Term {
            colour: !no_colour && tty,
            width,
        }
    }
    /// No colour, a fixed width: what tests and files get.
    pub fn plain(width: u16) -> Self {
        Term {
            colour: false,
            width: Some(width),
        }
    }
    pub fn table(&self) -> Table {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        if let Some(w) = self.width {
            t.force_no_tty();
            t.set_width(w);
        }
        t
    }
    /// A cell in red (bad) or green (good), when colour is on.
    pub fn cell(&self, text: impl Into<String>, good: Option<bool>) -> Cell {
        let c = Cell::new(text.into());
        match (self.colour, good) {
            (true, Some(true)) => c.fg(Color::Green),
            (true, Some(false)) => c.fg(Color::Red),
            (true, None) => c.fg(Color::Yellow),
            _ => c,
        }
    }
    /// A line of text in red or green, when colour is on.
    pub fn paint(&self, text: &str, good: bool) -> String {
        if !self.colour {
            return text.to_string();
        }
        let code = if good { 32 } else { 31 };
        format!("\x1b[1;{code}m{text}\x1b[0m")
    }
}

/// The table every listing uses: fits the terminal.
pub fn table() -> Table {
    Term::detect().table()
}

fn status_cell(term: &Term, s: ItemStatus) -> Cell {
    let good = match s {
        ItemStatus::Go => Some(true),
        ItemStatus::Warn => None,
        ItemStatus::NoGo => Some(false),
    };
    term.cell(s.label(), good)
}

// ---- check ----

pub fn check_console(r: &CheckReport, term: &Term) -> String {
    let mut t = term.table();
    t.set_header(["check", "result", "detail"]);
    for i in &r.items {
        t.add_row(vec![
            Cell::new(format!("{} {}", i.kind.name(), i.subject)),
            status_cell(term, i.status),
            Cell::new(&i.detail),
        ]);
    }
    let d = r.decision();
    format!("{t}\n{}", term.paint(d.label(), d == Decision::Go))
}

pub fn check_markdown(r: &CheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Go/no-go: {}\n", r.decision().label());
    let _ = writeln!(s, "| check | result | detail |\n|---|---|---|");
    for i in &r.items {
        let _ = writeln!(
            s,
            "| {} {} | {} | {} |",
            i.kind.name(),
            md_cell(&i.subject),
            i.status.label(),
            md_cell(&i.detail)
        );
    }
    ripcord_core::redact::scrub(&s)
}

pub fn check_json(r: &CheckReport) -> serde_json::Value {
    let mut v = serde_json::json!({
        "decision": r.decision(),
        "items": r.items,
    });
    // A failed sync's `state` figure has its `error` in words, as before it was typed.
    crate::console::word_json(&mut v);
    v
}

// ---- verify ----

pub fn verify_console(r: &VerifyReport, term: &Term) -> String {
    let mut t = term.table();
    t.set_header(["component", "check", "result", "detail"]);
    for i in &r.invariants {
        t.add_row(vec![
            Cell::new(&i.component),
            Cell::new(format!("invariant: {}", i.name)),
            term.cell(if i.ok { "ok" } else { "BROKEN" }, Some(i.ok)),
            Cell::new(&i.detail),
        ]);
    }
    for x in &r.tables {
        let since = match &x.since_checkpoint {
            SinceCheckpoint::Unchanged { .. } => "unchanged since checkpoint".to_string(),
            SinceCheckpoint::Changed { rows_then, .. } => {
                format!("changed since checkpoint ({rows_then} rows then)")
            }
            SinceCheckpoint::NoCheckpoint => "no checkpoint".into(),
        };
        t.add_row(vec![
            Cell::new(&x.component),
            Cell::new(format!("table {}", x.table)),
            Cell::new(format!("{} rows", x.rows)),
            Cell::new(format!(
                "{since}; fingerprint {}",
                &x.fingerprint[..16.min(x.fingerprint.len())]
            )),
        ]);
    }
    t.to_string()
}

pub fn verify_json(r: &VerifyReport) -> serde_json::Value {
    serde_json::json!({
        "ok": r.ok(),
        "components": r.components,
        "invariants": r.invariants,
        "tables": r.tables,
    })
}

// ---- rollback ----

fn verdict_words(r: &RollbackReport) -> String {
    Tr::with(Lang::En, |tr| verdict_words_in(tr, r))
}

fn verdict_words_in(tr: &Tr, r: &RollbackReport) -> String {
    match &r.verdict {
        Verdict::Verified { review } if *review > 0 => tr.text(
            "md-verdict-verified-review",
            &[("review", review.to_string())],
        ),
        Verdict::Verified { .. } => tr.s("md-verdict-verified"),
        Verdict::NotVerifiedUncaptured => tr.s("md-verdict-uncaptured"),
        Verdict::WithProblems => tr.s("md-verdict-problems"),
        Verdict::Abandoned { by, reason } => tr.text(
            "md-verdict-abandoned",
            &[("by", by.clone()), ("reason", reason.clone())],
        ),
        Verdict::Failed { phase, error } => tr.text(
            "md-verdict-failed",
            &[
                ("phase", phase.name().to_string()),
                ("error", error.clone()),
            ],
        ),
        Verdict::Interrupted { phase } => tr.text(
            "md-verdict-interrupted",
            &[("phase", phase.name().to_string())],
        ),
    }
}

/// The rollback report in markdown (`ripcord report`, and after every rollback).
pub fn rollback_markdown(r: &RollbackReport) -> String {
    rollback_markdown_in(r, Lang::En)
}

/// The rollback report in markdown in `lang` (`ripcord report --lang ar`, the post-mortem).
/// Arabic keeps identifiers and numbers between bidi isolation marks (`Tr::text`).
pub fn rollback_markdown_in(r: &RollbackReport, lang: Lang) -> String {
    Tr::with(lang, |tr| markdown(tr, r))
}

fn markdown(tr: &Tr, r: &RollbackReport) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", t("md-title", &[("id", r.id.clone())]));
    let _ = writeln!(
        s,
        "- {}",
        t("md-components", &[("components", r.components.join(", "))])
    );
    let _ = writeln!(
        s,
        "- {}",
        t(
            "md-checkpoints",
            &[(
                "checkpoints",
                r.checkpoints
                    .iter()
                    .map(|(c, id)| format!("{c} ← {id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )]
        )
    );
    let _ = writeln!(s, "- {}", t("md-reason", &[("reason", r.reason.clone())]));
    let _ = writeln!(
        s,
        "- {}",
        t(
            "md-started",
            &[
                ("actor", r.started_by.clone()),
                ("at", r.started_at.clone()),
                (
                    "approver",
                    r.approved_by
                        .clone()
                        .unwrap_or_else(|| tr.s("md-not-approved"))
                ),
            ]
        )
    );
    let _ = writeln!(
        s,
        "- {}\n",
        tr.t("md-outcome", &[("verdict", verdict_words_in(tr, r))])
    );
    let _ = writeln!(s, "## {}\n", tr.s("md-time"));
    let _ = writeln!(
        s,
        "| {} | {} |\n|---|---:|",
        tr.s("md-phase"),
        tr.s("md-seconds")
    );
    for p in &r.timeline {
        let _ = writeln!(s, "| {} | {:.3} |", p.phase.name(), p.seconds);
    }
    let _ = writeln!(
        s,
        "| **{}** | **{:.3}** |\n\n{}.\n",
        tr.s("md-total"),
        r.total_seconds,
        t(
            if r.over_target {
                "md-target-over"
            } else {
                "md-target"
            },
            &[
                ("target", format!("{:.0}", r.target_seconds)),
                ("share", format!("{:.2}", 100.0 * r.target_share)),
            ]
        )
    );
    let f = &r.figures;
    let row = |s: &mut String, id: &str, v: String| {
        let _ = writeln!(s, "| {} | {v} |", tr.s(id));
    };
    let _ = writeln!(s, "## {}\n", tr.s("md-figures"));
    let _ = writeln!(
        s,
        "| {} | {} |\n|---|---:|",
        tr.s("md-figure"),
        tr.s("md-value")
    );
    row(&mut s, "md-restored-rows", f.restored_rows.to_string());
    row(&mut s, "md-at-risk", f.at_risk.to_string());
    row(&mut s, "md-recovered", f.recovered.to_string());
    match r.recovery_rate {
        Some(rate) => {
            row(&mut s, "md-lost", f.lost.to_string());
            row(&mut s, "md-rate", format!("{:.2}%", rate * 100.0));
        }
        None => {
            // Writes that escaped the journal are not counted anywhere: no figure can be given.
            row(
                &mut s,
                "md-lost",
                t("md-lost-unknown", &[("lost", f.lost.to_string())]),
            );
            row(&mut s, "md-rate", tr.s("md-rate-unknown"));
        }
    }
    row(&mut s, "md-conflicts", f.conflicts.to_string());
    row(&mut s, "md-review", f.review.to_string());
    row(
        &mut s,
        "md-downtime",
        format!("{:.3}", r.write_downtime_seconds),
    );
    s.push('\n');
    if let Some(p) = &r.proof {
        let _ = writeln!(s, "## {}\n", tr.s("md-proof"));
        let against = match r.mode {
            ripcord_core::rollback::Mode::Restore => tr.s("md-against-expected"),
            ripcord_core::rollback::Mode::Switch { .. } => tr.s("md-against-new"),
        };
        for table in &p.tables {
            let _ = writeln!(
                s,
                "- {}",
                t(
                    "md-proof-table",
                    &[
                        ("table", format!("{}.{}", table.component, table.table)),
                        ("rows", table.rows.to_string()),
                        ("differences", table.differences.to_string()),
                        ("against", against.clone()),
                    ]
                )
            );
            match &table.checked {
                ripcord_core::rollback::Checked::CountOnly { why } => {
                    let _ = writeln!(s, "  - {}", t("md-count-only", &[("why", why.clone())]));
                }
                ripcord_core::rollback::Checked::Contents { not_compared } => {
                    if !not_compared.is_empty() {
                        let cols: Vec<String> = not_compared
                            .iter()
                            .map(|n| {
                                format!(
                                    "{} ({})",
                                    n.column,
                                    match n.why {
                                        ripcord_core::rollback::NotComparedWhy::Ignored =>
                                            tr.s("md-ignored"),
                                        ripcord_core::rollback::NotComparedWhy::NotProduced =>
                                            tr.s("md-not-produced"),
                                    }
                                )
                            })
                            .collect();
                        let _ = writeln!(
                            s,
                            "  - {}",
                            t("md-not-compared", &[("columns", cols.join(", "))])
                        );
                    }
                }
            }
            for e in &table.examples {
                let _ = writeln!(s, "  - {e}");
            }
        }
        for i in &p.invariants {
            let _ = writeln!(
                s,
                "- {}",
                t(
                    "md-invariant",
                    &[
                        ("name", format!("{:?}", i.name)),
                        ("component", i.component.clone()),
                        ("status", tr.s(if i.ok { "md-holds" } else { "md-broken" })),
                        ("detail", i.detail.clone()),
                    ]
                )
            );
        }
        let _ = writeln!(s);
    }
    if !r.uncaptured.is_empty() {
        let _ = writeln!(
            s,
            "## {}\n\n{}\n",
            tr.s("md-uncaptured-title"),
            tr.s("md-uncaptured-text")
        );
        for b in &r.uncaptured {
            let _ = writeln!(s, "- {b}");
        }
        let _ = writeln!(s);
    }
    if !r.gaps.is_empty() {
        let _ = writeln!(
            s,
            "## {}\n\n| {} | {} | {} | {} | {} |\n|---|---|---|---|---|",
            tr.s("md-gaps"),
            tr.s("md-col-table"),
            tr.s("md-col-key"),
            tr.s("md-col-op"),
            tr.s("md-col-reason"),
            tr.s("md-col-action"),
        );
        for g in &r.gaps {
            let _ = writeln!(
                s,
                "| {} | {} | {:?} | {} | {} |",
                g.table,
                g.key,
                g.op,
                crate::console::gap_reason_in(tr, &g.cause),
                crate::console::gap_suggestion_in(tr, g)
            );
        }
        let _ = writeln!(s);
    }
    if !r.conflicts.is_empty() {
        let _ = writeln!(s, "## {}\n", tr.s("md-conflicts-title"));
        for c in &r.conflicts {
            let _ = writeln!(s, "- {} {}: {}", c.table, c.key, c.columns.join(", "));
        }
        let _ = writeln!(s);
    }
    if !r.overlaps.is_empty() {
        let _ = writeln!(
            s,
            "## {}\n\n{}\n\n| {} | {} | {} | {} | {} |\n|---|---|---:|---|---|",
            tr.s("md-overlaps-title"),
            tr.s("md-overlaps-text"),
            tr.s("md-col-table"),
            tr.s("md-col-key"),
            tr.s("md-col-business-write"),
            tr.s("md-col-business-changed"),
            tr.s("md-col-left"),
        );
        for o in &r.overlaps {
            let kept: Vec<String> = o
                .kept_legacy
                .iter()
                .map(|(c, v)| format!("{c} = {v}"))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | #{} | {} | {} |",
                o.table,
                o.key,
                o.seq,
                o.business_columns.join(", "),
                if kept.is_empty() {
                    "—".to_string()
                } else {
                    kept.join(", ")
                }
            );
        }
        let _ = writeln!(s);
    }
    if !r.unmapped_columns.is_empty() {
        let _ = writeln!(s, "## {}\n", tr.s("md-unmapped"));
        for (t, cols) in &r.unmapped_columns {
            let _ = writeln!(s, "- {t}: {}", cols.join(", "));
        }
        let _ = writeln!(s);
    }
    for n in &r.notes {
        let _ = writeln!(s, "> {}", rollback_note_in(tr, n));
    }
    ripcord_core::redact::scrub(&s)
}

/// Shorthand for the record a command just finished with.
pub fn rollback_record_markdown(r: &ripcord_core::rollback::RollbackRecord) -> String {
    rollback_markdown(&RollbackReport::of(r))
}

/// The report as JSON: `notes` in words, as before notes were typed, beside the typed
/// `notes_typed` (docs/json.md).
pub fn rollback_json(r: &RollbackReport) -> String {
    #[derive(serde::Serialize)]
    struct Worded<'a> {
        #[serde(flatten)]
        report: &'a RollbackReport,
        notes: Vec<String>,
    }
    let worded = Worded {
        report: r,
        notes: r.notes.iter().map(rollback_note).collect(),
    };
    let text = crate::console::worded(|| serde_json::to_string_pretty(&worded));
    ripcord_core::redact::scrub(&text.expect("reports serialize"))
}

/// A rollback's note, for people (the report in every format).
pub fn rollback_note(n: &RollbackNote) -> String {
    Tr::with(Lang::En, |tr| rollback_note_in(tr, n))
}

/// `rollback_note` in `tr`'s language (the Arabic reports).
pub fn rollback_note_in(tr: &Tr, n: &RollbackNote) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    let text = match n {
        RollbackNote::RefusedWritesToDeletedRows { writes } => {
            t("note-refused-to-deleted", &[("writes", writes.to_string())])
        }
        RollbackNote::ReferentialIntegrity { orphans } => t(
            "note-referential-integrity",
            &[("orphans", orphans.clone())],
        ),
        RollbackNote::NotSwitchedBack => tr.s("note-not-switched-back"),
        RollbackNote::NoneRecovered { at_risk } => {
            t("note-none-recovered", &[("at_risk", at_risk.to_string())])
        }
        RollbackNote::CountOnly { table, why } => t(
            "note-count-only",
            &[("table", table.clone()), ("why", why.clone())],
        ),
        RollbackNote::BothSidesStayFrozen => tr.s("note-both-sides-stay-frozen"),
        RollbackNote::AbandonedLeftFrozen { tables } => t(
            "note-abandoned-left-frozen",
            &[("tables", tables.join(", "))],
        ),
        RollbackNote::AbandonedWhileSwitching => tr.s("note-abandoned-while-switching"),
        RollbackNote::AbandonedBeforeSwitching => tr.s("note-abandoned-before-switching"),
        RollbackNote::Continuity {
            workflow,
            ok,
            verdict,
        } => t(
            if *ok {
                "note-continuity-passed"
            } else {
                "note-continuity-failed"
            },
            &[
                ("workflow", format!("{workflow:?}")),
                ("verdict", ripcord_guard::respond::verdict_text(verdict)),
            ],
        ),
        RollbackNote::Described { text } => text.clone(),
    };
    ripcord_core::redact::scrub(&text)
}

/// The verdict, the timeline against the target and the figures, for a terminal.
pub fn rollback_console(r: &RollbackReport, term: &Term) -> String {
    let f = &r.figures;
    let rate = r
        .recovery_rate
        .map(|x| format!("{:.2}%", x * 100.0))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "rollback {} ({}): {}\n{}\ntotal {:.3} s of a {:.0} s target ({:.1}%); writes refused for {:.3} s\nbusiness writes at risk {}, recovered {}, lost {} (recovery rate {rate}); conflicts {}, to review {}",
        r.id,
        r.components.join(", "),
        term.paint(&verdict_words(r), r.verified()),
        rollback_timeline_console(r, term),
        r.total_seconds,
        r.target_seconds,
        100.0 * r.target_share,
        r.write_downtime_seconds,
        f.at_risk,
        f.recovered,
        f.lost,
        f.conflicts,
        f.review,
    )
}

/// One line per phase with its time and the running total against the target.
pub fn rollback_timeline_console(r: &RollbackReport, term: &Term) -> String {
    let mut t = term.table();
    t.set_header(["phase", "seconds", "elapsed", "of target"]);
    for p in &r.timeline {
        let share = p.elapsed_seconds / r.target_seconds.max(1e-9);
        t.add_row(vec![
            Cell::new(p.phase.name()),
            Cell::new(format!("{:.3}", p.seconds)),
            Cell::new(format!("{:.3}", p.elapsed_seconds)),
            term.cell(format!("{:.1}%", share * 100.0), Some(share <= 1.2)),
        ]);
    }
    t.to_string()
}

/// The continuity section of a guarded run's report.
pub fn continuity_markdown(results: &[ripcord_core::report::ContinuityResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Business continuity after the rollback\n");
    if results.is_empty() {
        let _ = writeln!(s, "The plan names no [[workflow]] checks.\n");
        return s;
    }
    let _ = writeln!(
        s,
        "| workflow | result | attempts | detail |\n|---|---|---:|---|"
    );
    for r in results {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.workflow,
            if r.ok { "passed" } else { "FAILED" },
            r.attempts,
            ripcord_guard::respond::verdict_text(&r.verdict)
        );
    }
    let all = results.iter().all(|r| r.ok);
    let _ = writeln!(
        s,
        "\n{}\n",
        if all {
            "All workflows pass: the run is resolved."
        } else {
            "A workflow FAILED: the run is not resolved."
        }
    );
    ripcord_core::redact::scrub(&s)
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

// ---- notifications ----

/// `ripcord notify status`: every message in the outbox, its recipient, its last attempt.
pub fn deliveries_console(all: &[ripcord_core::notify::DeliveryRecord]) -> String {
    if all.is_empty() {
        return "no messages in the outbox".into();
    }
    let mut t = table();
    t.set_header(vec![
        "id",
        "incident",
        "message",
        "to",
        "channel",
        "lang",
        "status",
        "tries",
        "last attempt",
    ]);
    for d in all {
        let last = d
            .attempts
            .last()
            .map(|a| format!("{} {}", a.at, a.detail))
            .unwrap_or_default();
        t.add_row(vec![
            d.id.to_string(),
            d.incident.clone().unwrap_or_else(|| "—".into()),
            d.message.id().to_string(),
            match d.level {
                Some(l) => format!("{} (level {l})", d.recipient.name),
                None => d.recipient.name.clone(),
            },
            d.recipient.channel.clone(),
            d.recipient.language.code().to_string(),
            d.status.name().to_string(),
            d.attempts.len().to_string(),
            last,
        ]);
    }
    t.to_string()
}

/// `ripcord incidents`: one row per incident, newest first.
pub fn incidents_console(
    incidents: &[ripcord_core::notify::IncidentRecord],
    acks: &[ripcord_core::notify::AckRecord],
    deliveries: &[ripcord_core::notify::DeliveryRecord],
) -> String {
    use ripcord_core::notify::{DeliveryStatus, IncidentStatus};
    let mut t = table();
    t.set_header(vec![
        "incident",
        "opened",
        "cause",
        "status",
        "level",
        "acknowledged",
        "impact",
        "messages",
    ]);
    for i in incidents {
        let ack: Vec<String> = acks
            .iter()
            .filter(|a| a.incident == i.id)
            .map(|a| format!("L{} by {}", a.level, a.by))
            .collect();
        let mine = deliveries
            .iter()
            .filter(|d| d.incident.as_deref() == Some(&i.id));
        let (mut sent, mut pending, mut failed) = (0, 0, 0);
        for d in mine {
            match d.status {
                DeliveryStatus::Sent => sent += 1,
                DeliveryStatus::Pending => pending += 1,
                DeliveryStatus::Failed => failed += 1,
            }
        }
        t.add_row(vec![
            i.id.clone(),
            i.opened_at.clone(),
            format!("{}: {}", i.cause.name(), i.reason),
            match i.status {
                IncidentStatus::Open => "open".to_string(),
                IncidentStatus::Resolved => {
                    format!("resolved {}", i.resolved_at.clone().unwrap_or_default())
                }
            },
            i.level_reached().to_string(),
            if ack.is_empty() {
                "—".into()
            } else {
                ack.join(", ")
            },
            i.impact.name().to_string(),
            format!("{sent} sent, {pending} pending, {failed} failed"),
        ]);
    }
    t.to_string()
}

/// The rollback report's notifications section in `lang`: every message of its incident.
pub fn notifications_markdown_in(
    inc: &ripcord_core::notify::IncidentRecord,
    sent: &[ripcord_core::notify::DeliveryRecord],
    lang: Lang,
) -> String {
    Tr::with(lang, |tr| {
        let incident = match inc.status {
            ripcord_core::notify::IncidentStatus::Open => tr.text(
                "md-incident-open",
                &[
                    ("id", inc.id.clone()),
                    ("cause", inc.cause.name().to_string()),
                ],
            ),
            ripcord_core::notify::IncidentStatus::Resolved => tr.text(
                "md-incident-resolved",
                &[
                    ("id", inc.id.clone()),
                    ("cause", inc.cause.name().to_string()),
                    ("at", inc.resolved_at.clone().unwrap_or_default()),
                ],
            ),
        };
        let cols = [
            "md-col-message",
            "md-col-to",
            "md-col-level",
            "md-col-channel",
            "md-col-language",
            "md-col-status",
            "md-col-last-attempt",
        ]
        .map(|c| tr.s(c));
        let mut out = format!(
            "## {}\n\n{incident}\n\n| {} |\n|---|---|---|---|---|---|---|\n",
            tr.s("md-notifications"),
            cols.join(" | ")
        );
        for d in sent {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                d.message.id(),
                d.recipient.name,
                d.level
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| tr.s("md-users")),
                d.recipient.channel,
                d.recipient.language.code(),
                d.status.name(),
                d.attempts.last().map(|a| a.at.as_str()).unwrap_or("—")
            );
        }
        out
    })
}

/// `ripcord report --kpis`: rates, time against target per tier, thresholds crossed.
pub fn kpis_console(k: &ripcord_core::report::Kpis, term: &Term) -> String {
    use ripcord_core::report::Crossed;
    let pct = |x: Option<f64>| {
        x.map(|x| format!("{:.1}%", x * 100.0))
            .unwrap_or_else(|| "—".into())
    };
    let mut out = format!(
        "rollbacks: {} ({} verified, {} unfinished); success rate {}\nbusiness writes at risk {}, recovered {}, lost {}; recovery rate {}{}\n",
        k.rollbacks,
        k.verified,
        k.unfinished,
        pct(k.success_rate),
        k.at_risk,
        k.recovered,
        k.lost,
        pct(k.recovery_rate),
        if k.uncaptured > 0 {
            format!(
                " ({} over an accepted capture break, losses unknown, not counted)",
                k.uncaptured
            )
        } else {
            String::new()
        }
    );
    let mut t = term.table();
    t.set_header([
        "tier (target)",
        "rollbacks",
        "median of target",
        "worst of target",
        "over 120%",
    ]);
    for x in &k.tiers {
        let target = match x.tier {
            ripcord_core::report::Tier::Emergency => "≤ 15 min",
            ripcord_core::report::Tier::Component => "≤ 60 min",
            ripcord_core::report::Tier::Graceful => "> 60 min, 4 h for a graceful recovery",
        };
        t.add_row(vec![
            Cell::new(format!("{} ({target})", x.tier.name())),
            Cell::new(x.rollbacks),
            Cell::new(format!("{:.1}%", x.median_share * 100.0)),
            term.cell(
                format!("{:.1}%", x.worst_share * 100.0),
                Some(x.worst_share <= 1.2),
            ),
            term.cell(x.over_target.to_string(), Some(x.over_target == 0)),
        ]);
    }
    if !k.tiers.is_empty() {
        out.push_str(&t.to_string());
        out.push('\n');
    }
    if k.crossed.is_empty() {
        out.push_str("alert thresholds crossed: none\n");
    } else {
        out.push_str("alert thresholds crossed:\n");
        for c in &k.crossed {
            let line = match c {
                Crossed::OverTarget { rollback, share } => format!(
                    "  {rollback}: took {:.1}% of its target (critical over 120%)",
                    share * 100.0
                ),
                Crossed::Lost { rollback, lost } => {
                    format!("  {rollback}: {lost} business writes lost")
                }
                Crossed::NotVerified { rollback, state } => {
                    format!("  {rollback}: ended {state}")
                }
            };
            out.push_str(&term.paint(&line, false));
            out.push('\n');
        }
    }
    out
}
