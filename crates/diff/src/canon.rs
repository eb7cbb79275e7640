//! The diff row encoding, version 1, and the per-type canonical text it is built from.
//!
//! Every engine turns each compared column into a canonical text (or NULL) in its own SQL,
//! and Rust does the same for rows it holds (checkpoints, SQLite):
//!
//! | class       | canonical text                                              |
//! |-------------|-------------------------------------------------------------|
//! | `Int`       | decimal integer                                             |
//! | `Bool`      | `1` / `0`                                                   |
//! | `Decimal`   | no trailing fraction zeros, no trailing `.` (`12.500` → `12.5`, `3.000` → `3`) |
//! | `Timestamp` | microseconds since 1970-01-01 00:00:00 UTC, decimal integer |
//! | `Date`      | `YYYY-MM-DD`                                                |
//! | `Blob`      | lowercase hex                                               |
//! | `Text`, `Json`, `Float` | the engine's text (compared by meaning at row level) |
//!
//! `Int` and `Decimal` texts carry every digit of the stored value (never a float's
//! rendering), so any change to a number changes the row hash; the row comparison then
//! compares numbers exactly (`crate::exact`).
//!
//! A row's encoding is `1` (the version) followed by each field: `~` for NULL, else the
//! byte length in decimal, `:`, and the canonical text. The length prefix and the NULL
//! marker make it unambiguous (`NULL` ≠ `'<null>'`, `('p|q','r')` ≠ `('p','q|r')`).
//! A row hashes to the first 8 bytes of the MD5 of its encoding (big-endian); a range's
//! checksum is the row count and the sum of its row hashes modulo 2^64. The sum is
//! order-independent, so engines aggregate without sorting.

use md5::{Digest, Md5};
use ripcord_core::value::Value;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Bump when the encoding changes: both sides of a diff must use the same one.
pub const VERSION: &str = "1";
pub const NULL_MARK: &str = "~";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Int,
    Bool,
    Decimal,
    Float,
    Text,
    Blob,
    Timestamp,
    Date,
    Json,
}

impl Class {
    pub const ALL: [Class; 9] = [
        Class::Int,
        Class::Bool,
        Class::Decimal,
        Class::Float,
        Class::Text,
        Class::Blob,
        Class::Timestamp,
        Class::Date,
        Class::Json,
    ];
    /// A short name, for passing classes to SQL functions written in Rust.
    pub fn code(self) -> &'static str {
        match self {
            Class::Int => "int",
            Class::Bool => "bool",
            Class::Decimal => "decimal",
            Class::Float => "float",
            Class::Text => "text",
            Class::Blob => "blob",
            Class::Timestamp => "timestamp",
            Class::Date => "date",
            Class::Json => "json",
        }
    }
    pub fn from_code(code: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.code() == code)
    }
    /// Classes that can be range keys: their canonical texts order the same way as the
    /// engines' binary order (see [`cmp_key`]).
    pub fn can_be_key(self) -> bool {
        matches!(
            self,
            Class::Int | Class::Bool | Class::Decimal | Class::Text | Class::Date | Class::Blob
        )
    }
    pub fn is_numeric(self) -> bool {
        matches!(self, Class::Int | Class::Decimal | Class::Float)
    }
}

/// The class of a column from its declared type, on any of the three engines.
pub fn classify(decl: &str) -> Class {
    let d = decl.trim().to_ascii_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    if d.starts_with("tinyint(1)") || base == "boolean" || base == "bool" {
        return if base == "tinyint" {
            Class::Int
        } else {
            Class::Bool
        };
    }
    if base.contains("interval") {
        return Class::Text;
    }
    if base.contains("int") || base == "serial" || base == "bigserial" || base == "year" {
        return Class::Int;
    }
    if ["numeric", "decimal", "dec", "fixed", "money"].contains(&base) {
        return Class::Decimal;
    }
    if base.contains("real") || base.contains("float") || base.contains("double") {
        return Class::Float;
    }
    if base.contains("blob")
        || base == "bytea"
        || base == "binary"
        || base == "varbinary"
        || base == "bit varying"
    {
        return Class::Blob;
    }
    if base.starts_with("timestamp") || base == "datetime" {
        return Class::Timestamp;
    }
    if base == "date" {
        return Class::Date;
    }
    if base == "json" || base == "jsonb" {
        return Class::Json;
    }
    Class::Text
}

