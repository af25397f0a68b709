//! The sqlparser facade: the only place that calls sqlparser.
//!
//! Owns: parsing with the pinned sqlparser (`=0.64.0`, `MySqlDialect`,
//! `unescape = false` so literals round-trip byte for byte), our own
//! [`ParseError`], and [`table_references`], which finds every table a
//! statement names and converts sqlparser's line/column spans to byte
//! ranges of the original text (for splicing with
//! [`super::rewrite::apply_splices`]).
//!
//! Must not touch: routing decisions, sessions, the network; and it must
//! not leak sqlparser types beyond `sql::ast` (re-exported from `sql` so
//! the version pin lives in one place). sqlparser rejects about 12% of
//! real MySQL statements; callers fall back to [`super::classify`].

use std::collections::HashSet;
use std::ops::{ControlFlow, Range};

use sqlparser::ast::{
    self, ObjectName, ObjectType, ShowCreateObject, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserOptions};
use sqlparser::tokenizer::{Location, Span};

use super::lexer::unquote;

/// sqlparser could not parse the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQL parse error: {message}")]
pub struct ParseError {
    /// sqlparser's message (it includes line and column when known).
    pub message: String,
}

/// Parses `sql` (one or more `;`-separated statements) with the MySQL
/// dialect, keeping string literals exactly as written.
///
/// Nesting is bounded by sqlparser's recursion limit (50), so deeply
/// nested input returns an error instead of overflowing the stack.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    let dialect = MySqlDialect {};
    let options = ParserOptions::new().with_unescape(false);
    let sql = for_parser(sql);
    Parser::new(&dialect)
        .with_options(options)
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| ParseError {
            message: e.to_string(),
        })
}

/// MySQL syntax sqlparser does not know, rewritten to an equivalent it
/// does, byte for byte the same length so that every span of the parsed
/// statement still points into the original text:
/// `LOCK IN SHARE MODE` → `FOR SHARE` (padded with spaces), and the
/// modifiers of `UPDATE|DELETE [LOW_PRIORITY] [QUICK] [IGNORE]` blanked
/// (they do not change which rows or tables a statement touches; the
/// statements sent to the shards are spliced from the original text, so
/// they keep them).
fn for_parser(sql: &str) -> std::borrow::Cow<'_, str> {
    const LOCK_IN_SHARE_MODE: [&str; 4] = ["LOCK", "IN", "SHARE", "MODE"];
    let bytes = sql.as_bytes();
    let words: Vec<_> = super::lexer::tokenize(sql)
        .into_iter()
        .filter(|t| !t.is_trivia())
        .collect();
    let mut edits = Vec::new();
    let mut blanks = Vec::new();
    if words
        .first()
        .is_some_and(|t| t.is_keyword(bytes, "UPDATE") || t.is_keyword(bytes, "DELETE"))
    {
        for t in words.iter().skip(1) {
            if !["LOW_PRIORITY", "QUICK", "IGNORE"]
                .iter()
                .any(|k| t.is_keyword(bytes, k))
            {
                break;
            }
            blanks.push(t.start..t.end);
        }
    }
    for w in words.windows(LOCK_IN_SHARE_MODE.len()) {
        if w.iter()
            .zip(LOCK_IN_SHARE_MODE)
            .all(|(t, k)| t.is_keyword(bytes, k))
        {
            edits.push(w[0].start..w[3].end);
        }
    }
    // `CONVERT(x, CHAR CHARACTER SET cs COLLATE c)`: the parser takes no
    // COLLATE there; the collation does not matter to routing.
    for (i, w) in words.windows(6).enumerate() {
        let charset_collate = w[0].is_keyword(bytes, "CHARACTER")
            && w[1].is_keyword(bytes, "SET")
            && w[3].is_keyword(bytes, "COLLATE")
            && w[5].is_punct(bytes, ")");
        if charset_collate && i > 0 {
            blanks.push(w[3].start..w[4].end);
        }
    }
    if edits.is_empty() && blanks.is_empty() {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = sql.to_owned();
    for range in blanks {
        let spaces = " ".repeat(range.len());
        out.replace_range(range, &spaces);
    }
    for range in edits {
        let replacement = format!("{:<width$}", "FOR SHARE", width = range.len());
        out.replace_range(range, &replacement);
    }
    std::borrow::Cow::Owned(out)
}

