//! The notifications part of a plan (`[notify]`): channels, recipients grouped into
//! escalation levels (timings default to the seed's policy), users told by impact, and the
//! delivery retry policy. `${NAME}` in Slack and webhook URLs comes from the environment
//! and the URL is kept as a secret; SMTP credentials are read from the environment
//! variables named here only when a message is sent.

use super::raw::*;
use super::{Problems, SecretUrl};
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Ar,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ar => "ar",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "en" => Some(Language::En),
            "ar" => Some(Language::Ar),
            _ => None,
        }
    }
}

/// How much the incident touches the business's users; decides what users hear and when
/// (seed 000): none: nothing; minimal: in-app, after resolution; moderate: in-app and
/// email, when it starts and when it is resolved; significant: every channel, at once, at
/// every step and every `update_every` until resolved.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    None,
    Minimal,
    #[default]
    Moderate,
    Significant,
}

impl Impact {
    pub fn name(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minimal => "minimal",
            Impact::Moderate => "moderate",
            Impact::Significant => "significant",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Impact::None,
            Impact::Minimal,
            Impact::Moderate,
            Impact::Significant,
        ]
        .into_iter()
        .find(|i| i.name() == s)
    }
    /// The decision matrix's impact words (high, medium, low) read as user impact.
    pub fn from_scenario(s: &str) -> Option<Self> {
        match s {
            "high" => Some(Impact::Significant),
            "medium" => Some(Impact::Moderate),
            "low" => Some(Impact::Minimal),
            other => Impact::parse(other),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    None,
}

#[derive(Clone, Debug)]
pub enum ChannelKind {
    Smtp {
        host: String,
        port: u16,
        security: SmtpSecurity,
        /// Names of the environment variables holding the credentials.
        username_env: Option<String>,
        password_env: Option<String>,
        from: String,
    },
    /// Slack incoming webhook: `{"text": …}`.
    Slack { url: SecretUrl },
    /// JSON shaped like Alertmanager's webhook payload (version 4).
    Webhook { url: SecretUrl },
    /// An SMS or phone gateway: run without a shell, placeholders replaced per argument.
    Command {
        argv: Vec<String>,
        max_chars: Option<usize>,
    },
    /// Kept in the outbox for the dashboard; nothing leaves the machine.
    InApp,
}

impl ChannelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ChannelKind::Smtp { .. } => "smtp",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Command { .. } => "command",
            ChannelKind::InApp => "in_app",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    /// How long one delivery attempt may take.
    pub timeout: Duration,
}

/// Placeholders a command channel's arguments may use.
pub const COMMAND_PLACEHOLDERS: &[&str] = &[
    "address",
    "recipient",
    "language",
    "subject",
    "text",
    "incident",
    "level",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub name: String,
    pub language: Language,
    pub channel: String,
    /// E-mail address, phone number, Slack user; empty where the channel needs none.
    pub address: String,
}

#[derive(Clone, Debug)]
pub struct EscalationLevel {
    /// 1-based.
    pub number: u32,
    pub name: String,
    /// From the moment the level is reached to its first message.
    pub delay: Duration,
    /// Repeats until acknowledged or resolved; `None`: once.
    pub repeat: Option<Duration>,
    /// Unacknowledged this long after it was reached, the next level is reached.
    pub escalate_after: Option<Duration>,
    pub recipients: Vec<Recipient>,
}

/// The seed's policy for level `n` (1-based): name, delay, repeat, escalate after.
pub fn default_level(n: u32) -> (&'static str, Duration, Option<Duration>, Option<Duration>) {
    let m = |x: u64| Duration::from_secs(x * 60);
    match n {
        1 => ("technical team", m(0), Some(m(15)), Some(m(30))),
        2 => ("management", m(15), Some(m(30)), Some(m(120))),
        3 => ("executive", m(30), Some(m(60)), None),
        _ => ("level", m(0), Some(m(60)), None),
    }
}

