//! The health checker: one task per server that pings it and, for
//! replicas, measures replication lag, then publishes the figures routing
//! reads (`ServerStats`). Its connections are the pools' own kind
//! (`BackendConn`, the `[backend]` account, the server's TLS settings),
//! opened outside the pools.
//!
//! A server that stops answering without closing its sockets (SIGSTOP, full
//! disk) is caught by the check's timeout, not only by refused connections;
//! marking it down also interrupts statements running on it.
//!
//! Owns: the health and lag figures. Must not route or touch client
//! sessions.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::cluster::Cluster;
use super::connection::{read_small_result_named, BackendConn, Flavor, Role};
use super::pool::ServerPool;
use crate::error::ProxyError;

/// Consecutive failed checks that mark a server down.
const FALL: u32 = 2;

/// Starts one checker per server; they run for the life of the process.
pub fn spawn_checkers(cluster: &Arc<Cluster>, interval: Duration, timeout: Duration) {
    for node in &cluster.nodes {
        let primary = node.primary.clone();
        tokio::spawn(async move { check_loop(primary, None, interval, timeout).await });
        for replica in &node.replicas {
            let (replica, primary) = (replica.clone(), node.primary.clone());
            tokio::spawn(
                async move { check_loop(replica, Some(primary), interval, timeout).await },
            );
        }
    }
}

/// Runs one round of checks on every server now (used at start-up so reads
/// can use replicas from the first statement).
pub async fn check_all_once(cluster: &Arc<Cluster>, timeout: Duration) {
    let checks = cluster.all_pools().map(|pool| {
        let pool = pool.clone();
        async move {
            let mut conn = None;
            let mut memo = LagMemo::default();
            let probed = probe(&pool, None, &mut conn, &mut memo);
            let r = match tokio::time::timeout(timeout, probed).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("health check timed out".into()),
            };
            publish(&pool, r);
            if let Some(c) = conn {
                c.close().await;
            }
        }
    });
    futures::future::join_all(checks).await;
}

async fn check_loop(
    pool: Arc<ServerPool>,
    primary: Option<Arc<ServerPool>>,
    interval: Duration,
    timeout: Duration,
) {
    let mut conn: Option<BackendConn> = None;
    let mut failures = 0u32;
    let mut memo = LagMemo::default();
    loop {
        let probed = probe(&pool, primary.as_deref(), &mut conn, &mut memo);
        let result = match tokio::time::timeout(timeout, probed).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err("health check timed out".to_string()),
        };
        if let Err(e) = &result {
            tracing::debug!(server = %pool.server.name, "health check failed: {e}");
            conn = None;
        }
        // One missed check on a busy machine is not an outage: a server is
        // marked down after FALL failures in a row (as HAProxy's `fall`).
        failures = if result.is_ok() { 0 } else { failures + 1 };
        if result.is_ok() || failures >= FALL {
            publish(&pool, result);
        }
        pool.reap_idle();
        tokio::time::sleep(interval).await;
    }
}

/// Publishes a check's outcome: the lag, or why the server is down.
fn publish(pool: &ServerPool, lag: Result<i64, String>) {
    let stats = &pool.stats;
    match lag {
        Ok(lag) => {
            stats.stall.mark_alive();
            stats.stall.clear_suspect();
            if !stats.healthy.swap(true, Ordering::Relaxed) {
                tracing::info!(server = %pool.server.name, "server is back up");
            }
            stats.lag_ms.store(lag, Ordering::Relaxed);
        }
        Err(reason) => {
            stats.lag_ms.store(-1, Ordering::Relaxed);
            if stats.healthy.swap(false, Ordering::Relaxed) {
                let reason = crate::logsafe::escape(&reason);
                tracing::warn!(server = %pool.server.name, "server marked down: {reason}");
                stats.down_epoch.send_modify(|e| *e += 1);
                pool.clear_idle();
            }
        }
    }
}

/// What a replica's checker remembers between checks: its last measured
/// lag and since when its IO thread has been away from its primary.
#[derive(Debug)]
struct LagMemo {
    last_lag_ms: i64,
    io_lost: Option<std::time::Instant>,
    /// Checks on the current connection, to re-read `max_allowed_packet`
    /// now and then.
    checks: u32,
}

/// Every this many checks the server's `max_allowed_packet` is read again
/// (it is read at each new health connection too).
const MAX_PACKET_EVERY: u32 = 20;

/// One small result with its column names.
struct Rows {
    names: Vec<String>,
    rows: Vec<Vec<Option<Bytes>>>,
}

impl Rows {
    async fn query(c: &mut BackendConn, sql: &str) -> Result<Rows, ProxyError> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(crate::wire::command::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        c.send_command(&payload).await?;
        let (names, rows) = read_small_result_named(c).await?;
        Ok(Rows { names, rows })
    }

