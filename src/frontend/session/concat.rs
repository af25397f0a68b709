//! Scattered reads that need no merge (plain concatenation: no `ORDER BY`,
//! `LIMIT`, `DISTINCT`, grouping or hidden columns), in sessions pinned to
//! one connection per node (a transaction, table locks, user variables):
//! the physical tables of a node are read one after the other on the
//! session's own connection there, each answer relayed as it arrives, so
//! the rows are exactly those the transaction's snapshot or the table locks
//! let that connection see. This is what `mysqldump --single-transaction`
//! and a dump under `LOCK TABLES` send (`SELECT * FROM t`).
//! (`execute::scatter` reads every target at once and so needs one
//! connection per target, which a pinned session does not have.)
//!
//!
//! Reads that do need a merge run the same way, one target after the other
//! on the node's connection, each answer read in full (bounded) and then
//! merged by `execute::scatter` from those buffered answers.
//!
//! Owns: that sequential relay and the sequential reading of answers to
//! merge. Must not merge rows itself (sort, group, limit: that is
//! `execute::scatter`).

use mysql_common::constants::CapabilityFlags;

use super::{Ran, Session};
use crate::error::{ProxyError, Result};
use crate::execute::{scatter, Outcome};
use crate::router::shard::{MergeSpec, ShardPlan};
use crate::router::{self, RoutePlan};
use crate::sql::Classified;
use crate::wire::command;
use crate::wire::packets::{encode_eof, is_err, is_terminator, ErrPacket, OkPacket, Reader};

/// Whether the shards' answers, one after the other, are the answer.
fn is_concatenation(merge: Option<&MergeSpec>) -> bool {
    merge.is_none_or(|m| {
        m.hidden_columns == 0
            && m.order_by.is_empty()
            && m.offset == 0
            && m.limit.is_none()
            && !m.distinct
            && m.aggregate.is_none()
    })
}

impl Session {
    /// A read the pinned connections can answer one target at a time: the
    /// session holds one connection per node and several targets share a
    /// node.
    pub(super) fn sequential_read_applies(&self, plan: &ShardPlan) -> bool {
        is_concatenation(plan.merge.as_ref()) && self.shares_pinned_connections(plan)
    }

    /// A read that needs a merge, in the same situation: its answers are
    /// read one after the other and merged ([`Session::run_buffered_merge`]).
    pub(super) fn buffered_merge_applies(&self, plan: &ShardPlan) -> bool {
        !is_concatenation(plan.merge.as_ref())
            && !self.read_locks_allow_pooled(plan)
            && self.shares_pinned_connections(plan)
    }

    /// A read in a pinned session where several targets share a node.
    fn shares_pinned_connections(&self, plan: &ShardPlan) -> bool {
        if plan.write || !(self.pins.transaction || self.pins.session_state) {
            return false;
        }
        let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        // User variables live on one connection only: a read using them on
        // several nodes stays refused rather than answering NULLs.
        nodes.len() != plan.targets.len()
            && !plan.targets.iter().any(|t| {
                crate::sql::lexer::tokenize(&t.sql)
                    .iter()
                    .any(|tok| tok.kind == crate::sql::TokenKind::UserVar)
            })
    }

    /// Reads each target's whole answer on the session's connection of its
    /// node, one after the other, then merges them as a scatter would.
    pub(super) async fn run_buffered_merge(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        seq: &mut u8,
    ) {
        /// What one target's buffered answer may take.
        const MAX_BUFFERED_BYTES: usize = 256 << 20;
        if let Err(e) = self.hold_target_nodes(plan, c).await {
            self.write_error_seq(&e, seq).await;
            return;
        }
        let mut sources = Vec::with_capacity(plan.targets.len());
        for t in &plan.targets {
            let Some(h) = self.held.iter().position(|h| h.node == t.node) else {
                self.write_error_seq(
                    &ProxyError::Internal("no connection for a shard target".into()),
                    seq,
                )
                .await;
                return;
            };
            let mut payload = Vec::with_capacity(t.sql.len() + 1);
            payload.push(command::QUERY);
            payload.extend_from_slice(t.sql.as_bytes());
            match scatter::read_answer(&mut self.held[h].conn, &vec![payload], MAX_BUFFERED_BYTES)
                .await
            {
                Ok(answer) => sources.push(scatter::ShardSource::Read(answer)),
                Err(e) => {
                    let lost = self.held[h].conn.broken;
                    self.held.retain(|h| !h.conn.broken);
                    self.write_error_seq(&e, seq).await;
                    if lost {
                        self.after_failure();
                    }
                    return;
                }
            }
        }
        let merge = plan
            .merge
            .as_ref()
            .map(super::sharded::merge_plan)
            .unwrap_or_default();
        let outcome = scatter::scatter_select_sources(
            &mut sources,
            scatter::Protocol::Text,
            &mut self.client,
            self.caps,
            seq,
            &merge,
            scatter::Budget {
                max_groups: self.proxy.config.load().routing.merge_max_groups,
            },
            self.status,
        )
        .await;
        self.finish_scatter(c, outcome);
    }

