//! What a SELECT sent to several shards needs so that merging its answers
//! gives exactly what one server would answer: the [`MergeSpec`], the
//! edits to the shard SQL (hidden ORDER BY/GROUP BY columns, `AVG` as
//! `SUM` + `COUNT`, aggregates used only by HAVING or by expressions, the
//! HAVING clause removed, the arguments of DISTINCT aggregates and
//! GROUP_CONCAT added to GROUP BY) and the LIMIT handling (shards get
//! `LIMIT offset + limit`, or no LIMIT when groups must be combined
//! first). HAVING and expressions on aggregates become
//! [`MergeExpr`]s evaluated by the merge.
//!
//! Computed once per statement text; `Err` explains why the statement
//! cannot be scattered (it still runs when it reaches a single shard).

use std::ops::Range;

use crate::sql::ast::{
    self, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    LimitClause, OrderByKind, Query, Select, SelectItem, SetExpr, SetQuantifier, Value, Visit,
    Visitor,
};

use super::lex::{is_clause_keyword, unescape_string, LineIndex, Tokens};
use super::{AggregateMerge, ColumnRef, Combine, MergeSpec, SortKey};
use crate::merge::eval::MergeExpr;

/// A replacement of `range` by `pieces` (source ranges are copied with the
/// table renames that fall inside them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    pub range: Range<usize>,
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Src(Range<usize>),
}

/// A LIMIT or OFFSET value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitVal {
    Lit(u64),
    Param(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitInfo {
    /// From the end of the token before `LIMIT` to the end of its last
    /// value (comments between are dropped with it).
    pub range: Range<usize>,
    pub limit: LimitVal,
    pub offset: Option<LimitVal>,
}

/// The scatter recipe of a SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SelectMerge {
    /// Without limit/offset (filled at plan time from the LIMIT clause).
    pub spec: MergeSpec,
    pub edits: Vec<Edit>,
    pub limit: Option<LimitInfo>,
    /// Shards get `LIMIT offset+limit`; otherwise the clause is removed.
    pub push_limit: bool,
    /// A flat `UNION [ALL]` of plain SELECTs (no parentheses, no `WITH`):
    /// the bytes of each branch, in order, so that the planner can run
    /// branches on different targets (the others neutralised there).
    /// Empty for anything else.
    pub branches: Vec<Range<usize>>,
}

const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "GROUP_CONCAT",
    "STD",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "BIT_AND",
    "BIT_OR",
    "BIT_XOR",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
    "ANY_VALUE",
];

fn function_name(f: &ast::Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_uppercase())
        .unwrap_or_default()
}

fn is_aggregate(f: &ast::Function) -> bool {
    f.over.is_none() && AGGREGATES.contains(&function_name(f).as_str())
}

struct AggregateFinder {
    aggregate: bool,
    window: bool,
}

impl Visitor for AggregateFinder {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
        if let Expr::Function(f) = expr {
            if f.over.is_some() {
                self.window = true;
            } else if is_aggregate(f) {
                self.aggregate = true;
            }
        }
        std::ops::ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, _q: &Query) -> std::ops::ControlFlow<()> {
        // Aggregates of subqueries belong to them.
        std::ops::ControlFlow::Break(())
    }
}

/// (contains an aggregate, contains a window function), not looking into
/// subqueries.
pub(crate) fn find_aggregates<V: Visit>(node: &V) -> (bool, bool) {
    let mut f = AggregateFinder {
        aggregate: false,
        window: false,
    };
    let _ = node.visit(&mut f);
    (f.aggregate, f.window)
}

/// The select list item's expression and alias.
fn item_expr(item: &SelectItem) -> Option<(&Expr, Option<&ast::Ident>)> {
    match item {
        SelectItem::UnnamedExpr(e) => Some((e, None)),
        SelectItem::ExprWithAlias { expr, alias } => Some((expr, Some(alias))),
        _ => None,
    }
}

fn same_expr(a: &Expr, b: &Expr) -> bool {
    a.to_string().eq_ignore_ascii_case(&b.to_string())
}

struct Ctx<'q> {
    sql: &'q str,
    toks: &'q Tokens<'q>,
    lines: &'q LineIndex<'q>,
    placeholders: Vec<usize>,
}

