//! What operators need to run shardcat: metrics (`metrics`), the HTTP
//! listener serving them with a status page (`http`), the slow query
//! log (`slow_log`), query digests (`digests`) and XA commit and recovery
//! counters (`xa_stats`).
//!
//! Owns: observing the proxy from outside. Must not: route, run statements
//! or change session state.

pub mod digests;
pub mod http;
pub mod metrics;
pub mod slow_log;
pub mod xa_stats;
