//! Rewriting of logical names to physical ones byte for byte, and joins and
//! subqueries that follow (or break) the sharding key.
//!
//! Owns: tests of splicing and of co-located joins/subqueries. Must not test
//! merge specs (see `merge_specs`) or UNION branches (see `unions`).

use super::*;

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
