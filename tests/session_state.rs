//! Session state isolation: sessions sharing pooled backend connections
//! never see each other's state (current database, character sets,
//! sql_mode, time zone, isolation level, user variables, temporary tables,
//! SQL prepared statements, LAST_INSERT_ID(), FOUND_ROWS()), and nothing
//! leaks to the next client's fresh connection.
//!
//! Most tests run the proxy with `pool_max = 1` so that every session goes
//! through the same backend connection of each server. State the proxy
//! cannot replay (user variables, temporary tables, PREPARE, SET
//! TRANSACTION...) pins a backend connection to the session; two sessions
//! doing that at once with `pool_max = 1` would just wait for each other
//! (and fail with 1040 after `checkout_timeout_ms`), so those tests use
//! `pool_max = 2`: still shared, never blocking.
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
use mysql_async::Conn;
use raw::RawConn;
use util::*;

fn pool(n: usize) -> ProxyOptions {
    ProxyOptions {
        backend: format!("pool_max = {n}"),
        ..ProxyOptions::default()
    }
}

async fn q1<T: FromValue + Send + 'static>(c: &mut Conn, sql: &str) -> Option<T> {
    c.query_first::<T, _>(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `SELECT @@GLOBAL.x` directly on the primary.
async fn global_var(topo: &Topology, name: &str) -> Option<String> {
    let mut d = direct_conn(topo, "n1p", None).await;
    let v = q1::<Option<String>>(&mut d, &format!("SELECT @@GLOBAL.{name}"))
        .await
        .flatten();
    d.disconnect().await.unwrap();
    v
}

#[tokio::test]
async fn pool1_use_database_isolated() {
    let topo = Topology::from_env();
    let (da, dbb) = (db_name("iso_a"), db_name("iso_b"));
    setup_db(
        &topo,
        &da,
        &[
            "CREATE TABLE t (tag VARCHAR(10))",
            "INSERT INTO t VALUES ('A')",
        ],
    )
    .await;
    setup_db(
        &topo,
        &dbb,
        &[
            "CREATE TABLE t (tag VARCHAR(10))",
            "INSERT INTO t VALUES ('B')",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    let mut c = proxy_conn(&proxy, None).await; // never selects a database
    a.query_drop(format!("USE `{da}`")).await.unwrap();
    b.query_drop(format!("USE `{dbb}`")).await.unwrap();
    for i in 0..10 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT DATABASE()").await.as_deref(),
            Some(da.as_str()),
            "A, round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT DATABASE()").await.as_deref(),
            Some(dbb.as_str()),
            "B, round {i}"
        );
        assert_eq!(
            q1::<String>(&mut a, "SELECT tag FROM t").await.as_deref(),
            Some("A"),
            "A reads its own db, round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT tag FROM t").await.as_deref(),
            Some("B"),
            "B reads its own db, round {i}"
        );
        let cdb: Option<Option<String>> = c.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(cdb, Some(None), "C never chose a database, round {i}");
    }
    // Writes go to the right database too.
    a.query_drop("INSERT INTO t VALUES ('A2')").await.unwrap();
    b.query_drop("INSERT INTO t VALUES ('B2')").await.unwrap();
    assert_eq!(
        q1::<i64>(&mut a, "SELECT COUNT(*) FROM t WHERE tag LIKE 'A%'").await,
        Some(2)
    );
    assert_eq!(
        q1::<i64>(&mut b, "SELECT COUNT(*) FROM t WHERE tag LIKE 'B%'").await,
        Some(2)
    );
    // A session without a database must not read someone else's tables.
    let r = c.query_drop("SELECT * FROM t").await;
    let (code, state, _) = expect_server_error(r);
    assert_eq!(
        (code, state.as_str()),
        (1046, "3D000"),
        "no database selected"
    );
    for x in [a, b, c] {
        x.disconnect().await.unwrap();
    }
    drop_db(&topo, &da).await;
    drop_db(&topo, &dbb).await;
}

