//! Planning tests on the shop example (rules/shop.toml) plus a range table
//! and a string-keyed table.

use super::*;
use crate::config::Config;
use crate::sharding::ParamValue;
use std::collections::BTreeMap;

const EXTRA: &str = r#"
[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "range", bounds = [100, 200, 300] }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "tags"
key = "name"
key_type = "string"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
"#;

fn config(extra_edit: impl Fn(String) -> String) -> Config {
    let text = extra_edit(format!(
        "{}{EXTRA}",
        include_str!("../../../rules/shop.toml")
    ));
    Config::parse(&text, std::path::Path::new("shop.toml")).expect("valid test config")
}

fn shop() -> Config {
    config(|t| t)
}

fn plan_with(
    cfg: &Config,
    sql: &str,
    params: &[ParamValue<'_>],
) -> Result<Option<ShardPlan>, RouteError> {
    let planned = cfg.sharding.plan(sql, Some("shop"), params);
    // Every text statement of these tests also checks that planning its
    // shape (literals as placeholders) gives what planning the text gives.
    let shaped = super::shape::scan(sql, |_| true).shape.is_some();
    if params.is_empty() && shaped {
        let exact = cfg.sharding.plan_exact(sql, Some("shop"));
        assert_eq!(planned, exact, "shape plan differs from text plan: {sql}");
    }
    planned
}

fn plan(sql: &str) -> ShardPlan {
    plan_p(sql, &[])
}

fn plan_p(sql: &str, params: &[ParamValue<'_>]) -> ShardPlan {
    match plan_with(&shop(), sql, params) {
        Ok(Some(p)) => p,
        other => panic!("{sql}: {other:?}"),
    }
}

fn error(sql: &str) -> String {
    match plan_with(&shop(), sql, &[]) {
        Err(e) => e.0,
        other => panic!("{sql}: expected an error, got {other:?}"),
    }
}

/// (node name, sql) of each target, in plan order.
fn targets(p: &ShardPlan) -> Vec<(String, String)> {
    p.targets
        .iter()
        .map(|t| (["n1", "n2"][t.node].to_owned(), t.sql.clone()))
        .collect()
}

fn t(node: &str, sql: &str) -> (String, String) {
    (node.to_owned(), sql.to_owned())
}

fn one(sql: &str) -> (String, String) {
    let p = plan(sql);
    assert_eq!(p.targets.len(), 1, "{sql}: {p:#?}");
    targets(&p).remove(0)
}

/// The physical tables each target reads, for pruning tests.
fn tables(sql: &str) -> Vec<String> {
    plan(sql)
        .targets
        .iter()
        .flat_map(|t| t.tables.clone())
        .collect()
}

// ----- WHERE shapes -----

#[test]
fn equality_in_every_spelling() {
    for sql in [
        "SELECT * FROM users WHERE id = 5",
        "SELECT * FROM users WHERE 5 = id",
        "SELECT * FROM users WHERE id <=> 5",
        "SELECT * FROM users WHERE (id = 5)",
        "SELECT * FROM users WHERE users.id = 5",
        "SELECT * FROM users u WHERE u.id = 5",
        "SELECT * FROM users WHERE id = '5'",
        "SELECT * FROM users WHERE id = 5.0",
        "SELECT * FROM users WHERE id = -3",
        "SELECT * FROM users WHERE id = X'05'",
    ] {
        assert_eq!(tables(sql), ["users_1"], "{sql}");
    }
}

#[test]
fn and_or_combinations_prune() {
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT * FROM users WHERE id = 1 AND (name = 'x' OR id = 2)",
            &["users_1"],
        ),
        (
            "SELECT * FROM users WHERE (id = 1 OR id = 2) AND id = 2",
            &["users_2"],
        ),
        (
            "SELECT * FROM users WHERE id = 1 OR id = 6",
            &["users_1", "users_2"],
        ),
        (
            "SELECT * FROM users WHERE id = 1 OR name = 'x'",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE NOT (id = 1)",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        ("SELECT * FROM users WHERE id IN (4, 8, 12)", &["users_0"]),
        (
            "SELECT * FROM users WHERE id NOT IN (4)",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE id BETWEEN 5 AND 6",
            &["users_1", "users_2"],
        ),
        (
            "SELECT * FROM users WHERE id >= 5 AND id <= 6",
            &["users_1", "users_2"],
        ),
        ("SELECT * FROM users WHERE id > 5 AND id < 7", &["users_2"]),
        ("SELECT * FROM users WHERE id = 1 AND id = 2", &["users_0"]),
        (
            "SELECT * FROM users WHERE id = 'abc'",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE id = name",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(tables(sql), *want, "{sql}");
    }
}

#[test]
fn ranges_on_range_and_time_rules() {
    let cases: &[(&str, &[&str])] = &[
        ("SELECT * FROM accounts WHERE id < 100", &["accounts_0"]),
        ("SELECT * FROM accounts WHERE id >= 150 AND id < 250", &["accounts_1", "accounts_2"]),
        ("SELECT * FROM accounts WHERE id > 299", &["accounts_3"]),
        ("SELECT * FROM accounts WHERE 250 < id", &["accounts_2", "accounts_3"]),
        ("SELECT * FROM accounts WHERE id BETWEEN 0 AND 99", &["accounts_0"]),
        (
            "SELECT * FROM events WHERE created_at <= '2026-02-28 23:00:00'",
            &["events_202601", "events_202602"],
        ),
        (
            "SELECT * FROM events WHERE created_at > '2026-11-30' AND created_at < TIMESTAMP '2026-12-31 00:00:00'",
            &["events_202611", "events_202612"],
        ),
        ("SELECT * FROM events WHERE created_at = DATE '2026-08-09'", &["events_202608"]),
    ];
    for (sql, want) in cases {
        assert_eq!(tables(sql), *want, "{sql}");
    }
}

#[test]
fn string_keys_fold_by_collation() {
    let a = tables("SELECT * FROM tags WHERE name = 'ABC'");
    assert_eq!(a.len(), 1);
    assert_eq!(a, tables("SELECT * FROM tags WHERE name = 'abc'"));
    // A number compared with a string key matches '5', '05', '5.0': scatter.
    assert_eq!(tables("SELECT * FROM tags WHERE name = 5").len(), 2);
}

#[test]
fn parameters_of_prepared_statements() {
    let p = plan_p("SELECT * FROM users WHERE id = ?", &[ParamValue::Int(6)]);
    assert_eq!(
        targets(&p),
        [t("n2", "SELECT * FROM users_2 AS `users` WHERE id = ?")]
    );
    assert_eq!(p.targets[0].params, [0]);
    let p = plan_p(
        "SELECT * FROM users WHERE name = ? AND id BETWEEN ? AND ?",
        &[
            ParamValue::Bytes(b"x"),
            ParamValue::Bytes(b"5"),
            ParamValue::UInt(6),
        ],
    );
    assert_eq!(
        p.targets
            .iter()
            .flat_map(|t| t.tables.clone())
            .collect::<Vec<_>>(),
        ["users_1", "users_2"]
    );
    assert!(p.targets.iter().all(|t| t.params == [0, 1, 2]));
    // Without values (e.g. at prepare time) a read scatters.
    assert_eq!(plan("SELECT * FROM users WHERE id = ?").targets.len(), 4);
}

// ----- IN lists -----

#[test]
fn in_lists_are_split_per_shard() {
    let p = plan("SELECT * FROM users WHERE id IN (1, 2, 5, 7) AND name <> 'x'");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1, 5) AND name <> 'x'"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) AND name <> 'x'"
            ),
            t(
                "n2",
                "SELECT * FROM users_3 AS `users` WHERE id IN (7) AND name <> 'x'"
            ),
        ]
    );
    assert_eq!(p.kind, PlanKind::Scatter);
    // Under OR every targeted shard keeps only its own values (or NULL).
    let p = plan("SELECT * FROM users WHERE id IN (1, 2) OR id = 3");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1) OR id = 3"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) OR id = 3"
            ),
            t(
                "n2",
                "SELECT * FROM users_3 AS `users` WHERE id IN (NULL) OR id = 3"
            ),
        ]
    );
    // Items that are not literals stay everywhere.
    let p = plan("SELECT * FROM users WHERE id IN (1, 2) AND id IN (1, name)");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1) AND id IN (1, name)"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) AND id IN (name)"
            ),
        ]
    );
}

