//! Column lists of logical tables, for `INSERT INTO t VALUES …` without a
//! column list: whether the session must fetch them first, and the
//! per-router cache the session fills.
//!
//! Owns: the column-list cache. Must not plan the INSERT (see
//! `plan::insert`).

use super::*;

/// A table whose column kinds the session must fetch: `(schema, logical
/// table, slot-0 node, slot-0 physical table)`.
pub type KindsNeeded = (String, String, usize, String);

impl ShardRouter {
    /// For `INSERT|REPLACE INTO t VALUES …` without a column list into a
    /// sharded table whose columns are not cached yet: `(schema, logical
    /// table, slot-0 node, slot-0 physical table)`, the table whose column
    /// list the session must fetch (and [`ShardRouter::remember_columns`])
    /// before planning. `None` when planning needs nothing.
    pub fn columns_needed(
        &self,
        sql: &str,
        current_schema: Option<&str>,
    ) -> Option<(String, String, usize, String)> {
        if self.tables.is_empty() || !self.mentions_rule_table(sql) {
            return None;
        }
        // A text above the plan cache's limit (mysqldump's extended
        // INSERTs, up to max_allowed_packet) would be parsed here and again
        // when it is planned: once its target's columns are known, its
        // first words say that nothing is needed.
        if sql.len() > super::super::MAX_CACHED_SQL
            && self.insert_target_columns_known(sql, current_schema)
        {
            return None;
        }
        let analysis = self.analysis(sql, current_schema);
        let a = analysis.as_ref().as_ref().ok()?;
        let info = a.insert.as_ref()?;
        if !info.columns.is_empty() || info.set_form {
            return None;
        }
        let r = a.refs.get(info.target)?;
        let super::super::analyze::RefTable::Rule(t) = r.table else {
            return None;
        };
        let sharded = self.tables[t].sharded()?;
        let schema = r.schema.clone().or(current_schema.map(str::to_owned))?;
        if self.known_columns(&schema, &self.tables[t].name).is_some() {
            return None;
        }
        let (node, physical) = sharded.slots.first()?.clone();
        Some((schema, self.tables[t].name.clone(), node, physical))
    }

    /// Whether `sql` plainly starts `INSERT|REPLACE [LOW_PRIORITY |
    /// DELAYED | HIGH_PRIORITY] [IGNORE] [INTO] [db.]t` with `t` a sharded
    /// table whose columns are cached: then [`Self::columns_needed`] is
    /// `None` without parsing. Resolves `t` as the analysis does; `false`
    /// (parse and decide) for anything else. Reads only the first tokens.
    pub(super) fn insert_target_columns_known(
        &self,
        sql: &str,
        current_schema: Option<&str>,
    ) -> bool {
        use crate::sql::{Lexer, Token};
        let src = sql.as_bytes();
        let mut toks = Lexer::new(src).filter(|t| !t.is_trivia());
        let name = |t: Option<Token>| -> Option<String> {
            let t = t?;
            match t.kind {
                TokenKind::Word => Some(t.text(sql).to_owned()),
                TokenKind::QuotedIdent => {
                    Some(crate::sql::lexer::unquote(t.bytes(src)).into_owned())
                }
                _ => None,
            }
        };
        let Some(first) = toks.next() else {
            return false;
        };
        if !(first.is_keyword(src, "INSERT") || first.is_keyword(src, "REPLACE")) {
            return false;
        }
        let mut next = toks.next();
        while let Some(t) = next {
            let modifier = t.kind == TokenKind::Word
                && ["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"]
                    .iter()
                    .any(|k| t.is_keyword(src, k));
            if !modifier {
                break;
            }
            next = toks.next();
        }
        let Some(first_name) = name(next) else {
            return false;
        };
        let (qualifier, table) = match toks.next() {
            Some(t) if t.is_punct(src, ".") => {
                let Some(table) = name(toks.next()) else {
                    return false;
                };
                if toks.next().is_some_and(|t| t.is_punct(src, ".")) {
                    return false;
                }
                (Some(first_name), table)
            }
            _ => (None, first_name),
        };
        let Some(schema) = qualifier.as_deref().or(current_schema) else {
            return false;
        };
        if super::super::analyze::SYSTEM_SCHEMAS
            .iter()
            .any(|x| x.eq_ignore_ascii_case(schema))
        {
            return false;
        }
        let Some(i) = self.find_table(Some(schema), &table) else {
            return false;
        };
        self.tables[i].sharded().is_some()
            && self.known_columns(schema, &self.tables[i].name).is_some()
    }

    /// The cached column list of a logical table (in table order).
    pub(crate) fn known_columns(&self, schema: &str, table: &str) -> Option<Arc<Vec<String>>> {
        self.columns
            .lock()
            .get(&(schema.to_owned(), table.to_owned()))
            .cloned()
    }

    /// Records a logical table's column list (what `INSERT INTO t VALUES`
    /// fills, in order).
    pub fn remember_columns(&self, schema: &str, table: &str, columns: Vec<String>) {
        self.columns
            .lock()
            .insert((schema.to_owned(), table.to_owned()), Arc::new(columns));
    }

    /// Forgets every cached column list (after DDL through the proxy; a
    /// reload builds a new router with an empty cache).
    pub fn forget_columns(&self) {
        self.columns.lock().clear();
        self.kinds.lock().clear();
        // Analyses chose ENUM/SET keys from the forgotten kinds.
        self.forget_analyses();
    }

