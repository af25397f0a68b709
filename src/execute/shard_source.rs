//! One shard's answer to a scattered SELECT as the merge reads it: a
//! connection whose answer streams, or an answer read in full before
//! (statements sharing a transaction's connection), seen as a result
//! header then a [`RowSource`] of canonical text rows (binary-protocol
//! rows decoded by `merge::binary`).
//!
//! Owns: reading result packets from shards and marking what was left
//! unread. Must not merge or write to the client.

use bytes::Bytes;
use mysql_common::constants::CapabilityFlags;

use super::merge::RowSource;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::merge::{ColumnInfo, TextRow};
use crate::wire::packets::{is_err, is_terminator, ErrPacket, OkPacket, Reader};

/// A shard's ERR packet as an error.
pub(super) fn backend_err(p: &[u8]) -> ProxyError {
    ProxyError::Backend(
        ErrPacket::parse(p).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "shard error")),
    )
}

/// Reads every source's result header; the first error wins, after every
/// header was read. Returns the first source's column definitions.
pub(super) async fn read_headers(streams: &mut [ShardStream<'_, '_>]) -> Result<Vec<Bytes>> {
    let mut defs = Vec::new();
    let mut first_err = None;
    for s in streams.iter_mut() {
        match s.header().await {
            Ok(d) if defs.is_empty() => defs = d,
            Ok(_) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(defs),
    }
}

/// Where one shard's answer comes from.
pub enum ShardSource<'a> {
    /// A connection its command was sent to: the answer streams.
    /// `finished` once its terminator (or error) was read.
    Live {
        conn: &'a mut BackendConn,
        finished: bool,
    },
    /// An answer already read in full ([`read_answer`]): shard statements
    /// that must share one connection (a transaction's) run one after the
    /// other, and all but the last are held in memory.
    Read(ReadAnswer),
}

/// A whole answer of one shard statement.
pub struct ReadAnswer {
    packets: std::collections::VecDeque<Bytes>,
    caps: CapabilityFlags,
}

impl ReadAnswer {
    /// The error the answer ended with, if any (KILL QUERY, a shard
    /// refusing; servers may send it after the column definitions): the
    /// targets after it need not run.
    pub fn error(&self) -> Option<ProxyError> {
        self.packets
            .back()
            .filter(|p| is_err(p))
            .map(|p| backend_err(p))
    }
}

/// Reads the whole answer of the command just sent on `conn` (result
/// header, column definitions, rows, terminator; or one OK/ERR). Fails when
/// the answer's packets exceed `max_bytes` (the connection is then broken).
pub async fn read_answer(conn: &mut BackendConn, max_bytes: usize) -> Result<ReadAnswer> {
    let mut packets = std::collections::VecDeque::new();
    let mut bytes = 0usize;
    let mut push = |conn: &mut BackendConn, p: Bytes| -> Result<()> {
        bytes += p.len();
        if bytes > max_bytes {
            conn.broken = true;
            return Err(ProxyError::Unsupported(format!(
                "a shard's part of this merge exceeds {} MiB; inside a transaction, several \
                 physical tables of one node are read one after the other through the \
                 transaction's connection and held in memory until merged",
                max_bytes >> 20
            )));
        }
        packets.push_back(p);
        Ok(())
    };
    let first = conn.read_packet().await?.payload;
    let single = is_err(&first) || first.first() == Some(&0x00);
    let columns = if single {
        0
    } else {
        Reader::new(&first)
            .lenenc_int()
            .ok_or_else(|| ProxyError::MalformedPacket("bad column count".into()))? as usize
    };
    push(conn, first)?;
    if !single {
        for _ in 0..columns {
            let p = conn.read_packet().await?.payload;
            push(conn, p)?;
        }
        loop {
            let p = conn.read_packet().await?.payload;
            let end = is_terminator(&p) || is_err(&p);
            if end && !is_err(&p) {
                conn.absorb_ok(&p);
            }
            push(conn, p)?;
            if end {
                break;
            }
        }
    }
    Ok(ReadAnswer {
        packets,
        caps: conn.caps,
    })
}

impl<'a> ShardSource<'a> {
    /// The next packet when it is at hand (an answer read in full, or
    /// one already buffered whole): no future. `Ok(None)`: await
    /// [`ShardSource::read_packet`].
    fn ready_packet(&mut self) -> Result<Option<Bytes>> {
        match self {
            ShardSource::Live { conn, .. } => Ok(conn.buffered_packet()?.map(|p| p.payload)),
            ShardSource::Read(a) => a
                .packets
                .pop_front()
                .map(Some)
                .ok_or_else(|| ProxyError::Internal("a shard answer ended early".into())),
        }
    }

