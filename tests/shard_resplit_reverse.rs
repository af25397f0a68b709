//! `shardcat shards resplit` after its switch, against the real topology,
//! under the generated writers and readers of `shard_resplit` (each
//! acknowledged write mirrored to the reference server):
//!
//! - a resplit run with `--follow` switches 2 → 4 and then keeps the old
//!   tables in step; writes go on; `--reverse` takes over from the
//!   follower (which ends by itself) and switches back; writes go on.
//!   Afterwards: no failed write or read, rows through the proxy equal to
//!   `ref`'s, every old table holds exactly its slot's keys, the proxy
//!   shows the phase, `--cleanup` drops the new tables;
//! - the reverse switch killed (SIGKILL) at generated points (its catch-up
//!   from the binary log, inside its pause before the placement write;
//!   after it on demand, see the test), without a follower, and run again:
//!   the same checks;
//! - a second resplit of the same table: 2 → 4 (under the writers),
//!   `--cleanup`, 4 → 8 (each of the 16 tables exactly its slot's keys),
//!   then 8 reversed back to 4 and cleaned up (the first resplit's layout
//!   in use again), 4 → 8 again;
//! - DDL during the catch-up stops the resplit naming it and the way out;
//!   ids two new tables numbered alike stop a reverse, naming the id.
//!
//! Keys are generated from a seed (`SHARDCAT_TEST_SEED` replays one).
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses the databases of `shard_resplit`.

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
use std::time::Duration;

use common::Topology;
use killing::{kill_at, owned, run_to_end, shuffled, Gen, Running};
use moving::{by_name, cli};
use mysql_async::prelude::*;
use mysql_async::Conn;
use resplitting::*;
use util::{direct_conn, proxy_conn};

/// A layout of `accounts` (and `ledger`) on n1, n2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// 2 tables per node (the rule's).
    Two,
    /// 4 per node after 2 → 4 (slots 0–3 under staging names).
    Four,
    /// 8 per node after 2 → 4 → 8 (slots 4–7 under staging names).
    Eight,
}

impl Layout {
    fn slots(self) -> usize {
        match self {
            Layout::Two => 4,
            Layout::Four => 8,
            Layout::Eight => 16,
        }
    }

    /// (node, physical table) of slot `t`: every row stays on its node
    /// (slot `t` draws from old slot `t mod 4`).
    fn table(self, base: &str, t: usize) -> (&'static str, String) {
        let node = if t % 4 < 2 { "n1p" } else { "n2p" };
        let staged = match self {
            Layout::Two => None,
            Layout::Four => (t < 4).then_some("rs4"),
            Layout::Eight => (4..8).contains(&t).then_some("rs8"),
        };
        let name = match staged {
            Some(s) => format!("{base}_{t}_{s}"),
            None => format!("{base}_{t}"),
        };
        (node, name)
    }
}

async fn shardcat(config: &std::path::Path, a: Vec<&'static str>) -> (bool, String) {
    let cfg = config.to_path_buf();
    tokio::task::spawn_blocking(move || cli(&a, &cfg))
        .await
        .unwrap()
}

/// Rows through the proxy equal to `ref`'s; every table of `layout` holds
/// exactly the keys of its slot.
async fn check_rows(kind: Kind, load: &mut Load, layout: Layout) {
    check_rows_on(kind, &load.topo, &mut load.c, &mut load.reference, layout).await;
}

async fn check_rows_on(
    kind: Kind,
    topo: &Topology,
    c: &mut Conn,
    reference: &mut Conn,
    layout: Layout,
) {
    let db = kind.db();
    c.query_drop(format!("USE {db}")).await.unwrap();
    reference.query_drop(format!("USE {db}")).await.unwrap();
    let all = "SELECT k, balance, note, amount FROM accounts ORDER BY k";
    type Acc = (String, i64, Option<String>, Option<f64>);
    let got: Vec<Acc> = c.query(all).await.unwrap();
    let want: Vec<Acc> = reference.query(all).await.unwrap();
    assert_eq!(got.len(), want.len(), "{layout:?}: row counts");
    assert!(got == want, "{layout:?}: accounts through the proxy vs ref");
    let ledger = "SELECT k, delta FROM ledger ORDER BY k, delta";
    let got: Vec<(String, i64)> = c.query(ledger).await.unwrap();
    let want: Vec<(String, i64)> = reference.query(ledger).await.unwrap();
    assert_eq!(got, want, "{layout:?}: ledger through the proxy vs ref");
    let ref_keys = keys(reference, "SELECT k FROM accounts").await;
    let ref_ledger = keys(reference, "SELECT CONCAT(k, '#', delta) FROM ledger").await;
    for t in 0..layout.slots() {
        let (node, name) = layout.table("accounts", t);
        let mut n = direct_conn(topo, node, Some(db)).await;
        let here = keys(&mut n, &format!("SELECT k FROM {name}")).await;
        let want: BTreeSet<String> = ref_keys
            .iter()
            .filter(|k| kind.slot_in(k, layout.slots()) == t)
            .cloned()
            .collect();
        assert_eq!(here, want, "{layout:?}: {name} on {node}");
        let (_, lname) = layout.table("ledger", t);
        let sql = format!("SELECT CONCAT(k, '#', delta) FROM {lname}");
        let here = keys(&mut n, &sql).await;
        let want: BTreeSet<String> = ref_ledger
            .iter()
            .filter(|kd| kind.slot_in(kd.rsplit_once('#').unwrap().0, layout.slots()) == t)
            .cloned()
            .collect();
        assert_eq!(here, want, "{layout:?}: {lname} on {node}");
    }
}

