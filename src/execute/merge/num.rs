//! Partial aggregates as numbers: exact decimals for integer and decimal
//! columns, binary floating point for FLOAT/DOUBLE (as MySQL computes
//! them), printed as the server prints them.
//!
//! Owns: parsing, adding and printing partial sums. Must not know about
//! groups.

use crate::merge::decimal::Decimal;
use crate::merge::ValueOrder;

/// A partial aggregate: exact for integers and decimals, binary floating
/// point for FLOAT/DOUBLE columns (as MySQL computes them).
#[derive(Debug, Clone)]
pub(super) enum Num {
    Exact(Decimal),
    Float(f64),
}

impl Num {
    pub(super) fn parse(v: &[u8], float: bool) -> Option<Num> {
        if float {
            std::str::from_utf8(v)
                .ok()?
                .parse::<f64>()
                .ok()
                .map(Num::Float)
        } else {
            Decimal::parse(v).map(Num::Exact)
        }
    }

    pub(super) fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Exact(a), Num::Exact(b)) => Num::Exact(a.add(&b)),
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        }
    }

    pub(super) fn as_f64(&self) -> f64 {
        match self {
            Num::Exact(d) => d.to_text().parse().unwrap_or(0.0),
            Num::Float(f) => *f,
        }
    }

    pub(super) fn text(&self) -> Vec<u8> {
        match self {
            Num::Exact(d) => d.to_text().into_bytes(),
            Num::Float(f) => format_double(*f).into_bytes(),
        }
    }
}

/// Formats a DOUBLE the way MySQL prints one: shortest round-trip digits,
/// scientific notation for very large or very small magnitudes.
pub(super) fn format_double(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

pub(super) fn add_opt(a: Option<Num>, b: Option<Num>) -> Option<Num> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.add(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

pub(super) fn is_float(orders: &[ValueOrder], c: usize) -> bool {
    matches!(orders.get(c), Some(ValueOrder::Float))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_float_sums() {
        let a = Num::parse(b"1.25", false).unwrap();
        let b = Num::parse(b"-0.5", false).unwrap();
        assert_eq!(a.add(b).text(), b"0.75");
        let f = Num::parse(b"0.1", true)
            .unwrap()
            .add(Num::parse(b"0.2", true).unwrap());
        assert_eq!(f.text(), b"0.30000000000000004");
        assert_eq!(format_double(1e20), "1e20");
        assert_eq!(format_double(0.00001), "1e-5");
        assert!(add_opt(None, None).is_none());
        assert_eq!(add_opt(None, Num::parse(b"3", false)).unwrap().text(), b"3");
    }
}
