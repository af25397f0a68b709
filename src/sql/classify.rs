//! Statement classification from tokens alone (no sqlparser), for every
//! statement, including the ones sqlparser rejects.
//!
//! Owns: [`classify`] (what kind of statement, which routing-relevant
//! facts, which `/* shardcat:… */` hint), [`split_statements`] (top-level
//! `;` splitting that knows strings, comments and stored-program bodies),
//! [`fingerprint`] (a plan-cache key with literals lifted out) and
//! [`set_assignments`] (what a `SET` statement assigns).
//!
//! Must not touch: routing decisions (a flag says "calls GET_LOCK", never
//! "pin the session"), session state, the network. Nothing here allocates
//! per token beyond one token vector, and nothing panics on any input.
//!
//! Conventions shared by all functions here:
//! - The text is scanned with the default `sql_mode` unless a `*_with`
//!   variant is given [`LexOptions`].
//! - Executable comments (`/*!40101 … */`) are always treated as SQL,
//!   whatever their version number, as a MySQL server of at least that
//!   version would.
//! - Byte offsets and ranges index the original text.

use std::ops::Range;

use super::lexer::{unquote, LexOptions, Lexer, Token, TokenKind};

/// The classification of a query text. For a multi-statement text, `kind`
/// and `hint` describe the first statement and `flags` are the union over
/// all statements; `flags.multi_statement` tells the caller to split with
/// [`split_statements`] and classify the pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// What the (first) statement is.
    pub kind: StatementKind,
    /// A routing hint from a `/* shardcat:… */` comment before the first
    /// keyword.
    pub hint: Option<RouteHint>,
    /// Routing-relevant facts found anywhere in the text.
    pub flags: StatementFlags,
}

/// A routing hint written by the client as a comment before the first
/// keyword: `/* shardcat:primary */`, `/* shardcat:replica */`,
/// `/* shardcat:node=n1 */`. Case-insensitive and whitespace tolerant
/// (`/*SHARDCAT : node = n1*/`); only `/* */` comments are read, so the
/// text stays valid for a MySQL server. The first valid hint wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteHint {
    /// Run on the primary.
    Primary,
    /// Run on a replica.
    Replica,
    /// Run on the named node (name as written).
    Node(String),
}

