//! Oversized statements and parameters, compared with the server itself: a
//! text COM_QUERY, a COM_STMT_EXECUTE with an inline parameter, and a
//! parameter sent with COM_STMT_SEND_LONG_DATA, with generated sizes around
//! the server's `max_allowed_packet` (16 MiB in the topology) while
//! shardcat's is larger, on an unsharded table (exact boundary, compared
//! with the same bytes sent to the primary directly) and on a sharded
//! table (single target and scatter). Each answer comes quickly, with the
//! server's code (1153 for packets, 1105 for long data), never a hang or
//! 2003, and the session stays usable. Long data past shardcat's own
//! `max_allowed_packet` is dropped at once and the execute fails with
//! MariaDB's 1105.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test oversized
//! ```

mod common;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::{Duration, Instant};

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;
use raw::{RawConn, Reply};

/// The servers' `max_allowed_packet` (scripts/topology.sh: MariaDB's default).
const SERVER_MAX: usize = 16 << 20;
/// shardcat's `max_allowed_packet` in this test: above the servers'.
const PROXY_MAX: usize = 40 << 20;
/// Long data chunk a client sends.
const CLIENT_CHUNK: usize = 1 << 20;
/// Longest an oversized statement may take to be refused (measured times
/// are printed). Statements the server accepts are not bounded here: a
/// 16 MB statement takes seconds to classify in a debug build.
const ERROR_WITHIN: Duration = Duration::from_secs(1);

const RULES: &str = r#"
[[table]]
name = "sk"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
"#;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Inline,
    LongData,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Unsharded,
    ShardedOne,
    Scatter,
}

impl Layout {
    fn tail_sql(self) -> &'static str {
        match self {
            Layout::Unsharded => "",
            Layout::ShardedOne => " FROM sk WHERE id = 3",
            Layout::Scatter => " FROM sk",
        }
    }
}

/// What a statement got: the LENGTH it computed (first row), or an error.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Length(u64),
    Error(u16, String),
}

fn answer_of(r: Reply, binary: bool) -> Answer {
    match r {
        Reply::Err(e) => Answer::Error(e.code, e.state),
        Reply::Rows { rows, .. } => {
            let v = rows[0][0].clone().expect("LENGTH is not NULL");
            let n = if binary {
                let mut b = [0u8; 8];
                b[..v.len().min(8)].copy_from_slice(&v[..v.len().min(8)]);
                u64::from_le_bytes(b)
            } else {
                String::from_utf8_lossy(&v).parse().expect("a number")
            };
            Answer::Length(n)
        }
        Reply::Ok(o) => panic!("unexpected OK {o:?}"),
    }
}

/// A COM_QUERY payload of exactly `n` bytes computing the length of its
/// string literal (the literal's length is returned too).
fn text_payload(n: usize, layout: Layout) -> (Vec<u8>, usize) {
    let head = b"\x03SELECT LENGTH('";
    let tail = format!("'){}", layout.tail_sql());
    let k = n - head.len() - tail.len();
    let mut p = Vec::with_capacity(n);
    p.extend_from_slice(head);
    p.resize(head.len() + k, b'x');
    p.extend_from_slice(tail.as_bytes());
    assert_eq!(p.len(), n);
    (p, k)
}

/// A COM_STMT_EXECUTE payload of exactly `n` bytes binding one BLOB.
fn execute_payload(id: u32, n: usize) -> (Vec<u8>, usize) {
    let types = [(raw::MYSQL_TYPE_BLOB, false)];
    let head = raw::execute_packet(id, 1, &[false], Some(&types), &[]).len();
    let mut k = n - head - 4;
    if k >= 1 << 24 {
        k = n - head - 9;
    }
    let mut v = Vec::with_capacity(n);
    raw::put_lenenc_bytes(&mut v, &vec![b'y'; k]);
    let p = raw::execute_packet(id, 1, &[false], Some(&types), &v);
    assert_eq!(p.len(), n);
    (p, k)
}

