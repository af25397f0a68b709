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
//! the write pause is printed, `--cleanup` drops the old tables. Keys are
//! generated from a seed (`SHARDCAT_TEST_SEED` replays one).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own databases.

mod common;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use moving::{cli, StopOnDrop};
use mysql_async::prelude::*;
use mysql_async::Conn;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shardcat::placement::{Algorithm, Collation, HashFunction, ShardKey};
use util::{direct_conn, proxy_conn};

const SEED_ROWS: usize = 600;
const WRITERS: usize = 3;
const NEW_SLOTS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int,
    Str,
}

impl Kind {
    fn db(self) -> &'static str {
        match self {
            Kind::Int => "resplit_int",
            Kind::Str => "resplit_str",
        }
    }
    fn column(self) -> &'static str {
        match self {
            Kind::Int => "BIGINT",
            Kind::Str => "VARCHAR(60)",
        }
    }
    /// A key as an SQL literal.
    fn lit(self, k: &str) -> String {
        match self {
            Kind::Int => k.to_owned(),
            Kind::Str => format!("'{}'", k.replace('\'', "''")),
        }
    }
    /// A fresh key (distinct under the collation: lower case).
    fn gen(self, rng: &mut StdRng) -> String {
        match self {
            Kind::Int => rng.random_range(0..1_000_000_000i64).to_string(),
            Kind::Str => {
                let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789é-_.@"
                    .chars()
                    .collect();
                let len = rng.random_range(1..24);
                let mut s: String = (0..len)
                    .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                    .collect();
                s.insert(0, 'k');
                s
            }
        }
    }
    fn slot(self, k: &str) -> usize {
        let key = match self {
            Kind::Int => ShardKey::Int(k.parse().unwrap()),
            Kind::Str => ShardKey::Str(k.to_owned()),
        };
        Algorithm::HashMod {
            hash: HashFunction::Xxh3,
        }
        .slot_for_key(&key, NEW_SLOTS, &Collation::default())
        .unwrap()
    }
}

fn options(kind: Kind) -> ProxyOptions {
    let db = kind.db();
    let key_type = match kind {
        Kind::Int => "int",
        Kind::Str => "string",
    };
    ProxyOptions {
        extra: format!(
            r#"
[[table]]
name = "accounts"
schema = "{db}"
key = "k"
key_type = "{key_type}"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "ledger"
schema = "{db}"
bound_to = "accounts"
key = "k"

[[table]]
name = "jumpy"
schema = "{db}"
key = "id"
key_type = "int"
algorithm = {{ kind = "jump" }}
nodes = ["n1", "n2"]
tables_per_node = 2
"#
        ),
        ..Default::default()
    }
}

fn args<'a>(tpn: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "shards",
        "resplit",
        "--table",
        "accounts",
        "--tables-per-node",
        tpn,
    ];
    a.extend_from_slice(extra);
    a
}

async fn resplit(config: &std::path::Path, extra: &'static [&'static str]) -> (bool, String) {
    let cfg = config.to_path_buf();
    tokio::task::spawn_blocking(move || cli(&args("4", extra), &cfg))
        .await
        .unwrap()
}

