//! `caching_sha2_password` full authentication (issue 16) with real
//! clients through shardcat: users configured with MySQL's stored form
//! (`$A$005$…`), a generated sequence of logins (client × transport ×
//! user × right/wrong password) checked against a model of the protocol
//! (fast path once a full authentication has cached the digest; full
//! authentication over TLS, or with RSA when `[server] rsa_private_key` is
//! set and the client can use it; 1045/28000 otherwise), a reload that
//! changes a hash, a pass-through user whose servers' login comes from the
//! full authentication, and no password or hash in the log.
//!
//! Owns: these end-to-end checks. Needs the test topology, `openssl`,
//! `mariadb`, `python3` with PyMySQL (+ cryptography) and
//! mysql-connector-python; Node's mysql2 is used when `node` finds it.

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/util.rs"]
mod util;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use mysql_async::prelude::Queryable;
use pki::Pki;
use shardcat::wire::sha2_stored::StoredSha2;

const PASSWORDS: [(&str, &str); 2] = [("sha2u", "sha2-u-pw-9"), ("sha2pt", "sha2-pt-pw-4")];

/// Answers one login per line of JSON on stdin (PyMySQL or
/// mysql-connector-python), one line of JSON each.
const PY_DRIVER: &str = r#"
import json, sys
import pymysql, mysql.connector
for line in sys.stdin:
    c = json.loads(line)
    try:
        if c["client"] == "pymysql":
            kw = dict(host="127.0.0.1", port=c["port"], user=c["user"], password=c["password"],
                      connect_timeout=5)
            if c["transport"] == "tls":
                kw["ssl"] = {"ca": c["ca"]}
            else:
                # PyMySQL would use the TLS the proxy offers.
                kw["ssl_disabled"] = True
            if c["transport"] == "pinned":
                kw["server_public_key"] = open(c["pubkey"], "rb").read()
            conn = pymysql.connect(**kw)
        else:
            kw = dict(host="127.0.0.1", port=c["port"], user=c["user"], password=c["password"],
                      connection_timeout=5, use_pure=True)
            if c["transport"] == "tls":
                kw.update(ssl_ca=c["ca"], ssl_verify_cert=True)
            else:
                kw["ssl_disabled"] = True
            conn = mysql.connector.connect(**kw)
        cur = conn.cursor()
        cur.execute(c["sql"])
        row = cur.fetchone()
        conn.close()
        out = {"ok": True, "row": str(row[0])}
    except Exception as e:
        code = getattr(e, "errno", None) or (e.args[0] if e.args and isinstance(e.args[0], int) else None)
        out = {"ok": False, "code": code, "sqlstate": getattr(e, "sqlstate", None), "msg": str(e)}
    print(json.dumps(out), flush=True)
"#;

/// Node's mysql2, one login per run (argv: JSON case).
const NODE_DRIVER: &str = r#"
const mysql = require('mysql2/promise');
const fs = require('fs');
const c = JSON.parse(process.argv[process.argv.length - 1]);
(async () => {
  const o = {host: '127.0.0.1', port: c.port, user: c.user, password: c.password, connectTimeout: 5000};
  if (c.transport === 'tls') o.ssl = {ca: fs.readFileSync(c.ca)};
  if (c.transport === 'pinned') o.serverPublicKey = fs.readFileSync(c.pubkey, 'utf8');
  try {
    const conn = await mysql.createConnection(o);
    const [rows] = await conn.query({sql: c.sql, rowsAsArray: true});
    await conn.end();
    console.log(JSON.stringify({ok: true, row: String(rows[0][0])}));
  } catch (e) {
    console.log(JSON.stringify({ok: false, code: e.errno || null, sqlstate: e.sqlState || null, msg: e.message}));
  }
})();
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    PyMySql,
    Connector,
    Cli,
    Node,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// No TLS; the client asks for the public key if it needs it.
    Plain,
    /// No TLS; the client was given the public key.
    Pinned,
    Tls,
}

#[derive(Debug)]
struct Outcome {
    ok: bool,
    code: Option<u16>,
    sqlstate: Option<String>,
    text: String,
}

