//! Statements that act on a whole transaction reach every node of it, in
//! the order one server would see them: the implicit commit of `SET
//! autocommit = 1`, DDL, `LOCK TABLES` and `BEGIN`, and the savepoint
//! statements (a node that joins after a savepoint declares it too), also
//! when they come as prepared statements or in a multi-statement.
//! Checked on the primaries themselves, in both `[routing] transactions`
//! modes.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test transactions_multi_node
//! ```

mod common;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

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

/// Committed ids of every physical table, read on the primaries directly.
async fn committed_ids(topo: &Topology, db: &str) -> Vec<i64> {
    let mut all = Vec::new();
    for (server, tables) in [
        ("n1p", ["accounts_0", "accounts_1"]),
        ("n2p", ["accounts_2", "accounts_3"]),
    ] {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        for t in tables {
            let ids: Vec<i64> = c.query(format!("SELECT id FROM {t}")).await.unwrap();
            all.extend(ids);
        }
        c.disconnect().await.ok();
    }
    all.sort_unstable();
    all
}

/// The two tests of this file run one at a time: `open_transactions`
/// counts every open transaction on the primaries, so the other test's
/// would be counted as this one's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether either primary still has a transaction of `db` open (locks).
async fn open_transactions(topo: &Topology) -> i64 {
    let mut n = 0;
    for server in ["n1p", "n2p"] {
        let mut c = util::direct_conn(topo, server, None).await;
        let count: Option<i64> = c
            .query_first(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX \
                 WHERE trx_mysql_thread_id <> CONNECTION_ID()",
            )
            .await
            .unwrap();
        n += count.unwrap_or(0);
        c.disconnect().await.ok();
    }
    n
}

