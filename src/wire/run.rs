//! Runs of whole packets copied from one stream's read buffer to another's
//! write buffer in one piece (a result's rows forwarded by the relay): no
//! packet is decoded into a buffer of its own and framed again; only each
//! packet's sequence id is rewritten.
//!
//! A run is the longest prefix of the buffered bytes made of complete
//! single-chunk packets that the caller's predicate accepts. It stops
//! before anything else — a packet the predicate refuses (a terminator, an
//! ERR), a payload of [`MAX_CHUNK`] bytes (one physical packet of a
//! multi-packet payload), a payload past `max_allowed_packet` (the codec's
//! error), a partial packet at the buffer's end — and after the packet that
//! fills the destination up to its flush mark, so that the writer flushes
//! at the same points as when it sends packet by packet. Whatever stops a
//! run is read and sent one packet at a time by the caller's usual code.
//!
//! Owns: finding a run's extent and copying it with new sequence ids. Must
//! not look inside payloads (the predicate does).

use super::codec::MAX_CHUNK;

/// The extent of a run at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Run {
    /// Bytes of the run (headers included).
    pub bytes: usize,
    /// Packets in it.
    pub packets: usize,
    /// Offset of its last packet's header (0 when empty).
    pub last_start: usize,
}

/// The payload length in a packet header.
fn header_len(h: &[u8]) -> usize {
    usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16
}

/// The run at the start of `buf`: complete single-chunk packets of at most
/// `max_payload` bytes that `plain` accepts, ending after the first packet
/// that brings the run to `room` bytes or more (a `room` of 0 allows one).
pub fn find_run(buf: &[u8], max_payload: usize, room: usize, plain: impl Fn(&[u8]) -> bool) -> Run {
    let mut run = Run::default();
    let mut at = 0usize;
    while let Some(h) = buf.get(at..at + 4) {
        let len = header_len(h);
        if len >= MAX_CHUNK || len > max_payload {
            break;
        }
        let Some(payload) = buf.get(at + 4..at + 4 + len) else {
            break;
        };
        if !plain(payload) {
            break;
        }
        run.last_start = at;
        run.packets += 1;
        at += 4 + len;
        run.bytes = at;
        if at >= room {
            break;
        }
    }
    run
}

