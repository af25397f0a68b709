//! The sections of the configuration file other than the rules: `[server]`,
//! `[admin]`, `[backend]`, `[routing]`, `[[node]]` and `[[schema]]`, with
//! their defaults (re-exported by `config`).
//!
//! Owns: those sections' keys and default values. Must not: validate across
//! sections or load files (`Config::parse` does).

use serde::Deserialize;
use toml::Spanned;

/// `[server]`: the client-facing side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the proxy listens on.
    pub listen: String,
    /// Version string in the greeting. Empty: the default node's primary's
    /// own version, so drivers pick the right start-up statements.
    pub server_version: String,
    /// Largest packet accepted from or sent to a client, in bytes.
    pub max_allowed_packet: usize,
    /// Client connections beyond this are refused with error 1040. Also
    /// accepted as `max_connections` (MySQL's name).
    #[serde(alias = "max_connections")]
    pub max_client_connections: usize,
    /// Prepared statements one client connection may hold at once; one
    /// more gets error 1461 (MariaDB's `max_prepared_stmt_count`, counted
    /// per connection). COM_STMT_CLOSE and COM_RESET_CONNECTION free them.
    pub max_prepared_statements: usize,
    /// A client that reads nothing of an answer for this long (its socket
    /// stays full) is disconnected and its backend statement abandoned
    /// (MySQL's `net_write_timeout`). While it does not read, shardcat reads
    /// nothing more from the backend either (TCP flow control), so memory
    /// stays flat. 0 = wait forever.
    pub client_write_timeout_ms: u64,
    /// Auth plugin announced in the greeting: `mysql_native_password` or
    /// `caching_sha2_password` (both are accepted either way).
    pub auth_plugin: String,
    /// A client that does not finish its handshake within this is dropped.
    pub handshake_timeout_ms: u64,
    /// PEM certificate chain offered to clients asking for TLS (relative
    /// paths: from the configuration file's directory). With `tls_key`.
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
    /// Clients that do not use TLS are refused (error 3159).
    pub require_secure_transport: bool,
    /// PEM CA certificate(s) that client certificates are verified against
    /// (mutual TLS). Set: clients over TLS are asked for a certificate; one
    /// that does not verify fails the TLS handshake; none is still allowed
    /// unless the user has `require_x509`. Needs `tls_cert`.
    pub tls_client_ca: String,
    /// PEM RSA private key (PKCS#1 or PKCS#8, 2048 bits or more) for
    /// `caching_sha2_password` full authentication without TLS: clients
    /// ask for its public half and send the password encrypted with it.
    /// Not generated when absent: full authentication then needs TLS, and
    /// a client without it is refused with 1045, as MySQL does without
    /// its RSA keys. Relative paths: from the configuration file's
    /// directory.
    pub rsa_private_key: String,
    /// On SIGTERM/SIGINT the proxy stops accepting, closes idle sessions and
    /// lets open transactions finish for at most this long before it exits.
    pub shutdown_timeout_ms: u64,
    /// Bind the listener with `SO_REUSEPORT`, so a new instance can listen
    /// on the same port while the old one drains (rolling restarts).
    pub reuse_port: bool,
    /// Threads of the async runtime that serves clients and backends; 0:
    /// one per CPU the process may use. A session and its backend
    /// connections run on whichever worker picks them up, so with more
    /// workers than busy sessions a statement's wake-ups cross threads
    /// (see BENCHMARKS.md, issue 17 session 8). Read at start only.
    pub worker_threads: usize,
    /// The TLS settings read from `tls_cert`/`tls_key` by
    /// [`Config::parse`] (re-read on every reload); not a TOML key.
    #[serde(skip)]
    pub tls: Option<crate::wire::tls::ServerTls>,
    /// The key read from `rsa_private_key` (re-read on every reload); not
    /// a TOML key.
    #[serde(skip)]
    pub rsa: Option<std::sync::Arc<crate::wire::rsa_auth::RsaKeys>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:6033".into(),
            server_version: String::new(),
            max_allowed_packet: crate::wire::DEFAULT_MAX_PACKET,
            max_client_connections: 20_000,
            max_prepared_statements: 16_382,
            client_write_timeout_ms: 60_000,
            auth_plugin: crate::wire::auth::NATIVE_PASSWORD.into(),
            handshake_timeout_ms: 10_000,
            tls_cert: String::new(),
            tls_key: String::new(),
            require_secure_transport: false,
            tls_client_ca: String::new(),
            rsa_private_key: String::new(),
            shutdown_timeout_ms: 30_000,
            reuse_port: false,
            worker_threads: 0,
            tls: None,
            rsa: None,
        }
    }
}

