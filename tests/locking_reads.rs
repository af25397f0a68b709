#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! Locking reads (`FOR UPDATE`, `LOCK IN SHARE MODE`, `FOR SHARE` where the
//! server has it) over several shards return the rows one server holding
//! everything returns, and hold their locks on every shard they read:
//! another session cannot change a locked row until the transaction ends.
//!
//! Generated over: table layouts (one and two physical tables per node) ×
//! lock clauses × text and binary protocol × inside a transaction and in
//! autocommit mode, each answer compared with the reference server `ref`.
//! In a transaction, `deep`'s two physical tables per node are read by one
//! `UNION ALL` per node, each branch keeping its lock clause.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`.

mod common;
#[path = "common/rw.rs"]
mod rw;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::Conn;
use rw::{bounded, serial};

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

const ROWS: i64 = 20;

async fn seed(c: &mut Conn, db: &str) {
    c.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!("USE {db}")).await.unwrap();
    for t in ["wide", "deep"] {
        c.query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, v INT, s VARCHAR(10))"
        ))
        .await
        .unwrap();
        let values: Vec<String> = (1..=ROWS)
            .map(|i| format!("({i}, {}, 's{}')", i % 7, i % 3))
            .collect();
        c.query_drop(format!("INSERT INTO {t} VALUES {}", values.join(", ")))
            .await
            .unwrap();
    }
}

/// The lock clauses the reference server accepts.
async fn lock_clauses(reference: &mut Conn) -> Vec<&'static str> {
    let mut out = Vec::new();
    for clause in ["FOR UPDATE", "LOCK IN SHARE MODE", "FOR SHARE"] {
        let sql = format!("SELECT id FROM wide WHERE id = 1 {clause}");
        if reference.query_drop(sql).await.is_ok() {
            out.push(clause);
        }
    }
    out
}

type Rows = Vec<(i64, i64, String)>;

async fn read(c: &mut Conn, sql: &str, binary: bool) -> Rows {
    if binary {
        c.exec(sql.replace("v >= 0", "v >= ?"), (0,)).await.unwrap()
    } else {
        c.query(sql).await.unwrap()
    }
}

/// A second session's UPDATE of row `id` fails with a lock wait timeout
/// while the lock is held.
async fn update_blocked(proxy: &ProxyProcess, db: &str, table: &str, id: i64) -> bool {
    let mut other = util::proxy_conn(proxy, Some(db)).await;
    other
        .query_drop("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let r = other
        .query_drop(format!("UPDATE {table} SET v = v WHERE id = {id}"))
        .await;
    other.disconnect().await.ok();
    match r {
        Ok(()) => false,
        Err(e) => {
            let (code, _, message) = util::server_error(e);
            assert_eq!(code, 1205, "{message}");
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locking_reads_over_several_shards_return_rows_and_hold_locks() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(240, "locking reads", async {
        let http = common::proxy::free_port();
        let proxy = ProxyProcess::start_with(
            &topo,
            ProxyOptions {
                extra: format!("{RULES}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n"),
                routing: "node_unions = true".into(),
                ..Default::default()
            },
        );
        let db = util::db_name("lockread");
        let mut p = util::proxy_conn(&proxy, None).await;
        seed(&mut p, &db).await;
        let mut reference = util::direct_conn(&topo, "ref", None).await;
        seed(&mut reference, &db).await;
        let clauses = lock_clauses(&mut reference).await;
        assert!(clauses.contains(&"FOR UPDATE"));
        let mut checked = 0;
        for table in ["wide", "deep"] {
            for clause in &clauses {
                for binary in [false, true] {
                    for in_tx in [false, true] {
                        let case = format!("{table} {clause} binary={binary} tx={in_tx}");
                        let sql = format!(
                            "SELECT id, v, s FROM {table} WHERE v >= 0 ORDER BY id {clause}"
                        );
                        let want = read(&mut reference, &sql, binary).await;
                        let mut c = util::proxy_conn(&proxy, Some(&db)).await;
                        if in_tx {
                            c.query_drop("BEGIN").await.unwrap();
                        }
                        let got = read(&mut c, &sql, binary).await;
                        assert_eq!(got.len(), ROWS as usize, "{case}");
                        assert_eq!(got, want, "{case}");
                        if in_tx {
                            // Rows of both nodes are locked until COMMIT.
                            for id in [1, 2, ROWS] {
                                assert!(
                                    update_blocked(&proxy, &db, table, id).await,
                                    "{case}: row {id} not locked"
                                );
                            }
                            c.query_drop("COMMIT").await.unwrap();
                        }
                        // Released (at COMMIT, or at once in autocommit).
                        assert!(!update_blocked(&proxy, &db, table, ROWS).await, "{case}");
                        c.disconnect().await.ok();
                        checked += 1;
                    }
                }
            }
        }
        eprintln!("locking reads: {checked} cases equal to the reference, locks held");
        // `deep` in a transaction: one UNION ALL of FOR UPDATE branches per
        // node (text and binary, every clause).
        let (_, metrics) = util::http_get(http, "/metrics");
        let unions = util::metric_sum(&metrics, "shardcat_node_union_reads", "");
        assert!(
            unions >= (2 * clauses.len()) as f64,
            "{unions} reads as one UNION ALL per node"
        );
        let declined = util::metric_sum(&metrics, "shardcat_node_union_declined", "");
        assert_eq!(declined, 0.0);
        p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
        reference
            .query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    })
    .await;
}
