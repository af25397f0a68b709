//! One client statement whose writes reach several nodes, run as one
//! atomic unit (a sharding-key move, an `INSERT … SELECT` into a sharded
//! table): outside a transaction in one of its own across the nodes (XA
//! in `xa` mode when several nodes take part, `execute::xa::begin` /
//! `finish`); inside the session's transaction on its held connections
//! (each node joins the transaction as for any statement) between a
//! savepoint on every node and its release, or `ROLLBACK TO` it on every
//! node on failure, as one server undoes a failed statement and keeps
//! the transaction.
//!
//! Owns: the connections and the transaction (or savepoint) around a
//! caller's [`NodeSteps`]. Must not: decide what the steps write, plan,
//! or answer the client.

use std::future::Future;

use mysql_common::constants::StatusFlags;

use super::Session;
use crate::backend::{BackendConn, PooledConn, Role};
use crate::error::{ProxyError, Result};
use crate::execute::write::end_all;
use crate::execute::xa;
use crate::router::RoutePlan;
use crate::sql::Classified;
use crate::wire::packets::OkPacket;
use crate::wire::warnings::WarningList;

/// The writes of one statement, given one connection per node.
pub(super) trait NodeSteps: Sync {
    /// Runs the writes; `conns[i]` is the connection of `nodes[i]` (the
    /// nodes handed to [`Session::write_atomically`], sorted).
    fn run(
        &self,
        nodes: &[usize],
        conns: &mut [&mut BackendConn],
    ) -> impl Future<Output = Result<OkPacket>> + Send;
}

/// The connection of `node` among `nodes` (sorted, as handed to the steps).
pub(super) fn node_index(nodes: &[usize], node: usize) -> Result<usize> {
    nodes
        .iter()
        .position(|&n| n == node)
        .ok_or_else(|| ProxyError::Internal(format!("node #{node} is not in the statement")))
}

/// The savepoint that makes a multi-node write inside a transaction one
/// statement.
const STATEMENT_SAVEPOINT: &str = "shardcat_statement";

impl Session {
    /// Runs `steps` on `nodes` (sorted, deduplicated) atomically; `what`
    /// names the statement in the refusal of a session pinned outside a
    /// transaction.
    pub(super) async fn write_atomically<S: NodeSteps>(
        &mut self,
        nodes: &[usize],
        c: &Classified,
        steps: &S,
        what: &str,
    ) -> Result<OkPacket> {
        if self.pins.transaction {
            self.atomic_held(nodes, c, steps).await
        } else if self.pins.session_state {
            Err(ProxyError::Unsupported(format!(
                "{what} while the session is pinned to its connections (user variables, \
                 temporary tables, table locks…) outside a transaction"
            )))
        } else {
            self.atomic_pooled(nodes, steps).await
        }
    }

    /// Whether [`write_atomically`](Self::write_atomically) would refuse.
    pub(super) fn atomic_write_refused(&self) -> bool {
        !self.pins.transaction && self.pins.session_state
    }

    /// Inside the session's transaction: its connection on every node
    /// (joining the transaction there), the statement undone on all of
    /// them on failure (a savepoint per node).
    async fn atomic_held<S: NodeSteps>(
        &mut self,
        nodes: &[usize],
        c: &Classified,
        steps: &S,
    ) -> Result<OkPacket> {
        for &node in nodes {
            let rp = RoutePlan {
                node,
                role: Role::Primary,
                reason: "multi-node write in a transaction",
            };
            self.acquire(&rp, c).await?;
        }
        let limit = self.warning_limit();
        let mut held: Vec<(usize, &mut BackendConn)> = self
            .held
            .iter_mut()
            .filter(|h| nodes.contains(&h.node))
            .map(|h| (h.node, &mut *h.conn))
            .collect();
        held.sort_by_key(|(node, _)| *node);
        let mut refs: Vec<&mut BackendConn> = held.into_iter().map(|(_, c)| c).collect();
        if refs.len() != nodes.len() {
            return Err(ProxyError::Internal(
                "no connection for a node of the statement".into(),
            ));
        }
        for conn in refs.iter_mut() {
            conn.query_drop(&format!("SAVEPOINT {STATEMENT_SAVEPOINT}"))
                .await?;
        }
        let result = steps.run(nodes, &mut refs).await;
        let warnings = take_warnings(&mut refs, limit);
        let end = match result {
            Ok(_) => "RELEASE SAVEPOINT",
            Err(_) => "ROLLBACK TO SAVEPOINT",
        };
        for conn in refs.iter_mut().filter(|c| !c.broken) {
            if conn
                .query_drop(&format!("{end} {STATEMENT_SAVEPOINT}"))
                .await
                .is_err()
            {
                conn.broken = true;
            }
        }
        self.statement_warnings.extend(warnings, usize::MAX);
        result
    }

