//! MySQL packet framing: the 4-byte header (3-byte little-endian length and a
//! sequence id), payloads of 16 MiB - 1 and more split into continuation
//! packets, and a buffered stream used by both sides of the proxy.
//!
//! Owns: bytes on the socket ⇄ logical packets. Must not look inside payloads;
//! that is `wire::packets`' job.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;

/// Largest payload of one physical packet; a payload of exactly this size is
/// followed by a continuation packet (possibly empty).
pub const MAX_CHUNK: usize = 0xFF_FFFF;

/// One logical packet: the sequence id of its *last* physical packet (the
/// reply continues from it) and the joined payload.
#[derive(Debug, Clone)]
pub struct Packet {
    pub seq: u8,
    pub payload: Bytes,
}

/// Frames logical packets out of a byte stream, joining continuations.
#[derive(Debug, Clone)]
pub struct PacketCodec {
    /// Logical payloads larger than this are refused (the proxy's
    /// `max_allowed_packet`), so a hostile length cannot make us allocate.
    pub max_payload: usize,
}

impl PacketCodec {
    pub fn new(max_payload: usize) -> Self {
        PacketCodec { max_payload }
    }
}

/// Error raised when a peer announces a packet larger than allowed.
pub fn too_large(len: usize, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("packet of {len} bytes is larger than max_allowed_packet ({max})"),
    )
}

impl Decoder for PacketCodec {
    type Item = Packet;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Packet>> {
        // Walk the physical packets without consuming until the logical packet
        // is complete: the common case (one chunk) costs one header read.
        let mut offset = 0usize;
        let mut total = 0usize;
        let mut chunks = 0usize;
        let last_seq;
        loop {
            if src.len() < offset + 4 {
                src.reserve(offset + 4 - src.len());
                return Ok(None);
            }
            let len =
                u32::from_le_bytes([src[offset], src[offset + 1], src[offset + 2], 0]) as usize;
            total += len;
            if total > self.max_payload {
                return Err(too_large(total, self.max_payload));
            }
            if src.len() < offset + 4 + len {
                src.reserve(offset + 4 + len - src.len());
                return Ok(None);
            }
            chunks += 1;
            let header_seq = src[offset + 3];
            offset += 4 + len;
            if len < MAX_CHUNK {
                last_seq = header_seq;
                break;
            }
        }
        if chunks == 1 {
            let mut frame = src.split_to(offset);
            frame.advance(4);
            return Ok(Some(Packet {
                seq: last_seq,
                payload: frame.freeze(),
            }));
        }
        let mut payload = BytesMut::with_capacity(total);
        let mut frame = src.split_to(offset);
        while frame.has_remaining() {
            let len = u32::from_le_bytes([frame[0], frame[1], frame[2], 0]) as usize;
            frame.advance(4);
            payload.extend_from_slice(&frame[..len]);
            frame.advance(len);
        }
        Ok(Some(Packet {
            seq: last_seq,
            payload: payload.freeze(),
        }))
    }
}

/// Appends `payload` framed as one logical packet starting at `*seq`; advances
/// `*seq` past every physical packet written.
pub fn encode_packet(out: &mut Vec<u8>, seq: &mut u8, payload: &[u8]) {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.reserve(4 + n);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(*seq);
        *seq = seq.wrapping_add(1);
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if n < MAX_CHUNK {
            break;
        }
    }
}

/// A socket with a read buffer and a write buffer, speaking packets.
///
/// Writes are buffered until `flush` so that a whole result (or a large part
/// of it) goes out in few syscalls.
pub struct PacketStream<S> {
    io: S,
    codec: PacketCodec,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    /// While set, `flush` keeps the last queued packet back (a statement
    /// of a split multi-statement query: its final status is patched once
    /// it is known that more results follow).
    hold_last: bool,
    /// Offset in `write_buf` of the last queued packet's header.
    last_start: usize,
    /// A flush that makes no progress for this long fails with `TimedOut`
    /// (a peer that stopped reading; `[server] client_write_timeout_ms`).
    write_timeout: Option<std::time::Duration>,
    /// A write failed part-way (e.g. timed out): what the peer got is
    /// unknown, so every later write fails at once.
    write_failed: bool,
}

