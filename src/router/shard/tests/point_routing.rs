//! Routing of keyed SELECTs to their shards: every spelling of a key
//! equality, AND/OR pruning, ranges on range and time rules, string keys
//! folded by collation, parameters, and IN lists split per shard.
//!
//! Owns: tests of which targets a WHERE clause selects. Must not test
//! merge specs or writes (see `merge_specs`, `inserts`, `updates_and_ddl`).

use super::*;

// ----- WHERE shapes -----

#[test]
fn equality_in_every_spelling() {
    for sql in [
        "SELECT * FROM users WHERE id = 5",
        "SELECT * FROM users WHERE 5 = id",
        "SELECT * FROM users WHERE id <=> 5",
        "SELECT * FROM users WHERE (id = 5)",
        "SELECT * FROM users WHERE users.id = 5",
        "SELECT * FROM users u WHERE u.id = 5",
        "SELECT * FROM users WHERE id = '5'",
        "SELECT * FROM users WHERE id = 5.0",
        "SELECT * FROM users WHERE id = -3",
        "SELECT * FROM users WHERE id = X'05'",
    ] {
        assert_eq!(tables(sql), ["users_1"], "{sql}");
    }
}

#[test]
fn and_or_combinations_prune() {
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT * FROM users WHERE id = 1 AND (name = 'x' OR id = 2)",
            &["users_1"],
        ),
        (
            "SELECT * FROM users WHERE (id = 1 OR id = 2) AND id = 2",
            &["users_2"],
        ),
        (
            "SELECT * FROM users WHERE id = 1 OR id = 6",
            &["users_1", "users_2"],
        ),
        (
            "SELECT * FROM users WHERE id = 1 OR name = 'x'",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE NOT (id = 1)",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        ("SELECT * FROM users WHERE id IN (4, 8, 12)", &["users_0"]),
        (
            "SELECT * FROM users WHERE id NOT IN (4)",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE id BETWEEN 5 AND 6",
            &["users_1", "users_2"],
        ),
        (
            "SELECT * FROM users WHERE id >= 5 AND id <= 6",
            &["users_1", "users_2"],
        ),
        ("SELECT * FROM users WHERE id > 5 AND id < 7", &["users_2"]),
        ("SELECT * FROM users WHERE id = 1 AND id = 2", &["users_0"]),
        (
            "SELECT * FROM users WHERE id = 'abc'",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
        (
            "SELECT * FROM users WHERE id = name",
            &["users_0", "users_1", "users_2", "users_3"],
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(tables(sql), *want, "{sql}");
    }
}

#[test]
fn ranges_on_range_and_time_rules() {
    let cases: &[(&str, &[&str])] = &[
        ("SELECT * FROM accounts WHERE id < 100", &["accounts_0"]),
        ("SELECT * FROM accounts WHERE id >= 150 AND id < 250", &["accounts_1", "accounts_2"]),
        ("SELECT * FROM accounts WHERE id > 299", &["accounts_3"]),
        ("SELECT * FROM accounts WHERE 250 < id", &["accounts_2", "accounts_3"]),
        ("SELECT * FROM accounts WHERE id BETWEEN 0 AND 99", &["accounts_0"]),
        (
            "SELECT * FROM events WHERE created_at <= '2026-02-28 23:00:00'",
            &["events_202601", "events_202602"],
        ),
        (
            "SELECT * FROM events WHERE created_at > '2026-11-30' AND created_at < TIMESTAMP '2026-12-31 00:00:00'",
            &["events_202611", "events_202612"],
        ),
        ("SELECT * FROM events WHERE created_at = DATE '2026-08-09'", &["events_202608"]),
    ];
    for (sql, want) in cases {
        assert_eq!(tables(sql), *want, "{sql}");
    }
}

#[test]
fn string_keys_fold_by_collation() {
    let a = tables("SELECT * FROM tags WHERE name = 'ABC'");
    assert_eq!(a.len(), 1);
    assert_eq!(a, tables("SELECT * FROM tags WHERE name = 'abc'"));
    // A number compared with a string key matches '5', '05', '5.0': scatter.
    assert_eq!(tables("SELECT * FROM tags WHERE name = 5").len(), 2);
}

#[test]
fn parameters_of_prepared_statements() {
    let p = plan_p("SELECT * FROM users WHERE id = ?", &[ParamValue::Int(6)]);
    assert_eq!(
        targets(&p),
        [t("n2", "SELECT * FROM users_2 AS `users` WHERE id = ?")]
    );
    assert_eq!(p.targets[0].params.as_slice(), [0]);
    let p = plan_p(
        "SELECT * FROM users WHERE name = ? AND id BETWEEN ? AND ?",
        &[
            ParamValue::Bytes(b"x"),
            ParamValue::Bytes(b"5"),
            ParamValue::UInt(6),
        ],
    );
    assert_eq!(
        p.targets
            .iter()
            .flat_map(|t| t.tables.iter().cloned())
            .collect::<Vec<_>>(),
        ["users_1", "users_2"]
    );
    assert!(p.targets.iter().all(|t| t.params.as_slice() == [0, 1, 2]));
    // Without values (e.g. at prepare time) a read scatters.
    assert_eq!(plan("SELECT * FROM users WHERE id = ?").targets.len(), 4);
}

// ----- IN lists -----

#[test]
fn in_lists_are_split_per_shard() {
    let p = plan("SELECT * FROM users WHERE id IN (1, 2, 5, 7) AND name <> 'x'");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1, 5) AND name <> 'x'"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) AND name <> 'x'"
            ),
            t(
                "n2",
                "SELECT * FROM users_3 AS `users` WHERE id IN (7) AND name <> 'x'"
            ),
        ]
    );
    assert_eq!(p.kind, PlanKind::Scatter);
    // Under OR every targeted shard keeps only its own values (or, when
    // none is its own, the first: it matches no row there).
    let p = plan("SELECT * FROM users WHERE id IN (1, 2) OR id = 3");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1) OR id = 3"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) OR id = 3"
            ),
            t(
                "n2",
                "SELECT * FROM users_3 AS `users` WHERE id IN (1) OR id = 3"
            ),
        ]
    );
    // Items that are not literals stay everywhere.
    let p = plan("SELECT * FROM users WHERE id IN (1, 2) AND id IN (1, name)");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "SELECT * FROM users_1 AS `users` WHERE id IN (1) AND id IN (1, name)"
            ),
            t(
                "n2",
                "SELECT * FROM users_2 AS `users` WHERE id IN (2) AND id IN (name)"
            ),
        ]
    );
}

#[test]
fn in_lists_of_parameters_keep_each_shards_parameters() {
    let p = plan_p(
        "SELECT * FROM users WHERE id IN (?, ?, ?) AND name = ?",
        &[
            ParamValue::Int(1),
            ParamValue::Int(2),
            ParamValue::Int(5),
            ParamValue::Bytes(b"n"),
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
                "SELECT * FROM users_1 AS `users` WHERE id IN (?, ?) AND name = ?".to_owned(),
                vec![0, 2, 3]
            ),
            (
                "SELECT * FROM users_2 AS `users` WHERE id IN (?) AND name = ?".to_owned(),
                vec![1, 3]
            ),
        ]
    );
}
