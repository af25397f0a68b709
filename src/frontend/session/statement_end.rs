//! What a statement that ran leaves behind in the session: the variables
//! and database its server reported, the last insert id, the transaction
//! state, and what pins the session to its connections.
//!
//! Owns: updating `Session::state`, `pins` and `status` after a statement.
//! Must not: do I/O.

use mysql_common::constants::StatusFlags;

use super::{Ran, Session};
use crate::sql::{Classified, SetKind, StatementKind};
use crate::wire::packets::SessionChange;

impl Session {
    /// Updates session state and pins from what a statement did.
    pub(super) fn after_statement(&mut self, c: &Classified, ran: &Ran) {
        let o = &ran.outcome;
        if self.pins.transaction
            && o.error
                .as_ref()
                .is_some_and(|e| rolls_back_transaction(e.code))
        {
            self.server_rolled_back = true;
        }
        if o.error.is_some() && self.stat.error.is_none() {
            self.stat.error = Some("backend");
        }
        let mut unreplayable_change = false;
        for change in &o.changes {
            match change {
                SessionChange::SystemVariable { name, value } => {
                    if name == "last_gtid" {
                        if !value.is_empty() {
                            if let Some(slot) = self.last_gtid.get_mut(ran.node) {
                                *slot = Some(value.clone());
                                self.gtid_confirmed.clear();
                            }
                        }
                    } else if !c.flags.statement_scoped_variables {
                        // (`SET STATEMENT … FOR`: tracked, yet restored
                        // when the statement ends.)
                        self.state.record_var(name, value);
                    }
                }
                // A view or routine of another database reports its
                // schema and then "" (none again) under tracking.
                SessionChange::Schema(s) => {
                    self.state.schema = crate::session_state::schema_from_tracking(s)
                }
                SessionChange::StateChanged => unreplayable_change = true,
                SessionChange::Other(_) => {}
            }
        }
        if o.error.is_none() {
            // Flags describing the session (not the one statement): drivers
            // such as PyMySQL pick their quoting from NO_BACKSLASH_ESCAPES.
            self.status = o.status
                & (StatusFlags::SERVER_STATUS_IN_TRANS.bits()
                    | StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits()
                    | StatusFlags::SERVER_STATUS_IN_TRANS_READONLY.bits()
                    | StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES.bits()
                    | StatusFlags::SERVER_STATUS_ANSI_QUOTES.bits());
            if o.last_insert_id != 0 {
                self.last_insert_id = o.last_insert_id;
            }
        }
        let in_trans = self.status & StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0;
        if o.error.is_none() {
            if let StatementKind::Begin {
                read_only: true, ..
            } = c.kind
            {
                self.read_only_tx = true;
            }
        }
        if !in_trans && !matches!(c.kind, StatementKind::Begin { .. }) {
            self.read_only_tx = false;
        }
        if !in_trans {
            self.transaction_start.clear();
            self.forget_multi_node_tx();
        }
        self.pins.transaction = in_trans || !self.state.autocommit() || self.read_only_tx;
        if !in_trans {
            self.tx_in_flight = None;
        }
        let transaction_control = matches!(
            c.kind,
            StatementKind::Begin { .. }
                | StatementKind::Commit
                | StatementKind::Rollback
                | StatementKind::Savepoint
        );
        let f = &c.flags;
        let sticky_kind = matches!(
            c.kind,
            StatementKind::LockTables
                | StatementKind::SqlPrepare
                | StatementKind::Handler
                | StatementKind::Xa
                | StatementKind::Set(SetKind::UserVariables)
                | StatementKind::Set(SetKind::Other)
        );
        if o.error.is_none()
            && (f.temporary_table
                || f.assigns_user_variable
                || f.named_lock
                || sticky_kind
                || (unreplayable_change
                    && !transaction_control
                    && matches!(
                        c.kind,
                        StatementKind::Call | StatementKind::Other | StatementKind::Do
                    )))
        {
            self.pins.session_state = true;
            if c.kind != StatementKind::LockTables {
                // UNLOCK TABLES can no longer unpin (see `metadata`).
                self.table_locks.unlock_unpins = false;
            }
        }
        // The diagnostics area of a statement on several connections is
        // the proxy's; a statement that resets it on a server resets it here.
        let kept = self.keeps_diagnostics && o.warnings == 0 && o.error.is_none();
        if !(f.reads_diagnostics || kept) {
            // After a list the proxy held, a statement without warnings
            // leaves an empty one: the connection that held the old list
            // may not be the one this statement ran on.
            let emptied = match self.shard_warnings.take() {
                Some(old) if o.warnings == 0 && o.error.is_none() && !old.defs.is_empty() => {
                    Some(old.emptied())
                }
                _ => None,
            };
            self.shard_row_count = emptied.as_ref().map(|_| match o.result_sets {
                0 => i64::try_from(o.affected_rows).unwrap_or(i64::MAX),
                _ => -1,
            });
            self.shard_warnings = emptied;
        } else if self.shard_row_count.is_some()
            && !(f.reads_diagnostics && c.kind == StatementKind::Other)
        {
            // ROW_COUNT is every statement's but GET DIAGNOSTICS's: -1
            // after a result set, else the rows changed (0 for a SET).
            self.shard_row_count = Some(match o.result_sets {
                0 => i64::try_from(o.affected_rows).unwrap_or(i64::MAX),
                _ => -1,
            });
        }
        // Held only while the next statement may ask about this one; an
        // idle session gives the connection back (see `next_command`).
        // Statements that read diagnostics do not reset them: keep holding.
        self.pins.diagnostics = ((f.reads_diagnostics || self.tableless_read || kept)
            && self.pins.diagnostics)
            || o.warnings > 0
            || o.error.is_some()
            || f.calc_found_rows
            || matches!(
                c.kind,
                StatementKind::Insert
                    | StatementKind::Update
                    | StatementKind::Delete
                    | StatementKind::Replace
            );
        self.release_unpinned();
    }
}

/// Server errors after which InnoDB has rolled the whole transaction back
/// (not just the statement): a deadlock (1213 `ER_LOCK_DEADLOCK`) and, in
/// an XA branch, 1614 `ER_XA_RBDEADLOCK`.
pub(super) fn rolls_back_transaction(code: u16) -> bool {
    matches!(code, 1213 | 1614)
}
