//! Graceful shutdown and rolling restarts, against the real topology:
//! SIGTERM stops new clients, closes idle sessions with 1053, lets open
//! transactions commit, and exits; `shutdown_timeout_ms` bounds the wait
//! (the servers roll back what was cut); with `reuse_port` a second
//! instance takes over the port so no retrying client is lost.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`.

mod common;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;

fn options(timeout_ms: u64, http: Option<u16>) -> ProxyOptions {
    ProxyOptions {
        server: format!("shutdown_timeout_ms = {timeout_ms}\nreuse_port = true\n"),
        extra: http
            .map(|p| format!("[admin]\nhttp_listen = \"127.0.0.1:{p}\"\n"))
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn health(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return "refused".into();
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let _ = write!(s, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_string()
}

async fn count_rows(topo: &Topology, db: &str) -> i64 {
    let mut d = util::direct_conn(topo, "n1p", Some(db)).await;
    d.query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_idle_sessions_and_lets_transactions_commit() {
    let topo = Topology::from_env();
    let db = util::db_name("drain");
    util::setup_db(&topo, &db, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    let http = free_port();
    let mut proxy = ProxyProcess::start_with(&topo, options(10_000, Some(http)));
    let mut idle = util::proxy_conn(&proxy, Some(&db)).await;
    let mut tx = util::proxy_conn(&proxy, Some(&db)).await;
    let mut busy = util::proxy_conn(&proxy, Some(&db)).await;
    idle.query_drop("SELECT 1").await.unwrap();
    tx.query_drop("BEGIN").await.unwrap();
    tx.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    let sleeper = tokio::spawn(async move {
        let v: Option<i64> = busy.query_first("SELECT SLEEP(1) + 7").await.unwrap();
        (v, busy)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New clients are refused; the load balancer's check says draining.
    let port = proxy.port;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still accepting after SIGTERM"
    );
    assert!(health(http).contains("503"), "{}", health(http));
    // The idle session was closed (1053 or a lost connection).
    assert!(idle.query_drop("SELECT 1").await.is_err());
    // The running statement finishes with its answer.
    let (v, mut busy) = sleeper.await.unwrap();
    assert_eq!(v, Some(7), "SLEEP finished uninterrupted");
    assert!(busy.query_drop("SELECT 1").await.is_err(), "closed after");
    // The transaction goes on and commits; then its session closes too.
    tx.query_drop("INSERT INTO t VALUES (2)").await.unwrap();
    tx.query_drop("COMMIT").await.unwrap();
    let committed = Instant::now();
    let status = proxy
        .wait_exit(Duration::from_secs(5))
        .expect("shardcat exits once the last transaction ended");
    assert!(status.success(), "{status:?}\n{}", proxy.log());
    assert!(committed.elapsed() < Duration::from_secs(2));
    assert_eq!(count_rows(&topo, &db).await, 2);
    assert!(
        proxy.log().contains("every session ended"),
        "{}",
        proxy.log()
    );
    drop(tx);
    util::drop_db(&topo, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_cuts_open_transactions_and_servers_roll_back() {
    let topo = Topology::from_env();
    let db = util::db_name("drain_cut");
    util::setup_db(&topo, &db, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    let mut proxy = ProxyProcess::start_with(&topo, options(600, None));
    let mut tx = util::proxy_conn(&proxy, Some(&db)).await;
    tx.query_drop("BEGIN").await.unwrap();
    tx.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    let sent = Instant::now();
    proxy.terminate();
    let status = proxy.wait_exit(Duration::from_secs(5)).expect("exits");
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(proxy.log().contains("shutdown timeout"), "{}", proxy.log());
    assert!(tx.query_drop("COMMIT").await.is_err());
    // The server rolled the cut transaction back.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = util::direct_conn(&topo, "n1p", Some(&db)).await;
        let locked: Option<i64> = d
            .query_first("SELECT COUNT(*) FROM information_schema.INNODB_TRX")
            .await
            .unwrap();
        if count_rows(&topo, &db).await == 0 && (locked == Some(0) || Instant::now() > deadline) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count_rows(&topo, &db).await, 0);
    util::drop_db(&topo, &db).await;
}

/// One connection, one statement; a client that retries once on a
/// connection error, as pools and load balancers' clients do.
async fn one_client(port: u16) -> Result<(), String> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app"));
    let mut last = String::new();
    for _ in 0..2 {
        match mysql_async::Conn::new(opts.clone()).await {
            Ok(mut c) => match c.query_first::<i64, _>("SELECT 41 + 1").await {
                Ok(Some(42)) => {
                    let _ = c.disconnect().await;
                    return Ok(());
                }
                other => last = format!("{other:?}"),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_on_a_shared_port_loses_no_retrying_client() {
    let topo = Topology::from_env();
    let port = free_port();
    let mut old = ProxyProcess::start_on(&topo, port, options(5_000, None));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match one_client(port).await {
                    Ok(()) => ok += 1,
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let new = ProxyProcess::start_on(&topo, port, options(5_000, None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    old.terminate();
    let status = old.wait_exit(Duration::from_secs(5)).expect("old exits");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(ok > 50, "only {ok} clients served");
    assert!(
        failed.is_empty(),
        "{} of {} lost: {:?}",
        failed.len(),
        ok,
        failed
    );
    assert!(new.log().contains("shardcat is listening"));
}
