//! The hasher of the merge's DISTINCT row set: xxh3, keyed per set with a
//! random seed, over one buffer per row. Keys are equality keys of column
//! values, often `WEIGHT_STRING`s of a few hundred bytes per row; SipHash
//! over a `Vec` per column cost ~10 % of a sharded `oltp_read_only`
//! transaction's instructions (BENCHMARKS.md, instruction profile); xxh3
//! fed many small writes was no faster, one buffer per row is. The random
//! seed keeps data chosen to collide (hash flooding) from degrading a set,
//! as SipHash's random keys do.
//!
//! Owns: that choice of hasher. Must not decide what a key is (that is
//! `crate::merge::compare`).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;

use xxhash_rust::xxh3::Xxh3Builder;

/// A new xxh3 hasher builder with a random seed.
pub fn keyed() -> Xxh3Builder {
    Xxh3Builder::new().with_seed(RandomState::new().hash_one(0u8))
}

/// A set of merge keys (GROUP BY still uses the standard hasher).
pub type KeySet<K> = HashSet<K, Xxh3Builder>;

/// An empty [`KeySet`].
pub fn key_set<K>() -> KeySet<K> {
    HashSet::with_hasher(keyed())
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
