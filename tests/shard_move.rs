//! Moving a shard online against the real topology: `shardcat shards move`
//! moves slot 1 of a hash table (and its bound table's slot 1) from n1 to
//! n2 while writers keep inserting and updating through the proxy; then
//! every acknowledged write is there exactly once, reads through the proxy
//! equal the primaries' rows, the write pause is bounded (reported), the
//! placement survives a fresh proxy (`explain` offline), `--cleanup` drops
//! the old copy. A switch that cannot finish within its pause is rolled
//! back and resumed by running the command again; `--abort` undoes a move;
//! a move onto an existing table of the same name is refused.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own database.

mod common;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use util::{direct_conn, proxy_conn};

const DB: &str = "move_shard";
const SEED: i64 = 400;
const WRITERS: i64 = 4;

fn options() -> ProxyOptions {
    ProxyOptions {
        extra: format!(
            r#"
[[table]]
name = "accounts"
schema = "{DB}"
key = "id"
key_type = "int"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "ledger"
schema = "{DB}"
bound_to = "accounts"
key = "account_id"
"#
        ),
        ..Default::default()
    }
}

/// Runs `shardcat <args>`: (exit ok, stdout + stderr).
fn cli(args: &[&str], config: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run shardcat");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn move_args<'a>(slot: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "shards",
        "move",
        "--table",
        "accounts",
        "--shard",
        slot,
        "--to",
        "n2",
        "--repl-user",
        "repl",
        "--repl-password",
        "repl",
    ];
    args.extend_from_slice(extra);
    args
}

/// Removes what an earlier run may have left on the servers.
async fn reset(topo: &Topology) {
    for node in ["n1p", "n2p", "ref"] {
        let mut c = direct_conn(topo, node, None).await;
        let rows: Vec<mysql_async::Row> = c.query("SHOW ALL SLAVES STATUS").await.unwrap();
        for r in rows {
            let name: String = r.get("Connection_name").unwrap_or_default();
            if name.starts_with("shardcat_move_") {
                c.query_drop(format!("STOP SLAVE '{name}'")).await.unwrap();
                c.query_drop(format!("RESET SLAVE '{name}' ALL"))
                    .await
                    .unwrap();
            }
        }
        c.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
}

async fn setup(topo: &Topology, proxy: &ProxyProcess) {
    reset(topo).await;
    let mut reference = direct_conn(topo, "ref", None).await;
    create_and_seed(&mut reference).await;
    reference.disconnect().await.unwrap();
    let mut c = proxy_conn(proxy, None).await;
    create_and_seed(&mut c).await;
    c.disconnect().await.unwrap();
}

/// The database, its tables and the seed rows (through the proxy or on
/// the reference server).
async fn create_and_seed(c: &mut mysql_async::Conn) {
    c.query_drop(format!("CREATE DATABASE {DB}")).await.unwrap();
    c.query_drop(format!("USE {DB}")).await.unwrap();
    c.query_drop("CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(40), amount DOUBLE)")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id BIGINT NOT NULL, delta BIGINT NOT NULL, KEY (account_id))")
        .await
        .unwrap();
    let values: Vec<String> = (0..SEED)
        .map(|i| format!("({i}, 100, 'seed ''{i}'' é\\\\', {})", i as f64 / 3.0))
        .collect();
    c.query_drop(format!("INSERT INTO accounts VALUES {}", values.join(",")))
        .await
        .unwrap();
}

/// What a writer did.
#[derive(Default)]
struct Written {
    ids: Vec<i64>,
    ledger: i64,
    failures: Vec<String>,
    slowest: Duration,
    read_mismatches: usize,
    /// Transactions rolled back by an InnoDB deadlock and run again.
    deadlocks_retried: usize,
}

