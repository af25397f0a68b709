//! Text statements on sharded and broadcast tables: planning them against
//! the rules in force (a transaction keeps the rules it started with), and
//! the statements whose answer gathers every node (`SHOW TABLES`,
//! `CREATE/DROP DATABASE`).
//!
//! Owns: deciding that a statement is the sharding router's, and getting
//! its plan. Must not run plans (that is `run_plan`) or plan (that is
//! `router::shard`).

use super::Session;
use crate::error::ProxyError;
use crate::execute::Encoding;
use std::sync::Arc;

use crate::frontend::write_gate::InFlight;
use crate::router::shard::meta::MetaStatement;
use crate::router::shard::{PlanKind, ShardPlan, ShardRouter};
use crate::router::{self, RoutePlan};
use crate::sql::Classified;
use crate::wire::command;

/// See [`Session::write_gate`].
pub(super) enum WriteGate {
    /// Run it (holding the in-flight registration of a write).
    Pass(Option<InFlight>),
    /// A pause ended: plan again.
    Waited,
}

impl Session {
    /// Which sharded path answers `text`, if any: a statement about
    /// logical tables, `SHOW TABLES`, database DDL over every node, or a
    /// plan of the sharding router. `None`: no sharded or broadcast table
    /// is involved, the statement takes the plain path.
    pub(super) async fn sharded_path(&mut self, text: &str, c: &Classified) -> Option<ShardedPath> {
        if let Some(path) = self.metadata_path(text, c) {
            return Some(path);
        }
        if let Some(path) = self.show_tables_path(c) {
            return Some(path);
        }
        if let Some(path) = self.database_ddl_path(text, c) {
            return Some(path);
        }
        if c.kind == crate::sql::StatementKind::LoadData {
            return self.load_data_path(text, c);
        }
        self.plan_path(text, c).await
    }

    /// Runs what [`sharded_path`](Self::sharded_path) chose.
    pub(super) async fn run_sharded_path(
        &mut self,
        path: ShardedPath,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        match path {
            ShardedPath::UnlockEverywhere => self.unlock_everywhere(c, seq).await,
            ShardedPath::Metadata(router, meta) => {
                self.run_metadata(router, meta, text, c, seq).await
            }
            ShardedPath::ShowTables(router) => self.run_show_tables(&router, text, c, seq).await,
            ShardedPath::Plan(plan) => self.run_gated_plan(plan, text, c, seq).await,
            ShardedPath::Refused(e) => self.write_error_seq(&e, seq).await,
            ShardedPath::InsertSelect(router, is) => {
                self.run_insert_select(router, is, text, c, seq).await
            }
            ShardedPath::LoadData(router, req) => {
                self.run_load_data(router, &req, text, c, seq).await
            }
        }
    }

    /// Runs a text plan once the writes it makes are not paused by a shard
    /// move (planned again after a pause: the tables may have moved).
    async fn run_gated_plan(
        &mut self,
        mut plan: ShardPlan,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        loop {
            match self.write_gate(&plan).await {
                WriteGate::Pass(in_flight) => {
                    self.run_plan(&plan, c, Encoding::Text, seq).await;
                    return self.keep_for_transaction(in_flight);
                }
                WriteGate::Waited => match self.plan_path(text, c).await {
                    Some(ShardedPath::Plan(p)) => plan = p,
                    Some(ShardedPath::Refused(e)) => return self.write_error_seq(&e, seq).await,
                    _ => {
                        let e = ProxyError::Internal(
                            "the statement changed kind when planned again".into(),
                        );
                        return self.write_error_seq(&e, seq).await;
                    }
                },
            }
        }
    }

