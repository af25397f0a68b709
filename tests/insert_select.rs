//! `INSERT … SELECT` into sharded tables, compared with the `ref` server
//! holding the same rows. Generated statements: every source (sharded with
//! the target's layout, sharded with another layout, broadcast, a table
//! without a rule, a sharded⋈broadcast join) into two targets (the same
//! layout as the source, another layout), SELECTs with WHERE, ORDER BY …
//! LIMIT, GROUP BY aggregates and computed keys, as INSERT, INSERT IGNORE,
//! REPLACE and ON DUPLICATE KEY UPDATE, over rows with NULLs, edge
//! characters, binary strings, floats, DECIMAL and DATETIME fractions.
//! After each statement: the same outcome (error code, or affected rows
//! and the `Records: …` info) as `ref`, the same rows (binary protocol),
//! and every physical table holding only its slot's keys. A duplicate key
//! on one shard fails the statement with the server's 1062 and leaves
//! every shard as it was; inside a transaction the failed statement alone
//! is undone and the SELECT sees the transaction's own writes;
//! `insert_select_max_rows` bounds the rows held; `[[sequence]]` ids fill
//! a key left out; unexact ODKU forms are refused with their reason.
//! Kills: shardcat SIGKILLed with an INSERT … SELECT's XA branches
//! prepared, before or after its decision: after recovery the rows are
//! all there or none, nothing stays prepared, an acknowledged statement
//! is never lost.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test insert_select
//! ```

mod common;
#[path = "common/ledger.rs"]
mod ledger;
#[path = "common/util.rs"]
mod util;
#[path = "common/vs_ref.rs"]
mod vs_ref;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use vs_ref::{both, fresh_db, q, rows_of, rows_on_primaries};

/// `src`, `dst` (hash_mod over 4 slots: k mod 4, slots 0, 1 on n1 and 2, 3
/// on n2), `far` (jump hash over 6 slots), `seq` (ids from a sequence),
/// `bc` broadcast; `plain` has no rule (it lives on n1).
fn rules() -> String {
    let mut out = String::new();
    for t in ["src", "dst", "seqd", "fam"] {
        out.push_str(&format!(
            "[[table]]\nname = \"{t}\"\nkey = \"k\"\nkey_type = \"int\"\n\
             algorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\", \"n2\"]\n\
             tables_per_node = 2\n\n"
        ));
    }
    out.push_str(
        "[[table]]\nname = \"far\"\nkey = \"k\"\nkey_type = \"int\"\n\
         algorithm = { kind = \"jump\" }\nnodes = [\"n1\", \"n2\"]\ntables_per_node = 3\n\n\
         [[table]]\nname = \"bc\"\nbroadcast = true\n\n\
         [[sequence]]\ntable = \"seqd\"\n\n\
         [[table]]\nname = \"kid\"\nbound_to = \"fam\"\nkey = \"k\"\n\n\
         [[table]]\nname = \"kid2\"\nbound_to = \"fam\"\nkey = \"fk\"\n",
    );
    out
}

const COLS: &str = "id INT NOT NULL, k INT NOT NULL, v VARCHAR(30) CHARACTER SET utf8mb4, \
    f FLOAT, d DOUBLE, dec1 DECIMAL(14,4), b VARBINARY(8), dt DATETIME(3), u BIGINT UNSIGNED, \
    bits BIT(10), tm TIME(2), y YEAR, e ENUM('a','b','c'), n INT NOT NULL DEFAULT 0";

fn ddl() -> Vec<String> {
    let mut out = Vec::new();
    for t in ["src", "bc", "plain"] {
        out.push(format!("CREATE TABLE {t} ({COLS}, PRIMARY KEY (id))"));
    }
    for t in ["dst", "far"] {
        out.push(format!("CREATE TABLE {t} ({COLS}, PRIMARY KEY (k))"));
    }
    out.push("CREATE TABLE seqd (k BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(30))".into());
    out.push("CREATE TABLE fam (k INT PRIMARY KEY, v INT)".into());
    out.push("CREATE TABLE kid (id INT PRIMARY KEY, k INT, w VARCHAR(10))".into());
    out.push("CREATE TABLE kid2 (id INT PRIMARY KEY, fk INT)".into());
    out
}