#[tokio::test]
async fn pool1_set_names_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    // A speaks latin1 on the wire: raw client, raw bytes.
    let mut a = RawConn::connect(proxy.port, "app", "app", None, raw::DEFAULT_CAPS).await;
    let mut b = proxy_conn(&proxy, None).await;
    a.query("SET NAMES latin1").await.unwrap().ok();
    b.query_drop("SET NAMES utf8mb4").await.unwrap();
    for i in 0..8 {
        let r = a
            .query_bytes(b"SELECT @@character_set_client, @@character_set_results, HEX(CONVERT('\xE9' USING utf8mb4)), '\xE9'")
            .await
            .unwrap();
        let row = &r.rows()[0];
        assert_eq!(
            row[0].as_deref(),
            Some(&b"latin1"[..]),
            "A character_set_client, round {i}"
        );
        assert_eq!(
            row[1].as_deref(),
            Some(&b"latin1"[..]),
            "A character_set_results, round {i}"
        );
        assert_eq!(
            row[2].as_deref(),
            Some(&b"C3A9"[..]),
            "A: latin1 e-acute read as latin1, round {i}"
        );
        assert_eq!(
            row[3].as_deref(),
            Some(&b"\xE9"[..]),
            "A: result in latin1, round {i}"
        );
        let (cs, hex, s): (String, String, String) = b
            .query_first("SELECT @@character_set_client, HEX(CONVERT('é' USING utf8mb4)), 'é✓'")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cs, "utf8mb4", "B character_set_client, round {i}");
        assert_eq!(hex, "C3A9", "B: utf8mb4 e-acute read as utf8mb4, round {i}");
        assert_eq!(s, "é✓", "B round trip, round {i}");
    }
    // SET NAMES ... COLLATE and SET CHARACTER SET are followed as well.
    b.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_bin")
        .await
        .unwrap();
    let coll = a
        .query("SELECT @@collation_connection")
        .await
        .unwrap()
        .scalar();
    assert_eq!(coll.as_deref(), Some("latin1_swedish_ci"));
    assert_eq!(
        q1::<String>(&mut b, "SELECT @@collation_connection")
            .await
            .as_deref(),
        Some("utf8mb4_bin")
    );
    b.disconnect().await.unwrap();
}

