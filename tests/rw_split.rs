#![allow(clippy::await_holding_lock)] // a std Mutex serialises tests that share the topology; each test has its own runtime
//! Read/write splitting against the replicated MariaDB topology, observed on
//! the servers themselves (their general log; see `common/rw.rs`): which
//! statements go to the primary n1p, which to the replicas n1r1/n1r2,
//! stickiness, hints, prepared statements, balancing, lag and the
//! no-replica fallback.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV` (see `tests/common/mod.rs`). Tests run one
//! at a time (they share server counters).

mod common;
#[path = "common/rw.rs"]
mod rw;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::proxy::ProxyOptions;
use common::{unique_token, wait_for, Topology};
use mysql_async::prelude::*;
use mysql_async::{Conn, TxOpts};
use rw::*;

fn routing(text: &str) -> ProxyOptions {
    ProxyOptions {
        routing: text.into(),
        ..ProxyOptions::default()
    }
}

fn counts(p: u64, r1: u64, r2: u64) -> BTreeMap<String, u64> {
    [("n1p", p), ("n1r1", r1), ("n1r2", r2)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Asserts that `total` statements with `token` all ran on the primary.
async fn assert_all_on_primary(topo: &Topology, token: &str, total: u64, what: &str) {
    let m = where_ran_total(topo, token, total).await;
    if m != counts(total, 0, 0) {
        let mut detail = String::new();
        for n in N1 {
            detail.push_str(&format!("\n  {n}: {:?}", logged(topo, n, token).await));
        }
        panic!("{what}: expected all {total} statements on n1p, got {m:?}{detail}");
    }
}

/// Asserts that `total` statements with `token` all ran on replicas; returns
/// (n1r1, n1r2).
async fn assert_all_on_replicas(
    topo: &Topology,
    token: &str,
    total: u64,
    what: &str,
) -> (u64, u64) {
    let m = where_ran_total(topo, token, total).await;
    let (p, r1, r2) = (m["n1p"], m["n1r1"], m["n1r2"]);
    if p != 0 || r1 + r2 != total {
        let mut detail = String::new();
        for n in N1 {
            detail.push_str(&format!("\n  {n}: {:?}", logged(topo, n, token).await));
        }
        panic!("{what}: expected all {total} statements on replicas, got {m:?}{detail}");
    }
    (r1, r2)
}

/// A table on n1 (created directly on n1p) that both replicas have.
async fn table_everywhere(topo: &Topology, prefix: &str) -> String {
    let t = unique_token(prefix);
    let mut p = direct(topo, "n1p").await;
    p.query_drop(format!(
        "CREATE TABLE `{t}` (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
    ))
    .await
    .unwrap();
    p.query_drop(format!("INSERT INTO `{t}` (v) VALUES (1), (2), (3)"))
        .await
        .unwrap();
    let _ = p.disconnect().await;
    for r in N1_REPLICAS {
        let mut c = direct(topo, r).await;
        let sql = format!("SELECT COUNT(*) FROM `{t}`");
        let seen = wait_for(Duration::from_secs(10), async || {
            match c.query_first::<u64, _>(sql.as_str()).await {
                Ok(Some(3)) => Some(()),
                _ => None,
            }
        })
        .await;
        assert!(seen.is_some(), "table {t} did not reach {r}");
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
async fn writes_and_ddl_go_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "writes_and_ddl_go_to_primary", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rww");
        let t = format!("t_{tok}");
        let stmts = [
            format!("CREATE TABLE `{t}` (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"),
            format!("INSERT INTO `{t}` (v) VALUES (1), (2), (3)"),
            format!("UPDATE `{t}` SET v = v + 1 WHERE id = 1"),
            format!("DELETE FROM `{t}` WHERE id = 3"),
            format!("REPLACE INTO `{t}` (id, v) VALUES (2, 20)"),
            format!("INSERT INTO `{t}` (v) SELECT v FROM `{t}` WHERE id = 1"),
            format!("ALTER TABLE `{t}` ADD COLUMN w INT"),
            format!("CREATE INDEX i_{tok} ON `{t}` (v)"),
            format!("TRUNCATE TABLE `{t}`"),
            format!("DROP TABLE `{t}`"),
        ];
        for s in &stmts {
            c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        assert_all_on_primary(
            &topo,
            &tok,
            stmts.len() as u64,
            "INSERT/UPDATE/DELETE/REPLACE/DDL",
        )
        .await;
        let _ = c.disconnect().await;
    })
    .await;
}

#[tokio::test]
async fn plain_reads_go_to_replicas() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "plain_reads_go_to_replicas", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwr").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwr_q");
        for i in 0..20 {
            let n: Option<u64> = c
                .query_first(format!(
                    "SELECT /* {tok} */ COUNT(*) FROM `{t}` WHERE id <= {i}"
                ))
                .await
                .unwrap();
            assert!(n.is_some());
        }
        let (r1, r2) = assert_all_on_replicas(&topo, &tok, 20, "plain reads").await;
        eprintln!("plain reads: n1r1={r1} n1r2={r2}");
        assert!(
            r1 > 0 && r2 > 0,
            "round robin should use both replicas: n1r1={r1} n1r2={r2}"
        );
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn locking_reads_and_select_into_go_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "locking_reads_and_select_into_go_to_primary", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwl").await;
        let proxy = start_proxy(&topo, "").await;
        // Each on a fresh connection, so stickiness from one cannot hide
        // the routing of the next; then a plain read on the same connection
        // as a control (must not be routed by accident to the primary for
        // the non-sticky ones).
        let cases = [
            (
                "FOR UPDATE",
                format!("SELECT v FROM `{t}` WHERE id = 1 FOR UPDATE"),
                false,
            ),
            (
                "LOCK IN SHARE MODE",
                format!("SELECT v FROM `{t}` WHERE id = 1 LOCK IN SHARE MODE"),
                false,
            ),
            (
                "FOR SHARE",
                format!("SELECT v FROM `{t}` WHERE id = 1 FOR SHARE"),
                false,
            ),
            (
                "SELECT ... INTO @var",
                format!("SELECT v FROM `{t}` WHERE id = 1 INTO @x"),
                true,
            ),
            (
                "SELECT INTO @var FROM",
                format!("SELECT v INTO @y FROM `{t}` WHERE id = 1"),
                true,
            ),
            (
                "SELECT ... INTO OUTFILE",
                format!("SELECT v FROM `{t}` INTO OUTFILE '/nonexistent-dir/x'"),
                false,
            ),
        ];
        let mut failures = Vec::new();
        for (name, sql, _sticky) in &cases {
            let tok = unique_token("rwl_q");
            let mut c = through(proxy.port).await;
            // FOR SHARE and INTO OUTFILE may be refused by the server; only
            // where they ran matters.
            let r = c.query_drop(format!("{sql} /* {tok} */")).await;
            if let Err(e) = &r {
                eprintln!("{name}: server answered {e}");
            }
            let m = where_ran_total(&topo, &tok, 1).await;
            if m != counts(1, 0, 0) {
                failures.push(format!("{name}: ran on {m:?}"));
            }
            let _ = c.disconnect().await;
        }
        drop_table(&topo, &t).await;
        assert!(
            failures.is_empty(),
            "locking reads / SELECT INTO not on the primary:\n{}",
            failures.join("\n")
        );
    })
    .await;
}

