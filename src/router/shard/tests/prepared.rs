//! Prepared statements planned from their kept analysis
//! (`ShardRouter::plan_prepared`) plan as `ShardRouter::plan` does, across
//! executes with other values, and drop what they kept when the router's
//! analyses change.

use super::*;

/// Statements with placeholders over every kind of table, each executed
/// with several values on one kept shape: the plans (and errors) are
/// `plan`'s.
#[test]
fn kept_analysis_plans_as_plan_does() {
    let cfg = shop();
    let router = &cfg.sharding;
    let sqls = [
        "SELECT * FROM users WHERE id = ?",
        "SELECT id, name FROM users WHERE id IN (?, ?) ORDER BY name",
        "SELECT COUNT(*), SUM(total) FROM orders WHERE user_id = ? OR total > ?",
        "UPDATE orders SET total = ? WHERE user_id = ?",
        "INSERT INTO users (id, name) VALUES (?, ?)",
        "DELETE FROM order_items WHERE user_id = ?",
        "SELECT * FROM accounts WHERE id BETWEEN ? AND ?",
        "SELECT DISTINCT name FROM tags WHERE name = ? OR name = ?",
        "SELECT * FROM visits WHERE user_id = ? AND at = ?",
        "SELECT * FROM no_rule_table WHERE a = ?",
        "SELECT * FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = ?",
        "SELECT * FROM users WHERE id = ? AND",
    ];
    let values: [&[u8]; 6] = [b"1", b"2", b"150", b"-7", b"abc", b"2026-03-04 05:06:07"];
    let mut compared = 0;
    for sql in sqls {
        let mut kept = PreparedShape::default();
        for (i, v) in values.iter().enumerate() {
            let w = values[(i + 1) % values.len()];
            let params = [ParamValue::Bytes(v), ParamValue::Bytes(w)];
            let n = sql.matches('?').count();
            let params = &params[..n];
            let want = router.plan(sql, Some("shop"), params);
            let got = router.plan_prepared(&mut kept, sql, Some("shop"), params);
            assert_eq!(got, want, "{sql} {params:?}");
            // Another schema is another analysis.
            let want = router.plan(sql, None, params);
            let got = router.plan_prepared(&mut kept, sql, None, params);
            assert_eq!(got, want, "{sql} {params:?} without a schema");
            compared += 2;
        }
    }
    assert_eq!(compared, sqls.len() * values.len() * 2);
}

/// Kinds learned after the first execute change the plan (no weight
/// columns for integer keys): the kept analysis is dropped, as the
/// router's cache is.
#[test]
fn learned_kinds_replace_the_kept_analysis() {
    let cfg = shop();
    let router = &cfg.sharding;
    let sql = "SELECT id, total FROM orders WHERE total > ? ORDER BY total";
    let params = [ParamValue::Bytes(b"5")];
    let mut kept = PreparedShape::default();
    let weighs = |p: &ShardPlan| p.targets.iter().any(|t| t.sql.contains("WEIGHT_STRING"));
    let first = router
        .plan_prepared(&mut kept, sql, Some("shop"), &params)
        .unwrap()
        .unwrap();
    assert!(weighs(&first));
    router.remember_kinds(
        "shop",
        "orders",
        Vec::new(),
        vec!["total".into()],
        Vec::new(),
    );
    let after = router
        .plan_prepared(&mut kept, sql, Some("shop"), &params)
        .unwrap()
        .unwrap();
    assert!(!weighs(&after));
    assert_eq!(Ok(Some(after)), router.plan(sql, Some("shop"), &params));
}

/// A reload (another router) is another analysis: a statement kept under
/// the old rules plans under the new ones.
#[test]
fn another_router_replans() {
    let old = shop();
    let new = config(|t| t.replacen("tables_per_node = 2", "tables_per_node = 3", 1));
    let sql = "SELECT * FROM users WHERE id = ?";
    let params = [ParamValue::Bytes(b"5")];
    let mut kept = PreparedShape::default();
    let a = old
        .sharding
        .plan_prepared(&mut kept, sql, Some("shop"), &params);
    assert_eq!(a, old.sharding.plan(sql, Some("shop"), &params));
    let b = new
        .sharding
        .plan_prepared(&mut kept, sql, Some("shop"), &params);
    assert_eq!(b, new.sharding.plan(sql, Some("shop"), &params));
    assert_ne!(a, b);
}
