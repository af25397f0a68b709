//! Tests of the placement functions: hash_mod, jump, hash_range, range
//! and time_range slots, their balance, and range pruning.
//!
//! Owns: unit tests of `algorithm`. Must not pin golden slots (see
//! `golden_tests.rs`).

use super::*;

fn collation() -> Collation {
    Collation::default()
}

fn slot(algorithm: &Algorithm, key: &ShardKey, slot_count: usize) -> usize {
    algorithm
        .slot_for_key(key, slot_count, &collation())
        .expect("placeable")
}

fn month_range() -> Algorithm {
    toml::from_str::<Holder>(
        r#"algorithm = { kind = "time_range", unit = "month", periods = [
            { from = "2026-01", to = "2026-06", node = "n1" },
            { from = "2026-07", to = "2026-12", node = "n2" },
            { from = "2027-03", to = "2027-03", node = "n1" },
        ] }"#,
    )
    .expect("parses")
    .algorithm
}

#[derive(Deserialize)]
struct Holder {
    algorithm: Algorithm,
}

fn date(text: &str) -> ShardKey {
    ShardKey::from_literal(
        text,
        super::super::key::LiteralKind::String,
        super::super::key::KeyType::Date,
    )
    .expect("date")
}

#[test]
fn hash_mod_uses_euclidean_remainder_for_integers() {
    let algorithm = Algorithm::HashMod {
        hash: HashFunction::Xxh3,
    };
    assert_eq!(slot(&algorithm, &ShardKey::Int(7), 4), 3);
    assert_eq!(slot(&algorithm, &ShardKey::Int(-1), 4), 3);
    assert_eq!(slot(&algorithm, &ShardKey::Int(i64::MIN), 3), 1);
    assert_eq!(slot(&algorithm, &ShardKey::UInt(u64::MAX), 10), 5);
    assert_eq!(slot(&algorithm, &ShardKey::Null, 4), 0);
}

#[test]
fn jump_moves_about_one_fifth_from_four_to_five_and_balances() {
    for hash in [
        HashFunction::Xxh3,
        HashFunction::Crc32,
        HashFunction::Murmur3,
    ] {
        let algorithm = Algorithm::Jump { hash };
        let keys = 100_000;
        let mut moved = 0;
        let mut counts = [0usize; 5];
        for value in 0..keys {
            let key = ShardKey::Int(value);
            let before = slot(&algorithm, &key, 4);
            let after = slot(&algorithm, &key, 5);
            if before != after {
                moved += 1;
                assert_eq!(after, 4, "jump only moves keys into the new slot");
            }
            counts[after] += 1;
        }
        let moved_share = moved as f64 / keys as f64;
        assert!(
            (0.19..0.21).contains(&moved_share),
            "{hash:?} moved {moved_share}"
        );
        for count in counts {
            let share = count as f64 / keys as f64;
            assert!((0.19..0.21).contains(&share), "{hash:?} slot share {share}");
        }
    }
}

#[test]
fn hash_range_balances_with_32_bit_hashes() {
    for hash in [
        HashFunction::Xxh3,
        HashFunction::Crc32,
        HashFunction::Murmur3,
    ] {
        let algorithm = Algorithm::HashRange {
            hash,
            boundaries: Vec::new(),
        };
        let mut counts = [0usize; 4];
        for value in 0..100_000 {
            counts[slot(&algorithm, &ShardKey::Int(value), 4)] += 1;
        }
        for count in counts {
            assert!((24_000..26_000).contains(&count), "{hash:?} {counts:?}");
        }
    }
}

#[test]
fn hash_mod_of_strings_balances() {
    let algorithm = Algorithm::HashMod {
        hash: HashFunction::Murmur3,
    };
    let mut counts = [0usize; 8];
    for value in 0..100_000 {
        counts[slot(&algorithm, &ShardKey::Str(format!("user-{value}")), 8)] += 1;
    }
    for count in counts {
        assert!((11_900..13_100).contains(&count), "{counts:?}");
    }
}

#[test]
fn hash_range_even_split_equals_explicit_boundaries() {
    for slot_count in [2usize, 3, 4, 7] {
        for hash in [HashFunction::Xxh3, HashFunction::Crc32] {
            let even = Algorithm::HashRange {
                hash,
                boundaries: Vec::new(),
            };
            let explicit = Algorithm::HashRange {
                hash,
                boundaries: even_hash_range_boundaries(slot_count),
            };
            for value in 0..5_000 {
                let key = ShardKey::Int(value);
                assert_eq!(
                    slot(&even, &key, slot_count),
                    slot(&explicit, &key, slot_count)
                );
            }
        }
    }
    let quarters: Vec<String> = even_hash_range_boundaries(4)
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(
        quarters,
        ["4000000000000000", "8000000000000000", "c000000000000000"]
    );
}

