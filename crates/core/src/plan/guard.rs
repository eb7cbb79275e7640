//! The guard part of a plan: probes, rules, the decision matrix and continuity workflows,
//! validated here (CEL expressions are compiled, names cross-checked) so a bad rule is a
//! plan error with file, line and column, not a surprise during a migration.

use super::raw::*;
use super::{Priority, Problems, duration};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How bad things are. Ordered: a higher level wins when several rules fire.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    #[default]
    Green,
    Yellow,
    Orange,
    Red,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }
    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "green" => Level::Green,
            "yellow" => Level::Yellow,
            "orange" => Level::Orange,
            "red" => Level::Red,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum HttpValue {
    LatencyMs,
    Status,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CommandValue {
    Exit,
    Stdout,
}

#[derive(Clone, Debug)]
pub enum ProbeKind {
    /// A scalar from a plan database.
    Sql { database: String, sql: String },
    /// Status, latency and an optional body match. `ok` when the status is expected and
    /// the body matches.
    Http {
        url: String,
        expect_status: Vec<u16>,
        body_match: Option<String>,
        value: HttpValue,
    },
    /// A shell command: its exit code, or a number it prints.
    Command {
        command: String,
        value: CommandValue,
    },
    /// An instant query against a Prometheus-compatible HTTP API (`/api/v1/query`).
    Prometheus { url: String, query: String },
}

impl ProbeKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProbeKind::Sql { .. } => "sql",
            ProbeKind::Http { .. } => "http",
            ProbeKind::Command { .. } => "command",
            ProbeKind::Prometheus { .. } => "prometheus",
        }
    }
}

/// A least-squares trend warning: yellow when the fitted line crosses a threshold within
/// `within` from now.
#[derive(Clone, Debug)]
pub struct Trend {
    pub below: Option<f64>,
    pub above: Option<f64>,
    pub within: Duration,
    /// How many recent samples the line is fitted to.
    pub window: usize,
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub name: String,
    pub description: String,
    pub kind: ProbeKind,
    pub tier: Priority,
    pub interval: Duration,
    pub timeout: Duration,
    pub trend: Option<Trend>,
}

/// The tier's default interval: critical 5 s, important 30 s, optional 2 min (docs/product.md).
pub fn tier_interval(tier: Priority) -> Duration {
    Duration::from_secs(match tier {
        Priority::Critical => 5,
        Priority::Important => 30,
        Priority::Optional => 120,
    })
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    /// CEL over probe values (by probe name), `baseline.NAME.median|p95|n` and `ok.NAME`;
    /// true means the bad condition holds.
    pub when: String,
    /// The probes `when` reads.
    pub probes: Vec<String>,
    /// Whether `when` reads baselines (then a missing baseline makes it inconclusive).
    pub uses_baseline: bool,
    /// How long the condition must hold before the rule fires.
    pub hold: Duration,
    pub level: Level,
    pub scenario: Option<String>,
    /// Components to roll back when this rule stops a run (empty: the running step's, or all).
    pub components: Vec<String>,
    /// Fire once this many breaching samples were seen in all, even if not held for `hold`.
    pub failure_limit: Option<u32>,
    /// More consecutive "could not measure" samples than this raise `error_level`.
    pub consecutive_error_limit: u32,
    /// More consecutive inconclusive evaluations than this raise `error_level`.
    pub inconclusive_limit: u32,
    pub error_level: Level,
    /// Which seed trigger this rule stands for (free text, shown in reports).
    pub trigger: Option<String>,
    /// A switch (`[switches.NAME]`) this rule steps back one stage (or to legacy) when it
    /// goes red, instead of stopping the run; see `switch::step_back`.
    pub fallback: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Roll back at once, without waiting.
    RollbackNow,
    /// Wait for a named approver; at the deadline, `on_timeout` applies.
    Evaluate,
    /// Keep going; fix forward; recorded.
    FixForward,
}

