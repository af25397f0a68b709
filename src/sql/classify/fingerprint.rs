//! [`fingerprint`]: a plan-cache key of a statement with its literals
//! lifted out, and the literals' kinds and positions.
//!
//! Owns: [`Fingerprint`], [`Literal`], [`LiteralKind`]. Must not plan or
//! cache (the router does).

use super::*;

/// A plan-cache key: the statement text with every literal replaced by
/// `?`, plus the literals that were lifted out.
///
/// Normalization is deliberately shallow, so that it stays one pass over
/// the tokens:
/// - Every run of whitespace and ordinary comments between two tokens
///   becomes one space; none is added where the original had none
///   (`id=1` and `id = 1` give different keys, both stable).
/// - Keywords and identifiers are kept as written (no case folding).
/// - Optimizer hints `/*+ … */`, executable-comment delimiters and
///   `/* shardcat:… */` routing hints are kept verbatim, since they change
///   what the statement means or where it goes.
/// - `?` placeholders stay `?`; `IN (1, 2)` and `IN (1, 2, 3)` differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The normalized text.
    pub text: String,
    /// The literals in order of appearance.
    pub literals: Vec<Literal>,
}

/// A literal lifted out of a statement by [`fingerprint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// What kind of literal.
    pub kind: LiteralKind,
    /// Byte range in the original text (a string's range includes its
    /// quotes and charset introducer).
    pub span: Range<usize>,
}

impl Literal {
    /// The literal as written in `sql`.
    pub fn text<'s>(&self, sql: &'s str) -> &'s str {
        sql.get(self.span.clone()).unwrap_or_default()
    }
}

/// The kind of a [`Literal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// A quoted string, with or without introducer.
    String,
    /// An integer, decimal or float.
    Number,
    /// `0x…` or `X'…'`.
    Hex,
    /// `0b…` or `b'…'`.
    Bit,
}

/// One piece of a normalized statement, in order.
enum Piece<'s> {
    /// One space where the original had whitespace or comments.
    Space,
    /// A literal, written `?`.
    Literal(Literal),
    /// A token kept as written.
    Text(&'s str),
}

/// The one normalization pass behind [`fingerprint`] and [`digest_hash`].
fn normalize<'s>(sql: &'s str, mut emit: impl FnMut(Piece<'s>)) {
    let src = sql.as_bytes();
    let mut last_end: Option<usize> = None;
    for tok in Lexer::new(src) {
        let literal = match tok.kind {
            TokenKind::Comment if parse_route_hint(tok.bytes(src)).is_none() => continue,
            TokenKind::String => Some(LiteralKind::String),
            TokenKind::Number => Some(LiteralKind::Number),
            TokenKind::HexNumber => Some(LiteralKind::Hex),
            TokenKind::BitNumber => Some(LiteralKind::Bit),
            _ => None,
        };
        if last_end.is_some_and(|end| end < tok.start) {
            emit(Piece::Space);
        }
        match literal {
            Some(kind) => emit(Piece::Literal(Literal {
                kind,
                span: tok.span(),
            })),
            None => emit(Piece::Text(tok.text(sql))),
        }
        last_end = Some(tok.end);
    }
}

/// Computes the [`Fingerprint`] of `sql` (all statements of it).
pub fn fingerprint(sql: &str) -> Fingerprint {
    let mut text = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    normalize(sql, |piece| match piece {
        Piece::Space => text.push(' '),
        Piece::Literal(l) => {
            text.push('?');
            literals.push(l);
        }
        Piece::Text(t) => text.push_str(t),
    });
    Fingerprint { text, literals }
}

/// [`digest_hash`] of `sql` from the tokens its classification kept
/// (`tokens`: every non-trivia token of a default lexer pass over `sql`,
/// see `KeptTokens::for_text`), without lexing it again: the normalized
/// text is built in `buf` and hashed in one call (XXH3 of the whole equals
/// the streaming hash of its pieces). `None` when the text may hold a
/// comment the digest keeps (a routing or optimizer hint, an executable
/// comment: all begin with `/*`), which the kept tokens lack.
pub fn digest_hash_of_tokens(sql: &str, tokens: &[Token], buf: &mut Vec<u8>) -> Option<u64> {
    let bytes = sql.as_bytes();
    if memchr::memchr_iter(b'/', bytes).any(|i| bytes.get(i + 1) == Some(&b'*')) {
        return None;
    }
    buf.clear();
    let src = sql.as_bytes();
    let piece = |from: usize, to: usize| src.get(from..to).unwrap_or_default();
    // The normalized text is the original wherever tokens are separated by
    // nothing or by one space: such runs are copied whole, not token by
    // token. `run`: the start of the run that ends at `last_end`.
    let mut run: Option<usize> = None;
    let mut last_end: Option<usize> = None;
    for tok in tokens {
        if tok.is_trivia() {
            return None;
        }
        let from = match last_end {
            None => tok.start,
            Some(end)
                if end == tok.start || (end + 1 == tok.start && src.get(end) == Some(&b' ')) =>
            {
                run.unwrap_or(end)
            }
            Some(end) => {
                if let Some(r) = run.take() {
                    buf.extend_from_slice(piece(r, end));
                }
                buf.push(b' ');
                tok.start
            }
        };
        if tok.is_literal() {
            buf.extend_from_slice(piece(from, tok.start));
            buf.push(b'?');
            run = None;
        } else {
            run = Some(from);
        }
        last_end = Some(tok.end);
    }
    if let (Some(r), Some(end)) = (run, last_end) {
        buf.extend_from_slice(piece(r, end));
    }
    Some(xxhash_rust::xxh3::xxh3_64(buf))
}

/// A 64-bit hash of `fingerprint(sql).text`, computed without building the
/// text (query digests count every statement by it).
pub fn digest_hash(sql: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    normalize(sql, |piece| match piece {
        Piece::Space => h.update(b" "),
        Piece::Literal(_) => h.update(b"?"),
        Piece::Text(t) => h.update(t.as_bytes()),
    });
    h.digest()
}
