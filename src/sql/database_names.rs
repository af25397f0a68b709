//! Physical database names of nodes that share a server (`[[node]] database
//! = "{db}_0"`): the name pattern, and the rewriting of statement text from
//! logical database names to a node's physical ones.
//!
//! A node addresses the logical database `shop` as `shop_0` when its
//! pattern is `{db}_0`; the default pattern `{db}` keeps names as they are
//! (and no text is ever rewritten). Server-wide databases
//! ([`SERVER_SCHEMAS`]: `information_schema`, `mysql`, `performance_schema`,
//! `sys` and shardcat's own `shardcat`) are never mapped.
//!
//! The rewriting is lexical (every statement, also those sqlparser
//! rejects): database qualifiers of table names in table positions (`FROM`,
//! `JOIN`, `INTO`, `UPDATE`, `TABLE(S)`, `DESCRIBE`, `REFERENCES`, `ON` of
//! `CREATE INDEX`/`TRIGGER` …) and of three-part column names or
//! qualified routines (`db.f(…)`); the database operand of `USE`,
//! `CREATE|ALTER|DROP DATABASE`, `SHOW CREATE DATABASE`, `SHOW TABLES|TABLE
//! STATUS|TRIGGERS|EVENTS FROM db`, `SHOW COLUMNS|INDEX FROM t FROM db`; and,
//! in statements reading `information_schema` (and `SHOW DATABASES`),
//! string literals compared with a schema column (`TABLE_SCHEMA = 'shop'`,
//! `SCHEMA_NAME IN (…)`, `LIKE`).
//!
//! Owns: the pattern and the text rewrite. Must not: do I/O, or map
//! answers back (that is `backend::connection::answer_map`).

use std::borrow::Cow;
use std::ops::Range;

use super::lexer::{unquote, LexOptions, Lexer, Token, TokenKind};

/// Databases of the server itself: the same for every node on it.
pub const SERVER_SCHEMAS: &[&str] = &[
    "information_schema",
    "mysql",
    "performance_schema",
    "sys",
    "shardcat",
];

/// Whether `db` is one of [`SERVER_SCHEMAS`].
pub fn is_server_schema(db: &str) -> bool {
    SERVER_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(db))
}

/// A bad `[[node]] database` pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabasePatternError {
    #[error("database pattern `{0}` must contain `{{db}}` exactly once")]
    Placeholder(String),
    #[error("database pattern `{0}` may only add letters, digits, `_` and `$` around `{{db}}`")]
    Characters(String),
}

/// The physical name of every logical database on one node:
/// `prefix` + logical + `suffix`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseMap {
    prefix: String,
    suffix: String,
}

