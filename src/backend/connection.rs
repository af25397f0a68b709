//! One connection from the proxy to a MariaDB/MySQL server, on the same
//! packet codec as the client side so results can be forwarded without
//! decoding rows.
//!
//! The connection always negotiates `CLIENT_DEPRECATE_EOF` and
//! `CLIENT_SESSION_TRACK` (with every system variable, the schema and
//! state changes tracked), so the proxy learns from the server itself what a
//! statement changed in the session. `CLIENT_FOUND_ROWS` follows the client
//! and is part of the pool key.
//!
//! Owns: command write, packet read with timeouts, the state this
//! connection carries, and its prepared-statement cache; opening and the
//! handshake are in `connect`, the database-name mapping of nodes that
//! share a server in `answer_map`, the read watchdog in `silence`. Must not
//! decide routing or talk to clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use lru::LruCache;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakePacket;
use tokio::net::TcpStream;

use crate::wire::backend_tls::{BackendIo, TlsMode};

use crate::error::{ProxyError, Result};
use crate::session_state::SessionState;
use crate::wire::packets::MARIADB_EXTENDED_METADATA;
use crate::wire::packets::{
    is_err, is_terminator, put_lenenc_bytes, ErrPacket, OkPacket, Reader, SessionChange,
};
use crate::wire::{command, Packet, PacketStream};

pub use super::small_result::{first_column_text, read_small_result, read_small_result_named};

mod answer_map;
mod buffered;
mod connect;
use connect::TRACKING_SQL;
mod silence;

pub use answer_map::logical_message;

/// Collation the proxy's backend connections start with (utf8mb4_general_ci).
pub const BACKEND_COLLATION: u8 = 45;

/// What a server is in the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Primary,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        }
    }
}

/// Identity of one backend server.
#[derive(Debug)]
pub struct ServerInfo {
    /// `node/addr`, used in errors and status output.
    pub name: String,
    pub addr: String,
    pub node: usize,
    pub node_name: String,
    /// The role the configuration gives (metric labels keep it, so that a
    /// promotion does not start new series); the role now is
    /// [`ServerInfo::current_role`].
    pub role: Role,
    /// The role now: 1 primary, 0 replica (set by `Node::set_roles`).
    current: std::sync::atomic::AtomicBool,
    pub weight: u32,
    /// The server's `max_allowed_packet` as the health checker last read
    /// it; 0 while unknown. A command packet at least this large is
    /// answered with the server's own error without being sent
    /// (`execute::command`).
    pub max_packet: std::sync::atomic::AtomicUsize,
    /// The node's physical database names (`[[node]] database`); statements
    /// sent are rewritten to them and answers mapped back when it is not
    /// the default `{db}`.
    pub databases: Arc<crate::sql::database_names::DatabaseMap>,
}

impl ServerInfo {
    pub fn new(
        node: usize,
        node_name: &str,
        role: Role,
        addr: &str,
        weight: u32,
        databases: Arc<crate::sql::database_names::DatabaseMap>,
    ) -> ServerInfo {
        ServerInfo {
            name: format!("{node_name}/{addr}"),
            addr: addr.to_string(),
            node,
            node_name: node_name.to_string(),
            role,
            current: std::sync::atomic::AtomicBool::new(role == Role::Primary),
            weight,
            max_packet: Default::default(),
            databases,
        }
    }

    /// What the server is now (after promotions the health checker saw).
    pub fn current_role(&self) -> Role {
        match self.current.load(std::sync::atomic::Ordering::Relaxed) {
            true => Role::Primary,
            false => Role::Replica,
        }
    }

