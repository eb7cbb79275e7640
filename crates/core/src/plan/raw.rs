//! `ripcord.toml` exactly as written. Nothing here is validated; see `super::validate`.
//!
//! Sections whose fields depend on a `kind` (`[[probe]]`, `[switches.NAME]`) are serde
//! enums: [`read`] moves each entry's own fields under its kind (`kind = "http"` and
//! `url = …` become `kind = { http = { url = … } }`), so an externally tagged enum reads
//! them with every span kept, and serde itself refuses a field of another kind. Each such
//! entry is read on its own ([`Entry`]), so one bad entry does not hide the others.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::de::{DeTable, DeValue, ValueDeserializer};

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
    /// Read by [`read`], entry by entry.
    #[serde(skip)]
    pub probe: Vec<Entry<RawProbe>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    pub decision_matrix: Option<RawMatrix>,
    #[serde(default)]
    pub workflow: Vec<Spanned<RawWorkflow>>,
    /// Read by [`read`], entry by entry.
    #[serde(skip)]
    pub switches: BTreeMap<String, Entry<RawSwitch>>,
    pub notify: Option<Spanned<RawNotify>>,
    pub dashboard: Option<Spanned<RawDashboard>>,
}

/// `[dashboard]`: people who may act on the dashboard.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    #[serde(default)]
    pub tokens: Vec<Spanned<RawToken>>,
}

/// A person and the environment variable holding their token (never the token itself).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: String,
    pub token_env: String,
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
    /// A switch this step moves to the new side (to `stage`, or its last stage) once its
    /// forward and checks passed.
    pub switch: Option<Spanned<String>>,
    pub stage: Option<Spanned<i64>>,
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

