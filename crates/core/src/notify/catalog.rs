//! The messages the binary words (`crates/cli/locales/{en,ar}.ftl`), each with the
//! placeholders its data gives, so a plan's own wording (`[notify.messages]`) is checked
//! when the plan loads. The binary's tests keep this list, its .ftl files and the
//! arguments it passes in step.

const SUMMARY: &[&str] = &[
    "incident",
    "plan",
    "cause",
    "reason",
    "detected",
    "components",
];
const OUTCOME: &[&str] = &[
    "rollback",
    "ok",
    "seconds",
    "target",
    "within",
    "at_risk",
    "recovered",
    "lost",
];
const BRIEFING: &[&str] = &[
    "plan",
    "emergency_type",
    "detected",
    "systems",
    "impact",
    "estimated",
    "next_update",
    "resolved",
    "root_cause",
    "actions",
    "preventive",
];

/// Every message id with its placeholders (`$name`, without the `$`).
pub fn messages() -> Vec<(&'static str, Vec<&'static str>)> {
    let with = |base: &[&'static str], more: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(more).copied().collect()
    };
    vec![
        ("emergency-detected", with(SUMMARY, &["level", "round"])),
        ("reminder", with(SUMMARY, &["level", "round"])),
        ("escalated", with(SUMMARY, &["level", "minutes"])),
        (
            "rollback-started",
            with(SUMMARY, &["rollback", "checkpoint"]),
        ),
        ("rollback-completed", with(SUMMARY, OUTCOME)),
        (
            "issue-resolved",
            with(&with(SUMMARY, OUTCOME), &["resolved", "minutes", "figures"]),
        ),
        ("user-notice", with(SUMMARY, &["stage"])),
        ("level-changed", vec!["plan", "level", "reason", "at"]),
        ("test", vec!["plan", "channel"]),
        (
            "approval-needed",
            vec![
                "plan",
                "run",
                "decision",
                "scenario",
                "approvers",
                "deadline",
            ],
        ),
        (
            "trend-warning",
            vec!["plan", "probe", "threshold", "minutes"],
        ),
        (
            "checkpoint-stale",
            vec!["plan", "checkpoint", "component", "hours"],
        ),
        ("leadership-notice", BRIEFING.to_vec()),
        ("all-staff-notice", BRIEFING.to_vec()),
        ("technical-brief", BRIEFING.to_vec()),
    ]
}

/// Pieces the messages share and a plan's wording may use too (`{ cause }`,
/// `{ ack-hint }`), with the placeholders they read from the message using them.
pub const SHARED: &[(&str, &[&str])] = &[("cause", &["cause"]), ("ack-hint", &["incident"])];

/// The placeholders of message `id`, `None` when there is no such message.
pub fn placeholders(id: &str) -> Option<Vec<&'static str>> {
    messages()
        .into_iter()
        .find(|(m, _)| *m == id)
        .map(|(_, p)| p)
}

/// The id a plan's wording of `id` has next to the built-in one.
pub fn plan_id(id: &str) -> String {
    format!("{id}--plan")
}