/// The declared scale of a decimal column, when the type says it.
pub fn decimal_scale(decl: &str) -> Option<u32> {
    let (_, rest) = decl.split_once('(')?;
    let inside = rest.split(')').next()?;
    let mut parts = inside.split(',');
    parts.next()?;
    parts.next().map_or(Some(0), |s| s.trim().parse().ok())
}

pub use ripcord_core::exact::canon_decimal;

/// Microseconds since the epoch (UTC) of an ISO timestamp, with or without an offset;
/// text without an offset is taken as UTC.
pub fn canon_timestamp(s: &str) -> Option<String> {
    let t = s.trim().replace('T', " ");
    let t = t.strip_suffix('Z').map(|x| format!("{x}+00")).unwrap_or(t);
    let dt = chrono::DateTime::parse_from_str(&format!("{t}00"), "%Y-%m-%d %H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f%z"))
        .map(|d| d.naive_utc())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        })
        .ok()?;
    Some(dt.and_utc().timestamp_micros().to_string())
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

/// The canonical text of a value held in Rust (checkpoint rows, SQLite values).
pub fn canon_value(class: Class, v: &Value) -> Option<String> {
    let plain = |v: &Value| -> String {
        match v {
            Value::Null => unreachable!("handled first"),
            Value::Bool(b) => (*b as u8).to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f:?}"),
            Value::Decimal(d) | Value::Text(d) => d.clone(),
            Value::Blob(b) => match std::str::from_utf8(b) {
                Ok(s) => s.to_string(),
                Err(_) => hex(b),
            },
        }
    };
    if v.is_null() {
        return None;
    }
    Some(match (class, v) {
        (Class::Int | Class::Bool, Value::Bool(b)) => (*b as u8).to_string(),
        (Class::Bool, Value::Text(t)) if matches!(t.as_str(), "t" | "true" | "TRUE") => "1".into(),
        (Class::Bool, Value::Text(t)) if matches!(t.as_str(), "f" | "false" | "FALSE") => {
            "0".into()
        }
        (Class::Int | Class::Bool | Class::Decimal, Value::Float(f))
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 =>
        {
            (*f as i64).to_string()
        }
        (Class::Int | Class::Bool | Class::Decimal, Value::Float(f)) => {
            canon_decimal(&format!("{f}")).unwrap_or_else(|| format!("{f:?}"))
        }
        (Class::Int | Class::Bool | Class::Decimal, Value::Decimal(d) | Value::Text(d)) => {
            canon_decimal(d).unwrap_or_else(|| d.clone())
        }
        (Class::Blob, Value::Blob(b)) => hex(b),
        (Class::Blob, Value::Text(t)) => hex(t.as_bytes()),
        (Class::Timestamp, Value::Text(t)) => canon_timestamp(t).unwrap_or_else(|| t.clone()),
        (_, other) => plain(other),
    })
}

/// Appends one field of the encoding.
pub fn push_field(out: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => out.extend_from_slice(NULL_MARK.as_bytes()),
        Some(t) => {
            out.extend_from_slice(t.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(t.as_bytes());
        }
    }
}

/// The encoding of a row of canonical fields.
pub fn encode<S: AsRef<str>>(fields: &[Option<S>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(VERSION.as_bytes());
    for f in fields {
        push_field(&mut out, f.as_ref().map(|s| s.as_ref()));
    }
    out
}

/// First 8 bytes of the MD5 of an encoded row, big-endian (what the SQL side computes as
/// `left(md5(…), 16)` read as hex).
pub fn hash_encoded(enc: &[u8]) -> u64 {
    let d = Md5::digest(enc);
    u64::from_be_bytes(d[..8].try_into().expect("md5 has 16 bytes"))
}

pub fn row_hash<S: AsRef<str>>(fields: &[Option<S>]) -> u64 {
    hash_encoded(&encode(fields))
}

/// Count and sum of row hashes modulo 2^64 for a set of rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub count: u64,
    pub sum: u64,
}

impl Checksum {
    pub fn add(&mut self, hash: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(hash);
    }

    /// From an engine's count and its (possibly signed, possibly wider) sum in decimal.
    pub fn from_sql(count: u64, sum: Option<&str>) -> Result<Checksum, String> {
        let sum = match sum.map(str::trim) {
            None | Some("") => 0,
            Some(s) => {
                let wide: i128 = s
                    .parse()
                    .map_err(|_| format!("checksum {s:?} is not an integer"))?;
                wide.rem_euclid(1i128 << 64) as u64
            }
        };
        Ok(Checksum { count, sum })
    }
}