/// `ledger`'s primary key with its sharding key (`(id, k)`), before the
/// writers start: its ids are numbered per physical table, so without `k`
/// the new tables of one old table generate the same ids, which a reverse
/// switch cannot merge (the DDL case shows that refusal).
const KEY_LEDGER: &str = "ALTER TABLE ledger DROP PRIMARY KEY, ADD PRIMARY KEY (id, k)";

/// Whether `table` exists on `node`.
async fn exists(topo: &Topology, node: &str, db: &str, table: &str) -> bool {
    let mut n = direct_conn(topo, node, None).await;
    let found: Option<String> = n
        .exec_first(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
        .unwrap();
    found.is_some()
}

/// `SHOW SHARDCAT MOVES`'s row of the table's last resplit.
async fn resplit_row(admin: &mut Conn) -> Option<std::collections::HashMap<String, String>> {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT MOVES").await.unwrap();
    rows.into_iter()
        .map(|r| by_name(&r))
        .filter(|r| r.get("kind").map(String::as_str) == Some("resplit"))
        .last()
}

/// After a reverse switch: the phase shown, the old layout's rows, then
/// `--cleanup` drops the new tables.
async fn check_reversed(kind: Kind, load: &mut Load, tpn: &'static str, layout: Layout) {
    let db = kind.db();
    let mut admin = proxy_conn(&load.proxy, None).await;
    let row = resplit_row(&mut admin).await.expect("a resplit row");
    let get = |c: &str| row.get(c).map(String::as_str);
    assert_eq!(
        (get("state"), get("step")),
        (Some("reversed"), Some("reversed")),
        "{row:?}"
    );
    check_rows(kind, load, layout).await;
    let (ok, text) = shardcat(&load.config, args(tpn, &["--cleanup"])).await;
    assert!(ok && text.contains("the new tables are dropped"), "{text}");
    let newer = match layout {
        Layout::Two => Layout::Four,
        _ => Layout::Eight,
    };
    for t in 0..newer.slots() {
        let (node, name) = newer.table("accounts", t);
        let kept = layout.table("accounts", t % layout.slots()) == (node, name.clone());
        assert_eq!(
            exists(&load.topo, node, db, &name).await,
            kept,
            "{name} on {node} after the cleanup"
        );
    }
    check_rows(kind, load, layout).await;
}

/// A resplit run with `--follow`, writes after its switch, `--reverse`
/// (the follower ends), writes after it: no write lost, the old tables
/// exactly their slots' keys; `--cleanup` drops the new tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_followed_resplit_is_reversed_under_writers_without_losing_a_write() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let kind = Kind::Int;
    let mut load = start_load_with(kind, seed, 0, &[KEY_LEDGER]).await;
    let mut follower = Running::start(&args("4", &["--follow"]), &load.config, None);
    assert!(
        follower.wait_for("following:", Duration::from_secs(180)),
        "{}",
        follower.seen.join("\n")
    );
    // Writes to the new tables, kept in step into the old ones.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut admin = proxy_conn(&load.proxy, None).await;
    let row = resplit_row(&mut admin).await.expect("a resplit row");
    assert_eq!(
        (
            row.get("state").map(String::as_str),
            row.get("step").map(String::as_str)
        ),
        (Some("switched"), Some("following")),
        "{row:?}"
    );
    let (ok, text) = shardcat(&load.config, args("4", &["--reverse"])).await;
    assert!(ok, "{text}\nproxy log:\n{}", util::tail(&load.proxy.log()));
    let pause = text
        .lines()
        .find(|l| l.starts_with("reversed:"))
        .unwrap_or("-")
        .to_owned();
    let (ok, followed) = tokio::task::spawn_blocking(move || follower.finish())
        .await
        .unwrap();
    assert!(
        ok && followed.contains("the reverse replay stops"),
        "{followed}"
    );
    // Writes after the reverse switch go to the old tables.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (out, reads) = load.finish("reverse").await;
    eprintln!(
        "followed and reversed: {pause}; {} writes acknowledged, slowest {} ms, {reads} reads",
        out.acknowledged,
        out.slowest.as_millis()
    );
    let (_, status) = cli(&["shards", "status"], &load.config);
    assert!(
        status.contains("tables_per_node 2 → 4: phase reversed"),
        "{status}"
    );
    assert!(!status.contains("moved:"), "[[moved]] as before: {status}");
    check_reversed(kind, &mut load, "4", Layout::Two).await;
    drop(load.c);
    reset(&load.topo, kind.db()).await;
}

