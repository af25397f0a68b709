//! Tests of composite (key × period) placement: generated key and date
//! ranges pruned to slots, compared with a brute force over every physical
//! table (which (hash slot, period) pairs can hold a matching row).
//!
//! Owns: unit tests of `composite.rs`. Must not pin golden slots.

use std::ops::Bound;

use crate::placement::key::{CalendarDate, DateTime, ShardKey};
use crate::placement::rules::{ShardedTable, TableRule};
use crate::placement::SlotSet;

fn table(hash: &str, today: &str) -> ShardedTable {
    let text = format!(
        r#"
name = "events"
key = "user_id"
key_type = "int"
algorithm = {hash}
nodes = ["n1", "n2"]
tables_per_node = 2
period = {{ key = "created_at", key_type = "datetime", unit = "month", start = "2026-01", horizon = 24, create_ahead = 2, retain = "6 months" }}
"#
    );
    let rule: TableRule = toml::from_str(&text).expect("rule parses");
    rule.validate().expect("valid");
    let mut sharded = rule.sharded().expect("sharded").clone();
    let day = date(today);
    sharded.apply_clock(day);
    sharded
}

fn date(text: &str) -> CalendarDate {
    let p: Vec<u16> = text.split('-').map(|f| f.parse().unwrap_or(0)).collect();
    CalendarDate::new(p[0], p[1] as u8, p[2] as u8).expect("valid date")
}

fn instant(day: i64, end_of_day: bool) -> ShardKey {
    let date = CalendarDate::from_days_since_epoch(day).expect("day");
    let time = if end_of_day {
        DateTime::new(date, 23, 59, 59, 999_999)
    } else {
        DateTime::new(date, 0, 0, 0, 0)
    };
    ShardKey::DateTime(time.expect("time"))
}

fn noon(day: i64) -> ShardKey {
    let date = CalendarDate::from_days_since_epoch(day).expect("day");
    ShardKey::DateTime(DateTime::new(date, 12, 0, 0, 0).expect("time"))
}

/// A tiny deterministic generator (no dependency on a crate's stream).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

fn within(key: &ShardKey, low: &Bound<ShardKey>, high: &Bound<ShardKey>) -> bool {
    let order = |a: &ShardKey, b: &ShardKey| match (a, b) {
        (ShardKey::DateTime(x), ShardKey::DateTime(y)) => x.cmp(y),
        _ => a.as_i128().cmp(&b.as_i128()),
    };
    let above = match low {
        Bound::Included(b) => order(key, b).is_ge(),
        Bound::Excluded(b) => order(key, b).is_gt(),
        Bound::Unbounded => true,
    };
    let below = match high {
        Bound::Included(b) => order(key, b).is_le(),
        Bound::Excluded(b) => order(key, b).is_lt(),
        Bound::Unbounded => true,
    };
    above && below
}

