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

/// `sql` planned through a session's kept text shapes (`TextShapes`): from
/// a kept shape when one matches (counted in `hits`), else the general
/// way, keeping its shape. What `plan_with` must answer.
pub(super) fn through_kept(
    router: &Arc<ShardRouter>,
    shapes: &mut TextShapes,
    sql: &str,
    unaliased: bool,
    hits: &mut usize,
) -> Result<Option<ShardPlan>, RouteError> {
    let tokens: Vec<crate::sql::Token> = crate::sql::Lexer::new(sql.as_bytes())
        .filter(|t| !t.is_trivia())
        .collect();
    if let Some(p) = router.plan_kept_text(shapes, sql, Some(&tokens), Some("shop"), unaliased) {
        *hits += 1;
        return Ok(Some(p));
    }
    let keep = KeepShape {
        generation: router.generation(),
        settled: true,
    };
    router.plan_text(shapes, sql, Some(&tokens), Some("shop"), unaliased, keep)
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
/// filled, then used), aliased and not; also through a session's kept
/// text shapes (one set for all templates: a text must not match
/// another's shape).
#[test]
fn text_point_plans_are_the_general_plans() {
    let cfg = shop();
    let router = &cfg.sharding;
    let mut hits = 0;
    for unaliased in [false, true] {
        let mut shapes = TextShapes::default();
        for template in TEMPLATES {
            for round in 0..2 {
                for v in LITERALS {
                    let sql = template.replace("{v}", v);
                    let got = router.plan_with(&sql, Some("shop"), &[], unaliased);
                    let want = general(router, &sql, &[], unaliased);
                    assert_eq!(got, want, "{sql} (round {round}, unaliased {unaliased})");
                    let kept = through_kept(router, &mut shapes, &sql, unaliased, &mut hits);
                    assert_eq!(
                        kept, want,
                        "{sql} (kept, round {round}, unaliased {unaliased})"
                    );
                }
            }
        }
    }
    assert!(hits > 1000, "{hits}");
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

/// Spellings around a kept shape: blanks, comments, case, quoting,
/// signs, operators and literal kinds that differ from the kept text
/// plan as the general planning does (matched only when they are the
/// shape with other literals), in every order through one set of kept
/// shapes.
#[test]
fn kept_text_shapes_match_only_their_spellings() {
    let cfg = shop();
    let router = &cfg.sharding;
    const SPELLINGS: &[&str] = &[
        "SELECT name FROM users WHERE id = {v}",
        "SELECT name FROM users WHERE id ={v}",
        "SELECT name FROM users WHERE id= {v} ",
        "SELECT name FROM users  WHERE id = {v}",
        "select name from users where id = {v}",
        "SELECT name FROM users WHERE id = {v} /* ? */",
        "SELECT /* id = 1 */ name FROM users WHERE id = {v}",
        "SELECT name FROM users WHERE id = {v}-- x\n",
        "SELECT name FROM users WHERE id = {v};",
        "SELECT name FROM users WHERE id = -{v}",
        "SELECT name FROM users WHERE id = {v}+1",
        "SELECT name FROM users WHERE id = {v}.5",
        "SELECT name FROM users WHERE id = {v}e1",
        "SELECT name FROM users WHERE id = {v} OR id = {v}",
        "SELECT name FROM users WHERE id = {v} AND name = {v}",
        "SELECT name FROM users WHERE id IN ({v})",
        "SELECT name FROM users WHERE id BETWEEN {v} AND {v}",
        "SELECT name FROM `users` WHERE id = {v}",
        "SELECT name FROM users WHERE name = {v}",
        "SELECT name FROM users WHERE id = {v} LIMIT 1",
        "SELECT name FROM users WHERE id = {v} LIMIT {v}",
        "UPDATE users SET name = {v} WHERE id = {v}",
        "DELETE FROM users WHERE id = {v}",
        "SELECT name FROM regions WHERE id = {v}",
    ];
    const VALUES: &[&str] = &[
        "1",
        "22",
        "007",
        "'3'",
        "'abc'",
        "''",
        "'a''b'",
        "'a\\'b'",
        "\"4\"",
        "N'5'",
        "0x06",
        "7.5",
        "NULL",
        "18446744073709551616000",
        "`8`",
        "x",
    ];
    let mut hits = 0;
    let mut shapes = TextShapes::default();
    for round in 0..2 {
        for (i, spelling) in SPELLINGS.iter().enumerate() {
            for (j, v) in VALUES.iter().enumerate() {
                // Another order each round.
                let v = if round == 0 {
                    v
                } else {
                    &VALUES[(j * 7 + i) % VALUES.len()]
                };
                let sql = spelling.replace("{v}", v);
                let want = general(router, &sql, &[], false);
                let got = through_kept(router, &mut shapes, &sql, false, &mut hits);
                assert_eq!(got, want, "{sql} (round {round})");
            }
        }
    }
    assert!(hits > 100, "{hits}");
}

/// A kept text shape goes with its router, analysis generation and
/// schema: after a reload, learned kinds or another current schema the
/// text is planned the general way (and kept again).
#[test]
fn kept_text_shapes_go_with_their_analysis() {
    let before = shop();
    let after = config(|t| t.replacen("tables_per_node = 2", "tables_per_node = 3", 1));
    let sql = "SELECT name FROM users WHERE id = 11";
    let tokens: Vec<crate::sql::Token> = crate::sql::Lexer::new(sql.as_bytes())
        .filter(|t| !t.is_trivia())
        .collect();
    let mut shapes = TextShapes::default();
    let mut hits = 0;
    let kept = |router: &Arc<ShardRouter>, shapes: &TextShapes, schema: Option<&str>| {
        router.plan_kept_text(shapes, sql, Some(&tokens), schema, false)
    };
    for cfg in [&before, &after] {
        let router = &cfg.sharding;
        assert_eq!(kept(router, &shapes, Some("shop")), None);
        let planned = through_kept(router, &mut shapes, sql, false, &mut hits);
        assert_eq!(planned, general(router, sql, &[], false));
        assert_eq!(kept(router, &shapes, Some("shop")), planned.unwrap());
        assert_eq!(kept(router, &shapes, None), None);
        assert_eq!(kept(router, &shapes, Some("other")), None);
    }
    assert_ne!(
        kept(&before.sharding, &shapes, Some("shop")),
        kept(&after.sharding, &shapes, Some("shop"))
    );
    let router = &before.sharding;
    router.remember_kinds("shop", "users", Vec::new(), vec!["id".into()], Vec::new());
    assert_eq!(kept(router, &shapes, Some("shop")), None);
    // Not settled (kinds still to learn): not kept.
    let keep = KeepShape {
        generation: router.generation(),
        settled: false,
    };
    let planned = router.plan_text(&mut shapes, sql, Some(&tokens), Some("shop"), false, keep);
    assert_eq!(planned, general(router, sql, &[], false));
    assert_eq!(kept(router, &shapes, Some("shop")), None);
    // Kept at a generation read before kinds were learned: not used.
    let stale = KeepShape {
        generation: router.generation(),
        settled: true,
    };
    router.remember_kinds("shop", "users", Vec::new(), Vec::new(), Vec::new());
    let planned = router.plan_text(&mut shapes, sql, Some(&tokens), Some("shop"), false, stale);
    assert_eq!(planned, general(router, sql, &[], false));
    assert_eq!(kept(router, &shapes, Some("shop")), None);
}
