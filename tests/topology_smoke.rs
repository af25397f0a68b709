//! Smoke tests of the MariaDB test topology itself (not of shardcat): every
//! instance answers, GTID replication flows, replicas are read-only.

mod common;

use std::time::Duration;

use common::{unique_token, wait_for, Topology, INSTANCE_NAMES, TEST_DB};
use mysql_async::prelude::*;
use mysql_async::Conn;

async fn connect(topo: &Topology, name: &str, db: Option<&str>) -> Conn {
    let url = topo.mysql_url(name, db);
    Conn::from_url(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("connecting to {name} ({url}): {e}"))
}

#[test]
fn env_file_lists_all_instances() {
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
