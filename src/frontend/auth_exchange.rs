//! The password exchange of a login or a COM_CHANGE_USER, after the
//! client's first answer: the auth switch to the plugin the user needs,
//! then `mysql_native_password` or `caching_sha2_password` — the fast path
//! (`0x03`) when the user's digest is known (a cleartext `password`, or
//! the cache after a full authentication), else full authentication
//! (`0x04`): over TLS the client sends the password in clear; without it
//! the client asks for the RSA public key (`0x02`, answered with the
//! `[server] rsa_private_key`'s public half) and sends the password
//! encrypted with RSA-OAEP. Without that key, a client without TLS whose
//! digest is not cached is refused with 1045 (MySQL's answer without its
//! keys) before it is asked for the password.
//!
//! Owns: the packets of that exchange and the verdict. Must not decide
//! anything else about the login (TLS rules, database access, limits:
//! `handshake`), nor log the password or anything derived from it.

use crate::config::{Config, UserConfig};
use crate::error::ProxyError;
use crate::execute::ClientStream;
use crate::security::credentials;
use crate::security::sha2_cache::Sha2Cache;
use crate::wire::auth::{Secret, CACHING_SHA2_PASSWORD};
use crate::wire::sha2_stored::StoredSha2;

/// `caching_sha2_password`'s AuthMoreData codes.
const FAST_AUTH_SUCCESS: u8 = 0x03;
const PERFORM_FULL_AUTH: u8 = 0x04;
const REQUEST_PUBLIC_KEY: u8 = 0x02;
/// The AuthMoreData packet header.
const MORE_DATA: u8 = 0x01;

/// Where the exchange runs.
pub(crate) struct Exchange<'a> {
    pub client: &'a mut ClientStream,
    pub seq: &'a mut u8,
    pub config: &'a Config,
    pub cache: &'a Sha2Cache,
    pub nonce: &'a [u8; 20],
}

/// What the exchange found.
pub(crate) struct Verdict {
    /// The servers' login secret of a right password; `None`: denied.
    pub secret: Option<Secret>,
    /// Whether the client sent a password (for the 1045 message).
    pub using_password: bool,
}

