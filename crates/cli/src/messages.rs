//! Notification messages in words: core's `notify::Message` (data) rendered in the
//! recipient's language with Project Fluent (`locales/en.ftl`, `locales/ar.ftl`, embedded in
//! the binary). Arabic keeps Fluent's bidi isolation on, so identifiers, numbers and times
//! (left-to-right) sit inside FSI…PDI marks in right-to-left text; English has nothing to
//! isolate and is sent without the marks.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use ripcord_core::notify::{
    Briefing, Language, Message, RollbackOutcome, Summary, UserStage, catalog,
};
use ripcord_core::plan::{MessageWording, NotifyPlan};

pub const EN_FTL: &str = include_str!("../locales/en.ftl");
pub const AR_FTL: &str = include_str!("../locales/ar.ftl");

/// The ids every language must have (`messages_parity` test).
pub const MESSAGE_IDS: &[&str] = &[
    "emergency-detected",
    "reminder",
    "escalated",
    "rollback-started",
    "rollback-completed",
    "issue-resolved",
    "user-notice",
    "level-changed",
    "test",
    "approval-needed",
    "trend-warning",
    "checkpoint-stale",
    "leadership-notice",
    "all-staff-notice",
    "technical-brief",
];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    pub subject: String,
    /// The whole text: the message, then the acknowledgement paragraph when there is one.
    pub text: String,
    /// The acknowledgement paragraph alone (with its one-time link), so a channel that
    /// must cut the text cuts the message and keeps the link whole.
    pub ack: Option<String>,
}

impl Rendered {
    /// The text in at most `n` characters, the message cut with "…" when it must be. The
    /// acknowledgement paragraph is kept whole, for a link cut short acknowledges nothing;
    /// when not even it fits, the message is cut alone and the link left out.
    pub fn fit(&self, n: usize) -> String {
        if self.text.chars().count() <= n {
            return self.text.clone();
        }
        if let Some(ack) = &self.ack {
            let body = self
                .text
                .strip_suffix(ack.as_str())
                .unwrap_or(&self.text)
                .trim_end();
            let room = n.saturating_sub(ack.chars().count() + 2);
            if room >= 2 {
                return format!("{}\n\n{ack}", cut(body, room));
            }
            return cut(body, n);
        }
        cut(&self.text, n)
    }
}

/// At most `n` characters, the last one "…" when cut.
pub fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The message that carries a one-time acknowledgement link (`$link`), added below a
/// message to a level when the plan has an `ack_url`.
pub const ACK_LINK: &str = "ack-link";

/// The built-in messages of `lang`, with the plan's wording of one message beside them
/// (checked when the plan loaded).
fn bundle(lang: Language, wording: Option<&MessageWording>) -> FluentBundle<FluentResource> {
    let (src, id) = match lang {
        Language::En => (EN_FTL, "en"),
        Language::Ar => (AR_FTL, "ar"),
    };
    let langid: unic_langid::LanguageIdentifier = id.parse().expect("static language id");
    let mut b = FluentBundle::new(vec![langid]);
    b.set_use_isolating(lang == Language::Ar);
    let res = FluentResource::try_new(src.to_string()).expect("the embedded .ftl parses");
    b.add_resource(res).expect("no duplicate message ids");
    if let Some(w) = wording {
        match FluentResource::try_new(w.ftl.clone()) {
            Ok(res) => b.add_resource_overriding(res),
            // The plan's check parses the same text; a wording that fails here is skipped
            // and the built-in message goes instead.
            Err(_) => tracing::warn!("the plan's wording of {} does not parse", w.id),
        }
    }
    b
}

/// "2026-11-29 23:18:06 UTC": what the reader sees for an RFC 3339 time.
fn when(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string())
}

fn secs(s: f64) -> String {
    format!("{s:.1}")
}

fn summary_args(args: &mut FluentArgs, s: &Summary) {
    args.set("incident", s.incident.clone());
    args.set("plan", s.plan.clone());
    args.set("cause", s.cause.name());
    args.set("reason", s.reason.clone());
    args.set("detected", when(&s.detected_at));
    args.set(
        "components",
        if s.components.is_empty() {
            "—".to_string()
        } else {
            s.components.join(", ")
        },
    );
}

fn outcome_args(args: &mut FluentArgs, o: &RollbackOutcome) {
    args.set("rollback", o.rollback.clone());
    args.set("ok", if o.ok { "yes" } else { "no" });
    args.set("seconds", secs(o.seconds));
    args.set("target", secs(o.rto_seconds));
    args.set(
        "within",
        if o.seconds <= o.rto_seconds {
            "yes"
        } else {
            "no"
        },
    );
    args.set("at_risk", FluentValue::from(o.at_risk as f64));
    args.set("recovered", FluentValue::from(o.recovered as f64));
    args.set("lost", FluentValue::from(o.lost as f64));
}

