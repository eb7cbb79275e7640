//! The guard's commands: `run` under guard, `baseline`, `watch`, `status`, `stop`,
//! `approve` and `reject`.

use crate::cli::Command;
use crate::commands::Engines;
use anyhow::Result;
use comfy_table::Table;
use ripcord_core::context::Ctx;
use ripcord_core::{Error, exit};
use ripcord_guard::respond::Resolution;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn table() -> Table {
    crate::render::table()
}

/// `ripcord run`: the steps under guard.
pub fn run(ctx: &mut Ctx) -> Result<i32> {
    let _notifier = crate::notify_cmd::Background::start(ctx)?;
    let g = ripcord_guard::run(ctx, Arc::new(Engines), true)?;
    ctx.events.flush();
    let o = &g.outcome;
    let Some(s) = &o.stopped else {
        println!(
            "run {} completed: {} steps after checkpoint {}",
            o.run,
            o.steps_done.len(),
            o.checkpoint
        );
        return Ok(exit::OK);
    };
    println!(
        "run {} STOPPED by {}: {}",
        o.run, s.request.source, s.request.reason
    );
    if let (Some(step), Some(ms)) = (&s.step, s.cancelled_after_ms) {
        println!("step {step:?} cancelled {ms:.0} ms after the stop request");
    }
    Ok(resolution(g.resolution.as_ref()))
}

fn resolution(r: Option<&Resolution>) -> i32 {
    let Some(r) = r else {
        return exit::STOPPED;
    };
    println!(
        "decision: {} for scenario {} (by {})",
        r.decision.name(),
        r.scenario,
        r.decided_by
    );
    if let Some(rb) = &r.rollback {
        println!("{}", crate::render::rollback_record_markdown(rb));
        println!("{}", crate::render::continuity_markdown(&r.continuity));
    }
    if r.resolved {
        exit::STOPPED
    } else {
        exit::VERIFY_FAILED
    }
}

pub fn dispatch(ctx: &mut Ctx, cmd: Command) -> Result<i32> {
    match cmd {
        Command::Baseline { samples } => baseline(ctx, samples),
        Command::Watch { for_ } => {
            let for_ = for_
                .map(|f| {
                    humantime::parse_duration(&f).map_err(|e| {
                        Error::Usage(format!(
                            "--for {f:?} is not a duration ({e}); write e.g. 30m"
                        ))
                    })
                })
                .transpose()?;
            let _notifier = crate::notify_cmd::Background::start(ctx)?;
            let watched = ripcord_guard::watch(ctx, Arc::new(Engines), for_, true)?;
            ctx.events.flush();
            match watched {
                None => {
                    println!("watch finished: no stop");
                    Ok(exit::OK)
                }
                Some((s, r)) => {
                    println!(
                        "watch STOPPED by {}: {}",
                        s.request.source, s.request.reason
                    );
                    Ok(resolution(Some(&r)))
                }
            }
        }
        Command::Status { json } => status(ctx, json),
        Command::Stop {
            reason,
            scenario,
            no_rollback,
            wait,
        } => {
            // Halting without a rollback is a scenario of the matrix like any other, so the
            // running guard, the audit log and the report treat it the same way.
            let scenario = if no_rollback {
                Some("manual_halt".to_string())
            } else {
                scenario
            };
            stop(ctx, reason, scenario, wait)
        }
        Command::Approve { run } => answer(ctx, &run, true),
        Command::Reject { run } => answer(ctx, &run, false),
        _ => unreachable!("only guard commands are dispatched here"),
    }
}

fn baseline(ctx: &mut Ctx, samples: Option<usize>) -> Result<i32> {
    let pinned = ripcord_guard::baseline::take(ctx, Arc::new(Engines), samples)?;
    ctx.events.flush();
    let mut t = table();
    t.set_header(["probe", "samples", "could not measure", "median", "p95"]);
    for b in pinned {
        t.add_row([
            b.probe,
            b.samples.len().to_string(),
            b.errors.to_string(),
            format!("{:.3}", b.median),
            format!("{:.3}", b.p95),
        ]);
    }
    println!("{t}");
    println!("baseline pinned in the state store");
    Ok(exit::OK)
}

