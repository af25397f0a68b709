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
use crate::merge::row::{encode_values, TextRow};
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

mod columns;
mod describe;
mod listing;
mod locks;

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
            StatementKind::Select => {
                crate::sql::search::contains_ignore_case(text.as_bytes(), b"information_schema")
            }
            _ => false,
        };
        if !candidate {
            return None;
        }
        let router = self.metadata_router()?;
        let meta = router.metadata(text, self.state.schema.as_deref())?;
        Some(ShardedPath::Metadata(router, meta))
    }

    /// A prepared statement without parameters that looks up sharded
    /// tables by name in `information_schema`: answered as its text form
    /// (the name mapped to the slot-0 physical table, rows mapped back),
    /// the rows sent in the binary protocol. False when it is not one.
    /// (Listings without a table name run on the server as prepared.)
    pub(super) async fn execute_metadata_lookup(
        &mut self,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) -> bool {
        if c.kind != StatementKind::Select {
            return false;
        }
        let Some(ShardedPath::Metadata(router, meta)) = self.metadata_path(text, c) else {
            return false;
        };
        let MetaStatement::InformationSchema {
            node,
            sql,
            listing: false,
            ..
        } = meta
        else {
            return false;
        };
        let read = listing::InfoRead {
            node,
            listing: None,
            binary: true,
        };
        self.run_information_schema(&router, read, &sql, c, seq)
            .await;
        true
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
            MetaStatement::InformationSchema {
                node,
                sql,
                listing,
                schema,
            } => {
                let gather = listing.then_some(schema.as_deref());
                let read = listing::InfoRead {
                    node,
                    listing: gather,
                    binary: false,
                };
                self.run_information_schema(&router, read, &sql, c, seq)
                    .await
            }
        }
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

    /// Runs `sql`, a small read the proxy composed in place of the client's
    /// statement `c`, on the session's node and sends its whole answer, in
    /// the binary protocol when `binary` (a prepared statement's execute).
    pub(super) async fn answer_composed_read(
        &mut self,
        sql: &str,
        c: &Classified,
        binary: bool,
        seq: &mut u8,
    ) {
        let node = self.node_for_session();
        let fetched = match self.metadata_conn(node, c).await {
            Ok(i) => self.fetch_on(i, sql).await,
            Err(e) => Err(e),
        };
        match fetched {
            Ok(f) => {
                let outcome = self.send_fetched_as(&f, binary, seq).await;
                self.finish_metadata(c, node, outcome);
            }
            Err(e) => self.fail_metadata(c, node, e, seq).await,
        }
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

    /// Sends a fetched result to the client in the text protocol.
    async fn send_fetched(&mut self, f: &Fetched, seq: &mut u8) -> Outcome {
        self.send_fetched_as(f, false, seq).await
    }

    /// [`Self::send_fetched`], the rows in the binary protocol when
    /// `binary` (a prepared statement's answer).
    async fn send_fetched_as(&mut self, f: &Fetched, binary: bool, seq: &mut u8) -> Outcome {
        let rows = match binary {
            false => None,
            true => match binary_rows(f) {
                Some(rows) => Some(rows),
                None => {
                    let e = ProxyError::Internal(
                        "an information_schema row not encodable in the binary protocol".into(),
                    );
                    self.write_error_seq(&e, seq).await;
                    return Outcome {
                        status: self.status,
                        error: Some(e.to_err_packet()),
                        ..Outcome::default()
                    };
                }
            },
        };
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
            match &rows {
                Some(rows) => {
                    for row in rows {
                        client.send(seq, row).await?;
                    }
                }
                None => {
                    for row in &f.rows {
                        buf.clear();
                        encode_values(row, &mut buf);
                        client.send(seq, &buf).await?;
                    }
                }
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
        let row = TextRow::decode(p.payload.clone(), ncols)
            .ok_or_else(|| ProxyError::MalformedPacket("row value".into()))?;
        rows.push(
            (0..ncols)
                .map(|i| row.value(i).map(<[u8]>::to_vec))
                .collect(),
        );
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

/// The rows of `f` as binary result rows of its columns; `None` when a
/// column definition or a value does not convert.
fn binary_rows(f: &Fetched) -> Option<Vec<Vec<u8>>> {
    let columns: Vec<crate::merge::row::ColumnInfo> = f
        .columns
        .iter()
        .map(|c| crate::merge::row::ColumnInfo::parse(c.clone()))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(f.rows.len());
    for row in &f.rows {
        let mut text = Vec::new();
        encode_values(row, &mut text);
        let row = TextRow::decode(Bytes::from(text), columns.len())?;
        let mut packet = Vec::new();
        crate::merge::binary::encode_row(&row, &columns, columns.len(), &mut packet).ok()?;
        out.push(packet);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::describe::rename_column_table;
    use super::listing::add_numbers;
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
