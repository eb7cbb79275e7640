//! Event rows in the shapes older ripcords stored, read into today's events, so the log
//! reads whole across an upgrade. Every shape here has a field today's never writes
//! (`detail`, `reason`, `message`, or a plain-text `what`/`source`), so a current row is
//! never taken for an old one. Sentences that cannot be turned back into data are kept as
//! the `Described` variant of the field that replaced them.

use super::{
    ContinuityVerdict, Event, GapCode, GapReason, InvariantMeasure, LevelCause, Operation, RunStop,
    SyncEnd,
};
use crate::plan::Level;
use crate::rollback::{Figures, PhaseOutcome};
use crate::run::StopSource;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Old {
    StepFinished {
        run: String,
        step: String,
        ok: bool,
        detail: String,
        seconds: f64,
    },
    InvariantChecked {
        component: String,
        name: String,
        ok: bool,
        detail: String,
    },
    RunStopped {
        run: String,
        reason: String,
        components: Vec<String>,
    },
    PhaseFinished {
        rollback: String,
        phase: String,
        seconds: f64,
        detail: String,
        #[serde(default)]
        figures: Figures,
    },
    Progress {
        what: String,
        done: u64,
        total: u64,
    },
    DataProgress {
        what: String,
        rows: u64,
        total_rows: u64,
        bytes: u64,
        seconds: f64,
        finished: bool,
    },
    Waiting {
        what: String,
        remaining_seconds: f64,
    },
    TrendWarning {
        probe: String,
        message: String,
        eta_seconds: f64,
    },
    StopRequested {
        run: String,
        source: String,
        reason: String,
        scenario: Option<String>,
    },
    DataGap {
        rollback: String,
        table: String,
        key: String,
        reason: String,
        #[serde(default)]
        code: GapCode,
    },
    SyncGap {
        component: String,
        table: String,
        key: String,
        reason: String,
        #[serde(default)]
        code: GapCode,
    },
    LevelChanged {
        rule: String,
        from: Level,
        to: Level,
        reason: String,
        evidence: serde_json::Value,
    },
    ContinuityChecked {
        run: String,
        workflow: String,
        ok: bool,
        detail: String,
    },
    SyncStopped {
        component: String,
        ok: bool,
        reason: String,
    },
}

/// The event an old row stands for; `None` when the row is not in an old shape (or is in
/// one whose sentence cannot be read back, which then reads as an unknown event).
pub(super) fn read(v: &serde_json::Value) -> Option<Event> {
    // `events --json` prints a gap event's `reason` in words beside its `cause`: a row with
    // the field that replaced the sentence is current whatever else it has.
    if v.get("cause").is_some() || v.get("verdict").is_some() {
        return None;
    }
    let described = |text: String| Operation::Described { text };
    Some(match Old::deserialize(v).ok()? {
        Old::StepFinished {
            run,
            step,
            ok,
            detail,
            seconds,
        } => Event::StepFinished {
            run,
            step,
            ok,
            error: (!ok).then_some(detail),
            seconds,
        },
        Old::InvariantChecked {
            component,
            name,
            ok,
            detail,
        } => Event::InvariantChecked {
            component,
            name,
            ok,
            measure: measure(detail),
        },
        Old::RunStopped {
            run,
            reason,
            components,
        } => Event::RunStopped {
            run,
            cause: run_stop(reason),
            components,
        },
        Old::PhaseFinished {
            rollback,
            phase,
            seconds,
            detail,
            figures,
        } => Event::PhaseFinished {
            rollback,
            phase,
            seconds,
            outcome: PhaseOutcome::Described { detail },
            figures,
        },
        Old::Progress { what, done, total } => Event::Progress {
            what: described(what),
            done,
            total,
        },
        Old::DataProgress {
            what,
            rows,
            total_rows,
            bytes,
            seconds,
            finished,
        } => Event::DataProgress {
            what: described(what),
            rows,
            total_rows,
            bytes,
            seconds,
            finished,
        },
        Old::Waiting {
            what,
            remaining_seconds,
        } => Event::Waiting {
            what: described(what),
            remaining_seconds,
        },
        Old::TrendWarning {
            probe,
            message,
            eta_seconds,
        } => Event::TrendWarning {
            threshold: threshold(&probe, &message)?,
            probe,
            eta_seconds,
        },
        Old::StopRequested {
            run,
            source,
            reason,
            scenario,
        } => Event::StopRequested {
            run,
            source: stop_source(&source)?,
            reason,
            scenario,
        },
        Old::DataGap {
            rollback,
            table,
            key,
            reason,
            code,
        } => {
            let cause = described_gap(code, false, reason, String::new());
            Event::DataGap {
                rollback,
                table,
                key,
                code: cause.code(),
                cause,
            }
        }
        Old::SyncGap {
            component,
            table,
            key,
            reason,
            code,
        } => {
            let cause = described_gap(code, false, reason, String::new());
            Event::SyncGap {
                component,
                table,
                key,
                code: cause.code(),
                cause,
            }
        }
        Old::LevelChanged {
            rule,
            from,
            to,
            reason,
            evidence,
        } => Event::LevelChanged {
            rule,
            from,
            to,
            cause: LevelCause::Described { reason },
            evidence,
        },
        Old::ContinuityChecked {
            run,
            workflow,
            ok,
            detail,
        } => Event::ContinuityChecked {
            run,
            workflow,
            ok,
            verdict: ContinuityVerdict::Described { detail },
        },
        Old::SyncStopped {
            component,
            ok,
            reason,
        } => Event::SyncStopped {
            component,
            ok,
            cause: SyncEnd::Described { reason },
        },
    })
}

