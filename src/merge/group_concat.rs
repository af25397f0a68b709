//! `GROUP_CONCAT` across shards: the shards group finer (by the group keys
//! plus the concatenated value and its ORDER BY keys) and return each value
//! with its multiplicity (`COUNT(*)` of the finer group); the merge sorts
//! the values of a group, repeats, joins them with the separator and cuts
//! the result at `group_concat_max_len` as the server does. Keys compare
//! by the server's weights when the row carries them (see
//! [`compare_at`]).
//!
//! Owns: the per-group state and the final string. Must not do I/O.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::compare::{compare_weights, equality_key_at, ValueOrder};
use super::row::TextRow;

/// Appended to the value's text by the shards (`CONCAT(value, '…')`) and
/// removed by the merge: it makes the server's column for the text wide
/// enough (see `select::groups`).
pub const TEXT_SUFFIX: &str = "~~~~~~~~";

/// One `GROUP_CONCAT` of the select list, over the shard row's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcatSpec {
    /// The (hidden) column carrying the concatenated value (NULL test,
    /// DISTINCT equality).
    pub value: usize,
    /// The (hidden) `CONCAT(value, TEXT_SUFFIX)`: the value's text as the
    /// server joins it (a binary row's canonical text of a DOUBLE is not
    /// it); without the suffix the value column is used.
    pub text: usize,
    /// ORDER BY keys inside GROUP_CONCAT: (hidden column, descending).
    pub order: Vec<(usize, bool)>,
    pub separator: Vec<u8>,
    /// `GROUP_CONCAT(DISTINCT …)`: each value once (under its collation).
    pub distinct: bool,
    /// The hidden `COUNT(*)` of the shard's finer group (the value's
    /// multiplicity).
    pub count: usize,
    /// The hidden `@@group_concat_max_len` of the shard session.
    pub max_len: usize,
}

struct Entry {
    /// The shard row: its ORDER BY keys and their weight columns.
    row: TextRow,
    value: Vec<u8>,
    times: u64,
}

/// The values gathered for one group.
#[derive(Default)]
pub struct ConcatState {
    entries: Vec<Entry>,
    seen: HashSet<Vec<u8>>,
    max_len: Option<u64>,
}

impl ConcatState {
    /// Adds a shard row; returns how many values were stored (memory
    /// budget).
    pub fn add(&mut self, spec: &ConcatSpec, row: &TextRow, orders: &[ValueOrder]) -> usize {
        if self.max_len.is_none() {
            self.max_len = row
                .value(spec.max_len)
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
        }
        // Rows whose value is NULL are skipped, as the server does.
        let Some(value) = row.value(spec.value) else {
            return 0;
        };
        let times = if spec.distinct {
            let Some(order) = orders.get(spec.value) else {
                return 0;
            };
            let key = equality_key_at(order, row, spec.value).unwrap_or_default();
            if !self.seen.insert(key) {
                return 0;
            }
            1
        } else {
            row.value(spec.count)
                .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(1)
        };
        if times == 0 {
            return 0;
        }
        let text = row
            .value(spec.text)
            .and_then(|t| t.strip_suffix(TEXT_SUFFIX.as_bytes()))
            .unwrap_or(value);
        self.entries.push(Entry {
            row: row.clone(),
            value: text.to_vec(),
            times,
        });
        1
    }

