//! Per-source-address accounting of clients that have not logged in:
//! how many are in the handshake now, and how many logins failed
//! recently (brute-force delay and block).
//!
//! Owns: the counters (bounded maps keyed by IPv4 address or IPv6 /64)
//! and the decisions derived from them. Must not do I/O or sleep itself:
//! the handshake asks [`AuthGuard::delay_for`] and sleeps.
//!
//! Policy (`[security]`): once an address has `auth_failures_before_delay`
//! failures within `auth_failure_window_s`, every further login attempt
//! from it (right or wrong password) is answered only after
//! `auth_failure_delay_ms`, so the answer time reveals nothing and
//! guessing slows to (unauthenticated slots per host / delay) attempts per
//! second; at `auth_failures_before_block` failures its connections are
//! refused at once with error 1129 until the window has passed. A
//! successful login does not clear the count (an attacker holding one
//! valid account could otherwise reset it between guesses).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::SecurityConfig;

/// Addresses tracked at most; beyond it the oldest windows are dropped.
const MAX_TRACKED: usize = 100_000;

/// The key of an address: IPv4 as is, IPv6 by its /64 (one host usually
/// owns a whole /64).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].iter_mut().for_each(|s| *s = 0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    window_start: Instant,
    count: u32,
    last: Instant,
}

/// What to do with a new connection from an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// Too many handshakes in progress from the address (1040).
    TooMany,
    /// Too many failed logins in the window (1129).
    Blocked,
}

/// One row of `SHOW SHARDCAT AUTH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRow {
    pub source: String,
    pub failures: u32,
    pub unauthenticated: usize,
    pub state: &'static str,
    pub last_failure_s: Option<u64>,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<IpAddr, usize>,
    failures: HashMap<IpAddr, Failures>,
}

/// Shared by all connections of the proxy.
#[derive(Default)]
pub struct AuthGuard {
    inner: Mutex<Inner>,
    total_failures: std::sync::atomic::AtomicU64,
}

/// Held while a connection is in its handshake; releases its slot on drop.
pub struct PendingSlot {
    guard: Arc<AuthGuard>,
    key: IpAddr,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut inner = self.guard.inner.lock();
        if let Some(n) = inner.pending.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.pending.remove(&self.key);
            }
        }
    }
}

impl AuthGuard {
    fn live(f: &Failures, cfg: &SecurityConfig, now: Instant) -> u32 {
        let window = Duration::from_secs(cfg.auth_failure_window_s);
        if now.duration_since(f.window_start) >= window {
            0
        } else {
            f.count
        }
    }

