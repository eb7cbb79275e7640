//! Values, rows and the row encoding shared by chunks, journal decoding and fingerprints.
//!
//! Encoding (version 1), one field after another:
//! `0x00` NULL · `0x01` i64 LE · `0x02` f64 bits LE · `0x03` text (u32 LE length + UTF-8) ·
//! `0x04` blob (u32 + bytes) · `0x05` bool (1 byte) · `0x06` decimal text (u32 + ASCII).
//! A row is a u32 field count followed by its fields. Length prefixes and an explicit NULL
//! tag make the encoding unambiguous: `NULL` never equals the text `"<null>"`, and
//! `("p|q","r")` never equals `("p","q|r")`.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// One SQL value as ripcord carries it between engines.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "t", content = "v", rename_all = "lowercase")]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Exact decimal in canonical text form (no exponent), e.g. `"12.345"`.
    Decimal(String),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Decimal(_) => 2,
            Value::Text(_) => 3,
            Value::Blob(_) => 4,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Numeric view, for invariants and money tolerance.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Decimal(d) | Value::Text(d) => d.trim().parse().ok(),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Value {}
impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Value {
    /// Total order: NULL first, numbers by value, text and blobs by bytes (binary order,
    /// never a collation, so two engines agree on it).
    fn cmp(&self, other: &Self) -> Ordering {
        use Value::*;
        match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => a.total_cmp(b),
            (Decimal(a), Decimal(b)) if a == b => Ordering::Equal,
            (Text(a), Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Blob(a), Blob(b)) => a.cmp(b),
            (a, b) if a.rank() == 2 && b.rank() == 2 => {
                // Mixed numeric kinds: compare exactly when both are integral, else by f64.
                match (a, b) {
                    (Int(x), Float(y)) => (*x as f64).total_cmp(y).then(Ordering::Less),
                    (Float(x), Int(y)) => x.total_cmp(&(*y as f64)).then(Ordering::Greater),
                    _ => {
                        let (x, y) = (
                            a.as_f64().unwrap_or(f64::NAN),
                            b.as_f64().unwrap_or(f64::NAN),
                        );
                        x.total_cmp(&y)
                            .then_with(|| format!("{a:?}").cmp(&format!("{b:?}")))
                    }
                }
            }
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Decimal(d) => f.write_str(d),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Blob(b) => {
                f.write_str("x'")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("'")
            }
        }
    }
}

/// A row in a table's column order.
pub type Row = Vec<Value>;

/// A primary-key value (one entry per key column), ordered in binary order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(pub Vec<KeyPart>);

/// Key parts are the hashable subset of values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyPart {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<&Value> for KeyPart {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => KeyPart::Null,
            Value::Int(i) => KeyPart::Int(*i),
            Value::Bool(b) => KeyPart::Int(*b as i64),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => KeyPart::Int(*f as i64),
            Value::Float(f) => KeyPart::Text(format!("{f:?}")),
            Value::Decimal(d) => KeyPart::Text(d.clone()),
            Value::Text(s) => KeyPart::Text(s.clone()),
            Value::Blob(b) => KeyPart::Bytes(b.clone()),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                KeyPart::Null => "NULL".to_string(),
                KeyPart::Int(i) => i.to_string(),
                KeyPart::Text(s) => format!("{s:?}"),
                KeyPart::Bytes(b) => format!(
                    "x'{}'",
                    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                ),
            })
            .collect();
        if parts.len() == 1 {
            f.write_str(&parts[0])
        } else {
            write!(f, "({})", parts.join(", "))
        }
    }
}

