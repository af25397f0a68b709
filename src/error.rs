//! Every failure the proxy can report to a client, as one typed enum, and its
//! single conversion to a MySQL error packet (code, SQLSTATE, message).
//!
//! Owns: the mapping failure → error code. Must not do I/O; whoever writes to
//! the client calls [`ProxyError::to_err_packet`] once.

use crate::wire::packets::ErrPacket;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// An error the backend sent: forwarded with its own code and SQLSTATE.
    #[error("{}", .0.message)]
    Backend(ErrPacket),
    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        user: String,
        host: String,
        using_password: bool,
    },
    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),
    #[error("Can't connect to backend '{server}' ({addr}): {reason}")]
    BackendConnect {
        server: String,
        addr: String,
        reason: String,
    },
    #[error("Lost connection to backend '{server}' during query: {reason}")]
    BackendLost { server: String, reason: String },
    #[error("Backend '{server}' did not answer within {millis} ms")]
    BackendTimeout { server: String, millis: u64 },
    #[error("Too many connections: no connection to backend '{server}' became free within {millis} ms (pool size {max})")]
    PoolExhausted {
        server: String,
        millis: u64,
        max: usize,
    },
    #[error("No {role} of node '{node}' is available: {reason}")]
    NoServerAvailable {
        node: String,
        role: &'static str,
        reason: String,
    },
    #[error("Unknown command")]
    UnknownCommand(u8),
    #[error("Malformed communication packet: {0}")]
    MalformedPacket(String),
    #[error("Got a packet bigger than 'max_allowed_packet' bytes")]
    PacketTooLarge,
    /// More COM_STMT_SEND_LONG_DATA than the proxy holds for a statement
    /// (MariaDB's own message and code for its limit).
    #[error("Parameter of prepared statement which is set through mysql_send_long_data() is longer than 'max_allowed_packet' bytes")]
    LongDataTooLong,
    /// The user's `max_user_connections` sessions are logged in already.
    #[error("User {0} already has more than 'max_user_connections' active connections")]
    TooManyUserConnections(String),
    #[error("Unknown prepared statement handler ({id}) given to {command}")]
    UnknownStatement { id: u32, command: &'static str },
    /// `COM_STMT_FETCH` of a statement whose cursor is not open (never
    /// opened, or closed after its last row).
    #[error("The statement ({0}) has no open cursor.")]
    NoOpenCursor(u32),
    #[error("Incorrect arguments to {0}")]
    WrongArguments(&'static str),
    #[error("This version of shardcat doesn't yet support '{0}'")]
    Unsupported(String),
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Routing(String),
    #[error("{0}")]
    Config(String),
    #[error("shardcat internal error: {0}")]
    Internal(String),
    /// A COMMIT across servers failed on `server` after `committed` had
    /// committed (the rest were rolled back).
    #[error("COMMIT failed on '{server}' ({cause}); already committed on: {}; the other servers were rolled back", if committed.is_empty() { "none".to_string() } else { committed.join(", ") })]
    CommitIncomplete {
        server: String,
        committed: Vec<String>,
        cause: String,
    },
    /// A two-phase commit did not commit: every node was rolled back.
    #[error("transaction rolled back on every node: {reason}")]
    XaRolledBack { reason: String },
    /// A two-phase commit whose decision could not be recorded or read
    /// back: its prepared branches are resolved by recovery.
    #[error("COMMIT outcome unknown ({cause}); XA transaction '{gtrid}' is prepared on the other nodes and will be resolved by recovery")]
    XaOutcomeUnknown { gtrid: String, cause: String },
    /// The statement waited in a deadlock across nodes and this
    /// transaction was chosen to break it (`frontend::deadlock`): rolled
    /// back on every node, as one server does.
    #[error("Deadlock found when trying to get lock; try restarting transaction")]
    DeadlockVictim,
    /// The client's connection broke (a write to it failed, or it closed
    /// while a statement ran): nothing can be reported to it.
    #[error("client connection lost")]
    ClientGone,
    /// A statement that needs the admin role (MySQL: SUPER and friends).
    #[error(
        "Access denied; you need (at least one of) the {privilege} privilege(s) for this operation"
    )]
    SpecificAccessDenied { privilege: &'static str },
    /// A table privilege the user's `privileges` list does not give.
    #[error("{command} command denied to user '{user}'@'{host}' for table '{table}'")]
    TableAccessDenied {
        command: &'static str,
        user: String,
        host: String,
        table: String,
    },
    /// A database the user's `privileges` list does not reach.
    #[error("Access denied for user '{user}'@'{host}' to database '{db}'")]
    DatabaseAccessDenied {
        user: String,
        host: String,
        db: String,
    },
    /// The tables of a statement could not be determined, so a user with a
    /// privilege list may not run it.
    #[error("{command} command denied to user '{user}'@'{host}': shardcat could not determine the tables this statement uses ({reason})")]
    UnverifiableStatement {
        command: &'static str,
        user: String,
        host: String,
        reason: String,
    },
    #[error("No database selected")]
    NoDatabaseSelected,
    #[error("Unknown thread id: {0}")]
    UnknownThread(u64),
    #[error("Cannot execute statement in a READ ONLY transaction")]
    ReadOnlyTransaction,
    /// The proxy is draining (SIGTERM): sent to sessions it closes.
    #[error("Server shutdown in progress")]
    ServerShutdown,
    /// Too many clients (all, or unauthenticated ones from one host).
    #[error("Too many connections")]
    TooManyConnections,
    /// The session holds `[server] max_prepared_statements` statements
    /// (MariaDB's `max_prepared_stmt_count` error, per connection here).
    #[error("Can't create more than max_prepared_stmt_count statements (current value: {0})")]
    TooManyPreparedStatements(usize),
    /// Too many failed logins from this address within the window.
    #[error("Host '{0}' is blocked because of many connection errors; it is unblocked when the failures age out of shardcat's auth_failure_window_s")]
    HostBlocked(String),
    /// TLS is required (`require_secure_transport`, a user's `require_tls`)
    /// and the client did not use it.
    #[error(
        "Connections using insecure transport are prohibited while --require_secure_transport=ON."
    )]
    InsecureTransport,
    /// The client asked for TLS and the TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
}

