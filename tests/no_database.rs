//! "No current database" is session state like any other: a session
//! without one that reads a view of another database (`mysql.user`, which
//! makes MariaDB's tracker report an empty schema) and then runs anything
//! on another backend connection must neither fail with 1046 nor pick up a
//! database from a pooled connection.
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/util.rs"]
mod util;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_database_survives_views_and_other_connections() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            backend: "pool_max = 1".into(),
            ..Default::default()
        },
    );
    let mut other = util::proxy_conn(&proxy, Some("mysql")).await;
    let mut c = util::proxy_conn(&proxy, None).await;
    for round in 0..3 {
        // Served by a replica, then by the primary, then by a replica...
        let n: Option<i64> = c
            .query_first("SELECT COUNT(*) FROM mysql.user")
            .await
            .unwrap_or_else(|e| panic!("round {round}: view read: {e}"));
        assert!(n.is_some());
        c.query_drop("DO 1")
            .await
            .unwrap_or_else(|e| panic!("round {round}: DO 1 after the view: {e}"));
        c.query_drop("BEGIN").await.unwrap();
        let db: Option<Option<String>> = c.query_first("SELECT DATABASE()").await.unwrap();
        c.query_drop("COMMIT").await.unwrap();
        assert_eq!(db, Some(None), "round {round}: primary connection");
        let db: Option<Option<String>> = c.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(db, Some(None), "round {round}: replica connection");
        // Another session with a database churns the same pooled
        // connections (warnings make them reset before reuse).
        other.query_drop("SELECT 1/0").await.unwrap();
        let db: Option<String> = other.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(db.as_deref(), Some("mysql"));
        other.query_drop("DO 1/0").await.unwrap();
    }
    // Unqualified names still fail as with no database.
    let e = c.query_drop("SELECT * FROM user").await.unwrap_err();
    assert_eq!(util::server_error(e).0, 1046);
}