    /// A write's pass through the write gates: registered as in flight,
    /// or `Waited` for a pause to end (plan it again then).
    pub(super) async fn write_gate(&self, plan: &ShardPlan) -> WriteGate {
        if !plan.write {
            return WriteGate::Pass(None);
        }
        let gates = &self.proxy.write_gates;
        // A transaction that wrote before a pause began finishes its
        // writes where it made them: the pause waits for it to end.
        if let Some(held) = &self.tx_in_flight {
            if gates.predates_pause(held) {
                return WriteGate::Pass(None);
            }
        }
        let in_flight = gates.enter();
        let targets = plan
            .targets
            .iter()
            .flat_map(|t| t.tables.iter().map(move |name| (t.node, name.as_str())));
        match gates.paused_until(targets) {
            None => WriteGate::Pass(Some(in_flight)),
            Some(until) => {
                drop(in_flight);
                gates.wait(until).await;
                // Ended by its deadline (the command died inside it?): the
                // placement file may name the new node: reload first.
                let proxy = &self.proxy;
                match gates.expire(|| proxy.reload()) {
                    Some(Ok(msg)) => {
                        tracing::warn!("a write pause ended by its deadline; {msg}")
                    }
                    Some(Err(e)) => tracing::error!(
                        "a write pause ended by its deadline; reload refused, the running configuration stays: {e}"
                    ),
                    None => {}
                }
                WriteGate::Waited
            }
        }
    }

    /// After a write that passed the gates: a transaction keeps its first
    /// write's registration until it ends (`after_statement` drops it).
    pub(super) fn keep_for_transaction(&mut self, in_flight: Option<InFlight>) {
        let in_trans =
            self.status & mysql_common::constants::StatusFlags::SERVER_STATUS_IN_TRANS.bits() != 0;
        if in_trans && self.tx_in_flight.is_none() {
            self.tx_in_flight = in_flight;
        }
    }

    /// Plans `text` against the sharding rules in force.
    async fn plan_path(&mut self, text: &str, c: &Classified) -> Option<ShardedPath> {
        let router = self.rules_for_statement()?;
        // Under LOCK TABLES only the locked names (the physical tables) may
        // be used: no logical aliases.
        let unaliased = self.table_locks.held;
        let shaped = matches!(
            c.kind,
            crate::sql::StatementKind::Select
                | crate::sql::StatementKind::Update
                | crate::sql::StatementKind::Delete
        );
        // A shape this session planned before (its column kinds settled).
        if shaped {
            let kept = router.plan_kept_text(
                &self.text_shapes,
                text,
                self.kept_tokens.for_text(text),
                self.state.schema.as_deref(),
                unaliased,
            );
            if let Some(plan) = kept {
                if let Err(e) = self.planned_as_the_server_lexes(text) {
                    return Some(ShardedPath::Refused(e));
                }
                return Some(ShardedPath::Plan(plan));
            }
        }
        // Read before the column kinds are checked: kinds learned after
        // it bump it.
        let generation = router.generation();
        // INSERT without a column list: the table's columns first (see
        // `metadata`).
        if let Err(e) = self.ensure_insert_columns(&router, text, c).await {
            return Some(ShardedPath::Refused(e));
        }
        if matches!(
            c.kind,
            crate::sql::StatementKind::Insert | crate::sql::StatementKind::Replace
        ) {
            if let Some(planned) = router.insert_select(text, self.state.schema.as_deref()) {
                return Some(match planned {
                    Ok(is) => ShardedPath::InsertSelect(router, Box::new(is)),
                    Err(e) => ShardedPath::Refused(e.into()),
                });
            }
        }
        // A cross-shard sort by an ENUM/SET column: its kind first.
        let settled = match self.ensure_select_kinds(&router, text, c).await {
            Ok(settled) => settled,
            Err(e) => return Some(ShardedPath::Refused(e)),
        };
        if c.kind == crate::sql::StatementKind::Ddl {
            for w in router.unique_key_warnings(text, self.state.schema.as_deref()) {
                tracing::warn!(conn = self.id, "{w}");
            }
        }
        let keep = crate::router::shard::KeepShape {
            generation,
            settled: settled && shaped,
        };
        let planned = router.plan_text(
            &mut self.text_shapes,
            text,
            self.kept_tokens.for_text(text),
            self.state.schema.as_deref(),
            unaliased,
            keep,
        );
        if !matches!(planned, Ok(None)) {
            // Also when the router could not parse it: the mode is why.
            if let Err(e) = self.planned_as_the_server_lexes(text) {
                return Some(ShardedPath::Refused(e));
            }
        }
        match planned {
            Ok(None) => None,
            Ok(Some(p)) => Some(ShardedPath::Plan(p)),
            Err(e) => Some(self.pulled_out_path(&router, text, c, e).await),
        }
    }

