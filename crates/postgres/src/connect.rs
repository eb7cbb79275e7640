//! The one way ripcord connects to PostgreSQL (the engine, `ripcord diff`, cancel requests).
//!
//! A target is a URL (`postgres://user:pw@host:port/db?sslmode=…`) or a libpq key=value
//! string (`host=… dbname=…`); what it leaves out comes from libpq's environment variables
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, …) and then the
//! password file (`PGPASSFILE` or `~/.pgpass`, ignored unless private, as libpq does). TLS is
//! rustls: `require` encrypts without checking the certificate (as libpq does, unless a root
//! certificate is given, then it is `verify-ca`), `verify-ca` checks the chain, `verify-full`
//! the chain and the host name. `connect_timeout` (default 10 s) bounds each TCP connect,
//! and the whole startup (TLS, authentication, session settings) is bounded by it too, so a
//! server that accepts and never answers is an error, not a hang.

use postgres::config::{Host, SslMode};
use postgres::{Client, Config};
use ripcord_core::redact;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The TLS connector a connection was made with; cancel requests need the same one.
pub type Tls = MakeRustlsConnect;

/// libpq's default `connect_timeout` is none; ripcord's is 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The keywords ripcord understands, each with the environment variable libpq reads for it.
const KEYWORDS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("dbname", Some("PGDATABASE")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("application_name", Some("PGAPPNAME")),
    ("options", Some("PGOPTIONS")),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("keepalives", None),
    ("keepalives_idle", None),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "disable" => Mode::Disable,
            // libpq's `allow` tries without TLS first; TLS-if-offered is the closest here.
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        })
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
            var: &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// A resolved target: what to connect to, how, and how to name it in messages.
pub struct Target {
    pub config: Config,
    pub mode: Mode,
    pub timeout: Option<Duration>,
    /// `host:port` (or the socket directory) for messages; never holds a secret.
    pub place: String,
    pub user: String,
    pub rootcert: Option<PathBuf>,
    /// Client certificate and key files.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Where the password came from when it did not come from the target itself.
    pub password_from: Option<&'static str>,
}