    /// One primary connection per node, one transaction across them.
    async fn atomic_pooled<S: NodeSteps>(
        &mut self,
        nodes: &[usize],
        steps: &S,
    ) -> Result<OkPacket> {
        self.start_checkout_clock();
        let mut conns: Vec<PooledConn> = Vec::with_capacity(nodes.len());
        for &node in nodes {
            let got = self.checkout_many_retrying(node, Role::Primary, 1).await?;
            conns.extend(got.into_iter().take(1));
        }
        if conns.len() != nodes.len() {
            return Err(ProxyError::Internal(
                "no connection for a node of the statement".into(),
            ));
        }
        let config = self.proxy.config.load();
        let limit = self.warning_limit();
        let warnings;
        let gtrid = (self.xa_mode() && nodes.len() > 1)
            .then(|| xa::new_gtrid(config.id_generator.worker_id, nodes[0]));
        // Pass-through users: shardcat's own account writes the decision.
        let service = self.decision_pool(nodes[0]);
        let decider = super::xa_tx::decider(&service);
        let result = {
            let mut refs: Vec<&mut BackendConn> = conns.iter_mut().map(|c| &mut **c).collect();
            Self::forget_write_gtids(&mut refs);
            let (started, begun) = match &gtrid {
                Some(g) => xa::begin(&mut refs, g, decider).await,
                None => begin_plain(&mut refs).await,
            };
            let result = match begun {
                Ok(()) => steps.run(nodes, &mut refs).await,
                Err(e) => Err(e),
            };
            warnings = take_warnings(&mut refs, limit);
            match &gtrid {
                Some(g) => xa::finish(&mut refs[..started], g, result, decider).await,
                None => {
                    let ended = end_all(&mut refs[..started], result.is_ok()).await;
                    let mut ok = result?;
                    ended?;
                    ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
                    Ok(ok)
                }
            }
        };
        self.statement_warnings.extend(warnings, usize::MAX);
        self.record_write_gtids(&mut conns);
        for conn in conns {
            if !conn.broken {
                conn.release();
            }
        }
        result
    }
}

impl Session {
    /// The warnings `SHOW WARNINGS` lists at most (`max_error_count`).
    fn warning_limit(&self) -> usize {
        crate::execute::warnings::max_error_count(self.state.var("max_error_count"))
    }
}

/// The warnings the steps' statements left (read after each of them by
/// `run_on_all`), for `SHOW WARNINGS` after the statement.
fn take_warnings(conns: &mut [&mut BackendConn], limit: usize) -> WarningList {
    let mut all = WarningList::default();
    for conn in conns.iter_mut() {
        all.extend(std::mem::take(&mut conn.warnings_read), limit);
    }
    all
}

/// `START TRANSACTION` on every connection: how many started, and the
/// first failure.
async fn begin_plain(conns: &mut [&mut BackendConn]) -> (usize, Result<()>) {
    for (i, conn) in conns.iter_mut().enumerate() {
        if let Err(e) = conn.query_drop("START TRANSACTION").await {
            return (i, Err(e));
        }
    }
    (conns.len(), Ok(()))
}
