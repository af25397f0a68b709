//! SELECT DISTINCT: rows equal on every visible column (under the
//! columns' types and collations) are one row; the first one seen is
//! kept. Without GROUP BY the set of rows seen is what the merge holds,
//! so it counts against the merge budget.
//!
//! Owns: the set of visible-column keys seen. Must not sort.

use super::key_hash::{row_key_into, KeyTable};
use super::source::RowSource;
use super::{over_budget, Budget};
use crate::error::Result;
use crate::merge::{TextRow, ValueOrder};

pub struct Distinct<'a, S> {
    input: S,
    visible: usize,
    orders: &'a [ValueOrder],
    /// Each seen row's key (see [`row_key_into`]).
    seen: KeyTable<()>,
    /// The current row's key, built in place (reused).
    key: Vec<u8>,
    /// `None`: the rows are already held elsewhere (combined groups).
    budget: Option<Budget>,
    /// False: every row passes.
    enabled: bool,
}

impl<'a, S: RowSource> Distinct<'a, S> {
    pub fn new(input: S, visible: usize, orders: &'a [ValueOrder], budget: Option<Budget>) -> Self {
        Distinct {
            input,
            visible,
            orders,
            seen: KeyTable::default(),
            key: Vec::new(),
            budget,
            enabled: true,
        }
    }

    /// Applies only when `enabled` (otherwise every row passes).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

impl<S: RowSource> RowSource for Distinct<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        while let Some(row) = self.input.next().await? {
            if !self.enabled {
                return Ok(Some(row));
            }
            self.key.clear();
            row_key_into(&row, 0..self.visible, self.orders, &mut self.key);
            if !self.seen.find_or_insert(&self.key, || ()).1 {
                continue;
            }
            if let Some(budget) = self.budget {
                if self.seen.len() > budget.max_groups {
                    return Err(over_budget(budget));
                }
            }
            return Ok(Some(row));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ProxyError;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{
        kind_columns, orders, random_rows, ready, rng, texts, Fake,
    };
    use crate::merge::compare::equality_key;

    /// Random rows with few values (a case-insensitive string, decimals
    /// written two ways would be equal): the first of each class, in order.
    #[test]
    fn first_row_of_each_class() {
        let mut r = rng(17);
        let kinds = [2, 0, 1];
        let orders = orders(&kind_columns(&kinds));
        for case in 0..100 {
            let visible = 1 + case % 2;
            let rows = random_rows(&mut r, &kinds, case % 30);
            let mut expected: Vec<TextRow> = Vec::new();
            for x in &rows {
                let same = |y: &TextRow| {
                    (0..visible).all(|c| {
                        equality_key(&orders[c], x.value(c)) == equality_key(&orders[c], y.value(c))
                    })
                };
                if !expected.iter().any(same) {
                    expected.push(x.clone());
                }
            }
            let got = ready(collect(&mut Distinct::new(
                Fake::new(rows),
                visible,
                &orders,
                None,
            )))
            .unwrap();
            assert_eq!(texts(&got), texts(&expected), "case {case}");
        }
    }

    #[test]
    fn budget_counts_distinct_rows() {
        let mut r = rng(19);
        let kinds = [0];
        let orders = orders(&kind_columns(&kinds));
        let rows = random_rows(&mut r, &kinds, 200);
        let budget = |max_groups| Some(Budget { max_groups });
        let distinct = ready(collect(&mut Distinct::new(
            Fake::new(rows.clone()),
            1,
            &orders,
            None,
        )))
        .unwrap()
        .len();
        let at = ready(collect(&mut Distinct::new(
            Fake::new(rows.clone()),
            1,
            &orders,
            budget(distinct),
        )));
        assert_eq!(at.unwrap().len(), distinct);
        let over = ready(collect(&mut Distinct::new(
            Fake::new(rows),
            1,
            &orders,
            budget(distinct - 1),
        )));
        assert!(matches!(over, Err(ProxyError::Routing(m)) if m.contains("merge budget")));
    }
}
