//! The parts of one SELECT that its merge recipe is made from, located in
//! the text: the select list (after its modifiers), the GROUP BY and ORDER
//! BY items (expressions and bytes), DISTINCT, the LIMIT clause, and which
//! select item an ORDER BY or GROUP BY expression designates.
//!
//! Owns: [`SelectParts`] and the refusals found while reading them. Must
//! not decide how columns combine (see `groups` and `rows`).

use super::*;

/// A SELECT's clauses, read once for both merge paths.
pub(super) struct SelectParts<'q> {
    pub s: &'q Select,
    /// Byte ranges of the select items.
    pub items: Vec<Range<usize>>,
    /// Token index where the select list stops.
    pub list_stop: usize,
    /// End of the last select item.
    pub list_end: usize,
    pub wildcard_at: Option<usize>,
    pub group_exprs: Vec<&'q Expr>,
    pub order_exprs: Vec<&'q ast::OrderByExpr>,
    /// `ORDER BY NULL`: no order wanted (not even the GROUP BY one).
    pub no_order: bool,
    /// Grouped or aggregated (in the select list, HAVING or ORDER BY).
    pub grouped: bool,
    /// Grouped on a sharding key: whole groups are on one shard.
    pub key_grouped: bool,
    pub distinct: bool,
    pub order_ranges: Vec<Range<usize>>,
    pub group_ranges: Vec<Range<usize>>,
    pub limit: Option<LimitInfo>,
}

/// Select modifiers skipped before the select list.
pub(crate) const MODIFIERS: &[&str] = &[
    "ALL",
    "DISTINCT",
    "DISTINCTROW",
    "HIGH_PRIORITY",
    "STRAIGHT_JOIN",
    "SQL_SMALL_RESULT",
    "SQL_BIG_RESULT",
    "SQL_BUFFER_RESULT",
    "SQL_NO_CACHE",
    "SQL_CACHE",
];

impl<'q> SelectParts<'q> {
    pub(super) fn read(
        ctx: &Ctx<'_>,
        q: &'q Query,
        s: &'q Select,
        is_key: &dyn Fn(&Expr) -> bool,
    ) -> Result<Self, String> {
        if s.into.is_some() {
            return Err("SELECT … INTO cannot run on several shards".to_owned());
        }
        let (items, list_stop) = select_list(ctx, s)?;
        let list_end = items.last().map(|r| r.end).ok_or("empty select list")?;
        let wildcard_at = s.projection.iter().position(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        });

        let (agg_items, window_items) = find_aggregates(&s.projection);
        let (agg_having, _) = match &s.having {
            Some(h) => find_aggregates(h),
            None => (false, false),
        };
        let (agg_order, window_order) = match &q.order_by {
            Some(o) => find_aggregates(o),
            None => (false, false),
        };
        if window_items || window_order {
            return Err("window functions cannot be merged across shards".to_owned());
        }
        let group_exprs = group_by_exprs(s)?;
        let order_exprs = order_by_exprs(q)?;
        // `ORDER BY NULL`: no order wanted (not even the GROUP BY one).
        let no_order = matches!(order_exprs.as_slice(), [o] if matches!(&o.expr, Expr::Value(v) if matches!(v.value, Value::Null)));
        let grouped = !group_exprs.is_empty() || agg_items || agg_having || agg_order;
        let key_grouped = group_exprs.iter().any(|e| is_key(e));
        let distinct = match &s.distinct {
            Some(Distinct::Distinct) => true,
            Some(Distinct::On(_)) => return Err("DISTINCT ON is not MySQL".to_owned()),
            _ => false,
        };
        let after_list = ctx.toks.index_at(list_end);
        let order_ranges = if order_exprs.is_empty() {
            Vec::new()
        } else {
            let found = ctx
                .clause_items(list_stop, "ORDER", "BY")
                .filter(|v| v.len() == order_exprs.len())
                .ok_or("cannot locate the ORDER BY items")?;
            found.into_iter().map(|r| ctx.strip_direction(r)).collect()
        };
        let group_ranges = if group_exprs.is_empty() {
            Vec::new()
        } else {
            ctx.clause_items(list_stop, "GROUP", "BY")
                .filter(|v| v.len() == group_exprs.len())
                .ok_or("cannot locate the GROUP BY items")?
        };
        let limit = ctx.limit(q, after_list)?;
        Ok(SelectParts {
            s,
            items,
            list_stop,
            list_end,
            wildcard_at,
            group_exprs,
            order_exprs,
            no_order,
            grouped,
            key_grouped,
            distinct,
            order_ranges,
            group_ranges,
            limit,
        })
    }

    /// Index of item i in the shard row, when known.
    pub(super) fn index_of(&self, i: usize) -> Option<usize> {
        match self.wildcard_at {
            Some(w) if w <= i => None,
            _ => Some(i),
        }
    }

    /// The expression text of select item i (without its alias), when
    /// it is one expression.
    pub(super) fn item_src(&self, ctx: &Ctx<'_>, i: usize) -> Option<Piece> {
        match item_expr(self.s.projection.get(i)?)? {
            (e, Some(alias)) => expr_range(ctx, &self.items[i], e, alias).map(Piece::Src),
            (_, None) => Some(Piece::Src(self.items[i].clone())),
        }
    }

    /// Whether select item i is an ENUM/SET column (sorted by position).
    pub(super) fn item_is_enum(&self, ctx: &Ctx<'_>, i: usize) -> bool {
        self.s
            .projection
            .get(i)
            .and_then(item_expr)
            .is_some_and(|(e, _)| (ctx.is_enum)(e))
    }

    /// How select item i compares as a merge key.
    pub(super) fn item_kind(&self, ctx: &Ctx<'_>, i: usize) -> super::clauses::KeyKind {
        self.s
            .projection
            .get(i)
            .and_then(item_expr)
            .map_or(super::clauses::KeyKind::Weighed, |(e, _)| ctx.kind(e))
    }

    /// Which select item an ORDER BY / GROUP BY expression designates.
    pub(super) fn item_for(&self, e: &Expr) -> Option<usize> {
        let s = self.s;
        if let Expr::Value(v) = e {
            if let Value::Number(n, _) = &v.value {
                return n.parse::<usize>().ok().and_then(|p| p.checked_sub(1));
            }
        }
        if let Expr::Identifier(id) = e {
            let by_alias = s.projection.iter().position(|item| {
                matches!(item, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(&id.value))
            });
            if by_alias.is_some() {
                return by_alias;
            }
        }
        s.projection
            .iter()
            .position(|item| item_expr(item).is_some_and(|(x, _)| same_expr(x, e)))
            .or_else(|| {
                // `ORDER BY name` names the select item `t.name` (its
                // column name) when no other item has that name.
                let items: Vec<&Expr> = s
                    .projection
                    .iter()
                    .filter_map(|item| match item {
                        SelectItem::UnnamedExpr(x) => Some(x),
                        _ => None,
                    })
                    .collect();
                unqualified_match(e, &items).and_then(|x| {
                    s.projection.iter().position(
                        |item| matches!(item, SelectItem::UnnamedExpr(y) if std::ptr::eq(y, x)),
                    )
                })
            })
    }

    /// GROUP BY names the FROM columns before the select aliases: an alias
    /// of an aggregate (which cannot be grouped on) is a column there.
    pub(super) fn group_item_for(&self, e: &Expr) -> Option<usize> {
        self.item_for(e).filter(|&i| {
            !(matches!(e, Expr::Identifier(_))
                && item_expr(&self.s.projection[i])
                    .is_some_and(|(x, alias)| alias.is_some() && find_aggregates(x).0))
        })
    }
}

