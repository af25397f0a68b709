//! Positions in the statement text: sqlparser line/column spans to bytes,
//! and token-level scanning where AST spans are not precise enough (list
//! items, clause keywords, the end of a select list).

use std::ops::Range;

use crate::sql::lexer::Lexer;
use crate::sql::{Token, TokenKind};
use sqlparser::tokenizer::{Location, Span};

/// Maps sqlparser locations (1-based line, `char` column) to byte offsets.
///
/// Lookups must not walk the line from its start: mysqldump writes an
/// extended INSERT of thousands of rows on one line, and the analysis looks
/// up several positions per row, so that walk made planning quadratic in
/// the number of rows. Pure ASCII text (the usual case) maps a column to a
/// byte directly; otherwise the byte offset of every [`CHECKPOINT`]-th
/// `char` is kept (an eighth of the text's size at most), and a lookup
/// walks fewer than `CHECKPOINT` chars from the nearest one.
pub(crate) struct LineIndex<'a> {
    sql: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
    /// `char` index of the start of each line; empty when `sql` is ASCII
    /// (char index = byte offset).
    line_chars: Vec<usize>,
    /// Byte offset of `char` number `k * CHECKPOINT`; empty when ASCII.
    checkpoints: Vec<usize>,
    /// Number of `char`s in `sql`.
    chars: usize,
}

/// Distance in `char`s between two kept byte offsets of non-ASCII text.
const CHECKPOINT: usize = 64;

impl<'a> LineIndex<'a> {
    pub fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        if sql.is_ascii() {
            return LineIndex {
                sql,
                line_starts,
                line_chars: Vec::new(),
                checkpoints: Vec::new(),
                chars: sql.len(),
            };
        }
        let mut line_chars = vec![0];
        let mut checkpoints = Vec::with_capacity(sql.len() / CHECKPOINT + 1);
        let mut chars = 0;
        for (i, c) in sql.char_indices() {
            if chars % CHECKPOINT == 0 {
                checkpoints.push(i);
            }
            chars += 1;
            if c == '\n' {
                line_chars.push(chars);
            }
        }
        LineIndex {
            sql,
            line_starts,
            line_chars,
            checkpoints,
            chars,
        }
    }

    /// The byte offset of the `char` `column` chars after the start of
    /// `line` (counting on past the line's end, as a plain walk would); the
    /// end of the text when that is exactly one past the last `char`.
    pub fn offset(&self, loc: Location) -> Option<usize> {
        let line = usize::try_from(loc.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        if self.line_chars.is_empty() {
            // ASCII: chars are bytes.
            let at = self.line_starts.get(line)?.checked_add(column)?;
            return (at <= self.sql.len()).then_some(at);
        }
        let target = self.line_chars.get(line)?.checked_add(column)?;
        if target == self.chars {
            return Some(self.sql.len());
        }
        if target > self.chars {
            return None;
        }
        let from = *self.checkpoints.get(target / CHECKPOINT)?;
        let (i, _) = self
            .sql
            .get(from..)?
            .char_indices()
            .nth(target % CHECKPOINT)?;
        Some(from + i)
    }

    pub fn range(&self, span: Span) -> Option<Range<usize>> {
        let start = self.offset(span.start)?;
        let end = self.offset(span.end)?;
        (start < end).then_some(start..end)
    }
}

/// The significant (non-trivia) tokens of a statement.
pub(crate) struct Tokens<'a> {
    pub sql: &'a str,
    pub toks: Vec<Token>,
}

impl<'a> Tokens<'a> {
    pub fn new(sql: &'a str) -> Self {
        let toks = Lexer::new(sql.as_bytes())
            .filter(|t| !t.is_trivia())
            .collect();
        Tokens { sql, toks }
    }

    /// Byte offsets of the `?` placeholders, in order.
    pub fn placeholders(&self) -> Vec<usize> {
        self.toks
            .iter()
            .filter(|t| t.kind == TokenKind::Placeholder)
            .map(|t| t.start)
            .collect()
    }

    /// Index of the first token starting at or after `offset`.
    pub fn index_at(&self, offset: usize) -> usize {
        self.toks.partition_point(|t| t.start < offset)
    }

    pub fn is_kw(&self, i: usize, keyword: &str) -> bool {
        self.toks.get(i).is_some_and(|t| {
            t.kind == TokenKind::Word && t.is_keyword(self.sql.as_bytes(), keyword)
        })
    }

