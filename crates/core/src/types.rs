//! Carrying a value written on one engine into a column of another (a MariaDB legacy
//! table receiving a row written in PostgreSQL, or the reverse). Same-engine replays do not
//! go through here: their values already have the target's types.
//!
//! | legacy column type            | accepts                                   | refused (a data gap)                    |
//! |-------------------------------|-------------------------------------------|-----------------------------------------|
//! | integer types, `tinyint(1)`   | integers; booleans as 0/1; integral text/decimals | fractions, out-of-range, non-numbers |
//! | `decimal(p,s)`/`numeric(p,s)` | numbers and numeric text, written with exactly `s` digits | more than `s` non-zero digits (money would be rounded), more than `p` digits |
//! | `float`/`double`/`real`       | any number                                | non-numbers                             |
//! | `boolean`                     | booleans; 0/1; `t`/`f`/`true`/`false`     | anything else                           |
//! | `datetime(n)`/`timestamp`     | ISO text with or without offset; converted to UTC, `n` fraction digits | unparsable text, lost sub-second digits |
//! | `timestamptz`                 | ISO text; text without offset is taken as UTC | unparsable text                    |
//! | `varchar(n)`/`char(n)`        | text of at most `n` characters            | longer text (it would be cut)           |
//! | `json`, `jsonb`, `uuid`, `char(36)`, `text`, enums | text as is                | —                                       |
//! | `blob`/`bytea`/`binary`       | bytes                                     | text                                    |

use crate::engine::TypeQuirks;
use crate::value::Value;

