//! Commit latency of a transaction over two nodes in `xa` and
//! `best_effort` mode, and of a one-node transaction: prints the median
//! and p95 of COMMIT and of the whole transaction; and the latency of a
//! sharding-key UPDATE that moves a row between nodes, against a plain
//! one-node UPDATE (ignored by default; figures in BENCHMARKS.md).
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test xa_bench -- --ignored --nocapture
//! ```

mod common;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;

const RULES: &str = r#"
[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn measure(topo: &Topology, mode: &str, ids: &[i64], n: usize) -> String {
    let proxy = ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: format!("transactions = \"{mode}\"\n"),
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("xabench_{}", std::process::id());
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await
        .unwrap();
    p.query_drop(format!("USE {db}")).await.unwrap();
    p.query_drop("CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, balance INT)")
        .await
        .unwrap();
    p.query_drop("REPLACE INTO accounts VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let (mut commit, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t0 = Instant::now();
        p.query_drop("BEGIN").await.unwrap();
        for id in ids {
            p.query_drop(format!(
                "UPDATE accounts SET balance = balance + 1 WHERE id = {id}"
            ))
            .await
            .unwrap();
        }
        let t1 = Instant::now();
        p.query_drop("COMMIT").await.unwrap();
        commit.push(t1.elapsed());
        whole.push(t0.elapsed());
    }
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    format!(
        "{mode:>11} {:>6}: COMMIT p50 {:.2} ms p95 {:.2} ms; transaction p50 {:.2} ms p95 {:.2} ms",
        format!("{} node", ids.len()),
        pct(&mut commit, 0.5),
        pct(&mut commit, 0.95),
        pct(&mut whole, 0.5),
        pct(&mut whole, 0.95)
    )
}

/// Autocommit UPDATEs: a plain one on one node, and key moves (the row
/// goes back and forth between n1 and n2).
async fn measure_moves(topo: &Topology, mode: &str, n: usize) -> String {
    let proxy = ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: format!("transactions = \"{mode}\"\n"),
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("xabench_mv_{}", std::process::id());
    let mut p = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!("USE {db}"),
        "CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY, balance INT)".into(),
        "REPLACE INTO accounts VALUES (1, 0)".into(),
    ] {
        p.query_drop(sql).await.unwrap();
    }
    let (mut plain, mut moves) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (from, to) = if i % 2 == 0 { (1, 2) } else { (2, 1) };
        let t0 = Instant::now();
        p.query_drop(format!(
            "UPDATE accounts SET balance = balance + 1 WHERE id = {from}"
        ))
        .await
        .unwrap();
        plain.push(t0.elapsed());
        let t1 = Instant::now();
        p.query_drop(format!("UPDATE accounts SET id = {to} WHERE id = {from}"))
            .await
            .unwrap();
        moves.push(t1.elapsed());
    }
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    format!(
        "{mode:>11}: plain UPDATE (1 node) p50 {:.2} ms p95 {:.2} ms; key move n1<->n2 p50 {:.2} ms p95 {:.2} ms",
        pct(&mut plain, 0.5),
        pct(&mut plain, 0.95),
        pct(&mut moves, 0.5),
        pct(&mut moves, 0.95)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn key_move_latency() {
    let topo = Topology::from_env();
    for mode in ["best_effort", "xa"] {
        println!("{}", measure_moves(&topo, mode, 300).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn commit_latency_xa_vs_best_effort() {
    let topo = Topology::from_env();
    let n = 400;
    for (mode, ids) in [
        ("best_effort", &[1][..]),
        ("xa", &[1][..]),
        ("best_effort", &[1, 2][..]),
        ("xa", &[1, 2][..]),
    ] {
        println!("{}", measure(&topo, mode, ids, n).await);
    }
}