#[test]
fn in_lists_of_parameters_keep_each_shards_parameters() {
    let p = plan_p(
        "SELECT * FROM users WHERE id IN (?, ?, ?) AND name = ?",
        &[
            ParamValue::Int(1),
            ParamValue::Int(2),
            ParamValue::Int(5),
            ParamValue::Bytes(b"n"),
        ],
    );
    let got: Vec<(String, Vec<usize>)> = p
        .targets
        .iter()
        .map(|t| (t.sql.clone(), t.params.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "SELECT * FROM users_1 AS `users` WHERE id IN (?, ?) AND name = ?".to_owned(),
                vec![0, 2, 3]
            ),
            (
                "SELECT * FROM users_2 AS `users` WHERE id IN (?) AND name = ?".to_owned(),
                vec![1, 3]
            ),
        ]
    );
}

// ----- INSERT -----

#[test]
fn multi_row_insert_is_split_by_shard() {
    let p = plan("INSERT INTO order_items (user_id, order_id, sku) VALUES (1, 1, 'a'), (2, 2, 'b'),(5,3,'c')");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "INSERT INTO order_items_1 (user_id, order_id, sku) VALUES (1, 1, 'a'), (5,3,'c')"
            ),
            t(
                "n2",
                "INSERT INTO order_items_2 (user_id, order_id, sku) VALUES (2, 2, 'b')"
            ),
        ]
    );
    assert_eq!(p.kind, PlanKind::Scatter);
    assert!(p.write && p.merge.is_none() && p.generated_id.is_none());
    // One shard: no rewriting of the rows at all.
    let sql = "REPLACE INTO order_items (user_id, sku) VALUES (4, 'x\\'y'), (8, \"z\") /* c */";
    assert_eq!(
        one(sql),
        t(
            "n1",
            "REPLACE INTO order_items_0 (user_id, sku) VALUES (4, 'x\\'y'), (8, \"z\") /* c */"
        )
    );
}

#[test]
fn insert_parameters_follow_their_rows() {
    let p = plan_p(
        "INSERT INTO order_items (user_id, sku) VALUES (?, ?), (?, ?), (?, ?)",
        &[
            ParamValue::Int(3),
            ParamValue::Bytes(b"a"),
            ParamValue::Int(4),
            ParamValue::Bytes(b"b"),
            ParamValue::Int(7),
            ParamValue::Bytes(b"c"),
        ],
    );
    let got: Vec<(String, Vec<usize>)> = p
        .targets
        .iter()
        .map(|t| (t.sql.clone(), t.params.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "INSERT INTO order_items_0 (user_id, sku) VALUES (?, ?)".to_owned(),
                vec![2, 3]
            ),
            (
                "INSERT INTO order_items_3 (user_id, sku) VALUES (?, ?), (?, ?)".to_owned(),
                vec![0, 1, 4, 5]
            ),
        ]
    );
}

