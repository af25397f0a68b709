//! TLS to clients (issue 16) against real MariaDB through shardcat: the
//! `mariadb` CLI with server-certificate verification, PyMySQL, a wrong
//! CA, `require_secure_transport`, per-user `require_tls`, a certificate
//! replaced by a reload, and no key or password in the log.
//!
//! Owns: these end-to-end checks, and a test CA made with the `openssl`
//! CLI at test time. Must not depend on other test files' state.
//!
//! Needs the test topology (`SHARDCAT_TOPOLOGY_ENV`), `openssl`,
//! `mariadb` and `python3` with PyMySQL. mysql_async is built without a
//! TLS feature here, so it is not one of the clients.

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/util.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;

/// A CA and a server certificate for 127.0.0.1 signed by it.
struct Pki {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
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
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        Pki::issue(dir.path(), "");
        Pki { dir }
    }

    /// Makes `ca{tag}.pem` and `server{tag}.pem`/`server{tag}.key`.
    fn issue(dir: &Path, tag: &str) {
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn server_toml(&self, require: bool) -> String {
        format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"\nrequire_secure_transport = {require}\n",
            self.path("server.pem").display(),
            self.path("server.key").display()
        )
    }
}

fn start(topo: &Topology, pki: &Pki, require: bool) -> CustomProxy {
    let o = ProxyOptions {
        server: pki.server_toml(require),
        extra: "[[user]]\nname = \"secure\"\npassword = \"secure-pw-42\"\nrequire_tls = true\n"
            .into(),
        ..ProxyOptions::default()
    };
    CustomProxy::start(|port| ProxyProcess::config_text(topo, port, &o))
}

/// Runs the `mariadb` CLI against the proxy; `tls` are its TLS options.
fn cli(p: &CustomProxy, user: &str, pw: &str, tls: &[String], sql: &str) -> Output {
    Command::new("mariadb")
        .args([
            "--protocol=tcp",
            "-h",
            "127.0.0.1",
            "-P",
            &p.port.to_string(),
        ])
        .arg(format!("-u{user}"))
        .arg(format!("-p{pw}"))
        .args(tls)
        .args(["--connect-timeout=5", "-e", sql])
        .output()
        .expect("run mariadb")
}

fn verified(ca: &Path) -> Vec<String> {
    vec![
        "--ssl".into(),
        format!("--ssl-ca={}", ca.display()),
        "--ssl-verify-server-cert".into(),
    ]
}

fn plain() -> Vec<String> {
    vec!["--skip-ssl".into()]
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No private key, nor any password of the test, in the log.
fn assert_no_secrets(p: &CustomProxy, pki: &Pki) {
    let log = p.log();
    assert!(!log.contains("PRIVATE KEY"), "key in the log:\n{log}");
    let key = std::fs::read_to_string(pki.path("server.key")).unwrap_or_default();
    for line in key
        .lines()
        .filter(|l| l.len() > 20 && !l.starts_with("-----"))
    {
        assert!(!log.contains(line), "key material in the log:\n{log}");
    }
    for pw in ["secure-pw-42", "other-pw"] {
        assert!(!log.contains(pw), "password {pw} in the log:\n{log}");
    }
}

#[test]
fn mariadb_cli_verifies_the_certificate_and_runs_over_tls() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let p = start(&topo, &pki, false);
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca.pem")),
        "\\s",
    );
    let s = text(&out);
    assert!(out.status.success(), "{s}\n{}", p.log());
    assert!(s.contains("Cipher in use"), "no TLS cipher in \\s:\n{s}");
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca.pem")),
        "SELECT 40+2",
    );
    assert!(text(&out).contains("42"), "{}", text(&out));
    // Plain clients still work when TLS is offered but not required.
    let out = cli(&p, "other", "other-pw", &plain(), "\\s");
    let s = text(&out);
    assert!(out.status.success(), "{s}");
    assert!(!s.contains("Cipher in use"), "{s}");
    assert_no_secrets(&p, &pki);
}