/// `[admin]`: what operators observe the proxy through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// HTTP listener for `/metrics` (Prometheus), `/health` and a status
    /// page at `/`; off when empty. Keep it on loopback or a private
    /// network: it needs no password.
    pub http_listen: String,
    /// Client statements taking at least this long are written to the slow
    /// query log; 0 turns the log off.
    pub slow_query_ms: u64,
    /// The slow query log's file (JSON lines, appended); empty: the
    /// ordinary log (target `shardcat::slow`).
    pub slow_log: String,
    /// Count every statement by digest (`SHOW SHARDCAT DIGESTS`).
    pub digests: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            http_listen: String::new(),
            slow_query_ms: 1_000,
            slow_log: String::new(),
            digests: true,
        }
    }
}

/// `[backend]`: how the proxy connects to every MariaDB/MySQL server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendDefaults {
    pub user: String,
    pub password: String,
    /// Environment variable holding `password` instead (read at start and
    /// reload).
    pub password_env: String,
    /// TLS to the servers: `off`, `prefer`, `require`, `verify_ca`,
    /// `verify_identity`.
    pub tls: String,
    /// PEM file of the CA(s) for `verify_ca`/`verify_identity` (relative
    /// paths: from the configuration file's directory).
    pub tls_ca: String,
    /// PEM files of a client certificate (chain) and its private key,
    /// presented to servers that ask for one (both or neither).
    pub tls_cert: String,
    pub tls_key: String,
    /// Built from `tls`/`tls_ca`/`tls_cert`/`tls_key` at load.
    #[serde(skip)]
    pub tls_client: crate::wire::backend_tls::BackendTls,
    /// Connections per server and per client-flag variant.
    pub pool_max: usize,
    pub connect_timeout_ms: u64,
    /// Waiting longer than this for a free pooled connection fails with 1040.
    pub checkout_timeout_ms: u64,
    /// A statement whose answer does not start arriving within this fails
    /// (0 = no limit; stalled servers are still caught by the health checker).
    pub query_timeout_ms: u64,
    /// A server that sends no byte of an answer for this long, and does not
    /// greet a new connection within it either, is given up: the statement
    /// fails with 2013 (a read outside a transaction is retried elsewhere).
    /// Bounds what a client waits on a frozen or black-holed server; a slow
    /// statement on a live server is not cut. 0 = off.
    pub unresponsive_timeout_ms: u64,
    /// Idle pooled connections older than this are closed.
    pub idle_timeout_ms: u64,
    /// Idle connections kept per server for each `backend_auth =
    /// "passthrough"` user (more are closed when given back; they also
    /// count against `pool_max`).
    pub passthrough_idle_per_user: usize,
    /// Prepared statements kept per backend connection (least recently used
    /// are closed beyond this).
    pub statement_cache: usize,
    /// Health check interval and timeout.
    pub health_interval_ms: u64,
    pub health_timeout_ms: u64,
    /// Follow promotions: each node's primary is the server the health
    /// checks find writable and not replicating (`backend::roles`), not
    /// only the configured one. Off: the configured roles, always.
    pub detect_roles: bool,
}

