//! Merged multi-shard reads (scatter) under faults (issue 14), text and
//! binary protocol, over a table sharded into four physical tables on two
//! nodes (read on their replicas):
//!
//! - a client that stops reading a large merged result (~60 MB): the
//!   merge pulls nothing more from the shards while the client's socket is
//!   full, so shardcat's RSS stays flat; after `[server]
//!   client_write_timeout_ms` the session is closed and every shard's
//!   statement is gone from the servers;
//! - a shard's server SIGKILLed mid-result (then restarted): the client
//!   gets 2013, never the rows read so far ended as a complete result.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test scatter_faults
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use raw::{RawConn, ResultEnd};

const ROWS: u64 = 120_000;
const PAD: usize = 500;
/// Growth of the proxy's RSS allowed while the client does not read
/// (the whole result is twice as large).
const RSS_SLACK_KB: u64 = 32 * 1024;
const WRITE_TIMEOUT_MS: u64 = 2_000;
const SERVERS: [&str; 5] = ["n1p", "n1r1", "n1r2", "n2p", "n2r1"];

const RULES: &str = r#"
[[table]]
name = "bigs"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

/// Restarts a SIGKILLed instance when dropped (also when the test fails).
struct Restart(Topology, String);

impl Drop for Restart {
    fn drop(&mut self) {
        if let Err(e) = self.0.start_instance(&self.1) {
            eprintln!("restarting {}: {e}", self.1);
        }
    }
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Sends the merged read (text or prepared) and reads its header and 100
/// rows.
async fn start_read(proxy: &ProxyProcess, db: &str, tag: &str, binary: bool) -> RawConn {
    let sql = format!("SELECT /* {tag} */ id, pad FROM bigs ORDER BY id");
    let mut c = RawConn::connect(proxy.port, "app", "app", Some(db), raw::DEFAULT_CAPS).await;
    if binary {
        let st = c.prepare(&sql).await.expect("io").expect("prepare");
        c.send_command(&raw::execute_packet(st.id, 0, &[], None, &[]))
            .await
            .unwrap();
    } else {
        let mut p = vec![raw::COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        c.send_command(&p).await.unwrap();
    }
    raw::read_result_header(&mut c).await.expect("a result set");
    raw::read_n_rows(&mut c, 100).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_reads_under_a_stalled_client_and_a_dying_shard() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            server: format!("client_write_timeout_ms = {WRITE_TIMEOUT_MS}"),
            extra: RULES.into(),
            ..Default::default()
        },
    );
    let db = format!("scatfault_{}", std::process::id());
    let mut admin = util::proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    admin.query_drop(format!("USE {db}")).await.unwrap();
    admin
        .query_drop("CREATE TABLE bigs (id INT PRIMARY KEY, pad VARCHAR(600))")
        .await
        .unwrap();
    for (server, k) in [("n1p", 0), ("n1p", 1), ("n2p", 2), ("n2p", 3)] {
        let mut c = util::direct_conn(&topo, server, Some(&db)).await;
        c.query_drop(format!(
            "INSERT INTO bigs_{k} SELECT seq, REPEAT('y', {PAD}) FROM seq_1_to_{ROWS} WHERE seq % 4 = {k}"
        ))
        .await
        .unwrap();
    }
    util::sync_replicas(&topo).await;

    for binary in [false, true] {
        // The client stops reading the merged result.
        let tag = format!("scat_bp_{binary}_{}", std::process::id());
        let what = format!("stalled client, binary {binary}");
        let mut c = start_read(&proxy, &db, &tag, binary).await;
        let stopped = Instant::now();
        let running = util::wait_running(&topo, &SERVERS, &tag, Duration::from_secs(5)).await;
        assert!(!running.is_empty(), "{what}: no shard statement running");
        let base = rss_kb(proxy.pid());
        let mut peak = base;
        while stopped.elapsed() < Duration::from_millis(WRITE_TIMEOUT_MS + 1_000) {
            peak = peak.max(rss_kb(proxy.pid()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let gone = util::wait_until_none(&topo, &SERVERS, &tag, Duration::from_secs(10)).await;
        let end = tokio::time::timeout(Duration::from_secs(15), raw::read_rows_to_end(&mut c, 100))
            .await
            .unwrap_or_else(|_| panic!("{what}: not closed; log:\n{}", util::tail(&proxy.log())));
        println!(
            "{what}: {} shard statements; RSS {base} kB → peak {peak} kB; {end:?} after {:?}; \
             shard statements gone {gone:?} after timeout + 1 s",
            running.len(),
            stopped.elapsed()
        );
        assert!(
            peak <= base + RSS_SLACK_KB,
            "{what}: RSS {base} → {peak} kB"
        );
        assert!(
            matches!(end, ResultEnd::Closed(n) if n < ROWS),
            "{what}: {end:?}"
        );

        // A shard's server dies mid-result.
        let tag = format!("scat_kill_{binary}_{}", std::process::id());
        let what = format!("shard killed, binary {binary}");
        let mut c = start_read(&proxy, &db, &tag, binary).await;
        let running = util::wait_running(&topo, &["n2r1"], &tag, Duration::from_secs(5)).await;
        assert!(!running.is_empty(), "{what}: not running on n2r1");
        let restart = Restart(topo.clone(), "n2r1".into());
        common::sigkill(topo.pid("n2r1"));
        let killed = Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(20), raw::read_rows_to_end(&mut c, 100))
            .await
            .unwrap_or_else(|_| panic!("{what}: no end 20 s after the kill"));
        println!("{what}: {end:?} after {:?}", killed.elapsed());
        assert!(
            matches!(&end, ResultEnd::Error(n, e) if *n < ROWS && e.code == 2013),
            "{what}: {end:?}"
        );
        drop(restart);
        util::wait_until_none(&topo, &SERVERS[..4], &tag, Duration::from_secs(10)).await;
    }
    util::assert_proxy_serves(&proxy).await;
    assert!(!proxy.log().contains("panicked"));
    util::sync_replicas(&topo).await;
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
