//! Baselines: every probe sampled N times before the migration; median and p95 pinned in
//! the state store so rules compare against a fixed pre-migration reference.

use crate::probe::Prober;
use crate::stats;
use ripcord_core::context::{Connector, Ctx, now};
use ripcord_core::events::Event;
use ripcord_core::state::BaselineRecord;
use ripcord_core::{Error, Result};
use std::sync::Arc;

/// Samples every probe `samples` times (default: the plan's `baseline_samples`), one
/// thread per probe, and pins what was measured. A probe that could not be measured at
/// all is an error naming it and the reasons.
pub fn take(
    ctx: &mut Ctx,
    connector: Arc<dyn Connector>,
    samples: Option<usize>,
) -> Result<Vec<BaselineRecord>> {
    let n = samples.unwrap_or(ctx.plan.guard.baseline_samples).max(1);
    let interval = ctx.plan.guard.baseline_interval;
    if ctx.plan.probes.is_empty() {
        return Err(Error::Usage(
            "the plan has no [[probe]] to take a baseline of".into(),
        ));
    }
    let threads: Vec<_> = ctx
        .plan
        .probes
        .iter()
        .map(|p| {
            let mut prober = Prober::new(p, &ctx.plan, connector.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for i in 0..n {
                    out.push(prober.measure());
                    if i + 1 < n {
                        std::thread::sleep(interval);
                    }
                }
                out
            })
        })
        .collect();
    let mut pinned = Vec::new();
    let mut failed = Vec::new();
    for (p, t) in ctx.plan.probes.clone().iter().zip(threads) {
        let got = t
            .join()
            .map_err(|_| Error::Internal(format!("probe {} panicked", p.name)))?;
        let values: Vec<f64> = got.iter().filter_map(|s| s.value()).collect();
        let reasons: Vec<String> = got
            .iter()
            .filter_map(|s| match &s.outcome {
                crate::probe::Outcome::Unmeasured { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        ctx.emit(Event::Progress {
            what: ripcord_core::events::Operation::Baseline {
                probe: p.name.clone(),
            },
            done: values.len() as u64,
            total: n as u64,
        });
        if values.is_empty() {
            failed.push(format!(
                "{}: could not measure any of {n} samples ({})",
                p.name,
                reasons.first().cloned().unwrap_or_default()
            ));
            continue;
        }
        let b = BaselineRecord {
            probe: p.name.clone(),
            taken_at: now(),
            median: stats::median(&values),
            p95: stats::p95(&values),
            samples: values,
            errors: reasons.len() as u32,
        };
        ctx.state.pin_baseline(&b)?;
        ctx.audit(
            "baseline",
            serde_json::json!({"probe": b.probe, "samples": b.samples, "errors": b.errors, "median": b.median, "p95": b.p95}),
            &format!("median {} p95 {} over {} samples", b.median, b.p95, b.samples.len()),
        )?;
        pinned.push(b);
    }
    if !failed.is_empty() {
        ctx.audit(
            "baseline",
            serde_json::json!({"failed": failed}),
            "some probes could not be measured",
        )?;
        return Err(Error::Verify(format!(
            "no baseline for: {}",
            failed.join("; ")
        )));
    }
    Ok(pinned)
}
