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
use std::sync::Arc;
use std::time::Duration;

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::handshake::ClientHello;
use super::prepared::ClientStatement;
use super::Proxy;
use crate::backend::{PooledConn, Role};
use crate::config::Consistency;
use crate::error::{ProxyError, Result};
use crate::execute::{ClientStream, Outcome};
use crate::router::RoutePlan;
use crate::session_state::{Pins, SessionState};
use crate::sql::{self, Classified};
use crate::wire::command;
use crate::wire::packets::{ErrPacket, Reader};

mod admin;
mod admin_gates;
mod answer_watch;
mod atomic_write;
mod connections;
mod cursor;
mod diagnostics;
mod execute_one;
mod guard;
mod insert_select;
mod key_move;
mod load_data;
mod metadata;
mod observe;
mod oversized;
mod period_reads;
mod pinned_reads;
mod pull_out;
mod query;
mod reply;
mod run_plan;
mod select_limit;
mod shard_freshness;
mod sharded;
mod sharded_prepared;
mod shared_scatter;
mod statement_end;
mod stmt;
mod transaction_end;
mod xa_tx;

/// How long an idle session keeps a connection only so that `SHOW
/// WARNINGS` or `FOUND_ROWS()` can reach the server that ran its last
/// statement.
const DIAGNOSTICS_HOLD: Duration = Duration::from_secs(2);

/// Where the session's timer rests while no statement needs it (far
/// away: it is moved, not fired).
const IDLE_TIMER: Duration = Duration::from_secs(86_400);

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
    /// The user's own login on the servers (`backend_auth =
    /// "passthrough"`): every backend connection of this session logs in
    /// with it. `None`: the `[backend]` account.
    login: Option<Arc<crate::backend::connection::BackendLogin>>,
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
    /// Replicas known to have applied `last_gtid` of a node, as (node,
    /// address): reads of that node there need not wait again. By node
    /// too: nodes sharing a server (`[[node]] database`) have positions
    /// of their own, and a replica confirmed for one is not for another.
    gtid_confirmed: Vec<(usize, String)>,
    statements: HashMap<u32, ClientStatement, std::hash::BuildHasherDefault<IdHasher>>,
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
    /// The open transaction's savepoint statements, in order: replayed
    /// after `transaction_start` on every further node it reaches.
    savepoints: Vec<String>,
    /// The open transaction's XA branches (`[routing] transactions = "xa"`).
    xa: xa_tx::XaTx,
    /// An id the proxy generated for the running INSERT (sharded tables
    /// with an id generator): the OK reports it.
    override_last_insert_id: Option<u64>,
    /// Physical → logical table names for the column definitions of the
    /// statement being relayed (set by `run_plan` for one shard).
    column_tables: Option<crate::router::shard::LogicalNames>,
    /// Column definitions renamed with `column_tables` before (copied
    /// rather than renamed again).
    renamed_defs: crate::execute::renamed_defs::RenamedDefs,
    /// The client negotiated MariaDB extended type info.
    extended_metadata: bool,
    /// While a plan on `time_range` period tables runs: the 1146 naming
    /// the logical table and period, sent instead of the server's.
    missing_table: Option<ErrPacket>,
    /// The running statement reads no table (`SELECT 1`): it does not
    /// reset the diagnostics area, so it may run where the warnings are.
    tableless_read: bool,
    /// The running statement uses no table (`SET`, `DO`, `SELECT` without
    /// `FROM`, `BEGIN`, `USE` …): as on the server, it keeps the
    /// diagnostics area unless it raises a condition itself.
    keeps_diagnostics: bool,
    /// A server rolled the open transaction back on its own (a deadlock,
    /// 1213 or 1614): the rest of the transaction, on the other nodes, is
    /// rolled back before the next command, as one server's whole
    /// transaction would be.
    server_rolled_back: bool,
    /// The sharding rules a running transaction started with.
    tx_router: Option<Arc<crate::router::shard::ShardRouter>>,
    /// The placement epoch `tx_router` was taken at: a shard move's switch
    /// bumps it, and the transaction continues on the switched rules.
    tx_epoch: u64,
    /// The open transaction's registration with the write gates (from its
    /// first sharded write to its end).
    tx_in_flight: Option<crate::frontend::write_gate::InFlight>,
    /// `LOCK TABLES` on sharded or broadcast tables in force.
    table_locks: metadata::TableLocks,
    /// Until when the running command may wait for pooled connections
    /// (`checkout_timeout_ms` from its first wait): one deadline for the
    /// command, whatever servers and retries it tries.
    checkout_deadline: Option<std::time::Instant>,
    handle: Arc<super::SessionHandle>,
    /// The timer of the query timeout and stall deadline of relayed
    /// answers (`answer_watch`): one per session, moved forward per
    /// statement instead of a timer registered per statement.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// What the running statement did, for metrics and the slow log.
    stat: observe::Stat,
    /// The security gate's classification of the running COM_QUERY (the
    /// same bytes and lexing options `query` would classify).
    pre_classified: Option<sql::Classified>,
    /// The tokens of `pre_classified`'s text, for the sharding router's
    /// shape scan (one lexer pass per statement instead of two).
    kept_tokens: sql::classify::KeptTokens,
    /// The text shapes this session planned recently, with their
    /// analyses (`router::shard::TextShapes`).
    text_shapes: crate::router::shard::TextShapes,
    /// The last `sql_mode` text read and its lexer options.
    lex_cache: Option<(String, sql::LexOptions)>,
    /// Scratch space of the query digest's normalized text (reused).
    digest_buf: Vec<u8>,
    /// This session's user counters (looked up once, not per statement).
    user_metrics: observe::UserMetrics,
    /// The warnings of the last statement, when it ran on several
    /// connections: `SHOW WARNINGS` and the counts are answered from them
    /// until a statement resets the diagnostics (see `diagnostics`).
    shard_warnings: Option<crate::wire::warnings::WarningList>,
    /// `ROW_COUNT` of the last statement when it ran on several
    /// connections and succeeded (`GET DIAGNOSTICS @r = ROW_COUNT`); reset
    /// with `shard_warnings`.
    shard_row_count: Option<i64>,
    /// Warnings gathered from the connections of the running statement.
    statement_warnings: crate::wire::warnings::WarningList,
    /// Open cursors on merged results (sharded prepared statements), by
    /// client statement id.
    merged_cursors: HashMap<u32, cursor::MergedCursor>,
}

