//! Helpers for the read/write-splitting integration tests (`rw_*.rs`):
//! where did a statement run (observed on the servers themselves), direct
//! server access, a proxy started from arbitrary configuration text, and a
//! guard that puts the topology back (SIGCONT, restart, START SLAVE,
//! MASTER_DELAY=0) even when a test fails.
//!
//! Include it with `#[path = "common/rw.rs"] mod rw;` next to `mod common;`.
//!
//! Where a statement ran is read from each server's general log (switched
//! on with `log_output = 'TABLE'`): every statement a test sends through the
//! proxy carries a unique token in a comment, and [`where_ran`] counts, per
//! instance, the log rows of the proxy's backend account ([`APP_USER`], an
//! unprivileged account so that a misrouted write is refused by the
//! replica's read_only instead of breaking replication) whose text contains
//! it. The counting query spells the token reversed so
//! that it never matches itself. Replicated changes do not show there (row
//! based binlog; the SQL thread is not logged), so a row on a replica means
//! the proxy sent the statement there.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use crate::common::proxy::{free_port, ProxyOptions, ProxyProcess};
use crate::common::{Topology, TEST_DB};

/// The backend account the proxy uses in these tests: an ordinary
/// application account (no SUPER / READ_ONLY ADMIN), so that a write the
/// proxy wrongly sends to a replica is refused there (read_only, ERROR 1290)
/// instead of creating an errant GTID that breaks replication.
pub const APP_USER: &str = "rwapp";
pub const APP_PASSWORD: &str = "rwapp";

/// The servers of node n1, where the read/write-split tests route.
pub const N1: [&str; 3] = ["n1p", "n1r1", "n1r2"];
pub const N1_REPLICAS: [&str; 2] = ["n1r1", "n1r2"];

/// Tests in one binary run on several threads; these tests share server
/// counters and signal servers, so they run one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `fut`, failing the test if it takes longer than `secs`.
pub async fn bounded<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within {secs} s"),
    }
}

/// A direct connection to one instance (not through the proxy).
pub async fn direct(topo: &Topology, name: &str) -> Conn {
    let url = topo.mysql_url(name, Some(TEST_DB));
    bounded(
        15,
        &format!("connect to {name}"),
        Conn::from_url(url.as_str()),
    )
    .await
    .unwrap_or_else(|e| panic!("connecting to {name} ({url}): {e}"))
}

/// A client connection through the proxy, as user `app`, in the test db.
pub async fn through(proxy_port: u16) -> Conn {
    let url = format!("mysql://app:app@127.0.0.1:{proxy_port}/{TEST_DB}");
    bounded(15, "connect to the proxy", Conn::from_url(url.as_str()))
        .await
        .unwrap_or_else(|e| panic!("connecting through the proxy ({url}): {e}"))
}

/// Creates [`APP_USER`] on both primaries (replicated to their replicas)
/// and waits until the replicas have it.
pub async fn ensure_app_user(topo: &Topology) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    for primary in ["n1p", "n2p"] {
        let mut c = direct(topo, primary).await;
        for sql in [
            format!("CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}'"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, LOCK TABLES, \
                 CREATE TEMPORARY TABLES ON `{TEST_DB}`.* TO '{APP_USER}'@'%'"
            ),
            format!("GRANT SLAVE MONITOR ON *.* TO '{APP_USER}'@'%'"),
        ] {
            c.query_drop(&sql)
                .await
                .unwrap_or_else(|e| panic!("{primary}: {sql}: {e}"));
        }
        let _ = c.disconnect().await;
    }
    for replica in ["n1r1", "n1r2", "n2r1"] {
        let mut c = direct(topo, replica).await;
        let sql = format!("SELECT COUNT(*) FROM mysql.user WHERE user = '{APP_USER}'");
        let ok = crate::common::wait_for(Duration::from_secs(10), async || {
            matches!(c.query_first::<u64, _>(sql.as_str()).await, Ok(Some(n)) if n > 0)
                .then_some(())
        })
        .await;
        assert!(ok.is_some(), "user {APP_USER} did not reach {replica}");
        let _ = c.disconnect().await;
    }
    DONE.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Starts a proxy with the harness's configuration, `routing` appended to
