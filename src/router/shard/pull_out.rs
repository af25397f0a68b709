//! Subqueries pulled out of a SELECT: an uncorrelated `x [NOT] IN (SELECT
//! …)` or `[NOT] EXISTS (SELECT …)` over sharded tables that the planner
//! cannot push down (not tied to the outer rows by the sharding key) is run
//! first as a statement of its own (itself routed and merged), and its
//! answer replaces it in the text as a literal list (`IN (v1, v2, …)`,
//! which then prunes shards when `x` is the sharding key) or as a constant
//! subquery (`EXISTS (SELECT 1)`). The session does the running
//! (`frontend::session::sharded`); this module finds the subqueries and
//! writes the values back as SQL.
//!
//! Exactness: the values are written as literals that compare as the
//! subquery's column would: strings re-read from their bytes (`CONVERT(x'…',
//! CHAR CHARACTER SET cs COLLATE c)`, IMPLICIT coercibility like a
//! column, in the column's own collation, which the subquery also returns
//! as `COLLATION(item)`), binary strings (and BIT values a merge reports as
//! such) as hex literals `x'…'`,
//! integers, DECIMAL and DOUBLE (with an exponent) as numbers, temporal
//! values as typed literals, NULL as NULL (so `NOT IN` with a NULL answers
//! no rows, as the server does). An empty answer becomes a subquery
//! without rows. FLOAT values (printed with 6 digits, not their stored
//! value) are refused.
//!
//! Owns: finding pull-out candidates and rendering their answers. Must not
//! run anything (no I/O) nor plan (the rewritten text is planned as any
//! statement).

use std::collections::HashSet;
use std::ops::{ControlFlow, Range};

use mysql_common::constants::{ColumnFlags, ColumnType};

use super::lex::{LineIndex, Tokens};
use super::ShardRouter;
use crate::sql::ast::{self, Expr, Query, SetExpr, Statement, TableFactor, Visit, Visitor};

/// One subquery to run first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOut {
    /// Bytes of `(SELECT …)`, parentheses included, in the statement.
    pub range: Range<usize>,
    /// The statement to run: the subquery, with `, COLLATION(item)` added
    /// after the one select item of an `IN` (when the item can carry it),
    /// or ` LIMIT 1` added to an `EXISTS` without LIMIT.
    pub inner: String,
    pub kind: PullKind,
    /// The select item is an aggregate (MariaDB sends MIN/MAX of a BIT
    /// column as decimal digits, a bare BIT column as its bytes).
    pub aggregate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// `IN`: the values are the list; `collation` is true when the inner
    /// statement's second column is `COLLATION(item)`.
    In { collation: bool },
    /// `EXISTS`: any row.
    Exists,
    /// `IN` over a subquery with LIMIT, which MariaDB refuses (1235): so
    /// does shardcat, rather than answering.
    InWithLimit,
    /// A scalar subquery in WHERE or HAVING: its one value (NULL without
    /// rows; more than one row is MariaDB's error 1242); `collation` as
    /// for `In`.
    Scalar { collation: bool },
}

/// Which kind of subquery expression a candidate sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    In,
    Exists,
    Scalar,
}

/// The text of an `EXISTS` subquery's replacement.
pub fn exists_text(any_row: bool) -> &'static str {
    if any_row {
        "(SELECT 1)"
    } else {
        "(SELECT 1 WHERE 0)"
    }
}

/// The replacement of an `IN` subquery whose answer is `values` (already
/// rendered by [`literal`]).
pub fn in_list_text(values: &[String]) -> String {
    if values.is_empty() {
        // `x IN (empty)` is FALSE and `x NOT IN (empty)` TRUE even for a
        // NULL x: only an empty subquery says so.
        return "(SELECT NULL WHERE 0)".to_owned();
    }
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 2).sum::<usize>() + 2);
    out.push('(');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(v);
    }
    out.push(')');
    out
}

