//! Credentials in the configuration against real MariaDB: a client user
//! given only as its `mysql_native_password` hash (as the server's
//! `PASSWORD()` prints it), user and backend passwords from environment
//! variables, no secret in the log, and the warning of `shardcat check`
//! about cleartext passwords in a file others can read.
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

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder};
use util::*;

fn opts(port: u16, user: &str, pw: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(pw))
        .prefer_socket(false)
}

async fn login_code(port: u16, user: &str, pw: &str) -> u16 {
    match Conn::new(opts(port, user, pw)).await {
        Ok(mut c) => {
            let one: Option<i32> = c.query_first("SELECT 1").await.unwrap();
            assert_eq!(one, Some(1));
            c.disconnect().await.ok();
            0
        }
        Err(e) => server_error(e).0,
    }
}

#[tokio::test]
async fn hashed_and_environment_passwords() {
    let topo = Topology::from_env();
    let mut refc = direct_conn(&topo, "ref", None).await;
    let hash: String = refc
        .query_first("SELECT PASSWORD('h-pw-1')")
        .await
        .unwrap()
        .unwrap();
    std::env::set_var("SC_CRED_BACKEND_PW", &topo.password);
    std::env::set_var("SC_CRED_USER_PW", "env-pw-2");
    let backend_line = format!("password = \"{}\"\nhealth_interval_ms", topo.password);
    // The greeting offers caching_sha2_password: the hashed user is
    // switched to mysql_native_password, the other stays on the fast path.
    let proxy = CustomProxy::start(|port| {
        let o = ProxyOptions {
            server: "auth_plugin = \"caching_sha2_password\"".into(),
            extra: format!(
                "\n[[user]]\nname = \"hashed\"\npassword_hash = \"{hash}\"\n\
                 \n[[user]]\nname = \"envuser\"\npassword_env = \"SC_CRED_USER_PW\"\n"
            ),
            ..Default::default()
        };
        let text = ProxyProcess::config_text(&topo, port, &o);
        assert!(text.contains(&backend_line), "template changed:\n{text}");
        text.replacen(
            &backend_line,
            "password_env = \"SC_CRED_BACKEND_PW\"\nhealth_interval_ms",
            1,
        )
    });
    assert_eq!(login_code(proxy.port, "hashed", "h-pw-1").await, 0);
    assert_eq!(login_code(proxy.port, "hashed", "h-pw-2").await, 1045);
    assert_eq!(login_code(proxy.port, "hashed", "").await, 1045);
    assert_eq!(login_code(proxy.port, "envuser", "env-pw-2").await, 0);
    assert_eq!(login_code(proxy.port, "envuser", "h-pw-1").await, 1045);
    // COM_CHANGE_USER to the hashed user.
    let mut c = Conn::new(opts(proxy.port, "envuser", "env-pw-2"))
        .await
        .unwrap();
    c.change_user(
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("hashed".into()))
            .with_pass(Some("h-pw-1".into())),
    )
    .await
    .unwrap_or_else(|e| panic!("change user: {e}\n{}", tail(&proxy.log())));
    let who: Option<String> = c.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(who.as_deref(), Some("hashed@%"));
    c.disconnect().await.ok();
    let log = proxy.log();
    for secret in ["h-pw-1", "env-pw-2", hash.as_str()] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

fn check(text: &str, mode: u32) -> (bool, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .arg("check")
        .arg(&path)
        .env("SC_CHECK_PW", "from-env")
        .env_remove("SC_CHECK_MISSING")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn check_warns_about_readable_cleartext_passwords() {
    let base = "[[node]]\nname = \"n1\"\nprimary = \"127.0.0.1:3306\"\n";
    let clear = format!("{base}[[user]]\nname = \"a\"\npassword = \"pw\"\n");
    let (ok, out) = check(&clear, 0o644);
    assert!(
        ok && out.contains("WARN") && out.contains("mode 644"),
        "{out}"
    );
    assert!(out.contains("user \"a\""), "{out}");
    let (ok, out) = check(&clear, 0o600);
    assert!(ok && !out.contains("WARN"), "{out}");
    let backend = format!("[backend]\npassword = \"b\"\n{base}[[user]]\nname = \"a\"\npassword_env = \"SC_CHECK_PW\"\n");
    let (ok, out) = check(&backend, 0o640);
    assert!(
        ok && out.contains("[backend] password") && !out.contains("user \"a\""),
        "{out}"
    );
    let hashed = format!(
        "[backend]\npassword_env = \"SC_CHECK_PW\"\n{base}[[user]]\nname = \"a\"\npassword_hash = \"*14E65567ABDB5135D0CFD9A70B3032C179A49EE7\"\n"
    );
    let (ok, out) = check(&hashed, 0o644);
    assert!(ok && !out.contains("WARN"), "{out}");
    let missing = format!("{base}[[user]]\nname = \"a\"\npassword_env = \"SC_CHECK_MISSING\"\n");
    let (ok, out) = check(&missing, 0o600);
    assert!(!ok && out.contains("SC_CHECK_MISSING"), "{out}");
    let bad_hash = format!("{base}[[user]]\nname = \"a\"\npassword_hash = \"*12\"\n");
    let (ok, out) = check(&bad_hash, 0o600);
    assert!(!ok && out.contains("password_hash"), "{out}");
    let both =
        format!("{base}[[user]]\nname = \"a\"\npassword = \"x\"\npassword_env = \"SC_CHECK_PW\"\n");
    let (ok, out) = check(&both, 0o600);
    assert!(!ok && out.contains("one of"), "{out}");
    // A secret never appears in check's output.
    assert!(!out.contains("from-env"), "{out}");
    // A caching_sha2 stored form is accepted; a malformed one named.
    let sha2 = shardcat::wire::sha2_stored::StoredSha2::new(b"pw").to_text();
    let stored = format!(
        "[backend]\npassword_env = \"SC_CHECK_PW\"\n{base}[[user]]\nname = \"a\"\npassword_hash = {}\n",
        toml::Value::String(sha2.clone())
    );
    let (ok, out) = check(&stored, 0o600);
    assert!(ok && !out.contains("WARN"), "{out}");
    let cut = stored.replace(
        &toml::Value::String(sha2.clone()).to_string(),
        &toml::Value::String(sha2[..60].into()).to_string(),
    );
    let (ok, out) = check(&cut, 0o600);
    assert!(!ok && out.contains("$A$005$"), "{out}");
}

#[test]
fn check_warns_about_readable_private_keys_and_loads_the_rsa_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("rsa.key");
    let made = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .is_ok_and(|o| o.status.success());
    if !made {
        eprintln!("skipped: no openssl command");
        return;
    }
    let base = "[backend]\npassword_env = \"SC_CHECK_PW\"\n[[node]]\nname = \"n1\"\nprimary = \"127.0.0.1:3306\"\n";
    let text = format!(
        "[server]\nrsa_private_key = \"{}\"\n{base}[[user]]\nname = \"a\"\npassword_env = \"SC_CHECK_PW\"\n",
        key.display()
    );
    for (mode, warned) in [(0o644, true), (0o600, false)] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let (ok, out) = check(&text, 0o600);
        assert!(ok, "{out}");
        assert_eq!(
            out.contains("WARN private key file readable"),
            warned,
            "{out}"
        );
        assert!(!out.contains("PRIVATE KEY"), "{out}");
    }
    std::fs::write(&key, "not a key\n").unwrap();
    let (ok, out) = check(&text, 0o600);
    assert!(
        !ok && out.contains("rsa_private_key") && !out.contains("not a key"),
        "{out}"
    );
}
