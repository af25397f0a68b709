//! A transaction that reaches several nodes is one transaction: its writes
//! on every node roll back or commit together (checked on the primaries
//! themselves), and its reads see its own uncommitted writes. A read-only
//! transaction reads the replicas and sees the session's own earlier
//! writes on every node it reaches, also when a scattered read joins them.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test sharded_transactions
//! ```

mod common;
#[path = "common/util.rs"]
mod util;

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;

// hash_mod over 4 slots: id mod 4; slots 0 and 1 on n1, 2 and 3 on n2.
const RULES: &str = r#"
[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

/// Rows of every physical table, read on the primaries directly.
async fn rows_on_primaries(topo: &Topology, db: &str) -> Vec<(String, i64, i64)> {
    let mut all = Vec::new();
    for (server, tables) in [
        ("n1p", ["accounts_0", "accounts_1"]),
        ("n2p", ["accounts_2", "accounts_3"]),
    ] {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        for t in tables {
            let rows: Vec<(i64, i64)> = c
                .query(format!("SELECT id, balance FROM {t} ORDER BY id"))
                .await
                .unwrap();
            all.extend(rows.into_iter().map(|(id, b)| (t.to_owned(), id, b)));
        }
        c.disconnect().await.ok();
    }
    all
}

/// The tests of this file one at a time: one stops replication.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn q(c: &mut Conn, sql: &str) {
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_node_transactions_commit_and_roll_back_as_one() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("shtx_{}", std::process::id());
    let mut p = util::proxy_conn(&proxy, None).await;
    q(&mut p, &format!("DROP DATABASE IF EXISTS {db}")).await;
    q(&mut p, &format!("CREATE DATABASE {db}")).await;
    q(&mut p, &format!("USE {db}")).await;
    q(
        &mut p,
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)",
    )
    .await;

    // 1. One multi-row INSERT over both nodes, rolled back.
    q(&mut p, "BEGIN").await;
    q(
        &mut p,
        "INSERT INTO accounts (id, balance) VALUES (1, 10), (2, 20), (3, 30), (4, 40)",
    )
    .await;
    q(&mut p, "ROLLBACK").await;
    assert_eq!(
        rows_on_primaries(&topo, &db).await,
        vec![],
        "rolled back everywhere"
    );

    // 2. Statements reaching n1 then n2, rolled back.
    q(&mut p, "START TRANSACTION").await;
    q(&mut p, "INSERT INTO accounts (id, balance) VALUES (1, 10)").await;
    q(&mut p, "INSERT INTO accounts (id, balance) VALUES (2, 20)").await;
    // The transaction reads its own writes on both nodes.
    let seen: Vec<(i64, i64)> = p
        .query("SELECT id, balance FROM accounts WHERE id IN (1, 2)")
        .await
        .unwrap();
    let mut seen = seen;
    seen.sort();
    assert_eq!(seen, vec![(1, 10), (2, 20)]);
    q(&mut p, "ROLLBACK").await;
    assert_eq!(rows_on_primaries(&topo, &db).await, vec![]);

    // 3. The same, committed.
    q(&mut p, "BEGIN").await;
    q(&mut p, "INSERT INTO accounts (id, balance) VALUES (1, 10)").await;
    q(
        &mut p,
        "INSERT INTO accounts (id, balance) VALUES (2, 20), (3, 30)",
    )
    .await;
    q(&mut p, "COMMIT").await;
    assert_eq!(
        rows_on_primaries(&topo, &db).await,
        vec![
            ("accounts_1".into(), 1, 10),
            ("accounts_2".into(), 2, 20),
            ("accounts_3".into(), 3, 30)
        ]
    );

    // 4. A session pinned to connections on both nodes before BEGIN (user
    //    variable + reads on both nodes): an UPDATE on n2 still rolls back.
    q(&mut p, "SET @who = 'pinned'").await;
    let _: Option<i64> = p
        .query_first("SELECT balance FROM accounts WHERE id = 1")
        .await
        .unwrap();
    let _: Option<i64> = p
        .query_first("SELECT balance FROM accounts WHERE id = 2")
        .await
        .unwrap();
    q(&mut p, "BEGIN").await;
    q(
        &mut p,
        "UPDATE accounts SET balance = balance + 1 WHERE id = 1",
    )
    .await;
    q(
        &mut p,
        "UPDATE accounts SET balance = balance + 1 WHERE id = 2",
    )
    .await;
    q(&mut p, "ROLLBACK").await;
    assert_eq!(
        rows_on_primaries(&topo, &db).await,
        vec![
            ("accounts_1".into(), 1, 10),
            ("accounts_2".into(), 2, 20),
            ("accounts_3".into(), 3, 30)
        ],
        "UPDATEs on both nodes rolled back"
    );

    // 4b. Reads that merge several physical tables per node, inside a
    //     transaction: they see its uncommitted writes; a failing one
    //     leaves the transaction open.
    q(&mut p, "SET @who = NULL").await;
    q(&mut p, "BEGIN").await;
    q(
        &mut p,
        "INSERT INTO accounts (id, balance) VALUES (4, 40), (5, 50), (8, 80)",
    )
    .await;
    let ordered: Vec<(i64, i64)> = p
        .query("SELECT id, balance FROM accounts ORDER BY balance DESC LIMIT 4")
        .await
        .unwrap();
    assert_eq!(ordered, vec![(8, 80), (5, 50), (4, 40), (3, 30)]);
    let totals: Option<(i64, i64)> = p
        .query_first("SELECT COUNT(*), SUM(balance) FROM accounts")
        .await
        .unwrap();
    assert_eq!(totals, Some((6, 230)));
    // The same through binary prepared statements (merged, and plain).
    let ordered: Vec<(i64, i64)> = p
        .exec(
            "SELECT id, balance FROM accounts WHERE balance > ? ORDER BY balance DESC LIMIT 4",
            (0,),
        )
        .await
        .unwrap();
    assert_eq!(ordered, vec![(8, 80), (5, 50), (4, 40), (3, 30)]);
    let mut all: Vec<(i64, i64)> = p
        .exec("SELECT id, balance FROM accounts WHERE balance > ?", (0,))
        .await
        .unwrap();
    all.sort();
    assert_eq!(all.len(), 6);
    assert_eq!(all[5], (8, 80));
    let groups: Vec<(i64, i64)> = p
        .query("SELECT id % 2 AS odd, COUNT(*) FROM accounts GROUP BY odd ORDER BY odd")
        .await
        .unwrap();
    assert_eq!(groups, vec![(0, 3), (1, 3)]);
    let bad = p
        .query_drop("SELECT nope FROM accounts ORDER BY id")
        .await
        .expect_err("unknown column");
    assert_eq!(util::server_error(bad).0, 1054);
    let n: Option<i64> = p
        .query_first("SELECT COUNT(*) FROM accounts")
        .await
        .unwrap();
    assert_eq!(n, Some(6), "the transaction survived the failed read");
    q(&mut p, "ROLLBACK").await;
    assert_eq!(rows_on_primaries(&topo, &db).await.len(), 3);

    // 5. autocommit = 0: the implicit transaction covers both nodes too.
    q(&mut p, "SET autocommit = 0").await;
    q(&mut p, "DELETE FROM accounts WHERE id = 1").await;
    q(&mut p, "DELETE FROM accounts WHERE id = 2").await;
    q(&mut p, "ROLLBACK").await;
    q(&mut p, "SET autocommit = 1").await;
    let left = rows_on_primaries(&topo, &db).await;
    assert_eq!(left.len(), 3, "{left:?}");

    q(&mut p, &format!("DROP DATABASE {db}")).await;
    p.disconnect().await.ok();
}

