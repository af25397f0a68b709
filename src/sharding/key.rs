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

const MAX_SHOWN_CHARS: usize = 64;

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim().as_bytes();
    // MySQL pads an odd-length 0x literal with a leading zero.
    let padded: Vec<u8> = if digits.len() % 2 == 1 {
        std::iter::once(b'0')
            .chain(digits.iter().copied())
            .collect()
    } else {
        digits.to_vec()
    };
    padded
        .chunks_exact(2)
        .map(|pair| {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            u8::try_from(high * 16 + low).ok()
        })
        .collect()
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02X}")).collect()
}

/// An exact decimal number parsed from text: `negative`, the digits without
/// leading zeros, and the power of ten to apply.
struct ExactDecimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
    approximate: bool,
}

/// Parses `[+-]digits[.digits][e[+-]digits]` with surrounding whitespace.
fn parse_decimal(text: &str) -> Option<ExactDecimal> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent_text) = match unsigned.find(['e', 'E']) {
        Some(position) => (&unsigned[..position], Some(&unsigned[position + 1..])),
        None => (unsigned, None),
    };
    let (integer_part, fraction_part) = match mantissa.split_once('.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (mantissa, ""),
    };
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if integer_part.len() + fraction_part.len() == 0
        || !all_digits(integer_part)
        || !all_digits(fraction_part)
    {
        return None;
    }
    let exponent: i64 = match exponent_text {
        Some(exponent) => {
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || digits.len() > 6 || !all_digits(digits) {
                return None;
            }
            exponent.parse().ok()?
        }
        None => 0,
    };
    let mut digits: Vec<u8> = integer_part
        .bytes()
        .chain(fraction_part.bytes())
        .map(|b| b - b'0')
        .skip_while(|d| *d == 0)
        .collect();
    let fraction_len = i64::try_from(fraction_part.len()).ok()?;
    let mut exponent = exponent - fraction_len;
    while digits.last() == Some(&0) {
        digits.pop();
        exponent += 1;
    }
    Some(ExactDecimal {
        negative,
        digits,
        exponent,
        approximate: exponent_text.is_some(),
    })
}

/// `text` as an integer key, rounding as MySQL does when storing into an
/// integer column.
fn integer_from_text(text: &str) -> Result<ShardKey, KeyError> {
    let decimal = parse_decimal(text).ok_or_else(|| KeyError::NotANumber {
        text: shorten(text),
    })?;
    let out_of_range = || KeyError::IntegerOutOfRange {
        text: shorten(text),
    };
    if decimal.digits.is_empty() {
        return Ok(ShardKey::Int(0));
    }
    // Magnitudes with more than 20 integer digits cannot fit in 64 bits.
    let integer_digits = i64::try_from(decimal.digits.len()).unwrap_or(i64::MAX) + decimal.exponent;
    if integer_digits > 20 {
        return Err(out_of_range());
    }
    let mut magnitude: u128 = 0;
    let mut first_dropped: Option<u8> = None;
    let mut more_dropped = false;
    for (position, digit) in decimal.digits.iter().enumerate() {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        if position < integer_digits {
            magnitude = magnitude * 10 + u128::from(*digit);
        } else if position == integer_digits {
            first_dropped = Some(*digit);
        } else if *digit != 0 {
            more_dropped = true;
        }
    }
    for _ in 0..decimal.exponent.max(0) {
        magnitude *= 10;
    }
    let round_up = match first_dropped {
        // The whole number is below 0.1 (or has no fraction at all).
        None => false,
        Some(digit) if decimal.approximate => {
            digit > 5 || (digit == 5 && (more_dropped || magnitude % 2 == 1))
        }
        Some(digit) => digit >= 5,
    };
    if round_up {
        magnitude += 1;
    }
    if decimal.negative {
        let limit = u128::from(i64::MAX.unsigned_abs()) + 1;
        if magnitude > limit {
            return Err(out_of_range());
        }
        let value = i128::try_from(magnitude).map_err(|_| out_of_range())?;
        i64::try_from(-value)
            .map(ShardKey::Int)
            .map_err(|_| out_of_range())
    } else {
        u64::try_from(magnitude)
            .map(ShardKey::from_u64)
            .map_err(|_| out_of_range())
    }
}

