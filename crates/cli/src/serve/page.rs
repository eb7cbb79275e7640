//! The dashboard's HTML, rendered on the server in the reader's language: the whole page,
//! and the live part alone (`/fragment`), which the page's script fetches again whenever
//! the event log grows. Every value from the state store is escaped; identifiers and
//! numbers sit in `<bdi>` so they keep their left-to-right order on the Arabic page.

use super::i18n::{Lang, Tr};
use super::snapshot::Snapshot;
use std::fmt::Write as _;

pub const CSS: &str = include_str!("../../assets/dashboard.css");
pub const JS: &str = include_str!("../../assets/dashboard.js");

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An identifier or a number, isolated from the text around it.
pub fn bdi(s: &str) -> String {
    format!("<bdi dir=\"ltr\">{}</bdi>", esc(s))
}

/// A message whose arguments are identifiers or numbers: each is escaped and isolated.
pub fn msg(tr: &Tr, id: &str, args: &[(&str, String)]) -> String {
    // Placeholders that cannot occur in a message, swapped for the isolated values after
    // the whole text is escaped.
    let marked: Vec<(&str, String)> = args
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (*k, format!("\u{E000}{i}\u{E001}")))
        .collect();
    let mut text = esc(&tr.t(id, &marked));
    for (i, (_, v)) in args.iter().enumerate() {
        text = text.replace(&format!("\u{E000}{i}\u{E001}"), &bdi(v));
    }
    text
}

fn level_class(level: &str) -> &'static str {
    match level {
        "green" => "green",
        "yellow" => "yellow",
        "orange" => "orange",
        "red" => "red",
        _ => "unknown",
    }
}

fn level_word(tr: &Tr, level: &str) -> String {
    tr.s(&format!("dash-level-{}", level_class(level)))
}

fn seconds(s: f64) -> String {
    if s >= 120.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

fn age(s: i64) -> String {
    ripcord_core::check::age_words(s)
}

/// A small chart of a probe's recent values, with its baseline median dashed. Time runs
/// left to right in both languages.
fn sparkline(points: &std::collections::VecDeque<(i64, f64)>, median: Option<f64>) -> String {
    if points.len() < 2 {
        return String::new();
    }
    let (w, h) = (160.0, 28.0);
    let values = points.iter().map(|p| p.1).chain(median);
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (t0, t1) = (points[0].0 as f64, points[points.len() - 1].0 as f64);
    let x = |t: i64| (t as f64 - t0) / (t1 - t0).max(1.0) * (w - 4.0) + 2.0;
    let y = |v: f64| h - 2.0 - (v - lo) / span * (h - 4.0);
    let line: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    let base = median
        .map(|m| {
            format!(
                "<line x1=\"0\" x2=\"{w}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#8c959f\" stroke-dasharray=\"3 2\"/>",
                y(m)
            )
        })
        .unwrap_or_default();
    format!(
        "<svg class=\"spark\" direction=\"ltr\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{lo} … {hi}\">{base}<polyline fill=\"none\" stroke=\"#3b82f6\" stroke-width=\"1.5\" points=\"{}\"/></svg>",
        line.join(" ")
    )
}

/// The whole page: header, actions, the live part and the script.
pub fn page(tr: &Tr, snap: &Snapshot, actions_enabled: bool) -> String {
    let lang = tr.lang;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"{}\" dir=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">\n</head>\n<body data-lang=\"{}\" data-after=\"{}\">\n",
        lang.code(),
        lang.dir(),
        esc(&tr.s("dash-title")),
        lang.code(),
        snap.last_seq,
    );
    let _ = writeln!(
        h,
        "<header><h1>{}</h1><p>{}</p><nav><a href=\"?lang={}\" hreflang=\"{}\" lang=\"{}\">{}</a> · <a href=\"/metrics\">{}</a></nav></header>",
        esc(&tr.s("dash-title")),
        msg(tr, "dash-plan", &[("name", snap.plan_name.clone())]),
        lang.other().code(),
        lang.other().code(),
        lang.other().code(),
        esc(&tr.s("dash-lang-switch")),
        esc(&tr.s("dash-metrics")),
    );
    h.push_str("<main>\n<div id=\"live\">");
    h.push_str(&fragment(tr, snap));
    h.push_str("</div>\n");
    h.push_str(&actions(tr, actions_enabled));
    let _ = writeln!(
        h,
        "<section id=\"events-section\"><h2>{}</h2><ol id=\"events\" reversed><li class=\"muted\">{}</li></ol></section>",
        esc(&tr.s("dash-events")),
        esc(&tr.s("dash-events-waiting")),
    );
    h.push_str("</main>\n");
    h.push_str("<script src=\"/assets/dashboard.js\"></script>\n</body>\n</html>\n");
    h
}

