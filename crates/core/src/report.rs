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
    /// Worded at the edge, which scrubs the words of secrets; its JSON has the words as
    /// `notes` and these as `notes_typed` (a report read back may have either).
    #[serde(rename = "notes_typed", alias = "notes")]
    pub notes: Vec<crate::rollback::RollbackNote>,
    /// Restore (checkpoint + journal) or switch (the sync kept legacy current).
    pub mode: crate::rollback::Mode,
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
            notes: r.notes.clone(),
            mode: r.mode.clone(),
        }
    }
}

/// One business-continuity workflow checked after a rollback.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContinuityResult {
    pub workflow: String,
    pub ok: bool,
    pub attempts: u32,
    /// The last attempt's.
    pub verdict: crate::events::ContinuityVerdict,
}

/// What a post-mortem is pre-filled from: the report, the rollback's own events and, when a
/// guarded run's stop led to it, that stop and the decision taken (the edge words them and
/// leaves the analysis sections for people to complete).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PostMortem {
    pub report: RollbackReport,
    /// The rollback's events, in order (subject.rollback is this rollback).
    pub events: Vec<crate::events::Envelope>,
    /// The run's stop and decision recorded just before this rollback started, if any.
    pub stop: Option<crate::events::Envelope>,
    pub decision: Option<crate::events::Envelope>,
    /// The stopped run's probe values around the stop (`Event::ProbeWindow`), by probe.
    pub probes: Vec<ProbeWindow>,
}

/// A probe's values around the stop that led to a rollback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeWindow {
    pub probe: String,
    pub stop_ms: i64,
    pub baseline_median: Option<f64>,
    /// (ms since 1970, value), oldest first.
    pub samples: Vec<(i64, f64)>,
}

impl PostMortem {
    /// `log` is the whole event log in `seq` order.
    pub fn gather(report: RollbackReport, log: &[crate::events::Envelope]) -> PostMortem {
        use crate::events::Event;
        let events: Vec<_> = log
            .iter()
            .filter(|e| e.subject.rollback.as_deref() == Some(report.id.as_str()))
            .cloned()
            .collect();
        let started = log.iter().position(|e| {
            matches!(&e.event, Event::RollbackStarted { rollback, .. } if *rollback == report.id)
        });
        let (mut stop, mut decision) = (None, None);
        if let Some(i) = started {
            // Look back from the start to the nearest stop; the decision must lie between.
            // A rollback started by hand has another command's events before it, not a stop.
            for e in log[..i].iter().rev() {
                match &e.event {
                    Event::DecisionMade { .. } if decision.is_none() && stop.is_none() => {
                        decision = Some(e.clone())
                    }
                    Event::RunStopped { .. } => {
                        stop = Some(e.clone());
                        break;
                    }
                    Event::RollbackFinished { .. } | Event::RollbackStarted { .. } => break,
                    _ => {}
                }
            }
        }
        if stop.is_none() {
            decision = None;
        }
        let mut probes: Vec<ProbeWindow> = Vec::new();
        if let Some(Event::RunStopped { run: stopped, .. }) = stop.as_ref().map(|s| &s.event) {
            // The window before the stop is told at the stop; the values after it when
            // the guard ends, after the rollback: the two are joined.
            for e in log {
                if let Event::ProbeWindow {
                    run,
                    probe,
                    stop_ms,
                    baseline_median,
                    samples,
                } = &e.event
                    && run == stopped
                {
                    match probes
                        .iter_mut()
                        .find(|p| &p.probe == probe && p.stop_ms == *stop_ms)
                    {
                        Some(p) => {
                            p.samples.extend(samples.iter().copied());
                            p.samples.sort_by_key(|(t, _)| *t);
                            p.samples.dedup_by_key(|(t, _)| *t);
                        }
                        None => {
                            probes.retain(|p| &p.probe != probe);
                            probes.push(ProbeWindow {
                                probe: probe.clone(),
                                stop_ms: *stop_ms,
                                baseline_median: *baseline_median,
                                samples: samples.clone(),
                            });
                        }
                    }
                }
            }
        }
        PostMortem {
            report,
            events,
            stop,
            decision,
            probes,
        }
    }
}

