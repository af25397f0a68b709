//! The operators' HTTP listener (`[admin] http_listen`, off by default):
//! `GET /metrics` (Prometheus text format), `GET /health` (200 while the
//! proxy serves; a load balancer's check), `GET /` (a small status page:
//! servers with health, lag and load).
//!
//! Owns: that listener and its tiny HTTP/1.1 exchange (one request per
//! connection, bounded request size and time). Must not: change any state.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::frontend::Proxy;

/// A request line and headers beyond this are refused.
const MAX_REQUEST: usize = 8 * 1024;

/// Serves `listener` until it fails.
pub async fn serve(proxy: Arc<Proxy>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(&proxy, stream)).await;
        });
    }
}

async fn answer(proxy: &Arc<Proxy>, mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() + n > MAX_REQUEST {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            proxy.metrics.encode(&proxy.cluster),
        ),
        // A load balancer's check: 503 once draining, so it sends new
        // clients to the other instances while this one finishes.
        ("GET", "/health") if proxy.is_draining() => (
            "503 Service Unavailable",
            "text/plain",
            "draining\n".to_string(),
        ),
        ("GET", "/health") => ("200 OK", "text/plain", "ok\n".to_string()),
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", status_page(proxy)),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Servers with health, lag and load, rendered on the server side.
fn status_page(proxy: &Proxy) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>shardcat</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}\
         .down{color:#b00}</style></head><body><h1>shardcat</h1>",
    );
    let _ = write!(
        html,
        "<p>version {} — {} client connection(s) — <a href=\"/metrics\">metrics</a></p>",
        escape(&proxy.server_version),
        proxy.client_count()
    );
    html.push_str(
        "<h2>Servers</h2><table><tr><th>node</th><th>role</th><th>address</th><th>health</th>\
         <th>lag (ms)</th><th>in flight</th><th>routed</th><th>pool in use / idle</th></tr>",
    );
    for node in &proxy.cluster.nodes {
        for pool in std::iter::once(&node.primary).chain(node.replicas.iter()) {
            let s = &pool.stats;
            let up = pool.is_healthy();
            let lag = s.lag_ms.load(Ordering::Relaxed);
            let _ = write!(
                html,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{} / {}</td></tr>",
                if up { "up" } else { "down" },
                escape(&node.name),
                pool.server.role.as_str(),
                escape(&pool.server.addr),
                if up { "up" } else { "down" },
                if lag < 0 {
                    "unknown".to_string()
                } else {
                    lag.to_string()
                },
                s.in_flight.load(Ordering::Relaxed),
                s.routed.load(Ordering::Relaxed),
                pool.busy_count(),
                pool.idle_count(),
            );
        }
    }
    html.push_str("</table>");
    if let Some(router) = proxy.shard_router.load_full() {
        html.push_str("<h2>Sharding rules</h2><pre>");
        html.push_str(&escape(&router.summary()));
        html.push_str("</pre>");
    }
    html.push_str("</body></html>\n");
    html
}
