//! Text helpers of metadata answers: string literals, MySQL `LIKE`, and a
//! physical table's `SHOW CREATE TABLE` text and error messages shown for
//! its logical table.
//!
//! Owns: pure string functions. Must not decide routing.

use super::*;

/// The value of a simple string literal (`'…'` or `"…"`, with doubled
/// quotes and backslash escapes); `None` for other forms.
pub(super) fn string_literal(text: &str) -> Option<String> {
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
    // Pattern items: Some(c) a literal, None `_`, and `%` as a flag.
    enum Item {
        Char(char),
        One,
        Any,
    }
    let mut items = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        items.push(match c {
            '%' => Item::Any,
            '_' => Item::One,
            '\\' => Item::Char(chars.next().unwrap_or('\\')),
            c => Item::Char(c),
        });
    }
    let v: Vec<char> = value.chars().collect();
    // matched[j]: the pattern so far matches the first j characters
    // (dynamic programming: linear in pattern × value, whatever the `%`s).
    let mut matched = vec![false; v.len() + 1];
    matched[0] = true;
    for item in &items {
        let mut next = vec![false; v.len() + 1];
        match item {
            Item::Any => {
                let mut any = false;
                for j in 0..=v.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            Item::One => {
                next[1..].copy_from_slice(&matched[..v.len()]);
            }
            Item::Char(c) => {
                for j in 1..=v.len() {
                    next[j] = matched[j - 1] && v[j - 1] == *c;
                }
            }
        }
        matched = next;
    }
    matched[v.len()]
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
