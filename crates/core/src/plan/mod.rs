//! The plan: `ripcord.toml` parsed into raw structs (`raw`), then validated here, in one
//! place, into the types the rest of ripcord uses. Every error points at file, line and
//! column through miette.

mod dashboard;
mod guard;
mod notify;
mod raw;
mod switch;

pub use dashboard::DashboardPlan;
pub use guard::{
    CommandValue, Decision, GuardSettings, HttpValue, Level, Probe, ProbeKind, Rule, Scenario,
    Severity, Trend, Workflow, default_scenarios, tier_interval,
};
pub use notify::{
    COMMAND_PLACEHOLDERS, Channel, ChannelKind, EscalationLevel, Impact, Language, MessageWording,
    NotifyPlan, Recipient, SmtpSecurity, default_level,
};
pub use switch::{HttpCall, Switch, SwitchAction, SwitchKind, SwitchRead, describe_http};

use crate::engine::{EngineKind, url_forms};
use crate::redact;
use miette::{Diagnostic, NamedSource, SourceSpan};
use raw::*;
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database URL: the real one for connecting, the redacted one for everything else.
#[derive(Clone)]
pub struct SecretUrl {
    real: String,
    shown: String,
}

impl SecretUrl {
    pub fn new(real: String) -> Self {
        for s in redact::secrets_in_url(&real) {
            redact::register(&s);
        }
        let shown = redact::redact_url(&real);
        SecretUrl { real, shown }
    }
    /// The URL with its secrets, only for handing to a driver.
    pub fn expose(&self) -> &str {
        &self.real
    }
    /// The URL's scheme; empty for a `keyword=value` string, whose text before a `:` may
    /// hold a secret.
    pub fn scheme(&self) -> &str {
        if crate::engine::is_keyword_string(&self.real) {
            return "";
        }
        self.real.split(':').next().unwrap_or("")
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}
impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({})", self.shown)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Critical,
    Important,
    Optional,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Important => "important",
            Priority::Optional => "optional",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Database {
    pub name: String,
    pub url: SecretUrl,
    /// How long a freeze or a restore waits for a lock on a business table before it gives
    /// up naming the session that holds it.
    pub lock_timeout: Duration,
    /// How long one of ripcord's own bookkeeping statements (install, journal reads and
    /// marks, frozen-table and replay bookkeeping, prune) may run before it fails naming
    /// what it was doing. Snapshots, restores, replays, steps and verify reads are not
    /// bounded by it: they may run long.
    pub statement_timeout: Duration,
    /// Where ripcord keeps its own objects, on engines with schemas (PostgreSQL);
    /// `None`: the engine's default (`ripcord`).
    pub ripcord_schema: Option<String>,
}

/// The default of `[databases.X] lock_timeout`.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);
/// The default of `[databases.X] statement_timeout`.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub enum Check {
    /// The query's value must equal this number (within tolerance).
    Expect(f64),
    /// The query's value must equal this other query's value (within tolerance).
    Equals(String),
}

#[derive(Clone, Debug)]
pub struct Invariant {
    pub name: String,
    pub sql: String,
    pub check: Check,
    pub tolerance: f64,
}

/// How a row captured in the new shape is carried back into the legacy table.
#[derive(Clone, Debug, Default)]
pub struct Reverse {
    /// The legacy table's name.
    pub table: String,
    /// Legacy column → SQL expression over the captured row's columns. Columns not listed
    /// are carried over by name.
    pub columns: BTreeMap<String, String>,
    /// Captured columns the legacy table has no place for, whose values the plan knowingly
    /// does not carry back. Any other such value is a data gap.
    pub ignore: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    pub database: String,
    /// Where business writes after cutover are captured; the component's own database
    /// unless the plan says otherwise (a legacy → new move across databases).
    pub capture_database: String,
    pub tables: Vec<String>,
    pub priority: Priority,
    pub rto: Duration,
    /// `ripcord watch` and `run` take a checkpoint of the component this often.
    pub checkpoint_every: Option<Duration>,
    pub invariants: Vec<Invariant>,
    /// Keyed by the captured table's name.
    pub reverse: BTreeMap<String, Reverse>,
}