struct PyDriver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PyDriver {
    fn start() -> PyDriver {
        let mut child = Command::new("python3")
            .args(["-c", PY_DRIVER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        PyDriver {
            child,
            stdin,
            stdout,
        }
    }

    fn run(&mut self, case: &serde_json_lite::Case) -> Outcome {
        writeln!(self.stdin, "{}", case.json()).expect("driver stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("driver stdout");
        serde_json_lite::outcome(&line)
    }
}

impl Drop for PyDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tiny JSON for the drivers (the test crate has no JSON dependency).
mod serde_json_lite {
    use super::Outcome;

    pub struct Case {
        pub fields: Vec<(&'static str, String)>,
        pub port: u16,
    }

    fn quote(s: &str) -> String {
        let mut o = String::from("\"");
        for ch in s.chars() {
            match ch {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    }

    impl Case {
        pub fn json(&self) -> String {
            let mut parts = vec![format!("\"port\": {}", self.port)];
            parts.extend(
                self.fields
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), quote(v))),
            );
            format!("{{{}}}", parts.join(", "))
        }
    }

    /// Reads the drivers' answer lines (flat objects of strings, numbers,
    /// booleans and null).
    pub fn outcome(line: &str) -> Outcome {
        let field = |key: &str| -> Option<String> {
            let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
            let rest = line[at..].trim_start();
            if let Some(body) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = body.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => out.push(chars.next().unwrap_or('\\')),
                        c => out.push(c),
                    }
                }
                Some(out)
            } else {
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                Some(rest[..end].trim().to_string()).filter(|v| v != "null")
            }
        };
        Outcome {
            ok: field("ok").as_deref() == Some("true"),
            code: field("code").and_then(|c| c.parse().ok()),
            sqlstate: field("sqlstate"),
            text: line.trim().to_string(),
        }
    }
}