/// `[routing]`, [`APP_USER`] as the backend account and, if given, node n1's
/// replica list replaced (see [`config_text_with`]).
pub async fn start_proxy_with(
    topo: &Topology,
    o: ProxyOptions,
    n1_replicas: Option<&str>,
) -> RwProxy {
    assert!(
        wait_replicating(topo, Duration::from_secs(30)),
        "the topology's replication is broken before the test (see SHOW SLAVE STATUS on n1r1/n1r2/n2r1)"
    );
    ensure_app_user(topo).await;
    let topo2 = topo.clone();
    // `[backend]` keys the harness already sets (health_interval_ms,
    // health_timeout_ms) are replaced rather than repeated.
    let mut o = o;
    let mut overrides = Vec::new();
    let mut rest = String::new();
    for line in o.backend.lines() {
        match line.split_once('=') {
            Some((k, _)) if ["health_interval_ms", "health_timeout_ms"].contains(&k.trim()) => {
                overrides.push((k.trim().to_string(), line.trim().to_string()))
            }
            _ => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    o.backend = rest;
    RwProxy::start(move |port| {
        let text = match n1_replicas {
            Some(list) => config_text_with(&topo2, port, &o, list),
            None => ProxyProcess::config_text(&topo2, port, &o),
        };
        let account = format!(
            "user = \"{}\"\npassword = \"{}\"",
            topo2.user, topo2.password
        );
        assert!(
            text.contains(&account),
            "harness config changed shape:\n{text}"
        );
        let mut text = text.replacen(
            &account,
            &format!("user = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\""),
            1,
        );
        for (key, line) in &overrides {
            let start = text
                .find(&format!("\n{key} = "))
                .unwrap_or_else(|| panic!("no {key} in the harness config"))
                + 1;
            let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
            text.replace_range(start..end, line);
        }
        text
    })
}

pub async fn start_proxy(topo: &Topology, routing: &str) -> RwProxy {
    start_proxy_with(
        topo,
        ProxyOptions {
            routing: routing.into(),
            ..ProxyOptions::default()
        },
        None,
    )
    .await
}

/// Turns the general log on (into mysql.general_log) on every server of n1.
pub async fn enable_general_log(topo: &Topology) {
    for name in N1 {
        let mut c = direct(topo, name).await;
        c.query_drop("SET GLOBAL log_output = 'TABLE'")
            .await
            .unwrap();
        c.query_drop("SET GLOBAL general_log = ON").await.unwrap();
        let _ = c.disconnect().await;
    }
}

/// How many statements containing `token` the proxy ran on each server of
/// n1 (general-log rows of user shardcat, Query or Execute).
pub async fn where_ran(topo: &Topology, token: &str) -> BTreeMap<String, u64> {
    let reversed: String = format!("%{token}%").chars().rev().collect();
    let mut out = BTreeMap::new();
    for name in N1 {
        let mut c = direct(topo, name).await;
        let n: Option<u64> = c
            .query_first(format!(
                "SELECT COUNT(*) FROM mysql.general_log WHERE (user_host LIKE 'shardcat[%' OR user_host LIKE '{APP_USER}[%') \
                 AND command_type IN ('Query', 'Execute') AND argument LIKE REVERSE('{reversed}')"
            ))
            .await
            .unwrap();
        out.insert(name.to_string(), n.unwrap_or(0));
        let _ = c.disconnect().await;
    }
    out
}

/// Waits (up to 2 s) until the general log shows at least `total`
/// statements with `token`, then returns the per-server counts.
pub async fn where_ran_total(topo: &Topology, token: &str, total: u64) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let m = where_ran(topo, token).await;
        if m.values().sum::<u64>() >= total || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The statement texts with `token` logged on `name` (for failure messages).
pub async fn logged(topo: &Topology, name: &str, token: &str) -> Vec<String> {
    let reversed: String = format!("%{token}%").chars().rev().collect();
    let mut c = direct(topo, name).await;
    let rows: Vec<Row> = c
        .query(format!(
            "SELECT command_type, argument FROM mysql.general_log WHERE (user_host LIKE 'shardcat[%' OR user_host LIKE '{APP_USER}[%') \
             AND argument LIKE REVERSE('{reversed}') ORDER BY event_time"
        ))
        .await
        .unwrap();
    let _ = c.disconnect().await;
    rows.into_iter()
        .map(|r| {
            let t: String = r.get::<Option<String>, _>(0).flatten().unwrap_or_default();
            let a: Vec<u8> = r.get::<Option<Vec<u8>>, _>(1).flatten().unwrap_or_default();
            format!("{t}: {}", String::from_utf8_lossy(&a))
        })
        .collect()
}

/// One global status counter of an instance.
pub async fn global_status(topo: &Topology, name: &str, var: &str) -> u64 {
    let mut c = direct(topo, name).await;
    let row: Option<(String, String)> = c
        .query_first(format!("SHOW GLOBAL STATUS LIKE '{var}'"))
        .await
        .unwrap();
    let _ = c.disconnect().await;
    row.and_then(|(_, v)| v.parse().ok()).unwrap_or(0)
}

/// Global status counters read over connections kept open (opening a
/// connection runs SELECTs of the driver's own, which would count).
pub struct StatusProbe {
    conns: Vec<(String, Conn)>,
}

impl StatusProbe {
    pub async fn new(topo: &Topology, names: &[&str]) -> StatusProbe {
        let mut conns = Vec::new();
        for n in names {
            conns.push((n.to_string(), direct(topo, n).await));
        }
        StatusProbe { conns }
    }

    pub async fn read(&mut self, var: &str) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (name, c) in self.conns.iter_mut() {
            let row: Option<(String, String)> = c
                .query_first(format!("SHOW GLOBAL STATUS LIKE '{var}'"))
                .await
                .unwrap();
            m.insert(
                name.clone(),
                row.and_then(|(_, v)| v.parse().ok()).unwrap_or(0),
            );
        }
        m
    }
}

/// `Com_select` of every server of n1 (each read opens connections: a few
/// SELECTs of the driver's own count too; see [`StatusProbe`]).
pub async fn com_select(topo: &Topology) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for name in N1 {
        m.insert(
            name.to_string(),
            global_status(topo, name, "Com_select").await,
        );
    }
    m
}

