//! Ordering of result values the way MySQL orders them: numbers
//! numerically, temporal values chronologically, strings under the
//! column's collation (case- and accent-insensitive for `_ci`), NULL first
//! in ascending order.
//!
//! Owns: `Ordering` between two values of one column. Must not buffer rows.

use std::cmp::Ordering;

use mysql_common::collations::{Collation as MyCollation, CollationId};
use mysql_common::constants::ColumnType;

use super::decimal;
use super::row::{ColumnInfo, TextRow};
use crate::placement::collation::general_ci_weights;
use crate::placement::Collation;

/// One ORDER BY key resolved to a position of the shard rows (the
/// router's `SortKey`, whose column may count from the hidden columns,
/// once the row's width is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedKey {
    pub column: usize,
    pub descending: bool,
}

/// How a column's values compare; computed once per result set.
#[derive(Debug, Clone)]
pub enum ValueOrder {
    Integer,
    Decimal,
    Float,
    /// Fixed-width temporal text (DATE, DATETIME, TIMESTAMP, YEAR).
    TemporalText,
    Time,
    Bytes,
    /// Bytes without trailing spaces (PAD SPACE `_bin` collations).
    PaddedBytes,
    /// Case/accent-insensitive: compare folded, upper-cased keys.
    Folded(Collation),
    /// `*_general_ci`: MariaDB's general_ci weights.
    GeneralCi,
}

impl ValueOrder {
    pub fn for_column(c: &ColumnInfo) -> ValueOrder {
        use ColumnType::*;
        match c.column_type {
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG => ValueOrder::Integer,
            MYSQL_TYPE_YEAR => ValueOrder::Integer,
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => ValueOrder::Decimal,
            MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => ValueOrder::Float,
            MYSQL_TYPE_DATE
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIMESTAMP2 => ValueOrder::TemporalText,
            MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => ValueOrder::Time,
            MYSQL_TYPE_BIT | MYSQL_TYPE_GEOMETRY => ValueOrder::Bytes,
            // `x COLLATE utf8mb4_bin` is reported with the charset's
            // default collation and BINARY_FLAG: compare as bytes.
            _ if c
                .flags
                .contains(mysql_common::constants::ColumnFlags::BINARY_FLAG)
                && c.charset != 63 =>
            {
                ValueOrder::PaddedBytes
            }
            _ => string_order(c.charset),
        }
    }

    pub fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        match self {
            ValueOrder::Integer => match (parse_i128(a), parse_i128(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => decimal::compare_text(a, b),
            },
            ValueOrder::Decimal => decimal::compare_text(a, b),
            ValueOrder::Float => {
                let x = std::str::from_utf8(a)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok());
                let y = std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok());
                match (x, y) {
                    (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                    _ => a.cmp(b),
                }
            }
            ValueOrder::TemporalText => a.cmp(b),
            ValueOrder::Time => time_micros(a).cmp(&time_micros(b)),
            ValueOrder::Bytes => a.cmp(b),
            ValueOrder::PaddedBytes => trim_spaces(a).cmp(trim_spaces(b)),
            ValueOrder::Folded(c) => order_key(c, a).cmp(&order_key(c, b)),
            ValueOrder::GeneralCi => general_ci_weights(a).cmp(&general_ci_weights(b)),
        }
    }
}

fn string_order(collation_id: u16) -> ValueOrder {
    if collation_id == 63 {
        return ValueOrder::Bytes;
    }
    let c = MyCollation::from(CollationId::from(collation_id));
    let name = if c.id() == CollationId::UNKNOWN_COLLATION_ID {
        "utf8mb4_general_ci"
    } else {
        c.collation()
    };
    if name.ends_with("_bin") {
        if name.contains("nopad") || name.contains("0900") {
            return ValueOrder::Bytes;
        }
        return ValueOrder::PaddedBytes;
    }
    if name.contains("general_ci") {
        return ValueOrder::GeneralCi;
    }
    // Latin1 and other legacy charsets arrive already converted to the
    // connection's character set; fold them as utf8mb4 general_ci.
    let collation = Collation::from_name(name)
        .or_else(|_| Collation::from_name("utf8mb4_general_ci"))
        .unwrap_or_default();
    ValueOrder::Folded(collation)
}

/// A sort key for case-insensitive collations: the equality fold (accents
/// and case removed), upper-cased so punctuation between `Z` and `a` sorts
/// after letters as MySQL's weights do.
fn order_key(c: &Collation, v: &[u8]) -> Vec<u8> {
    let folded = c.fold(v);
    match std::str::from_utf8(&folded) {
        Ok(s) => s.to_uppercase().into_bytes(),
        Err(_) => folded,
    }
}

