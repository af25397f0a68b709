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
use crate::merge::{ColumnInfo, TextRow};
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
        }
    }

    /// True once a packet went to the client.
    pub fn started(&self) -> bool {
        self.started
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
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        match self.binary {
            Some(columns) => crate::merge::binary::encode_row(row, columns, self.visible, &mut buf)
                .map_err(|e| ProxyError::Internal(e.to_string()))?,
            None => row.encode_prefix(self.visible, &mut buf),
        }
        let sent = self.send(&buf).await;
        self.buf = buf;
        sent
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