#[tokio::test]
async fn transactions_go_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "transactions_go_to_primary", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwt").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwt_q");
        let stmts = [
            format!("BEGIN /* {tok} */"),
            format!("SELECT /* {tok} */ v FROM `{t}` WHERE id = 1"),
            format!("UPDATE `{t}` SET v = v + 1 WHERE id = 1 /* {tok} */"),
            format!("SELECT /* {tok} */ v FROM `{t}` WHERE id = 1"),
            format!("COMMIT /* {tok} */"),
            format!("START TRANSACTION /* {tok} */"),
            format!("SELECT /* {tok} */ COUNT(*) FROM `{t}`"),
            format!("SELECT /* {tok} */ 1"),
            format!("ROLLBACK /* {tok} */"),
            format!("START TRANSACTION READ WRITE /* {tok} */"),
            format!("SELECT /* {tok} */ 2"),
            format!("COMMIT /* {tok} */"),
        ];
        for s in &stmts {
            c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        // The driver's own transaction API.
        let mut tx = c.start_transaction(TxOpts::default()).await.unwrap();
        let _: Option<u64> = tx
            .query_first(format!("SELECT /* {tok} */ COUNT(*) FROM `{t}`"))
            .await
            .unwrap();
        let _: Option<u64> = tx
            .query_first(format!("SELECT /* {tok} */ 3"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_all_on_primary(
            &topo,
            &tok,
            stmts.len() as u64 + 2,
            "statements inside transactions",
        )
        .await;
        // After the transactions, plain reads go back to replicas.
        let tok2 = unique_token("rwt_after");
        for _ in 0..4 {
            c.query_drop(format!("SELECT /* {tok2} */ 1"))
                .await
                .unwrap();
        }
        assert_all_on_replicas(&topo, &tok2, 4, "plain reads after COMMIT").await;
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn autocommit_off_reads_go_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "autocommit_off_reads_go_to_primary", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwa").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwa_q");
        let tok_set = unique_token("rwa_set");
        c.query_drop(format!("SET autocommit = 0 /* {tok_set} */")).await.unwrap();
        let mut errors = Vec::new();
        let stmts = [
            format!("SELECT /* {tok} */ v FROM `{t}` WHERE id = 2"),
            format!("SELECT /* {tok} */ v FROM `{t}` WHERE id = 3"),
            format!("UPDATE `{t}` SET v = v + 1 WHERE id = 1 /* {tok} */"),
            format!("SELECT /* {tok} */ v FROM `{t}` WHERE id = 1"),
            format!("COMMIT /* {tok} */"),
            // Still autocommit=0 after COMMIT: a new implicit transaction.
            format!("SELECT /* {tok} */ 1"),
            format!("COMMIT /* {tok} */"),
        ];
        for s in &stmts {
            if let Err(e) = c.query_drop(s).await {
                errors.push(format!("{s}: {e}"));
            }
        }
        // SET autocommit=0 itself may run anywhere (the proxy replays it);
        // every statement after it must be on the primary.
        let m = where_ran_total(&topo, &tok, stmts.len() as u64).await;
        let set_on = where_ran(&topo, &tok_set).await;
        eprintln!("autocommit=0: SET ran on {set_on:?}; the {} statements after it ran on {m:?}; errors {errors:?}", stmts.len());
        assert!(errors.is_empty(), "statements failed with autocommit=0: {errors:?}");
        assert_eq!(m, counts(stmts.len() as u64, 0, 0), "reads, writes and COMMITs with autocommit=0 must all be on n1p");
        let tok2 = unique_token("rwa_on");
        c.query_drop("SET autocommit = 1").await.unwrap();
        for _ in 0..4 {
            c.query_drop(format!("SELECT /* {tok2} */ 1")).await.unwrap();
        }
        assert_all_on_replicas(&topo, &tok2, 4, "reads after SET autocommit=1").await;
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn temporary_table_session_sticks_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "temporary_table_session_sticks_to_primary", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwtmp");
        let tmp = format!("tmp_{tok}");
        c.query_drop(format!("CREATE TEMPORARY TABLE `{tmp}` (a INT)"))
            .await
            .unwrap();
        c.query_drop(format!("INSERT INTO `{tmp}` VALUES (1), (2)"))
            .await
            .unwrap();
        for _ in 0..3 {
            let n: Option<u64> = c
                .query_first(format!("SELECT COUNT(*) FROM `{tmp}`"))
                .await
                .unwrap();
            assert_eq!(
                n,
                Some(2),
                "the temporary table must be visible to the session"
            );
        }
        // Unrelated plain reads: the session stays on the primary.
        for _ in 0..3 {
            c.query_drop(format!("SELECT /* {tok} */ 1")).await.unwrap();
        }
        assert_all_on_primary(&topo, &tok, 8, "session with a temporary table").await;
        let _ = c.disconnect().await;
    })
    .await;
}

