//! The table of the merge's DISTINCT rows and GROUP BY groups: xxh3,
//! keyed per table with a random seed, over one key buffer per row, the
//! keys kept in one arena (no allocation per row: the caller builds each
//! row's key in a buffer it reuses). Keys are equality keys of column
//! values, often `WEIGHT_STRING`s of a few hundred bytes per row; SipHash
//! over a `Vec` per column cost ~10 % of a sharded `oltp_read_only`
//! transaction's instructions (BENCHMARKS.md, instruction profile); xxh3
//! fed many small writes was no faster, one buffer per row is. The random
//! seed keeps data chosen to collide (hash flooding) from degrading a set,
//! as SipHash's random keys do.
//!
//! Owns: that choice of hasher, the key table and the layout of a row's
//! key buffer. Must
//! not decide what a column's key is (that is `crate::merge::compare`).

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::merge::compare::append_equality_key_at;
use crate::merge::{RowValues, ValueOrder};

/// A random seed for one table's hashes.
fn random_seed() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// Appends the equality keys of a row's `columns` to `key`: per column a
/// NULL marker (0) or 1, the key's length (4 bytes) and the key, so that
/// two rows have the same bytes exactly when every column's key is equal.
pub fn row_key_into<R: RowValues + ?Sized>(
    row: &R,
    columns: impl IntoIterator<Item = usize>,
    orders: &[ValueOrder],
    key: &mut Vec<u8>,
) {
    for c in columns {
        let at = key.len();
        key.extend_from_slice(&[1, 0, 0, 0, 0]);
        match orders
            .get(c)
            .and_then(|o| append_equality_key_at(o, row, c, key))
        {
            None => {
                key.truncate(at);
                key.push(0);
            }
            Some(n) => key[at + 1..at + 5].copy_from_slice(&(n as u32).to_le_bytes()),
        }
    }
}

/// The table of an already well-mixed 64-bit hash: used as it is.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The entries whose keys hash alike (one, but for a collision).
enum Bucket {
    One(u32),
    Many(Vec<u32>),
}

/// Merge keys (built by [`row_key_into`] into the caller's reused buffer)
/// with a value each, stored without an allocation per key: every key's
/// bytes are appended to one arena, and the index maps the key's seeded
/// xxh3 hash to the entries holding it. Entries keep their order of
/// insertion.
pub struct KeyTable<V> {
    seed: u64,
    arena: Vec<u8>,
    entries: Vec<(Range<usize>, V)>,
    index: HashMap<u64, Bucket, BuildHasherDefault<Identity>>,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            seed: random_seed(),
            arena: Vec::new(),
            entries: Vec::new(),
            index: HashMap::default(),
        }
    }
}

impl<V> KeyTable<V> {
    /// How many distinct keys it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The position of `key`'s entry, inserting one with `value()` when
    /// the key is new; `true` when it was inserted.
    pub fn find_or_insert(&mut self, key: &[u8], value: impl FnOnce() -> V) -> (usize, bool) {
        let hash = xxhash_rust::xxh3::xxh3_64_with_seed(key, self.seed);
        let (arena, entries) = (&self.arena, &self.entries);
        let same = |i: &u32| arena[entries[*i as usize].0.clone()] == *key;
        let next = self.entries.len() as u32;
        match self.index.get_mut(&hash) {
            None => {
                self.index.insert(hash, Bucket::One(next));
            }
            Some(b) => match b {
                Bucket::One(i) if same(i) => return (*i as usize, false),
                Bucket::One(i) => {
                    let first = *i;
                    *b = Bucket::Many(vec![first, next]);
                }
                Bucket::Many(is) => {
                    if let Some(i) = is.iter().find(|i| same(i)) {
                        return (*i as usize, false);
                    }
                    is.push(next);
                }
            },
        }
        let start = self.arena.len();
        self.arena.extend_from_slice(key);
        self.entries.push((start..self.arena.len(), value()));
        (next as usize, true)
    }

    /// The value of entry `i` (a position [`KeyTable::find_or_insert`]
    /// gave).
    pub fn value_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }

    /// The values in order of insertion.
    pub fn into_values(self) -> impl Iterator<Item = V> {
        self.entries.into_iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal keys meet, different keys stay apart, across many sizes of
    /// key; entries keep their values and their order.
    #[test]
    fn tables_tell_keys_apart() {
        let mut table: KeyTable<usize> = KeyTable::default();
        for n in 0..600usize {
            let key = vec![(n % 251) as u8; n];
            assert_eq!(table.find_or_insert(&key, || n), (n, true), "{n}");
            assert_eq!(table.find_or_insert(&key, || 0), (n, false), "{n}");
            *table.value_mut(n) += 1;
        }
        assert_eq!(table.len(), 600);
        assert!(table.into_values().enumerate().all(|(i, v)| v == i + 1));
        // Two tables hash differently (random seeds).
        assert_ne!(random_seed(), random_seed());
    }

    /// Keys whose hashes collide (a table forced to one seed and keys
    /// sharing a bucket through the identity index) are still told apart
    /// by their bytes.
    #[test]
    fn colliding_hashes_compare_bytes() {
        let mut table: KeyTable<()> = KeyTable::default();
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(b"a", table.seed);
        // Another key filed under the same hash, as a collision would.
        table.index.insert(h, Bucket::One(0));
        table.arena.extend_from_slice(b"zz");
        table.entries.push((0..2, ()));
        assert_eq!(table.find_or_insert(b"a", || ()), (1, true));
        assert_eq!(table.find_or_insert(b"a", || ()), (1, false));
        assert!(matches!(table.index.get(&h), Some(Bucket::Many(v)) if v.len() == 2));
    }
}
