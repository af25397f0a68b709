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
//!
//! Files: this one (recognition and the physical statements), `columns`
//! (the column-list cache), `text` (string helpers), `tests`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::lex::Tokens;
use super::{PlanKind, ShardPlan, ShardRouter, ShardTarget, TableInfoKind};
use crate::sql::TokenKind;

mod columns;
mod text;

use text::string_literal;
pub use text::{like_matches, logical_create_table, logical_message};

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
    /// other than slot 0's are dropped, and a listing whose rows can be
    /// combined as they come (no ORDER BY, GROUP BY, LIMIT, DISTINCT,
    /// aggregate) is gathered from every node, each table's rows taken from
    /// its [`ShardRouter::listing_home`] in `schema`.
    InformationSchema {
        node: usize,
        sql: String,
        listing: bool,
        schema: Option<String>,
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
        let (node, physical) = info.slots.get(info.root.first_live_slot())?.clone();
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
            schema,
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
            schema: schema.map(str::to_owned),
        })
    }

    /// The node whose `information_schema` rows stand for table `name` of
    /// `schema` in a listing gathered over every node: slot 0's node for a
    /// sharded table's slot-0 physical table (`None` for its other physical
    /// tables), the node of a single-node table, the first copy of a
    /// broadcast table, the schema's node for a table without a rule.
    pub fn listing_home(&self, schema: Option<&str>, name: &str) -> Option<usize> {
        if let Some((_, first)) = self.physical_slot(name) {
            let logical = self.logical_name_of(name)?;
            let t = self.find_table(schema, &logical)?;
            return first
                .then(|| self.tables[t].sharded().and_then(|s| s.slots.first()))
                .flatten()
                .map(|(node, _)| *node);
        }
        match self.find_table(schema, name).map(|t| &self.tables[t].kind) {
            Some(TableInfoKind::Single { node }) => Some(*node),
            Some(TableInfoKind::Broadcast { nodes }) => nodes.first().copied(),
            // The logical name of a sharded table is not a server table.
            Some(TableInfoKind::Sharded(_)) => None,
            None => Some(self.schema_node(schema)),
        }
    }

    /// For a physical table of a sharded table: its logical name and
    /// whether it is the slot-0 table (the one that stands for the logical
    /// table in metadata answers).
    pub fn physical_slot(&self, physical: &str) -> Option<(String, bool)> {
        let logical = &self.physical.get(physical)?[0].1;
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
                    tables: vec![physical.clone()].into(),
                    params: Default::default(),
                    local_file: None,
                    rows: None,
                })
                .collect(),
            TableInfoKind::Broadcast { nodes } => nodes
                .iter()
                .map(|node| ShardTarget {
                    node: *node,
                    sql: toks.sql.to_owned(),
                    tables: Default::default(),
                    params: Default::default(),
                    local_file: None,
                    rows: None,
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
}

#[cfg(test)]
mod tests;