// hash_mod over 2 slots, one physical table per node: id mod 2.
const RO_RULES: &str = r#"
[[table]]
name = "ro_t"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
"#;

/// Runs `sql` on every replica of both nodes.
async fn on_replicas(topo: &Topology, sql: &str) {
    for primary in ["n1p", "n2p"] {
        for r in topo.replicas_of(primary) {
            let mut c = util::direct_conn(topo, &r, None).await;
            q(&mut c, sql).await;
            c.disconnect().await.ok();
        }
    }
}

/// Statements routed to replicas so far (`SHOW SHARDCAT BACKENDS`).
async fn replica_reads(admin: &mut Conn) -> u64 {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT BACKENDS").await.unwrap();
    rows.iter()
        .filter(|r| r.get::<String, _>("role").as_deref() == Some("replica"))
        .filter_map(|r| r.get::<u64, _>("routed"))
        .sum()
}

/// With the replicas 3 s behind (MASTER_DELAY), the session's own writes
/// are on the primaries only: a read-only transaction (which reads
/// replicas) must still see them on every node, whether its first
/// statement reaches one node or both, as text or prepared. (A node joined
/// by a scattered read used to be read on its replica without the wait.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_transactions_see_the_sessions_writes_on_every_node() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: "consistency = \"session\"\ngtid_wait_timeout_ms = 200\n".into(),
            extra: RO_RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = util::db_name("rotx");
    let mut p = util::proxy_conn(&proxy, None).await;
    q(&mut p, &format!("CREATE DATABASE {db}")).await;
    q(&mut p, &format!("USE {db}")).await;
    q(&mut p, "CREATE TABLE ro_t (id INT PRIMARY KEY, v INT)").await;
    util::sync_replicas(&topo).await;
    on_replicas(
        &topo,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3; START SLAVE",
    )
    .await;
    let replica_reads_before = replica_reads(&mut p).await;
    let mut failures = Vec::new();
    let firsts = [
        "SELECT id FROM ro_t ORDER BY id",
        "SELECT id FROM ro_t WHERE id = 1",
        "SELECT id FROM ro_t WHERE id = 2",
    ];
    let mut next = 1;
    for first in firsts {
        for prepared in [false, true] {
            // One new row per node, then a read-only transaction.
            q(
                &mut p,
                &format!("INSERT INTO ro_t VALUES ({next}, 0), ({}, 0)", next + 1),
            )
            .await;
            next += 2;
            let want: Vec<i64> = (1..next).collect();
            q(&mut p, "START TRANSACTION READ ONLY").await;
            let _: Vec<i64> = p.query(first).await.unwrap();
            let got: Vec<i64> = if prepared {
                p.exec("SELECT id FROM ro_t ORDER BY id", ()).await.unwrap()
            } else {
                p.query("SELECT id FROM ro_t ORDER BY id").await.unwrap()
            };
            q(&mut p, "COMMIT").await;
            if got != want {
                failures.push(format!("first {first:?}, prepared {prepared}: {got:?}"));
            }
        }
    }
    let replica_reads_after = replica_reads(&mut p).await;
    on_replicas(
        &topo,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE",
    )
    .await;
    q(&mut p, &format!("DROP DATABASE {db}")).await;
    assert!(
        failures.is_empty(),
        "missed the session's writes: {failures:#?}"
    );
    assert!(
        replica_reads_after > replica_reads_before,
        "no read-only transaction reached a replica: the test proves nothing"
    );
}
