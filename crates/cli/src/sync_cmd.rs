//! `ripcord sync start | status | stop | pause | resume` and `ripcord cutover`
//! (`ripcord_core::sync` and `ripcord_core::cutover` do the work; this is the edge).

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use ripcord_core::context::Ctx;
use ripcord_core::cutover::{self, CutoverRequest, CutoverStatus};
use ripcord_core::sync::{self, LoopOptions, SyncState};
use ripcord_core::{Error, exit};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub action: SyncOp,
}

#[derive(clap::Subcommand, Debug)]
pub enum SyncOp {
    /// Run the sync loop in the foreground: apply the new side's business writes to legacy,
    /// exactly once, until stopped (Ctrl-C, SIGTERM, `ripcord sync stop`, a rollback).
    /// Exit 3 when a critical component cannot sync or a write became a gap.
    Start {
        #[arg(short, long)]
        component: Vec<String>,
        /// Pause between passes.
        #[arg(long, default_value = "500ms")]
        interval: String,
        /// Longest wait per pass for transactions in flight on the new side.
        #[arg(long, default_value = "10s")]
        settle: String,
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        /// Let a failed critical sync (named with -c) run on past the writes it could not
        /// carry to legacy: the loss accepted. Needs --reason; audited; the writes stay
        /// listed as gaps and a rollback still reports them lost.
        #[arg(long, requires = "reason")]
        accept_gap: bool,
        /// Why (with --accept-gap; recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Each component's sync: state, position, lag in writes and seconds (measured now),
    /// gaps, and the process running it. Exit 3 when one failed or has gaps.
    Status {
        #[arg(short, long)]
        component: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop the loop for these components (all by default); a rollback still drains them.
    Stop {
        #[arg(short, long)]
        component: Vec<String>,
    },
    /// Pause one component's sync (its lag grows and shows in `sync status`).
    Pause {
        #[arg(short, long, required = true)]
        component: Vec<String>,
    },
    /// Resume a paused component.
    Resume {
        #[arg(short, long, required = true)]
        component: Vec<String>,
    },
}

fn duration(what: &str, s: &str) -> Result<Duration> {
    humantime::parse_duration(s)
        .map_err(|e| Error::Usage(format!("{what} {s:?}: {e} (e.g. \"500ms\", \"10s\")")).into())
}

pub fn run(ctx: &mut Ctx, a: SyncArgs) -> Result<i32> {
    match a.action {
        SyncOp::Start {
            component,
            interval,
            settle,
            once,
            accept_gap,
            reason,
        } => {
            let accept_gap = match (accept_gap, reason) {
                (true, Some(r)) if !r.trim().is_empty() => Some(r),
                (true, _) => {
                    return Err(Error::Usage(
                        "--accept-gap: say why with --reason \"…\" (it goes into the audit log)"
                            .into(),
                    )
                    .into());
                }
                (false, Some(_)) => {
                    return Err(Error::Usage("--reason goes with --accept-gap".into()).into());
                }
                (false, None) => None,
            };
            let opts = LoopOptions {
                interval: duration("--interval", &interval)?,
                settle: duration("--settle", &settle)?,
                once,
                accept_gap,
            };
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())
                    .map_err(|e| Error::Internal(format!("cannot watch signals: {e}")))?;
            }
            let flag = stop.clone();
            let result = sync::run(ctx, &component, &opts, &move || flag.load(Ordering::SeqCst));
            ctx.events.flush();
            let end = result?;
            for (c, why) in &end.ended {
                println!("{c}: {why}");
            }
            println!(
                "sync: {} passes, {} business writes applied, {} gaps",
                end.passes, end.applied, end.gaps
            );
            Ok(if end.gaps > 0 {
                exit::VERIFY_FAILED
            } else {
                exit::OK
            })
        }
        SyncOp::Status { component, json } => status_cmd(ctx, &component, json),
        SyncOp::Stop { component } => {
            let done = sync::set_state(ctx, &component, SyncState::Stopped)?;
            println!("stopped: {}", done.join(", "));
            Ok(exit::OK)
        }
        SyncOp::Pause { component } => {
            let done = sync::set_state(ctx, &component, SyncState::Paused)?;
            println!("paused: {}", done.join(", "));
            Ok(exit::OK)
        }
        SyncOp::Resume { component } => {
            let done = sync::set_state(ctx, &component, SyncState::Running)?;
            println!("running: {}", done.join(", "));
            Ok(exit::OK)
        }
    }
}

fn status(ctx: &mut Ctx, components: &[String]) -> Result<Vec<sync::SyncStatus>> {
    ctx.components(components)?;
    Ok(sync::status(ctx, components)?)
}

