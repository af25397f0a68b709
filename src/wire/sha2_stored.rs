//! The `caching_sha2_password` stored form, as MySQL keeps it in
//! `mysql.user.authentication_string`: `$A$` + the iteration count in
//! thousands (three hex digits, `005` = 5000) + `$` + a 20-byte salt + the
//! 43-character SHA-crypt digest (Drepper's SHA-256 crypt over the password
//! and the whole 20-byte salt, in crypt's own base-64 alphabet).
//!
//! Owns: parsing that form, computing it, and checking a cleartext
//! password against it. Must not do I/O, keep state or log (a password
//! passes through here).

use sha2::{Digest, Sha256};

/// crypt's base-64 alphabet.
const B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SALT_LEN: usize = 20;
const DIGEST_LEN: usize = 43;
/// MySQL's bound on the iteration count (`0xFFF` thousands).
const MAX_ROUNDS: u32 = 0xFFF * 1000;

/// A parsed stored form.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSha2 {
    rounds: u32,
    salt: [u8; SALT_LEN],
    digest: [u8; DIGEST_LEN],
}

impl std::fmt::Debug for StoredSha2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredSha2(..)")
    }
}

impl StoredSha2 {
    /// Parses `$A$005$<salt><digest>`; `None` when malformed.
    pub fn parse(s: &str) -> Option<StoredSha2> {
        let b = s.as_bytes();
        let rest = b.strip_prefix(b"$A$")?;
        let (count, rest) = (rest.get(..3)?, rest.get(3..)?);
        let rest = rest.strip_prefix(b"$")?;
        let thousands = u32::from_str_radix(std::str::from_utf8(count).ok()?, 16).ok()?;
        let rounds = thousands.checked_mul(1000)?;
        if rounds == 0 || rounds > MAX_ROUNDS || rest.len() != SALT_LEN + DIGEST_LEN {
            return None;
        }
        let (salt, digest) = rest.split_at(SALT_LEN);
        if salt.iter().any(|c| *c == 0 || *c == b'$' || *c > 0x7F)
            || !digest.iter().all(|c| B64.contains(c))
        {
            return None;
        }
        Some(StoredSha2 {
            rounds,
            salt: salt.try_into().ok()?,
            digest: digest.try_into().ok()?,
        })
    }

    /// The stored form of `password` with a fresh random salt (MySQL's:
    /// 7-bit, no NUL, no `$`) and 5000 rounds.
    pub fn new(password: &[u8]) -> StoredSha2 {
        let mut salt = [0u8; SALT_LEN];
        for c in salt.iter_mut() {
            *c = rand::random_range(1u8..0x80);
            if *c == b'$' {
                *c += 1;
            }
        }
        StoredSha2 {
            rounds: 5000,
            salt,
            digest: sha256_crypt(password, &salt, 5000),
        }
    }

    /// Whether `password` is the one this form was made from (constant
    /// time in the comparison).
    pub fn matches(&self, password: &[u8]) -> bool {
        let got = sha256_crypt(password, &self.salt, self.rounds);
        got.iter()
            .zip(self.digest)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }

    /// The text form (what `parse` reads).
    pub fn to_text(&self) -> String {
        let mut out = format!("$A${:03X}$", self.rounds / 1000);
        out.extend(self.salt.iter().map(|c| char::from(*c)));
        out.extend(self.digest.iter().map(|c| char::from(*c)));
        out
    }
}

/// Drepper's SHA-256 crypt (`$5$`), without its 16-byte salt cut: MySQL
/// feeds the whole salt. Returns the 43-character encoded digest.
pub fn sha256_crypt(password: &[u8], salt: &[u8], rounds: u32) -> [u8; DIGEST_LEN] {
    let alt = Sha256::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut a = Sha256::new().chain_update(password).chain_update(salt);
    let mut left = password.len();
    while left > 32 {
        a.update(alt);
        left -= 32;
    }
    a.update(&alt[..left]);
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            a.update(alt);
        } else {
            a.update(password);
        }
        i >>= 1;
    }
    let mut digest: [u8; 32] = a.finalize().into();
    let mut dp = Sha256::new();
    for _ in 0..password.len() {
        dp.update(password);
    }
    let p = repeat_to(&dp.finalize(), password.len());
    let mut ds = Sha256::new();
    for _ in 0..16 + usize::from(digest[0]) {
        ds.update(salt);
    }
    let s = repeat_to(&ds.finalize(), salt.len());
    for r in 0..rounds {
        let mut c = Sha256::new();
        if r & 1 == 1 {
            c.update(&p);
        } else {
            c.update(digest);
        }
        if r % 3 != 0 {
            c.update(&s);
        }
        if r % 7 != 0 {
            c.update(&p);
        }
        if r & 1 == 1 {
            c.update(digest);
        } else {
            c.update(&p);
        }
        digest = c.finalize().into();
    }
    encode(&digest)
}

