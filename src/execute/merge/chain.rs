//! Concatenation: every source's rows, one source after the other (a
//! scattered read with no order to restore).
//!
//! Owns: reading sources in turn. Must not hold rows.

use super::source::RowSource;
use crate::error::Result;
use crate::merge::TextRow;

pub struct Chain<'a, S> {
    sources: &'a mut [S],
    current: usize,
}

impl<'a, S: RowSource> Chain<'a, S> {
    pub fn new(sources: &'a mut [S]) -> Self {
        Chain {
            sources,
            current: 0,
        }
    }
}

impl<S: RowSource> RowSource for Chain<'_, S> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        while let Some(s) = self.sources.get_mut(self.current) {
            if let Some(row) = s.next().await? {
                return Ok(Some(row));
            }
            self.current += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::source::collect;
    use crate::execute::merge::testing::{random_rows, ready, rng, texts, Fake};

    #[test]
    fn sources_in_turn() {
        let mut r = rng(1);
        for case in 0..50 {
            let parts: Vec<Vec<_>> = (0..1 + case % 5)
                .map(|i| random_rows(&mut r, &[0, 2], (case + i) % 4))
                .collect();
            let expected: Vec<_> = parts.iter().flatten().cloned().collect();
            let mut sources: Vec<Fake> = parts.into_iter().map(Fake::new).collect();
            let got = ready(collect(&mut Chain::new(&mut sources))).unwrap();
            assert_eq!(texts(&got), texts(&expected));
        }
    }

    #[test]
    fn an_error_stops_the_chain() {
        let mut sources = vec![
            Fake::failing(vec![crate::execute::merge::testing::row(&[Some("1")])]),
            Fake::new(vec![crate::execute::merge::testing::row(&[Some("2")])]),
        ];
        let mut chain = Chain::new(&mut sources);
        assert!(ready(chain.next()).unwrap().is_some());
        assert!(ready(chain.next()).is_err());
        assert_eq!(sources[1].reads, 0);
    }
}
