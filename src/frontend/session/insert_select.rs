//! `INSERT … SELECT` into a sharded table (planned by
//! `router::shard::insert_select`), as one atomic write:
//!
//! 1. the SELECT part is planned and merged like any read the proxy runs
//!    itself (`pull_out::collect_plan`: in the session's transaction when
//!    it has one, so it sees its own writes), its rows sent in the binary
//!    protocol so that values are exact, at most
//!    `[routing] insert_select_max_rows` of them held;
//! 2. each row goes to the slot of its sharding key (an id from the
//!    `[[sequence]]` for a key column left out, as plain INSERTs do) and is
//!    re-encoded as the typed parameters of prepared multi-row `INSERT …
//!    VALUES` batches per physical table (`execute::move_rows`), IGNORE /
//!    REPLACE / `ON DUPLICATE KEY UPDATE` kept;
//! 3. all batches run in one transaction across their nodes
//!    (`atomic_write`: XA in `xa` mode, a savepoint per node inside the
//!    client's transaction), and the OKs sum to one server's answer
//!    (`Records: N  Duplicates: D  Warnings: W`).
//!
//! Owns: that sequence. Must not: plan (the router does), merge rows
//! (`execute::scatter`), encode parameters (`execute::move_rows`) or hold
//! the transaction (`atomic_write`).

use std::collections::BTreeMap;
use std::sync::Arc;

use mysql_common::constants::ColumnType;

use super::atomic_write::{node_index, NodeSteps};
use super::sharded::WriteGate;
use super::Session;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::execute::move_rows::{insert_param_rows, param_row, ParamRow};
use crate::execute::write::run_on_all;
use crate::execute::{Command, Encoding, Protocol};
use crate::merge::binary::{encode_row, param_type};
use crate::merge::ColumnInfo;
use crate::router::shard::insert_select::InsertSelect;
use crate::router::shard::{quote_sql, PlanKind, ShardPlan, ShardRouter, ShardTarget};
use crate::sql::Classified;
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::{ErrPacket, OkPacket};

/// How deep the SELECT's own subqueries are pulled out (see `pull_out`).
const SELECT_DEPTH: usize = 1;

impl Session {
    /// Runs an INSERT … SELECT into a sharded table and answers.
    pub(super) async fn run_insert_select(
        &mut self,
        mut router: Arc<ShardRouter>,
        mut is: Box<InsertSelect>,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        let in_flight = loop {
            match self.write_gate(&is.gate_plan()).await {
                WriteGate::Pass(in_flight) => break in_flight,
                // A shard move paused the writes: its tables may have moved.
                WriteGate::Waited => {
                    let again = self.rules_for_statement().and_then(|r| {
                        let planned = r.insert_select(text, self.state.schema.as_deref());
                        planned.map(|p| (r, p))
                    });
                    match again {
                        Some((r, Ok(p))) => (router, is) = (r, Box::new(p)),
                        Some((_, Err(e))) => return self.write_error_seq(&e.into(), seq).await,
                        None => {
                            let e = ProxyError::Internal(
                                "the statement changed kind when planned again".into(),
                            );
                            return self.write_error_seq(&e, seq).await;
                        }
                    }
                }
            }
        };
        self.statement_warnings = Default::default();
        let mut gate = is.gate_plan();
        let result = self.insert_select(&router, &is, c, &mut gate).await;
        self.answer_write(&gate, c, result, seq, true).await;
        self.keep_for_transaction(in_flight);
    }

    /// Reads the rows, routes them and writes them; the summed OK.
    async fn insert_select(
        &mut self,
        router: &Arc<ShardRouter>,
        is: &InsertSelect,
        c: &Classified,
        gate: &mut ShardPlan,
    ) -> Result<OkPacket> {
        let what = "an INSERT … SELECT into a sharded table";
        if self.atomic_write_refused() {
            // Refused before anything is read (as the write would be).
            return Err(ProxyError::Unsupported(format!(
                "{what} while the session is pinned to its connections (user variables, \
                 temporary tables, table locks…) outside a transaction"
            )));
        }
        let max = self.proxy.config.load().routing.insert_select_max_rows;
        let plan = match self.plan_inner(router, &is.select, c, SELECT_DEPTH).await? {
            Some(p) => p,
            None => unsharded_read(is),
        };
        if let Some(targets) = is.pushdown(&plan) {
            return self.insert_select_pushed(&targets, c, what).await;
        }
        let (columns, rows) = self
            .collect_plan(&plan, c, max.saturating_add(1), Protocol::Binary)
            .await?;
        if rows.len() > max {
            return Err(ProxyError::Unsupported(format!(
                "an INSERT … SELECT whose SELECT produces more than {max} rows into the sharded \
                 table `{}` ([routing] insert_select_max_rows); nothing was written",
                is.table
            )));
        }
        let width = is.columns.len() - is.generated;
        if columns.len() != width {
            return Err(ProxyError::Backend(ErrPacket::new(
                1136,
                "21S01",
                "Column count doesn't match value count at row 1",
            )));
        }
        let routed = route_rows(router, is, &columns, &rows)?;
        gate.generated_id = routed.first_id;
        if rows.is_empty() {
            return Ok(OkPacket {
                info: b"Records: 0  Duplicates: 0  Warnings: 0".to_vec(),
                status: self.status,
                ..OkPacket::default()
            });
        }
        let mut nodes: Vec<usize> = routed
            .by_slot
            .keys()
            .filter_map(|&s| is.slots.get(s).map(|(n, _)| *n))
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut types: Vec<[u8; 2]> = columns.iter().map(param_type).collect();
        types.extend(std::iter::repeat_n(ID_TYPE, is.generated));
        let steps = Writes {
            is,
            by_slot: &routed.by_slot,
            types: &types,
        };
        self.write_atomically(&nodes, c, &steps, what).await
    }
}

