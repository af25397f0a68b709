//! Forwarding one backend's answer to the client without decoding rows.
//!
//! Backend connections always use `CLIENT_DEPRECATE_EOF`; clients may not.
//! Rows are copied as they are (only sequence ids change): those already
//! buffered whole go from the backend's read buffer to the client's write
//! buffer in runs ([`crate::wire::run`]), the rest packet by packet; column
//! definitions too, except that a one-shard read names the logical table
//! and a definition is fitted to the client's extended-metadata
//! capability when the backend connection negotiated otherwise. OK/EOF
//! terminators are re-encoded for the client's capabilities, which also
//! drops the backend's session-tracking payload.
//!
//! Owns: the shape of responses on the wire. Must not choose servers or
//! change session state (it reports what changed in [`Outcome`]).

use std::time::Duration;

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::execute::renamed_defs::RenamedDefs;
use crate::router::shard::LogicalNames;
use crate::wire::packets::{
    encode_eof, is_err, is_terminator, ErrPacket, OkPacket, Reader, SessionChange,
};
use crate::wire::PacketStream;

/// A client connection: plain TCP or TLS ([`crate::wire::tls::ClientIo`]).
pub type ClientStream = PacketStream<crate::wire::tls::ClientIo>;

/// The server's refusal of `LOAD DATA LOCAL INFILE` when the client did not
/// announce `CLIENT_LOCAL_FILES` (MariaDB's ER_LOAD_INFILE_CAPABILITY_DISABLED).
const LOCAL_INFILE_DISABLED: u16 = 4166;
const LOCAL_INFILE_DISABLED_MSG: &str = "The used command is not allowed because the MariaDB server or client has disabled the local infile capability";

/// The server's error for `LOAD DATA LOCAL INFILE` from a client without
/// `CLIENT_LOCAL_FILES`.
pub fn local_infile_disabled() -> ErrPacket {
    ErrPacket::new(LOCAL_INFILE_DISABLED, "HY000", LOCAL_INFILE_DISABLED_MSG)
}

/// What a forwarded answer told us.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The last error, if the answer (or one of its results) was an error.
    pub error: Option<ErrPacket>,
    /// Status flags of the final OK/EOF.
    pub status: u16,
    pub warnings: u16,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// Session changes reported by the backend, in order.
    pub changes: Vec<SessionChange>,
    /// True once any packet reached the client (a retry elsewhere is then
    /// impossible).
    pub sent_anything: bool,
    /// Number of result sets (with columns) forwarded.
    pub result_sets: usize,
    /// The forwarding itself failed (backend lost or timed out, client
    /// gone). When `sent_anything` is true the client has already been told
    /// with an ERR packet; otherwise the caller reports or retries. Either
    /// way the backend connection is broken.
    pub failure: Option<ProxyError>,
    /// The client connection is unusable (a write to it failed).
    pub client_lost: bool,
}

/// How the answer to a command is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// COM_QUERY / COM_STMT_EXECUTE: OK, ERR, or result sets, possibly many.
    Results,
    /// COM_FIELD_LIST: column definitions then a terminator.
    FieldList,
    /// COM_STMT_FETCH: rows then a terminator.
    Rows,
}

/// When the answer to a command started arriving (shared with a watcher
/// running beside the relay in the same task).
#[derive(Debug)]
pub struct FirstByte {
    pub sent: std::time::Instant,
    /// Microseconds after `sent` plus one; 0 while nothing arrived.
    at_us: std::sync::atomic::AtomicU64,
}

