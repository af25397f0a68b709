//! Combining partial groups (GROUP BY not on the sharding key, aggregates
//! without GROUP BY): every input row is folded into its group (keys
//! compared under the columns' types and collations), then the groups are
//! finished one by one in order of arrival.
//!
//! Holds every group and the values gathered for DISTINCT aggregates and
//! GROUP_CONCAT, and stops with a clear error at the merge budget.
//!
//! Owns: the table of groups. Must not decide how a column combines (that
//! is `group`).

use bytes::Bytes;

use super::group::{accumulate, aggregates, finish_group, gather_distinct, new_group, Group};
use super::key_hash::{row_key_into, KeyTable};
use super::source::RowSource;
use super::{over_budget, Budget};
use crate::error::Result;
use crate::merge::{ColumnInfo, TextRow, ValueOrder};
use crate::router::shard::{AggregateMerge, Combine};

pub struct CombineGroups<'a, S> {
    input: S,
    plan: &'a AggregateMerge,
    columns: &'a [ColumnInfo],
    orders: &'a [ValueOrder],
    budget: Budget,
    /// The groups to finish, once the input was read.
    groups: Option<std::vec::IntoIter<Group>>,
}

impl<'a, S: RowSource> CombineGroups<'a, S> {
    pub fn new(
        input: S,
        plan: &'a AggregateMerge,
        columns: &'a [ColumnInfo],
        orders: &'a [ValueOrder],
        budget: Budget,
    ) -> Self {
        CombineGroups {
            input,
            plan,
            columns,
            orders,
            budget,
            groups: None,
        }
    }

    /// Reads the whole input into groups, in order of arrival.
    async fn gather(&mut self) -> Result<Vec<Group>> {
        let (plan, orders) = (self.plan, self.orders);
        let mut groups: KeyTable<Group> = KeyTable::default();
        // The current row's group key, built in place (reused).
        let mut key = Vec::new();
        // Groups plus the distinct values gathered for DISTINCT aggregates:
        // what the merge holds in memory.
        let mut held = 0usize;
        while let Some(row) = self.input.next().await? {
            key.clear();
            row_key_into(&row, plan.group_by.iter().copied(), orders, &mut key);
            let mut added = 0;
            let (i, new) = groups.find_or_insert(&key, || {
                let mut g = new_group(row.clone(), plan, orders);
                added = 1 + gather_distinct(&mut g, &row, plan, orders);
                g
            });
            if !new {
                let g = groups.value_mut(i);
                accumulate(g, &row, plan, orders);
                added = gather_distinct(g, &row, plan, orders);
            }
            held += added;
            if held > self.budget.max_groups {
                return Err(over_budget(self.budget));
            }
        }
        let mut groups: Vec<Group> = groups.into_values().collect();
        if groups.is_empty() && plan.group_by.is_empty() {
            groups.extend(self.empty_result());
        }
        Ok(groups)
    }

    /// Aggregates without GROUP BY always give one row (COUNT 0, the rest
    /// NULL). Shards answer one row each, unless a DISTINCT aggregate made
    /// them group by its arguments.
    fn empty_result(&self) -> Option<Group> {
        let n = self.columns.len();
        let mut values: Vec<Option<Vec<u8>>> = vec![None; n];
        for (column, kind) in aggregates(self.plan) {
            if matches!(kind, Combine::Count | Combine::CountDistinct { .. }) {
                if let Some(v) = values.get_mut(column) {
                    *v = Some(b"0".to_vec());
                }
            }
        }
        let mut p = Vec::new();
        crate::merge::row::encode_values(&values, &mut p);
        let row = TextRow::decode(Bytes::from(p), n)?;
        let mut g = new_group(row, self.plan, self.orders);
        g.distinct.clear();
        g.concats.clear();
        Some(g)
    }
}

