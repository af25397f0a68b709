//! The running topology: every node (replication group) with the pool of its
//! primary and of each replica, built from the configuration.
//!
//! Owns: the set of server pools and lookups by node. Must not choose a
//! replica (that is `router::replica`) or check health (that is `health`).

use std::sync::Arc;
use std::time::Duration;

use super::connection::{ConnectSettings, Role, ServerInfo};
use super::pool::ServerPool;
use crate::config::Config;

pub struct Node {
    pub name: String,
    pub primary: Arc<ServerPool>,
    pub replicas: Vec<Arc<ServerPool>>,
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
                Arc::new(ServerInfo {
                    name: format!("{node_name}/{}/{addr}", role.as_str()),
                    addr: addr.to_string(),
                    node,
                    node_name: node_name.to_string(),
                    role,
                    weight,
                    max_packet: Default::default(),
                    databases: Arc::new(cfg.nodes[node].databases()),
                }),
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
                Node {
                    name: name.to_string(),
                    primary: pool(i, name, Role::Primary, n.primary.get_ref(), 1),
                    replicas: n
                        .replicas
                        .iter()
                        .map(|r| pool(i, name, Role::Replica, r.addr.get_ref(), r.weight))
                        .collect(),
                }
            })
            .collect();
        Arc::new(Cluster { nodes })
    }

    pub fn all_pools(&self) -> impl Iterator<Item = &Arc<ServerPool>> {
        self.nodes
            .iter()
            .flat_map(|n| std::iter::once(&n.primary).chain(n.replicas.iter()))
    }
}
