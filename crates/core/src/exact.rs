//! Exact decimal numbers for comparing values, deltas and tolerances (the diff engine's
//! row comparison and the plan's invariants).
//!
//! An f64 cannot tell 2^53 + 1 from 2^53 + 2, nor two decimal(18,3) values 0.02 apart near
//! 10^15, so numbers are never compared through one. Written here over decimal digit
//! strings rather than with `rust_decimal` (28 significant digits, while PostgreSQL's
//! `numeric` holds thousands) or `bigdecimal` (a new dependency for the four operations
//! needed: parse, compare, subtract, print).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// Exponents beyond this are refused rather than expanded into megabytes of zeros; no
/// engine prints one (PostgreSQL's widest `numeric` has 147,455 digits).
const MAX_EXPONENT: i64 = 1_000_000;

/// `digits × 10^-scale`, negative when `neg`. Normalised: no leading or trailing zeros in
/// `digits`, and zero is `digits = ""`, `scale = 0`, `neg = false`, so equal numbers are
/// equal values (`1.50` = `1.5` = `15e-1`). The default is zero.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    neg: bool,
    digits: Vec<u8>,
    scale: i64,
}

impl Decimal {
    pub fn zero() -> Decimal {
        Decimal::default()
    }

    fn new(neg: bool, mut digits: Vec<u8>, mut scale: i64) -> Decimal {
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            scale -= 1;
        }
        if digits.is_empty() {
            return Decimal::zero();
        }
        Decimal { neg, digits, scale }
    }

    /// Plain or scientific decimal text (`-12.50`, `+7`, `.5`, `1e+20`, `1.5E-3`); `None`
    /// for anything else, `NaN` and infinities included.
    pub fn parse(s: &str) -> Option<Decimal> {
        let t = s.trim();
        let (neg, body) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => {
                let e = &body[i + 1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let e: i64 = e.parse().ok().filter(|e: &i64| e.abs() <= MAX_EXPONENT)?;
                (&body[..i], e)
            }
            None => (body, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        Some(Decimal::new(neg, digits, frac.len() as i64 - exp))
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.neg
    }

    pub fn abs(&self) -> Decimal {
        Decimal {
            neg: false,
            ..self.clone()
        }
    }

    /// The digits scaled to `scale` (which is at least `self.scale`).
    fn at_scale(&self, scale: i64) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.resize(d.len() + (scale - self.scale) as usize, 0);
        d
    }

    /// `self - other`, exactly.
    pub fn sub(&self, other: &Decimal) -> Decimal {
        let neg_other = Decimal {
            neg: !other.neg && !other.is_zero(),
            ..other.clone()
        };
        self.add(&neg_other)
    }

    /// `self + other`, exactly.
    pub fn add(&self, other: &Decimal) -> Decimal {
        if other.is_zero() {
            return self.clone();
        }
        if self.is_zero() {
            return other.clone();
        }
        let scale = self.scale.max(other.scale);
        let (x, y) = (self.at_scale(scale), other.at_scale(scale));
        if self.neg == other.neg {
            return Decimal::new(self.neg, add_mag(&x, &y), scale);
        }
        match cmp_mag(&x, &y) {
            Ordering::Equal => Decimal::zero(),
            Ordering::Greater => Decimal::new(self.neg, sub_mag(&x, &y), scale),
            Ordering::Less => Decimal::new(other.neg, sub_mag(&y, &x), scale),
        }
    }

    /// Position of the most significant digit: `digits.len() - scale` (the number of
    /// integer digits when positive).
    fn magnitude(&self) -> i64 {
        self.digits.len() as i64 - self.scale
    }
}

fn strip(x: &[u8]) -> &[u8] {
    &x[x.iter().take_while(|&&d| d == 0).count()..]
}