#[test]
fn wrong_ca_fails_cleanly_and_the_proxy_keeps_serving() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    Pki::issue(pki.dir.path(), "-other");
    let p = start(&topo, &pki, false);
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca-other.pem")),
        "SELECT 1",
    );
    let s = text(&out);
    assert!(!out.status.success(), "a wrong CA was accepted: {s}");
    assert!(s.contains("ERROR 2026"), "not a TLS error: {s}");
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca.pem")),
        "SELECT 1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secrets(&p, &pki);
}

#[test]
fn require_secure_transport_refuses_plain_clients() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let p = start(&topo, &pki, true);
    let out = cli(&p, "other", "other-pw", &plain(), "SELECT 1");
    let s = text(&out);
    assert!(!out.status.success(), "{s}");
    assert!(
        s.contains("ERROR 3159")
            && s.contains("Connections using insecure transport are prohibited"),
        "{s}"
    );
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca.pem")),
        "SELECT 1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_no_secrets(&p, &pki);
}

#[test]
fn user_with_require_tls_needs_tls() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let p = start(&topo, &pki, false);
    let out = cli(&p, "secure", "secure-pw-42", &plain(), "SELECT 1");
    let s = text(&out);
    assert!(!out.status.success() && s.contains("ERROR 3159"), "{s}");
    let ok = cli(
        &p,
        "secure",
        "secure-pw-42",
        &verified(&pki.path("ca.pem")),
        "SELECT 1",
    );
    assert!(ok.status.success(), "{}", text(&ok));
    // Other users are not affected.
    let out = cli(&p, "other", "other-pw", &plain(), "SELECT 1");
    assert!(out.status.success(), "{}", text(&out));
    // COM_CHANGE_USER on a plain connection cannot become that user.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut c = mysql_async::Conn::new(p.opts("other", "other-pw", None))
            .await
            .expect("plain login");
        let r = c
            .change_user(
                mysql_async::ChangeUserOpts::default()
                    .with_user(Some("secure".into()))
                    .with_pass(Some("secure-pw-42".into())),
            )
            .await;
        match r {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 3159, "{e}"),
            other => panic!("change of user to a require_tls user: {other:?}"),
        }
    });
    assert_no_secrets(&p, &pki);
}

#[test]
fn pymysql_connects_over_tls() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let p = start(&topo, &pki, true);
    let script = format!(
        r#"
import pymysql
c = pymysql.connect(host="127.0.0.1", port={port}, user="secure", password="secure-pw-42",
                    ssl={{"ca": "{ca}"}}, connect_timeout=5)
cur = c.cursor()
cur.execute("SELECT 6*7")
print("answer", cur.fetchone()[0])
print("cipher", c._sock.cipher()[0])
c.close()
"#,
        port = p.port,
        ca = pki.path("ca.pem").display()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    let s = text(&out);
    assert!(out.status.success(), "{s}\n{}", p.log());
    assert!(s.contains("answer 42") && s.contains("cipher "), "{s}");
    assert_no_secrets(&p, &pki);
}

#[test]
fn reload_switches_new_connections_to_the_new_certificate() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    Pki::issue(pki.dir.path(), "-next");
    let p = start(&topo, &pki, false);
    let old_ca = verified(&pki.path("ca.pem"));
    let new_ca = verified(&pki.path("ca-next.pem"));
    assert!(cli(&p, "other", "other-pw", &old_ca, "SELECT 1")
        .status
        .success());
    for (from, to) in [
        ("server-next.pem", "server.pem"),
        ("server-next.key", "server.key"),
    ] {
        std::fs::copy(pki.path(from), pki.path(to)).expect("replace certificate");
    }
    let out = cli(&p, "app", "app", &old_ca, "SHOW SHARDCAT RELOAD");
    assert!(out.status.success(), "{}\n{}", text(&out), p.log());
    let out = cli(&p, "other", "other-pw", &new_ca, "SELECT 1");
    assert!(out.status.success(), "new certificate: {}", text(&out));
    let out = cli(&p, "other", "other-pw", &old_ca, "SELECT 1");
    assert!(
        !out.status.success(),
        "old CA still accepted after the reload"
    );
    // A key that does not parse fails the reload; the running one stays.
    std::fs::write(pki.path("server.key"), "not a key\n").expect("write");
    let out = cli(&p, "app", "app", &new_ca, "SHOW SHARDCAT RELOAD");
    assert!(!out.status.success(), "a broken key was accepted");
    assert!(cli(&p, "other", "other-pw", &new_ca, "SELECT 1")
        .status
        .success());
    assert_no_secrets(&p, &pki);
}

