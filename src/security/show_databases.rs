//! `SHOW DATABASES` for a user with a privilege list: the same statement
//! with a `WHERE` that keeps only the databases the user reaches.
//!
//! Owns: that rewrite. Must not decide privileges beyond reading the
//! user's entries the way [`super::privileges::reaches`] does.

use crate::config::UserConfig;
use crate::session_state::quote_str;
use crate::sql::{LexOptions, Lexer, Token};

use super::tables::SYSTEM_SCHEMAS;

/// The filtered statement, or `None` for a form not understood.
pub fn rewrite(text: &[u8], cfg: &UserConfig, opts: LexOptions) -> Option<String> {
    let toks: Vec<Token> = Lexer::with_options(text, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(text, k));
    if !(kw(0, "SHOW") && (kw(1, "DATABASES") || kw(1, "SCHEMAS"))) {
        return None;
    }
    let end = toks
        .iter()
        .rposition(|t| !t.is_punct(text, ";"))
        .map(|i| toks[i].end)?;
    let rest = |i: usize| -> Option<String> {
        let from = toks.get(i)?.start;
        Some(String::from_utf8_lossy(text.get(from..end)?).into_owned())
    };
    let user_filter = if toks.len() <= 2 || (toks.len() == 3 && toks[2].is_punct(text, ";")) {
        None
    } else if kw(2, "LIKE") {
        Some(format!("`Database` LIKE {}", rest(3)?))
    } else if kw(2, "WHERE") {
        Some(format!("({})", rest(3)?))
    } else {
        return None;
    };
    let mut named: Vec<String> = vec![quote_str("information_schema")];
    let mut any = false;
    let entries = cfg.privileges.as_deref().unwrap_or_default();
    for e in entries {
        let select_ok = !cfg.read_only
            || e.grants
                .iter()
                .any(|g| g.covers(crate::config::Grant::Select));
        if !select_ok {
            continue;
        }
        if e.db == "*" {
            any = true;
        } else {
            named.push(quote_str(&e.db));
        }
    }
    any |= cfg.privileges.is_none() && cfg.read_only;
    let mut allowed = format!("`Database` IN ({})", named.join(", "));
    if any {
        let system: Vec<String> = SYSTEM_SCHEMAS.iter().map(|s| quote_str(s)).collect();
        allowed = format!("({allowed} OR `Database` NOT IN ({}))", system.join(", "));
    }
    Some(match user_filter {
        Some(f) => format!("SHOW DATABASES WHERE {allowed} AND {f}"),
        None => format!("SHOW DATABASES WHERE {allowed}"),
    })
}
