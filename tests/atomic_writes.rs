//! Atomic writes across shards. Sharding-key UPDATEs that move rows
//! between shards, compared with the
//! `ref` server holding the same rows: generated rows (every column type a
//! move carries: floats, DECIMAL, strings with edge characters, binary,
//! BIT, temporal types with fractions, ENUM, YEAR, unsigned integers,
//! NULLs, an invisible and a generated column) and generated UPDATEs
//! (new key on another shard or the same one, one or several rows,
//! further SET columns, text and prepared). After each statement: the
//! same affected rows and info text as `ref`, the same rows (read in the
//! binary protocol, so floats compare exactly), and every physical table
//! on the primaries holds only the rows its slot owns. A duplicate key on
//! the new shard gives the server's 1062 and changes nothing; inside a
//! transaction a failed move is undone alone. Faults: the
//! new key's primary, the old key's, or shardcat itself SIGKILLed between the DELETE on
//! the old shard and the INSERT on the new one: nothing lost or
//! duplicated (the kill is aimed by watching `INNODB_TRX` on both
//! primaries, at least 0.15 s apart, see `rows_modified`; every kill is
//! checked to land inside the move's pause). And a reload that first enables `xa` starts XA recovery.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test atomic_writes
//! ```

mod common;
#[path = "common/rw.rs"]
mod rw;
#[path = "common/util.rs"]
mod util;
#[path = "common/vs_ref.rs"]
mod vs_ref;

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::{sigkill, Topology};
use vs_ref::{both, fresh_db, q, rows_of, rows_on_primaries};

// hash_mod over 4 slots: k mod 4; slots 0, 1 on n1 and 2, 3 on n2; `child`
// is bound to `parent`.
fn rules() -> String {
    let mut out = String::new();
    for t in ["mv", "uk", "parent"] {
        out.push_str(&format!(
            "[[table]]\nname = \"{t}\"\nkey = \"k\"\nkey_type = \"int\"\n\
             algorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\", \"n2\"]\n\
             tables_per_node = 2\n\n"
        ));
    }
    out.push_str("[[table]]\nname = \"child\"\nbound_to = \"parent\"\nkey = \"k\"\n\n");
    out.push_str(
        "[[table]]\nname = \"sk\"\nkey = \"k\"\nkey_type = \"string\"\n\
         collation = \"utf8mb4_general_ci\"\nalgorithm = { kind = \"jump\" }\n\
         nodes = [\"n1\", \"n2\"]\ntables_per_node = 2\n",
    );
    out
}

const MV: &str = "CREATE TABLE mv (id INT PRIMARY KEY, k INT NOT NULL, \
    f FLOAT, d DOUBLE, dec1 DECIMAL(20,6), s VARCHAR(40) CHARACTER SET utf8mb4, \
    l VARCHAR(20) CHARACTER SET latin1, b VARBINARY(16), bits BIT(12), dt DATETIME(6), \
    ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(2), y YEAR, e ENUM('a','b','c'), \
    mi MEDIUMINT UNSIGNED, ti TINYINT, big BIGINT UNSIGNED, txt TEXT, \
    hid INT INVISIBLE DEFAULT 7, g INT AS (k * 2) VIRTUAL, KEY (k))";
const UK: &str = "CREATE TABLE uk (k INT PRIMARY KEY, v INT, UNIQUE KEY (v))";
const PARENT: &str = "CREATE TABLE parent (k INT PRIMARY KEY, v INT)";
const CHILD: &str = "CREATE TABLE child (id INT PRIMARY KEY, k INT)";
const SK: &str = "CREATE TABLE sk (id INT PRIMARY KEY, k VARCHAR(20) CHARACTER SET utf8mb4 \
    COLLATE utf8mb4_general_ci NOT NULL, v DOUBLE)";

