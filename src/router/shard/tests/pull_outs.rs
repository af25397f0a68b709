//! Subqueries found for pull-out (`router::shard::pull_out`) and the
//! literals their answers become.
//!
//! Owns: tests of `pull_out`. Must not test planning of the rewritten text
//! beyond that it plans.

use super::*;
use crate::router::shard::pull_out::{
    exists_text, in_list_text, literal, substitute, PullKind, PullOut,
};
use mysql_common::constants::{ColumnFlags, ColumnType};

fn pulls(sql: &str) -> Vec<PullOut> {
    shop().sharding.pull_outs(sql)
}

#[test]
fn finds_uncorrelated_in_and_exists_subqueries() {
    let sql = "SELECT * FROM orders WHERE total > 5 AND user_id IN (SELECT id FROM users WHERE name = 'a') AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.qty > 3)";
    let p = pulls(sql);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(
        &sql[p[0].range.clone()],
        "(SELECT id FROM users WHERE name = 'a')"
    );
    assert_eq!(
        p[0].inner,
        "SELECT id, COLLATION(id) FROM users WHERE name = 'a'"
    );
    assert_eq!(p[0].kind, PullKind::In { collation: true });
    assert_eq!(
        &sql[p[1].range.clone()],
        "(SELECT 1 FROM order_items i WHERE i.qty > 3)"
    );
    assert_eq!(
        p[1].inner,
        "SELECT 1 FROM order_items i WHERE i.qty > 3 LIMIT 1"
    );
    assert_eq!(p[1].kind, PullKind::Exists);
    // Aggregates: MIN/MAX ask for their argument's collation, others none.
    let p = pulls("SELECT * FROM orders WHERE total NOT IN (SELECT DISTINCT MAX(total) FROM orders GROUP BY status)");
    assert_eq!(
        p[0].inner,
        "SELECT DISTINCT MAX(total), COLLATION(total) FROM orders GROUP BY status"
    );
    let p = pulls("SELECT * FROM orders WHERE total IN (SELECT COUNT(*) AS n FROM users)");
    assert_eq!(p[0].inner, "SELECT COUNT(*) AS n FROM users");
    assert_eq!(p[0].kind, PullKind::In { collation: false });
}

#[test]
fn leaves_correlated_locking_and_unruled_subqueries() {
    for sql in [
        // Correlated through the outer alias.
        "SELECT * FROM orders o WHERE o.total IN (SELECT i.qty FROM order_items i WHERE i.user_id = o.user_id)",
        "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)",
        // Two columns, no table with a rule, a lock.
        "SELECT * FROM orders WHERE (user_id, total) IN (SELECT id, 1 FROM users)",
        "SELECT * FROM orders WHERE user_id IN (SELECT 1 FROM DUAL)",
        "SELECT * FROM orders WHERE user_id IN (SELECT id FROM users) FOR UPDATE",
        "UPDATE orders SET total = 1 WHERE user_id IN (SELECT id FROM users)",
    ] {
        assert_eq!(pulls(sql), Vec::new(), "{sql}");
    }
    // Only the outermost: the inner statement is planned on its own.
    let sql = "SELECT * FROM orders WHERE user_id IN (SELECT id FROM users WHERE id IN (SELECT user_id FROM order_items))";
    let p = pulls(sql);
    assert_eq!(p.len(), 1);
    assert!(p[0].inner.contains("IN (SELECT user_id FROM order_items)"));
}

