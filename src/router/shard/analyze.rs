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

use std::collections::{HashMap, HashSet};
use std::ops::{Bound, ControlFlow, Range};

use crate::sharding::{LiteralKind, ShardKey};
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
    /// The statement's first words, for messages.
    pub verb: String,
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
    for t in &toks.toks {
        let name = match t.kind {
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
    select: Option<Result<SelectMerge, String>>,
    insert: Option<InsertInfo>,
    explain: bool,
    lexical_node: Option<usize>,
    /// Reasons found outside scopes why the statement cannot scatter.
    blockers: Vec<&'static str>,
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
            select: None,
            insert: None,
            explain: false,
            lexical_node: None,
            blockers: Vec::new(),
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
            placeholders: self.placeholders,
            select: self.select,
            insert: self.insert,
            explain: self.explain,
            lexical_node: self.lexical_node,
            scatter_blockers,
            verb,
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

    /// The reference whose sharding key `expr` names, seen from `scope`.
    fn resolve_key(&self, scope: ScopeId, expr: &Expr) -> Option<RefId> {
        match expr {
            Expr::Nested(inner) => self.resolve_key(scope, inner),
            Expr::Identifier(col) => {
                let s = &self.scopes[scope];
                for &r in &s.refs {
                    if self
                        .key_of(r)
                        .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
                    {
                        return Some(r);
                    }
                }
                for &d in &s.derived {
                    if let Some((_, r)) = self.scopes[d]
                        .exports
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(&col.value))
                    {
                        return Some(*r);
                    }
                }
                None
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = &parts[parts.len() - 1].value;
                let qualifier = &parts[parts.len() - 2].value;
                let mut current = Some(scope);
                while let Some(s) = current {
                    let scope = &self.scopes[s];
                    if let Some((_, node)) = scope.names.iter().find(|(n, _)| n == qualifier) {
                        return match node {
                            Node::Ref(r) => self
                                .key_of(*r)
                                .filter(|k| k.eq_ignore_ascii_case(col))
                                .map(|_| *r),
                            Node::Derived(d) => self.scopes[*d]
                                .exports
                                .iter()
                                .find(|(name, _)| name.eq_ignore_ascii_case(col))
                                .map(|(_, r)| *r),
                        };
                    }
                    current = scope.parent;
                }
                None
            }
            _ => None,
        }
    }

    /// A value compared with the key of `r`.
    fn value(&self, r: RefId, expr: &Expr) -> Val {
        let Some(key_type) = (match self.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i].sharded().map(|s| s.key_type),
            _ => None,
        }) else {
            return Val::Expr;
        };
        let literal = |text: &str, kind| match ShardKey::from_literal(text, kind, key_type) {
            Ok(key) => Val::Key(key),
            Err(e) => Val::Bad(e.to_string()),
        };
        match expr {
            Expr::Nested(inner) => self.value(r, inner),
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => literal(n, LiteralKind::Number),
                Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) => {
                    literal(&unescape_string(s, '\''), LiteralKind::String)
                }
                Value::DoubleQuotedString(s) => {
                    literal(&unescape_string(s, '"'), LiteralKind::String)
                }
                Value::HexStringLiteral(h) => literal(h, LiteralKind::Hex),
                Value::Boolean(b) => {
                    literal(if *b { "TRUE" } else { "FALSE" }, LiteralKind::Boolean)
                }
                Value::Null => Val::Key(ShardKey::Null),
                Value::Placeholder(p) if p == "?" => match self.lines.offset(v.span.start) {
                    Some(offset) => match self.placeholders.binary_search(&offset) {
                        Ok(i) => Val::Param(i),
                        Err(_) => Val::Expr,
                    },
                    None => Val::Expr,
                },
                _ => Val::Expr,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => literal(&format!("-{n}"), LiteralKind::Number),
                    _ => Val::Expr,
                },
                _ => Val::Expr,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr,
            } => self.value(r, expr),
            Expr::TypedString(t) => match &t.value.value {
                Value::SingleQuotedString(s) => {
                    literal(&unescape_string(s, '\''), LiteralKind::String)
                }
                _ => Val::Expr,
            },
            _ => Val::Expr,
        }
    }

    // ----- conditions -----

    /// The key formula of `expr` evaluated in `scope`. `positive`: not
    /// under NOT (IN lists found there are split per shard).
    fn cond(&mut self, scope: ScopeId, expr: &Expr, positive: bool) -> Cond {
        match expr {
            Expr::Nested(inner) => self.cond(scope, inner, positive),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => Cond::And(vec![
                self.cond(scope, left, positive),
                self.cond(scope, right, positive),
            ]),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => Cond::Or(vec![
                self.cond(scope, left, positive),
                self.cond(scope, right, positive),
            ]),
            Expr::BinaryOp { left, op, right } => {
                let (r, other, flipped) = match (
                    self.resolve_key(scope, left),
                    self.resolve_key(scope, right),
                ) {
                    (Some(r), _) => (r, right, false),
                    (None, Some(r)) => (r, left, true),
                    (None, None) => return Cond::All,
                };
                let v = self.value(r, other);
                if matches!(v, Val::Expr) {
                    return Cond::All;
                }
                use BinaryOperator as B;
                let op = match (op, flipped) {
                    (B::Eq | B::Spaceship, _) => return Cond::Eq(r, v),
                    (B::Lt, false) | (B::Gt, true) => B::Lt,
                    (B::LtEq, false) | (B::GtEq, true) => B::LtEq,
                    (B::Gt, false) | (B::Lt, true) => B::Gt,
                    (B::GtEq, false) | (B::LtEq, true) => B::GtEq,
                    _ => return Cond::All,
                };
                match op {
                    B::Lt => Cond::Range(r, Bound::Unbounded, Bound::Excluded(v)),
                    B::LtEq => Cond::Range(r, Bound::Unbounded, Bound::Included(v)),
                    B::Gt => Cond::Range(r, Bound::Excluded(v), Bound::Unbounded),
                    _ => Cond::Range(r, Bound::Included(v), Bound::Unbounded),
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => match self.resolve_key(scope, expr) {
                Some(r) => Cond::Range(
                    r,
                    Bound::Included(self.value(r, low)),
                    Bound::Included(self.value(r, high)),
                ),
                None => Cond::All,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(items),
                negated: false,
                ..
            } => {
                let Some(r) = self.resolve_key(scope, expr) else {
                    return Cond::All;
                };
                let vals: Vec<Val> = items.iter().map(|i| self.value(r, i)).collect();
                if positive {
                    self.register_in_list(r, expr, &vals);
                }
                Cond::In(r, vals)
            }
            _ => Cond::All,
        }
    }

    /// Records the item positions of `key IN (…)` for per-shard splitting.
    fn register_in_list(&mut self, r: RefId, key: &Expr, vals: &[Val]) {
        let last = match key {
            Expr::Identifier(id) => id,
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(p) => p,
                None => return,
            },
            _ => return,
        };
        let Some(range) = self.ident_range(last) else {
            return;
        };
        let i = self.toks.index_at(range.end);
        if !self.toks.is_kw(i, "IN") || !self.toks.is_punct(i + 1, "(") {
            return;
        }
        let (items, stop) = self.toks.split_list(i + 2, |_, _| false);
        if !self.toks.is_punct(stop, ")") || items.len() != vals.len() {
            return;
        }
        let ranges: Option<Vec<Range<usize>>> =
            items.iter().map(|t| self.toks.byte_range(t)).collect();
        let Some(ranges) = ranges else { return };
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            return;
        };
        self.in_lists.push(InList {
            r,
            range: first.start..last.end,
            items: ranges.iter().cloned().zip(vals.iter().cloned()).collect(),
        });
    }

    /// Subqueries, edges and pins of a predicate of `scope`.
    fn predicate(&mut self, scope: ScopeId, expr: &Expr, place: Place) {
        self.subqueries_in(scope, expr);
        for c in conjuncts(expr) {
            match c {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq | BinaryOperator::Spaceship,
                    right,
                } => {
                    if let (Some(a), Some(b)) = (
                        self.resolve_key(scope, left),
                        self.resolve_key(scope, right),
                    ) {
                        self.add_edge(scope, a, b);
                    }
                }
                Expr::In {
                    expr,
                    target: ast::InTarget::Subquery(q),
                    negated: false,
                    ..
                } => {
                    let inner = self
                        .subqueries
                        .get(&(q.as_ref() as *const Query as usize))
                        .copied()
                        .filter(|&s| self.scopes[s].nonlocal.is_none());
                    if let (Some(a), Some(inner)) = (self.resolve_key(scope, expr), inner) {
                        if let [(_, b)] = self.scopes[inner].exports.as_slice() {
                            let b = *b;
                            self.add_edge(inner, a, b);
                        }
                    }
                }
                _ => {}
            }
        }
        if place == Place::OuterOn {
            return;
        }
        let cond = self.cond(scope, expr, true);
        match place {
            Place::Where => self.scopes[scope].where_pins.push(cond),
            _ => self.scopes[scope].on_pins.push(cond),
        }
    }

    fn add_edge(&mut self, scope: ScopeId, a: RefId, b: RefId) {
        if a != b && self.layout_of(a).is_some() && self.layout_of(a) == self.layout_of(b) {
            self.scopes[scope].edges.push((a, b));
        }
    }

    /// Analyzes the outermost subqueries of `node` as subquery scopes of
    /// `scope`.
    fn subqueries_in<V: Visit>(&mut self, scope: ScopeId, node: &V) {
        let mut collector = SubqueryCollector {
            depth: 0,
            found: Vec::new(),
        };
        let _ = node.visit(&mut collector);
        for (address, query) in collector.found {
            let s = self.query(&query, Role::Sub, Some(scope));
            self.subqueries.insert(address, s);
        }
    }

    // ----- queries -----

    fn query(&mut self, q: &Query, role: Role, parent: Option<ScopeId>) -> ScopeId {
        let cte_mark = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let s = self.query(&cte.query, Role::Derived, parent);
                self.ctes.push((cte.alias.name.value.clone(), s));
                self.aliases.insert(cte.alias.name.value.clone());
            }
        }
        let body = self.set_expr(&q.body, role, parent);
        if let Some(order_by) = &q.order_by {
            self.subqueries_in(body, order_by);
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            self.scopes[body].nonlocal = Some("LIMIT");
        }
        // CTE names stay visible to later references in the statement
        // (MySQL scopes them to this query; names are unique enough).
        let _ = cte_mark;
        body
    }

    fn set_expr(&mut self, e: &SetExpr, role: Role, parent: Option<ScopeId>) -> ScopeId {
        match e {
            SetExpr::Select(s) => self.select(s, role, parent),
            SetExpr::Query(q) => self.query(q, role, parent),
            SetExpr::SetOperation { left, right, .. } => {
                if role == Role::Derived && !self.blockers.contains(&"UNION") {
                    // Its branches would each be pinned or tied separately;
                    // as rows of a derived table they cannot be split.
                    self.blockers.push("UNION");
                }
                let branch_role = if role == Role::Top {
                    Role::Top
                } else {
                    Role::Sub
                };
                let l = self.set_expr(left, branch_role, parent);
                let _ = self.set_expr(right, branch_role, parent);
                l
            }
            _ => {
                let s = self.new_scope(parent, role);
                self.subqueries_in(s, e);
                s
            }
        }
    }

    fn select(&mut self, s: &Select, role: Role, parent: Option<ScopeId>) -> ScopeId {
        let id = self.new_scope(parent, role);
        for twj in &s.from {
            self.table_with_joins(id, twj);
        }
        if let Some(w) = &s.selection {
            self.predicate(id, w, Place::Where);
        }
        for item in &s.projection {
            self.subqueries_in(id, item);
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(name),
                _,
            ) = item
            {
                self.qualifier_use(name);
            }
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                self.subqueries_in(id, e);
            }
        }
        if let Some(h) = &s.having {
            self.subqueries_in(id, h);
        }
        self.compute_exports(id, s);
        let group_exprs: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(exprs, _) => exprs,
            GroupByExpr::All(_) => &[],
        };
        let key_grouped = group_exprs
            .iter()
            .any(|e| self.resolve_key(id, e).is_some());
        let (aggregate, window) = select::find_aggregates(&s.projection);
        let having_aggregate = s
            .having
            .as_ref()
            .is_some_and(|h| select::find_aggregates(h).0);
        self.scopes[id].nonlocal = if window {
            Some("window functions")
        } else if (aggregate || having_aggregate || !group_exprs.is_empty()) && !key_grouped {
            Some("aggregates or GROUP BY not on the sharding key")
        } else if matches!(s.distinct, Some(ast::Distinct::Distinct)) {
            Some("DISTINCT")
        } else {
            None
        };
        id
    }

    /// Key columns a SELECT exposes to the scope reading it.
    fn compute_exports(&mut self, id: ScopeId, s: &Select) {
        let mut exports = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    if let Some(r) = self.resolve_key(id, e) {
                        let name = match e {
                            Expr::Identifier(i) => i.value.clone(),
                            Expr::CompoundIdentifier(p) => {
                                p.last().map(|i| i.value.clone()).unwrap_or_default()
                            }
                            _ => continue,
                        };
                        exports.push((name, r));
                    }
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    if let Some(r) = self.resolve_key(id, expr) {
                        exports.push((alias.value.clone(), r));
                    }
                }
                SelectItem::Wildcard(_) => {
                    for &r in &self.scopes[id].refs {
                        if let Some(k) = self.key_of(r) {
                            exports.push((k.to_owned(), r));
                        }
                    }
                    for &d in &self.scopes[id].derived {
                        exports.extend(self.scopes[d].exports.iter().cloned());
                    }
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) => {
                    let Some(q) = object_idents(name).last().map(|i| i.value.clone()) else {
                        continue;
                    };
                    match self.scopes[id]
                        .names
                        .iter()
                        .find(|(n, _)| *n == q)
                        .map(|(_, n)| *n)
                    {
                        Some(Node::Ref(r)) => {
                            if let Some(k) = self.key_of(r) {
                                exports.push((k.to_owned(), r));
                            }
                        }
                        Some(Node::Derived(d)) => {
                            exports.extend(self.scopes[d].exports.iter().cloned())
                        }
                        None => {}
                    }
                }
                _ => {}
            }
        }
        self.scopes[id].exports = exports;
    }

    fn table_with_joins(&mut self, scope: ScopeId, twj: &TableWithJoins) {
        self.factor(scope, &twj.relation);
        for join in &twj.joins {
            let before = self.scopes[scope].refs.clone();
            self.factor(scope, &join.relation);
            let added: Vec<RefId> = self.scopes[scope].refs[before.len()..].to_vec();
            use JoinOperator as J;
            let (inner, constraint) = match &join.join_operator {
                J::Join(c) | J::Inner(c) | J::CrossJoin(c) | J::StraightJoin(c) => (true, Some(c)),
                J::Left(c) | J::LeftOuter(c) | J::Right(c) | J::RightOuter(c) | J::FullOuter(c) => {
                    (false, Some(c))
                }
                _ => (false, None),
            };
            if !inner {
                self.scopes[scope].outer_join = true;
            }
            match constraint {
                Some(JoinConstraint::On(expr)) => self.predicate(
                    scope,
                    expr,
                    if inner {
                        Place::InnerOn
                    } else {
                        Place::OuterOn
                    },
                ),
                Some(JoinConstraint::Using(columns)) => {
                    for column in columns {
                        let Some(col) = object_idents(column).last().map(|i| i.value.clone())
                        else {
                            continue;
                        };
                        let has_key = |an: &Self, r: RefId| {
                            an.key_of(r).is_some_and(|k| k.eq_ignore_ascii_case(&col))
                        };
                        let left = before.iter().copied().find(|&r| has_key(self, r));
                        let right = added.iter().copied().find(|&r| has_key(self, r));
                        if let (Some(a), Some(b)) = (left, right) {
                            self.add_edge(scope, a, b);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn factor(&mut self, scope: ScopeId, f: &TableFactor) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let alias = alias.as_ref().map(|a| a.name.value.clone());
                let idents = object_idents(name);
                if idents.len() == 1 {
                    let n = &idents[0].value;
                    if let Some(&(_, cte)) = self
                        .ctes
                        .iter()
                        .rev()
                        .find(|(c, _)| c.eq_ignore_ascii_case(n))
                    {
                        self.scopes[scope].derived.push(cte);
                        self.scopes[scope].names.push((
                            alias.clone().unwrap_or_else(|| n.clone()),
                            Node::Derived(cte),
                        ));
                        return;
                    }
                }
                self.new_ref(name, alias.as_deref(), Some(scope));
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let d = self.query(subquery, Role::Derived, Some(scope));
                self.scopes[scope].derived.push(d);
                if let Some(a) = alias {
                    self.aliases.insert(a.name.value.clone());
                    self.scopes[scope]
                        .names
                        .push((a.name.value.clone(), Node::Derived(d)));
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(scope, table_with_joins),
            other => self.subqueries_in(scope, other),
        }
    }

    /// A qualifier naming a table (column `orders.id`, `orders.*`).
    fn qualifier_use(&mut self, name: &ObjectName) {
        let idents = object_idents(name);
        if let Some(q) = idents.last() {
            self.qualifier_ident(q);
        }
    }

    fn qualifier_ident(&mut self, q: &ast::Ident) {
        if let Some(range) = self.ident_range(q) {
            let quoted = self
                .sql
                .get(range.clone())
                .is_some_and(|t| t.starts_with('`'));
            self.names.push(NameUse {
                range,
                quoted,
                target: NameTarget::Logical(q.value.clone()),
            });
        }
    }

    // ----- statements -----

    fn statement(&mut self, statement: &Statement) -> Result<(), RouteError> {
        match statement {
            Statement::Query(q) => {
                self.kind = StmtKind::Select;
                let top = self.query(q, Role::Top, None);
                let locking = !q.locks.is_empty();
                self.write = locking;
                self.select = Some(select::analyze(
                    self.sql,
                    &self.toks,
                    &self.lines,
                    q,
                    &|e| self.resolve_key(top, e).is_some(),
                ));
            }
            Statement::Insert(ins) => self.insert_statement(ins)?,
            Statement::Update(u) => {
                self.kind = StmtKind::Update;
                self.write = true;
                let top = self.new_scope(None, Role::Top);
                self.table_with_joins(top, &u.table);
                if let Some(
                    ast::UpdateTableFromKind::BeforeSet(from)
                    | ast::UpdateTableFromKind::AfterSet(from),
                ) = &u.from
                {
                    for twj in from {
                        self.table_with_joins(top, twj);
                    }
                }
                if let Some(w) = &u.selection {
                    self.predicate(top, w, Place::Where);
                }
                for a in &u.assignments {
                    self.subqueries_in(top, &a.value);
                    self.assignment_target(top, &a.target)?;
                }
                self.write_limit = u.limit.is_some();
                if self.written.is_empty() {
                    if let Some(&first) = self.scopes[top].refs.first() {
                        self.written.push(first);
                    }
                }
            }
            Statement::Delete(d) => {
                self.kind = StmtKind::Delete;
                self.write = true;
                let top = self.new_scope(None, Role::Top);
                let from = match &d.from {
                    FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
                };
                for twj in from {
                    self.table_with_joins(top, twj);
                }
                if let Some(using) = &d.using {
                    for twj in using {
                        self.table_with_joins(top, twj);
                    }
                }
                if let Some(w) = &d.selection {
                    self.predicate(top, w, Place::Where);
                }
                for target in &d.tables {
                    let idents = object_idents(target);
                    let Some(last) = idents.last() else { continue };
                    let found = self.scopes[top]
                        .names
                        .iter()
                        .find(|(n, _)| *n == last.value)
                        .map(|(_, n)| *n);
                    if let Some(Node::Ref(r)) = found {
                        self.written.push(r);
                        // A target written as the table name (not an alias)
                        // is renamed like its FROM reference.
                        if let Some(range) = self.ident_range(last) {
                            if self.claim(&range).is_some() {
                                let quoted = self
                                    .sql
                                    .get(range.clone())
                                    .is_some_and(|t| t.starts_with('`'));
                                self.names.push(NameUse {
                                    range,
                                    quoted,
                                    target: NameTarget::Ref(r),
                                });
                            }
                        }
                    }
                }
                if self.written.is_empty() {
                    if let Some(&first) = self.scopes[top].refs.first() {
                        self.written.push(first);
                    }
                }
                self.write_limit = d.limit.is_some();
            }
            Statement::Explain { statement, .. } => {
                self.statement(statement)?;
                self.explain = true;
                self.write = false;
            }
            Statement::CreateTable(_)
            | Statement::AlterTable(_)
            | Statement::Truncate(_)
            | Statement::CreateIndex(_)
            | Statement::Drop { .. } => {
                self.kind = StmtKind::Ddl;
                self.write = true;
                self.claim_all();
            }
            Statement::RenameTable(_) => {
                self.kind = StmtKind::UnshardedOnly;
                self.write = true;
                self.claim_all();
            }
            Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ExplainTable { .. } => {
                self.kind = StmtKind::Describe;
                self.claim_all();
            }
            _ => {
                self.kind = StmtKind::UnshardedOnly;
                self.write = true;
                self.claim_all();
            }
        }
        // Qualified column names naming a table (not an alias).
        let mut collector = QualifierCollector { found: Vec::new() };
        let _ = statement.visit(&mut collector);
        for q in collector.found {
            self.qualifier_ident(&q);
        }
        self.names.retain(|n| match &n.target {
            NameTarget::Logical(name) => !self.aliases.contains(name),
            NameTarget::Ref(_) => true,
        });
        let refs = &self.refs;
        let router = self.router;
        self.names.retain(|n| match &n.target {
            // Only qualifiers naming an un-aliased sharded reference need
            // a new name.
            NameTarget::Logical(name) => refs.iter().any(|r| {
                r.alias.is_none()
                    && r.name == *name
                    && matches!(r.table, RefTable::Rule(i) if router.tables[i].sharded().is_some())
            }),
            NameTarget::Ref(_) => true,
        });
        Ok(())
    }

    /// References for every table the facade found (DDL and the like).
    fn claim_all(&mut self) {
        for i in 0..self.facade.len() {
            if self.claimed[i] {
                continue;
            }
            self.claimed[i] = true;
            let f = self.facade[i].clone();
            let effective = f.schema.as_deref().or(self.schema);
            let table = if effective
                .is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| x.eq_ignore_ascii_case(s)))
            {
                RefTable::System
            } else {
                match self.router.find_table(effective, &f.name) {
                    Some(t) => RefTable::Rule(t),
                    None => RefTable::Unlisted {
                        node: self.router.schema_node(effective),
                    },
                }
            };
            let quoted = self
                .sql
                .get(f.name_span.clone())
                .is_some_and(|t| t.starts_with('`'));
            self.refs.push(RefInfo {
                table,
                name: f.name,
                name_span: f.name_span,
                quoted,
                alias: f.alias,
                schema: f.schema,
            });
        }
    }

    /// Marks the reference an UPDATE assignment writes; refuses changing a
    /// sharding key.
    fn assignment_target(
        &mut self,
        scope: ScopeId,
        target: &AssignmentTarget,
    ) -> Result<(), RouteError> {
        let names: Vec<&ObjectName> = match target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        for name in names {
            let idents = object_idents(name);
            let Some(col) = idents.last() else { continue };
            let r = if idents.len() >= 2 {
                self.qualifier_ident(idents[idents.len() - 2]);
                let q = &idents[idents.len() - 2].value;
                match self.scopes[scope]
                    .names
                    .iter()
                    .find(|(n, _)| n == q)
                    .map(|(_, n)| *n)
                {
                    Some(Node::Ref(r)) => Some(r),
                    _ => None,
                }
            } else {
                let keyed = self.scopes[scope].refs.iter().copied().find(|&r| {
                    self.key_of(r)
                        .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
                });
                keyed.or_else(|| self.scopes[scope].refs.first().copied())
            };
            let Some(r) = r else { continue };
            if self
                .key_of(r)
                .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
            {
                return super::err(format!(
                    "this statement changes `{}`, the sharding key of `{}`: the row would have to move \
                     to another shard; delete it and insert it again instead: {}",
                    col.value,
                    self.refs[r].name,
                    quote_sql(self.sql)
                ));
            }
            if !self.written.contains(&r) {
                self.written.push(r);
            }
        }
        Ok(())
    }

    fn insert_statement(&mut self, ins: &ast::Insert) -> Result<(), RouteError> {
        self.kind = StmtKind::Insert;
        self.write = true;
        let top = self.new_scope(None, Role::Top);
        let TableObject::TableName(name) = &ins.table else {
            return Ok(());
        };
        let Some(target) = self.new_ref(name, None, Some(top)) else {
            return Ok(());
        };
        self.written.push(target);
        let columns: Vec<String> = ins
            .columns
            .iter()
            .filter_map(|c| {
                object_idents(c)
                    .last()
                    .map(|i| i.value.to_ascii_lowercase())
            })
            .collect();
        let table = match self.refs[target].table {
            RefTable::Rule(i) => Some(i),
            _ => None,
        };
        let key = table
            .and_then(|i| self.router.tables[i].sharded())
            .map(|s| s.key.to_ascii_lowercase());
        let mut info = InsertInfo {
            target,
            key_position: None,
            rows: Vec::new(),
            values_range: None,
            add_column_at: ins
                .columns
                .last()
                .and_then(|c| object_idents(c).last().and_then(|i| self.ident_range(i)))
                .map(|r| r.end),
            set_form: false,
            generated: Vec::new(),
            from_select: false,
            columns: columns.clone(),
        };
        let mut row_columns = columns.clone();
        if !ins.assignments.is_empty() {
            // INSERT … SET a = 1, b = 2: one row.
            info.set_form = true;
            row_columns = ins
                .assignments
                .iter()
                .map(|a| match &a.target {
                    AssignmentTarget::ColumnName(n) => object_idents(n)
                        .last()
                        .map(|i| i.value.to_ascii_lowercase())
                        .unwrap_or_default(),
                    AssignmentTarget::Tuple(_) => String::new(),
                })
                .collect();
            info.columns = row_columns.clone();
            info.add_column_at = ins.assignments.first().and_then(|a| match &a.target {
                AssignmentTarget::ColumnName(n) => object_idents(n)
                    .first()
                    .and_then(|i| self.ident_range(i))
                    .map(|r| r.start),
                AssignmentTarget::Tuple(_) => None,
            });
            let values = ins
                .assignments
                .iter()
                .map(|a| {
                    self.subqueries_in(top, &a.value);
                    let range = self.expr_range(&a.value);
                    (range, self.value(target, &a.value), is_null(&a.value))
                })
                .collect();
            info.rows.push(InsertRow {
                range: 0..0,
                close: 0,
                values,
            });
        } else if let Some(source) = &ins.source {
            match source.body.as_ref() {
                SetExpr::Values(values) if source.with.is_none() => {
                    let mut first = None;
                    let mut last = None;
                    for row in &values.rows {
                        let (Some(open), Some(close)) = (
                            self.lines.range(row.opening_token.0.span),
                            self.lines.range(row.closing_token.0.span),
                        ) else {
                            return super::err(format!(
                                "shardcat cannot locate the rows of this INSERT: {}",
                                quote_sql(self.sql)
                            ));
                        };
                        first.get_or_insert(open.start);
                        last = Some(close.end);
                        let vals = row
                            .content
                            .iter()
                            .map(|e| {
                                self.subqueries_in(top, e);
                                (self.expr_range(e), self.value(target, e), is_null(e))
                            })
                            .collect();
                        info.rows.push(InsertRow {
                            range: open.start..close.end,
                            close: close.start,
                            values: vals,
                        });
                    }
                    if let (Some(a), Some(b)) = (first, last) {
                        info.values_range = Some(a..b);
                    }
                }
                _ => {
                    info.from_select = true;
                    self.query(source, Role::Sub, Some(top));
                }
            }
        }
        if let Some(key) = &key {
            info.key_position = row_columns.iter().position(|c| c == key);
        }
        if let Some(t) = table {
            for seq in self.router.sequences.iter().filter(|s| s.table == t) {
                let column = seq.column.to_ascii_lowercase();
                info.generated.push(GeneratedColumn {
                    position: row_columns.iter().position(|c| *c == column),
                    column: seq.column.clone(),
                });
            }
        }
        if let Some(ast::OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on {
            for a in assignments {
                self.subqueries_in(top, &a.value);
                if let AssignmentTarget::ColumnName(n) = &a.target {
                    let col = object_idents(n)
                        .last()
                        .map(|i| i.value.to_ascii_lowercase());
                    if col.is_some() && col == key {
                        return super::err(format!(
                            "ON DUPLICATE KEY UPDATE changes `{}`, the sharding key of `{}`: the row would \
                             have to move to another shard: {}",
                            key.clone().unwrap_or_default(),
                            self.refs[target].name,
                            quote_sql(self.sql)
                        ));
                    }
                }
            }
        }
        self.insert = Some(info);
        Ok(())
    }

    /// Bytes of a value expression in an INSERT row: from its first token
    /// to the end of the list item.
    fn expr_range(&self, e: &Expr) -> Option<Range<usize>> {
        match e {
            Expr::Value(v) => self.lines.range(v.span),
            _ => None,
        }
    }

    // ----- row sources -----

    fn row_sources(&self) -> Vec<RowSource> {
        let mut out = Vec::new();
        let mut placed = vec![false; self.scopes.len()];
        for (id, s) in self.scopes.iter().enumerate() {
            if s.role == Role::Top {
                let mut rs = RowSource {
                    top: true,
                    ..Default::default()
                };
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for (id, s) in self.scopes.iter().enumerate() {
            if s.role == Role::Sub {
                let mut rs = RowSource::default();
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for id in 0..self.scopes.len() {
            if !placed[id] {
                let mut rs = RowSource::default();
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for rs in &mut out {
            let members: HashSet<RefId> = rs.refs.iter().copied().collect();
            rs.edges
                .retain(|(a, b)| members.contains(a) && members.contains(b));
        }
        out.retain(|rs| !rs.refs.is_empty() || rs.top);
        out
    }

    fn flatten(&self, id: ScopeId, pins_apply: bool, rs: &mut RowSource, placed: &mut [bool]) {
        placed[id] = true;
        let s = &self.scopes[id];
        for r in &s.refs {
            if !rs.refs.contains(r) {
                rs.refs.push(*r);
            }
        }
        rs.edges.extend(s.edges.iter().copied());
        if pins_apply {
            rs.pins.extend(s.where_pins.iter().cloned());
            if !s.outer_join {
                rs.pins.extend(s.on_pins.iter().cloned());
            }
        }
        for &d in &s.derived {
            self.flatten(d, pins_apply && !s.outer_join, rs, placed);
        }
    }
}

fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
}
