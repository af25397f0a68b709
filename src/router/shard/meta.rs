//! Statements *about* logical tables, recognised lexically (sqlparser
//! rejects most of them): table descriptions (`DESCRIBE`, `SHOW COLUMNS`,
//! `SHOW INDEX`, `SHOW CREATE TABLE`), `SHOW TABLE STATUS`, `LOCK TABLES`
//! and `ALTER TABLE … DISABLE|ENABLE KEYS`, plus the column lists that let
//! `INSERT INTO t VALUES …` (no column list) find its sharding key.
//!
//! Owns: deciding which physical statement answers each such statement and
//! where; the per-router cache of logical tables' column lists. Pure (no
//! I/O): the session runs what this returns and rewrites the answers
//! (`frontend::session::metadata`). Must not plan DML (that is
//! [`super::plan`]).
//!
//! A sharded (or bound) table is described by its slot-0 physical table:
//! every physical table of a logical table is created by the same DDL
//! through the proxy, so they share columns, indexes and options.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::lex::Tokens;
use super::{PlanKind, ShardPlan, ShardRouter, ShardTarget, TableInfoKind};
use crate::sql::TokenKind;

/// What answers a metadata statement.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaStatement {
    /// Run `sql` on `node` and show `logical` where `physical` appears.
    Describe(Describe),
    /// `SHOW [FULL] TABLE STATUS`: run `sql` (its `LIKE` removed) on every
    /// node, one row per logical table, then filter by `like`.
    TableStatus { sql: String, like: Option<String> },
    /// `LOCK TABLES` naming sharded or broadcast tables: for each node (in
    /// node order) the `LOCK TABLES` statement of its physical tables.
    Lock(Vec<(usize, String)>),
    /// `ALTER TABLE t DISABLE|ENABLE KEYS` (what a dump restore sends):
    /// fanned out like DDL.
    Plan(ShardPlan),
    /// Cannot be done on the physical tables (the message says why).
    Refused(String),
    /// `CHECKSUM|ANALYZE|OPTIMIZE|CHECK|REPAIR TABLE t, …` naming sharded
    /// tables: each listed table's statement per physical table; the
    /// answers are combined into one row set per listed table.
    Maintenance {
        checksum: bool,
        items: Vec<MaintenanceItem>,
    },
    /// A read of `information_schema` filtered by `TABLE_NAME = '<logical
    /// table>'` (how mysqldump, ORMs and GUIs introspect one table): `sql`
    /// names the slot-0 physical tables instead and runs on `node`; in the
    /// answer, physical names in `*TABLE_NAME` columns become logical.
    /// With `listing` (a whole schema listed), rows of physical tables
    /// other than slot 0's are dropped.
    InformationSchema {
        node: usize,
        sql: String,
        listing: bool,
    },
}

/// One table of a `CHECKSUM|ANALYZE|… TABLE` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceItem {
    /// The name to show for physical names (`None`: not sharded, shown as
    /// the server answers).
    pub logical: Option<String>,
    /// (node, statement, physical table) per physical table, slot order.
    pub parts: Vec<(usize, String, String)>,
}

/// Which description statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescribeKind {
    /// `DESCRIBE`, `SHOW COLUMNS`/`FIELDS`: no table name in the answer.
    Columns,
    /// `SHOW INDEX`: the `Table` column names the table.
    Index,
    /// `SHOW CREATE TABLE`: the `Table` column and the statement text.
    CreateTable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    pub kind: DescribeKind,
    pub node: usize,
    pub sql: String,
    pub logical: String,
    pub physical: String,
}

/// A possibly qualified table name in the token stream.
struct Name {
    db: Option<String>,
    table: String,
    /// Bytes of the table part only.
    table_range: Range<usize>,
    /// Index of the first token after the name.
    next: usize,
}

fn ident(toks: &Tokens<'_>, i: usize) -> Option<String> {
    let t = toks.toks.get(i)?;
    match t.kind {
        TokenKind::Word => Some(t.text(toks.sql).to_owned()),
        TokenKind::QuotedIdent => {
            Some(crate::sql::lexer::unquote(t.bytes(toks.sql.as_bytes())).into_owned())
        }
        _ => None,
    }
}

fn name_at(toks: &Tokens<'_>, i: usize) -> Option<Name> {
    let first = ident(toks, i)?;
    if toks.is_punct(i + 1, ".") {
        let table = ident(toks, i + 2)?;
        let t = toks.toks.get(i + 2)?;
        return Some(Name {
            db: Some(first),
            table,
            table_range: t.span(),
            next: i + 3,
        });
    }
    let t = toks.toks.get(i)?;
    Some(Name {
        db: None,
        table: first,
        table_range: t.span(),
        next: i + 1,
    })
}

/// Index of the last significant token, ignoring a trailing `;`.
fn end_index(toks: &Tokens<'_>) -> usize {
    let mut n = toks.toks.len();
    while n > 0 && toks.is_punct(n - 1, ";") {
        n -= 1;
    }
    n
}

/// Where the statement's text ends: after its last token that is not a
/// plain comment or `;` (so the `*/` of an executable comment such as
/// mysqldump's `READ /*!32311 LOCAL */` is kept).
fn statement_end(sql: &str) -> usize {
    crate::sql::Lexer::new(sql.as_bytes())
        .filter(|t| {
            !matches!(t.kind, TokenKind::Comment | TokenKind::Hint)
                && !t.is_punct(sql.as_bytes(), ";")
        })
        .map(|t| t.end)
        .last()
        .unwrap_or(sql.len())
}