/// Runs one case on `c`: `n` is the payload size (text, inline) or the
/// parameter's length (long data). Returns the answer and how long it took;
/// for long data on the unsharded layout, `follow_up` gets the answers of
/// the same statement executed again and after COM_STMT_RESET.
async fn run(
    c: &mut RawConn,
    kind: Kind,
    layout: Layout,
    n: usize,
    follow_up: &mut Option<(Answer, Answer)>,
) -> (Answer, Duration) {
    let stmt_sql = format!("SELECT LENGTH(?){}", layout.tail_sql());
    let started;
    let reply = match kind {
        Kind::Text => {
            let (p, _) = text_payload(n, layout);
            started = Instant::now();
            // The server may close before reading it all: its answer is
            // still read.
            let _ = c.send_command(&p).await;
            c.read_reply(false).await
        }
        Kind::Inline => {
            let st = c.prepare(&stmt_sql).await.expect("io").expect("prepare");
            let (p, _) = execute_payload(st.id, n);
            started = Instant::now();
            let _ = c.send_command(&p).await;
            c.read_reply(true).await
        }
        Kind::LongData => {
            let st = c.prepare(&stmt_sql).await.expect("io").expect("prepare");
            started = Instant::now();
            let mut left = n;
            while left > 0 {
                let k = left.min(CLIENT_CHUNK);
                let mut p = vec![raw::COM_STMT_SEND_LONG_DATA];
                p.extend_from_slice(&st.id.to_le_bytes());
                p.extend_from_slice(&0u16.to_le_bytes());
                p.resize(7 + k, b'z');
                let _ = c.send_command(&p).await;
                left -= k;
            }
            let types = [(raw::MYSQL_TYPE_BLOB, false)];
            let p = raw::execute_packet(st.id, 1, &[false], Some(&types), &[]);
            let _ = c.send_command(&p).await;
            let r = c.read_reply(true).await;
            // The statement afterwards with a small value, then after
            // COM_STMT_RESET (MariaDB keeps failing a statement whose long
            // data overflowed until it is reset).
            if r.is_ok() && layout == Layout::Unsharded {
                let mut v = Vec::new();
                raw::put_lenenc_bytes(&mut v, b"abc");
                let again = c.execute(st.id, 1, &[false], Some(&types), &v).await;
                let again = answer_of(again.expect("re-execute"), true);
                let mut reset = vec![raw::COM_STMT_RESET];
                reset.extend_from_slice(&st.id.to_le_bytes());
                c.send_command(&reset).await.expect("reset");
                assert!(matches!(c.read_reply(false).await, Ok(Reply::Ok(_))));
                let after = c.execute(st.id, 1, &[false], Some(&types), &v).await;
                let after = answer_of(after.expect("execute after reset"), true);
                *follow_up = Some((again, after));
            }
            r
        }
    };
    let took = started.elapsed();
    let binary = kind != Kind::Text;
    let answer = answer_of(reply.expect("an answer, not a closed connection"), binary);
    (answer, took)
}