/// Reads one packet's payload from a raw socket.
fn read_packet(s: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut h = [0u8; 4];
    s.read_exact(&mut h)?;
    let mut p = vec![0u8; u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize];
    s.read_exact(&mut p)?;
    Ok(p)
}

#[test]
fn ssl_request_followed_by_garbage_closes_only_that_connection() {
    use std::io::{Read, Write};
    let topo = Topology::from_env();
    let pki = Pki::new();
    let p = start(&topo, &pki, false);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let greeting = read_packet(&mut s).expect("greeting");
    // Capability flags, lower half: after version, thread id, 8 bytes of
    // nonce and a filler.
    let nul = greeting[1..].iter().position(|b| *b == 0).expect("version") + 1;
    let low = u16::from_le_bytes([greeting[nul + 14], greeting[nul + 15]]);
    assert!(low & 0x0800 != 0, "CLIENT_SSL not announced");
    // The SSL request (CLIENT_SSL | PROTOCOL_41 | SECURE_CONNECTION), seq 1,
    // then bytes that are not a TLS hello.
    let mut req = vec![32, 0, 0, 1];
    req.extend_from_slice(&(0x0800u32 | 0x0200 | 0x8000).to_le_bytes());
    req.extend_from_slice(&[0, 0, 0, 1, 45]);
    req.extend_from_slice(&[0u8; 23]);
    req.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    s.write_all(&req).expect("write");
    let mut rest = Vec::new();
    let r = s.read_to_end(&mut rest);
    // Closed (a TLS alert may come first), not left waiting.
    if let Err(e) = r {
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }
    // Others are served.
    let out = cli(
        &p,
        "other",
        "other-pw",
        &verified(&pki.path("ca.pem")),
        "SELECT 1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(p.log().contains("TLS handshake failed"), "{}", p.log());
    assert_no_secrets(&p, &pki);
}

/// Statements containing `marker` running on any server of the topology.
fn running_on_servers(topo: &Topology, marker: &str) -> usize {
    let sql = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%{marker}%' \
         AND INFO NOT LIKE '%PROCESSLIST%'"
    );
    ["n1p", "n1r1", "n1r2", "n2p", "n2r1"]
        .iter()
        .map(|n| {
            let out = Command::new("mariadb")
                .args(["--protocol=tcp", "-h", "127.0.0.1", "-N", "-B"])
                .arg(format!("-P{}", topo.port(n)))
                .arg(format!("-u{}", topo.user))
                .arg(format!("-p{}", topo.password))
                .args(["-e", &sql])
                .output()
                .expect("mariadb");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
        })
        .sum()
}

/// A table sharded over the two nodes (scatters are watched for the
/// client's departure).
const SLEEPERS: &str = r#"
[[table]]
name = "sleepers"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