    /// The next packet's payload, borrowed, when it is at hand (and needs
    /// no mapping back of database names): `take` decides whether it is
    /// consumed. `None`: nothing at hand, or declined.
    fn take_ready<R>(&mut self, take: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
        match self {
            ShardSource::Live { conn, .. } => conn.take_buffered_payload(take),
            ShardSource::Read(a) => {
                let r = take(a.packets.front()?)?;
                a.packets.pop_front();
                Some(r)
            }
        }
    }

    /// The next packet's payload when it is at hand, left in place (what
    /// [`ShardSource::take_ready`] would show).
    #[inline(always)]
    fn peek_ready(&self) -> Option<&[u8]> {
        match self {
            ShardSource::Live { conn, .. } => conn.peek_buffered_payload(),
            ShardSource::Read(a) => a.packets.front().map(|p| &p[..]),
        }
    }

    /// Consumes the payload [`ShardSource::peek_ready`] showed.
    fn skip_ready(&mut self) {
        match self {
            ShardSource::Live { conn, .. } => conn.skip_buffered_payload(),
            ShardSource::Read(a) => {
                a.packets.pop_front();
            }
        }
    }

    async fn read_packet(&mut self) -> Result<Bytes> {
        match self {
            ShardSource::Live { conn, .. } => Ok(conn.read_packet().await?.payload),
            ShardSource::Read(a) => a
                .packets
                .pop_front()
                .ok_or_else(|| ProxyError::Internal("a shard answer ended early".into())),
        }
    }

    fn absorb_ok(&mut self, payload: &[u8]) -> Option<OkPacket> {
        match self {
            ShardSource::Live { conn, .. } => conn.absorb_ok(payload),
            ShardSource::Read(a) => OkPacket::parse(payload, a.caps),
        }
    }

    /// A connection whose command was sent: its answer streams.
    pub fn live(conn: &'a mut BackendConn) -> Self {
        ShardSource::Live {
            conn,
            finished: false,
        }
    }

    fn finish(&mut self) {
        if let ShardSource::Live { finished, .. } = self {
            *finished = true;
        }
    }

    /// The merge stopped before this source's answer ended (LIMIT reached,
    /// or another shard failed): its rows are read later, before the
    /// connection is reused (`BackendConn::settle`), rather than the
    /// connection being thrown away.
    pub(super) fn leave_unread(&mut self) {
        if let ShardSource::Live {
            conn,
            finished: false,
        } = self
        {
            conn.unread_rows = true;
        }
    }
}

/// The shard side of a merge: reads column definitions and rows.
pub(super) struct ShardStream<'s, 'a> {
    conn: &'s mut ShardSource<'a>,
    columns: usize,
    done: bool,
    warnings: u16,
    /// Binary-protocol rows (a prepared statement): their columns, to
    /// decode them into canonical text rows.
    binary: Option<Vec<ColumnInfo>>,
}

impl<'s, 'a> ShardStream<'s, 'a> {
    pub(super) fn new(conn: &'s mut ShardSource<'a>) -> Self {
        ShardStream {
            conn,
            columns: 0,
            done: false,
            warnings: 0,
            binary: None,
        }
    }

    /// Rows come in the binary protocol: decode them with `columns`.
    pub(super) fn decode_binary(&mut self, columns: Vec<ColumnInfo>) {
        self.binary = Some(columns);
    }

    /// The warnings its terminator reported.
    pub(super) fn warnings(&self) -> u16 {
        self.warnings
    }

    /// Passes the rows of the answer already at hand to `row`, each as its
    /// packet's payload cut after the first `visible` values (what
    /// [`TextRow::prefix_packet`] gives for the decoded row), without
    /// making a [`TextRow`] or a packet of it; returns how many. Stops
    /// before the first packet that is not at hand or is not a text row of
    /// the answer's columns ending where its last value ends (the
    /// terminator, an error, anything malformed): [`RowSource::next`]
    /// reads that one as usual. None for binary-protocol rows.
    pub(super) fn copy_ready_rows(&mut self, visible: usize, mut row: impl FnMut(&[u8])) -> u64 {
        if self.done || self.binary.is_some() {
            return 0;
        }
        let columns = self.columns;
        let mut n = 0;
        let mut take = |p: &[u8]| {
            let end = visible_end(p, columns, visible)?;
            row(&p[..end]);
            Some(())
        };
        while self.conn.take_ready(&mut take).is_some() {
            n += 1;
        }
        n
    }

