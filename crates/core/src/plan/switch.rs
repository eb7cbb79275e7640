//! The switches part of a plan (`[switches.NAME]`): how traffic for a component moves to
//! the new side and back, and how to read where it stands. Validated here into the
//! actions `crate::switch` runs; `${NAME}` in HTTP and Redis URLs and in HTTP headers and
//! bodies comes from the environment, and header values are registered as secrets.

use super::raw::*;
use super::{Problems, SecretUrl};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    Sql,
    Redis,
    File,
    Http,
    Command,
}

impl SwitchKind {
    pub fn name(self) -> &'static str {
        match self {
            SwitchKind::Sql => "sql",
            SwitchKind::Redis => "redis",
            SwitchKind::File => "file",
            SwitchKind::Http => "http",
            SwitchKind::Command => "command",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sql" => SwitchKind::Sql,
            "redis" => SwitchKind::Redis,
            "file" => SwitchKind::File,
            "http" => SwitchKind::Http,
            "command" => SwitchKind::Command,
            _ => return None,
        })
    }
}

/// An HTTP call. Header values may hold secrets: they are never shown, only their names.
#[derive(Clone)]
pub struct HttpCall {
    pub method: String,
    pub url: SecretUrl,
    pub body: Option<String>,
    /// Statuses that mean success; empty: any 2xx.
    pub expect_status: Vec<u16>,
    pub headers: Vec<(String, String)>,
}

/// One thing a switch or a cache invalidation does. `{stage}` in its text is replaced by
/// the stage being moved to.
#[derive(Clone, Debug)]
pub enum SwitchAction {
    Sql {
        database: String,
        sql: String,
    },
    RedisSet {
        url: SecretUrl,
        key: String,
        value: String,
    },
    RedisDel {
        url: SecretUrl,
        key: String,
    },
    RedisPublish {
        url: SecretUrl,
        channel: String,
        message: String,
    },
    /// SCAN for keys matching the pattern and DEL them.
    RedisDelPattern {
        url: SecretUrl,
        pattern: String,
    },
    FileWrite {
        path: PathBuf,
        content: String,
    },
    FileRemove {
        path: PathBuf,
    },
    Http(HttpCall),
    /// Run without a shell.
    Command {
        argv: Vec<String>,
    },
}

impl SwitchAction {
    pub fn kind(&self) -> SwitchKind {
        match self {
            SwitchAction::Sql { .. } => SwitchKind::Sql,
            SwitchAction::RedisSet { .. }
            | SwitchAction::RedisDel { .. }
            | SwitchAction::RedisPublish { .. }
            | SwitchAction::RedisDelPattern { .. } => SwitchKind::Redis,
            SwitchAction::FileWrite { .. } | SwitchAction::FileRemove { .. } => SwitchKind::File,
            SwitchAction::Http(_) => SwitchKind::Http,
            SwitchAction::Command { .. } => SwitchKind::Command,
        }
    }

    /// The action with `{stage}` replaced (by nothing when there is no stage).
    pub fn with_stage(&self, stage: Option<u32>) -> SwitchAction {
        let st = stage.map(|s| s.to_string()).unwrap_or_default();
        let r = |s: &String| s.replace("{stage}", &st);
        match self {
            SwitchAction::Sql { database, sql } => SwitchAction::Sql {
                database: database.clone(),
                sql: r(sql),
            },
            SwitchAction::RedisSet { url, key, value } => SwitchAction::RedisSet {
                url: url.clone(),
                key: key.clone(),
                value: r(value),
            },
            SwitchAction::RedisPublish {
                url,
                channel,
                message,
            } => SwitchAction::RedisPublish {
                url: url.clone(),
                channel: channel.clone(),
                message: r(message),
            },
            SwitchAction::FileWrite { path, content } => SwitchAction::FileWrite {
                path: path.clone(),
                content: r(content),
            },
            SwitchAction::Http(h) => SwitchAction::Http(HttpCall {
                body: h.body.as_ref().map(r),
                ..h.clone()
            }),
            SwitchAction::Command { argv } => SwitchAction::Command {
                argv: argv.iter().map(r).collect(),
            },
            other => other.clone(),
        }
    }

