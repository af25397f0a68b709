//! [`split_statements`]: top-level `;` splitting that knows strings,
//! comments, executable comments and stored-program bodies.
//!
//! Owns: statement boundaries. Must not classify the pieces (see
//! [`classify`](super::classify)).

use super::*;

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
pub(super) struct Splitter {
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
    pub(super) fn is_terminator(&mut self, tok: &Token, src: &[u8]) -> bool {
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
        if self.seen > 1 && self.mode == SplitMode::Plain {
            // Past the first word of a statement without a body, words
            // change nothing (no `END` is pending outside a body).
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
