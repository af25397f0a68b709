//! Statements on sharded and broadcast tables: running a
//! [`ShardPlan`](crate::router::shard::ShardPlan) for the session.
//!
//! A single-target plan runs like any statement (pass-through, session
//! state, pins). A scattered read merges the shards' answers; a scattered
//! write runs on every target's primary, inside a transaction per target
//! when the session has none, so that it is all-or-error.
//!
//! Owns: picking connections for the targets of one plan. Must not plan
//! (that is `router::shard`) or merge rows (that is `execute::scatter`).

use std::sync::Arc;

use mysql_common::constants::StatusFlags;

use super::{Held, Ran, Session};
use crate::backend::{PooledConn, Role, ServerPool};
use crate::error::{ProxyError, Result};
use crate::execute::scatter::{self, Aggregate, AggregateKind, GroupPlan, MergePlan, Position};
use crate::execute::{Outcome, Shape};
use crate::router::shard::{ColumnRef, Combine, MergeSpec, PlanKind, ShardPlan};
use crate::router::{self, RoutePlan};
use crate::sql::Classified;
use crate::wire::command;
use crate::wire::ok_sum::{self, WriteKind};
use crate::wire::packets::OkPacket;

impl Session {
    /// Plans `text` against the sharding rules. `false`: no sharded or
    /// broadcast table is involved, the caller routes as usual.
    pub(super) async fn try_sharded(&mut self, text: &str, c: &Classified, seq: &mut u8) -> bool {
        // A transaction finishes on the rules it started with, even if the
        // configuration is reloaded meanwhile.
        let router = if self.pins.transaction {
            if self.tx_router.is_none() {
                self.tx_router = self.proxy.shard_router.load_full();
            }
            self.tx_router.clone()
        } else {
            self.tx_router = None;
            self.proxy.shard_router.load_full()
        };
        let Some(router) = router else {
            return false;
        };
        // INSERT without a column list: the table's columns first (see
        // `metadata`).
        if let Err(e) = self.ensure_insert_columns(&router, text, c).await {
            self.write_error_seq(&e, seq).await;
            return true;
        }
        // Under LOCK TABLES only the locked names (the physical tables) may
        // be used: no logical aliases.
        let unaliased = self.table_locks.held;
        let plan = match router.plan_with(text, self.state.schema.as_deref(), &[], unaliased) {
            Ok(None) => return false,
            Ok(Some(p)) => p,
            Err(e) => {
                self.write_error_seq(&ProxyError::from(e), seq).await;
                return true;
            }
        };
        self.run_shard_plan(plan, c, text, seq).await;
        true
    }

