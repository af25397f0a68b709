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

use super::cluster::{Cluster, Node};
use super::connection::{read_small_result_named, BackendConn, Flavor, Role};
use super::pool::ServerPool;
use super::roles::{self, Observed};
use crate::error::ProxyError;

/// Consecutive failed checks that mark a server down.
const FALL: u32 = 2;

/// How often a node's servers are checked while it has no primary, so a
/// promotion is seen within a fraction of a second.
const NO_PRIMARY_INTERVAL: Duration = Duration::from_millis(100);

/// How the checkers run (`[backend] health_*`, `detect_roles`).
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub interval: Duration,
    pub timeout: Duration,
    /// Follow the servers' own roles (`backend::roles`).
    pub detect_roles: bool,
}

/// One server's checker: the server and its node.
#[derive(Clone)]
struct Target {
    cluster: Arc<Cluster>,
    node: usize,
    server: usize,
    detect_roles: bool,
}

impl Target {
    fn node(&self) -> &Node {
        &self.cluster.nodes[self.node]
    }

    fn pool(&self) -> &Arc<ServerPool> {
        &self.node().servers[self.server]
    }

    fn all(cluster: &Arc<Cluster>, detect_roles: bool) -> Vec<Target> {
        let mut all = Vec::new();
        for (node, n) in cluster.nodes.iter().enumerate() {
            for server in 0..n.servers.len() {
                all.push(Target {
                    cluster: cluster.clone(),
                    node,
                    server,
                    detect_roles,
                });
            }
        }
        all
    }
}

/// Starts one checker per server; they run for the life of the process.
pub fn spawn_checkers(cluster: &Arc<Cluster>, checks: Checks) {
    for target in Target::all(cluster, checks.detect_roles) {
        tokio::spawn(async move { check_loop(target, checks).await });
    }
}

/// Runs one round of checks on every server now (used at start-up so reads
/// can use replicas from the first statement, and a primary promoted while
/// the proxy was down is known at once).
pub async fn check_all_once(cluster: &Arc<Cluster>, checks: Checks) {
    let all = Target::all(cluster, checks.detect_roles)
        .into_iter()
        .map(|t| async move {
            let mut conn = None;
            let mut memo = LagMemo::default();
            let probed = probe(&t, &mut conn, &mut memo);
            let r = match tokio::time::timeout(checks.timeout, probed).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err("health check timed out".into()),
            };
            publish(t.pool(), r);
            if let Some(c) = conn {
                c.close().await;
            }
        });
    futures::future::join_all(all).await;
    if checks.detect_roles {
        for node in &cluster.nodes {
            roles::reconcile(node);
        }
    }
}