    /// The session's connection on every node of `plan` (checked out and
    /// held if needed), routed as the statement is.
    pub(super) async fn hold_target_nodes(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
    ) -> Result<()> {
        let first = plan
            .targets
            .first()
            .ok_or_else(|| ProxyError::Internal("empty shard plan".into()))?;
        let role = router::route(c, &self.view(first.node)).role;
        let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            let rp = RoutePlan {
                node,
                role,
                reason: "shard target on the session's connection",
            };
            self.acquire(&rp, c).await?;
        }
        Ok(())
    }

    pub(super) async fn run_sequential_read(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        seq: &mut u8,
    ) {
        if let Err(e) = self.hold_target_nodes(plan, c).await {
            self.write_error_seq(&e, seq).await;
            return;
        }
        let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let mut outcome = Outcome {
            status: self.status,
            ..Outcome::default()
        };
        let mut columns: Option<usize> = None;
        let mut failure: Option<ProxyError> = None;
        'targets: for t in &plan.targets {
            // Looked up each time: acquiring may have reordered `held`.
            let Some(i) = self.held.iter().position(|h| h.node == t.node) else {
                failure = Some(ProxyError::Internal(format!(
                    "no connection held for node #{}",
                    t.node
                )));
                break;
            };
            let conn = &mut self.held[i].conn;
            let mut payload = Vec::with_capacity(t.sql.len() + 1);
            payload.push(command::QUERY);
            payload.extend_from_slice(t.sql.as_bytes());
            if let Err(e) = conn.send_command(&payload).await {
                failure = Some(e);
                break;
            }
            let head = match conn.read_packet().await {
                Ok(p) => p.payload,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if is_err(&head) {
                failure = Some(ProxyError::Backend(
                    ErrPacket::parse(&head)
                        .unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
                ));
                break;
            }
            if head.first() == Some(&0x00) {
                // No result set (cannot happen for a SELECT): nothing to add.
                conn.absorb_ok(&head);
                continue;
            }
            let n = Reader::new(&head).lenenc_int().unwrap_or(0) as usize;
            let mut defs = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                match conn.read_packet().await {
                    Ok(p) => defs.push(p.payload),
                    Err(e) => {
                        failure = Some(e);
                        break 'targets;
                    }
                }
            }
            match columns {
                None => {
                    columns = Some(n);
                    outcome.sent_anything = true;
                    outcome.result_sets = 1;
                    let mut ok = self.client.send(seq, &head).await.is_ok();
                    for d in &defs {
                        ok &= self.client.send(seq, d).await.is_ok();
                    }
                    if !deprecate_eof {
                        let mut buf = Vec::new();
                        encode_eof(&mut buf, 0, self.status);
                        ok &= self.client.send(seq, &buf).await.is_ok();
                    }
                    outcome.client_lost |= !ok;
                }
                Some(m) if m != n => {
                    failure = Some(ProxyError::Internal(format!(
                        "shards answered with {m} and {n} columns"
                    )));
                    // Drain this answer to keep the connection usable.
                    let conn = &mut self.held[i].conn;
                    loop {
                        match conn.read_packet().await {
                            Ok(p) if is_terminator(&p.payload) || is_err(&p.payload) => break,
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    break;
                }
                Some(_) => {}
            }
            loop {
                let conn = &mut self.held[i].conn;
                let p = match conn.read_packet().await {
                    Ok(p) => p.payload,
                    Err(e) => {
                        failure = Some(e);
                        break 'targets;
                    }
                };
                if is_err(&p) {
                    failure = Some(ProxyError::Backend(
                        ErrPacket::parse(&p)
                            .unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
                    ));
                    break 'targets;
                }
                if is_terminator(&p) {
                    if let Some(ok) = conn.absorb_ok(&p) {
                        outcome.warnings = outcome.warnings.saturating_add(ok.warnings);
                        outcome.status = ok.status;
                    }
                    break;
                }
                if !outcome.client_lost && self.client.send(seq, &p).await.is_err() {
                    // Keep reading: the connection must reach the end of
                    // the answer to stay usable.
                    outcome.client_lost = true;
                }
            }
        }
        match failure {
            Some(e) => {
                // Before or in the middle of the rows: an ERR ends it, as a
                // server's error while sending rows does.
                outcome.error = Some(e.to_err_packet());
                self.write_error_seq(&e, seq).await;
            }
            None => {
                let mut buf = Vec::new();
                if columns.is_none() {
                    // No target answered with rows (every target returned
                    // OK): an OK, as the server would for such a statement.
                    OkPacket {
                        status: outcome.status,
                        warnings: outcome.warnings,
                        ..OkPacket::default()
                    }
                    .encode(self.caps, 0x00, &mut buf);
                } else if deprecate_eof {
                    OkPacket {
                        status: outcome.status,
                        warnings: outcome.warnings,
                        ..OkPacket::default()
                    }
                    .encode(self.caps, 0xFE, &mut buf);
                } else {
                    encode_eof(&mut buf, outcome.warnings, outcome.status);
                }
                if self.client.send(seq, &buf).await.is_err() {
                    outcome.client_lost = true;
                }
            }
        }
        self.held.retain(|h| !h.conn.broken);
        // The session is in a transaction while any of its connections is
        // (the last target's server may be one that joined without it).
        let in_trans = mysql_common::constants::StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        if self.held.iter().any(|h| h.conn.in_transaction()) {
            outcome.status |= in_trans;
        }
        let node = self.node_for_session();
        self.after_statement(c, &Ran { outcome, node });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::shard::{ColumnRef, SortKey};

    #[test]
    fn concatenation() {
        assert!(is_concatenation(None));
        assert!(is_concatenation(Some(&MergeSpec::default())));
        let sorted = MergeSpec {
            order_by: vec![SortKey {
                column: ColumnRef::Index(0),
                descending: false,
            }],
            ..MergeSpec::default()
        };
        assert!(!is_concatenation(Some(&sorted)));
        let limited = MergeSpec {
            limit: Some(1),
            ..MergeSpec::default()
        };
        assert!(!is_concatenation(Some(&limited)));
    }
}
