//! The rollback report as data (`RollbackReport`: each phase against the target, the
//! figures, gaps, overlaps, the proof) and the continuity results of a guarded run. The
//! binary renders them (console, markdown, JSON); nothing here writes prose for a report.

use crate::replay::{Conflict, Gap, Overlap};
use crate::rollback::{Figures, Phase, Proof, RollbackRecord, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a rollback ended, as data; the edge words it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Completed and proven; `review` rows kept legacy values to be looked at.
    Verified {
        review: u64,
    },
    /// Completed over an accepted capture break: writes may be missing in unknown number.
    NotVerifiedUncaptured,
    /// Completed with gaps, differences or broken invariants.
    WithProblems,
    Abandoned {
        by: String,
        reason: String,
    },
    Failed {
        phase: Phase,
        error: String,
    },
    /// Stopped (crash, kill, Ctrl-C) inside `phase`; `--resume` continues it.
    Interrupted {
        phase: Phase,
    },
}

/// One phase on the timeline, with the running total against the target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseLine {
    pub phase: Phase,
    pub seconds: f64,
    /// Seconds since the rollback began, at the end of this phase.
    pub elapsed_seconds: f64,
}

/// Phases during which business writes are refused.
fn blocks_writes(p: Phase) -> bool {
    !matches!(p, Phase::Assess | Phase::Approve | Phase::Report)
}

/// A rollback's report as data: what the markdown, console and JSON renderings show.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollbackReport {
    pub id: String,
    pub components: Vec<String>,
    /// Component → the checkpoint it was restored from.
    pub checkpoints: BTreeMap<String, String>,
    pub reason: String,
    pub started_by: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub approved_by: Option<String>,
    pub verdict: Verdict,
    pub timeline: Vec<PhaseLine>,
    pub total_seconds: f64,
    pub target_seconds: f64,
    /// `total_seconds / target_seconds`.
    pub target_share: f64,
    /// Over 120% of the target: critical (docs/product.md).
    pub over_target: bool,
    /// Freeze → unfreeze: how long business writes were refused.
    pub write_downtime_seconds: f64,
    pub figures: Figures,
    /// `None` when capture was broken: no rate can be given.
    pub recovery_rate: Option<f64>,
    pub proof: Option<Proof>,
    /// Accepted capture breaks, each as its sentence.
    pub uncaptured: Vec<String>,
    pub gaps: Vec<Gap>,
    pub conflicts: Vec<Conflict>,
    pub overlaps: Vec<Overlap>,
    pub unmapped_columns: BTreeMap<String, Vec<String>>,
    pub notes: Vec<String>,
}

impl RollbackReport {
    /// Completed and proven.
    pub fn verified(&self) -> bool {
        matches!(self.verdict, Verdict::Verified { .. })
    }
    pub fn of(r: &RollbackRecord) -> Self {
        let verdict = match &r.status {
            Status::Completed { ok: true } => Verdict::Verified {
                review: r.figures.review,
            },
            Status::Completed { ok: false } if !r.uncaptured.is_empty() => {
                Verdict::NotVerifiedUncaptured
            }
            Status::Completed { ok: false } => Verdict::WithProblems,
            Status::Abandoned { by, reason } => Verdict::Abandoned {
                by: by.clone(),
                reason: crate::redact::scrub(reason),
            },
            Status::Failed { phase, error } => Verdict::Failed {
                phase: *phase,
                error: crate::redact::scrub(error),
            },
            Status::Running { phase } => Verdict::Interrupted { phase: *phase },
        };
        let mut elapsed = 0.0;
        let timeline = r
            .phase_times
            .iter()
            .map(|p| {
                elapsed += p.seconds;
                PhaseLine {
                    phase: p.phase,
                    seconds: p.seconds,
                    elapsed_seconds: elapsed,
                }
            })
            .collect();
        let total = r.total_seconds();
        RollbackReport {
            id: r.id.clone(),
            components: r.components.clone(),
            checkpoints: r.checkpoints.clone(),
            reason: crate::redact::scrub(&r.reason),
            started_by: r.actor.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            approved_by: r.approved_by.clone(),
            verdict,
            timeline,
            total_seconds: total,
            target_seconds: r.rto_seconds,
            target_share: total / r.rto_seconds.max(1e-9),
            over_target: total > r.rto_seconds * 1.2,
            write_downtime_seconds: r
                .phase_times
                .iter()
                .filter(|p| blocks_writes(p.phase))
                .map(|p| p.seconds)
                .sum(),
            figures: r.figures.clone(),
            recovery_rate: r.uncaptured.is_empty().then(|| r.figures.recovery_rate()),
            proof: r.proof.clone(),
            uncaptured: r.uncaptured.iter().map(|b| b.to_string()).collect(),
            gaps: r.gaps.clone(),
            conflicts: r.conflicts.clone(),
            overlaps: r.overlaps.clone(),
            unmapped_columns: r.unmapped_columns.clone(),
            notes: r.notes.iter().map(|n| crate::redact::scrub(n)).collect(),
        }
    }
}

/// One business-continuity workflow checked after a rollback.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContinuityResult {
    pub workflow: String,
    pub ok: bool,
    pub attempts: u32,
    pub detail: String,
}