#[test]
fn keyspace_boundaries_parse_as_prefixes() {
    let parse = |text: &str| KeyspaceBoundary::try_from(text.to_owned());
    assert_eq!(parse("8"), Ok(KeyspaceBoundary(1 << 63)));
    assert_eq!(parse("80"), Ok(KeyspaceBoundary(1 << 63)));
    assert_eq!(parse("0x8000000000000000"), Ok(KeyspaceBoundary(1 << 63)));
    assert!(parse("").is_err());
    assert!(parse("xyz").is_err());
    assert!(parse("12345678901234567").is_err());
}

#[test]
fn range_bounds_are_half_open() {
    let algorithm = Algorithm::Range {
        bounds: vec![1000, 2000],
    };
    for (value, expected) in [
        (i64::MIN, 0),
        (999, 0),
        (1000, 1),
        (1999, 1),
        (2000, 2),
        (i64::MAX, 2),
    ] {
        assert_eq!(
            slot(&algorithm, &ShardKey::Int(value), 3),
            expected,
            "{value}"
        );
    }
    assert_eq!(slot(&algorithm, &ShardKey::UInt(u64::MAX), 3), 2);
    assert!(algorithm
        .slot_for_key(&ShardKey::Str("1".into()), 3, &collation())
        .is_err());
}

#[test]
fn range_pruning() {
    let algorithm = Algorithm::Range {
        bounds: vec![1000, 2000],
    };
    let prune = |low: Bound<&ShardKey>, high: Bound<&ShardKey>| {
        algorithm.slots_for_range(low, high, 3, &collation())
    };
    let (k999, k1000, k1500, k2000) = (
        ShardKey::Int(999),
        ShardKey::Int(1000),
        ShardKey::Int(1500),
        ShardKey::Int(2000),
    );
    assert_eq!(
        prune(Bound::Included(&k1000), Bound::Excluded(&k2000)),
        SlotSet::Slots(vec![1])
    );
    assert_eq!(
        prune(Bound::Excluded(&k999), Bound::Included(&k1500)),
        SlotSet::Slots(vec![1])
    );
    assert_eq!(
        prune(Bound::Included(&k999), Bound::Included(&k1000)),
        SlotSet::Slots(vec![0, 1])
    );
    assert_eq!(
        prune(Bound::Unbounded, Bound::Excluded(&k1000)),
        SlotSet::Slots(vec![0])
    );
    assert_eq!(
        prune(Bound::Included(&k1500), Bound::Unbounded),
        SlotSet::Slots(vec![1, 2])
    );
    assert_eq!(prune(Bound::Unbounded, Bound::Unbounded), SlotSet::All);
    assert_eq!(
        prune(Bound::Included(&k2000), Bound::Included(&k1000)),
        SlotSet::Slots(vec![])
    );
    let text = ShardKey::Str("x".into());
    assert_eq!(
        prune(Bound::Included(&text), Bound::Unbounded),
        SlotSet::All
    );
    assert_eq!(
        prune(Bound::Included(&ShardKey::Null), Bound::Unbounded),
        SlotSet::All
    );
}

#[test]
fn hash_pruning_handles_equality_and_small_integer_ranges() {
    let algorithm = Algorithm::HashMod {
        hash: HashFunction::Xxh3,
    };
    let prune = |low: Bound<&ShardKey>, high: Bound<&ShardKey>| {
        algorithm.slots_for_range(low, high, 8, &collation())
    };
    let (five, six, hundred) = (ShardKey::Int(5), ShardKey::Int(6), ShardKey::Int(100));
    assert_eq!(
        prune(Bound::Included(&five), Bound::Included(&five)),
        SlotSet::Slots(vec![5])
    );
    assert_eq!(
        prune(Bound::Included(&five), Bound::Included(&six)),
        SlotSet::Slots(vec![5, 6])
    );
    assert_eq!(
        prune(Bound::Excluded(&five), Bound::Excluded(&six)),
        SlotSet::Slots(vec![])
    );
    assert_eq!(
        prune(Bound::Included(&five), Bound::Included(&hundred)),
        SlotSet::All
    );
    assert_eq!(
        prune(Bound::Included(&five), Bound::Unbounded),
        SlotSet::All
    );
    // Bounds equal only under the rule's collation are not a point: the
    // key column's own collation may hold other values between them.
    let upper = ShardKey::Str("ABC".into());
    let lower = ShardKey::Str("abc ".into());
    assert_eq!(
        prune(Bound::Included(&upper), Bound::Included(&lower)),
        SlotSet::All
    );
    assert!(
        matches!(prune(Bound::Included(&upper), Bound::Included(&upper)), SlotSet::Slots(slots) if slots.len() == 1)
    );
}