    /// What the action does, for the audit log and the console; never a header value.
    pub fn describe(&self) -> String {
        match self {
            SwitchAction::Sql { database, sql } => format!("sql on {database}: {sql}"),
            SwitchAction::RedisSet { url, key, value } => {
                format!("redis {url}: SET {key} {value:?}")
            }
            SwitchAction::RedisDel { url, key } => format!("redis {url}: DEL {key}"),
            SwitchAction::RedisPublish {
                url,
                channel,
                message,
            } => format!("redis {url}: PUBLISH {channel} {message:?}"),
            SwitchAction::RedisDelPattern { url, pattern } => {
                format!("redis {url}: SCAN MATCH {pattern:?} + DEL")
            }
            SwitchAction::FileWrite { path, content } => {
                format!("file: create {} holding {content:?}", path.display())
            }
            SwitchAction::FileRemove { path } => format!("file: remove {}", path.display()),
            SwitchAction::Http(h) => describe_http(h),
            SwitchAction::Command { argv } => format!("command: {argv:?}"),
        }
    }
}

impl std::fmt::Debug for HttpCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCall")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body", &self.body)
            .field("expect_status", &self.expect_status)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

pub fn describe_http(h: &HttpCall) -> String {
    let mut s = format!("http {} {}", h.method, h.url);
    if !h.headers.is_empty() {
        let names: Vec<&str> = h.headers.iter().map(|(k, _)| k.as_str()).collect();
        s.push_str(&format!(" (headers: {})", names.join(", ")));
    }
    s
}

/// How a switch's position is read: the value read is compared with its `new_value` (per
/// stage) and `legacy_value`.
#[derive(Clone, Debug)]
pub enum SwitchRead {
    Sql {
        database: String,
        sql: String,
    },
    /// GET the key; absent reads as nothing.
    Redis {
        url: SecretUrl,
        key: String,
    },
    /// The file's content, trimmed; absent reads as nothing.
    File {
        path: PathBuf,
    },
    /// The response body, trimmed.
    Http(HttpCall),
    /// Standard output, trimmed.
    Command {
        argv: Vec<String>,
    },
}

