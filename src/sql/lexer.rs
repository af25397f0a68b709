//! Hand-written MySQL lexical scanner: the hot path of statement
//! classification.
//!
//! Owns: cutting SQL bytes into [`Token`]s with byte spans, following the
//! MySQL lexer (`sql_lex.cc`) closely enough to know where strings,
//! comments, identifiers and statement separators begin and end. MySQL
//! executable comments (`/*! … */`, `/*!40101 … */`, MariaDB `/*M!… */`)
//! are *opened* and *closed* by trivia tokens while their content is scanned
//! as ordinary SQL, because mysqldump hides real statements in them.
//!
//! Must not touch: any meaning beyond the lexical level (keywords are plain
//! [`TokenKind::Word`]s here), allocation on the hot path, panics. The
//! scanner never panics and always advances by at least one byte per token,
//! so it terminates on any input; unterminated strings, identifiers and
//! comments run to the end of the input and are marked
//! [`Token::unterminated`].
//!
//! The scanner works on bytes, not `&str`, because a COM_QUERY payload is
//! not necessarily UTF-8 (binary string literals, latin1 clients). Every
//! token boundary falls on an ASCII byte or at the end of input, so for
//! `&str` input every span is a valid `char` boundary.

use std::borrow::Cow;
use std::ops::Range;

/// The two `sql_mode` settings that change how MySQL cuts text into tokens.
///
/// The default matches a server with the default `sql_mode`. A session that
/// has set `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES` must be scanned with the
/// matching option, or a string like `'a\'` is misread (and with it every
/// statement boundary after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LexOptions {
    /// `NO_BACKSLASH_ESCAPES`: a backslash inside a string is an ordinary
    /// character.
    pub no_backslash_escapes: bool,
    /// `ANSI_QUOTES`: `"x"` is a quoted identifier, not a string.
    pub ansi_quotes: bool,
}

/// What a token is, lexically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare keyword or identifier (`SELECT`, `t1`, `1abc`, `$x`).
    Word,
    /// A `` `quoted` `` identifier (or `"quoted"` under `ANSI_QUOTES`).
    QuotedIdent,
    /// A string literal: `'…'`, `"…"`, `N'…'`, or with a charset
    /// introducer `_utf8mb4'…'` (the span covers the introducer).
    String,
    /// An integer, decimal or float literal: `1`, `1.5`, `.5`, `1e-3`.
    Number,
    /// A hexadecimal literal: `0x1F` or `X'1F'`.
    HexNumber,
    /// A bit-value literal: `0b101` or `b'101'`.
    BitNumber,
    /// A user variable: `@x`, `` @`x` ``, `@'x'`, `@"x"`.
    UserVar,
    /// A system variable: `@@x`, `@@session.x`, `@@global.x`.
    SystemVar,
    /// A `?` parameter placeholder.
    Placeholder,
    /// An operator or punctuation, one to three bytes (`;`, `(`, `:=`,
    /// `<=>`, `->>`). Any other byte that starts no other token is also a
    /// one-byte `Punct`.
    Punct,
    /// A comment: `-- …`, `# …` or `/* … */`. Trivia.
    Comment,
    /// An optimizer hint comment `/*+ … */`. Trivia.
    Hint,
    /// The opening `/*!`, `/*!40101` or `/*M!100101` of an executable
    /// comment. Trivia: the tokens that follow are the comment's content.
    ExecCommentOpen,
    /// The `*/` closing an executable comment. Trivia.
    ExecCommentClose,
}

/// One token: its kind and its byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// A string, quoted identifier, quoted variable name or block comment
    /// that ran to the end of the input without its closing delimiter.
    pub unterminated: bool,
}

impl Token {
    /// The byte range of the token.
    pub fn span(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The token's bytes in `src` (the text it was scanned from).
    pub fn bytes<'s>(&self, src: &'s [u8]) -> &'s [u8] {
        src.get(self.start..self.end).unwrap_or_default()
    }

    /// The token's text in `src` (the text it was scanned from).
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        src.get(self.start..self.end).unwrap_or_default()
    }

    /// Comments, hints and executable-comment delimiters: tokens with no
    /// syntactic weight.
    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Comment
                | TokenKind::Hint
                | TokenKind::ExecCommentOpen
                | TokenKind::ExecCommentClose
        )
    }

    /// A literal value (string, number, hex or bit literal).
    pub fn is_literal(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::String | TokenKind::Number | TokenKind::HexNumber | TokenKind::BitNumber
        )
    }

    /// A [`TokenKind::Word`] equal to `keyword`, ignoring ASCII case.
    /// `keyword` should be written in upper case.
    pub fn is_keyword(&self, src: &[u8], keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.bytes(src).eq_ignore_ascii_case(keyword.as_bytes())
    }

    /// A [`TokenKind::Punct`] equal to `punct`.
    pub fn is_punct(&self, src: &[u8], punct: &str) -> bool {
        self.kind == TokenKind::Punct && self.bytes(src) == punct.as_bytes()
    }
}

