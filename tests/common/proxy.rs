//! Starts a shardcat process for integration tests, configured against the
//! test topology, on a free port; stops it when dropped.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Topology;

pub struct ProxyProcess {
    pub port: u16,
    child: Child,
    pub config_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Options for the generated configuration.
#[derive(Clone, Default)]
pub struct ProxyOptions {
    /// Extra TOML appended to `[routing]`.
    pub routing: String,
    /// Extra TOML appended to `[backend]`.
    pub backend: String,
    /// Extra TOML appended to `[server]`.
    pub server: String,
    /// Further top-level TOML (schemas, tables...).
    pub extra: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

impl ProxyProcess {
    pub fn start(topo: &Topology) -> ProxyProcess {
        Self::start_with(topo, ProxyOptions::default())
    }

    pub fn config_text(topo: &Topology, port: u16, o: &ProxyOptions) -> String {
        let p = |n: &str| topo.port(n);
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
{server}

[backend]
user = "{user}"
password = "{password}"
health_interval_ms = 200
health_timeout_ms = 500
{backend}

[routing]
{routing}

[[user]]
name = "app"
password = "app"
admin = true

[[user]]
name = "other"
password = "other-pw"

[[user]]
name = "nopw"
password = ""

[[node]]
name = "n1"
primary = "127.0.0.1:{n1p}"
replicas = [{{ addr = "127.0.0.1:{n1r1}" }}, {{ addr = "127.0.0.1:{n1r2}" }}]

[[node]]
name = "n2"
primary = "127.0.0.1:{n2p}"
replicas = [{{ addr = "127.0.0.1:{n2r1}" }}]

{extra}
"#,
            user = topo.user,
            password = topo.password,
            server = o.server,
            backend = o.backend,
            routing = o.routing,
            extra = o.extra,
            n1p = p("n1p"),
            n1r1 = p("n1r1"),
            n1r2 = p("n1r2"),
            n2p = p("n2p"),
            n2r1 = p("n2r1"),
        )
    }

    pub fn start_with(topo: &Topology, o: ProxyOptions) -> ProxyProcess {
        Self::start_on(topo, free_port(), o)
    }

    /// Starts on a given port (two instances may share one with
    /// `reuse_port = true`).
    pub fn start_on(topo: &Topology, port: u16, o: ProxyOptions) -> ProxyProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("shardcat.toml");
        let mut f = std::fs::File::create(&config_path).expect("config file");
        f.write_all(Self::config_text(topo, port, &o).as_bytes())
            .expect("write config");
        let log = std::fs::File::create(dir.path().join("shardcat.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_shardcat"))
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("SHARDCAT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shardcat");
        let proxy = ProxyProcess {
            port,
            child,
            config_path,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "shardcat did not start listening; log:\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("shardcat.log")).unwrap_or_default()
    }

    pub fn url(&self, user: &str, password: &str, db: Option<&str>) -> String {
        format!(
            "mysql://{user}:{password}@127.0.0.1:{}/{}",
            self.port,
            db.unwrap_or("")
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (graceful shutdown).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// The exit code once the process has exited, polling up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