#[derive(Clone, Debug)]
pub struct NotifyPlan {
    pub channels: BTreeMap<String, Channel>,
    pub levels: Vec<EscalationLevel>,
    pub users: Vec<Recipient>,
    pub users_update_every: Duration,
    pub default_impact: Impact,
    pub retry_after: Duration,
    pub retry_max: Duration,
    pub max_attempts: u32,
    pub poll: Duration,
    /// The dashboard's address as people reach it; messages to a level carry a one-time
    /// acknowledgement link under it (`ACK_URL/ack/TOKEN`). No link when unset.
    pub ack_url: Option<String>,
    /// The plan's own wording of messages (`[notify.messages]`), checked at load.
    pub messages: Vec<MessageWording>,
}

/// A plan's wording of one message in one language: a Fluent resource defining
/// `catalog::plan_id(id)` (its value is the text, its `.subject` the subject; either may
/// be left to the built-in message).
#[derive(Clone, Debug, PartialEq)]
pub struct MessageWording {
    pub id: String,
    pub language: Language,
    pub ftl: String,
}

impl NotifyPlan {
    /// The plan's wording of `id` in `language`, if it has one.
    pub fn wording(&self, id: &str, language: Language) -> Option<&MessageWording> {
        self.messages
            .iter()
            .find(|m| m.id == id && m.language == language)
    }
}

impl Default for NotifyPlan {
    fn default() -> Self {
        NotifyPlan {
            channels: BTreeMap::new(),
            levels: Vec::new(),
            users: Vec::new(),
            users_update_every: Duration::from_secs(30 * 60),
            default_impact: Impact::Moderate,
            retry_after: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            max_attempts: 8,
            poll: Duration::from_secs(1),
            ack_url: None,
            messages: Vec::new(),
        }
    }
}

impl NotifyPlan {
    /// True when the plan names anybody to tell.
    pub fn configured(&self) -> bool {
        self.levels.iter().any(|l| !l.recipients.is_empty()) || !self.users.is_empty()
    }
    pub fn level(&self, n: u32) -> Option<&EscalationLevel> {
        self.levels.iter().find(|l| l.number == n)
    }
    /// The delay before attempt `n + 1` after `n` failed attempts (doubling, capped).
    pub fn backoff(&self, failed: u32) -> Duration {
        let f = 2u32.saturating_pow(failed.saturating_sub(1)).min(1 << 16);
        (self.retry_after * f).min(self.retry_max)
    }
}

/// A webhook URL's path is its credential (Slack's `/services/T…/B…/secret`): it is
/// registered as a secret and shown as `scheme://host/…`.
fn webhook_url(real: String) -> SecretUrl {
    let after_scheme = real.find("://").map(|i| i + 3).unwrap_or(0);
    let path_at = real[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(real.len());
    let host_part = &real[..path_at];
    let url = SecretUrl::new(real.clone());
    // A short path ("/hook") is no credential, and masking it would mask that word
    // everywhere.
    if real.len() > path_at + 16 {
        crate::redact::register(&real[path_at + 1..]);
    }
    crate::redact::register(&real);
    SecretUrl {
        shown: format!("{}/…", crate::redact::redact_url(host_part)),
        ..url
    }
}

/// A duration, `0s` allowed; "never" is `None` where `never` is allowed.
fn span_duration(
    p: &mut Problems,
    s: &Spanned<String>,
    what: &str,
    never: bool,
) -> Option<Option<Duration>> {
    let t = s.get_ref().trim();
    if never && t == "never" {
        return Some(None);
    }
    if t == "0" {
        return Some(Some(Duration::ZERO));
    }
    match humantime::parse_duration(t) {
        Ok(d) => Some(Some(d)),
        Err(_) => {
            p.at(
                s,
                format!("{what} {:?} is not a duration", s.get_ref()),
                "not a duration",
                Some(if never {
                    "write it like \"15m\", \"90s\", \"2h\" or \"never\""
                } else {
                    "write it like \"15m\", \"90s\" or \"2h\""
                }),
            );
            None
        }
    }
}

fn channel_help(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "smtp" => {
            "an smtp channel has host, port, security, username_env, password_env, from and timeout"
        }
        "slack" | "webhook" => "a slack or webhook channel has url and timeout",
        "command" => "a command channel has argv, timeout and max_chars",
        "in_app" => "an in_app channel has no settings",
        _ => return None,
    })
}