/// The kind of a statement, decided from its leading keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`, `WITH … SELECT`, `(SELECT …) UNION …`, `TABLE t`,
    /// `VALUES ROW(…)`.
    Select,
    /// `INSERT` (including `INSERT … SELECT`).
    Insert,
    /// `REPLACE`.
    Replace,
    /// `UPDATE` (including `WITH … UPDATE`).
    Update,
    /// `DELETE` (including `WITH … DELETE`).
    Delete,
    /// `LOAD DATA` / `LOAD XML`.
    LoadData,
    /// `CREATE`/`ALTER`/`DROP`/`TRUNCATE`/`RENAME`, except temporary
    /// tables (see [`StatementFlags::temporary_table`], whose statements are
    /// [`StatementKind::Other`]) and `DROP PREPARE`.
    Ddl,
    /// `BEGIN [WORK]`, `START TRANSACTION [characteristics]`.
    Begin {
        /// `READ ONLY` was given.
        read_only: bool,
        /// `READ WRITE` was given explicitly.
        read_write: bool,
    },
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`).
    Rollback,
    /// `SAVEPOINT x`, `ROLLBACK [WORK] TO [SAVEPOINT] x`,
    /// `RELEASE SAVEPOINT x`.
    Savepoint,
    /// `SET …`.
    Set(SetKind),
    /// `USE db`.
    Use {
        /// The database name, unquoted.
        database: String,
    },
    /// `SHOW …`.
    Show(ShowKind),
    /// `DESCRIBE t`, `DESC t`, `EXPLAIN t` (table description).
    Describe,
    /// `EXPLAIN <statement>`, `DESCRIBE <statement>`.
    Explain,
    /// `EXPLAIN SHARDCAT <statement>`: explain our own routing.
    ExplainShardcat {
        /// Byte offset of the inner statement (after the whitespace that
        /// follows `SHARDCAT`; comments before it are kept).
        inner_offset: usize,
    },
    /// `SHOW SHARDCAT …`: an admin command.
    ShowShardcat {
        /// Byte offset of what follows `SHARDCAT` (after whitespace).
        rest_offset: usize,
    },
    /// `LOCK TABLE[S] …`.
    LockTables,
    /// `UNLOCK TABLE[S]`.
    UnlockTables,
    /// `PREPARE s FROM …`.
    SqlPrepare,
    /// `EXECUTE s [USING …]`.
    SqlExecute,
    /// `DEALLOCATE PREPARE s`, `DROP PREPARE s`.
    SqlDeallocate,
    /// `CALL p(…)`.
    Call,
    /// `KILL [CONNECTION | QUERY] id`.
    Kill {
        /// `KILL QUERY`: only the running statement is killed.
        query_only: bool,
        /// The id, when it is a plain integer literal.
        id: Option<u64>,
    },
    /// `XA …`.
    Xa,
    /// `DO …`.
    Do,
    /// `HANDLER …`.
    Handler,
    /// `FLUSH …`.
    Flush,
    /// `ANALYZE …`.
    Analyze,
    /// `OPTIMIZE …`.
    Optimize,
    /// `CHECK TABLE …`.
    Check,
    /// `CHECKSUM TABLE …`.
    Checksum,
    /// `REPAIR …`.
    Repair,
    /// `GRANT …`.
    Grant,
    /// `REVOKE …`.
    Revoke,
    /// Anything else (including `GET DIAGNOSTICS`, `BEGIN NOT ATOMIC`,
    /// temporary-table DDL, and text that is not SQL at all).
    Other,
    /// Only comments, whitespace and `;`.
    Empty,
}

/// What a `SET` statement sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// Only session system variables, `NAMES` and `CHARACTER SET`
    /// (`SET a=1, @@session.b=2, NAMES x`).
    SystemOnly,
    /// `SET [SESSION | GLOBAL] TRANSACTION …`.
    Transaction,
    /// At least one user variable and no global variable.
    UserVariables,
    /// At least one global (or persisted) system variable.
    Global,
    /// `SET PASSWORD …`.
    Password,
    /// `SET ROLE`, `SET DEFAULT ROLE`, `SET RESOURCE GROUP`,
    /// `SET STATEMENT … FOR` and anything unrecognised.
    Other,
}

/// What a `SHOW` statement shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowKind {
    /// `SHOW WARNINGS`.
    Warnings,
    /// `SHOW ERRORS`.
    Errors,
    /// `SHOW COUNT(*) WARNINGS`.
    CountWarnings,
    /// `SHOW COUNT(*) ERRORS`.
    CountErrors,
    /// `SHOW [FULL] TABLES`.
    Tables,
    /// `SHOW DATABASES` / `SHOW SCHEMAS`.
    Databases,
    /// `SHOW CREATE TABLE`.
    CreateTable,
    /// `SHOW [FULL | EXTENDED] COLUMNS | FIELDS`.
    Columns,
    /// `SHOW [GLOBAL | SESSION] VARIABLES`.
    Variables,
    /// `SHOW [GLOBAL | SESSION] STATUS`.
    Status,
    /// Any other `SHOW`.
    Other,
}

/// Routing-relevant facts about a statement, found lexically (outside
/// strings and comments, at any nesting depth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatementFlags {
    /// `FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`. Found at any
    /// nesting depth: MySQL 8 locks the rows a subquery reads when the
    /// subquery has its own locking clause.
    pub locking_read: bool,
    /// `SELECT … INTO @v`, `INTO OUTFILE`, `INTO DUMPFILE`.
    pub select_into: bool,
    /// `@x := …`, `SET @x = …`, `INTO @x`.
    pub assigns_user_variable: bool,
    /// `GET_LOCK(`.
    pub named_lock: bool,
    /// `RELEASE_LOCK(` or `RELEASE_ALL_LOCKS(`.
    pub releases_named_lock: bool,
    /// A function with session or data side effects: `GET_LOCK`,
    /// `RELEASE_LOCK`, `RELEASE_ALL_LOCKS`, `NEXTVAL`, `SETVAL`,
    /// `NEXT VALUE FOR`, `LAST_INSERT_ID(expr)`.
    pub side_effect_function: bool,
    /// `LAST_INSERT_ID(…)`, with or without argument.
    pub uses_last_insert_id: bool,
    /// `FOUND_ROWS()`.
    pub uses_found_rows: bool,
    /// `ROW_COUNT()`.
    pub uses_row_count: bool,
    /// `SQL_CALC_FOUND_ROWS`.
    pub calc_found_rows: bool,
    /// `SHOW WARNINGS`/`ERRORS`, `SHOW COUNT(*) WARNINGS`/`ERRORS`,
    /// `@@warning_count`, `@@error_count`, `GET DIAGNOSTICS`.
    pub reads_diagnostics: bool,
    /// `CREATE TEMPORARY TABLE`, `DROP TEMPORARY TABLE`.
    pub temporary_table: bool,
    /// More than one non-empty statement separated by top-level `;`.
    pub multi_statement: bool,
}

impl StatementFlags {
    fn merge(&mut self, other: StatementFlags) {
        self.locking_read |= other.locking_read;
        self.select_into |= other.select_into;
        self.assigns_user_variable |= other.assigns_user_variable;
        self.named_lock |= other.named_lock;
        self.releases_named_lock |= other.releases_named_lock;
        self.side_effect_function |= other.side_effect_function;
        self.uses_last_insert_id |= other.uses_last_insert_id;
        self.uses_found_rows |= other.uses_found_rows;
        self.uses_row_count |= other.uses_row_count;
        self.calc_found_rows |= other.calc_found_rows;
        self.reads_diagnostics |= other.reads_diagnostics;
        self.temporary_table |= other.temporary_table;
        self.multi_statement |= other.multi_statement;
    }
}

// ---------------------------------------------------------------------------
// classify

/// Classifies a query text with the default `sql_mode`.
///
/// Cost: one pass of the scanner plus one pass over the significant
/// tokens; about a microsecond for a point select in a release build.
pub fn classify(sql: &str) -> Classified {
    classify_bytes(sql.as_bytes(), LexOptions::default())
}

/// Classifies a query text given as raw bytes (a COM_QUERY payload need
/// not be UTF-8), scanned with the session's `sql_mode` options.
pub fn classify_bytes(sql: &[u8], opts: LexOptions) -> Classified {
    let mut tokens: Vec<Token> = Vec::with_capacity(32);
    let mut hint = None;
    let mut splitter = Splitter::default();
    let mut first: Option<(StatementKind, StatementFlags)> = None;
    let mut flags = StatementFlags::default();
    let mut statements = 0usize;
    let mut stmt_start = 0usize;

    let mut finish = |tokens: &[Token], first: &mut Option<_>, flags: &mut StatementFlags| {
        if tokens.is_empty() {
            return;
        }
        let (kind, stmt_flags) = classify_statement(sql, tokens);
        flags.merge(stmt_flags);
        statements += 1;
        if first.is_none() {
            *first = Some((kind, stmt_flags));
        }
    };

    for token in Lexer::with_options(sql, opts) {
        if token.is_trivia() {
            if hint.is_none() && tokens.is_empty() && token.kind == TokenKind::Comment {
                hint = parse_route_hint(token.bytes(sql));
            }
            continue;
        }
        if splitter.is_terminator(&token, sql) {
            finish(&tokens[stmt_start..], &mut first, &mut flags);
            stmt_start = tokens.len();
            continue;
        }
        tokens.push(token);
    }
    finish(&tokens[stmt_start..], &mut first, &mut flags);

    flags.multi_statement = statements > 1;
    let kind = first.map_or(StatementKind::Empty, |(kind, _)| kind);
    Classified { kind, hint, flags }
}

/// Reads `/* shardcat:primary */`, `/* shardcat:replica */`,
/// `/* shardcat:node=n1 */` from the full text of a `/* */` comment.
fn parse_route_hint(comment: &[u8]) -> Option<RouteHint> {
    let body = comment.strip_prefix(b"/*")?.strip_suffix(b"*/")?;
    let body = strip_prefix_ignore_case(body.trim_ascii(), b"shardcat")?;
    let body = body.trim_ascii_start().strip_prefix(b":")?.trim_ascii();
    if body.eq_ignore_ascii_case(b"primary") {
        return Some(RouteHint::Primary);
    }
    if body.eq_ignore_ascii_case(b"replica") {
        return Some(RouteHint::Replica);
    }
    let name = strip_prefix_ignore_case(body, b"node")?;
    let name = name.trim_ascii_start().strip_prefix(b"=")?.trim_ascii();
    let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    if name.is_empty() || !name.iter().all(valid) {
        return None;
    }
    Some(RouteHint::Node(String::from_utf8_lossy(name).into_owned()))
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// Significant tokens of one statement (no trivia, no terminating `;`).
#[derive(Clone, Copy)]
struct Stmt<'a> {
    src: &'a [u8],
    toks: &'a [Token],
}

impl<'a> Stmt<'a> {
    fn kw(&self, i: usize, keyword: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.is_keyword(self.src, keyword))
    }

    fn punct(&self, i: usize, punct: &str) -> bool {
        self.toks
            .get(i)
            .is_some_and(|t| t.is_punct(self.src, punct))
    }

    fn kind(&self, i: usize) -> Option<TokenKind> {
        self.toks.get(i).map(|t| t.kind)
    }

    fn bytes(&self, i: usize) -> &'a [u8] {
        self.toks.get(i).map_or(&[], |t| t.bytes(self.src))
    }

    /// The upper-cased word at `i`, if it is a word short enough to be a
    /// keyword we know.
    fn upper<'b>(&self, i: usize, buf: &'b mut [u8; 24]) -> &'b [u8] {
        if self.kind(i) != Some(TokenKind::Word) {
            return &[];
        }
        upper_into(self.bytes(i), buf)
    }

    /// A builtin function call: the word at `i` followed by `(`, and not
    /// qualified (`db.f(` is a stored function).
    fn is_call(&self, i: usize) -> bool {
        self.punct(i + 1, "(") && !(i > 0 && self.punct(i - 1, "."))
    }

    /// Offset just after token `i`, skipping the whitespace after it.
    fn offset_after(&self, i: usize) -> usize {
        let mut at = self.toks.get(i).map_or(0, |t| t.end);
        while self.src.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
            at += 1;
        }
        at
    }
}

fn upper_into<'b>(word: &[u8], buf: &'b mut [u8; 24]) -> &'b [u8] {
    let Some(dst) = buf.get_mut(..word.len()) else {
        return &[];
    };
    for (d, s) in dst.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    dst
}

fn classify_statement(src: &[u8], toks: &[Token]) -> (StatementKind, StatementFlags) {
    let s = Stmt { src, toks };
    let mut flags = scan_flags(s);
    let kind = statement_kind(s, &mut flags);
    (kind, flags)
}

/// One pass over the tokens for the flags that can appear anywhere.
fn scan_flags(s: Stmt<'_>) -> StatementFlags {
    let mut f = StatementFlags::default();
    for (i, tok) in s.toks.iter().enumerate() {
        match tok.kind {
            TokenKind::Word => {
                let mut buf = [0u8; 24];
                match s.upper(i, &mut buf) {
                    b"FOR" if s.kw(i + 1, "UPDATE") || s.kw(i + 1, "SHARE") => {
                        f.locking_read = true;
                    }
                    b"LOCK" if s.kw(i + 1, "IN") && s.kw(i + 2, "SHARE") && s.kw(i + 3, "MODE") => {
                        f.locking_read = true;
                    }
                    b"INTO" => match s.kind(i + 1) {
                        Some(TokenKind::UserVar) => {
                            f.select_into = true;
                            f.assigns_user_variable = true;
                        }
                        _ if s.kw(i + 1, "OUTFILE") || s.kw(i + 1, "DUMPFILE") => {
                            f.select_into = true;
                        }
                        _ => {}
                    },
                    b"GET_LOCK" if s.is_call(i) => {
                        f.named_lock = true;
                        f.side_effect_function = true;
                    }
                    b"RELEASE_LOCK" | b"RELEASE_ALL_LOCKS" if s.is_call(i) => {
                        f.releases_named_lock = true;
                        f.side_effect_function = true;
                    }
                    b"NEXTVAL" | b"SETVAL" if s.is_call(i) => f.side_effect_function = true,
                    b"NEXT" if s.kw(i + 1, "VALUE") && s.kw(i + 2, "FOR") => {
                        f.side_effect_function = true;
                    }
                    b"LAST_INSERT_ID" if s.is_call(i) => {
                        f.uses_last_insert_id = true;
                        if !s.punct(i + 2, ")") {
                            f.side_effect_function = true;
                        }
                    }
                    b"FOUND_ROWS" if s.is_call(i) => f.uses_found_rows = true,
                    b"ROW_COUNT" if s.is_call(i) => f.uses_row_count = true,
                    b"SQL_CALC_FOUND_ROWS" => f.calc_found_rows = true,
                    _ => {}
                }
            }
            TokenKind::UserVar if s.punct(i + 1, ":=") => f.assigns_user_variable = true,
            TokenKind::SystemVar => {
                // The last name part, without allocating: `@@warning_count`,
                // `@@session.error_count`, `` @@`warning_count` ``.
                let text = tok.bytes(s.src);
                let last = text
                    .rsplit(|&b| b == b'.' || b == b'@')
                    .next()
                    .unwrap_or_default();
                let last = last.strip_prefix(b"`").unwrap_or(last);
                let last = last.strip_suffix(b"`").unwrap_or(last);
                if last.eq_ignore_ascii_case(b"warning_count")
                    || last.eq_ignore_ascii_case(b"error_count")
                {
                    f.reads_diagnostics = true;
                }
            }
            _ => {}
        }
    }
    f
}

/// The kind, from the leading keywords; sets the flags that depend on the
/// statement's shape (temporary tables, diagnostics, `SET @x`).
fn statement_kind(s: Stmt<'_>, flags: &mut StatementFlags) -> StatementKind {
    use StatementKind as K;
    let mut buf = [0u8; 24];
    match s.upper(0, &mut buf) {
        b"SELECT" | b"TABLE" | b"VALUES" => K::Select,
        b"WITH" => with_statement_kind(s, 1),
        b"INSERT" => K::Insert,
        b"REPLACE" => K::Replace,
        b"UPDATE" => K::Update,
        b"DELETE" => K::Delete,
        b"LOAD" if s.kw(1, "DATA") || s.kw(1, "XML") => K::LoadData,
        b"CREATE" | b"DROP"
            if s.kw(1, "TEMPORARY")
                || s.kw(1, "OR") && s.kw(2, "REPLACE") && s.kw(3, "TEMPORARY") =>
        {
            flags.temporary_table = true;
            K::Other
        }
        b"DROP" if s.kw(1, "PREPARE") => K::SqlDeallocate,
        b"CREATE" | b"ALTER" | b"DROP" | b"TRUNCATE" | b"RENAME" => K::Ddl,
        b"BEGIN" if s.kw(1, "NOT") => K::Other,
        b"BEGIN" => K::Begin {
            read_only: false,
            read_write: false,
        },
        b"START" if s.kw(1, "TRANSACTION") => start_transaction(s),
        b"COMMIT" => K::Commit,
        b"ROLLBACK" => {
            let to = if s.kw(1, "WORK") { 2 } else { 1 };
            if s.kw(to, "TO") {
                K::Savepoint
            } else {
                K::Rollback
            }
        }
        b"SAVEPOINT" => K::Savepoint,
        b"RELEASE" if s.kw(1, "SAVEPOINT") => K::Savepoint,
        b"SET" => {
            let kind = set_kind(s, flags);
            K::Set(kind)
        }
        b"USE" => match s.kind(1) {
            Some(TokenKind::Word | TokenKind::QuotedIdent) => K::Use {
                database: unquote(s.bytes(1)).into_owned(),
            },
            _ => K::Other,
        },
        b"SHOW" => show_kind(s, flags),
        b"EXPLAIN" | b"DESCRIBE" | b"DESC" => explain_kind(s),
        b"LOCK" if s.kw(1, "TABLES") || s.kw(1, "TABLE") => K::LockTables,
        b"UNLOCK" if s.kw(1, "TABLES") || s.kw(1, "TABLE") => K::UnlockTables,
        b"PREPARE" => K::SqlPrepare,
        b"EXECUTE" => K::SqlExecute,
        b"DEALLOCATE" => K::SqlDeallocate,
        b"CALL" => K::Call,
        b"KILL" => kill(s),
        b"XA" => K::Xa,
        b"DO" => K::Do,
        b"HANDLER" => K::Handler,
        b"FLUSH" => K::Flush,
        b"ANALYZE" => K::Analyze,
        b"OPTIMIZE" => K::Optimize,
        b"CHECK" => K::Check,
        b"CHECKSUM" => K::Checksum,
        b"REPAIR" => K::Repair,
        b"GRANT" => K::Grant,
        b"REVOKE" => K::Revoke,
        b"GET" => {
            let at = if s.kw(1, "CURRENT") || s.kw(1, "STACKED") {
                2
            } else {
                1
            };
            if s.kw(at, "DIAGNOSTICS") {
                flags.reads_diagnostics = true;
            }
            K::Other
        }
        _ if s.punct(0, "(") => parenthesized_kind(s),
        _ => K::Other,
    }
}

/// `WITH … <main statement>`: the first of SELECT/INSERT/REPLACE/UPDATE/
/// DELETE outside parentheses; a parenthesized main query is a SELECT.
fn with_statement_kind(s: Stmt<'_>, from: usize) -> StatementKind {
    let mut depth = 0usize;
    for i in from..s.toks.len() {
        if s.punct(i, "(") {
            depth += 1;
        } else if s.punct(i, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            let mut buf = [0u8; 24];
            match s.upper(i, &mut buf) {
                b"SELECT" | b"TABLE" | b"VALUES" => return StatementKind::Select,
                b"INSERT" => return StatementKind::Insert,
                b"REPLACE" => return StatementKind::Replace,
                b"UPDATE" => return StatementKind::Update,
                b"DELETE" => return StatementKind::Delete,
                _ => {}
            }
        }
    }
    StatementKind::Select
}

/// `(SELECT …) UNION (…)`, `((WITH …))`.
fn parenthesized_kind(s: Stmt<'_>) -> StatementKind {
    let first = (0..s.toks.len())
        .find(|&i| !s.punct(i, "("))
        .unwrap_or(s.toks.len());
    let mut buf = [0u8; 24];
    match s.upper(first, &mut buf) {
        b"SELECT" | b"TABLE" | b"VALUES" => StatementKind::Select,
        b"WITH" => with_statement_kind(s, first + 1),
        _ => StatementKind::Other,
    }
}

/// `START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT
/// [, …]]`.
fn start_transaction(s: Stmt<'_>) -> StatementKind {
    let (mut read_only, mut read_write) = (false, false);
    for i in 2..s.toks.len() {
        if s.kw(i, "READ") {
            read_only |= s.kw(i + 1, "ONLY");
            read_write |= s.kw(i + 1, "WRITE");
        }
    }
    StatementKind::Begin {
        read_only,
        read_write,
    }
}

/// `KILL [HARD | SOFT] [CONNECTION | QUERY [ID]] id`.
fn kill(s: Stmt<'_>) -> StatementKind {
    let mut i = 1;
    if s.kw(i, "HARD") || s.kw(i, "SOFT") {
        i += 1;
    }
    let mut query_only = false;
    if s.kw(i, "CONNECTION") {
        i += 1;
    } else if s.kw(i, "QUERY") {
        query_only = true;
        i += 1;
        if s.kw(i, "ID") {
            i += 1;
        }
    }
    let id = match s.kind(i) {
        Some(TokenKind::Number) => std::str::from_utf8(s.bytes(i))
            .ok()
            .and_then(|t| t.parse::<u64>().ok()),
        _ => None,
    };
    StatementKind::Kill { query_only, id }
}

fn show_kind(s: Stmt<'_>, flags: &mut StatementFlags) -> StatementKind {
    use ShowKind as S;
    if s.kw(1, "SHARDCAT") {
        return StatementKind::ShowShardcat {
            rest_offset: s.offset_after(1),
        };
    }
    let mut i = 1;
    while s.kw(i, "FULL")
        || s.kw(i, "EXTENDED")
        || s.kw(i, "GLOBAL")
        || s.kw(i, "SESSION")
        || s.kw(i, "LOCAL")
    {
        i += 1;
    }
    let mut buf = [0u8; 24];
    let kind = match s.upper(i, &mut buf) {
        b"WARNINGS" => S::Warnings,
        b"ERRORS" => S::Errors,
        b"COUNT" if s.punct(i + 1, "(") && s.punct(i + 2, "*") && s.punct(i + 3, ")") => {
            if s.kw(i + 4, "WARNINGS") {
                S::CountWarnings
            } else if s.kw(i + 4, "ERRORS") {
                S::CountErrors
            } else {
                S::Other
            }
        }
        b"TABLES" => S::Tables,
        b"DATABASES" | b"SCHEMAS" => S::Databases,
        b"CREATE" if s.kw(i + 1, "TABLE") => S::CreateTable,
        b"COLUMNS" | b"FIELDS" => S::Columns,
        b"VARIABLES" => S::Variables,
        b"STATUS" => S::Status,
        _ => S::Other,
    };
    if matches!(
        kind,
        S::Warnings | S::Errors | S::CountWarnings | S::CountErrors
    ) {
        flags.reads_diagnostics = true;
    }
    StatementKind::Show(kind)
}

/// `EXPLAIN`/`DESCRIBE`/`DESC` are synonyms: followed by a table name they
/// describe it, followed by a statement (or an option) they explain it.
fn explain_kind(s: Stmt<'_>) -> StatementKind {
    if s.kw(0, "EXPLAIN") && s.kw(1, "SHARDCAT") {
        return StatementKind::ExplainShardcat {
            inner_offset: s.offset_after(1),
        };
    }
    if s.punct(1, "(") || s.toks.len() < 2 {
        return StatementKind::Explain;
    }
    let mut buf = [0u8; 24];
    match s.upper(1, &mut buf) {
        b"SELECT" | b"INSERT" | b"UPDATE" | b"DELETE" | b"REPLACE" | b"TABLE" | b"WITH"
        | b"VALUES" | b"FORMAT" | b"ANALYZE" | b"EXTENDED" | b"PARTITIONS" | b"FOR" => {
            StatementKind::Explain
        }
        _ => StatementKind::Describe,
    }
}

// ---------------------------------------------------------------------------
// SET

/// One assignment of a `SET` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAssignment {
    /// What is assigned.
    pub scope: SetScope,
    /// The variable name, unquoted and lower-cased (MySQL variable names
    /// are case-insensitive), without `@`/`@@`/scope prefix. Fixed names:
    /// `names` for `SET NAMES`, `character_set` for `SET CHARACTER SET` /
    /// `SET CHARSET`, and the equivalent system variables
    /// `transaction_isolation` / `transaction_read_only` for
    /// `SET … TRANSACTION` characteristics.
    pub name: String,
    /// Byte range of the value expression as written (for `NAMES`:
    /// `utf8mb4 COLLATE x`; for transaction characteristics: the words,
    /// e.g. `READ COMMITTED` or `READ ONLY`).
    pub value_text: Range<usize>,
}