impl Ctx<'_> {
    /// Token ranges of a comma list after `keyword1 keyword2` at depth 0,
    /// searching from token `from`.
    fn clause_items(&self, from: usize, k1: &str, k2: &str) -> Option<Vec<Range<usize>>> {
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
    fn keyword_at_depth0(&self, from: usize, keyword: &str) -> Option<usize> {
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
    fn strip_direction(&self, range: Range<usize>) -> Range<usize> {
        let last = self.toks.index_at(range.end).saturating_sub(1);
        if (self.toks.is_kw(last, "ASC") || self.toks.is_kw(last, "DESC")) && last > 0 {
            let end = self.toks.toks[last - 1].end;
            if end > range.start {
                return range.start..end;
            }
        }
        range
    }

    fn limit_val(&self, e: &Expr) -> Result<LimitVal, String> {
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
    fn limit(&self, q: &Query, from_token: usize) -> Result<Option<LimitInfo>, String> {
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

/// The scatter recipe of a query; `is_key` tells whether an expression is
/// the sharding key of one of the query's top tables.
pub(crate) fn analyze(
    sql: &str,
    toks: &Tokens<'_>,
    lines: &LineIndex<'_>,
    q: &Query,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<SelectMerge, String> {
    let ctx = Ctx {
        sql,
        toks,
        lines,
        placeholders: toks.placeholders(),
    };
    if q.fetch.is_some() {
        return Err("FETCH FIRST cannot be merged across shards; use LIMIT".to_owned());
    }
    match q.body.as_ref() {
        SetExpr::Select(s) => select(&ctx, q, s, is_key),
        SetExpr::SetOperation { .. } => set_operation(&ctx, q),
        SetExpr::Query(inner) if q.order_by.is_none() && q.limit_clause.is_none() => {
            analyze(sql, toks, lines, inner, is_key)
        }
        _ => Err("this query form cannot be merged across shards".to_owned()),
    }
}

/// A UNION [ALL] run whole on every shard: the shards' answers are
/// concatenated (UNION: duplicates removed again across shards), then
/// sorted and limited as the statement says (each shard sorts and gets
/// `LIMIT offset + limit`, so a k-way merge suffices without UNION).
fn set_operation(ctx: &Ctx<'_>, q: &Query) -> Result<SelectMerge, String> {
    // UNION DISTINCT removes duplicates from everything on its left: the
    // merge can only redo that when the last operator is the DISTINCT one.
    if let SetExpr::SetOperation { set_quantifier, .. } = q.body.as_ref() {
        let top_all = matches!(set_quantifier, SetQuantifier::All);
        fn any_distinct(e: &SetExpr) -> bool {
            match e {
                SetExpr::SetOperation {
                    left,
                    set_quantifier,
                    right,
                    ..
                } => {
                    !matches!(set_quantifier, SetQuantifier::All)
                        || any_distinct(left)
                        || any_distinct(right)
                }
                SetExpr::Query(inner) => any_distinct(&inner.body),
                _ => false,
            }
        }
        if top_all && any_distinct(&q.body) {
            return Err(
                "UNION followed by UNION ALL cannot be merged across shards; use one kind"
                    .to_owned(),
            );
        }
    }
    let mut distinct = false;
    fn walk(e: &SetExpr, distinct: &mut bool) -> Result<(), String> {
        match e {
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                if !matches!(op, ast::SetOperator::Union) {
                    return Err(format!("{op} across shards is not supported"));
                }
                if !matches!(set_quantifier, SetQuantifier::All) {
                    *distinct = true;
                }
                walk(left, distinct)?;
                walk(right, distinct)
            }
            SetExpr::Select(s) => {
                let (aggregate, window) = find_aggregates(&s.projection);
                let grouped =
                    !matches!(&s.group_by, GroupByExpr::Expressions(v, _) if v.is_empty());
                if aggregate || window || grouped || s.having.is_some() {
                    return Err(
                        "aggregates inside a UNION cannot be merged across shards".to_owned()
                    );
                }
                Ok(())
            }
            SetExpr::Query(inner) if inner.limit_clause.is_none() && inner.order_by.is_none() => {
                walk(&inner.body, distinct)
            }
            _ => Err("this UNION branch cannot be merged across shards".to_owned()),
        }
    }
    walk(&q.body, &mut distinct)?;
    let mut spec = MergeSpec {
        distinct,
        ..Default::default()
    };
    // ORDER BY of a UNION names result columns: positions, or the names
    // and aliases of the first SELECT.
    let first_select = {
        let mut e = q.body.as_ref();
        loop {
            match e {
                SetExpr::SetOperation { left, .. } => e = left,
                SetExpr::Query(inner) => e = &inner.body,
                SetExpr::Select(s) => break Some(s.as_ref()),
                _ => break None,
            }
        }
    };
    if let Some(o) = &q.order_by {
        let OrderByKind::Expressions(items) = &o.kind else {
            return Err("ORDER BY ALL is not MySQL".to_owned());
        };
        for ob in items {
            let column = match &ob.expr {
                Expr::Value(ast::ValueWithSpan {
                    value: Value::Number(n, _),
                    ..
                }) => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|p| p.checked_sub(1))
                    .ok_or_else(|| format!("ORDER BY position `{n}` is not valid"))?,
                Expr::Identifier(id) => first_select
                    .and_then(|s| union_column(s, &id.value))
                    .ok_or_else(|| {
                        format!(
                            "ORDER BY `{}` on a UNION must name a column of the first SELECT (or use its position) to be merged across shards",
                            ob.expr
                        )
                    })?,
                other => {
                    return Err(format!(
                        "ORDER BY `{other}` on a UNION cannot be merged across shards; order by a column name or position"
                    ))
                }
            };
            spec.order_by.push(SortKey {
                column: ColumnRef::Index(column),
                descending: descending(ob),
            });
        }
    }
    // The outer LIMIT follows the last branch.
    let last_union = (0..ctx.toks.toks.len())
        .rev()
        .find(|&i| ctx.toks.is_kw(i, "UNION") && depth_at(ctx, i) == 0)
        .unwrap_or(0);
    let limit = ctx.limit(q, last_union)?;
    Ok(SelectMerge {
        spec,
        edits: Vec::new(),
        limit,
        push_limit: true,
        branches: union_branches(ctx, q),
    })
}

/// The byte ranges of the branches of a flat UNION (see
/// [`SelectMerge::branches`]); empty when the union is nested,
/// parenthesised or has a `WITH`, so that the planner keeps refusing what
/// it cannot neutralise branch by branch.
fn union_branches(ctx: &Ctx<'_>, q: &Query) -> Vec<Range<usize>> {
    fn flat_selects(e: &SetExpr) -> Option<usize> {
        match e {
            SetExpr::SetOperation { left, right, .. } => {
                Some(flat_selects(left)? + flat_selects(right)?)
            }
            SetExpr::Select(_) => Some(1),
            _ => None,
        }
    }
    let Some(count) = flat_selects(&q.body) else {
        return Vec::new();
    };
    if q.with.is_some() {
        return Vec::new();
    }
    let t = ctx.toks;
    let n = t.toks.len();
    let mut starts = vec![0usize];
    let mut ends = Vec::new();
    let mut depth = 0usize;
    let mut tail = None;
    for i in 0..n {
        if t.is_punct(i, "(") {
            depth += 1;
        } else if t.is_punct(i, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.is_kw(i, "UNION") {
            ends.push(i);
            let next = if t.is_kw(i + 1, "ALL") || t.is_kw(i + 1, "DISTINCT") {
                i + 2
            } else {
                i + 1
            };
            starts.push(next);
            tail = None;
        } else if depth == 0
            && tail.is_none()
            && starts.len() > 1
            && (["ORDER", "LIMIT", "FOR", "LOCK", "INTO", "PROCEDURE"]
                .iter()
                .any(|k| t.is_kw(i, k))
                || t.is_punct(i, ";"))
        {
            // The clauses after the last branch belong to the whole union.
            tail = Some(i);
        }
    }
    ends.push(tail.unwrap_or(n));
    if starts.len() != count || ends.len() != count {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(count);
    for (s, e) in starts.into_iter().zip(ends) {
        // Each branch must be a bare `SELECT …`.
        if !t.is_kw(s, "SELECT") || e <= s {
            return Vec::new();
        }
        match t.byte_range(&(s..e)) {
            Some(r) => out.push(r),
            None => return Vec::new(),
        }
    }
    out
}

/// Parenthesis depth at token `at`.
fn depth_at(ctx: &Ctx<'_>, at: usize) -> usize {
    let mut depth = 0usize;
    for i in 0..at {
        if ctx.toks.is_punct(i, "(") {
            depth += 1;
        } else if ctx.toks.is_punct(i, ")") {
            depth = depth.saturating_sub(1);
        }
    }
    depth
}

/// The position of the result column called `name` (the first SELECT's
/// alias or plain column name), if it is unambiguous.
fn union_column(s: &Select, name: &str) -> Option<usize> {
    let mut found = None;
    for (i, item) in s.projection.iter().enumerate() {
        let item_name = match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(&alias.value),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(&id.value),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|p| &p.value)
            }
            SelectItem::UnnamedExpr(_) => None,
            // `*` hides which columns come first.
            _ => return None,
        };
        if item_name.is_some_and(|n| n.eq_ignore_ascii_case(name)) {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

/// A hidden column to append.
struct Hidden {
    pieces: Vec<Piece>,
}

fn select(
    ctx: &Ctx<'_>,
    q: &Query,
    s: &Select,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<SelectMerge, String> {
    if s.into.is_some() {
        return Err("SELECT … INTO cannot run on several shards".to_owned());
    }
    let select_at = ctx
        .lines
        .range(s.select_token.0.span)
        .ok_or("cannot locate SELECT")?;
    let mut first = ctx.toks.index_at(select_at.end);
    const MODIFIERS: &[&str] = &[
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
    let list_end = items.last().map(|r| r.end).ok_or("empty select list")?;
    let wildcard_at = s.projection.iter().position(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    });
    // Index of item i in the shard row, when known.
    let index_of = |i: usize| -> Option<usize> {
        match wildcard_at {
            Some(w) if w <= i => None,
            _ => Some(i),
        }
    };

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
    let group_exprs: Vec<&Expr> = match &s.group_by {
        GroupByExpr::Expressions(exprs, modifiers) => {
            if !modifiers.is_empty() {
                return Err("GROUP BY … WITH ROLLUP cannot be merged across shards".to_owned());
            }
            exprs.iter().collect()
        }
        GroupByExpr::All(_) => return Err("GROUP BY ALL is not MySQL".to_owned()),
    };
    let order_exprs: Vec<&ast::OrderByExpr> = match &q.order_by {
        Some(o) => match &o.kind {
            OrderByKind::Expressions(v) => v.iter().collect(),
            OrderByKind::All(_) => return Err("ORDER BY ALL is not MySQL".to_owned()),
        },
        None => Vec::new(),
    };
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

    // Which select item an ORDER BY / GROUP BY expression designates.
    let item_for = |e: &Expr| -> Option<usize> {
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
    };

    // GROUP BY names the FROM columns before the select aliases: an alias
    // of an aggregate (which cannot be grouped on) is a column there.
    let group_item_for = |e: &Expr| -> Option<usize> {
        item_for(e).filter(|&i| {
            !(matches!(e, Expr::Identifier(_))
                && item_expr(&s.projection[i])
                    .is_some_and(|(x, alias)| alias.is_some() && find_aggregates(x).0))
        })
    };
    let mut edits: Vec<Edit> = Vec::new();
    let mut hidden: Vec<Hidden> = Vec::new();
    let mut spec = MergeSpec {
        distinct,
        ..Default::default()
    };

    if grouped && !key_grouped {
        // Partial groups combine in the proxy.
        if wildcard_at.is_some() {
            return Err("SELECT * with aggregates cannot be merged across shards".to_owned());
        }
        let mut columns: Vec<Combine> = Vec::new();
        let mut avg_counts: Vec<(usize, Vec<Piece>)> = Vec::new();
        let mut distincts: Vec<DistinctAgg> = Vec::new();
        let mut key_distincts: Vec<usize> = Vec::new();
        let mut concats: Vec<ConcatAgg> = Vec::new();
        let mut computed_items: Vec<(usize, &Expr)> = Vec::new();
        for (i, item) in s.projection.iter().enumerate() {
            let (expr, alias) = item_expr(item).ok_or("unsupported select item")?;
            let combine = match expr {
                Expr::Function(f) if is_aggregate(f) => aggregate_combine(
                    ctx,
                    f,
                    is_key,
                    &items[i],
                    alias,
                    &mut edits,
                    &mut avg_counts,
                    &mut distincts,
                    &mut key_distincts,
                    &mut concats,
                    i,
                )?,
                other => {
                    if find_aggregates(other).0 {
                        // Resolved once the group keys are known.
                        computed_items.push((i, other));
                        columns.push(Combine::Any);
                        continue;
                    }
                    if group_exprs.iter().any(|g| same_expr(g, other))
                        || group_exprs.iter().any(|g| group_item_for(g) == Some(i))
                    {
                        Combine::Group
                    } else {
                        Combine::Any
                    }
                }
            };
            columns.push(combine);
        }
        let visible = columns.len();
        // AVG counts.
        for (item, pieces) in avg_counts {
            let at = push_hidden(&mut columns, &mut hidden, Combine::Count, pieces);
            columns[item] = Combine::Avg { count: at };
        }
        // DISTINCT aggregates: the shards group by their arguments too
        // (partial COUNT/SUM/MIN/MAX of finer groups still add up), and
        // the merge gathers the distinct values per group.
        let mut extra_group: Vec<Piece> = Vec::new();
        // DISTINCT aggregates used only by HAVING or ORDER BY: hidden
        // columns gathered like select items (found by their text).
        let mut hidden_distincts: Vec<(String, usize)> = Vec::new();
        let mut pending_key: Vec<(String, Range<usize>, Vec<Range<usize>>)> = Vec::new();
        {
            let mut found: Vec<Result<HiddenDistinct, String>> = Vec::new();
            let mut collect = |e: &Expr| {
                if let Expr::Function(f) = e {
                    let name = function_name(f);
                    if is_aggregate(f)
                        && distinct_args(f)
                        && matches!(name.as_str(), "COUNT" | "SUM" | "AVG")
                    {
                        found.push(hidden_distinct(ctx, f, is_key));
                    }
                }
                std::ops::ControlFlow::<()>::Continue(())
            };
            if let Some(h) = &s.having {
                let _ = ast::visit_expressions(h, &mut collect);
            }
            for ob in &order_exprs {
                let _ = ast::visit_expressions(&ob.expr, &mut collect);
            }
            for d in found {
                let d = d?;
                let selected = s.projection.iter().any(|item| {
                    item_expr(item)
                        .is_some_and(|(x, _)| x.to_string().eq_ignore_ascii_case(&d.text))
                });
                if selected || hidden_distincts.iter().any(|(t, _)| *t == d.text) {
                    continue;
                }
                if d.key {
                    if !pending_key.iter().any(|(t, _, _)| *t == d.text) {
                        pending_key.push((d.text, d.whole, d.args));
                    }
                    continue;
                }
                let at = push_hidden(
                    &mut columns,
                    &mut hidden,
                    Combine::Any,
                    vec![Piece::Src(d.whole)],
                );
                distincts.push(DistinctAgg {
                    item: at,
                    kind: d.kind,
                    args: d.args,
                });
                hidden_distincts.push((d.text, at));
            }
        }
        let fine_groups = !distincts.is_empty() || !concats.is_empty();
        if fine_groups {
            for (text, whole, args) in pending_key {
                let at = push_hidden(
                    &mut columns,
                    &mut hidden,
                    Combine::Any,
                    vec![Piece::Src(whole)],
                );
                distincts.push(DistinctAgg {
                    item: at,
                    kind: "COUNT",
                    args,
                });
                hidden_distincts.push((text, at));
            }
            for &item in &key_distincts {
                let (expr, _) = item_expr(&s.projection[item]).ok_or("unsupported select item")?;
                let Expr::Function(f) = expr else {
                    return Err("cannot locate a DISTINCT aggregate".to_owned());
                };
                distincts.push(DistinctAgg {
                    item,
                    kind: "COUNT",
                    args: distinct_arg_ranges(ctx, f)?,
                });
            }
        }
        for d in distincts {
            let first = columns.len();
            for arg in &d.args {
                push_hidden(
                    &mut columns,
                    &mut hidden,
                    Combine::Any,
                    vec![Piece::Src(arg.clone())],
                );
                extra_group.push(Piece::Text(", ".to_owned()));
                extra_group.push(Piece::Src(arg.clone()));
            }
            columns[d.item] = match d.kind {
                "COUNT" => Combine::CountDistinct {
                    first,
                    n: d.args.len(),
                },
                "SUM" => Combine::SumDistinct { arg: first },
                _ => Combine::AvgDistinct { arg: first },
            };
        }
        // GROUP_CONCAT: the shards group by the value and its ORDER BY
        // keys too and tell each value's multiplicity; the merge sorts and
        // joins them.
        let mut concat_specs = Vec::new();
        if !concats.is_empty() {
            let count = push_hidden(
                &mut columns,
                &mut hidden,
                Combine::Any,
                vec![Piece::Text("COUNT(*)".to_owned())],
            );
            let max_len = push_hidden(
                &mut columns,
                &mut hidden,
                Combine::Any,
                vec![Piece::Text("@@group_concat_max_len".to_owned())],
            );
            for c in concats {
                let mut add = |r: &Range<usize>, columns: &mut Vec<Combine>| {
                    extra_group.push(Piece::Text(", ".to_owned()));
                    extra_group.push(Piece::Src(r.clone()));
                    push_hidden(
                        columns,
                        &mut hidden,
                        Combine::Any,
                        vec![Piece::Src(r.clone())],
                    )
                };
                let value = add(&c.arg, &mut columns);
                let order = c
                    .order
                    .iter()
                    .map(|(r, desc)| (add(r, &mut columns), *desc))
                    .collect();
                concat_specs.push(crate::merge::concat::ConcatSpec {
                    value,
                    order,
                    separator: c.separator,
                    distinct: c.distinct,
                    count,
                    max_len,
                });
                columns[c.item] = Combine::GroupConcat {
                    index: concat_specs.len() - 1,
                };
            }
        }
        if !extra_group.is_empty() {
            let at = match group_ranges.last() {
                Some(last) => last.end,
                None => {
                    // No GROUP BY: one is added before what follows WHERE.
                    extra_group[0] = Piece::Text(" GROUP BY ".to_owned());
                    clause_insertion_point(ctx, list_stop)
                }
            };
            edits.push(Edit {
                range: at..at,
                pieces: extra_group,
            });
        }
        // Group keys.
        let mut group_by = Vec::new();
        for (g, e) in group_exprs.iter().enumerate() {
            let col = match group_item_for(e).filter(|&i| i < visible) {
                Some(i) => {
                    columns[i] = Combine::Group;
                    i
                }
                None => push_hidden(
                    &mut columns,
                    &mut hidden,
                    Combine::Group,
                    vec![Piece::Src(group_ranges[g].clone())],
                ),
            };
            group_by.push(col);
        }
        // Expressions on aggregates: recomputed from the combined
        // aggregates (hidden when not selected).
        // One resolver per use: it borrows the column lists mutably.
        macro_rules! resolver {
            () => {
                Resolver {
                    ctx,
                    s,
                    is_key,
                    columns: &mut columns,
                    hidden: &mut hidden,
                    visible,
                    group_exprs: &group_exprs,
                    group_by: &group_by,
                    fine_groups,
                    hidden_distincts: &hidden_distincts,
                }
            };
        }
        let mut computed = Vec::new();
        for (i, e) in computed_items {
            let mut r = resolver!();
            let expr = r.expr(e).map_err(|why| {
                format!("`{e}` computes on aggregates in a way shardcat cannot merge: it {why}")
            })?;
            computed.push(expr);
            columns[i] = Combine::Computed {
                index: computed.len() - 1,
            };
        }
        // HAVING: evaluated on the combined groups; shards must not apply
        // it to their partial groups, so it leaves the shard SQL.
        if let Some(h) = &s.having {
            let mut r = resolver!();
            spec.having = Some(r.expr(h).map_err(|e| format!("HAVING {e}"))?);
            edits.push(having_removal(ctx, list_stop)?);
        }
        // Sort keys (after combining).
        for (o, ob) in order_exprs.iter().enumerate().filter(|_| !no_order) {
            let col = match item_for(&ob.expr).filter(|&i| i < visible) {
                Some(i) => i,
                None => match &ob.expr {
                    e if find_aggregates(e).0 && !matches!(e, Expr::Function(f) if is_aggregate(f)) => {
                        // An expression on aggregates: a hidden column the
                        // shards compute (its definition) and the merge
                        // recomputes.
                        let at = push_hidden(
                            &mut columns,
                            &mut hidden,
                            Combine::Any,
                            vec![Piece::Src(order_ranges[o].clone())],
                        );
                        let mut r = resolver!();
                        let expr = r.expr(e).map_err(|why| {
                            format!("ORDER BY `{e}` cannot be merged across shards: it {why}")
                        })?;
                        computed.push(expr);
                        columns[at] = Combine::Computed {
                            index: computed.len() - 1,
                        };
                        at
                    }
                    Expr::Function(f) if is_aggregate(f) => {
                        let mut r = resolver!();
                        r.hidden_aggregate(f).map_err(|e| {
                            format!("ORDER BY `{}` cannot be merged across shards: {e}", ob.expr)
                        })?
                    }
                    e => match group_exprs.iter().position(|g| same_expr(g, e)) {
                        Some(g) => group_by[g],
                        None => {
                            return Err(format!(
                                "ORDER BY `{e}` is neither selected, grouped nor a plain aggregate; it cannot be merged across shards"
                            ))
                        }
                    },
                },
            };
            spec.order_by.push(SortKey {
                column: ColumnRef::Index(col),
                descending: descending(ob),
            });
        }
        if order_exprs.is_empty() {
            // MariaDB sorts by the GROUP BY keys when there is no ORDER BY
            // (MySQL 8 leaves the order undefined: sorting is harmless).
            spec.order_by = group_by
                .iter()
                .map(|&c| SortKey {
                    column: ColumnRef::Index(c),
                    descending: false,
                })
                .collect();
        }
        spec.aggregate = Some(AggregateMerge {
            group_by,
            columns,
            concats: concat_specs,
            computed,
        });
        spec.hidden_columns = hidden.len();
        if !hidden.is_empty() {
            edits.push(hidden_edit(list_end, &hidden));
        }
        return Ok(SelectMerge {
            spec,
            edits,
            limit,
            push_limit: false,
            branches: Vec::new(),
        });
    }

    // Rows (or whole groups) are disjoint across shards: concatenate,
    // merge-sort, limit.
    let hidden_ref = |pieces: Vec<Piece>, hidden: &mut Vec<Hidden>| {
        hidden.push(Hidden { pieces });
        ColumnRef::Hidden(hidden.len() - 1)
    };
    for (o, ob) in order_exprs.iter().enumerate().filter(|_| !no_order) {
        let column = match item_for(&ob.expr).and_then(index_of) {
            Some(i) => ColumnRef::Index(i),
            None => {
                if matches!(&ob.expr, Expr::Value(v) if matches!(v.value, Value::Number(..))) {
                    return Err("ORDER BY a position after `*` cannot be merged across shards; order by the column name".to_owned());
                }
                let src = match item_for(&ob.expr) {
                    Some(i) => match item_expr(&s.projection[i]) {
                        Some((e, Some(alias))) => {
                            expr_range(ctx, &items[i], e, alias).map(Piece::Src)
                        }
                        _ => Some(Piece::Src(items[i].clone())),
                    },
                    None => Some(Piece::Src(order_ranges[o].clone())),
                };
                hidden_ref(
                    vec![src.ok_or("cannot locate an ORDER BY item")?],
                    &mut hidden,
                )
            }
        };
        spec.order_by.push(SortKey {
            column,
            descending: descending(ob),
        });
    }
    if order_exprs.is_empty() && !group_exprs.is_empty() {
        for (g, e) in group_exprs.iter().enumerate() {
            let column = match group_item_for(e).and_then(index_of) {
                Some(i) => ColumnRef::Index(i),
                None => hidden_ref(vec![Piece::Src(group_ranges[g].clone())], &mut hidden),
            };
            spec.order_by.push(SortKey {
                column,
                descending: false,
            });
        }
    }
    if distinct && !hidden.is_empty() {
        return Err(
            "SELECT DISTINCT ordered by a column it does not select cannot be merged across shards"
                .to_owned(),
        );
    }
    spec.hidden_columns = hidden.len();
    if !hidden.is_empty() {
        edits.push(hidden_edit(list_end, &hidden));
    }
    Ok(SelectMerge {
        spec,
        edits,
        limit,
        push_limit: true,
        branches: Vec::new(),
    })
}

fn push_hidden(
    columns: &mut Vec<Combine>,
    hidden: &mut Vec<Hidden>,
    combine: Combine,
    pieces: Vec<Piece>,
) -> usize {
    hidden.push(Hidden { pieces });
    columns.push(combine);
    columns.len() - 1
}

/// The edit removing the HAVING clause (from the end of the token before
/// `HAVING` to the end of its condition).
fn having_removal(ctx: &Ctx<'_>, from: usize) -> Result<Edit, String> {
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

/// Turns a HAVING condition into a [`MergeExpr`] over the combined row:
/// select-list aliases and items, group keys, and aggregates (added as
/// hidden columns when not selected).
struct Resolver<'a, 'q> {
    ctx: &'a Ctx<'q>,
    s: &'a Select,
    is_key: &'a dyn Fn(&Expr) -> bool,
    columns: &'a mut Vec<Combine>,
    hidden: &'a mut Vec<Hidden>,
    visible: usize,
    group_exprs: &'a [&'a Expr],
    group_by: &'a [usize],
    /// The shards also group by DISTINCT arguments: a hidden
    /// `COUNT(DISTINCT key)` would no longer add up.
    fine_groups: bool,
    /// DISTINCT aggregates of HAVING/ORDER BY already placed as hidden
    /// columns: (text, column).
    hidden_distincts: &'a [(String, usize)],
}

impl Resolver<'_, '_> {
    /// A visible column whose merged value is well defined (a group key
    /// or an aggregate, not a `Combine::Any` pick).
    fn usable(&self, i: usize) -> Result<MergeExpr, String> {
        match self.columns.get(i) {
            Some(Combine::Any) => Err(format!(
                "uses select item {} which is neither grouped nor an aggregate",
                i + 1
            )),
            Some(_) => Ok(MergeExpr::Column(i)),
            None => Err("refers to a missing column".to_owned()),
        }
    }

    /// A column standing for `e`: a select alias (for a bare name), a
    /// select item written the same way, or a group key. Only names and
    /// aggregates are looked up: like the server, a HAVING expression such
    /// as `DATE(created)` is resolved through its columns, not matched to
    /// a select item as a whole.
    fn column_for(&self, e: &Expr) -> Option<Result<MergeExpr, String>> {
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {}
            Expr::Function(f) if is_aggregate(f) => {}
            _ => return None,
        }
        // HAVING names a GROUP BY column before a select alias (the
        // server searches the FROM columns first).
        if let Some(g) = self.group_exprs.iter().position(|g| same_expr(g, e)) {
            return Some(Ok(MergeExpr::Column(self.group_by[g])));
        }
        if let Expr::Identifier(id) = e {
            let by_alias = self.s.projection.iter().position(|item| {
                matches!(item, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(&id.value))
            });
            if let Some(i) = by_alias.filter(|&i| i < self.visible) {
                return Some(self.usable(i));
            }
        }
        if let Some(i) = self
            .s
            .projection
            .iter()
            .position(|item| item_expr(item).is_some_and(|(x, _)| same_expr(x, e)))
            .filter(|&i| i < self.visible)
        {
            if !matches!(self.columns.get(i), Some(Combine::Any)) {
                return Some(Ok(MergeExpr::Column(i)));
            }
        }
        self.group_exprs
            .iter()
            .position(|g| same_expr(g, e))
            .map(|g| Ok(MergeExpr::Column(self.group_by[g])))
    }

    fn expr(&mut self, e: &Expr) -> Result<MergeExpr, String> {
        use crate::merge::eval::BinOp;
        use MergeExpr as M;
        if let Some(c) = self.column_for(e) {
            return c;
        }
        let b = |x: M| Box::new(x);
        Ok(match e {
            Expr::Nested(inner) => self.expr(inner)?,
            Expr::Function(f) if is_aggregate(f) => M::Column(self.hidden_aggregate(f)?),
            Expr::Function(f) if function_name(f) == "ROUND" => {
                let args = match &f.args {
                    FunctionArguments::List(l) if l.clauses.is_empty() => &l.args,
                    _ => return Err("uses ROUND in a form shardcat cannot evaluate".to_owned()),
                };
                fn arg(a: &FunctionArg) -> Option<&Expr> {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                        _ => None,
                    }
                }
                match args.as_slice() {
                    [x] => M::Round(b(self.expr(arg(x).ok_or("uses ROUND(*)")?)?), 0),
                    [x, d] => {
                        let digits = match arg(d) {
                            Some(Expr::Value(ast::ValueWithSpan {
                                value: Value::Number(n, _),
                                ..
                            })) => n.parse::<u32>().ok().filter(|&d| d <= 38),
                            _ => None,
                        }
                        .ok_or("uses ROUND with digits that are not a small non-negative number")?;
                        M::Round(b(self.expr(arg(x).ok_or("uses ROUND(*)")?)?), digits)
                    }
                    _ => return Err("uses ROUND with unexpected arguments".to_owned()),
                }
            }
            Expr::Value(v) => M::Literal(literal(&v.value)?),
            Expr::UnaryOp { op, expr } => match op {
                ast::UnaryOperator::Not => M::Not(b(self.expr(expr)?)),
                ast::UnaryOperator::Minus => M::Neg(b(self.expr(expr)?)),
                ast::UnaryOperator::Plus => self.expr(expr)?,
                other => {
                    return Err(format!(
                        "operator `{other}` cannot be evaluated by shardcat"
                    ))
                }
            },
            Expr::BinaryOp { left, op, right } => {
                use ast::BinaryOperator as O;
                let op = match op {
                    O::And => BinOp::And,
                    O::Or => BinOp::Or,
                    // The parser binds XOR tighter than comparisons
                    // (MySQL: between AND and OR): its tree is not the
                    // server's.
                    O::Xor => {
                        return Err(
                            "uses XOR, which shardcat cannot evaluate across shards".to_owned()
                        )
                    }
                    O::Eq => BinOp::Eq,
                    O::Spaceship => BinOp::NullSafeEq,
                    O::NotEq => BinOp::Ne,
                    O::Lt => BinOp::Lt,
                    O::LtEq => BinOp::Le,
                    O::Gt => BinOp::Gt,
                    O::GtEq => BinOp::Ge,
                    O::Plus => BinOp::Add,
                    O::Minus => BinOp::Sub,
                    O::Multiply => BinOp::Mul,
                    O::Divide => BinOp::Div,
                    O::MyIntegerDivide => BinOp::IntDiv,
                    O::Modulo => BinOp::Mod,
                    other => {
                        return Err(format!(
                            "operator `{other}` cannot be evaluated by shardcat"
                        ))
                    }
                };
                M::Binary(op, b(self.expr(left)?), b(self.expr(right)?))
            }
            Expr::IsNull(x) => M::IsNull {
                expr: b(self.expr(x)?),
                negated: false,
            },
            Expr::IsNotNull(x) => M::IsNull {
                expr: b(self.expr(x)?),
                negated: true,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => M::InList {
                expr: b(self.expr(expr)?),
                list: list
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => M::Between {
                expr: b(self.expr(expr)?),
                low: b(self.expr(low)?),
                high: b(self.expr(high)?),
                negated: *negated,
            },
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                return Err(format!(
                    "refers to `{e}`, which is neither selected, grouped nor an aggregate"
                ))
            }
            other => return Err(format!("`{other}` cannot be evaluated by shardcat")),
        })
    }

    /// The column of an aggregate computed by the shards as a hidden
    /// column (partials combined like the select list's).
    fn hidden_aggregate(&mut self, f: &ast::Function) -> Result<usize, String> {
        let name = function_name(f);
        let distinct = distinct_args(f);
        if distinct {
            let text = f.to_string();
            if let Some((_, at)) = self.hidden_distincts.iter().find(|(t, _)| *t == text) {
                return Ok(*at);
            }
        }
        let name_ident = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .ok_or("cannot locate an aggregate")?;
        let name_at = self
            .ctx
            .lines
            .range(name_ident.span)
            .ok_or("cannot locate an aggregate")?;
        let open = self.ctx.toks.index_at(name_at.end);
        if !self.ctx.toks.is_punct(open, "(") {
            return Err("cannot locate the arguments of an aggregate".to_owned());
        }
        let close = self
            .ctx
            .toks
            .matching_paren(open)
            .ok_or("cannot locate the arguments of an aggregate")?;
        let whole = name_at.start..self.ctx.toks.toks[close].end;
        let args = self.ctx.toks.toks[open].end..self.ctx.toks.toks[close].start;
        let single_arg = match &f.args {
            FunctionArguments::List(l) if l.args.len() == 1 && l.clauses.is_empty() => {
                match &l.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                }
            }
            _ => None,
        };
        let combine = match (name.as_str(), distinct) {
            ("COUNT", false) => Combine::Count,
            ("COUNT", true)
                if !self.fine_groups && single_arg.is_some_and(|e| (self.is_key)(e)) =>
            {
                Combine::Count
            }
            ("SUM", false) => Combine::Sum,
            ("MIN", _) => Combine::Min,
            ("MAX", _) => Combine::Max,
            ("AVG", false) => {
                // A hidden SUM carrying the AVG and a hidden COUNT.
                let sum = push_hidden(
                    self.columns,
                    self.hidden,
                    Combine::Sum,
                    vec![
                        Piece::Text("SUM(".to_owned()),
                        Piece::Src(args.clone()),
                        Piece::Text(")".to_owned()),
                    ],
                );
                let count = push_hidden(
                    self.columns,
                    self.hidden,
                    Combine::Count,
                    vec![
                        Piece::Text("COUNT(".to_owned()),
                        Piece::Src(args),
                        Piece::Text(")".to_owned()),
                    ],
                );
                self.columns[sum] = Combine::Avg { count };
                return Ok(sum);
            }
            (other, _) => {
                return Err(format!(
                    "uses {other}{}, which cannot be merged across shards",
                    if distinct { "(DISTINCT …)" } else { "()" }
                ))
            }
        };
        Ok(push_hidden(
            self.columns,
            self.hidden,
            combine,
            vec![Piece::Src(whole)],
        ))
    }
}

/// A literal of a merge expression.
fn literal(v: &Value) -> Result<crate::merge::eval::Literal, String> {
    use crate::merge::decimal::Decimal;
    use crate::merge::eval::Literal;
    Ok(match v {
        Value::Null => Literal::Null,
        Value::Boolean(b) => Literal::Int(*b as i128),
        Value::Number(n, _) => {
            if n.contains(['e', 'E']) {
                Literal::Double(
                    n.parse::<f64>()
                        .map_err(|_| format!("number `{n}` cannot be read"))?
                        .to_bits(),
                )
            } else if n.contains('.') {
                Literal::Decimal(
                    Decimal::parse(n.as_bytes()).ok_or(format!("number `{n}` cannot be read"))?,
                )
            } else {
                match n.parse::<i128>() {
                    Ok(i) if i <= u64::MAX as i128 => Literal::Int(i),
                    // Beyond BIGINT UNSIGNED MySQL reads a DECIMAL.
                    _ => Literal::Decimal(
                        Decimal::parse(n.as_bytes())
                            .ok_or(format!("number `{n}` cannot be read"))?,
                    ),
                }
            }
        }
        // The parser keeps literals as written: MySQL's escapes apply.
        Value::SingleQuotedString(t) => Literal::Str(unescape_string(t, '\'').into_bytes()),
        Value::DoubleQuotedString(t) => Literal::Str(unescape_string(t, '"').into_bytes()),
        other => return Err(format!("literal `{other}` cannot be evaluated by shardcat")),
    })
}

/// A `COUNT|SUM|AVG(DISTINCT …)` select item not over the sharding key.
struct DistinctAgg {
    item: usize,
    kind: &'static str,
    /// Source ranges of the arguments.
    args: Vec<Range<usize>>,
}

/// A `GROUP_CONCAT` select item: its value and ORDER BY keys (source
/// ranges), separator and DISTINCT.
struct ConcatAgg {
    item: usize,
    arg: Range<usize>,
    order: Vec<(Range<usize>, bool)>,
    separator: Vec<u8>,
    distinct: bool,
}

impl ConcatAgg {
    fn with_item(mut self, item: usize) -> Self {
        self.item = item;
        self
    }
}

/// Reads `GROUP_CONCAT([DISTINCT] x [ORDER BY k [ASC|DESC], …] [SEPARATOR
/// 's'])`; other forms (several values, LIMIT, positions) are refused.
fn group_concat(ctx: &Ctx<'_>, f: &ast::Function) -> Result<ConcatAgg, String> {
    let refuse = |why: &str| Err(format!("GROUP_CONCAT {why} cannot be merged across shards"));
    let FunctionArguments::List(list) = &f.args else {
        return refuse("without arguments");
    };
    let distinct = matches!(
        list.duplicate_treatment,
        Some(ast::DuplicateTreatment::Distinct)
    );
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg_expr))] = list.args.as_slice() else {
        return refuse("of several values");
    };
    let mut order_exprs: &[ast::OrderByExpr] = &[];
    let mut separator = b",".to_vec();
    for c in &list.clauses {
        match c {
            ast::FunctionArgumentClause::OrderBy(v) => order_exprs = v,
            ast::FunctionArgumentClause::Separator(v) => match &v.value {
                Value::SingleQuotedString(t) => separator = unescape_string(t, '\'').into_bytes(),
                Value::DoubleQuotedString(t) => separator = unescape_string(t, '"').into_bytes(),
                _ => return refuse("with this SEPARATOR"),
            },
            _ => return refuse("with LIMIT or other clauses"),
        }
    }
    for o in order_exprs {
        if matches!(&o.expr, Expr::Value(_)) {
            return refuse("ordered by a position");
        }
        if distinct && !same_expr(&o.expr, arg_expr) {
            // Which duplicate's key would sort is not defined.
            return refuse("(DISTINCT …) ordered by another expression");
        }
    }
    let missing = || "cannot locate the arguments of GROUP_CONCAT".to_owned();
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    if !ctx.toks.is_punct(open, "(") {
        return Err(missing());
    }
    let start = if ctx.toks.is_kw(open + 1, "DISTINCT") {
        open + 2
    } else {
        open + 1
    };
    let ends_value = |t: &Tokens<'_>, i: usize| {
        t.is_kw(i, "ORDER") || t.is_kw(i, "SEPARATOR") || t.is_kw(i, "LIMIT")
    };
    let (items, stop) = ctx.toks.split_list(start, ends_value);
    let [item] = items.as_slice() else {
        return Err(missing());
    };
    let arg = ctx.toks.byte_range(item).ok_or_else(missing)?;
    let mut order = Vec::new();
    if !order_exprs.is_empty() {
        if !(ctx.toks.is_kw(stop, "ORDER") && ctx.toks.is_kw(stop + 1, "BY")) {
            return Err(missing());
        }
        let (keys, _) = ctx.toks.split_list(stop + 2, |t, i| {
            t.is_kw(i, "SEPARATOR") || t.is_kw(i, "LIMIT")
        });
        if keys.len() != order_exprs.len() {
            return Err(missing());
        }
        for (k, o) in keys.iter().zip(order_exprs) {
            let r = ctx.toks.byte_range(k).ok_or_else(missing)?;
            order.push((ctx.strip_direction(r), descending(o)));
        }
    }
    Ok(ConcatAgg {
        item: 0,
        arg,
        order,
        separator,
        distinct,
    })
}

