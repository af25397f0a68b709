//! Process-wide counters of events that happen where no metrics handle
//! reaches: the sharding router's plan cache (the router is rebuilt on
//! reload) and the cross-shard merge operators. Read by `ops::metrics` at
//! scrape time, as `ops::xa_stats` is.
//!
//! Owns: the counters. Must not: decide anything from them.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters (see the module doc).
#[derive(Debug, Default)]
pub struct EventStats {
    pub plan_cache_hits: AtomicU64,
    pub plan_cache_misses: AtomicU64,
    /// Rows sent to clients by cross-shard merges.
    pub merge_rows: AtomicU64,
    /// Merges refused for exceeding `[routing] merge_max_groups`.
    pub merge_budget_hits: AtomicU64,
    /// Transactions rolled back to break a deadlock across nodes
    /// (`frontend::deadlock`).
    pub deadlock_victims: AtomicU64,
    /// Scattered reads in pinned sessions run as one `UNION ALL` per node.
    pub node_union_reads: AtomicU64,
    /// Of those, the ones whose UNION's column definitions were not a
    /// single server's: run again one physical table at a time.
    pub node_union_declined: AtomicU64,
}

/// The process's counters.
pub static EVENTS: EventStats = EventStats {
    plan_cache_hits: AtomicU64::new(0),
    plan_cache_misses: AtomicU64::new(0),
    merge_rows: AtomicU64::new(0),
    merge_budget_hits: AtomicU64::new(0),
    deadlock_victims: AtomicU64::new(0),
    node_union_reads: AtomicU64::new(0),
    node_union_declined: AtomicU64::new(0),
};

impl EventStats {
    /// Adds one to `counter` (relaxed: a figure, not a synchronisation).
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
