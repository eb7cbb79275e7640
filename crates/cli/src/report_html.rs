//! The rollback report as one self-contained HTML file (inline CSS and SVG charts, no
//! script, nothing fetched), and the post-mortem in markdown or HTML; English or Arabic
//! through the same Fluent messages as the dashboard (`locales/*/report.ftl`, and
//! `events.ftl` for the event lines and the gaps' reasons and actions).

use crate::serve::i18n::{Lang, Tr};
use crate::serve::page::{bdi, esc, msg};
use ripcord_core::report::{PostMortem, RollbackReport, Verdict};
use std::fmt::Write as _;

const CSS: &str = "body{font-family:system-ui,'Noto Sans Arabic',sans-serif;max-inline-size:60rem;margin-inline:auto;padding-inline:1rem;color:#1b1f23}\
table{border-collapse:collapse;inline-size:100%;margin-block:.5rem}th,td{text-align:start;padding-block:.2rem;padding-inline:.5rem;border-block-end:1px solid #dde}\
.good{color:#176f2c}.bad{color:#b00020;font-weight:600}figure{margin-inline:0}svg{max-inline-size:100%}.fill{color:#667;font-style:italic}";

fn secs(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.2} s")
    }
}

/// Over 120% of a target; a rollback of no component has none to be over.
fn over(r: &RollbackReport) -> bool {
    r.over_target && r.target_seconds > 0.0
}

fn verdict(tr: &Tr, r: &RollbackReport) -> (bool, String) {
    match &r.verdict {
        Verdict::Verified { review } if *review > 0 => (
            true,
            msg(
                tr,
                "rep-verdict-verified-review",
                &[("n", review.to_string())],
            ),
        ),
        Verdict::Verified { .. } => (true, esc(&tr.s("rep-verdict-verified"))),
        Verdict::NotVerifiedUncaptured => (false, esc(&tr.s("rep-verdict-uncaptured"))),
        Verdict::WithProblems => (false, esc(&tr.s("rep-verdict-problems"))),
        Verdict::Abandoned { by, reason } => (
            false,
            msg(
                tr,
                "rep-verdict-abandoned",
                &[("by", by.clone()), ("reason", reason.clone())],
            ),
        ),
        Verdict::Failed { phase, error } => (
            false,
            msg(
                tr,
                "rep-verdict-failed",
                &[("phase", phase.name().into()), ("error", error.clone())],
            ),
        ),
        Verdict::Interrupted { phase } => (
            false,
            msg(
                tr,
                "rep-verdict-interrupted",
                &[("phase", phase.name().into()), ("id", r.id.clone())],
            ),
        ),
    }
}

/// Horizontal bars, one per phase, on a scale that holds the target; a dashed line marks
/// the target. Charts read left to right in both languages (dir="ltr"), like numbers.
fn phase_chart(tr: &Tr, r: &RollbackReport) -> String {
    let w = 640.0;
    let label = 110.0;
    let row = 22.0;
    let scale = r.target_seconds.max(r.total_seconds).max(1e-9);
    let h = row * (r.timeline.len() as f64 + 1.0) + 10.0;
    let x = |s: f64| label + (w - label - 10.0) * s / scale;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" direction=\"ltr\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(&tr.s("rep-timeline"))
    );
    let mut start = 0.0;
    for (i, p) in r.timeline.iter().enumerate() {
        let y = row * i as f64 + 4.0;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{}</text><rect x=\"{:.2}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{:.1}\" fill=\"#3b82f6\"><title>{} {}</title></rect>",
            label - 6.0,
            y + 13.0,
            esc(p.phase.name()),
            x(start),
            y,
            (x(start + p.seconds) - x(start)).max(1.0),
            row - 6.0,
            esc(p.phase.name()),
            esc(&secs(p.seconds)),
        );
        start += p.seconds;
    }
    let tx = x(r.target_seconds);
    let bottom = row * r.timeline.len() as f64 + 4.0;
    let _ = write!(
        s,
        "<line x1=\"{tx:.1}\" y1=\"0\" x2=\"{tx:.1}\" y2=\"{bottom:.1}\" stroke=\"#b00020\" stroke-dasharray=\"4 3\"/><text x=\"{tx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#b00020\">{} {}</text>",
        bottom + 14.0,
        esc(&tr.s("rep-target")),
        esc(&secs(r.target_seconds)),
    );
    let hx = x(r.target_seconds * 1.2);
    if hx <= w {
        let _ = write!(
            s,
            "<line x1=\"{hx:.1}\" y1=\"0\" x2=\"{hx:.1}\" y2=\"{bottom:.1}\" stroke=\"#8a5a00\" stroke-dasharray=\"2 4\"/>"
        );
    }
    s.push_str("</svg>");
    s
}