/// A DISTINCT aggregate met in HAVING or ORDER BY.
struct HiddenDistinct {
    text: String,
    kind: &'static str,
    /// The whole call (what the shards compute in the hidden column).
    whole: Range<usize>,
    args: Vec<Range<usize>>,
    /// `COUNT(DISTINCT key)`: adds up unless the shards group finer.
    key: bool,
}

fn hidden_distinct(
    ctx: &Ctx<'_>,
    f: &ast::Function,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<HiddenDistinct, String> {
    let name = function_name(f);
    let args = distinct_arg_ranges(ctx, f)?;
    if args.is_empty() || (name != "COUNT" && args.len() != 1) {
        return Err(format!(
            "{name}(DISTINCT …) has an unexpected argument list"
        ));
    }
    let single_key = match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 => {
            matches!(&l.args[0], FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if is_key(e))
        }
        _ => false,
    };
    let missing = || format!("cannot locate {name}(DISTINCT …)");
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    let close = ctx.toks.matching_paren(open).ok_or_else(missing)?;
    Ok(HiddenDistinct {
        text: f.to_string(),
        kind: match name.as_str() {
            "COUNT" => "COUNT",
            "SUM" => "SUM",
            _ => "AVG",
        },
        whole: name_at.start..ctx.toks.toks[close].end,
        args,
        key: name == "COUNT" && single_key,
    })
}

