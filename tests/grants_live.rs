//! `shardcat check --live` against what the servers actually allow
//! (issue 16): pass-through users get generated grants on a sharded
//! table's physical tables in every form the servers know — table grants,
//! exact and wildcard (`db\_%`, `db_%`) database grants (an exact entry
//! shadows a wildcard one), a default role, a role granted to the default
//! role, and a granted but not default role (not active in a session).
//! The truth is each user's own session on each primary (SELECT and
//! INSERT on each physical table: allowed or 1142); `check --live` must
//! name exactly the privileges missing on some physical tables and held
//! on others.
//!
//! Owns: these checks, its database, users and roles. Needs the test
//! topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/util.rs"]
mod util;

use std::collections::{BTreeMap, BTreeSet};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use mysql_async::Conn;
use util::*;

const RULES: &str = r#"
[[table]]
name = "s"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const PRIVS: [&str; 2] = ["SELECT", "INSERT"];
const USERS: usize = 10;

/// How a user holds one privilege on one node.
#[derive(Debug, Clone, Copy)]
enum Form {
    None,
    /// On each physical table whose bit is set.
    Tables(u8),
    DbExact,
    /// `db\_%`-style (escaped) or `db_%` (the `_` a wildcard too).
    DbWild(bool),
    DefaultRole,
    NestedRole,
    /// Granted, not the default: a session does not have it.
    OtherRole,
}

fn user(k: usize) -> String {
    format!("glv_u{k}")
}

/// The GRANT statements of `form` for privilege `p`.
fn grants(k: usize, p: &str, form: Form, db: &str, tables: &[String]) -> Vec<String> {
    let u = format!("'{}'@'%'", user(k));
    let (ra, rb, rc) = (
        format!("glv_r{k}a"),
        format!("glv_r{k}b"),
        format!("glv_r{k}c"),
    );
    match form {
        Form::None => vec![],
        Form::Tables(bits) => tables
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, t)| format!("GRANT {p} ON `{db}`.`{t}` TO {u}"))
            .collect(),
        Form::DbExact => vec![format!("GRANT {p} ON `{db}`.* TO {u}")],
        Form::DbWild(escaped) => {
            let prefix = db.split('_').next().unwrap_or(db);
            let sep = if escaped { "\\_" } else { "_" };
            vec![format!("GRANT {p} ON `{prefix}{sep}%`.* TO {u}")]
        }
        Form::DefaultRole => vec![format!("GRANT {p} ON `{db}`.* TO {ra}")],
        Form::NestedRole => vec![format!("GRANT {p} ON `{db}`.* TO {rc}")],
        Form::OtherRole => vec![format!("GRANT {p} ON `{db}`.* TO {rb}")],
    }
}

/// The setup of user `k` on a server (roles, default role) before grants.
fn account(k: usize) -> Vec<String> {
    let u = format!("'{}'@'%'", user(k));
    let (ra, rb, rc) = (
        format!("glv_r{k}a"),
        format!("glv_r{k}b"),
        format!("glv_r{k}c"),
    );
    vec![
        format!("DROP USER IF EXISTS {u}"),
        format!("DROP ROLE IF EXISTS {ra}"),
        format!("DROP ROLE IF EXISTS {rb}"),
        format!("DROP ROLE IF EXISTS {rc}"),
        format!("CREATE USER {u} IDENTIFIED BY 'glv-pw'"),
        format!("CREATE ROLE {ra}"),
        format!("CREATE ROLE {rb}"),
        format!("CREATE ROLE {rc}"),
        format!("GRANT {rc} TO {ra}"),
        format!("GRANT {ra} TO {u}"),
        format!("GRANT {rb} TO {u}"),
        format!("SET DEFAULT ROLE {ra} FOR {u}"),
        format!("GRANT INSERT ON shardcat.xa_log TO {u}"),
    ]
}

fn pick(rng: &mut u64, n: u64) -> u64 {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*rng >> 33) % n
}

fn form(rng: &mut u64) -> Form {
    match pick(rng, 8) {
        0 => Form::None,
        1 | 2 => Form::Tables(pick(rng, 4) as u8),
        3 => Form::DbExact,
        4 => Form::DbWild(pick(rng, 2) == 0),
        5 => Form::DefaultRole,
        6 => Form::NestedRole,
        _ => Form::OtherRole,
    }
}

/// Whether `sql` is allowed to the session (1142: not).
async fn allowed(c: &mut Conn, sql: &str) -> bool {
    match c.query_drop(sql).await {
        Ok(()) => true,
        Err(mysql_async::Error::Server(e)) if e.code == 1142 => false,
        Err(e) => panic!("{sql}: {e}"),
    }
}