impl Decision {
    pub fn name(self) -> &'static str {
        match self {
            Decision::RollbackNow => "rollback_now",
            Decision::Evaluate => "evaluate",
            Decision::FixForward => "fix_forward",
        }
    }
    fn parse(s: &str) -> Option<Decision> {
        Some(match s {
            "rollback_now" => Decision::RollbackNow,
            "evaluate" => Decision::Evaluate,
            "fix_forward" => Decision::FixForward,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub impact: String,
    pub decision: Decision,
    pub recovery: String,
    /// Who may approve or reject (empty: anyone, recorded by name).
    pub approvers: Vec<String>,
    pub approval_timeout: Duration,
    /// What applies when nobody answered by the deadline.
    pub on_timeout: Decision,
}

/// Continuity check: a probe that must pass after a rollback before the run is resolved.
#[derive(Clone, Debug)]
pub struct Workflow {
    pub name: String,
    pub probe: String,
    /// CEL over `value` and `ok`; default: the probe's own `ok`.
    pub expect: Option<String>,
    pub attempts: u32,
    pub retry_delay: Duration,
}

#[derive(Clone, Debug)]
pub struct GuardSettings {
    /// gh-ost style: while this file exists, a run or watch stops.
    pub panic_file: PathBuf,
    pub baseline_samples: usize,
    pub baseline_interval: Duration,
    /// How often stop requests and the panic file are looked at.
    pub stop_poll: Duration,
    /// Re-measure once before an automatic abort.
    pub confirm: bool,
}

/// The names a probe may not take: they are variables or keywords in rule expressions.
const RESERVED: &[&str] = &[
    "baseline",
    "ok",
    "value",
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
    "size",
    "has",
    "int",
    "double",
    "string",
];

/// The default decision matrix (payroll seed, docs/product.md), plus a scenario for each seed
/// emergency trigger that the table does not name.
pub fn default_scenarios() -> BTreeMap<String, Scenario> {
    let rows: &[(&str, &str, Severity, &str, Decision, &str)] = &[
        (
            "calculation_errors",
            "calculation errors affecting >10% of records",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "data_corruption",
            "database corruption or data loss",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "integrations_down",
            "all integrations failing",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "core_job_blocked",
            "unable to process the core job (e.g. payroll)",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "performance_degradation",
            "performance degradation >50%",
            Severity::High,
            "medium",
            Decision::Evaluate,
            "4-6 h",
        ),
        (
            "partial_integration_failure",
            "partial integration failures",
            Severity::High,
            "medium",
            Decision::Evaluate,
            "4-8 h",
        ),
        (
            "calculation_variance",
            "calculation variances <1%",
            Severity::Medium,
            "low",
            Decision::FixForward,
            "-",
        ),
        (
            "ui_issues",
            "UI issues, report issues",
            Severity::Low,
            "low",
            Decision::FixForward,
            "-",
        ),
        (
            "severe_slowdown",
            "performance more than 10x slower",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "users_locked_out",
            "more than 10% of users locked out",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "security_breach",
            "security breach",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "arabic_interface_failure",
            "Arabic interface failure",
            Severity::High,
            "high",
            Decision::Evaluate,
            "4-6 h",
        ),
        (
            "manual_stop",
            "manual emergency stop (ripcord stop, panic file, signal)",
            Severity::Critical,
            "high",
            Decision::RollbackNow,
            "2-4 h",
        ),
        (
            "manual_halt",
            "manual stop without a rollback (ripcord stop --no-rollback)",
            Severity::Critical,
            "high",
            Decision::FixForward,
            "-",
        ),
    ];
    rows.iter()
        .map(|(name, desc, sev, impact, dec, rec)| {
            (
                name.to_string(),
                Scenario {
                    name: name.to_string(),
                    description: desc.to_string(),
                    severity: *sev,
                    impact: impact.to_string(),
                    decision: *dec,
                    recovery: rec.to_string(),
                    approvers: Vec::new(),
                    approval_timeout: Duration::from_secs(15 * 60),
                    on_timeout: Decision::RollbackNow,
                },
            )
        })
        .collect()
}

/// A probe URL's password or token never reaches a log, an audit entry or a report.
fn register_secrets(url: &str) {
    for s in crate::redact::secrets_in_url(url) {
        crate::redact::register(&s);
    }
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn count(p: &mut Problems, v: &Option<Spanned<i64>>, default: i64, min: i64, what: &str) -> i64 {
    match v {
        None => default,
        Some(s) if *s.get_ref() >= min => *s.get_ref(),
        Some(s) => {
            p.at(
                s,
                format!("{what} must be {min} or more"),
                "too small",
                None,
            );
            default
        }
    }
}

fn level(p: &mut Problems, s: &Spanned<String>) -> Level {
    Level::parse(s.get_ref()).unwrap_or_else(|| {
        p.at(
            s,
            format!(
                "level {:?} is not one of green, yellow, orange, red",
                s.get_ref()
            ),
            "unknown level",
            None,
        );
        Level::Yellow
    })
}

/// Compiles a CEL expression and returns the variables it reads.
fn cel(p: &mut Problems, s: &Spanned<String>, what: &str) -> Vec<String> {
    match cel_interpreter::Program::compile(s.get_ref()) {
        Ok(prog) => prog
            .references()
            .variables()
            .into_iter()
            .map(str::to_string)
            .collect(),
        Err(e) => {
            p.at(
                s,
                format!("{what} is not a valid CEL expression: {e}"),
                "does not parse",
                Some("e.g. \"api_latency > 10.0 * baseline.api_latency.p95\""),
            );
            Vec::new()
        }
    }
}

pub(super) struct Guarded {
    pub guard: GuardSettings,
    pub probes: Vec<Probe>,
    pub rules: Vec<Rule>,
    pub scenarios: BTreeMap<String, Scenario>,
    pub workflows: Vec<Workflow>,
}

/// What each kind of probe has, for a field of another kind.
fn probe_kind_help(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "sql" => "a sql probe has database and sql",
        "http" => {
            "an http probe has url, expect_status, body_match and value (latency_ms or status)"
        }
        "command" => "a command probe has command and value (exit or stdout)",
        "prometheus" => "a prometheus probe has url and query",
        _ => return None,
    })
}

impl RawProbeKind {
    fn name(&self) -> &'static str {
        match self {
            RawProbeKind::Sql(_) => "sql",
            RawProbeKind::Http(_) => "http",
            RawProbeKind::Command(_) => "command",
            RawProbeKind::Prometheus(_) => "prometheus",
        }
    }
}

