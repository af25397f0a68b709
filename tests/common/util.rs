//! Helpers shared by the protocol / session / bad-input tests.
//!
//! Include with `#[path = "common/util.rs"] mod util;` next to `mod common;`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};

use crate::common::proxy::ProxyProcess;
use crate::common::Topology;

/// Rules sharding `items` by `id` (hash_mod, 2 nodes x 2 tables: slots 0,
/// 1 on n1, 2, 3 on n2), for tests that need one sharded table.
pub const ITEMS_RULES: &str = r#"
[[table]]
name = "items"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

/// What the helpers need from a running proxy (the standard
/// [`ProxyProcess`] or a custom one).
pub trait ProxyLike {
    fn port(&self) -> u16;
    fn log(&self) -> String;
    fn pid(&self) -> u32;
}

impl ProxyLike for ProxyProcess {
    fn port(&self) -> u16 {
        self.port
    }
    fn log(&self) -> String {
        ProxyProcess::log(self)
    }
    fn pid(&self) -> u32 {
        ProxyProcess::pid(self)
    }
}

/// A backend account without SUPER / READ_ONLY ADMIN, so that the
/// read-only replicas refuse writes (ER_OPTION_PREVENTS_STATEMENT 1290)
/// instead of applying them and breaking replication. Created on both
/// primaries (replicated to the replicas). Returns (user, password).
pub async fn nosuper_backend_user(topo: &Topology) -> (String, String) {
    let (user, pw) = ("sc_nosuper".to_string(), "sc_nosuper_pw".to_string());
    for primary in ["n1p", "n2p"] {
        let mut c = direct_conn(topo, primary, None).await;
        c.query_drop(format!(
            "CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '{pw}'"
        ))
        .await
        .unwrap();
        c.query_drop(format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, CREATE TEMPORARY TABLES, \
             LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, PROCESS, REPLICA MONITOR, BINLOG MONITOR \
             ON *.* TO '{user}'@'127.0.0.1'"
        ))
        .await
        .unwrap();
        c.disconnect().await.unwrap();
    }
    sync_replicas(topo).await;
    (user, pw)
}

/// Options for a client of the proxy. `prefer_socket(false)` matters: with
/// the default, mysql_async asks `SELECT @@socket` and silently reconnects
/// to the *backend's* unix socket when it can log in there.
pub fn proxy_opts(
    proxy: &impl ProxyLike,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(proxy.port())
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false)
}

/// Options for a direct client of a topology instance.
pub fn direct_opts(topo: &Topology, name: &str, db: Option<&str>) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(topo.port(name))
        .user(Some(topo.user.clone()))
        .pass(Some(topo.password.clone()))
        .db_name(db)
        .prefer_socket(false)
}

/// `app` logged in through the proxy.
pub async fn proxy_conn(proxy: &impl ProxyLike, db: Option<&str>) -> Conn {
    Conn::new(proxy_opts(proxy, "app", "app", db))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "login through the proxy: {e}\nproxy log:\n{}",
                tail(&proxy.log())
            )
        })
}

/// A connection through `proxy` to a fresh, empty database `db` (dropped
/// first if a previous run left it), created through the proxy so that its
/// DDL fans out as the rules say; the connection is in it.
pub async fn fresh_db(proxy: &impl ProxyLike, db: &str) -> Conn {
    let mut p = proxy_conn(proxy, None).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
        format!("USE {db}"),
    ] {
        p.query_drop(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    p
}

pub async fn direct_conn(topo: &Topology, name: &str, db: Option<&str>) -> Conn {
    Conn::new(direct_opts(topo, name, db))
        .await
        .unwrap_or_else(|e| panic!("direct login to {name}: {e}"))
}

/// The last lines of a log, for panic messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// (code, SQLSTATE, message) of a server error; panics on anything else.
pub fn server_error(e: mysql_async::Error) -> (u16, String, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state, s.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Unwraps the error of a result that must fail with a server error.
pub fn expect_server_error<T: std::fmt::Debug>(
    r: Result<T, mysql_async::Error>,
) -> (u16, String, String) {
    match r {
        Ok(v) => panic!("expected a server error, got Ok({v:?})"),
        Err(e) => server_error(e),
    }
}

/// Waits until every replica has applied everything its primary has.
pub async fn sync_replicas(topo: &Topology) {
    for primary in ["n1p", "n2p"] {
        let mut p = direct_conn(topo, primary, None).await;
        let pos: String = p
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap_or_default();
        p.disconnect().await.unwrap();
        if pos.is_empty() {
            continue;
        }
        for r in topo.replicas_of(primary) {
            let mut c = direct_conn(topo, &r, None).await;
            let res: Option<i64> = c
                .exec_first("SELECT MASTER_GTID_WAIT(?, 30)", (pos.clone(),))
                .await
                .unwrap();
            if res != Some(0) {
                let st: Option<mysql_async::Row> =
                    c.query_first("SHOW SLAVE STATUS").await.unwrap();
                let err = st
                    .and_then(|r| r.get::<String, _>("Last_SQL_Error"))
                    .unwrap_or_default();
                panic!(
                    "replica {r} did not reach {pos} (replication broken? Last_SQL_Error: {err})"
                );
            }
            c.disconnect().await.unwrap();
        }
    }
}

/// Creates database `db` on `primary` (n1p or n2p) afresh, runs `ddl` in
/// it, and waits for the replicas.
pub async fn setup_db_on(topo: &Topology, primary: &str, db: &str, ddl: &[&str]) {
    let mut c = direct_conn(topo, primary, None).await;
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    c.query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    for stmt in ddl {
        c.query_drop(*stmt)
            .await
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    c.disconnect().await.unwrap();
    sync_replicas(topo).await;
}

pub async fn setup_db(topo: &Topology, db: &str, ddl: &[&str]) {
    setup_db_on(topo, "n1p", db, ddl).await
}

pub async fn drop_db_on(topo: &Topology, primary: &str, db: &str) {
    let mut c = direct_conn(topo, primary, None).await;
    c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
        .await
        .unwrap();
    c.disconnect().await.unwrap();
}

pub async fn drop_db(topo: &Topology, db: &str) {
    drop_db_on(topo, "n1p", db).await
}

/// A short, valid, unique database name.
pub fn db_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when the proxy process is running (and not a zombie).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // Field 3 (after the parenthesised name) is the state.
            let state = s
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// A brand new login through the proxy answers `SELECT 1`.
pub async fn assert_proxy_serves(proxy: &impl ProxyLike) {
    assert!(
        process_alive(proxy.pid()),
        "proxy process is gone; log:\n{}",
        tail(&proxy.log())
    );
    let fut = async {
        let mut c = proxy_conn(proxy, None).await;
        let one: Option<i64> = c
            .query_first("SELECT 1")
            .await
            .expect("SELECT 1 on a new connection");
        assert_eq!(one, Some(1));
        c.disconnect().await.expect("disconnect");
    };
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "a new connection through the proxy hangs; log:\n{}",
                tail(&proxy.log())
            )
        });
}

