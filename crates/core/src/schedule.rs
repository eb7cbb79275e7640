//! Scheduled checkpoints (a component's `checkpoint_every`), taken on a thread of their own
//! while `ripcord watch` or `run` runs. Each is an ordinary `checkpoint::take` (so
//! differential where the engine allows, verified, audited) plus an audit entry saying it
//! was scheduled. A component an unfinished rollback holds is skipped, and the thread is
//! stopped before a stop's response (a rollback) begins.

use crate::context::{Connector, Ctx};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct Scheduler {
    done: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

/// When each scheduled component is next due: its newest checkpoint plus its interval
/// (now, when it has none or that is past).
fn first_due(
    ctx: &mut Ctx,
    every: &BTreeMap<String, Duration>,
) -> Result<BTreeMap<String, Instant>> {
    let now = Instant::now();
    let wall = Utc::now();
    let list = ctx.state.checkpoints()?;
    let mut out = BTreeMap::new();
    for (c, d) in every {
        let newest = list
            .iter()
            .find(|r| r.components.contains(c))
            .and_then(|r| DateTime::parse_from_rfc3339(&r.created_at).ok());
        let due = match newest {
            Some(t) => {
                let age = (wall - t.with_timezone(&Utc)).to_std().unwrap_or_default();
                now + d.saturating_sub(age)
            }
            None => now,
        };
        out.insert(c.clone(), due);
    }
    Ok(out)
}

impl Scheduler {
    /// Starts the thread; `None` when no component sets `checkpoint_every`.
    pub fn start(ctx: &Ctx, connector: Arc<dyn Connector>) -> Result<Option<Scheduler>> {
        let every: BTreeMap<String, Duration> = ctx
            .plan
            .components
            .iter()
            .filter_map(|c| c.checkpoint_every.map(|d| (c.name.clone(), d)))
            .collect();
        if every.is_empty() {
            return Ok(None);
        }
        let mut own = ctx.for_thread(connector)?;
        let mut due = first_due(&mut own, &every)?;
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let handle = std::thread::Builder::new()
            .name("ripcord-schedule".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    let ready: Vec<String> = due
                        .iter()
                        .filter(|(_, t)| **t <= now)
                        .map(|(c, _)| c.clone())
                        .collect();
                    if !ready.is_empty() {
                        let outcome = tick(&mut own, &ready, &every);
                        for c in &ready {
                            // A failure is retried after a minute at most, not at once.
                            let wait = match &outcome {
                                Ok(_) => every[c],
                                Err(_) => every[c].min(Duration::from_secs(60)),
                            };
                            due.insert(c.clone(), Instant::now() + wait);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .map_err(|e| Error::Internal(format!("start the checkpoint schedule: {e}")))?;
        Ok(Some(Scheduler { done, handle }))
    }

    /// Stops the thread, after the checkpoint it may be taking.
    pub fn finish(self) {
        self.done.store(true, Ordering::SeqCst);
        let _ = self.handle.join();
    }
}

fn tick(ctx: &mut Ctx, ready: &[String], every: &BTreeMap<String, Duration>) -> Result<()> {
    let held: Vec<String> = ctx
        .state
        .rollbacks()?
        .into_iter()
        .filter(|r| r.unfinished())
        .flat_map(|r| r.components)
        .collect();
    let take: Vec<String> = ready
        .iter()
        .filter(|c| !held.contains(c))
        .cloned()
        .collect();
    if take.is_empty() {
        return Ok(());
    }
    let args = serde_json::json!({
        "components": take,
        "every": take.iter().map(|c| humantime::format_duration(every[c]).to_string()).collect::<Vec<_>>(),
    });
    match crate::checkpoint::take(ctx, &take) {
        Ok(m) => ctx.audit(
            "checkpoint.scheduled",
            args,
            &format!(
                "ok: {}{}",
                m.id,
                if m.format == 2 { " (differential)" } else { "" }
            ),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "scheduled checkpoint failed");
            ctx.audit("checkpoint.scheduled", args, &format!("failed: {e}"))?;
            Err(e)
        }
    }
}
