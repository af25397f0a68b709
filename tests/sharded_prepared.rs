//! Binary prepared statements on sharded tables: every statement runs
//! through `exec*` of mysql_async (COM_STMT_PREPARE / COM_STMT_EXECUTE) on
//! the reference server holding all data and through shardcat over the
//! shards, and the binary answers must be identical: column metadata,
//! values bit for bit (every MySQL column type), affected rows, errors.
//!
//! Layout: the differential test's rules (users hashed over 2 nodes x 2
//! tables, orders bound to users, events by month, regions broadcast,
//! settings on n2), plus `types` (one column of every type, hashed by id)
//! and `tickets` (ids from a snowflake `[[sequence]]`).
//!
//! Run (after `scripts/topology.sh up`):
//! `SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test sharded_prepared`

mod common;
#[path = "common/diff_data.rs"]
mod diff_data;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use mysql_async::{Conn, Params, Row, Value};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use diff_data::{Data, DDL, RULES};

const DB: &str = "psshard";

const EXTRA_RULES: &str = r#"
[[table]]
name = "types"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "tickets"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[sequence]]
table = "tickets"
"#;

const TYPES_DDL: &str = "CREATE TABLE types (
    id INT PRIMARY KEY,
    ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
    bi BIGINT, biu BIGINT UNSIGNED,
    dec65 DECIMAL(65,30), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(6), y YEAR,
    vc VARCHAR(100), ch CHAR(10), tx TEXT, bl BLOB, vb VARBINARY(300), js JSON, bt BIT(64),
    en ENUM('a','b','c'), st SET('x','y','z'), tm0 TIME, dtm0 DATETIME
) DEFAULT CHARSET=utf8mb4";

const TYPES_COLS: usize = 30;

const TYPES_COLUMN_NAMES: &str = "id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dec65, f, d, \
    dt, dtm, ts, tm, y, vc, ch, tx, bl, vb, js, bt, en, st, tm0, dtm0";

const TICKETS_DDL: &str = "CREATE TABLE tickets (
    id BIGINT NOT NULL PRIMARY KEY,
    note VARCHAR(32) NULL
) DEFAULT CHARSET=utf8mb4";

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

/// Rows of `types`: extremes, NULLs, fractions, negative times.
fn type_rows() -> Vec<Vec<Value>> {
    let nines35 = "9".repeat(35);
    let nines30 = "9".repeat(30);
    let all: Vec<u8> = (0..=255u8).collect();
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
        Value::Date(1970, 1, 2, 0, 0, 0, 1000),
        Value::Time(true, 34, 22, 59, 59, 0),
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
        Value::Time(false, 0, 0, 0, 0, 0),
        Value::Date(2026, 1, 1, 0, 0, 0, 0),
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
        Value::Float(std::f32::consts::PI),
        Value::Double(f64::MAX),
        Value::Date(9999, 12, 31, 0, 0, 0, 0),
        Value::Date(9999, 12, 31, 23, 59, 59, 999_999),
        Value::Date(2038, 1, 18, 3, 14, 7, 999_000),
        Value::Time(false, 34, 22, 59, 59, 0),
        Value::UInt(2155),
        bytes("héllo wörld ✓ 😀 ' \" \\ \0 end"),
        bytes("abcdefghij"),
        bytes(&"ünïcødé ".repeat(500)),
        Value::Bytes(all.clone()),
        Value::Bytes(all[..255].to_vec()),
        bytes(r#"{"a": [1, 2, {"b": null}], "c": "é"}"#),
        Value::UInt(u64::MAX),
        bytes("c"),
        bytes("x,y,z"),
        Value::Time(true, 0, 1, 2, 3, 0),
        Value::Date(2026, 6, 30, 23, 59, 59, 0),
    ];
    let mut nulls = vec![Value::NULL; TYPES_COLS];
    nulls[0] = Value::Int(3);
    let mut mixed: Vec<Value> = max
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 1 { Value::NULL } else { v.clone() })
        .collect();
    mixed[0] = Value::Int(4);
    mixed[12] = Value::Float(-3.5);
    mixed[16] = Value::Date(2024, 2, 29, 12, 30, 45, 123_000);
    mixed[17] = Value::Time(true, 0, 12, 34, 56, 789_012);
    let mut frac = min.clone();
    frac[0] = Value::Int(5);
    frac[11] = bytes("-0.000000000000000000000000000001");
    frac[12] = Value::Float(1.0e-30);
    frac[13] = Value::Double(f64::MIN_POSITIVE);
    frac[15] = Value::Date(2024, 2, 29, 23, 59, 59, 123_456);
    frac[17] = Value::Time(true, 1, 2, 3, 4, 567_890);
    let mut more = Vec::new();
    for k in 6..14i64 {
        let mut r = max.clone();
        r[0] = Value::Int(k);
        r[1] = Value::Int(k - 10);
        r[12] = Value::Float(k as f32 / 3.0);
        r[13] = Value::Double(k as f64 / 7.0);
        r[15] = Value::Date(2026, (k % 12 + 1) as u8, 1, k as u8, 0, 0, k as u32 * 1000);
        r[17] = Value::Time(k % 2 == 0, 0, k as u8, 0, 0, k as u32);
        more.push(r);
    }
    let mut rows = vec![min, max, nulls, mixed, frac];
    rows.extend(more);
    rows
}

