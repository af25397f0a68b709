//! Binary prepared statements on sharded and broadcast tables.
//!
//! COM_STMT_PREPARE plans the statement without parameter values to find a
//! representative target, prepares that target's SQL on its node and
//! answers with the logical statement's parameter count and the columns
//! the client will see (hidden merge columns dropped, merged AVG shown with
//! AVG's scale). Nothing of that target is kept: every COM_STMT_EXECUTE is
//! planned again with its parameter values, so a key that routes elsewhere
//! is served by the shard that holds it (from the statement's analysis,
//! kept after the first execute: `ShardRouter::plan_prepared`).
//!
//! Every target runs as a binary COM_STMT_EXECUTE of its own physical SQL,
//! prepared lazily on the backend connection (the connection's statement
//! cache), binding the client's parameters the target keeps
//! (`ShardTarget::params`). One target: the binary answer is relayed
//! untouched. Several: writes add their OKs, reads are merged by
//! `execute::scatter` on binary rows converted losslessly to text rows and
//! back (`merge::binary`). Parameters are never inlined into SQL text, so
//! escaping, character sets and float formatting cannot change a value.
//!
//! Owns: the prepared-statement side of running a shard plan. Must not plan
//! (that is `router::shard`) or merge rows (that is `execute::scatter`).

use std::sync::Arc;

use bytes::Bytes;

use super::sharded::WriteGate;
use super::Session;
use crate::error::{ProxyError, Result};
use crate::execute::Encoding;
use crate::frontend::prepared::{self, ClientStatement, ExecuteRequest};
use crate::placement::ParamValue;
use crate::router;
use crate::router::shard::{PlanKind, ShardPlan, ShardRouter, ShardTarget};
use crate::sql::lexer::{Lexer, TokenKind};
use crate::sql::Classified;

/// Stand-ins for unknown parameters when a statement cannot be planned
/// without values (an INSERT's key, `LIMIT ?`): a number and a date-time,
/// which between them convert to every key type.
const PREPARE_PLACEHOLDERS: [&[u8]; 2] = [b"0", b"2026-01-01 00:00:00"];

/// The `?` placeholders of a statement, as the server counts them.
fn placeholder_count(sql: &str) -> usize {
    Lexer::new(sql.as_bytes())
        .filter(|t| t.kind == TokenKind::Placeholder)
        .count()
}

impl Session {
    /// The sharding rules a statement runs under: a transaction finishes
    /// on the rules it started with, even across a reload, but for a shard
    /// move's switch (writes to the moved tables are done then).
    pub(super) fn rules_for_statement(&mut self) -> Option<Arc<ShardRouter>> {
        if self.pins.transaction {
            let epoch = self.proxy.write_gates.epoch();
            if self.tx_router.is_none() || self.tx_epoch != epoch {
                self.tx_router = self.proxy.shard_router.load_full();
                self.tx_epoch = epoch;
            }
            self.tx_router.clone()
        } else {
            self.tx_router = None;
            self.proxy.shard_router.load_full()
        }
    }

    /// Plans a statement being prepared, without parameter values.
    /// `Ok(None)`: no sharding rule is involved. Statements that need
    /// values to be planned at all are planned with stand-ins; the plan
    /// only serves to find a representative target.
    pub(super) fn plan_for_prepare(
        &self,
        router: &ShardRouter,
        sql: &str,
    ) -> Result<Option<ShardPlan>> {
        let schema = self.state.schema.as_deref();
        let first = match router.plan(sql, schema, &[]) {
            Ok(None) => return Ok(None),
            Ok(Some(p)) => {
                self.planned_as_the_server_lexes(sql)?;
                return Ok(Some(p));
            }
            Err(e) => {
                self.planned_as_the_server_lexes(sql)?;
                e
            }
        };
        let n = placeholder_count(sql);
        if n == 0 {
            return Err(first.into());
        }
        // A routed period's first day as `YYYYMMDD` reads as an integer and
        // as a date: it serves a composite table's key and period column.
        let days: Vec<String> = router
            .tables
            .iter()
            .filter_map(|t| t.sharded())
            .filter(|s| s.root.composite().is_some())
            .filter_map(|s| s.root.period_of_slot(s.root.first_live_slot()))
            .filter_map(|period| period.first_day())
            .map(|d| format!("{:04}{:02}{:02}", d.year(), d.month(), d.day()))
            .collect();
        for stand_in in PREPARE_PLACEHOLDERS
            .into_iter()
            .chain(days.iter().map(String::as_bytes))
        {
            let params = vec![ParamValue::Bytes(stand_in); n];
            if let Ok(p) = router.plan(sql, schema, &params) {
                if p.is_some() {
                    self.planned_as_the_server_lexes(sql)?;
                }
                return Ok(p);
            }
        }
        Err(first.into())
    }

