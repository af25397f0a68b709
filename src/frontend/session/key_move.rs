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

use mysql_common::constants::StatusFlags;

use super::connections::plan_nodes;
use super::Session;
use crate::backend::{BackendConn, PooledConn, Role};
use crate::error::{ProxyError, Result};
use crate::execute::move_rows::{insert_rows, no_params, read_rows, table_sql, writable_columns};
use crate::execute::scatter::add_ok;
use crate::execute::write::{end_all, run_on_all};
use crate::execute::xa::{self, test_pause, Pause};
use crate::execute::{Command, Encoding};
use crate::frontend::prepared::ExecutePackets;
use crate::router::shard::{KeyMove, ShardPlan, ShardTarget};
use crate::router::RoutePlan;
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
        let result = if self.pins.transaction {
            self.key_move_held(plan, m, c, encoding).await
        } else if self.pins.session_state {
            Err(ProxyError::Unsupported(
                "an UPDATE that moves rows to another shard (it changes the sharding key) while \
                 the session is pinned to its connections (user variables, temporary tables, \
                 table locks…) outside a transaction"
                    .into(),
            ))
        } else {
            self.key_move_pooled(plan, m, encoding).await
        };
        self.answer_scatter_write(plan, c, result, seq).await;
    }

    /// Inside the session's transaction: its connection on every node of
    /// the move (joining the transaction there), the statement undone on
    /// all of them on failure (a savepoint per node), as one server undoes
    /// a failed statement and keeps the transaction.
    async fn key_move_held(
        &mut self,
        plan: &ShardPlan,
        m: &KeyMove,
        c: &Classified,
        encoding: Encoding<'_>,
    ) -> Result<OkPacket> {
        let nodes = move_nodes(plan, m);
        for &node in &nodes {
            let rp = RoutePlan {
                node,
                role: Role::Primary,
                reason: "sharding-key move in a transaction",
            };
            self.acquire(&rp, c).await?;
        }
        let max_rows = self.proxy.config.load().routing.move_max_rows;
        let mut held: Vec<(usize, &mut BackendConn)> = self
            .held
            .iter_mut()
            .filter(|h| nodes.contains(&h.node))
            .map(|h| (h.node, &mut *h.conn))
            .collect();
        held.sort_by_key(|(node, _)| *node);
        let mut refs: Vec<&mut BackendConn> = held.into_iter().map(|(_, c)| c).collect();
        if refs.len() != nodes.len() {
            return Err(ProxyError::Internal(
                "no connection for a node of the move".into(),
            ));
        }
        for conn in refs.iter_mut() {
            conn.query_drop(&format!("SAVEPOINT {MOVE_SAVEPOINT}"))
                .await?;
        }
        let steps = Steps {
            nodes: &nodes,
            plan,
            m,
            encoding,
            max_rows,
        };
        let result = steps.run(&mut refs).await;
        let end = match result {
            Ok(_) => "RELEASE SAVEPOINT",
            Err(_) => "ROLLBACK TO SAVEPOINT",
        };
        for conn in refs.iter_mut().filter(|c| !c.broken) {
            if conn
                .query_drop(&format!("{end} {MOVE_SAVEPOINT}"))
                .await
                .is_err()
            {
                conn.broken = true;
            }
        }
        result
    }

    /// One primary connection per node of the move, one transaction across
    /// them.
    async fn key_move_pooled(
        &mut self,
        plan: &ShardPlan,
        m: &KeyMove,
        encoding: Encoding<'_>,
    ) -> Result<OkPacket> {
        let nodes = move_nodes(plan, m);
        self.start_checkout_clock();
        let mut conns: Vec<PooledConn> = Vec::with_capacity(nodes.len());
        for &node in &nodes {
            let got = self.checkout_many_retrying(node, Role::Primary, 1).await?;
            conns.extend(got.into_iter().take(1));
        }
        if conns.len() != nodes.len() {
            return Err(ProxyError::Internal(
                "no connection for a node of the move".into(),
            ));
        }
        let config = self.proxy.config.load();
        let max_rows = config.routing.move_max_rows;
        let gtrid = (self.xa_mode() && nodes.len() > 1)
            .then(|| xa::new_gtrid(config.id_generator.worker_id, nodes[0]));
        let service = self.decision_pool(nodes[0]);
        let decider = super::xa_tx::decider(&service);
        let result = {
            let mut refs: Vec<&mut BackendConn> = conns.iter_mut().map(|c| &mut **c).collect();
            Self::forget_write_gtids(&mut refs);
            let (started, begun) = match &gtrid {
                Some(g) => xa::begin(&mut refs, g, decider).await,
                None => begin_plain(&mut refs).await,
            };
            let steps = Steps {
                nodes: &nodes,
                plan,
                m,
                encoding,
                max_rows,
            };
            let result = match begun {
                Ok(()) => steps.run(&mut refs).await,
                Err(e) => Err(e),
            };
            match &gtrid {
                Some(g) => xa::finish(&mut refs[..started], g, result, decider).await,
                None => {
                    let ended = end_all(&mut refs[..started], result.is_ok()).await;
                    let mut ok = result?;
                    ended?;
                    ok.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
                    Ok(ok)
                }
            }
        };
        self.record_write_gtids(&mut conns);
        for conn in conns {
            if !conn.broken {
                conn.release();
            }
        }
        result
    }
}

/// The savepoint that makes a move inside a transaction one statement.
const MOVE_SAVEPOINT: &str = "shardcat_key_move";

/// The nodes of a move, in order: the UPDATE's and the new key's.
fn move_nodes(plan: &ShardPlan, m: &KeyMove) -> Vec<usize> {
    let mut nodes = plan_nodes(plan);
    nodes.push(m.dest.node);
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// `START TRANSACTION` on every connection: how many started, and the
/// first failure.
async fn begin_plain(conns: &mut [&mut BackendConn]) -> (usize, Result<()>) {
    for (i, conn) in conns.iter_mut().enumerate() {
        if let Err(e) = conn.query_drop("START TRANSACTION").await {
            return (i, Err(e));
        }
    }
    (conns.len(), Ok(()))
}

/// The statements of one move (the connections are `nodes`' in order).
struct Steps<'a> {
    nodes: &'a [usize],
    plan: &'a ShardPlan,
    m: &'a KeyMove,
    encoding: Encoding<'a>,
    max_rows: usize,
}

impl Steps<'_> {
    fn at(&self, node: usize) -> Result<usize> {
        self.nodes
            .iter()
            .position(|&n| n == node)
            .ok_or_else(|| ProxyError::Internal(format!("node #{node} is not in the move")))
    }

    /// The UPDATEs (their OKs summed: what the client is told), then the
    /// rows that left each source table, into the new key's table.
    async fn run(&self, conns: &mut [&mut BackendConn]) -> Result<OkPacket> {
        let mut total = OkPacket::default();
        for t in &self.plan.targets {
            let i = self.at(t.node)?;
            let command = Command::for_target(&self.encoding, t);
            let kind = WriteKind::of_sql(&t.sql);
            let ok = run_on_all(&mut [&mut *conns[i]], &[command], kind).await?;
            add_ok(&mut total, ok);
        }
        let m = self.m;
        let schema = m.schema.as_deref();
        let key = quote_ident(&m.key);
        let dest = self.at(m.dest.node)?;
        let dest_table = table_sql(schema, &m.dest.table);
        let mut names: Option<Vec<String>> = None;
        let mut moved = 0usize;
        let plain = no_params();
        for s in &m.sources {
            let i = self.at(s.node)?;
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
