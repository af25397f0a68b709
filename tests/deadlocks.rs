//! Deadlocks across nodes (`frontend::deadlock`): client transactions that
//! each hold a row lock on one node and wait for another's on a different
//! node. No server sees such a cycle; shardcat finds it and rolls one
//! victim back on every node with 1213 / 40001, as one server would, well
//! before `innodb_lock_wait_timeout`; the others proceed. A long wait that
//! is not a deadlock is left alone. Scenarios: the classic two sessions
//! over two nodes, a three-session cycle, a plain long wait; with the
//! detector off, the cross ends at the servers' lock wait timeout.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test deadlocks -- --nocapture
//! ```

mod common;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// hash_mod over 4 slots: keys 1 and 5 on n1 (slot 1), 2 on n2 (slot 2).
const RULES: &str = "[[table]]\nname = \"acc\"\nkey = \"k\"\nkey_type = \"int\"\n\
    algorithm = { kind = \"hash_mod\" }\nnodes = [\"n1\", \"n2\"]\ntables_per_node = 2\n";

struct Setup {
    proxy: ProxyProcess,
    http: u16,
    db: String,
}

async fn setup(check_ms: u64, mode: &str) -> Setup {
    let topo = Topology::from_env();
    let http = free_port();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: format!("transactions = \"{mode}\"\ndeadlock_check_ms = {check_ms}\n"),
            extra: format!("{RULES}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n"),
            ..Default::default()
        },
    );
    let db = util::db_name("deadlk");
    let mut c = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
        "CREATE TABLE acc (k INT PRIMARY KEY, v INT)".into(),
        "INSERT INTO acc VALUES (1, 0), (2, 0), (5, 0)".into(),
    ] {
        c.query_drop(sql).await.unwrap();
    }
    c.disconnect().await.ok();
    Setup { proxy, http, db }
}

/// A session inside a transaction that holds the row lock of key `k`.
async fn holder(s: &Setup, k: i64) -> Conn {
    let mut c = util::proxy_conn(&s.proxy, Some(&s.db)).await;
    c.query_drop("SET SESSION innodb_lock_wait_timeout = 6")
        .await
        .unwrap();
    c.query_drop("BEGIN").await.unwrap();
    c.query_drop(format!("UPDATE acc SET v = v + 1 WHERE k = {k}"))
        .await
        .unwrap();
    c
}

/// What a session's waiting statement ended with, and when.
struct Ended {
    who: usize,
    code: Option<(u16, String)>,
    at: Instant,
}

/// Session `who` updates key `k` (it waits), then commits if it got it.
fn wait_for(mut c: Conn, who: usize, k: i64) -> tokio::task::JoinHandle<(Ended, Conn)> {
    tokio::spawn(async move {
        let r = c
            .query_drop(format!("UPDATE acc SET v = v + 10 WHERE k = {k}"))
            .await;
        let at = Instant::now();
        let code = match r {
            Ok(()) => {
                c.query_drop("COMMIT").await.unwrap();
                None
            }
            Err(e) => {
                let (code, state, _) = util::server_error(e);
                Some((code, state))
            }
        };
        (Ended { who, code, at }, c)
    })
}

async fn values(s: &Setup) -> Vec<(i64, i64)> {
    let mut c = util::proxy_conn(&s.proxy, Some(&s.db)).await;
    // On the primaries: a replica may not have applied the last commit yet.
    let rows = c
        .query("/* shardcat:primary */ SELECT k, v FROM acc ORDER BY k")
        .await
        .unwrap();
    c.disconnect().await.ok();
    rows
}

fn victims(s: &Setup) -> f64 {
    let (_, body) = util::http_get(s.http, "/metrics");
    util::metric_sum(&body, "shardcat_deadlock_victims", "")
}