/// The scope of a [`SetAssignment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetScope {
    /// A session system variable (`x`, `SESSION x`, `LOCAL x`,
    /// `@@x`, `@@session.x`, `@@local.x`).
    Session,
    /// A global system variable (`GLOBAL x`, `PERSIST x`, `PERSIST_ONLY x`,
    /// `@@global.x`, `@@persist.x`, `@@persist_only.x`).
    Global,
    /// A user variable (`@x`).
    User,
    /// `SET NAMES`.
    Names,
    /// `SET CHARACTER SET` / `SET CHARSET`.
    CharacterSet,
    /// A `SET … TRANSACTION` characteristic.
    Transaction(TransactionScope),
}

/// Which transactions a `SET … TRANSACTION` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionScope {
    /// `SET TRANSACTION`: the next transaction only.
    Next,
    /// `SET SESSION TRANSACTION`: the rest of the session.
    Session,
    /// `SET GLOBAL TRANSACTION`: new sessions.
    Global,
}

/// The assignments of the first statement of `sql` if it is a `SET` of
/// variables, `NAMES`, `CHARACTER SET` or transaction characteristics.
/// Empty for any other statement, for `SET PASSWORD`/`ROLE`/…, and for a
/// `SET` that does not scan as a valid assignment list (a partial list
/// would mislead session tracking). A scope keyword applies to the
/// assignments after it until the next one, as in MySQL.
pub fn set_assignments(sql: &str) -> Vec<SetAssignment> {
    let src = sql.as_bytes();
    let mut splitter = Splitter::default();
    let toks: Vec<Token> = Lexer::new(src)
        .filter(|t| !t.is_trivia())
        .take_while(|t| !splitter.is_terminator(t, src))
        .collect();
    let s = Stmt { src, toks: &toks };
    if !s.kw(0, "SET") {
        return Vec::new();
    }
    match parse_set(s) {
        SetParse::Assignments(list) => list,
        SetParse::Password | SetParse::Other => Vec::new(),
    }
}

enum SetParse {
    Password,
    Assignments(Vec<SetAssignment>),
    Other,
}

fn set_kind(s: Stmt<'_>, flags: &mut StatementFlags) -> SetKind {
    let list = match parse_set(s) {
        SetParse::Password => return SetKind::Password,
        SetParse::Other => return SetKind::Other,
        SetParse::Assignments(list) => list,
    };
    let any = |f: fn(&SetScope) -> bool| list.iter().any(|a| f(&a.scope));
    if any(|scope| matches!(scope, SetScope::User)) {
        flags.assigns_user_variable = true;
    }
    if any(|scope| matches!(scope, SetScope::Transaction(_))) {
        SetKind::Transaction
    } else if any(|scope| matches!(scope, SetScope::Global)) {
        SetKind::Global
    } else if any(|scope| matches!(scope, SetScope::User)) {
        SetKind::UserVariables
    } else {
        SetKind::SystemOnly
    }
}

/// Parses `SET …` (token 0 is `SET`).
fn parse_set(s: Stmt<'_>) -> SetParse {
    let mut buf = [0u8; 24];
    match s.upper(1, &mut buf) {
        b"PASSWORD" => return SetParse::Password,
        b"ROLE" | b"DEFAULT" | b"RESOURCE" | b"STATEMENT" => return SetParse::Other,
        _ => {}
    }
    let mut list = Vec::new();
    let mut scope = SetScope::Session;
    let mut i = 1;
    loop {
        let mut buf = [0u8; 24];
        match s.upper(i, &mut buf) {
            b"GLOBAL" | b"PERSIST" | b"PERSIST_ONLY" => {
                scope = SetScope::Global;
                i += 1;
            }
            b"SESSION" | b"LOCAL" => {
                scope = SetScope::Session;
                i += 1;
            }
            _ => {}
        }
        if s.kw(i, "TRANSACTION") && list.is_empty() {
            let tx_scope = match (i, scope) {
                (1, _) => TransactionScope::Next,
                (_, SetScope::Global) => TransactionScope::Global,
                _ => TransactionScope::Session,
            };
            return parse_transaction_characteristics(s, i + 1, tx_scope);
        }
        let Some((target, name, next)) = assignment_target(s, i, scope) else {
            return SetParse::Other;
        };
        i = next;
        let value_start = match target {
            SetScope::Names | SetScope::CharacterSet => i,
            _ if s.punct(i, "=") || s.punct(i, ":=") => i + 1,
            _ => return SetParse::Other,
        };
        let value_end = value_end(s, value_start);
        if value_end == value_start {
            return SetParse::Other;
        }
        list.push(SetAssignment {
            scope: target,
            name,
            value_text: s.toks[value_start].start..s.toks[value_end - 1].end,
        });
        if s.punct(value_end, ",") {
            i = value_end + 1;
        } else if value_end == s.toks.len() {
            return SetParse::Assignments(list);
        } else {
            return SetParse::Other;
        }
    }
}

