//! What the resplit tests share (`shard_resplit`): a `hash_mod` table
//! `accounts` on n1, n2 with 2 tables per node and a table bound to it,
//! with integer or string keys ([`Kind`]); the seed rows on the proxy and
//! on `ref`; generated writers (inserts, key-changing updates, deletes,
//! two-statement transactions, each acknowledged write mirrored to `ref`)
//! and readers ([`Load`]); where each new slot's table lives after 2 → 4.
//!
//! Include with `#[path = "common/resplitting.rs"] mod resplitting;` next
//! to `mod common;`, `moving` and `util`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::proxy::{ProxyOptions, ProxyProcess};
use crate::common::Topology;
use crate::moving::{cli, Mirror, Outcome, Port, StopOnDrop};
use crate::util::{direct_conn, proxy_conn};
use mysql_async::prelude::*;
use mysql_async::Conn;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shardcat::placement::{Algorithm, Collation, HashFunction, ShardKey};

pub(crate) const SEED_ROWS: usize = 600;
pub(crate) const WRITERS: usize = 3;
pub(crate) const NEW_SLOTS: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Int,
    Str,
}

impl Kind {
    pub(crate) fn db(self) -> &'static str {
        match self {
            Kind::Int => "resplit_int",
            Kind::Str => "resplit_str",
        }
    }
    pub(crate) fn column(self) -> &'static str {
        match self {
            Kind::Int => "BIGINT",
            Kind::Str => "VARCHAR(60)",
        }
    }
    /// A key as an SQL literal.
    pub(crate) fn lit(self, k: &str) -> String {
        match self {
            Kind::Int => k.to_owned(),
            Kind::Str => format!("'{}'", k.replace('\'', "''")),
        }
    }
    /// A fresh key (distinct under the collation: lower case).
    pub(crate) fn gen(self, rng: &mut StdRng) -> String {
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
    pub(crate) fn slot(self, k: &str) -> usize {
        self.slot_in(k, NEW_SLOTS)
    }
    /// The slot of `k` among `slots`.
    pub(crate) fn slot_in(self, k: &str, slots: usize) -> usize {
        let key = match self {
            Kind::Int => ShardKey::Int(k.parse().unwrap()),
            Kind::Str => ShardKey::Str(k.to_owned()),
        };
        Algorithm::HashMod {
            hash: HashFunction::Xxh3,
        }
        .slot_for_key(&key, slots, &Collation::default())
        .unwrap()
    }
}

