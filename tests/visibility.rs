//! What a user sees through shardcat, compared with what one MariaDB (the
//! topology's `ref`) shows a real account holding the same grants:
//! `SHOW DATABASES`, `information_schema` rows (SCHEMATA, TABLES, COLUMNS,
//! STATISTICS, ROUTINES), `SHOW TABLES`, `SHOW TABLE STATUS`, `SHOW
//! COLUMNS`, `SHOW CREATE TABLE`, `DESCRIBE`, `SHOW GRANTS`,
//! `CURRENT_USER()`; generated over combinations of privilege entries,
//! with a sharded table among the tables. Also the process list (own
//! sessions; admins all) and `KILL` of own sessions.
//!
//! Owns: these end-to-end checks. Must not depend on other test files'
//! state: its own shardcat, databases and `ref` accounts.
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/util.rs"]
mod util;

use std::collections::BTreeSet;
use std::time::Duration;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};
use util::*;

/// One privilege entry: (database index, tables (empty: `*`), grants).
type Entry = (usize, &'static [&'static str], &'static [&'static str]);

/// The pool entries are drawn from. Database 0 holds `t1`, `t2`, `t3` and
/// the sharded `s`; database 1 holds `t1`, `t2`.
const POOL: &[Entry] = &[
    (0, &[], &["SELECT"]),
    (0, &["t1"], &["SELECT"]),
    (0, &["t2", "s"], &["INSERT"]),
    (1, &[], &["INSERT", "UPDATE"]),
    (1, &["t1"], &["UPDATE"]),
    (0, &["t3"], &["DELETE"]),
    (1, &["t2"], &["SELECT", "DELETE"]),
    (1, &[], &["EXECUTE"]),
];

/// Generated cases: every single entry and every pair, each also as a
/// `read_only` user.
fn cases() -> Vec<(Vec<Entry>, bool)> {
    let mut out = Vec::new();
    for (i, a) in POOL.iter().enumerate() {
        out.push((vec![*a], false));
        for b in &POOL[i + 1..] {
            out.push((vec![*a, *b], false));
        }
    }
    let ro: Vec<_> = out.iter().map(|(e, _)| (e.clone(), true)).collect();
    out.extend(ro.into_iter().step_by(3));
    out
}

fn user_name(k: usize) -> String {
    format!("vis{k}")
}

