//! The tokens of the last classified COM_QUERY text, kept for the next
//! pass over the same text (the sharding router's shape scan), so that a
//! sharded statement is lexed once, not twice.
//!
//! Owns: [`KeptTokens`]: classifying into a reused token vector and
//! handing the tokens out only for the very text they came from, and only
//! when they are what a default-mode lexer pass would give (every
//! significant token, default `sql_mode` reading). Must not decide
//! anything from the tokens (that stays with their users).

use bytes::Bytes;

use super::{classify_into, Classified};
use crate::sql::lexer::{LexOptions, Token};

/// A text's significant tokens (no comments or blanks), with the text.
#[derive(Debug, Default)]
pub struct KeptTokens {
    tokens: Vec<Token>,
    /// The text the tokens index; empty when they are not reusable.
    source: Bytes,
    reusable: bool,
}

impl KeptTokens {
    /// [`classify_bytes`](super::classify_bytes) of `text` (a COM_QUERY
    /// payload without its command byte), keeping the tokens.
    pub fn classify(&mut self, text: Bytes, opts: LexOptions) -> Classified {
        let (c, dropped_terminator) = classify_into(&text, opts, &mut self.tokens);
        self.reusable = !dropped_terminator && opts == LexOptions::default();
        self.source = text;
        c
    }

    /// Forgets the kept tokens (their text is no longer the statement's).
    pub fn clear(&mut self) {
        self.reusable = false;
        self.source = Bytes::new();
    }

    /// The tokens of `text`, when they were kept for exactly that text:
    /// every non-trivia token a default [`Lexer`](crate::sql::Lexer) pass
    /// over it yields, in order.
    pub fn for_text(&self, text: &str) -> Option<&[Token]> {
        (self.reusable && self.source[..] == *text.as_bytes()).then_some(&self.tokens[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Lexer;

    /// Generated texts: the kept tokens are a default lexer pass's
    /// significant tokens whenever they are handed out, and they are not
    /// handed out for another text, another `sql_mode` reading or a text
    /// whose terminator the classifier left out.
    #[test]
    fn kept_tokens_are_a_default_lexer_pass() {
        let parts = [
            "SELECT c FROM t WHERE id = 5",
            " /* c */ ",
            "'a\\'b'",
            "\"q\"",
            ";",
            "-- x\n",
            "`t`",
            "?",
            "BEGIN",
            "x",
        ];
        let mut kept = KeptTokens::default();
        let mut handed_out = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    let text = format!("{a}{b}{c}");
                    for opts in [
                        LexOptions::default(),
                        LexOptions {
                            ansi_quotes: true,
                            ..Default::default()
                        },
                    ] {
                        let got = kept.classify(Bytes::from(text.clone()), opts);
                        assert_eq!(got, super::super::classify_bytes(text.as_bytes(), opts));
                        assert!(kept.for_text(&format!("{text} ")).is_none());
                        let Some(tokens) = kept.for_text(&text) else {
                            assert!(opts != LexOptions::default() || text.contains(';'));
                            continue;
                        };
                        handed_out += 1;
                        let want: Vec<Token> = Lexer::new(text.as_bytes())
                            .filter(|t| !t.is_trivia())
                            .collect();
                        assert_eq!(tokens, &want[..], "{text}");
                    }
                    kept.clear();
                    assert!(kept.for_text(&text).is_none());
                }
            }
        }
        assert!(handed_out > 500, "{handed_out}");
    }
}
