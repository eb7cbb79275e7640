//! The one way ripcord connects to MariaDB/MySQL (the engine, `ripcord diff`, the second
//! connection a cancel opens).
//!
//! A target is `mysql://` or `mariadb://user:password@host:port/database?…`. Besides the
//! driver's own options the query may hold `ssl-mode` (DISABLED, PREFERRED (the default, as
//! in the `mysql` client), REQUIRED, VERIFY_CA, VERIFY_IDENTITY), `ssl-ca`, `ssl-cert`,
//! `ssl-key`, `connect_timeout` (seconds, default 10) and `defaults-file`. What the URL
//! leaves out (user, password, TLS options) comes from the `[client]` and
//! `[client-mariadb]` sections of the option files (`defaults-file`, else
//! `$MYSQL_HOME/my.cnf` then `~/.my.cnf`), and the password last from `MYSQL_PWD`. The
//! connect timeout bounds the TCP connect and, again, the handshake and session set-up, so
//! a server that accepts and never answers is an error, not a hang.

use mysql::consts::CapabilityFlags;
use mysql::{ClientIdentity, Conn, DriverError, Opts, OptsBuilder, SslOpts};
use ripcord_core::redact;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => Mode::Disabled,
            "PREFERRED" => Mode::Preferred,
            "REQUIRED" => Mode::Required,
            "VERIFY_CA" => Mode::VerifyCa,
            "VERIFY_IDENTITY" => Mode::VerifyIdentity,
            _ => {
                return Err(format!(
                    "ssl-mode {s:?} is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
                ));
            }
        })
    }
    fn name(self) -> &'static str {
        match self {
            Mode::Disabled => "DISABLED",
            Mode::Preferred => "PREFERRED",
            Mode::Required => "REQUIRED",
            Mode::VerifyCa => "VERIFY_CA",
            Mode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

/// Where the environment comes from: the process, or a test's map.
pub struct Env<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Env<'_> {
    pub fn process() -> Env<'static> {
        Env {
            var: &|k| std::env::var(k).ok(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// A resolved target: the driver's options with ripcord's session set-up, and how to name
/// it in messages.
#[derive(Clone)]
pub struct Target {
    pub opts: Opts,
    pub mode: Mode,
    pub timeout: Option<Duration>,
    /// `host:port`; never holds a secret.
    pub place: String,
    pub ca: Option<PathBuf>,
    pub password_from: Option<&'static str>,
}

/// ripcord's options, taken out of the query before the driver sees it.
const OURS: &[&str] = &[
    "ssl-mode",
    "ssl_mode",
    "sslmode",
    "ssl-ca",
    "ssl_ca",
    "ssl-cert",
    "ssl_cert",
    "ssl-key",
    "ssl_key",
    "connect_timeout",
    "defaults-file",
    "defaults_file",
];

pub fn resolve(url: &str, env: &Env) -> Result<Target, String> {
    let driver_url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_string(),
    };
    let (base, query) = match driver_url.split_once('?') {
        Some((b, q)) => (b.to_string(), q.to_string()),
        None => (driver_url.clone(), String::new()),
    };
    let mut ours = BTreeMap::new();
    let mut rest = Vec::new();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if OURS.contains(&k) {
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned();
            let k = match k {
                "sslmode" | "ssl_mode" => "ssl-mode".to_string(),
                "connect_timeout" => k.to_string(),
                _ => k.replace('_', "-"),
            };
            ours.insert(k, v);
        } else {
            rest.push(kv);
        }
    }
    let driver_url = if rest.is_empty() {
        base
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let opts = Opts::from_url(&driver_url).map_err(|e| format!("invalid URL: {e}"))?;
    let files = option_files(ours.get("defaults-file").map(PathBuf::from), env);
    let from_file = client_options(&files)?;
    for (k, v) in &from_file {
        if k != "password" && k != "user" {
            ours.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut b = OptsBuilder::from_opts(opts.clone());
    let mut password_from = None;
    if opts.get_user().is_none() {
        let user = from_file
            .get("user")
            .cloned()
            .or_else(|| (env.var)("USER"))
            .ok_or("no user name: give one in the URL")?;
        b = b.user(Some(user));
    }
    if opts.get_pass().is_none() {
        let pw = match from_file.get("password") {
            Some(p) => Some((p.clone(), "the option file")),
            None => (env.var)("MYSQL_PWD").map(|p| (p, "MYSQL_PWD")),
        };
        if let Some((pw, from)) = pw {
            redact::register(&pw);
            b = b.pass(Some(pw));
            password_from = Some(from);
        }
    }
    let timeout = match ours.get("connect_timeout") {
        None => Some(DEFAULT_CONNECT_TIMEOUT),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n <= 0 => None,
            Ok(n) => Some(Duration::from_secs(n as u64)),
            Err(_) => return Err(format!("connect_timeout {s:?} is not a number of seconds")),
        },
    };
    let ca = ours.get("ssl-ca").map(PathBuf::from);
    let mode = match ours.get("ssl-mode") {
        Some(m) => Mode::parse(m)?,
        None => Mode::Preferred,
    };
    // As libpq does for require: a CA at hand means the chain is checked.
    let mode = if mode == Mode::Required && ca.is_some() {
        Mode::VerifyCa
    } else {
        mode
    };
    if matches!(mode, Mode::VerifyCa | Mode::VerifyIdentity) && ca.is_none() {
        return Err(format!(
            "ssl-mode={} checks the server's certificate and needs the CA that signed it: add ssl-ca=PATH to the URL",
            mode.name()
        ));
    }
    let ssl = match mode {
        Mode::Disabled => None,
        Mode::Preferred | Mode::Required => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Mode::VerifyCa => Some(
            SslOpts::default()
                .with_root_cert_path(ca.clone())
                .with_danger_skip_domain_validation(true),
        ),
        Mode::VerifyIdentity => Some(SslOpts::default().with_root_cert_path(ca.clone())),
    };
    let ssl = match (ssl, ours.get("ssl-cert"), ours.get("ssl-key")) {
        (Some(s), Some(c), Some(k)) => Some(s.with_client_identity(Some(ClientIdentity::new(
            PathBuf::from(c),
            PathBuf::from(k),
        )))),
        (s, None, None) | (s @ None, Some(_), Some(_)) => s,
        (_, Some(_), None) => return Err("ssl-cert is set but ssl-key is not".into()),
        (_, None, Some(_)) => return Err("ssl-key is set but ssl-cert is not".into()),
    };
    let host = opts.get_ip_or_hostname().into_owned();
    let place = match opts.get_socket() {
        Some(s) => format!("the socket {s}"),
        None if host.contains(':') => format!("[{host}]:{}", opts.get_tcp_port()),
        None => format!("{host}:{}", opts.get_tcp_port()),
    };
    let b = b
        .ssl_opts(ssl)
        .tcp_connect_timeout(timeout)
        // UPDATE reports matched rows, so setting a column to its current value is not
        // mistaken for a missing row.
        .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS)
        .init(vec![
            "SET NAMES utf8mb4",
            "SET time_zone = '+00:00'",
            "SET sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "SET @ripcord_origin = NULL",
        ]);
    Ok(Target {
        opts: b.into(),
        mode,
        timeout,
        place,
        ca,
        password_from,
    })
}

/// Opens a session on `url`, within the connect timeout. Errors are plain sentences naming
/// the cause; they never hold a secret.
pub fn connect(url: &str) -> Result<(Conn, Target), String> {
    let t = resolve(url, &Env::process())?;
    let conn = open(&t)?;
    Ok((conn, t))
}

/// Opens another session on a resolved target (a cancel's second connection).
pub fn open(t: &Target) -> Result<Conn, String> {
    match attempt(t, t.opts.clone()) {
        // PREFERRED: TLS when the server offers it, plain otherwise.
        Err(mysql::Error::DriverError(DriverError::TlsNotSupported))
            if t.mode == Mode::Preferred =>
        {
            let plain = OptsBuilder::from_opts(t.opts.clone()).ssl_opts(None::<SslOpts>);
            attempt(t, plain.into()).map_err(|e| explain(&e, t))
        }
        r => r.map_err(|e| explain(&e, t)),
    }
}

fn attempt(t: &Target, opts: Opts) -> Result<Conn, mysql::Error> {
    let Some(d) = t.timeout else {
        return Conn::new(opts);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("mysql-connect".into())
        .spawn(move || {
            // The receiver is gone when the caller gave up; the late session is then dropped.
            let _ = tx.send(Conn::new(opts));
        })
        .map_err(mysql::Error::IoError)?;
    // Past the TCP connect's own bound (reported by the driver), the server accepted and
    // is silent: the attempt's thread is left to end when the server closes the socket.
    rx.recv_timeout(d + Duration::from_secs(1))
        .map_err(|_| mysql::Error::DriverError(DriverError::Timeout))?
}

fn humanize(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

/// The cause of a failed connection in plain words.
pub fn explain(e: &mysql::Error, t: &Target) -> String {
    let place = &t.place;
    let mode = t.mode.name();
    // rustls' refusals reach here wrapped in the driver's I/O errors, as text.
    let said = crate::describe(e);
    if said.contains("peer certificate") || said.contains("fatal alert") {
        return format!("TLS failed with {place}: {}", tls_words(&said, t));
    }
    match e {
        mysql::Error::DriverError(DriverError::Timeout) => format!(
            "{place} accepted the connection but did not answer within {} (is it a MariaDB/MySQL server? set connect_timeout in the URL to wait longer)",
            t.timeout.map(humanize).unwrap_or_default()
        ),
        mysql::Error::DriverError(DriverError::ConnectTimeout) => format!(
            "no answer from {place} within {} (is the host up? a firewall may be dropping the packets)",
            t.timeout.map(humanize).unwrap_or_default()
        ),
        mysql::Error::DriverError(DriverError::TlsNotSupported) => {
            format!("{place} does not offer TLS, and ssl-mode={mode} requires it")
        }
        mysql::Error::MySqlError(m) if m.code == 1045 => {
            let from = t
                .password_from
                .map(|f| format!(" (the password came from {f})"))
                .unwrap_or_default();
            format!("{place} refused the login: {}{from}", m.message)
        }
        mysql::Error::IoError(io) => io_words(io, t),
        mysql::Error::DriverError(DriverError::CouldNotConnect(Some((_, desc, kind)))) => {
            io_words(&std::io::Error::new(*kind, desc.clone()), t)
        }
        mysql::Error::TlsError(tls) => format!(
            "TLS failed with {place}: {}",
            tls_words(&tls.to_string(), t)
        ),
        other => format!("{place}: {}", crate::describe(other)),
    }
}

fn io_words(io: &std::io::Error, t: &Target) -> String {
    let place = &t.place;
    if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return format!(
            "TLS failed with {place}: {}",
            tls_words(&format!("{r:?}"), t)
        );
    }
    match io.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {place} (is MariaDB/MySQL running and listening there?)")
        }
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => format!(
            "no answer from {place} within {} (is the host up? a firewall may be dropping the packets)",
            t.timeout.map(humanize).unwrap_or_default()
        ),
        _ => {
            let m = io.to_string();
            if m.contains("lookup address") || m.contains("Name or service not known") {
                let host = place.rsplit_once(':').map(|x| x.0).unwrap_or(place);
                format!("cannot resolve the host name {host:?} ({m})")
            } else if io.kind() == std::io::ErrorKind::ConnectionReset
                || io.kind() == std::io::ErrorKind::UnexpectedEof
            {
                format!(
                    "{place} closed the connection during the handshake (is it a MariaDB/MySQL server? {m})"
                )
            } else {
                format!("{place}: {m}")
            }
        }
    }
}

fn tls_words(m: &str, t: &Target) -> String {
    let ca =
        t.ca.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
    if m.contains("UnknownIssuer") {
        format!(
            "its certificate is not signed by the CA in ssl-ca {ca} (ssl-mode={})",
            t.mode.name()
        )
    } else if m.contains("NotValidForName") {
        "its certificate is not valid for that host name (VERIFY_IDENTITY checks the name; VERIFY_CA does not)".into()
    } else {
        m.to_string()
    }
}

/// The option files to read, later ones overriding earlier ones.
fn option_files(defaults_file: Option<PathBuf>, env: &Env) -> Vec<PathBuf> {
    if let Some(f) = defaults_file {
        return vec![f];
    }
    let mut v = Vec::new();
    if let Some(h) = (env.var)("MYSQL_HOME") {
        v.push(PathBuf::from(h).join("my.cnf"));
    }
    if let Some(h) = &env.home {
        v.push(h.join(".my.cnf"));
    }
    v
}

/// `key = value` of the `[client]` and `[client-mariadb]` sections (keys with `_` read as
/// `-`, quotes removed).
fn client_options(files: &[PathBuf]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read the option file {}: {e}", f.display())),
        };
        let mut on = false;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[') {
                let name = s.trim_end_matches(']').trim();
                on = name == "client" || name == "client-mariadb";
                continue;
            }
            if !on {
                continue;
            }
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            let k = k.trim().replace('_', "-");
            let mut v = v.trim();
            if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                v = &v[1..v.len() - 1];
            }
            if matches!(
                k.as_str(),
                "user" | "password" | "ssl-ca" | "ssl-cert" | "ssl-key" | "ssl-mode"
            ) {
                out.insert(k, v.to_string());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_are_taken_out_before_the_driver_sees_them() {
        let e = Env {
            var: &|_| None,
            home: None,
        };
        let t = resolve(
            "mariadb://u:p@db.local:3307/erp?ssl-mode=required&connect_timeout=3",
            &e,
        )
        .unwrap();
        assert_eq!(t.mode, Mode::Required);
        assert_eq!(t.timeout, Some(Duration::from_secs(3)));
        assert_eq!(t.place, "db.local:3307");
        assert!(
            resolve("mysql://u@h/d?ssl-mode=VERIFY_CA", &e)
                .err()
                .unwrap()
                .contains("ssl-ca")
        );
        assert!(resolve("mysql://u@h/d?ssl-mode=sometimes", &e).is_err());
    }

    #[test]
    fn password_comes_from_the_option_file_then_mysql_pwd() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".my.cnf"),
            "[mysqld]\npassword = server\n[client]\nuser = ops\npassword = \"from file\"\n",
        )
        .unwrap();
        let vars = |k: &str| (k == "MYSQL_PWD").then(|| "from-env".to_string());
        let e = Env {
            var: &vars,
            home: Some(dir.path().into()),
        };
        let t = resolve("mysql://h/d", &e).unwrap();
        assert_eq!(t.opts.get_user(), Some("ops"));
        assert_eq!(t.opts.get_pass(), Some("from file"));
        let e = Env {
            var: &vars,
            home: None,
        };
        let t = resolve("mysql://u@h/d", &e).unwrap();
        assert_eq!(t.opts.get_pass(), Some("from-env"));
        assert_eq!(t.password_from, Some("MYSQL_PWD"));
        let t = resolve("mysql://u:url@h/d", &e).unwrap();
        assert_eq!(t.opts.get_pass(), Some("url"));
    }
}
