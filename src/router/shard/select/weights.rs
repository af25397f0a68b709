//! The hidden columns that let the server define string order and
//! equality across shards: for a key expression `e`, `WEIGHT_STRING(e)`
//! (the collation's sort key as bytes) and the weight of one space in
//! `e`'s collation when that collation is PAD SPACE (NULL under NO PAD),
//! which the merge uses to pad the shorter weight as the server does.
//! The merge uses them only when the shard's column definition says the
//! key is a collated string (numbers, times and binary strings compare
//! natively).
//!
//! For an ENUM/SET key the hidden column is `(e)+0` instead (member
//! position / bitmask), the server's order for those types.
//!
//! Owns: the text of those columns. Must not decide which keys need
//! them (`rows` and `groups` do) or how they are compared
//! (`crate::merge::compare`).

use super::Piece;

/// `WEIGHT_STRING(<src>)` and the PAD SPACE probe
/// `WEIGHT_STRING(IF(LEFT(CONCAT(' ', <src>), 1) = '', LEFT(CONCAT(' ', <src>), 1), NULL))`:
/// a space with `src`'s collation, equal to '' exactly when the collation
/// pads.
pub(super) fn weight_pieces(src: &[Piece]) -> (Vec<Piece>, Vec<Piece>) {
    let text = |s: &str| Piece::Text(s.to_owned());
    let mut weight = vec![text("WEIGHT_STRING(")];
    weight.extend(src.iter().cloned());
    weight.push(text(")"));
    let space = |out: &mut Vec<Piece>| {
        out.push(text("LEFT(CONCAT(' ', "));
        out.extend(src.iter().cloned());
        out.push(text("), 1)"));
    };
    let mut pad = vec![text("WEIGHT_STRING(IF(")];
    space(&mut pad);
    pad.push(text(" = '', "));
    space(&mut pad);
    pad.push(text(", NULL))"));
    (weight, pad)
}

/// `(<src>)+0`: an ENUM member's position in the definition (0 for the
/// invalid value ''), a SET's bitmask: how the server orders them.
pub(super) fn enum_index_pieces(src: &[Piece]) -> Vec<Piece> {
    let mut out = vec![Piece::Text("(".to_owned())];
    out.extend(src.iter().cloned());
    out.push(Piece::Text(")+0".to_owned()));
    out
}
