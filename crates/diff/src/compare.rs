//! Row-level comparison of downloaded ranges: missing rows, changed columns (numbers
//! exactly, see [`crate::exact`]), columns within a tolerance the operator set, and what
//! kind of text damage a changed text column shows.

use crate::TableDiff;
use crate::arabic;
use crate::canon::Class;
use crate::exact::{Decimal, parse_tolerance};
use crate::source::{CanonRow, KeyVals, TableSpec};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Allowed variance per column, set only by the operator (`--tolerance COL=AMOUNT`): no
/// column has one by default, because no default fits every currency (a 0.005 change is
/// half a baisa of Omani rial, not rounding noise).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Tolerances {
    pub per_column: BTreeMap<String, Decimal>,
}

impl Tolerances {
    /// Parses `col=0.05`.
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (c, v) = spec
            .split_once('=')
            .ok_or_else(|| format!("--tolerance {spec:?}: write COLUMN=AMOUNT, e.g. net=0.01"))?;
        let v = parse_tolerance(v).map_err(|e| format!("--tolerance {spec:?}: {e}"))?;
        self.per_column.insert(c.trim().to_string(), v);
        Ok(())
    }

    /// The tolerance of each column of `spec` (`None` = exact).
    pub fn for_spec(&self, spec: &TableSpec) -> Vec<Option<Decimal>> {
        spec.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < spec.key_len {
                    return None;
                }
                self.per_column.get(c).filter(|t| !t.is_zero()).cloned()
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnChange {
    pub column: String,
    pub a: Option<String>,
    pub b: Option<String>,
    /// `b - a` for numbers, exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Decimal>,
    /// The tolerance the operator set for this column, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Decimal>,
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

/// `None` when equal; else the change.
pub(crate) fn compare_value(
    column: &str,
    class: (Class, Class),
    tol: Option<&Decimal>,
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
        tolerance: tol.cloned(),
        within_tolerance: false,
        text_issues: Vec::new(),
    };
    let (Some(x), Some(y)) = (a, b) else {
        return Some(ch);
    };
    if class.0.is_numeric() || class.1.is_numeric() {
        // Two floats are equal when they are the same double (`1e+20` and `1e20` are; the
        // engines print doubles in text that reads back exactly). Anything else, or a float
        // against a decimal, compares as the exact decimal its text says: a float equals a
        // decimal only when its shortest text is that decimal, i.e. nothing was lost.
        if class.0 == Class::Float
            && class.1 == Class::Float
            && let (Ok(p), Ok(q)) = (x.trim().parse::<f64>(), y.trim().parse::<f64>())
            && p == q
        {
            return None;
        }
        if let (Some(p), Some(q)) = (Decimal::parse(x), Decimal::parse(y)) {
            if p == q {
                return None;
            }
            let d = q.sub(&p);
            ch.within_tolerance = tol.is_some_and(|t| d.abs() <= *t);
            ch.delta = Some(d);
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
    tol: &[Option<Decimal>],
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
                            tol[c].as_ref(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(class: (Class, Class), tol: Option<&str>, a: &str, b: &str) -> Option<ColumnChange> {
        let tol = tol.map(|t| t.parse::<Decimal>().unwrap());
        compare_value(
            "c",
            class,
            tol.as_ref(),
            &Some(a.to_string()),
            &Some(b.to_string()),
        )
    }

    #[test]
    fn numbers_compare_exactly() {
        use Class::{Decimal as Dec, Float, Int};
        let delta = |c: Option<ColumnChange>| c.and_then(|c| c.delta).map(|d| d.to_string());
        assert_eq!(
            delta(cmp(
                (Int, Int),
                None,
                "9007199254740993",
                "9007199254740994"
            )),
            Some("1".into())
        );
        assert_eq!(
            delta(cmp(
                (Dec, Int),
                None,
                "100000000000000000001",
                "100000000000000000000"
            )),
            Some("-1".into())
        );
        assert!(cmp((Dec, Dec), None, "1e3", "1000").is_none());
        // The same double printed two ways is equal; neighbouring doubles are not.
        assert!(cmp((Float, Float), None, "1e+20", "1e20").is_none());
        assert!(cmp((Float, Float), None, "0.3", "0.30000000000000004").is_some());
        // A double against a decimal: equal only when the double's text is the decimal.
        assert!(cmp((Float, Dec), None, "0.1", "0.1").is_none());
        assert!(
            cmp(
                (Float, Dec),
                None,
                "0.1",
                "0.1000000000000000055511151231257827"
            )
            .is_some()
        );
        let edge = |b: &str| {
            cmp((Dec, Dec), Some("0.005"), "1", b)
                .unwrap()
                .within_tolerance
        };
        assert!(edge("1.005") && edge("0.995"));
        assert!(!edge("1.006") && !edge("1.0050000001"));
        // Not a number on one side: a difference, never a silent match.
        assert!(cmp((Dec, Dec), Some("100"), "NaN", "1").is_some_and(|c| !c.within_tolerance));
    }
}
