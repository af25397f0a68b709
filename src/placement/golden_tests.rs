//! Golden vectors: the slot of fixed keys under every algorithm and hash,
//! pinned FOREVER.
//!
//! Owns: tests only. Must not touch: production code.
//!
//! **If a test here fails, do not update the expected values.** Each value
//! is where a row with that key is stored in every existing deployment;
//! changing the result of a hash, the canonical key encoding, the collation
//! fold or a placement function moves data, and a router built from the
//! changed code would look for rows on the wrong shard. A deliberate change
//! needs a new, separately named algorithm or hash and a data migration.
//!
//! The hash columns were cross-checked when written against independent
//! implementations (Python `xxhash.xxh3_64`, `zlib.crc32`, `mmh3.hash`), and
//! the `jump` columns against a transcription of the paper's code.

use std::ops::Bound;

use super::*;

/// One pinned key: the key, its canonical encoding under the default
/// collation (`utf8mb4_general_ci`), the three hashes of that encoding,
/// the xxh3 of its encoding under `utf8mb4_bin`, and its slots:
/// `[hash_mod, jump, hash_range]` × `[xxh3, crc32, murmur3]` with 8 slots,
/// then the same with 5 slots.
struct Golden {
    key: ShardKey,
    canonical: &'static str,
    hashes: [u64; 3],
    xxh3_under_bin: u64,
    slots: [usize; 18],
}

fn golden(
    key: ShardKey,
    canonical: &'static str,
    hashes: [u64; 3],
    xxh3_under_bin: u64,
    slots: [usize; 18],
) -> Golden {
    Golden {
        key,
        canonical,
        hashes,
        xxh3_under_bin,
        slots,
    }
}