/// Physical tables of a logical one on the primaries: (server, table, slot).
fn physical(table: &str) -> Vec<(&'static str, String, i64)> {
    (0..4)
        .map(|s| {
            let server = if s < 2 { "n1p" } else { "n2p" };
            (server, format!("{table}_{s}"), s)
        })
        .collect()
}

fn lit_str(rng: &mut StdRng) -> String {
    const PIECES: [&str; 11] = [
        "a", "Z", "''", "\\'", "\\\\", "é", "😀", " ", "\\0", "%", "ß",
    ];
    let n = rng.random_range(0..6);
    let s: String = (0..n)
        .map(|_| PIECES[rng.random_range(0..PIECES.len())])
        .collect();
    format!("'{s}'")
}

fn lit_or_null(rng: &mut StdRng, f: impl FnOnce(&mut StdRng) -> String) -> String {
    if rng.random_range(0..6) == 0 {
        "NULL".into()
    } else {
        f(rng)
    }
}

/// One generated row of `mv` as a VALUES tuple (explicit `hid`).
fn row(rng: &mut StdRng, id: i64) -> String {
    let k = rng.random_range(0..40);
    let vals = [
        id.to_string(),
        k.to_string(),
        lit_or_null(rng, |r| {
            format!(
                "{}e{}",
                r.random_range(-99999..99999),
                r.random_range(-8..8)
            )
        }),
        lit_or_null(rng, |r| format!("{}", r.random::<f64>() * 1e6 - 5e5)),
        lit_or_null(rng, |r| {
            format!(
                "{}.{:06}",
                r.random_range(-99999..99999),
                r.random_range(0..999999)
            )
        }),
        lit_or_null(rng, lit_str),
        lit_or_null(rng, |r| {
            ["'abc'", "'é'", "''", "'x y '"][r.random_range(0..4)].into()
        }),
        lit_or_null(rng, |r| format!("x'{:08x}00'", r.random::<u32>())),
        lit_or_null(rng, |r| format!("b'{:b}'", r.random_range(0..4096))),
        lit_or_null(rng, |r| {
            format!(
                "'20{:02}-0{}-1{} 1{}:2{}:3{}.{:06}'",
                r.random_range(0..99),
                r.random_range(1..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..999999)
            )
        }),
        lit_or_null(rng, |r| {
            format!(
                "'2021-0{}-0{} 0{}:00:0{}.{:03}'",
                r.random_range(1..10),
                r.random_range(1..10),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..999)
            )
        }),
        lit_or_null(rng, |r| {
            format!(
                "'{}{}:1{}:2{}.{:02}'",
                if r.random() { "-" } else { "" },
                r.random_range(0..838),
                r.random_range(0..10),
                r.random_range(0..10),
                r.random_range(0..99)
            )
        }),
        lit_or_null(rng, |r| r.random_range(1901..2155).to_string()),
        lit_or_null(rng, |r| ["'a'", "'b'", "'c'"][r.random_range(0..3)].into()),
        lit_or_null(rng, |r| r.random_range(0..16_777_215).to_string()),
        lit_or_null(rng, |r| r.random_range(-128..128).to_string()),
        lit_or_null(rng, |r| r.random::<u64>().to_string()),
        lit_or_null(rng, lit_str),
        rng.random_range(0..100).to_string(),
    ];
    format!("({})", vals.join(", "))
}

const MV_COLUMNS: &str =
    "id, k, f, d, dec1, s, l, b, bits, dt, ts, tm, y, e, mi, ti, big, txt, hid";