/// A gap an older ripcord recorded with a sentence; its code, when it recorded none, is
/// the one the sentence reads as (replay's wording of those versions).
pub(crate) fn described_gap(
    code: GapCode,
    partial: bool,
    reason: String,
    suggestion: String,
) -> GapReason {
    let code = if code != GapCode::Other {
        code
    } else if partial {
        GapCode::ValuesWithoutColumn
    } else {
        let r = reason.as_str();
        if r.starts_with("no row with this key") {
            GapCode::NoRow
        } else if r.starts_with("the legacy database refused") {
            GapCode::Refused
        } else if r.starts_with("the row was created by the migration") {
            GapCode::CreatedByMigration
        } else if [
            "reverse mapping failed",
            "column ",
            "legacy table ",
            "key column ",
            "journal entry ",
        ]
        .iter()
        .any(|p| r.starts_with(p))
        {
            GapCode::Unmappable
        } else {
            GapCode::Other
        }
    };
    GapReason::Described {
        code,
        reason,
        suggestion,
    }
}

/// "283877136 vs expected 283877136 (tolerance 0)", as `verify::describe_measure` words a
/// comparison; anything else was the reason nothing could be compared.
fn measure(detail: String) -> InvariantMeasure {
    let compared = detail
        .split_once(" vs expected ")
        .and_then(|(value, rest)| {
            let (expected, tol) = rest.strip_suffix(')')?.split_once(" (tolerance ")?;
            Some(InvariantMeasure::Compared {
                value: value.into(),
                expected: expected.into(),
                tolerance: tol.into(),
            })
        });
    compared.unwrap_or(InvariantMeasure::Unmeasured { reason: detail })
}

/// "stopped by SOURCE: REASON" for a stop; a step's failure was its error alone, without
/// the step's name, so it stays a sentence.
fn run_stop(reason: String) -> RunStop {
    let stop = reason.strip_prefix("stopped by ").and_then(|rest| {
        rest.match_indices(": ").find_map(|(i, _)| {
            Some(RunStop::Stop {
                source: stop_source(&rest[..i])?,
                reason: rest[i + 2..].to_string(),
            })
        })
    });
    stop.unwrap_or(RunStop::Described { text: reason })
}

/// A stop source as its `Display` wrote it. `ripcord stop`'s request id was not written:
/// it reads as 0.
fn stop_source(s: &str) -> Option<StopSource> {
    if let Some(rest) = s.strip_prefix("rule ") {
        let (name, level) = rest.rsplit_once(" (")?;
        let level = level.strip_suffix(')')?;
        return Some(StopSource::Rule {
            rule: serde_json::from_str(name).ok()?,
            level: serde_json::from_value(serde_json::Value::String(level.into())).ok()?,
        });
    }
    if let Some(actor) = s
        .strip_prefix("ripcord stop (by ")
        .and_then(|a| a.strip_suffix(')'))
    {
        return Some(StopSource::Command {
            actor: actor.into(),
            request: 0,
        });
    }
    if let Some(path) = s.strip_prefix("panic file ") {
        return Some(StopSource::PanicFile { path: path.into() });
    }
    s.strip_prefix("signal ").map(|signal| StopSource::Signal {
        signal: signal.into(),
    })
}