#[tokio::test]
async fn check_live_agrees_with_the_servers_on_roles_and_wildcard_grants() {
    let topo = Topology::from_env();
    let db = db_name("glv");
    let mut extra = RULES.to_string();
    for k in 0..USERS {
        extra.push_str(&format!(
            "\n[[user]]\nname = \"{}\"\npassword = \"glv-pw\"\nbackend_auth = \"passthrough\"\n",
            user(k)
        ));
    }
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra,
            ..Default::default()
        },
    );
    let mut admin = proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    admin
        .query_drop(format!("CREATE TABLE {db}.s (id INT PRIMARY KEY, c INT)"))
        .await
        .unwrap();
    let seed = std::env::var("SHARDCAT_GLV_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::from(std::process::id()));
    eprintln!("grants seed {seed} (SHARDCAT_GLV_SEED reruns it)");
    let mut rng = 0x5eed_u64 ^ seed;
    // node → its physical tables; (user, node, table) → truth.
    let mut physical: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut truth: BTreeMap<(usize, &str, String), BTreeSet<&str>> = BTreeMap::new();
    for (node, primary) in [("n1", "n1p"), ("n2", "n2p")] {
        let mut p = direct_conn(&topo, primary, None).await;
        let tables: Vec<String> = p
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1",
                (db.clone(),),
            )
            .await
            .unwrap();
        for k in 0..USERS {
            let mut sql = account(k);
            for pr in PRIVS {
                let f = form(&mut rng);
                eprintln!("{node} {} {pr}: {f:?}", user(k));
                sql.extend(grants(k, pr, f, &db, &tables));
            }
            for s in &sql {
                p.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        }
        p.disconnect().await.unwrap();
        // The truth: each user's own session on the primary.
        for k in 0..USERS {
            let opts = direct_opts(&topo, primary, None)
                .user(Some(user(k)))
                .pass(Some("glv-pw"));
            let mut c = Conn::new(opts).await.unwrap();
            c.query_drop("START TRANSACTION").await.unwrap();
            for t in &tables {
                let mut has = BTreeSet::new();
                if allowed(&mut c, &format!("SELECT COUNT(*) FROM {db}.{t}")).await {
                    has.insert("SELECT");
                }
                let ins = format!("INSERT INTO {db}.{t} (id, c) VALUES ({}, 0)", 1000 + k);
                if allowed(&mut c, &ins).await {
                    has.insert("INSERT");
                }
                truth.insert((k, node, t.clone()), has);
            }
            c.query_drop("ROLLBACK").await.unwrap();
            c.disconnect().await.ok();
        }
        physical.insert(node, tables);
    }
    // What check --live must say: per user, privileges held on some
    // physical table and missing on another.
    let mut expected = BTreeSet::new();
    for k in 0..USERS {
        let union: BTreeSet<&str> = truth
            .iter()
            .filter(|((u, _, _), _)| *u == k)
            .flat_map(|(_, h)| h.iter().copied())
            .collect();
        for ((u, node, t), has) in truth.iter().filter(|((u, _, _), _)| *u == k) {
            let missing: Vec<&str> = union.difference(has).copied().collect();
            if !missing.is_empty() {
                expected.insert(format!(
                    "WARN user \"{}\" (passthrough): {} missing on {db}.{t} on node `{node}`",
                    user(*u),
                    missing.join(", ")
                ));
            }
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .args(["check", "--live"])
        .arg(&proxy.config_path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let got: BTreeSet<String> = out
        .lines()
        // Only this run's database: the rule has no schema, so check
        // --live also reads physical tables of other databases (other
        // tests', earlier runs') where these users' grants differ.
        .filter(|l| l.contains(" missing on ") && l.contains(&format!(" on {db}.")))
        .map(|l| l.split(" (held on").next().unwrap_or(l).trim().to_string())
        .collect();
    let held_somewhere = truth.values().filter(|h| !h.is_empty()).count();
    eprintln!(
        "{} physical tables × {USERS} users: {held_somewhere} with a privilege, {} warnings expected",
        physical.values().map(Vec::len).sum::<usize>(),
        expected.len()
    );
    assert_eq!(got, expected, "check --live vs the servers:\n{out}");
    assert!(!expected.is_empty() && held_somewhere > 0);
    // Clean up.
    for primary in ["n1p", "n2p"] {
        let mut p = direct_conn(&topo, primary, None).await;
        for k in 0..USERS {
            for s in account(k).iter().take(4) {
                p.query_drop(s).await.ok();
            }
        }
    }
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