async fn reset(topo: &Topology, db: &str) {
    for node in ["n1p", "n2p", "ref"] {
        let mut c = direct_conn(topo, node, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
}

struct Port(u16);

impl util::ProxyLike for Port {
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

#[derive(Default)]
struct Outcome {
    acknowledged: usize,
    failures: Vec<String>,
    deadlocks_retried: usize,
    slowest: Duration,
}

/// Runs `stmts` (one transaction when several) through the proxy, then,
/// once acknowledged, on the reference.
async fn mirror(
    proxy: &mut Conn,
    reference: &mut Conn,
    stmts: &[String],
    out: &mut Outcome,
) -> bool {
    let tx = stmts.len() > 1;
    let mut attempt = 0;
    let r = loop {
        attempt += 1;
        let r = async {
            if tx {
                proxy.query_drop("BEGIN").await?;
            }
            for s in stmts {
                proxy.query_drop(s).await?;
            }
            if tx {
                proxy.query_drop("COMMIT").await?;
            }
            Ok::<(), mysql_async::Error>(())
        }
        .await;
        match r {
            Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 3 => {
                let _ = proxy.query_drop("ROLLBACK").await;
                out.deadlocks_retried += 1;
            }
            other => break other,
        }
    };
    if let Err(e) = r {
        let _ = proxy.query_drop("ROLLBACK").await;
        out.failures.push(format!("{stmts:?}: {e}"));
        return false;
    }
    for s in stmts {
        reference.query_drop(s).await.expect("reference write");
    }
    out.acknowledged += 1;
    true
}

/// Generated writes: inserts, ledger transactions, updates of the writer's
/// seed rows, key-changing updates and deletes of its own rows.
async fn writer(
    kind: Kind,
    proxy: u16,
    topo: Arc<Topology>,
    w: usize,
    seeds: Arc<Vec<String>>,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let db = kind.db();
    let mut p = proxy_conn(&Port(proxy), Some(db)).await;
    let mut r = direct_conn(&topo, "ref", Some(db)).await;
    let mut rng = StdRng::seed_from_u64(seed ^ ((w as u64 + 1) * 0x9E37));
    let mut out = Outcome::default();
    // Own rows without ledger rows (their key may change) and with.
    let mut bare: Vec<String> = Vec::new();
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let fresh = kind.gen(&mut rng);
        // Writer-unique keys: a suffix (strings) or a residue (ints).
        let fresh = match kind {
            Kind::Int => {
                (fresh.parse::<i64>().unwrap() + 1_000_000_000 * (w as i64 + 1)).to_string()
            }
            Kind::Str => format!("{fresh}~{w}.{k}"),
        };
        let stmts = match k % 6 {
            0 | 3 => {
                bare.push(fresh.clone());
                vec![format!(
                    "INSERT INTO accounts VALUES ({}, 0, 'w{w} ''{k}''', {})",
                    kind.lit(&fresh),
                    k as f64 / 7.0
                )]
            }
            1 => {
                let s = &seeds[(k * 13 + w) % (seeds.len() / WRITERS) * WRITERS + w];
                vec![format!(
                    "UPDATE accounts SET balance = balance + 1, note = 'u{w}' WHERE k = {}",
                    kind.lit(s)
                )]
            }
            2 if !bare.is_empty() => {
                // The sharding key changes (the row usually changes slot).
                let i = k % bare.len();
                let old = std::mem::replace(&mut bare[i], fresh.clone());
                vec![format!(
                    "UPDATE accounts SET k = {}, balance = balance + 2 WHERE k = {}",
                    kind.lit(&fresh),
                    kind.lit(&old)
                )]
            }
            4 if !bare.is_empty() => {
                let gone = bare.remove(k % bare.len());
                vec![format!(
                    "DELETE FROM accounts WHERE k = {}",
                    kind.lit(&gone)
                )]
            }
            _ => {
                let s = &seeds[(k * 7 + w) % (seeds.len() / WRITERS) * WRITERS + w];
                vec![
                    format!(
                        "INSERT INTO ledger (k, delta) VALUES ({}, {k})",
                        kind.lit(s)
                    ),
                    format!(
                        "UPDATE accounts SET balance = balance + {k} WHERE k = {}",
                        kind.lit(s)
                    ),
                ]
            }
        };
        let start = Instant::now();
        mirror(&mut p, &mut r, &stmts, &mut out).await;
        out.slowest = out.slowest.max(start.elapsed());
    }
    out
}

/// Point and scatter reads until stopped: the failures (errors, or a seed
/// row not found).
async fn reader(
    kind: Kind,
    proxy: u16,
    r: usize,
    seeds: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut c = proxy_conn(&Port(proxy), Some(kind.db())).await;
    let mut failures = Vec::new();
    let mut k = r;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let sql = if k.is_multiple_of(3) {
            "SELECT COUNT(*) FROM accounts".to_string()
        } else {
            format!(
                "SELECT COUNT(*) FROM accounts WHERE k = {}",
                kind.lit(&seeds[k % seeds.len()])
            )
        };
        match c.query_first::<i64, _>(&sql).await {
            Ok(Some(n)) if k.is_multiple_of(3) || n == 1 => {
                reads.fetch_add(1, Ordering::Relaxed);
            }
            Ok(n) => failures.push(format!("{sql}: {n:?}")),
            Err(e) => failures.push(format!("{sql}: {e}")),
        }
    }
    failures
}

/// (node, physical table) of new slot `t` (2 nodes × 2 → × 4, rows kept on
/// their node; the rendered names of slots 0–3 are old tables' names: their
/// new tables have staging names).
fn new_table(table: &str, t: usize) -> (&'static str, String) {
    let node = if t % 4 < 2 { "n1p" } else { "n2p" };
    let name = if t < 4 {
        format!("{table}_{t}_rs4")
    } else {
        format!("{table}_{t}")
    };
    (node, name)
}

async fn keys(c: &mut Conn, sql: &str) -> BTreeSet<String> {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap();
    rows.into_iter()
        .map(|r| {
            let v: mysql_async::Value = r.get(0).unwrap();
            match v {
                mysql_async::Value::Bytes(b) => String::from_utf8(b).unwrap(),
                mysql_async::Value::Int(i) => i.to_string(),
                other => format!("{other:?}"),
            }
        })
        .collect()
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The seed rows on the proxy and on `ref` (the keys returned).
async fn seed_both(kind: Kind, seed: u64, c: &mut Conn, reference: &mut Conn) -> Vec<String> {
    let db = kind.db();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seeds: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    while seeds.len() < SEED_ROWS {
        // Distinct under the collation too ('é' = 'e'): numbered.
        let k = match kind {
            Kind::Int => kind.gen(&mut rng),
            Kind::Str => format!("{}{}", kind.gen(&mut rng), seeds.len()),
        };
        if seen.insert(k.clone()) {
            seeds.push(k);
        }
    }
    for conn in [&mut *c, &mut *reference] {
        conn.query_drop(format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        conn.query_drop(format!("USE {db}")).await.unwrap();
        conn.query_drop(format!(
            "CREATE TABLE accounts (k {} PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(40), amount DOUBLE)",
            kind.column()
        ))
        .await
        .unwrap();
        conn.query_drop(format!(
            "CREATE TABLE ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, k {} NOT NULL, delta BIGINT NOT NULL, KEY (k))",
            kind.column()
        ))
        .await
        .unwrap();
        let values: Vec<String> = seeds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                format!(
                    "({}, 100, 'seed ''{i}'' é\\\\', {})",
                    kind.lit(k),
                    i as f64 / 3.0
                )
            })
            .collect();
        conn.query_drop(format!("INSERT INTO accounts VALUES {}", values.join(",")))
            .await
            .unwrap();
    }
    // Ledger ids differ between the proxy's shards and ref: rows compared
    // by (k, delta).
    for (i, k) in seeds.iter().enumerate().take(200) {
        let sql = format!(
            "INSERT INTO ledger (k, delta) VALUES ({}, {i})",
            kind.lit(k)
        );
        c.query_drop(&sql).await.unwrap();
        reference.query_drop(&sql).await.unwrap();
    }
    seeds
}

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

async fn run_case(kind: Kind) {
    let _serial = SERIAL.lock().await;
    let seed = moving::seed();
    eprintln!("{kind:?}: seed {seed} (SHARDCAT_TEST_SEED={seed} replays it)");
    let db = kind.db();
    let topo = Arc::new(Topology::from_env());
    reset(&topo, db).await;
    let proxy = ProxyProcess::start_with(&topo, options(kind));
    let config = proxy.config_path.clone();
    let mut c = proxy_conn(&proxy, None).await;
    let mut reference = direct_conn(&topo, "ref", None).await;
    let seeds = seed_both(kind, seed, &mut c, &mut reference).await;
    plan_and_refusals(&config);
    let seeds = Arc::new(seeds);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop.clone());
    let reads = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                kind,
                proxy.port,
                topo.clone(),
                w,
                seeds.clone(),
                seed,
                stop.clone(),
            ))
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            tokio::spawn(reader(
                kind,
                proxy.port,
                r,
                seeds.clone(),
                stop.clone(),
                reads.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    interrupt(kind, &topo, &config).await;
    let started = Instant::now();
    let (ok, text) = resplit(&config, &[]).await;
    let took = started.elapsed();
    assert!(
        ok,
        "resplit failed:\n{text}\nproxy log:\n{}",
        util::tail(&proxy.log())
    );
    let pause_ms: u64 = text
        .lines()
        .find_map(|l| l.split("write pause ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause reported:\n{text}"));
    let steps = text
        .lines()
        .find_map(|l| l.strip_prefix("pause (ms): "))
        .unwrap_or("-")
        .to_owned();
    let replayed: Vec<&str> = text.lines().filter(|l| l.contains("caught up")).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut out = Outcome::default();
    for w in writers {
        let r = w.await.unwrap();
        out.acknowledged += r.acknowledged;
        out.failures.extend(r.failures);
        out.deadlocks_retried += r.deadlocks_retried;
        out.slowest = out.slowest.max(r.slowest);
    }
    let mut read_failures = Vec::new();
    for r in readers {
        read_failures.extend(r.await.unwrap());
    }
    eprintln!(
        "resplit {kind:?} 2 → 4 tables per node: {} ms (last run), write pause {pause_ms} ms ({steps}), \
         slowest write {} ms, {} writes acknowledged, {} failed, {} deadlocks retried, {} reads, \
         {} failed; {replayed:?}",
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

    check_layout(kind, &topo, &config, &mut c, &mut reference).await;
    drop(c);
    reset(&topo, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn integer_keys_two_tables_per_node_become_four_resumed_after_a_crash() {
    run_case(Kind::Int).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn string_keys_two_tables_per_node_become_four_after_an_abort() {
    run_case(Kind::Str).await;
}