/// The variable at `i`: its scope, normalized name, and the index after it.
fn assignment_target(s: Stmt<'_>, i: usize, scope: SetScope) -> Option<(SetScope, String, usize)> {
    let tok = s.toks.get(i)?;
    match tok.kind {
        TokenKind::UserVar => {
            let name = tok.bytes(s.src).get(1..).unwrap_or_default();
            Some((SetScope::User, unquote(name).to_ascii_lowercase(), i + 1))
        }
        TokenKind::SystemVar => {
            let (explicit, name) = system_var_scope_and_name(tok.bytes(s.src));
            Some((explicit, name, i + 1))
        }
        TokenKind::Word if s.kw(i, "NAMES") && !s.punct(i + 1, "=") => {
            Some((SetScope::Names, "names".to_owned(), i + 1))
        }
        TokenKind::Word if s.kw(i, "CHARSET") && !s.punct(i + 1, "=") => {
            Some((SetScope::CharacterSet, "character_set".to_owned(), i + 1))
        }
        TokenKind::Word if s.kw(i, "CHARACTER") && s.kw(i + 1, "SET") => {
            Some((SetScope::CharacterSet, "character_set".to_owned(), i + 2))
        }
        TokenKind::Word | TokenKind::QuotedIdent => {
            // `x`, `` `x` ``, and structured `keycache.key_buffer_size`.
            let mut name = unquote(tok.bytes(s.src)).to_ascii_lowercase();
            let mut next = i + 1;
            while s.punct(next, ".")
                && matches!(
                    s.kind(next + 1),
                    Some(TokenKind::Word | TokenKind::QuotedIdent)
                )
            {
                name.push('.');
                name.push_str(&unquote(s.bytes(next + 1)).to_ascii_lowercase());
                next += 2;
            }
            Some((scope, name, next))
        }
        _ => None,
    }
}

/// `@@[global. | session. | local. | persist. | persist_only.]name` →
/// scope and lower-cased, unquoted name.
fn system_var_scope_and_name(text: &[u8]) -> (SetScope, String) {
    let rest = text.get(2..).unwrap_or_default();
    let (scope, name) = match rest.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let (prefix, name) = (&rest[..dot], &rest[dot + 1..]);
            let prefix = unquote(prefix).to_ascii_lowercase();
            match prefix.as_str() {
                "global" | "persist" | "persist_only" => (SetScope::Global, name),
                "session" | "local" => (SetScope::Session, name),
                _ => (SetScope::Session, rest),
            }
        }
        None => (SetScope::Session, rest),
    };
    let name = name
        .split(|&b| b == b'.')
        .map(|part| unquote(part).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".");
    (scope, name)
}

/// Index of the first top-level `,` at or after `from`, or the end.
fn value_end(s: Stmt<'_>, from: usize) -> usize {
    let mut depth = 0usize;
    for i in from..s.toks.len() {
        if s.punct(i, "(") {
            depth += 1;
        } else if s.punct(i, ")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && s.punct(i, ",") {
            return i;
        }
    }
    s.toks.len()
}

/// `ISOLATION LEVEL <level> | READ ONLY | READ WRITE [, …]` from `i`.
fn parse_transaction_characteristics(
    s: Stmt<'_>,
    mut i: usize,
    scope: TransactionScope,
) -> SetParse {
    let mut list = Vec::new();
    loop {
        let (name, from, to) = if s.kw(i, "ISOLATION") && s.kw(i + 1, "LEVEL") {
            let words = if s.kw(i + 2, "SERIALIZABLE") {
                1
            } else if s.kw(i + 2, "REPEATABLE") && s.kw(i + 3, "READ")
                || s.kw(i + 2, "READ") && (s.kw(i + 3, "COMMITTED") || s.kw(i + 3, "UNCOMMITTED"))
            {
                2
            } else {
                return SetParse::Other;
            };
            ("transaction_isolation", i + 2, i + 2 + words)
        } else if s.kw(i, "READ") && (s.kw(i + 1, "ONLY") || s.kw(i + 1, "WRITE")) {
            ("transaction_read_only", i, i + 2)
        } else {
            return SetParse::Other;
        };
        list.push(SetAssignment {
            scope: SetScope::Transaction(scope),
            name: name.to_owned(),
            value_text: s.toks[from].start..s.toks[to - 1].end,
        });
        i = to;
        if i == s.toks.len() {
            return SetParse::Assignments(list);
        }
        if !s.punct(i, ",") {
            return SetParse::Other;
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------
// split_statements

/// Splits a multi-statement text on top-level `;` (outside strings,
/// comments and stored-program `BEGIN … END` bodies), returning the byte
/// range of each non-empty statement, trimmed of surrounding whitespace
/// but keeping its comments (so a piece keeps its `/* shardcat:… */`
/// hint). Pieces made only of comments and whitespace are dropped.
///
/// A `;` inside parentheses still ends a statement, as in the MySQL
/// lexer; an executable comment containing `;` is split inside the comment.
pub fn split_statements(sql: &str) -> Vec<Range<usize>> {
    split_statements_bytes(sql.as_bytes(), LexOptions::default())
}

/// [`split_statements`] over raw bytes with explicit `sql_mode` options.
pub fn split_statements_bytes(sql: &[u8], opts: LexOptions) -> Vec<Range<usize>> {
    let mut pieces = Vec::new();
    let mut splitter = Splitter::default();
    let mut piece_start = 0usize;
    let mut has_content = false;
    let mut push = |from: usize, to: usize, has_content: bool| {
        if has_content {
            let text = sql.get(from..to).unwrap_or_default();
            let trimmed = text.trim_ascii();
            let lead = text.len() - text.trim_ascii_start().len();
            pieces.push(from + lead..from + lead + trimmed.len());
        }
    };
    for token in Lexer::with_options(sql, opts) {
        if token.is_trivia() {
            continue;
        }
        if splitter.is_terminator(&token, sql) {
            push(piece_start, token.start, has_content);
            piece_start = token.end;
            has_content = false;
        } else {
            has_content = true;
        }
    }
    push(piece_start, sql.len(), has_content);
    pieces
}

/// Decides which `;` tokens end a statement. Inside the body of a stored
/// program (`CREATE PROCEDURE/FUNCTION/TRIGGER/EVENT/PACKAGE`, MariaDB
/// `BEGIN NOT ATOMIC`), `;` ends a statement only when every `BEGIN` and
/// `CASE` has met its `END` (`END IF`/`END LOOP`/`END WHILE`/`END REPEAT`
/// close constructs that were never counted).
#[derive(Debug, Default)]
struct Splitter {
    /// Significant tokens seen in the current statement.
    seen: usize,
    mode: SplitMode,
    depth: u32,
    /// An `END` whose meaning depends on the next token.
    pending_end: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SplitMode {
    /// Nothing seen yet, or a statement without a body.
    #[default]
    Plain,
    /// After `CREATE`, before the object type.
    CreatePending,
    /// After a leading `BEGIN`: compound only if `NOT ATOMIC` follows.
    BeginPending,
    /// Inside a stored-program statement.
    Compound,
}

impl Splitter {
    /// Feeds one significant token; true if it is a statement-ending `;`.
    fn is_terminator(&mut self, tok: &Token, src: &[u8]) -> bool {
        if tok.is_punct(src, ";") {
            if self.pending_end {
                self.pending_end = false;
                self.depth = self.depth.saturating_sub(1);
            }
            if self.depth == 0 {
                *self = Splitter::default();
                return true;
            }
            return false;
        }
        self.seen += 1;
        if tok.kind != TokenKind::Word {
            if self.mode == SplitMode::BeginPending {
                self.mode = SplitMode::Plain;
            }
            self.resolve_pending_end(None);
            return false;
        }
        let mut buf = [0u8; 24];
        let word = upper_into(tok.bytes(src), &mut buf);
        match self.mode {
            _ if self.seen == 1 => {
                self.mode = match word {
                    b"CREATE" => SplitMode::CreatePending,
                    b"BEGIN" => SplitMode::BeginPending,
                    _ => SplitMode::Plain,
                };
            }
            SplitMode::Plain => {}
            SplitMode::BeginPending => {
                self.mode = if word == b"NOT" {
                    self.depth = 1;
                    SplitMode::Compound
                } else {
                    SplitMode::Plain
                };
            }
            SplitMode::CreatePending => {
                self.mode = match word {
                    b"PROCEDURE" | b"FUNCTION" | b"TRIGGER" | b"EVENT" | b"PACKAGE" => {
                        SplitMode::Compound
                    }
                    b"TABLE"
                    | b"VIEW"
                    | b"INDEX"
                    | b"DATABASE"
                    | b"SCHEMA"
                    | b"USER"
                    | b"ROLE"
                    | b"SERVER"
                    | b"TABLESPACE"
                    | b"LOGFILE"
                    | b"SEQUENCE"
                    | b"UNIQUE"
                    | b"FULLTEXT"
                    | b"SPATIAL"
                    | b"TEMPORARY"
                    | b"RESOURCE"
                    | b"UNDO"
                    | b"SPATIAL_REFERENCE_SYSTEM" => SplitMode::Plain,
                    _ if self.seen > 16 => SplitMode::Plain,
                    _ => SplitMode::CreatePending,
                };
            }
            SplitMode::Compound => {
                if self.resolve_pending_end(Some(word)) {
                    return false;
                }
                match word {
                    b"BEGIN" | b"CASE" => self.depth = self.depth.saturating_add(1),
                    b"END" => self.pending_end = true,
                    _ => {}
                }
            }
        }
        false
    }

    /// Settles a pending `END` given the next word; true if that word was
    /// consumed as part of `END IF`/`END CASE`/….
    fn resolve_pending_end(&mut self, next: Option<&[u8]>) -> bool {
        if !self.pending_end {
            return false;
        }
        self.pending_end = false;
        match next {
            Some(b"IF" | b"LOOP" | b"WHILE" | b"REPEAT") => true,
            Some(b"CASE") => {
                self.depth = self.depth.saturating_sub(1);
                true
            }
            _ => {
                self.depth = self.depth.saturating_sub(1);
                false
            }
        }
    }
}

// ---------------------------------------------------------------------------
// fingerprint

/// A plan-cache key: the statement text with every literal replaced by
/// `?`, plus the literals that were lifted out.
///
/// Normalization is deliberately shallow, so that it stays one pass over
/// the tokens:
/// - Every run of whitespace and ordinary comments between two tokens
///   becomes one space; none is added where the original had none
///   (`id=1` and `id = 1` give different keys, both stable).
/// - Keywords and identifiers are kept as written (no case folding).
/// - Optimizer hints `/*+ … */`, executable-comment delimiters and
///   `/* shardcat:… */` routing hints are kept verbatim, since they change
///   what the statement means or where it goes.
/// - `?` placeholders stay `?`; `IN (1, 2)` and `IN (1, 2, 3)` differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The normalized text.
    pub text: String,
    /// The literals in order of appearance.
    pub literals: Vec<Literal>,
}

/// A literal lifted out of a statement by [`fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// What kind of literal.
    pub kind: LiteralKind,
    /// Byte range in the original text (a string's range includes its
    /// quotes and charset introducer).
    pub span: Range<usize>,
}

impl Literal {
    /// The literal as written in `sql`.
    pub fn text<'s>(&self, sql: &'s str) -> &'s str {
        sql.get(self.span.clone()).unwrap_or_default()
    }
}

