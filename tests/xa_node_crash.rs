//! XA two-phase commit under SIGKILL of a *node's* mariadbd (shardcat
//! keeps running): every transaction writes one row on n1 (the
//! coordinator: the transaction begins there), one row on n2 (an XA
//! branch) and updates a broadcast row on both; every other round is an
//! autocommit INSERT of two rows split over n1 and n2 (the same protocol
//! on the statement's own connections). During its COMMIT one
//! primary is killed, in one of the protocol's phases, found by watching
//! the servers (the branch in `XA RECOVER` on n2, the decision row in
//! `shardcat.xa_log` on n1) and widened by the test-only pauses of
//! `execute::xa`:
//!
//! - n2 before its PREPARE (the PREPARE fails: everything rolls back),
//! - n2 prepared, before the decision (the decision commits; its branch
//!   is committed by recovery once n2 is back),
//! - n2 after the decision (phase 2 fails on it: recovery commits it),
//! - n1 prepared, before the decision (its COMMIT fails, the outcome is
//!   unknown to the client: recovery rolls the branch back, as the
//!   decision row died with the coordinator's transaction),
//! - n1 after the decision (the branch commits, the client gets OK).
//!
//! The node is restarted with `scripts/topology.sh start-instance`. Then,
//! once recovery has run: no transaction or split write is half applied (its rows are on
//! both nodes or on neither), no branch is left prepared, the broadcast
//! copies agree and count exactly the applied transactions, and every
//! transaction a client saw commit is there. Replication is checked to be
//! healthy at the end, and the XA metrics (`/metrics`) and `SHOW SHARDCAT
//! XA` must count exactly the recoveries, deferred phase-2 commits and
//! outcomes the kills caused. Prints which phase each kill landed in.
//! Then an invariant workload (three clients transferring between
//! accounts on both nodes, a ledger row per transfer) runs while n2p and
//! n1p are killed in turn: the total never changes, every balance matches
//! the ledger, every acknowledged transfer is in it.
//!
//! Run (after `scripts/topology.sh up`; `SHARDCAT_XA_NODE_KILLS` kills,
//! default 10):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test xa_node_crash -- --nocapture
//! ```

mod common;
#[path = "common/ledger.rs"]
mod ledger;
#[path = "common/rw.rs"]
mod rw;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::{sigkill, Topology};
use ledger::{check_ledger, prepared_anywhere, prepared_on, transfer, ACCOUNTS};

// hash_mod over 4 slots: id mod 4; slots 0, 1 on n1 and 2, 3 on n2.
const RULES: &str = r#"
[[table]]
name = "items"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "pairs"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "tally"
broadcast = true
"#;

/// Each test-only pause of the commit protocol, in ms.
const PAUSE_MS: u64 = 600;

/// Where the commit was when the kill landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Nothing prepared on n2 yet.
    BeforePrepare,
    /// n2's branch prepared, no decision row visible on n1.
    Prepared,
    /// The decision row committed on n1, n2's branch still prepared.
    Decided,
    /// Neither (the commit finished, or it failed before we looked).
    Outside,
}

/// One kill: the victim and the phase aimed at.
const PLAN: [(&str, Phase); 5] = [
    ("n2p", Phase::BeforePrepare),
    ("n2p", Phase::Prepared),
    ("n2p", Phase::Decided),
    ("n1p", Phase::Prepared),
    ("n1p", Phase::Decided),
];

fn start(topo: &Topology, http: u16) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: "transactions = \"xa\"\nxa_recovery_interval_ms = 300\n".into(),
            extra: format!(
                "{RULES}\n{}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n",
                ledger::RULES
            ),
            ..Default::default()
        },
    )
}

/// The body of `GET /metrics` on the admin listener.
fn metrics(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

/// The value of the sample `line_start` (family and labels).
fn sample(metrics: &str, line_start: &str) -> i64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no {line_start} in /metrics")) as i64
}

