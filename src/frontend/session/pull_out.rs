//! Subqueries pulled out of a SELECT the planner refused: each
//! uncorrelated `[NOT] IN (SELECT …)` / `[NOT] EXISTS (SELECT …)` over
//! sharded tables (found by `router::shard::pull_out`) runs first as a
//! statement of its own — planned, and pulled out from, like any, run on
//! the session's connections (its transaction's, when pinned) and merged
//! into memory — and its answer replaces it in the text: a literal list of
//! at most `[routing] subquery_max_values` values, or a constant subquery.
//! The rewritten text is then planned as the client's statement.
//!
//! Owns: running a pulled-out subquery and substituting its answer. Must
//! not find subqueries or write literals (that is `router::shard::
//! pull_out`) nor merge rows (that is `execute::scatter::merge_collect`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::connections::Binding;
use super::pinned_reads::MAX_BUFFERED_BYTES;
use super::Session;
use crate::error::{ProxyError, Result};
use crate::execute::move_rows::no_params;
use crate::execute::scatter::{merge_collect, read_answer, ShardSource};
use crate::execute::{Command, Encoding, Protocol};
use crate::frontend::prepared::{ExecutePackets, ExecuteRequest};
use crate::merge::{ColumnInfo, TextRow};
use crate::router;
use crate::router::shard::pull_out::{exists_text, in_list_text, literal, substitute, PullKind};
use crate::router::shard::{quote_sql, MergeSpec, ShardPlan, ShardRouter, ShardTarget};
use crate::sql::Classified;
use crate::wire::packets::ErrPacket;

/// Subqueries inside pulled-out subqueries are pulled out too, this deep.
const MAX_DEPTH: usize = 4;

type Answer = (Vec<ColumnInfo>, Vec<TextRow>);

impl Session {
    /// `text` (a SELECT the planner refused) with its pull-out subqueries
    /// run and replaced by their answers; `Ok(None)` when it has none.
    pub(super) fn pull_out_subqueries<'a>(
        &'a mut self,
        router: &'a Arc<ShardRouter>,
        text: &'a str,
        c: &'a Classified,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>>> + Send + 'a>> {
        Box::pin(async move {
            let pulls = router.pull_outs(text);
            if pulls.is_empty() || depth >= MAX_DEPTH {
                return Ok(None);
            }
            let max = self.proxy.config.load().routing.subquery_max_values;
            let mut replaced = Vec::with_capacity(pulls.len());
            for p in &pulls {
                let with = match p.kind {
                    PullKind::Exists => {
                        let (_, rows) = self.run_inner(router, &p.inner, c, depth, 1).await?;
                        exists_text(!rows.is_empty()).to_owned()
                    }
                    PullKind::InWithLimit => {
                        return Err(ProxyError::Unsupported(
                            "LIMIT & IN/ALL/ANY/SOME subquery".into(),
                        ))
                    }
                    PullKind::Scalar { collation } => {
                        let answer = self.run_inner(router, &p.inner, c, depth, 2).await?;
                        if answer.1.len() > 1 {
                            return Err(ProxyError::Backend(ErrPacket::new(
                                1242,
                                "21000",
                                "Subquery returns more than 1 row",
                            )));
                        }
                        format!(
                            "({})",
                            scalar_value(&p.inner, &answer, collation, p.aggregate)?
                        )
                    }
                    PullKind::In { collation } => {
                        let limit = max.saturating_add(1);
                        let answer = self.run_inner(router, &p.inner, c, depth, limit).await?;
                        in_list_text(&in_values(&p.inner, &answer, collation, p.aggregate, max)?)
                    }
                };
                replaced.push((p.range.clone(), with));
            }
            Ok(Some(substitute(text, &replaced)))
        })
    }

    /// Plans and runs a pulled-out subquery; at most `limit` rows.
    async fn run_inner(
        &mut self,
        router: &Arc<ShardRouter>,
        inner: &str,
        c: &Classified,
        depth: usize,
        limit: usize,
    ) -> Result<Answer> {
        let Some(planned) = self.plan_inner(router, inner, c, depth).await? else {
            return Err(ProxyError::Unsupported(format!(
                "the subquery {} names no sharded table after all",
                quote_sql(inner)
            )));
        };
        self.collect_plan(&planned, c, limit, Protocol::Text).await
    }

    /// Plans a read the proxy runs itself (a pulled-out subquery, the
    /// SELECT of an INSERT … SELECT), its own subqueries pulled out if it
    /// needs that; `None` when it names no table with a rule.
    pub(super) async fn plan_inner(
        &mut self,
        router: &Arc<ShardRouter>,
        inner: &str,
        c: &Classified,
        depth: usize,
    ) -> Result<Option<ShardPlan>> {
        self.ensure_select_kinds(router, inner, c).await?;
        let schema = self.state.schema.clone();
        let unaliased = self.table_locks.held;
        let plan = |sql: &str| router.plan_with(sql, schema.as_deref(), &[], unaliased);
        let planned = match plan(inner) {
            Ok(p) => p,
            Err(refused) => match self
                .pull_out_subqueries(router, inner, c, depth + 1)
                .await?
            {
                Some(rewritten) => plan(&rewritten)?,
                None => return Err(refused.into()),
            },
        };
        Ok(planned.map(|mut p| {
            self.unlimited_subquery(&mut p);
            p
        }))
    }

