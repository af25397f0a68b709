//! Sharding key values and their canonical encoding.
//!
//! Owns: converting a value the router found in a statement (an SQL literal
//! or a binary-protocol parameter) into a [`ShardKey`] *of the column's
//! declared type*, and the canonical byte encoding that hashes consume.
//! Must not touch: SQL parsing or unescaping (the router hands over literal
//! values), hashing, slot arithmetic.
//!
//! # Conversions follow the column type
//!
//! MySQL converts a value to the column's type before comparing or storing,
//! so the rule's `key_type` decides, not the literal's spelling:
//!
//! | key_type   | accepted                                                    |
//! |------------|-------------------------------------------------------------|
//! | `int`      | `5`, `'5'`, `' 5 '`, `5.0`, `'5e0'`, `X'05'`, `TRUE` → `Int(5)`; `5.5` → 6 (decimal literals round half away from zero, approximate ones like `2.5e0` or a DOUBLE parameter round half to even, as MySQL stores them) |
//! | `string`   | string literals and hex literals; numbers are refused (see below) |
//! | `date`     | `'2026-11-28'`, `'2026/11/28'`, `'20261128'`, `20261128`, a DATETIME whose time is dropped |
//! | `datetime` | `'2026-11-28 10:00:00[.ffffff]'`, `'2026-11-28T10:00:00'`, `20261128100000`, a bare date (midnight) |
//!
//! A numeric literal against a `string` key is refused
//! ([`KeyError::NumberForStringKey`]): MySQL then compares *numerically*, so
//! `name = 5` matches `'5'`, `'05'` and `'5.0'`, which live on different
//! shards. The router must scatter such a read.
//!
//! Integers: a non-negative value that fits in `i64` is always `Int`; `UInt`
//! only holds values above `i64::MAX` (BIGINT UNSIGNED), so `5` and `5u64`
//! are the same key.
//!
//! # Canonical encoding (the hash input), frozen forever
//!
//! | key           | bytes                                                  |
//! |---------------|--------------------------------------------------------|
//! | `Null`        | empty                                                  |
//! | `Int`, `UInt` | decimal ASCII, `-` for negatives: `-42`                |
//! | `Str`, `Bytes`| the collation fold (see `collation.rs`)                |
//! | `Date`        | `YYYY-MM-DD`                                           |
//! | `DateTime`    | `YYYY-MM-DD hh:mm:ss`, plus `.ffffff` when micros ≠ 0  |
//!
//! These are exactly MySQL's `CAST(col AS CHAR)` for integer, DATE and
//! DATETIME(0) columns, so `CRC32(col) % n` in SQL reproduces the `crc32`
//! hash for a DBA.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::collation::Collation;

mod parse;

use parse::{
    days_in_month, decode_hex, encode_hex, float_param, integer_from_text, shorten,
    temporal_from_number_text, temporal_from_text,
};

/// The declared type of a sharding key column (`key_type = "..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// Any integer column (TINYINT … BIGINT, signed or unsigned).
    Int,
    /// CHAR, VARCHAR, TEXT, BINARY, VARBINARY, BLOB (see `collation`).
    String,
    /// DATE.
    Date,
    /// DATETIME or TIMESTAMP (compared as wall-clock text; keep the session
    /// `time_zone` fixed for TIMESTAMP keys).
    DateTime,
}

impl KeyType {
    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Int => "int",
            KeyType::String => "string",
            KeyType::Date => "date",
            KeyType::DateTime => "datetime",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A calendar date, always valid (month 1–12, day within the month, year
/// 0–9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate {
    year: u16,
    month: u8,
    day: u8,
}

impl CalendarDate {
    /// A date, or `None` if it does not exist in the proleptic Gregorian
    /// calendar (MySQL's zero dates such as `0000-00-00` are refused).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let valid = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(CalendarDate { year, month, day })
    }

    /// Year, 0–9999.
    pub fn year(self) -> u16 {
        self.year
    }

    /// Month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before), proleptic Gregorian.
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let shifted_month = (month + 9) % 12;
        let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The inverse of [`CalendarDate::days_since_epoch`]; `None` outside
    /// years 0–9999.
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        // Howard Hinnant's civil_from_days.
        let shifted = days.checked_add(719_468)?;
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        CalendarDate::new(
            u16::try_from(year).ok()?,
            u8::try_from(month).ok()?,
            u8::try_from(day).ok()?,
        )
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{:04}-{:02}-{:02}",
            self.year, self.month, self.day
        )
    }
}