/// The metrics and `SHOW SHARDCAT XA` agree with what the kills did:
/// `kills` is `(victim, phase seen)` per kill.
async fn check_counters(proxy: &ProxyProcess, http: u16, kills: &[(&str, Phase)]) {
    let count = |victim: &str, phases: &[Phase]| {
        kills
            .iter()
            .filter(|(v, p)| *v == victim && phases.contains(p))
            .count() as i64
    };
    let branch_later = count("n2p", &[Phase::Prepared, Phase::Decided]);
    let coordinator_lost = count("n1p", &[Phase::Prepared]);
    let m = metrics(http);
    let xa = |s: &str| sample(&m, s);
    assert_eq!(
        xa("shardcat_xa_recovered_branches_total{action=\"commit\"}"),
        branch_later
    );
    assert_eq!(
        xa("shardcat_xa_recovered_branches_total{action=\"rollback\"}"),
        coordinator_lost
    );
    assert_eq!(xa("shardcat_xa_phase2_deferred_total"), branch_later);
    assert_eq!(
        xa("shardcat_xa_transactions_total{outcome=\"unknown\"}"),
        coordinator_lost
    );
    assert_eq!(
        xa("shardcat_xa_transactions_total{outcome=\"aborted\"}"),
        count("n2p", &[Phase::BeforePrepare])
    );
    assert_eq!(xa("shardcat_xa_prepared_branches"), 0);
    assert!(xa("shardcat_xa_recovery_runs_total") > 0);
    assert!(xa("shardcat_xa_recovery_failures_total") >= coordinator_lost);
    let mut p = util::proxy_conn(proxy, None).await;
    let rows: Vec<(String, String)> = p.query("SHOW SHARDCAT XA").await.unwrap();
    let get = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| r.1.clone());
    assert_eq!(
        get("recovered_commits"),
        Some(branch_later.to_string()),
        "SHOW SHARDCAT XA: {rows:?}"
    );
    assert_eq!(get("pending_prepared_branches"), Some("0".into()));
    println!("SHOW SHARDCAT XA: {rows:?}");
}

/// The phase a commit is in now, seen from the servers.
async fn phase(n1: &mut Conn, n2: &mut Conn) -> Phase {
    let Some(gtrid) = prepared_on(n2).await.into_iter().next() else {
        return Phase::BeforePrepare;
    };
    let row: Option<i64> = n1
        .exec_first(
            "SELECT 1 FROM shardcat.xa_log WHERE gtrid = ?",
            (gtrid.as_bytes(),),
        )
        .await
        .unwrap_or(None);
    match row {
        Some(_) => Phase::Decided,
        None => Phase::Prepared,
    }
}

/// The client's transaction up to (not including) COMMIT; `false` when a
/// statement failed (a node still coming back).
async fn write(p: &mut Conn, k: i64) -> bool {
    let body = async {
        p.query_drop("BEGIN").await?;
        p.query_drop(format!("INSERT INTO items VALUES ({}, {k})", 4 * k))
            .await?;
        p.query_drop(format!("INSERT INTO items VALUES ({}, {k})", 4 * k + 2))
            .await?;
        p.query_drop(format!(
            "UPDATE tally SET n = n + 1, last = {k} WHERE id = 1"
        ))
        .await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), body).await,
        Ok(Ok(()))
    )
}

/// Three scatter writes in a row succeed (a statement on a pooled
/// connection to a primary that was restarted fails once).
async fn warm(p: &mut Conn) -> bool {
    let mut ok = 0;
    for _ in 0..20 {
        match p.query_drop("UPDATE pairs SET k = k WHERE id < 0").await {
            Ok(()) => ok += 1,
            Err(e) => {
                eprintln!("warm-up after a restart: {e}");
                ok = 0
            }
        }
        if ok == 3 {
            return true;
        }
    }
    false
}

/// Per node, the `k`s of `items` and of `pairs`; and the broadcast copies.
struct Applied {
    items: [BTreeSet<i64>; 2],
    pairs: [BTreeSet<i64>; 2],
    tallies: Vec<(i64, i64)>,
}

async fn applied(topo: &Topology, db: &str) -> Applied {
    let mut a = Applied {
        items: Default::default(),
        pairs: Default::default(),
        tallies: Vec::new(),
    };
    for (i, (server, ts)) in [("n1p", ["0", "1"]), ("n2p", ["2", "3"])]
        .into_iter()
        .enumerate()
    {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        for t in ts {
            let rows: Vec<i64> = c.query(format!("SELECT k FROM items_{t}")).await.unwrap();
            a.items[i].extend(rows);
            let rows: Vec<i64> = c.query(format!("SELECT k FROM pairs_{t}")).await.unwrap();
            a.pairs[i].extend(rows);
        }
        let t: Option<(i64, i64)> = c
            .query_first("SELECT n, last FROM tally WHERE id = 1")
            .await
            .unwrap();
        a.tallies.push(t.expect("tally row"));
        c.disconnect().await.ok();
    }
    a
}

