//! Who may run what through the proxy.
//!
//! - [`admin`]: statements only `admin = true` users may run (the proxy's
//!   `SHOW SHARDCAT …`, `SET GLOBAL`, `sql_log_bin` and other server-level
//!   settings, `GRANT`, user management, file access, `KILL` of server
//!   threads…), for every user;
//! - [`privileges`] (with [`tables`]): the proxy-enforced privilege lists
//!   of users that have one (`privileges = [...]` or `read_only = true`);
//! - [`auth_guard`]: unauthenticated connections per source address and
//!   failed logins (brute-force delay and block);
//! - [`credentials`]: client passwords in clear or as stored hashes;
//!   [`sha2_cache`]: the caching_sha2 digests full authentications saw;
//! - [`visibility`], [`processlist`], [`identity`]: what a user sees of
//!   the catalog, the process list and itself (statement rewrites).
//!
//! Owns: [`check_query`], the one entry point the session calls for every
//! statement text before anything reaches a server; statements inside
//! `PREPARE … FROM '…'`, `EXECUTE IMMEDIATE '…'` and `SET STATEMENT … FOR`
//! are checked as well. Must not do I/O or route statements.

pub mod admin;
pub mod auth_guard;
pub mod credentials;
pub mod identity;
pub mod mentions;
pub mod privileges;
pub mod processlist;
pub mod sha2_cache;
mod show_databases;
pub mod tables;
pub mod visibility;

use crate::config::UserConfig;
use crate::error::ProxyError;
use crate::sql::{self, Classified, LexOptions, SetKind, ShowKind, StatementKind, Token};
use mentions::{Mentions, Word};

/// The session facts the checks need.
pub struct Subject<'a> {
    pub user: &'a str,
    pub host: &'a str,
    /// The shardcat session id (what `CONNECTION_ID()` answers).
    pub connection_id: u32,
    /// The user's configuration (`None`: removed by a reload while the
    /// session runs; treated as a user without admin role or privilege
    /// list).
    pub config: Option<&'a UserConfig>,
    /// The current database.
    pub schema: Option<&'a str>,
    /// A `START TRANSACTION READ ONLY` transaction is open (it runs on a
    /// replica).
    pub read_only_tx: bool,
    pub lex: LexOptions,
    /// Whether a `KILL` id is one of the proxy's sessions.
    pub owns_thread: &'a (dyn Fn(u64) -> bool + Sync),
    /// The shardcat sessions this user may see in the process list.
    pub processes: &'a (dyn Fn() -> Vec<processlist::ProcessRow> + Sync),
    /// Physical tables of a sharded logical table.
    pub physical_names: visibility::PhysicalNames<'a>,
}

/// What the session does with an allowed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Run this text instead (`SHOW DATABASES` filtered to the user's
    /// databases, catalog rows filtered, the process list, the user's
    /// identity and grants).
    Rewrite(String),
}

/// Nesting of `PREPARE … FROM '…'` and friends checked before refusing.
const MAX_DEPTH: usize = 4;

/// Checks a COM_QUERY / COM_STMT_PREPARE text (one or more statements).
pub fn check_query(s: &Subject<'_>, text: &[u8], c: &Classified) -> Result<Verdict, ProxyError> {
    if !c.flags.multi_statement {
        return check_one(s, text, c, 0);
    }
    for r in sql::split_statements_bytes(text, s.lex) {
        let piece = text.get(r).unwrap_or_default();
        let pc = sql::classify_bytes(piece, s.lex);
        if check_one(s, piece, &pc, 1)? != Verdict::Allow {
            return Err(unverifiable(s, "SHOW DATABASES inside a multi-statement"));
        }
    }
    Ok(Verdict::Allow)
}

fn unverifiable(s: &Subject<'_>, reason: &str) -> ProxyError {
    ProxyError::UnverifiableStatement {
        command: "this",
        user: s.user.to_string(),
        host: s.host.to_string(),
        reason: reason.to_string(),
    }
}

/// Statements that change data or commit implicitly: never in a
/// `START TRANSACTION READ ONLY` (which runs on a replica).
fn writes(c: &Classified) -> bool {
    matches!(
        c.kind,
        StatementKind::Insert
            | StatementKind::Replace
            | StatementKind::Update
            | StatementKind::Delete
            | StatementKind::LoadData
            | StatementKind::Ddl
            | StatementKind::Grant
            | StatementKind::Revoke
            | StatementKind::Optimize
            | StatementKind::Repair
            | StatementKind::Analyze
            | StatementKind::Flush
            | StatementKind::LockTables
            | StatementKind::Set(SetKind::Global | SetKind::Password)
    ) || c.flags.select_into && !c.flags.assigns_user_variable
}