impl SwitchRead {
    pub fn kind(&self) -> SwitchKind {
        match self {
            SwitchRead::Sql { .. } => SwitchKind::Sql,
            SwitchRead::Redis { .. } => SwitchKind::Redis,
            SwitchRead::File { .. } => SwitchKind::File,
            SwitchRead::Http(_) => SwitchKind::Http,
            SwitchRead::Command { .. } => SwitchKind::Command,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            SwitchRead::Sql { database, sql } => format!("sql on {database}: {sql}"),
            SwitchRead::Redis { url, key } => format!("redis {url}: GET {key}"),
            SwitchRead::File { path } => format!("file: read {}", path.display()),
            SwitchRead::Http(h) => describe_http(h),
            SwitchRead::Command { argv } => format!("command: {argv:?}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Switch {
    pub name: String,
    pub component: String,
    pub kind: SwitchKind,
    pub to_new: Vec<SwitchAction>,
    pub to_legacy: Vec<SwitchAction>,
    pub read: SwitchRead,
    /// What the read returns on the new side; `{stage}` stands for the stage.
    pub new_value: String,
    /// What the read returns on legacy; `None`: nothing there (no key, no file) is legacy.
    pub legacy_value: Option<String>,
    /// Progressive stages, increasing (e.g. 10, 50, 100); empty: on or off.
    pub stages: Vec<u32>,
    /// Run after every flip of this switch, once its read-back agrees.
    pub invalidate: Vec<SwitchAction>,
}

fn expand(
    p: &mut Problems,
    at: &Spanned<impl Sized>,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    secret: bool,
) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("static regex");
    let mut missing = Vec::new();
    let out = re
        .replace_all(text, |c: &regex::Captures| match env(&c[1]) {
            Some(v) => {
                if secret {
                    crate::redact::register(&v);
                }
                v
            }
            None => {
                missing.push(c[1].to_string());
                String::new()
            }
        })
        .into_owned();
    for m in missing {
        p.at(
            at,
            format!("environment variable {m} is not set"),
            "used here",
            Some("export it before running ripcord"),
        );
    }
    out
}

struct Cx<'a> {
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    databases: &'a BTreeMap<String, Spanned<RawDatabase>>,
    name: &'a str,
}

impl Cx<'_> {
    fn database(&self, p: &mut Problems, d: &Spanned<String>) -> String {
        super::db_ref(self.databases, p, d);
        d.get_ref().clone()
    }
    fn url(
        &self,
        p: &mut Problems,
        at: &Spanned<impl Sized>,
        u: &str,
        schemes: &[&str],
    ) -> SecretUrl {
        let real = expand(p, at, u, self.env, false);
        let url = SecretUrl::new(real);
        if !schemes.iter().any(|s| url.scheme() == *s) && !real_is_empty(&url) {
            p.at(
                at,
                format!(
                    "switch {:?}: URL {url} is not {}",
                    self.name,
                    schemes.join(" or ")
                ),
                "wrong scheme",
                Some(&format!("write it like {}://host:port/…", schemes[0])),
            );
        }
        url
    }
    fn path(&self, s: &Spanned<String>) -> PathBuf {
        self.base.join(s.get_ref())
    }
    fn http(
        &self,
        p: &mut Problems,
        at: &Spanned<RawAction>,
        h: &RawHttp,
        default_method: &str,
    ) -> HttpCall {
        let method = h
            .method
            .clone()
            .unwrap_or_else(|| default_method.into())
            .to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&method.as_str()) {
            p.at(at, format!("switch {:?}: HTTP method {method:?} is not GET, POST, PUT, PATCH, DELETE or HEAD", self.name), "unknown method", None);
        }
        HttpCall {
            method,
            url: self.url(p, at, &h.url, &["http", "https"]),
            body: h.body.as_ref().map(|b| expand(p, at, b, self.env, true)),
            expect_status: h.expect_status.clone().unwrap_or_default(),
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), expand(p, at, v, self.env, true)))
                .collect(),
        }
    }
}

fn real_is_empty(u: &SecretUrl) -> bool {
    u.expose().is_empty()
}

