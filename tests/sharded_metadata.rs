//! Logical tables look like real tables to tools: every metadata statement
//! on a sharded (or bound) table through shardcat is compared with what the
//! reference server `ref` answers for the same table created unsharded
//! there (same columns, same values; the table name is the logical one).
//!
//! Also: COM_FIELD_LIST, `INSERT INTO t VALUES …` without a column list
//! (rows checked in the physical table the rules name, and again after an
//! `ALTER TABLE` reorders the columns), `LOCK TABLES` / `UNLOCK TABLES` on
//! sharded and broadcast tables, `information_schema` reads filtered by
//! table name, unknown tables (1146 with the logical name).
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test sharded_metadata
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Value};
use serde::Deserialize;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use shardcat::placement::{KeyType, LiteralKind, ShardKey, ShardingRules, TableRule};

const RULES: &str = r#"
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "orders"
bound_to = "users"
key = "user_id"

[[table]]
name = "regions"
broadcast = true

[[table]]
name = "solo"
node = "n2"

[[table]]
name = "ghost"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const DDL: &[&str] = &[
    "CREATE TABLE users (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL, \
     score DECIMAL(8,2) DEFAULT 1.50, created DATETIME, UNIQUE KEY u_name (name), KEY k_sc (score, created)) \
     COMMENT 'people'",
    "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, total INT NOT NULL, \
     KEY k_user (user_id))",
    "CREATE TABLE regions (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL)",
];

type Rows = Vec<Vec<Option<Vec<u8>>>>;

/// Column names and types, and the rows (text values).
#[derive(Debug, PartialEq)]
struct Answer {
    columns: Vec<(String, String)>,
    rows: Rows,
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(b.clone()),
        other => Some(other.as_sql(true).into_bytes()),
    }
}

