//! The client side: the listener, the shared runtime every session uses
//! ([`Proxy`]), and one task per client connection.
//!
//! Owns: accepting clients, connection ids, the session registry (for
//! KILL), admin answers about the running proxy. Must not parse SQL beyond
//! calling `sql`, nor hold backend connections outside sessions.

pub mod handshake;
pub mod local_result;
pub mod prepared;
pub mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};

use crate::backend::cluster::Cluster;
use crate::backend::{BackendConn, ServerPool};
use crate::config::Config;
use crate::error::ProxyError;
use crate::execute::ClientStream;
use crate::router::replica::ReplicaSelector;
use local_result::TextResult;

/// What a running session exposes to others (for KILL).
#[derive(Default)]
pub struct SessionHandle {
    /// Backend (server, thread id) pairs the session is using right now.
    pub backends: Mutex<Vec<(Arc<ServerPool>, u32)>>,
    pub user: Mutex<String>,
    pub kill: tokio::sync::Notify,
}

/// Shared runtime of the proxy.
pub struct Proxy {
    pub config: ArcSwap<Config>,
    pub cluster: Arc<Cluster>,
    pub server_version: String,
    pub replica_selector: ReplicaSelector,
    /// The sharding router for the configuration in force; `None` when no
    /// `[[table]]` rule exists.
    pub shard_router: arc_swap::ArcSwapOption<crate::router::shard::ShardRouter>,
    /// Unauthenticated connections and failed logins per source address.
    pub auth_guard: Arc<crate::security::auth_guard::AuthGuard>,
    /// Where the configuration was read from (for reloads).
    pub config_path: Mutex<Option<std::path::PathBuf>>,
    /// What operators graph (`ops::metrics`).
    pub metrics: crate::ops::metrics::Metrics,
    /// Statements over `[admin] slow_query_ms`.
    pub slow_log: crate::ops::slow_log::SlowLog,
    next_connection_id: AtomicU32,
    clients: AtomicUsize,
    sessions: Mutex<HashMap<u32, Arc<SessionHandle>>>,
}

/// Fallback greeting version when no backend answers at start-up.
const FALLBACK_VERSION: &str = "5.5.5-10.11.0-MariaDB-shardcat";

