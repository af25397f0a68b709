//! Which server of a node is its primary, from the servers themselves (as
//! ProxySQL's replication hostgroups and MaxScale's monitor): the health
//! checker records what each server looks like ([`Observed`]: writable,
//! read-only, replicating) and [`reconcile`] turns the node's observations
//! into its [`Roles`].
//!
//! - The primary stays the primary while it is up and writable.
//! - When it is marked down or turns read-only, the one healthy, writable,
//!   non-replicating server of the node (a replica an operator promoted:
//!   `STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0`) becomes the
//!   primary. None: the node has no primary and writes fail at once with a
//!   clear error. Several: none is chosen (logged), the operator decides.
//! - Split-brain guard: a writable, non-replicating server that is not
//!   the primary (an old primary back after a promotion) takes neither
//!   writes nor reads (fenced), logged and counted. An old primary stays
//!   out of the choice until it is seen replicating again.
//!
//! Owns: [`Observed`], the decision and its log lines and counters. Must
//! not: probe servers (that is `health`), route, or change servers.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use super::cluster::{Node, Roles};
use super::pool::ServerPool;

/// What a server looked like at its last successful health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Observed {
    /// Not checked yet (or role detection is off).
    Unknown = 0,
    /// `read_only = 0` and no running replication: can be the primary.
    Writable = 1,
    /// `read_only = 1`, not replicating.
    ReadOnly = 2,
    /// Its default replication connection runs (IO or SQL thread).
    Replicating = 3,
}

/// A server's role figures, kept in its `ServerStats`.
#[derive(Debug, Default)]
pub struct RoleState {
    observed: AtomicU8,
    /// It was the primary and another server took over: it may not become
    /// the primary again (it may miss acknowledged writes) until it is
    /// seen replicating.
    demoted: AtomicBool,
    /// Currently fenced (writable while another server is the primary).
    fenced: AtomicBool,
}

impl RoleState {
    pub fn observed(&self) -> Observed {
        match self.observed.load(Ordering::Relaxed) {
            1 => Observed::Writable,
            2 => Observed::ReadOnly,
            3 => Observed::Replicating,
            _ => Observed::Unknown,
        }
    }

    pub fn observe(&self, o: Observed) {
        self.observed.store(o as u8, Ordering::Relaxed);
        if o == Observed::Replicating {
            self.demoted.store(false, Ordering::Relaxed);
        }
    }

    /// An old primary not yet seen replicating again.
    pub fn is_demoted(&self) -> bool {
        self.demoted.load(Ordering::Relaxed)
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }
}

/// Role changes of one node, for the metrics.
#[derive(Debug, Default)]
pub struct RoleEvents {
    /// A server other than the last primary became the primary.
    pub primary_changes: AtomicU64,
    /// A server was fenced for being writable next to the primary.
    pub split_brain: AtomicU64,
}

/// Re-decides `node`'s roles from its servers' health and observations
/// (called after each health check of one of its servers).
pub fn reconcile(node: &Node) {
    let _deciding = node.deciding.lock();
    let cur = node.roles();
    let servers = &node.servers;
    let healthy = |i: usize| servers[i].is_healthy();
    let obs = |i: usize| servers[i].stats.roles.observed();
    let writable = |i: usize| healthy(i) && obs(i) == Observed::Writable;
    let primary = match cur.primary {
        // Up and writable, or not looked at yet: stays.
        Some(p) if writable(p) || (healthy(p) && obs(p) == Observed::Unknown) => Some(p),
        _ => {
            let candidates: Vec<usize> = (0..servers.len())
                .filter(|&i| writable(i) && !servers[i].stats.roles.is_demoted())
                .collect();
            match candidates.as_slice() {
                [one] => Some(*one),
                [] => None,
                many => {
                    if cur.primary.is_some() {
                        let names: Vec<&str> = many
                            .iter()
                            .map(|&i| servers[i].server.name.as_str())
                            .collect();
                        tracing::error!(
                            node = %node.name,
                            "several servers are writable ({}): none takes writes until an \
                             operator makes all but one read-only",
                            names.join(", ")
                        );
                    }
                    None
                }
            }
        }
    };
    let mut fenced = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let state = &server.stats.roles;
        let fence = Some(i) != primary && writable(i) && primary.is_some();
        if fence && !state.fenced.swap(true, Ordering::Relaxed) {
            node.events.split_brain.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                node = %node.name,
                server = %server.server.name,
                "split brain: server is writable and not replicating while another server is \
                 the primary; it takes no statements until it replicates from the primary"
            );
            server.clear_idle();
        } else if !fence && state.fenced.swap(false, Ordering::Relaxed) {
            tracing::info!(node = %node.name, server = %server.server.name, "server no longer fenced");
        }
        if fence {
            fenced.push(i);
        }
    }
    if primary != cur.primary {
        announce(node, &cur, primary);
    }
    let replicas: Vec<Arc<ServerPool>> = (0..servers.len())
        .filter(|&i| Some(i) != primary && !fenced.contains(&i))
        .map(|i| servers[i].clone())
        .collect();
    let last_primary = primary.unwrap_or(cur.last_primary);
    let unchanged = primary == cur.primary && fenced == cur.fenced;
    if !unchanged {
        node.set_roles(Roles {
            primary,
            last_primary,
            replicas,
            fenced,
        });
    }
}

