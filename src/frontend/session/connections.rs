//! The session's backend connections: which server a statement gets
//! (one replica choice and fallback for every path), checking out and
//! holding connections, making them carry the session's state and
//! transaction, and giving them back.
//!
//! A statement's connections come as a [`Binding`]: pooled connections
//! checked out for it alone, or the connections the session holds (one per
//! node: a transaction, table locks, unreplayable state).
//!
//! Owns: `Session::held`, checkout and release, read-your-writes waits.
//! Must not: run statements or read their answers (that is `execute_one`
//! and `run_plan`), or route (that is `router`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_common::constants::StatusFlags;

use super::{Held, Session};
use crate::backend::connection::read_small_result;
use crate::backend::{PooledConn, Role, ServerPool};
use crate::config::{Consistency, NoReplicaFallback};
use crate::error::{ProxyError, Result};
use crate::router::shard::ShardPlan;
use crate::router::{self, RoutePlan, SessionView};
use crate::session_state::quote_str;
use crate::sql::Classified;
use crate::wire::command;

/// The connections a statement on several targets runs on.
pub(super) enum Binding {
    /// Checked out for this statement: target `t` runs on
    /// `conns[assign[t]]` (one connection per target unless a node has more
    /// targets than `scatter_connections_per_node` or its pool allows).
    Pooled {
        conns: Vec<PooledConn>,
        assign: Vec<usize>,
    },
    /// The session's held connections (one per node of the plan).
    Held,
}

/// How long a statement needing a node's primary waits for its health
/// checkers' look while the node has none (then: 2003, no primary).
const PRIMARY_RECHECK_WAIT: Duration = Duration::from_millis(300);

impl Session {
    /// The backend connections this session can use (see
    /// [`crate::backend::Flavor`]).
    pub(super) fn flavor(&self) -> crate::backend::Flavor {
        crate::backend::Flavor {
            login: self.login.clone(),
            found_rows: self
                .caps
                .contains(mysql_common::constants::CapabilityFlags::CLIENT_FOUND_ROWS),
            extended_metadata: self.extended_metadata,
        }
    }

    pub(super) fn view(&self, node: usize) -> SessionView {
        let cfg = self.proxy.config.load();
        SessionView {
            node,
            in_transaction: self.pins.transaction,
            read_only_transaction: self.read_only_tx,
            autocommit: self.state.autocommit(),
            read_write_split: cfg.routing.read_write_split,
            consistency: self.consistency(),
            pinned_to_primary: self.pins.session_state,
        }
    }

    pub(super) fn primary_is_healthy(&self, node: usize) -> bool {
        self.proxy
            .cluster
            .nodes
            .get(node)
            .is_some_and(|n| n.has_primary() && n.primary().is_healthy())
    }

    pub(super) fn node_for_session(&self) -> usize {
        self.proxy
            .config
            .load()
            .node_for_schema(self.state.schema.as_deref())
    }

    /// Returns a held connection for `plan`, checking one out (and syncing
    /// this session's state onto it) when needed. A replica that cannot
    /// give a connection (down, frozen, pool exhausted) is skipped for the
    /// next replica, then the primary, as [`Session::acquire_moving`] says.
    pub(super) async fn acquire(&mut self, plan: &RoutePlan, c: &Classified) -> Result<usize> {
        let mut excluded = Vec::new();
        self.acquire_moving(plan, c, &mut excluded)
            .await
            .map(|(i, _)| i)
    }

    /// [`Session::acquire_excluding`] for every path: when a replica read
    /// cannot get a connection from its replica (a connection failure:
    /// refused, frozen, timed out), that replica joins `excluded` and the
    /// next one is tried, then the primary (unless `no_replica = "fail"`);
    /// any other error, or a failure of the primary, is returned. Nothing
    /// has run yet, so moving is always safe. Bounded by the node's
    /// replica count.
    pub(super) async fn acquire_moving(
        &mut self,
        plan: &RoutePlan,
        c: &Classified,
        excluded: &mut Vec<usize>,
    ) -> Result<(usize, bool)> {
        loop {
            match self.acquire_excluding(plan, c, excluded).await {
                Err(e) if plan.role == Role::Replica && e.is_connection_failure() => {
                    match self.replica_index(plan.node, &e) {
                        Some(idx) if !excluded.contains(&idx) => excluded.push(idx),
                        _ => return Err(e),
                    }
                }
                other => return other,
            }
        }
    }