/// Appends the first `run.bytes` of `src` (a run [`find_run`] found) to
/// `out`, numbering its packets from `*seq` on; `*seq` ends past the last.
pub fn copy_run(src: &[u8], run: &Run, out: &mut Vec<u8>, seq: &mut u8) {
    let base = out.len();
    out.extend_from_slice(&src[..run.bytes]);
    let mut at = base;
    let end = base + run.bytes;
    while at < end {
        let len = header_len(&out[at..at + 3]);
        out[at + 3] = *seq;
        *seq = seq.wrapping_add(1);
        at += 4 + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::codec::{encode_packet, PacketCodec};
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    /// A row-like predicate: not a terminator, not an ERR.
    fn plain(p: &[u8]) -> bool {
        !crate::wire::packets::is_err(p) && !crate::wire::packets::is_terminator(p)
    }

    /// The reference: packet by packet as the relay sends them (decode,
    /// test, encode), with the same stop rules and flush mark.
    fn by_packet(buf: &[u8], max: usize, room: usize, seq: &mut u8) -> (usize, Vec<u8>) {
        let mut src = BytesMut::from(buf);
        let mut out = Vec::new();
        let mut used = 0;
        loop {
            let before = src.len();
            // A multi-chunk or oversized packet is never part of a run.
            if before >= 4 {
                let len = header_len(&src[..4]);
                if len >= MAX_CHUNK || len > max {
                    break;
                }
            }
            let mut probe = src.clone();
            let Ok(Some(p)) = PacketCodec::new(max).decode(&mut probe) else {
                break;
            };
            if !plain(&p.payload) {
                break;
            }
            src = probe;
            encode_packet(&mut out, seq, &p.payload);
            used += before - src.len();
            if out.len() >= room {
                break;
            }
        }
        (used, out)
    }

    /// A deterministic generator (no dependency for one test).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn payload(rng: &mut Lcg, len: usize) -> Vec<u8> {
        let mut p: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
        if let Some(first) = p.first_mut() {
            // Mostly rows; sometimes a terminator, an ERR or a 0xFE row.
            *first = match rng.below(12) {
                0 => 0xFE,
                1 => 0xFF,
                _ => rng.below(0xFB) as u8,
            };
        }
        p
    }

    /// Random packet sequences, cut at every kind of point, against the
    /// packet-by-packet path: same bytes consumed, same output, same seq.
    #[test]
    fn matches_packet_by_packet() {
        let mut rng = Lcg(17);
        for case in 0..3000 {
            let mut buf = Vec::new();
            let mut seq = rng.below(256) as u8;
            for _ in 0..rng.below(12) {
                let len = match rng.below(10) {
                    0 => 0,
                    1..=2 => rng.below(5) as usize,
                    _ => rng.below(400) as usize,
                };
                let p = payload(&mut rng, len);
                encode_packet(&mut buf, &mut seq, &p);
            }
            // Cut anywhere: partial headers and payloads at the end.
            let cut = if rng.below(3) == 0 {
                buf.len()
            } else {
                rng.below(buf.len() as u64 + 1) as usize
            };
            let buf = &buf[..cut];
            let max = [1 << 30, 100, 0][rng.below(3) as usize];
            let room = [1 << 20, 0, 1, 300, rng.below(2000) as usize][rng.below(5) as usize];
            let start = rng.below(256) as u8;
            let (mut s1, mut s2) = (start, start);
            let (used, want) = by_packet(buf, max, room, &mut s1);
            let run = find_run(buf, max, room, plain);
            let mut got = vec![9u8; 3];
            copy_run(buf, &run, &mut got, &mut s2);
            assert_eq!(run.bytes, used, "case {case}");
            assert_eq!(&got[3..], &want[..], "case {case}");
            assert_eq!(s1, s2, "case {case}");
            assert_eq!(run.packets == 0, used == 0, "case {case}");
            if run.packets > 0 {
                let h = &buf[run.last_start..];
                assert_eq!(run.last_start + 4 + header_len(h), run.bytes, "case {case}");
            }
        }
    }

    /// Payload lengths around the chunk limit: a run stops before a
    /// payload of MAX_CHUNK bytes or more (multi-packet) and takes one of
    /// MAX_CHUNK - 1.
    #[test]
    fn chunk_limit() {
        for len in [MAX_CHUNK - 2, MAX_CHUNK - 1, MAX_CHUNK, MAX_CHUNK + 1] {
            let mut buf = Vec::new();
            let mut seq = 0;
            encode_packet(&mut buf, &mut seq, b"\x01a");
            let big = vec![0x05u8; len];
            encode_packet(&mut buf, &mut seq, &big);
            encode_packet(&mut buf, &mut seq, b"\x01b");
            let run = find_run(&buf, 1 << 30, usize::MAX, plain);
            if len < MAX_CHUNK {
                assert_eq!((run.packets, run.bytes), (3, buf.len()), "{len}");
                assert_eq!(run.last_start, buf.len() - 6, "{len}");
            } else {
                assert_eq!((run.packets, run.bytes), (1, 6), "{len}");
            }
            let mut out = Vec::new();
            let mut s = 200;
            copy_run(&buf, &run, &mut out, &mut s);
            assert_eq!(s, 200u8.wrapping_add(run.packets as u8));
        }
    }

    /// Partial headers (1 to 3 bytes) and a partial payload end a run.
    #[test]
    fn partial_tail() {
        let mut buf = Vec::new();
        let mut seq = 0;
        encode_packet(&mut buf, &mut seq, b"\x01a");
        encode_packet(&mut buf, &mut seq, b"\x03xyz");
        for cut in 6..buf.len() {
            let run = find_run(&buf[..cut], 1 << 30, usize::MAX, plain);
            assert_eq!((run.packets, run.bytes), (1, 6), "{cut}");
        }
        assert_eq!(find_run(&buf, 1 << 30, usize::MAX, plain).packets, 2);
        assert_eq!(
            find_run(&buf[..3], 1 << 30, usize::MAX, plain),
            Run::default()
        );
    }

    /// The flush mark: the run ends after the packet that reaches it.
    #[test]
    fn room() {
        let mut buf = Vec::new();
        let mut seq = 0;
        for _ in 0..10 {
            encode_packet(&mut buf, &mut seq, &[1u8; 96]);
        }
        assert_eq!(find_run(&buf, 1 << 30, 0, plain).packets, 1);
        assert_eq!(find_run(&buf, 1 << 30, 100, plain).packets, 1);
        assert_eq!(find_run(&buf, 1 << 30, 101, plain).packets, 2);
        assert_eq!(find_run(&buf, 1 << 30, 1000, plain).packets, 10);
    }
}