impl FirstByte {
    pub fn new() -> FirstByte {
        FirstByte {
            sent: std::time::Instant::now(),
            at_us: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Marks the answer as started (the first call counts).
    pub fn arrive(&self) {
        let us = self.sent.elapsed().as_micros() as u64 + 1;
        let _ = self.at_us.compare_exchange(
            0,
            us,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// How long after the send the answer started, if it did.
    pub fn took(&self) -> Option<Duration> {
        match self.at_us.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us - 1)),
        }
    }
}

impl Default for FirstByte {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Relay<'a> {
    pub conn: &'a mut BackendConn,
    pub client: &'a mut ClientStream,
    pub client_caps: CapabilityFlags,
    pub seq: &'a mut u8,
    pub timeout: Option<Duration>,
    /// Reported as the OK's last insert id (an id the proxy generated).
    pub last_insert_id: Option<u64>,
    /// Told when the first packet of the answer arrives.
    pub first_byte: Option<&'a FirstByte>,
    /// `(physical, logical)` table names to show in result-set column
    /// definitions (a statement on one shard of a sharded table), with
    /// the session's memo of definitions renamed before.
    pub table_names: Option<(&'a LogicalNames, &'a mut RenamedDefs)>,
    /// The client negotiated MariaDB extended type info (column
    /// definitions are fitted when the backend connection differs).
    pub client_extended: bool,
    /// Sent instead of a 1146 (no such table) answer: the same error
    /// naming the logical table and its missing period.
    pub missing_table: Option<&'a ErrPacket>,
}

impl Relay<'_> {
    fn deprecate_eof(&self) -> bool {
        self.client_caps
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    async fn read(&mut self, first: bool) -> Result<bytes::Bytes> {
        Ok(self.read_seq(first).await?.1)
    }

    /// [`Relay::read`] with the packet's sequence id.
    async fn read_seq(&mut self, first: bool) -> Result<(u8, bytes::Bytes)> {
        // The deadline covers waiting for the answer to start; once rows
        // flow, a slow result is the client's business.
        // A packet already buffered whole is taken without a future (the
        // same packet `read_packet_within` would return, with no timer).
        let p = match self.conn.buffered_packet()? {
            Some(p) => p,
            None => {
                let limit = if first { self.timeout } else { None };
                self.conn.read_packet_within(limit).await?
            }
        };
        if let (true, Some(fb)) = (first, self.first_byte) {
            fb.arrive();
        }
        Ok((p.seq, p.payload))
    }

    /// The server asked for a local file (`LOAD DATA LOCAL INFILE`, packet
    /// `0xFB` + file name, sequence `seq`). The proxy never reads a file: it
    /// forwards the request to a client that announced `CLIENT_LOCAL_FILES`
    /// and copies the client's packets to the server up to the empty one
    /// that ends the file; the caller then relays the server's final answer.
    /// A client without the capability gets the server's own refusal (the
    /// server is sent an empty file and its answer is absorbed). Returns
    /// whether the final answer is still to be relayed.
    async fn relay_local_infile(
        &mut self,
        seq: u8,
        request: &[u8],
        out: &mut Outcome,
    ) -> Result<bool> {
        let mut backend_seq = seq.wrapping_add(1);
        if !self
            .client_caps
            .contains(CapabilityFlags::CLIENT_LOCAL_FILES)
        {
            self.conn.send_data(&mut backend_seq, &[]).await?;
            self.conn.flush().await?;
            let p = self.read(false).await?;
            if !is_err(&p) {
                self.absorb(&p, out);
            }
            let err = local_infile_disabled();
            let mut buf = Vec::new();
            err.encode(&mut buf);
            out.error = Some(err);
            self.send(&buf, out).await?;
            return Ok(false);
        }
        self.send(request, out).await?;
        self.client.flush().await.map_err(client_gone)?;
        loop {
            let p = self.client.read_packet().await.map_err(client_gone)?;
            *self.seq = p.seq.wrapping_add(1);
            self.conn.send_data(&mut backend_seq, &p.payload).await?;
            if p.payload.is_empty() {
                self.conn.flush().await?;
                return Ok(true);
            }
        }
    }

    /// A column definition as the client's capabilities want it: the
    /// extended metadata string removed (or an empty one added) when the
    /// backend connection negotiated otherwise.
    fn fit_definition(&self, def: bytes::Bytes) -> bytes::Bytes {
        match (self.conn.extended_metadata, self.client_extended) {
            (true, false) => crate::wire::packets::without_extended_metadata(&def),
            (false, true) => crate::wire::packets::with_empty_extended_metadata(&def).into(),
            _ => def,
        }
    }

    async fn send(&mut self, payload: &[u8], out: &mut Outcome) -> Result<()> {
        out.sent_anything = true;
        // Queued, then flushed past the high-water mark: `PacketStream::send`
        // without its future.
        self.client.queue(self.seq, payload);
        self.flush_past_high_water().await
    }

    /// Flushes the client's buffer once it reached the high-water mark.
    async fn flush_past_high_water(&mut self) -> Result<()> {
        if self.client.buffered_output() < crate::wire::codec::WRITE_HIGH_WATER {
            return Ok(());
        }
        self.client.flush().await.map_err(client_gone)
    }

    fn absorb(&mut self, payload: &[u8], out: &mut Outcome) -> Option<OkPacket> {
        let ok = self.conn.absorb_ok(payload)?;
        out.status = ok.status;
        out.warnings = ok.warnings;
        out.affected_rows = ok.affected_rows;
        out.last_insert_id = ok.last_insert_id;
        out.changes.extend(ok.changes.iter().cloned());
        Some(ok)
    }

    /// Forwards an OK-style terminator in the client's format (encoded in
    /// the client stream's buffer: no allocation).
    async fn send_terminator(&mut self, ok: &OkPacket, out: &mut Outcome) -> Result<()> {
        let (caps, deprecate_eof) = (self.client_caps, self.deprecate_eof());
        self.send_with(out, |buf| match deprecate_eof {
            true => ok.encode(caps, 0xFE, buf),
            false => encode_eof(buf, ok.warnings, ok.status),
        })
        .await
    }

    /// [`Relay::send`] of a payload built in place.
    async fn send_with(
        &mut self,
        out: &mut Outcome,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<()> {
        out.sent_anything = true;
        self.client.queue_with(self.seq, fill);
        self.flush_past_high_water().await
    }

    /// Forwards the whole answer to one command. Backend failures after
    /// something reached the client are reported to the client as an ERR
    /// here, and returned as `Err` so the caller drops the connection.
    pub async fn forward(&mut self, shape: Shape) -> Outcome {
        let mut out = Outcome::default();
        if let Err(e) = self.forward_inner(shape, &mut out).await {
            self.conn.broken = true;
            if matches!(e, ProxyError::Internal(_)) {
                out.client_lost = true;
            } else if out.sent_anything {
                let mut buf = Vec::new();
                e.to_err_packet().encode(&mut buf);
                if self.client.send(self.seq, &buf).await.is_err() {
                    out.client_lost = true;
                }
                out.error = Some(e.to_err_packet());
            }
            out.failure = Some(e);
        }
        out
    }

    async fn forward_inner(&mut self, shape: Shape, out: &mut Outcome) -> Result<()> {
        let mut first = true;
        loop {
            let (seq, mut p) = self.read_seq(first).await?;
            first = false;
            if p.first() == Some(&0xFB) && shape == Shape::Results {
                if !self.relay_local_infile(seq, &p, out).await? {
                    return Ok(());
                }
                p = self.read(false).await?;
            }
            if is_err(&p) {
                out.error = ErrPacket::parse(&p);
                if let (Some(named), Some(1146)) =
                    (self.missing_table, out.error.as_ref().map(|e| e.code))
                {
                    let mut buf = Vec::new();
                    named.encode(&mut buf);
                    out.error = Some(named.clone());
                    self.send(&buf, out).await?;
                    return Ok(());
                }
                self.send(&p, out).await?;
                return Ok(());
            }
            match shape {
                Shape::FieldList => {
                    // Column definitions until the terminator.
                    let mut p = p;
                    loop {
                        if is_terminator(&p) {
                            let ok = self.absorb(&p, out).unwrap_or_default();
                            return self.send_terminator(&ok, out).await;
                        }
                        let p_fit = self.fit_definition(p.clone());
                        self.send(&p_fit, out).await?;
                        p = self.read(false).await?;
                        if is_err(&p) {
                            out.error = ErrPacket::parse(&p);
                            return self.send(&p, out).await;
                        }
                    }
                }
                Shape::Rows => {
                    return self.forward_rows(p, out).await.map(|_| ());
                }
                Shape::Results => {}
            }
            if p.first() == Some(&0x00) {
                let mut ok = self.absorb(&p, out).ok_or_else(|| {
                    ProxyError::MalformedPacket("bad OK packet from backend".into())
                })?;
                if let Some(id) = self.last_insert_id {
                    // An id the proxy generated: the server knows nothing of it.
                    ok.last_insert_id = id;
                    out.last_insert_id = id;
                }
                let caps = self.client_caps;
                self.send_with(out, |buf| ok.encode(caps, 0x00, buf))
                    .await?;
                if ok.status & StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits() != 0 {
                    continue;
                }
                return Ok(());
            }
            // A result set: column count, definitions, rows, terminator.
            let columns = Reader::new(&p)
                .lenenc_int()
                .ok_or_else(|| ProxyError::MalformedPacket("bad column count".into()))?;
            out.result_sets += 1;
            self.send(&p, out).await?;
            for _ in 0..columns {
                let c = self.read(false).await?;
                let c = self.fit_definition(c);
                match self.table_names.take() {
                    Some((names, memo)) if !names.is_empty() => {
                        // Renamed in the client's write buffer (no copy of
                        // its own).
                        self.send_with(out, |buf| memo.write(&c, names, buf))
                            .await?;
                        self.table_names = Some((names, memo));
                    }
                    kept => {
                        self.table_names = kept;
                        self.send(&c, out).await?;
                    }
                }
            }
            if !self.deprecate_eof() {
                let status = self.conn.status;
                self.send_with(out, |buf| encode_eof(buf, 0, status))
                    .await?;
            }
            let first_row = self.read(false).await?;
            let more = self.forward_rows(first_row, out).await?;
            if !more {
                return Ok(());
            }
        }
    }

    /// Rows until a terminator (forwarded) or an error; returns whether more
    /// results follow.
    async fn forward_rows(&mut self, mut p: bytes::Bytes, out: &mut Outcome) -> Result<bool> {
        loop {
            if is_terminator(&p) {
                let ok = self.absorb(&p, out).unwrap_or_default();
                self.send_terminator(&ok, out).await?;
                return Ok(ok.status & StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits() != 0);
            }
            if is_err(&p) {
                out.error = ErrPacket::parse(&p);
                self.send(&p, out).await?;
                return Ok(false);
            }
            self.send(&p, out).await?;
            // The rows that follow already buffered whole, copied to the
            // client in runs (no packet decoded and framed again), flushed
            // at the same high-water mark as `send`; what stops a run
            // (terminator, ERR, a multi-packet row, a packet still
            // arriving) is read and sent here packet by packet.
            while self.conn.forward_buffered_rows(self.client, self.seq) > 0 {
                self.flush_past_high_water().await?;
            }
            p = self.read(false).await?;
        }
    }
}

/// A write to the client failed: the client went away.
pub fn client_gone(_: std::io::Error) -> ProxyError {
    ProxyError::ClientGone
}
