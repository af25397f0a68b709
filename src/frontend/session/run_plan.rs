//! Running a [`ShardPlan`] for the session: the one executor for text
//! statements and binary executes, on pooled or held connections.
//!
//! - one target: [`Session::execute`] (read/write split, pins, retries,
//!   the answer relayed untouched);
//! - a write on several targets: every target's primary, all or nothing
//!   outside a transaction (`execute::write`);
//! - a read on several targets: every target at once, the answers merged
//!   as they stream (`execute::scatter`), cancellable by `KILL` and by the
//!   client's departure (`execute::cancel`); in a session pinned to one
//!   connection per node, targets sharing a node are read one after the
//!   other (`pinned_reads`).
//!
//! The protocol shows only in the [`Encoding`] handed to each target's
//! [`Command`]; the connections only in the [`Binding`].
//!
//! Owns: choosing among those paths and putting a plan's connections,
//! commands and merge together. Must not plan (that is `router::shard`),
//! merge rows (that is `execute::scatter`) or choose servers (that is
//! `connections`).

use mysql_common::constants::StatusFlags;

use super::connections::Binding;
use super::shared_scatter::merge_shared;
use super::{Held, Ran, Session};
use crate::backend::{BackendConn, Role};
use crate::error::{ProxyError, Result};
use crate::execute::cancel::{client_gone, running_on, Watched};
use crate::execute::scatter::{self, add_ok, ShardSource};
use crate::execute::write::{run_on_all, write_all_or_nothing, write_assigned};
use crate::execute::{warnings, xa};
use crate::execute::{ClientStream, Command, Encoding, Outcome, Shape};
use crate::frontend::SessionHandle;
use crate::router;
use crate::router::shard::{LogicalNames, MergeSpec, PlanKind, ShardPlan, ShardTarget};
use crate::sql::Classified;
use crate::wire::ok_sum::{self, WriteKind};
use crate::wire::packets::{ErrPacket, OkPacket};

/// What a shard's missing info text means for this plan's writes.
fn write_kind(plan: &ShardPlan) -> WriteKind {
    plan.targets
        .first()
        .map_or(WriteKind::Other, |t| WriteKind::of_sql(&t.sql))
}

/// Where a merged answer goes.
pub(super) struct Reply<'a> {
    pub client: &'a mut ClientStream,
    pub caps: mysql_common::constants::CapabilityFlags,
    pub status: u16,
    pub seq: &'a mut u8,
}

impl Session {
    /// Runs `plan` for the client and records what it did.
    pub(super) async fn run_plan(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        self.observe_plan(plan);
        // A read of composite period tables that do not exist: no rows
        // from them (`period_reads`).
        let emptied;
        let plan = match self.with_missing_periods_empty(plan, c).await {
            Some(p) => {
                emptied = p;
                &emptied
            }
            None => plan,
        };
        let missing = self.missing_period_message(plan);
        let named;
        let plan = match self.named_for_merge(plan, missing.as_deref()) {
            Some(p) => {
                named = p;
                &named
            }
            None => plan,
        };
        let limited;
        let plan = match self.with_select_limit(plan) {
            Some(p) => {
                limited = p;
                &limited
            }
            None => plan,
        };
        self.missing_table = missing.map(|m| ErrPacket::new(1146, "42S02", &m));
        self.statement_warnings = Default::default();
        if let PlanKind::KeyMove(m) = &plan.kind {
            // Rows may leave a table: the move. Otherwise a plain UPDATE.
            if !m.sources.is_empty() {
                self.run_key_move(plan, m, c, encoding, seq).await;
                self.missing_table = None;
                self.forget_tables_if_failed(plan);
                return;
            }
        }
        let single = matches!(
            plan.kind,
            PlanKind::Unsharded { .. } | PlanKind::Single | PlanKind::BroadcastRead { .. }
        ) || plan.targets.len() == 1;
        if single {
            self.run_single_target(plan, c, encoding, seq).await
        } else if !plan.returns_rows() {
            self.run_scatter_write(plan, c, encoding, seq).await
        } else if self.run_node_unions(plan, c, &encoding, seq).await {
            // One statement per node (`pinned_reads`).
        } else if self.sequential_read_applies(plan) {
            self.run_sequential_read(plan, c, encoding, seq).await
        } else if self.buffered_merge_applies(plan) {
            self.run_buffered_merge(plan, c, encoding, seq).await
        } else {
            self.run_scatter_read(plan, c, encoding, seq).await
        }
        self.missing_table = None;
        self.forget_tables_if_failed(plan);
    }

