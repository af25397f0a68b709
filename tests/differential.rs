//! Differential test: one e-commerce schema, loaded into a single reference
//! MariaDB (`ref`) and, through shardcat, into the shards (users hashed by
//! id over 2 nodes x 2 tables, orders and order_items bound to users by
//! user_id, events split by month, regions broadcast, settings on n2).
//! Every generated query runs on both; the answers must be identical
//! (values, types, column names; row order where the ORDER BY is total).
//!
//! Every query also runs inside a transaction (batches of 8 on a second
//! connection): in a session pinned to one connection per node, a read of
//! users' two physical tables per node is one `UNION ALL` per node
//! (`router::shard::node_union`), and its answer must be the reference's
//! too; the test checks that some were (the proxy's
//! `shardcat_node_union_reads` metric).
//!
//! A query shardcat refuses with a clear error counts as *refused* (fine);
//! a different answer, or an error where the reference answers, is
//! *wrong* (the test fails).
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test differential -- --nocapture
//! SHARDCAT_DIFF_QUERIES=3000 ... (long mode)
//! SHARDCAT_DIFF_SQL="SELECT ..." ... (one statement, both answers with metadata)
//! ```
//!
//! Knobs (environment):
//! - `SHARDCAT_DIFF_QUERIES` number of queries (default 320; e.g. 3000 for
//!   the long mode);
//! - `SHARDCAT_DIFF_SEED` seed of data and queries (default 20260101);
//! - `SHARDCAT_DIFF_SCALE` multiplies the row counts (default 1);
//! - `SHARDCAT_DIFF_FAMILY` only these families (comma-separated names);
//! - `SHARDCAT_DIFF_SQL` run only this statement and print both answers;
//! - `SHARDCAT_DIFF_REPORT` also write the report to this file;
//! - `SHARDCAT_DIFF_VERBOSE=1` print every query and its verdict.

mod common;
#[path = "common/diff_compare.rs"]
mod diff_compare;
#[path = "common/diff_data.rs"]
mod diff_data;
#[path = "common/diff_queries.rs"]
mod diff_queries;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use diff_compare::{compare, run, Answer, Notes, Verdict, Weights};
use diff_data::{Data, DB, DDL, RULES};
use diff_queries::{Family, GenQuery, Generator, OrderCheck, FAMILIES};

const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

async fn exec(conn: &mut Conn, who: &str, sql: &str) {
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{who}: {sql}: {e}"));
}

#[derive(Default, Clone, Copy)]
struct Tally {
    total: usize,
    pass: usize,
    refused: usize,
    wrong: usize,
    both_error: usize,
}

