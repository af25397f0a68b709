//! The row-source trait every merge operator reads from and is, and an
//! in-memory source (test input, and the output of operators that hold
//! their rows).
//!
//! Owns: the pull interface between operators. Must not know where rows
//! come from or go.

use std::future::Future;

use crate::error::Result;
use crate::merge::TextRow;

/// Something that yields rows one at a time: a shard's answer or an
/// operator over other sources. `None` once it ended; an error is final.
pub trait RowSource: Send {
    fn next(&mut self) -> impl Future<Output = Result<Option<TextRow>>> + Send;

    /// The row [`RowSource::next`] would return, borrowed, when it is at
    /// hand without a wait and is a text row: its payload and how many
    /// values it has (the caller decodes it with `RowShape::decode`; one
    /// that does not decode is left to `next`). `None`: call `next` (the
    /// default: no row is ever at hand).
    fn peek_ready(&self) -> Option<(&[u8], usize)> {
        None
    }

    /// Drops the row [`RowSource::peek_ready`] showed, as if `next` had
    /// returned it.
    fn skip_ready(&mut self) {}
}

impl<S: RowSource + ?Sized> RowSource for &mut S {
    fn next(&mut self) -> impl Future<Output = Result<Option<TextRow>>> + Send {
        (**self).next()
    }

    fn peek_ready(&self) -> Option<(&[u8], usize)> {
        (**self).peek_ready()
    }

    fn skip_ready(&mut self) {
        (**self).skip_ready()
    }
}

/// Rows already in memory, yielded in order.
pub struct MemorySource {
    rows: std::vec::IntoIter<TextRow>,
}

impl MemorySource {
    pub fn new(rows: Vec<TextRow>) -> Self {
        MemorySource {
            rows: rows.into_iter(),
        }
    }
}

impl RowSource for MemorySource {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        Ok(self.rows.next())
    }
}

/// Reads `source` to its end.
pub async fn collect<S: RowSource>(source: &mut S) -> Result<Vec<TextRow>> {
    let mut rows = Vec::new();
    while let Some(row) = source.next().await? {
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::testing::{ready, row, texts};

    #[test]
    fn yields_rows_in_order_then_none() {
        let mut s = MemorySource::new(vec![row(&[Some("1")]), row(&[None])]);
        let rows = ready(collect(&mut s)).unwrap();
        assert_eq!(texts(&rows), vec![vec![Some("1".into())], vec![None]]);
        assert!(ready(s.next()).unwrap().is_none());
    }
}
