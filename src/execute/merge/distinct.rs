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
//! Over rows merged in the order of sort keys that only name visible
//! columns ([`Distinct::within_runs`]), rows of one class are in one
//! *run* of rows equal on those keys (equal visible values sort equal):
//! the keys seen are then those of the current run only, and a run of
//! one row (every row, when the sort keys are unique) is passed without
//! hashing its key.
//!
//! Owns: the set of visible-column keys seen. Must not sort.

use std::cmp::Ordering;

use super::key_hash::{row_key_into, KeyTable};
use super::source::RowSource;
use super::{over_budget, Budget};
use crate::error::Result;
use crate::merge::compare::{equality_key_in, ResolvedKey};
use crate::merge::{compare_rows, RowBuf, RowView, TextRow, ValueOrder};

/// SELECT DISTINCT over the rows of `input` (see [`DistinctRows`]).
pub struct Distinct<'a, S> {
    input: S,
    rows: DistinctRows<'a>,
}

impl<'a, S: RowSource> Distinct<'a, S> {
    pub fn new(input: S, visible: usize, orders: &'a [ValueOrder], budget: Option<Budget>) -> Self {
        Distinct {
            input,
            rows: DistinctRows::new(visible, orders, budget),
        }
    }

    /// See [`DistinctRows::within_runs`].
    pub fn within_runs(mut self, keys: &'a [ResolvedKey]) -> Self {
        self.rows = self.rows.within_runs(keys);
        self
    }

    /// Applies only when `enabled` (otherwise every row passes).
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.rows.enabled = enabled;
        self
    }
}

impl<S: RowSource> RowSource for Distinct<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        while let Some(row) = self.input.next().await? {
            if self.rows.admits(row.view())? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }
}

/// The rows seen by a SELECT DISTINCT, each row shown once
/// ([`DistinctRows::admits`]): the operator's state without its input,
/// for rows that are passed to it rather than read.
pub struct DistinctRows<'a> {
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
    /// The sort keys the input is merged by, when rows are deduplicated
    /// per run ([`DistinctRows::within_runs`]).
    runs: Option<&'a [ResolvedKey]>,
    /// A copy of the first row of the current run (when `in_run`).
    run_head: RowBuf,
    /// A run started.
    in_run: bool,
    /// The run's keys are in `seen` (it has more than one row).
    run_hashed: bool,
}

impl<'a> DistinctRows<'a> {
    pub fn new(visible: usize, orders: &'a [ValueOrder], budget: Option<Budget>) -> Self {
        DistinctRows {
            visible,
            orders,
            seen: KeyTable::default(),
            key: Vec::new(),
            null_seen: false,
            budget,
            enabled: true,
            runs: None,
            run_head: RowBuf::default(),
            in_run: false,
            run_hashed: false,
        }
    }

    /// The input comes sorted by `keys`, each naming a visible column
    /// whose equal values compare equal (the caller checks): only the
    /// classes of the current run of rows equal on `keys` are kept.
    pub fn within_runs(mut self, keys: &'a [ResolvedKey]) -> Self {
        self.runs = Some(keys);
        self
    }

    /// Whether `row`'s class was not seen yet (it is now).
    fn is_new(&mut self, row: RowView<'_>) -> bool {
        if self.visible == 1 {
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
        }
    }

    /// Per run: whether `row` starts a new run (it is new then), after
    /// which its run's classes are hashed only once a second row comes.
    /// `None` when rows are not deduplicated per run.
    fn starts_run(&mut self, row: RowView<'_>) -> Option<bool> {
        let keys = self.runs?;
        let same =
            self.in_run && compare_rows(&self.run_head, &row, keys, self.orders) == Ordering::Equal;
        if !same {
            if self.run_hashed {
                self.seen = KeyTable::default();
                self.null_seen = false;
                self.run_hashed = false;
            }
            self.run_head.set(row);
            self.in_run = true;
            return Some(true);
        }
        if !self.run_hashed {
            let head = std::mem::take(&mut self.run_head);
            self.is_new(head.view());
            self.run_head = head;
            self.run_hashed = true;
        }
        Some(false)
    }

