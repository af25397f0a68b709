#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! Read/write splitting under server faults: a replica frozen (SIGSTOP) or
//! killed (SIGKILL, then restarted) under a bounded concurrent read load; a
//! replica dying under a read-only transaction pinned to it; the primary
//! frozen or stopped and restarted.
//!
//! Every test restores what it broke (SIGCONT, start-instance, waiting for
//! replication) through a [`TopoGuard`], also when it fails.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Tests run one at a time.

mod common;
#[path = "common/rw.rs"]
mod rw;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::proxy::ProxyOptions;
use common::{sigcont, sigkill, unique_token, wait_for, Topology};
use mysql_async::prelude::*;
use mysql_async::Conn;
use rw::*;

const TASKS: usize = 8;
const READS_PER_TASK: usize = 500;
/// Pause between two reads of one task, so the load spans the fault.
const PACE: Duration = Duration::from_millis(10);

async fn proxy(topo: &Topology, routing: &str) -> RwProxy {
    start_proxy(topo, routing).await
}

#[derive(Default, Debug)]
struct Load {
    ok: u64,
    failed: u64,
    errors: Vec<String>,
    by_instance: BTreeMap<String, u64>,
    lat_us: Vec<u64>,
    took: Duration,
}

impl Load {
    fn report(&self, what: &str) {
        let (p50, p90, p99, max, _) = percentiles(self.lat_us.clone());
        eprintln!(
            "[{what}] {} ok, {} failed in {:.1?}; by server {:?}; latency us p50={p50} p90={p90} p99={p99} max={max}; errors {:?}",
            self.ok, self.failed, self.took, self.by_instance, self.errors
        );
    }
}

/// Runs `TASKS` × `READS_PER_TASK` plain reads (`SELECT @@port`) on
/// connections opened beforehand; each read is bounded to 10 s.
fn spawn_load(topo: &Topology, conns: Vec<Conn>) -> tokio::task::JoinHandle<Load> {
    let topo = topo.clone();
    tokio::spawn(async move {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for mut c in conns {
            tasks.push(tokio::spawn(async move {
                let mut l = Load::default();
                let mut ports: BTreeMap<u16, u64> = BTreeMap::new();
                for _ in 0..READS_PER_TASK {
                    let t0 = Instant::now();
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        c.query_first::<u16, _>("SELECT @@port"),
                    )
                    .await
                    {
                        Ok(Ok(Some(p))) => {
                            l.ok += 1;
                            *ports.entry(p).or_default() += 1;
                        }
                        Ok(Ok(None)) => {
                            l.failed += 1;
                            l.errors.push("no row".into());
                        }
                        Ok(Err(e)) => {
                            l.failed += 1;
                            if l.errors.len() < 5 {
                                l.errors.push(e.to_string());
                            }
                        }
                        Err(_) => {
                            l.failed += 1;
                            l.errors.push("read timed out after 10 s".into());
                            break;
                        }
                    }
                    l.lat_us.push(t0.elapsed().as_micros() as u64);
                    tokio::time::sleep(PACE).await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(2), c.disconnect()).await;
                (l, ports)
            }));
        }
        let mut total = Load::default();
        for t in tasks {
            let (l, ports) = t.await.expect("load task panicked");
            total.ok += l.ok;
            total.failed += l.failed;
            total.errors.extend(l.errors);
            total.lat_us.extend(l.lat_us);
            for (p, n) in ports {
                *total
                    .by_instance
                    .entry(instance_of_port(&topo, p))
                    .or_default() += n;
            }
        }
        total.took = start.elapsed();
        total
    })
}

async fn open(port: u16, n: usize) -> Vec<Conn> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(through(port).await);
    }
    v
}

/// Waits until `name` is healthy with a known lag in SHOW SHARDCAT BACKENDS.
async fn wait_usable(
    admin: &mut Conn,
    topo: &Topology,
    name: &str,
    timeout: Duration,
) -> Option<Duration> {
    let t0 = Instant::now();
    wait_for(timeout, async || {
        let b = backend_of(admin, topo, name).await;
        (b.healthy && b.lag_ms.is_some()).then_some(())
    })
    .await
    .map(|_| t0.elapsed())
}

/// Which instances `n` fresh plain reads (on a new connection) run on.
async fn reads_land_on(topo: &Topology, port: u16, n: usize) -> BTreeMap<String, u64> {
    let mut c = through(port).await;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let p: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
        *m.entry(instance_of_port(topo, p.unwrap())).or_default() += 1;
    }
    let _ = c.disconnect().await;
    m
}

