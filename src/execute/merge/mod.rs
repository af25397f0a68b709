//! The merge of a scattered SELECT as small operators over a row source,
//! composed by `execute::scatter` (in the manner of Vitess's engine
//! primitives): each reads rows from the one before it and is tested on an
//! in-memory source.
//!
//! Shard answers enter as [`RowSource`]s; [`SortMerge`] (k-way, one row
//! per source held) or [`Chain`] (one source after the other) join them;
//! [`CombineGroups`], [`Having`], [`Distinct`] and [`Sort`] work on whole
//! results (they hold rows, within the merge budget); [`Limit`] shapes
//! what the client sees (the hidden helper columns are cut by whoever
//! takes the rows: `execute::result_writer` sends the visible prefix);
//! [`SameCollation`] guards a UNION's per-branch weights. An operator that
//! would pass every row unchanged is left out of the chain.
//! [`MergeColumns`] reads the shards' column definitions and checks the
//! recipe against them before anything is sent.
//!
//! Owns: turning shard rows into the client's rows by the router's
//! [`MergeSpec`](crate::router::shard::MergeSpec). Must not do I/O of its
//! own (sources read, `execute::result_writer` writes) or compare values
//! itself (that is `crate::merge`).

mod chain;
mod columns;
mod combine;
mod distinct;
mod group;
mod having;
mod key_hash;
mod limit;
mod num;
mod same_collation;
mod sort;
mod sort_merge;
mod source;
#[cfg(test)]
pub(crate) mod testing;

pub use chain::Chain;
pub use columns::{
    logical_table_names, merged_column_defs, write_logical_table_names, MergeColumns,
};
pub use combine::CombineGroups;
pub use distinct::{Distinct, DistinctRows};
pub use having::Having;
pub use limit::Limit;
pub use same_collation::SameCollation;
pub use sort::Sort;
pub use sort_merge::SortMerge;
pub use source::{MemorySource, RowSource};

/// Bounds for merges that must hold rows.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_groups: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_groups: 1_000_000,
        }
    }
}

/// MySQL's `div_precision_increment` default: AVG and `/` add 4 digits.
const AVG_EXTRA_SCALE: u8 = 4;

/// The error when a merge would hold more than its budget.
fn over_budget(budget: Budget) -> crate::error::ProxyError {
    use crate::ops::event_stats::{EventStats, EVENTS};
    EventStats::bump(&EVENTS.merge_budget_hits);
    crate::error::ProxyError::Routing(format!(
        "cross-shard GROUP BY/DISTINCT exceeded the merge budget of {} groups and distinct values; add a sharding-key filter or raise [routing] merge_max_groups",
        budget.max_groups
    ))
}