/// Validates the guard's sections, one function each.
pub(super) fn validate(
    raw: &RawPlan,
    base: &Path,
    components: &BTreeSet<String>,
    p: &mut Problems,
) -> Guarded {
    let guard = guard_settings(raw, base, p);
    let probes = probes(raw, p);
    let names: BTreeSet<String> = probes.iter().map(|x| x.name.clone()).collect();
    let scenarios = scenarios(raw, p);
    let rules = rules(raw, &names, &scenarios, components, p);
    let workflows = workflows(raw, &names, p);
    Guarded {
        guard,
        probes,
        rules,
        scenarios,
        workflows,
    }
}

/// `[guard]`.
fn guard_settings(raw: &RawPlan, base: &Path, p: &mut Problems) -> GuardSettings {
    let g = raw.guard.as_ref().map(|g| g.get_ref());
    GuardSettings {
        panic_file: g
            .and_then(|g| g.panic_file.as_ref())
            .map(|f| base.join(f.get_ref()))
            .unwrap_or_else(|| base.join(".ripcord").join("PANIC")),
        baseline_samples: count(
            p,
            &g.and_then(|g| g.baseline_samples.clone()),
            5,
            1,
            "baseline_samples",
        ) as usize,
        baseline_interval: duration(
            p,
            &g.and_then(|g| g.baseline_interval.clone()),
            Duration::from_secs(1),
            "baseline_interval",
        ),
        stop_poll: duration(
            p,
            &g.and_then(|g| g.stop_poll.clone()),
            Duration::from_millis(50),
            "stop_poll",
        ),
        confirm: g.and_then(|g| g.confirm).unwrap_or(true),
    }
}