    /// Whether `row` is shown: the first of its class (every row when not
    /// enabled). Fails when the rows seen pass the budget.
    pub fn admits(&mut self, row: RowView<'_>) -> Result<bool> {
        if !self.enabled || self.starts_run(row) == Some(true) {
            return Ok(true);
        }
        if !self.is_new(row) {
            return Ok(false);
        }
        if let Some(budget) = self.budget {
            if self.seen.len() + usize::from(self.null_seen) > budget.max_groups {
                return Err(over_budget(budget));
            }
        }
        Ok(true)
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

    /// Sources sorted by keys over the visible columns (every kind, a
    /// weighed column, NULLs, DESC), merged and deduplicated per run: the
    /// rows (and their order) of deduplicating their concatenation and
    /// sorting it stably, which is what the merge did before.
    #[test]
    fn per_run_dedup_of_a_sorted_merge_is_sort_of_distinct() {
        use crate::execute::merge::testing::row;
        use crate::execute::merge::testing::Peeking;
        use crate::execute::merge::{Chain, Sort, SortMerge};
        use rand::Rng;
        let mut r = rng(29);
        let weighed_base = orders(&kind_columns(&[2]))[0].clone();
        let weights = ["", "A", "A ", "B", "AB", " ", "b"];
        for case in 0..2000 {
            let weighed = case % 4 == 3;
            let (kinds, orders): (Vec<usize>, Vec<ValueOrder>) = if weighed {
                let o = vec![
                    ValueOrder::Weight {
                        weight: 1,
                        pad: 2,
                        base: Box::new(weighed_base.clone()),
                    },
                    ValueOrder::Bytes,
                    ValueOrder::Bytes,
                ];
                (vec![2, 2, 2], o)
            } else {
                let kinds = [[2, 0, 1], [0, 1, 2], [1, 2, 0]][case % 3].to_vec();
                let o = orders(&kind_columns(&kinds));
                (kinds, o)
            };
            let visible = if weighed { 1 } else { 1 + (case / 3) % 2 };
            let mut keys: Vec<ResolvedKey> = (0..visible)
                .map(|column| ResolvedKey {
                    column,
                    descending: r.random_range(0..2) == 1,
                })
                .collect();
            if case % 5 == 0 {
                keys.reverse();
            }
            let parts: Vec<Vec<TextRow>> = (0..1 + case % 4)
                .map(|_| {
                    let n = r.random_range(0..12);
                    let mut rows: Vec<TextRow> = if weighed {
                        (0..n)
                            .map(|_| {
                                let w = weights[r.random_range(0..weights.len())];
                                let value = (r.random_range(0..5) > 0).then_some(w);
                                row(&[value, Some(w), (case % 2 == 0).then_some(" ")])
                            })
                            .collect()
                    } else {
                        random_rows(&mut r, &kinds, n)
                    };
                    rows.sort_by(|a, b| compare_rows(a, b, &keys, &orders));
                    rows
                })
                .collect();
            let mut old: Vec<Fake> = parts.iter().cloned().map(Fake::new).collect();
            let want = ready(collect(&mut Sort::new(
                Distinct::new(Chain::new(&mut old), visible, &orders, None),
                &keys,
                &orders,
            )))
            .unwrap();
            let mut new: Vec<Fake> = parts.iter().cloned().map(Fake::new).collect();
            let got = ready(collect(
                &mut Distinct::new(
                    SortMerge::new(&mut new, &keys, &orders),
                    visible,
                    &orders,
                    None,
                )
                .within_runs(&keys),
            ))
            .unwrap();
            assert_eq!(texts(&got), texts(&want), "case {case}");
            // The rows passed in place (`execute::scatter::sorted_rows`),
            // some at hand, some read.
            let mut peeking: Vec<Peeking> = parts
                .into_iter()
                .map(|p| Peeking::new(p, |_| r.random_range(0..3) != 0))
                .collect();
            let mut rows = DistinctRows::new(visible, &orders, None).within_runs(&keys);
            let mut emitted = Vec::new();
            let mut m = SortMerge::new(&mut peeking, &keys, &orders);
            loop {
                let more = m
                    .emit_ready(|row| {
                        if rows.admits(row)? {
                            let copy = TextRow::decode(row.packet().to_vec().into(), row.len());
                            emitted.push(copy.expect("a row"));
                        }
                        Ok(true)
                    })
                    .unwrap();
                if !more {
                    break;
                }
                ready(m.fill()).unwrap();
            }
            assert_eq!(texts(&emitted), texts(&want), "case {case} in place");
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