/// Inserts accounts (autocommit) and, in a transaction, a ledger row with
/// its balance update; reads each new account back through the proxy.
async fn writer(proxy_port: u16, w: i64, stop: Arc<AtomicBool>, mirror: bool) -> Written {
    struct P(u16);
    impl util::ProxyLike for P {
        fn port(&self) -> u16 {
            self.0
        }
        fn log(&self) -> String {
            String::new()
        }
        fn pid(&self) -> u32 {
            0
        }
    }
    let mut c = proxy_conn(&P(proxy_port), Some(DB)).await;
    // Each acknowledged write again on the reference server.
    let mut reference = match mirror {
        true => Some(direct_conn(&Topology::from_env(), "ref", Some(DB)).await),
        false => None,
    };
    let mut out = Written::default();
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let id = 10_000 + k * WRITERS + w;
        k += 1;
        let start = Instant::now();
        let r = async {
            c.exec_drop(
                "INSERT INTO accounts (id, balance, note, amount) VALUES (?, 0, 'w', 0.1)",
                (id,),
            )
            .await?;
            // A deadlock between the writers' transactions (1213: InnoDB
            // rolled the transaction back) is retried, as applications do;
            // it loses nothing.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let tx = async {
                    c.query_drop("BEGIN").await?;
                    c.exec_drop(
                        "INSERT INTO ledger (account_id, delta) VALUES (?, 5)",
                        (id,),
                    )
                    .await?;
                    c.exec_drop(
                        "UPDATE accounts SET balance = balance + 5 WHERE id = ?",
                        (id,),
                    )
                    .await?;
                    c.query_drop("COMMIT").await
                }
                .await;
                match tx {
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 3 => {
                        let _ = c.query_drop("ROLLBACK").await;
                        out.deadlocks_retried += 1;
                    }
                    other => break other,
                }
            }
        }
        .await;
        out.slowest = out.slowest.max(start.elapsed());
        match r {
            Ok(()) => {
                if let Some(r) = reference.as_mut() {
                    r.exec_drop(
                        "INSERT INTO accounts (id, balance, note, amount) VALUES (?, 5, 'w', 0.1)",
                        (id,),
                    )
                    .await
                    .unwrap();
                    r.exec_drop(
                        "INSERT INTO ledger (account_id, delta) VALUES (?, 5)",
                        (id,),
                    )
                    .await
                    .unwrap();
                }
                out.ids.push(id);
                out.ledger += 1;
                let back: Option<i64> = c
                    .exec_first("SELECT balance FROM accounts WHERE id = ?", (id,))
                    .await
                    .unwrap_or(None);
                if back != Some(5) {
                    out.read_mismatches += 1;
                }
            }
            Err(e) => {
                let _ = c.query_drop("ROLLBACK").await;
                out.failures.push(format!("id {id}: {e}"));
            }
        }
    }
    let _ = c.disconnect().await;
    out
}

