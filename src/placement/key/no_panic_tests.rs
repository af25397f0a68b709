//! Key conversion never panics on arbitrary literal text or parameters.
//!
//! Owns: the no-panic property test of `key`. Must not check values (see
//! `tests`).

use super::*;
use crate::placement::algorithm::Algorithm;
use crate::placement::hash::HashFunction;

/// A tiny deterministic generator (xorshift64*), to avoid a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn arbitrary_input_never_panics() {
    let alphabet: Vec<char> = "0123456789+-.eE :T/xX'\"\\\0\tAbcß İıé\u{301}\u{200B}😀ﬁ日"
        .chars()
        .collect();
    let collations: Vec<Collation> = [
        "binary",
        "utf8mb4_bin",
        "utf8mb4_general_ci",
        "utf8mb4_unicode_ci",
        "utf8mb4_0900_ai_ci",
        "utf8mb4_0900_as_cs",
        "utf8mb4_0900_bin",
    ]
    .iter()
    .map(|name| Collation::from_name(name).expect("supported"))
    .collect();
    let algorithms = [
        Algorithm::HashMod {
            hash: HashFunction::Murmur3,
        },
        Algorithm::Jump {
            hash: HashFunction::Crc32,
        },
        Algorithm::HashRange {
            hash: HashFunction::Xxh3,
            boundaries: Vec::new(),
        },
        Algorithm::Range {
            bounds: vec![-5, 0, 5],
        },
    ];
    let kinds = [
        LiteralKind::Number,
        LiteralKind::String,
        LiteralKind::Hex,
        LiteralKind::Boolean,
        LiteralKind::Null,
    ];
    let key_types = [
        KeyType::Int,
        KeyType::String,
        KeyType::Date,
        KeyType::DateTime,
    ];
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let length = (noise.next() % 24) as usize;
        let text: String = (0..length).map(|_| noise.pick(&alphabet)).collect();
        let raw: Vec<u8> = (0..length).map(|_| noise.next() as u8).collect();
        for collation in &collations {
            let _ = collation.fold(&raw);
            let _ = collation.fold(text.as_bytes());
        }
        for kind in kinds {
            for key_type in key_types {
                if let Ok(key) = ShardKey::from_literal(&text, kind, key_type) {
                    for algorithm in &algorithms {
                        let _ = algorithm.slot_for_key(&key, 7, &collations[2]);
                    }
                    let _ = key.to_string();
                }
                let _ = ShardKey::from_param(ParamValue::Bytes(&raw), key_type);
                let _ = ShardKey::from_param(
                    ParamValue::Double(f64::from_bits(noise.next())),
                    key_type,
                );
            }
        }
    }
}
