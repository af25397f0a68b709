//! Tests of the metadata statements: descriptions, table status, LOCK
//! TABLES, information_schema, maintenance, ALTER … KEYS, column lists of
//! INSERT without columns, LIKE, and the logical rewriting of answers.
//!
//! Owns: unit tests of `meta`. Must not test DML planning (see
//! `router::shard::tests`).

use super::*;

fn router() -> ShardRouter {
    let cfg = crate::config::Config::parse(
        r#"
[[user]]
name = "app"
password = "app"
[[node]]
name = "n1"
primary = "127.0.0.1:1"
[[node]]
name = "n2"
primary = "127.0.0.1:2"
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
name = "regions"
broadcast = true
"#,
        std::path::Path::new("meta.toml"),
    )
    .expect("config");
    ShardRouter::new(&cfg).expect("router")
}

fn describe(sql: &str) -> Option<Describe> {
    match router().metadata(sql, Some("db")) {
        Some(MetaStatement::Describe(d)) => Some(d),
        _ => None,
    }
}

#[test]
fn descriptions() {
    let d = describe("DESCRIBE users").unwrap();
    assert_eq!((d.node, d.sql.as_str()), (0, "DESCRIBE `users_0`"));
    assert_eq!(d.kind, DescribeKind::Columns);
    assert_eq!(
        describe("desc `db`.`orders`").unwrap().sql,
        "desc `db`.`orders_0`"
    );
    assert_eq!(
        describe("EXPLAIN orders id").unwrap().sql,
        "EXPLAIN `orders_0` id"
    );
    let d = describe("SHOW FULL COLUMNS FROM users FROM db LIKE 'i%'").unwrap();
    assert_eq!(d.sql, "SHOW FULL COLUMNS FROM `users_0` FROM db LIKE 'i%'");
    assert_eq!(
        describe("SHOW FIELDS IN users").unwrap().kind,
        DescribeKind::Columns
    );
    for q in [
        "SHOW INDEX FROM users",
        "SHOW INDEXES IN users",
        "SHOW KEYS FROM users",
    ] {
        assert_eq!(describe(q).unwrap().kind, DescribeKind::Index, "{q}");
    }
    let d = describe("SHOW CREATE TABLE `users`").unwrap();
    assert_eq!(
        (d.kind, d.sql.as_str()),
        (DescribeKind::CreateTable, "SHOW CREATE TABLE `users_0`")
    );
    assert_eq!(
        (d.logical.as_str(), d.physical.as_str()),
        ("users", "users_0")
    );
    // Not sharded, another database's table, statements: not ours.
    assert!(describe("DESCRIBE regions").is_none());
    assert!(describe("DESCRIBE plain").is_none());
    assert!(describe("EXPLAIN SELECT * FROM users").is_none());
    assert!(describe("DESCRIBE information_schema.users").is_none());
    assert!(router()
        .metadata("SHOW COLUMNS FROM users FROM mysql", Some("db"))
        .is_none());
}

#[test]
fn table_status() {
    let r = router();
    assert_eq!(
        r.metadata("SHOW TABLE STATUS LIKE 'users'", Some("db")),
        Some(MetaStatement::TableStatus {
            sql: "SHOW TABLE STATUS".into(),
            like: Some("users".into())
        })
    );
    assert_eq!(
        r.metadata("SHOW TABLE STATUS FROM db WHERE Rows > 1", None),
        Some(MetaStatement::TableStatus {
            sql: "SHOW TABLE STATUS FROM db WHERE Rows > 1".into(),
            like: None
        })
    );
    assert!(r.metadata("SHOW TABLE STATUS FROM mysql", None).is_none());
}

