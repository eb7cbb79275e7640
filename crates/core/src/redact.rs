//! Secrets never leave the process (ARCHITECTURE.md invariant 9): URLs are shown with their
//! password and secret-looking parameters replaced, and any text bound for a log, an audit
//! entry, a report or an error can be scrubbed of every known secret.

use std::sync::{Mutex, OnceLock};

const MASK: &str = "***";
const SECRET_PARAMS: &[&str] = &[
    "password",
    "pass",
    "pwd",
    "passwd",
    "token",
    "secret",
    "key",
    "sslpassword",
    "api_key",
    "apikey",
];

/// The URL with its password and secret query parameters masked; for a `keyword=value`
/// connection string, the values of its secret keywords.
pub fn redact_url(url: &str) -> String {
    if crate::engine::is_keyword_string(url) {
        let mut out = url.to_string();
        for (_, range, _) in secret_keywords(url).into_iter().rev() {
            out.replace_range(range, MASK);
        }
        return out;
    }
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map(|i| rest_start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, MASK);
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}={MASK}")
                }
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{head}{}", parts.join("&"));
    }
    out
}

/// The secret keywords of a `keyword=value` string: (keyword, span of the value as written,
/// the value unquoted).
fn secret_keywords(s: &str) -> Vec<(String, std::ops::Range<usize>, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ws = |c: u8| c.is_ascii_whitespace();
    while i < b.len() {
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let k0 = i;
        while i < b.len() && b[i] != b'=' && !ws(b[i]) {
            i += 1;
        }
        let key = s[k0..i].to_ascii_lowercase();
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            break;
        }
        i += 1;
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let v0 = i;
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !ws(b[i]) {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                value.push(b[i]);
                i += 1;
            }
        }
        if SECRET_PARAMS.contains(&key.as_str()) {
            out.push((key, v0..i, String::from_utf8_lossy(&value).into_owned()));
        }
    }
    out
}

/// The secret parts of a URL (password, secret parameters), to register with [`register`].
pub fn secrets_in_url(url: &str) -> Vec<String> {
    if crate::engine::is_keyword_string(url) {
        let mut found: Vec<String> = secret_keywords(url).into_iter().map(|x| x.2).collect();
        found.retain(|s| s.len() >= 3);
        return found;
    }
    let mut found = Vec::new();
    let redacted = redact_url(url);
    // Walk both strings: wherever the redacted one has the mask, the original has a secret.
    let (a, b) = (url.as_bytes(), redacted.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j..].starts_with(MASK.as_bytes()) && !a[i..].starts_with(MASK.as_bytes()) {
            let end = a[i..]
                .iter()
                .position(|&c| c == b'@' || c == b'&' || c == b'#')
                .map(|p| i + p)
                .unwrap_or(a.len());
            found.push(url[i..end].to_string());
            i = end;
            j += MASK.len();
        } else {
            i += 1;
            j += 1;
        }
    }
    found.retain(|s| s.len() >= 3);
    found
}

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remembers a secret so [`scrub`] removes it from any text.
pub fn register(secret: &str) {
    if secret.len() < 3 {
        return;
    }
    let mut s = registry().lock().unwrap_or_else(|e| e.into_inner());
    if !s.iter().any(|x| x == secret) {
        s.push(secret.to_string());
        // Longest first, so a secret that contains another is removed whole.
        s.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// The text with every registered secret masked and every URL in it redacted.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    for s in registry().lock().unwrap_or_else(|e| e.into_inner()).iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// [`scrub`] on every string in a JSON value (not on object keys); true when it changed any.
pub fn scrub_json(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let clean = scrub(s);
            let changed = clean != *s;
            *s = clean;
            changed
        }
        Value::Array(a) => a.iter_mut().fold(false, |c, x| scrub_json(x) | c),
        Value::Object(o) => o.values_mut().fold(false, |c, x| scrub_json(x) | c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_in_userinfo_is_masked() {
        assert_eq!(
            redact_url("postgres://ops:hunter2@db.local:5432/erp"),
            "postgres://ops:***@db.local:5432/erp"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
    }

    #[test]
    fn secret_parameters_are_masked() {
        assert_eq!(
            redact_url("postgres://h/db?sslmode=require&password=s3cret&token=abc"),
            "postgres://h/db?sslmode=require&password=***&token=***"
        );
    }

    #[test]
    fn keyword_string_secrets_are_masked_quoted_or_not() {
        assert_eq!(
            redact_url("host=db password=hunter2 dbname=erp"),
            "host=db password=*** dbname=erp"
        );
        assert_eq!(
            redact_url("host=db password = 'it\\'s secret' sslpassword=k3y"),
            "host=db password = *** sslpassword=***"
        );
        assert_eq!(
            secrets_in_url("password='it\\'s secret' host=x"),
            vec!["it's secret".to_string()]
        );
    }

    #[test]
    fn secrets_are_found_and_scrubbed() {
        let s = secrets_in_url("postgres://ops:hunter2x@h/db?token=tok123");
        assert_eq!(s, vec!["hunter2x".to_string(), "tok123".to_string()]);
        for x in &s {
            register(x);
        }
        assert_eq!(
            scrub("failed: password hunter2x rejected"),
            "failed: password *** rejected"
        );
    }
}
