//! Exact decimal arithmetic on the text values MySQL sends for DECIMAL and
//! integer results, wide enough for DECIMAL(65,30) and sums of BIGINT
//! UNSIGNED: addition for SUM across shards, division with MySQL's
//! rounding for AVG, and the `+ - * / DIV MOD` of the merge expression
//! evaluator (`eval`).
//!
//! Owns: numbers as decimal digit strings. Must not know about rows.

use std::cmp::Ordering;

/// A decimal number: sign, digits (most significant first, no leading
/// zeros except a lone zero), and how many of them are after the point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    scale: usize,
}

impl Decimal {
    pub fn zero() -> Decimal {
        Decimal {
            negative: false,
            digits: vec![0],
            scale: 0,
        }
    }

    pub fn from_u64(v: u64) -> Decimal {
        Decimal::parse(v.to_string().as_bytes()).unwrap_or_else(Decimal::zero)
    }

    /// Parses `-123.450`, `7`, `.5`, `+1e3` is refused (MySQL never sends
    /// exponents for DECIMAL/integer columns).
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        let (negative, rest) = match text.first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let mut digits = Vec::with_capacity(rest.len());
        let mut scale = 0;
        let mut seen_point = false;
        for &b in rest {
            match b {
                b'0'..=b'9' => {
                    digits.push(b - b'0');
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                _ => return None,
            }
        }
        if digits.is_empty() {
            return None;
        }
        let mut d = Decimal {
            negative,
            digits,
            scale,
        };
        d.normalize();
        Some(d)
    }

    fn normalize(&mut self) {
        // At least one digit before the point.
        if self.digits.len() < self.scale + 1 {
            let pad = self.scale + 1 - self.digits.len();
            self.digits.splice(0..0, std::iter::repeat_n(0, pad));
        }
        let int_len = self.digits.len() - self.scale;
        let lead = self.digits[..int_len]
            .iter()
            .take_while(|&&d| d == 0)
            .count();
        self.digits.drain(..lead);
        if self.digits.is_empty() {
            self.digits.push(0);
            self.scale = 0;
        }
        if self.digits.len() < self.scale + 1 {
            let pad = self.scale + 1 - self.digits.len();
            self.digits.splice(0..0, std::iter::repeat_n(0, pad));
        }
        if self.digits.iter().all(|&d| d == 0) {
            self.negative = false;
        }
    }

