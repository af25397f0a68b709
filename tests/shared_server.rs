//! Two nodes on one server: n1's primary (and replicas) serve node `n1` as
//! databases `<db>_0` and node `n2` as `<db>_1` (`[[node]] database`),
//! compared with `ref` holding all the data: generated queries of the
//! differential generator, DDL fan-out, `SHOW DATABASES`/`SHOW TABLES`,
//! `information_schema`, `DATABASE()`, multi-node transactions (commit and
//! rollback) and read-your-writes on the shared replicas.
//!
//! Run: `SHARDCAT_TOPOLOGY_ENV=… cargo test --test shared_server`.

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/diff_compare.rs"]
mod diff_compare;
#[path = "common/diff_data.rs"]
mod diff_data;
#[path = "common/diff_queries.rs"]
mod diff_queries;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::Conn;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use diff_compare::{compare, run, Notes, Verdict, Weights};
use diff_data::{Data, DDL, RULES};
use diff_queries::Generator;

const DB: &str = "sharedshop";
const QUERIES: usize = 120;

/// The standard configuration with node n2 moved onto n1's servers as
/// databases `{db}_1`, node n1 as `{db}_0`.
fn start(topo: &Topology) -> CustomProxy {
    let o = ProxyOptions {
        extra: RULES.to_owned(),
        ..Default::default()
    };
    let n1 = format!(
        "name = \"n1\"\nprimary = \"127.0.0.1:{}\"",
        topo.port("n1p")
    );
    let n2 = format!(
        "name = \"n2\"\nprimary = \"127.0.0.1:{}\"\nreplicas = [{{ addr = \"127.0.0.1:{}\" }}]",
        topo.port("n2p"),
        topo.port("n2r1")
    );
    let n2_shared = format!(
        "name = \"n2\"\nprimary = \"127.0.0.1:{}\"\nreplicas = [{{ addr = \"127.0.0.1:{}\" }}]\ndatabase = \"{{db}}_1\"",
        topo.port("n1p"),
        topo.port("n1r1")
    );
    CustomProxy::start(|port| {
        let text = ProxyProcess::config_text(topo, port, &o);
        assert!(
            text.contains(&n1) && text.contains(&n2),
            "template changed:\n{text}"
        );
        text.replacen(&n2, &n2_shared, 1).replacen(
            &n1,
            &format!("{n1}\ndatabase = \"{{db}}_0\""),
            1,
        )
    })
}

async fn exec(c: &mut Conn, who: &str, sql: &str) {
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{who}: {sql}: {e}"));
}

/// The `schema` of each column definition.
fn schemas(cols: Option<&[mysql_async::Column]>) -> Vec<String> {
    cols.unwrap_or_default()
        .iter()
        .map(|c| c.schema_str().into_owned())
        .collect()
}

async fn strings(c: &mut Conn, sql: &str) -> Vec<String> {
    let mut v: Vec<String> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    v.sort();
    v
}