/// `text` with each pulled-out range replaced (ranges do not overlap).
pub fn substitute(text: &str, pulled: &[(Range<usize>, String)]) -> String {
    let mut sorted: Vec<&(Range<usize>, String)> = pulled.iter().collect();
    sorted.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (r, with) in sorted {
        out.push_str(&text[at..r.start]);
        out.push_str(with);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The charset a collation name belongs to (`utf8mb4_unicode_ci` →
/// `utf8mb4`, `binary` → `binary`).
fn charset_of_collation(collation: &str) -> &str {
    collation.split('_').next().unwrap_or(collation)
}

/// The charset name of a column definition's collation id (the charset
/// the value's bytes are in: `character_set_results`, or the column's own
/// when results are not converted).
fn charset_of_id(id: u16) -> Option<String> {
    use mysql_common::collations::{Collation, CollationId};
    let c = Collation::from(CollationId::from(id));
    (c.id() != CollationId::UNKNOWN_COLLATION_ID).then(|| match c.charset() {
        "utf8" => "utf8mb3".to_owned(),
        cs => cs.to_owned(),
    })
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// One value of the subquery's column as a literal that compares as the
/// column would. `collation` is the column's `COLLATION(item)` (needed
/// for character strings); `charset_id` the column definition's collation
/// id; `aggregate`: the value is an aggregate's (a BIT one comes as
/// digits). `Err` says why the value cannot be written exactly.
pub fn literal(
    column_type: ColumnType,
    flags: ColumnFlags,
    charset_id: u16,
    collation: Option<&str>,
    value: Option<&[u8]>,
    aggregate: bool,
) -> Result<String, String> {
    use ColumnType::*;
    let Some(v) = value else {
        return Ok("NULL".to_owned());
    };
    let text = || std::str::from_utf8(v).map_err(|_| "a value is not text".to_owned());
    let numeric = |s: &str| -> Result<String, String> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        if ok {
            Ok(s.to_owned())
        } else {
            Err(format!("the number {s:?} cannot be written back"))
        }
    };
    match column_type {
        MYSQL_TYPE_TINY
        | MYSQL_TYPE_SHORT
        | MYSQL_TYPE_INT24
        | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_YEAR
        | MYSQL_TYPE_DECIMAL
        | MYSQL_TYPE_NEWDECIMAL => numeric(text()?),
        MYSQL_TYPE_DOUBLE => {
            let s = numeric(text()?)?;
            // An exponent makes it a DOUBLE literal, not a DECIMAL one.
            Ok(if s.contains(['e', 'E']) {
                s
            } else {
                format!("{s}e0")
            })
        }
        MYSQL_TYPE_FLOAT => Err(
            "its values are FLOAT, which the server prints rounded to 6 digits (not the stored \
             value)"
                .to_owned(),
        ),
        MYSQL_TYPE_BIT if aggregate => numeric(text()?),
        MYSQL_TYPE_BIT => {
            let n = v.iter().fold(0u128, |n, b| (n << 8) | u128::from(*b));
            Ok(n.to_string())
        }
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Ok(format!("DATE'{}'", plain(text()?)?)),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => Ok(format!("TIME'{}'", plain(text()?)?)),
        MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_TIMESTAMP2 => {
            let t = plain(text()?)?;
            // Zero dates are no valid typed literal.
            if t.starts_with("0000") {
                return Err(format!("the zero date {t:?} has no literal"));
            }
            Ok(format!("TIMESTAMP'{t}'"))
        }
        MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_JSON => {
            let binary = charset_id == 63 && !flags.contains(ColumnFlags::ENUM_FLAG);
            if binary || collation == Some("binary") {
                return Ok(format!("x'{}'", hex(v)));
            }
            let Some(collation) =
                collation.filter(|c| c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            else {
                return Err(
                    "its select item is a string whose collation shardcat cannot ask for (an \
                     expression over aggregates)"
                        .to_owned(),
                );
            };
            let Some(from) = charset_of_id(charset_id) else {
                return Err(format!("unknown result charset id {charset_id}"));
            };
            let to = charset_of_collation(collation);
            let bytes = format!("x'{}'", hex(v));
            Ok(if from == to || (from == "utf8mb3" && to == "utf8") {
                format!("CONVERT({bytes}, CHAR CHARACTER SET {to} COLLATE {collation})")
            } else {
                format!(
                    "CONVERT(CONVERT({bytes}, CHAR CHARACTER SET {from}), CHAR CHARACTER SET {to} \
                     COLLATE {collation})"
                )
            })
        }
        other => Err(format!("its values are of type {other:?}")),
    }
}

/// Temporal text: digits and separators only (it goes inside quotes).
fn plain(s: &str) -> Result<&str, String> {
    if s.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b' ' | b'.'))
    {
        Ok(s)
    } else {
        Err(format!("the value {s:?} cannot be written back"))
    }
}

impl ShardRouter {
    /// The subqueries of a SELECT that could be pulled out (outermost
    /// ones only: the inner statements are planned, and pulled out from,
    /// on their own): uncorrelated (every qualifier names one of its own
    /// tables), reading a table with a rule, in `[NOT] IN` with one
    /// select item or in `[NOT] EXISTS`, not locking. Empty when the text
    /// is not a plain SELECT.
    pub fn pull_outs(&self, sql: &str) -> Vec<PullOut> {
        if self.tables.is_empty() {
            return Vec::new();
        }
        let Ok(statements) = crate::sql::parse(sql) else {
            return Vec::new();
        };
        let [Statement::Query(q)] = statements.as_slice() else {
            return Vec::new();
        };
        if !q.locks.is_empty() {
            return Vec::new();
        }
        let mut finder = Finder {
            depth: 0,
            found: Vec::new(),
            scalar: false,
            compared: HashSet::new(),
        };
        match q.body.as_ref() {
            // Scalar subqueries only where their value is all that
            // matters (not in the select list: the column would change).
            SetExpr::Select(s) => {
                let _ = s.projection.visit(&mut finder);
                let _ = s.from.visit(&mut finder);
                finder.scalar = true;
                let _ = s.selection.visit(&mut finder);
                let _ = s.having.visit(&mut finder);
            }
            body => {
                let _ = body.visit(&mut finder);
            }
        }
        let lines = LineIndex::new(sql);
        let toks = Tokens::new(sql);
        finder
            .found
            .into_iter()
            .filter_map(|(sub, form)| self.candidate(sql, &lines, &toks, &sub, form))
            .collect()
    }

    fn candidate(
        &self,
        sql: &str,
        lines: &LineIndex<'_>,
        toks: &Tokens<'_>,
        q: &Query,
        form: Form,
    ) -> Option<PullOut> {
        let SetExpr::Select(s) = q.body.as_ref() else {
            return None;
        };
        if !q.locks.is_empty() || s.into.is_some() || correlated(q) {
            return None;
        }
        let select_at = lines.range(s.select_token.0.span)?;
        let select_tok = toks.index_at(select_at.start);
        let open = select_tok.checked_sub(1)?;
        if !toks.is_punct(open, "(") {
            return None;
        }
        let close = toks.matching_paren(open)?;
        let outer = toks.byte_range(&(open..close + 1))?;
        let inner_range = toks.byte_range(&(open + 1..close))?;
        let inner_text = &sql[inner_range.clone()];
        if !self.mentions_rule_table(inner_text) {
            return None;
        }
        if form == Form::Exists {
            let inner = if q.limit_clause.is_some() || q.fetch.is_some() {
                inner_text.to_owned()
            } else {
                format!("{inner_text} LIMIT 1")
            };
            return Some(PullOut {
                range: outer,
                inner,
                kind: PullKind::Exists,
                aggregate: false,
            });
        }
        if form == Form::In && (q.limit_clause.is_some() || q.fetch.is_some()) {
            return Some(PullOut {
                range: outer,
                inner: inner_text.to_owned(),
                kind: PullKind::InWithLimit,
                aggregate: false,
            });
        }
        let [item] = s.projection.as_slice() else {
            return None;
        };
        let expr = match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => return None,
        };
        // The item's last token: the list ends at the first clause keyword
        // (or the closing parenthesis) after SELECT and its modifiers.
        let mut first = toks.index_at(select_at.end);
        while super::select::MODIFIERS
            .iter()
            .any(|m| toks.is_kw(first, m))
        {
            first += 1;
        }
        let (items, stop) = toks.split_list(first, super::lex::is_clause_keyword);
        if items.len() != 1 || stop > close {
            return None;
        }
        let item_range = toks.byte_range(&items[0])?;
        let of = collation_argument(expr).and_then(|e| {
            let r = lines.range(ast::Spanned::span(e))?;
            (r.start >= item_range.start && r.end <= item_range.end).then(|| sql[r].to_owned())
        });
        let inner = match &of {
            Some(arg) => format!(
                "{}, COLLATION({arg}){}",
                &sql[inner_range.start..item_range.end],
                &sql[item_range.end..inner_range.end]
            ),
            None => inner_text.to_owned(),
        };
        let collation = of.is_some();
        Some(PullOut {
            range: outer,
            inner,
            kind: match form {
                Form::Scalar => PullKind::Scalar { collation },
                _ => PullKind::In { collation },
            },
            aggregate: super::select::find_aggregates(expr).0,
        })
    }
}

/// The expression whose `COLLATION()` is the item's: the item itself, or
/// the argument of `MIN`/`MAX` (an aggregate's collation cannot be asked
/// for across shards); `None` for other aggregates (numbers).
fn collation_argument(e: &Expr) -> Option<&Expr> {
    if !super::select::find_aggregates(e).0 {
        return Some(e);
    }
    let Expr::Function(f) = e else { return None };
    let name = f.name.to_string().to_ascii_uppercase();
    if name != "MIN" && name != "MAX" {
        return None;
    }
    let ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))]
            if !super::select::find_aggregates(arg).0 =>
        {
            Some(arg)
        }
        _ => None,
    }
}

