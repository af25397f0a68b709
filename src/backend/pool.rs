//! A pool of connections to one server, and the live figures of that server
//! (health, lag, in-flight and routed counts) that routing reads.
//!
//! Pooled connections belong to no session: a session checks one out, makes
//! it carry its own state (`BackendConn::sync_state`), uses it, and releases
//! it. The pool prefers an idle connection already in the wanted state.
//!
//! Owns: connection reuse, size limits, checkout timeouts, idle expiry.
//! Must not decide routing.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::{BackendConn, ConnectSettings, Flavor, ServerInfo, SettleLimit};
use crate::error::{ProxyError, Result};
use crate::session_state::SessionState;

/// Live figures of one server, read by routing and status output.
#[derive(Debug)]
pub struct ServerStats {
    pub healthy: AtomicBool,
    /// Drained by an operator (`SET SHARDCAT BACKEND … OFFLINE`): no new
    /// statements; connections held by open transactions finish there.
    pub offline: AtomicBool,
    /// Replication lag in milliseconds; -1 when unknown (stopped SQL
    /// thread, not a replica, never measured).
    pub lag_ms: AtomicI64,
    pub in_flight: AtomicI64,
    pub routed: AtomicU64,
    pub errors: AtomicU64,
    /// Connections opened to the server (pool churn).
    pub created: AtomicU64,
    /// Connections whose unread answer was read to its end in the
    /// background and that went back to the pool instead of being closed.
    pub settled: AtomicU64,
    /// Bumped each time the server is marked down, so statements running on
    /// it can notice and give up instead of hanging.
    pub down_epoch: tokio::sync::watch::Sender<u64>,
    /// First-byte times, last answer, suspect flag (`backend::stall`).
    pub stall: super::stall::StallStats,
    /// How long checkouts waited for a free connection slot (read by
    /// `ops::metrics` at scrape time).
    pub checkout_wait: prometheus_client::metrics::histogram::Histogram,
    /// Checkouts that found no free slot in time (1040).
    pub checkout_timeouts: prometheus_client::metrics::counter::Counter,
    /// What the server looks like (writable, replicating…) for role
    /// detection (`backend::roles`).
    pub roles: super::roles::RoleState,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            healthy: AtomicBool::new(true),
            offline: AtomicBool::new(false),
            lag_ms: AtomicI64::new(-1),
            in_flight: AtomicI64::new(0),
            routed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            created: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            down_epoch: tokio::sync::watch::channel(0).0,
            stall: super::stall::StallStats::default(),
            checkout_wait: crate::ops::metrics::checkout_wait_histogram(),
            checkout_timeouts: Default::default(),
            roles: Default::default(),
        }
    }
}

pub struct ServerPool {
    pub server: Arc<ServerInfo>,
    settings: ConnectSettings,
    /// Boxed: a connection (its buffers and TLS state inline) moves between
    /// this list, the session and back on every statement; a box moves as
    /// one pointer.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<BackendConn>>>,
    permits: Arc<Semaphore>,
    max: usize,
    checkout_timeout: Duration,
    idle_timeout: Duration,
    pub stats: ServerStats,
    /// Notified when a checkout finds no free connection, so sessions
    /// holding connections only for convenience can give them back.
    pub pressure: tokio::sync::watch::Sender<u64>,
}

impl ServerPool {
    pub fn new(
        server: Arc<ServerInfo>,
        settings: ConnectSettings,
        max: usize,
        checkout_timeout: Duration,
        idle_timeout: Duration,
    ) -> Arc<ServerPool> {
        Arc::new(ServerPool {
            server,
            settings,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            max,
            checkout_timeout,
            idle_timeout,
            stats: ServerStats::default(),
            pressure: tokio::sync::watch::channel(0).0,
        })
    }

    pub fn is_healthy(&self) -> bool {
        self.stats.healthy.load(Ordering::Relaxed)
    }

    /// Drained by an operator (`SET SHARDCAT BACKEND … OFFLINE`).
    pub fn is_offline(&self) -> bool {
        self.stats.offline.load(Ordering::Relaxed)
    }