#[test]
fn generated_ids_fill_missing_and_null_columns() {
    let cfg = shop();
    let p = plan_with(
        &cfg,
        "INSERT INTO users (name) VALUES ('a'), ('b'), ('c')",
        &[],
    )
    .unwrap()
    .unwrap();
    let first = p.generated_id.expect("ids generated");
    let mut ids = Vec::new();
    for target in &p.targets {
        assert!(target.sql.contains("(name, id) VALUES ("), "{}", target.sql);
        for part in target.sql.split(", ").skip(1) {
            if let Ok(id) = part.trim_end_matches(')').parse::<u64>() {
                // Each row lands in the slot of its own id.
                assert!(
                    target.tables[0].ends_with(&format!("_{}", id % 4)),
                    "{target:?}"
                );
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], first);
    ids.dedup();
    assert_eq!(ids.len(), 3);
    // NULL in the key column is generated too; explicit values are kept.
    let p = plan_with(
        &cfg,
        "INSERT INTO users (id, name) VALUES (NULL, 'x'), (9, 'y')",
        &[],
    )
    .unwrap()
    .unwrap();
    assert!(p.targets.iter().any(|t| t.sql.ends_with("VALUES (9, 'y')")));
    assert!(p.targets.iter().all(|t| !t.sql.contains("NULL")));
    // INSERT … SET: the column is added at the front.
    let p = plan_with(&cfg, "INSERT INTO orders SET user_id = 6, total = 1", &[])
        .unwrap()
        .unwrap();
    let id = p.generated_id.unwrap();
    assert_eq!(
        p.targets[0].sql,
        format!("INSERT INTO orders_2 SET id = {id}, user_id = 6, total = 1")
    );
}

/// A mysqldump-style extended INSERT of thousands of rows: every row in
/// the shard of its own key, in the original order, its text unchanged,
/// and planned in time linear in the rows (this used to be quadratic: a
/// few hundred rows took seconds). Rows hold multi-byte characters,
/// escaped quotes, commas and parentheses in strings, and some line breaks
/// between them, so positions on long lines and after them are checked.
#[test]
fn large_insert_rows_keep_their_text_order_and_shard() {
    let cfg = shop();
    let router = &cfg.sharding;
    let n = 3000;
    let row = |i: usize| {
        format!(
            "({},'n\u{e4}me-{i}, (x)','Z\u{fc}rich \\'{i}\\' \u{1f600}')",
            i * 7 + 1
        )
    };
    let mut sql = String::from("INSERT INTO users (id, name, city) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(if i % 500 == 0 { ",\n" } else { "," });
        }
        sql.push_str(&row(i));
    }
    // Where each row belongs: its own one-row INSERT.
    let table_of = |i: usize| -> String {
        let one = format!("INSERT INTO users (id, name, city) VALUES {}", row(i));
        match router.plan(&one, Some("shop"), &[]) {
            Ok(Some(p)) if p.targets.len() == 1 => p.targets[0].tables[0].clone(),
            other => panic!("{one}: {other:?}"),
        }
    };
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..n {
        expected.entry(table_of(i)).or_default().push(row(i));
    }
    let p = match router.plan(&sql, Some("shop"), &[]) {
        Ok(Some(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(p.kind, PlanKind::Scatter);
    assert_eq!(p.targets.len(), expected.len());
    for t in &p.targets {
        let [table] = t.tables.as_slice() else {
            panic!("{:?}", t.tables);
        };
        let rows = &expected[table];
        assert_eq!(
            t.sql,
            format!(
                "INSERT INTO {table} (id, name, city) VALUES {}",
                rows.join(", ")
            )
        );
        assert!(t.params.is_empty());
    }

    // Generated ids (orders.id from a [[sequence]]): each row gets its own,
    // appended to its own text, and stays with its user's shard.
    let order = |i: usize| format!("({},{i},'\u{e9}t\u{e9}, (\\'{i}\\')')", i * 3 + 2);
    let mut sql = String::from("INSERT INTO orders (user_id, total, note) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(if i % 700 == 0 { ",\n  " } else { "," });
        }
        sql.push_str(&order(i));
    }
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..n {
        let one = format!(
            "INSERT INTO orders (user_id, total, note) VALUES {}",
            order(i)
        );
        let table = match router.plan(&one, Some("shop"), &[]) {
            Ok(Some(p)) if p.targets.len() == 1 => p.targets[0].tables[0].clone(),
            other => panic!("{one}: {other:?}"),
        };
        expected.entry(table).or_default().push(order(i));
    }
    let p = match router.plan(&sql, Some("shop"), &[]) {
        Ok(Some(p)) => p,
        other => panic!("{other:?}"),
    };
    let first = p.generated_id.expect("ids generated");
    let mut ids = Vec::new();
    assert_eq!(p.targets.len(), expected.len());
    for t in &p.targets {
        let [table] = t.tables.as_slice() else {
            panic!("{:?}", t.tables);
        };
        let prefix = format!("INSERT INTO {table} (user_id, total, note, id) VALUES ");
        let mut rest = t
            .sql
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{}", t.sql));
        for (k, original) in expected[table].iter().enumerate() {
            if k > 0 {
                rest = rest.strip_prefix(", ").unwrap_or_else(|| panic!("{rest}"));
            }
            // The row as written, with `, <id>` before its closing paren.
            let body = &original[..original.len() - 1];
            rest = rest
                .strip_prefix(body)
                .unwrap_or_else(|| panic!("{body} / {rest}"));
            rest = rest.strip_prefix(", ").unwrap_or_else(|| panic!("{rest}"));
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            ids.push(rest[..digits].parse::<u64>().expect("an id"));
            rest = rest[digits..]
                .strip_prefix(')')
                .unwrap_or_else(|| panic!("{rest}"));
        }
        assert_eq!(rest, "");
    }
    assert_eq!(ids.len(), n);
    ids.sort_unstable();
    assert_eq!(ids[0], first);
    ids.dedup();
    assert_eq!(ids.len(), n);
}

#[test]
fn insert_errors() {
    assert!(error("INSERT INTO orders (id, total) VALUES (1, 2)")
        .contains("must give the sharding key `user_id`"));
    assert!(error("INSERT INTO orders VALUES (1, 2, 3)").contains("must name its columns"));
    assert!(error("INSERT INTO orders (user_id) VALUES (NULL)").contains("is NULL"));
    assert!(error("INSERT INTO orders (user_id) VALUES (RAND())").contains("cannot evaluate"));
    assert!(error("INSERT INTO orders (user_id) VALUES ('x')").contains("not a number"));
    assert!(
        error("INSERT INTO events (created_at) VALUES ('2030-01-01')")
            .contains("outside every configured period")
    );
    assert!(error("INSERT INTO orders (user_id) SELECT id FROM users").contains("INSERT … SELECT"));
    assert!(error(
        "INSERT INTO orders (id, user_id) VALUES (1, 2) ON DUPLICATE KEY UPDATE user_id = 3"
    )
    .contains("sharding key"));
    // A parameter without a value.
    assert!(error("INSERT INTO orders (user_id) VALUES (?)").contains("parameter without a value"));
}

// ----- rewriting -----

#[test]
fn rewrites_keep_everything_else_byte_for_byte() {
    let cases = [
        (
            "/*+ hint */ SELECT `o`.id, 'it''s', \"q\\\"\", 0x1F, _utf8mb4'ü' FROM shop.`orders` AS `o` # c\n WHERE o.user_id = 2",
            "/*+ hint */ SELECT `o`.id, 'it''s', \"q\\\"\", 0x1F, _utf8mb4'ü' FROM shop.`orders_2` AS `o` # c\n WHERE o.user_id = 2",
        ),
        (
            "SELECT orders.*, orders.id FROM orders WHERE orders.user_id = 3 ORDER BY orders.id",
            "SELECT orders.*, orders.id FROM orders_3 AS `orders` WHERE orders.user_id = 3 ORDER BY orders.id",
        ),
        (
            "SELECT * FROM users u JOIN orders o USING (id) JOIN order_items ON order_items.user_id = u.id WHERE u.id = 1 AND o.user_id = 1",
            "SELECT * FROM users_1 u JOIN orders_1 o USING (id) JOIN order_items_1 AS `order_items` ON order_items.user_id = u.id WHERE u.id = 1 AND o.user_id = 1",
        ),
        (
            "SELECT * FROM (SELECT * FROM orders WHERE user_id = 4) AS d WHERE d.total IN (SELECT total FROM order_items i WHERE i.user_id = d.user_id)",
            "SELECT * FROM (SELECT * FROM orders_0 AS `orders` WHERE user_id = 4) AS d WHERE d.total IN (SELECT total FROM order_items_0 i WHERE i.user_id = d.user_id)",
        ),
        (
            "UPDATE orders SET orders.total = 'a\\\\b\\0' WHERE user_id = 5",
            "UPDATE orders_1 SET orders_1.total = 'a\\\\b\\0' WHERE user_id = 5",
        ),
        (
            "DELETE orders FROM orders JOIN regions r ON r.id = orders.region_id WHERE orders.user_id = 6",
            "DELETE orders_2 FROM orders_2 JOIN regions r ON r.id = orders_2.region_id WHERE orders_2.user_id = 6",
        ),
        (
            "WITH recent AS (SELECT * FROM events WHERE created_at >= '2026-12-02') SELECT kind FROM recent",
            "WITH recent AS (SELECT * FROM events_202612 AS `events` WHERE created_at >= '2026-12-02') SELECT kind FROM recent",
        ),
        (
            "SELECT * FROM users WHERE id = 3 FOR UPDATE",
            "SELECT * FROM users_3 AS `users` WHERE id = 3 FOR UPDATE",
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(one(sql).1, want, "{sql}");
    }
}

#[test]
fn joins_and_subqueries_follow_the_key() {
    // Joined on the key without a WHERE: every slot, each pair side by side.
    let p = plan("SELECT * FROM users u JOIN orders o ON o.user_id = u.id");
    assert_eq!(p.targets.len(), 4);
    for (i, target) in p.targets.iter().enumerate() {
        assert_eq!(
            target.sql,
            format!("SELECT * FROM users_{i} u JOIN orders_{i} o ON o.user_id = u.id")
        );
    }
    // Self-join on the key.
    assert_eq!(
        one("SELECT * FROM orders a JOIN orders b ON a.user_id = b.user_id AND a.id <> b.id WHERE b.user_id = 7").1,
        "SELECT * FROM orders_3 a JOIN orders_3 b ON a.user_id = b.user_id AND a.id <> b.id WHERE b.user_id = 7"
    );
    // IN (subquery) on the key ties the subquery to the outer rows.
    let p =
        plan("SELECT * FROM orders WHERE user_id IN (SELECT id FROM users WHERE name LIKE 'a%')");
    assert_eq!(
        p.targets[2].sql,
        "SELECT * FROM orders_2 AS `orders` WHERE user_id IN (SELECT id FROM users_2 AS `users` WHERE name LIKE 'a%')"
    );
    // Different tables each pinned to one slot on one node: pushed down.
    assert_eq!(
        one("SELECT * FROM users u, accounts a WHERE u.id = 4 AND a.id = 150").1,
        "SELECT * FROM users_0 u, accounts_1 a WHERE u.id = 4 AND a.id = 150"
    );
    // A LEFT JOIN's ON condition does not pin the left side.
    assert_eq!(
        plan("SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.user_id = 3")
            .targets
            .len(),
        4
    );
    assert_eq!(
        plan("SELECT * FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE o.user_id = 3")
            .targets
            .len(),
        1
    );
}

#[test]
fn join_and_subquery_errors() {
    assert!(
        error("SELECT * FROM users u JOIN orders o ON o.status = u.name")
            .contains("without equating their sharding keys")
    );
    assert!(
        error("SELECT * FROM users u JOIN events e ON e.user_id = u.id")
            .contains("without equating")
    );
    assert!(
        error("SELECT * FROM orders WHERE total > (SELECT AVG(total) FROM orders)")
            .contains("without being tied")
    );
    assert!(error(
        "SELECT * FROM users u, events e WHERE u.id = 2 AND e.created_at = '2026-01-05'"
    )
    .contains("different nodes"));
    assert!(
        error("SELECT * FROM orders o JOIN settings s ON s.k = o.status WHERE o.user_id = 1")
            .contains("single-node table on another node")
    );
    assert!(error("SELECT * FROM orders o JOIN audit a ON a.id = o.id")
        .contains("without a sharding rule"));
    // Derived tables that compute (aggregates, DISTINCT, LIMIT) cannot be
    // scattered; IN (subquery) with LIMIT ties nothing.
    for sql in [
        "SELECT * FROM (SELECT status, COUNT(*) c FROM orders GROUP BY status) d",
        "SELECT COUNT(*) FROM (SELECT DISTINCT status FROM orders) d",
        "SELECT * FROM (SELECT * FROM orders ORDER BY total LIMIT 10) d",
        "WITH top AS (SELECT * FROM users LIMIT 5) SELECT * FROM top",
    ] {
        assert!(error(sql).contains("computed per shard"), "{sql}");
    }
    // A UNION as a derived table cannot be split per shard.
    assert!(
        error("SELECT * FROM (SELECT id FROM users UNION ALL SELECT id FROM users) d")
            .contains("UNION")
    );
    assert!(plan_with(
        &shop(),
        "SELECT * FROM (SELECT id FROM users UNION ALL SELECT user_id FROM orders WHERE user_id = 1) d",
        &[]
    )
    .is_err());
    assert!(error(
        "SELECT * FROM users WHERE id IN (SELECT user_id FROM orders ORDER BY total DESC LIMIT 10)"
    )
    .contains("without being tied"));
    assert_eq!(
        plan("SELECT * FROM (SELECT user_id, COUNT(*) c FROM orders GROUP BY user_id) d")
            .targets
            .len(),
        4
    );
    assert_eq!(plan("SELECT * FROM (SELECT status, COUNT(*) c FROM orders WHERE user_id = 3 GROUP BY status) d").targets.len(), 1);
    // A query without FROM reading a pinned subquery.
    assert_eq!(
        one("SELECT (SELECT COUNT(*) FROM orders WHERE user_id = 2) AS n"),
        t(
            "n2",
            "SELECT (SELECT COUNT(*) FROM orders_2 AS `orders` WHERE user_id = 2) AS n"
        )
    );
    assert!(error("SELECT EXISTS (SELECT 1 FROM orders)").contains("without being tied"));
    // Pinned to the same slot as the outer query: allowed.
    assert_eq!(plan("SELECT * FROM orders WHERE user_id = 5 AND total > (SELECT AVG(total) FROM orders WHERE user_id = 5)").targets.len(), 1);
}

// ----- merge recipes -----

fn merge(sql: &str) -> MergeSpec {
    plan(sql).merge.unwrap_or_else(|| panic!("{sql}: no merge"))
}

#[test]
fn order_by_and_limit() {
    let p = plan("SELECT id, total AS t FROM orders ORDER BY t DESC, 1 LIMIT 5 OFFSET 10");
    assert_eq!(
        p.targets[0].sql,
        "SELECT id, total AS t FROM orders_0 AS `orders` ORDER BY t DESC, 1 LIMIT 15"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.order_by,
        [
            SortKey {
                column: ColumnRef::Index(1),
                descending: true
            },
            SortKey {
                column: ColumnRef::Index(0),
                descending: false
            },
        ]
    );
    assert_eq!(
        (m.offset, m.limit, m.hidden_columns, m.distinct),
        (10, Some(5), 0, false)
    );
    assert!(m.aggregate.is_none());
    // `*` hides positions: order keys become hidden columns.
    let p = plan("SELECT * FROM users ORDER BY created_at DESC, name LIMIT 3");
    assert_eq!(
        p.targets[3].sql,
        "SELECT *, created_at AS `__shardcat_h0`, name AS `__shardcat_h1` FROM users_3 AS `users` ORDER BY created_at DESC, name LIMIT 3"
    );
    let m = p.merge.unwrap();
    assert_eq!(m.hidden_columns, 2);
    assert_eq!(
        m.order_by[0],
        SortKey {
            column: ColumnRef::Hidden(0),
            descending: true
        }
    );
    // LIMIT parameters are inlined for the shards.
    let p = plan_p(
        "SELECT id FROM users WHERE name = ? ORDER BY id LIMIT ?, ?",
        &[
            ParamValue::Bytes(b"x"),
            ParamValue::Int(2),
            ParamValue::Int(3),
        ],
    );
    assert_eq!(
        p.targets[0].sql,
        "SELECT id FROM users_0 AS `users` WHERE name = ? ORDER BY id LIMIT 5"
    );
    assert_eq!(p.targets[0].params, [0]);
    assert_eq!(
        (
            p.merge.as_ref().unwrap().offset,
            p.merge.as_ref().unwrap().limit
        ),
        (2, Some(3))
    );
    // DISTINCT with a pushed-down LIMIT.
    let m = merge("SELECT DISTINCT status FROM orders ORDER BY status LIMIT 3");
    assert!(m.distinct);
    assert_eq!(m.limit, Some(3));
}

#[test]
fn aggregates() {
    let p =
        plan("SELECT COUNT(*), SUM(total), MIN(total), MAX(total), AVG(total) AS a FROM orders");
    assert_eq!(
        p.targets[0].sql,
        "SELECT COUNT(*), SUM(total), MIN(total), MAX(total), SUM(total) AS a, COUNT(total) AS `__shardcat_h0` FROM orders_0 AS `orders`"
    );
    let agg = p.merge.unwrap().aggregate.unwrap();
    assert!(agg.group_by.is_empty());
    assert_eq!(
        agg.columns,
        [
            Combine::Count,
            Combine::Sum,
            Combine::Min,
            Combine::Max,
            Combine::Avg { count: 5 },
            Combine::Count
        ]
    );
    // Grouped by a column not selected: hidden group key; LIMIT removed.
    let p = plan("SELECT COUNT(*) FROM orders GROUP BY status LIMIT 2");
    assert_eq!(
        p.targets[1].sql,
        "SELECT COUNT(*), status AS `__shardcat_h0` FROM orders_1 AS `orders` GROUP BY status"
    );
    let m = p.merge.unwrap();
    assert_eq!(m.aggregate.as_ref().unwrap().group_by, [1]);
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns,
        [Combine::Count, Combine::Group]
    );
    assert_eq!(
        m.order_by,
        [SortKey {
            column: ColumnRef::Index(1),
            descending: false
        }]
    );
    assert_eq!((m.limit, m.hidden_columns), (Some(2), 1));
    // COUNT(DISTINCT key) adds up; GROUP BY the key needs no combining.
    assert_eq!(
        merge("SELECT COUNT(DISTINCT user_id) FROM orders")
            .aggregate
            .unwrap()
            .columns,
        [Combine::Count]
    );
    let m = merge(
        "SELECT user_id, GROUP_CONCAT(sku) FROM order_items GROUP BY user_id HAVING COUNT(*) > 1",
    );
    assert!(m.aggregate.is_none());
    assert_eq!(
        m.order_by,
        [SortKey {
            column: ColumnRef::Index(0),
            descending: false
        }]
    );
}

#[test]
fn having_on_combined_groups() {
    use crate::merge::eval::{BinOp, Literal, MergeExpr as M};
    // Alias of a selected aggregate; the shards do not filter.
    let p =
        plan("SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING c > 1 ORDER BY status");
    assert_eq!(
        p.targets[0].sql,
        "SELECT status, COUNT(*) c FROM orders_0 AS `orders` GROUP BY status ORDER BY status"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.having,
        Some(M::Binary(
            BinOp::Gt,
            Box::new(M::Column(1)),
            Box::new(M::Literal(Literal::Int(1)))
        ))
    );
    // Aggregates only in HAVING become hidden columns (AVG as SUM + COUNT),
    // qualified names keep their renames, LIMIT is applied after.
    let p = plan(
        "SELECT o.status FROM orders o GROUP BY o.status HAVING AVG(o.total) BETWEEN 1 AND 2.5 OR MAX(o.total) IS NULL LIMIT 3",
    );
    assert_eq!(
        p.targets[2].sql,
        "SELECT o.status, SUM(o.total) AS `__shardcat_h0`, COUNT(o.total) AS `__shardcat_h1`, MAX(o.total) AS `__shardcat_h2` FROM orders_2 o GROUP BY o.status"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns,
        [
            Combine::Group,
            Combine::Avg { count: 2 },
            Combine::Count,
            Combine::Max
        ]
    );
    assert_eq!((m.hidden_columns, m.limit), (3, Some(3)));
    let Some(M::Binary(BinOp::Or, left, right)) = &m.having else {
        panic!("{:?}", m.having)
    };
    assert!(
        matches!(left.as_ref(), M::Between { expr, negated: false, .. } if **expr == M::Column(1))
    );
    assert_eq!(
        right.as_ref(),
        &M::IsNull {
            expr: Box::new(M::Column(3)),
            negated: false
        }
    );
    // Without GROUP BY; a group key not selected; NOT, IN, arithmetic.
    let m =
        merge("SELECT COUNT(*) FROM orders HAVING NOT COUNT(*) IN (1, 2) AND SUM(total) / 2 > -1");
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns,
        [Combine::Count, Combine::Sum]
    );
    assert!(
        matches!(&m.having, Some(M::Binary(BinOp::And, l, _)) if matches!(l.as_ref(), M::Not(_)))
    );
    let p = plan("SELECT COUNT(*) FROM orders GROUP BY status HAVING status <> 'x'");
    assert_eq!(
        p.targets[0].sql,
        "SELECT COUNT(*), status AS `__shardcat_h0` FROM orders_0 AS `orders` GROUP BY status"
    );
    assert_eq!(
        p.merge.unwrap().having,
        Some(M::Binary(
            BinOp::Ne,
            Box::new(M::Column(1)),
            Box::new(M::Literal(Literal::Str(b"x".to_vec())))
        ))
    );
    // A name in HAVING (and GROUP BY) is the table column before the
    // alias of an aggregate.
    let m = merge("SELECT COUNT(*) AS status FROM orders GROUP BY status HAVING status = 'paid'");
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns,
        [Combine::Count, Combine::Group]
    );
    assert!(matches!(&m.having, Some(M::Binary(BinOp::Eq, l, _)) if **l == M::Column(1)));
    // String literals are unescaped as MySQL reads them.
    let m = merge("SELECT COUNT(*) FROM orders GROUP BY status HAVING status = 'it''s\\n'");
    let Some(M::Binary(_, _, lit)) = m.having else {
        panic!()
    };
    assert_eq!(*lit, M::Literal(Literal::Str(b"it's\n".to_vec())));
    // Grouped by the sharding key: HAVING stays on the shards.
    let p = plan("SELECT user_id, COUNT(*) FROM orders GROUP BY user_id HAVING COUNT(*) > 1");
    assert!(p.targets[0].sql.ends_with("HAVING COUNT(*) > 1"));
    assert!(p.merge.unwrap().having.is_none());
}

