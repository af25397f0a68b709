//! Reading the warnings a statement left on the connections it ran on,
//! right after it (before a COMMIT or another statement resets them), so
//! that `SHOW WARNINGS` after a statement on several shards lists every
//! shard's, as one server would list them all.
//!
//! Only connections whose answer reported warnings are asked: the common
//! path (no warnings) pays nothing. The `at row N` (and the `Row N …` of
//! LOAD DATA's short and long lines) of a split INSERT's or LOAD DATA's
//! part is renumbered to the client's row (`BackendConn::warning_rows`),
//! as one server given the whole statement numbers it, and each row is
//! keyed by that row so the merge lists them in the client's row order
//! (a warning that names no row goes with the one before it on its shard).
//!
//! Owns: `SHOW WARNINGS` on backend connections into
//! `BackendConn::warnings_read`. Must not answer the client (the session
//! does, from the merged [`WarningList`]).

use bytes::Bytes;

use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::wire::command;
use crate::wire::packets::{is_err, is_terminator, put_lenenc_bytes, ErrPacket, Reader};
use crate::wire::warnings::WarningList;

/// `max_error_count` when the session did not set it (MariaDB's default).
pub const DEFAULT_MAX_ERROR_COUNT: usize = 64;

/// The number of warnings a server lists (`max_error_count`) under `value`.
pub fn max_error_count(value: Option<&str>) -> usize {
    value
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_ERROR_COUNT)
}

/// Reads the warnings of every connection whose last answer (fully read)
/// reported some, appending them to its `warnings_read`.
pub async fn read_from<'a>(conns: impl Iterator<Item = &'a mut BackendConn>) -> Result<()> {
    for conn in conns {
        if conn.last_warnings == 0 || conn.broken || conn.unread_rows {
            continue;
        }
        let count = u64::from(conn.last_warnings);
        let limit = max_error_count(conn.state.var("max_error_count"));
        let (defs, mut rows) = show_warnings(conn).await?;
        match &conn.warning_rows {
            Some(numbers) => {
                let keys = renumber_all(&mut rows, numbers);
                conn.warnings_read.append_keyed(defs, rows, keys, count);
            }
            None => conn.warnings_read.append(defs, rows, count, limit),
        }
        // Read once: the listing's own terminator repeats the count, and a
        // later call (after another target on this connection) must not
        // list them again.
        conn.last_warnings = 0;
    }
    Ok(())
}

/// [`read_from`] for one connection: called after each target's answer
/// when several targets take turns on one connection (a pinned session's
/// connection of a node, a pooled connection lent several targets), since
/// the next target's statement resets the server's list.
pub async fn read_after(conn: &mut BackendConn) -> Result<()> {
    read_from(std::iter::once(conn)).await
}

/// Takes what [`read_from`] gathered on `conns`, in their order, as one
/// list bounded by `limit`.
pub fn take_from<'a>(
    conns: impl Iterator<Item = &'a mut BackendConn>,
    limit: usize,
) -> WarningList {
    let mut all = WarningList::default();
    for conn in conns {
        all.extend(std::mem::take(&mut conn.warnings_read), limit);
    }
    all
}

/// Renumbers every row of one part ([`renumber`]) and returns each row's
/// client row: its own, else the one before it on this part, else the
/// next one named, else the part's first row.
fn renumber_all(rows: &mut [Bytes], numbers: &[u32]) -> Vec<u32> {
    let mut keys: Vec<Option<u32>> = Vec::with_capacity(rows.len());
    for row in rows.iter_mut() {
        match renumber(row, numbers) {
            Some((renumbered, client)) => {
                *row = renumbered;
                keys.push(Some(client));
            }
            None => keys.push(None),
        }
    }
    let first = numbers.first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(keys.len());
    let mut last = None;
    for (i, k) in keys.iter().enumerate() {
        let key = k
            .or(last)
            .or_else(|| keys[i..].iter().flatten().next().copied())
            .unwrap_or(first);
        last = Some(key);
        out.push(key);
    }
    out
}

