//! Planning tests of a composite table (`visits`: `user_id` hash into 4
//! slots × the month of `at`): pruning by key and by date ranges, groups
//! on the key merged (a key's rows span its months), refusals.
//!
//! Must not test other table kinds.

use super::*;

#[test]
fn point_key_and_dates_prune_to_that_slots_months() {
    assert_eq!(
        tables(
            "SELECT * FROM visits WHERE user_id = 5 AND at >= '2026-02-10' AND at < '2026-04-01'"
        ),
        vec!["visits_1_202602", "visits_1_202603"]
    );
    assert_eq!(
        tables("SELECT * FROM visits WHERE user_id = 4 AND at IN ('2026-03-17 00:00:00', '2026-07-21 12:34:56.5')"),
        vec!["visits_0_202603", "visits_0_202607"]
    );
    assert_eq!(
        tables("SELECT * FROM visits WHERE at BETWEEN '2026-08-01' AND '2026-09-30'"),
        vec![
            "visits_0_202608",
            "visits_1_202608",
            "visits_2_202608",
            "visits_3_202608"
        ]
    );
    assert_eq!(tables("SELECT * FROM visits WHERE user_id = 6").len(), 8);
}

#[test]
fn groups_on_the_key_are_merged_and_period_expressions_refused() {
    assert!(
        merge("SELECT user_id, COUNT(*) FROM visits GROUP BY user_id")
            .aggregate
            .is_some()
    );
    assert!(error("UPDATE visits SET at = NOW() WHERE user_id = 1").contains("period column"));
    assert!(error("UPDATE visits SET at = NULL WHERE user_id = 1").contains("NULL"));
    assert!(error("UPDATE visits SET at = '2027-03-01' WHERE user_id = 1").contains("2027"));
    assert!(error("INSERT INTO visits (user_id, v) VALUES (1, 1)").contains("period column"));
}

/// (from, to) physical tables of a key move.
fn moves(sql: &str) -> Vec<(String, String)> {
    match plan(sql).kind {
        PlanKind::KeyMove(m) => m
            .sources
            .iter()
            .map(|s| (s.from.table.clone(), s.to.table.clone()))
            .collect(),
        other => panic!("{sql}: not a key move: {other:?}"),
    }
}

#[test]
fn key_and_date_updates_move_rows_per_source() {
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    // A new key keeps each row's month.
    assert_eq!(
        moves("UPDATE visits SET user_id = 6 WHERE user_id = 5 AND at >= '2026-02-01' AND at < '2026-04-01'"),
        vec![
            pair("visits_1_202602", "visits_2_202602"),
            pair("visits_1_202603", "visits_2_202603")
        ]
    );
    // A new date keeps each row's hash slot.
    assert_eq!(
        moves(
            "UPDATE visits SET at = '2026-03-31 23:59:59' WHERE user_id = 4 AND at < '2026-03-01'"
        ),
        vec![
            pair("visits_0_202601", "visits_0_202603"),
            pair("visits_0_202602", "visits_0_202603")
        ]
    );
    // Both: one destination; the table already there is not a source.
    let both = moves("UPDATE visits SET user_id = 1, at = '2026-03-01' WHERE user_id = 5");
    assert_eq!(both.len(), 7, "{both:?}");
    assert!(
        both.iter().all(|(_, to)| to == "visits_1_202603"),
        "{both:?}"
    );
    let both = moves("UPDATE visits SET user_id = 2, at = '2026-02-28' WHERE user_id = 5");
    assert_eq!(both.len(), 8, "{both:?}");
    assert!(
        both.iter().all(|(_, to)| to == "visits_2_202602"),
        "{both:?}"
    );
}

#[test]
fn unique_keys_need_the_period_column_too() {
    let cfg = shop();
    let warnings = cfg.sharding.unique_key_warnings(
        "CREATE TABLE visits (id INT, user_id INT, at DATETIME, \
         UNIQUE KEY (user_id, id), PRIMARY KEY (user_id, at, id))",
        Some("shop"),
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("period column `at`"), "{warnings:?}");
}