#[tokio::test]
async fn pool1_sql_mode_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let default_mode = global_var(&topo, "sql_mode").await;
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    let mut c = proxy_conn(&proxy, None).await;
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'")
        .await
        .unwrap();
    b.query_drop("SET sql_mode = 'PIPES_AS_CONCAT'")
        .await
        .unwrap();
    // Each session ends its turn with a statement without errors or
    // warnings: after an error or a warning the proxy keeps the session's
    // backend connection until its next statement (so SHOW WARNINGS can
    // follow), and with pool_max = 1 the others would wait for it.
    for i in 0..6 {
        let (code, _, _) = expect_server_error(a.query_drop("SELECT \"abc\"").await);
        assert_eq!(code, 1054, "ANSI_QUOTES makes \"abc\" a column, round {i}");
        assert_eq!(
            q1::<String>(&mut a, "SELECT @@sql_mode").await.as_deref(),
            Some("ANSI_QUOTES"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT 'a' || 'b'").await.as_deref(),
            Some("ab"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT @@sql_mode").await.as_deref(),
            Some("PIPES_AS_CONCAT"),
            "round {i}"
        );
        assert_eq!(
            q1::<i64>(&mut c, "SELECT 'a' || 'b'").await,
            Some(0),
            "C: || is OR, round {i}"
        );
        assert_eq!(
            q1::<String>(&mut c, "SELECT \"abc\"").await.as_deref(),
            Some("abc"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut c, "SELECT @@sql_mode").await,
            default_mode,
            "C keeps the default, round {i}"
        );
    }
    // Sqlx/Diesel style: computed from the current value.
    a.query_drop("SET sql_mode = (SELECT CONCAT(@@sql_mode, ',NO_ZERO_DATE'))")
        .await
        .unwrap();
    assert_eq!(
        q1::<String>(&mut a, "SELECT @@sql_mode").await.as_deref(),
        Some("ANSI_QUOTES,NO_ZERO_DATE")
    );
    assert_eq!(
        q1::<String>(&mut b, "SELECT @@sql_mode").await.as_deref(),
        Some("PIPES_AS_CONCAT")
    );
    for x in [a, b, c] {
        x.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn pool1_time_zone_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut d = direct_conn(&topo, "n1p", None).await;
    let default_tz: Option<String> = d.query_first("SELECT @@time_zone").await.unwrap();
    let default_offset: Option<i64> = d
        .query_first("SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())")
        .await
        .unwrap();
    let default_epoch: Option<String> = d
        .query_first("SELECT CAST(FROM_UNIXTIME(0) AS CHAR)")
        .await
        .unwrap();
    d.disconnect().await.unwrap();
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    a.query_drop("SET time_zone = '+05:00'").await.unwrap();
    for i in 0..6 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT @@time_zone").await.as_deref(),
            Some("+05:00"),
            "round {i}"
        );
        assert_eq!(
            q1::<i64>(
                &mut a,
                "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())"
            )
            .await,
            Some(300),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut a, "SELECT CAST(FROM_UNIXTIME(0) AS CHAR)")
                .await
                .as_deref(),
            Some("1970-01-01 05:00:00"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT @@time_zone").await,
            default_tz,
            "round {i}"
        );
        assert_eq!(
            q1::<i64>(
                &mut b,
                "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())"
            )
            .await,
            default_offset,
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT CAST(FROM_UNIXTIME(0) AS CHAR)").await,
            default_epoch,
            "round {i}"
        );
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
}

/// `SET SESSION tx_isolation = ...` is a plain system variable: replayed
/// on whatever connection the session uses.
#[tokio::test]
async fn pool1_isolation_variable_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let default_iso = global_var(&topo, "tx_isolation").await;
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    let mut c = proxy_conn(&proxy, None).await;
    a.query_drop("SET SESSION tx_isolation = 'READ-COMMITTED'")
        .await
        .unwrap();
    b.query_drop("SET @@session.tx_isolation = 'SERIALIZABLE'")
        .await
        .unwrap();
    for i in 0..6 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT @@tx_isolation")
                .await
                .as_deref(),
            Some("READ-COMMITTED"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT @@tx_isolation")
                .await
                .as_deref(),
            Some("SERIALIZABLE"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut c, "SELECT @@tx_isolation").await,
            default_iso,
            "round {i}"
        );
    }
    for x in [a, b, c] {
        x.disconnect().await.unwrap();
    }
}

/// `SET SESSION TRANSACTION ISOLATION LEVEL ...` (what Connector/J and
/// SQLAlchemy send).
#[tokio::test]
async fn isolation_level_statement_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(2));
    let default_iso = global_var(&topo, "tx_isolation").await;
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    a.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
        .await
        .unwrap();
    for i in 0..6 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT @@tx_isolation")
                .await
                .as_deref(),
            Some("READ-UNCOMMITTED"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT @@tx_isolation").await,
            default_iso,
            "round {i}"
        );
    }
    b.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap();
    a.query_drop("SET SESSION TRANSACTION READ ONLY")
        .await
        .unwrap();
    for i in 0..4 {
        assert_eq!(
            q1::<String>(&mut b, "SELECT @@tx_isolation")
                .await
                .as_deref(),
            Some("SERIALIZABLE"),
            "round {i}"
        );
        assert_eq!(
            q1::<i64>(&mut a, "SELECT @@tx_read_only").await,
            Some(1),
            "round {i}"
        );
        assert_eq!(
            q1::<i64>(&mut b, "SELECT @@tx_read_only").await,
            Some(0),
            "round {i}"
        );
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    // A new session after both: defaults.
    let mut c = proxy_conn(&proxy, None).await;
    assert_eq!(
        q1::<String>(&mut c, "SELECT @@tx_isolation").await,
        default_iso
    );
    assert_eq!(q1::<i64>(&mut c, "SELECT @@tx_read_only").await, Some(0));
    c.disconnect().await.unwrap();
}

