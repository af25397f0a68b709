//! A backend connection that dies in the middle of a large result: the
//! client has read part of the rows when the server's connection is killed
//! (`KILL CONNECTION` from another session on that server). For text and
//! binary protocol, a single-target read (unsharded table) and a merged
//! scatter (sharded table over both nodes): the client gets an ERR packet,
//! never a terminator presenting the truncated rows as complete; the same
//! session then runs the same statement to its end (complete row count),
//! and a second session reading meanwhile is unaffected. Last, a replica's
//! mariadbd is SIGKILLed while it sends a large result (then restarted):
//! the same 2013, and the statement then runs elsewhere to its end; and
//! the primary's, under a read in a transaction: 2013, and once the
//! primary is restarted the same session runs the statement to its end.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test mid_result
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use raw::{RawConn, ResultEnd};

/// Rows per table: ~40 MB of answer, far more than socket buffers hold.
const ROWS: u64 = 160_000;
const PAD: usize = 250;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_result_gives_an_error_and_the_session_goes_on() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.into(),
            ..Default::default()
        },
    );
    let db = format!("midres_{}", std::process::id());
    let mut admin = util::proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await
        .unwrap();
    admin.query_drop(format!("USE {db}")).await.unwrap();
    admin
        .query_drop("CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY, pad VARCHAR(300))")
        .await
        .unwrap();
    admin
        .query_drop("CREATE TABLE IF NOT EXISTS bigs (id INT PRIMARY KEY, pad VARCHAR(300))")
        .await
        .unwrap();
    // Filled directly (the sequence engine) on the primaries.
    let mut n1 = util::direct_conn(&topo, "n1p", Some(&db)).await;
    n1.query_drop(format!(
        "INSERT INTO big SELECT seq, REPEAT('x', {PAD}) FROM seq_1_to_{ROWS}"
    ))
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

    // A second session reading all along.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let bystander = {
        let (stop, reads) = (stop.clone(), reads.clone());
        let mut c = util::proxy_conn(&proxy, Some(&db)).await;
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let v: Option<u64> = c
                    .query_first("SELECT COUNT(*) FROM big WHERE id < 100")
                    .await
                    .expect("bystander read");
                assert_eq!(v, Some(99));
                slowest = slowest.max(t.elapsed());
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            slowest
        })
    };

    let n1_servers = ["n1p", "n1r1", "n1r2"];
    let n2_servers = ["n2p", "n2r1"];
    let mut case = 0;
    for binary in [false, true] {
        for (table, full, kill_on) in [
            ("big", ROWS, &n1_servers[..]),
            ("bigs", ROWS, &n2_servers[..]),
        ] {
            case += 1;
            let tag = format!("midres_tag_{case}_{}", std::process::id());
            let sql = format!("SELECT /* {tag} */ id, pad FROM {table} ORDER BY id");
            let what = format!("{table} binary={binary}");
            let mut c =
                RawConn::connect(proxy.port, "app", "app", Some(&db), raw::DEFAULT_CAPS).await;
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
            let got = raw::read_n_rows(&mut c, 100).await;
            // The client stops reading: the server blocks mid-result.
            let threads =
                util::wait_running(&topo, kill_on, &tag, Duration::from_millis(2_500)).await;
            assert!(
                !threads.is_empty(),
                "{what}: the statement is not running on {kill_on:?}"
            );
            for (server, id) in &threads {
                let mut k = util::direct_conn(&topo, server, None).await;
                k.query_drop(format!("KILL CONNECTION {id}")).await.unwrap();
            }
            let killed_at = Instant::now();
            let end =
                tokio::time::timeout(Duration::from_secs(20), raw::read_rows_to_end(&mut c, got))
                    .await
                    .unwrap_or_else(|_| panic!("{what}: no end 20 s after the kill"));
            let took = killed_at.elapsed();
            println!("{what}: killed {threads:?} → {end:?} after {took:?}");
            match &end {
                ResultEnd::Error(rows, e) => {
                    assert!(*rows < full, "{what}: ERR after all rows");
                    assert!(e.code >= 1000, "{what}: {e:?}");
                }
                ResultEnd::Complete(rows) => {
                    panic!("{what}: truncated result ({rows} of {full} rows) ended as complete")
                }
                ResultEnd::Closed(rows) => {
                    panic!("{what}: connection closed after {rows} rows instead of an ERR")
                }
            }
            // The session goes on: the same statement to its end.
            let again = tokio::time::timeout(Duration::from_secs(60), async {
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
                raw::read_rows_to_end(&mut c, 0).await
            })
            .await
            .expect("the statement again");
            assert!(
                matches!(again, ResultEnd::Complete(n) if n == full),
                "{what}: again {again:?}"
            );
        }
    }
    // A replica's mariadbd SIGKILLed while it sends a large result, then
    // the primary's under a read in a transaction.
    for in_tx in [false, true] {
        let tag = format!("midres_sigkill_{in_tx}_{}", std::process::id());
        let sql = format!("SELECT /* {tag} */ id, pad FROM big ORDER BY id");
        let mut c = RawConn::connect(proxy.port, "app", "app", Some(&db), raw::DEFAULT_CAPS).await;
        if in_tx {
            c.query("BEGIN").await.expect("BEGIN");
        }
        let mut p = vec![raw::COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        c.send_command(&p).await.unwrap();
        raw::read_result_header(&mut c).await.expect("a result set");
        let got = raw::read_n_rows(&mut c, 100).await;
        let servers: &[&str] = if in_tx { &["n1p"] } else { &["n1r1", "n1r2"] };
        let running = util::threads_running(&topo, servers, &tag).await;
        let (server, _) = running
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("the read runs on none of {servers:?}"));
        let restart = Restart(topo.clone(), server.clone());
        common::sigkill(topo.pid(&server));
        let killed_at = Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(20), raw::read_rows_to_end(&mut c, got))
            .await
            .expect("an end after SIGKILL");
        println!(
            "SIGKILL {server} mid-result → {end:?} after {:?}",
            killed_at.elapsed()
        );
        assert!(
            matches!(&end, ResultEnd::Error(n, e) if *n < ROWS && e.code == 2013),
            "{end:?}"
        );
        drop(restart);
        // The same session: the statement again (in a new transaction on
        // the restarted primary) runs to its end.
        let resumed = Instant::now();
        let again = loop {
            if in_tx {
                let begun = c.query("BEGIN").await.expect("BEGIN answered");
                assert!(matches!(begun, raw::Reply::Ok(_)), "BEGIN: {begun:?}");
            }
            c.send_command(&p).await.unwrap();
            let end = match raw::read_result_header(&mut c).await {
                Ok(_) => raw::read_rows_to_end(&mut c, 0).await,
                Err(e) => ResultEnd::Error(0, e),
            };
            if in_tx {
                c.query("ROLLBACK").await.expect("ROLLBACK answered");
            }
            match end {
                ResultEnd::Error(0, e) if resumed.elapsed() < Duration::from_secs(60) => {
                    println!("  while {server} restarts: {e:?}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                end => break end,
            }
        };
        println!(
            "  the session's next statement complete {:?} after the restart began",
            resumed.elapsed()
        );
        assert!(
            matches!(again, ResultEnd::Complete(ROWS)),
            "after SIGKILL: {again:?}"
        );
    }
    util::sync_replicas(&topo).await;

    stop.store(true, Ordering::Relaxed);
    let slowest = bystander.await.expect("bystander never failed");
    println!(
        "bystander: {} reads, slowest {slowest:?}",
        reads.load(Ordering::Relaxed)
    );
    assert!(
        slowest < Duration::from_secs(2),
        "bystander stalled {slowest:?}"
    );
    assert!(!proxy.log().contains("panicked"));
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