    /// For a SELECT whose cross-shard merge compares keys: the sharded
    /// tables it reads whose ENUM/SET columns are not known yet, as
    /// `(schema, logical table, slot-0 node, slot-0 physical table)`; the
    /// session fetches each ([`ShardRouter::remember_kinds`]) before
    /// planning. Empty when planning needs nothing.
    pub fn kinds_needed(
        &self,
        sql: &str,
        tokens: Option<&[crate::sql::Token]>,
        current_schema: Option<&str>,
    ) -> Vec<(String, String, usize, String)> {
        // Only ORDER BY, GROUP BY and DISTINCT sort or group by position
        // (MIN/MAX of an ENUM compare its text): most statements stop here.
        // With the classifier's tokens, the words themselves (the analysis
        // reads the same tokens: a sort it would see is among them).
        const SORTS: [&str; 3] = ["order", "group", "distinct"];
        let sorts = match tokens {
            Some(tokens) => tokens.iter().any(|t| {
                t.kind == crate::sql::TokenKind::Word
                    && SORTS.iter().any(|k| t.is_keyword(sql.as_bytes(), k))
            }),
            None => SORTS
                .iter()
                .any(|k| crate::sql::search::contains_ignore_case(sql.as_bytes(), k.as_bytes())),
        };
        if self.tables.is_empty() || !sorts {
            return Vec::new();
        }
        // The analysis planning uses next (of the shape when there is one:
        // cached, so this costs no second parse).
        // The classifier's tokens when the caller has them: no second
        // lexer pass.
        let is_rule_table = |word: &str| self.names.contains(word);
        let scan = match tokens {
            Some(tokens) => super::super::shape::scan_tokens(sql, tokens, is_rule_table),
            None => super::super::shape::scan(sql, is_rule_table),
        };
        if !scan.mentions_rule_table {
            return Vec::new();
        }
        let text = scan.shape.as_ref().map_or(sql, |(t, _)| t.as_str());
        let analysis = self.analysis(text, current_schema);
        let Ok(a) = analysis.as_ref() else {
            return Vec::new();
        };
        let compares = match &a.select {
            Some(Ok(m)) => !m.spec.weights.is_empty() || !m.spec.order_by.is_empty(),
            _ => false,
        };
        if !compares {
            return Vec::new();
        }
        let mut out: Vec<(String, String, usize, String)> = Vec::new();
        for r in &a.refs {
            let super::super::analyze::RefTable::Rule(t) = r.table else {
                continue;
            };
            let Some(sharded) = self.tables[t].sharded() else {
                continue;
            };
            let Some(schema) = r.schema.clone().or(current_schema.map(str::to_owned)) else {
                continue;
            };
            let name = &self.tables[t].name;
            if self.table_kinds(&schema, name).is_some()
                || out.iter().any(|(s, n, ..)| *s == schema && n == name)
            {
                continue;
            }
            if let Some((node, physical)) = sharded.slots.first() {
                out.push((schema, name.clone(), *node, physical.clone()));
            }
        }
        out
    }

    /// The cached column kinds of a logical table.
    pub(crate) fn table_kinds(
        &self,
        schema: &str,
        table: &str,
    ) -> Option<Arc<crate::router::shard::TableKinds>> {
        self.kinds
            .lock()
            .get(&(schema.to_owned(), table.to_owned()))
            .cloned()
    }

    /// For physical tables a plan reads: the columns of their logical
    /// tables that a UNION types otherwise (ENUM/SET, TEXT/BLOB, JSON,
    /// geometry; see `node_union`), or, when some table's kinds are not
    /// known yet, those tables (as [`ShardRouter::kinds_needed`] lists
    /// them, for the session to fetch).
    pub fn union_retyped(
        &self,
        physical: &[String],
        current_schema: Option<&str>,
    ) -> Result<Vec<String>, Vec<KindsNeeded>> {
        let mut retyped: Vec<String> = Vec::new();
        let mut unknown: Vec<KindsNeeded> = Vec::new();
        for p in physical {
            let Some(logical) = self.logical_name_of(p) else {
                continue;
            };
            let Some(t) = self.tables.iter().find(|t| t.name == logical) else {
                continue;
            };
            let Some(schema) = t.schema.as_deref().or(current_schema) else {
                continue;
            };
            match self.table_kinds(schema, &logical) {
                Some(k) => retyped.extend(k.retyped.iter().cloned()),
                None => {
                    let slot0 = t.sharded().and_then(|s| s.slots.first());
                    if let Some((node, physical)) = slot0 {
                        if !unknown
                            .iter()
                            .any(|(s, n, ..)| s == schema && *n == logical)
                        {
                            unknown.push((schema.to_owned(), logical, *node, physical.clone()));
                        }
                    }
                }
            }
        }
        match unknown.is_empty() {
            true => Ok(retyped),
            false => Err(unknown),
        }
    }

    /// Records a logical table's ENUM/SET columns, its plain (integer,
    /// DECIMAL, temporal) ones and those a UNION types otherwise.
    /// Analyses made before were made without them: they are dropped.
    pub fn remember_kinds(
        &self,
        schema: &str,
        table: &str,
        enums: Vec<String>,
        plain: Vec<String>,
        retyped: Vec<String>,
    ) {
        let lower = |v: Vec<String>| v.iter().map(|c| c.to_lowercase()).collect();
        let kinds = crate::router::shard::TableKinds {
            enums: lower(enums),
            plain: lower(plain),
            retyped: lower(retyped),
        };
        self.kinds
            .lock()
            .insert((schema.to_owned(), table.to_owned()), Arc::new(kinds));
        self.forget_analyses();
    }
}
