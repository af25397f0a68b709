//! Physical table name patterns (`physical_name = "orders_{index}"`).
//!
//! Owns: parsing a pattern, checking its placeholders, and rendering the
//! physical table name of one slot. Must not touch: which node a slot lives
//! on, or whether the names of a whole layout are unique (`rules.rs` does
//! that by rendering every slot).
//!
//! | placeholder     | value                                                  |
//! |-----------------|--------------------------------------------------------|
//! | `{table}`       | the logical table name                                 |
//! | `{index}`       | the slot number, `0..slots` across all nodes           |
//! | `{local_index}` | the slot's number within its node, `0..tables_per_node` |
//! | `{period}`      | `time_range` only: `20261128`, `202611` or `2026` by unit |
//! | `{yyyy}` `{mm}` `{dd}` `{yyyymm}` `{yyyymmdd}` | `time_range` only: parts of the period's first day |
//!
//! There is no escape for literal braces: MySQL table names with braces are
//! not supported.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::algorithm::Period;

/// The default pattern for slot-numbered tables.
pub const DEFAULT_INDEXED_PATTERN: &str = "{table}_{index}";
/// The default pattern for `time_range` tables.
pub const DEFAULT_PERIOD_PATTERN: &str = "{table}_{period}";
/// The default physical name pattern of a composite (key × period) rule.
pub const DEFAULT_COMPOSITE_PATTERN: &str = "{table}_{index}_{period}";

/// A parsed physical table name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// A `{...}` placeholder of a [`NamePattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{table}`.
    Table,
    /// `{index}`.
    Index,
    /// `{local_index}`.
    LocalIndex,
    /// `{period}`.
    Period,
    /// `{yyyy}`.
    Year,
    /// `{mm}`.
    Month,
    /// `{dd}`.
    Day,
    /// `{yyyymm}`.
    YearMonth,
    /// `{yyyymmdd}`.
    YearMonthDay,
}

impl Placeholder {
    const ALL: [(&'static str, Placeholder); 9] = [
        ("table", Placeholder::Table),
        ("index", Placeholder::Index),
        ("local_index", Placeholder::LocalIndex),
        ("period", Placeholder::Period),
        ("yyyy", Placeholder::Year),
        ("mm", Placeholder::Month),
        ("dd", Placeholder::Day),
        ("yyyymm", Placeholder::YearMonth),
        ("yyyymmdd", Placeholder::YearMonthDay),
    ];

    /// True for placeholders that need a `time_range` period.
    pub fn needs_period(self) -> bool {
        !matches!(
            self,
            Placeholder::Table | Placeholder::Index | Placeholder::LocalIndex
        )
    }

    fn name(self) -> &'static str {
        Placeholder::ALL
            .iter()
            .find(|(_, placeholder)| *placeholder == self)
            .map_or("?", |(name, _)| name)
    }
}

/// Everything a pattern can refer to for one slot.
#[derive(Debug, Clone, Copy)]
pub struct NameValues<'a> {
    /// Logical table name.
    pub table: &'a str,
    /// Slot number.
    pub index: usize,
    /// Slot number within its node.
    pub local_index: usize,
    /// The slot's period (`time_range` only).
    pub period: Option<Period>,
}

/// Why a pattern is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `{name}` is not a known placeholder.
    #[error(
        "physical_name `{pattern}` has the unknown placeholder `{{{placeholder}}}`; known ones are \
         {{table}}, {{index}}, {{local_index}}, {{period}}, {{yyyy}}, {{mm}}, {{dd}}, {{yyyymm}}, {{yyyymmdd}}"
    )]
    UnknownPlaceholder {
        /// The whole pattern.
        pattern: String,
        /// The name between the braces.
        placeholder: String,
    },
    /// A `{` without `}` or a stray `}`.
    #[error("physical_name `{pattern}` has an unmatched `{{` or `}}`")]
    UnbalancedBraces {
        /// The whole pattern.
        pattern: String,
    },
    /// Empty pattern.
    #[error("physical_name is empty")]
    Empty,
}

