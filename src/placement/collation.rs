//! Collation folding of string sharding keys.
//!
//! Owns: turning a string key into the bytes that get hashed, so that two
//! strings the database considers *equal* under the column's collation always
//! land on the same shard. Must not touch: hashing, slots, SQL parsing.
//!
//! # The one rule: fold at least as much as the database does
//!
//! If MySQL says `a = b` but `fold(a) != fold(b)`, a row written as `a` is
//! not found by a query for `b`: a correctness bug. If `fold(a) == fold(b)`
//! although MySQL says `a != b`, the two rows merely share a shard: harmless.
//! So wherever the exact collation rules are out of reach, the fold here errs
//! on the side of folding more. It never needs to (and does not) reproduce
//! the collation's *order*, only a superset of its *equalities*.
//!
//! # What is folded, exactly
//!
//! Binary comparison (`binary`, and every `*_bin` collation): nothing, the
//! bytes are hashed as they are. `_bin` collations other than `*_0900_bin`
//! and `*_nopad_bin` are PAD SPACE, so trailing spaces are still removed:
//! MySQL compares `'a' = 'a  '` as true under `utf8mb4_bin`.
//!
//! Every other supported collation first decodes the key as UTF-8 (invalid
//! sequences become U+FFFD), then, character by character:
//!
//! 1. Under `utf8mb4_general_ci` and `utf8mb4_unicode_ci` (and their
//!    `utf8mb3`/`nopad` variants), characters above U+FFFF become U+FFFD:
//!    those collations give every supplementary character (all emoji) the
//!    same weight.
//! 2. Decomposition: accent-insensitive and case-insensitive collations
//!    (`_ci`, `_ai_`) use the Unicode 14 compatibility decomposition (NFKD),
//!    case-sensitive ones (`_cs`) the canonical one (NFD), from the frozen
//!    tables in `fold_table.rs`: `é` → `e`, `Å` → `A`, `ﬁ` → `fi`, `Ａ` → `A`
//!    (fullwidth), `²` → `2`. Hangul syllables are left composed.
//! 3. Only for `_ci`: the letters without a decomposition `æ` → `ae`,
//!    `œ` → `oe`, `ø` → `o`, `đ` → `d`, `ł` → `l`, `ħ` → `h`, `ŧ` → `t`
//!    (and their capitals).
//! 4. Only for `_ci`: case folding, `lowercase(uppercase(c))` when the
//!    uppercase is a single character, else `lowercase(c)` (this makes
//!    `ſ`, `ı`, `ς`, `µ` meet `s`, `i`, `σ`, `μ`). Then `ß` (and `ẞ`) → `s`,
//!    and any run of `s` collapses to one `s`: `general_ci` says `ß = s` while
//!    the UCA collations say `ß = ss`, and only collapsing satisfies both.
//! 5. Ignorables are dropped: combining marks (Mn, Me), format characters
//!    (Cf: soft hyphen, zero-width joiners, BOM, …) and control characters
//!    (Cc, including TAB and LF).
//! 6. PAD SPACE collations: trailing U+0020 spaces are removed at the end.
//!
//! The fold of `_cs` collations keeps case but still strips accents (an
//! over-fold: it is the cheap way to make `é` and `e` + U+0301 meet, which
//! the UCA `_cs` collations consider equal).
//!
//! Language-tailored collations (`latin1_swedish_ci`, `utf8mb4_de_pb_0900_ai_ci`,
//! `utf8mb4_turkish_ci`, …) are rejected: their equalities (`ü = y` in
//! Swedish, …) are not a subset of this fold.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fold_table::{CANONICAL_BASE, COMPATIBILITY_BASE, IGNORABLE_RANGES};

/// A column collation, as named in the rule file (`collation = "..."`).
///
/// The default, `utf8mb4_general_ci`, folds a superset of the equalities of
/// every supported `_ci` collation, so it is the safe choice when unsure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Collation {
    name: String,
    folding: Folding,
}

/// What a collation considers equal, reduced to the switches the fold needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Folding {
    /// Compare bytes (or code points) only: no Unicode folding at all.
    pub exact: bool,
    /// `'ABC' = 'abc'`.
    pub case_insensitive: bool,
    /// Trailing spaces are ignored (`'a' = 'a  '`).
    pub pad_space: bool,
    /// All characters above U+FFFF compare equal (old MySQL collations).
    pub supplementary_as_replacement: bool,
}

