//! Primary failure and promotion (issue 14): shardcat follows the servers'
//! own roles (`backend::roles`), on throw-away servers of its own (a
//! primary and two GTID replicas, `common/scratch.rs`), so the shared
//! topology is never changed.
//!
//! The primary is SIGKILLed under a writer writing through shardcat every
//! 20 ms: writes fail at once with 2003 "No primary of node …" while reads
//! go on on the replicas; an operator promotes a replica (`STOP SLAVE;
//! RESET SLAVE ALL; SET GLOBAL read_only = 0`) and repoints the other with
//! GTID; the time from "new primary writable" to the first write through
//! shardcat is measured (target ≤ 2 s); the session reads its own writes
//! through the repointed replica. Then the old primary comes back
//! writable: it is fenced (split brain: no writes, no reads, logged and
//! counted) until it is made a replica of the new primary, after which
//! it takes reads again.

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/util.rs"]
mod util;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::{sigkill, wait_for, Topology};
use custom_proxy::CustomProxy;
use scratch::Scratch;
use util::{http_get, metric_sum, server_error};

/// One write attempt of the writer: when it ended and how.
#[derive(Debug, Clone)]
struct Attempt {
    at: Instant,
    took: Duration,
    id: i64,
    result: Result<(), (u16, String)>,
}

fn config(s: &Scratch, port: u16, http: u16) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[backend]
user = "{user}"
password = "{password}"
health_interval_ms = 300
health_timeout_ms = 600

[admin]
http_listen = "127.0.0.1:{http}"

[[user]]
name = "app"
password = "app"
admin = true

[[node]]
name = "n1"
primary = "{p}"
replicas = [{{ addr = "{r1}" }}, {{ addr = "{r2}" }}]
"#,
        user = s.user,
        password = s.password,
        p = s.addr("p"),
        r1 = s.addr("r1"),
        r2 = s.addr("r2"),
    )
}

async fn client(proxy: &CustomProxy) -> Conn {
    Conn::new(util::proxy_opts(proxy, "app", "app", Some("promo")))
        .await
        .expect("connect through shardcat")
}

