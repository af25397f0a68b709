//! INSERT planning: multi-row INSERTs split by shard, parameters following
//! their rows, generated ids, large extended INSERTs, and INSERT errors.
//!
//! Owns: tests of INSERT plans. Must not test reads or UPDATE/DELETE (see
//! `point_routing`, `updates_and_ddl`).

use super::*;
use std::collections::BTreeMap;

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
        .map(|t| (t.sql.clone(), t.params.to_vec()))
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
        let [table] = &*t.tables else {
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
        let [table] = &*t.tables else {
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
