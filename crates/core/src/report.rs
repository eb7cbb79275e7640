//! The rollback report: each phase against the target, the figures, gaps and conflicts.

use crate::rollback::{RollbackRecord, Status};
use std::fmt::Write;

pub fn markdown(r: &RollbackRecord) -> String {
    let mut s = String::new();
    let verdict = match &r.status {
        Status::Completed { ok: true } if r.figures.review > 0 => format!(
            "completed, verified; {} rows changed by both the migration and a business write kept legacy values the business write had left as the migration set them: review them (`ripcord gaps --review`)",
            r.figures.review
        ),
        Status::Completed { ok: true } => "completed, verified".to_string(),
        Status::Completed { ok: false } if !r.uncaptured.is_empty() => {
            "completed, NOT VERIFIED: capture was broken, writes may be missing in unknown number (see below)".to_string()
        }
        Status::Completed { ok: false } => "completed WITH PROBLEMS (see below)".to_string(),
        Status::Abandoned { by, reason } => format!("ABANDONED by {by}: {reason}"),
        Status::Failed { phase, error } => format!("FAILED in {}: {error}", phase.name()),
        Status::Running { phase } => format!(
            "interrupted before {} finished; run `ripcord rollback --resume`",
            phase.name()
        ),
    };
    let _ = writeln!(s, "# Rollback {}\n", r.id);
    let _ = writeln!(s, "- Components: {}", r.components.join(", "));
    let _ = writeln!(
        s,
        "- Checkpoints: {}",
        r.checkpoints
            .iter()
            .map(|(c, id)| format!("{c} ← {id}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s, "- Reason: {}", r.reason);
    let _ = writeln!(
        s,
        "- Started by {} at {}; approved by {}",
        r.actor,
        r.started_at,
        r.approved_by.as_deref().unwrap_or("(not approved)")
    );
    let _ = writeln!(s, "- Outcome: {verdict}\n");
    let total = r.total_seconds();
    let _ = writeln!(s, "## Time against the recovery-time target\n");
    let _ = writeln!(s, "| phase | seconds |\n|---|---:|");
    for p in &r.phase_times {
        let _ = writeln!(s, "| {} | {:.3} |", p.phase.name(), p.seconds);
    }
    let _ = writeln!(
        s,
        "| **total** | **{total:.3}** |\n\nTarget {:.0} s; used {:.2}% of it{}.\n",
        r.rto_seconds,
        100.0 * total / r.rto_seconds.max(1e-9),
        if total > r.rto_seconds * 1.2 {
            " — OVER 120% OF TARGET: critical"
        } else {
            ""
        }
    );
    let f = &r.figures;
    let _ = writeln!(s, "## Figures\n");
    let _ = writeln!(s, "| figure | value |\n|---|---:|");
    let _ = writeln!(s, "| rows restored from checkpoint | {} |", f.restored_rows);
    let _ = writeln!(s, "| business writes at risk | {} |", f.at_risk);
    let _ = writeln!(s, "| recovered | {} |", f.recovered);
    if r.uncaptured.is_empty() {
        let _ = writeln!(s, "| lost (data gaps) | {} |", f.lost);
        let _ = writeln!(s, "| recovery rate | {:.2}% |", f.recovery_rate() * 100.0);
    } else {
        // Writes that escaped the journal are not counted anywhere: no figure can be given.
        let _ = writeln!(
            s,
            "| lost (data gaps) | {} known, plus an UNKNOWN number not captured |",
            f.lost
        );
        let _ = writeln!(s, "| recovery rate | unknown |");
    }
    let _ = writeln!(s, "| conflicts (business value kept) | {} |", f.conflicts);
    let _ = writeln!(
        s,
        "| overlaps to review (legacy value kept) | {} |",
        f.review
    );
    let downtime = r
        .phase_times
        .iter()
        .filter(|p| {
            !matches!(
                p.phase,
                crate::rollback::Phase::Assess
                    | crate::rollback::Phase::Approve
                    | crate::rollback::Phase::Report
            )
        })
        .map(|p| p.seconds)
        .sum::<f64>();
    let _ = writeln!(
        s,
        "| write downtime (freeze → unfreeze), s | {downtime:.3} |\n"
    );
    if let Some(p) = &r.proof {
        let _ = writeln!(s, "## Proof\n");
        for t in &p.tables {
            let _ = writeln!(
                s,
                "- {}.{}: {} rows, {} differences from the expected state",
                t.component, t.table, t.rows, t.differences
            );
            for e in &t.examples {
                let _ = writeln!(s, "  - {e}");
            }
        }
        for i in &p.invariants {
            let _ = writeln!(
                s,
                "- invariant {:?} ({}): {} — {}",
                i.name,
                i.component,
                if i.ok { "holds" } else { "BROKEN" },
                i.detail
            );
        }
        let _ = writeln!(s);
    }
    if !r.uncaptured.is_empty() {
        let _ = writeln!(
            s,
            "## Writes not captured (accepted with --accept-uncaptured)\n\nThe journal may not hold every business write in these windows; their number is unknown and they were not carried back.\n"
        );
        for b in &r.uncaptured {
            let _ = writeln!(s, "- {b}");
        }
        let _ = writeln!(s);
    }
    if !r.gaps.is_empty() {
        let _ = writeln!(
            s,
            "## Data gaps\n\n| table | key | op | reason | suggested action |\n|---|---|---|---|---|"
        );
        for g in &r.gaps {
            let _ = writeln!(
                s,
                "| {} | {} | {:?} | {} | {} |",
                g.table, g.key, g.op, g.reason, g.suggestion
            );
        }
        let _ = writeln!(s);
    }
    if !r.conflicts.is_empty() {
        let _ = writeln!(
            s,
            "## Conflicts (business and migration changed the same column; the business value was kept)\n"
        );
        for c in &r.conflicts {
            let _ = writeln!(s, "- {} {}: {}", c.table, c.key, c.columns.join(", "));
        }
        let _ = writeln!(s);
    }
    if !r.overlaps.is_empty() {
        let _ = writeln!(
            s,
            "## Overlaps: rows changed by both the migration and a business write\n\nA business write carries back only the columns it changed. Where it left a value the migration had set, ripcord cannot tell whether the business meant it, so the legacy value was kept; those rows need review (`ripcord gaps --review`).\n\n| table | key | business write | business changed | migration's value left in place (legacy value kept) |\n|---|---|---:|---|---|"
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
        let _ = writeln!(
            s,
            "## Columns of the new shape with no place in the legacy tables\n"
        );
        for (t, cols) in &r.unmapped_columns {
            let _ = writeln!(s, "- {t}: {}", cols.join(", "));
        }
        let _ = writeln!(s);
    }
    for n in &r.notes {
        let _ = writeln!(s, "> {n}");
    }
    crate::redact::scrub(&s)
}

pub fn json(r: &RollbackRecord) -> String {
    let mut v = serde_json::to_value(r).expect("records serialize");
    v["total_seconds"] = serde_json::json!(r.total_seconds());
    v["recovery_rate"] = serde_json::json!(r.figures.recovery_rate());
    crate::redact::scrub(&serde_json::to_string_pretty(&v).expect("json"))
}

/// One business-continuity workflow checked after a rollback.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContinuityResult {
    pub workflow: String,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
}

/// The continuity section of a guarded run's report.
pub fn continuity_markdown(results: &[ContinuityResult]) -> String {
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
            r.detail
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
    crate::redact::scrub(&s)
}
