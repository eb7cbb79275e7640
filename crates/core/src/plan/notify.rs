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

pub(super) fn validate(
    raw: &RawPlan,
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
    for (name, ch) in &n.channels {
        let at = |value: &str| Spanned::new(ch.span(), value.to_string());
        let timeout_of = |p: &mut Problems, t: &Option<String>| match t {
            None => Duration::from_secs(10),
            Some(t) => match span_duration(p, &at(t), &format!("channel {name:?}: timeout"), false)
            {
                Some(Some(d)) if !d.is_zero() => d,
                Some(_) => {
                    p.at(
                        ch,
                        format!("channel {name:?}: timeout must be above zero"),
                        "here",
                        None,
                    );
                    Duration::from_secs(10)
                }
                None => Duration::from_secs(10),
            },
        };
        let url = |p: &mut Problems, u: &str| {
            let shown = at(u);
            let real = super::interpolate(p, &shown, env, base, engines);
            if !(real.starts_with("http://") || real.starts_with("https://")) {
                p.at(
                    ch,
                    format!("channel {name:?}: url must start with http:// or https://"),
                    "not an HTTP URL",
                    Some("the incoming-webhook or receiver URL, e.g. \"${SLACK_WEBHOOK_URL}\""),
                );
            }
            webhook_url(real)
        };
        let (kind, timeout) = match ch.get_ref() {
            RawChannel::Smtp {
                host,
                port,
                security,
                username_env,
                password_env,
                from,
                timeout,
            } => {
                let security = match security.as_deref() {
                    None | Some("starttls") => SmtpSecurity::Starttls,
                    Some("tls") => SmtpSecurity::Tls,
                    Some("none") => SmtpSecurity::None,
                    Some(other) => {
                        p.at(
                            ch,
                            format!("channel {name:?}: security {other:?} is not one of starttls, tls, none"),
                            "unknown security",
                            None,
                        );
                        SmtpSecurity::Starttls
                    }
                };
                if !from.contains('@') {
                    p.at(
                        ch,
                        format!("channel {name:?}: from {from:?} is not an e-mail address"),
                        "bad sender",
                        Some("e.g. from = \"ripcord <ripcord@example.com>\""),
                    );
                }
                if username_env.is_some() != password_env.is_some() {
                    p.at(
                        ch,
                        format!(
                            "channel {name:?}: give both username_env and password_env, or neither"
                        ),
                        "half the credentials",
                        None,
                    );
                }
                if host.trim().is_empty() {
                    p.at(
                        ch,
                        format!("channel {name:?}: host is empty"),
                        "no host",
                        None,
                    );
                }
                let port = port.unwrap_or(match security {
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::None => 25,
                });
                (
                    ChannelKind::Smtp {
                        host: host.clone(),
                        port,
                        security,
                        username_env: username_env.clone(),
                        password_env: password_env.clone(),
                        from: from.clone(),
                    },
                    timeout_of(p, timeout),
                )
            }
            RawChannel::Slack { url: u, timeout } => {
                let url = url(p, u);
                (ChannelKind::Slack { url }, timeout_of(p, timeout))
            }
            RawChannel::Webhook { url: u, timeout } => {
                let url = url(p, u);
                (ChannelKind::Webhook { url }, timeout_of(p, timeout))
            }
            RawChannel::Command {
                argv,
                timeout,
                max_chars,
            } => {
                if argv.is_empty() {
                    p.at(
                        ch,
                        format!("channel {name:?}: argv is empty"),
                        "nothing to run",
                        Some(
                            "e.g. argv = [\"/usr/local/bin/send-sms\", \"{address}\", \"{text}\"]",
                        ),
                    );
                }
                for a in argv {
                    for c in placeholder.captures_iter(a) {
                        if !COMMAND_PLACEHOLDERS.contains(&&c[1]) {
                            p.at(
                                ch,
                                format!(
                                    "channel {name:?}: unknown placeholder {{{}}} in argv",
                                    &c[1]
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
                if *max_chars == Some(0) {
                    p.at(
                        ch,
                        format!("channel {name:?}: max_chars must be above zero"),
                        "zero",
                        None,
                    );
                }
                (
                    ChannelKind::Command {
                        argv: argv.clone(),
                        max_chars: *max_chars,
                    },
                    timeout_of(p, timeout),
                )
            }
            RawChannel::InApp {} => (ChannelKind::InApp, Duration::from_secs(10)),
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
        match n.channels.get(&x.channel).map(|c| c.get_ref()) {
            None => {
                let known: Vec<&str> = n.channels.keys().map(String::as_str).collect();
                p.at(
                    r,
                    format!("recipient {:?}: no channel named {:?}", x.name, x.channel),
                    "unknown channel",
                    Some(&format!("channels in this plan: {}", known.join(", "))),
                );
            }
            Some(RawChannel::Smtp { .. }) if !address.contains('@') => p.at(
                r,
                format!(
                    "recipient {:?}: channel {:?} is e-mail, and address {address:?} is not an e-mail address",
                    x.name, x.channel
                ),
                "bad address",
                None,
            ),
            Some(RawChannel::Command { argv, .. })
                if address.is_empty() && argv.iter().any(|a| a.contains("{address}")) =>
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
    out
}