/// A generated key-changing UPDATE of `mv`.
fn update(rng: &mut StdRng, rows: i64) -> String {
    let new_k = rng.random_range(0..40);
    let mut set = vec![format!("k = {new_k}")];
    if rng.random() {
        set.push(format!("s = {}", lit_str(rng)));
    }
    if rng.random_range(0..3) == 0 {
        set.insert(0, format!("f = {}e-3", rng.random_range(-9999..9999)));
    }
    let a = rng.random_range(1..=rows);
    let cond = match rng.random_range(0..5) {
        0 => format!("id = {a}"),
        1 => format!("k = {}", rng.random_range(0..40)),
        2 => format!("id BETWEEN {a} AND {}", a + rng.random_range(0..6)),
        3 => format!(
            "k IN ({}, {})",
            rng.random_range(0..40),
            rng.random_range(0..40)
        ),
        _ => format!("id = {a} AND k = {new_k}"),
    };
    format!("UPDATE mv SET {} WHERE {cond}", set.join(", "))
}

/// `sql` answers the same rows through shardcat and on `ref`.
async fn compare_rows(p: &mut Conn, r: &mut Conn, sql: &str, what: &str) {
    let want = rows_of(r, sql).await;
    assert_eq!(rows_of(p, sql).await, want, "{what}: {sql}");
}

/// The rows of `table` on `ref` equal those through shardcat, and every
/// physical table on the primaries holds only keys of its slot.
async fn compare(
    topo: &Topology,
    db: &str,
    p: &mut Conn,
    r: &mut Conn,
    table: &str,
    cols: &str,
    what: &str,
) {
    let sql = format!("SELECT {cols} FROM {table} ORDER BY 1");
    compare_rows(p, r, &sql, what).await;
    let want = rows_of(r, &sql).await;
    let placed: Vec<(&str, String, usize)> = physical(table)
        .into_iter()
        .map(|(server, phys, slot)| (server, phys, slot as usize))
        .collect();
    let total = rows_on_primaries(topo, db, &placed, Some(4), what).await;
    assert_eq!(total, want.len(), "{what}: rows on the primaries");
}

async fn setup(topo: &Topology, proxy: &ProxyProcess, db: &str) -> (Conn, Conn) {
    let ddl: Vec<String> = [MV, UK, PARENT, CHILD, SK].map(String::from).into();
    fresh_db(proxy, topo, db, &ddl).await
}

/// Rows of `mv` (ids 1..=ROWS).
const ROWS: i64 = 60;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_updates_match_one_server() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    for mode in ["xa", "best_effort"] {
        let proxy = ProxyProcess::start_with(
            &topo,
            ProxyOptions {
                routing: format!("transactions = \"{mode}\"\nmove_max_rows = 30\n"),
                extra: rules(),
                ..Default::default()
            },
        );
        let db = util::db_name("kmove");
        let (mut p, mut r) = setup(&topo, &proxy, &db).await;
        let mut rng = StdRng::seed_from_u64(if mode == "xa" { 13 } else { 31 });
        let values: Vec<String> = (1..=ROWS).map(|id| row(&mut rng, id)).collect();
        let insert = format!("INSERT INTO mv ({MV_COLUMNS}) VALUES {}", values.join(", "));
        both(&mut p, &mut r, &insert).await;
        let cols = format!("{MV_COLUMNS}, g");
        compare(&topo, &db, &mut p, &mut r, "mv", &cols, "loaded").await;
        // A move beyond move_max_rows is refused and changes nothing.
        let leaving: Option<i64> = r
            .query_first("SELECT COUNT(*) FROM mv WHERE MOD(k, 4) <> 0")
            .await
            .unwrap();
        assert!(leaving.unwrap_or(0) > 30, "{mode}: too few rows to move");
        let e = q(&mut p, "UPDATE mv SET k = 100 WHERE id > 0")
            .await
            .unwrap_err();
        assert!(
            util::server_error(e).2.contains("move_max_rows"),
            "{mode}: bound"
        );
        compare(&topo, &db, &mut p, &mut r, "mv", &cols, "refused").await;
        generated_moves(&topo, &db, &mut p, &mut r, &mut rng, mode).await;
        // Prepared: the new key and the row as parameters.
        for (i, (k, id)) in [(5, 3), (6, 3), (7, 10), (33, 11)].into_iter().enumerate() {
            let sql = "UPDATE mv SET k = ?, s = ? WHERE id = ?";
            let params = (k, "prepared 'é'", id);
            r.exec_drop(sql, params).await.unwrap();
            p.exec_drop(sql, params)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!(p.affected_rows(), r.affected_rows(), "prepared #{i}");
            let what = format!("prepared #{i}");
            compare(&topo, &db, &mut p, &mut r, "mv", &cols, &what).await;
        }

        conflicts(&topo, &db, &mut p, &mut r).await;
        string_keys(&mut p, &mut r).await;
        // Refused clearly: expressions, LIMIT. (Bound tables' rows follow
        // their parent: tests/insert_select.rs.)
        for (sql, words) in [
            ("UPDATE mv SET k = k + 1 WHERE id = 1", "expression"),
            ("UPDATE mv SET k = 1 WHERE id = 1 LIMIT 1", "LIMIT"),
        ] {
            let e = q(&mut p, sql).await.unwrap_err();
            let (code, _, msg) = util::server_error(e);
            assert!(msg.contains(words), "{sql}: {code} {msg}");
        }
        in_transactions(&topo, &db, &mut p, &mut r).await;
        compare(&topo, &db, &mut p, &mut r, "mv", &cols, "after refusals").await;
        q(&mut p, &format!("DROP DATABASE {db}")).await.unwrap();
        q(&mut r, &format!("DROP DATABASE {db}")).await.unwrap();
    }
}