#[test]
fn distinct_aggregates_gather_values() {
    // Without GROUP BY: the shards group by the argument.
    let p = plan("SELECT COUNT(DISTINCT status), SUM(total) FROM orders WHERE total > 1");
    assert_eq!(
        p.targets[0].sql,
        "SELECT COUNT(DISTINCT status), SUM(total), status AS `__shardcat_h0` FROM orders_0 AS `orders` WHERE total > 1 GROUP BY status"
    );
    let agg = p.merge.unwrap().aggregate.unwrap();
    assert!(agg.group_by.is_empty());
    assert_eq!(
        agg.columns,
        [
            Combine::CountDistinct { first: 2, n: 1 },
            Combine::Sum,
            Combine::Any
        ]
    );
    // With GROUP BY, before ORDER BY/LIMIT; several arguments; SUM and AVG;
    // COUNT(DISTINCT key) is gathered too once the shards group finer.
    let p = plan(
        "SELECT o.status, COUNT(DISTINCT o.note, o.created_at), SUM(DISTINCT o.total), AVG(DISTINCT o.total), COUNT(DISTINCT o.user_id) FROM orders o GROUP BY o.status ORDER BY 2 DESC LIMIT 3",
    );
    assert_eq!(
        p.targets[1].sql,
        "SELECT o.status, COUNT(DISTINCT o.note, o.created_at), SUM(DISTINCT o.total), AVG(DISTINCT o.total), COUNT(DISTINCT o.user_id), o.note AS `__shardcat_h0`, o.created_at AS `__shardcat_h1`, o.total AS `__shardcat_h2`, o.total AS `__shardcat_h3`, o.user_id AS `__shardcat_h4` FROM orders_1 o GROUP BY o.status, o.note, o.created_at, o.total, o.total, o.user_id ORDER BY 2 DESC"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.unwrap().columns[..5],
        [
            Combine::Group,
            Combine::CountDistinct { first: 5, n: 2 },
            Combine::SumDistinct { arg: 7 },
            Combine::AvgDistinct { arg: 8 },
            Combine::CountDistinct { first: 9, n: 1 },
        ]
    );
    assert_eq!(m.limit, Some(3));
    // DISTINCT aggregates used only by HAVING / ORDER BY: hidden columns.
    let p = plan("SELECT status FROM orders GROUP BY status HAVING COUNT(DISTINCT note) > 1 ORDER BY COUNT(DISTINCT user_id)");
    assert_eq!(
        p.targets[0].sql,
        "SELECT status, COUNT(DISTINCT note) AS `__shardcat_h0`, COUNT(DISTINCT user_id) AS `__shardcat_h1`, note AS `__shardcat_h2`, user_id AS `__shardcat_h3` FROM orders_0 AS `orders` GROUP BY status, note, user_id ORDER BY COUNT(DISTINCT user_id)"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.unwrap().columns,
        [
            Combine::Group,
            Combine::CountDistinct { first: 3, n: 1 },
            Combine::CountDistinct { first: 4, n: 1 },
            Combine::Any,
            Combine::Any
        ]
    );
    assert_eq!(m.order_by[0].column, ColumnRef::Index(2));
    // Alone, COUNT(DISTINCT key) still adds up per shard.
    assert_eq!(
        merge("SELECT status, COUNT(DISTINCT user_id) FROM orders GROUP BY status")
            .aggregate
            .unwrap()
            .columns,
        [Combine::Group, Combine::Count]
    );
}