    pub fn set_current_role(&self, role: Role) {
        self.current
            .store(role == Role::Primary, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How to log in and how long to wait.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub user: String,
    pub password: String,
    pub connect_timeout: Duration,
    pub max_packet: usize,
    pub statement_cache: usize,
    /// `[backend] passthrough_idle_per_user`.
    pub passthrough_idle_per_user: usize,
    /// `[backend] tls`.
    pub tls: crate::wire::backend_tls::BackendTls,
    /// `[backend] unresponsive_timeout_ms` (zero: off); see [`silence`].
    pub unresponsive_timeout: Duration,
}

/// The recorded value of a variable whose value on the connection is not
/// known: equal to no value a session holds, so the next sync assigns it.
const UNKNOWN_VALUE: &str = "\u{0}unknown";

/// Whether `sql` starts with `SET STATEMENT` (after blanks and comments):
/// its variables last for the statement only.
///
/// Called for every COM_QUERY a backend connection sends, so the common
/// case is answered without the lexer: a text that after blanks starts
/// neither with the letters `SET` nor with a comment (`SELECT …`,
/// `UPDATE …`) is no `SET STATEMENT`.
pub fn sets_variables_for_statement(sql: &[u8]) -> bool {
    let Some(at) = sql
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
    else {
        return false;
    };
    let rest = &sql[at..];
    let may_be = match rest[0] {
        b'/' | b'#' | b'-' => true,
        b's' | b'S' => rest
            .get(..3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"SET")),
        _ => false,
    };
    if !may_be {
        return false;
    }
    let mut words = crate::sql::Lexer::new(sql).filter(|t| !t.is_trivia());
    let mut is = |word: &str| words.next().is_some_and(|t| t.is_keyword(sql, word));
    is("SET") && is("STATEMENT")
}

/// A statement prepared on this backend connection.
#[derive(Debug, Clone)]
pub struct BackendStatement {
    pub id: u32,
    pub params: u16,
    pub columns: u16,
}

/// How much of an unread answer [`BackendConn::settle`] reads before it
/// gives the connection up.
#[derive(Debug, Clone, Copy)]
pub struct SettleLimit {
    pub bytes: usize,
    pub time: Duration,
}

impl SettleLimit {
    /// Before the next command on a connection a session holds (its
    /// transaction's): the session waits for it.
    pub const INLINE: SettleLimit = SettleLimit {
        bytes: 4 << 20,
        time: Duration::from_millis(500),
    };
    /// In the background, before a connection goes back to the pool.
    pub const BACKGROUND: SettleLimit = SettleLimit {
        bytes: 64 << 20,
        time: Duration::from_secs(5),
    };
}

/// What a pooled connection was opened for: client capabilities that
/// change what the server sends, and the account it logged in as
/// (connections are only reused by sessions of the same flavor).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flavor {
    /// The client user's own account (`backend_auth = "passthrough"`);
    /// `None`: the `[backend]` account.
    pub login: Option<Arc<BackendLogin>>,
    /// `CLIENT_FOUND_ROWS`: affected rows count matched rows.
    pub found_rows: bool,
    /// MariaDB extended type info in column definitions (asked for; see
    /// [`BackendConn::extended_metadata`] for what the server agreed).
    pub extended_metadata: bool,
}

/// A pass-through user's login on the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendLogin {
    pub user: String,
    pub secret: crate::wire::auth::Secret,
}

