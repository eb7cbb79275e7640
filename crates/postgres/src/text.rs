//! Values to and from PostgreSQL's text forms (type output with the session pinned to UTC,
//! ISO dates, `postgres` intervals, shortest exact floats, hex bytea) and the COPY text
//! format around them.

use ripcord_core::replay::ExpectedRow;
use ripcord_core::value::{Value, ValueRef};

/// How a column's values travel as [`Value`]s; everything not listed is `Text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Numeric,
    Bool,
    Bytea,
    Text,
}

impl Kind {
    /// From a (base) type OID.
    pub fn of_oid(oid: u32) -> Kind {
        match oid {
            20 | 21 | 23 => Kind::Int,
            700 | 701 => Kind::Float,
            1700 => Kind::Numeric,
            16 => Kind::Bool,
            17 => Kind::Bytea,
            _ => Kind::Text,
        }
    }

    /// The SQL type a [`Value`] of this kind is cast to when its column type is unknown.
    pub fn sql_type(v: &Value) -> &'static str {
        match v {
            Value::Int(_) => "bigint",
            Value::Float(_) => "double precision",
            Value::Decimal(_) => "numeric",
            Value::Bool(_) => "boolean",
            Value::Blob(_) => "bytea",
            Value::Null | Value::Text(_) => "text",
        }
    }
}

/// SQL giving `expr`'s text output. `::text` is not always the output function: casts from
/// `char(n)` drop trailing blanks and casts from `inet`/`cidr` add the mask length.
pub fn text_expr(expr: &str, base_oid: u32) -> String {
    match base_oid {
        1042 | 869 | 650 => {
            format!("CASE WHEN {expr} IS NULL THEN NULL ELSE format('%s', {expr}) END")
        }
        _ => format!("({expr})::text"),
    }
}

/// A value from its PostgreSQL text output.
/// [`from_text`] for a field the caller owns: text and numerics keep its allocation.
pub fn from_owned_text(kind: Kind, s: String) -> Result<Value, String> {
    match kind {
        Kind::Text => Ok(Value::Text(s)),
        Kind::Numeric => Ok(Value::Decimal(s)),
        _ => from_text(kind, &s),
    }
}

pub fn from_text(kind: Kind, s: &str) -> Result<Value, String> {
    Ok(match kind {
        Kind::Int => Value::Int(s.parse().map_err(|_| format!("bad integer {s:?}"))?),
        Kind::Float => Value::Float(parse_float(s).ok_or_else(|| format!("bad float {s:?}"))?),
        Kind::Numeric => Value::Decimal(s.to_string()),
        Kind::Bool => match s {
            "t" | "true" => Value::Bool(true),
            "f" | "false" => Value::Bool(false),
            _ => return Err(format!("bad boolean {s:?}")),
        },
        Kind::Bytea => Value::Blob(
            s.strip_prefix("\\x")
                .and_then(unhex)
                .ok_or_else(|| format!("bytea {s:?} is not in hex form"))?,
        ),
        Kind::Text => Value::Text(s.to_string()),
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// The text PostgreSQL's input function reads back as exactly this value (`None` = NULL).
pub fn to_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_text(*f),
        Value::Decimal(d) => d.clone(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for byte in b {
                s.push(HEX[(byte >> 4) as usize] as char);
                s.push(HEX[(byte & 15) as usize] as char);
            }
            s
        }
    })
}

fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f == f64::INFINITY {
        "Infinity".into()
    } else if f == f64::NEG_INFINITY {
        "-Infinity".into()
    } else {
        // `{:?}` is the shortest text that reads back as the same f64.
        format!("{f:?}")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let d = |c: u8| (c as char).to_digit(16).map(|x| x as u8);
    b.chunks(2)
        .map(|p| Some(d(p[0])? << 4 | d(p[1])?))
        .collect()
}

/// Appends one field in COPY text format.
/// Writes `rows` to a `COPY … FROM STDIN` in its text format: the values at `load` of each
/// row (which must have `columns` values), in blocks of 64 KiB. Returns how many rows;
/// `io` words a failed write, `t` names the table in a bad row's error.
pub fn copy_rows(
    w: &mut impl std::io::Write,
    rows: &mut dyn Iterator<Item = ripcord_core::Result<ripcord_core::value::Row>>,
    load: &[usize],
    columns: usize,
    t: &str,
    io: impl Fn(std::io::Error) -> ripcord_core::engine::EngineError,
) -> ripcord_core::Result<u64> {
    let mut buf = Vec::with_capacity(1 << 17);
    let mut n = 0u64;
    for row in rows {
        let row = row?;
        if row.len() != columns {
            return Err(ripcord_core::engine::EngineError::sql(
                format!("load {t}"),
                format!("row has {} values for {columns} columns", row.len()),
            )
            .into());
        }
        for (j, &i) in load.iter().enumerate() {
            if j > 0 {
                buf.push(b'\t');
            }
            copy_field(&mut buf, &row[i]);
        }
        buf.push(b'\n');
        n += 1;
        if buf.len() >= 1 << 16 {
            w.write_all(&buf).map_err(&io)?;
            buf.clear();
        }
    }
    w.write_all(&buf).map_err(&io)?;
    Ok(n)
}

