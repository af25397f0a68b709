//! OFFSET and LIMIT over the merged rows.
//!
//! Reads as the merge loop always did: a row is read, then skipped,
//! dropped or passed on, and nothing more is read once LIMIT rows passed
//! (so `LIMIT 0` still reads one row: a shard error in it is reported).
//!
//! Owns: counting skipped and passed rows. Must not look at values.

use super::source::RowSource;
use crate::error::Result;
use crate::merge::TextRow;

pub struct Limit<S> {
    input: S,
    offset: u64,
    limit: u64,
    skipped: u64,
    passed: u64,
    /// Nothing more is read: LIMIT reached or the input ended.
    stopped: bool,
}

impl<S: RowSource> Limit<S> {
    pub fn new(input: S, offset: u64, limit: Option<u64>) -> Self {
        Limit {
            input,
            offset,
            limit: limit.unwrap_or(u64::MAX),
            skipped: 0,
            passed: 0,
            stopped: false,
        }
    }

    fn full(&self) -> bool {
        self.passed >= self.limit
    }
}

impl<S: RowSource> RowSource for Limit<S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        if self.stopped {
            return Ok(None);
        }
        while let Some(row) = self.input.next().await? {
            if self.skipped < self.offset {
                self.skipped += 1;
            } else if !self.full() {
                self.passed += 1;
                self.stopped = self.full();
                return Ok(Some(row));
            }
            // A row skipped, or dropped under LIMIT 0.
            if self.full() {
                break;
            }
        }
        self.stopped = true;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{random_rows, ready, rng, texts, Fake};

    /// Every offset and limit over random inputs: the slice a reference
    /// takes, and reads stop right after the last row passed.
    #[test]
    fn slices_and_stops_reading() {
        let mut r = rng(3);
        for n in 0..8usize {
            let rows = random_rows(&mut r, &[0, 2], n);
            for offset in 0..10u64 {
                for limit in [None, Some(0), Some(1), Some(2), Some(3), Some(9)] {
                    let mut fake = Fake::new(rows.clone());
                    let got = ready(collect(&mut Limit::new(&mut fake, offset, limit))).unwrap();
                    let expected: Vec<_> = rows
                        .iter()
                        .skip(offset as usize)
                        .take(limit.map_or(usize::MAX, |l| l as usize))
                        .cloned()
                        .collect();
                    assert_eq!(texts(&got), texts(&expected), "{n} {offset} {limit:?}");
                    // The merge loop's reads: up to the row that filled the
                    // limit (at least one when LIMIT 0), or to the end.
                    let needed = match limit {
                        Some(0) => 1,
                        Some(l) => offset + l,
                        None => u64::MAX,
                    };
                    let reads = if needed <= n as u64 {
                        needed
                    } else {
                        n as u64 + 1
                    };
                    assert_eq!(fake.reads as u64, reads, "{n} {offset} {limit:?}");
                }
            }
        }
    }

    #[test]
    fn an_error_before_the_limit_is_reported() {
        let mut fake = Fake::failing(vec![]);
        assert!(ready(Limit::new(&mut fake, 0, Some(0)).next()).is_err());
    }
}
