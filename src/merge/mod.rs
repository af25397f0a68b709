//! Scatter-gather merging: turning the partial results of several shards
//! into exactly what one MySQL holding all the data would return.
//!
//! Owns: value ordering under MySQL's rules (`compare`), exact decimal
//! arithmetic for aggregates (`decimal`), row decoding (`row`), expressions
//! evaluated on merged rows such as a cross-shard HAVING (`eval`),
//! GROUP_CONCAT rebuilt from the values of finer shard groups (`group_concat`),
//! binary-protocol rows converted to and from text rows (`binary`). Must not do
//! I/O or choose shards; the merge operators that use these values
//! (`execute::merge`) feed rows in and take rows out.

pub mod binary;
pub mod compare;
pub mod decimal;
pub mod eval;
pub mod group_concat;
pub mod row;

pub use compare::{compare_rows, ResolvedKey, ValueOrder};
pub use row::{ColumnInfo, RowBuf, RowShape, RowValues, RowView, TextRow};
