//! Protocol correctness through the proxy, compared with MariaDB direct:
//! binary prepared statements, multi-statements, OK packet contents,
//! packets over 16 MiB, and the utility commands (CHANGE_USER,
//! RESET_CONNECTION, PING, INIT_DB, STATISTICS, FIELD_LIST).
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};
use raw::{RawConn, Reply};
use util::*;

const DIRECT_USER_NOTE: &str = "direct = MariaDB n1p with the topology user";

async fn raw_proxy(proxy: &impl ProxyLike, db: Option<&str>, caps: u32) -> RawConn {
    RawConn::connect(proxy.port(), "app", "app", db, caps).await
}

async fn raw_direct(topo: &Topology, db: Option<&str>, caps: u32) -> RawConn {
    RawConn::connect(topo.port("n1p"), &topo.user, &topo.password, db, caps).await
}

// ===================================================================
// 1. Prepared statements
// ===================================================================

const TYPES_DDL: &str = "CREATE TABLE types (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
    bi BIGINT, biu BIGINT UNSIGNED,
    dec65 DECIMAL(65,30), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
    vc VARCHAR(100), ch CHAR(10), tx TEXT, bl BLOB, lbl LONGBLOB, js JSON, bt BIT(64),
    en ENUM('a','b','c'), st SET('x','y','z')
) DEFAULT CHARSET=utf8mb4";

const TYPES_COLS: usize = 28;

fn all_bytes() -> Vec<u8> {
    (0..=255u8).collect()
}

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// Four rows: minimum extremes, maximum extremes, all NULL, mixed NULLs.
fn type_rows() -> Vec<Vec<Value>> {
    let nines35 = "9".repeat(35);
    let nines30 = "9".repeat(30);
    let min = vec![
        Value::Int(1),
        Value::Int(-128),
        Value::UInt(0),
        Value::Int(-32768),
        Value::UInt(0),
        Value::Int(-8388608),
        Value::UInt(0),
        Value::Int(i32::MIN as i64),
        Value::UInt(0),
        Value::Int(i64::MIN),
        Value::UInt(0),
        bytes(&format!("-{nines35}.{nines30}")),
        Value::Float(-1.25e30),
        Value::Double(f64::MIN),
        Value::Date(1000, 1, 1, 0, 0, 0, 0),
        Value::Date(1000, 1, 1, 0, 0, 0, 0),
        Value::Date(1970, 1, 2, 0, 0, 0, 1),
        Value::Time(true, 34, 22, 59, 59, 0), // -838:59:59
        Value::UInt(1901),
        bytes(""),
        bytes("a"),
        bytes(""),
        Value::Bytes(Vec::new()),
        Value::Bytes(Vec::new()),
        bytes("[]"),
        Value::UInt(0),
        bytes("a"),
        bytes(""),
    ];
    let max = vec![
        Value::Int(2),
        Value::Int(127),
        Value::UInt(255),
        Value::Int(32767),
        Value::UInt(65535),
        Value::Int(8388607),
        Value::UInt(16777215),
        Value::Int(i32::MAX as i64),
        Value::UInt(u32::MAX as u64),
        Value::Int(i64::MAX),
        Value::UInt(u64::MAX),
        bytes(&format!("{nines35}.{nines30}")),
        Value::Float(6.5e-30),
        Value::Double(f64::MAX),
        Value::Date(9999, 12, 31, 0, 0, 0, 0),
        Value::Date(9999, 12, 31, 23, 59, 59, 999_999),
        Value::Date(2038, 1, 18, 3, 14, 7, 999_999),
        Value::Time(false, 34, 22, 59, 59, 0), // 838:59:59
        Value::UInt(2155),
        bytes("héllo wörld ✓ 😀 ' \" \\ \0 end"),
        bytes("abcdefghij"),
        bytes(&"ünïcødé ".repeat(2000)),
        Value::Bytes(all_bytes()),
        Value::Bytes(pseudo_random(1 << 20, 7)),
        bytes(r#"{"a": [1, 2, {"b": null}], "c": "é"}"#),
        Value::UInt(u64::MAX),
        bytes("c"),
        bytes("x,y,z"),
    ];
    let mut nulls = vec![Value::NULL; TYPES_COLS];
    nulls[0] = Value::Int(3);
    // Every other column NULL, so the NULL bitmap spans all its bytes.
    let mut mixed: Vec<Value> = max
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 1 { Value::NULL } else { v.clone() })
        .collect();
    mixed[0] = Value::Int(4);
    mixed[12] = Value::Float(-3.5);
    mixed[16] = Value::Date(2024, 2, 29, 12, 30, 45, 123_456);
    mixed[17] = Value::Time(true, 0, 12, 34, 56, 789_012); // -12:34:56.789012
                                                           // A fractional, negative TIME and a mid-range DECIMAL in row 5.
    let mut frac = min.clone();
    frac[0] = Value::Int(5);
    frac[11] = bytes("-0.000000000000000000000000000001");
    frac[13] = Value::Double(f64::MIN_POSITIVE);
    frac[15] = Value::Date(2024, 2, 29, 23, 59, 59, 123_456);
    frac[17] = Value::Time(true, 1, 2, 3, 4, 567_890); // -26:03:04.567890
    vec![min, max, nulls, mixed, frac]
}

fn insert_sql() -> String {
    format!(
        "INSERT INTO types VALUES ({})",
        vec!["?"; TYPES_COLS].join(",")
    )
}

/// What the server returns for what was inserted, in the binary protocol:
/// the inserted values with the column types' own decoding.
fn expected_binary(v: &Value, col: usize) -> Value {
    match (col, v) {
        (_, Value::NULL) => Value::NULL,
        // YEAR comes back as a SHORT (UNSIGNED ZEROFILL): an unsigned int.
        (18, Value::UInt(y)) => Value::UInt(*y),
        // BIT(64): 8 big-endian bytes.
        (25, Value::UInt(b)) => Value::Bytes(b.to_be_bytes().to_vec()),
        // DATE: no time part.
        (14, Value::Date(y, m, d, ..)) => Value::Date(*y, *m, *d, 0, 0, 0, 0),
        // JSON is stored normalised by MariaDB? No: MariaDB keeps the text.
        (_, other) => other.clone(),
    }
}

fn normalise(v: Value) -> Value {
    // Ints come back as Int for signed and UInt for unsigned columns; make
    // the comparison independent of that detail for small values.
    match v {
        Value::Int(i) if i >= 0 => Value::UInt(i as u64),
        other => other,
    }
}