async fn answer(c: &mut Conn, sql: &str) -> Result<Answer, (u16, String)> {
    let mut result = c.query_iter(sql).await.map_err(err)?;
    let columns = result
        .columns()
        .map(|cols| {
            cols.iter()
                .map(|c| (c.name_str().into_owned(), format!("{:?}", c.column_type())))
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<mysql_async::Row> = result.collect().await.map_err(err)?;
    let rows = rows
        .into_iter()
        .map(|r| r.unwrap().iter().map(bytes).collect())
        .collect();
    Ok(Answer { columns, rows })
}

fn err(e: mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Sets the values of the named columns to NULL (statistics that differ
/// between one shard and the whole table).
fn blank(a: &mut Answer, names: &[&str]) {
    for (i, (n, _)) in a.columns.iter().enumerate() {
        if names.contains(&n.as_str()) {
            for r in &mut a.rows {
                r[i] = None;
            }
        }
    }
}

fn strip_auto_increment(a: &mut Answer) {
    for r in &mut a.rows {
        if let Some(Some(text)) = r.get_mut(1) {
            let s = String::from_utf8_lossy(text).into_owned();
            let re = s
                .split(' ')
                .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" ");
            *text = re.into_bytes();
        }
    }
}

fn load_rules() -> ShardingRules {
    #[derive(Deserialize)]
    struct RuleFile {
        table: Vec<TableRule>,
    }
    let file: RuleFile = toml::from_str(RULES).expect("rules parse");
    ShardingRules::new(file.table, &["n1", "n2"]).expect("rules valid")
}

/// (primary, physical table) of a users/orders key.
fn place(rules: &ShardingRules, table: &str, key: i64) -> (&'static str, String) {
    let k = ShardKey::from_literal(&key.to_string(), LiteralKind::Number, KeyType::Int).unwrap();
    let t = rules
        .table(None, table)
        .unwrap()
        .target_for_key(&k)
        .unwrap();
    let primary = if t.node == "n1" { "n1p" } else { "n2p" };
    (primary, t.table)
}

/// Every row of every physical table of `table`, read directly, checked to
/// sit where the rules put its key (column `key_col`); returns how many.
async fn check_placement(topo: &Topology, db: &str, table: &str, key_col: &str) -> usize {
    let rules = load_rules();
    let mut n = 0;
    for (primary, tables) in [("n1p", [0, 1]), ("n2p", [2, 3])] {
        let mut c = util::direct_conn(topo, primary, Some(db)).await;
        for i in tables {
            let physical = format!("{table}_{i}");
            let keys: Vec<i64> = c
                .query(format!("SELECT {key_col} FROM {physical}"))
                .await
                .unwrap();
            for k in keys {
                assert_eq!(
                    place(&rules, table, k),
                    (primary, physical.clone()),
                    "{table} row with {key_col} = {k} is in {primary}.{physical}"
                );
                n += 1;
            }
        }
        c.disconnect().await.unwrap();
    }
    n
}

async fn both(p: &mut Conn, r: &mut Conn, sql: &str) {
    for c in [p, r] {
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

async fn compare(p: &mut Conn, r: &mut Conn, sql: &str) -> Answer {
    let got = answer(p, sql).await;
    let want = answer(r, sql).await;
    assert_eq!(got, want, "{sql}: proxy vs ref");
    got.unwrap_or(Answer {
        columns: Vec::new(),
        rows: Vec::new(),
    })
}

/// Same columns and the same rows in any order.
async fn compare_unordered(p: &mut Conn, r: &mut Conn, sql: &str) -> Answer {
    let mut got = answer(p, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    let mut want = answer(r, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    got.rows.sort();
    want.rows.sort();
    assert_eq!(got, want, "{sql}: proxy vs ref (any order)");
    got
}

async fn field_list(port: u16, user: &str, pw: &str, db: &str, table: &str) -> Vec<Vec<u8>> {
    let mut c = raw::RawConn::connect(port, user, pw, Some(db), raw::DEFAULT_CAPS).await;
    let mut p = vec![raw::COM_FIELD_LIST];
    p.extend_from_slice(table.as_bytes());
    p.push(0);
    c.send_command(&p).await.unwrap();
    let mut out = Vec::new();
    loop {
        let (_, p) = c.read_packet().await.unwrap();
        if p.starts_with(&[0xFE]) && p.len() < 9 {
            break;
        }
        out.push(p.clone());
        if p.starts_with(&[0xFF]) {
            break;
        }
    }
    out
}

#[tokio::test]
async fn sharded_metadata_matches_reference() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_string(),
            // Everything on the primaries: this test is about what the
            // answers say, not about replica lag (a scattered write's
            // GTIDs are tracked for one node only, so a read right after
            // one may reach a replica of another node too early).
            routing: "read_write_split = false".to_string(),
            ..Default::default()
        },
    );
    let db = util::db_name("shmeta");
    let mut admin = util::proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let mut r0 = util::direct_conn(&topo, "ref", None).await;
    r0.query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let mut p = util::proxy_conn(&proxy, Some(&db)).await;
    let mut r = util::direct_conn(&topo, "ref", Some(&db)).await;
    for ddl in DDL {
        both(&mut p, &mut r, ddl).await;
    }

    // ----- INSERT without a column list (and INSERT … SET) -----
    let users: Vec<String> = (1..=40)
        .map(|i| format!("({i}, 'u{i}', {i}.25, '2026-01-01 00:00:{:02}')", i % 60))
        .collect();
    both(
        &mut p,
        &mut r,
        &format!("INSERT INTO users VALUES {}", users.join(", ")),
    )
    .await;
    both(
        &mut p,
        &mut r,
        "INSERT INTO `users` SET name = 'set-form', id = 41, score = 2",
    )
    .await;
    let orders: Vec<String> = (1..=60)
        .map(|i| format!("({}, {}, {})", 100 + i, 1 + (i * 7) % 41, i * 3))
        .collect();
    both(
        &mut p,
        &mut r,
        &format!("REPLACE INTO {db}.orders VALUES {}", orders.join(", ")),
    )
    .await;
    both(
        &mut p,
        &mut r,
        "INSERT INTO regions VALUES (1, 'north'), (2, 'south')",
    )
    .await;
    assert_eq!(check_placement(&topo, &db, "users", "id").await, 41);
    assert_eq!(check_placement(&topo, &db, "orders", "user_id").await, 60);
    for t in ["users", "orders", "regions"] {
        compare(&mut p, &mut r, &format!("SELECT * FROM {t} ORDER BY id")).await;
    }
    // A row count that does not match the columns: the server's answer.
    let e = p
        .query_drop("INSERT INTO users VALUES (99, 'x')")
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("Column count"), "{e}");

    // ----- descriptions -----
    for sql in [
        "DESCRIBE users",
        "DESC orders",
        "EXPLAIN users",
        "DESCRIBE users score",
        "DESCRIBE `users` 'n%'",
        "SHOW COLUMNS FROM users",
        &format!("SHOW FULL COLUMNS FROM `users` FROM {db}"),
        &format!("SHOW FIELDS FROM {db}.users LIKE 'n%'"),
        "SHOW FULL FIELDS IN orders WHERE `Key` <> ''",
    ] {
        compare(&mut p, &mut r, sql).await;
    }
    for sql in [
        "SHOW INDEX FROM users",
        "SHOW INDEXES FROM orders",
        &format!("SHOW KEYS FROM users FROM {db} WHERE Key_name = 'u_name'"),
        &format!("SHOW INDEX IN `{db}`.`users`"),
    ] {
        let mut got = answer(&mut p, sql).await.unwrap();
        let mut want = answer(&mut r, sql).await.unwrap();
        // Cardinality is a per-table statistic.
        blank(&mut got, &["Cardinality"]);
        blank(&mut want, &["Cardinality"]);
        assert_eq!(got, want, "{sql}: proxy vs ref");
        assert!(!got.rows.is_empty(), "{sql}: no rows");
    }
    for sql in [
        "SHOW CREATE TABLE users",
        &format!("SHOW CREATE TABLE {db}.orders"),
    ] {
        let got = answer(&mut p, sql).await.unwrap();
        let mut want = answer(&mut r, sql).await.unwrap();
        strip_auto_increment(&mut want);
        assert_eq!(got, want, "{sql}: proxy vs ref (AUTO_INCREMENT= dropped)");
    }
    let create = answer(&mut p, "SHOW CREATE TABLE users").await.unwrap();
    let text = String::from_utf8_lossy(create.rows[0][1].as_ref().unwrap()).into_owned();
    assert!(text.starts_with("CREATE TABLE `users` ("), "{text}");
    assert!(!text.contains("AUTO_INCREMENT="), "{text}");

    // ----- SHOW TABLE STATUS: one row per logical table -----
    // Exact InnoDB row counts for the comparison (on every physical table).
    r.query_drop("ANALYZE TABLE users, orders, regions")
        .await
        .unwrap();
    for (primary, slots) in [("n1p", [0, 1]), ("n2p", [2, 3])] {
        let mut c = util::direct_conn(&topo, primary, Some(&db)).await;
        for i in slots {
            c.query_drop(format!("ANALYZE TABLE users_{i}, orders_{i}"))
                .await
                .unwrap();
        }
        c.query_drop("ANALYZE TABLE regions").await.unwrap();
        c.disconnect().await.unwrap();
    }
    let status_cols = [
        "Name",
        "Engine",
        "Version",
        "Row_format",
        "Rows",
        "Collation",
        "Create_options",
        "Comment",
    ];
    let pick = |a: &Answer| -> Vec<Vec<Option<Vec<u8>>>> {
        let idx: Vec<usize> = status_cols
            .iter()
            .map(|n| a.columns.iter().position(|(c, _)| c == n).unwrap())
            .collect();
        a.rows
            .iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect()
    };
    for sql in [
        "SHOW TABLE STATUS LIKE 'users'",
        "SHOW TABLE STATUS",
        &format!("SHOW TABLE STATUS FROM {db} LIKE 'o%'"),
    ] {
        let got = answer(&mut p, sql).await.unwrap();
        let want = answer(&mut r, sql).await.unwrap();
        assert_eq!(got.columns, want.columns, "{sql}: columns");
        assert_eq!(pick(&got), pick(&want), "{sql}: {status_cols:?}");
        let auto = got.columns.iter().position(|(c, _)| c == "Auto_increment");
        for row in &got.rows {
            if row[0].as_deref() == Some(b"users") {
                assert_eq!(row[auto.unwrap()], None, "per-shard Auto_increment dropped");
            }
        }
    }

    // ----- CHECKSUM / ANALYZE / OPTIMIZE / CHECK TABLE -----
    // (the server's checksum is a sum of row checksums: the physical
    // tables' checksums add up to the logical table's)
    for sql in [
        "CHECKSUM TABLE users, orders, regions",
        "CHECKSUM TABLE users EXTENDED",
        "ANALYZE TABLE users, regions",
        "OPTIMIZE TABLE orders",
        "CHECK TABLE users",
    ] {
        let a = compare(&mut p, &mut r, sql).await;
        assert!(!a.rows.is_empty(), "{sql}: no rows");
    }
    // OPTIMIZE rebuilds the tables on the replicas too; the DDL below
    // queues behind it there.
    util::sync_replicas(&topo).await;

    // ----- information_schema filtered by table name -----
    for sql in [
        "SELECT engine, table_type, TABLE_NAME, table_comment FROM INFORMATION_SCHEMA.TABLES \
         WHERE table_schema = DATABASE() AND table_name = 'users'"
            .to_string(),
        format!(
            "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, \
             DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION"
        ),
        "select column_name, extra, generation_expression, data_type from information_schema.columns \
         where table_schema=database() and table_name='orders' order by ordinal_position"
            .to_string(),
        "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM \
         information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users') \
         ORDER BY INDEX_NAME, SEQ_IN_INDEX"
            .to_string(),
        "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION FROM \
         information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND \
         TABLE_NAME = 'orders' ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION"
            .to_string(),
    ] {
        let a = compare(&mut p, &mut r, &sql).await;
        assert!(!a.rows.is_empty(), "{sql}: no rows");
    }

    // ----- information_schema listing a whole schema -----
    for sql in [
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COMMENT FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, COLUMN_KEY FROM \
         information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "SELECT TABLE_NAME, INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    ] {
        let a = compare(&mut p, &mut r, sql).await;
        assert!(a.rows.len() >= 3, "{sql}: {a:?}");
    }
    // A listing whose rows cannot be told apart by node (no TABLE_NAME)
    // is one node's answer, never every node's rows concatenated (a
    // broadcast table's copies and each node's physical tables repeated).
    let sql = "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS \
               WHERE TABLE_SCHEMA = DATABASE()";
    let mut got = answer(&mut p, sql).await.unwrap();
    got.rows.sort();
    let mut singles = Vec::new();
    for primary in ["n1p", "n2p"] {
        let mut c = util::direct_conn(&topo, primary, Some(&db)).await;
        let mut one = answer(&mut c, sql).await.unwrap();
        one.rows.sort();
        singles.push(one.rows);
    }
    assert!(
        singles.contains(&got.rows),
        "{sql}: {} rows through the proxy, nodes answer {:?} rows",
        got.rows.len(),
        singles.iter().map(|r| r.len()).collect::<Vec<_>>()
    );

    // ----- COM_FIELD_LIST -----
    let got = field_list(proxy.port, "app", "app", &db, "users").await;
    let want = field_list(topo.port("ref"), &topo.user, &topo.password, &db, "users").await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got, want, "COM_FIELD_LIST users: proxy vs ref");

    // ----- unknown tables: 1146 with the logical name -----
    for sql in [
        "DESCRIBE nosuch",
        "SHOW CREATE TABLE ghost",
        "DESCRIBE ghost",
        "SHOW INDEX FROM ghost",
        "SHOW COLUMNS FROM ghost",
    ] {
        let got = answer(&mut p, sql).await.unwrap_err();
        let want = answer(&mut r, sql).await.unwrap_err();
        assert_eq!(got, want, "{sql}: proxy vs ref");
        assert_eq!(got.0, 1146);
    }
    let got = field_list(proxy.port, "app", "app", &db, "ghost").await;
    let want = field_list(topo.port("ref"), &topo.user, &topo.password, &db, "ghost").await;
    assert_eq!(got, want, "COM_FIELD_LIST ghost: proxy vs ref");
    let e = p
        .query_drop("INSERT INTO ghost VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(err(e), (1146, format!("Table '{db}.ghost' doesn't exist")));

    // ----- the column cache follows DDL through the proxy -----
    both(
        &mut p,
        &mut r,
        "ALTER TABLE orders ADD COLUMN note VARCHAR(10) FIRST",
    )
    .await;
    // `user_id` is now the third value of each row.
    both(
        &mut p,
        &mut r,
        "INSERT INTO orders VALUES ('late', 500, 7, 1), ('late', 501, 8, 2)",
    )
    .await;
    assert_eq!(check_placement(&topo, &db, "orders", "user_id").await, 62);
    compare(&mut p, &mut r, "SELECT * FROM orders ORDER BY id").await;
    compare(&mut p, &mut r, "DESCRIBE orders").await;

    // ----- LOCK TABLES on sharded and broadcast tables -----
    // An alias cannot name two physical tables of one node: refused.
    let e = p
        .query_drop("LOCK TABLES users AS u READ")
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("alias"), "{e}");
    both(
        &mut p,
        &mut r,
        "LOCK TABLES users READ, orders READ, regions READ",
    )
    .await;
    compare(&mut p, &mut r, "SELECT COUNT(*), SUM(id) FROM users").await;
    compare(&mut p, &mut r, "SELECT * FROM users ORDER BY id").await;
    compare(&mut p, &mut r, "SELECT * FROM regions ORDER BY id").await;
    // A READ lock refuses writes, as on one server (1099).
    let got = p.query_drop("INSERT INTO regions VALUES (9, 'x')").await;
    let want = r.query_drop("INSERT INTO regions VALUES (9, 'x')").await;
    assert_eq!(
        got.map_err(err).map_err(|e| e.0),
        want.map_err(err).map_err(|e| e.0)
    );
    // Another session cannot write the locked physical tables meanwhile.
    let mut other = util::proxy_conn(&proxy, Some(&db)).await;
    other
        .query_drop("SET SESSION lock_wait_timeout = 1")
        .await
        .unwrap();
    let blocked = other.query_drop("UPDATE users SET score = 0").await;
    assert!(blocked.is_err(), "write under another session's READ lock");
    both(&mut p, &mut r, "UNLOCK TABLES").await;
    // A node that refuses (n2: `solo` does not exist) after n1 locked:
    // the error of one server, and n1's locks released.
    let sql = "LOCK TABLES users WRITE, solo READ";
    let got = p.query_drop(sql).await.map_err(err);
    let want = r.query_drop(sql).await.map_err(err);
    assert_eq!(got, want, "{sql}");
    assert_eq!(got.unwrap_err().0, 1146);
    other
        .query_drop("UPDATE users SET score = score")
        .await
        .expect("n1's locks released after the failed LOCK TABLES");
    both(&mut p, &mut r, "LOCK TABLES users WRITE, regions WRITE").await;
    both(
        &mut p,
        &mut r,
        "INSERT INTO users VALUES (50, 'locked', 0, NULL), (51, 'locked2', 0, NULL)",
    )
    .await;
    // Through the locking connections: the physical tables of a node one
    // after the other (a plain read), ...
    compare_unordered(&mut p, &mut r, "SELECT * FROM users").await;
    // ... and a merge reads each physical table's answer in full on the
    // locking connection, one after the other, then merges them.
    compare(&mut p, &mut r, "SELECT * FROM users ORDER BY id").await;
    both(
        &mut p,
        &mut r,
        "/*!40000 ALTER TABLE `users` DISABLE KEYS */",
    )
    .await;
    both(
        &mut p,
        &mut r,
        "/*!40000 ALTER TABLE `users` ENABLE KEYS */",
    )
    .await;
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        // (on the primary: the locks are there; replicas do not see them)
        other.query_drop("/* shardcat:primary */ SELECT * FROM users WHERE id = 50"),
    )
    .await;
    assert!(
        !matches!(read, Ok(Ok(()))),
        "a read by another session under a WRITE lock went through"
    );
    both(&mut p, &mut r, "UNLOCK TABLES").await;
    drop(other);
    let mut other = util::proxy_conn(&proxy, Some(&db)).await;
    other
        .query_drop("UPDATE users SET score = 3 WHERE id = 51")
        .await
        .unwrap();
    r.query_drop("UPDATE users SET score = 3 WHERE id = 51")
        .await
        .unwrap();
    compare(&mut p, &mut r, "SELECT * FROM users ORDER BY id").await;
    assert_eq!(check_placement(&topo, &db, "users", "id").await, 43);

    drop(other);
    // ----- a transaction reads its own writes across physical tables -----
    // (rows of n1's two physical tables: the transaction began there)
    let rules = load_rules();
    let mut on_n1: Vec<i64> = (60..200)
        .filter(|&k| place(&rules, "users", k).1 == "users_0")
        .take(2)
        .collect();
    on_n1.extend(
        (60..200)
            .filter(|&k| place(&rules, "users", k).1 == "users_1")
            .take(1),
    );
    let values: Vec<String> = on_n1
        .iter()
        .enumerate()
        .map(|(i, k)| format!("({k}, 'tx{}', {i}, NULL)", i + 1))
        .collect();
    both(&mut p, &mut r, "BEGIN").await;
    both(
        &mut p,
        &mut r,
        &format!("INSERT INTO users VALUES {}", values.join(", ")),
    )
    .await;
    let a = compare_unordered(&mut p, &mut r, "SELECT id, name FROM users").await;
    assert!(a.rows.iter().any(|row| row[1].as_deref() == Some(b"tx3")));
    compare_unordered(&mut p, &mut r, "SELECT * FROM users WHERE score < 3").await;
    both(&mut p, &mut r, "ROLLBACK").await;
    compare(&mut p, &mut r, "SELECT * FROM users ORDER BY id").await;
    // A session pinned by a user variable reads the same way, ...
    both(&mut p, &mut r, "SET @k = 2").await;
    compare_unordered(&mut p, &mut r, "SELECT id, name FROM users").await;
    // ... but a read using the variable, which lives on one connection
    // only, is refused rather than answered with NULLs from other nodes.
    let e = p.query_drop("SELECT id, @k FROM users").await.unwrap_err();
    assert!(format!("{e}").contains("pinned"), "{e}");

    p.disconnect().await.unwrap();
    r.disconnect().await.unwrap();
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
    r0.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}