fn float_param(number: f64, key_type: KeyType) -> Result<ShardKey, KeyError> {
    match key_type {
        KeyType::Int => {
            let rounded = number.round_ties_even();
            // -2^63 and 2^64 are exact in f64; NaN is in no range.
            const BIGINT_RANGE: std::ops::Range<f64> =
                -9_223_372_036_854_775_808.0..18_446_744_073_709_551_616.0;
            if !BIGINT_RANGE.contains(&rounded) {
                return Err(KeyError::IntegerOutOfRange {
                    text: number.to_string(),
                });
            }
            if rounded < 0.0 {
                Ok(ShardKey::Int(rounded as i64))
            } else {
                Ok(ShardKey::from_u64(rounded as u64))
            }
        }
        KeyType::String => Err(KeyError::NumberForStringKey {
            text: number.to_string(),
        }),
        _ => Err(KeyError::Incompatible {
            given: "floating-point",
            expected: key_type,
        }),
    }
}

/// Dates written as numbers: `20261128`, `20261128103000`, `20261128103000.5`.
fn temporal_from_number_text(text: &str, key_type: KeyType) -> Result<ShardKey, KeyError> {
    let trimmed = text.trim();
    let (integer, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let invalid = || KeyError::InvalidTemporal {
        text: shorten(text),
        expected: key_type,
    };
    if !integer.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    match integer.len() {
        8 if fraction.is_empty() => temporal_from_text(integer, key_type),
        14 => {
            let rebuilt = if fraction.is_empty() {
                integer.to_owned()
            } else {
                format!("{integer}.{fraction}")
            };
            temporal_from_text(&rebuilt, key_type)
        }
        _ => Err(invalid()),
    }
}

/// MySQL's relaxed date and date-time text formats: `YYYY-MM-DD` with any
/// ASCII punctuation as delimiter and 1–2 digit month/day; `YYYYMMDD`;
/// optionally followed by `T` or spaces and `hh:mm:ss[.ffffff]` (or
/// `hhmmss[.ffffff]` after `YYYYMMDD`). Fractions beyond 6 digits are
/// truncated.
fn temporal_from_text(text: &str, key_type: KeyType) -> Result<ShardKey, KeyError> {
    let invalid = || KeyError::InvalidTemporal {
        text: shorten(text),
        expected: key_type,
    };
    let parsed = parse_temporal(text.trim()).ok_or_else(invalid)?;
    match key_type {
        KeyType::Date => Ok(ShardKey::Date(parsed.date())),
        _ => Ok(ShardKey::DateTime(parsed)),
    }
}

fn parse_temporal(text: &str) -> Option<DateTime> {
    let bytes = text.as_bytes();
    let compact_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if compact_len == 8 || compact_len == 14 {
        let number =
            |range: std::ops::Range<usize>| -> Option<u32> { text.get(range)?.parse().ok() };
        let date = CalendarDate::new(
            u16::try_from(number(0..4)?).ok()?,
            u8::try_from(number(4..6)?).ok()?,
            u8::try_from(number(6..8)?).ok()?,
        )?;
        if compact_len == 8 {
            return parse_time_part(date, &text[8..]);
        }
        let rest = &text[14..];
        let (fraction_ok, micros) = match rest.strip_prefix('.') {
            Some(fraction) => (true, parse_fraction(fraction)?),
            None => (rest.is_empty(), 0),
        };
        if !fraction_ok {
            return None;
        }
        return DateTime::new(
            date,
            u8::try_from(number(8..10)?).ok()?,
            u8::try_from(number(10..12)?).ok()?,
            u8::try_from(number(12..14)?).ok()?,
            micros,
        );
    }
    // Delimited form: year, delimiter, month, delimiter, day.
    let mut fields = [0u32; 3];
    let mut position = 0;
    for (index, field) in fields.iter_mut().enumerate() {
        if index > 0 {
            let delimiter = *bytes.get(position)?;
            if !delimiter.is_ascii_punctuation() {
                return None;
            }
            position += 1;
        }
        let length = bytes[position..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let max_length = if index == 0 { 4 } else { 2 };
        if length == 0 || length > max_length || (index == 0 && length != 4) {
            return None;
        }
        *field = text.get(position..position + length)?.parse().ok()?;
        position += length;
    }
    let date = CalendarDate::new(
        u16::try_from(fields[0]).ok()?,
        u8::try_from(fields[1]).ok()?,
        u8::try_from(fields[2]).ok()?,
    )?;
    parse_time_part(date, &text[position..])
}

/// `""`, or `T`/spaces followed by `hh:mm[:ss[.ffffff]]` (any punctuation
/// as delimiter).
fn parse_time_part(date: CalendarDate, rest: &str) -> Option<DateTime> {
    if rest.is_empty() {
        return DateTime::new(date, 0, 0, 0, 0);
    }
    let time = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix(' ').map(|r| r.trim_start_matches(' ')))?;
    let (clock, micros) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, parse_fraction(fraction)?),
        None => (time, 0),
    };
    let mut parts = clock.split(|c: char| c.is_ascii_punctuation());
    let mut next = |required: bool| -> Option<u8> {
        match parts.next() {
            Some(part)
                if !part.is_empty()
                    && part.len() <= 2
                    && part.bytes().all(|b| b.is_ascii_digit()) =>
            {
                part.parse().ok()
            }
            None if !required => Some(0),
            _ => None,
        }
    };
    let hour = next(true)?;
    let minute = next(true)?;
    let second = next(false)?;
    if parts.next().is_some() {
        return None;
    }
    DateTime::new(date, hour, minute, second, micros)
}

