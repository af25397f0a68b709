//! UNION [ALL] across shards: the merge recipe of a set operation run whole
//! on every shard, and the byte ranges of a flat UNION's branches for the
//! planner to run them on different targets.
//!
//! Owns: [`set_operation`], the hidden weight columns of every branch,
//! and [`union_branches`]. Must not handle a single
//! SELECT's clauses (see `parts`, `rows`, `groups`).

use super::weights::weight_pieces;
use super::*;

/// A UNION [ALL] run whole on every shard: the shards' answers are
/// concatenated (UNION: duplicates removed again across shards), then
/// sorted and limited as the statement says (each shard sorts and gets
/// `LIMIT offset + limit`, so a k-way merge suffices without UNION).
pub(super) fn set_operation(ctx: &Ctx<'_>, q: &Query) -> Result<SelectMerge, String> {
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
    let edits = weigh_branches(ctx, q, &mut spec)?;
    Ok(SelectMerge {
        spec,
        edits,
        limit,
        push_limit: true,
        branches: union_branches(ctx, q),
    })
}

/// The union's keys (ORDER BY columns; every column under UNION
/// DISTINCT) compared by the server's weights: every branch gets, per key,
/// hidden `WEIGHT_STRING` and PAD SPACE probe columns of its own item
/// (trimmed under PAD SPACE, so a shard's own UNION DISTINCT keeps one
/// row per equal value) and `COLLATION(item)`. A branch's weights are the
/// union's only when the branch's item has the union column's collation:
/// the merge checks that every row's `COLLATION` agrees
/// (`WeightKey::collation`). A branch with `*` hides which item is which:
/// no weights, and the merge refuses string keys.
fn weigh_branches(ctx: &Ctx<'_>, q: &Query, spec: &mut MergeSpec) -> Result<Vec<Edit>, String> {
    let mut keys: Vec<usize> = spec
        .order_by
        .iter()
        .filter_map(|k| match k.column {
            ColumnRef::Index(i) => Some(i),
            ColumnRef::Hidden(_) => None,
        })
        .collect();
    let mut branches: Vec<&Select> = Vec::new();
    fn selects<'q>(e: &'q SetExpr, out: &mut Vec<&'q Select>) {
        match e {
            SetExpr::SetOperation { left, right, .. } => {
                selects(left, out);
                selects(right, out);
            }
            SetExpr::Query(inner) => selects(&inner.body, out),
            SetExpr::Select(s) => out.push(s),
            _ => {}
        }
    }
    selects(&q.body, &mut branches);
    let width = branches.first().map_or(0, |s| s.projection.len());
    if spec.distinct {
        keys.extend(0..width);
    }
    let mut seen = Vec::new();
    keys.retain(|k| {
        let fresh = !seen.contains(k);
        seen.push(*k);
        fresh
    });
    let plain = branches.iter().all(|s| {
        s.projection.len() == width
            && s.projection.iter().all(|i| {
                !matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
    });
    if keys.is_empty() || !plain || keys.iter().any(|&k| k >= width) {
        return Ok(Vec::new());
    }
    let mut edits = Vec::new();
    for s in &branches {
        let (items, _) = parts::select_list(ctx, s)?;
        let list_end = items.last().map(|r| r.end).ok_or("empty select list")?;
        let mut hidden = Vec::new();
        for &k in &keys {
            let src = match item_expr(&s.projection[k]) {
                Some((e, Some(alias))) => expr_range(ctx, &items[k], e, alias),
                Some((_, None)) => Some(items[k].clone()),
                None => None,
            }
            .ok_or("cannot locate a UNION branch's select item")?;
            let src = [Piece::Src(src)];
            let (weight, pad) = weight_pieces(&src, spec.distinct);
            let mut collation = vec![Piece::Text("COLLATION(".to_owned())];
            collation.extend(src.iter().cloned());
            collation.push(Piece::Text(")".to_owned()));
            for pieces in [weight, pad, collation] {
                hidden.push(Hidden { pieces });
            }
        }
        edits.push(hidden_edit(list_end, &hidden));
    }
    spec.weights = keys
        .iter()
        .enumerate()
        .map(|(n, &k)| WeightKey {
            column: ColumnRef::Index(k),
            weight: ColumnRef::Hidden(3 * n),
            pad: ColumnRef::Hidden(3 * n + 1),
            collation: Some(ColumnRef::Hidden(3 * n + 2)),
        })
        .collect();
    spec.hidden_columns = 3 * keys.len();
    Ok(edits)
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
