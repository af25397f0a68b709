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
#[path = "common/moving.rs"]
mod moving;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::ProxyProcess;
use common::Topology;
use moving::*;
use mysql_async::prelude::*;
use util::{direct_conn, proxy_conn};

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

    // Run again: resumes from catch-up and switches, while another
    // database of the source primary is written without pause (a source
    // busy with other work: with other test binaries writing there, the
    // snapshot's BINLOG_GTID_POS answered NULL and the move failed; this
    // writer alone has not reproduced that).
    let bystander_db = util::db_name("bystander");
    let bystander = tokio::spawn(other_database_writes(
        direct_conn(&topo, "n1p", None).await,
        bystander_db.clone(),
        stop.clone(),
    ));
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
    // Keys written during the verification compared in rounds, those
    // written since the last round in the pause (the key watch), not the
    // tables' row counts.
    assert!(
        text.contains("key round 1: ")
            && text.contains("in the pause: ")
            && !text.contains("the pause counts"),
        "{text}"
    );
    let pause_ms: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("switched: writes paused "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause reported:\n{text}"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let bystander_writes = bystander.await.unwrap();
    assert!(bystander_writes > 0, "the other database was written");
    util::drop_db_on(&topo, "n1p", &bystander_db).await;
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

/// Writes one row at a time to a table of its own database, directly on
/// a server, until `stop`: a source primary busy with other work. Returns
/// the rows written.
async fn other_database_writes(mut c: mysql_async::Conn, db: String, stop: Arc<AtomicBool>) -> u64 {
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!(
        "CREATE TABLE {db}.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"
    ))
    .await
    .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        c.query_drop(format!("INSERT INTO {db}.t (v) VALUES ({n})"))
            .await
            .unwrap();
        n += 1;
    }
    n
}
