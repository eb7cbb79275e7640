//! SQL text helpers: identifiers, literals, column classes, and the journal value encoding.
//!
//! Every value ripcord writes is sent as an SQL literal over the text protocol (the session
//! runs without `NO_BACKSLASH_ESCAPES`, so backslash escaping is exact). Every value it reads
//! comes back as the server prints it and is converted by the column's class, the same class
//! the capture triggers use, so snapshot rows and journal images agree.

use ripcord_core::journal::RowImage;
use ripcord_core::value::Value;

pub fn q(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A quoted string literal, escaped like `mysql_real_escape_string`.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_lit(&mut out, s);
    out
}

fn push_lit(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn is_plain_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty())
}

/// Appends `v` as an SQL literal. Floats use exponent notation so the server reads them
/// as DOUBLE (a plain `0.1` would be an exact DECIMAL literal); Rust prints the shortest
/// digits that round-trip.
pub fn push_value(out: &mut String, v: &Value) -> Result<(), String> {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push_str(if *b { "1" } else { "0" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(format!("MariaDB cannot store the float {f}"));
            }
            let _ = write!(out, "{f:e}");
        }
        Value::Decimal(d) if is_plain_number(d) => out.push_str(d),
        Value::Decimal(d) | Value::Text(d) => push_lit(out, d),
        Value::Blob(b) => {
            out.push_str("X'");
            for byte in b {
                let _ = write!(out, "{byte:02X}");
            }
            out.push('\'');
        }
    }
    Ok(())
}

pub fn value_lit(v: &Value) -> Result<String, String> {
    let mut s = String::new();
    push_value(&mut s, v)?;
    Ok(s)
}

/// How a column's values travel. Derived from the declared type, so a snapshot read and a
/// capture trigger built from the same schema produce the same `Value` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Int,
    /// FLOAT: the server prints it with 6 digits, so it is read widened to DOUBLE.
    Float32,
    Double,
    Decimal,
    Blob,
    /// TIMESTAMP(n): printed in the session time zone; triggers convert to UTC themselves.
    Timestamp(u8),
    Text,
}

pub fn classify(decl_type: &str) -> Class {
    let t = decl_type.trim().to_ascii_lowercase();
    let base: String = t.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let precision = || {
        t.split_once('(')
            .and_then(|(_, r)| r.split(')').next())
            .and_then(|n| n.trim().parse::<u8>().ok())
            .unwrap_or(0)
    };
    match base.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "bool"
        | "boolean" | "serial" => Class::Int,
        "float" => Class::Float32,
        "double" | "real" => Class::Double,
        "decimal" | "numeric" | "dec" | "fixed" => Class::Decimal,
        "tinyblob" | "blob" | "mediumblob" | "longblob" | "binary" | "varbinary" | "bit" => {
            Class::Blob
        }
        "timestamp" => Class::Timestamp(precision()),
        _ => Class::Text,
    }
}

/// The select-list expression that reads a column for a snapshot.
pub fn read_expr(col: &str, class: Class) -> String {
    match class {
        Class::Float32 => format!("CAST({} AS DOUBLE)", q(col)),
        _ => q(col),
    }
}

/// Converts one text-protocol field of a column of `class`.
/// [`from_text`] for bytes the caller owns: text, decimals and blobs keep the allocation.
pub fn from_owned_text(class: Class, v: Option<Vec<u8>>) -> Result<Value, String> {
    let Some(b) = v else { return Ok(Value::Null) };
    match class {
        Class::Blob => Ok(Value::Blob(b)),
        Class::Decimal => String::from_utf8(b)
            .map(Value::Decimal)
            .map_err(|_| "server sent invalid UTF-8".to_string()),
        Class::Timestamp(_) | Class::Text => Ok(match String::from_utf8(b) {
            Ok(s) => Value::Text(s),
            Err(e) => Value::Blob(e.into_bytes()),
        }),
        _ => from_text(class, Some(&b)),
    }
}

