//! Period tables of rolling `time_range` rules against the real topology,
//! with a faked clock (`SHARDCAT_TODAY`): `shardcat tables ensure` (dry run,
//! run, idempotence, right nodes, same definition), `check --live`
//! warnings at a month rollover, writes and merged reads touching a missing
//! period (1146 naming
//! the logical table and period) or beyond `create_ahead` (a clear error),
//! `shardcat tables retire` (dry run, archive, never the current period)
//! and routing after retirement (ranges over retired periods return only
//! live rows, as after a DELETE on one server), and the proxy's own
//! create-ahead schedule (log line, metric).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own databases.

mod common;
#[path = "common/util.rs"]
mod util;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::proxy::free_port;
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};
use util::{direct_conn, sync_replicas};

const DB: &str = "grow_periods";
const ARCHIVE: &str = "grow_archive";

fn config(topo: &Topology, port: u16, http: u16, routing: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[admin]
http_listen = "127.0.0.1:{http}"

[backend]
user = "{user}"
password = "{password}"

[routing]
{routing}

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:{n1p}"

[[node]]
name = "n2"
primary = "127.0.0.1:{n2p}"

[[table]]
name = "events"
schema = "{DB}"
key = "at"
key_type = "date"
[table.algorithm]
kind = "time_range"
unit = "month"
start = "2026-10"
nodes = ["n1", "n2"]
horizon = 24
create_ahead = 2
retain = "2 months"

[[table]]
name = "event_notes"
schema = "{DB}"
bound_to = "events"
key = "at"
"#,
        user = topo.user,
        password = topo.password,
        n1p = topo.port("n1p"),
        n2p = topo.port("n2p"),
    )
}

struct Run {
    dir: tempfile::TempDir,
    port: u16,
    http: u16,
}

impl Run {
    fn new(topo: &Topology, routing: &str) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, http) = (free_port(), free_port());
        std::fs::write(dir.path().join("c.toml"), config(topo, port, http, routing))
            .expect("write config");
        Run { dir, port, http }
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("c.toml")
    }

    /// Runs `shardcat <args> --config c.toml` on `today`: (exit ok, stdout).
    fn cli(&self, today: &str, args: &[&str]) -> (bool, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_shardcat"));
        command.args(args);
        if args[0] == "check" {
            command.arg(self.path());
        } else {
            command.arg("--config").arg(self.path());
        }
        let out = command
            .env("SHARDCAT_TODAY", today)
            .output()
            .expect("run shardcat");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), format!("{text}{err}"))
    }

    fn serve(&self, today: &str) -> Proxy {
        let log = self.dir.path().join(format!("serve-{today}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(["serve", "--config"])
            .arg(self.path())
            .env("SHARDCAT_TODAY", today)
            .env("SHARDCAT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start shardcat");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "shardcat did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, log }
    }

    async fn client(&self) -> Conn {
        let opts = OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some("app"))
            .pass(Some("app"))
            .db_name(Some(DB))
            .prefer_socket(false);
        Conn::new(opts).await.expect("login through shardcat")
    }
}

struct Proxy {
    child: Child,
    log: std::path::PathBuf,
}

impl Proxy {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tables of `db` on a primary.
async fn tables_on(topo: &Topology, primary: &str, db: &str) -> Vec<String> {
    let mut c = direct_conn(topo, primary, None).await;
    let mut names: Vec<String> = c
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
            (db,),
        )
        .await
        .expect("list tables");
    c.disconnect().await.ok();
    names.sort();
    names
}