    /// `SHOW [FULL] TABLES` with sharding rules in force: the logical
    /// tables, gathered from every node (physical names mapped back, each
    /// logical table once), as one server holding everything would list
    /// them.
    pub(super) async fn try_show_tables(
        &mut self,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) -> bool {
        let Some(router) = self.proxy.shard_router.load_full() else {
            return false;
        };
        if !matches!(
            c.kind,
            crate::sql::StatementKind::Show(crate::sql::ShowKind::Tables)
        ) {
            return false;
        }
        let full = text.to_ascii_uppercase().contains("FULL");
        let mut names: std::collections::BTreeMap<String, Vec<Option<String>>> = Default::default();
        let mut header_db = self.state.schema.clone().unwrap_or_default();
        for node in 0..self.proxy.cluster.nodes.len() {
            let plan = RoutePlan {
                node,
                role: router::route(c, &self.view(node)).role,
                reason: "SHOW TABLES",
            };
            let i = match self.acquire(&plan, c).await {
                Ok(i) => i,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return true;
                }
            };
            let conn = &mut self.held[i].conn;
            let mut payload = vec![command::QUERY];
            payload.extend_from_slice(text.as_bytes());
            let rows = match conn.send_command(&payload).await {
                Ok(()) => crate::backend::connection::read_small_result(conn).await,
                Err(e) => Err(e),
            };
            match rows {
                Ok(rows) => {
                    for row in rows {
                        let Some(Some(name)) = row.first() else {
                            continue;
                        };
                        let physical = String::from_utf8_lossy(name).into_owned();
                        let logical = router.logical_name_of(&physical).unwrap_or(physical);
                        names.entry(logical).or_insert_with(|| {
                            row.iter()
                                .skip(1)
                                .map(|v| {
                                    v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
                                })
                                .collect()
                        });
                    }
                }
                Err(e) => {
                    self.held.retain(|h| !h.conn.broken);
                    self.write_error_seq(&e, seq).await;
                    self.release_unpinned();
                    return true;
                }
            }
            self.release_unpinned();
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if let Some(p) = words
            .iter()
            .position(|w| w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("IN"))
        {
            if let Some(db) = words.get(p + 1) {
                header_db = db.trim_matches('`').trim_end_matches(';').to_string();
            }
        }
        let first = format!("Tables_in_{header_db}");
        let mut cols = vec![first.as_str()];
        if full {
            cols.push("Table_type");
        }
        let mut r = crate::frontend::local_result::TextResult::new(&cols);
        for (name, rest) in names {
            let mut row = vec![Some(name)];
            if full {
                row.push(rest.first().cloned().flatten());
            }
            r.row(row);
        }
        let _ = r.send(&mut self.client, self.caps, seq, self.status).await;
        true
    }

    /// `CREATE DATABASE` / `DROP DATABASE` with sharding rules in force: a
    /// database not placed on one node by `[[schema]]` holds sharded
    /// tables on every node, so it is created (dropped) on every node.
    pub(super) async fn try_database_ddl(
        &mut self,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) -> bool {
        if !matches!(c.kind, crate::sql::StatementKind::Ddl)
            || self.proxy.shard_router.load().is_none()
        {
            return false;
        }
        let words: Vec<String> = crate::sql::lexer::tokenize(text)
            .into_iter()
            .filter(|t| !t.is_trivia())
            .take(6)
            .map(|t| t.text(text).to_ascii_uppercase())
            .collect();
        let is_db_ddl = matches!(words.first().map(String::as_str), Some("CREATE" | "DROP"))
            && matches!(
                words.get(1).map(String::as_str),
                Some("DATABASE" | "SCHEMA")
            );
        if !is_db_ddl {
            return false;
        }
        let name = words
            .iter()
            .skip(2)
            .find(|w| !matches!(w.as_str(), "IF" | "NOT" | "EXISTS"))
            .map(|w| w.trim_matches('`').to_string());
        let cfg = self.proxy.config.load();
        let placed = name.as_deref().is_some_and(|n| {
            cfg.schemas
                .iter()
                .any(|s| s.name.get_ref().eq_ignore_ascii_case(n))
        });
        if placed {
            return false;
        }
        let targets = (0..self.proxy.cluster.nodes.len())
            .map(|node| crate::router::shard::ShardTarget {
                node,
                sql: text.to_string(),
                tables: Vec::new(),
                params: Vec::new(),
            })
            .collect();
        let plan = ShardPlan {
            targets,
            kind: PlanKind::Ddl,
            merge: None,
            generated_id: None,
            write: true,
        };
        drop(cfg);
        self.run_scatter_write(&plan, c, seq).await;
        true
    }

