//! Binary prepared statements on sharded and broadcast tables.
//!
//! COM_STMT_PREPARE plans the statement without parameter values to find a
//! representative target, prepares that target's SQL on its node and
//! answers with the logical statement's parameter count and the columns
//! the client will see (hidden merge columns dropped, merged AVG shown with
//! AVG's scale). Nothing of that target is kept: every COM_STMT_EXECUTE is
//! planned again with its parameter values, so a key that routes elsewhere
//! is served by the shard that holds it.
//!
//! Every target runs as a binary COM_STMT_EXECUTE of its own physical SQL,
//! prepared lazily on the backend connection (the connection's statement
//! cache), binding the client's parameters the target keeps
//! (`ShardTarget::params`). One target: the binary answer is relayed
//! untouched. Several: writes add their OKs, reads are merged by
//! `execute::scatter` on binary rows converted losslessly to text rows and
//! back (`merge::binary`). Parameters are never inlined into SQL text, so
//! escaping, character sets and float formatting cannot change a value.
//!
//! Owns: the prepared-statement side of running a shard plan. Must not plan
//! (that is `router::shard`) or merge rows (that is `execute::scatter`).

use std::sync::Arc;

use bytes::Bytes;

use super::sharded::{add_ok, merge_plan, TargetConns};
use super::Session;
use crate::backend::{BackendConn, Role};
use crate::error::{ProxyError, Result};
use crate::execute::scatter::{self, Protocol, ShardCommand};
use crate::frontend::prepared::{
    self, BoundParam, ClientStatement, ExecutePackets, ExecuteRequest,
};
use crate::router;
use crate::router::shard::{PlanKind, ShardPlan, ShardRouter, ShardTarget};
use crate::sharding::ParamValue;
use crate::sql::lexer::{Lexer, TokenKind};
use crate::sql::Classified;
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::OkPacket;

/// Stand-ins for unknown parameters when a statement cannot be planned
/// without values (an INSERT's key, `LIMIT ?`): a number and a date-time,
/// which between them convert to every key type.
const PREPARE_PLACEHOLDERS: [&[u8]; 2] = [b"0", b"2026-01-01 00:00:00"];

/// The `?` placeholders of a statement, as the server counts them.
fn placeholder_count(sql: &str) -> usize {
    Lexer::new(sql.as_bytes())
        .filter(|t| t.kind == TokenKind::Placeholder)
        .count()
}

impl Session {
    /// The sharding rules a statement runs under: a transaction finishes
    /// on the rules it started with, even across a reload (as the text
    /// path does).
    fn rules_for_statement(&mut self) -> Option<Arc<ShardRouter>> {
        if self.pins.transaction {
            if self.tx_router.is_none() {
                self.tx_router = self.proxy.shard_router.load_full();
            }
            self.tx_router.clone()
        } else {
            self.tx_router = None;
            self.proxy.shard_router.load_full()
        }
    }

    /// Plans a statement being prepared, without parameter values.
    /// `Ok(None)`: no sharding rule is involved. Statements that need
    /// values to be planned at all are planned with stand-ins; the plan
    /// only serves to find a representative target.
    pub(super) fn plan_for_prepare(
        &self,
        router: &ShardRouter,
        sql: &str,
    ) -> Result<Option<ShardPlan>> {
        let schema = self.state.schema.as_deref();
        let first = match router.plan(sql, schema, &[]) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        let n = placeholder_count(sql);
        if n == 0 {
            return Err(first.into());
        }
        for stand_in in PREPARE_PLACEHOLDERS {
            let params = vec![ParamValue::Bytes(stand_in); n];
            if let Ok(p) = router.plan(sql, schema, &params) {
                return Ok(p);
            }
        }
        Err(first.into())
    }

