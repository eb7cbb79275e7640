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

    /// The next row as an [`EncodedRow`] (checked as [`RowDecoder::next_row`] checks it),
    /// or `None` at a clean end of the buffer.
    pub fn next_encoded(&mut self) -> Result<Option<EncodedRow>, DecodeError> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let at = self.pos;
        let count = self.u32()? as usize;
        if count > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated(at));
        }
        let start = self.pos;
        for _ in 0..count {
            let at = self.pos;
            let tag = self.take(1)?[0];
            match tag {
                0 => {}
                1 | 2 => {
                    self.take(8)?;
                }
                3 | 6 => {
                    let n = self.u32()? as usize;
                    std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::BadUtf8(at))?;
                }
                4 => {
                    let n = self.u32()? as usize;
                    self.take(n)?;
                }
                5 => {
                    self.take(1)?;
                }
                tag => return Err(DecodeError::BadTag { tag, at }),
            }
        }
        // Checked above; now the offsets, then the fields in one allocation of the right size.
        let body = &self.buf[start..self.pos];
        let mut buf = Vec::with_capacity(4 * count + body.len());
        let mut p = 0usize;
        for _ in 0..count {
            buf.extend_from_slice(&(p as u32).to_le_bytes());
            p += match body[p] {
                0 => 1,
                1 | 2 => 9,
                5 => 2,
                _ => {
                    5 + u32::from_le_bytes(body[p + 1..p + 5].try_into().expect("4 bytes")) as usize
                }
            };
        }
        buf.extend_from_slice(body);
        Ok(Some(EncodedRow { buf, n: count }))
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

/// A value borrowed from where it is stored (a [`Value`] or an [`EncodedRow`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Texts are bytes checked to be UTF-8 wherever a `ValueRef` comes from (a `String`, or
    /// an [`EncodedRow`], checked when read), so comparing them needs no second check.
    Decimal(&'a [u8]),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

impl Value {
    #[inline]
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Decimal(d) => ValueRef::Decimal(d.as_bytes()),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ValueRef<'_> {
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            // Checked UTF-8 (see the variants): nothing is ever replaced here.
            ValueRef::Decimal(d) => Value::Decimal(String::from_utf8_lossy(d).into_owned()),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }

    /// Same variant and same content (floats by their bits).
    #[inline]
    pub fn same(self, other: ValueRef<'_>) -> bool {
        match (self, other) {
            (ValueRef::Null, ValueRef::Null) => true,
            (ValueRef::Bool(x), ValueRef::Bool(y)) => x == y,
            (ValueRef::Int(x), ValueRef::Int(y)) => x == y,
            (ValueRef::Float(x), ValueRef::Float(y)) => x.to_bits() == y.to_bits(),
            (ValueRef::Decimal(x), ValueRef::Decimal(y))
            | (ValueRef::Text(x), ValueRef::Text(y)) => x == y,
            (ValueRef::Blob(x), ValueRef::Blob(y)) => x == y,
            _ => false,
        }
    }
}

/// One row kept in its encoding (checked: every tag, length and text), with where each
/// field starts, so it can be compared field by field without building [`Value`]s: one
/// allocation per row instead of one per text field, and the fields side by side in
/// memory. Layout: a `u32` LE offset per field (from the end of the offsets), then the
/// fields as [`encode_value`] wrote them.
#[derive(Clone, Debug)]
pub struct EncodedRow {
    buf: Vec<u8>,
    n: usize,
}

