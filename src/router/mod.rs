//! Deciding where a statement runs: which node (by the session's schema and,
//! later, the sharding rules) and which role (primary or replica) under the
//! read/write-splitting rules.
//!
//! Owns: [`RoutePlan`] and the rules that produce it. Must not do I/O or
//! touch connections; `replica` picks among live replicas from figures the
//! health checker keeps; [`shard`] plans statements on sharded tables
//! (targets, physical SQL, merge recipe).

pub mod replica;
pub mod shard;

use crate::backend::Role;
use crate::config::Consistency;
use crate::sql::{Classified, RouteHint, SetKind, ShowKind, StatementKind};

/// Where one statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    pub node: usize,
    pub role: Role,
    /// Why, for `EXPLAIN SHARDCAT` and logs.
    pub reason: &'static str,
}

/// What routing needs to know about the session.
#[derive(Debug, Clone, Copy)]
pub struct SessionView {
    pub node: usize,
    pub in_transaction: bool,
    pub read_only_transaction: bool,
    pub autocommit: bool,
    pub read_write_split: bool,
    pub consistency: Consistency,
    /// The session holds unreplayable state on its primary connection.
    pub pinned_to_primary: bool,
}

/// True for statements that only read and have no effect a replica could
/// not reproduce.
pub fn is_plain_read(c: &Classified) -> bool {
    let f = &c.flags;
    let read_kind = matches!(
        c.kind,
        StatementKind::Select | StatementKind::Describe | StatementKind::Explain
    ) || matches!(
        c.kind,
        StatementKind::Show(
            ShowKind::Tables
                | ShowKind::Databases
                | ShowKind::CreateTable
                | ShowKind::Columns
                | ShowKind::Variables
                | ShowKind::Status
                | ShowKind::Other
        )
    );
    read_kind
        && !f.locking_read
        && !f.select_into
        && !f.side_effect_function
        && !f.named_lock
        && !f.releases_named_lock
        && !f.uses_last_insert_id
        && !f.uses_found_rows
        && !f.uses_row_count
        && !f.reads_diagnostics
        && !f.assigns_user_variable
        && !f.temporary_table
}

/// Statements that only change session state the proxy replays itself
/// (system variables, current database): any server of the node can run
/// them, so they follow reads and keep working while the primary is down.
pub fn is_session_only(c: &Classified) -> bool {
    matches!(
        c.kind,
        StatementKind::Use { .. } | StatementKind::Set(SetKind::SystemOnly | SetKind::Transaction)
    ) && !c.flags.assigns_user_variable
}

/// The read/write-splitting decision for one statement on one node.
pub fn route(c: &Classified, s: &SessionView) -> RoutePlan {
    let plan = |role, reason| RoutePlan {
        node: s.node,
        role,
        reason,
    };
    if let Some(RouteHint::Primary) = c.hint {
        if !s.read_only_transaction {
            return plan(Role::Primary, "hint shardcat:primary");
        }
    }
    if s.in_transaction {
        return if s.read_only_transaction {
            plan(Role::Replica, "read-only transaction (pinned replica)")
        } else {
            plan(Role::Primary, "inside a transaction")
        };
    }
    if !s.autocommit {
        return plan(Role::Primary, "autocommit is off (implicit transaction)");
    }
    if let StatementKind::Begin {
        read_only: true, ..
    } = c.kind
    {
        if s.read_write_split && !s.pinned_to_primary {
            return plan(Role::Replica, "START TRANSACTION READ ONLY");
        }
    }
    if s.pinned_to_primary {
        return plan(Role::Primary, "session holds state on the primary");
    }
    if !s.read_write_split {
        return plan(Role::Primary, "read/write splitting is off");
    }
    // A replica hint moves only what a replica may run: a write (or a
    // statement with side effects) under it still goes to the primary, so
    // no hint can make a replica diverge.
    if let Some(RouteHint::Replica) = c.hint {
        if is_plain_read(c) || is_session_only(c) {
            return plan(Role::Replica, "hint shardcat:replica");
        }
        return plan(
            Role::Primary,
            "hint shardcat:replica ignored: not a plain read",
        );
    }
    if is_session_only(c) {
        return plan(Role::Replica, "session setting");
    }
    if is_plain_read(c) {
        if s.consistency == Consistency::Strong {
            return plan(Role::Primary, "strong consistency");
        }
        return plan(Role::Replica, "plain read");
    }
    plan(Role::Primary, "write or statement with side effects")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::classify;

    fn view() -> SessionView {
        SessionView {
            node: 0,
            in_transaction: false,
            read_only_transaction: false,
            autocommit: true,
            read_write_split: true,
            consistency: Consistency::Eventual,
            pinned_to_primary: false,
        }
    }

    #[test]
    fn replica_hint_never_moves_a_write() {
        for sql in [
            "/* shardcat:replica */ INSERT INTO t VALUES (1)",
            "/* shardcat:replica */ UPDATE t SET a = 1",
            "/* shardcat:replica */ DELETE FROM t",
            "/* shardcat:replica */ REPLACE INTO t VALUES (1)",
            "/* shardcat:replica */ CREATE TABLE x (a INT)",
            "/* shardcat:replica */ SELECT * FROM t FOR UPDATE",
            "/* shardcat:replica */ SELECT GET_LOCK('x', 1)",
            "/* shardcat:replica */ SELECT * FROM t INTO OUTFILE '/tmp/x'",
            "/* shardcat:replica */ SET @x = 1",
            "/* shardcat:replica */ CALL p()",
            "/* shardcat:replica */ LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
            "/* shardcat:replica */ SET GLOBAL read_only = 0",
        ] {
            assert_eq!(route(&classify(sql), &view()).role, Role::Primary, "{sql}");
        }
        for sql in [
            "/* shardcat:replica */ SELECT * FROM t",
            "/* shardcat:replica */ SHOW TABLES",
        ] {
            assert_eq!(route(&classify(sql), &view()).role, Role::Replica, "{sql}");
        }
    }
}