/// One line chart per probe: its values around the stop (seconds from it on the x axis),
/// its baseline median dashed, the stop marked (at the right edge when nothing was
/// measured after it).
fn probes(tr: &Tr, windows: &[ripcord_core::report::ProbeWindow], h: &mut String) {
    if windows.is_empty() {
        return;
    }
    let _ = write!(h, "<h2>{}</h2>", esc(&tr.s("rep-probes")));
    for p in windows {
        let _ = write!(h, "<figure>{}</figure>", probe_chart(tr, p));
    }
}

fn probe_chart(tr: &Tr, p: &ripcord_core::report::ProbeWindow) -> String {
    let (w, h, left, pad) = (640.0, 120.0, 60.0, 14.0);
    let first = p.samples.first().map(|s| s.0).unwrap_or(p.stop_ms);
    let last = p.samples.last().map_or(p.stop_ms, |s| s.0.max(p.stop_ms));
    let span = ((last - first) as f64).max(1.0);
    let values = p.samples.iter().map(|s| s.1).chain(p.baseline_median);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let x = |ms: i64| left + (w - left - 10.0) * (ms - first) as f64 / span;
    let y = |v: f64| pad + (h - 2.0 * pad) * (hi - v) / (hi - lo);
    let label = tr.t("rep-probe-chart", &[("probe", p.probe.clone())]);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" direction=\"ltr\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><text x=\"{left}\" y=\"11\" font-size=\"12\">{}</text>",
        esc(&label),
        esc(&p.probe),
    );
    let points: Vec<String> = p
        .samples
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    let _ = write!(
        s,
        "<polyline fill=\"none\" stroke=\"#3b82f6\" stroke-width=\"1.5\" points=\"{}\"/>",
        points.join(" ")
    );
    if let Some(m) = p.baseline_median {
        let by = y(m);
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{by:.1}\" x2=\"{:.1}\" y2=\"{by:.1}\" stroke=\"#8c959f\" stroke-dasharray=\"4 3\"><title>{} {m}</title></line>",
            w - 10.0,
            esc(&tr.s("rep-baseline")),
        );
    }
    let sx = x(p.stop_ms);
    let _ = write!(
        s,
        "<line x1=\"{sx:.1}\" y1=\"0\" x2=\"{sx:.1}\" y2=\"{h}\" stroke=\"#b00020\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#b00020\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"{left}\" y=\"{:.1}\" font-size=\"11\">-{}</text>",
        sx - 3.0,
        h - 3.0,
        esc(&tr.s("rep-stop")),
        left - 4.0,
        y(hi) + 4.0,
        num(hi),
        left - 4.0,
        y(lo),
        num(lo),
        h - 3.0,
        esc(&secs((p.stop_ms - first) as f64 / 1000.0)),
    );
    if last > p.stop_ms {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">+{}</text>",
            w - 10.0,
            h - 3.0,
            esc(&secs((last - p.stop_ms) as f64 / 1000.0)),
        );
    }
    s.push_str("</svg>");
    s
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn writes_chart(tr: &Tr, r: &RollbackReport) -> String {
    let f = &r.figures;
    let max = f.at_risk.max(f.recovered).max(f.lost).max(1) as f64;
    let bars = [
        (tr.s("rep-at-risk"), f.at_risk, "#8c959f"),
        (tr.s("rep-recovered"), f.recovered, "#2da44e"),
        (tr.s("rep-lost"), f.lost, "#cf222e"),
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" direction=\"ltr\" width=\"640\" height=\"80\" viewBox=\"0 0 640 80\" role=\"img\" aria-label=\"{}\">",
        esc(&tr.s("rep-writes-chart"))
    );
    for (i, (name, n, color)) in bars.iter().enumerate() {
        let y = 4.0 + 24.0 * i as f64;
        let width = 400.0 * *n as f64 / max;
        let _ = write!(
            s,
            "<rect x=\"200\" y=\"{y:.0}\" width=\"{:.1}\" height=\"18\" fill=\"{color}\"/><text x=\"194\" y=\"{:.0}\" font-size=\"12\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{:.0}\" font-size=\"12\">{n}</text>",
            width.max(1.0),
            y + 13.0,
            esc(name),
            204.0 + width.max(1.0),
            y + 13.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// The report's body (shared by the report and the post-mortem's HTML).
fn body(tr: &Tr, r: &RollbackReport, h: &mut String) {
    let (good, v) = verdict(tr, r);
    let _ = write!(
        h,
        "<p><strong>{}:</strong> <span class=\"{}\">{v}</span></p><ul><li>{}: {}</li><li>{}: {}</li><li>{}</li>",
        esc(&tr.s("rep-verdict")),
        if good { "good" } else { "bad" },
        esc(&tr.s("rep-components")),
        bdi(&r.components.join(", ")),
        esc(&tr.s("rep-reason")),
        esc(&r.reason),
        msg(
            tr,
            "rep-started",
            &[
                ("at", r.started_at.clone()),
                ("actor", r.started_by.clone())
            ]
        ),
    );
    if let Some(f) = &r.finished_at {
        let _ = write!(
            h,
            "<li>{}</li>",
            msg(tr, "rep-finished", &[("at", f.clone())])
        );
    }
    if let Some(a) = &r.approved_by {
        let _ = write!(
            h,
            "<li>{}</li>",
            msg(tr, "rep-approved", &[("actor", a.clone())])
        );
    }
    h.push_str("</ul>");
    let _ = write!(
        h,
        "<h2>{}</h2><p class=\"{}\">{}{}</p><figure>{}</figure><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr.s("rep-timeline")),
        if over(r) { "bad" } else { "good" },
        msg(
            tr,
            "rep-total",
            &[
                ("took", secs(r.total_seconds)),
                ("target", secs(r.target_seconds)),
                ("share", format!("{:.1}", r.target_share * 100.0)),
            ]
        ),
        if over(r) {
            format!(" — {}", esc(&tr.s("rep-over-target")))
        } else {
            String::new()
        },
        phase_chart(tr, r),
        esc(&tr.s("rep-phase")),
        esc(&tr.s("rep-seconds")),
        esc(&tr.s("rep-elapsed")),
    );
    for p in &r.timeline {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            bdi(p.phase.name()),
            bdi(&format!("{:.3}", p.seconds)),
            bdi(&format!("{:.3}", p.elapsed_seconds)),
        );
    }
    h.push_str("</tbody></table>");
    let f = &r.figures;
    let rate = match r.recovery_rate {
        Some(x) => bdi(&format!("{:.1}%", x * 100.0)),
        None => esc(&tr.s("rep-recovery-unknown")),
    };
    let _ = write!(h, "<h2>{}</h2><table><tbody>", esc(&tr.s("rep-figures")));
    for (k, v) in [
        ("rep-at-risk", bdi(&f.at_risk.to_string())),
        ("rep-recovered", bdi(&f.recovered.to_string())),
        ("rep-lost", bdi(&f.lost.to_string())),
        ("rep-recovery-rate", rate),
        ("rep-restored-rows", bdi(&f.restored_rows.to_string())),
        ("rep-conflicts", bdi(&f.conflicts.to_string())),
        ("rep-review", bdi(&f.review.to_string())),
        ("rep-downtime", bdi(&secs(r.write_downtime_seconds))),
    ] {
        let _ = write!(h, "<tr><th>{}</th><td>{v}</td></tr>", esc(&tr.s(k)));
    }
    let _ = write!(
        h,
        "</tbody></table><figure>{}</figure>",
        writes_chart(tr, r)
    );
    if let Some(p) = &r.proof {
        let _ = write!(
            h,
            "<h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("rep-proof")),
            esc(&tr.s("rep-table")),
            esc(&tr.s("rep-rows")),
            esc(&tr.s("rep-differences")),
        );
        for t in &p.tables {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                bdi(&format!("{}.{}", t.component, t.table)),
                bdi(&t.rows.to_string()),
                if t.differences == 0 && t.checked.contents() {
                    "good"
                } else {
                    "bad"
                },
                bdi(&t.differences.to_string()),
            );
        }
        for i in &p.invariants {
            let _ = write!(
                h,
                "<tr><td>{}: {}</td><td colspan=\"2\" class=\"{}\">{} {}</td></tr>",
                esc(&tr.s("rep-invariant")),
                bdi(&i.name),
                if i.ok { "good" } else { "bad" },
                esc(&tr.s(if i.ok { "rep-ok" } else { "rep-broken" })),
                esc(&i.detail),
            );
        }
        h.push_str("</tbody></table>");
    }
    gaps(tr, r, h);
    if !r.overlaps.is_empty() {
        let _ = write!(
            h,
            "<p>{}</p>",
            msg(tr, "rep-overlaps", &[("n", r.overlaps.len().to_string())])
        );
    }
    let notes: Vec<String> = r
        .notes
        .iter()
        .map(|n| crate::render::rollback_note_in(tr, n))
        .collect();
    for (title, items) in [("rep-uncaptured", &r.uncaptured), ("rep-notes", &notes)] {
        if !items.is_empty() {
            let _ = write!(h, "<h2>{}</h2><ul>", esc(&tr.s(title)));
            for i in items {
                let _ = write!(h, "<li>{}</li>", esc(i));
            }
            h.push_str("</ul>");
        }
    }
}

fn gaps(tr: &Tr, r: &RollbackReport, h: &mut String) {
    let _ = write!(h, "<h2>{}</h2>", esc(&tr.s("rep-gaps")));
    if r.gaps.is_empty() {
        let _ = write!(h, "<p class=\"good\">{}</p>", esc(&tr.s("rep-no-gaps")));
        return;
    }
    let _ = write!(
        h,
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr.s("rep-table")),
        esc(&tr.s("rep-key")),
        esc(&tr.s("rep-why")),
        esc(&tr.s("rep-action")),
    );
    for g in &r.gaps {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            bdi(&g.table),
            bdi(&g.key),
            esc(&crate::console::gap_reason_in(tr, &g.cause)),
            esc(&crate::console::gap_suggestion_in(tr, g)),
        );
    }
    h.push_str("</tbody></table>");
}

