//! Server-side cursors on prepared statements about sharded tables
//! (`COM_STMT_EXECUTE` with a cursor type, then `COM_STMT_FETCH`): the
//! plan runs as for any execute, but its answer (merged, in the binary
//! protocol) is written into memory; the client gets the column
//! definitions with `SERVER_STATUS_CURSOR_EXISTS`, then each fetch the
//! rows it asks for, the last one flagged `SERVER_STATUS_LAST_ROW_SENT`,
//! as a server materializing the cursor answers.
//!
//! Memory: the merged rows are held until fetched or the statement is
//! closed, reset or executed again, at most [`CURSOR_BUFFER_MAX`] bytes per
//! cursor (beyond that the execute fails with a clear error).
//!
//! Owns: opening, fetching from and closing such cursors. Must not plan or
//! merge (that is `run_plan`), nor handle cursors relayed to one server
//! (`stmt`).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use tokio_util::codec::Decoder;

use super::Session;
use crate::error::ProxyError;
use crate::execute::Encoding;
use crate::router::shard::ShardPlan;
use crate::sql::Classified;
use crate::wire::packets::{encode_eof, is_err, is_terminator, OkPacket, Reader};
use crate::wire::tls::{Capture, ClientIo};
use crate::wire::{PacketCodec, PacketStream};

/// The most a merged cursor's answer may take in memory.
pub const CURSOR_BUFFER_MAX: usize = 256 << 20;

/// The rows of an open cursor not fetched yet.
pub(super) struct MergedCursor {
    rows: VecDeque<Bytes>,
}

impl Session {
    /// Runs `plan` for a cursor on statement `id`: the answer is kept and
    /// the client gets the header (or the answer as is, when it is no
    /// result set or an error).
    pub(super) async fn run_plan_for_cursor(
        &mut self,
        id: u32,
        plan: &ShardPlan,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        self.merged_cursors.remove(&id);
        let capture = Capture {
            limit: CURSOR_BUFFER_MAX,
            ..Capture::default()
        };
        let memory = PacketStream::new(ClientIo::Capture(Box::new(capture)), usize::MAX);
        let real = std::mem::replace(&mut self.client, memory);
        let mut captured_seq = *seq;
        self.run_plan(plan, c, encoding, &mut captured_seq).await;
        let mut memory = std::mem::replace(&mut self.client, real);
        let _ = memory.flush().await;
        let capture = match std::mem::replace(memory.get_mut(), ClientIo::Gone) {
            ClientIo::Capture(c) => *c,
            _ => Capture::default(),
        };
        if capture.overflowed {
            let e = ProxyError::Unsupported(format!(
                "a cursor whose merged result exceeds {} MiB (fetch without a cursor, or \
                 narrow the statement)",
                CURSOR_BUFFER_MAX >> 20
            ));
            self.write_error_seq(&e, seq).await;
            return;
        }
        let packets = split_packets(capture.bytes);
        let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        match CursorAnswer::of(packets, deprecate_eof) {
            CursorAnswer::Relay(packets) => {
                for p in packets {
                    if self.client.send(seq, &p).await.is_err() {
                        return;
                    }
                }
            }
            CursorAnswer::Open { header, rows } => {
                for p in header {
                    if self.client.send(seq, &p).await.is_err() {
                        return;
                    }
                }
                let status = self.status | StatusFlags::SERVER_STATUS_CURSOR_EXISTS.bits();
                let _ = self.client.send(seq, &self.terminator(status)).await;
                self.merged_cursors.insert(id, MergedCursor { rows });
            }
        }
    }

    /// `COM_STMT_FETCH` of `rows` rows from a merged cursor of statement
    /// `id`; false when the statement has none (the caller answers).
    pub(super) async fn fetch_merged(&mut self, id: u32, rows: u32, seq: &mut u8) -> bool {
        let Some(cursor) = self.merged_cursors.get_mut(&id) else {
            return false;
        };
        let mut exhausted = false;
        let mut batch = Vec::new();
        for _ in 0..rows {
            match cursor.rows.pop_front() {
                Some(r) => batch.push(r),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        if exhausted {
            self.merged_cursors.remove(&id);
        }
        for r in batch {
            if self.client.send(seq, &r).await.is_err() {
                return true;
            }
        }
        // The fetch that reaches the end closes the cursor.
        let status = self.status
            | match exhausted {
                true => StatusFlags::SERVER_STATUS_LAST_ROW_SENT.bits(),
                false => StatusFlags::SERVER_STATUS_CURSOR_EXISTS.bits(),
            };
        let _ = self.client.send(seq, &self.terminator(status)).await;
        true
    }

    /// Forgets statement `id`'s merged cursor (close, reset).
    pub(super) fn close_merged_cursor(&mut self, id: u32) -> bool {
        self.merged_cursors.remove(&id).is_some()
    }

    /// The end of a header or a fetch, for the client's capabilities.
    fn terminator(&self, status: u16) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16);
        if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
            OkPacket {
                status,
                ..OkPacket::default()
            }
            .encode(self.caps, 0xFE, &mut buf);
        } else {
            encode_eof(&mut buf, 0, status);
        }
        buf
    }
}

