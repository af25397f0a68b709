//! `shardcat shards resplit` against the real topology: a `hash_mod` table
//! on n1, n2 with 2 tables per node (and a table bound to it) goes to 4
//! tables per node while writers insert, update (also the sharding key)
//! and delete through the proxy — each acknowledged write mirrored to the
//! reference server — and readers read. One case with integer keys (its
//! first run killed during the copy and resumed), one with string keys (a
//! first run whose switch cannot fit its pause, then `--abort`). Afterwards:
//! no failed write or read, the rows through the proxy equal the
//! reference's, every new physical table holds exactly the rows whose key
//! maps to it (computed with the placement code from the reference's rows),
//! the write pause is printed, `--cleanup` drops the old tables. The
//! progress is read through the proxy while the resplit runs (`SHOW
//! SHARDCAT MOVES`, the `shard_resplit_*` metrics). Another case kills the
//! tool (SIGKILL) at generated points of its catch-up, verification and
//! switch (before and after the placement write) and runs it again. Keys
//! are generated from a seed (`SHARDCAT_TEST_SEED` replays one). An ignored
//! bench prints the write pause for two table sizes (`resplit_pause_bench`).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own databases.

mod common;
#[path = "common/killing.rs"]
mod killing;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/resplitting.rs"]
mod resplitting;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Topology;
use killing::{kill_at, owned, run_to_end, shuffled, Gen, Running};
use moving::{by_name, cli, cli_of, reported_pause, Outcome, StopOnDrop};
use mysql_async::prelude::*;
use mysql_async::Conn;
use resplitting::*;
use util::{direct_conn, proxy_conn};

/// The dry run's plan and the refusals, each with its reason.
fn plan_and_refusals(config: &std::path::Path) {
    let config = config.to_path_buf();
    // The plan, printed without changing anything; refusals with a reason.
    let (ok, plan) = cli(&args("4", &["--dry-run"]), &config);
    assert!(ok, "{plan}");
    for line in [
        "slot 5 on n1: accounts_5 ← rows of accounts_1",
        "slot 1 on n1: accounts_1_rs4 ← rows of accounts_1 (staging name for accounts_1)",
        "slot 6 on n2: ledger_6 ← rows of ledger_2",
        "slot 4 stays on node n1 ([[moved]])",
    ] {
        assert!(plan.contains(line), "{line}:\n{plan}");
    }
    for (a, why) in [
        (args("3", &[]), "integer factor"),
        (args("2", &[]), "integer factor"),
        (
            vec![
                "shards",
                "resplit",
                "--table",
                "ledger",
                "--tables-per-node",
                "4",
            ],
            "resplit the table it is bound to",
        ),
        (
            vec![
                "shards",
                "resplit",
                "--table",
                "jumpy",
                "--tables-per-node",
                "4",
            ],
            "only `hash_mod`",
        ),
    ] {
        let (ok, text) = cli(&a, &config);
        assert!(!ok && text.contains(why), "{a:?}: {text}");
    }
}

/// The first run, cut short: killed during its copy (integer keys) or
/// failing its pause, then aborted (string keys).
async fn interrupt(kind: Kind, topo: &Topology, config: &std::path::Path) {
    let db = kind.db();
    let config = config.to_path_buf();
    let placement = config.with_file_name("shardcat.placement.toml");
    match kind {
        Kind::Int => {
            // The tool killed in the middle of its (slowed) copy: the
            // record says `copying`; running again starts the copy over.
            let mut child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
                .args(args("4", &["--copy-rows-per-s", "300"]))
                .arg("--config")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(1200)).await;
            child.kill().unwrap();
            let _ = child.wait();
            let text = std::fs::read_to_string(&placement).unwrap_or_default();
            assert!(text.contains("phase = \"copying\""), "{text}");
            let (_, status) = cli(&["shards", "status"], &config);
            assert!(
                status
                    .contains("resplit: resplit_int.accounts tables_per_node 2 → 4: phase copying"),
                "{status}"
            );
        }
        Kind::Str => {
            // A switch that cannot fit in 1 ms: stays in catch-up; --abort
            // drops the new tables.
            let (ok, text) = resplit(&config, &["--max-pause-ms", "1"]).await;
            assert!(!ok && text.contains("stays in catch-up"), "{text}");
            let text = std::fs::read_to_string(&placement).unwrap_or_default();
            assert!(text.contains("phase = \"catching_up\""), "{text}");
            let (ok, text) = resplit(&config, &["--abort"]).await;
            assert!(ok, "{text}");
            let mut n1 = direct_conn(topo, "n1p", Some(db)).await;
            let left: Vec<String> = n1
                .exec(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                    (db,),
                )
                .await
                .unwrap();
            assert_eq!(left, ["accounts_0", "accounts_1", "ledger_0", "ledger_1"]);
        }
    }
}

