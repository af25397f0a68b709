//! Replies the session itself writes to the client (OK and ERR packets),
//! shaped for the client's capabilities.
//!
//! Owns: encoding those replies (a server's 1146 on a period table goes
//! out naming the logical table and period). Must not: decide what to
//! answer.

use super::Session;
use crate::error::ProxyError;
use crate::wire::packets::OkPacket;

impl Session {
    pub(super) async fn write_ok(
        &mut self,
        seq: &mut u8,
        affected: u64,
        last_id: u64,
        status: u16,
        warnings: u16,
    ) {
        let ok = OkPacket {
            affected_rows: affected,
            last_insert_id: last_id,
            status,
            warnings,
            ..OkPacket::default()
        };
        self.write_ok_packet(seq, &ok).await;
    }

    /// An OK the proxy composed (info text and session changes included),
    /// encoded for the client's capabilities.
    pub(super) async fn write_ok_packet(&mut self, seq: &mut u8, ok: &OkPacket) {
        let mut buf = Vec::with_capacity(16 + ok.info.len());
        ok.encode(self.caps, 0x00, &mut buf);
        let _ = self.client.send(seq, &buf).await;
    }

    pub(super) async fn write_error_seq(&mut self, e: &ProxyError, seq: &mut u8) {
        self.note_error(e);
        let mut buf = Vec::new();
        // A missing period table, named by the server's message.
        let period = match e {
            ProxyError::Backend(p) if p.code == 1146 => {
                let router = self.proxy.config.load().sharding.clone();
                router.missing_period_in_error(&p.message)
            }
            _ => None,
        };
        match (e, &self.missing_table, period) {
            (_, _, Some(message)) => {
                crate::wire::packets::ErrPacket::new(1146, "42S02", message).encode(&mut buf)
            }
            // A scattered write on a missing period table.
            (ProxyError::Backend(p), Some(named), None) if p.code == 1146 => named.encode(&mut buf),
            _ => e.to_err_packet().encode(&mut buf),
        }
        let _ = self.client.send(seq, &buf).await;
    }
}