impl DatabaseMap {
    /// Parses a pattern such as `{db}_0` or `tenant1_{db}`.
    pub fn parse(pattern: &str) -> Result<DatabaseMap, DatabasePatternError> {
        let (prefix, suffix) = pattern
            .split_once("{db}")
            .filter(|(_, s)| !s.contains("{db}"))
            .ok_or_else(|| DatabasePatternError::Placeholder(pattern.into()))?;
        let plain = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        };
        if !plain(prefix) || !plain(suffix) {
            return Err(DatabasePatternError::Characters(pattern.into()));
        }
        Ok(DatabaseMap {
            prefix: prefix.into(),
            suffix: suffix.into(),
        })
    }

    /// The pattern as written in the configuration.
    pub fn pattern(&self) -> String {
        format!("{}{{db}}{}", self.prefix, self.suffix)
    }

    /// The default `{db}`: names are not changed.
    pub fn is_identity(&self) -> bool {
        self.prefix.is_empty() && self.suffix.is_empty()
    }

    /// The node's name of the logical database `logical`.
    pub fn physical<'a>(&self, logical: &'a str) -> Cow<'a, str> {
        if self.is_identity() || is_server_schema(logical) {
            Cow::Borrowed(logical)
        } else {
            Cow::Owned(format!("{}{logical}{}", self.prefix, self.suffix))
        }
    }

    /// The logical database a physical name of this node stands for;
    /// `None` for a database of the server that is not one of this node's.
    pub fn logical<'a>(&self, physical: &'a str) -> Option<&'a str> {
        if self.is_identity() || is_server_schema(physical) {
            return Some(physical);
        }
        physical
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())
            .filter(|l| !l.is_empty())
    }

    /// The logical `LIKE` pattern a pattern [`rewrite_sql`] made
    /// (`shop\_0` → `shop`), as the server echoes it in a column name.
    pub fn logical_like<'a>(&self, physical: &'a str) -> Option<&'a str> {
        let esc = |s: &str| s.replace('_', "\\_");
        physical
            .strip_prefix(esc(&self.prefix).as_str())?
            .strip_suffix(esc(&self.suffix).as_str())
    }

    /// `sql` with logical database names replaced by this node's (see the
    /// module doc); borrowed when nothing changes.
    pub fn rewrite_sql<'a>(&self, sql: &'a str, opts: LexOptions) -> Cow<'a, str> {
        if self.is_identity() {
            return Cow::Borrowed(sql);
        }
        let toks: Vec<Token> = Lexer::with_options(sql.as_bytes(), opts)
            .filter(|t| !t.is_trivia())
            .collect();
        let mut edits = Scan::new(sql, &toks).database_spans();
        if super::search::contains_ignore_case(sql.as_bytes(), b"information_schema")
            || is_show_databases(sql, &toks)
        {
            edits.extend(schema_literals(sql, &toks));
        }
        if edits.is_empty() {
            return Cow::Borrowed(sql);
        }
        edits.sort_by_key(|e| e.0.start);
        edits.dedup_by_key(|e| e.0.start);
        let mut out = String::with_capacity(sql.len() + 8 * edits.len());
        let mut at = 0;
        for (range, kind) in edits {
            if range.start < at {
                continue;
            }
            out.push_str(&sql[at..range.start]);
            out.push_str(&self.replacement(&sql[range.clone()], kind, opts));
            at = range.end;
        }
        out.push_str(&sql[at..]);
        Cow::Owned(out)
    }

    fn replacement(&self, token: &str, kind: Edit, opts: LexOptions) -> String {
        match kind {
            Edit::Ident => {
                let name = unquote(token.as_bytes());
                let physical = self.physical(&name);
                match token.as_bytes().first() {
                    Some(&q @ (b'`' | b'"')) => {
                        let q = q as char;
                        let doubled = format!("{q}{q}");
                        format!("{q}{}{q}", physical.replace(q, &doubled))
                    }
                    _ => physical.into_owned(),
                }
            }
            Edit::Literal { like } => {
                let q = token.as_bytes()[0] as char;
                let inner = &token[1..token.len() - 1];
                let bare = unquote(token.as_bytes());
                if is_server_schema(&bare) {
                    return token.to_string();
                }
                let escape = |s: &str| {
                    if like && !opts.no_backslash_escapes {
                        s.replace('_', "\\\\_")
                    } else {
                        s.to_string()
                    }
                };
                format!(
                    "{q}{}{inner}{}{q}",
                    escape(&self.prefix),
                    escape(&self.suffix)
                )
            }
        }
    }
}

/// What a span to replace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// A database name as an identifier.
    Ident,
    /// A database name as a string literal (a `LIKE` pattern when `like`).
    Literal { like: bool },
}

fn is_name(t: &Token) -> bool {
    matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
}

fn is_show_databases(sql: &str, toks: &[Token]) -> bool {
    let b = sql.as_bytes();
    toks.first().is_some_and(|t| t.is_keyword(b, "SHOW"))
        && toks
            .get(1)
            .is_some_and(|t| t.is_keyword(b, "DATABASES") || t.is_keyword(b, "SCHEMAS"))
}

/// Keywords after which names are tables (until a clause keyword or `(`).
const TABLE_LIST: &[&str] = &[
    "FROM",
    "JOIN",
    "STRAIGHT_JOIN",
    "INTO",
    "TABLE",
    "TABLES",
    "REFERENCES",
    "VIEW",
    "PROCEDURE",
    "FUNCTION",
    "TRIGGER",
    "EVENT",
    "CALL",
];

/// Keywords that end a table list.
const CLAUSES: &[&str] = &[
    "WHERE",
    "SET",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "WINDOW",
    "VALUES",
    "VALUE",
    "SELECT",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "RETURNING",
    "FOR",
    "DUPLICATE",
    "PARTITION",
    "BEGIN",
    "DO",
];