    fn with_scale(&self, scale: usize) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.extend(std::iter::repeat_n(0, scale.saturating_sub(self.scale)));
        d
    }

    fn cmp_magnitude(a: &[u8], b: &[u8]) -> Ordering {
        let a = strip(a);
        let b = strip(b);
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }

    pub fn add(&self, other: &Decimal) -> Decimal {
        let scale = self.scale.max(other.scale);
        let a = self.with_scale(scale);
        let b = other.with_scale(scale);
        let (negative, digits) = if self.negative == other.negative {
            (self.negative, add_mag(&a, &b))
        } else if Self::cmp_magnitude(&a, &b) != Ordering::Less {
            (self.negative, sub_mag(&a, &b))
        } else {
            (other.negative, sub_mag(&b, &a))
        };
        let mut d = Decimal {
            negative,
            digits,
            scale,
        };
        d.normalize();
        d
    }

    /// `self / divisor` to `scale` digits as MariaDB's decimal division
    /// gives it: the quotient is computed in 9-digit words, to the first
    /// word boundary at or after `scale` digits, cut there, then rounded
    /// half away from zero to `scale`. So a `scale` that is a multiple of 9
    /// truncates (`AVG` of DECIMAL(10,5) values 2, 0, 0 is 0.666666666),
    /// others round (DECIMAL(10,3): 0.6666667).
    pub fn div_u64(&self, divisor: u64, scale: usize) -> Option<Decimal> {
        if divisor == 0 {
            return None;
        }
        const DIGITS_PER_WORD: usize = 9;
        let computed = scale.div_ceil(DIGITS_PER_WORD) * DIGITS_PER_WORD;
        let extra = computed.saturating_sub(self.scale);
        let mut num = self.digits.clone();
        num.extend(std::iter::repeat_n(0, extra));
        let mut quotient = Vec::with_capacity(num.len());
        let mut rem: u128 = 0;
        for d in num {
            rem = rem * 10 + d as u128;
            quotient.push((rem / divisor as u128) as u8);
            rem %= divisor as u128;
        }
        let q_scale = self.scale + extra;
        let mut q = Decimal {
            negative: self.negative,
            digits: quotient,
            scale: q_scale,
        };
        q.normalize();
        Some(q.round(scale))
    }

    /// Rounds half away from zero to `scale` fractional digits (pads when
    /// the number has fewer).
    pub fn round(&self, scale: usize) -> Decimal {
        if self.scale <= scale {
            let mut d = self.clone();
            d.digits = self.with_scale(scale);
            d.scale = scale;
            d.normalize();
            return d;
        }
        let cut = self.digits.len() - (self.scale - scale);
        let round_up = self.digits[cut] >= 5;
        let mut digits = self.digits[..cut].to_vec();
        if round_up {
            let one: Vec<u8> = vec![1];
            digits = add_mag(&digits, &one);
        }
        let mut d = Decimal {
            negative: self.negative,
            digits,
            scale,
        };
        d.normalize();
        d
    }

    /// Digits after the point (kept as written: `1.50` has scale 2, which
    /// is the scale MySQL gives the value's type).
    pub fn scale(&self) -> usize {
        self.scale
    }

    pub fn is_zero(&self) -> bool {
        self.digits.iter().all(|&d| d == 0)
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    pub fn from_i128(v: i128) -> Decimal {
        let mut d = Decimal {
            negative: v < 0,
            digits: v
                .unsigned_abs()
                .to_string()
                .bytes()
                .map(|b| b - b'0')
                .collect(),
            scale: 0,
        };
        d.normalize();
        d
    }

    /// The value when it is an integer that fits in an i128 (fraction
    /// digits must be zero).
    pub fn to_i128(&self) -> Option<i128> {
        let int_len = self.digits.len() - self.scale;
        if self.digits[int_len..].iter().any(|&d| d != 0) || int_len > 38 {
            return None;
        }
        let mut v: i128 = 0;
        for &d in &self.digits[..int_len] {
            v = v.checked_mul(10)?.checked_add(d as i128)?;
        }
        Some(if self.negative { -v } else { v })
    }

    /// The nearest double (as MySQL converts a DECIMAL to DOUBLE).
    pub fn to_f64(&self) -> f64 {
        self.to_text().parse().unwrap_or(0.0)
    }

    pub fn neg(&self) -> Decimal {
        let mut d = self.clone();
        d.negative = !d.negative;
        d.normalize();
        d
    }

    pub fn sub(&self, other: &Decimal) -> Decimal {
        self.add(&other.neg())
    }

    /// Exact product; its scale is the sum of the scales (MySQL's type).
    pub fn mul(&self, other: &Decimal) -> Decimal {
        let mut acc = vec![0u32; self.digits.len() + other.digits.len()];
        for (i, &a) in self.digits.iter().enumerate().rev() {
            for (j, &b) in other.digits.iter().enumerate().rev() {
                acc[i + j + 1] += a as u32 * b as u32;
            }
        }
        for k in (1..acc.len()).rev() {
            let carry = acc[k] / 10;
            acc[k] %= 10;
            acc[k - 1] += carry;
        }
        let mut d = Decimal {
            negative: self.negative != other.negative,
            digits: acc.into_iter().map(|x| x as u8).collect(),
            scale: self.scale + other.scale,
        };
        d.normalize();
        d
    }

    /// The magnitudes as integers at a common scale: (|self|·10^s,
    /// |other|·10^s).
    fn aligned(&self, other: &Decimal) -> (Vec<u8>, Vec<u8>) {
        let scale = self.scale.max(other.scale);
        (self.with_scale(scale), other.with_scale(scale))
    }

    /// `self / other` rounded half away from zero to `scale` digits (MySQL's
    /// `/` on exact values; `None` when dividing by zero).
    pub fn div(&self, other: &Decimal, scale: usize) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        let (mut a, b) = self.aligned(other);
        // One guard digit beyond `scale`, then round.
        a.extend(std::iter::repeat_n(0, scale + 1));
        let (q, _) = divmod_mag(&a, &b);
        let mut d = Decimal {
            negative: self.negative != other.negative,
            digits: q,
            scale: scale + 1,
        };
        d.normalize();
        Some(d.round(scale))
    }

    /// The quotient truncated towards zero (`DIV`); `None` when dividing by
    /// zero.
    pub fn div_trunc(&self, other: &Decimal) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        let (a, b) = self.aligned(other);
        let (q, _) = divmod_mag(&a, &b);
        let mut d = Decimal {
            negative: self.negative != other.negative,
            digits: q,
            scale: 0,
        };
        d.normalize();
        Some(d)
    }

    /// `self MOD other`: the sign of the dividend, the larger scale;
    /// `None` when dividing by zero.
    pub fn rem(&self, other: &Decimal) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        let scale = self.scale.max(other.scale);
        let (a, b) = self.aligned(other);
        let (_, r) = divmod_mag(&a, &b);
        let mut d = Decimal {
            negative: self.negative,
            digits: r,
            scale,
        };
        d.normalize();
        Some(d)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.digits.len() + 2);
        if self.negative {
            s.push('-');
        }
        let int_len = self.digits.len() - self.scale;
        for (i, d) in self.digits.iter().enumerate() {
            if i == int_len {
                s.push('.');
            }
            s.push((b'0' + d) as char);
        }
        s
    }

    pub fn compare(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => return Ordering::Greater,
            (true, false) => return Ordering::Less,
            _ => {}
        }
        let scale = self.scale.max(other.scale);
        let m = Self::cmp_magnitude(&self.with_scale(scale), &other.with_scale(scale));
        if self.negative {
            m.reverse()
        } else {
            m
        }
    }
}