/// A binary answer, as comparable values.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Rows {
        /// name, type, decimals, charset, flags
        cols: Vec<(String, ColumnType, u8, u16, u16)>,
        rows: Vec<Vec<Value>>,
    },
    Done {
        affected: u64,
        warnings: u16,
    },
    Error(u16, String),
}

async fn exec(conn: &mut Conn, sql: &str, params: Vec<Value>) -> Answer {
    let params = if params.is_empty() {
        Params::Empty
    } else {
        Params::Positional(params)
    };
    let r = async {
        let mut result = conn.exec_iter(sql, params).await?;
        let cols = result.columns().map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c.name_str().into_owned(),
                        c.column_type(),
                        c.decimals(),
                        c.character_set(),
                        c.flags().bits(),
                    )
                })
                .collect::<Vec<_>>()
        });
        let rows: Vec<Row> = result.collect().await?;
        let affected = result.affected_rows();
        drop(result);
        let warnings = conn.get_warnings();
        Ok::<_, mysql_async::Error>(match cols {
            Some(cols) if !cols.is_empty() => Answer::Rows {
                cols,
                rows: rows.into_iter().map(Row::unwrap).collect(),
            },
            _ => Answer::Done { affected, warnings },
        })
    }
    .await;
    match r {
        Ok(a) => a,
        Err(mysql_async::Error::Server(e)) => Answer::Error(e.code, e.state),
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Same statement and parameters on both sides; rows compared in order
/// when `ordered`, else as multisets.
async fn same(r: &mut Conn, p: &mut Conn, sql: &str, params: Vec<Value>, ordered: bool) -> Answer {
    let mut a = exec(r, sql, params.clone()).await;
    let mut b = exec(p, sql, params.clone()).await;
    if !ordered {
        for x in [&mut a, &mut b] {
            if let Answer::Rows { rows, .. } = x {
                rows.sort_by_key(|r| format!("{r:?}"));
            }
        }
    }
    assert_eq!(
        b, a,
        "{sql} with {params:?}: shardcat (left) vs reference (right)"
    );
    a
}

fn rows_of(a: &Answer) -> usize {
    match a {
        Answer::Rows { rows, .. } => rows.len(),
        other => panic!("expected rows, got {other:?}"),
    }
}

async fn setup(topo: &Topology, proxy: &ProxyProcess) -> (Conn, Conn, Data) {
    let mut r = util::direct_conn(topo, "ref", None).await;
    let mut p = util::proxy_conn(proxy, None).await;
    for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
        for sql in [
            format!("DROP DATABASE IF EXISTS {DB}"),
            format!("CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
            format!("USE {DB}"),
            "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci".into(),
        ] {
            c.query_drop(&sql)
                .await
                .unwrap_or_else(|e| panic!("{who}: {sql}: {e}"));
        }
        for ddl in DDL.iter().chain(&[TYPES_DDL]) {
            c.query_drop(*ddl)
                .await
                .unwrap_or_else(|e| panic!("{who}: {ddl}: {e}"));
        }
    }
    r.query_drop(TICKETS_DDL.replace(
        "NOT NULL PRIMARY KEY",
        "NOT NULL AUTO_INCREMENT PRIMARY KEY",
    ))
    .await
    .unwrap();
    p.query_drop(TICKETS_DDL).await.unwrap();
    let data = Data::generate(20260101, 1);
    for ins in data.inserts(60) {
        r.query_drop(&ins).await.unwrap();
        p.query_drop(&ins)
            .await
            .unwrap_or_else(|e| panic!("proxy: {ins}: {e}"));
    }
    (r, p, data)
}

#[tokio::test]
async fn sharded_prepared_statements_match_one_server() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!("{RULES}\n{EXTRA_RULES}"),
            ..Default::default()
        },
    );
    let (mut r, mut p, data) = setup(&topo, &proxy).await;

    // ---- every column type: prepared INSERT (one shard each), reads ----
    // (INSERT without a column list is another piece of work.)
    let ins = format!(
        "INSERT INTO types ({TYPES_COLUMN_NAMES}) VALUES ({})",
        vec!["?"; TYPES_COLS].join(",")
    );
    for row in type_rows() {
        let a = same(&mut r, &mut p, &ins, row, true).await;
        assert_eq!(
            a,
            Answer::Done {
                affected: 1,
                warnings: 0
            }
        );
    }
    util::sync_replicas(&topo).await;
    for sql in [
        "SELECT * FROM types ORDER BY id",
        "SELECT * FROM types ORDER BY id DESC LIMIT 4",
        "SELECT id, f, d FROM types ORDER BY f DESC, id",
        "SELECT id, tm, tm0 FROM types ORDER BY tm, id",
        "SELECT id, dtm, ts FROM types ORDER BY dtm DESC, id",
        "SELECT id, bt, biu, y FROM types ORDER BY bt, id",
        "SELECT MIN(ti), MAX(ti), MIN(tiu), MAX(miu), MIN(bi), MAX(biu), MIN(f), MAX(f), \
         MIN(d), MAX(d), MIN(dec65), MAX(dec65), MIN(dt), MAX(dtm), MIN(ts), MAX(ts), \
         MIN(tm), MAX(tm), MIN(y), MAX(y), MIN(bt), MAX(bt), MIN(vb), MAX(vb), COUNT(*), \
         COUNT(f), SUM(i), SUM(biu), AVG(si), AVG(dec65) FROM types",
        "SELECT y, COUNT(*), SUM(ti), MIN(tm), MAX(dtm0), AVG(si), AVG(i), AVG(d) FROM types GROUP BY y ORDER BY y",
    ] {
        let a = same(&mut r, &mut p, sql, vec![], true).await;
        assert!(rows_of(&a) > 0, "{sql}");
    }
    for id in 1..14i64 {
        same(
            &mut r,
            &mut p,
            "SELECT * FROM types WHERE id = ?",
            vec![Value::Int(id)],
            true,
        )
        .await;
    }
    same(
        &mut r,
        &mut p,
        "SELECT id, vc, f FROM types WHERE id IN (?, ?, ?, ?) ORDER BY id",
        vec![Value::Int(1), Value::Int(2), Value::Int(7), Value::Int(12)],
        true,
    )
    .await;

    // ---- the differential data: point selects, scatter reads ----
    let ids: Vec<i64> = data.users.iter().take(25).map(|u| u.id).collect();
    for &id in &ids {
        same(
            &mut r,
            &mut p,
            "SELECT * FROM users WHERE id = ?",
            vec![Value::Int(id)],
            true,
        )
        .await;
        same(
            &mut r,
            &mut p,
            "SELECT o.id, o.amount, o.created, u.name FROM orders o JOIN users u \
             ON u.id = o.user_id WHERE o.user_id = ? ORDER BY o.id",
            vec![Value::Int(id)],
            true,
        )
        .await;
    }
    // A key given as a string and as an unsigned number.
    same(
        &mut r,
        &mut p,
        "SELECT * FROM users WHERE id = ?",
        vec![bytes(&ids[3].to_string())],
        true,
    )
    .await;
    same(
        &mut r,
        &mut p,
        "SELECT * FROM users WHERE id = ?",
        vec![Value::UInt(ids[4] as u64)],
        true,
    )
    .await;
    // NULL parameters.
    let a = same(
        &mut r,
        &mut p,
        "SELECT * FROM users WHERE id = ?",
        vec![Value::NULL],
        true,
    )
    .await;
    assert_eq!(rows_of(&a), 0);
    same(
        &mut r,
        &mut p,
        "SELECT COUNT(*) FROM users WHERE name <=> ?",
        vec![Value::NULL],
        true,
    )
    .await;
    let scatter: &[(&str, Vec<Value>, bool)] = &[
        ("SELECT * FROM users ORDER BY id LIMIT ?", vec![Value::Int(7)], true),
        ("SELECT * FROM users ORDER BY score DESC, id LIMIT ?, ?", vec![Value::Int(3), Value::Int(5)], true),
        ("SELECT id, name FROM users WHERE id IN (?, ?, ?, ?) ORDER BY id",
            vec![Value::Int(ids[0]), Value::Int(ids[1]), Value::Int(ids[2]), Value::Int(ids[5])], true),
        ("SELECT id, score FROM users WHERE score > ? ORDER BY score, id", vec![bytes("10.5")], true),
        ("SELECT id, score FROM users WHERE score > ? ORDER BY score, id", vec![Value::Double(10.5)], true),
        ("SELECT region_id, COUNT(*), SUM(score), MIN(score), MAX(score), AVG(score), MIN(created), MAX(created) \
          FROM users GROUP BY region_id ORDER BY region_id", vec![], true),
        ("SELECT COUNT(*), SUM(amount), AVG(amount), MIN(created), MAX(created) FROM orders WHERE amount > ?",
            vec![Value::Int(0)], true),
        ("SELECT COUNT(*), SUM(amount) FROM orders WHERE amount > ?", vec![Value::NULL], true),
        ("SELECT DISTINCT region_id FROM users ORDER BY region_id", vec![], true),
        ("SELECT user_id, COUNT(*), SUM(amount) FROM orders GROUP BY user_id", vec![], false),
        ("SELECT * FROM events WHERE created_at BETWEEN ? AND ? ORDER BY created_at, id",
            vec![Value::Date(2026, 3, 1, 0, 0, 0, 0), Value::Date(2026, 8, 31, 23, 59, 59, 0)], true),
        ("SELECT * FROM events WHERE created_at = ?", vec![bytes("2026-01-01 00:00:00")], false),
        ("SELECT * FROM regions ORDER BY id", vec![], true),
        ("SELECT * FROM settings WHERE k = ?", vec![bytes("a")], false),
        ("SELECT COUNT(*) FROM users u JOIN regions g ON g.id = u.region_id WHERE g.code = ?", vec![bytes("FR")], true),
    ];
    for (sql, params, ordered) in scatter {
        same(&mut r, &mut p, sql, params.clone(), *ordered).await;
    }

    // ---- writes ----
    let insert =
        "INSERT INTO users (id, name, city, score, created, region_id) VALUES (?, ?, ?, ?, ?, ?)";
    let user = |id: i64, name: &str| {
        vec![
            Value::Int(id),
            bytes(name),
            Value::NULL,
            bytes("12.34"),
            Value::Date(2026, 2, 3, 0, 0, 0, 0),
            Value::Int(1),
        ]
    };
    same(&mut r, &mut p, insert, user(900_001, "Ps One"), true).await;
    // Four rows over several shards.
    let multi = format!("{insert}, (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)");
    let mut params = Vec::new();
    for (k, id) in [900_002i64, 900_003, 900_004, 900_005].iter().enumerate() {
        params.extend(user(*id, &format!("Ps {k}")));
    }
    let a = same(&mut r, &mut p, &multi, params, true).await;
    assert_eq!(
        a,
        Answer::Done {
            affected: 4,
            warnings: 0
        }
    );
    // Errors of shards keep their code: duplicate key, bad date, unknown
    // column (at PREPARE).
    let a = same(&mut r, &mut p, insert, user(900_001, "again"), true).await;
    assert!(matches!(a, Answer::Error(1062, _)), "{a:?}");
    let mut bad_date = user(900_010, "bad");
    bad_date[4] = bytes("2026-02-30");
    let a = same(&mut r, &mut p, insert, bad_date, true).await;
    assert!(matches!(a, Answer::Error(1292, _)), "{a:?}");
    let a = same(
        &mut r,
        &mut p,
        "SELECT nope FROM users WHERE id = ?",
        vec![Value::Int(1)],
        true,
    )
    .await;
    assert!(matches!(a, Answer::Error(1054, _)), "{a:?}");
    // By key and unkeyed.
    let a = same(
        &mut r,
        &mut p,
        "UPDATE users SET score = ? WHERE id = ?",
        vec![bytes("99.99"), Value::Int(900_003)],
        true,
    )
    .await;
    assert_eq!(
        a,
        Answer::Done {
            affected: 1,
            warnings: 0
        }
    );
    let a = same(
        &mut r,
        &mut p,
        "UPDATE users SET region_id = region_id + ? WHERE region_id = ?",
        vec![Value::Int(100), Value::Int(1)],
        true,
    )
    .await;
    assert!(
        matches!(a, Answer::Done { affected, .. } if affected > 1),
        "{a:?}"
    );
    // Both sides refuse the same overflow (scattered: every shard's own
    // check, the first error forwarded with its code).
    let a = same(
        &mut r,
        &mut p,
        "UPDATE users SET score = ? WHERE region_id = ?",
        vec![bytes("1e20"), Value::Int(3)],
        true,
    )
    .await;
    assert!(matches!(a, Answer::Error(1264, _)), "{a:?}");
    same(
        &mut r,
        &mut p,
        "DELETE FROM users WHERE id = ?",
        vec![Value::Int(900_004)],
        true,
    )
    .await;
    let a = same(
        &mut r,
        &mut p,
        "DELETE FROM orders WHERE amount < ?",
        vec![bytes("-500")],
        true,
    )
    .await;
    assert!(matches!(a, Answer::Done { .. }), "{a:?}");
    same(
        &mut r,
        &mut p,
        "UPDATE users SET name = ? WHERE name <=> ?",
        vec![bytes("was null"), Value::NULL],
        true,
    )
    .await;
    // Broadcast writes: affected rows as one server reports them.
    let a = same(
        &mut r,
        &mut p,
        "INSERT INTO regions (id, name, code) VALUES (?, ?, ?), (?, ?, ?)",
        vec![
            Value::Int(901),
            bytes("Ps land"),
            bytes("PS"),
            Value::Int(902),
            bytes("Ps sea"),
            Value::NULL,
        ],
        true,
    )
    .await;
    assert_eq!(
        a,
        Answer::Done {
            affected: 2,
            warnings: 0
        }
    );
    let a = same(
        &mut r,
        &mut p,
        "UPDATE regions SET name = ? WHERE id >= ?",
        vec![bytes("renamed"), Value::Int(901)],
        true,
    )
    .await;
    assert_eq!(
        a,
        Answer::Done {
            affected: 2,
            warnings: 0
        }
    );
    // Re-executing one prepared statement with other keys (other shards).
    for id in [900_001i64, 900_002, 900_005, 42] {
        same(
            &mut r,
            &mut p,
            "UPDATE users SET city = ? WHERE id = ?",
            vec![bytes("Lyon"), Value::Int(id)],
            true,
        )
        .await;
    }
    // A transaction on the session's node (n1): a keyed write, read back
    // inside it (primary), rolled back. (Transactions reaching another node
    // behave as on the text path, which does not open the transaction
    // there yet.)
    let mut on_n1 = None;
    for &id in &ids {
        let row: Option<(String, String, String, String)> = p
            .query_first(format!(
                "EXPLAIN SHARDCAT SELECT * FROM users WHERE id = {id}"
            ))
            .await
            .unwrap();
        if row.is_some_and(|(node, ..)| node == "n1") {
            on_n1 = Some(id);
            break;
        }
    }
    let on_n1 = on_n1.expect("a user on n1");
    for c in [&mut r, &mut p] {
        c.query_drop("BEGIN").await.unwrap();
    }
    same(
        &mut r,
        &mut p,
        "UPDATE users SET score = ? WHERE id = ?",
        vec![bytes("1.00"), Value::Int(on_n1)],
        true,
    )
    .await;
    same(
        &mut r,
        &mut p,
        "SELECT id, score FROM users WHERE id = ?",
        vec![Value::Int(on_n1)],
        true,
    )
    .await;
    for c in [&mut r, &mut p] {
        c.query_drop("ROLLBACK").await.unwrap();
    }
    // Transactions reaching both nodes: keyed writes on n1 and n2 and a
    // scattered UPDATE, read back inside (keyed), rolled back, then again
    // committed.
    let on_n2 = {
        let mut found = None;
        for &id in &ids {
            let row: Option<(String, String, String, String)> = p
                .query_first(format!(
                    "EXPLAIN SHARDCAT SELECT * FROM users WHERE id = {id}"
                ))
                .await
                .unwrap();
            if row.is_some_and(|(node, ..)| node == "n2") {
                found = Some(id);
                break;
            }
        }
        found.expect("a user on n2")
    };
    for end in ["ROLLBACK", "COMMIT"] {
        for c in [&mut r, &mut p] {
            c.query_drop("START TRANSACTION").await.unwrap();
        }
        for (id, score) in [(on_n1, "2.00"), (on_n2, "3.00")] {
            let a = same(
                &mut r,
                &mut p,
                "UPDATE users SET score = ? WHERE id = ?",
                vec![bytes(score), Value::Int(id)],
                true,
            )
            .await;
            assert_eq!(
                a,
                Answer::Done {
                    affected: 1,
                    warnings: 0
                },
                "{end}"
            );
        }
        same(
            &mut r,
            &mut p,
            "UPDATE users SET name = ? WHERE region_id = ?",
            vec![bytes(end), Value::Int(4)],
            true,
        )
        .await;
        for id in [on_n1, on_n2] {
            same(
                &mut r,
                &mut p,
                "SELECT id, name, score FROM users WHERE id = ?",
                vec![Value::Int(id)],
                true,
            )
            .await;
        }
        let in_tx: Option<i64> = p.query_first("SELECT @@in_transaction").await.unwrap();
        assert_eq!(in_tx, Some(1), "still in the transaction before {end}");
        for c in [&mut r, &mut p] {
            c.query_drop(end).await.unwrap();
        }
        for id in [on_n1, on_n2] {
            same(
                &mut r,
                &mut p,
                "SELECT id, name, score FROM users WHERE id = ?",
                vec![Value::Int(id)],
                true,
            )
            .await;
        }
    }
    util::sync_replicas(&topo).await;
    for sql in [
        "SELECT * FROM users ORDER BY id",
        "SELECT * FROM orders ORDER BY id",
        "SELECT * FROM regions ORDER BY id",
    ] {
        same(&mut r, &mut p, sql, vec![], true).await;
    }

    // ---- UNIONs whose branches run on different targets (a broadcast
    // branch once, sharded branches of two layouts on their own shards) ----
    for (sql, params, ordered) in [
        (
            "SELECT id, name FROM regions UNION ALL SELECT id, city FROM users WHERE id > ? ORDER BY 1, 2 LIMIT ?",
            vec![Value::Int(3), Value::Int(7)],
            true,
        ),
        (
            "SELECT created_at, id FROM events WHERE created_at >= ? UNION SELECT created, id FROM orders WHERE user_id IN (?, ?) ORDER BY 1 DESC, 2",
            vec![bytes("2026-06-15"), Value::Int(ids[0]), Value::Int(ids[1])],
            true,
        ),
        (
            "SELECT NULL, code FROM regions UNION ALL SELECT points, kind FROM events WHERE points > ?",
            vec![Value::Int(80)],
            false,
        ),
    ] {
        let a = same(&mut r, &mut p, sql, params, ordered).await;
        assert!(rows_of(&a) > 0, "{sql}");
    }

    // ---- generated ids ([[sequence]]) ----
    p.exec_drop("INSERT INTO tickets (note) VALUES (?)", (bytes("first"),))
        .await
        .unwrap();
    let first = p
        .last_insert_id()
        .expect("LAST_INSERT_ID after a generated id");
    assert!(first > 0);
    p.exec_drop(
        "INSERT INTO tickets (note) VALUES (?), (?), (?)",
        (bytes("a"), Value::NULL, bytes("c")),
    )
    .await
    .unwrap();
    assert_eq!(p.affected_rows(), 3);
    let second = p
        .last_insert_id()
        .expect("LAST_INSERT_ID of the multi-row insert");
    assert!(second > first, "ids increase: {first} then {second}");
    let note: Option<String> = p
        .exec_first("SELECT note FROM tickets WHERE id = ?", (first,))
        .await
        .unwrap();
    assert_eq!(note.as_deref(), Some("first"));
    let n: Option<i64> = p
        .exec_first("SELECT COUNT(*) FROM tickets WHERE id >= ?", (first,))
        .await
        .unwrap();
    assert_eq!(n, Some(4));

    // ---- statements are closed and prepared again ----
    let stmt = p.prep("SELECT name FROM users WHERE id = ?").await.unwrap();
    assert_eq!(stmt.num_params(), 1);
    assert_eq!(stmt.num_columns(), 1);
    let _: Option<String> = p.exec_first(&stmt, (ids[0],)).await.unwrap();
    p.close(stmt.clone()).await.unwrap();
    let e = p.exec_first::<String, _, _>(&stmt, (ids[0],)).await;
    assert!(
        matches!(e, Err(mysql_async::Error::Server(ref s)) if s.code == 1243),
        "{e:?}"
    );
    let stmt = p
        .prep("SELECT AVG(score), COUNT(*) FROM users WHERE id > ?")
        .await
        .unwrap();
    assert_eq!((stmt.num_params(), stmt.num_columns()), (1, 2));
    let still: Option<String> = p.query_first("SELECT 'still here'").await.unwrap();
    assert_eq!(still.as_deref(), Some("still here"));
}