impl ProxyError {
    pub fn to_err_packet(&self) -> ErrPacket {
        let msg = self.to_string();
        match self {
            ProxyError::Backend(e) => e.clone(),
            ProxyError::AccessDenied { .. } => ErrPacket::new(1045, "28000", msg),
            ProxyError::InsecureTransport => ErrPacket::new(3159, "HY000", msg),
            ProxyError::TlsHandshake(_) => ErrPacket::new(2026, "HY000", msg),
            ProxyError::UnknownDatabase(_) => ErrPacket::new(1049, "42000", msg),
            ProxyError::BackendConnect { .. } => ErrPacket::new(2003, "HY000", msg),
            ProxyError::BackendLost { .. } => ErrPacket::new(2013, "HY000", msg),
            ProxyError::BackendTimeout { .. } => ErrPacket::new(1969, "70100", msg),
            ProxyError::PoolExhausted { .. } => ErrPacket::new(1040, "08004", msg),
            ProxyError::NoServerAvailable { .. } => ErrPacket::new(2003, "HY000", msg),
            ProxyError::UnknownCommand(_) => ErrPacket::new(1047, "08S01", msg),
            ProxyError::MalformedPacket(_) => ErrPacket::new(1835, "HY000", msg),
            ProxyError::PacketTooLarge => ErrPacket::new(1153, "08S01", msg),
            ProxyError::LongDataTooLong => ErrPacket::new(1105, "HY000", msg),
            ProxyError::TooManyUserConnections(_) => ErrPacket::new(1203, "42000", msg),
            ProxyError::UnknownStatement { .. } => ErrPacket::new(1243, "HY000", msg),
            ProxyError::NoOpenCursor(_) => ErrPacket::new(1421, "HY000", msg),
            ProxyError::WrongArguments(_) => ErrPacket::new(1210, "HY000", msg),
            ProxyError::Unsupported(_) => ErrPacket::new(1235, "42000", msg),
            ProxyError::Parse(_) => ErrPacket::new(1064, "42000", msg),
            ProxyError::Routing(_) => ErrPacket::new(1105, "HY000", msg),
            ProxyError::Config(_) => ErrPacket::new(1105, "HY000", msg),
            ProxyError::Internal(_) => ErrPacket::new(1105, "HY000", msg),
            ProxyError::CommitIncomplete { .. } => ErrPacket::new(1180, "HY000", msg),
            ProxyError::XaRolledBack { .. } => ErrPacket::new(1402, "XA100", msg),
            ProxyError::XaOutcomeUnknown { .. } => ErrPacket::new(1180, "HY000", msg),
            ProxyError::DeadlockVictim => ErrPacket::new(1213, "40001", msg),
            ProxyError::ClientGone => ErrPacket::new(2013, "HY000", msg),
            ProxyError::SpecificAccessDenied { .. } => ErrPacket::new(1227, "42000", msg),
            ProxyError::TableAccessDenied { .. } => ErrPacket::new(1142, "42000", msg),
            ProxyError::DatabaseAccessDenied { .. } => ErrPacket::new(1044, "42000", msg),
            ProxyError::UnverifiableStatement { .. } => ErrPacket::new(1142, "42000", msg),
            ProxyError::NoDatabaseSelected => ErrPacket::new(1046, "3D000", msg),
            ProxyError::UnknownThread(_) => ErrPacket::new(1094, "HY000", msg),
            ProxyError::ReadOnlyTransaction => ErrPacket::new(1792, "25006", msg),
            ProxyError::TooManyConnections => ErrPacket::new(1040, "08004", msg),
            ProxyError::TooManyPreparedStatements(_) => ErrPacket::new(1461, "42000", msg),
            ProxyError::ServerShutdown => ErrPacket::new(1053, "08S01", msg),
            ProxyError::HostBlocked(_) => ErrPacket::new(1129, "HY000", msg),
        }
    }

    /// True when the failure happened before the statement reached a backend
    /// (or the backend connection broke), so a read may be retried elsewhere.
    /// A replica refusing the session's current database: it has not
    /// replayed the `CREATE DATABASE` yet (the database was checked on the
    /// primary). The primary can serve the statement.
    pub fn is_unknown_database(&self) -> bool {
        matches!(self, ProxyError::Backend(p) if p.code == 1049)
    }

    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            ProxyError::BackendConnect { .. }
                | ProxyError::BackendLost { .. }
                | ProxyError::BackendTimeout { .. }
                | ProxyError::PoolExhausted { .. }
        )
    }
}

pub type Result<T, E = ProxyError> = std::result::Result<T, E>;