/// The byte ranges of the select items (after the modifiers) and the token
/// where the list stops.
pub(super) fn select_list(ctx: &Ctx<'_>, s: &Select) -> Result<(Vec<Range<usize>>, usize), String> {
    let select_at = ctx
        .lines
        .range(s.select_token.0.span)
        .ok_or("cannot locate SELECT")?;
    let mut first = ctx.toks.index_at(select_at.end);
    loop {
        if ctx.toks.is_kw(first, "SQL_CALC_FOUND_ROWS") {
            return Err("SQL_CALC_FOUND_ROWS cannot be merged across shards".to_owned());
        }
        if MODIFIERS.iter().any(|m| ctx.toks.is_kw(first, m)) {
            first += 1;
        } else {
            break;
        }
    }
    let (item_tokens, list_stop) = ctx.toks.split_list(first, is_clause_keyword);
    if item_tokens.len() != s.projection.len() {
        return Err("cannot locate the select list".to_owned());
    }
    let items: Vec<Range<usize>> = item_tokens
        .iter()
        .map(|r| ctx.toks.byte_range(r))
        .collect::<Option<_>>()
        .ok_or("cannot locate the select list")?;
    Ok((items, list_stop))
}

/// The GROUP BY expressions; WITH ROLLUP and GROUP BY ALL are refused.
fn group_by_exprs(s: &Select) -> Result<Vec<&Expr>, String> {
    match &s.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err("GROUP BY … WITH ROLLUP cannot be merged across shards".to_owned());
            }
            Ok(exprs.iter().collect())
        }
        GroupByExpr::All(_) => Err("GROUP BY ALL is not MySQL".to_owned()),
    }
}

/// The ORDER BY items; ORDER BY ALL is refused.
fn order_by_exprs(q: &Query) -> Result<Vec<&ast::OrderByExpr>, String> {
    Ok(match &q.order_by {
        Some(o) => match &o.kind {
            OrderByKind::Expressions(v) => v.iter().collect(),
            OrderByKind::All(_) => return Err("ORDER BY ALL is not MySQL".to_owned()),
        },
        None => Vec::new(),
    })
}

/// The one expression of `among` that is a qualified column `q.name` when
/// `e` is the bare `name` (a select item's or GROUP BY key's column name);
/// `None` when there is none or more than one.
pub(super) fn unqualified_match<'e>(e: &Expr, among: &[&'e Expr]) -> Option<&'e Expr> {
    let Expr::Identifier(name) = e else {
        return None;
    };
    let mut found = among.iter().filter(|x| {
        matches!(x, Expr::CompoundIdentifier(parts) if parts.last().is_some_and(|p| p.value.eq_ignore_ascii_case(&name.value)))
    });
    let first = found.next()?;
    found.next().is_none().then_some(*first)
}
