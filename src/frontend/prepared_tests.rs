//! Unit tests of `frontend::prepared` (parameter decoding, remapped
//! executes).

use super::*;

const LONGLONG: u8 = 0x08;
const VAR_STRING: u8 = 0xFD;
const DATETIME: u8 = 0x0C;
const BLOB: u8 = 0xFC;

/// A COM_STMT_EXECUTE payload for statement 7 with types bound.
fn execute(nulls: &[bool], types: &[(u8, bool)], values: &[u8]) -> Vec<u8> {
    let mut p = vec![command::STMT_EXECUTE];
    p.extend_from_slice(&7u32.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    let mut bitmap = vec![0u8; nulls.len().div_ceil(8)];
    for (i, &n) in nulls.iter().enumerate() {
        if n {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    p.extend_from_slice(&bitmap);
    p.push(1);
    for &(t, unsigned) in types {
        p.push(t);
        p.push(if unsigned { 0x80 } else { 0 });
    }
    p.extend_from_slice(values);
    p
}

fn statement(params: u16) -> ClientStatement {
    ClientStatement::new(
        Arc::from("SELECT 1"),
        crate::sql::classify("SELECT 1"),
        params,
        0,
    )
}

#[test]
fn parameters_decode_for_the_router() {
    let mut values = Vec::new();
    values.extend_from_slice(&(-5i64).to_le_bytes());
    crate::wire::packets::put_lenenc_bytes(&mut values, b"abc");
    values.extend_from_slice(&[7, 0xEA, 0x07, 3, 4, 5, 6, 7]);
    values.extend_from_slice(&u64::MAX.to_le_bytes());
    let payload = execute(
        &[false, false, true, false, false],
        &[
            (LONGLONG, false),
            (VAR_STRING, false),
            (LONGLONG, false),
            (DATETIME, false),
            (LONGLONG, true),
        ],
        &values,
    );
    let mut st = statement(5);
    let req = st.parse_execute(&Bytes::from(payload.clone())).unwrap();
    let bound = req.bound_params(&[]).unwrap();
    let v = req.param_values(&bound, &[]);
    assert_eq!(v[0], ParamValue::Int(-5));
    assert_eq!(v[1], ParamValue::Bytes(b"abc"));
    assert_eq!(v[2], ParamValue::Null);
    assert_eq!(
        v[3],
        ParamValue::DateTime {
            year: 2026,
            month: 3,
            day: 4,
            hour: 5,
            minute: 6,
            second: 7,
            micros: 0
        }
    );
    assert_eq!(v[4], ParamValue::UInt(u64::MAX));
    // Truncated values are refused, not read past the end.
    let short = execute(&[false], &[(LONGLONG, false)], &[1, 2, 3]);
    let mut st = statement(1);
    let req = st.parse_execute(&Bytes::from(short.clone())).unwrap();
    assert!(req.bound_params(&[]).is_err());
    // A length prefix far beyond the packet (or usize) is an error too.
    let mut huge = vec![0xFE];
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    let payload = execute(&[false], &[(VAR_STRING, false)], &huge);
    let mut st = statement(1);
    let req = st.parse_execute(&Bytes::from(payload.clone())).unwrap();
    assert!(req.bound_params(&[]).is_err());
}

#[test]
fn remapped_execute_binds_the_targets_placeholders() {
    // Client: (a INT, b STRING NULL, c STRING as long data).
    let values = 9i64.to_le_bytes().to_vec();
    let payload = execute(
        &[false, true, false],
        &[(LONGLONG, false), (VAR_STRING, false), (BLOB, false)],
        &values,
    );
    let mut st = statement(3);
    st.append_long_data(2, b"lo", 100);
    st.append_long_data(2, b"ng", 100);
    let long = st.take_long_data();
    let req = st.parse_execute(&Bytes::from(payload.clone())).unwrap();
    let bound = req.bound_params(&long).unwrap();
    assert_eq!(
        req.param_values(&bound, &long)[2],
        ParamValue::Bytes(b"long")
    );
    // The target keeps c, a, a, b (in that order) as its 4 placeholders.
    let packets = req
        .remapped_packets(&bound, &[2, 0, 0, 1], 42, &long)
        .unwrap();
    assert_eq!(packets.len(), 2);
    let mut want_long = vec![command::STMT_SEND_LONG_DATA];
    want_long.extend_from_slice(&42u32.to_le_bytes());
    want_long.extend_from_slice(&0u16.to_le_bytes());
    want_long.extend_from_slice(b"long");
    assert_eq!(packets[0], want_long);
    let mut want = vec![command::STMT_EXECUTE];
    want.extend_from_slice(&42u32.to_le_bytes());
    want.push(0);
    want.extend_from_slice(&1u32.to_le_bytes());
    want.push(0b1000); // the 4th placeholder (b) is NULL
    want.push(1);
    want.extend_from_slice(&[BLOB, 0, LONGLONG, 0, LONGLONG, 0, VAR_STRING, 0]);
    want.extend_from_slice(&9i64.to_le_bytes());
    want.extend_from_slice(&9i64.to_le_bytes());
    assert_eq!(packets[1], want);
    // No placeholders left (e.g. the key inlined): no parameter block.
    let packets = req.remapped_packets(&bound, &[], 42, &long).unwrap();
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].len(), 10);
    // A map naming a parameter the client did not send is an error.
    assert!(req.remapped_packets(&bound, &[3], 42, &long).is_err());
}