#[tokio::test]
async fn two_nodes_on_one_server_answer_as_one_database() {
    let started = Instant::now();
    let topo = Topology::from_env();
    let proxy = start(&topo);
    let mut r = util::direct_conn(&topo, "ref", None).await;
    let mut p = util::proxy_conn(&proxy, None).await;
    // DDL fan-out: the database on both nodes, i.e. twice on n1's server.
    for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
        exec(c, who, &format!("DROP DATABASE IF EXISTS {DB}")).await;
        exec(
            c,
            who,
            &format!("CREATE DATABASE {DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
        )
        .await;
        exec(c, who, &format!("USE {DB}")).await;
        exec(c, who, "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci").await;
        for ddl in DDL {
            exec(c, who, ddl).await;
        }
    }
    let mut direct = util::direct_conn(&topo, "n1p", None).await;
    let physical = strings(&mut direct, &format!("SHOW DATABASES LIKE '{DB}%'")).await;
    assert_eq!(
        physical,
        [format!("{DB}_0"), format!("{DB}_1")],
        "databases on n1's server"
    );
    let t0 = strings(&mut direct, &format!("SHOW TABLES FROM {DB}_0")).await;
    let t1 = strings(&mut direct, &format!("SHOW TABLES FROM {DB}_1")).await;
    assert!(
        t0.contains(&"users_0".into()) && t0.contains(&"users_1".into()),
        "{t0:?}"
    );
    assert!(
        t1.contains(&"users_2".into()) && t1.contains(&"settings".into()),
        "{t1:?}"
    );
    assert!(!t0.contains(&"settings".into()), "{t0:?}");

    // Data through both sides.
    let data = Data::generate(20261206, 1);
    for ins in data.inserts(60) {
        exec(&mut r, "ref", &ins).await;
        exec(&mut p, "proxy", &ins).await;
    }
    util::sync_replicas(&topo).await;

    // Generated queries, as the differential test.
    let mut gen = Generator::new(7);
    let (mut pass, mut refused, mut wrong) = (0, 0, Vec::new());
    let mut weights = Weights::new();
    let mut notes = Notes::default();
    for q in gen.queries(QUERIES) {
        let a = run(&mut p, &q.sql, Duration::from_secs(20)).await;
        let b = run(&mut r, &q.sql, Duration::from_secs(20)).await;
        match compare(
            &a,
            &b,
            &q.order,
            q.representative,
            &mut weights,
            &mut r,
            &mut notes,
        )
        .await
        {
            Verdict::Pass | Verdict::BothError(_) => pass += 1,
            Verdict::Refused(_) => refused += 1,
            Verdict::Wrong(kind, d) => wrong.push(format!("{kind}: {}\n  {d}", q.sql)),
        }
    }
    println!(
        "generated: {pass} equal, {refused} refused, {} wrong",
        wrong.len()
    );
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    assert!(pass > QUERIES / 2, "too few answered: {pass}");

    // What tools see: logical names only.
    let dbs = strings(&mut p, "SHOW DATABASES").await;
    assert!(dbs.contains(&DB.to_string()), "{dbs:?}");
    assert!(
        !dbs.iter().any(|d| d.starts_with(&format!("{DB}_"))),
        "{dbs:?}"
    );
    let like = strings(&mut p, &format!("SHOW DATABASES LIKE '{DB}'")).await;
    assert_eq!(like, [DB.to_string()]);
    let db: Option<String> = p.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some(DB));
    let want_tables = strings(&mut r, "SHOW TABLES").await;
    assert_eq!(strings(&mut p, "SHOW TABLES").await, want_tables);
    assert_eq!(
        strings(&mut p, &format!("SHOW TABLES FROM {DB}")).await,
        want_tables
    );
    // (A whole-schema listing is answered by one node, so `settings`, on
    // n2 only, is left out here: not a matter of shared servers.)
    for is_sql in [
        format!("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = '{DB}' AND table_name <> 'settings'"),
        format!("SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema IN ('{DB}') AND table_name = 'users'"),
        "SELECT table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('users', 'regions')".to_string(),
    ] {
        let mut a = util::rows_as_strings(&mut p, &is_sql).await;
        let mut b = util::rows_as_strings(&mut r, &is_sql).await;
        a.sort();
        b.sort();
        assert_eq!(a, b, "{is_sql}");
    }
    let schemata = format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{DB}%'"
    );
    assert_eq!(strings(&mut p, &schemata).await, [DB.to_string()]);
    let create_db: Vec<(String, String)> =
        p.query(format!("SHOW CREATE DATABASE {DB}")).await.unwrap();
    assert_eq!(create_db[0].0, DB);
    assert!(create_db[0].1.contains(&format!("`{DB}`")), "{create_db:?}");
    let e = p
        .query_drop(format!("SELECT * FROM {DB}.no_such_table"))
        .await
        .unwrap_err();
    let (code, _, msg) = util::server_error(e);
    assert_eq!(code, 1146);
    assert!(msg.contains(&format!("'{DB}.no_such_table'")), "{msg}");

    // Multi-node transactions: users 1001 (slot 1, n1) and 1002 (slot 2, n2).
    let count = "SELECT COUNT(*) FROM users WHERE id IN (900001, 900002)";
    for (end, want) in [("ROLLBACK", 0i64), ("COMMIT", 2)] {
        exec(&mut p, "proxy", "BEGIN").await;
        for id in [900001, 900002] {
            exec(
                &mut p,
                "proxy",
                &format!("INSERT INTO {DB}.users (id, name, city, score, created) VALUES ({id}, 'tx', 'X', 1, '2026-01-01')"),
            )
            .await;
        }
        exec(&mut p, "proxy", end).await;
        let n: Option<i64> = p.query_first(count).await.unwrap();
        assert_eq!(n, Some(want), "after {end}");
        let mut d = util::direct_conn(&topo, "n1p", None).await;
        let on0: Option<i64> = d
            .query_first(format!(
                "SELECT COUNT(*) FROM {DB}_0.users_1 WHERE id = 900001"
            ))
            .await
            .unwrap();
        let on1: Option<i64> = d
            .query_first(format!(
                "SELECT COUNT(*) FROM {DB}_1.users_2 WHERE id = 900002"
            ))
            .await
            .unwrap();
        assert_eq!((on0, on1), (Some(want / 2), Some(want / 2)), "after {end}");
    }

    // A sharding-key UPDATE moves the row between the server's two nodes.
    exec(
        &mut p,
        "proxy",
        "INSERT INTO events (id, created_at, user_id, kind, points) VALUES (990001, '2026-08-03 10:00:00', 1, 'mv', 1)",
    )
    .await;
    exec(
        &mut p,
        "proxy",
        "UPDATE events SET created_at = '2026-03-03 10:00:00' WHERE id = 990001",
    )
    .await;
    let mut d = util::direct_conn(&topo, "n1p", None).await;
    let moved: Option<(i64, i64)> = d
        .query_first(format!(
            "SELECT (SELECT COUNT(*) FROM {DB}_0.events_202603 WHERE id = 990001), \
             (SELECT COUNT(*) FROM {DB}_1.events_202608 WHERE id = 990001)"
        ))
        .await
        .unwrap();
    assert_eq!(moved, Some((1, 0)), "key move from {DB}_1 to {DB}_0");

    // Metadata of logical tables, and column definitions (text and binary
    // protocol) name the logical database.
    for sql in [
        "DESCRIBE users",
        "SHOW CREATE TABLE orders",
        "SHOW COLUMNS FROM settings",
    ] {
        assert_eq!(
            util::rows_as_strings(&mut p, sql).await,
            util::rows_as_strings(&mut r, sql).await,
            "{sql}"
        );
    }
    let text = p
        .query_iter("SELECT id, name FROM users WHERE id = 900001")
        .await
        .unwrap()
        .columns();
    assert_eq!(schemas(text.as_deref()), [DB, DB], "text protocol");
    let stmt = p
        .prep("SELECT k, v FROM settings WHERE k = ?")
        .await
        .unwrap();
    assert_eq!(
        schemas(Some(&stmt.columns())),
        [DB, DB],
        "prepared statement's columns"
    );
    let result = p.exec_iter(&stmt, ("x",)).await.unwrap().columns();
    assert_eq!(schemas(result.as_deref()), [DB, DB], "binary result");

    // Read-your-writes: each write read back at once (reads go to the
    // shared replicas).
    for id in 0..20i64 {
        let key = 910000 + id;
        exec(
            &mut p,
            "proxy",
            &format!("INSERT INTO users (id, name, city, score, created) VALUES ({key}, 'ryw', 'Y', {id}, '2026-02-01')"),
        )
        .await;
        let seen: Option<i64> = p
            .query_first(format!(
                "SELECT COUNT(*) FROM users WHERE id = {key} AND score = {id}"
            ))
            .await
            .unwrap();
        assert_eq!(seen, Some(1), "read-your-writes of {key}");
    }
    exec(&mut p, "proxy", &format!("DROP DATABASE {DB}")).await;
    let left = strings(&mut direct, &format!("SHOW DATABASES LIKE '{DB}%'")).await;
    assert!(left.is_empty(), "{left:?}");
    println!("shared_server: {:?}", started.elapsed());
}