impl Component {
    /// The reverse mapping for a captured table (identity when the plan gives none).
    pub fn reverse_for(&self, captured: &str) -> Reverse {
        self.reverse
            .get(captured)
            .cloned()
            .unwrap_or_else(|| Reverse {
                table: captured.to_string(),
                columns: BTreeMap::new(),
                ignore: Vec::new(),
            })
    }
    /// Captured table names (the new shape's names).
    pub fn captured_tables(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| {
                self.reverse
                    .iter()
                    .find(|(_, r)| &r.table == t)
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| t.clone())
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Sql(String),
    Command(String),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub component: Option<String>,
    pub database: String,
    /// `None` only for a step that just advances a switch.
    pub forward: Option<Action>,
    pub rollback: Option<Action>,
    pub verify: Option<Action>,
    pub timeout: Duration,
    /// The switch this step moves to the new side after its forward and checks passed
    /// (a progressive rollout advancing a stage), and to which stage (`None`: its last).
    pub advance: Option<(String, Option<u32>)>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub databases: BTreeMap<String, Database>,
    pub components: Vec<Component>,
    pub steps: Vec<Step>,
    pub guard: GuardSettings,
    pub probes: Vec<Probe>,
    pub rules: Vec<Rule>,
    /// The decision matrix: the defaults from docs/product.md with the plan's overrides.
    pub scenarios: BTreeMap<String, Scenario>,
    /// Business-continuity checks run after a rollback.
    pub workflows: Vec<Workflow>,
    /// `check` is NO-GO when a component's newest checkpoint is older than this.
    pub max_checkpoint_age: Duration,
    /// Traffic switches (`[switches.NAME]`), by name.
    pub switches: Vec<Switch>,
    /// Notifications and escalation (`[notify]`).
    pub notify: NotifyPlan,
    /// Who may act on the dashboard (`[dashboard]`).
    pub dashboard: DashboardPlan,
}

impl Plan {
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
    pub fn database(&self, name: &str) -> &Database {
        &self.databases[name]
    }
    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }
    /// The switch named `name`.
    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches.iter().find(|s| s.name == name)
    }
    /// The switches of these components (of every component when none is named).
    pub fn switches_of(&self, components: &[String]) -> Vec<&Switch> {
        self.switches
            .iter()
            .filter(|s| components.is_empty() || components.contains(&s.component))
            .collect()
    }
}

/// One thing wrong with a plan, pointing at where it is.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct PlanProblem {
    pub message: String,
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

/// Everything wrong with a plan, rendered with the file's text.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{path}: the plan has {} problem(s)", problems.len())]
#[diagnostic(code(ripcord::plan))]
pub struct PlanError {
    pub path: String,
    #[source_code]
    pub src: NamedSource<String>,
    #[related]
    pub problems: Vec<PlanProblem>,
}

struct Problems(Vec<PlanProblem>);

impl Problems {
    fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) {
        self.span(spanned.span(), message, label, help);
    }

    fn span(
        &mut self,
        r: std::ops::Range<usize>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) {
        self.0.push(PlanProblem {
            message: message.into(),
            span: Some((r.start, r.end - r.start).into()),
            label: label.to_string(),
            help: help.map(str::to_string),
        });
    }

    /// What serde refused in an entry of a kind-tagged section; the section words the
    /// field of another kind (message and help, from the field and the kind) and the
    /// unknown kind.
    fn refused(
        &mut self,
        entry: &[Refused],
        wrong_kind: impl Fn(&str, &str) -> (String, Option<String>),
        unknown_kind: impl Fn(&str) -> String,
    ) {
        for r in entry {
            match r {
                Refused::WrongKind { field, kind, at } => {
                    let (message, help) = wrong_kind(field, kind);
                    self.span(at.clone(), message, "not for this kind", help.as_deref());
                }
                Refused::UnknownKind { kind, at } => {
                    self.span(at.clone(), unknown_kind(kind), "unknown kind", None);
                }
                Refused::Other { message, at } => self.0.push(PlanProblem {
                    message: message.clone(),
                    span: at.as_ref().map(|r| (r.start, r.end - r.start).into()),
                    label: "here".into(),
                    help: None,
                }),
            }
        }
    }
}

