//! Composite placement: a hash (or range) of the key into hash slots, then
//! the period (day, month, year) of a second, date column — `user_id`
//! hashed into 4 slots × the month of `created_at`, one physical table per
//! (hash slot, period).
//!
//! Slot numbering: slot = `hash_slot × periods + period_index`, so the
//! periods of one hash slot are consecutive slots and share its node.
//!
//! Owns: [`PeriodSplit`] (the rule's `period = { … }` table and its
//! parsing), [`Composite`] and its arithmetic (slot of a key pair, pruning
//! of a key range or a period range to the exact slots). Must not touch:
//! node and table names (`rules`), key conversion (`key`), the period
//! arithmetic itself (`time_range.rs`).

use std::ops::Bound;

use serde::Deserialize;

use super::{rolling_spans, Algorithm, Period, PlacementError, SlotSet, TimeRange, TimeUnit};
use crate::placement::collation::Collation;
use crate::placement::key::{KeyType, ShardKey};

/// The rule's `period = { key = "created_at", key_type = "datetime", unit =
/// "month", start = "2026-01", horizon = 36, create_ahead = 2, retain = "13
/// months" }`: every hash slot is split again by this column's period.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawPeriodSplit")]
pub struct PeriodSplit {
    /// The date column.
    pub key: String,
    /// `date` or `datetime`.
    pub key_type: KeyType,
    /// The periods (one span from `start`, `horizon` periods long, its node
    /// unused: the hash slot names the node), `create_ahead`, `retain`.
    pub time: TimeRange,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriodSplit {
    key: String,
    key_type: KeyType,
    unit: TimeUnit,
    start: String,
    #[serde(default)]
    horizon: Option<u32>,
    #[serde(default)]
    create_ahead: Option<u32>,
    #[serde(default)]
    retain: Option<super::Retention>,
}

impl TryFrom<RawPeriodSplit> for PeriodSplit {
    type Error = String;
    fn try_from(raw: RawPeriodSplit) -> Result<Self, String> {
        if !matches!(raw.key_type, KeyType::Date | KeyType::DateTime) {
            return Err(format!(
                "period key_type must be `date` or `datetime`, not `{}`",
                raw.key_type
            ));
        }
        if raw.key.trim().is_empty() {
            return Err("period `key` is empty".into());
        }
        let start = Period::parse(raw.unit, &raw.start).ok_or_else(|| {
            format!(
                "period start `{}` is not a valid {} (write it as {})",
                raw.start,
                raw.unit.name(),
                raw.unit.written_form()
            )
        })?;
        let horizon = raw
            .horizon
            .unwrap_or_else(|| super::default_horizon(raw.unit));
        if horizon == 0 {
            return Err("period `horizon` must be at least 1".into());
        }
        let last = start.offset(i64::from(horizon) - 1);
        let mut periods = rolling_spans(start, &[String::new()], 1);
        if let Some(span) = periods.first_mut() {
            span.to = last;
        }
        Ok(PeriodSplit {
            key: raw.key,
            key_type: raw.key_type,
            time: TimeRange {
                unit: raw.unit,
                periods,
                create_ahead: raw.create_ahead,
                retain: raw.retain,
                window: Default::default(),
            },
        })
    }
}

/// A hash (or range) algorithm, then a [`PeriodSplit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composite {
    /// The first level: `hash_mod`, `jump`, `hash_range` or `range` over the
    /// key, into `nodes × tables_per_node` hash slots.
    pub hash: Algorithm,
    /// The second level.
    pub period: PeriodSplit,
}

impl Composite {
    /// Periods per hash slot.
    pub fn period_count(&self) -> usize {
        self.period.time.slot_count()
    }

    /// Hash slots among `slot_count` slots.
    pub fn hash_slot_count(&self, slot_count: usize) -> usize {
        slot_count
            .checked_div(self.period_count())
            .unwrap_or_default()
    }

    /// (hash slot, period index) of `slot`.
    pub fn split(&self, slot: usize) -> (usize, usize) {
        let periods = self.period_count().max(1);
        (slot / periods, slot % periods)
    }

