//! Security (issue 16) against real MariaDB through shardcat: proxy-enforced
//! privileges, the admin role, replica hints on writes, pre-authentication
//! limits, log escaping and brute-force throttling.
//!
//! Owns: these end-to-end checks. Must not depend on other test files'
//! state: every test starts its own shardcat and its own database.
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::Conn;
use raw::RawConn;
use util::*;

/// Users beside the harness's `app` (admin) and `other` (plain).
fn users(db: &str, security: &str) -> ProxyOptions {
    ProxyOptions {
        extra: format!(
            r#"
[[user]]
name = "reader"
password = "reader-pw"
privileges = [{{ db = "{db}", tables = ["*"], grants = ["SELECT"] }}]

[[user]]
name = "clerk"
password = "clerk-pw"
privileges = [{{ db = "{db}", tables = ["orders"], grants = ["SELECT", "INSERT", "UPDATE", "DELETE"] }}, {{ db = "{db}", tables = ["prices"], grants = ["SELECT"] }}]

[security]
{security}
"#
        ),
        ..ProxyOptions::default()
    }
}

async fn login(proxy: &ProxyProcess, user: &str, pw: &str, db: Option<&str>) -> Conn {
    Conn::new(proxy_opts(proxy, user, pw, db))
        .await
        .unwrap_or_else(|e| panic!("login {user}: {e}\n{}", tail(&proxy.log())))
}

async fn code_of(c: &mut Conn, sql: &str) -> u16 {
    match c.query_drop(sql).await {
        Ok(()) => 0,
        Err(e) => server_error(e).0,
    }
}

#[tokio::test]
async fn privileges_and_admin_role_hold() {
    let topo = Topology::from_env();
    let db = db_name("sec_priv");
    setup_db(
        &topo,
        &db,
        &[
            "CREATE TABLE orders (id INT PRIMARY KEY, v INT)",
            "CREATE TABLE prices (id INT PRIMARY KEY, p INT)",
            "INSERT INTO prices VALUES (1, 10)",
        ],
    )
    .await;
    let proxy = ProxyProcess::start_with(&topo, users(&db, ""));

    // A read-only privilege list.
    let mut r = login(&proxy, "reader", "reader-pw", Some(&db)).await;
    let rows: Vec<(i32, i32)> = r.query("SELECT id, p FROM prices").await.unwrap();
    assert_eq!(rows, vec![(1, 10)]);
    let (code, state, msg) =
        expect_server_error(r.query_drop("SELECT user, password FROM mysql.user").await);
    assert_eq!((code, state.as_str()), (1142, "42000"), "{msg}");
    assert_eq!(
        msg,
        "SELECT command denied to user 'reader'@'127.0.0.1' for table 'user'"
    );
    assert_eq!(
        code_of(&mut r, "INSERT INTO prices VALUES (2, 20)").await,
        1142
    );
    assert_eq!(code_of(&mut r, "DROP TABLE prices").await, 1142);
    assert_eq!(code_of(&mut r, "USE mysql").await, 1044);
    assert_eq!(
        code_of(&mut r, "SELECT * FROM performance_schema.threads").await,
        1142
    );
    assert_eq!(code_of(&mut r, "SHOW SHARDCAT BACKENDS").await, 1227);
    assert_eq!(code_of(&mut r, "SHOW SHARDCAT RELOAD").await, 1227);
    assert_eq!(
        code_of(&mut r, "SET GLOBAL max_connections = 10").await,
        1227
    );
    assert_eq!(
        code_of(&mut r, "CREATE USER evil IDENTIFIED BY 'x'").await,
        1227
    );
    assert_eq!(
        code_of(&mut r, "SELECT LOAD_FILE('/etc/hostname')").await,
        1227
    );
    // The process list: the user's own shardcat session only.
    let procs: Vec<(u32, String)> = r
        .query("SELECT Id, User FROM information_schema.PROCESSLIST")
        .await
        .unwrap();
    assert_eq!(procs, vec![(r.id(), "reader".to_string())]);
    let dbs: Vec<String> = r.query("SHOW DATABASES").await.unwrap();
    assert_eq!(dbs.len(), 2, "{dbs:?}");
    assert!(
        dbs.contains(&db) && dbs.iter().any(|d| d == "information_schema"),
        "{dbs:?}"
    );
    // Prepared statements are checked at PREPARE.
    let e = r.prep("DELETE FROM prices WHERE id = ?").await.map(|_| ());
    assert_eq!(expect_server_error(e).0, 1142);
    // A database outside the list at connect time.
    let e = Conn::new(proxy_opts(&proxy, "reader", "reader-pw", Some("mysql"))).await;
    assert_eq!(expect_server_error(e).0, 1044);

    // Table-level grants: writes where allowed, reads only elsewhere.
    let mut c = login(&proxy, "clerk", "clerk-pw", Some(&db)).await;
    c.query_drop("INSERT INTO orders SELECT id, p FROM prices")
        .await
        .unwrap();
    assert_eq!(code_of(&mut c, "UPDATE prices SET p = 0").await, 1142);
    assert_eq!(code_of(&mut c, "DELETE FROM prices").await, 1142);
    assert_eq!(
        code_of(&mut c, "/* shardcat:primary */ UPDATE prices SET p = 0").await,
        1142
    );
    let mut direct = direct_conn(&topo, "n1p", Some(&db)).await;
    let p: Option<i32> = direct.query_first("SELECT p FROM prices").await.unwrap();
    assert_eq!(p, Some(10), "the refused UPDATE reached the server");

    // A plain user (no list) keeps its data rights, not the admin ones.
    let mut o = login(&proxy, "other", "other-pw", Some(&db)).await;
    o.query_drop("SELECT * FROM prices").await.unwrap();
    for sql in [
        "SHOW SHARDCAT BACKENDS",
        "SET sql_log_bin = 0",
        "SET GLOBAL read_only = 0",
        "SET gtid_domain_id = 9",
        "GRANT ALL ON *.* TO other",
        "KILL 1",
    ] {
        let code = code_of(&mut o, sql).await;
        // KILL 1 names shardcat's own session 1 when it is still open
        // (another user's: 1095, as MySQL), else a server thread (1094).
        assert!(
            code == 1227 || code == 1094 || (sql == "KILL 1" && code == 1095),
            "{sql}: {code}"
        );
    }
    // The admin still runs admin statements.
    let mut a = proxy_conn(&proxy, None).await;
    let rows: Vec<mysql_async::Row> = a.query("SHOW SHARDCAT BACKENDS").await.unwrap();
    assert!(!rows.is_empty());
    drop_db(&topo, &db).await;
}

