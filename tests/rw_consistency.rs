#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! Read-your-writes: with `consistency = "session"` a read right after the
//! session's own insert must see it, even while replication is delayed
//! (MASTER_DELAY) or stopped part of the time; `eventual` is run the same
//! way for comparison (stale reads counted, not asserted). Per-read latency
//! of both is printed.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Tests run one at a time.

mod common;
#[path = "common/rw.rs"]
mod rw;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{unique_token, wait_for, Topology};
use mysql_async::prelude::*;
use rw::*;

const ROUNDS: usize = 1000;

struct RunStats {
    mode: String,
    stale: u64,
    first_stale: Vec<String>,
    read_us: Vec<u64>,
    write_us: Vec<u64>,
    ran_on: BTreeMap<String, u64>,
    took: Duration,
}

impl RunStats {
    fn report(&self, phase: &str) {
        let (p50, p90, p99, max, mean) = percentiles(self.read_us.clone());
        let (w50, _, w99, _, _) = percentiles(self.write_us.clone());
        eprintln!(
            "[{phase}] {mode}: {n} insert+read rounds in {took:.1?}; stale reads {stale}; \
             read latency us p50={p50} p90={p90} p99={p99} max={max} mean={mean}; \
             insert latency us p50={w50} p99={w99}; reads ran on {ran:?}{first}",
            mode = self.mode,
            n = self.read_us.len(),
            took = self.took,
            stale = self.stale,
            ran = self.ran_on,
            first = if self.first_stale.is_empty() {
                String::new()
            } else {
                format!("; first stale: {:?}", self.first_stale)
            },
        );
    }
}

/// Something done at a given round (stop or start SQL threads).
type Hook<'a> = (usize, &'a str);

/// `ROUNDS` times: insert a row through the proxy, then read it back at
/// once by id. `hooks` run SQL directly on both replicas at given rounds.
async fn insert_then_read(
    topo: &Topology,
    mode: &str,
    table: &str,
    hooks: &[Hook<'_>],
) -> RunStats {
    let proxy = start_proxy(topo, &format!("consistency = \"{mode}\"")).await;
    let mut c = through(proxy.port).await;
    let mut replicas = Vec::new();
    for r in N1_REPLICAS {
        replicas.push(direct(topo, r).await);
    }
    let tok = unique_token(&format!("rwc_{mode}"));
    let mut s = RunStats {
        mode: mode.into(),
        stale: 0,
        first_stale: Vec::new(),
        read_us: Vec::with_capacity(ROUNDS),
        write_us: Vec::with_capacity(ROUNDS),
        ran_on: BTreeMap::new(),
        took: Duration::ZERO,
    };
    let start = Instant::now();
    for i in 0..ROUNDS {
        for (at, sql) in hooks {
            if *at == i {
                for r in replicas.iter_mut() {
                    r.query_drop(*sql).await.unwrap();
                }
                eprintln!("[{mode}] round {i}: ran {sql:?} on both replicas");
            }
        }
        let t0 = Instant::now();
        bounded(
            10,
            "insert",
            c.query_drop(format!("INSERT INTO `{table}` (v) VALUES ({i})")),
        )
        .await
        .unwrap_or_else(|e| panic!("{mode} round {i}: insert failed: {e}"));
        s.write_us.push(t0.elapsed().as_micros() as u64);
        let id = c.last_insert_id().expect("insert id");
        let t1 = Instant::now();
        let v: Option<i64> = bounded(
            10,
            "read",
            c.query_first(format!(
                "SELECT /* {tok} */ v FROM `{table}` WHERE id = {id}"
            )),
        )
        .await
        .unwrap_or_else(|e| panic!("{mode} round {i}: read failed: {e}"));
        s.read_us.push(t1.elapsed().as_micros() as u64);
        if v != Some(i as i64) {
            s.stale += 1;
            if s.first_stale.len() < 5 {
                s.first_stale.push(format!("round {i}: id {id} read {v:?}"));
            }
        }
    }
    s.took = start.elapsed();
    s.ran_on = where_ran_total(topo, &tok, ROUNDS as u64).await;
    for r in replicas {
        let _ = r.disconnect().await;
    }
    let _ = c.disconnect().await;
    s
}

async fn fresh_table(topo: &Topology) -> String {
    let t = unique_token("rwc_t");
    let mut p = direct(topo, "n1p").await;
    p.query_drop(format!(
        "CREATE TABLE `{t}` (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
    ))
    .await
    .unwrap();
    let _ = p.disconnect().await;
    for r in N1_REPLICAS {
        let mut c = direct(topo, r).await;
        let sql = format!("SELECT COUNT(*) FROM `{t}`");
        let ok = wait_for(Duration::from_secs(10), async || {
            c.query_first::<u64, _>(sql.as_str()).await.ok().flatten()
        })
        .await;
        assert!(ok.is_some(), "{t} did not reach {r}");
        let _ = c.disconnect().await;
    }
    t
}

async fn drop_table(topo: &Topology, t: &str) {
    let mut p = direct(topo, "n1p").await;
    let _ = p.query_drop(format!("DROP TABLE IF EXISTS `{t}`")).await;
    let _ = p.disconnect().await;
}

#[tokio::test]
async fn session_consistency_with_healthy_replication() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(300, "session_consistency_with_healthy_replication", async {
        enable_general_log(&topo).await;
        let t = fresh_table(&topo).await;
        let session = insert_then_read(&topo, "session", &t, &[]).await;
        session.report("healthy replication");
        let eventual = insert_then_read(&topo, "eventual", &t, &[]).await;
        eventual.report("healthy replication");
        drop_table(&topo, &t).await;
        assert_eq!(
            session.stale, 0,
            "session consistency: {} reads missed the session's own write: {:?}",
            session.stale, session.first_stale
        );
    })
    .await;
}

