//! XA recovery: resolves the prepared branches shardcat transactions left
//! behind (a crashed instance, a node that was down during the commit),
//! at start and every `[routing] xa_recovery_interval_ms` (or from the
//! reload that first enables `xa`, when the proxy started without it).
//!
//! For each `XA RECOVER` row of a shardcat gtrid on any primary, the
//! decision row is read on the coordinator node the gtrid names with a
//! locking read (`LOCK IN SHARE MODE`): it waits while a live
//! coordinator's transaction holds the row, so an in-flight commit of any
//! instance is never rolled back. Row present: `XA COMMIT`; absent (the
//! coordinator rolled back or died before its COMMIT): `XA ROLLBACK`;
//! coordinator unreachable or still busy: left for the next round. A
//! branch already resolved by someone else (XAER_NOTA) is fine: rounds
//! are idempotent and several instances may run them at once.
//!
//! Owns: the log table's creation on every primary, recovery rounds, old
//! decision rows' purge. Must not: touch branches of other gtrids.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::cluster::Cluster;
use super::connection::read_small_result;
use super::{PooledConn, ServerPool};
use crate::error::{ProxyError, Result};
use crate::execute::xa::{self, GTRID_PREFIX};
use crate::ops::xa_stats::XA;
use crate::session_state::SessionState;
use crate::wire::command;

/// What one recovery round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub committed: usize,
    pub rolled_back: usize,
    /// Left prepared (coordinator unreachable or busy).
    pub pending: usize,
}

/// Set once this process runs recovery.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Whether the caller is the one to start recovery in this process (the
/// first caller only): at start when the configuration uses XA, or at the
/// reload that first enables it.
pub fn claim_start() -> bool {
    !STARTED.swap(true, Ordering::SeqCst)
}

/// After a reload: starts recovery (a first round at once, then one every
/// `interval`) if the new configuration uses XA and nothing runs it yet.
/// Until the first round has made the decision log, a two-phase commit is
/// refused and rolled back (the log cannot take its row).
pub fn start_after_reload(cluster: &Arc<Cluster>, uses_xa: bool, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if !uses_xa || !claim_start() {
        return;
    }
    let cluster = cluster.clone();
    runtime.spawn(async move {
        let round = recover_once(&cluster).await;
        tracing::info!(?round, "XA recovery started by a reload that enabled xa");
        spawn(cluster, interval);
    });
}

/// Runs a round every `interval`, forever (the caller runs the first one
/// at start, before clients are served).
pub fn spawn(cluster: Arc<Cluster>, interval: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let round = recover_once(&cluster).await;
            if round != Round::default() {
                tracing::info!(
                    committed = round.committed,
                    rolled_back = round.rolled_back,
                    pending = round.pending,
                    "XA recovery round"
                );
            }
        }
    });
}

async fn checkout(cluster: &Cluster, node: usize) -> Result<PooledConn> {
    let n = cluster
        .nodes
        .get(node)
        .ok_or_else(|| ProxyError::Internal(format!("XA gtrid names node #{node}")))?;
    checkout_primary(&n.primary()).await
}

/// A connection of shardcat's own account from `pool` (for its own
/// bookkeeping: recovery, the decision log, the deadlock detector).
pub(crate) async fn checkout_primary(pool: &Arc<ServerPool>) -> Result<PooledConn> {
    pool.checkout(
        &crate::backend::Flavor::default(),
        &SessionState::for_collation(45),
    )
    .await
}

/// A small result's rows (text protocol, raw values).
pub(crate) async fn query_rows(
    conn: &mut PooledConn,
    sql: &str,
) -> Result<Vec<Vec<Option<Vec<u8>>>>> {
    let mut payload = vec![command::QUERY];
    payload.extend_from_slice(sql.as_bytes());
    conn.send_command(&payload).await?;
    let rows = read_small_result(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_iter().map(|v| v.map(|b| b.to_vec())).collect())
        .collect())
}

