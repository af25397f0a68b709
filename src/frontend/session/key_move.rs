//! A sharding-key UPDATE whose rows may change shard (`PlanKind::KeyMove`),
//! atomic across its nodes (`atomic_write`: outside a transaction in one
//! of its own, XA in `xa` mode; inside the session's transaction as one
//! statement, a savepoint on every node of the move):
//!
//! 1. the UPDATE runs on every target as planned (the servers count rows
//!    matched and changed, convert the new key, check constraints, exactly
//!    as one server would for those rows);
//! 2. on every other table the UPDATE ran on, the rows that now carry the
//!    new key are the moved ones (no row of another shard's key lived
//!    there before): read `FOR UPDATE` in the binary protocol, deleted,
//!    and inserted into the new key's table as typed parameters; under a
//!    composite rule the same with the new key and/or the new period
//!    column's value (no row of another period lived in a period's
//!    table), each source with its own destination (a new key keeps a
//!    row's period, a new date its hash slot);
//! 3. rows of bound tables that followed the key (an `ON UPDATE CASCADE`
//!    foreign key) move with them: deleted before, inserted after;
//! 4. commit on every node, or roll everything back on the first error
//!    (a duplicate key on the new shard is the server's own 1062).
//!
//! Owns: the order of those statements. Must not: plan
//! (`router::shard::plan::key_move`), encode rows (`execute::move_rows`)
//! or hold the transaction (`atomic_write`).

