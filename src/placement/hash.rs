//! Named, stable hash functions for sharding keys.
//!
//! Owns: the exact bit-for-bit definition of every hash a rule file can name
//! (`xxh3`, `crc32`, `murmur3`). A hash named here must return the same value
//! for the same bytes forever, on every platform and compiler: rows are placed
//! with it, so changing one moves data. That is why `std::hash::Hash` is never
//! used here.
//!
//! Must not touch: what the bytes mean (see `key.rs` for the canonical
//! encoding) or how a hash becomes a slot (see `algorithm.rs`).

use serde::{Deserialize, Serialize};

/// A hash function a rule can name with `hash = "..."`.
///
/// | name      | definition                                            | width  |
/// |-----------|-------------------------------------------------------|--------|
/// | `xxh3`    | XXH3 64-bit, seed 0 (`xxhash-rust`), the default      | 64 bit |
/// | `crc32`   | CRC-32/ISO-HDLC (IEEE, zlib, MySQL's `CRC32()`)       | 32 bit |
/// | `murmur3` | MurmurHash3 `x86_32`, seed 0 (implemented here)        | 32 bit |
///
/// `crc32` of a string key under a `_bin` collation equals MySQL's
/// `CRC32(column)`, and of an integer key equals `CRC32(int_column)` (MySQL
/// hashes the decimal text), so a DBA can check placement in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashFunction {
    /// XXH3 64-bit with seed 0.
    #[default]
    Xxh3,
    /// CRC-32 (IEEE polynomial, reflected, init and xorout `0xFFFFFFFF`).
    Crc32,
    /// MurmurHash3 `x86_32` with seed 0.
    Murmur3,
}

impl HashFunction {
    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        match self {
            HashFunction::Xxh3 => "xxh3",
            HashFunction::Crc32 => "crc32",
            HashFunction::Murmur3 => "murmur3",
        }
    }

    /// Number of significant bits in [`HashFunction::hash`]'s result.
    pub fn bits(self) -> u32 {
        match self {
            HashFunction::Xxh3 => 64,
            HashFunction::Crc32 | HashFunction::Murmur3 => 32,
        }
    }

    /// The hash of `bytes`; 32-bit hashes are zero-extended.
    pub fn hash(self, bytes: &[u8]) -> u64 {
        match self {
            HashFunction::Xxh3 => xxhash_rust::xxh3::xxh3_64(bytes),
            HashFunction::Crc32 => u64::from(crc32fast::hash(bytes)),
            HashFunction::Murmur3 => u64::from(murmur3_x86_32(bytes, 0)),
        }
    }

    /// The position of `bytes` in the 64-bit keyspace used by `hash_range`:
    /// the hash scaled so that it spreads over the whole of `0..=u64::MAX`
    /// (a 32-bit hash `h` becomes `h << 32`).
    pub fn keyspace_point(self, bytes: &[u8]) -> u64 {
        let value = self.hash(bytes);
        match self.bits() {
            64 => value,
            bits => value << (64 - bits),
        }
    }
}

/// MurmurHash3 `x86_32` by Austin Appleby (public domain), as in the reference
/// `MurmurHash3.cpp`: little-endian 4-byte blocks, the length mixed in as a
/// 32-bit value.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;

    fn scramble(block: u32) -> u32 {
        block.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }

    let mut state = seed;
    let mut blocks = data.chunks_exact(4);
    for block in blocks.by_ref() {
        let word = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        state ^= scramble(word);
        state = state
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut word = 0u32;
        for (position, byte) in tail.iter().enumerate() {
            word |= u32::from(*byte) << (8 * position);
        }
        state ^= scramble(word);
    }
    // The reference mixes in the length as a 32-bit int (wrapping for >4 GiB).
    state ^= data.len() as u32;
    state ^= state >> 16;
    state = state.wrapping_mul(0x85eb_ca6b);
    state ^= state >> 13;
    state = state.wrapping_mul(0xc2b2_ae35);
    state ^= state >> 16;
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published reference values; if any of these fail, every golden vector
    /// built on the hash is meaningless.
    #[test]
    fn xxh3_matches_reference_vectors() {
        assert_eq!(HashFunction::Xxh3.hash(b""), 0x2D06_8005_38D3_94C2);
    }

    #[test]
    fn crc32_matches_check_value() {
        // The CRC catalogue's "check" value for CRC-32/ISO-HDLC.
        assert_eq!(HashFunction::Crc32.hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(HashFunction::Crc32.hash(b""), 0);
    }

    #[test]
    fn murmur3_matches_reference_vectors() {
        // SMHasher / Wikipedia test vectors for MurmurHash3_x86_32.
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514E_28B7),
            (b"", 0xffff_ffff, 0x81F1_6F39),
            (b"\0\0\0\0", 0, 0x2362_F9DE),
            (b"hello", 0, 0x248B_FA47),
            (b"test", 0, 0xBA6B_D213),
            (
                b"The quick brown fox jumps over the lazy dog",
                0,
                0x2E4F_F723,
            ),
            (b"Hello, world!", 0x9747_b28c, 0x2488_4CBA),
            (b"aaaa", 0x9747_b28c, 0x5A97_808A),
            (b"aaa", 0x9747_b28c, 0x283E_0130),
            (b"aa", 0x9747_b28c, 0x5D21_1726),
            (b"a", 0x9747_b28c, 0x7FA0_9EA6),
            (b"abcd", 0x9747_b28c, 0xF047_8627),
            (b"abc", 0x9747_b28c, 0xC84A_62DD),
            (b"ab", 0x9747_b28c, 0x7487_5592),
        ];
        for (input, seed, expected) in cases {
            assert_eq!(
                murmur3_x86_32(input, *seed),
                *expected,
                "murmur3({:?}, seed {seed:#x})",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(HashFunction::Murmur3.hash(b"hello"), 0x248B_FA47);
    }

    #[test]
    fn keyspace_point_spreads_32_bit_hashes() {
        let crc = HashFunction::Crc32.hash(b"123456789");
        assert_eq!(HashFunction::Crc32.keyspace_point(b"123456789"), crc << 32);
        assert_eq!(
            HashFunction::Xxh3.keyspace_point(b""),
            HashFunction::Xxh3.hash(b"")
        );
    }

    #[test]
    fn serde_names_are_stable() {
        #[derive(Deserialize)]
        struct Holder {
            hash: HashFunction,
        }
        for (text, expected) in [
            ("xxh3", HashFunction::Xxh3),
            ("crc32", HashFunction::Crc32),
            ("murmur3", HashFunction::Murmur3),
        ] {
            let holder: Holder = toml::from_str(&format!("hash = \"{text}\"")).expect("parses");
            assert_eq!(holder.hash, expected);
            assert_eq!(expected.name(), text);
        }
        assert!(toml::from_str::<Holder>("hash = \"md5\"").is_err());
    }
}