/// Generated UPDATEs of `mv` (40), each compared with `ref`.
async fn generated_moves(
    topo: &Topology,
    db: &str,
    p: &mut Conn,
    r: &mut Conn,
    rng: &mut StdRng,
    mode: &str,
) {
    let cols = format!("{MV_COLUMNS}, g");
    let (mut errors, mut changed) = (0, 0);
    for i in 0..40 {
        let sql = update(rng, ROWS);
        match both(p, r, &sql).await {
            Some(_) => errors += 1,
            None => changed += r.affected_rows(),
        }
        let what = format!("{mode} #{i}: {sql}");
        compare(topo, db, p, r, "mv", &cols, &what).await;
    }
    println!(
        "{mode}: 40 generated key UPDATEs, {changed} rows changed, {errors} errors, all as ref"
    );
    assert!(
        errors <= 4,
        "{mode}: {errors} of 40 generated updates failed"
    );
}

/// Duplicate keys on the new shard: the server's 1062, nothing moves.
async fn conflicts(topo: &Topology, db: &str, p: &mut Conn, r: &mut Conn) {
    let uk = "INSERT INTO uk VALUES (1, 10), (2, 20), (3, 30), (5, 50)";
    both(p, r, uk).await;
    for sql in [
        "UPDATE uk SET k = 2 WHERE k = 1",
        "UPDATE uk SET k = 9 WHERE k IN (1, 5)",
        "UPDATE uk SET k = 7 WHERE k = 3",
        "UPDATE uk SET k = 8 WHERE v >= 20",
    ] {
        both(p, r, sql).await;
        compare(topo, db, p, r, "uk", "k, v", sql).await;
    }
}

/// A string key (jump hash, case-insensitive collation): the moved row is
/// found by its new key, in any case, exactly once.
async fn string_keys(p: &mut Conn, r: &mut Conn) {
    let sk: Vec<String> = (1..=24)
        .map(|i| format!("({i}, 'key{}', {}e-7)", i % 6, i * 7919))
        .collect();
    both(p, r, &format!("INSERT INTO sk VALUES {}", sk.join(", "))).await;
    for (i, new) in ["Zed", "key1", "ÉTÉ", "zed ", "k😀"].iter().enumerate() {
        let sql = format!("UPDATE sk SET k = '{new}', v = v * 3 WHERE k = 'key{i}'");
        both(p, r, &sql).await;
        compare_rows(p, r, "SELECT id, k, v FROM sk ORDER BY id", &sql).await;
        let by_key = format!(
            "SELECT id, k, v FROM sk WHERE k = '{}' ORDER BY id",
            new.to_uppercase()
        );
        compare_rows(p, r, &by_key, &sql).await;
    }
}

