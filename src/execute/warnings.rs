//! Reading the warnings a statement left on the connections it ran on,
//! right after it (before a COMMIT or another statement resets them), so
//! that `SHOW WARNINGS` after a statement on several shards lists every
//! shard's, as one server would list them all.
//!
//! Only connections whose answer reported warnings are asked: the common
//! path (no warnings) pays nothing.
//!
//! Owns: `SHOW WARNINGS` on backend connections into
//! `BackendConn::warnings_read`. Must not answer the client (the session
//! does, from the merged [`WarningList`]).

use bytes::Bytes;

use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::wire::command;
use crate::wire::packets::{is_err, is_terminator, ErrPacket, Reader};
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
        let (defs, rows) = show_warnings(conn).await?;
        conn.warnings_read.append(defs, rows, count, limit);
    }
    Ok(())
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