impl Exchange<'_> {
    /// Runs the exchange for `user_name` who answered `first` for
    /// `plugin`. Errors are I/O (the client is gone); a wrong password is a
    /// [`Verdict`] without secret.
    pub async fn run(
        &mut self,
        user_name: &str,
        plugin: &str,
        first: Vec<u8>,
    ) -> Result<Verdict, ProxyError> {
        let user = self.config.user(user_name);
        let wanted = credentials::plugin_for(user, plugin);
        let answer = if wanted == plugin {
            first
        } else {
            switch_plugin(self.client, self.seq, wanted, self.nonce).await?
        };
        let using_password = !answer.is_empty();
        let stored = user.and_then(credentials::stored_sha2);
        let secret = match (user, stored) {
            (Some(u), Some(stored)) => self.sha2_stored(u, &stored, &answer).await?,
            _ if wanted == CACHING_SHA2_PASSWORD && using_password => {
                self.sha2_known(user, &answer).await?
            }
            _ => user.and_then(|u| credentials::verified_secret(u, wanted, self.nonce, &answer)),
        };
        Ok(Verdict {
            secret,
            using_password,
        })
    }

    /// `caching_sha2_password` for a user whose password the proxy knows
    /// (or an unknown user): the fast path decides a right scramble; a
    /// wrong one asks for the password as MySQL does after a mismatch
    /// (so a refusal looks the same for every kind of user and for none),
    /// which is then compared with the configured one.
    async fn sha2_known(
        &mut self,
        user: Option<&UserConfig>,
        scramble: &[u8],
    ) -> Result<Option<Secret>, ProxyError> {
        let fast = user.and_then(|u| {
            credentials::verified_secret(u, CACHING_SHA2_PASSWORD, self.nonce, scramble)
        });
        if fast.is_some() {
            self.client.queue(self.seq, &[MORE_DATA, FAST_AUTH_SUCCESS]);
            return Ok(fast);
        }
        let Some(password) = self.full_password().await? else {
            return Ok(None);
        };
        let right = user.filter(|u| {
            u.password_hash.is_none()
                && !u.password.is_empty()
                && u.password.len() == password.len()
                && u.password
                    .bytes()
                    .zip(&password)
                    .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                    == 0
        });
        Ok(right.map(|u| Secret::Password(u.password.clone())))
    }

    /// `caching_sha2_password` for a user configured with its stored form.
    async fn sha2_stored(
        &mut self,
        user: &UserConfig,
        stored: &StoredSha2,
        scramble: &[u8],
    ) -> Result<Option<Secret>, ProxyError> {
        if scramble.is_empty() {
            return Ok(None);
        }
        let name = user.name.get_ref();
        let text = user.password_hash.as_deref().unwrap_or_default();
        if let Some(native) = self.cache.fast_check(name, text, self.nonce, scramble) {
            self.client.queue(self.seq, &[MORE_DATA, FAST_AUTH_SUCCESS]);
            return Ok(Some(Secret::NativeStage1(native)));
        }
        let Some(password) = self.full_password().await? else {
            return Ok(None);
        };
        if !stored.matches(&password) {
            return Ok(None);
        }
        let native = self.cache.remember(name, text, &password);
        Ok(Some(Secret::NativeStage1(native)))
    }

    /// Full authentication: asks for the password (`0x04`) and reads it,
    /// in clear over TLS or RSA-encrypted (after sending the public key
    /// when the client asks for it). `None` when it cannot be had safely
    /// (no TLS and no RSA key: not even asked) or does not decrypt.
    async fn full_password(&mut self) -> Result<Option<Vec<u8>>, ProxyError> {
        let tls = self.client.get_ref().is_tls();
        let rsa = self.config.server.rsa.clone();
        if !tls && rsa.is_none() {
            // No way to receive the password safely: refused at once
            // (1045, as MySQL without its RSA keys), rather than after a
            // perform-full-auth some clients answer with the password in
            // clear.
            return Ok(None);
        }
        let mut answer = self.ask(&[MORE_DATA, PERFORM_FULL_AUTH]).await?;
        let Some(rsa) = rsa.filter(|_| !tls) else {
            // The password in clear, NUL-terminated.
            if answer.last() == Some(&0) {
                answer.pop();
            }
            return Ok(Some(answer));
        };
        if answer == [REQUEST_PUBLIC_KEY] {
            let mut key = vec![MORE_DATA];
            key.extend_from_slice(rsa.public_pem().as_bytes());
            answer = self.ask(&key).await?;
        }
        Ok(rsa.decrypt_password(&answer, self.nonce))
    }

    /// Sends `payload` and reads the client's answer.
    async fn ask(&mut self, payload: &[u8]) -> Result<Vec<u8>, ProxyError> {
        self.client.queue(self.seq, payload);
        read_answer(self.client, self.seq).await
    }
}

/// Asks the client to answer `plugin` on the same nonce (AuthSwitchRequest);
/// returns its answer (also for COM_CHANGE_USER).
pub(crate) async fn switch_plugin(
    client: &mut ClientStream,
    seq: &mut u8,
    plugin: &str,
    nonce: &[u8; 20],
) -> Result<Vec<u8>, ProxyError> {
    let mut switch = vec![0xFE];
    switch.extend_from_slice(plugin.as_bytes());
    switch.push(0);
    switch.extend_from_slice(nonce);
    switch.push(0);
    client.queue(seq, &switch);
    read_answer(client, seq).await
}

/// Flushes what is queued and reads the client's next packet of the
/// exchange; `seq` becomes the one after it.
async fn read_answer(client: &mut ClientStream, seq: &mut u8) -> Result<Vec<u8>, ProxyError> {
    client
        .flush()
        .await
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    let answer = match client.read_packet().await {
        Ok(p) => p,
        Err(e) => return super::handshake::read_failed(client, seq.wrapping_add(1), e).await,
    };
    *seq = answer.seq.wrapping_add(1);
    Ok(answer.payload.to_vec())
}