/// Inside transactions: a move is one statement (a failed one is undone,
/// the transaction goes on), COMMIT/ROLLBACK end it all.
async fn in_transactions(topo: &Topology, db: &str, p: &mut Conn, r: &mut Conn) {
    for script in [
        &[
            "BEGIN",
            "UPDATE uk SET k = 11 WHERE k = 2",
            "UPDATE uk SET k = 5 WHERE k = 11",
            "UPDATE uk SET k = 12 WHERE k = 11",
            "INSERT INTO uk VALUES (40, 400)",
            "COMMIT",
        ][..],
        &[
            "BEGIN",
            "UPDATE uk SET k = 13 WHERE k = 12",
            "UPDATE uk SET k = 14 WHERE k = 5",
            "ROLLBACK",
        ][..],
        &[
            "SET autocommit = 0",
            "UPDATE uk SET k = 21 WHERE k = 12",
            "UPDATE uk SET k = 40 WHERE k = 21",
            "UPDATE uk SET k = 22 WHERE k = 21",
            "COMMIT",
            "SET autocommit = 1",
        ][..],
    ] {
        for sql in script {
            both(p, r, sql).await;
        }
        compare(topo, db, p, r, "uk", "k, v", &script.join("; ")).await;
    }
}

/// Rows of `uk` per primary: (server, k, v).
async fn placed(topo: &Topology, db: &str) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for (server, phys, _) in physical("uk") {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        let rows: Vec<(i64, i64)> = c.query(format!("SELECT k, v FROM {phys}")).await.unwrap();
        out.extend(rows.into_iter().map(|(k, v)| (server.to_owned(), k, v)));
        c.disconnect().await.ok();
    }
    out.sort();
    out
}

/// How many rows the other transactions of `server` changed (InnoDB's
/// `trx_rows_modified`, the largest), `None` when there is none.
///
/// MariaDB rebuilds the `INNODB_TRX` image only when it was last read more
/// than 0.1 s ago: polled faster it stays frozen (the reason this test's
/// earlier 50 ms probe saw a stale image and never the DELETE), so
/// callers poll at [`TRX_POLL`].
async fn rows_modified(topo: &Topology, server: &str) -> Option<i64> {
    let mut c = util::direct_conn(topo, server, None).await;
    let now: Option<Option<i64>> = c
        .query_first(
            "SELECT MAX(trx_rows_modified) FROM information_schema.INNODB_TRX \
             WHERE trx_mysql_thread_id <> CONNECTION_ID()",
        )
        .await
        .unwrap();
    c.disconnect().await.ok();
    now.flatten()
}

/// Above the server's 0.1 s `INNODB_TRX` cache refresh threshold.
const TRX_POLL: Duration = Duration::from_millis(150);

/// Pause of the move between its DELETE and its INSERT in this test.
const MOVE_PAUSE_MS: u64 = 2000;

/// Waits until the move of key 1 (n1) to 2 (n2) is in its window: on n1
/// its transaction has updated the row's primary key (InnoDB counts 2
/// changes) and deleted it (1 more), on n2 its branch has written nothing.
/// When it was seen there, and since when at most the DELETE can have
/// been done (the start of the poll before); `None` if never seen.
async fn in_move_window(topo: &Topology) -> Option<(std::time::Instant, std::time::Instant)> {
    let started = std::time::Instant::now();
    let mut previous = started;
    while started.elapsed() < Duration::from_secs(10) {
        let poll = std::time::Instant::now();
        if rows_modified(topo, "n1p").await == Some(3)
            && rows_modified(topo, "n2p").await.unwrap_or(0) == 0
        {
            return Some((std::time::Instant::now(), previous));
        }
        previous = poll;
        tokio::time::sleep(TRX_POLL).await;
    }
    None
}