#[test]
fn a_tls_client_that_vanishes_stops_its_scatter() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let o = ProxyOptions {
        server: pki.server_toml(false),
        extra: SLEEPERS.into(),
        ..ProxyOptions::default()
    };
    let p = CustomProxy::start(|port| ProxyProcess::config_text(&topo, port, &o));
    let db = format!("tls_gone_{}", std::process::id());
    let tls = verified(&pki.path("ca.pem"));
    let setup = format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}; USE {db}; \
         CREATE TABLE sleepers (id INT PRIMARY KEY, v INT); \
         INSERT INTO sleepers VALUES (1,1),(2,2),(3,3),(4,4),(5,5),(6,6),(7,7),(8,8)"
    );
    let out = cli(&p, "app", "app", &tls, &setup);
    assert!(out.status.success(), "{}", text(&out));
    std::thread::sleep(std::time::Duration::from_secs(1));
    let marker = "SLEEP(2.07)";
    let mut child = Command::new("mariadb")
        .args([
            "--protocol=tcp",
            "-h",
            "127.0.0.1",
            "-P",
            &p.port.to_string(),
        ])
        .args(["-uother", "-pother-pw", "-D", &db])
        .args(&tls)
        .args(["-e", &format!("SELECT id, {marker} FROM sleepers")])
        .spawn()
        .expect("mariadb");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while running_on_servers(&topo, marker) == 0 {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // SIGKILL: no TLS close alert, the socket just closes.
    child.kill().expect("kill");
    let _ = child.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while running_on_servers(&topo, marker) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the scatter kept running after its TLS client vanished\n{}",
            p.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = cli(&p, "app", "app", &tls, &format!("DROP DATABASE {db}"));
}

/// Issues `client{tag}.pem`/`client{tag}.key` for CN `name`, signed by
/// `ca{ca_tag}.pem` (made by [`Pki::issue`]).
fn issue_client(dir: &Path, tag: &str, ca_tag: &str, name: &str) {
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

/// Mutual TLS: `[server] tls_client_ca` verifies client certificates and
/// a `require_x509` user logs in only with one (1045 otherwise, as MySQL's
/// `REQUIRE X509`); a certificate from another CA fails the handshake and
/// the proxy keeps serving; users without the requirement need none.
#[test]
fn client_certificates_are_verified_and_required_where_configured() {
    let topo = Topology::from_env();
    let pki = Pki::new();
    let dir = pki.dir.path();
    issue_client(dir, "", "", "certuser");
    Pki::issue(dir, "_other");
    issue_client(dir, "_other", "_other", "certuser");
    let o = ProxyOptions {
        server: format!(
            "{}tls_client_ca = \"{}\"\n",
            pki.server_toml(false),
            pki.path("ca.pem").display()
        ),
        extra: "[[user]]\nname = \"certuser\"\npassword = \"cert-pw-7\"\nrequire_x509 = true\n"
            .into(),
        ..ProxyOptions::default()
    };
    let p = CustomProxy::start(|port| ProxyProcess::config_text(&topo, port, &o));
    let with_cert = |tag: &str| {
        let mut v = verified(&pki.path("ca.pem"));
        v.push(format!(
            "--ssl-cert={}",
            pki.path(&format!("client{tag}.pem")).display()
        ));
        v.push(format!(
            "--ssl-key={}",
            pki.path(&format!("client{tag}.key")).display()
        ));
        v
    };
    let ok = cli(&p, "certuser", "cert-pw-7", &with_cert(""), "SELECT 1");
    assert!(
        ok.status.success(),
        "with a client certificate: {}",
        text(&ok)
    );
    for (what, tls) in [
        ("TLS without a certificate", verified(&pki.path("ca.pem"))),
        ("no TLS", plain()),
    ] {
        let out = cli(&p, "certuser", "cert-pw-7", &tls, "SELECT 1");
        let s = text(&out);
        assert!(
            !out.status.success() && s.contains("ERROR 1045"),
            "{what}: {s}"
        );
    }
    let out = cli(
        &p,
        "certuser",
        "cert-pw-7",
        &with_cert("_other"),
        "SELECT 1",
    );
    assert!(
        !out.status.success(),
        "a certificate of another CA must fail: {}",
        text(&out)
    );
    // Users without the requirement connect with TLS and no certificate,
    // or without TLS; the proxy still serves after the failed handshake.
    for tls in [verified(&pki.path("ca.pem")), plain()] {
        let out = cli(&p, "other", "other-pw", &tls, "SELECT 1");
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_no_secrets(&p, &pki);
}
