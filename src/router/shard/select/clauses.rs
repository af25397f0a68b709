//! Locating a SELECT's clauses and items in the token stream: the
//! [`Ctx`] of one statement (text, tokens, line index, placeholders), the
//! items of `GROUP BY`/`ORDER BY`, the LIMIT clause, where the HAVING
//! clause ends and where a new clause can be inserted.
//!
//! Owns: byte and token positions of clauses. Must not decide how answers
//! merge (see the sibling files).

use super::*;

pub(super) struct Ctx<'q> {
    pub(super) sql: &'q str,
    pub(super) toks: &'q Tokens<'q>,
    pub(super) lines: &'q LineIndex<'q>,
    pub(super) placeholders: Vec<usize>,
    /// Whether an expression is an ENUM/SET column (sorted by position).
    pub(super) is_enum: &'q dyn Fn(&Expr) -> bool,
    /// Whether an expression is an integer, DECIMAL or temporal column.
    pub(super) is_plain: &'q dyn Fn(&Expr) -> bool,
}

/// How a merge key compares, as far as the planner knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyKind {
    /// Possibly a collated string: the server's weights are returned.
    Weighed,
    /// An ENUM/SET column: its member position is returned.
    Enum,
    /// A column of a type compared natively: nothing is returned.
    Plain,
}

impl Ctx<'_> {
    pub(super) fn kind(&self, e: &Expr) -> KeyKind {
        if (self.is_enum)(e) {
            KeyKind::Enum
        } else if (self.is_plain)(e) {
            KeyKind::Plain
        } else {
            KeyKind::Weighed
        }
    }

    /// Token ranges of a comma list after `keyword1 keyword2` at depth 0,
    /// searching from token `from`.
    pub(super) fn clause_items(
        &self,
        from: usize,
        k1: &str,
        k2: &str,
    ) -> Option<Vec<Range<usize>>> {
        let mut depth = 0usize;
        let mut i = from;
        while i < self.toks.toks.len() {
            if self.toks.is_punct(i, "(") {
                depth += 1;
            } else if self.toks.is_punct(i, ")") {
                if depth == 0 {
                    return None;
                }
                depth -= 1;
            } else if depth == 0 && self.toks.is_kw(i, k1) && self.toks.is_kw(i + 1, k2) {
                let (items, _) = self
                    .toks
                    .split_list(i + 2, |t, j| is_clause_keyword(t, j) || t.is_kw(j, "WITH"));
                return items.iter().map(|r| self.toks.byte_range(r)).collect();
            }
            i += 1;
        }
        None
    }

    /// Token index of `keyword` at depth 0 from token `from`.
    pub(super) fn keyword_at_depth0(&self, from: usize, keyword: &str) -> Option<usize> {
        let mut depth = 0usize;
        for i in from..self.toks.toks.len() {
            if self.toks.is_punct(i, "(") {
                depth += 1;
            } else if self.toks.is_punct(i, ")") {
                depth = depth.checked_sub(1)?;
            } else if depth == 0 && self.toks.is_kw(i, keyword) {
                return Some(i);
            }
        }
        None
    }

    /// An ORDER BY item's bytes without a trailing ASC/DESC.
    pub(super) fn strip_direction(&self, range: Range<usize>) -> Range<usize> {
        let last = self.toks.index_at(range.end).saturating_sub(1);
        if (self.toks.is_kw(last, "ASC") || self.toks.is_kw(last, "DESC")) && last > 0 {
            let end = self.toks.toks[last - 1].end;
            if end > range.start {
                return range.start..end;
            }
        }
        range
    }

    pub(super) fn limit_val(&self, e: &Expr) -> Result<LimitVal, String> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => n
                    .parse::<u64>()
                    .map(LimitVal::Lit)
                    .map_err(|_| format!("LIMIT value `{n}` is not a non-negative integer")),
                Value::Placeholder(p) if p == "?" => {
                    let offset = self
                        .lines
                        .offset(v.span.start)
                        .ok_or("cannot locate a LIMIT parameter")?;
                    self.placeholders
                        .binary_search(&offset)
                        .map(LimitVal::Param)
                        .map_err(|_| "cannot locate a LIMIT parameter".to_owned())
                }
                _ => Err(format!("LIMIT `{e}` is not a number")),
            },
            _ => Err(format!("LIMIT `{e}` is not a number")),
        }
    }

    /// The LIMIT clause: values and bytes (from `LIMIT` on).
    pub(super) fn limit(&self, q: &Query, from_token: usize) -> Result<Option<LimitInfo>, String> {
        let Some(clause) = &q.limit_clause else {
            return Ok(None);
        };
        let (limit, offset) = match clause {
            LimitClause::LimitOffset {
                limit: Some(limit),
                offset,
                limit_by,
            } if limit_by.is_empty() => (limit, offset.as_ref().map(|o| &o.value)),
            LimitClause::OffsetCommaLimit { offset, limit } => (limit, Some(offset)),
            _ => return Err("this LIMIT form cannot be merged across shards".to_owned()),
        };
        let kw = self
            .keyword_at_depth0(from_token, "LIMIT")
            .ok_or("cannot locate the LIMIT clause")?;
        let mut end = 0;
        for e in [Some(limit), offset].into_iter().flatten() {
            let Expr::Value(v) = e else {
                return Err(format!("LIMIT `{e}` is not a number"));
            };
            let r = self
                .lines
                .range(v.span)
                .ok_or("cannot locate the LIMIT clause")?;
            end = end.max(r.end);
        }
        // From the end of the token before LIMIT, so that removing the
        // clause leaves no trailing space.
        let start = kw
            .checked_sub(1)
            .and_then(|i| self.toks.toks.get(i))
            .map_or(self.toks.toks[kw].start, |t| t.end);
        Ok(Some(LimitInfo {
            range: start..end,
            limit: self.limit_val(limit)?,
            offset: offset.map(|o| self.limit_val(o)).transpose()?,
        }))
    }
}

