#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! The one executor behaves the same on every path: text and binary
//! statements, pooled and held connections. Each test here failed when
//! those paths were separate copies:
//!
//! - a binary prepared scatter read inside a transaction stops on
//!   `KILL QUERY` and when its client disconnects (held connections);
//! - `no_replica = "fail"` refuses a scattered read as it refuses a plain
//!   one (no silent fallback to the primary);
//! - a text and a prepared read whose replica dies move to the other
//!   replica alike;
//! - a COMMIT that fails on one node rolls the other nodes back instead of
//!   committing them;
//! - a cross-shard `ORDER BY … LIMIT` that stops early keeps the shards'
//!   connections (no reconnect per query).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Tests run one at a time.

mod common;
#[path = "common/rw.rs"]
mod rw;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::{sigkill, Topology};
use mysql_async::prelude::*;
use mysql_async::Conn;
use rw::{bounded, cli, serial, Restore, StatusProbe, TopoGuard};

const RULES: &str = r#"
[[table]]
name = "wide"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 1

[[table]]
name = "deep"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const SERVERS: &[&str] = &["n1p", "n1r1", "n1r2", "n2p", "n2r1"];

fn start(topo: &Topology, routing: &str) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            routing: routing.to_owned(),
            ..Default::default()
        },
    )
}

