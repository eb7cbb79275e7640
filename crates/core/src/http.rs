//! The one HTTP client ripcord calls out with: http probes, Prometheus probes, http
//! switches and notifiers all send through [`Client::send`].
//!
//! A whole call (connect, send, read) is bounded by the client's timeout; a status is an
//! answer, not an error, until the caller checks it ([`Reply::expect`]); a body is read up
//! to a bound. Errors name the call by method and URL with the password masked, and every
//! error text is scrubbed of registered secrets: headers (tokens) are never shown.

use crate::redact::{redact_url, scrub};
use std::io::Read;
use std::ops::Range;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer: DNS, refused, TLS, a timeout, an unreadable body.
    #[error("{call}: {reason}")]
    Failed { call: String, reason: String },
    /// An answer with a status the caller did not expect.
    #[error("{call}: status {status}, expected {expected}: {snippet}")]
    Status {
        call: String,
        status: u16,
        expected: String,
        snippet: String,
    },
}

/// One request. Built with [`Call::new`] and the setters.
pub struct Call<'a> {
    method: &'a str,
    url: &'a str,
    query: Vec<(&'a str, &'a str)>,
    headers: &'a [(String, String)],
    body: Option<&'a str>,
    read_body: Option<u64>,
    shown: Option<String>,
}

impl<'a> Call<'a> {
    pub fn new(method: &'a str, url: &'a str) -> Self {
        Call {
            method,
            url,
            query: Vec::new(),
            headers: &[],
            body: None,
            read_body: None,
            shown: None,
        }
    }

    /// A query parameter, percent-encoded.
    pub fn query(mut self, key: &'a str, value: &'a str) -> Self {
        self.query.push((key, value));
        self
    }

    pub fn headers(mut self, headers: &'a [(String, String)]) -> Self {
        self.headers = headers;
        self
    }

    pub fn body(mut self, body: Option<&'a str>) -> Self {
        self.body = body;
        self
    }

    /// Read the answer's body, up to `limit` bytes (without it the body is not read and
    /// [`Reply::elapsed`] is the time to the status line).
    pub fn read_body(mut self, limit: u64) -> Self {
        self.read_body = Some(limit);
        self
    }

    /// How errors name the call (default: `METHOD url`, password masked). Must hold no
    /// secret.
    pub fn shown_as(mut self, shown: String) -> Self {
        self.shown = Some(shown);
        self
    }

    fn shown(&self) -> String {
        self.shown
            .clone()
            .unwrap_or_else(|| format!("{} {}", self.method, redact_url(self.url)))
    }

    fn uri(&self) -> String {
        let mut uri = self.url.to_string();
        for (i, (k, v)) in self.query.iter().enumerate() {
            uri.push(if i == 0 && !self.url.contains('?') {
                '?'
            } else {
                '&'
            });
            uri.push_str(&encode(k));
            uri.push('=');
            uri.push_str(&encode(v));
        }
        uri
    }

    fn failed(&self, reason: impl std::fmt::Display) -> HttpError {
        HttpError::Failed {
            call: scrub(&self.shown()),
            reason: scrub(&reason.to_string()),
        }
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Empty unless the call asked to read it; at most the limit it gave.
    pub body: String,
    /// From sending to the status line, or to the body's end when it was read.
    pub elapsed: Duration,
    call: String,
}

impl Reply {
    /// Whether `status` is in `expect`, or in `default` when `expect` is empty.
    pub fn status_in(&self, expect: &[u16], default: Range<u16>) -> bool {
        if expect.is_empty() {
            default.contains(&self.status)
        } else {
            expect.contains(&self.status)
        }
    }

    /// The reply itself when its status is expected; else an error naming the status, what
    /// was expected and the start of the body (scrubbed).
    pub fn expect(self, expect: &[u16], default: Range<u16>) -> Result<Reply, HttpError> {
        if self.status_in(expect, default.clone()) {
            return Ok(self);
        }
        let expected = if expect.is_empty() {
            match (default.start, default.end) {
                (200, 300) => "2xx".to_string(),
                (a, b) => format!("{a}..{b}"),
            }
        } else {
            format!("{expect:?}")
        };
        Err(HttpError::Status {
            call: self.call,
            status: self.status,
            expected,
            snippet: scrub(&self.body.chars().take(200).collect::<String>()),
        })
    }
}

/// Sends calls with one agent (connections are kept between calls).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// Every call through this client ends after `timeout`, whole.
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Client { agent }
    }

    pub fn send(&self, call: &Call) -> Result<Reply, HttpError> {
        let mut req = ureq::http::Request::builder()
            .method(call.method)
            .uri(call.uri());
        for (k, v) in call.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(call.body.unwrap_or_default().to_string())
            .map_err(|e| call.failed(e))?;
        let t = Instant::now();
        let mut resp = self.agent.run(req).map_err(|e| call.failed(e))?;
        let status = resp.status().as_u16();
        let mut body = String::new();
        if let Some(limit) = call.read_body {
            resp.body_mut()
                .as_reader()
                .take(limit)
                .read_to_string(&mut body)
                .map_err(|e| call.failed(format_args!("reading the body: {e}")))?;
        }
        Ok(Reply {
            status,
            body,
            elapsed: t.elapsed(),
            call: scrub(&call.shown()),
        })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_encoded() {
        let c = Call::new("GET", "http://h/api/v1/query").query("query", "sum(rate(x[5m])) > 0");
        assert_eq!(
            c.uri(),
            "http://h/api/v1/query?query=sum%28rate%28x%5B5m%5D%29%29%20%3E%200"
        );
        let c = Call::new("GET", "http://h/q?a=1").query("b", "2");
        assert_eq!(c.uri(), "http://h/q?a=1&b=2");
    }

    #[test]
    fn an_error_names_the_call_without_its_password() {
        // Nothing listens on port 9 of localhost: the call fails at once.
        let e = Client::new(Duration::from_secs(5))
            .send(&Call::new("POST", "http://user:hunter2@127.0.0.1:9/hook"))
            .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("POST http://user:"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn an_unexpected_status_is_an_error_with_the_body_start() {
        let r = Reply {
            status: 503,
            body: "x".repeat(500),
            elapsed: Duration::ZERO,
            call: "GET http://h/".into(),
        };
        assert!(!r.status_in(&[], 200..300));
        let e = r.expect(&[], 200..300).unwrap_err().to_string();
        assert!(
            e.starts_with("GET http://h/: status 503, expected 2xx: xxx"),
            "{e}"
        );
        assert!(e.len() < 260, "{e}");
    }
}
