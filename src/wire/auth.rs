//! Password checks for the client side of the proxy and scrambles for the
//! backend side: `mysql_native_password` and `caching_sha2_password` (fast
//! path: the proxy knows the password, so its "cache" is always warm).
//!
//! Owns: the cryptographic comparison. Must not do I/O; the exchange itself is
//! in `frontend::handshake`.

use mysql_common::scramble::{scramble_native, scramble_sha256};
use sha1::{Digest, Sha1};

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

/// What the proxy logs in to a server with.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password in clear (`[backend] password`, a `[[user]]`'s
    /// `password` or `password_env`).
    Password(String),
    /// SHA1(password), the `mysql_native_password` stage-1 hash, recovered
    /// from a client's native scramble at login: enough to answer any
    /// native challenge, and nothing else.
    NativeStage1([u8; 20]),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret itself (it lands in logs through `{:?}`).
        f.write_str(match self {
            Secret::Password(_) => "Secret::Password(..)",
            Secret::NativeStage1(_) => "Secret::NativeStage1(..)",
        })
    }
}

impl Secret {
    /// The auth response for `plugin` and `nonce`; `None` when this secret
    /// cannot answer that plugin.
    pub fn response(&self, plugin: &[u8], nonce: &[u8]) -> Option<Vec<u8>> {
        match self {
            Secret::Password(p) => client_response(plugin, nonce, p),
            Secret::NativeStage1(stage1) if plugin == NATIVE_PASSWORD.as_bytes() => {
                Some(native_from_stage1(nonce, stage1).to_vec())
            }
            Secret::NativeStage1(_) => None,
        }
    }

    /// The first answer of a login: for the plugin the server's greeting
    /// names when this secret can answer it, `mysql_native_password`
    /// otherwise. Returns (plugin, response).
    pub fn first_response(&self, plugin: &[u8], nonce: &[u8]) -> (Vec<u8>, Vec<u8>) {
        match self.response(plugin, nonce) {
            Some(r) => (plugin.to_vec(), r),
            None => {
                let native = NATIVE_PASSWORD.as_bytes();
                (
                    native.to_vec(),
                    self.response(native, nonce).unwrap_or_default(),
                )
            }
        }
    }
}

/// SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))): the native scramble from
/// the stage-1 hash (the server keeps SHA1(SHA1(pw)) and checks it).
fn native_from_stage1(nonce: &[u8], stage1: &[u8; 20]) -> [u8; 20] {
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(nonce.get(..20).unwrap_or(nonce));
    h.update(stage2);
    let mask = h.finalize();
    let mut out = [0u8; 20];
    for (o, (s, m)) in out.iter_mut().zip(stage1.iter().zip(mask)) {
        *o = s ^ m;
    }
    out
}

/// The stage-1 hash from a client's native `response` to `nonce`, given
/// the stored stage-2 hash: `response XOR SHA1(nonce + stage2)`. The
/// caller checks that its SHA1 is `stage2`.
pub fn native_stage1(nonce: &[u8], stage2: &[u8; 20], response: &[u8; 20]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(stage2);
    let mask = h.finalize();
    let mut out = [0u8; 20];
    for (o, (r, m)) in out.iter_mut().zip(response.iter().zip(mask)) {
        *o = r ^ m;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage1_answers_as_the_password_does() {
        for pw in ["secret", "p\u{e9}ss w\u{f6}rd", "x"] {
            let stage1: [u8; 20] = Sha1::digest(pw.as_bytes()).into();
            let stage2: [u8; 20] = Sha1::digest(stage1).into();
            let by_hash = Secret::NativeStage1(stage1);
            let by_pw = Secret::Password(pw.into());
            for _ in 0..20 {
                let nonce = new_nonce();
                let native = NATIVE_PASSWORD.as_bytes();
                let r = by_hash.response(native, &nonce).unwrap();
                assert_eq!(Some(r.clone()), by_pw.response(native, &nonce));
                let r: [u8; 20] = r.try_into().unwrap();
                assert_eq!(native_stage1(&nonce, &stage2, &r), stage1);
                let sha2 = CACHING_SHA2_PASSWORD.as_bytes();
                assert_eq!(by_hash.response(sha2, &nonce), None);
                assert_eq!(by_hash.first_response(sha2, &nonce).0, native);
                assert_eq!(by_pw.first_response(sha2, &nonce).0, sha2);
            }
            assert!(!format!("{by_pw:?}").contains(pw));
        }
    }

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