fn strip(a: &[u8]) -> &[u8] {
    let lead = a.iter().take_while(|&&d| d == 0).count();
    &a[lead.min(a.len().saturating_sub(1))..]
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let x = if i > 0 {
            i -= 1;
            a[i]
        } else {
            0
        };
        let y = if j > 0 {
            j -= 1;
            b[j]
        } else {
            0
        };
        let s = x + y + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// a - b for |a| >= |b|, same scale.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let y = if j > 0 {
            j -= 1;
            b[j] as i8
        } else {
            0
        };
        let mut d = a[i] as i8 - y - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d as u8);
    }
    out.reverse();
    out
}

/// Long division of magnitudes (digit vectors, most significant first):
/// (quotient, remainder), both as long as `a` (leading zeros allowed).
fn divmod_mag(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let b = strip(b);
    let mut q = Vec::with_capacity(a.len());
    let mut rem: Vec<u8> = Vec::with_capacity(b.len() + 1);
    for &d in a {
        rem.push(d);
        let lead = rem.iter().take_while(|&&x| x == 0).count();
        rem.drain(..lead.min(rem.len().saturating_sub(1)));
        let mut digit = 0u8;
        while Decimal::cmp_magnitude(&rem, b) != Ordering::Less {
            rem = sub_mag_any(&rem, b);
            digit += 1;
        }
        q.push(digit);
    }
    if rem.is_empty() {
        rem.push(0);
    }
    (q, rem)
}

/// a - b for |a| >= |b| (any lengths).
fn sub_mag_any(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = sub_mag(a, b);
    let lead = out.iter().take_while(|&&x| x == 0).count();
    out.drain(..lead.min(out.len().saturating_sub(1)));
    out
}

/// Compares two decimal texts numerically (falls back to bytes if either
/// does not parse).
pub fn compare_text(a: &[u8], b: &[u8]) -> Ordering {
    match (split_text(a), split_text(b)) {
        (Some(x), Some(y)) => compare_split(x, y),
        _ => a.cmp(b),
    }
}

/// A decimal text read in place as [`Decimal::parse`] reads it: (negative,
/// integer digits without leading zeros, fraction digits without trailing
/// zeros); zero is never negative. `None` when `parse` would refuse it.
fn split_text(t: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (negative, rest) = match t.first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, frac) = match rest.iter().position(|&b| b == b'.') {
        Some(p) => (&rest[..p], &rest[p + 1..]),
        None => (rest, &[][..]),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.iter().all(u8::is_ascii_digit)
        || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let lead = int.iter().take_while(|&&d| d == b'0').count();
    let int = &int[lead..];
    let trail = frac.iter().rev().take_while(|&&d| d == b'0').count();
    let frac = &frac[..frac.len() - trail];
    Some((negative && !(int.is_empty() && frac.is_empty()), int, frac))
}