/// A table named by a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// The schema (database) qualifier, unquoted, if written.
    pub schema: Option<String>,
    /// The table name, unquoted.
    pub name: String,
    /// The alias given in `FROM`/`JOIN`, unquoted.
    pub alias: Option<String>,
    /// Byte range of the whole name in the original text, schema
    /// qualifier and quotes included (`` `db`.`t` ``).
    pub span: Range<usize>,
    /// Byte range of the table name alone (its last part), quotes
    /// included.
    pub name_span: Range<usize>,
}

/// The tables named by `stmt`, which must have been parsed from `sql` by
/// [`parse`]: in `FROM`, `JOIN`, subqueries, CTE bodies, `INSERT INTO`,
/// `REPLACE INTO`, `UPDATE`, `DELETE FROM` (and multi-table `DELETE`
/// targets), `CREATE`/`ALTER`/`DROP`/`TRUNCATE`/`RENAME TABLE`,
/// `CREATE INDEX … ON`, `LOCK TABLES`, `SHOW COLUMNS`/`SHOW CREATE TABLE`
/// and `DESCRIBE`, in the order they appear in the AST.
///
/// References to a CTE by its unqualified name are not tables and are left
/// out (matched case-insensitively against every CTE of the statement,
/// whatever its scope). A name whose span cannot be located in `sql` is
/// left out too; this does not happen for text that `stmt` was parsed from.
pub fn table_references(sql: &str, stmt: &Statement) -> Vec<TableRef> {
    let mut collector = Collector {
        lines: LineIndex::new(sql),
        sql,
        refs: Vec::new(),
        seen: HashSet::new(),
        cte_names: Vec::new(),
        pending_alias: None,
        skip_relations: 0,
    };
    let _ = stmt.visit(&mut collector);
    let Collector {
        mut refs,
        cte_names,
        ..
    } = collector;
    refs.retain(|r| {
        r.schema.is_some() || !cte_names.iter().any(|c| c.eq_ignore_ascii_case(&r.name))
    });
    refs
}

/// Maps sqlparser [`Location`]s (1-based line and `char` column) to byte
/// offsets.
struct LineIndex<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { sql, line_starts }
    }

    fn offset(&self, loc: Location) -> Option<usize> {
        let line = usize::try_from(loc.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(loc.column).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(line)?;
        let rest = self.sql.get(start..)?;
        let mut chars = rest.char_indices();
        match chars.nth(column) {
            Some((i, _)) => Some(start + i),
            None if rest.chars().count() == column => Some(self.sql.len()),
            None => None,
        }
    }

    fn range(&self, span: Span) -> Option<Range<usize>> {
        let start = self.offset(span.start)?;
        let end = self.offset(span.end)?;
        (start < end).then_some(start..end)
    }
}

struct Collector<'a> {
    lines: LineIndex<'a>,
    sql: &'a str,
    refs: Vec<TableRef>,
    /// Names already recorded, by address, so a name reached twice (as a
    /// visited relation and by explicit handling) is recorded once.
    seen: HashSet<*const ObjectName>,
    cte_names: Vec<String>,
    /// The alias of the table factor whose name is about to be visited.
    pending_alias: Option<(*const ObjectName, String)>,
    /// Inside a statement whose "relations" are not tables (`SHOW TABLES
    /// FROM db` names a database).
    skip_relations: usize,
}

