//! Reading a result set with the raw client a row at a time: for tests
//! that stop reading mid-result, kill servers under it, or check how it
//! ended (terminator, ERR, closed connection). Part of `raw`
//! (`raw::read_result_header` etc.).

use super::{parse_column, parse_err, Column, ErrInfo, RawConn, Rd};

/// Reads a result set's header (column count, definitions, EOF); the
/// server's ERR instead of a result set as `Err`.
pub async fn read_result_header(c: &mut RawConn) -> Result<Vec<Column>, ErrInfo> {
    let (_, first) = c.read_packet().await.expect("first packet");
    if first[..].first() == Some(&0xFF) {
        return Err(parse_err(&first));
    }
    let n = Rd(&first).lenenc() as usize;
    let mut cols = Vec::new();
    for _ in 0..n {
        let (_, p) = c.read_packet().await.expect("column");
        cols.push(parse_column(&p));
    }
    if !c.deprecate_eof() {
        let (_, eof) = c.read_packet().await.expect("eof");
        assert_eq!(eof[..].first(), Some(&0xFE));
    }
    Ok(cols)
}

/// How a result ended.
#[derive(Debug)]
pub enum ResultEnd {
    /// A terminator after this many rows.
    Complete(u64),
    /// An ERR packet after this many rows.
    Error(u64, ErrInfo),
    /// The connection closed after this many rows.
    Closed(u64),
}

fn is_terminator(p: &[u8]) -> bool {
    p.first() == Some(&0xFE) && p.len() < 9
}

/// Reads rows until the result ends, counting from `rows`.
pub async fn read_rows_to_end(c: &mut RawConn, mut rows: u64) -> ResultEnd {
    loop {
        let p = match c.read_packet().await {
            Ok((_, p)) => p,
            Err(_) => return ResultEnd::Closed(rows),
        };
        if is_terminator(&p) {
            return ResultEnd::Complete(rows);
        }
        if p.first() == Some(&0xFF) {
            return ResultEnd::Error(rows, parse_err(&p));
        }
        rows += 1;
    }
}

/// Reads `n` row packets; panics if the result ends before.
pub async fn read_n_rows(c: &mut RawConn, n: u64) -> u64 {
    for i in 0..n {
        let (_, p) = c.read_packet().await.expect("row");
        assert!(
            !is_terminator(&p) && p.first() != Some(&0xFF),
            "result ended after {i} rows"
        );
    }
    n
}