    async fn run_shard_plan(&mut self, plan: ShardPlan, c: &Classified, text: &str, seq: &mut u8) {
        match &plan.kind {
            PlanKind::Unsharded { node } => {
                let node = *node;
                self.run_one(node, c, text, plan.generated_id, seq).await;
            }
            PlanKind::Single | PlanKind::BroadcastRead { .. } => {
                let Some(t) = plan.targets.first() else {
                    self.write_error_seq(&ProxyError::Internal("empty shard plan".into()), seq)
                        .await;
                    return;
                };
                let (node, sql) = (t.node, t.sql.clone());
                self.run_one(node, c, &sql, plan.generated_id, seq).await;
            }
            _ if plan.targets.len() == 1 => {
                let t = &plan.targets[0];
                let (node, sql) = (t.node, t.sql.clone());
                self.run_one(node, c, &sql, plan.generated_id, seq).await;
            }
            _ if plan.write => self.run_scatter_write(&plan, c, seq).await,
            // A pinned session (transaction, table locks) with several
            // physical tables per node: one after the other (`concat`).
            _ if self.sequential_read_applies(&plan) => {
                self.run_sequential_read(&plan, c, seq).await
            }
            _ if self.buffered_merge_applies(&plan) => self.run_buffered_merge(&plan, c, seq).await,
            _ => self.run_scatter_read(&plan, c, seq).await,
        }
    }

