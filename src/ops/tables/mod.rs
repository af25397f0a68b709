//! Physical tables of `time_range` and composite (key × period) rules over time: creating the current
//! and next `create_ahead` periods' tables (`shardcat tables ensure`),
//! retiring periods older than `retain` (`shardcat tables retire`), and
//! the same on a schedule inside the proxy.
//!
//! Owns: which period tables a rule wants on a given day ([`wanted`]),
//! what to do about them given the tables that exist ([`plan_ensure`],
//! [`plan_retire`]), the DDL rewrite (`ddl`) and running the actions on the
//! nodes' primaries (`live`, over mysql_async, outside the data path).
//! Must not: route client statements or hold pooled data-path connections.
//!
//! The day is [`today`]: the UTC date, or `SHARDCAT_TODAY=YYYY-MM-DD`
//! (tests and what-if runs fake the clock with it).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::placement::{
    CalendarDate, Period, PeriodWindow, ShardingRules, SlotSet, TablePlacement,
};

pub(crate) mod ddl;
pub(crate) mod live;

pub use ddl::{copy_ddl, DdlError};
pub use live::{check_live, run_ensure, run_retire, spawn_jobs, Existing, JobReport};
pub(crate) use live::{connect, user_tables};

/// Today's date (UTC), or `SHARDCAT_TODAY` when set to a valid
/// `YYYY-MM-DD` (a faked clock for tests and what-if runs).
pub fn today() -> CalendarDate {
    if let Some(date) = std::env::var("SHARDCAT_TODAY")
        .ok()
        .and_then(|text| parse_date(&text))
    {
        return date;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    CalendarDate::from_days_since_epoch(days)
        .or_else(|| CalendarDate::new(1970, 1, 1))
        .expect("1970-01-01 is a valid date")
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<CalendarDate> {
    let mut parts = text.trim().split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    CalendarDate::new(year, month, day)
}

/// One physical table of a period of a `time_range` logical table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodTable {
    /// The logical table.
    pub logical: String,
    /// The rule's schema, if it names one.
    pub schema: Option<String>,
    /// The period.
    pub period: Period,
    /// Node name.
    pub node: String,
    /// Physical table name.
    pub table: String,
    /// Where the period stands on the day asked about.
    pub state: PeriodState,
    /// The rule sets `create_ahead` (the proxy's schedule creates only
    /// these; the command creates every rule's).
    pub create_ahead_set: bool,
}

/// Where a period stands on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodState {
    /// Older than `retain`: to be dropped or archived.
    Retired,
    /// Routed, before the current period.
    Past,
    /// The current period.
    Current,
    /// One of the next `create_ahead` periods (`create_ahead` defaults to 1
    /// for `ensure` and `check`).
    Ahead,
    /// Later: no table wanted yet.
    Later,
}

impl PeriodState {
    /// A word for listings.
    pub fn name(self) -> &'static str {
        match self {
            PeriodState::Retired => "retired",
            PeriodState::Past => "past",
            PeriodState::Current => "current",
            PeriodState::Ahead => "ahead",
            PeriodState::Later => "later",
        }
    }
}

/// Every period table of every `time_range` logical table (bound tables
/// included) and its state on `today`.
pub fn period_tables(cfg: &Config, today: CalendarDate) -> Vec<PeriodTable> {
    let node_names = cfg.node_names();
    let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
    let Ok(rules) = ShardingRules::new(cfg.tables.clone(), &node_refs) else {
        return Vec::new();
    };
    rules
        .tables()
        .flat_map(|placement| placement_periods(&placement, today))
        .collect()
}

fn placement_periods(placement: &TablePlacement<'_>, today: CalendarDate) -> Vec<PeriodTable> {
    let Some(root) = placement.root() else {
        return Vec::new();
    };
    let Some(time) = root.time_periods() else {
        return Vec::new();
    };
    let window = PeriodWindow::on(
        time.unit,
        today,
        time.retain,
        Some(time.create_ahead.unwrap_or(1)),
    );
    let current = Period::containing(time.unit, today);
    let rule = placement.rule();
    (0..root.slot_count())
        .filter_map(|slot| {
            let period = root.period_of_slot(slot)?;
            let target = placement
                .targets_for_slots(&SlotSet::Slots(vec![slot]))
                .pop()?;
            let state = if window.is_retired(period) {
                PeriodState::Retired
            } else if period < current {
                PeriodState::Past
            } else if period == current {
                PeriodState::Current
            } else if window.is_ahead(period) {
                PeriodState::Later
            } else {
                PeriodState::Ahead
            };
            Some(PeriodTable {
                logical: rule.name.clone(),
                schema: rule.schema.clone(),
                period,
                node: target.node,
                table: target.table,
                state,
                create_ahead_set: time.create_ahead.is_some(),
            })
        })
        .collect()
}

