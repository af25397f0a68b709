//! Faults in the middle of a shard move, against the real topology (issue
//! 15's robustness gaps):
//!
//! - the `shards move` command killed (SIGKILL) at each of its points —
//!   during the copy (slowed by `--copy-rows-per-s`), the catch-up, the
//!   verification, inside the write pause before and after the placement
//!   file is written, after the switch before its record — in an order and
//!   with delays drawn from a seed, under writers mirrored to `ref`; run
//!   again, the move completes: every acknowledged write on the new node
//!   once (equal to `ref`), no forward channel left, the proxy's pause
//!   ended by itself (no write failed, none waited much longer than the
//!   pause);
//! - two proxies on one configuration, one killed inside the switch: the
//!   command reports that proxy, records the switch; the killed proxy,
//!   started again, writes to the new node; a rerun reloads every proxy;
//!   no acknowledged write is missing from the new node;
//! - the target primary restarted during the catch-up: its channel comes
//!   back without its table filter (MariaDB forgets `SET GLOBAL
//!   replicate_do_table`), the command detects it, sets it again and the
//!   move completes equal to `ref`;
//! - the source primary restarted during the catch-up: the channel
//!   reconnects and the move completes (or, interrupted, completes when
//!   run again) equal to `ref`, with writes before and after.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own database (`move_shard`,
//! shared with `shard_move`: run the files one at a time).

mod common;
#[path = "common/killing.rs"]
mod killing;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/util.rs"]
mod util;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::ProxyProcess;
use common::Topology;
use killing::{kill_at, owned, run_to_end, shuffled, Gen, Running};
use moving::*;
use mysql_async::prelude::*;
use util::direct_conn;

const MAX_PAUSE_MS: u64 = 4000;

