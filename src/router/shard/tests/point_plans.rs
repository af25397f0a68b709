//! Point statements (`plan::point`): planned from the analysis's point
//! memo, a statement plans exactly as the general planning does, for
//! generated statements (point and near-point shapes over every kind of
//! rule), literal spellings and parameter values, aliased and not; the
//! memo goes with its analysis (a reload, learned kinds).

use super::*;
use crate::router::shard::analyze::analyze;

/// The plan of `sql` from an analysis of its own, without the point and
/// range paths: what `plan_with` / `plan_prepared` must answer (also for
/// `range_plans`).
pub(super) fn general(
    router: &ShardRouter,
    sql: &str,
    params: &[ParamValue<'_>],
    unaliased: bool,
) -> Result<Option<ShardPlan>, RouteError> {
    let scan = super::super::shape::scan(sql, |w| router.names.contains(w));
    if !scan.mentions_rule_table {
        return Ok(None);
    }
    if let (true, Some((text, literals))) = (params.is_empty(), &scan.shape) {
        if let Ok(a) = analyze(router, text, Some("shop")) {
            let planned = plan::materialize_without_point(
                router,
                &a,
                text,
                Some("shop"),
                &[],
                literals,
                unaliased,
            );
            if let Ok(mut p) = planned {
                let mut restored = true;
                if let Some(p) = &mut p {
                    for t in &mut p.targets {
                        match super::super::shape::restore(&t.sql, &t.params, sql, literals) {
                            Some(text) => t.sql = text,
                            None => restored = false,
                        }
                        t.params.clear();
                    }
                }
                if restored {
                    return Ok(p);
                }
            }
        }
    }
    match analyze(router, sql, Some("shop")) {
        Err(e) => Err(e),
        Ok(a) => {
            plan::materialize_without_point(router, &a, sql, Some("shop"), params, &[], unaliased)
        }
    }
}

/// Point shapes and shapes that only look like one (two equalities, an
/// OR, an IN list, a join, a composite or time-range table, a key
/// assignment), each with `{v}` for the key's value.
const TEMPLATES: &[&str] = &[
    "SELECT name FROM users WHERE id = {v}",
    "SELECT * FROM users WHERE id={v} AND name = 'x'",
    "SELECT u.name FROM users u WHERE u.id = {v}",
    "SELECT users.name FROM users WHERE users.id = {v}",
    "SELECT `users`.name FROM `users` WHERE `id` = {v} /* ? */",
    "SELECT name FROM shop.users WHERE id = {v}",
    "SELECT name FROM users WHERE id = {v} FOR UPDATE",
    "SELECT COUNT(*) FROM users WHERE id = {v}",
    "SELECT name FROM users WHERE id = {v} ORDER BY name LIMIT 1",
    "SELECT name FROM users WHERE id = {v} OR id = 3",
    "SELECT name FROM users WHERE id = {v} AND id = 4",
    "SELECT name FROM users WHERE id = {v} AND id IN (1, 2)",
    "SELECT name FROM users WHERE id = {v} AND id > 2",
    "SELECT name FROM users WHERE id = {v} AND name IN (SELECT name FROM regions)",
    "SELECT u.name FROM users u JOIN orders o ON o.user_id = u.id WHERE u.id = {v}",
    "UPDATE users SET name = 'y' WHERE id = {v}",
    "UPDATE users SET id = 9 WHERE id = {v}",
    "DELETE FROM users WHERE id = {v}",
    "DELETE FROM users WHERE id = {v} LIMIT 1",
    "SELECT total FROM orders WHERE user_id = {v}",
    "SELECT * FROM order_items WHERE user_id = {v}",
    "SELECT * FROM accounts WHERE id = {v}",
    "SELECT * FROM tags WHERE name = {v}",
    "SELECT * FROM events WHERE created_at = {v}",
    "SELECT * FROM visits WHERE user_id = {v}",
    "EXPLAIN SELECT name FROM users WHERE id = {v}",
];

/// Literal spellings: integers of every size and sign, strings that are
/// and are not numbers or dates, NULL, decimals, hex.
pub(super) const LITERALS: &[&str] = &[
    "5",
    "0",
    "007",
    "-3",
    "'7'",
    "' 8'",
    "'abc'",
    "'Abc  '",
    "NULL",
    "12.5",
    "0x0A",
    "150",
    "250",
    "99999",
    "9223372036854775807",
    "18446744073709551615",
    "99999999999999999999999",
    "'2026-03-05'",
    "'2026-09-05 10:00:00'",
    "'1999-01-01'",
];

/// Text statements: every template with every literal, twice (the memo
/// filled, then used), aliased and not.
#[test]
fn text_point_plans_are_the_general_plans() {
    let cfg = shop();
    let router = &cfg.sharding;
    for unaliased in [false, true] {
        for template in TEMPLATES {
            for round in 0..2 {
                for v in LITERALS {
                    let sql = template.replace("{v}", v);
                    let got = router.plan_with(&sql, Some("shop"), &[], unaliased);
                    let want = general(router, &sql, &[], unaliased);
                    assert_eq!(got, want, "{sql} (round {round}, unaliased {unaliased})");
                }
            }
        }
    }
    let point = |text: &str| match router.analysis(text, Some("shop")).as_ref() {
        Ok(a) => a.targets.is_point(),
        Err(_) => false,
    };
    assert!(point("SELECT name FROM users WHERE id = ?"));
    assert!(point("SELECT * FROM tags WHERE name = ?"));
    assert!(point("DELETE FROM users WHERE id = ?"));
    assert!(!point("SELECT name FROM users WHERE id = ? OR id = 3"));
    assert!(!point("SELECT * FROM visits WHERE user_id = ?"));
}

/// Prepared statements: every template with `?` and generated parameter
/// values (integers, strings, NULL, floats, dates), through the kept
/// analysis of `plan_prepared` and through `plan`.
#[test]
fn prepared_point_plans_are_the_general_plans() {
    let cfg = shop();
    let router = &cfg.sharding;
    let date = ParamValue::DateTime {
        year: 2026,
        month: 9,
        day: 5,
        hour: 10,
        minute: 0,
        second: 0,
        micros: 0,
    };
    let values: Vec<ParamValue<'_>> = vec![
        ParamValue::Int(5),
        ParamValue::Int(0),
        ParamValue::Int(-3),
        ParamValue::Int(i64::MAX),
        ParamValue::UInt(u64::MAX),
        ParamValue::Int(150),
        ParamValue::Int(260),
        ParamValue::Bytes(b"7"),
        ParamValue::Bytes(b"abc"),
        ParamValue::Bytes(b"Abc  "),
        ParamValue::Bytes(b"2026-03-05"),
        ParamValue::Bytes(&[0xff, 0xfe]),
        ParamValue::Null,
        ParamValue::Double(2.5),
        ParamValue::Float(7.0),
        date,
        ParamValue::Time,
    ];
    for unaliased in [false, true] {
        for template in TEMPLATES {
            let sql = template.replace("{v}", "?");
            let mut shape = PreparedShape::default();
            for round in 0..2 {
                for v in &values {
                    let params = [*v];
                    let want = general(router, &sql, &params, unaliased);
                    let got = router.plan_with(&sql, Some("shop"), &params, unaliased);
                    assert_eq!(got, want, "{sql} {v:?} (round {round})");
                    if !unaliased {
                        let kept = router.plan_prepared(&mut shape, &sql, Some("shop"), &params);
                        assert_eq!(kept, want, "{sql} {v:?} (kept, round {round})");
                    }
                }
            }
        }
    }
}

