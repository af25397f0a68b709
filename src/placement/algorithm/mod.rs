//! Placement functions: which slot a key lives in, and which slots a key
//! range can touch.
//!
//! Owns: the `algorithm = { kind = "...", ... }` part of a table rule and its
//! arithmetic. A *slot* is one physical table; slots are numbered `0..n`.
//! Must not touch: which node or table name a slot maps to (`rules.rs`),
//! key conversion (`key.rs`), the hash definitions (`hash.rs`).
//!
//! | kind         | slot of key `k` among `n` slots                                   |
//! |--------------|-------------------------------------------------------------------|
//! | `hash_mod`   | integer keys: `k.rem_euclid(n)` (so `-1` → `n-1`); others: `hash(encode(k)) % n` |
//! | `jump`       | Jump Consistent Hash (Lamping & Veach 2014) of `hash(encode(k))`; going from `n` to `n+1` slots moves only ~1/(n+1) of the keys, all into the new slot |
//! | `hash_range` | the 64-bit keyspace point of `hash(encode(k))` (32-bit hashes are shifted left by 32), in `n` equal ranges, or in the ranges cut by explicit `boundaries` (Vitess model: a range can be split later without rehashing the others) |
//! | `range`      | integer keys: `bounds = [1000, 2000]` → slot 0: `k < 1000`, slot 1: `1000 ≤ k < 2000`, slot 2: `k ≥ 2000` |
//! | `time_range` | the `unit` (day, month, year) period of a DATE/DATETIME key; slots number the configured periods in order (a rolling rule, `start` + `nodes`, expands to `horizon` periods round robin) |
//!
//! NULL keys go to slot 0 under every algorithm except `time_range`, which
//! refuses them (MySQL also puts NULL into the first RANGE partition and
//! treats it as 0 for HASH partitions).

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::collation::Collation;
use super::hash::HashFunction;
use super::key::ShardKey;

mod composite;
mod lifecycle;
mod time_range;
pub use composite::{Composite, PeriodSplit};
pub use lifecycle::{PeriodWindow, Retention};
pub use time_range::{default_horizon, rolling_spans, Period, PeriodSpan, TimeRange, TimeUnit};

/// At most this many integer values of a `BETWEEN` are enumerated when
/// pruning hash-placed slots; wider ranges touch all slots.
pub const RANGE_ENUMERATION_LIMIT: i128 = 256;

/// The placement function of a sharded table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Algorithm {
    /// Integer keys modulo the slot count; other keys hashed, then modulo.
    HashMod {
        /// Hash for non-integer keys (default `xxh3`).
        #[serde(default)]
        hash: HashFunction,
    },
    /// Jump Consistent Hash over `hash` of the canonical key.
    Jump {
        /// Hash of the canonical key (default `xxh3`).
        #[serde(default)]
        hash: HashFunction,
    },
    /// Contiguous ranges of the 64-bit hash keyspace.
    HashRange {
        /// Hash of the canonical key (default `xxh3`).
        #[serde(default)]
        hash: HashFunction,
        /// Optional explicit cut points, strictly increasing hex prefixes of
        /// the keyspace (`"40"` = `0x4000000000000000`); `n - 1` of them for
        /// `n` slots. Empty: `n` equal ranges.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        boundaries: Vec<KeyspaceBoundary>,
    },
    /// Integer ranges cut at `bounds` (strictly increasing).
    Range {
        /// Cut points; `bounds.len() + 1` slots.
        bounds: Vec<i64>,
    },
    /// One slot per configured day, month or year.
    TimeRange(TimeRange),
    /// A hash (or range) of the key, then the period of a second, date
    /// column: written as the hash algorithm plus the rule's `period`
    /// table (`raw.rs` builds it; never read from `algorithm` itself).
    #[serde(skip)]
    Composite(Box<Composite>),
}

/// A cut point of the 64-bit hash keyspace, written in rule files as a hex
/// prefix (`"8"`, `"80"` and `"8000000000000000"` are all `2^63`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyspaceBoundary(pub u64);

