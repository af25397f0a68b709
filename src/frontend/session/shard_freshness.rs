//! Read-your-writes for statements on several shards.
//!
//! A write on several targets runs on pooled connections the session does
//! not hold afterwards, often inside a wrapping transaction whose GTID only
//! the COMMIT reports: the GTID of each node is taken from the connection
//! that wrote there ([`BackendConn::last_gtid`]). A scattered read on
//! replicas then waits, per node, for the session's last write there, as a
//! single-target read does (`session` consistency), and reads that node on
//! its primary when the replica is not there in time.
//!
//! Owns: GTID bookkeeping around scattered statements. Must not plan or
//! merge.

use std::sync::atomic::Ordering;

use super::connections::replica_caught_up;
use super::Session;
use crate::backend::{BackendConn, PooledConn};
use crate::config::Consistency;
use crate::error::Result;

impl Session {
    /// Forgets GTIDs pooled connections carry from their earlier use, so
    /// that after a write they report only this session's.
    pub(super) fn forget_write_gtids(conns: &mut [&mut BackendConn]) {
        for conn in conns.iter_mut() {
            conn.last_gtid = None;
        }
    }

    /// Records, per node, the GTID of what the session just wrote through
    /// `conns` (one per target of `plan`, in target order).
    pub(super) fn record_write_gtids(&mut self, conns: &mut [PooledConn]) {
        for conn in conns.iter_mut() {
            if let Some(gtid) = conn.last_gtid.take() {
                if let Some(slot) = self.last_gtid.get_mut(conn.server.node) {
                    *slot = Some(gtid);
                    self.gtid_confirmed.clear();
                }
            }
        }
    }

    /// Makes the replica connections of a scattered read current with the
    /// session's last write on their node: waits for it, or swaps in a
    /// connection of the primary.
    pub(super) async fn freshen_scatter_reads(&mut self, conns: &mut [PooledConn]) -> Result<()> {
        if self.consistency() != Consistency::Session {
            return Ok(());
        }
        let timeout_ms = self.proxy.config.load().routing.gtid_wait_timeout_ms;
        let found_rows = self.flavor();
        for conn in conns.iter_mut() {
            let node_index = conn.server.node;
            let Some(node) = self.proxy.cluster.nodes.get(node_index) else {
                continue;
            };
            if node.is_primary(conn.pool()) {
                continue;
            }
            let Some(gtid) = self.last_gtid.get(node_index).cloned().flatten() else {
                continue;
            };
            let addr = conn.server.addr.clone();
            let confirmed = |(n, a): &(usize, String)| *n == node_index && *a == addr;
            if self.gtid_confirmed.iter().any(confirmed) {
                continue;
            }
            if replica_caught_up(conn, &gtid, timeout_ms, &self.proxy.metrics).await {
                self.gtid_confirmed.push((node_index, addr));
                continue;
            }
            let primary = node.primary();
            let mut fresh = primary.checkout(&found_rows, &self.state).await?;
            if let Err(e) = fresh.sync_state(&self.state).await {
                fresh.broken = true;
                return Err(e);
            }
            primary.stats.routed.fetch_add(1, Ordering::Relaxed);
            let behind = std::mem::replace(conn, fresh);
            if !behind.broken {
                behind.release();
            }
        }
        Ok(())
    }
}