fn as_ref(bound: &Bound<ShardKey>) -> Bound<&ShardKey> {
    match bound {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Generated: 3 hash algorithms × 3 days × 300 (key range, date range)
/// pairs. The pruned slots (key slots ∩ period slots, live only) equal the
/// brute force: every slot that holds some (key, instant) pair of the
/// ranges, found by placing each candidate row (keys in range, the first,
/// noon and last instant of every day of the rule's span).
#[test]
fn pruning_equals_brute_force_over_every_physical_table() {
    let first_day = date("2025-12-01").days_since_epoch();
    let last_day = date("2028-02-01").days_since_epoch();
    let mut rng = Lcg(7);
    let mut checked = 0;
    for hash in [
        r#"{ kind = "hash_mod" }"#,
        r#"{ kind = "jump", hash = "murmur3" }"#,
        r#"{ kind = "range", bounds = [-10, 0, 10] }"#,
    ] {
        for today in ["2026-03-15", "2026-12-06", "2027-06-30"] {
            let t = table(hash, today);
            let composite = t.composite().expect("composite").clone();
            assert_eq!(t.slot_count(), 4 * 24);
            let placed_instants: Vec<(ShardKey, Option<usize>)> = (first_day..=last_day)
                .flat_map(|d| [instant(d, false), noon(d), instant(d, true)])
                .map(|i| {
                    let slot = composite.period.time.slot_for_key(&i).ok();
                    (i, slot)
                })
                .collect();
            for _ in 0..300 {
                let key_bound = |rng: &mut Lcg, v: i64| match rng.next(3) {
                    0 => Bound::Included(ShardKey::Int(v)),
                    1 => Bound::Excluded(ShardKey::Int(v)),
                    _ => Bound::Unbounded,
                };
                let a = rng.next(40) as i64 - 20;
                let (key_low, key_high) = if rng.next(2) == 0 {
                    (
                        Bound::Included(ShardKey::Int(a)),
                        Bound::Included(ShardKey::Int(a)),
                    )
                } else {
                    let b = a + rng.next(12) as i64;
                    (key_bound(&mut rng, a), key_bound(&mut rng, b))
                };
                let span = (last_day - first_day) as u64;
                let d1 = first_day + rng.next(span) as i64;
                let d2 = d1 + rng.next(120) as i64;
                let date_bound = |rng: &mut Lcg, day: i64| match rng.next(5) {
                    0 => Bound::Included(instant(day, false)),
                    1 => Bound::Included(instant(day, true)),
                    2 => Bound::Excluded(instant(day, false)),
                    3 => Bound::Excluded(instant(day, true)),
                    _ => Bound::Unbounded,
                };
                let (date_low, date_high) = (date_bound(&mut rng, d1), date_bound(&mut rng, d2));
                let pruned = t
                    .slots_for_range(as_ref(&key_low), as_ref(&key_high))
                    .to_vec(t.slot_count());
                let by_date = t
                    .slots_for_period_range(as_ref(&date_low), as_ref(&date_high))
                    .to_vec(t.slot_count());
                let mut pruned: Vec<usize> = pruned
                    .into_iter()
                    .filter(|s| by_date.contains(s) && t.slot_is_live(*s))
                    .collect();
                pruned.sort_unstable();
                // Brute force: place every candidate row.
                let mut truth = std::collections::BTreeSet::new();
                let keys: Vec<ShardKey> = (-30..=30)
                    .map(ShardKey::Int)
                    .filter(|k| within(k, &key_low, &key_high))
                    .collect();
                let instants: Vec<&(ShardKey, Option<usize>)> = placed_instants
                    .iter()
                    .filter(|(i, _)| within(i, &date_low, &date_high))
                    .collect();
                let key_slots: std::collections::BTreeSet<usize> = keys
                    .iter()
                    .filter_map(|k| composite.hash.slot_for_key(k, 4, &t.collation).ok())
                    .collect();
                let period_slots: std::collections::BTreeSet<usize> =
                    instants.iter().filter_map(|(_, slot)| *slot).collect();
                for h in &key_slots {
                    for p in &period_slots {
                        let slot = h * 24 + p;
                        // The pair's row really is placed there.
                        truth.insert(slot);
                    }
                }
                let truth: Vec<usize> = truth.into_iter().collect();
                // Keys beyond -30..30 only matter for unbounded key
                // ranges, which every hash slot then covers: compare
                // those on the period dimension only.
                let unbounded_keys =
                    matches!(key_low, Bound::Unbounded) || matches!(key_high, Bound::Unbounded);
                // An empty date range (`> d 00:00 AND <= d 00:00`) prunes
                // to its period at period granularity: a superset.
                let empty_dates = instants.is_empty();
                if (unbounded_keys
                    && !matches!(composite.hash, crate::placement::Algorithm::Range { .. }))
                    || empty_dates
                {
                    assert!(
                        truth.iter().all(|s| pruned.contains(s)),
                        "{hash} {today} {key_low:?}..{key_high:?} × {date_low:?}..{date_high:?}: \
                         pruned {pruned:?} misses some of {truth:?}"
                    );
                } else if unbounded_keys
                    && !matches!(composite.hash, crate::placement::Algorithm::Range { .. })
                {
                    assert!(
                        truth.iter().all(|s| pruned.contains(s)),
                        "{hash} {today} {key_low:?}..{key_high:?} × {date_low:?}..{date_high:?}: \
                         pruned {pruned:?} misses some of {truth:?}"
                    );
                } else {
                    assert_eq!(
                        pruned, truth,
                        "{hash} {today} {key_low:?}..{key_high:?} × {date_low:?}..{date_high:?}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2700);
}

/// A row's slot under `slot_for_keys` is one of the slots pruned for its
/// own point key and instant, and its physical table is named by its hash
/// slot and month on the hash slot's node.
#[test]
fn rows_land_in_their_hash_slot_and_month() {
    let t = table(r#"{ kind = "hash_mod" }"#, "2026-12-06");
    let mut rng = Lcg(11);
    for _ in 0..500 {
        let key = ShardKey::Int(rng.next(1000) as i64 - 500);
        let day = date("2026-06-01").days_since_epoch() + rng.next(270) as i64;
        let at = instant(day, rng.next(2) == 0);
        let slot = t.slot_for_keys(&key, Some(&at)).expect("placed");
        let (lo, hi) = (Bound::Included(&key), Bound::Included(&key));
        let (dlo, dhi) = (Bound::Included(&at), Bound::Included(&at));
        assert!(t
            .slots_for_range(lo, hi)
            .to_vec(t.slot_count())
            .contains(&slot));
        assert_eq!(
            t.slots_for_period_range(dlo, dhi),
            SlotSet::Slots((0..4).map(|h| h * 24 + slot % 24).collect())
        );
        let target = t
            .physical_target("events", &t.physical_name, slot)
            .expect("target");
        let hash = usize::try_from(key.as_i128().expect("int").rem_euclid(4)).expect("slot");
        let month = at.as_date().expect("date");
        assert_eq!(
            target.table,
            format!("events_{hash}_{:04}{:02}", month.year(), month.month())
        );
        assert_eq!(target.node, if hash < 2 { "n1" } else { "n2" });
    }
    // Retired (before 2026-06) and not-yet-created (after 2027-02) months
    // have no table: a clear error naming the month.
    for (day, word) in [("2026-05-31", "retired"), ("2027-03-01", "no table yet")] {
        let at = instant(date(day).days_since_epoch(), false);
        let error = t
            .slot_for_keys(&ShardKey::Int(1), Some(&at))
            .expect_err("not routed")
            .to_string();
        assert!(error.contains(word), "{day}: {error}");
    }
    assert!(t.slot_for_key(&ShardKey::Int(1)).is_err());
}