impl TryFrom<String> for KeyspaceBoundary {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let digits = text.strip_prefix("0x").unwrap_or(&text);
        if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(format!(
                "hash_range boundary `{text}` must be 1 to 16 hex digits (a prefix of the 64-bit keyspace, like \"40\" or \"8000\")"
            ));
        }
        let value = u64::from_str_radix(digits, 16).map_err(|error| error.to_string())?;
        let shift = 4 * (16 - u32::try_from(digits.len()).unwrap_or(16));
        Ok(KeyspaceBoundary(value.checked_shl(shift).unwrap_or(0)))
    }
}

impl From<KeyspaceBoundary> for String {
    fn from(boundary: KeyspaceBoundary) -> String {
        format!("{:016x}", boundary.0)
    }
}

/// The slots a statement must visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotSet {
    /// Every slot of the table.
    All,
    /// These slots only, sorted and without duplicates (may be empty: no
    /// slot can hold a match).
    Slots(Vec<usize>),
}

impl SlotSet {
    /// Normalizes a list of slots: sorted, deduplicated, `All` when it covers
    /// every one of `slot_count` slots.
    pub fn from_slots(mut slots: Vec<usize>, slot_count: usize) -> Self {
        slots.sort_unstable();
        slots.dedup();
        if slot_count > 0 && slots.len() == slot_count && slots.last() == Some(&(slot_count - 1)) {
            SlotSet::All
        } else {
            SlotSet::Slots(slots)
        }
    }

    /// The explicit slot numbers among `slot_count` slots (at most
    /// [`MAX_SLOTS`](super::rules::MAX_SLOTS), the most a valid rule has).
    pub fn to_vec(&self, slot_count: usize) -> Vec<usize> {
        match self {
            SlotSet::All => (0..slot_count.min(super::rules::MAX_SLOTS)).collect(),
            SlotSet::Slots(slots) => slots.iter().copied().filter(|s| *s < slot_count).collect(),
        }
    }
}

/// Why a key has no slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// The algorithm has no place for this key value.
    #[error("no shard holds the key {key}: {reason}")]
    NoShardForKey {
        /// The key, rendered for people.
        key: String,
        /// Why.
        reason: String,
    },
    /// The key's type does not suit the algorithm.
    #[error("a {given} key cannot be placed by `{algorithm}`, which needs {needs} keys")]
    KeyTypeMismatch {
        /// The key's kind.
        given: &'static str,
        /// The algorithm's name.
        algorithm: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// The table's layout has no slot for the computed one (an unvalidated
    /// rule).
    #[error(
        "the rule of table `{table}` is inconsistent (slot {slot} of {slot_count}); validate it"
    )]
    InconsistentRule {
        /// Logical table.
        table: String,
        /// Slot computed.
        slot: usize,
        /// Slots in the layout.
        slot_count: usize,
    },
    /// The table is not sharded by a key.
    #[error("table `{table}` is not sharded (broadcast or single-node); it has no key to place")]
    NotSharded {
        /// Logical table.
        table: String,
    },
    /// A composite rule's slot needs the period column's value too.
    #[error("the table is split by a key and a period column: its slot needs both values")]
    NeedsPeriodKey,
    /// A bound table asked for its placement without its parent rules.
    #[error("table `{table}` is bound to `{parent}`; place it through `ShardingRules`")]
    NeedsParent {
        /// Logical table.
        table: String,
        /// The `bound_to` parent.
        parent: String,
    },
}