#[test]
fn union_order_by_and_limit() {
    // Each shard sorts and keeps offset + limit; the merge sorts by the
    // first SELECT's names or positions.
    let p = plan(
        "SELECT id AS k, name FROM users UNION ALL SELECT user_id, status FROM orders ORDER BY name DESC, k LIMIT 5 OFFSET 2",
    );
    assert_eq!(
        p.targets[0].sql,
        "SELECT id AS k, name FROM users_0 AS `users` UNION ALL SELECT user_id, status FROM orders_0 AS `orders` ORDER BY name DESC, k LIMIT 7"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.order_by,
        [
            SortKey {
                column: ColumnRef::Index(1),
                descending: true
            },
            SortKey {
                column: ColumnRef::Index(0),
                descending: false
            }
        ]
    );
    assert_eq!((m.offset, m.limit, m.distinct), (2, Some(5), false));
    // UNION (distinct) ending the chain: duplicates removed again.
    let m = merge("SELECT id FROM users UNION ALL SELECT user_id FROM orders UNION SELECT id FROM orders ORDER BY 1 LIMIT 3");
    assert!(m.distinct);
    assert_eq!(m.limit, Some(3));
}

#[test]
fn group_concat_from_finer_groups() {
    use crate::merge::concat::ConcatSpec;
    let p = plan(
        "SELECT i.order_id, GROUP_CONCAT(i.sku ORDER BY i.id DESC SEPARATOR '|') AS s FROM order_items i GROUP BY i.order_id",
    );
    assert_eq!(
        p.targets[0].sql,
        "SELECT i.order_id, GROUP_CONCAT(i.sku ORDER BY i.id DESC SEPARATOR '|') AS s, COUNT(*) AS `__shardcat_h0`, @@group_concat_max_len AS `__shardcat_h1`, i.sku AS `__shardcat_h2`, i.id AS `__shardcat_h3` FROM order_items_0 i GROUP BY i.order_id, i.sku, i.id"
    );
    let agg = p.merge.unwrap().aggregate.unwrap();
    assert_eq!(
        agg.columns[..2],
        [Combine::Group, Combine::GroupConcat { index: 0 }]
    );
    assert_eq!(
        agg.concats,
        [ConcatSpec {
            value: 4,
            order: vec![(5, true)],
            separator: b"|".to_vec(),
            distinct: false,
            count: 2,
            max_len: 3,
        }]
    );
    // DISTINCT, no GROUP BY (one is added for the value).
    let p = plan("SELECT GROUP_CONCAT(DISTINCT qty ORDER BY qty) FROM order_items WHERE qty > 1");
    assert_eq!(
        p.targets[0].sql,
        "SELECT GROUP_CONCAT(DISTINCT qty ORDER BY qty), COUNT(*) AS `__shardcat_h0`, @@group_concat_max_len AS `__shardcat_h1`, qty AS `__shardcat_h2`, qty AS `__shardcat_h3` FROM order_items_0 AS `order_items` WHERE qty > 1 GROUP BY qty, qty"
    );
    assert!(p.merge.unwrap().aggregate.unwrap().concats[0].distinct);
}

#[test]
fn expressions_on_aggregates() {
    use crate::merge::eval::{BinOp, Literal, MergeExpr as M};
    // The shards compute the expression (its column definition is the
    // server's); the merge recomputes it from hidden combined aggregates.
    let p = plan("SELECT status, SUM(total) / COUNT(*) AS r, ROUND(AVG(total), 2) FROM orders GROUP BY status");
    assert_eq!(
        p.targets[0].sql,
        "SELECT status, SUM(total) / COUNT(*) AS r, ROUND(AVG(total), 2), SUM(total) AS `__shardcat_h0`, COUNT(*) AS `__shardcat_h1`, SUM(total) AS `__shardcat_h2`, COUNT(total) AS `__shardcat_h3` FROM orders_0 AS `orders` GROUP BY status"
    );
    let agg = p.merge.unwrap().aggregate.unwrap();
    assert_eq!(
        agg.columns,
        [
            Combine::Group,
            Combine::Computed { index: 0 },
            Combine::Computed { index: 1 },
            Combine::Sum,
            Combine::Count,
            Combine::Avg { count: 6 },
            Combine::Count
        ]
    );
    assert_eq!(
        agg.computed,
        [
            M::Binary(BinOp::Div, Box::new(M::Column(3)), Box::new(M::Column(4))),
            M::Round(Box::new(M::Column(5)), 2)
        ]
    );
    // ORDER BY an expression on aggregates: a hidden computed column.
    let p = plan("SELECT status FROM orders GROUP BY status ORDER BY MAX(total) - MIN(total) DESC");
    assert_eq!(
        p.targets[0].sql,
        "SELECT status, MAX(total) - MIN(total) AS `__shardcat_h0`, MAX(total) AS `__shardcat_h1`, MIN(total) AS `__shardcat_h2` FROM orders_0 AS `orders` GROUP BY status ORDER BY MAX(total) - MIN(total) DESC"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.order_by,
        [SortKey {
            column: ColumnRef::Index(1),
            descending: true
        }]
    );
    assert_eq!(
        m.aggregate.unwrap().columns[1],
        Combine::Computed { index: 0 }
    );
    // A selected aggregate is reused; a group key may take part.
    let agg = merge("SELECT MAX(total), MAX(total) - MIN(total) + 1 FROM orders")
        .aggregate
        .unwrap();
    assert_eq!(
        agg.computed,
        [M::Binary(
            BinOp::Add,
            Box::new(M::Binary(
                BinOp::Sub,
                Box::new(M::Column(0)),
                Box::new(M::Column(2))
            )),
            Box::new(M::Literal(Literal::Int(1)))
        )]
    );
}