/// Validates every `[switches.NAME]`.
pub(super) fn validate(
    raw: &RawPlan,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut Problems,
) -> Vec<Switch> {
    let mut out = Vec::new();
    for (name, entry) in &raw.switches {
        p.refused(
            &entry.refused,
            |field, kind| {
                (
                    format!("switch {name:?}: `{field}` does not apply to a {kind} switch"),
                    SwitchKind::parse(kind).map(|k| kind_help(k).to_string()),
                )
            },
            |kind| {
                format!(
                    "switch {name:?}: kind {kind:?} is not one of sql, redis, file, http, command"
                )
            },
        );
        let Some(s) = &entry.parsed else {
            continue;
        };
        let sw = s.get_ref();
        let cx = Cx {
            base,
            env,
            databases: &raw.databases,
            name,
        };
        if !raw.components.contains_key(sw.component.get_ref()) {
            let known: Vec<&str> = raw.components.keys().map(String::as_str).collect();
            p.at(
                &sw.component,
                format!(
                    "switch {name:?}: no component named {:?}",
                    sw.component.get_ref()
                ),
                "unknown component",
                Some(&format!("components in this plan: {}", known.join(", "))),
            );
        }
        let kind = sw.kind.get_ref().kind();

        let mut stages = Vec::new();
        if let Some(st) = &sw.stages {
            let mut last = 0i64;
            for &v in st.get_ref() {
                if v <= last || v > u32::MAX as i64 {
                    p.at(
                        st,
                        format!("switch {name:?}: stages must be positive and increasing"),
                        "bad stages",
                        Some("write them like [10, 50, 100]"),
                    );
                    break;
                }
                last = v;
                stages.push(v as u32);
            }
            if st.get_ref().is_empty() {
                p.at(
                    st,
                    format!("switch {name:?}: `stages` is empty"),
                    "empty",
                    Some("omit it for an on/off switch"),
                );
            }
        }
        let new_value = match &sw.new_value {
            Some(v) => {
                if !stages.is_empty() && !v.get_ref().contains("{stage}") {
                    p.at(
                        v,
                        format!("switch {name:?} has stages, but its new_value does not contain {{stage}}"),
                        "which stage?",
                        Some("the read must tell the stages apart: write it like \"new:{stage}\""),
                    );
                }
                if stages.is_empty() && v.get_ref().contains("{stage}") {
                    p.at(v, format!("switch {name:?}: new_value uses {{stage}} but the switch has no `stages`"), "no stages", None);
                }
                v.get_ref().clone()
            }
            None if stages.is_empty() => "new".into(),
            None => "{stage}".into(),
        };
        let legacy_value = match (&sw.legacy_value, kind) {
            (Some(v), SwitchKind::File) => {
                p.at(v, format!("switch {name:?}: a file switch is on legacy when its file is absent; `legacy_value` does not apply"), "not for this kind", None);
                None
            }
            (Some(v), _) => Some(v.get_ref().clone()),
            (None, SwitchKind::Redis | SwitchKind::File) => None,
            (None, _) => Some("legacy".into()),
        };
        if legacy_value.as_deref() == Some(new_value.as_str()) {
            p.at(
                s,
                format!("switch {name:?}: new_value and legacy_value are the same"),
                "cannot tell the sides apart",
                None,
            );
        }

        let need = |p: &mut Problems, what: &str| {
            p.at(
                s,
                format!("switch {name:?} ({} switch) has no `{what}`", kind.name()),
                "missing",
                Some(kind_help(kind)),
            );
        };
        let (to_new, to_legacy, read) = match sw.kind.get_ref() {
            RawSwitchKind::Sql(sw) => {
                let database = match &sw.database {
                    Some(d) => cx.database(p, d),
                    None => {
                        need(p, "database");
                        String::new()
                    }
                };
                let text = |p: &mut Problems, a: &Option<Spanned<RawAction>>, what: &str| match a {
                    Some(a) => match a.get_ref() {
                        RawAction::Text(t) => t.clone(),
                        _ => {
                            p.at(a, format!("switch {name:?}: `{what}` of a sql switch is a SQL statement (a string)"), "not SQL", None);
                            String::new()
                        }
                    },
                    None => {
                        need(p, what);
                        String::new()
                    }
                };
                let n = text(p, &sw.to_new, "to_new");
                let l = text(p, &sw.to_legacy, "to_legacy");
                let r = text(p, &sw.read, "read");
                (
                    vec![SwitchAction::Sql {
                        database: database.clone(),
                        sql: n,
                    }],
                    vec![SwitchAction::Sql {
                        database: database.clone(),
                        sql: l,
                    }],
                    SwitchRead::Sql { database, sql: r },
                )
            }
            RawSwitchKind::Redis(sw) => {
                let url = match &sw.url {
                    Some(u) => cx.url(p, u, u.get_ref(), &["redis", "rediss"]),
                    None => {
                        need(p, "url");
                        SecretUrl::new(String::new())
                    }
                };
                let key = match &sw.key {
                    Some(k) => k.get_ref().clone(),
                    None => {
                        need(p, "key");
                        String::new()
                    }
                };
                let mut n = vec![SwitchAction::RedisSet {
                    url: url.clone(),
                    key: key.clone(),
                    value: new_value.clone(),
                }];
                let mut l = vec![match &legacy_value {
                    Some(v) => SwitchAction::RedisSet {
                        url: url.clone(),
                        key: key.clone(),
                        value: v.clone(),
                    },
                    None => SwitchAction::RedisDel {
                        url: url.clone(),
                        key: key.clone(),
                    },
                }];
                if let Some(ch) = &sw.publish {
                    n.push(SwitchAction::RedisPublish {
                        url: url.clone(),
                        channel: ch.get_ref().clone(),
                        message: format!("{name}={new_value}"),
                    });
                    l.push(SwitchAction::RedisPublish {
                        url: url.clone(),
                        channel: ch.get_ref().clone(),
                        message: format!("{name}={}", legacy_value.as_deref().unwrap_or("legacy")),
                    });
                }
                (n, l, SwitchRead::Redis { url, key })
            }
            RawSwitchKind::File(sw) => {
                let path = match &sw.path {
                    Some(f) => cx.path(f),
                    None => {
                        need(p, "path");
                        PathBuf::new()
                    }
                };
                (
                    vec![SwitchAction::FileWrite {
                        path: path.clone(),
                        content: new_value.clone(),
                    }],
                    vec![SwitchAction::FileRemove { path: path.clone() }],
                    SwitchRead::File { path },
                )
            }
            RawSwitchKind::Http(sw) => {
                let http = |p: &mut Problems,
                            a: &Option<Spanned<RawAction>>,
                            what: &str,
                            method: &str| match a {
                    Some(a) => match a.get_ref() {
                        RawAction::Http(h) => Some(cx.http(p, a, h, method)),
                        _ => {
                            p.at(a, format!("switch {name:?}: `{what}` of an http switch is a table: {{ method, url, body, expect_status, headers }}"), "not an HTTP call", None);
                            None
                        }
                    },
                    None => {
                        need(p, what);
                        None
                    }
                };
                let n = http(p, &sw.to_new, "to_new", "POST");
                let l = http(p, &sw.to_legacy, "to_legacy", "POST");
                let r = http(p, &sw.read, "read", "GET");
                match (n, l, r) {
                    (Some(n), Some(l), Some(r)) => (
                        vec![SwitchAction::Http(n)],
                        vec![SwitchAction::Http(l)],
                        SwitchRead::Http(r),
                    ),
                    _ => continue,
                }
            }
            RawSwitchKind::Command(sw) => {
                let argv = |p: &mut Problems, a: &Option<Spanned<RawAction>>, what: &str| match a {
                    Some(a) => match a.get_ref() {
                        RawAction::Argv(v) if !v.is_empty() => v.clone(),
                        _ => {
                            p.at(a, format!("switch {name:?}: `{what}` of a command switch is an argv: [\"program\", \"arg\", …] (no shell)"), "not an argv", None);
                            Vec::new()
                        }
                    },
                    None => {
                        need(p, what);
                        Vec::new()
                    }
                };
                let n = argv(p, &sw.to_new, "to_new");
                let l = argv(p, &sw.to_legacy, "to_legacy");
                let r = argv(p, &sw.read, "read");
                (
                    vec![SwitchAction::Command { argv: n }],
                    vec![SwitchAction::Command { argv: l }],
                    SwitchRead::Command { argv: r },
                )
            }
        };
        if stages.is_empty() && to_new.iter().any(|a| format!("{a:?}").contains("{stage}")) {
            p.at(
                s,
                format!("switch {name:?}: `to_new` uses {{stage}} but the switch has no `stages`"),
                "no stages",
                None,
            );
        }
        let invalidate = sw
            .invalidate
            .iter()
            .filter_map(|i| invalidation(p, &cx, i))
            .collect();
        out.push(Switch {
            name: name.clone(),
            component: sw.component.get_ref().clone(),
            kind,
            to_new,
            to_legacy,
            read,
            new_value,
            legacy_value,
            stages,
            invalidate,
        });
    }
    out
}

