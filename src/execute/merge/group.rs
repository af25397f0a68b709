//! The state of one group of a cross-shard GROUP BY: created from its
//! first partial row, accumulating the others, finished into the row the
//! client sees (AVG divided with MySQL's scale, DISTINCT aggregates over
//! the distinct values gathered, GROUP_CONCAT rebuilt by
//! `crate::merge::group_concat`, expressions on aggregates recomputed).
//!
//! Owns: combining partial rows by the router's [`Combine`] per column.
//! Must not read sources or hold groups (that is `combine`).

use std::cmp::Ordering;

use bytes::Bytes;

use super::num::{add_opt, format_double, is_float, Num};
use super::AVG_EXTRA_SCALE;
use crate::error::{ProxyError, Result};
use crate::merge::compare::{compare_weights, equality_key_at, weight_columns};
use crate::merge::group_concat::ConcatState;
use crate::merge::{ColumnInfo, TextRow, ValueOrder};
use crate::router::shard::{AggregateMerge, Combine};
use crate::wire::packets::ErrPacket;

/// The combining columns of an aggregate merge (neither group keys nor
/// "any value" columns), in column order.
pub(super) fn aggregates(a: &AggregateMerge) -> impl Iterator<Item = (usize, Combine)> + '_ {
    a.columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !matches!(c, Combine::Group | Combine::Any))
        .map(|(i, c)| (i, *c))
}

/// The hidden columns holding a DISTINCT aggregate's arguments.
pub(super) fn distinct_args(c: Combine) -> Option<std::ops::Range<usize>> {
    match c {
        Combine::CountDistinct { first, n } => Some(first..first + n),
        Combine::SumDistinct { arg } | Combine::AvgDistinct { arg } => Some(arg..arg + 1),
        _ => None,
    }
}

/// Accumulated state of one group.
pub(super) struct Group {
    /// The first row seen for the group (non-aggregate columns come from it).
    row: TextRow,
    values: Vec<Option<Vec<u8>>>,
    counts: Vec<Option<Num>>,
    /// Per aggregate (same order as the plan's): the distinct values seen
    /// by a DISTINCT aggregate.
    pub(super) distinct: Vec<DistinctSet>,
    /// Per GROUP_CONCAT of the plan: the values gathered.
    pub(super) concats: Vec<ConcatState>,
}

/// The values a DISTINCT aggregate has seen in one group, and their sum.
#[derive(Default)]
pub(super) struct DistinctSet {
    seen: std::collections::HashSet<Vec<Vec<u8>>>,
    sum: Option<Num>,
}

/// Adds the row's arguments of DISTINCT aggregates to the group's sets;
/// returns how many new values were stored (for the memory budget).
pub(super) fn gather_distinct(
    g: &mut Group,
    row: &TextRow,
    plan: &AggregateMerge,
    orders: &[ValueOrder],
) -> usize {
    let mut added = 0;
    for (spec, state) in plan.concats.iter().zip(g.concats.iter_mut()) {
        added += state.add(spec, row, orders);
    }
    for ((column, kind), set) in aggregates(plan).zip(g.distinct.iter_mut()) {
        let Some(args) = distinct_args(kind) else {
            continue;
        };
        // NULL arguments are not counted (COUNT(DISTINCT a, b) skips a
        // tuple with any NULL).
        let key: Option<Vec<Vec<u8>>> = args
            .map(|c| equality_key_at(orders.get(c)?, row, c))
            .collect();
        let Some(key) = key else { continue };
        if set.seen.insert(key) {
            added += 1;
            if !matches!(kind, Combine::CountDistinct { .. }) {
                let v = row.value(column).and_then(|v| Num::parse(v, false));
                set.sum = add_opt(set.sum.take(), v);
            }
        }
    }
    added
}

pub(super) fn new_group(row: TextRow, plan: &AggregateMerge, orders: &[ValueOrder]) -> Group {
    let n = row.len();
    let mut values: Vec<Option<Vec<u8>>> =
        (0..n).map(|i| row.value(i).map(<[u8]>::to_vec)).collect();
    let mut counts = vec![None; n];
    let mut distinct = Vec::new();
    for (sum, kind) in aggregates(plan) {
        distinct.push(DistinctSet::default());
        match kind {
            Combine::Avg { count } => {
                counts[sum] = row
                    .value(sum)
                    .and_then(|v| Num::parse(v, is_float(orders, sum)));
                counts[count] = row.value(count).and_then(|v| Num::parse(v, false));
            }
            // Normalise sums so later additions are exact.
            Combine::Sum | Combine::Count => {
                if let Some(v) = &values[sum] {
                    if let Some(d) = Num::parse(v, is_float(orders, sum)) {
                        values[sum] = Some(d.text());
                    }
                }
            }
            _ => {}
        }
    }
    let concats = plan
        .concats
        .iter()
        .map(|_| ConcatState::default())
        .collect();
    Group {
        row,
        values,
        counts,
        distinct,
        concats,
    }
}