/// What a captured answer becomes for a cursor.
#[derive(Debug, PartialEq)]
enum CursorAnswer {
    /// No result set (an OK, an error, or a result that failed midway: its
    /// error alone): sent as is.
    Relay(Vec<Bytes>),
    /// A result set: the column count and definitions to send now, the
    /// rows to fetch.
    Open {
        header: Vec<Bytes>,
        rows: VecDeque<Bytes>,
    },
}

impl CursorAnswer {
    fn of(packets: Vec<Bytes>, deprecate_eof: bool) -> CursorAnswer {
        let Some(first) = packets.first() else {
            return CursorAnswer::Relay(packets);
        };
        if is_err(first) || first.first() == Some(&0x00) {
            return CursorAnswer::Relay(packets);
        }
        let Some(columns) = Reader::new(first).lenenc_int() else {
            return CursorAnswer::Relay(packets);
        };
        let columns = usize::try_from(columns).unwrap_or(usize::MAX);
        let header_end = 1usize.saturating_add(columns);
        let rows_start = header_end + usize::from(!deprecate_eof);
        match packets.last() {
            Some(last) if is_err(last) => return CursorAnswer::Relay(vec![last.clone()]),
            Some(last) if is_terminator(last) && packets.len() > rows_start => {}
            _ => return CursorAnswer::Relay(packets),
        }
        let mut packets = packets;
        packets.pop();
        let rows: VecDeque<Bytes> = packets.drain(rows_start..).collect();
        packets.truncate(header_end);
        CursorAnswer::Open {
            header: packets,
            rows,
        }
    }
}

/// The packets of a captured answer (continuations joined).
fn split_packets(bytes: Vec<u8>) -> Vec<Bytes> {
    let mut codec = PacketCodec::new(usize::MAX);
    let mut buf = BytesMut::from(&bytes[..]);
    let mut out = Vec::new();
    while let Ok(Some(p)) = codec.decode(&mut buf) {
        out.push(p.payload);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: &[u8]) -> Bytes {
        Bytes::copy_from_slice(x)
    }

    #[test]
    fn answers_split_into_header_and_rows() {
        let eof = b(&[0xFE, 0, 0, 2, 0]);
        for deprecate in [false, true] {
            for rows in 0..4usize {
                let mut packets = vec![b(&[2]), b(b"def1"), b(b"def2")];
                if !deprecate {
                    packets.push(eof.clone());
                }
                for r in 0..rows {
                    packets.push(b(&[0, r as u8]));
                }
                packets.push(eof.clone());
                let CursorAnswer::Open { header, rows: got } = CursorAnswer::of(packets, deprecate)
                else {
                    panic!("not opened");
                };
                assert_eq!(header, vec![b(&[2]), b(b"def1"), b(b"def2")]);
                assert_eq!(got.len(), rows);
            }
        }
        let err = b(&[0xFF, 0x10, 0x04, b'#']);
        assert_eq!(
            CursorAnswer::of(vec![b(&[1]), b(b"d"), err.clone()], true),
            CursorAnswer::Relay(vec![err.clone()])
        );
        let ok = b(&[0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(
            CursorAnswer::of(vec![ok.clone()], true),
            CursorAnswer::Relay(vec![ok])
        );
    }

    #[test]
    fn captured_bytes_split_back_into_packets() {
        let mut bytes = Vec::new();
        let mut seq = 1u8;
        for p in [&b"abc"[..], b"", b"hello"] {
            crate::wire::codec::encode_packet(&mut bytes, &mut seq, p);
        }
        assert_eq!(split_packets(bytes), vec![b(b"abc"), b(b""), b(b"hello")]);
    }
}