#[test]
fn lock_tables() {
    let r = router();
    let Some(MetaStatement::Lock(per_node)) = r.metadata(
        "LOCK TABLES `orders` READ /*!32311 LOCAL */,`regions` READ /*!32311 LOCAL */,`plain` WRITE",
        Some("db"),
    ) else {
        panic!("not a lock");
    };
    assert_eq!(
        per_node,
        vec![
            (
                0,
                "LOCK TABLES `orders_0` READ /*!32311 LOCAL */, `orders_1` READ /*!32311 LOCAL */, `regions` READ /*!32311 LOCAL */, `plain` WRITE".to_string()
            ),
            (
                1,
                "LOCK TABLES `orders_2` READ /*!32311 LOCAL */, `orders_3` READ /*!32311 LOCAL */, `regions` READ /*!32311 LOCAL */".to_string()
            ),
        ]
    );
    let Some(MetaStatement::Lock(per_node)) =
        r.metadata("LOCK TABLE db.users LOW_PRIORITY WRITE;", None)
    else {
        panic!("not a lock");
    };
    assert_eq!(
        per_node[0].1,
        "LOCK TABLES db.`users_0` LOW_PRIORITY WRITE, db.`users_1` LOW_PRIORITY WRITE"
    );
    assert!(matches!(
        r.metadata("LOCK TABLES users AS u READ", Some("db")),
        Some(MetaStatement::Refused(m)) if m.contains("alias")
    ));
    assert!(matches!(
        r.metadata("LOCK TABLES users AS u READ", Some("db")),
        Some(MetaStatement::Refused(m)) if m.contains("alias")
    ));
    // Only unsharded tables: the usual route.
    assert!(r.metadata("LOCK TABLES plain READ", Some("db")).is_none());
}

#[test]
fn information_schema() {
    let r = router();
    let q = "SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = DATABASE() AND table_name = 'orders'";
    assert_eq!(
        r.metadata(q, Some("db")),
        Some(MetaStatement::InformationSchema {
            node: 0,
            sql: q.replace("'orders'", "'orders_0'"),
            listing: false,
            schema: Some("db".into()),
        })
    );
    let q = "select * from information_schema.columns where TABLE_SCHEMA='db' and `TABLE_NAME` in ('users', 'plain')";
    assert_eq!(
        r.metadata(q, None),
        Some(MetaStatement::InformationSchema {
            node: 0,
            sql: q.replace("'users'", "'users_0'"),
            listing: false,
            schema: Some("db".into()),
        })
    );
    // No sharded table named: not rewritten, answered as a listing
    // (rows of physical tables other than slot 0's dropped).
    let q = "SELECT * FROM information_schema.tables WHERE table_name = 'plain'";
    assert_eq!(
        r.metadata(q, Some("db")),
        Some(MetaStatement::InformationSchema {
            node: 0,
            sql: q.to_string(),
            listing: true,
            schema: Some("db".into()),
        })
    );
    let q = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'db'";
    assert_eq!(
        r.metadata(q, None),
        Some(MetaStatement::InformationSchema {
            node: 0,
            sql: q.to_string(),
            listing: true,
            schema: Some("db".into()),
        })
    );
    assert!(r
        .metadata("SELECT * FROM information_schema.processlist", Some("db"))
        .is_none());
    assert!(r
        .metadata(
            "SELECT * FROM information_schema.tables WHERE table_schema = 'mysql'",
            Some("db")
        )
        .is_none());
    assert_eq!(r.physical_slot("users_0"), Some(("users".into(), true)));
    assert_eq!(r.physical_slot("users_3"), Some(("users".into(), false)));
    assert_eq!(r.physical_slot("regions"), None);
    assert!(r
        .metadata(
            "SELECT 'orders' FROM t WHERE table_name = 'orders'",
            Some("db")
        )
        .is_none());
}

