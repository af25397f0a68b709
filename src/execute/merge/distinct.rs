//! SELECT DISTINCT: rows equal on every visible column (under the
//! columns' types and collations) are one row; the first one seen is
//! kept. Without GROUP BY the set of rows seen is what the merge holds,
//! so it counts against the merge budget.
//!
//! One visible column (`SELECT DISTINCT c`) is keyed by the column's
//! equality key itself, hashed where it lies in the row (a weight string
//! of a few hundred bytes is copied once, into the table, not first into
//! a key buffer), NULL by a flag.
//!
//! Owns: the set of visible-column keys seen. Must not sort.

use super::key_hash::{row_key_into, KeyTable};
use super::source::RowSource;
use super::{over_budget, Budget};
use crate::error::Result;
use crate::merge::compare::equality_key_in;
use crate::merge::{TextRow, ValueOrder};

pub struct Distinct<'a, S> {
    input: S,
    visible: usize,
    orders: &'a [ValueOrder],
    /// Each seen row's key (see [`row_key_into`]).
    seen: KeyTable<()>,
    /// The current row's key, built in place (reused).
    key: Vec<u8>,
    /// One visible column: a NULL was seen (its class is not in `seen`).
    null_seen: bool,
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
            null_seen: false,
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
            let new = if self.visible == 1 {
                let key = self
                    .orders
                    .first()
                    .and_then(|o| equality_key_in(o, &row, 0, &mut self.key));
                match key {
                    Some(k) => self.seen.find_or_insert(k, || ()).1,
                    None => !std::mem::replace(&mut self.null_seen, true),
                }
            } else {
                self.key.clear();
                row_key_into(&row, 0..self.visible, self.orders, &mut self.key);
                self.seen.find_or_insert(&self.key, || ()).1
            };
            if !new {
                continue;
            }
            if let Some(budget) = self.budget {
                if self.seen.len() + usize::from(self.null_seen) > budget.max_groups {
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
        for case in 0..300 {
            // One visible column of each kind (keyed in place), two.
            let kinds = [[2, 0, 1], [0, 1, 2], [1, 2, 0]][case % 3];
            let orders = orders(&kind_columns(&kinds));
            let visible = 1 + (case / 3) % 2;
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

    /// One visible column weighed by the server (hidden weight and pad
    /// columns): rows whose weights are equal once the trailing pad
    /// weights are stripped are one row, NULLs one class of their own
    /// (also when a weight is empty); the budget counts that class.
    #[test]
    fn weighed_column_classes() {
        use crate::execute::merge::testing::row;
        let mut r = rng(23);
        let base = orders(&kind_columns(&[2]))[0].clone();
        let weighed = [
            ValueOrder::Weight {
                weight: 1,
                pad: 2,
                base: Box::new(base),
            },
            ValueOrder::Bytes,
            ValueOrder::Bytes,
        ];
        let weights = ["", "A", "A ", "A  ", "B", "AB", " "];
        for case in 0..100 {
            let rows: Vec<TextRow> = (0..case % 20)
                .map(|_| {
                    use rand::Rng;
                    let w = weights[r.random_range(0..weights.len())];
                    let value = (r.random_range(0..5) > 0).then_some("v");
                    let pad = (case % 2 == 0).then_some(" ");
                    row(&[value.map(|_| w), Some(w), pad])
                })
                .collect();
            let class = |x: &TextRow| {
                x.value(0).map(|_| {
                    let mut w = x.value(1).unwrap_or_default();
                    if x.value(2) == Some(b" ") {
                        while w.ends_with(b" ") {
                            w = &w[..w.len() - 1];
                        }
                    }
                    w.to_vec()
                })
            };
            let mut expected: Vec<TextRow> = Vec::new();
            for x in &rows {
                if !expected.iter().any(|y| class(y) == class(x)) {
                    expected.push(x.clone());
                }
            }
            let got = ready(collect(&mut Distinct::new(
                Fake::new(rows.clone()),
                1,
                &weighed,
                None,
            )))
            .unwrap();
            assert_eq!(texts(&got), texts(&expected), "case {case}");
            if let Some(max_groups) = expected.len().checked_sub(1) {
                let over = ready(collect(&mut Distinct::new(
                    Fake::new(rows),
                    1,
                    &weighed,
                    Some(Budget { max_groups }),
                )));
                assert!(over.is_err(), "case {case}");
            }
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