fn open(tr: &Tr, title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\" dir=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        tr.lang.code(),
        tr.lang.dir(),
        esc(title),
        esc(title),
    )
}

/// `ripcord report --format html`, and the dashboard's report link: the report, and the
/// probe values around the stop that led to it when a guarded run stopped.
pub fn rollback(pm: &PostMortem, lang: Lang) -> String {
    let tr = Tr::new(lang);
    let r = &pm.report;
    let mut h = open(&tr, &tr.t("rep-title", &[("id", r.id.clone())]));
    body(&tr, r, &mut h);
    probes(&tr, &pm.probes, &mut h);
    h.push_str("\n</body>\n</html>\n");
    ripcord_core::redact::scrub(&h)
}

/// The sections people complete, as (title id, lines to fill).
const TO_FILL: &[(&str, usize)] = &[
    ("pm-went-well", 3),
    ("pm-went-wrong", 3),
    ("pm-improve", 3),
    ("pm-lessons", 3),
];

fn event_line(e: &ripcord_core::events::Envelope, lang: Lang) -> (String, String) {
    (
        e.at.clone(),
        ripcord_core::redact::scrub(crate::console::describe_in(lang, &e.event).trim()),
    )
}

/// An event line on a page in `lang`: isolated, reading the page's way.
fn line_html(lang: Lang, text: &str) -> String {
    format!("<bdi dir=\"{}\">{}</bdi>", lang.dir(), esc(text))
}

