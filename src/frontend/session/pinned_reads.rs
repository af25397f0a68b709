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
//! Both are the fallback: first the node's targets are joined into one
//! `UNION ALL` (`router::shard::node_union`), every node read at once on
//! its connection and merged as it streams. When every node's answer is a
//! UNION, its column definitions are checked before anything is sent
//! (`execute::scatter::union_header_faithful`: a UNION widens TEXT/BLOB,
//! types ENUM/SET as VARCHAR); if they are not a single server's, those
//! answers are drained and the statement runs one table at a time.
//!
//! Each target's warnings are read right after its answer
//! (`execute::warnings`), before the node's next target resets them.
//!
//! Owns: choosing among those three ways, the sequential relay and the
//! sequential reading of answers to merge. Must not merge rows itself
//! (sort, group, limit: that is `execute::scatter`) or write SQL (that is
//! `router::shard`).

use bytes::Bytes;

use super::run_plan::{merge_targets_if, Reply};
use super::{Held, Session};
use crate::backend::connection::SettleLimit;
use crate::backend::BackendConn;
use crate::error::ProxyError;
use crate::execute::cancel::{client_gone, running_on, Watched};
use crate::execute::scatter::{self, ShardSource};
use crate::execute::sequence::Sequence;
use crate::execute::{warnings, Command, Encoding};
use crate::ops::event_stats::EventStats;
use crate::router::shard::{node_union, MergeSpec, ShardPlan, ShardTarget};
use crate::sql::Classified;

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

/// What one target's buffered answer may take.
pub(super) const MAX_BUFFERED_BYTES: usize = 256 << 20;

impl Session {
    /// A read the pinned connections can answer one target at a time: the
    /// session holds one connection per node and several targets share a
    /// node.
    pub(super) fn sequential_read_applies(&self, plan: &ShardPlan) -> bool {
        is_concatenation(plan.merge.as_deref()) && self.shares_pinned_connections(plan)
    }

    /// A read that needs a merge, in the same situation: its answers are
    /// read one after the other and merged ([`Session::run_buffered_merge`]).
    pub(super) fn buffered_merge_applies(&self, plan: &ShardPlan) -> bool {
        !is_concatenation(plan.merge.as_deref())
            && !self.read_locks_allow_pooled(plan)
            && self.shares_pinned_connections(plan)
    }

    /// Runs a read [`Session::sequential_read_applies`] or
    /// [`Session::buffered_merge_applies`] takes as one statement per node
    /// (`router::shard::node_union`), every node at once on the session's
    /// connection there, the answers merged as they stream. `false` when it
    /// did not run and sent nothing: the shape cannot be joined, or every
    /// node's answer is a UNION whose column definitions would not be a
    /// single server's (then those answers are drained by the connections'
    /// next command).
    pub(super) async fn run_node_unions(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: &Encoding<'_>,
        seq: &mut u8,
    ) -> bool {
        // The server applies `sql_select_limit` to a UNION as a whole, not
        // to each physical table's part as the merge expects.
        // (What `sequential_read_applies` or `buffered_merge_applies` say,
        // but for user variables, which `node_unions` refuses itself.)
        let applies = self.proxy.config.load().routing.node_unions
            && self.select_limit().is_none()
            && plan.returns_rows()
            && (self.pins.transaction || self.pins.session_state)
            && super::connections::plan_nodes(plan).len() != plan.targets.len()
            && (is_concatenation(plan.merge.as_deref()) || !self.read_locks_allow_pooled(plan));
        if !applies {
            return false;
        }
        let Some(retyped) = self.union_retyped(plan).await else {
            return false;
        };
        let Some(united) = node_union::node_unions(plan, &retyped) else {
            return false;
        };
        // The merge sends the first answer's column definitions: when that
        // is a UNION, they are checked first (an expression a UNION types
        // otherwise, such as a NULL or a long string).
        let first_node = united.targets.first().map(|t| t.node);
        let first_is_union = plan
            .targets
            .iter()
            .filter(|t| Some(t.node) == first_node)
            .count()
            > 1;
        if let Err(e) = self.hold_target_nodes(&united, c).await {
            self.write_error_seq(&e, seq).await;
            return true;
        }
        let no_merge = MergeSpec::default();
        let merge = united.merge.as_deref().unwrap_or(&no_merge);
        let budget = self.merge_budget();
        let limit = self.max_error_count();
        let handle = self.handle.clone();
        let in_plan = |node: usize| united.targets.iter().any(|t| t.node == node);
        let running = running_on(
            self.held
                .iter()
                .filter(|h| in_plan(h.node))
                .map(|h| &h.conn),
        );
        let reply = Reply {
            client: &mut self.client,
            caps: self.caps,
            status: self.status,
            seq: &mut *seq,
        };
        let (mut refs, targets) = held_in_target_order(&mut self.held, &united);
        if refs.len() != united.targets.len() {
            let e = ProxyError::Internal("no connection held for a shard target".into());
            let outcome = scatter::report_failure(e, reply.client, reply.seq).await;
            self.finish_scatter(c, outcome);
            return true;
        }
        let accept = |defs: &[Bytes]| scatter::union_header_faithful(defs);
        let check: Option<scatter::HeaderCheck<'_>> = first_is_union.then_some(&accept);
        let merged = merge_targets_if(
            reply, &handle, &mut refs, running, &targets, encoding, merge, budget, check,
        )
        .await;
        let events = &crate::ops::event_stats::EVENTS;
        EventStats::bump(&events.node_union_reads);
        let Some(outcome) = merged else {
            EventStats::bump(&events.node_union_declined);
            // The declined answers, read to their end before the statement
            // runs the other way on the same connections.
            let mut failure = None;
            for conn in refs {
                if let Err(e) = conn.settle(SettleLimit::BACKGROUND).await {
                    conn.broken = true;
                    failure.get_or_insert(e);
                }
            }
            let Some(e) = failure else {
                return false;
            };
            // A connection lost mid-transaction: the statement fails as the
            // transaction does (`finish_scatter`).
            let outcome = scatter::report_failure(e, &mut self.client, seq).await;
            self.finish_scatter(c, outcome);
            return true;
        };
        self.statement_warnings = warnings::take_from(refs.iter_mut().map(|c| &mut **c), limit);
        self.finish_scatter(c, outcome);
        true
    }

