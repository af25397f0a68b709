//! The column lists `INSERT INTO t VALUES …` (no column list) needs:
//! fetched once per logical table from its slot-0 physical table, cached
//! in the router, forgotten after DDL through the proxy.
//!
//! Owns: filling and clearing that cache. Must not: plan the INSERT.

use super::*;

impl Session {
    /// After DDL through the proxy the column lists cached for INSERT
    /// without a column list may be stale.
    pub(in crate::frontend::session) fn forget_columns_after(&self, c: &Classified) {
        if c.kind == StatementKind::Ddl {
            if let Some(r) = self.proxy.shard_router.load_full() {
                r.forget_columns();
            }
            if let Some(r) = &self.tx_router {
                r.forget_columns();
            }
        }
    }

    /// Before planning `INSERT INTO t VALUES …` without a column list into
    /// a sharded table: learns `t`'s columns (from its slot-0 physical
    /// table, on the primary) so the router can find the sharding key.
    pub(in crate::frontend::session) async fn ensure_insert_columns(
        &mut self,
        router: &ShardRouter,
        text: &str,
        c: &Classified,
    ) -> Result<()> {
        if !matches!(c.kind, StatementKind::Insert | StatementKind::Replace) {
            return Ok(());
        }
        let Some((schema, table, node, physical)) =
            router.columns_needed(text, self.state.schema.as_deref())
        else {
            return Ok(());
        };
        let columns = self.fetch_columns(&schema, &table, node, &physical).await?;
        router.remember_columns(&schema, &table, columns);
        Ok(())
    }

    /// The visible columns of `physical` (the slot-0 table of logical
    /// `table`) in table order, read on `node`'s primary (on a held
    /// primary connection if there is one). An empty list is the server's
    /// 1146 for the logical table.
    pub(in crate::frontend::session) async fn fetch_columns(
        &mut self,
        schema: &str,
        table: &str,
        node: usize,
        physical: &str,
    ) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
             AND TABLE_NAME = {} AND EXTRA NOT LIKE '%INVISIBLE%' ORDER BY ORDINAL_POSITION",
            crate::session_state::quote_str(schema),
            crate::session_state::quote_str(physical)
        );
        // A held primary connection may hold table locks; information_schema
        // stays readable under LOCK TABLES.
        let rows = match self
            .held
            .iter_mut()
            .find(|h| h.node == node && h.role == Role::Primary)
        {
            Some(h) => query_rows(&mut h.conn, &sql).await,
            None => {
                let pool = self
                    .proxy
                    .cluster
                    .nodes
                    .get(node)
                    .ok_or_else(|| ProxyError::Internal(format!("no node #{node}")))?
                    .primary
                    .clone();
                let found_rows = self.flavor();
                let mut conn = pool.checkout(found_rows, &self.state).await?;
                let rows = query_rows(&mut conn, &sql).await;
                if !conn.broken {
                    conn.release();
                }
                rows
            }
        }?;
        let columns: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        if columns.is_empty() {
            return Err(ProxyError::Backend(ErrPacket::new(
                1146,
                "42S02",
                format!("Table '{schema}.{table}' doesn't exist"),
            )));
        }
        Ok(columns)
    }
}
