//! The hasher of the merge's DISTINCT row set: xxh3, keyed per set with a
//! random seed, over one buffer per row. Keys are equality keys of column
//! values, often `WEIGHT_STRING`s of a few hundred bytes per row; SipHash
//! over a `Vec` per column cost ~10 % of a sharded `oltp_read_only`
//! transaction's instructions (BENCHMARKS.md, instruction profile); xxh3
//! fed many small writes was no faster, one buffer per row is. The random
//! seed keeps data chosen to collide (hash flooding) from degrading a set,
//! as SipHash's random keys do.
//!
//! GROUP BY's table of groups uses the same keys and hasher.
//!
//! Owns: that choice of hasher and the layout of a row's key buffer. Must
//! not decide what a column's key is (that is `crate::merge::compare`).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use xxhash_rust::xxh3::Xxh3Builder;

use crate::merge::compare::append_equality_key_at;
use crate::merge::{TextRow, ValueOrder};

/// A new xxh3 hasher builder with a random seed.
pub fn keyed() -> Xxh3Builder {
    Xxh3Builder::new().with_seed(RandomState::new().hash_one(0u8))
}

/// A set of merge keys.
pub type KeySet<K> = HashSet<K, Xxh3Builder>;

/// An empty [`KeySet`].
pub fn key_set<K>() -> KeySet<K> {
    HashSet::with_hasher(keyed())
}

/// A map from merge keys (GROUP BY's groups).
pub type KeyMap<V> = HashMap<Vec<u8>, V, Xxh3Builder>;

/// An empty [`KeyMap`].
pub fn key_map<V>() -> KeyMap<V> {
    HashMap::with_hasher(keyed())
}

/// The equality keys of a row's `columns` in one buffer: per column a NULL
/// marker (0) or 1, the key's length (4 bytes) and the key, so that two
/// rows have the same buffer exactly when every column's key is equal. One
/// allocation and one hash per row.
pub fn row_key(
    row: &TextRow,
    columns: impl IntoIterator<Item = usize>,
    orders: &[ValueOrder],
) -> Vec<u8> {
    let mut key = Vec::with_capacity(64);
    for c in columns {
        let at = key.len();
        key.extend_from_slice(&[1, 0, 0, 0, 0]);
        match orders
            .get(c)
            .and_then(|o| append_equality_key_at(o, row, c, &mut key))
        {
            None => {
                key.truncate(at);
                key.push(0);
            }
            Some(n) => key[at + 1..at + 5].copy_from_slice(&(n as u32).to_le_bytes()),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal keys meet, different keys stay apart, across many sizes of
    /// key (the streaming hasher's buffer boundaries).
    #[test]
    fn sets_tell_keys_apart() {
        let mut set: KeySet<Vec<Option<Vec<u8>>>> = key_set();
        for n in 0..600usize {
            let key = vec![Some(vec![(n % 251) as u8; n]), None];
            assert!(set.insert(key.clone()), "{n}");
            assert!(!set.insert(key), "{n}");
        }
        assert_eq!(set.len(), 600);
        // Two sets hash differently (random seeds) yet agree on membership.
        let (a, b) = (keyed(), keyed());
        assert_ne!(a.hash_one(b"key"), b.hash_one(b"key"));
    }
}
