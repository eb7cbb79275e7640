//! Aggregate invariants compared across two sides with a tolerance: year-to-date totals per
//! employee, VAT per month… The query's last column is the figure, the others the group.

use crate::DiffError;
use crate::source::DiffSource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateDiff {
    pub group: String,
    pub a: Option<String>,
    pub b: Option<String>,
    pub delta: Option<f64>,
    pub within_tolerance: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateReport {
    pub sql: String,
    pub groups: usize,
    pub tolerance: f64,
    /// Groups whose figures differ (those within tolerance are flagged so).
    pub differences: Vec<AggregateDiff>,
}

impl AggregateReport {
    pub fn broken(&self) -> usize {
        self.differences
            .iter()
            .filter(|d| !d.within_tolerance)
            .count()
    }
}

/// Compares two result sets of (group, figure).
pub fn compare(
    sql: &str,
    a: Vec<(String, Option<String>)>,
    b: Vec<(String, Option<String>)>,
    tolerance: f64,
) -> AggregateReport {
    let a: BTreeMap<String, Option<String>> = a.into_iter().collect();
    let b: BTreeMap<String, Option<String>> = b.into_iter().collect();
    let mut groups: Vec<&String> = a.keys().chain(b.keys()).collect();
    groups.sort();
    groups.dedup();
    let num = |v: Option<&Option<String>>| -> Option<f64> {
        v.and_then(|x| x.as_deref())
            .and_then(|s| s.trim().parse().ok())
    };
    let mut differences = Vec::new();
    for g in &groups {
        let (va, vb) = (a.get(*g), b.get(*g));
        let (na, nb) = (num(va), num(vb));
        let (delta, within) = match (na, nb) {
            // A group missing on one side counts as zero against the tolerance.
            (Some(x), Some(y)) => (Some(y - x), (y - x).abs() <= tolerance + 1e-9),
            (Some(x), None) if vb.is_none() => (Some(-x), x.abs() <= tolerance + 1e-9),
            (None, Some(y)) if va.is_none() => (Some(y), y.abs() <= tolerance + 1e-9),
            _ => (None, va == vb),
        };
        if delta == Some(0.0) || (delta.is_none() && within) {
            continue;
        }
        differences.push(AggregateDiff {
            group: (*g).clone(),
            a: va.cloned().flatten(),
            b: vb.cloned().flatten(),
            delta: delta.map(|d| (d * 1e9).round() / 1e9),
            within_tolerance: within,
        });
    }
    AggregateReport {
        sql: sql.to_string(),
        groups: groups.len(),
        tolerance,
        differences,
    }
}

/// Runs `sql` on both sides and compares the figures.
pub fn check(
    a: &mut dyn DiffSource,
    b: &mut dyn DiffSource,
    sql: &str,
    tolerance: f64,
) -> Result<AggregateReport, DiffError> {
    let ra = a.aggregate(sql)?;
    let rb = b.aggregate(sql)?;
    Ok(compare(sql, ra, rb, tolerance))
}

/// (group, figure) from a result row: every column but the last is the group.
pub fn split_row(mut r: Vec<Option<String>>) -> (String, Option<String>) {
    let v = r.pop().flatten();
    let g: Vec<String> = r
        .into_iter()
        .map(|x| x.unwrap_or_else(|| "NULL".into()))
        .collect();
    (g.join(", "), v)
}
