//! The `caching_sha2_password` cache of users configured with a stored
//! form (`password_hash = "$A$005$…"`): after a full authentication saw
//! the password, it keeps SHA256(SHA256(password)), which is what the
//! fast path needs to check a scramble (as MySQL's server-side cache), and
//! SHA1(password) for `backend_auth = "passthrough"` logins to the
//! servers. Never the password itself.
//!
//! Owns: those digests, in memory only, keyed by user name and the stored
//! form they were checked against (a reload that changes a user's hash
//! makes its entry useless; `retain` drops it). Must not do I/O or log.

use std::collections::HashMap;

use parking_lot::Mutex;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// One user's cached digests.
struct Entry {
    /// The stored form the password was checked against.
    stored: String,
    /// SHA256(SHA256(password)).
    stage2: [u8; 32],
    /// SHA1(password): answers the servers' native challenges.
    native_stage1: [u8; 20],
}

/// Shared by all connections of the proxy.
#[derive(Default)]
pub struct Sha2Cache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Sha2Cache {
    /// The fast path: whether `scramble` (XOR(SHA256(pw),
    /// SHA256(SHA256(SHA256(pw)) + nonce))) answers `nonce` for the cached
    /// password of `user` stored as `stored`. Returns the user's
    /// SHA1(password) when it does; `None` on a miss or a wrong scramble
    /// (the caller then asks for full authentication, as MySQL does).
    pub fn fast_check(
        &self,
        user: &str,
        stored: &str,
        nonce: &[u8; 20],
        scramble: &[u8],
    ) -> Option<[u8; 20]> {
        let scramble: &[u8; 32] = scramble.try_into().ok()?;
        let (stage2, native) = {
            let entries = self.entries.lock();
            let e = entries.get(user).filter(|e| e.stored == stored)?;
            (e.stage2, e.native_stage1)
        };
        let mask = Sha256::new()
            .chain_update(stage2)
            .chain_update(nonce)
            .finalize();
        let mut stage1 = [0u8; 32];
        for (o, (s, m)) in stage1.iter_mut().zip(scramble.iter().zip(mask)) {
            *o = s ^ m;
        }
        let again = Sha256::digest(stage1);
        let same = again
            .iter()
            .zip(stage2)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0;
        same.then_some(native)
    }

    /// Records `password` as checked against `stored` for `user`; returns
    /// its SHA1 (the servers' native stage-1 hash).
    pub fn remember(&self, user: &str, stored: &str, password: &[u8]) -> [u8; 20] {
        let stage2: [u8; 32] = Sha256::digest(Sha256::digest(password)).into();
        let native_stage1: [u8; 20] = Sha1::digest(password).into();
        self.entries.lock().insert(
            user.to_string(),
            Entry {
                stored: stored.to_string(),
                stage2,
                native_stage1,
            },
        );
        native_stage1
    }

    /// Keeps only the entries `keep(user, stored)` accepts (after a
    /// reload: the users still configured with the same stored form).
    pub fn retain(&self, keep: impl Fn(&str, &str) -> bool) {
        self.entries.lock().retain(|user, e| keep(user, &e.stored));
    }

    /// Users with a cached digest.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::scramble::scramble_sha256;

    #[test]
    fn fast_path_after_remember_only() {
        let cache = Sha2Cache::default();
        let nonce = crate::wire::auth::new_nonce();
        let good = scramble_sha256(&nonce, b"secret").unwrap();
        let bad = scramble_sha256(&nonce, b"secreT").unwrap();
        assert_eq!(cache.fast_check("u", "S", &nonce, &good), None, "empty");
        let native = cache.remember("u", "S", b"secret");
        assert_eq!(native, <[u8; 20]>::from(Sha1::digest(b"secret")));
        assert_eq!(cache.fast_check("u", "S", &nonce, &good), Some(native));
        assert_eq!(cache.fast_check("u", "S", &nonce, &bad), None);
        assert_eq!(cache.fast_check("u", "S", &nonce, &good[..31]), None);
        assert_eq!(
            cache.fast_check("u", "T", &nonce, &good),
            None,
            "other hash"
        );
        assert_eq!(
            cache.fast_check("v", "S", &nonce, &good),
            None,
            "other user"
        );
        let other = crate::wire::auth::new_nonce();
        assert_eq!(cache.fast_check("u", "S", &other, &good), None, "replay");
        cache.retain(|_, stored| stored != "S");
        assert!(cache.is_empty());
    }
}
