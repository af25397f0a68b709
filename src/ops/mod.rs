//! What operators need to run shardcat: metrics (`metrics`), the HTTP
//! listener serving them with a status page (`http`, `status_page`), the slow query
//! log (`slow_log`), query digests (`digests`), XA commit and recovery
//! counters (`xa_stats`), the period tables of `time_range` rules
//! (`tables`: create ahead, retire), moving a shard to another node
//! online (`moves`) and the grants of pass-through users on physical
//! tables (`grants`, for `check --live`).
//!
//! Owns: observing the proxy from outside, and (`tables` and `moves`
//! only) the DDL, copies and replication channels of those jobs on the
//! primaries. Must not: route, run client statements
//! or change session state.

pub mod digests;
pub mod event_stats;
pub mod grants;
pub mod http;
pub mod metrics;
pub mod moves;
pub mod node_primary;
pub mod slow_log;
pub mod status_page;
pub mod tables;
pub mod xa_stats;
