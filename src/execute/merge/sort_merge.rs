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
use crate::merge::{compare_rows, RowShape, RowView, TextRow, ValueOrder};

/// What the merge knows of one source's next row.
enum Head {
    /// Not read yet (or taken): read before the next choice.
    Unread,
    /// The source ended.
    Ended,
    /// Read.
    Row(TextRow),
    /// At hand in the source, not taken from it
    /// ([`RowSource::peek_ready`]): its values' spans.
    AtHand(RowShape),
}

pub struct SortMerge<'a, S> {
    sources: &'a mut [S],
    keys: &'a [ResolvedKey],
    orders: &'a [ValueOrder],
    /// The next row of each source.
    heads: Vec<Head>,
}

impl<'a, S: RowSource> SortMerge<'a, S> {
    pub fn new(sources: &'a mut [S], keys: &'a [ResolvedKey], orders: &'a [ValueOrder]) -> Self {
        let heads = sources.iter().map(|_| Head::Unread).collect();
        SortMerge {
            heads,
            sources,
            keys,
            orders,
        }
    }

    /// Source `i`'s next row, when known.
    #[inline]
    fn head(&self, i: usize) -> Option<RowView<'_>> {
        match &self.heads[i] {
            Head::Row(row) => Some(row.view()),
            Head::AtHand(shape) => Some(shape.view(self.sources[i].peek_ready()?.0)),
            Head::Unread | Head::Ended => None,
        }
    }

    /// The source with the smallest head, and that head; the first of
    /// equal ones.
    fn smallest(&self) -> Option<(usize, RowView<'_>)> {
        let mut best: Option<(usize, RowView<'_>)> = None;
        for i in 0..self.heads.len() {
            let Some(row) = self.head(i) else { continue };
            best = match best {
                Some((_, cur))
                    if compare_rows(&row, &cur, self.keys, self.orders) != Ordering::Less =>
                {
                    best
                }
                _ => Some((i, row)),
            };
        }
        best
    }

    /// Reads the next row of every source whose head is not known.
    pub async fn fill(&mut self) -> Result<()> {
        for (i, h) in self.heads.iter_mut().enumerate() {
            if matches!(h, Head::Unread) {
                *h = match self.sources[i].next().await? {
                    Some(row) => Head::Row(row),
                    None => Head::Ended,
                };
            }
        }
        Ok(())
    }

    /// Passes rows to `emit` in merge order, borrowed (no row is made of
    /// a source's packet), for as long as every source's next row is
    /// known or at hand without a wait and `emit` answers true.
    /// `Ok(true)`: it stopped before the end ([`SortMerge::fill`], then
    /// call again); `Ok(false)`: every source ended. The same rows in the
    /// same order as [`RowSource::next`], which is not to be mixed with it.
    pub fn emit_ready(
        &mut self,
        mut emit: impl FnMut(RowView<'_>) -> Result<bool>,
    ) -> Result<bool> {
        loop {
            for (i, h) in self.heads.iter_mut().enumerate() {
                if !matches!(h, Head::Unread) {
                    continue;
                }
                let shape = self.sources[i]
                    .peek_ready()
                    .and_then(|(p, columns)| RowShape::decode(p, columns));
                match shape {
                    Some(shape) => *h = Head::AtHand(shape),
                    // To be read (or malformed: `next` says so).
                    None => return Ok(true),
                }
            }
            let Some((i, row)) = self.smallest() else {
                return Ok(false);
            };
            let go_on = emit(row)?;
            if let Head::AtHand(_) = std::mem::replace(&mut self.heads[i], Head::Unread) {
                self.sources[i].skip_ready();
            }
            if !go_on {
                return Ok(true);
            }
        }
    }
}

impl<S: RowSource> RowSource for SortMerge<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        // Every source's first row, then the one whose row was taken.
        self.fill().await?;
        let Some((i, _)) = self.smallest() else {
            return Ok(None);
        };
        match std::mem::replace(&mut self.heads[i], Head::Unread) {
            Head::Row(row) => Ok(Some(row)),
            // Not seen by `next` (only `emit_ready` peeks): read it.
            _ => self.sources[i].next().await,
        }
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

    /// The rows `emit_ready` passes (driven as `execute::scatter` drives
    /// it: emit what is at hand, read what is not) over thousands of
    /// generated source sets (0 to 7 sources, empty ones, all empty, ties,
    /// NULLs, DESC keys, a case-insensitive string, rows at hand or not at
    /// random, the consumer stopping at random): the rows of the pulled
    /// merge, which equals a stable sort of the concatenation.
    #[test]
    fn emitted_rows_are_the_pulled_rows() {
        use crate::execute::merge::testing::Peeking;
        use rand::Rng;
        let mut r = rng(41);
        let kinds = [2, 0, 1, 2];
        let columns = kind_columns(&kinds);
        let orders = orders(&columns);
        let mut emitted_rows = 0;
        for case in 0..3000 {
            let keys: Vec<ResolvedKey> = (0..1 + case % 3)
                .map(|k| ResolvedKey {
                    column: (case / 3 + k) % kinds.len(),
                    descending: r.random_range(0..2) == 1,
                })
                .collect();
            let sources = r.random_range(0..8);
            let parts: Vec<Vec<TextRow>> = (0..sources)
                .map(|_| {
                    let n = if case % 10 == 0 {
                        0
                    } else {
                        r.random_range(0..12)
                    };
                    let mut rows = random_rows(&mut r, &kinds, n);
                    rows.sort_by(|a, b| compare_rows(a, b, &keys, &orders));
                    rows
                })
                .collect();
            let mut pulled: Vec<Fake> = parts.iter().cloned().map(Fake::new).collect();
            let want = ready(collect(&mut SortMerge::new(&mut pulled, &keys, &orders))).unwrap();
            let hand_one_in = r.random_range(1..5);
            let mut peeking: Vec<Peeking> = parts
                .into_iter()
                .map(|p| Peeking::new(p, |_| r.random_range(0..hand_one_in) != 0))
                .collect();
            let stop_one_in = r.random_range(2..20);
            let mut stops: Vec<bool> = (0..200)
                .map(|_| r.random_range(0..stop_one_in) == 0)
                .collect();
            let mut got: Vec<TextRow> = Vec::new();
            let mut m = SortMerge::new(&mut peeking, &keys, &orders);
            loop {
                let more = m
                    .emit_ready(|row| {
                        let copy = TextRow::decode(row.packet().to_vec().into(), row.len());
                        got.push(copy.expect("a row"));
                        Ok(!stops.pop().unwrap_or(false))
                    })
                    .unwrap();
                if !more {
                    break;
                }
                ready(m.fill()).unwrap();
            }
            emitted_rows += got.len();
            assert_eq!(texts(&got), texts(&want), "case {case}");
        }
        assert!(emitted_rows > 50_000, "{emitted_rows}");
    }

    /// A source that fails at its end: the merge fails, whether its rows
    /// were at hand or not.
    #[test]
    fn emit_ready_reports_a_source_failure() {
        use crate::execute::merge::testing::{row, Peeking};
        let kinds = [0];
        let orders = orders(&kind_columns(&kinds));
        let keys = [ResolvedKey {
            column: 0,
            descending: false,
        }];
        for at_hand in [false, true] {
            let mut failing = Peeking::new(vec![row(&[Some("2")])], |_| at_hand);
            failing.fail_at_end = true;
            let mut sources = vec![Peeking::new(vec![row(&[Some("1")])], |_| true), failing];
            let mut m = SortMerge::new(&mut sources, &keys, &orders);
            let mut n = 0;
            let failed = loop {
                match m.emit_ready(|_| {
                    n += 1;
                    Ok(true)
                }) {
                    Ok(true) => {
                        if let Err(e) = ready(m.fill()) {
                            break e;
                        }
                    }
                    Ok(false) => panic!("ended without the failure"),
                    Err(e) => break e,
                }
            };
            assert!(failed.to_string().contains("fake shard failed"), "{failed}");
            assert!(n <= 2);
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