#[test]
fn maintenance() {
    let r = router();
    let Some(MetaStatement::Maintenance { checksum, items }) =
        r.metadata("CHECKSUM TABLE users, plain EXTENDED", Some("db"))
    else {
        panic!("not maintenance");
    };
    assert!(checksum);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].logical.as_deref(), Some("users"));
    assert_eq!(
        items[0].parts[2],
        (
            1,
            "CHECKSUM TABLE `users_2` EXTENDED".to_string(),
            "users_2".to_string()
        )
    );
    assert_eq!(
        items[1],
        MaintenanceItem {
            logical: None,
            parts: vec![(0, "CHECKSUM TABLE plain EXTENDED".into(), "plain".into())]
        }
    );
    let Some(MetaStatement::Maintenance { checksum, items }) =
        r.metadata("ANALYZE NO_WRITE_TO_BINLOG TABLE db.orders", None)
    else {
        panic!("not maintenance");
    };
    assert!(!checksum);
    assert_eq!(
        items[0].parts[0].1,
        "ANALYZE NO_WRITE_TO_BINLOG TABLE db.`orders_0`"
    );
    assert!(r.metadata("OPTIMIZE TABLE plain", Some("db")).is_none());
}

#[test]
fn unaliased_under_locks() {
    let r = router();
    let sql = "SELECT users.id FROM users WHERE id = 1";
    let aliased = r.plan(sql, Some("db"), &[]).unwrap().unwrap();
    let t = &aliased.targets[0];
    let physical = &t.tables[0];
    assert_eq!(
        t.sql,
        format!("SELECT users.id FROM {physical} AS `users` WHERE id = 1")
    );
    let bare = r.plan_with(sql, Some("db"), &[], true).unwrap().unwrap();
    assert_eq!(
        bare.targets[0].sql,
        format!("SELECT {physical}.id FROM {physical} WHERE id = 1")
    );
    // Explicit aliases stay.
    let p = r
        .plan_with(
            "SELECT u.id FROM users u WHERE id = 1",
            Some("db"),
            &[],
            true,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        p.targets[0].sql,
        format!("SELECT u.id FROM {physical} u WHERE id = 1")
    );
}

#[test]
fn disable_keys() {
    let r = router();
    let Some(MetaStatement::Plan(p)) =
        r.metadata("/*!40000 ALTER TABLE `users` DISABLE KEYS */", Some("db"))
    else {
        panic!("no plan");
    };
    assert_eq!(p.kind, PlanKind::Ddl);
    assert_eq!(p.targets.len(), 4);
    assert_eq!(
        p.targets[3].sql,
        "/*!40000 ALTER TABLE `users_3` DISABLE KEYS */"
    );
    assert!(r
        .metadata("ALTER TABLE users ADD COLUMN x INT", Some("db"))
        .is_none());
}

#[test]
fn insert_without_columns() {
    let r = router();
    let sql = "INSERT INTO orders VALUES (1, 5, 7), (2, 6, 8)";
    assert!(r
        .plan(sql, Some("db"), &[])
        .unwrap_err()
        .0
        .contains("must name its columns"));
    assert_eq!(
        r.columns_needed(sql, Some("db")),
        Some(("db".into(), "orders".into(), 0, "orders_0".into()))
    );
    r.remember_columns(
        "db",
        "orders",
        vec!["id".into(), "user_id".into(), "total".into()],
    );
    assert_eq!(r.columns_needed(sql, Some("db")), None);
    let p = r.plan(sql, Some("db"), &[]).unwrap().unwrap();
    let mut sqls: Vec<&str> = p.targets.iter().map(|t| t.sql.as_str()).collect();
    sqls.sort_unstable();
    // user_id 5 and 6 (not id 1 and 2) choose the slots.
    assert_eq!(
        sqls,
        vec![
            "INSERT INTO orders_1 VALUES (1, 5, 7)",
            "INSERT INTO orders_2 VALUES (2, 6, 8)"
        ]
    );
    assert!(r
        .plan("INSERT INTO orders VALUES (1, 5)", Some("db"), &[])
        .unwrap_err()
        .0
        .contains("Column count"));
    // Another database's table of the same name is another table.
    assert!(r.columns_needed(sql, Some("other")).is_some());
    r.forget_columns();
    assert!(r.columns_needed(sql, Some("db")).is_some());
    // A column list or SET needs nothing.
    assert!(r
        .columns_needed("INSERT INTO orders (id, user_id) VALUES (1, 2)", Some("db"))
        .is_none());
    assert!(r
        .columns_needed("INSERT INTO orders SET user_id = 2", Some("db"))
        .is_none());
}