/// After the switch: rows through the proxy equal `ref`'s, each new table
/// holds exactly its slot's keys, the placement, `--cleanup`.
async fn check_layout(
    kind: Kind,
    topo: &Topology,
    config: &std::path::Path,
    c: &mut Conn,
    reference: &mut Conn,
) {
    let db = kind.db();
    let config = config.to_path_buf();
    // Through the proxy: the reference's rows, exactly.
    c.query_drop(format!("USE {db}")).await.unwrap();
    reference.query_drop(format!("USE {db}")).await.unwrap();
    let all = "SELECT k, balance, note, amount FROM accounts ORDER BY k";
    let ledger = "SELECT k, delta FROM ledger ORDER BY k, delta";
    type Acc = (String, i64, Option<String>, Option<f64>);
    let got: Vec<Acc> = c.query(all).await.unwrap();
    let want: Vec<Acc> = reference.query(all).await.unwrap();
    assert_eq!(got.len(), want.len(), "row counts");
    assert!(got == want, "accounts through the proxy differ from ref");
    let got: Vec<(String, i64)> = c.query(ledger).await.unwrap();
    let want: Vec<(String, i64)> = reference.query(ledger).await.unwrap();
    assert_eq!(got, want, "ledger through the proxy vs ref");

    // Every new physical table: exactly the keys that map to its slot.
    let ref_keys = keys(reference, "SELECT k FROM accounts").await;
    let ref_ledger = keys(reference, "SELECT CONCAT(k, '#', delta) FROM ledger").await;
    for t in 0..NEW_SLOTS {
        let (node, name) = new_table("accounts", t);
        let mut n = direct_conn(topo, node, Some(db)).await;
        let here = keys(&mut n, &format!("SELECT k FROM {name}")).await;
        let want: BTreeSet<String> = ref_keys
            .iter()
            .filter(|k| kind.slot(k) == t)
            .cloned()
            .collect();
        assert_eq!(here, want, "{name} on {node}");
        let (_, lname) = new_table("ledger", t);
        let here = keys(
            &mut n,
            &format!("SELECT CONCAT(k, '#', delta) FROM {lname}"),
        )
        .await;
        let want: BTreeSet<String> = ref_ledger
            .iter()
            .filter(|kd| kind.slot(kd.rsplit_once('#').unwrap().0) == t)
            .cloned()
            .collect();
        assert_eq!(here, want, "{lname} on {node}");
    }
    let (ok, explain) = cli(
        &["explain", "--schema", db, "SELECT * FROM accounts"],
        &config,
    );
    assert!(
        ok && explain.contains("accounts_7") && explain.contains("accounts_1_rs4"),
        "{explain}"
    );

    let (_, status) = cli(&["shards", "status"], &config);
    for line in [
        format!("resplit: {db}.accounts tables_per_node 2 → 4: phase switched"),
        format!("moved: {db}.accounts slot 4 → node n1"),
        format!("moved: {db}.accounts slot 2 → node n2"),
    ] {
        assert!(status.contains(&line), "{line}:\n{status}");
    }

    // --cleanup drops the old tables; reads stay the same.
    let before: Vec<Acc> = c.query(all).await.unwrap();
    let (ok, text) = cli(&args("4", &["--cleanup"]), &config);
    assert!(ok, "{text}");
    let mut n1 = direct_conn(topo, "n1p", Some(db)).await;
    let gone: Result<Option<i64>, _> = n1.query_first("SELECT COUNT(*) FROM accounts_1").await;
    assert!(gone.is_err(), "accounts_1 dropped on n1");
    let after: Vec<Acc> = c.query(all).await.unwrap();
    assert!(before == after, "reads after cleanup");
}