/// The shardcat XIDs prepared on `conn`'s server: `(gtrid, bqual)`.
async fn prepared(conn: &mut PooledConn) -> Result<Vec<(String, String)>> {
    let rows = query_rows(conn, "XA RECOVER").await?;
    let mut out = Vec::new();
    for r in rows {
        let num = |i: usize| -> usize {
            r.get(i)
                .and_then(|v| v.as_deref())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let (glen, blen) = (num(1), num(2));
        let data = r.get(3).and_then(|v| v.clone()).unwrap_or_default();
        if data.len() < glen + blen {
            continue;
        }
        let gtrid = String::from_utf8_lossy(&data[..glen]).into_owned();
        let bqual = String::from_utf8_lossy(&data[glen..glen + blen]).into_owned();
        if gtrid.starts_with(GTRID_PREFIX) {
            out.push((gtrid, bqual));
        }
    }
    Ok(out)
}

/// The decision for `gtrid`: `Some(true)` committed, `Some(false)` never
/// committed, `None` unknown for now.
async fn decision(cluster: &Cluster, gtrid: &str) -> Option<bool> {
    let node = xa::coordinator_of(gtrid)?;
    let mut conn = checkout(cluster, node).await.ok()?;
    if conn
        .query_drop("SET SESSION innodb_lock_wait_timeout = 3")
        .await
        .is_err()
    {
        return None;
    }
    let sql = format!("SELECT 1 FROM shardcat.xa_log WHERE gtrid = '{gtrid}' LOCK IN SHARE MODE");
    let answer = match query_rows(&mut conn, &sql).await {
        Ok(rows) => Some(!rows.is_empty()),
        Err(ProxyError::Backend(p)) if p.code == 1146 || p.code == 1049 => Some(false),
        Err(_) => None,
    };
    if answer.is_some() {
        conn.release();
    }
    answer
}

/// One recovery round over every primary (see the module doc).
pub async fn recover_once(cluster: &Cluster) -> Round {
    let mut round = Round::default();
    let mut all_answered = true;
    let mut decided: Vec<(String, Option<bool>)> = Vec::new();
    for node in 0..cluster.nodes.len() {
        let Ok(mut conn) = checkout(cluster, node).await else {
            all_answered = false;
            continue;
        };
        for ddl in xa::LOG_DDL {
            if let Err(e) = conn.query_drop(ddl).await {
                tracing::warn!(node, error = %e, "cannot create the XA decision log");
            }
        }
        let Ok(list) = prepared(&mut conn).await else {
            all_answered = false;
            continue;
        };
        for (gtrid, bqual) in list {
            let known = decided.iter().find(|(g, _)| *g == gtrid).map(|(_, d)| *d);
            let d = match known {
                Some(d) => d,
                None => {
                    let d = decision(cluster, &gtrid).await;
                    decided.push((gtrid.clone(), d));
                    d
                }
            };
            let sql = match d {
                Some(true) => format!("XA COMMIT {}", xa::xid(&gtrid, &bqual)),
                Some(false) => format!("XA ROLLBACK {}", xa::xid(&gtrid, &bqual)),
                None => {
                    round.pending += 1;
                    continue;
                }
            };
            match conn.query_drop(&sql).await {
                Ok(()) => {
                    tracing::info!(node, %gtrid, %bqual, action = %sql, "XA branch resolved");
                    match d {
                        Some(true) => round.committed += 1,
                        _ => round.rolled_back += 1,
                    }
                }
                // Resolved meanwhile by its own session or another instance.
                Err(ProxyError::Backend(p)) if p.code == 1397 => {}
                Err(e) => {
                    tracing::warn!(node, %gtrid, error = %e, "XA branch not resolved");
                    round.pending += 1;
                }
            }
        }
        conn.release();
    }
    if all_answered && round.pending == 0 {
        purge(cluster).await;
    }
    XA.round(
        round.committed,
        round.rolled_back,
        round.pending,
        !all_answered || round.pending > 0,
    );
    round
}

/// Decision rows older than a day, when no branch anywhere is prepared
/// (a later PREPARE refers to a fresh row).
async fn purge(cluster: &Cluster) {
    for node in 0..cluster.nodes.len() {
        if let Ok(mut conn) = checkout(cluster, node).await {
            let _ = conn
                .query_drop("DELETE FROM shardcat.xa_log WHERE created < NOW(6) - INTERVAL 1 DAY")
                .await;
            conn.release();
        }
    }
}
