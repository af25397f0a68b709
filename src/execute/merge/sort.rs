//! In-memory sort of a whole result (grouped results, whose order the
//! shards could not give). With no keys it only buffers, keeping the order
//! of arrival: every row is read (and every error met) before the first
//! row goes on.
//!
//! Owns: holding and sorting rows. Must not merge streams (that is
//! `sort_merge`).

use super::source::{collect, RowSource};
use crate::error::Result;
use crate::merge::compare::ResolvedKey;
use crate::merge::{compare_rows, TextRow, ValueOrder};

pub struct Sort<'a, S> {
    input: S,
    keys: &'a [ResolvedKey],
    orders: &'a [ValueOrder],
    /// The sorted rows, once the input was read.
    rows: Option<std::vec::IntoIter<TextRow>>,
}

impl<'a, S: RowSource> Sort<'a, S> {
    pub fn new(input: S, keys: &'a [ResolvedKey], orders: &'a [ValueOrder]) -> Self {
        Sort {
            input,
            keys,
            orders,
            rows: None,
        }
    }
}

impl<S: RowSource> RowSource for Sort<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        if self.rows.is_none() {
            let mut rows = collect(&mut self.input).await?;
            if !self.keys.is_empty() {
                // Stable: equal rows keep their order of arrival.
                rows.sort_by(|a, b| compare_rows(a, b, self.keys, self.orders));
            }
            self.rows = Some(rows.into_iter());
        }
        Ok(self.rows.as_mut().and_then(Iterator::next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::testing::{
        kind_columns, orders, random_rows, ready, rng, row, texts, Fake,
    };
    use crate::merge::compare::compare_nullable;

    /// Random rows and keys (NULLs first ascending, last descending; a
    /// case-insensitive string): ordered by every key, and equal rows in
    /// arrival order.
    #[test]
    fn orders_by_the_keys_stably() {
        let mut r = rng(11);
        let kinds = [2, 0, 1];
        let orders = orders(&kind_columns(&kinds));
        for case in 0..200 {
            let keys: Vec<ResolvedKey> = (0..1 + case % 2)
                .map(|k| ResolvedKey {
                    column: (case + k) % 3,
                    descending: (case / 2 + k) % 2 == 0,
                })
                .collect();
            let rows = random_rows(&mut r, &kinds, case % 25);
            // Tag each row with its arrival position in a fourth column.
            let tagged: Vec<TextRow> = rows
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let mut v: Vec<Option<String>> = texts(std::slice::from_ref(x)).remove(0);
                    v.push(Some(i.to_string()));
                    let v: Vec<Option<&str>> = v.iter().map(|s| s.as_deref()).collect();
                    row(&v)
                })
                .collect();
            let got = ready(collect(&mut Sort::new(Fake::new(tagged), &keys, &orders))).unwrap();
            assert_eq!(got.len(), rows.len());
            for w in got.windows(2) {
                let mut o = std::cmp::Ordering::Equal;
                for k in &keys {
                    let c = compare_nullable(
                        &orders[k.column],
                        w[0].value(k.column),
                        w[1].value(k.column),
                    );
                    o = o.then(if k.descending { c.reverse() } else { c });
                }
                assert_ne!(o, std::cmp::Ordering::Greater, "case {case}");
                if o == std::cmp::Ordering::Equal {
                    let pos = |x: &TextRow| -> usize {
                        std::str::from_utf8(x.value(3).unwrap())
                            .unwrap()
                            .parse()
                            .unwrap()
                    };
                    assert!(pos(&w[0]) < pos(&w[1]), "case {case}: not stable");
                }
            }
        }
    }

    #[test]
    fn without_keys_it_buffers_everything_first() {
        let mut fake = Fake::failing(vec![row(&[Some("1")])]);
        // The failure at the end comes before any row.
        assert!(ready(Sort::new(&mut fake, &[], &[]).next()).is_err());
    }
}