/// Up to 6 significant fraction digits; further digits are truncated.
fn parse_fraction(fraction: &str) -> Option<u32> {
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kept: String = fraction.chars().take(6).collect();
    let scale = 10u32.pow(6 - u32::try_from(kept.len()).ok()?);
    Some(kept.parse::<u32>().ok()? * scale)
}

pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(text: &str, kind: LiteralKind) -> Result<ShardKey, KeyError> {
        ShardKey::from_literal(text, kind, KeyType::Int)
    }

    #[test]
    fn integer_literals_of_any_spelling_meet() {
        for (text, kind) in [
            ("5", LiteralKind::Number),
            ("5", LiteralKind::String),
            (" 5 ", LiteralKind::String),
            ("5.0", LiteralKind::Number),
            ("+5", LiteralKind::Number),
            ("0.5e1", LiteralKind::Number),
            ("4.5", LiteralKind::Number),
            ("05", LiteralKind::Hex),
            ("5", LiteralKind::Hex),
        ] {
            assert_eq!(int(text, kind), Ok(ShardKey::Int(5)), "{text:?} {kind:?}");
        }
        assert_eq!(int("TRUE", LiteralKind::Boolean), Ok(ShardKey::Int(1)));
        assert_eq!(
            ShardKey::from_param(ParamValue::UInt(5), KeyType::Int),
            Ok(ShardKey::Int(5))
        );
        assert_eq!(
            ShardKey::from_param(ParamValue::Bytes(b"5"), KeyType::Int),
            Ok(ShardKey::Int(5))
        );
    }

    #[test]
    fn integer_rounding_follows_mysql_storage() {
        assert_eq!(int("5.5", LiteralKind::Number), Ok(ShardKey::Int(6)));
        assert_eq!(int("-5.5", LiteralKind::Number), Ok(ShardKey::Int(-6)));
        assert_eq!(int("2.5e0", LiteralKind::Number), Ok(ShardKey::Int(2)));
        assert_eq!(int("3.5e0", LiteralKind::Number), Ok(ShardKey::Int(4)));
        assert_eq!(int("0.4", LiteralKind::Number), Ok(ShardKey::Int(0)));
        assert_eq!(int("1e-9", LiteralKind::Number), Ok(ShardKey::Int(0)));
        assert_eq!(int("-0", LiteralKind::Number), Ok(ShardKey::Int(0)));
        assert_eq!(int("1e3", LiteralKind::Number), Ok(ShardKey::Int(1000)));
        assert_eq!(
            ShardKey::from_param(ParamValue::Double(2.5), KeyType::Int),
            Ok(ShardKey::Int(2))
        );
    }

    #[test]
    fn integer_range_edges() {
        assert_eq!(
            int("-9223372036854775808", LiteralKind::Number),
            Ok(ShardKey::Int(i64::MIN))
        );
        assert!(int("-9223372036854775809", LiteralKind::Number).is_err());
        assert_eq!(
            int("18446744073709551615", LiteralKind::Number),
            Ok(ShardKey::UInt(u64::MAX))
        );
        assert_eq!(
            int("9223372036854775808", LiteralKind::Number),
            Ok(ShardKey::UInt(1 << 63))
        );
        assert!(int("18446744073709551616", LiteralKind::Number).is_err());
        assert!(int("1e999999", LiteralKind::Number).is_err());
        assert!(int("1e9999999999", LiteralKind::Number).is_err());
        assert!(int("0123456789012345678901234e-10", LiteralKind::Number).is_ok());
        assert!(int("FFFFFFFFFFFFFFFFFF", LiteralKind::Hex).is_err());
        assert_eq!(
            int("FFFFFFFFFFFFFFFF", LiteralKind::Hex),
            Ok(ShardKey::UInt(u64::MAX))
        );
        assert!(ShardKey::from_param(ParamValue::Double(f64::NAN), KeyType::Int).is_err());
        assert!(ShardKey::from_param(ParamValue::Double(1e300), KeyType::Int).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "", " ", "-", "+", ".", "e5", "5e", "5e+", "1.2.3", "abc", "5abc", "--5", "٣",
        ] {
            assert!(int(text, LiteralKind::String).is_err(), "{text:?}");
            let _ = ShardKey::from_literal(text, LiteralKind::String, KeyType::Date);
            let _ = ShardKey::from_literal(text, LiteralKind::Number, KeyType::DateTime);
            let _ = ShardKey::from_literal(text, LiteralKind::Hex, KeyType::String);
        }
        assert!(int("zz", LiteralKind::Hex).is_err());
    }

    #[test]
    fn numbers_are_refused_for_string_keys() {
        let error = ShardKey::from_literal("5", LiteralKind::Number, KeyType::String)
            .expect_err("numeric comparison");
        assert!(matches!(error, KeyError::NumberForStringKey { .. }));
        assert_eq!(
            ShardKey::from_literal("616263", LiteralKind::Hex, KeyType::String),
            Ok(ShardKey::Str("abc".into()))
        );
        assert_eq!(
            ShardKey::from_param(ParamValue::Bytes(&[0xff]), KeyType::String),
            Ok(ShardKey::Bytes(vec![0xff]))
        );
    }

    #[test]
    fn dates_in_mysql_spellings() {
        let expected = ShardKey::Date(CalendarDate::new(2026, 11, 28).expect("valid"));
        for text in [
            "2026-11-28",
            "2026/11/28",
            "2026-11-28 10:11:12",
            "20261128",
            "2026.11.28",
        ] {
            assert_eq!(
                ShardKey::from_literal(text, LiteralKind::String, KeyType::Date),
                Ok(expected.clone()),
                "{text}"
            );
        }
        assert_eq!(
            ShardKey::from_literal("20261128", LiteralKind::Number, KeyType::Date),
            Ok(expected.clone())
        );
        let date = CalendarDate::new(2026, 1, 5).expect("valid");
        assert_eq!(
            ShardKey::from_literal("2026-1-5", LiteralKind::String, KeyType::Date),
            Ok(ShardKey::Date(date))
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "0000-00-00",
            "26-11-28",
            "2026-11-28 25:00:00",
            "2026-11-28x",
        ] {
            assert!(
                ShardKey::from_literal(bad, LiteralKind::String, KeyType::Date).is_err(),
                "{bad}"
            );
        }
        assert!(ShardKey::from_literal("2024-02-29", LiteralKind::String, KeyType::Date).is_ok());
    }

    #[test]
    fn datetimes_in_mysql_spellings() {
        let date = CalendarDate::new(2026, 11, 28).expect("valid");
        let expected = DateTime::new(date, 10, 11, 12, 500_000).expect("valid");
        for (text, kind) in [
            ("2026-11-28 10:11:12.5", LiteralKind::String),
            ("2026-11-28T10:11:12.500000", LiteralKind::String),
            ("20261128101112.5", LiteralKind::String),
            ("20261128101112.5", LiteralKind::Number),
            ("2026-11-28 10:11:12.5000009", LiteralKind::String),
        ] {
            assert_eq!(
                ShardKey::from_literal(text, kind, KeyType::DateTime),
                Ok(ShardKey::DateTime(expected)),
                "{text}"
            );
        }
        let midnight = DateTime::new(date, 0, 0, 0, 0).expect("valid");
        assert_eq!(
            ShardKey::from_literal("2026-11-28", LiteralKind::String, KeyType::DateTime),
            Ok(ShardKey::DateTime(midnight))
        );
        assert_eq!(
            ShardKey::from_param(
                ParamValue::DateTime {
                    year: 2026,
                    month: 11,
                    day: 28,
                    hour: 10,
                    minute: 11,
                    second: 12,
                    micros: 500_000
                },
                KeyType::DateTime
            ),
            Ok(ShardKey::DateTime(expected))
        );
    }

    #[test]
    fn canonical_encoding() {
        let collation = Collation::default();
        let date = CalendarDate::new(2026, 1, 5).expect("valid");
        let cases: Vec<(ShardKey, &str)> = vec![
            (ShardKey::Null, ""),
            (ShardKey::Int(-42), "-42"),
            (ShardKey::UInt(u64::MAX), "18446744073709551615"),
            (ShardKey::Str("Ábc  ".into()), "abc"),
            (ShardKey::Date(date), "2026-01-05"),
            (
                ShardKey::DateTime(DateTime::new(date, 1, 2, 3, 0).expect("valid")),
                "2026-01-05 01:02:03",
            ),
            (
                ShardKey::DateTime(DateTime::new(date, 1, 2, 3, 40).expect("valid")),
                "2026-01-05 01:02:03.000040",
            ),
        ];
        for (key, expected) in cases {
            assert_eq!(key.encode(&collation), expected.as_bytes(), "{key}");
        }
    }

    #[test]
    fn day_numbers_round_trip() {
        let epoch = CalendarDate::new(1970, 1, 1).expect("valid");
        assert_eq!(epoch.days_since_epoch(), 0);
        for days in [-719_528, -1, 0, 1, 20_000, 2_932_896] {
            let date = CalendarDate::from_days_since_epoch(days).expect("in range");
            assert_eq!(date.days_since_epoch(), days);
        }
        assert_eq!(CalendarDate::from_days_since_epoch(-719_529), None);
        assert_eq!(CalendarDate::from_days_since_epoch(2_932_897), None);
        assert_eq!(CalendarDate::from_days_since_epoch(i64::MAX), None);
    }
}

