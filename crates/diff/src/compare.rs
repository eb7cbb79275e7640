//! Row-level comparison of downloaded ranges: missing rows, changed columns, money within
//! tolerance, and what kind of text damage a changed text column shows.

use crate::TableDiff;
use crate::arabic;
use crate::canon::Class;
use crate::source::{CanonRow, KeyVals, TableSpec};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Allowed variance per column. Money columns (decimals with at most 4 fraction digits, or
/// `money`) get `money_default` unless named; any numeric column can be named.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tolerances {
    pub money_default: f64,
    pub per_column: BTreeMap<String, f64>,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            money_default: 0.01,
            per_column: BTreeMap::new(),
        }
    }
}

impl Tolerances {
    /// Parses `col=0.05`.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (c, v) = spec
            .split_once('=')
            .ok_or_else(|| format!("--tolerance {spec:?}: write COLUMN=AMOUNT, e.g. net=0.01"))?;
        let v: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("--tolerance {spec:?}: {v:?} is not a non-negative number"))?;
        self.per_column.insert(c.trim().to_string(), v);
        Ok(())
    }

    /// The tolerance of each column of `spec` (`None` = exact).
    pub fn for_spec(&self, spec: &TableSpec) -> Vec<Option<f64>> {
        spec.columns
            .iter()
            .zip(&spec.classes)
            .zip(&spec.decls)
            .enumerate()
            .map(|(i, ((c, class), decl))| {
                if i < spec.key_len {
                    return None;
                }
                if let Some(&t) = self.per_column.get(c) {
                    return (t > 0.0).then_some(t);
                }
                let d = decl.to_ascii_lowercase();
                let money = *class == Class::Decimal
                    && (d.starts_with("money")
                        || crate::canon::decimal_scale(&d).is_some_and(|s| (1..=4).contains(&s)));
                (money && self.money_default > 0.0).then_some(self.money_default)
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnChange {
    pub column: String,
    pub a: Option<String>,
    pub b: Option<String>,
    /// `b - a` for numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    pub within_tolerance: bool,
    /// Text damage recognised in `b` against `a` (mojibake, lost tashkeel, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text_issues: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub key: KeyVals,
    pub columns: Vec<ColumnChange>,
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// `None` when equal; else the change.
fn compare_value(
    column: &str,
    class: (Class, Class),
    tol: Option<f64>,
    a: &Option<String>,
    b: &Option<String>,
) -> Option<ColumnChange> {
    if a == b {
        return None;
    }
    let mut ch = ColumnChange {
        column: column.to_string(),
        a: a.clone(),
        b: b.clone(),
        delta: None,
        within_tolerance: false,
        text_issues: Vec::new(),
    };
    let (Some(x), Some(y)) = (a, b) else {
        return Some(ch);
    };
    if class.0.is_numeric() || class.1.is_numeric() {
        if let (Some(p), Some(q)) = (num(x), num(y)) {
            // Same number written two ways (`1e20` vs `100000000000000000000`).
            if p == q {
                return None;
            }
            let d = q - p;
            ch.delta = Some((d * 1e9).round() / 1e9);
            ch.within_tolerance = tol.is_some_and(|t| d.abs() <= t + 1e-9);
        }
        return Some(ch);
    }
    if class.0 == Class::Json || class.1 == Class::Json {
        // serde_json keeps objects in key order, so equal documents compare equal.
        if let (Ok(p), Ok(q)) = (
            serde_json::from_str::<serde_json::Value>(x),
            serde_json::from_str::<serde_json::Value>(y),
        ) && p == q
        {
            return None;
        }
        return Some(ch);
    }
    if class.0 == Class::Text {
        ch.text_issues = arabic::compare(x, y)
            .into_iter()
            .map(|f| f.to_string())
            .collect();
    }
    Some(ch)
}

/// Merges two key-sorted row lists into the report.
pub(crate) fn merge(
    spec_a: &TableSpec,
    spec_b: &TableSpec,
    ra: &[CanonRow],
    rb: &[CanonRow],
    tol: &[Option<f64>],
    out: &mut TableDiff,
) {
    let (mut i, mut j) = (0, 0);
    while i < ra.len() || j < rb.len() {
        let ord = match (ra.get(i), rb.get(j)) {
            (Some(x), Some(y)) => spec_a.cmp_keys(&spec_a.key_of(x), &spec_b.key_of(y)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                out.missing_in_b.push(spec_a.key_of(&ra[i]));
                i += 1;
            }
            Ordering::Greater => {
                out.missing_in_a.push(spec_b.key_of(&rb[j]));
                j += 1;
            }
            Ordering::Equal => {
                let changes: Vec<ColumnChange> = (spec_a.key_len..spec_a.columns.len())
                    .filter_map(|c| {
                        compare_value(
                            &spec_a.columns[c],
                            (spec_a.classes[c], spec_b.classes[c]),
                            tol[c],
                            &ra[i][c],
                            &rb[j][c],
                        )
                    })
                    .collect();
                if !changes.is_empty() {
                    let rc = RowChange {
                        key: spec_a.key_of(&ra[i]),
                        columns: changes,
                    };
                    if rc.columns.iter().all(|c| c.within_tolerance) {
                        out.within_tolerance.push(rc);
                    } else {
                        out.changed.push(rc);
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
}
