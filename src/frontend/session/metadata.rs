//! Logical tables seen by tools: running what
//! [`ShardRouter::metadata`](crate::router::shard::ShardRouter::metadata)
//! decides for `DESCRIBE`, `SHOW COLUMNS/INDEX/CREATE TABLE`, `SHOW TABLE
//! STATUS`, COM_FIELD_LIST, `LOCK TABLES`/`UNLOCK TABLES` and `ALTER TABLE
//! … DISABLE KEYS` on sharded tables, and fetching the column lists that
//! `INSERT INTO t VALUES …` (no column list) needs.
//!
//! Answers come from the physical table of slot 0; wherever the physical
//! name appears (the `Table` column, the `CREATE TABLE` text, column
//! definitions of COM_FIELD_LIST, error messages) the logical name is
//! shown instead, as one server holding the logical table would answer.
//!
//! Owns: running those statements and rewriting their answers, and the
//! session's table-lock state. Must not plan DML (that is `router::shard`)
//! or merge rows of scattered reads (that is `execute::scatter`).

use bytes::Bytes;
use mysql_common::constants::CapabilityFlags;

use super::sharded::ShardedPath;
use super::{Ran, Session};
use crate::backend::{BackendConn, Role};
use crate::error::{ProxyError, Result};
use crate::execute::Outcome;
use crate::router::shard::meta::{
    like_matches, logical_create_table, logical_message, Describe, DescribeKind, MetaStatement,
};
use crate::router::shard::ShardRouter;
use crate::router::{self, RoutePlan};
use crate::sql::{Classified, StatementKind};
use crate::wire::command;
use crate::wire::packets::{
    encode_eof, is_err, is_terminator, put_lenenc_bytes, put_lenenc_int, ErrPacket, OkPacket,
    Reader,
};

/// Table locks the session holds through `LOCK TABLES` on sharded or
/// broadcast tables (the connections holding them stay pinned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TableLocks {
    /// Some table is locked (on one or several nodes).
    pub held: bool,
    /// Some lock is a WRITE lock (other connections cannot read those
    /// tables meanwhile).
    pub write: bool,
    /// Nothing but these table locks pins the session (no user variable,
    /// temporary table... before or since): `UNLOCK TABLES` gives its
    /// connections back, so a dump session scatters reads again.
    pub unlock_unpins: bool,
}

/// A whole result read into memory (metadata answers are small).
struct Fetched {
    columns: Vec<Bytes>,
    rows: Vec<Vec<Option<Vec<u8>>>>,
    ok: OkPacket,
}

type Row = Vec<Option<Vec<u8>>>;

impl Session {
    fn metadata_router(&mut self) -> Option<std::sync::Arc<ShardRouter>> {
        if self.pins.transaction {
            if self.tx_router.is_none() {
                self.tx_router = self.proxy.shard_router.load_full();
            }
            return self.tx_router.clone();
        }
        self.proxy.shard_router.load_full()
    }

    /// Metadata statements on logical tables, `LOCK`/`UNLOCK TABLES`
    /// spanning nodes. `None`: not one of them, route as usual.
    pub(super) fn metadata_path(&mut self, text: &str, c: &Classified) -> Option<ShardedPath> {
        if c.kind == StatementKind::UnlockTables && (self.table_locks.held || self.held.len() > 1) {
            return Some(ShardedPath::UnlockEverywhere);
        }
        let candidate = match c.kind {
            StatementKind::Show(_)
            | StatementKind::Describe
            | StatementKind::LockTables
            | StatementKind::Ddl
            | StatementKind::Analyze
            | StatementKind::Optimize
            | StatementKind::Check
            | StatementKind::Checksum
            | StatementKind::Repair => true,
            // Only reads of information_schema: keep the lexing off the
            // path of ordinary SELECTs.
            StatementKind::Select => text
                .as_bytes()
                .windows(b"information_schema".len())
                .any(|w| w.eq_ignore_ascii_case(b"information_schema")),
            _ => false,
        };
        if !candidate {
            return None;
        }
        let router = self.metadata_router()?;
        let meta = router.metadata(text, self.state.schema.as_deref())?;
        Some(ShardedPath::Metadata(router, meta))
    }

