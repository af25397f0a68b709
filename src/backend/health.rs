//! The health checker: one task per server that pings it and, for
//! replicas, measures replication lag, then publishes the figures routing
//! reads (`ServerStats`). Uses mysql_async, outside the data path.
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

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row};

use super::cluster::Cluster;
use super::connection::Role;
use super::pool::ServerPool;

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
            let r = tokio::time::timeout(timeout, probe(&pool, None, &mut conn)).await;
            publish(&pool, r.ok().and_then(|r| r.ok()));
            if let Some(c) = conn {
                let _ = c.disconnect().await;
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
    let mut conn: Option<Conn> = None;
    let mut failures = 0u32;
    loop {
        let result =
            tokio::time::timeout(timeout, probe(&pool, primary.as_deref(), &mut conn)).await;
        let lag = match result {
            Ok(Ok(lag)) => Some(lag),
            Ok(Err(e)) => {
                tracing::debug!(server = %pool.server.name, "health check failed: {e}");
                conn = None;
                None
            }
            Err(_) => {
                tracing::debug!(server = %pool.server.name, "health check timed out");
                conn = None;
                None
            }
        };
        // One missed check on a busy machine is not an outage: a server is
        // marked down after FALL failures in a row (as HAProxy's `fall`).
        failures = if lag.is_some() { 0 } else { failures + 1 };
        if lag.is_some() || failures >= FALL {
            publish(&pool, lag);
        }
        pool.reap_idle();
        tokio::time::sleep(interval).await;
    }
}

fn publish(pool: &ServerPool, lag: Option<i64>) {
    let stats = &pool.stats;
    match lag {
        Some(lag) => {
            stats.stall.mark_alive();
            stats.stall.clear_suspect();
            if !stats.healthy.swap(true, Ordering::Relaxed) {
                tracing::info!(server = %pool.server.name, "server is back up");
            }
            stats.lag_ms.store(lag, Ordering::Relaxed);
        }
        None => {
            stats.lag_ms.store(-1, Ordering::Relaxed);
            if stats.healthy.swap(false, Ordering::Relaxed) {
                tracing::warn!(server = %pool.server.name, "server marked down");
                stats.down_epoch.send_modify(|e| *e += 1);
                pool.clear_idle();
            }
        }
    }
}

/// Pings the server; returns its replication lag in ms (0 for a primary,
/// -1 when unknown: SQL thread stopped or lag NULL). A replica whose
/// primary is down reports NULL lag too (its IO thread is reconnecting);
/// it has applied all it received, so it keeps serving reads then.
async fn probe(
    pool: &ServerPool,
    primary: Option<&ServerPool>,
    conn: &mut Option<Conn>,
) -> Result<i64, mysql_async::Error> {
    if conn.is_none() {
        let (host, port) = pool
            .server
            .addr
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.parse::<u16>().unwrap_or(3306)))
            .unwrap_or_else(|| (pool.server.addr.clone(), 3306));
        let s = pool.settings();
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(s.user.clone()))
            .pass(Some(s.password.clone()))
            .prefer_socket(false);
        *conn = Some(Conn::new(opts).await?);
    }
    let Some(c) = conn.as_mut() else {
        return Ok(-1);
    };
    if pool.server.role == Role::Primary {
        c.ping().await?;
        return Ok(0);
    }
    let rows: Vec<Row> = c.query("SHOW SLAVE STATUS").await?;
    let Some(row) = rows.first() else {
        // Configured as a replica but not replicating: a read-only copy
        // kept by other means. Its freshness is the operator's business.
        return Ok(0);
    };
    let sql_running: Option<String> = row.get_opt("Slave_SQL_Running").and_then(|r| r.ok());
    let io_running: Option<String> = row.get_opt("Slave_IO_Running").and_then(|r| r.ok());
    let behind: Option<Option<u64>> = row.get_opt("Seconds_Behind_Master").and_then(|r| r.ok());
    if sql_running.as_deref() != Some("Yes") {
        return Ok(-1);
    }
    let primary_down = primary.is_some_and(|p| !p.is_healthy());
    Ok(match behind {
        Some(Some(s)) => (s as i64) * 1000,
        _ if primary_down && io_running.as_deref() != Some("Yes") => 0,
        _ => -1,
    })
}