#[test]
fn scatter_refusals() {
    for (sql, why) in [
        (
            "SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING id > 1",
            "HAVING refers to `id`",
        ),
        (
            "SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING GROUP_CONCAT(sku) = 'a'",
            "HAVING uses GROUP_CONCAT()",
        ),
        (
            "SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING c > (SELECT 1)",
            "HAVING",
        ),
        (
            "SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING c > 1 XOR c < 5",
            "HAVING uses XOR",
        ),
        (
            "SELECT DATE(created), COUNT(*) FROM orders GROUP BY DATE(created) HAVING DATE(created) IS NULL",
            "HAVING `DATE(created)` cannot be evaluated",
        ),
        (
            "SELECT COUNT(DISTINCT status) FROM orders HAVING STDDEV(total) > 1",
            "HAVING uses STDDEV()",
        ),
        (
            "SELECT SUM(total) + LENGTH(status) FROM orders",
            "computes on aggregates in a way shardcat cannot merge",
        ),
        (
            "SELECT GROUP_CONCAT(id, sku) FROM order_items",
            "GROUP_CONCAT of several values",
        ),
        (
            "SELECT GROUP_CONCAT(DISTINCT sku ORDER BY id) FROM order_items",
            "GROUP_CONCAT (DISTINCT …) ordered by another expression",
        ),
        (
            "SELECT GROUP_CONCAT(sku ORDER BY 1) FROM order_items",
            "GROUP_CONCAT ordered by a position",
        ),
        (
            "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM users",
            "window functions",
        ),
        (
            "SELECT DISTINCT name FROM users ORDER BY created_at",
            "DISTINCT",
        ),
        ("SELECT *, COUNT(*) FROM users GROUP BY name", "SELECT *"),
        ("SELECT * FROM users ORDER BY 2", "position after `*`"),
        (
            "SELECT SQL_CALC_FOUND_ROWS * FROM users LIMIT 1",
            "SQL_CALC_FOUND_ROWS",
        ),
        (
            "SELECT id FROM users UNION SELECT user_id FROM orders ORDER BY id + 1",
            "on a UNION",
        ),
        (
            "SELECT id FROM users UNION SELECT user_id FROM orders UNION ALL SELECT id FROM orders",
            "UNION followed by UNION ALL",
        ),
    ] {
        let e = error(sql);
        assert!(e.contains(why) && e.contains("shards"), "{sql}: {e}");
    }
    // The same statements are fine on one shard.
    assert_eq!(
        plan(
            "SELECT status, COUNT(*) c FROM orders WHERE user_id = 1 GROUP BY status HAVING c > 1"
        )
        .targets
        .len(),
        1
    );
}

#[test]
fn union_branches_share_the_targets() {
    let p = plan(
        "SELECT id FROM users WHERE id = 1 UNION SELECT user_id FROM orders WHERE user_id = 2",
    );
    assert_eq!(
        targets(&p),
        [
            t("n1", "SELECT id FROM users_1 AS `users` WHERE id = 1 UNION SELECT user_id FROM orders_1 AS `orders` WHERE user_id = 2"),
            t("n2", "SELECT id FROM users_2 AS `users` WHERE id = 1 UNION SELECT user_id FROM orders_2 AS `orders` WHERE user_id = 2"),
        ]
    );
    assert!(p.merge.unwrap().distinct);
    // A branch without sharded tables next to a scattered one is planned
    // on its own (see union_branches_planned_separately).
    assert_eq!(
        plan("SELECT id FROM users UNION ALL SELECT id FROM regions")
            .targets
            .len(),
        4
    );
    assert_eq!(
        plan("SELECT id FROM users WHERE id = 1 UNION ALL SELECT id FROM regions")
            .targets
            .len(),
        1
    );
    // Writing a broadcast table from a sharded one cannot be pushed down.
    assert!(error("INSERT INTO regions (id) SELECT user_id FROM orders")
        .contains("every shard of `orders`"));
    // ORDER BY NULL asks for no order.
    let m = merge("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY NULL");
    assert!(m.order_by.is_empty());
}

// ----- UPDATE / DELETE -----

#[test]
fn updates_and_deletes() {
    assert_eq!(
        one("UPDATE orders SET total = total * 2 WHERE user_id IN (3, 7) AND id = 1"),
        t(
            "n2",
            "UPDATE orders_3 SET total = total * 2 WHERE user_id IN (3, 7) AND id = 1"
        )
    );
    let p = plan("DELETE FROM orders WHERE status = 'void'");
    assert_eq!(
        (p.kind.clone(), p.targets.len(), p.write),
        (PlanKind::Scatter, 4, true)
    );
    assert!(p.merge.is_none());
    assert!(error("UPDATE users SET id = 3 WHERE id = 2").contains("sharding key of `users`"));
    assert!(error("UPDATE orders o SET o.user_id = 3").contains("sharding key of `orders`"));
    assert!(error("DELETE FROM orders LIMIT 1").contains("LIMIT"));
    assert!(error(
        "UPDATE orders o JOIN regions r ON r.id = o.region_id SET r.name = 'x' WHERE o.user_id = 1"
    )
    .contains("not sharded"));
    // With the guard on, unkeyed writes are refused; keyed ones pass.
    let guarded = config(|t| {
        t.replace(
            "refuse_unkeyed_writes = false",
            "refuse_unkeyed_writes = true",
        )
    });
    let e = plan_with(&guarded, "UPDATE orders SET total = 0", &[]).unwrap_err();
    assert!(e.0.contains("refuse_unkeyed_writes"), "{e}");
    assert!(plan_with(
        &guarded,
        "UPDATE orders SET total = 0 WHERE user_id = 1",
        &[]
    )
    .is_ok());
}

// ----- DDL -----

#[test]
fn ddl_fans_out() {
    let p = plan("CREATE TABLE IF NOT EXISTS users (id BIGINT PRIMARY KEY, name VARCHAR(50))");
    assert_eq!(p.kind, PlanKind::Ddl);
    assert_eq!(
        targets(&p),
        (0..4)
            .map(|i| t(if i < 2 { "n1" } else { "n2" }, &format!("CREATE TABLE IF NOT EXISTS users_{i} (id BIGINT PRIMARY KEY, name VARCHAR(50))")))
            .collect::<Vec<_>>()
    );
    assert_eq!(plan("TRUNCATE TABLE events").targets.len(), 12);
    assert_eq!(
        plan("TRUNCATE TABLE events").targets[11].sql,
        "TRUNCATE TABLE events_202612"
    );
    assert_eq!(
        plan("DROP TABLE IF EXISTS orders, `order_items`").targets[3].sql,
        "DROP TABLE IF EXISTS orders_3, `order_items_3`"
    );
    assert_eq!(
        plan("ALTER TABLE shop.orders ADD INDEX (total)").targets[1].sql,
        "ALTER TABLE shop.orders_1 ADD INDEX (total)"
    );
    assert_eq!(plan("CREATE INDEX i ON users (name)").targets.len(), 4);
    let p = plan("CREATE TABLE regions (id INT)");
    assert_eq!((p.kind.clone(), p.targets.len()), (PlanKind::Ddl, 2));
    assert_eq!(
        plan("DROP TABLE settings").kind,
        PlanKind::Unsharded { node: 1 }
    );
    assert!(error("DROP TABLE orders, regions").contains("placed differently"));
    assert!(error("DROP TABLE users, events").contains("placed differently"));
    assert!(error("RENAME TABLE orders TO orders_old").contains("not supported"));
}

// ----- broadcast, single-node, passthrough -----

