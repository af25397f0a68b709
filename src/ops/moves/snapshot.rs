//! A copy's consistent snapshot (a move's, a split's, a resplit's): opened
//! while another session holds a read lock on the copied tables, so that
//! no transaction — no prepared XA branch — is half done on them at that
//! moment; its binary log coordinates and, for a move, its GTID position
//! (`BINLOG_GTID_POS`, asked once the lock is released; the server's
//! `gtid_binlog_pos` read under the lock when it answers NULL: the lock
//! holds writes for the snapshot's opening only).
//!
//! Owns: those statements. Must not: copy rows (`steps`, `resplit::copy`).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::gtid;
use super::steps::sql_err;

/// The binary log coordinates of the consistent snapshot open on `conn`
/// (`binlog_snapshot_file`, `_position`); none without a binary log.
pub(super) async fn snapshot_coordinates(
    conn: &mut Conn,
) -> Result<Option<(String, String)>, String> {
    let status: Vec<(String, String)> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(sql_err("snapshot position"))?;
    let get = |name: &str| {
        status
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    match (get("Binlog_snapshot_file"), get("Binlog_snapshot_position")) {
        (Some(file), Some(pos)) if !file.is_empty() => Ok(Some((file, pos))),
        _ => Ok(None),
    }
}

/// Runs `snapshot` (opening a consistent snapshot on another session of
/// the same server) while `lock` holds a read lock on `tables`
/// (qualified), so that no transaction is half done on them at the
/// snapshot: an XA branch prepared before it and committed after is in
/// neither the snapshot (not committed) nor the binary log after its
/// position (logged at `XA PREPARE`: a channel from there meets its `XA
/// COMMIT` alone and stops with 1397, a resplit's reader skips it). The
/// lock waits for every transaction that wrote the tables (a prepared
/// branch keeps its metadata locks) and holds new writes for the moment
/// of the snapshot.
pub(super) async fn locked_snapshot<T>(
    lock: &mut Conn,
    tables: &[String],
    snapshot: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let locks: Vec<String> = tables.iter().map(|t| format!("{t} READ")).collect();
    lock.query_drop("SET SESSION lock_wait_timeout = 10")
        .await
        .map_err(sql_err("snapshot lock"))?;
    lock.query_drop(format!("LOCK TABLES {}", locks.join(", ")))
        .await
        .map_err(sql_err("locking the tables for the snapshot"))?;
    let taken = snapshot.await;
    lock.query_drop("UNLOCK TABLES")
        .await
        .map_err(sql_err("unlocking the tables after the snapshot"))?;
    taken
}

/// A move's snapshot: its binary log coordinates and GTID position, the
/// time its tables were locked for it, how many times `BINLOG_GTID_POS`
/// was asked, and whether the position is the one read under the lock
/// (it answered NULL).
pub(super) struct Snapshot {
    pub(super) file: String,
    pub(super) pos: String,
    pub(super) gtid: String,
    pub(super) held: Duration,
    pub(super) lookups: u32,
    pub(super) from_lock: bool,
}

/// Opens a consistent snapshot on `source` while `lock` holds the read
/// lock on `tables` ([`locked_snapshot`]) and returns its binlog file,
/// position and GTID position. The lock is held for the snapshot's
/// opening, its coordinates and the server's `gtid_binlog_pos` only.
///
/// The GTID position is `BINLOG_GTID_POS` of the coordinates (exact for
/// the whole server), asked once the lock is released. It answers NULL on
/// a source busy with writes to other tables (seen with other databases
/// written during a move); the position read under the lock is then
/// used: exact for the moved tables, which is all the move's channel
/// replicates (`replicate_do_table`): every transaction that wrote them
/// finished before the lock was granted (it waits for their metadata
/// locks), so it is both in the snapshot and at or before that position;
/// none commits while the lock is held; every later one comes after the
/// position in the binary log.
pub(super) async fn gtid_snapshot(
    lock: &mut Conn,
    tables: &[String],
    source: &mut Conn,
) -> Result<Snapshot, String> {
    const LOOKUPS: u32 = 2;
    source
        .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(sql_err("source"))?;
    let start = Instant::now();
    let (file, pos, locked_gtid) = locked_snapshot(lock, tables, async {
        let (file, pos) = open_snapshot(source).await?;
        let gtid: Option<String> = source
            .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .map_err(sql_err("gtid_binlog_pos"))?;
        Ok((file, pos, gtid.unwrap_or_default()))
    })
    .await?;
    let held = start.elapsed();
    let mut lookups = 0;
    while lookups < LOOKUPS {
        if lookups > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lookups += 1;
        let position: Option<Option<String>> = source
            .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.clone(), pos.clone()))
            .await
            .map_err(sql_err("BINLOG_GTID_POS"))?;
        if let Some(position) = position.flatten() {
            gtid::parse(&position)?;
            return Ok(Snapshot {
                file,
                pos,
                gtid: position,
                held,
                lookups,
                from_lock: false,
            });
        }
    }
    gtid::parse(&locked_gtid)?;
    Ok(Snapshot {
        file,
        pos,
        gtid: locked_gtid,
        held,
        lookups,
        from_lock: true,
    })
}

/// Opens a consistent snapshot on `source`: its binlog coordinates.
async fn open_snapshot(source: &mut Conn) -> Result<(String, String), String> {
    source
        .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .map_err(sql_err("source snapshot"))?;
    snapshot_coordinates(source)
        .await?
        .ok_or_else(|| "the source has no binary log (log_bin is off)".into())
}
