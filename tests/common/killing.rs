//! What the kill tests share (`move_faults`, `split_faults`,
//! `shard_resplit`): a `shardcat` command run with its output read line by
//! line (wait for a marker, kill it; killed at a named point), and a small
//! seeded generator.
//!
//! Include with `#[path = "common/killing.rs"] mod killing;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `shardcat` command whose output is read line by line.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl Running {
    pub(crate) fn start(args: &[&str], config: &std::path::Path, stall: Option<&str>) -> Running {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardcat"));
        cmd.args(args)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(s) = stall {
            cmd.env("SHARDCAT_MOVE_TEST_STALL", s);
        }
        let mut child = cmd.spawn().expect("run shardcat");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx2.send(l);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `marker`.
    pub(crate) fn wait_for(&mut self, marker: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => {
                    let hit = l.contains(marker);
                    self.seen.push(l);
                    if hit {
                        return true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(_)) = self.child.try_wait() {
                        return false;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            }
        }
        false
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the end: (exit ok, every line).
    pub(crate) fn finish(mut self) -> (bool, String) {
        let ok = self.child.wait().map(|s| s.success()).unwrap_or(false);
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(l);
        }
        (ok, self.seen.join("\n"))
    }
}

/// Runs `shardcat <args>` until it reaches `point` — the command's test
/// stall of that name (1.5 s; 2 s at `switched`), or for `copy` its copy
/// slowed to 100 rows/s, seen by its `snapshot at` line — and kills it
/// (SIGKILL) `delay` ms later.
pub(crate) fn kill_at(point: &str, args: &[&str], config: &std::path::Path, delay: u64) {
    let mut args = args.to_vec();
    let (stall, marker) = match point {
        "copy" => {
            args.extend(["--copy-rows-per-s", "100"]);
            (None, "snapshot at".to_string())
        }
        p => (
            Some(format!("{p}:{}", if p == "switched" { 2000 } else { 1500 })),
            format!("test stall at {p}"),
        ),
    };
    let mut run = Running::start(&args, config, stall.as_deref());
    let seen = run.wait_for(&marker, Duration::from_secs(60));
    assert!(seen, "{point}: no `{marker}`:\n{}", run.seen.join("\n"));
    std::thread::sleep(Duration::from_millis(delay));
    run.kill();
    eprintln!("{point}: killed {delay} ms after `{marker}`");
}

/// A tiny deterministic generator (xorshift) for the run's seed.
pub(crate) struct Gen(pub(crate) u64);

impl Gen {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Runs `args` to the end (on a blocking thread): (exit ok, every line).
pub(crate) async fn run_to_end(args: Vec<String>, config: std::path::PathBuf) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        Running::start(&a, &config, None).finish()
    })
    .await
    .expect("join")
}

/// `items` shuffled by `g`.
pub(crate) fn shuffled<T>(mut items: Vec<T>, g: &mut Gen) -> Vec<T> {
    for i in (1..items.len()).rev() {
        items.swap(i, g.below(i as u64 + 1) as usize);
    }
    items
}

pub(crate) fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}
