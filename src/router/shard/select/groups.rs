//! A grouped SELECT whose groups span shards: the shards compute partial
//! groups and the proxy combines them. Builds the [`AggregateMerge`] (how
//! each column combines, group keys, DISTINCT aggregates, GROUP_CONCAT,
//! expressions on aggregates), the hidden columns and GROUP BY additions
//! the shards need, HAVING (evaluated by the merge, removed from the shard
//! SQL) and the sort keys after combining.
//!
//! Owns: [`combine_groups`] and its steps, [`Hidden`] columns. Must not
//! handle disjoint rows (see `rows`) or read clauses from the text (see
//! `parts` and `clauses`).

use super::clauses::KeyKind;
use super::weights::{enum_index_pieces, weight_pieces};
use super::*;

/// A hidden column to append.
pub(super) struct Hidden {
    pub pieces: Vec<Piece>,
}

pub(super) fn push_hidden(
    columns: &mut Vec<Combine>,
    hidden: &mut Vec<Hidden>,
    combine: Combine,
    pieces: Vec<Piece>,
) -> usize {
    hidden.push(Hidden { pieces });
    columns.push(combine);
    columns.len() - 1
}

/// `, <hidden> AS `__shardcat_hN`, …` after the select list.
pub(super) fn hidden_edit(at: usize, hidden: &[Hidden]) -> Edit {
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

/// The shard row of a grouped SELECT being built: how each column
/// combines, and the hidden columns appended after the select list.
struct ShardRow {
    columns: Vec<Combine>,
    hidden: Vec<Hidden>,
}

impl ShardRow {
    fn push_hidden(&mut self, combine: Combine, pieces: Vec<Piece>) -> usize {
        push_hidden(&mut self.columns, &mut self.hidden, combine, pieces)
    }
}

/// What the select items need: each item's combine rule so far, and the
/// aggregates that add hidden columns or group keys later.
struct ItemCombines<'q> {
    columns: Vec<Combine>,
    avg_counts: Vec<(usize, Vec<Piece>)>,
    distincts: Vec<DistinctAgg>,
    key_distincts: Vec<usize>,
    concats: Vec<ConcatAgg>,
    computed_items: Vec<(usize, &'q Expr)>,
}

/// A DISTINCT aggregate over a sharding key met in HAVING or ORDER BY,
/// placed only when the shards group more finely: (text, bytes, arguments).
type PendingKey = (String, Range<usize>, Vec<Range<usize>>);

/// DISTINCT aggregates of HAVING/ORDER BY placed as hidden columns:
/// (text, column).
type HiddenDistincts = Vec<(String, usize)>;

/// What a [`Resolver`] needs besides the shard row.
struct Resolving<'a, 'q> {
    ctx: &'a Ctx<'q>,
    s: &'a Select,
    is_key: &'a dyn Fn(&Expr) -> bool,
    visible: usize,
    group_exprs: &'a [&'a Expr],
    group_by: &'a [usize],
    fine_groups: bool,
    hidden_distincts: &'a [(String, usize)],
}

impl<'q> Resolving<'_, 'q> {
    /// One resolver per use: it borrows the column lists mutably.
    fn resolver<'r>(&'r self, row: &'r mut ShardRow) -> Resolver<'r, 'q> {
        Resolver {
            ctx: self.ctx,
            s: self.s,
            is_key: self.is_key,
            columns: &mut row.columns,
            hidden: &mut row.hidden,
            visible: self.visible,
            group_exprs: self.group_exprs,
            group_by: self.group_by,
            fine_groups: self.fine_groups,
            hidden_distincts: self.hidden_distincts,
        }
    }
}

