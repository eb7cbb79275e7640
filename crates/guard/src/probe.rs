//! Measuring a probe once. "Could not measure" (an error, a timeout, an empty result, NaN)
//! is an [`Outcome::Unmeasured`], kept apart from a measured bad value, so an error streak
//! is never read as a breach.

use ripcord_core::context::Connector;
use ripcord_core::engine::{Engine, EngineError};
use ripcord_core::http::{Call, Client};
use ripcord_core::plan::{CommandValue, Database, HttpValue, Plan, Probe, ProbeKind};
use ripcord_core::run::now_ms;
use ripcord_core::value::Value;
use std::sync::Arc;
use std::time::Duration;

/// A probe's measurement is typed in core, where `ripcord status` reads it back.
pub use ripcord_core::status::{ProbeOutcome as Outcome, ProbeSample as Sample};

/// Measures one probe, keeping its connection (SQL) or agent (HTTP) between samples.
pub struct Prober {
    pub probe: Probe,
    connector: Arc<dyn Connector>,
    database: Option<Database>,
    engine: Option<Box<dyn Engine>>,
    http: Client,
}

impl Prober {
    pub fn new(probe: &Probe, plan: &Plan, connector: Arc<dyn Connector>) -> Self {
        let database = match &probe.kind {
            ProbeKind::Sql { database, .. } => plan.databases.get(database).cloned(),
            _ => None,
        };
        Prober {
            probe: probe.clone(),
            connector,
            database,
            engine: None,
            http: Client::new(probe.timeout),
        }
    }

    pub fn measure(&mut self) -> Sample {
        let outcome = match self.probe.kind.clone() {
            ProbeKind::Sql { sql, .. } => self.sql(&sql),
            ProbeKind::Http {
                url,
                expect_status,
                body_match,
                value,
            } => self.http(&url, &expect_status, body_match.as_deref(), &value),
            ProbeKind::Command { command, value } => {
                command_probe(&command, &value, self.probe.timeout)
            }
            ProbeKind::Prometheus { url, query } => self.prometheus(&url, &query),
        };
        let outcome = match outcome {
            Outcome::Measured { value, .. } if !value.is_finite() => Outcome::Unmeasured {
                reason: format!("the value is {value}"),
            },
            o => o,
        };
        Sample {
            probe: self.probe.name.clone(),
            at_ms: now_ms(),
            outcome: scrub(outcome),
        }
    }

    fn sql(&mut self, sql: &str) -> Outcome {
        let Some(db) = self.database.clone() else {
            return unmeasured("the probe's database is not in the plan");
        };
        if self.engine.is_none() {
            match self.connector.connect(&db) {
                Ok(e) => self.engine = Some(e),
                Err(e) => return unmeasured(format!("cannot connect: {e}")),
            }
        }
        let engine = self.engine.as_mut().expect("connected above");
        let cancel = engine.cancel_handle();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let timeout = self.probe.timeout;
        let watchdog = std::thread::spawn(move || {
            if rx.recv_timeout(timeout).is_err() {
                cancel.cancel();
            }
        });
        let r = engine.query_scalar(sql);
        let _ = tx.send(());
        let _ = watchdog.join();
        match r {
            Ok(v) => match number(&v) {
                Some(x) => Outcome::Measured {
                    value: x,
                    ok: x != 0.0,
                    detail: String::new(),
                },
                None if v == Value::Null => unmeasured("empty result (no row or NULL)"),
                None => unmeasured(format!("not a number: {v}")),
            },
            Err(EngineError::Cancelled) => {
                self.engine = None;
                unmeasured(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                ))
            }
            Err(e) => {
                // The connection may be gone; the next sample reconnects.
                self.engine = None;
                unmeasured(e.to_string())
            }
        }
    }

    fn http(
        &mut self,
        url: &str,
        expect: &[u16],
        body_match: Option<&str>,
        value: &HttpValue,
    ) -> Outcome {
        let mut call = Call::new("GET", url);
        if body_match.is_some() {
            call = call.read_body(1 << 20);
        }
        let reply = match self.http.send(&call) {
            Ok(r) => r,
            Err(e) => return unmeasured(e.to_string()),
        };
        let matched = body_match
            .is_none_or(|re| regex::Regex::new(re).is_ok_and(|r| r.is_match(&reply.body)));
        let latency = reply.elapsed.as_secs_f64() * 1000.0;
        let status = reply.status;
        Outcome::Measured {
            value: match value {
                HttpValue::LatencyMs => latency,
                HttpValue::Status => status as f64,
            },
            ok: reply.status_in(expect, 200..400) && matched,
            detail: format!(
                "status {status}, {latency:.0} ms{}",
                if matched { "" } else { ", body did not match" }
            ),
        }
    }

    fn prometheus(&mut self, url: &str, query: &str) -> Outcome {
        let endpoint = format!("{}/api/v1/query", url.trim_end_matches('/'));
        let call = Call::new("GET", &endpoint)
            .query("query", query)
            .read_body(4 << 20);
        let reply = match self.http.send(&call) {
            Ok(r) => r,
            Err(e) => return unmeasured(e.to_string()),
        };
        if reply.status != 200 {
            return unmeasured(format!(
                "Prometheus answered {}: {}",
                reply.status,
                reply.body.chars().take(200).collect::<String>()
            ));
        }
        match prometheus_value(&reply.body) {
            Ok(v) => Outcome::Measured {
                value: v,
                ok: true,
                detail: String::new(),
            },
            Err(reason) => unmeasured(reason),
        }
    }
}

