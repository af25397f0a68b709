//! The *shape* of a text statement: its text with the literals that only
//! feed routing (`WHERE id = 42`, `IN (1, 2)`, `BETWEEN '2026-01-01' AND
//! …`) replaced by `?`, so that `… WHERE id = 1` and `… WHERE id = 2` share
//! one cached analysis. Applications send the same statement with new
//! literals all the time (sysbench, ORMs without server-side prepares);
//! without this every one of them would be parsed again.
//!
//! Owns: choosing which literals may become placeholders and putting their
//! text back into the planned shard SQL. Must not decide routing: the
//! analysis and the plan treat a shape placeholder exactly like a prepared
//! statement's `?`, resolved with the literal's own value and kind
//! ([`ShardKey::from_literal`](crate::placement::ShardKey::from_literal)),
//! so a shape plans to what the original text plans to.
//!
//! Only literals whose replacement cannot change what the analysis sees are
//! taken, conservatively: in SELECT, UPDATE and DELETE statements, after the
//! first `WHERE`, before any `GROUP`/`HAVING`/`ORDER`/`LIMIT`/`UNION`/…
//! keyword (those clauses are evaluated or merged by the proxy, positions
//! in them are not values), as the whole right operand of a comparison, an
//! item of an `IN (…)` list or an operand of `BETWEEN … AND …`. Plain
//! integers and single-quoted strings without backslashes only. Anything
//! else keeps its literal and the statement is cached by its exact text.

use std::borrow::Cow;
use std::ops::Range;

use crate::placement::LiteralKind;
use crate::sql::{Lexer, Token, TokenKind};

use super::lex::unescape_string;

/// A literal of the original text replaced by `?` in the shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShapeLiteral<'s> {
    /// Where the literal is in the original text (copied back verbatim).
    pub source: Range<usize>,
    /// Its value as the analysis would read it (quotes removed, escapes
    /// resolved): borrowed from the text unless an escape was resolved.
    pub value: Cow<'s, str>,
    pub kind: LiteralKind,
}

/// What one scan of a statement found.
#[derive(Debug, Default)]
pub(crate) struct Scan<'s> {
    /// A word (or quoted identifier) of the text names a table with a rule.
    pub mentions_rule_table: bool,
    /// The shape text, when at least one literal could be replaced.
    pub shape: Option<(String, Vec<ShapeLiteral<'s>>)>,
}

/// Operators whose right operand may become a placeholder.
const COMPARISONS: &[&str] = &["=", "<=>", "!=", "<>", "<", "<=", ">", ">="];

/// Words after which nothing is replaced any more: the proxy evaluates or
/// merges these clauses, or their numbers are positions and counts.
const STOP_WORDS: &[&str] = &[
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "WINDOW",
    "INTO",
    "PROCEDURE",
];

/// Words that may follow a replaced operand (it then stands alone).
const AFTER_OPERAND: &[&str] = &[
    "AND", "OR", "XOR", "ORDER", "GROUP", "LIMIT", "HAVING", "UNION", "FOR", "LOCK", "WINDOW",
];

/// One pass over `sql`: whether it mentions a rule table (`is_rule_table`
/// on every word), and its shape.
pub(crate) fn scan(sql: &str, is_rule_table: impl Fn(&str) -> bool) -> Scan<'_> {
    let mut tokens: Vec<Token> = Vec::with_capacity(32);
    tokens.extend(Lexer::new(sql.as_bytes()).filter(|t| !t.is_trivia()));
    scan_tokens(sql, &tokens, is_rule_table)
}

/// [`scan`] over the significant tokens of `sql` that a default
/// [`Lexer`] pass yields (the classifier's, kept): no second lexer pass.
pub(crate) fn scan_tokens<'s>(
    sql: &'s str,
    tokens: &[Token],
    is_rule_table: impl Fn(&str) -> bool,
) -> Scan<'s> {
    let src = sql.as_bytes();
    let mentions = tokens.iter().any(|t| match t.kind {
        TokenKind::Word => is_rule_table(t.text(sql)),
        TokenKind::QuotedIdent => is_rule_table(crate::sql::lexer::unquote(t.bytes(src)).as_ref()),
        _ => false,
    });
    let shape = if mentions {
        shape_of(sql, tokens)
    } else {
        None
    };
    Scan {
        mentions_rule_table: mentions,
        shape,
    }
}