#[tokio::test]
async fn replica_hint_on_a_write_reaches_the_primary_only() {
    let topo = Topology::from_env();
    let db = db_name("sec_hint");
    setup_db(&topo, &db, &["CREATE TABLE t (id INT PRIMARY KEY)"]).await;
    let proxy = ProxyProcess::start_with(&topo, users(&db, ""));
    let mut replicas = Vec::new();
    for r in ["n1r1", "n1r2"] {
        let mut c = direct_conn(&topo, r, None).await;
        let id: u32 = c.query_first("SELECT @@server_id").await.unwrap().unwrap();
        let pos: String = c
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap();
        replicas.push((r, id, pos));
    }
    let mut a = proxy_conn(&proxy, Some(&db)).await;
    for i in 0..6 {
        a.query_drop(format!("/* shardcat:replica */ INSERT INTO t VALUES ({i})"))
            .await
            .unwrap();
    }
    a.query_drop("/* shardcat:replica */ UPDATE t SET id = id + 100 WHERE id = 0")
        .await
        .unwrap();
    let mut p = direct_conn(&topo, "n1p", Some(&db)).await;
    let n: u64 = p
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 6, "every hinted write ran on the primary");
    sync_replicas(&topo).await;
    for (r, id, _) in &replicas {
        let mut c = direct_conn(&topo, r, None).await;
        let pos: String = c
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap();
        assert!(
            !pos.split(',')
                .any(|g| g.split('-').nth(1) == Some(&id.to_string())),
            "{r} (server_id {id}) wrote its own transactions: {pos}"
        );
        let n: u64 = c
            .query_first(format!("SELECT COUNT(*) FROM `{db}`.t"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 6, "{r} diverged");
    }
    // The non-admin cannot turn off the binary log first.
    let mut o = login(&proxy, "other", "other-pw", Some(&db)).await;
    assert_eq!(code_of(&mut o, "SET sql_log_bin = 0").await, 1227);
    drop_db(&topo, &db).await;
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn oversized_handshake_is_refused_without_buffering() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, users("x", ""));
    let before = rss_kib(proxy.pid());
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = RawConn::open(proxy.port).await.unwrap();
        // The header of a 16 MiB - 1 handshake response: refused on the
        // header alone (nothing of the announced size is reserved).
        c.write_raw(&[0xFF, 0xFF, 0xFF, 0x01]).await.unwrap();
        clients.push(c);
    }
    for c in &mut clients {
        let (closed, packets) = c.wait_closed(Duration::from_secs(5)).await;
        assert!(closed, "the proxy kept an oversized handshake open");
        let err = packets.iter().find(|p| p.starts_with(&[0xFF]));
        let err = raw::parse_err(err.expect("an ERR packet before closing"));
        assert_eq!((err.code, err.state.as_str()), (1153, "08S01"), "{err:?}");
    }
    let after = rss_kib(proxy.pid());
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // Logging in still works.
    RawConn::login(proxy.port, "app", "app", None, raw::DEFAULT_CAPS)
        .await
        .unwrap()
        .expect("login");
}

