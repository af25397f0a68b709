//! A primary that stops answering under a session's open transaction:
//! SIGSTOPped (the process frozen, its sockets open) or black-holed (a TCP
//! forwarder in front of it that stops forwarding). Every kind of
//! statement a transaction sends to it (a write, a read, COMMIT, and an
//! autocommit write outside a transaction) gets a clear error within
//! `[backend] unresponsive_timeout_ms` (600, 1000 or 1400 ms, in turn) plus
//! a probe, not after minutes;
//! a second session reading from the replicas meanwhile is not slowed;
//! once the primary answers again the same session runs a transaction to
//! its end.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test primary_faults
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

/// The configured bounds on a silent server, one per case in turn.
const UNRESPONSIVE_MS: [u64; 3] = [600, 1_000, 1_400];

/// What a client may wait at most: the bound, the liveness probe (at most
/// the bound again) and slack for a loaded machine.
fn error_within(ms: u64) -> Duration {
    Duration::from_millis(3 * ms + 1_500)
}

/// Resumes a SIGSTOPped server even when the test fails.
struct Resume(Option<i32>);

impl Drop for Resume {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            common::sigcont(pid);
        }
    }
}

/// The statement the frozen primary is sent, after `BEGIN` and one insert.
#[derive(Debug, Clone, Copy)]
enum Stmt {
    InsertInTx,
    SelectInTx,
    Commit,
    AutocommitInsert,
}

const STMTS: [Stmt; 4] = [
    Stmt::InsertInTx,
    Stmt::SelectInTx,
    Stmt::Commit,
    Stmt::AutocommitInsert,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Sigstop,
    BlackHole,
}

/// The standard configuration with n1's primary behind `addr` and health
/// checks as by default (1 s interval, 2 s timeout): the bound must come
/// from `unresponsive_timeout_ms`, not from a fast health checker.
fn proxy_with_n1p_at(topo: &Topology, addr: &str, ms: u64) -> CustomProxy {
    let o = ProxyOptions {
        backend: format!("unresponsive_timeout_ms = {ms}"),
        ..Default::default()
    };
    let real = format!("primary = \"127.0.0.1:{}\"", topo.port("n1p"));
    CustomProxy::start(|port| {
        let text = ProxyProcess::config_text(topo, port, &o)
            .replace("health_interval_ms = 200", "health_interval_ms = 1000")
            .replace("health_timeout_ms = 500", "health_timeout_ms = 2000");
        assert!(text.contains(&real), "template changed:\n{text}");
        text.replace(&real, &format!("primary = \"{addr}\""))
    })
}

