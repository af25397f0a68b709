//! Helpers for the operators' unit tests: rows from literals, an
//! executor for futures that never wait, sources that count reads or fail,
//! and random rows.
//!
//! Owns: test fixtures only. Must not be used outside `#[cfg(test)]`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use mysql_common::constants::{ColumnFlags, ColumnType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::source::RowSource;
use crate::error::{ProxyError, Result};
use crate::merge::row::encode_values;
use crate::merge::{ColumnInfo, TextRow, ValueOrder};

/// Runs a future over in-memory sources (it never waits).
pub fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory merge waited"),
    }
}

pub fn row(values: &[Option<&str>]) -> TextRow {
    let owned: Vec<Option<Vec<u8>>> = values
        .iter()
        .map(|v| v.map(|s| s.as_bytes().to_vec()))
        .collect();
    owned_row(&owned)
}

pub fn owned_row(values: &[Option<Vec<u8>>]) -> TextRow {
    let mut p = Vec::new();
    encode_values(values, &mut p);
    TextRow::decode(Bytes::from(p), values.len()).expect("encoded row decodes")
}

pub fn text(r: &TextRow) -> Vec<Option<String>> {
    (0..r.len())
        .map(|i| r.value(i).map(|v| String::from_utf8_lossy(v).into_owned()))
        .collect()
}

pub fn texts(rows: &[TextRow]) -> Vec<Vec<Option<String>>> {
    rows.iter().map(text).collect()
}

pub fn col(t: ColumnType, charset: u16, decimals: u8) -> ColumnInfo {
    ColumnInfo {
        column_type: t,
        flags: ColumnFlags::empty(),
        charset,
        decimals,
        raw: Bytes::new(),
    }
}

pub fn orders(columns: &[ColumnInfo]) -> Vec<ValueOrder> {
    columns.iter().map(ValueOrder::for_column).collect()
}

/// A source over rows that counts how many were read, and fails instead
/// of ending when `fail_at_end` is set.
pub struct Fake {
    rows: std::collections::VecDeque<TextRow>,
    pub reads: usize,
    pub fail_at_end: bool,
}

impl Fake {
    pub fn new(rows: Vec<TextRow>) -> Self {
        Fake {
            rows: rows.into(),
            reads: 0,
            fail_at_end: false,
        }
    }

    pub fn failing(rows: Vec<TextRow>) -> Self {
        Fake {
            fail_at_end: true,
            ..Fake::new(rows)
        }
    }
}

impl RowSource for Fake {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        self.reads += 1;
        match self.rows.pop_front() {
            Some(r) => Ok(Some(r)),
            None if self.fail_at_end => Err(ProxyError::Internal("fake shard failed".into())),
            None => Ok(None),
        }
    }
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A random value for a column of `kind`: 0 = integer, 1 = decimal with
/// two digits, 2 = case-insensitive string; NULL one time in `null_one_in`.
pub fn value(rng: &mut StdRng, kind: usize, null_one_in: u32) -> Option<Vec<u8>> {
    if null_one_in > 0 && rng.random_range(0..null_one_in) == 0 {
        return None;
    }
    Some(match kind {
        0 => rng.random_range(-20i64..20).to_string().into_bytes(),
        1 => format!(
            "{}.{:02}",
            rng.random_range(-9i64..9),
            rng.random_range(0..100u32)
        )
        .into_bytes(),
        _ => {
            let letters = ["a", "A", "b", "B", "c", "é", "E", "ab", "Ab"];
            letters[rng.random_range(0..letters.len())]
                .as_bytes()
                .to_vec()
        }
    })
}

/// Columns of the kinds [`value`] makes.
pub fn kind_columns(kinds: &[usize]) -> Vec<ColumnInfo> {
    kinds
        .iter()
        .map(|k| match k {
            0 => col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            1 => col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            _ => col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
        })
        .collect()
}

/// `n` random rows of columns of `kinds`.
pub fn random_rows(rng: &mut StdRng, kinds: &[usize], n: usize) -> Vec<TextRow> {
    (0..n)
        .map(|_| {
            let values: Vec<Option<Vec<u8>>> = kinds.iter().map(|&k| value(rng, k, 5)).collect();
            owned_row(&values)
        })
        .collect()
}

/// A source whose rows are at hand ([`RowSource::peek_ready`]) or must be
/// read (`next`) as `at_hand` says row by row, as a shard's rows are
/// buffered or still on their way; fails instead of ending when
/// `fail_at_end` is set.
pub struct Peeking {
    rows: std::collections::VecDeque<(TextRow, bool)>,
    pub fail_at_end: bool,
}

impl Peeking {
    pub fn new(rows: Vec<TextRow>, at_hand: impl FnMut(usize) -> bool) -> Self {
        let mut at_hand = at_hand;
        Peeking {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| (r, at_hand(i)))
                .collect(),
            fail_at_end: false,
        }
    }
}

impl RowSource for Peeking {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        match self.rows.pop_front() {
            Some((r, _)) => Ok(Some(r)),
            None if self.fail_at_end => Err(ProxyError::Internal("fake shard failed".into())),
            None => Ok(None),
        }
    }

    fn peek_ready(&self) -> Option<(&[u8], usize)> {
        let (row, at_hand) = self.rows.front()?;
        at_hand.then_some((&row.packet[..], row.len()))
    }

    fn skip_ready(&mut self) {
        if self.peek_ready().is_some() {
            self.rows.pop_front();
        }
    }
}
