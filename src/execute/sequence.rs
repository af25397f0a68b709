//! Several targets' answers relayed one after the other as one result:
//! the first answer's header, every answer's rows untouched (text or
//! binary), one terminator. For reads that need no merge in a session
//! pinned to one connection per node (`mysqldump --single-transaction`
//! reads `SELECT * FROM t` this way), where the targets sharing a node
//! must run one after the other on its connection.
//!
//! Owns: that concatenated relay on the wire. Must not: choose
//! connections, send the targets' commands, or merge rows.

use mysql_common::constants::CapabilityFlags;

use super::relay::{client_gone, ClientStream, Outcome};
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::wire::packets::{encode_eof, is_err, is_terminator, ErrPacket, OkPacket, Reader};

/// The client side of a concatenated relay.
pub struct Sequence<'a> {
    client: &'a mut ClientStream,
    caps: CapabilityFlags,
    seq: &'a mut u8,
    /// Status flags for the header's EOF (no CLIENT_DEPRECATE_EOF).
    status: u16,
    /// Column count of the first answer with a result set.
    columns: Option<usize>,
    outcome: Outcome,
}

fn backend_err(p: &[u8]) -> ProxyError {
    ProxyError::Backend(
        ErrPacket::parse(p).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "shard error")),
    )
}

impl<'a> Sequence<'a> {
    pub fn new(
        client: &'a mut ClientStream,
        caps: CapabilityFlags,
        seq: &'a mut u8,
        status: u16,
    ) -> Self {
        Sequence {
            client,
            caps,
            seq,
            status,
            columns: None,
            outcome: Outcome {
                status,
                ..Outcome::default()
            },
        }
    }

    async fn send(&mut self, payload: &[u8]) -> Result<()> {
        self.client
            .send(self.seq, payload)
            .await
            .map_err(client_gone)
    }

    /// Relays the answer to the command just sent on `conn`: its header
    /// if it is the first, then its rows. A backend error ends the
    /// sequence (the connection has read its answer to the end).
    pub async fn relay(&mut self, conn: &mut BackendConn) -> Result<()> {
        let head = conn.read_packet().await?.payload;
        if is_err(&head) {
            return Err(backend_err(&head));
        }
        if head.first() == Some(&0x00) {
            // No result set (cannot happen for a SELECT): nothing to add.
            conn.absorb_ok(&head);
            return Ok(());
        }
        let n = Reader::new(&head).lenenc_int().unwrap_or(0) as usize;
        let mut defs = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            defs.push(conn.read_packet().await?.payload);
        }
        match self.columns {
            None => {
                self.columns = Some(n);
                self.outcome.sent_anything = true;
                self.outcome.result_sets = 1;
                self.send(&head).await?;
                for d in &defs {
                    self.send(d).await?;
                }
                if !self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
                    let mut buf = Vec::new();
                    encode_eof(&mut buf, 0, self.status);
                    self.send(&buf).await?;
                }
            }
            Some(m) if m != n => {
                conn.unread_rows = true;
                return Err(ProxyError::Internal(format!(
                    "shards answered with {m} and {n} columns"
                )));
            }
            Some(_) => {}
        }
        loop {
            // The rows already buffered whole, copied to the client in runs
            // (no packet made of each), as `Relay` forwards them; what
            // stops a run is read here.
            while conn.forward_buffered_rows(self.client, self.seq) > 0 {
                if self.client.buffered_output() >= crate::wire::codec::WRITE_HIGH_WATER {
                    if let Err(e) = self.client.flush().await.map_err(client_gone) {
                        conn.unread_rows = true;
                        return Err(e);
                    }
                }
            }
            let p = conn.read_packet().await?.payload;
            if is_err(&p) {
                return Err(backend_err(&p));
            }
            if is_terminator(&p) {
                if let Some(ok) = conn.absorb_ok(&p) {
                    self.outcome.warnings = self.outcome.warnings.saturating_add(ok.warnings);
                    self.outcome.status = ok.status;
                }
                return Ok(());
            }
            if let Err(e) = self.send(&p).await {
                // The rest of this answer is read before the connection
                // is used again.
                conn.unread_rows = true;
                return Err(e);
            }
        }
    }

    /// Ends the result: the terminator, or the error that stopped it
    /// (before or in the middle of the rows, as a server's error while
    /// sending rows does).
    pub async fn finish(mut self, failure: Option<ProxyError>) -> Outcome {
        let mut buf = Vec::new();
        match failure {
            Some(ProxyError::ClientGone) => {
                self.outcome.client_lost = true;
                self.outcome.failure = Some(ProxyError::ClientGone);
                return self.outcome;
            }
            Some(e) => {
                let err = e.to_err_packet();
                err.encode(&mut buf);
                self.outcome.error = Some(err);
            }
            None => {
                let ok = OkPacket {
                    status: self.outcome.status,
                    warnings: self.outcome.warnings,
                    ..OkPacket::default()
                };
                if self.columns.is_none() {
                    // No target answered with rows: an OK, as the server
                    // would for such a statement.
                    ok.encode(self.caps, 0x00, &mut buf);
                } else if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
                    ok.encode(self.caps, 0xFE, &mut buf);
                } else {
                    encode_eof(&mut buf, self.outcome.warnings, self.outcome.status);
                }
            }
        }
        if self.send(&buf).await.is_err() {
            self.outcome.client_lost = true;
        }
        self.outcome
    }
}