fn toml_user(k: usize, entries: &[Entry], read_only: bool, dbs: &[String]) -> String {
    let list: Vec<String> = entries
        .iter()
        .map(|(d, tables, grants)| {
            let tables = if tables.is_empty() {
                "\"*\"".to_string()
            } else {
                tables
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let grants = grants
                .iter()
                .map(|g| format!("\"{g}\""))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{{ db = \"{}\", tables = [{tables}], grants = [{grants}] }}",
                dbs[*d]
            )
        })
        .collect();
    format!(
        "\n[[user]]\nname = \"{}\"\npassword = \"pw\"\nread_only = {read_only}\nprivileges = [{}]\n",
        user_name(k),
        list.join(", ")
    )
}

/// The same privileges as MariaDB GRANT statements on `ref`.
fn grants_sql(k: usize, entries: &[Entry], read_only: bool, dbs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for (d, tables, grants) in entries {
        let grants: Vec<&str> = grants
            .iter()
            .copied()
            .filter(|g| !read_only || *g == "SELECT")
            .collect();
        if grants.is_empty() {
            continue;
        }
        let targets: Vec<String> = if tables.is_empty() {
            vec![format!("`{}`.*", dbs[*d])]
        } else {
            tables
                .iter()
                .map(|t| format!("`{}`.`{t}`", dbs[*d]))
                .collect()
        };
        for t in targets {
            out.push(format!(
                "GRANT {} ON {t} TO '{}'@'%'",
                grants.join(", "),
                user_name(k)
            ));
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true),
    }
}

/// The rows of `sql` (as sorted text rows) or the error code.
async fn answer(
    c: &mut Conn,
    sql: &str,
    keep: &dyn Fn(&[String]) -> bool,
) -> Result<BTreeSet<Vec<String>>, u16> {
    match c.query::<Row, _>(sql).await {
        Ok(rows) => Ok(rows
            .into_iter()
            .map(|r| r.unwrap().iter().map(text).collect::<Vec<_>>())
            .filter(|r| keep(r))
            .collect()),
        Err(e) => Err(server_error(e).0),
    }
}

const RULES: &str = r#"
[[table]]
name = "s"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const DDL_0: &[&str] = &[
    "CREATE TABLE t1 (id INT PRIMARY KEY, a INT, KEY ka (a))",
    "CREATE TABLE t2 (id INT PRIMARY KEY, b VARCHAR(10))",
    "CREATE TABLE t3 (id INT PRIMARY KEY)",
    "CREATE TABLE s (id INT PRIMARY KEY, c INT)",
];
const DDL_1: &[&str] = &[
    "CREATE TABLE t1 (id INT PRIMARY KEY)",
    "CREATE TABLE t2 (id INT PRIMARY KEY, d INT)",
    "CREATE PROCEDURE p1() SELECT 1",
];

#[tokio::test]
async fn catalog_matches_a_server_with_the_same_grants() {
    let topo = Topology::from_env();
    let dbs = vec![db_name("vis_a"), db_name("vis_b")];
    let cases = cases();
    let mut extra = RULES.to_string();
    for (k, (entries, ro)) in cases.iter().enumerate() {
        extra.push_str(&toml_user(k, entries, *ro, &dbs));
    }
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra,
            ..Default::default()
        },
    );
    // Through shardcat (the sharded table on every node), and on ref.
    let mut admin = proxy_conn(&proxy, None).await;
    let mut refc = direct_conn(&topo, "ref", None).await;
    for (db, ddl) in dbs.iter().zip([DDL_0, DDL_1]) {
        for c in [&mut admin, &mut refc] {
            c.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
                .await
                .unwrap();
            c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
            c.query_drop(format!("USE {db}")).await.unwrap();
            for stmt in ddl {
                c.query_drop(*stmt).await.unwrap();
            }
        }
    }
    sync_replicas(&topo).await;
    let in_dbs = format!("('{}', '{}')", dbs[0], dbs[1]);
    let ours = {
        let dbs = dbs.clone();
        move |r: &[String]| {
            r.iter()
                .any(|v| dbs.contains(v) || v == "information_schema")
        }
    };
    let all = |_: &[String]| true;
    let queries: Vec<(String, bool)> = vec![
        ("SHOW DATABASES".into(), true),
        ("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA".into(), true),
        (format!("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA IN {in_dbs}"), false),
        (format!("SELECT t.TABLE_SCHEMA, t.TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS t WHERE t.TABLE_SCHEMA IN {in_dbs}"), false),
        (format!("SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN {in_dbs}"), false),
        (format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}'", dbs[1]), false),
        (format!("SHOW TABLES FROM {}", dbs[0]), false),
        (format!("SHOW FULL TABLES FROM {} LIKE 't%'", dbs[1]), false),
        (format!("SHOW TABLE STATUS FROM {}", dbs[0]), false),
        (format!("SELECT ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN {in_dbs}"), false),
        (format!("SHOW COLUMNS FROM {}.t2", dbs[0]), false),
        (format!("SHOW CREATE TABLE {}.t3", dbs[0]), false),
        (format!("DESCRIBE {}.t1", dbs[1]), false),
        ("SELECT CURRENT_USER()".into(), false),
        ("SHOW GRANTS".into(), false),
    ];
    let mut compared = 0;
    let mut wrong = Vec::new();
    for (k, (entries, ro)) in cases.iter().enumerate() {
        let name = user_name(k);
        refc.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .await
            .unwrap();
        refc.query_drop(format!("CREATE USER '{name}'@'%'"))
            .await
            .unwrap();
        for g in grants_sql(k, entries, *ro, &dbs) {
            refc.query_drop(&g).await.unwrap();
        }
        let mut via = mysql_async::Conn::new(proxy_opts(&proxy, &name, "pw", None))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", tail(&proxy.log())));
        let mut direct = mysql_async::Conn::new(
            direct_opts(&topo, "ref", None)
                .user(Some(name.clone()))
                .pass(Some("")),
        )
        .await
        .unwrap();
        for (sql, only_ours) in &queries {
            let keep: &dyn Fn(&[String]) -> bool = if *only_ours { &ours } else { &all };
            // SHOW TABLE STATUS: the name column only (sizes differ).
            let (a, b) = if sql.starts_with("SHOW TABLE STATUS") {
                let first = |r: Result<BTreeSet<Vec<String>>, u16>| {
                    r.map(|s| {
                        s.into_iter()
                            .map(|r| vec![r[0].clone()])
                            .collect::<BTreeSet<_>>()
                    })
                };
                (
                    first(answer(&mut via, sql, keep).await),
                    first(answer(&mut direct, sql, keep).await),
                )
            } else {
                (
                    answer(&mut via, sql, keep).await,
                    answer(&mut direct, sql, keep).await,
                )
            };
            compared += 1;
            if a != b {
                wrong.push(format!(
                    "user {name} {entries:?} read_only={ro}\n  {sql}\n  shardcat: {a:?}\n  ref:      {b:?}"
                ));
            }
        }
        via.disconnect().await.ok();
        direct.disconnect().await.ok();
        refc.query_drop(format!("DROP USER '{name}'@'%'"))
            .await
            .unwrap();
    }
    for db in &dbs {
        admin
            .query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
        refc.query_drop(format!("DROP DATABASE {db}"))
            .await
            .unwrap();
    }
    eprintln!(
        "{} users x {} statements: {compared} compared, {} different",
        cases.len(),
        queries.len(),
        wrong.len()
    );
    assert!(
        wrong.is_empty(),
        "{} of {compared} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn process_list_shows_own_sessions_and_kill_reaches_them() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: "\n[[user]]\nname = \"reader\"\npassword = \"r\"\nread_only = true\n".into(),
            ..Default::default()
        },
    );
    let login = |u: &'static str, pw: &'static str| {
        let proxy = &proxy;
        async move { Conn::new(proxy_opts(proxy, u, pw, None)).await.unwrap() }
    };
    let mut o1 = login("other", "other-pw").await;
    let mut o2 = login("other", "other-pw").await;
    let mut r1 = login("reader", "r").await;
    let mut admin = login("app", "app").await;
    let o2_id = o2.id();
    let sleeper = tokio::spawn(async move {
        let r = o2.query_drop("SELECT SLEEP(5)").await;
        (o2, r)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows: Vec<(u32, String, Option<String>, String)> = o1
        .query("SELECT Id, User, Info, Command FROM (SELECT 1) x, information_schema.PROCESSLIST ORDER BY ID")
        .await
        .unwrap();
    let ids: Vec<u32> = rows.iter().map(|r| r.0).collect();
    assert_eq!(ids, vec![o1.id(), o2_id], "{rows:?}");
    assert!(rows.iter().all(|r| r.1 == "other"), "{rows:?}");
    let running = rows.iter().find(|r| r.0 == o2_id).unwrap();
    assert_eq!(running.2.as_deref(), Some("SELECT SLEEP(5)"));
    assert_eq!(running.3, "Query");
    // SHOW PROCESSLIST: MariaDB's columns, own sessions.
    let shown: Vec<Row> = r1.query("SHOW FULL PROCESSLIST").await.unwrap();
    assert_eq!(shown.len(), 1);
    let cols: Vec<String> = shown[0]
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(
        cols,
        ["Id", "User", "Host", "db", "Command", "Time", "State", "Info", "Progress"]
    );
    assert_eq!(shown[0].get::<u32, _>(0), Some(r1.id()));
    // Admins see every session.
    let all: Vec<u32> = admin
        .query("SELECT ID FROM information_schema.PROCESSLIST")
        .await
        .unwrap();
    for id in [o1.id(), o2_id, r1.id(), admin.id()] {
        assert!(all.contains(&id), "{id} in {all:?}");
    }
    // KILL: another user's session → 1095; own session → done at once.
    let e = r1
        .query_drop(format!("KILL QUERY {o2_id}"))
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 1095);
    let t = std::time::Instant::now();
    o1.query_drop(format!("KILL QUERY {o2_id}")).await.unwrap();
    let (mut o2, r) = sleeper.await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{:?} {r:?}",
        t.elapsed()
    );
    let one: Option<i32> = o2.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    // An admin may kill any session.
    admin.query_drop(format!("KILL {}", r1.id())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(r1.query_drop("SELECT 1").await.is_err());
    // The servers' threads stay invisible to non-admins.
    let e = o1
        .query_drop("SELECT * FROM performance_schema.threads")
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 1142);
    let e = o1
        .query_drop("SELECT * FROM information_schema.INNODB_TRX")
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 1227);
    let e = o1
        .query_drop("SELECT user, password FROM mysql.user")
        .await
        .unwrap_err();
    assert_eq!(server_error(e).0, 1142);
    let who: (String, String) = o1
        .query_first("SELECT CURRENT_USER(), USER()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, ("other@%".to_string(), "other@127.0.0.1".to_string()));
}
