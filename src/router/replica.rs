//! Choosing one replica of a node for a read: only healthy replicas whose
//! replication lag is known and within the limit, balanced by the configured
//! policy.
//!
//! Owns: the balancing arithmetic. Must not measure health or lag (the
//! health checker writes those figures) and must not do I/O.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::backend::ServerPool;
use crate::config::ReplicaPolicy;

#[derive(Debug, Default)]
pub struct ReplicaSelector {
    counter: AtomicUsize,
}

impl ReplicaSelector {
    /// True when `pool` may take reads now (healthy, not drained by an
    /// operator, not suspect of being frozen, lag known and within the
    /// limit).
    pub fn usable(pool: &ServerPool, max_lag_ms: i64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let lag = pool.stats.lag_ms.load(Relaxed);
        pool.is_healthy()
            && !pool.is_offline()
            && !pool.stats.stall.is_suspect()
            && lag >= 0
            && lag <= max_lag_ms
    }

    /// Index of the replica to use, skipping those in `exclude` (already
    /// tried for this statement); `None` when no replica is usable.
    pub fn choose(
        &self,
        replicas: &[Arc<ServerPool>],
        policy: ReplicaPolicy,
        max_lag_ms: i64,
        exclude: &[usize],
    ) -> Option<usize> {
        // Up to INLINE replicas without an allocation (every read calls this).
        const INLINE: usize = 16;
        let ok = |i: &usize| !exclude.contains(i) && Self::usable(&replicas[*i], max_lag_ms);
        let mut inline = [0usize; INLINE];
        let spilled: Vec<usize>;
        let usable: &[usize] = if replicas.len() <= INLINE {
            let mut n = 0;
            for i in (0..replicas.len()).filter(ok) {
                inline[n] = i;
                n += 1;
            }
            &inline[..n]
        } else {
            spilled = (0..replicas.len()).filter(ok).collect();
            &spilled
        };
        if usable.is_empty() {
            return None;
        }
        let tick = self.counter.fetch_add(1, Ordering::Relaxed);
        match policy {
            ReplicaPolicy::RoundRobin => Some(usable[tick % usable.len()]),
            ReplicaPolicy::Weighted => {
                let total: u64 = usable
                    .iter()
                    .map(|&i| replicas[i].server.weight as u64)
                    .sum();
                let mut point = (tick as u64) % total.max(1);
                for &i in usable {
                    let w = replicas[i].server.weight as u64;
                    if point < w {
                        return Some(i);
                    }
                    point -= w;
                }
                usable.last().copied()
            }
            ReplicaPolicy::LeastOutstanding => {
                // One snapshot of the loads: they change under our feet, and
                // reading them twice could leave no replica at the minimum.
                let loads: Vec<(usize, i64)> = usable
                    .iter()
                    .map(|&i| (i, replicas[i].stats.in_flight.load(Ordering::Relaxed)))
                    .collect();
                let min = loads.iter().map(|&(_, l)| l).min().unwrap_or(0);
                let tied: Vec<usize> = loads
                    .iter()
                    .filter(|&&(_, l)| l == min)
                    .map(|&(i, _)| i)
                    .collect();
                tied.get(tick % tied.len().max(1))
                    .copied()
                    .or(usable.first().copied())
            }
        }
    }
}