impl Collector<'_> {
    fn record(&mut self, name: &ObjectName) {
        let key: *const ObjectName = name;
        if !self.seen.insert(key) {
            return;
        }
        let alias = match self.pending_alias.take() {
            Some((target, alias)) if std::ptr::eq(target, key) => Some(alias),
            _ => None,
        };
        let parts: Vec<&ast::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
        if let Some(table) = self.table_ref(&parts, alias) {
            self.refs.push(table);
        }
    }

    fn table_ref(&self, parts: &[&ast::Ident], alias: Option<String>) -> Option<TableRef> {
        let (last, qualifiers) = parts.split_last()?;
        let name_span = self.lines.range(last.span)?;
        let span = match qualifiers.first() {
            Some(first) => self.lines.range(first.span)?.start..name_span.end,
            None => name_span.clone(),
        };
        Some(TableRef {
            schema: qualifiers.last().map(|q| self.ident_value(q)),
            name: self.ident_value(last),
            alias,
            span,
            name_span,
        })
    }

    /// The unquoted identifier, taken from the original text when quoted
    /// (so doubled quotes are collapsed whatever sqlparser's unescaping).
    fn ident_value(&self, ident: &ast::Ident) -> String {
        if ident.quote_style.is_some() {
            if let Some(text) = self.lines.range(ident.span).and_then(|r| self.sql.get(r)) {
                return unquote(text.as_bytes()).into_owned();
            }
        }
        ident.value.clone()
    }

    /// Tables that sqlparser's visitor does not report as relations.
    fn record_statement_tables(&mut self, statement: &Statement) {
        match statement {
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                ..
            } => names.iter().for_each(|n| self.record(n)),
            Statement::Drop {
                table: Some(table), ..
            } => self.record(table),
            Statement::RenameTable(renames) => {
                for rename in renames {
                    self.record(&rename.old_name);
                    self.record(&rename.new_name);
                }
            }
            Statement::ShowCreate {
                obj_type: ShowCreateObject::Table,
                obj_name,
            } => self.record(obj_name),
            // MySQL `LOCK TABLES t [AS a] READ`: a bare identifier.
            Statement::LockTables { tables } => {
                for lock in tables {
                    let alias = lock.alias.as_ref().map(|a| self.ident_value(a));
                    if let Some(table) = self.table_ref(&[&lock.table], alias) {
                        self.refs.push(table);
                    }
                }
            }
            _ => {}
        }
    }

    /// Multi-table `DELETE t1, a FROM t1 JOIN t2 AS a`: targets that are
    /// not aliases of the `FROM` tables are tables.
    fn record_delete_targets(&mut self, delete: &ast::Delete) {
        for target in &delete.tables {
            let is_alias = match target.0.as_slice() {
                [ast::ObjectNamePart::Identifier(only)] => {
                    let value = self.ident_value(only);
                    self.refs.iter().any(|r| {
                        r.alias
                            .as_deref()
                            .is_some_and(|a| a.eq_ignore_ascii_case(&value))
                    })
                }
                _ => false,
            };
            if !is_alias {
                self.record(target);
            }
        }
    }
}

/// Statements whose visited "relations" are databases or patterns.
fn relations_are_not_tables(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowObjects(_)
            | Statement::ShowDatabases { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowCatalogs { .. }
            | Statement::ShowFunctions { .. }
    )
}