/// The recovery-time tiers of docs/product.md, told apart by a rollback's target: an
/// emergency rollback has 15 minutes, a component rollback 60, a graceful recovery 4 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Emergency,
    Component,
    Graceful,
}

impl Tier {
    pub fn of(target_seconds: f64) -> Tier {
        if target_seconds <= 15.0 * 60.0 {
            Tier::Emergency
        } else if target_seconds <= 60.0 * 60.0 {
            Tier::Component
        } else {
            Tier::Graceful
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Tier::Emergency => "emergency",
            Tier::Component => "component",
            Tier::Graceful => "graceful",
        }
    }
}

/// Time against target for the finished rollbacks of one tier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierKpi {
    pub tier: Tier,
    pub rollbacks: usize,
    /// Median and worst `total / target`.
    pub median_share: f64,
    pub worst_share: f64,
    /// Over 120% of the target: each is a critical alert.
    pub over_target: usize,
}

/// One alert threshold a rollback crossed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossed {
    /// Over 120% of its recovery-time target.
    OverTarget { rollback: String, share: f64 },
    /// Business writes lost (data gaps).
    Lost { rollback: String, lost: u64 },
    /// Ended without a proof: unverified, failed or abandoned.
    NotVerified { rollback: String, state: String },
}

/// `ripcord report --kpis`: across every rollback in the state store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub rollbacks: usize,
    /// Still running or interrupted: not counted in the rates.
    pub unfinished: usize,
    pub verified: usize,
    /// Verified over finished; `None` before any finished.
    pub success_rate: Option<f64>,
    pub tiers: Vec<TierKpi>,
    pub at_risk: u64,
    pub recovered: u64,
    pub lost: u64,
    /// Recovered over at risk, for rollbacks whose capture held; `None` with nothing at risk.
    pub recovery_rate: Option<f64>,
    /// Rollbacks over an accepted capture break: their losses are unknown.
    pub uncaptured: usize,
    pub crossed: Vec<Crossed>,
}

impl Kpis {
    pub fn of(records: &[RollbackRecord]) -> Kpis {
        use crate::status::RollbackState as S;
        let mut k = Kpis {
            rollbacks: records.len(),
            unfinished: 0,
            verified: 0,
            success_rate: None,
            tiers: Vec::new(),
            at_risk: 0,
            recovered: 0,
            lost: 0,
            recovery_rate: None,
            uncaptured: 0,
            crossed: Vec::new(),
        };
        let mut shares: BTreeMap<Tier, Vec<f64>> = BTreeMap::new();
        // Oldest first, so the thresholds read in the order they were crossed.
        for r in records.iter().rev() {
            let state = S::of(r);
            if state == S::Unfinished {
                k.unfinished += 1;
                continue;
            }
            if state == S::Verified {
                k.verified += 1;
            } else {
                k.crossed.push(Crossed::NotVerified {
                    rollback: r.id.clone(),
                    state: state.name().to_string(),
                });
            }
            if r.rto_seconds > 0.0 && !matches!(state, S::Abandoned) {
                let share = r.total_seconds() / r.rto_seconds;
                shares
                    .entry(Tier::of(r.rto_seconds))
                    .or_default()
                    .push(share);
                if share > 1.2 {
                    k.crossed.push(Crossed::OverTarget {
                        rollback: r.id.clone(),
                        share,
                    });
                }
            }
            if r.uncaptured.is_empty() {
                k.at_risk += r.figures.at_risk;
                k.recovered += r.figures.recovered;
                k.lost += r.figures.lost;
            } else {
                k.uncaptured += 1;
            }
            if r.figures.lost > 0 {
                k.crossed.push(Crossed::Lost {
                    rollback: r.id.clone(),
                    lost: r.figures.lost,
                });
            }
        }
        let finished = k.rollbacks - k.unfinished;
        k.success_rate = (finished > 0).then(|| k.verified as f64 / finished as f64);
        k.recovery_rate = (k.at_risk > 0).then(|| k.recovered as f64 / k.at_risk as f64);
        k.tiers = shares
            .into_iter()
            .map(|(tier, mut s)| {
                s.sort_by(f64::total_cmp);
                let mid = s.len() / 2;
                let median = if s.len() % 2 == 1 {
                    s[mid]
                } else {
                    (s[mid - 1] + s[mid]) / 2.0
                };
                TierKpi {
                    tier,
                    rollbacks: s.len(),
                    median_share: median,
                    worst_share: *s.last().expect("a tier has a rollback"),
                    over_target: s.iter().filter(|x| **x > 1.2).count(),
                }
            })
            .collect();
        k
    }
}