#[tokio::test]
async fn named_lock_session_sticks_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "named_lock_session_sticks_to_primary", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwlock");
        let got: Option<i64> = c
            .query_first(format!("SELECT GET_LOCK('{tok}', 2)"))
            .await
            .unwrap();
        assert_eq!(got, Some(1));
        for _ in 0..3 {
            c.query_drop(format!("SELECT /* {tok} */ 1")).await.unwrap();
        }
        // The lock is really held on the primary, by the session's thread.
        let mut p = direct(&topo, "n1p").await;
        // (Spelled reversed so this direct query does not carry the token.)
        let rev: String = tok.chars().rev().collect();
        let holder: Option<Option<u64>> = p
            .query_first(format!("SELECT IS_USED_LOCK(REVERSE('{rev}'))"))
            .await
            .unwrap();
        assert!(
            matches!(holder, Some(Some(_))),
            "GET_LOCK must hold the lock on n1p"
        );
        // (CONNECTION_ID() answers the shardcat session id; the server's
        // thread id is what `pseudo_thread_id` defaults to.)
        let same_thread: Option<u64> = c
            .query_first(format!("SELECT @@pseudo_thread_id /* {tok} */"))
            .await
            .unwrap();
        assert_eq!(
            holder.flatten(),
            same_thread,
            "reads after GET_LOCK must use the lock holder's connection"
        );
        let rel: Option<i64> = c
            .query_first(format!("SELECT RELEASE_LOCK('{tok}')"))
            .await
            .unwrap();
        assert_eq!(rel, Some(1), "RELEASE_LOCK must run where the lock is held");
        assert_all_on_primary(&topo, &tok, 6, "session holding a named lock").await;
        let _ = p.disconnect().await;

        // LOCK TABLES: the locked session reads on the primary.
        let t = table_everywhere(&topo, "rwlt").await;
        let tok2 = unique_token("rwlt_q");
        c.query_drop(format!("LOCK TABLES `{t}` READ /* {tok2} */"))
            .await
            .unwrap();
        for _ in 0..3 {
            c.query_drop(format!("SELECT /* {tok2} */ COUNT(*) FROM `{t}`"))
                .await
                .unwrap();
        }
        c.query_drop(format!("UNLOCK TABLES /* {tok2} */"))
            .await
            .unwrap();
        assert_all_on_primary(&topo, &tok2, 5, "LOCK TABLES session").await;
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn last_insert_id_after_write_reads_the_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "last_insert_id_after_write_reads_the_primary", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwlid").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwlid_q");
        c.query_drop(format!("INSERT INTO `{t}` (v) VALUES (10)"))
            .await
            .unwrap();
        let id = c.last_insert_id().expect("insert id");
        let got: Option<u64> = c
            .query_first(format!("SELECT LAST_INSERT_ID() /* {tok} */"))
            .await
            .unwrap();
        assert_eq!(got, Some(id), "LAST_INSERT_ID() right after the insert");
        assert_all_on_primary(&topo, &tok, 1, "LAST_INSERT_ID()").await;
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