/// The longest pause of the kill case.
const MAX_PAUSE_MS: u64 = 4000;

/// A switched resplit (no follower: the reverse catches up from the binary
/// log) reversed by a run killed at generated points; run again, the
/// reverse completes with no write lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reverse_switch_killed_completes_when_run_again() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let mut g = Gen(seed | 1);
    let kind = Kind::Int;
    let pause = MAX_PAUSE_MS.to_string();
    let mut points: Vec<String> = shuffled(
        vec!["reverse_catch_up", "reverse_paused", "reverse_placed"],
        &mut g,
    )
    .into_iter()
    .map(str::to_owned)
    .collect();
    if let Ok(only) = std::env::var("SHARDCAT_TEST_POINTS") {
        points = only.split(',').map(str::to_owned).collect();
    }
    for point in points.iter().map(String::as_str) {
        let mut load = start_load_with(kind, seed ^ g.next(), 0, &[KEY_LEDGER]).await;
        let (ok, text) = shardcat(&load.config, args("4", &[])).await;
        assert!(ok, "{point}: {text}");
        // Writes to the new tables: only in the binary log until the
        // reverse replays them.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let delay = g.below(300);
        let first = args("4", &["--reverse", "--max-pause-ms", &pause]);
        kill_at(point, &first, &load.config, delay);
        tokio::time::sleep(Duration::from_millis(MAX_PAUSE_MS + 300)).await;
        let (_, status) = cli(&["shards", "status"], &load.config);
        let want = if point == "reverse_placed" {
            "phase reversed"
        } else {
            "phase reversing"
        };
        assert!(status.contains(want), "{point}: {status}");
        let again = args("4", &["--reverse", "--max-pause-ms", &pause]);
        let (ok, text) = run_to_end(owned(&again), load.config.clone()).await;
        assert!(
            ok,
            "{point}: run again failed:\n{text}\nproxy log:\n{}",
            util::tail(&load.proxy.log())
        );
        let finished = text.contains("reloaded the placement file");
        assert_eq!(finished, point == "reverse_placed", "{point}:\n{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
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
        check_reversed(kind, &mut load, "4", Layout::Two).await;
        drop(load.c);
        reset(&load.topo, kind.db()).await;
    }
}

/// 2 → 4 under writers (string keys), `--cleanup`, 4 → 8: each of the 16
/// tables exactly its slot's keys; then 8 reversed to 4 and cleaned up:
/// the first resplit's tables in use again; 4 → 8 once more, kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_is_resplit_twice_then_its_second_resplit_reversed() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let kind = Kind::Str;
    let db = kind.db();
    let mut load = start_load_with(kind, seed, 0, &[KEY_LEDGER]).await;
    let (ok, text) = shardcat(&load.config, args("4", &[])).await;
    assert!(ok, "2 → 4: {text}");
    let (ok, text) = shardcat(&load.config, args("8", &[])).await;
    assert!(
        !ok && text.contains("finish or abort it first"),
        "8 before the cleanup of 4: {text}"
    );
    // The old tables are dropped while the writers go on.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (ok, text) = shardcat(&load.config, args("4", &["--cleanup"])).await;
    assert!(ok, "cleanup of 2 → 4: {text}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (out, _) = load.finish("2 → 4").await;
    eprintln!("2 → 4: ok ({} writes)", out.acknowledged);
    check_rows(kind, &mut load, Layout::Four).await;
    assert!(!exists(&load.topo, "n1p", db, "accounts_0").await);
    let (ok, plan) = shardcat(&load.config, args("8", &["--dry-run"])).await;
    assert!(
        ok && plan.contains("slot 12 on n1: accounts_12 ← rows of accounts_4")
            && plan.contains("slot 5 on n1: accounts_5_rs8 ← rows of accounts_5"),
        "{plan}"
    );
    let (ok, text) = shardcat(&load.config, args("8", &[])).await;
    assert!(
        ok,
        "4 → 8: {text}\nproxy log:\n{}",
        util::tail(&load.proxy.log())
    );
    check_rows(kind, &mut load, Layout::Eight).await;
    let (_, explain) = cli(
        &["explain", "--schema", db, "SELECT * FROM accounts"],
        &load.config,
    );
    assert!(
        explain.contains("accounts_15") && explain.contains("accounts_6_rs8"),
        "{explain}"
    );
    let (ok, text) = shardcat(&load.config, args("8", &["--reverse"])).await;
    assert!(ok, "8 → 4 back: {text}");
    let (_, status) = cli(&["shards", "status"], &load.config);
    assert!(
        status.contains("tables_per_node 2 → 4: phase cleaned")
            && status.contains("tables_per_node 4 → 8: phase reversed"),
        "{status}"
    );
    check_reversed(kind, &mut load, "8", Layout::Four).await;
    // 4 → 8 again, kept this time.
    let (ok, text) = shardcat(&load.config, args("8", &[])).await;
    assert!(ok, "4 → 8 again: {text}");
    check_rows(kind, &mut load, Layout::Eight).await;
    let (ok, text) = shardcat(&load.config, args("8", &["--cleanup"])).await;
    assert!(ok, "{text}");
    check_rows(kind, &mut load, Layout::Eight).await;
    drop(load.c);
    reset(&load.topo, db).await;
}