fn params(decl: &str) -> Vec<u32> {
    decl.split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| {
            inside
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn base(decl: &str) -> String {
    decl.split('(')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn numeric_text(v: &Value) -> Option<String> {
    match v {
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) if f.is_finite() => Some(format!("{f}")),
        Value::Decimal(d) | Value::Text(d) => {
            let t = d.trim();
            let ok = !t.is_empty()
                && t.trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
                && t.matches('.').count() <= 1;
            ok.then(|| t.to_string())
        }
        Value::Bool(b) => Some((*b as i64).to_string()),
        _ => None,
    }
}

fn decimal(v: &Value, p: Option<u32>, s: u32) -> Result<Value, String> {
    let t = numeric_text(v).ok_or_else(|| format!("{v} is not a number"))?;
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t.trim_start_matches('+').to_string()),
    };
    let (int, frac) = t.split_once('.').unwrap_or((&t, ""));
    if frac.len() > s as usize && frac[s as usize..].chars().any(|c| c != '0') {
        return Err(format!(
            "{v} has more than {s} decimal places; carrying it would round it"
        ));
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if let Some(p) = p
        && int.len() > p.saturating_sub(s) as usize
    {
        return Err(format!("{v} does not fit decimal({p},{s})"));
    }
    let mut frac: String = frac.chars().take(s as usize).collect();
    while frac.len() < s as usize {
        frac.push('0');
    }
    let body = if s == 0 {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    let zero = body.chars().all(|c| c == '0' || c == '.');
    Ok(Value::Decimal(if neg && !zero {
        format!("-{body}")
    } else {
        body
    }))
}

fn timestamp_utc(text: &str, digits: u32) -> Result<String, String> {
    let t = text.trim().replace('T', " ");
    let parsed = chrono::DateTime::parse_from_str(&format!("{t}00"), "%Y-%m-%d %H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map(|d| d.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f"))
        .map_err(|_| format!("{text:?} is not a timestamp"))?;
    let nanos = parsed.and_utc().timestamp_subsec_nanos();
    let keep = 10u32.pow(9 - digits.min(9));
    if nanos % keep != 0 {
        return Err(format!(
            "{text:?} has sub-second digits a column with {digits} fraction digits would lose"
        ));
    }
    let base = parsed.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(if digits == 0 {
        base
    } else {
        format!("{base}.{:0width$}", nanos / keep, width = digits as usize)
    })
}

/// Converts `v` for a column declared `decl` on the legacy engine, whose type quirks are
/// `target`; `Err` says why the value cannot be carried over.
pub fn convert(v: &Value, decl: &str, target: &TypeQuirks) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let b = base(decl);
    let p = params(decl);
    let lower = decl.to_ascii_lowercase();
    match b.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "int2" | "int4"
        | "int8" | "serial" | "bigserial" => {
            let t = numeric_text(v).ok_or_else(|| format!("{v} is not an integer"))?;
            let d = decimal(&Value::Text(t), None, 0)
                .map_err(|_| format!("{v} is not a whole number"))?;
            match d {
                Value::Decimal(s) => s
                    .parse::<i64>()
                    .map(Value::Int)
                    .map_err(|_| format!("{v} is out of range for {decl}")),
                _ => unreachable!(),
            }
        }
        "decimal" | "numeric" | "dec" | "fixed" => {
            decimal(v, p.first().copied(), p.get(1).copied().unwrap_or(0))
        }
        "float" | "double" | "real" | "float4" | "float8" | "double precision" => numeric_text(v)
            .and_then(|t| t.parse().ok())
            .map(Value::Float)
            .ok_or_else(|| format!("{v} is not a number")),
        "boolean" | "bool" => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Int(0) => Ok(Value::Bool(false)),
            Value::Int(1) => Ok(Value::Bool(true)),
            Value::Text(t) if matches!(t.as_str(), "t" | "true" | "1") => Ok(Value::Bool(true)),
            Value::Text(t) if matches!(t.as_str(), "f" | "false" | "0") => Ok(Value::Bool(false)),
            other => Err(format!("{other} is not a boolean")),
        },
        "datetime" | "timestamp" if !lower.contains("with time zone") => {
            let Value::Text(t) = v else {
                return Err(format!("{v} is not a timestamp"));
            };
            // MariaDB's precision is in the type; PostgreSQL's timestamp keeps microseconds.
            let digits = p
                .first()
                .copied()
                .unwrap_or(target.timestamp_fraction_digits);
            timestamp_utc(t, digits).map(Value::Text)
        }
        "timestamptz" | "timestamp with time zone" => {
            let Value::Text(t) = v else {
                return Err(format!("{v} is not a timestamp"));
            };
            timestamp_utc(t, 6).map(|s| Value::Text(format!("{s}+00")))
        }
        _ if lower.starts_with("timestamp") && lower.contains("with time zone") => {
            let Value::Text(t) = v else {
                return Err(format!("{v} is not a timestamp"));
            };
            timestamp_utc(t, 6).map(|s| Value::Text(format!("{s}+00")))
        }
        "blob" | "tinyblob" | "mediumblob" | "longblob" | "bytea" | "binary" | "varbinary" => {
            match v {
                Value::Blob(b) => Ok(Value::Blob(b.clone())),
                other => Err(format!("{other} is not binary data")),
            }
        }
        "varchar" | "char" | "character varying" | "character" | "nvarchar" | "nchar" => {
            let t = match v {
                Value::Text(t) => t.clone(),
                Value::Blob(_) => return Err("binary data cannot go into a text column".into()),
                other => other.to_string().trim_matches('"').to_string(),
            };
            match p.first() {
                Some(&n) if t.chars().count() > n as usize => Err(format!(
                    "text of {} characters does not fit {decl}; it would be cut",
                    t.chars().count()
                )),
                _ => Ok(Value::Text(t)),
            }
        }
        _ => Ok(match v {
            Value::Bool(b) if target.bool_as_int => Value::Int(*b as i64),
            other => other.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The quirks of the two engines this table was written for, as their crates declare them.
    const MARIADB: TypeQuirks = TypeQuirks {
        timestamp_fraction_digits: 0,
        bool_as_int: true,
    };
    const POSTGRES: TypeQuirks = TypeQuirks {
        timestamp_fraction_digits: 6,
        bool_as_int: false,
    };

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn money_keeps_its_scale_and_refuses_rounding() {
        assert_eq!(
            convert(&Value::Decimal("12.5".into()), "decimal(12,3)", &MARIADB),
            Ok(Value::Decimal("12.500".into()))
        );
        assert_eq!(
            convert(&Value::Int(7), "numeric(12,3)", &POSTGRES),
            Ok(Value::Decimal("7.000".into()))
        );
        assert_eq!(
            convert(&Value::Decimal("-0.000".into()), "decimal(12,3)", &MARIADB),
            Ok(Value::Decimal("0.000".into()))
        );
        assert!(
            convert(&Value::Decimal("1.2345".into()), "decimal(12,3)", &MARIADB)
                .unwrap_err()
                .contains("round")
        );
        assert_eq!(
            convert(&Value::Decimal("1.2340".into()), "decimal(12,3)", &MARIADB),
            Ok(Value::Decimal("1.234".into()))
        );
        assert!(
            convert(
                &Value::Decimal("1234567890.5".into()),
                "decimal(12,3)",
                &MARIADB
            )
            .unwrap_err()
            .contains("does not fit")
        );
    }

    #[test]
    fn timestamps_go_to_utc_at_the_target_precision() {
        assert_eq!(
            convert(&t("2026-03-01 12:00:00.123456+04"), "datetime(6)", &MARIADB),
            Ok(t("2026-03-01 08:00:00.123456"))
        );
        assert_eq!(
            convert(&t("2026-03-01 12:00:00+05:30"), "datetime", &MARIADB),
            Ok(t("2026-03-01 06:30:00"))
        );
        assert!(
            convert(&t("2026-03-01 12:00:00.5+00"), "datetime", &MARIADB)
                .unwrap_err()
                .contains("lose")
        );
        assert_eq!(
            convert(
                &t("2026-03-01 08:00:00.123456"),
                "timestamp with time zone",
                &POSTGRES
            ),
            Ok(t("2026-03-01 08:00:00.123456+00"))
        );
        assert!(convert(&t("yesterday"), "datetime(6)", &MARIADB).is_err());
    }

    #[test]
    fn booleans_integers_and_text() {
        assert_eq!(
            convert(&Value::Bool(true), "tinyint(1)", &MARIADB),
            Ok(Value::Int(1))
        );
        assert_eq!(
            convert(&Value::Int(0), "boolean", &POSTGRES),
            Ok(Value::Bool(false))
        );
        assert!(convert(&Value::Decimal("2.5".into()), "bigint", &MARIADB).is_err());
        assert_eq!(convert(&t("محمد"), "varchar(4)", &MARIADB), Ok(t("محمد")));
        assert!(
            convert(&t("محمد البلوشي"), "varchar(4)", &MARIADB)
                .unwrap_err()
                .contains("cut")
        );
        assert_eq!(
            convert(&t("{\"a\": 1}"), "json", &MARIADB),
            Ok(t("{\"a\": 1}"))
        );
        assert_eq!(
            convert(&Value::Blob(vec![0, 1]), "bytea", &POSTGRES),
            Ok(Value::Blob(vec![0, 1]))
        );
        assert!(convert(&t("x"), "blob", &MARIADB).is_err());
    }
}
