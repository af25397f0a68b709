#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! Faults without stalls: what clients feel while a server misbehaves.
//!
//! - a replica frozen (SIGSTOP) for 5 s under 4 client threads reading as
//!   fast as they can, with the health checker as slow as in production
//!   (interval 1 s, timeout 2 s): reads keep ≥ 25 % of their rate and none
//!   takes over 1 s (stall deadlines, suspect servers);
//! - the primary stopped under a read load: no read fails (a replica whose
//!   primary went away is judged by what it has applied).
//!
//! Every test restores what it broke through a [`TopoGuard`]. Needs
//! `SHARDCAT_TOPOLOGY_ENV`. Tests run one at a time.

mod common;
#[path = "common/rw.rs"]
mod rw;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::ProxyOptions;
use common::{sigcont, Topology};
use mysql_async::prelude::*;
use rw::*;

/// One read as a client saw it: when it ended (since the load started),
/// how long it took, where it ran (None: failed).
#[derive(Debug, Clone)]
struct Read {
    end: Duration,
    took: Duration,
    port: Option<u16>,
    error: Option<String>,
}

/// `tasks` connections reading `SELECT @@port` back to back until `stop`;
/// each read bounded to 10 s. Odd tasks prepare a new statement for every
/// read (a COM_STMT_PREPARE that lands on a frozen replica must move like
/// a text read) and execute it in the binary protocol.
fn spawn_reads(
    port: u16,
    tasks: usize,
    stop: Arc<AtomicBool>,
    start: Instant,
) -> Vec<tokio::task::JoinHandle<Vec<Read>>> {
    (0..tasks)
        .map(|task| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut c = through(port).await;
                let mut reads = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let n = reads.len();
                    let read = async {
                        if task % 2 == 0 {
                            return c.query_first::<u16, _>("SELECT @@port").await;
                        }
                        let sql = format!("SELECT @@port + ? /* read {n} */");
                        let st = c.prep(sql).await?;
                        let port = c.exec_first::<u16, _, _>(&st, (0,)).await?;
                        c.close(st).await?;
                        Ok(port)
                    };
                    let r = tokio::time::timeout(Duration::from_secs(10), read).await;
                    let (landed, error) = match r {
                        Ok(Ok(Some(p))) => (Some(p), None),
                        Ok(Ok(None)) => (None, Some("no row".to_string())),
                        Ok(Err(e)) => (None, Some(e.to_string())),
                        Err(_) => (None, Some("timed out after 10 s".to_string())),
                    };
                    let failed = error.is_some();
                    reads.push(Read {
                        end: start.elapsed(),
                        took: t0.elapsed(),
                        port: landed,
                        error,
                    });
                    if failed {
                        // A broken connection: a new one (its failures
                        // count as failed reads too).
                        let url = format!("mysql://app:app@127.0.0.1:{port}/{}", common::TEST_DB);
                        loop {
                            match mysql_async::Conn::from_url(url.as_str()).await {
                                Ok(n) => break c = n,
                                Err(e) => reads.push(Read {
                                    end: start.elapsed(),
                                    took: Duration::ZERO,
                                    port: None,
                                    error: Some(format!("reconnect: {e}")),
                                }),
                            }
                            if stop.load(Ordering::Relaxed) {
                                return reads;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), c.disconnect()).await;
                reads
            })
        })
        .collect()
}