/// DDL on the old tables during the catch-up (through the proxy, which
/// runs it on every old table): the resplit stops with an error naming the
/// statement and the way out (`--abort`, then a new resplit, which
/// completes with the new column). Then two new tables of one old table
/// given the same `ledger` id (its primary key lacks the sharding key):
/// `--reverse` refuses, naming the id, and changes nothing; `--cleanup`
/// keeps the new tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ddl_and_colliding_ids_stop_with_the_way_out() {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let kind = Kind::Int;
    let db = kind.db();
    let topo = Topology::from_env();
    reset(&topo, db).await;
    let proxy = common::proxy::ProxyProcess::start_with(&topo, options(kind));
    let config = proxy.config_path.clone();
    let mut c = proxy_conn(&proxy, None).await;
    let mut reference = direct_conn(&topo, "ref", None).await;
    seed_both(kind, seed, &mut c, &mut reference).await;
    let mut run = Running::start(&args("4", &[]), &config, Some("catch_up:2500"));
    assert!(
        run.wait_for("test stall at catch_up", Duration::from_secs(60)),
        "{}",
        run.seen.join("\n")
    );
    let alter = "ALTER TABLE accounts ADD COLUMN extra INT NOT NULL DEFAULT 3";
    c.query_drop(alter).await.unwrap();
    reference.query_drop(alter).await.unwrap();
    let (ok, text) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert!(
        !ok && text.contains("DDL on `resplit_int`.`accounts_")
            && text.contains("ADD COLUMN extra")
            && text.contains("--abort"),
        "{text}"
    );
    let (ok, text) = shardcat(&config, args("4", &["--abort"])).await;
    assert!(ok, "{text}");
    let (ok, text) = shardcat(&config, args("4", &[])).await;
    assert!(ok, "{text}");
    check_rows_on(kind, &topo, &mut c, &mut reference, Layout::Four).await;
    let extra = "SELECT COUNT(*) FROM accounts WHERE extra = 3";
    let got: Option<i64> = c.query_first(extra).await.unwrap();
    let want: Option<i64> = reference.query_first(extra).await.unwrap();
    assert_eq!(got, want);
    // Keys of new slots 1 and 5 (both from old slot 1), the same id.
    let k1 = (7_000_000_000i64..)
        .find(|k| kind.slot(&k.to_string()) == 1)
        .unwrap();
    let k5 = (7_000_000_000i64..)
        .find(|k| kind.slot(&k.to_string()) == 5)
        .unwrap();
    for (k, d) in [(k1, 1), (k5, 2)] {
        c.query_drop(format!(
            "INSERT INTO ledger (id, k, delta) VALUES (990000, {k}, {d})"
        ))
        .await
        .unwrap();
    }
    let (ok, text) = shardcat(&config, args("4", &["--reverse"])).await;
    assert!(
        !ok && text.contains("already holds the primary key (990000)")
            && text.contains("--cleanup keeps the new ones"),
        "{text}"
    );
    let (_, status) = cli(&["shards", "status"], &config);
    assert!(status.contains("phase reversing"), "{status}");
    let (ok, text) = shardcat(&config, args("4", &["--cleanup"])).await;
    assert!(ok, "{text}");
    let ids: Vec<i64> = c
        .query("SELECT k FROM ledger WHERE id = 990000 ORDER BY k")
        .await
        .unwrap();
    assert_eq!(ids, [k1, k5], "both rows kept in the new tables");
    drop(c);
    reset(&topo, db).await;
}
