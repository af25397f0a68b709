//! The `time_range` algorithm: time units, periods (their parsing,
//! arithmetic and names), period spans (listed or rolling) and the slot ↔
//! period mapping, including the window of routed periods.
//!
//! Owns: that arithmetic. Must not touch: which node or table name a slot
//! maps to beyond the span's node (`rules`), key conversion (`key`), the
//! other algorithms (`mod.rs`).

use serde::{Deserialize, Serialize};

use std::ops::Bound;

use super::{no_slot, PeriodWindow, PlacementError, Retention, SlotSet};
use crate::placement::key::CalendarDate;
use crate::placement::key::ShardKey;

/// The length of one time period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Periods written `YYYY-MM-DD`, named `YYYYMMDD`.
    Day,
    /// Periods written `YYYY-MM`, named `YYYYMM`.
    Month,
    /// Periods written `YYYY`, named `YYYY`.
    Year,
}

impl TimeUnit {
    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Day => "day",
            TimeUnit::Month => "month",
            TimeUnit::Year => "year",
        }
    }

    pub(super) fn written_form(self) -> &'static str {
        match self {
            TimeUnit::Day => "YYYY-MM-DD",
            TimeUnit::Month => "YYYY-MM",
            TimeUnit::Year => "YYYY",
        }
    }
}

/// One period (day, month or year) of the calendar, as an ordinal number
/// so that consecutive periods differ by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub(super) unit: TimeUnit,
    /// Days since 1970-01-01, `year * 12 + month - 1`, or the year.
    pub(super) ordinal: i64,
}

impl Period {
    /// The period containing `date`.
    pub fn containing(unit: TimeUnit, date: CalendarDate) -> Self {
        let ordinal = match unit {
            TimeUnit::Day => date.days_since_epoch(),
            TimeUnit::Month => i64::from(date.year()) * 12 + i64::from(date.month()) - 1,
            TimeUnit::Year => i64::from(date.year()),
        };
        Period { unit, ordinal }
    }

    /// Parses the rule-file form (`2026-11-28`, `2026-11` or `2026`).
    pub fn parse(unit: TimeUnit, text: &str) -> Option<Self> {
        let fields: Vec<&str> = text.trim().split('-').collect();
        let number = |index: usize, width: usize| -> Option<u32> {
            let field = fields.get(index)?;
            if field.len() != width || !field.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            field.parse().ok()
        };
        let wanted_fields = match unit {
            TimeUnit::Day => 3,
            TimeUnit::Month => 2,
            TimeUnit::Year => 1,
        };
        if fields.len() != wanted_fields {
            return None;
        }
        let year = u16::try_from(number(0, 4)?).ok()?;
        let month = if wanted_fields >= 2 {
            u8::try_from(number(1, 2)?).ok()?
        } else {
            1
        };
        let day = if wanted_fields == 3 {
            u8::try_from(number(2, 2)?).ok()?
        } else {
            1
        };
        Some(Period::containing(
            unit,
            CalendarDate::new(year, month, day)?,
        ))
    }

    /// The unit.
    pub fn unit(self) -> TimeUnit {
        self.unit
    }

    /// The first day of the period (`None` only for corrupt ordinals).
    pub fn first_day(self) -> Option<CalendarDate> {
        match self.unit {
            TimeUnit::Day => CalendarDate::from_days_since_epoch(self.ordinal),
            TimeUnit::Month => CalendarDate::new(
                u16::try_from(self.ordinal.div_euclid(12)).ok()?,
                u8::try_from(self.ordinal.rem_euclid(12) + 1).ok()?,
                1,
            ),
            TimeUnit::Year => CalendarDate::new(u16::try_from(self.ordinal).ok()?, 1, 1),
        }
    }

    /// The period `steps` later (earlier if negative).
    pub fn offset(self, steps: i64) -> Self {
        Period {
            unit: self.unit,
            ordinal: self.ordinal.saturating_add(steps),
        }
    }