    /// Like [`Session::acquire`], skipping the replicas in `exclude`; also
    /// says whether the connection was freshly checked out (not held).
    pub(super) async fn acquire_excluding(
        &mut self,
        plan: &RoutePlan,
        c: &Classified,
        exclude: &[usize],
    ) -> Result<(usize, bool)> {
        self.note_node_use(plan.node, c);
        self.start_checkout_clock();
        if let Some(i) = self.held.iter().position(|h| h.node == plan.node) {
            let held_role = self.held[i].role;
            let server_tx = self.held[i].conn.in_transaction();
            // Whatever pins it, a replica connection never takes a
            // statement routed to the primary (outside a transaction the
            // server itself runs there, e.g. START TRANSACTION READ ONLY).
            let wants_diagnostics =
                c.flags.reads_diagnostics || c.flags.uses_found_rows || c.flags.uses_row_count;
            // Reading the diagnostics of the previous statement is a read:
            // it stays with the server that ran that statement.
            let diagnostics_read =
                (wants_diagnostics || self.tableless_read) && self.pins.diagnostics;
            let wrong_server = plan.role == Role::Primary
                && held_role == Role::Replica
                && !server_tx
                && !diagnostics_read;
            let hard_pin = server_tx
                || self.pins.transaction
                || self.pins.session_state
                || self.cursor_statement.is_some();
            if !wrong_server && (hard_pin || diagnostics_read || held_role == plan.role) {
                // A session holding connections on several nodes changes
                // its variables (autocommit, sql_mode, ...) on one of them.
                if let Err(e) = self.held[i].conn.sync_variables(&self.state).await {
                    self.drop_held(i);
                    return Err(e);
                }
                if !server_tx {
                    // Held from before the transaction began elsewhere.
                    self.join_transaction(i).await?;
                }
                return Ok((i, false));
            }
            let h = self.held.swap_remove(i);
            h.conn.release();
        }
        let (conn, role) = self.checkout_on(plan.node, plan.role, exclude).await?;
        self.held.push(Held {
            node: plan.node,
            role,
            conn,
        });
        let i = self.held.len() - 1;
        self.join_transaction(i).await?;
        if c.flags.uses_last_insert_id {
            let value = self.last_insert_id;
            if let Err(e) = self.held[i].conn.sync_last_insert_id(value).await {
                self.drop_held(i);
                return Err(e);
            }
        }
        Ok((i, true))
    }

