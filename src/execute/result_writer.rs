//! The client side of a merged SELECT: the result header (column count,
//! column definitions, and an EOF unless the client set
//! `CLIENT_DEPRECATE_EOF`), the rows in the text or binary protocol, and
//! the terminator.
//!
//! Owns: every packet a merge sends to the client. Must not decide which
//! rows or columns (that is `execute::merge`).

use bytes::Bytes;
use mysql_common::constants::{CapabilityFlags, StatusFlags};
use tokio::io::{AsyncRead, AsyncWrite};

use super::merge::RowSource;
use super::relay::client_gone;
use crate::error::{ProxyError, Result};
use crate::merge::{ColumnInfo, RowView, TextRow};
use crate::wire::packets::{encode_eof, put_lenenc_int, OkPacket};
use crate::wire::PacketStream;

pub struct ResultWriter<'c, S> {
    client: &'c mut PacketStream<S>,
    seq: &'c mut u8,
    caps: CapabilityFlags,
    status: u16,
    /// Binary-protocol rows (a prepared statement): the shard columns to
    /// encode with.
    binary: Option<&'c [ColumnInfo]>,
    visible: usize,
    buf: Vec<u8>,
    started: bool,
    /// Rows sent so far.
    rows_sent: u64,
}

impl<'c, S: AsyncRead + AsyncWrite + Unpin> ResultWriter<'c, S> {
    pub fn new(
        client: &'c mut PacketStream<S>,
        seq: &'c mut u8,
        caps: CapabilityFlags,
        status: u16,
        binary: Option<&'c [ColumnInfo]>,
        visible: usize,
    ) -> Self {
        ResultWriter {
            client,
            seq,
            caps,
            status,
            binary,
            visible,
            buf: Vec::new(),
            started: false,
            rows_sent: 0,
        }
    }

    /// True once a packet went to the client.
    pub fn started(&self) -> bool {
        self.started
    }