/// Connects, bounded by the target's timeout, and runs `init` on the new session inside the
/// same bound. Errors are plain sentences naming the cause; they never hold a secret.
pub fn connect<T: Send + 'static>(
    target: &str,
    init: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
) -> Result<(Client, T, Tls), String> {
    let t = resolve(target, &Env::process())?;
    let tls = MakeRustlsConnect::new(tls_config(&t)?);
    let (config, tls2, place, timeout) =
        (t.config.clone(), tls.clone(), t.place.clone(), t.timeout);
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("pg-connect".into())
        .spawn(move || {
            let r = config.connect(tls2).and_then(|mut c| {
                let v = init(&mut c)?;
                Ok((c, v))
            });
            // The receiver is gone when the caller gave up; the late client is then dropped.
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start the connecting thread: {e}"));
    }
    let got = match timeout {
        // Past the TCP connect's own bound (it reports itself), the server accepted and is
        // silent: the attempt's thread is left to end when the server closes the socket.
        Some(d) => rx.recv_timeout(d + Duration::from_secs(1)).map_err(|_| {
            format!(
                "{place} accepted the connection but did not answer within {} (is it a PostgreSQL server? set connect_timeout in the URL to wait longer)",
                humanize(d)
            )
        })?,
        None => rx
            .recv()
            .map_err(|_| "the connecting thread ended without an answer".to_string())?,
    };
    match got {
        Ok((c, v)) => Ok((c, v, tls)),
        Err(e) => Err(explain(&e, &t)),
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Parses `target` (URL or key=value) and fills what it leaves out from the environment and
/// the password file.
pub fn resolve(target: &str, env: &Env) -> Result<Target, String> {
    let mut p = if target.contains("://") {
        parse_url(target)?
    } else {
        parse_keywords(target)?
    };
    let mut password_from = None;
    for (k, var) in KEYWORDS {
        if let Some(var) = var
            && !p.contains_key(*k)
            && let Some(v) = (env.var)(var)
        {
            if *k == "password" {
                redact::register(&v);
                password_from = Some("PGPASSWORD");
            }
            p.insert(k.to_string(), v);
        }
    }
    let mut c = Config::new();
    let port: u16 = match p.get("port") {
        None => 5432,
        Some(s) => s
            .split(',')
            .next()
            .unwrap_or_default()
            .parse()
            .map_err(|_| format!("port {s:?} is not a port number"))?,
    };
    let ports: Vec<u16> = match p.get("port") {
        None => vec![port],
        Some(s) => s
            .split(',')
            .map(|x| {
                x.parse()
                    .map_err(|_| format!("port {x:?} is not a port number"))
            })
            .collect::<Result<_, _>>()?,
    };
    for x in &ports {
        c.port(*x);
    }
    let hosts: Vec<String> = match p.get("host").or(p.get("hostaddr")) {
        Some(h) => h.split(',').map(str::to_string).collect(),
        None => vec![default_host(port)],
    };
    for h in &hosts {
        c.host(h);
    }
    if let Some(a) = p.get("hostaddr") {
        for x in a.split(',') {
            c.hostaddr(
                x.parse()
                    .map_err(|_| format!("hostaddr {x:?} is not an IP address"))?,
            );
        }
    }
    let user = match p.get("user") {
        Some(u) => u.clone(),
        None => (env.var)("USER")
            .or_else(|| (env.var)("LOGNAME"))
            .ok_or("no user name: give one in the URL or set PGUSER")?,
    };
    c.user(&user);
    let dbname = p.get("dbname").cloned().unwrap_or_else(|| user.clone());
    c.dbname(&dbname);
    if !p.contains_key("password")
        && let Some(pw) = pgpass(&p, env, &hosts[0], port, &dbname, &user)?
    {
        redact::register(&pw);
        p.insert("password".into(), pw);
        password_from = Some("the password file");
    }
    if let Some(pw) = p.get("password") {
        c.password(pw);
    }
    let mode = Mode::parse(p.get("sslmode").map(String::as_str).unwrap_or("prefer"))?;
    c.ssl_mode(match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let timeout = match p.get("connect_timeout") {
        None => Some(DEFAULT_CONNECT_TIMEOUT),
        Some(s) => match s.trim().parse::<i64>() {
            // As in libpq: zero or negative waits indefinitely.
            Ok(n) if n <= 0 => None,
            Ok(n) => Some(Duration::from_secs(n as u64)),
            Err(_) => return Err(format!("connect_timeout {s:?} is not a number of seconds")),
        },
    };
    if let Some(d) = timeout {
        c.connect_timeout(d);
    }
    c.application_name(
        p.get("application_name")
            .map(String::as_str)
            .unwrap_or("ripcord"),
    );
    if let Some(o) = p.get("options") {
        c.options(o);
    }
    if let Some(v) = p.get("target_session_attrs") {
        c.target_session_attrs(match v.as_str() {
            "any" => postgres::config::TargetSessionAttrs::Any,
            "read-write" => postgres::config::TargetSessionAttrs::ReadWrite,
            "read-only" => postgres::config::TargetSessionAttrs::ReadOnly,
            o => {
                return Err(format!(
                    "target_session_attrs {o:?} is not any, read-write or read-only"
                ));
            }
        });
    }
    if let Some(v) = p.get("channel_binding") {
        c.channel_binding(match v.as_str() {
            "disable" => postgres::config::ChannelBinding::Disable,
            "prefer" => postgres::config::ChannelBinding::Prefer,
            "require" => postgres::config::ChannelBinding::Require,
            o => {
                return Err(format!(
                    "channel_binding {o:?} is not disable, prefer or require"
                ));
            }
        });
    }
    if let Some(v) = p.get("keepalives") {
        c.keepalives(v != "0");
    }
    if let Some(v) = p.get("keepalives_idle") {
        let n: u64 = v
            .parse()
            .map_err(|_| format!("keepalives_idle {v:?} is not a number of seconds"))?;
        c.keepalives_idle(Duration::from_secs(n));
    }
    let place = match c.get_hosts().first() {
        Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]:{port}"),
        Some(Host::Tcp(h)) => format!("{h}:{port}"),
        Some(Host::Unix(d)) => format!("the socket in {} (port {port})", d.display()),
        None => format!("port {port}"),
    };
    let home_pg = env.home.as_ref().map(|h| h.join(".postgresql"));
    let rootcert = match p.get("sslrootcert") {
        Some(s) => Some(PathBuf::from(s)),
        None => home_pg
            .as_ref()
            .map(|d| d.join("root.crt"))
            .filter(|f| f.exists()),
    };
    let identity = client_identity(&p, home_pg.as_deref())?;
    Ok(Target {
        config: c,
        mode,
        timeout,
        place,
        user,
        rootcert,
        identity,
        password_from,
    })
}

/// `sslcert`/`sslkey`, or libpq's defaults in `~/.postgresql` when both exist.
fn client_identity(
    p: &Params,
    home_pg: Option<&Path>,
) -> Result<Option<(PathBuf, PathBuf)>, String> {
    let cert = p.get("sslcert").map(PathBuf::from).or_else(|| {
        home_pg
            .map(|d| d.join("postgresql.crt"))
            .filter(|f| f.exists())
    });
    let key = p.get("sslkey").map(PathBuf::from).or_else(|| {
        home_pg
            .map(|d| d.join("postgresql.key"))
            .filter(|f| f.exists())
    });
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (Some(_), None) => Err("sslcert is set but sslkey is not".to_string()),
        (None, Some(_)) => Err("sslkey is set but sslcert is not".to_string()),
    }
}

fn default_host(port: u16) -> String {
    // libpq connects through the socket directory it was built with; these are the usual.
    for d in ["/var/run/postgresql", "/tmp"] {
        if Path::new(d).join(format!(".s.PGSQL.{port}")).exists() {
            return d.to_string();
        }
    }
    "localhost".into()
}

type Params = BTreeMap<String, String>;

fn known(k: &str) -> Result<(), String> {
    if KEYWORDS.iter().any(|(x, _)| *x == k) {
        Ok(())
    } else {
        Err(format!("unknown connection option {k:?}"))
    }
}

fn decode(s: &str, what: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("the {what} in the URL is not valid UTF-8 once decoded"))
}

/// `postgres[ql]://[user[:password]@][host][:port][,host[:port]…][/dbname][?k=v&…]`.
fn parse_url(url: &str) -> Result<Params, String> {
    let mut p = Params::new();
    let rest = url.split_once("://").map(|(_, r)| r).ok_or("not a URL")?;
    let (rest, query) = match rest.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (authority, db) = match rest.split_once('/') {
        Some((a, d)) => (a, Some(d)),
        None => (rest, None),
    };
    let hostlist = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (u, pw) = match userinfo.split_once(':') {
                Some((u, pw)) => (u, Some(pw)),
                None => (userinfo, None),
            };
            if !u.is_empty() {
                p.insert("user".into(), decode(u, "user name")?);
            }
            if let Some(pw) = pw {
                p.insert("password".into(), decode(pw, "password")?);
            }
            hosts
        }
        None => authority,
    };
    let (mut hosts, mut ports) = (Vec::new(), Vec::new());
    for h in hostlist.split(',').filter(|h| !h.is_empty()) {
        let (host, port) = if let Some(r) = h.strip_prefix('[') {
            let (ip, after) = r.split_once(']').ok_or("unclosed [ in the URL's host")?;
            (ip.to_string(), after.strip_prefix(':'))
        } else {
            match h.rsplit_once(':') {
                Some((a, b)) => (a.to_string(), Some(b)),
                None => (h.to_string(), None),
            }
        };
        hosts.push(decode(&host, "host")?);
        ports.push(port.unwrap_or("5432").to_string());
    }
    if !hosts.is_empty() && hosts.iter().any(|h| !h.is_empty()) {
        p.insert("host".into(), hosts.join(","));
        if ports.iter().any(|x| x != "5432") || hostlist.contains(':') {
            p.insert("port".into(), ports.join(","));
        }
    }
    if let Some(d) = db.filter(|d| !d.is_empty()) {
        p.insert("dbname".into(), decode(d, "database name")?);
    }
    for kv in query
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let k = decode(k, "option name")?;
        known(&k)?;
        p.insert(k, decode(v, "option value")?);
    }
    Ok(p)
}

