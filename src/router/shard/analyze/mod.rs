//! From the statement text to an [`Analysis`]: everything the plan needs
//! that does not depend on parameter values, so it can be cached by text.
//!
//! Scopes: every SELECT (and the target clause of UPDATE/DELETE/INSERT) is
//! a scope with its table references, derived tables, the key equalities
//! its ON/WHERE conjuncts state (edges), and its WHERE formula (pins).
//! Derived tables and CTEs are *row sources* of the scope that reads them
//! and are flattened into it; subqueries in expressions are separate row
//! sources that must either be tied to the outer query by a key equality
//! (then they run beside the outer rows in the same slot) or be pinned to
//! one slot.
//!
//! Owns: `analyze`, the `Analysis` types, the `Analyzer` state and
//! its reference bookkeeping; the walk is split by concern: `scopes`
//! (queries, FROM clauses, row sources), `conditions` (WHERE/ON
//! formulas), `statement` (statement kinds), `insert` (INSERT rows).
//! Must not depend on parameter values (the planner applies them) and
//! does no I/O.

use std::collections::{HashMap, HashSet};
use std::ops::{Bound, ControlFlow, Range};

use crate::placement::{KeyType, LiteralKind, ShardKey};
use crate::sql::ast::{
    self, AssignmentTarget, BinaryOperator, Expr, FromTable, GroupByExpr, JoinConstraint,
    JoinOperator, ObjectName, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr,
    Statement, TableFactor, TableObject, TableWithJoins, UnaryOperator, Value, Visit, Visitor,
};
use crate::sql::{parse, table_references, TableRef};

use super::cond::{Cond, RefId, Val};
use super::lex::{unescape_string, LineIndex, Tokens};
use super::select::{self, SelectMerge};
use super::{quote_sql, RouteError, ShardRouter, TableInfoKind};

mod conditions;
mod insert;
mod period;
mod scopes;
mod statement;

pub(crate) type ScopeId = usize;

/// What kind of statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StmtKind {
    Select,
    Insert,
    Update,
    Delete,
    Ddl,
    /// DESCRIBE, SHOW COLUMNS, SHOW CREATE TABLE: one copy answers.
    Describe,
    /// LOCK TABLES and other statements only allowed on unsharded tables.
    UnshardedOnly,
    /// Not parsed; only single-node tables were named (lexically).
    Lexical,
}

/// Which table a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefTable {
    /// A table with a rule (index into `ShardRouter::tables`).
    Rule(usize),
    /// A table without a rule: it lives on its schema's node.
    Unlisted { node: usize },
    /// `information_schema`, `mysql`, `performance_schema`, `sys`: on
    /// every node.
    System,
}

/// One table reference in the text.
#[derive(Debug, Clone)]
pub(crate) struct RefInfo {
    pub table: RefTable,
    /// Logical name as written (unquoted).
    pub name: String,
    /// Bytes of the table name (its last part, quotes included).
    pub name_span: Range<usize>,
    pub quoted: bool,
    pub alias: Option<String>,
    /// The schema the reference is qualified with, if any.
    pub schema: Option<String>,
}

/// Rows the statement reads or changes, as one unit of placement.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowSource {
    /// The statement's own rows (the outermost SELECT, each branch of a
    /// UNION, the target of a write), as opposed to an expression
    /// subquery.
    pub top: bool,
    pub refs: Vec<RefId>,
    /// Key equalities between refs of this row source.
    pub edges: Vec<(RefId, RefId)>,
    /// Formulas constraining the rows.
    pub pins: Vec<Cond>,
}

/// `key IN (…)` in a positive position: split per shard.
#[derive(Debug, Clone)]
pub(crate) struct InList {
    pub r: RefId,
    /// Bytes from the first item to the end of the last.
    pub range: Range<usize>,
    /// Each item's bytes and value.
    pub items: Vec<(Range<usize>, Val)>,
}

/// A name to rewrite that is not a table reference itself: a column
/// qualifier (`orders.id`) or a multi-table DELETE target.
#[derive(Debug, Clone)]
pub(crate) struct NameUse {
    pub range: Range<usize>,
    pub quoted: bool,
    pub target: NameTarget,
}

#[derive(Debug, Clone)]
pub(crate) enum NameTarget {
    /// Same physical name as this reference.
    Ref(RefId),
    /// Same physical name as the un-aliased reference(s) of this logical
    /// table.
    Logical(String),
}