/// Source ranges of the arguments of `F(DISTINCT a, b, …)`.
fn distinct_arg_ranges(ctx: &Ctx<'_>, f: &ast::Function) -> Result<Vec<Range<usize>>, String> {
    let name = function_name(f);
    let missing = || format!("cannot locate the arguments of {name}(DISTINCT …)");
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    if !ctx.toks.is_punct(open, "(") || !ctx.toks.is_kw(open + 1, "DISTINCT") {
        return Err(missing());
    }
    let (items, stop) = ctx.toks.split_list(open + 2, |_, _| false);
    if !ctx.toks.is_punct(stop, ")") {
        return Err(missing());
    }
    items
        .iter()
        .map(|r| ctx.toks.byte_range(r))
        .collect::<Option<_>>()
        .ok_or_else(missing)
}

/// Where a clause can be inserted after FROM/WHERE: the end of the token
/// before the first of HAVING, WINDOW, ORDER, LIMIT, FOR, LOCK, INTO or the
/// end of the statement (at depth 0, from token `from`).
fn clause_insertion_point(ctx: &Ctx<'_>, from: usize) -> usize {
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

fn descending(ob: &ast::OrderByExpr) -> bool {
    matches!(ob.options.sort, Some(ast::OrderBySort::Desc))
}

fn distinct_args(f: &ast::Function) -> bool {
    matches!(&f.args, FunctionArguments::List(l) if matches!(l.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct)))
}