/// libpq's `keyword = value` list; values may be single-quoted, `\` escapes.
pub fn parse_keywords(s: &str) -> Result<Params, String> {
    let mut p = Params::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let mut k = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            k.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(format!(
                "missing \"=\" after {k:?} in the connection string"
            ));
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut v = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            loop {
                match it.next() {
                    None => return Err(format!("unterminated quoted value of {k:?}")),
                    Some('\\') => v.extend(it.next()),
                    Some('\'') => break,
                    Some(c) => v.push(c),
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                it.next();
                if c == '\\' {
                    v.extend(it.next());
                } else {
                    v.push(c);
                }
            }
        }
        known(&k)?;
        p.insert(k, v);
    }
    if p.is_empty() {
        return Err("the connection string is empty".into());
    }
    Ok(p)
}

/// The password file's first line matching the target (`host:port:db:user:password`, `*`
/// matches anything, `\` escapes), as libpq reads it.
fn pgpass(
    p: &Params,
    env: &Env,
    host: &str,
    port: u16,
    db: &str,
    user: &str,
) -> Result<Option<String>, String> {
    let file = match p.get("passfile") {
        Some(f) => PathBuf::from(f),
        None => match &env.home {
            Some(h) => h.join(".pgpass"),
            None => return Ok(None),
        },
    };
    let Ok(meta) = std::fs::metadata(&file) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "password file {} has group or world access and is ignored; permissions should be u=rw (0600) or less",
                file.display()
            );
            return Ok(None);
        }
    }
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
    // A socket connection matches `localhost`, as in libpq.
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() < 5 {
            continue;
        }
        let ok = |f: &str, v: &str| f == "*" || f == v;
        if ok(&fields[0], host)
            && ok(&fields[1], &port)
            && ok(&fields[2], db)
            && ok(&fields[3], user)
        {
            return Ok(Some(fields[4..].join(":")));
        }
    }
    Ok(None)
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.last_mut().expect("one field").extend(it.next()),
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut().expect("one field").push(c),
        }
    }
    out
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for the target's sslmode, root certificate and client identity.
pub fn tls_config(t: &Target) -> Result<ClientConfig, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    // As libpq: `require` with a root certificate at hand checks the chain like verify-ca.
    let check = match (t.mode, &t.rootcert) {
        (Mode::VerifyFull, _) => Some(true),
        (Mode::VerifyCa, _) | (Mode::Require, Some(_)) => Some(false),
        _ => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        None => Arc::new(NoCheck(provider.signature_verification_algorithms)),
        Some(full) => {
            let roots = roots(t)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
            if full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &t.identity {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("cannot read sslcert {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read sslkey {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))
        }
    }
}

fn roots(t: &Target) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match &t.rootcert {
        Some(p) if p.as_os_str() == "system" => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Some(p) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", p.display()))?;
            if certs.is_empty() {
                return Err(format!("sslrootcert {} holds no certificate", p.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("sslrootcert {}: {e}", p.display()))?;
            }
        }
        None => {
            return Err(format!(
                "sslmode={} checks the server's certificate and needs the CA that signed it: set sslrootcert (or PGSSLROOTCERT) to its file, to \"system\" for the public CAs, or put it in ~/.postgresql/root.crt",
                if t.mode == Mode::VerifyFull {
                    "verify-full"
                } else {
                    "verify-ca"
                }
            ));
        }
    }
    Ok(roots)
}