fn shape_of<'s>(sql: &'s str, toks: &[Token]) -> Option<(String, Vec<ShapeLiteral<'s>>)> {
    let src = sql.as_bytes();
    let first = toks.first()?;
    if !["SELECT", "UPDATE", "DELETE"]
        .iter()
        .any(|k| first.is_keyword(src, k))
    {
        return None;
    }
    // A text statement with a `?` is an error the server should report.
    if toks.iter().any(|t| t.kind == TokenKind::Placeholder) {
        return None;
    }
    let mut literals: Vec<ShapeLiteral> = Vec::new();
    let mut seen_where = false;
    let mut depth = 0usize;
    // Paren depths of the open `IN (` lists.
    let mut in_lists: Vec<usize> = Vec::new();
    // Index of the AND that closes a replaced BETWEEN's low operand.
    let mut between_and: Option<usize> = None;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokenKind::Punct if t.is_punct(src, "(") => {
                depth += 1;
                if i > 0 && toks[i - 1].is_keyword(src, "IN") {
                    in_lists.push(depth);
                }
                continue;
            }
            TokenKind::Punct if t.is_punct(src, ")") => {
                if in_lists.last() == Some(&depth) {
                    in_lists.pop();
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            TokenKind::Word => {
                if t.is_keyword(src, "WHERE") {
                    seen_where = true;
                } else if STOP_WORDS.iter().any(|k| t.is_keyword(src, k)) {
                    break;
                }
                continue;
            }
            TokenKind::Number | TokenKind::String if seen_where => {}
            _ => continue,
        }
        let Some(prev) = i.checked_sub(1).map(|p| &toks[p]) else {
            continue;
        };
        let next = toks.get(i + 1);
        let ends_operand = |n: Option<&Token>| match n {
            None => true,
            Some(n) => {
                [")", ",", ";"].iter().any(|p| n.is_punct(src, p))
                    || AFTER_OPERAND.iter().any(|k| n.is_keyword(src, k))
            }
        };
        let in_list_item = in_lists.last() == Some(&depth)
            && (prev.is_punct(src, "(") || prev.is_punct(src, ","))
            && next.is_some_and(|n| n.is_punct(src, ",") || n.is_punct(src, ")"));
        let comparison = prev.kind == TokenKind::Punct
            && COMPARISONS.iter().any(|op| prev.is_punct(src, op))
            && ends_operand(next);
        let between_low =
            prev.is_keyword(src, "BETWEEN") && next.is_some_and(|n| n.is_keyword(src, "AND"));
        let between_high = between_and == Some(i - 1) && ends_operand(next);
        if !(in_list_item || comparison || between_low || between_high) {
            continue;
        }
        let Some(literal) = literal_of(sql, t) else {
            continue;
        };
        if between_low {
            between_and = Some(i + 1);
        }
        literals.push(literal);
    }
    if literals.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(sql.len());
    let mut at = 0;
    for l in &literals {
        text.push_str(sql.get(at..l.source.start)?);
        text.push('?');
        at = l.source.end;
    }
    text.push_str(sql.get(at..)?);
    Some((text, literals))
}

/// A plain integer or a single-quoted string without backslashes (whose
/// reading does not depend on `NO_BACKSLASH_ESCAPES`).
pub(crate) fn literal_of<'s>(sql: &'s str, t: &Token) -> Option<ShapeLiteral<'s>> {
    let text = t.text(sql);
    if t.unterminated {
        return None;
    }
    let (value, kind) = match t.kind {
        TokenKind::Number
            if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (Cow::Borrowed(text), LiteralKind::Number)
        }
        TokenKind::String
            if text.len() >= 2
                && text.starts_with('\'')
                && text.ends_with('\'')
                && !text.contains('\\') =>
        {
            let inner = text.get(1..text.len() - 1)?;
            let value = match inner.contains('\'') {
                false => Cow::Borrowed(inner),
                true => Cow::Owned(unescape_string(inner, '\'')),
            };
            (value, LiteralKind::String)
        }
        _ => return None,
    };
    Some(ShapeLiteral {
        source: t.span(),
        value,
        kind,
    })
}