impl Algorithm {
    /// The name used in rule files.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::HashMod { .. } => "hash_mod",
            Algorithm::Jump { .. } => "jump",
            Algorithm::HashRange { .. } => "hash_range",
            Algorithm::Range { .. } => "range",
            Algorithm::TimeRange(_) => "time_range",
            Algorithm::Composite(_) => "composite",
        }
    }

    /// The number of slots the algorithm itself defines, if it does (range
    /// bounds, explicit hash-range boundaries, time periods); otherwise the
    /// slot count comes from the node grid.
    pub fn own_slot_count(&self) -> Option<usize> {
        match self {
            Algorithm::Range { bounds } => Some(bounds.len() + 1),
            Algorithm::HashRange { boundaries, .. } if !boundaries.is_empty() => {
                Some(boundaries.len() + 1)
            }
            Algorithm::TimeRange(time) => Some(time.slot_count()),
            _ => None,
        }
    }

    /// The slot of `key` among `slot_count` slots; `collation` applies to
    /// string keys. Algorithms that define their own slot count (see
    /// [`Algorithm::own_slot_count`]) ignore `slot_count`.
    pub fn slot_for_key(
        &self,
        key: &ShardKey,
        slot_count: usize,
        collation: &Collation,
    ) -> Result<usize, PlacementError> {
        let slot_count = self.own_slot_count().unwrap_or(slot_count);
        if slot_count == 0 {
            return Err(PlacementError::NoShardForKey {
                key: key.to_string(),
                reason: "the table has no slots".to_owned(),
            });
        }
        if matches!(key, ShardKey::Null)
            && !matches!(self, Algorithm::TimeRange(_) | Algorithm::Composite(_))
        {
            return Ok(0);
        }
        let slot_count_u64 = u64::try_from(slot_count).unwrap_or(u64::MAX);
        match self {
            Algorithm::HashMod { hash } => match key.as_i128() {
                Some(value) => usize::try_from(value.rem_euclid(i128::from(slot_count_u64)))
                    .map_err(|_| no_slot(key, "slot out of range")),
                None => usize::try_from(hash.hash(&key.encode(collation)) % slot_count_u64)
                    .map_err(|_| no_slot(key, "slot out of range")),
            },
            Algorithm::Jump { hash } => {
                let buckets = u32::try_from(slot_count).unwrap_or(u32::MAX);
                let slot = jump_consistent_hash(hash.hash(&key.encode(collation)), buckets);
                usize::try_from(slot).map_err(|_| no_slot(key, "slot out of range"))
            }
            Algorithm::HashRange { hash, boundaries } => {
                let point = hash.keyspace_point(&key.encode(collation));
                if boundaries.is_empty() {
                    let slot = (u128::from(point) * u128::from(slot_count_u64)) >> 64;
                    usize::try_from(slot).map_err(|_| no_slot(key, "slot out of range"))
                } else {
                    Ok(boundaries.partition_point(|boundary| boundary.0 <= point))
                }
            }
            Algorithm::Range { bounds } => {
                let value = key.as_i128().ok_or(PlacementError::KeyTypeMismatch {
                    given: key.kind_name(),
                    algorithm: "range",
                    needs: "integer",
                })?;
                Ok(bounds.partition_point(|bound| i128::from(*bound) <= value))
            }
            Algorithm::TimeRange(time) => time.slot_for_key(key),
            Algorithm::Composite(_) => Err(PlacementError::NeedsPeriodKey),
        }
    }

    /// The slots that can hold keys between `low` and `high` (a `WHERE`
    /// range, `BETWEEN`, or an equality when both bounds are the same
    /// included key). Always a superset of the true answer: when unsure,
    /// [`SlotSet::All`].
    pub fn slots_for_range(
        &self,
        low: Bound<&ShardKey>,
        high: Bound<&ShardKey>,
        slot_count: usize,
        collation: &Collation,
    ) -> SlotSet {
        if let Algorithm::Composite(composite) = self {
            return composite.slots_for_hash_range(low, high, slot_count, collation);
        }
        let slot_count = self.own_slot_count().unwrap_or(slot_count);
        let bound_key = |bound: Bound<&ShardKey>| match bound {
            Bound::Included(key) | Bound::Excluded(key) => Some(key.clone()),
            Bound::Unbounded => None,
        };
        if [bound_key(low), bound_key(high)]
            .iter()
            .any(|key| matches!(key, Some(ShardKey::Null)))
        {
            return SlotSet::All;
        }
        if let (Bound::Included(first), Bound::Included(last)) = (low, high) {
            // Only the very same value is a point: bounds merely equal
            // under the rule's collation ('A' and 'Á' under a `_ci` rule)
            // enclose other values under the column's own (a `_bin`
            // column holds 'a', 'abc', … between them), whose rows hash
            // elsewhere.
            if first == last {
                return match self.slot_for_key(first, slot_count, collation) {
                    Ok(slot) => SlotSet::Slots(vec![slot]),
                    Err(PlacementError::NoShardForKey { .. }) => SlotSet::Slots(Vec::new()),
                    Err(_) => SlotSet::All,
                };
            }
        }
        match self {
            Algorithm::HashMod { .. } | Algorithm::Jump { .. } | Algorithm::HashRange { .. } => {
                let Some((first, last)) = integer_interval(low, high) else {
                    return SlotSet::All;
                };
                if last < first {
                    return SlotSet::Slots(Vec::new());
                }
                if last - first >= RANGE_ENUMERATION_LIMIT {
                    return SlotSet::All;
                }
                // Every slot seen: the rest of the range cannot add one
                // (a range of 100 ids over 2 slots is decided by its first
                // two values, not hashed 100 times per statement).
                let mut seen = vec![false; slot_count];
                let mut slots = Vec::new();
                for value in first..=last {
                    let key = match (i64::try_from(value), u64::try_from(value)) {
                        (Ok(signed), _) => ShardKey::Int(signed),
                        (Err(_), Ok(unsigned)) => ShardKey::UInt(unsigned),
                        _ => continue,
                    };
                    let Ok(slot) = self.slot_for_key(&key, slot_count, collation) else {
                        continue;
                    };
                    match seen.get_mut(slot) {
                        Some(s) if !*s => {
                            *s = true;
                            slots.push(slot);
                            if slots.len() == slot_count {
                                return SlotSet::All;
                            }
                        }
                        Some(_) => {}
                        None => slots.push(slot),
                    }
                }
                SlotSet::from_slots(slots, slot_count)
            }
            Algorithm::Range { bounds } => {
                let Some((first, last)) = integer_interval(low, high) else {
                    return SlotSet::All;
                };
                if last < first {
                    return SlotSet::Slots(Vec::new());
                }
                let slot_of =
                    |value: i128| bounds.partition_point(|bound| i128::from(*bound) <= value);
                SlotSet::from_slots((slot_of(first)..=slot_of(last)).collect(), bounds.len() + 1)
            }
            Algorithm::TimeRange(time) => time.slots_for_range(low, high),
            Algorithm::Composite(composite) => {
                composite.slots_for_hash_range(low, high, slot_count, collation)
            }
        }
    }
}