#[rustfmt::skip]
fn vectors() -> Vec<Golden> {
    vec![
        golden(ShardKey::Int(0), "0", [0x1982e3a7bb241055, 0xf4dbdf21, 0xd271c07f], 0x1982e3a7bb241055, [0, 5, 0, 0, 0, 7, 0, 5, 6, 0, 3, 0, 0, 0, 4, 0, 1, 4]),
        golden(ShardKey::Int(1), "1", [0x65cd25028f98f158, 0x83dcefb7, 0x9416ac93], 0x65cd25028f98f158, [1, 7, 3, 1, 5, 4, 1, 5, 4, 1, 2, 1, 1, 2, 2, 1, 4, 2]),
        golden(ShardKey::Int(2), "2", [0xfb95a7322f5da314, 0x1ad5be0d, 0x0129e217], 0xfb95a7322f5da314, [2, 2, 7, 2, 3, 0, 2, 6, 0, 2, 2, 4, 2, 3, 0, 2, 4, 0]),
        golden(ShardKey::Int(3), "3", [0x7324dc1e7e9474f0, 0x6dd28e9b, 0x0fc7a1b4], 0x7324dc1e7e9474f0, [3, 4, 3, 3, 2, 3, 3, 7, 0, 3, 4, 2, 3, 2, 2, 3, 1, 0]),
        golden(ShardKey::Int(4), "4", [0xe28911027fcf803f, 0xf3b61b38, 0xe131cc88], 0xe28911027fcf803f, [4, 3, 7, 4, 2, 7, 4, 3, 7, 4, 3, 4, 4, 2, 4, 4, 3, 4]),
        golden(ShardKey::Int(5), "5", [0xdedb980100c87e72, 0x84b12bae, 0x531a35e4], 0xdedb980100c87e72, [5, 2, 6, 5, 4, 4, 5, 2, 2, 0, 2, 4, 0, 4, 2, 0, 2, 1]),
        golden(ShardKey::Int(6), "6", [0xb564a48862bc4a0d, 0x1db87a14, 0x27fa7cc0], 0xb564a48862bc4a0d, [6, 0, 5, 6, 7, 0, 6, 6, 1, 1, 0, 3, 1, 0, 0, 1, 3, 0]),
        golden(ShardKey::Int(7), "7", [0x06eed105b82285fa, 0x6abf4a82, 0x23ea8628], 0x06eed105b82285fa, [7, 6, 0, 7, 5, 3, 7, 3, 1, 2, 2, 0, 2, 3, 2, 2, 3, 0]),
        golden(ShardKey::Int(8), "8", [0x664f427c6b2c4bea, 0xfa005713, 0xbd920017], 0x664f427c6b2c4bea, [0, 5, 3, 0, 3, 7, 0, 5, 5, 3, 3, 1, 3, 3, 4, 3, 3, 3]),
        golden(ShardKey::Int(9), "9", [0x28353a066812b268, 0x8d076785, 0x248be6a1], 0x28353a066812b268, [1, 6, 1, 1, 5, 4, 1, 0, 1, 4, 4, 0, 4, 4, 2, 4, 0, 0]),
        golden(ShardKey::Int(10), "10", [0xd0698444ed39c832, 0xa15d25e1, 0x86e4093f], 0xd0698444ed39c832, [2, 6, 6, 2, 2, 5, 2, 2, 4, 0, 0, 4, 0, 2, 3, 0, 2, 2]),
        golden(ShardKey::Int(11), "11", [0x205381dc855b977a, 0xd65a1577, 0x989cdbb2], 0x205381dc855b977a, [3, 6, 1, 3, 0, 6, 3, 4, 4, 1, 3, 0, 1, 0, 4, 1, 4, 2]),
        golden(ShardKey::Int(12), "12", [0x7ecd2e572c949f74, 0x4f5344cd, 0xf9d2ef15], 0x7ecd2e572c949f74, [4, 0, 3, 4, 2, 2, 4, 7, 7, 2, 0, 2, 2, 2, 1, 2, 2, 4]),
        golden(ShardKey::Int(13), "13", [0x90a0338accf546ca, 0x3854745b, 0xb74d5141], 0x90a0338accf546ca, [5, 7, 4, 5, 1, 1, 5, 7, 5, 3, 2, 2, 3, 1, 1, 3, 4, 3]),
        golden(ShardKey::Int(14), "14", [0x014908a81dd43806, 0xa630e1f8, 0x97bfe639], 0x014908a81dd43806, [6, 1, 0, 6, 3, 5, 6, 1, 4, 4, 1, 0, 4, 3, 3, 4, 1, 2]),
        golden(ShardKey::Int(15), "15", [0xd7080b213541ea80, 0xd137d16e, 0xd66ffcfc], 0xd7080b213541ea80, [7, 1, 6, 7, 5, 6, 7, 6, 6, 0, 1, 4, 0, 0, 4, 0, 2, 4]),
        golden(ShardKey::Int(16), "16", [0xefe5d3b279f68366, 0x483e80d4, 0xc3a56d70], 0xefe5d3b279f68366, [0, 6, 7, 0, 3, 2, 0, 7, 6, 1, 0, 4, 1, 3, 1, 1, 3, 3]),
        golden(ShardKey::Int(17), "17", [0xa24b1d542cede2db, 0x3f39b042, 0x6e6f0b04], 0xa24b1d542cede2db, [1, 5, 5, 1, 0, 1, 1, 0, 3, 2, 3, 3, 2, 0, 1, 2, 0, 2]),
        golden(ShardKey::Int(18), "18", [0x7b7265f3c6196653, 0xaf86add3, 0x3ada2f46], 0x7b7265f3c6196653, [2, 6, 3, 2, 6, 5, 2, 4, 1, 3, 4, 2, 3, 3, 3, 3, 4, 1]),
        golden(ShardKey::Int(19), "19", [0x8f2c84c43a4bb670, 0xd8819d45, 0x5aa1c0d3], 0x8f2c84c43a4bb670, [3, 6, 4, 3, 6, 6, 3, 7, 2, 4, 0, 2, 4, 1, 4, 4, 4, 1]),
        golden(ShardKey::Int(-1), "-1", [0xbc25a7b612cba21f, 0x302d482a, 0x71ba248a], 0xbc25a7b612cba21f, [7, 5, 5, 7, 3, 1, 7, 3, 3, 4, 1, 3, 4, 3, 0, 4, 3, 2]),
        golden(ShardKey::Int(-2), "-2", [0x783411ff63122ff4, 0xa9241990, 0xcaa68fb7], 0x783411ff63122ff4, [6, 0, 3, 6, 2, 5, 6, 5, 6, 3, 0, 2, 3, 2, 3, 3, 3, 3]),
        golden(ShardKey::Int(-7), "-7", [0xb496414fdc9adf38, 0xd94eed1f, 0x725e4494], 0xb496414fdc9adf38, [1, 2, 5, 1, 1, 6, 1, 1, 3, 3, 2, 3, 3, 1, 4, 3, 1, 2]),
        golden(ShardKey::Int(-100), "-100", [0x8a08f355154d1a3d, 0xaf2a2107, 0x358af54d], 0x8a08f355154d1a3d, [4, 5, 4, 4, 4, 5, 4, 0, 1, 0, 0, 2, 0, 4, 3, 0, 0, 1]),
        golden(ShardKey::Int(-9223372036854775808), "-9223372036854775808", [0xed867b9f25e14491, 0xab25130b, 0x33beccc1], 0xed867b9f25e14491, [0, 7, 7, 0, 2, 5, 0, 1, 1, 2, 1, 4, 2, 2, 3, 2, 1, 1]),
        golden(ShardKey::Int(9223372036854775807), "9223372036854775807", [0x8e412f1dd5b046a3, 0x42ea0ade, 0x0a94ba54], 0x8e412f1dd5b046a3, [7, 3, 4, 7, 0, 2, 7, 6, 0, 2, 3, 2, 2, 0, 1, 2, 0, 0]),
        golden(ShardKey::UInt(u64::MAX), "18446744073709551615", [0x9131ab7296c23377, 0xbffe511a, 0xded02f8b], 0x9131ab7296c23377, [7, 0, 4, 7, 7, 5, 7, 2, 6, 0, 0, 2, 0, 3, 3, 0, 2, 4]),
        golden(ShardKey::Null, "", [0x2d06800538d394c2, 0x00000000, 0x00000000], 0x2d06800538d394c2, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        golden(ShardKey::Str("".into()), "", [0x2d06800538d394c2, 0x00000000, 0x00000000], 0x2d06800538d394c2, [2, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]),
        golden(ShardKey::Str("a".into()), "a", [0xe6c632b61e964e1f, 0xe8b7be43, 0x3c2569b2], 0xe6c632b61e964e1f, [7, 1, 7, 3, 4, 7, 2, 4, 1, 4, 1, 4, 2, 4, 4, 0, 4, 1]),
        golden(ShardKey::Str("abc".into()), "abc", [0x78af5f94892f3950, 0x352441c2, 0xb3dd93fa], 0x78af5f94892f3950, [0, 2, 3, 2, 3, 1, 2, 6, 5, 4, 2, 2, 3, 3, 1, 2, 2, 3]),
        golden(ShardKey::Str("ABC  ".into()), "abc", [0x78af5f94892f3950, 0x352441c2, 0xb3dd93fa], 0x244da40f405c870e, [0, 2, 3, 2, 3, 1, 2, 6, 5, 4, 2, 2, 3, 3, 1, 2, 2, 3]),
        golden(ShardKey::Str("user@example.com".into()), "user@example.com", [0x0277dc9aa6f80b74, 0x616df5a1, 0x41cf9c5c], 0x0277dc9aa6f80b74, [4, 7, 0, 1, 4, 3, 4, 3, 2, 1, 3, 0, 2, 4, 1, 0, 3, 1]),
        golden(ShardKey::Str("José".into()), "jose", [0xf05097ec8404f99b, 0x0f9efb84, 0x3d068707], 0xcd9c2c4bcd094257, [3, 1, 7, 4, 6, 0, 7, 4, 1, 2, 1, 4, 1, 2, 0, 4, 4, 1]),
        golden(ShardKey::Str("Straße".into()), "strase", [0x0ae861dbb051abdd, 0x81cfee21, 0x60604807], 0x3ca977a6b5ee5d71, [5, 4, 0, 1, 4, 4, 7, 7, 3, 2, 4, 0, 2, 4, 2, 1, 4, 1]),
        golden(ShardKey::Str("日本語".into()), "日本語", [0x11fec42c806050b7, 0xa80b52e5, 0xa5a47297], 0x11fec42c806050b7, [7, 5, 0, 5, 1, 5, 7, 2, 5, 3, 1, 0, 0, 1, 3, 4, 2, 3]),
        golden(ShardKey::Str("😀".into()), "�", [0x3c4d03b478a6e14e, 0x8b7233c9, 0xb69ca6c1], 0x0b4fecf421a0808e, [6, 0, 1, 1, 2, 4, 1, 6, 5, 4, 0, 1, 0, 2, 2, 2, 3, 3]),
    ]
}

const HASHES: [HashFunction; 3] = [
    HashFunction::Xxh3,
    HashFunction::Crc32,
    HashFunction::Murmur3,
];

fn algorithms(hash: HashFunction) -> [Algorithm; 3] {
    [
        Algorithm::HashMod { hash },
        Algorithm::Jump { hash },
        Algorithm::HashRange {
            hash,
            boundaries: Vec::new(),
        },
    ]
}

#[test]
fn canonical_encodings_and_hashes_are_pinned() {
    let general = Collation::default();
    let bin = Collation::from_name("utf8mb4_bin").expect("supported");
    for vector in vectors() {
        let encoded = vector.key.encode(&general);
        assert_eq!(
            String::from_utf8_lossy(&encoded),
            vector.canonical,
            "canonical encoding of {:?}",
            vector.key
        );
        let hashes = HASHES.map(|hash| hash.hash(&encoded));
        assert_eq!(hashes, vector.hashes, "hashes of {:?}", vector.key);
        assert_eq!(
            HashFunction::Xxh3.hash(&vector.key.encode(&bin)),
            vector.xxh3_under_bin,
            "xxh3 under utf8mb4_bin of {:?}",
            vector.key
        );
    }
}

#[test]
fn slots_are_pinned_for_every_algorithm_and_hash() {
    let collation = Collation::default();
    for vector in vectors() {
        let mut slots = Vec::new();
        for slot_count in [8, 5] {
            for hash in HASHES {
                for algorithm in algorithms(hash) {
                    let slot = algorithm
                        .slot_for_key(&vector.key, slot_count, &collation)
                        .expect("hash algorithms place every key");
                    slots.push(slot);
                }
            }
        }
        assert_eq!(slots, vector.slots, "slots of {:?}", vector.key);
    }
}

#[test]
fn equal_spellings_share_the_pinned_slots() {
    // '5', 5.0, X'05' and an unsigned parameter are all the integer 5.
    let five = vectors()
        .into_iter()
        .find(|vector| vector.key == ShardKey::Int(5))
        .expect("5 is pinned");
    let collation = Collation::default();
    for spelled in [
        ShardKey::from_literal("5", LiteralKind::String, KeyType::Int),
        ShardKey::from_literal("5.0", LiteralKind::Number, KeyType::Int),
        ShardKey::from_literal("05", LiteralKind::Hex, KeyType::Int),
        ShardKey::from_param(ParamValue::UInt(5), KeyType::Int),
    ] {
        let key = spelled.expect("converts");
        assert_eq!(key.encode(&collation), five.canonical.as_bytes());
    }
}

#[test]
fn range_slots_are_pinned() {
    let algorithm = Algorithm::Range {
        bounds: vec![-100, 0, 1000, 2000],
    };
    let collation = Collation::default();
    let pinned: [(ShardKey, usize); 9] = [
        (ShardKey::Int(i64::MIN), 0),
        (ShardKey::Int(-101), 0),
        (ShardKey::Int(-100), 1),
        (ShardKey::Int(-1), 1),
        (ShardKey::Int(0), 2),
        (ShardKey::Int(999), 2),
        (ShardKey::Int(1000), 3),
        (ShardKey::Int(2000), 4),
        (ShardKey::UInt(u64::MAX), 4),
    ];
    for (key, slot) in pinned {
        assert_eq!(
            algorithm.slot_for_key(&key, 5, &collation),
            Ok(slot),
            "{key}"
        );
    }
    assert_eq!(
        algorithm.slot_for_key(&ShardKey::Null, 5, &collation),
        Ok(0)
    );
}

#[test]
fn time_range_slots_and_names_are_pinned() {
    #[derive(serde::Deserialize)]
    struct Holder {
        algorithm: Algorithm,
    }
    let collation = Collation::default();
    /// (date, slot, period name)
    type Pinned = [(&'static str, usize, &'static str); 3];
    let cases: [(&str, &str, Pinned); 3] = [
        (
            "day",
            r#"{ from = "2026-02-27", to = "2026-03-02", node = "n1" }, { from = "2026-12-31", to = "2027-01-01", node = "n2" }"#,
            [
                ("2026-02-28", 1, "20260228"),
                ("2026-03-02 23:59:59", 3, "20260302"),
                ("2027-01-01", 5, "20270101"),
            ],
        ),
        (
            "month",
            r#"{ from = "2025-11", to = "2026-02", node = "n1" }"#,
            [
                ("2025-11-30", 0, "202511"),
                ("2026-01-01", 2, "202601"),
                ("2026-02-28 12:00:00", 3, "202602"),
            ],
        ),
        (
            "year",
            r#"{ from = "1999", to = "2001", node = "n1" }, { from = "2030", to = "2030", node = "n2" }"#,
            [
                ("1999-12-31", 0, "1999"),
                ("2001-01-01", 2, "2001"),
                ("2030-06-15", 3, "2030"),
            ],
        ),
    ];
    for (unit, periods, pinned) in cases {
        let text = format!(
            "algorithm = {{ kind = \"time_range\", unit = \"{unit}\", periods = [{periods}] }}"
        );
        let algorithm = toml::from_str::<Holder>(&text).expect("parses").algorithm;
        let Algorithm::TimeRange(time) = &algorithm else {
            panic!("time_range expected");
        };
        for (date, slot, name) in pinned {
            let key = ShardKey::from_literal(date, LiteralKind::String, KeyType::DateTime)
                .expect("datetime");
            assert_eq!(
                algorithm.slot_for_key(&key, 0, &collation),
                Ok(slot),
                "{unit} {date}"
            );
            let (period, _) = time.slot(slot).expect("slot exists");
            assert_eq!(period.name(), name, "{unit} {date}");
        }
    }
}

#[test]
fn case_and_space_folding_under_ci_and_bin() {
    let general = Collation::default();
    let bin = Collation::from_name("utf8mb4_bin").expect("supported");
    let binary = Collation::from_name("binary").expect("supported");
    let slot = |text: &str, collation: &Collation| {
        Algorithm::Jump {
            hash: HashFunction::Xxh3,
        }
        .slot_for_key(&ShardKey::Str(text.to_owned()), 1024, collation)
        .expect("placeable")
    };
    // _ci: case, accents and trailing spaces fold away.
    assert_eq!(slot("ABC", &general), slot("abc", &general));
    assert_eq!(slot("abc  ", &general), slot("abc", &general));
    assert_eq!(slot("Ábc", &general), slot("abc", &general));
    // utf8mb4_bin: case matters, trailing spaces still do not (PAD SPACE).
    assert_ne!(slot("ABC", &bin), slot("abc", &bin));
    assert_eq!(slot("abc  ", &bin), slot("abc", &bin));
    // binary: exact bytes.
    assert_ne!(slot("abc  ", &binary), slot("abc", &binary));
    // Range pruning treats only the very same value as a point lookup: a
    // `_bin` key column under the default `_ci` rule holds other values
    // between 'ABC' and 'abc' (the generated schemas found it).
    let (upper, lower) = (ShardKey::Str("ABC".into()), ShardKey::Str("abc".into()));
    let pruned = Algorithm::HashMod {
        hash: HashFunction::Xxh3,
    }
    .slots_for_range(
        Bound::Included(&upper),
        Bound::Included(&lower),
        8,
        &general,
    );
    assert_eq!(pruned, SlotSet::All);
}