    /// After a failed statement: the period tables it touched are looked
    /// up again before the next read (`period_reads`).
    fn forget_tables_if_failed(&self, plan: &ShardPlan) {
        if self.stat.error.is_some() {
            self.proxy.config.load().sharding.forget_present(plan);
        }
    }

    /// The message of the 1146 to send if a target's `time_range` period
    /// table is missing: names the logical table and the period.
    fn missing_period_message(&self, plan: &ShardPlan) -> Option<String> {
        let config = self.proxy.config.load();
        plan.targets
            .iter()
            .find_map(|t| config.sharding.missing_period_message(&t.tables))
    }

    /// A merged read: the plan with the logical names of its physical
    /// tables (for column definitions) and the missing-period message (a
    /// shard's 1146 becomes it), if either applies.
    fn named_for_merge(&self, plan: &ShardPlan, missing: Option<&str>) -> Option<ShardPlan> {
        let mut named = self.with_logical_tables(plan);
        if let (Some(message), Some(_)) = (missing, &plan.merge) {
            let p = named.get_or_insert_with(|| plan.clone());
            if let Some(m) = p.merge.as_mut() {
                std::sync::Arc::make_mut(m).missing_table_message = Some(message.to_owned());
            }
        }
        named
    }

    /// A merged read whose shards' column definitions name physical
    /// tables: the plan with the logical names for them.
    /// (The router names the tables of the scatters it plans itself,
    /// once per kept plan: those need no copy here.)
    pub(super) fn with_logical_tables(&self, plan: &ShardPlan) -> Option<ShardPlan> {
        if !plan.merge.as_ref()?.logical_tables.is_empty() {
            return None;
        }
        let names = self.logical_names(plan)?;
        if names.is_empty() {
            return None;
        }
        let mut named = plan.clone();
        if let Some(m) = named.merge.as_mut() {
            std::sync::Arc::make_mut(m).logical_tables = names.to_vec();
        }
        Some(named)
    }

    /// `(physical, logical)` names of the sharded tables `plan` touches
    /// (`None`: no sharding router).
    pub(super) fn logical_names(&self, plan: &ShardPlan) -> Option<LogicalNames> {
        let names = |router: &crate::router::shard::ShardRouter| match plan.targets.as_slice() {
            // One target (a point plan's, kept): its names found once.
            [t] => t
                .tables
                .logical_names(router, || router.logical_names(t.tables.iter())),
            targets => router.logical_names(targets.iter().flat_map(|t| t.tables.iter())),
        };
        match &self.tx_router {
            Some(router) => Some(names(router)),
            None => self.proxy.shard_router.load().as_deref().map(names),
        }
    }

    /// One target: the ordinary path (read/write split, pins, retries).
    async fn run_single_target(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        let Some(t) = plan.targets.first() else {
            self.write_error_seq(&ProxyError::Internal("empty shard plan".into()), seq)
                .await;
            return;
        };
        let command = Command::for_target(&encoding, t);
        let route = router::route(c, &self.view(t.node));
        self.override_last_insert_id = plan.generated_id;
        if matches!(plan.kind, PlanKind::Single) {
            self.column_tables = self.logical_names(plan);
        }
        let ran = self.execute(route, c, &command, Shape::Results, seq).await;
        self.override_last_insert_id = None;
        self.column_tables = None;
        if let Some(mut ran) = ran {
            if let Some(id) = plan.generated_id {
                ran.outcome.last_insert_id = id;
            }
            let kept = self.keep_single_warnings(plan, t.node, &ran.outcome).await;
            self.after_statement(c, &ran);
            if let Some((list, row_count)) = kept {
                self.shard_warnings = Some(list);
                self.shard_row_count = Some(row_count);
            }
        }
    }

