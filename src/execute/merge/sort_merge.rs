//! K-way merge of sources each sorted by the same keys (every shard
//! applied the ORDER BY): one row per source held, and a source is read
//! only when its row was taken and another is asked for (so a LIMIT stops
//! the reads at once).
//!
//! Owns: choosing the smallest head. Must not sort or buffer more than
//! one row per source.

use std::cmp::Ordering;

use super::source::RowSource;
use crate::error::Result;
use crate::merge::compare::ResolvedKey;
use crate::merge::{compare_rows, TextRow, ValueOrder};

pub struct SortMerge<'a, S> {
    sources: &'a mut [S],
    keys: &'a [ResolvedKey],
    orders: &'a [ValueOrder],
    /// The next row of each source (`None`: ended).
    heads: Vec<Option<TextRow>>,
    /// False until every source's first row was read.
    primed: bool,
    /// The source whose head was taken last: it is read again before the
    /// next choice.
    taken: Option<usize>,
}

impl<'a, S: RowSource> SortMerge<'a, S> {
    pub fn new(sources: &'a mut [S], keys: &'a [ResolvedKey], orders: &'a [ValueOrder]) -> Self {
        SortMerge {
            heads: Vec::with_capacity(sources.len()),
            sources,
            keys,
            orders,
            primed: false,
            taken: None,
        }
    }

    /// The source with the smallest head; the first of equal ones.
    fn smallest(&self) -> Option<usize> {
        let mut best: Option<(usize, &TextRow)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            let Some(row) = h else { continue };
            best = match best {
                Some((_, cur))
                    if compare_rows(row, cur, self.keys, self.orders) != Ordering::Less =>
                {
                    best
                }
                _ => Some((i, row)),
            };
        }
        best.map(|(i, _)| i)
    }
}

impl<S: RowSource> RowSource for SortMerge<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        if !self.primed {
            for s in self.sources.iter_mut() {
                self.heads.push(s.next().await?);
            }
            self.primed = true;
        }
        if let Some(i) = self.taken.take() {
            self.heads[i] = self.sources[i].next().await?;
        }
        let Some(i) = self.smallest() else {
            return Ok(None);
        };
        self.taken = Some(i);
        Ok(self.heads[i].take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{
        kind_columns, orders, random_rows, ready, rng, texts, Fake,
    };

    /// Random sorted sources over random keys (NULLs, DESC, a
    /// case-insensitive string): the merge equals a stable sort of the
    /// concatenation, row for row.
    #[test]
    fn equals_sorting_the_concatenation() {
        let mut r = rng(7);
        let kinds = [0, 1, 2, 0];
        let columns = kind_columns(&kinds);
        let orders = orders(&columns);
        for case in 0..300 {
            let nkeys = 1 + case % 3;
            let keys: Vec<ResolvedKey> = (0..nkeys)
                .map(|k| ResolvedKey {
                    column: (case + k * 2) % kinds.len(),
                    descending: (case / 3 + k) % 2 == 1,
                })
                .collect();
            let sort = |rows: &mut Vec<TextRow>| {
                rows.sort_by(|a, b| compare_rows(a, b, &keys, &orders));
            };
            let parts: Vec<Vec<TextRow>> = (0..1 + case % 6)
                .map(|i| {
                    let mut rows = random_rows(&mut r, &kinds, (case * 7 + i) % 9);
                    sort(&mut rows);
                    rows
                })
                .collect();
            let mut expected: Vec<TextRow> = parts.iter().flatten().cloned().collect();
            sort(&mut expected);
            let mut sources: Vec<Fake> = parts.into_iter().map(Fake::new).collect();
            let got = ready(collect(&mut SortMerge::new(&mut sources, &keys, &orders))).unwrap();
            // Ties go to the earlier source, as a stable sort keeps them.
            assert_eq!(texts(&got), texts(&expected), "case {case}");
        }
    }

    /// One row per source is read up front; afterwards only the source
    /// whose row was taken, and only when another row is asked for.
    #[test]
    fn reads_lazily() {
        let kinds = [0];
        let orders = orders(&kind_columns(&kinds));
        let keys = [ResolvedKey {
            column: 0,
            descending: false,
        }];
        let r = |v: &str| crate::execute::merge::testing::row(&[Some(v)]);
        let mut sources = vec![
            Fake::new(vec![r("1"), r("4")]),
            Fake::new(vec![r("2"), r("3")]),
        ];
        let mut m = SortMerge::new(&mut sources, &keys, &orders);
        let first = ready(m.next()).unwrap().unwrap();
        assert_eq!(first.value(0), Some(&b"1"[..]));
        drop(m);
        assert_eq!((sources[0].reads, sources[1].reads), (1, 1));
    }
}
