//! `sql_select_limit` on merged reads. One server stops a SELECT without
//! `LIMIT` after `sql_select_limit` rows; each shard of a scattered read
//! does the same to its own part, so the merged answer would hold up to
//! that many rows *per shard*. The merge takes the limit instead, and
//! where a shard's cut would make the merge wrong (partial aggregates
//! combined across shards: a group, or a DISTINCT aggregate's values, cut
//! on one shard would lose that shard's share),
//! the shards are told to return everything for that statement (`SET
//! STATEMENT sql_select_limit = DEFAULT FOR …`, MariaDB's per-statement
//! variable prefix, which also works in prepared statements).
//!
//! A subquery pulled out of a cross-shard statement and run on its own
//! is not limited at all (`unlimited_subquery`).
//!
//! Owns: that adjustment of a plan. Must not plan, choose servers or
//! merge.

use super::Session;
use crate::router::shard::{MergeSpec, ShardPlan};

/// The server's value of `sql_select_limit` that means no limit.
const NO_LIMIT: u64 = u64::MAX;

/// The prefix that runs a statement without the session's limit.
const UNLIMITED: &str = "SET STATEMENT sql_select_limit = DEFAULT FOR ";

impl Session {
    /// The session's `sql_select_limit`, if it limits anything.
    pub(super) fn select_limit(&self) -> Option<u64> {
        let value = self.state.var("sql_select_limit")?;
        match value.trim().parse::<u64>() {
            Ok(NO_LIMIT) | Err(_) => None,
            Ok(n) => Some(n),
        }
    }

    /// A subquery run on its own (pulled out of a cross-shard statement)
    /// is not limited by `sql_select_limit` on one server, which limits the
    /// top-level SELECT only: its shards are told so.
    pub(super) fn unlimited_subquery(&self, plan: &mut ShardPlan) {
        if self.select_limit().is_some() {
            for t in &mut plan.targets {
                t.sql = format!("{UNLIMITED}{}", t.sql);
            }
        }
    }

    /// `plan` adjusted to the session's `sql_select_limit` (see the module
    /// doc), or `None` when it needs no change.
    pub(super) fn with_select_limit(&self, plan: &ShardPlan) -> Option<ShardPlan> {
        // (The plans it leaves alone first: no variable looked up for them.)
        if plan.targets.len() < 2 || !plan.returns_rows() {
            return None;
        }
        let limit = self.select_limit()?;
        limited_plan(plan, limit)
    }
}

/// A merged read of `plan` limited to `limit` rows as one server would
/// limit it; `None` if `plan` is not a merged read without `LIMIT`.
pub(super) fn limited_plan(plan: &ShardPlan, limit: u64) -> Option<ShardPlan> {
    if plan.targets.len() < 2 || !plan.returns_rows() {
        return None;
    }
    if plan.merge.as_ref().is_some_and(|m| m.limit.is_some()) {
        // The statement's own LIMIT wins, on the server as here.
        return None;
    }
    let mut limited = plan.clone();
    let merge = std::sync::Arc::make_mut(
        limited
            .merge
            .get_or_insert_with(|| std::sync::Arc::new(MergeSpec::default())),
    );
    merge.limit = Some(limit);
    merge.offset = 0;
    // Partial aggregates (groups, or the distinct values of a DISTINCT
    // aggregate) cut on a shard would be combined wrong.
    if merge.aggregate.is_some() {
        for t in &mut limited.targets {
            t.sql = format!("{UNLIMITED}{}", t.sql);
        }
    }
    Some(limited)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::shard::{AggregateMerge, PlanKind, ShardTarget};

    fn plan(targets: usize, merge: Option<MergeSpec>) -> ShardPlan {
        ShardPlan {
            targets: (0..targets)
                .map(|i| ShardTarget {
                    node: i,
                    sql: format!("SELECT a FROM t_{i}"),
                    tables: vec![format!("t_{i}")].into(),
                    params: Default::default(),
                    local_file: None,
                    rows: None,
                })
                .collect(),
            kind: PlanKind::Scatter,
            merge: merge.map(std::sync::Arc::new),
            generated_id: None,
            write: false,
        }
    }

    #[test]
    fn limits_merged_reads_without_their_own_limit() {
        assert_eq!(
            limited_plan(&plan(1, None), 5),
            None,
            "one target: the server limits"
        );
        let own = MergeSpec {
            limit: Some(10),
            ..Default::default()
        };
        assert_eq!(limited_plan(&plan(2, Some(own)), 5), None, "own LIMIT");
        for merge in [None, Some(MergeSpec::default())] {
            let got = limited_plan(&plan(3, merge), 5).expect("limited");
            let m = got.merge.expect("merge");
            assert_eq!((m.limit, m.offset), (Some(5), 0));
            assert!(got.targets.iter().all(|t| t.sql.starts_with("SELECT")));
        }
        let grouped = MergeSpec {
            aggregate: Some(AggregateMerge {
                group_by: vec![0],
                columns: Vec::new(),
                concats: Vec::new(),
                computed: Vec::new(),
            }),
            ..Default::default()
        };
        let got = limited_plan(&plan(2, Some(grouped)), 0).expect("limited");
        assert_eq!(got.merge.as_ref().and_then(|m| m.limit), Some(0));
        assert!(got.targets.iter().all(|t| t
            .sql
            .starts_with("SET STATEMENT sql_select_limit = DEFAULT FOR SELECT")));
    }
}
