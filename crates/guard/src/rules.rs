//! Rules: a CEL expression over the latest probe values and the pinned baselines, held
//! `for` a duration, with failure, consecutive-error and inconclusive limits in the spirit
//! of Argo Rollouts' analysis.

use crate::probe::{Outcome, Sample};
use cel_interpreter::{Context, Program, Value};
use ripcord_core::events::RuleProblem;
use ripcord_core::plan::{Level, Rule};
use ripcord_core::state::BaselineRecord;
use serde::Serialize;
use std::collections::HashMap;

/// One evaluation of a rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Eval {
    /// The bad condition holds.
    Breach,
    Clear,
    /// A probe the rule reads could not be measured.
    Error(RuleProblem),
    /// The expression could not be decided (no baseline, not a bool, an evaluation error).
    Inconclusive(RuleProblem),
    /// A probe the rule reads has no sample yet.
    Pending,
}

pub struct Compiled {
    pub rule: Rule,
    program: Program,
}

impl Compiled {
    pub fn new(rule: &Rule) -> Result<Self, String> {
        let program =
            Program::compile(&rule.when).map_err(|e| format!("rule {:?}: {e}", rule.name))?;
        Ok(Compiled {
            rule: rule.clone(),
            program,
        })
    }

    /// Evaluates the rule on the latest samples; also returns the evidence (the values,
    /// baselines and expression it looked at).
    pub fn evaluate(
        &self,
        latest: &HashMap<String, Sample>,
        baselines: &HashMap<String, BaselineRecord>,
    ) -> (Eval, serde_json::Value) {
        let mut values = serde_json::Map::new();
        let mut base = serde_json::Map::new();
        let mut ctx = Context::default();
        let mut ok = HashMap::new();
        let mut base_map: HashMap<String, Value> = HashMap::new();
        let mut problem = None;
        for p in &self.rule.probes {
            match latest.get(p) {
                None => {
                    problem.get_or_insert(Eval::Pending);
                }
                Some(s) => match &s.outcome {
                    Outcome::Measured { value, ok: o, .. } => {
                        values.insert(p.clone(), serde_json::json!(value));
                        ctx.add_variable_from_value(p.clone(), Value::Float(*value));
                        ok.insert(p.clone(), Value::Bool(*o));
                    }
                    Outcome::Unmeasured { reason } => {
                        values.insert(p.clone(), serde_json::json!({"could_not_measure": reason}));
                        if !matches!(problem, Some(Eval::Error(_))) {
                            problem = Some(Eval::Error(RuleProblem::Unmeasured {
                                probe: p.clone(),
                                error: reason.clone(),
                            }));
                        }
                    }
                },
            }
            match baselines.get(p) {
                Some(b) => {
                    base.insert(
                        p.clone(),
                        serde_json::json!({"median": b.median, "p95": b.p95, "n": b.samples.len()}),
                    );
                    let m: HashMap<String, Value> = [
                        ("median".to_string(), Value::Float(b.median)),
                        ("p95".to_string(), Value::Float(b.p95)),
                        ("n".to_string(), Value::Int(b.samples.len() as i64)),
                    ]
                    .into_iter()
                    .collect();
                    base_map.insert(p.clone(), m.into());
                }
                None if self.rule.uses_baseline && problem.is_none() => {
                    problem = Some(Eval::Inconclusive(RuleProblem::NoBaseline {
                        probe: p.clone(),
                    }));
                }
                None => {}
            }
        }
        let evidence = serde_json::json!({
            "rule": self.rule.name, "when": self.rule.when, "values": values, "baseline": base,
        });
        if let Some(p) = problem {
            return (p, evidence);
        }
        ctx.add_variable_from_value("ok", ok);
        ctx.add_variable_from_value("baseline", base_map);
        let eval = match self.program.execute(&ctx) {
            Ok(Value::Bool(true)) => Eval::Breach,
            Ok(Value::Bool(false)) => Eval::Clear,
            Ok(other) => Eval::Inconclusive(RuleProblem::NotBool {
                value: format!("{other:?}"),
            }),
            Err(e) => Eval::Inconclusive(RuleProblem::Failed {
                error: e.to_string(),
            }),
        };
        (eval, evidence)
    }
}

pub use ripcord_core::status::{RuleDetail, RuleStatus};