    /// The name used in physical tables: `20261128`, `202611` or `2026`.
    pub fn name(self) -> String {
        match (self.first_day(), self.unit) {
            (Some(day), TimeUnit::Day) => {
                format!("{:04}{:02}{:02}", day.year(), day.month(), day.day())
            }
            (Some(day), TimeUnit::Month) => format!("{:04}{:02}", day.year(), day.month()),
            (Some(day), TimeUnit::Year) => format!("{:04}", day.year()),
            (None, _) => format!("invalid{}", self.ordinal),
        }
    }
}

/// The `time_range` algorithm: consecutive periods mapped to nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTimeRange", into = "RawTimeRange")]
pub struct TimeRange {
    /// Day, month or year.
    pub unit: TimeUnit,
    /// The configured periods, in file order (validation requires them
    /// sorted and disjoint). Slots number the periods of every span in turn.
    pub periods: Vec<PeriodSpan>,
    /// `create_ahead = K`: the current and next K periods have tables
    /// (`shardcat tables ensure`); later periods are not routed.
    pub create_ahead: Option<u32>,
    /// `retain = "13 months"`: older periods are retired (not routed; their
    /// tables dropped or archived by `shardcat tables retire`).
    pub retain: Option<Retention>,
    /// The periods routed, computed from `create_ahead`, `retain` and the
    /// day the rules were loaded ([`TimeRange::apply_clock`]); unbounded
    /// until then.
    pub window: PeriodWindow,
}

/// An inclusive run of periods stored on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodSpan {
    /// First period, inclusive.
    pub from: Period,
    /// Last period, inclusive.
    pub to: Period,
    /// The node holding these periods' tables.
    pub node: String,
}

impl PeriodSpan {
    /// Number of periods in the span (0 if reversed).
    pub fn len(&self) -> usize {
        let count = self
            .to
            .ordinal
            .saturating_sub(self.from.ordinal)
            .saturating_add(1);
        usize::try_from(count.max(0)).unwrap_or(usize::MAX)
    }

    /// True if the span is reversed and so holds no period.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    unit: TimeUnit,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    periods: Vec<RawPeriodSpan>,
    /// Rolling form: the first period (`periods` must then be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    /// Rolling form: nodes taking the periods in turn (round robin by
    /// period index counted from `start`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nodes: Vec<String>,
    /// Rolling form: how many periods from `start` the rule covers
    /// (default [`default_horizon`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    horizon: Option<u32>,
    /// Periods after the current one whose tables are created ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    create_ahead: Option<u32>,
    /// How long a period is kept after it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain: Option<Retention>,
}

/// Periods a rolling rule covers when it sets no `horizon`: 10 years.
pub fn default_horizon(unit: TimeUnit) -> u32 {
    match unit {
        TimeUnit::Day => 3653,
        TimeUnit::Month => 120,
        TimeUnit::Year => 10,
    }
}