/// Reads per second ending in `[from, to)`, their max latency, failures
/// and where they ran.
fn window(
    topo: &Topology,
    reads: &[Read],
    from: Duration,
    to: Duration,
) -> (f64, Duration, usize, BTreeMap<String, u64>) {
    let inside: Vec<&Read> = reads
        .iter()
        .filter(|r| r.end >= from && r.end < to)
        .collect();
    let ok = inside.iter().filter(|r| r.error.is_none()).count();
    let rate = ok as f64 / (to - from).as_secs_f64();
    let max = inside.iter().map(|r| r.took).max().unwrap_or_default();
    let failed = inside.len() - ok;
    let mut on = BTreeMap::new();
    for r in inside.iter().filter_map(|r| r.port) {
        *on.entry(instance_of_port(topo, r)).or_default() += 1;
    }
    (rate, max, failed, on)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_replica_does_not_stall_reads() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(120, "frozen_replica_does_not_stall_reads", async {
        // Health checks as slow as the defaults: they alone would take
        // seconds to notice the freeze.
        let o = ProxyOptions {
            backend: "health_interval_ms = 1000\nhealth_timeout_ms = 2000".into(),
            ..ProxyOptions::default()
        };
        let proxy = start_proxy_with(&topo, o, None).await;
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let tasks = spawn_reads(proxy.port, 4, stop.clone(), start);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pid = checked_pid(&topo, "n1r2");
        guard.push(Restore::Cont(pid));
        let frozen_at = start.elapsed();
        freeze(&topo, "n1r2");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(is_stopped(pid), "n1r2 was resumed before SIGCONT");
        let thawed_at = start.elapsed();
        sigcont(pid);
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        let mut reads = Vec::new();
        for t in tasks {
            reads.extend(t.await.expect("read task panicked"));
        }
        let before = window(&topo, &reads, Duration::from_secs(1), frozen_at);
        let during = window(&topo, &reads, frozen_at, thawed_at);
        let after = window(&topo, &reads, thawed_at, start.elapsed());
        eprintln!(
            "before the freeze: {:.0} reads/s, max {:?}, {} failed, on {:?}",
            before.0, before.1, before.2, before.3
        );
        eprintln!(
            "n1r2 frozen 5 s:   {:.0} reads/s ({:.0} % of before), max {:?}, {} failed, on {:?}",
            during.0,
            100.0 * during.0 / before.0.max(1.0),
            during.1,
            during.2,
            during.3
        );
        eprintln!(
            "after SIGCONT:     {:.0} reads/s, max {:?}, {} failed, on {:?}",
            after.0, after.1, after.2, after.3
        );
        let slow: Vec<&Read> = reads
            .iter()
            .filter(|r| r.took > Duration::from_millis(200))
            .collect();
        eprintln!("reads over 200 ms: {slow:?}");
        let errors: Vec<&String> = reads.iter().filter_map(|r| r.error.as_ref()).collect();
        assert!(errors.is_empty(), "reads failed: {errors:?}");
        assert!(
            during.0 >= 0.25 * before.0,
            "reads fell to {:.0}/s during the freeze from {:.0}/s",
            during.0,
            before.0
        );
        // The target is under 1 s (about 0.3 s measured on a quiet
        // machine); the margin absorbs a CI machine busy compiling.
        assert!(
            during.1 < Duration::from_millis(1500),
            "a read took {:?} during the freeze",
            during.1
        );
        let log = proxy.log();
        assert!(
            log.contains("marked suspect"),
            "the frozen replica was never marked suspect; log:\n{log}"
        );
    })
    .await;
    guard.restore_now();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_stop_under_read_load_fails_no_read() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(180, "primary_stop_under_read_load_fails_no_read", async {
        let o = ProxyOptions {
            backend: "health_interval_ms = 1000\nhealth_timeout_ms = 2000".into(),
            ..ProxyOptions::default()
        };
        let proxy = start_proxy_with(&topo, o, None).await;
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let tasks = spawn_reads(proxy.port, 4, stop.clone(), start);
        tokio::time::sleep(Duration::from_secs(2)).await;
        guard.push(Restore::StartInstance("n1p".into()));
        let stopped_at = start.elapsed();
        let topo2 = topo.clone();
        tokio::task::spawn_blocking(move || topo2.stop_instance("n1p"))
            .await
            .unwrap()
            .expect("stop-instance n1p");
        let down_at = start.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let mut reads = Vec::new();
        for t in tasks {
            reads.extend(t.await.expect("read task panicked"));
        }
        let end = start.elapsed();
        let before = window(&topo, &reads, Duration::from_secs(1), stopped_at);
        let during = window(&topo, &reads, stopped_at, end);
        eprintln!(
            "before the stop: {:.0} reads/s, max {:?}, on {:?}",
            before.0, before.1, before.3
        );
        eprintln!(
            "n1p stopping ({:?}) then down: {:.0} reads/s, max {:?}, {} failed, on {:?}",
            down_at - stopped_at,
            during.0,
            during.1,
            during.2,
            during.3
        );
        let failed: Vec<(Duration, &String)> = reads
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| (r.end - stopped_at.min(r.end), e)))
            .collect();
        assert!(
            failed.is_empty(),
            "{} reads failed after the primary stop (time after stop, error): {:?}",
            failed.len(),
            failed.iter().take(5).collect::<Vec<_>>()
        );
        assert!(during.3.get("n1p").copied().unwrap_or(0) == 0 || during.3.len() > 1);
    })
    .await;
    guard.restore_now();
}