    /// Rows sent so far.
    pub fn rows_sent(&self) -> u64 {
        self.rows_sent
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF)
    }

    async fn send(&mut self, payload: &[u8]) -> Result<()> {
        self.client
            .send(self.seq, payload)
            .await
            .map_err(client_gone)
    }

    /// The result header: the visible columns' count and `defs`.
    pub async fn header(&mut self, defs: &[Bytes]) -> Result<()> {
        let mut buf = Vec::new();
        put_lenenc_int(&mut buf, self.visible as u64);
        self.send(&buf).await?;
        self.started = true;
        for d in defs {
            self.send(d).await?;
        }
        if !self.deprecate_eof() {
            let mut eof = Vec::new();
            encode_eof(&mut eof, 0, self.status);
            self.send(&eof).await?;
        }
        Ok(())
    }

    /// One row: its first `visible` values.
    pub async fn row(&mut self, row: &TextRow) -> Result<()> {
        self.buf.clear();
        if self.binary.is_none() {
            // A text row sent as it came (no re-encoding, no copy).
            if let Some(packet) = row.prefix_packet(self.visible) {
                self.rows_sent += 1;
                return self
                    .client
                    .send(self.seq, packet)
                    .await
                    .map_err(client_gone);
            }
        }
        match self.binary {
            Some(columns) => {
                crate::merge::binary::encode_row(row, columns, self.visible, &mut self.buf)
                    .map_err(|e| ProxyError::Internal(e.to_string()))?
            }
            None => row.encode_prefix(self.visible, &mut self.buf),
        }
        self.rows_sent += 1;
        self.client
            .send(self.seq, &self.buf)
            .await
            .map_err(client_gone)
    }

    /// True for text-protocol rows (a row's payload is sent as it came).
    pub fn is_text(&self) -> bool {
        self.binary.is_none()
    }

    /// A text row's payload as a shard sent it, cut to the visible values
    /// (see `ShardStream::copy_ready_rows`), queued: what [`Self::row`]
    /// sends for that row. Written by the next [`Self::flush_if_full`] or
    /// flush.
    pub fn queue_row_payload(&mut self, payload: &[u8]) {
        self.rows_sent += 1;
        self.client.queue(self.seq, payload);
    }

    /// A text row's first `visible` values, queued (as
    /// [`Self::queue_row_payload`]): the row's payload as it came when it
    /// is that prefix, else re-encoded.
    pub fn queue_row(&mut self, row: RowView<'_>) {
        match row.prefix_packet(self.visible) {
            Some(p) => self.queue_row_payload(p),
            None => {
                self.buf.clear();
                row.encode_prefix(self.visible, &mut self.buf);
                self.rows_sent += 1;
                self.client.queue(self.seq, &self.buf);
            }
        }
    }

    /// Whether the queued packets passed the high-water mark (write them:
    /// [`Self::flush_if_full`]).
    pub fn is_full(&self) -> bool {
        self.client.buffered_output() >= crate::wire::codec::WRITE_HIGH_WATER
    }

    /// Writes the queued packets once they pass the stream's high-water
    /// mark (as [`Self::row`] does after each row).
    pub async fn flush_if_full(&mut self) -> Result<()> {
        if self.is_full() {
            self.client.flush().await.map_err(client_gone)?;
        }
        Ok(())
    }

    /// Every row of `rows`.
    pub async fn rows<R: RowSource>(&mut self, mut rows: R) -> Result<()> {
        while let Some(row) = rows.next().await? {
            self.row(&row).await?;
        }
        Ok(())
    }

    /// The terminator; returns the status flags it reported.
    pub async fn finish(&mut self, warnings: u16) -> Result<u16> {
        let mut term = Vec::new();
        let status = self.status & !StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits();
        if self.deprecate_eof() {
            OkPacket {
                status,
                warnings,
                ..OkPacket::default()
            }
            .encode(self.caps, 0xFE, &mut term);
        } else {
            encode_eof(&mut term, warnings, status);
        }
        self.send(&term).await?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::merge::testing::{col, row};
    use crate::execute::merge::MemorySource;
    use mysql_common::constants::ColumnType;

    /// What the writer sends for a header, two rows and the terminator,
    /// read back from the other end of a pipe: (sequence id, payload).
    async fn exchange(caps: CapabilityFlags, binary: bool) -> Vec<(u8, Vec<u8>)> {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let mut client = PacketStream::new(ours, 1 << 24);
        let mut seq = 1u8;
        let columns = [col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0)];
        let mut w = ResultWriter::new(
            &mut client,
            &mut seq,
            caps,
            0x0002,
            binary.then_some(&columns[..]),
            1,
        );
        w.header(&[Bytes::from_static(b"def")]).await.unwrap();
        assert!(w.started());
        let rows = vec![row(&[Some("7"), Some("hidden")]), row(&[None, None])];
        w.rows(MemorySource::new(rows)).await.unwrap();
        assert_eq!(w.finish(3).await.unwrap(), 0x0002);
        client.flush().await.unwrap();
        drop(client);
        let mut theirs = PacketStream::new(theirs, 1 << 24);
        let mut packets = Vec::new();
        while let Ok(p) = theirs.read_packet().await {
            packets.push((p.seq, p.payload.to_vec()));
        }
        packets
    }

    #[tokio::test]
    async fn text_rows_with_eof() {
        let packets = exchange(CapabilityFlags::empty(), false).await;
        let payloads: Vec<&[u8]> = packets.iter().map(|p| &p.1[..]).collect();
        assert_eq!(
            payloads,
            vec![
                &b"\x01"[..],
                b"def",
                b"\xfe\x00\x00\x02\x00",
                b"\x017",
                b"\xfb",
                b"\xfe\x03\x00\x02\x00",
            ]
        );
        let seqs: Vec<u8> = packets.iter().map(|p| p.0).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    }

    #[tokio::test]
    async fn binary_rows_without_eof() {
        let packets = exchange(CapabilityFlags::CLIENT_DEPRECATE_EOF, true).await;
        assert_eq!(packets.len(), 5);
        assert_eq!(packets[2].1, b"\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00");
        assert_eq!(packets[3].1, b"\x00\x04");
        // The terminator is an OK packet with the 0xFE header.
        assert_eq!(packets[4].1[0], 0xFE);
    }
}