#[tokio::test]
async fn prepared_every_column_type_round_trip() {
    let topo = Topology::from_env();
    let db = db_name("ps_types");
    setup_db(&topo, &db, &[TYPES_DDL]).await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    let rows = type_rows();
    let ins = conn.prep(insert_sql()).await.expect("prepare insert");
    assert_eq!(ins.num_params() as usize, TYPES_COLS);
    for r in &rows {
        conn.exec_drop(&ins, Params::Positional(r.clone()))
            .await
            .unwrap_or_else(|e| panic!("insert {:?}: {e}", r[0]));
    }

    // Binary protocol through the proxy vs. direct on the primary.
    let mut direct = direct_conn(&topo, "n1p", Some(&db)).await;
    let sel = "SELECT * FROM types WHERE id = ?";
    for r in &rows {
        let id = r[0].clone();
        let via: Row = conn
            .exec_first(sel, (id.clone(),))
            .await
            .unwrap()
            .expect("row via proxy");
        let dir: Row = direct
            .exec_first(sel, (id.clone(),))
            .await
            .unwrap()
            .expect("row direct");
        let via = via.unwrap();
        let dir = dir.unwrap();
        assert_eq!(via.len(), TYPES_COLS);
        for c in 0..TYPES_COLS {
            assert_eq!(
                via[c], dir[c],
                "row {id:?} column {c}: proxy vs direct ({DIRECT_USER_NOTE})"
            );
            assert_eq!(
                normalise(via[c].clone()),
                normalise(expected_binary(&r[c], c)),
                "row {id:?} column {c}: value read back through the proxy differs from what was bound"
            );
        }
    }

    // Text protocol, whole table, proxy vs. direct.
    let via: Vec<Row> = conn.query("SELECT * FROM types ORDER BY id").await.unwrap();
    let dir: Vec<Row> = direct
        .query("SELECT * FROM types ORDER BY id")
        .await
        .unwrap();
    assert_eq!(via.len(), rows.len());
    for (a, b) in via.into_iter().zip(dir) {
        assert_eq!(a.unwrap(), b.unwrap(), "text protocol row differs");
    }

    // Parameters echoed straight back (type inference of `?` results).
    let echo = format!("SELECT {}", ["?"; 12].join(", "));
    for r in &rows {
        let params: Vec<Value> = r[1..13].to_vec();
        let via: Row = conn
            .exec_first(echo.as_str(), Params::Positional(params.clone()))
            .await
            .unwrap()
            .unwrap();
        let dir: Row = direct
            .exec_first(echo.as_str(), Params::Positional(params))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            via.unwrap(),
            dir.unwrap(),
            "echoed params differ for row {:?}",
            r[0]
        );
    }

    // NULL-only execute of a 28-parameter statement via a fresh prepare.
    let n: Option<i64> = conn
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM types WHERE {}",
                (0..TYPES_COLS)
                    .map(|_| "? IS NULL")
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            Params::Positional(vec![Value::NULL; TYPES_COLS]),
        )
        .await
        .unwrap();
    assert_eq!(n, Some(5));

    conn.disconnect().await.unwrap();
    direct.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn prepared_statement_executed_100_times() {
    let topo = Topology::from_env();
    let db = db_name("ps_reexec");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    let ins = conn.prep("INSERT INTO t VALUES (?, ?)").await.unwrap();
    for i in 0..100i64 {
        conn.exec_drop(&ins, (i, format!("v{i}"))).await.unwrap();
        assert_eq!(conn.affected_rows(), 1);
    }
    let sel = conn
        .prep("SELECT v, ? + 1 FROM t WHERE id = ?")
        .await
        .unwrap();
    for i in 0..100i64 {
        let r: Option<(String, i64)> = conn.exec_first(&sel, (i, i)).await.unwrap();
        assert_eq!(r, Some((format!("v{i}"), i + 1)), "execution {i}");
    }
    let n: Option<i64> = conn.query_first("SELECT COUNT(*) FROM t").await.unwrap();
    assert_eq!(n, Some(100));
    conn.close(sel).await.unwrap();
    conn.close(ins).await.unwrap();
    conn.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// The libmariadb / sysbench / old PDO pattern: types are bound on the
/// first execute only; later executes send `new_params_bound = 0`. Through
/// the proxy the later executes may run on other backend connections
/// (round robin over two replicas).
#[tokio::test]
async fn prepared_execute_without_new_params_bound() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut answers = Vec::new();
    for side in ["proxy", "direct"] {
        let mut c = if side == "proxy" {
            raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await
        } else {
            raw_direct(&topo, None, raw::DEFAULT_CAPS).await
        };
        let p = c
            .prepare("SELECT CONCAT(?, '') AS v")
            .await
            .unwrap()
            .expect("prepare");
        assert_eq!(p.params, 1);
        let mut got = Vec::new();
        let r = c
            .execute(
                p.id,
                1,
                &[false],
                Some(&[(raw::MYSQL_TYPE_LONGLONG, false)]),
                &41i64.to_le_bytes(),
            )
            .await
            .unwrap();
        got.push(r.scalar());
        for k in 42..52i64 {
            let r = c
                .execute(p.id, 1, &[false], None, &k.to_le_bytes())
                .await
                .unwrap();
            got.push(r.scalar());
        }
        // NULL with no types bound again.
        let r = c.execute(p.id, 1, &[true], None, &[]).await.unwrap();
        got.push(r.scalar());
        // Re-bind to a string type, then unbound again.
        let mut v = Vec::new();
        raw::put_lenenc_bytes(&mut v, b"str");
        let r = c
            .execute(
                p.id,
                1,
                &[false],
                Some(&[(raw::MYSQL_TYPE_VAR_STRING, false)]),
                &v,
            )
            .await
            .unwrap();
        got.push(r.scalar());
        let mut v = Vec::new();
        raw::put_lenenc_bytes(&mut v, b"again");
        let r = c.execute(p.id, 1, &[false], None, &v).await.unwrap();
        got.push(r.scalar());
        answers.push(got);
    }
    let expected: Vec<Option<String>> = (41..52)
        .map(|k| Some(k.to_string()))
        .chain([None, Some("str".into()), Some("again".into())])
        .collect();
    assert_eq!(answers[1], expected, "direct MariaDB");
    assert_eq!(answers[0], expected, "through the proxy");
}

/// The very first execute of a statement without types: compare with the
/// server's own answer.
#[tokio::test]
async fn prepared_first_execute_without_types_like_server() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut replies = Vec::new();
    for side in ["proxy", "direct"] {
        let mut c = if side == "proxy" {
            raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await
        } else {
            raw_direct(&topo, None, raw::DEFAULT_CAPS).await
        };
        let p = c
            .prepare("SELECT CONCAT(?, '') AS v")
            .await
            .unwrap()
            .expect("prepare");
        let r = c
            .execute(p.id, 1, &[false], None, &7i64.to_le_bytes())
            .await
            .unwrap();
        let after = c.query("SELECT 1").await.unwrap();
        replies.push((side, r, after.scalar()));
    }
    let (_, proxy_r, proxy_after) = &replies[0];
    let (_, direct_r, _) = &replies[1];
    assert_eq!(
        proxy_after.as_deref(),
        Some("1"),
        "session usable afterwards"
    );
    match (proxy_r, direct_r) {
        (Reply::Err(a), Reply::Err(b)) => assert_eq!(
            (a.code, &a.state),
            (b.code, &b.state),
            "proxy {a:?} vs direct {b:?}"
        ),
        (a, b) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "proxy {a:?} vs direct {b:?}"
        ),
    }
}

#[tokio::test]
async fn prepared_identical_sql_distinct_ids_and_close() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut c = raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await;
    let sql = "SELECT CONCAT('x', ?) AS v";
    let a = c.prepare(sql).await.unwrap().unwrap();
    let b = c.prepare(sql).await.unwrap().unwrap();
    assert_ne!(
        a.id, b.id,
        "identical PREPAREs must get distinct statement ids"
    );
    let mut v = Vec::new();
    raw::put_lenenc_bytes(&mut v, b"1");
    let ty = [(raw::MYSQL_TYPE_VAR_STRING, false)];
    assert_eq!(
        c.execute(a.id, 1, &[false], Some(&ty), &v)
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("x1")
    );
    assert_eq!(
        c.execute(b.id, 1, &[false], Some(&ty), &v)
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("x1")
    );
    // COM_STMT_CLOSE has no reply.
    let mut close = vec![raw::COM_STMT_CLOSE];
    close.extend_from_slice(&a.id.to_le_bytes());
    c.send_command(&close).await.unwrap();
    let mut v2 = Vec::new();
    raw::put_lenenc_bytes(&mut v2, b"2");
    for _ in 0..5 {
        let r = c.execute(b.id, 1, &[false], Some(&ty), &v2).await.unwrap();
        assert_eq!(
            r.scalar().as_deref(),
            Some("x2"),
            "the other statement still works after closing one"
        );
    }
    let e = c.execute(a.id, 1, &[false], Some(&ty), &v2).await.unwrap();
    let e = e.err();
    assert_eq!((e.code, e.state.as_str()), (1243, "HY000"), "{e:?}");
    // A third prepare of the same SQL after the close still works.
    let d = c.prepare(sql).await.unwrap().unwrap();
    assert!(d.id != a.id && d.id != b.id);
    assert_eq!(
        c.execute(d.id, 1, &[false], Some(&ty), &v2)
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("x2")
    );
    assert_eq!(
        c.query("SELECT 1").await.unwrap().scalar().as_deref(),
        Some("1")
    );
}

