//! TLS from shardcat to the servers (`[backend] tls`) against the test
//! topology's MariaDB servers, which `scripts/topology.sh up` starts with a
//! test CA's certificate for 127.0.0.1 (`SHARDCAT_TOPO_SSL_CA`): every
//! mode, checked by the servers' own `Ssl_cipher` of shardcat's
//! connections, and a wrong CA refused with a clear error.
//!
//! Owns: these end-to-end checks. Must not depend on other test files'
//! state.
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`).

mod common;
#[path = "common/util.rs"]
mod util;

use std::process::Command;
use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use util::*;

fn topology_ca() -> String {
    let path = std::env::var("SHARDCAT_TOPOLOGY_ENV").expect("SHARDCAT_TOPOLOGY_ENV");
    let env = common::parse_env(&std::fs::read_to_string(path).expect("topology env"));
    env.get("SHARDCAT_TOPO_SSL_CA")
        .cloned()
        .expect("the topology was started without TLS (openssl missing when it came up?)")
}

fn start(topo: &Topology, mode: &str, ca: &str) -> ProxyProcess {
    ProxyProcess::start_with(
        topo,
        ProxyOptions {
            backend: format!("tls = \"{mode}\"\ntls_ca = \"{ca}\"\n"),
            ..Default::default()
        },
    )
}

/// `Ssl_cipher` of shardcat's connection to the primary and to a replica.
async fn ciphers(proxy: &ProxyProcess) -> Result<(String, String), String> {
    let mut c = proxy_conn(proxy, None).await;
    let mut out = Vec::new();
    // A write-routed statement (primary), then a plain read (replica).
    for sql in [
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER' FOR UPDATE",
        "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'",
    ] {
        let v: Option<String> = c.query_first(sql).await.map_err(|e| e.to_string())?;
        out.push(v.unwrap_or_default());
    }
    c.disconnect().await.ok();
    Ok((out[0].clone(), out[1].clone()))
}

#[tokio::test]
async fn every_mode_against_servers_with_a_certificate() {
    let topo = Topology::from_env();
    let ca = topology_ca();
    for mode in ["off", "prefer", "require", "verify_ca", "verify_identity"] {
        let proxy = start(&topo, mode, &ca);
        let (primary, replica) = ciphers(&proxy)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}\n{}", tail(&proxy.log())));
        if mode == "off" {
            assert_eq!((primary.as_str(), replica.as_str()), ("", ""), "{mode}");
        } else {
            assert!(
                !primary.is_empty() && !replica.is_empty(),
                "{mode}: primary {primary:?}, replica {replica:?}"
            );
        }
        // The rest of the path works over it: a write and a read back.
        let db = db_name("btls");
        let mut c = proxy_conn(&proxy, None).await;
        c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
        c.query_drop(format!("CREATE TABLE {db}.t (id INT PRIMARY KEY)"))
            .await
            .unwrap();
        c.query_drop(format!("INSERT INTO {db}.t VALUES (1), (2)"))
            .await
            .unwrap();
        let n: Option<i64> = c
            .query_first(format!("SELECT COUNT(*) FROM {db}.t FOR UPDATE"))
            .await
            .unwrap();
        assert_eq!(n, Some(2), "{mode}");
        c.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_ca_is_refused_with_a_clear_error() {
    let topo = Topology::from_env();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-nodes", "-days", "1", "-newkey", "rsa:2048",
        ])
        .arg("-keyout")
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .args(["-subj", "/CN=another CA"])
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{out:?}");
    let proxy = start(&topo, "verify_ca", other.to_str().unwrap());
    let t = Instant::now();
    // The login's first statements need a backend connection: refused.
    let e = mysql_async::Conn::new(proxy_opts(&proxy, "app", "app", None))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let (code, _, text) = server_error(e);
    assert_eq!(code, 2003, "{text}");
    assert!(
        text.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    // The same statement once the CA is right.
    let proxy = start(&topo, "verify_ca", &topology_ca());
    let mut c = proxy_conn(&proxy, None).await;
    c.query_drop("SELECT 1 FOR UPDATE").await.unwrap();
    // A mode name that does not exist fails the configuration.
    let bad = ProxyProcess::config_text(
        &topo,
        1,
        &ProxyOptions {
            backend: "tls = \"on\"\n".into(),
            ..Default::default()
        },
    );
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("verify_identity"),
        "{text}"
    );
}
