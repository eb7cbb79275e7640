//! `ripcord serve`: the dashboard, `/metrics` and the guarded actions, over HTTP (axum on a
//! tokio runtime that lives only inside this command). Every request reads the state
//! store afresh (another process may be running `run`, `watch` or `rollback`); the live
//! feed is the persisted event log, read by `seq`, as server-sent events.
//!
//! Actions (emergency stop, approve, reject) need a person's token in the `X-Ripcord-Token`
//! header: a cross-site form cannot set a header, and a cross-site script would need a
//! CORS preflight this server never grants. The `Origin` (or `Sec-Fetch-Site`) must be this
//! dashboard's, and the `Host` one it serves (against DNS rebinding). No cookies are used.

pub mod i18n;
pub mod metrics;
pub mod page;
pub mod snapshot;

use crate::commands::Engines;
use anyhow::{Context as _, Result};
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use i18n::{Lang, Tr};
use ripcord_core::context::Ctx;
use ripcord_core::events::Bus;
use ripcord_core::plan::Plan;
use ripcord_core::state::StateStore;
use ripcord_core::store::Store;
use ripcord_core::{Error, exit};
use ripcord_sqlite::SqliteState;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming each person's token: `alice=TOKEN,bob=TOKEN`.
pub const TOKENS_ENV: &str = "RIPCORD_DASHBOARD_TOKENS";
/// Shorter tokens are refused at start: they could be guessed.
const MIN_TOKEN_LEN: usize = 16;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8088")]
    pub listen: String,
    /// Another origin the dashboard is reached through (e.g. a TLS proxy,
    /// https://ripcord.example.com); repeatable. Its host is accepted too.
    #[arg(long)]
    pub origin: Vec<String>,
    /// Do not run the notifier here (when a `ripcord notify run` elsewhere is the one that
    /// sends); by default serve runs it whenever the plan has a [notify] section.
    #[arg(long)]
    pub no_notify: bool,
}

/// Points of a probe's history kept per probe (two minutes at one a second).
const HISTORY: usize = 120;

struct App {
    plan: Plan,
    /// Each probe's recent values: from the first snapshot read, the two minutes the guard
    /// kept with it (`ProbeView.recent`, so a fresh server's charts are not empty), then
    /// each newer sample, read once a second while this server runs.
    history: std::sync::Mutex<snapshot::History>,
    /// (person, token).
    tokens: Vec<(String, String)>,
    hosts: Vec<String>,
    origins: Vec<String>,
}

/// Reads `alice=TOKEN,bob=TOKEN`; errors name the entry and the person, never a token.
pub fn parse_tokens(raw: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, entry) in raw.split(',').map(str::trim).enumerate() {
        if entry.is_empty() {
            continue;
        }
        let Some((who, token)) = entry.split_once('=') else {
            return Err(Error::Usage(format!(
                "{TOKENS_ENV}: entry {} is not NAME=TOKEN",
                i + 1
            )));
        };
        let (who, token) = (who.trim(), token.trim());
        if who.is_empty()
            || !who
                .chars()
                .all(|c| c.is_alphanumeric() || "._-@".contains(c))
        {
            return Err(Error::Usage(format!(
                "{TOKENS_ENV}: entry {} names no person (letters, digits, . _ - @)",
                i + 1
            )));
        }
        add_token(&mut out, who, token, TOKENS_ENV)?;
    }
    Ok(out)
}

/// Adds a person's token after checking it is long enough and nobody else's; `from` says
/// where it came from in an error, which names the person, never the token.
fn add_token(
    out: &mut Vec<(String, String)>,
    who: &str,
    token: &str,
    from: &str,
) -> Result<(), Error> {
    if token.chars().count() < MIN_TOKEN_LEN {
        return Err(Error::Usage(format!(
            "{from}: the token of {who:?} is shorter than {MIN_TOKEN_LEN} characters"
        )));
    }
    if out.iter().any(|(w, t)| w == who || t == token) {
        return Err(Error::Usage(format!(
            "{from}: {who:?} is named twice or shares a token with another person"
        )));
    }
    ripcord_core::redact::register(token);
    out.push((who.to_string(), token.to_string()));
    Ok(())
}