/// Polls `name`'s healthy flag while `dur` passes; returns when it first
/// read "no" and when "yes" again (relative to the start).
async fn watch_health(
    admin: &mut Conn,
    topo: &Topology,
    name: &str,
    dur: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let t0 = Instant::now();
    let (mut down, mut up) = (None, None);
    while t0.elapsed() < dur {
        let b = backend_of(admin, topo, name).await;
        if !b.healthy && down.is_none() {
            down = Some(t0.elapsed());
        }
        if b.healthy && down.is_some() && up.is_none() {
            up = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (down, up)
}

// ----- replicas ------------------------------------------------------------

#[tokio::test]
async fn replica_sigstop_under_read_load_fails_no_read() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        120,
        "replica_sigstop_under_read_load_fails_no_read",
        async {
            let proxy = proxy(&topo, "").await;
            let mut admin = through(proxy.port).await;
            let load = spawn_load(&topo, open(proxy.port, TASKS).await);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let pid = checked_pid(&topo, "n1r2");
            guard.push(Restore::Cont(pid));
            freeze(&topo, "n1r2");
            let (down, _) = watch_health(&mut admin, &topo, "n1r2", Duration::from_secs(3)).await;
            assert!(is_stopped(pid), "n1r2 was resumed before SIGCONT");
            sigcont(pid);
            eprintln!("n1r2 SIGSTOPped for 3 s; shown unhealthy after {down:?}");
            let l = bounded(60, "read load", load).await.unwrap();
            l.report("SIGSTOP n1r2 for 3 s");
            let back = wait_usable(&mut admin, &topo, "n1r2", Duration::from_secs(10)).await;
            eprintln!("n1r2 usable again {back:?} after SIGCONT + load end");
            let after = reads_land_on(&topo, proxy.port, 40).await;
            eprintln!("after SIGCONT, 40 reads ran on {after:?}");
            assert_eq!(
                l.failed, 0,
                "reads failed while a replica was frozen: {:?}",
                l.errors
            );
            assert!(
                down.is_some(),
                "the frozen replica was never shown unhealthy"
            );
            assert!(back.is_some(), "n1r2 did not become healthy again");
            assert!(
                after.get("n1r2").copied().unwrap_or(0) > 0,
                "n1r2 takes no reads after SIGCONT: {after:?}"
            );
            let _ = admin.disconnect().await;
        },
    )
    .await;
    guard.restore_now();
}

#[tokio::test]
async fn replica_sigkill_and_restart_under_read_load_fails_no_read() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        180,
        "replica_sigkill_and_restart_under_read_load_fails_no_read",
        async {
            let proxy = proxy(&topo, "").await;
            let mut admin = through(proxy.port).await;
            let load = spawn_load(&topo, open(proxy.port, TASKS).await);
            tokio::time::sleep(Duration::from_secs(1)).await;
            let pid = checked_pid(&topo, "n1r1");
            guard.push(Restore::StartInstance("n1r1".into()));
            sigkill(pid);
            let (down, _) = watch_health(&mut admin, &topo, "n1r1", Duration::from_secs(2)).await;
            eprintln!("n1r1 SIGKILLed; shown unhealthy after {down:?}");
            let l = bounded(60, "read load", load).await.unwrap();
            l.report("SIGKILL n1r1");
            let t0 = Instant::now();
            let topo2 = topo.clone();
            tokio::task::spawn_blocking(move || topo2.start_instance("n1r1"))
                .await
                .unwrap()
                .expect("start-instance n1r1");
            let restarted = t0.elapsed();
            let back = wait_usable(&mut admin, &topo, "n1r1", Duration::from_secs(15)).await;
            eprintln!("n1r1 restarted in {restarted:?}; usable in the proxy {back:?} later");
            let after = reads_land_on(&topo, proxy.port, 40).await;
            eprintln!("after restart, 40 reads ran on {after:?}");
            assert_eq!(
                l.failed, 0,
                "reads failed while a replica was killed: {:?}",
                l.errors
            );
            assert!(
                down.is_some(),
                "the killed replica was never shown unhealthy"
            );
            assert!(
                back.is_some(),
                "n1r1 did not rejoin (healthy, lag known) after restart"
            );
            assert!(
                after.get("n1r1").copied().unwrap_or(0) > 0,
                "n1r1 takes no reads after restart: {after:?}"
            );
            let _ = admin.disconnect().await;
        },
    )
    .await;
    guard.restore_now();
}