/// Partial groups combine in the proxy.
pub(super) fn combine_groups(
    ctx: &Ctx<'_>,
    p: SelectParts<'_>,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<SelectMerge, String> {
    if p.wildcard_at.is_some() {
        return Err("SELECT * with aggregates cannot be merged across shards".to_owned());
    }
    let mut edits: Vec<Edit> = Vec::new();
    let ItemCombines {
        columns,
        avg_counts,
        mut distincts,
        key_distincts,
        concats,
        computed_items,
    } = item_combines(ctx, &p, is_key, &mut edits)?;
    let visible = columns.len();
    let mut row = ShardRow {
        columns,
        hidden: Vec::new(),
    };
    // AVG counts.
    for (item, pieces) in avg_counts {
        let at = row.push_hidden(Combine::Count, pieces);
        row.columns[item] = Combine::Avg { count: at };
    }
    // DISTINCT aggregates: the shards group by their arguments too
    // (partial COUNT/SUM/MIN/MAX of finer groups still add up), and
    // the merge gathers the distinct values per group.
    let mut extra_group: Vec<Piece> = Vec::new();
    let (mut hidden_distincts, pending_key) =
        having_and_order_distincts(ctx, &p, is_key, &mut row, &mut distincts)?;
    let fine_groups = !distincts.is_empty() || !concats.is_empty();
    if fine_groups {
        gather_key_distincts(
            ctx,
            p.s,
            pending_key,
            &key_distincts,
            &mut row,
            &mut distincts,
            &mut hidden_distincts,
        )?;
    }
    group_by_distinct_args(&mut row, distincts, &mut extra_group);
    let (concat_specs, concat_weights) = group_concat_specs(&mut row, concats, &mut extra_group);
    if !extra_group.is_empty() {
        edits.push(extra_group_edit(ctx, &p, extra_group));
    }
    let group_by = group_key_columns(&p, &mut row, visible);
    let resolving = Resolving {
        ctx,
        s: p.s,
        is_key,
        visible,
        group_exprs: &p.group_exprs,
        group_by: &group_by,
        fine_groups,
        hidden_distincts: &hidden_distincts,
    };
    // Expressions on aggregates: recomputed from the combined
    // aggregates (hidden when not selected).
    let mut computed = Vec::new();
    for (i, e) in computed_items {
        let mut r = resolving.resolver(&mut row);
        let expr = r.expr(e).map_err(|why| {
            format!("`{e}` computes on aggregates in a way shardcat cannot merge: it {why}")
        })?;
        computed.push(expr);
        row.columns[i] = Combine::Computed {
            index: computed.len() - 1,
        };
    }
    let mut spec = MergeSpec {
        distinct: p.distinct,
        ..Default::default()
    };
    // HAVING: evaluated on the combined groups; shards must not apply
    // it to their partial groups, so it leaves the shard SQL.
    if let Some(h) = &p.s.having {
        let mut r = resolving.resolver(&mut row);
        spec.having = Some(r.expr(h).map_err(|e| format!("HAVING {e}"))?);
        edits.push(having_removal(ctx, p.list_stop)?);
    }
    spec.order_by = combined_sort_keys(&p, &resolving, &mut row, &mut computed)?;
    if p.order_exprs.is_empty() {
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
    let (mut weights, enum_keys) = weigh_keys(ctx, &p, &mut row, visible, &group_by);
    weights.extend(concat_weights);
    spec.weights = weights.into();
    spec.enum_keys = enum_keys.into();
    spec.aggregate = Some(AggregateMerge {
        group_by,
        columns: row.columns,
        concats: concat_specs,
        computed,
    });
    spec.hidden_columns = row.hidden.len();
    if !row.hidden.is_empty() {
        edits.push(hidden_edit(p.list_end, &row.hidden));
    }
    Ok(SelectMerge {
        spec,
        edits,
        limit: p.limit,
        push_limit: false,
        branches: Vec::new(),
    })
}

/// How each select item combines; aggregates needing more (AVG counts,
/// DISTINCT arguments, GROUP_CONCAT, expressions on aggregates) are noted.
fn item_combines<'q>(
    ctx: &Ctx<'_>,
    p: &SelectParts<'q>,
    is_key: &dyn Fn(&Expr) -> bool,
    edits: &mut Vec<Edit>,
) -> Result<ItemCombines<'q>, String> {
    let mut columns: Vec<Combine> = Vec::new();
    let mut avg_counts: Vec<(usize, Vec<Piece>)> = Vec::new();
    let mut distincts: Vec<DistinctAgg> = Vec::new();
    let mut key_distincts: Vec<usize> = Vec::new();
    let mut concats: Vec<ConcatAgg> = Vec::new();
    let mut computed_items: Vec<(usize, &Expr)> = Vec::new();
    for (i, item) in p.s.projection.iter().enumerate() {
        let (expr, alias) = item_expr(item).ok_or("unsupported select item")?;
        let combine = match expr {
            Expr::Function(f) if is_aggregate(f) => aggregate_combine(
                ctx,
                f,
                is_key,
                &p.items[i],
                alias,
                edits,
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
                if p.group_exprs.iter().any(|g| same_expr(g, other))
                    || p.group_exprs.iter().any(|g| p.group_item_for(g) == Some(i))
                {
                    Combine::Group
                } else {
                    Combine::Any
                }
            }
        };
        columns.push(combine);
    }
    Ok(ItemCombines {
        columns,
        avg_counts,
        distincts,
        key_distincts,
        concats,
        computed_items,
    })
}

