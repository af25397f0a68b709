//! How a transaction held on several nodes ends, and the statements that
//! act on all of its nodes at once: COMMIT/ROLLBACK, the implicit commit
//! of DDL, `LOCK TABLES`, `BEGIN` inside a transaction and `SET
//! autocommit = 1`, and the savepoint statements (`SAVEPOINT`, `ROLLBACK
//! TO SAVEPOINT`, `RELEASE SAVEPOINT`), run on every node of the
//! transaction in the order one server would see them. Savepoints are
//! recorded so that a node the transaction reaches later declares them
//! too (see `connections::join_transaction`). Text statements, prepared
//! executes and multi-statements get the same treatment (a multi-statement
//! that would end the transaction on one node after other statements is
//! refused: `multi_statement_end`).
//!
//! Owns: `Session::savepoints`, the end of the held connections'
//! transactions (node order; a failed COMMIT rolls back the rest; with XA
//! branches, `xa_tx`), which statements commit implicitly.
//! Must not: route statements or answer anything but the statements it
//! runs itself.

use mysql_common::constants::StatusFlags;

use super::{Ran, Session};
use crate::error::{ProxyError, Result};
use crate::execute::Outcome;
use crate::router;
use crate::sql::{self, Classified, SetScope, StatementKind};

/// See [`Session::multi_statement_end`].
pub(super) enum MultiStatementEnd {
    Nothing,
    CommitFirst,
    Refuse(ProxyError),
}

impl Session {
    /// Whether `c` commits the open transaction before it runs, as MySQL's
    /// implicit commit does (DDL, `LOCK TABLES`, `BEGIN` inside a
    /// transaction, `SET autocommit = 1` while it is off, account and
    /// maintenance statements).
    pub(super) fn implicitly_commits(&self, text: &str, c: &Classified) -> bool {
        if c.flags.multi_statement || c.flags.temporary_table {
            return false;
        }
        match c.kind {
            StatementKind::Ddl
            | StatementKind::LockTables
            | StatementKind::Begin { .. }
            | StatementKind::Grant
            | StatementKind::Revoke
            | StatementKind::Analyze
            | StatementKind::Optimize
            | StatementKind::Repair
            | StatementKind::Flush => true,
            StatementKind::Set(_) if !self.state.autocommit() => {
                sql::set_assignments(text).iter().any(|a| {
                    a.name == "autocommit"
                        && matches!(a.scope, SetScope::Session)
                        && text.get(a.value_text.clone()).is_some_and(|v| {
                            let v = v.trim().trim_matches('\'').to_ascii_uppercase();
                            v == "1" || v == "ON" || v == "TRUE"
                        })
                })
            }
            _ => false,
        }
    }

    /// What a multi-statement COM_QUERY needs before it runs on the
    /// session's node while a transaction is open: nothing when none of
    /// its statements ends the transaction (implicit commit, COMMIT,
    /// ROLLBACK, savepoints) or the transaction lives on that node alone;
    /// the commit on every node when its first statement commits; else a
    /// refusal (the later statement would end the transaction on one node
    /// only, after the earlier ones ran).
    pub(super) fn multi_statement_end(&self, text: &str) -> MultiStatementEnd {
        let pieces: Vec<(&str, Classified)> = sql::split_statements(text)
            .into_iter()
            .map(|r| {
                let t = text.get(r).unwrap_or("");
                (t, sql::classify(t))
            })
            .collect();
        let ends = |t: &str, p: &Classified| {
            self.implicitly_commits(t, p)
                || matches!(
                    p.kind,
                    StatementKind::Commit | StatementKind::Rollback | StatementKind::Savepoint
                )
        };
        if !pieces.iter().any(|(t, p)| ends(t, p)) {
            return MultiStatementEnd::Nothing;
        }
        let node = self.node_for_session();
        let here_only = !self.xa_branches_open()
            && self
                .held
                .iter()
                .filter(|h| h.conn.in_transaction())
                .all(|h| h.node == node);
        if here_only {
            return MultiStatementEnd::Nothing;
        }
        match pieces.first() {
            Some((t, p)) if self.implicitly_commits(t, p) || p.kind == StatementKind::Commit => {
                MultiStatementEnd::CommitFirst
            }
            _ => MultiStatementEnd::Refuse(ProxyError::Unsupported(
                "a multi-statement that ends or changes a transaction open on several nodes \
                 (implicit commit, COMMIT, ROLLBACK or a savepoint after other statements): \
                 send its statements one by one"
                    .into(),
            )),
        }
    }

    /// Whether any held connection is inside a transaction.
    pub(super) fn transaction_held(&self) -> bool {
        self.held.iter().any(|h| h.conn.in_transaction())
    }

    /// The implicit commit of `c` on every node of the open transaction,
    /// before `c` itself runs (on one of them, or elsewhere). Without it
    /// the nodes `c` does not reach would keep their writes uncommitted
    /// and their locks held.
    pub(super) async fn commit_before(&mut self) -> Result<()> {
        let result = self.end_held(true, "COMMIT").await;
        self.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        self.forget_multi_node_tx();
        self.held.retain(|h| !h.conn.broken);
        result.map(|_| ())
    }