/// Column list of the generated rows (`n` keeps its default).
const ROW_COLS: &str = "id, k, v, f, d, dec1, b, dt, u, bits, tm, y, e";
const ALL_COLS: &str = "id, k, v, f, d, dec1, b, dt, u, bits, tm, y, e, n";

fn lit_str(rng: &mut StdRng) -> String {
    const PIECES: [&str; 10] = ["a", "Z", "''", "\\\\", "é", "😀", " ", "\\0", "%", "ß"];
    let n = rng.random_range(0..5);
    let s: String = (0..n)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect();
    format!("'{s}'")
}

fn or_null(rng: &mut StdRng, f: impl FnOnce(&mut StdRng) -> String) -> String {
    if rng.random_range(0..5) == 0 {
        "NULL".into()
    } else {
        f(rng)
    }
}

/// A generated row with id `id`.
fn row(rng: &mut StdRng, id: i64) -> String {
    let vals = [
        id.to_string(),
        rng.random_range(0..30).to_string(),
        or_null(rng, lit_str),
        or_null(rng, |r| {
            format!("{}e{}", r.random_range(-9999..9999), r.random_range(-6..6))
        }),
        or_null(rng, |r| format!("{}", r.random::<f64>() * 1e4 - 5e3)),
        or_null(rng, |r| {
            format!(
                "{}.{:04}",
                r.random_range(-9999..9999),
                r.random_range(0..9999)
            )
        }),
        or_null(rng, |r| format!("x'{:08x}'", r.random::<u32>())),
        or_null(rng, |r| {
            format!(
                "'20{:02}-0{}-1{} 1{}:2{}:3{}.{:03}'",
                r.random_range(0..99),
                r.random_range(1..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..999)
            )
        }),
        or_null(rng, |r| r.random::<u64>().to_string()),
        or_null(rng, |r| format!("b'{:b}'", r.random_range(0..1024))),
        or_null(rng, |r| {
            format!(
                "'{}{}:1{}:2{}.{:02}'",
                if r.random() { "-" } else { "" },
                r.random_range(0..838),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..99)
            )
        }),
        or_null(rng, |r| r.random_range(1901..2155).to_string()),
        or_null(rng, |r| ["'a'", "'b'", "'c'"][r.random_range(0..3)].into()),
    ];
    format!("({})", vals.join(", "))
}

/// Physical tables of `table` on the primaries: (server, name, slot).
fn physical(table: &str) -> Vec<(&'static str, String, usize)> {
    let (per_node, slots) = if table == "far" { (3, 6) } else { (2, 4) };
    (0..slots)
        .map(|s| {
            let server = if s < per_node { "n1p" } else { "n2p" };
            (server, format!("{table}_{s}"), s)
        })
        .collect()
}

/// The rows of `table` through shardcat equal `ref`'s, and the physical
/// tables hold them exactly once (`hash_mod` tables: each in its slot).
async fn compare(topo: &Topology, db: &str, p: &mut Conn, r: &mut Conn, table: &str, what: &str) {
    let sql = format!("SELECT {ALL_COLS} FROM {table} ORDER BY k");
    let want = rows_of(r, &sql).await;
    assert_eq!(rows_of(p, &sql).await, want, "{what}: {sql}");
    let modulo = (table != "far").then_some(4);
    let total = rows_on_primaries(topo, db, &physical(table), modulo, what).await;
    assert_eq!(total, want.len(), "{what}: rows on the primaries");
}

async fn setup(proxy: &ProxyProcess, topo: &Topology, db: &str) -> (Conn, Conn) {
    fresh_db(proxy, topo, db, &ddl()).await
}