/// `shape_sql` (a shard statement rendered from the shape) with its
/// placeholders replaced by the original literals: `params[k]` is the
/// shape literal of the k-th placeholder. `None` if the placeholders do not
/// match (the caller then plans the original text).
pub(crate) fn restore(
    shape_sql: &str,
    params: &[usize],
    original: &str,
    literals: &[ShapeLiteral],
) -> Option<String> {
    let mut out = String::with_capacity(shape_sql.len() + 16 * params.len());
    let mut at = 0;
    let mut k = 0;
    let mut put = |start: usize, end: usize, out: &mut String| -> Option<()> {
        let literal = literals.get(*params.get(k)?)?;
        out.push_str(shape_sql.get(at..start)?);
        out.push_str(original.get(literal.source.clone())?);
        at = end;
        k += 1;
        Some(())
    };
    match plain_placeholders(shape_sql) {
        Some(positions) => {
            for p in positions {
                put(p, p + 1, &mut out)?;
            }
        }
        None => {
            for t in Lexer::new(shape_sql.as_bytes()) {
                if t.kind == TokenKind::Placeholder {
                    put(t.start, t.end, &mut out)?;
                }
            }
        }
    }
    if k != params.len() {
        return None;
    }
    out.push_str(shape_sql.get(at..)?);
    Some(out)
}

/// The byte offsets of the `?` placeholders of a shard statement rendered
/// from a shape, as [`restore`] finds them: kept with a target that is
/// restored again and again ([`restore_at`]).
pub(crate) fn placeholder_offsets(shape_sql: &str) -> Vec<usize> {
    match plain_placeholders(shape_sql) {
        Some(positions) => positions,
        None => Lexer::new(shape_sql.as_bytes())
            .filter(|t| t.kind == TokenKind::Placeholder)
            .map(|t| t.start)
            .collect(),
    }
}

/// [`restore`] with the placeholders' offsets known
/// ([`placeholder_offsets`] of `shape_sql`): the same text, without
/// scanning for them.
pub(crate) fn restore_at(
    shape_sql: &str,
    offsets: &[usize],
    params: &[usize],
    original: &str,
    literals: &[ShapeLiteral],
) -> Option<String> {
    if offsets.len() != params.len() {
        return None;
    }
    let mut out = String::with_capacity(shape_sql.len() + 16 * params.len());
    let mut at = 0;
    for (&p, &k) in offsets.iter().zip(params) {
        let literal = literals.get(k)?;
        out.push_str(shape_sql.get(at..p)?);
        out.push_str(original.get(literal.source.clone())?);
        at = p + 1;
    }
    out.push_str(shape_sql.get(at..)?);
    Some(out)
}

