//! Shared helpers for integration tests that use the local MariaDB test
//! topology started by `scripts/topology.sh up` (or by `scripts/test.sh`).
//!
//! Include it from a test file with `mod common;` and call
//! [`Topology::from_env`], which reads the env file named by
//! `SHARDCAT_TOPOLOGY_ENV` (written by `scripts/topology.sh up` as
//! `<dir>/topology.env`).
//!
//! Instances: `n1p` (primary of node n1) with replicas `n1r1`, `n1r2`;
//! `n2p` (primary of node n2) with replica `n2r1`; `ref`, a standalone
//! server for differential tests. All listen on 127.0.0.1.
#![allow(dead_code)]

pub mod proxy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The env var naming the topology env file.
pub const TOPOLOGY_ENV_VAR: &str = "SHARDCAT_TOPOLOGY_ENV";

/// Instance names, in port order.
pub const INSTANCE_NAMES: [&str; 6] = ["n1p", "n1r1", "n1r2", "n2p", "n2r1", "ref"];

/// The database created on every instance (on replicas via replication).
pub const TEST_DB: &str = "shardcat_test";

const MISSING_TOPOLOGY: &str = "integration tests need the MariaDB test topology: run \
     `scripts/test.sh` (or `scripts/topology.sh up` and export \
     SHARDCAT_TOPOLOGY_ENV=.topology/topology.env)";

#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub port: u16,
    pub socket: PathBuf,
    pub pid_file: PathBuf,
    /// `primary`, `replica` or `standalone`.
    pub role: String,
    /// For replicas: the name of the instance they replicate from.
    pub primary: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub dir: PathBuf,
    pub user: String,
    pub password: String,
    pub instances: HashMap<String, Instance>,
    /// Every KEY=VALUE of the env file, as read.
    pub vars: HashMap<String, String>,
}

