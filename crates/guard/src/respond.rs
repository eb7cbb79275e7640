//! What follows a stop: the decision matrix picks rollback now, a wait for a named
//! approver (with a deadline after which the scenario's default applies) or fix forward;
//! after a rollback the business-continuity workflows must all pass before the run is
//! resolved. Every decision and approval is an event and an audit entry with its evidence.

use crate::probe::{Outcome, Prober};
use cel_interpreter::{Context, Program, Value};
use ripcord_core::context::{Connector, Ctx, new_id, now};
use ripcord_core::events::{ContinuityVerdict, Event};
use ripcord_core::plan::{Decision, Scenario, Workflow};
use ripcord_core::report::ContinuityResult;
use ripcord_core::rollback::{self, RollbackRecord};
use ripcord_core::run::{Stopped, now_ms};
use ripcord_core::state::DecisionRecord;
use ripcord_core::{Error, Result};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct Resolution {
    pub run: String,
    pub scenario: String,
    /// The decision that was carried out.
    pub decision: Decision,
    /// Who decided: `matrix`, an approver's name, or `deadline`.
    pub decided_by: String,
    pub rollback: Option<RollbackRecord>,
    pub continuity: Vec<ContinuityResult>,
    /// Rolled back with every continuity workflow passing, or fixed forward by decision.
    pub resolved: bool,
}