/// [`Decimal::compare`] of two [`split_text`]s, without allocating.
fn compare_split(a: (bool, &[u8], &[u8]), b: (bool, &[u8], &[u8])) -> Ordering {
    match (a.0, b.0) {
        (false, true) => return Ordering::Greater,
        (true, false) => return Ordering::Less,
        _ => {}
    }
    // Integer digits without leading zeros: the longer is larger; the
    // fractions without trailing zeros compare digit by digit.
    let m = (a.1.len(), a.1)
        .cmp(&(b.1.len(), b.1))
        .then_with(|| a.2.cmp(b.2));
    if a.0 {
        m.reverse()
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn add_and_text() {
        assert_eq!(d("1.50").add(&d("2.5")).to_text(), "4.00");
        assert_eq!(d("-1.50").add(&d("2.5")).to_text(), "1.00");
        assert_eq!(d("1.5").add(&d("-2.75")).to_text(), "-1.25");
        assert_eq!(d("-0.5").add(&d("0.5")).to_text(), "0.0");
        assert_eq!(
            d("18446744073709551615")
                .add(&d("18446744073709551615"))
                .to_text(),
            "36893488147419103230"
        );
        let big = "99999999999999999999999999999999999.999999999999999999999999999999";
        assert_eq!(
            d(big).add(&d("0.000000000000000000000000000001")).to_text(),
            "100000000000000000000000000000000000.000000000000000000000000000000"
        );
    }

    #[test]
    fn division_rounds_like_mysql() {
        // AVG(DECIMAL(10,2)) has scale 6 (2 + div_precision_increment 4).
        assert_eq!(d("10.00").div_u64(3, 6).unwrap().to_text(), "3.333333");
        assert_eq!(d("20.00").div_u64(3, 6).unwrap().to_text(), "6.666667");
        assert_eq!(d("-20.00").div_u64(3, 6).unwrap().to_text(), "-6.666667");
        assert_eq!(d("7").div_u64(2, 4).unwrap().to_text(), "3.5000");
        // Scales that are a multiple of 9 truncate (checked on MariaDB:
        // AVG over 2, 0, 0 of DECIMAL(10,5) and DECIMAL(20,14)).
        assert_eq!(d("2.00000").div_u64(3, 9).unwrap().to_text(), "0.666666666");
        assert_eq!(
            d("2.00000000000000").div_u64(3, 18).unwrap().to_text(),
            "0.666666666666666666"
        );
        assert_eq!(d("2.000").div_u64(3, 7).unwrap().to_text(), "0.6666667");
        assert_eq!(d("-2.00").div_u64(3, 6).unwrap().to_text(), "-0.666667");
        assert_eq!(d("0.005").div_u64(1, 2).unwrap().to_text(), "0.01");
        assert!(d("1").div_u64(0, 2).is_none());
    }

    #[test]
    fn arithmetic_for_expressions() {
        assert_eq!(d("1.50").mul(&d("2")).to_text(), "3.00");
        assert_eq!(d("-1.5").mul(&d("0.25")).to_text(), "-0.375");
        assert_eq!(d("0").mul(&d("-2.5")).to_text(), "0.0");
        assert_eq!(d("2").div(&d("3"), 4).unwrap().to_text(), "0.6667");
        assert_eq!(d("1.5").div(&d("3"), 5).unwrap().to_text(), "0.50000");
        assert_eq!(d("-7").div(&d("2.5"), 4).unwrap().to_text(), "-2.8000");
        assert_eq!(
            d("123456789012345678901234567890")
                .div(&d("0.001"), 4)
                .unwrap()
                .to_text(),
            "123456789012345678901234567890000.0000"
        );
        assert!(d("1").div(&d("0.00"), 4).is_none());
        assert_eq!(d("7.5").div_trunc(&d("2")).unwrap().to_text(), "3");
        assert_eq!(d("-7.5").div_trunc(&d("2")).unwrap().to_text(), "-3");
        assert_eq!(d("7.5").rem(&d("2")).unwrap().to_text(), "1.5");
        assert_eq!(d("-7").rem(&d("3")).unwrap().to_text(), "-1");
        assert_eq!(d("7").rem(&d("-3")).unwrap().to_text(), "1");
        assert_eq!(d("-1234.5678").rem(&d("7")).unwrap().to_text(), "-2.5678");
        assert_eq!(d("0.0005").rem(&d("7")).unwrap().to_text(), "0.0005");
        assert_eq!(d("14.0000").rem(&d("7")).unwrap().to_text(), "0.0000");
        assert!(d("7").rem(&d("0")).is_none());
        assert_eq!(d("10.25").sub(&d("0.25")).to_text(), "10.00");
        assert_eq!(d("3.000").to_i128(), Some(3));
        assert_eq!(d("-3.5").to_i128(), None);
        assert_eq!(Decimal::from_i128(-42).to_text(), "-42");
        assert_eq!(d("1.50").scale(), 2);
    }

    #[test]
    fn comparison() {
        assert_eq!(compare_text(b"10", b"9"), Ordering::Greater);
        assert_eq!(compare_text(b"-10", b"-9"), Ordering::Less);
        assert_eq!(compare_text(b"1.50", b"1.5"), Ordering::Equal);
        assert_eq!(compare_text(b"-0.00", b"0"), Ordering::Equal);
        assert_eq!(compare_text(b"0.1", b"-5"), Ordering::Greater);
    }

    /// The in-place comparison agrees with parsing both values, over
    /// generated texts (signs, leading and trailing zeros, points, junk).
    #[test]
    fn compare_text_agrees_with_parsing() {
        let parts: [&[u8]; 9] = [b"", b"-", b"+", b"0", b"1", b"9", b".", b"00", b"x"];
        let mut texts = Vec::new();
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in [&b""[..], b"0", b"5"] {
                        texts.push([a, b, c, d].concat());
                    }
                }
            }
        }
        let parsed = |x: &[u8], y: &[u8]| match (Decimal::parse(x), Decimal::parse(y)) {
            (Some(x), Some(y)) => x.compare(&y),
            _ => x.cmp(y),
        };
        for x in &texts {
            for y in texts.iter().step_by(7) {
                assert_eq!(compare_text(x, y), parsed(x, y), "{x:?} {y:?}");
            }
        }
    }
}
