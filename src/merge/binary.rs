//! Binary-protocol rows (COM_STMT_EXECUTE results) for the merge.
//!
//! The merge works on text rows. A binary row is decoded into a text row
//! whose values are a *canonical* text form chosen so that (a) the merge's
//! comparisons and aggregates read it exactly as they read MySQL's text
//! protocol, and (b) it converts back to the very same binary value. MySQL's
//! own text form is not reversible for FLOAT (it prints 6 significant
//! digits), so the canonical form of a float is the shortest text that
//! parses back to the same `f32`/`f64`; temporal values carry exactly the
//! column's fractional digits so that equal-width texts order
//! chronologically byte by byte.
//!
//! Owns: binary row ⇄ text row conversion by column type. Must not compare
//! or aggregate (that is `compare` and `execute::scatter`).

use bytes::Bytes;
use mysql_common::constants::ColumnType;

use super::row::{encode_values, ColumnInfo, TextRow};
use crate::wire::packets::{put_lenenc_bytes, Reader};

/// Offset of the NULL bitmap in a binary result row (MySQL reserves two
/// bits before the first column).
const ROW_NULL_OFFSET: usize = 2;

/// Why a value could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("binary row conversion: {0}")]
pub struct BinaryRowError(pub String);

fn bad(what: impl Into<String>) -> BinaryRowError {
    BinaryRowError(what.into())
}

/// How a column's values travel in binary rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Fixed-width little-endian integer of this many bytes.
    Int(usize),
    Float,
    Double,
    /// DATE, DATETIME, TIMESTAMP: length byte and fields.
    DateTime {
        date_only: bool,
    },
    /// TIME: length byte, sign, days and fields.
    Time,
    /// Always NULL (MYSQL_TYPE_NULL).
    Null,
    /// A length-encoded string (DECIMAL, strings, BLOBs, BIT, JSON...).
    Bytes,
}

fn wire(c: &ColumnInfo) -> Wire {
    use ColumnType::*;
    match c.column_type {
        MYSQL_TYPE_TINY => Wire::Int(1),
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => Wire::Int(2),
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG => Wire::Int(4),
        MYSQL_TYPE_LONGLONG => Wire::Int(8),
        MYSQL_TYPE_FLOAT => Wire::Float,
        MYSQL_TYPE_DOUBLE => Wire::Double,
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Wire::DateTime { date_only: true },
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => Wire::DateTime { date_only: false },
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Wire::Time,
        MYSQL_TYPE_NULL => Wire::Null,
        _ => Wire::Bytes,
    }
}

/// Fractional digits the text form of a temporal column shows.
fn fraction_digits(c: &ColumnInfo) -> usize {
    // Temporal columns have 0..=6 decimals; anything else (31, "not
    // fixed") is shown with full microseconds.
    if c.decimals <= 6 {
        c.decimals as usize
    } else {
        6
    }
}

fn push_fraction(out: &mut String, micros: u32, digits: usize) {
    if digits == 0 {
        return;
    }
    let all = format!("{micros:06}");
    out.push('.');
    out.push_str(&all[..digits.min(6)]);
}

/// A binary row's NULL bitmap and a reader at its first value.
fn split_row(packet: &[u8], n: usize) -> Result<(&[u8], Reader<'_>), BinaryRowError> {
    let bitmap_len = (n + 7 + ROW_NULL_OFFSET) / 8;
    if packet.first() != Some(&0x00) {
        return Err(bad("row does not start with 0x00"));
    }
    let bitmap = packet
        .get(1..1 + bitmap_len)
        .ok_or_else(|| bad("short NULL bitmap"))?;
    Ok((bitmap, Reader::new(&packet[1 + bitmap_len..])))
}

