//! [`scan_flags`]: the statement flags that may appear anywhere in a
//! statement (locking clauses, `INTO`, functions with side effects,
//! diagnostics variables), in one pass over its tokens.
//!
//! Owns: those flags and the cheap filter in front of the words they look
//! for. Must not decide the statement's kind (see [`super`]).

use super::*;

/// The words [`scan_flags`] acts on (the first of a phrase).
pub(super) const FLAG_WORDS: [&[u8]; 13] = [
    b"FOR",
    b"LOCK",
    b"INTO",
    b"GET_LOCK",
    b"RELEASE_LOCK",
    b"RELEASE_ALL_LOCKS",
    b"NEXTVAL",
    b"SETVAL",
    b"NEXT",
    b"LAST_INSERT_ID",
    b"FOUND_ROWS",
    b"ROW_COUNT",
    b"SQL_CALC_FOUND_ROWS",
];

/// Per upper-case first letter `A`..=`Z`: bit `n` set when a word of
/// [`FLAG_WORDS`] of length `n` starts with it.
const FLAG_LENGTHS: [u32; 26] = {
    let mut t = [0u32; 26];
    let mut i = 0;
    while i < FLAG_WORDS.len() {
        let w = FLAG_WORDS[i];
        t[(w[0] - b'A') as usize] |= 1 << w.len();
        i += 1;
    }
    t
};

/// Whether `word` may be one of [`FLAG_WORDS`] (a cheap filter: most words
/// of a statement are not, and need no upper-casing).
pub(super) fn may_be_flag_word(word: &[u8]) -> bool {
    let (Some(&first), true) = (word.first(), word.len() < 32) else {
        return false;
    };
    let letter = first.to_ascii_uppercase().wrapping_sub(b'A');
    FLAG_LENGTHS
        .get(letter as usize)
        .is_some_and(|lengths| lengths & (1 << word.len()) != 0)
}

/// One pass over the tokens for the flags that can appear anywhere.
pub(super) fn scan_flags(s: Stmt<'_>) -> StatementFlags {
    let mut f = StatementFlags::default();
    for (i, tok) in s.toks.iter().enumerate() {
        match tok.kind {
            TokenKind::Word => {
                if !may_be_flag_word(tok.bytes(s.src)) {
                    continue;
                }
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
