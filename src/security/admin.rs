//! Statements only users with `admin = true` may run, whatever their
//! privilege list: the proxy's own admin statements and the server-level
//! ones that would escape any privilege model (or make a replica diverge).
//!
//! Owns: the lexical recognition of those statements and the 1227/1094
//! refusals. Must not look at table privileges (that is
//! [`super::privileges`]) or do I/O.

use super::mentions::{Mentions, Word};
use crate::error::ProxyError;
use crate::sql::{lexer::unquote, Classified, LexOptions, Lexer, SetKind, StatementKind, Token};
use crate::sql::{ShowKind, TokenKind};

/// Session variables a client without the admin role may not set: they
/// change what reaches the binary log or how a server identifies itself
/// (MySQL asks for SUPER / SYSTEM_VARIABLES_ADMIN / BINLOG_ADMIN).
const SERVER_LEVEL_VARIABLES: [&str; 15] = [
    "sql_log_bin",
    "sql_log_off",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "binlog_annotate_row_events",
    "binlog_direct_non_transactional_updates",
    "server_id",
    "skip_replication",
    "pseudo_thread_id",
    "pseudo_slave_mode",
    "pseudo_replica_mode",
    "default_master_connection",
    "sql_slave_skip_counter",
    "debug",
];

/// Name prefixes of the same (`gtid_domain_id`, `gtid_seq_no`, …).
const SERVER_LEVEL_PREFIXES: [&str; 6] = [
    "gtid_",
    "wsrep_",
    "debug_",
    "slave_",
    "replicate_",
    "binlog_",
];

/// Whether `name` (lower case, no `@@`/scope) is a server-level variable.
pub fn is_server_level_variable(name: &str) -> bool {
    SERVER_LEVEL_VARIABLES.contains(&name)
        || SERVER_LEVEL_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn deny(privilege: &'static str) -> Result<(), ProxyError> {
    Err(ProxyError::SpecificAccessDenied { privilege })
}

/// Checks one statement (not a multi-statement) of a user without the
/// admin role. `owns_thread` says whether a KILL id is a proxy session;
/// `m` is what `text` mentions.
pub fn check(
    text: &[u8],
    c: &Classified,
    opts: LexOptions,
    owns_thread: &dyn Fn(u64) -> bool,
    m: Mentions,
) -> Result<(), ProxyError> {
    use StatementKind as K;
    let toks = || -> Vec<Token> {
        Lexer::with_options(text, opts)
            .filter(|t| !t.is_trivia())
            .collect()
    };
    let kw = |toks: &[Token], i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(text, k));
    match &c.kind {
        K::ShowShardcat { .. } | K::SetShardcat { .. } => return deny("SUPER"),
        K::Set(SetKind::Global | SetKind::Password) => return deny("SUPER"),
        K::Set(_) => {
            let toks = toks();
            for (i, t) in toks.iter().enumerate() {
                let assigned = toks
                    .get(i + 1)
                    .is_some_and(|n| n.is_punct(text, "=") || n.is_punct(text, ":="));
                if !assigned {
                    continue;
                }
                let raw = t.bytes(text);
                let name = match t.kind {
                    TokenKind::Word | TokenKind::QuotedIdent => unquote(raw).to_ascii_lowercase(),
                    TokenKind::SystemVar => {
                        let last = raw
                            .rsplit(|&b| b == b'.' || b == b'@')
                            .next()
                            .unwrap_or_default();
                        if raw.len() > 9 && raw[..9].eq_ignore_ascii_case(b"@@global.") {
                            return deny("SUPER");
                        }
                        unquote(last).to_ascii_lowercase()
                    }
                    _ => continue,
                };
                if is_server_level_variable(&name) {
                    return deny("SUPER");
                }
            }
        }
        K::Grant | K::Revoke => return deny("SUPER"),
        K::Flush => return deny("RELOAD"),
        K::Kill { id: Some(id), .. } if owns_thread(*id) => {}
        K::Kill { id: Some(id), .. } => return Err(ProxyError::UnknownThread(*id)),
        K::Kill { id: None, .. } => return deny("CONNECTION ADMIN"),
        K::LoadData => {
            let toks = toks();
            let local = (1..4).any(|i| kw(&toks, i, "LOCAL"));
            if !local {
                return deny("FILE");
            }
        }
        K::Ddl => {
            let toks = toks();
            let user_like = ["USER", "ROLE", "SERVER"];
            if (1..4).any(|i| user_like.iter().any(|k| kw(&toks, i, k))) {
                return deny("CREATE USER");
            }
        }
        K::Show(ShowKind::Other) => {
            let toks = toks();
            let mut i = 1;
            while kw(&toks, i, "FULL") || kw(&toks, i, "ALL") {
                i += 1;
            }
            // SHOW PROCESSLIST: the user's own sessions (`processlist`).
            let server = [
                "MASTER", "SLAVE", "REPLICA", "BINLOG", "BINARY", "RELAYLOG", "ENGINE", "MUTEX",
            ];
            if server.iter().any(|k| kw(&toks, i, k)) {
                return deny("PROCESS");
            }
            if kw(&toks, i, "GRANTS") && kw(&toks, i + 1, "FOR") {
                return deny("SUPER");
            }
        }
        K::Other => {
            let toks = toks();
            let server = [
                "SHUTDOWN",
                "INSTALL",
                "UNINSTALL",
                "CHANGE",
                "START",
                "STOP",
                "RESET",
                "PURGE",
                "BINLOG",
                "BACKUP",
                "CACHE",
                "RESTART",
            ];
            if server.iter().any(|k| kw(&toks, 0, k))
                || (kw(&toks, 0, "LOAD") && kw(&toks, 1, "INDEX"))
            {
                return deny("SUPER");
            }
        }
        _ => {}
    }
    // Anywhere in the text: file access. (The process list is answered
    // from shardcat's sessions: `super::processlist`.)
    if m.has(Word::LoadFile) || m.has(Word::Outfile) || m.has(Word::Dumpfile) {
        for t in toks().iter() {
            let b = t.bytes(text);
            if t.kind != TokenKind::Word && t.kind != TokenKind::QuotedIdent {
                continue;
            }
            let name = unquote(b);
            if name.eq_ignore_ascii_case("load_file")
                || name.eq_ignore_ascii_case("outfile")
                || name.eq_ignore_ascii_case("dumpfile")
            {
                return deny("FILE");
            }
        }
    }
    Ok(())
}