/// Whether `q` names a qualifier none of its own tables (or derived
/// tables, or CTEs) defines: a reference to an outer query.
fn correlated(q: &Query) -> bool {
    struct Names {
        defined: HashSet<String>,
        used: Vec<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            match t {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        self.defined.insert(last.value.to_ascii_lowercase());
                    }
                    if let Some(a) = alias {
                        self.defined.insert(a.name.value.to_ascii_lowercase());
                    }
                }
                TableFactor::Derived { alias: Some(a), .. } => {
                    self.defined.insert(a.name.value.to_ascii_lowercase());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let Some(with) = &q.with {
                for cte in &with.cte_tables {
                    self.defined
                        .insert(cte.alias.name.value.to_ascii_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = e {
                if parts.len() >= 2 {
                    self.used
                        .push(parts[parts.len() - 2].value.to_ascii_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names {
        defined: HashSet::new(),
        used: Vec::new(),
    };
    let _ = q.visit(&mut names);
    names.used.iter().any(|u| !names.defined.contains(u))
}

/// Collects the outermost `IN (subquery)` and `EXISTS (subquery)`
/// subqueries, and scalar ones while `scalar` (not the right side of
/// `= ANY`/`ALL`, which `compared` remembers by address).
struct Finder {
    depth: usize,
    found: Vec<(Query, Form)>,
    scalar: bool,
    compared: HashSet<usize>,
}

impl Visitor for Finder {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            match e {
                Expr::In {
                    target: ast::InTarget::Subquery(q),
                    ..
                } => self.found.push((q.as_ref().clone(), Form::In)),
                Expr::Exists { subquery, .. } => {
                    self.found.push((subquery.as_ref().clone(), Form::Exists))
                }
                Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
                    if let Expr::Subquery(q) = right.as_ref() {
                        self.compared.insert(q.as_ref() as *const Query as usize);
                    }
                }
                Expr::Subquery(q)
                    if self.scalar
                        && !self
                            .compared
                            .contains(&(q.as_ref() as *const Query as usize)) =>
                {
                    self.found.push((q.as_ref().clone(), Form::Scalar))
                }
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}
