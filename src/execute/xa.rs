//! XA two-phase commit across nodes, with the servers' own XA.
//!
//! One participant of a transaction, the *coordinator*, runs a plain
//! transaction (the node the transaction began on, or the first target of
//! an autocommit write); every other node runs an XA branch of the same
//! gtrid (`XA START` when it joins). The commit:
//!
//! 1. the decision row goes into `shardcat.xa_log` on the coordinator,
//!    *inside its transaction*;
//! 2. every branch is ended and prepared (any failure: everything rolls
//!    back, the client is told so);
//! 3. the coordinator commits: this one COMMIT is the decision, durable
//!    and atomic with the coordinator's own writes;
//! 4. every branch is committed (a failure here is left to recovery,
//!    which finds the committed row).
//!
//! Recovery (`backend::xa_recovery`) reads the row back with a locking
//! read, so it waits for a live coordinator instead of guessing: no grace
//! period, and an in-flight transaction of another instance is never
//! rolled back. The gtrid names the instance (`[id_generator]
//! worker_id`) and the coordinator node: `sc:<instance>:<boot
//! ms>r<random>:<seq>:<node>`.
//!
//! Owns: gtrids, the commit and rollback protocol on given connections,
//! the log table's definition. Must not: choose connections or answer the
//! client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mysql_common::constants::StatusFlags;

use super::command::Command;
use super::write::run_on_all;
use crate::backend::{BackendConn, ServerPool};
use crate::error::{ProxyError, Result};
use crate::ops::xa_stats::{Outcome, XA};
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::OkPacket;

/// Every gtrid shardcat makes starts with this.
pub const GTRID_PREFIX: &str = "sc:";

/// The decision log: one row per committed two-phase transaction, on its
/// coordinator node.
pub const LOG_DDL: [&str; 2] = [
    "CREATE DATABASE IF NOT EXISTS shardcat",
    "CREATE TABLE IF NOT EXISTS shardcat.xa_log (gtrid VARBINARY(64) PRIMARY KEY, \
     created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
];

static SEQ: AtomicU64 = AtomicU64::new(0);

/// This process's part of every gtrid: the time of its first XA
/// transaction and a random number, so that two processes never make the
/// same gtrid even with the same instance id (a misconfiguration, or two
/// proxies started in the same millisecond).
fn boot_tag() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        format!("{ms}r{:08x}", rand::random::<u32>())
    })
}

/// A new gtrid for a transaction of `instance` coordinated on node
/// `coordinator`.
pub fn new_gtrid(instance: u16, coordinator: usize) -> String {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{GTRID_PREFIX}{instance}:{}:{seq}:{coordinator}",
        boot_tag()
    )
}

/// The coordinator node a shardcat gtrid names.
pub fn coordinator_of(gtrid: &str) -> Option<usize> {
    if !gtrid.starts_with(GTRID_PREFIX) {
        return None;
    }
    gtrid.rsplit(':').next()?.parse().ok()
}

/// `'gtrid','bqual'` (gtrids and qualifiers are made of `[a-z0-9:]`).
pub fn xid(gtrid: &str, bqual: &str) -> String {
    format!("'{gtrid}','{bqual}'")
}

/// `XA START` of the branch `bqual` of `gtrid`.
pub fn start_sql(gtrid: &str, bqual: &str) -> String {
    format!("XA START {}", xid(gtrid, bqual))
}

/// Test-only pauses, so that crash tests can land a kill inside a phase
/// (read once each): `SHARDCAT_XA_TEST_PREPARE_DELAY_MS` after the
/// decision row is written and before the branches prepare,
/// `SHARDCAT_XA_TEST_DELAY_MS` between PREPARE and the decision,
/// `SHARDCAT_XA_TEST_PHASE2_DELAY_MS` between the decision and the
/// branches' `XA COMMIT`.
/// `SHARDCAT_MOVE_TEST_DELAY_MS` between a key move's DELETE on the old
/// shard and its INSERT on the new one.
#[derive(Clone, Copy)]
pub(crate) enum Pause {
    BeforePrepare = 0,
    BeforeDecision = 1,
    BeforePhase2 = 2,
    BeforeMoveInsert = 3,
}

pub(crate) async fn test_pause(p: Pause) {
    static DELAYS: OnceLock<[Option<Duration>; 4]> = OnceLock::new();
    let delays = DELAYS.get_or_init(|| {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .map(Duration::from_millis)
        };
        [
            read("SHARDCAT_XA_TEST_PREPARE_DELAY_MS"),
            read("SHARDCAT_XA_TEST_DELAY_MS"),
            read("SHARDCAT_XA_TEST_PHASE2_DELAY_MS"),
            read("SHARDCAT_MOVE_TEST_DELAY_MS"),
        ]
    });
    if let Some(d) = delays[p as usize] {
        tokio::time::sleep(d).await;
    }
}