fn status_cmd(ctx: &mut Ctx, components: &[String], json: bool) -> Result<i32> {
    let rows = status(ctx, components)?;
    let bad = rows.iter().any(|r| {
        matches!(r.record.state, SyncState::Failed { .. })
            || !r.record.gaps.is_empty()
            || r.lag_error.is_some()
    });
    if json {
        let mut v = crate::console::worded(|| serde_json::to_value(&rows))?;
        crate::console::word_json(&mut v);
        let text = serde_json::to_string_pretty(&v)?;
        println!("{}", ripcord_core::redact::scrub(&text));
    } else if rows.is_empty() {
        println!("no sync: `ripcord cutover -c C` starts one");
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "component",
            "state",
            "position",
            "lag (writes)",
            "lag (s)",
            "applied",
            "gaps",
            "running in",
        ]);
        for r in &rows {
            let (pos, lag_rows, lag_s) = match (&r.lag, &r.lag_error) {
                (Some(l), _) => (
                    l.position
                        .map_or("-".into(), |p| format!("#{p} of #{}", l.high)),
                    l.rows.to_string(),
                    format!("{:.1}", l.seconds),
                ),
                (None, Some(e)) => (format!("cannot measure: {e}"), "?".into(), "?".into()),
                (None, None) => (
                    r.record.position.map_or("-".into(), |p| format!("#{p}")),
                    "-".into(),
                    "-".into(),
                ),
            };
            t.add_row([
                r.record.component.clone(),
                r.record.state.to_string(),
                pos,
                lag_rows,
                lag_s,
                r.record.applied.to_string(),
                r.record.gaps.len().to_string(),
                r.runner.as_ref().map_or("no process".into(), |l| {
                    format!("pid {} on {}", l.holder.pid, l.holder.host)
                }),
            ]);
        }
        println!("{t}");
        for r in &rows {
            for g in &r.record.gaps {
                println!(
                    "GAP {} {} {} #{}: {}",
                    r.record.component,
                    g.table,
                    g.key,
                    g.seq,
                    crate::console::gap_reason(&g.cause)
                );
            }
        }
    }
    Ok(if bad { exit::VERIFY_FAILED } else { exit::OK })
}

#[derive(clap::Args, Debug)]
pub struct CutoverArgs {
    #[arg(short, long)]
    pub component: Vec<String>,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    /// With legacy frozen, how long to wait for the new side to match it before refusing.
    #[arg(long, default_value = "10s")]
    pub catch_up: String,
    /// Continue an interrupted cutover: the one named, or the newest unfinished one.
    #[arg(long, value_name = "CUTOVER", num_args = 0..=1)]
    pub resume: Option<Option<String>>,
    /// Give up an unfinished cutover whose switches have not moved (needs --reason):
    /// legacy is unfrozen.
    #[arg(long, value_name = "CUTOVER", conflicts_with = "resume")]
    pub abandon: Option<String>,
    /// Lift the fence a rollback left on the new side (needs -c and --reason), so it can
    /// be re-based from legacy before cutting over again. Only while every switch reads
    /// legacy; the next cutover's verify still proves both sides agree.
    #[arg(long, conflicts_with_all = ["resume", "abandon"])]
    pub unfence: bool,
    #[arg(long)]
    pub json: bool,
}

/// The `--reason` an audited action requires.
fn audited_reason(reason: &Option<String>) -> std::result::Result<String, Error> {
    reason
        .clone()
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            Error::Usage("say why with --reason \"…\" (it goes into the audit log)".into())
        })
}

pub fn cutover_cmd(ctx: &mut Ctx, a: CutoverArgs) -> Result<i32> {
    if a.unfence {
        let reason = audited_reason(&a.reason)?;
        if a.component.is_empty() {
            return Err(Error::Usage("--unfence: name the component(s) with -c".into()).into());
        }
        let thawed = cutover::unfence(ctx, &a.component, &reason)?;
        if thawed.is_empty() {
            println!("the new side was not fenced; nothing changed");
        } else {
            println!(
                "new side unfenced: {}. Traffic stays on legacy; bring the new side up to date from legacy, then `ripcord cutover -c {}`.",
                thawed.join(", "),
                a.component.join(" -c ")
            );
        }
        return Ok(exit::OK);
    }
    if let Some(id) = &a.abandon {
        let reason = audited_reason(&a.reason)?;
        let rec = cutover::abandon(ctx, id, &reason)?;
        println!(
            "cutover {} abandoned: legacy unfrozen, no switch moved",
            rec.id
        );
        return Ok(exit::STOPPED);
    }
    let rec = match a.resume {
        Some(id) => cutover::resume(ctx, id.as_deref())?,
        None => {
            let reason = audited_reason(&a.reason)?;
            let comps: Vec<String> = ctx
                .components(&a.component)?
                .into_iter()
                .map(|c| c.name)
                .collect();
            cutover::start(
                ctx,
                &CutoverRequest {
                    components: comps,
                    reason,
                    catch_up: duration("--catch-up", &a.catch_up)?,
                },
            )?
        }
    };
    ctx.events.flush();
    if a.json {
        let text = serde_json::to_string_pretty(&rec)?;
        println!("{}", ripcord_core::redact::scrub(&text));
    } else {
        println!("cutover {} of {}", rec.id, rec.components.join(", "));
        for c in &rec.checks {
            println!("  {c}");
        }
        for (p, s) in &rec.phase_times {
            println!("  {:<14} {:>8.3} s", p.name(), s);
        }
        println!(
            "  total {:.3} s",
            rec.phase_times.iter().map(|p| p.1).sum::<f64>()
        );
        println!(
            "Traffic is on the new side; legacy is frozen. Run `ripcord sync start` (or `ripcord watch`) to keep it current."
        );
    }
    Ok(match rec.status {
        CutoverStatus::Completed => exit::OK,
        _ => exit::VERIFY_FAILED,
    })
}