    /// Column `name` of the first row, as text (`None`: NULL or absent).
    fn text(&self, name: &str) -> Option<String> {
        let i = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        let v = self.rows.first()?.get(i)?.as_ref()?;
        Some(String::from_utf8_lossy(v).into_owned())
    }

    fn num(&self, name: &str) -> Option<u64> {
        self.text(name)?.parse().ok()
    }
}

/// Records the server's global `max_allowed_packet` (what a new backend
/// connection gets) in its stats: `Command::send_on` answers a command
/// packet the server would refuse with the server's own error.
async fn read_max_packet(pool: &ServerPool, c: &mut BackendConn) -> Result<(), ProxyError> {
    let r = Rows::query(c, "SELECT @@global.max_allowed_packet AS m").await?;
    if let Some(v) = r.num("m") {
        pool.server
            .max_packet
            .store(usize::try_from(v).unwrap_or(usize::MAX), Ordering::Relaxed);
    }
    Ok(())
}

impl Default for LagMemo {
    fn default() -> Self {
        LagMemo {
            last_lag_ms: -1,
            io_lost: None,
            checks: 0,
        }
    }
}

/// Pings the server; returns its replication lag in ms (0 for a primary,
/// -1 when unknown: SQL thread stopped, or lag NULL with relay log left to
/// apply). A replica whose primary went away reports NULL lag (its IO
/// thread is reconnecting) although it has applied all it received: it is
/// judged by that ([`applied_lag`]), so reads keep going to it while its
/// primary stops, instead of to the stopping primary.
async fn probe(
    pool: &ServerPool,
    primary: Option<&ServerPool>,
    conn: &mut Option<BackendConn>,
    memo: &mut LagMemo,
) -> Result<i64, ProxyError> {
    if conn.is_none() {
        let mut c =
            BackendConn::connect(pool.server.clone(), pool.settings(), Flavor::default()).await?;
        read_max_packet(pool, &mut c).await?;
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(-1);
    };
    memo.checks = memo.checks.wrapping_add(1);
    if memo.checks.is_multiple_of(MAX_PACKET_EVERY) {
        read_max_packet(pool, c).await?;
    }
    if pool.server.role == Role::Primary {
        c.send_command(&[crate::wire::command::PING]).await?;
        let ok = c.read_packet().await?;
        if ok.payload.first() != Some(&0x00) {
            return Err(ProxyError::BackendLost {
                server: pool.server.name.clone(),
                reason: "no OK to COM_PING".into(),
            });
        }
        return Ok(0);
    }
    let row = Rows::query(c, "SHOW SLAVE STATUS").await?;
    if row.rows.is_empty() {
        // Configured as a replica but not replicating: a read-only copy
        // kept by other means. Its freshness is the operator's business.
        return Ok(0);
    }
    let sql_running = row.text("Slave_SQL_Running");
    let io_running = row.text("Slave_IO_Running");
    if sql_running.as_deref() != Some("Yes") {
        return Ok(-1);
    }
    if let Some(s) = row.num("Seconds_Behind_Master") {
        memo.last_lag_ms = (s as i64) * 1000;
        memo.io_lost = None;
        return Ok(memo.last_lag_ms);
    }
    let primary_down = primary.is_some_and(|p| !p.is_healthy());
    let io_connected = io_running.as_deref() == Some("Yes");
    if primary_down && !io_connected {
        return Ok(0);
    }
    if io_connected || !relay_log_applied(&row) {
        memo.io_lost = None;
        return Ok(-1);
    }
    let since = *memo.io_lost.get_or_insert_with(std::time::Instant::now);
    Ok(applied_lag(memo.last_lag_ms, since.elapsed()))
}

/// The lag of a replica that has applied everything it received from a
/// primary it can no longer reach: at most its last measured lag plus the
/// time since (what the primary may have written meanwhile); unknown if
/// it was never measured.
fn applied_lag(last_lag_ms: i64, away: Duration) -> i64 {
    if last_lag_ms < 0 {
        return -1;
    }
    last_lag_ms + away.as_millis() as i64
}

/// Whether the SQL thread has executed all the relay log holds (the
/// binlog coordinates read and executed are the same).
fn relay_log_applied(row: &Rows) -> bool {
    let read = (row.text("Master_Log_File"), row.num("Read_Master_Log_Pos"));
    let done = (
        row.text("Relay_Master_Log_File"),
        row.num("Exec_Master_Log_Pos"),
    );
    read.0.is_some() && read.1.is_some() && read == done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_cut_off_from_its_primary_ages_from_its_last_lag() {
        assert_eq!(applied_lag(-1, Duration::from_secs(1)), -1);
        assert_eq!(applied_lag(0, Duration::from_millis(300)), 300);
        assert_eq!(applied_lag(2000, Duration::from_secs(1)), 3000);
    }
}