impl Default for BackendDefaults {
    fn default() -> Self {
        BackendDefaults {
            user: "root".into(),
            password: String::new(),
            password_env: String::new(),
            tls: String::new(),
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client: Default::default(),
            pool_max: 64,
            connect_timeout_ms: 2_000,
            checkout_timeout_ms: 5_000,
            query_timeout_ms: 0,
            unresponsive_timeout_ms: 5_000,
            idle_timeout_ms: 300_000,
            passthrough_idle_per_user: 4,
            statement_cache: 256,
            health_interval_ms: 1_000,
            health_timeout_ms: 2_000,
            detect_roles: true,
        }
    }
}

/// Read/write-split consistency for reads after writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Plain splitting: a read may not see the session's own recent write.
    Eventual,
    /// A session's reads see its own writes (GTID wait on the replica, or the
    /// primary when the replica cannot catch up in time).
    #[default]
    Session,
    /// Every read goes to the primary.
    Strong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaPolicy {
    #[default]
    RoundRobin,
    Weighted,
    LeastOutstanding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoReplicaFallback {
    #[default]
    Primary,
    Fail,
}

/// `[routing]`: read/write splitting policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Send plain reads outside transactions to replicas.
    pub read_write_split: bool,
    pub consistency: Consistency,
    pub replica_policy: ReplicaPolicy,
    /// Replicas lagging more than this many seconds take no reads.
    pub max_replication_lag_s: u64,
    /// Where reads go when no replica is usable.
    pub no_replica: NoReplicaFallback,
    /// How long a `session`-consistency read waits for a replica to reach
    /// the session's last write before it goes to the primary instead.
    pub gtid_wait_timeout_ms: u64,
    /// Refuse UPDATE/DELETE on a sharded table whose WHERE does not pin the
    /// sharding key (instead of running it on every shard).
    pub refuse_unkeyed_writes: bool,
    /// Sharding plans kept (least recently used are dropped beyond this).
    pub plan_cache: usize,
    /// Groups and distinct values a cross-shard merge may hold in memory
    /// (GROUP BY not on the key, DISTINCT, DISTINCT aggregates); beyond it
    /// the statement fails with a clear error instead of growing.
    pub merge_max_groups: usize,
    /// Rows one sharding-key UPDATE may move between shards (they are held
    /// in memory); beyond it the statement fails and changes nothing.
    pub move_max_rows: usize,
    /// Rows the SELECT of one `INSERT … SELECT` into a sharded table may
    /// produce (they are held in memory before they are written); beyond
    /// it the statement fails and writes nothing.
    pub insert_select_max_rows: usize,
    /// Values an `IN (SELECT …)` subquery pulled out of a cross-shard
    /// statement may return (they become the statement's literal list);
    /// beyond it the statement fails with a clear error.
    pub subquery_max_values: usize,
    /// How a transaction or statement writing on several nodes commits.
    pub transactions: TransactionMode,
    /// How often prepared XA branches left behind are resolved.
    pub xa_recovery_interval_ms: u64,
    /// How often the cross-node deadlock detector looks at statements of
    /// transactions waiting for an answer; a statement waiting longer than
    /// this makes it read the servers' lock waits (`frontend::deadlock`).
    /// 0 turns it off (such deadlocks then end at the servers'
    /// `innodb_lock_wait_timeout`).
    pub deadlock_check_ms: u64,
    /// A read outside a transaction whose answer has not started within
    /// its stall deadline (`stall_p99_factor` × the server's recent p99
    /// first-byte time, at least `stall_floor_ms`, at most `stall_max_ms`)
    /// questions the server; a frozen one is marked suspect and the read
    /// retried on another replica or the primary. 0 turns this off.
    pub stall_floor_ms: u64,
    pub stall_p99_factor: f64,
    pub stall_max_ms: u64,
    /// Connections one statement on several physical tables takes per node
    /// at most (never more than `pool_max`); further tables of the node run
    /// after others on the same connections.
    pub scatter_connections_per_node: usize,
    /// A read of several physical tables of one node in a session pinned
    /// to one connection per node (a transaction, table locks) is one
    /// `UNION ALL` per node where it can be (see README). Off by default:
    /// the client then gets the UNION's column definitions (no table
    /// names, no key flags) when every node holds several tables.
    pub node_unions: bool,
    /// Seconds between runs of the create-ahead job for `time_range`
    /// tables (`shardcat tables ensure` in the proxy); 0 = off.
    pub tables_ensure_interval_s: u64,
    /// Seconds between runs of the retention job (`shardcat tables
    /// retire`); 0 = off (the default).
    pub tables_retire_interval_s: u64,
    /// Where the retention job moves retired tables; empty = drop them.
    pub tables_archive_schema: String,
}