/// Above the plan cache's limit the first words decide when the
/// columns are known (no second parse); the answers are the same.
#[test]
fn insert_without_columns_large() {
    let r = router();
    let rows: Vec<String> = (0..2000).map(|i| format!("({i}, {}, 7)", i * 3)).collect();
    let body = rows.join(",");
    assert!(body.len() > super::super::MAX_CACHED_SQL);
    let texts = [
        format!("INSERT INTO orders VALUES {body}"),
        format!("REPLACE LOW_PRIORITY INTO `orders` VALUES {body}"),
        format!("INSERT /* c */ IGNORE `db`.orders VALUES {body}"),
    ];
    for sql in &texts {
        assert_eq!(
            r.columns_needed(sql, Some("db")),
            Some(("db".into(), "orders".into(), 0, "orders_0".into())),
            "{}",
            &sql[..40]
        );
    }
    r.remember_columns(
        "db",
        "orders",
        vec!["id".into(), "user_id".into(), "total".into()],
    );
    for sql in &texts {
        assert!(r.insert_target_columns_known(sql, Some("db")));
        assert_eq!(r.columns_needed(sql, Some("db")), None);
    }
    // Another database's table of the same name is another table.
    assert!(!r.insert_target_columns_known(&texts[0], Some("other")));
    assert!(r.columns_needed(&texts[0], Some("other")).is_some());
    // ... unless named with the known one.
    assert_eq!(r.columns_needed(&texts[2], Some("other")), None);
    // Not the plain form: decided by the analysis.
    let odd = format!("INSERT INTO db.orders.x VALUES {body}");
    assert!(!r.insert_target_columns_known(&odd, Some("db")));
    let p = r.plan(&texts[0], Some("db"), &[]).unwrap().unwrap();
    assert_eq!(p.targets.len(), 4);
}

#[test]
fn like() {
    assert!(like_matches("orders", "orders"));
    assert!(!like_matches("orders", "orders_0"));
    assert!(like_matches("ord%", "orders"));
    assert!(like_matches("o_ders", "orders"));
    assert!(!like_matches("o\\_ders", "orders"));
    assert!(like_matches("o\\_d", "o_d"));
    assert!(like_matches("%", ""));
    assert!(like_matches("%s%", "users"));
    assert!(!like_matches("u%x", "users"));
    assert!(like_matches("_sers", "users"));
    assert!(!like_matches("_users", "users"));
    // No exponential blow-up.
    assert!(!like_matches(
        &"%".repeat(200).replace("%%", "%a"),
        &"a".repeat(60)
    ));
}

#[test]
fn create_table_text() {
    let text = "CREATE TABLE `users_0` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=12 DEFAULT CHARSET=utf8mb4";
    assert_eq!(
        logical_create_table(text, "users_0", "users"),
        "CREATE TABLE `users` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    );
    let bare = "CREATE TABLE users_0 (\n  id int\n)";
    assert_eq!(
        logical_create_table(bare, "users_0", "users"),
        "CREATE TABLE users (\n  id int\n)"
    );
}

#[test]
fn messages() {
    assert_eq!(
        logical_message("Table 'db.orders_0' doesn't exist", "orders_0", "orders"),
        "Table 'db.orders' doesn't exist"
    );
    assert_eq!(
        logical_message("x orders_00 y", "orders_0", "orders"),
        "x orders_00 y"
    );
}

#[test]
fn literals() {
    assert_eq!(string_literal("'a''b'").as_deref(), Some("a'b"));
    assert_eq!(string_literal("'a\\_b'").as_deref(), Some("a\\_b"));
    assert_eq!(string_literal("x"), None);
}
