//! `ripcord run`: a checkpoint first, then the plan's steps in order, each recorded; on a
//! failed step, verify or invariant, stop and say how to roll back.

use crate::checkpoint;
use crate::context::{Ctx, new_id};
use crate::engine::Engine;
use crate::events::Event;
use crate::journal::Origin;
use crate::plan::{Action, Step};
use crate::verify;
use crate::{Error, Result};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RunOutcome {
    pub run: String,
    pub checkpoint: String,
    pub steps_done: Vec<String>,
}

pub fn run(ctx: &mut Ctx) -> Result<RunOutcome> {
    if ctx.plan.steps.is_empty() {
        return Err(Error::Usage("the plan has no [[steps]] to run".into()));
    }
    let run = new_id("run");
    ctx.state.create_run(
        &run,
        &ctx.actor,
        &serde_json::json!({"steps": ctx.plan.steps.iter().map(|s| &s.name).collect::<Vec<_>>()}),
    )?;
    ctx.audit("run.start", serde_json::json!({"run": run}), "started")?;
    ctx.emit(Event::RunStarted { run: run.clone() });
    let comps: Vec<String> = ctx.plan.components.iter().map(|c| c.name.clone()).collect();
    let cp = checkpoint::take(ctx, &comps)?;
    let mut done = Vec::new();
    let steps = ctx.plan.steps.clone();
    for step in &steps {
        ctx.emit(Event::StepStarted {
            run: run.clone(),
            step: step.name.clone(),
        });
        let t = Instant::now();
        let result = run_step(ctx, step);
        let secs = t.elapsed().as_secs_f64();
        let (ok, detail) = match &result {
            Ok(d) => (true, d.clone()),
            Err(e) => (false, crate::redact::scrub(&e.to_string())),
        };
        ctx.emit(Event::StepFinished {
            run: run.clone(),
            step: step.name.clone(),
            ok,
            detail: detail.clone(),
            seconds: secs,
        });
        ctx.audit(
            "step",
            serde_json::json!({"run": run, "step": step.name}),
            &if ok {
                format!("ok: {detail}")
            } else {
                format!("failed: {detail}")
            },
        )?;
        if !ok {
            let affected: Vec<String> = step.component.iter().cloned().collect();
            let how = match affected.first() {
                Some(c) => format!(
                    "roll back with: ripcord rollback -c {c} --reason \"step {} failed\"",
                    step.name
                ),
                None => "roll back with: ripcord rollback --reason \"…\"".into(),
            };
            ctx.state.finish_run(
                &run,
                "stopped",
                &serde_json::json!({"failed_step": step.name, "error": detail}),
            )?;
            ctx.emit(Event::RunStopped {
                run: run.clone(),
                reason: detail.clone(),
                components: affected,
            });
            return Err(Error::Stopped(format!(
                "step {:?} failed: {detail}\n{how}",
                step.name
            )));
        }
        done.push(step.name.clone());
    }
    ctx.state
        .finish_run(&run, "completed", &serde_json::json!({"steps": done}))?;
    ctx.audit("run.finish", serde_json::json!({"run": run}), "completed")?;
    Ok(RunOutcome {
        run,
        checkpoint: cp.id.0,
        steps_done: done,
    })
}

fn run_step(ctx: &mut Ctx, step: &Step) -> Result<String> {
    let mut engine = ctx.engine(&step.database)?;
    perform(
        engine.as_mut(),
        &step.forward,
        step.timeout,
        Origin::Migration,
    )?;
    // The step may have changed table shapes: reinstall capture so the triggers match.
    if let Some(c) = step
        .component
        .as_ref()
        .and_then(|c| ctx.plan.component(c))
        .cloned()
    {
        checkpoint::ensure_capture(ctx, &c)?;
    }
    if let Some(v) = &step.verify {
        match v {
            Action::Sql(sql) => {
                let val = engine.query_scalar(sql)?;
                if !truthy(&val) {
                    return Err(Error::Verify(format!("verify query returned {val}")));
                }
            }
            Action::Command(_) => perform(engine.as_mut(), v, step.timeout, Origin::Migration)?,
        }
    }
    if let Some(c) = step
        .component
        .as_ref()
        .and_then(|c| ctx.plan.component(c))
        .cloned()
    {
        let results = verify::invariants(ctx, engine.as_mut(), &c)?;
        if let Some(bad) = results.iter().find(|r| !r.ok) {
            return Err(Error::Verify(format!(
                "invariant {:?} broken: {}",
                bad.name, bad.detail
            )));
        }
    }
    Ok("done".into())
}

fn truthy(v: &crate::value::Value) -> bool {
    use crate::value::Value::*;
    match v {
        Null => false,
        Bool(b) => *b,
        Int(i) => *i != 0,
        Float(f) => *f != 0.0,
        Decimal(d) | Text(d) => !matches!(d.trim(), "" | "0" | "f" | "false"),
        Blob(b) => !b.is_empty(),
    }
}

/// Runs one action: SQL through the engine (cancelled at the timeout), or a shell command
/// in its own process group (killed at the timeout).
pub fn perform(
    engine: &mut dyn Engine,
    action: &Action,
    timeout: Duration,
    origin: Origin,
) -> Result<()> {
    match action {
        Action::Sql(sql) => {
            let cancel = engine.cancel_handle();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let guard = std::thread::spawn(move || {
                if rx.recv_timeout(timeout).is_err() {
                    cancel.cancel();
                }
            });
            let r = engine.execute(sql, origin);
            let _ = tx.send(());
            let _ = guard.join();
            r.map_err(|e| match e {
                crate::engine::EngineError::Cancelled => Error::Stopped(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                )),
                e => e.into(),
            })
        }
        Action::Command(cmd) => {
            use std::os::unix::process::CommandExt;
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .env("RIPCORD_ORIGIN", origin.as_str())
                .process_group(0)
                .spawn()
                .map_err(|e| Error::Internal(format!("cannot start command: {e}")))?;
            let t = Instant::now();
            loop {
                if let Some(status) = child
                    .try_wait()
                    .map_err(|e| Error::Internal(e.to_string()))?
                {
                    return if status.success() {
                        Ok(())
                    } else {
                        Err(Error::Verify(format!("command exited with {status}")))
                    };
                }
                if t.elapsed() > timeout {
                    // SAFETY: signalling the process group we created for the child.
                    unsafe {
                        libc::kill(-(child.id() as i32), libc::SIGKILL);
                    }
                    let _ = child.wait();
                    return Err(Error::Stopped(format!(
                        "command timed out after {}",
                        humantime::format_duration(timeout)
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