#[cfg(test)]
mod no_panic_tests {
    use super::*;
    use crate::sharding::algorithm::Algorithm;
    use crate::sharding::hash::HashFunction;

    /// A tiny deterministic generator (xorshift64*), to avoid a dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let alphabet: Vec<char> = "0123456789+-.eE :T/xX'\"\\\0\tAbcß İıé\u{301}\u{200B}😀ﬁ日"
            .chars()
            .collect();
        let collations: Vec<Collation> = [
            "binary",
            "utf8mb4_bin",
            "utf8mb4_general_ci",
            "utf8mb4_unicode_ci",
            "utf8mb4_0900_ai_ci",
            "utf8mb4_0900_as_cs",
            "utf8mb4_0900_bin",
        ]
        .iter()
        .map(|name| Collation::from_name(name).expect("supported"))
        .collect();
        let algorithms = [
            Algorithm::HashMod {
                hash: HashFunction::Murmur3,
            },
            Algorithm::Jump {
                hash: HashFunction::Crc32,
            },
            Algorithm::HashRange {
                hash: HashFunction::Xxh3,
                boundaries: Vec::new(),
            },
            Algorithm::Range {
                bounds: vec![-5, 0, 5],
            },
        ];
        let kinds = [
            LiteralKind::Number,
            LiteralKind::String,
            LiteralKind::Hex,
            LiteralKind::Boolean,
            LiteralKind::Null,
        ];
        let key_types = [
            KeyType::Int,
            KeyType::String,
            KeyType::Date,
            KeyType::DateTime,
        ];
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let length = (noise.next() % 24) as usize;
            let text: String = (0..length).map(|_| noise.pick(&alphabet)).collect();
            let raw: Vec<u8> = (0..length).map(|_| noise.next() as u8).collect();
            for collation in &collations {
                let _ = collation.fold(&raw);
                let _ = collation.fold(text.as_bytes());
            }
            for kind in kinds {
                for key_type in key_types {
                    if let Ok(key) = ShardKey::from_literal(&text, kind, key_type) {
                        for algorithm in &algorithms {
                            let _ = algorithm.slot_for_key(&key, 7, &collations[2]);
                        }
                        let _ = key.to_string();
                    }
                    let _ = ShardKey::from_param(ParamValue::Bytes(&raw), key_type);
                    let _ = ShardKey::from_param(
                        ParamValue::Double(f64::from_bits(noise.next())),
                        key_type,
                    );
                }
            }
        }
    }
}
