//! Throw-away MariaDB servers for tests that change roles (promotions),
//! so the shared topology stays as it is for other test binaries:
//! `scripts/topology.sh start-scratch/stop-scratch` in a directory of their
//! own, on free ports; stopped and removed when dropped. Include with
//! `#[path = "common/scratch.rs"] mod scratch;` (after `mod common;`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use mysql_async::OptsBuilder;

use crate::common::proxy::free_port;
use crate::common::Topology;

pub struct Scratch {
    dir: tempfile::TempDir,
    script: PathBuf,
    pub user: String,
    pub password: String,
    ports: HashMap<String, u16>,
}

impl Scratch {
    pub fn new(topo: &Topology) -> Scratch {
        // Short: the servers' socket paths must stay under 100 bytes.
        let dir = tempfile::Builder::new()
            .prefix("scr")
            .tempdir_in("/tmp")
            .expect("scratch dir");
        Scratch {
            dir,
            script: topo.script_path(),
            user: topo.user.clone(),
            password: topo.password.clone(),
            ports: HashMap::new(),
        }
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let out = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .arg("--dir")
            .arg(self.dir.path())
            .output()?;
        if !out.status.success() {
            anyhow::bail!(
                "topology.sh {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts `name` (on a free port the first time; its own port when
    /// restarted): writable, or a read-only GTID replica of `replica_of`.
    pub fn start(&mut self, name: &str, replica_of: Option<&str>) -> anyhow::Result<u16> {
        let port = *self.ports.entry(name.to_string()).or_insert_with(free_port);
        let port_s = port.to_string();
        let mut args = vec!["start-scratch", name, "--port", &port_s];
        if let Some(p) = replica_of {
            args.extend(["--replica-of", p]);
        }
        self.run(&args)?;
        Ok(port)
    }

    pub fn port(&self, name: &str) -> u16 {
        self.ports[name]
    }

    pub fn addr(&self, name: &str) -> String {
        format!("127.0.0.1:{}", self.port(name))
    }

    /// The pid of `name`'s running server.
    pub fn pid(&self, name: &str) -> i32 {
        let f = self.dir.path().join(format!("x-{name}/mysqld.pid"));
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", f.display()))
    }

    pub fn opts(&self, name: &str, db: Option<&str>) -> OptsBuilder {
        OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port(name))
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .db_name(db)
            .prefer_socket(false)
    }

    pub async fn conn(&self, name: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(self.opts(name, None))
            .await
            .unwrap_or_else(|e| panic!("connect to scratch {name}: {e}"))
    }

    /// `CHANGE MASTER` of `name` to `primary` with GTID, and start it.
    pub fn replicate_sql(&self, primary: &str, use_gtid: &str) -> String {
        format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='repl', \
             MASTER_PASSWORD='repl', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID={use_gtid}; START SLAVE",
            self.port(primary)
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Throw-away servers: killed at once, then their files removed.
        let names: Vec<String> = self.ports.keys().cloned().collect();
        for name in &names {
            let f = self.dir.path().join(format!("x-{name}/mysqld.pid"));
            if let Some(pid) = std::fs::read_to_string(&f)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
        }
        for name in names {
            let _ = self.run(&["stop-scratch", &name, "--purge"]);
        }
    }
}
