//! Network-level fuzzing of a running shardcat: generated malformed
//! packets (mutations of valid handshake responses and of valid
//! COM_QUERY / INIT_DB / FIELD_LIST / STMT_PREPARE / STMT_EXECUTE /
//! SEND_LONG_DATA / STMT_RESET / STMT_FETCH packets: byte flips, length
//! markers, insertions, truncation), one per connection. Each gets an answer
//! or a close, and a PING after it is answered or finds the connection
//! closed, within 3 s: never a stall. A bystander session keeps working,
//! and the proxy never panics. Seeded (`SHARDCAT_FUZZ_SEED`), count from
//! `SHARDCAT_FUZZ_CASES` (default 100; failed logins are slowed by the
//! `[security]` delay, so a case takes ~0.5 s on average).
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test net_fuzz
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::ProxyProcess;
use common::Topology;
use mysql_async::prelude::*;
use raw::RawConn;

const WITHIN: Duration = Duration::from_secs(3);

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// 1–6 mutations of `p`.
fn mutate(rng: &mut Rng, mut p: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(p.len().max(1) as u64) as usize;
        match rng.below(6) {
            0 if !p.is_empty() => p[at] = rng.next() as u8,
            1 if !p.is_empty() => p[at] = 0xFB + rng.below(5) as u8,
            2 => p.insert(at.min(p.len()), rng.next() as u8),
            3 => p.truncate(at.max(1)),
            4 => p.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
            _ => {
                if p.len() > 1 {
                    p.remove(at.max(1).min(p.len() - 1));
                }
            }
        }
    }
    p
}

/// Reads whatever comes within `quiet` of silence; true when the
/// connection closed.
async fn drain(c: &mut RawConn, quiet: Duration) -> bool {
    loop {
        match tokio::time::timeout(quiet, c.read_packet()).await {
            Err(_) => return false,
            Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A valid command packet of kind `k` for a session with statement `id`.
fn valid_command(k: u64, id: u32) -> Vec<u8> {
    let mut p = Vec::new();
    match k {
        0 => p.extend_from_slice(b"\x03SELECT 1, 'a' AS x FROM DUAL WHERE 1 = 1"),
        1 => p.extend_from_slice(b"\x02shardcat_test"),
        2 => p.extend_from_slice(b"\x04seq_1_to_3\0"),
        3 => p.extend_from_slice(b"\x16SELECT ?, CONCAT(?, 'x')"),
        4 => {
            let mut v = 7i64.to_le_bytes().to_vec();
            raw::put_lenenc_bytes(&mut v, b"abc");
            p = raw::execute_packet(
                id,
                2,
                &[false, false],
                Some(&[
                    (raw::MYSQL_TYPE_LONGLONG, false),
                    (raw::MYSQL_TYPE_VAR_STRING, false),
                ]),
                &v,
            );
        }
        5 => {
            p.push(raw::COM_STMT_SEND_LONG_DATA);
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&1u16.to_le_bytes());
            p.extend_from_slice(b"long data");
        }
        6 => {
            p.push(raw::COM_STMT_RESET);
            p.extend_from_slice(&id.to_le_bytes());
        }
        _ => {
            p.push(0x1C); // COM_STMT_FETCH
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&10u32.to_le_bytes());
        }
    }
    p
}

/// One case; returns "answered" or "closed", panics on a stall.
async fn one_case(port: u16, rng: &mut Rng, case: usize) -> &'static str {
    if rng.below(4) == 0 {
        // Connection phase: a mutated handshake response.
        let mut c = RawConn::open(port).await.expect("greeting");
        let resp = raw::handshake_response(
            raw::DEFAULT_CAPS,
            &c.greeting.nonce,
            "app",
            "app",
            Some("shardcat_test"),
        );
        let p = mutate(rng, resp);
        let _ = c.write_packet(1, &p).await;
        let r = tokio::time::timeout(WITHIN, c.read_packet()).await;
        return match r {
            Err(_) => panic!("case {case}: no answer to a mutated handshake {p:?}"),
            Ok(Err(_)) => "closed",
            Ok(Ok(_)) => {
                let closed = drain(&mut c, Duration::from_millis(200)).await;
                if closed {
                    "closed"
                } else {
                    "answered"
                }
            }
        };
    }
    let mut c =
        RawConn::connect(port, "app", "app", Some("shardcat_test"), raw::DEFAULT_CAPS).await;
    let id = c
        .prepare("SELECT ?, CONCAT(?, 'x')")
        .await
        .expect("io")
        .expect("prepare")
        .id;
    let k = rng.below(8);
    let p = mutate(rng, valid_command(k, id));
    if c.send_command(&p).await.is_err() {
        return "closed";
    }
    if drain(&mut c, Duration::from_millis(150)).await {
        return "closed";
    }
    // The session must answer a PING (or be closed) within WITHIN.
    if c.send_command(&[raw::COM_PING]).await.is_err() {
        return "closed";
    }
    let deadline = Instant::now() + WITHIN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read_packet()).await {
            Err(_) => panic!("case {case}: session stalled after {p:?}"),
            Ok(Err(_)) => return "closed",
            Ok(Ok((_, r))) if r[..].first() == Some(&0) => return "answered",
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_an_error_or_a_close_never_a_stall() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let seed: u64 = std::env::var("SHARDCAT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F022);
    let cases: usize = std::env::var("SHARDCAT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let bystander = {
        let (stop, rounds) = (stop.clone(), rounds.clone());
        let mut c = util::proxy_conn(&proxy, None).await;
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let v: Option<i64> = c.query_first("SELECT 41 + 1").await.expect("bystander");
                assert_eq!(v, Some(42));
                slowest = slowest.max(t.elapsed());
                rounds.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            slowest
        })
    };

    let mut rng = Rng(seed | 1);
    let (mut answered, mut closed) = (0, 0);
    let started = Instant::now();
    for case in 0..cases {
        match one_case(proxy.port, &mut rng, case).await {
            "closed" => closed += 1,
            _ => answered += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let slowest = bystander.await.expect("the bystander failed");
    println!(
        "{cases} malformed packets (seed {seed:#x}) in {:?}: {answered} answered, {closed} closed; bystander {} rounds, slowest {slowest:?}",
        started.elapsed(),
        rounds.load(Ordering::Relaxed)
    );
    assert!(
        slowest < Duration::from_secs(1),
        "bystander slowed to {slowest:?}"
    );
    util::assert_proxy_serves(&proxy).await;
    let log = proxy.log();
    assert!(!log.contains("panicked"), "{}", util::tail(&log));
}