/// The plan's `[dashboard] tokens`: each person's token from the environment variable the
/// plan names, after those of `RIPCORD_DASHBOARD_TOKENS`.
pub fn plan_tokens(
    plan: &Plan,
    mut out: Vec<(String, String)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, Error> {
    for (who, var) in &plan.dashboard.tokens {
        let Some(token) = env(var) else {
            return Err(Error::Usage(format!(
                "[dashboard]: the token of {who:?} is read from environment variable {var}, which is not set"
            )));
        };
        add_token(&mut out, who, token.trim(), &format!("[dashboard] {var}"))?;
    }
    Ok(out)
}

/// Compares without stopping at the first difference, so timing says nothing of a token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    fn ctx(&self, actor: &str) -> Result<Ctx> {
        let state = SqliteState::open(&self.plan.state_dir.join("state.db"))?;
        let events = Bus::default();
        events.persist_to(state.reopen()?);
        Ok(Ctx {
            plan: self.plan.clone(),
            state: Box::new(state),
            store: Store::open(self.plan.state_dir.join("store")),
            events,
            actor: actor.to_string(),
            connector: Box::new(Engines),
        })
    }

    fn snapshot(&self) -> Result<snapshot::Snapshot> {
        let mut ctx = self.ctx("dashboard")?;
        let mut snap = snapshot::take(&mut ctx)?;
        snap.history = self
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Ok(snap)
    }

    /// Adds each probe's samples newer than its history's last to it: the guard's recent
    /// values, then its newest (once per sample).
    fn sample(&self, state: &mut SqliteState) -> Result<()> {
        let Some(raw) = state.guard_status()? else {
            return Ok(());
        };
        // A snapshot of another ripcord version is skipped; the page says why (status).
        let Ok(g) = serde_json::from_value::<ripcord_core::status::GuardSnapshot>(raw) else {
            return Ok(());
        };
        let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for p in &g.probes {
            let last = p.last.as_ref().and_then(|l| Some((l.at_ms, l.value()?)));
            let points = h.entry(p.name.clone()).or_default();
            for &(at, v) in p.recent.iter().chain(last.iter()) {
                if points.back().is_none_or(|(t, _)| *t < at) {
                    points.push_back((at, v));
                    if points.len() > HISTORY {
                        points.pop_front();
                    }
                }
            }
        }
        Ok(())
    }

    fn person(&self, token: &str) -> Option<String> {
        self.tokens
            .iter()
            .find(|(_, t)| same(t.as_bytes(), token.as_bytes()))
            .map(|(w, _)| w.clone())
    }
}