/// Scans all tokens of `sql`, trivia included, with default options.
pub fn tokenize(sql: &str) -> Vec<Token> {
    Lexer::new(sql.as_bytes()).collect()
}

/// The scanner, as an iterator of tokens (trivia included).
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    /// Open executable comments; `*/` closes one while this is positive.
    exec_depth: u32,
    /// End offset and kind of the previous non-trivia token, to tell the
    /// `.` of `t.5` from the `.5` of a number.
    prev: Option<(usize, TokenKind)>,
    opts: LexOptions,
}

impl<'a> Lexer<'a> {
    /// A scanner over `src` with the default `sql_mode`.
    pub fn new(src: &'a [u8]) -> Self {
        Self::with_options(src, LexOptions::default())
    }

    /// A scanner over `src` with explicit `sql_mode` options.
    pub fn with_options(src: &'a [u8], opts: LexOptions) -> Self {
        Lexer {
            src,
            pos: 0,
            exec_depth: 0,
            prev: None,
            opts,
        }
    }

    /// True while inside an executable comment that has not been closed.
    pub fn in_executable_comment(&self) -> bool {
        self.exec_depth > 0
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if is_space(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn skip_ident_chars(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if is_ident_char(b) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn skip_digits(&mut self) -> usize {
        let from = self.pos;
        while self.peek(0).is_ascii_digit() {
            self.pos += 1;
        }
        self.pos - from
    }

    /// Scans a quoted run starting at the opening `quote` at `self.pos`.
    /// A doubled quote is an escaped quote; a backslash escapes the next
    /// byte when `backslash` is set. Returns `true` when unterminated.
    fn scan_quoted(&mut self, quote: u8, backslash: bool) -> bool {
        self.pos += 1;
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                return true;
            };
            if b == quote {
                if self.peek(1) == quote {
                    self.pos += 2;
                    continue;
                }
                self.pos += 1;
                return false;
            }
            if backslash && b == b'\\' {
                self.pos = (self.pos + 2).min(self.src.len());
                continue;
            }
            self.pos += 1;
        }
    }

    fn string_escapes(&self) -> bool {
        !self.opts.no_backslash_escapes
    }

    /// Scans a string literal (or `"ident"` under `ANSI_QUOTES`).
    fn scan_string_or_ansi_ident(&mut self, quote: u8) -> (TokenKind, bool) {
        if quote == b'"' && self.opts.ansi_quotes {
            (TokenKind::QuotedIdent, self.scan_quoted(b'"', false))
        } else {
            let escapes = self.string_escapes();
            (TokenKind::String, self.scan_quoted(quote, escapes))
        }
    }

    /// Skips to just past the next `*/`; returns `true` if there is none.
    fn skip_block_comment_body(&mut self) -> bool {
        while self.pos < self.src.len() {
            if self.src[self.pos] == b'*' && self.peek(1) == b'/' {
                self.pos += 2;
                return false;
            }
            self.pos += 1;
        }
        true
    }

    fn skip_line(&mut self) {
        while let Some(&b) = self.src.get(self.pos) {
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    /// `/*` at `self.pos`: a comment, a hint or an executable comment.
    fn scan_block_comment(&mut self) -> (TokenKind, bool) {
        let third = self.peek(2);
        let mariadb_exec = third == b'M' && self.peek(3) == b'!';
        if third == b'!' || mariadb_exec {
            self.pos += if mariadb_exec { 4 } else { 3 };
            // Version number: five digits (MySQL), or six (MariaDB 10+,
            // MySQL 8.4+).
            let digits = (0..6)
                .take_while(|&i| self.peek(i).is_ascii_digit())
                .count();
            if digits >= 5 {
                self.pos += digits;
            }
            self.exec_depth = self.exec_depth.saturating_add(1);
            return (TokenKind::ExecCommentOpen, false);
        }
        let kind = if third == b'+' {
            TokenKind::Hint
        } else {
            TokenKind::Comment
        };
        self.pos += 2;
        (kind, self.skip_block_comment_body())
    }

    /// `@` at `self.pos`: a user or system variable, or a lone `@`.
    fn scan_variable(&mut self) -> (TokenKind, bool) {
        if self.peek(1) == b'@' {
            self.pos += 2;
            let mut unterminated = self.scan_variable_name_part(false);
            // `@@session.x`, `@@global.keycache1.key_buffer_size`.
            while self.peek(0) == b'.' && (is_ident_char(self.peek(1)) || self.peek(1) == b'`') {
                self.pos += 1;
                unterminated |= self.scan_variable_name_part(false);
            }
            return (TokenKind::SystemVar, unterminated);
        }
        let next = self.peek(1);
        if matches!(next, b'`' | b'\'' | b'"') || is_ident_char(next) || next == b'.' {
            self.pos += 1;
            let unterminated = self.scan_variable_name_part(true);
            return (TokenKind::UserVar, unterminated);
        }
        self.pos += 1;
        (TokenKind::Punct, false)
    }

    /// One part of a variable name: quoted, or a run of name bytes. User
    /// variable names may also contain `.`.
    fn scan_variable_name_part(&mut self, user: bool) -> bool {
        match self.peek(0) {
            b'`' => self.scan_quoted(b'`', false),
            q @ (b'\'' | b'"') if user => {
                let escapes = self.string_escapes();
                self.scan_quoted(q, escapes)
            }
            _ => {
                while let Some(&b) = self.src.get(self.pos) {
                    if is_ident_char(b) || (user && b == b'.') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                false
            }
        }
    }

    /// A digit at `self.pos` (or `.` followed by a digit): a number, a
    /// `0x`/`0b` literal, or an identifier that starts with digits.
    fn scan_number(&mut self) -> TokenKind {
        let start = self.pos;
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'b') {
            let hex = self.peek(1) == b'x';
            self.pos += 2;
            let from = self.pos;
            while let Some(&b) = self.src.get(self.pos) {
                let ok = if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b == b'0' || b == b'1'
                };
                if !ok {
                    break;
                }
                self.pos += 1;
            }
            if self.pos > from && !is_ident_char(self.peek(0)) {
                return if hex {
                    TokenKind::HexNumber
                } else {
                    TokenKind::BitNumber
                };
            }
            // `0xZZ`, `0b2`: an identifier.
            self.pos = start;
        }
        self.skip_digits();
        let mut has_fraction_or_exponent = false;
        if self.peek(0) == b'.' {
            self.pos += 1;
            self.skip_digits();
            has_fraction_or_exponent = true;
        }
        if matches!(self.peek(0), b'e' | b'E') {
            let sign = usize::from(matches!(self.peek(1), b'+' | b'-'));
            if self.peek(1 + sign).is_ascii_digit() {
                self.pos += 1 + sign;
                self.skip_digits();
                has_fraction_or_exponent = true;
            }
        }
        if !has_fraction_or_exponent && is_ident_char(self.peek(0)) {
            // `1abc` is an identifier in MySQL.
            self.skip_ident_chars();
            return TokenKind::Word;
        }
        TokenKind::Number
    }

    /// An identifier start at `self.pos`: a word, or one of the prefixed
    /// literals `X'…'`, `B'…'`, `N'…'`, `_charset'…'`.
    fn scan_word(&mut self) -> (TokenKind, bool) {
        let first = self.peek(0);
        if self.peek(1) == b'\'' {
            match first {
                b'x' | b'X' => {
                    self.pos += 1;
                    return (TokenKind::HexNumber, self.scan_quoted(b'\'', false));
                }
                b'b' | b'B' => {
                    self.pos += 1;
                    return (TokenKind::BitNumber, self.scan_quoted(b'\'', false));
                }
                b'n' | b'N' => {
                    self.pos += 1;
                    let escapes = self.string_escapes();
                    return (TokenKind::String, self.scan_quoted(b'\'', escapes));
                }
                _ => {}
            }
        }
        self.skip_ident_chars();
        let next = self.peek(0);
        let quote_follows = next == b'\'' || (next == b'"' && !self.opts.ansi_quotes);
        if first == b'_' && quote_follows {
            // Charset introducer: `_utf8mb4'x'`, `_binary"x"`.
            let escapes = self.string_escapes();
            return (TokenKind::String, self.scan_quoted(next, escapes));
        }
        (TokenKind::Word, false)
    }

    fn scan_punct(&mut self) -> TokenKind {
        const THREE: [&[u8]; 2] = [b"<=>", b"->>"];
        const TWO: [&[u8]; 11] = [
            b":=", b"<=", b">=", b"<>", b"!=", b"<<", b">>", b"&&", b"||", b"->", b"\\N",
        ];
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let len = if THREE.iter().any(|op| rest.starts_with(op)) {
            3
        } else if TWO.iter().any(|op| rest.starts_with(op)) {
            2
        } else {
            1
        };
        self.pos = (self.pos + len).min(self.src.len());
        TokenKind::Punct
    }

    fn dot_starts_number(&self) -> bool {
        if !self.peek(1).is_ascii_digit() {
            return false;
        }
        // `t.5` is a qualified name, `t .5` and `= .5` are numbers.
        !matches!(self.prev, Some((end, TokenKind::Word | TokenKind::QuotedIdent)) if end == self.pos)
    }

    fn scan_token(&mut self) -> (TokenKind, bool) {
        let b = self.peek(0);
        match b {
            b'\'' | b'"' => self.scan_string_or_ansi_ident(b),
            b'`' => (TokenKind::QuotedIdent, self.scan_quoted(b'`', false)),
            b'-' if self.peek(1) == b'-' && is_space_or_control(self.peek(2)) => {
                self.skip_line();
                (TokenKind::Comment, false)
            }
            b'#' => {
                self.skip_line();
                (TokenKind::Comment, false)
            }
            b'/' if self.peek(1) == b'*' => self.scan_block_comment(),
            b'*' if self.peek(1) == b'/' && self.exec_depth > 0 => {
                self.pos += 2;
                self.exec_depth -= 1;
                (TokenKind::ExecCommentClose, false)
            }
            b'@' => self.scan_variable(),
            b'?' => {
                self.pos += 1;
                (TokenKind::Placeholder, false)
            }
            b'0'..=b'9' => (self.scan_number(), false),
            b'.' if self.dot_starts_number() => (self.scan_number(), false),
            _ if is_ident_char(b) => self.scan_word(),
            _ => (self.scan_punct(), false),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        self.skip_whitespace();
        if self.at_end() {
            return None;
        }
        let start = self.pos;
        let (kind, unterminated) = self.scan_token();
        // Every branch consumes at least one byte; this keeps the
        // guarantee even if a branch is changed carelessly.
        if self.pos <= start {
            self.pos = start + 1;
        }
        let end = self.pos.min(self.src.len());
        let token = Token {
            kind,
            start,
            end,
            unterminated,
        };
        if !token.is_trivia() {
            self.prev = Some((end, kind));
        }
        Some(token)
    }
}

/// Bytes that may appear in an unquoted identifier: ASCII letters, digits,
/// `_`, `$`, and every byte of a multi-byte UTF-8 character.
pub fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What may follow `--` for it to start a comment (end of input counts).
fn is_space_or_control(b: u8) -> bool {
    is_space(b) || b.is_ascii_control()
}

/// The name inside a quoted identifier or string token, with the quotes
/// removed and doubled quotes (and, for strings, backslash escapes of the
/// quote and of the backslash) collapsed. A bare word is returned as is.
/// Invalid UTF-8 is replaced.
pub fn unquote(text: &[u8]) -> Cow<'_, str> {
    let Some((&quote, rest)) = text.split_first() else {
        return Cow::Borrowed("");
    };
    if !matches!(quote, b'`' | b'\'' | b'"') {
        return String::from_utf8_lossy(text);
    }
    let inner = rest.strip_suffix(&[quote]).unwrap_or(rest);
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        if b == quote && inner.get(i + 1) == Some(&quote) {
            out.push(quote);
            i += 2;
        } else if quote != b'`'
            && b == b'\\'
            && matches!(inner.get(i + 1), Some(b'\\' | b'\'' | b'"'))
        {
            out.extend(inner.get(i + 1));
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
#[path = "lexer_tests.rs"]
mod tests;
