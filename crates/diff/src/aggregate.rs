//! Aggregate invariants compared across two sides: year-to-date totals per employee, VAT
//! per month… The query's last column is the figure, the others the group. Figures are
//! compared as exact decimals, with a tolerance only when the operator set one.

use crate::DiffError;
use crate::exact::Decimal;
use crate::source::DiffSource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateDiff {
    pub group: String,
    pub a: Option<String>,
    pub b: Option<String>,
    /// `b - a`, exact.
    pub delta: Option<Decimal>,
    pub within_tolerance: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateReport {
    pub sql: String,
    pub groups: usize,
    /// Zero (exact) unless the operator set one.
    pub tolerance: Decimal,
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

    pub fn within(&self) -> usize {
        self.differences
            .iter()
            .filter(|d| d.within_tolerance)
            .count()
    }
}

/// Compares two result sets of (group, figure).
pub fn compare(
    sql: &str,
    a: Vec<(String, Option<String>)>,
    b: Vec<(String, Option<String>)>,
    tolerance: &Decimal,
) -> AggregateReport {
    let a: BTreeMap<String, Option<String>> = a.into_iter().collect();
    let b: BTreeMap<String, Option<String>> = b.into_iter().collect();
    let mut groups: Vec<&String> = a.keys().chain(b.keys()).collect();
    groups.sort();
    groups.dedup();
    let num = |v: Option<&Option<String>>| -> Option<Decimal> {
        v.and_then(|x| x.as_deref()).and_then(Decimal::parse)
    };
    let within = |d: &Decimal| d.abs() <= *tolerance;
    let mut differences = Vec::new();
    for g in &groups {
        let (va, vb) = (a.get(*g), b.get(*g));
        let delta = match (num(va), num(vb)) {
            (Some(x), Some(y)) => Some(y.sub(&x)),
            // A group missing on one side counts as zero.
            (Some(x), None) if vb.is_none() => Some(Decimal::zero().sub(&x)),
            (None, Some(y)) if va.is_none() => Some(y),
            _ => None,
        };
        let ok = match &delta {
            Some(d) if d.is_zero() => continue,
            Some(d) => within(d),
            None if va == vb => continue,
            None => false,
        };
        differences.push(AggregateDiff {
            group: (*g).clone(),
            a: va.cloned().flatten(),
            b: vb.cloned().flatten(),
            delta,
            within_tolerance: ok,
        });
    }
    AggregateReport {
        sql: sql.to_string(),
        groups: groups.len(),
        tolerance: tolerance.clone(),
        differences,
    }
}

/// Runs `sql` on both sides and compares the figures.
pub fn check(
    a: &mut dyn DiffSource,
    b: &mut dyn DiffSource,
    sql: &str,
    tolerance: &Decimal,
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
