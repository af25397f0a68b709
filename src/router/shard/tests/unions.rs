//! UNION planning: ORDER BY and LIMIT over a UNION, branches that share
//! the targets, and branches planned separately.
//!
//! Owns: tests of set operations. Must not test single-SELECT merge specs
//! (see `merge_specs`).

use super::*;

#[test]
fn union_order_by_and_limit() {
    // Each shard sorts and keeps offset + limit; the merge sorts by the
    // first SELECT's names or positions.
    let p = plan(
        "SELECT id AS k, name FROM users UNION ALL SELECT user_id, status FROM orders ORDER BY name DESC, k LIMIT 5 OFFSET 2",
    );
    assert_eq!(
        strip_hidden(&p.targets[0].sql),
        "SELECT id AS k, name FROM users_0 AS `users` UNION ALL SELECT user_id, status FROM orders_0 AS `orders` ORDER BY name DESC, k LIMIT 7"
    );
    // Every branch carries, per key, its own item's weight, PAD SPACE
    // probe and collation (untrimmed: UNION ALL keeps duplicates).
    assert!(p.targets[0].sql.contains(
        "SELECT user_id, status, WEIGHT_STRING(status) AS `__shardcat_h0`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h1`, COLLATION(status) AS `__shardcat_h2`, WEIGHT_STRING(user_id) AS `__shardcat_h3`"
    ), "{}", p.targets[0].sql);
    let m = p.merge.unwrap();
    assert_eq!((m.hidden_columns, m.weights.len()), (6, 2));
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
fn union_branches_share_the_targets() {
    let p = plan(
        "SELECT id FROM users WHERE id = 1 UNION SELECT user_id FROM orders WHERE user_id = 2",
    );
    assert_eq!(
        visible_targets(&p),
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

#[test]
fn union_branches_planned_separately() {
    // A broadcast branch answers once; the others get it as `LIMIT 0`, so
    // every target describes the whole union's columns.
    let p = plan("SELECT id FROM regions UNION SELECT region_id FROM users");
    assert_eq!(
        visible_targets(&p),
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
        visible_targets(&p),
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
    assert_eq!(p.targets[0].params.as_slice(), [0, 1]);
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