/// Result of running one command on one backend.
struct Ran {
    outcome: Outcome,
    node: usize,
}

/// Hashes the session's prepared-statement ids with one multiplication
/// instead of SipHash (looked up several times per COM_STMT_EXECUTE). The
/// ids are the proxy's own, handed out in sequence: a client cannot choose
/// the keys inserted, so there is no flooding to resist.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
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
            login: hello.login,
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
            statements: HashMap::default(),
            next_statement_id: 1,
            cursor_statement: None,
            pending_transaction: None,
            transaction_start: Vec::new(),
            savepoints: Vec::new(),
            xa: xa_tx::XaTx::default(),
            override_last_insert_id: None,
            column_tables: None,
            renamed_defs: Default::default(),
            extended_metadata: hello.extended_metadata,
            missing_table: None,
            tx_router: None,
            tx_epoch: 0,
            tx_in_flight: None,
            table_locks: metadata::TableLocks::default(),
            checkout_deadline: None,
            tableless_read: false,
            server_rolled_back: false,
            keeps_diagnostics: false,
            stat: observe::Stat::default(),
            pre_classified: None,
            kept_tokens: Default::default(),
            text_shapes: Default::default(),
            lex_cache: None,
            digest_buf: Vec::new(),
            user_metrics: observe::UserMetrics::default(),
            shard_warnings: None,
            shard_row_count: None,
            statement_warnings: Default::default(),
            merged_cursors: HashMap::new(),
            handle,
            timer: Box::pin(tokio::time::sleep(IDLE_TIMER)),
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

    /// The command loop; returns when the client quits or goes away, or
    /// when the proxy drains and the session is outside a transaction.
    pub async fn run(&mut self) {
        use super::interrupt::{DRAIN, KILL};
        let handle = self.handle.clone();
        if self.proxy.is_draining() {
            // Drained before this session was registered to hear it.
            handle.interrupt.raise(DRAIN);
        }
        loop {
            // `KILL` of an idle session closes it at once, as in MySQL; a
            // drain, once outside a transaction. (One signal, polled in
            // place: nothing registered per command.)
            let mask = match self.pins.transaction {
                true => KILL,
                false => KILL | DRAIN,
            };
            let next = tokio::select! {
                biased;
                bits = handle.interrupt.raised(mask) => match bits & KILL {
                    0 => None,
                    _ => break,
                },
                p = self.next_command() => Some(p),
            };
            let Some(next) = next else {
                // As a server shutting down: an unsolicited 1053 (08S01, a
                // connection error drivers retry elsewhere), then close.
                let mut seq = 1;
                self.write_error_seq(&ProxyError::ServerShutdown, &mut seq)
                    .await;
                let _ = self.client.flush().await;
                break;
            };
            let packet = match next {
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
            self.keeps_diagnostics = false;
            self.checkout_deadline = None;
            let Some(&cmd) = payload.first() else {
                self.write_error_seq(&ProxyError::UnknownCommand(0), &mut seq)
                    .await;
                if self.client.flush().await.is_err() {
                    break;
                }
                continue;
            };
            let started = std::time::Instant::now();
            self.stat = observe::Stat::default();
            self.pre_classified = None;
            self.kept_tokens.clear();
            if self.every_server_refuses(cmd, payload.len()) {
                self.write_error_seq(&ProxyError::PacketTooLarge, &mut seq)
                    .await;
                if self.client.flush().await.is_err() {
                    break;
                }
                continue;
            }
            self.note_activity(Some(&payload), started);
            let Some(payload) = self.security_gate(payload, &mut seq).await else {
                self.note_activity(None, std::time::Instant::now());
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
            let flushed = self.client.flush().await.is_ok();
            if std::mem::take(&mut self.server_rolled_back) {
                self.roll_back_after_server_rollback().await;
            }
            // One clock reading for the end of the command.
            let ended = std::time::Instant::now();
            self.note_activity(None, ended);
            if matches!(cmd, command::QUERY | command::STMT_EXECUTE) {
                self.observe(cmd, &payload, ended.saturating_duration_since(started));
            }
            self.show_idle();
            if !flushed || !keep_going {
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

    // ----- connections ---------------------------------------------------

    // ----- COM_QUERY -----------------------------------------------------

    /// [`lex_options`](Self::lex_options), remembered for the `sql_mode`
    /// text it was read from (the security gate asks for every statement;
    /// the text rarely changes).
    fn lex_options_cached(&mut self) -> sql::LexOptions {
        let mode = self.state.var("sql_mode").unwrap_or("");
        if let Some((seen, opts)) = &self.lex_cache {
            if seen == mode {
                return *opts;
            }
        }
        let mode = mode.to_string();
        let opts = self.lex_options();
        self.lex_cache = Some((mode, opts));
        opts
    }

    /// How the server will lex this session's statements (its `sql_mode`):
    /// a backslash or a double quote must end strings where it does there.
    fn lex_options(&self) -> sql::LexOptions {
        let mode = self.state.var("sql_mode").unwrap_or("");
        // Usually neither flag is there: two searches instead of a split.
        let search = crate::sql::search::contains_ignore_case;
        if !search(mode.as_bytes(), b"NO_BACKSLASH") && !search(mode.as_bytes(), b"ANSI") {
            return sql::LexOptions::default();
        }
        let has = |flag: &str| mode.split(',').any(|m| m.eq_ignore_ascii_case(flag));
        sql::LexOptions {
            no_backslash_escapes: has("NO_BACKSLASH_ESCAPES"),
            ansi_quotes: has("ANSI_QUOTES") || has("ANSI"),
        }
    }

    // ----- prepared statements -------------------------------------------

    // ----- KILL and admin statements --------------------------------------

    /// Backend thread currently serving this session on `node`, for KILL.
    pub fn current_backend(&self) -> Vec<(Arc<crate::backend::ServerPool>, u32)> {
        self.held
            .iter()
            .map(|h| (h.conn.pool().clone(), h.conn.connection_id))
            .collect()
    }
}