/// Clients that connect with a database right after a replica died (before
/// the health checker noticed): the connection's USE goes to a replica.
#[tokio::test]
async fn connecting_right_after_a_replica_dies_succeeds() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(120, "connecting_right_after_a_replica_dies_succeeds", async {
        // A long health interval: the proxy does not learn of the death
        // for seconds, as with any interval when clients connect at once.
        let o = ProxyOptions { backend: "health_interval_ms = 10000".into(), ..ProxyOptions::default() };
        let proxy = start_proxy_with(&topo, o, None).await;
        let pid = checked_pid(&topo, "n1r1");
        guard.push(Restore::StartInstance("n1r1".into()));
        sigkill(pid);
        // Wait until the server is really gone (its port refuses), then
        // connect at once, before the health checker (200 ms) notices.
        let port = topo.port("n1r1");
        let t_kill = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            assert!(t_kill.elapsed() < Duration::from_secs(5), "n1r1 still accepts connections 5 s after SIGKILL");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let url = format!("mysql://app:app@127.0.0.1:{}/{}", proxy.port, common::TEST_DB);
        let mut failures = Vec::new();
        let t0 = Instant::now();
        for i in 0..20 {
            match tokio::time::timeout(Duration::from_secs(10), Conn::from_url(url.as_str())).await {
                Ok(Ok(c)) => {
                    let _ = c.disconnect().await;
                }
                Ok(Err(e)) => failures.push(format!("connect {i} at {:?}: {e}", t0.elapsed())),
                Err(_) => failures.push(format!("connect {i}: timed out")),
            }
        }
        eprintln!("20 connects with a database right after SIGKILL n1r1 took {:?}; {} failures: {failures:?}", t0.elapsed(), failures.len());
        // (No database in this URL: connecting with one may fail right now.)
        let mut admin = Conn::from_url(format!("mysql://app:app@127.0.0.1:{}", proxy.port).as_str()).await.unwrap();
        let row = backend_of(&mut admin, &topo, "n1r1").await;
        eprintln!("n1r1 as the proxy sees it after the connects: {row:?}");
        let _ = admin.disconnect().await;
        assert!(failures.is_empty(), "connecting with a database failed while a replica had just died: {failures:?}");
    })
    .await;
    guard.restore_now();
}

/// A READ ONLY transaction pinned to a replica that dies: the next statement
/// gets a clear error (not a hang, not a silent switch), and the session
/// goes on working.
#[tokio::test]
async fn read_only_transaction_on_a_dying_replica_gets_a_clear_error() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(180, "read_only_transaction_on_a_dying_replica_gets_a_clear_error", async {
        let proxy = proxy(&topo, "").await;
        for fault in ["SIGKILL", "SIGSTOP"] {
            let mut c = through(proxy.port).await;
            c.query_drop("START TRANSACTION READ ONLY").await.unwrap();
            let p: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
            let victim = instance_of_port(&topo, p.unwrap());
            assert!(victim == "n1r1" || victim == "n1r2", "READ ONLY transaction not on a replica: {victim}");
            let pid = checked_pid(&topo, &victim);
            eprintln!("{fault} {victim} (pid {pid})");
            if fault == "SIGKILL" {
                guard.push(Restore::StartInstance(victim.clone()));
                sigkill(pid);
            } else {
                guard.push(Restore::Cont(pid));
                freeze(&topo, &victim);
            }
            let t0 = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs(15), c.query_first::<u16, _>("SELECT @@port")).await;
            let took = t0.elapsed();
            let outcome = match &r {
                Err(_) => "hang (no answer within 15 s)".to_string(),
                Ok(Ok(p)) => format!("answered from {:?}", p.map(|p| instance_of_port(&topo, p))),
                Ok(Err(e)) => format!("error {e}"),
            };
            eprintln!("{fault} {victim} under a READ ONLY transaction: next statement -> {outcome} after {took:?}");
            if fault == "SIGSTOP" {
                sigcont(pid);
            }
            match r {
                Ok(Err(mysql_async::Error::Server(e))) => {
                    assert!(took < Duration::from_secs(5), "error came only after {took:?}");
                    assert!(
                        [2013, 2006, 1927, 2003, 1969].contains(&e.code),
                        "unexpected error code for a lost replica: {e:?}"
                    );
                }
                other => panic!("{fault} {victim}: expected a clear server error, got {outcome} ({other:?})"),
            }
            // The client ends its failed transaction and goes on.
            let rb = tokio::time::timeout(Duration::from_secs(10), c.query_drop("ROLLBACK")).await;
            eprintln!("ROLLBACK after the error: {rb:?}");
            let one = tokio::time::timeout(Duration::from_secs(10), c.query_first::<i64, _>("SELECT 1")).await;
            assert!(matches!(one, Ok(Ok(Some(1)))), "session unusable after the failed transaction: {one:?}");
            let _ = c.disconnect().await;
            guard.restore_now();
        }
    })
    .await;
    guard.restore_now();
}