/// A date and a wall-clock time with microseconds, always valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    date: CalendarDate,
    hour: u8,
    minute: u8,
    second: u8,
    micros: u32,
}

impl DateTime {
    /// A date-time, or `None` for an hour above 23, minute or second above
    /// 59, or micros above 999 999.
    pub fn new(date: CalendarDate, hour: u8, minute: u8, second: u8, micros: u32) -> Option<Self> {
        let valid = hour <= 23 && minute <= 59 && second <= 59 && micros <= 999_999;
        valid.then_some(DateTime {
            date,
            hour,
            minute,
            second,
            micros,
        })
    }

    /// The date part.
    pub fn date(self) -> CalendarDate {
        self.date
    }

    /// (hour, minute, second, microseconds).
    pub fn time(self) -> (u8, u8, u8, u32) {
        (self.hour, self.minute, self.second, self.micros)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {:02}:{:02}:{:02}",
            self.date, self.hour, self.minute, self.second
        )?;
        if self.micros != 0 {
            write!(formatter, ".{:06}", self.micros)?;
        }
        Ok(())
    }
}

/// A sharding key value, already converted to the column's declared type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ShardKey {
    /// SQL NULL.
    Null,
    /// An integer in `i64` range (including non-negative unsigned values).
    Int(i64),
    /// An unsigned integer above `i64::MAX`; never holds smaller values.
    UInt(u64),
    /// A character string as given (folding happens at encoding time).
    Str(String),
    /// A byte string that is not valid UTF-8, or a hex literal.
    Bytes(Vec<u8>),
    /// A DATE.
    Date(CalendarDate),
    /// A DATETIME or TIMESTAMP.
    DateTime(DateTime),
}

/// How the router saw a literal in the SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// A numeric literal: `5`, `-5`, `5.5`, `1e3`.
    Number,
    /// A quoted string literal; the text is the *value* (quotes removed,
    /// escapes resolved). Also `DATE '…'` / `TIMESTAMP '…'` literals.
    String,
    /// `X'4142'` or `0x4142`; the text is the hex digits only.
    Hex,
    /// `TRUE` / `FALSE` (the text is ignored, use [`LiteralKind::Boolean`]
    /// with text `"TRUE"` or `"FALSE"`).
    Boolean,
    /// `NULL`.
    Null,
}

/// A parameter of a prepared statement as decoded from the binary protocol
/// (mirrors `mysql_common::Value` without depending on it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamValue<'a> {
    /// MYSQL_TYPE_NULL or a NULL bitmap bit.
    Null,
    /// A signed integer parameter.
    Int(i64),
    /// An unsigned integer parameter.
    UInt(u64),
    /// MYSQL_TYPE_FLOAT.
    Float(f32),
    /// MYSQL_TYPE_DOUBLE.
    Double(f64),
    /// Strings, DECIMAL (sent as text), BLOBs.
    Bytes(&'a [u8]),
    /// MYSQL_TYPE_DATE / DATETIME / TIMESTAMP, fields as sent.
    DateTime {
        /// Year.
        year: u16,
        /// Month.
        month: u8,
        /// Day.
        day: u8,
        /// Hour.
        hour: u8,
        /// Minute.
        minute: u8,
        /// Second.
        second: u8,
        /// Microseconds.
        micros: u32,
    },
    /// MYSQL_TYPE_TIME; never usable as a sharding key.
    Time,
}