fn splice(sql: &str, range: &Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(sql.len() + with.len());
    out.push_str(sql.get(..range.start).unwrap_or(""));
    out.push_str(with);
    out.push_str(sql.get(range.end..).unwrap_or(""));
    out
}

/// `` `name` `` with backquotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "mysql", "performance_schema", "sys"];

fn is_system(db: Option<&str>) -> bool {
    db.is_some_and(|d| SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(d)))
}

impl ShardRouter {
    /// The sharded (or bound) rule of `table` as seen from `db`.
    fn sharded_rule(&self, db: Option<&str>, table: &str) -> Option<usize> {
        if is_system(db) {
            return None;
        }
        let i = self.find_table(db, table)?;
        self.tables[i].sharded().map(|_| i)
    }

    /// Recognises a metadata statement on a logical table. `None`: not
    /// one (or it names no sharded/broadcast table); route it as usual.
    pub fn metadata(&self, sql: &str, current_schema: Option<&str>) -> Option<MetaStatement> {
        if self.tables.is_empty() {
            return None;
        }
        let toks = Tokens::new(sql);
        let kw = |i: usize, k: &str| toks.is_kw(i, k);
        if kw(0, "DESCRIBE") || kw(0, "DESC") || kw(0, "EXPLAIN") {
            return self.meta_describe(&toks, 1, None, DescribeKind::Columns, current_schema);
        }
        if kw(0, "SHOW") {
            let mut i = 1;
            if kw(i, "CREATE") && kw(i + 1, "TABLE") {
                return self.meta_describe(
                    &toks,
                    i + 2,
                    None,
                    DescribeKind::CreateTable,
                    current_schema,
                );
            }
            if kw(i, "FULL") || kw(i, "EXTENDED") {
                i += 1;
            }
            if kw(i, "FULL") {
                i += 1;
            }
            let kind = if kw(i, "COLUMNS") || kw(i, "FIELDS") {
                Some(DescribeKind::Columns)
            } else if kw(i, "INDEX") || kw(i, "INDEXES") || kw(i, "KEYS") {
                Some(DescribeKind::Index)
            } else {
                None
            };
            if let Some(kind) = kind {
                if !(kw(i + 1, "FROM") || kw(i + 1, "IN")) {
                    return None;
                }
                let name = name_at(&toks, i + 2)?;
                // `SHOW COLUMNS FROM t FROM db`
                let db = if kw(name.next, "FROM") || kw(name.next, "IN") {
                    ident(&toks, name.next + 1)
                } else {
                    None
                };
                return self.meta_describe(&toks, i + 2, db, kind, current_schema);
            }
            if kw(i, "TABLE") && kw(i + 1, "STATUS") {
                return self.table_status(&toks, i + 2, current_schema);
            }
            return None;
        }
        if kw(0, "SELECT") {
            return self.information_schema(&toks, current_schema);
        }
        if ["CHECKSUM", "ANALYZE", "OPTIMIZE", "CHECK", "REPAIR"]
            .iter()
            .any(|v| kw(0, v))
        {
            return self.maintenance(&toks, current_schema);
        }
        if kw(0, "LOCK") && (kw(1, "TABLES") || kw(1, "TABLE")) {
            return self.lock_tables(&toks, current_schema);
        }
        if kw(0, "ALTER") && kw(1, "TABLE") {
            return self.alter_keys(&toks, current_schema);
        }
        None
    }

    fn meta_describe(
        &self,
        toks: &Tokens<'_>,
        at: usize,
        from_db: Option<String>,
        kind: DescribeKind,
        current_schema: Option<&str>,
    ) -> Option<MetaStatement> {
        let name = name_at(toks, at)?;
        let db = name.db.clone().or(from_db);
        let db = db.as_deref().or(current_schema);
        let rule = self.sharded_rule(db, &name.table)?;
        let info = self.tables[rule].sharded()?;
        let (node, physical) = info.slots.first()?.clone();
        let sql = splice(toks.sql, &name.table_range, &quote_ident(&physical));
        Some(MetaStatement::Describe(Describe {
            kind,
            node,
            sql,
            logical: name.table,
            physical,
        }))
    }

    fn table_status(
        &self,
        toks: &Tokens<'_>,
        at: usize,
        current_schema: Option<&str>,
    ) -> Option<MetaStatement> {
        let mut i = at;
        let mut db = current_schema.map(str::to_owned);
        if toks.is_kw(i, "FROM") || toks.is_kw(i, "IN") {
            db = Some(ident(toks, i + 1)?);
            i += 2;
        }
        if is_system(db.as_deref()) {
            return None;
        }
        // Only databases that can hold a sharded table need gathering.
        let any = self.tables.iter().any(|t| {
            t.sharded().is_some()
                && match (&t.schema, &db) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        });
        if !any {
            return None;
        }
        if toks.is_kw(i, "LIKE") {
            let t = toks.toks.get(i + 1)?;
            if t.kind != TokenKind::String {
                return None;
            }
            let like = string_literal(t.text(toks.sql))?;
            let cut = toks.toks.get(i)?.start..toks.sql.len();
            let sql = splice(toks.sql, &cut, "");
            return Some(MetaStatement::TableStatus {
                sql: sql.trim_end().to_owned(),
                like: Some(like),
            });
        }
        Some(MetaStatement::TableStatus {
            sql: toks.sql.to_owned(),
            like: None,
        })
    }