/// Appends the encoding of one value.
pub fn encode_value(out: &mut Vec<u8>, v: &Value) {
    fn bytes(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
        out.push(tag);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    match v {
        Value::Null => out.push(0),
        Value::Int(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(2);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Text(s) => bytes(out, 3, s.as_bytes()),
        Value::Blob(b) => bytes(out, 4, b),
        Value::Bool(b) => {
            out.push(5);
            out.push(*b as u8);
        }
        Value::Decimal(d) => bytes(out, 6, d.as_bytes()),
    }
}

/// Appends the encoding of one row.
pub fn encode_row(out: &mut Vec<u8>, row: &[Value]) {
    out.extend_from_slice(&(row.len() as u32).to_le_bytes());
    for v in row {
        encode_value(out, v);
    }
}

/// Why bytes could not be decoded into rows.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("row data ends in the middle of a value at byte {0}")]
    Truncated(usize),
    #[error("unknown value tag {tag:#04x} at byte {at}")]
    BadTag { tag: u8, at: usize },
    #[error("text at byte {0} is not valid UTF-8")]
    BadUtf8(usize),
}

/// Reads rows back from a byte buffer.
pub struct RowDecoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> RowDecoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        RowDecoder { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() - self.pos < n {
            return Err(DecodeError::Truncated(self.pos));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn value(&mut self) -> Result<Value, DecodeError> {
        let at = self.pos;
        let tag = self.take(1)?[0];
        Ok(match tag {
            0 => Value::Null,
            1 => Value::Int(i64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            )),
            2 => Value::Float(f64::from_bits(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            ))),
            3 | 6 => {
                let n = self.u32()? as usize;
                let s = std::str::from_utf8(self.take(n)?)
                    .map_err(|_| DecodeError::BadUtf8(at))?
                    .to_string();
                if tag == 3 {
                    Value::Text(s)
                } else {
                    Value::Decimal(s)
                }
            }
            4 => {
                let n = self.u32()? as usize;
                Value::Blob(self.take(n)?.to_vec())
            }
            5 => Value::Bool(self.take(1)?[0] != 0),
            tag => return Err(DecodeError::BadTag { tag, at }),
        })
    }

    /// The next row, or `None` at a clean end of the buffer.
    pub fn next_row(&mut self) -> Result<Option<Row>, DecodeError> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let count = self.u32()?;
        // Every field takes at least one byte: a count larger than the bytes left means
        // the row continues past the buffer (or the data is cut short); never allocate it.
        if count as usize > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated(at));
        }
        let mut row = Vec::with_capacity(count as usize);
        for _ in 0..count {
            row.push(self.value()?);
        }
        Ok(Some(row))
    }
}

/// Order-sensitive fingerprint of a table: blake3 over its rows in key order.
#[derive(Default)]
pub struct Fingerprint {
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    rows: u64,
}

impl Fingerprint {
    pub fn add(&mut self, row: &[Value]) {
        self.buf.clear();
        encode_row(&mut self.buf, row);
        self.hasher.update(&self.buf);
        self.rows += 1;
    }
    /// Adds one row already encoded with [`encode_row`] (saves encoding it twice).
    pub fn add_encoded(&mut self, encoded: &[u8]) {
        self.hasher.update(encoded);
        self.rows += 1;
    }
    pub fn rows(&self) -> u64 {
        self.rows
    }
    pub fn finish(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(row: &[Value]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_row(&mut v, row);
        v
    }

    #[test]
    fn null_and_the_text_null_differ() {
        assert_ne!(enc(&[Value::Null]), enc(&[Value::Text("<null>".into())]));
        assert_ne!(enc(&[Value::Null]), enc(&[Value::Text(String::new())]));
    }

    #[test]
    fn separators_inside_fields_do_not_collide() {
        let a = enc(&[Value::Text("p|q".into()), Value::Text("r".into())]);
        let b = enc(&[Value::Text("p".into()), Value::Text("q|r".into())]);
        assert_ne!(a, b);
    }

    #[test]
    fn round_trip_every_kind() {
        let row = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(-0.0),
            Value::Decimal("12.345".into()),
            Value::Text("مرحبا 👋".into()),
            Value::Blob(vec![0, 1, 0, 255]),
        ];
        let bytes = enc(&row);
        let mut d = RowDecoder::new(&bytes);
        let back = d.next_row().unwrap().unwrap();
        assert_eq!(back.len(), row.len());
        for (a, b) in row.iter().zip(&back) {
            assert_eq!(a, b);
        }
        assert!(d.next_row().unwrap().is_none());
    }

    #[test]
    fn truncated_data_is_an_error_not_a_short_read() {
        let bytes = enc(&[Value::Text("hello".into())]);
        let mut d = RowDecoder::new(&bytes[..bytes.len() - 1]);
        assert!(matches!(d.next_row(), Err(DecodeError::Truncated(_))));
    }
}