impl<S: RowSource> RowSource for CombineGroups<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        if self.groups.is_none() {
            self.groups = Some(self.gather().await?.into_iter());
        }
        match self.groups.as_mut().and_then(Iterator::next) {
            Some(g) => finish_group(g, self.plan, self.columns, self.orders).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mysql_common::constants::ColumnType;
    use rand::rngs::StdRng;
    use rand::Rng;

    use super::*;
    use crate::error::ProxyError;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{col, orders, owned_row, ready, rng, text, value, Fake};
    use crate::merge::compare::equality_key;
    use crate::merge::decimal::Decimal;

    fn cents(c: i64) -> String {
        let sign = if c < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", c.abs() / 100, c.abs() % 100)
    }

    fn bytes(s: String) -> Option<Vec<u8>> {
        Some(s.into_bytes())
    }

    /// Raw rows `(key, x, y)`: a case-insensitive key, an integer and a
    /// decimal in cents, NULLs included.
    type Raw = (Option<Vec<u8>>, Option<i64>, Option<i64>);

    fn raw_rows(r: &mut StdRng, n: usize) -> Vec<Raw> {
        (0..n)
            .map(|_| {
                let x = (r.random_range(0..5) > 0).then(|| r.random_range(-9i64..9));
                let y = (r.random_range(0..5) > 0).then(|| r.random_range(-999i64..999));
                (value(r, 2, 6), x, y)
            })
            .collect()
    }

    /// Splits raw rows among shards and returns each shard's partial
    /// groups by `shard_key`, in order of first appearance.
    fn partials<K: Eq + std::hash::Hash>(
        r: &mut StdRng,
        raw: &[Raw],
        shards: usize,
        shard_key: impl Fn(&Raw) -> K,
    ) -> Vec<Vec<Vec<Raw>>> {
        let mut per_shard: Vec<Vec<Raw>> = vec![Vec::new(); shards];
        for row in raw {
            per_shard[r.random_range(0..shards)].push(row.clone());
        }
        per_shard
            .into_iter()
            .map(|rows| {
                let mut order: Vec<K> = Vec::new();
                let mut groups: HashMap<K, Vec<Raw>> = HashMap::new();
                for row in rows {
                    let k = shard_key(&row);
                    if !groups.contains_key(&k) {
                        order.push(shard_key(&row));
                    }
                    groups.entry(k).or_default().push(row);
                }
                order.iter().filter_map(|k| groups.remove(k)).collect()
            })
            .collect()
    }

    fn ci_key(k: &Option<Vec<u8>>) -> Option<Vec<u8>> {
        let order =
            crate::merge::ValueOrder::for_column(&col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0));
        equality_key(&order, k.as_deref())
    }

    /// The combined rows by the key's equality key (column 0).
    fn by_key(rows: &[TextRow], skip: &[usize]) -> HashMap<Option<Vec<u8>>, Vec<Option<String>>> {
        rows.iter()
            .map(|row| {
                let mut t = text(row);
                for &i in skip.iter().rev() {
                    t.remove(i);
                }
                (ci_key(&row.value(0).map(<[u8]>::to_vec)), t.split_off(1))
            })
            .collect()
    }

    /// `SELECT k, COUNT(*), SUM(x), MIN(y), MAX(y), AVG(y) … GROUP BY k`
    /// from shards' partial groups (AVG carried as SUM(y) with a hidden
    /// COUNT(y)), against the aggregates computed directly.
    #[test]
    fn every_plain_aggregate_against_a_reference() {
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
        ];
        let orders = orders(&columns);
        let plan = AggregateMerge {
            group_by: vec![0],
            columns: vec![
                Combine::Group,
                Combine::Count,
                Combine::Sum,
                Combine::Min,
                Combine::Max,
                Combine::Avg { count: 6 },
                Combine::Any,
            ],
            concats: vec![],
            computed: vec![],
        };
        let summary = |rows: &[Raw]| -> Vec<Option<Vec<u8>>> {
            let xs: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
            let ys: Vec<i64> = rows.iter().filter_map(|r| r.2).collect();
            let sum = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>());
            vec![
                rows[0].0.clone(),
                bytes(rows.len().to_string()),
                sum(&xs).map(|s| s.to_string().into_bytes()),
                ys.iter().min().and_then(|&c| bytes(cents(c))),
                ys.iter().max().and_then(|&c| bytes(cents(c))),
                sum(&ys).and_then(|s| bytes(cents(s))),
                bytes(ys.len().to_string()),
            ]
        };
        let mut r = rng(23);
        for case in 0..150 {
            let raw = raw_rows(&mut r, case % 40);
            let shards = partials(&mut r, &raw, 1 + case % 4, |row| ci_key(&row.0));
            let input: Vec<TextRow> = shards
                .iter()
                .flatten()
                .map(|g| owned_row(&summary(g)))
                .collect();
            let mut src = Fake::new(input);
            let got = ready(collect(&mut CombineGroups::new(
                &mut src,
                &plan,
                &columns,
                &orders,
                Budget::default(),
            )))
            .unwrap();
            let mut expected: HashMap<Option<Vec<u8>>, Vec<Raw>> = HashMap::new();
            for row in &raw {
                expected
                    .entry(ci_key(&row.0))
                    .or_default()
                    .push(row.clone());
            }
            let expected: Vec<TextRow> = expected
                .values()
                .map(|rows| {
                    let mut v = summary(rows);
                    v[5] = v[5].take().map(|s| {
                        let n = rows.iter().filter(|r| r.2.is_some()).count() as u64;
                        let d = Decimal::parse(&s).unwrap().div_u64(n, 6).unwrap();
                        d.to_text().into_bytes()
                    });
                    owned_row(&v)
                })
                .collect();
            // Column 6 is "any" COUNT(y) partial: not compared.
            assert_eq!(by_key(&got, &[6]), by_key(&expected, &[6]), "case {case}");
        }
    }

    /// Aggregates without GROUP BY over no rows: one row, COUNT 0, the
    /// rest NULL.
    #[test]
    fn no_rows_without_group_by_is_one_row() {
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
        ];
        let orders = orders(&columns);
        let plan = AggregateMerge {
            group_by: vec![],
            columns: vec![
                Combine::Count,
                Combine::Sum,
                Combine::CountDistinct { first: 2, n: 1 },
            ],
            concats: vec![],
            computed: vec![],
        };
        let got = ready(collect(&mut CombineGroups::new(
            Fake::new(vec![]),
            &plan,
            &columns,
            &orders,
            Budget::default(),
        )))
        .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            text(&got[0]),
            vec![Some("0".into()), None, Some("0".into())]
        );
        let grouped = AggregateMerge {
            group_by: vec![2],
            ..plan.clone()
        };
        let none = ready(collect(&mut CombineGroups::new(
            Fake::new(vec![]),
            &grouped,
            &columns,
            &orders,
            Budget::default(),
        )));
        assert!(none.unwrap().is_empty());
    }

    /// `SELECT k, COUNT(DISTINCT x), SUM(DISTINCT x), COUNT(*) … GROUP BY
    /// k` from shards grouped by (k, x), hidden x: against the reference,
    /// and the budget counts groups plus distinct values held.
    #[test]
    fn distinct_aggregates_against_a_reference_and_the_budget() {
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
        ];
        let orders = orders(&columns);
        let plan = AggregateMerge {
            group_by: vec![0],
            columns: vec![
                Combine::Group,
                Combine::CountDistinct { first: 4, n: 1 },
                Combine::SumDistinct { arg: 4 },
                Combine::Count,
                Combine::Any,
            ],
            concats: vec![],
            computed: vec![],
        };
        let mut r = rng(29);
        for case in 0..100 {
            let raw = raw_rows(&mut r, case % 30);
            let shards = partials(&mut r, &raw, 1 + case % 3, |row| (ci_key(&row.0), row.1));
            let input: Vec<TextRow> = shards
                .iter()
                .flatten()
                .map(|g| {
                    let x = g[0].1.map(|x| x.to_string().into_bytes());
                    let partial_count = g[0].1.map_or(0, |_| 1).to_string();
                    owned_row(&[
                        g[0].0.clone(),
                        bytes(partial_count),
                        x.clone(),
                        bytes(g.len().to_string()),
                        x,
                    ])
                })
                .collect();
            let mut by_group: HashMap<Option<Vec<u8>>, Vec<Raw>> = HashMap::new();
            for row in &raw {
                by_group
                    .entry(ci_key(&row.0))
                    .or_default()
                    .push(row.clone());
            }
            let mut held = by_group.len();
            let expected: Vec<TextRow> = by_group
                .values()
                .map(|rows| {
                    let mut xs: Vec<i64> = rows.iter().filter_map(|r| r.1).collect();
                    xs.sort();
                    xs.dedup();
                    held += 2 * xs.len();
                    let sum = (!xs.is_empty()).then(|| xs.iter().sum::<i64>().to_string());
                    owned_row(&[
                        rows[0].0.clone(),
                        bytes(xs.len().to_string()),
                        sum.map(String::into_bytes),
                        bytes(rows.len().to_string()),
                        None,
                    ])
                })
                .collect();
            let run = |max_groups| {
                ready(collect(&mut CombineGroups::new(
                    Fake::new(input.clone()),
                    &plan,
                    &columns,
                    &orders,
                    Budget { max_groups },
                )))
            };
            let got = run(held).unwrap();
            assert_eq!(by_key(&got, &[4]), by_key(&expected, &[4]), "case {case}");
            if held > 0 {
                assert!(
                    matches!(run(held - 1), Err(ProxyError::Routing(m)) if m.contains("budget")),
                    "case {case}"
                );
            }
        }
    }
}