pub struct BackendConn {
    stream: PacketStream<BackendIo>,
    pub server: Arc<ServerInfo>,
    pub connection_id: u32,
    pub server_version: String,
    pub caps: CapabilityFlags,
    pub flavor: Flavor,
    /// The server sends MariaDB extended metadata in column definitions.
    pub extended_metadata: bool,
    /// The session state this connection currently carries.
    pub state: SessionState,
    /// Status flags of the last OK/EOF from this server.
    pub status: u16,
    /// Set when the connection must not be reused (protocol desync, I/O
    /// error, interrupted result).
    pub broken: bool,
    pub last_used: Instant,
    /// What `LAST_INSERT_ID()` returns on this connection.
    pub last_insert_id: u64,
    /// The last statement left warnings or an error in the connection's
    /// diagnostics area; it is reset before another session uses it so
    /// `SHOW WARNINGS` never shows a stranger's messages.
    pub diagnostics_dirty: bool,
    /// The GTID session tracking reported for the last transaction this
    /// connection committed (`last_gtid`), until taken: a write whose OK
    /// the session does not see itself (several shards, COMMIT of a
    /// wrapping transaction) still gives read-your-writes its position.
    pub last_gtid: Option<String>,
    /// The answer of the last command was left unread in the middle of a
    /// result set (a merge stopped at its LIMIT, or failed on another
    /// shard): rows and a terminator may still arrive. [`settle`]
    /// (BackendConn::settle) reads them before the connection is used
    /// again.
    pub unread_rows: bool,
    /// The command running sets variables for its own duration only
    /// (`SET STATEMENT … FOR …`): what session tracking reports for it is
    /// not the connection's lasting state.
    pub scoped_variables: bool,
    /// Warnings reported by the terminator of the last command's answer
    /// (0 from the moment a command is sent).
    pub last_warnings: u16,
    /// Warnings read from this connection for a statement that ran on
    /// several (see `execute::warnings`), until the session takes them.
    pub warnings_read: crate::wire::warnings::WarningList,
    /// The client's numbers of the rows the write being run inserts (a
    /// split INSERT's part, `ShardTarget::rows`): its warnings' `at row N`
    /// are renumbered with them when read.
    pub warning_rows: Option<Arc<[u32]>>,
    statements: LruCache<Arc<str>, BackendStatement>,
    /// Statement ids to close before the next command (no reply is sent
    /// for COM_STMT_CLOSE, so they ride along with the next write).
    pending_close: Vec<u32>,
    /// The watchdog on reads (set once the session setup answered).
    silence: Option<Arc<silence::Silence>>,
    /// The watchdog's timer, moved forward per read (none registered per
    /// read); made at the first watched read.
    watchdog: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// Maps the answer being read back to logical database names (nodes
    /// with a `database` pattern only).
    answer: Option<answer_map::AnswerMap>,
}

impl BackendConn {
    /// Sends one command packet (sequence 0), preceded by any deferred
    /// statement closes.
    pub async fn send_command(&mut self, payload: &[u8]) -> Result<()> {
        self.send_commands(&[payload]).await
    }

    /// Sends several commands in one write, each starting at sequence 0
    /// (SEND_LONG_DATA packets before an execute get no reply), preceded by
    /// any deferred statement closes.
    pub async fn send_commands(&mut self, payloads: &[&[u8]]) -> Result<()> {
        self.begin_commands().await?;
        let mapped = self.map_databases(payloads);
        let rewritten: Vec<&[u8]>;
        let payloads: &[&[u8]] = match &mapped {
            Some(m) => {
                rewritten = m.iter().map(Vec::as_slice).collect();
                &rewritten
            }
            None => payloads,
        };
        for p in payloads {
            let mut seq = 0u8;
            self.stream.queue(&mut seq, p);
        }
        self.scoped_variables = payloads.last().is_some_and(|p| {
            p.first() == Some(&command::QUERY) && sets_variables_for_statement(&p[1..])
        });
        self.stream.flush().await.map_err(|e| self.lost(e))
    }

    /// [`BackendConn::send_command`] of a COM_QUERY of `sql`, framed
    /// straight into the write buffer (no payload of its own) unless the
    /// node maps database names (then built and mapped as any command).
    pub async fn send_query(&mut self, sql: &str) -> Result<()> {
        if !self.server.databases.is_identity() {
            let mut payload = Vec::with_capacity(sql.len() + 1);
            payload.push(command::QUERY);
            payload.extend_from_slice(sql.as_bytes());
            return self.send_command(&payload).await;
        }
        self.begin_commands().await?;
        self.answer = None;
        let mut seq = 0u8;
        self.stream.queue_with(&mut seq, |buf| {
            buf.push(command::QUERY);
            buf.extend_from_slice(sql.as_bytes());
        });
        self.scoped_variables = sets_variables_for_statement(sql.as_bytes());
        self.stream.flush().await.map_err(|e| self.lost(e))
    }

