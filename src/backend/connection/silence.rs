//! A backend that goes silent under a statement: SIGSTOPped, black-holed
//! by the network, or hung. Every read of a backend connection (any
//! statement, in a transaction or not, COMMIT included) that gets no byte
//! for `[backend] unresponsive_timeout_ms` asks whether the server still
//! greets a new connection within that time: if it does, the statement is
//! merely slow and the read goes on waiting; if not, the connection is
//! given up with 2013 (`ProxyError::BackendLost`), so the client learns it
//! within about twice the timeout instead of after TCP's retransmission
//! limits (minutes).
//!
//! One timer per connection serves every read: it is moved forward per
//! read rather than registered anew, and only for a read that must wait
//! (one whose bytes already arrived is polled once first, no timer).
//!
//! Owns: that watchdog around [`BackendConn::read_packet`]. Must not route,
//! retry or count (callers decide what a lost connection means; reads
//! outside transactions are retried elsewhere by `execute_one`).

use std::sync::Arc;
use std::time::Duration;

use super::{BackendConn, ConnectSettings, Flavor};
use crate::error::{ProxyError, Result};
use crate::wire::Packet;

/// The watchdog of one connection: how long a silence may last before the
/// server is questioned, and how to open the probing connection.
#[derive(Debug, Clone)]
pub struct Silence {
    pub after: Duration,
    pub settings: ConnectSettings,
}

impl Silence {
    /// The watchdog for connections opened with `settings` (`None` when
    /// `unresponsive_timeout` is zero).
    pub fn for_settings(settings: &ConnectSettings) -> Option<Silence> {
        (!settings.unresponsive_timeout.is_zero()).then(|| Silence {
            after: settings.unresponsive_timeout,
            settings: ConnectSettings {
                // The probe's own reads are bounded by its connect timeout.
                unresponsive_timeout: Duration::ZERO,
                connect_timeout: settings.unresponsive_timeout,
                ..settings.clone()
            },
        })
    }
}

impl BackendConn {
    /// One packet, waiting as long as the server shows it is alive.
    pub(super) async fn read_watched(&mut self, silence: Arc<Silence>) -> Result<Packet> {
        // A packet whose bytes already arrived needs no timer (the read
        // is cancel-safe: what it read stays buffered).
        let first = {
            let mut read = std::pin::pin!(self.stream.read_packet());
            futures::poll!(read.as_mut())
        };
        if let std::task::Poll::Ready(r) = first {
            return r.map_err(|e| self.lost(e));
        }
        loop {
            // One timer per connection, moved forward: a later deadline
            // than the one set is a change of its expiry, no registration.
            let deadline = tokio::time::Instant::now() + silence.after;
            let timer = match &mut self.watchdog {
                Some(timer) => {
                    timer.as_mut().reset(deadline);
                    timer
                }
                None => self
                    .watchdog
                    .insert(Box::pin(tokio::time::sleep_until(deadline))),
            };
            let read = tokio::select! {
                biased;
                r = self.stream.read_packet() => Some(r),
                _ = timer.as_mut() => None,
            };
            match read {
                Some(Ok(p)) => return Ok(p),
                Some(Err(e)) => return Err(self.lost(e)),
                None => {
                    if self.server_greets(&silence).await {
                        continue;
                    }
                    self.broken = true;
                    tracing::warn!(
                        server = %self.server.name,
                        "no answer for {:?} and a new connection is not greeted: \
                         the server is frozen or unreachable; connection given up",
                        silence.after
                    );
                    return Err(ProxyError::BackendLost {
                        server: self.server.name.clone(),
                        reason: format!(
                            "no answer for {} ms and the server does not greet a new \
                             connection (frozen or unreachable)",
                            silence.after.as_millis()
                        ),
                    });
                }
            }
        }
    }

    /// Whether the server logs a new connection in within the watchdog's
    /// time (the probe is closed at once).
    async fn server_greets(&self, silence: &Silence) -> bool {
        let probe = Box::pin(BackendConn::connect(
            self.server.clone(),
            &silence.settings,
            Flavor::default(),
        ));
        match tokio::time::timeout(silence.after, probe).await {
            Ok(Ok(conn)) => {
                tokio::spawn(conn.close());
                true
            }
            _ => false,
        }
    }
}