/// Sorted (id, balance) of slot 1 of `accounts` on `node`'s table, or on
/// `ref` (`node` = "ref").
async fn slot1_rows(topo: &Topology, node: &str) -> Vec<(i64, i64)> {
    let mut c = direct_conn(topo, node, Some(DB)).await;
    let table = if node == "ref" {
        "accounts WHERE id % 4 = 1"
    } else {
        "accounts_1"
    };
    let rows: Vec<(i64, i64)> = c
        .query(format!("SELECT id, balance FROM {table} ORDER BY id"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

async fn channels_on(topo: &Topology, node: &str) -> Vec<String> {
    let mut c = direct_conn(topo, node, None).await;
    let rows: Vec<mysql_async::Row> = c.query("SHOW ALL SLAVES STATUS").await.unwrap();
    c.disconnect().await.unwrap();
    rows.into_iter()
        .filter_map(|r| r.get::<String, _>("Connection_name"))
        .filter(|n| n.starts_with("shardcat_move_"))
        .collect()
}

/// Writers (mirrored to `ref`) through `port` until `stop`, one per `w`:
/// writer `w` writes ids `10000 + 4k + w` (so slot `w % 4`; distinct `w`
/// below 4 000 000 apart keep the ids apart).
fn writers(port: u16, ws: &[i64], stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<Written>> {
    ws.iter()
        .map(|&w| tokio::spawn(writer(port, w, stop.clone(), true)))
        .collect()
}

async fn collect(handles: Vec<tokio::task::JoinHandle<Written>>) -> Vec<Written> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// The move is complete and exact: slot 1 on n2 equal to `ref`'s, all
/// rows through the proxy equal to `ref`'s, no forward channel on n2.
async fn assert_complete(topo: &Topology, proxy: &ProxyProcess, what: &str) {
    // The reverse channel brings the last writes to n1 too; n2 is the truth.
    let on_n2 = slot1_rows(topo, "n2p").await;
    let on_ref = slot1_rows(topo, "ref").await;
    assert_eq!(
        on_n2.len(),
        on_ref.len(),
        "{what}: slot 1 rows on n2 vs ref"
    );
    assert!(on_n2 == on_ref, "{what}: slot 1 rows differ from ref");
    // Replicas a restart cut off reconnect within a second; until then a
    // new session may read them a little behind (bounded staleness, not
    // what these tests check).
    util::sync_replicas(topo).await;
    let through = ids_through_proxy(proxy).await;
    let mut r = direct_conn(topo, "ref", Some(DB)).await;
    let reference: Vec<(i64, i64)> = r
        .query("SELECT id, balance FROM accounts ORDER BY id")
        .await
        .unwrap();
    assert!(
        through == reference,
        "{what}: rows through the proxy differ from ref"
    );
    let forward: Vec<String> = channels_on(topo, "n2p").await;
    assert!(
        forward.is_empty(),
        "{what}: channels left on n2: {forward:?}"
    );
}

/// Where the command is killed: the stall point (none: the copy, seen by
/// its snapshot line) and the marker to wait for.
const POINTS: [&str; 6] = ["copy", "catch_up", "verify", "paused", "placed", "switched"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_move_killed_at_each_point_completes_when_run_again() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let seed = seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED replays it)");
    let mut g = Gen(seed | 1);
    let points = shuffled(POINTS.to_vec(), &mut g);
    let pause = MAX_PAUSE_MS.to_string();
    for point in points {
        let proxy = ProxyProcess::start_with(&topo, options());
        setup(&topo, &proxy).await;
        let config = proxy.config_path.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_panic = StopOnDrop(stop.clone());
        let handles = writers(proxy.port, &[0, 1], &stop);
        let delay = g.below(300);
        let args = move_args(
            "accounts_1",
            &["--max-pause-ms", &pause, "--verify-chunk-rows", "16"],
        );
        kill_at(point, &args, &config, delay);
        // The proxy's pause (if any) ends by itself: writes go on.
        tokio::time::sleep(Duration::from_millis(MAX_PAUSE_MS + 300)).await;
        let args = move_args("accounts_1", &["--max-pause-ms", &pause]);
        let (ok, text) = run_to_end(owned(&args), config.clone()).await;
        assert!(
            ok,
            "{point}: run again failed:\n{text}\nproxy log:\n{}",
            util::tail(&proxy.log())
        );
        // Killed after the placement file's write: the rerun finishes the
        // switch instead of starting the catch-up over.
        let finished = text.contains("after its point of no return");
        assert_eq!(
            finished,
            matches!(point, "placed" | "switched"),
            "{point}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        stop.store(true, Ordering::Relaxed);
        let written = collect(handles).await;
        for w in &written {
            assert!(
                w.failures.is_empty(),
                "{point}: failed writes: {:?}",
                w.failures
            );
            assert_eq!(w.read_mismatches, 0, "{point}: reads of own writes differ");
            assert!(
                w.slowest < Duration::from_millis(MAX_PAUSE_MS + 2500),
                "{point}: a write waited {:?}",
                w.slowest
            );
        }
        let acked: usize = written.iter().map(|w| w.ids.len()).sum();
        assert!(acked > 0, "{point}: no write acknowledged");
        let mut admin = util::proxy_conn(&proxy, None).await;
        let pauses: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT PAUSES").await.unwrap();
        assert!(pauses.is_empty(), "{point}: the proxy is still paused");
        assert_complete(&topo, &proxy, point).await;
        let (_, status) = cli(&["shards", "status"], &config);
        assert!(status.contains("phase switched"), "{point}: {status}");
        eprintln!(
            "{point}: ok ({acked} writes, slowest {:?})",
            written.iter().map(|w| w.slowest).max().unwrap_or_default()
        );
    }
    reset(&topo).await;
}

/// A second proxy on the same configuration and placement file (its own
/// listen port: a copy of the configuration next to a link to the first's
/// placement file).
fn second_proxy(
    config: &std::path::Path,
    dir: &std::path::Path,
) -> (Child, u16, std::path::PathBuf) {
    let port = common::proxy::free_port();
    let text = std::fs::read_to_string(config).unwrap();
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("listen"))
        .unwrap()
        .to_string();
    let text = text.replacen(&first, &format!("listen = \"127.0.0.1:{port}\""), 1);
    let path = dir.join("shardcat.toml");
    std::fs::write(&path, text).unwrap();
    let placement = config.with_file_name("shardcat.placement.toml");
    let link = dir.join("shardcat.placement.toml");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&placement, &link).unwrap();
    let child = start_proxy(&path, dir, port);
    (child, port, path)
}

fn start_proxy(path: &std::path::Path, dir: &std::path::Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("shardcat.log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .args(["serve", "--config"])
        .arg(path)
        .env("SHARDCAT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "second proxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_that_misses_the_switch_converges() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    let dir = tempfile::tempdir().unwrap();
    let (mut b, b_port, b_config) = second_proxy(&config, dir.path());
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let _s1 = StopOnDrop(stop_a.clone());
    let _s2 = StopOnDrop(stop_b.clone());
    let on_a = writers(proxy.port, &[0, 1], &stop_a);
    let on_b = writers(b_port, &[4_000_001], &stop_b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a_addr = format!("127.0.0.1:{}", proxy.port);
    let b_addr = format!("127.0.0.1:{b_port}");
    let pause = MAX_PAUSE_MS.to_string();
    let args = move_args(
        "accounts_1",
        &[
            "--max-pause-ms",
            &pause,
            "--proxy",
            &a_addr,
            "--proxy",
            &b_addr,
        ],
    );
    let mut run = Running::start(&args, &config, Some("placed:800"));
    assert!(
        run.wait_for("test stall at placed", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    // Proxy b dies after the placement file names n2, before its SWITCH.
    stop_b.store(true, Ordering::Relaxed);
    let _ = b.kill();
    let _ = b.wait();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(!ok, "the command reports the proxy left behind:\n{text}");
    assert!(
        text.contains(&format!("proxy {b_addr}")) && text.contains("did not take it"),
        "{text}"
    );
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("phase switched"), "{status}");
    let written_b = collect(on_b).await;
    // Proxy b again: it loads the placement file, so its writes go to n2.
    let b = start_proxy(&b_config, dir.path(), b_port);
    let stop_b2 = Arc::new(AtomicBool::new(false));
    let _s3 = StopOnDrop(stop_b2.clone());
    let on_b2 = writers(b_port, &[8_000_001], &stop_b2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A rerun reloads every proxy and succeeds.
    let args = move_args("accounts_1", &["--proxy", &a_addr, "--proxy", &b_addr]);
    let (ok, text) = run_to_end(owned(&args), config.clone()).await;
    assert!(ok, "rerun:\n{text}");
    assert_eq!(
        text.matches("reloaded the placement file").count(),
        2,
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_a.store(true, Ordering::Relaxed);
    stop_b2.store(true, Ordering::Relaxed);
    let written_a = collect(on_a).await;
    let written_b2 = collect(on_b2).await;
    for w in written_a.iter().chain(&written_b2) {
        assert!(w.failures.is_empty(), "failed writes: {:?}", w.failures);
    }
    let b_failed: usize = written_b.iter().map(|w| w.failures.len()).sum();
    eprintln!("writes through b failed by its kill: {b_failed}");
    // A write cut off by the kill may have committed in part (its INSERT
    // acknowledged, its transaction not): settled on both sides.
    let unknown: Vec<i64> = written_b
        .iter()
        .flat_map(|w| w.failed_ids.iter().copied())
        .collect();
    forget_unknown(&topo, &proxy, &unknown).await;
    // Every acknowledged write (through either proxy) is on n2 once.
    assert_complete(&topo, &proxy, "two proxies").await;
    let mut b = b;
    let _ = b.kill();
    let _ = b.wait();
    reset(&topo).await;
}

/// A move of slot 1 under writers 0 and 1 (mirrored to `ref`), reached
/// its catch-up's test stall of `stall_ms`: where the restart tests act.
struct InCatchUp {
    proxy: ProxyProcess,
    config: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    _stop_on_panic: StopOnDrop,
    handles: Vec<tokio::task::JoinHandle<Written>>,
    run: Running,
    args: Vec<&'static str>,
}

async fn move_in_catch_up(topo: &Topology, stall_ms: u64) -> InCatchUp {
    let proxy = ProxyProcess::start_with(topo, options());
    setup(topo, &proxy).await;
    let config = proxy.config_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let handles = writers(proxy.port, &[0, 1], &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let args = move_args("accounts_1", &["--max-pause-ms", "4000"]);
    let stall = format!("catch_up:{stall_ms}");
    let mut run = Running::start(&args, &config, Some(&stall));
    assert!(
        run.wait_for("test stall at catch_up", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    InCatchUp {
        proxy,
        config,
        stop,
        _stop_on_panic,
        handles,
        run,
        args,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_restart_during_catch_up_keeps_the_channel_filtered() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let InCatchUp {
        proxy,
        config: _,
        stop,
        _stop_on_panic,
        handles,
        run,
        args: _,
    } = move_in_catch_up(&topo, 300).await;
    // n2p restarts: the channel comes back running, without its filter.
    topo.stop_instance("n2p").expect("stop n2p");
    tokio::time::sleep(Duration::from_millis(300)).await;
    topo.start_instance("n2p").expect("start n2p");
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(
        ok,
        "move failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    let warned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN channel"))
        .collect();
    assert!(
        warned
            .iter()
            .any(|l| l.contains("without its table filter")
                || l.contains("stopped without an error")),
        "the lost filter is detected:\n{text}"
    );
    eprintln!("{}", warned.join("\n"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let written = collect(handles).await;
    // The writers write slots 0 and 1 (n1's until the switch).
    for w in &written {
        assert!(w.failures.is_empty(), "failed writes: {:?}", w.failures);
    }
    assert_complete(&topo, &proxy, "target restart").await;
    // Nothing of n1's other tables reached n2.
    let mut n2 = direct_conn(&topo, "n2p", Some(DB)).await;
    let tables: Vec<String> = n2.query("SHOW TABLES").await.unwrap();
    assert!(
        !tables.iter().any(|t| t == "accounts_0" || t == "ledger_0"),
        "{tables:?}"
    );
    reset(&topo).await;
}

/// Transactions over both nodes (XA through the proxy) while slot 1 moves
/// n1 → n2 (n1's branch holds only slot 0's rows, which n2's channel
/// filters away): the channel keeps going, the move completes equal to
/// `ref`, every cross-node transaction acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_over_both_nodes_do_not_stop_the_channel() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let handles = writers(proxy.port, &[1], &stop);
    let url = proxy.url("app", "app", Some(DB));
    let stop2 = stop.clone();
    let topo2 = Topology::from_env();
    // Ids 0 (slot 0, n1) and 2 (slot 2, n2) in one transaction, mirrored.
    let cross = tokio::spawn(async move {
        let mut c = mysql_async::Conn::from_url(url).await.unwrap();
        let mut r = direct_conn(&topo2, "ref", Some(DB)).await;
        let mut done = 0;
        while !stop2.load(Ordering::Relaxed) {
            let tx = async {
                c.query_drop("BEGIN").await?;
                c.query_drop("UPDATE accounts SET balance = balance + 1 WHERE id = 0")
                    .await?;
                c.query_drop("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
                    .await?;
                c.query_drop("COMMIT").await
            }
            .await;
            match tx {
                Ok(()) => {
                    r.query_drop("UPDATE accounts SET balance = balance + 1 WHERE id IN (0, 2)")
                        .await
                        .unwrap();
                    done += 1;
                }
                Err(e) => panic!("cross-node transaction failed: {e}"),
            }
        }
        done
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let args = move_args("accounts_1", &["--max-pause-ms", "4000"]);
    let mut run = Running::start(&args, &config, Some("catch_up:1000"));
    assert!(run.wait_for("test stall at catch_up", Duration::from_secs(60)));
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(
        ok,
        "move failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    let skipped = text.matches("skipped an XA").count();
    eprintln!("XA ends skipped by the channel: {skipped}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let crossed = cross.await.unwrap();
    assert!(crossed > 0);
    for w in collect(handles).await {
        assert!(w.failures.is_empty(), "failed writes: {:?}", w.failures);
    }
    assert_complete(&topo, &proxy, "cross-node transactions").await;
    reset(&topo).await;
}

/// The source primary (n1p) restarted during the catch-up (writers
/// stopped around the restart, so every acknowledged write is one the
/// source committed): the channel's I/O thread reconnects to the restarted
/// source and the move completes, equal to `ref`, with writes before and
/// after the restart. A run the restart interrupts says so and a second
/// run completes it (the move is resumable at every phase).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_restart_during_catch_up_completes() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let InCatchUp {
        proxy,
        config,
        stop,
        _stop_on_panic,
        handles,
        run,
        args,
    } = move_in_catch_up(&topo, 8000).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = collect(handles).await;
    topo.stop_instance("n1p").expect("stop n1p");
    tokio::time::sleep(Duration::from_millis(300)).await;
    topo.start_instance("n1p").expect("start n1p");
    // Writes again once the source is back (ids apart from the first
    // writers', slots 0 and 1).
    let again = Arc::new(AtomicBool::new(false));
    let _again_on_panic = StopOnDrop(again.clone());
    let handles = writers(proxy.port, &[4_000_000, 4_000_001], &again);
    let started = Instant::now();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    let text = if ok {
        text
    } else {
        eprintln!("the restart interrupted the first run:\n{text}");
        let (ok, again_text) = run_to_end(owned(&args), config.clone()).await;
        assert!(
            ok,
            "second run failed:\n{again_text}\nproxy log:\n{}",
            util::tail(&proxy.log())
        );
        again_text
    };
    eprintln!("move finished {:?} after the restart", started.elapsed());
    // The channel retries its source every second (MariaDB's default
    // retry, 60 s, held the catch-up a minute after the restart).
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "the move waited {:?} for the restarted source",
        started.elapsed()
    );
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("phase switched"), "{status}\n{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    again.store(true, Ordering::Relaxed);
    written.extend(collect(handles).await);
    for w in &written {
        assert!(w.failures.is_empty(), "failed writes: {:?}", w.failures);
    }
    let acked: usize = written.iter().map(|w| w.ids.len()).sum();
    assert!(acked > 0, "no write acknowledged");
    assert_complete(&topo, &proxy, "source restart").await;
    reset(&topo).await;
}
