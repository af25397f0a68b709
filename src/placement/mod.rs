//! Placement: where a sharding key lives (the rules' pure functions; the
//! planner that applies them to statements is `router::shard`).
//!
//! Owns: the mapping from a sharding key value to a slot (one physical
//! table), and from a slot to a node and a physical table name; the rule
//! types that describe it; the stable hashes and canonical key encoding it
//! rests on. Everything here is pure computation.
//!
//! Must not touch: SQL text or ASTs (the router extracts key values and
//! calls in), the network, config files (the config loader deserializes
//! [`TableRule`]s, supplies node names, and reports file and line), or any
//! mutable global state.
//!
//! The path of a key:
//!
//! ```text
//! literal / param ──ShardKey::from_literal / from_param (key_type)──► ShardKey
//!   ──encode (collation)──► canonical bytes ──HashFunction──► u64
//!   ──Algorithm──► slot ──layout (nodes, tables_per_node, physical_name)──► PhysicalTarget
//! ```
//!
//! Placement is persistent: the golden vectors in `golden_tests.rs` pin the
//! slot of fixed keys for every algorithm and hash. A change that breaks
//! them moves rows between shards on every existing deployment.
//!
//! Files: `key/` (key values, conversion, canonical encoding; `parse.rs`
//! the text parsing), `collation.rs` + `fold_table.rs` (string folding),
//! `hash.rs` (named hashes), `algorithm/` (placement functions, range
//! pruning), `naming.rs` (physical name patterns), `rules/` (rule types
//! and layout; `raw.rs` the serde form, `validate.rs` validation,
//! `placement.rs` [`ShardingRules`]).

pub mod algorithm;
pub mod collation;
#[rustfmt::skip]
mod fold_table;
pub mod hash;
pub mod key;
pub mod naming;
pub mod rules;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod rules_tests;

pub use algorithm::{
    even_hash_range_boundaries, jump_consistent_hash, Algorithm, KeyspaceBoundary, Period,
    PeriodSpan, PeriodWindow, PlacementError, Retention, SlotSet, TimeRange, TimeUnit,
};
pub use collation::{Collation, UnsupportedCollation};
pub use hash::{murmur3_x86_32, HashFunction};
pub use key::{CalendarDate, DateTime, KeyError, KeyType, LiteralKind, ParamValue, ShardKey};
pub use naming::{NamePattern, PatternError};
pub use rules::{
    validate_tables, BoundTable, BroadcastTable, PhysicalTarget, RuleError, RuleProblem,
    ShardedTable, ShardingRules, SingleTable, TableKind, TablePlacement, TableRule, MAX_SLOTS,
};