    /// A SELECT the planner refused: planned again with its uncorrelated
    /// subqueries run first and replaced by their answers (`pull_out`), or
    /// the refusal. A subquery that fails with an unknown column refers to
    /// the outer query (correlated): the planner's refusal says why.
    async fn pulled_out_path(
        &mut self,
        router: &Arc<ShardRouter>,
        text: &str,
        c: &Classified,
        refused: crate::router::shard::RouteError,
    ) -> ShardedPath {
        if c.kind != crate::sql::StatementKind::Select {
            return ShardedPath::Refused(refused.into());
        }
        match self.pull_out_subqueries(router, text, c, 0).await {
            Ok(None) => ShardedPath::Refused(refused.into()),
            Ok(Some(rewritten)) => {
                let unaliased = self.table_locks.held;
                match router.plan_with(&rewritten, self.state.schema.as_deref(), &[], unaliased) {
                    Ok(Some(p)) => ShardedPath::Plan(p),
                    Ok(None) => ShardedPath::Refused(refused.into()),
                    Err(e) => ShardedPath::Refused(e.into()),
                }
            }
            Err(ProxyError::Backend(e)) if e.code == 1054 => ShardedPath::Refused(refused.into()),
            Err(e) => ShardedPath::Refused(e),
        }
    }

    /// The sharding router reads strings and quotes the default way
    /// (backslash escapes, `"…"` as a string). Under `NO_BACKSLASH_ESCAPES`
    /// a statement with a backslash, and under `ANSI_QUOTES` one with a
    /// double quote, may mean something else to the server (another key
    /// value, hence another shard; a string where the server sees a
    /// name): refused rather than routed by a value the server would not
    /// store.
    pub(super) fn planned_as_the_server_lexes(&self, text: &str) -> Result<(), ProxyError> {
        // Neither sign in the text (the usual case): the mode needs no
        // reading.
        let (backslash, double_quote) = (text.contains('\\'), text.contains('"'));
        if !backslash && !double_quote {
            return Ok(());
        }
        let opts = self.lex_options();
        let (mode, sign) = if opts.no_backslash_escapes && backslash {
            ("NO_BACKSLASH_ESCAPES", "a backslash")
        } else if opts.ansi_quotes && double_quote {
            ("ANSI_QUOTES", "a double quote")
        } else {
            return Ok(());
        };
        Err(ProxyError::Unsupported(format!(
            "a statement on sharded or broadcast tables containing {sign} under sql_mode \
             {mode} (the router would read its literals differently from the server; write \
             the value without it, e.g. as a hex literal, or use a prepared statement \
             parameter)"
        )))
    }

    /// `SHOW [FULL] TABLES` with sharding rules in force: the logical
    /// tables, gathered from every node (physical names mapped back, each
    /// logical table once), as one server holding everything would list
    /// them.
    fn show_tables_path(&self, c: &Classified) -> Option<ShardedPath> {
        if !matches!(
            c.kind,
            crate::sql::StatementKind::Show(crate::sql::ShowKind::Tables)
        ) {
            return None;
        }
        let router = self.proxy.shard_router.load_full()?;
        Some(ShardedPath::ShowTables(router))
    }