/// The stop and the decision as (time, line) and the decision's evidence (JSON, which
/// reads left to right in both languages).
fn decision_lines(pm: &PostMortem, lang: Lang) -> Vec<(String, String, Option<String>)> {
    let mut out = Vec::new();
    for e in [&pm.stop, &pm.decision].into_iter().flatten() {
        let (at, text) = event_line(e, lang);
        let evidence = match &e.event {
            ripcord_core::events::Event::DecisionMade { evidence, .. } => {
                Some(ripcord_core::redact::scrub(&evidence.to_string()))
            }
            _ => None,
        };
        out.push((at, text, evidence));
    }
    out
}

/// `ripcord postmortem ROLLBACK --format md`.
pub fn postmortem_md(pm: &PostMortem, lang: Lang) -> String {
    let tr = Tr::new(lang);
    let r = &pm.report;
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", tr.t("pm-title", &[("id", r.id.clone())]));
    let _ = writeln!(m, "_{}_\n", tr.s("pm-prefilled"));
    let _ = writeln!(m, "## {}\n", tr.s("pm-summary"));
    // The report, its headings two levels down so they nest under this section.
    for line in crate::render::rollback_markdown_in(r, lang).lines() {
        if line.starts_with('#') {
            let _ = writeln!(m, "##{line}");
        } else {
            let _ = writeln!(m, "{line}");
        }
    }
    m.push('\n');
    let _ = writeln!(m, "## {}\n", tr.s("pm-events"));
    let _ = writeln!(
        m,
        "| {} | {} |\n|---|---|",
        tr.s("pm-time"),
        tr.s("pm-event")
    );
    for e in pm.stop.iter().chain(&pm.decision).chain(&pm.events) {
        let (at, text) = event_line(e, lang);
        let _ = writeln!(m, "| {at} | {} |", text.replace('|', "\\|"));
    }
    let _ = writeln!(m, "\n## {}\n", tr.s("pm-decision"));
    let lines = decision_lines(pm, lang);
    if lines.is_empty() {
        let _ = writeln!(m, "{}", tr.s("pm-no-decision"));
    }
    for (at, text, evidence) in lines {
        match lang {
            // As before: the time and the line in one code span.
            Lang::En => {
                let _ = writeln!(m, "- `{at} {text}`");
            }
            // A code span reads left to right; an Arabic line is prose.
            Lang::Ar => {
                let _ = writeln!(m, "- `{at}` {text}");
            }
        }
        if let Some(ev) = evidence {
            let _ = writeln!(m, "- `{ev}`");
        }
    }
    let _ = writeln!(m, "\n## {}\n", tr.s("pm-against-targets"));
    let _ = writeln!(
        m,
        "- {}: {} ({})",
        tr.s("rep-timeline"),
        tr.t(
            "rep-total",
            &[
                ("took", secs(r.total_seconds)),
                ("target", secs(r.target_seconds)),
                ("share", format!("{:.1}", r.target_share * 100.0)),
            ]
        ),
        tr.s(if over(r) {
            "pm-target-missed"
        } else {
            "pm-target-met"
        })
    );
    let _ = writeln!(
        m,
        "- {}: {} / {}: {} / {}: {}",
        tr.s("rep-at-risk"),
        r.figures.at_risk,
        tr.s("rep-recovered"),
        r.figures.recovered,
        tr.s("rep-lost"),
        r.figures.lost
    );
    let _ = writeln!(m, "\n## {}\n", tr.s("pm-gap-actions"));
    if r.gaps.is_empty() {
        let _ = writeln!(m, "{}", tr.s("rep-no-gaps"));
    }
    for g in &r.gaps {
        let _ = writeln!(
            m,
            "- [ ] {} `{}`: {} → {}",
            g.table,
            g.key,
            crate::console::gap_reason_in(&tr, &g.cause),
            crate::console::gap_suggestion_in(&tr, g)
        );
    }
    let _ = writeln!(m, "\n## {}\n", tr.s("pm-root-cause"));
    for n in 1..=5 {
        let _ = writeln!(
            m,
            "{n}. {} {}",
            tr.t("pm-why", &[("n", n.to_string())]),
            tr.s("pm-fill")
        );
    }
    let _ = writeln!(m, "\n**{}** {}", tr.s("pm-root"), tr.s("pm-fill"));
    for (title, n) in TO_FILL {
        let _ = writeln!(m, "\n## {}\n", tr.s(title));
        for _ in 0..*n {
            let _ = writeln!(m, "- {}", tr.s("pm-fill"));
        }
    }
    let _ = writeln!(m, "\n## {}\n", tr.s("pm-remediation"));
    let _ = writeln!(
        m,
        "| {} | {} | {} | {} |\n|---|---|---|---|",
        tr.s("rep-action"),
        tr.s("pm-owner"),
        tr.s("pm-due"),
        tr.s("pm-status")
    );
    for g in &r.gaps {
        let _ = writeln!(
            m,
            "| {} ({} `{}`) | | | |",
            crate::console::gap_suggestion_in(&tr, g),
            g.table,
            g.key
        );
    }
    let _ = writeln!(m, "| {} | | | |", tr.s("pm-fill"));
    let _ = writeln!(m, "\n## {}\n\n- {}", tr.s("pm-success"), tr.s("pm-fill"));
    ripcord_core::redact::scrub(&m)
}

