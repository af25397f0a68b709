//! The client side: the listener, the shared runtime every session uses
//! ([`Proxy`]), and one task per client connection.
//!
//! Owns: accepting clients, connection ids, the session registry (for
//! KILL), admin answers about the running proxy. Must not parse SQL beyond
//! calling `sql`, nor hold backend connections outside sessions.

pub mod admin_views;
pub mod auth_exchange;
pub mod deadlock;
pub mod handshake;
pub mod interrupt;
pub mod lifecycle;
pub mod local_result;
pub mod prepared;
pub mod session;
pub mod write_gate;

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

/// What a running session exposes to others (for KILL and the process
/// list).
#[derive(Default)]
pub struct SessionHandle {
    /// Backend (server, thread id) pairs the session is using right now.
    pub backends: Mutex<Vec<(Arc<ServerPool>, u32)>>,
    pub user: Mutex<String>,
    /// What stops its running statement or the session itself (`KILL`, a
    /// server marked down, a deadlock victim choice).
    pub interrupt: interrupt::Interrupt,
    /// What the process list shows of the session.
    pub activity: Mutex<Activity>,
    /// Its lock waits, for the cross-node deadlock detector.
    pub deadlock: deadlock::Slot,
}

/// A session's line of the process list.
#[derive(Debug, Clone)]
pub struct Activity {
    /// `address:port` of the client.
    pub host: String,
    pub db: Option<String>,
    /// The statement running (a view of the command's payload: no copy),
    /// `None` while idle.
    pub info: Option<bytes::Bytes>,
    pub busy: bool,
    pub since: std::time::Instant,
    /// `Query`, `Execute`, … while a command runs; `Sleep` between.
    pub command: &'static str,
    pub in_transaction: bool,
    /// Why the session holds backend connections between statements.
    pub pinned: &'static str,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            host: String::new(),
            db: None,
            info: None,
            busy: false,
            since: std::time::Instant::now(),
            command: "Sleep",
            in_transaction: false,
            pinned: "",
        }
    }
}

/// Longest statement text the process list keeps per session.
const PROCESS_INFO_MAX: usize = 4096;