/// A VALUES row (or the SET list) of an INSERT.
#[derive(Debug, Clone)]
pub(crate) struct InsertRow {
    /// From `(` to `)`.
    pub range: Range<usize>,
    /// Offset of the closing `)`.
    pub close: usize,
    /// The value of each column, by position in the column list.
    pub values: Vec<(Option<Range<usize>>, Val, bool)>,
    /// Under a composite rule, each value converted to the period column's
    /// type (empty otherwise).
    pub period_values: Vec<Val>,
}

/// A `[[sequence]]` column of an INSERT's table.
#[derive(Debug, Clone)]
pub(crate) struct GeneratedColumn {
    pub column: String,
    /// Position in the column list; `None`: absent, added by shardcat.
    pub position: Option<usize>,
}

/// INSERT / REPLACE specifics.
#[derive(Debug, Clone)]
pub(crate) struct InsertInfo {
    pub target: RefId,
    /// Position of the key column in the column list.
    pub key_position: Option<usize>,
    pub rows: Vec<InsertRow>,
    /// From the first row's `(` to the last row's `)`; `None` for
    /// `INSERT … SET`.
    pub values_range: Option<Range<usize>>,
    /// Where `, col` goes to add a column (after the last listed column),
    /// or, for `INSERT … SET`, where `col = v, ` goes.
    pub add_column_at: Option<usize>,
    pub set_form: bool,
    pub generated: Vec<GeneratedColumn>,
    /// `INSERT … SELECT`.
    pub from_select: bool,
    /// `INSERT … SELECT … ON DUPLICATE KEY UPDATE` whose assignments read
    /// something a per-shard `INSERT … VALUES` would read differently: a
    /// column not qualified by the target table and not inside
    /// `VALUES()` (the server resolves it against the SELECT's tables
    /// too), or a subquery. The reason, for the refusal.
    pub odku_refusal: Option<String>,
    /// Columns named (lower case), for messages.
    pub columns: Vec<String>,
}

/// Everything about a statement that does not depend on parameters.
#[derive(Debug, Clone)]
pub(crate) struct Analysis {
    pub kind: StmtKind,
    pub write: bool,
    pub refs: Vec<RefInfo>,
    pub row_sources: Vec<RowSource>,
    /// Every key equality of the statement (for correlation).
    pub edges: Vec<(RefId, RefId)>,
    pub in_lists: Vec<InList>,
    pub names: Vec<NameUse>,
    /// References whose rows the statement changes.
    pub written: Vec<RefId>,
    /// UPDATE/DELETE with LIMIT.
    pub write_limit: bool,
    /// An UPDATE assigning a sharding key: the rows may move (planned as
    /// a [`KeyMove`](super::KeyMove)).
    pub key_assignment: Option<KeyAssignment>,
    /// An UPDATE assigning a composite table's period column: the rows
    /// may move to another period's table (also a key move).
    pub period_assignment: Option<KeyAssignment>,
    /// Byte offsets of `?` placeholders.
    pub placeholders: Vec<usize>,
    /// For a SELECT: what a scatter needs (or why it cannot scatter).
    pub select: Option<Result<SelectMerge, String>>,
    pub insert: Option<InsertInfo>,
    /// `EXPLAIN <statement>`: no merge.
    pub explain: bool,
    /// For `Lexical`: the node of the single-node tables named.
    pub lexical_node: Option<usize>,
    /// Derived tables or CTEs whose result is not the union of their
    /// per-shard results (what they compute): no scatter.
    pub scatter_blockers: Vec<&'static str>,
    /// Tables copied on every node (broadcast, or placed on one node) on
    /// the preserved side of an outer join whose other side reads a
    /// sharded table: each shard would return their unmatched rows again.
    pub outer_copies: Vec<String>,
    /// The statement's first words, for messages.
    pub verb: String,
    /// Targets rendered from this analysis (see `plan::memo`).
    pub targets: super::plan::TargetMemo,
}