pub fn diff(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v.saturating_sub(*before.get(k).unwrap_or(&0))))
        .collect()
}

/// Instance name of n1 listening on `port` (from `SELECT @@port`).
pub fn instance_of_port(topo: &Topology, port: u16) -> String {
    N1.iter()
        .chain(["n2p", "n2r1", "ref"].iter())
        .find(|n| topo.port(n) == port)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("unknown port {port}"))
}

// ----- SHOW SHARDCAT BACKENDS ---------------------------------------------

#[derive(Debug, Clone)]
pub struct BackendRow {
    pub node: String,
    pub role: String,
    pub address: String,
    pub weight: u32,
    pub healthy: bool,
    pub lag_ms: Option<i64>,
    pub in_flight: i64,
    pub routed: u64,
    pub errors: u64,
}

pub async fn backends(conn: &mut Conn) -> Vec<BackendRow> {
    let rows: Vec<Row> = conn
        .query("SHOW SHARDCAT BACKENDS")
        .await
        .expect("SHOW SHARDCAT BACKENDS");
    rows.into_iter()
        .map(|r| {
            let s = |i: usize| -> Option<String> { r.get::<Option<String>, _>(i).flatten() };
            BackendRow {
                node: s(0).unwrap_or_default(),
                role: s(1).unwrap_or_default(),
                address: s(2).unwrap_or_default(),
                weight: s(3).and_then(|v| v.parse().ok()).unwrap_or(0),
                healthy: s(4).as_deref() == Some("yes"),
                lag_ms: s(5).and_then(|v| v.parse().ok()),
                in_flight: s(6).and_then(|v| v.parse().ok()).unwrap_or(0),
                routed: s(7).and_then(|v| v.parse().ok()).unwrap_or(0),
                errors: s(8).and_then(|v| v.parse().ok()).unwrap_or(0),
            }
        })
        .collect()
}

/// The row of instance `name` in SHOW SHARDCAT BACKENDS.
pub async fn backend_of(conn: &mut Conn, topo: &Topology, name: &str) -> BackendRow {
    let addr = format!("127.0.0.1:{}", topo.port(name));
    backends(conn)
        .await
        .into_iter()
        .find(|b| b.address == addr)
        .unwrap_or_else(|| panic!("{name} ({addr}) not in SHOW SHARDCAT BACKENDS"))
}