#[test]
fn time_range_maps_periods_to_slots() {
    let algorithm = month_range();
    let Algorithm::TimeRange(time) = &algorithm else {
        panic!("time_range")
    };
    assert_eq!(time.slot_count(), 13);
    assert_eq!(slot(&algorithm, &date("2026-01-31"), 13), 0);
    assert_eq!(slot(&algorithm, &date("2026-07-01"), 13), 6);
    assert_eq!(slot(&algorithm, &date("2027-03-15"), 13), 12);
    let (period, node) = time.slot(12).expect("slot 12");
    assert_eq!((period.name().as_str(), node), ("202703", "n1"));
    for outside in ["2025-12-31", "2027-01-01", "2027-04-01"] {
        let error = algorithm
            .slot_for_key(&date(outside), 13, &collation())
            .expect_err("outside");
        assert!(
            matches!(error, PlacementError::NoShardForKey { .. }),
            "{error}"
        );
    }
    assert!(algorithm
        .slot_for_key(&ShardKey::Null, 13, &collation())
        .is_err());
    assert!(algorithm
        .slot_for_key(&ShardKey::Int(5), 13, &collation())
        .is_err());
}

#[test]
fn time_range_pruning_returns_covered_periods() {
    let algorithm = month_range();
    let prune = |low: Bound<&ShardKey>, high: Bound<&ShardKey>| {
        algorithm.slots_for_range(low, high, 13, &collation())
    };
    let (may, august) = (date("2026-05-20"), date("2026-08-01"));
    assert_eq!(
        prune(Bound::Included(&may), Bound::Excluded(&august)),
        SlotSet::Slots(vec![4, 5, 6, 7])
    );
    assert_eq!(
        prune(Bound::Included(&august), Bound::Unbounded),
        SlotSet::Slots(vec![7, 8, 9, 10, 11, 12])
    );
    let before = date("2020-01-01");
    assert_eq!(
        prune(Bound::Unbounded, Bound::Included(&before)),
        SlotSet::Slots(vec![])
    );
    assert_eq!(prune(Bound::Unbounded, Bound::Unbounded), SlotSet::All);
    let gap = date("2027-01-15");
    assert_eq!(
        prune(Bound::Included(&gap), Bound::Included(&gap)),
        SlotSet::Slots(vec![])
    );
}

#[test]
fn periods_parse_and_name() {
    let day = Period::parse(TimeUnit::Day, "2026-11-28").expect("day");
    assert_eq!(day.name(), "20261128");
    assert_eq!(
        Period::parse(TimeUnit::Month, "2026-11")
            .expect("month")
            .name(),
        "202611"
    );
    assert_eq!(
        Period::parse(TimeUnit::Year, "2026").expect("year").name(),
        "2026"
    );
    for (unit, bad) in [
        (TimeUnit::Month, "2026-13"),
        (TimeUnit::Month, "2026-1"),
        (TimeUnit::Month, "2026-11-01"),
        (TimeUnit::Day, "2026-02-30"),
        (TimeUnit::Year, "26"),
        (TimeUnit::Year, ""),
    ] {
        assert!(Period::parse(unit, bad).is_none(), "{bad}");
    }
}

#[test]
fn jump_handles_degenerate_bucket_counts() {
    assert_eq!(jump_consistent_hash(12345, 0), 0);
    assert_eq!(jump_consistent_hash(12345, 1), 0);
    assert!(jump_consistent_hash(u64::MAX, u32::MAX) < u32::MAX);
}

fn rolling(text: &str) -> Result<Algorithm, toml::de::Error> {
    toml::from_str::<Holder>(text).map(|holder| holder.algorithm)
}

