//! Splitting a layout online against the real topology: a hash table on
//! n1, n2 (2 slots each, with a bound table) spreads over two new nodes
//! n3, n4 (throw-away servers) with `shardcat shards split` as one
//! operation while writers insert, update and delete through the proxy and
//! readers read: a split whose switch cannot fit its pause stays in
//! catch-up, `--abort` undoes it, a second interrupted run is resumed by
//! running the command again. Afterwards: no failed write, no failed read,
//! the rows through the proxy equal the reference server's (which got the
//! same acknowledged writes), each slot's physical table has the
//! reference's row count and checksum for that slot, the pause is bounded
//! (printed), `--cleanup` drops the sources' old tables.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own database and servers.

mod common;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/util.rs"]
mod util;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use moving::{cli, reported_pause, Mirror, Outcome, Port, StopOnDrop};
use mysql_async::prelude::*;
use mysql_async::Conn;
use scratch::Scratch;
use util::{direct_conn, proxy_conn};

const DB: &str = "split_layout";
const SEED: i64 = 300;
const WRITERS: i64 = 3;
const SLOTS: i64 = 4;

fn options(s: &Scratch) -> ProxyOptions {
    ProxyOptions {
        extra: format!(
            r#"
[[node]]
name = "n3"
primary = "{n3}"

[[node]]
name = "n4"
primary = "{n4}"

{rules}"#,
            n3 = s.addr("n3"),
            n4 = s.addr("n4"),
            rules = moving::accounts_rules(DB),
        ),
        ..Default::default()
    }
}

const DDL: [&str; 2] = moving::ACCOUNTS_DDL;

fn split_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "shards",
        "split",
        "--table",
        "accounts",
        "--to",
        "n3,n4",
        "--repl-user",
        "repl",
        "--repl-password",
        "repl",
    ];
    args.extend_from_slice(extra);
    args
}

async fn split(config: &std::path::Path, extra: &'static [&'static str]) -> (bool, String) {
    let cfg = config.to_path_buf();
    tokio::task::spawn_blocking(move || cli(&split_args(extra), &cfg))
        .await
        .unwrap()
}

/// Drops the database and any split channel an earlier run left.
async fn reset(c: &mut Conn) {
    moving::drop_channels(c, "shardcat_split_").await;
    c.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
        .await
        .unwrap();
}

/// Generated writes: new accounts, ledger transactions, updates of seed
/// rows, deletes of the writer's own accounts (every slot gets some).
async fn writer(proxy: u16, topo: Arc<Topology>, w: i64, stop: Arc<AtomicBool>) -> Outcome {
    let mut m = Mirror::open(proxy, &topo, DB).await;
    let mut out = Outcome::default();
    let mut mine: Vec<i64> = Vec::new();
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let id = 10_000 + k * WRITERS + w;
        let stmts = match k % 5 {
            0 if !mine.is_empty() => {
                let gone = mine.remove((k as usize * 7) % mine.len());
                vec![
                    format!("DELETE FROM ledger WHERE account_id = {gone}"),
                    format!("DELETE FROM accounts WHERE id = {gone}"),
                ]
            }
            1 | 3 => {
                mine.push(id);
                vec![format!(
                    "INSERT INTO accounts VALUES ({id}, 0, 'w{w} ''{k}''', {})",
                    k as f64 / 7.0
                )]
            }
            2 => {
                // The writer's own seed rows: each row's updates in one order.
                let seed = ((k * 13) % (SEED / WRITERS)) * WRITERS + w;
                vec![format!(
                    "UPDATE accounts SET balance = balance + 1, note = 'u{w}' WHERE id = {seed}"
                )]
            }
            _ if !mine.is_empty() => {
                let a = mine[(k as usize) % mine.len()];
                vec![
                    format!("INSERT INTO ledger (account_id, delta) VALUES ({a}, {k})"),
                    format!("UPDATE accounts SET balance = balance + {k} WHERE id = {a}"),
                ]
            }
            _ => continue,
        };
        m.write(&stmts, &mut out).await;
    }
    out
}

/// Point and scatter reads until stopped: the failures.
async fn reader(proxy: u16, r: i64, stop: Arc<AtomicBool>, reads: Arc<AtomicUsize>) -> Vec<String> {
    let mut c = proxy_conn(&Port(proxy), Some(DB)).await;
    let mut failures = Vec::new();
    let mut k = r;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let sql = if k % 3 == 0 {
            "SELECT COUNT(*) FROM accounts".to_string()
        } else {
            format!("SELECT COUNT(*) FROM accounts WHERE id = {}", k % SEED)
        };
        match c.query_first::<i64, _>(&sql).await {
            Ok(Some(_)) => {
                reads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => failures.push(format!("{sql}: no row")),
            Err(e) => failures.push(format!("{sql}: {e}")),
        }
    }
    failures
}