/// Runs `stmt` (after its set-up) with n1p frozen by `fault` at the
/// marked point; returns the error and how long it took.
async fn frozen_statement(
    topo: &Topology,
    db: &str,
    fault: Fault,
    stmt: Stmt,
    case: usize,
) -> ((u16, String, String), Duration) {
    let frozen = Arc::new(AtomicBool::new(false));
    let upstream = format!("127.0.0.1:{}", topo.port("n1p"));
    let (addr, hole) = match fault {
        Fault::BlackHole => {
            let (a, t) = util::forwarder(upstream, frozen.clone()).await;
            (a, Some(t))
        }
        Fault::Sigstop => (upstream, None),
    };
    let proxy = proxy_with_n1p_at(topo, &addr, UNRESPONSIVE_MS[case % UNRESPONSIVE_MS.len()]);
    let mut c = util::proxy_conn(&proxy, Some(db)).await;
    // A bystander reading from the replicas all along.
    let stop = Arc::new(AtomicBool::new(false));
    let bystander = {
        let stop = stop.clone();
        let mut b = util::proxy_conn(&proxy, Some(db)).await;
        tokio::spawn(async move {
            let (mut n, mut slowest) = (0u64, Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let v: Option<i64> = b
                    .query_first("SELECT COUNT(*) >= 0 FROM t")
                    .await
                    .expect("a replica read failed");
                assert_eq!(v, Some(1));
                slowest = slowest.max(t.elapsed());
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (n, slowest)
        })
    };
    let autocommit = matches!(stmt, Stmt::AutocommitInsert);
    if !autocommit {
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!("INSERT INTO t VALUES ({case}, 'before')"))
            .await
            .unwrap();
    }
    let resume = match fault {
        Fault::Sigstop => {
            let pid = topo.pid("n1p");
            common::sigstop(pid);
            Resume(Some(pid))
        }
        Fault::BlackHole => {
            frozen.store(true, Ordering::Relaxed);
            Resume(None)
        }
    };
    let sql = match stmt {
        Stmt::InsertInTx | Stmt::AutocommitInsert => {
            format!("INSERT INTO t VALUES ({}, 'during')", 100_000 + case)
        }
        Stmt::SelectInTx => "SELECT COUNT(*) FROM t".into(),
        Stmt::Commit => "COMMIT".into(),
    };
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), c.query_drop(&sql))
        .await
        .unwrap_or_else(|_| panic!("{fault:?} {stmt:?}: no answer within 60 s"));
    let took = t.elapsed();
    let err = util::expect_server_error(r);
    stop.store(true, Ordering::Relaxed);
    let (reads, slowest) = bystander.await.expect("bystander");
    println!("{fault:?} {stmt:?}: {err:?} after {took:?}; bystander {reads} replica reads, slowest {slowest:?}");
    assert!(
        slowest < Duration::from_millis(1_000),
        "{fault:?} {stmt:?}: a replica read took {slowest:?}"
    );
    // The primary answers again: the same session runs a transaction
    // (the forwarder passes new connections again).
    drop(resume);
    frozen.store(false, Ordering::Relaxed);
    let t = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let r: Result<(), mysql_async::Error> = async {
            c.query_drop("BEGIN").await?;
            c.query_drop(format!(
                "INSERT INTO t VALUES ({}, 'after')",
                200_000 + case * 100 + n
            ))
            .await?;
            c.query_drop("COMMIT").await
        }
        .await;
        match r {
            Ok(()) => break,
            Err(e) if t.elapsed() < Duration::from_secs(20) => {
                println!("  after resume: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{fault:?} {stmt:?}: the session never recovered: {e}"),
        }
    }
    println!("  session usable again {:?} after resume", t.elapsed());
    if let Some(h) = hole {
        h.abort();
    }
    assert!(!proxy.log().contains("panicked"));
    (err, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_primary_fails_transactions_fast_and_the_session_goes_on() {
    let topo = Topology::from_env();
    let db = util::db_name("primfault");
    util::setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"],
    )
    .await;
    let mut case = 0;
    let mut slowest = Duration::ZERO;
    for fault in [Fault::Sigstop, Fault::BlackHole] {
        for stmt in STMTS {
            case += 1;
            let ((code, state, msg), took) = frozen_statement(&topo, &db, fault, stmt, case).await;
            let ms = UNRESPONSIVE_MS[case % UNRESPONSIVE_MS.len()];
            println!("  (unresponsive_timeout_ms = {ms})");
            assert!(
                took < error_within(ms),
                "{fault:?} {stmt:?}: the error took {took:?}"
            );
            assert!(
                code == 2013 && state == "HY000",
                "{fault:?} {stmt:?}: {code} {state} {msg}"
            );
            // A COMMIT the server may have applied is not called rolled back.
            let fate = match stmt {
                Stmt::Commit => "outcome is unknown",
                Stmt::AutocommitInsert => "frozen or unreachable",
                _ => "was rolled back",
            };
            assert!(msg.contains(fate), "{fault:?} {stmt:?}: {msg}");
            slowest = slowest.max(took);
        }
    }
    println!("{case} cases: slowest error {slowest:?}");
    // The black-holed forwarder's sockets stay open by design: the
    // server-side sessions behind them still hold their transactions (and
    // metadata locks) and would make DROP DATABASE wait forever.
    for server in ["n1p", "n2p"] {
        let mut c = util::direct_conn(&topo, server, None).await;
        let ids: Vec<u64> = c
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
                (db.as_str(),),
            )
            .await
            .unwrap_or_default();
        for id in ids {
            c.query_drop(format!("KILL {id}")).await.ok();
        }
        c.disconnect().await.ok();
    }
    util::drop_db(&topo, &db).await;
}
