//! Reading the warnings a statement left on the connections it ran on,
//! right after it (before a COMMIT or another statement resets them), so
//! that `SHOW WARNINGS` after a statement on several shards lists every
//! shard's, as one server would list them all.
//!
//! Only connections whose answer reported warnings are asked: the common
//! path (no warnings) pays nothing. The `at row N` of a split INSERT's
//! part is renumbered to the client's row (`BackendConn::warning_rows`),
//! as one server given the whole statement numbers it.
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
        if let Some(numbers) = &conn.warning_rows {
            for row in &mut rows {
                if let Some(renumbered) = renumber(row, numbers) {
                    *row = renumbered;
                }
            }
        }
        conn.warnings_read.append(defs, rows, count, limit);
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

/// A `SHOW WARNINGS` row whose message ends in `at row N`, with N the
/// client's row number `numbers[N - 1]` (a split INSERT's part numbers its
/// own rows from 1). `None` when there is nothing to change.
fn renumber(row: &[u8], numbers: &[u32]) -> Option<Bytes> {
    let mut r = Reader::new(row);
    let level = r.lenenc_bytes()?;
    let code = r.lenenc_bytes()?;
    let message = std::str::from_utf8(r.lenenc_bytes()?).ok()?;
    let at = message.rfind(" at row ")?;
    let digits = &message[at + " at row ".len()..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    let client = numbers.get(n.checked_sub(1)?)?;
    let mut out = Vec::with_capacity(row.len() + 4);
    put_lenenc_bytes(&mut out, level);
    put_lenenc_bytes(&mut out, code);
    put_lenenc_bytes(
        &mut out,
        format!("{} at row {client}", &message[..at]).as_bytes(),
    );
    Some(out.into())
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
        assert_eq!(
            got.as_deref(),
            Some(&row("Data truncated for column 's' at row 5")[..])
        );
        assert!(renumber(&row("Duplicate entry '1' for key 'PRIMARY'"), &numbers).is_none());
        assert!(renumber(&row("x at row 4"), &numbers).is_none());
        assert!(renumber(&row("x at row 0"), &numbers).is_none());
    }
}