    /// Before a command is queued: the previous answer's unread rows
    /// settled, the deferred statement closes queued.
    async fn begin_commands(&mut self) -> Result<()> {
        if self.unread_rows {
            self.settle(SettleLimit::INLINE).await?;
        }
        self.last_used = Instant::now();
        self.last_warnings = 0;
        for id in std::mem::take(&mut self.pending_close) {
            let mut seq = 0u8;
            let mut p = [0u8; 5];
            p[0] = command::STMT_CLOSE;
            p[1..].copy_from_slice(&id.to_le_bytes());
            self.stream.queue(&mut seq, &p);
        }
        Ok(())
    }

    /// Queues one packet of a multi-packet exchange (the contents of a
    /// `LOAD DATA LOCAL INFILE` file) at `*seq`; flushed at the high-water
    /// mark and by [`BackendConn::flush`].
    pub async fn send_data(&mut self, seq: &mut u8, payload: &[u8]) -> Result<()> {
        match self.stream.send(seq, payload).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// Writes whatever [`BackendConn::send_data`] queued.
    pub async fn flush(&mut self) -> Result<()> {
        match self.stream.flush().await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.lost(e)),
        }
    }

    pub async fn read_packet(&mut self) -> Result<Packet> {
        loop {
            let p = self.read_raw_packet().await?;
            if let Some(p) = self.map_answer(p) {
                return Ok(p);
            }
        }
    }

    async fn read_raw_packet(&mut self) -> Result<Packet> {
        // Already here: no silence watchdog (a timer per packet) needed.
        match self.stream.buffered_packet() {
            Ok(Some(p)) => return Ok(p),
            Ok(None) => {}
            Err(e) => return Err(self.lost(e)),
        }
        if let Some(silence) = self.silence.clone() {
            return self.read_watched(silence).await;
        }
        match self.stream.read_packet().await {
            Ok(p) => Ok(p),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// Statements (COM_QUERY, COM_STMT_PREPARE) and COM_INIT_DB with this
    /// node's physical database names; `None` when nothing changes. The
    /// answer of a COM_QUERY or COM_INIT_DB is then mapped back as read.
    fn map_databases(&mut self, payloads: &[&[u8]]) -> Option<Vec<Vec<u8>>> {
        self.answer = None;
        if self.server.databases.is_identity() {
            return None;
        }
        let map = self.server.databases.clone();
        let opts = self.lex_options();
        let mut changed = false;
        let out = payloads
            .iter()
            .map(|p| {
                let body = p.get(1..).unwrap_or_default();
                let text = match p.first() {
                    Some(&(command::QUERY | command::STMT_PREPARE | command::INIT_DB)) => {
                        std::str::from_utf8(body).ok()
                    }
                    _ => None,
                };
                let mapped = match (p[0], text) {
                    (command::INIT_DB, Some(db)) => Some(map.physical(db).into_owned()),
                    (_, Some(sql)) => match map.rewrite_sql(sql, opts) {
                        std::borrow::Cow::Owned(s) => Some(s),
                        std::borrow::Cow::Borrowed(_) => None,
                    },
                    _ => None,
                };
                match mapped {
                    Some(new) => {
                        changed = true;
                        let mut v = Vec::with_capacity(new.len() + 1);
                        v.push(p[0]);
                        v.extend_from_slice(new.as_bytes());
                        v
                    }
                    None => p.to_vec(),
                }
            })
            .collect();
        let kind = match payloads.last().and_then(|p| p.first()) {
            Some(&(command::QUERY | command::INIT_DB)) => Some(answer_map::Answer::Text),
            Some(&command::STMT_EXECUTE) => Some(answer_map::Answer::Binary),
            Some(&command::STMT_PREPARE) => Some(answer_map::Answer::Prepare),
            _ => None,
        };
        // The statement's text (an execute's, from the prepared cache):
        // whether its rows may carry `DATABASE()` under another name.
        let text = payloads.last().and_then(|p| match p.first() {
            Some(&(command::QUERY | command::STMT_PREPARE)) => std::str::from_utf8(&p[1..]).ok(),
            Some(&command::STMT_EXECUTE) => {
                let id = u32::from_le_bytes(p.get(1..5)?.try_into().ok()?);
                let found = self.statements.iter().find(|(_, s)| s.id == id);
                found.map(|(sql, _)| &**sql)
            }
            _ => None,
        });
        let current_db = text.is_some_and(|t| answer_map::calls_current_database(t, opts));
        self.answer = kind.map(|k| answer_map::AnswerMap::new(map, k, current_db));
        changed.then_some(out)
    }

    /// How the server lexes statements on this connection (its `sql_mode`).
    fn lex_options(&self) -> crate::sql::LexOptions {
        let mode = self.state.var("sql_mode").unwrap_or("");
        let has = |flag: &str| mode.split(',').any(|m| m.eq_ignore_ascii_case(flag));
        crate::sql::LexOptions {
            no_backslash_escapes: has("NO_BACKSLASH_ESCAPES"),
            ansi_quotes: has("ANSI_QUOTES") || has("ANSI"),
        }
    }

    /// A packet of the answer being read, with physical database names
    /// mapped back; `None` when it is to be skipped (a row of another
    /// node's database).
    fn map_answer(&mut self, p: Packet) -> Option<Packet> {
        let Some(answer) = self.answer.as_mut() else {
            return Some(p);
        };
        let out = match answer.on_packet(&p.payload) {
            answer_map::Mapped::Keep => Some(p),
            answer_map::Mapped::Drop => None,
            answer_map::Mapped::Replace(v) => Some(Packet {
                seq: p.seq,
                payload: v.into(),
            }),
        };
        if answer.done() {
            self.answer = None;
        }
        out
    }

    /// Reads with an optional deadline; the connection is marked broken on
    /// timeout since the answer may still arrive later.
    pub async fn read_packet_within(&mut self, limit: Option<Duration>) -> Result<Packet> {
        match limit {
            None => self.read_packet().await,
            Some(d) => match self.buffered_or_within(d).await {
                Ok(Ok(p)) => match self.map_answer(p) {
                    Some(p) => Ok(p),
                    None => Box::pin(self.read_packet_within(limit)).await,
                },
                Ok(Err(e)) => Err(self.lost(e)),
                Err(_) => {
                    self.broken = true;
                    Err(ProxyError::BackendTimeout {
                        server: self.server.name.clone(),
                        millis: d.as_millis() as u64,
                    })
                }
            },
        }
    }

    /// The next raw packet within `d`; one already buffered whole needs no
    /// timer.
    async fn buffered_or_within(
        &mut self,
        d: Duration,
    ) -> std::result::Result<std::io::Result<Packet>, tokio::time::error::Elapsed> {
        match self.stream.buffered_packet() {
            Ok(Some(p)) => Ok(Ok(p)),
            Ok(None) => tokio::time::timeout(d, self.stream.read_packet()).await,
            Err(e) => Ok(Err(e)),
        }
    }

    /// Reads the rest of an answer left unread ([`BackendConn::unread_rows`])
    /// up to its terminator or error, within `limit`; beyond it the
    /// connection is marked broken (the server may still be producing
    /// rows: its statement must then be killed by whoever owns the pool).
    pub async fn settle(&mut self, limit: SettleLimit) -> Result<()> {
        if !self.unread_rows {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + limit.time;
        let mut bytes = 0usize;
        loop {
            if bytes > limit.bytes {
                self.broken = true;
                return Err(ProxyError::BackendTimeout {
                    server: self.server.name.clone(),
                    millis: limit.time.as_millis() as u64,
                });
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_packet()).await;
            let p = match read {
                Ok(Ok(p)) => p.payload,
                Ok(Err(e)) => return Err(self.lost(e)),
                Err(_) => {
                    self.broken = true;
                    return Err(ProxyError::BackendTimeout {
                        server: self.server.name.clone(),
                        millis: limit.time.as_millis() as u64,
                    });
                }
            };
            bytes += p.len();
            if is_err(&p) {
                break;
            }
            if is_terminator(&p) {
                self.absorb_ok(&p);
                break;
            }
        }
        self.unread_rows = false;
        self.answer = None;
        Ok(())
    }

    fn lost(&mut self, e: std::io::Error) -> ProxyError {
        self.broken = true;
        if e.kind() == std::io::ErrorKind::InvalidData {
            ProxyError::MalformedPacket(format!("from backend '{}': {e}", self.server.name))
        } else {
            ProxyError::BackendLost {
                server: self.server.name.clone(),
                reason: e.to_string(),
            }
        }
    }

    /// Applies what an OK packet says changed to this connection's state and
    /// returns the packet.
    pub fn absorb_ok(&mut self, payload: &[u8]) -> Option<OkPacket> {
        let ok = OkPacket::parse(payload, self.caps)?;
        self.status = ok.status;
        self.last_warnings = ok.warnings;
        if ok.warnings > 0 {
            // Another session must not see them (nor this one, once its
            // next statement runs elsewhere).
            self.diagnostics_dirty = true;
        }
        if ok.last_insert_id != 0 {
            self.last_insert_id = ok.last_insert_id;
        }
        for c in &ok.changes {
            match c {
                SessionChange::SystemVariable { name, value } => {
                    if name == "last_gtid" && !value.is_empty() {
                        self.last_gtid = Some(value.clone());
                    }
                    if self.scoped_variables && name != "last_gtid" {
                        // Restored when the statement ended, to a value
                        // tracking does not say: the next sync sets it.
                        self.state.record_var(name, UNKNOWN_VALUE)
                    } else {
                        self.state.record_var(name, value)
                    }
                }
                // A view or routine of another database reports its
                // schema and then "" (none again) under tracking.
                SessionChange::Schema(s) => {
                    let s = self.server.databases.logical(s).unwrap_or(s);
                    self.state.schema = crate::session_state::schema_from_tracking(s)
                }
                _ => {}
            }
        }
        Some(ok)
    }

    /// Runs statements whose results are not wanted (state sync, setup).
    /// Fails with the first error the server reports.
    pub async fn query_drop(&mut self, sql: &str) -> Result<()> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(command::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.send_command(&payload).await?;
        let mut first_err = None;
        loop {
            let p = self.read_packet().await?;
            let more = if is_err(&p.payload) {
                if first_err.is_none() {
                    first_err = ErrPacket::parse(&p.payload);
                }
                false
            } else if p.payload.first() == Some(&0x00) {
                let ok = self.absorb_ok(&p.payload);
                ok.map(|o| o.status & StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits() != 0)
                    .unwrap_or(false)
            } else {
                // A result set: skip columns and rows up to its terminator.
                loop {
                    let r = self.read_packet().await?;
                    if is_err(&r.payload) {
                        first_err.get_or_insert_with(|| {
                            ErrPacket::parse(&r.payload)
                                .unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error"))
                        });
                        break;
                    }
                    if is_terminator(&r.payload) {
                        self.absorb_ok(&r.payload);
                        break;
                    }
                }
                // The terminator's flags say whether more results follow.
                self.status & StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits() != 0
            };
            if !more {
                break;
            }
        }
        match first_err {
            Some(e) => Err(ProxyError::Backend(e)),
            None => Ok(()),
        }
    }

    /// Makes this connection carry `want` (database and session variables).
    pub async fn sync_state(&mut self, want: &SessionState) -> Result<()> {
        if self.diagnostics_dirty {
            self.reset_session().await?;
        }
        self.apply_state(want).await
    }

    /// Applies the session variables of `want` that differ, keeping
    /// everything else on the connection (for a connection the session
    /// holds: its diagnostics, user variables, temporary tables and current
    /// database are the session's own).
    pub async fn sync_variables(&mut self, want: &SessionState) -> Result<()> {
        if want.vars == self.state.vars {
            return Ok(());
        }
        let want = SessionState {
            schema: self.state.schema.clone(),
            vars: want.vars.clone(),
        };
        self.apply_state(&want).await
    }

    async fn apply_state(&mut self, want: &SessionState) -> Result<()> {
        // The usual case (the pool gave a connection in the wanted state):
        // one comparison instead of building the difference.
        if *want == self.state {
            // Shared from now on: the next comparison is a pointer's.
            self.state.share_vars(want);
            return Ok(());
        }
        if let Some(sql) = want.sync_sql(&self.state) {
            self.query_drop(&sql).await?;
            // Tracking reports what changed; take the wanted state as the
            // truth for what it did not report (e.g. DEFAULT resets).
            self.state = want.clone();
        }
        Ok(())
    }

    /// COM_RESET_CONNECTION: clears the diagnostics area and every piece of
    /// session state, then turns session tracking back on. The state is then
    /// unknown-but-default, so the next sync sets every session variable.
    pub async fn reset_session(&mut self) -> Result<()> {
        self.send_command(&[command::RESET_CONNECTION]).await?;
        let p = self.read_packet().await?;
        if let Some(e) = ErrPacket::parse(&p.payload) {
            self.broken = true;
            return Err(ProxyError::Backend(e));
        }
        self.absorb_ok(&p.payload);
        self.clear_statements();
        self.diagnostics_dirty = false;
        self.last_insert_id = 0;
        self.state = SessionState::default();
        self.query_drop(TRACKING_SQL).await
    }

    /// Makes `LAST_INSERT_ID()` on this connection return the session's
    /// value (it is per connection on the server).
    pub async fn sync_last_insert_id(&mut self, value: u64) -> Result<()> {
        if self.last_insert_id != value {
            self.query_drop(&format!("SET SESSION last_insert_id = {value}"))
                .await?;
            self.last_insert_id = value;
        }
        Ok(())
    }

    /// True when the server has not closed the socket or sent anything
    /// unsolicited (checked without blocking before reuse).
    pub fn looks_alive(&self) -> bool {
        if self.broken || self.stream.has_buffered_input() {
            return false;
        }
        let mut buf = [0u8; 1];
        // Pending means nothing to read: the socket is idle and open.
        let Some(tcp) = self.stream.get_ref().tcp() else {
            return false;
        };
        tcp.peek(&mut buf).now_or_never().is_none()
    }

    pub fn in_transaction(&self) -> bool {
        self.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0
    }

    pub fn cached_statement(&mut self, sql: &str) -> Option<BackendStatement> {
        self.statements.get(sql).cloned()
    }

    pub fn remember_statement(&mut self, sql: Arc<str>, stmt: BackendStatement) {
        if let Some((_, old)) = self.statements.push(sql, stmt) {
            // Evicted or replaced: close it on the server with the next command.
            self.pending_close.push(old.id);
        }
    }

    pub fn forget_statement(&mut self, sql: &str) {
        if let Some(old) = self.statements.pop(sql) {
            self.pending_close.push(old.id);
        }
    }

    /// Drops all statement bookkeeping (after COM_RESET_CONNECTION).
    pub fn clear_statements(&mut self) {
        self.statements.clear();
        self.pending_close.clear();
    }

    pub async fn close(mut self) {
        let mut seq = 0u8;
        self.stream.queue(&mut seq, &[command::QUIT]);
        let _ = tokio::time::timeout(Duration::from_millis(100), self.stream.shutdown()).await;
    }
}