    /// The columns of `plan`'s tables a UNION types otherwise (learnt
    /// here once per table); `None` when they cannot be learnt.
    async fn union_retyped(&mut self, plan: &ShardPlan) -> Option<Vec<String>> {
        let router = self
            .tx_router
            .clone()
            .or_else(|| self.proxy.shard_router.load_full())?;
        let tables: Vec<String> = plan
            .targets
            .iter()
            .flat_map(|t| t.tables.iter().cloned())
            .collect();
        let schema = self.state.schema.clone();
        match router.union_retyped(&tables, schema.as_deref()) {
            Ok(retyped) => Some(retyped),
            Err(unknown) => {
                self.fetch_kinds(&router, unknown).await.ok()?;
                router.union_retyped(&tables, schema.as_deref()).ok()
            }
        }
    }

    /// A read in a pinned session where several targets share a node.
    fn shares_pinned_connections(&self, plan: &ShardPlan) -> bool {
        if !plan.returns_rows() || !(self.pins.transaction || self.pins.session_state) {
            return false;
        }
        let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        // User variables live on one connection only: a read using them on
        // several nodes stays refused rather than answering NULLs.
        // (No `@`, no user variable: most statements are not tokenized.)
        nodes.len() != plan.targets.len()
            && !plan.targets.iter().any(|t| {
                t.sql.contains('@')
                    && crate::sql::lexer::tokenize(&t.sql)
                        .iter()
                        .any(|tok| tok.kind == crate::sql::TokenKind::UserVar)
            })
    }

    /// Reads each target's whole answer on the session's connection of its
    /// node, one after the other, then merges them as a scatter would;
    /// cancellable like every scatter.
    pub(super) async fn run_buffered_merge(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        if let Err(e) = self.hold_target_nodes(plan, c).await {
            self.write_error_seq(&e, seq).await;
            return;
        }
        let no_merge = MergeSpec::default();
        let merge = plan.merge.as_deref().unwrap_or(&no_merge);
        let budget = self.merge_budget();
        let (caps, status) = (self.caps, self.status);
        let handle = self.handle.clone();
        let in_plan = |node: usize| plan.targets.iter().any(|t| t.node == node);
        let running = running_on(
            self.held
                .iter()
                .filter(|h| in_plan(h.node))
                .map(|h| &h.conn),
        );
        let watched = Watched::new(&handle, running);
        let gone = client_gone(self.client.get_ref());
        let (held, client) = (&mut self.held, &mut self.client);
        let statement = async {
            let mut sources = Vec::with_capacity(plan.targets.len());
            for t in &plan.targets {
                let Some(h) = held.iter_mut().find(|h| h.node == t.node) else {
                    let e = ProxyError::Internal("no connection for a shard target".into());
                    return scatter::report_failure(e, client, seq).await;
                };
                let command = Command::for_target(&encoding, t);
                let answer = match command.send_on(&mut h.conn).await {
                    Ok(()) => scatter::read_answer(&mut h.conn, MAX_BUFFERED_BYTES).await,
                    Err(e) => Err(e),
                };
                // Its warnings, before the next target resets them.
                let answer = match answer {
                    Ok(a) if a.error().is_none() => {
                        warnings::read_after(&mut h.conn).await.map(|()| a)
                    }
                    other => other,
                };
                match answer.map(|a| (a.error(), a)) {
                    Ok((None, answer)) => sources.push(ShardSource::Read(answer)),
                    // Killed or refused: the other targets need not run.
                    Ok((Some(e), _)) | Err(e) => {
                        return scatter::report_failure(e, client, seq).await
                    }
                }
            }
            let protocol = encoding.protocol();
            scatter::merge_sources(
                &mut sources,
                protocol,
                client,
                caps,
                seq,
                merge,
                budget,
                status,
            )
            .await
        };
        let outcome = watched.run(statement, gone).await;
        let conns = self.held.iter_mut().filter(|h| in_plan(h.node));
        watched.finish(conns.map(|h| &mut *h.conn), &outcome);
        self.take_pinned_warnings(plan);
        self.finish_scatter(c, outcome);
    }