fn check_one(
    s: &Subject<'_>,
    text: &[u8],
    c: &Classified,
    depth: usize,
) -> Result<Verdict, ProxyError> {
    if depth > MAX_DEPTH {
        return Err(unverifiable(s, "statements nested too deeply"));
    }
    let is_admin = s.config.is_some_and(|u| u.admin);
    // Every word the checks below search for, in one pass.
    let m = Mentions::of(text);
    if !is_admin {
        admin::check(text, c, s.lex, s.owns_thread, m)?;
    }
    if s.read_only_tx && writes(c) {
        return Err(ProxyError::ReadOnlyTransaction);
    }
    // Statements that carry another statement: check that one too.
    if let Some(inner) = nested_statement(text, c, s.lex) {
        return match inner {
            Some(inner) => {
                let ic = sql::classify_bytes(&inner, s.lex);
                check_one(s, &inner, &ic, depth + 1).and_then(|v| match v {
                    Verdict::Allow => Ok(Verdict::Allow),
                    Verdict::Rewrite(_) => Err(unverifiable(s, "nested SHOW DATABASES")),
                })
            }
            None if is_admin => Ok(Verdict::Allow),
            None => Err(ProxyError::Unsupported(
                "PREPARE/EXECUTE IMMEDIATE of a statement held in a variable, for users without admin = true (shardcat must see the statement to check it)".into(),
            )),
        };
    }
    let restricted = s.config.filter(|u| u.is_restricted());
    if let Some(cfg) = restricted {
        if c.kind == StatementKind::Show(ShowKind::Databases) {
            if depth > 0 {
                return Err(unverifiable(s, "nested SHOW DATABASES"));
            }
            return show_databases::rewrite(text, cfg, s.lex)
                .map(Verdict::Rewrite)
                .ok_or_else(|| unverifiable(s, "SHOW DATABASES form"));
        }
        let text_str = String::from_utf8_lossy(text);
        let objs = tables::analyze(&text_str, c, s.schema, s.lex).map_err(|e| match e {
            tables::Unknown::NoDatabase => ProxyError::NoDatabaseSelected,
            tables::Unknown::Unparsed(reason) => unverifiable(s, &reason),
        })?;
        let who = privileges::Who {
            user: s.user,
            host: s.host,
        };
        privileges::check(cfg, who, c, &objs)?;
    } else if !is_admin {
        system_schemas(s, text, c, m)?;
    }
    match rewrite(s, text, c, restricted, is_admin, m)? {
        None => Ok(Verdict::Allow),
        Some(_) if depth > 0 => Err(unverifiable(
            s,
            "a nested statement shardcat must rewrite (catalog rows, process list, identity)",
        )),
        Some(sql) => Ok(Verdict::Rewrite(sql)),
    }
}

/// Whether an administrator's statement may need a rewrite: the gate
/// skips every other check for admins without a privilege list.
pub fn admin_needs_check(text: &[u8]) -> bool {
    let m = Mentions::of(text);
    m.has(Word::User)
        || m.has(Word::ConnectionId)
        || m.has(Word::Processlist)
        || m.has(Word::Grants)
}

/// The text to run instead of `text`, if any (see [`Verdict::Rewrite`]).
fn rewrite(
    s: &Subject<'_>,
    text: &[u8],
    c: &Classified,
    restricted: Option<&UserConfig>,
    is_admin: bool,
    m: Mentions,
) -> Result<Option<String>, ProxyError> {
    let is_show = matches!(c.kind, StatementKind::Show(_));
    let names_function = m.has(Word::User) || m.has(Word::ConnectionId);
    let information_schema =
        m.has(Word::InformationSchema) || s.schema.is_some_and(tables::is_information_schema);
    if !is_show && !names_function && !information_schema {
        // Nothing to rewrite (what `identity::functions` and
        // `visibility::information_schema` would find without a mention).
        return Ok(None);
    }
    let text = match std::str::from_utf8(text) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(text),
    };
    if is_show {
        if m.has(Word::Processlist) {
            if let Some(q) = processlist::show(&text, &(s.processes)()) {
                return Ok(Some(q));
            }
        }
        // A pass-through user's grants are the servers': they answer.
        if let Some(q) = s
            .config
            .filter(|cfg| cfg.backend_auth != crate::config::BackendAuth::Passthrough)
            .and_then(|cfg| identity::show_grants(&text, cfg, s.user, s.lex))
        {
            return Ok(Some(q));
        }
        if let Some(cfg) = restricted {
            let q = visibility::show_tables(cfg, &text, c, s.schema, s.physical_names, s.lex);
            return Ok(q);
        }
        return Ok(None);
    }
    // Lexed only when the text can hold one of the functions.
    let named = names_function
        .then(|| identity::functions(&text, c, s.user, s.host, s.connection_id, s.lex))
        .flatten();
    let base = named.as_deref().unwrap_or(&text);
    let viewer = visibility::Viewer {
        restricted,
        is_admin,
        physical: s.physical_names,
        processes: s.processes,
    };
    let filtered = visibility::information_schema(&viewer, base, c, s.schema, s.lex)?;
    Ok(filtered.or(named))
}