/// `SET <key> = <value>` of an UPDATE on a sharded table.
#[derive(Debug, Clone)]
pub(crate) struct KeyAssignment {
    /// The reference whose key is assigned.
    pub r: RefId,
    /// The new key (a literal or a parameter).
    pub val: Val,
    /// The value's text in the statement (a literal or `?`).
    pub text: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Top,
    Derived,
    Sub,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Ref(RefId),
    Derived(ScopeId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Where,
    InnerOn,
    OuterOn,
}

#[derive(Debug)]
struct Scope {
    parent: Option<ScopeId>,
    role: Role,
    refs: Vec<RefId>,
    derived: Vec<ScopeId>,
    /// Names visible as qualifiers: alias, or table name when un-aliased.
    names: Vec<(String, Node)>,
    /// Key columns a derived table exposes: (column name, underlying ref).
    exports: Vec<(String, RefId)>,
    edges: Vec<(RefId, RefId)>,
    where_pins: Vec<Cond>,
    on_pins: Vec<Cond>,
    outer_join: bool,
    /// Why the scope's rows on one shard are not the shard's share of its
    /// rows on all shards (aggregates, DISTINCT, LIMIT): as a derived
    /// table it blocks scattering, as `IN (subquery)` it ties nothing.
    nonlocal: Option<&'static str>,
}

pub(super) const SYSTEM_SCHEMAS: &[&str] =
    &["information_schema", "mysql", "performance_schema", "sys"];

pub(crate) fn analyze(
    router: &ShardRouter,
    sql: &str,
    schema: Option<&str>,
) -> Result<Analysis, RouteError> {
    let statements = match parse(sql) {
        Ok(s) => s,
        Err(e) => return lexical(router, sql, schema, &e.message),
    };
    let mut an = Analyzer::new(router, sql, schema);
    match statements.as_slice() {
        [] => {}
        [statement] => {
            an.facade = table_references(sql, statement);
            an.claimed = vec![false; an.facade.len()];
            an.statement(statement)?;
        }
        _ => {
            let mut refs = Vec::new();
            for s in &statements {
                refs.extend(table_references(sql, s));
            }
            if let Some(r) = refs
                .iter()
                .find(|r| an.rule_of(r.schema.as_deref(), &r.name).is_some())
            {
                return super::err(format!(
                    "several statements in one query name table `{}`, which has a sharding rule; \
                     send them one at a time: {}",
                    r.name,
                    quote_sql(sql)
                ));
            }
        }
    }
    an.finish()
}

/// MySQL reserved words that statements the parser rejects often carry
/// (`PARTITION BY`, `char BINARY`, table options): never an unquoted
/// table name, so never blamed as one.
const RESERVED: &[&str] = &[
    "ADD",
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BINARY",
    "BY",
    "CASE",
    "CHAR",
    "CHARACTER",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "DATABASE",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DISTINCT",
    "DROP",
    "ELSE",
    "EXISTS",
    "FOR",
    "FOREIGN",
    "FROM",
    "GROUP",
    "HAVING",
    "IF",
    "IGNORE",
    "IN",
    "INDEX",
    "INNER",
    "INSERT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "KEYS",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOAD",
    "LOCK",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "PARTITION",
    "PRIMARY",
    "RANGE",
    "REFERENCES",
    "RENAME",
    "REPLACE",
    "RIGHT",
    "SELECT",
    "SET",
    "SHOW",
    "TABLE",
    "THEN",
    "TO",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USE",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

/// A statement sqlparser cannot parse: refused when it names a sharded,
/// bound or broadcast table; routed to the node of single-node tables.
fn lexical(
    router: &ShardRouter,
    sql: &str,
    schema: Option<&str>,
    parse_error: &str,
) -> Result<Analysis, RouteError> {
    let toks = Tokens::new(sql);
    let mut node = None;
    for (at, t) in toks.toks.iter().enumerate() {
        let name = match t.kind {
            // A reserved word is never an unquoted table name, nor is a
            // word followed by `(` (a function: `INTERVAL(x, …)`, `CHAR(…)`).
            crate::sql::TokenKind::Word
                if RESERVED.iter().any(|k| t.text(sql).eq_ignore_ascii_case(k))
                    || toks.is_punct(at + 1, "(") =>
            {
                continue
            }
            crate::sql::TokenKind::Word => t.text(sql).to_owned(),
            crate::sql::TokenKind::QuotedIdent => {
                crate::sql::lexer::unquote(t.bytes(sql.as_bytes())).into_owned()
            }
            _ => continue,
        };
        let Some(i) = router.find_table(schema, &name) else {
            continue;
        };
        match router.tables[i].kind {
            TableInfoKind::Single { node: n } if node.is_none_or(|m| m == n) => node = Some(n),
            _ => {
                let what = match router.tables[i].kind {
                    TableInfoKind::Sharded(_) => "sharded",
                    TableInfoKind::Broadcast { .. } => "broadcast",
                    TableInfoKind::Single { .. } => "single-node (on another node than the others)",
                };
                return super::err(format!(
                    "shardcat cannot parse this statement and it names the {what} table `{name}`, \
                     so it cannot tell which physical tables it touches ({parse_error}): {}",
                    quote_sql(sql)
                ));
            }
        }
    }
    let mut an = Analyzer::new(router, sql, schema);
    an.kind = StmtKind::Lexical;
    an.lexical_node = node;
    an.finish()
}

struct Analyzer<'a> {
    router: &'a ShardRouter,
    sql: &'a str,
    schema: Option<&'a str>,
    lines: LineIndex<'a>,
    toks: Tokens<'a>,
    placeholders: Vec<usize>,
    facade: Vec<TableRef>,
    claimed: Vec<bool>,
    refs: Vec<RefInfo>,
    scopes: Vec<Scope>,
    ctes: Vec<(String, ScopeId)>,
    in_lists: Vec<InList>,
    names: Vec<NameUse>,
    /// Subquery scopes by the address of their `Query` in the AST.
    subqueries: HashMap<usize, ScopeId>,
    aliases: HashSet<String>,
    kind: StmtKind,
    write: bool,
    written: Vec<RefId>,
    write_limit: bool,
    key_assignment: Option<KeyAssignment>,
    period_assignment: Option<KeyAssignment>,
    select: Option<Result<SelectMerge, String>>,
    insert: Option<InsertInfo>,
    explain: bool,
    lexical_node: Option<usize>,
    /// Reasons found outside scopes why the statement cannot scatter.
    blockers: Vec<&'static str>,
    /// See [`Analysis::outer_copies`].
    outer_copies: Vec<String>,
}

/// Collects the outermost subqueries of an expression.
struct SubqueryCollector {
    depth: usize,
    found: Vec<(usize, Query)>,
}

impl Visitor for SubqueryCollector {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.found
                .push((query as *const Query as usize, query.clone()));
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

/// Collects qualified column names (`t.c`, `s.t.c`) of a statement.
struct QualifierCollector {
    found: Vec<ast::Ident>,
}

impl Visitor for QualifierCollector {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr {
            if parts.len() >= 2 {
                self.found.push(parts[parts.len() - 2].clone());
            }
        }
        ControlFlow::Continue(())
    }
}

fn conjuncts(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut out = conjuncts(left);
            out.extend(conjuncts(right));
            out
        }
        Expr::Nested(inner) => conjuncts(inner),
        other => vec![other],
    }
}