    /// The warnings of a statement on one shard of a sharded table, read
    /// from its connection at once: the proxy's diagnostics area then holds
    /// them, as for several shards, so that statements between it and a
    /// `SHOW WARNINGS` keep or reset them as one server would wherever
    /// they run (the next statement may use another node's connection).
    /// With the statement's `ROW_COUNT()`.
    async fn keep_single_warnings(
        &mut self,
        plan: &ShardPlan,
        node: usize,
        outcome: &Outcome,
    ) -> Option<(crate::wire::warnings::WarningList, i64)> {
        if matches!(plan.kind, PlanKind::Unsharded { .. })
            || outcome.warnings == 0
            || outcome.error.is_some()
            || outcome.failure.is_some()
        {
            return None;
        }
        let limit = self.max_error_count();
        let h = self.held.iter_mut().find(|h| h.node == node)?;
        h.conn.last_warnings = outcome.warnings;
        warnings::read_after(&mut h.conn).await.ok()?;
        let mut list = std::mem::take(&mut h.conn.warnings_read).in_row_order(limit);
        self.statement_warnings = std::mem::take(&mut list);
        self.logical_names_in_warnings(plan);
        let list = std::mem::take(&mut self.statement_warnings);
        let row_count = match outcome.result_sets {
            0 => i64::try_from(outcome.affected_rows).unwrap_or(i64::MAX),
            _ => -1,
        };
        Some((list, row_count))
    }

