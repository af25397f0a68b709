//! The column lists `INSERT INTO t VALUES …` (no column list) needs, and
//! the ENUM/SET columns a cross-shard SELECT sorts by position: fetched
//! once per logical table from its slot-0 physical table, cached in the
//! router, forgotten after DDL through the proxy.
//!
//! Owns: filling and clearing those caches. Must not: plan statements.

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
        let rows = self.primary_rows(node, &sql).await?;
        let columns = crate::backend::connection::first_column_text(rows);
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

impl Session {
    /// Before planning a SELECT whose cross-shard merge compares keys:
    /// learns which columns of its sharded tables are ENUM/SET (sorted by
    /// member position, not text), once per table. `true`: none were
    /// needed (all known, or the statement compares none).
    pub(in crate::frontend::session) async fn ensure_select_kinds(
        &mut self,
        router: &ShardRouter,
        text: &str,
        c: &Classified,
    ) -> Result<bool> {
        if c.kind != StatementKind::Select {
            return Ok(true);
        }
        let tokens = self.kept_tokens.for_text(text);
        let needed = router.kinds_needed(text, tokens, self.state.schema.as_deref());
        let settled = needed.is_empty();
        self.fetch_kinds(router, needed).await?;
        Ok(settled)
    }

    /// Learns the ENUM/SET and plain columns of each `(schema, logical
    /// table, slot-0 node, slot-0 physical table)`.
    pub(in crate::frontend::session) async fn fetch_kinds(
        &mut self,
        router: &ShardRouter,
        needed: Vec<(String, String, usize, String)>,
    ) -> Result<()> {
        for (schema, table, node, physical) in needed {
            let sql = format!(
                "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
                 AND TABLE_NAME = {}",
                crate::session_state::quote_str(&schema),
                crate::session_state::quote_str(&physical)
            );
            let rows = self.primary_rows(node, &sql).await?;
            if rows.is_empty() {
                // No such table (yet): the statement reports it.
                continue;
            }
            // Integer, DECIMAL and temporal keys compare natively: they
            // need no weight columns.
            const PLAIN: &[&str] = &[
                "tinyint",
                "smallint",
                "mediumint",
                "int",
                "bigint",
                "decimal",
                "date",
                "datetime",
                "timestamp",
                "time",
                "year",
            ];
            let (mut enums, mut plain, mut retyped) = (Vec::new(), Vec::new(), Vec::new());
            for r in rows {
                let mut r = r.into_iter();
                let (Some(name), Some(kind)) = (r.next().flatten(), r.next().flatten()) else {
                    continue;
                };
                let kind = String::from_utf8_lossy(&kind).to_ascii_lowercase();
                let name = String::from_utf8_lossy(&name).into_owned();
                if crate::router::shard::node_union::RETYPED.contains(&kind.as_str()) {
                    retyped.push(name.clone());
                }
                if kind == "enum" || kind == "set" {
                    enums.push(name);
                } else if PLAIN.contains(&kind.as_str()) {
                    plain.push(name);
                }
            }
            router.remember_kinds(&schema, &table, enums, plain, retyped);
        }
        Ok(())
    }

    /// Rows of a metadata query on `node`'s primary (on the held
    /// connection there, if any: it may hold table locks, and
    /// information_schema stays readable under LOCK TABLES).
    pub(in crate::frontend::session) async fn primary_rows(
        &mut self,
        node: usize,
        sql: &str,
    ) -> Result<Vec<Row>> {
        if let Some(h) = self
            .held
            .iter_mut()
            .find(|h| h.node == node && h.role == Role::Primary)
        {
            return query_rows(&mut h.conn, sql).await;
        }
        let pool = self
            .proxy
            .cluster
            .nodes
            .get(node)
            .ok_or_else(|| ProxyError::Internal(format!("no node #{node}")))?
            .primary();
        let found_rows = self.flavor();
        let mut conn = pool.checkout(&found_rows, &self.state).await?;
        let rows = query_rows(&mut conn, sql).await;
        if !conn.broken {
            conn.release();
        }
        rows
    }
}
