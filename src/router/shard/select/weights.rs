//! The hidden columns that let the server define string order and
//! equality across shards: for a key expression `e`, `WEIGHT_STRING(e)`
//! (the collation's sort key as bytes; of `RTRIM(e)` under PAD SPACE) and the weight of one space in
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

/// The weight `WEIGHT_STRING(<src>)` (`trimmed`: `IF(COLLATION(<src>) =
/// 'binary', NULL, IF(<pads>, WEIGHT_STRING(RTRIM(<src>)),
/// WEIGHT_STRING(<src>)))`) and the PAD SPACE probe
/// `WEIGHT_STRING(IF(<pads>, LEFT(CONCAT(' ', <src>), 1), NULL))`, where
/// `<pads>` is `LEFT(CONCAT(' ', <src>), 1) = ''`: a space with `src`'s
/// collation, equal to '' exactly when the collation pads.
///
/// Under PAD SPACE trailing spaces never change equality or order, so a
/// trimmed weight is taken without them: values the collation calls equal
/// (`'a'`, `'a '`) then have byte-equal weights, and a shard's own
/// DISTINCT or UNION over the hidden columns keeps one row for them, as
/// the server would (otherwise both take places under a pushed-down
/// LIMIT). The merge still pads the shorter weight, so `'a\t' < 'a'`.
/// Values without a collation (numbers, times, binary strings: compared
/// natively) get NULL, so equal values of them (`1.5`/`1.50`, `-0`/`0`,
/// a DATE and a DATETIME in a UNION) stay one row there too.
/// Needed only where the shard itself removes duplicates over the hidden
/// columns (DISTINCT, UNION).
pub(super) fn weight_pieces(src: &[Piece], trimmed: bool) -> (Vec<Piece>, Vec<Piece>) {
    let text = |s: &str| Piece::Text(s.to_owned());
    let space = |out: &mut Vec<Piece>| {
        out.push(text("LEFT(CONCAT(' ', "));
        out.extend(src.iter().cloned());
        out.push(text("), 1)"));
    };
    let mut weight = Vec::new();
    if trimmed {
        weight.push(text("IF(COLLATION("));
        weight.extend(src.iter().cloned());
        weight.push(text(") = 'binary', NULL, IF("));
        space(&mut weight);
        weight.push(text(" = '', WEIGHT_STRING(RTRIM("));
        weight.extend(src.iter().cloned());
        weight.push(text(")), WEIGHT_STRING("));
        weight.extend(src.iter().cloned());
        weight.push(text(")))"));
    } else {
        weight.push(text("WEIGHT_STRING("));
        weight.extend(src.iter().cloned());
        weight.push(text(")"));
    }
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