pub(super) fn accumulate(
    g: &mut Group,
    row: &TextRow,
    plan: &AggregateMerge,
    orders: &[ValueOrder],
) {
    for (c, kind) in aggregates(plan) {
        match kind {
            Combine::Count | Combine::Sum => {
                let float = is_float(orders, c);
                let add = row.value(c).and_then(|v| Num::parse(v, float));
                let cur = g.values[c].as_deref().and_then(|v| Num::parse(v, float));
                g.values[c] = add_opt(cur, add).map(|n| n.text());
            }
            Combine::Min | Combine::Max => min_max(g, row, c, kind, &orders[c]),
            Combine::Avg { count } => {
                for h in [c, count] {
                    let float = h == c && is_float(orders, c);
                    let add = row.value(h).and_then(|v| Num::parse(v, float));
                    g.counts[h] = add_opt(g.counts[h].take(), add);
                }
            }
            _ => {}
        }
    }
}

/// MIN/MAX: the new partial replaces the current one when smaller
/// (larger); a weighed column compares by the server's weights, carried
/// along with the value.
fn min_max(g: &mut Group, row: &TextRow, c: usize, kind: Combine, order: &ValueOrder) {
    let new = row.value(c);
    let weights = weight_columns(order);
    let replace = match (&g.values[c], new) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(cur), Some(v)) => {
            let o = match weights {
                Some((w, p)) => compare_weights(
                    row.value(w).unwrap_or_default(),
                    g.values[w].as_deref().unwrap_or_default(),
                    row.value(p),
                ),
                None => order.compare(v, cur),
            };
            (kind == Combine::Min && o == Ordering::Less)
                || (kind == Combine::Max && o == Ordering::Greater)
        }
    };
    if replace {
        g.values[c] = new.map(<[u8]>::to_vec);
        if let Some((w, p)) = weights {
            g.values[w] = row.value(w).map(<[u8]>::to_vec);
            g.values[p] = row.value(p).map(<[u8]>::to_vec);
        }
    }
}