/// A `[[probe]]`: the fields every kind has; the kind's own are in `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub name: Spanned<String>,
    pub kind: Spanned<RawProbeKind>,
    pub tier: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub description: Option<String>,
    pub trend: Option<Spanned<RawTrend>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawProbeKind {
    Sql(RawSqlProbe),
    Http(RawHttpProbe),
    Command(RawCommandProbe),
    Prometheus(RawPrometheusProbe),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSqlProbe {
    pub database: Option<Spanned<String>>,
    pub sql: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpProbe {
    pub url: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<Vec<u16>>>,
    pub body_match: Option<Spanned<String>>,
    /// `latency_ms` (default) or `status`.
    pub value: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandProbe {
    pub command: Option<Spanned<String>>,
    /// `exit` (default) or `stdout`.
    pub value: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheusProbe {
    pub url: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
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
    pub fallback: Option<Spanned<String>>,
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

/// A traffic switch (`[switches.NAME]`): the fields every kind has; the kind's own are in
/// `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwitch {
    pub component: Spanned<String>,
    pub kind: Spanned<RawSwitchKind>,
    pub new_value: Option<Spanned<String>>,
    pub legacy_value: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<i64>>>,
    /// `[[switches.NAME.invalidate]]`, kind-tagged too: `read` reads each on its own.
    #[serde(skip)]
    pub invalidate: Vec<Entry<RawInvalidate>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSwitchKind {
    Sql(RawSqlSwitch),
    Redis(RawRedisSwitch),
    File(RawFileSwitch),
    Http(RawActions),
    Command(RawActions),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSqlSwitch {
    pub database: Option<Spanned<String>>,
    pub to_new: Option<Spanned<RawAction>>,
    pub to_legacy: Option<Spanned<RawAction>>,
    pub read: Option<Spanned<RawAction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedisSwitch {
    pub url: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub publish: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSwitch {
    pub path: Option<Spanned<String>>,
}

/// What moves a switch and what reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    pub to_new: Option<Spanned<RawAction>>,
    pub to_legacy: Option<Spanned<RawAction>>,
    pub read: Option<Spanned<RawAction>>,
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

/// A cache invalidation run after every flip of its switch: its kind, whose own fields
/// are in `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidate {
    pub kind: Spanned<RawInvalidateKind>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawInvalidateKind {
    Sql(RawInvalidateSql),
    Redis(RawInvalidateRedis),
    File(RawFileSwitch),
    Http(RawInvalidateHttp),
    Command(RawInvalidateCommand),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidateSql {
    pub database: Option<Spanned<String>>,
    pub sql: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidateRedis {
    pub url: Option<Spanned<String>>,
    pub pattern: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidateHttp {
    pub url: Option<Spanned<String>>,
    pub method: Option<String>,
    pub body: Option<String>,
    pub expect_status: Option<Vec<u16>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvalidateCommand {
    pub argv: Option<Spanned<Vec<String>>>,
}

/// `[notify]`: channels, recipients grouped into escalation levels, users by impact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// `[notify.channels.NAME]`, kind-tagged: `read` reads each on its own.
    #[serde(skip)]
    pub channels: BTreeMap<String, Entry<RawChannel>>,
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
    /// The dashboard's address as people reach it (`https://ripcord.example.com`): messages
    /// carry a one-time acknowledgement link under it; none when unset.
    pub ack_url: Option<Spanned<String>>,
    /// The plan's own wording: message id → language → Fluent source.
    #[serde(default)]
    pub messages: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>,
}

/// A channel (`[notify.channels.NAME]`): its kind, whose own fields are in `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub kind: Spanned<RawChannelKind>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawChannelKind {
    Smtp(RawSmtp),
    Slack(RawHook),
    Webhook(RawHook),
    Command(RawCommandChannel),
    InApp(RawInApp),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: Spanned<String>,
    pub port: Option<u16>,
    /// starttls (default), tls, none.
    pub security: Option<Spanned<String>>,
    pub username_env: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub from: Spanned<String>,
    pub timeout: Option<Spanned<String>>,
}

/// A Slack incoming webhook or an Alertmanager-shaped receiver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    pub url: Spanned<String>,
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommandChannel {
    pub argv: Spanned<Vec<String>>,
    pub timeout: Option<Spanned<String>>,
    pub max_chars: Option<Spanned<usize>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInApp {}

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

/// One entry of a kind-tagged section, read on its own.
#[derive(Debug)]
pub struct Entry<T> {
    /// `None` when serde refused the entry.
    pub parsed: Option<Spanned<T>>,
    /// What serde refused, in the order it did.
    pub refused: Vec<Refused>,
}

/// Something serde refused in an entry.
#[derive(Debug)]
pub enum Refused {
    /// A field the entry's kind does not have (the entry was read again without it).
    WrongKind {
        field: String,
        kind: String,
        at: Range<usize>,
    },
    /// `kind` names no kind of the section.
    UnknownKind { kind: String, at: Range<usize> },
    Other {
        message: String,
        at: Option<Range<usize>>,
    },
}

/// Reads the plan text: everything in one pass but the kind-tagged sections, whose
/// entries are read one by one.
pub fn read(text: &str) -> Result<RawPlan, toml::de::Error> {
    let mut doc = DeTable::parse(text)?;
    let probes = doc.get_mut().remove("probe");
    let switches = doc.get_mut().remove("switches");
    let channels = match doc.get_mut().get_mut("notify").map(|n| n.get_mut()) {
        Some(DeValue::Table(n)) => n.remove("channels"),
        _ => None,
    };
    let mut raw = RawPlan::deserialize(toml::de::Deserializer::from(doc))?;
    if let Some(v) = channels {
        if !matches!(v.get_ref(), DeValue::Table(_)) {
            return Err(not_a::<BTreeMap<String, IgnoredAny>>(v));
        }
        if let (DeValue::Table(t), Some(n)) = (v.into_inner(), &mut raw.notify) {
            n.get_mut().channels = t
                .into_iter()
                .map(|(name, item)| (name.into_inner().into_owned(), entry::<RawChannel>(item)))
                .collect();
        }
    }
    if let Some(v) = probes {
        if !matches!(v.get_ref(), DeValue::Array(_)) {
            return Err(not_a::<Vec<IgnoredAny>>(v));
        }
        if let DeValue::Array(items) = v.into_inner() {
            raw.probe = items.iter().map(|i| entry::<RawProbe>(i.clone())).collect();
        }
    }
    if let Some(v) = switches {
        if !matches!(v.get_ref(), DeValue::Table(_)) {
            return Err(not_a::<BTreeMap<String, IgnoredAny>>(v));
        }
        if let DeValue::Table(t) = v.into_inner() {
            for (name, mut item) in t {
                let invalidate = match item.get_mut() {
                    DeValue::Table(sw) => sw.remove("invalidate"),
                    _ => None,
                };
                let mut e = entry::<RawSwitch>(item);
                if let Some(v) = invalidate {
                    if !matches!(v.get_ref(), DeValue::Array(_)) {
                        return Err(not_a::<Vec<IgnoredAny>>(v));
                    }
                    if let (DeValue::Array(items), Some(sw)) = (v.into_inner(), &mut e.parsed) {
                        sw.get_mut().invalidate = items
                            .iter()
                            .map(|i| entry::<RawInvalidate>(i.clone()))
                            .collect();
                    }
                }
                raw.switches.insert(name.into_inner().into_owned(), e);
            }
        }
    }
    Ok(raw)
}

/// Serde's own error for a value that is not a `T`.
fn not_a<T: DeserializeOwned>(v: Spanned<DeValue<'_>>) -> toml::de::Error {
    match T::deserialize(ValueDeserializer::from(v)) {
        Err(e) => e,
        Ok(_) => serde::de::Error::custom("the value has the wrong type"),
    }
}

/// Reads one entry of a kind-tagged section into `T`, whose own fields are the ones every
/// kind has (every other field of the entry belongs to its kind).
fn entry<T: DeserializeOwned>(mut v: Spanned<DeValue<'_>>) -> Entry<T> {
    let kind = tag_by_kind(&mut v, fields_of::<T>());
    let mut refused = Vec::new();
    loop {
        let e = match Spanned::<T>::deserialize(ValueDeserializer::from(v.clone())) {
            Ok(t) => {
                return Entry {
                    parsed: Some(t),
                    refused,
                };
            }
            Err(e) => e,
        };
        let message = e.message();
        if let Some((kind, _)) = &kind
            && let Some(field) = quoted_after(message, "unknown field `")
            && let Some(span) = remove_own(&mut v, kind, field)
        {
            refused.push(Refused::WrongKind {
                field: field.to_string(),
                kind: kind.clone(),
                at: span,
            });
            continue;
        }
        refused.push(match &kind {
            Some((k, span)) if quoted_after(message, "unknown variant `") == Some(k.as_str()) => {
                Refused::UnknownKind {
                    kind: k.clone(),
                    at: span.clone(),
                }
            }
            _ => Refused::Other {
                message: message.to_string(),
                at: e.span(),
            },
        });
        return Entry {
            parsed: None,
            refused,
        };
    }
}

/// The field names serde reads for the struct `T`, asked of its `Deserialize` itself, so a
/// section's common fields are written once, on its struct.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error, Visitor, value};
    struct Fields<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, value::Error> {
            Err(value::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, value::Error> {
            *self.0 = fields;
            Err(value::Error::custom("only the field names were asked for"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// `x` in "…`x`…" right after `prefix` at the start of `message`.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// Moves every field of the table `v` that is not in `common` under its kind (see the
/// module doc). Returns the kind and where it is written; `None` (and `v` untouched) when
/// `v` is not a table or its `kind` is not a string, which serde then reports.
fn tag_by_kind(v: &mut Spanned<DeValue<'_>>, common: &[&str]) -> Option<(String, Range<usize>)> {
    let DeValue::Table(table) = v.get_mut() else {
        return None;
    };
    let (kind_key, kind_value) = table.remove_entry("kind")?;
    let kind_span = kind_value.span();
    let DeValue::String(kind) = kind_value.get_ref() else {
        table.insert(kind_key, kind_value);
        return None;
    };
    let kind = kind.to_string();
    let mut own = DeTable::new();
    let keys: Vec<_> = table
        .keys()
        .filter(|k| !common.contains(&k.get_ref().as_ref()))
        .cloned()
        .collect();
    for k in keys {
        if let Some((k, val)) = table.remove_entry(k.get_ref().as_ref()) {
            own.insert(k, val);
        }
    }
    let mut tagged = DeTable::new();
    tagged.insert(
        Spanned::new(kind_span.clone(), kind.clone().into()),
        Spanned::new(kind_span.clone(), DeValue::Table(own)),
    );
    table.insert(
        kind_key,
        Spanned::new(kind_span.clone(), DeValue::Table(tagged)),
    );
    Some((kind, kind_span))
}

/// Removes `field` from the kind's own fields; returns the span of its value.
fn remove_own(v: &mut Spanned<DeValue<'_>>, kind: &str, field: &str) -> Option<Range<usize>> {
    let DeValue::Table(table) = v.get_mut() else {
        return None;
    };
    let DeValue::Table(tagged) = table.get_mut("kind")?.get_mut() else {
        return None;
    };
    let DeValue::Table(own) = tagged.get_mut(kind)?.get_mut() else {
        return None;
    };
    own.remove(field).map(|removed| removed.span())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_common_fields_are_the_struct_s_own() {
        assert_eq!(
            super::fields_of::<super::RawProbe>(),
            [
                "name",
                "kind",
                "tier",
                "interval",
                "timeout",
                "description",
                "trend"
            ]
        );
        assert_eq!(super::fields_of::<super::RawInvalidate>(), ["kind"]);
    }
}
