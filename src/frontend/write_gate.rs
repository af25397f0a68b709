//! Write gates: an operator (`shardcat shards move`) pauses the writes to
//! chosen physical tables of one node while it switches them to another
//! node; writes planned onto them wait (at most until the pause's own
//! deadline), then are planned again against the switched rules.
//!
//! Every sharded write registers as in flight while it runs, and a
//! transaction's first sharded write until the transaction ends
//! ([`InFlight`], two atomic counters by generation): a pause flips the
//! generation and waits for the writes and write transactions of the old
//! one (whose later statements pass the gate: they finish on the old node
//! before the switch), so once it answers no write to the paused tables is
//! on its way to the old node.
//!
//! A pause that ends by its own deadline (the operator's command died or
//! lost its connection inside it) is **expired** by the first write that
//! meets it afterwards ([`WriteGates::expire`]): the proxy reloads its
//! configuration first — the placement file may name the new node already
//! (the command wrote it, then died before `SWITCH`) — so no write reaches
//! the old node of a switched placement; writes that waited then run.
//!
//! Owns: the paused set, the in-flight counts, the placement epoch (bumped
//! by a switch: sessions in a transaction take the switched rules then).
//! Must not: plan, run statements or read the configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A paused physical table: (node index, lower-case table name).
type GateKey = (usize, String);

/// The proxy's write gates.
#[derive(Debug, Default)]
pub struct WriteGates {
    /// Paused tables → when the pause ends by itself.
    paused: Mutex<HashMap<GateKey, Instant>>,
    generation: AtomicU64,
    inflight: [AtomicUsize; 2],
    changed: tokio::sync::Notify,
    /// Bumped by each switch of placement.
    epoch: AtomicU64,
}

/// A sharded write in flight (drop when it has finished).
#[derive(Debug)]
pub struct InFlight {
    gates: Arc<WriteGates>,
    generation: u64,
    index: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gates.inflight[self.index].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a pause was not granted.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    /// Writes already on their way did not finish in time.
    #[error("writes in flight did not finish within {0} ms; nothing paused")]
    Drain(u64),
}

impl WriteGates {
    /// Registers a write as in flight.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        loop {
            let generation = self.generation.load(Ordering::SeqCst);
            let index = (generation & 1) as usize;
            self.inflight[index].fetch_add(1, Ordering::SeqCst);
            if self.generation.load(Ordering::SeqCst) == generation {
                return InFlight {
                    gates: self.clone(),
                    generation,
                    index,
                };
            }
            self.inflight[index].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// True if `held` was registered before the latest pause began: the
    /// pause waits for it, so its transaction's writes go through.
    pub fn predates_pause(&self, held: &InFlight) -> bool {
        held.generation < self.generation.load(Ordering::SeqCst)
    }

    /// The placement epoch (see the module doc).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// If one of `targets` is paused: when its pause ends by itself (in
    /// the past for a pause that ended so and is not yet expired: the
    /// caller runs [`WriteGates::expire`] before planning again).
    pub fn paused_until<'a>(
        &self,
        targets: impl IntoIterator<Item = (usize, &'a str)>,
    ) -> Option<Instant> {
        let paused = self.paused.lock();
        if paused.is_empty() {
            return None;
        }
        targets
            .into_iter()
            .filter_map(|(node, table)| paused.get(&(node, table.to_ascii_lowercase())))
            .max()
            .copied()
    }

    /// Removes the pauses whose deadline has passed (not lifted by
    /// `RESUME`), running `reload` first, once, under the gates' lock (so
    /// no write plans against the rules of before it); bumps the epoch.
    /// True if there was one.
    pub fn expire<T>(&self, reload: impl FnOnce() -> T) -> Option<T> {
        let mut paused = self.paused.lock();
        let now = Instant::now();
        if !paused.values().any(|until| *until <= now) {
            return None;
        }
        let done = reload();
        paused.retain(|_, until| *until > now);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        drop(paused);
        self.changed.notify_waiters();
        Some(done)
    }

    /// Waits until the pause ending at `until` is lifted (or ends).
    pub async fn wait(&self, until: Instant) {
        loop {
            let notified = self.changed.notified();
            if Instant::now() >= until {
                return;
            }
            let step = until.saturating_duration_since(Instant::now());
            if tokio::time::timeout(step, notified).await.is_ok() {
                return;
            }
        }
    }