    /// Several targets reading at once, merged.
    async fn run_scatter_read(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        // A locking read takes its locks on the primaries.
        let role = match plan.write {
            true => Role::Primary,
            false => router::route(c, &self.view(plan.targets[0].node)).role,
        };
        let binding = match self.bind_targets(plan, role, c).await {
            Ok(b) => b,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let no_merge = MergeSpec::default();
        let merge = plan.merge.as_deref().unwrap_or(&no_merge);
        let budget = self.merge_budget();
        let limit = self.max_error_count();
        let handle = self.handle.clone();
        let reply = Reply {
            client: &mut self.client,
            caps: self.caps,
            status: self.status,
            seq,
        };
        let outcome = match binding {
            Binding::Pooled { mut conns, assign } => {
                let running = running_on(conns.iter());
                let targets: Vec<&ShardTarget> = plan.targets.iter().collect();
                let mut refs: Vec<&mut BackendConn> = conns.iter_mut().map(|c| &mut **c).collect();
                let outcome = if refs.len() == targets.len() {
                    merge_targets(
                        reply, &handle, &mut refs, running, &targets, &encoding, merge, budget,
                    )
                    .await
                } else {
                    merge_shared(
                        reply, &handle, &mut refs, &assign, running, &targets, &encoding, merge,
                        budget,
                    )
                    .await
                };
                self.statement_warnings =
                    warnings::take_from(conns.iter_mut().map(|c| &mut **c), limit);
                for conn in conns {
                    if !conn.broken {
                        conn.release();
                    }
                }
                outcome
            }
            Binding::Held => {
                let running = running_on(
                    self.held
                        .iter()
                        .filter(|h| plan.targets.iter().any(|t| t.node == h.node))
                        .map(|h| &h.conn),
                );
                let (mut refs, targets) = held_for_targets(&mut self.held, plan);
                let outcome = merge_targets(
                    reply, &handle, &mut refs, running, &targets, &encoding, merge, budget,
                )
                .await;
                self.statement_warnings =
                    warnings::take_from(refs.iter_mut().map(|c| &mut **c), limit);
                outcome
            }
        };
        self.finish_scatter(c, outcome);
    }

    /// Several targets writing (split INSERT rows, unkeyed UPDATE/DELETE,
    /// broadcast copies, DDL): all or nothing outside a transaction.
    pub(super) async fn run_scatter_write(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        let binding = match self.bind_targets(plan, Role::Primary, c).await {
            Ok(b) => b,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let commands: Vec<Command<'_>> = plan
            .targets
            .iter()
            .map(|t| Command::for_target(&encoding, t))
            .collect();
        let result = match binding {
            Binding::Pooled { mut conns, assign } => {
                // Outside a transaction the targets commit together or not
                // at all (DDL commits implicitly and cannot be wrapped).
                let wrap = !matches!(plan.kind, PlanKind::Ddl);
                let gtrid = self.autocommit_gtrid(plan, wrap);
                let service = plan
                    .targets
                    .first()
                    .and_then(|t| self.decision_pool(t.node));
                let result = {
                    let mut refs: Vec<&mut BackendConn> =
                        conns.iter_mut().map(|c| &mut **c).collect();
                    Self::forget_write_gtids(&mut refs);
                    if refs.len() == plan.targets.len() {
                        for (conn, t) in refs.iter_mut().zip(&plan.targets) {
                            conn.warning_rows = t.rows.clone();
                        }
                    }
                    let kind = write_kind(plan);
                    match gtrid {
                        Some(g) if refs.len() == commands.len() => {
                            let decider = super::xa_tx::decider(&service);
                            xa::write_all_or_nothing(&mut refs, &commands, kind, &g, decider).await
                        }
                        _ if refs.len() == commands.len() => {
                            write_all_or_nothing(&mut refs, &commands, kind, wrap).await
                        }
                        _ => {
                            let command = |t: usize| {
                                let target = &plan.targets[t];
                                (Command::for_target(&encoding, target), target.rows.clone())
                            };
                            write_assigned(&mut refs, &assign, command, kind, wrap).await
                        }
                    }
                };
                self.record_write_gtids(&mut conns);
                let limit = self.max_error_count();
                self.statement_warnings =
                    warnings::take_from(conns.iter_mut().map(|c| &mut **c), limit);
                for conn in conns {
                    if !conn.broken {
                        conn.release();
                    }
                }
                result
            }
            Binding::Held => self.write_on_held(plan, &commands).await,
        };
        self.answer_scatter_write(plan, c, result, seq).await;
    }

    /// Inside the session's transaction: targets sharing a node run one
    /// after the other on its connection; the first error stops.
    async fn write_on_held(
        &mut self,
        plan: &ShardPlan,
        commands: &[Command<'_>],
    ) -> Result<OkPacket> {
        let mut total = OkPacket::default();
        for (t, command) in plan.targets.iter().zip(commands) {
            let Some(h) = self.held.iter_mut().find(|h| h.node == t.node) else {
                return Err(ProxyError::Internal(format!(
                    "no connection held for node #{}",
                    t.node
                )));
            };
            let kind = WriteKind::of_sql(&t.sql);
            h.conn.warning_rows = t.rows.clone();
            let ok = run_on_all(&mut [&mut *h.conn], std::slice::from_ref(command), kind).await;
            let limit = warnings::max_error_count(self.state.var("max_error_count"));
            let read = std::mem::take(&mut h.conn.warnings_read);
            self.statement_warnings.extend(read, limit);
            add_ok(&mut total, ok?);
        }
        Ok(total)
    }

    /// Answers a write that ran on several targets: one OK as one server
    /// would send it, or the first error.
    pub(super) async fn answer_scatter_write(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        result: Result<OkPacket>,
        seq: &mut u8,
    ) {
        self.answer_write(plan, c, result, seq, false).await
    }

    /// [`answer_scatter_write`](Self::answer_scatter_write); with
    /// `one_statement` the OK is the sum of the parts of one INSERT … SELECT
    /// (its `Records: 1` stays: one server sends it for any row count).
    pub(super) async fn answer_write(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        result: Result<OkPacket>,
        seq: &mut u8,
        one_statement: bool,
    ) {
        self.logical_names_in_warnings(plan);
        let mut ok = match result {
            Ok(ok) => ok,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                let lost = self.held.iter().any(|h| h.conn.broken);
                self.held.retain(|h| !h.conn.broken);
                if lost {
                    self.after_failure();
                }
                self.release_unpinned();
                return;
            }
        };
        // Every copy of a broadcast table changed the same rows: report
        // them once, as one server would.
        if matches!(plan.kind, PlanKind::Broadcast) {
            ok.divide_copies(plan.targets.len() as u64);
        }
        if !one_statement {
            ok.finish_shards();
        }
        if let Some(id) = plan.generated_id {
            ok.last_insert_id = id;
        }
        let in_trans = StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        let status =
            (self.status & !in_trans) | (ok.status & in_trans) | ok_sum::statement_flags(ok.status);
        ok.status = status;
        self.write_ok_packet(seq, &ok).await;
        let outcome = Outcome {
            status,
            warnings: ok.warnings,
            affected_rows: ok.affected_rows,
            last_insert_id: ok.last_insert_id,
            changes: ok.changes,
            sent_anything: true,
            ..Outcome::default()
        };
        self.finish_scatter(c, outcome);
    }

    /// The warnings gathered from `plan`'s targets naming their physical
    /// tables (`` `db`.`t_1`.`n` ``) name the logical table, as one server
    /// holding it would.
    fn logical_names_in_warnings(&mut self, plan: &ShardPlan) {
        if self.statement_warnings.rows.is_empty() {
            return;
        }
        let Some(router) = self
            .tx_router
            .clone()
            .or_else(|| self.proxy.shard_router.load_full())
        else {
            return;
        };
        let mut names: Vec<(String, String)> = plan
            .targets
            .iter()
            .flat_map(|t| t.tables.iter())
            .filter_map(|p| Some((p.clone(), router.logical_name_of(p)?)))
            .filter(|(p, l)| p != l)
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            return;
        }
        self.statement_warnings.map_messages(|m| {
            let mut shown = m.to_owned();
            for (physical, logical) in &names {
                if shown.contains(physical.as_str()) {
                    shown = crate::router::shard::meta::logical_message(&shown, physical, logical);
                }
            }
            (shown != m).then_some(shown)
        });
    }

    /// Bookkeeping after a statement on several targets: a held connection
    /// that broke took the session's transaction (and unreplayable state)
    /// with it.
    pub(super) fn finish_scatter(&mut self, c: &Classified, outcome: Outcome) {
        let lost = self.held.iter().any(|h| h.conn.broken);
        self.held.retain(|h| !h.conn.broken);
        if lost {
            self.after_failure();
        }
        if let Some(e) = &outcome.failure {
            self.note_error(e);
        }
        let node = self.node_for_session();
        let failed = outcome.error.is_some() || outcome.failure.is_some();
        // ROW_COUNT(): -1 after a result set, else the rows changed.
        let row_count = match outcome.result_sets {
            0 => i64::try_from(outcome.affected_rows).unwrap_or(i64::MAX),
            _ => -1,
        };
        let ran = Ran { outcome, node };
        self.after_statement(c, &ran);
        // In the client's row order where the rows are known (split
        // INSERT, LOAD DATA), bounded by max_error_count.
        let limit = self.max_error_count();
        let gathered = std::mem::take(&mut self.statement_warnings).in_row_order(limit);
        if !failed {
            self.shard_row_count = Some(row_count);
            if gathered.count > 0 {
                self.shard_warnings = Some(gathered);
            }
        }
    }

    /// Records the plan in the statement's observations and the metrics:
    /// its kind, targets, and the logical tables it touched.
    fn observe_plan(&mut self, plan: &ShardPlan) {
        let path = match plan.kind {
            PlanKind::Ddl => "ddl",
            PlanKind::Broadcast => "broadcast_write",
            _ if plan.targets.len() <= 1 => "single_shard",
            _ if plan.returns_rows() => "multi_shard_read",
            _ => "multi_shard_write",
        };
        self.stat.path = path;
        self.stat.targets = plan.targets.len();
        let metrics = &self.proxy.metrics;
        metrics.shards_touched.observe(plan.targets.len() as f64);
        let router = self.proxy.shard_router.load();
        let Some(router) = router.as_deref() else {
            return;
        };
        let mut physical = plan
            .targets
            .iter()
            .flat_map(|t| t.tables.iter().map(String::as_str));
        self.user_metrics
            .tables
            .count(router, metrics, &mut physical, path);
    }

    /// What one merge may hold.
    pub(super) fn merge_budget(&self) -> crate::execute::merge::Budget {
        crate::execute::merge::Budget {
            max_groups: self.proxy.config.load().routing.merge_max_groups,
        }
    }
}

/// Sends each target its command and streams the merged answers to the
/// client, cancellable by `KILL` and by the client's departure.
#[allow(clippy::too_many_arguments)]
pub(super) async fn merge_targets(
    reply: Reply<'_>,
    handle: &SessionHandle,
    conns: &mut [&mut BackendConn],
    running: Vec<(std::sync::Arc<crate::backend::ServerPool>, u32)>,
    targets: &[&ShardTarget],
    encoding: &Encoding<'_>,
    merge: &MergeSpec,
    budget: crate::execute::merge::Budget,
) -> Outcome {
    let merged = merge_targets_if(
        reply, handle, conns, running, targets, encoding, merge, budget, None,
    )
    .await;
    merged.unwrap_or_default()
}

/// [`merge_targets`], the merge going on only if `accept` takes the first
/// target's column definitions (see [`scatter::merge_sources_if`]): `None`
/// when it declined (nothing sent to the client; the answers are left
/// unread, settled by the connections' next command).
#[allow(clippy::too_many_arguments)]
pub(super) async fn merge_targets_if(
    reply: Reply<'_>,
    handle: &SessionHandle,
    conns: &mut [&mut BackendConn],
    running: Vec<(std::sync::Arc<crate::backend::ServerPool>, u32)>,
    targets: &[&ShardTarget],
    encoding: &Encoding<'_>,
    merge: &MergeSpec,
    budget: crate::execute::merge::Budget,
    accept: Option<scatter::HeaderCheck<'_>>,
) -> Option<Outcome> {
    let mut declined = false;
    let watched = Watched::new(handle, running);
    let gone = client_gone(reply.client.get_ref());
    let Reply {
        client,
        caps,
        status,
        seq,
    } = reply;
    let statement = async {
        for (i, t) in targets.iter().enumerate() {
            if let Err(e) = Command::for_target(encoding, t).send_on(conns[i]).await {
                // Answers already on their way are not wanted.
                for conn in conns[..i].iter_mut() {
                    conn.broken = true;
                }
                return scatter::report_failure(e, client, seq).await;
            }
        }
        let mut sources: Vec<ShardSource<'_>> =
            conns.iter_mut().map(|c| ShardSource::live(c)).collect();
        let merged = scatter::merge_sources_if(
            &mut sources,
            encoding.protocol(),
            client,
            caps,
            seq,
            merge,
            budget,
            status,
            accept,
        )
        .await;
        merged.unwrap_or_else(|| {
            declined = true;
            Outcome::default()
        })
    };
    let outcome = watched.run(statement, gone).await;
    watched.finish(conns.iter_mut().map(|c| &mut **c), &outcome);
    if declined {
        return None;
    }
    if outcome.warnings > 0 && outcome.error.is_none() && !outcome.client_lost {
        // The result is sent: a connection that fails here is only lost.
        let _ = warnings::read_from(conns.iter_mut().map(|c| &mut **c)).await;
    }
    Some(outcome)
}

/// The held connections of the plan's nodes, paired with their targets
/// (one target per node).
fn held_for_targets<'a, 'p>(
    held: &'a mut [Held],
    plan: &'p ShardPlan,
) -> (Vec<&'a mut BackendConn>, Vec<&'p ShardTarget>) {
    let mut refs = Vec::new();
    let mut targets = Vec::new();
    for h in held.iter_mut() {
        if let Some(t) = plan.targets.iter().find(|t| t.node == h.node) {
            targets.push(t);
            refs.push(&mut *h.conn);
        }
    }
    (refs, targets)
}
