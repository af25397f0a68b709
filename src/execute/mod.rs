//! Executing a routed statement and streaming its answer to the client:
//! straight pass-through when one backend answers, merging when several do.
//!
//! Owns: moving result packets from backends to the client. Must not choose
//! targets (that is `router`) or keep session state (that is `frontend`).

pub mod cancel;
pub mod command;
pub mod merge;
pub mod move_rows;
pub mod relay;
pub mod renamed_defs;
pub mod result_writer;
pub mod scatter;
pub mod sequence;
pub mod shard_source;
pub mod warnings;
pub mod write;
pub mod xa;

pub use command::{Command, Encoding, Protocol};
pub use relay::{ClientStream, Outcome, Relay, Shape};
