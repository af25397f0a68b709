//! Which of the words the security checks look for a statement text
//! mentions anywhere (strings and comments included), found in one pass
//! instead of one search per word: the gate runs on every statement, and
//! nearly every one mentions none of them.
//!
//! Owns: the word list and [`Mentions`]. Must not decide anything (the
//! checks in [`super`] do, with exactly the answers
//! [`contains_ignore_case`] would give).

use crate::sql::search::contains_ignore_case;

/// A word the checks search for (lower case).
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum Word {
    LoadFile,
    Outfile,
    Dumpfile,
    Mysql,
    PerformanceSchema,
    Sys,
    Shardcat,
    User,
    ConnectionId,
    Processlist,
    Grants,
    InformationSchema,
}

const WORDS: [&[u8]; 12] = [
    b"load_file",
    b"outfile",
    b"dumpfile",
    b"mysql",
    b"performance_schema",
    b"sys",
    b"shardcat",
    b"user",
    b"connection_id",
    b"processlist",
    b"grants",
    b"information_schema",
];

/// Texts up to this long are scanned in one pass; longer ones are searched
/// word by word ([`contains_ignore_case`] is vectorized for them).
const ONE_PASS_MAX: usize = 4096;

/// Per byte: the words starting with it (either case).
const FIRST: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut w = 0;
    while w < WORDS.len() {
        let b = WORDS[w][0];
        t[b as usize] |= 1 << w;
        t[b.to_ascii_uppercase() as usize] |= 1 << w;
        w += 1;
    }
    t
};

/// Per byte: the words whose second byte it is (either case); every word
/// is longer than two bytes.
const SECOND: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut w = 0;
    while w < WORDS.len() {
        let b = WORDS[w][1];
        t[b as usize] |= 1 << w;
        t[b.to_ascii_uppercase() as usize] |= 1 << w;
        w += 1;
    }
    t
};

/// The words a text mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mentions(u16);

impl Mentions {
    /// Scans `text` (ASCII case-insensitively, as [`contains_ignore_case`]).
    pub fn of(text: &[u8]) -> Mentions {
        if text.len() > ONE_PASS_MAX {
            let mut found = 0;
            for (w, word) in WORDS.iter().enumerate() {
                if contains_ignore_case(text, word) {
                    found |= 1 << w;
                }
            }
            return Mentions(found);
        }
        let mut found = 0u16;
        for (i, &b) in text.iter().enumerate() {
            let next = text.get(i + 1).copied().unwrap_or(0);
            let mut candidates = FIRST[b as usize] & SECOND[next as usize] & !found;
            while candidates != 0 {
                let w = candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                let word = WORDS[w];
                if text
                    .get(i + 1..i + word.len())
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(&word[1..]))
                {
                    found |= 1 << w;
                }
            }
        }
        Mentions(found)
    }

    /// Whether the text mentions `word`.
    pub fn has(self, word: Word) -> bool {
        self.0 & (1 << word as u8) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated texts (every mix of word pieces, cases and fillers, short
    /// and past the one-pass limit) against one search per word.
    #[test]
    fn agrees_with_one_search_per_word() {
        // Pieces that make up every word (in both cases) and near misses.
        let pieces: [&[u8]; 20] = [
            b"user",
            b"USE",
            b"r",
            b"Sys",
            b"_",
            b"mysql",
            b"Connection_Id",
            b"information_",
            b"schema",
            b" ",
            b"LOAD",
            b"file",
            b"OUT",
            b"dump",
            b"Grant",
            b"s",
            b"PROCESS",
            b"list",
            b"performance",
            b"shard",
        ];
        let words = [
            Word::LoadFile,
            Word::Outfile,
            Word::Dumpfile,
            Word::Mysql,
            Word::PerformanceSchema,
            Word::Sys,
            Word::Shardcat,
            Word::User,
            Word::ConnectionId,
            Word::Processlist,
            Word::Grants,
            Word::InformationSchema,
        ];
        let mut n = 0u64;
        let mut seed = 7u64;
        while n < 20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) % 9;
            let mut text = Vec::new();
            let mut s = seed;
            for _ in 0..len {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                text.extend_from_slice(pieces[(s >> 40) as usize % pieces.len()]);
            }
            if n % 50 == 1 {
                let mut long = vec![b'x'; ONE_PASS_MAX];
                long.extend_from_slice(&text);
                text = long;
            }
            let m = Mentions::of(&text);
            for (w, word) in words.iter().enumerate() {
                assert_eq!(
                    m.has(*word),
                    contains_ignore_case(&text, WORDS[w]),
                    "{:?} in {:?}",
                    word,
                    String::from_utf8_lossy(&text)
                );
            }
            n += 1;
        }
        assert!(Mentions::of(b"SELECT c FROM sbtest1 WHERE id=5").0 == 0);
        assert!(Mentions::of(b"select CURRENT_USER()").has(Word::User));
        let all = Mentions::of(
            b"load_file outfile dumpfile mysql performance_schema sys shardcat user \
              connection_id processlist grants information_schema",
        );
        assert_eq!(all.0, (1 << WORDS.len()) - 1);
        // The system schemas the checks look for are all words here.
        for schema in super::super::tables::SYSTEM_SCHEMAS {
            assert!(WORDS.contains(&schema.as_bytes()), "{schema}");
        }
    }
}