#[test]
fn broadcast_and_single_node_tables() {
    let p = plan("SELECT * FROM regions WHERE id = 1");
    assert_eq!(p.kind, PlanKind::BroadcastRead { nodes: vec![0, 1] });
    assert_eq!(p.targets.len(), 1);
    let p = plan("INSERT INTO regions (id, name) VALUES (1, 'eu')");
    assert_eq!((p.kind.clone(), p.targets.len()), (PlanKind::Broadcast, 2));
    let p = plan("DELETE FROM regions WHERE id = 1");
    assert_eq!(p.kind, PlanKind::Broadcast);
    // A broadcast copy is read beside a single-node table.
    let p = plan("SELECT * FROM settings s JOIN regions r ON r.id = s.region_id");
    assert_eq!(p.kind, PlanKind::Unsharded { node: 1 });
    assert_eq!(
        p.targets[0].sql,
        "SELECT * FROM settings s JOIN regions r ON r.id = s.region_id"
    );
    assert!(
        error("UPDATE regions r JOIN settings s ON s.k = r.name SET r.name = 'x'")
            .contains("not on node n1")
    );
    assert!(error("LOCK TABLES orders WRITE").contains("not supported"));
    assert_eq!(
        plan("LOCK TABLES settings READ").kind,
        PlanKind::Unsharded { node: 1 }
    );
    assert_eq!(plan("DESCRIBE orders").targets[0].sql, "DESCRIBE orders_0");
    assert_eq!(
        plan("SHOW CREATE TABLE regions").kind,
        PlanKind::BroadcastRead { nodes: vec![0, 1] }
    );
    // Statements without a rule table.
    let cfg = shop();
    for sql in [
        "SELECT 1",
        "SELECT * FROM audit",
        "SHOW TABLES",
        "SELECT orders FROM t",
        "INSERT INTO log VALUES (1)",
    ] {
        assert_eq!(plan_with(&cfg, sql, &[]), Ok(None), "{sql}");
    }
    // information_schema lives everywhere.
    assert_eq!(
        plan("SELECT * FROM orders o JOIN information_schema.tables t ON 1 WHERE o.user_id = 1")
            .targets
            .len(),
        1
    );
}

#[test]
fn unparseable_and_multi_statement_texts() {
    assert!(error("LOAD DATA INFILE 'x' INTO TABLE orders").contains("cannot parse this statement"));
    assert!(error("HANDLER regions OPEN").contains("broadcast"));
    // Single-node tables are routed to their node even unparsed.
    assert_eq!(
        plan("OPTIMIZE TABLE settings").kind,
        PlanKind::Unsharded { node: 1 }
    );
    assert!(error("SELECT * FROM orders; SELECT 1").contains("one at a time"));
    assert_eq!(plan_with(&shop(), "SELECT 1; SELECT 2", &[]), Ok(None));
}

#[test]
fn explain_statements_route_like_their_statement() {
    let p = plan("EXPLAIN SELECT * FROM orders WHERE user_id IN (1, 2)");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "EXPLAIN SELECT * FROM orders_1 AS `orders` WHERE user_id IN (1)"
            ),
            t(
                "n2",
                "EXPLAIN SELECT * FROM orders_2 AS `orders` WHERE user_id IN (2)"
            ),
        ]
    );
    assert!(p.merge.is_none() && !p.write);
}

// ----- the router itself -----

#[test]
fn logical_names_of_physical_tables() {
    let cfg = shop();
    assert_eq!(
        cfg.sharding.logical_name_of("orders_3").as_deref(),
        Some("orders")
    );
    assert_eq!(
        cfg.sharding.logical_name_of("events_202607").as_deref(),
        Some("events")
    );
    assert_eq!(
        cfg.sharding.logical_name_of("order_items_0").as_deref(),
        Some("order_items")
    );
    assert_eq!(cfg.sharding.logical_name_of("regions"), None);
    assert_eq!(cfg.sharding.logical_name_of("orders"), None);
}

#[test]
fn plans_are_cached_by_text_but_follow_parameters() {
    let cfg = shop();
    let sql = "SELECT * FROM users WHERE id = ?";
    let a = plan_with(&cfg, sql, &[ParamValue::Int(1)])
        .unwrap()
        .unwrap();
    let b = plan_with(&cfg, sql, &[ParamValue::Int(2)])
        .unwrap()
        .unwrap();
    assert_eq!(a.targets[0].tables, ["users_1"]);
    assert_eq!(b.targets[0].tables, ["users_2"]);
    // Errors are cached too and stay the same.
    let e1 = plan_with(&cfg, "UPDATE users SET id = 1", &[]).unwrap_err();
    let e2 = plan_with(&cfg, "UPDATE users SET id = 1", &[]).unwrap_err();
    assert_eq!(e1, e2);
    // The current schema matters for rules that name one.
    let scoped = config(|t| {
        t.replace(
            "name = \"settings\"\n",
            "name = \"settings\"\nschema = \"shop\"\n",
        )
    });
    assert!(plan_with(&scoped, "SELECT * FROM settings", &[])
        .unwrap()
        .is_some());
    assert_eq!(
        scoped
            .sharding
            .plan("SELECT * FROM settings", Some("other"), &[]),
        Ok(None)
    );
    assert!(scoped
        .sharding
        .plan("SELECT * FROM shop.settings", Some("other"), &[])
        .unwrap()
        .is_some());
}

#[test]
fn describe_and_routing_error_conversion() {
    let cfg = shop();
    let p = plan_with(&cfg, "SELECT id FROM users ORDER BY id LIMIT 2", &[])
        .unwrap()
        .unwrap();
    let text = cfg.sharding.describe(&p);
    assert!(
        text.contains("scatter (4 targets)") && text.contains("merge:  order_by=[#0] limit=2"),
        "{text}"
    );
    let e: crate::error::ProxyError = RouteError("x".into()).into();
    assert_eq!(e.to_err_packet().code, 1105);
}

/// Every prefix and a few mutations of statements shardcat understands:
/// planning never panics, whatever the text.
#[test]
fn arbitrary_text_never_panics() {
    let cfg = shop();
    let bases = [
        "SELECT o.id, AVG(o.total) AS a FROM orders o JOIN users u ON u.id = o.user_id WHERE u.id IN (1, ?, 3) GROUP BY o.id ORDER BY a DESC LIMIT ?, 2",
        "INSERT INTO orders (user_id, total) VALUES (1, 'x\\'y'), (?, NULL) ON DUPLICATE KEY UPDATE total = VALUES(total)",
        "UPDATE orders o JOIN regions r ON r.id = o.region_id SET o.total = (SELECT MAX(total) FROM orders WHERE user_id = 2) WHERE o.user_id = 2",
        "DELETE a FROM order_items a WHERE a.user_id BETWEEN 3 AND 9 AND EXISTS (SELECT 1 FROM orders b WHERE b.user_id = a.user_id)",
        "WITH x AS (SELECT DISTINCT user_id FROM orders) SELECT * FROM users WHERE id IN (SELECT user_id FROM x) UNION ALL SELECT * FROM users WHERE id = 5",
        "CREATE TABLE `events` (id INT, created_at DATETIME) /* é */",
        "SELECT * FROM events WHERE created_at >= '2026-05-31 23:59:59.999999' AND created_at < DATE '2026-07-02'",
    ];
    let params = [
        ParamValue::Int(2),
        ParamValue::Bytes(b"3"),
        ParamValue::Null,
    ];
    for base in bases {
        let cuts: Vec<usize> = (0..=base.len())
            .filter(|&i| base.is_char_boundary(i))
            .collect();
        for &cut in &cuts {
            let text = &base[..cut];
            let _ = cfg.sharding.plan(text, Some("shop"), &params);
            let _ = cfg.sharding.plan(text, None, &[]);
            let swapped = format!("{}{}", &base[cut..], text);
            let _ = cfg.sharding.plan(&swapped, Some("shop"), &params);
        }
    }
}