/// A `SHOW WARNINGS` row whose message ends in `at row N` (or, from LOAD
/// DATA, starts `Row N doesn't contain…` / `Row N was truncated…`), with N
/// the client's row number `numbers[N - 1]` (a split INSERT's or LOAD
/// DATA's part numbers its own rows from 1), and that number. `None` when
/// the message names no row.
fn renumber(row: &[u8], numbers: &[u32]) -> Option<(Bytes, u32)> {
    let mut r = Reader::new(row);
    let level = r.lenenc_bytes()?;
    let code = r.lenenc_bytes()?;
    let message = std::str::from_utf8(r.lenenc_bytes()?).ok()?;
    let (head, digits, tail) = split_row_number(message)?;
    let n: usize = digits.parse().ok()?;
    let client = *numbers.get(n.checked_sub(1)?)?;
    let mut out = Vec::with_capacity(row.len() + 4);
    put_lenenc_bytes(&mut out, level);
    put_lenenc_bytes(&mut out, code);
    put_lenenc_bytes(&mut out, format!("{head}{client}{tail}").as_bytes());
    Some((out.into(), client))
}

/// The row a warning's message names: `… at row N` (most row-level
/// conditions) or LOAD DATA's `Row N doesn't contain…` / `Row N was
/// truncated…`. `None` when the message names no row.
pub fn message_row(message: &str) -> Option<u32> {
    split_row_number(message)?.1.parse().ok()
}

/// `message` as (text before the row number, its digits, text after).
fn split_row_number(message: &str) -> Option<(&str, &str, &str)> {
    let all_digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    match message.rfind(" at row ") {
        Some(at) if all_digits(&message[at + " at row ".len()..]) => Some((
            &message[..at + " at row ".len()],
            &message[at + " at row ".len()..],
            "",
        )),
        _ => {
            let rest = message.strip_prefix("Row ")?;
            let end = rest.find(' ')?;
            if !all_digits(&rest[..end]) {
                return None;
            }
            Some(("Row ", &rest[..end], &rest[end..]))
        }
    }
}

/// `SHOW WARNINGS` on one connection: its column definitions and rows.
async fn show_warnings(conn: &mut BackendConn) -> Result<(Vec<Bytes>, Vec<Bytes>)> {
    let mut payload = vec![command::QUERY];
    payload.extend_from_slice(b"SHOW WARNINGS");
    conn.send_command(&payload).await?;
    let first = conn.read_packet().await?.payload;
    if is_err(&first) {
        return Err(ProxyError::Backend(
            ErrPacket::parse(&first).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
        ));
    }
    let columns = Reader::new(&first)
        .lenenc_int()
        .ok_or_else(|| ProxyError::MalformedPacket("SHOW WARNINGS column count".into()))?;
    let mut defs = Vec::new();
    for _ in 0..columns {
        defs.push(conn.read_packet().await?.payload);
    }
    // Backend connections use CLIENT_DEPRECATE_EOF: rows follow at once.
    let mut rows = Vec::new();
    loop {
        let p = conn.read_packet().await?.payload;
        if is_terminator(&p) {
            conn.absorb_ok(&p);
            return Ok((defs, rows));
        }
        if is_err(&p) {
            return Err(ProxyError::Backend(
                ErrPacket::parse(&p).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
            ));
        }
        rows.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(message: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [&b"Warning"[..], b"1265", message.as_bytes()] {
            put_lenenc_bytes(&mut b, v);
        }
        b
    }

    #[test]
    fn at_row_renumbered_to_the_clients_rows() {
        let numbers = [2, 5, 9];
        let got = renumber(&row("Data truncated for column 's' at row 2"), &numbers);
        let want = Bytes::from(row("Data truncated for column 's' at row 5"));
        assert_eq!(got, Some((want, 5)));
        let got = renumber(
            &row("Row 3 was truncated; it contained more data"),
            &numbers,
        );
        let want = Bytes::from(row("Row 9 was truncated; it contained more data"));
        assert_eq!(got, Some((want, 9)));
        assert!(renumber(&row("Row x was truncated"), &numbers).is_none());
        assert!(renumber(&row("Duplicate entry '1' for key 'PRIMARY'"), &numbers).is_none());
        assert!(renumber(&row("x at row 4"), &numbers).is_none());
        assert!(renumber(&row("x at row 0"), &numbers).is_none());
    }

    #[test]
    fn rows_without_a_number_go_with_their_neighbours() {
        let numbers = [2, 5, 9];
        let mut rows: Vec<Bytes> = [
            "Duplicate entry '1' for key 'PRIMARY'",
            "Out of range value for column 'n' at row 2",
            "Duplicate entry '7' for key 'PRIMARY'",
            "Out of range value for column 'n' at row 3",
        ]
        .iter()
        .map(|m| Bytes::from(row(m)))
        .collect();
        assert_eq!(renumber_all(&mut rows, &numbers), vec![5, 5, 5, 9]);
        let mut none = vec![Bytes::from(row("Duplicate entry"))];
        assert_eq!(renumber_all(&mut none, &numbers), vec![2]);
    }
}