/// LAST_INSERT_ID() after a write, with a plain read and another client's
/// insert in between: it must still be this session's id.
#[tokio::test]
async fn last_insert_id_survives_interleaved_reads_and_other_clients() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "last_insert_id_survives_interleaved_reads_and_other_clients", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwlid2").await;
        let proxy = start_proxy(&topo, "").await;
        let mut a = through(proxy.port).await;
        let mut b = through(proxy.port).await;
        let tok = unique_token("rwlid2_q");
        a.query_drop(format!("INSERT INTO `{t}` (v) VALUES (100)")).await.unwrap();
        let id_a = a.last_insert_id().expect("insert id");
        a.query_drop(format!("SELECT /* {tok}_read */ COUNT(*) FROM `{t}`")).await.unwrap();
        b.query_drop(format!("INSERT INTO `{t}` (v) VALUES (200)")).await.unwrap();
        let id_b = b.last_insert_id().expect("insert id");
        assert_ne!(id_a, id_b);
        let got: Option<u64> = a.query_first(format!("SELECT LAST_INSERT_ID() /* {tok} */")).await.unwrap();
        let m = where_ran_total(&topo, &tok, 2).await;
        eprintln!("LAST_INSERT_ID after read + other client's insert: got {got:?}, own id {id_a}, other's id {id_b}; ran on {m:?}");
        assert_eq!(got, Some(id_a), "LAST_INSERT_ID() must be the session's own last id (other client's id was {id_b})");
        let _ = a.disconnect().await;
        let _ = b.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn read_only_transaction_is_pinned_to_one_replica() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "read_only_transaction_is_pinned_to_one_replica", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwro").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let mut used = BTreeMap::new();
        for k in 0..6 {
            let tok = unique_token("rwro_q");
            c.query_drop(format!("START TRANSACTION READ ONLY /* {tok} */")).await.unwrap();
            let mut ports = Vec::new();
            for i in 0..6 {
                let p: Option<u16> = c.query_first(format!("SELECT /* {tok} */ @@port FROM `{t}` WHERE id = {}", i % 3 + 1)).await.unwrap();
                ports.push(p.unwrap());
            }
            c.query_drop(format!("COMMIT /* {tok} */")).await.unwrap();
            let m = where_ran_total(&topo, &tok, 8).await;
            let on: Vec<&String> = m.iter().filter(|(_, v)| **v > 0).map(|(k, _)| k).collect();
            assert!(
                on.len() == 1 && on[0] != "n1p" && m[on[0]] == 8,
                "read-only transaction {k}: all 8 statements must run on one replica, got {m:?} (ports {ports:?})"
            );
            ports.dedup();
            assert_eq!(ports.len(), 1, "one server for the whole transaction");
            *used.entry(on[0].clone()).or_insert(0) += 1;
        }
        eprintln!("read-only transactions per replica: {used:?}");
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