/// The spans of a rolling rule: `horizon` periods from `start`, period `i`
/// on `nodes[i % nodes.len()]`.
pub fn rolling_spans(start: Period, nodes: &[String], horizon: u32) -> Vec<PeriodSpan> {
    if nodes.is_empty() {
        return Vec::new();
    }
    (0..i64::from(horizon))
        .filter_map(|index| {
            let node = nodes.get(usize::try_from(index).ok()? % nodes.len())?;
            let period = start.offset(index);
            Some(PeriodSpan {
                from: period,
                to: period,
                node: node.clone(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriodSpan {
    from: String,
    to: String,
    node: String,
}

impl TryFrom<RawTimeRange> for TimeRange {
    type Error = String;
    fn try_from(raw: RawTimeRange) -> Result<Self, String> {
        let unit = raw.unit;
        let parse = |text: &str| {
            Period::parse(unit, text).ok_or_else(|| {
                format!(
                    "time_range period `{text}` is not a valid {} (write it as {})",
                    unit.name(),
                    unit.written_form()
                )
            })
        };
        if let Some(start) = &raw.start {
            if !raw.periods.is_empty() {
                return Err(
                    "time_range takes either `periods` or `start` and `nodes`, not both".into(),
                );
            }
            if raw.nodes.is_empty() {
                return Err("a rolling time_range (`start`) needs a non-empty `nodes` list".into());
            }
            let horizon = raw.horizon.unwrap_or_else(|| default_horizon(unit));
            if horizon == 0 {
                return Err("time_range `horizon` must be at least 1".into());
            }
            let periods = rolling_spans(parse(start)?, &raw.nodes, horizon);
            return Ok(TimeRange {
                unit,
                periods,
                create_ahead: raw.create_ahead,
                retain: raw.retain,
                window: PeriodWindow::default(),
            });
        }
        if !raw.nodes.is_empty() || raw.horizon.is_some() {
            return Err("time_range `nodes` and `horizon` need `start` (the rolling form)".into());
        }
        let periods = raw
            .periods
            .into_iter()
            .map(|span| {
                Ok(PeriodSpan {
                    from: parse(&span.from)?,
                    to: parse(&span.to)?,
                    node: span.node,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(TimeRange {
            unit,
            periods,
            create_ahead: raw.create_ahead,
            retain: raw.retain,
            window: PeriodWindow::default(),
        })
    }
}

impl From<TimeRange> for RawTimeRange {
    fn from(range: TimeRange) -> Self {
        let written = |period: Period| match (period.first_day(), range.unit) {
            (Some(day), TimeUnit::Day) => day.to_string(),
            (Some(day), TimeUnit::Month) => format!("{:04}-{:02}", day.year(), day.month()),
            (Some(day), TimeUnit::Year) => format!("{:04}", day.year()),
            (None, _) => period.name(),
        };
        RawTimeRange {
            unit: range.unit,
            periods: range
                .periods
                .iter()
                .map(|span| RawPeriodSpan {
                    from: written(span.from),
                    to: written(span.to),
                    node: span.node.clone(),
                })
                .collect(),
            start: None,
            nodes: Vec::new(),
            horizon: None,
            create_ahead: range.create_ahead,
            retain: range.retain,
        }
    }
}

impl TimeRange {
    /// The slot of `key` (a DATE or DATETIME): its period's, if the rule
    /// covers and routes that period.
    pub fn slot_for_key(&self, key: &ShardKey) -> Result<usize, PlacementError> {
        if matches!(key, ShardKey::Null) {
            return Err(no_slot(key, "time_range tables have no period for NULL"));
        }
        let date = key.as_date().ok_or(PlacementError::KeyTypeMismatch {
            given: key.kind_name(),
            algorithm: "time_range",
            needs: "date or datetime",
        })?;
        let period = Period::containing(self.unit, date);
        if let Some(first) = self.periods.first().map(|span| span.from) {
            if period < first {
                return Err(no_slot(
                    key,
                    &format!(
                        "{} {} is before the rule's first period {}",
                        self.unit.name(),
                        period.name(),
                        first.name()
                    ),
                ));
            }
        }
        if self.window.is_retired(period) {
            let retain = self.retain.map(|r| r.to_string()).unwrap_or_default();
            return Err(no_slot(
                key,
                &format!(
                    "{} {} is retired (retain = \"{retain}\"): its rows are gone",
                    self.unit.name(),
                    period.name(),
                ),
            ));
        }
        if let (true, Some(current)) = (self.window.is_ahead(period), self.window.current) {
            return Err(no_slot(
                key,
                &format!(
                    "{} {} has no table yet: only the current {} {} and the next {} are created ahead (create_ahead)",
                    self.unit.name(),
                    period.name(),
                    self.unit.name(),
                    current.name(),
                    self.create_ahead.unwrap_or(0),
                ),
            ));
        }
        self.slot_of_period(period).ok_or_else(|| {
            no_slot(
                key,
                &format!(
                    "{} {} is outside every configured period",
                    self.unit.name(),
                    period.name()
                ),
            )
        })
    }

    /// The slots whose periods can hold keys between the bounds: exact at
    /// period granularity, but for an excluded DATE bound, widened to its
    /// whole period (a superset, always safe: the DATE may have been cut
    /// from a date-time literal). An excluded DATETIME bound on a period's
    /// first (or last) instant leaves that period out.
    pub fn slots_for_range(&self, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> SlotSet {
        let period = |bound: Bound<&ShardKey>, is_low: bool| -> Result<Option<Period>, ()> {
            let containing = |key: &ShardKey| {
                key.as_date()
                    .map(|date| Period::containing(self.unit, date))
                    .ok_or(())
            };
            match bound {
                Bound::Unbounded => Ok(None),
                Bound::Included(key) => containing(key).map(Some),
                Bound::Excluded(key) => {
                    let period = containing(key)?;
                    let ShardKey::DateTime(instant) = key else {
                        return Ok(Some(period));
                    };
                    let edge = if is_low {
                        period
                            .offset(1)
                            .first_day()
                            .and_then(|next| {
                                CalendarDate::from_days_since_epoch(next.days_since_epoch() - 1)
                            })
                            .filter(|last| {
                                *last == instant.date() && instant.time() == (23, 59, 59, 999_999)
                            })
                            .map(|_| period.offset(1))
                    } else {
                        period
                            .first_day()
                            .filter(|first| {
                                *first == instant.date() && instant.time() == (0, 0, 0, 0)
                            })
                            .map(|_| period.offset(-1))
                    };
                    Ok(Some(edge.unwrap_or(period)))
                }
            }
        };
        match (period(low, true), period(high, false)) {
            (Ok(first), Ok(last)) => {
                let first = match (first, self.window.first_live) {
                    (Some(f), Some(live)) => Some(f.max(live)),
                    (f, live) => f.or(live),
                };
                let last = match (last, self.window.last_routed) {
                    (Some(l), Some(routed)) => Some(l.min(routed)),
                    (l, routed) => l.or(routed),
                };
                SlotSet::from_slots(self.slots_between(first, last), self.slot_count())
            }
            _ => SlotSet::All,
        }
    }
    /// Computes the routed window for `today` (a rule without
    /// `create_ahead` and `retain` stays unbounded).
    pub fn apply_clock(&mut self, today: CalendarDate) {
        if self.create_ahead.is_some() || self.retain.is_some() {
            self.window = PeriodWindow::on(self.unit, today, self.retain, self.create_ahead);
        }
    }

    /// True if `slot`'s period is routed (not retired, not beyond the
    /// created-ahead periods).
    pub fn slot_is_live(&self, slot: usize) -> bool {
        self.slot(slot)
            .is_some_and(|(period, _)| self.window.contains(period))
    }

    /// Total number of periods, i.e. slots.
    pub fn slot_count(&self) -> usize {
        self.periods
            .iter()
            .fold(0usize, |total, span| total.saturating_add(span.len()))
    }

    /// The period and node of `slot`.
    pub fn slot(&self, slot: usize) -> Option<(Period, &str)> {
        let mut remaining = slot;
        for span in &self.periods {
            if remaining < span.len() {
                let steps = i64::try_from(remaining).ok()?;
                return Some((span.from.offset(steps), span.node.as_str()));
            }
            remaining -= span.len();
        }
        None
    }

    /// The slot holding `period`, if any span covers it.
    pub fn slot_of_period(&self, period: Period) -> Option<usize> {
        let mut first_slot = 0usize;
        for span in &self.periods {
            if span.from <= period && period <= span.to {
                let steps = usize::try_from(period.ordinal - span.from.ordinal).ok()?;
                return first_slot.checked_add(steps);
            }
            first_slot = first_slot.saturating_add(span.len());
        }
        None
    }

    /// Slots whose period lies in `first..=last` (at period granularity).
    pub(super) fn slots_between(&self, first: Option<Period>, last: Option<Period>) -> Vec<usize> {
        let mut slots = Vec::new();
        let mut first_slot = 0usize;
        for span in &self.periods {
            let low = first.map_or(span.from, |first| first.max(span.from));
            let high = last.map_or(span.to, |last| last.min(span.to));
            if low <= high && span.from <= span.to {
                let start = usize::try_from(low.ordinal - span.from.ordinal).unwrap_or(0);
                let end = usize::try_from(high.ordinal - span.from.ordinal).unwrap_or(0);
                slots.extend((start..=end).filter_map(|step| first_slot.checked_add(step)));
            }
            first_slot = first_slot.saturating_add(span.len());
        }
        slots
    }
}
