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
use super::row::{ColumnInfo, RowValues};
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
    /// BIT: fixed-width big-endian bytes in a column, but decimal digits
    /// for `MIN`/`MAX` of one (`18446744073709551615`): the shorter value
    /// first, then bytes, orders both as numbers.
    Bit,
    /// Bytes without trailing spaces (PAD SPACE `_bin` collations).
    PaddedBytes,
    /// Case/accent-insensitive: compare folded, upper-cased keys.
    Folded(Collation),
    /// `*_general_ci`: MariaDB's general_ci weights.
    GeneralCi,
    /// A collated string compared by the server's weight string in
    /// column `weight`, padded with the space weight in column `pad`
    /// (NULL: NO PAD). Only [`compare_at`] and [`equality_key_at`], which
    /// see the whole row, use them; `base` is the local approximation
    /// left to the HAVING/expression evaluator and GROUP_CONCAT.
    Weight {
        weight: usize,
        pad: usize,
        base: Box<ValueOrder>,
    },
    /// An ENUM/SET compared by the integer in column `index` (the
    /// member's position, the SET's bitmask: `(e)+0`), as the server
    /// sorts and groups them. Seen only by [`compare_at`] and
    /// [`equality_key_at`]; `base` (the text's order) is left to the
    /// evaluators that compare values alone.
    Index {
        index: usize,
        base: Box<ValueOrder>,
    },
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
            MYSQL_TYPE_BIT => ValueOrder::Bit,
            MYSQL_TYPE_GEOMETRY => ValueOrder::Bytes,
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
            ValueOrder::Bit => (a.len(), a).cmp(&(b.len(), b)),
            // PAD SPACE binary: the shorter value is padded with spaces
            // (a TAB sorts before the padding).
            ValueOrder::PaddedBytes => compare_weights(a, b, Some(b" ")),
            ValueOrder::Folded(c) => order_key(c, a).cmp(&order_key(c, b)),
            ValueOrder::GeneralCi => general_ci_weights(a).cmp(&general_ci_weights(b)),
            ValueOrder::Weight { base, .. } | ValueOrder::Index { base, .. } => base.compare(a, b),
        }
    }

    /// Whether this order is only an approximation of the server's (a
    /// collated string compared without the server's weights).
    pub fn approximate(&self) -> bool {
        matches!(self, ValueOrder::Folded(_) | ValueOrder::GeneralCi)
    }
}

/// `w` without its trailing `pad` units (`pad` empty or absent: NO PAD).
fn strip_pad<'w>(mut w: &'w [u8], pad: Option<&[u8]>) -> &'w [u8] {
    let Some(p) = pad.filter(|p| !p.is_empty()) else {
        return w;
    };
    while w.len() >= p.len() && w.len().is_multiple_of(p.len()) && w.ends_with(p) {
        w = &w[..w.len() - p.len()];
    }
    w
}

/// Compares two weight strings as the server compares the strings: byte
/// by byte, the shorter one padded with `pad` units under PAD SPACE
/// (`pad` absent or empty: NO PAD, the shorter one is smaller).
pub fn compare_weights(a: &[u8], b: &[u8], pad: Option<&[u8]>) -> Ordering {
    let (a, b) = (strip_pad(a, pad), strip_pad(b, pad));
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        Ordering::Equal => {}
        o => return o,
    }
    let (rest, longer) = match a.len().cmp(&b.len()) {
        Ordering::Equal => return Ordering::Equal,
        Ordering::Greater => (&a[n..], Ordering::Greater),
        Ordering::Less => (&b[n..], Ordering::Less),
    };
    let Some(p) = pad.filter(|p| !p.is_empty()) else {
        return longer;
    };
    for (i, &x) in rest.iter().enumerate() {
        let y = p[i % p.len()];
        if x != y {
            return if x > y { longer } else { longer.reverse() };
        }
    }
    Ordering::Equal
}

/// The (weight, pad) columns of a weighed column.
pub fn weight_columns(order: &ValueOrder) -> Option<(usize, usize)> {
    match order {
        ValueOrder::Weight { weight, pad, .. } => Some((*weight, *pad)),
        _ => None,
    }
}

/// Compares column `c` of two rows: by the server's weights when the
/// column has them, NULL first.
pub fn compare_at<A: RowValues + ?Sized, B: RowValues + ?Sized>(
    order: &ValueOrder,
    a: &A,
    b: &B,
    c: usize,
) -> Ordering {
    if let ValueOrder::Index { index, .. } = order {
        return match (a.value(c), b.value(c)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(_), Some(_)) => {
                compare_nullable(&ValueOrder::Integer, a.value(*index), b.value(*index))
            }
        };
    }
    let Some((w, p)) = weight_columns(order) else {
        return compare_nullable(order, a.value(c), b.value(c));
    };
    match (a.value(c), b.value(c)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(_), Some(_)) => compare_weights(
            a.value(w).unwrap_or_default(),
            b.value(w).unwrap_or_default(),
            a.value(p).or(b.value(p)),
        ),
    }
}

/// The equality key of column `c` of `row` (see [`equality_key`]): the
/// weight without its trailing padding when the column has weights.
pub fn equality_key_at<R: RowValues + ?Sized>(
    order: &ValueOrder,
    row: &R,
    c: usize,
) -> Option<Vec<u8>> {
    if let ValueOrder::Index { index, .. } = order {
        row.value(c)?;
        return Some(row.value(*index).unwrap_or_default().to_vec());
    }
    let Some((w, p)) = weight_columns(order) else {
        return equality_key(order, row.value(c));
    };
    row.value(c)?;
    Some(strip_pad(row.value(w).unwrap_or_default(), row.value(p)).to_vec())
}

