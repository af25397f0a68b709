//! Shard moves, continued (`shard_move` has the move itself): the
//! verification before the switch refuses a copy that diverged (a row of
//! the target's copy changed directly: the error names the table, the
//! chunk and its key range; nothing switched), and the pause refuses a
//! row written after the verification's last key round whose copy then
//! diverged (the key watch's keys, where row counts agree); a switched move goes back
//! to its source with `--reverse` without a new copy (every write made on
//! the target is on the source, as on the reference server), its progress
//! (rows copied against the estimate, metrics) read while it runs; and the
//! write-pause benchmark of a large slot (ignored).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses the database of `shard_move`.

mod common;
#[path = "common/killing.rs"]
mod killing;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/util.rs"]
mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::ProxyProcess;
use common::Topology;
use killing::Running;
use moving::*;
use mysql_async::prelude::*;
use util::{direct_conn, proxy_conn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_copy_is_refused_before_the_switch() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    // Copied, caught up and verified (accounts_1: 7 chunks of 16 rows, 100
    // rows, the last chunk open-ended; ledger_1: 1, empty); a 1 ms pause
    // cannot switch.
    let chunked = ["--verify-chunk-rows", "16"];
    let (ok, text) = cli(
        &move_args("1", &[&["--max-pause-ms", "1"], &chunked[..]].concat()),
        &config,
    );
    assert!(!ok && text.contains("verified 8/8 chunks"), "{text}");
    // One row of the target's copy changed behind the channel's back.
    let slot1: Vec<i64> = (0..SEED).filter(|id| id % 4 == 1).collect();
    let seed = seed();
    let k = ((seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % slot1.len() as u64) as usize;
    let id = slot1[k];
    eprintln!("seed {seed}: the copy of id {id} changed on the target");
    let mut n2 = direct_conn(&topo, "n2p", Some(DB)).await;
    n2.exec_drop(
        "UPDATE accounts_1 SET amount = amount + 1 WHERE id = ?",
        (id,),
    )
    .await
    .unwrap();
    n2.disconnect().await.unwrap();
    let (ok, text) = cli(&move_args("1", &chunked), &config);
    assert!(!ok, "{text}");
    let chunk = k / 16 + 1;
    let lo = (chunk > 1).then(|| slot1[(chunk - 1) * 16 - 1]);
    let hi = slot1.get(chunk * 16 - 1).filter(|_| chunk < 7);
    let range = match (lo, hi) {
        (None, Some(h)) => format!("(id) <= ({h})"),
        (Some(l), Some(h)) => format!("(id) > ({l}) and <= ({h})"),
        (Some(l), None) => format!("(id) > ({l})"),
        (None, None) => unreachable!(),
    };
    let want = format!("`{DB}`.`accounts_1` chunk {chunk} of 7 ({range}) differs");
    assert!(
        text.contains("verification failed")
            && text.contains(&want)
            && text.contains("nothing switched"),
        "want {want}:\n{text}"
    );
    // Nothing switched: the placement, the reads and the record as before.
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(
        !status.contains("moved:") && status.contains("phase catching_up"),
        "{status}"
    );
    let mut admin = proxy_conn(&proxy, Some(DB)).await;
    let row = move_row(&mut admin).await.expect("the move's row");
    assert_eq!(
        row.get("step").map(String::as_str),
        Some("verifying"),
        "{row:?}"
    );
    assert!(
        row.get("error")
            .is_some_and(|e| e.contains("verification failed")),
        "{row:?}"
    );
    let amount: Option<f64> = admin
        .exec_first("SELECT amount FROM accounts WHERE id = ?", (id,))
        .await
        .unwrap();
    assert_eq!(amount, Some(id as f64 / 3.0), "read from the source");
    admin.disconnect().await.unwrap();
    let (ok, text) = cli(&move_args("1", &["--abort"]), &config);
    assert!(ok, "{text}");
    reset(&topo).await;
}

/// A row written on the source after the verification's last key round
/// (the command in a test stall between the verification and the pause)
/// whose copy is then changed on the target behind the channel's back: the
/// row counts agree, but the pause compares the keys the key watch noted
/// since the last round and refuses the switch, naming the key; nothing
/// switched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_diverged_after_the_verification_is_refused_in_the_pause() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    let slot1: Vec<i64> = (0..SEED).filter(|id| id % 4 == 1).collect();
    let seed = seed();
    let id = slot1[((seed >> 7) % slot1.len() as u64) as usize];
    eprintln!("seed {seed}: id {id} written after the verification");
    let mut run = Running::start(&move_args("1", &[]), &config, Some("verified:4000"));
    assert!(
        run.wait_for("test stall at verified", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    // On the source (logged: the channel and the key watch see it), then,
    // once the target applied it, changed again on the target alone.
    let mut n1 = direct_conn(&topo, "n1p", Some(DB)).await;
    n1.exec_drop(
        "UPDATE accounts_1 SET balance = balance + 7 WHERE id = ?",
        (id,),
    )
    .await
    .unwrap();
    let pos: String = n1
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let mut n2 = direct_conn(&topo, "n2p", Some(DB)).await;
    let waited: Option<i64> = n2
        .exec_first("SELECT MASTER_GTID_WAIT(?, 30)", (pos,))
        .await
        .unwrap();
    assert_eq!(waited, Some(0), "the target applied the source's write");
    n2.query_drop("SET SESSION sql_log_bin = 0").await.unwrap();
    n2.exec_drop(
        "UPDATE accounts_1 SET amount = amount + 1 WHERE id = ?",
        (id,),
    )
    .await
    .unwrap();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    let want = format!("`{DB}`.`accounts_1` and its copy differ at (id) = ({id})");
    assert!(
        !ok && text.contains("verification failed between source and target")
            && text.contains(&want)
            && text.contains("nothing switched"),
        "want {want}:\n{text}"
    );
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(
        !status.contains("moved:") && status.contains("phase catching_up"),
        "{status}"
    );
    n1.disconnect().await.unwrap();
    n2.disconnect().await.unwrap();
    reset(&topo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_switched_move_reverses_without_a_new_copy() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    // More rows, so that a copy at 1000 rows/s lasts about a second.
    let more: Vec<String> = (1000..5400)
        .map(|i| format!("({i}, 100, NULL, {i}.25)"))
        .collect();
    let insert = format!("INSERT INTO accounts VALUES {}", more.join(","));
    let mut c = proxy_conn(&proxy, Some(DB)).await;
    c.query_drop(&insert).await.unwrap();
    let mut reference = direct_conn(&topo, "ref", Some(DB)).await;
    reference.query_drop(&insert).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(proxy.port, w, stop.clone(), true)))
        .collect();
    let cfg = config.clone();
    let mover = tokio::task::spawn_blocking(move || {
        cli(
            &move_args(
                "1",
                &["--copy-rows-per-s", "1000", "--verify-chunk-rows", "64"],
            ),
            &cfg,
        )
    });
    // Progress while the move runs: SHOW SHARDCAT MOVES and the metrics.
    let mut admin = proxy_conn(&proxy, None).await;
    let mut seen_copying = None;
    let mut seen_metrics = None;
    while !mover.is_finished() {
        if let Some(row) = move_row(&mut admin).await {
            let (copied, total) = (num(&row, "rows_copied"), num(&row, "rows_total"));
            if row.get("step").map(String::as_str) == Some("copying") && copied > 0 && copied < 1100
            {
                assert!(total > 0, "{row:?}");
                seen_copying.get_or_insert(row);
                let stats: Vec<(String, String, String)> =
                    admin.query("SHOW SHARDCAT STATS").await.unwrap();
                let get = |name: &str| {
                    stats
                        .iter()
                        .find(|(n, l, _)| n == name && l.contains("slot=\"1\""))
                        .and_then(|(_, _, v)| v.parse::<i64>().ok())
                };
                let figures = (
                    get("shardcat_shard_move_rows_copied"),
                    get("shardcat_shard_move_rows_total"),
                );
                if figures.0.is_some_and(|c| c > 0 && c < 1100) {
                    seen_metrics.get_or_insert(figures);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let (ok, text) = mover.await.unwrap();
    assert!(
        ok,
        "move failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    eprintln!("mid-copy: {seen_copying:?}, metrics {seen_metrics:?}");
    assert!(seen_copying.is_some(), "no progress seen mid-copy:\n{text}");
    let (_, total) = seen_metrics.expect("metrics mid-copy");
    assert!(total.is_some_and(|t| t > 0));
    assert!(text.contains("reverse channel"), "{text}");
    // After the switch: the verification's and the catch-up's figures.
    let row = move_row(&mut admin).await.unwrap();
    assert_eq!(
        row.get("step").map(String::as_str),
        Some("switched"),
        "{row:?}"
    );
    assert!(num(&row, "chunks_total") >= 18, "{row:?}");
    assert_eq!(
        num(&row, "chunks_verified"),
        num(&row, "chunks_total"),
        "{row:?}"
    );
    assert_eq!(num(&row, "lag_transactions"), 0, "{row:?}");

    // Writes go to n2 for a while, then back to n1 without a new copy.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let cfg = config.clone();
    let (ok, text) =
        tokio::task::spawn_blocking(move || cli(&move_args("1", &["--reverse"]), &cfg))
            .await
            .unwrap();
    assert!(
        ok,
        "reverse failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    let pause: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("reversed: writes paused "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause reported:\n{text}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Written::default();
    for w in writers {
        let r = w.await.unwrap();
        written.ids.extend(r.ids);
        written.failures.extend(r.failures);
    }
    eprintln!("reverse: pause {pause} ms, {} writes", written.ids.len());
    assert!(written.failures.is_empty(), "{:?}", written.failures);
    assert!(written.ids.iter().filter(|id| *id % 4 == 1).count() > 0);

    // Through the proxy, on the source's own tables, as on the reference.
    let accounts = "SELECT id, balance, note, amount FROM accounts";
    let ledger = "SELECT account_id, delta FROM ledger";
    type Account = (i64, i64, Option<String>, f64);
    let want: Vec<Account> = reference
        .query(format!("{accounts} ORDER BY id"))
        .await
        .unwrap();
    let got: Vec<Account> = c.query(format!("{accounts} ORDER BY id")).await.unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the proxy's rows differ from the reference's");
    let want_ledger: Vec<(i64, i64)> = reference
        .query(format!("{ledger} ORDER BY account_id, delta"))
        .await
        .unwrap();
    let got_ledger: Vec<(i64, i64)> = c
        .query(format!("{ledger} ORDER BY account_id, delta"))
        .await
        .unwrap();
    assert_eq!(got_ledger, want_ledger);
    let mut n1 = direct_conn(&topo, "n1p", Some(DB)).await;
    let on_n1: Vec<Account> = n1.query(format!("{accounts}_1 ORDER BY id")).await.unwrap();
    let want1: Vec<Account> = want.iter().filter(|a| a.0 % 4 == 1).cloned().collect();
    assert!(
        on_n1 == want1,
        "n1's accounts_1: {} rows, want {}",
        on_n1.len(),
        want1.len()
    );
    let ledger1: Vec<(i64, i64)> = n1
        .query(format!("{ledger}_1 ORDER BY account_id, delta"))
        .await
        .unwrap();
    let want_ledger1: Vec<(i64, i64)> = want_ledger
        .iter()
        .filter(|l| l.0 % 4 == 1)
        .copied()
        .collect();
    assert_eq!(ledger1, want_ledger1);
    let channels: Vec<mysql_async::Row> = n1.query("SHOW ALL SLAVES STATUS").await.unwrap();
    assert!(channels.is_empty(), "the reverse channel is removed");
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(
        !status.contains("moved:") && status.contains("phase reversed"),
        "{status}"
    );

    // New writes of the slot land on n1 again; --cleanup drops n2's copy.
    c.query_drop("INSERT INTO accounts VALUES (900001, 1, 'back', 0)")
        .await
        .unwrap();
    let back: Option<i64> = n1
        .query_first("SELECT COUNT(*) FROM accounts_1 WHERE id = 900001")
        .await
        .unwrap();
    assert_eq!(back, Some(1));
    n1.disconnect().await.unwrap();
    let (ok, text) = cli(&move_args("1", &["--cleanup"]), &config);
    assert!(ok, "{text}");
    assert_eq!(count_on(&topo, "n2p", "accounts_1").await, None);
    assert!(count_on(&topo, "n1p", "accounts_1").await.is_some());
    c.disconnect().await.unwrap();
    reference.disconnect().await.unwrap();
    admin.disconnect().await.unwrap();
    reset(&topo).await;
}

/// Not a test: the write pause of a move of a large slot (`MOVE_BENCH_ROWS`
/// rows, 200000 by default, or a comma-separated list of sizes, each run
/// on its own, put straight into n1's `accounts_1` besides its 100 seed
/// rows) under 4 writers, with the shardcat binary `MOVE_BENCH_BIN`
/// (default: this build's). `MOVE_BENCH_ROWS=500,40500 cargo test --test
/// shard_move_reverse move_pause_bench -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn move_pause_bench() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let sizes: Vec<u64> = std::env::var("MOVE_BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![200_000]);
    let bin = std::env::var("MOVE_BENCH_BIN").unwrap_or(env!("CARGO_BIN_EXE_shardcat").into());
    for rows in sizes {
        move_bench_round(&topo, &bin, rows).await;
    }
}

/// One move of slot 1 with `rows` more rows in it (see `move_pause_bench`).
async fn move_bench_round(topo: &Topology, bin: &str, rows: u64) {
    let proxy = ProxyProcess::start_with(topo, options());
    setup(topo, &proxy).await;
    let mut n1 = direct_conn(topo, "n1p", Some(DB)).await;
    n1.query_drop(format!(
        "INSERT INTO accounts_1 SELECT 1000001 + seq * 4, 100, CONCAT('bulk ', seq), seq / 3 \
         FROM seq_0_to_{}",
        rows.max(1) - 1
    ))
    .await
    .unwrap();
    // What a pause that counts the tables reads on each side (before the
    // key watch, session 10), timed here on the source.
    let counted = Instant::now();
    let in_slot: Option<i64> = n1
        .query_first("SELECT COUNT(*) FROM accounts_1")
        .await
        .unwrap();
    let count_ms = counted.elapsed().as_millis();
    let in_slot = in_slot.unwrap_or(0);
    n1.disconnect().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(proxy.port, w, stop.clone(), false)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (config, bin) = (proxy.config_path.clone(), bin.to_owned());
    let started = Instant::now();
    let (ok, text) = tokio::task::spawn_blocking(move || {
        cli_of(&bin, &move_args("1", &["--max-pause-ms", "20000"]), &config)
    })
    .await
    .unwrap();
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = 0;
    let mut slowest = Duration::ZERO;
    for w in writers {
        let r = w.await.unwrap();
        failures += r.failures.len();
        slowest = slowest.max(r.slowest);
    }
    assert!(ok, "{text}");
    let (pause_ms, steps) = reported_pause(&text, "switched: writes paused ");
    let keys = text
        .lines()
        .find(|l| l.starts_with("in the pause: ") || l.contains("the pause counts"))
        .unwrap_or("-");
    let locked = text
        .lines()
        .find_map(|l| {
            l.split_once("(tables locked ")
                .map(|(_, r)| r.strip_suffix(')').unwrap_or(r))
        })
        .unwrap_or("-");
    eprintln!(
        "bench: {in_slot} rows in accounts_1 (COUNT(*) {count_ms} ms): move {} ms in all, \
         write pause {pause_ms} ms ({steps}; {keys}), slowest write transaction {} ms, \
         {failures} failed writes; snapshot: tables locked {locked}",
        took.as_millis(),
        slowest.as_millis()
    );
    drop(proxy);
    reset(topo).await;
}