/// A fresh database with `wide` and `deep` holding ids 1..=n.
async fn seed(proxy: &ProxyProcess, topo: &Topology, prefix: &str, n: usize) -> (Conn, String) {
    let db = util::db_name(prefix);
    let mut p = util::fresh_db(proxy, &db).await;
    for t in ["wide", "deep"] {
        p.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)"))
            .await
            .unwrap();
        if n == 0 {
            continue;
        }
        let values: Vec<String> = (1..=n).map(|i| format!("({i}, {i})")).collect();
        p.query_drop(format!(
            "INSERT INTO {t} (id, v) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
    }
    util::sync_replicas(topo).await;
    (p, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_scatter_read_in_a_transaction_is_cancellable() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(120, "prepared scatter in a transaction", async {
        let proxy = start(&topo, "");
        // 4 rows per physical table: SLEEP(1) per row keeps each shard busy.
        let (mut p, db) = seed(&proxy, &topo, "cancel_tx", 8).await;
        // `wide` (one table per node) streams from every node at once on
        // the transaction's connections; `deep` (two per node) reads each
        // node's tables one after the other on them.
        for (table, marker) in [("wide", "SLEEP(1.04)"), ("deep", "SLEEP(1.05)")] {
            let mut victim = util::proxy_conn(&proxy, Some(&db)).await;
            victim.query_drop("BEGIN").await.unwrap();
            let mine: Option<i64> = victim
                .query_first(format!("SELECT v FROM {table} WHERE id = 1 FOR UPDATE"))
                .await
                .unwrap();
            assert_eq!(mine, Some(1));
            let victim_id = victim.id();
            let started = Instant::now();
            let sql = format!("SELECT id, {marker} FROM {table} WHERE v >= ? ORDER BY id");
            let run = tokio::spawn(async move {
                let r = victim.exec_drop(sql, (0,)).await;
                (r, victim)
            });
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert!(
                !util::threads_running(&topo, SERVERS, marker)
                    .await
                    .is_empty(),
                "{table}: scatter is running"
            );
            p.query_drop(format!("KILL QUERY {victim_id}"))
                .await
                .unwrap();
            let (result, mut victim) = run.await.unwrap();
            let took = started.elapsed();
            let (code, _state, message) = util::server_error(result.expect_err("killed"));
            assert_eq!(code, 1317, "{table}: {message}");
            assert!(
                took < Duration::from_secs(4),
                "{table}: KILL QUERY took {took:?}"
            );
            util::wait_until_none(&topo, SERVERS, marker, Duration::from_secs(3)).await;
            // The session goes on.
            let one: Option<u8> = victim.query_first("SELECT 1").await.unwrap();
            assert_eq!(one, Some(1), "{table}");
            victim.query_drop("ROLLBACK").await.ok();
            victim.disconnect().await.ok();
        }
        // A client that goes away in the middle of the same read.
        for (table, marker) in [("wide", "SLEEP(1.06)"), ("deep", "SLEEP(1.07)")] {
            let mut quitter = util::proxy_conn(&proxy, Some(&db)).await;
            quitter.query_drop("BEGIN").await.unwrap();
            let sql = format!("SELECT id, {marker} FROM {table} WHERE v >= ? ORDER BY id");
            let run = tokio::spawn(async move {
                let _ = quitter.exec_drop(sql, (0,)).await;
            });
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert!(
                !util::threads_running(&topo, SERVERS, marker)
                    .await
                    .is_empty(),
                "{table}: scatter is running"
            );
            run.abort();
            let _ = run.await;
            let gone = util::wait_until_none(&topo, SERVERS, marker, Duration::from_secs(3)).await;
            eprintln!("{table}: abandoned prepared scatter in a transaction gone after {gone:?}");
        }
        p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    })
    .await;
}

/// Waits until a plain read through `c` is refused for want of a replica.
async fn wait_refused(c: &mut Conn) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A single-shard read on a fresh connection (no diagnostics pin).
        match c.query_drop("SELECT v FROM wide WHERE id = 1").await {
            Err(e) => return e.to_string(),
            Ok(()) => {
                assert!(Instant::now() < deadline, "replicas still used");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_reads_honour_no_replica_fail() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(90, "no_replica = fail on scatters", async {
        let proxy = start(&topo, "no_replica = \"fail\"");
        let (mut p, db) = seed(&proxy, &topo, "norep", 10).await;
        // Connected before the replicas become unusable: connecting with a
        // database is refused too under no_replica = "fail".
        let mut q = util::proxy_conn(&proxy, Some(&db)).await;
        for r in ["n1r1", "n1r2", "n2r1"] {
            guard.push(Restore::StartSlave(r.to_owned()));
            cli(&topo, r, "STOP SLAVE SQL_THREAD").unwrap();
        }
        let plain = wait_refused(&mut q).await;
        assert!(plain.contains("replica"), "{plain}");
        let text = q
            .query_drop("SELECT id FROM wide ORDER BY id")
            .await
            .expect_err("a text scatter read must be refused too");
        let prepared = q
            .exec_drop("SELECT id FROM deep WHERE v > ? ORDER BY id", (0,))
            .await
            .expect_err("a prepared scatter read must be refused too");
        for e in [text, prepared] {
            let (code, _, message) = util::server_error(e);
            assert_eq!(code, 2003, "{message}");
            assert!(message.contains("no_replica"), "{message}");
        }
        // Writes still work (they never needed a replica).
        p.query_drop("UPDATE wide SET v = v + 1 WHERE id > 0")
            .await
            .unwrap();
        p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    })
    .await;
    guard.restore_now();
}

/// Which server answered `SELECT @@port`, by instance name.
fn instance(topo: &Topology, port: u16) -> String {
    rw::instance_of_port(topo, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_prepared_reads_leave_a_dead_replica_alike() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(120, "dead replica, text and prepared", async {
        let proxy = start(&topo, "");
        let mut c = util::proxy_conn(&proxy, None).await;
        // Warm the pools of both replicas of n1.
        for _ in 0..6 {
            let _: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
            let _: Option<u16> = c.exec_first("SELECT @@port + ?", (0,)).await.unwrap();
        }
        guard.push(Restore::StartInstance("n1r1".to_owned()));
        sigkill(rw::checked_pid(&topo, "n1r1"));
        // Before the health checker notices: every read, text or binary,
        // lands on the surviving replica, never on the primary.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..6 {
            let t: Option<u16> = c.query_first("SELECT @@port").await.unwrap();
            *seen
                .entry(format!("text@{}", instance(&topo, t.unwrap_or(0))))
                .or_default() += 1;
            let b: Option<u16> = c.exec_first("SELECT @@port + ?", (0,)).await.unwrap();
            *seen
                .entry(format!("binary@{}", instance(&topo, b.unwrap_or(0))))
                .or_default() += 1;
        }
        eprintln!("reads after n1r1 died: {seen:?}");
        assert_eq!(
            seen,
            BTreeMap::from([("binary@n1r2".to_owned(), 6), ("text@n1r2".to_owned(), 6)])
        );
    })
    .await;
    guard.restore_now();
}

/// The id of the connection on `server` whose open transaction wrote, if
/// one did.
async fn writing_thread(topo: &Topology, server: &str) -> Option<u64> {
    let mut c = util::direct_conn(topo, server, None).await;
    let id: Option<u64> = c
        .query_first(
            "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX \
             WHERE trx_rows_modified > 0 LIMIT 1",
        )
        .await
        .unwrap();
    c.disconnect().await.ok();
    id
}

/// The node (`n1`/`n2`) that `EXPLAIN SHARDCAT` sends `sql` to.
async fn node_of(c: &mut Conn, sql: &str) -> String {
    let row: Option<mysql_async::Row> = c
        .query_first(format!("EXPLAIN SHARDCAT {sql}"))
        .await
        .unwrap();
    row.and_then(|r| r.get::<String, _>(0)).expect("a target")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_rolls_the_other_nodes_back() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "failed COMMIT", async {
        let proxy = start(&topo, "");
        let (mut p, db) = seed(&proxy, &topo, "commitfail", 0).await;
        let mut c = util::proxy_conn(&proxy, Some(&db)).await;
        let insert = |id: i32| format!("INSERT INTO wide (id, v) VALUES ({id}, 1)");
        // One key on each node.
        let mut ids = Vec::new();
        for node in ["n1", "n2"] {
            let mut id = 1;
            while node_of(&mut c, &insert(id)).await != node {
                id += 1;
                assert!(id < 50, "no key lands on {node}");
            }
            ids.push(id);
        }
        c.query_drop("BEGIN").await.unwrap();
        // Written on n2 first; the COMMIT still reaches the nodes in node
        // order, n1 first.
        c.query_drop(insert(ids[1])).await.unwrap();
        c.query_drop(insert(ids[0])).await.unwrap();
        let (first, second) = ("n1p", "n2p");
        // information_schema.INNODB_TRX is a cache refreshed at most every
        // 100 ms.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let victim = writing_thread(&topo, first).await.expect("a writer");
        let mut killer = util::direct_conn(&topo, first, None).await;
        killer.query_drop(format!("KILL {victim}")).await.unwrap();
        let e = c.query_drop("COMMIT").await.expect_err("COMMIT must fail");
        eprintln!("COMMIT with {first}'s connection killed: {e}");
        // No row exists anywhere: the second node was rolled back, not
        // committed on its own.
        for server in [first, second] {
            let mut d = util::direct_conn(&topo, server, Some(&db)).await;
            let t = if server == "n1p" { "wide_0" } else { "wide_1" };
            let rows: Option<u64> = d
                .query_first(format!("SELECT COUNT(*) FROM {t}"))
                .await
                .unwrap();
            assert_eq!(rows, Some(0), "rows committed on {server} alone");
            d.disconnect().await.ok();
        }
        // The session is usable.
        let one: Option<u8> = c.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
        p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_limit_keeps_the_shards_connections() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(120, "early LIMIT", async {
        let proxy = start(&topo, "");
        let (mut p, db) = seed(&proxy, &topo, "limitkeep", 400).await;
        let mut c = util::proxy_conn(&proxy, Some(&db)).await;
        // Warm up: every shard's pool has its connections.
        for _ in 0..5 {
            let _: Vec<i64> = c
                .query("SELECT id FROM deep ORDER BY id LIMIT 5")
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut probe = StatusProbe::new(&topo, SERVERS).await;
        let before = probe.read("Connections").await;
        const QUERIES: usize = 100;
        for i in 0..QUERIES {
            let (sql, want) = if i % 2 == 0 {
                (
                    "SELECT id FROM deep ORDER BY id LIMIT 5",
                    vec![1, 2, 3, 4, 5],
                )
            } else {
                (
                    "SELECT id FROM wide ORDER BY id DESC LIMIT 2, 3",
                    vec![398, 397, 396],
                )
            };
            let got: Vec<i64> = c.query(sql).await.unwrap();
            assert_eq!(got, want, "{sql}");
            let got: Vec<i64> = c
                .exec(sql.replace("ORDER BY", "WHERE v > ? ORDER BY"), (0,))
                .await
                .unwrap();
            assert_eq!(got, want, "{sql} (prepared)");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = probe.read("Connections").await;
        // Each probe read opens no connection; the proxy's pools should
        // open (almost) none either.
        let opened: u64 = SERVERS
            .iter()
            .map(|s| after[*s].saturating_sub(before[*s]))
            .sum();
        eprintln!(
            "{} cross-shard LIMIT queries (text and prepared) opened {opened} backend connections",
            2 * QUERIES
        );
        assert!(
            opened <= 10,
            "pool churn: {opened} connections for {} queries",
            2 * QUERIES
        );
        p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    })
    .await;
}
