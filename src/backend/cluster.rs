//! The running topology: every node (replication group) with the pools of
//! its servers, and which of them is the primary and which are replicas
//! *now* (the configuration gives the first guess; the health checker
//! follows the servers themselves, see `roles`).
//!
//! Owns: the set of server pools, lookups by node, the node's current
//! role assignment (swapped whole, read without locks). Must not choose a
//! replica (that is `router::replica`), check health (that is `health`) or
//! decide roles (that is `roles`).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::connection::{ConnectSettings, Role, ServerInfo};
use super::pool::ServerPool;
use crate::config::Config;

/// Who does what in a node at one moment.
#[derive(Clone)]
pub struct Roles {
    /// Index in [`Node::servers`] of the primary; `None` while no server
    /// of the node is known writable (its primary is down or read-only and
    /// nothing was promoted yet): writes fail at once.
    pub primary: Option<usize>,
    /// The server that was primary last (the one writes name in errors
    /// while there is none).
    pub last_primary: usize,
    /// The servers taking reads as replicas, in configuration order.
    pub replicas: Vec<Arc<ServerPool>>,
    /// Servers kept out of both writes and reads: writable without
    /// replicating while another server is the primary (split brain).
    pub fenced: Vec<usize>,
}

pub struct Node {
    pub name: String,
    /// Every server of the node: the configured primary first, then the
    /// configured replicas in order.
    pub servers: Vec<Arc<ServerPool>>,
    roles: ArcSwap<Roles>,
    /// Serializes role decisions (`roles::reconcile`).
    pub(super) deciding: parking_lot::Mutex<()>,
    /// Promotions and split brains seen (metrics).
    pub events: super::roles::RoleEvents,
    /// Wakes the node's health checkers for a check now (a statement
    /// needs the primary while the node has none).
    pub(super) recheck: tokio::sync::Notify,
    /// Signalled whenever the node's roles change.
    roles_changed: tokio::sync::Notify,
}

impl Node {
    /// The current role assignment (one consistent snapshot).
    pub fn roles(&self) -> Arc<Roles> {
        self.roles.load_full()
    }

    pub(super) fn set_roles(&self, roles: Roles) {
        for (i, s) in self.servers.iter().enumerate() {
            let role = match roles.primary == Some(i) {
                true => Role::Primary,
                false => Role::Replica,
            };
            s.server.set_current_role(role);
        }
        self.roles.store(Arc::new(roles));
        self.roles_changed.notify_waiters();
    }

    /// Waits at most `max` for the node to have a primary, asking its
    /// health checkers to look now: a primary that was restarted (no
    /// promotion) is taken back by the first statement that needs it
    /// instead of failing until the next periodic check. While the node
    /// really has no primary, a statement waits one check (a refused
    /// connect: a millisecond; never more than `max`), then fails.
    pub async fn await_primary(&self, max: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let changed = self.roles_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.has_primary() {
                return true;
            }
            self.recheck.notify_waiters();
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.has_primary();
            }
        }
    }

    /// The primary's pool; while the node has none, the last primary's
    /// (marked down or read-only: checkouts and writes there fail fast).
    pub fn primary(&self) -> Arc<ServerPool> {
        let r = self.roles.load();
        self.servers[r.primary.unwrap_or(r.last_primary)].clone()
    }

    /// Whether a server of the node is the primary now.
    pub fn has_primary(&self) -> bool {
        self.roles.load().primary.is_some()
    }

    /// Whether `pool` is the node's primary now.
    pub fn is_primary(&self, pool: &Arc<ServerPool>) -> bool {
        let r = self.roles.load();
        r.primary
            .is_some_and(|p| Arc::ptr_eq(&self.servers[p], pool))
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn from_config(cfg: &Config) -> Arc<Cluster> {
        let b = &cfg.backend;
        let settings = ConnectSettings {
            user: b.user.clone(),
            password: b.password.clone(),
            connect_timeout: Duration::from_millis(b.connect_timeout_ms),
            max_packet: cfg
                .server
                .max_allowed_packet
                .max(crate::wire::DEFAULT_MAX_PACKET),
            statement_cache: b.statement_cache,
            passthrough_idle_per_user: b.passthrough_idle_per_user,
            tls: b.tls_client.clone(),
            unresponsive_timeout: Duration::from_millis(b.unresponsive_timeout_ms),
        };
        let pool = |node: usize, node_name: &str, role: Role, addr: &str, weight: u32| {
            let mut settings = settings.clone();
            if let Some(tls) = &cfg.nodes[node].tls_client {
                settings.tls = tls.clone();
            }
            ServerPool::new(
                Arc::new(ServerInfo::new(
                    node,
                    node_name,
                    role,
                    addr,
                    weight,
                    Arc::new(cfg.nodes[node].databases()),
                )),
                settings,
                b.pool_max,
                Duration::from_millis(b.checkout_timeout_ms),
                Duration::from_millis(b.idle_timeout_ms),
            )
        };
        let nodes = cfg
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let name = n.name.get_ref().as_str();
                let mut servers = vec![pool(i, name, Role::Primary, n.primary.get_ref(), 1)];
                servers.extend(
                    n.replicas
                        .iter()
                        .map(|r| pool(i, name, Role::Replica, r.addr.get_ref(), r.weight)),
                );
                let roles = Roles {
                    primary: Some(0),
                    last_primary: 0,
                    replicas: servers[1..].to_vec(),
                    fenced: Vec::new(),
                };
                Node {
                    name: name.to_string(),
                    servers,
                    roles: ArcSwap::from_pointee(roles),
                    deciding: parking_lot::Mutex::new(()),
                    events: Default::default(),
                    recheck: tokio::sync::Notify::new(),
                    roles_changed: tokio::sync::Notify::new(),
                }
            })
            .collect();
        Arc::new(Cluster { nodes })
    }

    pub fn all_pools(&self) -> impl Iterator<Item = &Arc<ServerPool>> {
        self.nodes.iter().flat_map(|n| n.servers.iter())
    }
}