/// Writes ids from `first` on, one every 20 ms, until `stop`.
async fn writer(
    mut c: Conn,
    first: i64,
    log: Arc<Mutex<Vec<Attempt>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut id = first;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let t = Instant::now();
        let r = c
            .query_drop(format!("INSERT INTO t VALUES ({id}, 'w')"))
            .await
            .map_err(|e| {
                let (code, _, msg) = server_error(e);
                (code, msg)
            });
        let ok = r.is_ok();
        log.lock().unwrap().push(Attempt {
            at: Instant::now(),
            took: t.elapsed(),
            id,
            result: r,
        });
        if ok {
            id += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn count(c: &mut Conn, sql: &str) -> i64 {
    c.query_first::<i64, _>(sql).await.unwrap().unwrap_or(-1)
}

fn backends(proxy_http: u16) -> String {
    http_get(proxy_http, "/metrics").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promoted_replica_takes_writes_and_the_old_primary_is_fenced() {
    let topo = Topology::from_env();
    let mut s = Scratch::new(&topo);
    s.start("p", None).expect("start p");
    s.start("r1", Some("p")).expect("start r1");
    s.start("r2", Some("p")).expect("start r2");
    let mut p = s.conn("p").await;
    p.query_drop("CREATE DATABASE promo").await.unwrap();
    p.query_drop("CREATE TABLE promo.t (id BIGINT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();
    let http = common::proxy::free_port();
    let proxy = CustomProxy::start(|port| config(&s, port, http));
    let mut c = client(&proxy).await;
    for id in 1..=20 {
        c.query_drop(format!("INSERT INTO t VALUES ({id}, 'a')"))
            .await
            .unwrap();
        // Read-your-writes through a replica.
        let n = count(&mut c, &format!("SELECT COUNT(*) FROM t WHERE id = {id}")).await;
        assert_eq!(n, 1, "session read after its write {id}");
    }
    // Everything is on both replicas before the crash (nothing lost).
    let pos: String = p
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    for r in ["r1", "r2"] {
        let mut rc = s.conn(r).await;
        let w: i64 = rc
            .query_first(format!("SELECT MASTER_GTID_WAIT('{pos}', 10)"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(w, 0, "{r} caught up");
    }
    drop(p);

    let log = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let w = tokio::spawn(writer(
        client(&proxy).await,
        1000,
        log.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Instant::now();
    sigkill(s.pid("p"));

    // Outage: writes fail fast and say why; reads go on.
    let no_primary = wait_for(Duration::from_secs(5), async || {
        let l = log.lock().unwrap();
        l.iter()
            .rev()
            .find(|a| a.at > killed && matches!(&a.result, Err((_, m)) if m.contains("No primary")))
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no 'No primary' error; log:\n{}", util::tail(&proxy.log())));
    let Err((code, msg)) = &no_primary.result else {
        unreachable!()
    };
    assert_eq!(*code, 2003, "{msg}");
    assert!(msg.contains("waiting for a promotion"), "{msg}");
    for _ in 0..5 {
        let n = count(&mut c, "SELECT COUNT(*) FROM t WHERE id <= 20").await;
        assert_eq!(n, 20, "reads during the outage");
    }

    // The operator promotes r1 and repoints r2 with GTID.
    let mut r1 = s.conn("r1").await;
    r1.query_drop("STOP SLAVE; RESET SLAVE ALL").await.unwrap();
    r1.query_drop("SET GLOBAL read_only = 0").await.unwrap();
    let writable = Instant::now();
    let mut r2 = s.conn("r2").await;
    r2.query_drop("STOP SLAVE").await.unwrap();
    r2.query_drop(s.replicate_sql("r1", "slave_pos"))
        .await
        .unwrap();
    let first_ok = wait_for(Duration::from_secs(5), async || {
        let l = log.lock().unwrap();
        l.iter()
            .find(|a| a.at > writable && a.result.is_ok())
            .cloned()
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no write after the promotion; log:\n{}",
            util::tail(&proxy.log())
        )
    });
    let recovery = first_ok.at - writable;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    w.await.unwrap();
    let attempts = log.lock().unwrap().clone();
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_err()).collect();
    let slowest = failed.iter().map(|a| a.took).max().unwrap_or_default();
    eprintln!(
        "promotion: {} writes failed during the outage (slowest {slowest:?}, outage {:?}); \
         first write {recovery:?} after the new primary was writable",
        failed.len(),
        first_ok.at - killed,
    );
    assert!(recovery <= Duration::from_secs(2), "recovery {recovery:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a write waited {slowest:?}"
    );
    for a in &failed {
        // 2013: a pooled connection of the killed server, used before the
        // server was marked down (the outcome of that write is unknown).
        let (code, _) = a.result.as_ref().unwrap_err();
        assert!(*code == 2003 || *code == 2013, "{a:?}");
    }
    // Every acknowledged write is on the new primary, once.
    let acked: Vec<i64> = attempts
        .iter()
        .filter(|a| a.result.is_ok())
        .map(|a| a.id)
        .collect();
    let on_r1 = count(&mut r1, "SELECT COUNT(*) FROM promo.t WHERE id >= 1000").await;
    assert_eq!(on_r1, acked.len() as i64, "acked writes on the new primary");

    // The operations tools (tables, shards move, check --live) write to
    // the promoted server too.
    let cfg_text = config(&s, proxy.port, http);
    let cfg = shardcat::config::Config::parse(&cfg_text, std::path::Path::new("promo.toml"))
        .expect("config");
    let (tool_conn, tool_addr) = shardcat::ops::node_primary::connect_primary(&cfg, "n1")
        .await
        .expect("the tools find the promoted primary");
    drop(tool_conn);
    assert_eq!(tool_addr, s.addr("r1"));

    // Read-your-writes through the repointed replica.
    for id in 5000..5010 {
        c.query_drop(format!("INSERT INTO t VALUES ({id}, 'b')"))
            .await
            .unwrap();
        let n = count(&mut c, &format!("SELECT COUNT(*) FROM t WHERE id = {id}")).await;
        assert_eq!(n, 1, "read after write {id} on the new primary");
    }
    let m = backends(http);
    assert_eq!(
        metric_sum(&m, "shardcat_primary_changes_total", "n1"),
        1.0,
        "{m}"
    );
    let r1_addr = format!("server=\"{}\"", s.addr("r1"));
    assert_eq!(
        metric_sum(&m, "shardcat_backend_role", &r1_addr),
        1.0,
        "{m}"
    );

    // The old primary comes back writable: fenced, no writes reach it.
    s.start("p", None).expect("restart p");
    let p_addr = format!("server=\"{}\"", s.addr("p"));
    wait_for(Duration::from_secs(10), async || {
        let m = backends(http);
        (metric_sum(&m, "shardcat_backend_role", &p_addr) == -1.0).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("old primary not fenced; log:\n{}", util::tail(&proxy.log())));
    for id in 6000..6020 {
        c.query_drop(format!("INSERT INTO t VALUES ({id}, 'c')"))
            .await
            .unwrap();
        let n = count(&mut c, &format!("SELECT COUNT(*) FROM t WHERE id = {id}")).await;
        assert_eq!(n, 1, "read after write {id} with the old primary back");
    }
    let mut p = s.conn("p").await;
    let on_p = count(&mut p, "SELECT COUNT(*) FROM promo.t WHERE id >= 6000").await;
    assert_eq!(on_p, 0, "the fenced old primary got writes");
    let m = backends(http);
    assert_eq!(
        metric_sum(&m, "shardcat_split_brain_total", "n1"),
        1.0,
        "{m}"
    );
    assert!(
        proxy.log().contains("split brain"),
        "no split-brain log line"
    );

    // Made a replica of the new primary, it takes reads again.
    p.query_drop("SET GLOBAL read_only = 1").await.unwrap();
    p.query_drop(s.replicate_sql("r1", "current_pos"))
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), async || {
        let m = backends(http);
        (metric_sum(&m, "shardcat_backend_role", &p_addr) == 0.0
            && metric_sum(&m, "shardcat_replication_lag_seconds", &p_addr) >= 0.0)
            .then_some(())
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "old primary not back as a replica; log:\n{}",
            util::tail(&proxy.log())
        )
    });
    let n = count(&mut p, "SELECT COUNT(*) FROM promo.t WHERE id >= 6000").await;
    assert_eq!(n, 20, "the old primary replicates the new one");
}

/// A primary that restarts without any promotion (a crash and a quick
/// restart) takes writes again as soon as it accepts connections: the first
/// statement that needs it asks the health checkers to look now instead of
/// failing until their next round. No promotion is counted, nothing is
/// fenced; during the outage writes fail within the bounded recheck.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_primary_takes_writes_at_once() {
    let topo = Topology::from_env();
    let mut s = Scratch::new(&topo);
    s.start("p", None).expect("start p");
    s.start("r1", Some("p")).expect("start r1");
    s.start("r2", Some("p")).expect("start r2");
    let mut p = s.conn("p").await;
    p.query_drop("CREATE DATABASE promo").await.unwrap();
    p.query_drop("CREATE TABLE promo.t (id BIGINT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();
    drop(p);
    let http = common::proxy::free_port();
    // A slow periodic check: only the statement's own recheck can make
    // the first write after the restart succeed.
    let proxy = CustomProxy::start(|port| {
        config(&s, port, http).replace("health_interval_ms = 300", "health_interval_ms = 2000")
    });
    let mut c = client(&proxy).await;
    for round in 0..2i64 {
        c.query_drop(format!("INSERT INTO t VALUES ({}, 'a')", round * 10))
            .await
            .unwrap();
        sigkill(s.pid("p"));
        // Writes fail, fast, once the checkers have marked it down.
        let outage = wait_for(Duration::from_secs(15), async || {
            let t = Instant::now();
            let r = c
                .query_drop(format!("INSERT INTO t VALUES ({}, 'x')", round * 10 + 1))
                .await;
            match r {
                Err(e) => {
                    let (code, _, msg) = server_error(e);
                    let took = t.elapsed();
                    assert!(
                        took < Duration::from_secs(1),
                        "a failed write took {took:?}"
                    );
                    if msg.contains("No primary") {
                        return Some((code, took));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    None
                }
                Ok(()) => panic!("a write succeeded with the primary killed"),
            }
        })
        .await
        .expect("'No primary' errors while the primary is down");
        let (code, took) = outage;
        assert_eq!(code, 2003);
        s.start("p", None).expect("restart p");
        let back = Instant::now();
        c.query_drop(format!("INSERT INTO t VALUES ({}, 'b')", round * 10 + 2))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "round {round}: first write after the restart failed: {e:?}\n{}",
                    util::tail(&proxy.log())
                )
            });
        eprintln!(
            "round {round}: failed write in {took:?}; first write {:?} after the restart",
            back.elapsed()
        );
    }
    let m = backends(http);
    assert_eq!(
        metric_sum(&m, "shardcat_primary_changes_total", "n1"),
        0.0,
        "{m}"
    );
    assert_eq!(
        metric_sum(&m, "shardcat_split_brain_total", "n1"),
        0.0,
        "{m}"
    );
}