#[tokio::test]
async fn unauthenticated_connections_are_limited_per_host() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, users("x", "max_unauthenticated_per_host = 3"));
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(RawConn::open(proxy.port).await.unwrap());
    }
    let e = RawConn::open(proxy.port).await.err().expect("4th refused");
    assert!(e.to_string().contains("1040"), "{e}");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    login(&proxy, "app", "app", None).await;
}

#[tokio::test]
async fn client_text_cannot_forge_log_lines() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(&topo, users("x", ""));
    let forged = "evil\n2030-01-01T00:00:00.000000Z  INFO shardcat: FORGED admin logged in";
    let r = RawConn::login(proxy.port, forged, "wrong", None, raw::DEFAULT_CAPS)
        .await
        .unwrap();
    assert_eq!(r.err().map(|e| e.code), Some(1045));
    let long = "u".repeat(40_000);
    let r = RawConn::login(proxy.port, &long, "wrong", None, raw::DEFAULT_CAPS)
        .await
        .unwrap();
    assert_eq!(r.err().map(|e| e.code), Some(1045));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = proxy.log();
    assert!(
        log.contains("evil\\n2030"),
        "escaped name not logged:\n{}",
        tail(&log)
    );
    for line in log.lines() {
        assert!(!line.starts_with("2030-01-01"), "forged line: {line}");
        assert!(line.len() < 2048, "a {} byte log line", line.len());
    }
}

#[tokio::test]
async fn failed_logins_are_delayed_then_blocked() {
    let topo = Topology::from_env();
    let security = "auth_failures_before_delay = 3\nauth_failure_delay_ms = 800\nauth_failures_before_block = 6";
    let proxy = ProxyProcess::start_with(&topo, users("x", security));
    let mut admin = proxy_conn(&proxy, None).await;
    let attempt = |pw: &'static str| {
        let port = proxy.port;
        async move {
            let t = Instant::now();
            let r = RawConn::login(port, "app", pw, None, raw::DEFAULT_CAPS).await;
            (r.ok().map(|r| r.err().map(|e| e.code)), t.elapsed())
        }
    };
    for _ in 0..3 {
        let (code, took) = attempt("wrong").await;
        assert_eq!(code, Some(Some(1045)));
        assert!(
            took < Duration::from_millis(500),
            "undelayed attempt took {took:?}"
        );
    }
    // Over the threshold: every attempt waits, the right password too.
    let (code, took) = attempt("wrong").await;
    assert_eq!(code, Some(Some(1045)));
    assert!(
        took >= Duration::from_millis(750),
        "delayed attempt took {took:?}"
    );
    let (code, took) = attempt("app").await;
    assert_eq!(code, Some(None), "the right password still logs in");
    assert!(took >= Duration::from_millis(750), "{took:?}");
    let rows: Vec<(String, u32, u32, String, Option<u64>)> =
        admin.query("SHOW SHARDCAT AUTH").await.unwrap();
    let row = rows
        .iter()
        .find(|r| r.0 == "127.0.0.1")
        .expect("a row for 127.0.0.1");
    assert_eq!((row.1, row.3.as_str()), (4, "delayed"), "{rows:?}");
    for _ in 0..2 {
        attempt("wrong").await;
    }
    // Blocked: refused before the greeting with 1129.
    let e = RawConn::open(proxy.port).await.err().expect("blocked");
    assert!(e.to_string().contains("1129"), "{e}");
    let rows: Vec<(String, u32, u32, String, Option<u64>)> =
        admin.query("SHOW SHARDCAT AUTH").await.unwrap();
    assert_eq!(rows[0].3, "blocked", "{rows:?}");
}