// ----- primary ---------------------------------------------------------------

fn is_fast_clear_error(
    r: &Result<Result<(), mysql_async::Error>, tokio::time::error::Elapsed>,
    took: Duration,
) -> Result<u16, String> {
    match r {
        Err(_) => Err(format!("hung for {took:?}")),
        Ok(Ok(())) => Err("succeeded".into()),
        Ok(Err(mysql_async::Error::Server(e))) if took < Duration::from_secs(5) => Ok(e.code),
        Ok(Err(e)) => Err(format!("{e} after {took:?}")),
    }
}

async fn setup_table(c: &mut Conn) -> String {
    let t = unique_token("rwf_t");
    c.query_drop(format!(
        "CREATE TABLE `{t}` (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
    ))
    .await
    .unwrap();
    c.query_drop(format!("INSERT INTO `{t}` (v) VALUES (1)"))
        .await
        .unwrap();
    t
}

/// Writes until one succeeds (each bounded); returns how long it took.
async fn wait_writes_work(
    c: &mut Conn,
    t: &str,
    timeout: Duration,
) -> Option<(Duration, Vec<String>)> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < timeout {
        match tokio::time::timeout(
            Duration::from_secs(5),
            c.query_drop(format!("INSERT INTO `{t}` (v) VALUES (2)")),
        )
        .await
        {
            Ok(Ok(())) => return Some((t0.elapsed(), seen)),
            Ok(Err(e)) => {
                let s = e.to_string();
                if !seen.contains(&s) {
                    seen.push(s);
                }
            }
            Err(_) => seen.push("write hung 5 s".into()),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("writes did not recover; errors seen: {seen:?}");
    None
}

#[tokio::test]
async fn primary_sigstop_writes_fail_fast_reads_continue_then_recover() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(120, "primary_sigstop_writes_fail_fast_reads_continue_then_recover", async {
        let proxy = proxy(&topo, "").await;
        let mut w = through(proxy.port).await;
        let mut r = through(proxy.port).await;
        let t = setup_table(&mut w).await;
        // The writer's last write must be on the replicas before the freeze
        // (replication is asynchronous: a write the replicas never got
        // cannot be read back from them under session consistency).
        assert!(wait_replicating(&topo, Duration::from_secs(10)));
        let pid = checked_pid(&topo, "n1p");
        guard.push(Restore::Cont(pid));
        freeze(&topo, "n1p");
        let stopped = Instant::now();
        let mut problems = Vec::new();
        let mut codes = Vec::new();
        for i in 0..3 {
            let t0 = Instant::now();
            let res = tokio::time::timeout(Duration::from_secs(10), w.query_drop(format!("INSERT INTO `{t}` (v) VALUES ({i})"))).await;
            let took = t0.elapsed();
            eprintln!("write {i} with n1p frozen: {res:?} after {took:?}");
            match is_fast_clear_error(&res, took) {
                Ok(code) => codes.push(code),
                Err(e) => problems.push(format!("write {i}: {e}")),
            }
        }
        // Reads from both sessions over 3 s of the freeze.
        let mut read_fail = Vec::new();
        let mut read_on = BTreeMap::new();
        for round in 0..3 {
            for (name, c) in [("reader", &mut r), ("writer", &mut w)] {
                for _ in 0..10 {
                    match tokio::time::timeout(Duration::from_secs(10), c.query_first::<u16, _>("SELECT @@port")).await {
                        Ok(Ok(Some(p))) => *read_on.entry(instance_of_port(&topo, p)).or_insert(0u64) += 1,
                        other => read_fail.push(format!("{name} round {round}: {other:?}")),
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        eprintln!("reads with n1p frozen: ran on {read_on:?}, failures {read_fail:?}");
        let frozen_for = stopped.elapsed();
        assert!(is_stopped(pid), "n1p was resumed before SIGCONT");
        sigcont(pid);
        let resumed = Instant::now();
        let rec = wait_writes_work(&mut w, &t, Duration::from_secs(20)).await;
        eprintln!("n1p frozen for {frozen_for:?}; write error codes {codes:?}; writes work again {:?} after SIGCONT", rec.as_ref().map(|x| &x.0));
        // Which of the writes that got an error were applied after all
        // (the row values 0..2 are the three writes made while frozen; 1 is
        // also the setup row, 2 also the recovery write).
        let vals: Vec<i64> = w.query(format!("/* shardcat:primary */ SELECT v FROM `{t}` ORDER BY id")).await.unwrap_or_default();
        eprintln!("rows on n1p after recovery (setup row v=1, then writes made while frozen, then the recovery write v=2): {vals:?}");
        let _ = resumed;
        let _ = w.query_drop(format!("DROP TABLE IF EXISTS `{t}`")).await;
        assert!(problems.is_empty(), "writes with the primary frozen must fail fast with a clear error: {problems:?}");
        assert!(read_fail.is_empty(), "reads must keep working from replicas: {read_fail:?}");
        assert!(rec.is_some(), "writes did not recover within 20 s of SIGCONT");
        let _ = w.disconnect().await;
        let _ = r.disconnect().await;
    })
    .await;
    guard.restore_now();
}

#[tokio::test]
async fn primary_stop_and_restart_writes_fail_fast_reads_continue_then_recover() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(240, "primary_stop_and_restart_writes_fail_fast_reads_continue_then_recover", async {
        let proxy = proxy(&topo, "").await;
        let mut admin = through(proxy.port).await;
        let mut w = through(proxy.port).await;
        let mut r = through(proxy.port).await;
        let t = setup_table(&mut w).await;
        assert!(wait_replicating(&topo, Duration::from_secs(10)));
        guard.push(Restore::StartInstance("n1p".into()));
        let t0 = Instant::now();
        let topo2 = topo.clone();
        tokio::task::spawn_blocking(move || topo2.stop_instance("n1p")).await.unwrap().expect("stop-instance n1p");
        eprintln!("n1p stopped in {:?}", t0.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rows = backends(&mut admin).await;
        eprintln!("backends with n1p down: {rows:?}");
        let mut problems = Vec::new();
        let mut codes = Vec::new();
        for i in 0..3 {
            let t0 = Instant::now();
            let res = tokio::time::timeout(Duration::from_secs(10), w.query_drop(format!("INSERT INTO `{t}` (v) VALUES ({i})"))).await;
            let took = t0.elapsed();
            eprintln!("write {i} with n1p down: {res:?} after {took:?}");
            match is_fast_clear_error(&res, took) {
                Ok(code) => codes.push(code),
                Err(e) => problems.push(format!("write {i}: {e}")),
            }
        }
        let mut read_fail = Vec::new();
        let mut read_on = BTreeMap::new();
        for round in 0..3 {
            for _ in 0..10 {
                match tokio::time::timeout(Duration::from_secs(10), r.query_first::<u16, _>("SELECT @@port")).await {
                    Ok(Ok(Some(p))) => *read_on.entry(instance_of_port(&topo, p)).or_insert(0u64) += 1,
                    other => read_fail.push(format!("round {round}: {other:?}")),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let rows = backends(&mut admin).await;
        eprintln!("reads with n1p down: ran on {read_on:?}, {} failures {:?}", read_fail.len(), read_fail.iter().take(3).collect::<Vec<_>>());
        eprintln!("backends after 3 s with n1p down: {rows:?}");
        let t1 = Instant::now();
        let topo2 = topo.clone();
        tokio::task::spawn_blocking(move || topo2.start_instance("n1p")).await.unwrap().expect("start-instance n1p");
        let started = t1.elapsed();
        let rec = wait_writes_work(&mut w, &t, Duration::from_secs(30)).await;
        eprintln!("n1p restarted in {started:?}; write error codes while down {codes:?}; writes work again {:?} after restart", rec.as_ref().map(|x| &x.0));
        let _ = w.query_drop(format!("DROP TABLE IF EXISTS `{t}`")).await;
        assert!(problems.is_empty(), "writes with the primary down must fail fast with a clear error: {problems:?}");
        assert!(read_fail.is_empty(), "reads must keep working from replicas while the primary is down: {} failed, e.g. {:?}", read_fail.len(), read_fail.first());
        assert!(rec.is_some(), "writes did not recover within 30 s of the restart");
        let _ = admin.disconnect().await;
        let _ = w.disconnect().await;
        let _ = r.disconnect().await;
    })
    .await;
    guard.restore_now();
}
