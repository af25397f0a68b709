//! Statements on several physical tables never need more connections than
//! a pool can give: with `pool_max = 10`, a table with 12 physical tables
//! on one node is created, filled and read (text and binary), and 20
//! concurrent two-table scatters that each hold their connections for a
//! while all succeed (they queue for the pool instead of failing with
//! 1040).
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test scatter_pool
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
name = "wide"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1"]
tables_per_node = 12

[[table]]
name = "pair"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1"]
tables_per_node = 2
"#;

fn proxy(topo: &Topology) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            backend: "pool_max = 10\ncheckout_timeout_ms = 3000".into(),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatters_fit_in_a_small_pool_and_queue() {
    let topo = Topology::from_env();
    let proxy = proxy(&topo);
    let db = format!("spool_{}", std::process::id());
    let mut p = util::fresh_db(&proxy, &db).await;

    // 12 physical tables on n1, pool_max = 10: DDL, writes, reads.
    p.query_drop("CREATE TABLE wide (id INT PRIMARY KEY, v INT)")
        .await
        .expect("CREATE TABLE of 12 physical tables with pool_max = 10");
    let values: Vec<String> = (1..=48).map(|i| format!("({i}, {i})")).collect();
    p.query_drop(format!(
        "INSERT INTO wide (id, v) VALUES {}",
        values.join(", ")
    ))
    .await
    .expect("INSERT over 12 physical tables");
    p.query_drop("UPDATE wide SET v = v + 1")
        .await
        .expect("UPDATE over 12 physical tables");
    util::sync_replicas(&topo).await;
    let n: Option<i64> = p
        .query_first("SELECT COUNT(*) FROM wide")
        .await
        .expect("COUNT over 12 tables");
    assert_eq!(n, Some(48));
    let ids: Vec<i64> = p
        .query("SELECT id FROM wide ORDER BY id DESC LIMIT 5")
        .await
        .expect("ORDER BY over 12 tables");
    assert_eq!(ids, vec![48, 47, 46, 45, 44]);
    let all: Vec<(i64, i64)> = p
        .query("SELECT id, v FROM wide")
        .await
        .expect("plain scatter over 12 tables");
    assert_eq!(all.len(), 48);
    assert!(all.iter().all(|(i, v)| *v == i + 1));
    let sum: Option<i64> = p
        .exec_first("SELECT SUM(v) FROM wide WHERE v > ?", (0,))
        .await
        .expect("binary scatter over 12 tables");
    assert_eq!(sum, Some((2..=49).sum()));

    // 20 concurrent two-table scatters, each holding its two connections
    // for 0.5 s: they queue for the 10-connection pools.
    p.query_drop("CREATE TABLE pair (id INT PRIMARY KEY)")
        .await
        .unwrap();
    p.query_drop("INSERT INTO pair VALUES (1), (2)")
        .await
        .unwrap();
    util::sync_replicas(&topo).await;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = proxy.url("app", "app", Some(&db));
        tasks.push(tokio::spawn(async move {
            let mut c = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
            let t = Instant::now();
            let r: Result<Vec<(i64, i64)>, _> = c.query("SELECT id, SLEEP(0.5) FROM pair").await;
            let _ = c.disconnect().await;
            (r.map(|v| v.len()).map_err(|e| e.to_string()), t.elapsed())
        }));
    }
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (r, took) = t.await.unwrap();
        slowest = slowest.max(took);
        match r {
            Ok(2) => {}
            other => failures.push(format!("{other:?}")),
        }
    }
    eprintln!(
        "20 concurrent two-table scatters (SLEEP 0.5 per row) with pool_max = 10: {} failed, slowest {slowest:?}, all in {:?}",
        failures.len(),
        t0.elapsed()
    );
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    assert!(failures.is_empty(), "scatters failed: {failures:?}");
}
