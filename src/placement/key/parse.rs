//! Text and number parsing behind the key conversions: decimal literals
//! rounded as MySQL stores them, hex literals, integers from text, DOUBLE
//! parameters, and DATE/DATETIME spellings (with calendar checks).
//!
//! Owns: the parsing helpers of [`ShardKey::from_literal`] and
//! [`ShardKey::from_param`]. Must not choose the key type (the rule does).

use super::*;

const MAX_SHOWN_CHARS: usize = 64;

pub(super) fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(super) fn decode_hex(text: &str) -> Option<Vec<u8>> {
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

pub(super) fn encode_hex(bytes: &[u8]) -> String {
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
pub(super) fn integer_from_text(text: &str) -> Result<ShardKey, KeyError> {
    // Plain digits that fit in i64 (what a point select's key usually is):
    // read without the exact-decimal parse and its digit buffer.
    if (1..=18).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        let value = text
            .bytes()
            .fold(0i64, |value, b| value * 10 + i64::from(b - b'0'));
        return Ok(ShardKey::Int(value));
    }
    integer_from_decimal_text(text)
}

/// [`integer_from_text`] through the exact decimal parse (any spelling).
pub(super) fn integer_from_decimal_text(text: &str) -> Result<ShardKey, KeyError> {
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

pub(super) fn float_param(number: f64, key_type: KeyType) -> Result<ShardKey, KeyError> {
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
pub(super) fn temporal_from_number_text(
    text: &str,
    key_type: KeyType,
) -> Result<ShardKey, KeyError> {
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
pub(super) fn temporal_from_text(text: &str, key_type: KeyType) -> Result<ShardKey, KeyError> {
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