impl Topology {
    /// Reads the topology named by `SHARDCAT_TOPOLOGY_ENV`. Panics at once,
    /// with instructions, if the variable is unset or the file is unusable.
    pub fn from_env() -> Topology {
        let path = match std::env::var_os(TOPOLOGY_ENV_VAR) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => panic!("{MISSING_TOPOLOGY} ({TOPOLOGY_ENV_VAR} is not set)"),
        };
        match Topology::from_file(&path) {
            Ok(t) => t,
            Err(e) => panic!(
                "{MISSING_TOPOLOGY} ({TOPOLOGY_ENV_VAR}={}: {e:#})",
                path.display()
            ),
        }
    }

    /// Parses a `topology.env` file (KEY=VALUE lines, `#` comments).
    pub fn from_file(path: &Path) -> anyhow::Result<Topology> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let vars = parse_env(&text);
        let get = |key: &str| -> anyhow::Result<String> {
            vars.get(key)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{} has no {key}", path.display()))
        };
        let names: Vec<String> = match vars.get("SHARDCAT_TOPO_INSTANCES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => INSTANCE_NAMES.iter().map(|s| s.to_string()).collect(),
        };
        let mut instances = HashMap::new();
        for name in names {
            let up = name.to_uppercase();
            let port_s = get(&format!("SHARDCAT_TOPO_{up}_PORT"))?;
            let port: u16 = port_s
                .parse()
                .map_err(|_| anyhow::anyhow!("bad port for {name}: {port_s:?}"))?;
            let inst = Instance {
                name: name.clone(),
                port,
                socket: PathBuf::from(get(&format!("SHARDCAT_TOPO_{up}_SOCKET"))?),
                pid_file: PathBuf::from(get(&format!("SHARDCAT_TOPO_{up}_PID_FILE"))?),
                role: vars
                    .get(&format!("SHARDCAT_TOPO_{up}_ROLE"))
                    .cloned()
                    .unwrap_or_default(),
                primary: vars.get(&format!("SHARDCAT_TOPO_{up}_PRIMARY")).cloned(),
            };
            instances.insert(name, inst);
        }
        Ok(Topology {
            dir: PathBuf::from(get("SHARDCAT_TOPO_DIR")?),
            user: get("SHARDCAT_TOPO_USER")?,
            password: get("SHARDCAT_TOPO_PASSWORD")?,
            instances,
            vars,
        })
    }

    /// The instance called `name`; panics if there is none.
    pub fn instance(&self, name: &str) -> &Instance {
        self.instances.get(name).unwrap_or_else(|| {
            let mut known: Vec<_> = self.instances.keys().collect();
            known.sort();
            panic!("no instance {name:?} in the topology (known: {known:?})")
        })
    }

    pub fn port(&self, name: &str) -> u16 {
        self.instance(name).port
    }

    /// A mysql_async URL: `mysql://user:pass@127.0.0.1:port[/db]`.
    pub fn mysql_url(&self, name: &str, db: Option<&str>) -> String {
        let port = self.port(name);
        match db {
            Some(db) => format!(
                "mysql://{}:{}@127.0.0.1:{port}/{db}",
                self.user, self.password
            ),
            None => format!("mysql://{}:{}@127.0.0.1:{port}", self.user, self.password),
        }
    }

    /// The pid of the instance's server, read from its pid file.
    pub fn pid(&self, name: &str) -> i32 {
        let pf = &self.instance(name).pid_file;
        let text = std::fs::read_to_string(pf)
            .unwrap_or_else(|e| panic!("{name} is not running? cannot read {}: {e}", pf.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad pid in {}: {text:?}", pf.display()))
    }

    /// Names of the replicas of primary `name`, sorted.
    pub fn replicas_of(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .instances
            .values()
            .filter(|i| i.primary.as_deref() == Some(name))
            .map(|i| i.name.clone())
            .collect();
        v.sort();
        v
    }

    /// Path of `scripts/topology.sh` (this checkout's, else the env file's).
    pub fn script_path(&self) -> PathBuf {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/topology.sh");
        if here.exists() {
            return here;
        }
        match self.vars.get("SHARDCAT_TOPO_SCRIPT") {
            Some(p) => PathBuf::from(p),
            None => here,
        }
    }

    /// Runs `scripts/topology.sh ARGS --dir DIR` and returns its stdout;
    /// an error (with stderr) if it exits non-zero.
    pub fn run_script(&self, args: &[&str]) -> anyhow::Result<String> {
        let script = self.script_path();
        let out = Command::new("bash")
            .arg(&script)
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            anyhow::bail!(
                "topology.sh {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// (Re)starts one instance, keeping its replication config; waits until
    /// it answers (and, for a replica of a running primary, replicates).
    pub fn start_instance(&self, name: &str) -> anyhow::Result<()> {
        self.run_script(&["start-instance", name]).map(drop)
    }

    /// Stops one instance cleanly (SIGTERM, then SIGKILL after a timeout).
    pub fn stop_instance(&self, name: &str) -> anyhow::Result<()> {
        self.run_script(&["stop-instance", name]).map(drop)
    }
}

/// Parses KEY=VALUE lines; skips blanks and `#` comments; strips one pair
/// of surrounding quotes from values.
pub fn parse_env(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            vars.insert(k.trim().to_string(), v.to_string());
        }
    }
    vars
}

fn send_signal(sig: &str, pid: i32) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill -{sig} {pid} failed: {status}");
}

/// Freezes a process (a server that hangs without closing connections).
pub fn sigstop(pid: i32) {
    send_signal("STOP", pid);
}

/// Resumes a process frozen by [`sigstop`].
pub fn sigcont(pid: i32) {
    send_signal("CONT", pid);
}

/// Kills a process at once (a crash). Bring it back with
/// [`Topology::start_instance`].
pub fn sigkill(pid: i32) {
    send_signal("KILL", pid);
}

/// Polls `f` every 100 ms until it returns `Some`, or `None` after `timeout`.
/// `f` is an async closure, so it may borrow (e.g. `async || conn.query..`).
pub async fn wait_for<T, F>(timeout: Duration, mut f: F) -> Option<T>
where
    F: AsyncFnMut() -> Option<T>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A string unique to this process and call, for table names and row tokens.
pub fn unique_token(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