/// Why a value could not become a key of the declared type. Readers should
/// scatter a query whose key does not convert; writers should refuse it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not a number.
    #[error("`{text}` is not a number, but the sharding key is an integer column")]
    NotANumber {
        /// The offending text (shortened).
        text: String,
    },
    /// The number does not fit in BIGINT (signed or unsigned).
    #[error("`{text}` is outside the BIGINT range of an integer sharding key")]
    IntegerOutOfRange {
        /// The offending text (shortened).
        text: String,
    },
    /// A number compared with a string key: MySQL compares numerically.
    #[error(
        "the number `{text}` is compared with a string sharding key; MySQL then compares \
         numerically ('5' = '05' = 5), so no single shard holds all matches"
    )]
    NumberForStringKey {
        /// The offending text (shortened).
        text: String,
    },
    /// Not a date or date-time MySQL would accept.
    #[error("`{text}` is not a valid {expected} for the sharding key")]
    InvalidTemporal {
        /// The offending text (shortened).
        text: String,
        /// `date` or `datetime`.
        expected: KeyType,
    },
    /// A value of a kind that never converts to the key type.
    #[error("a {given} value cannot be a {expected} sharding key")]
    Incompatible {
        /// What was given.
        given: &'static str,
        /// The declared key type.
        expected: KeyType,
    },
}

impl ShardKey {
    /// Converts an SQL literal to a key of type `key_type`.
    ///
    /// `text` is the literal's value as described on [`LiteralKind`].
    pub fn from_literal(
        text: &str,
        kind: LiteralKind,
        key_type: KeyType,
    ) -> Result<Self, KeyError> {
        match kind {
            LiteralKind::Null => Ok(ShardKey::Null),
            LiteralKind::Boolean => {
                let truth = text.trim().eq_ignore_ascii_case("true") || text.trim() == "1";
                match key_type {
                    KeyType::Int => Ok(ShardKey::Int(i64::from(truth))),
                    KeyType::String => Err(KeyError::NumberForStringKey {
                        text: shorten(text),
                    }),
                    _ => Err(KeyError::Incompatible {
                        given: "boolean",
                        expected: key_type,
                    }),
                }
            }
            LiteralKind::Hex => {
                let bytes = decode_hex(text).ok_or(KeyError::Incompatible {
                    given: "malformed hex",
                    expected: key_type,
                })?;
                ShardKey::from_hex_bytes(bytes, key_type)
            }
            LiteralKind::Number => match key_type {
                KeyType::Int => integer_from_text(text),
                KeyType::String => Err(KeyError::NumberForStringKey {
                    text: shorten(text),
                }),
                KeyType::Date | KeyType::DateTime => temporal_from_number_text(text, key_type),
            },
            LiteralKind::String => match key_type {
                KeyType::Int => integer_from_text(text),
                KeyType::String => Ok(ShardKey::Str(text.to_owned())),
                KeyType::Date | KeyType::DateTime => temporal_from_text(text, key_type),
            },
        }
    }