/// Same as above through mysql_async with its statement cache disabled, so
/// it really prepares twice.
#[tokio::test]
async fn prepared_identical_sql_twice_mysql_async() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut conn = Conn::new(proxy_opts(&proxy, "app", "app", None).stmt_cache_size(0))
        .await
        .unwrap();
    let a = conn.prep("SELECT ? * 2").await.unwrap();
    let b = conn.prep("SELECT ? * 2").await.unwrap();
    assert_ne!(a.id(), b.id());
    let x: Option<i64> = conn.exec_first(&a, (21,)).await.unwrap();
    let y: Option<i64> = conn.exec_first(&b, (4,)).await.unwrap();
    assert_eq!((x, y), (Some(42), Some(8)));
    conn.close(a).await.unwrap();
    let y: Option<i64> = conn.exec_first(&b, (5,)).await.unwrap();
    assert_eq!(y, Some(10));
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn prepared_limit_placeholder() {
    let topo = Topology::from_env();
    let db = db_name("ps_limit");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY)",
            "INSERT INTO t SELECT seq FROM seq_1_to_20",
        ],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    let ids: Vec<i64> = conn
        .exec("SELECT id FROM t ORDER BY id LIMIT ?", (3,))
        .await
        .unwrap();
    assert_eq!(ids, vec![1, 2, 3]);
    let ids: Vec<i64> = conn
        .exec("SELECT id FROM t ORDER BY id LIMIT ?, ?", (5, 2))
        .await
        .unwrap();
    assert_eq!(ids, vec![6, 7]);
    let ids: Vec<i64> = conn
        .exec(
            "SELECT id FROM t ORDER BY id LIMIT ? OFFSET ?",
            (2u64, 18u64),
        )
        .await
        .unwrap();
    assert_eq!(ids, vec![19, 20]);
    conn.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// SEND_LONG_DATA in several chunks, then an execute without values for
/// those parameters; then COM_STMT_RESET discards pending long data.
/// Compared with the server direct.
#[tokio::test]
async fn prepared_send_long_data_and_reset() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut results = Vec::new();
    for side in ["proxy", "direct"] {
        let mut c = if side == "proxy" {
            raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await
        } else {
            raw_direct(&topo, None, raw::DEFAULT_CAPS).await
        };
        let p = c
            .prepare("SELECT LENGTH(?) AS len, MD5(?) AS h")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.params, 2);
        let blob = [(raw::MYSQL_TYPE_BLOB, false), (raw::MYSQL_TYPE_BLOB, false)];
        let long = |param: u16, data: &[u8]| {
            let mut v = vec![raw::COM_STMT_SEND_LONG_DATA];
            v.extend_from_slice(&p.id.to_le_bytes());
            v.extend_from_slice(&param.to_le_bytes());
            v.extend_from_slice(data);
            v
        };
        let chunk = pseudo_random(100_000, 3);
        for _ in 0..3 {
            c.send_command(&long(0, &chunk)).await.unwrap();
        }
        c.send_command(&long(1, b"hel")).await.unwrap();
        c.send_command(&long(1, b"lo")).await.unwrap();
        let r1 = c
            .execute(p.id, 2, &[false, false], Some(&blob), &[])
            .await
            .unwrap();
        // Long data is consumed by the execute: now values travel inline.
        let mut v = Vec::new();
        raw::put_lenenc_bytes(&mut v, b"xyz");
        raw::put_lenenc_bytes(&mut v, b"abc");
        let r2 = c
            .execute(p.id, 2, &[false, false], Some(&blob), &v)
            .await
            .unwrap();
        // Long data then RESET: the data is dropped.
        c.send_command(&long(0, b"discard me")).await.unwrap();
        let mut reset = vec![raw::COM_STMT_RESET];
        reset.extend_from_slice(&p.id.to_le_bytes());
        c.send_command(&reset).await.unwrap();
        let reset_reply = c.read_reply(false).await.unwrap();
        let r3 = c
            .execute(p.id, 2, &[false, false], Some(&blob), &v)
            .await
            .unwrap();
        // RESET of an unknown statement.
        let mut reset = vec![raw::COM_STMT_RESET];
        reset.extend_from_slice(&999_999u32.to_le_bytes());
        c.send_command(&reset).await.unwrap();
        let bad_reset = c.read_reply(false).await.unwrap();
        let after = c.query("SELECT 'still here'").await.unwrap();
        results.push((r1, r2, reset_reply, r3, bad_reset, after));
    }
    let (p, d) = (&results[0], &results[1]);
    // Sanity of the direct answers.
    assert_eq!(d.0.rows()[0][0], Some(300_000u32.to_le_bytes().to_vec()));
    assert_eq!(
        d.0.rows()[0][1].as_deref(),
        Some(&b"5d41402abc4b2a76b9719d911017c592"[..])
    );
    assert_eq!(p.0, d.0, "execute with long data: proxy vs direct");
    assert_eq!(p.1, d.1, "execute after long data: proxy vs direct");
    assert!(
        matches!(p.2, Reply::Ok(_)),
        "COM_STMT_RESET answer through the proxy: {:?}",
        p.2
    );
    assert!(matches!(d.2, Reply::Ok(_)));
    assert_eq!(p.3, d.3, "execute after reset: proxy vs direct");
    let (pe, de) = (p.4.err(), d.4.err());
    assert_eq!(
        (pe.code, &pe.state),
        (de.code, &de.state),
        "reset of unknown id: {pe:?} vs {de:?}"
    );
    assert_eq!(p.5.scalar().as_deref(), Some("still here"));
}

/// A prepared INSERT of a 1 MiB and a 17 MiB parameter through mysql_async
/// (which switches to SEND_LONG_DATA for the big one).
#[tokio::test]
async fn prepared_big_parameter_via_long_data() {
    let topo = Topology::from_env();
    let db = db_name("ps_long");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn =
        Conn::new(proxy_opts(&proxy, "app", "app", Some(&db)).max_allowed_packet(Some(64 << 20)))
            .await
            .unwrap();
    let small = pseudo_random(1 << 20, 11);
    conn.exec_drop("INSERT INTO t VALUES (?, ?)", (1, small.clone()))
        .await
        .unwrap();
    let md5: Option<String> = conn
        .exec_first("SELECT MD5(b) FROM t WHERE id = ?", (1,))
        .await
        .unwrap();
    let back: Option<Vec<u8>> = conn
        .exec_first("SELECT b FROM t WHERE id = ?", (1,))
        .await
        .unwrap();
    assert_eq!(back.as_deref(), Some(&small[..]));
    assert_eq!(md5.map(|s| s.len()), Some(32));
    conn.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn prepared_unknown_statement_id_and_syntax_error() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    // Raw: unknown id on execute, compared with the server.
    let mut msgs = Vec::new();
    for side in ["proxy", "direct"] {
        let mut c = if side == "proxy" {
            raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await
        } else {
            raw_direct(&topo, None, raw::DEFAULT_CAPS).await
        };
        let r = c.execute(0xDEAD, 0, &[], None, &[]).await.unwrap();
        let e = r.err().clone();
        assert_eq!((e.code, e.state.as_str()), (1243, "HY000"), "{side}: {e:?}");
        assert_eq!(
            c.query("SELECT 5").await.unwrap().scalar().as_deref(),
            Some("5"),
            "{side}: session usable"
        );
        msgs.push(e.message);
    }
    assert_eq!(msgs[0], msgs[1], "message of 1243: proxy vs direct");

    // mysql_async: syntax error on prepare.
    let mut conn = proxy_conn(&proxy, None).await;
    let (code, state, msg) = expect_server_error(conn.prep("SELEC 1").await);
    assert_eq!((code, state.as_str()), (1064, "42000"), "{msg}");
    let mut direct = direct_conn(&topo, "n1p", None).await;
    let (_, _, dmsg) = expect_server_error(direct.prep("SELEC 1").await);
    assert_eq!(msg, dmsg);
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    // Preparing against a missing table: like the server (1146).
    let a = expect_server_error(conn.prep("SELECT * FROM no_such_db_xyz.t").await);
    let b = expect_server_error(direct.prep("SELECT * FROM no_such_db_xyz.t").await);
    assert_eq!(a, b);
    conn.disconnect().await.unwrap();
    direct.disconnect().await.unwrap();
    assert_proxy_serves(&proxy).await;
}