// ----- a proxy with any configuration text --------------------------------

/// Like [`ProxyProcess`], but from full configuration text (e.g. with
/// replica weights), which [`config_text_with`] builds.
pub struct RwProxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// The harness's configuration, with node n1's replica list replaced by
/// `n1_replicas` (TOML array text; `{n1r1}`/`{n1r2}` stand for the ports).
pub fn config_text_with(topo: &Topology, port: u16, o: &ProxyOptions, n1_replicas: &str) -> String {
    let text = ProxyProcess::config_text(topo, port, o);
    let default_list = format!(
        "replicas = [{{ addr = \"127.0.0.1:{}\" }}, {{ addr = \"127.0.0.1:{}\" }}]",
        topo.port("n1r1"),
        topo.port("n1r2")
    );
    assert!(
        text.contains(&default_list),
        "harness config changed shape:\n{text}"
    );
    let list = n1_replicas
        .replace("{n1r1}", &topo.port("n1r1").to_string())
        .replace("{n1r2}", &topo.port("n1r2").to_string());
    text.replacen(&default_list, &format!("replicas = {list}"), 1)
}

impl RwProxy {
    pub fn start(config: impl FnOnce(u16) -> String) -> RwProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let path = dir.path().join("shardcat.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(config(port).as_bytes()))
            .expect("write config");
        let log = std::fs::File::create(dir.path().join("shardcat.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("SHARDCAT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shardcat");
        let p = RwProxy { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "shardcat did not start listening; log:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shardcat.log")).unwrap_or_default()
    }
}

impl Drop for RwProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- putting the topology back ------------------------------------------

/// What [`TopoGuard`] undoes, in reverse order of registration.
#[derive(Debug, Clone)]
pub enum Restore {
    /// SIGCONT to this pid.
    Cont(i32),
    /// `topology.sh start-instance NAME` if it is not answering.
    StartInstance(String),
    /// `START SLAVE` on this replica.
    StartSlave(String),
    /// `STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE`.
    NoDelay(String),
}

/// Restores the topology when dropped, whether the test passed or not, then
/// waits for every replica of n1 to replicate again.
pub struct TopoGuard {
    pub topo: Topology,
    actions: Vec<Restore>,
}

impl TopoGuard {
    pub fn new(topo: &Topology) -> TopoGuard {
        TopoGuard {
            topo: topo.clone(),
            actions: Vec::new(),
        }
    }

    pub fn push(&mut self, r: Restore) {
        self.actions.push(r);
    }

    /// Runs the restores now (and not again on drop).
    pub fn restore_now(&mut self) {
        let actions: Vec<Restore> = self.actions.drain(..).rev().collect();
        for a in actions {
            self.run(&a);
        }
        wait_replicating(&self.topo, Duration::from_secs(60));
    }

