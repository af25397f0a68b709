//! The session's side of XA two-phase commit (`[routing] transactions =
//! "xa"`): a node that joins an open transaction starts an XA branch
//! (`XA START`), the node the transaction began on stays a plain
//! transaction and coordinates (`execute::xa`), and the end of the
//! transaction picks one-phase or two-phase commit from the nodes that
//! were written.
//!
//! Owns: `Session::xa` (gtrid, branch nodes, written nodes).
//! Must not: run the protocol itself (that is `execute::xa`) or answer
//! the client.

use std::sync::Arc;

use mysql_common::constants::StatusFlags;

use super::Session;
use crate::backend::ServerPool;
use crate::config::TransactionMode;
use crate::error::{ProxyError, Result};
use crate::execute::xa::{self, Branch, Decider};
use crate::ops::xa_stats::{Outcome, XA};
use crate::router::shard::ShardPlan;
use crate::sql::{Classified, StatementKind};

/// The open transaction's XA state.
#[derive(Debug, Default)]
pub(super) struct XaTx {
    /// Set once a second node joined.
    gtrid: Option<String>,
    /// Nodes running an XA branch (the coordinator is not one).
    branches: Vec<usize>,
    /// Nodes a statement that may write ran on.
    written: Vec<usize>,
}

fn bqual(node: usize) -> String {
    format!("n{node}")
}

impl Session {
    pub(super) fn xa_mode(&self) -> bool {
        self.proxy.config.load().transactions_for(&self.user) == TransactionMode::Xa
    }

    /// A statement `c` is about to run on `node`: remembers whether it may
    /// write there (reads, locking reads included, need no prepare).
    pub(super) fn note_node_use(&mut self, node: usize, c: &Classified) {
        let may_write = matches!(
            c.kind,
            StatementKind::Insert
                | StatementKind::Replace
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::LoadData
                | StatementKind::Call
                | StatementKind::Do
                | StatementKind::SqlExecute
                | StatementKind::Other
        ) || c.flags.side_effect_function;
        if may_write && !self.xa.written.contains(&node) {
            self.xa.written.push(node);
        }
    }

    /// Forgets the transaction's savepoints and XA state (it ended).
    pub(super) fn forget_multi_node_tx(&mut self) {
        self.savepoints.clear();
        self.xa = XaTx::default();
    }

    /// How held connection `i` joins the open transaction in `xa` mode:
    /// the recorded `SET TRANSACTION …` lines, then `XA START` of a branch
    /// (instead of the `BEGIN`). `None`: it starts a plain transaction
    /// (best-effort mode, a read-only transaction, or no other node is in
    /// the transaction yet: this one then coordinates).
    pub(super) fn xa_join_start(&mut self, i: usize) -> Option<Vec<String>> {
        if !self.xa_mode() || self.read_only_tx {
            return None;
        }
        let node = self.held[i].node;
        let coordinator = self
            .held
            .iter()
            .find(|h| {
                h.node != node && h.conn.in_transaction() && !self.xa.branches.contains(&h.node)
            })?
            .node;
        let instance = self.proxy.config.load().id_generator.worker_id;
        let gtrid = self
            .xa
            .gtrid
            .get_or_insert_with(|| xa::new_gtrid(instance, coordinator))
            .clone();
        if !self.xa.branches.contains(&node) {
            self.xa.branches.push(node);
        }
        let mut start = Vec::new();
        if self.state.autocommit() {
            // The `SET TRANSACTION` lines; the last line is the BEGIN.
            let n = self.transaction_start.len().saturating_sub(1);
            start.extend(self.transaction_start[..n].iter().cloned());
        }
        start.push(xa::start_sql(&gtrid, &bqual(node)));
        Some(start)
    }

    /// The gtrid of an autocommit write on several targets, in `xa` mode
    /// (atomic across them: XA with the first target coordinating).
    pub(super) fn autocommit_gtrid(&self, plan: &ShardPlan, wrap: bool) -> Option<String> {
        let first = plan.targets.first()?;
        if !wrap || plan.targets.len() < 2 || !self.xa_mode() {
            return None;
        }
        let instance = self.proxy.config.load().id_generator.worker_id;
        Some(xa::new_gtrid(instance, first.node))
    }