    /// COM_STMT_PREPARE of a statement on sharded or broadcast tables.
    pub(super) async fn prepare_sharded(
        &mut self,
        sql_text: Arc<str>,
        c: Classified,
        plan: ShardPlan,
        seq: &mut u8,
    ) {
        let Some(target) = plan.targets.first() else {
            self.write_error_seq(&ProxyError::Internal("empty shard plan".into()), seq)
                .await;
            return;
        };
        let node = target.node;
        let target_sql: Arc<str> = Arc::from(target.sql.as_str());
        let route = router::route(&c, &self.view(node));
        // A replica answers as well as the primary, once it has the
        // session's last write there (a table the session just created).
        let acquired = match self.acquire(&route, &c).await {
            Ok(i) => self.ensure_fresh(i, &c).await,
            Err(e) => Err(e),
        };
        let i = match acquired {
            Ok(i) => i,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let defs = match prepared::prepare_metadata(&mut self.held[i].conn, &target_sql).await {
            Ok(Ok(d)) => d,
            Ok(Err(err)) => {
                self.write_error_seq(&ProxyError::Backend(err), seq).await;
                self.release_unpinned();
                return;
            }
            Err(e) => {
                self.drop_held(i);
                self.after_failure();
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        self.release_unpinned();
        // The columns the client will see: a scattered read shows what the
        // merge presents; one target shows its own.
        let columns: Vec<Bytes> = match (&plan.merge, plan.targets.len()) {
            (Some(m), n) if n > 1 => {
                match scatter::merged_column_defs(defs.column_defs, &merge_plan(m)) {
                    Ok(c) => c,
                    Err(e) => {
                        self.write_error_seq(&e, seq).await;
                        return;
                    }
                }
            }
            _ => defs.column_defs,
        };
        let params = placeholder_count(&sql_text);
        let param_def = defs
            .param_defs
            .first()
            .map(|d| d.to_vec())
            .unwrap_or_else(prepared::placeholder_param_def);
        let param_defs = vec![param_def; params];
        let (Ok(params16), Ok(columns16)) = (u16::try_from(params), u16::try_from(columns.len()))
        else {
            let e = ProxyError::Unsupported(
                "a prepared statement with more than 65535 parameters or columns".into(),
            );
            self.write_error_seq(&e, seq).await;
            return;
        };
        let id = self.next_statement_id;
        if prepared::send_prepare_ok(
            &mut self.client,
            self.caps,
            seq,
            id,
            &param_defs,
            &columns,
            self.status,
        )
        .await
        .is_err()
        {
            return;
        }
        self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
        let mut stmt = ClientStatement::new(sql_text, c, params16, columns16);
        stmt.sharded = true;
        self.statements.insert(id, stmt);
    }

    /// COM_STMT_EXECUTE of a statement prepared by
    /// [`Session::prepare_sharded`]: planned with the parameter values.
    pub(super) async fn execute_sharded(
        &mut self,
        id: u32,
        c: &Classified,
        sql_text: &Arc<str>,
        request: &ExecuteRequest,
        long_data: &[(u16, Vec<u8>)],
        seq: &mut u8,
    ) {
        let bound = match request.bound_params(long_data) {
            Ok(b) => b,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let values = request.param_values(&bound, long_data);
        let planned = match self.rules_for_statement() {
            Some(router) => router.plan(sql_text, self.state.schema.as_deref(), &values),
            None => Ok(None),
        };
        let plan = match planned {
            Ok(Some(p)) => p,
            // The rules changed since PREPARE and no longer name these
            // tables: the statement runs where its database lives.
            Ok(None) => ShardPlan {
                targets: vec![ShardTarget {
                    node: self.node_for_session(),
                    sql: sql_text.to_string(),
                    tables: Vec::new(),
                    params: (0..bound.len()).collect(),
                }],
                kind: PlanKind::Single,
                merge: None,
                generated_id: None,
                write: false,
            },
            Err(e) => {
                self.write_error_seq(&ProxyError::from(e), seq).await;
                return;
            }
        };
        let run = Binding {
            request,
            bound: &bound,
            long_data,
        };
        let single = matches!(
            plan.kind,
            PlanKind::Unsharded { .. } | PlanKind::Single | PlanKind::BroadcastRead { .. }
        ) || plan.targets.len() == 1;
        if single {
            self.execute_one_target(id, c, &plan, &run, seq).await;
        } else if plan.write {
            self.execute_scatter_write(c, &plan, &run, seq).await;
        } else {
            self.execute_scatter_read(c, &plan, &run, seq).await;
        }
    }

    /// One target: the ordinary prepared path (read/write split, pins,
    /// retries on another server, binary result relayed untouched).
    async fn execute_one_target(
        &mut self,
        id: u32,
        c: &Classified,
        plan: &ShardPlan,
        run: &Binding<'_>,
        seq: &mut u8,
    ) {
        let Some(t) = plan.targets.first() else {
            self.write_error_seq(&ProxyError::Internal("empty shard plan".into()), seq)
                .await;
            return;
        };
        let sql: Arc<str> = Arc::from(t.sql.as_str());
        let packets = ExecutePackets::Target {
            request: run.request,
            bound: run.bound,
            map: &t.params,
            long_data: run.long_data,
        };
        let route = router::route(c, &self.view(t.node));
        self.override_last_insert_id = plan.generated_id;
        let ran = self.run_prepared(route, c, &sql, id, &packets, seq).await;
        self.override_last_insert_id = None;
        if let Some(mut ran) = ran {
            if let Some(generated) = plan.generated_id {
                ran.outcome.last_insert_id = generated;
            }
            self.after_statement(c, &ran);
        }
    }

    /// [`execute_scatter_read`](Self::execute_scatter_read) in a pinned
    /// session whose targets share nodes: each target's binary answer is
    /// read in full on the session's connection of its node, one after the
    /// other, then merged (see `concat.rs` for the text form).
    async fn execute_buffered_read(
        &mut self,
        c: &Classified,
        plan: &ShardPlan,
        run: &Binding<'_>,
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
            let answer = {
                let mut refs = [&mut *self.held[h].conn];
                match prepare_targets(&mut refs, std::slice::from_ref(t), run).await {
                    Ok(commands) => match commands.first() {
                        Some(command) => {
                            scatter::read_answer(refs[0], command, MAX_BUFFERED_BYTES).await
                        }
                        None => Err(ProxyError::Internal("no command for a shard target".into())),
                    },
                    Err(e) => Err(e),
                }
            };
            match answer {
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
        let merge = plan.merge.as_ref().map(merge_plan).unwrap_or_default();
        let budget = scatter::Budget {
            max_groups: self.proxy.config.load().routing.merge_max_groups,
        };
        let outcome = scatter::scatter_select_sources(
            &mut sources,
            Protocol::Binary,
            &mut self.client,
            self.caps,
            seq,
            &merge,
            budget,
            self.status,
        )
        .await;
        self.finish_scatter(c, outcome);
    }

    /// Several targets reading: binary executes merged.
    async fn execute_scatter_read(
        &mut self,
        c: &Classified,
        plan: &ShardPlan,
        run: &Binding<'_>,
        seq: &mut u8,
    ) {
        // A pinned session (transaction, table locks) with several physical
        // tables on one node: one target after the other on its connection.
        if self.sequential_read_applies(plan) || self.buffered_merge_applies(plan) {
            self.execute_buffered_read(c, plan, run, seq).await;
            return;
        }
        let role = router::route(c, &self.view(plan.targets[0].node)).role;
        let conns = match self.target_connections(plan, role, c).await {
            Ok(x) => x,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let merge = plan.merge.as_ref().map(merge_plan).unwrap_or_default();
        let budget = scatter::Budget {
            max_groups: self.proxy.config.load().routing.merge_max_groups,
        };
        let status = self.status;
        let caps = self.caps;
        let outcome = match conns {
            TargetConns::Pooled(mut conns) => {
                let prepared = {
                    let mut refs: Vec<&mut BackendConn> =
                        conns.iter_mut().map(|c| &mut **c).collect();
                    prepare_targets(&mut refs, &plan.targets, run).await
                };
                let outcome = match prepared {
                    Ok(commands) => {
                        // Cancellable as the text path's scatter (KILL,
                        // client gone).
                        let handle = self.handle.clone();
                        let gone = super::sharded::client_gone(self.client.get_ref());
                        let running = super::sharded::running_on(conns.iter());
                        let mut refs: Vec<&mut BackendConn> =
                            conns.iter_mut().map(|c| &mut **c).collect();
                        *handle.backends.lock() = running.clone();
                        let merged = scatter::scatter_select_commands(
                            &mut refs,
                            &commands,
                            Protocol::Binary,
                            &mut self.client,
                            caps,
                            seq,
                            &merge,
                            budget,
                            status,
                        );
                        let outcome = super::sharded::until_killed(merged, &handle, gone).await;
                        handle.backends.lock().clear();
                        super::sharded::cancel_unfinished(&mut refs, &running, &outcome);
                        Ok(outcome)
                    }
                    Err(e) => Err(e),
                };
                for conn in conns {
                    if !conn.broken {
                        conn.release();
                    }
                }
                outcome
            }
            TargetConns::Held => {
                let (mut refs, targets) = held_for_targets(&mut self.held, plan);
                match prepare_targets(&mut refs, &targets, run).await {
                    Ok(commands) => Ok(scatter::scatter_select_commands(
                        &mut refs,
                        &commands,
                        Protocol::Binary,
                        &mut self.client,
                        caps,
                        seq,
                        &merge,
                        budget,
                        status,
                    )
                    .await),
                    Err(e) => Err(e),
                }
            }
        };
        match outcome {
            Ok(outcome) => self.finish_scatter(c, outcome),
            Err(e) => {
                self.held.retain(|h| !h.conn.broken);
                self.write_error_seq(&e, seq).await;
                self.release_unpinned();
            }
        }
    }

    /// Several targets writing (split INSERT rows, unkeyed UPDATE/DELETE,
    /// broadcast copies): all or nothing outside a transaction, as the text
    /// path.
    async fn execute_scatter_write(
        &mut self,
        c: &Classified,
        plan: &ShardPlan,
        run: &Binding<'_>,
        seq: &mut u8,
    ) {
        let conns = match self.target_connections(plan, Role::Primary, c).await {
            Ok(x) => x,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let result = match conns {
            TargetConns::Pooled(mut conns) => {
                let wrap = !matches!(plan.kind, PlanKind::Ddl);
                let result = {
                    let mut refs: Vec<&mut BackendConn> =
                        conns.iter_mut().map(|c| &mut **c).collect();
                    Self::forget_write_gtids(&mut refs);
                    write_all_or_nothing(&mut refs, &plan.targets, run, wrap).await
                };
                self.record_write_gtids(plan, &mut conns);
                for conn in conns {
                    if !conn.broken {
                        conn.release();
                    }
                }
                result
            }
            TargetConns::Held => {
                // Inside the session's transaction: targets sharing a node
                // run one after the other on its connection.
                let mut total = OkPacket::default();
                let mut failure = None;
                for t in &plan.targets {
                    let Some(h) = self.held.iter_mut().find(|h| h.node == t.node) else {
                        continue;
                    };
                    let mut refs = [&mut *h.conn];
                    let ran = match prepare_targets(&mut refs, std::slice::from_ref(t), run).await {
                        Ok(commands) => {
                            let kind = WriteKind::of_sql(&t.sql);
                            scatter::scatter_write_commands(&mut refs, &commands, kind).await
                        }
                        Err(e) => Err(e),
                    };
                    match ran {
                        Ok(ok) => add_ok(&mut total, ok),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                match failure {
                    Some(e) => Err(e),
                    None => Ok(total),
                }
            }
        };
        self.answer_scatter_write(plan, c, result, seq).await;
    }
}

/// One execute's parameters, ready to bind into any target.
struct Binding<'a> {
    request: &'a ExecuteRequest,
    bound: &'a [BoundParam],
    long_data: &'a [(u16, Vec<u8>)],
}

/// Prepares each target's SQL on its connection (unless cached there) and
/// builds its execute. A shard refusing to prepare is that shard's error.
async fn prepare_targets(
    conns: &mut [&mut BackendConn],
    targets: &[ShardTarget],
    run: &Binding<'_>,
) -> Result<Vec<ShardCommand>> {
    let mut commands = Vec::with_capacity(targets.len());
    for (conn, t) in conns.iter_mut().zip(targets) {
        let sql: Arc<str> = Arc::from(t.sql.as_str());
        let backend_id = match prepared::ensure_prepared(conn, &sql).await {
            Ok(Ok(id)) => id,
            Ok(Err(err)) => return Err(ProxyError::Backend(err)),
            Err(e) => {
                conn.broken = true;
                return Err(e);
            }
        };
        let packets = ExecutePackets::Target {
            request: run.request,
            bound: run.bound,
            map: &t.params,
            long_data: run.long_data,
        };
        commands.push(packets.build(backend_id)?);
    }
    Ok(commands)
}

/// The held connections of the plan's nodes, paired with their targets
/// (inside a transaction there is one target per node).
fn held_for_targets<'a>(
    held: &'a mut [super::Held],
    plan: &ShardPlan,
) -> (Vec<&'a mut BackendConn>, Vec<ShardTarget>) {
    let mut refs = Vec::new();
    let mut targets = Vec::new();
    for h in held.iter_mut() {
        if let Some(t) = plan.targets.iter().find(|t| t.node == h.node) {
            targets.push(t.clone());
            refs.push(&mut *h.conn);
        }
    }
    (refs, targets)
}

/// Runs a prepared write on every target; with `wrap`, inside a
/// transaction per target that commits only when every target succeeded.
async fn write_all_or_nothing(
    conns: &mut [&mut BackendConn],
    targets: &[ShardTarget],
    run: &Binding<'_>,
    wrap: bool,
) -> Result<OkPacket> {
    if wrap {
        for conn in conns.iter_mut() {
            conn.query_drop("START TRANSACTION").await?;
        }
    }
    let result = match prepare_targets(conns, targets, run).await {
        Ok(commands) => {
            let kind = targets
                .first()
                .map_or(WriteKind::Other, |t| WriteKind::of_sql(&t.sql));
            scatter::scatter_write_commands(conns, &commands, kind).await
        }
        Err(e) => Err(e),
    };
    if wrap {
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        for conn in conns.iter_mut() {
            if conn.broken {
                continue;
            }
            if let Err(e) = conn.query_drop(end).await {
                conn.broken = true;
                if result.is_ok() {
                    return Err(e);
                }
            }
        }
    }
    result.map(|mut ok| {
        ok.status &= !mysql_common::constants::StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::placeholder_count;

    #[test]
    fn placeholders_outside_literals_and_comments() {
        assert_eq!(
            placeholder_count("SELECT ? FROM t WHERE a = ? AND b IN (?, ?)"),
            4
        );
        assert_eq!(
            placeholder_count("SELECT '?', `?`, \"?\" /* ? */ FROM t -- ?\n WHERE a = ?"),
            1
        );
        assert_eq!(placeholder_count("SELECT 1"), 0);
    }
}