#[tokio::test]
async fn user_variables_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(2));
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    a.query_drop("SET @x = 'A'").await.unwrap();
    b.query_drop("SET @x = 'B'").await.unwrap();
    let _: Option<i64> = a.query_first("SELECT @y := 10").await.unwrap();
    for i in 0..6 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT @x").await.as_deref(),
            Some("A"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT @x").await.as_deref(),
            Some("B"),
            "round {i}"
        );
        assert_eq!(q1::<i64>(&mut a, "SELECT @y").await, Some(10), "round {i}");
        assert_eq!(
            q1::<Option<i64>>(&mut b, "SELECT @y").await,
            Some(None),
            "B never set @y, round {i}"
        );
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    let mut c = proxy_conn(&proxy, None).await;
    assert_eq!(
        q1::<Option<String>>(&mut c, "SELECT @x").await,
        Some(None),
        "a new session sees no @x"
    );
    c.disconnect().await.unwrap();
}

/// With one backend connection per server: user variables of a finished
/// session must not reach the next one.
#[tokio::test]
async fn pool1_user_variables_do_not_leak_to_next_session() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    for i in 0..3 {
        let mut a = proxy_conn(&proxy, None).await;
        assert_eq!(
            q1::<Option<String>>(&mut a, "SELECT @secret").await,
            Some(None),
            "session {i} inherited @secret"
        );
        a.query_drop(format!("SET @secret = 'from session {i}'"))
            .await
            .unwrap();
        // Also through a SELECT assignment, which runs on a replica-or-primary.
        let _: Option<i64> = a.query_first("SELECT @n := 1").await.unwrap();
        a.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn temporary_tables_isolated() {
    let topo = Topology::from_env();
    let db = db_name("iso_tmp");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE tt (v VARCHAR(10))",
            "INSERT INTO tt VALUES ('real')",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(2));
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    let mut c = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("CREATE TEMPORARY TABLE tt (v VARCHAR(10))")
        .await
        .unwrap();
    a.query_drop("INSERT INTO tt VALUES ('A')").await.unwrap();
    b.query_drop("CREATE TEMPORARY TABLE tt (v VARCHAR(10))")
        .await
        .unwrap();
    b.query_drop("INSERT INTO tt VALUES ('B')").await.unwrap();
    a.query_drop("CREATE TEMPORARY TABLE only_a (x INT)")
        .await
        .unwrap();
    for i in 0..6 {
        assert_eq!(
            q1::<String>(&mut a, "SELECT v FROM tt").await.as_deref(),
            Some("A"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "SELECT v FROM tt").await.as_deref(),
            Some("B"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut c, "SELECT v FROM tt").await.as_deref(),
            Some("real"),
            "C sees the real table, round {i}"
        );
        let (code, _, _) = expect_server_error(b.query_drop("SELECT * FROM only_a").await);
        assert_eq!(code, 1146, "B must not see A's temporary table, round {i}");
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    c.disconnect().await.unwrap();
    let mut d = proxy_conn(&proxy, Some(&db)).await;
    let (code, _, _) = expect_server_error(d.query_drop("SELECT * FROM only_a").await);
    assert_eq!(code, 1146, "temporary table outlived its session");
    assert_eq!(
        q1::<String>(&mut d, "SELECT v FROM tt").await.as_deref(),
        Some("real")
    );
    d.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn sql_prepared_statements_isolated() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(2));
    let mut a = proxy_conn(&proxy, None).await;
    let mut b = proxy_conn(&proxy, None).await;
    a.query_drop("PREPARE s FROM 'SELECT ''A'''").await.unwrap();
    b.query_drop("PREPARE s FROM 'SELECT ''B'''").await.unwrap();
    a.query_drop("PREPARE p FROM 'SELECT ? * 2'").await.unwrap();
    for i in 0..5 {
        assert_eq!(
            q1::<String>(&mut a, "EXECUTE s").await.as_deref(),
            Some("A"),
            "round {i}"
        );
        assert_eq!(
            q1::<String>(&mut b, "EXECUTE s").await.as_deref(),
            Some("B"),
            "round {i}"
        );
        a.query_drop(format!("SET @arg = {i}")).await.unwrap();
        assert_eq!(
            q1::<i64>(&mut a, "EXECUTE p USING @arg").await,
            Some(2 * i),
            "round {i}"
        );
    }
    b.query_drop("DEALLOCATE PREPARE s").await.unwrap();
    let (code, _, _) = expect_server_error(b.query_drop("EXECUTE s").await);
    assert_eq!(code, 1243);
    let (code, _, _) = expect_server_error(b.query_drop("EXECUTE p USING @arg").await);
    assert_eq!(code, 1243, "B must not see A's statement p");
    assert_eq!(
        q1::<String>(&mut a, "EXECUTE s").await.as_deref(),
        Some("A")
    );
    a.query_drop("DEALLOCATE PREPARE s").await.unwrap();
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    let mut c = proxy_conn(&proxy, None).await;
    let (code, _, _) = expect_server_error(c.query_drop("EXECUTE p USING @arg").await);
    assert_eq!(
        code, 1243,
        "a new session must not see an old session's statement"
    );
    c.disconnect().await.unwrap();
}