/// `ripcord postmortem ROLLBACK --format html`: self-contained, like the report.
pub fn postmortem_html(pm: &PostMortem, lang: Lang) -> String {
    let tr = Tr::new(lang);
    let r = &pm.report;
    let mut h = open(&tr, &tr.t("pm-title", &[("id", r.id.clone())]));
    let _ = write!(
        h,
        "<p class=\"fill\">{}</p><h2>{}</h2>",
        esc(&tr.s("pm-prefilled")),
        esc(&tr.s("pm-summary"))
    );
    body(&tr, r, &mut h);
    probes(&tr, &pm.probes, &mut h);
    let _ = write!(
        h,
        "<h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr.s("pm-events")),
        esc(&tr.s("pm-time")),
        esc(&tr.s("pm-event")),
    );
    for e in pm.stop.iter().chain(&pm.decision).chain(&pm.events) {
        let (at, text) = event_line(e, lang);
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            bdi(&at),
            line_html(lang, &text)
        );
    }
    let _ = write!(h, "</tbody></table><h2>{}</h2>", esc(&tr.s("pm-decision")));
    let lines = decision_lines(pm, lang);
    if lines.is_empty() {
        let _ = write!(h, "<p>{}</p>", esc(&tr.s("pm-no-decision")));
    } else {
        h.push_str("<ul>");
        for (at, text, evidence) in lines {
            match lang {
                Lang::En => {
                    let _ = write!(h, "<li>{}</li>", bdi(&format!("{at} {text}")));
                }
                Lang::Ar => {
                    let _ = write!(h, "<li>{} {}</li>", bdi(&at), line_html(lang, &text));
                }
            }
            if let Some(ev) = evidence {
                let _ = write!(h, "<li>{}</li>", bdi(&ev));
            }
        }
        h.push_str("</ul>");
    }
    let _ = write!(h, "<h2>{}</h2><ol>", esc(&tr.s("pm-root-cause")));
    for n in 1..=5 {
        let _ = write!(
            h,
            "<li>{} <span class=\"fill\">{}</span></li>",
            msg(&tr, "pm-why", &[("n", n.to_string())]),
            esc(&tr.s("pm-fill"))
        );
    }
    let _ = write!(
        h,
        "</ol><p><strong>{}</strong> <span class=\"fill\">{}</span></p>",
        esc(&tr.s("pm-root")),
        esc(&tr.s("pm-fill"))
    );
    for (title, n) in TO_FILL {
        let _ = write!(h, "<h2>{}</h2><ul>", esc(&tr.s(title)));
        for _ in 0..*n {
            let _ = write!(h, "<li class=\"fill\">{}</li>", esc(&tr.s("pm-fill")));
        }
        h.push_str("</ul>");
    }
    let _ = write!(
        h,
        "<h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr.s("pm-remediation")),
        esc(&tr.s("rep-action")),
        esc(&tr.s("pm-owner")),
        esc(&tr.s("pm-due")),
        esc(&tr.s("pm-status")),
    );
    for g in &r.gaps {
        let _ = write!(
            h,
            "<tr><td>{} ({} {})</td><td></td><td></td><td></td></tr>",
            esc(&crate::console::gap_suggestion_in(&tr, g)),
            bdi(&g.table),
            bdi(&g.key)
        );
    }
    let _ = write!(
        h,
        "<tr><td class=\"fill\">{}</td><td></td><td></td><td></td></tr></tbody></table><h2>{}</h2><ul><li class=\"fill\">{}</li></ul>\n</body>\n</html>\n",
        esc(&tr.s("pm-fill")),
        esc(&tr.s("pm-success")),
        esc(&tr.s("pm-fill")),
    );
    ripcord_core::redact::scrub(&h)
}