    /// COM_STMT_PREPARE of a statement on sharded or broadcast tables.
    pub(super) async fn prepare_sharded(
        &mut self,
        sql_text: Arc<str>,
        c: Classified,
        plan: ShardPlan,
        seq: &mut u8,
    ) {
        let Some(target) = plan.targets.first() else {
            self.write_error_seq(&ProxyError::Internal("empty shard plan".into()), seq)
                .await;
            return;
        };
        let node = target.node;
        let target_sql: Arc<str> = Arc::from(target.sql.as_str());
        let route = router::route(&c, &self.view(node));
        // A replica answers as well as the primary, once it has the
        // session's last write there (a table the session just created).
        let acquired = match self.acquire(&route, &c).await {
            Ok(i) => self.ensure_fresh(i, &c).await,
            Err(e) => Err(e),
        };
        let i = match acquired {
            Ok(i) => i,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let defs = match prepared::prepare_metadata(&mut self.held[i].conn, &target_sql).await {
            Ok(Ok(d)) => d,
            Ok(Err(err)) => {
                self.write_error_seq(&ProxyError::Backend(err), seq).await;
                self.release_unpinned();
                return;
            }
            Err(e) => {
                self.drop_held(i);
                self.after_failure();
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        self.release_unpinned();
        // The columns the client will see: a scattered read shows what the
        // merge presents; one target shows its own.
        let default_merge = crate::router::shard::MergeSpec::default();
        let columns: Vec<Bytes> = match (&plan.merge, plan.targets.len()) {
            (Some(_), n) if n > 1 => {
                let named = self.with_logical_tables(&plan);
                let m = named
                    .as_ref()
                    .and_then(|p| p.merge.as_deref())
                    .or(plan.merge.as_deref())
                    .unwrap_or(&default_merge);
                match crate::execute::merge::merged_column_defs(defs.column_defs, m) {
                    Ok(c) => c,
                    Err(e) => {
                        self.write_error_seq(&e, seq).await;
                        return;
                    }
                }
            }
            _ => {
                let names = self.logical_names(&plan);
                let names = names.as_deref().unwrap_or(&[]);
                defs.column_defs
                    .iter()
                    .map(|d| crate::execute::merge::logical_table_names(d, names))
                    .collect()
            }
        };
        let params = placeholder_count(&sql_text);
        let param_def = defs
            .param_defs
            .first()
            .map(|d| d.to_vec())
            .unwrap_or_else(|| {
                let d = prepared::placeholder_param_def();
                if self.extended_metadata {
                    crate::wire::packets::with_empty_extended_metadata(&d)
                } else {
                    d
                }
            });
        let param_defs = vec![param_def; params];
        let (Ok(params16), Ok(columns16)) = (u16::try_from(params), u16::try_from(columns.len()))
        else {
            let e = ProxyError::Unsupported(
                "a prepared statement with more than 65535 parameters or columns".into(),
            );
            self.write_error_seq(&e, seq).await;
            return;
        };
        let id = self.next_statement_id;
        if prepared::send_prepare_ok(
            &mut self.client,
            self.caps,
            seq,
            id,
            &param_defs,
            &columns,
            self.status,
        )
        .await
        .is_err()
        {
            return;
        }
        self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
        let mut stmt = ClientStatement::new(sql_text, c, params16, columns16);
        stmt.sharded = true;
        self.statements.insert(id, stmt);
    }

    /// COM_STMT_EXECUTE of a statement prepared by
    /// [`Session::prepare_sharded`]: planned with the parameter values.
    pub(super) async fn execute_sharded(
        &mut self,
        id: u32,
        c: &Classified,
        sql_text: &Arc<str>,
        request: &ExecuteRequest,
        long_data: &[(u16, Vec<u8>)],
        seq: &mut u8,
    ) {
        let bound = match request.bound_params(long_data) {
            Ok(b) => b,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let values = request.param_values(&bound, long_data);
        let mut plan = match self
            .plan_execute(id, sql_text, c, &values, bound.len())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        let encoding = Encoding::Binary {
            request,
            bound: &bound,
            long_data,
        };
        loop {
            match self.write_gate(&plan).await {
                WriteGate::Pass(in_flight) => {
                    if request.wants_cursor() && plan.returns_rows() {
                        self.run_plan_for_cursor(id, &plan, c, encoding, seq).await;
                    } else {
                        self.run_plan(&plan, c, encoding, seq).await;
                    }
                    return self.keep_for_transaction(in_flight);
                }
                WriteGate::Waited => {
                    match self
                        .plan_execute(id, sql_text, c, &values, bound.len())
                        .await
                    {
                        Ok(p) => plan = p,
                        Err(e) => return self.write_error_seq(&e, seq).await,
                    }
                }
            }
        }
    }

    /// The plan of an executed prepared statement.
    async fn plan_execute(
        &mut self,
        id: u32,
        sql_text: &str,
        c: &Classified,
        values: &[ParamValue<'_>],
        param_count: usize,
    ) -> Result<ShardPlan> {
        let router = self.rules_for_statement();
        // A text without ORDER/GROUP/DISTINCT (seen at its first execute)
        // sorts by no column kind.
        let sortless = self
            .statements
            .get(&id)
            .is_some_and(|s| s.shard_shape.is_sortless());
        if let (Some(router), false) = (&router, sortless) {
            // A cross-shard sort by an ENUM/SET column: its kind first.
            self.ensure_select_kinds(router, sql_text, c).await?;
        }
        let planned = match (router, self.statements.get_mut(&id)) {
            (Some(router), Some(stmt)) => router.plan_prepared(
                &mut stmt.shard_shape,
                sql_text,
                self.state.schema.as_deref(),
                values,
            ),
            (Some(router), None) => router.plan(sql_text, self.state.schema.as_deref(), values),
            (None, _) => Ok(None),
        };
        match planned {
            Ok(Some(p)) => {
                self.planned_as_the_server_lexes(sql_text)?;
                Ok(p)
            }
            // The rules changed since PREPARE and no longer name these
            // tables: the statement runs where its database lives.
            Ok(None) => Ok(ShardPlan {
                targets: vec![ShardTarget {
                    node: self.node_for_session(),
                    sql: sql_text.to_string(),
                    tables: Default::default(),
                    params: (0..param_count).collect(),
                    local_file: None,
                    rows: None,
                }],
                kind: PlanKind::Single,
                merge: None,
                generated_id: None,
                write: false,
            }),
            Err(e) => {
                self.planned_as_the_server_lexes(sql_text)?;
                Err(ProxyError::from(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::placeholder_count;

    #[test]
    fn placeholders_outside_literals_and_comments() {
        assert_eq!(
            placeholder_count("SELECT ? FROM t WHERE a = ? AND b IN (?, ?)"),
            4
        );
        assert_eq!(
            placeholder_count("SELECT '?', `?`, \"?\" /* ? */ FROM t -- ?\n WHERE a = ?"),
            1
        );
        assert_eq!(placeholder_count("SELECT 1"), 0);
    }
}
