//! A split (`shards split`, 2 nodes → 4) killed (SIGKILL) at each point,
//! in an order and with delays drawn from a seed — during the copy (slowed by `--copy-rows-per-s`), the
//! catch-up, the verification, inside the write pause before and after the
//! placement file is written, after the switch before its record — under
//! writers on every slot mirrored to `ref`; run again, the split completes:
//! each moved slot on its new node equal to `ref`'s rows of that slot, the
//! rows through the proxy equal to `ref`'s, no channel left, no failed
//! write, no write held much longer than the pause.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`. Uses its own database (`move_shard`) and
//! two throw-away servers n3, n4.

mod common;
#[path = "common/killing.rs"]
mod killing;
#[path = "common/moving.rs"]
mod moving;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/util.rs"]
mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use killing::{kill_at, owned, run_to_end, shuffled, Gen};
use moving::*;
use mysql_async::prelude::*;
use scratch::Scratch;
use util::direct_conn;

const MAX_PAUSE_MS: u64 = 4000;
const POINTS: [&str; 6] = ["copy", "catch_up", "verify", "paused", "placed", "switched"];

fn split_options(s: &Scratch) -> ProxyOptions {
    let mut o = options();
    o.extra = format!(
        "\n[[node]]\nname = \"n3\"\nprimary = \"{}\"\n\n[[node]]\nname = \"n4\"\nprimary = \"{}\"\n{}",
        s.addr("n3"),
        s.addr("n4"),
        o.extra
    );
    o
}

fn split_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "shards",
        "split",
        "--table",
        "accounts",
        "--to",
        "n3,n4",
        "--repl-user",
        "repl",
        "--repl-password",
        "repl",
    ];
    args.extend_from_slice(extra);
    args
}

async fn reset_scratch(s: &Scratch) {
    for name in ["n3", "n4"] {
        let mut c = s.conn(name).await;
        let rows: Vec<mysql_async::Row> = c.query("SHOW ALL SLAVES STATUS").await.unwrap();
        for r in rows {
            let ch: String = r.get("Connection_name").unwrap_or_default();
            c.query_drop(format!("STOP SLAVE '{ch}'")).await.unwrap();
            c.query_drop(format!("RESET SLAVE '{ch}' ALL"))
                .await
                .unwrap();
        }
        c.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
            .await
            .unwrap();
    }
}

/// Sorted (id, balance) of `accounts_<slot>` on scratch `name`.
async fn slot_rows_on(s: &Scratch, name: &str, slot: i64) -> Vec<(i64, i64)> {
    let mut c = s.conn(name).await;
    let rows: Vec<(i64, i64)> = c
        .query(format!(
            "SELECT id, balance FROM {DB}.accounts_{slot} ORDER BY id"
        ))
        .await
        .unwrap();
    rows
}

async fn ref_slot_rows(topo: &Topology, slot: i64) -> Vec<(i64, i64)> {
    let mut c = direct_conn(topo, "ref", Some(DB)).await;
    c.query(format!(
        "SELECT id, balance FROM accounts WHERE id % 4 = {slot} ORDER BY id"
    ))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_split_killed_at_generated_points_completes_when_run_again() {
    let topo = Topology::from_env();
    let _guard = SERIAL.lock().await;
    let seed = seed();
    eprintln!("seed {seed} (SHARDCAT_TEST_SEED replays it)");
    let mut g = Gen(seed | 1);
    let mut s = Scratch::new(&topo);
    s.start("n3", None).expect("start n3");
    s.start("n4", None).expect("start n4");
    let points = shuffled(POINTS.to_vec(), &mut g);
    let pause = MAX_PAUSE_MS.to_string();
    for point in points {
        reset_scratch(&s).await;
        let proxy = ProxyProcess::start_with(&topo, split_options(&s));
        setup(&topo, &proxy).await;
        let config = proxy.config_path.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_panic = StopOnDrop(stop.clone());
        let handles: Vec<_> = (0..4)
            .map(|w| tokio::spawn(writer(proxy.port, w, stop.clone(), true)))
            .collect();
        let delay = g.below(300);
        let args = split_args(&["--max-pause-ms", &pause, "--verify-chunk-rows", "16"]);
        kill_at(point, &args, &config, delay);
        tokio::time::sleep(Duration::from_millis(MAX_PAUSE_MS + 300)).await;
        let args = split_args(&["--max-pause-ms", &pause]);
        let (ok, text) = run_to_end(owned(&args), config.clone()).await;
        assert!(
            ok,
            "{point}: run again failed:\n{text}\nproxy log:\n{}",
            util::tail(&proxy.log())
        );
        let finished = text.contains("after its point of no return");
        assert_eq!(
            finished,
            matches!(point, "placed" | "switched"),
            "{point}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        stop.store(true, Ordering::Relaxed);
        let mut acked = 0;
        for h in handles {
            let w = h.await.unwrap();
            assert!(
                w.failures.is_empty(),
                "{point}: failed writes: {:?}",
                w.failures
            );
            assert!(
                w.slowest < Duration::from_millis(MAX_PAUSE_MS + 2500),
                "{point}: a write waited {:?}",
                w.slowest
            );
            acked += w.ids.len();
        }
        for (name, slot) in [("n3", 1), ("n4", 3)] {
            let on = slot_rows_on(&s, name, slot).await;
            let want = ref_slot_rows(&topo, slot).await;
            assert_eq!(
                on.len(),
                want.len(),
                "{point}: slot {slot} on {name} vs ref"
            );
            assert!(
                on == want,
                "{point}: slot {slot} on {name} differs from ref"
            );
            let mut c = s.conn(name).await;
            let channels: Vec<mysql_async::Row> = c.query("SHOW ALL SLAVES STATUS").await.unwrap();
            assert!(channels.is_empty(), "{point}: channels left on {name}");
        }
        let through = ids_through_proxy(&proxy).await;
        let mut r = direct_conn(&topo, "ref", Some(DB)).await;
        let reference: Vec<(i64, i64)> = r
            .query("SELECT id, balance FROM accounts ORDER BY id")
            .await
            .unwrap();
        assert!(
            through == reference,
            "{point}: rows through the proxy differ from ref"
        );
        let (_, status) = moving::cli(&["shards", "status"], &config);
        assert_eq!(
            status.matches("phase switched").count(),
            2,
            "{point}: {status}"
        );
        eprintln!("{point}: ok ({acked} writes)");
    }
    reset_scratch(&s).await;
    reset(&topo).await;
}
