//! `INSERT … SELECT` into sharded tables (`insert_select`): the parts
//! found in the text, the ODKU tail renamed per shard, the co-located
//! pushdown.

use super::*;

fn is(sql: &str) -> super::super::insert_select::InsertSelect {
    shop()
        .sharding
        .insert_select(sql, Some("shop"))
        .expect("an INSERT … SELECT into a sharded table")
        .expect("planned")
}

fn refused(sql: &str) -> String {
    match shop().sharding.insert_select(sql, Some("shop")) {
        Some(Err(e)) => e.0,
        other => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn parts_of_the_statement() {
    let p = is("INSERT /* c */ IGNORE INTO shop.orders (user_id, `total`) \
         (SELECT id, 5 FROM users WHERE id > 3) ON DUPLICATE KEY UPDATE total = orders.total + 1;");
    assert_eq!(p.select, "(SELECT id, 5 FROM users WHERE id > 3)");
    // `orders.id` comes from its [[sequence]].
    assert_eq!(p.columns, ["user_id", "total", "id"]);
    assert_eq!((p.key_index, p.generated), (0, 1));
    let (node, head) = p.values_head(1).unwrap();
    assert_eq!(node, p.slots[1].0);
    assert_eq!(
        head,
        format!(
            "INSERT /* c */ IGNORE INTO shop.`{}` (`user_id`, `total`, `id`) VALUES ",
            p.slots[1].1
        )
    );
    assert_eq!(
        p.tail(1),
        format!(
            " ON DUPLICATE KEY UPDATE total = `{}`.total + 1",
            p.slots[1].1
        )
    );
    let p = is("REPLACE INTO orders (user_id) SELECT user_id FROM orders WHERE user_id = 1");
    assert_eq!(p.select, "SELECT user_id FROM orders WHERE user_id = 1");
    assert_eq!(p.tail(0), "");
    // Without a column list: the columns the session fetched, else refused.
    assert!(refused("REPLACE INTO orders SELECT * FROM orders").contains("must name its columns"));
}

#[test]
fn unexact_forms_are_refused() {
    assert!(refused(
        "INSERT INTO orders (user_id, total) SELECT id, 1 FROM users \
         ON DUPLICATE KEY UPDATE total = total + 1"
    )
    .contains("not qualified"));
    assert!(refused(
        "INSERT INTO orders (user_id, total) SELECT id, 1 FROM users u \
         ON DUPLICATE KEY UPDATE total = u.id"
    )
    .contains("another table"));
    assert!(refused("INSERT INTO orders (total) SELECT 1").contains("sharding key"));
    // What the per-shard VALUES form reads the same way is accepted.
    is(
        "INSERT INTO orders (user_id, total) SELECT id, 1 FROM users \
        ON DUPLICATE KEY UPDATE total = orders.total + VALUES(total)",
    );
}

#[test]
fn co_located_select_is_pushed_down() {
    let cfg = shop();
    let sql = "INSERT INTO orders (id, user_id, total) SELECT id, id, 7 FROM users WHERE id > 3";
    let p = cfg
        .sharding
        .insert_select(sql, Some("shop"))
        .unwrap()
        .unwrap();
    let select = cfg
        .sharding
        .plan(&p.select, Some("shop"), &[])
        .unwrap()
        .unwrap();
    let pushed = p.pushdown(&select).expect("co-located");
    assert_eq!(pushed.len(), select.targets.len());
    for (t, s) in pushed.iter().zip(&select.targets) {
        assert_eq!(t.node, s.node);
        assert!(t.sql.starts_with("INSERT INTO `orders_"), "{}", t.sql);
        assert!(t.sql.ends_with(&s.sql), "{}", t.sql);
    }
    // The key computed, ordered, or limited: rows are routed one by one.
    for sql in [
        "INSERT INTO orders (id, user_id, total) SELECT id, id + 1, 7 FROM users",
        "INSERT INTO orders (id, user_id, total) SELECT id, id, 7 FROM users ORDER BY id LIMIT 3",
        "INSERT INTO orders (id, user_id, total) SELECT 1, MIN(id), 7 FROM users GROUP BY name",
        "INSERT INTO orders (user_id, total) SELECT id, 7 FROM users",
    ] {
        let p = cfg
            .sharding
            .insert_select(sql, Some("shop"))
            .unwrap()
            .unwrap();
        let select = cfg
            .sharding
            .plan(&p.select, Some("shop"), &[])
            .unwrap()
            .unwrap();
        assert!(p.pushdown(&select).is_none(), "{sql}");
    }
}