/// Statements sysbench / the C API prepare: whatever the server answers
/// (OK or ER_UNSUPPORTED_PS 1295), the proxy answers the same.
#[tokio::test]
async fn prepared_transaction_control_like_server() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut p = raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await;
    let mut d = raw_direct(&topo, None, raw::DEFAULT_CAPS).await;
    for sql in [
        "BEGIN",
        "COMMIT",
        "SET autocommit = ?",
        "SHOW TABLES",
        "SELECT ?",
        "SET @a = ?",
        "USE mysql",
    ] {
        let a = p.prepare(sql).await.unwrap();
        let b = d.prepare(sql).await.unwrap();
        match (&a, &b) {
            (Ok(x), Ok(y)) => assert_eq!((x.params, x.columns), (y.params, y.columns), "{sql}"),
            (Err(x), Err(y)) => assert_eq!((x.code, &x.state), (y.code, &y.state), "{sql}"),
            _ => panic!("{sql}: proxy {a:?} vs direct {b:?}"),
        }
    }
}

// ===================================================================
// 2. Multi-statements
// ===================================================================

#[tokio::test]
async fn multi_statement_all_result_sets_mysql_async() {
    let topo = Topology::from_env();
    let db = db_name("multi");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 10), (2, 20)",
        ],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    let mut res = conn
        .query_iter("SELECT 1; SELECT 2 UNION ALL SELECT 22; UPDATE t SET v = v + 1; SELECT 3")
        .await
        .unwrap();
    let mut sets: Vec<Vec<i64>> = Vec::new();
    while !res.is_empty() {
        let rows: Vec<Row> = res.collect().await.unwrap();
        sets.push(
            rows.into_iter()
                .map(|r| r.get::<i64, _>(0).unwrap())
                .collect(),
        );
    }
    drop(res);
    assert_eq!(sets, vec![vec![1], vec![2, 22], vec![], vec![3]]);
    let sum: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await.unwrap();
    assert_eq!(sum, Some(32), "the UPDATE in the middle ran");

    // An error in the middle stops the rest, like the server.
    let mut res = conn
        .query_iter("SELECT 1; SELECT * FROM no_such_table; UPDATE t SET v = 0; SELECT 3")
        .await
        .unwrap();
    let first: Vec<i64> = res.collect().await.unwrap();
    assert_eq!(first, vec![1]);
    let err = res
        .collect::<Row>()
        .await
        .expect_err("second statement fails");
    let (code, state, _) = server_error(err);
    assert_eq!((code, state.as_str()), (1146, "42S02"));
    drop(res);
    let sum: Option<i64> = conn.query_first("SELECT SUM(v) FROM t").await.unwrap();
    assert_eq!(
        sum,
        Some(32),
        "statements after the failing one must not run"
    );
    let x: Option<i64> = conn.query_first("SELECT 4").await.unwrap();
    assert_eq!(x, Some(4));
    conn.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// Exact replies (OK contents, flags) of multi-statements, proxy vs direct.
#[tokio::test]
async fn multi_statement_replies_like_server() {
    let topo = Topology::from_env();
    // One database per side, same contents, so both see the same data.
    let (db, dbd) = (db_name("multiraw"), db_name("multiraw_d"));
    for x in [&db, &dbd] {
        setup_db(
            &topo,
            x,
            &[
                "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
                "INSERT INTO t (v) VALUES (1), (2)",
            ],
        )
        .await;
    }
    let proxy = ProxyProcess::start(&topo);
    let caps = raw::DEFAULT_CAPS | raw::CLIENT_MULTI_STATEMENTS;
    let mut p = raw_proxy(&proxy, Some(&db), caps).await;
    let mut d = raw_direct(&topo, Some(&dbd), caps).await;
    let scripts = [
        "SELECT 1; SELECT 2; UPDATE t SET v = v + 1 WHERE id = 1; SELECT 3",
        "SELECT 1; SELECT * FROM no_such_table; SELECT 3",
        "INSERT INTO t (v) VALUES (5); INSERT INTO t (v) VALUES (6), (7); SELECT COUNT(*) FROM t",
        "SET @q = 1; SELECT @q + 1",
        "BEGIN; UPDATE t SET v = 9 WHERE id = 2; COMMIT",
        "SELECT 1;",
        "DO 1; DO 2",
    ];
    for s in scripts {
        let a = p.query_all(s).await.unwrap();
        let b = d.query_all(s).await.unwrap();
        assert_eq!(
            a.len(),
            b.len(),
            "{s}: number of results: proxy {a:?} direct {b:?}"
        );
        for (x, y) in a.iter().zip(&b) {
            match (x, y) {
                (Reply::Ok(x), Reply::Ok(y)) => {
                    assert_eq!(x.affected_rows, y.affected_rows, "{s}");
                    assert_eq!(x.status & 0x000B, y.status & 0x000B, "{s}: status flags");
                    assert_eq!(x.warnings, y.warnings, "{s}");
                    assert_eq!(x.last_insert_id, y.last_insert_id, "{s}");
                    assert_eq!(x.info, y.info, "{s}");
                }
                (Reply::Err(x), Reply::Err(y)) => {
                    let ym = y.message.replace(&dbd, &db);
                    assert_eq!(
                        (x.code, &x.state, &x.message),
                        (y.code, &y.state, &ym),
                        "{s}"
                    )
                }
                (
                    Reply::Rows {
                        columns: c1,
                        status: s1,
                        rows: r1,
                        ..
                    },
                    Reply::Rows {
                        columns: c2,
                        status: s2,
                        rows: r2,
                        ..
                    },
                ) => {
                    assert_eq!(c1, c2, "{s}");
                    assert_eq!(r1, r2, "{s}");
                    assert_eq!(
                        s1 & 0x000B,
                        s2 & 0x000B,
                        "{s}: status flags of the result set"
                    );
                }
                _ => panic!("{s}: proxy {x:?} vs direct {y:?}"),
            }
        }
        // Still in sync afterwards.
        assert_eq!(
            p.query("SELECT 'sync'").await.unwrap().scalar().as_deref(),
            Some("sync"),
            "{s}"
        );
    }
    drop_db(&topo, &db).await;
    drop_db(&topo, &dbd).await;
}

#[tokio::test]
async fn multi_statement_without_capability_is_syntax_error() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut p = raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await;
    let mut d = raw_direct(&topo, None, raw::DEFAULT_CAPS).await;
    for sql in ["SELECT 1; SELECT 2", "SELECT 1;SELECT 2;", "DO 1; DO 2"] {
        let a = p.query_all(sql).await.unwrap();
        let b = d.query_all(sql).await.unwrap();
        assert_eq!(b.len(), 1);
        let de = b[0].err();
        assert_eq!(
            (de.code, de.state.as_str()),
            (1064, "42000"),
            "direct: {de:?}"
        );
        assert_eq!(a.len(), 1, "{sql}: {a:?}");
        let pe = a[0].err();
        assert_eq!(
            (pe.code, pe.state.as_str()),
            (1064, "42000"),
            "proxy: {pe:?}"
        );
        assert_eq!(pe.message, de.message, "{sql}: message");
        assert_eq!(
            p.query("SELECT 7").await.unwrap().scalar().as_deref(),
            Some("7")
        );
    }
    // A trailing semicolon alone is fine on both sides.
    assert_eq!(
        p.query("SELECT 8;").await.unwrap().scalar().as_deref(),
        Some("8")
    );
    assert_eq!(
        d.query("SELECT 8;").await.unwrap().scalar().as_deref(),
        Some("8")
    );
}

// ===================================================================
// 3. OK packets
// ===================================================================