impl Visitor for Collector<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if relations_are_not_tables(statement) {
            self.skip_relations += 1;
        }
        self.record_statement_tables(statement);
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if relations_are_not_tables(statement) {
            self.skip_relations = self.skip_relations.saturating_sub(1);
        }
        if let Statement::Delete(delete) = statement {
            self.record_delete_targets(delete);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &ast::Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                let name = self.ident_value(&cte.alias.name);
                self.cte_names.push(name);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias: Some(alias),
            ..
        } = factor
        {
            let alias = self.ident_value(&alias.name);
            self.pending_alias = Some((name as *const ObjectName, alias));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if self.skip_relations == 0 {
            self.record(relation);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(sql: &str) -> Vec<(Option<String>, String, Option<String>, String)> {
        let stmts = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        stmts
            .iter()
            .flat_map(|s| table_references(sql, s))
            .map(|r| {
                assert!(sql[r.span.clone()].ends_with(&sql[r.name_span.clone()]));
                (r.schema, r.name, r.alias, sql[r.span].to_owned())
            })
            .collect()
    }

    fn t(
        schema: Option<&str>,
        name: &str,
        alias: Option<&str>,
        text: &str,
    ) -> (Option<String>, String, Option<String>, String) {
        (
            schema.map(str::to_owned),
            name.to_owned(),
            alias.map(str::to_owned),
            text.to_owned(),
        )
    }

    #[test]
    fn lock_in_share_mode_parses_with_the_same_spans() {
        let sql = "SELECT a FROM t /* LOCK IN SHARE MODE */ WHERE b = 'LOCK IN SHARE MODE' lock  in share mode";
        let rewritten = for_parser(sql);
        assert_eq!(rewritten.len(), sql.len());
        let padded = format!("{:<19}", "FOR SHARE");
        assert!(rewritten.ends_with(&padded), "{rewritten}");
        assert!(rewritten.contains("/* LOCK IN SHARE MODE */"));
        assert!(rewritten.contains("'LOCK IN SHARE MODE'"));
        assert!(parse(sql).is_ok());
        assert_eq!(for_parser("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn parse_keeps_escapes_and_reports_errors() {
        let stmts = parse(r"SELECT 'a\\b', 'c\0d' FROM t").unwrap();
        assert_eq!(stmts[0].to_string(), r"SELECT 'a\\b', 'c\0d' FROM t");
        let err = parse("SELECT FROM WHERE").unwrap_err();
        assert!(err.message.contains("Expected"), "{err}");
        assert!(parse("SET @a := 1").is_err());
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn tables_in_queries() {
        let cases: Vec<(&str, Vec<_>)> = vec![
            (
                "SELECT * FROM t WHERE id = 1",
                vec![t(None, "t", None, "t")],
            ),
            (
                "SELECT * FROM db.t1 AS a JOIN `t2` b ON a.id = b.id",
                vec![
                    t(Some("db"), "t1", Some("a"), "db.t1"),
                    t(None, "t2", Some("b"), "`t2`"),
                ],
            ),
            (
                "SELECT * FROM `my db`.`we``ird` x",
                vec![t(Some("my db"), "we`ird", Some("x"), "`my db`.`we``ird`")],
            ),
            (
                "SELECT (SELECT max(v) FROM s) FROM t WHERE id IN (SELECT id FROM u)",
                vec![
                    t(None, "s", None, "s"),
                    t(None, "t", None, "t"),
                    t(None, "u", None, "u"),
                ],
            ),
            (
                "SELECT * FROM (SELECT * FROM inner_t) AS d",
                vec![t(None, "inner_t", None, "inner_t")],
            ),
            (
                "WITH c AS (SELECT * FROM base) SELECT * FROM c JOIN other.c ON 1",
                vec![
                    t(None, "base", None, "base"),
                    t(Some("other"), "c", None, "other.c"),
                ],
            ),
            (
                "SELECT /*!40001 SQL_NO_CACHE */ * FROM a, `b` /* c */ WHERE 1",
                vec![t(None, "a", None, "a"), t(None, "b", None, "`b`")],
            ),
            (
                "SELECT 1 FROM a UNION SELECT 2 FROM b",
                vec![t(None, "a", None, "a"), t(None, "b", None, "b")],
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(refs(sql), want, "{sql}");
        }
    }

    #[test]
    fn tables_in_dml_and_ddl() {
        let cases: Vec<(&str, Vec<_>)> = vec![
            (
                "INSERT INTO db.t (a) VALUES (1)",
                vec![t(Some("db"), "t", None, "db.t")],
            ),
            (
                "INSERT INTO t SELECT * FROM s",
                vec![t(None, "t", None, "t"), t(None, "s", None, "s")],
            ),
            ("REPLACE INTO t VALUES (1)", vec![t(None, "t", None, "t")]),
            (
                "UPDATE t SET a = 1 WHERE id = 2",
                vec![t(None, "t", None, "t")],
            ),
            (
                "UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.a",
                vec![t(None, "t1", None, "t1"), t(None, "t2", None, "t2")],
            ),
            ("DELETE FROM t WHERE id = 1", vec![t(None, "t", None, "t")]),
            (
                "DELETE a, t3 FROM t1 AS a JOIN t3 ON a.id = t3.id",
                vec![
                    t(None, "t1", Some("a"), "t1"),
                    t(None, "t3", None, "t3"),
                    t(None, "t3", None, "t3"),
                ],
            ),
            ("CREATE TABLE t (id INT)", vec![t(None, "t", None, "t")]),
            (
                "ALTER TABLE db.t ADD COLUMN c INT",
                vec![t(Some("db"), "t", None, "db.t")],
            ),
            (
                "DROP TABLE IF EXISTS a, b",
                vec![t(None, "a", None, "a"), t(None, "b", None, "b")],
            ),
            ("TRUNCATE TABLE t", vec![t(None, "t", None, "t")]),
            (
                "RENAME TABLE a TO b",
                vec![t(None, "a", None, "a"), t(None, "b", None, "b")],
            ),
            ("CREATE INDEX i ON t (c)", vec![t(None, "t", None, "t")]),
            (
                "DROP INDEX i ON db.t",
                vec![t(Some("db"), "t", None, "db.t")],
            ),
            ("DROP DATABASE d", vec![]),
            (
                "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)",
                vec![t(None, "t", None, "t")],
            ),
            ("SHOW CREATE TABLE t", vec![t(None, "t", None, "t")]),
            ("SHOW COLUMNS FROM t", vec![t(None, "t", None, "t")]),
            ("SHOW TABLES FROM db", vec![]),
            ("DESCRIBE t", vec![t(None, "t", None, "t")]),
            (
                "LOCK TABLES t READ, u AS x WRITE",
                vec![t(None, "t", None, "t"), t(None, "u", Some("x"), "u")],
            ),
        ];
        for (sql, want) in cases {
            assert_eq!(refs(sql), want, "{sql}");
        }
    }

    #[test]
    fn spans_are_bytes_in_multiline_unicode_text() {
        let sql = "SELECT 'héllo wörld', `ü`\n  FROM `täble` AS ä\r\n\tJOIN\n sch.`t😀` ON 1 -- ñ\nWHERE x = 'ß'";
        let stmts = parse(sql).unwrap();
        let got: Vec<_> = table_references(sql, &stmts[0])
            .into_iter()
            .map(|r| {
                (
                    sql[r.span].to_owned(),
                    sql[r.name_span].to_owned(),
                    r.name,
                    r.alias,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "`täble`".to_owned(),
                    "`täble`".to_owned(),
                    "täble".to_owned(),
                    Some("ä".to_owned())
                ),
                (
                    "sch.`t😀`".to_owned(),
                    "`t😀`".to_owned(),
                    "t😀".to_owned(),
                    None
                ),
            ]
        );
    }

    #[test]
    fn line_index_handles_edges() {
        let idx = LineIndex::new("ab\nüc");
        let at = |line, column| idx.offset(Location { line, column });
        assert_eq!(at(1, 1), Some(0));
        assert_eq!(at(2, 1), Some(3));
        assert_eq!(at(2, 2), Some(5));
        assert_eq!(at(2, 3), Some(6));
        assert_eq!(at(2, 4), None);
        assert_eq!(at(0, 0), None);
        assert_eq!(at(9, 1), None);
    }
}