pub fn from_text(class: Class, v: Option<&[u8]>) -> Result<Value, String> {
    let Some(b) = v else { return Ok(Value::Null) };
    let text = || std::str::from_utf8(b).map_err(|_| "server sent invalid UTF-8".to_string());
    Ok(match class {
        Class::Int => int_value(text()?)?,
        Class::Float32 | Class::Double => {
            let s = text()?;
            Value::Float(s.parse().map_err(|_| format!("bad float {s:?}"))?)
        }
        Class::Decimal => Value::Decimal(text()?.to_string()),
        Class::Blob => Value::Blob(b.to_vec()),
        Class::Timestamp(_) | Class::Text => match std::str::from_utf8(b) {
            Ok(s) => Value::Text(s.to_string()),
            Err(_) => Value::Blob(b.to_vec()),
        },
    })
}

/// Integers beyond i64 (BIGINT UNSIGNED) become exact decimal text.
fn int_value(s: &str) -> Result<Value, String> {
    match s.parse::<i64>() {
        Ok(i) => Ok(Value::Int(i)),
        Err(_) if s.parse::<u64>().is_ok() => Ok(Value::Decimal(s.to_string())),
        Err(_) => Err(format!("bad integer {s:?}")),
    }
}

/// Converts a field of an ad-hoc query (expressions, scalars) by its result metadata.
pub fn from_column(col: &mysql::Column, v: &mysql::Value) -> Value {
    use mysql::consts::ColumnType::*;
    let b = match v {
        mysql::Value::NULL => return Value::Null,
        mysql::Value::Bytes(b) => b.as_slice(),
        mysql::Value::Int(i) => return Value::Int(*i),
        mysql::Value::UInt(u) => {
            return i64::try_from(*u)
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Decimal(u.to_string()));
        }
        mysql::Value::Float(f) => return Value::Float(*f as f64),
        mysql::Value::Double(f) => return Value::Float(*f),
        other => return Value::Text(other.as_sql(true).trim_matches('\'').to_string()),
    };
    let class = match col.column_type() {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_INT24 => Class::Int,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Class::Double,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Class::Decimal,
        MYSQL_TYPE_BIT => Class::Blob,
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
            if col.character_set() == 63 =>
        {
            Class::Blob
        }
        _ => Class::Text,
    };
    from_text(class, Some(b)).unwrap_or_else(|_| Value::Blob(b.to_vec()))
}

/// The expression a capture trigger stores for one column of `NEW`/`OLD`: a JSON string
/// with a type prefix (`i:` integer, `f:` double, `d:` decimal, `b:` base64 bytes, `t:` text
/// as the server prints it, timestamps in UTC), or JSON null.
pub fn capture_expr(which: &str, col: &str, class: Class) -> String {
    let c = format!("{which}.{}", q(col));
    match class {
        Class::Int => format!("CONCAT('i:', {c})"),
        Class::Float32 => format!("CONCAT('f:', CAST(CAST({c} AS DOUBLE) AS CHAR))"),
        Class::Double => format!("CONCAT('f:', CAST({c} AS CHAR))"),
        Class::Decimal => format!("CONCAT('d:', CAST({c} AS CHAR))"),
        Class::Blob => format!("CONCAT('b:', TO_BASE64({c}))"),
        // UNIX_TIMESTAMP reads the stored instant without the writer's time zone; adding it
        // to the epoch as DATETIME arithmetic prints it in UTC whatever that session uses.
        Class::Timestamp(n) => format!(
            "CONCAT('t:', CAST(CAST(TIMESTAMP'1970-01-01 00:00:00' + INTERVAL CAST(UNIX_TIMESTAMP({c}) * 1000000 AS SIGNED) MICROSECOND AS DATETIME({n})) AS CHAR))"
        ),
        Class::Text => format!("CONCAT('t:', {c})"),
    }
}