/// Reads and validates a plan file; `engines` are the engines this ripcord was built with,
/// which decide the URL schemes a database may use.
pub fn load(path: &Path, engines: &[EngineKind]) -> Result<Plan, Box<PlanError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(PlanError {
            path: path.display().to_string(),
            src: NamedSource::new(path.display().to_string(), String::new()),
            problems: vec![PlanProblem {
                message: format!("cannot read the plan: {e}"),
                span: None,
                label: String::new(),
                help: Some(
                    "create one with `ripcord init --example workshop`, or pass --plan PATH".into(),
                ),
            }],
        })
    })?;
    parse(path, &text, &|k| std::env::var(k).ok(), engines)
}

/// Parses and validates plan text; `env` resolves `${NAME}` in URLs.
pub fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    engines: &[EngineKind],
) -> Result<Plan, Box<PlanError>> {
    let name = path.display().to_string();
    let fail = |problems: Vec<PlanProblem>| {
        Box::new(PlanError {
            path: name.clone(),
            src: NamedSource::new(name.clone(), text.to_string()),
            problems,
        })
    };
    let raw: RawPlan = match raw::read(text) {
        Ok(r) => r,
        Err(e) => {
            return Err(fail(vec![PlanProblem {
                message: e.message().to_string(),
                span: e.span().map(|r| (r.start, r.end - r.start).into()),
                label: "here".into(),
                help: None,
            }]));
        }
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p = Problems(Vec::new());
    let plan = validate(raw, text, &base, path, env, engines, &mut p);
    if p.0.is_empty() {
        Ok(plan)
    } else {
        Err(fail(p.0))
    }
}

fn duration(
    p: &mut Problems,
    s: &Option<Spanned<String>>,
    default: Duration,
    what: &str,
) -> Duration {
    match s {
        None => default,
        Some(s) => match humantime::parse_duration(s.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                p.at(
                    s,
                    format!("{what} {:?} is not a duration", s.get_ref()),
                    "not a duration",
                    Some("write it like \"15m\", \"90s\" or \"2h 30m\""),
                );
                default
            }
        },
    }
}

fn interpolate(
    p: &mut Problems,
    url: &Spanned<String>,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    engines: &[EngineKind],
) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("static regex");
    let mut missing = Vec::new();
    let out = re
        .replace_all(url.get_ref(), |c: &regex::Captures| match env(&c[1]) {
            Some(v) => v,
            None => {
                missing.push(c[1].to_string());
                String::new()
            }
        })
        .into_owned();
    for m in missing {
        p.at(
            url,
            format!("environment variable {m} is not set"),
            "used here",
            Some("export it before running ripcord"),
        );
    }
    // A relative database file is relative to the plan file, not to wherever ripcord runs.
    let file_url = engines
        .iter()
        .filter(|k| k.file_urls)
        .flat_map(|k| k.schemes)
        .find_map(|scheme| Some((*scheme, out.strip_prefix(scheme)?.strip_prefix(':')?)));
    if let Some((scheme, rest)) = file_url {
        let rest = rest.trim_start_matches("//");
        let (file, query) = rest
            .split_once('?')
            .map(|(f, q)| (f, Some(q)))
            .unwrap_or((rest, None));
        let file_path = Path::new(file);
        let abs = if file_path.is_absolute() || file == ":memory:" {
            file_path.to_path_buf()
        } else {
            base.join(file_path)
        };
        return match query {
            Some(q) => format!("{scheme}:{}?{q}", abs.display()),
            None => format!("{scheme}:{}", abs.display()),
        };
    }
    out
}

/// Validates the plan, one function per section.
fn validate(
    raw: RawPlan,
    text: &str,
    base: &Path,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    engines: &[EngineKind],
    p: &mut Problems,
) -> Plan {
    let (databases, kinds) = databases(&raw, base, env, engines, p);
    let components = components(&raw, &kinds, p);
    let steps = steps(&raw, p);
    let switches = switch::validate(&raw, base, env, p);
    let notify = notify::validate(&raw, text, base, env, engines, p);
    let dashboard = dashboard::validate(&raw, p);
    let guarded = guard::validate(&raw, base, &raw.components.keys().cloned().collect(), p);
    let project = raw.project.as_ref();
    let state_dir = match project.and_then(|p| p.state_dir.as_ref()) {
        Some(s) => base.join(s.get_ref()),
        None => base.join(".ripcord"),
    };
    let max_checkpoint_age = duration(
        p,
        &project.and_then(|x| x.max_checkpoint_age.clone()),
        crate::check::DEFAULT_MAX_CHECKPOINT_AGE,
        "max_checkpoint_age",
    );
    Plan {
        name: project
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| "ripcord".into()),
        path: path.to_path_buf(),
        state_dir,
        databases,
        components,
        steps,
        guard: guarded.guard,
        probes: guarded.probes,
        rules: guarded.rules,
        scenarios: guarded.scenarios,
        workflows: guarded.workflows,
        max_checkpoint_age,
        switches,
        notify,
        dashboard,
    }
}