    /// The period of `slot`.
    pub fn period_of_slot(&self, slot: usize) -> Option<Period> {
        self.period
            .time
            .slot(self.split(slot).1)
            .map(|(period, _)| period)
    }

    /// True if `slot`'s period is routed today.
    pub fn slot_is_live(&self, slot: usize) -> bool {
        self.period.time.slot_is_live(self.split(slot).1)
    }

    /// The slot of the row whose key is `key` and period column
    /// `period_key`, among `slot_count` slots.
    pub fn slot_for_keys(
        &self,
        key: &ShardKey,
        period_key: &ShardKey,
        slot_count: usize,
        collation: &Collation,
    ) -> Result<usize, PlacementError> {
        let hash_slot = self
            .hash
            .slot_for_key(key, self.hash_slot_count(slot_count), collation)?;
        let period = self.period.time.slot_for_key(period_key)?;
        Ok(hash_slot * self.period_count() + period)
    }

    /// The slot a row of `slot` belongs in once its key becomes `key`
    /// and/or its period column `period_key` (`None`: unchanged), among
    /// `slot_count` slots: a key move's destination.
    pub fn moved_slot(
        &self,
        slot: usize,
        key: Option<&ShardKey>,
        period_key: Option<&ShardKey>,
        slot_count: usize,
        collation: &Collation,
    ) -> Result<usize, PlacementError> {
        let (mut hash_slot, mut period) = self.split(slot);
        if let Some(key) = key {
            hash_slot = self
                .hash
                .slot_for_key(key, self.hash_slot_count(slot_count), collation)?;
        }
        if let Some(period_key) = period_key {
            period = self.period.time.slot_for_key(period_key)?;
        }
        Ok(hash_slot * self.period_count() + period)
    }

    /// The slots that can hold keys between the bounds: the key's hash slots,
    /// each with all its periods.
    pub fn slots_for_hash_range(
        &self,
        low: Bound<&ShardKey>,
        high: Bound<&ShardKey>,
        slot_count: usize,
        collation: &Collation,
    ) -> SlotSet {
        let hashes = self.hash_slot_count(slot_count);
        let periods = self.period_count();
        match self.hash.slots_for_range(low, high, hashes, collation) {
            SlotSet::All => SlotSet::All,
            SlotSet::Slots(hash_slots) => SlotSet::from_slots(
                hash_slots
                    .into_iter()
                    .flat_map(|h| (h * periods)..(h * periods + periods))
                    .collect(),
                slot_count,
            ),
        }
    }

    /// The slots that can hold period-column values between the bounds: the
    /// periods in range (and routed) on every hash slot.
    pub fn slots_for_period_range(
        &self,
        low: Bound<&ShardKey>,
        high: Bound<&ShardKey>,
        slot_count: usize,
    ) -> SlotSet {
        let hashes = self.hash_slot_count(slot_count);
        let periods = self.period_count();
        let bound_is_null = |bound: Bound<&ShardKey>| {
            matches!(
                bound,
                Bound::Included(ShardKey::Null) | Bound::Excluded(ShardKey::Null)
            )
        };
        if bound_is_null(low) || bound_is_null(high) {
            return SlotSet::All;
        }
        let in_range = match (low, high) {
            (Bound::Included(first), Bound::Included(last)) if first == last => {
                match self.period.time.slot_for_key(first) {
                    Ok(slot) => vec![slot],
                    Err(PlacementError::NoShardForKey { .. }) => Vec::new(),
                    Err(_) => return SlotSet::All,
                }
            }
            _ => match self.period.time.slots_for_range(low, high) {
                SlotSet::All => return SlotSet::All,
                SlotSet::Slots(slots) => slots,
            },
        };
        SlotSet::from_slots(
            (0..hashes)
                .flat_map(|h| in_range.iter().map(move |p| h * periods + p))
                .collect(),
            slot_count,
        )
    }
}

#[cfg(test)]
#[path = "composite_tests.rs"]
mod tests;