    pub fn is_punct(&self, i: usize, punct: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.kind == TokenKind::Punct && t.is_punct(self.sql.as_bytes(), punct))
    }

    pub fn text(&self, i: usize) -> &'a str {
        self.toks.get(i).map(|t| t.text(self.sql)).unwrap_or("")
    }

    /// Splits a comma-separated list starting at token `first` (just after
    /// an opening `(` or a clause keyword) into item token ranges `[a, b)`,
    /// stopping at an unmatched `)` or, at depth 0, at a token for which
    /// `stop` is true. Returns the items and the index of the stopping
    /// token.
    pub fn split_list(
        &self,
        first: usize,
        stop: impl Fn(&Self, usize) -> bool,
    ) -> (Vec<Range<usize>>, usize) {
        let mut items = Vec::new();
        let mut depth = 0usize;
        let mut item_start = first;
        let mut i = first;
        while i < self.toks.len() {
            if self.is_punct(i, "(") {
                depth += 1;
            } else if self.is_punct(i, ")") {
                if depth == 0 {
                    break;
                }
                depth -= 1;
            } else if depth == 0 && self.is_punct(i, ",") {
                items.push(item_start..i);
                item_start = i + 1;
            } else if depth == 0 && (self.is_punct(i, ";") || stop(self, i)) {
                break;
            }
            i += 1;
        }
        if item_start < i {
            items.push(item_start..i);
        }
        (items, i)
    }

    /// Byte range covered by tokens `[a, b)`.
    pub fn byte_range(&self, tokens: &Range<usize>) -> Option<Range<usize>> {
        let first = self.toks.get(tokens.start)?;
        let last = self.toks.get(tokens.end.checked_sub(1)?)?;
        Some(first.start..last.end)
    }

    /// Index of the `)` matching the `(` at `open`.
    pub fn matching_paren(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in open..self.toks.len() {
            if self.is_punct(i, "(") {
                depth += 1;
            } else if self.is_punct(i, ")") {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
        }
        None
    }
}

/// Keywords that end a select list or one of the clauses after it.
pub(crate) fn is_clause_keyword(t: &Tokens<'_>, i: usize) -> bool {
    const KEYWORDS: &[&str] = &[
        "FROM",
        "INTO",
        "WHERE",
        "GROUP",
        "HAVING",
        "WINDOW",
        "ORDER",
        "LIMIT",
        "FOR",
        "LOCK",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "PROCEDURE",
    ];
    KEYWORDS.iter().any(|k| t.is_kw(i, k))
}

/// MySQL string literal body (between the quotes) to its value:
/// backslash escapes (unless `no_backslash_escapes`) and doubled quotes.
pub(crate) fn unescape_string(body: &str, quote: char) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('Z') => out.push('\u{1a}'),
                Some('%') => out.push_str("\\%"),
                Some('_') => out.push_str("\\_"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            out.push(quote);
        } else {
            out.push(c);
        }
    }
    out
}

/// `name` as an identifier: bare when it is plain, backquoted otherwise or
/// when `quoted` (the original was quoted).
pub(crate) fn ident(name: &str, quoted: bool) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if plain && !quoted {
        name.to_owned()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_splitting_and_parens() {
        let sql = "x IN (1, -2, f(3, 4), 'a,b') AND y";
        let t = Tokens::new(sql);
        let open = (0..t.toks.len()).find(|&i| t.is_punct(i, "(")).unwrap();
        let (items, stop) = t.split_list(open + 1, |_, _| false);
        let texts: Vec<&str> = items
            .iter()
            .map(|r| &sql[t.byte_range(r).unwrap()])
            .collect();
        assert_eq!(texts, ["1", "-2", "f(3, 4)", "'a,b'"]);
        assert!(t.is_punct(stop, ")"));
        assert_eq!(t.matching_paren(open), Some(stop));
    }

    /// The plain walk from the line start that `LineIndex` replaces.
    fn walk(sql: &str, line: u64, column: u64) -> Option<usize> {
        let start = if line == 1 {
            0
        } else {
            sql.match_indices('\n')
                .nth(usize::try_from(line).ok()? - 2)?
                .0
                + 1
        };
        let rest = &sql[start..];
        let column = usize::try_from(column).ok()?.checked_sub(1)?;
        match rest.char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(sql.len()),
            None => None,
        }
    }

    #[test]
    fn line_index_agrees_with_a_walk_from_the_line_start() {
        let long: String = (0..40)
            .map(|i| format!("({i},'\u{e4}\u{1f600}'),"))
            .collect();
        for sql in [
            "",
            "SELECT 1",
            "a\nbc\n\nd",
            "x = '\u{e9}'\n  AND y = '\u{4e2d}\u{6587}'\n",
            long.as_str(),
            &format!("{long}\n{long}\nz"),
        ] {
            let index = LineIndex::new(sql);
            let lines = sql.matches('\n').count() as u64 + 1;
            for line in 0..=lines + 1 {
                for column in 0..=sql.chars().count() as u64 + 2 {
                    let loc = Location { line, column };
                    assert_eq!(
                        index.offset(loc),
                        if line == 0 {
                            None
                        } else {
                            walk(sql, line, column)
                        },
                        "{sql:?} {line}:{column}"
                    );
                }
            }
        }
    }

    #[test]
    fn unescape_and_ident() {
        assert_eq!(unescape_string(r"a\'b''c\\d\n\%", '\''), "a'b'c\\d\n\\%");
        assert_eq!(ident("orders_1", false), "orders_1");
        assert_eq!(ident("orders_1", true), "`orders_1`");
        assert_eq!(ident("we`ird x", false), "`we``ird x`");
        assert_eq!(ident("123", false), "`123`");
    }
}