fn actions(tr: &Tr, enabled: bool) -> String {
    let disabled = if enabled { "" } else { " disabled" };
    format!(
        "<section id=\"actions\"><h2>{stop}</h2><p>{help}</p>\
<form id=\"stop-form\" method=\"post\" action=\"/api/stop\">\
<label>{token}<input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"off\" dir=\"ltr\"{disabled}></label>\
<p class=\"muted\">{token_help}</p>\
<label>{reason}<textarea name=\"reason\" id=\"reason\" required{disabled}></textarea></label>\
<label class=\"check\"><input type=\"checkbox\" name=\"confirm\" id=\"confirm\" value=\"yes\"{disabled}> {confirm}</label>\
<button type=\"submit\" class=\"stop\" id=\"stop\"{disabled}>{button}</button>\
<output id=\"action-result\" role=\"status\"></output></form></section>\n",
        stop = esc(&tr.s("dash-stop")),
        help = esc(&tr.s("dash-stop-help")),
        token = esc(&tr.s("dash-token")),
        token_help = esc(&tr.s("dash-token-help")),
        reason = esc(&tr.s("dash-reason")),
        confirm = esc(&tr.s("dash-confirm")),
        button = esc(&tr.s("dash-stop-button")),
    )
}

/// The live part: level, components, run, rollback timeline, switches, decisions,
/// rollbacks, audit chain.
pub fn fragment(tr: &Tr, snap: &Snapshot) -> String {
    let mut h = String::new();
    let g = &snap.guard;
    // Level.
    let _ = write!(
        h,
        "<section id=\"level\" class=\"level {cls}\" data-level=\"{cls}\"><h2>{title}</h2><p class=\"big\">{word}</p><p>{live}</p>",
        cls = level_class(&g.level),
        title = esc(&tr.s("dash-level")),
        word = esc(&level_word(tr, &g.level)),
        live = if g.live {
            msg(
                tr,
                "dash-guard-live",
                &[
                    ("mode", g.mode.clone().unwrap_or_default()),
                    ("at", g.updated_at.clone().unwrap_or_default()),
                ],
            )
        } else {
            esc(&tr.s("dash-guard-idle"))
        },
    );
    if let Some(s) = &g.stopping {
        let _ = write!(
            h,
            "<p class=\"alert\">{}</p>",
            msg(
                tr,
                "dash-stopping",
                &[
                    ("reason", s.reason.clone()),
                    ("source", s.source.to_string()),
                ]
            )
        );
    }
    h.push_str("</section>\n");

    // Components.
    let _ = write!(
        h,
        "<section id=\"components\"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&tr.s("dash-components")),
        esc(&tr.s("dash-component")),
        esc(&tr.s("dash-priority")),
        esc(&tr.s("dash-rto")),
        esc(&tr.s("dash-capture")),
        esc(&tr.s("dash-frozen")),
        esc(&tr.s("dash-newest-checkpoint")),
    );
    for c in &snap.components {
        let tables: Vec<_> = snap
            .overview
            .capture
            .iter()
            .filter(|t| t.component == c.name)
            .collect();
        let on = tables.iter().filter(|t| t.capture).count();
        let frozen = tables.iter().filter(|t| t.frozen).count();
        let unreachable = snap
            .overview
            .unreachable
            .iter()
            .find(|u| u.component == c.name);
        let capture = match unreachable {
            Some(u) => format!(
                "<span class=\"bad\">{}</span>",
                msg(
                    tr,
                    "dash-unreachable",
                    &[("database", u.database.clone()), ("error", u.error.clone())]
                )
            ),
            None if on == tables.len() && on > 0 => {
                format!(
                    "<span class=\"good\">{}</span>",
                    esc(&tr.s("dash-capture-on"))
                )
            }
            None if on == 0 => {
                format!(
                    "<span class=\"bad\">{}</span>",
                    esc(&tr.s("dash-capture-off"))
                )
            }
            None => format!(
                "<span class=\"warn\">{}</span>",
                msg(
                    tr,
                    "dash-capture-partial",
                    &[("on", on.to_string()), ("all", tables.len().to_string())]
                )
            ),
        };
        let frozen = if frozen > 0 {
            format!(
                "<span class=\"bad\">{}</span>",
                msg(tr, "dash-frozen-tables", &[("n", frozen.to_string())])
            )
        } else {
            String::new()
        };
        let checkpoint = match c.checkpoint_age_seconds {
            None => format!("<span class=\"bad\">{}</span>", esc(&tr.s("dash-none"))),
            Some(a) if a > snap.max_checkpoint_age_seconds => format!(
                "<span class=\"bad\">{} · {}</span>",
                msg(tr, "dash-checkpoint-age", &[("age", age(a))]),
                msg(
                    tr,
                    "dash-checkpoint-stale",
                    &[("limit", age(snap.max_checkpoint_age_seconds))]
                )
            ),
            Some(a) => msg(tr, "dash-checkpoint-age", &[("age", age(a))]),
        };
        let _ = write!(
            h,
            "<tr data-component=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{capture}</td><td>{frozen}</td><td>{checkpoint}</td></tr>",
            esc(&c.name),
            bdi(&c.name),
            esc(&c.priority),
            bdi(&seconds(c.rto_seconds)),
        );
    }
    h.push_str("</tbody></table></section>\n");

    // Probes and rules.
    if !g.probes.is_empty() {
        let _ = write!(
            h,
            "<section id=\"probes\"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("dash-probes")),
            esc(&tr.s("dash-probe")),
            esc(&tr.s("dash-last")),
            esc(&tr.s("dash-baseline")),
            esc(&tr.s("dash-trend")),
        );
        for p in &g.probes {
            use ripcord_core::status::ProbeOutcome;
            let value = match p.last.as_ref().map(|l| &l.outcome) {
                Some(ProbeOutcome::Measured { value, ok, .. }) => {
                    let cls = if *ok { "good" } else { "bad" };
                    format!("<span class=\"{cls}\">{}</span>", bdi(&value.to_string()))
                }
                Some(ProbeOutcome::Unmeasured { reason }) => format!(
                    "<span class=\"bad\">{}</span>",
                    msg(tr, "dash-could-not-measure", &[("reason", reason.clone())])
                ),
                None => "—".into(),
            };
            let base = match &p.baseline {
                Some(b) => bdi(&format!("{} / {}", b.median, b.p95)),
                None => esc(&tr.s("dash-none")),
            };
            let spark = snap
                .history
                .get(&p.name)
                .map(|pts| sparkline(pts, p.baseline.as_ref().map(|b| b.median)))
                .unwrap_or_default();
            let trend = match &p.trend {
                Some(t) => format!(" <span class=\"warn\">{}</span>", esc(&t.message)),
                None => String::new(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{value}</td><td>{base}</td><td>{spark}{trend}</td></tr>",
                bdi(&p.name),
            );
        }
        h.push_str("</tbody></table></section>\n");
    }
    if !g.rules.is_empty() {
        let _ = write!(
            h,
            "<section id=\"rules\"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("dash-rules")),
            esc(&tr.s("dash-rule")),
            esc(&tr.s("dash-level")),
            esc(&tr.s("dash-status")),
        );
        for r in &g.rules {
            let level = r.level.name();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{} {}</td></tr>",
                bdi(&r.name),
                level_class(level),
                esc(&level_word(tr, level)),
                bdi(r.status.name()),
                esc(&r
                    .why
                    .as_ref()
                    .map(|d| crate::console::rule_detail_in(tr, d))
                    .unwrap_or_default()),
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    // The current run.
    let _ = write!(h, "<section id=\"run\"><h2>{}</h2>", esc(&tr.s("dash-run")));
    match &g.run {
        Some(r) => {
            let _ = write!(
                h,
                "<p>{}</p>",
                msg(
                    tr,
                    "dash-run-line",
                    &[
                        ("id", r.id.clone()),
                        ("status", r.status.clone()),
                        ("at", r.started_at.clone()),
                        ("actor", r.actor.clone()),
                    ]
                )
            );
        }
        None => {
            let _ = write!(h, "<p class=\"muted\">{}</p>", esc(&tr.s("dash-no-run")));
        }
    }
    h.push_str("</section>\n");

    // The newest rollback against its recovery-time budget.
    if let Some(r) = &snap.newest_report {
        let state = snap
            .rollbacks
            .first()
            .map(|s| s.state.name().to_string())
            .unwrap_or_default();
        let _ = write!(
            h,
            "<section id=\"timeline\"><h2>{}</h2><p>{}</p><p class=\"{}\">{}{}</p><div class=\"budget\" role=\"img\">",
            esc(&tr.s("dash-rollback-timeline")),
            msg(
                tr,
                "dash-rollback-line",
                &[
                    ("id", r.id.clone()),
                    ("components", r.components.join(", ")),
                    ("state", state)
                ]
            ),
            if r.over_target && r.target_seconds > 0.0 {
                "bad"
            } else {
                "good"
            },
            if r.target_seconds <= 0.0 {
                // A rollback of no component has no target to measure against.
                bdi(&seconds(r.total_seconds))
            } else {
                msg(
                    tr,
                    "dash-budget",
                    &[
                        ("took", seconds(r.total_seconds)),
                        ("target", seconds(r.target_seconds)),
                        ("share", format!("{:.1}", r.target_share * 100.0)),
                    ],
                )
            },
            if r.over_target && r.target_seconds > 0.0 {
                format!(" — {}", esc(&tr.s("dash-over-budget")))
            } else {
                String::new()
            },
        );
        // Bars are shares of the budget (or of the total when it ran over).
        let scale = r.target_seconds.max(r.total_seconds).max(1e-9);
        for p in &r.timeline {
            let _ = write!(
                h,
                "<span class=\"bar\" style=\"inline-size:{:.3}%\" title=\"{} {}\"></span>",
                p.seconds / scale * 100.0,
                esc(p.phase.name()),
                esc(&seconds(p.seconds)),
            );
        }
        let _ = write!(
            h,
            "</div><table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("dash-phase")),
            esc(&tr.s("dash-seconds")),
        );
        for p in &r.timeline {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                bdi(p.phase.name()),
                bdi(&format!("{:.3}", p.seconds))
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    // Switches.
    if !snap.switches.is_empty() {
        let _ = write!(
            h,
            "<section id=\"switches\"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("dash-switches")),
            esc(&tr.s("dash-switch")),
            esc(&tr.s("dash-component")),
            esc(&tr.s("dash-position")),
        );
        for s in &snap.switches {
            let pos = s
                .position
                .as_ref()
                .and_then(|p| serde_json::to_value(p).ok())
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    v => v.to_string(),
                })
                .unwrap_or_else(|| "—".into());
            let pending = if s.pending.is_some() {
                format!(
                    " <span class=\"bad\">{}</span>",
                    esc(&tr.s("dash-pending-flip"))
                )
            } else {
                String::new()
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}{pending}</td></tr>",
                bdi(&s.name),
                bdi(&s.component),
                bdi(&pos),
            );
        }
        h.push_str("</tbody></table></section>\n");
    }

    // Open decisions, each with its approve/reject buttons.
    let _ = write!(
        h,
        "<section id=\"decisions\"><h2>{}</h2>",
        esc(&tr.s("dash-decisions"))
    );
    if g.open_decisions.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\">{}</p>",
            esc(&tr.s("dash-no-decisions"))
        );
    }
    for d in &g.open_decisions {
        let _ = write!(
            h,
            "<div class=\"decision\" data-decision=\"{id}\"><p>{line}</p><p>{approvers}</p>\
<button type=\"button\" class=\"answer\" data-decision=\"{id}\" data-answer=\"approve\">{approve}</button> \
<button type=\"button\" class=\"answer\" data-decision=\"{id}\" data-answer=\"reject\">{reject}</button></div>",
            id = esc(&d.id),
            line = msg(
                tr,
                "dash-decision-line",
                &[
                    ("run", d.run.clone()),
                    ("proposal", d.proposal.clone()),
                    ("scenario", d.scenario.clone()),
                    ("deadline", d.deadline.clone()),
                ]
            ),
            approvers = msg(tr, "dash-approvers", &[("names", d.approvers.join(", "))]),
            approve = esc(&tr.s("dash-approve")),
            reject = esc(&tr.s("dash-reject")),
        );
    }
    h.push_str("</section>\n");

    incidents(&mut h, tr, snap);

    // Rollbacks, each linking to its report.
    let _ = write!(
        h,
        "<section id=\"rollbacks\"><h2>{}</h2>",
        esc(&tr.s("dash-rollbacks"))
    );
    if snap.rollbacks.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\">{}</p>",
            esc(&tr.s("dash-no-rollbacks"))
        );
    } else {
        let _ = write!(
            h,
            "<table><thead><tr><th>id</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            esc(&tr.s("dash-component")),
            esc(&tr.s("dash-status")),
            esc(&tr.s("dash-started")),
            esc(&tr.s("dash-took")),
            esc(&tr.s("dash-at-risk")),
            esc(&tr.s("dash-recovered")),
            esc(&tr.s("dash-lost")),
        );
        for r in &snap.rollbacks {
            use ripcord_core::status::RollbackState as S;
            let cls = match r.state {
                S::Verified => "good",
                S::Abandoned => "muted",
                _ => "bad",
            };
            let _ = write!(
                h,
                "<tr><td><a href=\"/report/{id}?lang={lang}\">{idb}</a></td><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                bdi(&r.components.join(", ")),
                bdi(r.state.name()),
                bdi(&r.started_at),
                bdi(&seconds(r.took_seconds)),
                bdi(&r.at_risk.to_string()),
                bdi(&r.recovered.to_string()),
                if r.lost == 0 { "good" } else { "bad" },
                bdi(&r.lost.to_string()),
                id = esc(&r.id),
                idb = bdi(&r.id),
                lang = tr.lang.code(),
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");

    // The audit chain.
    let _ = writeln!(
        h,
        "<section id=\"audit\"><h2>{}</h2><p class=\"{}\">{}</p></section>",
        esc(&tr.s("dash-audit")),
        if snap.audit.broken.is_none() {
            "good"
        } else {
            "bad"
        },
        match &snap.audit.broken {
            None => msg(
                tr,
                "dash-audit-intact",
                &[("n", snap.audit.entries.to_string())]
            ),
            Some(b) => msg(tr, "dash-audit-broken", &[("detail", b.clone())]),
        }
    );
    h
}

/// Open incidents: what happened, the levels reached and who acknowledged, a button per
/// level still unacknowledged, and the newest in-app notice to users in the reader's
/// language (the plan's wording where it has one).
fn incidents(h: &mut String, tr: &Tr, snap: &Snapshot) {
    use ripcord_core::notify::{IncidentStatus, Language};
    let _ = write!(
        h,
        "<section id=\"incidents\"><h2>{}</h2>",
        esc(&tr.s("dash-incidents"))
    );
    let open: Vec<_> = snap
        .incidents
        .iter()
        .filter(|i| i.status == IncidentStatus::Open)
        .collect();
    if open.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\">{}</p>",
            esc(&tr.s("dash-no-incidents"))
        );
    }
    let language = match tr.lang {
        Lang::En => Language::En,
        Lang::Ar => Language::Ar,
    };
    for inc in open {
        let _ = write!(
            h,
            "<div class=\"incident\" data-incident=\"{id}\"><p>{line} {cause}: <bdi>{reason}</bdi></p><ul>",
            id = esc(&inc.id),
            line = msg(
                tr,
                "dash-incident-line",
                &[
                    ("id", inc.id.clone()),
                    ("since", inc.opened_at.clone()),
                    ("level", inc.level_reached().to_string()),
                ]
            ),
            cause = esc(&tr.t("dash-cause", &[("cause", inc.cause.name().to_string())])),
            reason = esc(&inc.reason),
        );
        for st in inc.levels.iter().filter(|l| l.reached_ms.is_some()) {
            match snap
                .acks
                .iter()
                .find(|a| a.incident == inc.id && a.level == st.level)
            {
                Some(a) => {
                    let _ = write!(
                        h,
                        "<li class=\"good\">{}</li>",
                        msg(
                            tr,
                            "dash-incident-acked",
                            &[
                                ("level", st.level.to_string()),
                                ("by", a.by.clone()),
                                ("at", a.at.clone()),
                            ]
                        )
                    );
                }
                None => {
                    let _ = write!(
                        h,
                        "<li><button type=\"button\" class=\"ack\" data-incident=\"{id}\" data-level=\"{level}\">{label}</button></li>",
                        id = esc(&inc.id),
                        level = st.level,
                        label = msg(tr, "dash-ack-button", &[("level", st.level.to_string())]),
                    );
                }
            }
        }
        h.push_str("</ul>");
        let newest = snap.deliveries.iter().rev().find(|d| {
            d.incident.as_deref() == Some(inc.id.as_str())
                && d.level.is_none()
                && snap
                    .notify
                    .channels
                    .get(&d.recipient.channel)
                    .is_some_and(|c| matches!(c.kind, ripcord_core::plan::ChannelKind::InApp))
        });
        if let Some(d) = newest {
            let r = crate::messages::render(&snap.notify, &d.message, language, None);
            let _ = write!(
                h,
                "<div class=\"message\" dir=\"auto\"><p><strong>{}</strong></p><p class=\"pre\">{}</p></div>",
                esc(&r.subject),
                esc(&r.text)
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</section>\n");
}

impl Lang {
    /// For `<html lang>` in other pages (reports).
    pub fn attrs(self) -> String {
        format!("lang=\"{}\" dir=\"{}\"", self.code(), self.dir())
    }
}
