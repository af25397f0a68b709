//! Unit tests of the period-table plans (pure: no server).

use super::*;
use crate::placement::TimeUnit;

fn config(extra: &str) -> Config {
    let text = format!(
        r#"
[[user]]
name = "app"
password = "x"

[[node]]
name = "n1"
primary = "127.0.0.1:1"
[[node]]
name = "n2"
primary = "127.0.0.1:2"

[[table]]
name = "ev"
schema = "app"
key = "at"
key_type = "date"
[table.algorithm]
kind = "time_range"
unit = "month"
start = "2025-01"
nodes = ["n1", "n2"]
horizon = 36
{extra}
"#
    );
    Config::parse(&text, std::path::Path::new("t.toml")).expect("valid config")
}

fn day(text: &str) -> CalendarDate {
    parse_date(text).expect("date")
}

fn period(text: &str) -> Period {
    Period::parse(TimeUnit::Month, text).expect("period")
}

#[test]
fn states_follow_the_day() {
    let cfg = config("create_ahead = 2\nretain = \"3 months\"");
    let tables = period_tables(&cfg, day("2026-03-15"));
    let state = |p: &str| {
        tables
            .iter()
            .find(|t| t.period == period(p))
            .map(|t| (t.state, t.node.as_str(), t.table.as_str()))
    };
    assert_eq!(state("2025-11").map(|s| s.0), Some(PeriodState::Retired));
    assert_eq!(
        state("2025-12"),
        Some((PeriodState::Past, "n2", "ev_202512"))
    );
    assert_eq!(
        state("2026-03"),
        Some((PeriodState::Current, "n1", "ev_202603"))
    );
    assert_eq!(state("2026-05").map(|s| s.0), Some(PeriodState::Ahead));
    assert_eq!(state("2026-06").map(|s| s.0), Some(PeriodState::Later));
}

#[test]
fn ensure_creates_only_missing_current_and_ahead_tables_from_a_neighbour() {
    let cfg = config("create_ahead = 2");
    let tables = period_tables(&cfg, day("2026-12-31"));
    let mut existing = Existing::default();
    existing.insert("n1", "app", "ev_202611");
    existing.insert("n1", "app", "ev_202701");
    let (creates, problems) = plan_ensure(&tables, &existing);
    assert!(problems.is_empty(), "{problems:?}");
    let made: Vec<(&str, &str, &str)> = creates
        .iter()
        .map(|c| (c.node.as_str(), c.table.as_str(), c.source.1.as_str()))
        .collect();
    assert_eq!(
        made,
        [
            ("n2", "ev_202612", "ev_202611"),
            ("n2", "ev_202702", "ev_202701")
        ]
    );
    // Nothing at all to copy from: a clear problem, nothing created.
    let (creates, problems) = plan_ensure(&tables, &Existing::default());
    assert!(creates.is_empty());
    assert!(problems[0].message.contains("no physical table of `ev`"));
}

/// Generated: over every day of two years, retire never lists the
/// current period and lists exactly the existing periods older than
/// `retain`.
#[test]
fn retire_never_touches_the_current_period() {
    let cfg = config("retain = \"2 months\"");
    let start = day("2025-01-01").days_since_epoch();
    for offset in 0..730 {
        let today = CalendarDate::from_days_since_epoch(start + offset).expect("day");
        let tables = period_tables(&cfg, today);
        let mut existing = Existing::default();
        for t in &tables {
            existing.insert(&t.node, "app", &t.table);
        }
        let retires = plan_retire(&tables, &existing);
        let current = Period::containing(TimeUnit::Month, today);
        assert!(
            retires.iter().all(|r| r.period < current.offset(-2)),
            "{today}"
        );
        let expected = tables
            .iter()
            .filter(|t| t.period < current.offset(-2))
            .count();
        assert_eq!(retires.len(), expected, "{today}");
    }
}

#[test]
fn missing_soon_names_current_and_next() {
    let cfg = config("create_ahead = 3");
    let tables = period_tables(&cfg, day("2026-02-01"));
    let mut existing = Existing::default();
    existing.insert("n1", "app", "ev_202601");
    existing.insert("n1", "app", "ev_202603");
    let missing: Vec<&str> = missing_soon(&tables, &existing)
        .into_iter()
        .map(|(_, _, t)| t.table.as_str())
        .collect();
    assert_eq!(missing, ["ev_202602"]);
}