impl Session {
    /// The co-located case: each shard runs the INSERT … SELECT itself
    /// (nothing held in shardcat), in one transaction across the nodes.
    async fn insert_select_pushed(
        &mut self,
        targets: &[ShardTarget],
        c: &Classified,
        what: &str,
    ) -> Result<OkPacket> {
        let mut nodes: Vec<usize> = targets.iter().map(|t| t.node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        self.write_atomically(&nodes, c, &Pushed { targets }, what)
            .await
    }
}

/// The per-shard INSERT … SELECT statements of the co-located case.
struct Pushed<'a> {
    targets: &'a [ShardTarget],
}

impl NodeSteps for Pushed<'_> {
    async fn run(&self, nodes: &[usize], conns: &mut [&mut BackendConn]) -> Result<OkPacket> {
        let mut total = OkPacket::default();
        for t in self.targets {
            let i = node_index(nodes, t.node)?;
            let command = Command::for_target(&Encoding::Text, t);
            let ok = run_on_all(&mut [&mut *conns[i]], &[command], WriteKind::InsertLike).await?;
            total.add_shard(ok, WriteKind::InsertLike);
        }
        Ok(total)
    }
}

/// A generated id's parameter type: BIGINT UNSIGNED.
const ID_TYPE: [u8; 2] = [ColumnType::MYSQL_TYPE_LONGLONG as u8, 0x80];

/// A SELECT naming no table with a rule: on the node of its tables (or of
/// the current database), as it is.
fn unsharded_read(is: &InsertSelect) -> ShardPlan {
    ShardPlan {
        kind: PlanKind::Unsharded {
            node: is.select_node,
        },
        targets: vec![ShardTarget {
            node: is.select_node,
            sql: is.select.clone(),
            tables: Default::default(),
            params: Default::default(),
            local_file: None,
            rows: None,
        }],
        merge: None,
        generated_id: None,
        write: false,
    }
}

/// The rows of each slot as parameters, and the first id generated.
struct Routed {
    by_slot: BTreeMap<usize, Vec<ParamRow>>,
    first_id: Option<u64>,
}

/// Whether a column's values are numbers (routed as numeric literals).
fn numeric(c: &ColumnInfo) -> bool {
    use ColumnType::*;
    matches!(
        c.column_type,
        MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_YEAR
            | MYSQL_TYPE_DECIMAL
            | MYSQL_TYPE_NEWDECIMAL
            | MYSQL_TYPE_FLOAT
            | MYSQL_TYPE_DOUBLE
    )
}

/// Each row's slot (its key's, or its generated id's) and parameters.
fn route_rows(
    router: &ShardRouter,
    is: &InsertSelect,
    columns: &[ColumnInfo],
    rows: &[crate::merge::TextRow],
) -> Result<Routed> {
    let width = columns.len();
    let mut routed = Routed {
        by_slot: BTreeMap::new(),
        first_id: None,
    };
    let mut packet = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let ids: Vec<u64> = (0..is.generated).map(|_| router.ids.next_id()).collect();
        if let Some(&id) = ids.first() {
            routed.first_id.get_or_insert(id);
        }
        let slot = match is.key_index.checked_sub(width) {
            Some(g) => is.slot_of_id(ids[g]),
            None => is.slot_of(row.value(is.key_index), numeric(&columns[is.key_index])),
        }
        .map_err(|why| {
            ProxyError::Unsupported(format!(
                "row {} of an INSERT … SELECT into `{}`: {why}: {}",
                i + 1,
                is.table,
                quote_sql(&is.select)
            ))
        })?;
        packet.clear();
        encode_row(row, columns, width, &mut packet)
            .map_err(|e| ProxyError::Internal(e.to_string()))?;
        let mut params = param_row(&packet, columns)?;
        for id in ids {
            params.nulls.push(false);
            params.values.extend_from_slice(&id.to_le_bytes());
        }
        routed.by_slot.entry(slot).or_default().push(params);
    }
    Ok(routed)
}

/// The INSERT batches of each slot, on its node's connection.
struct Writes<'a> {
    is: &'a InsertSelect,
    by_slot: &'a BTreeMap<usize, Vec<ParamRow>>,
    types: &'a [[u8; 2]],
}

impl NodeSteps for Writes<'_> {
    async fn run(&self, nodes: &[usize], conns: &mut [&mut BackendConn]) -> Result<OkPacket> {
        let mut total = OkPacket::default();
        for (&slot, rows) in self.by_slot {
            let Some((node, head)) = self.is.values_head(slot) else {
                return Err(ProxyError::Internal(format!("no table for slot {slot}")));
            };
            let i = node_index(nodes, node)?;
            let tail = self.is.tail(slot);
            let ok = insert_param_rows(conns[i], &head, &tail, self.types, rows).await?;
            total.add_shard(ok, WriteKind::InsertLike);
        }
        Ok(total)
    }
}
