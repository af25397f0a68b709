//! Smoke tests of the MariaDB test topology itself (not of shardcat): every
//! instance answers, GTID replication flows, replicas are read-only.

mod common;

use std::time::Duration;

use common::{
    sigcont, sigkill, sigstop, unique_token, wait_for, Topology, INSTANCE_NAMES, TEST_DB,
};
use mysql_async::prelude::*;
use mysql_async::Conn;

/// Tests that stop or kill servers hold it for writing, the others for
/// reading (test binaries run one at a time; the tests in one run in parallel).
static SERVERS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn connect(topo: &Topology, name: &str, db: Option<&str>) -> Conn {
    let url = topo.mysql_url(name, db);
    Conn::from_url(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("connecting to {name} ({url}): {e}"))
}

#[test]
fn env_file_lists_all_instances() {
    let _servers = SERVERS.blocking_read();
    let topo = Topology::from_env();
    let mut ports: Vec<u16> = INSTANCE_NAMES.iter().map(|n| topo.port(n)).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), INSTANCE_NAMES.len(), "ports must be distinct");
    assert_eq!(topo.replicas_of("n1p"), vec!["n1r1", "n1r2"]);
    assert_eq!(topo.replicas_of("n2p"), vec!["n2r1"]);
    for name in INSTANCE_NAMES {
        assert!(topo.pid(name) > 0);
    }
}

#[tokio::test]
async fn every_instance_answers_select_1() {
    let _servers = SERVERS.read().await;
    let topo = Topology::from_env();
    for name in INSTANCE_NAMES {
        let mut conn = connect(&topo, name, None).await;
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "{name}");
        conn.disconnect().await.unwrap();
    }
}

#[tokio::test]
async fn rows_inserted_on_n1p_reach_its_replicas() {
    let _servers = SERVERS.read().await;
    let topo = Topology::from_env();
    let table = unique_token("smoke_repl");
    let token = unique_token("row");

    let mut primary = connect(&topo, "n1p", Some(TEST_DB)).await;
    primary
        .query_drop(format!(
            "CREATE TABLE `{table}` (id BIGINT AUTO_INCREMENT PRIMARY KEY, token VARCHAR(100) NOT NULL)"
        ))
        .await
        .unwrap();
    primary
        .exec_drop(
            format!("INSERT INTO `{table}` (token) VALUES (?)"),
            (token.clone(),),
        )
        .await
        .unwrap();

    for replica in topo.replicas_of("n1p") {
        let mut conn = connect(&topo, &replica, Some(TEST_DB)).await;
        let sql = format!("SELECT COUNT(*) FROM `{table}` WHERE token = '{token}'");
        let seen = wait_for(Duration::from_secs(10), async || {
            match conn.query_first::<i64, _>(sql.as_str()).await {
                Ok(Some(1)) => Some(()),
                _ => None,
            }
        })
        .await;
        assert!(
            seen.is_some(),
            "row inserted on n1p did not appear on {replica} within 10 s"
        );
        conn.disconnect().await.unwrap();
    }

    primary
        .query_drop(format!("DROP TABLE `{table}`"))
        .await
        .unwrap();
    primary.disconnect().await.unwrap();
}

#[tokio::test]
async fn replicas_are_read_only_and_others_are_not() {
    let _servers = SERVERS.read().await;
    let topo = Topology::from_env();
    for name in INSTANCE_NAMES {
        let mut conn = connect(&topo, name, None).await;
        let row: Option<(String, String)> = conn
            .query_first("SHOW GLOBAL VARIABLES LIKE 'read_only'")
            .await
            .unwrap();
        let (_, value) = row.expect("read_only variable");
        let expected = if topo.instance(name).role == "replica" {
            "ON"
        } else {
            "OFF"
        };
        assert_eq!(value, expected, "read_only on {name}");
        conn.disconnect().await.unwrap();
    }
}

async fn row_count_eventually(
    topo: &Topology,
    name: &str,
    sql: &str,
    expected: i64,
    timeout: Duration,
) -> bool {
    let mut conn = connect(topo, name, Some(TEST_DB)).await;
    let seen = wait_for(timeout, async || {
        match conn.query_first::<i64, _>(sql).await {
            Ok(Some(n)) if n == expected => Some(()),
            _ => None,
        }
    })
    .await;
    seen.is_some()
}

#[tokio::test]
async fn killed_replica_restarts_and_catches_up() {
    let _servers = SERVERS.write().await;
    let topo = Topology::from_env();
    let table = unique_token("smoke_kill");

    // Killed while idle: a replica killed in the middle of applying a DDL
    // (another test's DROP DATABASE) completes it at restart through
    // MariaDB's DDL recovery under its own server id, which gtid strict
    // mode then refuses beside the replicated event: a server-side hazard,
    // not what this test is about.
    let mut p = connect(&topo, "n2p", None).await;
    let pos: String = p
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap_or_default();
    let mut r = connect(&topo, "n2r1", None).await;
    let waited: Option<i64> = r
        .exec_first("SELECT MASTER_GTID_WAIT(?, 30)", (pos,))
        .await
        .unwrap();
    assert_eq!(waited, Some(0), "n2r1 did not catch up before the kill");
    drop((p, r));

    let old_pid = topo.pid("n2r1");
    sigkill(old_pid);
    let gone = wait_for(Duration::from_secs(10), async || {
        (!std::path::Path::new(&format!("/proc/{old_pid}")).exists()).then_some(())
    })
    .await;
    assert!(gone.is_some(), "n2r1 (pid {old_pid}) survived SIGKILL");

    // Written while the replica is down: it must catch up after the restart.
    let mut primary = connect(&topo, "n2p", Some(TEST_DB)).await;
    primary
        .query_drop(format!(
            "CREATE TABLE `{table}` (id INT PRIMARY KEY); INSERT INTO `{table}` VALUES (1), (2), (3)"
        ))
        .await
        .unwrap();

    topo.start_instance("n2r1").unwrap();
    assert_ne!(topo.pid("n2r1"), old_pid);
    let sql = format!("SELECT COUNT(*) FROM `{table}`");
    assert!(
        row_count_eventually(&topo, "n2r1", &sql, 3, Duration::from_secs(10)).await,
        "restarted n2r1 did not catch up within 10 s"
    );
    primary
        .query_drop(format!("DROP TABLE `{table}`"))
        .await
        .unwrap();
    primary.disconnect().await.unwrap();
}

#[tokio::test]
async fn stopped_server_hangs_until_continued() {
    let _servers = SERVERS.write().await;
    let topo = Topology::from_env();
    let pid = topo.pid("ref");

    sigstop(pid);
    let url = topo.mysql_url("ref", None);
    let attempt = tokio::time::timeout(Duration::from_secs(1), Conn::from_url(url.as_str())).await;
    sigcont(pid);
    assert!(
        attempt.is_err(),
        "a SIGSTOPped server should not complete a handshake"
    );

    let mut conn = connect(&topo, "ref", None).await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    conn.disconnect().await.unwrap();
}
