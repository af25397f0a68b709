//! Statement classification from tokens alone (no sqlparser), for every
//! statement, including the ones sqlparser rejects.
//!
//! Owns: [`classify`] (what kind of statement, which routing-relevant
//! facts, which `/* shardcat:… */` hint), [`split_statements`] (top-level
//! `;` splitting that knows strings, comments and stored-program bodies),
//! [`fingerprint`] (a plan-cache key with literals lifted out) and
//! [`set_assignments`] (what a `SET` statement assigns).
//! Files: this one (kinds), `flags` (flags found anywhere), `fast` (the
//! scan of plain texts), `set` (SET statements), `split` (statement boundaries), `fingerprint`
//! (cache keys), `tests`.
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

pub use kept_tokens::KeptTokens;

mod fast;
mod fingerprint;
mod flags;
mod kept_tokens;
mod set;
mod split;

pub use fingerprint::{
    digest_hash, digest_hash_of_tokens, fingerprint, Fingerprint, Literal, LiteralKind,
};
use flags::scan_flags;
#[cfg(test)]
use flags::{may_be_flag_word, FLAG_WORDS};
use set::set_kind;
pub use set::{set_assignments, SetAssignment, SetScope, TransactionScope};
use split::Splitter;
pub use split::{split_statements, split_statements_bytes};

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
    /// `SET SHARDCAT …` (e.g. `SET SHARDCAT BACKEND addr OFFLINE`): an
    /// admin command that changes the running proxy.
    SetShardcat {
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
    /// `SET STATEMENT … FOR …`: the variables it sets last for that
    /// statement only, whatever the server's session tracking reports.
    pub statement_scoped_variables: bool,
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
        self.statement_scoped_variables |= other.statement_scoped_variables;
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
    classify_into(sql, opts, &mut tokens).0
}

/// [`classify_bytes`] into the caller's token vector (cleared first): it
/// ends holding the text's significant tokens without the statement
/// terminators; the flag says whether a terminator was left out.
fn classify_into(sql: &[u8], opts: LexOptions, tokens: &mut Vec<Token>) -> (Classified, bool) {
    // Plain texts (most statements): one table-driven scan, no splitter,
    // no comment to read a hint from; the same tokens and classification.
    if fast::scan(sql, tokens) {
        let (kind, flags) = classify_statement(sql, tokens);
        return (
            Classified {
                kind,
                hint: None,
                flags,
            },
            false,
        );
    }
    classify_full_into(sql, opts, tokens)
}

/// [`classify_into`] without the fast path: the full lexer and the
/// statement splitter.
fn classify_full_into(sql: &[u8], opts: LexOptions, tokens: &mut Vec<Token>) -> (Classified, bool) {
    tokens.clear();
    let mut dropped_terminator = false;
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
            dropped_terminator = true;
            continue;
        }
        tokens.push(token);
    }
    finish(&tokens[stmt_start..], &mut first, &mut flags);

    flags.multi_statement = statements > 1;
    let kind = first.map_or(StatementKind::Empty, |(kind, _)| kind);
    (Classified { kind, hint, flags }, dropped_terminator)
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
        b"SET" if s.kw(1, "SHARDCAT") => K::SetShardcat {
            rest_offset: s.offset_after(1),
        },
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

#[cfg(test)]
mod tests;
