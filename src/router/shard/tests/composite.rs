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
fn groups_on_the_key_are_merged_and_period_updates_refused() {
    assert!(
        merge("SELECT user_id, COUNT(*) FROM visits GROUP BY user_id")
            .aggregate
            .is_some()
    );
    assert!(
        error("UPDATE visits SET at = '2026-02-01' WHERE user_id = 1").contains("period column")
    );
    assert!(error("UPDATE visits SET user_id = 2 WHERE user_id = 1").contains("key and period"));
    assert!(error("INSERT INTO visits (user_id, v) VALUES (1, 1)").contains("period column"));
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