impl SessionHandle {
    /// Records a command starting (`busy`, with its statement text if
    /// any) or the session going idle, `at` (since when).
    pub fn note(
        &self,
        db: Option<&str>,
        command: &'static str,
        text: Option<bytes::Bytes>,
        at: std::time::Instant,
    ) {
        let mut a = self.activity.lock();
        if a.db.as_deref() != db {
            a.db = db.map(str::to_string);
        }
        a.busy = command != "Sleep";
        a.command = command;
        a.info = text;
        a.since = at;
    }
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
    /// `caching_sha2_password` digests of users configured with its
    /// stored form, filled by full authentications.
    pub sha2_cache: Arc<crate::security::sha2_cache::Sha2Cache>,
    /// Where the configuration was read from (for reloads).
    pub config_path: Mutex<Option<std::path::PathBuf>>,
    /// What operators graph (`ops::metrics`).
    pub metrics: crate::ops::metrics::Metrics,
    /// Statements over `[admin] slow_query_ms`.
    pub slow_log: crate::ops::slow_log::SlowLog,
    /// Every statement by digest (`[admin] digests`).
    pub digests: crate::ops::digests::Digests,
    /// Writes paused by a shard move's switch (`SET SHARDCAT PAUSE …`).
    pub write_gates: Arc<write_gate::WriteGates>,
    /// Set once on SIGTERM/SIGINT: the listener stops, idle sessions close,
    /// sessions in a transaction close when it ends.
    draining: tokio::sync::watch::Sender<bool>,
    next_connection_id: AtomicU32,
    clients: AtomicUsize,
    sessions: Mutex<HashMap<u32, Arc<SessionHandle>>>,
    /// Logged-in sessions per user (`max_user_connections`).
    user_clients: Mutex<HashMap<String, usize>>,
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
            let pool = &cluster.nodes[0].primary();
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
        let proxy = Arc::new(Proxy {
            metrics: crate::ops::metrics::Metrics::new(config.id_generator.worker_id),
            slow_log,
            digests: Default::default(),
            write_gates: Arc::default(),
            shard_router: arc_swap::ArcSwapOption::new(shard_router),
            config: ArcSwap::from_pointee(config),
            cluster,
            server_version,
            replica_selector: ReplicaSelector::default(),
            config_path: Mutex::new(None),
            auth_guard: Arc::default(),
            sha2_cache: Arc::default(),
            draining: tokio::sync::watch::Sender::new(false),
            next_connection_id: AtomicU32::new(1),
            clients: AtomicUsize::new(0),
            sessions: Mutex::new(HashMap::new()),
            user_clients: Mutex::new(HashMap::new()),
        });
        interrupt::spawn_down_watch(&proxy);
        proxy
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
        if new.backend_tls_settings() != old.backend_tls_settings() {
            return Err(format!(
                "{}: [backend] or [[node]] tls/tls_ca/tls_cert/tls_key changed; the servers' connections take it at a restart",
                path.display()
            ));
        }
        // Compiled (and validated) by `Config::load` once.
        let router = (!new.sharding.is_empty()).then(|| new.sharding.clone());
        self.shard_router.store(router);
        crate::backend::xa_recovery::start_after_reload(
            &self.cluster,
            new.uses_xa(),
            Duration::from_millis(new.routing.xa_recovery_interval_ms),
        );
        // A user whose caching_sha2 stored form changed (or who is gone)
        // must log in by full authentication again.
        self.sha2_cache.retain(|user, stored| {
            new.user(user)
                .is_some_and(|u| u.password_hash.as_deref() == Some(stored))
        });
        self.config.store(Arc::new(new));
        Ok(format!("configuration reloaded from {}", path.display()))
    }

    pub fn owns_connection_id(&self, id: u64) -> bool {
        u32::try_from(id).is_ok_and(|id| self.sessions.lock().contains_key(&id))
    }

    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Starts draining (graceful shutdown): see [`Proxy::drain_signal`].
    pub fn start_draining(&self) {
        self.draining.send_replace(true);
        for (_, handle) in self.session_handles() {
            handle.interrupt.raise(interrupt::DRAIN);
        }
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// A receiver that turns `true` when draining starts.
    pub fn drain_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.draining.subscribe()
    }

    /// Accepts clients until draining starts (the listener is dropped then,
    /// so a successor bound with `SO_REUSEPORT` gets every new client).
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let mut drain = self.drain_signal();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = drain.wait_for(|d| *d) => return Ok(()),
            };
            let (tcp, peer) = match accepted {
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
                &self.sha2_cache,
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
        let handle = Arc::new(SessionHandle::default());
        *handle.user.lock() = hello.user.clone();
        {
            let mut a = handle.activity.lock();
            a.host = peer.to_string();
            a.db = hello.database.clone();
        }
        let limit = cfg.user(&hello.user).map_or(0, |u| u.max_user_connections);
        let Some(_user_slot) = UserCount::take(&self, &handle, limit) else {
            let e = ProxyError::TooManyUserConnections(hello.user.clone());
            tracing::info!(conn = id, %peer, "connection refused: {e}");
            let (mut seq, mut buf) = (hello.next_seq, Vec::new());
            e.to_err_packet().encode(&mut buf);
            client.queue(&mut seq, &buf);
            client.shutdown().await;
            return;
        };
        client.set_max_payload(cfg.server.max_allowed_packet);
        client.set_write_timeout(match cfg.server.client_write_timeout_ms {
            0 => None,
            ms => Some(std::time::Duration::from_millis(ms)),
        });
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
        // user's sessions (admins: any session).
        let allowed = killer.is_some_and(|k| {
            let by_user = k.user.lock().clone();
            by_user == *handle.user.lock()
                || self.config.load().user(&by_user).is_some_and(|u| u.admin)
        });
        if !allowed {
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
            handle.interrupt.raise(interrupt::KILL);
        }
        Ok(())
    }

    /// Every session's handle, with its id.
    pub fn session_handles(&self) -> Vec<(u32, Arc<SessionHandle>)> {
        self.sessions
            .lock()
            .iter()
            .map(|(id, h)| (*id, h.clone()))
            .collect()
    }

    /// The metrics text, with the sessions' pinned reasons counted now.
    pub fn metrics_text(&self) -> String {
        const PINNED: [&str; 4] = ["transaction", "session_state", "cursor", "diagnostics"];
        let handles: Vec<Arc<SessionHandle>> = self.sessions.lock().values().cloned().collect();
        let reasons = handles.iter().map(|h| h.activity.lock().pinned);
        self.metrics.set_pinned(&PINNED, reasons);
        // Shard moves: what the placement file records now (an unreadable
        // file leaves the last figures).
        let placement = crate::config::placement_file::path_for(&self.config.load().source);
        if let Ok(file) = crate::config::placement_file::PlacementFile::read(&placement) {
            self.metrics.set_moves(&file);
        }
        self.metrics.encode(&self.cluster)
    }

    /// The process list `user` sees: its own sessions, or every session
    /// for `all` (admins); by id.
    pub fn process_rows(
        &self,
        user: &str,
        all: bool,
    ) -> Vec<crate::security::processlist::ProcessRow> {
        let sessions: Vec<(u32, Arc<SessionHandle>)> = self
            .sessions
            .lock()
            .iter()
            .map(|(id, h)| (*id, h.clone()))
            .collect();
        let mut rows = Vec::new();
        for (id, h) in sessions {
            let owner = h.user.lock().clone();
            if !all && owner != user {
                continue;
            }
            let a = h.activity.lock().clone();
            rows.push(crate::security::processlist::ProcessRow {
                id,
                user: owner,
                host: a.host,
                db: a.db,
                command: if a.busy { "Query" } else { "Sleep" },
                time_ms: u64::try_from(a.since.elapsed().as_millis()).unwrap_or(u64::MAX),
                info: a.info.map(|t| {
                    let t = t.get(..PROCESS_INFO_MAX).unwrap_or(&t);
                    String::from_utf8_lossy(t).into_owned()
                }),
            });
        }
        rows.sort_by_key(|r| r.id);
        rows
    }
}

