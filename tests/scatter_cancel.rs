//! A cross-shard statement stops on every shard when its client goes away
//! or is killed: `KILL QUERY` through shardcat interrupts all shard
//! statements (the client gets 1317 and keeps its session), and a client
//! that disconnects mid-scatter leaves no statement running on any server.
//! Checked on the servers' own process lists.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test scatter_cancel
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
name = "sleepers"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const SERVERS: &[&str] = &["n1p", "n1r1", "n1r2", "n2p", "n2r1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_stops_on_every_shard_when_killed_or_abandoned() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("cancel_{}", std::process::id());
    let mut p = util::fresh_db(&proxy, &db).await;
    p.query_drop("CREATE TABLE sleepers (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    // 8 rows in each of the 4 physical tables: a SLEEP(1) per row keeps
    // every shard busy for 8 s.
    let values: Vec<String> = (1..=32).map(|i| format!("({i}, {i})")).collect();
    p.query_drop(format!(
        "INSERT INTO sleepers (id, v) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    util::sync_replicas(&topo).await;

    // ---- KILL QUERY through the proxy ----
    let mut victim = util::proxy_conn(&proxy, Some(&db)).await;
    let victim_id = victim.id();
    let marker = "SLEEP(1.01)";
    let started = Instant::now();
    let run = tokio::spawn(async move {
        let r = victim
            .query_drop(format!("SELECT id, {marker} FROM sleepers ORDER BY id"))
            .await;
        (r, victim)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        util::threads_running(&topo, SERVERS, marker).await.len() >= 2,
        "scatter is running"
    );
    p.query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (result, mut victim) = run.await.unwrap();
    let took = started.elapsed();
    let (code, _state, message) = util::server_error(result.expect_err("killed query fails"));
    assert_eq!(code, 1317, "{message}");
    assert!(took < Duration::from_secs(4), "KILL QUERY took {took:?}");
    util::wait_until_none(&topo, SERVERS, marker, Duration::from_secs(3)).await;
    // The session survives KILL QUERY, as on MySQL.
    let one: Option<u8> = victim.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let n: Option<u64> = victim
        .query_first("SELECT COUNT(*) FROM sleepers")
        .await
        .unwrap();
    assert_eq!(n, Some(32));
    victim.disconnect().await.ok();

    // ---- the same through a binary prepared statement ----
    let mut victim = util::proxy_conn(&proxy, Some(&db)).await;
    let victim_id = victim.id();
    let marker = "SLEEP(1.03)";
    let started = Instant::now();
    let run = tokio::spawn(async move {
        let r = victim
            .exec_drop(
                format!("SELECT id, {marker} FROM sleepers WHERE v >= ? ORDER BY id"),
                (0,),
            )
            .await;
        (r, victim)
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        util::threads_running(&topo, SERVERS, marker).await.len() >= 2,
        "prepared scatter is running"
    );
    p.query_drop(format!("KILL QUERY {victim_id}"))
        .await
        .unwrap();
    let (result, mut victim) = run.await.unwrap();
    let took = started.elapsed();
    let (code, _state, message) = util::server_error(result.expect_err("killed query fails"));
    assert_eq!(code, 1317, "{message}");
    assert!(took < Duration::from_secs(4), "KILL QUERY took {took:?}");
    util::wait_until_none(&topo, SERVERS, marker, Duration::from_secs(3)).await;
    let one: Option<u8> = victim.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    victim.disconnect().await.ok();

    // ---- a client that goes away mid-scatter ----
    let marker = "SLEEP(1.02)";
    let mut quitter = util::proxy_conn(&proxy, Some(&db)).await;
    let run = tokio::spawn(async move {
        let _ = quitter
            .query_drop(format!("SELECT id, {marker} FROM sleepers"))
            .await;
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        util::threads_running(&topo, SERVERS, marker).await.len() >= 2,
        "scatter is running"
    );
    // Dropping the task drops the connection: its socket closes.
    run.abort();
    let _ = run.await;
    let gone = util::wait_until_none(&topo, SERVERS, marker, Duration::from_secs(6)).await;
    eprintln!("abandoned scatter stopped on every server after {gone:?}");

    // The proxy still serves, and the table is intact.
    let n: Option<u64> = p
        .query_first("SELECT COUNT(*) FROM sleepers")
        .await
        .unwrap();
    assert_eq!(n, Some(32));
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    p.disconnect().await.ok();
}

/// A merge that would hold more groups than `merge_max_groups` stops with a
/// clear error (never grows without bound); the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_budget_stops_with_a_clear_error() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            routing: "merge_max_groups = 5".to_owned(),
            ..Default::default()
        },
    );
    let db = format!("budget_{}", std::process::id());
    let mut p = util::fresh_db(&proxy, &db).await;
    p.query_drop("CREATE TABLE sleepers (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, {})", i % 10)).collect();
    p.query_drop(format!(
        "INSERT INTO sleepers (id, v) VALUES {}",
        values.join(", ")
    ))
    .await
    .unwrap();
    util::sync_replicas(&topo).await;
    // 4 groups fit; 10 do not.
    let small: Vec<(i64, i64)> = p
        .query("SELECT v % 4 AS g, COUNT(*) FROM sleepers GROUP BY g ORDER BY g")
        .await
        .unwrap();
    assert_eq!(small, vec![(0, 12), (1, 12), (2, 8), (3, 8)]);
    let e = p
        .query_drop("SELECT v, COUNT(*) FROM sleepers GROUP BY v")
        .await
        .expect_err("over the merge budget");
    let (_code, _state, message) = util::server_error(e);
    assert!(
        message.contains("merge budget") && message.contains("merge_max_groups"),
        "{message}"
    );
    let n: Option<u64> = p
        .query_first("SELECT COUNT(*) FROM sleepers")
        .await
        .unwrap();
    assert_eq!(n, Some(40), "the session goes on");
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    p.disconnect().await.ok();
}
