//! Client passwords as the configuration holds them: in clear
//! (`password`, possibly read from `password_env`) or as the
//! `mysql_native_password` stored hash (`password_hash = "*<40 hex>"`,
//! what `SELECT PASSWORD('…')` prints), so the file need not hold the
//! password itself.
//!
//! With a hash, only `mysql_native_password` can be checked (the server
//! side of that protocol needs SHA1(SHA1(password)) and nothing more); the
//! handshake asks such clients to switch to it.
//!
//! Owns: checking a client's auth response against a user's configured
//! credential. Must not read the configuration file or the environment
//! (that is `config::users`).

use sha1::{Digest, Sha1};

use crate::config::UserConfig;
use crate::wire::auth::{self, NATIVE_PASSWORD};

/// The stored form of `password`: `*` + 40 upper-case hex digits of
/// SHA1(SHA1(password)), as MySQL/MariaDB's `PASSWORD()`.
pub fn native_hash(password: &str) -> String {
    let stage2 = Sha1::digest(Sha1::digest(password.as_bytes()));
    let mut out = String::with_capacity(41);
    out.push('*');
    for b in stage2 {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// SHA1(SHA1(password)) from its `*HEX` form; `None` when malformed.
pub fn parse_native_hash(s: &str) -> Option<[u8; 20]> {
    let hex = s.strip_prefix('*')?;
    if hex.len() != 40 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether the user can only be checked with `mysql_native_password`.
pub fn needs_native(user: &UserConfig) -> bool {
    user.password_hash.is_some()
}

/// Checks the client's `response` for `plugin` and the handshake `nonce`.
pub fn verify(user: &UserConfig, plugin: &str, nonce: &[u8; 20], response: &[u8]) -> bool {
    let Some(hash) = &user.password_hash else {
        return auth::verify(plugin, nonce, &user.password, response);
    };
    let Some(stage2) = parse_native_hash(hash) else {
        return false;
    };
    if plugin != NATIVE_PASSWORD {
        return false;
    }
    // Some clients append a NUL to the scramble.
    let response = match response.split_last() {
        Some((0, head)) if head.len() == 20 => head,
        _ => response,
    };
    if response.len() != 20 {
        return false;
    }
    // response = SHA1(pw) XOR SHA1(nonce + stage2): recover SHA1(pw) and
    // check that its SHA1 is the stored stage2.
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    let mask = h.finalize();
    let stage1: Vec<u8> = response.iter().zip(mask).map(|(r, m)| r ^ m).collect();
    let again = Sha1::digest(&stage1);
    again
        .iter()
        .zip(stage2)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_native_scrambles_only() {
        // MariaDB: SELECT PASSWORD('secret')
        assert_eq!(
            native_hash("secret"),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
        let mut u: UserConfig = toml::from_str("name = \"u\"").unwrap();
        u.password_hash = Some(native_hash("secret"));
        for i in 0..50u8 {
            let nonce = [i.wrapping_mul(37).wrapping_add(1); 20];
            let good = auth::client_response(b"mysql_native_password", &nonce, "secret").unwrap();
            let bad = auth::client_response(b"mysql_native_password", &nonce, "secreT").unwrap();
            assert!(verify(&u, NATIVE_PASSWORD, &nonce, &good));
            let mut nul = good.clone();
            nul.push(0);
            assert!(verify(&u, NATIVE_PASSWORD, &nonce, &nul));
            assert!(!verify(&u, NATIVE_PASSWORD, &nonce, &bad));
            assert!(!verify(&u, NATIVE_PASSWORD, &nonce, &good[..19]));
            assert!(!verify(&u, NATIVE_PASSWORD, &nonce, &[]));
            let sha2 = auth::client_response(b"caching_sha2_password", &nonce, "secret").unwrap();
            assert!(!verify(&u, auth::CACHING_SHA2_PASSWORD, &nonce, &sha2));
        }
        assert!(parse_native_hash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE").is_none());
        assert!(parse_native_hash("14E65567ABDB5135D0CFD9A70B3032C179A49EE7").is_none());
        assert!(parse_native_hash("*Z4E65567ABDB5135D0CFD9A70B3032C179A49EE7").is_none());
    }
}