/// A generated INSERT … SELECT into `target`.
fn statement(rng: &mut StdRng, target: &str) -> String {
    let source = ["src", "bc", "plain", "src", "src s JOIN bc USING (id)"][rng.random_range(0..5)];
    let offset = [0, 1, 100, 200][rng.random_range(0..4)];
    let q = |c: &str| {
        if source.contains("JOIN") && c != "id" {
            format!("s.{c}")
        } else {
            c.to_owned()
        }
    };
    // The typed columns after `v`, copied as they are.
    let typed = ["f", "d", "dec1", "b", "dt", "u", "bits", "tm", "y", "e"];
    let copy = typed.map(&q).join(", ");
    let select = match rng.random_range(0..4) {
        // Offset 0: the key as it is (co-located sources push down).
        0 => format!(
            "SELECT {}, {}, {}, {copy} FROM {source} WHERE {} % {} = {}",
            q("id"),
            if offset == 0 {
                q("k")
            } else {
                format!("{} + {offset}", q("k"))
            },
            q("v"),
            q("id"),
            rng.random_range(2..5),
            rng.random_range(0..2)
        ),
        1 => format!(
            "SELECT {}, {} + {offset}, {}, {copy} FROM {source} ORDER BY {} DESC LIMIT {}",
            q("id"),
            q("k"),
            q("v"),
            q("id"),
            rng.random_range(1..12)
        ),
        2 => format!(
            "SELECT MIN({}), {} + {offset}, MAX({}), NULL, SUM({}), AVG({}), NULL, MAX({}), \
             MAX({}), NULL, MIN({}), MAX({}), NULL FROM {source} GROUP BY {}",
            q("id"),
            q("k"),
            q("v"),
            q("d"),
            q("dec1"),
            q("dt"),
            q("u"),
            q("tm"),
            q("y"),
            q("k")
        ),
        _ => format!(
            "SELECT {} + 1000, {} * 3 + {offset}, CONCAT({}, 'x'), {}, NULL, {} * 2, {}, {}, \
             {}, {}, {}, {}, {} FROM {source} WHERE {} BETWEEN {} AND {}",
            q("id"),
            q("id"),
            q("v"),
            q("f"),
            q("dec1"),
            q("b"),
            q("dt"),
            q("u"),
            q("bits"),
            q("tm"),
            q("y"),
            q("e"),
            q("k"),
            rng.random_range(0..10),
            rng.random_range(10..30)
        ),
    };
    let verb = rng.random_range(0..5);
    let head = match verb {
        0 | 1 => "INSERT",
        2 => "INSERT IGNORE",
        3 => "REPLACE",
        _ => "INSERT",
    };
    let tail = if verb == 4 {
        format!(" ON DUPLICATE KEY UPDATE v = VALUES(v), n = {target}.n + 1")
    } else {
        String::new()
    };
    format!("{head} INTO {target} ({ROW_COLS}) {select}{tail}")
}

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn start(topo: &Topology, mode: &str) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: format!("transactions = \"{mode}\"\ninsert_select_max_rows = 60\n"),
            extra: rules(),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_insert_selects_match_one_server() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = start(&topo, "xa");
    let db = util::db_name("inssel");
    let (mut p, mut r) = setup(&proxy, &topo, &db).await;
    let mut rng = StdRng::seed_from_u64(1313);
    load(&mut p, &mut r, &mut rng).await;
    let (mut errors, mut written) = (0, 0);
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..60 {
        let target = if i % 3 == 2 { "far" } else { "dst" };
        let sql = statement(&mut rng, target);
        match both(&mut p, &mut r, &sql).await {
            Some(code) => {
                errors += 1;
                *codes.entry(code).or_insert(0) += 1;
            }
            None => written += r.affected_rows(),
        }
        compare(&topo, &db, &mut p, &mut r, target, &format!("#{i}: {sql}")).await;
    }
    println!(
        "60 generated INSERT … SELECTs: {written} rows affected, {errors} errors \
         (code: count {codes:?}), all as ref"
    );
    assert!(errors < 30, "{errors} of 60 generated statements failed");
    assert!(written > 100, "only {written} rows written");
    q(&mut p, &format!("DROP DATABASE {db}")).await.unwrap();
    q(&mut r, &format!("DROP DATABASE {db}")).await.unwrap();
}

/// Loads `src`, `bc` and `plain` with 40 generated rows each.
async fn load(p: &mut Conn, r: &mut Conn, rng: &mut StdRng) {
    for t in ["src", "bc", "plain"] {
        let rows: Vec<String> = (1..=40).map(|id| row(rng, id)).collect();
        let sql = format!("INSERT INTO {t} ({ROW_COLS}) VALUES {}", rows.join(", "));
        both(p, r, &sql).await;
    }
}

