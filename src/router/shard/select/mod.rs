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
//!
//! Owns: `analyze` and the types the planner reads (`SelectMerge`,
//! `Edit`, `Piece`, `LimitInfo`); the work is split by clause:
//! `parts` (reading the SELECT's clauses), `rows` (disjoint rows),
//! `groups` (partial groups combined), `aggregates` (aggregate items),
//! `resolver` (HAVING and expressions on aggregates), `union` (set
//! operations), `clauses` (token positions). Must not do I/O or render
//! shard SQL (the planner splices the edits).

use std::ops::Range;

use crate::sql::ast::{
    self, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    LimitClause, OrderByKind, Query, Select, SelectItem, SetExpr, SetQuantifier, Value, Visit,
    Visitor,
};

use super::lex::{is_clause_keyword, unescape_string, LineIndex, Tokens};
use super::{AggregateMerge, ColumnRef, Combine, EnumKey, MergeSpec, SortKey, WeightKey};
use crate::merge::eval::MergeExpr;

mod aggregates;
mod clauses;
mod groups;
mod parts;
mod resolver;
mod rows;
mod union;
mod weights;

use aggregates::{
    aggregate_combine, distinct_arg_ranges, hidden_distinct, ConcatAgg, DistinctAgg, HiddenDistinct,
};
use clauses::{clause_insertion_point, expr_range, having_removal, Ctx};
use groups::{combine_groups, hidden_edit, push_hidden, Hidden};
use parts::SelectParts;
pub(crate) use parts::MODIFIERS;
use resolver::Resolver;
use rows::concatenate_rows;
use union::set_operation;

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

/// The scatter recipe of a query; `is_key` tells whether an expression is
/// the sharding key of one of the query's top tables, `is_enum` whether it
/// is an ENUM/SET column of one (sorted by member position), `is_plain`
/// whether it is an integer, DECIMAL or temporal column of one (compared
/// natively: no weight columns).
pub(crate) fn analyze(
    sql: &str,
    toks: &Tokens<'_>,
    lines: &LineIndex<'_>,
    q: &Query,
    is_key: &dyn Fn(&Expr) -> bool,
    is_enum: &dyn Fn(&Expr) -> bool,
    is_plain: &dyn Fn(&Expr) -> bool,
) -> Result<SelectMerge, String> {
    let ctx = Ctx {
        sql,
        toks,
        lines,
        placeholders: toks.placeholders(),
        is_enum,
        is_plain,
    };
    if q.fetch.is_some() {
        return Err("FETCH FIRST cannot be merged across shards; use LIMIT".to_owned());
    }
    match q.body.as_ref() {
        SetExpr::Select(s) => select(&ctx, q, s, is_key),
        SetExpr::SetOperation { .. } => set_operation(&ctx, q),
        SetExpr::Query(inner) if q.order_by.is_none() && q.limit_clause.is_none() => {
            analyze(sql, toks, lines, inner, is_key, is_enum, is_plain)
        }
        _ => Err("this query form cannot be merged across shards".to_owned()),
    }
}

/// The scatter recipe of one SELECT: whole rows (or whole groups) are
/// concatenated, partial groups are combined.
fn select(
    ctx: &Ctx<'_>,
    q: &Query,
    s: &Select,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<SelectMerge, String> {
    let parts = SelectParts::read(ctx, q, s, is_key)?;
    if parts.grouped && !parts.key_grouped {
        return combine_groups(ctx, parts, is_key);
    }
    concatenate_rows(ctx, parts)
}

fn descending(ob: &ast::OrderByExpr) -> bool {
    matches!(ob.options.sort, Some(ast::OrderBySort::Desc))
}

fn distinct_args(f: &ast::Function) -> bool {
    matches!(&f.args, FunctionArguments::List(l) if matches!(l.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct)))
}
