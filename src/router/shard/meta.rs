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
                return self.meta_describe(&toks, i + 2, None, DescribeKind::CreateTable, current_schema);
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

    fn lock_tables(&self, toks: &Tokens<'_>, current_schema: Option<&str>) -> Option<MetaStatement> {
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
                toks.toks.get(end - 1)?.end
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
                    for (node, physical) in &info.slots {
                        per_node.entry(*node).or_default().push(format!(
                            "{prefix}{}{rest}",
                            quote_ident(physical)
                        ));
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
                    per_node
                        .entry(self.schema_node(db))
                        .or_default()
                        .push(item);
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
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('%', rest)) => (0..=v.len()).any(|k| go(rest, &v[k..])),
            Some(('_', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                v.first() == rest.first() && go(&rest[1..], &v[1..])
            }
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
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

    #[test]
    fn like() {
        assert!(like_matches("orders", "orders"));
        assert!(!like_matches("orders", "orders_0"));
        assert!(like_matches("ord%", "orders"));
        assert!(like_matches("o_ders", "orders"));
        assert!(!like_matches("o\\_ders", "orders"));
        assert!(like_matches("o\\_d", "o_d"));
        assert!(like_matches("%", ""));
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