    /// The warnings every target of `plan` left on the session's
    /// connections, read after each target's answer.
    fn take_pinned_warnings(&mut self, plan: &ShardPlan) {
        let limit = self.max_error_count();
        let conns = self
            .held
            .iter_mut()
            .filter(|h| plan.targets.iter().any(|t| t.node == h.node));
        self.statement_warnings = warnings::take_from(conns.map(|h| &mut *h.conn), limit);
    }

    /// Relays each target's answer on the session's connection of its
    /// node, one after the other, as one result; cancellable like every
    /// scatter.
    pub(super) async fn run_sequential_read(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        if let Err(e) = self.hold_target_nodes(plan, c).await {
            self.write_error_seq(&e, seq).await;
            return;
        }
        let handle = self.handle.clone();
        let in_plan = |node: usize| plan.targets.iter().any(|t| t.node == node);
        let running = running_on(
            self.held
                .iter()
                .filter(|h| in_plan(h.node))
                .map(|h| &h.conn),
        );
        let watched = Watched::new(&handle, running);
        let gone = client_gone(self.client.get_ref());
        let (caps, status) = (self.caps, self.status);
        let (held, client) = (&mut self.held, &mut self.client);
        let statement = async {
            let mut sequence = Sequence::new(client, caps, seq, status);
            let mut failure = None;
            for t in &plan.targets {
                let Some(h) = held.iter_mut().find(|h| h.node == t.node) else {
                    failure = Some(ProxyError::Internal(format!(
                        "no connection held for node #{}",
                        t.node
                    )));
                    break;
                };
                let sent = Command::for_target(&encoding, t).send_on(&mut h.conn).await;
                let relayed = match sent {
                    Ok(()) => sequence.relay(&mut h.conn).await,
                    Err(e) => Err(e),
                };
                // Its warnings, before the next target resets them.
                if let Err(e) = match relayed {
                    Ok(()) => warnings::read_after(&mut h.conn).await,
                    Err(e) => Err(e),
                } {
                    failure = Some(e);
                    break;
                }
            }
            sequence.finish(failure).await
        };
        let mut outcome = watched.run(statement, gone).await;
        let conns = self.held.iter_mut().filter(|h| in_plan(h.node));
        watched.finish(conns.map(|h| &mut *h.conn), &outcome);
        // The session is in a transaction while any of its connections is
        // (the last target's server may be one that joined without it).
        let in_trans = mysql_common::constants::StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        if self
            .held
            .iter()
            .any(|h| !h.conn.broken && h.conn.in_transaction())
        {
            outcome.status |= in_trans;
        }
        self.take_pinned_warnings(plan);
        self.finish_scatter(c, outcome);
    }
}

/// The session's held connections for `plan`'s targets (one target per
/// node), in target order.
fn held_in_target_order<'a, 'p>(
    held: &'a mut [Held],
    plan: &'p ShardPlan,
) -> (Vec<&'a mut BackendConn>, Vec<&'p ShardTarget>) {
    let mut slots: Vec<Option<&'a mut Held>> = held.iter_mut().map(Some).collect();
    let mut refs = Vec::with_capacity(plan.targets.len());
    let mut targets = Vec::with_capacity(plan.targets.len());
    for t in &plan.targets {
        let found = slots
            .iter_mut()
            .find(|h| h.as_ref().is_some_and(|h| h.node == t.node))
            .and_then(Option::take);
        if let Some(h) = found {
            refs.push(&mut *h.conn);
            targets.push(t);
        }
    }
    (refs, targets)
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