/// The kind of a [`Literal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// A quoted string, with or without introducer.
    String,
    /// An integer, decimal or float.
    Number,
    /// `0x…` or `X'…'`.
    Hex,
    /// `0b…` or `b'…'`.
    Bit,
}

/// Computes the [`Fingerprint`] of `sql` (all statements of it).
pub fn fingerprint(sql: &str) -> Fingerprint {
    let src = sql.as_bytes();
    let mut text = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut last_end: Option<usize> = None;
    for tok in Lexer::new(src) {
        let literal = match tok.kind {
            TokenKind::Comment if parse_route_hint(tok.bytes(src)).is_none() => continue,
            TokenKind::String => Some(LiteralKind::String),
            TokenKind::Number => Some(LiteralKind::Number),
            TokenKind::HexNumber => Some(LiteralKind::Hex),
            TokenKind::BitNumber => Some(LiteralKind::Bit),
            _ => None,
        };
        if last_end.is_some_and(|end| end < tok.start) {
            text.push(' ');
        }
        match literal {
            Some(kind) => {
                text.push('?');
                literals.push(Literal {
                    kind,
                    span: tok.span(),
                });
            }
            None => text.push_str(tok.text(sql)),
        }
        last_end = Some(tok.end);
    }
    Fingerprint { text, literals }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind as K;

    fn kind(sql: &str) -> StatementKind {
        classify(sql).kind
    }

    fn flags(names: &[&str]) -> StatementFlags {
        let mut f = StatementFlags::default();
        for name in names {
            match *name {
                "locking_read" => f.locking_read = true,
                "select_into" => f.select_into = true,
                "assigns_user_variable" => f.assigns_user_variable = true,
                "named_lock" => f.named_lock = true,
                "releases_named_lock" => f.releases_named_lock = true,
                "side_effect_function" => f.side_effect_function = true,
                "uses_last_insert_id" => f.uses_last_insert_id = true,
                "uses_found_rows" => f.uses_found_rows = true,
                "uses_row_count" => f.uses_row_count = true,
                "calc_found_rows" => f.calc_found_rows = true,
                "reads_diagnostics" => f.reads_diagnostics = true,
                "temporary_table" => f.temporary_table = true,
                "multi_statement" => f.multi_statement = true,
                other => panic!("unknown flag {other}"),
            }
        }
        f
    }

    const BEGIN: K = K::Begin {
        read_only: false,
        read_write: false,
    };

    #[test]
    fn statement_kinds() {
        let cases: Vec<(&str, StatementKind)> = vec![
            ("SELECT 1", K::Select),
            ("select * from t where id = ?", K::Select),
            ("  \n SELECT 1 ;  ", K::Select),
            ("WITH c AS (SELECT 1) SELECT * FROM c", K::Select),
            (
                "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c",
                K::Select,
            ),
            (
                "WITH c AS (SELECT id FROM s) UPDATE t JOIN c USING (id) SET x = 1",
                K::Update,
            ),
            (
                "WITH c AS (SELECT id FROM s) DELETE FROM t WHERE id IN (SELECT id FROM c)",
                K::Delete,
            ),
            ("WITH c AS (SELECT 1) (SELECT * FROM c)", K::Select),
            ("(SELECT 1) UNION (SELECT 2)", K::Select),
            ("((SELECT 1)) ORDER BY 1", K::Select),
            ("(WITH c AS (SELECT 1) SELECT * FROM c)", K::Select),
            ("TABLE t", K::Select),
            ("VALUES ROW(1, 2)", K::Select),
            ("/*!40101 SELECT 1 */", K::Select),
            ("/*+ SET_VAR(x=1) */ SELECT 1", K::Select),
            ("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", K::Select),
            ("INSERT INTO t VALUES (1)", K::Insert),
            ("INSERT INTO t SELECT * FROM s", K::Insert),
            ("insert ignore into t set a = 1", K::Insert),
            ("REPLACE INTO t VALUES (1)", K::Replace),
            ("UPDATE t SET a = 1", K::Update),
            ("DELETE FROM t", K::Delete),
            ("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t", K::LoadData),
            ("LOAD XML INFILE 'x' INTO TABLE t", K::LoadData),
            ("LOAD INDEX INTO CACHE t", K::Other),
            (
                "CREATE TABLE t (id INT) PARTITION BY HASH (id) PARTITIONS 4",
                K::Ddl,
            ),
            (
                "ALTER TABLE t ADD c INT, ALGORITHM=INPLACE, LOCK=NONE",
                K::Ddl,
            ),
            ("DROP TABLE t", K::Ddl),
            ("TRUNCATE TABLE t", K::Ddl),
            ("RENAME TABLE a TO b", K::Ddl),
            ("CREATE DATABASE d", K::Ddl),
            ("/*!40000 ALTER TABLE t DISABLE KEYS */", K::Ddl),
            ("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", K::Ddl),
            ("CREATE TEMPORARY TABLE tmp (id INT)", K::Other),
            ("DROP TEMPORARY TABLE IF EXISTS tmp", K::Other),
            ("BEGIN", BEGIN),
            ("begin work", BEGIN),
            ("BEGIN NOT ATOMIC SELECT 1; END", K::Other),
            ("START TRANSACTION", BEGIN),
            (
                "START TRANSACTION READ ONLY",
                K::Begin {
                    read_only: true,
                    read_write: false,
                },
            ),
            (
                "START TRANSACTION READ WRITE",
                K::Begin {
                    read_only: false,
                    read_write: true,
                },
            ),
            (
                "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
                K::Begin {
                    read_only: true,
                    read_write: false,
                },
            ),
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT", BEGIN),
            ("START SLAVE", K::Other),
            ("COMMIT", K::Commit),
            ("COMMIT WORK AND NO CHAIN", K::Commit),
            ("ROLLBACK", K::Rollback),
            ("ROLLBACK WORK", K::Rollback),
            ("ROLLBACK TO SAVEPOINT s", K::Savepoint),
            ("ROLLBACK WORK TO s", K::Savepoint),
            ("SAVEPOINT s", K::Savepoint),
            ("RELEASE SAVEPOINT s", K::Savepoint),
            ("SET autocommit=0", K::Set(SetKind::SystemOnly)),
            (
                "USE db",
                K::Use {
                    database: "db".into(),
                },
            ),
            (
                "use `my``db`;",
                K::Use {
                    database: "my`db".into(),
                },
            ),
            ("USE", K::Other),
            ("SHOW WARNINGS", K::Show(ShowKind::Warnings)),
            ("DESCRIBE t", K::Describe),
            ("DESC db.t", K::Describe),
            ("EXPLAIN t", K::Describe),
            ("EXPLAIN SELECT 1", K::Explain),
            ("EXPLAIN FORMAT=JSON SELECT 1", K::Explain),
            ("EXPLAIN ANALYZE SELECT 1", K::Explain),
            ("DESCRIBE SELECT 1", K::Explain),
            ("EXPLAIN (SELECT 1)", K::Explain),
            ("EXPLAIN FOR CONNECTION 4", K::Explain),
            ("LOCK TABLES t READ, u WRITE", K::LockTables),
            ("LOCK TABLE t WRITE", K::LockTables),
            ("LOCK INSTANCE FOR BACKUP", K::Other),
            ("UNLOCK TABLES", K::UnlockTables),
            ("PREPARE s FROM 'SELECT ?'", K::SqlPrepare),
            ("EXECUTE s USING @a", K::SqlExecute),
            ("DEALLOCATE PREPARE s", K::SqlDeallocate),
            ("DROP PREPARE s", K::SqlDeallocate),
            ("CALL p(1)", K::Call),
            (
                "KILL 42",
                K::Kill {
                    query_only: false,
                    id: Some(42),
                },
            ),
            (
                "KILL CONNECTION 7",
                K::Kill {
                    query_only: false,
                    id: Some(7),
                },
            ),
            (
                "KILL QUERY 7",
                K::Kill {
                    query_only: true,
                    id: Some(7),
                },
            ),
            (
                "KILL HARD QUERY ID 7",
                K::Kill {
                    query_only: true,
                    id: Some(7),
                },
            ),
            (
                "KILL ?",
                K::Kill {
                    query_only: false,
                    id: None,
                },
            ),
            (
                "KILL 99999999999999999999999",
                K::Kill {
                    query_only: false,
                    id: None,
                },
            ),
            ("XA START 'x'", K::Xa),
            ("XA END 'x'", K::Xa),
            ("XA PREPARE 'x'", K::Xa),
            ("XA COMMIT 'x'", K::Xa),
            ("DO 1", K::Do),
            ("DO RELEASE_LOCK('x')", K::Do),
            ("HANDLER t OPEN", K::Handler),
            ("HANDLER t READ FIRST", K::Handler),
            ("FLUSH TABLES", K::Flush),
            ("ANALYZE TABLE t", K::Analyze),
            ("OPTIMIZE TABLE t", K::Optimize),
            ("CHECK TABLE t", K::Check),
            ("CHECKSUM TABLE t", K::Checksum),
            ("REPAIR TABLE t", K::Repair),
            ("GRANT SELECT ON db.* TO 'u'@'%'", K::Grant),
            ("REVOKE SELECT ON db.* FROM 'u'@'%'", K::Revoke),
            ("HELP 'contents'", K::Other),
            ("GET DIAGNOSTICS @n = NUMBER", K::Other),
            ("not sql at all", K::Other),
            ("42", K::Other),
            ("", K::Empty),
            ("   ", K::Empty),
            ("/* only a comment */", K::Empty),
            ("-- x\n# y\n;;", K::Empty),
            ("/*!40101 */", K::Empty),
        ];
        for (sql, want) in cases {
            assert_eq!(kind(sql), want, "{sql}");
        }
    }

    #[test]
    fn explain_and_show_shardcat() {
        let sql = "EXPLAIN SHARDCAT  /* shardcat:replica */ SELECT * FROM t";
        let K::ExplainShardcat { inner_offset } = kind(sql) else {
            panic!("{:?}", kind(sql));
        };
        assert_eq!(
            &sql[inner_offset..],
            "/* shardcat:replica */ SELECT * FROM t"
        );
        assert_eq!(
            classify(&sql[inner_offset..]).hint,
            Some(RouteHint::Replica)
        );

        let sql = "show shardcat nodes like 'n%'";
        let K::ShowShardcat { rest_offset } = kind(sql) else {
            panic!("{:?}", kind(sql));
        };
        assert_eq!(&sql[rest_offset..], "nodes like 'n%'");
        assert_eq!(kind("SHOW SHARDCAT"), K::ShowShardcat { rest_offset: 13 });
        assert_eq!(
            kind("EXPLAIN SHARDCAT"),
            K::ExplainShardcat { inner_offset: 16 }
        );
    }

    #[test]
    fn show_kinds() {
        let cases = [
            ("SHOW WARNINGS LIMIT 10", ShowKind::Warnings),
            ("SHOW ERRORS", ShowKind::Errors),
            ("SHOW COUNT(*) WARNINGS", ShowKind::CountWarnings),
            ("show count ( * ) errors", ShowKind::CountErrors),
            ("SHOW TABLES", ShowKind::Tables),
            ("SHOW FULL TABLES FROM db LIKE 'a%'", ShowKind::Tables),
            ("SHOW DATABASES", ShowKind::Databases),
            ("SHOW SCHEMAS", ShowKind::Databases),
            ("SHOW CREATE TABLE t", ShowKind::CreateTable),
            ("SHOW CREATE DATABASE d", ShowKind::Other),
            ("SHOW COLUMNS FROM t", ShowKind::Columns),
            ("SHOW FULL FIELDS FROM t", ShowKind::Columns),
            ("SHOW EXTENDED FULL COLUMNS IN t", ShowKind::Columns),
            ("SHOW VARIABLES LIKE 'sql_mode'", ShowKind::Variables),
            (
                "SHOW GLOBAL VARIABLES WHERE Variable_name = 'x'",
                ShowKind::Variables,
            ),
            ("SHOW SESSION STATUS", ShowKind::Status),
            ("SHOW STATUS", ShowKind::Status),
            ("SHOW TABLE STATUS", ShowKind::Other),
            ("SHOW PROCESSLIST", ShowKind::Other),
            ("SHOW COLLATION", ShowKind::Other),
            ("SHOW", ShowKind::Other),
        ];
        for (sql, want) in cases {
            assert_eq!(kind(sql), K::Show(want), "{sql}");
        }
    }

    #[test]
    fn statement_flags() {
        let cases: Vec<(&str, &[&str])> = vec![
            ("SELECT * FROM t WHERE id = 1", &[]),
            ("SELECT * FROM t WHERE id = 1 FOR UPDATE", &["locking_read"]),
            ("SELECT * FROM t FOR UPDATE SKIP LOCKED", &["locking_read"]),
            ("SELECT * FROM t FOR SHARE NOWAIT", &["locking_read"]),
            ("SELECT * FROM t LOCK IN SHARE MODE", &["locking_read"]),
            (
                "SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)",
                &["locking_read"],
            ),
            ("SELECT 'FOR UPDATE', `for` FROM t -- FOR UPDATE", &[]),
            (
                "SELECT a INTO @x FROM t",
                &["select_into", "assigns_user_variable"],
            ),
            (
                "SELECT a, b FROM t INTO @x, @y",
                &["select_into", "assigns_user_variable"],
            ),
            ("SELECT * INTO OUTFILE '/tmp/x' FROM t", &["select_into"]),
            ("SELECT * FROM t INTO DUMPFILE '/tmp/x'", &["select_into"]),
            ("INSERT INTO t VALUES (1)", &[]),
            ("SELECT @r := @r + 1 FROM t", &["assigns_user_variable"]),
            ("SELECT @r = 1", &[]),
            ("SET @a := 1", &["assigns_user_variable"]),
            ("SET @a = 1, @@session.x = 2", &["assigns_user_variable"]),
            (
                "SELECT GET_LOCK('x', 10)",
                &["named_lock", "side_effect_function"],
            ),
            (
                "SELECT get_lock ('x', 10)",
                &["named_lock", "side_effect_function"],
            ),
            (
                "SELECT RELEASE_LOCK('x')",
                &["releases_named_lock", "side_effect_function"],
            ),
            (
                "DO RELEASE_ALL_LOCKS()",
                &["releases_named_lock", "side_effect_function"],
            ),
            ("SELECT IS_FREE_LOCK('x'), IS_USED_LOCK('x')", &[]),
            ("SELECT get_lock FROM t", &[]),
            ("SELECT db.get_lock('x')", &[]),
            ("SELECT NEXTVAL(s)", &["side_effect_function"]),
            ("SELECT SETVAL(s, 10)", &["side_effect_function"]),
            ("SELECT NEXT VALUE FOR s", &["side_effect_function"]),
            ("SELECT LASTVAL(s)", &[]),
            ("SELECT LAST_INSERT_ID()", &["uses_last_insert_id"]),
            ("SELECT last_insert_id( )", &["uses_last_insert_id"]),
            (
                "UPDATE t SET id = LAST_INSERT_ID(id + 1)",
                &["uses_last_insert_id", "side_effect_function"],
            ),
            ("SELECT FOUND_ROWS()", &["uses_found_rows"]),
            ("SELECT ROW_COUNT()", &["uses_row_count"]),
            (
                "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10",
                &["calc_found_rows"],
            ),
            ("SHOW WARNINGS", &["reads_diagnostics"]),
            ("SHOW ERRORS", &["reads_diagnostics"]),
            ("SHOW COUNT(*) WARNINGS", &["reads_diagnostics"]),
            ("SELECT @@warning_count", &["reads_diagnostics"]),
            ("SELECT @@session.error_count", &["reads_diagnostics"]),
            (
                "SELECT @@`warning_count`, @@session.`x`",
                &["reads_diagnostics"],
            ),
            ("SELECT @@warning_counts, @warning_count", &[]),
            ("GET DIAGNOSTICS @n = NUMBER", &["reads_diagnostics"]),
            (
                "GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
                &["reads_diagnostics"],
            ),
            ("CREATE TEMPORARY TABLE tmp (id INT)", &["temporary_table"]),
            (
                "CREATE OR REPLACE TEMPORARY TABLE tmp (id INT)",
                &["temporary_table"],
            ),
            ("DROP TEMPORARY TABLE tmp", &["temporary_table"]),
            ("CREATE TABLE t (id INT)", &[]),
            ("SELECT 1; SELECT 2", &["multi_statement"]),
            ("SELECT 1;", &[]),
            ("SELECT 1; -- trailing\n", &[]),
            (
                "SELECT 1; SELECT LAST_INSERT_ID()",
                &["multi_statement", "uses_last_insert_id"],
            ),
            (
                "UPDATE t SET a = 1; SELECT ROW_COUNT()",
                &["multi_statement", "uses_row_count"],
            ),
            ("SELECT 'a;b', \"c;d\", `e;f` /* ; */ -- ;\n FROM t", &[]),
        ];
        for (sql, want) in cases {
            assert_eq!(classify(sql).flags, flags(want), "{sql}");
        }
    }

    #[test]
    fn route_hints() {
        let node = |n: &str| Some(RouteHint::Node(n.to_owned()));
        let cases: Vec<(&str, Option<RouteHint>)> = vec![
            ("/* shardcat:primary */ SELECT 1", Some(RouteHint::Primary)),
            ("/*shardcat:replica*/SELECT 1", Some(RouteHint::Replica)),
            (
                "/*  SHARDCAT : Primary  */ SELECT 1",
                Some(RouteHint::Primary),
            ),
            ("/* shardcat:node=n1 */ SELECT 1", node("n1")),
            (
                "/* shardcat: node = shard-01.a */ SELECT 1",
                node("shard-01.a"),
            ),
            (
                "/* other */ /* shardcat:replica */ SELECT 1",
                Some(RouteHint::Replica),
            ),
            (
                "/* shardcat:replica */ /* shardcat:primary */ SELECT 1",
                Some(RouteHint::Replica),
            ),
            (
                "/* shardcat:bogus */ /* shardcat:primary */ SELECT 1",
                Some(RouteHint::Primary),
            ),
            ("/* shardcat:primary */", Some(RouteHint::Primary)),
            ("SELECT /* shardcat:primary */ 1", None),
            ("-- shardcat:primary\nSELECT 1", None),
            ("# shardcat:primary\nSELECT 1", None),
            ("/*+ shardcat:primary */ SELECT 1", None),
            ("/* shardcat:node= */ SELECT 1", None),
            ("/* shardcat:node=a b */ SELECT 1", None),
            ("/* shardcat:primaryx */ SELECT 1", None),
            ("/* shardcatprimary */ SELECT 1", None),
            ("/* shardcat:primary SELECT 1", None),
            ("/* mysql-connector-java-8.0.33 */SELECT 1", None),
        ];
        for (sql, want) in cases {
            assert_eq!(classify(sql).hint, want, "{sql}");
        }
    }

    #[test]
    fn set_kinds() {
        let cases = [
            ("SET autocommit=0", SetKind::SystemOnly),
            ("SET @@SESSION.AUTOCOMMIT = OFF", SetKind::SystemOnly),
            (
                "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
                SetKind::SystemOnly,
            ),
            ("SET NAMES DEFAULT", SetKind::SystemOnly),
            ("SET CHARACTER SET utf8", SetKind::SystemOnly),
            ("SET CHARSET 'utf8'", SetKind::SystemOnly),
            ("SET a=1, @@session.b=2, NAMES x", SetKind::SystemOnly),
            (
                "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT'))",
                SetKind::SystemOnly,
            ),
            ("SET SQL_AUTO_IS_NULL = 0", SetKind::SystemOnly),
            ("SET character_set_results = NULL", SetKind::SystemOnly),
            ("SET LOCAL x = 1", SetKind::SystemOnly),
            ("SET SESSION TRANSACTION READ ONLY", SetKind::Transaction),
            (
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                SetKind::Transaction,
            ),
            ("SET GLOBAL TRANSACTION READ WRITE", SetKind::Transaction),
            ("SET @a := 1", SetKind::UserVariables),
            ("SET @`a b` = 1, autocommit = 1", SetKind::UserVariables),
            ("SET GLOBAL max_connections = 10", SetKind::Global),
            ("SET @@global.x = 1, @a = 2", SetKind::Global),
            ("SET PERSIST x = 1", SetKind::Global),
            ("SET @@persist_only.x = 1", SetKind::Global),
            ("SET PASSWORD = 'x'", SetKind::Password),
            ("SET PASSWORD FOR 'u'@'h' = 'x'", SetKind::Password),
            ("SET ROLE ALL", SetKind::Other),
            ("SET DEFAULT ROLE r TO u", SetKind::Other),
            ("SET RESOURCE GROUP g", SetKind::Other),
            (
                "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                SetKind::Other,
            ),
            ("SET", SetKind::Other),
            ("SET x", SetKind::Other),
            ("SET x =", SetKind::Other),
            ("SET x = 1,", SetKind::Other),
            ("SET TRANSACTION", SetKind::Other),
            ("SET TRANSACTION ISOLATION LEVEL BOGUS", SetKind::Other),
            (
                "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
                SetKind::UserVariables,
            ),
            ("/*!40101 SET NAMES utf8mb4 */", SetKind::SystemOnly),
        ];
        for (sql, want) in cases {
            assert_eq!(kind(sql), K::Set(want), "{sql}");
        }
    }

    #[test]
    fn set_assignment_lists() {
        use SetScope as S;
        use TransactionScope as T;
        type Expected<'a> = Vec<(SetScope, &'a str, &'a str)>;
        let cases: Vec<(&str, Expected)> = vec![
            ("SET autocommit=0", vec![(S::Session, "autocommit", "0")]),
            ("SET @@SESSION.AUTOCOMMIT = OFF", vec![(S::Session, "autocommit", "OFF")]),
            (
                "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
                vec![(S::Names, "names", "utf8mb4 COLLATE utf8mb4_general_ci")],
            ),
            ("SET CHARACTER SET utf8", vec![(S::CharacterSet, "character_set", "utf8")]),
            ("SET CHARSET DEFAULT", vec![(S::CharacterSet, "character_set", "DEFAULT")]),
            (
                "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT')), time_zone='+00:00', NAMES utf8mb4 COLLATE utf8mb4_bin",
                vec![
                    (S::Session, "sql_mode", "(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT'))"),
                    (S::Session, "time_zone", "'+00:00'"),
                    (S::Names, "names", "utf8mb4 COLLATE utf8mb4_bin"),
                ],
            ),
            (
                "SET @@SESSION.sql_auto_is_null = 0, @@SESSION.wait_timeout = 2147483, @@SESSION.sql_mode = CONCAT(REPLACE(@@sql_mode, 'X', ''), ',Y')",
                vec![
                    (S::Session, "sql_auto_is_null", "0"),
                    (S::Session, "wait_timeout", "2147483"),
                    (S::Session, "sql_mode", "CONCAT(REPLACE(@@sql_mode, 'X', ''), ',Y')"),
                ],
            ),
            (
                "SET GLOBAL a = 1, b = 2, SESSION c = 3, @@global.d = 4, e = 5",
                vec![
                    (S::Global, "a", "1"),
                    (S::Global, "b", "2"),
                    (S::Session, "c", "3"),
                    (S::Global, "d", "4"),
                    (S::Session, "e", "5"),
                ],
            ),
            (
                "SET @A := 1, @`Odd``Name` = 'x', @'q' = @a + 1",
                vec![
                    (S::User, "a", "1"),
                    (S::User, "odd`name", "'x'"),
                    (S::User, "q", "@a + 1"),
                ],
            ),
            ("SET `AutoCommit` = 1", vec![(S::Session, "autocommit", "1")]),
            ("SET GLOBAL keycache1.key_buffer_size = 1", vec![(S::Global, "keycache1.key_buffer_size", "1")]),
            ("SET x = CASE WHEN 1 THEN 2 ELSE 3 END", vec![(S::Session, "x", "CASE WHEN 1 THEN 2 ELSE 3 END")]),
            (
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                vec![(S::Transaction(T::Session), "transaction_isolation", "READ COMMITTED")],
            ),
            (
                "SET TRANSACTION READ ONLY, ISOLATION LEVEL REPEATABLE READ",
                vec![
                    (S::Transaction(T::Next), "transaction_read_only", "READ ONLY"),
                    (S::Transaction(T::Next), "transaction_isolation", "REPEATABLE READ"),
                ],
            ),
            (
                "SET GLOBAL TRANSACTION READ WRITE",
                vec![(S::Transaction(T::Global), "transaction_read_only", "READ WRITE")],
            ),
            (
                "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
                vec![(S::User, "old_sql_mode", "@@SQL_MODE"), (S::Session, "sql_mode", "'NO_AUTO_VALUE_ON_ZERO'")],
            ),
            ("SET a = 1; SET b = 2", vec![(S::Session, "a", "1")]),
            ("SET PASSWORD = 'x'", vec![]),
            ("SET ROLE r", vec![]),
            ("SET a = 1, garbage", vec![]),
            ("SELECT 1", vec![]),
            ("", vec![]),
        ];
        for (sql, want) in cases {
            let got: Vec<(SetScope, String, &str)> = set_assignments(sql)
                .into_iter()
                .map(|a| (a.scope, a.name, &sql[a.value_text]))
                .collect();
            let want: Vec<(SetScope, String, &str)> = want
                .into_iter()
                .map(|(s, n, v)| (s, n.to_owned(), v))
                .collect();
            assert_eq!(got, want, "{sql}");
        }
    }

    /// The statements sqlparser 0.64 rejects (notes, section c) are all
    /// classified.
    #[test]
    fn statements_sqlparser_rejects() {
        let cases: Vec<(&str, StatementKind, &[&str])> = vec![
            ("SET @a := 1", K::Set(SetKind::UserVariables), &["assigns_user_variable"]),
            ("SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", K::Select, &["locking_read"]),
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT", BEGIN, &[]),
            ("XA START 'xid'", K::Xa, &[]),
            ("XA END 'xid'", K::Xa, &[]),
            ("XA PREPARE 'xid'", K::Xa, &[]),
            ("XA COMMIT 'xid'", K::Xa, &[]),
            ("PREPARE s FROM 'SELECT * FROM t WHERE id = ?'", K::SqlPrepare, &[]),
            ("CREATE TABLE t (id INT) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10))", K::Ddl, &[]),
            ("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t FIELDS TERMINATED BY ';'", K::LoadData, &[]),
            ("OPTIMIZE TABLE t", K::Optimize, &[]),
            ("CHECKSUM TABLE t", K::Checksum, &[]),
            ("DO 1", K::Do, &[]),
            ("SHOW CREATE DATABASE d", K::Show(ShowKind::Other), &[]),
            ("SELECT * FROM t INTO OUTFILE '/tmp/t.txt'", K::Select, &["select_into"]),
            ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", K::Ddl, &[]),
            (
                "CREATE DEFINER=`root`@`%` PROCEDURE p(IN x INT)\nBEGIN\n  DECLARE n INT;\n  IF x > 0 THEN SELECT 1; ELSE SELECT 2; END IF;\n  CASE x WHEN 1 THEN SELECT 3; END CASE;\n  lbl: LOOP LEAVE lbl; END LOOP lbl;\n  SET n = (SELECT CASE WHEN x THEN 1 END);\nEND",
                K::Ddl,
                &[],
            ),
            ("HANDLER t OPEN AS h", K::Handler, &[]),
        ];
        for (sql, want_kind, want_flags) in cases {
            let c = classify(sql);
            assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
        }
    }

    #[test]
    fn driver_startup_chatter() {
        let cases: Vec<(&str, StatementKind, &[&str])> = vec![
            (
                "/* mysql-connector-java-8.0.33 (Revision: 7d6b0800528b6b25c68b52dc10d6c1c8429c100c) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout",
                K::Select,
                &[],
            ),
            ("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", K::Set(SetKind::SystemOnly), &[]),
            ("SET character_set_results = NULL", K::Set(SetKind::SystemOnly), &[]),
            ("SET autocommit=0", K::Set(SetKind::SystemOnly), &[]),
            ("SET @@SESSION.AUTOCOMMIT = OFF", K::Set(SetKind::SystemOnly), &[]),
            ("SET SESSION TRANSACTION READ ONLY", K::Set(SetKind::Transaction), &[]),
            ("SET SESSION TRANSACTION READ WRITE", K::Set(SetKind::Transaction), &[]),
            ("SELECT @@session.tx_read_only", K::Select, &[]),
            ("SELECT @@transaction_isolation", K::Select, &[]),
            (
                "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT')), time_zone='+00:00', NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
                K::Set(SetKind::SystemOnly),
                &[],
            ),
            ("select @@version_comment limit 1", K::Select, &[]),
            ("SELECT DATABASE()", K::Select, &[]),
            ("SHOW VARIABLES LIKE 'sql_mode'", K::Show(ShowKind::Variables), &[]),
            (
                "SET SQL_AUTO_IS_NULL = 0; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                K::Set(SetKind::SystemOnly),
                &["multi_statement"],
            ),
            (
                "SHOW VARIABLES LIKE 'lower_case_%'; SHOW VARIABLES LIKE 'sql_mode'; SELECT COUNT(*) AS support_ndb FROM information_schema.ENGINES WHERE Engine = 'ndbcluster'",
                K::Show(ShowKind::Variables),
                &["multi_statement"],
            ),
            ("BEGIN;", BEGIN, &[]),
            ("INSERT INTO t (a) VALUES (1); SELECT ROW_COUNT()", K::Insert, &["multi_statement", "uses_row_count"]),
            ("/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", K::Set(SetKind::UserVariables), &["assigns_user_variable"]),
            ("/*!40103 SET TIME_ZONE='+00:00' */", K::Set(SetKind::SystemOnly), &[]),
            ("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", K::Select, &[]),
        ];
        for (sql, want_kind, want_flags) in cases {
            let c = classify(sql);
            assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
        }
    }

    #[test]
    fn tricky_strings_and_comments() {
        let cases: Vec<(&str, StatementKind, &[&str])> = vec![
            ("SELECT ';' FROM t", K::Select, &[]),
            ("SELECT 'x; DROP TABLE t' FROM t", K::Select, &[]),
            (r"SELECT 'it\'s; FOR UPDATE' FROM t", K::Select, &[]),
            ("SELECT 'it''s; -- ' FROM t", K::Select, &[]),
            ("SELECT \"a;\" , '--' , '/*' FROM t", K::Select, &[]),
            ("SELECT 1 -- ; DELETE FROM t", K::Select, &[]),
            ("SELECT 1 # ; DELETE FROM t", K::Select, &[]),
            ("SELECT 1 /* ; DELETE FROM t */", K::Select, &[]),
            (
                "SELECT 1 /*! ; DELETE FROM t */",
                K::Select,
                &["multi_statement"],
            ),
            ("SELECT 1--1", K::Select, &[]),
            ("SELECT `select`, `;` FROM `update`", K::Select, &[]),
            ("/* UPDATE */ SELECT 1", K::Select, &[]),
            ("-- DELETE\nSELECT 1", K::Select, &[]),
            ("SELECT 'unterminated; DELETE FROM t", K::Select, &[]),
            ("SELECT 1 /* unterminated; DELETE FROM t", K::Select, &[]),
            (
                "SELECT _utf8mb4';' , N';', X'3B'; DELETE FROM t",
                K::Select,
                &["multi_statement"],
            ),
        ];
        for (sql, want_kind, want_flags) in cases {
            let c = classify(sql);
            assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
        }
    }

    #[test]
    fn multi_statement_kind_and_flags_union() {
        let c = classify("/* shardcat:replica */ SELECT 1; UPDATE t SET a = GET_LOCK('x', 1)");
        assert_eq!(c.kind, K::Select);
        assert_eq!(c.hint, Some(RouteHint::Replica));
        assert_eq!(
            c.flags,
            flags(&["multi_statement", "named_lock", "side_effect_function"])
        );
    }

    #[test]
    fn no_backslash_escapes_changes_statement_boundaries() {
        let sql = br"SELECT 'a\'; DELETE FROM t; -- '";
        let default = classify_bytes(sql, LexOptions::default());
        assert!(!default.flags.multi_statement);
        let nbe = LexOptions {
            no_backslash_escapes: true,
            ..LexOptions::default()
        };
        let c = classify_bytes(sql, nbe);
        assert!(c.flags.multi_statement);
        assert_eq!(split_statements_bytes(sql, nbe).len(), 2);
    }

    #[test]
    fn classify_bytes_accepts_invalid_utf8() {
        let sql = b"INSERT INTO t VALUES (_binary'\xff\xfe;\x00'); SELECT 1";
        let c = classify_bytes(sql, LexOptions::default());
        assert_eq!(c.kind, K::Insert);
        assert!(c.flags.multi_statement);
        assert_eq!(
            split_statements_bytes(sql, LexOptions::default()),
            [0..36, 38..46]
        );
    }

    #[test]
    fn splitting() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("SELECT 1", vec!["SELECT 1"]),
            ("SELECT 1;", vec!["SELECT 1"]),
            ("  SELECT 1 ;\n SELECT 2 ; ", vec!["SELECT 1", "SELECT 2"]),
            (";; ;", vec![]),
            ("", vec![]),
            ("-- only\n", vec![]),
            ("SELECT 1; -- done", vec!["SELECT 1"]),
            ("SELECT ';'; SELECT \";\"", vec!["SELECT ';'", "SELECT \";\""]),
            (
                "SELECT 1; /* shardcat:primary */ SELECT 2",
                vec!["SELECT 1", "/* shardcat:primary */ SELECT 2"],
            ),
            ("SELECT 1 /* ; */; SELECT 2 # ;\n", vec!["SELECT 1 /* ; */", "SELECT 2 # ;"]),
            (
                "/*!40101 SET NAMES utf8 */;\n/*!40103 SET TIME_ZONE='+00:00' */;",
                vec!["/*!40101 SET NAMES utf8 */", "/*!40103 SET TIME_ZONE='+00:00' */"],
            ),
            (
                "CREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END; CALL p()",
                vec!["CREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END", "CALL p()"],
            ),
            (
                "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = CASE WHEN 1 THEN 2 END; END; SELECT 1",
                vec!["CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = CASE WHEN 1 THEN 2 END; END", "SELECT 1"],
            ),
            (
                "CREATE FUNCTION f() RETURNS INT RETURN 1; SELECT f()",
                vec!["CREATE FUNCTION f() RETURNS INT RETURN 1", "SELECT f()"],
            ),
            (
                "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN CASE WHEN 1 THEN DELETE FROM t; END CASE; END; SELECT 2",
                vec!["CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN CASE WHEN 1 THEN DELETE FROM t; END CASE; END", "SELECT 2"],
            ),
            (
                "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END; SELECT 3",
                vec!["BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"],
            ),
            ("BEGIN; SELECT 1; COMMIT", vec!["BEGIN", "SELECT 1", "COMMIT"]),
            (
                "CREATE TABLE event (begin INT, end INT); SELECT 1",
                vec!["CREATE TABLE event (begin INT, end INT)", "SELECT 1"],
            ),
            ("SELECT CASE WHEN a THEN 1 END; SELECT 2", vec!["SELECT CASE WHEN a THEN 1 END", "SELECT 2"]),
            ("SELECT (1; SELECT 2", vec!["SELECT (1", "SELECT 2"]),
        ];
        for (sql, want) in cases {
            let got: Vec<&str> = split_statements(sql).into_iter().map(|r| &sql[r]).collect();
            assert_eq!(got, want, "{sql}");
        }
    }

    #[test]
    fn fingerprints() {
        let cases: Vec<(&str, &str, &[&str])> = vec![
            (
                "SELECT * FROM t WHERE id = 1",
                "SELECT * FROM t WHERE id = ?",
                &["1"],
            ),
            (
                "select  *\n from t where id=42 and name = 'bob'  ",
                "select * from t where id=? and name = ?",
                &["42", "'bob'"],
            ),
            (
                "SELECT /* c */ a -- x\n FROM t # y\n WHERE b IN (1, 2.5, -3e2)",
                "SELECT a FROM t WHERE b IN (?, ?, -?)",
                &["1", "2.5", "3e2"],
            ),
            (
                "SELECT _utf8mb4'ü', N'x', 0x1F, X'aa', b'01', 0b1",
                "SELECT ?, ?, ?, ?, ?, ?",
                &["_utf8mb4'ü'", "N'x'", "0x1F", "X'aa'", "b'01'", "0b1"],
            ),
            (
                "SELECT * FROM t WHERE id = ?",
                "SELECT * FROM t WHERE id = ?",
                &[],
            ),
            (
                "SELECT a.b, t1.c2 FROM t1 a",
                "SELECT a.b, t1.c2 FROM t1 a",
                &[],
            ),
            (
                "/* shardcat:replica */ SELECT /*+ BKA(t) */ 1",
                "/* shardcat:replica */ SELECT /*+ BKA(t) */ ?",
                &["1"],
            ),
            ("/*!40101 SET x = 1 */", "/*!40101 SET x = ? */", &["1"]),
            (
                "SELECT 1 LIMIT 10 OFFSET 5",
                "SELECT ? LIMIT ? OFFSET ?",
                &["1", "10", "5"],
            ),
            ("", "", &[]),
        ];
        for (sql, text, literals) in cases {
            let fp = fingerprint(sql);
            assert_eq!(fp.text, text, "{sql}");
            let got: Vec<&str> = fp.literals.iter().map(|l| l.text(sql)).collect();
            assert_eq!(got, literals, "{sql}");
        }
        assert_eq!(
            fingerprint("SELECT 'a' FROM t WHERE x = 2").text,
            fingerprint("SELECT   'zzz'  FROM t  WHERE x = 99999 -- c").text
        );
        let kinds: Vec<LiteralKind> = fingerprint("SELECT 'a', 1, 0x1, b'1'")
            .literals
            .iter()
            .map(|l| l.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                LiteralKind::String,
                LiteralKind::Number,
                LiteralKind::Hex,
                LiteralKind::Bit
            ]
        );
    }

    /// Statements used to build truncation and mutation inputs.
    const CORPUS: &[&str] = &[
        "SELECT * FROM t WHERE id = 1 FOR UPDATE",
        "/* shardcat:node=n1 */ SELECT a INTO @x FROM t LOCK IN SHARE MODE",
        "SET @a := 1, @@session.sql_mode = (SELECT CONCAT(@@sql_mode, ',X')), NAMES utf8mb4 COLLATE utf8mb4_bin",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "INSERT INTO `t``x` (a) VALUES (_utf8mb4'ü\\'', 0x1F, X'0a', b'1', 1.5e-3, ?) ON DUPLICATE KEY UPDATE a = VALUES(a)",
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */; /*!40000 ALTER TABLE t DISABLE KEYS */;",
        "CREATE PROCEDURE p() BEGIN IF 1 THEN SELECT 1; END IF; CASE WHEN 1 THEN SELECT 2; END CASE; END; CALL p()",
        "EXPLAIN SHARDCAT SELECT 1; SHOW SHARDCAT nodes",
        "SHOW COUNT(*) WARNINGS # c\n-- d\n",
        "KILL QUERY 12345678901234567890",
        "START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT",
        "WITH c AS (SELECT 1) DELETE FROM t WHERE GET_LOCK('x', 1) AND LAST_INSERT_ID(5)",
        "SELECT 'a\"b', \"c'd\", `e\"f` /*+ hint */ FROM t -- x",
        "USE `db`; SELECT @@warning_count",
    ];

    fn exercise(sql: &str) {
        let c = classify(sql);
        for range in split_statements(sql) {
            assert!(range.start <= range.end && range.end <= sql.len());
            let piece = &sql[range];
            let _ = classify(piece);
        }
        let fp = fingerprint(sql);
        for literal in &fp.literals {
            assert!(literal.span.end <= sql.len());
        }
        let _ = set_assignments(sql);
        let offset = match c.kind {
            K::ExplainShardcat { inner_offset } => inner_offset,
            K::ShowShardcat { rest_offset } => rest_offset,
            _ => 0,
        };
        assert!(offset <= sql.len() && sql.is_char_boundary(offset));
    }

    #[test]
    fn never_panics_on_prefixes_and_suffixes() {
        for sql in CORPUS {
            for (i, _) in sql.char_indices().chain([(sql.len(), ' ')]) {
                exercise(&sql[..i]);
                exercise(&sql[i..]);
            }
        }
    }

    #[test]
    fn never_panics_on_random_bytes() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        // Bytes biased towards the ones the scanner treats specially.
        const SPECIAL: &[u8] = b"'\"`\\/*!+-#@;:=()?.0x1bBXN_ \n\tEND BEGIN SET CASE";
        for _ in 0..3000 {
            let len = next() % 64;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % 2 == 0 {
                        SPECIAL[next() % SPECIAL.len()]
                    } else {
                        (next() % 256) as u8
                    }
                })
                .collect();
            let _ = classify_bytes(&bytes, LexOptions::default());
            let _ = split_statements_bytes(
                &bytes,
                LexOptions {
                    no_backslash_escapes: true,
                    ansi_quotes: true,
                },
            );
            let text = String::from_utf8_lossy(&bytes);
            exercise(&text);
        }
        // Corpus statements with random bytes spliced in.
        for _ in 0..2000 {
            let mut bytes = CORPUS[next() % CORPUS.len()].as_bytes().to_vec();
            for _ in 0..3 {
                let at = next() % (bytes.len() + 1);
                bytes.insert(at, SPECIAL[next() % SPECIAL.len()]);
            }
            let text = String::from_utf8_lossy(&bytes);
            exercise(&text);
        }
    }

    /// Timing sanity check, not a test of speed: run with
    /// `cargo test --release --lib sql::classify::tests::classify_cost -- --ignored --nocapture`.
    /// On the shared 2-vCPU VM (rustc 1.95, release, thin LTO): point
    /// select classify 0.31-0.46 µs / fingerprint 0.17-0.33 µs; sysbench
    /// 3-row INSERT 1.1 µs / 1.1 µs; Connector/J init query 2.7 µs /
    /// 1.7 µs. sqlparser needs 11-17 µs to parse the point select.
    #[test]
    #[ignore]
    fn classify_cost() {
        let statements = [
            ("point select", "SELECT c FROM sbtest1 WHERE id = 4242"),
            (
                "3-row insert",
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 4242, '68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574-28203206787-41238978918-19503783441', '22195207048-70116052123-74140395089-76317954521-98694025897'), (2, 4243, 'x', 'y'), (3, 4244, 'z', 'w')",
            ),
            (
                "Connector/J init",
                "/* mysql-connector-java-8.0.33 */SELECT @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout",
            ),
        ];
        let iterations = 200_000u32;
        for (label, sql) in statements {
            let start = std::time::Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(classify(std::hint::black_box(sql)));
            }
            let classify_cost = start.elapsed() / iterations;
            let start = std::time::Instant::now();
            for _ in 0..iterations {
                std::hint::black_box(fingerprint(std::hint::black_box(sql)));
            }
            let fingerprint_cost = start.elapsed() / iterations;
            println!("{label}: classify {classify_cost:?}, fingerprint {fingerprint_cost:?}");
        }
    }
}