/// Sizes tried: exactly around the limit where the reference runs the
/// same bytes; far from it for sharded statements, whose physical text is
/// a few bytes longer than the reference's.
fn sizes(layout: Layout, kind: Kind) -> Vec<usize> {
    match (layout, kind) {
        (Layout::Unsharded, Kind::LongData) => vec![
            SERVER_MAX - 1,
            SERVER_MAX,
            SERVER_MAX + 1,
            SERVER_MAX + 3 * CLIENT_CHUNK,
        ],
        (Layout::Unsharded, _) => vec![
            SERVER_MAX - 2,
            SERVER_MAX - 1,
            SERVER_MAX,
            SERVER_MAX + 1,
            SERVER_MAX + (4 << 20),
        ],
        _ => vec![SERVER_MAX - (64 << 10), SERVER_MAX + (64 << 10)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_statements_get_the_servers_error_at_once() {
    let topo = Topology::from_env();
    // Every server at the default limit (another test binary may have
    // raised n1's and stopped before restoring it).
    for s in ["n1p", "n1r1", "n1r2", "n2p", "n2r1"] {
        let mut c = util::direct_conn(&topo, s, None).await;
        c.query_drop(format!("SET GLOBAL max_allowed_packet = {SERVER_MAX}"))
            .await
            .unwrap();
        c.disconnect().await.ok();
    }
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: RULES.into(),
            server: format!("max_allowed_packet = {PROXY_MAX}"),
            ..Default::default()
        },
    );
    let db = format!("ovs_{}", std::process::id());
    let mut admin = util::proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await
        .unwrap();
    admin.query_drop(format!("USE {db}")).await.unwrap();
    admin
        .query_drop("CREATE TABLE IF NOT EXISTS sk (id INT PRIMARY KEY)")
        .await
        .unwrap();
    admin
        .query_drop("INSERT INTO sk VALUES (1),(2),(3),(4),(5),(6),(7),(8)")
        .await
        .unwrap();
    util::sync_replicas(&topo).await;
    // The health checker has read the servers' max_allowed_packet.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut slowest_error = Duration::ZERO;
    let mut cases = 0;
    let mut proxy_conn =
        RawConn::connect(proxy.port, "app", "app", Some(&db), raw::DEFAULT_CAPS).await;
    for layout in [Layout::Unsharded, Layout::ShardedOne, Layout::Scatter] {
        for kind in [Kind::Text, Kind::Inline, Kind::LongData] {
            for n in sizes(layout, kind) {
                // The reference: the unsharded statement of the same size,
                // sent to the primary directly (a new connection each time:
                // the server closes it after 1153).
                let mut direct = RawConn::connect(
                    topo.port("n1p"),
                    &topo.user,
                    &topo.password,
                    Some(&db),
                    raw::DEFAULT_CAPS,
                )
                .await;
                let (mut want_next, mut got_next) = (None, None);
                let (mut want, _) =
                    run(&mut direct, kind, Layout::Unsharded, n, &mut want_next).await;
                // A sharded text statement of the same size has a shorter
                // literal (its FROM clause takes the room).
                if let (Kind::Text, Answer::Length(_)) = (kind, &want) {
                    want = Answer::Length(text_payload(n, layout).1 as u64);
                }
                let (got, took) = tokio::time::timeout(
                    Duration::from_secs(30),
                    run(&mut proxy_conn, kind, layout, n, &mut got_next),
                )
                .await
                .unwrap_or_else(|_| panic!("{kind:?} {layout:?} {n}: no answer in 30 s"));
                // A sharded statement's text is a few bytes longer on the
                // server than the logical one (physical table names); its
                // literal is then the same, so the LENGTH is.
                assert_eq!(got, want, "{kind:?} {layout:?} size {n}");
                if layout == Layout::Unsharded {
                    assert_eq!(got_next, want_next, "{kind:?} size {n}: executes after");
                }
                println!("{kind:?} {layout:?} size {n}: {got:?} in {took:?}");
                if matches!(got, Answer::Error(..)) {
                    assert!(
                        took < ERROR_WITHIN,
                        "{kind:?} {layout:?} size {n}: error after {took:?}"
                    );
                    slowest_error = slowest_error.max(took);
                }
                cases += 1;
                // The session goes on.
                let ping = proxy_conn.query("SELECT 1").await.expect("session usable");
                assert_eq!(ping.scalar().as_deref(), Some("1"));
            }
        }
    }
    println!("{cases} oversized cases match the server; slowest error {slowest_error:?}");

    // Long data past shardcat's own limit: dropped, 1105 at execute; the
    // statement and the session stay usable.
    let mut next = None;
    let (got, took) = run(
        &mut proxy_conn,
        Kind::LongData,
        Layout::Unsharded,
        PROXY_MAX + CLIENT_CHUNK,
        &mut next,
    )
    .await;
    assert_eq!(got, Answer::Error(1105, "HY000".into()));
    assert_eq!(
        next,
        Some((Answer::Error(1105, "HY000".into()), Answer::Length(3)))
    );
    println!("long data over shardcat's max_allowed_packet: 1105 after {took:?}");
    let ping = proxy_conn.ping().await.expect("ping");
    assert!(matches!(ping, Reply::Ok(_)));

    // Nothing was given up as a connection failure.
    let log = proxy.log();
    assert!(!log.contains("panicked"), "{}", util::tail(&log));
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
