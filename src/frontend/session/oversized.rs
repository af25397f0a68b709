//! Statements too large for every server: a COM_QUERY, COM_STMT_PREPARE
//! or COM_STMT_EXECUTE payload at least as large as every server's
//! `max_allowed_packet` gets the servers' own answer (1153) at once,
//! before it is classified, planned or copied. Sizes in between (some
//! server would take it, or a limit is not known yet) go their usual way,
//! and `execute::command` refuses each packet a chosen server would refuse.
//!
//! Owns: that early check. Must not: send anything, or decide a size the
//! servers would accept.

use std::sync::atomic::Ordering;

use super::Session;
use crate::wire::command;

impl Session {
    /// True when a `cmd` packet of `len` bytes is at least every server's
    /// `max_allowed_packet` (all of them known).
    pub(super) fn every_server_refuses(&self, cmd: u8, len: usize) -> bool {
        if !matches!(
            cmd,
            command::QUERY | command::STMT_PREPARE | command::STMT_EXECUTE
        ) {
            return false;
        }
        let mut largest = 0usize;
        for pool in self.proxy.cluster.all_pools() {
            match pool.server.max_packet.load(Ordering::Relaxed) {
                0 => return false,
                m => largest = largest.max(m),
            }
        }
        largest > 0 && len >= largest
    }
}