#[tokio::test]
async fn ok_affected_rows_with_and_without_found_rows() {
    let topo = Topology::from_env();
    let (db, dbd) = (db_name("okfound"), db_name("okfound_d"));
    let proxy = ProxyProcess::start(&topo);
    for found_rows in [false, true] {
        // Same starting data on both sides, each in its own database.
        for x in [&db, &dbd] {
            setup_db(
                &topo,
                x,
                &[
                    "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
                    "INSERT INTO t VALUES (1, 5), (2, 5), (3, 6)",
                ],
            )
            .await;
        }
        let mut via =
            Conn::new(proxy_opts(&proxy, "app", "app", Some(&db)).client_found_rows(found_rows))
                .await
                .unwrap();
        let mut dir =
            Conn::new(direct_opts(&topo, "n1p", Some(&dbd)).client_found_rows(found_rows))
                .await
                .unwrap();
        // Matches 2 rows, changes none.
        for (stmt, expect_plain, expect_found) in [
            ("UPDATE t SET v = 5 WHERE id IN (1, 2)", 0u64, 2u64),
            ("UPDATE t SET v = 5 WHERE id IN (1, 2, 3)", 1, 3),
            ("UPDATE t SET v = v WHERE id > 0", 0, 3),
            (
                "INSERT INTO t VALUES (1, 5) ON DUPLICATE KEY UPDATE v = 5",
                0,
                1,
            ),
        ] {
            via.query_drop(stmt).await.unwrap();
            let a = (via.affected_rows(), via.info().into_owned());
            dir.query_drop(stmt).await.unwrap();
            let b = (dir.affected_rows(), dir.info().into_owned());
            let want = if found_rows {
                expect_found
            } else {
                expect_plain
            };
            assert_eq!(b.0, want, "direct, found_rows={found_rows}: {stmt}");
            assert_eq!(
                a, b,
                "found_rows={found_rows}: {stmt}: proxy vs direct (affected, info)"
            );
        }
        // Same through the binary protocol.
        via.exec_drop("UPDATE t SET v = ? WHERE id IN (1, 2)", (5,))
            .await
            .unwrap();
        let want = if found_rows { 2 } else { 0 };
        assert_eq!(
            via.affected_rows(),
            want,
            "prepared, found_rows={found_rows}"
        );
        via.disconnect().await.unwrap();
        dir.disconnect().await.unwrap();
    }
    drop_db(&topo, &db).await;
    drop_db(&topo, &dbd).await;
}