pub fn decode_image(json: Option<&str>) -> Result<Option<RowImage>, String> {
    let Some(json) = json else { return Ok(None) };
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("journal row is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("journal row is not a JSON object")?;
    let mut out = RowImage::new();
    for (k, v) in obj {
        let val = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::String(s) => {
                let (tag, rest) = s
                    .split_at_checked(2)
                    .ok_or_else(|| format!("column {k}: journal value {s:?} has no type prefix"))?;
                match tag {
                    "i:" => int_value(rest).map_err(|e| format!("column {k}: {e}"))?,
                    "f:" => Value::Float(
                        rest.parse()
                            .map_err(|_| format!("column {k}: bad float {rest:?}"))?,
                    ),
                    "d:" => Value::Decimal(rest.to_string()),
                    "b:" => Value::Blob(
                        base64_decode(rest).ok_or_else(|| format!("column {k}: bad base64"))?,
                    ),
                    "t:" => Value::Text(rest.to_string()),
                    _ => return Err(format!("column {k}: unknown journal prefix {tag:?}")),
                }
            }
            other => return Err(format!("column {k}: unexpected journal value {other}")),
        };
        out.insert(k.clone(), val);
    }
    Ok(Some(out))
}

/// Decodes `TO_BASE64` output (which wraps lines every 76 characters).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for chunk in clean.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// `SHOW CREATE TABLE` output split into the table without its foreign keys (InnoDB
/// foreign-key names are unique per database, so the copy cannot carry them while the
/// original exists) and the foreign-key clauses, re-added after the swap.
pub fn split_foreign_keys(create_sql: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = create_sql.lines().collect();
    if lines.len() < 3 {
        return (create_sql.to_string(), Vec::new());
    }
    let (head, body, foot) = (lines[0], &lines[1..lines.len() - 1], lines[lines.len() - 1]);
    let mut keep = Vec::new();
    let mut fks = Vec::new();
    for l in body {
        let def = l.trim().trim_end_matches(',');
        if def.starts_with("CONSTRAINT ") && def.contains(" FOREIGN KEY ") {
            fks.push(def.to_string());
        } else {
            keep.push(format!("  {def}"));
        }
    }
    (format!("{head}\n{}\n{foot}", keep.join(",\n")), fks)
}

/// Removes the ` AUTO_INCREMENT=N` table option (the counter is restored separately).
pub fn strip_auto_increment(create_sql: &str) -> String {
    const OPT: &str = " AUTO_INCREMENT=";
    let tail_start = create_sql.rfind(')').unwrap_or(0);
    match create_sql[tail_start..].find(OPT) {
        Some(i) => {
            let at = tail_start + i;
            let digits = create_sql[at + OPT.len()..]
                .bytes()
                .take_while(|b| b.is_ascii_digit())
                .count();
            format!(
                "{}{}",
                &create_sql[..at],
                &create_sql[at + OPT.len() + digits..]
            )
        }
        None => create_sql.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_and_floats_are_doubles() {
        assert_eq!(lit("a'b\\c\0"), "'a\\'b\\\\c\\0'");
        assert_eq!(value_lit(&Value::Float(0.1)).unwrap(), "1e-1");
        assert_eq!(
            value_lit(&Value::Decimal("18446744073709551615".into())).unwrap(),
            "18446744073709551615"
        );
        assert_eq!(
            value_lit(&Value::Decimal("1; DROP".into())).unwrap(),
            "'1; DROP'"
        );
        assert_eq!(value_lit(&Value::Blob(vec![0, 255])).unwrap(), "X'00FF'");
    }

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_decode("AAEC/w==").unwrap(), vec![0, 1, 2, 255]);
        assert_eq!(base64_decode("").unwrap(), Vec::<u8>::new());
        assert_eq!(base64_decode("YWJj\nZA==").unwrap(), b"abcd");
    }

    #[test]
    fn auto_increment_option_is_stripped() {
        let s = "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            strip_auto_increment(s),
            "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
    }

    #[test]
    fn classes() {
        assert_eq!(classify("bigint(20) unsigned"), Class::Int);
        assert_eq!(classify("tinyint(1)"), Class::Int);
        assert_eq!(classify("decimal(12,3)"), Class::Decimal);
        assert_eq!(classify("timestamp(6)"), Class::Timestamp(6));
        assert_eq!(classify("varbinary(16)"), Class::Blob);
        assert_eq!(classify("enum('a','b')"), Class::Text);
    }
}