/// `[databases.NAME]`, and the engine each database's URL selects, where it selects one.
fn databases<'r>(
    raw: &'r RawPlan,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    engines: &[EngineKind],
    p: &mut Problems,
) -> (BTreeMap<String, Database>, BTreeMap<&'r str, EngineKind>) {
    let mut databases = BTreeMap::new();
    let mut kinds: BTreeMap<&str, EngineKind> = BTreeMap::new();
    for (name, db) in &raw.databases {
        let url = interpolate(p, &db.get_ref().url, env, base, engines);
        let scheme = url.split(':').next().unwrap_or("");
        let kind = engines.iter().find(|k| k.matches(&url)).copied();
        if let Some(k) = kind {
            kinds.insert(name.as_str(), k);
        }
        if !engines.iter().any(|k| k.matches(&url)) {
            p.at(
                &db.get_ref().url,
                // Without a `:` the "scheme" is the whole value, which may be a secret.
                match url.contains(':') {
                    true => format!("database {name:?} has an unsupported URL scheme {scheme:?}"),
                    false => format!("database {name:?} has a URL without a scheme"),
                },
                "unknown scheme",
                Some(&format!("use {}", url_forms(engines, "or"))),
            );
        }
        databases.insert(
            name.clone(),
            Database {
                name: name.clone(),
                url: SecretUrl::new(url),
                lock_timeout: duration(
                    p,
                    &db.get_ref().lock_timeout,
                    DEFAULT_LOCK_TIMEOUT,
                    "lock_timeout",
                ),
                statement_timeout: duration(
                    p,
                    &db.get_ref().statement_timeout,
                    DEFAULT_STATEMENT_TIMEOUT,
                    "statement_timeout",
                ),
                ripcord_schema: db.get_ref().ripcord_schema.as_ref().map(|s| {
                    if let Some(k) = kind.filter(|k| !k.schemas) {
                        p.at(
                            s,
                            format!(
                                "database {name:?}: {} has no schemas, so ripcord_schema does not apply",
                                k.name
                            ),
                            "no schemas on this engine",
                            Some("remove it: ripcord keeps its tables in the database itself"),
                        );
                    } else if s.get_ref().is_empty() || s.get_ref().contains('.') {
                        p.at(
                            s,
                            format!("database {name:?}: ripcord_schema must be one schema name"),
                            "not a schema name",
                            Some("e.g. ripcord_schema = \"ripcord\""),
                        );
                    }
                    s.get_ref().clone()
                }),
            },
        );
    }
    (databases, kinds)
}

/// A reference to a database of the plan.
fn db_ref(
    databases: &BTreeMap<String, Spanned<RawDatabase>>,
    p: &mut Problems,
    s: &Spanned<String>,
) {
    if !databases.contains_key(s.get_ref()) {
        let known: Vec<&str> = databases.keys().map(String::as_str).collect();
        p.at(
            s,
            format!("no database named {:?}", s.get_ref()),
            "unknown database",
            Some(&format!("databases in this plan: {}", known.join(", "))),
        );
    }
}