/// The edit removing the HAVING clause (from the end of the token before
/// `HAVING` to the end of its condition).
pub(super) fn having_removal(ctx: &Ctx<'_>, from: usize) -> Result<Edit, String> {
    let kw = ctx
        .keyword_at_depth0(from, "HAVING")
        .ok_or("cannot locate the HAVING clause")?;
    let mut depth = 0usize;
    let mut last = kw;
    for i in kw + 1..ctx.toks.toks.len() {
        if ctx.toks.is_punct(i, "(") {
            depth += 1;
        } else if ctx.toks.is_punct(i, ")") {
            if depth == 0 {
                break;
            }
            depth -= 1;
        } else if depth == 0 && (is_clause_keyword(ctx.toks, i) || ctx.toks.is_punct(i, ";")) {
            break;
        }
        last = i;
    }
    if last == kw {
        return Err("cannot locate the HAVING condition".to_owned());
    }
    let start = kw
        .checked_sub(1)
        .and_then(|i| ctx.toks.toks.get(i))
        .map_or(ctx.toks.toks[kw].start, |t| t.end);
    Ok(Edit {
        range: start..ctx.toks.toks[last].end,
        pieces: Vec::new(),
    })
}

/// Where a clause can be inserted after FROM/WHERE: the end of the token
/// before the first of HAVING, WINDOW, ORDER, LIMIT, FOR, LOCK, INTO or the
/// end of the statement (at depth 0, from token `from`).
pub(super) fn clause_insertion_point(ctx: &Ctx<'_>, from: usize) -> usize {
    const AFTER: &[&str] = &["HAVING", "WINDOW", "ORDER", "LIMIT", "FOR", "LOCK", "INTO"];
    let mut depth = 0usize;
    let mut end = ctx.toks.toks.len();
    for i in from..ctx.toks.toks.len() {
        if ctx.toks.is_punct(i, "(") {
            depth += 1;
        } else if ctx.toks.is_punct(i, ")") {
            if depth == 0 {
                end = i;
                break;
            }
            depth -= 1;
        } else if depth == 0
            && (ctx.toks.is_punct(i, ";") || AFTER.iter().any(|k| ctx.toks.is_kw(i, k)))
        {
            end = i;
            break;
        }
    }
    end.checked_sub(1)
        .and_then(|i| ctx.toks.toks.get(i))
        .map_or(ctx.sql.len(), |t| t.end)
}

/// The bytes of an aliased item's expression (without `AS alias`).
pub(super) fn expr_range(
    ctx: &Ctx<'_>,
    item: &Range<usize>,
    _e: &Expr,
    alias: &ast::Ident,
) -> Option<Range<usize>> {
    let alias_at = ctx.lines.range(alias.span)?;
    let mut i = ctx.toks.index_at(alias_at.start).checked_sub(1)?;
    if ctx.toks.is_kw(i, "AS") {
        i = i.checked_sub(1)?;
    }
    let end = ctx.toks.toks.get(i)?.end;
    (end > item.start).then_some(item.start..end)
}