impl Proxy {
    /// Builds the runtime; asks the first node's primary for its version
    /// unless the configuration sets one.
    pub async fn new(config: Config) -> Arc<Proxy> {
        let cluster = Cluster::from_config(&config);
        let server_version = if !config.server.server_version.is_empty() {
            config.server.server_version.clone()
        } else {
            let pool = &cluster.nodes[0].primary;
            match BackendConn::connect(
                pool.server.clone(),
                pool.settings(),
                crate::backend::Flavor::default(),
            )
            .await
            {
                Ok(conn) => {
                    let v = conn.server_version.clone();
                    conn.close().await;
                    v
                }
                Err(e) => {
                    tracing::warn!(
                        "could not read the backend version ({e}); announcing {FALLBACK_VERSION}"
                    );
                    FALLBACK_VERSION.to_string()
                }
            }
        };
        // The rules were compiled once when the configuration was loaded.
        let shard_router = (!config.sharding.is_empty()).then(|| config.sharding.clone());
        let slow_path = (!config.admin.slow_log.is_empty())
            .then(|| std::path::PathBuf::from(&config.admin.slow_log));
        let slow_log =
            crate::ops::slow_log::SlowLog::open(slow_path.as_deref()).unwrap_or_else(|e| {
                tracing::error!(
                    "cannot open the slow query log: {e}; slow statements go to the log"
                );
                crate::ops::slow_log::SlowLog::default()
            });
        Arc::new(Proxy {
            metrics: crate::ops::metrics::Metrics::new(),
            slow_log,
            shard_router: arc_swap::ArcSwapOption::new(shard_router),
            config: ArcSwap::from_pointee(config),
            cluster,
            server_version,
            replica_selector: ReplicaSelector::default(),
            config_path: Mutex::new(None),
            auth_guard: Arc::default(),
            next_connection_id: AtomicU32::new(1),
            clients: AtomicUsize::new(0),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// Reloads the configuration file: validated whole (sharding rules
    /// included) before anything changes; on error the running
    /// configuration stays. Node addresses are fixed at start-up.
    pub fn reload(&self) -> Result<String, String> {
        let result = self.reload_config();
        let label = crate::ops::metrics::ResultLabels {
            result: if result.is_ok() { "ok" } else { "failed" },
        };
        self.metrics.reloads.get_or_create(&label).inc();
        result
    }

    fn reload_config(&self) -> Result<String, String> {
        let Some(path) = self.config_path.lock().clone() else {
            return Err("no configuration file to reload".into());
        };
        let new = Config::load(&path).map_err(|e| e.to_string())?;
        let old = self.config.load();
        let nodes = |c: &Config| -> Vec<(String, String, Vec<String>)> {
            c.nodes
                .iter()
                .map(|n| {
                    (
                        n.name.get_ref().clone(),
                        n.primary.get_ref().clone(),
                        n.replicas
                            .iter()
                            .map(|r| r.addr.get_ref().clone())
                            .collect(),
                    )
                })
                .collect()
        };
        if nodes(&new) != nodes(&old) {
            return Err(format!(
                "{}: [[node]] entries changed; adding, removing or moving servers needs a restart",
                path.display()
            ));
        }
        // Compiled (and validated) by `Config::load` once.
        let router = (!new.sharding.is_empty()).then(|| new.sharding.clone());
        self.shard_router.store(router);
        self.config.store(Arc::new(new));
        Ok(format!("configuration reloaded from {}", path.display()))
    }

    pub fn owns_connection_id(&self, id: u64) -> bool {
        u32::try_from(id).is_ok_and(|id| self.sessions.lock().contains_key(&id))
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Accepts clients until the listener fails.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let proxy = self.clone();
            tokio::spawn(async move { proxy.handle_client(tcp, peer).await });
        }
    }

    async fn handle_client(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr) {
        let _ = tcp.set_nodelay(true);
        let cfg = self.config.load_full();
        let id = self
            .next_connection_id
            .fetch_add(1, Ordering::Relaxed)
            .max(1);
        // Until the client has logged in, packets are small (see
        // PRE_AUTH_MAX_PACKET); max_allowed_packet applies afterwards.
        let mut client: ClientStream =
            crate::wire::PacketStream::new(tcp.into(), crate::config::PRE_AUTH_MAX_PACKET);
        let count = self.clients.fetch_add(1, Ordering::Relaxed) + 1;
        self.metrics.client_connections.inc();
        let _guard = ClientCount(self.clone());
        let refusal = if count > cfg.server.max_client_connections {
            Err(ProxyError::TooManyConnections)
        } else {
            use crate::security::auth_guard::Admission;
            match self.auth_guard.admit(peer.ip(), &cfg.security) {
                Ok(slot) => Ok(slot),
                Err(Admission::Blocked) => Err(ProxyError::HostBlocked(peer.ip().to_string())),
                Err(_) => Err(ProxyError::TooManyConnections),
            }
        };
        let pending = match refusal {
            Ok(slot) => slot,
            Err(e) => {
                tracing::info!(conn = id, %peer, "connection refused: {e}");
                let (mut seq, mut buf) = (0, Vec::new());
                e.to_err_packet().encode(&mut buf);
                client.queue(&mut seq, &buf);
                client.shutdown().await;
                return;
            }
        };
        let host = peer.ip().to_string();
        let timeout = Duration::from_millis(cfg.server.handshake_timeout_ms);
        let hello = match tokio::time::timeout(
            timeout,
            handshake::accept(
                &mut client,
                &cfg,
                &self.server_version,
                id,
                peer.ip(),
                &self.auth_guard,
            ),
        )
        .await
        {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                // Failed logins are logged (rate-limited) by the handshake.
                if !matches!(e, ProxyError::AccessDenied { .. }) {
                    let e = crate::logsafe::escape(&e.to_string());
                    tracing::info!(conn = id, %peer, "handshake failed: {e}");
                }
                client.shutdown().await;
                return;
            }
            Err(_) => {
                tracing::info!(conn = id, %peer, "handshake timed out");
                return;
            }
        };
        drop(pending);
        client.set_max_payload(cfg.server.max_allowed_packet);
        let handle = Arc::new(SessionHandle::default());
        *handle.user.lock() = hello.user.clone();
        self.sessions.lock().insert(id, handle.clone());
        let seq = hello.next_seq;
        let user = crate::ops::metrics::UserLabels {
            user: hello.user.clone(),
        };
        let mut session = session::Session::new(self.clone(), client, id, hello, host, handle);
        self.metrics.user_connections.get_or_create(&user).inc();
        if session.start(seq).await.is_ok() {
            session.run().await;
        }
        self.metrics.user_connections.get_or_create(&user).dec();
        self.sessions.lock().remove(&id);
    }

    /// KILL [QUERY] of a proxy connection id: KILL QUERY interrupts the
    /// statement on its backend; KILL (connection) also ends the session.
    pub async fn kill(&self, id: u32, query_only: bool, by: u32) -> Result<(), ProxyError> {
        let (handle, killer) = {
            let sessions = self.sessions.lock();
            (sessions.get(&id).cloned(), sessions.get(&by).cloned())
        };
        let Some(handle) = handle else {
            return Err(ProxyError::UnknownThread(id.into()));
        };
        // As MySQL without the CONNECTION ADMIN privilege: only your own
        // user's sessions.
        let same_user = killer.is_some_and(|k| *k.user.lock() == *handle.user.lock());
        if !same_user {
            return Err(ProxyError::Backend(crate::wire::packets::ErrPacket::new(
                1095,
                "HY000",
                format!("You are not owner of thread {id}"),
            )));
        }
        let targets: Vec<_> = handle.backends.lock().clone();
        for (pool, thread) in targets {
            kill_on_server(&pool, "KILL QUERY", thread).await;
        }
        if !query_only {
            handle.kill.notify_one();
        }
        Ok(())
    }

    /// `SHOW SHARDCAT AUTH`: per source address, failed logins in the
    /// window, connections in the handshake now, throttling state.
    pub fn auth_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "source",
            "failures",
            "unauthenticated",
            "state",
            "last_failure_s",
        ]);
        for row in self.auth_guard.rows(&self.config.load().security) {
            r.row(vec![
                Some(row.source),
                Some(row.failures.to_string()),
                Some(row.unauthenticated.to_string()),
                Some(row.state.to_string()),
                row.last_failure_s.map(|s| s.to_string()),
            ]);
        }
        r
    }

    /// `SHOW SHARDCAT BACKENDS`: per-server role, health, lag, load.
    pub fn backends_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "node",
            "role",
            "address",
            "weight",
            "healthy",
            "lag_ms",
            "in_flight",
            "routed",
            "errors",
            "idle",
            "busy",
        ]);
        for pool in self.cluster.all_pools() {
            let s = &pool.stats;
            let lag = s.lag_ms.load(Ordering::Relaxed);
            r.row(vec![
                Some(pool.server.node_name.clone()),
                Some(pool.server.role.as_str().to_string()),
                Some(pool.server.addr.clone()),
                Some(pool.server.weight.to_string()),
                Some(if pool.is_healthy() { "yes" } else { "no" }.to_string()),
                if lag < 0 { None } else { Some(lag.to_string()) },
                Some(s.in_flight.load(Ordering::Relaxed).to_string()),
                Some(s.routed.load(Ordering::Relaxed).to_string()),
                Some(s.errors.load(Ordering::Relaxed).to_string()),
                Some(pool.idle_count().to_string()),
                Some(pool.busy_count().to_string()),
            ]);
        }
        r
    }
}

struct ClientCount(Arc<Proxy>);

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.client_connections.dec();
    }
}

/// Sends `verb thread` (`KILL QUERY 42`) to the server of `pool` on a
/// connection of its own (the busy one cannot take commands).
async fn kill_on_server(pool: &ServerPool, verb: &str, thread: u32) {
    if let Ok(mut conn) = BackendConn::connect(
        pool.server.clone(),
        pool.settings(),
        crate::backend::Flavor::default(),
    )
    .await
    {
        let _ = conn.query_drop(&format!("{verb} {thread}")).await;
        conn.close().await;
    }
}

/// Ends backend connections the proxy has given up on (their statements
/// included) in the background: `KILL` of each connection id.
pub(crate) fn cancel_on_servers(targets: Vec<(Arc<ServerPool>, u32)>) {
    if targets.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for (pool, thread) in targets {
            kill_on_server(&pool, "KILL", thread).await;
        }
    });
}