/// A reload (another router: other slots) and learned kinds (the
/// router's analyses dropped) leave no point target behind: a prepared
/// statement's kept shape and a text's cached analysis plan as the new
/// rules say.
#[test]
fn point_memo_goes_with_its_analysis() {
    let before = shop();
    let after = config(|t| t.replacen("tables_per_node = 2", "tables_per_node = 3", 1));
    let sql = "SELECT name FROM users WHERE id = ?";
    let text = "SELECT name FROM users WHERE id = 11";
    let mut shape = PreparedShape::default();
    for round in 0..3 {
        for cfg in [&before, &after] {
            let router = &cfg.sharding;
            for id in [1i64, 2, 5, 11, 12] {
                let params = [ParamValue::Int(id)];
                let want = general(router, sql, &params, false);
                let got = router.plan_prepared(&mut shape, sql, Some("shop"), &params);
                assert_eq!(got, want, "{id} round {round}");
            }
            assert_eq!(
                router.plan(text, Some("shop"), &[]),
                general(router, text, &[], false)
            );
        }
    }
    assert_ne!(
        before.sharding.plan(text, Some("shop"), &[]),
        after.sharding.plan(text, Some("shop"), &[])
    );
    let router = &before.sharding;
    router.remember_kinds("shop", "users", Vec::new(), vec!["id".into()], Vec::new());
    let params = [ParamValue::Int(7)];
    assert_eq!(
        router.plan_prepared(&mut shape, sql, Some("shop"), &params),
        general(router, sql, &params, false)
    );
}