#[test]
fn union_branches_planned_separately() {
    // A broadcast branch answers once; the others get it as `LIMIT 0`, so
    // every target describes the whole union's columns.
    let p = plan("SELECT id FROM regions UNION SELECT region_id FROM users");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT id FROM regions UNION SELECT region_id FROM users_0 AS `users`"
            ),
            t(
                "n1",
                "(SELECT id FROM regions LIMIT 0) UNION SELECT region_id FROM users_1 AS `users`"
            ),
            t(
                "n2",
                "(SELECT id FROM regions LIMIT 0) UNION SELECT region_id FROM users_2 AS `users`"
            ),
            t(
                "n2",
                "(SELECT id FROM regions LIMIT 0) UNION SELECT region_id FROM users_3 AS `users`"
            ),
        ]
    );
    assert_eq!(p.kind, PlanKind::Scatter);
    assert!(p.merge.unwrap().distinct);
    // The sharded branch is pruned by its own WHERE, IN lists split.
    let p = plan("SELECT name FROM regions UNION ALL SELECT city FROM users WHERE id IN (1, 2)");
    assert_eq!(
        targets(&p),
        [
            t("n1", "SELECT name FROM regions UNION ALL SELECT city FROM users_1 AS `users` WHERE id IN (1)"),
            t("n2", "(SELECT name FROM regions LIMIT 0) UNION ALL SELECT city FROM users_2 AS `users` WHERE id IN (2)"),
        ]
    );
    assert!(!p.merge.unwrap().distinct);
    // Two layouts: each branch on its own slots; slots of both layouts on
    // one node share a statement; ORDER BY/LIMIT go to every target.
    let p = plan(
        "SELECT id FROM users WHERE id = 1 UNION ALL SELECT id FROM events \
         WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 5 OFFSET 2",
    );
    assert_eq!(
        targets(&p),
        [
            t("n1", "SELECT id FROM users_1 AS `users` WHERE id = 1 UNION ALL SELECT id FROM events_202606 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202607 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202608 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202609 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202610 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202611 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
            t("n2", "(SELECT id FROM users_2 AS `users` WHERE id = 1 LIMIT 0) UNION ALL SELECT id FROM events_202612 AS `events` WHERE created_at >= '2026-06-01' ORDER BY 1 DESC LIMIT 7"),
        ]
    );
    let m = p.merge.unwrap();
    assert_eq!((m.limit, m.offset, m.order_by.len()), (Some(5), 2, 1));
    // Parameters follow their branch (prepared statements).
    let p = plan_p(
        "SELECT id FROM users WHERE id = ? UNION ALL SELECT id FROM events WHERE created_at = ?",
        &[
            ParamValue::Int(2),
            ParamValue::Bytes(b"2026-08-03 10:00:00"),
        ],
    );
    assert_eq!(
        targets(&p),
        [
            t("n2", "SELECT id FROM users_2 AS `users` WHERE id = ? UNION ALL SELECT id FROM events_202608 AS `events` WHERE created_at = ?"),
        ]
    );
    assert_eq!(p.targets[0].params, [0, 1]);
    // A branch without tables at all answers once too.
    assert_eq!(
        targets(&plan(
            "SELECT 1 UNION ALL SELECT id FROM users WHERE id IN (1, 2)"
        )),
        [
            t(
                "n1",
                "SELECT 1 UNION ALL SELECT id FROM users_1 AS `users` WHERE id IN (1)"
            ),
            t(
                "n2",
                "(SELECT 1 LIMIT 0) UNION ALL SELECT id FROM users_2 AS `users` WHERE id IN (2)"
            ),
        ]
    );
    // A subquery tied by the key to its branch takes the branch's slot.
    let p = plan(
        "SELECT id FROM regions UNION ALL SELECT id FROM users WHERE id IN (SELECT user_id FROM orders) AND id = 3",
    );
    assert_eq!(
        targets(&p),
        [t("n2", "SELECT id FROM regions UNION ALL SELECT id FROM users_3 AS `users` WHERE id IN (SELECT user_id FROM orders_3 AS `orders`) AND id = 3")]
    );
    // Still refused, with the reason.
    for (sql, why) in [
        (
            "(SELECT id FROM regions) UNION SELECT region_id FROM users",
            "flat UNION of plain SELECTs only",
        ),
        (
            "SELECT COUNT(*) FROM regions UNION ALL SELECT id FROM users",
            "aggregates inside a UNION",
        ),
        (
            "SELECT id FROM regions UNION SELECT id FROM users UNION ALL SELECT id FROM events",
            "UNION followed by UNION ALL",
        ),
        (
            "SELECT id FROM users UNION ALL SELECT id FROM settings",
            "`settings` is a single-node table on another node",
        ),
        (
            "SELECT u.id FROM users u JOIN events e ON e.id = u.id UNION ALL SELECT id FROM regions",
            "not joined on their sharding keys",
        ),
    ] {
        let e = error(sql);
        assert!(e.contains(why), "{sql}: {e}");
    }
}

// ----- rendering -----

mod render_reference {
    use super::super::plan::render;
    use super::super::select::{Edit, Piece};
    use super::super::{quote_sql, RouteError};
    use std::ops::Range;

    fn push_src(
        sql: &str,
        range: Range<usize>,
        placeholders: &[usize],
        out: &mut String,
        params: &mut Vec<usize>,
    ) -> Option<()> {
        out.push_str(sql.get(range.clone())?);
        for (i, &p) in placeholders.iter().enumerate() {
            if range.contains(&p) {
                params.push(i);
            }
        }
        Some(())
    }

    /// The straightforward `render`: every splice looked at for every copied
    /// range (quadratic in the rows of a split INSERT). The real one must give
    /// the same text, parameters and errors.
    fn render_by_full_scan(
        sql: &str,
        inner: &[(Range<usize>, String)],
        edits: &[Edit],
        placeholders: &[usize],
    ) -> Result<(String, Vec<usize>), RouteError> {
        let mut inner: Vec<&(Range<usize>, String)> = inner.iter().collect();
        inner.sort_by_key(|(r, _)| (r.start, r.end));
        let mut edits: Vec<&Edit> = edits.iter().collect();
        edits.sort_by_key(|e| (e.range.start, e.range.end));
        let internal = |what: &str| {
            RouteError(format!(
                "internal: {what} while rewriting {}",
                quote_sql(sql)
            ))
        };
        for w in edits.windows(2) {
            if w[0].range.end > w[1].range.start {
                return Err(internal("overlapping edits"));
            }
        }
        let mut out = String::with_capacity(sql.len() + 32);
        let mut params = Vec::new();
        let emit = |range: Range<usize>,
                    out: &mut String,
                    params: &mut Vec<usize>|
         -> Result<(), RouteError> {
            let mut at = range.start;
            for (r, text) in inner.iter().map(|x| (&x.0, &x.1)) {
                let zero_width_at_end =
                    r.start == r.end && r.start == range.end && range.end < sql.len();
                if r.start < range.start || r.end > range.end || zero_width_at_end {
                    if r.start < range.end && r.end > range.start && r.start != r.end {
                        return Err(internal("a rename straddles an edit"));
                    }
                    continue;
                }
                if r.start < at {
                    return Err(internal("overlapping renames"));
                }
                push_src(sql, at..r.start, placeholders, out, params)
                    .ok_or_else(|| internal("bad range"))?;
                out.push_str(text);
                at = r.end;
            }
            push_src(sql, at..range.end, placeholders, out, params)
                .ok_or_else(|| internal("bad range"))?;
            Ok(())
        };
        let mut at = 0;
        for e in &edits {
            emit(at..e.range.start, &mut out, &mut params)?;
            for p in &e.pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Src(r) => emit(r.clone(), &mut out, &mut params)?,
                }
            }
            at = e.range.end;
        }
        emit(at..sql.len(), &mut out, &mut params)?;
        Ok((out, params))
    }

    #[test]
    fn render_agrees_with_a_full_scan() {
        // xorshift: reproducible without a dependency.
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rng = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let sql = "abc ? def ?? ghi, jkl (mno) ? pqr";
        let placeholders = [4usize, 10, 11, 29];
        let len = sql.len();
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..100_000 {
            // Splices are never inverted (spans, or empty insertion points);
            // edits and copied ranges may be anything.
            let inner: Vec<(Range<usize>, String)> = (0..rng(5))
                .map(|k| {
                    let (a, b) = (rng(len + 1), rng(len + 1));
                    let r = if rng(3) == 0 {
                        a..a
                    } else {
                        a.min(b)..a.max(b)
                    };
                    (r, format!("<{k}>"))
                })
                .collect();
            let any = |rng: &mut dyn FnMut(usize) -> usize| {
                let (a, b) = (rng(len + 1), rng(len + 1));
                if rng(10) == 0 {
                    b.max(a)..a.min(b)
                } else {
                    a.min(b)..a.max(b)
                }
            };
            let edits: Vec<Edit> = (0..rng(3))
                .map(|_| Edit {
                    range: any(&mut rng),
                    pieces: (0..rng(4))
                        .map(|_| {
                            if rng(2) == 0 {
                                Piece::Text("T".into())
                            } else {
                                Piece::Src(any(&mut rng))
                            }
                        })
                        .collect(),
                })
                .collect();
            let want = render_by_full_scan(sql, &inner, &edits, &placeholders).map_err(|e| e.0);
            let got = render(sql, &inner, &edits, &placeholders).map_err(|e| e.0);
            assert_eq!(got, want, "{inner:?} {edits:?}");
            if want.is_ok() {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        // Both outcomes were exercised.
        assert!(ok > 10_000 && failed > 10_000, "{ok} {failed}");
    }
}
