//! Merge recipes of scattered SELECTs: ORDER BY and LIMIT, aggregates,
//! HAVING on combined groups, DISTINCT aggregates, GROUP_CONCAT,
//! expressions on aggregates, and the statements that cannot be scattered.
//!
//! Owns: tests of [`MergeSpec`]s and scatter refusals. Must not test UNIONs
//! (see `unions`) or which shards are targeted (see `point_routing`).

use super::*;

// ----- merge recipes -----

#[test]
fn order_by_and_limit() {
    let p = plan("SELECT id, total AS t FROM orders ORDER BY t DESC, 1 LIMIT 5 OFFSET 10");
    assert_eq!(
        p.targets[0].sql,
        "SELECT id, total AS t, WEIGHT_STRING(total) AS `__shardcat_h0`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', total), 1) = '', LEFT(CONCAT(' ', total), 1), NULL)) AS `__shardcat_h1`, WEIGHT_STRING(id) AS `__shardcat_h2`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', id), 1) = '', LEFT(CONCAT(' ', id), 1), NULL)) AS `__shardcat_h3` FROM orders_0 AS `orders` ORDER BY t DESC, 1 LIMIT 15"
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
        (10, Some(5), 4, false)
    );
    assert!(m.aggregate.is_none());
    // `*` hides positions: order keys become hidden columns.
    let p = plan("SELECT * FROM users ORDER BY created_at DESC, name LIMIT 3");
    assert_eq!(
        p.targets[3].sql,
        "SELECT *, created_at AS `__shardcat_h0`, name AS `__shardcat_h1`, WEIGHT_STRING(created_at) AS `__shardcat_h2`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', created_at), 1) = '', LEFT(CONCAT(' ', created_at), 1), NULL)) AS `__shardcat_h3`, WEIGHT_STRING(name) AS `__shardcat_h4`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', name), 1) = '', LEFT(CONCAT(' ', name), 1), NULL)) AS `__shardcat_h5` FROM users_3 AS `users` ORDER BY created_at DESC, name LIMIT 3"
    );
    let m = p.merge.unwrap();
    assert_eq!(m.hidden_columns, 6);
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
        "SELECT id, WEIGHT_STRING(id) AS `__shardcat_h0`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', id), 1) = '', LEFT(CONCAT(' ', id), 1), NULL)) AS `__shardcat_h1` FROM users_0 AS `users` WHERE name = ? ORDER BY id LIMIT 5"
    );
    assert_eq!(p.targets[0].params.as_slice(), [0]);
    assert_eq!(
        (
            p.merge.as_deref().unwrap().offset,
            p.merge.as_deref().unwrap().limit
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
        "SELECT COUNT(*), SUM(total), MIN(total), MAX(total), SUM(total) AS a, COUNT(total) AS `__shardcat_h0`, WEIGHT_STRING(MIN(total)) AS `__shardcat_h1`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', MIN(total)), 1) = '', LEFT(CONCAT(' ', MIN(total)), 1), NULL)) AS `__shardcat_h2`, WEIGHT_STRING(MAX(total)) AS `__shardcat_h3`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', MAX(total)), 1) = '', LEFT(CONCAT(' ', MAX(total)), 1), NULL)) AS `__shardcat_h4` FROM orders_0 AS `orders`"
    );
    let agg = p.merge.unwrap().aggregate.clone().unwrap();
    assert!(agg.group_by.is_empty());
    assert_eq!(
        agg.columns[..6],
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
        "SELECT COUNT(*), status AS `__shardcat_h0`, WEIGHT_STRING(status) AS `__shardcat_h1`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h2` FROM orders_1 AS `orders` GROUP BY status"
    );
    let m = p.merge.unwrap();
    assert_eq!(m.aggregate.as_ref().unwrap().group_by, [1]);
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns[..2],
        [Combine::Count, Combine::Group]
    );
    assert_eq!(
        m.order_by,
        [SortKey {
            column: ColumnRef::Index(1),
            descending: false
        }]
    );
    assert_eq!((m.limit, m.hidden_columns), (Some(2), 3));
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
        "SELECT status, COUNT(*) c, WEIGHT_STRING(status) AS `__shardcat_h0`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h1` FROM orders_0 AS `orders` GROUP BY status ORDER BY status"
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
        "SELECT o.status, SUM(o.total) AS `__shardcat_h0`, COUNT(o.total) AS `__shardcat_h1`, MAX(o.total) AS `__shardcat_h2`, WEIGHT_STRING(o.status) AS `__shardcat_h3`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', o.status), 1) = '', LEFT(CONCAT(' ', o.status), 1), NULL)) AS `__shardcat_h4`, WEIGHT_STRING(MAX(o.total)) AS `__shardcat_h5`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', MAX(o.total)), 1) = '', LEFT(CONCAT(' ', MAX(o.total)), 1), NULL)) AS `__shardcat_h6` FROM orders_2 o GROUP BY o.status"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns[..4],
        [
            Combine::Group,
            Combine::Avg { count: 2 },
            Combine::Count,
            Combine::Max
        ]
    );
    assert_eq!((m.hidden_columns, m.limit), (7, Some(3)));
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
        "SELECT COUNT(*), status AS `__shardcat_h0`, (status <> 'x') AS `__shardcat_h1`, WEIGHT_STRING(status) AS `__shardcat_h2`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h3` FROM orders_0 AS `orders` GROUP BY status"
    );
    // A comparison of group keys alone is the shards' (their collation),
    // a hidden column the merge reads as the condition.
    assert_eq!(p.merge.unwrap().having, Some(M::Column(2)));
    // A name in HAVING (and GROUP BY) is the table column before the
    // alias of an aggregate.
    let m = merge("SELECT COUNT(*) AS status FROM orders GROUP BY status HAVING status = 'paid'");
    assert_eq!(
        m.aggregate.as_ref().unwrap().columns[..2],
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
        "SELECT COUNT(DISTINCT status), SUM(total), status AS `__shardcat_h0`, WEIGHT_STRING(status) AS `__shardcat_h1`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h2` FROM orders_0 AS `orders` WHERE total > 1 GROUP BY status"
    );
    let agg = p.merge.unwrap().aggregate.clone().unwrap();
    assert!(agg.group_by.is_empty());
    assert_eq!(
        agg.columns[..3],
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
        "SELECT o.status, COUNT(DISTINCT o.note, o.created_at), SUM(DISTINCT o.total), AVG(DISTINCT o.total), COUNT(DISTINCT o.user_id), o.note AS `__shardcat_h0`, o.created_at AS `__shardcat_h1`, o.total AS `__shardcat_h2`, o.total AS `__shardcat_h3`, o.user_id AS `__shardcat_h4`, WEIGHT_STRING(o.status) AS `__shardcat_h5`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', o.status), 1) = '', LEFT(CONCAT(' ', o.status), 1), NULL)) AS `__shardcat_h6`, WEIGHT_STRING(o.note) AS `__shardcat_h7`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', o.note), 1) = '', LEFT(CONCAT(' ', o.note), 1), NULL)) AS `__shardcat_h8`, WEIGHT_STRING(o.created_at) AS `__shardcat_h9`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', o.created_at), 1) = '', LEFT(CONCAT(' ', o.created_at), 1), NULL)) AS `__shardcat_h10`, WEIGHT_STRING(o.user_id) AS `__shardcat_h11`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', o.user_id), 1) = '', LEFT(CONCAT(' ', o.user_id), 1), NULL)) AS `__shardcat_h12` FROM orders_1 o GROUP BY o.status, o.note, o.created_at, o.total, o.total, o.user_id ORDER BY 2 DESC"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.clone().unwrap().columns[..5],
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
        "SELECT status, COUNT(DISTINCT note) AS `__shardcat_h0`, COUNT(DISTINCT user_id) AS `__shardcat_h1`, note AS `__shardcat_h2`, user_id AS `__shardcat_h3`, WEIGHT_STRING(status) AS `__shardcat_h4`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h5`, WEIGHT_STRING(note) AS `__shardcat_h6`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', note), 1) = '', LEFT(CONCAT(' ', note), 1), NULL)) AS `__shardcat_h7`, WEIGHT_STRING(user_id) AS `__shardcat_h8`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', user_id), 1) = '', LEFT(CONCAT(' ', user_id), 1), NULL)) AS `__shardcat_h9` FROM orders_0 AS `orders` GROUP BY status, note, user_id ORDER BY COUNT(DISTINCT user_id)"
    );
    let m = p.merge.unwrap();
    assert_eq!(
        m.aggregate.clone().unwrap().columns[..5],
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
            .columns[..2],
        [Combine::Group, Combine::Count]
    );
}