/// `LAST_INSERT_ID()` belongs to the session, even when another session's
/// insert ran on the same backend connection in between.
#[tokio::test]
async fn pool1_last_insert_id_isolated() {
    let topo = Topology::from_env();
    let db = db_name("iso_lid");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, who CHAR(1)) AUTO_INCREMENT = 100"],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("INSERT INTO t (who) VALUES ('a')")
        .await
        .unwrap();
    let a_id = a.last_insert_id().unwrap();
    // Right after its own insert: the session's id.
    assert_eq!(
        q1::<u64>(&mut a, "SELECT LAST_INSERT_ID()").await,
        Some(a_id)
    );
    a.query_drop("SELECT 1").await.unwrap();
    b.query_drop("INSERT INTO t (who) VALUES ('b')")
        .await
        .unwrap();
    let b_id = b.last_insert_id().unwrap();
    b.query_drop("SELECT 1").await.unwrap();
    assert_ne!(a_id, b_id);
    assert_eq!(
        q1::<u64>(&mut a, "SELECT LAST_INSERT_ID()").await,
        Some(a_id),
        "A's LAST_INSERT_ID() after B's insert"
    );
    assert_eq!(
        q1::<u64>(&mut b, "SELECT LAST_INSERT_ID()").await,
        Some(b_id),
        "B's LAST_INSERT_ID()"
    );
    // A session that never inserted: 0.
    let mut c = proxy_conn(&proxy, Some(&db)).await;
    assert_eq!(
        q1::<u64>(&mut c, "SELECT LAST_INSERT_ID()").await,
        Some(0),
        "new session's LAST_INSERT_ID()"
    );
    // Used in a follow-up insert (the classic parent/child pattern).
    a.query_drop("INSERT INTO t (who) VALUES ('a')")
        .await
        .unwrap();
    let a2 = a.last_insert_id().unwrap();
    a.query_drop("SELECT 1").await.unwrap();
    b.query_drop("INSERT INTO t (who) VALUES ('b')")
        .await
        .unwrap();
    a.query_drop("INSERT INTO t (id, who) VALUES (LAST_INSERT_ID() + 1000, 'c')")
        .await
        .unwrap();
    let child: Option<i64> = a
        .query_first("SELECT MAX(id) FROM t WHERE who = 'c'")
        .await
        .unwrap();
    assert_eq!(
        child,
        Some(a2 as i64 + 1000),
        "LAST_INSERT_ID() inside A's next INSERT"
    );
    for x in [a, b, c] {
        x.disconnect().await.unwrap();
    }
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn found_rows_and_row_count_isolated() {
    let topo = Topology::from_env();
    let db = db_name("iso_fr");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t20 (id INT PRIMARY KEY)",
            "INSERT INTO t20 SELECT seq FROM seq_1_to_20",
            "CREATE TABLE t5 (id INT PRIMARY KEY)",
            "INSERT INTO t5 SELECT seq FROM seq_1_to_5",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(2));
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    for i in 0..5 {
        let _: Vec<i64> = a
            .query("SELECT SQL_CALC_FOUND_ROWS id FROM t20 ORDER BY id LIMIT 1")
            .await
            .unwrap();
        let _: Vec<i64> = b
            .query("SELECT SQL_CALC_FOUND_ROWS id FROM t5 ORDER BY id LIMIT 2")
            .await
            .unwrap();
        assert_eq!(
            q1::<i64>(&mut a, "SELECT FOUND_ROWS()").await,
            Some(20),
            "A, round {i}"
        );
        assert_eq!(
            q1::<i64>(&mut b, "SELECT FOUND_ROWS()").await,
            Some(5),
            "B, round {i}"
        );
    }
    // ROW_COUNT() right after a write.
    a.query_drop("UPDATE t20 SET id = id + 100 WHERE id <= 3")
        .await
        .unwrap();
    b.query_drop("DELETE FROM t5 WHERE id = 1").await.unwrap();
    assert_eq!(q1::<i64>(&mut a, "SELECT ROW_COUNT()").await, Some(3));
    assert_eq!(q1::<i64>(&mut b, "SELECT ROW_COUNT()").await, Some(1));
    // Prepared form (no write in this session yet: its reads may go to a
    // replica, which must have the DELETE first).
    sync_replicas(&topo).await;
    let mut c = proxy_conn(&proxy, Some(&db)).await;
    let _: Vec<i64> = c
        .exec("SELECT SQL_CALC_FOUND_ROWS id FROM t5 LIMIT ?", (1,))
        .await
        .unwrap();
    assert_eq!(
        q1::<i64>(&mut c, "SELECT FOUND_ROWS()").await,
        Some(4),
        "after a prepared SQL_CALC_FOUND_ROWS"
    );
    c.disconnect().await.unwrap();
    // After the session wrote something (A did the UPDATE above), its
    // reads carry a read-your-writes guarantee; FOUND_ROWS() must still
    // describe the session's previous SELECT.
    for i in 0..3 {
        let _: Vec<i64> = a
            .query("SELECT SQL_CALC_FOUND_ROWS id FROM t20 ORDER BY id LIMIT 1")
            .await
            .unwrap();
        assert_eq!(
            q1::<i64>(&mut a, "SELECT FOUND_ROWS()").await,
            Some(20),
            "text, after a write, round {i}"
        );
        let _: Vec<i64> = a
            .exec("SELECT SQL_CALC_FOUND_ROWS id FROM t20 LIMIT ?", (2,))
            .await
            .unwrap();
        assert_eq!(
            q1::<i64>(&mut a, "SELECT FOUND_ROWS()").await,
            Some(20),
            "prepared, after a write, round {i}"
        );
    }
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn autocommit_off_isolated() {
    let topo = Topology::from_env();
    let db = db_name("iso_ac");
    setup_db(&topo, &db, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    // A backend account the read-only replicas refuse writes from: see
    // autocommit_off_writes_go_to_the_primary.
    let proxy = CustomProxy::nosuper(&topo, pool(2)).await;
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("SET autocommit = 0").await.unwrap();
    a.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
    assert_eq!(q1::<i64>(&mut b, "SELECT @@autocommit").await, Some(1));
    assert_eq!(
        q1::<i64>(&mut b, "SELECT COUNT(*) FROM t").await,
        Some(0),
        "uncommitted row visible to B"
    );
    assert_eq!(
        q1::<i64>(&mut a, "SELECT COUNT(*) FROM t").await,
        Some(1),
        "A reads its own uncommitted row"
    );
    a.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(q1::<i64>(&mut a, "SELECT COUNT(*) FROM t").await, Some(0));
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    let mut c = proxy_conn(&proxy, Some(&db)).await;
    assert_eq!(
        q1::<i64>(&mut c, "SELECT @@autocommit").await,
        Some(1),
        "new session has autocommit on"
    );
    c.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// The next client's fresh connection starts clean: no database (when it
/// did not ask for one), default character sets, sql_mode, time zone.
#[tokio::test]
async fn pool1_database_does_not_leak_to_next_user() {
    let topo = Topology::from_env();
    let db = db_name("leak");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE secret (v VARCHAR(10))",
            "INSERT INTO secret VALUES ('s3cr3t')",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut app = Conn::new(proxy_opts(&proxy, "app", "app", None))
        .await
        .unwrap();
    app.query_drop(format!("USE `{db}`")).await.unwrap();
    assert_eq!(
        q1::<String>(&mut app, "SELECT v FROM secret")
            .await
            .as_deref(),
        Some("s3cr3t")
    );
    app.disconnect().await.unwrap();

    let mut other = Conn::new(proxy_opts(&proxy, "other", "other-pw", None))
        .await
        .unwrap();
    for i in 0..4 {
        let d: Option<Option<String>> = other.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(
            d,
            Some(None),
            "user 'other' inherits app's database, round {i}"
        );
    }
    let r = other.query_drop("SELECT v FROM secret").await;
    let (code, _, _) = expect_server_error(r);
    assert_eq!(
        code, 1046,
        "user 'other' can read app's table without choosing a database"
    );
    other.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn pool1_session_variables_do_not_leak_to_next_user() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let probe = "SELECT @@character_set_client, @@character_set_results, @@collation_connection, @@sql_mode, @@time_zone, @@tx_isolation, @@autocommit, @@wait_timeout";
    let mut d = direct_conn(&topo, "n1p", None).await;
    let fresh: mysql_async::Row = d.query_first(probe).await.unwrap().unwrap();
    d.disconnect().await.unwrap();
    let fresh = fresh.unwrap();
    for i in 0..2 {
        let mut app = proxy_conn(&proxy, None).await;
        let now: mysql_async::Row = app.query_first(probe).await.unwrap().unwrap();
        assert_eq!(
            now.unwrap(),
            fresh,
            "session {i} does not start like a fresh server connection"
        );
        app.query_drop(
            "SET NAMES latin1, sql_mode = 'ANSI', time_zone = '-03:00', SESSION tx_isolation = 'SERIALIZABLE', wait_timeout = 77",
        )
        .await
        .unwrap();
        let _: Option<String> = app.query_first("SELECT @@time_zone").await.unwrap();
        app.disconnect().await.unwrap();
    }
}

/// Several sessions at once, each with its own database and variables,
/// all squeezed through one backend connection per server.
#[tokio::test]
async fn pool1_concurrent_sessions_stress() {
    let topo = Topology::from_env();
    let n = 4usize;
    let dbs: Vec<String> = (0..n).map(|i| db_name(&format!("stress{i}"))).collect();
    for (i, db) in dbs.iter().enumerate() {
        setup_db(
            &topo,
            db,
            &[
                "CREATE TABLE t (tag INT)",
                &format!("INSERT INTO t VALUES ({i})"),
            ],
        )
        .await;
    }
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut tasks = Vec::new();
    for (i, db) in dbs.iter().cloned().enumerate() {
        let opts = proxy_opts(&proxy, "app", "app", None);
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.unwrap();
            c.query_drop(format!("USE `{db}`")).await.unwrap();
            let tz = format!("+0{i}:00");
            let mode = [
                "ANSI_QUOTES",
                "PIPES_AS_CONCAT",
                "NO_ZERO_DATE",
                "IGNORE_SPACE",
            ][i % 4];
            c.query_drop(format!("SET time_zone = '{tz}', sql_mode = '{mode}'"))
                .await
                .unwrap();
            for round in 0..40 {
                let r: (String, String, String, i64) = c
                    .query_first(
                        "SELECT DATABASE(), @@time_zone, @@sql_mode, (SELECT tag FROM t LIMIT 1)",
                    )
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    r,
                    (db.clone(), tz.clone(), mode.to_string(), i as i64),
                    "session {i}, round {round}"
                );
            }
            c.disconnect().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.expect("session task");
    }
    for db in &dbs {
        drop_db(&topo, db).await;
    }
}

/// `SET autocommit = 0` opens an implicit transaction: the statements that
/// follow, writes included, must run on the primary. (Run with a backend
/// account that cannot write on the read-only replicas, so a misrouted
/// write shows up as error 1290 rather than as broken replication.)
#[tokio::test]
async fn autocommit_off_writes_go_to_the_primary() {
    let topo = Topology::from_env();
    let db = db_name("ac_primary");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 0)",
        ],
    )
    .await;
    let proxy = CustomProxy::nosuper(&topo, ProxyOptions::default()).await;
    for (i, set) in [
        "SET autocommit = 0",
        "SET @@SESSION.AUTOCOMMIT = OFF",
        "SET NAMES utf8mb4, autocommit = 0",
    ]
    .iter()
    .enumerate()
    {
        let mut c = proxy_conn(&proxy, Some(&db)).await;
        c.query_drop(*set).await.unwrap();
        let r = c
            .query_drop(format!("INSERT INTO t VALUES ({}, 1)", 10 + i))
            .await;
        if let Err(e) = r {
            panic!("{set}; INSERT: {e} (the write went to a replica)");
        }
        c.query_drop("UPDATE t SET v = v + 1 WHERE id = 1".to_string())
            .await
            .unwrap_or_else(|e| panic!("{set}; UPDATE: {e}"));
        c.query_drop("COMMIT").await.unwrap();
        c.disconnect().await.unwrap();
        let mut d = direct_conn(&topo, "n1p", Some(&db)).await;
        let n: Option<i64> = d
            .query_first(format!("SELECT COUNT(*) FROM t WHERE id = {}", 10 + i))
            .await
            .unwrap();
        assert_eq!(n, Some(1), "{set}: the committed row is not on the primary");
        d.disconnect().await.unwrap();
    }
    drop_db(&topo, &db).await;
}