    /// Checks out a connection with the given `CLIENT_FOUND_ROWS` flavour,
    /// preferring one already carrying `want`, waiting at most
    /// `checkout_timeout`. The caller syncs state.
    pub async fn checkout(
        self: &Arc<Self>,
        flavor: &Flavor,
        want: &SessionState,
    ) -> Result<PooledConn> {
        self.checkout_until(flavor, want, Instant::now() + self.checkout_timeout)
            .await
    }

    /// [`checkout`](Self::checkout), waiting for a free connection until
    /// `deadline` (one deadline for a whole statement, whatever it tries).
    pub async fn checkout_until(
        self: &Arc<Self>,
        flavor: &Flavor,
        want: &SessionState,
        deadline: Instant,
    ) -> Result<PooledConn> {
        let permit = self.take_permits(1, deadline).await?;
        self.conn_for(permit, flavor, want).await
    }

    /// `n` connections at once (at most the pool size): their slots are
    /// taken together, in the order statements asked (the semaphore is
    /// fair), so statements needing several connections queue behind each
    /// other instead of each holding some while waiting for the rest.
    pub async fn checkout_many(
        self: &Arc<Self>,
        n: usize,
        flavor: &Flavor,
        want: &SessionState,
        deadline: Instant,
    ) -> Result<Vec<PooledConn>> {
        let n = n.clamp(1, self.max);
        let mut permit = self.take_permits(n, deadline).await?;
        let mut conns = Vec::with_capacity(n);
        for _ in 1..n {
            let one = permit
                .split(1)
                .ok_or_else(|| ProxyError::Internal("permit split failed".into()))?;
            conns.push(self.conn_for(one, flavor, want).await?);
        }
        conns.push(self.conn_for(permit, flavor, want).await?);
        Ok(conns)
    }