/// A duplicate key on one shard fails the whole statement (nothing on any
/// shard); inside a transaction only the statement is undone and the
/// SELECT sees the transaction's writes; the row bound; sequence ids;
/// refusals. In `best_effort` mode (the generated test runs `xa`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_in_transactions_and_bounded() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = start(&topo, "best_effort");
    let db = util::db_name("inssel2");
    let (mut p, mut r) = setup(&proxy, &topo, &db).await;
    let mut rng = StdRng::seed_from_u64(77);
    load(&mut p, &mut r, &mut rng).await;
    let (p, r) = (&mut p, &mut r);
    // Keys 1..=8 span the four slots on both nodes; 3 is taken on n2.
    both(p, r, "INSERT INTO dst (id, k) VALUES (999, 3)").await;
    let clash = "INSERT INTO dst (id, k, v) SELECT id, id, v FROM src WHERE id BETWEEN 1 AND 8";
    assert_eq!(both(p, r, clash).await, Some(1062));
    compare(&topo, &db, p, r, "dst", "after the duplicate").await;
    for script in [
        &[
            "BEGIN",
            "INSERT INTO src (id, k, v) VALUES (500, 7, 'own write')",
            "INSERT INTO dst (id, k, v) SELECT id, k + 50, v FROM src WHERE id = 500",
            clash,
            "INSERT INTO dst (id, k, v) SELECT id, id + 300, v FROM src WHERE id < 6",
            "INSERT IGNORE INTO dst (id, k, v) SELECT id, id, v FROM src WHERE id < 6",
            "COMMIT",
        ][..],
        &[
            "BEGIN",
            "INSERT INTO dst (id, k, v) SELECT id, id + 400, 'gone' FROM src WHERE id < 9",
            "ROLLBACK",
        ][..],
        &[
            "INSERT INTO dst SELECT * FROM src WHERE id > 30",
            "INSERT INTO far SELECT * FROM dst WHERE k < 40",
            "INSERT INTO dst (id, k) SELECT id FROM src",
            "REPLACE INTO far (id, k, v) SELECT id, k, 'replaced' FROM far WHERE k % 2 = 0",
            "INSERT INTO dst (id, k) SELECT 1, 12345",
            "INSERT INTO dst (id, k, v) SELECT id, k, v FROM src WHERE id = 31 \
             ON DUPLICATE KEY UPDATE v = CONCAT(dst.v, '+'), n = dst.n + VALUES(n) + 1",
        ][..],
    ] {
        for sql in script {
            both(p, r, sql).await;
        }
        let what = script.join("; ");
        compare(&topo, &db, p, r, "dst", &what).await;
        compare(&topo, &db, p, r, "far", &what).await;
    }
    // The duplicates' warnings, as SHOW WARNINGS lists them (sorted: the
    // shards' come shard by shard).
    let dups = "INSERT IGNORE INTO dst (id, k, v) SELECT id, id, v FROM src WHERE id < 9";
    both(p, r, dups).await;
    let (mut wp, mut wr) = (all(p, "SHOW WARNINGS").await, all(r, "SHOW WARNINGS").await);
    wp.sort();
    wr.sort();
    assert!(!wr.is_empty());
    assert_eq!(wp, wr, "SHOW WARNINGS after {dups}");
    // More rows than insert_select_max_rows (60): refused, nothing written.
    let e = q(
        p,
        "INSERT INTO dst (id, k) SELECT s.id, s.id * 100 + b.id + 5000 FROM src s JOIN bc b",
    )
    .await
    .unwrap_err();
    let (code, _, msg) = util::server_error(e);
    assert!(msg.contains("insert_select_max_rows"), "{code} {msg}");
    compare(&topo, &db, p, r, "dst", "over the bound").await;
    // Refused with the reason: ODKU reading what only INSERT … SELECT sees,
    // or moving the key; parameters.
    for (sql, words) in [
        (
            "INSERT INTO dst (id, k, v) SELECT id, k, v FROM src ON DUPLICATE KEY UPDATE v = v",
            "not qualified",
        ),
        (
            "INSERT INTO dst (id, k, v) SELECT id, k, v FROM src s ON DUPLICATE KEY UPDATE v = s.v",
            "another table",
        ),
        (
            "INSERT INTO dst (id, k, v) SELECT id, k, v FROM src ON DUPLICATE KEY UPDATE k = 5",
            "sharding key",
        ),
    ] {
        let e = q(p, sql).await.unwrap_err();
        let (code, _, msg) = util::server_error(e);
        assert!(msg.contains(words), "{sql}: {code} {msg}");
    }
    let e = p
        .exec_drop("INSERT INTO dst (id, k) SELECT id, k + ? FROM src", (1,))
        .await
        .unwrap_err();
    assert!(util::server_error(e).2.contains("prepared"));
    compare(&topo, &db, p, r, "dst", "after refusals").await;
    // A key left out: ids from the sequence, each row in its slot, the
    // first one as LAST_INSERT_ID().
    q(p, "INSERT INTO seqd (v) SELECT v FROM src WHERE id <= 10")
        .await
        .unwrap();
    assert_eq!(
        (p.affected_rows(), p.info().to_string()),
        (10, "Records: 10  Duplicates: 0  Warnings: 0".to_string())
    );
    let first: Option<u64> = p.query_first("SELECT LAST_INSERT_ID()").await.unwrap();
    let min: Option<u64> = p.query_first("SELECT MIN(k) FROM seqd").await.unwrap();
    assert_eq!(first, min, "LAST_INSERT_ID()");
    let mut placed = 0;
    for (server, phys, slot) in physical("seqd") {
        let mut c = util::direct_conn(&topo, server, Some(&db)).await;
        let keys: Vec<u64> = c.query(format!("SELECT k FROM {phys}")).await.unwrap();
        assert!(
            keys.iter().all(|k| k % 4 == slot as u64),
            "{phys}: {keys:?}"
        );
        placed += keys.len();
        c.disconnect().await.ok();
    }
    assert_eq!(placed, 10);
    q(p, &format!("DROP DATABASE {db}")).await.unwrap();
    q(r, &format!("DROP DATABASE {db}")).await.unwrap();
}

