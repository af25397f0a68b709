//! shardcat: a MySQL sharding and read/write-splitting proxy.
//!
//! The path of a query through the crate, one module per step:
//!
//! ```text
//! client ──► frontend (wire protocol server, auth, command loop, session state)
//!              │
//!              ▼
//!            sql (lexical classification, sqlparser facade, rewriting by splicing)
//!              │
//!              ▼
//!            router (RoutePlan: which node, which role, which physical SQL)
//!              │        ▲ sharding (placement functions, key encoding)
//!              ▼
//!            backend (our own MySQL client on the same codec, pools, health)
//!              │
//!              ▼
//!            merge (scatter-gather of partial results) ──► client
//! ```
//!
//! `wire` is shared by both sides of the proxy; `config` is read once and
//! swapped atomically on reload; `error` converts every failure to a MySQL
//! error packet exactly once.

pub mod backend;
pub mod config;
pub mod error;
pub mod execute;
pub mod frontend;
pub mod logsafe;
pub mod merge;
pub mod router;
pub mod security;
pub mod session;
pub mod sharding;
pub mod sql;
pub mod wire;
