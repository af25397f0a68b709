//! shardcat: a MySQL sharding and read/write-splitting proxy.
//!
//! The path of a query through the crate, one module per step:
//!
//! ```text
//! client ──► frontend (wire protocol server, auth, the session's command loop)
//!              │
//!              ▼
//!            sql (lexical classification, sqlparser facade, rewriting by splicing)
//!              │
//!              ▼
//!            router (RoutePlan: node and role; router::shard: the ShardPlan of a
//!              │      sharded statement)   ▲ placement (where a key lives: rules,
//!              │                            hashes, key encoding)
//!              ▼
//!            execute (one executor: commands, cancellation, writes, relay,
//!              │      the merge operators) ◄── merge (MySQL value semantics:
//!              │                               order, decimals, HAVING, GROUP_CONCAT)
//!              ▼
//!            backend (our own MySQL client on the same codec, pools, health) ──► client
//! ```
//!
//! `wire` is shared by both sides of the proxy; `config` is read once and
//! swapped atomically on reload; `session_state` is what follows a client
//! across pooled connections; `error` converts every failure to a MySQL
//! error packet exactly once.

pub mod backend;
pub mod config;
pub mod error;
pub mod execute;
pub mod frontend;
pub mod logsafe;
pub mod merge;
pub mod ops;
pub mod placement;
pub mod router;
pub mod security;
pub mod session_state;
pub mod sql;
pub mod wire;