/// Rows of `table` as strings through `c`.
async fn all(c: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    util::rows_as_strings(c, sql).await
}

/// A sharding-key UPDATE of a table others are bound to: rows an `ON
/// UPDATE CASCADE` foreign key changed with it (`kid`) move with it, rows
/// without one (`kid2`) stay, as on one server; a duplicate on the new
/// shard undoes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_rows_follow_a_moved_parent() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = start(&topo, "xa");
    let db = util::db_name("family");
    let (mut p, mut r) = setup(&proxy, &topo, &db).await;
    let (p, r) = (&mut p, &mut r);
    let fk = |parent: &str, child: &str| {
        format!(
            "ALTER TABLE {child} ADD FOREIGN KEY (k) REFERENCES {parent} (k) \
             ON UPDATE CASCADE ON DELETE CASCADE"
        )
    };
    q(r, &fk("fam", "kid")).await.unwrap();
    for s in 0..4 {
        let server = if s < 2 { "n1p" } else { "n2p" };
        let mut c = util::direct_conn(&topo, server, Some(&db)).await;
        q(&mut c, &fk(&format!("fam_{s}"), &format!("kid_{s}")))
            .await
            .unwrap();
        c.disconnect().await.ok();
    }
    for sql in [
        "INSERT INTO fam VALUES (1, 10), (2, 20), (5, 50), (7, 70)",
        "INSERT INTO kid VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c'), (4, 5, 'd'), (5, 7, 'e')",
        "INSERT INTO kid2 VALUES (1, 1), (2, 2), (3, 5)",
        // n1 → n2, back to n1, two parents at once.
        "UPDATE fam SET k = 6 WHERE k = 1",
        "UPDATE fam SET k = 9, v = v + 1 WHERE k = 6",
        "UPDATE fam SET k = 3 WHERE k IN (2, 5)",
        "UPDATE fam SET k = 11 WHERE v >= 50",
        "UPDATE fam SET k = 14 WHERE k = 7",
        "BEGIN",
        "UPDATE fam SET k = 20 WHERE k = 2",
        "UPDATE fam SET k = 14 WHERE k = 9",
        "COMMIT",
    ] {
        both(p, r, sql).await;
        for (table, cols) in [("fam", "k, v"), ("kid", "id, k, w"), ("kid2", "id, fk")] {
            let order = format!("SELECT {cols} FROM {table} ORDER BY {cols}");
            assert_eq!(all(p, &order).await, all(r, &order).await, "{sql}: {table}");
        }
    }
    // Every row of fam and kid on its slot's table.
    for (server, _, slot) in physical("fam") {
        let mut c = util::direct_conn(&topo, server, Some(&db)).await;
        for t in ["fam", "kid"] {
            let bad: Vec<i64> = c
                .query(format!(
                    "SELECT k FROM {t}_{slot} WHERE MOD(k, 4) <> {slot}"
                ))
                .await
                .unwrap();
            assert!(bad.is_empty(), "{t}_{slot}: {bad:?}");
        }
        c.disconnect().await.ok();
    }
    q(p, &format!("DROP DATABASE {db}")).await.unwrap();
    q(r, &format!("DROP DATABASE {db}")).await.unwrap();
}

