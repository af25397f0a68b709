//! Telling a frozen server from a slow statement, fast: each server's
//! recent first-byte times (how long its answers take to start), when it
//! last answered anything, and whether it is *suspect* (a statement stuck
//! on it found it not answering a fresh connection either). A suspect
//! replica takes no new reads until a health check succeeds again.
//!
//! A read stuck past its stall deadline (`[routing] stall_*`, derived from
//! the p99 of recent first-byte times) asks [`looks_frozen`]: a server that
//! answered anything within the last half deadline, or that greets and
//! authenticates a new connection within the deadline, is alive (the
//! statement is merely slow and keeps waiting); otherwise the server is
//! marked suspect and the read is retried elsewhere.
//!
//! Owns: those figures and the liveness probe. Must not route, retry or
//! touch sessions (that is `frontend::session::execute_one`).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::connection::BackendConn;
use super::pool::ServerPool;

/// First-byte samples kept per server.
const SAMPLES: usize = 128;
/// The p99 is recomputed every this many samples.
const RECOMPUTE_EVERY: usize = 32;

/// Milliseconds since the process's first use of this module.
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// How a stall deadline is derived (`[routing] stall_*`).
#[derive(Debug, Clone, Copy)]
pub struct StallPolicy {
    pub floor: Duration,
    pub p99_factor: f64,
    pub max: Duration,
}

/// A server's first-byte figures and liveness.
#[derive(Debug)]
pub struct StallStats {
    samples: [AtomicU32; SAMPLES],
    next: AtomicUsize,
    p99_us: AtomicU64,
    last_answer_ms: AtomicU64,
    suspect: AtomicBool,
    probing: tokio::sync::Mutex<()>,
}

impl Default for StallStats {
    fn default() -> Self {
        StallStats {
            samples: std::array::from_fn(|_| AtomicU32::new(0)),
            next: AtomicUsize::new(0),
            p99_us: AtomicU64::new(0),
            last_answer_ms: AtomicU64::new(0),
            suspect: AtomicBool::new(false),
            probing: tokio::sync::Mutex::new(()),
        }
    }
}

impl StallStats {
    /// An answer started arriving `took` after its command was sent.
    pub fn record_first_byte(&self, took: Duration) {
        self.mark_alive();
        let us = took.as_micros().min(u32::MAX as u128) as u32;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.samples[n % SAMPLES].store(us, Ordering::Relaxed);
        if n % RECOMPUTE_EVERY == RECOMPUTE_EVERY - 1 || n < RECOMPUTE_EVERY {
            let filled = (n + 1).min(SAMPLES);
            let mut v: Vec<u32> = self.samples[..filled]
                .iter()
                .map(|s| s.load(Ordering::Relaxed))
                .collect();
            let k = (filled * 99).div_ceil(100).saturating_sub(1);
            let (_, p99, _) = v.select_nth_unstable(k);
            self.p99_us.store(*p99 as u64, Ordering::Relaxed);
        }
    }

    /// The p99 of recent first-byte times (zero before any sample).
    pub fn p99(&self) -> Duration {
        Duration::from_micros(self.p99_us.load(Ordering::Relaxed))
    }

    /// How long a read may wait for its first byte here before the server
    /// is questioned: `p99_factor` × p99, within `[floor, max]`.
    pub fn deadline(&self, policy: &StallPolicy) -> Duration {
        let scaled = self.p99().mul_f64(policy.p99_factor.max(0.0));
        scaled.max(policy.floor).min(policy.max.max(policy.floor))
    }

    /// The server answered something (a statement, a probe, a health check).
    pub fn mark_alive(&self) {
        self.last_answer_ms.store(now_ms(), Ordering::Relaxed);
    }

    fn answered_within(&self, d: Duration) -> bool {
        let last = self.last_answer_ms.load(Ordering::Relaxed);
        last != 0 && now_ms().saturating_sub(last) <= d.as_millis() as u64
    }

    pub fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::Relaxed)
    }

    /// A health check succeeded: the server takes reads again.
    pub fn clear_suspect(&self) {
        self.suspect.store(false, Ordering::Relaxed);
    }
}

/// Whether `pool`'s server looks frozen to a statement stuck on it for
/// `deadline`: already suspect, or silent for half the deadline and not
/// greeting a new connection within `deadline` (probed once at a time per
/// server; concurrent askers share the answer). Marks it suspect when so.
pub async fn looks_frozen(pool: &Arc<ServerPool>, deadline: Duration) -> bool {
    let stats = &pool.stats.stall;
    if stats.is_suspect() {
        return true;
    }
    if stats.answered_within(deadline / 2) {
        return false;
    }
    let _probing = stats.probing.lock().await;
    if stats.is_suspect() {
        return true;
    }
    if stats.answered_within(deadline / 2) {
        return false;
    }
    let probe = BackendConn::connect(
        pool.server.clone(),
        pool.settings(),
        crate::backend::Flavor::default(),
    );
    match tokio::time::timeout(deadline, probe).await {
        Ok(Ok(conn)) => {
            stats.mark_alive();
            tokio::spawn(conn.close());
            false
        }
        _ => {
            if !stats.suspect.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    server = %pool.server.name,
                    "server marked suspect: a statement got no answer within {deadline:?} \
                     and a new connection was not greeted either"
                );
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_follows_the_p99_within_bounds() {
        let s = StallStats::default();
        let policy = StallPolicy {
            floor: Duration::from_millis(100),
            p99_factor: 10.0,
            max: Duration::from_millis(500),
        };
        assert_eq!(s.deadline(&policy), Duration::from_millis(100));
        for _ in 0..200 {
            s.record_first_byte(Duration::from_millis(2));
        }
        assert_eq!(s.p99(), Duration::from_millis(2));
        assert_eq!(s.deadline(&policy), Duration::from_millis(100));
        for _ in 0..200 {
            s.record_first_byte(Duration::from_millis(30));
        }
        assert_eq!(s.deadline(&policy), Duration::from_millis(300));
        for _ in 0..200 {
            s.record_first_byte(Duration::from_secs(2));
        }
        assert_eq!(s.deadline(&policy), Duration::from_millis(500));
        assert!(s.answered_within(Duration::from_secs(1)));
    }
}
