//! A shardcat process started from arbitrary configuration text (for
//! topologies the standard template cannot express, e.g. a node on a dead
//! port). Include with `#[path = "common/custom_proxy.rs"] mod custom_proxy;`.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::proxy::{free_port, ProxyOptions, ProxyProcess};
use crate::common::Topology;

pub struct CustomProxy {
    pub port: u16,
    child: Child,
    pub config_text: String,
    dir: tempfile::TempDir,
}

impl CustomProxy {
    /// Starts shardcat with `make_config(port)` as its configuration.
    pub fn start(make_config: impl FnOnce(u16) -> String) -> CustomProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let text = make_config(port);
        let path = dir.path().join("shardcat.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("write config");
        let log = std::fs::File::create(dir.path().join("shardcat.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("SHARDCAT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shardcat");
        let p = CustomProxy {
            port,
            child,
            config_text: text,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "shardcat did not start listening; log:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        p
    }

    /// The standard test configuration with node n2's primary and replica
    /// moved to `n2_primary` / `n2_replica` (e.g. dead addresses).
    pub fn with_n2_at(
        topo: &Topology,
        o: ProxyOptions,
        n2_primary: &str,
        n2_replica: &str,
    ) -> CustomProxy {
        let p2 = format!("primary = \"127.0.0.1:{}\"", topo.port("n2p"));
        let r2 = format!("addr = \"127.0.0.1:{}\"", topo.port("n2r1"));
        let np = format!("primary = \"{n2_primary}\"");
        let nr = format!("addr = \"{n2_replica}\"");
        CustomProxy::start(|port| {
            let text = ProxyProcess::config_text(topo, port, &o);
            assert!(
                text.contains(&p2) && text.contains(&r2),
                "template changed:\n{text}"
            );
            text.replace(&p2, &np).replace(&r2, &nr)
        })
    }

    /// The standard test configuration, but with a backend account that
    /// the read-only replicas refuse writes from (see
    /// `util::nosuper_backend_user`): a write the proxy misroutes to a
    /// replica fails with 1290 instead of corrupting replication.
    pub async fn nosuper(topo: &Topology, o: ProxyOptions) -> CustomProxy {
        let (user, pw) = crate::util::nosuper_backend_user(topo).await;
        let u = format!(
            "user = \"{}\"\npassword = \"{}\"\n",
            topo.user, topo.password
        );
        let nu = format!("user = \"{user}\"\npassword = \"{pw}\"\n");
        CustomProxy::start(|port| {
            let text = ProxyProcess::config_text(topo, port, &o);
            assert!(text.contains(&u), "template changed:\n{text}");
            text.replacen(&u, &nu, 1)
        })
    }

    /// The configuration file (rewrite it, then reload).
    pub fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("shardcat.toml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("shardcat.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn opts(&self, user: &str, password: &str, db: Option<&str>) -> mysql_async::OptsBuilder {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .db_name(db)
            .prefer_socket(false)
    }
}

impl Drop for CustomProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl crate::util::ProxyLike for CustomProxy {
    fn port(&self) -> u16 {
        self.port
    }
    fn log(&self) -> String {
        CustomProxy::log(self)
    }
    fn pid(&self) -> u32 {
        CustomProxy::pid(self)
    }
}