    async fn run_show_tables(
        &mut self,
        router: &ShardRouter,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        let full = text.to_ascii_uppercase().contains("FULL");
        let mut names: std::collections::BTreeMap<String, Vec<Option<String>>> = Default::default();
        let mut header_db = self.state.schema.clone().unwrap_or_default();
        for node in 0..self.proxy.cluster.nodes.len() {
            let plan = RoutePlan {
                node,
                role: router::route(c, &self.view(node)).role,
                reason: "SHOW TABLES",
            };
            let i = match self.acquire(&plan, c).await {
                Ok(i) => i,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return;
                }
            };
            let conn = &mut self.held[i].conn;
            let mut payload = vec![command::QUERY];
            payload.extend_from_slice(text.as_bytes());
            let rows = match conn.send_command(&payload).await {
                Ok(()) => crate::backend::connection::read_small_result(conn).await,
                Err(e) => Err(e),
            };
            match rows {
                Ok(rows) => {
                    for row in rows {
                        let Some(Some(name)) = row.first() else {
                            continue;
                        };
                        let physical = String::from_utf8_lossy(name).into_owned();
                        let logical = router.logical_name_of(&physical).unwrap_or(physical);
                        names.entry(logical).or_insert_with(|| {
                            row.iter()
                                .skip(1)
                                .map(|v| {
                                    v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
                                })
                                .collect()
                        });
                    }
                }
                Err(e) => {
                    self.held.retain(|h| !h.conn.broken);
                    self.write_error_seq(&e, seq).await;
                    self.release_unpinned();
                    return;
                }
            }
            self.release_unpinned();
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if let Some(p) = words
            .iter()
            .position(|w| w.eq_ignore_ascii_case("FROM") || w.eq_ignore_ascii_case("IN"))
        {
            if let Some(db) = words.get(p + 1) {
                header_db = db.trim_matches('`').trim_end_matches(';').to_string();
            }
        }
        let first = format!("Tables_in_{header_db}");
        let mut cols = vec![first.as_str()];
        if full {
            cols.push("Table_type");
        }
        let mut r = crate::frontend::local_result::TextResult::new(&cols);
        for (name, rest) in names {
            let mut row = vec![Some(name)];
            if full {
                row.push(rest.first().cloned().flatten());
            }
            r.row(row);
        }
        self.send_text_result(&r, seq).await;
    }

    /// `CREATE DATABASE` / `DROP DATABASE` with sharding rules in force: a
    /// database not placed on one node by `[[schema]]` holds sharded
    /// tables on every node, so it is created (dropped) on every node.
    fn database_ddl_path(&self, text: &str, c: &Classified) -> Option<ShardedPath> {
        if !matches!(c.kind, crate::sql::StatementKind::Ddl)
            || self.proxy.shard_router.load().is_none()
        {
            return None;
        }
        let words: Vec<String> = crate::sql::lexer::tokenize(text)
            .into_iter()
            .filter(|t| !t.is_trivia())
            .take(6)
            .map(|t| t.text(text).to_ascii_uppercase())
            .collect();
        let is_db_ddl = matches!(words.first().map(String::as_str), Some("CREATE" | "DROP"))
            && matches!(
                words.get(1).map(String::as_str),
                Some("DATABASE" | "SCHEMA")
            );
        if !is_db_ddl {
            return None;
        }
        let name = words
            .iter()
            .skip(2)
            .find(|w| !matches!(w.as_str(), "IF" | "NOT" | "EXISTS"))
            .map(|w| w.trim_matches('`').to_string());
        let cfg = self.proxy.config.load();
        let placed = name.as_deref().is_some_and(|n| {
            cfg.schemas
                .iter()
                .any(|s| s.name.get_ref().eq_ignore_ascii_case(n))
        });
        if placed {
            return None;
        }
        let targets = (0..self.proxy.cluster.nodes.len())
            .map(|node| crate::router::shard::ShardTarget {
                node,
                sql: text.to_string(),
                tables: Default::default(),
                params: Default::default(),
                local_file: None,
                rows: None,
            })
            .collect();
        let plan = ShardPlan {
            targets,
            kind: PlanKind::Ddl,
            merge: None,
            generated_id: None,
            write: true,
        };
        Some(ShardedPath::Plan(plan))
    }
}

/// How a statement on sharded tables is answered (see
/// [`Session::sharded_path`]).
pub(super) enum ShardedPath {
    /// `UNLOCK TABLES` of locks held on several nodes.
    UnlockEverywhere,
    /// A statement about logical tables (DESCRIBE, SHOW …, LOCK TABLES,
    /// information_schema, maintenance), answered by `metadata`.
    Metadata(Arc<ShardRouter>, MetaStatement),
    /// `SHOW [FULL] TABLES`: the logical tables of every node.
    ShowTables(Arc<ShardRouter>),
    /// A plan to run (`run_plan`).
    Plan(ShardPlan),
    /// Refused before anything ran.
    Refused(ProxyError),
    /// `INSERT … SELECT` into a sharded table (`insert_select`).
    InsertSelect(
        Arc<ShardRouter>,
        Box<crate::router::shard::insert_select::InsertSelect>,
    ),
    /// `LOAD DATA` into a sharded or broadcast table (`load_data`).
    LoadData(
        Arc<ShardRouter>,
        Box<crate::router::shard::load_data::LoadRequest>,
    ),
}