/// Decodes one binary result row into a text row of canonical values.
pub fn decode_row(packet: &[u8], columns: &[ColumnInfo]) -> Result<TextRow, BinaryRowError> {
    let n = columns.len();
    let (bitmap, mut r) = split_row(packet, n)?;
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
    for (i, c) in columns.iter().enumerate() {
        let bit = i + ROW_NULL_OFFSET;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            values.push(None);
            continue;
        }
        let short = || bad(format!("row ends inside column {}", i + 1));
        let text = match wire(c) {
            Wire::Null => {
                values.push(None);
                continue;
            }
            Wire::Int(w) => {
                let b = r.take(w).ok_or_else(short)?;
                let mut raw = [0u8; 8];
                raw[..w].copy_from_slice(b);
                let u = u64::from_le_bytes(raw);
                if c.is_unsigned() || c.column_type == ColumnType::MYSQL_TYPE_YEAR {
                    u.to_string()
                } else {
                    // Sign-extend from the column's width.
                    let shift = 64 - 8 * w as u32;
                    (((u << shift) as i64) >> shift).to_string()
                }
            }
            Wire::Float => {
                let b = r.take(4).ok_or_else(short)?;
                let f = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                format!("{f:?}")
            }
            Wire::Double => {
                let b = r.take(8).ok_or_else(short)?;
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                format!("{:?}", f64::from_le_bytes(raw))
            }
            Wire::DateTime { date_only } => {
                let len = r.u8().ok_or_else(short)? as usize;
                let f = r.take(len).ok_or_else(short)?;
                let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut us) = (0u16, 0, 0, 0, 0, 0, 0);
                if len >= 4 {
                    y = u16::from_le_bytes([f[0], f[1]]);
                    mo = f[2];
                    d = f[3];
                }
                if len >= 7 {
                    h = f[4];
                    mi = f[5];
                    s = f[6];
                }
                if len >= 11 {
                    us = u32::from_le_bytes([f[7], f[8], f[9], f[10]]);
                }
                let mut t = format!("{y:04}-{mo:02}-{d:02}");
                if !date_only {
                    t.push_str(&format!(" {h:02}:{mi:02}:{s:02}"));
                    push_fraction(&mut t, us, fraction_digits(c));
                }
                t
            }
            Wire::Time => {
                let len = r.u8().ok_or_else(short)? as usize;
                let f = r.take(len).ok_or_else(short)?;
                let (mut neg, mut days, mut h, mut mi, mut s, mut us) = (false, 0u32, 0u8, 0, 0, 0);
                if len >= 8 {
                    neg = f[0] == 1;
                    days = u32::from_le_bytes([f[1], f[2], f[3], f[4]]);
                    h = f[5];
                    mi = f[6];
                    s = f[7];
                }
                if len >= 12 {
                    us = u32::from_le_bytes([f[8], f[9], f[10], f[11]]);
                }
                let hours = days as u64 * 24 + h as u64;
                let mut t = format!("{}{hours:02}:{mi:02}:{s:02}", if neg { "-" } else { "" });
                push_fraction(&mut t, us, fraction_digits(c));
                t
            }
            Wire::Bytes => {
                values.push(Some(r.lenenc_bytes().ok_or_else(short)?.to_vec()));
                continue;
            }
        };
        values.push(Some(text.into_bytes()));
    }
    let mut p = Vec::new();
    encode_values(&values, &mut p);
    TextRow::decode(Bytes::from(p), n).ok_or_else(|| bad("re-encoded row does not decode"))
}

/// The parameter type (two bytes: type code, unsigned flag) that carries
/// a value of column `c` into a COM_STMT_EXECUTE unchanged: a binary row
/// value and a parameter value of the same type are encoded alike. Types
/// a server does not take as parameters travel as the wire type they
/// share (MEDIUMINT as INT, YEAR as SMALLINT); byte strings of the binary
/// character set (BLOB, BIT, GEOMETRY) as BLOB, which the server does not
/// convert, text as STRING, converted from the connection's character set
/// as the value was converted to it.
pub fn param_type(c: &ColumnInfo) -> [u8; 2] {
    use ColumnType::*;
    let t = match wire(c) {
        Wire::Int(1) => MYSQL_TYPE_TINY,
        Wire::Int(2) => MYSQL_TYPE_SHORT,
        Wire::Int(4) => MYSQL_TYPE_LONG,
        Wire::Int(_) => MYSQL_TYPE_LONGLONG,
        Wire::Float => MYSQL_TYPE_FLOAT,
        Wire::Double => MYSQL_TYPE_DOUBLE,
        Wire::DateTime { date_only: true } => MYSQL_TYPE_DATE,
        Wire::DateTime { date_only: false } => match c.column_type {
            MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => MYSQL_TYPE_TIMESTAMP,
            _ => MYSQL_TYPE_DATETIME,
        },
        Wire::Time => MYSQL_TYPE_TIME,
        Wire::Null => MYSQL_TYPE_NULL,
        Wire::Bytes if c.column_type == MYSQL_TYPE_NEWDECIMAL => MYSQL_TYPE_NEWDECIMAL,
        Wire::Bytes if c.charset == BINARY_CHARSET => MYSQL_TYPE_BLOB,
        Wire::Bytes => MYSQL_TYPE_STRING,
    };
    let unsigned = c.is_unsigned() || c.column_type == MYSQL_TYPE_YEAR;
    [t as u8, if unsigned { 0x80 } else { 0 }]
}

