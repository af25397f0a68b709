//! The RSA key pair of `caching_sha2_password` full authentication on a
//! connection without TLS: the client asks for the public key (it gets the
//! PEM), then sends `RSA-OAEP(password + NUL XOR nonce)`; the proxy
//! decrypts it with the private key (`[server] rsa_private_key`).
//!
//! Owns: loading the key (PKCS#1 or PKCS#8 PEM), its public half as PEM,
//! and the decryption. Must not do I/O beyond reading the key file, nor
//! log what it decrypts.

use std::path::Path;

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, PrivateKey};

/// The server's key pair.
pub struct RsaKeys {
    private: PrivateKey,
    /// The public key as `-----BEGIN PUBLIC KEY-----` PEM (what MySQL sends
    /// and what clients' `server_public_key` options hold).
    public_pem: String,
}

impl std::fmt::Debug for RsaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaKeys(..)")
    }
}

impl RsaKeys {
    /// Reads a PEM private key (`BEGIN RSA PRIVATE KEY` or `BEGIN PRIVATE
    /// KEY`). The error names the file, never its content.
    pub fn load(path: &Path) -> Result<RsaKeys, String> {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a PEM private key.
    pub fn from_pem(pem: &str) -> Result<RsaKeys, String> {
        let private = PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| PrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| "not an RSA private key in PEM (PKCS#1 or PKCS#8)".to_string())?;
        if private.size() < 128 {
            return Err("the RSA key must have at least 1024 bits".into());
        }
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the public key: {e}"))?;
        Ok(RsaKeys {
            private,
            public_pem,
        })
    }

    /// The public key, PEM.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// The password a client sent encrypted: `None` when the ciphertext
    /// is not one of this key's (wrong length, bad padding). The trailing
    /// NUL the client adds is removed.
    pub fn decrypt_password(&self, ciphertext: &[u8], nonce: &[u8; 20]) -> Option<Vec<u8>> {
        if ciphertext.len() != self.private.size() {
            return None;
        }
        let mut plain = self
            .private
            .decrypt(Oaep::<sha1_oaep::Sha1>::new(), ciphertext)
            .ok()?;
        for (i, b) in plain.iter_mut().enumerate() {
            *b ^= nonce[i % nonce.len()];
        }
        if plain.last() == Some(&0) {
            plain.pop();
        }
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encrypts as a client does, with the openssl command line (an
    /// implementation other than ours).
    fn client_encrypt(public_pem: &str, plain: &[u8]) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().ok()?;
        let key = dir.path().join("pub.pem");
        std::fs::write(&key, public_pem).ok()?;
        let input = dir.path().join("in");
        std::fs::write(&input, plain).ok()?;
        let out = std::process::Command::new("openssl")
            .args(["pkeyutl", "-encrypt", "-pubin", "-inkey"])
            .arg(&key)
            .args(["-pkeyopt", "rsa_padding_mode:oaep", "-in"])
            .arg(&input)
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    #[test]
    fn decrypts_what_a_client_encrypts() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let ok = std::process::Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipped: no openssl command");
            return;
        }
        let keys = RsaKeys::load(&key).unwrap();
        assert!(keys.public_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert!(!format!("{keys:?}").contains("BEGIN"));
        let nonce = *b"0123456789abcdefghij";
        for pw in ["secret", "", "a password longer than the twenty-byte nonce"] {
            let mut plain: Vec<u8> = pw.bytes().chain([0]).collect();
            for (i, b) in plain.iter_mut().enumerate() {
                *b ^= nonce[i % 20];
            }
            let c = client_encrypt(keys.public_pem(), &plain).unwrap();
            assert_eq!(keys.decrypt_password(&c, &nonce).unwrap(), pw.as_bytes());
            let mut bad = c.clone();
            bad[7] ^= 1;
            assert_eq!(keys.decrypt_password(&bad, &nonce), None);
            assert_eq!(keys.decrypt_password(&c[1..], &nonce), None);
        }
        assert!(RsaKeys::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