/// Logs and counts a change of primary; the old primary's idle
/// connections go.
fn announce(node: &Node, cur: &Roles, primary: Option<usize>) {
    let servers = &node.servers;
    let old = &servers[cur.last_primary];
    match primary {
        Some(p) if p != cur.last_primary => {
            old.stats.roles.demoted.store(true, Ordering::Relaxed);
            old.clear_idle();
            node.events.primary_changes.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                node = %node.name,
                primary = %servers[p].server.name,
                old = %old.server.name,
                "new primary: the server is writable and not replicating"
            );
        }
        Some(p) => {
            tracing::info!(node = %node.name, primary = %servers[p].server.name, "primary is back");
        }
        None => {
            tracing::warn!(
                node = %node.name,
                old = %old.server.name,
                "node has no primary (down or read-only, no other server writable): writes fail \
                 until one is"
            );
        }
    }
}

/// The error a statement needing `node`'s primary gets while it has none.
pub fn no_primary(node: &Node) -> crate::error::ProxyError {
    let old = node.primary();
    let why = match old.is_healthy() {
        true => "is read-only",
        false => "is marked down by the health checker",
    };
    crate::error::ProxyError::NoServerAvailable {
        node: node.name.clone(),
        role: "primary",
        reason: format!(
            "its primary {} {why} and no other server of the node is writable (waiting for a \
             promotion)",
            old.server.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cluster::Cluster;
    use crate::backend::Role;

    fn cluster() -> Arc<Cluster> {
        let text = r#"
[server]
listen = "127.0.0.1:1"
[backend]
user = "u"
[[user]]
name = "app"
password = "app"
[[node]]
name = "n1"
primary = "127.0.0.1:2"
replicas = [{ addr = "127.0.0.1:3" }, { addr = "127.0.0.1:4" }]
"#;
        let cfg = crate::config::Config::parse(text, std::path::Path::new("t.toml")).unwrap();
        Cluster::from_config(&cfg)
    }

    /// Sets server `i`'s health and what its check saw.
    fn see(node: &Node, i: usize, up: bool, o: Observed) {
        let s = &node.servers[i];
        s.stats.healthy.store(up, Ordering::Relaxed);
        s.stats.roles.observe(o);
    }

    fn replica_ports(node: &Node) -> Vec<String> {
        node.roles()
            .replicas
            .iter()
            .map(|r| r.server.addr.clone())
            .collect()
    }

    #[test]
    fn promotion_outage_and_split_brain() {
        let c = cluster();
        let n = &c.nodes[0];
        see(n, 0, true, Observed::Writable);
        see(n, 1, true, Observed::Replicating);
        see(n, 2, true, Observed::Replicating);
        reconcile(n);
        assert_eq!(n.roles().primary, Some(0));
        assert_eq!(replica_ports(n), ["127.0.0.1:3", "127.0.0.1:4"]);

        // The primary dies: no primary, writes fail; replicas still read.
        see(n, 0, false, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, None);
        assert!(matches!(
            no_primary(n),
            crate::error::ProxyError::NoServerAvailable { .. }
        ));
        // A replica promoted by an operator takes over.
        see(n, 1, true, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, Some(1));
        assert_eq!(n.servers[1].server.current_role(), Role::Primary);
        assert_eq!(n.servers[0].server.current_role(), Role::Replica);
        assert_eq!(n.events.primary_changes.load(Ordering::Relaxed), 1);
        assert!(n.servers[0].stats.roles.is_demoted());

        // The old primary back writable: fenced, counted, not a replica.
        see(n, 0, true, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, Some(1));
        assert_eq!(n.roles().fenced, [0]);
        assert_eq!(replica_ports(n), ["127.0.0.1:4"]);
        assert_eq!(n.events.split_brain.load(Ordering::Relaxed), 1);
        // The new primary dies: the old one (maybe missing writes) is not
        // chosen while it has not replicated since.
        see(n, 1, false, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, None);
        see(n, 1, true, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, Some(1));
        // Repointed to the new primary, it is a replica again.
        see(n, 0, true, Observed::Replicating);
        reconcile(n);
        assert!(n.roles().fenced.is_empty());
        assert_eq!(replica_ports(n), ["127.0.0.1:2", "127.0.0.1:4"]);
        assert!(!n.servers[0].stats.roles.is_demoted());
    }

    #[test]
    fn two_writable_candidates_make_no_primary() {
        let c = cluster();
        let n = &c.nodes[0];
        see(n, 0, false, Observed::Unknown);
        see(n, 1, true, Observed::Writable);
        see(n, 2, true, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, None);
        // A switchover: the primary turns read-only, a replica writable.
        let c = cluster();
        let n = &c.nodes[0];
        see(n, 0, true, Observed::ReadOnly);
        see(n, 1, true, Observed::Replicating);
        see(n, 2, true, Observed::Replicating);
        reconcile(n);
        assert_eq!(n.roles().primary, None);
        see(n, 2, true, Observed::Writable);
        reconcile(n);
        assert_eq!(n.roles().primary, Some(2));
    }
}