/// `require` without a root certificate: encrypted, the certificate taken as offered, but
/// the handshake's signatures still checked.
#[derive(Debug)]
struct NoCheck(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the root certificate; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The cause of a failed connection in plain words.
fn explain(e: &postgres::Error, t: &Target) -> String {
    let place = &t.place;
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let msg = db.message();
        return match code {
            "28P01" => {
                let from = t
                    .password_from
                    .map(|f| format!(" (the password came from {f})"))
                    .unwrap_or_default();
                format!("{place} refused the login: {msg}{from}")
            }
            "28000" => format!("{place} refused the login: {msg}"),
            "3D000" => format!("{place}: {msg}"),
            _ => format!("{place}: {msg}"),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let mut chain = Vec::new();
    while let Some(s) = source {
        if let Some(tls) = rustls_in(s) {
            return tls_words(tls, t);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return format!(
                        "connection refused by {place} (is PostgreSQL running and listening there?)"
                    );
                }
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof => {
                    return format!(
                        "{place} closed the connection during the startup (is it a PostgreSQL server? {io})"
                    );
                }
                std::io::ErrorKind::TimedOut => {
                    return format!(
                        "no answer from {place} within {} (is the host up? a firewall may be dropping the packets)",
                        t.timeout.map(humanize).unwrap_or_default()
                    );
                }
                _ => {}
            }
            let m = io.to_string();
            if m.contains("lookup address") || m.contains("Name or service not known") {
                let host = place.rsplit_once(':').map(|x| x.0).unwrap_or(place);
                return format!("cannot resolve the host name {host:?} ({m})");
            }
        }
        chain.push(s.to_string());
        source = s.source();
    }
    let top = e.to_string();
    if chain
        .iter()
        .any(|c| c.contains("server does not support TLS"))
    {
        return format!(
            "{place} does not offer TLS, and sslmode={} requires it",
            mode_name(t.mode)
        );
    }
    if chain.is_empty() {
        format!("{place}: {top}")
    } else {
        format!("{place}: {top}: {}", chain.join(": "))
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Disable => "disable",
        Mode::Prefer => "prefer",
        Mode::Require => "require",
        Mode::VerifyCa => "verify-ca",
        Mode::VerifyFull => "verify-full",
    }
}