    /// Converts a binary-protocol parameter to a key of type `key_type`.
    pub fn from_param(value: ParamValue<'_>, key_type: KeyType) -> Result<Self, KeyError> {
        match value {
            ParamValue::Null => Ok(ShardKey::Null),
            ParamValue::Int(number) => match key_type {
                KeyType::Int => Ok(ShardKey::Int(number)),
                KeyType::String => Err(KeyError::NumberForStringKey {
                    text: number.to_string(),
                }),
                _ => temporal_from_number_text(&number.to_string(), key_type),
            },
            ParamValue::UInt(number) => match key_type {
                KeyType::Int => Ok(ShardKey::from_u64(number)),
                KeyType::String => Err(KeyError::NumberForStringKey {
                    text: number.to_string(),
                }),
                _ => temporal_from_number_text(&number.to_string(), key_type),
            },
            ParamValue::Float(number) => float_param(f64::from(number), key_type),
            ParamValue::Double(number) => float_param(number, key_type),
            ParamValue::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => ShardKey::from_literal(text, LiteralKind::String, key_type),
                Err(_) if key_type == KeyType::String => Ok(ShardKey::Bytes(bytes.to_vec())),
                Err(_) => Err(KeyError::Incompatible {
                    given: "non-UTF-8 string",
                    expected: key_type,
                }),
            },
            ParamValue::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            } => {
                let invalid = || {
                    KeyError::InvalidTemporal {
                    text: format!(
                        "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micros:06}"
                    ),
                    expected: key_type,
                }
                };
                let date = CalendarDate::new(year, month, day).ok_or_else(invalid)?;
                match key_type {
                    KeyType::Date => Ok(ShardKey::Date(date)),
                    KeyType::DateTime => DateTime::new(date, hour, minute, second, micros)
                        .map(ShardKey::DateTime)
                        .ok_or_else(invalid),
                    _ => Err(KeyError::Incompatible {
                        given: "date-time",
                        expected: key_type,
                    }),
                }
            }
            ParamValue::Time => Err(KeyError::Incompatible {
                given: "TIME",
                expected: key_type,
            }),
        }
    }

    /// The canonical key for an unsigned integer (`Int` when it fits).
    pub fn from_u64(value: u64) -> Self {
        match i64::try_from(value) {
            Ok(signed) => ShardKey::Int(signed),
            Err(_) => ShardKey::UInt(value),
        }
    }

    /// Appends the canonical encoding (see the module documentation) to
    /// `out`. `collation` only affects string keys.
    pub fn encode_into(&self, collation: &Collation, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing into a Vec cannot fail; the results are ignored on purpose.
        match self {
            ShardKey::Null => {}
            ShardKey::Int(value) => {
                let _ = write!(out, "{value}");
            }
            ShardKey::UInt(value) => {
                let _ = write!(out, "{value}");
            }
            ShardKey::Str(text) => collation.fold_into(text.as_bytes(), out),
            ShardKey::Bytes(bytes) => collation.fold_into(bytes, out),
            ShardKey::Date(date) => {
                let _ = write!(out, "{date}");
            }
            ShardKey::DateTime(date_time) => {
                let _ = write!(out, "{date_time}");
            }
        }
    }

    /// The canonical encoding as a new buffer.
    pub fn encode(&self, collation: &Collation) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        self.encode_into(collation, &mut out);
        out
    }

    /// The value as an `i128` for integer keys.
    pub(crate) fn as_i128(&self) -> Option<i128> {
        match self {
            ShardKey::Int(value) => Some(i128::from(*value)),
            ShardKey::UInt(value) => Some(i128::from(*value)),
            _ => None,
        }
    }

    /// The date part of temporal keys.
    pub(crate) fn as_date(&self) -> Option<CalendarDate> {
        match self {
            ShardKey::Date(date) => Some(*date),
            ShardKey::DateTime(date_time) => Some(date_time.date()),
            _ => None,
        }
    }

    /// A short name of the variant, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ShardKey::Null => "NULL",
            ShardKey::Int(_) | ShardKey::UInt(_) => "integer",
            ShardKey::Str(_) => "string",
            ShardKey::Bytes(_) => "binary string",
            ShardKey::Date(_) => "date",
            ShardKey::DateTime(_) => "datetime",
        }
    }

    fn from_hex_bytes(bytes: Vec<u8>, key_type: KeyType) -> Result<Self, KeyError> {
        match key_type {
            KeyType::String => Ok(match String::from_utf8(bytes) {
                Ok(text) => ShardKey::Str(text),
                Err(error) => ShardKey::Bytes(error.into_bytes()),
            }),
            KeyType::Int => {
                // In numeric context a hex literal is a big-endian unsigned
                // integer of at most 8 bytes.
                let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
                if significant.len() > 8 {
                    return Err(KeyError::IntegerOutOfRange {
                        text: format!("X'{}'", encode_hex(&bytes)),
                    });
                }
                let value = significant
                    .iter()
                    .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
                Ok(ShardKey::from_u64(value))
            }
            _ => Err(KeyError::Incompatible {
                given: "hex",
                expected: key_type,
            }),
        }
    }
}

impl fmt::Display for ShardKey {
    /// SQL-like rendering for messages; long strings are shortened.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardKey::Null => formatter.write_str("NULL"),
            ShardKey::Int(value) => write!(formatter, "{value}"),
            ShardKey::UInt(value) => write!(formatter, "{value}"),
            ShardKey::Str(text) => write!(formatter, "'{}'", shorten(text)),
            ShardKey::Bytes(bytes) => {
                let shown = bytes.get(..32).unwrap_or(bytes);
                write!(formatter, "X'{}'", encode_hex(shown))?;
                if shown.len() < bytes.len() {
                    formatter.write_str("…")?;
                }
                Ok(())
            }
            ShardKey::Date(date) => write!(formatter, "DATE '{date}'"),
            ShardKey::DateTime(date_time) => write!(formatter, "TIMESTAMP '{date_time}'"),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod no_panic_tests;