/// What the proxy showed of a resplit while it ran.
#[derive(Debug, Default)]
struct Seen {
    /// Steps of `SHOW SHARDCAT MOVES`'s resplit row.
    steps: BTreeSet<String>,
    /// A catch-up position and lag while catching up or verifying.
    position: Option<(String, String)>,
    /// Chunks verified and their total while verifying.
    chunks: Option<(i64, i64)>,
    /// `shard_resplit_phase` metrics seen at 1.
    phases: BTreeSet<String>,
}

/// `SHOW SHARDCAT MOVES`'s resplit row, by column name.
async fn resplit_row(admin: &mut Conn) -> Option<std::collections::HashMap<String, String>> {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT MOVES").await.unwrap();
    rows.into_iter().find_map(|r| {
        let row = by_name(&r);
        (row.get("kind").map(String::as_str) == Some("resplit")).then_some(row)
    })
}

/// The `shardcat_shard_resplit_*` figures of `SHOW SHARDCAT STATS`:
/// (name, labels, value).
async fn resplit_stats(admin: &mut Conn) -> Vec<(String, String, String)> {
    let stats: Vec<(String, String, String)> = admin.query("SHOW SHARDCAT STATS").await.unwrap();
    stats
        .into_iter()
        .filter(|(n, _, _)| n.starts_with("shardcat_shard_resplit_"))
        .collect()
}