pub(super) fn validate(
    raw: &RawPlan,
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    engines: &[crate::engine::EngineKind],
    p: &mut Problems,
) -> NotifyPlan {
    let mut out = NotifyPlan::default();
    let Some(section) = &raw.notify else {
        return out;
    };
    let n = section.get_ref();
    let placeholder = regex::Regex::new(r"\{([A-Za-z_]*)\}").expect("static regex");
    for (name, entry) in &n.channels {
        p.refused(
            &entry.refused,
            |field, kind| {
                (
                    format!("channel {name:?}: `{field}` does not apply to a {kind} channel"),
                    channel_help(kind).map(str::to_string),
                )
            },
            |kind| {
                format!(
                    "channel {name:?}: kind {kind:?} is not one of smtp, slack, webhook, command, in_app"
                )
            },
        );
        let Some(ch) = &entry.parsed else {
            continue;
        };
        let timeout_of = |p: &mut Problems, t: &Option<Spanned<String>>| match t {
            None => Duration::from_secs(10),
            Some(t) => match span_duration(p, t, &format!("channel {name:?}: timeout"), false) {
                Some(Some(d)) if !d.is_zero() => d,
                Some(_) => {
                    p.at(
                        t,
                        format!("channel {name:?}: timeout must be above zero"),
                        "zero",
                        None,
                    );
                    Duration::from_secs(10)
                }
                None => Duration::from_secs(10),
            },
        };
        let url = |p: &mut Problems, u: &Spanned<String>| {
            let real = super::interpolate(p, u, env, base, engines);
            if !(real.starts_with("http://") || real.starts_with("https://")) {
                p.at(
                    u,
                    format!("channel {name:?}: url must start with http:// or https://"),
                    "not an HTTP URL",
                    Some("the incoming-webhook or receiver URL, e.g. \"${SLACK_WEBHOOK_URL}\""),
                );
            }
            webhook_url(real)
        };
        let (kind, timeout) = match ch.get_ref().kind.get_ref() {
            RawChannelKind::Smtp(c) => {
                let security = match &c.security {
                    None => SmtpSecurity::Starttls,
                    Some(s) => match s.get_ref().as_str() {
                        "starttls" => SmtpSecurity::Starttls,
                        "tls" => SmtpSecurity::Tls,
                        "none" => SmtpSecurity::None,
                        other => {
                            p.at(
                                s,
                                format!("channel {name:?}: security {other:?} is not one of starttls, tls, none"),
                                "unknown security",
                                None,
                            );
                            SmtpSecurity::Starttls
                        }
                    },
                };
                let from = c.from.get_ref();
                if !from.contains('@') {
                    p.at(
                        &c.from,
                        format!("channel {name:?}: from {from:?} is not an e-mail address"),
                        "bad sender",
                        Some("e.g. from = \"ripcord <ripcord@example.com>\""),
                    );
                }
                if let (Some(half), None) | (None, Some(half)) = (&c.username_env, &c.password_env)
                {
                    p.at(
                        half,
                        format!(
                            "channel {name:?}: give both username_env and password_env, or neither"
                        ),
                        "half the credentials",
                        None,
                    );
                }
                if c.host.get_ref().trim().is_empty() {
                    p.at(
                        &c.host,
                        format!("channel {name:?}: host is empty"),
                        "no host",
                        None,
                    );
                }
                let port = c.port.unwrap_or(match security {
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::None => 25,
                });
                let text = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
                (
                    ChannelKind::Smtp {
                        host: c.host.get_ref().clone(),
                        port,
                        security,
                        username_env: text(&c.username_env),
                        password_env: text(&c.password_env),
                        from: from.clone(),
                    },
                    timeout_of(p, &c.timeout),
                )
            }
            RawChannelKind::Slack(c) => {
                let url = url(p, &c.url);
                (ChannelKind::Slack { url }, timeout_of(p, &c.timeout))
            }
            RawChannelKind::Webhook(c) => {
                let url = url(p, &c.url);
                (ChannelKind::Webhook { url }, timeout_of(p, &c.timeout))
            }
            RawChannelKind::Command(c) => {
                let argv = c.argv.get_ref();
                if argv.is_empty() {
                    p.at(
                        &c.argv,
                        format!("channel {name:?}: argv is empty"),
                        "nothing to run",
                        Some(
                            "e.g. argv = [\"/usr/local/bin/send-sms\", \"{address}\", \"{text}\"]",
                        ),
                    );
                }
                for a in argv {
                    for cap in placeholder.captures_iter(a) {
                        if !COMMAND_PLACEHOLDERS.contains(&&cap[1]) {
                            p.at(
                                &c.argv,
                                format!(
                                    "channel {name:?}: unknown placeholder {{{}}} in argv",
                                    &cap[1]
                                ),
                                "unknown placeholder",
                                Some(&format!(
                                    "placeholders: {}",
                                    COMMAND_PLACEHOLDERS
                                        .iter()
                                        .map(|x| format!("{{{x}}}"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )),
                            );
                        }
                    }
                }
                if let Some(m) = c.max_chars.as_ref().filter(|m| *m.get_ref() == 0) {
                    p.at(
                        m,
                        format!("channel {name:?}: max_chars must be above zero"),
                        "zero",
                        None,
                    );
                }
                (
                    ChannelKind::Command {
                        argv: argv.clone(),
                        max_chars: c.max_chars.as_ref().map(|m| *m.get_ref()),
                    },
                    timeout_of(p, &c.timeout),
                )
            }
            RawChannelKind::InApp(_) => (ChannelKind::InApp, Duration::from_secs(10)),
        };
        out.channels.insert(
            name.clone(),
            Channel {
                name: name.clone(),
                kind,
                timeout,
            },
        );
    }

    let recipient = |p: &mut Problems, r: &Spanned<RawRecipient>| -> Recipient {
        let x = r.get_ref();
        let language = match x.language.as_deref() {
            None => Language::En,
            Some(l) => Language::parse(l).unwrap_or_else(|| {
                p.at(
                    r,
                    format!("recipient {:?}: language {l:?} is not en or ar", x.name),
                    "unknown language",
                    None,
                );
                Language::En
            }),
        };
        let address = x.address.clone().unwrap_or_default();
        match n
            .channels
            .get(&x.channel)
            .map(|e| e.parsed.as_ref().map(|c| c.get_ref().kind.get_ref()))
        {
            None => {
                let known: Vec<&str> = n.channels.keys().map(String::as_str).collect();
                p.at(
                    r,
                    format!("recipient {:?}: no channel named {:?}", x.name, x.channel),
                    "unknown channel",
                    Some(&format!("channels in this plan: {}", known.join(", "))),
                );
            }
            Some(Some(RawChannelKind::Smtp(_))) if !address.contains('@') => p.at(
                r,
                format!(
                    "recipient {:?}: channel {:?} is e-mail, and address {address:?} is not an e-mail address",
                    x.name, x.channel
                ),
                "bad address",
                None,
            ),
            Some(Some(RawChannelKind::Command(c)))
                if address.is_empty() && c.argv.get_ref().iter().any(|a| a.contains("{address}")) =>
            {
                p.at(
                    r,
                    format!("recipient {:?}: channel {:?} uses {{address}}; give an address", x.name, x.channel),
                    "no address",
                    None,
                )
            }
            _ => {}
        }
        if x.name.trim().is_empty() {
            p.at(r, "a recipient has an empty name", "no name", None);
        }
        Recipient {
            name: x.name.clone(),
            language,
            channel: x.channel.clone(),
            address,
        }
    };

    for (i, l) in n.levels.iter().enumerate() {
        let number = i as u32 + 1;
        let x = l.get_ref();
        let (dname, ddelay, drepeat, descalate) = default_level(number);
        let delay = match &x.delay {
            None => ddelay,
            Some(s) => span_duration(p, s, "delay", false)
                .flatten()
                .unwrap_or(ddelay),
        };
        let repeat = match &x.repeat {
            None => drepeat,
            Some(s) => span_duration(p, s, "repeat", true).unwrap_or(drepeat),
        };
        if let (Some(s), Some(r)) = (&x.repeat, repeat)
            && r.is_zero()
        {
            p.at(s, "repeat must be above zero (or \"never\")", "zero", None);
        }
        let escalate_after = match &x.escalate_after {
            None => descalate,
            Some(s) => span_duration(p, s, "escalate_after", true).unwrap_or(descalate),
        };
        if x.recipients.is_empty() {
            p.at(
                l,
                format!("escalation level {number} names no recipients"),
                "empty level",
                Some("recipients = [{ name = \"…\", language = \"en\", channel = \"…\", address = \"…\" }]"),
            );
        }
        let recipients = x.recipients.iter().map(|r| recipient(p, r)).collect();
        out.levels.push(EscalationLevel {
            number,
            name: x.name.clone().unwrap_or_else(|| dname.to_string()),
            delay,
            repeat,
            escalate_after,
            recipients,
        });
    }
    if let Some(u) = &n.users {
        let u = u.get_ref();
        out.users = u.recipients.iter().map(|r| recipient(p, r)).collect();
        if let Some(s) = &u.update_every {
            match span_duration(p, s, "update_every", false).flatten() {
                Some(d) if !d.is_zero() => out.users_update_every = d,
                Some(_) => p.at(s, "update_every must be above zero", "zero", None),
                None => {}
            }
        }
    }
    if let Some(s) = &n.default_impact {
        match Impact::parse(s.get_ref()) {
            Some(i) => out.default_impact = i,
            None => p.at(
                s,
                format!(
                    "default_impact {:?} is not one of none, minimal, moderate, significant",
                    s.get_ref()
                ),
                "unknown impact",
                None,
            ),
        }
    }
    let positive = |p: &mut Problems, s: &Option<Spanned<String>>, what: &str, d: Duration| match s
    {
        None => d,
        Some(s) => match span_duration(p, s, what, false).flatten() {
            Some(v) if !v.is_zero() => v,
            Some(_) => {
                p.at(s, format!("{what} must be above zero"), "zero", None);
                d
            }
            None => d,
        },
    };
    out.retry_after = positive(p, &n.retry_after, "retry_after", out.retry_after);
    out.retry_max = positive(p, &n.retry_max, "retry_max", out.retry_max);
    out.poll = positive(p, &n.poll, "poll", out.poll);
    if let Some(m) = &n.max_attempts {
        if *m.get_ref() < 1 {
            p.at(m, "max_attempts must be 1 or more", "too few", None);
        } else {
            out.max_attempts = (*m.get_ref()).min(1000) as u32;
        }
    }
    if let Some(u) = &n.ack_url {
        let url = u.get_ref().trim().trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(h) if !h.is_empty() && !h.contains(['?', '#', ' ']) => {
                out.ack_url = Some(url.to_string())
            }
            _ => p.at(
                u,
                format!("ack_url {:?} is not an http(s) address", u.get_ref()),
                "not a URL",
                Some("the dashboard's address as people reach it, e.g. \"https://ripcord.example.com\""),
            ),
        }
    }
    for (id, langs) in &n.messages {
        let Some(allowed) = crate::notify::catalog::placeholders(id.get_ref()) else {
            let known: Vec<&str> = crate::notify::catalog::messages()
                .into_iter()
                .map(|(m, _)| m)
                .collect();
            p.at(
                id,
                format!("[notify.messages]: there is no message {:?}", id.get_ref()),
                "unknown message",
                Some(&format!("messages: {}", known.join(", "))),
            );
            continue;
        };
        for (lang, source) in langs {
            let Some(language) = Language::parse(lang.get_ref()) else {
                p.at(
                    lang,
                    format!(
                        "[notify.messages.{}]: language {:?} is not en or ar",
                        id.get_ref(),
                        lang.get_ref()
                    ),
                    "unknown language",
                    None,
                );
                continue;
            };
            if let Some(ftl) = wording(p, text, id.get_ref(), source, &allowed) {
                out.messages.push(MessageWording {
                    id: id.get_ref().clone(),
                    language,
                    ftl,
                });
            }
        }
    }
    out
}

/// Where each character of a TOML string value sits in the plan file: exact when the value
/// is written as it reads (no escapes), else the whole value.
struct StringAt {
    inner: Option<usize>,
    start: usize,
    end: usize,
}

impl StringAt {
    fn new(text: &str, s: &Spanned<String>) -> StringAt {
        let span = s.span();
        let raw = text.get(span.clone()).unwrap_or_default();
        let inner = ["\"\"\"", "'''", "\"", "'"].iter().find_map(|q| {
            let body = raw.strip_prefix(q)?.strip_suffix(q)?;
            // TOML drops the newline right after a multi-line string's opening quotes.
            let skip = match body {
                b if q.len() == 3 && b.starts_with("\r\n") => 2,
                b if q.len() == 3 && b.starts_with('\n') => 1,
                _ => 0,
            };
            (body[skip..] == *s.get_ref()).then_some(span.start + q.len() + skip)
        });
        StringAt {
            inner,
            start: span.start,
            end: span.end,
        }
    }

    /// The file's range for `range` of the value.
    fn at(&self, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
        match self.inner {
            Some(i) => i + range.start..i + range.end.max(range.start + 1),
            None => self.start..self.end,
        }
    }
}

/// Checks a plan's Fluent wording of message `id` and returns it as a resource defining
/// `catalog::plan_id(id)`; syntax errors, unknown placeholders and references are plan
/// problems at their place in the file.
fn wording(
    p: &mut Problems,
    text: &str,
    id: &str,
    source: &Spanned<String>,
    allowed: &[&str],
) -> Option<String> {
    use fluent_syntax::ast;
    let at = StringAt::new(text, source);
    let value = source.get_ref();
    let what = format!("[notify.messages.{id}]");
    if value.trim().is_empty() {
        p.span(
            at.at(0..0),
            format!("{what}: the wording is empty"),
            "empty",
            None,
        );
        return None;
    }
    // The value's lines become the message's indented lines; `starts[k]` is where line k
    // of the value begins, in the value and in the resource.
    let pid = crate::notify::catalog::plan_id(id);
    let mut ftl = format!("{pid} =\n");
    let mut starts = Vec::new();
    let mut from = 0;
    for line in value.split_inclusive('\n') {
        ftl.push_str("    ");
        starts.push((from, ftl.len()));
        ftl.push_str(line);
        from += line.len();
    }
    if !ftl.ends_with('\n') {
        ftl.push('\n');
    }
    let to_value = |pos: usize| -> usize {
        match starts.iter().rev().find(|(_, r)| *r <= pos) {
            Some((v, r)) => (v + (pos - r)).min(value.len()),
            None => 0,
        }
    };
    let resource = match fluent_syntax::parser::parse(ftl.as_str()) {
        Ok(r) => r,
        Err((_, errors)) => {
            // An error at the end (an unclosed placeable) is shown on the last text, not
            // on the closing quotes.
            let last = value.trim_end().len().max(1) - 1;
            for e in errors {
                let s = to_value(e.pos.start).min(last);
                p.span(
                    at.at(s..to_value(e.pos.end).clamp(s, last + 1)),
                    format!("{what}: not Fluent: {}", e.kind),
                    "here",
                    Some("a placeholder is { $name }; literal braces are {\"{\"} and {\"}\"}"),
                );
            }
            return None;
        }
    };
    let message = resource.body.iter().find_map(|e| match e {
        ast::Entry::Message(m) if m.id.name == pid => Some(m),
        _ => None,
    });
    let Some(message) = message else {
        p.span(
            at.at(0..0),
            format!("{what}: no message text in the wording"),
            "here",
            None,
        );
        return None;
    };
    for a in &message.attributes {
        if a.id.name != "subject" {
            let s = value.find(&format!(".{}", a.id.name)).unwrap_or(0);
            p.span(
                at.at(s..s + a.id.name.len() + 1),
                format!("{what}: unknown attribute .{}", a.id.name),
                "unknown attribute",
                Some("a message has its text and a .subject"),
            );
        }
    }
    let mut used = Vec::new();
    for pat in message
        .value
        .iter()
        .chain(message.attributes.iter().map(|a| &a.value))
    {
        references(pat, &mut used);
    }
    let shared = || {
        crate::notify::catalog::SHARED
            .iter()
            .map(|(s, _)| format!("{{ {s} }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for r in used {
        let (needle, problem, help) = match &r {
            Reference::Variable(v) if !allowed.contains(&v.as_str()) => (
                format!("${v}"),
                format!("{what}: unknown placeholder ${v}"),
                format!("this message has ${}", allowed.join(", $")),
            ),
            Reference::Variable(_) => continue,
            Reference::Message(m) => match crate::notify::catalog::SHARED
                .iter()
                .find(|(s, _)| *s == m.as_str())
            {
                Some((_, needs)) if needs.iter().all(|n| allowed.contains(n)) => continue,
                _ => (
                    m.clone(),
                    format!("{what}: {{ {m} }} is not available in this message"),
                    format!("shared pieces: {}", shared()),
                ),
            },
            Reference::Other(x) => (
                x.clone(),
                format!("{what}: {x} is not available in ripcord's messages"),
                "use placeholders ({ $name }), selects and the shared pieces".to_string(),
            ),
        };
        let s = value.find(&needle).unwrap_or(0);
        p.span(at.at(s..s + needle.len()), problem, "unknown", Some(&help));
    }
    Some(ftl)
}

enum Reference {
    Variable(String),
    Message(String),
    /// A term or a function: the built-in messages define none.
    Other(String),
}

fn references(pat: &fluent_syntax::ast::Pattern<&str>, out: &mut Vec<Reference>) {
    use fluent_syntax::ast::{Expression, InlineExpression as I, PatternElement};
    fn expression(e: &Expression<&str>, out: &mut Vec<Reference>) {
        match e {
            Expression::Inline(i) => inline(i, out),
            Expression::Select { selector, variants } => {
                inline(selector, out);
                for v in variants {
                    references(&v.value, out);
                }
            }
        }
    }
    fn inline(i: &I<&str>, out: &mut Vec<Reference>) {
        match i {
            I::VariableReference { id } => out.push(Reference::Variable(id.name.to_string())),
            I::MessageReference { id, .. } => out.push(Reference::Message(id.name.to_string())),
            I::TermReference { id, .. } => out.push(Reference::Other(format!("-{}", id.name))),
            I::FunctionReference { id, .. } => out.push(Reference::Other(id.name.to_string())),
            I::Placeable { expression: e } => expression(e, out),
            I::StringLiteral { .. } | I::NumberLiteral { .. } => {}
        }
    }
    for el in &pat.elements {
        if let PatternElement::Placeable { expression: e } = el {
            expression(e, out);
        }
    }
}
