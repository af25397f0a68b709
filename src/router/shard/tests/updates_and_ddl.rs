//! UPDATE/DELETE routing and DDL fanned out to every physical table.
//!
//! Owns: tests of UPDATE, DELETE and DDL plans. Must not test INSERT (see
//! `inserts`).

use super::*;

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
    // A table others are bound to moves too (their rows follow through
    // ON UPDATE CASCADE foreign keys, `session::key_move`).
    assert!(matches!(
        plan("UPDATE users SET id = 3 WHERE id = 2").kind,
        PlanKind::KeyMove(_)
    ));
    assert!(error("UPDATE users SET id = id + 1 WHERE id = 2").contains("sharding key of `users`"));
    assert!(matches!(
        plan("UPDATE orders o SET o.user_id = 3").kind,
        PlanKind::KeyMove(_)
    ));
    assert!(
        error("UPDATE orders o SET o.user_id = o.user_id + 1").contains("sharding key of `orders`")
    );
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

#[test]
fn unique_keys_without_the_sharding_key_are_reported() {
    let cfg = shop();
    let r = &cfg.sharding;
    let w = r.unique_key_warnings(
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id BIGINT, sku VARCHAR(9) UNIQUE, \
         n INT, UNIQUE KEY (user_id, n), CONSTRAINT u UNIQUE (n))",
        Some("shop"),
    );
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("PRIMARY KEY (id)") && w[0].contains("`user_id`"));
    assert!(w[1].contains("UNIQUE key (sku)"));
    assert!(w[2].contains("UNIQUE key (n)"));
    let ok = "CREATE TABLE orders (id BIGINT, user_id BIGINT, PRIMARY KEY (user_id, id))";
    assert!(r.unique_key_warnings(ok, Some("shop")).is_empty());
    assert!(r
        .unique_key_warnings("CREATE TABLE regions (id INT PRIMARY KEY)", Some("shop"))
        .is_empty());
    assert!(r.unique_key_warnings("SELECT 1", Some("shop")).is_empty());
}

/// `UPDATE|DELETE` modifiers (every combination the grammar allows) are
/// kept in the shard statements and do not change the routing.
#[test]
fn update_and_delete_modifiers_are_kept() {
    let subsets = |mods: &[&str]| -> Vec<String> {
        (0..1u32 << mods.len())
            .map(|bits| {
                mods.iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, m)| format!("{m} "))
                    .collect()
            })
            .collect()
    };
    for m in subsets(&["LOW_PRIORITY", "IGNORE"]) {
        let keyed = format!("UPDATE {m}orders SET total = 1 WHERE user_id = 3");
        assert_eq!(
            one(&keyed),
            t(
                "n2",
                &format!("UPDATE {m}orders_3 SET total = 1 WHERE user_id = 3")
            )
        );
        let p = plan(&format!("UPDATE {m}orders SET total = 1"));
        assert_eq!((p.kind.clone(), p.targets.len()), (PlanKind::Scatter, 4));
        assert!(p
            .targets
            .iter()
            .all(|t| t.sql.starts_with(&format!("UPDATE {m}orders_"))));
    }
    for m in subsets(&["LOW_PRIORITY", "QUICK", "IGNORE"]) {
        let keyed = format!("DELETE {m}FROM orders WHERE user_id = 3");
        assert_eq!(
            one(&keyed),
            t("n2", &format!("DELETE {m}FROM orders_3 WHERE user_id = 3"))
        );
        let p = plan(&format!("DELETE {m}FROM orders WHERE status = 'void'"));
        assert_eq!((p.kind.clone(), p.targets.len()), (PlanKind::Scatter, 4));
    }
    assert!(error("UPDATE IGNORE users SET id = 3 WHERE id = 2").contains("with IGNORE"));
    assert!(error("UPDATE LOW_PRIORITY IGNORE users SET id = 3").contains("with IGNORE"));
}