/// Every `[[probe]]`: what serde refused, then each kind's own checks.
fn probes(raw: &RawPlan, p: &mut Problems) -> Vec<Probe> {
    let mut probes = Vec::new();
    let mut names = BTreeSet::new();
    for entry in &raw.probe {
        p.refused(
            &entry.refused,
            |field, kind| {
                let name = entry.parsed.as_ref().map(|r| r.get_ref().name.get_ref());
                (
                    format!(
                        "probe {:?}: `{field}` is not a field of {kind} probes",
                        name.map_or("", String::as_str)
                    ),
                    probe_kind_help(kind).map(str::to_string),
                )
            },
            |kind| format!("probe kind {kind:?} is not one of sql, http, command, prometheus"),
        );
        let Some(rp) = &entry.parsed else {
            continue;
        };
        let r = rp.get_ref();
        let name = r.name.get_ref().clone();
        if !is_ident(&name) || RESERVED.contains(&name.as_str()) {
            p.at(
                &r.name,
                format!("probe name {name:?} cannot be used in rule expressions"),
                "bad name",
                Some("use letters, digits and _ (not starting with a digit), and not baseline, ok, value or a CEL keyword"),
            );
        }
        if !names.insert(name.clone()) {
            p.at(
                &r.name,
                format!("two probes are named {name:?}"),
                "duplicate",
                None,
            );
        }
        let tier = match r.tier.as_ref().map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "important")) => Priority::Important,
            Some((_, "critical")) => Priority::Critical,
            Some((_, "optional")) => Priority::Optional,
            Some((t, other)) => {
                p.at(
                    t,
                    format!("tier {other:?} is not one of critical, important, optional"),
                    "unknown tier",
                    None,
                );
                Priority::Important
            }
        };
        let interval = duration(p, &r.interval, tier_interval(tier), "interval");
        let timeout = duration(p, &r.timeout, interval.mul_f64(0.8), "timeout");
        if timeout >= interval {
            let at = r
                .timeout
                .as_ref()
                .map(|t| t as &dyn SpanOf)
                .unwrap_or(&r.name);
            at.problem(
                p,
                format!(
                    "probe {name:?}: timeout {} is not below its interval {}",
                    humantime::format_duration(timeout),
                    humantime::format_duration(interval)
                ),
                "timeout too long",
                Some("a probe must give up before its next sample is due"),
            );
        }
        let need = |p: &mut Problems, v: &Option<Spanned<String>>, field: &str| -> String {
            match v {
                Some(s) => s.get_ref().clone(),
                None => {
                    p.at(
                        rp,
                        format!("{} probe {name:?} needs `{field}`", r.kind.get_ref().name()),
                        "missing field",
                        None,
                    );
                    String::new()
                }
            }
        };
        let kind = match r.kind.get_ref() {
            RawProbeKind::Sql(r) => {
                let database = need(p, &r.database, "database");
                if let Some(d) = &r.database
                    && !raw.databases.contains_key(d.get_ref())
                {
                    p.at(
                        d,
                        format!("no database named {:?}", d.get_ref()),
                        "unknown database",
                        None,
                    );
                }
                ProbeKind::Sql {
                    database,
                    sql: need(p, &r.sql, "sql"),
                }
            }
            RawProbeKind::Http(r) => {
                let url = need(p, &r.url, "url");
                register_secrets(&url);
                if let Some(u) = &r.url
                    && !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://"))
                {
                    p.at(
                        u,
                        "an http probe's url starts with http:// or https://",
                        "not http",
                        None,
                    );
                }
                if let Some(b) = &r.body_match
                    && let Err(e) = regex::Regex::new(b.get_ref())
                {
                    p.at(
                        b,
                        format!("body_match is not a regular expression: {e}"),
                        "bad regex",
                        None,
                    );
                }
                let value = match r.value.as_ref().map(|v| (v, v.get_ref().as_str())) {
                    None | Some((_, "latency_ms")) => HttpValue::LatencyMs,
                    Some((_, "status")) => HttpValue::Status,
                    Some((v, other)) => {
                        p.at(
                            v,
                            format!("an http probe's value is latency_ms or status, not {other:?}"),
                            "unknown value",
                            None,
                        );
                        HttpValue::LatencyMs
                    }
                };
                ProbeKind::Http {
                    url,
                    expect_status: r
                        .expect_status
                        .as_ref()
                        .map(|s| s.get_ref().clone())
                        .unwrap_or_default(),
                    body_match: r.body_match.as_ref().map(|b| b.get_ref().clone()),
                    value,
                }
            }
            RawProbeKind::Command(r) => {
                let value = match r.value.as_ref().map(|v| (v, v.get_ref().as_str())) {
                    None | Some((_, "exit")) => CommandValue::Exit,
                    Some((_, "stdout")) => CommandValue::Stdout,
                    Some((v, other)) => {
                        p.at(
                            v,
                            format!("a command probe's value is exit or stdout, not {other:?}"),
                            "unknown value",
                            None,
                        );
                        CommandValue::Exit
                    }
                };
                ProbeKind::Command {
                    command: need(p, &r.command, "command"),
                    value,
                }
            }
            RawProbeKind::Prometheus(r) => {
                let url = need(p, &r.url, "url");
                register_secrets(&url);
                ProbeKind::Prometheus {
                    url,
                    query: need(p, &r.query, "query"),
                }
            }
        };
        let trend = r.trend.as_ref().map(|t| {
            let tr = t.get_ref();
            if tr.below.is_none() == tr.above.is_none() {
                p.at(
                    t,
                    "a trend needs exactly one of `below` or `above`",
                    "which threshold?",
                    None,
                );
            }
            Trend {
                below: tr.below,
                above: tr.above,
                within: duration(
                    p,
                    &Some(tr.within.clone()),
                    Duration::from_secs(3600),
                    "within",
                ),
                window: count(p, &tr.window, 20, 3, "window") as usize,
            }
        });
        probes.push(Probe {
            name,
            description: r.description.clone().unwrap_or_default(),
            kind,
            tier,
            interval,
            timeout,
            trend,
        });
    }

    probes
}