    /// An explicit transaction open on another node extends to held
    /// connection `i` (not yet in it): its start is replayed there, so that
    /// writes on this node commit or roll back with the rest instead of
    /// autocommitting. (With autocommit off, the replayed `autocommit = 0`
    /// already opens one.)
    pub(super) async fn join_transaction(&mut self, i: usize) -> Result<()> {
        let open = self.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0;
        if !open || self.held[i].conn.in_transaction() {
            return Ok(());
        }
        // A transaction begun in a way the session did not record (inside a
        // multi-statement, by a prepared BEGIN) starts plainly. With
        // autocommit off the next statement opens it, unless savepoints
        // must be declared first.
        let start = if let Some(xa_start) = self.xa_join_start(i) {
            xa_start
        } else if !self.state.autocommit() {
            match self.savepoints.is_empty() {
                true => return Ok(()),
                false => vec!["START TRANSACTION".to_owned()],
            }
        } else if !self.transaction_start.is_empty() {
            self.transaction_start.clone()
        } else if self.read_only_tx {
            vec!["START TRANSACTION READ ONLY".to_owned()]
        } else {
            vec!["START TRANSACTION".to_owned()]
        };
        // Then the savepoints, in order, so that ROLLBACK TO SAVEPOINT
        // undoes this node's writes too.
        for sql in start.iter().chain(self.savepoint_replay().iter()) {
            if let Err(e) = self.held[i].conn.query_drop(sql).await {
                self.drop_held(i);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Starts the running command's one checkout deadline, if not yet.
    pub(super) fn start_checkout_clock(&mut self) {
        if self.checkout_deadline.is_none() {
            let ms = self.proxy.config.load().backend.checkout_timeout_ms;
            self.checkout_deadline = Some(Instant::now() + Duration::from_millis(ms));
        }
    }

    /// Until when the running command may wait for pooled connections.
    fn checkout_until(&self) -> Instant {
        self.checkout_deadline.unwrap_or_else(|| {
            let ms = self.proxy.config.load().backend.checkout_timeout_ms;
            Instant::now() + Duration::from_millis(ms)
        })
    }

    /// Returns to the pool every held connection nothing pins.
    pub(super) fn release_unpinned(&mut self) {
        let keep = self.pins.transaction
            || self.pins.session_state
            || self.cursor_statement.is_some()
            || self.pins.diagnostics;
        if keep {
            return;
        }
        for h in self.held.drain(..) {
            h.conn.release();
        }
    }

    pub(super) fn drop_held(&mut self, i: usize) {
        let h = self.held.swap_remove(i);
        h.conn.pool().stats.errors.fetch_add(1, Ordering::Relaxed);
        drop(h);
    }

    /// For `session` consistency: makes sure the replica at `i` has applied
    /// the session's last write on that node; otherwise swaps it for the
    /// primary.
    pub(super) async fn ensure_fresh(&mut self, i: usize, c: &Classified) -> Result<usize> {
        let node = self.held[i].node;
        if self.held[i].role != Role::Replica || self.consistency() != Consistency::Session {
            return Ok(i);
        }
        let Some(gtid) = self.last_gtid.get(node).cloned().flatten() else {
            return Ok(i);
        };
        let replica_addr = self.held[i].conn.server.addr.clone();
        if self
            .gtid_confirmed
            .iter()
            .any(|(n, a)| *n == node && *a == replica_addr)
        {
            return Ok(i);
        }
        let timeout_ms = self.proxy.config.load().routing.gtid_wait_timeout_ms;
        let caught_up = replica_caught_up(
            &mut self.held[i].conn,
            &gtid,
            timeout_ms,
            &self.proxy.metrics,
        )
        .await;
        if caught_up {
            // The replica has the write; later reads need not wait again.
            self.gtid_confirmed.push((node, replica_addr));
            return Ok(i);
        }
        let h = self.held.swap_remove(i);
        if h.conn.broken {
            drop(h);
        } else {
            h.conn.release();
        }
        let plan = RoutePlan {
            node,
            role: Role::Primary,
            reason: "replica behind the session's last write",
        };
        self.acquire(&plan, c).await
    }

    /// Which replica of `node` a connection failure names.
    pub(super) fn replica_index(&self, node: usize, e: &ProxyError) -> Option<usize> {
        let name = match e {
            ProxyError::BackendConnect { server, .. }
            | ProxyError::BackendLost { server, .. }
            | ProxyError::BackendTimeout { server, .. }
            | ProxyError::PoolExhausted { server, .. } => server,
            _ => return None,
        };
        self.proxy.cluster.nodes[node]
            .roles()
            .replicas
            .iter()
            .position(|p| &p.server.name == name)
    }

    /// Before a statement that needs `node`'s primary while it has none:
    /// gives the health checkers one look (a primary just restarted is
    /// taken back at once), bounded by [`PRIMARY_RECHECK_WAIT`].
    async fn await_primary(&self, node: usize, role: Role) {
        let Some(n) = self.proxy.cluster.nodes.get(node) else {
            return;
        };
        if role != Role::Replica && !n.has_primary() {
            n.await_primary(PRIMARY_RECHECK_WAIT).await;
        }
    }

    /// The pool serving `role` on `node`: a usable replica (not in
    /// `exclude`) for reads, else the primary, unless `no_replica = "fail"`
    /// forbids that fallback. Every path chooses servers here.
    pub(super) fn choose_pool(
        &self,
        node: usize,
        role: Role,
        exclude: &[usize],
    ) -> Result<(Arc<ServerPool>, Role)> {
        let cfg = self.proxy.config.load();
        let n = self.proxy.cluster.nodes.get(node).ok_or_else(|| {
            ProxyError::Internal(format!("plan names node #{node}, which does not exist"))
        })?;
        let roles = n.roles();
        let primary = || match roles.primary {
            Some(p) => Ok((n.servers[p].clone(), Role::Primary)),
            None => Err(crate::backend::roles::no_primary(n)),
        };
        if role != Role::Replica {
            return primary();
        }
        let max_lag = (cfg.routing.max_replication_lag_s as i64) * 1000;
        let replicas = &roles.replicas;
        match self.proxy.replica_selector.choose(
            replicas,
            cfg.routing.replica_policy,
            max_lag,
            exclude,
        ) {
            Some(r) => Ok((replicas[r].clone(), Role::Replica)),
            None if cfg.routing.no_replica == NoReplicaFallback::Fail && !replicas.is_empty() => {
                Err(ProxyError::NoServerAvailable {
                    node: n.name.clone(),
                    role: "replica",
                    reason: "every replica is down or lagging and no_replica = \"fail\"".into(),
                })
            }
            None => primary(),
        }
    }

    /// Checks out a connection of [`choose_pool`](Self::choose_pool)'s
    /// server carrying the session's state. A replica that does not have
    /// the session's database yet (created a moment ago) hands over to the
    /// primary.
    pub(super) async fn checkout_on(
        &self,
        node: usize,
        role: Role,
        exclude: &[usize],
    ) -> Result<(PooledConn, Role)> {
        let found_rows = self.flavor();
        self.await_primary(node, role).await;
        let (mut pool, mut role) = self.choose_pool(node, role, exclude)?;
        // A replica read that may go elsewhere does not wait long for a
        // connection: a frozen replica without an idle connection would
        // hold it for the whole connect timeout.
        let stall = self.proxy.config.load().routing.stall_policy();
        let movable = !self.pins.transaction && !self.read_only_tx;
        loop {
            let deadline = self.checkout_until();
            let checkout = async {
                let mut conn = pool
                    .checkout_until(&found_rows, &self.state, deadline)
                    .await?;
                let synced = conn.sync_state(&self.state).await;
                Ok::<_, ProxyError>((conn, synced))
            };
            let limit = stall.as_ref().filter(|_| movable && role == Role::Replica);
            let (mut conn, synced) = match limit {
                None => checkout.await?,
                Some(p) => match tokio::time::timeout(p.max, checkout).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let (frozen, max) = (pool.clone(), p.max);
                        tokio::spawn(async move {
                            crate::backend::stall::looks_frozen(&frozen, max).await
                        });
                        return Err(ProxyError::BackendTimeout {
                            server: pool.server.name.clone(),
                            millis: p.max.as_millis() as u64,
                        });
                    }
                },
            };
            match synced {
                Ok(()) => {
                    pool.stats.routed.fetch_add(1, Ordering::Relaxed);
                    return Ok((conn, role));
                }
                Err(e) => {
                    // Not reused: its state is unknown.
                    conn.broken = true;
                    if role != Role::Replica || !e.is_unknown_database() {
                        return Err(e);
                    }
                    (pool, role) = self.choose_pool(node, Role::Primary, &[])?;
                }
            }
        }
    }

    /// Connections for `plan`'s targets: the session's held connection per
    /// node when it is pinned (one target per node then), otherwise one
    /// pooled connection per target.
    pub(super) async fn bind_targets(
        &mut self,
        plan: &ShardPlan,
        role: Role,
        c: &Classified,
    ) -> Result<Binding> {
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
            let nodes = plan_nodes(plan);
            if nodes.len() != plan.targets.len() && plan.returns_rows() {
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
                let i = self.acquire(&rp, c).await?;
                // A read-only transaction reads replicas: each node it
                // joins must have the session's last write there, as a
                // single-target read's replica must.
                self.ensure_fresh(i, c).await?;
            }
            return Ok(Binding::Held);
        }
        self.start_checkout_clock();
        let cap = self
            .proxy
            .config
            .load()
            .routing
            .scatter_connections_per_node
            .max(1);
        let mut conns = Vec::with_capacity(plan.targets.len());
        let mut assign = vec![0; plan.targets.len()];
        // Nodes in one order for every statement, each node's connections
        // taken at once: no statement holds some while waiting for others.
        for node in plan_nodes(plan) {
            let on_node: Vec<usize> = (0..plan.targets.len())
                .filter(|&t| plan.targets[t].node == node)
                .collect();
            let want = on_node.len().min(cap);
            let got = self.checkout_many_retrying(node, role, want).await?;
            let base = conns.len();
            let n = got.len().max(1);
            conns.extend(got);
            for (j, &t) in on_node.iter().enumerate() {
                assign[t] = base + j % n;
            }
        }
        if conns.len() == plan.targets.len() {
            // One connection per target: in target order, so that
            // connection i runs target i (nodes were taken in node order).
            let mut slots: Vec<Option<PooledConn>> = conns.into_iter().map(Some).collect();
            conns = assign
                .iter()
                .filter_map(|&c| slots.get_mut(c).and_then(Option::take))
                .collect();
            assign = (0..conns.len()).collect();
        }
        if role == Role::Replica {
            self.freshen_scatter_reads(&mut conns).await?;
        }
        Ok(Binding::Pooled { conns, assign })
    }

