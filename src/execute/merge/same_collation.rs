//! The check that makes a UNION's per-branch weights exact: every row's
//! branch must report, for each weighed key, the same `COLLATION(item)`
//! (a branch's `WEIGHT_STRING` is under its own item's collation; the
//! union column compares under one collation, the branches' when they
//! agree). A row whose branch disagrees ends the merge with a clear error
//! before that row is passed on; NULL values weigh nothing and are not
//! checked.
//!
//! Owns: that check. Must not compare or reorder rows.

use super::source::RowSource;
use crate::error::{ProxyError, Result};
use crate::merge::TextRow;

pub struct SameCollation<S> {
    input: S,
    /// (key column, its `COLLATION` column, the first value seen).
    probes: Vec<(usize, usize, Option<Vec<u8>>)>,
}

impl<S: RowSource> SameCollation<S> {
    /// `probes`: (key column, `COLLATION` column) pairs; empty: a no-op.
    pub fn new(input: S, probes: &[(usize, usize)]) -> Self {
        SameCollation {
            input,
            probes: probes.iter().map(|&(c, p)| (c, p, None)).collect(),
        }
    }
}

impl<S: RowSource> RowSource for SameCollation<S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        let Some(row) = self.input.next().await? else {
            return Ok(None);
        };
        for (column, probe, first) in &mut self.probes {
            if row.value(*column).is_none() {
                continue;
            }
            let seen = row.value(*probe).unwrap_or_default();
            match first {
                None => *first = Some(seen.to_vec()),
                Some(f) if f.as_slice() == seen => {}
                Some(f) => {
                    return Err(ProxyError::Routing(format!(
                        "the UNION's column {} compares values of collations {} and {} across its branches; shardcat cannot merge it across shards exactly (give the branches one collation with COLLATE)",
                        *column + 1,
                        String::from_utf8_lossy(f),
                        String::from_utf8_lossy(seen)
                    )))
                }
            }
        }
        Ok(Some(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::{collect, MemorySource};
    use crate::execute::merge::testing::{ready, row};

    #[test]
    fn one_collation_passes_two_refuse_nulls_ignored() {
        let same = vec![
            row(&[Some("a"), Some("utf8mb4_bin")]),
            row(&[None, Some("binary")]),
            row(&[Some("b"), Some("utf8mb4_bin")]),
        ];
        let mut ok = SameCollation::new(MemorySource::new(same), &[(0, 1)]);
        assert_eq!(ready(collect(&mut ok)).unwrap().len(), 3);
        let mixed = vec![
            row(&[Some("a"), Some("utf8mb4_bin")]),
            row(&[Some("b"), Some("latin1_swedish_ci")]),
        ];
        let mut bad = SameCollation::new(MemorySource::new(mixed), &[(0, 1)]);
        assert!(matches!(
            ready(collect(&mut bad)),
            Err(ProxyError::Routing(_))
        ));
    }
}
