//! What operators need to run shardcat: metrics (`metrics`), the HTTP
//! listener serving them with a status page (`http`, `status_page`), the slow query
//! log (`slow_log`), query digests (`digests`), XA commit and recovery
//! counters (`xa_stats`) and the period tables of `time_range` rules
//! (`tables`: create ahead, retire).
//!
//! Owns: observing the proxy from outside, and (`tables` only) the DDL of
//! the period-table jobs on the primaries. Must not: route, run client statements
//! or change session state.

pub mod digests;
pub mod http;
pub mod metrics;
pub mod slow_log;
pub mod status_page;
pub mod tables;
pub mod xa_stats;
