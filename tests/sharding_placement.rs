//! Placement test: what shardcat does to the *backends*, checked on the
//! backends themselves (direct connections to n1p/n2p and the replicas).
//!
//! One proxy with these rules: `users` hashed by id (hash_mod, 2 nodes x 2
//! tables), `orders` bound to users by user_id, `events` by month
//! (time_range, January-June on n1, July-December on n2), `regions`
//! broadcast, `settings` on n2 only, `accounts` keyed by a string `email`
//! (jump, utf8mb4_general_ci, 2 x 2).
//!
//! 1. DDL through the proxy creates every physical table on its node and
//!    nowhere else (`SHOW TABLES` on every server).
//! 2. Rows inserted through the proxy sit exactly in the physical table that
//!    `shardcat::placement` (`TablePlacement::target_for_key`) names.
//! 3. Broadcast rows are on every node; single-node rows only on n2.
//! 4. Reads with a key reach only that key's node (general log to a table,
//!    a unique token per statement); scatter reads reach both nodes; an IN
//!    list sends each physical table only its own values.
//! 5. Refusals: UPDATE of the key, INSERT without the key, joins needing
//!    two shards at once.
//!
//! All findings are collected and reported together at the end.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test sharding_placement -- --nocapture
//! ```

mod common;
#[path = "common/util.rs"]
mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use mysql_async::prelude::*;
use mysql_async::Conn;
use serde::Deserialize;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use shardcat::placement::{
    KeyType, LiteralKind, PhysicalTarget, ShardKey, ShardingRules, TablePlacement, TableRule,
};

const RULES: &str = r#"
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "orders"
bound_to = "users"
key = "user_id"

[[table]]
name = "events"
key = "created_at"
key_type = "datetime"

[table.algorithm]
kind = "time_range"
unit = "month"
periods = [
  { from = "2026-01", to = "2026-06", node = "n1" },
  { from = "2026-07", to = "2026-12", node = "n2" },
]

[[table]]
name = "regions"
broadcast = true

[[table]]
name = "settings"
node = "n2"

[[table]]
name = "accounts"
key = "email"
key_type = "string"
collation = "utf8mb4_general_ci"
algorithm = { kind = "jump" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

const DDL: &[&str] = &[
    "CREATE TABLE users (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL)",
    "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, total INT NOT NULL)",
    "CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, what VARCHAR(20))",
    "CREATE TABLE regions (id INT NOT NULL PRIMARY KEY, name VARCHAR(20) NOT NULL)",
    "CREATE TABLE settings (k VARCHAR(20) NOT NULL PRIMARY KEY, v VARCHAR(20))",
    "CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, note VARCHAR(20))",
];

const NODES: [&str; 2] = ["n1", "n2"];

fn primary_of(node: &str) -> &'static str {
    match node {
        "n1" => "n1p",
        "n2" => "n2p",
        _ => panic!("unknown node {node}"),
    }
}

/// Every server of a node: primary first, then replicas.
fn servers_of(topo: &Topology, node: &str) -> Vec<String> {
    let p = primary_of(node);
    let mut v = vec![p.to_string()];
    v.extend(topo.replicas_of(p));
    v
}

#[derive(Deserialize)]
struct RuleFile {
    table: Vec<TableRule>,
}

fn load_rules() -> ShardingRules {
    let file: RuleFile = toml::from_str(RULES).expect("rules parse");
    ShardingRules::new(file.table, &NODES).expect("rules valid")
}

fn placement<'a>(rules: &'a ShardingRules, table: &str) -> TablePlacement<'a> {
    rules
        .table(None, table)
        .unwrap_or_else(|| panic!("no rule for {table}"))
}

fn int_key(v: i64) -> ShardKey {
    ShardKey::from_literal(&v.to_string(), LiteralKind::Number, KeyType::Int).unwrap()
}
fn str_key(s: &str) -> ShardKey {
    ShardKey::from_literal(s, LiteralKind::String, KeyType::String).unwrap()
}
fn dt_key(s: &str) -> ShardKey {
    ShardKey::from_literal(s, LiteralKind::String, KeyType::DateTime).unwrap()
}

