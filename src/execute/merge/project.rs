//! Hidden-column removal: the client sees the first `visible` columns of
//! the shard rows; the helper columns the router appended for the merge
//! (sort keys, AVG counts, DISTINCT arguments) are dropped.
//!
//! Owns: cutting rows to the visible columns (in place, no copy). Must
//! not reorder or compute columns.

use super::source::RowSource;
use crate::error::Result;
use crate::merge::TextRow;

pub struct Project<S> {
    input: S,
    visible: usize,
}

impl<S: RowSource> Project<S> {
    pub fn new(input: S, visible: usize) -> Self {
        Project { input, visible }
    }
}

impl<S: RowSource> RowSource for Project<S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        let mut row = self.input.next().await?;
        if let Some(r) = &mut row {
            r.truncate(self.visible);
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{random_rows, ready, rng, texts, Fake};

    #[test]
    fn keeps_the_visible_prefix() {
        let mut r = rng(5);
        for visible in 0..5 {
            let rows = random_rows(&mut r, &[0, 1, 2, 0], 20);
            let got = ready(collect(&mut Project::new(Fake::new(rows.clone()), visible))).unwrap();
            let expected: Vec<Vec<Option<String>>> = texts(&rows)
                .into_iter()
                .map(|mut v| {
                    v.truncate(visible);
                    v
                })
                .collect();
            assert_eq!(texts(&got), expected);
            // Re-encoded, a projected row is the visible prefix's packet.
            let mut a = Vec::new();
            got[0].encode_prefix(got[0].len(), &mut a);
            let mut b = Vec::new();
            rows[0].encode_prefix(visible, &mut b);
            assert_eq!(a, b);
        }
    }
}