/// [`equality_key_at`] appended to `out` (a weight is copied once, not
/// into a new buffer first): the key's length, or `None` for NULL
/// (`out` unchanged).
pub fn append_equality_key_at<R: RowValues + ?Sized>(
    order: &ValueOrder,
    row: &R,
    c: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let mut scratch = Vec::new();
    let k = equality_key_in(order, row, c, &mut scratch)?;
    out.extend_from_slice(k);
    Some(k.len())
}

/// The key [`append_equality_key_at`] appends, not copied: a slice of the
/// row when the key is one (a weight, raw or padded bytes, a canonical
/// integer), else built into `scratch` (its old contents replaced);
/// `None` for NULL.
pub fn equality_key_in<'a, R: RowValues + ?Sized>(
    order: &ValueOrder,
    row: &'a R,
    c: usize,
    scratch: &'a mut Vec<u8>,
) -> Option<&'a [u8]> {
    let Some((w, p)) = weight_columns(order) else {
        let v = row.value(c)?;
        if let Some(k) = equality_key_in_place(order, v) {
            return Some(k);
        }
        *scratch = equality_key(order, Some(v))?;
        return Some(scratch);
    };
    row.value(c)?;
    Some(strip_pad(row.value(w).unwrap_or_default(), row.value(p)))
}

/// [`equality_key`] of a non-NULL value when it is a slice of the value
/// itself (no allocation): raw bytes, PAD SPACE bytes without their
/// trailing spaces, integers already in the canonical form the decimal
/// normalisation gives (`-?[1-9][0-9]*` or `0`). `None`: build the key.
fn equality_key_in_place<'v>(order: &ValueOrder, v: &'v [u8]) -> Option<&'v [u8]> {
    match order {
        ValueOrder::Float
        | ValueOrder::TemporalText
        | ValueOrder::Time
        | ValueOrder::Bytes
        | ValueOrder::Bit => Some(v),
        ValueOrder::PaddedBytes => Some(trim_spaces(v)),
        ValueOrder::Integer | ValueOrder::Decimal => {
            let digits = v.strip_prefix(b"-").unwrap_or(v);
            let canonical = match digits {
                [b'0'] => digits.len() == v.len(),
                [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
                _ => false,
            };
            canonical.then_some(v)
        }
        _ => None,
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
        ValueOrder::Weight { base, .. } | ValueOrder::Index { base, .. } => {
            return equality_key(base, Some(v))
        }
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
pub fn compare_rows<A: RowValues + ?Sized, B: RowValues + ?Sized>(
    a: &A,
    b: &B,
    keys: &[ResolvedKey],
    orders: &[ValueOrder],
) -> Ordering {
    for k in keys {
        let Some(order) = orders.get(k.column) else {
            continue;
        };
        let o = compare_at(order, a, b, k.column);
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
        // PAD SPACE: 'a' is padded, and a TAB weighs less than a space.
        assert_eq!(bin.compare(b"a", b"a\t"), Ordering::Greater);
        assert_eq!(string_order(63).compare(b"a ", b"a"), Ordering::Greater);
    }

    /// Weights padded as the server pads: unicode_ci's space is 0209, a
    /// TAB 0201; NO PAD compares the lengths.
    #[test]
    fn padded_weights() {
        let sp: &[u8] = &[0x02, 0x09];
        let a = [0x0e, 0x33];
        let a_sp = [0x0e, 0x33, 0x02, 0x09];
        let a_tab = [0x0e, 0x33, 0x02, 0x01];
        let ab = [0x0e, 0x33, 0x0e, 0x4a];
        assert_eq!(compare_weights(&a, &a_sp, Some(sp)), Ordering::Equal);
        assert_eq!(compare_weights(&a, &a_tab, Some(sp)), Ordering::Greater);
        assert_eq!(compare_weights(&a, &ab, Some(sp)), Ordering::Less);
        assert_eq!(compare_weights(&a, &a_sp, None), Ordering::Less);
        assert_eq!(strip_pad(&a_sp, Some(sp)), &a);
        // Units stay aligned: 0902 is not a pad unit.
        assert_eq!(
            strip_pad(&[0x09, 0x02, 0x09], Some(sp)),
            &[0x09, 0x02, 0x09]
        );
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

    /// The in-place keys are the built keys, for generated values of the
    /// kinds it answers (integers in every spelling, decimals, padded
    /// strings).
    #[test]
    fn in_place_keys_are_the_built_keys() {
        let parts: [&[u8]; 9] = [b"", b"-", b"0", b"00", b"7", b"12", b".", b" ", b"5"];
        let orders = [
            ValueOrder::Integer,
            ValueOrder::Decimal,
            ValueOrder::PaddedBytes,
            ValueOrder::Bytes,
            ValueOrder::TemporalText,
        ];
        let mut answered = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let v = [a, b, c].concat();
                    for o in &orders {
                        if let Some(k) = equality_key_in_place(o, &v) {
                            answered += 1;
                            assert_eq!(Some(k.to_vec()), equality_key(o, Some(&v)), "{o:?} {v:?}");
                        }
                    }
                }
            }
        }
        assert!(answered > 1000, "{answered}");
    }
}