pub(crate) fn options(kind: Kind) -> ProxyOptions {
    let db = kind.db();
    let key_type = match kind {
        Kind::Int => "int",
        Kind::Str => "string",
    };
    // The move tests' layout keyed by `k`, and a `jump` table (refused).
    let rules = crate::moving::keyed_accounts_rules(db, "k", key_type, "k");
    ProxyOptions {
        extra: format!(
            r#"{rules}
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

pub(crate) fn args<'a>(tpn: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
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

pub(crate) async fn resplit(
    config: &std::path::Path,
    extra: &'static [&'static str],
) -> (bool, String) {
    let cfg = config.to_path_buf();
    tokio::task::spawn_blocking(move || cli(&args("4", extra), &cfg))
        .await
        .unwrap()
}

pub(crate) async fn reset(topo: &Topology, db: &str) {
    for node in ["n1p", "n2p", "ref"] {
        let mut c = direct_conn(topo, node, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
}

/// Generated writes: inserts, ledger transactions, updates of the writer's
/// seed rows, key-changing updates and deletes of its own rows.
pub(crate) async fn writer(
    kind: Kind,
    proxy: u16,
    topo: Arc<Topology>,
    w: usize,
    seeds: Arc<Vec<String>>,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let mut m = Mirror::open(proxy, &topo, kind.db()).await;
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
        m.write(&stmts, &mut out).await;
    }
    out
}

/// Point and scatter reads until stopped: the failures (errors, or a seed
/// row not found).
pub(crate) async fn reader(
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
pub(crate) fn new_table(table: &str, t: usize) -> (&'static str, String) {
    let node = if t % 4 < 2 { "n1p" } else { "n2p" };
    let name = if t < 4 {
        format!("{table}_{t}_rs4")
    } else {
        format!("{table}_{t}")
    };
    (node, name)
}

pub(crate) async fn keys(c: &mut Conn, sql: &str) -> BTreeSet<String> {
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

pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The seed rows on the proxy and on `ref` (the keys returned).
pub(crate) async fn seed_both(
    kind: Kind,
    seed: u64,
    c: &mut Conn,
    reference: &mut Conn,
) -> Vec<String> {
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

/// A topology under load: the proxy, the seeded tables, writers and
/// readers running.
pub(crate) struct Load {
    pub(crate) topo: Arc<Topology>,
    pub(crate) proxy: ProxyProcess,
    pub(crate) config: std::path::PathBuf,
    pub(crate) c: Conn,
    pub(crate) reference: Conn,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) _stop_on_panic: StopOnDrop,
    pub(crate) writers: Vec<tokio::task::JoinHandle<Outcome>>,
    pub(crate) readers: Vec<tokio::task::JoinHandle<Vec<String>>>,
    pub(crate) reads: Arc<AtomicUsize>,
    pub(crate) kind: Kind,
    pub(crate) seeds: Arc<Vec<String>>,
}

/// Fresh databases, `extra` more rows in `accounts` (through the proxy and
/// on `ref`), the writers and readers started.
pub(crate) async fn start_load(kind: Kind, seed: u64, extra: usize) -> Load {
    start_load_with(kind, seed, extra, &[]).await
}

/// As [`start_load`], `ddl` run through the proxy before the writers
/// start (DDL under the writers makes the proxy's `information_schema`
/// lookups of a key move miss the table being altered).
pub(crate) async fn start_load_with(kind: Kind, seed: u64, extra: usize, ddl: &[&str]) -> Load {
    let db = kind.db();
    let topo = Arc::new(Topology::from_env());
    reset(&topo, db).await;
    let proxy = ProxyProcess::start_with(&topo, options(kind));
    let config = proxy.config_path.clone();
    let mut c = proxy_conn(&proxy, None).await;
    let mut reference = direct_conn(&topo, "ref", None).await;
    let seeds = seed_both(kind, seed, &mut c, &mut reference).await;
    // Keys above the writers' (integer keys only).
    assert!(
        extra == 0 || kind == Kind::Int,
        "extra rows have integer keys"
    );
    for start in (0..extra).step_by(1000) {
        let values: Vec<String> = (start..extra.min(start + 1000))
            .map(|i| format!("({}, {i}, NULL, {i}.5)", 5_000_000_000i64 + i as i64))
            .collect();
        let sql = format!("INSERT INTO accounts VALUES {}", values.join(","));
        c.query_drop(&sql).await.unwrap();
        reference.query_drop(&sql).await.unwrap();
    }
    for sql in ddl {
        c.query_drop(*sql).await.unwrap();
    }
    let seeds = Arc::new(seeds);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let writers = (0..WRITERS)
        .map(|w| {
            let (topo, seeds, stop) = (topo.clone(), seeds.clone(), stop.clone());
            tokio::spawn(writer(kind, proxy.port, topo, w, seeds, seed, stop))
        })
        .collect();
    let readers = (0..2)
        .map(|r| {
            let (seeds, stop, reads) = (seeds.clone(), stop.clone(), reads.clone());
            tokio::spawn(reader(kind, proxy.port, r, seeds, stop, reads))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    Load {
        topo,
        proxy,
        config,
        c,
        reference,
        _stop_on_panic: StopOnDrop(stop.clone()),
        stop,
        writers,
        readers,
        reads,
        kind,
        seeds,
    }
}

impl Load {
    /// Writers again (after [`Load::finish`]), with keys of their own
    /// (`seed`), until `stop`.
    pub(crate) fn writers_again(
        &self,
        seed: u64,
        stop: &Arc<AtomicBool>,
    ) -> Vec<tokio::task::JoinHandle<Outcome>> {
        (0..WRITERS)
            .map(|w| {
                let (topo, seeds, stop) = (self.topo.clone(), self.seeds.clone(), stop.clone());
                tokio::spawn(writer(
                    self.kind,
                    self.proxy.port,
                    topo,
                    w,
                    seeds,
                    seed,
                    stop,
                ))
            })
            .collect()
    }

    /// Stops the load: the writers' outcome and the read failures, with
    /// the failed writes and reads asserted away.
    pub(crate) async fn finish(&mut self, what: &str) -> (Outcome, usize) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.stop.store(true, Ordering::Relaxed);
        let out = Outcome::gather(std::mem::take(&mut self.writers)).await;
        let mut read_failures = Vec::new();
        for r in std::mem::take(&mut self.readers) {
            read_failures.extend(r.await.unwrap());
        }
        assert!(out.failures.is_empty(), "{what}: {:?}", out.failures);
        assert!(read_failures.is_empty(), "{what}: {read_failures:?}");
        assert!(
            out.acknowledged > 20,
            "{what}: the load ran: {}",
            out.acknowledged
        );
        (out, self.reads.load(Ordering::Relaxed))
    }
}