impl NamePattern {
    /// Parses a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let unbalanced = || PatternError::UnbalancedBraces {
            pattern: text.to_owned(),
        };
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            match rest.find(['{', '}']) {
                None => {
                    segments.push(Segment::Literal(rest.to_owned()));
                    break;
                }
                Some(position) => {
                    if rest[position..].starts_with('}') {
                        return Err(unbalanced());
                    }
                    if position > 0 {
                        segments.push(Segment::Literal(rest[..position].to_owned()));
                    }
                    let after_open = &rest[position + 1..];
                    let close = after_open.find('}').ok_or_else(unbalanced)?;
                    let name = &after_open[..close];
                    if name.contains('{') {
                        return Err(unbalanced());
                    }
                    let placeholder = Placeholder::ALL
                        .iter()
                        .find(|(known, _)| *known == name)
                        .map(|(_, placeholder)| *placeholder)
                        .ok_or_else(|| PatternError::UnknownPlaceholder {
                            pattern: text.to_owned(),
                            placeholder: name.to_owned(),
                        })?;
                    segments.push(Segment::Placeholder(placeholder));
                    rest = &after_open[close + 1..];
                }
            }
        }
        Ok(NamePattern {
            text: text.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The placeholders used, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Placeholder(placeholder) => Some(*placeholder),
            Segment::Literal(_) => None,
        })
    }

    /// The first placeholder that needs a period, if any.
    pub fn period_placeholder(&self) -> Option<&'static str> {
        self.placeholders()
            .find(|placeholder| placeholder.needs_period())
            .map(Placeholder::name)
    }

    /// The name for one slot; `None` if the pattern needs a period and
    /// `values` has none.
    pub fn render(&self, values: &NameValues<'_>) -> Option<String> {
        let mut name = String::with_capacity(self.text.len() + 8);
        let day = values.period.and_then(Period::first_day);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => name.push_str(text),
                Segment::Placeholder(placeholder) => {
                    let piece = match placeholder {
                        Placeholder::Table => values.table.to_owned(),
                        Placeholder::Index => values.index.to_string(),
                        Placeholder::LocalIndex => values.local_index.to_string(),
                        Placeholder::Period => values.period?.name(),
                        Placeholder::Year => format!("{:04}", day?.year()),
                        Placeholder::Month => format!("{:02}", day?.month()),
                        Placeholder::Day => format!("{:02}", day?.day()),
                        Placeholder::YearMonth => format!("{:04}{:02}", day?.year(), day?.month()),
                        Placeholder::YearMonthDay => {
                            let day = day?;
                            format!("{:04}{:02}{:02}", day.year(), day.month(), day.day())
                        }
                    };
                    name.push_str(&piece);
                }
            }
        }
        Some(name)
    }
}

impl TryFrom<String> for NamePattern {
    type Error = PatternError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        NamePattern::parse(&text)
    }
}

impl From<NamePattern> for String {
    fn from(pattern: NamePattern) -> String {
        pattern.text
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

/// Why a rendered name cannot be a MySQL table name, if it cannot.
pub fn invalid_table_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.chars().count() > 64 {
        Some("it is longer than 64 characters")
    } else if name.ends_with(' ') {
        Some("it ends with a space")
    } else if name.contains(['.', '/', '\\', '`', '\0']) {
        Some("it contains `.`, `/`, `\\`, a backtick or NUL")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::algorithm::TimeUnit;

    fn values(period: Option<Period>) -> NameValues<'static> {
        NameValues {
            table: "orders",
            index: 7,
            local_index: 3,
            period,
        }
    }

    #[test]
    fn renders_index_placeholders() {
        let pattern = NamePattern::parse("{table}_{index}_{local_index}").expect("valid");
        assert_eq!(pattern.render(&values(None)).as_deref(), Some("orders_7_3"));
        assert_eq!(pattern.period_placeholder(), None);
    }

    #[test]
    fn renders_period_placeholders() {
        let period = Period::parse(TimeUnit::Day, "2026-11-28");
        let pattern =
            NamePattern::parse("ev_{yyyy}_{mm}_{dd}_{yyyymm}_{yyyymmdd}_{period}").expect("valid");
        assert_eq!(
            pattern.render(&values(period)).as_deref(),
            Some("ev_2026_11_28_202611_20261128_20261128")
        );
        assert_eq!(pattern.render(&values(None)), None);
        assert_eq!(pattern.period_placeholder(), Some("yyyy"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        let unknown = NamePattern::parse("orders_{idx}").expect_err("unknown");
        assert!(
            unknown.to_string().contains("unknown placeholder `{idx}`"),
            "{unknown}"
        );
        for bad in ["orders_{index", "orders_}", "orders_{{index}}", "{ta{ble}"] {
            assert!(
                matches!(
                    NamePattern::parse(bad),
                    Err(PatternError::UnbalancedBraces { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(NamePattern::parse(""), Err(PatternError::Empty));
        assert!(NamePattern::parse("plain").is_ok());
    }

    #[test]
    fn table_name_rules() {
        assert_eq!(invalid_table_name_reason("orders_1"), None);
        assert!(invalid_table_name_reason("a.b").is_some());
        assert!(invalid_table_name_reason(&"x".repeat(65)).is_some());
        assert!(invalid_table_name_reason("").is_some());
    }
}
