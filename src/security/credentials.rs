//! Client passwords as the configuration holds them: in clear
//! (`password`, possibly read from `password_env`), as the
//! `mysql_native_password` stored hash (`password_hash = "*<40 hex>"`,
//! what `SELECT PASSWORD('…')` prints) or as the `caching_sha2_password`
//! stored form (`password_hash = "$A$005$…"`), so the file need not hold
//! the password itself.
//!
//! With a native hash, only `mysql_native_password` can be checked (the
//! server side of that protocol needs SHA1(SHA1(password)) and nothing
//! more); with a caching_sha2 form, only `caching_sha2_password` (its
//! full authentication sees the password). The handshake asks clients to
//! switch to the plugin the user needs ([`plugin_for`]).
//!
//! Owns: checking a client's auth response against a user's configured
//! credential. Must not read the configuration file or the environment
//! (that is `config::users`).

use sha1::{Digest, Sha1};

use crate::config::UserConfig;
use crate::wire::auth::{self, Secret, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use crate::wire::sha2_stored::StoredSha2;

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

/// Whether the user can only be checked with `mysql_native_password`
/// (configured with its stored hash).
pub fn needs_native(user: &UserConfig) -> bool {
    user.password_hash
        .as_deref()
        .is_some_and(|h| parse_native_hash(h).is_some())
}

/// The user's `caching_sha2_password` stored form, when configured with
/// one: such a user can only be checked with that plugin.
pub fn stored_sha2(user: &UserConfig) -> Option<StoredSha2> {
    user.password_hash.as_deref().and_then(StoredSha2::parse)
}

/// The plugin a client must answer with for `user` when it offered
/// `offered`: the one its stored hash needs, else `offered` when the
/// proxy speaks it, else `mysql_native_password`.
pub fn plugin_for(user: Option<&UserConfig>, offered: &str) -> &'static str {
    match user {
        Some(u) if needs_native(u) => NATIVE_PASSWORD,
        Some(u) if u.password_hash.is_some() => CACHING_SHA2_PASSWORD,
        _ if offered == CACHING_SHA2_PASSWORD => CACHING_SHA2_PASSWORD,
        _ => NATIVE_PASSWORD,
    }
}

/// Checks the client's `response` for `plugin` and the handshake `nonce`.
pub fn verify(user: &UserConfig, plugin: &str, nonce: &[u8; 20], response: &[u8]) -> bool {
    verified_secret(user, plugin, nonce, response).is_some()
}

/// Checks the client's `response` like [`verify`] and, when it is right,
/// returns what the proxy can log in to the servers with as this user
/// (`backend_auth = "passthrough"`): the configured password, or the
/// stage-1 hash SHA1(password) recovered from a native scramble when only
/// `password_hash` is configured.
pub fn verified_secret(
    user: &UserConfig,
    plugin: &str,
    nonce: &[u8; 20],
    response: &[u8],
) -> Option<Secret> {
    let Some(hash) = &user.password_hash else {
        return auth::verify(plugin, nonce, &user.password, response)
            .then(|| Secret::Password(user.password.clone()));
    };
    // A caching_sha2 stored form is checked by the exchange in
    // `frontend::auth_exchange` (fast path or full authentication).
    let stage2 = parse_native_hash(hash)?;
    if plugin != NATIVE_PASSWORD {
        return None;
    }
    // Some clients append a NUL to the scramble.
    let response = match response.split_last() {
        Some((0, head)) if head.len() == 20 => head,
        _ => response,
    };
    let response: &[u8; 20] = response.try_into().ok()?;
    // response = SHA1(pw) XOR SHA1(nonce + stage2): recover SHA1(pw) and
    // check that its SHA1 is the stored stage2.
    let stage1 = auth::native_stage1(nonce, &stage2, response);
    let again = Sha1::digest(stage1);
    let same = again
        .iter()
        .zip(stage2)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0;
    same.then_some(Secret::NativeStage1(stage1))
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
            let stage1: [u8; 20] = Sha1::digest(b"secret").into();
            assert_eq!(
                verified_secret(&u, NATIVE_PASSWORD, &nonce, &good),
                Some(Secret::NativeStage1(stage1))
            );
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
