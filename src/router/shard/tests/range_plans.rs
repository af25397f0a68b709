//! Range scatters (`plan::range`): planned from the analysis's kept
//! plans, a statement plans exactly as the general planning does, for
//! generated statements (range shapes and shapes that only look like one:
//! IN lists, joins, subqueries, unions, composite and time-range tables,
//! EXPLAIN, locking reads, LIMITs) × literal spellings of both bounds ×
//! aliased and not, and for parameter values through `plan` and
//! `plan_prepared`; the kept plans go with their analysis (a reload,
//! learned kinds).

use super::point_plans::{general, through_kept, LITERALS};
use super::*;

/// Range shapes and near-range shapes, with `{v}` and `{w}` for values.
const TEMPLATES: &[&str] = &[
    "SELECT c FROM users WHERE id BETWEEN {v} AND {w}",
    "SELECT name FROM users WHERE id BETWEEN {v} AND {w}+99",
    "SELECT SUM(id) FROM users WHERE id BETWEEN {v} AND {w}",
    "SELECT name FROM users WHERE id BETWEEN {v} AND {w} ORDER BY name",
    "SELECT DISTINCT name FROM users WHERE id BETWEEN {v} AND {w} ORDER BY name",
    "SELECT u.name FROM users u WHERE u.id BETWEEN {v} AND {w} ORDER BY u.name DESC",
    "SELECT `users`.name FROM shop.`users` WHERE `id` >= {v} AND id < {w} /* ? */",
    "SELECT id FROM users WHERE id >= {v} AND id < {w} ORDER BY id LIMIT 5",
    "SELECT id FROM users WHERE id > {v} ORDER BY id LIMIT {w}",
    "SELECT id FROM users WHERE id > {v} ORDER BY id LIMIT 2, {w}",
    "SELECT id FROM users WHERE id > {v} OR id < {w}",
    "SELECT id FROM users WHERE id > {v} AND name = {w}",
    "SELECT name FROM users WHERE name BETWEEN {v} AND {w}",
    "SELECT name, COUNT(*) FROM users WHERE id < {w} GROUP BY name HAVING COUNT(*) > {v}",
    "SELECT name FROM users WHERE id BETWEEN {v} AND {w} FOR UPDATE",
    "SELECT name FROM users WHERE id IN ({v}, {w})",
    "SELECT name FROM users WHERE id BETWEEN {v} AND {w} AND name IN (SELECT name FROM regions)",
    "SELECT o.total FROM orders o JOIN users u ON u.id = o.user_id WHERE o.user_id BETWEEN {v} AND {w}",
    "SELECT name FROM users WHERE id BETWEEN {v} AND {w} UNION ALL SELECT name FROM users WHERE id < 3",
    "EXPLAIN SELECT name FROM users WHERE id BETWEEN {v} AND {w}",
    "UPDATE users SET name = 'y' WHERE id BETWEEN {v} AND {w}",
    "SELECT * FROM accounts WHERE id BETWEEN {v} AND {w} ORDER BY id DESC",
    "SELECT * FROM tags WHERE name BETWEEN {v} AND {w} ORDER BY name",
    "SELECT * FROM events WHERE created_at BETWEEN {v} AND {w}",
    "SELECT * FROM visits WHERE user_id BETWEEN {v} AND {w}",
    "SELECT total FROM orders WHERE user_id > {v} AND user_id <= {w} ORDER BY total",
];

/// The upper bounds tried with every literal of `LITERALS` as the lower.
const UPPER: &[&str] = &[
    "5",
    "150",
    "320",
    "99999",
    "'abc'",
    "NULL",
    "12.5",
    "9223372036854775807",
    "'2026-09-05 10:00:00'",
];