#[test]
fn group_concat_from_finer_groups() {
    use crate::merge::group_concat::ConcatSpec;
    let p = plan(
        "SELECT i.order_id, GROUP_CONCAT(i.sku ORDER BY i.id DESC SEPARATOR '|') AS s FROM order_items i GROUP BY i.order_id",
    );
    assert_eq!(
        p.targets[0].sql,
        "SELECT i.order_id, GROUP_CONCAT(i.sku ORDER BY i.id DESC SEPARATOR '|') AS s, COUNT(*) AS `__shardcat_h0`, @@group_concat_max_len AS `__shardcat_h1`, i.sku AS `__shardcat_h2`, CONCAT(i.sku, '~~~~~~~~') AS `__shardcat_h3`, i.id AS `__shardcat_h4`, WEIGHT_STRING(i.id) AS `__shardcat_h5`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', i.id), 1) = '', LEFT(CONCAT(' ', i.id), 1), NULL)) AS `__shardcat_h6`, WEIGHT_STRING(i.order_id) AS `__shardcat_h7`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', i.order_id), 1) = '', LEFT(CONCAT(' ', i.order_id), 1), NULL)) AS `__shardcat_h8` FROM order_items_0 i GROUP BY i.order_id, i.sku, i.id"
    );
    let agg = p.merge.unwrap().aggregate.clone().unwrap();
    assert_eq!(
        agg.columns[..2],
        [Combine::Group, Combine::GroupConcat { index: 0 }]
    );
    assert_eq!(
        agg.concats,
        [ConcatSpec {
            value: 4,
            text: 5,
            order: vec![(6, true)],
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
        "SELECT GROUP_CONCAT(DISTINCT qty ORDER BY qty), COUNT(*) AS `__shardcat_h0`, @@group_concat_max_len AS `__shardcat_h1`, qty AS `__shardcat_h2`, CONCAT(qty, '~~~~~~~~') AS `__shardcat_h3`, WEIGHT_STRING(qty) AS `__shardcat_h4`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', qty), 1) = '', LEFT(CONCAT(' ', qty), 1), NULL)) AS `__shardcat_h5`, qty AS `__shardcat_h6`, WEIGHT_STRING(qty) AS `__shardcat_h7`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', qty), 1) = '', LEFT(CONCAT(' ', qty), 1), NULL)) AS `__shardcat_h8` FROM order_items_0 AS `order_items` WHERE qty > 1 GROUP BY qty, qty"
    );
    assert!(p.merge.unwrap().aggregate.clone().unwrap().concats[0].distinct);
}

#[test]
fn expressions_on_aggregates() {
    use crate::merge::eval::{BinOp, Literal, MergeExpr as M};
    // The shards compute the expression (its column definition is the
    // server's); the merge recomputes it from hidden combined aggregates.
    let p = plan("SELECT status, SUM(total) / COUNT(*) AS r, ROUND(AVG(total), 2) FROM orders GROUP BY status");
    assert_eq!(
        p.targets[0].sql,
        "SELECT status, SUM(total) / COUNT(*) AS r, ROUND(AVG(total), 2), SUM(total) AS `__shardcat_h0`, COUNT(*) AS `__shardcat_h1`, SUM(total) AS `__shardcat_h2`, COUNT(total) AS `__shardcat_h3`, WEIGHT_STRING(status) AS `__shardcat_h4`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h5` FROM orders_0 AS `orders` GROUP BY status"
    );
    let agg = p.merge.unwrap().aggregate.clone().unwrap();
    assert_eq!(
        agg.columns[..7],
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
        "SELECT status, MAX(total) - MIN(total) AS `__shardcat_h0`, MAX(total) AS `__shardcat_h1`, MIN(total) AS `__shardcat_h2`, WEIGHT_STRING(status) AS `__shardcat_h3`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', status), 1) = '', LEFT(CONCAT(' ', status), 1), NULL)) AS `__shardcat_h4`, WEIGHT_STRING(MAX(total)) AS `__shardcat_h5`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', MAX(total)), 1) = '', LEFT(CONCAT(' ', MAX(total)), 1), NULL)) AS `__shardcat_h6`, WEIGHT_STRING(MIN(total)) AS `__shardcat_h7`, WEIGHT_STRING(IF(LEFT(CONCAT(' ', MIN(total)), 1) = '', LEFT(CONCAT(' ', MIN(total)), 1), NULL)) AS `__shardcat_h8` FROM orders_0 AS `orders` GROUP BY status ORDER BY MAX(total) - MIN(total) DESC"
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
        m.aggregate.clone().unwrap().columns[1],
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
fn having_on_group_keys_keeps_its_literals() {
    // The shards evaluate the comparison from the AST's text: quotes
    // must read back as the client wrote them.
    let p = plan(
        "SELECT COUNT(*) FROM orders GROUP BY status HAVING status IN ('it''s', \"a\"\"b\", 'x')",
    );
    assert!(
        p.targets[0]
            .sql
            .contains("(status IN ('it''s', \"a\"\"b\", 'x')) AS `__shardcat_h1`"),
        "{}",
        p.targets[0].sql
    );
}

#[test]
fn keys_of_integer_decimal_and_temporal_columns_carry_no_weights() {
    let cfg = shop();
    let router = &cfg.sharding;
    let sqls = [
        "SELECT id, total FROM orders ORDER BY id LIMIT 900000, 10",
        "SELECT total, COUNT(*) FROM orders GROUP BY total",
        "SELECT DISTINCT total FROM orders ORDER BY total",
        "SELECT id FROM orders ORDER BY total DESC, id",
    ];
    let weighs = |sql: &str| {
        let p = router.plan(sql, Some("shop"), &[]).unwrap().unwrap();
        p.targets.iter().any(|t| t.sql.contains("WEIGHT_STRING"))
    };
    // Unknown kinds: every key may be a collated string.
    for sql in sqls {
        assert!(weighs(sql), "{sql}");
    }
    router.remember_kinds(
        "shop",
        "orders",
        Vec::new(),
        vec!["id".into(), "TOTAL".into()],
        Vec::new(),
    );
    for sql in sqls {
        assert!(!weighs(sql), "{sql}");
    }
    // A string key next to a plain one keeps its weights.
    assert!(weighs("SELECT id, status FROM orders ORDER BY id, status"));
}