/// mysql_async's `TxOpts::with_readonly(true)` sends `SET TRANSACTION READ
/// ONLY` then `START TRANSACTION`: a read-only transaction in another
/// spelling. Asserts only that it runs on one server; prints where, and
/// where plain reads go afterwards.
#[tokio::test]
async fn driver_read_only_transaction_runs_on_one_server() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "driver_read_only_transaction_runs_on_one_server", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwro_api");
        let mut opts = TxOpts::default();
        opts.with_readonly(Some(true));
        let mut tx = c.start_transaction(opts).await.unwrap();
        for _ in 0..3 {
            tx.query_drop(format!("SELECT /* {tok} */ 1")).await.unwrap();
        }
        tx.commit().await.unwrap();
        let m = where_ran_total(&topo, &tok, 3).await;
        eprintln!("TxOpts read-only transaction (SET TRANSACTION READ ONLY + START TRANSACTION): ran on {m:?}");
        assert!(m.values().any(|v| *v == 3), "one server for the whole transaction: {m:?}");
        let tok2 = unique_token("rwro_api_after");
        for _ in 0..4 {
            c.query_drop(format!("SELECT /* {tok2} */ 1")).await.unwrap();
        }
        let m2 = where_ran_total(&topo, &tok2, 4).await;
        eprintln!("plain reads after that transaction ran on {m2:?}");
        let _ = c.disconnect().await;
    })
    .await;
}

#[tokio::test]
async fn routing_hints() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "routing_hints", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tp = unique_token("rwhint_p");
        let tr = unique_token("rwhint_r");
        for _ in 0..5 {
            c.query_drop(format!("/* shardcat:primary */ SELECT /* {tp} */ 1"))
                .await
                .unwrap();
        }
        for _ in 0..6 {
            c.query_drop(format!("/* shardcat:replica */ SELECT /* {tr} */ 1"))
                .await
                .unwrap();
        }
        assert_all_on_primary(&topo, &tp, 5, "/* shardcat:primary */").await;
        let (r1, r2) = assert_all_on_replicas(&topo, &tr, 6, "/* shardcat:replica */").await;
        eprintln!("replica hint: n1r1={r1} n1r2={r2}");
        // A replica hint inside a (read-write) transaction: the transaction
        // wins (statements of a transaction stay on its primary connection).
        let tt = unique_token("rwhint_tx");
        c.query_drop("BEGIN").await.unwrap();
        c.query_drop(format!("/* shardcat:replica */ SELECT /* {tt} */ 1"))
            .await
            .unwrap();
        c.query_drop("COMMIT").await.unwrap();
        assert_all_on_primary(&topo, &tt, 1, "replica hint inside BEGIN").await;
        let _ = c.disconnect().await;
    })
    .await;
}

#[tokio::test]
async fn prepared_statements_route_per_execution() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "prepared_statements_route_per_execution", async {
        enable_general_log(&topo).await;
        let t = table_everywhere(&topo, "rwps").await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        let tr = unique_token("rwps_r");
        let read = c
            .prep(format!("SELECT /* {tr} */ v FROM `{t}` WHERE id = ?"))
            .await
            .unwrap();
        for i in 0..10u32 {
            let _: Option<Option<i64>> = c.exec_first(&read, (i % 3 + 1,)).await.unwrap();
        }
        let (r1, r2) = assert_all_on_replicas(&topo, &tr, 10, "prepared SELECT executions").await;
        eprintln!("prepared reads: n1r1={r1} n1r2={r2}");

        let tw = unique_token("rwps_w");
        let write = c
            .prep(format!("UPDATE `{t}` SET v = ? WHERE id = 1 /* {tw} */"))
            .await
            .unwrap();
        for i in 0..5 {
            c.exec_drop(&write, (i,)).await.unwrap();
        }
        assert_all_on_primary(&topo, &tw, 5, "prepared UPDATE executions").await;

        // The same prepared read, executed inside a transaction: primary.
        let tr2 = unique_token("rwps_tx");
        let read2 = c
            .prep(format!("SELECT /* {tr2} */ v FROM `{t}` WHERE id = ?"))
            .await
            .unwrap();
        c.query_drop("BEGIN").await.unwrap();
        for _ in 0..3 {
            let _: Option<Option<i64>> = c.exec_first(&read2, (1,)).await.unwrap();
        }
        c.query_drop("COMMIT").await.unwrap();
        assert_all_on_primary(&topo, &tr2, 3, "prepared SELECT inside BEGIN").await;
        // ... and again outside: replicas.
        let tr3 = unique_token("rwps_again");
        let read3 = c
            .prep(format!("SELECT /* {tr3} */ v FROM `{t}` WHERE id = ?"))
            .await
            .unwrap();
        for _ in 0..4 {
            let _: Option<Option<i64>> = c.exec_first(&read3, (2,)).await.unwrap();
        }
        assert_all_on_replicas(&topo, &tr3, 4, "prepared SELECT after COMMIT").await;

        let tl = unique_token("rwps_lock");
        let locking = c
            .prep(format!(
                "SELECT /* {tl} */ v FROM `{t}` WHERE id = ? FOR UPDATE"
            ))
            .await
            .unwrap();
        for _ in 0..3 {
            let _: Option<Option<i64>> = c.exec_first(&locking, (1,)).await.unwrap();
        }
        assert_all_on_primary(&topo, &tl, 3, "prepared SELECT ... FOR UPDATE").await;
        let _ = c.disconnect().await;
        drop_table(&topo, &t).await;
    })
    .await;
}