    fn run(&self, a: &Restore) {
        match a {
            Restore::Cont(pid) => {
                let _ = Command::new("kill")
                    .arg("-CONT")
                    .arg(pid.to_string())
                    .status();
            }
            Restore::StartInstance(name) => {
                if cli(&self.topo, name, "SELECT 1").is_err() {
                    if let Err(e) = self.topo.start_instance(name) {
                        eprintln!("guard: start-instance {name} failed: {e:#}");
                    }
                }
            }
            Restore::StartSlave(name) => {
                if let Err(e) = cli(&self.topo, name, "START SLAVE") {
                    eprintln!("guard: START SLAVE on {name} failed: {e}");
                }
            }
            Restore::NoDelay(name) => {
                if let Err(e) = cli(
                    &self.topo,
                    name,
                    "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY=0; START SLAVE",
                ) {
                    eprintln!("guard: MASTER_DELAY=0 on {name} failed: {e}");
                }
            }
        }
    }
}

impl Drop for TopoGuard {
    fn drop(&mut self) {
        self.restore_now();
    }
}

/// Runs SQL on an instance with the mariadb command-line client over its
/// socket (usable from Drop, outside any async runtime's reach).
pub fn cli(topo: &Topology, name: &str, sql: &str) -> Result<String, String> {
    cli_with(topo, name, sql, &["--batch", "--skip-column-names"])
}

fn cli_with(topo: &Topology, name: &str, sql: &str, format: &[&str]) -> Result<String, String> {
    let sock = &topo.instance(name).socket;
    let out = Command::new("timeout")
        .arg("20")
        .arg("mariadb")
        .args(["--no-defaults", "-uroot", "--connect-timeout=5"])
        .args(format)
        .arg(format!("--socket={}", sock.display()))
        .arg("-e")
        .arg(sql)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits until every replica of n1 (and n2) has both replication threads
/// running and has caught up with its primary's binlog position.
pub fn wait_replicating(topo: &Topology, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let replicas = ["n1r1", "n1r2", "n2r1"];
    loop {
        let ok = replicas.iter().all(|r| {
            let primary = topo.instance(r).primary.clone().unwrap_or_else(|| "n1p".into());
            let pos = cli(topo, &primary, "SELECT @@gtid_binlog_pos").unwrap_or_default();
            let status = cli(
                topo,
                r,
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVE_RUNNING'",
            )
            .unwrap_or_default();
            let applied = cli(topo, r, "SELECT @@gtid_slave_pos").unwrap_or_default();
            status.trim() == "ON" && gtid_covers(applied.trim(), pos.trim())
        });
        if ok {
            return true;
        }
        if Instant::now() > deadline {
            eprintln!("guard: replication did not come back within {timeout:?}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// True when GTID position `have` includes every domain's seq_no of `want`.
fn gtid_covers(have: &str, want: &str) -> bool {
    let parse = |s: &str| -> BTreeMap<String, u64> {
        s.split(',')
            .filter_map(|g| {
                let mut it = g.trim().split('-');
                let d = it.next()?.to_string();
                let _server = it.next()?;
                let seq = it.next()?.parse().ok()?;
                Some((d, seq))
            })
            .collect()
    };
    let h = parse(have);
    parse(want)
        .iter()
        .all(|(d, s)| h.get(d).is_some_and(|x| x >= s))
}

/// The slave status field of a replica (via the CLI, vertical output).
pub fn slave_field(topo: &Topology, name: &str, field: &str) -> Option<String> {
    let out = cli_with(topo, name, "SHOW SLAVE STATUS\\G", &[]).ok()?;
    out.lines().find_map(|l| {
        let (k, v) = l.trim().split_once(": ")?;
        (k == field).then(|| v.trim().to_string())
    })
}

pub fn topology_dir(topo: &Topology) -> PathBuf {
    topo.dir.clone()
}

// ----- statistics ---------------------------------------------------------

/// Sorted latencies in microseconds → (p50, p90, p99, max, mean).
pub fn percentiles(mut us: Vec<u64>) -> (u64, u64, u64, u64, u64) {
    if us.is_empty() {
        return (0, 0, 0, 0, 0);
    }
    us.sort_unstable();
    let at = |p: f64| us[((us.len() as f64 - 1.0) * p).round() as usize];
    let mean = us.iter().sum::<u64>() / us.len() as u64;
    (at(0.5), at(0.9), at(0.99), *us.last().unwrap(), mean)
}

// ----- signals, checked ---------------------------------------------------

fn proc_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|v| v.trim().chars().next())
}

/// The pid of instance `name`, checked against the process's command line
/// (a stale pid file would make signals miss).
pub fn checked_pid(topo: &Topology, name: &str) -> i32 {
    let pid = topo.pid(name);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let datadir = topo.dir.join(name).join("data");
    assert!(
        cmdline.contains(&format!("--datadir={}", datadir.display())),
        "pid {pid} from {name}'s pid file is not its server (cmdline {cmdline:?})"
    );
    pid
}

/// SIGSTOPs instance `name` and waits until the kernel shows it stopped;
/// returns the pid (for SIGCONT).
pub fn freeze(topo: &Topology, name: &str) -> i32 {
    let pid = checked_pid(topo, name);
    crate::common::sigstop(pid);
    let deadline = Instant::now() + Duration::from_secs(2);
    while proc_state(pid) != Some('T') {
        assert!(
            Instant::now() < deadline,
            "{name} (pid {pid}) not stopped 2 s after SIGSTOP: state {:?}",
            proc_state(pid)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    pid
}

/// True while `pid` is stopped (to check nothing resumed it early).
pub fn is_stopped(pid: i32) -> bool {
    proc_state(pid) == Some('T')
}
