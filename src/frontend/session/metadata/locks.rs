//! `LOCK TABLES`/`UNLOCK TABLES` on sharded and broadcast tables: every
//! physical table locked on its primary, in a fixed node order, the
//! connections pinned until `UNLOCK TABLES`.
//!
//! Owns: `Session::table_locks`. Must not: run other statements.

use super::*;

impl Session {
    /// A scattered read while the session holds only READ table locks and
    /// no transaction, with several physical tables on one node, may run
    /// on pooled connections (see `target_connections`). Not when it reads
    /// user variables, which live on the pinned connections only.
    pub(in crate::frontend::session) fn read_locks_allow_pooled(
        &self,
        plan: &crate::router::shard::ShardPlan,
    ) -> bool {
        if !self.table_locks.held
            || self.table_locks.write
            || self.pins.transaction
            || self.held.iter().any(|h| h.conn.in_transaction())
        {
            return false;
        }
        let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.len() == plan.targets.len() {
            return false;
        }
        !plan.targets.iter().any(|t| {
            crate::sql::lexer::tokenize(&t.sql)
                .iter()
                .any(|tok| tok.kind == crate::sql::TokenKind::UserVar)
        })
    }

    /// `LOCK TABLES` naming sharded or broadcast tables: the physical
    /// tables are locked on every node holding them, each on the session's
    /// primary connection of that node (pinned until the session resets,
    /// as for any `LOCK TABLES`). Locks held on other nodes are released
    /// (a new `LOCK TABLES` releases the previous ones). On a failure no
    /// lock stays.
    pub(super) async fn run_lock(
        &mut self,
        per_node: &[(usize, String)],
        write: bool,
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut failure = None;
        let mut status = self.status;
        let mut last_node = self.node_for_session();
        let unlock_unpins = if self.table_locks.held {
            self.table_locks.unlock_unpins
        } else {
            !self.pins.session_state
        };
        for (node, sql) in per_node {
            let plan = RoutePlan {
                node: *node,
                role: Role::Primary,
                reason: "LOCK TABLES",
            };
            let result = match self.acquire(&plan, c).await {
                Ok(i) => {
                    let r = self.held[i].conn.query_drop(sql).await;
                    status = self.held[i].conn.status;
                    r
                }
                Err(e) => Err(e),
            };
            last_node = *node;
            if let Err(e) = result {
                failure = Some(e);
                break;
            }
        }
        for h in self.held.iter_mut() {
            let locked_here = failure.is_none() && per_node.iter().any(|(n, _)| *n == h.node);
            if !locked_here && !h.conn.broken {
                // Best effort: a connection that cannot unlock is broken and
                // dropped below, which releases its locks.
                if h.conn.query_drop("UNLOCK TABLES").await.is_err() {
                    h.conn.broken = true;
                }
            }
        }
        match failure {
            Some(e) => {
                self.table_locks = TableLocks::default();
                self.fail_metadata(c, last_node, e, seq).await;
            }
            None => {
                self.table_locks = TableLocks {
                    held: true,
                    write,
                    unlock_unpins,
                };
                self.write_ok(seq, 0, 0, status, 0).await;
                let outcome = Outcome {
                    status,
                    sent_anything: true,
                    ..Outcome::default()
                };
                self.finish_metadata(c, last_node, outcome);
            }
        }
    }

    /// `UNLOCK TABLES` on every connection the session holds.
    pub(in crate::frontend::session) async fn unlock_everywhere(
        &mut self,
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut failure = None;
        let mut status = self.status;
        for h in self.held.iter_mut() {
            match h.conn.query_drop("UNLOCK TABLES").await {
                Ok(()) => status = h.conn.status,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let unpin = self.table_locks.held
            && self.table_locks.unlock_unpins
            && failure.is_none()
            && !self.pins.transaction;
        self.table_locks = TableLocks::default();
        if unpin {
            self.pins.session_state = false;
        }
        let node = self.node_for_session();
        match failure {
            Some(e) => self.fail_metadata(c, node, e, seq).await,
            None => {
                self.write_ok(seq, 0, 0, status, 0).await;
                let outcome = Outcome {
                    status,
                    sent_anything: true,
                    ..Outcome::default()
                };
                self.finish_metadata(c, node, outcome);
            }
        }
    }
}