impl EncodedRow {
    /// Encodes `row` (tests, and rows that only exist as values).
    pub fn from_values(row: &[Value]) -> EncodedRow {
        let mut enc = Vec::new();
        encode_row(&mut enc, row);
        let mut d = RowDecoder::new(&enc);
        d.next_encoded()
            .expect("a row just encoded reads back")
            .expect("one row")
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Field `i` (`i < len()`).
    #[inline]
    pub fn get(&self, i: usize) -> ValueRef<'_> {
        let at = 4 * i;
        let off = u32::from_le_bytes(self.buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        let f = &self.buf[4 * self.n + off..];
        fn word(f: &[u8]) -> u64 {
            u64::from_le_bytes(f[1..9].try_into().expect("8 bytes"))
        }
        fn body(f: &[u8]) -> &[u8] {
            let len = u32::from_le_bytes(f[1..5].try_into().expect("4 bytes")) as usize;
            &f[5..5 + len]
        }
        // Checked when the row was read: tags are known, lengths in bounds, texts UTF-8.
        match f[0] {
            0 => ValueRef::Null,
            1 => ValueRef::Int(word(f) as i64),
            2 => ValueRef::Float(f64::from_bits(word(f))),
            3 => ValueRef::Text(body(f)),
            4 => ValueRef::Blob(body(f)),
            5 => ValueRef::Bool(f[1] != 0),
            _ => ValueRef::Decimal(body(f)),
        }
    }

    pub fn to_values(&self) -> Row {
        (0..self.n).map(|i| self.get(i).to_value()).collect()
    }
}

/// A checkpoint row as the store reads it: kept encoded, or as values (a differential
/// checkpoint's changes, and every row of [`crate::store::Store::rows`]).
#[derive(Clone, Debug)]
pub enum StoredRow {
    Encoded(EncodedRow),
    Values(Row),
}

impl StoredRow {
    pub fn len(&self) -> usize {
        match self {
            StoredRow::Encoded(e) => e.len(),
            StoredRow::Values(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Field `i` (`i < len()`).
    #[inline]
    pub fn get(&self, i: usize) -> ValueRef<'_> {
        match self {
            StoredRow::Encoded(e) => e.get(i),
            StoredRow::Values(r) => r[i].as_value_ref(),
        }
    }

    pub fn into_values(self) -> Row {
        match self {
            StoredRow::Encoded(e) => e.to_values(),
            StoredRow::Values(r) => r,
        }
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

    /// One value of every kind, with the edges: the smallest integer, minus zero, a
    /// non-ASCII text and a blob with zero bytes.
    fn every_kind() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(-0.0),
            Value::Decimal("12.345".into()),
            Value::Text("مرحبا 👋".into()),
            Value::Blob(vec![0, 1, 0, 255]),
        ]
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
        let row = every_kind();
        let bytes = enc(&row);
        let mut d = RowDecoder::new(&bytes);
        let back = d.next_row().unwrap().unwrap();
        assert_eq!(back.len(), row.len());
        for (a, b) in row.iter().zip(&back) {
            assert_eq!(a, b);
        }
        assert!(d.next_row().unwrap().is_none());
    }

    /// An encoded row reads field by field as the values it was written from, and is
    /// checked as strictly as the decoder checks a row.
    #[test]
    fn an_encoded_row_is_its_values_and_is_checked_like_a_decoded_one() {
        let mut row = every_kind();
        row.push(Value::Text(String::new()));
        let mut bytes = enc(&row);
        bytes.extend(enc(&[Value::Int(7)]));
        let mut d = RowDecoder::new(&bytes);
        let e = d.next_encoded().unwrap().unwrap();
        assert_eq!(e.len(), row.len());
        for (i, v) in row.iter().enumerate() {
            assert!(e.get(i).same(v.as_value_ref()), "{i}");
            assert!(!e.get(i).same(ValueRef::Text(b"x")), "{i}");
        }
        assert_eq!(e.to_values(), row);
        assert!(e.get(3).same(ValueRef::Float(-0.0)));
        assert!(!e.get(3).same(ValueRef::Float(0.0)));
        let second = d.next_encoded().unwrap().unwrap();
        assert_eq!(second.to_values(), vec![Value::Int(7)]);
        assert!(d.next_encoded().unwrap().is_none());

        let one = enc(&[Value::Text("hello".into())]);
        for cut in 1..one.len() {
            assert!(matches!(
                RowDecoder::new(&one[..cut]).next_encoded(),
                Err(DecodeError::Truncated(_))
            ));
        }
        let mut bad = one.clone();
        bad[4] = 9;
        assert!(matches!(
            RowDecoder::new(&bad).next_encoded(),
            Err(DecodeError::BadTag { tag: 9, .. })
        ));
        let mut latin = enc(&[Value::Text("é".into())]);
        let n = latin.len();
        latin[n - 1] = 0xff;
        assert!(matches!(
            RowDecoder::new(&latin).next_encoded(),
            Err(DecodeError::BadUtf8(_))
        ));
    }

    #[test]
    fn truncated_data_is_an_error_not_a_short_read() {
        let bytes = enc(&[Value::Text("hello".into())]);
        let mut d = RowDecoder::new(&bytes[..bytes.len() - 1]);
        assert!(matches!(d.next_row(), Err(DecodeError::Truncated(_))));
    }
}
