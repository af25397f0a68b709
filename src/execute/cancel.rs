//! Stopping statements whose answer nobody wants any more: the session was
//! killed (`KILL`), its client went away, or the statement failed on one
//! target while others still work.
//!
//! Every statement that runs on backend connections goes through
//! [`Watched`]: it publishes the connections for `KILL QUERY` (which other
//! sessions send), races the statement against `KILL` and the client's
//! departure, and afterwards stops what is still running on the servers.
//!
//! Owns: that race and the clean-up of abandoned backend statements.
//! Must not: choose connections or read answers.

use std::future::Future;
use std::sync::Arc;

use crate::backend::{BackendConn, PooledConn, ServerPool};
use crate::error::ProxyError;
use crate::execute::Outcome;
use crate::frontend::SessionHandle;
use crate::wire::packets::ErrPacket;

/// The servers and connection ids of `conns` (what `KILL` needs).
pub fn running_on<'a>(conns: impl Iterator<Item = &'a PooledConn>) -> Vec<(Arc<ServerPool>, u32)> {
    conns.map(|c| (c.pool().clone(), c.connection_id)).collect()
}

/// The answer when the session is killed while a statement runs.
pub fn killed() -> ProxyError {
    ProxyError::Backend(ErrPacket::new(1927, "70100", "Connection was killed"))
}

/// A statement running on `running`, published on the session's handle for
/// as long as it runs.
pub struct Watched<'h> {
    handle: &'h SessionHandle,
    running: Vec<(Arc<ServerPool>, u32)>,
}

impl<'h> Watched<'h> {
    pub fn new(handle: &'h SessionHandle, running: Vec<(Arc<ServerPool>, u32)>) -> Self {
        *handle.backends.lock() = running.clone();
        Watched { handle, running }
    }

    /// Runs `statement` until it ends, the session is killed, or the client
    /// disconnects (`client_gone`). In the two latter cases the outcome says
    /// the client is lost and carries the reason.
    pub async fn run(
        &self,
        statement: impl Future<Output = Outcome>,
        client_gone: impl Future<Output = ()>,
    ) -> Outcome {
        tokio::select! {
            o = statement => o,
            _ = self.handle.interrupt.raised(crate::frontend::interrupt::KILL) => Outcome {
                failure: Some(killed()),
                client_lost: true,
                ..Outcome::default()
            },
            _ = client_gone => Outcome {
                failure: Some(ProxyError::ClientGone),
                client_lost: true,
                ..Outcome::default()
            },
        }
    }

    /// After the statement: unpublishes it and, if it was abandoned
    /// (killed, client gone), stops what may still run on the servers
    /// (closing a connection does not stop a statement until it next
    /// writes) and marks the connections unusable. A statement that ended
    /// on its own left its connections clean, or with an answer to settle
    /// (`BackendConn::unread_rows`).
    pub fn finish<'c>(self, conns: impl Iterator<Item = &'c mut BackendConn>, outcome: &Outcome) {
        self.handle.backends.lock().clear();
        if outcome.failure.is_none() || !outcome.client_lost {
            return;
        }
        for c in conns {
            c.broken = true;
        }
        crate::frontend::cancel_on_servers(self.running.clone());
    }
}

/// Resolves when the client closes its connection, watched through a
/// duplicate of its socket while the session's stream is busy: servers
/// often send nothing for a long time (they buffer rows), so a write to the
/// client would notice its departure too late. Never resolves when the
/// client sends more bytes (a pipelined command) or the socket cannot be
/// watched. Over TLS the TCP socket under the encryption is watched: an
/// abrupt close is seen, but a client that closes cleanly sends a TLS
/// alert first (bytes), which is only noticed at the next write.
pub fn client_gone(client: &crate::wire::tls::ClientIo) -> impl Future<Output = ()> {
    let watch = client
        .tcp()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
        .and_then(|tcp| socket2::SockRef::from(tcp).try_clone())
        .map(std::net::TcpStream::from)
        .and_then(|s| {
            s.set_nonblocking(true)?;
            tokio::net::TcpStream::from_std(s)
        });
    async move {
        let Ok(watch) = watch else {
            return std::future::pending().await;
        };
        let mut byte = [0u8; 1];
        match watch.peek(&mut byte).await {
            Ok(0) | Err(_) => {}
            Ok(_) => std::future::pending().await,
        }
    }
}
