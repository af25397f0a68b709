//! Composite rules (`user_id` hash into 4 slots × the month of
//! `created_at`) against the real topology, differentially against `ref`:
//! generated rows inserted through shardcat and into `ref`, generated
//! range queries and writes compared row for row, `EXPLAIN SHARDCAT`
//! naming exactly the physical tables the ranges can touch (a point user
//! and a date range: that user's slot for those months only; a date range
//! alone: those months on every slot), the refusals (period column
//! updated to an expression, missing or out of the rule), and `shardcat
//! tables ensure|retire` over composite tables with a faked clock.
//! `moves`: writes, LOAD DATA, key moves across slots and periods and a
//! missing period table, against `ref`.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own database.

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/diff_data.rs"]
mod diff_data;
#[path = "composite/moves.rs"]
mod moves;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::process::Command;

use common::Topology;
use custom_proxy::CustomProxy;
use diff_data::Rng;
use mysql_async::prelude::*;
use mysql_async::Conn;
use util::{direct_conn, rows_as_strings, server_error};

const DB: &str = "grow_composite";
/// Months 2026-01 … 2026-08 (the rule's horizon).
const MONTHS: u32 = 8;

const TABLE_DDL: &str =
    "CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, user_id INT NOT NULL, \
     created_at DATETIME(6) NOT NULL, v INT NOT NULL, KEY (user_id, created_at)) ENGINE=InnoDB";

fn config(topo: &Topology, port: u16, extra_period: &str) -> String {
    let rules = format!(
        r#"
[[table]]
name = "events"
schema = "{DB}"
key = "user_id"
key_type = "int"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2
[table.period]
key = "created_at"
key_type = "datetime"
unit = "month"
start = "2026-01"
horizon = {MONTHS}
{extra_period}
"#
    );
    util::two_primaries_config(topo, port, &rules)
}

/// (month 1..=8, day) of a generated day in 2026-01 … 2026-08.
fn day(rng: &mut Rng) -> (u32, u32) {
    let month = 1 + rng.below(u64::from(MONTHS)) as u32;
    (month, 1 + rng.below(u64::from(last_day(month))) as u32)
}

fn last_day(month: u32) -> u32 {
    match month {
        2 => 28,
        4 | 6 => 30,
        _ => 31,
    }
}

fn stamp(rng: &mut Rng) -> String {
    let (month, d) = day(rng);
    let time = ["00:00:00", "12:34:56.5", "23:59:59.999999", "07:00:00"][rng.below(4) as usize];
    format!("2026-{month:02}-{d:02} {time}")
}

/// The physical table of user `u` in `month`.
fn physical(u: i64, month: u32) -> String {
    format!("events_{}_2026{month:02}", u.rem_euclid(4))
}

/// A generated WHERE clause and the physical tables it may touch.
fn predicate(rng: &mut Rng) -> (String, BTreeSet<String>) {
    let u = rng.below(14) as i64 - 2;
    let u2 = rng.below(14) as i64 - 2;
    let (m1, d1) = day(rng);
    let (m2, d2) = day(rng);
    let ((m1, d1), (m2, d2)) = if (m1, d1) <= (m2, d2) {
        ((m1, d1), (m2, d2))
    } else {
        ((m2, d2), (m1, d1))
    };
    let lo = format!("2026-{m1:02}-{d1:02}");
    let hi = format!("2026-{m2:02}-{d2:02}");
    let all_users = || (0..4).collect::<Vec<i64>>();
    let months = |from: u32, to: u32| (from..=to).collect::<Vec<u32>>();
    // `created_at < first day of a month 00:00` leaves that month out.
    let before = |m: u32, d: u32| if d == 1 { m.saturating_sub(1) } else { m };
    // `created_at > last day of a month 23:59:59.999999` leaves it out.
    let after = |m: u32, d: u32| if d == last_day(m) { m + 1 } else { m };
    let (sql, users, month_list): (String, Vec<i64>, Vec<u32>) = match rng.below(7) {
        0 => (
            format!("user_id = {u} AND created_at >= '{lo}' AND created_at < '{hi}'"),
            vec![u],
            months(m1, before(m2, d2)),
        ),
        1 => (
            format!("created_at BETWEEN '{lo}' AND '{hi} 23:59:59.999999'"),
            all_users(),
            months(m1, m2),
        ),
        2 => (
            format!("user_id IN ({u}, {u2}) AND created_at >= '{lo}'"),
            vec![u, u2],
            months(m1, MONTHS),
        ),
        3 => (
            format!("user_id = {u} AND created_at IN ('{lo} 00:00:00', '{hi} 12:34:56.5')"),
            vec![u],
            vec![m1, m2],
        ),
        4 => (
            format!(
                "(created_at < '{lo}' OR created_at > '{hi} 23:59:59.999999') AND user_id = {u}"
            ),
            vec![u],
            months(1, before(m1, d1))
                .into_iter()
                .chain(months(after(m2, d2), MONTHS))
                .collect(),
        ),
        5 => (
            format!("created_at > '{lo} 23:59:59.999999' AND created_at <= '{hi} 07:00:00'"),
            all_users(),
            months(after(m1, d1), m2),
        ),
        _ => (
            format!("created_at >= '{lo}' AND created_at < '{hi}' AND v < 50"),
            all_users(),
            months(m1, before(m2, d2)),
        ),
    };
    let tables = users
        .iter()
        .flat_map(|u| month_list.iter().map(move |m| physical(*u, *m)))
        .filter(|t| !t.ends_with("202600"))
        .collect();
    (sql, tables)
}