/// The `binary` character set's id.
const BINARY_CHARSET: u16 = 63;

/// Appends the values of binary row `packet` to a parameter block:
/// `nulls` gets one flag per column, `values` the non-NULL values' bytes.
pub fn row_as_params(
    packet: &[u8],
    columns: &[ColumnInfo],
    nulls: &mut Vec<bool>,
    values: &mut Vec<u8>,
) -> Result<(), BinaryRowError> {
    let n = columns.len();
    let (bitmap, mut r) = split_row(packet, n)?;
    for (i, c) in columns.iter().enumerate() {
        let bit = i + ROW_NULL_OFFSET;
        let w = wire(c);
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 || w == Wire::Null {
            nulls.push(true);
            continue;
        }
        let short = || bad(format!("row ends inside column {}", i + 1));
        let start = packet.len() - r.remaining();
        match w {
            Wire::Int(width) => {
                r.take(width).ok_or_else(short)?;
            }
            Wire::Float => {
                r.take(4).ok_or_else(short)?;
            }
            Wire::Double => {
                r.take(8).ok_or_else(short)?;
            }
            Wire::DateTime { .. } | Wire::Time => {
                let len = r.u8().ok_or_else(short)? as usize;
                r.take(len).ok_or_else(short)?;
            }
            Wire::Null => {}
            Wire::Bytes => {
                r.lenenc_bytes().ok_or_else(short)?;
            }
        }
        let end = packet.len() - r.remaining();
        nulls.push(false);
        values.extend_from_slice(&packet[start..end]);
    }
    Ok(())
}

/// Encodes the first `visible` values of a canonical text row (from
/// [`decode_row`] or computed by the merge) as a binary result row.
pub fn encode_row(
    row: &TextRow,
    columns: &[ColumnInfo],
    visible: usize,
    out: &mut Vec<u8>,
) -> Result<(), BinaryRowError> {
    let n = visible.min(columns.len());
    let bitmap_len = (n + 7 + ROW_NULL_OFFSET) / 8;
    out.push(0x00);
    let bitmap_at = out.len();
    out.resize(bitmap_at + bitmap_len, 0);
    for (i, c) in columns.iter().take(n).enumerate() {
        let Some(v) = row.value(i).filter(|_| wire(c) != Wire::Null) else {
            let bit = i + ROW_NULL_OFFSET;
            out[bitmap_at + bit / 8] |= 1 << (bit % 8);
            continue;
        };
        encode_value(v, c, out).map_err(|e| bad(format!("column {}: {}", i + 1, e.0)))?;
    }
    Ok(())
}

fn text(v: &[u8]) -> Result<&str, BinaryRowError> {
    std::str::from_utf8(v).map_err(|_| bad("value is not text"))
}