/// SHOW WARNINGS must describe the session's own previous statement, not
/// whatever last ran on the pooled connection it lands on.
#[tokio::test]
async fn pool1_warnings_do_not_leak_between_sessions() {
    let topo = Topology::from_env();
    let db = db_name("iso_warn");
    setup_db(&topo, &db, &["CREATE TABLE t (ti TINYINT)"]).await;
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("SET SESSION sql_mode = ''").await.unwrap();
    a.query_drop("INSERT INTO t VALUES (1000), (2000), (3000)")
        .await
        .unwrap();
    assert_eq!(a.get_warnings(), 3);
    // A moves on (its next statement, a read, releases the primary).
    a.query_drop("SELECT 1").await.unwrap();
    let w: Vec<(String, u32, String)> = b.query("SHOW WARNINGS").await.unwrap();
    assert!(w.is_empty(), "B sees A's warnings: {w:?}");
    let n: Option<i64> = b.query_first("SHOW COUNT(*) WARNINGS").await.unwrap();
    assert_eq!(n, Some(0), "B's warning count");
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// A session that wrote and then sits idle (an application's pooled
/// connection) should not keep a backend connection to itself: with
/// `pool_max = 1`, another session's write must not wait for it.
#[tokio::test]
async fn pool1_idle_session_after_write_does_not_block_others() {
    let topo = Topology::from_env();
    let db = db_name("idle_pin");
    setup_db(
        &topo,
        &db,
        &["CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, pool(1));
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    let mut b = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("INSERT INTO t (v) VALUES (1)").await.unwrap();
    // A now idles. B writes.
    let (r, took) = timed(b.query_drop("INSERT INTO t (v) VALUES (2)")).await;
    let r2 = r.map_err(|e| format!("{e}"));
    assert!(
        r2.is_ok() && took < std::time::Duration::from_secs(2),
        "B's INSERT while A idles after its own INSERT: {r2:?} after {took:?}"
    );
    a.disconnect().await.unwrap();
    b.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}

/// Control for found_rows_and_row_count_isolated: the same after-a-write
/// sequence with `consistency = "eventual"` (no read-your-writes wait on
/// the replica before each read).
#[tokio::test]
async fn found_rows_after_write_with_eventual_consistency() {
    let topo = Topology::from_env();
    let db = db_name("fr_eventual");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE t20 (id INT PRIMARY KEY)",
            "INSERT INTO t20 SELECT seq FROM seq_1_to_20",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: "consistency = \"eventual\"".into(),
            ..pool(2)
        },
    );
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    a.query_drop("UPDATE t20 SET id = id + 100 WHERE id <= 3")
        .await
        .unwrap();
    for i in 0..3 {
        let _: Vec<i64> = a
            .query("SELECT SQL_CALC_FOUND_ROWS id FROM t20 ORDER BY id LIMIT 1")
            .await
            .unwrap();
        assert_eq!(
            q1::<i64>(&mut a, "SELECT FOUND_ROWS()").await,
            Some(20),
            "text, after a write, round {i}"
        );
    }
    a.disconnect().await.unwrap();
    drop_db(&topo, &db).await;
}
