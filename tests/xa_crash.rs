//! XA two-phase commit under SIGKILL of shardcat (`[routing] transactions
//! = "xa"`): kills land between PREPARE and the decision (found by
//! watching `XA RECOVER` on the nodes, widened by the test-only
//! `SHARDCAT_XA_TEST_DELAY_MS`); after a restart (recovery runs before
//! clients are served) no branch is left prepared and no transaction is
//! half applied. Then an invariant workload (transfers between accounts on
//! different shards, three clients, a ledger row per transfer) runs while
//! shardcat is killed and restarted: the total never changes, every
//! balance matches the ledger, and every transfer a client saw commit is
//! in the ledger. Prints how many kills landed inside the window.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test xa_crash -- --nocapture
//! ```

mod common;
#[path = "common/ledger.rs"]
mod ledger;
#[path = "common/util.rs"]
mod util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;

use ledger::{check_ledger, prepared_anywhere as prepared, transfer, ACCOUNTS, RULES};

fn start(topo: &Topology) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: "transactions = \"xa\"\nxa_recovery_interval_ms = 500\n".into(),
            extra: RULES.to_owned(),
            ..Default::default()
        },
    )
}

/// Recovery resolves at start, or in a later round when a coordinator
/// row was still locked by the dying connection.
async fn check(topo: &Topology, db: &str, acked: &[i64]) {
    check_ledger(topo, db, acked, Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_between_prepare_and_commit_leave_nothing_half_applied() {
    let topo = Topology::from_env();
    std::env::set_var("SHARDCAT_XA_TEST_DELAY_MS", "300");
    let db = format!("xacrash_{}", std::process::id());
    let mut proxy = start(&topo);
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    p.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    p.query_drop(format!("USE {db}")).await.unwrap();
    for sql in ledger::setup_sql() {
        p.query_drop(&sql).await.unwrap();
    }
    drop(p);

    // 1. Kills aimed at the window (a branch seen prepared).
    let (mut kills, mut landed) = (0, 0);
    for k in 0..5 {
        let mut c = util::proxy_conn(&proxy, Some(&db)).await;
        let run = tokio::spawn(async move { transfer(&mut c, 100_000 + k, 1, 2).await });
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut seen = false;
        while Instant::now() < deadline && !seen {
            seen = prepared(&topo).await > 0;
        }
        drop(proxy);
        kills += 1;
        landed += usize::from(seen);
        let acked = run.await.unwrap();
        proxy = start(&topo);
        let want: Vec<i64> = if acked { vec![100_000 + k] } else { vec![] };
        check(&topo, &db, &want).await;
    }
    println!("targeted kills: {kills}, inside the PREPARE→COMMIT window: {landed}");
    assert!(landed > 0, "no kill landed inside the window");

    // 2. Invariant workload under kills.
    std::env::set_var("SHARDCAT_XA_TEST_DELAY_MS", "20");
    drop(proxy);
    proxy = start(&topo);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut kills2 = 0;
    let mut in_window = 0;
    for round in 0..4i64 {
        let port = proxy.port;
        let mut clients = Vec::new();
        for w in 0..3i64 {
            let (acked, db) = (acked.clone(), db.clone());
            clients.push(tokio::spawn(async move {
                let url = format!("mysql://app:app@127.0.0.1:{port}/{db}");
                let mut c = match mysql_async::Conn::from_url(url).await {
                    Ok(c) => c,
                    Err(e) => return eprintln!("client {w}: {e}"),
                };
                for i in 0..1000i64 {
                    let tid = 1_000_000 * (round + 1) + 10_000 * w + i;
                    // Neighbours: on different shards for most pairs.
                    let src = 1 + (i + w) % ACCOUNTS;
                    let dst = 1 + (i + w + 1) % ACCOUNTS;
                    if transfer(&mut c, tid, src, dst).await {
                        acked.lock().unwrap().push(tid);
                    } else {
                        return;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(700 + 300 * round as u64)).await;
        in_window += usize::from(prepared(&topo).await > 0);
        drop(proxy);
        kills2 += 1;
        for c in clients {
            let _ = c.await;
        }
        proxy = start(&topo);
        let acked_now = acked.lock().unwrap().clone();
        check(&topo, &db, &acked_now).await;
    }
    let n = acked.lock().unwrap().len();
    println!(
        "workload: {kills2} kills ({in_window} with a branch prepared at the kill), \
         {n} transfers acknowledged, none lost, total unchanged"
    );
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}