pub(super) fn finish_group(
    mut g: Group,
    plan: &AggregateMerge,
    columns: &[ColumnInfo],
    orders: &[ValueOrder],
) -> Result<TextRow> {
    let ncols = columns.len();
    let concats: Vec<Option<Vec<u8>>> = std::mem::take(&mut g.concats)
        .into_iter()
        .zip(&plan.concats)
        .map(|(state, spec)| state.finish(spec, orders))
        .collect();
    for (column, kind) in aggregates(plan) {
        if let Combine::GroupConcat { index } = kind {
            g.values[column] = concats.get(index).cloned().flatten();
        }
    }
    let sets = std::mem::take(&mut g.distinct);
    for ((column, kind), set) in aggregates(plan).zip(sets) {
        let n = set.seen.len() as u64;
        match kind {
            Combine::CountDistinct { .. } => {
                g.values[column] = Some(n.to_string().into_bytes());
            }
            Combine::SumDistinct { .. } => {
                g.values[column] = set.sum.map(|s| s.text());
            }
            Combine::AvgDistinct { .. } => {
                // The column is the shards' AVG(DISTINCT x): its scale is
                // already AVG's.
                let scale = columns.get(column).map_or(0, |c| c.decimals as usize);
                g.values[column] = match (set.sum, n) {
                    (Some(Num::Exact(s)), n) if n > 0 => {
                        s.div_u64(n, scale).map(|d| d.to_text().into_bytes())
                    }
                    _ => None,
                };
            }
            _ => {}
        }
    }
    for (sum, kind) in aggregates(plan) {
        if let Combine::Avg { count } = kind {
            // MySQL's scale for AVG: the argument's plus 4. The AVG column
            // carried the partial sums: its definition shows the sum's
            // scale.
            let decimals = columns.get(sum).map_or(0, |c| c.decimals as usize);
            let scale = decimals + AVG_EXTRA_SCALE as usize;
            let n = g.counts[count]
                .as_ref()
                .map(|d| d.as_f64() as u64)
                .filter(|n| *n > 0);
            g.values[sum] = match (&g.counts[sum], n) {
                (Some(Num::Exact(s)), Some(n)) => {
                    s.div_u64(n, scale).map(|d| d.to_text().into_bytes())
                }
                (Some(Num::Float(f)), Some(n)) => Some(format_double(f / n as f64).into_bytes()),
                _ => None,
            };
        }
    }
    let n = ncols.min(g.values.len());
    let encode = |values: &[Option<Vec<u8>>]| {
        let mut p = Vec::new();
        crate::merge::row::encode_values(values, &mut p);
        TextRow::decode(Bytes::from(p), n)
    };
    let Some(row) = encode(&g.values[..n]) else {
        return Ok(g.row);
    };
    let mut changed = false;
    for (column, kind) in aggregates(plan) {
        if let Combine::Computed { index } = kind {
            let (Some(e), Some(c)) = (plan.computed.get(index), columns.get(column)) else {
                continue;
            };
            // Only out-of-range arithmetic fails here, as on the server.
            g.values[column] = e
                .output(&row, columns, orders, c)
                .map_err(|m| ProxyError::Backend(ErrPacket::new(1690, "22003", &m)))?;
            changed = true;
        }
    }
    if !changed {
        return Ok(row);
    }
    Ok(encode(&g.values[..n]).unwrap_or(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::testing::{col, row, text};
    use crate::merge::group_concat::ConcatSpec;
    use mysql_common::constants::ColumnType;

    /// Rows of `SELECT COUNT(DISTINCT name), SUM(DISTINCT amount),
    /// AVG(DISTINCT amount), COUNT(*)` from shards that grouped by name and
    /// amount (hidden columns 4 = name, 5 = amount).
    #[test]
    fn distinct_aggregates_from_finer_groups() {
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 6),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
        ];
        let orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
        let plan = AggregateMerge {
            group_by: vec![],
            columns: vec![
                Combine::CountDistinct { first: 4, n: 1 },
                Combine::SumDistinct { arg: 5 },
                Combine::AvgDistinct { arg: 5 },
                Combine::Count,
            ],
            concats: vec![],
            computed: vec![],
        };
        let rows = [
            // (shard 1) 'Paris', 1.50 twice; 'paris' (same under _ci), 2.00.
            row(&[
                Some("1"),
                Some("1.50"),
                Some("1.500000"),
                Some("2"),
                Some("Paris"),
                Some("1.50"),
            ]),
            row(&[
                Some("1"),
                Some("2.00"),
                Some("2.000000"),
                Some("1"),
                Some("paris"),
                Some("2.00"),
            ]),
            // (shard 2) 1.50 again, a NULL name, a NULL amount.
            row(&[
                Some("0"),
                Some("1.50"),
                Some("1.500000"),
                Some("3"),
                None,
                Some("1.50"),
            ]),
            row(&[Some("1"), None, None, Some("1"), Some("Lyon"), None]),
        ];
        let mut g = new_group(rows[0].clone(), &plan, &orders);
        let mut held = gather_distinct(&mut g, &rows[0], &plan, &orders);
        for r in &rows[1..] {
            accumulate(&mut g, r, &plan, &orders);
            held += gather_distinct(&mut g, r, &plan, &orders);
        }
        // Distinct names {paris, lyon}; amounts {1.50, 2.00} for SUM and
        // again for AVG: what the budget counts.
        assert_eq!(held, 6);
        let out = finish_group(g, &plan, &columns, &orders).unwrap();
        assert_eq!(
            text(&out)[..4],
            [
                Some("2".to_owned()),
                Some("3.50".to_owned()),
                Some("1.750000".to_owned()),
                Some("7".to_owned())
            ]
        );
    }

    /// `SELECT g, GROUP_CONCAT(v ORDER BY k DESC), SUM(x) / COUNT(*)`:
    /// hidden 3 = COUNT(*), 4 = max_len, 5 = v, 6 = k, 7 = SUM(x),
    /// 8 = COUNT(*).
    #[test]
    fn group_concat_and_expressions_on_aggregates() {
        use crate::merge::eval::{BinOp, MergeExpr};
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_BLOB, 45, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 4),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
        ];
        let orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
        let plan = AggregateMerge {
            group_by: vec![0],
            columns: vec![
                Combine::Group,
                Combine::GroupConcat { index: 0 },
                Combine::Computed { index: 0 },
                Combine::Any,
                Combine::Any,
                Combine::Any,
                Combine::Any,
                Combine::Sum,
                Combine::Count,
            ],
            concats: vec![ConcatSpec {
                value: 5,
                text: 5,
                order: vec![(6, true)],
                separator: b"-".to_vec(),
                distinct: false,
                count: 3,
                max_len: 4,
            }],
            computed: vec![MergeExpr::Binary(
                BinOp::Div,
                Box::new(MergeExpr::Column(7)),
                Box::new(MergeExpr::Column(8)),
            )],
        };
        let r = |v: &str, k: &str, n: &str, sum: &str| {
            row(&[
                Some("g"),
                Some("partial"),
                Some("0.0000"),
                Some(n),
                Some("1024"),
                Some(v),
                Some(k),
                Some(sum),
                Some(n),
            ])
        };
        let rows = [
            r("a", "1", "2", "10"),
            r("b", "3", "1", "5"),
            r("c", "2", "1", "0"),
        ];
        let mut g = new_group(rows[0].clone(), &plan, &orders);
        gather_distinct(&mut g, &rows[0], &plan, &orders);
        for x in &rows[1..] {
            accumulate(&mut g, x, &plan, &orders);
            gather_distinct(&mut g, x, &plan, &orders);
        }
        let out = text(&finish_group(g, &plan, &columns, &orders).unwrap());
        // Ordered by k descending: b (3), c (2), a a (1, twice); 15 / 4.
        assert_eq!(out[1].as_deref(), Some("b-c-a-a"));
        assert_eq!(out[2].as_deref(), Some("3.7500"));
    }
}
