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
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
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
    // The health checker uses the same TLS settings: it marks the servers
    // down, and says why.
    let log = proxy.log();
    assert!(
        text.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer")
            || text.contains("marked down by the health checker")
                && log.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{text}\n{}",
        tail(&log)
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

/// A client certificate signed by the topology's CA (its key is beside
/// the CA's certificate): (certificate, key) paths in `dir`.
fn client_certificate(dir: &std::path::Path) -> (String, String) {
    let ca = std::path::PathBuf::from(topology_ca());
    let ca_key = ca.with_file_name("ca.key");
    let (key, csr, pem, ext) = (
        dir.join("client.key"),
        dir.join("client.csr"),
        dir.join("client.pem"),
        dir.join("client.cnf"),
    );
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").unwrap();
    let run = |args: Vec<std::ffi::OsString>| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{out:?}");
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    run(vec![
        os("req"),
        os("-nodes"),
        os("-newkey"),
        os("ec"),
        os("-pkeyopt"),
        os("ec_paramgen_curve:prime256v1"),
        os("-keyout"),
        key.clone().into(),
        os("-out"),
        csr.clone().into(),
        os("-subj"),
        os("/CN=shardcat-client"),
    ]);
    run(vec![
        os("x509"),
        os("-req"),
        os("-days"),
        os("2"),
        os("-in"),
        csr.into(),
        os("-CA"),
        ca.into(),
        os("-CAkey"),
        ca_key.into(),
        os("-CAserial"),
        dir.join("ca.srl").into(),
        os("-CAcreateserial"),
        os("-out"),
        pem.clone().into(),
        os("-extfile"),
        ext.into(),
    ]);
    (
        pem.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// An account that only logs in with a client certificate (`REQUIRE
/// X509`) on every server, as the backend account: the pools and the
/// health checker must both present the certificate, and only node n2
/// uses TLS (`[[node]] tls` overrides `[backend] tls = "off"`).
#[tokio::test]
async fn client_certificate_per_node_tls_and_the_health_checker() {
    let topo = Topology::from_env();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = client_certificate(dir.path());
    for primary in ["n1p", "n2p"] {
        let mut p = direct_conn(&topo, primary, None).await;
        p.query_drop("DROP USER IF EXISTS 'sc_x509'@'%'")
            .await
            .unwrap();
        p.query_drop("CREATE USER 'sc_x509'@'%' IDENTIFIED BY 'x509-pw' REQUIRE X509")
            .await
            .unwrap();
        p.query_drop(
            "GRANT SELECT, INSERT, CREATE, DROP, PROCESS, REPLICA MONITOR, BINLOG MONITOR ON *.* TO 'sc_x509'@'%'",
        )
        .await
        .unwrap();
        p.disconnect().await.unwrap();
    }
    sync_replicas(&topo).await;
    let db = db_name("x509");
    let start = |with_cert: bool| {
        let (topo, db) = (&topo, &db);
        let client = if with_cert {
            format!("tls_cert = \"{cert}\"\ntls_key = \"{key}\"\n")
        } else {
            String::new()
        };
        custom_proxy::CustomProxy::start(move |port| {
            let o = ProxyOptions {
                backend: client.clone(),
                // After n2's `replicas`: keys of node n2.
                extra: format!(
                    "tls = \"verify_identity\"\ntls_ca = \"{}\"\n\n[[schema]]\nname = \"{db}\"\nnode = \"n2\"\n",
                    topology_ca()
                ),
                ..Default::default()
            };
            let text = ProxyProcess::config_text(topo, port, &o);
            let from = format!("user = \"{}\"\npassword = \"{}\"", topo.user, topo.password);
            assert!(text.contains(&from), "template changed:\n{text}");
            text.replacen(&from, "user = \"sc_x509\"\npassword = \"x509-pw\"", 1)
        })
    };
    setup_db_on(&topo, "n2p", &db, &[]).await;
    let proxy = start(true);
    // Give a clear-text health checker time to mark n2's servers down.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut c = mysql_async::Conn::new(proxy_opts(&proxy, "app", "app", Some(&db)))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&proxy.log())));
    let cipher = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'";
    for sql in [format!("{cipher} FOR UPDATE"), cipher.to_string()] {
        let v: Option<String> = c
            .query_first(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}\n{}", tail(&proxy.log())));
        assert!(v.is_some_and(|v| !v.is_empty()), "{sql}");
    }
    // n1 logs in in clear: its servers refuse the account.
    // (Statements route by the current database: `USE` one of n1's.)
    let e = expect_server_error(c.query_drop(format!("USE {db}_n1")).await);
    assert_eq!(e.0, 2003, "{e:?}");
    c.disconnect().await.ok();
    drop(proxy);
    // Without the certificate n2 refuses it too.
    let proxy = start(false);
    let refused = match mysql_async::Conn::new(proxy_opts(&proxy, "app", "app", Some(&db))).await {
        Ok(mut c) => c
            .query_drop("SELECT 1 FOR UPDATE")
            .await
            .map_err(server_error),
        Err(e) => Err(server_error(e)),
    };
    assert_eq!(refused.map_err(|e| e.0), Err(2003));
    drop_db_on(&topo, "n2p", &db).await;
    for primary in ["n1p", "n2p"] {
        let mut p = direct_conn(&topo, primary, None).await;
        p.query_drop("DROP USER 'sc_x509'@'%'").await.unwrap();
        p.disconnect().await.unwrap();
    }
}