async fn conn(port: u16) -> Conn {
    util::app_conn(port, DB).await
}

async fn setup(topo: &Topology) {
    util::recreate_database(topo, &["n1p", "n2p", "ref"], DB).await;
    let mut r = direct_conn(topo, "ref", Some(DB)).await;
    r.query_drop(TABLE_DDL).await.expect("ref table");
    r.disconnect().await.ok();
}

/// The physical tables `EXPLAIN SHARDCAT` names for `sql`.
async fn explained(c: &mut Conn, sql: &str) -> BTreeSet<String> {
    let rows: Vec<mysql_async::Row> = c
        .query(format!("EXPLAIN SHARDCAT {sql}"))
        .await
        .unwrap_or_else(|e| panic!("explain {sql}: {e}"));
    rows.into_iter()
        .filter_map(|r| r.get::<String, _>(1))
        .flat_map(|t| t.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_rows_and_ranges_match_ref_and_prune_to_exact_tables() {
    let topo = Topology::from_env();
    setup(&topo).await;
    let proxy = CustomProxy::start(|port| config(&topo, port, ""));
    let mut p = conn(proxy.port).await;
    let mut r = direct_conn(&topo, "ref", Some(DB)).await;
    p.query_drop(TABLE_DDL)
        .await
        .expect("CREATE TABLE through shardcat");

    // 320 generated rows, in multi-row INSERTs split across tables.
    let mut rng = Rng::new(2026);
    let mut id = 0;
    for _ in 0..16 {
        let rows: Vec<String> = (0..20)
            .map(|_| {
                id += 1;
                let u = rng.below(14) as i64 - 2;
                format!("({id}, {u}, '{}', {})", stamp(&mut rng), rng.below(100))
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (id, user_id, created_at, v) VALUES {}",
            rows.join(", ")
        );
        p.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        r.query_drop(&sql).await.expect("ref insert");
    }
    // Prepared inserts route by the parameters.
    for _ in 0..20 {
        id += 1;
        let (u, at, v) = (rng.below(14) as i64 - 2, stamp(&mut rng), rng.below(100));
        let sql = "INSERT INTO events (id, user_id, created_at, v) VALUES (?, ?, ?, ?)";
        p.exec_drop(sql, (id, u, &at, v))
            .await
            .expect("prepared insert");
        r.exec_drop(sql, (id, u, &at, v)).await.expect("ref insert");
    }

    // Generated reads: rows, aggregates and groups equal to ref; EXPLAIN
    // names exactly the tables the ranges can touch.
    let mut compared = 0;
    for i in 0..150 {
        let (pred, tables) = predicate(&mut rng);
        let sql = match i % 3 {
            0 => format!("SELECT id, user_id, created_at, v FROM events WHERE {pred} ORDER BY id"),
            1 => format!("SELECT COUNT(*), SUM(v), MIN(created_at) FROM events WHERE {pred}"),
            _ => format!(
                "SELECT user_id, COUNT(*) FROM events WHERE {pred} GROUP BY user_id ORDER BY user_id"
            ),
        };
        let got = rows_as_strings(&mut p, &sql).await;
        let want = rows_as_strings(&mut r, &sql).await;
        assert_eq!(got, want, "{sql}");
        let touched = explained(&mut p, &sql).await;
        if tables.is_empty() {
            assert!(touched.len() <= 1, "{sql}: {touched:?}");
        } else {
            assert_eq!(touched, tables, "{sql}");
        }
        compared += 1;
    }

    // Generated writes by range, then the whole table compared.
    for i in 0..30 {
        let (pred, _) = predicate(&mut rng);
        let sql = if i % 3 == 2 {
            format!("DELETE FROM events WHERE {pred}")
        } else {
            format!("UPDATE events SET v = v + {i} WHERE {pred}")
        };
        let got = p.query_iter(&sql).await.expect("write").affected_rows();
        let want = r.query_iter(&sql).await.expect("ref write").affected_rows();
        assert_eq!(got, want, "{sql}");
    }
    let all = "SELECT id, user_id, created_at, v FROM events ORDER BY id";
    assert_eq!(
        rows_as_strings(&mut p, all).await,
        rows_as_strings(&mut r, all).await
    );

    // Refusals: the period column changed, missing, or out of the rule.
    for (sql, needle) in [
        (
            "UPDATE events SET created_at = NOW() WHERE id = 1",
            "period column",
        ),
        (
            "INSERT INTO events (id, user_id, v) VALUES (9001, 1, 1)",
            "period column",
        ),
        (
            "INSERT INTO events (id, user_id, created_at, v) VALUES (9002, 1, '2027-03-01', 1)",
            "2027",
        ),
        (
            "INSERT INTO events (id, user_id, created_at, v) VALUES (9003, 1, 1, 1) \
             ON DUPLICATE KEY UPDATE created_at = '2026-01-01'",
            "created_at",
        ),
    ] {
        let e = p.query_drop(sql).await.expect_err(sql);
        let (code, _state, message) = server_error(e);
        assert!(code == 1235 || code == 1105, "{sql}: {code} {message}");
        assert!(message.contains(needle), "{sql}: {message}");
    }
    assert_eq!(
        rows_as_strings(&mut p, all).await,
        rows_as_strings(&mut r, all).await
    );
    eprintln!("composite: {id} rows, {compared} generated reads and 30 writes equal to ref");
    p.disconnect().await.ok();
    r.disconnect().await.ok();
}

/// `shardcat tables ensure|retire` with a faked clock: the next months'
/// tables of every hash slot on its node, and the retired months' tables
/// of every slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_ensure_and_retire_cover_every_hash_slot() {
    let topo = Topology::from_env();
    let db = "grow_composite_ops";
    let cfg = config(&topo, 1, "create_ahead = 1\nretain = \"2 months\"").replace(DB, db);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, cfg).expect("config");
    for server in ["n1p", "n2p"] {
        let mut c = direct_conn(&topo, server, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await
            .expect("drop");
        c.query_drop(format!("CREATE DATABASE `{db}`"))
            .await
            .expect("create");
        c.disconnect().await.ok();
    }
    // One table by hand to copy the definition from.
    let mut c = direct_conn(&topo, "n1p", Some(db)).await;
    c.query_drop(TABLE_DDL.replace("TABLE events", "TABLE events_0_202601"))
        .await
        .expect("seed");
    c.disconnect().await.ok();
    let cli = |today: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(args)
            .arg("--config")
            .arg(&path)
            .env("SHARDCAT_TODAY", today)
            .output()
            .expect("run shardcat");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    // March: the current month and the next one, on every hash slot.
    cli("2026-03-10", &["tables", "ensure"]);
    let tables = |server: &'static str| {
        let topo = &topo;
        async move {
            let mut c = direct_conn(topo, server, Some(db)).await;
            let names: Vec<String> = c.query("SHOW TABLES").await.expect("show tables");
            c.disconnect().await.ok();
            names.into_iter().collect::<BTreeSet<String>>()
        }
    };
    let want = |slots: [i64; 2], months: &[u32]| {
        slots
            .iter()
            .flat_map(|s| months.iter().map(move |m| physical(*s, *m)))
            .collect::<BTreeSet<String>>()
    };
    let mut n1 = want([0, 1], &[3, 4]);
    n1.insert("events_0_202601".into());
    assert_eq!(tables("n1p").await, n1);
    assert_eq!(tables("n2p").await, want([2, 3], &[3, 4]));
    // Idempotent.
    let again = cli("2026-03-10", &["tables", "ensure", "--dry-run"]);
    assert!(!again.contains("would create"), "{again}");
    // June: retain 2 months keeps April (the cutoff month) onwards; the
    // January and March tables are retired on every slot that has them.
    let dry = cli("2026-06-10", &["tables", "retire", "--dry-run"]);
    assert_eq!(dry.matches("would drop").count(), 5, "{dry}");
    cli("2026-06-10", &["tables", "retire"]);
    assert_eq!(tables("n1p").await, want([0, 1], &[4]));
    assert_eq!(tables("n2p").await, want([2, 3], &[4]));
}