fn object_idents(name: &ObjectName) -> Vec<&ast::Ident> {
    name.0.iter().filter_map(|p| p.as_ident()).collect()
}

impl<'a> Analyzer<'a> {
    fn new(router: &'a ShardRouter, sql: &'a str, schema: Option<&'a str>) -> Self {
        let toks = Tokens::new(sql);
        let placeholders = toks.placeholders();
        Analyzer {
            router,
            sql,
            schema,
            lines: LineIndex::new(sql),
            toks,
            placeholders,
            facade: Vec::new(),
            claimed: Vec::new(),
            refs: Vec::new(),
            scopes: Vec::new(),
            ctes: Vec::new(),
            in_lists: Vec::new(),
            names: Vec::new(),
            subqueries: HashMap::new(),
            aliases: HashSet::new(),
            kind: StmtKind::Select,
            write: false,
            written: Vec::new(),
            write_limit: false,
            key_assignment: None,
            period_assignment: None,
            select: None,
            insert: None,
            explain: false,
            lexical_node: None,
            blockers: Vec::new(),
            outer_copies: Vec::new(),
        }
    }

    fn rule_of(&self, schema: Option<&str>, name: &str) -> Option<usize> {
        let schema = schema.or(self.schema);
        if schema.is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| x.eq_ignore_ascii_case(s))) {
            return None;
        }
        self.router.find_table(schema, name)
    }

    fn verb(&self) -> String {
        let first = self.toks.text(0).to_uppercase();
        match first.as_str() {
            "LOCK" | "RENAME" | "SHOW" | "CREATE" | "ALTER" | "DROP" | "TRUNCATE" => {
                format!("{first} {}", self.toks.text(1).to_uppercase())
            }
            _ => first,
        }
    }

    fn finish(self) -> Result<Analysis, RouteError> {
        // Safety net: a table with a rule that the walk did not place
        // would be sent with its logical name.
        for (i, r) in self.facade.iter().enumerate() {
            if !self.claimed[i] && self.rule_of(r.schema.as_deref(), &r.name).is_some() {
                return super::err(format!(
                    "shardcat cannot tell how table `{}` is used in this statement \
                     (it appears where the sharding router does not look), so it cannot \
                     rewrite it to its physical tables: {}",
                    r.name,
                    quote_sql(self.sql)
                ));
            }
        }
        let row_sources = self.row_sources();
        let mut scatter_blockers = self.blockers.clone();
        for s in &self.scopes {
            if s.role == Role::Derived {
                if let Some(why) = s.nonlocal {
                    if !scatter_blockers.contains(&why) {
                        scatter_blockers.push(why);
                    }
                }
            }
        }
        let edges = self
            .scopes
            .iter()
            .flat_map(|s| s.edges.iter().copied())
            .collect();
        let verb = self.verb();
        Ok(Analysis {
            kind: self.kind,
            write: self.write,
            refs: self.refs,
            row_sources,
            edges,
            in_lists: self.in_lists,
            names: self.names,
            written: self.written,
            write_limit: self.write_limit,
            key_assignment: self.key_assignment.clone(),
            period_assignment: self.period_assignment.clone(),
            placeholders: self.placeholders,
            select: self.select,
            insert: self.insert,
            explain: self.explain,
            lexical_node: self.lexical_node,
            scatter_blockers,
            outer_copies: self.outer_copies,
            verb,
            targets: Default::default(),
        })
    }

    // ----- scopes and references -----

    fn new_scope(&mut self, parent: Option<ScopeId>, role: Role) -> ScopeId {
        self.scopes.push(Scope {
            parent,
            role,
            refs: Vec::new(),
            derived: Vec::new(),
            names: Vec::new(),
            exports: Vec::new(),
            edges: Vec::new(),
            where_pins: Vec::new(),
            on_pins: Vec::new(),
            outer_join: false,
            nonlocal: None,
        });
        self.scopes.len() - 1
    }

    /// Finds (and claims) the facade reference whose name is at `range`.
    fn claim(&mut self, range: &Range<usize>) -> Option<TableRef> {
        let i = self.facade.iter().position(|r| r.name_span == *range)?;
        self.claimed[i] = true;
        Some(self.facade[i].clone())
    }

    fn ident_range(&self, ident: &ast::Ident) -> Option<Range<usize>> {
        self.lines.range(ident.span)
    }

    /// A new reference for the table `name`, in `scope` (if any).
    fn new_ref(
        &mut self,
        name: &ObjectName,
        alias: Option<&str>,
        scope: Option<ScopeId>,
    ) -> Option<RefId> {
        let idents = object_idents(name);
        let last = idents.last()?;
        let range = self.ident_range(last)?;
        let facade = self.claim(&range);
        let (schema, table) = match &facade {
            Some(f) => (f.schema.clone(), f.name.clone()),
            None => (
                idents
                    .len()
                    .checked_sub(2)
                    .and_then(|i| idents.get(i))
                    .map(|i| i.value.clone()),
                last.value.clone(),
            ),
        };
        let effective_schema = schema.as_deref().or(self.schema);
        let table_kind = if effective_schema
            .is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| x.eq_ignore_ascii_case(s)))
        {
            RefTable::System
        } else {
            match self.router.find_table(effective_schema, &table) {
                Some(i) => RefTable::Rule(i),
                None => RefTable::Unlisted {
                    node: self.router.schema_node(effective_schema),
                },
            }
        };
        let quoted = self
            .sql
            .get(range.clone())
            .is_some_and(|t| t.starts_with('`'));
        let id = self.refs.len();
        self.refs.push(RefInfo {
            table: table_kind,
            name: table.clone(),
            name_span: range,
            quoted,
            alias: alias.map(str::to_owned),
            schema: schema.clone(),
        });
        if let Some(scope) = scope {
            self.scopes[scope].refs.push(id);
            self.scopes[scope]
                .names
                .push((alias.map(str::to_owned).unwrap_or(table), Node::Ref(id)));
        }
        if let Some(a) = alias {
            self.aliases.insert(a.to_owned());
        }
        Some(id)
    }

    /// The key column of a reference to a sharded or bound table.
    fn key_of(&self, r: RefId) -> Option<&'a str> {
        match self.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i].sharded().map(|s| s.key.as_str()),
            _ => None,
        }
    }

    fn layout_of(&self, r: RefId) -> Option<usize> {
        match self.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i].sharded().map(|s| s.layout),
            _ => None,
        }
    }
}