    /// Pauses writes to `tables` of `node` for at most `hold`; answers once
    /// no earlier write is in flight (waiting at most `drain`), with the
    /// time that took.
    pub async fn pause(
        &self,
        node: usize,
        tables: &[String],
        hold: Duration,
        drain: Duration,
    ) -> Result<Duration, PauseError> {
        let start = Instant::now();
        {
            let mut paused = self.paused.lock();
            for t in tables {
                paused.insert((node, t.to_ascii_lowercase()), start + hold);
            }
        }
        let old = self.generation.fetch_add(1, Ordering::SeqCst);
        let counter = &self.inflight[(old & 1) as usize];
        while counter.load(Ordering::SeqCst) != 0 {
            if start.elapsed() >= drain {
                self.resume(node, tables);
                return Err(PauseError::Drain(drain.as_millis() as u64));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(start.elapsed())
    }

    /// Runs `switch` (the reload that moves the tables) if every one of
    /// `tables` is still paused; bumps the epoch when it succeeds.
    pub fn switch_while_paused<T>(
        &self,
        node: usize,
        tables: &[String],
        switch: impl FnOnce() -> Result<T, String>,
    ) -> Result<T, String> {
        let paused = self.paused.lock();
        let now = Instant::now();
        for t in tables {
            match paused.get(&(node, t.to_ascii_lowercase())) {
                Some(until) if *until > now => {}
                _ => {
                    return Err(format!(
                        "writes to `{t}` are not paused (or the pause ended)"
                    ))
                }
            }
        }
        let done = switch()?;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Ok(done)
    }

    /// Lifts the pause of `tables` of `node`; the number lifted.
    pub fn resume(&self, node: usize, tables: &[String]) -> usize {
        let mut paused = self.paused.lock();
        let lifted = tables
            .iter()
            .filter(|t| paused.remove(&(node, t.to_ascii_lowercase())).is_some())
            .count();
        drop(paused);
        self.changed.notify_waiters();
        lifted
    }

    /// The paused tables: (node index, table, milliseconds left).
    pub fn list(&self) -> Vec<(usize, String, u64)> {
        let now = Instant::now();
        let mut rows: Vec<_> = self
            .paused
            .lock()
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|((node, table), until)| {
                let left = until.saturating_duration_since(now).as_millis() as u64;
                (*node, table.clone(), left)
            })
            .collect();
        rows.sort();
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pause_waits_for_writes_in_flight_and_blocks_new_ones() {
        let gates = Arc::new(WriteGates::default());
        let early = gates.enter();
        let tables = vec!["users_1".to_string()];
        let g = gates.clone();
        let t = tables.clone();
        let pause = tokio::spawn(async move {
            g.pause(0, &t, Duration::from_secs(5), Duration::from_secs(5))
                .await
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!pause.is_finished(), "the pause waits for the early write");
        drop(early);
        let drained = pause.await.unwrap().unwrap();
        assert!(drained >= Duration::from_millis(25));
        assert!(gates.paused_until([(0, "USERS_1")]).is_some());
        assert!(gates.paused_until([(1, "users_1")]).is_none());
        assert!(gates.paused_until([(0, "users_2")]).is_none());
        let until = gates.paused_until([(0, "users_1")]).unwrap();
        let g = gates.clone();
        let waiter = tokio::spawn(async move { g.wait(until).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        assert_eq!(gates.switch_while_paused(0, &tables, || Ok(7)), Ok(7));
        assert_eq!(gates.epoch(), 1);
        assert_eq!(gates.resume(0, &tables), 1);
        waiter.await.unwrap();
        assert!(gates.switch_while_paused(0, &tables, || Ok(1)).is_err());
    }

    #[tokio::test]
    async fn a_pause_that_cannot_drain_is_withdrawn_and_pauses_end_by_themselves() {
        let gates = Arc::new(WriteGates::default());
        let _stuck = gates.enter();
        let tables = vec!["t".to_string()];
        let r = gates
            .pause(
                0,
                &tables,
                Duration::from_secs(5),
                Duration::from_millis(20),
            )
            .await;
        assert!(matches!(r, Err(PauseError::Drain(20))));
        assert!(gates.list().is_empty());
        drop(_stuck);
        gates
            .pause(
                0,
                &tables,
                Duration::from_millis(30),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        let until = gates.paused_until([(0, "t")]).unwrap();
        let start = Instant::now();
        gates.wait(until).await;
        assert!(start.elapsed() < Duration::from_millis(200));
        // Ended by its deadline: still there until a write expires it,
        // which reloads once, first.
        assert!(gates.paused_until([(0, "t")]).is_some());
        assert!(gates.switch_while_paused(0, &tables, || Ok(1)).is_err());
        let epoch = gates.epoch();
        assert_eq!(gates.expire(|| 5), Some(5));
        assert_eq!(gates.epoch(), epoch + 1);
        assert!(gates.paused_until([(0, "t")]).is_none());
        assert_eq!(gates.expire(|| 6), None);
    }
}
