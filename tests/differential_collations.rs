//! Differential collation matrix: the same rows in the reference server
//! (`ref`, one server) and, through shardcat, hashed over both nodes, under
//! every collation variant of `common/coll_data.rs` (table default,
//! column-level, `ORDER BY … COLLATE`) and with typed sort keys (ENUM,
//! SET, BIT, FLOAT/DOUBLE with -0, DECIMAL, temporal under a non-UTC
//! `time_zone`, YEAR, BINARY/VARBINARY, unsigned BIGINT). ORDER BY (ASC/
//! DESC, LIMIT/OFFSET), GROUP BY with COUNT/MIN/MAX, DISTINCT and
//! COUNT(DISTINCT) must answer exactly what the reference answers; ENUM/SET
//! keys (by member position) also through aliases, qualifiers, positions
//! and expressions, as text and as prepared statements; UNION [ALL|
//! DISTINCT] dedupe and ORDER BY over branches on shared or different
//! shards, with tableless and mixed-collation branches.
//!
//! Where SQL leaves a value open (a GROUP BY/DISTINCT/MIN/MAX value may
//! be any member of its collation class) the values are compared by the
//! reference server's own weights. A clear refusal counts as *refused*;
//! anything else that differs is *wrong* and fails the test.
//!
//! Owns: running the matrix and tallying it per family. Must not: define
//! the schema or queries (see `common/coll_data.rs`).
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=/tmp/topo/topology.env cargo test --test differential_collations -- --nocapture
//! SHARDCAT_COLL_ROWS=2000 … (long mode; default 240 rows per table)
//! ```

#[path = "common/coll_data.rs"]
mod coll_data;
#[path = "common/coll_subqueries.rs"]
mod coll_subqueries;
mod common;
#[path = "common/diff_compare.rs"]
mod diff_compare;
#[path = "common/diff_data.rs"]
mod diff_data;
#[path = "common/diff_queries.rs"]
mod diff_queries;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use coll_data::{Check, CollQuery, Open, DB};
use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use diff_compare::{is_clear_refusal, run, run_prepared, show_rows, Answer, Val};

const TIMEOUT: Duration = Duration::from_secs(30);
const SESSION: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci, time_zone = '+05:30'";

async fn exec(c: &mut Conn, who: &str, sql: &str) {
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{who}: {sql}: {e}"));
}

/// Canonical values from the reference server's weights, cached.
#[derive(Default)]
struct Canon {
    cache: HashMap<(String, Vec<u8>), Vec<u8>>,
}

impl Canon {
    async fn value(&mut self, r: &mut Conn, open: &Option<Open>, v: &Val) -> Val {
        let (Some(open), Some(v)) = (open, v) else {
            return v.clone();
        };
        match open {
            Open::Float => {
                let s = String::from_utf8_lossy(v);
                Some(if s == "-0" { b"0".to_vec() } else { v.clone() })
            }
            Open::Collation(cs, coll) => {
                let key = (coll.clone(), v.clone());
                if let Some(w) = self.cache.get(&key) {
                    return Some(w.clone());
                }
                let pad = if coll.contains("nopad") {
                    ""
                } else {
                    " AS CHAR(64)"
                };
                let sql = format!(
                    "SELECT HEX(WEIGHT_STRING(CONVERT(CONVERT(? USING utf8mb4) USING {cs}) COLLATE {coll}{pad}))"
                );
                let w: Option<String> = r
                    .exec_first(sql.as_str(), (v.clone(),))
                    .await
                    .unwrap_or_else(|e| panic!("weight of {v:?}: {e}"));
                let w = w.unwrap_or_default().into_bytes();
                self.cache.insert(key, w.clone());
                Some(w)
            }
        }
    }

    async fn rows(&mut self, r: &mut Conn, q: &CollQuery, rows: &[Vec<Val>]) -> Vec<Vec<Val>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut c = Vec::with_capacity(row.len());
            for (i, v) in row.iter().enumerate() {
                let open = q.open.get(i).cloned().flatten();
                c.push(self.value(r, &open, v).await);
            }
            out.push(c);
        }
        out
    }
}

enum Verdict {
    Pass,
    Refused(String),
    Wrong(String),
}