fn target(rules: &ShardingRules, table: &str, key: &ShardKey) -> PhysicalTarget {
    placement(rules, table)
        .target_for_key(key)
        .unwrap_or_else(|e| panic!("{table}: no target for {key:?}: {e}"))
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// The test's rows: (row id, key) per logical table.
struct Data {
    users: Vec<i64>,
    orders: Vec<(i64, i64)>,
    events: Vec<(i64, &'static str)>,
    accounts: Vec<(i64, &'static str)>,
}

fn data() -> Data {
    let mut users: Vec<i64> = (1..=24).collect();
    users.extend([0, 1_000_000_007, 9_223_372_036_854_775_807]);
    let orders = (1..=40)
        .map(|i| (1000 + i, users[(i as usize * 7) % users.len()]))
        .collect();
    let events = vec![
        (1, "2026-01-01 00:00:00"),
        (2, "2026-01-31 23:59:59"),
        (3, "2026-02-01 00:00:00"),
        (4, "2026-03-31 23:59:59"),
        (5, "2026-04-01 00:00:00"),
        (6, "2026-06-30 23:59:59"),
        (7, "2026-07-01 00:00:00"),
        (8, "2026-08-31 23:59:59"),
        (9, "2026-09-01 00:00:00"),
        (10, "2026-12-31 23:59:59"),
        (11, "2026-05-15"),
        (12, "2026-10-15"),
        (13, "2026-02-28 12:00:00"),
        (14, "2026-11-30 23:59:59"),
    ];
    let accounts = vec![
        (1, "ABC"),
        (2, "abc"),
        (3, "Abc"),
        (4, "alice@example.com"),
        (5, "ALICE@EXAMPLE.COM"),
        (6, "bob@example.com"),
        (7, "carol@example.com"),
        (8, "dave@example.com"),
        (9, "erin@example.com"),
        (10, "frank@example.com"),
        (11, "Ärger@example.com"),
        (12, "arger@example.com"),
        (13, "grace@example.com"),
        (14, "heidi@example.com"),
        (15, "ivan@example.com"),
        (16, "judy@example.com"),
    ];
    Data {
        users,
        orders,
        events,
        accounts,
    }
}

async fn direct(topo: &Topology, server: &str, db: Option<&str>) -> Conn {
    let mut c = util::direct_conn(topo, server, db).await;
    // Our own queries never reach the general log.
    c.query_drop("SET SESSION sql_log_off = 1").await.unwrap();
    c
}

async fn show_tables(topo: &Topology, server: &str, db: &str) -> BTreeSet<String> {
    let mut c = direct(topo, server, None).await;
    let rows: Vec<String> = c
        .query(format!("SHOW TABLES FROM `{db}`"))
        .await
        .unwrap_or_else(|e| panic!("SHOW TABLES on {server}: {e}"));
    c.disconnect().await.ok();
    rows.into_iter().collect()
}

/// (node, physical table) -> row ids expected there.
type Expected = BTreeMap<(String, String), BTreeSet<i64>>;

/// Compares the row ids of every physical table of `logical` (read directly
/// on the node's primary) with `expected`.
async fn check_rows(
    topo: &Topology,
    rules: &ShardingRules,
    db: &str,
    logical: &str,
    id_col: &str,
    expected: &Expected,
    fails: &mut Vec<String>,
) -> usize {
    let mut checked = 0;
    // Where every id actually is.
    let mut found: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for t in placement(rules, logical).physical_targets() {
        let mut c = direct(topo, primary_of(&t.node), Some(db)).await;
        let ids: Vec<i64> = match c.query(format!("SELECT {id_col} FROM `{}`", t.table)).await {
            Ok(v) => v,
            Err(e) => {
                fails.push(format!("{logical}: reading {} on {}: {e}", t.table, t.node));
                continue;
            }
        };
        c.disconnect().await.ok();
        let want = expected
            .get(&(t.node.clone(), t.table.clone()))
            .cloned()
            .unwrap_or_default();
        let got: BTreeSet<i64> = ids.iter().copied().collect();
        if got.len() != ids.len() {
            fails.push(format!(
                "{logical}: duplicate ids in {}.{}",
                t.node, t.table
            ));
        }
        if got != want {
            fails.push(format!(
                "{logical}: {}.{} holds {} rows {:?}, expected {} rows {:?}",
                t.node,
                t.table,
                got.len(),
                got,
                want.len(),
                want
            ));
        }
        for id in ids {
            found
                .entry(id)
                .or_default()
                .push((t.node.clone(), t.table.clone()));
        }
        checked += 1;
    }
    for (id, places) in &found {
        if places.len() != 1 {
            fails.push(format!(
                "{logical}: row {id} found in {} places: {places:?}",
                places.len()
            ));
        }
    }
    let all_expected: usize = expected.values().map(BTreeSet::len).sum();
    if found.len() != all_expected {
        fails.push(format!(
            "{logical}: {} distinct rows on the backends, {all_expected} inserted",
            found.len()
        ));
    }
    checked
}

/// General-log rows containing `token` on `server` (its `argument` texts).
async fn logged(topo: &Topology, server: &str, token: &str) -> Vec<String> {
    let mut c = direct(topo, server, None).await;
    // The pattern is split so that even a logged copy of this query would not
    // contain the token.
    let (a, b) = token.split_at(4);
    let rows: Vec<Vec<u8>> = c
        .query(format!(
            "SELECT argument FROM mysql.general_log WHERE command_type IN ('Query', 'Execute') \
             AND argument LIKE CONCAT('%', '{a}', '{b}', '%')"
        ))
        .await
        .unwrap_or_else(|e| panic!("general_log on {server}: {e}"));
    c.disconnect().await.ok();
    rows.into_iter()
        .map(|r| String::from_utf8_lossy(&r).into_owned())
        .collect()
}

/// Per node: the server-tagged statements that carried `token`.
async fn logged_by_node(topo: &Topology, token: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for node in NODES {
        let mut v = Vec::new();
        for s in servers_of(topo, node) {
            for text in logged(topo, &s, token).await {
                v.push((s.clone(), text));
            }
        }
        out.insert(node.to_string(), v);
    }
    out
}

/// The `users_N` style physical names in `text` for `logical`.
fn physical_names_in(text: &str, logical: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let pat = format!("{logical}_");
    let mut rest = text;
    while let Some(pos) = rest.find(&pat) {
        let after = &rest[pos + pat.len()..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        let boundary_ok = pos == 0
            || !rest[..pos]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !digits.is_empty() && boundary_ok {
            out.insert(format!("{pat}{digits}"));
        }
        rest = &after[digits.len()..];
    }
    out
}

/// The integers of the first `IN (...)` list in `text`.
fn in_list(text: &str) -> Option<Vec<i64>> {
    let upper = text.to_ascii_uppercase();
    let start = upper.find(" IN (")? + 5;
    let end = start + text[start..].find(')')?;
    text[start..end]
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect()
}

fn token(label: &str) -> String {
    // Letters and digits only: safe inside a comment and a LIKE pattern.
    common::unique_token(&format!("tok{label}")).replace('_', "x")
}

async fn run_tok(
    p: &mut Conn,
    label: &str,
    sql_after_comment: &str,
) -> (String, Result<(), String>) {
    let tok = token(label);
    let sql = format!("/* {tok} */ {sql_after_comment}");
    let r = p
        .query::<mysql_async::Row, _>(sql.as_str())
        .await
        .map(drop)
        .map_err(|e| e.to_string());
    (tok, r)
}

fn summarize(by_node: &BTreeMap<String, Vec<(String, String)>>) -> String {
    by_node
        .iter()
        .map(|(n, v)| {
            format!(
                "{n}: [{}]",
                v.iter()
                    .map(|(s, t)| format!("{s}: {t}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A read whose key pins `node`: exactly one server of `node` saw it (once),
/// no server of the other node; the physical names in the logged text are
/// `tables`.
#[allow(clippy::too_many_arguments)] // one call per checked statement; all are needed
async fn expect_single_node(
    topo: &Topology,
    p: &mut Conn,
    label: &str,
    sql: &str,
    node: &str,
    logical: &str,
    tables: &[&str],
    fails: &mut Vec<String>,
) {
    let (tok, r) = run_tok(p, label, sql).await;
    if let Err(e) = r {
        fails.push(format!("[4 {label}] {sql}: error {e}"));
        return;
    }
    let by_node = logged_by_node(topo, &tok).await;
    let mine = &by_node[node];
    let others: usize = by_node
        .iter()
        .filter(|(n, _)| *n != node)
        .map(|(_, v)| v.len())
        .sum();
    let want_tables: BTreeSet<String> = tables.iter().map(|s| s.to_string()).collect();
    let got_tables: BTreeSet<String> = mine
        .iter()
        .flat_map(|(_, t)| physical_names_in(t, logical))
        .collect();
    let ok = !mine.is_empty()
        && mine.len() == tables.len().max(1)
        && others == 0
        && got_tables == want_tables;
    if !ok {
        fails.push(format!(
            "[4 {label}] {sql}: expected {} statement(s) on {node} only (tables {want_tables:?}), \
             logged: {}",
            tables.len().max(1),
            summarize(&by_node)
        ));
    } else {
        println!("[4 {label}] ok: {}", summarize(&by_node));
    }
}

async fn expect_refused(
    p: &mut Conn,
    label: &str,
    sql: &str,
    words: &[&str],
    fails: &mut Vec<String>,
) {
    match p.query_drop(sql).await {
        Ok(()) => fails.push(format!("[5 {label}] {sql}: accepted, expected a refusal")),
        Err(e) => {
            let msg = e.to_string();
            let lower = msg.to_lowercase();
            if words.iter().any(|w| lower.contains(w)) {
                println!("[5 {label}] refused: {msg}");
            } else {
                fails.push(format!(
                    "[5 {label}] {sql}: refused, but the message names none of {words:?}: {msg}"
                ));
            }
        }
    }
}

#[tokio::test]
async fn sharding_placement_on_backends() {
    let started = Instant::now();
    let topo = Topology::from_env();
    let rules = load_rules();
    let d = data();
    let mut fails: Vec<String> = Vec::new();

    // ---- golden spot checks of the placement API itself ----
    let golden = [
        (target(&rules, "users", &int_key(4)), ("n1", "users_0")),
        (target(&rules, "users", &int_key(5)), ("n1", "users_1")),
        (target(&rules, "users", &int_key(7)), ("n2", "users_3")),
        (target(&rules, "orders", &int_key(6)), ("n2", "orders_2")),
        (
            target(&rules, "events", &dt_key("2026-06-30 23:59:59")),
            ("n1", "events_202606"),
        ),
        (
            target(&rules, "events", &dt_key("2026-07-01 00:00:00")),
            ("n2", "events_202607"),
        ),
    ];
    for (got, (node, table)) in &golden {
        assert_eq!(
            (got.node.as_str(), got.table.as_str()),
            (*node, *table),
            "golden placement"
        );
    }
    assert_eq!(
        target(&rules, "accounts", &str_key("ABC")),
        target(&rules, "accounts", &str_key("abc")),
        "'ABC' and 'abc' must share a shard under utf8mb4_general_ci"
    );

    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = format!("place_{}", std::process::id());

    // ---- 1. DDL through the proxy ----
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    p.query_drop(format!(
        "CREATE DATABASE {db} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
    ))
    .await
    .unwrap_or_else(|e| {
        panic!(
            "CREATE DATABASE through the proxy: {e}\n{}",
            util::tail(&proxy.log())
        )
    });
    p.disconnect().await.ok();
    let mut p = util::proxy_conn(&proxy, Some(&db)).await;
    p.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci")
        .await
        .unwrap();
    for ddl in DDL {
        p.query_drop(*ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {e}\n{}", util::tail(&proxy.log())));
    }
    util::sync_replicas(&topo).await;

    let mut want_tables: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for pl in rules.tables() {
        for t in pl.physical_targets() {
            let node = NODES.iter().find(|n| **n == t.node).expect("known node");
            want_tables.entry(node).or_default().insert(t.table.clone());
        }
    }
    // Golden: the layout the rules describe.
    for (node, t) in [
        ("n1", "users_0"),
        ("n1", "users_1"),
        ("n2", "users_2"),
        ("n2", "users_3"),
        ("n1", "orders_1"),
        ("n2", "orders_3"),
        ("n1", "events_202601"),
        ("n1", "events_202606"),
        ("n2", "events_202607"),
        ("n2", "events_202612"),
        ("n1", "regions"),
        ("n2", "regions"),
        ("n2", "settings"),
    ] {
        assert!(
            want_tables[node].contains(t),
            "expected layout has {t} on {node}"
        );
    }
    assert!(!want_tables["n1"].contains("settings"));
    assert_eq!(
        want_tables.values().map(BTreeSet::len).sum::<usize>(),
        4 + 4 + 12 + 2 + 1 + 4,
        "physical table count"
    );
    for node in NODES {
        for server in servers_of(&topo, node) {
            let got = show_tables(&topo, &server, &db).await;
            if got != want_tables[node] {
                let missing: Vec<_> = want_tables[node].difference(&got).collect();
                let extra: Vec<_> = got.difference(&want_tables[node]).collect();
                fails.push(format!(
                    "[1] {server} ({node}): missing {missing:?}, unexpected {extra:?}"
                ));
            }
        }
    }
    println!("[1] DDL checked: {:?}", want_tables);

    // ---- 2. rows through the proxy ----
    // users: multi-row INSERTs mixing every shard.
    for chunk in d.users.chunks(9) {
        let values: Vec<String> = chunk.iter().map(|id| format!("({id}, 'u{id}')")).collect();
        let sql = format!("INSERT INTO users (id, name) VALUES {}", values.join(", "));
        if let Err(e) = p.query_drop(&sql).await {
            fails.push(format!("[2] {sql}: {e}"));
        }
    }
    for chunk in d.orders.chunks(10) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, uid)| format!("({id}, {uid}, {})", id % 97))
            .collect();
        let sql = format!(
            "INSERT INTO orders (id, user_id, total) VALUES {}",
            values.join(", ")
        );
        if let Err(e) = p.query_drop(&sql).await {
            fails.push(format!("[2] {sql}: {e}"));
        }
    }
    for chunk in d.events.chunks(7) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, at)| format!("({id}, {}, 'e{id}')", q(at)))
            .collect();
        let sql = format!(
            "INSERT INTO events (id, created_at, what) VALUES {}",
            values.join(", ")
        );
        if let Err(e) = p.query_drop(&sql).await {
            fails.push(format!("[2] {sql}: {e}"));
        }
    }
    for chunk in d.accounts.chunks(8) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, email)| format!("({id}, {}, 'a{id}')", q(email)))
            .collect();
        let sql = format!(
            "INSERT INTO accounts (id, email, note) VALUES {}",
            values.join(", ")
        );
        if let Err(e) = p.query_drop(&sql).await {
            fails.push(format!("[2] {sql}: {e}"));
        }
    }
    p.query_drop("INSERT INTO regions (id, name) VALUES (1, 'north'), (2, 'south'), (3, 'east')")
        .await
        .unwrap_or_else(|e| fails.push(format!("[3] regions insert: {e}")));
    p.query_drop("INSERT INTO settings (k, v) VALUES ('a', '1'), ('b', '2')")
        .await
        .unwrap_or_else(|e| fails.push(format!("[3] settings insert: {e}")));

    let expect = |table: &str, rows: Vec<(i64, ShardKey)>| -> Expected {
        let mut m = Expected::new();
        for (id, key) in rows {
            let t = target(&rules, table, &key);
            m.entry((t.node, t.table)).or_default().insert(id);
        }
        m
    };
    let exp_users = expect(
        "users",
        d.users.iter().map(|&id| (id, int_key(id))).collect(),
    );
    let exp_orders = expect(
        "orders",
        d.orders.iter().map(|&(id, u)| (id, int_key(u))).collect(),
    );
    let exp_events = expect(
        "events",
        d.events.iter().map(|&(id, at)| (id, dt_key(at))).collect(),
    );
    let exp_accounts = expect(
        "accounts",
        d.accounts.iter().map(|&(id, e)| (id, str_key(e))).collect(),
    );
    // Every shard gets rows (the data really mixes shards).
    for (name, exp, n) in [
        ("users", &exp_users, 4),
        ("orders", &exp_orders, 4),
        ("accounts", &exp_accounts, 4),
    ] {
        assert_eq!(
            exp.len(),
            n,
            "{name}: test data should cover every shard: {exp:?}"
        );
    }
    assert_eq!(
        exp_events.len(),
        12,
        "events: test data should cover all 12 months: {exp_events:?}"
    );
    let mut checked = 0;
    checked += check_rows(&topo, &rules, &db, "users", "id", &exp_users, &mut fails).await;
    checked += check_rows(&topo, &rules, &db, "orders", "id", &exp_orders, &mut fails).await;
    checked += check_rows(&topo, &rules, &db, "events", "id", &exp_events, &mut fails).await;
    checked += check_rows(
        &topo,
        &rules,
        &db,
        "accounts",
        "id",
        &exp_accounts,
        &mut fails,
    )
    .await;
    // Case and accent variants landed together.
    let acc_place = |id: i64| {
        exp_accounts
            .iter()
            .find(|(_, ids)| ids.contains(&id))
            .map(|(k, _)| k.clone())
    };
    for group in [[1, 2, 3].as_slice(), &[4, 5], &[11, 12]] {
        let places: BTreeSet<_> = group.iter().map(|&id| acc_place(id)).collect();
        assert_eq!(
            places.len(),
            1,
            "accounts {group:?} should share a shard: {places:?}"
        );
    }
    println!("[2] {checked} physical tables checked row by row");

    // ---- 3. broadcast and single-node tables ----
    util::sync_replicas(&topo).await;
    for node in NODES {
        for server in servers_of(&topo, node) {
            let mut c = direct(&topo, &server, Some(&db)).await;
            let ids: Vec<i64> = c
                .query("SELECT id FROM regions ORDER BY id")
                .await
                .unwrap_or_default();
            if ids != vec![1, 2, 3] {
                fails.push(format!(
                    "[3] regions on {server}: {ids:?}, expected [1, 2, 3]"
                ));
            }
            let settings: Result<Vec<String>, _> =
                c.query("SELECT k FROM settings ORDER BY k").await;
            match (node, settings) {
                ("n2", Ok(v)) if v == ["a", "b"] => {}
                ("n1", Err(_)) => {} // no such table on n1
                (_, other) => fails.push(format!("[3] settings on {server}: {other:?}")),
            }
            c.disconnect().await.ok();
        }
    }

    // ---- 4. general log: which servers see which statement ----
    let all_servers: Vec<String> = NODES.iter().flat_map(|n| servers_of(&topo, n)).collect();
    let mut saved = Vec::new();
    for s in &all_servers {
        let mut c = direct(&topo, s, None).await;
        let row: (i64, String) = c
            .query_first("SELECT @@global.general_log, @@global.log_output")
            .await
            .unwrap()
            .unwrap();
        c.query_drop("SET GLOBAL log_output = 'TABLE'")
            .await
            .unwrap();
        c.query_drop("SET GLOBAL general_log = 1").await.unwrap();
        c.disconnect().await.ok();
        saved.push((s.clone(), row));
    }
    // Connections opened before the switch log too (general_log is global).
    let t4 = Instant::now();
    let u7 = target(&rules, "users", &int_key(7));
    let u4 = target(&rules, "users", &int_key(4));
    expect_single_node(
        &topo,
        &mut p,
        "users id=7",
        "SELECT id, name FROM users WHERE id = 7",
        &u7.node,
        "users",
        &[&u7.table],
        &mut fails,
    )
    .await;
    expect_single_node(
        &topo,
        &mut p,
        "users id=4",
        "SELECT name FROM users WHERE id = 4",
        &u4.node,
        "users",
        &[&u4.table],
        &mut fails,
    )
    .await;
    let o5 = target(&rules, "orders", &int_key(5));
    expect_single_node(
        &topo,
        &mut p,
        "orders user_id=5",
        "SELECT id, total FROM orders WHERE user_id = 5 ORDER BY id",
        &o5.node,
        "orders",
        &[&o5.table],
        &mut fails,
    )
    .await;
    let ev = target(&rules, "events", &dt_key("2026-07-01 00:00:00"));
    expect_single_node(
        &topo,
        &mut p,
        "events =jul1",
        "SELECT id FROM events WHERE created_at = '2026-07-01 00:00:00'",
        &ev.node,
        "events",
        &[&ev.table],
        &mut fails,
    )
    .await;
    expect_single_node(&topo, &mut p, "events feb..mar",
        "SELECT id FROM events WHERE created_at BETWEEN '2026-02-01 00:00:00' AND '2026-03-15 00:00:00'",
        "n1", "events", &["events_202602", "events_202603"], &mut fails).await;
    let acc = target(&rules, "accounts", &str_key("abc"));
    expect_single_node(
        &topo,
        &mut p,
        "accounts ABC",
        "SELECT id FROM accounts WHERE email = 'ABC' ORDER BY id",
        &acc.node,
        "accounts",
        &[&acc.table],
        &mut fails,
    )
    .await;
    // Correctness of that read: the three case variants.
    match p
        .query::<i64, _>("SELECT id FROM accounts WHERE email = 'ABC' ORDER BY id")
        .await
    {
        Ok(v) if v == vec![1, 2, 3] => {}
        other => fails.push(format!(
            "[4] accounts email='ABC' through the proxy: {other:?}, expected [1, 2, 3]"
        )),
    }
    expect_single_node(
        &topo,
        &mut p,
        "settings",
        "SELECT k, v FROM settings",
        "n2",
        "settings",
        &[],
        &mut fails,
    )
    .await;
    // A keyed write reaches only its node's primary.
    {
        let (tok, r) = run_tok(
            &mut p,
            "upd",
            "UPDATE users SET name = 'seven' WHERE id = 7",
        )
        .await;
        let by_node = logged_by_node(&topo, &tok).await;
        let on_primary = by_node[&u7.node]
            .iter()
            .filter(|(s, _)| *s == primary_of(&u7.node))
            .count();
        let others: usize = by_node
            .iter()
            .filter(|(n, _)| **n != u7.node)
            .map(|(_, v)| v.len())
            .sum();
        if r.is_err() || on_primary != 1 || others != 0 {
            fails.push(format!(
                "[4 keyed update] {r:?}; logged: {}",
                summarize(&by_node)
            ));
        } else {
            println!("[4 keyed update] ok: {}", summarize(&by_node));
        }
    }
    // Broadcast read: one copy, one server.
    {
        let (tok, r) = run_tok(&mut p, "bcast", "SELECT name FROM regions WHERE id = 2").await;
        let by_node = logged_by_node(&topo, &tok).await;
        let total: usize = by_node.values().map(Vec::len).sum();
        if r.is_err() || total != 1 {
            fails.push(format!(
                "[4 broadcast read] {r:?}: expected 1 server, logged: {}",
                summarize(&by_node)
            ));
        } else {
            println!("[4 broadcast read] ok: {}", summarize(&by_node));
        }
    }
    // Scatter: every physical table, each on its own node.
    {
        let (tok, r) = run_tok(&mut p, "scat", "SELECT COUNT(*) FROM users").await;
        let by_node = logged_by_node(&topo, &tok).await;
        let mut ok = r.is_ok();
        for node in NODES {
            let got: BTreeSet<String> = by_node[node]
                .iter()
                .flat_map(|(_, t)| physical_names_in(t, "users"))
                .collect();
            let want: BTreeSet<String> = placement(&rules, "users")
                .physical_targets()
                .into_iter()
                .filter(|t| t.node == node)
                .map(|t| t.table)
                .collect();
            ok &= got == want;
        }
        if !ok {
            fails.push(format!(
                "[4 scatter] {r:?}; logged: {}",
                summarize(&by_node)
            ));
        } else {
            println!("[4 scatter] ok: {}", summarize(&by_node));
        }
        match p.query_first::<i64, _>("SELECT COUNT(*) FROM users").await {
            Ok(Some(n)) if n == d.users.len() as i64 => {}
            other => fails.push(format!(
                "[4 scatter] COUNT(*) = {other:?}, expected {}",
                d.users.len()
            )),
        }
    }
    // IN list with keys of both nodes: each physical table gets its own values.
    {
        let keys: Vec<i64> = vec![1, 2, 3, 4, 5, 6, 7, 8, 13, 1_000_000_007];
        let list = keys
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT id FROM users WHERE id IN ({list})");
        let (tok, r) = run_tok(&mut p, "inl", &sql).await;
        let by_node = logged_by_node(&topo, &tok).await;
        let mut problems = Vec::new();
        let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
        for (node, stmts) in &by_node {
            for (server, text) in stmts {
                let tables = physical_names_in(text, "users");
                let Some(values) = in_list(text) else {
                    problems.push(format!("{server}: no IN list in {text}"));
                    continue;
                };
                if tables.len() != 1 {
                    problems.push(format!(
                        "{server}: {} physical tables in {text}",
                        tables.len()
                    ));
                    continue;
                }
                let table = tables.into_iter().next().unwrap();
                for v in values {
                    *seen.entry(v).or_default() += 1;
                    let t = target(&rules, "users", &int_key(v));
                    if t.node != *node || t.table != table {
                        problems.push(format!(
                            "{server} ({node}) got value {v} for {table}, which belongs to {}.{}",
                            t.node, t.table
                        ));
                    }
                }
            }
        }
        for k in &keys {
            if seen.get(k) != Some(&1) {
                problems.push(format!(
                    "value {k} sent {} times",
                    seen.get(k).copied().unwrap_or(0)
                ));
            }
        }
        if r.is_err() || !problems.is_empty() {
            fails.push(format!(
                "[4 IN list] {r:?}: {problems:?}; logged: {}",
                summarize(&by_node)
            ));
        } else {
            println!("[4 IN list] ok: {}", summarize(&by_node));
        }
        match p
            .query::<i64, _>(format!(
                "SELECT id FROM users WHERE id IN ({list}) ORDER BY id"
            ))
            .await
        {
            Ok(v) if v == keys => {}
            other => fails.push(format!("[4 IN list] rows {other:?}, expected {keys:?}")),
        }
    }
    println!("[4] general log checks took {:?}", t4.elapsed());
    for (s, (on, output)) in &saved {
        let mut c = direct(&topo, s, None).await;
        c.query_drop(format!("SET GLOBAL general_log = {on}"))
            .await
            .unwrap();
        c.query_drop(format!("SET GLOBAL log_output = '{output}'"))
            .await
            .unwrap();
        if *on == 0 {
            // Drop what this test logged; never binlogged (a TRUNCATE in the
            // binlog of a replica breaks GTID strict replication).
            c.query_drop("SET SESSION sql_log_bin = 0").await.unwrap();
            c.query_drop("TRUNCATE TABLE mysql.general_log")
                .await
                .unwrap();
        }
        c.disconnect().await.ok();
    }

    // ---- 5. refusals ----
    expect_refused(
        &mut p,
        "update key",
        "UPDATE users SET id = id + 100 WHERE id = 7",
        &["sharding key"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "update bound key",
        "UPDATE orders SET user_id = user_id + 1 WHERE user_id = 5",
        &["sharding key"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "update string key",
        "UPDATE accounts SET email = CONCAT(email, 'z') WHERE email = 'abc'",
        &["sharding key"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "insert without key",
        "INSERT INTO users (name) VALUES ('nokey')",
        &["sharding key", "key"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "insert without string key",
        "INSERT INTO accounts (id, note) VALUES (99, 'x')",
        &["sharding key", "key"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "insert outside periods",
        "INSERT INTO events (id, created_at) VALUES (99, '2027-01-01 00:00:00')",
        &[
            "period",
            "range",
            "no shard",
            "outside",
            "not covered",
            "time",
        ],
        &mut fails,
    )
    .await;
    expect_refused(&mut p, "join pinned to two nodes",
        "SELECT u.name, o.total FROM users u JOIN orders o ON u.name = o.total WHERE u.id = 1 AND o.user_id = 2",
        &["shard", "node"], &mut fails).await;
    expect_refused(
        &mut p,
        "join not tied by key",
        "SELECT u.name, a.note FROM users u JOIN accounts a ON u.name = a.note",
        &["shard", "node"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "self join not on key",
        "SELECT a.id, b.id FROM users a JOIN users b ON a.name = b.name",
        &["shard", "node"],
        &mut fails,
    )
    .await;
    expect_refused(
        &mut p,
        "join orders/events pinned to different nodes",
        "SELECT o.id, e.id FROM orders o JOIN events e ON o.id = e.id \
         WHERE o.user_id = 1 AND e.created_at = '2026-07-01 00:00:00'",
        &["shard", "node"],
        &mut fails,
    )
    .await;
    // Nothing changed on the backends by the refused statements.
    util::sync_replicas(&topo).await;
    check_rows(&topo, &rules, &db, "users", "id", &exp_users, &mut fails).await;
    check_rows(&topo, &rules, &db, "orders", "id", &exp_orders, &mut fails).await;
    check_rows(
        &topo,
        &rules,
        &db,
        "accounts",
        "id",
        &exp_accounts,
        &mut fails,
    )
    .await;
    check_rows(&topo, &rules, &db, "events", "id", &exp_events, &mut fails).await;

    // ---- cleanup and verdict ----
    if fails.is_empty() {
        p.query_drop(format!("DROP DATABASE {db}")).await.ok();
    }
    p.disconnect().await.ok();
    println!(
        "sharding_placement: {:?}, {} finding(s)",
        started.elapsed(),
        fails.len()
    );
    assert!(
        fails.is_empty(),
        "{} finding(s) (database {db} kept for inspection):\n- {}",
        fails.len(),
        fails.join("\n- ")
    );
}

/// A string key literal as the session's `sql_mode` reads it: backslash
/// escapes by default, only doubled quotes under `NO_BACKSLASH_ESCAPES`.
fn key_literal(v: &str, mode: &str) -> String {
    if mode == "NO_BACKSLASH_ESCAPES" {
        format!("'{}'", v.replace('\'', "''"))
    } else {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Generated string keys with backslashes, quotes and LIKE wildcards,
/// written as text literals under three `sql_mode`s: each text INSERT
/// either lands where a prepared point read (routed by the exact bytes)
/// finds it, or is refused with 1235 when the router could read the
/// literal differently from the server (a backslash under
/// `NO_BACKSLASH_ESCAPES`, a double quote under `ANSI_QUOTES`); never a
/// row on a shard where its key does not lead.
#[tokio::test]
async fn string_key_literals_route_as_the_server_reads_them() {
    use rand::{Rng, SeedableRng};
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = util::db_name("keylit");
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    p.query_drop(format!("USE {db}")).await.unwrap();
    p.query_drop("CREATE TABLE accounts (id INT NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, note VARCHAR(20))")
        .await
        .unwrap();
    let pool = [
        "a", "b", "\\", "'", "\"", "%", "_", "0", "n", "é", "\\\\", "\\'",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut values = BTreeSet::new();
    while values.len() < 60 {
        let len = rng.random_range(1..5);
        let v: String = (0..len)
            .map(|_| pool[rng.random_range(0..pool.len())])
            .collect();
        values.insert(v);
    }
    let mut fails = Vec::new();
    let mut id = 0;
    for mode in ["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"] {
        p.query_drop(format!("SET SESSION sql_mode = '{mode}'"))
            .await
            .unwrap();
        for v in &values {
            id += 1;
            let lit = key_literal(v, mode);
            let refused = (mode == "NO_BACKSLASH_ESCAPES" && lit.contains('\\'))
                || (mode == "ANSI_QUOTES" && lit.contains('"'));
            let insert = format!("INSERT INTO accounts VALUES ({id}, {lit}, '{mode}')");
            match p.query_drop(&insert).await {
                Ok(()) if refused => fails.push(format!("{mode}: not refused: {insert}")),
                Ok(()) => {}
                Err(e) => {
                    let (code, _, msg) = util::server_error(e);
                    if !refused || code != 1235 {
                        fails.push(format!("{mode}: {insert}: {code} {msg}"));
                    }
                    // The same row as a prepared statement's parameter.
                    p.exec_drop(
                        "INSERT INTO accounts VALUES (?, ?, ?)",
                        (id, v.as_str(), mode),
                    )
                    .await
                    .unwrap();
                }
            }
            let found: Vec<i64> = p
                .exec(
                    "SELECT id FROM accounts WHERE email = ? AND id = ?",
                    (v.as_str(), id),
                )
                .await
                .unwrap();
            if found != vec![id] {
                fails.push(format!(
                    "{mode}: {v:?} (id {id}) not where its key leads: {found:?}"
                ));
            }
        }
    }
    let total: Option<i64> = p
        .query_first("SELECT COUNT(*) FROM accounts")
        .await
        .unwrap();
    p.query_drop("SET SESSION sql_mode = DEFAULT")
        .await
        .unwrap();
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    assert_eq!(total, Some(id), "rows lost or duplicated");
    assert!(
        fails.is_empty(),
        "{} failures:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

/// `SET STATEMENT v = x FOR …` sets `v` for that statement only; the
/// servers' session tracking still reports `v = x`, which must become
/// neither the session's lasting value (replayed on its connections to
/// other nodes) nor the recorded value of the connection that ran it.
/// Over variables of several kinds, text and prepared: afterwards each
/// node answers the fresh value, and a scatter read is not cut by a
/// scoped `sql_select_limit`.
#[tokio::test]
async fn set_statement_variables_last_one_statement() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = util::db_name("setstmt");
    let mut p = util::proxy_conn(&proxy, None).await;
    p.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    p.query_drop(format!("USE {db}")).await.unwrap();
    p.query_drop(DDL[0]).await.unwrap(); // users: id mod 4, slots 2 and 3 on n2
    p.query_drop("CREATE TABLE plain_t (a INT)").await.unwrap();
    p.query_drop("INSERT INTO plain_t VALUES (1), (2)")
        .await
        .unwrap();
    p.query_drop("INSERT INTO users VALUES (0, 'a'), (1, 'b'), (2, 'c'), (3, 'd')")
        .await
        .unwrap();
    let candidates = [
        ("sql_select_limit", "1"),
        ("max_statement_time", "5"),
        ("sql_mode", "'ANSI'"),
        ("div_precision_increment", "7"),
        ("group_concat_max_len", "100"),
        ("wait_timeout", "33"),
        ("time_zone", "'-05:00'"),
    ];
    let mut d = util::direct_conn(&topo, "n1p", None).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (var, value) in candidates {
        let scoped = format!("SET STATEMENT {var} = {value} FOR SELECT a FROM plain_t");
        if d.query_drop(format!("SET STATEMENT {var} = {value} FOR SELECT 1"))
            .await
            .is_err()
        {
            continue; // not settable per statement on this server
        }
        checked += 1;
        let fresh: Option<String> = d
            .query_first(format!("SELECT CAST(@@{var} AS CHAR)"))
            .await
            .unwrap();
        for prepared in [false, true] {
            if prepared {
                p.exec_drop(&scoped, ()).await.unwrap();
            } else {
                p.query_drop(&scoped).await.unwrap();
            }
            for id in [0, 2] {
                let got: Option<String> = p
                    .query_first(format!(
                        "SELECT CAST(@@{var} AS CHAR) FROM users WHERE id = {id}"
                    ))
                    .await
                    .unwrap();
                if got != fresh {
                    failures.push(format!(
                        "{scoped} (prepared {prepared}): node of id {id} has {got:?}, not {fresh:?}"
                    ));
                }
            }
            let ids: Vec<i64> = p.query("SELECT id FROM users ORDER BY id").await.unwrap();
            if ids != vec![0, 1, 2, 3] {
                failures.push(format!(
                    "{scoped} (prepared {prepared}): scatter read {ids:?}"
                ));
            }
        }
    }
    d.disconnect().await.unwrap();
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    assert!(
        checked >= 4,
        "only {checked} variables settable per statement"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `sql_select_limit` limits the top-level SELECT only, as on one server:
/// merged reads return at most that many rows in all (not per shard),
/// merged aggregates are computed from whole groups, and a subquery
/// pulled out of a cross-shard statement is not limited. Compared with
/// `ref` holding the same rows, for several limits.
#[tokio::test]
async fn sql_select_limit_limits_only_the_top_level_select() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.to_owned(),
            ..Default::default()
        },
    );
    let db = util::db_name("sellimit");
    let mut p = util::proxy_conn(&proxy, None).await;
    let mut r = util::direct_conn(&topo, "ref", None).await;
    let rows: Vec<String> = (0..24).map(|i| format!("({i}, 'n{}')", i % 5)).collect();
    for c in [&mut p, &mut r] {
        for sql in [
            format!("CREATE DATABASE {db}"),
            format!("USE {db}"),
            DDL[0].to_owned(),
            format!("INSERT INTO users VALUES {}", rows.join(", ")),
        ] {
            c.query_drop(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let queries = [
        "SELECT id FROM users ORDER BY id",
        "SELECT id FROM users ORDER BY id DESC",
        "SELECT name, COUNT(*), MIN(id) FROM users GROUP BY name ORDER BY name",
        "SELECT COUNT(DISTINCT name), COUNT(*) FROM users",
        "SELECT DISTINCT name FROM users ORDER BY name",
        // Not tied by the key: pulled out and run on their own.
        "SELECT COUNT(*) FROM users WHERE name IN (SELECT name FROM users WHERE id > 19)",
        "SELECT id FROM users WHERE name NOT IN (SELECT name FROM users WHERE id < 3) ORDER BY id",
        "SELECT id FROM users ORDER BY id LIMIT 5",
    ];
    let mut failures = Vec::new();
    for limit in [0, 1, 2, 7, 100] {
        for c in [&mut p, &mut r] {
            c.query_drop(format!("SET SESSION sql_select_limit = {limit}"))
                .await
                .unwrap();
        }
        for q in queries {
            let got = util::rows_as_strings(&mut p, q).await;
            let want = util::rows_as_strings(&mut r, q).await;
            if got != want {
                failures.push(format!("limit {limit}: {q}: {got:?}, ref {want:?}"));
            }
        }
    }
    p.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    r.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    assert!(failures.is_empty(), "{failures:#?}");
}
