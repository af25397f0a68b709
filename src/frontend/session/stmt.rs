//! The prepared-statement commands (COM_STMT_PREPARE, EXECUTE,
//! SEND_LONG_DATA, CLOSE, RESET, FETCH): client statement ids, their
//! parameters and long data, and cursors.
//!
//! Owns: `Session::statements`. Must not: run statements on connections
//! itself (that is `execute_one` and `run_plan`).

use std::sync::Arc;

use mysql_common::constants::StatusFlags;

use super::Session;
use crate::error::ProxyError;
use crate::execute::{Command, Outcome, Relay, Shape};
use crate::frontend::prepared::{ClientStatement, ExecutePackets};
use crate::router::{self};
use crate::sql::{self, StatementKind};
use crate::wire::command;
use crate::wire::packets::Reader;

impl Session {
    pub(super) async fn com_stmt_prepare(&mut self, payload: &[u8], seq: &mut u8) {
        let limit = self.proxy.config.load().server.max_prepared_statements;
        if self.statements.len() >= limit {
            let e = ProxyError::TooManyPreparedStatements(limit);
            self.write_error_seq(&e, seq).await;
            return;
        }
        let sql_text: Arc<str> = Arc::from(String::from_utf8_lossy(&payload[1..]).as_ref());
        let c = sql::classify(&sql_text);
        let mut node = self.node_for_session();
        let mut placed_node = None;
        if let Some(router) = self.proxy.shard_router.load_full() {
            match self.plan_for_prepare(&router, &sql_text) {
                Ok(None) => {}
                Ok(Some(p)) => match p.kind {
                    crate::router::shard::PlanKind::Unsharded { node: n } => {
                        node = n;
                        placed_node = Some(n);
                    }
                    // Sharded or broadcast tables: planned again with the
                    // parameters of every execute.
                    _ => {
                        self.prepare_sharded(sql_text, c, p, seq).await;
                        return;
                    }
                },
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return;
                }
            }
        }
        let plan = router::route(&c, &self.view(node));
        let id = self.next_statement_id;
        let Some((i, result)) = self.prepare_on_backend(&plan, &c, &sql_text, id, seq).await else {
            return;
        };
        match result {
            Ok(Some(meta)) => {
                self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
                let mut stmt = ClientStatement::new(sql_text, c, meta.params, meta.columns);
                stmt.node = placed_node;
                self.statements.insert(id, stmt);
            }
            Ok(None) => {} // the backend's error was forwarded
            Err(e) => {
                let sent = e.1;
                self.drop_held(i);
                if !sent {
                    self.write_error_seq(&e.0, seq).await;
                }
            }
        }
        self.release_unpinned();
    }

    pub(super) async fn com_stmt_execute(&mut self, payload: &bytes::Bytes, seq: &mut u8) {
        let Some(id) = Reader::new(&payload[1..]).u32() else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_EXECUTE".into()), seq)
                .await;
            return;
        };
        // Executing again closes the statement's cursor.
        self.close_merged_cursor(id);
        let Some(stmt) = self.statements.get_mut(&id) else {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_execute",
                },
                seq,
            )
            .await;
            return;
        };
        let request = match stmt.parse_execute(payload) {
            Ok(r) => r,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let c = stmt.classified.clone();
        let sql_text = stmt.sql.clone();
        let long_data = stmt.take_long_data();
        // As MariaDB: a parameter longer than the server's limit fails this
        // execute and every later one until COM_STMT_RESET. Decided here
        // (against the servers that may run it), so no backend statement
        // is left in that state.
        let placed = stmt.node;
        let sharded = stmt.sharded;
        let params = stmt.params;
        let overflowed = stmt.long_data_overflow;
        let node = placed.unwrap_or_else(|| self.node_for_session());
        let server_max = smallest_server_max(&self.proxy.cluster, (!sharded).then_some(node));
        if overflowed || long_data.iter().any(|(_, d)| d.len() > server_max) {
            if let Some(stmt) = self.statements.get_mut(&id) {
                stmt.long_data_overflow = true;
            }
            self.write_error_seq(&ProxyError::LongDataTooLong, seq)
                .await;
            return;
        }
        if c.flags.reads_diagnostics
            && self.has_shard_diagnostics()
            && self
                .answer_shard_diagnostics(&sql_text, &c, true, seq)
                .await
        {
            return;
        }
        if self.implicitly_commits(&sql_text, &c) && self.transaction_held() {
            // As for text statements: every node commits first.
            if let Err(e) = self.commit_before().await {
                self.write_error_seq(&e, seq).await;
                self.after_failure();
                return;
            }
        }
        if matches!(c.kind, StatementKind::Commit | StatementKind::Rollback) && self.held.len() > 1
        {
            self.end_transaction_everywhere(&sql_text, &c, seq).await;
            return;
        }
        if c.kind == StatementKind::Savepoint
            && (self.transaction_held() || !self.state.autocommit())
        {
            self.savepoint_everywhere(&sql_text, &c, seq).await;
            return;
        }
        if !sharded && params == 0 && self.execute_metadata_lookup(&sql_text, &c, seq).await {
            return;
        }
        if sharded {
            self.execute_sharded(id, &c, &sql_text, &request, &long_data, seq)
                .await;
            return;
        }
        let plan = router::route(&c, &self.view(node));
        let command = Command::Execute {
            sql: crate::execute::command::StmtText::Shared(sql_text.clone()),
            packets: ExecutePackets::Client {
                request: &request,
                long_data: &long_data,
            },
        };
        let ran = self.execute(plan, &c, &command, Shape::Results, seq).await;
        if let Some(ran) = ran {
            if ran.outcome.status & StatusFlags::SERVER_STATUS_CURSOR_EXISTS.bits() != 0 {
                self.cursor_statement = Some(id);
            } else if self.cursor_statement == Some(id) {
                self.cursor_statement = None;
            }
            self.after_statement(&c, &ran);
        }
    }

    pub(super) fn com_stmt_send_long_data(&mut self, payload: &[u8]) {
        // No reply, even on error (as MySQL).
        let mut r = Reader::new(&payload[1..]);
        let (Some(id), Some(param)) = (r.u32(), r.u16()) else {
            return;
        };
        let limit = self.proxy.config.load().server.max_allowed_packet;
        if let Some(stmt) = self.statements.get_mut(&id) {
            stmt.append_long_data(param, r.rest(), limit);
        }
    }

    pub(super) fn com_stmt_close(&mut self, payload: &[u8]) {
        if let Some(id) = Reader::new(&payload[1..]).u32() {
            self.statements.remove(&id);
            self.close_merged_cursor(id);
            if self.cursor_statement == Some(id) {
                self.cursor_statement = None;
                self.release_unpinned();
            }
        }
    }

    pub(super) async fn com_stmt_reset(&mut self, payload: &[u8], seq: &mut u8) {
        let Some(id) = Reader::new(&payload[1..]).u32() else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_RESET".into()), seq)
                .await;
            return;
        };
        match self.statements.get_mut(&id) {
            Some(stmt) => {
                stmt.take_long_data();
                stmt.long_data_overflow = false;
                self.close_merged_cursor(id);
                if self.cursor_statement == Some(id) {
                    // The cursor lives on the backend: closing our side and
                    // dropping that connection closes it there too.
                    self.cursor_statement = None;
                    if !self.pins.transaction && !self.pins.session_state {
                        self.held.clear();
                    }
                }
                self.write_ok(seq, 0, 0, self.status, 0).await;
            }
            None => {
                self.write_error_seq(
                    &ProxyError::UnknownStatement {
                        id,
                        command: "mysqld_stmt_reset",
                    },
                    seq,
                )
                .await
            }
        }
    }

    pub(super) async fn com_stmt_fetch(&mut self, payload: &[u8], seq: &mut u8) {
        let mut r = Reader::new(&payload[1..]);
        let (Some(id), Some(rows)) = (r.u32(), r.u32()) else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_STMT_FETCH".into()), seq)
                .await;
            return;
        };
        if self.fetch_merged(id, rows, seq).await {
            return;
        }
        if !self.statements.contains_key(&id) {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        }
        if self.cursor_statement != Some(id) {
            self.write_error_seq(&ProxyError::NoOpenCursor(id), seq)
                .await;
            return;
        }
        let Some(sql_text) = self.statements.get(&id).map(|s| s.sql.clone()) else {
            return;
        };
        let node = self.node_for_session();
        let Some(i) = self.held.iter().position(|h| h.node == node) else {
            self.cursor_statement = None;
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        };
        let Some(backend) = self.held[i].conn.cached_statement(&sql_text) else {
            self.write_error_seq(
                &ProxyError::UnknownStatement {
                    id,
                    command: "mysqld_stmt_fetch",
                },
                seq,
            )
            .await;
            return;
        };
        let mut p = vec![command::STMT_FETCH];
        p.extend_from_slice(&backend.id.to_le_bytes());
        p.extend_from_slice(&rows.to_le_bytes());
        let held = &mut self.held[i];
        let outcome = match held.conn.send_command(&p).await {
            Err(e) => Outcome {
                failure: Some(e),
                ..Outcome::default()
            },
            Ok(()) => {
                let mut relay = Relay {
                    conn: &mut held.conn,
                    client: &mut self.client,
                    client_caps: self.caps,
                    seq,
                    timeout: None,
                    last_insert_id: None,
                    first_byte: None,
                    table_names: None,
                    client_extended: self.extended_metadata,
                    missing_table: None,
                };
                relay.forward(Shape::Rows).await
            }
        };
        if let Some(e) = outcome.failure {
            self.drop_held(i);
            self.after_failure();
            if !outcome.sent_anything {
                self.write_error_seq(&e, seq).await;
            }
            return;
        }
        if outcome.status & StatusFlags::SERVER_STATUS_LAST_ROW_SENT.bits() != 0 {
            self.cursor_statement = None;
            self.release_unpinned();
        }
    }
}

/// The smallest known `max_allowed_packet` of the servers of `node` (all
/// servers: `None`); `usize::MAX` while none is known.
fn smallest_server_max(cluster: &crate::backend::cluster::Cluster, node: Option<usize>) -> usize {
    cluster
        .all_pools()
        .filter(|p| node.is_none_or(|n| p.server.node == n))
        .map(|p| {
            p.server
                .max_packet
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .filter(|m| *m > 0)
        .min()
        .unwrap_or(usize::MAX)
}