    /// Runs a statement [`metadata_path`](Self::metadata_path) recognised.
    pub(super) async fn run_metadata(
        &mut self,
        router: std::sync::Arc<ShardRouter>,
        meta: MetaStatement,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        match meta {
            MetaStatement::Describe(d) => self.run_describe(d, c, seq).await,
            MetaStatement::TableStatus { sql, like } => {
                self.run_table_status(&router, &sql, like.as_deref(), c, seq)
                    .await
            }
            MetaStatement::Lock(per_node) => {
                let write = crate::sql::lexer::tokenize(text)
                    .iter()
                    .any(|t| t.is_keyword(text.as_bytes(), "WRITE"));
                self.run_lock(&per_node, write, c, seq).await
            }
            MetaStatement::Plan(plan) => {
                self.run_scatter_write(&plan, c, crate::execute::Encoding::Text, seq)
                    .await
            }
            MetaStatement::Maintenance { checksum, items } => {
                self.run_maintenance(checksum, &items, c, seq).await
            }
            MetaStatement::Refused(why) => {
                let node = self.node_for_session();
                self.fail_metadata(c, node, ProxyError::Routing(why), seq)
                    .await
            }
            MetaStatement::InformationSchema { node, sql, listing } => {
                self.run_information_schema(&router, node, &sql, listing, c, seq)
                    .await
            }
        }
    }

    /// A scattered read while the session holds only READ table locks and
    /// no transaction, with several physical tables on one node, may run
    /// on pooled connections (see `target_connections`). Not when it reads
    /// user variables, which live on the pinned connections only.
    pub(super) fn read_locks_allow_pooled(&self, plan: &crate::router::shard::ShardPlan) -> bool {
        if !self.table_locks.held
            || self.table_locks.write
            || self.pins.transaction
            || self.held.iter().any(|h| h.conn.in_transaction())
        {
            return false;
        }
        let mut nodes: Vec<usize> = plan.targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.len() == plan.targets.len() {
            return false;
        }
        !plan.targets.iter().any(|t| {
            crate::sql::lexer::tokenize(&t.sql)
                .iter()
                .any(|tok| tok.kind == crate::sql::TokenKind::UserVar)
        })
    }

    /// After DDL through the proxy the column lists cached for INSERT
    /// without a column list may be stale.
    pub(super) fn forget_columns_after(&self, c: &Classified) {
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
    pub(super) async fn ensure_insert_columns(
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
        let sql = format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} \
             AND TABLE_NAME = {} AND EXTRA NOT LIKE '%INVISIBLE%' ORDER BY ORDINAL_POSITION",
            crate::session::quote_str(&schema),
            crate::session::quote_str(&physical)
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
                let found_rows = self.caps.contains(CapabilityFlags::CLIENT_FOUND_ROWS);
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
        router.remember_columns(&schema, &table, columns);
        Ok(())
    }

    /// Acquires a connection for a read of metadata on `node` (the route a
    /// plain read would take).
    async fn metadata_conn(&mut self, node: usize, c: &Classified) -> Result<usize> {
        let plan = RoutePlan {
            node,
            role: router::route(c, &self.view(node)).role,
            reason: "metadata of a logical table",
        };
        self.acquire(&plan, c).await
    }