/// `[routing] transactions`: `xa` (two-phase commit across nodes) or
/// `best_effort` (COMMIT node after node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionMode {
    Xa,
    BestEffort,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            read_write_split: true,
            consistency: Consistency::Session,
            replica_policy: ReplicaPolicy::RoundRobin,
            max_replication_lag_s: 10,
            no_replica: NoReplicaFallback::Primary,
            gtid_wait_timeout_ms: 50,
            refuse_unkeyed_writes: false,
            plan_cache: 1024,
            merge_max_groups: 1_000_000,
            move_max_rows: 100_000,
            insert_select_max_rows: 100_000,
            subquery_max_values: 100_000,
            transactions: TransactionMode::Xa,
            xa_recovery_interval_ms: 10_000,
            deadlock_check_ms: 200,
            stall_floor_ms: 150,
            stall_p99_factor: 10.0,
            stall_max_ms: 500,
            scatter_connections_per_node: 8,
            node_unions: false,
            tables_ensure_interval_s: 600,
            tables_retire_interval_s: 0,
            tables_archive_schema: String::new(),
        }
    }
}

impl RoutingConfig {
    /// How stall deadlines are derived; `None` when turned off.
    pub fn stall_policy(&self) -> Option<crate::backend::stall::StallPolicy> {
        (self.stall_floor_ms > 0).then(|| crate::backend::stall::StallPolicy {
            floor: std::time::Duration::from_millis(self.stall_floor_ms),
            p99_factor: self.stall_p99_factor,
            max: std::time::Duration::from_millis(self.stall_max_ms),
        })
    }
}

/// `[[node]]`: a replication group, one primary and zero or more replicas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub name: Spanned<String>,
    pub primary: Spanned<String>,
    #[serde(default)]
    pub replicas: Vec<ReplicaConfig>,
    /// Overrides `[backend] tls` for this node's servers.
    #[serde(default)]
    pub tls: Option<String>,
    /// Overrides `[backend] tls_ca` for this node's servers.
    #[serde(default)]
    pub tls_ca: Option<String>,
    /// The node's physical name of every logical database, as a pattern
    /// over the logical name (`"{db}_0"`): several nodes can then live on
    /// one server as different databases. Default `"{db}"` (the same name).
    #[serde(default)]
    pub database: Option<Spanned<String>>,
    /// Built at load when `tls` or `tls_ca` is set (else `[backend]`'s).
    #[serde(skip)]
    pub tls_client: Option<crate::wire::backend_tls::BackendTls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    pub addr: Spanned<String>,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl NodeConfig {
    /// The node's database name mapping (`database`; the default keeps
    /// names). A bad pattern was refused by validation: it maps nothing.
    pub fn databases(&self) -> crate::sql::database_names::DatabaseMap {
        self.database
            .as_ref()
            .and_then(|p| crate::sql::database_names::DatabaseMap::parse(p.get_ref()).ok())
            .unwrap_or_default()
    }

    /// Every server address of the node (primary first).
    pub fn addrs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.get_ref().as_str())
            .chain(self.replicas.iter().map(|r| r.addr.get_ref().as_str()))
    }
}

fn default_weight() -> u32 {
    1
}

/// `[[schema]]`: where a database lives (vertical placement). Databases not
/// listed live on the first node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    pub name: Spanned<String>,
    pub node: Spanned<String>,
}