/// The scenario a stop falls under: the one it names, else `manual_stop`.
pub fn scenario_for<'a>(ctx: &'a Ctx, stopped: &Stopped) -> Result<&'a Scenario> {
    let name = stopped
        .request
        .scenario
        .clone()
        .unwrap_or_else(|| "manual_stop".into());
    ctx.plan.scenarios.get(&name).ok_or_else(|| {
        Error::Usage(format!(
            "scenario {name:?} is not in the decision matrix; known: {}",
            ctx.plan
                .scenarios
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

pub fn respond(
    ctx: &mut Ctx,
    connector: Arc<dyn Connector>,
    run: &str,
    stopped: &Stopped,
) -> Result<Resolution> {
    let sc = scenario_for(ctx, stopped)?.clone();
    let evidence = serde_json::json!({
        "stop": stopped, "scenario": sc,
    });
    ctx.emit(Event::DecisionMade {
        run: run.into(),
        scenario: sc.name.clone(),
        decision: sc.decision.name().into(),
        by: "matrix".into(),
        evidence: evidence.clone(),
    });
    ctx.audit(
        "guard.decision",
        serde_json::json!({"run": run, "scenario": sc.name, "severity": sc.severity, "decision": sc.decision, "evidence": evidence}),
        &format!(
            "{} ({:?} severity): {}",
            sc.name,
            sc.severity,
            sc.decision.name()
        ),
    )?;
    let (decision, by) = match sc.decision {
        Decision::Evaluate => wait_for_approval(ctx, run, &sc, &evidence)?,
        d => (d, "matrix".to_string()),
    };
    let mut res = Resolution {
        run: run.into(),
        scenario: sc.name.clone(),
        decision,
        decided_by: by.clone(),
        rollback: None,
        continuity: Vec::new(),
        resolved: false,
    };
    if decision != Decision::RollbackNow {
        res.resolved = true;
        ctx.state.finish_run(
            run,
            "fix_forward",
            &serde_json::json!({"stop": stopped, "scenario": sc.name, "decided_by": by}),
        )?;
        ctx.audit(
            "guard.fix_forward",
            serde_json::json!({"run": run, "scenario": sc.name, "decided_by": by}),
            "no rollback: fix forward",
        )?;
        return Ok(res);
    }
    let approver = match by.as_str() {
        "matrix" => format!("decision matrix ({}: rollback_now)", sc.name),
        "deadline" => format!("approval deadline ({}: {})", sc.name, sc.on_timeout.name()),
        name => name.to_string(),
    };
    let req = rollback::Request {
        components: stopped.components.clone(),
        to: None,
        reason: format!(
            "emergency stop of {run} by {}: {}",
            stopped.request.source, stopped.request.reason
        ),
        accept_uncaptured: false,
    };
    let rolled = rollback::start(ctx, &req, &mut |_| Some(approver.clone()));
    let mut rec = match rolled {
        Ok(r) => r,
        Err(e) => {
            ctx.state.finish_run(
                run,
                "rollback_failed",
                &serde_json::json!({"stop": stopped, "error": ripcord_core::redact::scrub(&e.to_string())}),
            )?;
            return Err(e);
        }
    };
    res.continuity = continuity(ctx, connector, run)?;
    let passed = res.continuity.iter().all(|c| c.ok);
    for c in &res.continuity {
        rec.notes
            .push(ripcord_core::rollback::RollbackNote::Continuity {
                workflow: c.workflow.clone(),
                ok: c.ok,
                verdict: c.verdict.clone(),
            });
    }
    ctx.state.save_rollback(&rec)?;
    res.resolved = rec.ok() && passed;
    let status = if res.resolved {
        "resolved"
    } else {
        "rolled_back_unresolved"
    };
    ctx.state.finish_run(
        run,
        status,
        &serde_json::json!({"stop": stopped, "scenario": sc.name, "decided_by": by,
            "rollback": rec.id, "continuity": res.continuity}),
    )?;
    ctx.audit(
        "guard.resolved",
        serde_json::json!({"run": run, "rollback": rec.id, "continuity": res.continuity}),
        status,
    )?;
    res.rollback = Some(rec);
    Ok(res)
}

/// Opens a decision for the scenario's approvers and waits for an answer or the deadline.
fn wait_for_approval(
    ctx: &mut Ctx,
    run: &str,
    sc: &Scenario,
    evidence: &serde_json::Value,
) -> Result<(Decision, String)> {
    let opened = now_ms();
    let deadline_ms = opened + sc.approval_timeout.as_millis() as i64;
    let deadline = chrono::DateTime::from_timestamp_millis(deadline_ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let d = DecisionRecord {
        id: new_id("dec"),
        run: run.into(),
        scenario: sc.name.clone(),
        proposal: Decision::RollbackNow.name().into(),
        approvers: sc.approvers.clone(),
        opened_at: now(),
        deadline: deadline.clone(),
        deadline_ms,
        status: "open".into(),
        answered_by: None,
        answered_at: None,
        evidence: evidence.clone(),
    };
    ctx.state.save_decision(&d)?;
    ctx.emit(Event::ApprovalRequested {
        run: run.into(),
        decision: d.id.clone(),
        scenario: sc.name.clone(),
        approvers: sc.approvers.clone(),
        deadline: deadline.clone(),
    });
    ctx.audit(
        "approval.request",
        serde_json::json!({"run": run, "decision": d.id, "scenario": sc.name, "approvers": sc.approvers, "deadline": deadline, "evidence": evidence}),
        &format!("waiting for approval of a rollback until {deadline}"),
    )?;
    let mut last_note = std::time::Instant::now();
    loop {
        let cur = ctx
            .state
            .decisions()?
            .into_iter()
            .find(|x| x.id == d.id)
            .ok_or_else(|| Error::State(format!("decision {} vanished", d.id)))?;
        match cur.status.as_str() {
            "approved" | "rejected" => {
                let by = cur.answered_by.unwrap_or_default();
                let approved = cur.status == "approved";
                ctx.emit(Event::ApprovalAnswered {
                    run: run.into(),
                    decision: d.id.clone(),
                    approved,
                    by: by.clone(),
                });
                let decision = if approved {
                    Decision::RollbackNow
                } else {
                    Decision::FixForward
                };
                return Ok((decision, by));
            }
            // Only the waiter expires a decision, and only if nobody answered first.
            "open"
                if now_ms() >= deadline_ms
                    && ctx.state.answer_decision(&d.id, "expired", "deadline")? =>
            {
                ctx.emit(Event::ApprovalAnswered {
                    run: run.into(),
                    decision: d.id.clone(),
                    approved: sc.on_timeout == Decision::RollbackNow,
                    by: "deadline".into(),
                });
                ctx.audit(
                        "approval.expired",
                        serde_json::json!({"run": run, "decision": d.id, "scenario": sc.name, "default": sc.on_timeout}),
                        &format!(
                            "nobody answered by {deadline}: the scenario's default {} applies",
                            sc.on_timeout.name()
                        ),
                    )?;
                return Ok((sc.on_timeout, "deadline".into()));
            }
            "open" => {}
            // Anything else would keep this loop waiting past every deadline.
            other => {
                return Err(Error::State(format!(
                    "decision {} for run {run} has status {other:?}, not open, approved or rejected",
                    d.id
                )));
            }
        }
        if last_note.elapsed() >= Duration::from_secs(5) {
            last_note = std::time::Instant::now();
            ctx.emit(Event::Waiting {
                what: ripcord_core::events::Operation::Approval {
                    decision: d.id.clone(),
                    scenario: sc.name.clone(),
                },
                remaining_seconds: (deadline_ms - now_ms()).max(0) as f64 / 1000.0,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs every continuity workflow (each with its retries) and records the results.
pub fn continuity(
    ctx: &mut Ctx,
    connector: Arc<dyn Connector>,
    run: &str,
) -> Result<Vec<ContinuityResult>> {
    let mut out = Vec::new();
    for w in ctx.plan.workflows.clone() {
        let probe = ctx.plan.probe(&w.probe).cloned().ok_or_else(|| {
            Error::Usage(format!("workflow {:?}: no probe {:?}", w.name, w.probe))
        })?;
        let mut prober = Prober::new(&probe, &ctx.plan, connector.clone());
        let mut result = ContinuityResult {
            workflow: w.name.clone(),
            ok: false,
            attempts: 0,
            verdict: ContinuityVerdict::Unmeasured {
                error: String::new(),
            },
        };
        for attempt in 1..=w.attempts {
            result.attempts = attempt;
            let (ok, verdict) = judge(&w, &prober.measure().outcome);
            result.ok = ok;
            result.verdict = verdict;
            if ok {
                break;
            }
            if attempt < w.attempts {
                std::thread::sleep(w.retry_delay);
            }
        }
        ctx.emit(Event::ContinuityChecked {
            run: run.into(),
            workflow: w.name.clone(),
            ok: result.ok,
            verdict: result.verdict.clone(),
        });
        ctx.audit(
            "guard.continuity",
            serde_json::json!({"run": run, "workflow": w.name, "probe": w.probe, "attempts": result.attempts, "verdict": result.verdict}),
            if result.ok { "passed" } else { "failed" },
        )?;
        out.push(result);
    }
    Ok(out)
}

/// What a continuity check found, in words: the console and the report (also the
/// rollback's continuity note) say it so.
pub fn verdict_text(v: &ContinuityVerdict) -> String {
    match v {
        ContinuityVerdict::Measured { value, detail } if detail.is_empty() => {
            format!("value {value}")
        }
        ContinuityVerdict::Measured { value, detail } => format!("value {value}, {detail}"),
        ContinuityVerdict::ExpectFailed { value, error } => format!("value {value}: {error}"),
        ContinuityVerdict::Unmeasured { error } => format!("could not measure: {error}"),
        ContinuityVerdict::Described { detail } => detail.clone(),
    }
}

fn judge(w: &Workflow, o: &Outcome) -> (bool, ContinuityVerdict) {
    match o {
        Outcome::Unmeasured { reason } => (
            false,
            ContinuityVerdict::Unmeasured {
                error: reason.clone(),
            },
        ),
        Outcome::Measured { value, ok, detail } => {
            let verdict = match &w.expect {
                None => Ok(*ok),
                Some(expr) => Program::compile(expr)
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        let mut c = Context::default();
                        c.add_variable_from_value("value", Value::Float(*value));
                        c.add_variable_from_value("ok", Value::Bool(*ok));
                        match p.execute(&c) {
                            Ok(Value::Bool(b)) => Ok(b),
                            Ok(v) => Err(format!("expect gave {v:?}, not a bool")),
                            Err(e) => Err(e.to_string()),
                        }
                    }),
            };
            match verdict {
                Ok(b) => (
                    b,
                    ContinuityVerdict::Measured {
                        value: *value,
                        detail: detail.clone(),
                    },
                ),
                Err(error) => (
                    false,
                    ContinuityVerdict::ExpectFailed {
                        value: *value,
                        error,
                    },
                ),
            }
        }
    }
}