/// Every row of `table` through the proxy, as sorted (id, balance) pairs.
async fn ids_through_proxy(proxy: &ProxyProcess) -> Vec<(i64, i64)> {
    let mut c = proxy_conn(proxy, Some(DB)).await;
    let rows: Vec<(i64, i64)> = c
        .query("SELECT id, balance FROM accounts ORDER BY id")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

async fn count_on(topo: &Topology, node: &str, table: &str) -> Option<i64> {
    let mut c = direct_conn(topo, node, Some(DB)).await;
    let n: Result<Option<i64>, _> = c.query_first(format!("SELECT COUNT(*) FROM {table}")).await;
    c.disconnect().await.unwrap();
    n.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shard_moves_to_another_node_while_writes_continue() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();

    // A switch that cannot fit in its pause is rolled back; the move stays
    // in catch-up with its channel running, writes go on.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(proxy.port, w, stop.clone(), false)))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cfg = config.clone();
    let (ok, text) = tokio::task::spawn_blocking(move || {
        cli(&move_args("accounts_1", &["--max-pause-ms", "1"]), &cfg)
    })
    .await
    .unwrap();
    assert!(!ok, "a 1 ms pause cannot switch:\n{text}");
    assert!(text.contains("phase catching_up"), "{text}");
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("phase catching_up"), "{status}");
    assert!(!status.contains("moved:"), "{status}");

    // Run again: resumes from catch-up and switches.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cfg = config.clone();
    let started = Instant::now();
    let chunked = ["--verify-chunk-rows", "16"];
    let (ok, text) =
        tokio::task::spawn_blocking(move || cli(&move_args("accounts_1", &chunked), &cfg))
            .await
            .unwrap();
    let took = started.elapsed();
    assert!(
        ok,
        "move failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    let pause_ms: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switched: writes paused "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause reported:\n{text}"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = Written::default();
    for w in writers {
        let r = w.await.unwrap();
        written.ids.extend(r.ids);
        written.ledger += r.ledger;
        written.failures.extend(r.failures);
        written.slowest = written.slowest.max(r.slowest);
        written.read_mismatches += r.read_mismatches;
        written.deadlocks_retried += r.deadlocks_retried;
    }
    eprintln!(
        "move: {} ms in all, write pause {pause_ms} ms, slowest write transaction {} ms, \
         {} write transactions acknowledged, {} failed, {} deadlocks retried",
        took.as_millis(),
        written.slowest.as_millis(),
        written.ids.len(),
        written.failures.len(),
        written.deadlocks_retried
    );
    assert!(written.failures.is_empty(), "{:?}", written.failures);
    assert_eq!(
        written.read_mismatches, 0,
        "reads of own writes through the proxy"
    );
    assert!(pause_ms < 2000, "pause {pause_ms} ms");
    assert!(
        written.slowest < Duration::from_secs(3),
        "{:?}",
        written.slowest
    );
    let moved_ids: Vec<&i64> = written.ids.iter().filter(|id| *id % 4 == 1).collect();
    assert!(!moved_ids.is_empty(), "writes reached the moving shard");

    // Every acknowledged row exactly once, with its balance, through the
    // proxy; the moving shard's rows on n2, none of them lost.
    let rows = ids_through_proxy(&proxy).await;
    let expected: BTreeSet<i64> = (0..SEED).chain(written.ids.iter().copied()).collect();
    let got: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    assert_eq!(got.len(), expected.len(), "no duplicated or lost rows");
    assert_eq!(got, expected.iter().copied().collect::<Vec<_>>());
    for (id, balance) in &rows {
        assert_eq!(*balance, if *id < SEED { 100 } else { 5 }, "id {id}");
    }
    let slot1 = expected.iter().filter(|id| *id % 4 == 1).count() as i64;
    assert_eq!(count_on(&topo, "n2p", "accounts_1").await, Some(slot1));
    let ledger1 = written.ids.iter().filter(|id| *id % 4 == 1).count() as i64;
    assert_eq!(count_on(&topo, "n2p", "ledger_1").await, Some(ledger1));
    let mut c = proxy_conn(&proxy, Some(DB)).await;
    let ledger: Option<i64> = c.query_first("SELECT COUNT(*) FROM ledger").await.unwrap();
    assert_eq!(ledger, Some(written.ledger));
    let floats: Option<f64> = c
        .query_first("SELECT amount FROM accounts WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(floats, Some(1.0 / 3.0), "values copied exactly");
    let note: Option<String> = c
        .query_first("SELECT note FROM accounts WHERE id = 5")
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("seed '5' é\\"));
    c.disconnect().await.unwrap();

    // The placement is in the file: a fresh planner routes slot 1 to n2.
    let (ok, plan) = cli(
        &[
            "explain",
            "--schema",
            DB,
            "SELECT * FROM accounts WHERE id = 5",
        ],
        &config,
    );
    assert!(ok && plan.contains("n2") && !plan.contains("n1"), "{plan}");
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(
        status.contains("moved: move_shard.accounts slot 1 → node n2"),
        "{status}"
    );
    assert!(status.contains("phase switched"), "{status}");
    let mut admin = proxy_conn(&proxy, None).await;
    let moves: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT MOVES").await.unwrap();
    let states: Vec<(String, String)> = moves
        .iter()
        .map(|r| (r.get("state").unwrap(), r.get("to_node").unwrap()))
        .collect();
    assert!(
        states.contains(&("moved".into(), "n2".into()))
            && states.contains(&("switched".into(), "n2".into())),
        "{states:?}"
    );
    // The same progress in the metrics (`/metrics`, `SHOW SHARDCAT STATS`).
    let stats: Vec<(String, String, String)> = admin.query("SHOW SHARDCAT STATS").await.unwrap();
    let stat = |name: &str, with: &str| {
        stats
            .iter()
            .find(|(n, l, _)| n == name && l.contains(with))
            .map(|(_, _, v)| v.clone())
    };
    let phase = format!("table=\"{DB}.accounts\",slot=\"1\",phase=\"switched\"");
    assert_eq!(
        stat("shardcat_shard_move_phase", &phase).as_deref(),
        Some("1"),
        "{stats:?}"
    );
    let copied: i64 = stat("shardcat_shard_move_rows_copied", "slot=\"1\"")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(copied >= SEED / 4, "rows copied {copied}");
    assert_eq!(stat("shardcat_shards_moved", "").as_deref(), Some("1"));
    admin.disconnect().await.unwrap();

    // No channel left; the old copy stays until --cleanup.
    let mut n2 = direct_conn(&topo, "n2p", None).await;
    let channels: Vec<mysql_async::Row> = n2.query("SHOW ALL SLAVES STATUS").await.unwrap();
    assert!(channels.is_empty(), "the channel is removed");
    n2.disconnect().await.unwrap();
    assert!(count_on(&topo, "n1p", "accounts_1").await.is_some());
    let (ok, text) = cli(&move_args("accounts_1", &["--cleanup"]), &config);
    assert!(ok, "{text}");
    assert_eq!(count_on(&topo, "n1p", "accounts_1").await, None);
    assert_eq!(ids_through_proxy(&proxy).await, rows, "reads after cleanup");

    // The gate statements by hand: a pause is visible, holds writes to its
    // table only, and ends by itself.
    let mut admin = proxy_conn(&proxy, Some(DB)).await;
    admin
        .query_drop("SET SHARDCAT PAUSE WRITES n1 accounts_0 FOR 400")
        .await
        .unwrap();
    let pauses: Vec<(String, String, u64)> = admin.query("SHOW SHARDCAT PAUSES").await.unwrap();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert_eq!(
        (pauses[0].0.as_str(), pauses[0].1.as_str()),
        ("n1", "accounts_0")
    );
    let mut w = proxy_conn(&proxy, Some(DB)).await;
    let (r, other) = util::timed(w.query_drop("UPDATE accounts SET note = 'x' WHERE id = 2")).await;
    r.unwrap();
    assert!(
        other < Duration::from_millis(300),
        "another table is not paused: {other:?}"
    );
    let (r, held) = util::timed(w.query_drop("UPDATE accounts SET note = 'x' WHERE id = 4")).await;
    r.unwrap();
    assert!(
        held >= Duration::from_millis(250),
        "the write waited: {held:?}"
    );
    let pauses: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT PAUSES").await.unwrap();
    assert!(pauses.len() <= 1);
    admin
        .query_drop("SET SHARDCAT RESUME WRITES n1 accounts_0")
        .await
        .unwrap();
    let pauses: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT PAUSES").await.unwrap();
    assert!(pauses.is_empty());

    // LOAD DATA waits for a pause of one of its tables like other writes,
    // then loads every row.
    admin
        .query_drop("SET SHARDCAT PAUSE WRITES n1 accounts_0 FOR 400")
        .await
        .unwrap();
    let mut l = proxy_conn(&proxy, Some(DB)).await;
    l.set_infile_handler(async {
        use futures::StreamExt;
        let rows = b"100000\t5\tload\t1\n100004\t5\tload\t1\n100001\t5\tload\t1\n";
        Ok(futures::stream::once(async move { Ok(bytes::Bytes::from_static(rows)) }).boxed())
    });
    let (r, held) = util::timed(l.query_drop(
        "LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE accounts (id, balance, note, amount)",
    ))
    .await;
    r.unwrap();
    assert!(
        held >= Duration::from_millis(250),
        "LOAD DATA waited: {held:?}"
    );
    let loaded: Vec<i64> = l
        .query("SELECT id FROM accounts WHERE note = 'load' ORDER BY id")
        .await
        .unwrap();
    assert_eq!(loaded, vec![100000, 100001, 100004]);
    l.disconnect().await.unwrap();
    admin.disconnect().await.unwrap();
    reset(&topo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unswitched_move_can_be_aborted() {
    let topo = Topology::from_env();
    // Same database as the other test: one at a time.
    let _guard = SERIAL.lock().await;
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let config = proxy.config_path.clone();
    // A table of the same name on the target: refused, left alone.
    let mut n2 = direct_conn(&topo, "n2p", Some(DB)).await;
    n2.query_drop("CREATE TABLE accounts_0 (x INT)")
        .await
        .unwrap();
    n2.query_drop("INSERT INTO accounts_0 VALUES (7)")
        .await
        .unwrap();
    let (ok, text) = cli(&move_args("0", &[]), &config);
    assert!(
        !ok && text.contains("already exists on node `n2`"),
        "{text}"
    );
    assert_eq!(count_on(&topo, "n2p", "accounts_0").await, Some(1));
    n2.query_drop("DROP TABLE accounts_0").await.unwrap();
    n2.disconnect().await.unwrap();
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("nothing moved"), "{status}");
    let (ok, text) = cli(&move_args("0", &["--max-pause-ms", "1"]), &config);
    assert!(!ok, "{text}");
    assert_eq!(count_on(&topo, "n2p", "accounts_0").await, Some(SEED / 4));
    let (ok, text) = cli(&move_args("0", &["--abort"]), &config);
    assert!(ok, "{text}");
    assert_eq!(count_on(&topo, "n2p", "accounts_0").await, None);
    let mut n2 = direct_conn(&topo, "n2p", None).await;
    let channels: Vec<mysql_async::Row> = n2.query("SHOW ALL SLAVES STATUS").await.unwrap();
    assert!(channels.is_empty());
    n2.disconnect().await.unwrap();
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("nothing moved"), "{status}");
    assert_eq!(ids_through_proxy(&proxy).await.len() as i64, SEED);
    reset(&topo).await;
}

/// The run's seed (`SHARDCAT_TEST_SEED` replays one).
fn seed() -> u64 {
    std::env::var("SHARDCAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// `SHOW SHARDCAT MOVES`'s row of the move of `accounts` slot 1, by
/// column name.
async fn move_row(
    admin: &mut mysql_async::Conn,
) -> Option<std::collections::HashMap<String, String>> {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT MOVES").await.unwrap();
    rows.into_iter().find_map(|r| {
        let state: String = r.get("state")?;
        let slot: String = r.get("slot")?;
        if state == "moved" || slot != "1" {
            return None;
        }
        let cols: Vec<String> = r
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        Some(
            cols.into_iter()
                .enumerate()
                .filter_map(|(i, c)| Some((c, r.get::<Option<String>, _>(i)??)))
                .collect(),
        )
    })
}

fn num(row: &std::collections::HashMap<String, String>, col: &str) -> i64 {
    row.get(col).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

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
/// rows, 200000 by default, put straight into n1's `accounts_1`) under 4
/// writers, with the shardcat binary `MOVE_BENCH_BIN` (default: this
/// build's). `cargo test --test shard_move move_pause_bench -- --ignored
/// --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore]
async fn move_pause_bench() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let rows: u64 = std::env::var("MOVE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let bin = std::env::var("MOVE_BENCH_BIN").unwrap_or(env!("CARGO_BIN_EXE_shardcat").into());
    let proxy = ProxyProcess::start_with(&topo, options());
    setup(&topo, &proxy).await;
    let mut n1 = direct_conn(&topo, "n1p", Some(DB)).await;
    n1.query_drop(format!(
        "INSERT INTO accounts_1 SELECT 1000001 + seq * 4, 100, CONCAT('bulk ', seq), seq / 3 \
         FROM seq_0_to_{}",
        rows - 1
    ))
    .await
    .unwrap();
    n1.disconnect().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writer(proxy.port, w, stop.clone(), false)))
        .collect();
    let config = proxy.config_path.clone();
    let started = Instant::now();
    let (ok, text) = tokio::task::spawn_blocking(move || {
        let out = Command::new(bin)
            .args(move_args("1", &["--max-pause-ms", "20000"]))
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run shardcat");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap();
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut failures = 0;
    let mut slowest = Duration::ZERO;
    for w in writers {
        let r = w.await.unwrap();
        failures += r.failures.len();
        slowest = slowest.max(r.slowest);
    }
    assert!(ok, "{text}");
    let pause = text
        .lines()
        .find_map(|l| l.strip_prefix("switched: writes paused "))
        .unwrap_or("?");
    eprintln!(
        "bench: {rows} rows in the slot: move {} ms in all, write pause {pause}, slowest write \
         transaction {} ms, {failures} failed writes",
        took.as_millis(),
        slowest.as_millis()
    );
    reset(&topo).await;
}

/// Stops the writers when the test ends, also by a failed assertion.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