pub fn run(plan: Plan, args: ServeArgs) -> Result<i32> {
    let addr: SocketAddr = args.listen.parse().map_err(|e| {
        Error::Usage(format!(
            "--listen {:?} is not an address:port ({e}); e.g. 127.0.0.1:8088",
            args.listen
        ))
    })?;
    let tokens = match std::env::var(TOKENS_ENV) {
        Ok(raw) => parse_tokens(&raw)?,
        Err(_) => Vec::new(),
    };
    let tokens = plan_tokens(&plan, tokens, &|k| std::env::var(k).ok())?;
    let mut origins = Vec::new();
    let mut hosts = Vec::new();
    for o in &args.origin {
        let o = o.trim_end_matches('/');
        let host = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--origin {o:?} is not scheme://host[:port], e.g. https://ripcord.example.com"
                ))
            })?;
        hosts.push(host.to_ascii_lowercase());
        origins.push(o.to_ascii_lowercase());
    }
    // Links in messages point at the plan's `ack_url`: the dashboard as people reach it.
    if let Some(u) = &plan.notify.ack_url {
        let (scheme, rest) = u.split_once("://").unwrap_or(("http", u.as_str()));
        let host = rest
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        hosts.push(host.clone());
        origins.push(format!("{scheme}://{host}"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("start the server's runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr}"))?;
        let bound = listener.local_addr()?;
        let port = bound.port();
        hosts.extend([
            bound.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ]);
        if !bound.ip().is_loopback() {
            eprintln!(
                "warning: listening on {bound}, not loopback: put TLS in front (docs/dashboard.md) and pass --origin"
            );
        }
        let app = Arc::new(App {
            plan,
            history: Default::default(),
            tokens,
            hosts,
            origins,
        });
        if app.tokens.is_empty() {
            eprintln!(
                "no {TOKENS_ENV} and no [dashboard] tokens: the page is read-only (the stop, approve, reject and acknowledge buttons need a person's token)"
            );
        }
        // The notifier runs here too (issue #14), on a thread of its own with its own
        // store connection; claims keep it from sending what a `watch` or `notify run`
        // beside it sends.
        let _notifier = if args.no_notify {
            None
        } else {
            crate::notify_cmd::Background::start(&app.ctx("notifier")?)?
        };
        if _notifier.is_some() {
            eprintln!("the notifier runs inside serve ([notify] in the plan)");
        }
        // The persisted recent values first, so the first page already draws them.
        let mut first = SqliteState::open(&app.plan.state_dir.join("state.db")).ok();
        if let Some(s) = first.as_mut()
            && let Err(e) = app.sample(s)
        {
            tracing::warn!(error = %e, "cannot read the probes' recent values");
        }
        let sampler = app.clone();
        tokio::spawn(async move {
            let mut conn: Option<SqliteState> = first;
            loop {
                let (a, held) = (sampler.clone(), conn.take());
                let kept = tokio::task::spawn_blocking(move || {
                    let mut s = match held {
                        Some(s) => s,
                        None => SqliteState::open(&a.plan.state_dir.join("state.db"))?,
                    };
                    a.sample(&mut s)?;
                    Ok::<_, anyhow::Error>(s)
                })
                .await;
                // A failed read drops the connection; the next tick opens a new one.
                conn = kept.ok().and_then(Result::ok);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        println!("listening on http://{bound}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let router = Router::new()
            .route("/", get(index))
            .route("/fragment", get(fragment))
            .route("/events", get(events))
            .route("/metrics", get(metrics_route))
            .route("/report/{id}", get(report))
            .route("/assets/dashboard.css", get(css))
            .route("/assets/dashboard.js", get(js))
            .route("/api/stop", post(stop))
            .route("/api/decisions/{id}/{answer}", post(answer))
            .route("/api/incidents/{id}/ack", post(ack))
            .route("/ack/{token}", get(ack_link_page).post(ack_link))
            .layer(axum::middleware::from_fn_with_state(app.clone(), guard_host))
            .with_state(app);
        axum::serve(listener, router).await.context("serve")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(exit::OK)
}

/// Refuses a request for a host this dashboard does not serve (DNS rebinding), and adds
/// the headers that keep the page out of frames and other sites' reach.
async fn guard_host(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !app.hosts.contains(&host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard does not serve that host name (pass --origin for a proxy's)",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(serde::Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

fn lang(q: &LangQuery, headers: &HeaderMap) -> Lang {
    Lang::negotiate(
        q.lang.as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

fn failed(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        ripcord_core::redact::scrub(&format!("{e:#}")),
    )
        .into_response()
}

/// Runs `f` off the runtime's thread: the state store and databases are blocking.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(e)),
    }
}

async fn index(
    State(app): State<Arc<App>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&q, &headers);
    let a = app.clone();
    match blocking(move || a.snapshot()).await {
        Ok(snap) => Html(page::page(&Tr::new(lang), &snap, !app.tokens.is_empty())).into_response(),
        Err(r) => r,
    }
}

async fn fragment(
    State(app): State<Arc<App>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&q, &headers);
    match blocking(move || app.snapshot()).await {
        Ok(snap) => Html(page::fragment(&Tr::new(lang), &snap)).into_response(),
        Err(r) => r,
    }
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        page::CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        page::JS,
    )
        .into_response()
}

async fn metrics_route(State(app): State<Arc<App>>) -> Response {
    match blocking(move || {
        let snap = app.snapshot()?;
        metrics::render(&snap).map_err(|e| anyhow::anyhow!("encode the metrics: {e}"))
    })
    .await
    {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(r) => r,
    }
}

async fn report(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&q, &headers);
    let found = blocking(move || {
        let mut ctx = app.ctx("dashboard")?;
        let r = ctx.state.rollbacks()?.into_iter().find(|r| r.id == id);
        let Some(r) = r else { return Ok(None) };
        let log = crate::commands::event_log(&mut ctx)?;
        Ok(Some(ripcord_core::report::PostMortem::gather(
            ripcord_core::report::RollbackReport::of(&r),
            &log,
        )))
    })
    .await;
    match found {
        Ok(Some(pm)) => Html(crate::report_html::rollback(&pm, lang)).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such rollback").into_response(),
        Err(r) => r,
    }
}

#[derive(serde::Deserialize, Default)]
struct EventsQuery {
    #[serde(default)]
    after: i64,
    lang: Option<String>,
}

/// One stored event as the page's feed shows it, its line in the page's language (`dir`
/// tells the page which way the line reads).
pub fn sse_data(e: &ripcord_core::events::Envelope, lang: Lang) -> serde_json::Value {
    let kind = serde_json::to_value(&e.event)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_default();
    serde_json::json!({
        "seq": e.seq,
        "at": e.at,
        "severity": e.severity,
        "kind": kind,
        "subject": e.subject,
        "text": ripcord_core::redact::scrub(&crate::console::describe_in(lang, &e.event)),
        "dir": lang.dir(),
    })
}

fn sse_event(e: &ripcord_core::events::Envelope, lang: Lang) -> SseEvent {
    SseEvent::default()
        .id(e.seq.unwrap_or_default().to_string())
        .data(sse_data(e, lang).to_string())
}

/// The event log from `after` on (or the browser's `Last-Event-ID` when it reconnects),
/// polled every 250 ms through one state-store connection per client.
async fn events(
    State(app): State<Arc<App>>,
    Query(q): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(q.after);
    let lang = Lang::negotiate(
        q.lang.as_deref(),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let path = app.plan.state_dir.join("state.db");
    type Conn = Option<SqliteState>;
    let init: (Conn, i64, VecDeque<SseEvent>) = (None, after, VecDeque::new());
    let stream = futures_util::stream::unfold(init, move |(mut conn, mut after, mut queue)| {
        let path = path.clone();
        async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    return Some((Ok::<_, Infallible>(e), (conn, after, queue)));
                }
                let (held, path) = (conn.take(), path.clone());
                let read = tokio::task::spawn_blocking(move || {
                    let mut s = match held {
                        Some(s) => s,
                        None => SqliteState::open(&path)?,
                    };
                    let page = s.events_after(after, 500)?;
                    Ok::<_, anyhow::Error>((s, page))
                })
                .await;
                match read {
                    Ok(Ok((s, page))) => {
                        conn = Some(s);
                        for e in &page {
                            after = e.seq.unwrap_or(after);
                            queue.push_back(sse_event(e, lang));
                        }
                        if page.is_empty() {
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                    }
                    // The store may be between writers; try again shortly.
                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Who is acting, or why the request is refused: a cross-site origin (403), no token
/// (401), an unknown token (403).
fn authorize(app: &App, headers: &HeaderMap, tr: &Tr) -> Result<String, (StatusCode, String)> {
    same_site(app, headers, tr)?;
    let token = headers
        .get("x-ripcord-token")
        .and_then(|t| t.to_str().ok())
        .map(str::trim)
        .unwrap_or_default();
    if token.is_empty() {
        return Err((StatusCode::UNAUTHORIZED, tr.s("dash-no-token")));
    }
    app.person(token)
        .ok_or_else(|| (StatusCode::FORBIDDEN, tr.s("dash-bad-token")))
}

/// Refuses a request another site made (403): its `Origin` must be this dashboard's, or,
/// without one, the browser's `Sec-Fetch-Site` must say so.
fn same_site(app: &App, headers: &HeaderMap, tr: &Tr) -> Result<(), (StatusCode, String)> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) => {
            let origin = origin.to_ascii_lowercase();
            let ours = origin == format!("http://{host}") || app.origins.contains(&origin);
            if !ours {
                return Err((
                    StatusCode::FORBIDDEN,
                    tr.t("dash-cross-site", &[("origin", origin)]),
                ));
            }
        }
        None => {
            let site = headers
                .get("sec-fetch-site")
                .and_then(|s| s.to_str().ok())
                .unwrap_or("same-origin");
            if !matches!(site, "same-origin" | "none") {
                return Err((
                    StatusCode::FORBIDDEN,
                    tr.t("dash-cross-site", &[("origin", site.to_string())]),
                ));
            }
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct StopForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
    scenario: Option<String>,
}

/// A usage error (bad input, nothing open) is the person's to fix: 409 with its words.
fn action_result(r: Result<String, Response>) -> Response {
    match r {
        Ok(text) => (StatusCode::OK, text).into_response(),
        Err(r) => r,
    }
}

async fn act<F, T>(app: Arc<App>, who: String, f: F) -> Result<T, Response>
where
    F: FnOnce(&mut Ctx) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let done = tokio::task::spawn_blocking(move || {
        let mut ctx = app.ctx(&who)?;
        let r = f(&mut ctx);
        ctx.events.flush();
        r
    })
    .await
    .map_err(failed)?;
    done.map_err(|e| match e.downcast_ref::<Error>() {
        Some(Error::Usage(m)) => {
            (StatusCode::CONFLICT, ripcord_core::redact::scrub(m)).into_response()
        }
        _ => failed(e),
    })
}

async fn stop(
    State(app): State<Arc<App>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<StopForm>,
) -> Response {
    let lang = lang(&q, &headers);
    // The messages are not Send: worded here, or inside the blocking task, never across an await.
    let who = {
        let tr = Tr::new(lang);
        let who = match authorize(&app, &headers, &tr) {
            Ok(w) => w,
            Err(r) => return r.into_response(),
        };
        if form.reason.trim().is_empty() {
            return (StatusCode::BAD_REQUEST, tr.s("dash-need-reason")).into_response();
        }
        if form.confirm != "yes" {
            return (StatusCode::BAD_REQUEST, tr.s("dash-need-confirm")).into_response();
        }
        who
    };
    let actor = who.clone();
    action_result(
        act(app, who, move |ctx| {
            let req =
                crate::guard_cmd::request_stop(ctx, Some(form.reason), form.scenario, "dashboard")?;
            Ok(Tr::new(lang).t(
                "dash-stop-requested",
                &[("id", req.id.to_string()), ("actor", actor)],
            ))
        })
        .await,
    )
}

async fn answer(
    State(app): State<Arc<App>>,
    Path((id, verdict)): Path<(String, String)>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let who = match authorize(&app, &headers, &Tr::new(lang(&q, &headers))) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let approve = match verdict.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return (StatusCode::NOT_FOUND, "approve or reject").into_response(),
    };
    action_result(
        act(app, who, move |ctx| {
            crate::guard_cmd::answer_decision(ctx, &id, approve, "dashboard")
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_person_long_and_never_in_errors() {
        let t = parse_tokens("alice=0123456789abcdef, bob=fedcba9876543210").unwrap();
        assert_eq!(t[0].0, "alice");
        assert_eq!(t[1].1, "fedcba9876543210");
        let e = parse_tokens("carol=short-secret").unwrap_err().to_string();
        assert!(e.contains("carol") && !e.contains("short-secret"), "{e}");
        let e = parse_tokens("0123456789abcdef").unwrap_err().to_string();
        assert!(!e.contains("0123456789abcdef"), "{e}");
        assert!(parse_tokens("a=0123456789abcdef,b=0123456789abcdef").is_err());
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }

    #[test]
    fn tokens_from_the_plan_are_read_from_the_variables_it_names() {
        let text = "[databases.main]\nurl = \"sqlite:x.db\"\n\n[dashboard]\ntokens = [{ name = \"carol\", token_env = \"CAROL_TOKEN\" }]\n";
        let plan = ripcord_core::plan::parse(
            std::path::Path::new("/plans/ripcord.toml"),
            text,
            &|_| None,
            &crate::registry::kinds(),
        )
        .unwrap();
        let from_env = parse_tokens("alice=0123456789abcdef").unwrap();
        let env = |k: &str| (k == "CAROL_TOKEN").then(|| "carol-0123456789abcdef".to_string());
        let t = plan_tokens(&plan, from_env.clone(), &env).unwrap();
        assert_eq!(t[1], ("carol".into(), "carol-0123456789abcdef".into()));
        let e = plan_tokens(&plan, from_env.clone(), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CAROL_TOKEN") && e.contains("carol"), "{e}");
        let e = plan_tokens(&plan, from_env.clone(), &|_| Some("tiny-1".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("shorter") && !e.contains("tiny-1"), "{e}");
        let same_token = |_: &str| Some("0123456789abcdef".to_string());
        assert!(plan_tokens(&plan, from_env, &same_token).is_err());
        let bad = ripcord_core::plan::parse(
            std::path::Path::new("/plans/ripcord.toml"),
            &text.replace("CAROL_TOKEN", "carol token"),
            &|_| None,
            &crate::registry::kinds(),
        )
        .unwrap_err();
        let shown = format!("{:?}", miette::Report::new(*bad));
        assert!(
            shown.contains("environment variable's name") && shown.contains("carol token"),
            "{shown}"
        );
    }
}

#[derive(serde::Deserialize)]
struct AckForm {
    level: Option<u32>,
}

/// The dashboard's acknowledge button: as the token's person, audited like `ripcord ack`.
async fn ack(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AckForm>,
) -> Response {
    let lang = lang(&q, &headers);
    let who = match authorize(&app, &headers, &Tr::new(lang)) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    action_result(
        act(app, who, move |ctx| {
            crate::notify_cmd::acknowledge(ctx, &id, form.level, "dashboard")?;
            let acked = ctx
                .state
                .acks()?
                .into_iter()
                .rfind(|a| a.incident == id && a.by == ctx.actor);
            Ok(Tr::new(lang).t(
                "dash-acked",
                &[
                    ("id", id.clone()),
                    (
                        "level",
                        acked.map(|a| a.level.to_string()).unwrap_or_default(),
                    ),
                    ("actor", ctx.actor.clone()),
                ],
            ))
        })
        .await,
    )
}

/// A small page of its own for a one-time link: the question (GET) or the answer (POST).
fn link_page(lang: Lang, status: StatusCode, body: &str) -> Response {
    let tr = Tr::new(lang);
    let html = format!(
        "<!doctype html><html {attrs}><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><link rel=\"stylesheet\" href=\"/assets/dashboard.css\"></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        attrs = lang.attrs(),
        title = page::esc(&tr.s("dash-ack-title")),
    );
    (status, Html(html)).into_response()
}

/// `GET /ack/TOKEN`: says what the link acknowledges and asks to confirm; a GET changes
/// nothing (mail scanners and previews follow links).
async fn ack_link_page(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    use ripcord_core::notify::{AckToken, IncidentStatus};
    let lang = lang(&q, &headers);
    let t = token.clone();
    let found = blocking(move || {
        let mut ctx = app.ctx("dashboard")?;
        let Some(rec) = ctx.state.ack_token(&AckToken::hash_of(&t))? else {
            return Ok(None);
        };
        let open = ctx
            .state
            .incidents()?
            .into_iter()
            .any(|i| i.id == rec.incident && i.status == IncidentStatus::Open);
        Ok(Some((rec, open)))
    })
    .await;
    let tr = Tr::new(lang);
    match found {
        Err(r) => r,
        Ok(None) => link_page(
            lang,
            StatusCode::NOT_FOUND,
            &format!(
                "<p class=\"bad\">{}</p>",
                page::esc(&tr.s("dash-ack-unknown"))
            ),
        ),
        Ok(Some((rec, _))) if rec.used_at.is_some() => link_page(
            lang,
            StatusCode::GONE,
            &format!(
                "<p class=\"bad\">{}</p>",
                page::msg(
                    &tr,
                    "dash-ack-used",
                    &[("at", rec.used_at.clone().unwrap_or_default())]
                )
            ),
        ),
        Ok(Some((rec, false))) => link_page(
            lang,
            StatusCode::GONE,
            &format!(
                "<p class=\"bad\">{}</p>",
                page::msg(&tr, "dash-ack-expired", &[("id", rec.incident)])
            ),
        ),
        Ok(Some((rec, true))) => link_page(
            lang,
            StatusCode::OK,
            &format!(
                "<p>{question}</p><form method=\"post\" action=\"/ack/{token}?lang={code}\"><button type=\"submit\" class=\"ack\">{submit}</button></form>",
                question = page::msg(
                    &tr,
                    "dash-ack-confirm",
                    &[
                        ("id", rec.incident),
                        ("level", rec.level.to_string()),
                        ("recipient", rec.recipient),
                    ]
                ),
                token = page::esc(&token),
                code = lang.code(),
                submit = page::esc(&tr.s("dash-ack-submit")),
            ),
        ),
    }
}

/// `POST /ack/TOKEN`: the link is the credential (it works once, as the recipient it was
/// sent to); the request must still come from this dashboard's own page.
async fn ack_link(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang(&q, &headers);
    if let Err((status, why)) = same_site(&app, &headers, &Tr::new(lang)) {
        return link_page(
            lang,
            status,
            &format!("<p class=\"bad\">{}</p>", page::esc(&why)),
        );
    }
    let done = act(app, "link".into(), move |ctx| {
        crate::notify_cmd::acknowledge_link(ctx, &token)
    })
    .await;
    use crate::notify_cmd::LinkAck;
    // Worded after the last await: the messages are not Send.
    let done = match done {
        Ok(a) => Ok(a),
        Err(r) => {
            let status = r.status();
            let body = axum::body::to_bytes(r.into_body(), 64 << 10)
                .await
                .unwrap_or_default();
            Err((status, String::from_utf8_lossy(&body).into_owned()))
        }
    };
    let tr = Tr::new(lang);
    let (status, class, html) = match done {
        Ok(LinkAck::Acknowledged {
            incident,
            level,
            by,
        }) => (
            StatusCode::OK,
            "good",
            page::msg(
                &tr,
                "dash-acked",
                &[
                    ("id", incident),
                    ("level", level.to_string()),
                    ("actor", by),
                ],
            ),
        ),
        Ok(LinkAck::Unknown) => (
            StatusCode::NOT_FOUND,
            "bad",
            page::esc(&tr.s("dash-ack-unknown")),
        ),
        Ok(LinkAck::Expired { incident }) => (
            StatusCode::GONE,
            "bad",
            page::msg(&tr, "dash-ack-expired", &[("id", incident)]),
        ),
        Ok(LinkAck::Used { at }) => (
            StatusCode::GONE,
            "bad",
            page::msg(&tr, "dash-ack-used", &[("at", at)]),
        ),
        Err((status, text)) => (status, "bad", page::esc(&text)),
    };
    link_page(lang, status, &format!("<p class=\"{class}\">{html}</p>"))
}
