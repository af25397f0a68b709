//! Tests of key conversion: integer, date and datetime spellings, range
//! edges, string keys refusing numbers, canonical encoding.
//!
//! Owns: unit tests of `key`. Must not test placement (see
//! `algorithm`).

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

/// Plain digit strings are read without the exact-decimal parse: the
/// same keys as through it, over generated lengths, digits and zeros.
#[test]
fn plain_digits_read_as_the_decimal_parse_reads_them() {
    let mut texts: Vec<String> = vec!["0".into(), "00".into(), "007".into()];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for len in 1..=22 {
        for _ in 0..40 {
            let mut t = String::new();
            for _ in 0..len {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let d = (x >> 33) % 10;
                let digit = if (x >> 40).is_multiple_of(4) {
                    0
                } else {
                    d as u8
                };
                t.push(char::from(b'0' + digit));
            }
            texts.push(t);
        }
        texts.push("9".repeat(len));
    }
    for t in texts {
        assert_eq!(
            parse::integer_from_text(&t),
            parse::integer_from_decimal_text(&t),
            "{t}"
        );
    }
}
