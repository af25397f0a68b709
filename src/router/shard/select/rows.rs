//! A SELECT whose rows (or whole groups, when grouped on a sharding key)
//! are disjoint across shards: the answers are concatenated, merge-sorted
//! and limited, and each shard gets `LIMIT offset + limit`.
//!
//! Owns: the sort keys and hidden ORDER BY/GROUP BY columns of that case.
//! Must not combine partial groups (see `groups`).

use super::clauses::KeyKind;
use super::weights::{enum_index_pieces, weight_pieces};
use super::*;

/// Rows (or whole groups) are disjoint across shards: concatenate,
/// merge-sort, limit.
pub(super) fn concatenate_rows(ctx: &Ctx<'_>, p: SelectParts<'_>) -> Result<SelectMerge, String> {
    let s = p.s;
    let mut edits: Vec<Edit> = Vec::new();
    let mut hidden: Vec<Hidden> = Vec::new();
    let mut spec = MergeSpec {
        distinct: p.distinct,
        ..Default::default()
    };
    let hidden_ref = |pieces: Vec<Piece>, hidden: &mut Vec<Hidden>| {
        hidden.push(Hidden { pieces });
        ColumnRef::Hidden(hidden.len() - 1)
    };
    // Keys compared by the server's weights (or, for ENUM/SET columns, by
    // their positions; integer, DECIMAL and temporal columns natively):
    // (column, its expression, kind).
    let mut weighed: Vec<(ColumnRef, Piece, KeyKind)> = Vec::new();
    for (o, ob) in p.order_exprs.iter().enumerate().filter(|_| !p.no_order) {
        let column = match p.item_for(&ob.expr).and_then(|i| p.index_of(i)) {
            Some(i) => {
                if let Some(src) = p.item_src(ctx, i) {
                    weighed.push((ColumnRef::Index(i), src, p.item_kind(ctx, i)));
                }
                ColumnRef::Index(i)
            }
            None => {
                if matches!(&ob.expr, Expr::Value(v) if matches!(v.value, Value::Number(..))) {
                    return Err("ORDER BY a position after `*` cannot be merged across shards; order by the column name".to_owned());
                }
                let enum_key = match p.item_for(&ob.expr) {
                    Some(i) => p.item_kind(ctx, i),
                    None => ctx.kind(&ob.expr),
                };
                let src = match p.item_for(&ob.expr) {
                    Some(i) => match item_expr(&s.projection[i]) {
                        Some((e, Some(alias))) => {
                            expr_range(ctx, &p.items[i], e, alias).map(Piece::Src)
                        }
                        _ => Some(Piece::Src(p.items[i].clone())),
                    },
                    None => Some(Piece::Src(p.order_ranges[o].clone())),
                };
                let src = src.ok_or("cannot locate an ORDER BY item")?;
                let at = hidden_ref(vec![src.clone()], &mut hidden);
                weighed.push((at, src, enum_key));
                at
            }
        };
        spec.order_by.push(SortKey {
            column,
            descending: descending(ob),
        });
    }
    if p.order_exprs.is_empty() && !p.group_exprs.is_empty() {
        for (g, e) in p.group_exprs.iter().enumerate() {
            let (column, src, enum_key) = match p.group_item_for(e).and_then(|i| p.index_of(i)) {
                Some(i) => (ColumnRef::Index(i), p.item_src(ctx, i), p.item_kind(ctx, i)),
                None => {
                    let src = Piece::Src(p.group_ranges[g].clone());
                    let at = hidden_ref(vec![src.clone()], &mut hidden);
                    (at, Some(src), ctx.kind(e))
                }
            };
            weighed.extend(src.map(|s| (column, s, enum_key)));
            spec.order_by.push(SortKey {
                column,
                descending: false,
            });
        }
    }
    if p.distinct && !hidden.is_empty() {
        return Err(
            "SELECT DISTINCT ordered by a column it does not select cannot be merged across shards"
                .to_owned(),
        );
    }
    if p.distinct && p.wildcard_at.is_none() {
        for i in 0..p.s.projection.len() {
            if !weighed.iter().any(|(c, ..)| *c == ColumnRef::Index(i)) {
                let enum_key = p.item_kind(ctx, i);
                weighed.extend(
                    p.item_src(ctx, i)
                        .map(|s| (ColumnRef::Index(i), s, enum_key)),
                );
            }
        }
    }
    let mut weights = Vec::new();
    let mut enum_keys = Vec::new();
    for (column, src, kind) in weighed {
        match kind {
            KeyKind::Plain => continue,
            KeyKind::Enum => {
                let index = hidden_ref(enum_index_pieces(&[src]), &mut hidden);
                enum_keys.push(EnumKey { column, index });
                continue;
            }
            KeyKind::Weighed => {}
        }
        let (weight, pad) = weight_pieces(&[src], p.distinct);
        let weight = hidden_ref(weight, &mut hidden);
        let pad = hidden_ref(pad, &mut hidden);
        weights.push(WeightKey {
            column,
            weight,
            pad,
            collation: None,
        });
    }
    spec.weights = weights.into();
    spec.enum_keys = enum_keys.into();
    spec.hidden_columns = hidden.len();
    if !hidden.is_empty() {
        edits.push(hidden_edit(p.list_end, &hidden));
    }
    Ok(SelectMerge {
        spec,
        edits,
        limit: p.limit,
        push_limit: true,
        branches: Vec::new(),
    })
}
