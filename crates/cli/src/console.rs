//! Where events become words: the console timeline, and the lines `ripcord events` prints.
//! Events carry data; every sentence about them is written here, so a second language or
//! another medium changes this file only.

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
    match o {
        PhaseOutcome::Assessed { at_risk } => {
            format!("checkpoints verified; {at_risk} business writes since the checkpoint")
        }
        PhaseOutcome::Approved { by } => format!("approved by {by}"),
        PhaseOutcome::Frozen => "writes to the components' tables are blocked".into(),
        PhaseOutcome::Drained { at_risk } => {
            format!("journal drained: {at_risk} business writes to carry back")
        }
        PhaseOutcome::Restored { rows, already } => format!(
            "{rows} rows restored{}",
            if *already > 0 {
                format!(" ({already} tables already restored before a restart)")
            } else {
                String::new()
            }
        ),
        PhaseOutcome::Replayed => format!(
            "{} of {} business writes carried back, {} gaps, {} conflicts, {} to review",
            f.recovered, f.at_risk, f.lost, f.conflicts, f.review
        ),
        PhaseOutcome::Verified {
            differences,
            broken_invariants,
        } => format!(
            "row-by-row proof: {differences} differences; invariants: {broken_invariants} broken"
        ),
        PhaseOutcome::SwitchedBack {
            switches,
            invalidations,
        } => format!(
            "{} switch(es) moved to legacy: {}; {invalidations} cache invalidation(s) run",
            switches.len(),
            switches
                .iter()
                .map(|s| match s.already {
                    true => format!("{} (already)", s.switch),
                    false => s.switch.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PhaseOutcome::NoSwitches => "no traffic switches in this plan; nothing to move".into(),
        PhaseOutcome::SwitchBackSkipped => "skipped: verification did not pass".into(),
        PhaseOutcome::Unfrozen => "writes allowed again".into(),
        PhaseOutcome::Reported => format!(
            "{} at risk, {} recovered, {} lost, recovery rate {:.1}%",
            f.at_risk,
            f.recovered,
            f.lost,
            f.recovery_rate() * 100.0
        ),
        PhaseOutcome::SyncPending { pending } => format!(
            "switch path: legacy kept current by the sync; {pending} business writes still to drain"
        ),
        PhaseOutcome::BothSidesFrozen => "writes to both sides are blocked".into(),
        PhaseOutcome::SyncDrained { applied, at_risk } => format!(
            "sync drained: {applied} business writes applied now; {} of {at_risk} since the cutover on legacy, {} lost",
            f.recovered, f.lost
        ),
        PhaseOutcome::KeptCurrentBySync => {
            "switch path: nothing to restore or replay (the sync kept legacy current)".into()
        }
        PhaseOutcome::SidesCompared {
            differences,
            broken_invariants,
            count_only,
        } => {
            let mut s = format!(
                "legacy against the new side: {differences} differences; invariants: {broken_invariants} broken"
            );
            if !count_only.is_empty() {
                s.push_str(&format!(
                    "; NOT VERIFIED: only row counts compared for {}",
                    count_only.join(", ")
                ));
            }
            s
        }
        PhaseOutcome::BothSidesStayFrozen => {
            "skipped: verification did not pass; both sides stay frozen".into()
        }
        PhaseOutcome::LegacyUnfrozenNewFenced => {
            "legacy takes writes again; the new side stays frozen (fenced) until `cutover --unfence` and a re-base".into()
        }
        PhaseOutcome::Described { detail } => detail.clone(),
        PhaseOutcome::Unknown => String::new(),
    }
}

/// Why a business write is a data gap, for people (the console, the reports, `gaps`, and
/// the `reason` of the JSON).
pub fn gap_reason(cause: &GapReason) -> String {
    match cause {
        GapReason::NoRow => "no row with this key in the restored table".into(),
        GapReason::Refused { refusal } => {
            format!("the legacy database refused the write: {}", refusal.message)
        }
        GapReason::CreatedByMigration => "the row was created by the migration after the checkpoint, so it does not exist in the restored table".into(),
        GapReason::TableNotRestored { table } => format!("legacy table {table} was not restored"),
        GapReason::MappingFailed { error } => format!("reverse mapping failed: {error}"),
        GapReason::ValueNotCarried { column, error } => format!("column {column}: {error}"),
        GapReason::KeyMissing { column } => {
            format!("key column {column} has no value in the captured row")
        }
        GapReason::NoRowImage => "the journal entry lacks the row image it needs".into(),
        GapReason::ValuesWithoutColumn { values, .. } => format!(
            "applied without {}: the legacy table has no column for it",
            values
                .iter()
                .map(|(c, v)| format!("{c} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        GapReason::Described { reason, .. } => reason.clone(),
    }
}

/// What to do about a data gap.
pub fn gap_suggestion(g: &Gap) -> String {
    match &g.cause {
        GapReason::NoRow => "check whether the row was deleted or re-keyed by the migration; enter the change by hand".into(),
        GapReason::Refused { .. } => {
            "fix the legacy constraint or the value, then enter the row by hand".into()
        }
        GapReason::CreatedByMigration => {
            "decide whether the row belongs in the legacy system; if so, enter it by hand".into()
        }
        GapReason::TableNotRestored { .. }
        | GapReason::MappingFailed { .. }
        | GapReason::ValueNotCarried { .. }
        | GapReason::KeyMissing { .. }
        | GapReason::NoRowImage => {
            "enter the row by hand in the legacy system, then run `ripcord verify`".into()
        }
        GapReason::ValuesWithoutColumn { captured, .. } => format!(
            "record the value by hand, or map it in [components.{}.reverse.{captured}] (`columns`), or list it in `ignore` if losing it is intended",
            g.component
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
    use ripcord_guard::rules::problem_text;
    match d {
        RuleDetail::Held { held_ms, failures } => {
            format!("held {held_ms} ms ({failures} breaching samples in all)")
        }
        RuleDetail::Breaching { held_ms, hold_ms } => {
            format!("breaching for {held_ms} ms of {hold_ms} ms")
        }
        RuleDetail::CouldNotMeasure { times, problem } => format!(
            "could not measure {times} times in a row: {}",
            problem_text(problem)
        ),
        RuleDetail::Inconclusive { times, problem } => {
            format!("inconclusive {times} times: {}", problem_text(problem))
        }
        RuleDetail::NotConfirmed => "not confirmed on re-check".into(),
    }
}

/// Why a level moved, for people.
fn level_cause(c: &LevelCause) -> String {
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
                RuleStatus::Firing => {
                    format!("held {held_ms} ms ({failures} breaching samples in all)")
                }
                RuleStatus::Breaching => format!("breaching for {held_ms} ms of {hold_ms} ms"),
                RuleStatus::CouldNotMeasure => {
                    format!("could not measure {errors} times in a row: {problem}")
                }
                RuleStatus::Inconclusive => format!("inconclusive {inconclusive} times: {problem}"),
                _ if !problem.is_empty() => problem,
                other => other.name().to_string(),
            }
        }
        LevelCause::Overall { rules, trends } if rules.is_empty() && trends.is_empty() => {
            "all rules green".into()
        }
        LevelCause::Overall { rules, trends } => rules
            .iter()
            .cloned()
            .chain(trends.iter().map(|p| format!("trend of {p}")))
            .collect::<Vec<_>>()
            .join("; "),
        LevelCause::Described { reason } => reason.clone(),
    }
}

/// What a progress or waiting event is about, for people.
pub fn operation(op: &Operation) -> String {
    match op {
        Operation::Checkpoint { table } => format!("checkpoint {table}"),
        Operation::Differential {
            table,
            base,
            changed,
        } => format!("{table}: differential over {base}, {changed} changed keys"),
        Operation::Restore { table } => format!("restore {table}"),
        Operation::Restored { table } => format!("restored {table}"),
        Operation::Replay { components } => format!("replayed {}", components.join(", ")),
        Operation::Verify { table } => format!("verify {table}"),
        Operation::Baseline { probe } => format!("baseline {probe}"),
        Operation::Approval { decision, scenario } => {
            format!("approval of {decision} ({scenario})")
        }
        Operation::SyncBlocked { component } => format!(
            "sync of {component}: a transaction on the new side is still open; nothing read this pass"
        ),
        Operation::Described { text } => text.clone(),
        Operation::Other => "an operation this ripcord does not know".into(),
    }
}

/// The line for an event, as `ripcord events` prints it: the timeline's line, or a plain
/// one for the events the timeline leaves out.
pub fn describe(e: &Event) -> String {
    line(e).unwrap_or_else(|| match e {
        Event::PhaseStarted { phase, .. } => format!("  {phase} …"),
        Event::Progress { what, done, total } => {
            format!("  {}: {done} of {total}", operation(what))
        }
        Event::Unknown => "(an event this ripcord does not know)".into(),
        other => format!("{other:?}"),
    })
}

/// The timeline's line for an event; `None` for the ones it leaves out.
pub fn line(e: &Event) -> Option<String> {
    Some(match e {
        Event::CaptureInstalled { database, tables } => {
            format!("capture on in {database}: {}", tables.join(", "))
        }
        Event::CheckpointTaken {
            id,
            components,
            rows,
            bytes: b,
            new_bytes,
            seconds,
        } => format!(
            "checkpoint {id} of {}: {rows} rows, {} ({} new) in {seconds:.2}s, verified",
            components.join(", "),
            bytes(*b),
            bytes(*new_bytes)
        ),
        Event::RunStarted { run } => format!("run {run} started"),
        Event::StepStarted { step, .. } => format!("step {step:?} …"),
        Event::StepFinished {
            step,
            ok,
            error,
            seconds,
            ..
        } => format!(
            "step {step:?} {} in {seconds:.2}s{}",
            if *ok { "done" } else { "FAILED" },
            error.as_ref().map_or(String::new(), |e| format!(": {e}"))
        ),
        Event::InvariantChecked {
            component,
            name,
            ok,
            measure,
        } => format!(
            "  invariant {component}/{name:?}: {} ({})",
            if *ok { "holds" } else { "BROKEN" },
            ripcord_core::verify::describe_measure(measure)
        ),
        Event::RunStopped { cause, .. } => match cause {
            RunStop::StepFailed { step, error } => {
                format!("run stopped: step {step:?} failed: {error}")
            }
            RunStop::Stop { source, reason } => {
                format!("run stopped: stopped by {source}: {reason}")
            }
            RunStop::Described { text } => format!("run stopped: {text}"),
        },
        Event::SwitchFlipped {
            switch,
            component,
            position,
            completed_unfinished,
            ..
        } => format!(
            "switch {switch:?} ({component}) now {position}{}",
            completed_unfinished
                .as_ref()
                .map_or(String::new(), |u| format!(", completing flip {u}"))
        ),
        Event::SwitchFlipFailed {
            switch,
            component,
            target,
            error,
            ..
        } => format!("SWITCH {switch:?} ({component}) did not move to {target}: {error}"),
        Event::SwitchFellBack {
            switch,
            component,
            rule,
            from,
            to,
        } => format!(
            "FALLBACK: rule {rule:?} is red: switch {switch:?} ({component}) stepped back from {from} to {to}"
        ),
        Event::ProbeWindow { probe, samples, .. } => format!(
            "probe {probe}: {} value(s) around the stop kept for the report",
            samples.len()
        ),
        Event::RollbackStarted {
            rollback,
            components,
            checkpoint,
            reason,
        } => format!(
            "rollback {rollback} of {} to {checkpoint}: {reason}",
            components.join(", ")
        ),
        Event::PhaseStarted { .. } => return None,
        Event::PhaseFinished {
            phase,
            seconds,
            outcome,
            figures,
            ..
        } => format!(
            "  {phase:<12} {seconds:>7.3}s  {}",
            phase_outcome(outcome, figures)
        ),
        Event::Progress { .. } => return None,
        Event::DataProgress {
            what,
            rows,
            total_rows,
            bytes,
            seconds,
            finished,
        } => format!(
            "  {} {}: {}",
            if *finished { "done" } else { "…" },
            operation(what),
            ripcord_core::progress::describe(*rows, *total_rows, *bytes, *seconds)
        ),
        Event::DataGap {
            table, key, cause, ..
        } => format!("  DATA GAP {table} {key}: {}", gap_reason(cause)),
        Event::SyncLag {
            component,
            rows,
            seconds,
            applied,
        } => format!("sync {component}: {applied} applied, lag {rows} writes / {seconds:.1} s"),
        Event::SyncGap {
            component,
            table,
            key,
            cause,
            ..
        } => format!(
            "  SYNC GAP {component} {table} {key}: {}",
            gap_reason(cause)
        ),
        Event::SyncStopped {
            component,
            ok,
            cause,
        } => format!(
            "sync {component} {}: {}",
            if *ok { "stopped" } else { "STOPPED" },
            match cause {
                SyncEnd::Released { state } => state.to_string(),
                SyncEnd::CriticalGaps {
                    gaps,
                    table,
                    key,
                    seq,
                    cause,
                } => format!(
                    "{gaps} write(s) could not be applied to legacy (first: {table} {key} #{seq}: {})",
                    gap_reason(cause)
                ),
                SyncEnd::Described { reason } => reason.clone(),
            }
        ),
        Event::Conflict {
            table,
            key,
            columns,
            ..
        } => format!(
            "  conflict {table} {key}: business and migration both changed {} (business value kept)",
            columns.join(", ")
        ),
        Event::RollbackFinished {
            ok,
            seconds,
            rto_seconds,
            at_risk,
            recovered,
            lost,
            ..
        } => format!(
            "rollback {} in {seconds:.2}s (target {rto_seconds:.0}s): {at_risk} business writes at risk, {recovered} recovered, {lost} lost",
            if *ok {
                "completed and verified"
            } else {
                "completed WITH PROBLEMS"
            }
        ),
        Event::RtoExceeded {
            seconds,
            rto_seconds,
            ..
        } => format!(
            "CRITICAL: rollback took {seconds:.0}s, over 120% of its {rto_seconds:.0}s target"
        ),
        e => return guard_line(e),
    })
}

/// The guard's events.
fn guard_line(e: &Event) -> Option<String> {
    Some(match e {
        Event::LevelChanged {
            rule,
            from,
            to,
            cause,
            ..
        } if rule.is_empty() => format!("level {from} → {to}: {}", level_cause(cause)),
        Event::LevelChanged {
            rule,
            from,
            to,
            cause,
            ..
        } => format!("rule {rule:?}: {from} → {to} ({})", level_cause(cause)),
        Event::CheckpointStale {
            component,
            checkpoint,
            age_seconds,
            limit_seconds,
        } => format!(
            "checkpoint {checkpoint} of {component} is {} old, over the limit of {}: take a fresh one with ripcord checkpoint -c {component}",
            ripcord_core::check::age_words(*age_seconds),
            ripcord_core::check::age_words(*limit_seconds)
        ),
        Event::TrendWarning {
            probe,
            threshold,
            eta_seconds,
        } => format!(
            "trend: {probe} reaches {threshold} in {}",
            humantime::format_duration(std::time::Duration::from_secs(eta_seconds.round() as u64))
        ),
        Event::NotConfirmed { rule, .. } => {
            format!("rule {rule:?} did not hold on the confirming re-check: no abort")
        }
        Event::StopRequested { source, reason, .. } => {
            format!("STOP requested by {source}: {reason}")
        }
        Event::StatementCancelled { step, after_ms, .. } => {
            format!("step {step:?} cancelled {after_ms:.0} ms after the stop request")
        }
        Event::DecisionMade {
            scenario,
            decision,
            by,
            ..
        } => format!("decision for {scenario}: {decision} (by {by})"),
        Event::ApprovalRequested {
            approvers,
            deadline,
            decision,
            ..
        } => format!(
            "waiting for approval of {decision} by {} until {deadline}: ripcord approve|reject RUN --as NAME",
            if approvers.is_empty() {
                "anyone".to_string()
            } else {
                approvers.join(" or ")
            }
        ),
        Event::ApprovalAnswered {
            approved,
            by,
            decision,
            ..
        } => format!(
            "{decision} {} by {by}",
            if *approved { "approved" } else { "rejected" }
        ),
        Event::Waiting {
            what,
            remaining_seconds,
        } => format!("{}: {remaining_seconds:.0} s left", operation(what)),
        Event::ContinuityChecked {
            workflow,
            ok,
            verdict,
            ..
        } => format!(
            "continuity {workflow:?}: {} {}",
            if *ok { "passed" } else { "FAILED" },
            ripcord_guard::respond::verdict_text(verdict)
        ),
        _ => return None,
    })
}