/// The raw protocol: `new_params_bound = 0` on later executes (the key
/// routes to another shard each time), long data for a sharding key, and
/// metadata of PREPARE, compared with the reference server.
#[tokio::test]
async fn sharded_prepared_raw_protocol() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!("{RULES}\n{EXTRA_RULES}"),
            ..Default::default()
        },
    );
    let db = "psraw";
    let mut answers = Vec::new();
    for side in ["proxy", "ref"] {
        let (port, user, pass) = if side == "proxy" {
            (proxy.port, "app".to_string(), "app".to_string())
        } else {
            (topo.port("ref"), topo.user.clone(), topo.password.clone())
        };
        let mut c = raw::RawConn::connect(port, &user, &pass, None, raw::DEFAULT_CAPS).await;
        for sql in [
            format!("DROP DATABASE IF EXISTS {db}"),
            format!("CREATE DATABASE {db}"),
            format!("USE {db}"),
            "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(64), score DECIMAL(8,2))".into(),
            "INSERT INTO users (id, name, score) VALUES (1,'a',1.50),(2,'b',NULL),(3,'c',3.25),(4,'d',-4.00),(5,'e',5.00),(6,'f',6.75)".into(),
        ] {
            let reply = c.query(&sql).await.unwrap();
            assert!(!matches!(reply, raw::Reply::Err(_)), "{side}: {sql}: {reply:?}");
        }
        let mut got = Vec::new();
        // Point select: types bound once, then new_params_bound = 0.
        let ps = c
            .prepare("SELECT id, name, score FROM users WHERE id = ?")
            .await
            .unwrap()
            .expect("prepare");
        got.push(format!(
            "prepare {} params {} columns",
            ps.params, ps.columns
        ));
        let ty = [(raw::MYSQL_TYPE_LONGLONG, false)];
        got.push(format!(
            "{:?}",
            c.execute(ps.id, 1, &[false], Some(&ty), &1i64.to_le_bytes())
                .await
                .unwrap()
        ));
        for k in 2..7i64 {
            got.push(format!(
                "{:?}",
                c.execute(ps.id, 1, &[false], None, &k.to_le_bytes())
                    .await
                    .unwrap()
            ));
        }
        got.push(format!(
            "{:?}",
            c.execute(ps.id, 1, &[true], None, &[]).await.unwrap()
        ));
        // Scatter aggregate, unbound types again.
        let agg = c
            .prepare("SELECT COUNT(*), SUM(score), AVG(score) FROM users WHERE id > ?")
            .await
            .unwrap()
            .expect("prepare");
        got.push(format!(
            "prepare {} params {} columns",
            agg.params, agg.columns
        ));
        got.push(format!(
            "{:?}",
            c.execute(agg.id, 1, &[false], Some(&ty), &0i64.to_le_bytes())
                .await
                .unwrap()
        ));
        got.push(format!(
            "{:?}",
            c.execute(agg.id, 1, &[false], None, &3i64.to_le_bytes())
                .await
                .unwrap()
        ));
        // Long data for the key, then an unkeyed write with a string.
        let name = c
            .prepare("SELECT id FROM users WHERE name = ? OR id = ? ORDER BY id")
            .await
            .unwrap()
            .expect("prepare");
        let mut long = vec![raw::COM_STMT_SEND_LONG_DATA];
        long.extend_from_slice(&name.id.to_le_bytes());
        long.extend_from_slice(&0u16.to_le_bytes());
        long.extend_from_slice(b"e");
        c.send_command(&long).await.unwrap();
        let tys = [
            (raw::MYSQL_TYPE_BLOB, false),
            (raw::MYSQL_TYPE_LONGLONG, false),
        ];
        got.push(format!(
            "{:?}",
            c.execute(name.id, 2, &[false, false], Some(&tys), &2i64.to_le_bytes())
                .await
                .unwrap()
        ));
        let upd = c
            .prepare("UPDATE users SET name = ? WHERE score > ?")
            .await
            .unwrap()
            .expect("prepare");
        let mut v = Vec::new();
        raw::put_lenenc_bytes(&mut v, b"high");
        raw::put_lenenc_bytes(&mut v, b"2");
        let sty = [
            (raw::MYSQL_TYPE_VAR_STRING, false),
            (raw::MYSQL_TYPE_VAR_STRING, false),
        ];
        got.push(format!(
            "{:?}",
            c.execute(upd.id, 2, &[false, false], Some(&sty), &v)
                .await
                .unwrap()
        ));
        // Read-your-writes: the session's scattered writes are waited for
        // on the replicas (no sync here).
        let all = c
            .prepare("SELECT * FROM users ORDER BY id")
            .await
            .unwrap()
            .expect("prepare");
        got.push(format!(
            "{:?}",
            c.execute(all.id, 0, &[], None, &[]).await.unwrap()
        ));
        if side == "proxy" {
            // A cursor asked for on a scattered read: the header with
            // SERVER_STATUS_CURSOR_EXISTS (0x40), then the merged rows
            // fetched 4 at a time, the last fetch with LAST_ROW_SENT (0x80);
            // the session goes on (test_cursors.py compares every step
            // with the server).
            let mut p = raw::execute_packet(all.id, 0, &[], None, &[]);
            p[5] = 1; // CURSOR_TYPE_READ_ONLY
            c.send_command(&p).await.unwrap();
            let (_, head) = c.read_packet().await.unwrap();
            for _ in 0..head[0] {
                c.read_packet().await.unwrap();
            }
            let (_, end) = c.read_packet().await.unwrap();
            assert_eq!(end[0], 0xFE, "{end:?}");
            let deprecate_eof = c.deprecate_eof();
            let status = |t: &[u8]| match deprecate_eof {
                true => raw::parse_ok(t).status,
                false => u16::from_le_bytes([t[3], t[4]]),
            };
            assert_ne!(status(&end) & 0x40, 0, "{end:?}");
            let mut fetched = Vec::new();
            for _ in 0..3 {
                let mut fetch = vec![0x1C];
                fetch.extend_from_slice(&all.id.to_le_bytes());
                fetch.extend_from_slice(&4u32.to_le_bytes());
                c.send_command(&fetch).await.unwrap();
                let mut rows = 0;
                loop {
                    let (_, r) = c.read_packet().await.unwrap();
                    if r[0] == 0xFE && r.len() < 0xFF_FFFF {
                        fetched.push((rows, status(&r) & 0xC0));
                        break;
                    }
                    rows += 1;
                }
                if fetched.last().is_some_and(|(_, s)| s & 0x80 != 0) {
                    break;
                }
            }
            assert_eq!(fetched, vec![(4, 0x40), (2, 0x80)]);
            assert_eq!(
                c.query("SELECT 'on'").await.unwrap().scalar().as_deref(),
                Some("on")
            );
            // Closing a statement has no answer; the next command works.
            let mut close = vec![raw::COM_STMT_CLOSE];
            close.extend_from_slice(&all.id.to_le_bytes());
            c.send_command(&close).await.unwrap();
            let gone = c.execute(all.id, 0, &[], None, &[]).await.unwrap();
            assert_eq!(gone.err().code, 1243, "{gone:?}");
        }
        c.query(&format!("DROP DATABASE {db}")).await.unwrap();
        answers.push(got);
    }
    for (a, b) in answers[0].iter().zip(&answers[1]) {
        // NO_INDEX_USED / NO_GOOD_INDEX_USED describe one server's plan;
        // a merged answer does not carry them.
        // The info text of UPDATE ("Rows matched: ...") is not summed over
        // shards (as on the text path).
        let norm = |s: &str| {
            let s = s.replace("status: 34", "status: 2");
            match s.find(", info: ") {
                Some(at) => s[..at].to_string(),
                None => s,
            }
        };
        let (a, b) = (norm(a), norm(b));
        assert_eq!(a, b, "shardcat (left) vs reference (right)");
    }
    assert_eq!(answers[0].len(), answers[1].len());
}