    /// Runs a read plan and merges its answer into memory (at most
    /// `limit` rows), its rows sent in `protocol` (binary: exact values,
    /// as canonical text rows): on the session's connection of each node
    /// when it is pinned (one target after the other), else on pooled
    /// connections.
    pub(super) async fn collect_plan(
        &mut self,
        plan: &ShardPlan,
        c: &Classified,
        limit: usize,
        protocol: Protocol,
    ) -> Result<Answer> {
        let no_merge = MergeSpec::default();
        let merge = plan.merge.as_deref().unwrap_or(&no_merge);
        let budget = self.merge_budget();
        let first = plan
            .targets
            .first()
            .ok_or_else(|| ProxyError::Internal("empty shard plan".into()))?;
        if self.pins.transaction || self.pins.session_state {
            self.hold_target_nodes(plan, c).await?;
            let mut sources = Vec::with_capacity(plan.targets.len());
            for t in &plan.targets {
                let Some(h) = self.held.iter_mut().find(|h| h.node == t.node) else {
                    return Err(ProxyError::Internal(
                        "no connection for a shard target".into(),
                    ));
                };
                let answer = read_target(&mut h.conn, t, protocol).await?;
                sources.push(ShardSource::Read(answer));
            }
            return merge_collect(&mut sources, protocol, merge, budget, limit).await;
        }
        let role = router::route(c, &self.view(first.node)).role;
        let Binding::Pooled { mut conns, assign } = self.bind_targets(plan, role, c).await? else {
            return Err(ProxyError::Internal(
                "a pooled read got held connections".into(),
            ));
        };
        let collected = async {
            if conns.len() == plan.targets.len() {
                for (i, t) in plan.targets.iter().enumerate() {
                    if let Err(e) = read_command(t, protocol).send_on(&mut conns[i]).await {
                        // Answers already on their way are not wanted.
                        for conn in conns[..i].iter_mut() {
                            conn.broken = true;
                        }
                        return Err(e);
                    }
                }
                let mut sources: Vec<ShardSource<'_>> =
                    conns.iter_mut().map(|c| ShardSource::live(c)).collect();
                merge_collect(&mut sources, protocol, merge, budget, limit).await
            } else {
                let mut sources = Vec::with_capacity(plan.targets.len());
                for (t, &i) in plan.targets.iter().zip(&assign) {
                    let answer = read_target(&mut conns[i], t, protocol).await?;
                    sources.push(ShardSource::Read(answer));
                }
                merge_collect(&mut sources, protocol, merge, budget, limit).await
            }
        }
        .await;
        for conn in conns {
            if !conn.broken {
                conn.release();
            }
        }
        collected
    }
}

/// The command that reads target `t` (no parameters) in `protocol`.
fn read_command(t: &ShardTarget, protocol: Protocol) -> Command<'_> {
    match protocol {
        Protocol::Text => Command::for_target(&Encoding::Text, t),
        Protocol::Binary => Command::Execute {
            sql: crate::execute::command::StmtText::Target(&t.sql),
            packets: ExecutePackets::Client {
                request: &NO_PARAMS,
                long_data: &[],
            },
        },
    }
}

/// An execute without parameters.
static NO_PARAMS: std::sync::LazyLock<ExecuteRequest> = std::sync::LazyLock::new(no_params);

/// Sends target `t` on `conn` and reads its whole answer (bounded).
async fn read_target(
    conn: &mut crate::backend::BackendConn,
    t: &ShardTarget,
    protocol: Protocol,
) -> Result<crate::execute::scatter::ReadAnswer> {
    read_command(t, protocol).send_on(conn).await?;
    let answer = read_answer(conn, MAX_BUFFERED_BYTES).await?;
    match answer.error() {
        Some(e) => Err(e),
        None => Ok(answer),
    }
}

/// The value of a scalar subquery's answer (at most one row) as a
/// literal: NULL without rows.
fn scalar_value(inner: &str, answer: &Answer, collation: bool, aggregate: bool) -> Result<String> {
    Ok(in_values(inner, answer, collation, aggregate, 1)?
        .pop()
        .unwrap_or_else(|| "NULL".to_owned()))
}

/// The values of an `IN` subquery's answer as literals; `collation`: the
/// second column is the item's `COLLATION()`.
fn in_values(
    inner: &str,
    answer: &Answer,
    collation: bool,
    aggregate: bool,
    max: usize,
) -> Result<Vec<String>> {
    let (columns, rows) = answer;
    if rows.len() > max {
        return Err(ProxyError::Unsupported(format!(
            "the subquery {} returns more than {max} values, which shardcat would have to put \
             into the statement as a list ([routing] subquery_max_values); tie it to the outer \
             query by the sharding key or narrow it",
            quote_sql(inner)
        )));
    }
    let Some(col) = columns.first() else {
        return Err(ProxyError::Internal("a subquery without columns".into()));
    };
    let mut values = Vec::with_capacity(rows.len());
    for row in rows {
        let coll = if collation {
            row.value(1).and_then(|v| std::str::from_utf8(v).ok())
        } else {
            None
        };
        let v = literal(
            col.column_type,
            col.flags,
            col.charset,
            coll,
            row.value(0),
            aggregate,
        )
        .map_err(|why| {
            ProxyError::Unsupported(format!(
                "the subquery {} cannot be run first and put into the statement as a list: {why}",
                quote_sql(inner)
            ))
        })?;
        values.push(v);
    }
    Ok(values)
}