    fn lock_tables(
        &self,
        toks: &Tokens<'_>,
        current_schema: Option<&str>,
    ) -> Option<MetaStatement> {
        let end = end_index(toks);
        let mut per_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        let mut special = false;
        let mut i = 2;
        while i < end {
            let name = name_at(toks, i)?;
            // The item runs to the next comma (or the end).
            let mut j = name.next;
            while j < end && !toks.is_punct(j, ",") {
                j += 1;
            }
            let item_end = if j < end {
                toks.toks.get(j)?.start
            } else {
                statement_end(toks.sql)
            };
            let name_start = toks.toks.get(i)?.start;
            let rest = toks.sql.get(name.table_range.end..item_end)?;
            let prefix = toks.sql.get(name_start..name.table_range.start)?;
            let db = name.db.as_deref().or(current_schema);
            let rule = if is_system(db) {
                None
            } else {
                self.find_table(db, &name.table)
            };
            match rule.map(|r| &self.tables[r].kind) {
                Some(TableInfoKind::Sharded(info)) => {
                    special = true;
                    let aliased = toks.is_kw(name.next, "AS")
                        || !(toks.is_kw(name.next, "READ")
                            || toks.is_kw(name.next, "WRITE")
                            || toks.is_kw(name.next, "LOW_PRIORITY"));
                    let mut nodes: Vec<usize> = info.slots.iter().map(|s| s.0).collect();
                    nodes.sort_unstable();
                    nodes.dedup();
                    if aliased && nodes.len() != info.slots.len() {
                        // One alias cannot name two physical tables in one
                        // LOCK TABLES, and a query through the alias needs
                        // exactly that lock.
                        return Some(MetaStatement::Refused(format!(
                            "LOCK TABLES with an alias is not supported on the sharded table `{}`, \
                             which has several physical tables on one node; lock it without an \
                             alias and query it without one: {}",
                            name.table,
                            super::quote_sql(toks.sql)
                        )));
                    }
                    for (node, physical) in &info.slots {
                        per_node
                            .entry(*node)
                            .or_default()
                            .push(format!("{prefix}{}{rest}", quote_ident(physical)));
                    }
                }
                Some(TableInfoKind::Broadcast { nodes }) => {
                    special = true;
                    let item = toks.sql.get(name_start..item_end)?.to_owned();
                    for node in nodes {
                        per_node.entry(*node).or_default().push(item.clone());
                    }
                }
                Some(TableInfoKind::Single { node }) => {
                    let item = toks.sql.get(name_start..item_end)?.to_owned();
                    per_node.entry(*node).or_default().push(item);
                }
                None => {
                    let item = toks.sql.get(name_start..item_end)?.to_owned();
                    per_node.entry(self.schema_node(db)).or_default().push(item);
                }
            }
            i = j + 1;
        }
        if !special {
            return None;
        }
        Some(MetaStatement::Lock(
            per_node
                .into_iter()
                .map(|(node, items)| (node, format!("LOCK TABLES {}", items.join(", "))))
                .collect(),
        ))
    }

    /// `SELECT … FROM information_schema.<view> WHERE … TABLE_NAME = 'x'`
    /// (or `TABLE_NAME IN ('x', …)`) naming sharded tables: the literals
    /// are replaced by the slot-0 physical names, which must all live on
    /// one node. Listing every table of a schema (no TABLE_NAME filter) is
    /// not rewritten: it shows the physical tables of the schema's node.
    fn information_schema(
        &self,
        toks: &Tokens<'_>,
        current_schema: Option<&str>,
    ) -> Option<MetaStatement> {
        let src = toks.sql.as_bytes();
        let is_column = |i: usize, name: &str| {
            ident(toks, i).is_some_and(|w| w.eq_ignore_ascii_case(name))
                && !toks.is_punct(i + 1, ".")
        };
        let reads_is = (0..toks.toks.len()).any(|i| {
            ident(toks, i).is_some_and(|w| w.eq_ignore_ascii_case("information_schema"))
                && toks.is_punct(i + 1, ".")
        });
        if !reads_is {
            return None;
        }
        // `TABLE_SCHEMA = 'db'` chooses the rules' schema; otherwise the
        // current database (`= DATABASE()`).
        let mut schema = current_schema.map(str::to_owned);
        for i in 0..toks.toks.len() {
            if is_column(i, "TABLE_SCHEMA") && toks.is_punct(i + 1, "=") {
                if let Some(t) = toks.toks.get(i + 2) {
                    if t.kind == TokenKind::String {
                        schema = string_literal(t.text(toks.sql));
                    }
                }
            }
        }
        let mut literals: Vec<usize> = Vec::new();
        for i in 0..toks.toks.len() {
            if !is_column(i, "TABLE_NAME") {
                continue;
            }
            if toks.is_punct(i + 1, "=") {
                literals.push(i + 2);
            } else if toks.is_kw(i + 1, "IN") && toks.is_punct(i + 2, "(") {
                let mut j = i + 3;
                while let Some(t) = toks.toks.get(j) {
                    if t.is_punct(src, ")") {
                        break;
                    }
                    if t.kind == TokenKind::String {
                        literals.push(j);
                    }
                    j += 1;
                }
            }
        }
        let mut node = None;
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for i in literals {
            let Some(t) = toks.toks.get(i) else { continue };
            if t.kind != TokenKind::String {
                continue;
            }
            let Some(name) = string_literal(t.text(toks.sql)) else {
                continue;
            };
            let Some(rule) = self.sharded_rule(schema.as_deref(), &name) else {
                continue;
            };
            let (n, physical) = self.tables[rule].sharded()?.slots.first()?.clone();
            if node.is_some_and(|m| m != n) {
                // Slot-0 tables on different nodes: one server cannot
                // answer for all of them.
                return None;
            }
            node = Some(n);
            edits.push((t.span(), format!("'{}'", physical.replace('\'', "''"))));
        }
        let Some(node) = node else {
            return self.information_schema_listing(toks, schema.as_deref());
        };
        let mut sql = toks.sql.to_owned();
        for (range, with) in edits.iter().rev() {
            sql = splice(&sql, range, with);
        }
        Some(MetaStatement::InformationSchema {
            node,
            sql,
            listing: false,
        })
    }

