//! The copy's rows: read inside the source's snapshot, written to the
//! target in batches of multi-row INSERTs with binary parameters (values
//! exact), at a bounded rate, counted into the move's progress.
//!
//! Owns: the batches, the rate limit and the rows estimate. Must not: take
//! the snapshot or create the tables (`steps.rs`).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::progress::Progress;
use crate::config::placement_file::MoveRecord;
use crate::ops::tables::ddl::quote;

/// Rows per INSERT of the copy.
const BATCH_ROWS: usize = 500;

fn sql_err(what: &'static str) -> impl Fn(mysql_async::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// Copies every row of `name` (inside the source's snapshot) in batches
/// of multi-row INSERTs with binary parameters (values exact).
pub(super) async fn copy_rows(
    source: &mut Conn,
    target: &mut Conn,
    name: &str,
    meter: &mut Meter<'_>,
) -> Result<u64, String> {
    let mut result = source
        .exec_iter(format!("SELECT * FROM {name}"), ())
        .await
        .map_err(sql_err("reading the source"))?;
    let columns = result.columns_ref().len();
    let mut batch: Vec<Value> = Vec::new();
    let mut rows = 0u64;
    let mut pending = Vec::new();
    while let Some(row) = result.next().await.map_err(sql_err("reading the source"))? {
        pending.push(row);
        if pending.len() == BATCH_ROWS {
            // The source's result must be read to its end before another
            // statement on it; the target is a different connection.
            rows += insert(target, name, columns, &mut pending, &mut batch).await?;
            meter.copied(BATCH_ROWS as u64).await;
        }
    }
    let last = insert(target, name, columns, &mut pending, &mut batch).await?;
    meter.copied(last).await;
    Ok(rows + last)
}

/// The copy's progress and rate limit.
pub(super) struct Meter<'p> {
    pub(super) progress: &'p mut Progress,
    /// Rows per second at most (0: no limit).
    pub(super) rate: u64,
    pub(super) start: Instant,
    pub(super) rows: u64,
}

impl Meter<'_> {
    /// Counts rows written; sleeps while ahead of the rate.
    async fn copied(&mut self, rows: u64) {
        self.rows += rows;
        let done = self.rows;
        self.progress.update(|p| p.rows_copied = done);
        if self.rate > 0 {
            let due = Duration::from_secs_f64(self.rows as f64 / self.rate as f64);
            if let Some(ahead) = due.checked_sub(self.start.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
    }
}

/// The source's estimate of the rows of the move's tables (InnoDB's
/// statistics: no scan; a table whose statistics say 0 rows, often not
/// computed yet, is counted in the snapshot).
pub(super) async fn rows_estimate(source: &mut Conn, record: &MoveRecord) -> Result<u64, String> {
    let mut total = 0u64;
    for t in &record.tables {
        let n: Option<Option<u64>> = source
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (record.schema.as_str(), t.as_str()),
            )
            .await
            .map_err(sql_err("row estimate"))?;
        let mut n = n.flatten().unwrap_or(0);
        if n == 0 {
            let count = format!(
                "SELECT COUNT(*) FROM {}.{}",
                quote(&record.schema),
                quote(t)
            );
            let counted: Option<u64> = source
                .query_first(count)
                .await
                .map_err(sql_err("row count"))?;
            n = counted.unwrap_or(0);
        }
        total += n;
    }
    Ok(total)
}

async fn insert(
    target: &mut Conn,
    name: &str,
    columns: usize,
    pending: &mut Vec<Row>,
    batch: &mut Vec<Value>,
) -> Result<u64, String> {
    if pending.is_empty() || columns == 0 {
        return Ok(0);
    }
    let n = pending.len();
    batch.clear();
    for row in pending.drain(..) {
        batch.extend(row.unwrap());
    }
    let one = format!("({})", vec!["?"; columns].join(","));
    let sql = format!("INSERT INTO {name} VALUES {}", vec![one; n].join(","));
    target
        .exec_drop(sql, mysql_async::Params::Positional(std::mem::take(batch)))
        .await
        .map_err(sql_err("writing the copy"))?;
    Ok(n as u64)
}
