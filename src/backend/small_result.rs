//! Small results of the proxy's own queries (health checks, XA
//! recovery, probes), read whole into memory with their column names.
//!
//! Owns: decoding such a text result. Must not be used on the client
//! data path (results there are streamed).

use bytes::Bytes;

use super::connection::BackendConn;
use crate::error::{ProxyError, Result};
use crate::merge::row::TextRow;
use crate::wire::packets::{is_err, is_terminator, ErrPacket, Reader};

/// Reads a whole result of one command into memory: used only for small
/// internal results (never on the client data path).
pub async fn read_small_result(conn: &mut BackendConn) -> Result<Vec<Vec<Option<Bytes>>>> {
    Ok(read_small_result_named(conn).await?.1)
}

/// [`read_small_result`] with the column names.
pub async fn read_small_result_named(
    conn: &mut BackendConn,
) -> Result<(Vec<String>, Vec<Vec<Option<Bytes>>>)> {
    let first = conn.read_packet().await?;
    if is_err(&first.payload) {
        return Err(ProxyError::Backend(
            ErrPacket::parse(&first.payload)
                .unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
        ));
    }
    if first.payload.first() == Some(&0x00) {
        conn.absorb_ok(&first.payload);
        return Ok((Vec::new(), Vec::new()));
    }
    let ncols = Reader::new(&first.payload).lenenc_int().unwrap_or(0) as usize;
    let mut names = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        let def = conn.read_packet().await?;
        // catalog, schema, table, org_table, then the name.
        let mut r = Reader::new(&def.payload);
        for _ in 0..4 {
            r.lenenc_bytes();
        }
        let name = r.lenenc_bytes().unwrap_or_default();
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    let mut rows = Vec::new();
    loop {
        let p = conn.read_packet().await?;
        if is_err(&p.payload) {
            return Err(ProxyError::Backend(
                ErrPacket::parse(&p.payload)
                    .unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
            ));
        }
        if is_terminator(&p.payload) {
            conn.absorb_ok(&p.payload);
            break;
        }
        let row = TextRow::decode(p.payload.clone(), ncols)
            .ok_or_else(|| ProxyError::MalformedPacket("row value".into()))?;
        rows.push(
            (0..row.len())
                .map(|i| row.range(i).map(|range| p.payload.slice(range)))
                .collect(),
        );
    }
    Ok((names, rows))
}

/// The first column of each row of a small result, as text (NULLs
/// skipped): names read from `information_schema`.
pub fn first_column_text<B: AsRef<[u8]>>(rows: Vec<Vec<Option<B>>>) -> Vec<String> {
    rows.into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .collect()
}
