//! A fast hash for the router's own name maps (physical table → logical
//! names, period tables), looked up once or more per statement with names
//! the router itself produced: the keys come from the configuration, not
//! from clients, so SipHash's flooding resistance buys nothing there and
//! its cost per lookup (a few hundred instructions for a short name) is a
//! visible part of a point statement.
//!
//! Owns: [`NameHasher`] (the multiply-rotate word hash of rustc's
//! `FxHasher`) and the [`NameMap`] alias. Must not be used for maps whose
//! keys a client chooses (statement texts, schema names).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by router-made names.
pub(crate) type NameMap<K, V> = HashMap<K, V, BuildHasherDefault<NameHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The word-at-a-time multiply-rotate hash (rustc's `FxHasher`).
#[derive(Default, Clone, Copy)]
pub(crate) struct NameHasher {
    hash: u64,
}

impl NameHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for NameHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hash_apart_and_look_up() {
        let mut m: NameMap<String, usize> = NameMap::default();
        let names: Vec<String> = (0..500)
            .map(|i| format!("sbtest{}_{}", i % 7, i))
            .chain(["", "a", "abcdefgh", "abcdefghi"].map(String::from))
            .collect();
        for (i, n) in names.iter().enumerate() {
            m.insert(n.clone(), i);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get(n.as_str()), Some(&i), "{n}");
        }
        assert_eq!(m.get("sbtest1_1x"), None);
    }
}
