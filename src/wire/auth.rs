//! Password checks for the client side of the proxy and scrambles for the
//! backend side: `mysql_native_password` and `caching_sha2_password` (fast
//! path: the proxy knows the password, so its "cache" is always warm).
//!
//! Owns: the cryptographic comparison. Must not do I/O; the exchange itself is
//! in `frontend::handshake`.

use mysql_common::scramble::{scramble_native, scramble_sha256};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// Fills a 20-byte nonce with printable, non-NUL random bytes (some clients
/// treat the nonce as a C string).
pub fn new_nonce() -> [u8; 20] {
    let mut n = [0u8; 20];
    for b in n.iter_mut() {
        *b = rand::random_range(0x21u8..0x7F);
    }
    n
}

/// Constant-time comparison, so response timing reveals nothing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks a client's auth response for `plugin` against the configured
/// password.
pub fn verify(plugin: &str, nonce: &[u8; 20], password: &str, response: &[u8]) -> bool {
    // Some clients append a NUL to the scramble.
    let response = match response.split_last() {
        Some((0, head)) if head.len() == 20 || head.len() == 32 => head,
        _ => response,
    };
    if password.is_empty() {
        return response.is_empty();
    }
    match plugin {
        NATIVE_PASSWORD => scramble_native(nonce, password.as_bytes())
            .is_some_and(|expected| same(&expected, response)),
        CACHING_SHA2_PASSWORD => scramble_sha256(nonce, password.as_bytes())
            .is_some_and(|expected| same(&expected, response)),
        _ => false,
    }
}

/// The auth response our backend client sends for `plugin`.
pub fn client_response(plugin: &[u8], nonce: &[u8], password: &str) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    match plugin {
        b"mysql_native_password" => scramble_native(nonce, password.as_bytes()).map(|s| s.to_vec()),
        b"caching_sha2_password" => scramble_sha256(nonce, password.as_bytes()).map(|s| s.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_roundtrip() {
        let nonce = new_nonce();
        let resp = client_response(b"mysql_native_password", &nonce, "secret").unwrap();
        assert!(verify(NATIVE_PASSWORD, &nonce, "secret", &resp));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "other", &resp));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "secret", &resp[..19]));
    }

    #[test]
    fn sha2_roundtrip() {
        let nonce = new_nonce();
        let resp = client_response(b"caching_sha2_password", &nonce, "secret").unwrap();
        assert!(verify(CACHING_SHA2_PASSWORD, &nonce, "secret", &resp));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "secret", &resp));
    }

    #[test]
    fn empty_password() {
        let nonce = new_nonce();
        assert!(verify(NATIVE_PASSWORD, &nonce, "", b""));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "", b"x"));
        assert!(!verify(NATIVE_PASSWORD, &nonce, "pw", b""));
    }
}