/// Every row of `sql`'s answer as strings: a text query, or (`prepared`)
/// a prepared statement's binary rows.
async fn answer(c: &mut Conn, sql: &str, prepared: bool) -> Vec<Vec<String>> {
    let rows: Vec<mysql_async::Row> = match prepared {
        true => c.exec(sql, ()).await,
        false => c.query(sql).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = util::strings_of(rows);
    out.sort();
    out
}

/// Reads naming the current database or listing schemas, generated over
/// text and prepared (binary rows), pinned by a user variable or not,
/// inside a transaction or not: the rows name the logical database, as
/// on `ref`. (The column listings name a broadcast table; the table
/// listings name a broadcast and a sharded table.)
#[tokio::test]
async fn database_names_in_rows_over_protocols_and_pins() {
    const PDB: &str = "sharedprep";
    let topo = Topology::from_env();
    let proxy = start(&topo);
    let mut r = util::direct_conn(&topo, "ref", None).await;
    let mut p = util::proxy_conn(&proxy, None).await;
    for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
        exec(c, who, &format!("DROP DATABASE IF EXISTS {PDB}")).await;
        exec(c, who, &format!("CREATE DATABASE {PDB}")).await;
        exec(c, who, &format!("USE {PDB}")).await;
        for ddl in DDL {
            exec(c, who, ddl).await;
        }
    }
    drop(p);
    // Reads outside transactions go to the shared replicas.
    util::sync_replicas(&topo).await;
    let schema_filters = [
        format!("= '{PDB}'"),
        "= DATABASE()".to_string(),
        format!("IN ('{PDB}', 'mysql')"),
        format!("LIKE '{PDB}%'"),
    ];
    let mut shapes = vec![
        "SELECT DATABASE()".to_string(),
        "SELECT DATABASE() AS d, SCHEMA(), 1 + 1".to_string(),
        "SELECT 7, DATABASE(), NULL".to_string(),
        format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '{PDB}%'"
        ),
    ];
    for f in &schema_filters {
        shapes.push(format!(
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_schema {f} AND table_name = 'regions'"
        ));
        // A sharded table looked up by name: its slot-0 physical table's
        // row under the logical names, text and prepared alike.
        shapes.push(format!(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables \
             WHERE table_schema {f} AND table_name = 'users'"
        ));
        shapes.push(format!(
            "SELECT ordinal_position, table_schema, column_name FROM information_schema.columns \
             WHERE table_schema {f} AND table_name = 'regions'"
        ));
    }
    let (mut checked, mut wrong) = (0, Vec::new());
    for prepared in [false, true] {
        for pinned in [false, true] {
            for tx in [false, true] {
                let axis = format!("prepared={prepared} pinned={pinned} tx={tx}");
                let mut p = util::proxy_conn(&proxy, Some(PDB)).await;
                let mut r = util::direct_conn(&topo, "ref", Some(PDB)).await;
                for (c, who) in [(&mut r, "ref"), (&mut p, "proxy")] {
                    if pinned {
                        exec(c, who, "SET @pin = 1").await;
                    }
                    if tx {
                        exec(c, who, "BEGIN").await;
                    }
                }
                for sql in &shapes {
                    // Text listings of columns gather every node's copy of
                    // a broadcast table (each row twice): a gap of the text
                    // listing, not of names in rows.
                    if !prepared && sql.contains("information_schema.columns") {
                        continue;
                    }
                    let want = answer(&mut r, sql, prepared).await;
                    let got = answer(&mut p, sql, prepared).await;
                    if got != want {
                        wrong.push(format!("{axis}: {sql}\n  proxy {got:?}\n  ref   {want:?}"));
                    }
                    checked += 1;
                }
                if tx {
                    exec(&mut p, "proxy", "COMMIT").await;
                    exec(&mut r, "ref", "COMMIT").await;
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    println!("database names in rows: {checked} reads equal");
    let mut p = util::proxy_conn(&proxy, None).await;
    exec(&mut p, "proxy", &format!("DROP DATABASE {PDB}")).await;
    exec(&mut r, "ref", &format!("DROP DATABASE {PDB}")).await;
}
