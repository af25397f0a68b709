//! One client session: the command loop after the handshake.
//!
//! Each command is classified, routed, run on a backend connection that has
//! been made to carry this session's state, and answered. Connections go
//! back to the pool after each statement unless something pins them (see
//! [`Pins`]).
//!
//! Owns: the session's state, its held connections and its prepared
//! statements. Must not parse packets' inner formats beyond command headers
//! (that is `wire`) or choose servers by itself (that is `router`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::handshake::ClientHello;
use super::local_result::TextResult;
use super::prepared::{ClientStatement, ExecutePackets};
use super::Proxy;
use crate::backend::connection::read_small_result;
use crate::backend::{PooledConn, Role};
use crate::config::{Consistency, NoReplicaFallback};
use crate::error::{ProxyError, Result};
use crate::execute::{ClientStream, Outcome, Relay, Shape};
use crate::router::{self, RoutePlan, SessionView};
use crate::session::{quote_str, Pins, SessionState};
use crate::sql::{self, Classified, SetKind, SetScope, StatementKind, TransactionScope};
use crate::wire::command;
use crate::wire::packets::{encode_eof, ErrPacket, OkPacket, Reader, SessionChange};

mod concat;
mod guard;
mod metadata;
mod shard_freshness;
mod sharded;
mod sharded_prepared;

/// How long an idle session keeps a connection only so that `SHOW
/// WARNINGS` or `FOUND_ROWS()` can reach the server that ran its last
/// statement.
const DIAGNOSTICS_HOLD: Duration = Duration::from_secs(2);

/// A backend connection the session currently holds.
struct Held {
    node: usize,
    role: Role,
    conn: PooledConn,
}

pub struct Session {
    proxy: Arc<Proxy>,
    client: ClientStream,
    pub id: u32,
    user: String,
    caps: CapabilityFlags,
    nonce: [u8; 20],
    peer_host: String,
    collation: u16,
    state: SessionState,
    held: Vec<Held>,
    pins: Pins,
    /// A read-only transaction is open (pinned to one replica).
    read_only_tx: bool,
    status: u16,
    last_insert_id: u64,
    /// GTID of the session's last write, per node (read-your-writes).
    last_gtid: Vec<Option<String>>,
    /// Replicas (by address) known to have applied `last_gtid` of their
    /// node: reads there need not wait again.
    gtid_confirmed: Vec<String>,
    statements: HashMap<u32, ClientStatement>,
    next_statement_id: u32,
    /// Statement id whose server-side cursor is open on a held connection.
    cursor_statement: Option<u32>,
    /// `SET TRANSACTION ...` (next transaction only), deferred to the
    /// connection that runs the next statement; and whether it made the next
    /// transaction read-only (then it goes to a replica).
    pending_transaction: Option<(String, bool)>,
    /// The open explicit transaction's start (`SET TRANSACTION …` that
    /// applied to it, then the `BEGIN`/`START TRANSACTION …` text): replayed
    /// on every further node the transaction reaches, so that its writes
    /// there commit or roll back with it rather than autocommit.
    transaction_start: Vec<String>,
    /// An id the proxy generated for the running INSERT (sharded tables
    /// with an id generator): the OK reports it.
    override_last_insert_id: Option<u64>,
    /// The running statement reads no table (`SELECT 1`): it does not
    /// reset the diagnostics area, so it may run where the warnings are.
    tableless_read: bool,
    /// The sharding rules a running transaction started with.
    tx_router: Option<Arc<crate::router::shard::ShardRouter>>,
    /// `LOCK TABLES` on sharded or broadcast tables in force.
    table_locks: metadata::TableLocks,
    handle: Arc<super::SessionHandle>,
}