#[tokio::test]
async fn strong_consistency_reads_go_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(60, "strong_consistency_reads_go_to_primary", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "consistency = \"strong\"").await;
        let mut c = through(proxy.port).await;
        let tok = unique_token("rwstrong");
        for _ in 0..10 {
            c.query_drop(format!("SELECT /* {tok} */ 1")).await.unwrap();
        }
        let p = c.prep(format!("SELECT /* {tok} */ ?")).await.unwrap();
        for i in 0..5 {
            let _: Option<i64> = c.exec_first(&p, (i,)).await.unwrap();
        }
        assert_all_on_primary(&topo, &tok, 15, "reads under consistency = strong").await;
        let _ = c.disconnect().await;
    })
    .await;
}

// ----- balancing -----------------------------------------------------------

async fn spread(topo: &Topology, port: u16, reads: usize) -> (u64, u64, BTreeMap<String, u64>) {
    let mut c = through(port).await;
    let tok = unique_token("rwbal");
    let mut probe = StatusProbe::new(topo, &N1).await;
    let before = probe.read("Com_select").await;
    for _ in 0..reads {
        c.query_drop(format!("SELECT /* {tok} */ 1")).await.unwrap();
    }
    let after = probe.read("Com_select").await;
    let (r1, r2) = assert_all_on_replicas(topo, &tok, reads as u64, "balanced reads").await;
    let _ = c.disconnect().await;
    (r1, r2, diff(&after, &before))
}

#[tokio::test]
async fn round_robin_spreads_evenly() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(90, "round_robin_spreads_evenly", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(
            &topo,
            "consistency = \"eventual\"\nreplica_policy = \"round_robin\"",
        )
        .await;
        let (r1, r2, com) = spread(&topo, proxy.port, 400).await;
        eprintln!(
            "round_robin, 400 reads: general log n1r1={r1} n1r2={r2}; Com_select delta {com:?}"
        );
        assert!(
            (180..=220).contains(&r1) && (180..=220).contains(&r2),
            "round_robin: n1r1={r1} n1r2={r2}"
        );
    })
    .await;
}

#[tokio::test]
async fn weighted_spreads_by_weight() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(90, "weighted_spreads_by_weight", async {
        enable_general_log(&topo).await;
        let o = routing("consistency = \"eventual\"\nreplica_policy = \"weighted\"");
        let list = r#"[{ addr = "127.0.0.1:{n1r1}", weight = 1 }, { addr = "127.0.0.1:{n1r2}", weight = 3 }]"#;
        let proxy = start_proxy_with(&topo, o, Some(list)).await;
        let mut admin = through(proxy.port).await;
        let w: Vec<(String, u32)> = backends(&mut admin).await.into_iter().map(|b| (b.address, b.weight)).collect();
        eprintln!("weights as shown by SHOW SHARDCAT BACKENDS: {w:?}");
        let (r1, r2, com) = spread(&topo, proxy.port, 400).await;
        eprintln!("weighted 1:3, 400 reads: general log n1r1={r1} n1r2={r2}; Com_select delta {com:?}");
        assert!((70..=130).contains(&r1) && (270..=330).contains(&r2), "weighted 1:3 over 400 reads: n1r1={r1} n1r2={r2} (expected about 100/300)");
        let _ = admin.disconnect().await;
    })
    .await;
}

/// n1r1 answers slowly (the read sleeps 50 ms only there): with
/// least_outstanding, concurrent readers should mostly use n1r2; with
/// round_robin the split stays even (printed for comparison).
#[tokio::test]
async fn least_outstanding_prefers_the_less_busy_replica() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(
        120,
        "least_outstanding_prefers_the_less_busy_replica",
        async {
            enable_general_log(&topo).await;
            let slow_port = topo.port("n1r1");
            let mut results = BTreeMap::new();
            for policy in ["least_outstanding", "round_robin"] {
                let proxy = start_proxy(
                    &topo,
                    &format!("consistency = \"eventual\"\nreplica_policy = \"{policy}\""),
                )
                .await;
                let tok = unique_token("rwlo");
                let start = Instant::now();
                let mut tasks = Vec::new();
                for _ in 0..8 {
                    let port = proxy.port;
                    let tok = tok.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut c = through(port).await;
                        for _ in 0..25 {
                            c.query_drop(format!(
                                "SELECT /* {tok} */ SLEEP(IF(@@port = {slow_port}, 0.05, 0))"
                            ))
                            .await
                            .unwrap();
                        }
                        let _ = c.disconnect().await;
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                let took = start.elapsed();
                let (r1, r2) = assert_all_on_replicas(&topo, &tok, 200, policy).await;
                eprintln!(
                    "{policy}: 8 tasks x 25 reads, n1r1 (slow) = {r1}, n1r2 = {r2}, {took:?}"
                );
                results.insert(policy, (r1, r2));
            }
            let (r1, r2) = results["least_outstanding"];
            assert!(
                r2 >= 2 * r1,
                "least_outstanding should favour the fast replica n1r2: n1r1={r1} n1r2={r2}"
            );
        },
    )
    .await;
}

