//! Unit tests of long data held per client statement and forwarded in
//! chunks (`prepared.rs`).

use std::sync::Arc;

use super::*;

fn statement(params: u16) -> ClientStatement {
    ClientStatement::new(
        Arc::from("SELECT 1"),
        crate::sql::classify("SELECT 1"),
        params,
        0,
    )
}

#[test]
fn long_data_is_bounded_per_statement_and_sent_in_chunks() {
    // Generated: chunk sizes × limits; the statement never holds more
    // than the limit, and overflow drops everything at once.
    for limit in [0usize, 1, 7, 1000, 4096] {
        for chunk in [1usize, 3, 500, 5000] {
            let mut st = statement(2);
            let mut sent = 0usize;
            for i in 0..10u16 {
                st.append_long_data(i % 2, &vec![b'x'; chunk], limit);
                sent += chunk;
                let held: usize = st.long_data.iter().map(|(_, d)| d.len()).sum();
                assert!(held <= limit, "held {held} > limit {limit}");
                assert_eq!(st.long_data_overflow, sent > limit);
                if st.long_data_overflow {
                    assert!(st.long_data.is_empty() && st.long_data.capacity() == 0);
                } else {
                    assert_eq!(held, sent);
                }
            }
        }
    }
    // A parameter of 2.5 chunks goes out as 3 packets, in order.
    let data: Vec<u8> = (0..LONG_DATA_CHUNK * 5 / 2).map(|i| i as u8).collect();
    let mut out = Vec::new();
    push_long_data(&mut out, 7, 1, &data);
    assert_eq!(out.len(), 3);
    let mut joined = Vec::new();
    for p in &out {
        assert!(p.len() <= LONG_DATA_CHUNK + 7);
        assert_eq!(&p[..7], &[command::STMT_SEND_LONG_DATA, 7, 0, 0, 0, 1, 0]);
        joined.extend_from_slice(&p[7..]);
    }
    assert_eq!(joined, data);
}
