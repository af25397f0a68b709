//! Query digests: every client statement counted by its normalized text
//! (literals replaced by `?`), with errors and latency, as ProxySQL's
//! `stats_mysql_query_digest`; read with `SHOW SHARDCAT DIGESTS`.
//!
//! Owns: the digest table and its bound. Must not: keep values of the
//! application's data (only the normalized text is stored) or decide what
//! a statement is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Most distinct digests kept; statements of further digests are counted
/// in [`Digests::overflow`] only, so memory stays bounded whatever the
/// application sends.
pub const MAX_DIGESTS: usize = 4096;
/// Longest normalized text kept per digest.
const MAX_TEXT: usize = 1024;
const SHARDS: usize = 16;

/// Counters of one digest.
#[derive(Debug, Clone, Default)]
pub struct DigestStats {
    pub text: String,
    pub count: u64,
    pub errors: u64,
    pub total: Duration,
    pub max: Duration,
    /// Seconds since the epoch.
    pub first_seen: u64,
    pub last_seen: u64,
}

/// The digest table, split in shards by hash so that sessions on several
/// threads rarely wait for each other.
pub struct Digests {
    shards: Vec<Mutex<HashMap<u64, DigestStats>>>,
    kept: AtomicU64,
    overflow: AtomicU64,
}

impl Default for Digests {
    fn default() -> Self {
        Digests {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            kept: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
        }
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Digests {
    /// Counts one statement. `sql` is the client's text (or a prepared
    /// statement's text); only its normalized form is stored.
    pub fn record(&self, sql: &str, took: Duration, failed: bool) {
        self.record_hashed(crate::sql::classify::digest_hash(sql), sql, took, failed)
    }

    /// [`Digests::record`] when the caller has `hash` =
    /// `digest_hash(sql)` already (from the statement's kept tokens, or
    /// kept with a prepared statement).
    pub fn record_hashed(&self, hash: u64, sql: &str, took: Duration, failed: bool) {
        let mut shard = self.shards[(hash as usize) % SHARDS].lock();
        let now = now_s();
        if let Some(d) = shard.get_mut(&hash) {
            d.count += 1;
            d.errors += u64::from(failed);
            d.total += took;
            d.max = d.max.max(took);
            d.last_seen = now;
            return;
        }
        if self.kept.load(Ordering::Relaxed) >= MAX_DIGESTS as u64 {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.kept.fetch_add(1, Ordering::Relaxed);
        let mut text = crate::sql::classify::fingerprint(sql).text;
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        shard.insert(
            hash,
            DigestStats {
                text,
                count: 1,
                errors: u64::from(failed),
                total: took,
                max: took,
                first_seen: now,
                last_seen: now,
            },
        );
    }

    /// Statements whose digest did not fit in the table.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Every digest, most total time first.
    pub fn snapshot(&self) -> Vec<(u64, DigestStats)> {
        let mut all: Vec<(u64, DigestStats)> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.lock()
                    .iter()
                    .map(|(h, d)| (*h, d.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
        all
    }

    /// Empties the table (`SHOW SHARDCAT DIGESTS RESET`).
    pub fn reset(&self) {
        for s in &self.shards {
            s.lock().clear();
        }
        self.kept.store(0, Ordering::Relaxed);
        self.overflow.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_with_other_literals_share_a_digest() {
        let d = Digests::default();
        for i in 0..50 {
            let sql = format!("SELECT v FROM t WHERE id = {i}");
            d.record(&sql, Duration::from_millis(i), i % 10 == 0);
        }
        d.record("SELECT 'x'", Duration::from_millis(1), false);
        let all = d.snapshot();
        assert_eq!(all.len(), 2);
        let top = &all[0].1;
        assert_eq!(top.text, "SELECT v FROM t WHERE id = ?");
        assert_eq!((top.count, top.errors), (50, 5));
        assert_eq!(top.max, Duration::from_millis(49));
        assert_eq!(top.total, Duration::from_millis((0..50).sum()));
        assert_eq!(all[1].1.text, "SELECT ?");
    }

    #[test]
    fn the_table_is_bounded() {
        let d = Digests::default();
        for i in 0..MAX_DIGESTS + 100 {
            // Distinct shapes: the column name differs.
            d.record(&format!("SELECT c{i} FROM t"), Duration::ZERO, false);
        }
        assert_eq!(d.snapshot().len(), MAX_DIGESTS);
        assert_eq!(d.overflow(), 100);
        d.reset();
        assert!(d.snapshot().is_empty());
    }
}