/// Replicas delayed by 2 s (MASTER_DELAY) keep taking reads (the lag is
/// under the limit): a session's scattered writes, text and prepared, must
/// be visible to its own scattered and single-shard prepared reads at once,
/// while another session may read the replicas' older state.
#[tokio::test]
async fn scattered_reads_see_the_sessions_own_scattered_writes() {
    use futures::FutureExt;
    let topo = Topology::from_env();
    let replicas = ["n1r1", "n1r2", "n2r1"];
    let delay = |secs: u32| {
        let topo = topo.clone();
        async move {
            for name in replicas {
                let mut c = util::direct_conn(&topo, name, None).await;
                for sql in [
                    "STOP SLAVE".to_string(),
                    format!("CHANGE MASTER TO MASTER_DELAY = {secs}"),
                    "START SLAVE".to_string(),
                ] {
                    c.query_drop(&sql)
                        .await
                        .unwrap_or_else(|e| panic!("{name}: {sql}: {e}"));
                }
            }
        }
    };
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!("{RULES}\n{EXTRA_RULES}"),
            ..Default::default()
        },
    );
    let db = "psfresh";
    let mut p = util::proxy_conn(&proxy, None).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20), n INT)".into(),
    ] {
        p.query_drop(&sql).await.unwrap();
    }
    util::sync_replicas(&topo).await;
    delay(2).await;
    // Let the health checker see the replicas again after the restart.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let checked = std::panic::AssertUnwindSafe(async {
        let mut other = util::proxy_conn(&proxy, Some(db)).await;
        let mut stale_seen = false;
        for round in 0..4i64 {
            let base = round * 100;
            let ids: Vec<i64> = (base + 1..=base + 8).collect();
            if round % 2 == 0 {
                let values: Vec<String> = ids.iter().map(|i| format!("({i}, 'x', 1)")).collect();
                p.query_drop(format!(
                    "INSERT INTO users (id, name, n) VALUES {}",
                    values.join(", ")
                ))
                .await
                .unwrap();
            } else {
                let sql = format!(
                    "INSERT INTO users (id, name, n) VALUES {}",
                    vec!["(?, 'x', 1)"; ids.len()].join(", ")
                );
                let params: Vec<Value> = ids.iter().map(|&i| Value::Int(i)).collect();
                p.exec_drop(sql, params).await.unwrap();
            }
            let want = (round + 1) * 8;
            let n: Option<i64> = p
                .exec_first("SELECT COUNT(*) FROM users WHERE id > ?", (0,))
                .await
                .unwrap();
            assert_eq!(n, Some(want), "round {round}: own scattered read");
            for &id in &ids {
                let name: Option<String> = p
                    .exec_first("SELECT name FROM users WHERE id = ?", (id,))
                    .await
                    .unwrap();
                assert_eq!(
                    name.as_deref(),
                    Some("x"),
                    "round {round}: own point read of {id}"
                );
            }
            p.exec_drop("UPDATE users SET n = n + ? WHERE n >= ?", (1, 1))
                .await
                .unwrap();
            let sum: Option<i64> = p
                .exec_first("SELECT SUM(n) FROM users WHERE id > ?", (0,))
                .await
                .unwrap();
            let expected: i64 = (0..=round).map(|r| 8 * (round - r + 2)).sum();
            assert_eq!(sum, Some(expected), "round {round}: own scattered update");
            let theirs: Option<i64> = other
                .exec_first("SELECT COUNT(*) FROM users WHERE id > ?", (0,))
                .await
                .unwrap();
            stale_seen |= theirs != Some(want);
        }
        // A transaction over both nodes: after its COMMIT, the session's
        // reads of either node see it (the replicas have everything before
        // it, so only the COMMIT's positions can send the read elsewhere).
        util::sync_replicas(&topo).await;
        let n: Option<i64> = p
            .exec_first("SELECT COUNT(*) FROM users WHERE id > ?", (0,))
            .await
            .unwrap();
        assert_eq!(n, Some(32));
        p.query_drop("START TRANSACTION").await.unwrap();
        for id in 1..=8i64 {
            p.exec_drop("UPDATE users SET name = ? WHERE id = ?", ("tx", id))
                .await
                .unwrap();
        }
        p.query_drop("COMMIT").await.unwrap();
        let n: Option<i64> = p
            .exec_first("SELECT COUNT(*) FROM users WHERE name = ?", ("tx",))
            .await
            .unwrap();
        assert_eq!(n, Some(8), "own read after a COMMIT on both nodes");
        // The control: the replicas did lag and did take reads.
        assert!(
            stale_seen,
            "another session never read an older state: the test proves nothing"
        );
    })
    .catch_unwind()
    .await;
    delay(0).await;
    util::sync_replicas(&topo).await;
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    if let Err(panic) = checked {
        std::panic::resume_unwind(panic);
    }
}