/// Shardcat killed inside an INSERT … SELECT's two-phase commit (its
/// branches seen prepared), before the decision and after it: after the
/// restart's recovery, all rows or none (all when acknowledged), nothing
/// left prepared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_in_the_commit_leave_all_or_nothing() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let options = ProxyOptions {
        routing: "transactions = \"xa\"\nxa_recovery_interval_ms = 300\n".into(),
        extra: rules(),
        ..Default::default()
    };
    let db = util::db_name("inskill");
    let proxy = ProxyProcess::start_with(&topo, options.clone());
    let mut p = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
        format!("CREATE TABLE src ({COLS}, PRIMARY KEY (id))"),
        format!("CREATE TABLE dst ({COLS}, PRIMARY KEY (k))"),
        // A source without a rule: MariaDB's sequence engine on n1.
        "INSERT INTO src (id, k, v) SELECT seq, seq, CONCAT('r', seq) FROM seq_1_to_40".into(),
    ] {
        q(&mut p, &sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(p.info(), "Records: 40  Duplicates: 0  Warnings: 0");
    drop(p);
    drop(proxy);
    let mut outcomes = Vec::new();
    for (round, after_decision) in [(1, false), (2, true)] {
        std::env::set_var("SHARDCAT_XA_TEST_DELAY_MS", "600");
        std::env::set_var("SHARDCAT_XA_TEST_PHASE2_DELAY_MS", "600");
        let victim = ProxyProcess::start_with(&topo, options.clone());
        std::env::remove_var("SHARDCAT_XA_TEST_DELAY_MS");
        std::env::remove_var("SHARDCAT_XA_TEST_PHASE2_DELAY_MS");
        let mut c = util::proxy_conn(&victim, Some(&db)).await;
        let sql = format!(
            "INSERT INTO dst (id, k, v) SELECT id, id + {}, v FROM src",
            round * 1000
        );
        let run = tokio::spawn(async move { c.query_drop(sql).await.is_ok() });
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = false;
        while Instant::now() < deadline && !seen {
            seen = ledger::prepared_anywhere(&topo).await > 0;
        }
        assert!(seen, "round {round}: the branches were never seen prepared");
        if after_decision {
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
        drop(victim);
        let acked = run.await.unwrap();
        let proxy = ProxyProcess::start_with(&topo, options.clone());
        let deadline = Instant::now() + Duration::from_secs(15);
        while ledger::prepared_anywhere(&topo).await > 0 {
            assert!(
                Instant::now() < deadline,
                "round {round}: branches still prepared"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut p = util::proxy_conn(&proxy, Some(&db)).await;
        let n: Option<i64> = p
            .query_first(format!(
                "SELECT COUNT(*) FROM dst WHERE k BETWEEN {} AND {}",
                round * 1000,
                round * 1000 + 999
            ))
            .await
            .unwrap();
        let n = n.unwrap_or(-1);
        assert!(n == 0 || n == 40, "round {round}: {n} of 40 rows");
        assert!(
            !acked || n == 40,
            "round {round}: acknowledged but {n} rows"
        );
        if !after_decision {
            assert_eq!(n, 0, "round {round}: killed before the decision");
        }
        outcomes.push((round, after_decision, acked, n));
        if round == 2 {
            q(&mut p, &format!("DROP DATABASE {db}")).await.unwrap();
        }
    }
    println!(
        "kills inside the commit (round, after the decision, acknowledged, rows): {outcomes:?}"
    );
}