/// Flush the write buffer once it grows past this, to bound memory while
/// streaming large results to a slow client.
pub const WRITE_HIGH_WATER: usize = 256 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> PacketStream<S> {
    pub fn new(io: S, max_payload: usize) -> Self {
        PacketStream {
            io,
            codec: PacketCodec::new(max_payload),
            read_buf: BytesMut::with_capacity(4 * 1024),
            write_buf: Vec::with_capacity(1024),
            hold_last: false,
            last_start: 0,
            write_timeout: None,
            write_failed: false,
        }
    }

    /// See [`PacketStream::write_all`]; `None`: wait as long as it takes.
    pub fn set_write_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.write_timeout = timeout;
    }

    /// Writes `buf` to the peer; with a write timeout, each write must make
    /// progress within it. While a peer does not read, this waits (TCP flow
    /// control), so nothing upstream is read and nothing piles up here.
    async fn write_all(
        io: &mut S,
        buf: &[u8],
        timeout: Option<std::time::Duration>,
    ) -> io::Result<()> {
        let Some(limit) = timeout else {
            return io.write_all(buf).await;
        };
        let mut done = 0;
        while done < buf.len() {
            // A write the socket takes at once (nearly every one) needs no
            // timer: only one that must wait is bounded.
            let mut write = std::pin::pin!(io.write(&buf[done..]));
            let written = match futures::poll!(write.as_mut()) {
                std::task::Poll::Ready(r) => Ok(r),
                std::task::Poll::Pending => tokio::time::timeout(limit, write).await,
            };
            match written {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => done += n,
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the peer read nothing for {} ms", limit.as_millis()),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Keeps (or stops keeping) the last queued packet out of flushes; see
    /// [`PacketStream::last_payload_mut`].
    pub fn hold_last(&mut self, on: bool) {
        self.hold_last = on;
    }

    /// The payload of the last queued packet while it is still buffered
    /// (one physical packet; `None` once it was written).
    pub fn last_payload_mut(&mut self) -> Option<&mut [u8]> {
        let start = self.last_start.checked_add(4)?;
        let len = self
            .write_buf
            .get(self.last_start..start)
            .map(|h| usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16)?;
        self.write_buf.get_mut(start..start + len)
    }

    pub fn set_max_payload(&mut self, max: usize) {
        self.codec.max_payload = max;
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Takes the bytes read but not yet framed (when the stream changes
    /// hands, e.g. to TLS after the SSL request).
    pub fn take_buffered_input(&mut self) -> Bytes {
        self.read_buf.split().freeze()
    }

    /// Reads one logical packet; `UnexpectedEof` when the peer closed.
    pub async fn read_packet(&mut self) -> io::Result<Packet> {
        if self.hold_last && !self.write_buf.is_empty() {
            // The peer answers what was sent (a LOAD DATA file request):
            // nothing may be held back now.
            self.io.write_all(&self.write_buf).await?;
            self.write_buf.clear();
            self.last_start = 0;
            self.io.flush().await?;
        }
        loop {
            if let Some(p) = self.codec.decode(&mut self.read_buf)? {
                return Ok(p);
            }
            if self.read_buf.is_empty() && self.read_buf.capacity() > 64 * 1024 {
                self.read_buf = BytesMut::with_capacity(4 * 1024);
            }
            let n = self.io.read_buf(&mut self.read_buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by peer",
                ));
            }
        }
    }

    /// The next logical packet when it is already buffered whole: no read,
    /// no wait (the rest of an answer usually came in the segment of its
    /// first packet, so reading it needs no timer). `None`: read with
    /// [`PacketStream::read_packet`].
    pub fn buffered_packet(&mut self) -> io::Result<Option<Packet>> {
        if self.read_buf.is_empty() || (self.hold_last && !self.write_buf.is_empty()) {
            return Ok(None);
        }
        self.codec.decode(&mut self.read_buf)
    }

    /// The next packet's payload, borrowed, when it is buffered whole in
    /// one physical packet (no continuation) within the size limit: what
    /// [`PacketStream::buffered_packet`] would return, without taking it
    /// off the buffer (no `Bytes` made). `take` decides from the payload
    /// whether to consume it (then it is gone, as if read) and what to
    /// answer; `None` when nothing suitable is buffered or `take` declined.
    pub fn take_buffered_payload<R>(&mut self, take: impl FnOnce(&[u8]) -> Option<R>) -> Option<R> {
        let payload = self.peek_buffered_payload()?;
        let len = payload.len();
        let r = take(payload)?;
        self.read_buf.advance(4 + len);
        Some(r)
    }

    /// The payload [`PacketStream::take_buffered_payload`] would show,
    /// borrowed and left in the buffer (see
    /// [`PacketStream::skip_buffered_payload`]).
    #[inline(always)]
    pub fn peek_buffered_payload(&self) -> Option<&[u8]> {
        if self.hold_last && !self.write_buf.is_empty() {
            return None;
        }
        let b = &self.read_buf[..];
        let header = b.get(..4)?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
        if len >= MAX_CHUNK || len > self.codec.max_payload {
            return None;
        }
        b.get(4..4 + len)
    }

    /// Consumes the payload [`PacketStream::peek_buffered_payload`]
    /// showed (nothing when none is buffered whole).
    pub fn skip_buffered_payload(&mut self) {
        if let Some(n) = self.peek_buffered_payload().map(<[u8]>::len) {
            self.read_buf.advance(4 + n);
        }
    }

    /// Moves the run of whole packets `plain` accepts at the start of the
    /// read buffer to `to`'s write buffer, numbered from `*seq` on (see
    /// [`super::run`]): the same bytes [`PacketStream::buffered_packet`]
    /// then [`PacketStream::queue`] would move packet by packet, up to the
    /// packet that brings `to` to its high-water mark ([`WRITE_HIGH_WATER`]:
    /// flush it then, as [`PacketStream::send`] would). Returns the packets
    /// moved.
    pub fn move_run_to<T>(
        &mut self,
        to: &mut PacketStream<T>,
        seq: &mut u8,
        plain: impl Fn(&[u8]) -> bool,
    ) -> usize {
        if self.read_buf.is_empty() || (self.hold_last && !self.write_buf.is_empty()) {
            return 0;
        }
        let room = WRITE_HIGH_WATER.saturating_sub(to.write_buf.len());
        let run = super::run::find_run(&self.read_buf, self.codec.max_payload, room, plain);
        if run.packets == 0 {
            return 0;
        }
        to.last_start = to.write_buf.len() + run.last_start;
        super::run::copy_run(&self.read_buf, &run, &mut to.write_buf, seq);
        self.read_buf.advance(run.bytes);
        run.packets
    }

    /// True when a complete packet (or more bytes) is already buffered: used to
    /// tell pipelined commands apart from an idle socket.
    pub fn has_buffered_input(&self) -> bool {
        !self.read_buf.is_empty()
    }

    /// Queues one logical packet; see [`encode_packet`].
    pub fn queue(&mut self, seq: &mut u8, payload: &[u8]) {
        self.last_start = self.write_buf.len();
        encode_packet(&mut self.write_buf, seq, payload);
    }

    /// Queues one logical packet whose payload `fill` appends to the write
    /// buffer in place (a terminator or OK built without a buffer of its
    /// own); framed as [`encode_packet`] frames it.
    pub fn queue_with(&mut self, seq: &mut u8, fill: impl FnOnce(&mut Vec<u8>)) {
        let start = self.write_buf.len();
        self.write_buf.extend_from_slice(&[0, 0, 0, *seq]);
        fill(&mut self.write_buf);
        let len = self.write_buf.len() - start - 4;
        if len >= MAX_CHUNK {
            // Too long for one physical packet: framed again in pieces.
            let payload = self.write_buf.split_off(start + 4);
            self.write_buf.truncate(start);
            self.queue(seq, &payload);
            return;
        }
        self.write_buf[start..start + 3].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
        *seq = seq.wrapping_add(1);
        self.last_start = start;
    }

    /// Queues a packet and flushes when the buffer is past its high-water mark.
    pub async fn send(&mut self, seq: &mut u8, payload: &[u8]) -> io::Result<()> {
        self.queue(seq, payload);
        self.flush_past_high_water().await
    }

    /// [`PacketStream::queue_with`], flushing past the high-water mark.
    pub async fn send_with(
        &mut self,
        seq: &mut u8,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<()> {
        self.queue_with(seq, fill);
        self.flush_past_high_water().await
    }

    async fn flush_past_high_water(&mut self) -> io::Result<()> {
        if self.write_buf.len() >= WRITE_HIGH_WATER {
            self.flush().await?;
        }
        Ok(())
    }

    pub fn buffered_output(&self) -> usize {
        self.write_buf.len()
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_failed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write to this peer failed",
            ));
        }
        let flushed = self.flush_buffered().await;
        self.write_failed = flushed.is_err();
        flushed
    }

    async fn flush_buffered(&mut self) -> io::Result<()> {
        if self.hold_last {
            let upto = self.last_start.min(self.write_buf.len());
            if upto > 0 {
                Self::write_all(&mut self.io, &self.write_buf[..upto], self.write_timeout).await?;
                self.write_buf.drain(..upto);
                self.last_start = 0;
            }
            return self.io.flush().await;
        }
        if !self.write_buf.is_empty() {
            Self::write_all(&mut self.io, &self.write_buf, self.write_timeout).await?;
            self.write_buf.clear();
            // Idle connections should not keep a large result's buffer.
            if self.write_buf.capacity() > 64 * 1024 {
                self.write_buf.shrink_to(16 * 1024);
            }
        }
        self.io.flush().await
    }

    /// Drops any unread input (after a protocol error the stream is unusable).
    pub fn discard_input(&mut self) {
        self.read_buf.clear();
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8], seq: u8) -> (Vec<u8>, u8) {
        let mut out = Vec::new();
        let mut s = seq;
        encode_packet(&mut out, &mut s, payload);
        (out, s)
    }

    #[test]
    fn small_packet_roundtrip() {
        let (bytes, next) = frame(b"\x03SELECT 1", 0);
        assert_eq!(next, 1);
        let mut buf = BytesMut::from(&bytes[..]);
        let p = PacketCodec::new(1 << 30).decode(&mut buf).unwrap().unwrap();
        assert_eq!(p.seq, 0);
        assert_eq!(&p.payload[..], b"\x03SELECT 1");
        assert!(buf.is_empty());
    }

    #[test]
    fn exact_chunk_needs_empty_continuation() {
        let payload = vec![7u8; MAX_CHUNK];
        let (bytes, next) = frame(&payload, 3);
        assert_eq!(next, 5);
        assert_eq!(bytes.len(), MAX_CHUNK + 8);
        let mut buf = BytesMut::from(&bytes[..]);
        let p = PacketCodec::new(1 << 30).decode(&mut buf).unwrap().unwrap();
        assert_eq!(p.payload.len(), MAX_CHUNK);
        assert_eq!(
            p.seq, 4,
            "the reply continues after the last physical packet"
        );
    }

    #[test]
    fn large_packet_split_and_joined() {
        let payload: Vec<u8> = (0..(MAX_CHUNK * 2 + 10)).map(|i| i as u8).collect();
        let (bytes, next) = frame(&payload, 0);
        assert_eq!(next, 3);
        let mut codec = PacketCodec::new(1 << 30);
        // Feed in pieces: incomplete input yields None until complete.
        let mut buf = BytesMut::from(&bytes[..MAX_CHUNK + 100]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&bytes[MAX_CHUNK + 100..]);
        let p = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&p.payload[..], &payload[..]);
    }

    #[test]
    fn two_packets_in_one_segment() {
        let (mut a, _) = frame(b"\x19\x01\x00\x00\x00", 0);
        let (b, _) = frame(b"\x03SELECT 2", 0);
        a.extend_from_slice(&b);
        let mut buf = BytesMut::from(&a[..]);
        let mut codec = PacketCodec::new(1024);
        assert_eq!(
            &codec.decode(&mut buf).unwrap().unwrap().payload[..],
            b"\x19\x01\x00\x00\x00"
        );
        assert_eq!(
            &codec.decode(&mut buf).unwrap().unwrap().payload[..],
            b"\x03SELECT 2"
        );
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    /// A payload filled in place is framed as `encode_packet` frames it,
    /// at every length around the chunk limit, after other packets.
    #[test]
    fn queue_with_frames_as_encode_packet() {
        for len in [0, 1, 250, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 3] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut want = Vec::new();
            let mut want_seq = 7;
            encode_packet(&mut want, &mut want_seq, b"first");
            encode_packet(&mut want, &mut want_seq, &payload);
            let mut stream = PacketStream::new(tokio::io::empty(), 1 << 30);
            let mut seq = 7;
            stream.queue(&mut seq, b"first");
            stream.queue_with(&mut seq, |out| out.extend_from_slice(&payload));
            assert_eq!(seq, want_seq, "{len}");
            assert!(stream.write_buf == want, "{len}");
        }
    }

    #[test]
    fn oversized_is_refused_before_buffering() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0x7f, 0][..]);
        assert!(PacketCodec::new(1024).decode(&mut buf).is_err());
    }
}
