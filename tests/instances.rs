//! N stateless instances behind a load balancer, with real processes: two
//! shardcat instances on one configuration (different `[id_generator]
//! worker_id`s) behind HAProxy (`mode tcp`, health check on shardcat's
//! `/health`). Clients insert generated ids and read them back through
//! HAProxy while one instance is drained (SIGTERM) and restarted: a client
//! that retries a statement once after a connection error loses nothing,
//! no id is generated twice, no row is written twice, and each instance's
//! metrics carry its own worker id.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV` and `haproxy` on PATH (`scripts/test.sh`
//! installs it with apt-get); without haproxy the test is skipped with a
//! message.

mod common;
#[path = "common/util.rs"]
mod util;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::Conn;

const RULES: &str = r#"
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

/// Snowflake layout (`router::shard::idgen`): 12 bits of sequence under
/// 10 bits of worker id.
fn worker_of(id: u64) -> u64 {
    (id >> 12) & 0x3ff
}

/// An HAProxy process in front of shardcat instances; killed when dropped.
struct HaProxy {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Balances `127.0.0.1:<port>` over `servers` = (sql port, http port),
    /// checking each server's `/health` every 200 ms.
    fn start(servers: &[(u16, u16)]) -> HaProxy {
        let port = free_port();
        let mut cfg = format!(
            "global\n  maxconn 512\n\
             defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  \
             retries 3\n  option redispatch 1\n\
             listen shardcat\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  \
             option httpchk\n  http-check send meth GET uri /health\n  http-check expect status 200\n"
        );
        for (i, (sql, http)) in servers.iter().enumerate() {
            cfg.push_str(&format!(
                "  server s{i} 127.0.0.1:{sql} check port {http} inter 200 fall 1 rise 1\n"
            ));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).expect("haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let h = HaProxy {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy: {}", h.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        h
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl util::ProxyLike for HaProxy {
    fn port(&self) -> u16 {
        self.port
    }
    fn log(&self) -> String {
        HaProxy::log(self)
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection that was lost or closed by a draining instance (1053,
/// SQLSTATE 08S01): what a driver's pool reconnects after.
fn is_connection_error(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => true,
        mysql_async::Error::Server(s) => s.code == 1053 || s.state == "08S01",
        _ => false,
    }
}

#[derive(Default, Debug)]
struct ClientReport {
    /// (generated id, client, n) of every acknowledged insert.
    inserted: Vec<(u64, u32, u32)>,
    retries: u32,
    failures: Vec<String>,
}

/// One client: inserts `(client, n)` rows with generated ids and reads each
/// back, through `port`; opens a new connection every 20 statements (as a
/// pool recycling its connections); after a connection error it connects
/// again and retries the statement once.
async fn client(port: u16, db: String, me: u32, stop: Arc<AtomicBool>) -> ClientReport {
    let opts = || {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some(db.clone()))
            .prefer_socket(false)
    };
    let mut report = ClientReport::default();
    let mut conn: Option<Conn> = None;
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) && n < 5000 {
        n += 1;
        if n.is_multiple_of(20) {
            if let Some(c) = conn.take() {
                let _ = c.disconnect().await;
            }
        }
        let insert = format!("INSERT INTO tickets (client, n) VALUES ({me}, {n})");
        let id = match run(&mut conn, &opts, &mut report, &insert, |c, sql| {
            Box::pin(async move { c.query_drop(sql).await.map(|_| c.last_insert_id()) })
        })
        .await
        {
            Some(Some(id)) => id,
            Some(None) => {
                report.failures.push(format!("{insert}: no LAST_INSERT_ID"));
                continue;
            }
            None => continue,
        };
        report.inserted.push((id, me, n));
        let select = format!("SELECT n FROM tickets WHERE id = {id}");
        let got = run(&mut conn, &opts, &mut report, &select, |c, sql| {
            Box::pin(async move { c.query_first::<u32, _>(sql).await })
        })
        .await;
        if let Some(v) = got {
            if v != Some(n) {
                report.failures.push(format!("{select}: {v:?}, not {n}"));
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.disconnect().await;
    }
    report
}

type Op<T> = for<'a> fn(
    &'a mut Conn,
    String,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = mysql_async::Result<T>> + Send + 'a>,
>;

/// Runs `op` on the client's connection (connecting first when there is
/// none); after a connection error, connects again and retries once.
async fn run<T>(
    conn: &mut Option<Conn>,
    opts: &impl Fn() -> mysql_async::OptsBuilder,
    report: &mut ClientReport,
    sql: &str,
    op: Op<T>,
) -> Option<T> {
    for attempt in 0..2 {
        // Connecting runs nothing, so a failed connect is tried again (a
        // few times, as pools do): during a restart the load balancer may
        // hand one new connection to the instance that is closing.
        let mut connects = 0;
        while conn.is_none() {
            match Conn::new(opts()).await {
                Ok(c) => *conn = Some(c),
                Err(e) if connects < 3 && is_connection_error(&e) => {
                    connects += 1;
                    report.retries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => {
                    report.failures.push(format!("connect: {e}"));
                    return None;
                }
            }
        }
        let c = conn.as_mut()?;
        match op(c, sql.to_string()).await {
            Ok(v) => return Some(v),
            Err(e) if attempt == 0 && is_connection_error(&e) => {
                report.retries += 1;
                *conn = None;
            }
            Err(e) => {
                report.failures.push(format!("{sql}: {e}"));
                *conn = None;
                return None;
            }
        }
    }
    None
}

fn instance_options(worker_id: u16, http: u16) -> ProxyOptions {
    ProxyOptions {
        server: "shutdown_timeout_ms = 5000\nreuse_port = true\n".into(),
        extra: format!(
            "{RULES}\n[id_generator]\nworker_id = {worker_id}\n\n\
             [admin]\nhttp_listen = \"127.0.0.1:{http}\"\n"
        ),
        ..Default::default()
    }
}

/// Every row of the four physical tables, read on the nodes directly.
async fn stored_rows(topo: &Topology, db: &str) -> Vec<(u64, u32, u32)> {
    let mut rows = Vec::new();
    for (node, tables) in [("n1p", [0, 1]), ("n2p", [2, 3])] {
        let mut c = util::direct_conn(topo, node, Some(db)).await;
        for t in tables {
            let part: Vec<(u64, u32, u32)> = c
                .query(format!("SELECT id, client, n FROM tickets_{t}"))
                .await
                .unwrap();
            rows.extend(part);
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_haproxy_survive_a_rolling_restart() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        eprintln!(
            "SKIPPED: haproxy is not installed (scripts/test.sh installs it: apt-get install haproxy)"
        );
        return;
    }
    let topo = Topology::from_env();
    let (sql_a, sql_b) = (free_port(), free_port());
    let (http_a, http_b) = (free_port(), free_port());
    let mut a = ProxyProcess::start_on(&topo, sql_a, instance_options(1, http_a));
    let b = ProxyProcess::start_on(&topo, sql_b, instance_options(2, http_b));
    let lb = HaProxy::start(&[(sql_a, http_a), (sql_b, http_b)]);

    let db = util::db_name("lb");
    let mut setup = util::proxy_conn(&b, None).await;
    setup
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    setup.query_drop(format!("USE {db}")).await.unwrap();
    setup
        .query_drop(
            "CREATE TABLE tickets (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, \
             client INT NOT NULL, n INT NOT NULL)",
        )
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|me| tokio::spawn(client(lb.port, db.clone(), me, stop.clone())))
        .collect();

    // Mid-run: drain instance A (SIGTERM: /health 503, listener closed,
    // idle sessions get 1053), wait for it to exit, start it again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.terminate();
    let status = a
        .wait_exit(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("instance A did not exit; log:\n{}", util::tail(&a.log())));
    assert!(status.success(), "{status:?}\n{}", util::tail(&a.log()));
    let a2 = ProxyProcess::start_on(&topo, sql_a, instance_options(1, http_a));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);

    let mut reports = Vec::new();
    for c in clients {
        reports.push(c.await.unwrap());
    }
    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    let retries: u32 = reports.iter().map(|r| r.retries).sum();
    let inserted: Vec<(u64, u32, u32)> = reports.iter().flat_map(|r| r.inserted.clone()).collect();
    eprintln!(
        "{} inserts acknowledged, {retries} retries after a connection error",
        inserted.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed statements: {failures:?}\nA log:\n{}\nhaproxy:\n{}",
        failures.len(),
        util::tail(&a2.log()),
        lb.log()
    );
    assert!(inserted.len() >= 100, "too little load: {}", inserted.len());

    // Every acknowledged row is stored once, no id was generated twice,
    // and no statement ran twice because of a retry.
    let mut stored = stored_rows(&topo, &db).await;
    stored.sort_unstable();
    let ids: HashSet<u64> = stored.iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), stored.len(), "an id generated twice");
    let keys: HashSet<(u32, u32)> = stored.iter().map(|r| (r.1, r.2)).collect();
    assert_eq!(keys.len(), stored.len(), "a row written twice");
    let mut acked = inserted.clone();
    acked.sort_unstable();
    assert_eq!(
        stored, acked,
        "stored rows differ from acknowledged inserts"
    );
    let workers: HashSet<u64> = ids.iter().map(|id| worker_of(*id)).collect();
    assert_eq!(workers, HashSet::from([1, 2]), "ids from both instances");

    // Both instances' metrics are visible, each with its own worker id,
    // and both answered statements (the restarted A too).
    for (http, worker) in [(http_a, 1), (http_b, 2)] {
        let (status, metrics) = util::http_get(http, "/metrics");
        assert!(status.contains("200"), "{status}");
        assert!(
            metrics.contains(&format!("worker_id=\"{worker}\"")),
            "worker {worker}:\n{metrics}"
        );
        assert!(
            util::metric_sum(&metrics, "shardcat_statements_total", "single_shard") > 0.0,
            "worker {worker} answered nothing"
        );
    }
    setup
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