    /// For a pass-through user: the `[backend]` pool of `node` (the
    /// coordinator), whose connection writes the decision row of a
    /// statement's own XA transaction (`execute::xa::Decider::Service`);
    /// `None`: the first connection writes it.
    pub(super) fn decision_pool(&self, node: usize) -> Option<Arc<ServerPool>> {
        self.login.as_ref()?;
        Some(self.proxy.cluster.nodes.get(node)?.primary())
    }

    /// Whether the open transaction has XA branches.
    pub(super) fn xa_branches_open(&self) -> bool {
        self.xa.gtrid.is_some()
    }

    /// Ends a transaction with XA branches: ROLLBACK everywhere, or a
    /// one-phase commit when at most one node was written, or two-phase
    /// commit of the written nodes (read-only branches commit first, in
    /// one phase). Returns the coordinator's status.
    pub(super) async fn end_with_xa(&mut self, commit: bool, text: &str) -> Result<u16> {
        let xa_state = std::mem::take(&mut self.xa);
        let gtrid = xa_state.gtrid.clone().unwrap_or_default();
        let written = |node: usize| xa_state.written.contains(&node);
        let mut coordinator = None;
        let mut extra = Vec::new();
        let mut wrote = Vec::new();
        let mut read_only = Vec::new();
        let mut gtids = Vec::new();
        let mut nodes_written = 0;
        for h in self.held.iter_mut() {
            if h.conn.broken {
                continue;
            }
            h.conn.last_gtid = None;
            let conn = &mut *h.conn;
            if xa_state.branches.contains(&h.node) {
                let b = Branch {
                    bqual: bqual(h.node),
                    conn,
                };
                match written(h.node) {
                    true => wrote.push(b),
                    false => read_only.push(b),
                }
            } else if conn.in_transaction() && coordinator.is_none() {
                coordinator = Some(conn);
            } else if conn.in_transaction() {
                extra.push(conn);
            } else {
                continue;
            }
            nodes_written += usize::from(written(h.node));
        }
        let result = if !commit {
            read_only.append(&mut wrote);
            xa::rollback(coordinator, &mut read_only, &gtrid).await;
            XA.ended(Outcome::RolledBack);
            Ok(())
        } else if nodes_written <= 1 {
            read_only.append(&mut wrote);
            let r = xa::commit_one_phase(coordinator, &mut read_only, &gtrid, text).await;
            XA.ended(match r {
                Ok(()) => Outcome::CommittedOnePhase,
                Err(_) => Outcome::Unknown,
            });
            r
        } else if let Some(c) = coordinator {
            match xa::commit_one_phase(None, &mut read_only, &gtrid, text).await {
                Ok(()) => xa::commit(c, &mut wrote, &gtrid).await,
                Err(e) => {
                    xa::rollback(Some(c), &mut wrote, &gtrid).await;
                    XA.ended(Outcome::Aborted);
                    Err(ProxyError::XaRolledBack {
                        reason: format!("a read-only branch failed: {e}"),
                    })
                }
            }
        } else {
            read_only.append(&mut wrote);
            xa::rollback(None, &mut read_only, &gtrid).await;
            XA.ended(Outcome::Aborted);
            Err(ProxyError::XaRolledBack {
                reason: "the node the transaction began on was lost".into(),
            })
        };
        // Connections in a transaction begun outside the session's
        // knowledge (a multi-statement): ended plainly, after the rest.
        let end = if commit && result.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        for c in extra {
            if c.query_drop(end).await.is_err() {
                c.broken = true;
            }
        }
        for h in self.held.iter_mut() {
            if let Some(gtid) = h.conn.last_gtid.take() {
                gtids.push((h.node, gtid));
            }
        }
        self.note_commit_gtids(gtids);
        result.map(|()| self.status & !StatusFlags::SERVER_STATUS_IN_TRANS.bits())
    }
}

/// Who decides, given [`Session::decision_pool`]'s answer.
pub(super) fn decider(pool: &Option<Arc<ServerPool>>) -> Decider<'_> {
    match pool {
        Some(p) => Decider::Service(p),
        None => Decider::FirstConnection,
    }
}