/// Runs `f` and returns its output with the time it took.
pub async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let v = f.await;
    (v, t.elapsed())
}

/// A TCP forwarder to `upstream` that, once `frozen` is set, forwards
/// nothing more in either direction and answers no new connection (a
/// network black hole appearing under load).
pub async fn forwarder(
    upstream: String,
    frozen: Arc<AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            if frozen.load(Ordering::Relaxed) {
                held.push(s);
                continue;
            }
            let Ok(up) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (cr, cw) = s.into_split();
            let (ur, uw) = up.into_split();
            tokio::spawn(pump(cr, uw, frozen.clone()));
            tokio::spawn(pump(ur, cw, frozen.clone()));
        }
    });
    (addr, task)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::Relaxed) {
            // Swallow everything from now on, keep both ends open.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The thread ids, per server of `servers`, running a statement whose
/// text contains `tag`.
pub async fn threads_running(topo: &Topology, servers: &[&str], tag: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for s in servers {
        let mut c = direct_conn(topo, s, None).await;
        let ids: Vec<u64> = c
            .exec(
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE ? AND ID <> CONNECTION_ID()",
                (format!("%{tag}%"),),
            )
            .await
            .unwrap_or_default();
        out.extend(ids.into_iter().map(|id| (s.to_string(), id)));
        c.disconnect().await.ok();
    }
    out
}

/// Waits (up to `within`) until a statement containing `tag` runs on one
/// of `servers`; its threads, or none when it never showed.
pub async fn wait_running(
    topo: &Topology,
    servers: &[&str],
    tag: &str,
    within: Duration,
) -> Vec<(String, u64)> {
    let start = Instant::now();
    loop {
        let found = threads_running(topo, servers, tag).await;
        if !found.is_empty() || start.elapsed() >= within {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no statement containing `tag` runs on `servers`; panics
/// after `within`. Returns how long it took.
pub async fn wait_until_none(
    topo: &Topology,
    servers: &[&str],
    tag: &str,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let n = threads_running(topo, servers, tag).await.len();
        if n == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{n} statement(s) with {tag} still running after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A result's rows as strings (NULL as "NULL").
pub async fn rows_as_strings(c: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    strings_of(rows)
}

/// Each value of `rows` as a string (`NULL` for NULL), text or binary rows.
pub fn strings_of(rows: Vec<mysql_async::Row>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| match r.as_ref(i) {
                    Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                    Some(mysql_async::Value::NULL) | None => "NULL".into(),
                    Some(v) => v.as_sql(true),
                })
                .collect()
        })
        .collect()
}

/// `GET path` on shardcat's HTTP listener at `port`: (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("admin listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The sum of every sample of `family` in a `/metrics` text whose line
/// contains `with`.
pub fn metric_sum(metrics: &str, family: &str, with: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(family) && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A proxy's configuration listening on `port` over the topology's two
/// primaries (nodes n1, n2 on n1p, n2p), with the backend user and an
/// `app`/`app` user, followed by `rest` (the rules, other sections).
pub fn two_primaries_config(topo: &Topology, port: u16, rest: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[backend]
user = "{user}"
password = "{password}"

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:{n1p}"

[[node]]
name = "n2"
primary = "127.0.0.1:{n2p}"
{rest}"#,
        user = topo.user,
        password = topo.password,
        n1p = topo.port("n1p"),
        n2p = topo.port("n2p"),
    )
}

/// A connection as `app`/`app` to the proxy on `port`, database `db`.
pub async fn app_conn(port: u16, db: &str) -> Conn {
    let opts = OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("app"))
        .pass(Some("app"))
        .db_name(Some(db))
        .prefer_socket(false);
    Conn::new(opts).await.expect("login through shardcat")
}

/// Drops database `db` on each of `servers` and creates it again, empty.
pub async fn recreate_database(topo: &Topology, servers: &[&str], db: &str) {
    for server in servers {
        let mut c = direct_conn(topo, server, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
            .await
            .expect("drop");
        c.query_drop(format!("CREATE DATABASE `{db}`"))
            .await
            .expect("create db");
        c.disconnect().await.ok();
    }
}