/// The `?` positions of a text without comments or backslashes, found
/// without the lexer: when it has no `#`, `/`, `-` or `\` byte, the only
/// quoting left is strings and identifiers in `'`, `"` or backticks
/// (a doubled quote inside one closes and reopens it: the same bytes
/// stay quoted), and a `?` outside them is a placeholder. The merge's
/// weight columns put `' '` into a scattered SELECT's target text, which
/// would otherwise send every such target through the lexer. `None` for
/// any other text (the caller lexes it).
fn plain_placeholders(sql: &str) -> Option<Vec<usize>> {
    let b = sql.as_bytes();
    if memchr::memchr3(b'#', b'/', b'-', b).is_some() || memchr::memchr(b'\\', b).is_some() {
        return None;
    }
    // From quote to quote, vectorised: the `?` between quoted runs, then
    // the run's closing quote (none: the rest is quoted).
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let open = memchr::memchr3(b'\'', b'"', b'`', &b[i..]).map_or(b.len(), |q| i + q);
        out.extend(memchr::memchr_iter(b'?', &b[i..open]).map(|p| i + p));
        let Some(&quote) = b.get(open) else {
            break;
        };
        match memchr::memchr(quote, &b[open + 1..]) {
            Some(e) => i = open + 1 + e + 1,
            None => break,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(sql: &str) -> Option<String> {
        scan(sql, |w| w.eq_ignore_ascii_case("t"))
            .shape
            .map(|s| s.0)
    }

    #[test]
    fn comparison_in_and_between_operands_become_placeholders() {
        assert_eq!(
            shape("SELECT c FROM t WHERE id=4711").as_deref(),
            Some("SELECT c FROM t WHERE id=?")
        );
        assert_eq!(
            shape("select * from t where id in (1, 2,3) and name = 'o''k'").as_deref(),
            Some("select * from t where id in (?, ?,?) and name = ?")
        );
        assert_eq!(
            shape("DELETE FROM t WHERE d BETWEEN '2026-01-01' AND '2026-02-01' LIMIT 5").as_deref(),
            Some("DELETE FROM t WHERE d BETWEEN ? AND ? LIMIT 5")
        );
        assert_eq!(
            shape("UPDATE t SET a = 5 WHERE id = 7").as_deref(),
            Some("UPDATE t SET a = 5 WHERE id = ?")
        );
    }

    #[test]
    fn values_that_are_not_plain_operands_stay() {
        for sql in [
            "SELECT 1 FROM t WHERE id = 5 + 1",
            "SELECT 1 FROM t WHERE id = -5",
            "SELECT 1 FROM t WHERE 5 = id",
            "SELECT 1 FROM t WHERE id = 1.5",
            "SELECT 1 FROM t WHERE id = 0x10",
            "SELECT 1 FROM t WHERE s = 'a\\'b'",
            "SELECT 1 FROM t WHERE s = _utf8mb4'x'",
            "SELECT 1 FROM t WHERE s = 'a' 'b'",
            "SELECT 1 FROM t WHERE s = N'x'",
            "SELECT 1 FROM t WHERE s = \"x\"",
            "SELECT 1 FROM t WHERE d = DATE '2026-01-01'",
            "SELECT 1 FROM t WHERE id IN (SELECT 1 FROM t)",
            "SELECT 1 FROM t WHERE id = ?",
            "SELECT 1 FROM t GROUP BY a HAVING COUNT(*) > 5",
            "SELECT a = 5 FROM t",
            "INSERT INTO t (id) VALUES (5)",
            "SELECT 1 FROM u WHERE id = 5",
        ] {
            assert_eq!(shape(sql), None, "{sql}");
        }
        assert_eq!(
            shape("SELECT 1 FROM t WHERE id = 5 GROUP BY a HAVING COUNT(*) > 5 ORDER BY 1")
                .as_deref(),
            Some("SELECT 1 FROM t WHERE id = ? GROUP BY a HAVING COUNT(*) > 5 ORDER BY 1")
        );
        assert_eq!(
            shape("SELECT 1 FROM t WHERE a = 1 AND b BETWEEN x AND 5").as_deref(),
            Some("SELECT 1 FROM t WHERE a = ? AND b BETWEEN x AND 5")
        );
    }

    #[test]
    fn restore_puts_the_literals_back() {
        let sql = "SELECT c FROM t WHERE id IN (1, 'x') /* ? */";
        let s = scan(sql, |w| w == "t");
        let (text, literals) = s.shape.expect("a shape");
        assert_eq!(text, "SELECT c FROM t WHERE id IN (?, ?) /* ? */");
        assert_eq!(literals[1].value, "x");
        let shard = "SELECT c FROM t_1 AS `t` WHERE id IN (?) /* ? */";
        assert_eq!(
            restore(shard, &[1], sql, &literals).as_deref(),
            Some("SELECT c FROM t_1 AS `t` WHERE id IN ('x') /* ? */")
        );
        assert_eq!(restore(shard, &[], sql, &literals), None);
        assert_eq!(restore(shard, &[5], sql, &literals), None);
    }

    /// The lexer-free placeholder scan finds exactly the lexer's
    /// placeholders whenever it answers, over generated texts.
    #[test]
    fn plain_placeholder_scan_agrees_with_the_lexer() {
        let parts = [
            "SELECT c FROM t_0 AS `t` WHERE id = ",
            "?",
            "`a?b`",
            "`x``?`",
            " AND ",
            "'?'",
            "/* ? */",
            "-- ?\n",
            "#?\n",
            "\"?\"",
            "'a''?'",
            "\"'?\"",
            "a?b",
            "??",
            "`",
            "'",
        ];
        let mut answered = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let sql = format!("{a}{b}{c}");
                    let lexed: Vec<usize> = Lexer::new(sql.as_bytes())
                        .filter(|t| t.kind == TokenKind::Placeholder)
                        .map(|t| t.start)
                        .collect();
                    // Restoring at the kept offsets is restoring.
                    let literals: Vec<ShapeLiteral> = (0..lexed.len())
                        .map(|i| ShapeLiteral {
                            source: i..i + 1,
                            value: Cow::Borrowed(""),
                            kind: LiteralKind::Number,
                        })
                        .collect();
                    let original = "0123456789abcdefghijklmnopqrstuvwxyz".repeat(4);
                    let params: Vec<usize> = (0..lexed.len()).rev().collect();
                    assert_eq!(
                        restore_at(
                            &sql,
                            &placeholder_offsets(&sql),
                            &params,
                            &original,
                            &literals
                        ),
                        restore(&sql, &params, &original, &literals),
                        "{sql}"
                    );
                    let found = plain_placeholders(&sql);
                    if let Some(found) = found {
                        // An unterminated backtick ends the text: the lexer
                        // finds no placeholder after it, nor does the scan.
                        assert_eq!(found, lexed, "{sql}");
                        answered += 1;
                    }
                }
            }
        }
        assert!(answered > 300, "{answered}");
    }
}