/// A table's definition with its name blanked out.
async fn definition(topo: &Topology, primary: &str, table: &str) -> String {
    let mut c = direct_conn(topo, primary, Some(DB)).await;
    let row: (String, String) = c
        .query_first(format!("SHOW CREATE TABLE `{table}`"))
        .await
        .expect("show create")
        .expect("a row");
    c.disconnect().await.ok();
    row.1
        .replacen(&format!("`{table}`"), "`T`", 1)
        .split(' ')
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn setup(topo: &Topology) {
    for primary in ["n1p", "n2p"] {
        let mut c = direct_conn(topo, primary, None).await;
        for db in [DB, ARCHIVE] {
            c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .await
                .expect("drop");
        }
        c.query_drop(format!("CREATE DATABASE `{DB}`"))
            .await
            .expect("create db");
        c.disconnect().await.ok();
    }
    // Only the first period exists, made by hand, on its node (n1).
    let mut c = direct_conn(topo, "n1p", Some(DB)).await;
    c.query_drop(
        "CREATE TABLE events_202610 (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
         at DATE NOT NULL, note VARCHAR(40) COLLATE utf8mb4_bin DEFAULT 'x', KEY (at)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    )
    .await
    .expect("seed table");
    c.query_drop("CREATE TABLE event_notes_202610 (at DATE NOT NULL, body TEXT)")
        .await
        .expect("seed bound table");
    c.query_drop("INSERT INTO events_202610 (at) VALUES ('2026-10-05'), ('2026-10-06')")
        .await
        .expect("seed rows");
    c.disconnect().await.ok();
    sync_replicas(topo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periods_are_created_ahead_checked_and_retired() {
    let topo = Topology::from_env();
    let _guard = LOCK.lock().await;
    setup(&topo).await;
    let run = Run::new(&topo, "tables_ensure_interval_s = 0");

    // December 2026: the current month and the next two are wanted.
    let (ok, out) = run.cli("2026-12-06", &["tables", "ensure", "--dry-run"]);
    assert!(ok, "{out}");
    for (logical, table, node) in [
        ("events", "events_202612", "n1"),
        ("events", "events_202701", "n2"),
        ("events", "events_202702", "n1"),
        ("event_notes", "event_notes_202701", "n2"),
    ] {
        let line = format!("would create {logical} ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&line) && l.contains(&format!("{DB}.{table} on {node}"))),
            "{table} on {node} missing from:\n{out}"
        );
    }
    assert_eq!(count_lines(&out, "would create "), 6, "{out}");
    assert_eq!(
        tables_on(&topo, "n1p", DB).await.len(),
        2,
        "dry run created tables"
    );

    let (ok, out) = run.cli("2026-12-06", &["tables", "ensure"]);
    assert!(ok, "{out}");
    assert_eq!(count_lines(&out, "created "), 6, "{out}");
    sync_replicas(&topo).await;
    assert_eq!(
        tables_on(&topo, "n1p", DB).await,
        [
            "event_notes_202610",
            "event_notes_202612",
            "event_notes_202702",
            "events_202610",
            "events_202612",
            "events_202702"
        ]
    );
    assert_eq!(
        tables_on(&topo, "n2p", DB).await,
        ["event_notes_202701", "events_202701"]
    );
    let seed = definition(&topo, "n1p", "events_202610").await;
    assert_eq!(definition(&topo, "n2p", "events_202701").await, seed);
    assert_eq!(definition(&topo, "n1p", "events_202702").await, seed);
    // The replica has the new table too.
    assert!(tables_on(&topo, "n2r1", DB)
        .await
        .contains(&"events_202701".to_owned()));

    // Idempotent.
    let (ok, out) = run.cli("2026-12-06", &["tables", "ensure"]);
    assert!(
        ok && out.contains("every current and created-ahead period has its table"),
        "{out}"
    );

    // check: the period map offline; --live warns at the rollover to a
    // month whose next month has no table.
    let (ok, out) = run.cli("2026-12-06", &["check"]);
    assert!(ok, "{out}");
    assert!(out.contains("202612 current → n1 events_202612"), "{out}");
    assert!(out.contains("202702 ahead   → n1 events_202702"), "{out}");
    let (ok, out) = run.cli("2026-12-06", &["check", "--live"]);
    // (A WARN about the test file's mode may precede: not a period's.)
    assert!(ok && !out.contains("has no table"), "{out}");
    let (ok, out) = run.cli("2027-02-10", &["check", "--live"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("WARN events: the ahead period 202703 has no table")
            && out.contains("run `shardcat tables ensure`"),
        "{out}"
    );

    // Writes through the proxy on 2026-12-06.
    {
        let proxy = run.serve("2026-12-06");
        let mut c = run.client().await;
        c.query_drop("INSERT INTO events (at, note) VALUES ('2026-12-24', 'a'), ('2027-01-02', 'b'), ('2027-02-03', 'c')")
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
        // November 2026 is a routed past period whose table was never made.
        let e = util::expect_server_error(
            c.query_drop("INSERT INTO events (at) VALUES ('2026-11-11')")
                .await,
        );
        assert_eq!((e.0, e.1.as_str()), (1146, "42S02"), "{e:?}");
        assert!(
            e.2.contains("Table 'events'")
                && e.2.contains("month 202611")
                && e.2.contains("shardcat tables ensure"),
            "{e:?}"
        );
        let e = util::expect_server_error(
            c.query_drop("SELECT * FROM events WHERE at = '2026-11-11'")
                .await,
        );
        assert!(e.0 == 1146 && e.2.contains("month 202611"), "{e:?}");
        // A merged read over several periods, one of them missing: the
        // same named error, not the server's 1146 on a physical name.
        for sql in [
            "SELECT * FROM events WHERE at BETWEEN '2026-11-01' AND '2026-12-31' ORDER BY at",
            "SELECT COUNT(*) FROM events WHERE at >= '2026-11-01' AND at < '2027-01-01'",
        ] {
            let e = util::expect_server_error(c.query_drop(sql).await);
            assert!(
                e.0 == 1146
                    && e.1 == "42S02"
                    && e.2
                        .starts_with("Table 'events' has no physical table for month 202611"),
                "{sql}: {e:?}"
            );
        }
        // A write split over a present and a missing period: the same
        // error, and nothing written (all or nothing).
        let e = util::expect_server_error(
            c.query_drop("INSERT INTO events (at) VALUES ('2026-12-25'), ('2026-11-12')")
                .await,
        );
        assert!(
            e.0 == 1146 && e.1 == "42S02" && e.2.contains("month 202611"),
            "{e:?}"
        );
        // The session stays usable.
        let n: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM events WHERE at >= '2026-12-01'")
            .await
            .expect("count");
        assert_eq!(n, Some(3));
        // Beyond create_ahead: a clear error naming the period.
        let e = util::expect_server_error(
            c.query_drop("INSERT INTO events (at) VALUES ('2027-03-01')")
                .await,
        );
        assert!(
            e.2.contains("month 202703 has no table yet") && e.2.contains("create_ahead"),
            "{e:?}"
        );
        // Reads of periods with no table yet find nothing, as on one server.
        let n: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM events WHERE at >= '2027-03-01'")
            .await
            .expect("count");
        assert_eq!(n, Some(0));
        c.disconnect().await.ok();
    }

    // February 2027, retain 2 months: October and November 2026 retire;
    // March and April are created ahead first.
    let (ok, out) = run.cli("2027-02-10", &["tables", "ensure"]);
    assert!(ok && count_lines(&out, "created ") == 4, "{out}");
    let (ok, out) = run.cli("2027-02-10", &["tables", "retire", "--dry-run"]);
    assert!(ok, "{out}");
    assert!(out.contains("would drop: events 202610"), "{out}");
    assert!(out.contains("would drop: event_notes 202610"), "{out}");
    assert!(!out.contains("202612") && !out.contains("202702"), "{out}");
    let (ok, out) = run.cli(
        "2027-02-10",
        &["tables", "retire", "--archive-schema", ARCHIVE],
    );
    assert!(ok, "{out}");
    assert_eq!(
        count_lines(&out, &format!("rename to {ARCHIVE}.")),
        2,
        "{out}"
    );
    assert_eq!(
        tables_on(&topo, "n1p", ARCHIVE).await,
        ["event_notes_202610", "events_202610"]
    );
    assert!(!tables_on(&topo, "n1p", DB)
        .await
        .contains(&"events_202610".to_owned()));
    let (ok, out) = run.cli("2027-02-10", &["tables", "retire"]);
    assert!(ok && out.contains("no retired period has a table"), "{out}");

    // Routing on 2027-02-10: retired periods are not routed.
    {
        let proxy = run.serve("2027-02-10");
        let mut c = run.client().await;
        let n: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM events")
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", proxy.log()));
        assert_eq!(n, Some(3), "rows of live periods only");
        let n: Option<u64> = c
            .query_first(
                "SELECT COUNT(*) FROM events WHERE at BETWEEN '2026-01-01' AND '2026-12-31'",
            )
            .await
            .expect("count");
        assert_eq!(n, Some(1));
        let rows: Vec<u64> = c
            .query("SELECT id FROM events WHERE at = '2026-10-05'")
            .await
            .expect("retired read");
        assert!(rows.is_empty());
        let e = util::expect_server_error(
            c.query_drop("INSERT INTO events (at) VALUES ('2026-10-07')")
                .await,
        );
        assert!(e.2.contains("month 202610 is retired"), "{e:?}");
        c.disconnect().await.ok();
    }
    for primary in ["n1p", "n2p"] {
        let mut c = direct_conn(&topo, primary, None).await;
        for db in [DB, ARCHIVE] {
            c.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                .await
                .ok();
        }
        c.disconnect().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_creates_ahead_on_its_schedule() {
    let topo = Topology::from_env();
    // The tests share the databases: one at a time.
    let _guard = LOCK.lock().await;
    setup(&topo).await;
    let run = Run::new(&topo, "tables_ensure_interval_s = 1");
    let proxy = run.serve("2026-11-20");
    let wanted = ["events_202612", "events_202611", "events_202701"];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut all = tables_on(&topo, "n1p", DB).await;
        all.extend(tables_on(&topo, "n2p", DB).await);
        if wanted.iter().all(|t| all.contains(&t.to_string())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not created: {all:?}\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The tables exist as soon as the servers ran the CREATE; the job
    // logs and counts them just after.
    let counted = "shardcat_period_tables_total{table=\"events\",action=\"created\"} 3";
    let mut metrics = reqwest_metrics(run.http).await;
    while !metrics.contains(counted) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = reqwest_metrics(run.http).await;
    }
    assert!(metrics.contains(counted), "{metrics}");
    let log = proxy.log();
    assert!(log.contains("period table created"), "{log}");
    // And the proxy routes to them.
    let mut c = run.client().await;
    c.query_drop("INSERT INTO events (at) VALUES ('2027-01-09')")
        .await
        .expect("insert into a created-ahead month");
    c.disconnect().await.ok();
    drop(proxy);
    for primary in ["n1p", "n2p"] {
        let mut c = direct_conn(&topo, primary, None).await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{DB}`"))
            .await
            .ok();
        c.disconnect().await.ok();
    }
}

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// GET /metrics over a plain socket.
async fn reqwest_metrics(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("metrics port");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut body = String::new();
    s.read_to_string(&mut body).await.expect("response");
    body
}

fn count_lines(out: &str, prefix: &str) -> usize {
    out.lines().filter(|l| l.starts_with(prefix)).count()
}