struct ClientCount(Arc<Proxy>);

/// One logged-in session, counted for its user (the session handle's
/// user at the end: COM_CHANGE_USER moves the count, see
/// [`Proxy::change_user_count`]) while it lives.
struct UserCount(Arc<Proxy>, Arc<SessionHandle>);

impl UserCount {
    /// A slot for one more session of `handle`'s user; `None` when
    /// `limit` (0: no limit) sessions of that user are logged in already.
    fn take(proxy: &Arc<Proxy>, handle: &Arc<SessionHandle>, limit: u32) -> Option<UserCount> {
        let user = handle.user.lock().clone();
        if !proxy.count_user(&user, limit) {
            return None;
        }
        Some(UserCount(proxy.clone(), handle.clone()))
    }
}

impl Drop for UserCount {
    fn drop(&mut self) {
        let user = self.1.user.lock().clone();
        self.0.uncount_user(&user);
    }
}

impl Proxy {
    /// Counts one more session of `user` unless `limit` (0: none) are in.
    fn count_user(&self, user: &str, limit: u32) -> bool {
        let mut counts = self.user_clients.lock();
        let n = counts.entry(user.to_string()).or_insert(0);
        if limit > 0 && *n >= limit as usize {
            return false;
        }
        *n += 1;
        true
    }

    fn uncount_user(&self, user: &str) {
        let mut counts = self.user_clients.lock();
        if let Some(n) = counts.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                counts.remove(user);
            }
        }
    }

    /// COM_CHANGE_USER from `from` to `to` (limit `limit`): moves the
    /// session's count; false (nothing moved) when `to` is at its limit.
    pub fn change_user_count(&self, from: &str, to: &str, limit: u32) -> bool {
        if from == to {
            return true;
        }
        if !self.count_user(to, limit) {
            return false;
        }
        self.uncount_user(from);
        true
    }
}

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