impl RawSwitchKind {
    fn kind(&self) -> SwitchKind {
        match self {
            RawSwitchKind::Sql(_) => SwitchKind::Sql,
            RawSwitchKind::Redis(_) => SwitchKind::Redis,
            RawSwitchKind::File(_) => SwitchKind::File,
            RawSwitchKind::Http(_) => SwitchKind::Http,
            RawSwitchKind::Command(_) => SwitchKind::Command,
        }
    }
}

fn kind_help(kind: SwitchKind) -> &'static str {
    match kind {
        SwitchKind::Sql => "a sql switch has database, to_new, to_legacy and read (SQL)",
        SwitchKind::Redis => "a redis switch has url, key and optionally publish (a channel)",
        SwitchKind::File => "a file switch has path: present = new side, absent = legacy",
        SwitchKind::Http => {
            "an http switch has to_new, to_legacy and read, each { method, url, body, expect_status, headers }"
        }
        SwitchKind::Command => "a command switch has to_new, to_legacy and read, each an argv",
    }
}

fn invalidation(p: &mut Problems, cx: &Cx, e: &Entry<RawInvalidate>) -> Option<SwitchAction> {
    let name = cx.name;
    p.refused(
        &e.refused,
        |field, kind| {
            (
                format!("switch {name:?}: `{field}` does not apply to a {kind} cache invalidation"),
                invalidation_help(kind).map(str::to_string),
            )
        },
        |kind| {
            format!(
                "switch {name:?}: invalidation kind {kind:?} is not one of sql, redis, file, http, command"
            )
        },
    );
    let i = e.parsed.as_ref()?;
    let kind = &i.get_ref().kind;
    let missing = |p: &mut Problems, what: &str, kind: &str| {
        p.at(
            i,
            format!("switch {name:?}: a {kind} cache invalidation needs `{what}`"),
            "missing",
            invalidation_help(kind),
        );
    };
    Some(match kind.get_ref() {
        RawInvalidateKind::Sql(r) => {
            let (Some(d), Some(sql)) = (&r.database, &r.sql) else {
                missing(p, "database and sql", "sql");
                return None;
            };
            SwitchAction::Sql {
                database: cx.database(p, d),
                sql: sql.get_ref().clone(),
            }
        }
        RawInvalidateKind::Redis(r) => {
            let (Some(u), Some(pat)) = (&r.url, &r.pattern) else {
                missing(p, "url and pattern", "redis");
                return None;
            };
            SwitchAction::RedisDelPattern {
                url: cx.url(p, u, u.get_ref(), &["redis", "rediss"]),
                pattern: pat.get_ref().clone(),
            }
        }
        RawInvalidateKind::File(r) => {
            let Some(f) = &r.path else {
                missing(p, "path", "file");
                return None;
            };
            SwitchAction::FileRemove { path: cx.path(f) }
        }
        RawInvalidateKind::Http(r) => {
            let Some(u) = &r.url else {
                missing(p, "url", "http");
                return None;
            };
            let raw = RawHttp {
                method: r.method.clone(),
                url: u.get_ref().clone(),
                body: r.body.clone(),
                expect_status: r.expect_status.clone(),
                headers: r.headers.clone(),
            };
            let at = Spanned::new(u.span(), RawAction::Text(String::new()));
            SwitchAction::Http(cx.http(p, &at, &raw, "POST"))
        }
        RawInvalidateKind::Command(r) => {
            let Some(a) = r.argv.as_ref().filter(|a| !a.get_ref().is_empty()) else {
                missing(p, "argv (a non-empty list)", "command");
                return None;
            };
            SwitchAction::Command {
                argv: a.get_ref().clone(),
            }
        }
    })
}

fn invalidation_help(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "sql" => "a sql cache invalidation has database and sql",
        "redis" => "a redis cache invalidation has url and pattern (keys to delete)",
        "file" => "a file cache invalidation has path (the file to remove)",
        "http" => {
            "an http cache invalidation has url, and optionally method, body, expect_status and headers"
        }
        "command" => "a command cache invalidation has argv",
        _ => return None,
    })
}