#[test]
fn substituted_lists_prune_and_plan() {
    let sql =
        "SELECT id FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 3) ORDER BY id";
    let p = pulls(sql);
    let values = ["1", "5"].map(String::from);
    let text = substitute(sql, &[(p[0].range.clone(), in_list_text(&values))]);
    assert_eq!(text, "SELECT id FROM users WHERE id IN (1, 5) ORDER BY id");
    assert_eq!(plan(&text).targets.len(), 1);
    // String literals as they are written plan (and keep their bytes).
    let v = literal(
        ColumnType::MYSQL_TYPE_VAR_STRING,
        ColumnFlags::empty(),
        45,
        Some("latin1_swedish_ci"),
        Some("o'ß".as_bytes()),
        false,
    )
    .unwrap();
    let text = substitute(
        sql,
        &[(
            p[0].range.clone(),
            in_list_text(&[v.clone(), "NULL".into()]),
        )],
    );
    let planned = plan(&text);
    assert!(
        planned.targets.iter().all(|t| t.sql.contains(&v)),
        "{planned:?}"
    );
    let empty = substitute(sql, &[(p[0].range.clone(), in_list_text(&[]))]);
    assert!(
        shop().sharding.plan(&empty, Some("shop"), &[]).is_ok(),
        "{empty}"
    );
    let sql = "SELECT id FROM users WHERE NOT EXISTS (SELECT 1 FROM orders)";
    let p = pulls(sql);
    for any in [true, false] {
        let text = substitute(sql, &[(p[0].range.clone(), exists_text(any).to_owned())]);
        assert!(
            shop().sharding.plan(&text, Some("shop"), &[]).is_ok(),
            "{text}"
        );
    }
}

#[test]
fn literals_compare_as_the_column() {
    use ColumnType::*;
    let none = ColumnFlags::empty();
    let lit = |t, cs, coll: Option<&str>, v: Option<&[u8]>| literal(t, none, cs, coll, v, false);
    assert_eq!(lit(MYSQL_TYPE_LONG, 63, None, None).unwrap(), "NULL");
    assert_eq!(
        lit(MYSQL_TYPE_LONGLONG, 63, None, Some(b"-12")).unwrap(),
        "-12"
    );
    assert_eq!(
        lit(MYSQL_TYPE_NEWDECIMAL, 63, None, Some(b"1.50")).unwrap(),
        "1.50"
    );
    assert_eq!(
        lit(MYSQL_TYPE_DOUBLE, 63, None, Some(b"0.1")).unwrap(),
        "0.1e0"
    );
    assert_eq!(
        lit(MYSQL_TYPE_DOUBLE, 63, None, Some(b"1e300")).unwrap(),
        "1e300"
    );
    assert!(lit(MYSQL_TYPE_FLOAT, 63, None, Some(b"0.1")).is_err());
    assert!(lit(MYSQL_TYPE_LONG, 63, None, Some(b"1); DROP")).is_err());
    assert_eq!(lit(MYSQL_TYPE_BIT, 63, None, Some(&[1, 2])).unwrap(), "258");
    // MIN/MAX of a BIT column arrive as digits.
    assert_eq!(
        literal(MYSQL_TYPE_BIT, none, 63, None, Some(b"1022"), true).unwrap(),
        "1022"
    );
    assert_eq!(
        lit(MYSQL_TYPE_DATE, 63, None, Some(b"2026-01-02")).unwrap(),
        "DATE'2026-01-02'"
    );
    assert_eq!(
        lit(
            MYSQL_TYPE_DATETIME,
            63,
            None,
            Some(b"2026-01-02 03:04:05.25")
        )
        .unwrap(),
        "TIMESTAMP'2026-01-02 03:04:05.25'"
    );
    // Strings: bytes in hex, the column's collation, IMPLICIT like a column.
    assert_eq!(
        lit(
            MYSQL_TYPE_VAR_STRING,
            45,
            Some("utf8mb4_unicode_ci"),
            Some(b"a'\\")
        )
        .unwrap(),
        "CONVERT(x'61275C', CHAR CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci)"
    );
    assert_eq!(
        lit(MYSQL_TYPE_VAR_STRING, 45, Some("latin1_swedish_ci"), Some("ß".as_bytes())).unwrap(),
        "CONVERT(CONVERT(x'C39F', CHAR CHARACTER SET utf8mb4), CHAR CHARACTER SET latin1 COLLATE latin1_swedish_ci)"
    );
    assert_eq!(
        lit(MYSQL_TYPE_VAR_STRING, 63, None, Some(&[0, 0xFF])).unwrap(),
        "x'00FF'"
    );
    assert!(lit(MYSQL_TYPE_VAR_STRING, 45, None, Some(b"a")).is_err());
    assert!(lit(MYSQL_TYPE_VAR_STRING, 45, Some("x') OR (1"), Some(b"a")).is_err());
}
