//! Rewriting by splicing: replacing byte ranges of the original text.
//!
//! Owns: [`Splice`] and [`apply_splices`]. Rewrites never go through
//! sqlparser's `Display`, which drops comments, unwraps `/*! */`, turns
//! `0x1F` into `X'1F'` and prints `SET SESSION TRANSACTION` without
//! `SESSION`; everything outside the replaced ranges is kept byte for byte.
//!
//! Must not touch: deciding *what* to replace (the router builds the
//! splices from [`super::parse::TableRef`] spans or token spans).

use std::ops::Range;

/// Replace `range` (bytes of the original text) with `replacement`. An
/// empty range inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    /// The byte range to replace.
    pub range: Range<usize>,
    /// The text to put there.
    pub replacement: String,
}

/// Why a set of splices cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpliceError {
    /// A range ends before it starts, or past the end of the text.
    #[error("splice range {start}..{end} is invalid for a text of {len} bytes")]
    OutOfBounds {
        /// Range start.
        start: usize,
        /// Range end.
        end: usize,
        /// Text length.
        len: usize,
    },
    /// A range boundary falls inside a UTF-8 character.
    #[error("splice boundary {offset} is not on a character boundary")]
    NotCharBoundary {
        /// The offending offset.
        offset: usize,
    },
    /// Two ranges overlap.
    #[error("splice ranges {first:?} and {second:?} overlap")]
    Overlap {
        /// The earlier range.
        first: Range<usize>,
        /// The range that starts inside it.
        second: Range<usize>,
    },
}

/// Applies `splices` to `sql`. The splices are sorted in place by range
/// (insertions at the same offset keep their given order); they must not
/// overlap, though they may touch.
pub fn apply_splices(sql: &str, splices: &mut [Splice]) -> Result<String, SpliceError> {
    splices.sort_by_key(|s| (s.range.start, s.range.end));
    let mut prev: Option<&Range<usize>> = None;
    let mut extra = 0usize;
    for splice in splices.iter() {
        let Range { start, end } = splice.range;
        if start > end || end > sql.len() {
            return Err(SpliceError::OutOfBounds {
                start,
                end,
                len: sql.len(),
            });
        }
        for offset in [start, end] {
            if !sql.is_char_boundary(offset) {
                return Err(SpliceError::NotCharBoundary { offset });
            }
        }
        if let Some(p) = prev.filter(|p| p.end > start) {
            return Err(SpliceError::Overlap {
                first: p.clone(),
                second: splice.range.clone(),
            });
        }
        prev = Some(&splice.range);
        extra += splice.replacement.len();
    }
    let mut out = String::with_capacity(sql.len() + extra);
    let mut at = 0;
    for splice in splices.iter() {
        // Bounds and boundaries were checked above.
        out.push_str(sql.get(at..splice.range.start).unwrap_or_default());
        out.push_str(&splice.replacement);
        at = splice.range.end;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::{parse, table_references};

    fn splice(range: Range<usize>, replacement: &str) -> Splice {
        Splice {
            range,
            replacement: replacement.to_owned(),
        }
    }

    #[test]
    fn applies_sorted_touching_and_inserting_splices() {
        let mut splices = vec![
            splice(4..5, "X"),
            splice(0..1, "AA"),
            splice(1..1, "+"),
            splice(5..5, "!"),
        ];
        assert_eq!(apply_splices("abcdef", &mut splices).unwrap(), "AA+bcdX!f");
        assert_eq!(apply_splices("abc", &mut []).unwrap(), "abc");
    }

    #[test]
    fn rejects_bad_splices() {
        let cases: Vec<(&str, Vec<Splice>, SpliceError)> = vec![
            (
                "abc",
                vec![splice(2..4, "")],
                SpliceError::OutOfBounds {
                    start: 2,
                    end: 4,
                    len: 3,
                },
            ),
            (
                "abc",
                vec![Splice {
                    range: Range { start: 2, end: 1 },
                    replacement: String::new(),
                }],
                SpliceError::OutOfBounds {
                    start: 2,
                    end: 1,
                    len: 3,
                },
            ),
            (
                "ü",
                vec![splice(1..2, "")],
                SpliceError::NotCharBoundary { offset: 1 },
            ),
            (
                "abcdef",
                vec![splice(2..4, ""), splice(0..3, "")],
                SpliceError::Overlap {
                    first: 0..3,
                    second: 2..4,
                },
            ),
        ];
        for (sql, mut splices, want) in cases {
            assert_eq!(apply_splices(sql, &mut splices), Err(want), "{sql}");
        }
    }

    /// Replaces every reference to table `t` by `t_0003` and checks the
    /// rest of the text is untouched.
    #[test]
    fn table_rename_keeps_everything_else_byte_for_byte() {
        let cases = [
            (
                "/* shardcat:primary */ SELECT /*+ NO_ICP(t) */ a, 0x1F, 'x\\'y\\\\' -- c\nFROM t WHERE b = _utf8mb4'ü' # end",
                "/* shardcat:primary */ SELECT /*+ NO_ICP(t) */ a, 0x1F, 'x\\'y\\\\' -- c\nFROM t_0003 WHERE b = _utf8mb4'ü' # end",
            ),
            (
                "UPDATE `t` SET s = 'a\\nb', h = X'0A' WHERE id = 1 /* tail */",
                "UPDATE `t_0003` SET s = 'a\\nb', h = X'0A' WHERE id = 1 /* tail */",
            ),
            (
                "INSERT INTO db.t (a) VALUES ('\\0', 0x1F)",
                "INSERT INTO db.t_0003 (a) VALUES ('\\0', 0x1F)",
            ),
        ];
        for (sql, want) in cases {
            let stmts = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let mut splices: Vec<Splice> = table_references(sql, &stmts[0])
                .into_iter()
                .filter(|r| r.name == "t")
                .map(|r| {
                    let quoted = sql[r.name_span.clone()].starts_with('`');
                    let name = if quoted { "`t_0003`" } else { "t_0003" };
                    splice(r.name_span, name)
                })
                .collect();
            assert!(!splices.is_empty(), "{sql}");
            assert_eq!(apply_splices(sql, &mut splices).unwrap(), want);
        }
    }

    #[test]
    fn set_session_transaction_survives_when_spliced() {
        let sql = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SELECT * FROM t";
        let stmts = parse(sql).unwrap();
        assert_eq!(stmts.len(), 2);
        let mut splices: Vec<Splice> = table_references(sql, &stmts[1])
            .into_iter()
            .map(|r| splice(r.span, "t_1"))
            .collect();
        assert_eq!(
            apply_splices(sql, &mut splices).unwrap(),
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SELECT * FROM t_1"
        );
    }
}
