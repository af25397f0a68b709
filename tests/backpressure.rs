//! A client that stops reading a large result (several hundred MB, from
//! the sequence engine, text and binary protocol): shardcat reads nothing
//! more from the backend while the client's socket is full (TCP flow
//! control pauses the server), so its resident memory stays flat; after
//! `[server] client_write_timeout_ms` without progress the session is
//! closed and the server's statement ends; other sessions are unaffected.
//! Generated over write timeouts and the number of rows read before the
//! client stops.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test backpressure
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use raw::RawConn;

/// Rows × row size: 400,000 × 1,000 bytes = 400 MB of answer.
const ROWS: u64 = 400_000;
const ROW_BYTES: usize = 1_000;
/// Growth of the proxy's RSS allowed while the client does not read.
const RSS_SLACK_KB: u64 = 32 * 1024;

/// The proxy process's resident set, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_no_memory_and_is_timed_out() {
    let topo = Topology::from_env();
    let mut case = 0;
    for (timeout_ms, binary, read_first) in [
        (1_500u64, false, 10u64),
        (2_500, true, 1_000),
        (2_000, false, 50_000),
    ] {
        case += 1;
        let proxy = ProxyProcess::start_with(
            &topo,
            ProxyOptions {
                server: format!("client_write_timeout_ms = {timeout_ms}"),
                ..Default::default()
            },
        );
        let what = format!("timeout {timeout_ms} ms, binary {binary}, {read_first} rows read");
        let tag = format!("bp_tag_{case}_{}", std::process::id());
        let sql = format!("SELECT /* {tag} */ seq, REPEAT('x', {ROW_BYTES}) FROM seq_1_to_{ROWS}");
        let mut c = RawConn::connect(
            proxy.port,
            "app",
            "app",
            Some(common::TEST_DB),
            raw::DEFAULT_CAPS,
        )
        .await;
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
        raw::read_n_rows(&mut c, read_first).await;
        // The client stops reading; the statement stays on the server,
        // paused, and the proxy's memory stays where it is.
        let stopped = Instant::now();
        let running = util::wait_running(
            &topo,
            &["n1p", "n1r1", "n1r2"],
            &tag,
            Duration::from_secs(5),
        )
        .await;
        assert!(!running.is_empty(), "{what}: the statement is not running");
        let base = rss_kb(proxy.pid());
        let mut peak = base;
        while stopped.elapsed() < Duration::from_millis(timeout_ms + 1_000) {
            peak = peak.max(rss_kb(proxy.pid()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The session was given up at the write timeout (the client has
        // read nothing since): the server's statement is gone.
        let gone = util::wait_until_none(
            &topo,
            &["n1p", "n1r1", "n1r2"],
            &tag,
            Duration::from_secs(10),
        )
        .await;
        // Reading now gets what the kernel
        // buffers held, then the end of the connection.
        let end = tokio::time::timeout(
            Duration::from_millis(timeout_ms + 10_000),
            raw::read_rows_to_end(&mut c, read_first),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: the session was not closed; log:\n{}",
                util::tail(&proxy.log())
            )
        });
        let closed_after = stopped.elapsed();
        println!(
            "{what}: RSS {base} kB → peak {peak} kB while not reading; {end:?} after {closed_after:?}; \
             server statement gone {gone:?} after timeout + 1 s"
        );
        assert!(
            peak <= base + RSS_SLACK_KB,
            "{what}: RSS grew from {base} to {peak} kB"
        );
        // The client's kernel buffer held some rows; then the close.
        assert!(
            matches!(end, raw::ResultEnd::Closed(n) if n < ROWS),
            "{what}: {end:?}"
        );
        util::assert_proxy_serves(&proxy).await;
        assert!(!proxy.log().contains("panicked"));
    }
}