/// DISTINCT aggregates used only by HAVING or ORDER BY: hidden columns
/// gathered like select items (found by their text). Returns them as
/// (text, column), and those over a sharding key still pending.
fn having_and_order_distincts(
    ctx: &Ctx<'_>,
    p: &SelectParts<'_>,
    is_key: &dyn Fn(&Expr) -> bool,
    row: &mut ShardRow,
    distincts: &mut Vec<DistinctAgg>,
) -> Result<(HiddenDistincts, Vec<PendingKey>), String> {
    let s = p.s;
    let mut hidden_distincts: HiddenDistincts = Vec::new();
    let mut pending_key: Vec<PendingKey> = Vec::new();
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
    for ob in &p.order_exprs {
        let _ = ast::visit_expressions(&ob.expr, &mut collect);
    }
    for d in found {
        let d = d?;
        let selected = s.projection.iter().any(|item| {
            item_expr(item).is_some_and(|(x, _)| x.to_string().eq_ignore_ascii_case(&d.text))
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
        let at = row.push_hidden(Combine::Any, vec![Piece::Src(d.whole)]);
        distincts.push(DistinctAgg {
            item: at,
            kind: d.kind,
            args: d.args,
        });
        hidden_distincts.push((d.text, at));
    }
    Ok((hidden_distincts, pending_key))
}

/// `COUNT(DISTINCT key)` aggregates (met in HAVING or ORDER BY, or select
/// items): one shard's distinct keys are its own unless the shards group
/// more finely (by DISTINCT arguments or GROUP_CONCAT values); then they
/// are gathered like the others.
fn gather_key_distincts(
    ctx: &Ctx<'_>,
    s: &Select,
    pending_key: Vec<PendingKey>,
    key_distincts: &[usize],
    row: &mut ShardRow,
    distincts: &mut Vec<DistinctAgg>,
    hidden_distincts: &mut Vec<(String, usize)>,
) -> Result<(), String> {
    for (text, whole, args) in pending_key {
        let at = row.push_hidden(Combine::Any, vec![Piece::Src(whole)]);
        distincts.push(DistinctAgg {
            item: at,
            kind: "COUNT",
            args,
        });
        hidden_distincts.push((text, at));
    }
    for &item in key_distincts {
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
    Ok(())
}

/// The arguments of each DISTINCT aggregate: hidden columns, added to the
/// shards' GROUP BY.
fn group_by_distinct_args(
    row: &mut ShardRow,
    distincts: Vec<DistinctAgg>,
    extra_group: &mut Vec<Piece>,
) {
    for d in distincts {
        let first = row.columns.len();
        for arg in &d.args {
            row.push_hidden(Combine::Any, vec![Piece::Src(arg.clone())]);
            extra_group.push(Piece::Text(", ".to_owned()));
            extra_group.push(Piece::Src(arg.clone()));
        }
        row.columns[d.item] = match d.kind {
            "COUNT" => Combine::CountDistinct {
                first,
                n: d.args.len(),
            },
            "SUM" => Combine::SumDistinct { arg: first },
            _ => Combine::AvgDistinct { arg: first },
        };
    }
}

/// GROUP_CONCAT: the shards group by the value and its ORDER BY
/// keys too and tell each value's multiplicity; the merge sorts and
/// joins them, comparing the ORDER BY keys (and, under DISTINCT, the
/// values) by the server's weights, also returned.
fn group_concat_specs(
    row: &mut ShardRow,
    concats: Vec<ConcatAgg>,
    extra_group: &mut Vec<Piece>,
) -> (Vec<crate::merge::group_concat::ConcatSpec>, Vec<WeightKey>) {
    let mut concat_specs = Vec::new();
    let mut weights = Vec::new();
    if concats.is_empty() {
        return (concat_specs, weights);
    }
    let mut weigh = |column: usize, r: &Range<usize>, row: &mut ShardRow| {
        let (weight, pad) = weight_pieces(&[Piece::Src(r.clone())], false);
        let weight = row.push_hidden(Combine::Any, weight);
        let pad = row.push_hidden(Combine::Any, pad);
        weights.push(WeightKey {
            column: ColumnRef::Index(column),
            weight: ColumnRef::Index(weight),
            pad: ColumnRef::Index(pad),
            collation: None,
        });
    };
    let count = row.push_hidden(Combine::Any, vec![Piece::Text("COUNT(*)".to_owned())]);
    let max_len = row.push_hidden(
        Combine::Any,
        vec![Piece::Text("@@group_concat_max_len".to_owned())],
    );
    let add = |r: &Range<usize>, row: &mut ShardRow, extra_group: &mut Vec<Piece>| {
        extra_group.push(Piece::Text(", ".to_owned()));
        extra_group.push(Piece::Src(r.clone()));
        row.push_hidden(Combine::Any, vec![Piece::Src(r.clone())])
    };
    for c in concats {
        let value = add(&c.arg, row, extra_group);
        // The value also travels as the server's own text of it (what the
        // server's GROUP_CONCAT joins): in the binary protocol a DOUBLE,
        // FLOAT or temporal value arrives as a binary value whose
        // canonical text is not the server's (`0.0` for `0`). The suffix
        // widens the column: a grouping server stores `CONCAT(double)` in
        // 22 characters and cut `-2.2250738585072014e-308` to `…e-3`.
        let text = row.push_hidden(
            Combine::Any,
            vec![
                Piece::Text("CONCAT(".to_owned()),
                Piece::Src(c.arg.clone()),
                Piece::Text(format!(", '{}')", crate::merge::group_concat::TEXT_SUFFIX)),
            ],
        );
        if c.distinct {
            weigh(value, &c.arg, row);
        }
        let order = c
            .order
            .iter()
            .map(|(r, desc)| {
                let at = add(r, row, extra_group);
                weigh(at, r, row);
                (at, *desc)
            })
            .collect();
        concat_specs.push(crate::merge::group_concat::ConcatSpec {
            value,
            text,
            order,
            separator: c.separator,
            distinct: c.distinct,
            count,
            max_len,
        });
        row.columns[c.item] = Combine::GroupConcat {
            index: concat_specs.len() - 1,
        };
    }
    (concat_specs, weights)
}

/// The edit adding `extra_group` after the GROUP BY items, or a new
/// GROUP BY before what follows WHERE.
fn extra_group_edit(ctx: &Ctx<'_>, p: &SelectParts<'_>, mut extra_group: Vec<Piece>) -> Edit {
    let at = match p.group_ranges.last() {
        Some(last) => last.end,
        None => {
            // No GROUP BY: one is added before what follows WHERE.
            extra_group[0] = Piece::Text(" GROUP BY ".to_owned());
            clause_insertion_point(ctx, p.list_stop)
        }
    };
    Edit {
        range: at..at,
        pieces: extra_group,
    }
}

/// The column of each group key: its select item, or a hidden column.
fn group_key_columns(p: &SelectParts<'_>, row: &mut ShardRow, visible: usize) -> Vec<usize> {
    let mut group_by = Vec::new();
    for (g, e) in p.group_exprs.iter().enumerate() {
        let col = match p.group_item_for(e).filter(|&i| i < visible) {
            Some(i) => {
                row.columns[i] = Combine::Group;
                i
            }
            None => row.push_hidden(Combine::Group, vec![Piece::Src(p.group_ranges[g].clone())]),
        };
        group_by.push(col);
    }
    group_by
}

/// Weight columns for the keys compared under a collation: group keys,
/// MIN/MAX values, COUNT(DISTINCT) arguments and, for DISTINCT, the
/// visible columns that are not aggregates; position columns instead for
/// group and DISTINCT keys that are ENUM/SET columns (MIN/MAX of an ENUM
/// compare its text, as the server does).
fn weigh_keys(
    ctx: &Ctx<'_>,
    p: &SelectParts<'_>,
    row: &mut ShardRow,
    visible: usize,
    group_by: &[usize],
) -> (Vec<WeightKey>, Vec<EnumKey>) {
    let mut enums: Vec<usize> = Vec::new();
    // Group keys of integer, DECIMAL or temporal columns: no weights.
    let mut plain: Vec<usize> = Vec::new();
    for (g, &j) in group_by.iter().enumerate() {
        let kind = if j < visible {
            p.item_kind(ctx, j)
        } else {
            p.group_exprs
                .get(g)
                .map_or(KeyKind::Weighed, |e| ctx.kind(e))
        };
        match kind {
            KeyKind::Enum => enums.push(j),
            KeyKind::Plain => plain.push(j),
            KeyKind::Weighed => {}
        }
    }
    for (j, c) in row.columns.iter().enumerate() {
        if matches!(c, Combine::Group | Combine::Any)
            && p.distinct
            && j < visible
            && p.item_is_enum(ctx, j)
        {
            enums.push(j);
        }
    }
    let mut enum_keys: Vec<EnumKey> = Vec::new();
    for j in enums {
        if enum_keys.iter().any(|k| k.column == ColumnRef::Index(j)) {
            continue;
        }
        let src = if j < visible {
            match p.item_src(ctx, j) {
                Some(s) => vec![s],
                None => continue,
            }
        } else {
            row.hidden[j - visible].pieces.clone()
        };
        let index = row.push_hidden(Combine::Any, enum_index_pieces(&src));
        enum_keys.push(EnumKey {
            column: ColumnRef::Index(j),
            index: ColumnRef::Index(index),
        });
    }
    let mut keys: Vec<usize> = group_by
        .iter()
        .copied()
        .filter(|j| !enum_keys.iter().any(|k| k.column == ColumnRef::Index(*j)))
        .collect();
    for (j, c) in row.columns.iter().enumerate() {
        match c {
            Combine::Min | Combine::Max => keys.push(j),
            Combine::CountDistinct { first, n } => keys.extend(*first..*first + *n),
            Combine::Group | Combine::Any
                if p.distinct
                    && j < visible
                    && !enum_keys.iter().any(|k| k.column == ColumnRef::Index(j)) =>
            {
                keys.push(j)
            }
            _ => {}
        }
    }
    let mut out: Vec<WeightKey> = Vec::new();
    for j in keys {
        let plain_key = plain.contains(&j)
            || (j < visible
                && matches!(row.columns[j], Combine::Group | Combine::Any)
                && p.item_kind(ctx, j) == KeyKind::Plain);
        if plain_key || out.iter().any(|w| w.column == ColumnRef::Index(j)) {
            continue;
        }
        let src = if j < visible {
            match p.item_src(ctx, j) {
                Some(s) => vec![s],
                None => continue,
            }
        } else {
            row.hidden[j - visible].pieces.clone()
        };
        let (weight, pad) = weight_pieces(&src, false);
        let weight = row.push_hidden(Combine::Any, weight);
        let pad = row.push_hidden(Combine::Any, pad);
        out.push(WeightKey {
            column: ColumnRef::Index(j),
            weight: ColumnRef::Index(weight),
            pad: ColumnRef::Index(pad),
            collation: None,
        });
    }
    (out, enum_keys)
}

/// Sort keys (after combining).
fn combined_sort_keys(
    p: &SelectParts<'_>,
    resolving: &Resolving<'_, '_>,
    row: &mut ShardRow,
    computed: &mut Vec<MergeExpr>,
) -> Result<Vec<SortKey>, String> {
    let mut order_by = Vec::new();
    for (o, ob) in p.order_exprs.iter().enumerate().filter(|_| !p.no_order) {
        let col = match p.item_for(&ob.expr).filter(|&i| i < resolving.visible) {
            Some(i) => i,
            None => match &ob.expr {
                e if find_aggregates(e).0 && !matches!(e, Expr::Function(f) if is_aggregate(f)) => {
                    // An expression on aggregates: a hidden column the
                    // shards compute (its definition) and the merge
                    // recomputes.
                    let at = row.push_hidden(
                        Combine::Any,
                        vec![Piece::Src(p.order_ranges[o].clone())],
                    );
                    let mut r = resolving.resolver(row);
                    let expr = r.expr(e).map_err(|why| {
                        format!("ORDER BY `{e}` cannot be merged across shards: it {why}")
                    })?;
                    computed.push(expr);
                    row.columns[at] = Combine::Computed {
                        index: computed.len() - 1,
                    };
                    at
                }
                Expr::Function(f) if is_aggregate(f) => {
                    let mut r = resolving.resolver(row);
                    r.hidden_aggregate(f).map_err(|e| {
                        format!("ORDER BY `{}` cannot be merged across shards: {e}", ob.expr)
                    })?
                }
                e => match p.group_exprs.iter().position(|g| same_expr(g, e)).or_else(|| {
                    let g = parts::unqualified_match(e, &p.group_exprs)?;
                    p.group_exprs.iter().position(|x| std::ptr::eq(*x, g))
                }) {
                    Some(g) => resolving.group_by[g],
                    None => {
                        return Err(format!(
                            "ORDER BY `{e}` is neither selected, grouped nor a plain aggregate; it cannot be merged across shards"
                        ))
                    }
                },
            },
        };
        order_by.push(SortKey {
            column: ColumnRef::Index(col),
            descending: descending(ob),
        });
    }
    Ok(order_by)
}