/// A proxy with TLS, the two `$A$005$` users and (optionally) an RSA key.
struct Setup {
    pki: Pki,
    pubkey: std::path::PathBuf,
    proxy: CustomProxy,
    hashes: Vec<String>,
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn users_toml(hashes: &[String]) -> String {
    let mut t = String::new();
    for ((name, _), hash) in PASSWORDS.iter().zip(hashes) {
        let pt = if *name == "sha2pt" {
            "backend_auth = \"passthrough\"\n"
        } else {
            ""
        };
        t.push_str(&format!(
            "\n[[user]]\nname = \"{name}\"\npassword_hash = {}\n{pt}",
            toml_string(hash)
        ));
    }
    t
}

fn setup(topo: &Topology, rsa: bool, plugin: &str) -> Setup {
    let pki = Pki::new();
    let key = pki.rsa_key();
    let pubkey = pki.path("rsa.pub");
    pki::openssl(
        pki.dir.path(),
        &["rsa", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"],
    );
    let hashes: Vec<String> = PASSWORDS
        .iter()
        .map(|(_, pw)| StoredSha2::new(pw.as_bytes()).to_text())
        .collect();
    let mut server = pki.server_toml(false);
    server.push_str(&format!("auth_plugin = \"{plugin}\"\n"));
    if rsa {
        server.push_str(&format!("rsa_private_key = \"{}\"\n", key.display()));
    }
    // The generated refusals must not trip the brute-force delay.
    let security =
        "\n[security]\nauth_failures_before_delay = 10000\nauth_failures_before_block = 20000\n";
    let o = ProxyOptions {
        server,
        extra: format!("{security}{}", users_toml(&hashes)),
        ..ProxyOptions::default()
    };
    let proxy = CustomProxy::start(|port| ProxyProcess::config_text(topo, port, &o));
    Setup {
        pki,
        pubkey,
        proxy,
        hashes,
    }
}

/// The pass-through user's own account on the servers.
async fn backend_account(topo: &Topology) {
    let (name, pw) = PASSWORDS[1];
    for primary in ["n1p", "n2p"] {
        let mut c = util::direct_conn(topo, primary, None).await;
        c.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .await
            .unwrap();
        c.query_drop(format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{pw}'"))
            .await
            .unwrap();
        c.query_drop(format!("GRANT SELECT ON *.* TO '{name}'@'%'"))
            .await
            .unwrap();
    }
    util::sync_replicas(topo).await;
}

fn node_available() -> bool {
    Command::new("node")
        .args(["-e", "require('mysql2')"])
        .output()
        .is_ok_and(|o| o.status.success())
}

const SQL: &str = "SELECT COUNT(*) > 0 FROM information_schema.SCHEMATA";

impl Setup {
    fn login(
        &self,
        py: &mut PyDriver,
        client: Client,
        transport: Transport,
        user: &str,
        pw: &str,
    ) -> Outcome {
        let case = serde_json_lite::Case {
            port: self.proxy.port,
            fields: vec![
                (
                    "client",
                    match client {
                        Client::PyMySql => "pymysql",
                        _ => "connector",
                    }
                    .into(),
                ),
                (
                    "transport",
                    match transport {
                        Transport::Plain => "plain",
                        Transport::Pinned => "pinned",
                        Transport::Tls => "tls",
                    }
                    .into(),
                ),
                ("user", user.into()),
                ("password", pw.into()),
                ("ca", self.pki.path("ca.pem").display().to_string()),
                ("pubkey", self.pubkey.display().to_string()),
                ("sql", SQL.into()),
            ],
        };
        match client {
            Client::PyMySql | Client::Connector => py.run(&case),
            Client::Node => {
                let out = Command::new("node")
                    .args(["-e", NODE_DRIVER, "--", &case.json()])
                    .output()
                    .expect("node");
                serde_json_lite::outcome(&String::from_utf8_lossy(&out.stdout))
            }
            Client::Cli => self.cli(transport, user, pw),
        }
    }

    fn cli(&self, transport: Transport, user: &str, pw: &str) -> Outcome {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--protocol=tcp", "-h", "127.0.0.1", "-N", "-B"])
            .arg(format!("-P{}", self.proxy.port))
            .arg(format!("-u{user}"))
            .arg(format!("-p{pw}"))
            .arg("--connect-timeout=5");
        match transport {
            Transport::Tls => {
                cmd.arg("--ssl")
                    .arg(format!("--ssl-ca={}", self.pki.path("ca.pem").display()))
                    .arg("--ssl-verify-server-cert");
            }
            _ => {
                cmd.arg("--skip-ssl");
            }
        }
        let out = cmd.args(["-e", SQL]).output().expect("mariadb");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // "ERROR 1045 (28000): …"
        let code = text
            .split("ERROR ")
            .nth(1)
            .and_then(|r| r.get(..4))
            .and_then(|c| c.parse().ok());
        let sqlstate = text
            .split(" (")
            .nth(1)
            .and_then(|r| r.get(..5))
            .map(str::to_string);
        Outcome {
            ok: out.status.success(),
            code,
            sqlstate,
            text,
        }
    }

    fn assert_no_secrets(&self) {
        let log = self.proxy.log();
        for (_, pw) in PASSWORDS {
            assert!(!log.contains(pw), "password in the log:\n{log}");
        }
        for h in &self.hashes {
            assert!(!log.contains(&h[7..]), "stored hash in the log:\n{log}");
        }
        assert!(!log.contains("PRIVATE KEY"), "key in the log:\n{log}");
    }
}

/// What a login should do: whether the client can hand over the password
/// when full authentication is needed.
fn can_full(client: Client, transport: Transport, rsa: bool) -> bool {
    match transport {
        Transport::Tls => true,
        // PyMySQL and libmariadb ask for the key; mysql-connector-python
        // sends the password in clear (refused), mysql2 refuses to ask.
        Transport::Plain => rsa && matches!(client, Client::PyMySql | Client::Cli),
        Transport::Pinned => rsa,
    }
}

/// Runs `n` generated logins (seeded) against `s` and checks each against
/// the model; returns (successes, refusals, fast-path successes).
fn generated_logins(
    s: &Setup,
    py: &mut PyDriver,
    rsa: bool,
    seed: u64,
    n: usize,
) -> (usize, usize, usize) {
    let mut clients = vec![Client::PyMySql, Client::Connector, Client::Cli];
    if node_available() {
        clients.push(Client::Node);
    }
    // The two `$A$005$` users, a cleartext-configured user (its digest
    // is always known) and a user that does not exist.
    let people = [
        PASSWORDS[0],
        PASSWORDS[1],
        ("other", "other-pw"),
        ("ghost", "ghost-pw"),
    ];
    let mut warm = [false, false, true, false];
    let mut rng = seed;
    let mut next = |m: usize| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) as usize) % m
    };
    let (mut ok, mut refused, mut fast) = (0, 0, 0);
    for i in 0..n {
        let client = clients[next(clients.len())];
        let transports: &[Transport] = match client {
            Client::PyMySql | Client::Node => {
                &[Transport::Plain, Transport::Pinned, Transport::Tls]
            }
            Client::Connector | Client::Cli => &[Transport::Plain, Transport::Tls],
        };
        let transport = transports[next(transports.len())];
        // mysql2 never asks for the key: plain means pinned for it.
        let transport = match (client, transport) {
            (Client::Node, Transport::Plain) => Transport::Pinned,
            (_, t) => t,
        };
        let u = next(people.len());
        let right = next(3) != 0;
        let (user, pw) = people[u];
        let wrong = format!("{pw}x");
        let got = s.login(py, client, transport, user, if right { pw } else { &wrong });
        let full_possible = can_full(client, transport, rsa);
        let expect_ok = right && user != "ghost" && (warm[u] || full_possible);
        let what = format!(
            "case {i}: {client:?} {transport:?} {user} right={right} warm={} rsa={rsa}",
            warm[u]
        );
        assert_eq!(got.ok, expect_ok, "{what}: {got:?}\n{}", s.proxy.log());
        if got.ok {
            assert!(got.text.contains('1'), "{what}: {got:?}");
            fast += usize::from(warm[u] && u < 2);
            warm[u] = true;
            ok += 1;
        } else {
            refused += 1;
            // mysql2 with a pinned key but no RSA on the proxy: the proxy
            // refuses before the key is used, with the same 1045.
            assert_eq!(got.code, Some(1045), "{what}: {got:?}");
            if matches!(client, Client::Connector | Client::Cli | Client::Node) {
                assert_eq!(got.sqlstate.as_deref(), Some("28000"), "{what}: {got:?}");
            }
        }
    }
    (ok, refused, fast)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_logins_follow_the_protocol_with_and_without_rsa() {
    let topo = Topology::from_env();
    backend_account(&topo).await;
    let mut py = PyDriver::start();
    let mut total = (0, 0, 0);
    for (rsa, plugin, seed) in [
        (true, "caching_sha2_password", 7u64),
        (false, "mysql_native_password", 11u64),
    ] {
        let s = setup(&topo, rsa, plugin);
        let (ok, refused, fast) =
            tokio::task::block_in_place(|| generated_logins(&s, &mut py, rsa, seed, 20));
        eprintln!(
            "rsa={rsa} greeting={plugin}: {ok} logins, {refused} refused, {fast} $A$005$ logins by the fast path"
        );
        total = (total.0 + ok, total.1 + refused, total.2 + fast);
        s.assert_no_secrets();
    }
    assert!(
        total.0 > 8 && total.1 > 8 && total.2 > 3,
        "too few of each: {total:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_a_new_hash_needs_a_new_full_authentication() {
    let topo = Topology::from_env();
    let mut py = PyDriver::start();
    let s = setup(&topo, false, "caching_sha2_password");
    let (user, pw) = PASSWORDS[0];
    let go = |py: &mut PyDriver, t, pw: &str| {
        tokio::task::block_in_place(|| s.login(py, Client::PyMySql, t, user, pw))
    };
    let cold = go(&mut py, Transport::Plain, pw);
    assert!(!cold.ok, "cold cache, no RSA, no TLS: {cold:?}");
    assert!(go(&mut py, Transport::Tls, pw).ok, "full over TLS");
    assert!(go(&mut py, Transport::Plain, pw).ok, "fast path");
    // A new password's hash, reloaded.
    let new_pw = "sha2-u-new-pw";
    let new_hash = StoredSha2::new(new_pw.as_bytes()).to_text();
    let path = s.proxy.config_path();
    let text = std::fs::read_to_string(&path).expect("config");
    let text = text.replace(&toml_string(&s.hashes[0]), &toml_string(&new_hash));
    std::fs::write(&path, text).expect("write config");
    let r = tokio::task::block_in_place(|| {
        let mut c = Command::new("mariadb");
        c.args(["--protocol=tcp", "-h", "127.0.0.1", "-uapp", "-papp"])
            .arg(format!("-P{}", s.proxy.port))
            .args(["-e", "SHOW SHARDCAT RELOAD"]);
        c.output().expect("mariadb")
    });
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let old = go(&mut py, Transport::Tls, pw);
    assert!(
        !old.ok && old.code == Some(1045),
        "old password after reload: {old:?}"
    );
    let cold = go(&mut py, Transport::Plain, new_pw);
    assert!(
        !cold.ok,
        "the cache kept an entry across a hash change: {cold:?}"
    );
    assert!(go(&mut py, Transport::Tls, new_pw).ok);
    assert!(go(&mut py, Transport::Plain, new_pw).ok, "fast path again");
    let log = s.proxy.log();
    assert!(
        !log.contains(new_pw) && !log.contains(&new_hash[7..]),
        "{log}"
    );
    s.assert_no_secrets();
}

#[test]
fn password_hash_command_prints_a_stored_form_that_verifies() {
    for (plugin, pw) in [
        ("caching_sha2_password", "pw with \"quotes\" and \\ and é"),
        ("mysql_native_password", "secret"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(["password-hash", "--plugin", plugin])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("shardcat password-hash");
        writeln!(child.stdin.take().expect("stdin"), "{pw}").expect("write");
        let out = child.wait_with_output().expect("output");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(pw), "{text}");
        let parsed: toml::Table = toml::from_str(&text).expect("a TOML line");
        let hash = parsed["password_hash"].as_str().expect("string");
        match plugin {
            "caching_sha2_password" => {
                assert!(StoredSha2::parse(hash)
                    .expect("stored form")
                    .matches(pw.as_bytes()))
            }
            _ => assert_eq!(hash, "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"),
        }
    }
}

/// COM_CHANGE_USER to a `$A$005$` user runs the same exchange: full
/// authentication over TLS (mysql-connector-python's `cmd_change_user`),
/// then the fast path on a plain connection; a wrong password ends the
/// connection with 1045.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_to_a_stored_form_user() {
    let topo = Topology::from_env();
    let s = setup(&topo, false, "mysql_native_password");
    let (user, pw) = PASSWORDS[0];
    let script = r#"
import json, sys
import mysql.connector
port, ca, user, pw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def step(tls, password):
    kw = dict(host="127.0.0.1", port=int(port), user="other", password="other-pw",
              connection_timeout=5, use_pure=True)
    kw.update(dict(ssl_ca=ca, ssl_verify_cert=True) if tls else dict(ssl_disabled=True))
    c = mysql.connector.connect(**kw)
    try:
        c.cmd_change_user(username=user, password=password)
        cur = c.cursor()
        cur.execute("SELECT CURRENT_USER()")
        return cur.fetchone()[0]
    except mysql.connector.Error as e:
        return f"ERR {e.errno} {e.sqlstate}"
print(json.dumps([step(False, pw), step(True, pw + "x"), step(True, pw), step(False, pw)]))
"#;
    let out = tokio::task::block_in_place(|| {
        Command::new("python3")
            .args(["-c", script])
            .arg(s.proxy.port.to_string())
            .arg(s.pki.path("ca.pem"))
            .args([user, pw])
            .output()
            .expect("python3")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("[\"ERR 1045 28000\", \"ERR 1045 28000\", \"{user}@%\", \"{user}@%\"]");
    assert_eq!(text.trim(), want, "{}", s.proxy.log());
    s.assert_no_secrets();
}