/// One XA branch of a transaction: its connection and qualifier.
pub struct Branch<'a> {
    pub bqual: String,
    pub conn: &'a mut BackendConn,
}

/// Two-phase commit of `coordinator`'s plain transaction and `branches`
/// (see the module doc). `Err(XaRolledBack)`: nothing committed;
/// `Err(XaOutcomeUnknown)`: recovery decides.
pub async fn commit(
    coordinator: &mut BackendConn,
    branches: &mut [Branch<'_>],
    gtrid: &str,
) -> Result<()> {
    let log = format!("INSERT INTO shardcat.xa_log (gtrid) VALUES ('{gtrid}')");
    // The table is made at start (`backend::xa_recovery`).
    let logged = coordinator.query_drop(&log).await;
    if let Err(e) = logged {
        rollback(Some(coordinator), branches, gtrid).await;
        XA.ended(Outcome::Aborted);
        return Err(ProxyError::XaRolledBack {
            reason: format!(
                "the decision log on '{}' refused the commit: {e}",
                coordinator.server.name
            ),
        });
    }
    test_pause(Pause::BeforePrepare).await;
    for i in 0..branches.len() {
        let b = &mut branches[i];
        let x = xid(gtrid, &b.bqual);
        let mut prepared = b.conn.query_drop(&format!("XA END {x}")).await;
        if prepared.is_ok() {
            prepared = b.conn.query_drop(&format!("XA PREPARE {x}")).await;
        }
        if let Err(e) = prepared {
            let server = b.conn.server.name.clone();
            rollback(Some(coordinator), branches, gtrid).await;
            XA.ended(Outcome::Aborted);
            return Err(ProxyError::XaRolledBack {
                reason: format!("XA PREPARE failed on '{server}': {e}"),
            });
        }
    }
    test_pause(Pause::BeforeDecision).await;
    if let Err(e) = coordinator.query_drop("COMMIT").await {
        coordinator.broken = true;
        for b in branches.iter_mut() {
            // Prepared: they outlive the connection; recovery resolves.
            b.conn.broken = true;
        }
        XA.ended(Outcome::Unknown);
        return Err(ProxyError::XaOutcomeUnknown {
            gtrid: gtrid.to_owned(),
            cause: format!("COMMIT on '{}': {e}", coordinator.server.name),
        });
    }
    test_pause(Pause::BeforePhase2).await;
    for b in branches.iter_mut() {
        let x = xid(gtrid, &b.bqual);
        if let Err(e) = b.conn.query_drop(&format!("XA COMMIT {x}")).await {
            b.conn.broken = true;
            XA.phase2_deferred.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%gtrid, server = %b.conn.server.name, error = %e,
                "XA COMMIT failed after the decision; recovery will commit the branch");
        }
    }
    XA.ended(Outcome::Committed);
    Ok(())
}

