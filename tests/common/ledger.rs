//! The transfer workload of the XA crash tests: accounts and a ledger
//! (both hash_mod over 4 slots, slots 0, 1 on n1 and 2, 3 on n2), one
//! transfer per transaction, and the invariant checks after the kills
//! (read on the primaries): nothing left prepared, the total unchanged,
//! every balance equal to the ledger, every acknowledged transfer in it.
//!
//! Included with `#[path = "common/ledger.rs"] mod ledger;` next to
//! `mod common;` and `mod util;` (it uses both).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::common::Topology;
use crate::util;

/// Accounts 1..=ACCOUNTS, 1000 each.
pub const ACCOUNTS: i64 = 8;

/// The rules of the two tables.
pub const RULES: &str = r#"
[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "ledger"
key = "tid"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

/// The tables and the accounts' first balances.
pub fn setup_sql() -> Vec<String> {
    vec![
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)".to_owned(),
        "CREATE TABLE ledger (tid INT PRIMARY KEY, src INT, dst INT, amount INT)".to_owned(),
        format!(
            "INSERT INTO accounts VALUES {}",
            (1..=ACCOUNTS)
                .map(|i| format!("({i}, 1000)"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    ]
}

/// One transfer of 1 from `src` to `dst` with its ledger row; `true` when
/// the client saw COMMIT succeed.
pub async fn transfer(p: &mut Conn, tid: i64, src: i64, dst: i64) -> bool {
    let body = async {
        p.query_drop("BEGIN").await?;
        p.query_drop(format!(
            "UPDATE accounts SET balance = balance - 1 WHERE id = {src}"
        ))
        .await?;
        p.query_drop(format!(
            "UPDATE accounts SET balance = balance + 1 WHERE id = {dst}"
        ))
        .await?;
        p.query_drop(format!(
            "INSERT INTO ledger (tid, src, dst, amount) VALUES ({tid}, {src}, {dst}, 1)"
        ))
        .await?;
        p.query_drop("COMMIT").await
    };
    match tokio::time::timeout(Duration::from_secs(15), body).await {
        Ok(Ok(())) => true,
        failed => {
            if let Ok(Err(e)) = failed {
                eprintln!("transfer {tid}: {e}");
            }
            // Whatever is left open ends here (a no-op after a failed COMMIT).
            let _ = tokio::time::timeout(Duration::from_secs(5), p.query_drop("ROLLBACK")).await;
            false
        }
    }
}

/// The gtrids of shardcat branches prepared on `c`'s server.
pub async fn prepared_on(c: &mut Conn) -> Vec<String> {
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = c.query("XA RECOVER").await.unwrap_or_default();
    rows.into_iter()
        .filter(|r| r.3.starts_with(b"sc:"))
        .map(|r| String::from_utf8_lossy(&r.3[..r.1 as usize]).into_owned())
        .collect()
}

/// Shardcat branches prepared on the two primaries.
pub async fn prepared_anywhere(topo: &Topology) -> usize {
    let mut n = 0;
    for server in ["n1p", "n2p"] {
        let mut c = util::direct_conn(topo, server, None).await;
        n += prepared_on(&mut c).await.len();
        c.disconnect().await.ok();
    }
    n
}

/// Balances by id and ledger rows `(tid, from, to, amount)`, read on the
/// primaries.
pub async fn ledger_state(
    topo: &Topology,
    db: &str,
) -> (Vec<(i64, i64)>, Vec<(i64, i64, i64, i64)>) {
    let (mut bal, mut led) = (Vec::new(), Vec::new());
    for (server, ts) in [("n1p", ["0", "1"]), ("n2p", ["2", "3"])] {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        for t in ts {
            let b: Vec<(i64, i64)> = c
                .query(format!("SELECT id, balance FROM accounts_{t}"))
                .await
                .unwrap();
            bal.extend(b);
            let l: Vec<(i64, i64, i64, i64)> = c
                .query(format!("SELECT tid, src, dst, amount FROM ledger_{t}"))
                .await
                .unwrap();
            led.extend(l);
        }
        c.disconnect().await.ok();
    }
    bal.sort_unstable();
    (bal, led)
}

/// Waits (up to `wait`) for recovery to leave nothing prepared, then
/// checks the invariants; returns the ledger's row count.
pub async fn check_ledger(topo: &Topology, db: &str, acked: &[i64], wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    while prepared_anywhere(topo).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(prepared_anywhere(topo).await, 0, "branches left prepared");
    let (bal, led) = ledger_state(topo, db).await;
    assert_eq!(
        bal.iter().map(|b| b.1).sum::<i64>(),
        ACCOUNTS * 1000,
        "total"
    );
    for (id, b) in &bal {
        let delta: i64 = led
            .iter()
            .map(|l| {
                if l.2 == *id {
                    l.3
                } else if l.1 == *id {
                    -l.3
                } else {
                    0
                }
            })
            .sum();
        assert_eq!(*b, 1000 + delta, "account {id} disagrees with the ledger");
    }
    for tid in acked {
        assert!(
            led.iter().any(|l| l.0 == *tid),
            "acknowledged transfer {tid} lost"
        );
    }
    led.len()
}
