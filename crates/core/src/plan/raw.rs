//! `ripcord.toml` exactly as written. Nothing here is validated; see `super::validate`.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub project: Option<RawProject>,
    #[serde(default)]
    pub databases: BTreeMap<String, Spanned<RawDatabase>>,
    #[serde(default)]
    pub components: BTreeMap<String, Spanned<RawComponent>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
    pub guard: Option<Spanned<RawGuard>>,
    #[serde(default)]
    pub probe: Vec<Spanned<RawProbe>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    pub decision_matrix: Option<RawMatrix>,
    #[serde(default)]
    pub workflow: Vec<Spanned<RawWorkflow>>,
    #[serde(default)]
    pub switches: BTreeMap<String, Spanned<RawSwitch>>,
    pub notify: Option<Spanned<RawNotify>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub name: Option<String>,
    pub state_dir: Option<Spanned<String>>,
    /// `check` is NO-GO when a component's newest checkpoint is older (default "24h").
    pub max_checkpoint_age: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Spanned<String>,
    pub lock_timeout: Option<Spanned<String>>,
    pub statement_timeout: Option<Spanned<String>>,
    /// PostgreSQL: the schema ripcord's own tables and functions live in.
    pub ripcord_schema: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComponent {
    pub database: Spanned<String>,
    pub capture_database: Option<Spanned<String>>,
    pub tables: Spanned<Vec<Spanned<String>>>,
    pub priority: Option<Spanned<String>>,
    pub rto: Option<Spanned<String>>,
    pub checkpoint_every: Option<Spanned<String>>,
    #[serde(default)]
    pub invariants: Vec<Spanned<RawInvariant>>,
    #[serde(default)]
    pub reverse: BTreeMap<String, Spanned<RawReverse>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvariant {
    pub name: String,
    pub sql: Spanned<String>,
    pub expect: Option<f64>,
    pub equals: Option<Spanned<String>>,
    pub tolerance: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReverse {
    pub table: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    #[serde(default)]
    pub ignore: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Spanned<String>,
    pub component: Option<Spanned<String>>,
    pub database: Option<Spanned<String>>,
    pub forward: Option<String>,
    pub forward_command: Option<String>,
    pub rollback: Option<String>,
    pub rollback_command: Option<String>,
    pub verify: Option<String>,
    pub verify_command: Option<String>,
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub panic_file: Option<Spanned<String>>,
    pub baseline_samples: Option<Spanned<i64>>,
    pub baseline_interval: Option<Spanned<String>>,
    pub stop_poll: Option<Spanned<String>>,
    pub confirm: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrend {
    pub below: Option<f64>,
    pub above: Option<f64>,
    pub within: Spanned<String>,
    pub window: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub tier: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub description: Option<String>,
    // sql
    pub database: Option<Spanned<String>>,
    pub sql: Option<Spanned<String>>,
    // http and prometheus
    pub url: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<Vec<u16>>>,
    pub body_match: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    // command
    pub command: Option<Spanned<String>>,
    /// http: `latency_ms` (default) or `status`; command: `exit` (default) or `stdout`.
    pub value: Option<Spanned<String>>,
    pub trend: Option<Spanned<RawTrend>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    pub when: Spanned<String>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub level: Spanned<String>,
    pub scenario: Option<Spanned<String>>,
    #[serde(default)]
    pub components: Vec<Spanned<String>>,
    pub failure_limit: Option<Spanned<i64>>,
    pub consecutive_error_limit: Option<Spanned<i64>>,
    pub inconclusive_limit: Option<Spanned<i64>>,
    pub error_level: Option<Spanned<String>>,
    pub trigger: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatrix {
    #[serde(default)]
    pub scenarios: BTreeMap<String, Spanned<RawScenario>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub description: Option<String>,
    pub severity: Option<Spanned<String>>,
    pub impact: Option<Spanned<String>>,
    pub decision: Option<Spanned<String>>,
    pub recovery: Option<String>,
    pub approvers: Option<Vec<String>>,
    pub approval_timeout: Option<Spanned<String>>,
    pub on_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    pub name: Spanned<String>,
    pub probe: Spanned<String>,
    pub expect: Option<Spanned<String>>,
    pub attempts: Option<Spanned<i64>>,
    pub retry_delay: Option<Spanned<String>>,
}

/// A traffic switch (`[switches.NAME]`); which fields apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwitch {
    pub component: Spanned<String>,
    pub kind: Spanned<String>,
    pub database: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub publish: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub to_new: Option<Spanned<RawAction>>,
    pub to_legacy: Option<Spanned<RawAction>>,
    pub read: Option<Spanned<RawAction>>,
    pub new_value: Option<Spanned<String>>,
    pub legacy_value: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    pub invalidate: Vec<Spanned<RawInvalidate>>,
}

/// A switch action as written: SQL text, an argv, or an HTTP call.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawAction {
    Text(String),
    Argv(Vec<String>),
    Http(RawHttp),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub method: Option<String>,
    pub url: String,
    pub body: Option<String>,
    pub expect_status: Option<Vec<u16>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A cache invalidation run after every flip of its switch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidate {
    pub kind: Spanned<String>,
    pub database: Option<Spanned<String>>,
    pub sql: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub argv: Option<Spanned<Vec<String>>>,
    pub method: Option<String>,
    pub body: Option<String>,
    pub expect_status: Option<Vec<u16>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `[notify]`: channels, recipients grouped into escalation levels, users by impact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    #[serde(default)]
    pub channels: BTreeMap<String, Spanned<RawChannel>>,
    #[serde(default)]
    pub levels: Vec<Spanned<RawLevel>>,
    pub users: Option<Spanned<RawUsers>>,
    /// Impact when no decision-matrix scenario says (none|minimal|moderate|significant).
    pub default_impact: Option<Spanned<String>>,
    /// First retry delay of a failed delivery (doubles each attempt).
    pub retry_after: Option<Spanned<String>>,
    pub retry_max: Option<Spanned<String>>,
    pub max_attempts: Option<Spanned<i64>>,
    /// How often `notify run` looks for new events and due messages.
    pub poll: Option<Spanned<String>>,
}

/// A channel, tagged by `kind`; spans are the whole channel's (serde buffers a tagged
/// enum, so spans inside it are lost).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawChannel {
    Smtp {
        host: String,
        port: Option<u16>,
        /// starttls (default), tls, none.
        security: Option<String>,
        username_env: Option<String>,
        password_env: Option<String>,
        from: String,
        timeout: Option<String>,
    },
    Slack {
        url: String,
        timeout: Option<String>,
    },
    Webhook {
        url: String,
        timeout: Option<String>,
    },
    Command {
        argv: Vec<String>,
        timeout: Option<String>,
        max_chars: Option<usize>,
    },
    InApp {},
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipient {
    pub name: String,
    pub language: Option<String>,
    pub channel: String,
    pub address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLevel {
    pub name: Option<String>,
    pub delay: Option<Spanned<String>>,
    pub repeat: Option<Spanned<String>>,
    pub escalate_after: Option<Spanned<String>>,
    #[serde(default)]
    pub recipients: Vec<Spanned<RawRecipient>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUsers {
    #[serde(default)]
    pub recipients: Vec<Spanned<RawRecipient>>,
    /// With significant impact, users hear again this often until it is resolved.
    pub update_every: Option<Spanned<String>>,
}