/// A list for the reader, "—" when empty.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "—".to_string()
    } else {
        items.join(", ")
    }
}

/// The seed's briefing placeholders; an unknown value is `unknown`, which each .ftl words
/// (a select: "not known yet", "to be decided"…).
fn briefing_args(args: &mut FluentArgs, b: &Briefing) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_string());
    let time = |v: &Option<String>| {
        v.as_deref()
            .map(when)
            .unwrap_or_else(|| "unknown".to_string())
    };
    args.set("plan", b.plan.clone());
    args.set("emergency_type", b.emergency_type.clone());
    args.set("detected", when(&b.detected_at));
    args.set("systems", list(&b.affected_systems));
    args.set("impact", opt(&b.business_impact));
    args.set("estimated", time(&b.estimated_resolution));
    args.set("next_update", time(&b.next_update));
    args.set("resolved", time(&b.resolved_at));
    args.set("root_cause", opt(&b.root_cause));
    args.set("actions", opt(&b.actions_taken));
    args.set("preventive", opt(&b.preventive_measures));
}

/// The message's id in the .ftl files and its arguments.
pub fn arguments(msg: &Message) -> (&'static str, FluentArgs<'static>) {
    let mut a = FluentArgs::new();
    match msg {
        Message::EmergencyDetected {
            summary,
            level,
            round,
        } => {
            summary_args(&mut a, summary);
            a.set("level", FluentValue::from(*level));
            a.set("round", FluentValue::from(*round));
        }
        Message::Escalated {
            summary,
            level,
            unacknowledged_seconds,
        } => {
            summary_args(&mut a, summary);
            a.set("level", FluentValue::from(*level));
            a.set(
                "minutes",
                FluentValue::from((unacknowledged_seconds / 60.0).floor()),
            );
        }
        Message::RollbackStarted {
            summary,
            rollback,
            checkpoint,
        } => {
            summary_args(&mut a, summary);
            a.set("rollback", rollback.clone());
            a.set("checkpoint", checkpoint.clone());
        }
        Message::RollbackCompleted { summary, outcome } => {
            summary_args(&mut a, summary);
            outcome_args(&mut a, outcome);
        }
        Message::Resolved {
            summary,
            resolved_at,
            duration_seconds,
            outcome,
        } => {
            summary_args(&mut a, summary);
            a.set("resolved", when(resolved_at));
            a.set(
                "minutes",
                FluentValue::from((duration_seconds / 60.0).floor()),
            );
            match outcome {
                Some(o) => {
                    outcome_args(&mut a, o);
                    a.set("figures", "yes");
                }
                None => a.set("figures", "no"),
            }
        }
        Message::UserNotice { summary, stage, .. } => {
            summary_args(&mut a, summary);
            a.set(
                "stage",
                match stage {
                    UserStage::Started => "started",
                    UserStage::Update => "update",
                    UserStage::Resolved => "resolved",
                },
            );
        }
        Message::LevelChanged {
            plan,
            level,
            reason,
            at,
        } => {
            a.set("plan", plan.clone());
            a.set("level", level.name());
            a.set("reason", reason.clone());
            a.set("at", when(at));
        }
        Message::Test { plan, channel } => {
            a.set("plan", plan.clone());
            a.set("channel", channel.clone());
        }
        Message::ApprovalNeeded {
            plan,
            run,
            decision,
            scenario,
            approvers,
            deadline,
        } => {
            a.set("plan", plan.clone());
            a.set("run", run.clone());
            a.set("decision", decision.clone());
            a.set("scenario", scenario.clone());
            a.set("approvers", list(approvers));
            a.set("deadline", when(deadline));
        }
        Message::TrendWarning {
            plan,
            probe,
            threshold,
            eta_seconds,
        } => {
            a.set("plan", plan.clone());
            a.set("probe", probe.clone());
            a.set("threshold", FluentValue::from(*threshold));
            a.set("minutes", FluentValue::from((eta_seconds / 60.0).ceil()));
        }
        Message::CheckpointStale {
            plan,
            checkpoint,
            component,
            age_seconds,
        } => {
            a.set("plan", plan.clone());
            a.set("checkpoint", checkpoint.clone());
            a.set("component", component.clone());
            a.set("hours", FluentValue::from((age_seconds / 3600.0).floor()));
        }
        Message::Briefing { brief, .. } => briefing_args(&mut a, brief),
    }
    (msg.id(), a)
}