    /// Reads the result header; returns the column definitions.
    pub(super) async fn header(&mut self) -> Result<Vec<Bytes>> {
        let payload = self.conn.read_packet().await?;
        if is_err(&payload) {
            self.done = true;
            self.conn.finish();
            return Err(backend_err(&payload));
        }
        if payload.first() == Some(&0x00) {
            self.done = true;
            self.conn.finish();
            return Err(ProxyError::Internal(
                "a shard answered a SELECT with OK".into(),
            ));
        }
        let n = Reader::new(&payload)
            .lenenc_int()
            .ok_or_else(|| ProxyError::MalformedPacket("bad column count".into()))?
            as usize;
        self.columns = n;
        let mut defs = Vec::with_capacity(n);
        for _ in 0..n {
            defs.push(self.conn.read_packet().await?);
        }
        Ok(defs)
    }
}

impl RowSource for ShardStream<'_, '_> {
    async fn next(&mut self) -> Result<Option<TextRow>> {
        if self.done {
            return Ok(None);
        }
        let payload = match self.conn.ready_packet()? {
            Some(p) => p,
            None => self.conn.read_packet().await?,
        };
        if is_terminator(&payload) {
            self.done = true;
            self.conn.finish();
            if let Some(ok) = self.conn.absorb_ok(&payload) {
                self.warnings = ok.warnings;
            }
            return Ok(None);
        }
        if is_err(&payload) {
            self.done = true;
            self.conn.finish();
            return Err(backend_err(&payload));
        }
        if let Some(columns) = &self.binary {
            return crate::merge::binary::decode_row(&payload, columns)
                .map(Some)
                .map_err(|e| ProxyError::MalformedPacket(format!("bad row from shard: {e}")));
        }
        TextRow::decode(payload, self.columns)
            .map(Some)
            .ok_or_else(|| ProxyError::MalformedPacket("bad row from shard".into()))
    }

    #[inline(always)]
    fn peek_ready(&self) -> Option<(&[u8], usize)> {
        if self.done || self.binary.is_some() {
            return None;
        }
        let p = self.conn.peek_ready()?;
        // The terminator and errors are `next`'s to read.
        (!is_terminator(p) && !is_err(p)).then_some((p, self.columns))
    }

    fn skip_ready(&mut self) {
        // Only ever after `peek_ready` showed a row.
        if !self.done && self.binary.is_none() {
            self.conn.skip_ready();
        }
    }
}

/// Where the first `visible` values of a text row of `columns` values end
/// in its payload `p`; `None` unless `p` is such a row (not a terminator
/// or error, every value well-formed as [`TextRow::decode`] reads it, the
/// last one ending at the payload's end).
fn visible_end(p: &[u8], columns: usize, visible: usize) -> Option<usize> {
    if is_terminator(p) || is_err(p) {
        return None;
    }
    let mut at = 0;
    let mut end = 0;
    for i in 0..columns {
        if i == visible {
            end = at;
        }
        let rest = p.get(at..)?;
        if rest.first() == Some(&0xFB) {
            at += 1;
        } else {
            let mut r = Reader::new(rest);
            r.lenenc_bytes()?;
            at = p.len() - r.remaining();
        }
    }
    if visible >= columns {
        end = at;
    }
    (at == p.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::packets::put_lenenc_bytes;

    /// Generated rows (NULLs, values of every length class): where the
    /// visible values end is where the decoded row's prefix packet ends;
    /// cut, padded or extended packets, terminators and errors are left
    /// to the usual read.
    #[test]
    fn visible_end_is_the_prefix_packet() {
        let lens = [
            None,
            Some(0usize),
            Some(1),
            Some(250),
            Some(251),
            Some(70_000),
        ];
        let mut cases = 0;
        for a in lens {
            for b in lens {
                for c in lens {
                    let mut p = Vec::new();
                    for v in [a, b, c] {
                        match v {
                            Some(n) => put_lenenc_bytes(&mut p, &vec![b'v'; n]),
                            None => p.push(0xFB),
                        }
                    }
                    let row = TextRow::decode(Bytes::from(p.clone()), 3).unwrap();
                    for visible in 0..=3 {
                        let end = visible_end(&p, 3, visible).unwrap();
                        assert_eq!(Some(&p[..end]), row.prefix_packet(visible));
                        cases += 1;
                    }
                    assert_eq!(visible_end(&p, 2, 2), None, "a value past the columns");
                    assert_eq!(visible_end(&p, 4, 4), None, "a value missing");
                    let mut longer = p.clone();
                    longer.push(0);
                    assert_eq!(visible_end(&longer, 3, 3), None, "bytes after the row");
                    if p.len() > 1 {
                        assert_eq!(visible_end(&p[..p.len() - 1], 3, 3), None, "cut");
                    }
                }
            }
        }
        assert_eq!(cases, 6 * 6 * 6 * 4);
        assert_eq!(visible_end(&[0xFE, 0, 0, 2, 0], 1, 1), None, "EOF");
        assert_eq!(visible_end(&[0xFF, 0x15, 0x04], 1, 1), None, "ERR");
        assert_eq!(visible_end(&[], 1, 1), None);
    }
}