    /// Runs `sql` on held connection `i` and reads the whole answer.
    async fn fetch_on(&mut self, i: usize, sql: &str) -> Result<Fetched> {
        let node = self.held[i].node;
        let conn = &mut self.held[i].conn;
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(command::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        conn.send_command(&payload).await?;
        let f = read_result(conn).await?;
        // OPTIMIZE/ANALYZE/REPAIR are replicated writes: later reads of
        // this session on the node's replicas wait for them.
        for change in &f.ok.changes {
            if let crate::wire::packets::SessionChange::SystemVariable { name, value } = change {
                if name == "last_gtid" && !value.is_empty() {
                    if let Some(slot) = self.last_gtid.get_mut(node) {
                        *slot = Some(value.clone());
                        self.gtid_confirmed.clear();
                    }
                }
            }
        }
        Ok(f)
    }

    /// Ends a metadata statement: session bookkeeping as for any statement.
    fn finish_metadata(&mut self, c: &Classified, node: usize, outcome: Outcome) {
        self.held.retain(|h| !h.conn.broken);
        self.after_statement(c, &Ran { outcome, node });
    }

    async fn fail_metadata(&mut self, c: &Classified, node: usize, e: ProxyError, seq: &mut u8) {
        self.write_error_seq(&e, seq).await;
        let outcome = Outcome {
            status: self.status,
            error: Some(e.to_err_packet()),
            ..Outcome::default()
        };
        self.finish_metadata(c, node, outcome);
    }

    async fn run_describe(&mut self, d: Describe, c: &Classified, seq: &mut u8) {
        let fetched = match self.metadata_conn(d.node, c).await {
            Ok(i) => self.fetch_on(i, &d.sql).await,
            Err(e) => Err(e),
        };
        let mut f = match fetched {
            Ok(f) => f,
            Err(e) => {
                let e = logical_error(e, &d.physical, &d.logical);
                self.fail_metadata(c, d.node, e, seq).await;
                return;
            }
        };
        let names = column_names(&f.columns);
        let table_col = names.iter().position(|n| n == "Table");
        let create_col = names.iter().position(|n| n == "Create Table");
        for row in &mut f.rows {
            if matches!(d.kind, DescribeKind::Index | DescribeKind::CreateTable) {
                if let Some(v) = table_col.and_then(|i| row.get_mut(i)) {
                    if v.as_deref() == Some(d.physical.as_bytes()) {
                        *v = Some(d.logical.clone().into_bytes());
                    }
                }
            }
            if d.kind == DescribeKind::CreateTable {
                if let Some(Some(v)) = create_col.and_then(|i| row.get_mut(i)) {
                    let text = String::from_utf8_lossy(v).into_owned();
                    *v = logical_create_table(&text, &d.physical, &d.logical).into_bytes();
                }
            }
        }
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, d.node, outcome);
    }