/// Whether the replica behind `conn` has applied `gtid`, waiting for it at
/// most `timeout_ms` (`MASTER_GTID_WAIT`; MySQL backends would use
/// `WAIT_FOR_EXECUTED_GTID_SET`).
async fn replica_caught_up(
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

/// Result of running one command on one backend.
struct Ran {
    outcome: Outcome,
    node: usize,
}

impl Session {
    pub fn new(
        proxy: Arc<Proxy>,
        client: ClientStream,
        id: u32,
        hello: ClientHello,
        peer_host: String,
        handle: Arc<super::SessionHandle>,
    ) -> Session {
        let nodes = proxy.cluster.nodes.len();
        let mut state = SessionState::for_collation(hello.collation);
        state.schema = hello.database.clone();
        Session {
            proxy,
            client,
            id,
            user: hello.user,
            caps: hello.caps,
            nonce: hello.nonce,
            peer_host,
            collation: hello.collation,
            state,
            held: Vec::new(),
            pins: Pins::default(),
            read_only_tx: false,
            status: StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits(),
            last_insert_id: 0,
            last_gtid: vec![None; nodes],
            gtid_confirmed: Vec::new(),
            statements: HashMap::new(),
            next_statement_id: 1,
            cursor_statement: None,
            pending_transaction: None,
            transaction_start: Vec::new(),
            override_last_insert_id: None,
            tx_router: None,
            table_locks: metadata::TableLocks::default(),
            tableless_read: false,
            handle,
        }
    }

    fn consistency(&self) -> Consistency {
        let cfg = self.proxy.config.load();
        cfg.user(&self.user)
            .and_then(|u| u.consistency)
            .unwrap_or(cfg.routing.consistency)
    }

    /// Checks CONNECT_WITH_DB against a backend and ends the handshake.
    pub async fn start(&mut self, seq: u8) -> Result<()> {
        if let Some(db) = self.state.schema.take() {
            let node = self.proxy.config.load().node_for_schema(Some(&db));
            let c = sql::classify(&format!("USE `{}`", db.replace('`', "``")));
            // The primary is the authority on which databases exist (a
            // replica may not have replayed a CREATE DATABASE yet); a replica
            // answers only while the primary is down.
            let roles: &[Role] = if !self.proxy.config.load().routing.read_write_split {
                &[Role::Primary]
            } else if self.primary_is_healthy(node) {
                &[Role::Primary, Role::Replica]
            } else {
                &[Role::Replica, Role::Primary]
            };
            let mut failure = None;
            for &role in roles {
                let plan = RoutePlan {
                    node,
                    role,
                    reason: "connect with database",
                };
                match self.init_db_on(&plan, &c, &db).await {
                    Ok(()) => {
                        failure = None;
                        break;
                    }
                    // The server's own answer (e.g. 1049) is final; a server
                    // that cannot be reached is not: try the next role.
                    Err(e @ ProxyError::Backend(_)) => {
                        failure = Some(e);
                        break;
                    }
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                let mut s = seq;
                self.write_error_seq(&e, &mut s).await;
                let _ = self.client.flush().await;
                return Err(e);
            }
            self.state.schema = Some(db);
            self.release_unpinned();
        }
        super::handshake::finish(&mut self.client, self.caps, seq)
            .await
            .map_err(|e| ProxyError::Internal(e.to_string()))
    }

    /// Selects `db` on a connection of `plan` (COM_INIT_DB), keeping the
    /// connection held on success.
    async fn init_db_on(&mut self, plan: &RoutePlan, c: &Classified, db: &str) -> Result<()> {
        let i = self.acquire(plan, c).await?;
        let mut payload = vec![command::INIT_DB];
        payload.extend_from_slice(db.as_bytes());
        let conn = &mut self.held[i].conn;
        let res = async {
            conn.send_command(&payload).await?;
            let p = conn.read_packet().await?;
            if let Some(e) = ErrPacket::parse(&p.payload) {
                return Err(ProxyError::Backend(e));
            }
            conn.absorb_ok(&p.payload);
            Ok(())
        }
        .await;
        if res.is_err() {
            self.drop_held(i);
        }
        res
    }

    /// The command loop; returns when the client quits or goes away.
    pub async fn run(&mut self) {
        loop {
            let packet = match self.next_command().await {
                Ok(p) => p,
                Err(e) => {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        let mut seq = 1;
                        self.write_error_seq(&ProxyError::PacketTooLarge, &mut seq)
                            .await;
                    }
                    break;
                }
            };
            let mut seq = packet.seq.wrapping_add(1);
            let payload = packet.payload;
            self.tableless_read = false;
            let Some(&cmd) = payload.first() else {
                self.write_error_seq(&ProxyError::UnknownCommand(0), &mut seq)
                    .await;
                if self.client.flush().await.is_err() {
                    break;
                }
                continue;
            };
            let Some(payload) = self.security_gate(payload, &mut seq).await else {
                if self.client.flush().await.is_err() {
                    break;
                }
                continue;
            };
            let keep_going = match cmd {
                command::QUIT => false,
                command::QUERY => {
                    self.com_query(&payload, &mut seq).await;
                    true
                }
                command::PING => {
                    self.write_ok(&mut seq, 0, 0, self.status, 0).await;
                    true
                }
                command::INIT_DB => {
                    self.com_init_db(&payload, &mut seq).await;
                    true
                }
                command::FIELD_LIST if self.try_field_list(&payload, &mut seq).await => true,
                command::FIELD_LIST | command::STATISTICS => {
                    self.forward_simple(&payload, &mut seq, cmd).await;
                    true
                }
                command::STMT_PREPARE => {
                    self.com_stmt_prepare(&payload, &mut seq).await;
                    true
                }
                command::STMT_EXECUTE => {
                    self.com_stmt_execute(&payload, &mut seq).await;
                    true
                }
                command::STMT_SEND_LONG_DATA => {
                    self.com_stmt_send_long_data(&payload);
                    true
                }
                command::STMT_CLOSE => {
                    self.com_stmt_close(&payload);
                    true
                }
                command::STMT_RESET => {
                    self.com_stmt_reset(&payload, &mut seq).await;
                    true
                }
                command::STMT_FETCH => {
                    self.com_stmt_fetch(&payload, &mut seq).await;
                    true
                }
                command::RESET_CONNECTION => {
                    self.reset();
                    self.write_ok(&mut seq, 0, 0, self.status, 0).await;
                    true
                }
                command::CHANGE_USER => self.com_change_user(&payload, &mut seq).await,
                command::SET_OPTION => {
                    self.com_set_option(&payload, &mut seq).await;
                    true
                }
                command::PROCESS_KILL => {
                    let id = Reader::new(&payload[1..]).u32();
                    match id {
                        Some(id) => self.kill(id, false, &mut seq).await,
                        None => {
                            self.write_error_seq(
                                &ProxyError::MalformedPacket("COM_PROCESS_KILL".into()),
                                &mut seq,
                            )
                            .await
                        }
                    }
                    true
                }
                other => {
                    self.write_error_seq(&ProxyError::UnknownCommand(other), &mut seq)
                        .await;
                    true
                }
            };
            if self.client.flush().await.is_err() || !keep_going {
                break;
            }
        }
        self.client.shutdown().await;
        // Held connections close on drop: the servers roll back whatever
        // transaction the client left open.
        self.held.clear();
    }

    /// Waits for the client's next command. A connection held only for
    /// diagnostics (`SHOW WARNINGS` after a warning) goes back to the pool
    /// when the client stays idle, or at once when another session waits
    /// for a connection of that server.
    async fn next_command(&mut self) -> std::io::Result<crate::wire::Packet> {
        let soft_only = self.pins.diagnostics
            && !self.pins.transaction
            && !self.pins.session_state
            && self.cursor_statement.is_none()
            && !self.held.is_empty();
        if !soft_only {
            return self.client.read_packet().await;
        }
        let mut watchers: Vec<_> = self
            .held
            .iter()
            .map(|h| h.conn.pool().pressure.subscribe())
            .collect();
        let woke = {
            let pressure =
                futures::future::select_all(watchers.iter_mut().map(|w| Box::pin(w.changed())));
            tokio::select! {
                r = self.client.read_packet() => Some(r),
                _ = tokio::time::sleep(DIAGNOSTICS_HOLD) => None,
                _ = pressure => None,
            }
        };
        match woke {
            Some(r) => r,
            None => {
                self.pins.diagnostics = false;
                self.release_unpinned();
                self.client.read_packet().await
            }
        }
    }

    // ----- replies -------------------------------------------------------

    async fn write_ok(
        &mut self,
        seq: &mut u8,
        affected: u64,
        last_id: u64,
        status: u16,
        warnings: u16,
    ) {
        let ok = OkPacket {
            affected_rows: affected,
            last_insert_id: last_id,
            status,
            warnings,
            ..OkPacket::default()
        };
        let mut buf = Vec::with_capacity(16);
        ok.encode(self.caps, 0x00, &mut buf);
        let _ = self.client.send(seq, &buf).await;
    }

    async fn write_error_seq(&mut self, e: &ProxyError, seq: &mut u8) {
        let mut buf = Vec::new();
        e.to_err_packet().encode(&mut buf);
        let _ = self.client.send(seq, &buf).await;
    }

    // ----- connections ---------------------------------------------------

    fn view(&self, node: usize) -> SessionView {
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

    fn primary_is_healthy(&self, node: usize) -> bool {
        self.proxy
            .cluster
            .nodes
            .get(node)
            .is_some_and(|n| n.primary.is_healthy())
    }

    fn node_for_session(&self) -> usize {
        self.proxy
            .config
            .load()
            .node_for_schema(self.state.schema.as_deref())
    }

    /// Returns a held connection for `plan`, checking one out (and syncing
    /// this session's state onto it) when needed.
    async fn acquire(&mut self, plan: &RoutePlan, c: &Classified) -> Result<usize> {
        self.acquire_excluding(plan, c, &[]).await.map(|(i, _)| i)
    }

    /// Like [`Session::acquire`], skipping the replicas in `exclude`; also
    /// says whether the connection was freshly checked out (not held).
    async fn acquire_excluding(
        &mut self,
        plan: &RoutePlan,
        c: &Classified,
        exclude: &[usize],
    ) -> Result<(usize, bool)> {
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
        let cfg = self.proxy.config.load();
        let node = &self.proxy.cluster.nodes[plan.node];
        let found_rows = self.caps.contains(CapabilityFlags::CLIENT_FOUND_ROWS);
        let mut role = plan.role;
        let pool = if role == Role::Replica {
            let max_lag = (cfg.routing.max_replication_lag_s as i64) * 1000;
            match self.proxy.replica_selector.choose(
                &node.replicas,
                cfg.routing.replica_policy,
                max_lag,
                exclude,
            ) {
                Some(r) => node.replicas[r].clone(),
                None if cfg.routing.no_replica == NoReplicaFallback::Fail
                    && !node.replicas.is_empty() =>
                {
                    return Err(ProxyError::NoServerAvailable {
                        node: node.name.clone(),
                        role: "replica",
                        reason: "every replica is down or lagging and no_replica = \"fail\"".into(),
                    })
                }
                None => {
                    role = Role::Primary;
                    node.primary.clone()
                }
            }
        } else {
            node.primary.clone()
        };
        let mut conn = pool.checkout(found_rows, &self.state).await?;
        if let Err(e) = conn.sync_state(&self.state).await {
            // The state could not be applied (e.g. a variable the server
            // rejects): report it; the connection is not reused.
            conn.broken = true;
            return Err(e);
        }
        pool.stats.routed.fetch_add(1, Ordering::Relaxed);
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
    async fn join_transaction(&mut self, i: usize) -> Result<()> {
        let open = self.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0;
        if !open || !self.state.autocommit() || self.held[i].conn.in_transaction() {
            return Ok(());
        }
        // A transaction begun in a way the session did not record (inside a
        // multi-statement, by a prepared BEGIN) starts plainly.
        let start = if !self.transaction_start.is_empty() {
            self.transaction_start.clone()
        } else if self.read_only_tx {
            vec!["START TRANSACTION READ ONLY".to_owned()]
        } else {
            vec!["START TRANSACTION".to_owned()]
        };
        for sql in &start {
            if let Err(e) = self.held[i].conn.query_drop(sql).await {
                self.drop_held(i);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Returns to the pool every held connection nothing pins.
    fn release_unpinned(&mut self) {
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

    fn drop_held(&mut self, i: usize) {
        let h = self.held.swap_remove(i);
        h.conn.pool().stats.errors.fetch_add(1, Ordering::Relaxed);
        drop(h);
    }

    /// Sends `packets` on held connection `i` and relays the answer, while
    /// watching for the server being marked down and for KILL of this
    /// session; publishes the running backend for KILL QUERY and keeps the
    /// in-flight count.
    async fn send_and_relay(
        &mut self,
        i: usize,
        packets: &[&[u8]],
        shape: Shape,
        seq: &mut u8,
        timeout: Option<Duration>,
        last_insert_id: Option<u64>,
    ) -> Outcome {
        let pool = self.held[i].conn.pool().clone();
        pool.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        *self.handle.backends.lock() = vec![(pool.clone(), self.held[i].conn.connection_id)];
        let mut down = pool.stats.down_epoch.subscribe();
        let handle = self.handle.clone();
        let held = &mut self.held[i];
        let mut outcome = match held.conn.send_commands(packets).await {
            Err(e) => Outcome {
                failure: Some(e),
                ..Outcome::default()
            },
            Ok(()) => {
                let mut relay = Relay {
                    conn: &mut held.conn,
                    client: &mut self.client,
                    client_caps: self.caps,
                    seq,
                    timeout,
                    last_insert_id,
                };
                tokio::select! {
                    o = relay.forward(shape) => o,
                    _ = down.changed() => Outcome {
                        failure: Some(ProxyError::BackendLost {
                            server: pool.server.name.clone(),
                            reason: "server marked down by the health checker".into(),
                        }),
                        ..Outcome::default()
                    },
                    _ = handle.kill.notified() => Outcome {
                        failure: Some(ProxyError::Backend(ErrPacket::new(1927, "70100", "Connection was killed"))),
                        client_lost: true,
                        ..Outcome::default()
                    },
                }
            }
        };
        pool.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.handle.backends.lock().clear();
        if outcome.failure.is_none() {
            self.after_relay(i, &mut outcome).await;
        }
        outcome
    }

    /// Runs a deferred `SET TRANSACTION` on the connection about to run the
    /// next statement.
    async fn apply_pending_transaction(&mut self, i: usize) -> Result<()> {
        let Some((sql, _)) = self.pending_transaction.take() else {
            return Ok(());
        };
        self.held[i].conn.query_drop(&sql).await
    }

    /// Bookkeeping on the connection that just answered: a dirty
    /// diagnostics area, and the collation `SET NAMES ... COLLATE` chose
    /// (MariaDB's session tracking reports the character sets only).
    async fn after_relay(&mut self, i: usize, outcome: &mut Outcome) {
        let conn = &mut self.held[i].conn;
        if outcome.warnings > 0 || outcome.error.is_some() {
            conn.diagnostics_dirty = true;
        }
        let mut charset_changed = false;
        let mut collation_reported = false;
        for c in &outcome.changes {
            if let SessionChange::SystemVariable { name, .. } = c {
                charset_changed |=
                    name == "character_set_connection" || name == "character_set_client";
                collation_reported |= name == "collation_connection";
            }
        }
        if charset_changed && !collation_reported {
            let asked = async {
                conn.send_command(b"\x03SELECT @@collation_connection")
                    .await?;
                read_small_result(conn).await
            }
            .await;
            match asked {
                Ok(rows) => {
                    if let Some(v) = rows.first().and_then(|r| r.first()).cloned().flatten() {
                        let value = String::from_utf8_lossy(&v).into_owned();
                        conn.state.record_var("collation_connection", &value);
                        outcome.changes.push(SessionChange::SystemVariable {
                            name: "collation_connection".into(),
                            value,
                        });
                    }
                }
                Err(e) => outcome.failure = Some(e),
            }
        }
    }

    /// For `session` consistency: makes sure the replica at `i` has applied
    /// the session's last write on that node; otherwise swaps it for the
    /// primary.
    async fn ensure_fresh(&mut self, i: usize, c: &Classified) -> Result<usize> {
        let node = self.held[i].node;
        if self.held[i].role != Role::Replica || self.consistency() != Consistency::Session {
            return Ok(i);
        }
        let Some(gtid) = self.last_gtid.get(node).cloned().flatten() else {
            return Ok(i);
        };
        let replica_addr = self.held[i].conn.server.addr.clone();
        if self.gtid_confirmed.contains(&replica_addr) {
            return Ok(i);
        }
        let timeout_ms = self.proxy.config.load().routing.gtid_wait_timeout_ms;
        let caught_up = replica_caught_up(&mut self.held[i].conn, &gtid, timeout_ms).await;
        if caught_up {
            // The replica has the write; later reads need not wait again.
            self.gtid_confirmed.push(replica_addr);
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

    /// Sends `payload` per `plan` and relays the answer; reads outside
    /// transactions that fail before any byte reached the client are
    /// retried on another replica, then the primary.
    async fn execute(
        &mut self,
        plan: RoutePlan,
        c: &Classified,
        payload: &[u8],
        shape: Shape,
        seq: &mut u8,
    ) -> Option<Ran> {
        let retryable = plan.role == Role::Replica && !self.pins.transaction && !self.read_only_tx;
        let mut plan = plan;
        let mut excluded: Vec<usize> = Vec::new();
        let timeout = match self.proxy.config.load().backend.query_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        for _attempt in 0..4 {
            let (i, fresh) = match self.acquire_excluding(&plan, c, &excluded).await {
                Ok(x) => x,
                // The session's database is not on the replicas yet (created
                // a moment ago): the primary has it.
                Err(e) if retryable && e.is_unknown_database() && plan.role == Role::Replica => {
                    plan.role = Role::Primary;
                    continue;
                }
                Err(e) if retryable && e.is_connection_failure() && plan.role == Role::Replica => {
                    if let Some(idx) = self.replica_index(&plan, &e) {
                        excluded.push(idx);
                    } else {
                        plan.role = Role::Primary;
                    }
                    continue;
                }
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return None;
                }
            };
            let reads_diagnostics =
                c.flags.reads_diagnostics || c.flags.uses_found_rows || c.flags.uses_row_count;
            let i = if fresh || !reads_diagnostics {
                match self.ensure_fresh(i, c).await {
                    Ok(i) => i,
                    Err(e) => {
                        self.write_error_seq(&e, seq).await;
                        return None;
                    }
                }
            } else {
                i
            };
            if let Err(e) = self.apply_pending_transaction(i).await {
                self.write_error_seq(&e, seq).await;
                return None;
            }
            let node = self.held[i].node;
            let role = self.held[i].role;
            let pool = self.held[i].conn.pool().clone();
            let outcome = self
                .send_and_relay(
                    i,
                    &[payload],
                    shape,
                    seq,
                    timeout,
                    self.override_last_insert_id,
                )
                .await;
            if let Some(failure) = &outcome.failure {
                let retry = retryable && !outcome.sent_anything && failure.is_connection_failure();
                self.drop_held(i);
                if outcome.sent_anything || outcome.client_lost {
                    self.after_failure();
                    return Some(Ran { outcome, node });
                }
                if retry {
                    if role == Role::Replica {
                        if let Some(idx) = self.proxy.cluster.nodes[node]
                            .replicas
                            .iter()
                            .position(|p| Arc::ptr_eq(p, &pool))
                        {
                            excluded.push(idx);
                        }
                    } else {
                        break;
                    }
                    continue;
                }
                let in_tx = self.pins.transaction;
                self.after_failure();
                let e = if in_tx {
                    ProxyError::BackendLost {
                        server: pool.server.name.clone(),
                        reason: format!("{failure}; the transaction was rolled back"),
                    }
                } else {
                    outcome
                        .failure
                        .unwrap_or(ProxyError::Internal("unknown failure".into()))
                };
                self.write_error_seq(&e, seq).await;
                return None;
            }
            return Some(Ran { outcome, node });
        }
        self.write_error_seq(
            &ProxyError::NoServerAvailable {
                node: self.proxy.cluster.nodes[plan.node].name.clone(),
                role: "server",
                reason: "every attempt failed".into(),
            },
            seq,
        )
        .await;
        None
    }

    fn replica_index(&self, plan: &RoutePlan, e: &ProxyError) -> Option<usize> {
        let name = match e {
            ProxyError::BackendConnect { server, .. }
            | ProxyError::BackendLost { server, .. }
            | ProxyError::BackendTimeout { server, .. }
            | ProxyError::PoolExhausted { server, .. } => server,
            _ => return None,
        };
        self.proxy.cluster.nodes[plan.node]
            .replicas
            .iter()
            .position(|p| &p.server.name == name)
    }

    /// A backend connection broke under the session: whatever it held
    /// (transaction, unreplayable state) is gone.
    fn after_failure(&mut self) {
        self.pins.transaction = false;
        self.transaction_start.clear();
        self.pins.diagnostics = false;
        self.read_only_tx = false;
        self.cursor_statement = None;
        self.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        if self.held.is_empty() {
            self.pins.session_state = false;
        }
        self.release_unpinned();
    }

    /// Updates session state and pins from what a statement did.
    fn after_statement(&mut self, c: &Classified, ran: &Ran) {
        let o = &ran.outcome;
        let mut unreplayable_change = false;
        for change in &o.changes {
            match change {
                SessionChange::SystemVariable { name, value } => {
                    if name == "last_gtid" {
                        if !value.is_empty() {
                            if let Some(slot) = self.last_gtid.get_mut(ran.node) {
                                *slot = Some(value.clone());
                                self.gtid_confirmed.clear();
                            }
                        }
                    } else {
                        self.state.record_var(name, value);
                    }
                }
                SessionChange::Schema(s) => self.state.schema = Some(s.clone()),
                SessionChange::StateChanged => unreplayable_change = true,
                SessionChange::Other(_) => {}
            }
        }
        if o.error.is_none() {
            // Flags describing the session (not the one statement): drivers
            // such as PyMySQL pick their quoting from NO_BACKSLASH_ESCAPES.
            self.status = o.status
                & (StatusFlags::SERVER_STATUS_IN_TRANS.bits()
                    | StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits()
                    | StatusFlags::SERVER_STATUS_IN_TRANS_READONLY.bits()
                    | StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES.bits()
                    | StatusFlags::SERVER_STATUS_ANSI_QUOTES.bits());
            if o.last_insert_id != 0 {
                self.last_insert_id = o.last_insert_id;
            }
        }
        let in_trans = self.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0;
        if o.error.is_none() {
            if let StatementKind::Begin {
                read_only: true, ..
            } = c.kind
            {
                self.read_only_tx = true;
            }
        }
        if !in_trans && !matches!(c.kind, StatementKind::Begin { .. }) {
            self.read_only_tx = false;
        }
        if !in_trans {
            self.transaction_start.clear();
        }
        self.pins.transaction = in_trans || !self.state.autocommit() || self.read_only_tx;
        let transaction_control = matches!(
            c.kind,
            StatementKind::Begin { .. }
                | StatementKind::Commit
                | StatementKind::Rollback
                | StatementKind::Savepoint
        );
        let f = &c.flags;
        let sticky_kind = matches!(
            c.kind,
            StatementKind::LockTables
                | StatementKind::SqlPrepare
                | StatementKind::Handler
                | StatementKind::Xa
                | StatementKind::Set(SetKind::UserVariables)
                | StatementKind::Set(SetKind::Other)
        );
        if o.error.is_none()
            && (f.temporary_table
                || f.assigns_user_variable
                || f.named_lock
                || sticky_kind
                || (unreplayable_change
                    && !transaction_control
                    && matches!(
                        c.kind,
                        StatementKind::Call | StatementKind::Other | StatementKind::Do
                    )))
        {
            self.pins.session_state = true;
            if c.kind != StatementKind::LockTables {
                // UNLOCK TABLES can no longer unpin (see `metadata`).
                self.table_locks.unlock_unpins = false;
            }
        }
        // Held only while the next statement may ask about this one; an
        // idle session gives the connection back (see `next_command`).
        // Statements that read diagnostics do not reset them: keep holding.
        self.pins.diagnostics = ((f.reads_diagnostics || self.tableless_read)
            && self.pins.diagnostics)
            || o.warnings > 0
            || o.error.is_some()
            || f.calc_found_rows
            || matches!(
                c.kind,
                StatementKind::Insert
                    | StatementKind::Update
                    | StatementKind::Delete
                    | StatementKind::Replace
            );
        self.release_unpinned();
    }

    // ----- COM_QUERY -----------------------------------------------------

    /// How the server will lex this session's statements (its `sql_mode`):
    /// a backslash or a double quote must end strings where it does there.
    fn lex_options(&self) -> sql::LexOptions {
        let mode = self.state.var("sql_mode").unwrap_or("");
        let has = |flag: &str| mode.split(',').any(|m| m.eq_ignore_ascii_case(flag));
        sql::LexOptions {
            no_backslash_escapes: has("NO_BACKSLASH_ESCAPES"),
            ansi_quotes: has("ANSI_QUOTES") || has("ANSI"),
        }
    }

    async fn com_query(&mut self, payload: &[u8], seq: &mut u8) {
        let text = String::from_utf8_lossy(&payload[1..]);
        let c = sql::classify_bytes(&payload[1..], self.lex_options());
        self.tableless_read = self.pins.diagnostics
            && c.kind == StatementKind::Select
            && !sql::lexer::tokenize(&text)
                .iter()
                .any(|t| t.is_keyword(text.as_bytes(), "FROM"));
        match &c.kind {
            StatementKind::Empty => {
                self.write_error_seq(
                    &ProxyError::Backend(ErrPacket::new(1065, "42000", "Query was empty")),
                    seq,
                )
                .await;
                return;
            }
            StatementKind::ShowShardcat { rest_offset } => {
                let rest = text.get(*rest_offset..).unwrap_or("").trim().to_string();
                self.show_shardcat(&rest, seq).await;
                return;
            }
            StatementKind::ExplainShardcat { inner_offset } => {
                let inner = text.get(*inner_offset..).unwrap_or("").to_string();
                self.explain_shardcat(&inner, seq).await;
                return;
            }
            StatementKind::Kill {
                query_only,
                id: Some(id),
            } if self.proxy.owns_connection_id(*id) => {
                let (q, id) = (*query_only, *id as u32);
                self.kill(id, q, seq).await;
                return;
            }
            _ => {}
        }
        if c.flags.multi_statement && !self.caps.contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS)
        {
            let pieces = sql::split_statements(&text);
            let near = pieces
                .get(1)
                .and_then(|r| text.get(r.clone()))
                .unwrap_or("");
            let e = ErrPacket::new(
                1064,
                "42000",
                format!("You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '{}' at line 1", near.chars().take(80).collect::<String>()),
            );
            self.write_error_seq(&ProxyError::Backend(e), seq).await;
            return;
        }
        let c = if c.flags.multi_statement {
            self.classify_multi(&text, c)
        } else {
            c
        };
        if matches!(c.kind, StatementKind::Set(SetKind::Transaction)) && !self.pins.transaction {
            let assigns = sql::set_assignments(&text);
            let next_only = !assigns.is_empty()
                && assigns
                    .iter()
                    .all(|a| a.scope == SetScope::Transaction(TransactionScope::Next));
            if next_only {
                let read_only = assigns.iter().any(|a| {
                    a.name == "transaction_read_only"
                        && text
                            .get(a.value_text.clone())
                            .is_some_and(|v| v.to_ascii_uppercase().contains("ONLY"))
                });
                self.pending_transaction = Some((text.into_owned(), read_only));
                self.write_ok(seq, 0, 0, self.status, 0).await;
                return;
            }
        }
        let mut c = c;
        if matches!(c.kind, StatementKind::Begin { .. }) && !c.flags.multi_statement {
            self.transaction_start = self
                .pending_transaction
                .iter()
                .map(|(sql, _)| sql.clone())
                .chain(std::iter::once(text.to_string()))
                .collect();
        }
        if let StatementKind::Begin {
            read_only: false,
            read_write: false,
        } = c.kind
        {
            if self.pending_transaction.as_ref().is_some_and(|(_, ro)| *ro) {
                c.kind = StatementKind::Begin {
                    read_only: true,
                    read_write: false,
                };
            }
        }
        if let StatementKind::Use { database } = &c.kind {
            let database = database.clone();
            self.switch_database(database, &c, payload, seq).await;
            return;
        }
        if matches!(c.kind, StatementKind::Commit | StatementKind::Rollback) && self.held.len() > 1
        {
            self.end_transaction_everywhere(&text, &c, seq).await;
            return;
        }
        if !c.flags.multi_statement
            && (self.try_metadata(&text, &c, seq).await
                || self.try_show_tables(&text, &c, seq).await
                || self.try_database_ddl(&text, &c, seq).await
                || self.try_sharded(&text, &c, seq).await)
        {
            self.forget_columns_after(&c);
            return;
        }
        let node = self.node_for_session();
        let plan = router::route(&c, &self.view(node));
        if let Some(ran) = self.execute(plan, &c, payload, Shape::Results, seq).await {
            self.after_statement(&c, &ran);
        }
        self.forget_columns_after(&c);
    }

    /// COMMIT or ROLLBACK of a transaction that touched several nodes: on
    /// every node's connection (one after the other; not two-phase: a
    /// failure after the first COMMIT leaves the others committed and is
    /// reported as an error).
    async fn end_transaction_everywhere(&mut self, text: &str, c: &Classified, seq: &mut u8) {
        let mut failure = None;
        let mut status = self.status;
        let mut committed = Vec::new();
        for h in self.held.iter_mut() {
            h.conn.last_gtid = None;
            match h.conn.query_drop(text).await {
                Ok(()) => status = h.conn.status,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
            // Read-your-writes on every node the transaction wrote on.
            if let Some(gtid) = h.conn.last_gtid.take() {
                committed.push((h.node, gtid));
            }
        }
        for (node, gtid) in committed {
            if let Some(slot) = self.last_gtid.get_mut(node) {
                *slot = Some(gtid);
                self.gtid_confirmed.clear();
            }
        }
        let outcome = Outcome {
            status,
            error: failure.as_ref().map(|e| e.to_err_packet()),
            ..Outcome::default()
        };
        match &failure {
            Some(e) => self.write_error_seq(e, seq).await,
            None => self.write_ok(seq, 0, 0, status, 0).await,
        }
        self.held.retain(|h| !h.conn.broken);
        let node = self.node_for_session();
        self.after_statement(c, &Ran { outcome, node });
    }

    /// `USE db` and COM_INIT_DB: run on the node that holds `db`. When that
    /// is another node, the connection there is synced to `db` directly
    /// (the current database may not exist on it); on failure the session
    /// keeps its database, as MySQL does.
    async fn switch_database(&mut self, db: String, c: &Classified, payload: &[u8], seq: &mut u8) {
        let node = self.proxy.config.load().node_for_schema(Some(&db));
        let previous = self.state.schema.clone();
        if node != self.node_for_session() {
            self.state.schema = Some(db.clone());
        }
        let mut plan = router::route(c, &self.view(node));
        // USE only validates the name (the proxy replays the current database
        // on every connection it later uses), and the primary is the authority
        // on which databases exist: a lagging replica would answer 1049 for a
        // database created a moment ago. Replicas answer while it is down.
        if plan.role == Role::Replica
            && !self.pins.transaction
            && !self.read_only_tx
            && self.primary_is_healthy(node)
        {
            plan.role = Role::Primary;
            plan.reason = "current database is checked on the primary";
        }
        match self.execute(plan, c, payload, Shape::Results, seq).await {
            Some(ran) => {
                if ran.outcome.error.is_none() && ran.outcome.failure.is_none() {
                    self.state.schema = Some(db);
                } else {
                    self.state.schema = previous;
                }
                self.after_statement(c, &ran);
            }
            None => self.state.schema = previous,
        }
    }

    /// A multi-statement runs as one unit: on the primary unless every part
    /// is a plain read, with the flags of all parts.
    fn classify_multi(&self, text: &str, mut whole: Classified) -> Classified {
        let mut all_reads = true;
        for r in sql::split_statements(text) {
            let part = sql::classify(text.get(r).unwrap_or(""));
            all_reads &= router::is_plain_read(&part) || router::is_session_only(&part);
            let f = &mut whole.flags;
            let p = &part.flags;
            f.locking_read |= p.locking_read;
            f.assigns_user_variable |= p.assigns_user_variable;
            f.temporary_table |= p.temporary_table;
            f.named_lock |= p.named_lock;
            f.side_effect_function |= p.side_effect_function;
            f.calc_found_rows |= p.calc_found_rows;
            if !matches!(
                part.kind,
                StatementKind::Select
                    | StatementKind::Set(SetKind::SystemOnly)
                    | StatementKind::Use { .. }
            ) {
                whole.kind = part.kind.clone();
            }
        }
        if !all_reads && router::is_plain_read(&whole) {
            whole.kind = StatementKind::Other;
        }
        whole
    }

    async fn com_init_db(&mut self, payload: &[u8], seq: &mut u8) {
        let db = String::from_utf8_lossy(&payload[1..]).into_owned();
        let c = sql::classify(&format!("USE `{}`", db.replace('`', "``")));
        self.switch_database(db, &c, payload, seq).await;
    }

    /// COM_FIELD_LIST and COM_STATISTICS: answered by a server of the
    /// session's node.
    async fn forward_simple(&mut self, payload: &[u8], seq: &mut u8, cmd: u8) {
        let c = sql::classify("SELECT 1");
        let node = self.node_for_session();
        let plan = router::route(&c, &self.view(node));
        if cmd == command::STATISTICS {
            // One plain string packet comes back.
            match self.acquire(&plan, &c).await {
                Ok(i) => {
                    let conn = &mut self.held[i].conn;
                    let res = async {
                        conn.send_command(payload).await?;
                        conn.read_packet().await
                    }
                    .await;
                    match res {
                        Ok(p) => {
                            let _ = self.client.send(seq, &p.payload).await;
                        }
                        Err(e) => {
                            self.drop_held(i);
                            self.write_error_seq(&e, seq).await;
                        }
                    }
                    self.release_unpinned();
                }
                Err(e) => self.write_error_seq(&e, seq).await,
            }
            return;
        }
        if let Some(ran) = self.execute(plan, &c, payload, Shape::FieldList, seq).await {
            let _ = ran;
            self.release_unpinned();
        }
    }

    async fn com_set_option(&mut self, payload: &[u8], seq: &mut u8) {
        match Reader::new(&payload[1..]).u16() {
            Some(0) => self.caps |= CapabilityFlags::CLIENT_MULTI_STATEMENTS,
            Some(1) => self.caps &= !CapabilityFlags::CLIENT_MULTI_STATEMENTS,
            _ => {
                self.write_error_seq(&ProxyError::UnknownCommand(command::SET_OPTION), seq)
                    .await;
                return;
            }
        }
        let mut buf = Vec::new();
        if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
            OkPacket {
                status: self.status,
                ..OkPacket::default()
            }
            .encode(self.caps, 0xFE, &mut buf);
        } else {
            encode_eof(&mut buf, 0, self.status);
        }
        let _ = self.client.send(seq, &buf).await;
    }

    /// Forgets all session state (COM_RESET_CONNECTION, COM_CHANGE_USER).
    fn reset(&mut self) {
        // Held connections may carry unreplayable state: close them.
        self.held.clear();
        let schema = self.state.schema.take();
        self.state = SessionState::for_collation(self.collation);
        self.state.schema = schema;
        self.pins = Pins::default();
        self.table_locks = metadata::TableLocks::default();
        self.read_only_tx = false;
        self.transaction_start.clear();
        self.pending_transaction = None;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits();
        self.last_insert_id = 0;
        self.statements.clear();
        self.cursor_statement = None;
    }

    async fn com_change_user(&mut self, payload: &[u8], seq: &mut u8) -> bool {
        let mut r = Reader::new(&payload[1..]);
        let parsed = (|| {
            let user = String::from_utf8_lossy(r.null_terminated()?).into_owned();
            let len = r.u8()? as usize;
            let auth = r.take(len)?.to_vec();
            let db = String::from_utf8_lossy(r.null_terminated().unwrap_or_default()).into_owned();
            let collation = r.u16();
            let plugin = r
                .null_terminated()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            Some((user, auth, db, collation, plugin))
        })();
        let Some((user, auth_data, db, collation, plugin)) = parsed else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_CHANGE_USER".into()), seq)
                .await;
            return false;
        };
        let plugin = plugin.unwrap_or_else(|| crate::wire::auth::NATIVE_PASSWORD.into());
        let cfg = self.proxy.config.load();
        let ok = cfg.user(&user).is_some_and(|u| {
            crate::wire::auth::verify(&plugin, &self.nonce, &u.password, &auth_data)
        });
        if !self.change_user_verdict(ok).await {
            let e = ProxyError::AccessDenied {
                user,
                host: self.peer_host.clone(),
                using_password: !auth_data.is_empty(),
            };
            self.write_error_seq(&e, seq).await;
            // MySQL closes the connection after a failed change of user.
            return false;
        }
        *self.handle.user.lock() = user.clone();
        self.user = user;
        if let Some(c) = collation.filter(|c| *c != 0) {
            self.collation = c;
        }
        self.reset();
        self.state.schema = if db.is_empty() { None } else { Some(db) };
        self.write_ok(seq, 0, 0, self.status, 0).await;
        true
    }

    // ----- prepared statements -------------------------------------------

    async fn com_stmt_prepare(&mut self, payload: &[u8], seq: &mut u8) {
        let sql_text: Arc<str> = Arc::from(String::from_utf8_lossy(&payload[1..]).as_ref());
        let c = sql::classify(&sql_text);
        let mut node = self.node_for_session();
        let mut placed_node = None;
        if let Some(router) = self.proxy.shard_router.load_full() {
            match self.plan_for_prepare(&router, &sql_text) {
                Ok(None) => {}
                Ok(Some(p)) => match p.kind {
                    crate::router::shard::PlanKind::Unsharded { node: n } => {
                        node = n;
                        placed_node = Some(n);
                    }
                    // Sharded or broadcast tables: planned again with the
                    // parameters of every execute.
                    _ => {
                        self.prepare_sharded(sql_text, c, p, seq).await;
                        return;
                    }
                },
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return;
                }
            }
        }
        let plan = router::route(&c, &self.view(node));
        let i = match self.acquire(&plan, &c).await {
            Ok(i) => i,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let id = self.next_statement_id;
        let result = super::prepared::prepare_and_forward(
            &mut self.held[i].conn,
            &mut self.client,
            self.caps,
            seq,
            &sql_text,
            id,
        )
        .await;
        match result {
            Ok(Some(meta)) => {
                self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
                let mut stmt = ClientStatement::new(sql_text, c, meta.params, meta.columns);
                stmt.node = placed_node;
                self.statements.insert(id, stmt);
            }
            Ok(None) => {} // the backend's error was forwarded
            Err(e) => {
                let sent = e.1;
                self.drop_held(i);
                if !sent {
                    self.write_error_seq(&e.0, seq).await;
                }
            }
        }
        self.release_unpinned();
    }

    async fn com_stmt_execute(&mut self, payload: &[u8], seq: &mut u8) {
        let Some(id) = Reader::new(&payload[1..]).u32() else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_EXECUTE".into()), seq)
                .await;
            return;
        };
        let Some(stmt) = self.statements.get_mut(&id) else {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_execute",
                },
                seq,
            )
            .await;
            return;
        };
        let request = match stmt.parse_execute(payload) {
            Ok(r) => r,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let c = stmt.classified.clone();
        let sql_text = stmt.sql.clone();
        let long_data = std::mem::take(&mut stmt.long_data);
        let placed = stmt.node;
        let sharded = stmt.sharded;
        let node = placed.unwrap_or_else(|| self.node_for_session());
        if sharded {
            self.execute_sharded(id, &c, &sql_text, &request, &long_data, seq)
                .await;
            return;
        }
        let plan = router::route(&c, &self.view(node));
        let packets = ExecutePackets::Client {
            request: &request,
            long_data: &long_data,
        };
        let ran = self
            .run_prepared(plan, &c, &sql_text, id, &packets, seq)
            .await;
        if let Some(ran) = ran {
            if ran.outcome.status & StatusFlags::SERVER_STATUS_CURSOR_EXISTS.bits() != 0 {
                self.cursor_statement = Some(id);
            } else if self.cursor_statement == Some(id) {
                self.cursor_statement = None;
            }
            self.after_statement(&c, &ran);
        }
    }

    /// Runs an execute on a backend connection, preparing the statement
    /// there first if this connection has not seen it.
    #[allow(clippy::too_many_arguments)]
    async fn run_prepared(
        &mut self,
        plan: RoutePlan,
        c: &Classified,
        sql_text: &Arc<str>,
        client_id: u32,
        request: &ExecutePackets<'_>,
        seq: &mut u8,
    ) -> Option<Ran> {
        let retryable = plan.role == Role::Replica && !self.pins.transaction && !self.read_only_tx;
        let mut plan = plan;
        for _attempt in 0..3 {
            let (i, fresh) = match self.acquire_excluding(&plan, c, &[]).await {
                Ok(x) => x,
                Err(e) => {
                    if retryable && e.is_connection_failure() && plan.role == Role::Replica {
                        plan.role = Role::Primary;
                        continue;
                    }
                    self.write_error_seq(&e, seq).await;
                    return None;
                }
            };
            let reads_diagnostics =
                c.flags.reads_diagnostics || c.flags.uses_found_rows || c.flags.uses_row_count;
            let i = if fresh || !reads_diagnostics {
                match self.ensure_fresh(i, c).await {
                    Ok(i) => i,
                    Err(e) => {
                        self.write_error_seq(&e, seq).await;
                        return None;
                    }
                }
            } else {
                i
            };
            if let Err(e) = self.apply_pending_transaction(i).await {
                self.write_error_seq(&e, seq).await;
                return None;
            }
            let node = self.held[i].node;
            let backend_id =
                match super::prepared::ensure_prepared(&mut self.held[i].conn, sql_text).await {
                    Ok(Ok(id)) => id,
                    Ok(Err(err)) => {
                        // The statement no longer prepares here (e.g. a table
                        // was dropped): report the server's own error.
                        self.write_error_seq(&ProxyError::Backend(err), seq).await;
                        self.release_unpinned();
                        return None;
                    }
                    Err(e) => {
                        self.drop_held(i);
                        if retryable && e.is_connection_failure() {
                            plan.role = Role::Primary;
                            continue;
                        }
                        self.after_failure();
                        self.write_error_seq(&e, seq).await;
                        return None;
                    }
                };
            let packets = match request.build(backend_id) {
                Ok(p) => p,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    self.release_unpinned();
                    return None;
                }
            };
            let refs: Vec<&[u8]> = packets.iter().map(|p| p.as_slice()).collect();
            let timeout = match self.proxy.config.load().backend.query_timeout_ms {
                0 => None,
                ms => Some(Duration::from_millis(ms)),
            };
            let _ = client_id;
            let outcome = self
                .send_and_relay(
                    i,
                    &refs,
                    Shape::Results,
                    seq,
                    timeout,
                    self.override_last_insert_id,
                )
                .await;
            if let Some(failure) = &outcome.failure {
                let retry = retryable && !outcome.sent_anything && failure.is_connection_failure();
                self.drop_held(i);
                if retry {
                    plan.role = Role::Primary;
                    continue;
                }
                if !outcome.sent_anything && !outcome.client_lost {
                    let e = outcome
                        .failure
                        .unwrap_or(ProxyError::Internal("unknown".into()));
                    self.after_failure();
                    self.write_error_seq(&e, seq).await;
                    return None;
                }
                self.after_failure();
            }
            return Some(Ran { outcome, node });
        }
        None
    }

    fn com_stmt_send_long_data(&mut self, payload: &[u8]) {
        // No reply, even on error (as MySQL).
        let mut r = Reader::new(&payload[1..]);
        let (Some(id), Some(param)) = (r.u32(), r.u16()) else {
            return;
        };
        if let Some(stmt) = self.statements.get_mut(&id) {
            stmt.append_long_data(param, r.rest());
        }
    }

    fn com_stmt_close(&mut self, payload: &[u8]) {
        if let Some(id) = Reader::new(&payload[1..]).u32() {
            self.statements.remove(&id);
            if self.cursor_statement == Some(id) {
                self.cursor_statement = None;
                self.release_unpinned();
            }
        }
    }

    async fn com_stmt_reset(&mut self, payload: &[u8], seq: &mut u8) {
        let Some(id) = Reader::new(&payload[1..]).u32() else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_RESET".into()), seq)
                .await;
            return;
        };
        match self.statements.get_mut(&id) {
            Some(stmt) => {
                stmt.long_data.clear();
                if self.cursor_statement == Some(id) {
                    // The cursor lives on the backend: closing our side and
                    // dropping that connection closes it there too.
                    self.cursor_statement = None;
                    if !self.pins.transaction && !self.pins.session_state {
                        self.held.clear();
                    }
                }
                self.write_ok(seq, 0, 0, self.status, 0).await;
            }
            None => {
                self.write_error_seq(
                    &ProxyError::UnknownStatement {
                        id,
                        command: "mysqld_stmt_reset",
                    },
                    seq,
                )
                .await
            }
        }
    }

    async fn com_stmt_fetch(&mut self, payload: &[u8], seq: &mut u8) {
        let mut r = Reader::new(&payload[1..]);
        let (Some(id), Some(rows)) = (r.u32(), r.u32()) else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_FETCH".into()), seq)
                .await;
            return;
        };
        if self.cursor_statement != Some(id) || !self.statements.contains_key(&id) {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        }
        let Some(sql_text) = self.statements.get(&id).map(|s| s.sql.clone()) else {
            return;
        };
        let node = self.node_for_session();
        let Some(i) = self.held.iter().position(|h| h.node == node) else {
            self.cursor_statement = None;
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        };
        let Some(backend) = self.held[i].conn.cached_statement(&sql_text) else {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        };
        let mut p = vec![command::STMT_FETCH];
        p.extend_from_slice(&backend.id.to_le_bytes());
        p.extend_from_slice(&rows.to_le_bytes());
        let held = &mut self.held[i];
        let outcome = match held.conn.send_command(&p).await {
            Err(e) => Outcome {
                failure: Some(e),
                ..Outcome::default()
            },
            Ok(()) => {
                let mut relay = Relay {
                    conn: &mut held.conn,
                    client: &mut self.client,
                    client_caps: self.caps,
                    seq,
                    timeout: None,
                    last_insert_id: None,
                };
                relay.forward(Shape::Rows).await
            }
        };
        if let Some(e) = outcome.failure {
            self.drop_held(i);
            self.after_failure();
            if !outcome.sent_anything {
                self.write_error_seq(&e, seq).await;
            }
            return;
        }
        if outcome.status & StatusFlags::SERVER_STATUS_LAST_ROW_SENT.bits() != 0 {
            self.cursor_statement = None;
            self.release_unpinned();
        }
    }

    // ----- KILL and admin statements --------------------------------------

    async fn kill(&mut self, id: u32, query_only: bool, seq: &mut u8) {
        match self.proxy.kill(id, query_only, self.id).await {
            Ok(()) => self.write_ok(seq, 0, 0, self.status, 0).await,
            Err(e) => self.write_error_seq(&e, seq).await,
        }
    }

    async fn show_shardcat(&mut self, what: &str, seq: &mut u8) {
        let what = what.trim_end_matches(';').trim().to_ascii_lowercase();
        if what == "reload" {
            match self.proxy.reload() {
                Ok(msg) => {
                    tracing::info!("{msg} (SHOW SHARDCAT RELOAD)");
                    self.write_ok(seq, 0, 0, self.status, 0).await;
                }
                Err(e) => {
                    let e = crate::logsafe::escape(&e);
                    tracing::error!("reload refused, keeping the running configuration: {e}");
                    let e = ProxyError::Config(format!(
                        "reload refused, the running configuration stays: {e}"
                    ));
                    self.write_error_seq(&e, seq).await;
                }
            }
            return;
        }
        let result = match what.as_str() {
            "backends" | "servers" => self.proxy.backends_result(),
            "auth" => self.proxy.auth_result(),
            _ => {
                let e = ProxyError::Unsupported(format!(
                    "SHOW SHARDCAT {what}: known forms are SHOW SHARDCAT BACKENDS, AUTH and RELOAD"
                ));
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let _ = result
            .send(&mut self.client, self.caps, seq, self.status)
            .await;
    }

    async fn explain_shardcat(&mut self, inner: &str, seq: &mut u8) {
        if let Some(router) = self.proxy.shard_router.load_full() {
            match router.plan(inner, self.state.schema.as_deref(), &[]) {
                Ok(Some(plan)) => {
                    let mut r = TextResult::new(&["node", "physical_tables", "sql", "plan"]);
                    let describe = router.describe(&plan);
                    for t in &plan.targets {
                        r.row(vec![
                            Some(self.proxy.cluster.nodes[t.node].name.clone()),
                            Some(t.tables.join(",")),
                            Some(t.sql.clone()),
                            Some(describe.clone()),
                        ]);
                    }
                    let _ = r.send(&mut self.client, self.caps, seq, self.status).await;
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    self.write_error_seq(&ProxyError::from(e), seq).await;
                    return;
                }
            }
        }
        let c = sql::classify(inner);
        let node = self.node_for_session();
        let plan = router::route(&c, &self.view(node));
        let node_name = self.proxy.cluster.nodes[plan.node].name.clone();
        let mut r = TextResult::new(&["node", "role", "reason", "sql"]);
        r.row(vec![
            Some(node_name),
            Some(plan.role.as_str().to_string()),
            Some(plan.reason.to_string()),
            Some(inner.trim().to_string()),
        ]);
        let _ = r.send(&mut self.client, self.caps, seq, self.status).await;
    }

    /// Backend thread currently serving this session on `node`, for KILL.
    pub fn current_backend(&self) -> Vec<(Arc<crate::backend::ServerPool>, u32)> {
        self.held
            .iter()
            .map(|h| (h.conn.pool().clone(), h.conn.connection_id))
            .collect()
    }
}