async fn judge(q: &CollQuery, p: &Answer, r: &Answer, canon: &mut Canon, rc: &mut Conn) -> Verdict {
    let (p, r) = match (p, r) {
        (Answer::Rows(p), Answer::Rows(r)) => (p, r),
        (Answer::Error(c, _, m), Answer::Rows(_)) if is_clear_refusal(*c, m) => {
            return Verdict::Refused(m.clone())
        }
        // The server refuses it too (e.g. an illegal mix of collations).
        (Answer::Error(a, sa, _), Answer::Error(b, sb, _)) if a == b && sa == sb => {
            return Verdict::Pass
        }
        (a, b) => {
            return Verdict::Wrong(format!("shardcat {} | reference {}", a.short(), b.short()))
        }
    };
    if p.cols.len() != r.cols.len() {
        return Verdict::Wrong(format!("{} columns vs {}", p.cols.len(), r.cols.len()));
    }
    for (a, b) in p.cols.iter().zip(&r.cols) {
        if a.name != b.name || a.column_type != b.column_type {
            return Verdict::Wrong(format!(
                "column {}:{:?} vs reference {}:{:?}",
                a.name, a.column_type, b.name, b.column_type
            ));
        }
    }
    let pc = canon.rows(rc, q, &p.rows).await;
    let rcn = canon.rows(rc, q, &r.rows).await;
    let differs = |a: &[Vec<Val>], b: &[Vec<Val>]| a != b;
    let bad = match q.check {
        Check::Total => differs(&pc, &rcn),
        Check::Keys(n) => {
            let pk: Vec<Vec<Val>> = pc.iter().map(|x| x[..n].to_vec()).collect();
            let rk: Vec<Vec<Val>> = rcn.iter().map(|x| x[..n].to_vec()).collect();
            let (mut ps, mut rs) = (pc.clone(), rcn.clone());
            ps.sort();
            rs.sort();
            differs(&pk, &rk) || differs(&ps, &rs)
        }
        Check::Multiset => {
            let (mut ps, mut rs) = (pc.clone(), rcn.clone());
            ps.sort();
            rs.sort();
            differs(&ps, &rs)
        }
    };
    if bad {
        let at = pc
            .iter()
            .zip(&rcn)
            .position(|(a, b)| a != b)
            .unwrap_or(pc.len().min(rcn.len()));
        return Verdict::Wrong(format!(
            "{} rows vs reference {} (first difference at {at})\n  shardcat:\n{}  reference:\n{}",
            p.rows.len(),
            r.rows.len(),
            show_rows(&p.rows, at, 4),
            show_rows(&r.rows, at, 4)
        ));
    }
    Verdict::Pass
}

async fn load(topo: &Topology, proxy: &ProxyProcess, rows: usize, seed: u64) -> (Conn, Conn) {
    let mut r = util::direct_conn(topo, "ref", None).await;
    let mut p = util::proxy_conn(proxy, None).await;
    for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
        exec(c, who, &format!("DROP DATABASE IF EXISTS {DB}")).await;
        exec(
            c,
            who,
            &format!("CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
        )
        .await;
    }
    p.disconnect().await.ok();
    let mut p = util::proxy_conn(proxy, Some(DB)).await;
    exec(&mut r, "ref", &format!("USE {DB}")).await;
    for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
        exec(c, who, SESSION).await;
        for d in coll_data::ddl() {
            exec(c, who, &d).await;
        }
        for ins in coll_data::inserts(seed, rows) {
            exec(c, who, &ins).await;
        }
    }
    util::sync_replicas(topo).await;
    (r, p)
}

/// Sort and group keys that are integer, DECIMAL or temporal columns ask
/// the shards for no weight columns (the session read the columns' types
/// with the matrix's first sorted query); string keys still do.
async fn plain_keys_carry_no_weights(p: &mut Conn) {
    let plan = |sql: &str| format!("EXPLAIN SHARDCAT {sql}");
    for (sql, weighed) in [
        ("SELECT id, d3 FROM typed ORDER BY id LIMIT 900, 10", false),
        ("SELECT dt, COUNT(*) FROM typed GROUP BY dt", false),
        ("SELECT DISTINCT u FROM typed ORDER BY u", false),
        ("SELECT id, vb FROM typed ORDER BY vb, id", true),
        ("SELECT s, id FROM s_utf8mb4_bin ORDER BY s, id", true),
    ] {
        let rows: Vec<mysql_async::Row> = p.query(plan(sql)).await.expect("explain");
        let text: String = rows
            .iter()
            .flat_map(|r| (0..r.len()).filter_map(|i| r.get_opt::<String, _>(i)?.ok()))
            .collect();
        assert_eq!(text.contains("WEIGHT_STRING"), weighed, "{sql}: {text}");
    }
}

