//! The change-capture model: journal entries, origins, and where the journal stood.

use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A row as captured: column name → value. Names, not positions, because the migration may
/// change the table's shape between capture and replay.
pub type RowImage = BTreeMap<String, Value>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn code(self) -> &'static str {
        match self {
            Op::Insert => "I",
            Op::Update => "U",
            Op::Delete => "D",
        }
    }
    pub fn from_code(c: &str) -> Option<Op> {
        match c {
            "I" => Some(Op::Insert),
            "U" => Some(Op::Update),
            "D" => Some(Op::Delete),
            _ => None,
        }
    }
}

/// Who made a write. Only `Business` writes are carried back by a rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Business,
    Migration,
    /// ripcord's own restore and replay.
    Ripcord,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Business => "business",
            Origin::Migration => "migration",
            Origin::Ripcord => "ripcord",
        }
    }
    pub fn parse(s: &str) -> Origin {
        match s {
            "migration" => Origin::Migration,
            "ripcord" => Origin::Ripcord,
            _ => Origin::Business,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: i64,
    pub table: String,
    pub op: Op,
    pub old: Option<RowImage>,
    pub new: Option<RowImage>,
    pub origin: Origin,
    /// When the write happened, as the engine recorded it (UTC text).
    pub at: String,
}

/// Where the journal stood when a checkpoint's snapshot was taken.
///
/// Entries with `seq <= high` that are not in `holes` are already reflected in the
/// checkpoint. `holes` are sequence numbers below `high` that were taken by transactions
/// still in flight at snapshot time: they may commit later and must be replayed
/// (ARCHITECTURE.md invariant 2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalMark {
    pub high: i64,
    #[serde(default)]
    pub holes: Vec<i64>,
    /// Engine-specific snapshot identity, when the engine can say exactly which writes the
    /// snapshot saw (e.g. a PostgreSQL `pg_snapshot`); the engine's reader then uses it
    /// instead of, or beside, `holes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

impl JournalMark {
    /// True when the entry is not yet reflected in a checkpoint taken at this mark.
    pub fn is_after(&self, seq: i64) -> bool {
        seq > self.high || self.holes.binary_search(&seq).is_ok()
    }

    /// What every mark of `keep` saw, by `high` and `holes` (an engine that records
    /// snapshots checks those itself): the lowest `high` and every hole at or below it.
    /// `None` when `keep` is empty.
    pub fn seen_by_all(keep: &[JournalMark]) -> Option<JournalMark> {
        let high = keep.iter().map(|m| m.high).min()?;
        let mut holes: Vec<i64> = keep
            .iter()
            .flat_map(|m| m.holes.iter().copied())
            .filter(|&h| h <= high)
            .collect();
        holes.sort_unstable();
        holes.dedup();
        Some(JournalMark {
            high,
            holes,
            snapshot: None,
        })
    }

    /// The entries this mark saw, as a condition on the journal's `seq` column.
    pub fn seen_sql(&self) -> String {
        let mut sql = format!("seq <= {}", self.high);
        if !self.holes.is_empty() {
            let list: Vec<String> = self.holes.iter().map(|h| h.to_string()).collect();
            sql.push_str(&format!(" AND seq NOT IN ({})", list.join(",")));
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::JournalMark;

    /// Pruning deletes exactly what every kept mark saw: nothing a mark still needs.
    #[test]
    fn seen_by_all_is_what_no_kept_mark_is_after() {
        let mark = |high, holes: &[i64]| JournalMark {
            high,
            holes: holes.to_vec(),
            snapshot: None,
        };
        assert_eq!(JournalMark::seen_by_all(&[]), None);
        let keep = [mark(10, &[3, 9]), mark(7, &[5]), mark(12, &[3])];
        let seen = JournalMark::seen_by_all(&keep).unwrap();
        assert_eq!(seen.seen_sql(), "seq <= 7 AND seq NOT IN (3,5)");
        for seq in 0..15 {
            assert_eq!(
                !seen.is_after(seq),
                keep.iter().all(|m| !m.is_after(seq)),
                "seq {seq}"
            );
        }
        assert_eq!(
            JournalMark::seen_by_all(&[mark(4, &[])])
                .unwrap()
                .seen_sql(),
            "seq <= 4"
        );
    }
}