/// The message in `lang`, in the plan's wording where it has one, with `ack_link` below
/// it; registered secrets are scrubbed from both parts. Panics only if a message id is
/// missing from an .ftl file, which the parity test rules out.
pub fn render(
    words: &NotifyPlan,
    msg: &Message,
    lang: Language,
    ack_link: Option<&str>,
) -> Rendered {
    let (id, mut args) = arguments(msg);
    let b = bundle(lang, words.wording(id, lang));
    let m = b
        .get_message(id)
        .unwrap_or_else(|| panic!("message {id} is missing from the {lang:?} .ftl"));
    let own = b.get_message(&catalog::plan_id(id));
    let mut errors = Vec::new();
    let mut text = own
        .as_ref()
        .and_then(|o| o.value())
        .or_else(|| m.value())
        .map(|p| b.format_pattern(p, Some(&args), &mut errors).into_owned())
        .unwrap_or_default();
    let subject = own
        .as_ref()
        .and_then(|o| o.get_attribute("subject"))
        .or_else(|| m.get_attribute("subject"))
        .map(|a| {
            b.format_pattern(a.value(), Some(&args), &mut errors)
                .into_owned()
        })
        .unwrap_or_default();
    let mut ack = None;
    if let Some(link) = ack_link
        && let Some(p) = b.get_message(ACK_LINK).and_then(|m| m.value())
    {
        args.set("link", link.to_string());
        let a = ripcord_core::redact::scrub(&b.format_pattern(p, Some(&args), &mut errors));
        text = format!("{}\n\n{a}", text.trim_end());
        ack = Some(a);
    }
    if !errors.is_empty() {
        // The message still goes, with Fluent's marker where a value was missing.
        tracing::warn!("message {id} ({}): {errors:?}", lang.code());
    }
    Rendered {
        subject: ripcord_core::redact::scrub(&subject),
        text: ripcord_core::redact::scrub(&text),
        ack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// `$name`s used by each message of an .ftl file (with its attributes and the terms
    /// and messages it uses in the same file counted as its own).
    fn placeholders(src: &str) -> std::collections::BTreeMap<String, BTreeSet<String>> {
        let head = regex::Regex::new(r"^([a-z][a-z-]*) =").unwrap();
        let var = regex::Regex::new(r"\$([a-z_]+)").unwrap();
        let mut out = std::collections::BTreeMap::new();
        let mut cur = String::new();
        for line in src.lines() {
            if let Some(c) = head.captures(line) {
                cur = c[1].to_string();
            }
            if line.starts_with('#') || cur.is_empty() {
                continue;
            }
            let set: &mut BTreeSet<String> = out.entry(cur.clone()).or_default();
            for v in var.captures_iter(line) {
                set.insert(v[1].to_string());
            }
        }
        out
    }

    /// Found in the notifications review: an SMS cut at 160 characters lost the one-time
    /// acknowledgement link at its end (or kept half of it, which acknowledges nothing).
    #[test]
    fn an_sms_cut_short_keeps_its_acknowledgement_link_whole() {
        let link = "https://ripcord.example.com/ack/4f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c";
        for lang in [Language::En, Language::Ar] {
            let r = render(
                &NotifyPlan::default(),
                &Message::LevelChanged {
                    plan: "payroll".into(),
                    level: ripcord_core::plan::Level::Orange,
                    reason: "payslip mismatches rising ".repeat(20),
                    at: "2026-11-30T06:00:00Z".into(),
                },
                lang,
                Some(link),
            );
            let ack = r.ack.clone().expect("an acknowledgement paragraph");
            assert!(r.text.ends_with(&ack) && ack.contains(link), "{r:?}");
            let sms = r.fit(160);
            assert!(sms.chars().count() <= 160, "{sms}");
            assert!(sms.ends_with(&ack), "the link is kept whole: {sms}");
            assert!(sms.contains('…'), "the message is cut: {sms}");
            // No room even for the link: the message alone, cut, and no piece of a link.
            let tiny = r.fit(20);
            assert_eq!(tiny.chars().count(), 20);
            assert!(!tiny.contains("https"), "{tiny}");
            // A text that fits is left as it is.
            assert_eq!(r.fit(10_000), r.text);
        }
    }

    #[test]
    fn messages_parity_every_id_in_both_languages_with_the_same_placeholders() {
        let en = placeholders(EN_FTL);
        let ar = placeholders(AR_FTL);
        assert_eq!(
            en.keys().collect::<Vec<_>>(),
            ar.keys().collect::<Vec<_>>(),
            "the same message ids"
        );
        for id in MESSAGE_IDS {
            assert!(en.contains_key(*id), "{id} missing");
        }
        for (id, vars) in &en {
            assert_eq!(vars, &ar[id], "placeholders of {id}");
        }
    }

    fn new_messages() -> Vec<Message> {
        use ripcord_core::notify::{Briefing, BriefingKind};
        let brief = Briefing {
            plan: "payroll".into(),
            emergency_type: "data corruption".into(),
            detected_at: "2026-11-29T21:05:01Z".into(),
            affected_systems: vec!["salaries".into(), "bank-export".into()],
            business_impact: Some("March salaries delayed".into()),
            estimated_resolution: Some("2026-11-29T22:00:00Z".into()),
            next_update: None,
            resolved_at: None,
            root_cause: None,
            actions_taken: Some("rolled back to cp-7".into()),
            preventive_measures: None,
        };
        let mut out = vec![
            Message::ApprovalNeeded {
                plan: "payroll".into(),
                run: "run-9".into(),
                decision: "rollback".into(),
                scenario: "data_corruption".into(),
                approvers: vec!["Huda".into(), "Omar".into()],
                deadline: "2026-11-29T21:20:00Z".into(),
            },
            Message::TrendWarning {
                plan: "payroll".into(),
                probe: "errors".into(),
                threshold: 50.0,
                eta_seconds: 170.0,
            },
            Message::CheckpointStale {
                plan: "payroll".into(),
                checkpoint: "cp-7".into(),
                component: "salaries".into(),
                age_seconds: 5.5 * 3600.0,
            },
        ];
        for audience in [
            BriefingKind::Leadership,
            BriefingKind::AllStaff,
            BriefingKind::TechnicalTeam,
        ] {
            out.push(Message::Briefing {
                audience,
                brief: brief.clone(),
            });
        }
        out
    }

    /// One message of every id, every optional part filled in.
    fn one_of_each() -> Vec<Message> {
        use ripcord_core::notify::{Cause, Impact};
        let summary = Summary {
            incident: "inc-7".into(),
            plan: "payroll".into(),
            cause: Cause::EmergencyStop,
            reason: "errors".into(),
            detected_at: "2026-11-29T21:05:01Z".into(),
            components: vec!["salaries".into()],
            run: Some("run-9".into()),
        };
        let outcome = RollbackOutcome {
            rollback: "rb-1".into(),
            ok: true,
            seconds: 30.0,
            rto_seconds: 900.0,
            at_risk: 3,
            recovered: 3,
            lost: 0,
        };
        let mut out = vec![
            Message::EmergencyDetected {
                summary: summary.clone(),
                level: 1,
                round: 0,
            },
            Message::EmergencyDetected {
                summary: summary.clone(),
                level: 1,
                round: 2,
            },
            Message::Escalated {
                summary: summary.clone(),
                level: 2,
                unacknowledged_seconds: 1800.0,
            },
            Message::RollbackStarted {
                summary: summary.clone(),
                rollback: "rb-1".into(),
                checkpoint: "cp-1".into(),
            },
            Message::RollbackCompleted {
                summary: summary.clone(),
                outcome: outcome.clone(),
            },
            Message::Resolved {
                summary: summary.clone(),
                resolved_at: "2026-11-29T21:15:01Z".into(),
                duration_seconds: 600.0,
                outcome: Some(outcome),
            },
            Message::UserNotice {
                summary,
                impact: Impact::Moderate,
                stage: UserStage::Started,
            },
            Message::LevelChanged {
                plan: "payroll".into(),
                level: ripcord_core::plan::Level::Orange,
                reason: "errors".into(),
                at: "2026-11-29T21:05:01Z".into(),
            },
            Message::Test {
                plan: "payroll".into(),
                channel: "mail".into(),
            },
        ];
        out.extend(new_messages());
        out
    }

    /// Core checks a plan's wording against `catalog`: it must name every message the
    /// .ftl files have, with exactly the arguments `arguments` passes.
    #[test]
    fn the_catalog_core_checks_wordings_against_is_what_the_messages_get() {
        let all = one_of_each();
        let ids: BTreeSet<&str> = all.iter().map(|m| m.id()).collect();
        let listed: BTreeSet<&str> = catalog::messages().into_iter().map(|(m, _)| m).collect();
        assert_eq!(ids, listed, "one sample per catalog message");
        assert_eq!(listed, MESSAGE_IDS.iter().copied().collect());
        for msg in &all {
            let (id, args) = arguments(msg);
            let given: BTreeSet<String> = args.iter().map(|(k, _)| k.to_string()).collect();
            let want: BTreeSet<String> = catalog::placeholders(id)
                .unwrap()
                .into_iter()
                .map(str::to_string)
                .collect();
            assert_eq!(given, want, "placeholders of {id}");
        }
        let en = placeholders(EN_FTL);
        for (shared, needs) in catalog::SHARED {
            let needs: BTreeSet<String> = needs.iter().map(|n| n.to_string()).collect();
            assert_eq!(en[*shared], needs, "{shared} reads");
        }
        let ftl_ids: BTreeSet<&str> = en.keys().map(String::as_str).collect();
        let known: BTreeSet<&str> = listed
            .iter()
            .copied()
            .chain(catalog::SHARED.iter().map(|(s, _)| *s))
            .chain([ACK_LINK])
            .collect();
        assert_eq!(ftl_ids, known, "every message of en.ftl is in the catalog");
    }

    #[test]
    fn a_plans_wording_replaces_the_text_or_the_subject_and_keeps_the_rest() {
        let msg = &one_of_each()[0];
        let mut words = NotifyPlan::default();
        let own = |id: &str, lang, body: &str| MessageWording {
            id: id.into(),
            language: lang,
            ftl: format!("{} =\n    {body}\n", catalog::plan_id(id)),
        };
        words.messages = vec![
            own(
                "emergency-detected",
                Language::En,
                "Call the bridge now: { $incident } ({ cause })",
            ),
            own(
                "emergency-detected",
                Language::Ar,
                "الحادثة { $incident }\n    .subject = طوارئ { $plan }",
            ),
        ];
        let en = render(&words, msg, Language::En, Some("https://r.example/ack/T"));
        assert!(
            en.text
                .starts_with("Call the bridge now: inc-7 (an emergency stop)"),
            "{}",
            en.text
        );
        assert!(en.text.ends_with("https://r.example/ack/T"), "{}", en.text);
        assert_eq!(en.subject, "[ripcord] EMERGENCY in payroll (inc-7)");
        let ar = render(&words, msg, Language::Ar, None);
        assert_eq!(ar.subject, "طوارئ \u{2068}payroll\u{2069}");
        assert_eq!(ar.text, "الحادثة \u{2068}inc-7\u{2069}");
    }

    #[test]
    fn approval_trend_checkpoint_and_briefings_render_every_placeholder_in_both_languages() {
        for msg in new_messages() {
            for lang in [Language::En, Language::Ar] {
                let r = render(&NotifyPlan::default(), &msg, lang, None);
                let all = format!("{}\n{}", r.subject, r.text);
                // Fluent shows a missing variable or message as `{$name}` / `{???}`.
                assert!(!all.contains('{'), "{} {lang:?}: {all}", msg.id());
                assert!(!r.subject.is_empty(), "{} {lang:?} has a subject", msg.id());
                assert!(all.contains("payroll"), "{} {lang:?}: {all}", msg.id());
            }
        }
        let en = |i: usize| {
            render(
                &NotifyPlan::default(),
                &new_messages()[i],
                Language::En,
                None,
            )
            .text
        };
        let ar = |i: usize| {
            render(
                &NotifyPlan::default(),
                &new_messages()[i],
                Language::Ar,
                None,
            )
            .text
        };
        assert!(en(0).contains("Huda, Omar") && en(0).contains("2026-11-29 21:20:00 UTC"));
        assert!(en(0).contains("ripcord approve run-9"));
        assert!(en(1).contains("about 3 minutes"), "{}", en(1));
        assert!(en(2).contains("5 hours old"), "{}", en(2));
        // Arabic plural categories: 3 and 5 are "few".
        assert!(ar(1).contains("دقائق"), "{}", ar(1));
        assert!(ar(2).contains("ساعات"), "{}", ar(2));
        let leadership = en(3);
        assert!(leadership.contains("Business impact: March salaries delayed"));
        assert!(leadership.contains("Estimated resolution: 2026-11-29 22:00:00 UTC"));
        assert!(leadership.contains("Next update: not known yet"));
        let brief = en(5);
        assert!(brief.contains("Affected systems: salaries, bank-export"));
        assert!(brief.contains("Root cause: not known yet"));
        assert!(brief.contains("Actions taken: rolled back to cp-7"));
        assert!(brief.contains("Preventive measures: to be decided"));
        // Bidi isolation wraps the selected words too.
        assert!(
            ar(5).contains("السبب الجذري: \u{2068}غير معروف بعد\u{2069}"),
            "{}",
            ar(5)
        );
    }
}