#[cfg(test)]
mod kpi_tests {
    use super::*;

    fn record(
        id: &str,
        status: serde_json::Value,
        rto: f64,
        took: f64,
        lost: u64,
    ) -> RollbackRecord {
        serde_json::from_value(serde_json::json!({
            "version": 2, "id": id, "components": ["billing"], "checkpoints": {},
            "reason": "r", "actor": "a", "approved_by": null, "status": status,
            "started_at": "2026-11-29T12:00:00Z", "finished_at": "2026-11-29T12:10:00Z", "drain_to": {},
            "figures": {"at_risk": 10, "recovered": 10 - lost, "lost": lost, "restored_rows": 1, "conflicts": 0},
            "gaps": [], "conflicts": [], "unmapped_columns": {},
            "phase_times": [{"phase": "restore", "seconds": took}],
            "proof": null, "rto_seconds": rto, "notes": []
        }))
        .unwrap()
    }

    #[test]
    fn rates_tiers_and_crossed_thresholds_across_rollbacks() {
        let ok = serde_json::json!({"status": "completed", "ok": true});
        let bad = serde_json::json!({"status": "completed", "ok": false});
        let running = serde_json::json!({"status": "running", "phase": "restore"});
        // Newest first, as the state store lists them.
        let records = vec![
            record("rb-4", running, 900.0, 1.0, 0),
            record("rb-3", bad, 3600.0, 600.0, 2),
            record("rb-2", ok.clone(), 900.0, 1200.0, 0),
            record("rb-1", ok, 900.0, 450.0, 0),
        ];
        let k = Kpis::of(&records);
        assert_eq!((k.rollbacks, k.unfinished, k.verified), (4, 1, 2));
        assert_eq!(k.success_rate, Some(2.0 / 3.0));
        assert_eq!((k.at_risk, k.recovered, k.lost), (30, 28, 2));
        assert_eq!(k.recovery_rate, Some(28.0 / 30.0));
        let em = &k.tiers[0];
        assert_eq!(
            (em.tier, em.rollbacks, em.over_target),
            (Tier::Emergency, 2, 1)
        );
        assert_eq!(
            (em.median_share, em.worst_share),
            (((0.5 + 4.0 / 3.0) / 2.0), 4.0 / 3.0)
        );
        assert_eq!(k.tiers[1].tier, Tier::Component);
        assert_eq!(
            k.crossed,
            vec![
                Crossed::OverTarget {
                    rollback: "rb-2".into(),
                    share: 4.0 / 3.0
                },
                Crossed::NotVerified {
                    rollback: "rb-3".into(),
                    state: "UNVERIFIED".into()
                },
                Crossed::Lost {
                    rollback: "rb-3".into(),
                    lost: 2
                },
            ]
        );
        assert_eq!(Kpis::of(&[]).success_rate, None);
    }
}