    /// A listing of `information_schema` views with a `TABLE_NAME` column
    /// (no filter naming a sharded table): run where the schema's tables
    /// live; the session keeps slot 0's rows of each sharded table under
    /// its logical name and drops the other physical tables' rows.
    fn information_schema_listing(
        &self,
        toks: &Tokens<'_>,
        schema: Option<&str>,
    ) -> Option<MetaStatement> {
        const VIEWS: &[&str] = &[
            "TABLES",
            "COLUMNS",
            "STATISTICS",
            "KEY_COLUMN_USAGE",
            "TABLE_CONSTRAINTS",
            "REFERENTIAL_CONSTRAINTS",
            "PARTITIONS",
        ];
        let lists = (0..toks.toks.len()).any(|i| {
            ident(toks, i).is_some_and(|w| w.eq_ignore_ascii_case("information_schema"))
                && toks.is_punct(i + 1, ".")
                && ident(toks, i + 2)
                    .is_some_and(|v| VIEWS.iter().any(|x| x.eq_ignore_ascii_case(&v)))
        });
        if !lists || is_system(schema) {
            return None;
        }
        let any = self.tables.iter().any(|t| {
            t.sharded().is_some()
                && match (&t.schema, schema) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        });
        if !any {
            return None;
        }
        Some(MetaStatement::InformationSchema {
            node: self.schema_node(schema),
            sql: toks.sql.to_owned(),
            listing: true,
        })
    }

    /// For a physical table of a sharded table: its logical name and
    /// whether it is the slot-0 table (the one that stands for the logical
    /// table in metadata answers).
    pub fn physical_slot(&self, physical: &str) -> Option<(String, bool)> {
        let logical = self.physical.get(physical)?;
        let t = self.tables.iter().find(|t| &t.name == logical)?;
        let first = t.sharded()?.slots.first()?;
        Some((logical.clone(), first.1 == physical))
    }

    fn maintenance(
        &self,
        toks: &Tokens<'_>,
        current_schema: Option<&str>,
    ) -> Option<MetaStatement> {
        let checksum = toks.is_kw(0, "CHECKSUM");
        let mut i = 1;
        if toks.is_kw(i, "NO_WRITE_TO_BINLOG") || toks.is_kw(i, "LOCAL") {
            i += 1;
        }
        if !(toks.is_kw(i, "TABLE") || toks.is_kw(i, "TABLES")) {
            return None;
        }
        let prefix = toks.sql.get(..toks.toks.get(i)?.end)?;
        i += 1;
        let mut names = Vec::new();
        loop {
            let name = name_at(toks, i)?;
            let start = toks.toks.get(i)?.start;
            i = name.next;
            names.push((start, name));
            if toks.is_punct(i, ",") {
                i += 1;
            } else {
                break;
            }
        }
        let last_end = names.last()?.1.table_range.end;
        let suffix = toks.sql.get(last_end..statement_end(toks.sql))?;
        let mut items = Vec::new();
        let mut special = false;
        for (start, name) in &names {
            let db = name.db.as_deref().or(current_schema);
            let written = toks.sql.get(*start..name.table_range.end)?;
            let rule = if is_system(db) {
                None
            } else {
                self.find_table(db, &name.table)
            };
            let item = match rule.map(|r| &self.tables[r].kind) {
                Some(TableInfoKind::Sharded(info)) => {
                    special = true;
                    let qualifier = toks.sql.get(*start..name.table_range.start)?;
                    MaintenanceItem {
                        logical: Some(name.table.clone()),
                        parts: info
                            .slots
                            .iter()
                            .map(|(node, physical)| {
                                (
                                    *node,
                                    format!(
                                        "{prefix} {qualifier}{}{suffix}",
                                        quote_ident(physical)
                                    ),
                                    physical.clone(),
                                )
                            })
                            .collect(),
                    }
                }
                kind => {
                    let node = match kind {
                        Some(TableInfoKind::Broadcast { nodes }) => *nodes.first()?,
                        Some(TableInfoKind::Single { node }) => *node,
                        _ => self.schema_node(db),
                    };
                    MaintenanceItem {
                        logical: None,
                        parts: vec![(
                            node,
                            format!("{prefix} {written}{suffix}"),
                            name.table.clone(),
                        )],
                    }
                }
            };
            items.push(item);
        }
        special.then_some(MetaStatement::Maintenance { checksum, items })
    }

