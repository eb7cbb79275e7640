//! The audit log: append-only, hash-chained. Each entry's hash is blake3 over the previous
//! entry's hash and the entry's canonical JSON (keys sorted), so an edited, removed or
//! reordered entry breaks the chain; the head (last sequence and hash) is kept apart so a
//! removed tail is caught too.

use serde::{Deserialize, Serialize};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry before it joins the chain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditDraft {
    pub actor: String,
    pub action: String,
    /// Arguments, already redacted.
    pub args: serde_json::Value,
    pub result: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub args: serde_json::Value,
    pub result: String,
    pub prev: String,
    pub hash: String,
}

/// The chain hash of an entry given its fields.
pub fn entry_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    args: &serde_json::Value,
    result: &str,
) -> String {
    let body = serde_json::json!({
        "seq": seq, "at": at, "actor": actor, "action": action, "args": args, "result": result,
    });
    let mut h = blake3::Hasher::new();
    h.update(prev.as_bytes());
    h.update(serde_json::to_string(&body).expect("json").as_bytes());
    h.finalize().to_hex().to_string()
}

/// Builds the next entry of the chain.
pub fn seal(draft: AuditDraft, prev: Option<(i64, String)>, at: String) -> AuditEntry {
    let (seq, prev) = match prev {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_string()),
    };
    let args = scrub_json(draft.args);
    let result = crate::redact::scrub(&draft.result);
    let hash = entry_hash(&prev, seq, &at, &draft.actor, &draft.action, &args, &result);
    AuditEntry {
        seq,
        at,
        actor: draft.actor,
        action: draft.action,
        args,
        result,
        prev,
        hash,
    }
}

fn scrub_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(s) => J::String(crate::redact::scrub(&s)),
        J::Array(a) => J::Array(a.into_iter().map(scrub_json).collect()),
        J::Object(o) => J::Object(o.into_iter().map(|(k, v)| (k, scrub_json(v))).collect()),
        other => other,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ChainBreak {
    Edited { seq: i64 },
    Missing { after: i64, found: i64 },
    OutOfOrder { seq: i64, position: usize },
    TailRemoved { head_seq: i64, last_seq: i64 },
    HeadMismatch { seq: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Edited { seq } => write!(
                f,
                "entry {seq} was edited: its hash does not match its content"
            ),
            ChainBreak::Missing { after, found } => {
                write!(f, "entries between {after} and {found} were removed")
            }
            ChainBreak::OutOfOrder { seq, position } => write!(
                f,
                "entry {seq} is out of order (found at position {position})"
            ),
            ChainBreak::TailRemoved { head_seq, last_seq } => write!(
                f,
                "the log ends at entry {last_seq} but its head says {head_seq}: entries were removed from the end"
            ),
            ChainBreak::HeadMismatch { seq } => {
                write!(f, "entry {seq} does not match the recorded head hash")
            }
        }
    }
}

/// Walks the chain in stored order; returns the first break found.
pub fn verify(entries: &[AuditEntry], head: Option<(i64, String)>) -> Result<usize, ChainBreak> {
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0;
    for (i, e) in entries.iter().enumerate() {
        if e.seq <= prev_seq {
            return Err(ChainBreak::OutOfOrder {
                seq: e.seq,
                position: i + 1,
            });
        }
        if e.seq != prev_seq + 1 {
            // The next entry is further on: the order was changed, not an entry removed.
            if entries[i..].iter().any(|x| x.seq == prev_seq + 1) {
                return Err(ChainBreak::OutOfOrder {
                    seq: e.seq,
                    position: i + 1,
                });
            }
            return Err(ChainBreak::Missing {
                after: prev_seq,
                found: e.seq,
            });
        }
        let h = entry_hash(
            &e.prev, e.seq, &e.at, &e.actor, &e.action, &e.args, &e.result,
        );
        if h != e.hash {
            return Err(ChainBreak::Edited { seq: e.seq });
        }
        if e.prev != prev_hash {
            // The entry is intact but does not follow its predecessor: something between
            // was replaced or the order changed.
            return Err(ChainBreak::OutOfOrder {
                seq: e.seq,
                position: i + 1,
            });
        }
        prev_hash = e.hash.clone();
        prev_seq = e.seq;
    }
    if let Some((hs, hh)) = head {
        if hs > prev_seq {
            return Err(ChainBreak::TailRemoved {
                head_seq: hs,
                last_seq: prev_seq,
            });
        }
        if hs == prev_seq && hh != prev_hash {
            return Err(ChainBreak::HeadMismatch { seq: hs });
        }
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut v: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = v.last().map(|e| (e.seq, e.hash.clone()));
            let d = AuditDraft {
                actor: "op".into(),
                action: format!("a{i}"),
                args: serde_json::json!({"i": i}),
                result: "ok".into(),
            };
            v.push(seal(d, prev, format!("2026-01-01T00:00:0{i}Z")));
        }
        v
    }
    fn head(v: &[AuditEntry]) -> Option<(i64, String)> {
        v.last().map(|e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn intact_chain_verifies() {
        let v = chain(5);
        assert_eq!(verify(&v, head(&v)), Ok(5));
    }

    #[test]
    fn edit_is_detected() {
        let mut v = chain(5);
        let h = head(&v);
        v[2].result = "tampered".into();
        assert_eq!(verify(&v, h), Err(ChainBreak::Edited { seq: 3 }));
    }

    #[test]
    fn removal_is_detected() {
        let mut v = chain(5);
        let h = head(&v);
        v.remove(2);
        assert_eq!(
            verify(&v, h.clone()),
            Err(ChainBreak::Missing { after: 2, found: 4 })
        );
        let mut t = chain(5);
        t.pop();
        assert!(matches!(verify(&t, h), Err(ChainBreak::TailRemoved { .. })));
    }

    #[test]
    fn reorder_is_detected() {
        let mut v = chain(5);
        let h = head(&v);
        v.swap(1, 3);
        assert!(matches!(verify(&v, h), Err(ChainBreak::OutOfOrder { .. })));
    }
}
