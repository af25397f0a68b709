//! The listener's life: binding it (optionally with `SO_REUSEPORT`, so a
//! new instance can take over the port during a rolling restart) and the
//! graceful shutdown that drains sessions before the process exits.
//!
//! Owns: socket options of the client listener and the drain wait. Must
//! not: decide what a session does when draining starts (the command loop
//! in `session` does: idle sessions close with 1053, transactions finish).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use super::Proxy;

/// Binds the client listener. With `reuse_port`, several processes may
/// listen on the same address; the kernel spreads new connections over
/// them, and a draining instance simply stops accepting.
pub fn bind(addr: &str, reuse_port: bool) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().or_else(|_| {
        use std::net::ToSocketAddrs;
        addr.to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// What a graceful shutdown left behind.
#[derive(Debug, PartialEq, Eq)]
pub struct Drained {
    /// Client sessions still open when the timeout ran out (their open
    /// transactions are rolled back by the servers when the process exits).
    pub cut: usize,
    pub waited: Duration,
}

/// Starts draining and waits until every client session has ended or
/// `timeout` has passed.
pub async fn drain(proxy: &Proxy, timeout: Duration) -> Drained {
    let started = Instant::now();
    proxy.start_draining();
    while proxy.client_count() > 0 && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Drained {
        cut: proxy.client_count(),
        waited: started.elapsed(),
    }
}