// ----- lag and no usable replica -------------------------------------------

#[tokio::test]
async fn replica_with_stopped_sql_thread_takes_no_reads_until_restarted() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        90,
        "replica_with_stopped_sql_thread_takes_no_reads_until_restarted",
        async {
            enable_general_log(&topo).await;
            let proxy = start_proxy(&topo, "consistency = \"eventual\"").await;
            let mut c = through(proxy.port).await;
            // Both replicas take reads first.
            let tok0 = unique_token("rwlag0");
            for _ in 0..20 {
                c.query_drop(format!("SELECT /* {tok0} */ 1"))
                    .await
                    .unwrap();
            }
            let (a, b) = assert_all_on_replicas(&topo, &tok0, 20, "before").await;
            assert!(a > 0 && b > 0);

            guard.push(Restore::StartSlave("n1r1".into()));
            let mut r1 = direct(&topo, "n1r1").await;
            r1.query_drop("STOP SLAVE SQL_THREAD").await.unwrap();
            let t0 = Instant::now();
            let seen = wait_for(Duration::from_secs(5), async || {
                let b = backend_of(&mut c, &topo, "n1r1").await;
                b.lag_ms.is_none().then_some(b)
            })
            .await;
            let row = seen.unwrap_or_else(|| {
                panic!("n1r1 lag_ms did not become NULL within 5 s (health interval 200 ms)")
            });
            eprintln!("n1r1 lag unknown after {:?}: {row:?}", t0.elapsed());

            let mut probe = StatusProbe::new(&topo, &["n1r1"]).await;
            let com_before = probe.read("Com_select").await["n1r1"];
            let tok1 = unique_token("rwlag1");
            for _ in 0..40 {
                c.query_drop(format!("SELECT /* {tok1} */ 1"))
                    .await
                    .unwrap();
            }
            let com_after = probe.read("Com_select").await["n1r1"];
            let m = where_ran_total(&topo, &tok1, 40).await;
            eprintln!(
                "SQL thread stopped on n1r1: 40 reads ran on {m:?}; n1r1 Com_select delta {}",
                com_after - com_before
            );
            assert_eq!(
                m,
                counts(0, 0, 40),
                "a replica with unknown lag must take no reads"
            );
            assert_eq!(com_after - com_before, 0, "n1r1 Com_select must not grow");

            r1.query_drop("START SLAVE").await.unwrap();
            let t1 = Instant::now();
            let back = wait_for(Duration::from_secs(5), async || {
                let b = backend_of(&mut c, &topo, "n1r1").await;
                b.lag_ms.is_some().then_some(b)
            })
            .await;
            let row =
                back.unwrap_or_else(|| panic!("n1r1 lag_ms still NULL 5 s after START SLAVE"));
            eprintln!("n1r1 lag known again after {:?}: {row:?}", t1.elapsed());
            let tok2 = unique_token("rwlag2");
            for _ in 0..20 {
                c.query_drop(format!("SELECT /* {tok2} */ 1"))
                    .await
                    .unwrap();
            }
            let (a, b) = assert_all_on_replicas(&topo, &tok2, 20, "after START SLAVE").await;
            eprintln!("after START SLAVE: n1r1={a} n1r2={b}");
            assert!(a > 0, "n1r1 must take reads again after START SLAVE");
            let _ = r1.disconnect().await;
            let _ = c.disconnect().await;
        },
    )
    .await;
    guard.restore_now();
}

/// Connecting with a database runs its USE on a server of the node (a
/// replica, like a read): a failure there must reach the client as the
/// server's error, not as a dropped connection.
#[tokio::test]
async fn connect_with_unknown_database_gets_the_servers_error() {
    let _s = serial();
    let topo = Topology::from_env();
    bounded(
        30,
        "connect_with_unknown_database_gets_the_servers_error",
        async {
            let proxy = start_proxy(&topo, "").await;
            let url = format!(
                "mysql://app:app@127.0.0.1:{}/{}",
                proxy.port,
                unique_token("no_such_db")
            );
            let r =
                tokio::time::timeout(Duration::from_secs(10), Conn::from_url(url.as_str())).await;
            eprintln!("connect with an unknown database: {r:?}");
            match r {
                // The server's own answer: 1049 for an account that may
                // see every database, 1044 for one (like this test's
                // backend account) that has no rights on it.
                Ok(Err(mysql_async::Error::Server(e))) => {
                    assert!(matches!(e.code, 1049 | 1044), "{e:?}")
                }
                other => panic!("expected the server's ERROR 1049/1044, got {other:?}"),
            }
        },
    )
    .await;
}

