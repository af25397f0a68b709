//! `SET` statements: which kind of SET (session variables, names,
//! transaction characteristics, …) and, for [`set_assignments`], what each
//! assignment assigns, at which scope.
//!
//! Owns: SET parsing from tokens. Must not decide what a SET does to a
//! session (the frontend does).

use super::*;

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

pub(super) fn set_kind(s: Stmt<'_>, flags: &mut StatementFlags) -> SetKind {
    let mut buf = [0u8; 24];
    if s.upper(1, &mut buf) == b"STATEMENT" {
        flags.statement_scoped_variables = true;
    }
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