    /// `n` slots of the pool (`1..=max`), waiting until `deadline`.
    async fn take_permits(
        self: &Arc<Self>,
        n: usize,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit> {
        if !self.is_healthy() || self.is_offline() {
            let reason = if self.is_offline() {
                "server is offline (drained by SET SHARDCAT BACKEND … OFFLINE)"
            } else {
                "server is marked down by the health checker"
            };
            return Err(ProxyError::BackendConnect {
                server: self.server.name.clone(),
                addr: self.server.addr.clone(),
                reason: reason.into(),
            });
        }
        let s = &self.stats;
        // A free slot: taken at once, without a timer (the semaphore is
        // fair: while statements wait, no permit is free to take here).
        if let Ok(p) = self.permits.clone().try_acquire_many_owned(n as u32) {
            s.checkout_wait.observe(0.0);
            return Ok(p);
        }
        if self.permits.available_permits() < n {
            // Sessions holding a connection only for convenience give it
            // back (see `Session::next_command`).
            self.pressure.send_modify(|n| *n = n.wrapping_add(1));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let acquire = self.permits.clone().acquire_many_owned(n as u32);
        let waiting = Instant::now();
        let acquired = tokio::time::timeout(wait, acquire).await;
        s.checkout_wait.observe(waiting.elapsed().as_secs_f64());
        match acquired {
            Ok(Ok(p)) => Ok(p),
            _ => {
                s.checkout_timeouts.inc();
                Err(ProxyError::PoolExhausted {
                    server: self.server.name.clone(),
                    millis: self.checkout_timeout.as_millis() as u64,
                    max: self.max,
                })
            }
        }
    }

    /// A connection for a slot already taken: an idle one (in the wanted
    /// state if possible) or a new one.
    async fn conn_for(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        flavor: &Flavor,
        want: &SessionState,
    ) -> Result<PooledConn> {
        loop {
            let (candidate, unsuitable) = {
                let mut idle = self.idle.lock();
                // A connection with a database selected cannot be given to a
                // session without one: MySQL has no way to unselect it.
                let usable = |c: &BackendConn| {
                    c.flavor == *flavor && (want.schema.is_some() || c.state.schema.is_none())
                };
                let exact = idle.iter().rposition(|c| usable(c) && c.state == *want);
                let any = || idle.iter().rposition(|c| usable(c));
                match exact.or_else(any) {
                    Some(i) => (Some(idle.swap_remove(i)), None),
                    // Make room for a new connection within the size limit.
                    None if idle.len() + self.busy_count() > self.max => (None, idle.pop()),
                    None => (None, None),
                }
            };
            if let Some(old) = unsuitable {
                tokio::spawn(old.close());
            }
            match candidate {
                Some(conn)
                    if conn.looks_alive() && conn.last_used.elapsed() < self.idle_timeout =>
                {
                    return Ok(PooledConn {
                        conn: Some(conn),
                        pool: self.clone(),
                        _permit: permit,
                    });
                }
                Some(conn) => {
                    // Dead or expired: close it and look again.
                    tokio::spawn(conn.close());
                }
                None => break,
            }
        }
        let conn = Box::new(
            BackendConn::connect(self.server.clone(), &self.settings, flavor.clone()).await?,
        );
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        Ok(PooledConn {
            conn: Some(conn),
            pool: self.clone(),
            _permit: permit,
        })
    }

    fn checkin(&self, conn: Box<BackendConn>) {
        if conn.broken || conn.in_transaction() || !self.is_healthy() || self.is_offline() {
            tokio::spawn(conn.close());
            return;
        }
        let mut idle = self.idle.lock();
        if let Some(login) = &conn.flavor.login {
            // A pass-through user's connections serve that user only: keep
            // a few per user, so many users cannot fill the pool with idle
            // connections nobody else can take.
            let mine = idle
                .iter()
                .filter(|c| c.flavor.login.as_ref() == Some(login))
                .count();
            if mine >= self.settings.passthrough_idle_per_user {
                drop(idle);
                tokio::spawn(conn.close());
                return;
            }
        }
        idle.push(conn);
    }

    /// Closes idle connections unused for longer than the idle timeout.
    pub fn reap_idle(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock();
            let mut i = 0;
            while i < idle.len() {
                if now.duration_since(idle[i].last_used) > self.idle_timeout {
                    expired.push(idle.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        for c in expired {
            tokio::spawn(c.close());
        }
    }

    /// Drops every idle connection (server marked down, or reload).
    pub fn clear_idle(&self) {
        let conns: Vec<_> = std::mem::take(&mut *self.idle.lock());
        for c in conns {
            tokio::spawn(c.close());
        }
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().len()
    }

    pub fn busy_count(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    pub fn settings(&self) -> &ConnectSettings {
        &self.settings
    }
}

/// A checked-out connection. [`PooledConn::release`] returns it to the pool;
/// dropping it without release closes it (the safe default after an error
/// or an interrupted result).
pub struct PooledConn {
    conn: Option<Box<BackendConn>>,
    pool: Arc<ServerPool>,
    _permit: OwnedSemaphorePermit,
}

impl PooledConn {
    /// Returns the connection to the pool. One whose last answer was left
    /// unread (a merge stopped at its LIMIT) is settled first in the
    /// background, holding its pool slot meanwhile; if that takes too long
    /// its statement is killed and the connection closed.
    pub fn release(mut self) {
        if self
            .conn
            .as_ref()
            .is_some_and(|c| c.unread_rows && !c.broken)
        {
            tokio::spawn(async move {
                let settled = self.settle(SettleLimit::BACKGROUND).await;
                if settled.is_ok() {
                    self.pool.stats.settled.fetch_add(1, Ordering::Relaxed);
                    self.release();
                } else {
                    let pool = self.pool.clone();
                    let id = self.connection_id;
                    drop(self);
                    crate::frontend::cancel_on_servers(vec![(pool, id)]);
                }
            });
            return;
        }
        if let Some(c) = self.conn.take() {
            self.pool.checkin(c);
        }
    }

    pub fn pool(&self) -> &Arc<ServerPool> {
        &self.pool
    }
}

impl Deref for PooledConn {
    type Target = BackendConn;
    fn deref(&self) -> &BackendConn {
        // Invariant: `conn` is Some until release/drop consume self.
        self.conn
            .as_ref()
            .expect("pooled connection used after release")
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut BackendConn {
        self.conn
            .as_mut()
            .expect("pooled connection used after release")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                tokio::spawn(c.close());
            }
        }
    }
}