/// Why a rule could not be measured or decided, in words: the guard's status and the
/// console's level lines both say it so.
pub fn problem_text(p: &RuleProblem) -> String {
    match p {
        RuleProblem::Unmeasured { probe, error } => format!("{probe}: {error}"),
        RuleProblem::NoBaseline { probe } => {
            format!("no baseline for {probe}: run `ripcord baseline` before the migration")
        }
        RuleProblem::NotBool { value } => format!("the expression gave {value}, not a bool"),
        RuleProblem::Failed { error } => format!("the expression failed: {error}"),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleState {
    pub name: String,
    pub level: Level,
    pub status: RuleStatus,
    /// Wall-clock ms of the first breaching sample of the current streak.
    pub breach_since_ms: Option<i64>,
    /// Breaching samples seen in all.
    pub failures: u32,
    pub consecutive_errors: u32,
    pub inconclusive: u32,
    pub detail: Option<RuleDetail>,
    /// When a breach streak stopped being measurable: the `for` clock is paused from
    /// here until the next breaching sample.
    #[serde(skip)]
    paused_at_ms: Option<i64>,
}

impl RuleState {
    /// What `ripcord status` shows of it.
    pub fn view(&self) -> ripcord_core::status::RuleView {
        ripcord_core::status::RuleView {
            name: self.name.clone(),
            level: self.level,
            status: self.status,
            breach_since_ms: self.breach_since_ms,
            failures: self.failures,
            consecutive_errors: self.consecutive_errors,
            inconclusive: self.inconclusive,
            why: self.detail.clone(),
        }
    }

    pub fn new(rule: &Rule) -> Self {
        RuleState {
            name: rule.name.clone(),
            level: Level::Green,
            status: RuleStatus::Pending,
            breach_since_ms: None,
            failures: 0,
            consecutive_errors: 0,
            inconclusive: 0,
            detail: None,
            paused_at_ms: None,
        }
    }

    /// Takes one evaluation at `now_ms`; returns the rule's new level.
    pub fn update(&mut self, rule: &Rule, eval: &Eval, now_ms: i64) -> Level {
        match eval {
            Eval::Pending => {}
            Eval::Breach => {
                self.consecutive_errors = 0;
                self.inconclusive = 0;
                self.failures += 1;
                // Samples that could not be measured neither count towards `for` nor
                // restart it: move the streak's start past the unmeasured stretch.
                if let (Some(since), Some(paused)) =
                    (self.breach_since_ms.as_mut(), self.paused_at_ms.take())
                {
                    *since += (now_ms - paused).max(0);
                }
                let since = *self.breach_since_ms.get_or_insert(now_ms);
                let held = (now_ms - since).max(0) as u128;
                let fire = held >= rule.hold.as_millis()
                    || rule.failure_limit.is_some_and(|l| self.failures > l);
                if fire {
                    self.status = RuleStatus::Firing;
                    self.level = rule.level;
                    self.detail = Some(RuleDetail::Held {
                        held_ms: held as u64,
                        failures: self.failures,
                    });
                } else if self.status != RuleStatus::Firing {
                    self.status = RuleStatus::Breaching;
                    // Measurable again: an `error_level` raised by errors no longer holds.
                    self.level = Level::Green;
                    self.detail = Some(RuleDetail::Breaching {
                        held_ms: held as u64,
                        hold_ms: rule.hold.as_millis() as u64,
                    });
                }
            }
            Eval::Clear => {
                self.consecutive_errors = 0;
                self.inconclusive = 0;
                self.breach_since_ms = None;
                self.paused_at_ms = None;
                self.status = RuleStatus::Ok;
                self.level = Level::Green;
                self.detail = None;
            }
            Eval::Error(reason) => {
                // Neither a breach nor a clear: the `for` clock neither restarts nor counts
                // this sample, and a firing rule stays firing.
                self.pause(now_ms);
                self.consecutive_errors += 1;
                if self.status != RuleStatus::Firing
                    && self.consecutive_errors > rule.consecutive_error_limit
                {
                    self.status = RuleStatus::CouldNotMeasure;
                    self.level = self.level.max(rule.error_level);
                    self.detail = Some(RuleDetail::CouldNotMeasure {
                        times: self.consecutive_errors,
                        problem: reason.clone(),
                    });
                }
            }
            Eval::Inconclusive(reason) => {
                self.pause(now_ms);
                self.inconclusive += 1;
                if self.status != RuleStatus::Firing && self.inconclusive > rule.inconclusive_limit
                {
                    self.status = RuleStatus::Inconclusive;
                    self.level = self.level.max(rule.error_level);
                    self.detail = Some(RuleDetail::Inconclusive {
                        times: self.inconclusive,
                        problem: reason.clone(),
                    });
                }
            }
        }
        self.level
    }

    fn pause(&mut self, now_ms: i64) {
        if self.breach_since_ms.is_some() && self.paused_at_ms.is_none() {
            self.paused_at_ms = Some(now_ms);
        }
    }

    /// After a confirming re-check did not confirm: start the `for` clock (and the error
    /// counts) again.
    pub fn reset(&mut self) {
        self.breach_since_ms = None;
        self.paused_at_ms = None;
        self.consecutive_errors = 0;
        self.inconclusive = 0;
        self.status = RuleStatus::Ok;
        self.level = Level::Green;
        self.detail = Some(RuleDetail::NotConfirmed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rule(hold_ms: u64) -> Rule {
        Rule {
            name: "slow".into(),
            when: "lat > 10.0 * baseline.lat.p95".into(),
            probes: vec!["lat".into()],
            uses_baseline: true,
            hold: Duration::from_millis(hold_ms),
            level: Level::Red,
            scenario: None,
            components: vec![],
            failure_limit: None,
            consecutive_error_limit: 2,
            inconclusive_limit: 0,
            error_level: Level::Yellow,
            trigger: None,
            fallback: None,
        }
    }

    fn sample(v: Option<f64>) -> HashMap<String, Sample> {
        let outcome = match v {
            Some(value) => Outcome::Measured {
                value,
                ok: true,
                detail: String::new(),
            },
            None => Outcome::Unmeasured {
                reason: "connection refused".into(),
            },
        };
        [(
            "lat".to_string(),
            Sample {
                probe: "lat".into(),
                at_ms: 0,
                outcome,
            },
        )]
        .into_iter()
        .collect()
    }

    fn base() -> HashMap<String, BaselineRecord> {
        [(
            "lat".to_string(),
            BaselineRecord {
                probe: "lat".into(),
                taken_at: String::new(),
                samples: vec![9.0, 10.0, 11.0],
                errors: 0,
                median: 10.0,
                p95: 11.0,
            },
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn expressions_read_values_and_baselines() {
        let c = Compiled::new(&rule(0)).unwrap();
        assert_eq!(c.evaluate(&sample(Some(111.0)), &base()).0, Eval::Breach);
        assert_eq!(c.evaluate(&sample(Some(109.0)), &base()).0, Eval::Clear);
        assert!(matches!(
            c.evaluate(&sample(Some(1.0)), &HashMap::new()).0,
            Eval::Inconclusive(_)
        ));
        assert!(matches!(
            c.evaluate(&sample(None), &base()).0,
            Eval::Error(_)
        ));
        assert_eq!(c.evaluate(&HashMap::new(), &base()).0, Eval::Pending);
    }

    #[test]
    fn a_rule_fires_only_once_held_for_its_duration() {
        let r = rule(300);
        let mut s = RuleState::new(&r);
        assert_eq!(s.update(&r, &Eval::Breach, 1000), Level::Green);
        assert_eq!(s.update(&r, &Eval::Breach, 1200), Level::Green);
        assert_eq!(s.status, RuleStatus::Breaching);
        assert_eq!(s.update(&r, &Eval::Breach, 1300), Level::Red);
        assert_eq!(s.update(&r, &Eval::Clear, 1400), Level::Green);
        // A clear sample restarts the clock.
        assert_eq!(s.update(&r, &Eval::Breach, 1500), Level::Green);
    }

    #[test]
    fn an_error_streak_is_not_a_breach() {
        let r = rule(0);
        let mut s = RuleState::new(&r);
        let err = Eval::Error(RuleProblem::Unmeasured {
            probe: "lat".into(),
            error: "timeout".into(),
        });
        assert_eq!(s.update(&r, &err, 1), Level::Green);
        assert_eq!(s.update(&r, &err, 2), Level::Green);
        assert_eq!(s.update(&r, &err, 3), Level::Yellow);
        assert_eq!(s.status, RuleStatus::CouldNotMeasure);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn unmeasured_samples_do_not_count_towards_the_hold() {
        let r = rule(300);
        let mut s = RuleState::new(&r);
        let err = Eval::Error(RuleProblem::Unmeasured {
            probe: "lat".into(),
            error: "timeout".into(),
        });
        assert_eq!(s.update(&r, &Eval::Breach, 1000), Level::Green);
        assert_eq!(s.update(&r, &Eval::Breach, 1100), Level::Green);
        // A long outage in the middle of the streak: neither a breach nor a clear.
        assert_eq!(s.update(&r, &err, 1200), Level::Green);
        assert_eq!(s.update(&r, &err, 1300), Level::Green);
        assert_eq!(s.update(&r, &err, 5000), Level::Yellow);
        // Measured again and breaching: the outage does not count, so this is 200 ms held
        // (up to the first unmeasured sample), not 4.1 s; and no longer yellow.
        assert_eq!(s.update(&r, &Eval::Breach, 5100), Level::Green);
        assert_eq!(s.status, RuleStatus::Breaching);
        assert_eq!(s.update(&r, &Eval::Breach, 5200), Level::Red);
        assert_eq!(s.failures, 4);
    }

    #[test]
    fn a_failure_limit_fires_before_the_hold() {
        let mut r = rule(60_000);
        r.failure_limit = Some(2);
        let mut s = RuleState::new(&r);
        assert_eq!(s.update(&r, &Eval::Breach, 1), Level::Green);
        assert_eq!(s.update(&r, &Eval::Clear, 2), Level::Green);
        assert_eq!(s.update(&r, &Eval::Breach, 3), Level::Green);
        assert_eq!(s.update(&r, &Eval::Breach, 4), Level::Red);
    }
}