/// After recovery: nothing prepared, nothing half applied, broadcast
/// copies equal and counting the applied transactions, acked ones there.
async fn check(topo: &Topology, db: &str, acked: &BTreeSet<i64>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    while prepared_anywhere(topo).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(prepared_anywhere(topo).await, 0, "branches left prepared");
    let a = applied(topo, db).await;
    assert_eq!(
        a.items[0], a.items[1],
        "half-applied transactions (n1 vs n2 rows)"
    );
    assert_eq!(
        a.pairs[0], a.pairs[1],
        "half-applied autocommit writes (n1 vs n2 rows)"
    );
    assert_eq!(a.tallies[0], a.tallies[1], "broadcast copies disagree");
    assert_eq!(
        a.tallies[0].0 as usize,
        a.items[0].len(),
        "broadcast count vs applied transactions"
    );
    let lost: Vec<_> = acked
        .iter()
        .filter(|k| !a.items[0].contains(k) && !a.pairs[0].contains(k))
        .collect();
    assert!(lost.is_empty(), "acknowledged commits lost: {lost:?}");
    a.items[0].len() + a.pairs[0].len()
}

/// Runs the commit of transaction `k` and kills `victim` when the commit
/// is in `aim`; returns the phase seen just before the kill and whether
/// the client got OK.
async fn commit_and_kill(
    topo: &Topology,
    mut p: Conn,
    last: String,
    victim: &str,
    aim: Phase,
) -> (Phase, bool, u128) {
    let mut n1 = util::direct_conn(topo, "n1p", None).await;
    let mut n2 = util::direct_conn(topo, "n2p", None).await;
    let pid = rw::checked_pid(topo, victim);
    let t0 = Instant::now();
    let run = tokio::spawn(async move {
        let r = tokio::time::timeout(Duration::from_secs(30), p.query_drop(&last)).await;
        match r {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                eprintln!("{last}: {e}");
                false
            }
            Err(_) => panic!("{last}: hung 30 s"),
        }
    });
    // The first pause starts once the decision row is written: give it
    // a third of a pause before calling the phase "before prepare".
    let floor = Duration::from_millis(PAUSE_MS / 3);
    let deadline = Instant::now() + Duration::from_millis(4 * PAUSE_MS);
    let mut seen = Phase::Outside;
    while Instant::now() < deadline && !run.is_finished() {
        let now = phase(&mut n1, &mut n2).await;
        if now == aim && (aim != Phase::BeforePrepare || t0.elapsed() >= floor) {
            seen = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if seen == Phase::Outside {
        seen = phase(&mut n1, &mut n2).await;
        if run.is_finished() {
            seen = Phase::Outside;
        }
    }
    drop(n1);
    drop(n2);
    sigkill(pid);
    let ms = t0.elapsed().as_millis();
    let acked = run.await.expect("COMMIT task");
    (seen, acked, ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_kills_during_commit_leave_nothing_half_applied() {
    let topo = Topology::from_env();
    std::env::set_var("SHARDCAT_XA_TEST_PREPARE_DELAY_MS", PAUSE_MS.to_string());
    std::env::set_var("SHARDCAT_XA_TEST_DELAY_MS", PAUSE_MS.to_string());
    std::env::set_var("SHARDCAT_XA_TEST_PHASE2_DELAY_MS", PAUSE_MS.to_string());
    let kills: usize = std::env::var("SHARDCAT_XA_NODE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let db = format!("xanode_{}", std::process::id());
    let http = common::proxy::free_port();
    let proxy = start(&topo, http);
    let mut p = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
        "CREATE TABLE items (id INT PRIMARY KEY, k INT NOT NULL)".into(),
        "CREATE TABLE pairs (id INT PRIMARY KEY, k INT NOT NULL)".into(),
        "CREATE TABLE tally (id INT PRIMARY KEY, n INT NOT NULL, last INT NOT NULL)".into(),
        "INSERT INTO tally VALUES (1, 0, 0)".into(),
    ] {
        p.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(p);
    // A kill of a primary must not land on DDL its replicas still apply.
    util::sync_replicas(&topo).await;

    let mut acked = BTreeSet::new();
    let mut report = Vec::new();
    let mut seen_by_kill = Vec::new();
    let mut k = 0i64;
    for i in 0..kills {
        let (victim, aim) = PLAN[i % PLAN.len()];
        // A fresh client; a statement may fail while a node comes back.
        let mut p = None;
        for _ in 0..40 {
            k += 1;
            let mut c = util::proxy_conn(&proxy, Some(&db)).await;
            // Odd rounds: an autocommit INSERT split over both nodes, once
            // the pool's connections to a restarted primary are fresh.
            if (i % 2 == 1 && warm(&mut c).await) || (i % 2 == 0 && write(&mut c, k).await) {
                p = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let p = p.expect("no transaction could be written for 10 s");
        let last = match i % 2 {
            1 => format!(
                "INSERT INTO pairs VALUES ({}, {k}), ({}, {k})",
                4 * k,
                4 * k + 2
            ),
            _ => "COMMIT".to_owned(),
        };
        let (seen, ok, ms) = commit_and_kill(&topo, p, last.clone(), victim, aim).await;
        seen_by_kill.push((victim, seen));
        if ok {
            acked.insert(k);
        }
        let t = Instant::now();
        let name = victim.to_owned();
        let topo2 = topo.clone();
        tokio::task::spawn_blocking(move || topo2.start_instance(&name))
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("start-instance {victim}: {e}"));
        let applied = check(&topo, &db, &acked).await;
        report.push(format!(
            "{}: kill {victim} aimed {aim:?} landed {seen:?} at {ms} ms: client {}, \
             restarted+recovered in {} ms, applied so far {applied}",
            if i % 2 == 1 {
                "autocommit"
            } else {
                "transaction"
            },
            if ok { "OK" } else { "error" },
            t.elapsed().as_millis()
        ));
        assert!(
            seen != Phase::Outside,
            "kill {i} missed the commit: {}",
            report.join("\n")
        );
    }
    for line in &report {
        println!("{line}");
    }
    let landed = report.iter().filter(|l| !l.contains("Outside")).count();
    println!(
        "node kills: {kills}, inside the commit: {landed}, acknowledged {}",
        acked.len()
    );
    check_counters(&proxy, http, &seen_by_kill).await;
    drop(proxy);

    // The invariant workload under kills of either primary.
    for var in [
        "SHARDCAT_XA_TEST_PREPARE_DELAY_MS",
        "SHARDCAT_XA_TEST_DELAY_MS",
        "SHARDCAT_XA_TEST_PHASE2_DELAY_MS",
    ] {
        std::env::set_var(var, "10");
    }
    let proxy = start(&topo, common::proxy::free_port());
    transfers_under_node_kills(&topo, &proxy, &db).await;
    util::sync_replicas(&topo).await;
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}

/// Three clients transfer between accounts on both nodes while n1p and
/// n2p are killed in turn: after recovery the total is unchanged, every
/// balance matches the ledger and every acknowledged transfer is in it.
async fn transfers_under_node_kills(topo: &Topology, proxy: &ProxyProcess, db: &str) {
    let mut p = util::proxy_conn(proxy, Some(db)).await;
    for sql in ledger::setup_sql() {
        p.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(p);
    util::sync_replicas(topo).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for w in 0..3i64 {
        let (stop, acked, port, db) = (stop.clone(), acked.clone(), proxy.port, db.to_owned());
        clients.push(tokio::spawn(async move {
            let url = format!("mysql://app:app@127.0.0.1:{port}/{db}");
            let mut attempts = 0;
            let mut i = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut c) = mysql_async::Conn::from_url(url.clone()).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    attempts += 1;
                    let tid = 10_000 * (w + 1) + i;
                    let src = 1 + (i + w) % ACCOUNTS;
                    let dst = 1 + (i + w + 1) % ACCOUNTS;
                    if transfer(&mut c, tid, src, dst).await {
                        acked.lock().unwrap().push(tid);
                    } else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        break; // a fresh connection after a failure
                    }
                }
            }
            attempts
        }));
    }
    let mut kills = 0;
    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(800)).await;
        let victim = if round % 2 == 0 { "n2p" } else { "n1p" };
        sigkill(rw::checked_pid(topo, victim));
        kills += 1;
        let (name, topo2) = (victim.to_owned(), topo.clone());
        tokio::task::spawn_blocking(move || topo2.start_instance(&name))
            .await
            .expect("join")
            .unwrap_or_else(|e| panic!("start-instance {victim}: {e}"));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut attempts = 0;
    for c in clients {
        attempts += c.await.expect("client");
    }
    let acked = acked.lock().unwrap().clone();
    let in_ledger = check_ledger(topo, db, &acked, Duration::from_secs(20)).await;
    println!(
        "transfers under {kills} node kills: {attempts} attempted, {} acknowledged, {} in the \
         ledger, total unchanged, none lost",
        acked.len(),
        in_ledger
    );
}