/// Loads the schema and the data on the reference and through the proxy.
async fn load(
    topo: &Topology,
    proxy: &ProxyProcess,
    data: &Data,
    findings: &mut Vec<String>,
) -> (Conn, Conn) {
    // Reference: one server, logical tables.
    let mut r = util::direct_conn(topo, "ref", None).await;
    exec(&mut r, "ref", &format!("DROP DATABASE IF EXISTS {DB}")).await;
    exec(
        &mut r,
        "ref",
        &format!("CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
    )
    .await;
    exec(&mut r, "ref", &format!("USE {DB}")).await;
    // Through shardcat: CREATE DATABASE reaches every node, CREATE TABLE
    // every physical table.
    let mut p = util::proxy_conn(proxy, None).await;
    exec(&mut p, "proxy", &format!("DROP DATABASE IF EXISTS {DB}")).await;
    exec(
        &mut p,
        "proxy",
        &format!("CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
    )
    .await;
    p.disconnect().await.ok();
    let mut p = util::proxy_conn(proxy, Some(DB)).await;
    for c in [&mut r, &mut p] {
        c.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
            .await
            .expect("SET NAMES");
    }
    for ddl in DDL {
        exec(&mut r, "ref", ddl).await;
        exec(&mut p, "proxy", ddl).await;
    }
    for ins in data.inserts(60) {
        exec(&mut r, "ref", &ins).await;
        let ref_rows = r.affected_rows();
        exec(&mut p, "proxy", &ins).await;
        if p.affected_rows() != ref_rows {
            // Not a read-merge question: reported, the row counts below
            // decide whether the data is complete.
            findings.push(format!(
                "affected rows {} through shardcat vs {} on the reference for {}…",
                p.affected_rows(),
                ref_rows,
                ins.chars().take(60).collect::<String>()
            ));
        }
    }
    // Reads go to replicas: let them catch up.
    util::sync_replicas(topo).await;
    for t in [
        "users",
        "orders",
        "order_items",
        "events",
        "regions",
        "settings",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {t}");
        let a: Option<i64> = r.query_first(&sql).await.unwrap();
        let b: Option<i64> = p
            .query_first(&sql)
            .await
            .unwrap_or_else(|e| panic!("proxy: {sql}: {e}"));
        assert_eq!(b, a, "row count of {t} through shardcat vs reference");
    }
    (r, p)
}

fn families_filter() -> Option<Vec<String>> {
    std::env::var("SHARDCAT_DIFF_FAMILY").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Queries per transaction of the in-transaction axis.
const TX_BATCH: usize = 8;

/// Sets (or resets) the session's sql_select_limit.
async fn set_select_limit(c: &mut Conn, limit: Option<u64>) {
    let sql = match limit {
        Some(l) => format!("SET SESSION sql_select_limit = {l}"),
        None => "SET SESSION sql_select_limit = DEFAULT".to_owned(),
    };
    c.query_drop(sql).await.unwrap();
}

/// The proxy's count of reads sent as one UNION ALL per node (its
/// metrics, on admin port `http`).
fn node_union_reads(http: u16) -> u64 {
    let (_, body) = util::http_get(http, "/metrics");
    util::metric_sum(&body, "shardcat_node_union_reads", "") as u64
}

#[tokio::test]
async fn differential_shop() {
    let started = Instant::now();
    let n_queries = env_num("SHARDCAT_DIFF_QUERIES", 320) as usize;
    let seed = env_num("SHARDCAT_DIFF_SEED", 20260101);
    let scale = env_num("SHARDCAT_DIFF_SCALE", 1).max(1) as usize;
    let verbose = std::env::var("SHARDCAT_DIFF_VERBOSE").is_ok_and(|v| v == "1");

    let topo = Topology::from_env();
    let http = common::proxy::free_port();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!("{RULES}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n"),
            routing: "node_unions = true".into(),
            ..Default::default()
        },
    );
    let data = Data::generate(seed, scale);
    let mut findings = Vec::new();
    let (mut reference, mut p) = load(&topo, &proxy, &data, &mut findings).await;
    let loaded = started.elapsed();

    // One statement only (debugging aid).
    if let Ok(sql) = std::env::var("SHARDCAT_DIFF_SQL") {
        let a = run(&mut p, &sql, QUERY_TIMEOUT).await;
        let b = run(&mut reference, &sql, QUERY_TIMEOUT).await;
        for (who, ans) in [("shardcat", &a), ("reference", &b)] {
            println!("--- {who}: {}", ans.short());
            if let Answer::Rows(rs) = ans {
                for c in &rs.cols {
                    println!(
                        "    col {:?} {:?} dec={} len={} cs={} table={:?}/{:?} flags={:?}",
                        c.name,
                        c.column_type,
                        c.decimals,
                        c.length,
                        c.charset,
                        c.table,
                        c.org_table,
                        c.flags
                    );
                }
                print!("{}", diff_compare::show_rows(&rs.rows, 0, 200));
            }
        }
        return;
    }

    let only = families_filter();
    let mut gen = Generator::new(seed);
    let queries: Vec<GenQuery> = gen
        .queries(n_queries)
        .into_iter()
        .filter(|q| {
            only.as_ref()
                .is_none_or(|f| f.iter().any(|n| n == q.family.name()))
        })
        .collect();

    let mut tallies: BTreeMap<Family, Tally> = BTreeMap::new();
    let mut wrongs: Vec<(Family, String, String)> = Vec::new();
    let mut refusals: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut both_errors: Vec<(String, String)> = Vec::new();
    let mut notes = Notes::default();
    let mut weights = Weights::new();
    let mut limit_queries = 0usize;
    let mut wrong_kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut tx_tally = Tally::default();
    let mut pt = util::proxy_conn(&proxy, Some(DB)).await;
    pt.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
        .await
        .expect("SET NAMES");
    let mut in_tx = false;
    let unions_before = node_union_reads(http);

    for (n, q) in queries.iter().enumerate() {
        if q.sql.contains(" LIMIT ") {
            limit_queries += 1;
            assert_eq!(
                q.order,
                OrderCheck::Total,
                "generator bug: LIMIT without a total ORDER BY: {}",
                q.sql
            );
        }
        // Axis: the session's sql_select_limit, on every third query with a
        // total order and no LIMIT of its own (which rows a limit keeps is
        // otherwise unspecified).
        let select_limit =
            (n % 3 == 2 && q.order == OrderCheck::Total && !q.sql.contains(" LIMIT "))
                .then(|| [0u64, 1, 2, 5][(n / 3) % 4]);
        if let Some(limit) = select_limit {
            for c in [&mut p, &mut reference] {
                c.query_drop(format!("SET SESSION sql_select_limit = {limit}"))
                    .await
                    .unwrap();
            }
        }
        let pa = run(&mut p, &q.sql, QUERY_TIMEOUT).await;
        if matches!(pa, Answer::Broken(_)) {
            // The connection is unusable: a fresh one for the next query.
            p = util::proxy_conn(&proxy, Some(DB)).await;
            p.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
                .await
                .ok();
        }
        // The same query inside a transaction (batches of TX_BATCH queries
        // on a second connection): the pinned connections' path.
        if !in_tx {
            set_select_limit(&mut pt, select_limit).await;
            pt.query_drop("BEGIN").await.expect("BEGIN");
            in_tx = true;
        } else {
            set_select_limit(&mut pt, select_limit).await;
        }
        let ta = run(&mut pt, &q.sql, QUERY_TIMEOUT).await;
        if matches!(ta, Answer::Broken(_)) {
            pt = util::proxy_conn(&proxy, Some(DB)).await;
            pt.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
                .await
                .ok();
            in_tx = false;
        } else if n % TX_BATCH == TX_BATCH - 1 {
            pt.query_drop("COMMIT").await.expect("COMMIT");
            in_tx = false;
        }
        let ra = run(&mut reference, &q.sql, QUERY_TIMEOUT).await;
        let shown = match select_limit {
            Some(limit) => format!("/* sql_select_limit={limit} */ {}", q.sql),
            None => q.sql.clone(),
        };
        if select_limit.is_some() {
            for c in [&mut p, &mut reference] {
                c.query_drop("SET SESSION sql_select_limit = DEFAULT")
                    .await
                    .unwrap();
            }
            set_select_limit(&mut pt, None).await;
        }
        let tx_verdict = compare(
            &ta,
            &ra,
            &q.order,
            q.representative,
            &mut weights,
            &mut reference,
            &mut notes,
        )
        .await;
        tx_tally.total += 1;
        match &tx_verdict {
            Verdict::Pass => tx_tally.pass += 1,
            Verdict::Refused(_) => tx_tally.refused += 1,
            Verdict::BothError(_) => tx_tally.both_error += 1,
            Verdict::Wrong(kind, m) => {
                tx_tally.wrong += 1;
                *wrong_kinds
                    .entry(format!("{kind} (in a transaction)"))
                    .or_default() += 1;
                wrongs.push((
                    q.family,
                    format!("/* in a transaction */ {shown}"),
                    format!("[{kind}] {m}"),
                ));
            }
        }
        let verdict = compare(
            &pa,
            &ra,
            &q.order,
            q.representative,
            &mut weights,
            &mut reference,
            &mut notes,
        )
        .await;
        let t = tallies.entry(q.family).or_default();
        t.total += 1;
        let label = match &verdict {
            Verdict::Pass => {
                t.pass += 1;
                "pass"
            }
            Verdict::Refused(m) => {
                t.refused += 1;
                refusals.entry(m.clone()).or_default().push(format!(
                    "[{}] {}",
                    q.family.name(),
                    shown
                ));
                "refused"
            }
            Verdict::BothError(m) => {
                t.both_error += 1;
                both_errors.push((shown.clone(), m.clone()));
                "both-error"
            }
            Verdict::Wrong(kind, m) => {
                t.wrong += 1;
                *wrong_kinds.entry(kind.clone()).or_default() += 1;
                wrongs.push((q.family, shown.clone(), format!("[{kind}] {m}")));
                "WRONG"
            }
        };
        if verbose {
            println!("#{n} [{}] {label}: {shown}", q.family.name());
        }
    }

    if in_tx {
        pt.query_drop("COMMIT").await.expect("COMMIT");
    }
    pt.disconnect().await.ok();
    let unions = node_union_reads(http).saturating_sub(unions_before);

    // ---- report
    let mut rep = String::new();
    let _ = writeln!(
        rep,
        "differential test: seed {seed}, {} queries ({} with LIMIT, all with a total ORDER BY), data {}",
        queries.len(),
        limit_queries,
        data.summary()
    );
    let _ = writeln!(
        rep,
        "\n{:<16} {:>6} {:>6} {:>8} {:>6} {:>6} {:>8}",
        "family", "total", "pass", "refused", "wrong", "both", "pass%"
    );
    let mut sum = Tally::default();
    for f in FAMILIES {
        let Some(t) = tallies.get(f) else { continue };
        let pct = 100.0 * t.pass as f64 / t.total.max(1) as f64;
        let _ = writeln!(
            rep,
            "{:<16} {:>6} {:>6} {:>8} {:>6} {:>6} {:>7.1}%",
            f.name(),
            t.total,
            t.pass,
            t.refused,
            t.wrong,
            t.both_error,
            pct
        );
        sum.total += t.total;
        sum.pass += t.pass;
        sum.refused += t.refused;
        sum.wrong += t.wrong;
        sum.both_error += t.both_error;
    }
    let _ = writeln!(
        rep,
        "{:<16} {:>6} {:>6} {:>8} {:>6} {:>6} {:>7.1}%",
        "ALL in a tx",
        tx_tally.total,
        tx_tally.pass,
        tx_tally.refused,
        tx_tally.wrong,
        tx_tally.both_error,
        100.0 * tx_tally.pass as f64 / tx_tally.total.max(1) as f64
    );
    let _ = writeln!(
        rep,
        "reads in a transaction sent as one UNION ALL per node: {unions}",
    );
    let _ = writeln!(
        rep,
        "{:<16} {:>6} {:>6} {:>8} {:>6} {:>6} {:>7.1}%",
        "ALL",
        sum.total,
        sum.pass,
        sum.refused,
        sum.wrong,
        sum.both_error,
        100.0 * sum.pass as f64 / sum.total.max(1) as f64
    );
    if !wrong_kinds.is_empty() {
        let _ = writeln!(rep, "\nwrong answers by kind of difference:");
        for (k, n) in &wrong_kinds {
            let _ = writeln!(rep, "  {n:>4}  {k}");
        }
    }
    if !wrongs.is_empty() {
        let _ = writeln!(rep, "\nWRONG ANSWERS ({}):", wrongs.len());
        for (i, (f, sql, why)) in wrongs.iter().enumerate() {
            let _ = writeln!(rep, "\n  #{} [{}] {sql}\n    {why}", i + 1, f.name());
        }
    }
    if !refusals.is_empty() {
        let _ = writeln!(rep, "\nREFUSED (by message):");
        for (m, qs) in &refusals {
            let _ = writeln!(rep, "  {}x {m}", qs.len());
            for q in qs.iter().take(2) {
                let _ = writeln!(rep, "      e.g. {q}");
            }
        }
    }
    if !both_errors.is_empty() {
        let _ = writeln!(rep, "\nBOTH FAILED (generator noise):");
        for (sql, m) in both_errors.iter().take(10) {
            let _ = writeln!(rep, "  {sql}\n    {m}");
        }
    }
    if !findings.is_empty() {
        let _ = writeln!(rep, "\nLOAD FINDINGS (not failures):");
        for f in &findings {
            let _ = writeln!(rep, "  {f}");
        }
    }
    if !notes.counts.is_empty() {
        let _ = writeln!(rep, "\nMETADATA NOTES (not failures):");
        for (k, n) in &notes.counts {
            let _ = writeln!(rep, "  {k}: {n} columns");
            for e in notes.examples.get(k).into_iter().flatten() {
                let _ = writeln!(rep, "      e.g. {e}");
            }
        }
    }
    let _ = writeln!(
        rep,
        "\ntime: load {:.1}s, total {:.1}s",
        loaded.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("{rep}");
    if let Ok(path) = std::env::var("SHARDCAT_DIFF_REPORT") {
        std::fs::write(&path, &rep).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    reference.disconnect().await.ok();
    p.disconnect().await.ok();
    // users has two physical tables per node: its scattered reads in a
    // transaction take one statement per node.
    assert!(
        unions > 0 || only.is_some(),
        "no read in a transaction was sent as one UNION ALL per node"
    );
    assert!(
        wrongs.is_empty(),
        "{} wrong answers out of {} queries (see the report above)",
        wrongs.len(),
        queries.len()
    );
}