/// A UNION whose branches compare a column under two collations is
/// refused before any part of a result is sent: the first packet of the
/// answer is the error (also when matching rows arrive before the
/// mismatch), in the text and binary protocols alike.
async fn union_collation_error_comes_before_rows(proxy: &ProxyProcess) {
    let sql =
        "SELECT e FROM typed WHERE id < 200 UNION ALL SELECT e2 FROM typed WHERE id > 5 ORDER BY 1";
    let mut c = raw::RawConn::connect(proxy.port, "app", "app", Some(DB), raw::DEFAULT_CAPS).await;
    c.send_command(&[&[0x03u8][..], sql.as_bytes()].concat())
        .await
        .expect("send");
    match c.read_reply(false).await.expect("reply") {
        raw::Reply::Err(e) => assert_eq!(e.code, 1105, "{}", e.message),
        _ => panic!("a result was sent before the collation mismatch was found: {sql}"),
    }
    // The session goes on.
    assert!(matches!(
        c.query("SELECT COUNT(*) FROM typed").await.expect("query"),
        raw::Reply::Rows { .. }
    ));
}

#[derive(Default, Clone, Copy)]
struct Tally {
    pass: usize,
    refused: usize,
    wrong: usize,
}

#[tokio::test]
async fn differential_collations() {
    let started = Instant::now();
    let rows = std::env::var("SHARDCAT_COLL_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240usize);
    let seed = std::env::var("SHARDCAT_COLL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20260601u64);
    let verbose = std::env::var("SHARDCAT_DIFF_VERBOSE").is_ok_and(|v| v == "1");
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: coll_data::rules(),
            ..Default::default()
        },
    );
    let (mut r, mut p) = load(&topo, &proxy, rows, seed).await;
    let mut canon = Canon::default();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut wrongs = Vec::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    // Prepared first (binary protocol, on a router that has not seen the
    // tables' columns since the DDL), then every query as text.
    let prepared = coll_data::all_queries()
        .into_iter()
        .filter(|q| q.family.starts_with("enum") || q.family.starts_with("type e"))
        .map(|mut q| {
            q.family = format!("prepared {}", q.family);
            (q, true)
        });
    let text = coll_data::all_queries().into_iter().map(|q| (q, false));
    for (q, binary) in prepared.chain(text) {
        let (a, b) = if binary {
            (
                run_prepared(&mut p, &q.sql, TIMEOUT).await,
                run_prepared(&mut r, &q.sql, TIMEOUT).await,
            )
        } else {
            (
                run(&mut p, &q.sql, TIMEOUT).await,
                run(&mut r, &q.sql, TIMEOUT).await,
            )
        };
        let t = tally.entry(q.family.clone()).or_default();
        match judge(&q, &a, &b, &mut canon, &mut r).await {
            Verdict::Pass => t.pass += 1,
            Verdict::Refused(m) => {
                t.refused += 1;
                *refusals.entry(m).or_default() += 1;
            }
            Verdict::Wrong(why) => {
                t.wrong += 1;
                if verbose || wrongs.len() < 40 {
                    wrongs.push(format!("WRONG [{}] {}\n  {why}", q.family, q.sql));
                }
            }
        }
    }
    let mut total = Tally::default();
    println!("family                                   pass refused wrong");
    for (f, t) in &tally {
        println!("{f:<40} {:>4} {:>7} {:>5}", t.pass, t.refused, t.wrong);
        total.pass += t.pass;
        total.refused += t.refused;
        total.wrong += t.wrong;
    }
    println!(
        "TOTAL {} queries: {} pass, {} refused, {} wrong ({rows} rows per table, {:?})",
        total.pass + total.refused + total.wrong,
        total.pass,
        total.refused,
        total.wrong,
        started.elapsed()
    );
    for (m, n) in &refusals {
        println!("refused {n}x: {m}");
    }
    for w in &wrongs {
        println!("{w}");
    }
    union_collation_error_comes_before_rows(&proxy).await;
    plain_keys_carry_no_weights(&mut p).await;
    let mut c = util::direct_conn(&topo, "ref", None).await;
    // SHARDCAT_COLL_KEEP=1 leaves the data for a look afterwards.
    if std::env::var("SHARDCAT_COLL_KEEP").is_err() {
        c.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
            .await
            .ok();
    }
    assert_eq!(total.wrong, 0, "wrong answers through shardcat");
}
