//! The fast path of [`classify`](super::classify): one table-driven scan
//! for the plain texts nearly every application statement is (words,
//! integers and decimals, simple quoted strings and identifiers, `?`, a few
//! one-byte operators, blanks), giving the very tokens the full
//! [`Lexer`](crate::sql::Lexer) would give them. Such a text holds no
//! comment (so no routing hint), no `;` (so one statement, and the
//! statement splitter has nothing to decide) and nothing whose reading
//! depends on `sql_mode` (no `"`, no backslash), so its classification is
//! [`classify_statement`](super::classify_statement) of those tokens.
//!
//! Owns: deciding that a text is plain and scanning it. Must not classify
//! (the full path's statement functions do), and must give up — `false`,
//! the full path then runs — on any byte whose token it does not know to
//! be exactly the full lexer's. `tests/fast_path.rs` compares both paths
//! on generated texts.

use crate::sql::lexer::{Token, TokenKind};

/// Byte classes of the fast scan.
const OTHER: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const SPACE: u8 = 3;
/// A byte that is a one-byte punctuation token whatever follows it here
/// (`.` only when no digit follows; checked at the dot).
const PUNCT: u8 = 4;
const QUOTE: u8 = 5;
const BACKTICK: u8 = 6;
const PLACEHOLDER: u8 = 7;
const DOT: u8 = 8;

const CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            LETTER
        } else if c.is_ascii_digit() {
            DIGIT
        } else {
            match c {
                // The full lexer's blanks (`is_space`).
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => SPACE,
                // No operator of two or three bytes starts with these,
                // and none of them opens or closes a comment here (`*/`
                // closes only an executable comment, which needs `/*`).
                b'=' | b',' | b'(' | b')' | b'*' | b'+' => PUNCT,
                b'\'' => QUOTE,
                b'`' => BACKTICK,
                b'?' => PLACEHOLDER,
                b'.' => DOT,
                _ => OTHER,
            }
        };
        b += 1;
    }
    t
};

fn is_ident(b: u8) -> bool {
    matches!(CLASS[b as usize], LETTER | DIGIT)
}

/// Scans `src` into `tokens` (cleared first) when it is a plain text;
/// `false` (tokens unspecified) when it is not, or holds no token.
pub(super) fn scan(src: &[u8], tokens: &mut Vec<Token>) -> bool {
    tokens.clear();
    let mut pos = 0;
    let len = src.len();
    while pos < len {
        let start = pos;
        let kind = match CLASS[src[pos] as usize] {
            SPACE => {
                pos += 1;
                continue;
            }
            LETTER => {
                pos += 1;
                while pos < len && is_ident(src[pos]) {
                    pos += 1;
                }
                // A multi-byte character continues the word; a quote right
                // after a word may make it a literal (`X'1F'`, `N'a'`,
                // `_utf8mb4'a'`).
                if pos < len && (src[pos] >= 0x80 || src[pos] == b'\'' || src[pos] == b'"') {
                    return false;
                }
                TokenKind::Word
            }
            DIGIT => {
                while pos < len && CLASS[src[pos] as usize] == DIGIT {
                    pos += 1;
                }
                if pos < len && src[pos] == b'.' {
                    pos += 1;
                    while pos < len && CLASS[src[pos] as usize] == DIGIT {
                        pos += 1;
                    }
                }
                // Exponents, `0x…`/`0b…`, `1abc` (a word) and `1.2.3` are
                // the full lexer's.
                if pos < len
                    && (is_ident(src[pos]) || src[pos] >= 0x80 || matches!(src[pos], b'.' | b'\''))
                {
                    return false;
                }
                TokenKind::Number
            }
            PUNCT => {
                pos += 1;
                TokenKind::Punct
            }
            DOT => {
                // `.5` may be a number (depending on what precedes it).
                if pos + 1 < len && CLASS[src[pos + 1] as usize] == DIGIT {
                    return false;
                }
                pos += 1;
                TokenKind::Punct
            }
            PLACEHOLDER => {
                pos += 1;
                TokenKind::Placeholder
            }
            QUOTE => {
                // `'…'` without backslash or doubled quote: the same string
                // under every `sql_mode`.
                pos += 1;
                loop {
                    match src.get(pos) {
                        None | Some(b'\\') => return false,
                        Some(b'\'') => break,
                        Some(_) => pos += 1,
                    }
                }
                pos += 1;
                if src.get(pos) == Some(&b'\'') {
                    return false;
                }
                TokenKind::String
            }
            BACKTICK => {
                pos += 1;
                loop {
                    match src.get(pos) {
                        None => return false,
                        Some(b'`') => break,
                        Some(_) => pos += 1,
                    }
                }
                pos += 1;
                if src.get(pos) == Some(&b'`') {
                    return false;
                }
                TokenKind::QuotedIdent
            }
            _ => return false,
        };
        tokens.push(Token {
            kind,
            start,
            end: pos,
            unterminated: false,
        });
    }
    !tokens.is_empty()
}