fn rustls_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|i| i.downcast_ref::<rustls::Error>())
}

fn tls_words(e: &rustls::Error, t: &Target) -> String {
    let place = &t.place;
    let root = t
        .rootcert
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "TLS failed with {place}: its certificate is not signed by the CA in sslrootcert {root} (sslmode={})",
            mode_name(t.mode)
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS failed with {place}: its certificate is not valid for that host name (sslmode=verify-full checks the name; verify-ca does not)"
        ),
        rustls::Error::InvalidCertificate(c) => {
            format!("TLS failed with {place}: bad server certificate ({c:?})")
        }
        other => format!("TLS failed with {place}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn keyword_strings_parse_with_quotes_and_escapes() {
        let p =
            parse_keywords("host=db.local  port = 5433 dbname='my db' password='it\\'s'").unwrap();
        assert_eq!(p["host"], "db.local");
        assert_eq!(p["port"], "5433");
        assert_eq!(p["dbname"], "my db");
        assert_eq!(p["password"], "it's");
        assert!(
            parse_keywords("hots=x")
                .unwrap_err()
                .contains("unknown connection option")
        );
    }

    #[test]
    fn url_wins_over_environment_and_environment_fills_the_rest() {
        let vars = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "disable"),
        ]);
        let e = Env {
            var: &vars,
            home: None,
        };
        let t = resolve("postgres://u@urlhost/urldb", &e).unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Tcp("urlhost".into())]);
        assert_eq!(t.config.get_user(), Some("u"));
        assert_eq!(t.config.get_dbname(), Some("urldb"));
        assert_eq!(t.config.get_ports(), &[6000]);
        assert_eq!(t.mode, Mode::Disable);
        let t = resolve("dbname=kv", &e).unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Tcp("envhost".into())]);
        assert_eq!(t.config.get_user(), Some("envuser"));
        assert_eq!(t.config.get_dbname(), Some("kv"));
    }

    #[test]
    fn pgpass_matches_first_line_and_needs_private_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(".pgpass");
        std::fs::write(
            &f,
            "# comment\nother:*:*:*:nope\ndb.local:5432:erp:ops:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let vars = env(&[]);
        let e = Env {
            var: &vars,
            home: Some(dir.path().into()),
        };
        let t = resolve("postgres://ops@db.local/erp", &e).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"pa:ss"[..]));
        assert_eq!(t.password_from, Some("the password file"));
        let t = resolve("postgres://x@elsewhere/erp", &e).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"fallback"[..]));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let t = resolve("postgres://ops@db.local/erp", &e).unwrap();
        assert_eq!(t.config.get_password(), None);
    }

    #[test]
    fn verify_modes_without_a_root_certificate_say_what_is_missing() {
        let vars = env(&[]);
        let e = Env {
            var: &vars,
            home: None,
        };
        let t = resolve("postgres://u@h/d?sslmode=verify-full", &e).unwrap();
        let err = tls_config(&t).unwrap_err();
        assert!(err.contains("sslrootcert"), "{err}");
        assert!(resolve("postgres://u@h/d?sslmode=verify", &e).is_err());
    }
}