fn encode_value(v: &[u8], c: &ColumnInfo, out: &mut Vec<u8>) -> Result<(), BinaryRowError> {
    match wire(c) {
        Wire::Null => {}
        Wire::Bytes => put_lenenc_bytes(out, v),
        Wire::Int(w) => {
            let t = text(v)?.trim();
            let n: i128 = t
                .parse()
                .map_err(|_| bad(format!("`{t}` is not an integer")))?;
            // Two's complement of the column's width: unsigned values fill
            // it, signed ones wrap to their encoding.
            out.extend_from_slice(&(n as u64).to_le_bytes()[..w]);
        }
        Wire::Float => {
            let t = text(v)?.trim();
            let f: f32 = t
                .parse()
                .map_err(|_| bad(format!("`{t}` is not a FLOAT")))?;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Wire::Double => {
            let t = text(v)?.trim();
            let f: f64 = t
                .parse()
                .map_err(|_| bad(format!("`{t}` is not a DOUBLE")))?;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Wire::DateTime { .. } => {
            let t = text(v)?;
            let (date, time) = t.split_once(' ').unwrap_or((t, ""));
            let mut d = date.splitn(3, '-').map(str::parse::<u32>);
            let num = |x: Option<Result<u32, _>>| -> Result<u32, BinaryRowError> {
                x.unwrap_or(Ok(0))
                    .map_err(|_| bad(format!("`{t}` is not a date-time")))
            };
            let (y, mo, day) = (num(d.next())?, num(d.next())?, num(d.next())?);
            let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
            let mut tp = hms.splitn(3, ':').map(str::parse::<u32>);
            let (h, mi, s) = if hms.is_empty() {
                (0, 0, 0)
            } else {
                (num(tp.next())?, num(tp.next())?, num(tp.next())?)
            };
            let us = micros(frac)?;
            // The lengths MySQL itself uses: trailing zero parts are left
            // out.
            let len: u8 = if us != 0 {
                11
            } else if h != 0 || mi != 0 || s != 0 {
                7
            } else if y != 0 || mo != 0 || day != 0 {
                4
            } else {
                0
            };
            out.push(len);
            if len >= 4 {
                out.extend_from_slice(&(y as u16).to_le_bytes());
                out.push(mo as u8);
                out.push(day as u8);
            }
            if len >= 7 {
                out.extend_from_slice(&[h as u8, mi as u8, s as u8]);
            }
            if len >= 11 {
                out.extend_from_slice(&us.to_le_bytes());
            }
        }
        Wire::Time => {
            let t = text(v)?;
            let (neg, rest) = match t.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, t),
            };
            let (hms, frac) = rest.split_once('.').unwrap_or((rest, ""));
            let mut parts = hms.splitn(3, ':').map(str::parse::<u64>);
            let num = |x: Option<Result<u64, _>>| -> Result<u64, BinaryRowError> {
                x.unwrap_or(Ok(0))
                    .map_err(|_| bad(format!("`{t}` is not a TIME")))
            };
            let (hours, mi, s) = (num(parts.next())?, num(parts.next())?, num(parts.next())?);
            let us = micros(frac)?;
            let days = (hours / 24) as u32;
            let h = (hours % 24) as u8;
            let len: u8 = if us != 0 {
                12
            } else if hours != 0 || mi != 0 || s != 0 {
                8
            } else {
                0
            };
            out.push(len);
            if len >= 8 {
                out.push(u8::from(neg));
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&[h, mi as u8, s as u8]);
            }
            if len >= 12 {
                out.extend_from_slice(&us.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Microseconds from up to six fractional digits (`"5"` is 500000).
fn micros(frac: &str) -> Result<u32, BinaryRowError> {
    let mut us = 0u32;
    for (i, ch) in frac.bytes().take(6).enumerate() {
        if !ch.is_ascii_digit() {
            return Err(bad(format!("`{frac}` is not a fraction of a second")));
        }
        us += (ch - b'0') as u32 * 10u32.pow(5 - i as u32);
    }
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::constants::ColumnFlags;

    fn col(t: ColumnType, unsigned: bool, decimals: u8) -> ColumnInfo {
        let mut flags = ColumnFlags::empty();
        if unsigned {
            flags |= ColumnFlags::UNSIGNED_FLAG;
        }
        ColumnInfo {
            column_type: t,
            flags,
            charset: 63,
            decimals,
            raw: Bytes::new(),
        }
    }

    /// A binary row survives decode → encode byte for byte.
    fn roundtrip(columns: &[ColumnInfo], row: &[u8]) -> TextRow {
        let text = decode_row(row, columns).unwrap();
        let mut out = Vec::new();
        encode_row(&text, columns, columns.len(), &mut out).unwrap();
        assert_eq!(out, row, "row {row:?} re-encoded differently");
        text
    }

    #[test]
    fn integers_of_every_width_and_sign() {
        use ColumnType::*;
        let cols = [
            col(MYSQL_TYPE_TINY, false, 0),
            col(MYSQL_TYPE_TINY, true, 0),
            col(MYSQL_TYPE_SHORT, false, 0),
            col(MYSQL_TYPE_INT24, false, 0),
            col(MYSQL_TYPE_LONG, true, 0),
            col(MYSQL_TYPE_LONGLONG, false, 0),
            col(MYSQL_TYPE_LONGLONG, true, 0),
            col(MYSQL_TYPE_YEAR, true, 0),
        ];
        let mut row = vec![0x00, 0x00, 0x00];
        row.push(0x80); // -128
        row.push(0xFF); // 255
        row.extend_from_slice(&(-2i16).to_le_bytes());
        row.extend_from_slice(&(-8_388_608i32).to_le_bytes());
        row.extend_from_slice(&u32::MAX.to_le_bytes());
        row.extend_from_slice(&i64::MIN.to_le_bytes());
        row.extend_from_slice(&u64::MAX.to_le_bytes());
        row.extend_from_slice(&2026u16.to_le_bytes());
        let t = roundtrip(&cols, &row);
        let got: Vec<_> = (0..8)
            .map(|i| String::from_utf8(t.value(i).unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "-128",
                "255",
                "-2",
                "-8388608",
                "4294967295",
                "-9223372036854775808",
                "18446744073709551615",
                "2026"
            ]
        );
    }

    #[test]
    fn floats_keep_every_bit() {
        let cols = [
            col(ColumnType::MYSQL_TYPE_FLOAT, false, 31),
            col(ColumnType::MYSQL_TYPE_DOUBLE, false, 31),
        ];
        for (f, d) in [
            (std::f32::consts::PI, 0.1f64),
            (-1.0e-30, 1.0e300),
            (f32::MAX, -2.225_073_858_507_201_4e-308),
            (0.0, -0.0),
        ] {
            let mut row = vec![0x00, 0x00];
            row.extend_from_slice(&f.to_le_bytes());
            row.extend_from_slice(&d.to_le_bytes());
            roundtrip(&cols, &row);
        }
    }

    #[test]
    fn temporal_values_and_their_lengths() {
        use ColumnType::*;
        let cols = [
            col(MYSQL_TYPE_DATE, false, 0),
            col(MYSQL_TYPE_DATETIME, false, 6),
            col(MYSQL_TYPE_TIMESTAMP, false, 0),
            col(MYSQL_TYPE_TIME, false, 3),
            col(MYSQL_TYPE_TIME, false, 0),
            col(MYSQL_TYPE_DATETIME, false, 0),
        ];
        let mut row = vec![0x00, 0x00];
        row.extend_from_slice(&[4, 0xEA, 0x07, 1, 31]);
        row.extend_from_slice(&[11, 0xEA, 0x07, 12, 31, 23, 59, 58]);
        row.extend_from_slice(&123_456u32.to_le_bytes());
        row.extend_from_slice(&[7, 0xEA, 0x07, 2, 3, 4, 5, 6]);
        row.extend_from_slice(&[12, 1, 34, 0, 0, 0, 22, 59, 59]);
        row.extend_from_slice(&500_000u32.to_le_bytes());
        row.push(0);
        row.push(0);
        let t = roundtrip(&cols, &row);
        let got: Vec<_> = (0..6)
            .map(|i| String::from_utf8(t.value(i).unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "2026-01-31",
                "2026-12-31 23:59:58.123456",
                "2026-02-03 04:05:06",
                "-838:59:59.500",
                "00:00:00",
                "0000-00-00 00:00:00"
            ]
        );
    }

    #[test]
    fn nulls_strings_and_visible_prefix() {
        use ColumnType::*;
        let cols = [
            col(MYSQL_TYPE_VAR_STRING, false, 0),
            col(MYSQL_TYPE_NEWDECIMAL, false, 2),
            col(MYSQL_TYPE_BLOB, false, 0),
            col(MYSQL_TYPE_LONG, false, 0),
            col(MYSQL_TYPE_BIT, true, 0),
            col(MYSQL_TYPE_NULL, false, 0),
            col(MYSQL_TYPE_JSON, false, 0),
        ];
        // Columns 3 (BLOB) and 6 (NULL type) are NULL: bits 2+2 and 2+5.
        let mut row = vec![0x00, 0b1001_0000, 0x00];
        put_lenenc_bytes(&mut row, "héllo".as_bytes());
        put_lenenc_bytes(&mut row, b"-12.50");
        row.extend_from_slice(&7i32.to_le_bytes());
        put_lenenc_bytes(&mut row, &[0x01, 0xFF]);
        put_lenenc_bytes(&mut row, br#"{"a": 1}"#);
        let t = roundtrip(&cols, &row);
        assert_eq!(t.value(2), None);
        assert_eq!(t.value(5), None);
        // Only the first two columns: a shorter bitmap, no trailing values.
        let mut out = Vec::new();
        encode_row(&t, &cols, 2, &mut out).unwrap();
        let mut want = vec![0x00, 0x00];
        put_lenenc_bytes(&mut want, "héllo".as_bytes());
        put_lenenc_bytes(&mut want, b"-12.50");
        assert_eq!(out, want);
    }

    #[test]
    fn computed_values_encode() {
        // Sums and averages the merge computes come as plain numbers.
        let cols = [
            col(ColumnType::MYSQL_TYPE_LONGLONG, false, 0),
            col(ColumnType::MYSQL_TYPE_DOUBLE, false, 31),
        ];
        let mut p = Vec::new();
        encode_values(&[Some(b"42".to_vec()), Some(b"1.5e300".to_vec())], &mut p);
        let row = TextRow::decode(Bytes::from(p), 2).unwrap();
        let mut out = Vec::new();
        encode_row(&row, &cols, 2, &mut out).unwrap();
        let mut want = vec![0x00, 0x00];
        want.extend_from_slice(&42i64.to_le_bytes());
        want.extend_from_slice(&1.5e300f64.to_le_bytes());
        assert_eq!(out, want);
    }

    #[test]
    fn truncated_rows_are_errors() {
        let cols = [col(ColumnType::MYSQL_TYPE_LONGLONG, false, 0)];
        assert!(decode_row(&[0x00, 0x00, 1, 2], &cols).is_err());
        assert!(decode_row(&[0x01, 0x00], &cols).is_err());
        assert!(decode_row(&[], &cols).is_err());
    }

    /// Generated rows over every wire shape: the parameter block made from
    /// a binary row carries its values byte for byte, with parameter types
    /// whose lengths split the block where the row's columns end (as the
    /// server reads it), and the row's NULLs.
    #[test]
    fn rows_become_parameter_blocks_unchanged() {
        use crate::frontend::prepared::ExecuteRequest;
        use crate::placement::ParamValue;
        use rand::{Rng, SeedableRng};
        use ColumnType::*;
        let cols = [
            col(MYSQL_TYPE_TINY, false, 0),
            col(MYSQL_TYPE_SHORT, true, 0),
            col(MYSQL_TYPE_INT24, true, 0),
            col(MYSQL_TYPE_LONG, false, 0),
            col(MYSQL_TYPE_LONGLONG, true, 0),
            col(MYSQL_TYPE_YEAR, true, 0),
            col(MYSQL_TYPE_FLOAT, false, 31),
            col(MYSQL_TYPE_DOUBLE, false, 31),
            col(MYSQL_TYPE_DATETIME, false, 6),
            col(MYSQL_TYPE_TIME, false, 2),
            col(MYSQL_TYPE_NEWDECIMAL, false, 4),
            col(MYSQL_TYPE_BLOB, false, 0),
            col(MYSQL_TYPE_BIT, true, 0),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let bitmap_len = (cols.len() + 7 + ROW_NULL_OFFSET) / 8;
            let mut row = vec![0u8; 1 + bitmap_len];
            let (mut want_nulls, mut want_values) = (Vec::new(), Vec::new());
            for (i, c) in cols.iter().enumerate() {
                if rng.random_range(0..4) == 0 {
                    let bit = i + ROW_NULL_OFFSET;
                    row[1 + bit / 8] |= 1 << (bit % 8);
                    want_nulls.push(true);
                    continue;
                }
                let mut v = Vec::new();
                match wire(c) {
                    Wire::Int(w) => v.extend((0..w).map(|_| rng.random::<u8>())),
                    Wire::Float => v.extend(rng.random::<f32>().to_le_bytes()),
                    Wire::Double => v.extend(rng.random::<f64>().to_le_bytes()),
                    Wire::DateTime { .. } | Wire::Time => {
                        let len = [0u8, 4, 7, 8, 11, 12][rng.random_range(0..6)];
                        v.push(len);
                        v.extend((0..len).map(|_| rng.random::<u8>()));
                    }
                    Wire::Null => {}
                    Wire::Bytes => {
                        let n = [0usize, 1, 250, 251, 300][rng.random_range(0..5)];
                        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                        put_lenenc_bytes(&mut v, &bytes);
                    }
                }
                want_nulls.push(false);
                want_values.extend_from_slice(&v);
                row.extend_from_slice(&v);
            }
            let (mut nulls, mut values) = (Vec::new(), Vec::new());
            row_as_params(&row, &cols, &mut nulls, &mut values).unwrap();
            assert_eq!(nulls, want_nulls);
            assert_eq!(values, want_values);
            let types: Vec<u8> = cols.iter().flat_map(param_type).collect();
            let request = ExecuteRequest::from_params(types, &nulls, values);
            let bound = request
                .bound_params(&[])
                .expect("the server splits the block");
            let got_nulls: Vec<bool> = request
                .param_values(&bound, &[])
                .iter()
                .map(|v| matches!(v, ParamValue::Null))
                .collect();
            assert_eq!(got_nulls, want_nulls);
        }
    }
}