/// A table to create: `table` in `schema` on `node`, from the DDL of
/// `source` (an existing period table of the same logical table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub logical: String,
    pub period: Period,
    pub schema: String,
    pub node: String,
    pub table: String,
    /// (node, table) to copy the DDL from.
    pub source: (String, String),
}

/// A table to retire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retire {
    pub logical: String,
    pub period: Period,
    pub schema: String,
    pub node: String,
    pub table: String,
}

/// Something that cannot be done, in a DBA's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub logical: String,
    pub message: String,
}

/// The schemas a logical table lives in: its rule's, or (a rule without a
/// schema matches any) each schema holding one of its period tables.
fn schemas_of(tables: &[&PeriodTable], existing: &Existing) -> BTreeSet<String> {
    if let Some(schema) = tables.first().and_then(|t| t.schema.clone()) {
        return BTreeSet::from([schema]);
    }
    tables
        .iter()
        .flat_map(|t| existing.schemas_with(&t.node, &t.table))
        .collect()
}

fn by_logical(tables: &[PeriodTable]) -> BTreeMap<&str, Vec<&PeriodTable>> {
    let mut map: BTreeMap<&str, Vec<&PeriodTable>> = BTreeMap::new();
    for t in tables {
        map.entry(t.logical.as_str()).or_default().push(t);
    }
    map
}

/// The tables of the current and next `create_ahead` periods that do not
/// exist, each with an existing period table to copy the DDL from (the
/// latest one not after the new period, else the earliest).
pub fn plan_ensure(tables: &[PeriodTable], existing: &Existing) -> (Vec<Create>, Vec<Problem>) {
    let mut creates = Vec::new();
    let mut problems = Vec::new();
    for (logical, periods) in by_logical(tables) {
        let schemas = schemas_of(&periods, existing);
        if schemas.is_empty() {
            problems.push(Problem {
                logical: logical.to_owned(),
                message: format!(
                    "no physical table of `{logical}` exists to copy its definition from; \
                     create it once through shardcat (CREATE TABLE {logical} …) or create one \
                     period table by hand"
                ),
            });
            continue;
        }
        for schema in schemas {
            let present = |t: &PeriodTable| existing.has(&schema, &t.node, &t.table);
            let wanted = periods
                .iter()
                .filter(|t| matches!(t.state, PeriodState::Current | PeriodState::Ahead));
            for t in wanted.filter(|t| !present(t)) {
                let source = periods
                    .iter()
                    .filter(|s| present(s) && s.period <= t.period)
                    .max_by_key(|s| s.period)
                    .or_else(|| periods.iter().find(|s| present(s)));
                let Some(source) = source else {
                    problems.push(Problem {
                        logical: logical.to_owned(),
                        message: format!(
                            "no physical table of `{logical}` exists in schema `{schema}` to copy its definition from"
                        ),
                    });
                    break;
                };
                creates.push(Create {
                    logical: logical.to_owned(),
                    period: t.period,
                    schema: schema.clone(),
                    node: t.node.clone(),
                    table: t.table.clone(),
                    source: (source.node.clone(), source.table.clone()),
                });
            }
        }
    }
    (creates, problems)
}

/// The existing tables of retired periods (never the current one: a
/// retention is at least one unit long).
pub fn plan_retire(tables: &[PeriodTable], existing: &Existing) -> Vec<Retire> {
    let mut retires = Vec::new();
    for (logical, periods) in by_logical(tables) {
        for schema in schemas_of(&periods, existing) {
            for t in periods.iter().filter(|t| t.state == PeriodState::Retired) {
                if existing.has(&schema, &t.node, &t.table) {
                    retires.push(Retire {
                        logical: logical.to_owned(),
                        period: t.period,
                        schema: schema.clone(),
                        node: t.node.clone(),
                        table: t.table.clone(),
                    });
                }
            }
        }
    }
    retires
}

/// Current or next periods without a table: (logical, schema, period
/// table). Schemas as in [`plan_ensure`].
pub fn missing_soon<'a>(
    tables: &'a [PeriodTable],
    existing: &Existing,
) -> Vec<(String, String, &'a PeriodTable)> {
    let mut missing = Vec::new();
    for (logical, periods) in by_logical(tables) {
        let schemas = schemas_of(&periods, existing);
        let soon = periods
            .iter()
            .filter(|t| t.state == PeriodState::Current)
            .chain(
                periods
                    .iter()
                    .filter(|t| t.state == PeriodState::Ahead)
                    .take(1),
            );
        for t in soon {
            if schemas.is_empty() {
                missing.push((logical.to_owned(), "?".to_owned(), *t));
            }
            for schema in &schemas {
                if !existing.has(schema, &t.node, &t.table) {
                    missing.push((logical.to_owned(), schema.clone(), *t));
                }
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests;
