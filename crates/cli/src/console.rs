//! Where events become words: the console timeline, the lines `ripcord events` prints, and
//! the event lines of the dashboard and the reports. Events carry data; every sentence about
//! them is chosen here and worded by Fluent (`locales/{en,ar}/events.ftl`, through
//! `serve::i18n::Tr`), English on the console, English or Arabic on the page and in reports.

use crate::serve::i18n::{Lang, Tr};
use ripcord_core::events::{
    Envelope, Event, EventSink, GapReason, LevelCause, Operation, RunStop, SyncEnd,
};
use ripcord_core::replay::Gap;
use ripcord_core::rollback::{Figures, PhaseOutcome};
use ripcord_core::status::{RuleDetail, RuleStatus};
use ripcord_core::sync::SyncFailure;
use std::time::Instant;

/// Prints every event with the seconds since the process started.
pub struct Timeline;

/// When this process started, for the timeline's clock.
pub fn started() -> Instant {
    start().0
}

/// The start as an instant and as wall-clock time, so an event's `at` (wall clock, stamped
/// when it was emitted) can be shown on the timeline's clock however late it is printed.
fn start() -> (Instant, chrono::DateTime<chrono::Utc>) {
    static START: std::sync::OnceLock<(Instant, chrono::DateTime<chrono::Utc>)> =
        std::sync::OnceLock::new();
    *START.get_or_init(|| (Instant::now(), chrono::Utc::now()))
}

pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

impl EventSink for Timeline {
    fn emit(&mut self, e: &Event) {
        self.deliver(&Envelope::new(e.clone()));
    }

    fn deliver(&mut self, env: &Envelope) {
        let Some(line) = line(&env.event) else {
            return;
        };
        let (t0, wall0) = start();
        let secs = chrono::DateTime::parse_from_rfc3339(&env.at)
            .map(|at| (at.with_timezone(&chrono::Utc) - wall0).num_milliseconds() as f64 / 1000.0)
            .unwrap_or_else(|_| t0.elapsed().as_secs_f64())
            // `at` is cut to the millisecond, so the first event can read just before the start.
            .max(0.0);
        eprintln!("[{secs:>7.2}s] {}", ripcord_core::redact::scrub(&line));
    }
}

/// What a rollback phase did, for people.
pub fn phase_outcome(o: &PhaseOutcome, f: &Figures) -> String {
    Tr::with(Lang::En, |tr| phase_outcome_in(tr, o, f))
}