fn unmeasured(reason: impl Into<String>) -> Outcome {
    Outcome::Unmeasured {
        reason: reason.into(),
    }
}

fn scrub(o: Outcome) -> Outcome {
    match o {
        Outcome::Unmeasured { reason } => Outcome::Unmeasured {
            reason: ripcord_core::redact::scrub(&reason),
        },
        Outcome::Measured { value, ok, detail } => Outcome::Measured {
            value,
            ok,
            detail: ripcord_core::redact::scrub(&detail),
        },
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Decimal(d) | Value::Text(d) => d.trim().parse().ok(),
        Value::Null | Value::Blob(_) => None,
    }
}

/// The one number of an instant query's answer (a one-series vector or a scalar).
pub fn prometheus_value(body: &str) -> Result<f64, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    if v["status"] != "success" {
        return Err(format!(
            "query failed: {}",
            v["error"].as_str().unwrap_or("no error given")
        ));
    }
    let data = &v["data"];
    let pair = match data["resultType"].as_str() {
        Some("scalar") => &data["result"],
        Some("vector") => {
            let series = data["result"].as_array().map(Vec::len).unwrap_or(0);
            match series {
                0 => return Err("empty result: no series matched".into()),
                1 => &data["result"][0]["value"],
                n => {
                    return Err(format!(
                        "{n} series; aggregate the query to one (e.g. sum(…))"
                    ));
                }
            }
        }
        other => return Err(format!("result type {other:?} is not a vector or scalar")),
    };
    let text = pair[1]
        .as_str()
        .ok_or_else(|| "the answer has no sample value".to_string())?;
    let x: f64 = text
        .parse()
        .map_err(|_| format!("the sample value {text:?} is not a number"))?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("the value is {text}"))
    }
}

/// Runs a shell command through the one process runner (its own process group, ended at
/// the timeout, output captured within a bound).
fn command_probe(command: &str, value: &CommandValue, timeout: Duration) -> Outcome {
    use ripcord_core::process::{DEFAULT_CAPTURE, ProcessError, Program};
    let f = match Program::shell(command, timeout)
        .capture(DEFAULT_CAPTURE)
        .run()
    {
        Ok(f) => f,
        Err(e @ ProcessError::TimedOut(_)) => return unmeasured(e.to_string()),
        Err(ProcessError::Start { source, .. }) => {
            return unmeasured(format!("cannot start the command: {source}"));
        }
        Err(ProcessError::Wait { source, .. }) => {
            return unmeasured(format!("waiting for the command: {source}"));
        }
    };
    let (status, stdout, stderr) = (f.status, f.stdout, f.stderr);
    let code = status.code();
    match value {
        CommandValue::Exit => match code {
            Some(c) => Outcome::Measured {
                value: c as f64,
                ok: c == 0,
                detail: stderr.lines().last().unwrap_or("").to_string(),
            },
            None => unmeasured(format!("the command was ended by a signal ({status})")),
        },
        CommandValue::Stdout => {
            if !status.success() {
                return unmeasured(format!(
                    "the command failed ({status}): {}",
                    stderr.lines().last().unwrap_or("")
                ));
            }
            let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
            match last.map(|l| (l, l.trim().parse::<f64>())) {
                Some((_, Ok(x))) => Outcome::Measured {
                    value: x,
                    ok: true,
                    detail: String::new(),
                },
                Some((l, Err(_))) => unmeasured(format!("stdout is not a number: {l:?}")),
                None => unmeasured("empty result: the command printed nothing"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_answers_are_read_or_refused_with_a_reason() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.25"]}]}}"#;
        assert_eq!(prometheus_value(one), Ok(0.25));
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"7"]}}"#;
        assert_eq!(prometheus_value(scalar), Ok(7.0));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(prometheus_value(empty).unwrap_err().contains("empty"));
        let nan = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#;
        assert!(prometheus_value(nan).unwrap_err().contains("NaN"));
        let bad = r#"{"status":"error","error":"parse error"}"#;
        assert!(prometheus_value(bad).unwrap_err().contains("parse error"));
    }
}