    /// Admits a new connection from `ip` into the handshake (taking a
    /// pending slot) or says why not.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        cfg: &SecurityConfig,
    ) -> Result<PendingSlot, Admission> {
        let key = source_key(ip);
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if cfg.auth_failures_before_block > 0 {
            if let Some(f) = inner.failures.get(&key) {
                if Self::live(f, cfg, now) >= cfg.auth_failures_before_block {
                    return Err(Admission::Blocked);
                }
            }
        }
        let n = inner.pending.entry(key).or_insert(0);
        if cfg.max_unauthenticated_per_host > 0 && *n >= cfg.max_unauthenticated_per_host {
            return Err(Admission::TooMany);
        }
        *n += 1;
        Ok(PendingSlot {
            guard: self.clone(),
            key,
        })
    }

    /// How long to hold the answer to a login attempt from `ip`.
    pub fn delay_for(&self, ip: IpAddr, cfg: &SecurityConfig) -> Duration {
        if cfg.auth_failures_before_delay == 0 {
            return Duration::ZERO;
        }
        let inner = self.inner.lock();
        match inner.failures.get(&source_key(ip)) {
            Some(f) if Self::live(f, cfg, Instant::now()) >= cfg.auth_failures_before_delay => {
                Duration::from_millis(cfg.auth_failure_delay_ms)
            }
            _ => Duration::ZERO,
        }
    }

    /// Records a failed login from `ip`; returns the failures in the window.
    pub fn record_failure(&self, ip: IpAddr, cfg: &SecurityConfig) -> u32 {
        self.total_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = source_key(ip);
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if inner.failures.len() >= MAX_TRACKED && !inner.failures.contains_key(&key) {
            let window = Duration::from_secs(cfg.auth_failure_window_s);
            inner
                .failures
                .retain(|_, f| now.duration_since(f.window_start) < window);
            if inner.failures.len() >= MAX_TRACKED {
                // Still full of live windows: forget the oldest one.
                if let Some(oldest) = inner
                    .failures
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| *k)
                {
                    inner.failures.remove(&oldest);
                }
            }
        }
        let f = inner.failures.entry(key).or_insert(Failures {
            window_start: now,
            count: 0,
            last: now,
        });
        if Self::live(f, cfg, now) == 0 {
            f.window_start = now;
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        f.count
    }

    /// Failed logins since start (for metrics).
    pub fn total_failures(&self) -> u64 {
        self.total_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every tracked address, most failures first.
    pub fn rows(&self, cfg: &SecurityConfig) -> Vec<AuthRow> {
        let now = Instant::now();
        let inner = self.inner.lock();
        let mut keys: Vec<IpAddr> = inner.pending.keys().copied().collect();
        keys.extend(inner.failures.keys().copied());
        keys.sort();
        keys.dedup();
        let mut rows: Vec<AuthRow> = keys
            .into_iter()
            .filter_map(|k| {
                let f = inner.failures.get(&k);
                let failures = f.map_or(0, |f| Self::live(f, cfg, now));
                let unauthenticated = inner.pending.get(&k).copied().unwrap_or(0);
                if failures == 0 && unauthenticated == 0 {
                    return None;
                }
                let state = if cfg.auth_failures_before_block > 0
                    && failures >= cfg.auth_failures_before_block
                {
                    "blocked"
                } else if cfg.auth_failures_before_delay > 0
                    && failures >= cfg.auth_failures_before_delay
                {
                    "delayed"
                } else {
                    "ok"
                };
                Some(AuthRow {
                    source: k.to_string(),
                    failures,
                    unauthenticated,
                    state,
                    last_failure_s: f
                        .filter(|_| failures > 0)
                        .map(|f| now.duration_since(f.last).as_secs()),
                })
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.failures));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SecurityConfig {
        SecurityConfig {
            max_unauthenticated_per_host: 2,
            auth_failure_window_s: 60,
            auth_failures_before_delay: 3,
            auth_failure_delay_ms: 500,
            auth_failures_before_block: 5,
        }
    }

    #[test]
    fn pending_slots_are_bounded_per_host_and_released() {
        let g = Arc::new(AuthGuard::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = g.admit(ip, &cfg()).unwrap();
        let _b = g.admit(ip, &cfg()).unwrap();
        assert_eq!(g.admit(ip, &cfg()).err(), Some(Admission::TooMany));
        assert!(g.admit("10.0.0.2".parse().unwrap(), &cfg()).is_ok());
        drop(a);
        assert!(g.admit(ip, &cfg()).is_ok());
    }

    #[test]
    fn failures_delay_then_block() {
        let g = Arc::new(AuthGuard::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for n in 1..=2 {
            assert_eq!(g.record_failure(ip, &cfg()), n);
            assert_eq!(g.delay_for(ip, &cfg()), Duration::ZERO);
        }
        g.record_failure(ip, &cfg());
        assert_eq!(g.delay_for(ip, &cfg()), Duration::from_millis(500));
        assert_eq!(g.rows(&cfg())[0].state, "delayed");
        g.record_failure(ip, &cfg());
        g.record_failure(ip, &cfg());
        assert_eq!(g.admit(ip, &cfg()).err(), Some(Admission::Blocked));
        assert_eq!(g.rows(&cfg())[0].state, "blocked");
        assert_eq!(
            g.delay_for("10.0.0.9".parse().unwrap(), &cfg()),
            Duration::ZERO
        );
        assert_eq!(g.total_failures(), 5);
    }

    #[test]
    fn ipv6_hosts_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }
}