/// `phase_outcome` in `tr`'s language.
pub fn phase_outcome_in(tr: &Tr, o: &PhaseOutcome, f: &Figures) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    match o {
        PhaseOutcome::Assessed { at_risk } => {
            t("ev-po-assessed", &[("at_risk", at_risk.to_string())])
        }
        PhaseOutcome::Approved { by } => t("ev-po-approved", &[("by", by.clone())]),
        PhaseOutcome::Frozen => tr.s("ev-po-frozen"),
        PhaseOutcome::Drained { at_risk } => {
            t("ev-po-drained", &[("at_risk", at_risk.to_string())])
        }
        PhaseOutcome::Restored { rows, already } if *already > 0 => t(
            "ev-po-restored-already",
            &[("rows", rows.to_string()), ("already", already.to_string())],
        ),
        PhaseOutcome::Restored { rows, .. } => t("ev-po-restored", &[("rows", rows.to_string())]),
        PhaseOutcome::Replayed => t(
            "ev-po-replayed",
            &[
                ("recovered", f.recovered.to_string()),
                ("at_risk", f.at_risk.to_string()),
                ("lost", f.lost.to_string()),
                ("conflicts", f.conflicts.to_string()),
                ("review", f.review.to_string()),
            ],
        ),
        PhaseOutcome::Verified {
            differences,
            broken_invariants,
        } => t(
            "ev-po-verified",
            &[
                ("differences", differences.to_string()),
                ("broken", broken_invariants.to_string()),
            ],
        ),
        PhaseOutcome::SwitchedBack {
            switches,
            invalidations,
        } => t(
            "ev-po-switched-back",
            &[
                ("n", switches.len().to_string()),
                (
                    "switches",
                    switches
                        .iter()
                        .map(|s| match s.already {
                            true => {
                                tr.text("ev-po-switch-already", &[("switch", s.switch.clone())])
                            }
                            false => tr.isolate(&s.switch),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ("invalidations", invalidations.to_string()),
            ],
        ),
        PhaseOutcome::NoSwitches => tr.s("ev-po-no-switches"),
        PhaseOutcome::SwitchBackSkipped => tr.s("ev-po-switch-back-skipped"),
        PhaseOutcome::Unfrozen => tr.s("ev-po-unfrozen"),
        PhaseOutcome::Reported => t(
            "ev-po-reported",
            &[
                ("at_risk", f.at_risk.to_string()),
                ("recovered", f.recovered.to_string()),
                ("lost", f.lost.to_string()),
                ("rate", format!("{:.1}", f.recovery_rate() * 100.0)),
            ],
        ),
        PhaseOutcome::SyncPending { pending } => {
            t("ev-po-sync-pending", &[("pending", pending.to_string())])
        }
        PhaseOutcome::BothSidesFrozen => tr.s("ev-po-both-frozen"),
        PhaseOutcome::SyncDrained { applied, at_risk } => t(
            "ev-po-sync-drained",
            &[
                ("applied", applied.to_string()),
                ("recovered", f.recovered.to_string()),
                ("at_risk", at_risk.to_string()),
                ("lost", f.lost.to_string()),
            ],
        ),
        PhaseOutcome::KeptCurrentBySync => tr.s("ev-po-kept-current"),
        PhaseOutcome::SidesCompared {
            differences,
            broken_invariants,
            count_only,
        } => {
            let mut args = vec![
                ("differences", differences.to_string()),
                ("broken", broken_invariants.to_string()),
            ];
            if count_only.is_empty() {
                t("ev-po-sides-compared", &args)
            } else {
                args.push(("tables", count_only.join(", ")));
                t("ev-po-sides-compared-count-only", &args)
            }
        }
        PhaseOutcome::BothSidesStayFrozen => tr.s("ev-po-both-stay-frozen"),
        PhaseOutcome::LegacyUnfrozenNewFenced => tr.s("ev-po-legacy-unfrozen"),
        PhaseOutcome::Described { detail } => detail.clone(),
        PhaseOutcome::Unknown => String::new(),
    }
}

/// Why a business write is a data gap, for people (the console, the reports, `gaps`, and
/// the `reason` of the JSON).
pub fn gap_reason(cause: &GapReason) -> String {
    Tr::with(Lang::En, |tr| gap_reason_in(tr, cause))
}

/// `gap_reason` in `tr`'s language.
pub fn gap_reason_in(tr: &Tr, cause: &GapReason) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    match cause {
        GapReason::NoRow => tr.s("ev-gap-no-row"),
        GapReason::Refused { refusal } => {
            t("ev-gap-refused", &[("message", refusal.message.clone())])
        }
        GapReason::CreatedByMigration => tr.s("ev-gap-created-by-migration"),
        GapReason::TableNotRestored { table } => {
            t("ev-gap-table-not-restored", &[("table", table.clone())])
        }
        GapReason::MappingFailed { error } => {
            t("ev-gap-mapping-failed", &[("error", error.clone())])
        }
        GapReason::ValueNotCarried { column, error } => t(
            "ev-gap-value-not-carried",
            &[("column", column.clone()), ("error", error.clone())],
        ),
        GapReason::KeyMissing { column } => t("ev-gap-key-missing", &[("column", column.clone())]),
        GapReason::NoRowImage => tr.s("ev-gap-no-row-image"),
        GapReason::ValuesWithoutColumn { values, .. } => t(
            "ev-gap-values-without-column",
            &[(
                "values",
                values
                    .iter()
                    .map(|(c, v)| format!("{c} = {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
        ),
        GapReason::Described { reason, .. } => reason.clone(),
    }
}

/// What to do about a data gap.
pub fn gap_suggestion(g: &Gap) -> String {
    Tr::with(Lang::En, |tr| gap_suggestion_in(tr, g))
}

/// `gap_suggestion` in `tr`'s language.
pub fn gap_suggestion_in(tr: &Tr, g: &Gap) -> String {
    match &g.cause {
        GapReason::NoRow => tr.s("ev-fix-no-row"),
        GapReason::Refused { .. } => tr.s("ev-fix-refused"),
        GapReason::CreatedByMigration => tr.s("ev-fix-created-by-migration"),
        GapReason::TableNotRestored { .. }
        | GapReason::MappingFailed { .. }
        | GapReason::ValueNotCarried { .. }
        | GapReason::KeyMissing { .. }
        | GapReason::NoRowImage => tr.s("ev-fix-by-hand"),
        GapReason::ValuesWithoutColumn { captured, .. } => tr.text(
            "ev-fix-values-without-column",
            &[(
                "section",
                format!("[components.{}.reverse.{captured}]", g.component),
            )],
        ),
        GapReason::Described { suggestion, .. } => suggestion.clone(),
    }
}

/// Runs `f` (serializing JSON for `gaps`, `report`, `sync status`) with every gap in it
/// carrying its `reason` and `suggestion` in words beside its `cause`: readers of that JSON
/// from before gaps carried a cause keep finding them.
pub fn worded<T>(f: impl FnOnce() -> T) -> T {
    ripcord_core::replay::with_words(|g| (gap_reason(&g.cause), gap_suggestion(g)), f)
}

/// The wording core quotes in its own sentences (errors, check items, proof examples, a
/// guard's stop reason): installed once by `commands::dispatch`.
pub const WORDS: ripcord_core::words::Words = ripcord_core::words::Words {
    gap_reason,
    sync_failure,
    rule_detail,
};

/// Why a sync failed, for people (`sync status`, `check`, the refusal to run it again).
pub fn sync_failure(f: &SyncFailure) -> String {
    match f {
        SyncFailure::CriticalGaps {
            component,
            gaps,
            table,
            key,
            seq,
            cause,
        } => format!(
            "{gaps} write(s) of critical component {component} could not be applied to legacy (first: {table} {key} #{seq}: {})",
            gap_reason(cause)
        ),
        SyncFailure::Described { error } => error.clone(),
    }
}

/// Adds the words beside the typed values in JSON for people and programs, as they read
/// before those values were typed (docs/json.md): a sync failure's `error` beside its
/// `failure` (a failed state, an `--accept-gap`), a guard rule's `detail` beside its `why`.
pub fn word_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(a) => a.iter_mut().for_each(word_json),
        serde_json::Value::Object(o) => {
            if let Some(f) = o
                .get("failure")
                .and_then(|f| serde_json::from_value::<SyncFailure>(f.clone()).ok())
            {
                o.entry("error").or_insert(sync_failure(&f).into());
            }
            if o.contains_key("consecutive_errors")
                && let Some(why) = o.get("why")
                && let Ok(why) = serde_json::from_value::<Option<RuleDetail>>(why.clone())
            {
                let words = why.as_ref().map(rule_detail).unwrap_or_default();
                o.entry("detail").or_insert(words.into());
            }
            o.values_mut().for_each(word_json);
        }
        _ => {}
    }
}

/// What a guard rule's status rests on, for people (`status`, the dashboard, a stop's
/// reason).
pub fn rule_detail(d: &RuleDetail) -> String {
    Tr::with(Lang::En, |tr| rule_detail_in(tr, d))
}

/// `rule_detail` in `tr`'s language (the dashboard's rules).
pub fn rule_detail_in(tr: &Tr, d: &RuleDetail) -> String {
    use ripcord_guard::rules::problem_text;
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    match d {
        RuleDetail::Held { held_ms, failures } => t(
            "ev-lc-firing",
            &[
                ("held", held_ms.to_string()),
                ("failures", failures.to_string()),
            ],
        ),
        RuleDetail::Breaching { held_ms, hold_ms } => t(
            "ev-lc-breaching",
            &[("held", held_ms.to_string()), ("hold", hold_ms.to_string())],
        ),
        RuleDetail::CouldNotMeasure { times, problem } => t(
            "ev-lc-could-not-measure",
            &[
                ("errors", times.to_string()),
                ("problem", problem_text(problem)),
            ],
        ),
        RuleDetail::Inconclusive { times, problem } => t(
            "ev-lc-inconclusive",
            &[("n", times.to_string()), ("problem", problem_text(problem))],
        ),
        RuleDetail::NotConfirmed => tr.s("ev-rule-not-confirmed"),
    }
}

/// Who or what stopped a run, in words (English as `StopSource`'s `Display`).
fn stop_source(tr: &Tr, s: &ripcord_core::run::StopSource) -> String {
    use ripcord_core::run::StopSource;
    match s {
        StopSource::Rule { rule, level: l } => tr.text(
            "ev-src-rule",
            &[("rule", format!("{rule:?}")), ("level", level(tr, *l))],
        ),
        StopSource::Command { actor, .. } => tr.text("ev-src-command", &[("actor", actor.clone())]),
        StopSource::PanicFile { path } => tr.text("ev-src-panic-file", &[("path", path.clone())]),
        StopSource::Signal { signal } => tr.text("ev-src-signal", &[("signal", signal.clone())]),
    }
}

/// A guard level in words.
fn level(tr: &Tr, l: ripcord_core::plan::Level) -> String {
    tr.s(&format!("dash-level-{}", l.name()))
}

/// Why a level moved, for people.
fn level_cause(tr: &Tr, c: &LevelCause) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    match c {
        LevelCause::Rule {
            status,
            held_ms,
            hold_ms,
            failures,
            errors,
            inconclusive,
            problem,
        } => {
            let problem = problem
                .as_ref()
                .map(ripcord_guard::rules::problem_text)
                .unwrap_or_default();
            match status {
                RuleStatus::Firing => t(
                    "ev-lc-firing",
                    &[
                        ("held", held_ms.to_string()),
                        ("failures", failures.to_string()),
                    ],
                ),
                RuleStatus::Breaching => t(
                    "ev-lc-breaching",
                    &[("held", held_ms.to_string()), ("hold", hold_ms.to_string())],
                ),
                RuleStatus::CouldNotMeasure => t(
                    "ev-lc-could-not-measure",
                    &[("errors", errors.to_string()), ("problem", problem)],
                ),
                RuleStatus::Inconclusive => t(
                    "ev-lc-inconclusive",
                    &[("n", inconclusive.to_string()), ("problem", problem)],
                ),
                _ if !problem.is_empty() => problem,
                other => other.name().to_string(),
            }
        }
        LevelCause::Overall { rules, trends } if rules.is_empty() && trends.is_empty() => {
            tr.s("ev-lc-all-green")
        }
        LevelCause::Overall { rules, trends } => rules
            .iter()
            .map(|r| tr.isolate(r))
            .chain(
                trends
                    .iter()
                    .map(|p| t("ev-lc-trend", &[("probe", p.clone())])),
            )
            .collect::<Vec<_>>()
            .join("; "),
        LevelCause::Described { reason } => reason.clone(),
    }
}

/// What a progress or waiting event is about, for people.
pub fn operation(op: &Operation) -> String {
    Tr::with(Lang::En, |tr| operation_in(tr, op))
}

/// `operation` in `tr`'s language.
pub fn operation_in(tr: &Tr, op: &Operation) -> String {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    match op {
        Operation::Checkpoint { table } => t("ev-op-checkpoint", &[("table", table.clone())]),
        Operation::Differential {
            table,
            base,
            changed,
        } => t(
            "ev-op-differential",
            &[
                ("table", table.clone()),
                ("base", base.to_string()),
                ("changed", changed.to_string()),
            ],
        ),
        Operation::Restore { table } => t("ev-op-restore", &[("table", table.clone())]),
        Operation::Restored { table } => t("ev-op-restored", &[("table", table.clone())]),
        Operation::Replay { components } => {
            t("ev-op-replay", &[("components", components.join(", "))])
        }
        Operation::Verify { table } => t("ev-op-verify", &[("table", table.clone())]),
        Operation::Baseline { probe } => t("ev-op-baseline", &[("probe", probe.clone())]),
        Operation::Approval { decision, scenario } => t(
            "ev-op-approval",
            &[
                ("decision", decision.clone()),
                ("scenario", scenario.clone()),
            ],
        ),
        Operation::SyncBlocked { component } => {
            t("ev-op-sync-blocked", &[("component", component.clone())])
        }
        Operation::Described { text } => text.clone(),
        Operation::Other => tr.s("ev-op-other"),
    }
}

/// The line for an event, as `ripcord events` prints it: the timeline's line, or a plain
/// one for the events the timeline leaves out.
pub fn describe(e: &Event) -> String {
    describe_in(Lang::En, e)
}

/// `describe` in `lang`: the dashboard's feed and the reports' event lines. Arabic lines
/// keep identifiers and numbers between bidi isolation marks (`Tr::text`).
pub fn describe_in(lang: Lang, e: &Event) -> String {
    Tr::with(lang, |tr| {
        line_in(tr, e).unwrap_or_else(|| match e {
            Event::PhaseStarted { phase, .. } => {
                format!(
                    "  {}",
                    tr.text("ev-phase-started", &[("phase", phase.to_string())])
                )
            }
            Event::Progress { what, done, total } => format!(
                "  {}",
                tr.text(
                    "ev-progress",
                    &[
                        ("what", operation_in(tr, what)),
                        ("done", done.to_string()),
                        ("total", total.to_string()),
                    ],
                )
            ),
            Event::Unknown => tr.s("ev-unknown"),
            other => format!("{other:?}"),
        })
    })
}

/// The timeline's line for an event; `None` for the ones it leaves out.
pub fn line(e: &Event) -> Option<String> {
    Tr::with(Lang::En, |tr| line_in(tr, e))
}

/// "X: Y", the way a line carries an error or a detail after it.
fn with_detail(tr: &Tr, text: String, detail: &str) -> String {
    tr.text(
        "ev-with-detail",
        &[("text", text), ("detail", detail.to_string())],
    )
}

/// `line` in `tr`'s language. Lines that the console indents (the phases of a rollback,
/// gaps, conflicts) are indented here: Fluent trims a message's leading blanks.
fn line_in(tr: &Tr, e: &Event) -> Option<String> {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    let indent = |s: String| format!("  {s}");
    Some(match e {
        Event::CaptureInstalled { database, tables } => t(
            "ev-capture-installed",
            &[
                ("database", database.clone()),
                ("tables", tables.join(", ")),
            ],
        ),
        Event::CheckpointTaken {
            id,
            components,
            rows,
            bytes: b,
            new_bytes,
            seconds,
        } => t(
            "ev-checkpoint-taken",
            &[
                ("id", id.to_string()),
                ("components", components.join(", ")),
                ("rows", rows.to_string()),
                ("bytes", bytes(*b)),
                ("new_bytes", bytes(*new_bytes)),
                ("seconds", format!("{seconds:.2}")),
            ],
        ),
        Event::RunStarted { run } => t("ev-run-started", &[("run", run.to_string())]),
        Event::StepStarted { step, .. } => t("ev-step-started", &[("step", format!("{step:?}"))]),
        Event::StepFinished {
            step,
            ok,
            error,
            seconds,
            ..
        } => {
            let done = t(
                if *ok {
                    "ev-step-done"
                } else {
                    "ev-step-failed"
                },
                &[
                    ("step", format!("{step:?}")),
                    ("seconds", format!("{seconds:.2}")),
                ],
            );
            match error {
                Some(err) => with_detail(tr, done, err),
                None => done,
            }
        }
        Event::InvariantChecked {
            component,
            name,
            ok,
            measure,
        } => indent(t(
            if *ok {
                "ev-invariant-holds"
            } else {
                "ev-invariant-broken"
            },
            &[
                ("component", component.clone()),
                ("name", format!("{name:?}")),
                ("measure", ripcord_core::verify::describe_measure(measure)),
            ],
        )),
        Event::RunStopped { cause, .. } => match cause {
            RunStop::StepFailed { step, error } => t(
                "ev-run-stopped-step",
                &[("step", format!("{step:?}")), ("error", error.clone())],
            ),
            RunStop::Stop { source, reason } => t(
                "ev-run-stopped-by",
                &[
                    ("source", stop_source(tr, source)),
                    ("reason", reason.clone()),
                ],
            ),
            RunStop::Described { text } => t("ev-run-stopped", &[("text", text.clone())]),
        },
        Event::SwitchFlipped {
            switch,
            component,
            position,
            completed_unfinished,
            ..
        } => {
            let mut args = vec![
                ("switch", format!("{switch:?}")),
                ("component", component.clone()),
                ("position", position.to_string()),
            ];
            match completed_unfinished {
                Some(u) => {
                    args.push(("flip", u.to_string()));
                    t("ev-switch-flipped-completing", &args)
                }
                None => t("ev-switch-flipped", &args),
            }
        }
        Event::SwitchFlipFailed {
            switch,
            component,
            target,
            error,
            ..
        } => t(
            "ev-switch-flip-failed",
            &[
                ("switch", format!("{switch:?}")),
                ("component", component.clone()),
                ("target", target.to_string()),
                ("error", error.clone()),
            ],
        ),
        Event::SwitchFellBack {
            switch,
            component,
            rule,
            from,
            to,
        } => t(
            "ev-switch-fell-back",
            &[
                ("rule", format!("{rule:?}")),
                ("switch", format!("{switch:?}")),
                ("component", component.clone()),
                ("from", from.to_string()),
                ("to", to.to_string()),
            ],
        ),
        Event::ProbeWindow { probe, samples, .. } => t(
            "ev-probe-window",
            &[("probe", probe.clone()), ("n", samples.len().to_string())],
        ),
        Event::RollbackStarted {
            rollback,
            components,
            checkpoint,
            reason,
        } => t(
            "ev-rollback-started",
            &[
                ("rollback", rollback.to_string()),
                ("components", components.join(", ")),
                ("checkpoint", checkpoint.to_string()),
                ("reason", reason.clone()),
            ],
        ),
        Event::PhaseStarted { .. } => return None,
        Event::PhaseFinished {
            phase,
            seconds,
            outcome,
            figures,
            ..
        } => indent(t(
            "ev-phase-finished",
            &[
                // Padded so the console's phases line up; Arabic lines are not columns.
                (
                    "phase",
                    match tr.lang {
                        Lang::En => format!("{phase:<12}"),
                        Lang::Ar => phase.to_string(),
                    },
                ),
                (
                    "seconds",
                    match tr.lang {
                        Lang::En => format!("{seconds:>7.3}"),
                        Lang::Ar => format!("{seconds:.3}"),
                    },
                ),
                ("outcome", phase_outcome_in(tr, outcome, figures)),
            ],
        )),
        Event::Progress { .. } => return None,
        Event::DataProgress {
            what,
            rows,
            total_rows,
            bytes,
            seconds,
            finished,
        } => indent(t(
            if *finished {
                "ev-data-done"
            } else {
                "ev-data-running"
            },
            &[
                ("what", operation_in(tr, what)),
                (
                    "progress",
                    ripcord_core::progress::describe(*rows, *total_rows, *bytes, *seconds),
                ),
            ],
        )),
        Event::DataGap {
            table, key, cause, ..
        } => indent(t(
            "ev-data-gap",
            &[
                ("table", table.clone()),
                ("key", key.clone()),
                ("reason", gap_reason_in(tr, cause)),
            ],
        )),
        Event::SyncLag {
            component,
            rows,
            seconds,
            applied,
        } => t(
            "ev-sync-lag",
            &[
                ("component", component.clone()),
                ("applied", applied.to_string()),
                ("rows", rows.to_string()),
                ("seconds", format!("{seconds:.1}")),
            ],
        ),
        Event::SyncGap {
            component,
            table,
            key,
            cause,
            ..
        } => indent(t(
            "ev-sync-gap",
            &[
                ("component", component.clone()),
                ("table", table.clone()),
                ("key", key.clone()),
                ("reason", gap_reason_in(tr, cause)),
            ],
        )),
        Event::SyncStopped {
            component,
            ok,
            cause,
        } => t(
            if *ok {
                "ev-sync-stopped"
            } else {
                "ev-sync-stopped-bad"
            },
            &[
                ("component", component.clone()),
                (
                    "why",
                    match cause {
                        SyncEnd::Released { state } => state.to_string(),
                        SyncEnd::CriticalGaps {
                            gaps,
                            table,
                            key,
                            seq,
                            cause,
                        } => t(
                            "ev-sync-critical-gaps",
                            &[
                                ("gaps", gaps.to_string()),
                                ("table", table.clone()),
                                ("key", key.clone()),
                                ("seq", seq.to_string()),
                                ("reason", gap_reason_in(tr, cause)),
                            ],
                        ),
                        SyncEnd::Described { reason } => reason.clone(),
                    },
                ),
            ],
        ),
        Event::Conflict {
            table,
            key,
            columns,
            ..
        } => indent(t(
            "ev-conflict",
            &[
                ("table", table.clone()),
                ("key", key.clone()),
                ("columns", columns.join(", ")),
            ],
        )),
        Event::RollbackFinished {
            ok,
            seconds,
            rto_seconds,
            at_risk,
            recovered,
            lost,
            ..
        } => t(
            if *ok {
                "ev-rollback-finished"
            } else {
                "ev-rollback-finished-problems"
            },
            &[
                ("seconds", format!("{seconds:.2}")),
                ("target", format!("{rto_seconds:.0}")),
                ("at_risk", at_risk.to_string()),
                ("recovered", recovered.to_string()),
                ("lost", lost.to_string()),
            ],
        ),
        Event::RtoExceeded {
            seconds,
            rto_seconds,
            ..
        } => t(
            "ev-rto-exceeded",
            &[
                ("seconds", format!("{seconds:.0}")),
                ("target", format!("{rto_seconds:.0}")),
            ],
        ),
        e => return guard_line(tr, e),
    })
}

/// The guard's events.
fn guard_line(tr: &Tr, e: &Event) -> Option<String> {
    let t = |id: &str, args: &[(&str, String)]| tr.text(id, args);
    Some(match e {
        Event::LevelChanged {
            rule,
            from,
            to,
            cause,
            ..
        } if rule.is_empty() => t(
            "ev-level-changed",
            &[
                ("from", level(tr, *from)),
                ("to", level(tr, *to)),
                ("cause", level_cause(tr, cause)),
            ],
        ),
        Event::LevelChanged {
            rule,
            from,
            to,
            cause,
            ..
        } => t(
            "ev-rule-level-changed",
            &[
                ("rule", format!("{rule:?}")),
                ("from", level(tr, *from)),
                ("to", level(tr, *to)),
                ("cause", level_cause(tr, cause)),
            ],
        ),
        Event::CheckpointStale {
            component,
            checkpoint,
            age_seconds,
            limit_seconds,
        } => t(
            "ev-checkpoint-stale",
            &[
                ("checkpoint", checkpoint.to_string()),
                ("component", component.clone()),
                ("age", ripcord_core::check::age_words(*age_seconds)),
                ("limit", ripcord_core::check::age_words(*limit_seconds)),
            ],
        ),
        Event::TrendWarning {
            probe,
            threshold,
            eta_seconds,
        } => t(
            "ev-trend-warning",
            &[
                ("probe", probe.clone()),
                ("threshold", threshold.to_string()),
                (
                    "eta",
                    humantime::format_duration(std::time::Duration::from_secs(
                        eta_seconds.round() as u64
                    ))
                    .to_string(),
                ),
            ],
        ),
        Event::NotConfirmed { rule, .. } => t("ev-not-confirmed", &[("rule", format!("{rule:?}"))]),
        Event::StopRequested { source, reason, .. } => t(
            "ev-stop-requested",
            &[
                ("source", stop_source(tr, source)),
                ("reason", reason.clone()),
            ],
        ),
        Event::StatementCancelled { step, after_ms, .. } => t(
            "ev-statement-cancelled",
            &[
                ("step", format!("{step:?}")),
                ("after", format!("{after_ms:.0}")),
            ],
        ),
        Event::DecisionMade {
            scenario,
            decision,
            by,
            ..
        } => t(
            "ev-decision-made",
            &[
                ("scenario", scenario.clone()),
                ("decision", decision.to_string()),
                ("by", by.clone()),
            ],
        ),
        Event::ApprovalRequested {
            approvers,
            deadline,
            decision,
            ..
        } => t(
            "ev-approval-requested",
            &[
                ("decision", decision.to_string()),
                (
                    "approvers",
                    if approvers.is_empty() {
                        tr.s("ev-anyone")
                    } else {
                        approvers
                            .iter()
                            .map(|a| tr.isolate(a))
                            .collect::<Vec<_>>()
                            .join(&format!(" {} ", tr.s("ev-or")))
                    },
                ),
                ("deadline", deadline.to_string()),
            ],
        ),
        Event::ApprovalAnswered {
            approved,
            by,
            decision,
            ..
        } => t(
            if *approved {
                "ev-approval-approved"
            } else {
                "ev-approval-rejected"
            },
            &[("decision", decision.to_string()), ("by", by.clone())],
        ),
        Event::Waiting {
            what,
            remaining_seconds,
        } => t(
            "ev-waiting",
            &[
                ("what", operation_in(tr, what)),
                ("remaining", format!("{remaining_seconds:.0}")),
            ],
        ),
        Event::ContinuityChecked {
            workflow,
            ok,
            verdict,
            ..
        } => t(
            if *ok {
                "ev-continuity-passed"
            } else {
                "ev-continuity-failed"
            },
            &[
                ("workflow", format!("{workflow:?}")),
                ("verdict", ripcord_guard::respond::verdict_text(verdict)),
            ],
        ),
        _ => return None,
    })
}
