//! The result of a table diff and the data-gap report built from it.

use crate::compare::RowChange;
use crate::source::{KeyProblems, KeyVals, TableSpec};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    pub seconds: f64,
    /// Where the time went: counts and key checks, boundaries, checksums, row downloads.
    pub count_seconds: f64,
    pub boundary_seconds: f64,
    pub checksum_seconds: f64,
    pub download_seconds: f64,
    pub queries: u64,
    pub levels: u64,
    pub ranges_checked: u64,
    pub rows_downloaded: u64,
    /// The most rows of the reference side held in memory at once: a streamed comparison
    /// holds a few batches; a checkpoint served from memory holds all of its rows.
    #[serde(default)]
    pub rows_held_peak: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TableDiff {
    pub table: String,
    pub a: String,
    pub b: String,
    pub key: Vec<String>,
    pub columns: Vec<String>,
    pub columns_only_in_a: Vec<String>,
    pub columns_only_in_b: Vec<String>,
    pub rows_a: u64,
    pub rows_b: u64,
    pub key_problems_a: KeyProblems,
    pub key_problems_b: KeyProblems,
    /// Keys of rows present in A and absent from B.
    pub missing_in_b: Vec<KeyVals>,
    /// Keys of rows present in B and absent from A.
    pub missing_in_a: Vec<KeyVals>,
    /// Rows with at least one column different beyond its tolerance.
    pub changed: Vec<RowChange>,
    /// Rows whose only differences are within tolerances the operator set: listed, and in
    /// the gap report, but not failing the diff.
    pub within_tolerance: Vec<RowChange>,
    pub stats: Stats,
}

/// One line of the data-gap report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub table: String,
    pub key: String,
    pub what: String,
    pub suggested_action: String,
    /// Every difference of this key is within a tolerance the operator set: listed so it is
    /// never lost, but not a failure.
    #[serde(default)]
    pub within_tolerance: bool,
}

pub fn key_text(k: &[String]) -> String {
    if k.len() == 1 {
        k[0].clone()
    } else {
        format!("({})", k.join(", "))
    }
}

impl TableDiff {
    pub(crate) fn new(table: &str, a: String, b: String, spec: &TableSpec) -> TableDiff {
        TableDiff {
            table: table.to_string(),
            a,
            b,
            key: spec.key_columns().to_vec(),
            columns: spec.columns.clone(),
            ..Default::default()
        }
    }

    /// Notes the columns only one side has (named in each side's column order).
    pub(crate) fn columns_only(&mut self, names_a: &[String], names_b: &[String]) {
        self.columns_only_in_a = names_a
            .iter()
            .filter(|c| !names_b.contains(c))
            .cloned()
            .collect();
        self.columns_only_in_b = names_b
            .iter()
            .filter(|c| !names_a.contains(c))
            .cloned()
            .collect();
    }

    pub(crate) fn sort(&mut self) {
        // Ranges are compared in batches; keys come out grouped, not globally sorted.
        let by = |x: &KeyVals, y: &KeyVals| {
            x.len().cmp(&y.len()).then_with(|| {
                x.iter()
                    .map(|s| (s.len(), s))
                    .cmp(y.iter().map(|s| (s.len(), s)))
            })
        };
        self.missing_in_a.sort_by(by);
        self.missing_in_b.sort_by(by);
        self.changed.sort_by(|x, y| by(&x.key, &y.key));
        self.within_tolerance.sort_by(|x, y| by(&x.key, &y.key));
    }

    /// Duplicate or NULL keys stopped the diff.
    pub fn key_trouble(&self) -> bool {
        !self.key_problems_a.is_clean() || !self.key_problems_b.is_clean()
    }

    /// Anything a person must act on: missing rows, changes beyond tolerance, broken keys.
    pub fn has_differences(&self) -> bool {
        self.key_trouble()
            || !self.missing_in_a.is_empty()
            || !self.missing_in_b.is_empty()
            || !self.changed.is_empty()
    }

    /// Every key that differs in any way, tolerance included.
    pub fn differing_keys(&self) -> Vec<KeyVals> {
        let mut v: Vec<KeyVals> = self
            .missing_in_a
            .iter()
            .chain(&self.missing_in_b)
            .cloned()
            .chain(self.changed.iter().map(|c| c.key.clone()))
            .chain(self.within_tolerance.iter().map(|c| c.key.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The data-gap report: each key, what is missing or wrong where, and what to do.
    /// Differences within tolerance are in it too, flagged `within_tolerance`.
    pub fn gaps(&self) -> Vec<Gap> {
        let mut out = Vec::new();
        for k in &self.missing_in_b {
            out.push(Gap {
                table: self.table.clone(),
                key: key_text(k),
                what: format!("row missing in B ({})", self.b),
                suggested_action:
                    "re-enter the row in B (manual entry), or copy it from A after review".into(),
                within_tolerance: false,
            });
        }
        for k in &self.missing_in_a {
            out.push(Gap {
                table: self.table.clone(),
                key: key_text(k),
                what: format!("row only in B ({})", self.b),
                suggested_action:
                    "confirm it is a new business write; if so carry it to A, else remove it from B"
                        .into(),
                within_tolerance: false,
            });
        }
        for c in &self.changed {
            let cols: Vec<&str> = c
                .columns
                .iter()
                .filter(|x| !x.within_tolerance)
                .map(|x| x.column.as_str())
                .collect();
            let text = c.columns.iter().any(|x| !x.text_issues.is_empty());
            out.push(Gap {
                table: self.table.clone(),
                key: key_text(&c.key),
                what: format!("values differ in {}", cols.join(", ")),
                suggested_action: if text {
                    "text damaged in transit: re-copy the column from the source with the right character set".into()
                } else {
                    "review both values and correct the wrong side (manual entry)".into()
                },
                within_tolerance: false,
            });
        }
        for c in &self.within_tolerance {
            let cols: Vec<String> = c
                .columns
                .iter()
                .map(|x| {
                    let delta = x
                        .delta
                        .as_ref()
                        .map(|d| format!("Δ {d}, "))
                        .unwrap_or_default();
                    let tol = x
                        .tolerance
                        .as_ref()
                        .map(|t| t.to_string())
                        .unwrap_or_default();
                    format!("{} ({delta}tolerance {tol})", x.column)
                })
                .collect();
            out.push(Gap {
                table: self.table.clone(),
                key: key_text(&c.key),
                what: format!("values differ within tolerance in {}", cols.join(", ")),
                suggested_action:
                    "accepted by the tolerance set for the run; review if the tolerance is wrong"
                        .into(),
                within_tolerance: true,
            });
        }
        for (side, p) in [("A", &self.key_problems_a), ("B", &self.key_problems_b)] {
            if p.null_keys > 0 {
                out.push(Gap {
                    table: self.table.clone(),
                    key: "NULL".into(),
                    what: format!("{} rows with a NULL key on side {side}", p.null_keys),
                    suggested_action: "give these rows a key, or choose other --key columns".into(),
                    within_tolerance: false,
                });
            }
            for (k, n) in &p.duplicates {
                out.push(Gap {
                    table: self.table.clone(),
                    key: key_text(k),
                    what: format!("{n} rows share this key on side {side}"),
                    suggested_action: "remove the duplicates or choose a unique --key".into(),
                    within_tolerance: false,
                });
            }
        }
        out
    }
}