/// (rows, checksum) of the rows of `table` in `sql_from` (a table or a
/// filtered one): a CRC32 over every column, summed.
async fn count_and_sum(c: &mut Conn, from: &str, accounts: bool) -> (i64, i64) {
    let cols = if accounts {
        "id, balance, note, amount"
    } else {
        "account_id, delta"
    };
    let sql =
        format!("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', {cols}))), 0) FROM {from}");
    let r: Option<(i64, i64)> = c.query_first(&sql).await.unwrap();
    r.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_become_four_while_writes_continue() {
    let topo = Arc::new(Topology::from_env());
    let mut s = Scratch::new(&topo);
    s.start("n3", None).expect("start n3");
    s.start("n4", None).expect("start n4");
    for node in ["n1p", "n2p", "ref"] {
        reset(&mut direct_conn(&topo, node, None).await).await;
    }
    let proxy = ProxyProcess::start_with(&topo, options(&s));
    let config = proxy.config_path.clone();
    let mut c = proxy_conn(&proxy, None).await;
    let mut reference = direct_conn(&topo, "ref", None).await;
    for conn in [&mut c, &mut reference] {
        conn.query_drop(format!("CREATE DATABASE {DB}"))
            .await
            .unwrap();
        conn.query_drop(format!("USE {DB}")).await.unwrap();
        for ddl in DDL {
            conn.query_drop(ddl).await.unwrap();
        }
        let values: Vec<String> = (0..SEED)
            .map(|i| format!("({i}, 100, 'seed ''{i}'' é\\\\', {})", i as f64 / 3.0))
            .collect();
        conn.query_drop(format!("INSERT INTO accounts VALUES {}", values.join(",")))
            .await
            .unwrap();
    }

    // The plan, printed without changing anything.
    let (ok, plan) = cli(&split_args(&["--dry-run"]), &config);
    assert!(ok, "{plan}");
    assert!(
        plan.contains("slot 1 (accounts_1,ledger_1) n1 → n3")
            && plan.contains("slot 3 (accounts_3,ledger_3) n2 → n4"),
        "{plan}"
    );
    // Plans given slot by slot: the same plan; refused ones name why.
    let by_slot = |slots: &[&str]| {
        let mut args = vec!["shards", "split", "--table", "accounts", "--dry-run"];
        for s in slots {
            args.extend(["--slot", s]);
        }
        cli(&args, &config)
    };
    let (ok, given) = by_slot(&["accounts_1=n3", "3=n4"]);
    assert!(ok, "{given}");
    assert_eq!(
        given
            .lines()
            .filter(|l| l.starts_with("plan:"))
            .collect::<Vec<_>>(),
        plan.lines()
            .filter(|l| l.starts_with("plan:"))
            .collect::<Vec<_>>()
    );
    for (slots, why) in [
        (&["0=n3", "2=n3"][..], "would take slots from `n1` and `n2`"),
        (&["1=n3", "1=n4"][..], "slot 1 is named twice"),
        (&["1=n9"][..], "node `n9` is not defined"),
        (&["0=n1"][..], "already on node `n1`"),
    ] {
        let (ok, text) = by_slot(slots);
        assert!(!ok && text.contains(why), "{slots:?}: {text}");
    }
    let (ok, text) = cli(
        &["shards", "split", "--table", "accounts", "--to", "n2,n3"],
        &config,
    );
    assert!(!ok && text.contains("already holds slots"), "{text}");
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("nothing moved"), "{status}");

    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let reads = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(proxy.port, topo.clone(), w, stop.clone())))
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| tokio::spawn(reader(proxy.port, r, stop.clone(), reads.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A switch that cannot fit in 1 ms: the split stays in catch-up with
    // both channels running; --abort removes both copies and channels.
    let (ok, text) = split(&config, &["--max-pause-ms", "1"]).await;
    assert!(!ok, "a 1 ms pause cannot switch:\n{text}");
    assert!(text.contains("2 slots: phase catching_up"), "{text}");
    let (_, status) = cli(&["shards", "status"], &config);
    assert_eq!(status.matches("[split_accounts]").count(), 2, "{status}");
    assert!(!status.contains("moved:"), "{status}");
    let (ok, text) = cli(&split_args(&["--abort"]), &config);
    assert!(ok, "{text}");
    for name in ["n3", "n4"] {
        let mut t = s.conn(name).await;
        let channels: Vec<mysql_async::Row> = t.query("SHOW ALL SLAVES STATUS").await.unwrap();
        assert!(channels.is_empty(), "{name}: channels after --abort");
        let tables: Vec<String> = t
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                (DB,),
            )
            .await
            .unwrap();
        assert!(tables.is_empty(), "{name}: {tables:?} after --abort");
    }
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("nothing moved"), "{status}");

    // Interrupted again, then resumed from catch-up: one switch for all.
    let (ok, text) = split(&config, &["--max-pause-ms", "1"]).await;
    assert!(!ok, "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let (ok, text) = split(&config, &[]).await;
    let took = started.elapsed();
    assert!(
        ok,
        "split failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    assert!(text.contains("resuming its plan"), "{text}");
    // The pause compared the keys written since each pair's last key
    // round (its key watch), not the tables' row counts.
    assert!(
        text.contains("in the pause: ") && !text.contains("the pause counts"),
        "{text}"
    );
    let (pause_ms, steps) = reported_pause(&text, "switched: writes paused ");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let out = Outcome::gather(writers).await;
    let mut read_failures = Vec::new();
    for r in readers {
        read_failures.extend(r.await.unwrap());
    }
    eprintln!(
        "split 2 → 4 nodes: {} ms in all (resumed run), write pause {pause_ms} ms ({steps}), slowest write {} ms, \
         {} writes acknowledged, {} failed, {} deadlocks retried, {} reads, {} failed",
        took.as_millis(),
        out.slowest.as_millis(),
        out.acknowledged,
        out.failures.len(),
        out.deadlocks_retried,
        reads.load(Ordering::Relaxed),
        read_failures.len()
    );
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    assert!(read_failures.is_empty(), "{read_failures:?}");
    assert!(out.acknowledged > 20, "the load ran: {}", out.acknowledged);
    assert!(pause_ms < 2000, "pause {pause_ms} ms");

    // Through the proxy: the reference's rows, exactly.
    let all = "SELECT id, balance, note, amount FROM accounts ORDER BY id";
    let ledger = "SELECT account_id, delta FROM ledger ORDER BY account_id, delta";
    let got: Vec<(i64, i64, Option<String>, Option<f64>)> = c.query(all).await.unwrap();
    let want: Vec<(i64, i64, Option<String>, Option<f64>)> = reference.query(all).await.unwrap();
    assert_eq!(got.len(), want.len(), "row counts");
    assert!(got == want, "accounts through the proxy differ from ref");
    let got: Vec<(i64, i64)> = c.query(ledger).await.unwrap();
    let want: Vec<(i64, i64)> = reference.query(ledger).await.unwrap();
    assert_eq!(got, want, "ledger through the proxy vs ref");

    // Each slot's physical tables where the split put them: ref's count
    // and checksum of that slot's rows.
    let placed = [("n1", 0), ("n3", 1), ("n2", 2), ("n4", 3)];
    for (node, slot) in placed {
        let mut n = match node {
            "n1" => direct_conn(&topo, "n1p", Some(DB)).await,
            "n2" => direct_conn(&topo, "n2p", Some(DB)).await,
            _ => {
                let mut t = s.conn(node).await;
                t.query_drop(format!("USE {DB}")).await.unwrap();
                t
            }
        };
        for (table, key, accounts) in [("accounts", "id", true), ("ledger", "account_id", false)] {
            let here = count_and_sum(&mut n, &format!("{table}_{slot}"), accounts).await;
            let there = count_and_sum(
                &mut reference,
                &format!("{table} WHERE {key} % {SLOTS} = {slot}"),
                accounts,
            )
            .await;
            assert_eq!(here, there, "{table}_{slot} on {node} vs ref");
        }
    }

    // The placement: status, a fresh planner, no channel left.
    let (_, status) = cli(&["shards", "status"], &config);
    for line in [
        "moved: split_layout.accounts slot 1 → node n3",
        "moved: split_layout.accounts slot 3 → node n4",
    ] {
        assert!(status.contains(line), "{status}");
    }
    assert_eq!(status.matches("phase switched").count(), 2, "{status}");
    let check = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .arg("check")
        .arg(&config)
        .output()
        .expect("run shardcat check");
    let check = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.contains("moved: split_layout.accounts slot 3 → node n4")
            && check.contains("[split_accounts]"),
        "{check}"
    );
    let (ok, plan) = cli(
        &[
            "explain",
            "--schema",
            DB,
            "SELECT * FROM accounts WHERE id = 7",
        ],
        &config,
    );
    assert!(ok && plan.contains("n4") && !plan.contains("n2"), "{plan}");
    for name in ["n3", "n4"] {
        let mut t = s.conn(name).await;
        let channels: Vec<mysql_async::Row> = t.query("SHOW ALL SLAVES STATUS").await.unwrap();
        assert!(channels.is_empty(), "{name}: the channel is removed");
    }

    // A single move of a split's slot is refused; --cleanup drops the
    // sources' old tables, reads stay the same.
    let (ok, text) = cli(
        &[
            "shards", "move", "--table", "accounts", "--shard", "1", "--to", "n1",
        ],
        &config,
    );
    assert!(!ok && text.contains("part of split_accounts"), "{text}");
    let before: Vec<(i64, i64, Option<String>, Option<f64>)> = c.query(all).await.unwrap();
    let (ok, text) = cli(&split_args(&["--cleanup"]), &config);
    assert!(ok, "{text}");
    let mut n1 = direct_conn(&topo, "n1p", Some(DB)).await;
    let gone: Result<Option<i64>, _> = n1.query_first("SELECT COUNT(*) FROM accounts_1").await;
    assert!(gone.is_err(), "accounts_1 dropped on n1");
    let after: Vec<(i64, i64, Option<String>, Option<f64>)> = c.query(all).await.unwrap();
    assert!(before == after, "reads after cleanup");
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(!status.contains("move: "), "{status}");
    for node in ["n1p", "n2p", "ref"] {
        reset(&mut direct_conn(&topo, node, None).await).await;
    }
}