struct Scan<'a> {
    b: &'a [u8],
    toks: &'a [Token],
}

impl<'a> Scan<'a> {
    fn new(sql: &'a str, toks: &'a [Token]) -> Self {
        Scan {
            b: sql.as_bytes(),
            toks,
        }
    }

    fn kw(&self, i: usize, k: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_keyword(self.b, k))
    }

    fn punct(&self, i: usize, p: &str) -> bool {
        self.toks.get(i).is_some_and(|t| t.is_punct(self.b, p))
    }

    fn name(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(is_name)
    }

    /// Spans of database names written as identifiers.
    fn database_spans(&self) -> Vec<(Range<usize>, Edit)> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < self.toks.len() {
            let end = (start..self.toks.len())
                .find(|&i| self.punct(i, ";"))
                .unwrap_or(self.toks.len());
            self.statement(start, end, &mut out);
            start = end + 1;
        }
        out
    }

    /// One statement: tokens `from..to`.
    fn statement(&self, from: usize, to: usize, out: &mut Vec<(Range<usize>, Edit)>) {
        let push = |i: usize, out: &mut Vec<(Range<usize>, Edit)>| {
            if let Some(t) = self.toks.get(i).filter(|t| is_name(t)) {
                out.push((t.span(), Edit::Ident));
            }
        };
        if let Some(i) = self.operand_database(from, to) {
            push(i, out);
        }
        let ddl = self.kw(from, "CREATE") || self.kw(from, "DROP") || self.kw(from, "ALTER");
        let mut list = ["UPDATE", "DESCRIBE", "DESC", "EXPLAIN"]
            .iter()
            .any(|k| self.kw(from, k));
        let mut stack: Vec<bool> = Vec::new();
        let mut seen_select = false;
        let mut i = from;
        while i < to {
            let t = &self.toks[i];
            if t.is_punct(self.b, "(") {
                stack.push(list);
                list = false;
            } else if t.is_punct(self.b, ")") {
                list = stack.pop().unwrap_or(false);
            } else if t.kind == TokenKind::Word && !self.punct(i + 1, ".") && !self.dotted(i) {
                let word = t.bytes(self.b);
                let is = |k: &str| word.eq_ignore_ascii_case(k.as_bytes());
                seen_select |= is("SELECT");
                // `CREATE INDEX … ON t`, `CREATE TABLE a LIKE b`.
                let ddl_table = (is("ON") || is("LIKE")) && ddl && !seen_select;
                if ddl_table || TABLE_LIST.iter().any(|k| is(k)) {
                    list = true;
                } else if CLAUSES.iter().any(|k| is(k)) {
                    list = false;
                }
            }
            if is_name(t) && self.punct(i + 1, ".") && self.name(i + 2) && !self.dotted(i) {
                let three = self.punct(i + 3, ".") && (self.name(i + 4) || self.punct(i + 4, "*"));
                let routine = self.punct(i + 3, "(");
                if three || routine || list {
                    push(i, out);
                }
                i += if three { 5 } else { 3 };
                continue;
            }
            i += 1;
        }
    }

    /// Whether token `i` follows a `.` (the second or third part of a
    /// qualified name).
    fn dotted(&self, i: usize) -> bool {
        i > 0 && self.punct(i - 1, ".")
    }

    /// The token that is a database operand of the statement's verb.
    fn operand_database(&self, from: usize, to: usize) -> Option<usize> {
        let skip_if_exists = |mut i: usize| {
            if self.kw(i, "IF") {
                i += 1;
                if self.kw(i, "NOT") {
                    i += 1;
                }
                if self.kw(i, "EXISTS") {
                    i += 1;
                }
            }
            i
        };
        let db_word = |i: usize| self.kw(i, "DATABASE") || self.kw(i, "SCHEMA");
        if self.kw(from, "USE") {
            return Some(from + 1).filter(|&i| i < to);
        }
        if (self.kw(from, "CREATE") || self.kw(from, "DROP") || self.kw(from, "ALTER"))
            && db_word(from + 1)
        {
            let i = skip_if_exists(from + 2);
            let options = [
                "DEFAULT",
                "CHARACTER",
                "CHARSET",
                "COLLATE",
                "COMMENT",
                "UPGRADE",
            ];
            if i < to && !options.iter().any(|k| self.kw(i, k)) {
                return Some(i);
            }
            return None;
        }
        if !self.kw(from, "SHOW") {
            return None;
        }
        if self.kw(from + 1, "CREATE") && db_word(from + 2) {
            return Some(skip_if_exists(from + 3)).filter(|&i| i < to);
        }
        // `SHOW [FULL] TABLES|TABLE STATUS|OPEN TABLES|TRIGGERS|EVENTS FROM db`,
        // `SHOW [FULL|EXTENDED] COLUMNS|FIELDS|INDEX|INDEXES|KEYS FROM t FROM db`.
        let mut froms = (from + 1..to).filter(|&i| self.kw(i, "FROM") || self.kw(i, "IN"));
        let first = froms.next()?;
        let of_table = (from + 1..first).any(|i| {
            ["COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"]
                .iter()
                .any(|k| self.kw(i, k))
        });
        let on_db = (from + 1..first).any(|i| {
            ["TABLES", "STATUS", "TRIGGERS", "EVENTS"]
                .iter()
                .any(|k| self.kw(i, k))
        });
        let at = if of_table {
            froms.next()? + 1
        } else if on_db {
            first + 1
        } else {
            return None;
        };
        (at < to && !self.punct(at + 1, ".")).then_some(at)
    }
}