fn status(ctx: &mut Ctx, json: bool) -> Result<i32> {
    let overview = ripcord_core::status::overview(ctx, chrono::Utc::now())?;
    let s = ripcord_guard::status(ctx)?;
    ctx.events.flush();
    if json {
        let mut v = serde_json::to_value(&s)?;
        if let (Some(obj), serde_json::Value::Object(more)) =
            (v.as_object_mut(), serde_json::to_value(&overview)?)
        {
            obj.extend(more);
        }
        crate::console::word_json(&mut v);
        let text = serde_json::to_string_pretty(&v)?;
        println!("{}", ripcord_core::redact::scrub(&text));
        return Ok(exit::OK);
    }
    print_overview(&overview);
    println!(
        "level {}{}",
        s.level.to_uppercase(),
        if s.live {
            format!(
                " (live, {} {})",
                s.mode.as_deref().unwrap_or_default(),
                s.updated_at.as_deref().unwrap_or_default()
            )
        } else {
            " (no guard running; last known)".into()
        }
    );
    if let Some(r) = &s.run {
        println!(
            "run {} {} (started {} by {})",
            r.id, r.status, r.started_at, r.actor
        );
    }
    // A plan without probes or rules has no guard tables to show.
    if !s.probes.is_empty() {
        let mut t = table();
        t.set_header(["probe", "tier", "last", "baseline median / p95", "trend"]);
        for p in &s.probes {
            use ripcord_core::status::ProbeOutcome;
            let last = match p.last.as_ref().map(|l| &l.outcome) {
                Some(ProbeOutcome::Measured { value, ok, .. }) => {
                    format!("{value} {}", if *ok { "ok" } else { "NOT OK" })
                }
                Some(ProbeOutcome::Unmeasured { reason }) => format!("could not measure: {reason}"),
                None => "—".into(),
            };
            let base = match &p.baseline {
                Some(b) => format!("{} / {}", b.median, b.p95),
                None => "none".into(),
            };
            t.add_row([
                p.name.clone(),
                p.tier.name().to_string(),
                last,
                base,
                p.trend
                    .as_ref()
                    .map(|t| t.message.clone())
                    .unwrap_or_default(),
            ]);
        }
        println!("{t}");
    }
    if !s.rules.is_empty() {
        let mut r = table();
        r.set_header(["rule", "level", "status", "detail"]);
        for x in &s.rules {
            r.add_row([
                x.name.clone(),
                x.level.name().to_string(),
                x.status.name().to_string(),
                x.why
                    .as_ref()
                    .map(crate::console::rule_detail)
                    .unwrap_or_default(),
            ]);
        }
        println!("{r}");
    }
    for d in &s.open_decisions {
        println!(
            "OPEN DECISION {} for run {}: {} ({}) until {} — ripcord approve|reject {} --as NAME",
            d.id, d.run, d.proposal, d.scenario, d.deadline, d.run,
        );
    }
    Ok(exit::OK)
}

