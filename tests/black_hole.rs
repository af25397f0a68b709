//! A replica that never answers: an address that accepts TCP and sends
//! nothing (a listener in this test), and a real replica SIGSTOPped before
//! shardcat ever connected to it (the kernel completes the TCP handshake,
//! the greeting never comes), and a TCP forwarder to a healthy replica
//! that goes silent under load (connections open, nothing forwarded, new
//! connections accepted and never answered). Under 4 concurrent readers:
//! no read fails, none takes longer than 1 s (the stall deadline, not the
//! 2 s connect timeout), and the health checker marks the server down
//! within a few check intervals (the first two: already at start-up).
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test black_hole
//! ```

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/util.rs"]
mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use mysql_async::prelude::*;

/// shardcat's connect timeout in this test.
const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// No read may take this long (the stall bound, not the connect timeout).
const READ_BOUND: Duration = Duration::from_millis(1_000);

/// Resumes a SIGSTOPped server even when the test fails.
struct Resume(Option<i32>);

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            common::sigcont(pid);
        }
    }
}

/// A TCP listener that accepts connections and never writes a byte.
async fn black_hole() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, task)
}

fn proxy_with_n1r2_at(topo: &Topology, addr: &str) -> CustomProxy {
    let o = ProxyOptions {
        backend: format!("connect_timeout_ms = {CONNECT_TIMEOUT_MS}"),
        ..Default::default()
    };
    let real = format!("addr = \"127.0.0.1:{}\"", topo.port("n1r2"));
    CustomProxy::start(|port| {
        let text = ProxyProcess::config_text(topo, port, &o);
        assert!(text.contains(&real));
        text.replace(&real, &format!("addr = \"{addr}\""))
    })
}

/// Whether `SHOW SHARDCAT BACKENDS` shows the server at `addr` healthy.
async fn healthy(c: &mut mysql_async::Conn, addr: &str) -> Option<bool> {
    let rows: Vec<mysql_async::Row> = c.query("SHOW SHARDCAT BACKENDS").await.ok()?;
    rows.iter().find_map(|r| {
        let a: String = r.get("address")?;
        let h: String = r.get("healthy")?;
        (a == addr).then(|| h == "1" || h.eq_ignore_ascii_case("yes") || h == "true")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_stalls_no_read() {
    let topo = Topology::from_env();
    for variant in [
        "listener that never answers",
        "replica SIGSTOPped before connect",
        "network path to a replica going silent under load",
    ] {
        let frozen = Arc::new(AtomicBool::new(false));
        let (addr, hole, resume) = if variant.starts_with("listener") {
            let (addr, task) = black_hole().await;
            (addr, Some(task), Resume(None))
        } else if variant.starts_with("network") {
            let upstream = format!("127.0.0.1:{}", topo.port("n1r2"));
            let (addr, task) = util::forwarder(upstream, frozen.clone()).await;
            (addr, Some(task), Resume(None))
        } else {
            let pid = topo.pid("n1r2");
            common::sigstop(pid);
            (
                format!("127.0.0.1:{}", topo.port("n1r2")),
                None,
                Resume(Some(pid)),
            )
        };
        let proxy = proxy_with_n1r2_at(&topo, &addr);
        let mut loads = Vec::new();
        for _ in 0..4 {
            let mut c = util::proxy_conn(&proxy, None).await;
            loads.push(tokio::spawn(async move {
                let (mut n, mut slowest) = (0u64, Duration::ZERO);
                let until = Instant::now() + Duration::from_secs(4);
                while Instant::now() < until {
                    let t = Instant::now();
                    let v: Option<i64> = c.query_first("SELECT 1").await.expect("read failed");
                    assert_eq!(v, Some(1));
                    slowest = slowest.max(t.elapsed());
                    n += 1;
                }
                (n, slowest)
            }));
        }
        let mut admin = util::proxy_conn(&proxy, None).await;
        if variant.starts_with("network") {
            // Healthy and serving reads first; then the path goes silent.
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert_eq!(healthy(&mut admin, &addr).await, Some(true));
            frozen.store(true, Ordering::Relaxed);
        }
        let started = Instant::now();
        let mut down_after = None;
        while started.elapsed() < Duration::from_secs(10) {
            if healthy(&mut admin, &addr).await == Some(false) {
                down_after = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (mut reads, mut slowest) = (0, Duration::ZERO);
        for l in loads {
            let (n, s) = l.await.expect("a reader failed");
            reads += n;
            slowest = slowest.max(s);
        }
        println!(
            "{variant}: {reads} reads by 4 clients in 4 s, 0 failed, slowest {slowest:?}; marked down after {down_after:?}"
        );
        let down_after = down_after.unwrap_or_else(|| panic!("{variant}: never marked down"));
        assert!(
            down_after < Duration::from_secs(5),
            "{variant}: down after {down_after:?}"
        );
        assert!(slowest < READ_BOUND, "{variant}: a read took {slowest:?}");
        assert!(!proxy.log().contains("panicked"));
        drop(proxy);
        drop(resume);
        if let Some(t) = hole {
            t.abort();
        }
    }
}