async fn stop_both_sql_threads(topo: &Topology, guard: &mut TopoGuard, c: &mut Conn) {
    for r in N1_REPLICAS {
        guard.push(Restore::StartSlave(r.into()));
        let mut c = direct(topo, r).await;
        c.query_drop("STOP SLAVE SQL_THREAD").await.unwrap();
        let _ = c.disconnect().await;
    }
    let ok = wait_for(Duration::from_secs(5), async || {
        let rows = backends(c).await;
        rows.iter()
            .filter(|b| b.node == "n1" && b.role == "replica")
            .all(|b| b.lag_ms.is_none())
            .then_some(())
    })
    .await;
    assert!(ok.is_some(), "replicas' lag did not become unknown");
}

#[tokio::test]
async fn no_usable_replica_reads_fall_back_to_primary() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(60, "no_usable_replica_reads_fall_back_to_primary", async {
        enable_general_log(&topo).await;
        let proxy = start_proxy(&topo, "").await;
        let mut c = through(proxy.port).await;
        stop_both_sql_threads(&topo, &mut guard, &mut c).await;
        // A client connecting now (with a database) works too.
        let late = through(proxy.port).await;
        let _ = late.disconnect().await;
        let tok = unique_token("rwnorep");
        for _ in 0..10 {
            let one: Option<i64> = c
                .query_first(format!("SELECT /* {tok} */ 1"))
                .await
                .unwrap();
            assert_eq!(one, Some(1));
        }
        assert_all_on_primary(
            &topo,
            &tok,
            10,
            "reads with no usable replica (no_replica = primary)",
        )
        .await;
        let _ = c.disconnect().await;
    })
    .await;
    guard.restore_now();
}

#[tokio::test]
async fn no_usable_replica_with_fail_policy_gives_clear_error() {
    let _s = serial();
    let topo = Topology::from_env();
    let mut guard = TopoGuard::new(&topo);
    bounded(
        60,
        "no_usable_replica_with_fail_policy_gives_clear_error",
        async {
            enable_general_log(&topo).await;
            // Connect before the replicas become unusable (connecting with a
            // database runs USE on a replica).
            let proxy = start_proxy(&topo, "no_replica = \"fail\"").await;
            let mut c = through(proxy.port).await;
            stop_both_sql_threads(&topo, &mut guard, &mut c).await;
            let tok = unique_token("rwnorepf");
            let t0 = Instant::now();
            let err = c
                .query_drop(format!("SELECT /* {tok} */ 1"))
                .await
                .expect_err("a read must fail with no_replica = fail");
            let took = t0.elapsed();
            eprintln!("no_replica = fail: {err} after {took:?}");
            match &err {
                mysql_async::Error::Server(e) => {
                    assert!(
                        e.message.contains("replica"),
                        "error should say no replica is usable: {e:?}"
                    );
                }
                other => panic!("expected a server error, got {other:?}"),
            }
            assert!(
                took < Duration::from_secs(2),
                "should fail fast, took {took:?}"
            );
            // Writes still work, and the session survives the error.
            let t = unique_token("rwnorepf_t");
            c.query_drop(format!("CREATE TABLE `{t}` (a INT)"))
                .await
                .unwrap();
            c.query_drop(format!("DROP TABLE `{t}`")).await.unwrap();
            assert_eq!(where_ran(&topo, &tok).await, counts(0, 0, 0));
            // Observation: a new client connecting with a database while no
            // replica is usable (its USE is routed like a read).
            let url = format!(
                "mysql://app:app@127.0.0.1:{}/{}",
                proxy.port,
                common::TEST_DB
            );
            match tokio::time::timeout(Duration::from_secs(10), Conn::from_url(url.as_str())).await
            {
                Ok(Ok(late)) => {
                    eprintln!("no_replica = fail: connecting with a database still works");
                    let _ = late.disconnect().await;
                }
                Ok(Err(e)) => eprintln!("no_replica = fail: connecting with a database fails: {e}"),
                Err(_) => eprintln!("no_replica = fail: connecting with a database hangs"),
            }
            let _ = c.disconnect().await;
        },
    )
    .await;
    guard.restore_now();
}