/// Capture per table, the newest checkpoint, unfinished rollbacks and locks.
fn print_overview(o: &ripcord_core::status::Overview) {
    let term = crate::render::Term::detect();
    match &o.newest_checkpoint {
        None => println!(
            "{}",
            term.paint("no checkpoint yet: ripcord checkpoint", false)
        ),
        Some(c) => {
            let age = c.age_seconds.map(ripcord_core::check::age_words);
            let fresh = c.age_seconds.is_some_and(|a| a <= c.limit_seconds);
            let line = format!(
                "newest checkpoint {} ({}), {} old (limit {})",
                c.id,
                c.components.join(", "),
                age.as_deref().unwrap_or("?"),
                ripcord_core::check::age_words(c.limit_seconds)
            );
            println!("{}", term.paint(&line, fresh));
        }
    }
    let mut t = term.table();
    t.set_header(["component", "database", "table", "capture", "frozen"]);
    for c in &o.capture {
        t.add_row(vec![
            comfy_table::Cell::new(&c.component),
            comfy_table::Cell::new(&c.database),
            comfy_table::Cell::new(&c.table),
            term.cell(if c.capture { "on" } else { "off" }, Some(c.capture)),
            term.cell(if c.frozen { "FROZEN" } else { "" }, Some(!c.frozen)),
        ]);
    }
    for u in &o.unreachable {
        t.add_row(vec![
            comfy_table::Cell::new(&u.component),
            comfy_table::Cell::new(&u.database),
            comfy_table::Cell::new("*"),
            term.cell(format!("cannot ask: {}", u.error), Some(false)),
            comfy_table::Cell::new(""),
        ]);
    }
    println!("{t}");
    for r in &o.unfinished_rollbacks {
        println!(
            "{}",
            term.paint(
                &format!(
                    "UNFINISHED rollback {} ({}) in {}: ripcord rollback --resume {} or --abandon {} --reason \"…\"",
                    r.id,
                    r.components.join(", "),
                    r.phase.as_deref().unwrap_or("its last phase"),
                    r.id,
                    r.id
                ),
                false
            )
        );
    }
    if !o.syncs.is_empty() {
        let mut t = term.table();
        t.set_header([
            "sync",
            "state",
            "position",
            "lag (writes)",
            "lag (s)",
            "gaps",
            "runner",
        ]);
        for s in &o.syncs {
            let item = ripcord_core::check::sync_item(s);
            let ok = item.status == ripcord_core::check::ItemStatus::Go;
            t.add_row(vec![
                comfy_table::Cell::new(&s.component),
                term.cell(s.state.to_string(), Some(ok)),
                comfy_table::Cell::new(match (s.position, s.high) {
                    (Some(p), Some(h)) => format!("#{p} of #{h}"),
                    (Some(p), None) => format!("#{p}"),
                    (None, _) => "-".into(),
                }),
                comfy_table::Cell::new(s.lag_rows.map_or("-".into(), |n| n.to_string())),
                comfy_table::Cell::new(s.lag_seconds.map_or("-".into(), |x| format!("{x:.1}"))),
                term.cell(s.gaps.to_string(), Some(s.gaps == 0)),
                term.cell(
                    match (&s.runner, s.runner_alive) {
                        (Some(l), true) => format!("pid {} on {}", l.holder.pid, l.holder.host),
                        (Some(l), false) => {
                            format!("GONE (pid {} on {})", l.holder.pid, l.holder.host)
                        }
                        (None, _) if s.should_run => "NONE".into(),
                        (None, _) => "-".into(),
                    },
                    Some(s.runner_alive || !s.should_run),
                ),
            ]);
        }
        println!("{t}");
        for s in &o.syncs {
            if let Some(e) = &s.lag_error {
                println!(
                    "{}",
                    term.paint(
                        &format!("sync {}: lag cannot be measured: {e}", s.component),
                        false
                    )
                );
            }
        }
    }
    if !o.switches.is_empty() {
        let mut t = term.table();
        t.set_header(["switch", "component", "kind", "reads", "ripcord put it at"]);
        for w in &o.switches {
            t.add_row(vec![
                comfy_table::Cell::new(&w.name),
                comfy_table::Cell::new(&w.component),
                comfy_table::Cell::new(&w.kind),
                term.cell(
                    match (&w.position, &w.read_error, &w.pending) {
                        (_, _, Some(p)) => format!("UNFINISHED flip to {p}"),
                        (Some(p), _, _) => p.to_string(),
                        (None, Some(e), _) => format!("cannot read: {e}"),
                        (None, None, _) => "?".into(),
                    },
                    Some(w.agrees),
                ),
                comfy_table::Cell::new(
                    w.persisted
                        .as_ref()
                        .map_or("legacy (never flipped)".into(), |p| p.to_string()),
                ),
            ]);
        }
        println!("{t}");
    }
    for l in &o.locks {
        println!("{}", term.paint(&format!("LOCK {l}"), false));
    }
}