fn trim_spaces(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    &v[..end]
}

fn parse_i128(v: &[u8]) -> Option<i128> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// `-838:59:59.000000` → signed microseconds.
fn time_micros(v: &[u8]) -> i128 {
    let s = std::str::from_utf8(v).unwrap_or("");
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':').map(|p| p.parse::<i128>().unwrap_or(0));
    let h = parts.next().unwrap_or(0);
    let m = parts.next().unwrap_or(0);
    let sec = parts.next().unwrap_or(0);
    let mut micros: i128 = 0;
    for (i, ch) in frac.bytes().take(6).enumerate() {
        micros += (ch.saturating_sub(b'0') as i128) * 10i128.pow(5 - i as u32);
    }
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + micros;
    if neg {
        -total
    } else {
        total
    }
}

/// A key equal for values the column's collation or type considers equal
/// (`'abc'` and `'ABC'` under `_ci`, `1.50` and `1.5`... within one
/// column's scale): for grouping and DISTINCT. `None` for NULL.
pub fn equality_key(order: &ValueOrder, v: Option<&[u8]>) -> Option<Vec<u8>> {
    let v = v?;
    Some(match order {
        ValueOrder::Folded(c) => c.fold(v),
        ValueOrder::GeneralCi => general_ci_weights(v)
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect(),
        ValueOrder::PaddedBytes => trim_spaces(v).to_vec(),
        ValueOrder::Integer | ValueOrder::Decimal => decimal::Decimal::parse(v)
            .map(|d| d.to_text().into_bytes())
            .unwrap_or_else(|| v.to_vec()),
        _ => v.to_vec(),
    })
}

/// Compares two optional values: NULL is the smallest value, as in MySQL.
pub fn compare_nullable(order: &ValueOrder, a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => order.compare(x, y),
    }
}

/// Compares two rows by `keys`, with `orders[i]` the order of column i.
pub fn compare_rows(
    a: &TextRow,
    b: &TextRow,
    keys: &[ResolvedKey],
    orders: &[ValueOrder],
) -> Ordering {
    for k in keys {
        let Some(order) = orders.get(k.column) else {
            continue;
        };
        let o = compare_nullable(order, a.value(k.column), b.value(k.column));
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times() {
        assert_eq!(ValueOrder::Integer.compare(b"10", b"9"), Ordering::Greater);
        assert_eq!(
            ValueOrder::Integer.compare(b"18446744073709551615", b"-1"),
            Ordering::Greater
        );
        assert_eq!(
            ValueOrder::Float.compare(b"1e3", b"999.5"),
            Ordering::Greater
        );
        assert_eq!(
            ValueOrder::Time.compare(b"-01:00:00", b"00:59:59"),
            Ordering::Less
        );
        assert_eq!(
            ValueOrder::Time.compare(b"100:00:00", b"99:59:59.999999"),
            Ordering::Greater
        );
        assert_eq!(
            ValueOrder::TemporalText.compare(b"2026-11-30", b"2026-12-01"),
            Ordering::Less
        );
    }

    #[test]
    fn strings_under_collations() {
        let ci = string_order(45); // utf8mb4_general_ci
        assert_eq!(ci.compare("Æ".as_bytes(), b"ae"), Ordering::Greater);
        assert_eq!(ci.compare("ß".as_bytes(), b"s"), Ordering::Equal);
        assert_eq!(ci.compare("Ł".as_bytes(), b"L"), Ordering::Greater);
        assert_eq!(ci.compare(b"abc", b"ABC"), Ordering::Equal);
        assert_eq!(ci.compare("é".as_bytes(), b"E"), Ordering::Equal);
        assert_eq!(ci.compare(b"a", b"B"), Ordering::Less);
        assert_eq!(ci.compare(b"_", b"z"), Ordering::Greater);
        assert_eq!(ci.compare(b"a  ", b"A"), Ordering::Equal);
        let bin = string_order(46); // utf8mb4_bin
        assert_eq!(bin.compare(b"a", b"B"), Ordering::Greater);
        assert_eq!(bin.compare(b"a ", b"a"), Ordering::Equal);
        assert_eq!(string_order(63).compare(b"a ", b"a"), Ordering::Greater);
    }

    #[test]
    fn nulls_first() {
        assert_eq!(
            compare_nullable(&ValueOrder::Integer, None, Some(b"1")),
            Ordering::Less
        );
        assert_eq!(
            compare_nullable(&ValueOrder::Integer, None, None),
            Ordering::Equal
        );
    }
}