    /// One target: the ordinary path (read/write split, pins, relay).
    async fn run_one(
        &mut self,
        node: usize,
        c: &Classified,
        sql: &str,
        generated_id: Option<u64>,
        seq: &mut u8,
    ) {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(command::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        let plan = router::route(c, &self.view(node));
        self.override_last_insert_id = generated_id;
        let ran = self.execute(plan, c, &payload, Shape::Results, seq).await;
        self.override_last_insert_id = None;
        if let Some(mut ran) = ran {
            if let Some(id) = generated_id {
                ran.outcome.last_insert_id = id;
            }
            self.after_statement(c, &ran);
        }
    }

    /// Connections for `plan`'s targets, in target order: the session's
    /// held connection per node inside a transaction (one target per node
    /// then), otherwise one pooled connection per target.
    pub(super) async fn target_connections(
        &mut self,
        plan: &ShardPlan,
        role: Role,
        c: &Classified,
    ) -> Result<TargetConns> {
        let mut in_tx = self.pins.transaction || self.pins.session_state;
        let mut role = role;
        if in_tx && !plan.write && self.read_locks_allow_pooled(plan) {
            // Under LOCK TABLES … READ (a dump) nobody writes the locked
            // tables, so other connections of the primary read what the
            // locking ones would; one connection per node could not run
            // several physical tables' parts of one merge at once.
            in_tx = false;
            role = Role::Primary;
        }
        if in_tx {
            let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
            nodes.sort_unstable();
            nodes.dedup();
            if nodes.len() != plan.targets.len() && !plan.write {
                let why = if self.pins.transaction {
                    "inside a transaction"
                } else if self.table_locks.write {
                    "under LOCK TABLES … WRITE"
                } else {
                    "while the session is pinned to its connections (user variables, temporary \
                     tables, table locks…)"
                };
                return Err(ProxyError::Unsupported(format!(
                    "a read of several physical tables on one node {why}"
                )));
            }
            for &node in &nodes {
                let rp = RoutePlan {
                    node,
                    role,
                    reason: "shard target in a transaction",
                };
                self.acquire(&rp, c).await?;
            }
            return Ok(TargetConns::Held);
        }
        let found_rows = self
            .caps
            .contains(mysql_common::constants::CapabilityFlags::CLIENT_FOUND_ROWS);
        let mut conns = Vec::with_capacity(plan.targets.len());
        for t in &plan.targets {
            let mut pool = self.pool_for(t.node, role)?;
            let mut conn = pool.checkout(found_rows, &self.state).await?;
            if let Err(e) = conn.sync_state(&self.state).await {
                conn.broken = true;
                // A replica without the session's database yet (created a
                // moment ago): this target reads on the primary.
                let primary = &self.proxy.cluster.nodes[t.node].primary;
                if !e.is_unknown_database() || Arc::ptr_eq(&pool, primary) {
                    return Err(e);
                }
                pool = primary.clone();
                conn = pool.checkout(found_rows, &self.state).await?;
                if let Err(e) = conn.sync_state(&self.state).await {
                    conn.broken = true;
                    return Err(e);
                }
            }
            pool.stats
                .routed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            conns.push(conn);
        }
        if role == Role::Replica {
            self.freshen_scatter_reads(plan, &mut conns).await?;
        }
        Ok(TargetConns::Pooled(conns))
    }

    /// The pool serving `role` on `node` (a usable replica, else the
    /// primary).
    fn pool_for(&self, node: usize, role: Role) -> Result<Arc<crate::backend::ServerPool>> {
        let cfg = self.proxy.config.load();
        let n = self.proxy.cluster.nodes.get(node).ok_or_else(|| {
            ProxyError::Internal(format!("plan names node #{node}, which does not exist"))
        })?;
        if role == Role::Replica {
            let max_lag = (cfg.routing.max_replication_lag_s as i64) * 1000;
            if let Some(r) = self.proxy.replica_selector.choose(
                &n.replicas,
                cfg.routing.replica_policy,
                max_lag,
                &[],
            ) {
                return Ok(n.replicas[r].clone());
            }
        }
        Ok(n.primary.clone())
    }

    async fn run_scatter_read(&mut self, plan: &ShardPlan, c: &Classified, seq: &mut u8) {
        let role = router::route(c, &self.view(plan.targets[0].node)).role;
        let conns = match self.target_connections(plan, role, c).await {
            Ok(x) => x,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let merge = plan.merge.as_ref().map(merge_plan).unwrap_or_default();
        let sqls: Vec<String> = plan.targets.iter().map(|t| t.sql.clone()).collect();
        let budget = scatter::Budget {
            max_groups: self.proxy.config.load().routing.merge_max_groups,
        };
        let status = self.status;
        let handle = self.handle.clone();
        let gone = client_gone(self.client.get_ref());
        let outcome = match conns {
            TargetConns::Pooled(mut conns) => {
                let outcome = {
                    let running = running_on(conns.iter());
                    let mut refs: Vec<&mut crate::backend::BackendConn> =
                        conns.iter_mut().map(|c| &mut **c).collect();
                    *handle.backends.lock() = running.clone();
                    let merged = scatter::scatter_select(
                        &mut refs,
                        &sqls,
                        &mut self.client,
                        self.caps,
                        seq,
                        &merge,
                        budget,
                        status,
                    );
                    let outcome = until_killed(merged, &handle, gone).await;
                    handle.backends.lock().clear();
                    cancel_unfinished(&mut refs, &running, &outcome);
                    outcome
                };
                for conn in conns {
                    if !conn.broken {
                        conn.release();
                    }
                }
                outcome
            }
            TargetConns::Held => {
                let running = running_on(
                    self.held
                        .iter()
                        .filter(|h| plan.targets.iter().any(|t| t.node == h.node))
                        .map(|h| &h.conn),
                );
                let (mut refs, sqls) = held_for_targets(&mut self.held, plan);
                *handle.backends.lock() = running.clone();
                let merged = scatter::scatter_select(
                    &mut refs,
                    &sqls,
                    &mut self.client,
                    self.caps,
                    seq,
                    &merge,
                    budget,
                    status,
                );
                let outcome = until_killed(merged, &handle, gone).await;
                handle.backends.lock().clear();
                cancel_unfinished(&mut refs, &running, &outcome);
                outcome
            }
        };
        self.finish_scatter(c, outcome);
    }

    pub(super) async fn run_scatter_write(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
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
                // Outside a transaction the targets commit together or not at
                // all (DDL commits implicitly and cannot be wrapped).
                let wrap = !matches!(plan.kind, PlanKind::Ddl);
                let sqls: Vec<String> = plan.targets.iter().map(|t| t.sql.clone()).collect();
                let result = {
                    let mut refs: Vec<&mut crate::backend::BackendConn> =
                        conns.iter_mut().map(|c| &mut **c).collect();
                    Self::forget_write_gtids(&mut refs);
                    write_all_or_nothing(&mut refs, &sqls, wrap).await
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
                    match scatter::scatter_write(&mut refs, std::slice::from_ref(&t.sql)).await {
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

    /// Answers a write that ran on several targets: one OK as one server
    /// would send it, or the first error.
    pub(super) async fn answer_scatter_write(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        result: Result<OkPacket>,
        seq: &mut u8,
    ) {
        match result {
            Ok(mut ok) => {
                // Every copy of a broadcast table changed the same rows:
                // report them once, as one server would.
                if matches!(plan.kind, PlanKind::Broadcast) {
                    ok.divide_copies(plan.targets.len() as u64);
                }
                ok.finish_shards();
                if let Some(id) = plan.generated_id {
                    ok.last_insert_id = id;
                }
                let status = (self.status & !StatusFlags::SERVER_STATUS_IN_TRANS.bits())
                    | (ok.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits())
                    | ok_sum::statement_flags(ok.status);
                let outcome = Outcome {
                    status,
                    warnings: ok.warnings,
                    affected_rows: ok.affected_rows,
                    last_insert_id: ok.last_insert_id,
                    changes: ok.changes.clone(),
                    sent_anything: true,
                    ..Outcome::default()
                };
                ok.status = status;
                self.write_ok_packet(seq, &ok).await;
                self.finish_scatter(c, outcome);
            }
            Err(e) => {
                if e.is_connection_failure() || matches!(e, ProxyError::BackendLost { .. }) {
                    self.held.retain(|h| !h.conn.broken);
                }
                self.write_error_seq(&e, seq).await;
                self.release_unpinned();
            }
        }
    }

    pub(super) fn finish_scatter(&mut self, c: &Classified, outcome: Outcome) {
        self.held.retain(|h| !h.conn.broken);
        let node = self.node_for_session();
        let ran = Ran { outcome, node };
        self.after_statement(c, &ran);
    }
}

/// The servers and connection ids of `conns`, for KILL QUERY.
pub(super) fn running_on<'a>(
    conns: impl Iterator<Item = &'a PooledConn>,
) -> Vec<(Arc<ServerPool>, u32)> {
    conns.map(|c| (c.pool().clone(), c.connection_id)).collect()
}

/// Runs a scatter until it ends or the session is killed (KILL of the
/// connection: the shard statements are then stopped by
/// [`cancel_unfinished`]; KILL QUERY reaches them through the published
/// backends).
pub(super) async fn until_killed(
    merged: impl std::future::Future<Output = Outcome>,
    handle: &super::super::SessionHandle,
    client_gone: impl std::future::Future<Output = ()>,
) -> Outcome {
    tokio::select! {
        o = merged => o,
        _ = handle.kill.notified() => Outcome {
            failure: Some(ProxyError::Backend(crate::wire::packets::ErrPacket::new(
                1927,
                "70100",
                "Connection was killed",
            ))),
            client_lost: true,
            ..Outcome::default()
        },
        _ = client_gone => Outcome {
            failure: Some(ProxyError::Internal("client connection lost".into())),
            client_lost: true,
            ..Outcome::default()
        },
    }
}

/// Resolves when the client closes its connection, watched through a
/// duplicate of its socket while the session's stream is busy merging:
/// servers often send nothing for a long time (they buffer rows), so a
/// write to the client would notice its departure too late. Never resolves
/// when the client sends more bytes (a pipelined command) or the socket
/// cannot be watched.
pub(super) fn client_gone(client: &tokio::net::TcpStream) -> impl std::future::Future<Output = ()> {
    let watch = socket2::SockRef::from(client)
        .try_clone()
        .map(std::net::TcpStream::from)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(s)
        });
    async move {
        let Ok(watch) = watch else {
            return std::future::pending().await;
        };
        let mut byte = [0u8; 1];
        match watch.peek(&mut byte).await {
            Ok(0) | Err(_) => {}
            Ok(_) => std::future::pending().await,
        }
    }
}

/// After a scatter that failed (client gone, session killed, a shard lost
/// or in error): the other shards may still be working on their statement,
/// which closing their connections does not stop until they next write. Stop
/// them with KILL on their servers (in the background), and never reuse the
/// connections.
pub(super) fn cancel_unfinished(
    conns: &mut [&mut crate::backend::BackendConn],
    running: &[(Arc<ServerPool>, u32)],
    outcome: &Outcome,
) {
    if outcome.failure.is_none() {
        return;
    }
    for c in conns.iter_mut() {
        c.broken = true;
    }
    crate::frontend::cancel_on_servers(running.to_vec());
}

pub(super) enum TargetConns {
    Pooled(Vec<PooledConn>),
    Held,
}

/// The held connections of the plan's nodes, paired with their SQL.
fn held_for_targets<'a>(
    held: &'a mut [Held],
    plan: &ShardPlan,
) -> (Vec<&'a mut crate::backend::BackendConn>, Vec<String>) {
    let mut refs = Vec::new();
    let mut sqls = Vec::new();
    for h in held.iter_mut() {
        if let Some(t) = plan.targets.iter().find(|t| t.node == h.node) {
            sqls.push(t.sql.clone());
            refs.push(&mut *h.conn);
        }
    }
    (refs, sqls)
}

pub(super) fn add_ok(total: &mut OkPacket, ok: OkPacket) {
    // Each part is already a sum with its own info text.
    total.add_shard(ok, WriteKind::Other);
}

/// Runs a write on every target; with `wrap`, inside a transaction per
/// target that commits only when every target succeeded.
async fn write_all_or_nothing(
    conns: &mut [&mut crate::backend::BackendConn],
    sqls: &[String],
    wrap: bool,
) -> Result<OkPacket> {
    if wrap {
        for conn in conns.iter_mut() {
            conn.query_drop("START TRANSACTION").await?;
        }
    }
    let result = scatter::scatter_write(conns, sqls).await;
    if wrap {
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        for conn in conns.iter_mut() {
            if let Err(e) = conn.query_drop(end).await {
                conn.broken = true;
                if result.is_ok() {
                    return Err(e);
                }
            }
        }
    }
    result.map(|mut ok| {
        ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        ok
    })
}

/// The router's merge recipe in the executor's terms.
pub(super) fn merge_plan(m: &MergeSpec) -> MergePlan {
    let pos = |c: ColumnRef| match c {
        ColumnRef::Index(i) => Position::Index(i),
        ColumnRef::Hidden(i) => Position::Hidden(i),
    };
    let group = m.aggregate.as_ref().map(|a| GroupPlan {
        key_columns: a.group_by.clone(),
        concats: a.concats.clone(),
        computed: a.computed.clone(),
        aggregates: a
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, comb)| {
                let kind = match comb {
                    Combine::Count => AggregateKind::Count,
                    Combine::Sum => AggregateKind::Sum,
                    Combine::Min => AggregateKind::Min,
                    Combine::Max => AggregateKind::Max,
                    Combine::Avg { count } => AggregateKind::Avg {
                        sum: i,
                        count: *count,
                    },
                    Combine::CountDistinct { first, n } => AggregateKind::CountDistinct {
                        first: *first,
                        n: *n,
                    },
                    Combine::SumDistinct { arg } => AggregateKind::SumDistinct { arg: *arg },
                    Combine::AvgDistinct { arg } => AggregateKind::AvgDistinct { arg: *arg },
                    Combine::GroupConcat { index } => AggregateKind::GroupConcat { index: *index },
                    Combine::Computed { index } => AggregateKind::Computed { index: *index },
                    Combine::Group | Combine::Any => return None,
                };
                Some(Aggregate { column: i, kind })
            })
            .collect(),
    });
    MergePlan {
        hidden_columns: m.hidden_columns,
        order_by: m
            .order_by
            .iter()
            .map(|k| (pos(k.column), k.descending))
            .collect(),
        offset: m.offset,
        limit: m.limit,
        group,
        distinct: m.distinct,
        having: m.having.clone(),
    }
}