async fn q(c: &mut Conn, sql: &str) {
    tokio::time::timeout(Duration::from_secs(20), c.query_drop(sql))
        .await
        .unwrap_or_else(|_| panic!("{sql}: hung"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `sql` as a prepared statement.
async fn exec(c: &mut Conn, sql: &str) {
    tokio::time::timeout(Duration::from_secs(20), c.exec_drop(sql, ()))
        .await
        .unwrap_or_else(|_| panic!("{sql}: hung"))
        .unwrap_or_else(|e| panic!("prepared {sql}: {e}"));
}

async fn reset(p: &mut Conn) {
    q(p, "DELETE FROM accounts WHERE id > 0").await;
}

async fn run_cases(topo: &Topology, mode: &str) {
    let proxy = ProxyProcess::start_with(
        topo,
        ProxyOptions {
            routing: format!("transactions = \"{mode}\"\n"),
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("txmn_{mode}_{}", std::process::id());
    let mut p = util::proxy_conn(&proxy, None).await;
    q(&mut p, &format!("DROP DATABASE IF EXISTS {db}")).await;
    q(&mut p, &format!("CREATE DATABASE {db}")).await;
    q(&mut p, &format!("USE {db}")).await;
    q(&mut p, "CREATE TABLE accounts (id INT PRIMARY KEY, v INT)").await;

    // SET autocommit = 1 after writes on both nodes commits both.
    q(&mut p, "SET autocommit = 0").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1)").await;
    q(&mut p, "INSERT INTO accounts VALUES (2, 2)").await;
    q(&mut p, "SET autocommit = 1").await;
    assert_eq!(
        committed_ids(topo, &db).await,
        vec![1, 2],
        "{mode}: autocommit=1"
    );
    assert_eq!(open_transactions(topo).await, 0, "{mode}: locks left");
    reset(&mut p).await;

    // DDL inside a transaction commits it on every node first.
    q(&mut p, "BEGIN").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(&mut p, "CREATE TABLE other_t (id INT PRIMARY KEY)").await;
    assert_eq!(committed_ids(topo, &db).await, vec![1, 2], "{mode}: DDL");
    q(&mut p, "DROP TABLE other_t").await;
    reset(&mut p).await;

    // BEGIN inside a transaction commits it; the new one rolls back alone.
    q(&mut p, "START TRANSACTION").await;
    q(&mut p, "INSERT INTO accounts VALUES (2, 2)").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1)").await;
    q(&mut p, "BEGIN").await;
    q(&mut p, "INSERT INTO accounts VALUES (5, 5), (6, 6)").await;
    q(&mut p, "ROLLBACK").await;
    assert_eq!(committed_ids(topo, &db).await, vec![1, 2], "{mode}: BEGIN");
    reset(&mut p).await;

    // LOCK TABLES commits too.
    q(&mut p, "BEGIN").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(&mut p, "LOCK TABLES accounts WRITE").await;
    q(&mut p, "UNLOCK TABLES").await;
    assert_eq!(committed_ids(topo, &db).await, vec![1, 2], "{mode}: LOCK");
    reset(&mut p).await;

    // A node that joins after the savepoint rolls back to it too.
    q(&mut p, "BEGIN").await;
    q(&mut p, "SAVEPOINT a").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(&mut p, "ROLLBACK TO SAVEPOINT a").await;
    q(&mut p, "COMMIT").await;
    assert_eq!(
        committed_ids(topo, &db).await,
        Vec::<i64>::new(),
        "{mode}: sp 1"
    );

    // Savepoints declared on one node, later writes on both.
    q(&mut p, "BEGIN").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1)").await;
    q(&mut p, "SAVEPOINT a").await;
    q(&mut p, "INSERT INTO accounts VALUES (2, 2)").await;
    q(&mut p, "SAVEPOINT b").await;
    q(&mut p, "INSERT INTO accounts VALUES (5, 5), (6, 6)").await;
    q(&mut p, "ROLLBACK TO SAVEPOINT b").await;
    q(&mut p, "INSERT INTO accounts VALUES (9, 9)").await;
    q(&mut p, "ROLLBACK WORK TO a").await;
    q(&mut p, "INSERT INTO accounts VALUES (3, 3)").await;
    q(&mut p, "COMMIT").await;
    assert_eq!(committed_ids(topo, &db).await, vec![1, 3], "{mode}: sp 2");
    reset(&mut p).await;

    // RELEASE SAVEPOINT on every node: rolling back to it fails (1305).
    q(&mut p, "BEGIN").await;
    q(&mut p, "SAVEPOINT a").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(&mut p, "RELEASE SAVEPOINT a").await;
    let e = p.query_drop("ROLLBACK TO SAVEPOINT a").await.unwrap_err();
    assert_eq!(util::server_error(e).0, 1305, "{mode}: released");
    q(&mut p, "INSERT INTO accounts VALUES (6, 6)").await;
    q(&mut p, "COMMIT").await;
    assert_eq!(
        committed_ids(topo, &db).await,
        vec![1, 2, 6],
        "{mode}: sp 3"
    );
    reset(&mut p).await;

    // Autocommit off: the savepoint reaches the node that joins later.
    q(&mut p, "SET autocommit = 0").await;
    q(&mut p, "INSERT INTO accounts VALUES (1, 1)").await;
    q(&mut p, "SAVEPOINT a").await;
    q(&mut p, "INSERT INTO accounts VALUES (2, 2), (5, 5)").await;
    q(&mut p, "ROLLBACK TO SAVEPOINT a").await;
    q(&mut p, "COMMIT").await;
    q(&mut p, "SET autocommit = 1").await;
    assert_eq!(committed_ids(topo, &db).await, vec![1], "{mode}: sp ac=0");
    assert_eq!(open_transactions(topo).await, 0, "{mode}: locks left");

    prepared_and_multi_statement_cases(topo, &db, mode, &mut p).await;

    q(&mut p, &format!("DROP DATABASE {db}")).await;
    p.disconnect().await.ok();
}

/// The same implicit commits reached through prepared statements and
/// inside a multi-statement COM_QUERY.
async fn prepared_and_multi_statement_cases(topo: &Topology, db: &str, mode: &str, p: &mut Conn) {
    reset(p).await;
    // Prepared DDL commits every node first.
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    exec(p, "CREATE TABLE other_p (id INT PRIMARY KEY)").await;
    assert_eq!(committed_ids(topo, db).await, vec![1, 2], "{mode}: PS DDL");
    assert_eq!(open_transactions(topo).await, 0, "{mode}: PS DDL locks");
    exec(p, "DROP TABLE other_p").await;
    q(p, "DELETE FROM accounts WHERE id > 0").await;

    // Prepared SET autocommit = 1.
    q(p, "SET autocommit = 0").await;
    q(p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    exec(p, "SET autocommit = 1").await;
    assert_eq!(committed_ids(topo, db).await, vec![1, 2], "{mode}: PS ac=1");
    assert_eq!(open_transactions(topo).await, 0, "{mode}: PS ac=1 locks");
    q(p, "DELETE FROM accounts WHERE id > 0").await;

    // Prepared COMMIT and ROLLBACK end the transaction on every node.
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    exec(p, "COMMIT").await;
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (5, 5), (6, 6)").await;
    exec(p, "ROLLBACK").await;
    assert_eq!(committed_ids(topo, db).await, vec![1, 2], "{mode}: PS end");
    assert_eq!(open_transactions(topo).await, 0, "{mode}: PS end locks");
    q(p, "DELETE FROM accounts WHERE id > 0").await;

    // A multi-statement whose first statement commits: every node first.
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(
        p,
        "CREATE TABLE other_m (id INT PRIMARY KEY); INSERT INTO other_m VALUES (1)",
    )
    .await;
    assert_eq!(
        committed_ids(topo, db).await,
        vec![1, 2],
        "{mode}: multi DDL"
    );
    assert_eq!(open_transactions(topo).await, 0, "{mode}: multi locks");
    q(p, "DELETE FROM accounts WHERE id > 0").await;

    // One that would end it on one node after other statements: refused,
    // nothing run, the transaction still open on both nodes.
    for multi in [
        "INSERT INTO other_m VALUES (2); COMMIT",
        "INSERT INTO other_m VALUES (2); DROP TABLE other_m",
        "INSERT INTO other_m VALUES (2); ROLLBACK",
    ] {
        q(p, "BEGIN").await;
        q(p, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
        let e = p.query_drop(multi).await.unwrap_err();
        assert_eq!(util::server_error(e).0, 1235, "{mode}: {multi}");
        q(p, "ROLLBACK").await;
        assert_eq!(
            committed_ids(topo, db).await,
            Vec::<i64>::new(),
            "{mode}: {multi}"
        );
        assert_eq!(open_transactions(topo).await, 0, "{mode}: {multi} locks");
    }
    let ids: Vec<i64> = p.query("SELECT id FROM other_m").await.unwrap();
    assert_eq!(ids, vec![1], "{mode}: refused multi-statements ran nothing");

    // A transaction on another node than the multi-statement's: refused
    // too; on the same node alone, the server ends it as one would.
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (2, 2)").await;
    let e = p
        .query_drop("INSERT INTO other_m VALUES (3); COMMIT")
        .await
        .unwrap_err();
    assert_eq!(util::server_error(e).0, 1235, "{mode}: other node");
    q(p, "ROLLBACK").await;
    q(p, "BEGIN").await;
    q(p, "INSERT INTO accounts VALUES (1, 1)").await;
    q(p, "INSERT INTO other_m VALUES (3); COMMIT").await;
    assert_eq!(committed_ids(topo, db).await, vec![1], "{mode}: same node");
    assert_eq!(open_transactions(topo).await, 0, "{mode}: same node locks");
    let ids: Vec<i64> = p.query("SELECT id FROM other_m").await.unwrap();
    assert_eq!(ids, vec![1, 3], "{mode}: same node");
    reset(p).await;
    q(p, "DROP TABLE other_m").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_commits_and_savepoints_reach_every_node() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    run_cases(&topo, "best_effort").await;
    run_cases(&topo, "xa").await;
}

/// `transactions_committed` of `SHOW SHARDCAT XA`.
async fn xa_committed(admin: &mut Conn) -> i64 {
    let rows: Vec<(String, String)> = admin.query("SHOW SHARDCAT XA").await.unwrap();
    rows.iter()
        .find(|r| r.0 == "transactions_committed")
        .and_then(|r| r.1.parse().ok())
        .expect("transactions_committed")
}

/// `[[user]] transactions` overrides `[routing]`'s: the same 2-node
/// transaction commits with XA for one user and node after node for the
/// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_mode_per_user() {
    let _serial = SERIAL.lock().await;
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: "transactions = \"xa\"\n".into(),
            extra: format!(
                "{RULES}\n[[user]]\nname = \"be\"\npassword = \"be\"\ntransactions = \"best_effort\"\n"
            ),
            ..Default::default()
        },
    );
    let db = format!("txmode_{}", std::process::id());
    let mut app = util::proxy_conn(&proxy, None).await;
    q(&mut app, &format!("DROP DATABASE IF EXISTS {db}")).await;
    q(&mut app, &format!("CREATE DATABASE {db}")).await;
    q(&mut app, &format!("USE {db}")).await;
    q(
        &mut app,
        "CREATE TABLE accounts (id INT PRIMARY KEY, v INT)",
    )
    .await;
    let mut be = Conn::new(util::proxy_opts(&proxy, "be", "be", Some(&db)))
        .await
        .unwrap();

    let before = xa_committed(&mut app).await;
    q(&mut be, "BEGIN").await;
    q(&mut be, "INSERT INTO accounts VALUES (1, 1), (2, 2)").await;
    q(&mut be, "COMMIT").await;
    assert_eq!(committed_ids(&topo, &db).await, vec![1, 2]);
    assert_eq!(
        xa_committed(&mut app).await,
        before,
        "best_effort user used XA"
    );

    q(&mut app, "BEGIN").await;
    q(&mut app, "INSERT INTO accounts VALUES (5, 5), (6, 6)").await;
    q(&mut app, "COMMIT").await;
    assert_eq!(committed_ids(&topo, &db).await, vec![1, 2, 5, 6]);
    assert_eq!(
        xa_committed(&mut app).await,
        before + 1,
        "xa user did not use XA"
    );

    be.disconnect().await.ok();
    q(&mut app, &format!("DROP DATABASE {db}")).await;
}
