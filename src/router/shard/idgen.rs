//! Global ids for sharding keys (and other `[[sequence]]` columns) that an
//! INSERT leaves out: snowflake ids.
//!
//! Layout of an id (63 bits, always positive as a BIGINT):
//!
//! ```text
//! | 41 bits: milliseconds since epoch_ms | 10 bits: worker id | 12 bits: sequence |
//! ```
//!
//! - Unique across proxy instances as long as each has its own
//!   `[id_generator] worker_id` (0..=1023): two generators with different
//!   worker ids never produce the same id, whatever their clocks say.
//! - Strictly increasing within one generator: if the clock goes backwards
//!   the generator keeps using its last timestamp, and when 4096 ids were
//!   issued in one millisecond it borrows the next millisecond instead of
//!   sleeping (it never waits).
//! - Generators of the same worker id and epoch in one process share their
//!   state (a configuration reload does not restart the sequence).
//!
//! Not implemented: "segment" sequences (blocks of ids reserved from a
//! table on a node); the config loader refuses `kind = "segment"`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// 2026-01-01T00:00:00Z in Unix milliseconds.
pub const DEFAULT_EPOCH_MS: u64 = 1_767_225_600_000;
/// Largest worker id (10 bits).
pub const MAX_WORKER_ID: u16 = 1023;

const WORKER_BITS: u32 = 10;
const SEQUENCE_BITS: u32 = 12;
const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;
const TIME_MASK: u64 = (1 << 41) - 1;

#[derive(Debug, Default)]
struct State {
    /// Milliseconds since the epoch of the last id.
    last_ms: u64,
    /// Sequence of the last id within `last_ms`.
    sequence: u64,
    /// Whether an id was issued yet.
    started: bool,
}

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// A snowflake id generator.
#[derive(Clone)]
pub struct IdGenerator {
    worker_id: u16,
    epoch_ms: u64,
    state: Arc<Mutex<State>>,
    clock: Clock,
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGenerator")
            .field("worker_id", &self.worker_id)
            .field("epoch_ms", &self.epoch_ms)
            .finish()
    }
}

fn system_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

type Registry = Mutex<HashMap<(u16, u64), Arc<Mutex<State>>>>;

fn shared_state(worker_id: u16, epoch_ms: u64) -> Arc<Mutex<State>> {
    static STATES: OnceLock<Registry> = OnceLock::new();
    STATES
        .get_or_init(Default::default)
        .lock()
        .entry((worker_id, epoch_ms))
        .or_default()
        .clone()
}

impl IdGenerator {
    /// A generator on the system clock; state shared with every other
    /// generator of the same worker id and epoch in this process.
    /// `worker_id` is masked to 10 bits (the config loader refuses larger).
    pub fn new(worker_id: u16, epoch_ms: u64) -> Self {
        let worker_id = worker_id & MAX_WORKER_ID;
        IdGenerator {
            worker_id,
            epoch_ms,
            state: shared_state(worker_id, epoch_ms),
            clock: Arc::new(system_ms),
        }
    }

    /// A generator with its own state and clock (Unix milliseconds), for
    /// tests.
    pub fn with_clock(
        worker_id: u16,
        epoch_ms: u64,
        clock: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        IdGenerator {
            worker_id: worker_id & MAX_WORKER_ID,
            epoch_ms,
            state: Arc::default(),
            clock: Arc::new(clock),
        }
    }

    /// The worker id.
    pub fn worker_id(&self) -> u16 {
        self.worker_id
    }

    /// The next id: greater than every id this generator (and those sharing
    /// its state) returned before.
    pub fn next_id(&self) -> u64 {
        let now = (self.clock)().saturating_sub(self.epoch_ms) & TIME_MASK;
        let mut state = self.state.lock();
        if !state.started || now > state.last_ms {
            state.last_ms = now.max(state.last_ms);
            state.sequence = 0;
            state.started = true;
        } else if state.sequence < SEQUENCE_MASK {
            state.sequence += 1;
        } else {
            // 4096 ids in one millisecond (or the clock went backwards and
            // the sequence is used up): borrow the next millisecond.
            state.last_ms = (state.last_ms + 1) & TIME_MASK;
            state.sequence = 0;
        }
        (state.last_ms << (WORKER_BITS + SEQUENCE_BITS))
            | (u64::from(self.worker_id) << SEQUENCE_BITS)
            | state.sequence
    }

    /// The parts of an id: (milliseconds since epoch, worker id, sequence).
    pub fn decompose(id: u64) -> (u64, u16, u16) {
        (
            id >> (WORKER_BITS + SEQUENCE_BITS),
            ((id >> SEQUENCE_BITS) & u64::from(MAX_WORKER_ID)) as u16,
            (id & SEQUENCE_MASK) as u16,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn monotonic_within_one_generator_even_when_the_clock_goes_back() {
        let now = Arc::new(AtomicU64::new(DEFAULT_EPOCH_MS + 1_000));
        let clock = now.clone();
        let generator =
            IdGenerator::with_clock(7, DEFAULT_EPOCH_MS, move || clock.load(Ordering::SeqCst));
        let mut last = 0;
        for step in 0..20_000u64 {
            // Stall, jump ahead and go backwards.
            match step % 5000 {
                0 => now.fetch_add(3, Ordering::SeqCst),
                4999 => now.fetch_sub(500, Ordering::SeqCst),
                _ => 0,
            };
            let id = generator.next_id();
            assert!(id > last, "step {step}: {id} after {last}");
            assert_eq!(IdGenerator::decompose(id).1, 7);
            last = id;
        }
    }

    #[test]
    fn different_workers_never_collide() {
        let clock = || DEFAULT_EPOCH_MS + 42;
        let a = IdGenerator::with_clock(1, DEFAULT_EPOCH_MS, clock);
        let b = IdGenerator::with_clock(2, DEFAULT_EPOCH_MS, clock);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(a.next_id()));
            assert!(seen.insert(b.next_id()));
        }
    }

    #[test]
    fn shared_state_and_layout() {
        let a = IdGenerator::new(1000, DEFAULT_EPOCH_MS);
        let b = IdGenerator::new(1000, DEFAULT_EPOCH_MS);
        let (x, y, z) = (a.next_id(), b.next_id(), a.next_id());
        assert!(x < y && y < z);
        assert_eq!(IdGenerator::decompose(x).1, 1000);
        assert!(x < (1 << 63));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let g = a.clone();
                std::thread::spawn(move || (0..2000).map(|_| g.next_id()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(all.insert(id));
            }
        }
    }
}