use super::atomic_write::{node_index, NodeSteps};
use super::connections::plan_nodes;
use super::Session;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::execute::move_rows::{
    insert_rows, no_params, read_rows, table_sql, writable_columns, Rows,
};
use crate::execute::scatter::add_ok;
use crate::execute::write::run_on_all;
use crate::execute::xa::{test_pause, Pause};
use crate::execute::{Command, Encoding};
use crate::frontend::prepared::ExecutePackets;
use crate::router::shard::plan::MoveChild;
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
        let router = self.proxy.config.load().sharding.clone();
        let steps = Steps {
            children: router.move_children(m),
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

/// The nodes of a move, in order: the UPDATE's and the destinations'.
fn move_nodes(plan: &ShardPlan, m: &KeyMove) -> Vec<usize> {
    let mut nodes = plan_nodes(plan);
    nodes.push(m.dest.node);
    nodes.extend(m.sources.iter().map(|s| s.to.node));
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The statements of one move (the connections are `nodes`' in order).
struct Steps<'a> {
    /// The tables bound to the moved one (their rows may follow it).
    children: Vec<MoveChild>,
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
        // Writable columns: [0] the moved table's, then each bound table's.
        let mut names: Vec<Option<Vec<String>>> = vec![None; self.children.len() + 1];
        let mut moved = 0usize;
        for source in &m.sources {
            let s = &source.from;
            let i = at(s.node)?;
            let parent = self
                .take(conns[i], &mut names[0], &s.table, None, &mut moved)
                .await?;
            if parent.rows.is_empty() {
                continue;
            }
            // Rows of bound tables that followed the key on this node (an
            // `ON UPDATE CASCADE` foreign key): they move too, deleted
            // before the rows they refer to, inserted after them.
            let mut kids = Vec::new();
            for (c, child) in self.children.iter().enumerate() {
                let Some(from) = child.source_of(s) else {
                    continue;
                };
                let rows = self
                    .take(
                        conns[i],
                        &mut names[c + 1],
                        &from.table,
                        Some(child.key.as_str()),
                        &mut moved,
                    )
                    .await?;
                if !rows.rows.is_empty() {
                    kids.push((c, from, rows));
                }
            }
            for (c, from, rows) in kids.iter().rev() {
                let key = Some(self.children[*c].key.as_str());
                self.delete(conns[i], &from.table, key, rows).await?;
            }
            self.delete(conns[i], &s.table, None, &parent).await?;
            test_pause(Pause::BeforeMoveInsert).await;
            let parent_names = names[0].as_deref().unwrap_or_default();
            let dest_table = table_sql(schema, &source.to.table);
            let dest = at(source.to.node)?;
            insert_rows(conns[dest], &dest_table, parent_names, &parent).await?;
            for (c, _, rows) in &kids {
                let child = &self.children[*c];
                let to = at(child.dest.node)?;
                let table = table_sql(schema, &child.dest.table);
                let list = names[c + 1].as_deref().unwrap_or_default();
                insert_rows(conns[to], &table, list, rows).await?;
            }
        }
        Ok(total)
    }
}

impl Steps<'_> {
    /// `WHERE <column> = <new value> AND …` selecting the rows of a table
    /// that carry the move's new values (`child_key`: a bound table's key
    /// column instead, equal to the new key), and the statement's
    /// parameters it uses.
    fn new_values(&self, child_key: Option<&str>) -> (String, Vec<usize>) {
        let mut conds = Vec::new();
        let mut params = Vec::new();
        for (i, v) in self.m.values.iter().enumerate() {
            let column = match child_key {
                Some(key) if i == 0 => key,
                Some(_) => continue,
                None => v.column.as_str(),
            };
            conds.push(format!("{} = {}", quote_ident(column), v.value));
            params.extend(v.param);
        }
        (conds.join(" AND "), params)
    }

    /// The statement that reads (`SELECT … FOR UPDATE`) or deletes the
    /// rows of a table that carry the new values.
    fn by_new_key(&self, sql: String, params: Vec<usize>) -> ShardTarget {
        ShardTarget {
            node: 0,
            sql,
            tables: Default::default(),
            params: params.into(),
            local_file: None,
            rows: None,
        }
    }

    /// Reads the rows of `table` (on `conn`) that carry the new values (a
    /// bound table: its `child_key` equal to the new key), locking them;
    /// `names` caches the table's writable columns; `moved` counts the
    /// rows against `move_max_rows`.
    async fn take(
        &self,
        conn: &mut BackendConn,
        names: &mut Option<Vec<String>>,
        table: &str,
        child_key: Option<&str>,
        moved: &mut usize,
    ) -> Result<Rows> {
        let schema = self.m.schema.as_deref();
        let names = match names {
            Some(n) => n,
            None => names.insert(writable_columns(conn, schema, table).await?),
        };
        let list: Vec<String> = names.iter().map(|n| quote_ident(n)).collect();
        let (cond, params) = self.new_values(child_key);
        let has_params = !params.is_empty();
        let select = self.by_new_key(
            format!(
                "SELECT {} FROM {} WHERE {cond} FOR UPDATE",
                list.join(", "),
                table_sql(schema, table),
            ),
            params,
        );
        let plain = no_params();
        let read = match &self.encoding {
            Encoding::Binary { .. } if has_params => Command::for_target(&self.encoding, &select),
            _ => Command::Execute {
                sql: crate::execute::command::StmtText::Target(&select.sql),
                packets: ExecutePackets::Client {
                    request: &plain,
                    long_data: &[],
                },
            },
        };
        let rows = read_rows(conn, &read, self.max_rows.saturating_sub(*moved)).await?;
        *moved += rows.rows.len();
        Ok(rows)
    }

    /// Deletes the rows [`take`](Self::take) read from `table`; the count
    /// must match.
    async fn delete(
        &self,
        conn: &mut BackendConn,
        table: &str,
        child_key: Option<&str>,
        rows: &Rows,
    ) -> Result<()> {
        let schema = self.m.schema.as_deref();
        let (cond, params) = self.new_values(child_key);
        let delete = self.by_new_key(
            format!("DELETE FROM {} WHERE {cond}", table_sql(schema, table)),
            params,
        );
        let command = Command::for_target(&self.encoding, &delete);
        let deleted = run_on_all(&mut [conn], &[command], WriteKind::Other).await?;
        if deleted.affected_rows != rows.rows.len() as u64 {
            return Err(ProxyError::Internal(format!(
                "a key move read {} rows on `{table}` but deleted {}",
                rows.rows.len(),
                deleted.affected_rows
            )));
        }
        Ok(())
    }
}