/// `[decision_matrix.scenarios]` over the default scenarios.
fn scenarios(raw: &RawPlan, p: &mut Problems) -> BTreeMap<String, Scenario> {
    let mut scenarios = default_scenarios();
    if let Some(m) = &raw.decision_matrix {
        for (name, rs) in &m.scenarios {
            let s = rs.get_ref();
            let mut sc = scenarios.remove(name).unwrap_or_else(|| Scenario {
                name: name.clone(),
                description: String::new(),
                severity: Severity::High,
                impact: "medium".into(),
                decision: Decision::Evaluate,
                recovery: "-".into(),
                approvers: Vec::new(),
                approval_timeout: Duration::from_secs(15 * 60),
                on_timeout: Decision::RollbackNow,
            });
            if let Some(d) = &s.description {
                sc.description = d.clone();
            }
            if let Some(sev) = &s.severity {
                match sev.get_ref().as_str() {
                    "critical" => sc.severity = Severity::Critical,
                    "high" => sc.severity = Severity::High,
                    "medium" => sc.severity = Severity::Medium,
                    "low" => sc.severity = Severity::Low,
                    other => p.at(
                        sev,
                        format!("severity {other:?} is not one of critical, high, medium, low"),
                        "unknown severity",
                        None,
                    ),
                }
                // A severity without a decision takes the matrix's rule for that severity.
                if s.decision.is_none() {
                    sc.decision = match sc.severity {
                        Severity::Critical => Decision::RollbackNow,
                        Severity::High => Decision::Evaluate,
                        _ => Decision::FixForward,
                    };
                }
            }
            if let Some(i) = &s.impact {
                sc.impact = i.get_ref().clone();
            }
            let decision = |p: &mut Problems, d: &Spanned<String>| {
                Decision::parse(d.get_ref()).unwrap_or_else(|| {
                    p.at(
                        d,
                        format!(
                            "decision {:?} is not one of rollback_now, evaluate, fix_forward",
                            d.get_ref()
                        ),
                        "unknown decision",
                        None,
                    );
                    Decision::Evaluate
                })
            };
            if let Some(d) = &s.decision {
                sc.decision = decision(p, d);
            }
            if let Some(d) = &s.on_timeout {
                sc.on_timeout = decision(p, d);
                if sc.on_timeout == Decision::Evaluate {
                    p.at(
                        d,
                        "on_timeout must be rollback_now or fix_forward",
                        "would wait forever",
                        None,
                    );
                }
            }
            if let Some(r) = &s.recovery {
                sc.recovery = r.clone();
            }
            if let Some(a) = &s.approvers {
                sc.approvers = a.clone();
            }
            sc.approval_timeout = duration(
                p,
                &s.approval_timeout,
                sc.approval_timeout,
                "approval_timeout",
            );
            scenarios.insert(name.clone(), sc);
        }
    }

    scenarios
}

