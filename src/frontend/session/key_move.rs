//! A sharding-key UPDATE whose rows may change shard (`PlanKind::KeyMove`),
//! atomic across its nodes: outside a transaction in one of its own (XA
//! in `xa` mode), inside the session's transaction as one statement (a
//! savepoint on every node of the move, rolled back to on failure):
//!
//! 1. the UPDATE runs on every target as planned (the servers count rows
//!    matched and changed, convert the new key, check constraints, exactly
//!    as one server would for those rows);
//! 2. on every other table the UPDATE ran on, the rows that now carry the
//!    new key are the moved ones (no row of another shard's key lived
//!    there before): read `FOR UPDATE` in the binary protocol, deleted,
//!    and inserted into the new key's table as typed parameters;
//! 3. commit on every node, or roll everything back on the first error
//!    (a duplicate key on the new shard is the server's own 1062).
//!
//! Owns: the order of those statements and their transaction. Must not:
//! plan (`router::shard::plan::key_move`) or encode rows
//! (`execute::move_rows`).

use std::sync::Arc;

use super::atomic_write::{node_index, NodeSteps};
use super::connections::plan_nodes;
use super::Session;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::execute::move_rows::{insert_rows, no_params, read_rows, table_sql, writable_columns};
use crate::execute::scatter::add_ok;
use crate::execute::write::run_on_all;
use crate::execute::xa::{test_pause, Pause};
use crate::execute::{Command, Encoding};
use crate::frontend::prepared::ExecutePackets;
use crate::router::shard::{KeyMove, ShardPlan, ShardTarget};
use crate::session_state::quote_ident;
use crate::sql::Classified;
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::OkPacket;

impl Session {
    /// Runs a key move that may take rows off some tables, and answers.
    pub(super) async fn run_key_move(
        &mut self,
        plan: &ShardPlan,
        m: &KeyMove,
        c: &Classified,
        encoding: Encoding<'_>,
        seq: &mut u8,
    ) {
        let nodes = move_nodes(plan, m);
        let steps = Steps {
            plan,
            m,
            encoding,
            max_rows: self.proxy.config.load().routing.move_max_rows,
        };
        let what = "an UPDATE that moves rows to another shard (it changes the sharding key)";
        let result = self.write_atomically(&nodes, c, &steps, what).await;
        self.answer_scatter_write(plan, c, result, seq).await;
    }
}

/// The nodes of a move, in order: the UPDATE's and the new key's.
fn move_nodes(plan: &ShardPlan, m: &KeyMove) -> Vec<usize> {
    let mut nodes = plan_nodes(plan);
    nodes.push(m.dest.node);
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The statements of one move (the connections are `nodes`' in order).
struct Steps<'a> {
    plan: &'a ShardPlan,
    m: &'a KeyMove,
    encoding: Encoding<'a>,
    max_rows: usize,
}

impl NodeSteps for Steps<'_> {
    /// The UPDATEs (their OKs summed: what the client is told), then the
    /// rows that left each source table, into the new key's table.
    async fn run(&self, nodes: &[usize], conns: &mut [&mut BackendConn]) -> Result<OkPacket> {
        let at = |node| node_index(nodes, node);
        let mut total = OkPacket::default();
        for t in &self.plan.targets {
            let i = at(t.node)?;
            let command = Command::for_target(&self.encoding, t);
            let kind = WriteKind::of_sql(&t.sql);
            let ok = run_on_all(&mut [&mut *conns[i]], &[command], kind).await?;
            add_ok(&mut total, ok);
        }
        let m = self.m;
        let schema = m.schema.as_deref();
        let key = quote_ident(&m.key);
        let dest = at(m.dest.node)?;
        let dest_table = table_sql(schema, &m.dest.table);
        let mut names: Option<Vec<String>> = None;
        let mut moved = 0usize;
        let plain = no_params();
        for s in &m.sources {
            let i = at(s.node)?;
            let names = match &names {
                Some(n) => n,
                None => names.insert(writable_columns(conns[i], schema, &s.table).await?),
            };
            let from = table_sql(schema, &s.table);
            let list: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
            let select = ShardTarget {
                node: s.node,
                sql: format!(
                    "SELECT {} FROM {from} WHERE {key} = {} FOR UPDATE",
                    list.join(", "),
                    m.value
                ),
                tables: Vec::new(),
                params: m.value_param.into_iter().collect(),
                local_file: None,
            };
            let read = match (&self.encoding, m.value_param) {
                (Encoding::Binary { .. }, Some(_)) => Command::for_target(&self.encoding, &select),
                _ => Command::Execute {
                    sql: Arc::from(select.sql.as_str()),
                    packets: ExecutePackets::Client {
                        request: &plain,
                        long_data: &[],
                    },
                },
            };
            let rows = read_rows(conns[i], &read, self.max_rows - moved).await?;
            if rows.rows.is_empty() {
                continue;
            }
            moved += rows.rows.len();
            let delete = ShardTarget {
                sql: format!("DELETE FROM {from} WHERE {key} = {}", m.value),
                ..select.clone()
            };
            let command = Command::for_target(&self.encoding, &delete);
            let deleted = run_on_all(&mut [&mut *conns[i]], &[command], WriteKind::Other).await?;
            if deleted.affected_rows != rows.rows.len() as u64 {
                return Err(ProxyError::Internal(format!(
                    "a key move read {} rows on `{}` but deleted {}",
                    rows.rows.len(),
                    s.table,
                    deleted.affected_rows
                )));
            }
            test_pause(Pause::BeforeMoveInsert).await;
            insert_rows(conns[dest], &dest_table, names, &rows).await?;
        }
        Ok(total)
    }
}