/// Runs the resplit to its end, reading its progress through the proxy
/// meanwhile.
async fn watched_resplit(load: &Load, extra: &'static [&'static str]) -> (bool, String, Seen) {
    let config = load.config.clone();
    let run = tokio::spawn(async move { resplit(&config, extra).await });
    let mut admin = proxy_conn(&load.proxy, None).await;
    let mut seen = Seen::default();
    while !run.is_finished() {
        if let Some(row) = resplit_row(&mut admin).await {
            let step = row.get("step").cloned().unwrap_or_default();
            if step == "catching_up" || step == "verifying" {
                if let (Some(at), Some(lag)) = (row.get("gtid"), row.get("lag_bytes")) {
                    seen.position.get_or_insert((at.clone(), lag.clone()));
                }
            }
            if step == "verifying" {
                let n = |c: &str| row.get(c).and_then(|v| v.parse().ok()).unwrap_or(-1);
                if n("chunks_total") > 0 {
                    seen.chunks = Some((n("chunks_verified"), n("chunks_total")));
                }
            }
            seen.steps.insert(step);
        }
        for (name, labels, value) in resplit_stats(&mut admin).await {
            if name == "shardcat_shard_resplit_phase" && value == "1" {
                seen.phases.insert(labels);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (ok, text) = run.await.unwrap();
    (ok, text, seen)
}

/// After the switch: the proxy shows the resplit switched with its pause,
/// in `SHOW SHARDCAT MOVES` and the metrics; it showed its steps while it
/// ran.
async fn check_progress(load: &Load, db: &str, seen: &Seen, pause_ms: u64) {
    let running = ["catching_up", "verifying", "switching"];
    assert!(
        running.iter().any(|s| seen.steps.contains(*s)),
        "steps seen while it ran: {seen:?}"
    );
    assert!(
        seen.phases.iter().any(|l| l.contains("catching_up")),
        "shard_resplit_phase while it ran: {seen:?}"
    );
    let mut admin = proxy_conn(&load.proxy, None).await;
    let row = resplit_row(&mut admin).await.expect("a resplit row");
    let get = |c: &str| row.get(c).map(String::as_str);
    assert_eq!(
        (get("state"), get("step"), get("table")),
        (
            Some("switched"),
            Some("switched"),
            Some(format!("{db}.accounts").as_str())
        ),
        "{row:?}"
    );
    assert_eq!(
        get("pause_ms"),
        Some(pause_ms.to_string().as_str()),
        "{row:?}"
    );
    assert_eq!(get("chunks_verified"), get("chunks_total"), "{row:?}");
    assert!(
        get("gtid").is_some_and(|p| p.contains("n1 ") && p.contains("n2 ")),
        "{row:?}"
    );
    let stats = resplit_stats(&mut admin).await;
    let stat = |name: &str, label: &str| {
        stats
            .iter()
            .find(|(n, l, _)| n == name && l.contains(db) && l.contains(label))
            .map(|(_, _, v)| v.clone())
    };
    assert_eq!(
        stat("shardcat_shard_resplit_phase", "phase=\"switched\"").as_deref(),
        Some("1"),
        "{stats:?}"
    );
    assert_eq!(
        stat("shardcat_shard_resplit_pause_ms", "").as_deref(),
        Some(pause_ms.to_string().as_str()),
        "{stats:?}"
    );
    let copied: i64 = stat("shardcat_shard_resplit_rows_copied", "")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(copied >= SEED_ROWS as i64, "{stats:?}");
}

async fn run_case(kind: Kind) {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("{kind:?}: seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let db = kind.db();
    let mut load = start_load(kind, seed, 0).await;
    plan_and_refusals(&load.config);
    interrupt(kind, &load.topo, &load.config).await;
    let started = Instant::now();
    let (ok, text, seen) = watched_resplit(&load, &["--verify-chunk-rows", "16"]).await;
    let took = started.elapsed();
    assert!(
        ok,
        "resplit failed:\n{text}\nproxy log:\n{}",
        util::tail(&load.proxy.log())
    );
    let (pause_ms, steps) = reported_pause(&text, "write pause ");
    let replayed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("caught up") || l.starts_with("verified:"))
        .collect();
    let (out, reads) = load.finish(&format!("{kind:?}")).await;
    eprintln!(
        "resplit {kind:?} 2 → 4 tables per node: {} ms (last run), write pause {pause_ms} ms ({steps}), \
         slowest write {} ms, {} writes acknowledged, 0 failed, {} deadlocks retried, {reads} reads, \
         0 failed; {replayed:?}; seen through the proxy: {seen:?}",
        took.as_millis(),
        out.slowest.as_millis(),
        out.acknowledged,
        out.deadlocks_retried,
    );
    check_progress(&load, db, &seen, pause_ms).await;
    check_and_reset(kind, load).await;
}

/// The layout checked ([`check_layout`]), then the databases dropped.
async fn check_and_reset(kind: Kind, load: Load) {
    let Load {
        topo,
        config,
        mut c,
        mut reference,
        ..
    } = load;
    check_layout(kind, &topo, &config, &mut c, &mut reference).await;
    drop(c);
    reset(&topo, kind.db()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn integer_keys_two_tables_per_node_become_four_resumed_after_a_crash() {
    run_case(Kind::Int).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn string_keys_two_tables_per_node_become_four_after_an_abort() {
    run_case(Kind::Str).await;
}

/// The longest pause the kill case allows (each proxy's pause ends by
/// itself after it).
const MAX_PAUSE_MS: u64 = 4000;

/// The tool killed (SIGKILL) at generated points — at the start of its
/// catch-up (the readers replaying), before its verification, inside the
/// write pause before the placement file's write and after it — under the
/// mirrored writers and readers; run again, the resplit completes: no
/// failed write or read, rows through the proxy equal to `ref`'s, every
/// new physical table exactly its slot's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resplit_killed_in_its_catch_up_and_switch_completes_when_run_again() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let mut g = Gen(seed | 1);
    let kind = Kind::Int;
    let pause = MAX_PAUSE_MS.to_string();
    let mut points = shuffled(vec!["catch_up", "verify", "paused", "placed"], &mut g);
    if let Ok(only) = std::env::var("SHARDCAT_TEST_POINTS") {
        points.retain(|p| only.split(',').any(|o| o == *p));
    }
    for point in points {
        let mut load = start_load(kind, seed ^ g.next(), 0).await;
        let delay = g.below(300);
        let first = args(
            "4",
            &["--max-pause-ms", &pause, "--verify-chunk-rows", "16"],
        );
        kill_at(point, &first, &load.config, delay);
        // The proxy's pause (if any) ends by itself: writes go on.
        tokio::time::sleep(Duration::from_millis(MAX_PAUSE_MS + 300)).await;
        let again = args("4", &["--max-pause-ms", &pause]);
        let (ok, text) = run_to_end(owned(&again), load.config.clone()).await;
        assert!(
            ok,
            "{point}: run again failed:\n{text}\nproxy log:\n{}",
            util::tail(&load.proxy.log())
        );
        let finished = text.contains("reloaded the placement file");
        assert_eq!(finished, point == "placed", "{point}:\n{text}");
        let (out, _) = load.finish(point).await;
        eprintln!(
            "{point}: ok ({} writes, slowest {} ms)",
            out.acknowledged,
            out.slowest.as_millis()
        );
        assert!(
            out.slowest < Duration::from_millis(MAX_PAUSE_MS + 2500),
            "{point}: a write waited {:?}",
            out.slowest
        );
        check_and_reset(kind, load).await;
    }
}

/// n1's primary stopped and started while a resplit catches up (its
/// readers replaying, the command in its catch-up's test stall): n1's
/// binary log reader reconnects by itself from its recorded position and
/// the same run completes, with mirrored writes before the restart and
/// after it: none failed, rows through the proxy equal to `ref`'s, every
/// new table exactly its slot's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_restart_during_catch_up_completes() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let kind = Kind::Int;
    let mut load = start_load(kind, seed, 0).await;
    let first = args("4", &["--max-pause-ms", "4000"]);
    let mut run = Running::start(&first, &load.config, Some("catch_up:6000"));
    assert!(
        run.wait_for("test stall at catch_up", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    // The writers stop first: a write the restart cuts off is in doubt
    // (committed or not), which `ref` could not mirror.
    let (before, _) = load.finish("before the restart").await;
    load.topo.stop_instance("n1p").expect("stop n1p");
    tokio::time::sleep(Duration::from_millis(300)).await;
    load.topo.start_instance("n1p").expect("start n1p");
    let again = Arc::new(AtomicBool::new(false));
    let _again_on_panic = StopOnDrop(again.clone());
    let writers = load.writers_again(seed ^ 0x5EED_0001, &again);
    let started = Instant::now();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(
        ok,
        "the resplit did not survive the restart:\n{text}\nproxy log:\n{}",
        util::tail(&load.proxy.log())
    );
    assert!(
        text.contains("node `n1`: the binary log reader lost its server and reconnected"),
        "the reader reconnected:\n{text}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    again.store(true, Ordering::Relaxed);
    let after = Outcome::gather(writers).await;
    assert!(after.failures.is_empty(), "{:?}", after.failures);
    assert!(after.acknowledged > 0, "writes after the restart");
    eprintln!(
        "source restart: the resplit finished {:?} after it; {} writes before, {} after",
        started.elapsed(),
        before.acknowledged,
        after.acknowledged
    );
    // Replicas the restart cut off reconnect within a second; until then
    // a new session may read them a little behind (bounded staleness).
    util::sync_replicas(&load.topo).await;
    check_and_reset(kind, load).await;
}

/// XA branches written straight on n1's primary while a resplit catches up
/// (under the mirrored writers): one prepared then rolled back, one
/// prepared then committed, one left prepared. The switch refuses while
/// the last is prepared; once it is committed, the resplit completes with
/// the committed rows and without the rolled-back one (rows equal to
/// `ref`'s, every new table exactly its slot's keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn xa_branches_are_replayed_as_they_are_resolved() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let kind = Kind::Int;
    let load = start_load(kind, seed, 0).await;
    // Keys of n1's old slots (0, 1), above every writer's.
    let keys: Vec<String> = (0..)
        .map(|i| (6_000_000_000i64 + i).to_string())
        .filter(|k| kind.slot(k) % 4 < 2)
        .take(3)
        .collect();
    let mut run = Running::start(&args("4", &[]), &load.config, Some("catch_up:2500"));
    assert!(
        run.wait_for("test stall at catch_up", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    let mut n1 = direct_conn(&load.topo, "n1p", Some(kind.db())).await;
    let mut reference = direct_conn(&load.topo, "ref", Some(kind.db())).await;
    let branch = |xid: &str, k: &str| {
        let table = format!("accounts_{}", kind.slot(k) % 4);
        [
            format!("XA START '{xid}'"),
            format!("INSERT INTO {table} VALUES ({k}, 7, 'xa {xid}', 0.5)"),
            format!("XA END '{xid}'"),
            format!("XA PREPARE '{xid}'"),
        ]
    };
    let xids = ["rs_rolled_back", "rs_committed", "rs_left"];
    for (xid, k) in xids.iter().zip(&keys) {
        // Each branch from its own session, prepared, then left by it.
        let mut c = direct_conn(&load.topo, "n1p", Some(kind.db())).await;
        for sql in branch(xid, k) {
            c.query_drop(sql).await.unwrap();
        }
        c.disconnect().await.unwrap();
    }
    n1.query_drop("XA ROLLBACK 'rs_rolled_back'").await.unwrap();
    n1.query_drop("XA COMMIT 'rs_committed'").await.unwrap();
    let insert =
        |k: &str, xid: &str| format!("INSERT INTO accounts VALUES ({k}, 7, 'xa {xid}', 0.5)");
    reference
        .query_drop(insert(&keys[1], xids[1]))
        .await
        .unwrap();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(
        !ok && text.contains("XA branch(es) prepared") && text.contains("stays in catch-up"),
        "the switch waits for the prepared branch:\n{text}"
    );
    n1.query_drop("XA COMMIT 'rs_left'").await.unwrap();
    reference
        .query_drop(insert(&keys[2], xids[2]))
        .await
        .unwrap();
    let (ok, text) = resplit(&load.config, &[]).await;
    assert!(ok, "{text}");
    let mut load = load;
    let (out, _) = load.finish("xa").await;
    eprintln!(
        "xa: ok ({} writes); {}",
        out.acknowledged,
        text.lines().last().unwrap_or("-")
    );
    check_and_reset(kind, load).await;
}

/// The write pause at two table sizes (rows in `accounts` besides the
/// seed rows), under the same writers: the pause's steps do not grow with
/// the table. `SHARDCAT_BENCH_BIN=<shardcat binary>` runs another build's
/// resplit (before/after figures).
/// `cargo test --test shard_resplit resplit_pause_bench -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn resplit_pause_bench() {
    let _serial = SERIAL.lock().await;
    let bin = std::env::var("SHARDCAT_BENCH_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_shardcat").to_owned());
    let sizes: Vec<usize> = std::env::var("SHARDCAT_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 40_000]);
    for extra in sizes {
        let mut load = start_load(Kind::Int, 7, extra).await;
        let config = load.config.clone();
        let b = bin.clone();
        let (ok, text) = tokio::task::spawn_blocking(move || cli_of(&b, &args("4", &[]), &config))
            .await
            .unwrap();
        assert!(ok, "{text}");
        let (pause_ms, steps) = reported_pause(&text, "write pause ");
        let verified = text
            .lines()
            .find(|l| l.starts_with("verified:"))
            .unwrap_or("-");
        let (out, _) = load.finish("bench").await;
        eprintln!(
            "resplit bench: {} rows: write pause {pause_ms} ms ({steps}); {verified}; {} writes, slowest {} ms",
            SEED_ROWS + extra,
            out.acknowledged,
            out.slowest.as_millis()
        );
        reset(&load.topo, Kind::Int.db()).await;
    }
}