/// The inclusive integer interval of two bounds; `None` if a bound is not an
/// integer key. Unbounded sides become the widest 64-bit values.
fn integer_interval(low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> Option<(i128, i128)> {
    let first = match low {
        Bound::Unbounded => i128::from(i64::MIN),
        Bound::Included(key) => key.as_i128()?,
        Bound::Excluded(key) => key.as_i128()? + 1,
    };
    let last = match high {
        Bound::Unbounded => i128::from(u64::MAX),
        Bound::Included(key) => key.as_i128()?,
        Bound::Excluded(key) => key.as_i128()? - 1,
    };
    Some((first, last))
}

fn no_slot(key: &ShardKey, reason: &str) -> PlacementError {
    PlacementError::NoShardForKey {
        key: key.to_string(),
        reason: reason.to_owned(),
    }
}

/// Jump Consistent Hash (John Lamping, Eric Veach: "A Fast, Minimal Memory,
/// Consistent Hash Algorithm", 2014), exactly as the paper's C++ code,
/// including its double-precision arithmetic (deterministic under IEEE 754).
/// Returns 0 for `buckets == 0`.
pub fn jump_consistent_hash(key: u64, buckets: u32) -> u32 {
    let mut key = key;
    let mut bucket: i64 = -1;
    let mut next: i64 = 0;
    while next < i64::from(buckets) {
        bucket = next;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        next = ((bucket + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    u32::try_from(bucket.max(0)).unwrap_or(0)
}

/// The explicit `hash_range` boundaries equivalent to `slot_count` equal
/// ranges: `ceil(i * 2^64 / n)` for `i` in `1..n`. Write these into the rule
/// file, then insert a midpoint, to split one slot.
pub fn even_hash_range_boundaries(slot_count: usize) -> Vec<KeyspaceBoundary> {
    let count = u128::try_from(slot_count).unwrap_or(0);
    (1..count)
        .filter_map(|index| u64::try_from((index << 64).div_ceil(count)).ok())
        .map(KeyspaceBoundary)
        .collect()
}

#[cfg(test)]
mod tests;