/// Runs a cycle: session i holds `holds[i]`, then waits for
/// `waits[i]` (started in order, `gap` apart). Returns the endings, the
/// time from the last wait to the victim's 1213, and the sessions.
async fn cycle(s: &Setup, holds: &[i64], waits: &[i64]) -> (Vec<Ended>, Duration) {
    let mut conns = Vec::new();
    for &k in holds {
        conns.push(holder(s, k).await);
    }
    let mut tasks = Vec::new();
    let mut closed = Instant::now();
    for (i, c) in conns.into_iter().enumerate() {
        closed = Instant::now();
        tasks.push(wait_for(c, i, waits[i]));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ended = Vec::new();
    for t in tasks {
        let (e, c) = t.await.expect("join");
        ended.push(e);
        drop(c);
    }
    let victim_at = ended
        .iter()
        .find(|e| e.code.is_some())
        .map(|e| e.at)
        .unwrap_or(closed);
    (ended, victim_at.saturating_duration_since(closed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_deadlocks_roll_back_one_victim() {
    let _serial = SERIAL.lock().await;
    let s = setup(100, "xa").await;
    // Two sessions over two nodes: 0 holds 1 (n1) and waits for 2 (n2); 1
    // holds 2 and waits for 1.
    let (ended, took) = cycle(&s, &[1, 2], &[2, 1]).await;
    let failed: Vec<&Ended> = ended.iter().filter(|e| e.code.is_some()).collect();
    assert_eq!(failed.len(), 1, "one victim: {:?}", codes(&ended));
    assert_eq!(
        failed[0].code,
        Some((1213, "40001".to_owned())),
        "the victim's answer"
    );
    let survivor = 1 - failed[0].who;
    // The survivor's two updates, none of the victim's.
    let mut want = vec![(1, 0), (2, 0), (5, 0)];
    let (own, other) = if survivor == 0 { (0, 1) } else { (1, 0) };
    want[own].1 = 1;
    want[other].1 = 10;
    assert_eq!(values(&s).await, want, "rows after the deadlock");
    println!("two sessions, two nodes: 1213 after {took:?} (session {survivor} went on)");
    assert!(took < Duration::from_secs(1), "1213 after {took:?}");
    assert_eq!(victims(&s), 1.0, "deadlock_victims");

    // Three sessions: 0 holds 1 (n1), 1 holds 2 (n2), 2 holds 5 (n1);
    // 0 waits for 2 (n2), 1 for 5 (n1), 2 for 1 (n1).
    let before = values(&s).await;
    let (ended, took) = cycle(&s, &[1, 2, 5], &[2, 5, 1]).await;
    let failed: Vec<&Ended> = ended.iter().filter(|e| e.code.is_some()).collect();
    assert_eq!(failed.len(), 1, "one victim: {:?}", codes(&ended));
    assert_eq!(failed[0].code, Some((1213, "40001".to_owned())));
    let victim = failed[0].who;
    let holds = [1i64, 2, 5];
    let waits = [2i64, 5, 1];
    let mut want = before.clone();
    for who in (0..3).filter(|&w| w != victim) {
        for (k, add) in [(holds[who], 1), (waits[who], 10)] {
            if let Some(row) = want.iter_mut().find(|(key, _)| *key == k) {
                row.1 += add;
            }
        }
    }
    assert_eq!(values(&s).await, want, "rows after the 3-cycle");
    println!("three sessions: 1213 after {took:?} (victim {victim})");
    assert!(took < Duration::from_secs(1), "1213 after {took:?}");
    assert_eq!(victims(&s), 2.0, "deadlock_victims");

    // A long wait that is no deadlock: left alone.
    let mut a = holder(&s, 1).await;
    let b = holder(&s, 2).await;
    let waiting = wait_for(b, 1, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.query_drop("COMMIT").await.unwrap();
    let (e, _) = waiting.await.expect("join");
    assert_eq!(e.code, None, "a plain lock wait must not be broken");
    assert_eq!(victims(&s), 2.0, "deadlock_victims after a plain wait");
    let mut c = util::proxy_conn(&s.proxy, None).await;
    c.query_drop(format!("DROP DATABASE {}", s.db))
        .await
        .unwrap();
}

/// With the detector off the cross ends only at the lock wait timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_off_leaves_it_to_the_timeout() {
    let _serial = SERIAL.lock().await;
    let s = setup(0, "best_effort").await;
    let mut conns = Vec::new();
    for k in [1, 2] {
        let mut c = holder(&s, k).await;
        c.query_drop("SET SESSION innodb_lock_wait_timeout = 2")
            .await
            .unwrap();
        conns.push(c);
    }
    let started = Instant::now();
    let b = conns.pop().unwrap();
    let a = conns.pop().unwrap();
    let (ta, tb) = (wait_for(a, 0, 2), wait_for(b, 1, 1));
    let (ea, _) = ta.await.expect("join");
    let (eb, _) = tb.await.expect("join");
    let codes: Vec<u16> = [&ea, &eb]
        .iter()
        .filter_map(|e| e.code.as_ref().map(|c| c.0))
        .collect();
    assert!(codes.contains(&1205), "{codes:?}");
    assert!(!codes.contains(&1213), "{codes:?}");
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(victims(&s), 0.0);
    let mut c = util::proxy_conn(&s.proxy, None).await;
    c.query_drop(format!("DROP DATABASE {}", s.db))
        .await
        .unwrap();
}

fn codes(ended: &[Ended]) -> Vec<(usize, Option<(u16, String)>)> {
    ended.iter().map(|e| (e.who, e.code.clone())).collect()
}

/// A deadlock one server sees (both rows on n1) whose victim's transaction
/// also wrote on n2: InnoDB rolls back n1's part, and the proxy must roll
/// back the rest, as one server rolls back the victim's whole transaction.
/// Generated: transaction mode × which node the victim wrote first × what
/// the client sends after the 1213. Afterwards the victim's n2 write is
/// gone and its session runs a new transaction normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_deadlock_rolls_back_the_victims_other_nodes() {
    let _serial = SERIAL.lock().await;
    for mode in ["xa", "best_effort"] {
        let s = setup(0, mode).await;
        for n2_first in [true, false] {
            for after in [
                "COMMIT",
                "BEGIN",
                "ROLLBACK",
                "UPDATE acc SET v = v WHERE k = 1",
            ] {
                let case = format!("{mode}, n2 first {n2_first}, then {after}");
                // The survivor is heavier on n1 (more rows changed), so
                // InnoDB picks the other transaction as its victim.
                let mut survivor = holder(&s, 1).await;
                survivor
                    .query_drop("INSERT INTO acc VALUES (9, 0), (13, 0), (17, 0)")
                    .await
                    .unwrap();
                let mut victim = util::proxy_conn(&s.proxy, Some(&s.db)).await;
                victim.query_drop("BEGIN").await.unwrap();
                let writes = if n2_first { [2, 5] } else { [5, 2] };
                for k in writes {
                    victim
                        .query_drop(format!("UPDATE acc SET v = v + 1 WHERE k = {k}"))
                        .await
                        .unwrap();
                }
                let waiting = wait_for(survivor, 0, 5);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let r = victim
                    .query_drop("UPDATE acc SET v = v + 1 WHERE k = 1")
                    .await;
                let code = match r {
                    Err(mysql_async::Error::Server(e)) => e.code,
                    other => panic!("{case}: expected 1213, got {other:?}"),
                };
                assert_eq!(code, 1213, "{case}");
                let (ended, survivor) = waiting.await.expect("join");
                assert_eq!(
                    ended.code, None,
                    "{case}: the survivor proceeds (and commits)"
                );
                victim.query_drop(after).await.unwrap();
                if after == "BEGIN" {
                    victim.query_drop("COMMIT").await.unwrap();
                }
                let v = values(&s).await;
                let of = |k: i64| v.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
                assert_eq!(
                    of(2),
                    Some(0),
                    "{case}: the victim's n2 write stays rolled back: {v:?}"
                );
                assert_eq!(of(5), Some(10), "{case}: the survivor's write: {v:?}");
                // The session is usable: a new two-node transaction commits.
                victim.query_drop("BEGIN").await.unwrap();
                for k in [2, 5] {
                    victim
                        .query_drop(format!("UPDATE acc SET v = v - 1 WHERE k = {k}"))
                        .await
                        .unwrap();
                }
                victim.query_drop("COMMIT").await.unwrap();
                let v = values(&s).await;
                assert_eq!(
                    v.iter().find(|(k, _)| *k == 2).map(|(_, v)| *v),
                    Some(-1),
                    "{case}: {v:?}"
                );
                // Reset for the next case.
                let mut c = util::proxy_conn(&s.proxy, Some(&s.db)).await;
                c.query_drop("DELETE FROM acc WHERE k IN (9, 13, 17)")
                    .await
                    .unwrap();
                c.query_drop("UPDATE acc SET v = 0").await.unwrap();
                c.disconnect().await.ok();
                victim.disconnect().await.ok();
                survivor.disconnect().await.ok();
            }
        }
        let mut c = util::proxy_conn(&s.proxy, None).await;
        c.query_drop(format!("DROP DATABASE {}", s.db))
            .await
            .unwrap();
    }
}
