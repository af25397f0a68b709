//! The router itself: logical names of physical tables, the plan cache,
//! DESCRIBE and error conversion, and planning arbitrary text without
//! panicking.
//!
//! Owns: tests of [`ShardRouter`]-level behaviour. Must not test a single
//! clause's planning (see the other files of this directory).

use super::*;

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
    assert_eq!(*a.targets[0].tables, ["users_1"]);
    assert_eq!(*b.targets[0].tables, ["users_2"]);
    // Errors are cached too and stay the same.
    let e1 = plan_with(&cfg, "UPDATE users SET id = id + 1", &[]).unwrap_err();
    let e2 = plan_with(&cfg, "UPDATE users SET id = id + 1", &[]).unwrap_err();
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