/// For users without a privilege list or admin role: the system schemas
/// (`mysql`, `performance_schema`, `sys`) hold the servers' accounts and
/// state, not the user's data: 1142 (1044 for the database itself).
fn system_schemas(
    s: &Subject<'_>,
    text: &[u8],
    c: &Classified,
    m: Mentions,
) -> Result<(), ProxyError> {
    let is_system = |db: &str| {
        tables::SYSTEM_SCHEMAS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(db))
    };
    // (`Mentions` covers every name of `tables::SYSTEM_SCHEMAS`.)
    let mentions = m.has(Word::Mysql)
        || m.has(Word::PerformanceSchema)
        || m.has(Word::Sys)
        || m.has(Word::Shardcat)
        || s.schema.is_some_and(is_system);
    if !mentions {
        return Ok(());
    }
    let denied = |command: &'static str, table: &str| ProxyError::TableAccessDenied {
        command,
        user: s.user.to_string(),
        host: s.host.to_string(),
        table: table.to_string(),
    };
    let text_str = String::from_utf8_lossy(text);
    let objs = match tables::analyze(&text_str, c, s.schema, s.lex) {
        Ok(o) => o,
        Err(tables::Unknown::NoDatabase) => return Ok(()),
        Err(tables::Unknown::Unparsed(_)) => {
            // Not analysable: any `mysql.x` written in it is refused.
            let toks: Vec<Token> = sql::Lexer::with_options(text, s.lex)
                .filter(|t| !t.is_trivia())
                .collect();
            for w in toks.windows(3) {
                let db = sql::lexer::unquote(w[0].bytes(text));
                if is_system(&db) && w[1].is_punct(text, ".") {
                    let table = sql::lexer::unquote(w[2].bytes(text)).into_owned();
                    return Err(denied("SELECT", &table));
                }
            }
            return Ok(());
        }
    };
    if let Some(db) = objs.database.as_deref().filter(|d| is_system(d)) {
        return Err(ProxyError::DatabaseAccessDenied {
            user: s.user.to_string(),
            host: s.host.to_string(),
            db: db.to_string(),
        });
    }
    let command = match c.kind {
        StatementKind::Insert | StatementKind::LoadData => "INSERT",
        StatementKind::Replace => "INSERT",
        StatementKind::Update => "UPDATE",
        StatementKind::Delete => "DELETE",
        StatementKind::Ddl => "DROP",
        _ => "SELECT",
    };
    if let Some(t) = objs.targets.iter().find(|t| is_system(&t.db)) {
        return Err(denied(command, &t.name));
    }
    if let Some(t) = objs.reads.iter().find(|t| is_system(&t.db)) {
        return Err(denied("SELECT", &t.name));
    }
    if objs.routine.as_ref().is_some_and(|r| is_system(&r.db)) {
        return Err(ProxyError::SpecificAccessDenied {
            privilege: "EXECUTE",
        });
    }
    Ok(())
}

/// The statement inside `PREPARE s FROM '…'`, `EXECUTE IMMEDIATE '…'` or
/// `SET STATEMENT … FOR …`: `None` when `c` carries none, `Some(None)`
/// when it carries one that is not a literal (a variable, an expression).
fn nested_statement(text: &[u8], c: &Classified, opts: LexOptions) -> Option<Option<Vec<u8>>> {
    let carrier = matches!(
        c.kind,
        StatementKind::SqlPrepare | StatementKind::SqlExecute | StatementKind::Set(SetKind::Other)
    );
    if !carrier {
        return None;
    }
    let toks: Vec<Token> = sql::Lexer::with_options(text, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(text, k));
    let literal_at = |i: usize| -> Option<Vec<u8>> {
        let t = toks.get(i)?;
        let only = toks.len() == i + 1 || toks.get(i + 1).is_some_and(|n| n.is_punct(text, ";"));
        (t.kind == sql::TokenKind::String && only)
            .then(|| sql::lexer::unquote(t.bytes(text)).into_owned().into_bytes())
    };
    match c.kind {
        StatementKind::SqlPrepare => {
            let from = (1..4).find(|&i| kw(i, "FROM"))?;
            Some(literal_at(from + 1))
        }
        StatementKind::SqlExecute if kw(1, "IMMEDIATE") => Some(literal_at(2)),
        StatementKind::Set(SetKind::Other) if kw(1, "STATEMENT") => {
            let mut depth = 0usize;
            for (i, t) in toks.iter().enumerate() {
                if t.is_punct(text, "(") {
                    depth += 1;
                } else if t.is_punct(text, ")") {
                    depth = depth.saturating_sub(1);
                } else if depth == 0 && t.is_keyword(text, "FOR") {
                    let rest = toks.get(i + 1).map(|n| n.start)?;
                    return Some(Some(text.get(rest..)?.to_vec()));
                }
            }
            Some(None)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
