//! Scatter plans kept per analysis (`plan::memo`): planned again from the
//! memo, a statement plans exactly as from a fresh analysis, for generated
//! statements, values and LIMITs; the memo goes when the analyses do.

use super::*;
use crate::router::shard::analyze::analyze;

/// The plan of `sql` from an analysis of its own (an empty memo).
fn fresh(
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
            if let Ok(mut p) =
                plan::materialize(router, &a, text, Some("shop"), &[], literals, unaliased)
            {
                if let Some(p) = &mut p {
                    for t in &mut p.targets {
                        t.sql = super::super::shape::restore(&t.sql, &t.params, sql, literals)
                            .expect("restorable");
                        t.params.clear();
                    }
                }
                return Ok(p);
            }
        }
    }
    match analyze(router, sql, Some("shop")) {
        Err(e) => Err(e),
        Ok(a) => plan::materialize(router, &a, sql, Some("shop"), params, &[], unaliased),
    }
}

/// How many scatter plans the cached analysis of `text` keeps.
fn kept(router: &ShardRouter, text: &str) -> usize {
    match router.analysis(text, Some("shop")).as_ref() {
        Ok(a) => a.targets.scatters(),
        Err(_) => 0,
    }
}

/// Generated scattered statements (ranges, ORDER BY, DISTINCT, GROUP BY,
/// LIMIT literals, IN lists cut per slot, writes), each planned several
/// times with changing values on one router, aliased and not: every plan
/// is the fresh analysis's, and the scatters that can be kept are.
#[test]
fn kept_scatter_plans_plan_as_fresh_ones() {
    let cfg = shop();
    let router = &cfg.sharding;
    let templates = [
        "SELECT id, name FROM users WHERE id BETWEEN {a} AND {b}",
        "SELECT SUM(id) FROM users WHERE id BETWEEN {a} AND {b}",
        "SELECT name FROM users WHERE id BETWEEN {a} AND {b} ORDER BY name",
        "SELECT DISTINCT name FROM users WHERE id BETWEEN {a} AND {b} ORDER BY name",
        "SELECT name, COUNT(*) FROM users WHERE id > {a} GROUP BY name",
        "SELECT id FROM users WHERE id > {a} ORDER BY id LIMIT {b}",
        "SELECT id FROM users WHERE id > {a} ORDER BY id LIMIT {a}, {b}",
        "SELECT id FROM users WHERE id IN ({a}, {b}, 7) ORDER BY id",
        "SELECT * FROM accounts WHERE id BETWEEN {a} AND {b} ORDER BY id DESC",
        "SELECT o.total FROM orders o JOIN users u ON u.id = o.user_id WHERE o.user_id < {b}",
        "UPDATE users SET name = 'x' WHERE id > {a}",
        "DELETE FROM orders WHERE user_id BETWEEN {a} AND {b}",
        "SELECT name FROM tags WHERE name > '{a}' ORDER BY name LIMIT 3",
    ];
    let values = [(1, 100), (5, 6), (150, 320), (2, 2), (0, 1000), (7, 300)];
    let mut scattered = 0;
    for unaliased in [false, true] {
        for template in templates {
            for round in 0..2 {
                for (a, b) in values {
                    let sql = template
                        .replace("{a}", &a.to_string())
                        .replace("{b}", &b.to_string());
                    let got = router.plan_with(&sql, Some("shop"), &[], unaliased);
                    let want = fresh(router, &sql, &[], unaliased);
                    assert_eq!(got, want, "{sql} (round {round}, unaliased {unaliased})");
                    if matches!(&got, Ok(Some(p)) if p.kind == PlanKind::Scatter) {
                        scattered += 1;
                    }
                }
            }
        }
    }
    assert!(scattered > 100, "{scattered}");
    // A range scattered to every slot of `users` is kept once per
    // assignment set, aliased and not.
    let text = "SELECT name FROM users WHERE id BETWEEN ? AND ? ORDER BY name";
    assert!(kept(router, text) >= 2);
    // Lists cut per slot are not kept.
    let text = "SELECT id FROM users WHERE id IN (?, ?, 7) ORDER BY id";
    assert_eq!(kept(router, text), 0);
}

/// Prepared statements: LIMIT parameters are part of what a kept scatter
/// is for; every execute plans as a fresh analysis does.
#[test]
fn kept_scatter_plans_follow_limit_parameters() {
    let cfg = shop();
    let router = &cfg.sharding;
    let sql = "SELECT id, name FROM users WHERE id > ? ORDER BY name LIMIT ?, ?";
    let mut shape = PreparedShape::default();
    for round in 0..3 {
        for (a, o, l) in [(1i64, 0i64, 5i64), (1, 2, 5), (1, 0, 6), (9, 0, 5)] {
            let params = [ParamValue::Int(a), ParamValue::Int(o), ParamValue::Int(l)];
            let want = fresh(router, sql, &params, false);
            let got = router.plan_prepared(&mut shape, sql, Some("shop"), &params);
            assert_eq!(got, want, "{params:?} round {round}");
            assert_eq!(router.plan(sql, Some("shop"), &params), want);
        }
    }
    // One per (limit, offset): the value of `id > ?` scatters to every
    // slot either way.
    assert_eq!(kept(router, sql), 3);
    let bad = [ParamValue::Int(1), ParamValue::Int(-1), ParamValue::Int(5)];
    assert_eq!(
        router.plan(sql, Some("shop"), &bad),
        fresh(router, sql, &bad, false)
    );
}

/// Learned column kinds clear the router's analyses and with them the
/// kept scatters: the next plan has no weight columns for an integer key,
/// for texts and prepared statements alike.
#[test]
fn learned_kinds_drop_kept_scatters() {
    let cfg = shop();
    let router = &cfg.sharding;
    let sql = "SELECT user_id, total FROM orders WHERE total > 5 ORDER BY total";
    let prepared = "SELECT user_id, total FROM orders WHERE total > ? ORDER BY total";
    let params = [ParamValue::Bytes(b"5")];
    let mut shape = PreparedShape::default();
    let weighs = |p: &ShardPlan| p.targets.iter().any(|t| t.sql.contains("WEIGHT_STRING"));
    for _ in 0..2 {
        let p = router.plan(sql, Some("shop"), &[]).unwrap().unwrap();
        assert!(p.kind == PlanKind::Scatter && weighs(&p));
        let p = router
            .plan_prepared(&mut shape, prepared, Some("shop"), &params)
            .unwrap()
            .unwrap();
        assert!(weighs(&p));
    }
    assert_eq!(kept(router, prepared), 1);
    router.remember_kinds(
        "shop",
        "orders",
        Vec::new(),
        vec!["total".into()],
        Vec::new(),
    );
    let p = router.plan(sql, Some("shop"), &[]).unwrap().unwrap();
    assert!(!weighs(&p));
    assert_eq!(Ok(Some(p)), fresh(router, sql, &[], false));
    let p = router
        .plan_prepared(&mut shape, prepared, Some("shop"), &params)
        .unwrap()
        .unwrap();
    assert!(!weighs(&p));
}