fn cmp_mag(x: &[u8], y: &[u8]) -> Ordering {
    let (x, y) = (strip(x), strip(y));
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn add_mag(x: &[u8], y: &[u8]) -> Vec<u8> {
    let n = x.len().max(y.len());
    let mut out = vec![0u8; n + 1];
    let mut carry = 0;
    for i in 0..n {
        let a = if i < x.len() { x[x.len() - 1 - i] } else { 0 };
        let b = if i < y.len() { y[y.len() - 1 - i] } else { 0 };
        let s = a + b + carry;
        out[n - i] = s % 10;
        carry = s / 10;
    }
    out[0] = carry;
    out
}

/// `x - y` for `x >= y`.
fn sub_mag(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = x.to_vec();
    let mut borrow = 0i8;
    for i in 0..x.len() {
        let b = if i < y.len() { y[y.len() - 1 - i] } else { 0 } as i8;
        let j = x.len() - 1 - i;
        let mut d = x[j] as i8 - b - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out[j] = d as u8;
    }
    out
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let sign = |d: &Decimal| match (d.is_zero(), d.neg) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let mag = self.magnitude().cmp(&other.magnitude()).then_with(|| {
            // Same leading position: compare digit by digit, the shorter padded with zeros.
            let n = self.digits.len().max(other.digits.len());
            let at = |d: &Decimal, i: usize| d.digits.get(i).copied().unwrap_or(0);
            (0..n)
                .map(|i| at(self, i).cmp(&at(other, i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        if sa < 0 { mag.reverse() } else { mag }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Plain text, never scientific: `-0.005`, `1000`, `12.5`.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 3);
        if self.neg {
            s.push('-');
        }
        let digit = |d: &u8| (b'0' + d) as char;
        if self.scale <= 0 {
            s.extend(self.digits.iter().map(digit));
            s.extend(std::iter::repeat_n('0', (-self.scale) as usize));
        } else {
            let int = self.digits.len() as i64 - self.scale;
            if int <= 0 {
                s.push_str("0.");
                s.extend(std::iter::repeat_n('0', (-int) as usize));
                s.extend(self.digits.iter().map(digit));
            } else {
                let (i, fr) = self.digits.split_at(int as usize);
                s.extend(i.iter().map(digit));
                s.push('.');
                s.extend(fr.iter().map(digit));
            }
        }
        f.write_str(&s)
    }
}

impl std::str::FromStr for Decimal {
    type Err = String;
    fn from_str(s: &str) -> Result<Decimal, String> {
        Decimal::parse(s).ok_or_else(|| format!("{s:?} is not a decimal number"))
    }
}

/// As a JSON string: a JSON number would be read back as an f64 by most consumers.
impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `12.500` → `12.5`, `-0.0` → `0`, `+7` → `7`, `007.10` → `7.1`; `None` if not a plain
/// decimal number.
pub fn canon_decimal(s: &str) -> Option<String> {
    let t = s.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let mut out = String::with_capacity(body.len() + 1);
    if neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

/// A tolerance as written on the command line: a non-negative decimal number.
pub fn parse_tolerance(s: &str) -> Result<Decimal, String> {
    match Decimal::parse(s) {
        Some(d) if !d.is_negative() => Ok(d),
        _ => Err(format!("{s:?} is not a non-negative number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn parses_and_prints_normalised() {
        for (input, shown) in [
            ("12.500", "12.5"),
            ("-0.000", "0"),
            ("+007.10", "7.1"),
            ("3.", "3"),
            (".5", "0.5"),
            ("1e20", "100000000000000000000"),
            ("1e+20", "100000000000000000000"),
            ("-1.5E-3", "-0.0015"),
            ("120", "120"),
            ("9223372036854775807", "9223372036854775807"),
        ] {
            assert_eq!(d(input).to_string(), shown, "{input}");
        }
        for bad in [
            "",
            "-",
            ".",
            "1e",
            "1e+",
            "NaN",
            "Infinity",
            "1.2.3",
            "0x10",
            "1e9999999",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(d("1.50"), d("15e-1"));
    }

    #[test]
    fn arithmetic_is_exact_where_f64_is_not() {
        assert_eq!(
            d("9007199254740994")
                .sub(&d("9007199254740993"))
                .to_string(),
            "1"
        );
        assert_eq!(
            d("999999999999999.970")
                .sub(&d("999999999999999.990"))
                .to_string(),
            "-0.02"
        );
        assert_eq!(d("1.005").sub(&d("1")).to_string(), "0.005");
        assert_eq!(d("0.1").add(&d("0.2")).to_string(), "0.3");
        assert_eq!(d("-5").sub(&d("-5")), Decimal::zero());
        assert_eq!(d("-1").sub(&d("2")).to_string(), "-3");
        assert_eq!(d("99.99").add(&d("0.01")).to_string(), "100");
        assert_eq!(d("1e3").sub(&d("1e-3")).to_string(), "999.999");
    }

    #[test]
    fn orders_by_value() {
        let mut v: Vec<Decimal> = ["10", "-1.5", "0.005", "-1.25", "2", "0", "0.0050000001"]
            .iter()
            .map(|s| d(s))
            .collect();
        v.sort();
        let shown: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            shown,
            ["-1.5", "-1.25", "0", "0.005", "0.0050000001", "2", "10"]
        );
        assert!(d("0.005") <= d("0.005"));
        assert!(d("0.006") > d("0.005"));
        assert_eq!(d("-0"), Decimal::zero());
    }
}
