//! Reads of composite period tables that do not exist: before a SELECT
//! runs, the composite period tables it reads that are not known to exist
//! are looked up on their nodes (`information_schema`, one query per
//! node and logical table, remembered for the tables found), and those
//! missing are read as empty tables of their shape
//! (`router::shard::period_tables`), so the answer is what one server
//! holding the data gives: no rows from them, never a 1146.
//!
//! Owns: running the lookups. Must not plan or rewrite SQL.

use super::Session;
use crate::backend::connection::first_column_text;
use crate::router::shard::ShardPlan;
use crate::sql::{Classified, StatementKind};

impl Session {
    /// `plan` (a SELECT's) with its missing composite period tables read
    /// as empty; `None` when nothing changes or a lookup failed (the
    /// statement then runs as planned and reports what the server says).
    pub(super) async fn with_missing_periods_empty(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
    ) -> Option<ShardPlan> {
        if c.kind != StatementKind::Select {
            return None;
        }
        let router = self.proxy.config.load().sharding.clone();
        let unverified = router.unverified_periods(plan);
        if unverified.is_empty() {
            return None;
        }
        for (node, table) in unverified {
            let sql = router.period_lookup_sql(table, node, self.state.schema.as_deref())?;
            let rows = self.primary_rows(node, &sql).await.ok()?;
            router.remember_present(node, first_column_text(rows));
        }
        router.empty_missing_periods(plan)
    }
}
