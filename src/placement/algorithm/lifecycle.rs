//! The life of a rolling `time_range` rule's periods: which periods are
//! routed on a given day. `create_ahead = K` ends routing at the current
//! period + K (the tables `shardcat tables ensure` creates); `retain = "13
//! months"` starts it at the first period not wholly older than that (older
//! periods are retired: their tables dropped or archived by `shardcat
//! tables retire`).
//!
//! Owns: [`Retention`] (parsing `"N days|months|years"`), [`PeriodWindow`]
//! and its computation from a date. Must not read the clock (the config
//! loader passes today's date in) or touch tables.

use serde::{Deserialize, Serialize};

use super::{Period, TimeUnit};
use crate::placement::key::CalendarDate;

/// `retain = "13 months"`: how long a period is kept after it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Retention {
    /// How many `unit`s.
    pub count: u32,
    /// Days, months or years.
    pub unit: TimeUnit,
}

impl TryFrom<String> for Retention {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "retain `{text}` must be a count and a unit, like \"90 days\", \"13 months\" or \"2 years\""
            )
        };
        let mut words = text.split_whitespace();
        let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        let count: u32 = count.parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!(
                "retain `{text}` must be at least 1 (the current period is never retired)"
            ));
        }
        let unit = match unit.to_ascii_lowercase().trim_end_matches('s') {
            "day" => TimeUnit::Day,
            "month" => TimeUnit::Month,
            "year" => TimeUnit::Year,
            _ => return Err(bad()),
        };
        Ok(Retention { count, unit })
    }
}

impl From<Retention> for String {
    fn from(retention: Retention) -> String {
        retention.to_string()
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.count == 1 { "" } else { "s" };
        write!(f, "{} {}{plural}", self.count, self.unit.name())
    }
}

impl Retention {
    /// The oldest day still retained on `today`: `today` minus the
    /// retention (a month step keeps the day, clamped to the month's end).
    pub fn cutoff(self, today: CalendarDate) -> Option<CalendarDate> {
        let count = i64::from(self.count);
        match self.unit {
            TimeUnit::Day => CalendarDate::from_days_since_epoch(today.days_since_epoch() - count),
            TimeUnit::Month | TimeUnit::Year => {
                let months = if self.unit == TimeUnit::Year {
                    count * 12
                } else {
                    count
                };
                let ordinal = i64::from(today.year()) * 12 + i64::from(today.month()) - 1 - months;
                let year = u16::try_from(ordinal.div_euclid(12)).ok()?;
                let month = u8::try_from(ordinal.rem_euclid(12) + 1).ok()?;
                (1..=today.day())
                    .rev()
                    .find_map(|day| CalendarDate::new(year, month, day))
            }
        }
    }
}

/// The periods a rule routes to on one day: `first_live..=last_routed`
/// (each side open when the rule does not bound it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeriodWindow {
    /// Periods before this one are retired (`retain`).
    pub first_live: Option<Period>,
    /// Periods after this one have no table yet (`create_ahead`).
    pub last_routed: Option<Period>,
    /// The current period the window was computed for.
    pub current: Option<Period>,
}

impl PeriodWindow {
    /// The window of a rule with `retain` and `create_ahead` on `today`.
    pub fn on(
        unit: TimeUnit,
        today: CalendarDate,
        retain: Option<Retention>,
        create_ahead: Option<u32>,
    ) -> Self {
        let current = Period::containing(unit, today);
        PeriodWindow {
            first_live: retain
                .and_then(|retain| retain.cutoff(today))
                .map(|cutoff| Period::containing(unit, cutoff).min(current)),
            last_routed: create_ahead.map(|ahead| current.offset(i64::from(ahead))),
            current: Some(current),
        }
    }

    /// True if `period` is retired.
    pub fn is_retired(&self, period: Period) -> bool {
        self.first_live.is_some_and(|first| period < first)
    }

    /// True if `period` is beyond the created-ahead periods.
    pub fn is_ahead(&self, period: Period) -> bool {
        self.last_routed.is_some_and(|last| period > last)
    }

    /// True if `period` is routed.
    pub fn contains(&self, period: Period) -> bool {
        !self.is_retired(period) && !self.is_ahead(period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> CalendarDate {
        let p: Vec<u16> = text.split('-').map(|f| f.parse().unwrap_or(0)).collect();
        CalendarDate::new(p[0], p[1] as u8, p[2] as u8).expect("valid date")
    }

    #[test]
    fn retention_parses_and_prints() {
        for (text, count, unit) in [
            ("13 months", 13, TimeUnit::Month),
            ("1 month", 1, TimeUnit::Month),
            ("90 days", 90, TimeUnit::Day),
            ("2 YEARS", 2, TimeUnit::Year),
        ] {
            let r = Retention::try_from(text.to_owned()).expect(text);
            assert_eq!((r.count, r.unit), (count, unit), "{text}");
        }
        for bad in ["", "13", "0 months", "13 weeks", "x months", "1 month ago"] {
            assert!(Retention::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        assert_eq!(
            Retention::try_from("1 months".to_owned()).map(String::from),
            Ok("1 month".to_owned())
        );
    }

    #[test]
    fn cutoffs_step_the_calendar() {
        let months = |n| Retention {
            count: n,
            unit: TimeUnit::Month,
        };
        for (today, retention, cutoff) in [
            ("2026-12-06", months(13), "2025-11-06"),
            ("2026-03-31", months(1), "2026-02-28"),
            ("2028-03-31", months(1), "2028-02-29"),
            ("2026-01-15", months(1), "2025-12-15"),
            (
                "2028-02-29",
                Retention {
                    count: 1,
                    unit: TimeUnit::Year,
                },
                "2027-02-28",
            ),
            (
                "2026-03-01",
                Retention {
                    count: 1,
                    unit: TimeUnit::Day,
                },
                "2026-02-28",
            ),
        ] {
            assert_eq!(retention.cutoff(date(today)), Some(date(cutoff)), "{today}");
        }
    }

    /// Generated: for every day of three years and several retentions, the
    /// current period is never retired, a retired period lies wholly before
    /// the cutoff and the first live one does not.
    #[test]
    fn windows_never_retire_the_current_period() {
        let start = date("2026-01-01").days_since_epoch();
        for offset in 0..(3 * 366) {
            let today = CalendarDate::from_days_since_epoch(start + offset).expect("day");
            for unit in [TimeUnit::Day, TimeUnit::Month, TimeUnit::Year] {
                for (count, retain_unit) in [(1, TimeUnit::Day), (13, TimeUnit::Month)] {
                    let retain = Retention {
                        count,
                        unit: retain_unit,
                    };
                    let window = PeriodWindow::on(unit, today, Some(retain), Some(2));
                    let current = Period::containing(unit, today);
                    assert!(window.contains(current), "{today} {unit:?}");
                    assert!(window.contains(current.offset(2)));
                    assert!(!window.contains(current.offset(3)));
                    let cutoff = retain.cutoff(today).expect("cutoff");
                    let first = window.first_live.expect("bounded");
                    let last_day_before = first.first_day().expect("day").days_since_epoch() - 1;
                    assert!(last_day_before < cutoff.days_since_epoch());
                    assert!(window.is_retired(first.offset(-1)));
                }
            }
        }
    }
}