async fn check_loop(target: Target, checks: Checks) {
    let mut conn: Option<BackendConn> = None;
    let mut failures = 0u32;
    let mut memo = LagMemo::default();
    let pool = target.pool().clone();
    loop {
        let probed = probe(&target, &mut conn, &mut memo);
        let result = match tokio::time::timeout(checks.timeout, probed).await {
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
        let node = target.node();
        if checks.detect_roles {
            roles::reconcile(node);
        }
        pool.reap_idle();
        let wait = match checks.detect_roles && !node.has_primary() {
            true => checks.interval.min(NO_PRIMARY_INTERVAL),
            false => checks.interval,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = node.recheck.notified() => {}
        }
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
/// (it is read at each new health connection too, and at every check with
/// role detection, which reads `read_only` in the same statement).
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
/// connection gets) in its stats (`Command::send_on` answers a command
/// packet the server would refuse with the server's own error); returns
/// whether the server is `read_only` (role detection).
async fn read_server_variables(pool: &ServerPool, c: &mut BackendConn) -> Result<bool, ProxyError> {
    // SHOW, not SELECT @@…: the checks must not count in the server's
    // Com_select, which operators graph as their applications' reads.
    let r = Rows::query(
        c,
        "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_allowed_packet', 'read_only')",
    )
    .await?;
    let mut read_only = false;
    for row in &r.rows {
        let text = |i: usize| {
            row.get(i)
                .and_then(|v| v.as_ref())
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let (Some(name), Some(value)) = (text(0), text(1)) else {
            continue;
        };
        match name.to_ascii_lowercase().as_str() {
            "max_allowed_packet" => {
                if let Ok(v) = value.parse::<u64>() {
                    pool.server
                        .max_packet
                        .store(usize::try_from(v).unwrap_or(usize::MAX), Ordering::Relaxed);
                }
            }
            "read_only" => read_only = value.eq_ignore_ascii_case("ON") || value == "1",
            _ => {}
        }
    }
    Ok(read_only)
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

/// Checks the server; returns its replication lag in ms (0 for the
/// primary, -1 when unknown: SQL thread stopped, lag NULL with relay log
/// left to apply, replicating from another server of the node than its
/// primary, or an old primary not replicating). With role detection, also
/// records what the server looks like ([`Observed`]).
///
/// A replica whose primary went away reports NULL lag (its IO thread is
/// reconnecting) although it has applied all it received: it is judged by
/// that ([`applied_lag`]), so reads keep going to it while its primary
/// stops, instead of to the stopping primary.
async fn probe(
    target: &Target,
    conn: &mut Option<BackendConn>,
    memo: &mut LagMemo,
) -> Result<i64, ProxyError> {
    let pool = target.pool();
    if conn.is_none() {
        let mut c =
            BackendConn::connect(pool.server.clone(), pool.settings(), Flavor::default()).await?;
        read_server_variables(pool, &mut c).await?;
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(-1);
    };
    memo.checks = memo.checks.wrapping_add(1);
    let read_only = match target.detect_roles || memo.checks.is_multiple_of(MAX_PACKET_EVERY) {
        true => Some(read_server_variables(pool, c).await?),
        false => None,
    };
    if !target.detect_roles && pool.server.role == Role::Primary {
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
    let row = match Rows::query(c, "SHOW SLAVE STATUS").await {
        // Refused (no REPLICA MONITOR privilege) on a configured primary:
        // judged by read_only alone, as before detection existed.
        Err(ProxyError::Backend(e)) if pool.server.role == Role::Primary => {
            tracing::debug!(server = %pool.server.name, "SHOW SLAVE STATUS refused: {}", e.message);
            Rows {
                names: Vec::new(),
                rows: Vec::new(),
            }
        }
        r => r?,
    };
    if target.detect_roles {
        let observed = if replicating(&row) {
            Observed::Replicating
        } else if read_only == Some(true) {
            Observed::ReadOnly
        } else {
            Observed::Writable
        };
        pool.stats.roles.observe(observed);
        if target.node().is_primary(pool) {
            return Ok(0);
        }
    }
    replica_lag(target, &row, memo)
}

/// Whether the default replication connection runs (either thread).
fn replicating(row: &Rows) -> bool {
    let running = |f: &str| {
        row.text(f)
            .is_some_and(|v| v == "Yes" || v.eq_ignore_ascii_case("Connecting"))
    };
    !row.rows.is_empty() && (running("Slave_IO_Running") || running("Slave_SQL_Running"))
}

/// A replica's lag from its `SHOW SLAVE STATUS` (see [`probe`]).
fn replica_lag(target: &Target, row: &Rows, memo: &mut LagMemo) -> Result<i64, ProxyError> {
    let pool = target.pool();
    if row.rows.is_empty() {
        // Not replicating: a read-only copy kept by other means (its
        // freshness is the operator's business), unless it is an old
        // primary, which misses what was written since.
        return Ok(if pool.stats.roles.is_demoted() { -1 } else { 0 });
    }
    let node = target.node();
    let primary = node.has_primary().then(|| node.primary());
    if let (Some(p), Some(host), Some(port)) =
        (&primary, row.text("Master_Host"), row.num("Master_Port"))
    {
        // Following a server of the node that is not its primary (an old
        // primary, fenced or down): what it applies is not what clients
        // wrote.
        let source = format!("{host}:{port}");
        let follows = |s: &Arc<ServerPool>| s.server.addr.eq_ignore_ascii_case(&source);
        if !follows(p) && node.servers.iter().any(follows) {
            return Ok(-1);
        }
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
    let primary_down = primary.as_ref().is_none_or(|p| !p.is_healthy());
    let io_connected = io_running.as_deref() == Some("Yes");
    if primary_down && !io_connected {
        return Ok(0);
    }
    if io_connected || !relay_log_applied(row) {
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