/// The error for a collation name this module cannot fold safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "collation `{name}` is not supported for sharding keys; use one of \
     `binary`, `<charset>_bin`, `<charset>_general_ci`, `<charset>_unicode_ci`, \
     `<charset>_unicode_520_ci`, `<charset>_0900_ai_ci`, `<charset>_0900_as_ci`, \
     `<charset>_0900_as_cs`, `<charset>_0900_bin`, `<charset>_uca1400_ai_ci` (and \
     `nopad` variants), with charset utf8mb4, utf8mb3, utf8, latin1 or ascii"
)]
pub struct UnsupportedCollation {
    /// The name as written.
    pub name: String,
}

impl Default for Collation {
    fn default() -> Self {
        Collation {
            name: "utf8mb4_general_ci".to_owned(),
            folding: Folding {
                exact: false,
                case_insensitive: true,
                pad_space: true,
                supplementary_as_replacement: true,
            },
        }
    }
}

impl Collation {
    /// Parses a MySQL / MariaDB collation name (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self, UnsupportedCollation> {
        let unsupported = || UnsupportedCollation {
            name: name.to_owned(),
        };
        let lower = name.trim().to_ascii_lowercase();
        if lower == "binary" {
            return Ok(Collation {
                name: lower,
                folding: Folding {
                    exact: true,
                    case_insensitive: false,
                    pad_space: false,
                    supplementary_as_replacement: false,
                },
            });
        }
        let rest = ["utf8mb4_", "utf8mb3_", "utf8_", "latin1_", "ascii_"]
            .iter()
            .find_map(|charset| lower.strip_prefix(charset))
            .ok_or_else(unsupported)?;
        // (exact, case_insensitive, pad_space, supplementary_as_replacement)
        let (exact, case_insensitive, pad_space, supplementary) = match rest {
            "bin" => (true, false, true, false),
            "nopad_bin" | "0900_bin" => (true, false, false, false),
            "general_ci" | "general_mysql500_ci" | "unicode_ci" => (false, true, true, true),
            "general_nopad_ci" | "unicode_nopad_ci" => (false, true, false, true),
            "general_cs" => (false, false, true, true),
            "unicode_520_ci" | "uca1400_ai_ci" | "uca1400_as_ci" => (false, true, true, false),
            "unicode_520_nopad_ci" | "uca1400_nopad_ai_ci" | "uca1400_nopad_as_ci" => {
                (false, true, false, false)
            }
            "0900_ai_ci" | "0900_as_ci" => (false, true, false, false),
            "0900_as_cs" => (false, false, false, false),
            "uca1400_as_cs" | "uca1400_ai_cs" => (false, false, true, false),
            "uca1400_nopad_as_cs" | "uca1400_nopad_ai_cs" => (false, false, false, false),
            _ => return Err(unsupported()),
        };
        Ok(Collation {
            name: lower,
            folding: Folding {
                exact,
                case_insensitive,
                pad_space,
                supplementary_as_replacement: supplementary,
            },
        })
    }

    /// The collation's name, lowercased.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folding switches derived from the name.
    pub fn folding(&self) -> Folding {
        self.folding
    }

    /// Appends the folded form of `text` (see the module documentation) to
    /// `out`.
    pub fn fold_into(&self, text: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        if self.folding.exact {
            out.extend_from_slice(text);
        } else {
            let decoded = String::from_utf8_lossy(text);
            let mut folded = String::with_capacity(decoded.len());
            let mut sink = FoldSink {
                out: &mut folded,
                collapse_s: self.folding.case_insensitive,
            };
            for character in decoded.chars() {
                self.fold_char(character, &mut sink);
            }
            out.extend_from_slice(folded.as_bytes());
        }
        if self.folding.pad_space {
            let kept = out[start..]
                .iter()
                .rposition(|byte| *byte != b' ')
                .map_or(0, |last| last + 1);
            out.truncate(start + kept);
        }
    }

    /// The folded form of `text` as a new buffer.
    pub fn fold(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        self.fold_into(text, &mut out);
        out
    }

    fn fold_char(&self, character: char, sink: &mut FoldSink<'_>) {
        if character.is_ascii() {
            if !character.is_ascii_control() {
                sink.push(if self.folding.case_insensitive {
                    character.to_ascii_lowercase()
                } else {
                    character
                });
            }
            return;
        }
        let character =
            if self.folding.supplementary_as_replacement && u32::from(character) > 0xFFFF {
                char::REPLACEMENT_CHARACTER
            } else {
                character
            };
        let table = if self.folding.case_insensitive {
            COMPATIBILITY_BASE
        } else {
            CANONICAL_BASE
        };
        let mut scratch = [0u8; 4];
        let decomposed: &str = match lookup(table, character) {
            Some(base) => base,
            None => character.encode_utf8(&mut scratch),
        };
        for base in decomposed.chars() {
            if !self.folding.case_insensitive {
                if !is_ignorable(base) {
                    sink.push(base);
                }
                continue;
            }
            match extra_letter_fold(base) {
                Some(replacement) => replacement.chars().for_each(|c| sink.push(c)),
                None => case_fold(base, &mut |folded| {
                    // Case folding can produce new decomposable or ignorable
                    // characters (U+0130 → i + U+0307).
                    match lookup(COMPATIBILITY_BASE, folded) {
                        Some(again) => again
                            .chars()
                            .flat_map(char::to_lowercase)
                            .for_each(|c| sink.push_ci(c)),
                        None => sink.push_ci(folded),
                    }
                }),
            }
        }
    }
}

