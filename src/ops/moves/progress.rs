//! A move's (or a resplit's) live progress: rows copied against the
//! source's estimate, the channel's lag (a resplit: its readers' positions
//! and bytes behind), the verification's chunks, the step under way. The
//! command writes it to the placement file's `[[progress]]` (at most a few
//! times a second), where every proxy reads it for `SHOW SHARDCAT MOVES`
//! and the `shard_move_*` (`shard_resplit_*`) metrics.
//!
//! Owns: the `[[progress]]` entry of one move or resplit, reading the
//! channel's lag,
//! and the gauges of those figures (`shard_move_rows_total` …, registered
//! and set by `ops::metrics`). Must not: write `[[moved]]` or `[[move]]`
//! (`mod.rs`, the switch).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::gtid;
use crate::config::placement_file::{
    MoveProgress, MoveRecord, PlacementFile, ResplitRecord, RESPLIT,
};
use crate::ops::metrics::MoveLabels;

/// How often a running step writes its figures.
const EVERY: Duration = Duration::from_millis(200);

/// The progress entry of one move, written through to the placement file.
pub(crate) struct Progress {
    path: PathBuf,
    pub(crate) now: MoveProgress,
    written: Option<Instant>,
}

impl Progress {
    /// The recorded progress of `record` (or a fresh one).
    pub(crate) fn load(path: PathBuf, record: &MoveRecord) -> Progress {
        let now = PlacementFile::read(&path)
            .ok()
            .and_then(|f| f.progress_of(record).cloned())
            .unwrap_or_else(|| MoveProgress {
                schema: record.schema.clone(),
                table: record.table.clone(),
                slot: record.slot,
                ..MoveProgress::default()
            });
        Progress {
            path,
            now,
            written: None,
        }
    }

    /// The recorded progress of the resplit `record` (or a fresh one).
    pub(crate) fn of_resplit(path: PathBuf, record: &ResplitRecord) -> Progress {
        let now = PlacementFile::read(&path)
            .ok()
            .and_then(|f| f.resplit_progress(record).cloned())
            .unwrap_or_else(|| MoveProgress {
                kind: RESPLIT.into(),
                schema: record.schema.clone(),
                table: record.table.clone(),
                ..MoveProgress::default()
            });
        Progress {
            path,
            now,
            written: None,
        }
    }

    /// Changes the figures; written if the last write is old enough.
    pub(crate) fn update(&mut self, change: impl FnOnce(&mut MoveProgress)) {
        change(&mut self.now);
        if self.written.is_none_or(|w| w.elapsed() >= EVERY) {
            let _ = self.flush();
        }
    }

    /// Starts a step (written now).
    pub(crate) fn step(&mut self, step: &str) -> Result<(), String> {
        self.now.step = step.to_owned();
        self.now.error.clear();
        self.flush()
    }

    /// Writes the figures now (a progress write that fails is not the
    /// move's failure: the caller may ignore it).
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        self.written = Some(Instant::now());
        self.now.updated = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut file = PlacementFile::read(&self.path)?;
        let key = &self.now;
        file.progress.retain(|p| {
            !(p.kind == key.kind
                && p.schema == key.schema
                && p.table == key.table
                && p.slot == key.slot)
        });
        file.progress.push(self.now.clone());
        file.write(&self.path)
    }

    /// Records a failure of the current step.
    pub(crate) fn failed(&mut self, error: &str) {
        self.now.error = error.chars().take(300).collect();
        let _ = self.flush();
    }
}

/// Removes a move's progress entry from `file` (with its record).
pub(crate) fn forget(file: &mut PlacementFile, record: &MoveRecord) {
    file.progress.retain(|p| !p.is_of(record));
}

/// Removes a resplit's progress entry from `file`.
pub(crate) fn forget_resplit(file: &mut PlacementFile, record: &ResplitRecord) {
    file.progress.retain(|p| !p.is_of_resplit(record));
}

/// The channel's lag: seconds behind (as the channel reports it; none
/// while it is not running) and transactions behind the source's
/// position `source_pos` in the source's domains.
pub(crate) async fn lag(
    target: &mut Conn,
    channel: &str,
    source_pos: &str,
) -> Result<(Option<u64>, Option<u64>), String> {
    let row: Option<Row> = target
        .query_first(format!(
            "SHOW SLAVE '{}' STATUS",
            channel.replace('\'', "''")
        ))
        .await
        .map_err(|e| format!("SHOW SLAVE STATUS: {e}"))?;
    let seconds = row.and_then(|r| r.get_opt::<Option<u64>, _>("Seconds_Behind_Master"));
    let seconds = seconds.and_then(Result::ok).flatten();
    let applied: Option<String> = target
        .query_first("SELECT @@GLOBAL.gtid_slave_pos")
        .await
        .map_err(|e| format!("gtid_slave_pos: {e}"))?;
    let behind = gtid::behind(
        &gtid::parse(source_pos)?,
        &gtid::parse(&applied.unwrap_or_default())?,
    );
    Ok((seconds, Some(behind)))
}

/// A running move's live figures (the placement file's `[[progress]]`).
#[derive(Default)]
pub struct MoveProgressGauges {
    rows_total: Family<MoveLabels, Gauge>,
    lag_seconds: Family<MoveLabels, Gauge>,
    lag_transactions: Family<MoveLabels, Gauge>,
    chunks_total: Family<MoveLabels, Gauge>,
    chunks_verified: Family<MoveLabels, Gauge>,
    chunks_deferred: Family<MoveLabels, Gauge>,
}

impl MoveProgressGauges {
    pub(crate) fn register(&self, r: &mut Registry) {
        let figures = [
            ("shard_move_rows_total", "The source's estimate of a shard move's rows (InnoDB statistics)", &self.rows_total),
            ("shard_move_lag_seconds", "Seconds a shard move's channel is behind its source (as the channel reports it)", &self.lag_seconds),
            ("shard_move_lag_transactions", "Transactions a shard move's channel is behind its source (GTID sequence difference)", &self.lag_transactions),
            ("shard_move_chunks_total", "Primary-key chunks a shard move's verification compares", &self.chunks_total),
            ("shard_move_chunks_verified", "Chunks compared so far by a shard move's verification (while writes continue)", &self.chunks_verified),
            ("shard_move_chunks_deferred", "Chunks written during every verification round, compared inside the write pause", &self.chunks_deferred),
        ];
        for (name, help, family) in figures {
            r.register(name, help, family.clone());
        }
    }

    pub(crate) fn set(&self, labels: &MoveLabels, p: &MoveProgress) {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.rows_total.get_or_create(labels).set(n(p.rows_total));
        self.lag_seconds
            .get_or_create(labels)
            .set(p.lag_seconds.map_or(-1, n));
        self.lag_transactions
            .get_or_create(labels)
            .set(p.lag_transactions.map_or(-1, n));
        self.chunks_total
            .get_or_create(labels)
            .set(n(p.chunks_total));
        self.chunks_verified
            .get_or_create(labels)
            .set(n(p.chunks_checked));
        self.chunks_deferred
            .get_or_create(labels)
            .set(n(p.chunks_deferred));
    }
}