    /// After a server rolled the transaction back by itself (see
    /// `statement_end::rolls_back_transaction`): the transaction's parts on
    /// every other node are rolled back (XA branches ended and rolled
    /// back), and the session is outside a transaction, as on one server
    /// whose deadlock victim's transaction is gone. A connection that
    /// fails this is closed (its server rolls back).
    pub(super) async fn roll_back_after_server_rollback(&mut self) {
        if let Err(e) = self.end_held(false, "ROLLBACK").await {
            tracing::debug!(error = %e, "rolling back after a server's deadlock rollback");
        }
        self.held.retain(|h| !h.conn.broken);
        self.after_failure();
    }

    /// COMMIT (`commit`) or ROLLBACK of every held connection inside a
    /// transaction, in node order. `text` is the client's statement
    /// (`COMMIT AND CHAIN` …), sent as written in best-effort mode. When a
    /// COMMIT fails, the nodes not committed yet roll back and the error
    /// names the nodes that had committed. Records the committed nodes'
    /// GTIDs (read-your-writes) and returns the last server status.
    pub(super) async fn end_held(&mut self, commit: bool, text: &str) -> Result<u16> {
        self.held.sort_by_key(|h| h.node);
        if self.xa_branches_open() {
            return self.end_with_xa(commit, text).await;
        }
        let mut failure: Option<ProxyError> = None;
        let mut status = self.status;
        let mut committed_on: Vec<String> = Vec::new();
        let mut gtids = Vec::new();
        for h in self.held.iter_mut() {
            if h.conn.broken || !h.conn.in_transaction() {
                continue;
            }
            h.conn.last_gtid = None;
            // Once a COMMIT failed, the nodes not committed yet roll back:
            // never a transaction that exists only on the later nodes.
            let sql = if failure.is_some() && commit {
                "ROLLBACK"
            } else {
                text
            };
            match h.conn.query_drop(sql).await {
                Ok(()) => {
                    status = h.conn.status;
                    if commit && failure.is_none() {
                        committed_on.push(h.conn.server.name.clone());
                    }
                }
                Err(e) if commit && failure.is_none() => {
                    h.conn.broken = true;
                    failure = Some(ProxyError::CommitIncomplete {
                        server: h.conn.server.name.clone(),
                        committed: committed_on.clone(),
                        cause: e.to_string(),
                    });
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
            if let Some(gtid) = h.conn.last_gtid.take() {
                gtids.push((h.node, gtid));
            }
        }
        self.note_commit_gtids(gtids);
        match failure {
            Some(e) => Err(e),
            None => Ok(status),
        }
    }

    /// Read-your-writes on every node a transaction wrote on.
    pub(super) fn note_commit_gtids(&mut self, gtids: Vec<(usize, String)>) {
        for (node, gtid) in gtids {
            if let Some(slot) = self.last_gtid.get_mut(node) {
                *slot = Some(gtid);
                self.gtid_confirmed.clear();
            }
        }
    }

    /// `SAVEPOINT`, `ROLLBACK TO SAVEPOINT`, `RELEASE SAVEPOINT` inside a
    /// transaction: on every node of the transaction, in node order (the
    /// first error stops and is the answer), then recorded for the nodes
    /// the transaction reaches later.
    pub(super) async fn savepoint_everywhere(&mut self, text: &str, c: &Classified, seq: &mut u8) {
        let result = self.run_savepoint(text, c).await;
        let outcome = Outcome {
            status: *result.as_ref().unwrap_or(&self.status),
            error: result.as_ref().err().map(|e| e.to_err_packet()),
            ..Outcome::default()
        };
        match &result {
            Ok(status) => self.write_ok(seq, 0, 0, *status, 0).await,
            Err(e) => self.write_error_seq(e, seq).await,
        }
        let lost = self.held.iter().any(|h| h.conn.broken);
        self.held.retain(|h| !h.conn.broken);
        if lost {
            self.after_failure();
        }
        let node = self.node_for_session();
        self.after_statement(c, &Ran { outcome, node });
        if result.is_ok() && self.transaction_held() {
            self.savepoints.push(text.to_owned());
        }
    }

    async fn run_savepoint(&mut self, text: &str, c: &Classified) -> Result<u16> {
        if !self.transaction_held() {
            // Autocommit off, nothing run yet: the session's node opens it.
            let node = self.node_for_session();
            let plan = router::route(c, &self.view(node));
            let i = self.acquire(&plan, c).await?;
            if !self.held[i].conn.in_transaction() {
                self.held[i].conn.query_drop("START TRANSACTION").await?;
            }
        }
        self.held.sort_by_key(|h| h.node);
        let mut status = self.status;
        for h in self.held.iter_mut() {
            if h.conn.broken || !h.conn.in_transaction() {
                continue;
            }
            h.conn.query_drop(text).await?;
            status = h.conn.status;
        }
        Ok(status)
    }

    /// What a connection joining the open transaction replays after its
    /// start: the savepoints declared, released and rolled back to so far.
    pub(super) fn savepoint_replay(&self) -> Vec<String> {
        self.savepoints.clone()
    }
}