/// `len` bytes of `block` repeated.
fn repeat_to(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// crypt's byte order and base 64 for a SHA-256 digest.
fn encode(d: &[u8; 32]) -> [u8; DIGEST_LEN] {
    const GROUPS: [(usize, usize, usize); 10] = [
        (0, 10, 20),
        (21, 1, 11),
        (12, 22, 2),
        (3, 13, 23),
        (24, 4, 14),
        (15, 25, 5),
        (6, 16, 26),
        (27, 7, 17),
        (18, 28, 8),
        (9, 19, 29),
    ];
    let mut out = [0u8; DIGEST_LEN];
    let mut at = 0;
    let mut put = |w: u32, n: usize| {
        let mut w = w;
        for _ in 0..n {
            out[at] = B64[(w & 0x3F) as usize];
            at += 1;
            w >>= 6;
        }
    };
    for (a, b, c) in GROUPS {
        put(
            (u32::from(d[a]) << 16) | (u32::from(d[b]) << 8) | u32::from(d[c]),
            4,
        );
    }
    put((u32::from(d[31]) << 8) | u32::from(d[30]), 3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drepper_vectors() {
        // The SHA-crypt specification's own test vectors (salts ≤ 16).
        let cases: [(&str, &str, u32, &str); 3] = [
            (
                "Hello world!",
                "saltstring",
                5000,
                "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
            ),
            (
                "Hello world!",
                "saltstringsaltst",
                10000,
                "3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
            ),
            (
                "we have a short salt string but not a short password",
                "short",
                77777,
                "JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
            ),
        ];
        for (pw, salt, rounds, want) in cases {
            let got = sha256_crypt(pw.as_bytes(), salt.as_bytes(), rounds);
            assert_eq!(std::str::from_utf8(&got).unwrap(), want, "{pw}");
        }
    }

    #[test]
    fn mysql_authentication_string() {
        // A MySQL 8 authentication_string of 'foobar' (salt with control
        // characters, so given in hex), as TiDB's compatibility tests use.
        let hex = "24412430303524031A69251C34295C4B35167C7F1E5A7B630913495039\
                   74624D34504B5A424679354856336868686F52485A736E4A733368786E\
                   427575516C73446469496537";
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let text = String::from_utf8(bytes).unwrap();
        let stored = StoredSha2::parse(&text).unwrap();
        assert!(stored.matches(b"foobar"));
        assert!(!stored.matches(b"foobaR"));
        assert_eq!(stored.to_text(), text);
    }

    #[test]
    fn stored_form_roundtrip_and_rejects() {
        for pw in ["secret", "", "p\u{e9}ss w\u{f6}rd", &"x".repeat(100)] {
            let s = StoredSha2::new(pw.as_bytes());
            let text = s.to_text();
            assert_eq!(text.len(), 7 + 20 + 43);
            assert!(text.starts_with("$A$005$"));
            let back = StoredSha2::parse(&text).unwrap();
            assert_eq!(back, s);
            assert!(back.matches(pw.as_bytes()));
            assert!(!back.matches(b"secreT"));
            assert!(!format!("{back:?}").contains(&text[7..]));
        }
        let good = StoredSha2::new(b"pw").to_text();
        assert!(StoredSha2::parse(&good[..good.len() - 1]).is_none());
        assert!(StoredSha2::parse(&good.replacen("$A$005$", "$A$000$", 1)).is_none());
        assert!(StoredSha2::parse(&good.replacen("$A$005$", "$B$005$", 1)).is_none());
        assert!(StoredSha2::parse(&good.replacen("$A$005$", "$A$0G5$", 1)).is_none());
        assert!(StoredSha2::parse("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7").is_none());
        assert!(StoredSha2::parse("").is_none());
    }
}