impl TryFrom<String> for Collation {
    type Error = UnsupportedCollation;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Collation::from_name(&name)
    }
}

impl From<Collation> for String {
    fn from(collation: Collation) -> String {
        collation.name
    }
}

impl fmt::Display for Collation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.name)
    }
}

/// Output of the fold, collapsing runs of `s` under case-insensitive
/// collations.
struct FoldSink<'a> {
    out: &'a mut String,
    collapse_s: bool,
}

impl FoldSink<'_> {
    fn push(&mut self, character: char) {
        if self.collapse_s && character == 's' && self.out.ends_with('s') {
            return;
        }
        self.out.push(character);
    }

    /// Push after case folding: drops ignorables, maps `ß` to `s`.
    fn push_ci(&mut self, character: char) {
        if is_ignorable(character) {
            return;
        }
        if character == 'ß' {
            self.push('s');
        } else {
            self.push(character);
        }
    }
}

fn lookup(table: &'static [(char, &'static str)], character: char) -> Option<&'static str> {
    table
        .binary_search_by_key(&character, |(from, _)| *from)
        .ok()
        .and_then(|index| table.get(index))
        .map(|(_, base)| *base)
}

fn is_ignorable(character: char) -> bool {
    let code = u32::from(character);
    let index = IGNORABLE_RANGES.partition_point(|(_, last)| *last < code);
    IGNORABLE_RANGES
        .get(index)
        .is_some_and(|(first, _)| *first <= code)
}

/// Letters that have no Unicode decomposition but that accent-insensitive
/// UCA collations treat as a base letter (or a letter pair).
fn extra_letter_fold(character: char) -> Option<&'static str> {
    Some(match character {
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'đ' | 'Đ' => "d",
        'ł' | 'Ł' => "l",
        'ħ' | 'Ħ' => "h",
        'ŧ' | 'Ŧ' => "t",
        _ => return None,
    })
}

fn case_fold(character: char, emit: &mut dyn FnMut(char)) {
    let mut upper = character.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) => single.to_lowercase().for_each(emit),
        _ => character.to_lowercase().for_each(emit),
    }
}

