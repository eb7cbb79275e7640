//! The console timeline: one readable line per event, on stderr.

use ripcord_core::events::{Event, EventSink};
use std::time::Instant;

/// Prints every event with the seconds since the process started.
pub struct Timeline;

/// When this process started, for the timeline's clock.
pub fn started() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
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
        let line = match e {
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
                detail,
                seconds,
                ..
            } => {
                format!(
                    "step {step:?} {} in {seconds:.2}s{}",
                    if *ok { "done" } else { "FAILED" },
                    if *ok {
                        String::new()
                    } else {
                        format!(": {detail}")
                    }
                )
            }
            Event::InvariantChecked {
                component,
                name,
                ok,
                detail,
            } => format!(
                "  invariant {component}/{name:?}: {} ({detail})",
                if *ok { "holds" } else { "BROKEN" }
            ),
            Event::RunStopped { reason, .. } => format!("run stopped: {reason}"),
            Event::RollbackStarted {
                rollback,
                components,
                checkpoint,
                reason,
            } => format!(
                "rollback {rollback} of {} to {checkpoint}: {reason}",
                components.join(", ")
            ),
            Event::PhaseStarted { .. } => return,
            Event::PhaseFinished {
                phase,
                seconds,
                detail,
                ..
            } => format!("  {phase:<12} {seconds:>7.3}s  {detail}"),
            Event::Progress { .. } => return,
            Event::DataProgress {
                what,
                rows,
                total_rows,
                bytes,
                seconds,
                finished,
            } => format!(
                "  {} {what}: {}",
                if *finished { "done" } else { "…" },
                ripcord_core::progress::describe(*rows, *total_rows, *bytes, *seconds)
            ),
            Event::DataGap {
                table, key, reason, ..
            } => format!("  DATA GAP {table} {key}: {reason}"),
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
            e => match e.guard_line() {
                Some(l) => l,
                None => return,
            },
        };
        eprintln!(
            "[{:>7.2}s] {}",
            started().elapsed().as_secs_f64(),
            ripcord_core::redact::scrub(&line)
        );
    }
}
