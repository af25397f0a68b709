//! SQL text to facts.
//!
//! Owns: turning SQL text into facts the router can act on, and splicing
//! replacements back into the text:
//! - [`lexer`]: the hand-written MySQL scanner (the hot path);
//! - [`classify`]: statement kind, flags, routing hints, statement
//!   splitting, fingerprints and `SET` assignments, from tokens alone, for
//!   every statement including those sqlparser rejects;
//! - [`parse`]: the sqlparser facade (the only user of sqlparser) and
//!   table references with byte spans;
//! - [`rewrite`]: byte-exact splicing.
//!
//! Must not touch: routing decisions, sessions, the network. Nothing in
//! this module panics on any input text.
//!
//! The sqlparser AST is re-exported as [`ast`] so that the version pin
//! (`=0.64.0`) is visible in exactly one place; prefer the facade's own
//! types where they suffice.

pub mod classify;
pub mod database_names;
pub mod lexer;
pub mod parse;
pub mod rewrite;
pub mod search;

pub use sqlparser::ast;

pub use classify::{
    classify, classify_bytes, fingerprint, set_assignments, split_statements,
    split_statements_bytes, Classified, Fingerprint, Literal, LiteralKind, RouteHint,
    SetAssignment, SetKind, SetScope, ShowKind, StatementFlags, StatementKind, TransactionScope,
};
pub use lexer::{LexOptions, Lexer, Token, TokenKind};
pub use parse::{parse, table_references, ParseError, TableRef};
pub use rewrite::{apply_splices, Splice, SpliceError};
