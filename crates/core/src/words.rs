//! The edge's words for the typed causes that core's own sentences quote: an error that
//! refuses a failed sync, a check item, a proof example, a guard's stop reason. Core
//! decides and keeps the cause as data; the binary installs its wording once at start
//! (`console::WORDS`), so each cause is worded in one place, at the edge. Without it (core
//! used as a library, core's own tests) a cause is shown as its data.

use crate::events::GapReason;
use crate::status::RuleDetail;
use crate::sync::SyncFailure;
use std::sync::OnceLock;

/// How the edge words each typed cause.
#[derive(Clone, Copy, Debug)]
pub struct Words {
    pub gap_reason: fn(&GapReason) -> String,
    pub sync_failure: fn(&SyncFailure) -> String,
    pub rule_detail: fn(&RuleDetail) -> String,
}

static WORDS: OnceLock<Words> = OnceLock::new();

/// Installs the edge's words; the first installation holds for the process.
pub fn install(words: Words) {
    let _ = WORDS.set(words);
}

pub fn gap_reason(r: &GapReason) -> String {
    WORDS
        .get()
        .map_or_else(|| format!("{r:?}"), |w| (w.gap_reason)(r))
}

pub fn sync_failure(f: &SyncFailure) -> String {
    WORDS
        .get()
        .map_or_else(|| format!("{f:?}"), |w| (w.sync_failure)(f))
}

pub fn rule_detail(d: &RuleDetail) -> String {
    WORDS
        .get()
        .map_or_else(|| format!("{d:?}"), |w| (w.rule_detail)(d))
}

/// Reads a typed value stored where an older ripcord stored a sentence: a JSON string is
/// the sentence (`sentence` keeps it as data), anything else the typed form (`typed`).
pub(crate) fn or_sentence<'de, D, T>(
    d: D,
    typed: impl FnOnce(serde_json::Value) -> Result<T, serde_json::Error>,
    sentence: impl FnOnce(String) -> T,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(sentence(s)),
        v => typed(v).map_err(D::Error::custom),
    }
}