pub fn copy_field(out: &mut Vec<u8>, v: &Value) {
    match to_text(v) {
        None => out.extend_from_slice(b"\\N"),
        Some(s) => {
            for &c in s.as_bytes() {
                match c {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    c => out.push(c),
                }
            }
        }
    }
}

/// Splits one COPY text line (without its newline) into unescaped fields; `None` = NULL.
pub fn copy_line(line: &[u8]) -> Result<Vec<Option<String>>, String> {
    let mut fields = Vec::new();
    for raw in line.split(|&c| c == b'\t') {
        if raw == b"\\N" {
            fields.push(None);
            continue;
        }
        if !raw.contains(&b'\\') {
            fields.push(Some(
                String::from_utf8(raw.to_vec())
                    .map_err(|_| "COPY field is not UTF-8".to_string())?,
            ));
            continue;
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let c = raw[i];
            i += 1;
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = raw.get(i) else {
                return Err("COPY line ends with a backslash".into());
            };
            i += 1;
            match e {
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut n = (e - b'0') as u32;
                    for _ in 0..2 {
                        match raw.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                n = n * 8 + (d - b'0') as u32;
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(n as u8);
                }
                b'x' => {
                    let mut n = 0u32;
                    let mut digits = 0;
                    while digits < 2 {
                        match raw.get(i).and_then(|&d| (d as char).to_digit(16)) {
                            Some(d) => {
                                n = n * 16 + d;
                                i += 1;
                                digits += 1;
                            }
                            None => break,
                        }
                    }
                    if digits == 0 {
                        out.push(b'x');
                    } else {
                        out.push(n as u8);
                    }
                }
                other => out.push(other),
            }
        }
        fields.push(Some(
            String::from_utf8(out).map_err(|_| "COPY field is not UTF-8".to_string())?,
        ));
    }
    Ok(fields)
}

/// A COPY text line as [`ripcord_core::engine::RawRow`]: compares values with the
/// fields without unescaping or allocating.
pub struct CopyLine<'a> {
    pub line: &'a [u8],
    pub kinds: &'a [Kind],
}

