//! What operators see: the Prometheus metrics move under load, `/health`
//! answers, the status page lists the servers, and the slow query log
//! writes one JSON line (a digest, never the values) for a slow statement.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`.

mod common;
#[path = "common/util.rs"]
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;

const RULES: &str = r#"
[[table]]
name = "items"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

/// `GET path` on the admin listener: (status line, body).
fn get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The sum of every sample of `family` whose labels contain `with`.
fn sample(metrics: &str, family: &str, with: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(family) && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_page_and_slow_log() {
    let topo = Topology::from_env();
    let http = free_port();
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.log");
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!(
                "{RULES}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\nslow_query_ms = 500\nslow_log = \"{}\"\n",
                slow.display()
            ),
            ..Default::default()
        },
    );
    let db = util::db_name("ops");
    let mut c = util::proxy_conn(&proxy, None).await;
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!("USE {db}")).await.unwrap();
    c.query_drop("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let (status, before) = get(http, "/metrics");
    assert!(status.contains("200"), "{status}");
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO items VALUES {}", values.join(",")))
        .await
        .unwrap();
    for i in 1..=20 {
        let _: Option<i64> = c
            .query_first(format!("SELECT v FROM items WHERE id = {i}"))
            .await
            .unwrap();
        let _: Vec<i64> = c
            .query("SELECT id FROM items ORDER BY id LIMIT 3")
            .await
            .unwrap();
    }
    let _ = c.query_drop("SELECT * FROM no_such_table").await;
    let _: Option<i64> = c.query_first("SELECT SLEEP(0.6) + 41").await.unwrap();
    let (_, after) = get(http, "/metrics");
    for family in [
        "shardcat_statements_total",
        "shardcat_statement_duration_seconds_bucket",
        "shardcat_user_statements_total",
        "shardcat_table_statements_total",
        "shardcat_shards_touched_count",
        "shardcat_backend_statements_total",
        "shardcat_pool_connections",
        "shardcat_backend_up",
        "shardcat_replication_lag_seconds",
        "shardcat_build_info",
        "shardcat_uptime_seconds",
        "shardcat_client_connections",
    ] {
        assert!(after.contains(family), "{family} missing:\n{after}");
    }
    let grew =
        |family: &str, with: &str| sample(&after, family, with) - sample(&before, family, with);
    assert!(
        grew("shardcat_statements_total", "single_shard") >= 20.0,
        "{after}"
    );
    assert!(grew("shardcat_statements_total", "multi_shard_read") >= 20.0);
    assert!(grew("shardcat_statement_errors_total", "backend") >= 1.0);
    assert!(grew("shardcat_user_statements_total", "user=\"app\"") >= 42.0);
    assert!(grew("shardcat_table_statements_total", "table=\"items\"") >= 41.0);
    assert!(sample(&after, "shardcat_slow_statements_total", "") >= 1.0);
    assert!(
        !after.contains("SLEEP") && !after.contains("no_such_table"),
        "SQL in labels"
    );

    let (status, body) = get(http, "/health");
    assert!(status.contains("200") && body.starts_with("ok"));
    let (status, page) = get(http, "/");
    assert!(status.contains("200"));
    assert!(
        page.contains(&format!("127.0.0.1:{}", topo.port("n2r1"))),
        "{page}"
    );
    assert!(page.contains("items: sharded by id"), "{page}");
    let (status, _) = get(http, "/nope");
    assert!(status.contains("404"));

    let log = std::fs::read_to_string(&slow).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "one slow statement: {log}");
    let line = lines[0];
    assert!(
        line.contains("\"digest\":\"SELECT SLEEP(?) + ?\""),
        "{line}"
    );
    assert!(
        line.contains("\"user\":\"app\"") && line.contains("\"path\":\"plain\""),
        "{line}"
    );
    assert!(!line.contains("41"), "values in the slow log: {line}");
    c.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}