/// Text statements: every template with every pair of literals, twice
/// (kept, then used), aliased and not.
#[test]
fn text_range_plans_are_the_general_plans() {
    let cfg = shop();
    let router = &cfg.sharding;
    let mut scattered = 0;
    let mut hits = 0;
    for unaliased in [false, true] {
        let mut shapes = TextShapes::default();
        for template in TEMPLATES {
            for round in 0..2 {
                for v in LITERALS {
                    for w in UPPER {
                        let sql = template.replace("{v}", v).replace("{w}", w);
                        let got = router.plan_with(&sql, Some("shop"), &[], unaliased);
                        let want = general(router, &sql, &[], unaliased);
                        assert_eq!(got, want, "{sql} (round {round}, unaliased {unaliased})");
                        let kept = through_kept(router, &mut shapes, &sql, unaliased, &mut hits);
                        assert_eq!(kept, want, "{sql} (kept, round {round})");
                        if matches!(&got, Ok(Some(p)) if p.kind == PlanKind::Scatter) {
                            scattered += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(scattered > 1000, "{scattered}");
    assert!(hits > 1000, "{hits}");
    // Planned once (its shape's analysis cached), then asked.
    let range = |text: &str| {
        let planned = router.plan(&text.replace('?', "1"), Some("shop"), &[]);
        assert!(planned.is_ok(), "{text}: {planned:?}");
        match router.analysis(text, Some("shop")).as_ref() {
            Ok(a) => a.targets.is_range(),
            Err(_) => false,
        }
    };
    assert!(range("SELECT c FROM users WHERE id BETWEEN ? AND ?"));
    assert!(range(
        "SELECT DISTINCT name FROM users WHERE id BETWEEN ? AND ? ORDER BY name"
    ));
    assert!(range(
        "SELECT * FROM accounts WHERE id BETWEEN ? AND ? ORDER BY id DESC"
    ));
    assert!(!range("SELECT name FROM users WHERE id IN (?, ?)"));
    assert!(!range("SELECT * FROM visits WHERE user_id BETWEEN ? AND ?"));
    assert!(!range(
        "SELECT o.total FROM orders o JOIN users u ON u.id = o.user_id WHERE o.user_id BETWEEN ? AND ?"
    ));
}

/// Prepared statements: every template with `?` and generated pairs of
/// parameter values, through `plan` and the kept analysis of
/// `plan_prepared`.
#[test]
fn prepared_range_plans_are_the_general_plans() {
    let cfg = shop();
    let router = &cfg.sharding;
    let values: Vec<ParamValue<'_>> = vec![
        ParamValue::Int(5),
        ParamValue::Int(-3),
        ParamValue::Int(150),
        ParamValue::Int(320),
        ParamValue::UInt(u64::MAX),
        ParamValue::Bytes(b"7"),
        ParamValue::Bytes(b"abc"),
        ParamValue::Null,
        ParamValue::Double(2.5),
    ];
    for unaliased in [false, true] {
        for template in TEMPLATES {
            let sql = template.replace("{v}", "?").replace("{w}", "?");
            let mut shape = PreparedShape::default();
            for round in 0..2 {
                for v in &values {
                    for w in &values {
                        let params = [*v, *w];
                        let want = general(router, &sql, &params, unaliased);
                        let got = router.plan_with(&sql, Some("shop"), &params, unaliased);
                        assert_eq!(got, want, "{sql} {v:?} {w:?} (round {round})");
                        if !unaliased {
                            let kept =
                                router.plan_prepared(&mut shape, &sql, Some("shop"), &params);
                            assert_eq!(kept, want, "{sql} {v:?} {w:?} (kept, round {round})");
                        }
                    }
                }
            }
        }
    }
}

/// A reload (another router: other slots) and learned kinds (the
/// router's analyses dropped: no weight column for an integer) leave no
/// kept plan behind, for texts and prepared statements.
#[test]
fn range_memo_goes_with_its_analysis() {
    let before = shop();
    let after = config(|t| t.replacen("tables_per_node = 2", "tables_per_node = 3", 1));
    let sql = "SELECT DISTINCT name FROM users WHERE id BETWEEN ? AND ? ORDER BY name";
    let text = "SELECT DISTINCT name FROM users WHERE id BETWEEN 1 AND 100 ORDER BY name";
    let mut shape = PreparedShape::default();
    for round in 0..3 {
        for cfg in [&before, &after] {
            let router = &cfg.sharding;
            for (a, b) in [(1i64, 100i64), (5, 6), (0, 1000)] {
                let params = [ParamValue::Int(a), ParamValue::Int(b)];
                let want = general(router, sql, &params, false);
                let got = router.plan_prepared(&mut shape, sql, Some("shop"), &params);
                assert_eq!(got, want, "{a} {b} round {round}");
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
    let weighs = |p: &ShardPlan| p.targets.iter().any(|t| t.sql.contains("WEIGHT_STRING"));
    let p = router.plan(text, Some("shop"), &[]).unwrap().unwrap();
    assert!(p.kind == PlanKind::Scatter && weighs(&p));
    router.remember_kinds("shop", "users", Vec::new(), vec!["name".into()], Vec::new());
    let p = router.plan(text, Some("shop"), &[]).unwrap().unwrap();
    assert!(!weighs(&p), "{p:#?}");
    assert_eq!(Ok(Some(p)), general(router, text, &[], false));
    let params = [ParamValue::Int(1), ParamValue::Int(100)];
    let p = router.plan_prepared(&mut shape, sql, Some("shop"), &params);
    assert_eq!(p, general(router, sql, &params, false));
    assert!(!weighs(&p.unwrap().unwrap()));
}
