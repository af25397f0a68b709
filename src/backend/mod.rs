//! The backend side: connections from the proxy to MariaDB/MySQL servers,
//! pools of them per server, and the health of each server.
//!
//! Owns: getting a usable connection to a chosen server, fast, with a clear
//! error when that is impossible. Must not parse SQL (beyond handing a
//! statement to `sql::database_names` for a node with a `database`
//! pattern) or choose *which* server a statement goes to (that is
//! `router`).

pub mod cluster;
pub mod connection;
pub mod health;
pub mod pool;
pub mod roles;
pub mod small_result;
pub mod stall;
pub mod xa_recovery;

pub use connection::{BackendConn, ConnectSettings, Flavor, Role, ServerInfo};
pub use pool::{PooledConn, ServerPool};