#[tokio::test]
async fn session_consistency_with_master_delay() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(400, "session_consistency_with_master_delay", async {
        enable_general_log(&topo).await;
        let t = fresh_table(&topo).await;
        for r in N1_REPLICAS {
            guard.push(Restore::NoDelay(r.into()));
            let mut c = direct(&topo, r).await;
            c.query_drop("STOP SLAVE").await.unwrap();
            c.query_drop("CHANGE MASTER TO MASTER_DELAY = 2")
                .await
                .unwrap();
            c.query_drop("START SLAVE").await.unwrap();
            let _ = c.disconnect().await;
            assert_eq!(
                slave_field(&topo, r, "SQL_Delay").as_deref(),
                Some("2"),
                "{r}: MASTER_DELAY not applied"
            );
        }
        let session = insert_then_read(&topo, "session", &t, &[]).await;
        session.report("MASTER_DELAY=2");
        let eventual = insert_then_read(&topo, "eventual", &t, &[]).await;
        eventual.report("MASTER_DELAY=2");
        drop_table(&topo, &t).await;
        assert_eq!(
            session.stale, 0,
            "session consistency: {} reads missed the session's own write: {:?}",
            session.stale, session.first_stale
        );
    })
    .await;
    guard.restore_now();
}

#[tokio::test]
async fn session_consistency_while_sql_threads_stop_and_start() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        300,
        "session_consistency_while_sql_threads_stop_and_start",
        async {
            enable_general_log(&topo).await;
            let t = fresh_table(&topo).await;
            for r in N1_REPLICAS {
                guard.push(Restore::StartSlave(r.into()));
            }
            let hooks = [(300, "STOP SLAVE SQL_THREAD"), (600, "START SLAVE")];
            let session = insert_then_read(&topo, "session", &t, &hooks).await;
            session.report("SQL threads stopped for rounds 300-599");
            let eventual = insert_then_read(&topo, "eventual", &t, &hooks).await;
            eventual.report("SQL threads stopped for rounds 300-599");
            drop_table(&topo, &t).await;
            assert_eq!(
                session.stale, 0,
                "session consistency: {} reads missed the session's own write: {:?}",
                session.stale, session.first_stale
            );
        },
    )
    .await;
    guard.restore_now();
}

/// A database created through the proxy is usable at once, also by other
/// sessions, while the replicas have not replayed its CREATE DATABASE yet
/// (MASTER_DELAY): connecting with it, `USE` and session settings (which
/// replicas would otherwise serve) are checked against, or fall back to, the
/// primary, as one server would answer. With `eventual` consistency, so no
/// GTID wait hides the lag.
#[tokio::test]
async fn new_database_is_usable_at_once_while_replicas_lag() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        120,
        "new_database_is_usable_at_once_while_replicas_lag",
        async {
            for r in N1_REPLICAS {
                guard.push(Restore::NoDelay(r.into()));
                let mut c = direct(&topo, r).await;
                c.query_drop("STOP SLAVE").await.unwrap();
                c.query_drop("CHANGE MASTER TO MASTER_DELAY = 4")
                    .await
                    .unwrap();
                c.query_drop("START SLAVE").await.unwrap();
                let _ = c.disconnect().await;
            }
            // The harness's superuser backend account may create databases.
            let proxy = common::proxy::ProxyProcess::start_with(
                &topo,
                common::proxy::ProxyOptions {
                    routing: "consistency = \"eventual\"".into(),
                    ..Default::default()
                },
            );
            let db = format!("newdb_{}", std::process::id());
            let url = |db: Option<&str>| {
                format!(
                    "mysql://app:app@127.0.0.1:{}/{}",
                    proxy.port,
                    db.unwrap_or("")
                )
            };
            let mut a = mysql_async::Conn::from_url(url(None).as_str())
                .await
                .unwrap();
            a.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
            // Another session connects with it at once ...
            let mut b = mysql_async::Conn::from_url(url(Some(&db)).as_str())
                .await
                .unwrap_or_else(|e| panic!("connect with the new database: {e}"));
            // ... and runs what drivers send first: settings a replica would serve.
            for sql in [
                "SET NAMES utf8mb4".to_owned(),
                "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'".to_owned(),
                format!("USE {db}"),
            ] {
                b.query_drop(&sql)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            let current: Option<String> = b.query_first("SELECT DATABASE()").await.unwrap();
            assert_eq!(current.as_deref(), Some(db.as_str()));
            a.query_drop(format!("USE {db}")).await.unwrap();
            let _ = b.disconnect().await;
            a.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
            let _ = a.disconnect().await;
        },
    )
    .await;
    guard.restore_now();
}