/// Commit when at most one participant wrote: no log, no prepare. Each
/// branch ends with `XA COMMIT … ONE PHASE`, the coordinator with COMMIT
/// (`text`, as the client wrote it).
pub async fn commit_one_phase(
    coordinator: Option<&mut BackendConn>,
    branches: &mut [Branch<'_>],
    gtrid: &str,
    text: &str,
) -> Result<()> {
    let mut failure = None;
    for b in branches.iter_mut() {
        let x = xid(gtrid, &b.bqual);
        let mut r = b.conn.query_drop(&format!("XA END {x}")).await;
        if r.is_ok() {
            r = b.conn.query_drop(&format!("XA COMMIT {x} ONE PHASE")).await;
        }
        if let Err(e) = r {
            b.conn.broken = true;
            failure.get_or_insert(e);
        }
    }
    if let Some(c) = coordinator {
        if let Err(e) = c.query_drop(text).await {
            c.broken = true;
            failure.get_or_insert(e);
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Rolls back the coordinator and every branch (active or prepared); a
/// connection that cannot be rolled back is closed (the server then rolls
/// an active branch back; a prepared one is left to recovery, which finds
/// no decision row).
pub async fn rollback(
    coordinator: Option<&mut BackendConn>,
    branches: &mut [Branch<'_>],
    gtrid: &str,
) {
    if let Some(c) = coordinator {
        if c.query_drop("ROLLBACK").await.is_err() {
            c.broken = true;
        }
    }
    for b in branches.iter_mut() {
        if b.conn.broken {
            continue;
        }
        let x = xid(gtrid, &b.bqual);
        // Ends an active branch; fails harmlessly on a prepared one.
        let _ = b.conn.query_drop(&format!("XA END {x}")).await;
        if b.conn
            .query_drop(&format!("XA ROLLBACK {x}"))
            .await
            .is_err()
        {
            b.conn.broken = true;
        }
    }
}

/// Who writes the decision row of a statement's own XA transaction.
#[derive(Clone, Copy)]
pub enum Decider<'a> {
    /// The first connection, in its plain transaction (the connections
    /// are shardcat's `[backend]` account).
    FirstConnection,
    /// A `[backend]` connection from this pool (the coordinator node's
    /// primary), in a transaction of its own: the connections are a
    /// pass-through user's (who needs no grant on the log, and cannot
    /// write it), so every one of them is an XA branch, the first too.
    Service(&'a Arc<ServerPool>),
}

/// A write on several connections outside a transaction, atomic across
/// them: the first connection runs a plain transaction and coordinates,
/// the others run XA branches `b1`, `b2`, … of `gtrid` (with
/// [`Decider::Service`] the first is branch `b0` too).
pub async fn write_all_or_nothing(
    conns: &mut [&mut BackendConn],
    commands: &[Command<'_>],
    kind: WriteKind,
    gtrid: &str,
    decider: Decider<'_>,
) -> Result<OkPacket> {
    let (started, begun) = begin(conns, gtrid, decider).await;
    let result = match begun {
        Err(e) => Err(e),
        Ok(()) => run_on_all(conns, commands, kind).await,
    };
    finish(&mut conns[..started], gtrid, result, decider).await
}

/// Starts the transaction of [`write_all_or_nothing`] on `conns`: how many
/// started, and the first failure.
pub async fn begin(
    conns: &mut [&mut BackendConn],
    gtrid: &str,
    decider: Decider<'_>,
) -> (usize, Result<()>) {
    let all_branches = matches!(decider, Decider::Service(_));
    for (i, conn) in conns.iter_mut().enumerate() {
        let start = match i {
            0 if !all_branches => "START TRANSACTION".to_owned(),
            _ => start_sql(gtrid, &format!("b{i}")),
        };
        if let Err(e) = conn.query_drop(&start).await {
            return (i, Err(e));
        }
    }
    (conns.len(), Ok(()))
}

/// Ends what [`begin`] started on `conns`: two-phase commit when `result`
/// is a success, rollback otherwise (`result`'s error is returned).
pub async fn finish(
    conns: &mut [&mut BackendConn],
    gtrid: &str,
    result: Result<OkPacket>,
    decider: Decider<'_>,
) -> Result<OkPacket> {
    if let Decider::Service(pool) = decider {
        return finish_by_service(conns, gtrid, result, pool).await;
    }
    let Some((first, rest)) = conns.split_first_mut() else {
        return result;
    };
    let mut branches: Vec<Branch<'_>> = rest
        .iter_mut()
        .enumerate()
        .map(|(i, c)| Branch {
            bqual: format!("b{}", i + 1),
            conn: c,
        })
        .collect();
    match result {
        Ok(mut ok) => {
            commit(first, &mut branches, gtrid).await?;
            ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
            Ok(ok)
        }
        Err(e) => {
            rollback(Some(first), &mut branches, gtrid).await;
            XA.ended(Outcome::RolledBack);
            Err(e)
        }
    }
}

/// [`finish`] when every connection is a branch (`b0`, `b1`, …) and a
/// `[backend]` connection from `pool` writes the decision row in its own
/// transaction: the protocol of [`commit`] with that connection as the
/// coordinator (its COMMIT is the decision; recovery's locking read waits
/// on it as on any coordinator).
async fn finish_by_service(
    conns: &mut [&mut BackendConn],
    gtrid: &str,
    result: Result<OkPacket>,
    pool: &Arc<ServerPool>,
) -> Result<OkPacket> {
    let mut branches: Vec<Branch<'_>> = conns
        .iter_mut()
        .enumerate()
        .map(|(i, c)| Branch {
            bqual: format!("b{i}"),
            conn: c,
        })
        .collect();
    let mut ok = match result {
        Ok(ok) => ok,
        Err(e) => {
            rollback(None, &mut branches, gtrid).await;
            XA.ended(Outcome::RolledBack);
            return Err(e);
        }
    };
    let mut service = match crate::backend::xa_recovery::checkout_primary(pool).await {
        Ok(c) => c,
        Err(e) => {
            rollback(None, &mut branches, gtrid).await;
            XA.ended(Outcome::Aborted);
            return Err(ProxyError::XaRolledBack {
                reason: format!("no connection for the decision log: {e}"),
            });
        }
    };
    if let Err(e) = service.query_drop("START TRANSACTION").await {
        rollback(None, &mut branches, gtrid).await;
        XA.ended(Outcome::Aborted);
        return Err(ProxyError::XaRolledBack {
            reason: format!("the decision log's transaction did not start: {e}"),
        });
    }
    let committed = commit(&mut service, &mut branches, gtrid).await;
    if !service.broken {
        service.release();
    }
    committed?;
    ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
    Ok(ok)
}