/// String literals compared with a schema column: `x_SCHEMA = 'db'`,
/// `SCHEMA_NAME IN ('a', 'b')`, `` `Database` LIKE 'd%' ``, and the pattern
/// of `SHOW DATABASES LIKE`.
fn schema_literals(sql: &str, toks: &[Token]) -> Vec<(Range<usize>, Edit)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let plain_string =
        |t: &Token| t.kind == TokenKind::String && matches!(b.get(t.start), Some(b'\'' | b'"'));
    let schema_column = |t: &Token| {
        if !is_name(t) {
            return false;
        }
        let name = unquote(t.bytes(b)).to_ascii_uppercase();
        name.ends_with("SCHEMA") || name == "SCHEMA_NAME" || name == "DATABASE" || name == "DB"
    };
    if is_show_databases(sql, toks) && toks.get(2).is_some_and(|t| t.is_keyword(b, "LIKE")) {
        if let Some(t) = toks.get(3).filter(|t| plain_string(t)) {
            out.push((t.span(), Edit::Literal { like: true }));
        }
    }
    for (i, t) in toks.iter().enumerate() {
        if !schema_column(t) || toks.get(i + 1).is_some_and(|n| n.is_punct(b, ".")) {
            continue;
        }
        let mut j = i + 1;
        if toks.get(j).is_some_and(|n| n.is_keyword(b, "NOT")) {
            j += 1;
        }
        let Some(op) = toks.get(j) else { continue };
        let like = op.is_keyword(b, "LIKE");
        if like || ["=", "<=>", "!=", "<>"].iter().any(|p| op.is_punct(b, p)) {
            if let Some(v) = toks.get(j + 1).filter(|v| plain_string(v)) {
                out.push((v.span(), Edit::Literal { like }));
            }
        } else if op.is_keyword(b, "IN") && toks.get(j + 1).is_some_and(|p| p.is_punct(b, "(")) {
            let mut k = j + 2;
            while let Some(v) = toks.get(k).filter(|v| plain_string(v)) {
                out.push((v.span(), Edit::Literal { like: false }));
                if !toks.get(k + 1).is_some_and(|c| c.is_punct(b, ",")) {
                    break;
                }
                k += 2;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(sql: &str) -> String {
        DatabaseMap::parse("{db}_0")
            .unwrap()
            .rewrite_sql(sql, LexOptions::default())
            .into_owned()
    }

    #[test]
    fn pattern_round_trips() {
        let m = DatabaseMap::parse("t1_{db}_x").unwrap();
        assert_eq!(m.physical("shop"), "t1_shop_x");
        assert_eq!(m.logical("t1_shop_x"), Some("shop"));
        assert_eq!(m.logical("shop"), None);
        assert_eq!(m.logical("mysql"), Some("mysql"));
        assert_eq!(m.physical("information_schema"), "information_schema");
        assert!(DatabaseMap::parse("{db}").unwrap().is_identity());
        assert!(DatabaseMap::parse("db").is_err());
        assert!(DatabaseMap::parse("{db}{db}").is_err());
        assert!(DatabaseMap::parse("{db}-0").is_err());
    }

    #[test]
    fn qualifiers_in_table_positions() {
        let cases = [
            ("SELECT a.x FROM shop.a", "SELECT a.x FROM shop_0.a"),
            (
                "SELECT t.x, shop.t.y FROM `shop`.`t` t JOIN shop.u ON t.a = u.a",
                "SELECT t.x, shop_0.t.y FROM `shop_0`.`t` t JOIN shop_0.u ON t.a = u.a",
            ),
            (
                "SELECT * FROM a, shop.b, (SELECT c.x FROM c) d, shop.e WHERE a.y = 1",
                "SELECT * FROM a, shop_0.b, (SELECT c.x FROM c) d, shop_0.e WHERE a.y = 1",
            ),
            (
                "INSERT INTO shop.t (a) VALUES (1) ON DUPLICATE KEY UPDATE t.a = 2",
                "INSERT INTO shop_0.t (a) VALUES (1) ON DUPLICATE KEY UPDATE t.a = 2",
            ),
            (
                "UPDATE shop.t, o SET t.a = o.a WHERE o.b = 1",
                "UPDATE shop_0.t, o SET t.a = o.a WHERE o.b = 1",
            ),
            (
                "DROP TABLE IF EXISTS shop.a, shop.b",
                "DROP TABLE IF EXISTS shop_0.a, shop_0.b",
            ),
            (
                "CREATE INDEX i ON shop.t (a)",
                "CREATE INDEX i ON shop_0.t (a)",
            ),
            (
                "SELECT shop.f(1), t.c FROM t",
                "SELECT shop_0.f(1), t.c FROM t",
            ),
            (
                "SELECT t.a FROM t ORDER BY t.a DESC, t.b",
                "SELECT t.a FROM t ORDER BY t.a DESC, t.b",
            ),
            ("DESC shop.t", "DESC shop_0.t"),
            (
                "USE `shop`; SET SESSION x = 1",
                "USE `shop_0`; SET SESSION x = 1",
            ),
            ("USE mysql", "USE mysql"),
            ("SELECT * FROM mysql.user", "SELECT * FROM mysql.user"),
            (
                "CREATE DATABASE IF NOT EXISTS shop",
                "CREATE DATABASE IF NOT EXISTS shop_0",
            ),
            ("DROP SCHEMA `shop`", "DROP SCHEMA `shop_0`"),
            (
                "ALTER DATABASE DEFAULT CHARSET utf8mb4",
                "ALTER DATABASE DEFAULT CHARSET utf8mb4",
            ),
            ("SHOW CREATE DATABASE shop", "SHOW CREATE DATABASE shop_0"),
            (
                "SHOW FULL TABLES FROM shop LIKE 'u%'",
                "SHOW FULL TABLES FROM shop_0 LIKE 'u%'",
            ),
            (
                "SHOW COLUMNS FROM t FROM shop",
                "SHOW COLUMNS FROM t FROM shop_0",
            ),
            ("SHOW COLUMNS FROM shop.t", "SHOW COLUMNS FROM shop_0.t"),
            ("SHOW COLUMNS FROM t", "SHOW COLUMNS FROM t"),
            (
                "LOCK TABLES shop.t READ, shop.u WRITE",
                "LOCK TABLES shop_0.t READ, shop_0.u WRITE",
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(map(sql), want, "{sql}");
        }
    }

    #[test]
    fn schema_literals_of_information_schema() {
        assert_eq!(
            map("SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'shop'"),
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shop_0' AND table_name = 'shop'"
        );
        assert_eq!(
            map("SELECT 1 FROM information_schema.schemata WHERE SCHEMA_NAME IN ('a', 'mysql', \"b\")"),
            "SELECT 1 FROM information_schema.schemata WHERE SCHEMA_NAME IN ('a_0', 'mysql', \"b_0\")"
        );
        assert_eq!(
            map("SHOW DATABASES LIKE 'sh%'"),
            "SHOW DATABASES LIKE 'sh%\\\\_0'"
        );
        assert_eq!(
            map("SELECT 'shop' AS table_schema FROM t WHERE table_schema = 'shop'"),
            "SELECT 'shop' AS table_schema FROM t WHERE table_schema = 'shop'"
        );
    }
}