/// Ordering (and equality) weights approximating MariaDB's
/// `utf8mb4_general_ci`, for merging sorted and grouped results (not for
/// placement, which uses [`Collation::fold`]): per character, the base of
/// its canonical decomposition (accents dropped: `é` weighs as `E`),
/// upper-cased when that is one character; `ß` weighs as `S`; characters
/// above U+FFFF all weigh as U+FFFD; letters without a decomposition
/// (`Æ`, `Ø`, `Ł`, fullwidth forms) keep their own weight. With
/// `pad_space`, trailing spaces carry no weight.
pub fn general_ci_weights(text: &[u8]) -> Vec<u32> {
    let s = String::from_utf8_lossy(text);
    let mut out: Vec<u32> = Vec::with_capacity(s.len());
    for ch in s.chars() {
        if (ch as u32) > 0xFFFF {
            out.push(0xFFFD);
            continue;
        }
        let base = CANONICAL_BASE
            .binary_search_by_key(&ch, |&(c, _)| c)
            .ok()
            .and_then(|i| CANONICAL_BASE[i].1.chars().next())
            .unwrap_or(ch);
        let weight = if base == 'ß' || base == 'ẞ' {
            'S'
        } else {
            let mut up = base.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => base,
            }
        };
        out.push(weight as u32);
    }
    while out.last() == Some(&0x20) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(collation: &str, text: &str) -> String {
        let collation = Collation::from_name(collation).expect("supported collation");
        String::from_utf8(collation.fold(text.as_bytes())).expect("fold of UTF-8 is UTF-8")
    }

    #[test]
    fn general_ci_folds_case_accents_and_trailing_spaces() {
        for text in ["ABC", "abc", "abc  ", "Ábç", "ＡＢＣ"] {
            assert_eq!(fold("utf8mb4_general_ci", text), "abc", "{text:?}");
        }
        assert_eq!(fold("utf8mb4_general_ci", "  a b "), "  a b");
    }

    #[test]
    fn decomposed_and_composed_accents_meet() {
        assert_eq!(fold("utf8mb4_0900_ai_ci", "e\u{301}"), "e");
        assert_eq!(fold("utf8mb4_0900_ai_ci", "é"), "e");
        assert_eq!(fold("utf8mb4_0900_as_cs", "E\u{301}"), "E");
        assert_eq!(fold("utf8mb4_0900_as_cs", "É"), "E");
    }

    #[test]
    fn sharp_s_meets_both_s_and_ss() {
        let sharp = fold("utf8mb4_general_ci", "straße");
        assert_eq!(sharp, fold("utf8mb4_general_ci", "strasse"));
        assert_eq!(sharp, fold("utf8mb4_general_ci", "STRASE"));
        assert_eq!(sharp, fold("utf8mb4_general_ci", "STRAẞE"));
        assert_eq!(sharp, "strase");
    }

    #[test]
    fn special_case_mappings() {
        assert_eq!(fold("utf8mb4_unicode_ci", "İSTANBUL"), "istanbul");
        assert_eq!(fold("utf8mb4_unicode_ci", "ıstanbul"), "istanbul");
        assert_eq!(
            fold("utf8mb4_unicode_ci", "ΣΟΦΟΣ"),
            fold("utf8mb4_unicode_ci", "σοφος")
        );
        assert_eq!(fold("utf8mb4_unicode_ci", "Æsir Øl"), "aesir ol");
        assert_eq!(fold("utf8mb4_unicode_ci", "ﬁsh"), "fish");
        assert_eq!(fold("utf8mb4_unicode_ci", "a\u{AD}b\u{200B}c\t"), "abc");
    }

    #[test]
    fn supplementary_characters_collapse_only_in_old_collations() {
        assert_eq!(
            fold("utf8mb4_general_ci", "😀"),
            fold("utf8mb4_general_ci", "😁")
        );
        assert_ne!(
            fold("utf8mb4_0900_ai_ci", "😀"),
            fold("utf8mb4_0900_ai_ci", "😁")
        );
    }

    #[test]
    fn bin_collations_keep_bytes_but_pad_space_still_trims() {
        assert_eq!(fold("utf8mb4_bin", "ABC  "), "ABC");
        assert_eq!(fold("utf8mb4_bin", "Ábc"), "Ábc");
        assert_eq!(fold("utf8mb4_0900_bin", "ABC  "), "ABC  ");
        assert_eq!(fold("binary", "abc "), "abc ");
        assert_eq!(fold("utf8mb4_0900_ai_ci", "abc "), "abc ");
    }

    #[test]
    fn case_sensitive_collations_keep_case() {
        assert_eq!(fold("utf8mb4_0900_as_cs", "ABC"), "ABC");
        assert_eq!(fold("latin1_general_cs", "Abc  "), "Abc");
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let collation = Collation::default();
        let folded = collation.fold(&[0xff, b'A', 0xc3]);
        assert_eq!(
            String::from_utf8(folded).expect("utf8"),
            "\u{FFFD}a\u{FFFD}"
        );
        assert_eq!(
            Collation::from_name("binary").expect("ok").fold(&[0xff]),
            [0xff]
        );
    }

    #[test]
    fn collation_names() {
        assert!(Collation::from_name("UTF8MB4_GENERAL_CI").is_ok());
        assert!(Collation::from_name("latin1_swedish_ci").is_err());
        assert!(Collation::from_name("utf8mb4_de_pb_0900_ai_ci").is_err());
        assert_eq!(
            Collation::default(),
            Collation::from_name("utf8mb4_general_ci").expect("ok")
        );
        let error = Collation::from_name("utf8mb4_turkish_ci").expect_err("tailored");
        assert!(error
            .to_string()
            .contains("`utf8mb4_turkish_ci` is not supported"));
    }

    #[test]
    fn tables_are_sorted() {
        for table in [CANONICAL_BASE, COMPATIBILITY_BASE] {
            assert!(table.windows(2).all(|pair| pair[0].0 < pair[1].0));
        }
        assert!(IGNORABLE_RANGES
            .windows(2)
            .all(|pair| pair[0].1 < pair[1].0 && pair[0].0 <= pair[0].1));
    }
}
