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

use std::collections::HashMap;

use bytes::Bytes;

use super::group::{accumulate, aggregates, finish_group, gather_distinct, new_group, Group};
use super::source::RowSource;
use super::{over_budget, Budget};
use crate::error::Result;
use crate::merge::compare::equality_key;
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
        let mut index: HashMap<Vec<Option<Vec<u8>>>, usize> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        // Groups plus the distinct values gathered for DISTINCT aggregates:
        // what the merge holds in memory.
        let mut held = 0usize;
        while let Some(row) = self.input.next().await? {
            let key: Vec<Option<Vec<u8>>> = plan
                .group_by
                .iter()
                .map(|&c| equality_key(&orders[c], row.value(c)))
                .collect();
            let added = match index.get(&key) {
                Some(&i) => {
                    let g = &mut groups[i];
                    accumulate(g, &row, plan, orders);
                    gather_distinct(g, &row, plan, orders)
                }
                None => {
                    let mut g = new_group(row.clone(), plan, orders);
                    let added = 1 + gather_distinct(&mut g, &row, plan, orders);
                    index.insert(key, groups.len());
                    groups.push(g);
                    added
                }
            };
            held += added;
            if held > self.budget.max_groups {
                return Err(over_budget(self.budget));
            }
        }
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