/// `[components.NAME]`.
fn components(
    raw: &RawPlan,
    kinds: &BTreeMap<&str, EngineKind>,
    p: &mut Problems,
) -> Vec<Component> {
    let mut seen_tables: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut components = Vec::new();
    for (name, c) in &raw.components {
        let c = c.get_ref();
        db_ref(&raw.databases, p, &c.database);
        if let Some(cd) = &c.capture_database {
            db_ref(&raw.databases, p, cd);
        }
        if c.tables.get_ref().is_empty() {
            p.at(
                &c.tables,
                format!("component {name:?} lists no tables"),
                "empty",
                Some("a component is a group of tables: name at least one"),
            );
        }
        for t in c.tables.get_ref() {
            if let Some(kind) = kinds.get(c.database.get_ref().as_str())
                && !kind.schemas
                && let Some((schema, table)) = t.get_ref().split_once('.')
            {
                p.at(
                    t,
                    format!(
                        "table {:?}: database {:?} is {}, which has no schemas",
                        t.get_ref(),
                        c.database.get_ref(),
                        kind.name
                    ),
                    "schema-qualified",
                    Some(&format!(
                        "name the table without {schema:?}: {table:?} in the database the URL names"
                    )),
                );
            }
            let k = (c.database.get_ref().clone(), t.get_ref().clone());
            if let Some(other) = seen_tables.insert(k, name.clone()) {
                p.at(
                    t,
                    format!("table {:?} is already in component {other:?}", t.get_ref()),
                    "listed twice",
                    Some("a table belongs to one component"),
                );
            }
        }
        let priority = match c.priority.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None => Priority::Important,
            Some((_, "critical")) => Priority::Critical,
            Some((_, "important")) => Priority::Important,
            Some((_, "optional")) => Priority::Optional,
            Some((s, other)) => {
                p.at(
                    s,
                    format!("priority {other:?} is not one of critical, important, optional"),
                    "unknown priority",
                    None,
                );
                Priority::Important
            }
        };
        let default_rto = Duration::from_secs(match priority {
            Priority::Critical => 15 * 60,
            _ => 60 * 60,
        });
        let rto = duration(p, &c.rto, default_rto, "rto");
        let checkpoint_every = c.checkpoint_every.as_ref().map(|s| {
            let d = duration(
                p,
                &Some(s.clone()),
                Duration::from_secs(3600),
                "checkpoint_every",
            );
            if d < Duration::from_secs(1) {
                p.at(
                    s,
                    format!("checkpoint_every {:?} is under a second", s.get_ref()),
                    "too often",
                    Some("write it like \"1h\" or \"30m\""),
                );
            }
            d
        });
        let mut invariants = Vec::new();
        for inv in &c.invariants {
            let i = inv.get_ref();
            let check = match (&i.expect, &i.equals) {
                (Some(x), None) => Check::Expect(*x),
                (None, Some(q)) => Check::Equals(q.get_ref().clone()),
                _ => {
                    p.at(inv, format!("invariant {:?} needs exactly one of `expect` (a number) or `equals` (a query)", i.name), "here", None);
                    Check::Expect(0.0)
                }
            };
            let tolerance = i.tolerance.as_ref().map(|t| *t.get_ref()).unwrap_or(0.0);
            if let Some(t) = &i.tolerance
                && (*t.get_ref() < 0.0 || t.get_ref().is_nan())
            {
                p.at(t, "tolerance must be zero or more", "negative", None);
            }
            invariants.push(Invariant {
                name: i.name.clone(),
                sql: i.sql.get_ref().clone(),
                check,
                tolerance,
            });
        }
        let tables: Vec<String> = c
            .tables
            .get_ref()
            .iter()
            .map(|t| t.get_ref().clone())
            .collect();
        let mut reverse = BTreeMap::new();
        for (captured, r) in &c.reverse {
            let target = r
                .get_ref()
                .table
                .clone()
                .unwrap_or_else(|| captured.clone());
            if !tables.contains(&target) {
                p.at(r, format!("reverse mapping for {captured:?} targets table {target:?}, which is not in component {name:?}"), "unknown table", Some(&format!("the component's tables: {}", tables.join(", "))));
            }
            reverse.insert(
                captured.clone(),
                Reverse {
                    table: target,
                    columns: r.get_ref().columns.clone(),
                    ignore: r.get_ref().ignore.clone(),
                },
            );
        }
        components.push(Component {
            name: name.clone(),
            database: c.database.get_ref().clone(),
            capture_database: c
                .capture_database
                .as_ref()
                .unwrap_or(&c.database)
                .get_ref()
                .clone(),
            tables,
            priority,
            rto,
            checkpoint_every,
            invariants,
            reverse,
        });
    }

    components
}