    /// The group's GROUP_CONCAT value (`None`: no non-NULL value).
    pub fn finish(mut self, spec: &ConcatSpec, orders: &[ValueOrder]) -> Option<Vec<u8>> {
        if self.entries.is_empty() {
            return None;
        }
        if !spec.order.is_empty() {
            self.entries.sort_by(|a, b| {
                for &(c, descending) in &spec.order {
                    let Some(order) = orders.get(c) else { continue };
                    let o = compare_key(order, &a.row, &b.row, c);
                    let o = if descending { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        // MariaDB's default; the shards always report theirs.
        let max = self.max_len.unwrap_or(1_048_576) as usize;
        let mut out: Vec<u8> = Vec::new();
        let mut first = true;
        'all: for e in &self.entries {
            for _ in 0..e.times {
                // Empty values still get their separator.
                if !first {
                    out.extend_from_slice(&spec.separator);
                }
                first = false;
                out.extend_from_slice(&e.value);
                if out.len() > max {
                    break 'all;
                }
            }
        }
        if out.len() > max {
            // Cut at `max` bytes, never inside a UTF-8 character.
            let mut cut = max;
            while cut > 0 && out.get(cut).is_some_and(|&b| b & 0xC0 == 0x80) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        Some(out)
    }
}

/// Compares ORDER BY key `c` of two shard rows as the server's
/// GROUP_CONCAT does: by weights where the row carries them, and with a
/// NULL key equal to its type's zero (`0`, `''`), not first: MariaDB
/// answers `GROUP_CONCAT(id ORDER BY i)` over i = NULL, 0, NULL, 0 in id
/// order.
fn compare_key(order: &ValueOrder, a: &TextRow, b: &TextRow, c: usize) -> Ordering {
    match order {
        ValueOrder::Weight { weight, pad, .. } => compare_weights(
            a.value(*weight).unwrap_or_default(),
            b.value(*weight).unwrap_or_default(),
            a.value(*pad).or(b.value(*pad)),
        ),
        ValueOrder::Index { index, .. } => {
            let zero: &[u8] = b"0";
            ValueOrder::Integer.compare(
                a.value(*index).unwrap_or(zero),
                b.value(*index).unwrap_or(zero),
            )
        }
        o => {
            let zero: &[u8] = match o {
                ValueOrder::Integer | ValueOrder::Decimal | ValueOrder::Float => b"0",
                ValueOrder::TemporalText => b"0000-00-00 00:00:00",
                ValueOrder::Time => b"00:00:00",
                _ => b"",
            };
            o.compare(a.value(c).unwrap_or(zero), b.value(c).unwrap_or(zero))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn row(values: &[Option<&str>]) -> TextRow {
        let owned: Vec<Option<Vec<u8>>> = values
            .iter()
            .map(|v| v.map(|s| s.as_bytes().to_vec()))
            .collect();
        let mut p = Vec::new();
        crate::merge::row::encode_values(&owned, &mut p);
        TextRow::decode(Bytes::from(p), values.len()).unwrap()
    }

    /// Columns: 0 value (string, general_ci), 1 order key (integer),
    /// 2 count, 3 max_len.
    fn orders() -> Vec<ValueOrder> {
        vec![
            ValueOrder::GeneralCi,
            ValueOrder::Integer,
            ValueOrder::Integer,
            ValueOrder::Integer,
        ]
    }

    fn spec(distinct: bool, order: Vec<(usize, bool)>) -> ConcatSpec {
        ConcatSpec {
            value: 0,
            text: 0,
            order,
            separator: b",".to_vec(),
            distinct,
            count: 2,
            max_len: 3,
        }
    }

    fn run(spec: &ConcatSpec, rows: &[[Option<&str>; 4]]) -> Option<String> {
        let o = orders();
        let mut st = ConcatState::default();
        for r in rows {
            st.add(spec, &row(r), &o);
        }
        st.finish(spec, &o)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn ordered_with_multiplicity_and_nulls() {
        let rows = [
            [Some("b"), Some("2"), Some("2"), Some("1024")],
            [Some("a"), Some("10"), Some("1"), Some("1024")],
            [None, Some("0"), Some("5"), Some("1024")],
            [Some("c"), None, Some("1"), Some("1024")],
        ];
        assert_eq!(
            run(&spec(false, vec![(1, false)]), &rows).as_deref(),
            Some("c,b,b,a")
        );
        assert_eq!(
            run(&spec(false, vec![(1, true)]), &rows).as_deref(),
            Some("a,b,b,c")
        );
        assert_eq!(
            run(&spec(false, vec![]), &[[None, None, Some("1"), Some("9")]]),
            None
        );
        let rows = [
            [Some(""), Some("1"), Some("1"), Some("1024")],
            [Some("x"), Some("2"), Some("1"), Some("1024")],
        ];
        assert_eq!(
            run(&spec(false, vec![(1, false)]), &rows).as_deref(),
            Some(",x")
        );
    }

    #[test]
    fn distinct_under_the_collation() {
        let rows = [
            [Some("Paris"), None, Some("3"), Some("1024")],
            [Some("PARIS"), None, Some("1"), Some("1024")],
            [Some("berlin"), None, Some("1"), Some("1024")],
        ];
        assert_eq!(
            run(&spec(true, vec![(0, false)]), &rows).as_deref(),
            Some("berlin,Paris")
        );
    }

    #[test]
    fn cut_at_max_len_on_a_character_boundary() {
        let rows = [
            [Some("ab"), Some("1"), Some("1"), Some("4")],
            [Some("é"), Some("2"), Some("3"), Some("4")],
        ];
        // "ab,é,é,é" cut at 4 bytes: "ab," + half of "é" → "ab,".
        assert_eq!(
            run(&spec(false, vec![(1, false)]), &rows).as_deref(),
            Some("ab,")
        );
        let rows = [[Some("abcdef"), Some("1"), Some("1"), Some("4")]];
        assert_eq!(run(&spec(false, vec![]), &rows).as_deref(), Some("abcd"));
    }
}