/// "disk_free reaches 50 in 4s".
fn threshold(probe: &str, message: &str) -> Option<f64> {
    let rest = message.strip_prefix(probe)?.strip_prefix(" reaches ")?;
    rest.split_once(" in ")?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;

    fn read_row(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    /// Rows as ripcord stored them before these kinds were retyped (their JSON copied from
    /// those versions' serializer): each reads as the event it was, not as unknown.
    #[test]
    fn old_event_rows_of_retyped_kinds_read_as_what_they_were() {
        let e = read_row(
            r#"{"kind":"data_gap","rollback":"rb-1","table":"payments","key":"id=4","reason":"the legacy database refused the write: duplicate key","code":"refused"}"#,
        );
        let Event::DataGap { cause, code, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(code, GapCode::Refused);
        assert!(
            matches!(cause, GapReason::Described { ref reason, .. } if reason.ends_with("duplicate key"))
        );
        // Before codes were stored, the sentence gives the code.
        let e = read_row(
            r#"{"kind":"sync_gap","component":"c","table":"t","key":"1","reason":"no row with this key in the restored table"}"#,
        );
        assert!(matches!(
            e,
            Event::SyncGap {
                code: GapCode::NoRow,
                ..
            }
        ));
        let e = read_row(
            r#"{"kind":"level_changed","rule":"slow","from":"green","to":"red","reason":"held 1200 ms (5 breaching samples in all)","evidence":null}"#,
        );
        assert!(
            matches!(e, Event::LevelChanged { cause: LevelCause::Described { ref reason }, to: Level::Red, .. } if reason.starts_with("held"))
        );
        let e = read_row(
            r#"{"kind":"continuity_checked","run":"r","workflow":"w","ok":false,"detail":"could not measure: refused"}"#,
        );
        assert!(matches!(
            e,
            Event::ContinuityChecked {
                verdict: ContinuityVerdict::Described { .. },
                ok: false,
                ..
            }
        ));
        let e = read_row(r#"{"kind":"sync_stopped","component":"c","ok":true,"reason":"stopped"}"#);
        assert!(matches!(
            e,
            Event::SyncStopped {
                cause: SyncEnd::Described { .. },
                ..
            }
        ));
        let e = read_row(
            r#"{"kind":"run_stopped","run":"r1","reason":"stopped by rule \"slow\" (red): latency","components":["c"]}"#,
        );
        let Event::RunStopped { cause, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(
            serde_json::to_value(&cause).unwrap(),
            serde_json::json!({"by": "stop", "source": {"kind": "rule", "rule": "slow", "level": "red"}, "reason": "latency"})
        );
        let e = read_row(
            r#"{"kind":"stop_requested","run":"r1","source":"signal SIGTERM","reason":"x","scenario":null}"#,
        );
        assert!(matches!(
            e,
            Event::StopRequested {
                source: StopSource::Signal { .. },
                ..
            }
        ));
        let e = read_row(
            r#"{"kind":"step_finished","run":"r1","step":"s","ok":false,"detail":"boom","seconds":1.0}"#,
        );
        assert!(matches!(e, Event::StepFinished { error: Some(ref m), .. } if m == "boom"));
        let e = read_row(
            r#"{"kind":"invariant_checked","component":"c","name":"n","ok":true,"detail":"5 vs expected 5 (tolerance 0)"}"#,
        );
        assert!(matches!(
            e,
            Event::InvariantChecked {
                measure: InvariantMeasure::Compared { .. },
                ..
            }
        ));
        let e = read_row(
            r#"{"kind":"phase_finished","rollback":"rb","phase":"restore","seconds":1.0,"detail":"12 rows restored","figures":{"at_risk":0,"recovered":0,"lost":0,"restored_rows":12,"conflicts":0,"review":0}}"#,
        );
        assert!(matches!(
            e,
            Event::PhaseFinished {
                outcome: PhaseOutcome::Described { .. },
                ..
            }
        ));
        let e = read_row(r#"{"kind":"progress","what":"restored invoices","done":1,"total":2}"#);
        assert!(matches!(
            e,
            Event::Progress {
                what: Operation::Described { .. },
                ..
            }
        ));
        let e = read_row(
            r#"{"kind":"trend_warning","probe":"disk_free","message":"disk_free reaches 50 in 4s","eta_seconds":4.0}"#,
        );
        assert!(matches!(e, Event::TrendWarning { threshold, .. } if threshold == 50.0));
    }

    /// A current row must never read as an old shape (that would lose its data).
    #[test]
    fn current_rows_do_not_read_as_old_ones() {
        let current = [
            Event::DataGap {
                rollback: "rb".into(),
                table: "t".into(),
                key: "1".into(),
                cause: GapReason::NoRow,
                code: GapCode::NoRow,
            },
            Event::LevelChanged {
                rule: "r".into(),
                from: Level::Green,
                to: Level::Red,
                cause: LevelCause::Overall {
                    rules: vec!["r".into()],
                    trends: vec![],
                },
                evidence: serde_json::Value::Null,
            },
            Event::StepFinished {
                run: "r".into(),
                step: "s".into(),
                ok: true,
                error: None,
                seconds: 1.0,
            },
            Event::StopRequested {
                run: "r".into(),
                source: StopSource::Signal {
                    signal: "SIGINT".into(),
                },
                reason: "stopped by signal SIGINT: x".into(),
                scenario: None,
            },
        ];
        for e in current {
            let v = serde_json::to_value(Envelope::new(e).event).unwrap();
            assert!(read(&v).is_none(), "{v}");
            let back: Event = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(back).unwrap(), v);
        }
    }
}