/// `[[steps]]`.
fn steps(raw: &RawPlan, p: &mut Problems) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut step_names = BTreeSet::new();
    for s in &raw.steps {
        let st = s.get_ref();
        if !step_names.insert(st.name.get_ref().clone()) {
            p.at(
                &st.name,
                format!("two steps are named {:?}", st.name.get_ref()),
                "duplicate",
                None,
            );
        }
        let component = st.component.as_ref().map(|c| {
            if !raw.components.contains_key(c.get_ref()) {
                p.at(
                    c,
                    format!("no component named {:?}", c.get_ref()),
                    "unknown component",
                    Some(&format!(
                        "components in this plan: {}",
                        raw.components
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
            c.get_ref().clone()
        });
        let database = match (&st.database, &component) {
            (Some(d), _) => {
                db_ref(&raw.databases, p, d);
                d.get_ref().clone()
            }
            (None, Some(c)) => raw
                .components
                .get(c)
                .map(|c| {
                    c.get_ref()
                        .capture_database
                        .as_ref()
                        .unwrap_or(&c.get_ref().database)
                        .get_ref()
                        .clone()
                })
                .unwrap_or_default(),
            // A step that only moves a switch touches no database.
            (None, None)
                if st.switch.is_some() && st.forward.is_none() && st.forward_command.is_none() =>
            {
                String::new()
            }
            (None, None) => {
                if raw.databases.len() == 1 {
                    raw.databases.keys().next().cloned().unwrap_or_default()
                } else {
                    p.at(
                        s,
                        format!(
                            "step {:?} names neither a component nor a database",
                            st.name.get_ref()
                        ),
                        "which database?",
                        Some("add `component = \"…\"` or `database = \"…\"`"),
                    );
                    String::new()
                }
            }
        };
        let pick = |sql: &Option<String>, cmd: &Option<String>| match (sql, cmd) {
            (Some(s), None) => Ok(Some(Action::Sql(s.clone()))),
            (None, Some(c)) => Ok(Some(Action::Command(c.clone()))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(()),
        };
        let mut action =
            |sql: &Option<String>, cmd: &Option<String>, what: &str| match pick(sql, cmd) {
                Ok(a) => a,
                Err(()) => {
                    p.at(
                        s,
                        format!(
                            "step {:?} has both `{what}` and `{what}_command`",
                            st.name.get_ref()
                        ),
                        "pick one",
                        None,
                    );
                    None
                }
            };
        let forward = action(&st.forward, &st.forward_command, "forward");
        let rollback = action(&st.rollback, &st.rollback_command, "rollback");
        let verify = action(&st.verify, &st.verify_command, "verify");
        let both_forward = st.forward.is_some() && st.forward_command.is_some();
        let advance = st.switch.as_ref().map(|sw| {
            if !raw.switches.contains_key(sw.get_ref()) {
                p.at(
                    sw,
                    format!(
                        "step {:?} advances switch {:?}, which is not in [switches]",
                        st.name.get_ref(),
                        sw.get_ref()
                    ),
                    "unknown switch",
                    None,
                );
            }
            let stage = st.stage.as_ref().map(|s| {
                if *s.get_ref() <= 0 || *s.get_ref() > i64::from(u32::MAX) {
                    p.at(s, "a stage is a positive number", "bad stage", None);
                }
                *s.get_ref() as u32
            });
            (sw.get_ref().clone(), stage)
        });
        if let (Some(s), None) = (&st.stage, &st.switch) {
            p.at(
                s,
                format!("step {:?} has a `stage` but no `switch`", st.name.get_ref()),
                "which switch?",
                None,
            );
        }
        let forward = match forward {
            None if advance.is_some() && !both_forward => None,
            Some(f) => Some(f),
            None => Some({
                if both_forward {
                    Action::Sql(String::new())
                } else {
                    p.at(
                        s,
                        format!(
                            "step {:?} has no `forward` (SQL), `forward_command` or `switch`",
                            st.name.get_ref()
                        ),
                        "nothing to run",
                        None,
                    );
                    Action::Sql(String::new())
                }
            }),
        };
        let timeout = duration(p, &st.timeout, Duration::from_secs(600), "timeout");
        steps.push(Step {
            name: st.name.get_ref().clone(),
            component,
            database,
            forward,
            rollback,
            verify,
            timeout,
            advance,
        });
    }
    steps
}

#[cfg(test)]
mod tests;