/// True only when `field` reads back (as `kind`) as exactly `v`. The caller passes a field
/// holding a backslash only for NULL and bytea (see `CopyLine::is`): text and numerics
/// with an escape are left to the full reader.
fn field_is(kind: Kind, field: &[u8], v: ValueRef<'_>) -> bool {
    match (kind, v) {
        (_, ValueRef::Null) => field == b"\\N",
        (Kind::Int, ValueRef::Int(i)) => {
            let mut buf = [0u8; 20];
            let mut n = i.unsigned_abs();
            let mut at = buf.len();
            loop {
                at -= 1;
                buf[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            match field.strip_prefix(b"-") {
                Some(digits) => i < 0 && digits == &buf[at..],
                None => i >= 0 && field == &buf[at..],
            }
        }
        (Kind::Numeric, ValueRef::Decimal(t)) | (Kind::Text, ValueRef::Text(t)) => field == t,
        (Kind::Float, ValueRef::Float(f)) => std::str::from_utf8(field)
            .ok()
            .and_then(parse_float)
            .is_some_and(|g| g.to_bits() == f.to_bits()),
        (Kind::Bool, ValueRef::Bool(b)) => match field {
            b"t" | b"true" => b,
            b"f" | b"false" => !b,
            _ => false,
        },
        (Kind::Bytea, ValueRef::Blob(b)) => field.strip_prefix(b"\\\\x").is_some_and(|hex| {
            hex.len() == 2 * b.len()
                && hex
                    .chunks(2)
                    .zip(b)
                    .all(|(h, &x)| h[0] == HEX[(x >> 4) as usize] && h[1] == HEX[(x & 15) as usize])
        }),
        _ => false,
    }
}

impl ripcord_core::engine::RawRow for CopyLine<'_> {
    // The proof calls this for every live row: fields are found with memchr and compared
    // in place, with no iterator chain between the line and the values. The line may be
    // a whole COPY message taken as it arrived (see the engine's `snapshot`).
    fn is(&self, row: &ExpectedRow, order: &[usize]) -> bool {
        if order.len() != self.kinds.len() {
            return false;
        }
        let line = self.line;
        let mut pos = 0;
        let last = self.kinds.len().saturating_sub(1);
        for (n, (&kind, &i)) in self.kinds.iter().zip(order).enumerate() {
            let Some(v) = row.get(i) else {
                return false;
            };
            let rest = &line[pos..];
            // One scan finds the field's end and any backslash in it.
            let (end, escaped) = match memchr::memchr3(b'\t', b'\n', b'\\', rest) {
                Some(k) if rest[k] == b'\\' => (
                    memchr::memchr2(b'\t', b'\n', &rest[k..]).map(|j| k + j),
                    true,
                ),
                other => (other, false),
            };
            // A raw newline is never inside a field (COPY escapes it): the line is more
            // than one row, and only the full reader splits it.
            let end = match end {
                Some(k) if n < last && rest[k] == b'\t' => k,
                None if n == last => rest.len(),
                _ => return false, // a field too many or too few, or a second row
            };
            // A field with an escape is left to the full reader, but for NULL's `\N` and
            // bytea's `\\x` prefix, which `field_is` checks whole.
            if escaped && !matches!((kind, v), (Kind::Bytea, _) | (_, ValueRef::Null)) {
                return false;
            }
            if !field_is(kind, &rest[..end], v) {
                return false;
            }
            pos += end + 1;
        }
        !self.kinds.is_empty() || line.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_core::value::EncodedRow;

    /// `CopyLine::is` may only say yes when reading the line gives exactly the values.
    /// `is` over plain values, every one known, in column order; the same values kept
    /// encoded (a checkpoint's row) must get the same answer.
    fn is_values(raw: &CopyLine, vals: &[Value]) -> bool {
        use ripcord_core::engine::RawRow;
        let row: Vec<Option<Value>> = vals.iter().cloned().map(Some).collect();
        let order: Vec<usize> = (0..row.len()).collect();
        let by_values = raw.is(&ExpectedRow::Values(row), &order);
        let stored = ExpectedRow::Stored(EncodedRow::from_values(vals));
        assert_eq!(raw.is(&stored, &order), by_values, "{vals:?}");
        by_values
    }

    #[test]
    fn a_copy_line_is_its_values_only_when_it_reads_back_as_them() {
        let kinds = [
            Kind::Int,
            Kind::Numeric,
            Kind::Text,
            Kind::Float,
            Kind::Bool,
            Kind::Bytea,
            Kind::Text,
        ];
        let vals = vec![
            Value::Int(-9223372036854775808),
            Value::Decimal("12.500".into()),
            Value::Text("2024-01-01 00:00:00+00".into()),
            Value::Float(0.1),
            Value::Bool(true),
            Value::Blob(vec![0, 255, 16]),
            Value::Null,
        ];
        let mut line = Vec::new();
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            copy_field(&mut line, v);
        }
        let raw = CopyLine {
            line: &line,
            kinds: &kinds,
        };
        assert!(is_values(&raw, &vals));
        // Every single change, a missing or extra value, or another variant: no.
        let changed = [
            (0, Value::Int(9223372036854775807)),
            (0, Value::Text("-9223372036854775808".into())),
            (1, Value::Decimal("12.5".into())),
            (2, Value::Text("2024-01-01 00:00:00+01".into())),
            (3, Value::Float(0.10000000000000002)),
            (4, Value::Bool(false)),
            (5, Value::Blob(vec![0, 255, 17])),
            (5, Value::Blob(vec![0, 255])),
            (6, Value::Text("\\N".into())),
            (6, Value::Text(String::new())),
        ];
        for (i, v) in changed {
            let mut w = vals.clone();
            w[i] = v;
            assert!(!is_values(&raw, &w), "{w:?}");
        }
        assert!(!is_values(&raw, &vals[..6]));
        // A value the caller does not know, or a position past the row: no.
        {
            use ripcord_core::engine::RawRow;
            let mut row: Vec<Option<Value>> = vals.iter().cloned().map(Some).collect();
            let order: Vec<usize> = (0..row.len()).collect();
            let mut past = order.clone();
            past[6] = 7;
            assert!(!raw.is(&ExpectedRow::Values(row.clone()), &past));
            let stored = ExpectedRow::Stored(EncodedRow::from_values(&vals));
            assert!(!raw.is(&stored, &past));
            row[3] = None;
            assert!(!raw.is(&ExpectedRow::Values(row), &order));
        }
        let mut more = vals.clone();
        more.push(Value::Null);
        assert!(!is_values(&raw, &more));
        // A field with an escape is left to the full reader.
        let tab = Value::Text("a\tb".into());
        let mut line = Vec::new();
        copy_field(&mut line, &tab);
        let raw = CopyLine {
            line: &line,
            kinds: &[Kind::Text],
        };
        assert!(!is_values(&raw, &[tab]));
        assert_eq!(copy_line(&line).unwrap(), vec![Some("a\tb".to_string())]);
    }

    /// `snapshot` offers a whole COPY message as one line; one holding two rows (a raw
    /// newline between them) must never pass for a single row.
    #[test]
    fn a_copy_message_of_two_rows_is_not_one_row() {
        let two = Value::Text("a\nb".into());
        let raw = CopyLine {
            line: b"a\nb",
            kinds: &[Kind::Text],
        };
        assert!(!is_values(&raw, &[two]));
        let raw = CopyLine {
            line: b"1\tx\n2\tx",
            kinds: &[Kind::Int, Kind::Text],
        };
        assert!(!is_values(
            &raw,
            &[Value::Int(1), Value::Text("x\n2\tx".into())]
        ));
        assert!(!is_values(&raw, &[Value::Int(1), Value::Text("x".into())]));
    }

    #[test]
    fn copy_escapes_round_trip() {
        let vals = [
            Value::Text("a\tb\nc\\d\re".into()),
            Value::Null,
            Value::Text("\\N".into()),
            Value::Blob(vec![0, 255, 16]),
            Value::Float(0.1),
            Value::Float(f64::NEG_INFINITY),
        ];
        let mut line = Vec::new();
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            copy_field(&mut line, v);
        }
        let fields = copy_line(&line).unwrap();
        let kinds = [
            Kind::Text,
            Kind::Text,
            Kind::Text,
            Kind::Bytea,
            Kind::Float,
            Kind::Float,
        ];
        for ((v, f), k) in vals.iter().zip(fields).zip(kinds) {
            let back = match f {
                None => Value::Null,
                Some(s) => from_text(k, &s).unwrap(),
            };
            assert_eq!(&back, v);
        }
    }

    /// One column: its kind and a value of it (sometimes of another variant, which the
    /// comparison must refuse), covering every class a checkpoint holds.
    fn column() -> impl proptest::strategy::Strategy<Value = (Kind, Value)> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(|i| (Kind::Int, Value::Int(i))),
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0),
                Just(0.1)
            ]
            .prop_map(|f| (Kind::Float, Value::Float(f))),
            "-?[0-9]{1,5}(\\.[0-9]{0,4})?".prop_map(|d| (Kind::Numeric, Value::Decimal(d))),
            any::<bool>().prop_map(|b| (Kind::Bool, Value::Bool(b))),
            proptest::collection::vec(any::<u8>(), 0..6)
                .prop_map(|b| (Kind::Bytea, Value::Blob(b))),
            "[a-z\\\\\t\n\r N\u{0645}\u{062d}0-9.-]{0,12}"
                .prop_map(|t| (Kind::Text, Value::Text(t))),
            any::<i64>().prop_map(|i| (Kind::Text, Value::Text(i.to_string()))),
            any::<i64>().prop_map(|i| (Kind::Text, Value::Int(i))),
            Just((Kind::Numeric, Value::Int(12))),
            Just((Kind::Int, Value::Null)),
            Just((Kind::Text, Value::Null)),
        ]
    }

    proptest::proptest! {
        /// The fast path (a checkpoint row still encoded against the COPY line) and the
        /// value path agree on every row, and either says yes only when reading the line
        /// gives exactly the expected values.
        #[test]
        fn encoded_rows_and_values_get_the_same_answer_from_a_copy_line(
            cols in proptest::collection::vec(column(), 1..6),
            live in proptest::collection::vec(column(), 6),
            change in proptest::collection::vec(proptest::bool::weighted(0.2), 6),
        ) {
            let kinds: Vec<Kind> = cols.iter().map(|(k, _)| *k).collect();
            let vals: Vec<Value> = cols.iter().map(|(_, v)| v.clone()).collect();
            // The live row: the expected values, some replaced by another column's value.
            let mut shown = vals.clone();
            for (i, v) in shown.iter_mut().enumerate() {
                if change[i] {
                    *v = live[i].1.clone();
                }
            }
            let mut line = Vec::new();
            for (i, v) in shown.iter().enumerate() {
                if i > 0 {
                    line.push(b'\t');
                }
                copy_field(&mut line, v);
            }
            let raw = CopyLine { line: &line, kinds: &kinds };
            if is_values(&raw, &vals) {
                let read: Vec<Value> = copy_line(&line)
                    .unwrap()
                    .into_iter()
                    .zip(&kinds)
                    .map(|(f, k)| f.map_or(Ok(Value::Null), |f| from_owned_text(*k, f)).unwrap())
                    .collect();
                proptest::prop_assert_eq!(read.len(), vals.len());
                for (r, v) in read.iter().zip(&vals) {
                    proptest::prop_assert!(r.as_value_ref().same(v.as_value_ref()), "{r:?} vs {v:?}");
                }
            }
        }
    }
}