/// The bytes of an aliased item's expression (without `AS alias`).
fn expr_range(
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

/// `, <hidden> AS `__shardcat_hN`, …` after the select list.
fn hidden_edit(at: usize, hidden: &[Hidden]) -> Edit {
    let mut pieces = Vec::new();
    for (n, h) in hidden.iter().enumerate() {
        pieces.push(Piece::Text(", ".to_owned()));
        pieces.extend(h.pieces.iter().cloned());
        pieces.push(Piece::Text(format!(" AS `__shardcat_h{n}`")));
    }
    Edit {
        range: at..at,
        pieces,
    }
}

/// The combine rule of an aggregate select item; `AVG` is rewritten to
/// `SUM` (keeping the client's column name) with a hidden `COUNT`.
#[allow(clippy::too_many_arguments)]
fn aggregate_combine(
    ctx: &Ctx<'_>,
    f: &ast::Function,
    is_key: &dyn Fn(&Expr) -> bool,
    item: &Range<usize>,
    alias: Option<&ast::Ident>,
    edits: &mut Vec<Edit>,
    avg_counts: &mut Vec<(usize, Vec<Piece>)>,
    distincts: &mut Vec<DistinctAgg>,
    key_distincts: &mut Vec<usize>,
    concats: &mut Vec<ConcatAgg>,
    index: usize,
) -> Result<Combine, String> {
    let name = function_name(f);
    let distinct = distinct_args(f);
    let single_arg = match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 && l.clauses.is_empty() => match &l.args[0]
        {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        },
        _ => None,
    };
    match (name.as_str(), distinct) {
        ("COUNT", false) => Ok(Combine::Count),
        ("COUNT", true) if single_arg.is_some_and(is_key) => {
            // Each key value lives in one shard: the counts add up, unless
            // another DISTINCT aggregate makes the shards group finer.
            key_distincts.push(index);
            Ok(Combine::Count)
        }
        ("SUM", false) => Ok(Combine::Sum),
        ("MIN", _) => Ok(Combine::Min),
        ("MAX", _) => Ok(Combine::Max),
        ("AVG", false) => {
            let name_ident = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .ok_or("cannot locate AVG")?;
            let name_at = ctx.lines.range(name_ident.span).ok_or("cannot locate AVG")?;
            let open = ctx.toks.index_at(name_at.end);
            if !ctx.toks.is_punct(open, "(") {
                return Err("cannot locate the arguments of AVG".to_owned());
            }
            let close = ctx.toks.matching_paren(open).ok_or("cannot locate the arguments of AVG")?;
            let args = ctx.toks.toks[open].end..ctx.toks.toks[close].start;
            let fn_end = ctx.toks.toks[close].end;
            edits.push(Edit {
                range: name_at,
                pieces: vec![Piece::Text("SUM".to_owned())],
            });
            if alias.is_none() {
                // Keep the client's column name: the item as written.
                let text = ctx.sql.get(item.start..fn_end).unwrap_or("AVG");
                edits.push(Edit {
                    range: fn_end..fn_end,
                    pieces: vec![Piece::Text(format!(" AS `{}`", text.replace('`', "``")))],
                });
            }
            avg_counts.push((
                index,
                vec![
                    Piece::Text("COUNT(".to_owned()),
                    Piece::Src(args),
                    Piece::Text(")".to_owned()),
                ],
            ));
            Ok(Combine::Sum)
        }
        ("COUNT" | "SUM" | "AVG", true) => {
            let args = distinct_arg_ranges(ctx, f)?;
            if args.is_empty() || (name != "COUNT" && args.len() != 1) {
                return Err(format!("{name}(DISTINCT …) has an unexpected argument list"));
            }
            distincts.push(DistinctAgg {
                item: index,
                kind: match name.as_str() {
                    "COUNT" => "COUNT",
                    "SUM" => "SUM",
                    _ => "AVG",
                },
                args,
            });
            // Replaced once the hidden argument columns are placed.
            Ok(Combine::Any)
        }
        ("GROUP_CONCAT", _) => {
            concats.push(group_concat(ctx, f)?.with_item(index));
            // Replaced once the hidden columns are placed.
            Ok(Combine::Any)
        }
        (other, true) => Err(format!(
            "{other}(DISTINCT …) cannot be merged across shards unless GROUP BY includes the sharding key"
        )),
        (other, false) => Err(format!(
            "{other}() cannot be merged across shards (COUNT, SUM, MIN, MAX, AVG, their DISTINCT forms and GROUP_CONCAT can) unless GROUP BY includes the sharding key"
        )),
    }
}