#[tokio::test]
async fn ok_last_insert_id_single_and_multi_row() {
    let topo = Topology::from_env();
    let db = db_name("oklid");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 1000"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    conn.query_drop("INSERT INTO t (v) VALUES (1)")
        .await
        .unwrap();
    assert_eq!(conn.last_insert_id(), Some(1000));
    assert_eq!(conn.affected_rows(), 1);
    conn.query_drop("INSERT INTO t (v) VALUES (2), (3), (4)")
        .await
        .unwrap();
    assert_eq!(
        conn.last_insert_id(),
        Some(1001),
        "multi-row insert reports the first generated id"
    );
    assert_eq!(conn.affected_rows(), 3);
    assert_eq!(conn.info(), "Records: 3  Duplicates: 0  Warnings: 0");
    conn.exec_drop("INSERT INTO t (v) VALUES (?), (?)", (5, 6))
        .await
        .unwrap();
    assert_eq!(conn.last_insert_id(), Some(1004));
    // An explicit id: no generated id.
    conn.query_drop("INSERT INTO t (id, v) VALUES (5000, 7)")
        .await
        .unwrap();
    let mut direct = direct_conn(&topo, "n1p", Some(&db)).await;
    direct
        .query_drop("INSERT INTO t (id, v) VALUES (5001, 7)")
        .await
        .unwrap();
    // MariaDB reports the explicit value of the AUTO_INCREMENT column.
    assert_eq!(direct.last_insert_id(), Some(5001));
    assert_eq!(
        conn.last_insert_id(),
        Some(5000),
        "explicit id: like the server"
    );
    // The id a later statement reports (0 for a non-insert).
    conn.query_drop("UPDATE t SET v = v + 1 WHERE id = 1000")
        .await
        .unwrap();
    direct
        .query_drop("UPDATE t SET v = v + 1 WHERE id = 1000")
        .await
        .unwrap();
    assert_eq!(
        conn.last_insert_id(),
        direct.last_insert_id(),
        "after an UPDATE"
    );
    conn.disconnect().await.unwrap();
    direct.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

async fn show_warnings(c: &mut Conn) -> Vec<(String, u32, String)> {
    c.query("SHOW WARNINGS").await.unwrap()
}

#[tokio::test]
async fn ok_warning_count_and_show_warnings() {
    let topo = Topology::from_env();
    let db = db_name("okwarn");
    setup_db(&topo, &db, &["CREATE TABLE t (ti TINYINT, vc VARCHAR(3))"]).await;
    let proxy = ProxyProcess::start(&topo);
    let mut via = proxy_conn(&proxy, Some(&db)).await;
    let mut dir = direct_conn(&topo, "n1p", Some(&db)).await;
    for c in [&mut via, &mut dir] {
        c.query_drop("SET SESSION sql_mode = ''").await.unwrap();
    }
    let stmt = "INSERT INTO t VALUES (1000, 'abcdef'), (-1000, 'xyzw')";
    via.query_drop(stmt).await.unwrap();
    dir.query_drop(stmt).await.unwrap();
    assert_eq!(dir.get_warnings(), 4);
    assert_eq!(
        via.get_warnings(),
        dir.get_warnings(),
        "warning count in the OK packet"
    );
    assert_eq!(via.info(), dir.info());
    let wv = show_warnings(&mut via).await;
    let wd = show_warnings(&mut dir).await;
    assert_eq!(wd.len(), 4);
    assert_eq!(wv, wd, "SHOW WARNINGS after INSERT");
    // SHOW WARNINGS does not clear the list; SHOW COUNT(*) WARNINGS agrees.
    let cv: Option<i64> = via.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
    assert_eq!(cv, Some(4));
    let cv: Option<i64> = via.query_first("SELECT @@warning_count").await.unwrap();
    assert_eq!(cv, Some(4));

    // A read with a warning (goes to a replica): SHOW WARNINGS must be
    // answered by the same server.
    for _ in 0..4 {
        let v: Option<i64> = via
            .query_first("SELECT CAST('12abc' AS SIGNED)")
            .await
            .unwrap();
        assert_eq!(v, Some(12));
        let w = show_warnings(&mut via).await;
        assert_eq!(w.len(), 1, "warnings of the SELECT: {w:?}");
        assert_eq!(w[0].1, 1292);
    }
    // Prepared statement warnings.
    via.exec_drop("INSERT INTO t VALUES (?, ?)", (300, "toolong"))
        .await
        .unwrap();
    assert_eq!(via.get_warnings(), 2);
    assert_eq!(show_warnings(&mut via).await.len(), 2);
    // An error is listed by SHOW WARNINGS too.
    let _ = via
        .query_drop("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    let w = show_warnings(&mut via).await;
    assert_eq!(
        w.iter().map(|w| w.1).collect::<Vec<_>>(),
        vec![1146],
        "{w:?}"
    );
    // A statement that reads no table leaves them (as MariaDB does: the
    // same sequence directly keeps the 1146 error listed).
    via.query_drop("SELECT 1").await.unwrap();
    let w = show_warnings(&mut via).await;
    assert_eq!(
        w.iter().map(|w| w.1).collect::<Vec<_>>(),
        vec![1146],
        "SHOW WARNINGS after SELECT 1 (MariaDB keeps the previous list): {w:?}"
    );
    // Still one message (the error), as MariaDB answers directly.
    let cv: Option<i64> = via.query_first("SELECT @@warning_count").await.unwrap();
    assert_eq!(cv, Some(1));

    via.disconnect().await.unwrap();
    dir.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

const STATUS_MASK: u16 = raw::SERVER_STATUS_IN_TRANS | raw::SERVER_STATUS_AUTOCOMMIT | 0x2000;

/// Runs `steps` (SQL, or `#PING`) on the proxy and on the server, and
/// returns the IN_TRANS / AUTOCOMMIT / IN_TRANS_READONLY flags of each
/// answer, greeting first.
async fn status_trace(
    topo: &Topology,
    proxy: &impl ProxyLike,
    db: &str,
    steps: &[&'static str],
) -> Vec<Vec<(&'static str, u16)>> {
    let mut seen = Vec::new();
    for side in ["proxy", "direct"] {
        let mut c = if side == "proxy" {
            raw_proxy(proxy, Some(db), raw::DEFAULT_CAPS).await
        } else {
            raw_direct(topo, Some(db), raw::DEFAULT_CAPS).await
        };
        let mut flags = vec![("greeting", c.greeting.status & STATUS_MASK)];
        for &s in steps {
            let r = if s == "#PING" {
                c.ping().await.unwrap()
            } else {
                c.query(s).await.unwrap()
            };
            if let Reply::Err(e) = &r {
                panic!("{side}: {s}: {e:?}");
            }
            flags.push((s, r.status() & STATUS_MASK));
        }
        seen.push(flags);
    }
    seen
}

fn pretty_trace(v: &[(&str, u16)]) -> String {
    v.iter()
        .map(|(s, f)| format!("{s:32} {f:#06x}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn ok_status_flags_in_trans_and_autocommit() {
    let topo = Topology::from_env();
    let db = db_name("okstatus");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let steps = [
        "SELECT 1",
        "BEGIN",
        "SELECT 1",
        "#PING",
        "INSERT INTO t (v) VALUES (1)",
        "SELECT COUNT(*) FROM t",
        "COMMIT",
        "#PING",
        "SET autocommit = 0",
        "#PING",
        "SELECT 1",
        "SELECT COUNT(*) FROM t",
        "#PING",
        "COMMIT",
        "ROLLBACK",
        "SET autocommit = 1",
        "START TRANSACTION READ ONLY",
        "SELECT COUNT(*) FROM t",
        "#PING",
        "COMMIT",
        "START TRANSACTION",
        "SET autocommit = 1",
        "#PING",
        "BEGIN",
        "ROLLBACK",
    ];
    let seen = status_trace(&topo, &proxy, &db, &steps).await;
    assert_eq!(
        seen[0],
        seen[1],
        "status flags, proxy:\n{}\ndirect:\n{}",
        pretty_trace(&seen[0]),
        pretty_trace(&seen[1])
    );
    drop_db(&topo, &db).await;
}

/// Writes inside the implicit transaction of `autocommit = 0`. Uses a
/// backend account the read-only replicas refuse, so a write misrouted to
/// a replica fails (1290) instead of breaking replication.
#[tokio::test]
async fn ok_status_flags_autocommit_off_with_writes() {
    let topo = Topology::from_env();
    let db = db_name("okstatus_w");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB"],
    )
    .await;
    let proxy = CustomProxy::nosuper(&topo, ProxyOptions::default()).await;
    let steps = [
        "SET autocommit = 0",
        "SELECT COUNT(*) FROM t",
        "INSERT INTO t (v) VALUES (2)",
        "#PING",
        "COMMIT",
        "SELECT COUNT(*) FROM t",
        "ROLLBACK",
        "SET autocommit = 1",
    ];
    let seen = status_trace(&topo, &proxy, &db, &steps).await;
    assert_eq!(
        seen[0],
        seen[1],
        "status flags, proxy:\n{}\ndirect:\n{}",
        pretty_trace(&seen[0]),
        pretty_trace(&seen[1])
    );
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn ok_status_flags_mysql_async_last_ok() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, None).await;
    use mysql_async::consts::StatusFlags as F;
    let flags = |c: &Conn| {
        c.last_ok_packet()
            .map(|o| o.status_flags())
            .unwrap_or(F::empty())
    };
    conn.query_drop("BEGIN").await.unwrap();
    assert!(flags(&conn).contains(F::SERVER_STATUS_IN_TRANS));
    conn.query_drop("COMMIT").await.unwrap();
    assert!(!flags(&conn).contains(F::SERVER_STATUS_IN_TRANS));
    assert!(flags(&conn).contains(F::SERVER_STATUS_AUTOCOMMIT));
    conn.query_drop("SET autocommit = 0").await.unwrap();
    assert!(
        !flags(&conn).contains(F::SERVER_STATUS_AUTOCOMMIT),
        "{:?}",
        flags(&conn)
    );
    conn.query_drop("SET autocommit = 1").await.unwrap();
    assert!(flags(&conn).contains(F::SERVER_STATUS_AUTOCOMMIT));
    conn.disconnect().await.unwrap();
}

#[tokio::test]
async fn ok_info_of_update() {
    let topo = Topology::from_env();
    let db = db_name("okinfo");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1,1),(2,2),(3,3)",
        ],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut via = proxy_conn(&proxy, Some(&db)).await;
    via.query_drop("UPDATE t SET v = 2 WHERE id <= 2")
        .await
        .unwrap();
    assert_eq!(via.info(), "Rows matched: 2  Changed: 1  Warnings: 0");
    via.query_drop("ALTER TABLE t ADD COLUMN w INT")
        .await
        .unwrap();
    assert_eq!(via.info(), "Records: 0  Duplicates: 0  Warnings: 0");
    via.query_drop("DELETE FROM t WHERE id = 3").await.unwrap();
    assert_eq!(via.affected_rows(), 1);
    assert_eq!(via.info(), "");
    via.query_drop("REPLACE INTO t (id, v) VALUES (1, 9)")
        .await
        .unwrap();
    assert_eq!(via.affected_rows(), 2);
    via.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

// ===================================================================
// 4. Packets over 16 MiB
// ===================================================================

async fn set_max_allowed_packet(topo: &Topology, bytes: u64) {
    for n in ["n1p", "n1r1", "n1r2"] {
        let mut c = direct_conn(topo, n, None).await;
        c.query_drop(format!("SET GLOBAL max_allowed_packet = {bytes}"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(b);
    d.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs `f` with max_allowed_packet = 64 MiB on n1p and its replicas
/// (MariaDB 10.11's default is 16 MiB). Tests that need it share a lock.
static BIG_PACKET_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn packets_over_16mib_server_to_client() {
    let _g = BIG_PACKET_LOCK.lock().await;
    let topo = Topology::from_env();
    let db = db_name("big_out");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)"],
    )
    .await;
    set_max_allowed_packet(&topo, 64 << 20).await;
    let proxy = ProxyProcess::start(&topo);
    let opts = proxy_opts(&proxy, "app", "app", Some(&db)).max_allowed_packet(Some(64 << 20));
    let mut conn = Conn::new(opts).await.unwrap();
    let blob = pseudo_random(20 << 20, 99);
    let want = sha256(&blob);

    // In: binary protocol (mysql_async sends it as SEND_LONG_DATA chunks).
    conn.exec_drop("INSERT INTO t VALUES (?, ?)", (1, blob.clone()))
        .await
        .unwrap();
    let server_sha: Option<String> = conn
        .query_first("SELECT SHA2(b, 256) FROM t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        server_sha.as_deref(),
        Some(want.as_str()),
        "what the server stored"
    );
    // Out: a 20 MiB row, text and binary protocol.
    let text: Option<Vec<u8>> = conn
        .query_first("SELECT b FROM t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(
        text.as_deref().map(sha256),
        Some(want.clone()),
        "text protocol, 20 MiB row"
    );
    let bin: Option<Vec<u8>> = conn
        .exec_first("SELECT b FROM t WHERE id = ?", (1,))
        .await
        .unwrap();
    assert_eq!(
        bin.as_deref().map(sha256),
        Some(want.clone()),
        "binary protocol, 20 MiB row"
    );
    // A row of one 16777211-byte value is a payload of exactly 0xFFFFFF,
    // followed by an empty continuation packet.
    let n = 0xFF_FFFF - 4;
    let row: Option<Vec<u8>> = conn
        .query_first(format!("SELECT REPEAT('a', {n})"))
        .await
        .unwrap();
    assert_eq!(row.map(|r| r.len()), Some(n));
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    conn.disconnect().await.unwrap();
    set_max_allowed_packet(&topo, 16 << 20).await;
    drop_db(&topo, &db).await;
}

/// Client packets of 16 MiB and more arrive as several physical packets;
/// the answer's sequence id continues after the *last* of them.
#[tokio::test]
async fn packets_over_16mib_client_to_server() {
    let _g = BIG_PACKET_LOCK.lock().await;
    let topo = Topology::from_env();
    let db = db_name("big_in");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB)"],
    )
    .await;
    set_max_allowed_packet(&topo, 64 << 20).await;
    let proxy = ProxyProcess::start(&topo);

    // Raw: a COM_QUERY payload of exactly 0xFFFFFF bytes (two physical
    // packets, seq 0 and 1) and one of 20 MiB (seq 0, 1): the first answer
    // packet must carry seq 2, like the server's.
    let prefix = "SELECT LENGTH('";
    let suffix = "')";
    let mut seqs = Vec::new();
    for fill in [0xFF_FFFF - 1 - prefix.len() - suffix.len(), 20 << 20] {
        let q = format!("{prefix}{}{suffix}", "b".repeat(fill));
        let mut payload = vec![raw::COM_QUERY];
        payload.extend_from_slice(q.as_bytes());
        for side in ["proxy", "direct"] {
            let mut c = if side == "proxy" {
                raw_proxy(&proxy, Some(&db), raw::DEFAULT_CAPS).await
            } else {
                raw_direct(&topo, Some(&db), raw::DEFAULT_CAPS).await
            };
            c.send_command(&payload).await.unwrap();
            let (seq, first) = c.read_packet().await.unwrap();
            assert_ne!(
                first.as_slice().iter().next(),
                Some(&0xFF),
                "{side}: {:?}",
                raw::parse_err(&first)
            );
            seqs.push((side, fill, seq));
        }
    }
    assert_eq!(
        seqs[0].2, seqs[1].2,
        "sequence id of the answer to a 0xFFFFFF-byte command: {seqs:?}"
    );
    assert_eq!(
        seqs[2].2, seqs[3].2,
        "sequence id of the answer to a 20 MiB command: {seqs:?}"
    );

    // mysql_async: a ~40 MiB INSERT (hex literal) and a 0xFFFFFF query.
    let opts = proxy_opts(&proxy, "app", "app", Some(&db)).max_allowed_packet(Some(64 << 20));
    let mut conn = Conn::new(opts).await.unwrap();
    let blob = pseudo_random(20 << 20, 5);
    let hex: String = blob.iter().map(|x| format!("{x:02x}")).collect();
    conn.query_drop(format!("INSERT INTO t VALUES (2, x'{hex}')"))
        .await
        .expect("40 MiB COM_QUERY");
    drop(hex);
    let sha: Option<String> = conn
        .query_first("SELECT SHA2(b, 256) FROM t WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(sha, Some(sha256(&blob)));
    let fill = 0xFF_FFFF - 1 - prefix.len() - suffix.len();
    let len: Option<i64> = conn
        .query_first(format!("{prefix}{}{suffix}", "c".repeat(fill)))
        .await
        .unwrap();
    assert_eq!(len, Some(fill as i64));
    conn.disconnect().await.unwrap();
    set_max_allowed_packet(&topo, 16 << 20).await;
    drop_db(&topo, &db).await;
}

// ===================================================================
// 6. Utility commands
// ===================================================================

#[tokio::test]
async fn com_change_user_right_and_wrong_password() {
    let topo = Topology::from_env();
    let db = db_name("chuser");
    setup_db(&topo, &db, &["CREATE TABLE t (id INT)"]).await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    conn.query_drop("SET @v = 'before'").await.unwrap();
    conn.query_drop("CREATE TEMPORARY TABLE tmp_cu (a INT)")
        .await
        .unwrap();
    conn.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("other".into()))
            .with_pass(Some("other-pw".into()))
            .with_db_name(Some(db.clone())),
    )
    .await
    .expect("change_user with the right password");
    let v: Option<Option<String>> = conn.query_first("SELECT @v").await.unwrap();
    assert_eq!(
        v,
        Some(None),
        "user variables are cleared by COM_CHANGE_USER"
    );
    let d: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(d.as_deref(), Some(db.as_str()));
    let (code, _, _) = expect_server_error(conn.query_drop("SELECT * FROM tmp_cu").await);
    assert_eq!(
        code, 1146,
        "temporary tables are dropped by COM_CHANGE_USER"
    );
    // To a user without password.
    conn.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("nopw".into()))
            .with_pass(Some(String::new())),
    )
    .await
    .expect("change_user to a user without password");
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    // Wrong password: 1045, and the connection is closed afterwards.
    let r = conn
        .change_user(
            mysql_async::ChangeUserOpts::default()
                .with_user(Some("app".into()))
                .with_pass(Some("nope".into())),
        )
        .await;
    let (code, state, msg) = expect_server_error(r);
    assert_eq!((code, state.as_str()), (1045, "28000"), "{msg}");
    assert!(msg.contains("'app'"), "{msg}");
    drop(conn);
    assert_proxy_serves(&proxy).await;
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn com_reset_connection_clears_session_state() {
    let topo = Topology::from_env();
    let db = db_name("reset");
    setup_db(&topo, &db, &["CREATE TABLE t (id INT)"]).await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    conn.query_drop("SET @v = 42").await.unwrap();
    conn.query_drop("CREATE TEMPORARY TABLE tmp_r (a INT)")
        .await
        .unwrap();
    conn.query_drop("INSERT INTO tmp_r VALUES (1)")
        .await
        .unwrap();
    conn.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    conn.query_drop("PREPARE s FROM 'SELECT 1'").await.unwrap();
    conn.query_drop("BEGIN").await.unwrap();
    assert!(
        conn.reset().await.unwrap(),
        "COM_RESET_CONNECTION supported"
    );
    let v: Option<Option<i64>> = conn.query_first("SELECT @v").await.unwrap();
    assert_eq!(v, Some(None), "user variable survived COM_RESET_CONNECTION");
    let (code, _, _) = expect_server_error(conn.query_drop("SELECT * FROM tmp_r").await);
    assert_eq!(code, 1146, "temporary table survived COM_RESET_CONNECTION");
    let mode: Option<String> = conn.query_first("SELECT @@SESSION.sql_mode").await.unwrap();
    let mut direct = direct_conn(&topo, "n1p", None).await;
    let global: Option<String> = direct
        .query_first("SELECT @@GLOBAL.sql_mode")
        .await
        .unwrap();
    assert_eq!(mode, global, "session variables back to the defaults");
    let (code, _, _) = expect_server_error(conn.query_drop("EXECUTE s").await);
    assert_eq!(code, 1243, "SQL prepared statement survived the reset");
    let d: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(
        d.as_deref(),
        Some(db.as_str()),
        "the current database is kept by COM_RESET_CONNECTION"
    );
    let flags = conn.last_ok_packet().map(|o| o.status_flags());
    let _ = flags;
    conn.disconnect().await.unwrap();
    direct.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn com_reset_connection_forgets_binary_statements() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut c = raw_proxy(&proxy, None, raw::DEFAULT_CAPS).await;
    let p = c.prepare("SELECT 1").await.unwrap().unwrap();
    assert!(
        c.execute(p.id, 0, &[], None, &[])
            .await
            .unwrap()
            .rows()
            .len()
            == 1
    );
    c.send_command(&[0x1F]).await.unwrap();
    assert!(matches!(c.read_reply(false).await.unwrap(), Reply::Ok(_)));
    let e = c.execute(p.id, 0, &[], None, &[]).await.unwrap();
    assert_eq!(e.err().code, 1243);
}

#[tokio::test]
async fn com_ping_and_init_db() {
    let topo = Topology::from_env();
    let db = db_name("initdb");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT)", "INSERT INTO t VALUES (7)"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut conn = proxy_conn(&proxy, Some(&db)).await;
    conn.ping().await.expect("COM_PING");

    let mut c = raw_proxy(&proxy, Some(&db), raw::DEFAULT_CAPS).await;
    let mut d = raw_direct(&topo, Some(&db), raw::DEFAULT_CAPS).await;
    for side in [&mut c, &mut d] {
        let mut p = vec![raw::COM_INIT_DB];
        p.extend_from_slice(b"no_such_database_xyz");
        side.send_command(&p).await.unwrap();
    }
    let pe = c.read_reply(false).await.unwrap();
    let de = d.read_reply(false).await.unwrap();
    let (pe, de) = (pe.err(), de.err());
    assert_eq!((de.code, de.state.as_str()), (1049, "42000"));
    assert_eq!(pe, de, "COM_INIT_DB to a missing database");
    assert_eq!(
        c.query("SELECT DATABASE()")
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some(db.as_str()),
        "previous database kept"
    );
    assert_eq!(
        c.query("SELECT id FROM t")
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("7")
    );
    // And a good COM_INIT_DB.
    let mut p = vec![raw::COM_INIT_DB];
    p.extend_from_slice(b"mysql");
    c.send_command(&p).await.unwrap();
    assert!(matches!(c.read_reply(false).await.unwrap(), Reply::Ok(_)));
    assert_eq!(
        c.query("SELECT DATABASE()")
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("mysql")
    );
    // mysql_async: USE of a missing database.
    let (code, state, _) = expect_server_error(conn.query_drop("USE no_such_database_xyz").await);
    assert_eq!((code, state.as_str()), (1049, "42000"));
    let d2: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(d2.as_deref(), Some(db.as_str()));
    let ping = c.ping().await.unwrap();
    assert!(matches!(ping, Reply::Ok(_)));
    conn.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// Logging in with a database that does not exist: ERR 1049 like the
/// server (not a silently closed connection).
#[tokio::test]
async fn connect_with_missing_database_gives_1049() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let direct = Conn::new(direct_opts(&topo, "n1p", Some("no_such_db_at_login")))
        .await
        .expect_err("direct login must fail");
    let (dcode, dstate, dmsg) = server_error(direct);
    assert_eq!((dcode, dstate.as_str()), (1049, "42000"));
    let r = Conn::new(proxy_opts(
        &proxy,
        "app",
        "app",
        Some("no_such_db_at_login"),
    ))
    .await;
    match r {
        Ok(_) => panic!("login with a missing database succeeded"),
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(
                (e.code, e.state.as_str(), e.message.as_str()),
                (dcode, dstate.as_str(), dmsg.as_str())
            )
        }
        Err(other) => panic!("login with a missing database: expected ERR 1049, got {other:?}"),
    }
    // Raw client: the ERR packet must arrive before the close.
    let r = RawConn::login(
        proxy.port,
        "app",
        "app",
        Some("no_such_db_at_login"),
        raw::DEFAULT_CAPS,
    )
    .await;
    match r {
        Ok(Err(e)) => assert_eq!(e.code, 1049, "{e:?}"),
        Ok(Ok(_)) => panic!("logged in"),
        Err(io) => panic!("no ERR packet, connection closed: {io}"),
    }
    assert_proxy_serves(&proxy).await;
}