/// Orders canonical key texts the way the engines order the values in binary order.
pub fn cmp_key_part(class: Class, a: &str, b: &str) -> Ordering {
    match class {
        Class::Int | Class::Bool | Class::Timestamp => match (a.parse::<i128>(), b.parse::<i128>())
        {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
        Class::Decimal => cmp_decimal(a, b),
        _ => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// Compares two canonical decimals exactly (no float rounding).
pub fn cmp_decimal(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> (bool, String, String) {
        let (neg, body) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (i, f) = body.split_once('.').unwrap_or((body, ""));
        (neg, i.trim_start_matches('0').to_string(), f.to_string())
    };
    let (na, ia, fa) = split(a);
    let (nb, ib, fb) = split(b);
    let mag = ia
        .len()
        .cmp(&ib.len())
        .then_with(|| ia.cmp(&ib))
        .then_with(|| {
            let w = fa.len().max(fb.len());
            format!("{fa:0<w$}").cmp(&format!("{fb:0<w$}"))
        });
    let zero = |i: &str, f: &str| i.is_empty() && f.bytes().all(|c| c == b'0');
    match (na && !zero(&ia, &fa), nb && !zero(&ib, &fb)) {
        (false, false) => mag,
        (true, true) => mag.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

pub fn cmp_key(classes: &[Class], a: &[String], b: &[String]) -> Ordering {
    for ((c, x), y) in classes.iter().zip(a).zip(b) {
        let o = cmp_key_part(*c, x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Checks a canonical numeric key text before it is written into SQL as a literal.
pub fn is_plain_number(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s);
    !b.is_empty()
        && b.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && b.bytes().filter(|&c| c == b'.').count() <= 1
        && !b.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reladiff_collisions_cannot_happen() {
        assert_ne!(
            encode(&[None::<&str>]),
            encode(&[Some("<null>")]),
            "NULL vs the text <null>"
        );
        assert_ne!(encode(&[None::<&str>]), encode(&[Some("")]));
        assert_ne!(
            encode(&[Some("p|q"), Some("r")]),
            encode(&[Some("p"), Some("q|r")])
        );
        assert_ne!(encode(&[Some("1:a")]), encode(&[Some("1"), Some("a")]));
        assert_ne!(encode(&[Some("~")]), encode(&[None::<&str>]));
    }

    #[test]
    fn decimals_timestamps_and_keys_canonicalise() {
        assert_eq!(canon_decimal("12.500").unwrap(), "12.5");
        assert_eq!(canon_decimal("-0.000").unwrap(), "0");
        assert_eq!(canon_decimal("007.10").unwrap(), "7.1");
        assert_eq!(canon_decimal("3.").unwrap(), "3");
        assert!(canon_decimal("1e5").is_none());
        assert_eq!(
            canon_timestamp("2026-03-01 12:00:00.5+04").unwrap(),
            canon_timestamp("2026-03-01T08:00:00.500000Z").unwrap()
        );
        assert_eq!(canon_timestamp("1970-01-01 00:00:01").unwrap(), "1000000");
        assert_eq!(cmp_key_part(Class::Int, "9", "10"), Ordering::Less);
        assert_eq!(cmp_decimal("-1.5", "-1.25"), Ordering::Less);
        assert_eq!(cmp_decimal("2", "10.5"), Ordering::Less);
        assert_eq!(cmp_decimal("0", "-0.0"), Ordering::Equal);
        assert_eq!(classify("numeric(12,3)"), Class::Decimal);
        assert_eq!(classify("tinyint(1)"), Class::Int);
        assert_eq!(classify("timestamp with time zone"), Class::Timestamp);
        assert_eq!(classify("datetime(6)"), Class::Timestamp);
        assert_eq!(classify("boolean"), Class::Bool);
        assert_eq!(decimal_scale("decimal(12,3)"), Some(3));
        assert_eq!(decimal_scale("numeric"), None);
    }

    #[test]
    fn sql_sums_reduce_modulo_two_to_the_64() {
        // PostgreSQL sums signed 64-bit slices, MariaDB unsigned ones: both land here.
        let h: u64 = 0xF000_0000_0000_0001;
        let signed = h as i64 as i128;
        let a = Checksum::from_sql(2, Some(&(signed * 2).to_string())).unwrap();
        let b = Checksum::from_sql(2, Some(&((h as i128) * 2).to_string())).unwrap();
        assert_eq!(a, b);
        let mut c = Checksum::default();
        c.add(h);
        c.add(h);
        assert_eq!(a, c);
    }
}
