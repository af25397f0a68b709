//! Planning tests on the shop example (rules/shop.toml).

use super::*;
use crate::config::Config;

pub(crate) fn shop() -> Config {
    let text = include_str!("../../../rules/shop.toml");
    Config::parse(text, std::path::Path::new("rules/shop.toml")).expect("shop.toml is valid")
}

fn show(sql: &str) {
    let cfg = shop();
    match cfg.sharding.plan(sql, Some("shop"), &[]) {
        Ok(Some(p)) => println!("{sql}\n{}", cfg.sharding.describe(&p)),
        Ok(None) => println!("{sql}\n  NONE"),
        Err(e) => println!("{sql}\n  ERR {e}"),
    }
}

#[test]
fn scratch() {
    for sql in [
        "SELECT * FROM orders o WHERE o.user_id IN (SELECT id FROM users WHERE name = 'x')",
        "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM order_items i WHERE i.user_id = o.user_id AND i.qty > 2) AND o.user_id = 3",
        "SELECT * FROM orders WHERE total > (SELECT AVG(total) FROM orders)",
        "SELECT * FROM orders WHERE user_id = 5 AND total > (SELECT AVG(total) FROM orders WHERE user_id = 5)",
        "SELECT d.* FROM (SELECT user_id, SUM(total) s FROM orders WHERE user_id = 4 GROUP BY user_id) d",
        "SELECT * FROM users u JOIN (SELECT user_id FROM orders) d ON d.user_id = u.id WHERE u.id = 2",
        "SELECT id FROM users WHERE id = 1 UNION ALL SELECT id FROM users WHERE id = 2",
        "WITH c AS (SELECT * FROM orders WHERE user_id = 8) SELECT * FROM c",
        "SELECT * FROM users WHERE id > 10 AND id < 14",
        "SELECT * FROM users WHERE id = 1 OR id = 2",
        "SELECT * FROM users WHERE NOT (id = 1)",
        "SELECT * FROM `shop`.`orders` /* c */ WHERE user_id = 'a\\'b' -- x",
        "SELECT * FROM shop.orders WHERE user_id = 3 AND note = 'it''s \\n'",
        "SELECT * FROM events WHERE created_at >= '2026-06-15' AND created_at < '2026-08-01'",
        "SELECT * FROM events WHERE created_at = '2027-01-01'",
        "EXPLAIN SELECT * FROM orders WHERE user_id IN (1, 2)",
        "UPDATE orders o JOIN regions r ON r.id = o.region_id SET o.region_name = r.name WHERE o.user_id = 7",
        "UPDATE orders SET total = total + 1 WHERE user_id = 7 LIMIT 1",
        "UPDATE orders SET total = 0 LIMIT 1",
        "DELETE o, i FROM orders o JOIN order_items i ON i.user_id = o.user_id AND i.order_id = o.id WHERE o.user_id = 5",
        "DELETE orders FROM orders WHERE user_id = 5",
        "INSERT INTO orders SET user_id = 6, total = 1",
        "REPLACE INTO orders (id, user_id, total) VALUES (1, 2, 3)",
        "INSERT INTO orders (id, user_id) VALUES (1, 2) ON DUPLICATE KEY UPDATE user_id = 3",
        "INSERT INTO orders (id, total) VALUES (1, 2)",
        "INSERT INTO orders VALUES (1, 2, 3)",
        "INSERT INTO users (id, name) VALUES (NULL, 'x'), (9, 'y')",
        "INSERT INTO regions (id, name) VALUES (1, 'eu')",
        "INSERT INTO events (created_at, kind) VALUES ('2026-03-04 10:00:00', 'a'), ('2026-09-01', 'b')",
        "INSERT INTO events (created_at, kind) VALUES ('2025-03-04 10:00:00', 'a')",
        "INSERT INTO orders (user_id) SELECT id FROM users",
        "DROP TABLE orders, order_items",
        "DROP TABLE orders, regions",
        "TRUNCATE TABLE events",
        "CREATE TABLE regions (id INT)",
        "ALTER TABLE settings ADD COLUMN x INT",
        "CREATE INDEX i ON order_items (order_id)",
        "DESCRIBE orders",
        "SHOW CREATE TABLE orders",
        "SELECT * FROM orders o JOIN settings s ON s.k = o.status WHERE o.user_id = 2",
        "SELECT * FROM orders o JOIN settings s ON s.k = o.status WHERE o.user_id = 1",
        "SELECT * FROM orders o JOIN regions r ON r.id = o.region_id",
        "SELECT * FROM users u, events e WHERE u.id = 1 AND e.created_at = '2026-01-05'",
        "SELECT * FROM users u, events e WHERE u.id = 2 AND e.created_at = '2026-01-05'",
        "SELECT COUNT(DISTINCT user_id) FROM orders",
        "SELECT COUNT(DISTINCT status) FROM orders",
        "SELECT status, COUNT(*) c FROM orders GROUP BY status HAVING c > 1",
        "SELECT DISTINCT status FROM orders ORDER BY status LIMIT 3",
        "SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY COUNT(*) DESC LIMIT 2",
        "SELECT SUM(total) + 1 FROM orders",
        "LOCK TABLES orders WRITE",
        "LOCK TABLES settings WRITE",
        "SELECT * FROM orders; SELECT 1",
    ] {
        show(sql);
    }
}