/// A database placed on node n2 (`[[schema]]`) exists only on n2's
/// servers: `USE` (COM_QUERY), COM_INIT_DB and connect-with-database must
/// all go to n2, whatever the session's current node.
#[tokio::test]
async fn use_of_schema_placed_on_other_node() {
    let topo = Topology::from_env();
    let db = db_name("on_n2");
    setup_db_on(
        &topo,
        "n2p",
        &db,
        &[
            "CREATE TABLE t (v VARCHAR(10))",
            "INSERT INTO t VALUES ('n2')",
        ],
    )
    .await;
    let extra = format!("[[schema]]\nname = \"{db}\"\nnode = \"n2\"\n");
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra,
            ..ProxyOptions::default()
        },
    );
    // Connect with the database.
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let v: Option<String> = a.query_first("SELECT v FROM t").await.unwrap();
    assert_eq!(v.as_deref(), Some("n2"), "connect with database");
    // COM_INIT_DB from a session on n1.
    let mut c = raw_proxy(&proxy, Some("shardcat_test"), raw::DEFAULT_CAPS).await;
    let mut p = vec![raw::COM_INIT_DB];
    p.extend_from_slice(db.as_bytes());
    c.send_command(&p).await.unwrap();
    let r = c.read_reply(false).await.unwrap();
    assert!(matches!(r, Reply::Ok(_)), "COM_INIT_DB {db}: {r:?}");
    assert_eq!(
        c.query("SELECT v FROM t")
            .await
            .unwrap()
            .scalar()
            .as_deref(),
        Some("n2")
    );
    // USE from a session on n1.
    let mut b = proxy_conn(&proxy, Some("shardcat_test")).await;
    b.query_drop(format!("USE `{db}`"))
        .await
        .unwrap_or_else(|e| panic!("USE {db} from a session on n1: {e}"));
    let v: Option<String> = b.query_first("SELECT v FROM t").await.unwrap();
    assert_eq!(v.as_deref(), Some("n2"));
    // And back.
    b.query_drop("USE shardcat_test").await.unwrap();
    let d: Option<String> = b.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(d.as_deref(), Some("shardcat_test"));
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    drop_db_on(&topo, "n2p", &db).await;
}