/// Kills between the DELETE on n1 and the INSERT on n2: of the new key's
/// primary (n2p), of the old key's (n1p, the coordinator), then of
/// shardcat. Either way the row is where it was or
/// where it goes, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_between_delete_and_insert_lose_nothing() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    std::env::set_var("SHARDCAT_MOVE_TEST_DELAY_MS", MOVE_PAUSE_MS.to_string());
    let options = ProxyOptions {
        routing: "transactions = \"xa\"\nxa_recovery_interval_ms = 300\n".into(),
        extra: rules(),
        ..Default::default()
    };
    let mut proxy = ProxyProcess::start_with(&topo, options.clone());
    std::env::remove_var("SHARDCAT_MOVE_TEST_DELAY_MS");
    let db = util::db_name("kmfault");
    let mut p = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
        UK.to_owned(),
        "INSERT INTO uk VALUES (1, 10), (5, 50)".to_owned(),
    ] {
        q(&mut p, &sql).await.unwrap();
    }
    let before = placed(&topo, &db).await;
    // 1 (slot 1, n1) moves to 2 (slot 2, n2).
    for victim in ["n2p", "n1p", "shardcat"] {
        // After a kill, the restarted server takes writes again once the
        // proxy's health checks have seen it: a locking read reaches both
        // primaries.
        let mut probe = util::proxy_conn(&proxy, Some(&db)).await;
        let ready = common::wait_for(Duration::from_secs(20), async || {
            let r = q(&mut probe, "SELECT COUNT(*) FROM uk FOR UPDATE").await;
            r.is_ok().then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "{victim}: both primaries never took writes"
        );
        let mut mover = util::proxy_conn(&proxy, Some(&db)).await;
        let sent = std::time::Instant::now();
        let moving = tokio::spawn(async move {
            let r = mover.query_drop("UPDATE uk SET k = 2 WHERE k = 1").await;
            (r, mover)
        });
        let Some((seen, earliest)) = in_move_window(&topo).await else {
            panic!("{victim}: the move never reached its DELETE");
        };
        // The kill (now) is at most this long after the DELETE, well
        // inside the pause before the INSERT.
        let into_window = earliest.elapsed();
        assert!(
            into_window < Duration::from_millis(MOVE_PAUSE_MS / 2),
            "{victim}: the window was seen too late (up to {into_window:?} into it)"
        );
        println!(
            "{victim}: in the window {:?} after the UPDATE was sent; killed at most \
             {into_window:?} after the DELETE (pause {MOVE_PAUSE_MS} ms): landed",
            seen - sent
        );
        match victim {
            "n2p" | "n1p" => {
                sigkill(rw::checked_pid(&topo, victim));
                let (r, _) = moving.await.expect("join");
                assert!(r.is_err(), "the move must fail when {victim} dies");
                let t = topo.clone();
                tokio::task::spawn_blocking(move || t.start_instance(victim))
                    .await
                    .expect("join")
                    .unwrap_or_else(|e| panic!("start {victim}: {e}"));
            }
            _ => {
                sigkill(proxy.pid() as i32);
                proxy.wait_exit(Duration::from_secs(5));
                let _ = moving.await;
                proxy = ProxyProcess::start_with(&topo, options.clone());
            }
        }
        let after = common::wait_for(Duration::from_secs(15), async || {
            let now = placed(&topo, &db).await;
            (now == before).then_some(now)
        })
        .await;
        assert_eq!(after, Some(before.clone()), "{victim}: rows after the kill");
    }
    // And the move itself still works afterwards.
    let mut p = util::proxy_conn(&proxy, Some(&db)).await;
    for _ in 0..20 {
        if q(&mut p, "UPDATE uk SET k = 2 WHERE k = 1").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = placed(&topo, &db).await;
    assert_eq!(
        rows,
        vec![("n1p".into(), 5, 50), ("n2p".into(), 2, 10)],
        "the move after the kills"
    );
    q(&mut p, &format!("DROP DATABASE {db}")).await.unwrap();
}

/// Branches prepared on `server` with a gtrid starting `prefix`.
async fn prepared_like(topo: &Topology, server: &str, prefix: &str) -> usize {
    let mut c = util::direct_conn(topo, server, None).await;
    let rows: Vec<Row> = c.query("XA RECOVER").await.unwrap();
    c.disconnect().await.ok();
    rows.into_iter()
        .filter(|r| {
            let data: Vec<u8> = r.get(3).unwrap_or_default();
            data.starts_with(prefix.as_bytes())
        })
        .count()
}

/// A proxy started in `best_effort` mode runs no XA recovery; the reload
/// that turns `xa` on starts it: a branch left prepared (its coordinator
/// never logged a decision) is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_enabling_xa_starts_recovery() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let best_effort = ProxyOptions {
        routing: "transactions = \"best_effort\"\nxa_recovery_interval_ms = 200\n".into(),
        ..Default::default()
    };
    let proxy = ProxyProcess::start_with(&topo, best_effort);
    let db = util::db_name("xareload");
    util::setup_db_on(&topo, "n2p", &db, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    // A shardcat gtrid of instance 9 coordinated on node 0 (n1), whose
    // decision row does not exist: recovery must roll it back.
    let gtrid = format!("sc:9:1r{}:1:0", std::process::id());
    let mut c = util::direct_conn(&topo, "n2p", Some(&db)).await;
    for sql in [
        format!("XA START '{gtrid}','b1'"),
        "INSERT INTO t VALUES (1)".to_owned(),
        format!("XA END '{gtrid}','b1'"),
        format!("XA PREPARE '{gtrid}','b1'"),
    ] {
        q(&mut c, &sql).await.unwrap();
    }
    c.disconnect().await.ok();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        prepared_like(&topo, "n2p", &gtrid).await,
        1,
        "no recovery in best_effort"
    );
    let xa = ProxyOptions {
        routing: "transactions = \"xa\"\nxa_recovery_interval_ms = 200\n".into(),
        ..Default::default()
    };
    std::fs::write(
        &proxy.config_path,
        ProxyProcess::config_text(&topo, proxy.port, &xa),
    )
    .unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let gone = common::wait_for(Duration::from_secs(10), async || {
        (prepared_like(&topo, "n2p", &gtrid).await == 0).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the reload did not start recovery:\n{}",
        util::tail(&proxy.log())
    );
    let mut c = util::direct_conn(&topo, "n2p", Some(&db)).await;
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(n, Some(0), "the branch was rolled back");
    c.disconnect().await.ok();
    util::drop_db_on(&topo, "n2p", &db).await;
}

/// The decision log cannot be forged through shardcat: a user without the
/// admin role or a privilege list naming it (here `other`, mapped on the
/// backend account that writes the log) gets the server's 1142 / 1044 for
/// `shardcat.xa_log` (as for the `mysql` schema).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_log_is_out_of_clients_reach() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: "transactions = \"xa\"\n".into(),
            extra: rules(),
            ..Default::default()
        },
    );
    let mut c = Conn::new(util::proxy_opts(&proxy, "other", "other-pw", None))
        .await
        .unwrap();
    for (sql, code) in [
        (
            "INSERT INTO shardcat.xa_log (gtrid) VALUES ('sc:1:1r0:1:0')",
            1142,
        ),
        ("SELECT * FROM shardcat.xa_log", 1142),
        ("DELETE FROM shardcat.xa_log", 1142),
        ("USE shardcat", 1044),
    ] {
        let e = c.query_drop(sql).await.expect_err(sql);
        assert_eq!(util::server_error(e).0, code, "{sql}");
    }
    c.disconnect().await.ok();
}
