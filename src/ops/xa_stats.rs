//! Counters of XA two-phase commit and of its recovery: what ended how,
//! which branches recovery resolved, how many are still prepared. Kept in
//! process-wide atomics (the commit protocol and the recovery task have no
//! handle on the proxy), read by `ops::metrics` at scrape time and by
//! `SHOW SHARDCAT XA`.
//!
//! Owns: the counters and their names. Must not: run statements or decide
//! anything from them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How a transaction that had XA branches (or an autocommit write on
/// several nodes) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Two-phase commit: decision recorded, every branch committed.
    Committed,
    /// At most one node wrote: one-phase commit, no log.
    CommittedOnePhase,
    /// The client (or an error in a statement) rolled it back.
    RolledBack,
    /// The decision log or a PREPARE failed: rolled back everywhere.
    Aborted,
    /// The coordinator's COMMIT failed: recovery decides from the log.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Committed,
        Outcome::CommittedOnePhase,
        Outcome::RolledBack,
        Outcome::Aborted,
        Outcome::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::CommittedOnePhase => "committed_one_phase",
            Outcome::RolledBack => "rolled_back",
            Outcome::Aborted => "aborted",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The counters (see the module doc).
#[derive(Debug, Default)]
pub struct XaStats {
    outcomes: [AtomicU64; 5],
    /// Branches whose `XA COMMIT` failed after the decision (left to
    /// recovery; the client was told the commit succeeded).
    pub phase2_deferred: AtomicU64,
    pub recovered_commits: AtomicU64,
    pub recovered_rollbacks: AtomicU64,
    pub recovery_runs: AtomicU64,
    /// Rounds where a primary or a coordinator did not answer, or a
    /// branch could not be resolved.
    pub recovery_failures: AtomicU64,
    /// Shardcat branches left prepared by the last round.
    pub pending: AtomicI64,
    /// When the last round ended (Unix ms; 0: never).
    pub last_round_ms: AtomicU64,
}

/// The process's counters.
pub static XA: XaStats = XaStats {
    outcomes: [const { AtomicU64::new(0) }; 5],
    phase2_deferred: AtomicU64::new(0),
    recovered_commits: AtomicU64::new(0),
    recovered_rollbacks: AtomicU64::new(0),
    recovery_runs: AtomicU64::new(0),
    recovery_failures: AtomicU64::new(0),
    pending: AtomicI64::new(0),
    last_round_ms: AtomicU64::new(0),
};

impl XaStats {
    pub fn ended(&self, o: Outcome) {
        self.outcomes[o as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes[o as usize].load(Ordering::Relaxed)
    }

    /// Records one recovery round.
    pub fn round(&self, committed: usize, rolled_back: usize, pending: usize, failed: bool) {
        self.recovered_commits
            .fetch_add(committed as u64, Ordering::Relaxed);
        self.recovered_rollbacks
            .fetch_add(rolled_back as u64, Ordering::Relaxed);
        self.recovery_runs.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.recovery_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.pending.store(pending as i64, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.last_round_ms.store(now, Ordering::Relaxed);
    }

    /// `(name, value)` rows for `SHOW SHARDCAT XA`.
    pub fn rows(&self) -> Vec<(String, String)> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let mut rows: Vec<(String, String)> = Outcome::ALL
            .iter()
            .map(|o| {
                (
                    format!("transactions_{}", o.label()),
                    self.outcome(*o).to_string(),
                )
            })
            .collect();
        rows.push(("phase2_deferred".into(), get(&self.phase2_deferred)));
        rows.push(("recovered_commits".into(), get(&self.recovered_commits)));
        rows.push(("recovered_rollbacks".into(), get(&self.recovered_rollbacks)));
        rows.push(("recovery_runs".into(), get(&self.recovery_runs)));
        rows.push(("recovery_failures".into(), get(&self.recovery_failures)));
        rows.push((
            "pending_prepared_branches".into(),
            self.pending.load(Ordering::Relaxed).to_string(),
        ));
        rows.push(("last_recovery_unix_ms".into(), get(&self.last_round_ms)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_count_separately() {
        let s = XaStats::default();
        s.ended(Outcome::Committed);
        s.ended(Outcome::Committed);
        s.ended(Outcome::Unknown);
        assert_eq!(s.outcome(Outcome::Committed), 2);
        assert_eq!(s.outcome(Outcome::Unknown), 1);
        assert_eq!(s.outcome(Outcome::Aborted), 0);
        s.round(3, 1, 2, true);
        let rows = s.rows();
        let get = |n: &str| rows.iter().find(|r| r.0 == n).unwrap().1.clone();
        assert_eq!(get("recovered_commits"), "3");
        assert_eq!(get("pending_prepared_branches"), "2");
        assert_eq!(get("recovery_failures"), "1");
        assert_eq!(get("transactions_committed"), "2");
    }
}
