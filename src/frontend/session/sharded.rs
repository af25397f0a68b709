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

use crate::router::shard::meta::MetaStatement;
use crate::router::shard::{PlanKind, ShardPlan, ShardRouter};
use crate::router::{self, RoutePlan};
use crate::sql::Classified;
use crate::wire::command;

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
            ShardedPath::Plan(plan) => self.run_plan(&plan, c, Encoding::Text, seq).await,
            ShardedPath::Refused(e) => self.write_error_seq(&e, seq).await,
            ShardedPath::LoadData(router, req) => {
                self.run_load_data(router, &req, text, c, seq).await
            }
        }
    }

    /// Plans `text` against the sharding rules in force.
    async fn plan_path(&mut self, text: &str, c: &Classified) -> Option<ShardedPath> {
        // A transaction finishes on the rules it started with, even if the
        // configuration is reloaded meanwhile.
        let router = if self.pins.transaction {
            if self.tx_router.is_none() {
                self.tx_router = self.proxy.shard_router.load_full();
            }
            self.tx_router.clone()
        } else {
            self.tx_router = None;
            self.proxy.shard_router.load_full()
        };
        let router = router?;
        // INSERT without a column list: the table's columns first (see
        // `metadata`).
        if let Err(e) = self.ensure_insert_columns(&router, text, c).await {
            return Some(ShardedPath::Refused(e));
        }
        // A cross-shard sort by an ENUM/SET column: its kind first.
        if let Err(e) = self.ensure_select_kinds(&router, text, c).await {
            return Some(ShardedPath::Refused(e));
        }
        // Under LOCK TABLES only the locked names (the physical tables) may
        // be used: no logical aliases.
        let unaliased = self.table_locks.held;
        if c.kind == crate::sql::StatementKind::Ddl {
            for w in router.unique_key_warnings(text, self.state.schema.as_deref()) {
                tracing::warn!(conn = self.id, "{w}");
            }
        }
        match router.plan_with(text, self.state.schema.as_deref(), &[], unaliased) {
            Ok(None) => None,
            Ok(Some(p)) => Some(ShardedPath::Plan(p)),
            Err(e) => Some(ShardedPath::Refused(ProxyError::from(e))),
        }
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
                tables: Vec::new(),
                params: Vec::new(),
                local_file: None,
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
    /// `LOAD DATA` into a sharded or broadcast table (`load_data`).
    LoadData(
        Arc<ShardRouter>,
        Box<crate::router::shard::load_data::LoadRequest>,
    ),
}
