//! A throw-away PKI for TLS tests, made with the `openssl` CLI at test
//! time: a CA and a server certificate for 127.0.0.1 signed by it, and RSA
//! key pairs. Include with `#[path = "common/pki.rs"] mod pki;`.
//!
//! Owns: those files in its temporary directory. Must not start processes
//! other than `openssl`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a server certificate for 127.0.0.1 signed by it.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// Issues `client{tag}.pem`/`client{tag}.key` for CN `name`, signed by
    /// `ca{ca_tag}.pem` (made by [`Pki::issue`]).
    pub fn issue_client(dir: &Path, tag: &str, ca_tag: &str, name: &str) {
        let (key, csr, crt) = (
            format!("client{tag}.key"),
            format!("client{tag}.csr"),
            format!("client{tag}.pem"),
        );
        let subj = format!("/CN={name}");
        openssl(
            dir,
            &[
                "req",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subj,
            ],
        );
        std::fs::write(
            dir.join("client_ext.cnf"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        )
        .expect("client_ext.cnf");
        let (ca, cakey) = (format!("ca{ca_tag}.pem"), format!("ca{ca_tag}.key"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &cakey,
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &crt,
                "-extfile",
                "client_ext.cnf",
            ],
        );
    }

    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        Pki::issue(dir.path(), "");
        Pki { dir }
    }

    /// Makes `ca{tag}.pem` and `server{tag}.pem`/`server{tag}.key`.
    pub fn issue(dir: &Path, tag: &str) {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let (ca, cakey) = (format!("ca{tag}.pem"), format!("ca{tag}.key"));
        let (crt, key, csr) = (
            format!("server{tag}.pem"),
            format!("server{tag}.key"),
            format!("server{tag}.csr"),
        );
        let mut a = vec!["req", "-x509", "-nodes", "-days", "2"];
        a.extend(ec);
        a.extend(["-keyout", &cakey, "-out", &ca, "-subj"]);
        let subj = format!("/CN=shardcat test CA{tag}");
        a.push(&subj);
        openssl(dir, &a);
        let mut b = vec!["req", "-nodes"];
        b.extend(ec);
        b.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        openssl(dir, &b);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth\n",
        )
        .expect("ext.cnf");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &cakey,
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &crt,
                "-extfile",
                "ext.cnf",
            ],
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn server_toml(&self, require: bool) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\nrequire_secure_transport = {require}\n",
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }

    /// Makes `rsa.key` (2048-bit RSA private key, PKCS#8 PEM) and returns
    /// its path.
    pub fn rsa_key(&self) -> PathBuf {
        openssl(self.dir.path(), &["genrsa", "-out", "rsa.key", "2048"]);
        self.path("rsa.key")
    }
}