/// Every `[[rule]]`, against the probes, scenarios and components.
fn rules(
    raw: &RawPlan,
    names: &BTreeSet<String>,
    scenarios: &BTreeMap<String, Scenario>,
    components: &BTreeSet<String>,
    p: &mut Problems,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut rule_names = BTreeSet::new();
    for rr in &raw.rule {
        let r = rr.get_ref();
        if !rule_names.insert(r.name.get_ref().clone()) {
            p.at(
                &r.name,
                format!("two rules are named {:?}", r.name.get_ref()),
                "duplicate",
                None,
            );
        }
        let vars = cel(p, &r.when, &format!("rule {:?}", r.name.get_ref()));
        let mut rule_probes = Vec::new();
        let mut uses_baseline = false;
        for v in &vars {
            match v.as_str() {
                "baseline" => uses_baseline = true,
                "ok" => {}
                v if names.contains(v) => rule_probes.push(v.to_string()),
                v => p.at(
                    &r.when,
                    format!(
                        "rule {:?} reads {v:?}, which is not a probe of this plan",
                        r.name.get_ref()
                    ),
                    "unknown name",
                    Some(&format!(
                        "probes: {}; also baseline.NAME.median|p95|n and ok.NAME",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    )),
                ),
            }
        }
        // `ok.NAME` and `baseline.NAME` name probes through a map: find them in the text.
        for n in names {
            let re = regex::Regex::new(&format!(r"\b(ok|baseline)\.{}\b", regex::escape(n)))
                .expect("escaped");
            if re.is_match(r.when.get_ref()) && !rule_probes.contains(n) {
                rule_probes.push(n.clone());
            }
        }
        if let Some(s) = &r.scenario
            && !scenarios.contains_key(s.get_ref())
        {
            p.at(
                s,
                format!("no scenario named {:?} in the decision matrix", s.get_ref()),
                "unknown scenario",
                Some(&format!(
                    "scenarios: {}",
                    scenarios.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            );
        }
        for c in &r.components {
            if !components.contains(c.get_ref()) {
                p.at(
                    c,
                    format!("no component named {:?}", c.get_ref()),
                    "unknown component",
                    None,
                );
            }
        }
        if let Some(f) = &r.fallback
            && !raw.switches.contains_key(f.get_ref())
        {
            p.at(
                f,
                format!(
                    "rule {:?} falls back switch {:?}, which is not in [switches]",
                    r.name.get_ref(),
                    f.get_ref()
                ),
                "unknown switch",
                Some(&format!(
                    "switches: {}",
                    raw.switches.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            );
        }
        let lim = |p: &mut Problems, v: &Option<Spanned<i64>>, d: i64, what: &str| {
            count(p, v, d, 0, what) as u32
        };
        rules.push(Rule {
            name: r.name.get_ref().clone(),
            when: r.when.get_ref().clone(),
            probes: rule_probes,
            uses_baseline,
            hold: match &r.for_ {
                Some(f) if f.get_ref().trim() == "0s" || f.get_ref().trim() == "0" => {
                    Duration::ZERO
                }
                f => duration(p, f, Duration::ZERO, "for"),
            },
            level: level(p, &r.level),
            scenario: r.scenario.as_ref().map(|s| s.get_ref().clone()),
            components: r.components.iter().map(|c| c.get_ref().clone()).collect(),
            failure_limit: r
                .failure_limit
                .as_ref()
                .map(|_| lim(p, &r.failure_limit, 0, "failure_limit")),
            consecutive_error_limit: lim(
                p,
                &r.consecutive_error_limit,
                4,
                "consecutive_error_limit",
            ),
            inconclusive_limit: lim(p, &r.inconclusive_limit, 4, "inconclusive_limit"),
            error_level: r
                .error_level
                .as_ref()
                .map(|l| level(p, l))
                .unwrap_or(Level::Yellow),
            trigger: r.trigger.clone(),
            fallback: r.fallback.as_ref().map(|f| f.get_ref().clone()),
        });
    }

    rules
}

/// Every `[[workflow]]`, against the probes.
fn workflows(raw: &RawPlan, names: &BTreeSet<String>, p: &mut Problems) -> Vec<Workflow> {
    let mut workflows = Vec::new();
    for rw in &raw.workflow {
        let w = rw.get_ref();
        if !names.contains(w.probe.get_ref()) {
            p.at(
                &w.probe,
                format!("no probe named {:?}", w.probe.get_ref()),
                "unknown probe",
                Some("a workflow names the [[probe]] that exercises it"),
            );
        }
        if let Some(e) = &w.expect {
            for v in cel(p, e, &format!("workflow {:?}", w.name.get_ref())) {
                if v != "value" && v != "ok" {
                    p.at(
                        e,
                        format!("a workflow's expect reads only `value` and `ok`, not {v:?}"),
                        "unknown name",
                        None,
                    );
                }
            }
        }
        workflows.push(Workflow {
            name: w.name.get_ref().clone(),
            probe: w.probe.get_ref().clone(),
            expect: w.expect.as_ref().map(|e| e.get_ref().clone()),
            attempts: count(p, &w.attempts, 3, 1, "attempts") as u32,
            retry_delay: duration(p, &w.retry_delay, Duration::from_secs(1), "retry_delay"),
        });
    }

    workflows
}

/// Lets a problem point at whichever spanned field is at hand.
trait SpanOf {
    fn problem(&self, p: &mut Problems, msg: String, label: &str, help: Option<&str>);
}
impl<T> SpanOf for Spanned<T> {
    fn problem(&self, p: &mut Problems, msg: String, label: &str, help: Option<&str>) {
        p.at(self, msg, label, help);
    }
}