/// Records a stop request for the running `run` or `watch` to pick up, audited as
/// `stop.request` (the CLI's `ripcord stop` and the dashboard's button both come here).
pub fn request_stop(
    ctx: &mut Ctx,
    reason: Option<String>,
    scenario: Option<String>,
    via: &str,
) -> Result<ripcord_core::state::StopRecord> {
    let Some(reason) = reason.filter(|r| !r.trim().is_empty()) else {
        return Err(Error::Usage(
            "say why with --reason \"…\" (it goes into the audit log and the report)".into(),
        )
        .into());
    };
    if let Some(s) = &scenario
        && !ctx.plan.scenarios.contains_key(s)
    {
        return Err(Error::Usage(format!(
            "--scenario {s:?} is not in the decision matrix; known: {}",
            ctx.plan
                .scenarios
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let actor = ctx.actor.clone();
    let req = ctx
        .state
        .request_stop(&actor, &reason, scenario.as_deref())?;
    ctx.audit(
        "stop.request",
        serde_json::json!({"request": req.id, "reason": reason, "scenario": scenario, "via": via}),
        "requested",
    )?;
    Ok(req)
}

fn stop(ctx: &mut Ctx, reason: Option<String>, scenario: Option<String>, wait: f64) -> Result<i32> {
    let req = request_stop(ctx, reason, scenario, "cli")?;
    eprintln!(
        "stop #{} requested; waiting for the running ripcord to act …",
        req.id
    );
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < wait {
        if let Some(r) = ctx
            .state
            .stop_requests_after(req.id - 1)?
            .into_iter()
            .find(|r| r.id == req.id && r.handled_at.is_some())
        {
            println!("{}", r.outcome.unwrap_or_default());
            return Ok(exit::OK);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "no running `ripcord run` or `ripcord watch` picked up stop #{} within {wait} s; nothing was stopped (the request is recorded in the audit log)",
        req.id
    );
    Ok(exit::INTERNAL)
}

fn answer(ctx: &mut Ctx, run: &str, approve: bool) -> Result<i32> {
    println!("{}", answer_decision(ctx, run, approve, "cli")?);
    Ok(exit::OK)
}

/// Approves or rejects the open decision of a run (or the decision with that id) as
/// `ctx.actor`, audited as `approval.approve`/`approval.reject`; says what was done.
pub fn answer_decision(ctx: &mut Ctx, run: &str, approve: bool, via: &str) -> Result<String> {
    let open: Vec<_> = ctx
        .state
        .decisions()?
        .into_iter()
        .filter(|d| d.status == "open")
        .collect();
    let known = || {
        let runs: Vec<&str> = open.iter().map(|d| d.run.as_str()).collect();
        if runs.is_empty() {
            String::new()
        } else {
            format!("; runs waiting: {}", runs.join(", "))
        }
    };
    // An exact run or decision id wins; a prefix must name one decision, or an approval
    // could roll back a run the approver did not mean.
    let exact: Vec<_> = open
        .iter()
        .filter(|d| d.run == run || d.id == run)
        .collect();
    let matching = if exact.is_empty() {
        open.iter().filter(|d| d.run.starts_with(run)).collect()
    } else {
        exact
    };
    let d = match matching.as_slice() {
        [d] => (*d).clone(),
        [] => {
            return Err(
                Error::Usage(format!("run {run:?} has no open decision{}", known())).into(),
            );
        }
        _ => {
            return Err(Error::Usage(format!(
                "{run:?} names more than one open decision; give the whole run id{}",
                known()
            ))
            .into());
        }
    };
    if ripcord_core::run::now_ms() >= d.deadline_ms {
        return Err(Error::Usage(format!(
            "decision {} for run {} passed its deadline {}: the scenario's default applies",
            d.id, d.run, d.deadline
        ))
        .into());
    }
    let who = ctx.actor.clone();
    if !d.approvers.is_empty() && !d.approvers.contains(&who) {
        return Err(Error::Usage(format!(
            "{who:?} is not an approver for scenario {}; approvers: {} (pass --as NAME)",
            d.scenario,
            d.approvers.join(", ")
        ))
        .into());
    }
    let status = if approve { "approved" } else { "rejected" };
    let took = ctx.state.answer_decision(&d.id, status, &who)?;
    ctx.audit(
        if approve {
            "approval.approve"
        } else {
            "approval.reject"
        },
        serde_json::json!({"run": d.run, "decision": d.id, "scenario": d.scenario, "via": via}),
        if took {
            status
        } else {
            "too late: the decision was no longer open"
        },
    )?;
    if !took {
        return Err(Error::Usage(format!(
            "decision {} is no longer open (answered or past its deadline)",
            d.id
        ))
        .into());
    }
    Ok(format!(
        "{} the rollback of run {} ({}) as {who}",
        if approve { "approved" } else { "rejected" },
        d.run,
        d.scenario
    ))
}