#[tokio::test]
async fn com_statistics_and_field_list_shape() {
    let topo = Topology::from_env();
    let db = db_name("fieldlist");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) DEFAULT 'x', created DATETIME)"],
    )
    .await;
    let proxy = ProxyProcess::start(&topo);
    let mut c = raw_proxy(&proxy, Some(&db), raw::DEFAULT_CAPS).await;
    let mut d = raw_direct(&topo, Some(&db), raw::DEFAULT_CAPS).await;

    // COM_STATISTICS: one plain string packet.
    let mut stats = Vec::new();
    for side in [&mut c, &mut d] {
        side.send_command(&[raw::COM_STATISTICS]).await.unwrap();
        let (_, p) = side.read_packet().await.unwrap();
        stats.push(String::from_utf8(p).expect("utf8"));
    }
    let keys = |s: &str| {
        s.split("  ")
            .map(|kv| kv.split(':').next().unwrap_or("").trim().to_string())
            .collect::<Vec<_>>()
    };
    assert!(stats[1].starts_with("Uptime: "), "{}", stats[1]);
    assert_eq!(
        keys(&stats[0]),
        keys(&stats[1]),
        "COM_STATISTICS shape: {:?} vs {:?}",
        stats[0],
        stats[1]
    );
    assert_eq!(
        c.query("SELECT 1").await.unwrap().scalar().as_deref(),
        Some("1"),
        "in sync after STATISTICS"
    );

    // COM_FIELD_LIST: column definitions then EOF.
    let mut lists = Vec::new();
    for (i, side) in [&mut c, &mut d].into_iter().enumerate() {
        let mut p = vec![raw::COM_FIELD_LIST];
        p.extend_from_slice(b"t\0");
        side.send_command(&p).await.unwrap();
        let mut cols = Vec::new();
        loop {
            let (_, p) = side.read_packet().await.unwrap();
            if p.starts_with(&[0xFE]) && p.len() < 9 {
                break;
            }
            assert!(
                !p.starts_with(&[0xFF]),
                "side {i}: {:?}",
                raw::parse_err(&p)
            );
            cols.push(p);
        }
        lists.push(cols);
    }
    assert_eq!(lists[0].len(), 3);
    assert_eq!(
        lists[0], lists[1],
        "COM_FIELD_LIST column definitions, proxy vs direct"
    );
    // Unknown table.
    let mut errs = Vec::new();
    for side in [&mut c, &mut d] {
        let mut p = vec![raw::COM_FIELD_LIST];
        p.extend_from_slice(b"nope\0");
        side.send_command(&p).await.unwrap();
        errs.push(side.read_reply(false).await.unwrap());
    }
    assert_eq!(errs[0], errs[1]);
    assert_eq!(
        c.query("SELECT 2").await.unwrap().scalar().as_deref(),
        Some("2"),
        "in sync after FIELD_LIST"
    );
    drop_db(&topo, &db).await;
}