    /// An `information_schema` read about sharded tables, answered by the
    /// node of their slot-0 physical tables, names mapped back.
    async fn run_information_schema(
        &mut self,
        router: &ShardRouter,
        node: usize,
        sql: &str,
        listing: bool,
        c: &Classified,
        seq: &mut u8,
    ) {
        let fetched = match self.metadata_conn(node, c).await {
            Ok(i) => self.fetch_on(i, sql).await,
            Err(e) => Err(e),
        };
        let mut f = match fetched {
            Ok(f) => f,
            Err(e) => {
                self.fail_metadata(c, node, e, seq).await;
                return;
            }
        };
        let names = column_names(&f.columns);
        if listing {
            // One row set per logical table: slot 0's.
            if let Some(t) = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case("TABLE_NAME"))
            {
                f.rows.retain(|row| {
                    let physical = row.get(t).cloned().flatten();
                    physical
                        .and_then(|p| router.physical_slot(&String::from_utf8_lossy(&p)))
                        .is_none_or(|(_, first)| first)
                });
            }
        }
        let name_columns: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.to_ascii_uppercase().ends_with("TABLE_NAME"))
            .map(|(i, _)| i)
            .collect();
        for row in &mut f.rows {
            for &i in &name_columns {
                if let Some(Some(v)) = row.get_mut(i) {
                    if let Some(logical) = std::str::from_utf8(v)
                        .ok()
                        .and_then(|p| router.logical_name_of(p))
                    {
                        *v = logical.into_bytes();
                    }
                }
            }
        }
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, node, outcome);
    }

    /// `CHECKSUM|ANALYZE|OPTIMIZE|CHECK|REPAIR TABLE` naming sharded
    /// tables: run on every physical table; per listed table, CHECKSUM
    /// adds the physical tables' checksums (the server's table checksum is
    /// a sum of row checksums modulo 2^32, so the sum is the logical
    /// table's; NULL when any part is NULL), the others show the slot-0
    /// answer, or the first physical table's answer reporting an error.
    async fn run_maintenance(
        &mut self,
        checksum: bool,
        items: &[crate::router::shard::meta::MaintenanceItem],
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut columns: Option<Vec<Bytes>> = None;
        let mut out: Vec<Row> = Vec::new();
        let mut last_ok = OkPacket::default();
        let node_for_session = self.node_for_session();
        for item in items {
            let mut chosen: Option<Vec<Row>> = None;
            let mut sum: Option<Option<u64>> = None;
            for (k, (node, sql, physical)) in item.parts.iter().enumerate() {
                let fetched = match self.metadata_conn(*node, c).await {
                    Ok(i) => self.fetch_on(i, sql).await,
                    Err(e) => Err(e),
                };
                let mut f = match fetched {
                    Ok(f) => f,
                    Err(e) => {
                        let e = match &item.logical {
                            Some(l) => logical_error(e, physical, l),
                            None => e,
                        };
                        self.fail_metadata(c, node_for_session, e, seq).await;
                        return;
                    }
                };
                if let Some(l) = &item.logical {
                    for row in &mut f.rows {
                        if let Some(Some(v)) = row.get_mut(0) {
                            let shown = logical_message(&String::from_utf8_lossy(v), physical, l);
                            *v = shown.into_bytes();
                        }
                    }
                }
                if checksum {
                    let part = f.rows.first().and_then(|r| number(r.get(1)));
                    sum = Some(match sum {
                        None => part,
                        Some(acc) => acc
                            .zip(part)
                            .map(|(a, b)| (a % (1u64 << 32) + b % (1u64 << 32)) % (1u64 << 32)),
                    });
                    if chosen.is_none() {
                        chosen = Some(f.rows.clone());
                    }
                } else {
                    let names = column_names(&f.columns);
                    let type_col = names.iter().position(|n| n == "Msg_type");
                    let failed = type_col.is_some_and(|t| {
                        f.rows.iter().any(|r| {
                            r.get(t)
                                .cloned()
                                .flatten()
                                .is_some_and(|v| v.eq_ignore_ascii_case(b"error"))
                        })
                    });
                    if k == 0 || failed {
                        let keep_first_error = k > 0 && chosen_failed(&chosen, type_col);
                        if !keep_first_error {
                            chosen = Some(f.rows.clone());
                        }
                    }
                }
                columns.get_or_insert(f.columns);
                last_ok = f.ok;
            }
            let mut rows = chosen.unwrap_or_default();
            if let (true, Some(total)) = (checksum, sum) {
                if let Some(row) = rows.first_mut() {
                    if let Some(v) = row.get_mut(1) {
                        *v = total.map(|t| t.to_string().into_bytes());
                    }
                }
            }
            out.extend(rows);
        }
        let Some(columns) = columns else {
            self.fail_metadata(
                c,
                node_for_session,
                ProxyError::Internal("no table to check".into()),
                seq,
            )
            .await;
            return;
        };
        let f = Fetched {
            columns,
            rows: out,
            ok: last_ok,
        };
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, node_for_session, outcome);
    }

    /// `SHOW TABLE STATUS` gathered from every node: one row per logical
    /// table (physical tables of a sharded table summed), filtered by the
    /// `LIKE` pattern on logical names.
    async fn run_table_status(
        &mut self,
        router: &ShardRouter,
        sql: &str,
        like: Option<&str>,
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut columns: Option<Vec<Bytes>> = None;
        let mut merged: std::collections::BTreeMap<String, Row> = Default::default();
        let mut last_ok = OkPacket::default();
        let mut unknown_db: Option<ProxyError> = None;
        let mut answered = false;
        let node_for_session = self.node_for_session();
        for node in 0..self.proxy.cluster.nodes.len() {
            let fetched = match self.metadata_conn(node, c).await {
                Ok(i) => self.fetch_on(i, sql).await,
                Err(e) => Err(e),
            };
            let f = match fetched {
                Ok(f) => f,
                // A database created on some nodes only: the others do not
                // hold its tables.
                Err(ProxyError::Backend(e)) if e.code == 1049 => {
                    unknown_db = Some(ProxyError::Backend(e));
                    continue;
                }
                Err(e) => {
                    self.fail_metadata(c, node_for_session, e, seq).await;
                    return;
                }
            };
            answered = true;
            let names = column_names(&f.columns);
            let idx = |n: &str| names.iter().position(|x| x == n);
            let (name_i, rows_i, avg_i, data_i, index_i, free_i, auto_i, checksum_i, update_i) = (
                idx("Name"),
                idx("Rows"),
                idx("Avg_row_length"),
                idx("Data_length"),
                idx("Index_length"),
                idx("Data_free"),
                idx("Auto_increment"),
                idx("Checksum"),
                idx("Update_time"),
            );
            for mut row in f.rows {
                let Some(Some(physical)) = name_i.and_then(|i| row.get(i)) else {
                    continue;
                };
                let physical = String::from_utf8_lossy(physical).into_owned();
                let Some(logical) = router.logical_name_of(&physical) else {
                    // Broadcast copies and tables without a rule: the first
                    // node's row.
                    merged.entry(physical).or_insert(row);
                    continue;
                };
                if let Some(v) = name_i.and_then(|i| row.get_mut(i)) {
                    *v = Some(logical.clone().into_bytes());
                }
                // The next value of one shard, and a checksum of one shard,
                // say nothing about the logical table.
                for i in [auto_i, checksum_i].into_iter().flatten() {
                    if let Some(v) = row.get_mut(i) {
                        *v = None;
                    }
                }
                match merged.get_mut(&logical) {
                    None => {
                        merged.insert(logical, row);
                    }
                    Some(acc) => {
                        for i in [rows_i, data_i, index_i, free_i].into_iter().flatten() {
                            add_numbers(acc, &row, i);
                        }
                        if let Some(i) = update_i {
                            // The latest change of any physical table.
                            if let (Some(new), Some(old)) = (row.get(i), acc.get_mut(i)) {
                                if new > old {
                                    *old = new.clone();
                                }
                            }
                        }
                    }
                }
            }
            if let (Some(avg), Some(rows), Some(data)) = (avg_i, rows_i, data_i) {
                for acc in merged.values_mut() {
                    let n = number(acc.get(rows));
                    let d = number(acc.get(data));
                    if let (Some(n), Some(d)) = (n, d) {
                        if let Some(v) = acc.get_mut(avg) {
                            *v = Some(d.checked_div(n).unwrap_or(0).to_string().into_bytes());
                        }
                    }
                }
            }
            columns.get_or_insert(f.columns);
            last_ok = f.ok;
        }
        let Some(columns) = columns else {
            let e = match (answered, unknown_db) {
                (false, Some(e)) => e,
                _ => ProxyError::Internal("SHOW TABLE STATUS: no node answered".into()),
            };
            self.fail_metadata(c, node_for_session, e, seq).await;
            return;
        };
        let rows: Vec<Row> = merged
            .into_iter()
            .filter(|(name, _)| like.is_none_or(|p| like_matches(p, name)))
            .map(|(_, r)| r)
            .collect();
        let f = Fetched {
            columns,
            rows,
            ok: last_ok,
        };
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, node_for_session, outcome);
    }

    /// `LOCK TABLES` naming sharded or broadcast tables: the physical
    /// tables are locked on every node holding them, each on the session's
    /// primary connection of that node (pinned until the session resets,
    /// as for any `LOCK TABLES`). Locks held on other nodes are released
    /// (a new `LOCK TABLES` releases the previous ones). On a failure no
    /// lock stays.
    async fn run_lock(
        &mut self,
        per_node: &[(usize, String)],
        write: bool,
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut failure = None;
        let mut status = self.status;
        let mut last_node = self.node_for_session();
        let unlock_unpins = if self.table_locks.held {
            self.table_locks.unlock_unpins
        } else {
            !self.pins.session_state
        };
        for (node, sql) in per_node {
            let plan = RoutePlan {
                node: *node,
                role: Role::Primary,
                reason: "LOCK TABLES",
            };
            let result = match self.acquire(&plan, c).await {
                Ok(i) => {
                    let r = self.held[i].conn.query_drop(sql).await;
                    status = self.held[i].conn.status;
                    r
                }
                Err(e) => Err(e),
            };
            last_node = *node;
            if let Err(e) = result {
                failure = Some(e);
                break;
            }
        }
        for h in self.held.iter_mut() {
            let locked_here = failure.is_none() && per_node.iter().any(|(n, _)| *n == h.node);
            if !locked_here && !h.conn.broken {
                // Best effort: a connection that cannot unlock is broken and
                // dropped below, which releases its locks.
                if h.conn.query_drop("UNLOCK TABLES").await.is_err() {
                    h.conn.broken = true;
                }
            }
        }
        match failure {
            Some(e) => {
                self.table_locks = TableLocks::default();
                self.fail_metadata(c, last_node, e, seq).await;
            }
            None => {
                self.table_locks = TableLocks {
                    held: true,
                    write,
                    unlock_unpins,
                };
                self.write_ok(seq, 0, 0, status, 0).await;
                let outcome = Outcome {
                    status,
                    sent_anything: true,
                    ..Outcome::default()
                };
                self.finish_metadata(c, last_node, outcome);
            }
        }
    }

    /// `UNLOCK TABLES` on every connection the session holds.
    pub(super) async fn unlock_everywhere(&mut self, c: &Classified, seq: &mut u8) {
        let mut failure = None;
        let mut status = self.status;
        for h in self.held.iter_mut() {
            match h.conn.query_drop("UNLOCK TABLES").await {
                Ok(()) => status = h.conn.status,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        let unpin = self.table_locks.held
            && self.table_locks.unlock_unpins
            && failure.is_none()
            && !self.pins.transaction;
        self.table_locks = TableLocks::default();
        if unpin {
            self.pins.session_state = false;
        }
        let node = self.node_for_session();
        match failure {
            Some(e) => self.fail_metadata(c, node, e, seq).await,
            None => {
                self.write_ok(seq, 0, 0, status, 0).await;
                let outcome = Outcome {
                    status,
                    sent_anything: true,
                    ..Outcome::default()
                };
                self.finish_metadata(c, node, outcome);
            }
        }
    }

    /// COM_FIELD_LIST of a sharded table: the slot-0 physical table's
    /// columns, with the logical name in their definitions. `false`: not a
    /// sharded table, forward as usual.
    pub(super) async fn try_field_list(&mut self, payload: &[u8], seq: &mut u8) -> bool {
        let Some(router) = self.metadata_router() else {
            return false;
        };
        let mut r = Reader::new(payload.get(1..).unwrap_or_default());
        let Some(table) = r.null_terminated() else {
            return false;
        };
        let wildcard = r.rest().to_vec();
        let table = String::from_utf8_lossy(table).into_owned();
        let Some(MetaStatement::Describe(d)) = router.metadata(
            &format!(
                "DESCRIBE {}",
                crate::router::shard::meta::quote_ident(&table)
            ),
            self.state.schema.as_deref(),
        ) else {
            return false;
        };
        let mut forward = vec![command::FIELD_LIST];
        forward.extend_from_slice(d.physical.as_bytes());
        forward.push(0);
        forward.extend_from_slice(&wildcard);
        let c = crate::sql::classify("SELECT 1");
        let answer = match self.metadata_conn(d.node, &c).await {
            Ok(i) => {
                let conn = &mut self.held[i].conn;
                match conn.send_command(&forward).await {
                    Ok(()) => read_field_list(conn).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((defs, status)) => {
                let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
                let mut ok = true;
                for def in &defs {
                    let def = rename_column_table(def, &d.physical, &d.logical);
                    ok &= self.client.send(seq, &def).await.is_ok();
                }
                let mut buf = Vec::new();
                if deprecate_eof {
                    OkPacket {
                        status,
                        ..OkPacket::default()
                    }
                    .encode(self.caps, 0xFE, &mut buf);
                } else {
                    encode_eof(&mut buf, 0, status);
                }
                if ok {
                    let _ = self.client.send(seq, &buf).await;
                }
            }
            Err(e) => {
                let e = logical_error(e, &d.physical, &d.logical);
                self.write_error_seq(&e, seq).await;
            }
        }
        self.held.retain(|h| !h.conn.broken);
        self.release_unpinned();
        true
    }

    /// Sends a fetched result to the client in the text protocol.
    async fn send_fetched(&mut self, f: &Fetched, seq: &mut u8) -> Outcome {
        let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let status = f.ok.status;
        let mut outcome = Outcome {
            status,
            warnings: f.ok.warnings,
            sent_anything: true,
            result_sets: 1,
            ..Outcome::default()
        };
        let send = async |client: &mut crate::execute::ClientStream, seq: &mut u8| {
            let mut buf = Vec::new();
            put_lenenc_int(&mut buf, f.columns.len() as u64);
            client.send(seq, &buf).await?;
            for col in &f.columns {
                client.send(seq, col).await?;
            }
            if !deprecate_eof {
                buf.clear();
                encode_eof(&mut buf, f.ok.warnings, status);
                client.send(seq, &buf).await?;
            }
            for row in &f.rows {
                buf.clear();
                for v in row {
                    match v {
                        Some(b) => put_lenenc_bytes(&mut buf, b),
                        None => buf.push(0xFB),
                    }
                }
                client.send(seq, &buf).await?;
            }
            buf.clear();
            if deprecate_eof {
                OkPacket {
                    status,
                    warnings: f.ok.warnings,
                    ..OkPacket::default()
                }
                .encode(self.caps, 0xFE, &mut buf);
            } else {
                encode_eof(&mut buf, f.ok.warnings, status);
            }
            client.send(seq, &buf).await
        };
        if send(&mut self.client, seq).await.is_err() {
            outcome.client_lost = true;
        }
        outcome
    }
}

/// Whether the rows kept so far report an error (`Msg_type` = error).
fn chosen_failed(chosen: &Option<Vec<Row>>, type_col: Option<usize>) -> bool {
    let (Some(rows), Some(t)) = (chosen, type_col) else {
        return false;
    };
    rows.iter().any(|r| {
        r.get(t)
            .cloned()
            .flatten()
            .is_some_and(|v| v.eq_ignore_ascii_case(b"error"))
    })
}

/// A backend error on a physical table, shown for the logical one.
fn logical_error(e: ProxyError, physical: &str, logical: &str) -> ProxyError {
    match e {
        ProxyError::Backend(mut p) => {
            p.message = logical_message(&p.message, physical, logical);
            ProxyError::Backend(p)
        }
        other => other,
    }
}

/// Reads a whole text-protocol answer (the backend negotiates
/// `CLIENT_DEPRECATE_EOF`: no EOF after the column definitions).
async fn read_result(conn: &mut BackendConn) -> Result<Fetched> {
    let first = conn.read_packet().await?;
    if is_err(&first.payload) {
        return Err(backend_error(&first.payload));
    }
    if first.payload.first() == Some(&0x00) {
        let ok = conn.absorb_ok(&first.payload).unwrap_or_default();
        return Ok(Fetched {
            columns: Vec::new(),
            rows: Vec::new(),
            ok,
        });
    }
    let ncols = Reader::new(&first.payload)
        .lenenc_int()
        .ok_or_else(|| ProxyError::MalformedPacket("column count".into()))?
        as usize;
    let mut columns = Vec::with_capacity(ncols.min(4096));
    for _ in 0..ncols {
        columns.push(conn.read_packet().await?.payload);
    }
    let mut rows = Vec::new();
    loop {
        let p = conn.read_packet().await?;
        if is_err(&p.payload) {
            return Err(backend_error(&p.payload));
        }
        if is_terminator(&p.payload) {
            let ok = conn.absorb_ok(&p.payload).unwrap_or_default();
            return Ok(Fetched { columns, rows, ok });
        }
        let mut r = Reader::new(&p.payload);
        let mut row = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            let pos = p.payload.len() - r.remaining();
            if p.payload.get(pos) == Some(&0xFB) {
                r.u8();
                row.push(None);
            } else {
                let v = r
                    .lenenc_bytes()
                    .ok_or_else(|| ProxyError::MalformedPacket("row value".into()))?;
                row.push(Some(v.to_vec()));
            }
        }
        rows.push(row);
    }
}

/// The first column of every row of `sql`'s answer.
async fn query_rows(conn: &mut BackendConn, sql: &str) -> Result<Vec<Row>> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(command::QUERY);
    payload.extend_from_slice(sql.as_bytes());
    conn.send_command(&payload).await?;
    read_result(conn).await.map(|f| f.rows)
}

/// COM_FIELD_LIST's answer: column definitions up to the terminator.
async fn read_field_list(conn: &mut BackendConn) -> Result<(Vec<Bytes>, u16)> {
    let mut defs = Vec::new();
    loop {
        let p = conn.read_packet().await?;
        if is_err(&p.payload) {
            return Err(backend_error(&p.payload));
        }
        if is_terminator(&p.payload) {
            let status = conn
                .absorb_ok(&p.payload)
                .map_or(conn.status, |ok| ok.status);
            return Ok((defs, status));
        }
        defs.push(p.payload);
    }
}

fn backend_error(payload: &[u8]) -> ProxyError {
    ProxyError::Backend(
        ErrPacket::parse(payload).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
    )
}

/// Column names (the `name` field) of column definition packets.
fn column_names(defs: &[Bytes]) -> Vec<String> {
    defs.iter()
        .map(|d| {
            let mut r = Reader::new(d);
            for _ in 0..4 {
                r.lenenc_bytes();
            }
            r.lenenc_bytes()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// A column definition with its `table` and `org_table` shown as the
/// logical table when they name the physical one.
fn rename_column_table(def: &[u8], physical: &str, logical: &str) -> Vec<u8> {
    let mut r = Reader::new(def);
    let (Some(catalog), Some(schema), Some(table), Some(org_table)) = (
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
    ) else {
        return def.to_vec();
    };
    let rename = |t: &[u8]| -> Vec<u8> {
        if t == physical.as_bytes() {
            logical.as_bytes().to_vec()
        } else {
            t.to_vec()
        }
    };
    let mut out = Vec::with_capacity(def.len() + 8);
    put_lenenc_bytes(&mut out, catalog);
    put_lenenc_bytes(&mut out, schema);
    put_lenenc_bytes(&mut out, &rename(table));
    put_lenenc_bytes(&mut out, &rename(org_table));
    out.extend_from_slice(r.rest());
    out
}

fn number(v: Option<&Option<Vec<u8>>>) -> Option<u64> {
    std::str::from_utf8(v?.as_deref()?).ok()?.parse().ok()
}

/// `acc[i] += row[i]` on decimal text (NULL stays NULL).
fn add_numbers(acc: &mut Row, row: &Row, i: usize) {
    if let (Some(a), Some(b)) = (number(acc.get(i)), number(row.get(i))) {
        if let Some(v) = acc.get_mut(i) {
            *v = Some(a.saturating_add(b).to_string().into_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_definition_renamed() {
        let mut def = Vec::new();
        for part in [&b"def"[..], b"db", b"users_0", b"users_0", b"id", b"id"] {
            put_lenenc_bytes(&mut def, part);
        }
        def.extend_from_slice(&[0x0c, 1, 2, 3]);
        let out = rename_column_table(&def, "users_0", "users");
        let mut r = Reader::new(&out);
        let parts: Vec<&[u8]> = (0..6).filter_map(|_| r.lenenc_bytes()).collect();
        assert_eq!(
            parts,
            vec![&b"def"[..], b"db", b"users", b"users", b"id", b"id"]
        );
        assert_eq!(r.rest(), &[0x0c, 1, 2, 3]);
        assert_eq!(column_names(&[Bytes::from(def)]), vec!["id".to_string()]);
    }

    #[test]
    fn sums() {
        let mut acc: Row = vec![Some(b"3".to_vec()), None];
        add_numbers(&mut acc, &vec![Some(b"4".to_vec()), Some(b"1".to_vec())], 0);
        add_numbers(&mut acc, &vec![Some(b"4".to_vec()), Some(b"1".to_vec())], 1);
        assert_eq!(acc, vec![Some(b"7".to_vec()), None]);
    }
}