#[test]
fn rolling_time_range_assigns_periods_round_robin() {
    let algorithm = rolling(
        r#"algorithm = { kind = "time_range", unit = "month", start = "2026-01", nodes = ["n1", "n2"], horizon = 36 }"#,
    )
    .expect("parses");
    let Algorithm::TimeRange(time) = &algorithm else {
        panic!("time_range")
    };
    assert_eq!(time.slot_count(), 36);
    for (day, slot_number, name, node) in [
        ("2026-01-31", 0, "202601", "n1"),
        ("2026-02-01", 1, "202602", "n2"),
        ("2026-12-31", 11, "202612", "n2"),
        ("2027-01-01", 12, "202701", "n1"),
        ("2028-12-15", 35, "202812", "n2"),
    ] {
        assert_eq!(slot(&algorithm, &date(day), 36), slot_number, "{day}");
        let (period, on) = time.slot(slot_number).expect("slot");
        assert_eq!((period.name().as_str(), on), (name, node), "{day}");
    }
    let error = algorithm
        .slot_for_key(&date("2025-12-31"), 36, &collation())
        .expect_err("before start");
    assert!(error.to_string().contains("202512"), "{error}");
    assert!(error.to_string().contains("before"), "{error}");
    assert!(algorithm
        .slot_for_key(&date("2029-01-01"), 36, &collation())
        .is_err());
}

#[test]
fn rolling_time_range_defaults_and_rejects_mixed_forms() {
    let algorithm = rolling(
        r#"algorithm = { kind = "time_range", unit = "year", start = "2020", nodes = ["a"] }"#,
    )
    .expect("parses");
    assert_eq!(algorithm.own_slot_count(), Some(10));
    for bad in [
        r#"algorithm = { kind = "time_range", unit = "month", start = "2026-01", nodes = [] }"#,
        r#"algorithm = { kind = "time_range", unit = "month", start = "2026-1", nodes = ["a"] }"#,
        r#"algorithm = { kind = "time_range", unit = "month", start = "2026-01", nodes = ["a"], horizon = 0 }"#,
        r#"algorithm = { kind = "time_range", unit = "month", nodes = ["a"], periods = [{ from = "2026-01", to = "2026-02", node = "a" }] }"#,
        r#"algorithm = { kind = "time_range", unit = "month", start = "2026-01", nodes = ["a"], periods = [{ from = "2026-01", to = "2026-02", node = "a" }] }"#,
    ] {
        assert!(rolling(bad).is_err(), "{bad}");
    }
}

#[test]
fn period_arithmetic_crosses_month_year_and_leap_days() {
    let month = |text: &str| Period::parse(TimeUnit::Month, text).expect("month");
    assert_eq!(month("2026-12").offset(1).name(), "202701");
    assert_eq!(month("2026-01").offset(-1).name(), "202512");
    assert_eq!(month("2026-03").offset(25).name(), "202804");
    let day = |text: &str| Period::parse(TimeUnit::Day, text).expect("day");
    assert_eq!(day("2028-02-28").offset(1).name(), "20280229");
    assert_eq!(day("2027-02-28").offset(1).name(), "20270301");
    assert_eq!(day("2026-12-31").offset(1).name(), "20270101");
    let year = Period::parse(TimeUnit::Year, "2026").expect("year");
    assert_eq!(year.offset(-13).name(), "2013");
}

/// Small integer ranges under the hash algorithms: the slots are those of
/// the range's values one by one (the enumeration stops once every slot
/// was seen), for generated ranges, slot counts and algorithms.
#[test]
fn hash_pruning_of_small_ranges_is_the_values_slots() {
    let algorithms = [
        Algorithm::HashMod {
            hash: HashFunction::Xxh3,
        },
        Algorithm::Jump {
            hash: HashFunction::Xxh3,
        },
        Algorithm::HashRange {
            hash: HashFunction::Xxh3,
            boundaries: Vec::new(),
        },
    ];
    let mut checked = 0;
    for algorithm in &algorithms {
        for slot_count in [1usize, 2, 3, 5, 8, 64] {
            for low in [-300i64, -3, 0, 1, 7, 1000] {
                for width in [0i64, 1, 2, 5, 17, 100, 255, 256] {
                    let (a, b) = (ShardKey::Int(low), ShardKey::Int(low + width));
                    let got = algorithm.slots_for_range(
                        Bound::Included(&a),
                        Bound::Included(&b),
                        slot_count,
                        &collation(),
                    );
                    let want = if width >= 256 {
                        SlotSet::All
                    } else if width == 0 {
                        // A point is its slot, also the only one.
                        SlotSet::Slots(vec![slot(algorithm, &a, slot_count)])
                    } else {
                        let slots = (low..=low + width)
                            .map(|v| slot(algorithm, &ShardKey::Int(v), slot_count))
                            .collect();
                        SlotSet::from_slots(slots, slot_count)
                    };
                    assert_eq!(got, want, "{algorithm:?} {slot_count} {low} {width}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 6 * 6 * 8);
}