    fn alter_keys(&self, toks: &Tokens<'_>, current_schema: Option<&str>) -> Option<MetaStatement> {
        let name = name_at(toks, 2)?;
        let end = end_index(toks);
        if !(name.next + 2 == end
            && (toks.is_kw(name.next, "DISABLE") || toks.is_kw(name.next, "ENABLE"))
            && toks.is_kw(name.next + 1, "KEYS"))
        {
            return None;
        }
        let db = name.db.as_deref().or(current_schema);
        if is_system(db) {
            return None;
        }
        let rule = self.find_table(db, &name.table)?;
        let targets = match &self.tables[rule].kind {
            TableInfoKind::Sharded(info) => info
                .slots
                .iter()
                .map(|(node, physical)| ShardTarget {
                    node: *node,
                    sql: splice(toks.sql, &name.table_range, &quote_ident(physical)),
                    tables: vec![physical.clone()],
                    params: Vec::new(),
                })
                .collect(),
            TableInfoKind::Broadcast { nodes } => nodes
                .iter()
                .map(|node| ShardTarget {
                    node: *node,
                    sql: toks.sql.to_owned(),
                    tables: Vec::new(),
                    params: Vec::new(),
                })
                .collect(),
            TableInfoKind::Single { .. } => return None,
        };
        Some(MetaStatement::Plan(ShardPlan {
            targets,
            kind: PlanKind::Ddl,
            merge: None,
            generated_id: None,
            write: true,
        }))
    }

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
        if sql.len() > super::MAX_CACHED_SQL
            && self.insert_target_columns_known(sql, current_schema)
        {
            return None;
        }
        let analysis = self.analysis(sql, current_schema);
        let a = analysis.as_ref().as_ref().ok()?;
        let info = a.insert.as_ref()?;
        if !info.columns.is_empty() || info.set_form || info.from_select {
            return None;
        }
        let r = a.refs.get(info.target)?;
        let super::analyze::RefTable::Rule(t) = r.table else {
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
    fn insert_target_columns_known(&self, sql: &str, current_schema: Option<&str>) -> bool {
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
        if super::analyze::SYSTEM_SCHEMAS
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
    }
}

/// The value of a simple string literal (`'…'` or `"…"`, with doubled
/// quotes and backslash escapes); `None` for other forms.
fn string_literal(text: &str) -> Option<String> {
    let quote = text.chars().next()?;
    if quote != '\'' && quote != '"' {
        return None;
    }
    let inner = text.get(1..text.len().checked_sub(1)?)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            out.push(c);
        } else if c == '\\' {
            // Keep the escape for LIKE (`\_`, `\%`), resolve the others.
            match chars.next() {
                Some(n @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// MySQL `LIKE` (`%`, `_`, `\` escapes), compared exactly (table names
/// compare exactly under `lower_case_table_names = 0`).
pub fn like_matches(pattern: &str, value: &str) -> bool {
    // Pattern items: Some(c) a literal, None `_`, and `%` as a flag.
    enum Item {
        Char(char),
        One,
        Any,
    }
    let mut items = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        items.push(match c {
            '%' => Item::Any,
            '_' => Item::One,
            '\\' => Item::Char(chars.next().unwrap_or('\\')),
            c => Item::Char(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    // matched[j]: the pattern so far matches the first j characters
    // (dynamic programming: linear in pattern × value, whatever the `%`s).
    let mut matched = vec![false; v.len() + 1];
    matched[0] = true;
    for item in &items {
        let mut next = vec![false; v.len() + 1];
        match item {
            Item::Any => {
                let mut any = false;
                for j in 0..=v.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            Item::One => {
                next[1..].copy_from_slice(&matched[..v.len()]);
            }
            Item::Char(c) => {
                for j in 1..=v.len() {
                    next[j] = matched[j - 1] && v[j - 1] == *c;
                }
            }
        }
        matched = next;
    }
    matched[v.len()]
}

/// `SHOW CREATE TABLE` text of a physical table shown as its logical
/// table: the name after `CREATE TABLE` replaced and the `AUTO_INCREMENT=`
/// table option (the next value of one shard, meaningless for the logical
/// table) removed.
pub fn logical_create_table(text: &str, physical: &str, logical: &str) -> String {
    let mut out = text.to_owned();
    for (from, to) in [
        (
            format!("CREATE TABLE {}", quote_ident(physical)),
            format!("CREATE TABLE {}", quote_ident(logical)),
        ),
        (
            format!("CREATE TABLE {physical} "),
            format!("CREATE TABLE {logical} "),
        ),
    ] {
        if out.starts_with(&from) {
            out.replace_range(..from.len(), &to);
            break;
        }
    }
    // Table options follow the `)` closing the definitions, on the last
    // line that starts with `)`.
    if let Some(close) = out.rfind("\n)") {
        let opts_start = close + 2;
        let opts_end = out[opts_start..]
            .find('\n')
            .map_or(out.len(), |e| opts_start + e);
        let opts = &out[opts_start..opts_end];
        if let Some(at) = opts.find(" AUTO_INCREMENT=") {
            let digits = opts[at + 16..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits > 0 {
                let from = opts_start + at;
                out.replace_range(from..from + 16 + digits, "");
            }
        }
    }
    out
}

/// An error message of a statement run on `physical`, shown for `logical`
/// (`Table 'db.orders_0' doesn't exist` → `Table 'db.orders' doesn't
/// exist`): whole-word occurrences only.
pub fn logical_message(message: &str, physical: &str, logical: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    while let Some(at) = rest.find(physical) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + physical.len()..].chars().next();
        out.push_str(&rest[..at]);
        if is_ident(before) || is_ident(after) {
            out.push_str(physical);
        } else {
            out.push_str(logical);
        }
        rest = &rest[at + physical.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> ShardRouter {
        let cfg = crate::config::Config::parse(
            r#"
[[user]]
name = "app"
password = "app"
[[node]]
name = "n1"
primary = "127.0.0.1:1"
[[node]]
name = "n2"
primary = "127.0.0.1:2"
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
[[table]]
name = "orders"
bound_to = "users"
key = "user_id"
[[table]]
name = "regions"
broadcast = true
"#,
            std::path::Path::new("meta.toml"),
        )
        .expect("config");
        ShardRouter::new(&cfg).expect("router")
    }

    fn describe(sql: &str) -> Option<Describe> {
        match router().metadata(sql, Some("db")) {
            Some(MetaStatement::Describe(d)) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn descriptions() {
        let d = describe("DESCRIBE users").unwrap();
        assert_eq!((d.node, d.sql.as_str()), (0, "DESCRIBE `users_0`"));
        assert_eq!(d.kind, DescribeKind::Columns);
        assert_eq!(
            describe("desc `db`.`orders`").unwrap().sql,
            "desc `db`.`orders_0`"
        );
        assert_eq!(
            describe("EXPLAIN orders id").unwrap().sql,
            "EXPLAIN `orders_0` id"
        );
        let d = describe("SHOW FULL COLUMNS FROM users FROM db LIKE 'i%'").unwrap();
        assert_eq!(d.sql, "SHOW FULL COLUMNS FROM `users_0` FROM db LIKE 'i%'");
        assert_eq!(
            describe("SHOW FIELDS IN users").unwrap().kind,
            DescribeKind::Columns
        );
        for q in [
            "SHOW INDEX FROM users",
            "SHOW INDEXES IN users",
            "SHOW KEYS FROM users",
        ] {
            assert_eq!(describe(q).unwrap().kind, DescribeKind::Index, "{q}");
        }
        let d = describe("SHOW CREATE TABLE `users`").unwrap();
        assert_eq!(
            (d.kind, d.sql.as_str()),
            (DescribeKind::CreateTable, "SHOW CREATE TABLE `users_0`")
        );
        assert_eq!(
            (d.logical.as_str(), d.physical.as_str()),
            ("users", "users_0")
        );
        // Not sharded, another database's table, statements: not ours.
        assert!(describe("DESCRIBE regions").is_none());
        assert!(describe("DESCRIBE plain").is_none());
        assert!(describe("EXPLAIN SELECT * FROM users").is_none());
        assert!(describe("DESCRIBE information_schema.users").is_none());
        assert!(router()
            .metadata("SHOW COLUMNS FROM users FROM mysql", Some("db"))
            .is_none());
    }

    #[test]
    fn table_status() {
        let r = router();
        assert_eq!(
            r.metadata("SHOW TABLE STATUS LIKE 'users'", Some("db")),
            Some(MetaStatement::TableStatus {
                sql: "SHOW TABLE STATUS".into(),
                like: Some("users".into())
            })
        );
        assert_eq!(
            r.metadata("SHOW TABLE STATUS FROM db WHERE Rows > 1", None),
            Some(MetaStatement::TableStatus {
                sql: "SHOW TABLE STATUS FROM db WHERE Rows > 1".into(),
                like: None
            })
        );
        assert!(r.metadata("SHOW TABLE STATUS FROM mysql", None).is_none());
    }

    #[test]
    fn lock_tables() {
        let r = router();
        let Some(MetaStatement::Lock(per_node)) = r.metadata(
            "LOCK TABLES `orders` READ /*!32311 LOCAL */,`regions` READ /*!32311 LOCAL */,`plain` WRITE",
            Some("db"),
        ) else {
            panic!("not a lock");
        };
        assert_eq!(
            per_node,
            vec![
                (
                    0,
                    "LOCK TABLES `orders_0` READ /*!32311 LOCAL */, `orders_1` READ /*!32311 LOCAL */, `regions` READ /*!32311 LOCAL */, `plain` WRITE".to_string()
                ),
                (
                    1,
                    "LOCK TABLES `orders_2` READ /*!32311 LOCAL */, `orders_3` READ /*!32311 LOCAL */, `regions` READ /*!32311 LOCAL */".to_string()
                ),
            ]
        );
        let Some(MetaStatement::Lock(per_node)) =
            r.metadata("LOCK TABLE db.users LOW_PRIORITY WRITE;", None)
        else {
            panic!("not a lock");
        };
        assert_eq!(
            per_node[0].1,
            "LOCK TABLES db.`users_0` LOW_PRIORITY WRITE, db.`users_1` LOW_PRIORITY WRITE"
        );
        assert!(matches!(
            r.metadata("LOCK TABLES users AS u READ", Some("db")),
            Some(MetaStatement::Refused(m)) if m.contains("alias")
        ));
        assert!(matches!(
            r.metadata("LOCK TABLES users AS u READ", Some("db")),
            Some(MetaStatement::Refused(m)) if m.contains("alias")
        ));
        // Only unsharded tables: the usual route.
        assert!(r.metadata("LOCK TABLES plain READ", Some("db")).is_none());
    }

    #[test]
    fn information_schema() {
        let r = router();
        let q = "SELECT engine, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = DATABASE() AND table_name = 'orders'";
        assert_eq!(
            r.metadata(q, Some("db")),
            Some(MetaStatement::InformationSchema {
                node: 0,
                sql: q.replace("'orders'", "'orders_0'"),
                listing: false,
            })
        );
        let q = "select * from information_schema.columns where TABLE_SCHEMA='db' and `TABLE_NAME` in ('users', 'plain')";
        assert_eq!(
            r.metadata(q, None),
            Some(MetaStatement::InformationSchema {
                node: 0,
                sql: q.replace("'users'", "'users_0'"),
                listing: false,
            })
        );
        // No sharded table named: not rewritten, answered as a listing
        // (rows of physical tables other than slot 0's dropped).
        let q = "SELECT * FROM information_schema.tables WHERE table_name = 'plain'";
        assert_eq!(
            r.metadata(q, Some("db")),
            Some(MetaStatement::InformationSchema {
                node: 0,
                sql: q.to_string(),
                listing: true,
            })
        );
        let q = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'db'";
        assert_eq!(
            r.metadata(q, None),
            Some(MetaStatement::InformationSchema {
                node: 0,
                sql: q.to_string(),
                listing: true,
            })
        );
        assert!(r
            .metadata("SELECT * FROM information_schema.processlist", Some("db"))
            .is_none());
        assert!(r
            .metadata(
                "SELECT * FROM information_schema.tables WHERE table_schema = 'mysql'",
                Some("db")
            )
            .is_none());
        assert_eq!(r.physical_slot("users_0"), Some(("users".into(), true)));
        assert_eq!(r.physical_slot("users_3"), Some(("users".into(), false)));
        assert_eq!(r.physical_slot("regions"), None);
        assert!(r
            .metadata(
                "SELECT 'orders' FROM t WHERE table_name = 'orders'",
                Some("db")
            )
            .is_none());
    }

    #[test]
    fn maintenance() {
        let r = router();
        let Some(MetaStatement::Maintenance { checksum, items }) =
            r.metadata("CHECKSUM TABLE users, plain EXTENDED", Some("db"))
        else {
            panic!("not maintenance");
        };
        assert!(checksum);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].logical.as_deref(), Some("users"));
        assert_eq!(
            items[0].parts[2],
            (
                1,
                "CHECKSUM TABLE `users_2` EXTENDED".to_string(),
                "users_2".to_string()
            )
        );
        assert_eq!(
            items[1],
            MaintenanceItem {
                logical: None,
                parts: vec![(0, "CHECKSUM TABLE plain EXTENDED".into(), "plain".into())]
            }
        );
        let Some(MetaStatement::Maintenance { checksum, items }) =
            r.metadata("ANALYZE NO_WRITE_TO_BINLOG TABLE db.orders", None)
        else {
            panic!("not maintenance");
        };
        assert!(!checksum);
        assert_eq!(
            items[0].parts[0].1,
            "ANALYZE NO_WRITE_TO_BINLOG TABLE db.`orders_0`"
        );
        assert!(r.metadata("OPTIMIZE TABLE plain", Some("db")).is_none());
    }

    #[test]
    fn unaliased_under_locks() {
        let r = router();
        let sql = "SELECT users.id FROM users WHERE id = 1";
        let aliased = r.plan(sql, Some("db"), &[]).unwrap().unwrap();
        let t = &aliased.targets[0];
        let physical = &t.tables[0];
        assert_eq!(
            t.sql,
            format!("SELECT users.id FROM {physical} AS `users` WHERE id = 1")
        );
        let bare = r.plan_with(sql, Some("db"), &[], true).unwrap().unwrap();
        assert_eq!(
            bare.targets[0].sql,
            format!("SELECT {physical}.id FROM {physical} WHERE id = 1")
        );
        // Explicit aliases stay.
        let p = r
            .plan_with(
                "SELECT u.id FROM users u WHERE id = 1",
                Some("db"),
                &[],
                true,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            p.targets[0].sql,
            format!("SELECT u.id FROM {physical} u WHERE id = 1")
        );
    }

    #[test]
    fn disable_keys() {
        let r = router();
        let Some(MetaStatement::Plan(p)) =
            r.metadata("/*!40000 ALTER TABLE `users` DISABLE KEYS */", Some("db"))
        else {
            panic!("no plan");
        };
        assert_eq!(p.kind, PlanKind::Ddl);
        assert_eq!(p.targets.len(), 4);
        assert_eq!(
            p.targets[3].sql,
            "/*!40000 ALTER TABLE `users_3` DISABLE KEYS */"
        );
        assert!(r
            .metadata("ALTER TABLE users ADD COLUMN x INT", Some("db"))
            .is_none());
    }

    #[test]
    fn insert_without_columns() {
        let r = router();
        let sql = "INSERT INTO orders VALUES (1, 5, 7), (2, 6, 8)";
        assert!(r
            .plan(sql, Some("db"), &[])
            .unwrap_err()
            .0
            .contains("must name its columns"));
        assert_eq!(
            r.columns_needed(sql, Some("db")),
            Some(("db".into(), "orders".into(), 0, "orders_0".into()))
        );
        r.remember_columns(
            "db",
            "orders",
            vec!["id".into(), "user_id".into(), "total".into()],
        );
        assert_eq!(r.columns_needed(sql, Some("db")), None);
        let p = r.plan(sql, Some("db"), &[]).unwrap().unwrap();
        let mut sqls: Vec<&str> = p.targets.iter().map(|t| t.sql.as_str()).collect();
        sqls.sort_unstable();
        // user_id 5 and 6 (not id 1 and 2) choose the slots.
        assert_eq!(
            sqls,
            vec![
                "INSERT INTO orders_1 VALUES (1, 5, 7)",
                "INSERT INTO orders_2 VALUES (2, 6, 8)"
            ]
        );
        assert!(r
            .plan("INSERT INTO orders VALUES (1, 5)", Some("db"), &[])
            .unwrap_err()
            .0
            .contains("Column count"));
        // Another database's table of the same name is another table.
        assert!(r.columns_needed(sql, Some("other")).is_some());
        r.forget_columns();
        assert!(r.columns_needed(sql, Some("db")).is_some());
        // A column list or SET needs nothing.
        assert!(r
            .columns_needed("INSERT INTO orders (id, user_id) VALUES (1, 2)", Some("db"))
            .is_none());
        assert!(r
            .columns_needed("INSERT INTO orders SET user_id = 2", Some("db"))
            .is_none());
    }

    /// Above the plan cache's limit the first words decide when the
    /// columns are known (no second parse); the answers are the same.
    #[test]
    fn insert_without_columns_large() {
        let r = router();
        let rows: Vec<String> = (0..2000).map(|i| format!("({i}, {}, 7)", i * 3)).collect();
        let body = rows.join(",");
        assert!(body.len() > super::super::MAX_CACHED_SQL);
        let texts = [
            format!("INSERT INTO orders VALUES {body}"),
            format!("REPLACE LOW_PRIORITY INTO `orders` VALUES {body}"),
            format!("INSERT /* c */ IGNORE `db`.orders VALUES {body}"),
        ];
        for sql in &texts {
            assert_eq!(
                r.columns_needed(sql, Some("db")),
                Some(("db".into(), "orders".into(), 0, "orders_0".into())),
                "{}",
                &sql[..40]
            );
        }
        r.remember_columns(
            "db",
            "orders",
            vec!["id".into(), "user_id".into(), "total".into()],
        );
        for sql in &texts {
            assert!(r.insert_target_columns_known(sql, Some("db")));
            assert_eq!(r.columns_needed(sql, Some("db")), None);
        }
        // Another database's table of the same name is another table.
        assert!(!r.insert_target_columns_known(&texts[0], Some("other")));
        assert!(r.columns_needed(&texts[0], Some("other")).is_some());
        // ... unless named with the known one.
        assert_eq!(r.columns_needed(&texts[2], Some("other")), None);
        // Not the plain form: decided by the analysis.
        let odd = format!("INSERT INTO db.orders.x VALUES {body}");
        assert!(!r.insert_target_columns_known(&odd, Some("db")));
        let p = r.plan(&texts[0], Some("db"), &[]).unwrap().unwrap();
        assert_eq!(p.targets.len(), 4);
    }

    #[test]
    fn like() {
        assert!(like_matches("orders", "orders"));
        assert!(!like_matches("orders", "orders_0"));
        assert!(like_matches("ord%", "orders"));
        assert!(like_matches("o_ders", "orders"));
        assert!(!like_matches("o\\_ders", "orders"));
        assert!(like_matches("o\\_d", "o_d"));
        assert!(like_matches("%", ""));
        assert!(like_matches("%s%", "users"));
        assert!(!like_matches("u%x", "users"));
        assert!(like_matches("_sers", "users"));
        assert!(!like_matches("_users", "users"));
        // No exponential blow-up.
        assert!(!like_matches(
            &"%".repeat(200).replace("%%", "%a"),
            &"a".repeat(60)
        ));
    }

    #[test]
    fn create_table_text() {
        let text = "CREATE TABLE `users_0` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=12 DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            logical_create_table(text, "users_0", "users"),
            "CREATE TABLE `users` (\n  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
        let bare = "CREATE TABLE users_0 (\n  id int\n)";
        assert_eq!(
            logical_create_table(bare, "users_0", "users"),
            "CREATE TABLE users (\n  id int\n)"
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            logical_message("Table 'db.orders_0' doesn't exist", "orders_0", "orders"),
            "Table 'db.orders' doesn't exist"
        );
        assert_eq!(
            logical_message("x orders_00 y", "orders_0", "orders"),
            "x orders_00 y"
        );
    }

    #[test]
    fn literals() {
        assert_eq!(string_literal("'a''b'").as_deref(), Some("a'b"));
        assert_eq!(string_literal("'a\\_b'").as_deref(), Some("a\\_b"));
        assert_eq!(string_literal("x"), None);
    }
}