    /// `n` connections of one server of `node` for `role` (fewer if its
    /// pool is smaller), taken at once, carrying the session's state;
    /// moving to the node's other replicas (then its primary) while the
    /// chosen one cannot be reached.
    pub(super) async fn checkout_many_retrying(
        &self,
        node: usize,
        role: Role,
        n: usize,
    ) -> Result<Vec<PooledConn>> {
        let found_rows = self.flavor();
        let mut exclude = Vec::new();
        let mut role = role;
        self.await_primary(node, role).await;
        loop {
            let (pool, chosen) = self.choose_pool(node, role, &exclude)?;
            let deadline = self.checkout_until();
            let got = pool
                .checkout_many(n, &found_rows, &self.state, deadline)
                .await;
            let failed = match got {
                Ok(mut conns) => match self.sync_all(&mut conns).await {
                    Ok(()) => {
                        pool.stats
                            .routed
                            .fetch_add(conns.len() as u64, Ordering::Relaxed);
                        return Ok(conns);
                    }
                    Err(e) if chosen == Role::Replica && e.is_unknown_database() => {
                        role = Role::Primary;
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if chosen != Role::Replica || !failed.is_connection_failure() {
                return Err(failed);
            }
            match self.replica_index(node, &failed) {
                Some(i) if !exclude.contains(&i) => exclude.push(i),
                _ => return Err(failed),
            }
        }
    }

    /// Makes freshly checked-out connections carry the session's state;
    /// those that fail are not reused.
    async fn sync_all(&self, conns: &mut [PooledConn]) -> Result<()> {
        for conn in conns.iter_mut() {
            if let Err(e) = conn.sync_state(&self.state).await {
                conn.broken = true;
                return Err(e);
            }
        }
        Ok(())
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
        let role = match plan.write {
            true => Role::Primary,
            false => router::route(c, &self.view(first.node)).role,
        };
        for node in plan_nodes(plan) {
            let rp = RoutePlan {
                node,
                role,
                reason: "shard target on the session's connection",
            };
            self.acquire(&rp, c).await?;
        }
        Ok(())
    }
}

/// The nodes of `plan`'s targets, each once, in order.
pub(super) fn plan_nodes(plan: &ShardPlan) -> Vec<usize> {
    let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Whether the replica behind `conn` has applied `gtid`, waiting for it at
/// most `timeout_ms` (`MASTER_GTID_WAIT`; MySQL backends would use
/// `WAIT_FOR_EXECUTED_GTID_SET`). The wait's result and time go to the
/// `gtid_waits` metrics.
pub(super) async fn replica_caught_up(
    conn: &mut crate::backend::BackendConn,
    gtid: &str,
    timeout_ms: u64,
    metrics: &crate::ops::metrics::Metrics,
) -> bool {
    let started = std::time::Instant::now();
    let caught_up = wait_for_gtid(conn, gtid, timeout_ms).await;
    metrics.gtid_wait(caught_up, started.elapsed());
    caught_up
}

/// `MASTER_GTID_WAIT` on `conn` (see [`replica_caught_up`]).
async fn wait_for_gtid(
    conn: &mut crate::backend::BackendConn,
    gtid: &str,
    timeout_ms: u64,
) -> bool {
    let sql = format!(
        "SELECT MASTER_GTID_WAIT({}, {})",
        quote_str(gtid),
        timeout_ms as f64 / 1000.0
    );
    let mut payload = vec![command::QUERY];
    payload.extend_from_slice(sql.as_bytes());
    match conn.send_command(&payload).await {
        Ok(()) => {
            matches!(read_small_result(conn).await, Ok(rows) if rows.first().and_then(|r| r.first()).and_then(|v| v.as_deref()) == Some(b"0"))
        }
        Err(_) => false,
    }
}
