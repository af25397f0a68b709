//! What the shard-move tests share (`shard_move`, `shard_move_reverse`;
//! `shard_split`, `shard_resplit` take the rules, DDL, CLI, channel reset
//! and the mirrored writes): the proxy's rules, the CLI, the database's
//! setup and reset, the writers (optionally mirrored to the reference
//! server), statements mirrored to the reference once acknowledged
//! ([`Mirror`], [`Outcome`]), the write pause a command reports, reading a
//! move's row of `SHOW SHARDCAT MOVES`.
//!
//! Include with `#[path = "common/moving.rs"] mod moving;` next to `mod
//! common;` and `#[path = "common/util.rs"] mod util;`.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::proxy::{ProxyOptions, ProxyProcess};
use crate::common::Topology;
use crate::util::{self, direct_conn, proxy_conn};
use mysql_async::prelude::*;

pub(crate) const DB: &str = "move_shard";
pub(crate) const SEED: i64 = 400;
pub(crate) const WRITERS: i64 = 4;

pub(crate) fn options() -> ProxyOptions {
    ProxyOptions {
        extra: accounts_rules(DB),
        ..Default::default()
    }
}

/// The rules of `accounts` (hash_mod over n1, n2, 2 tables each) and its
/// bound `ledger`, in schema `db` (the move and split tests' layout).
pub(crate) fn accounts_rules(db: &str) -> String {
    keyed_accounts_rules(db, "id", "int", "account_id")
}

/// [`accounts_rules`] with another key column and type for `accounts` and
/// key column for `ledger`.
pub(crate) fn keyed_accounts_rules(
    db: &str,
    key: &str,
    key_type: &str,
    ledger_key: &str,
) -> String {
    format!(
        r#"
[[table]]
name = "accounts"
schema = "{db}"
key = "{key}"
key_type = "{key_type}"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "ledger"
schema = "{db}"
bound_to = "accounts"
key = "{ledger_key}"
"#
    )
}

/// The tables of [`accounts_rules`].
pub(crate) const ACCOUNTS_DDL: [&str; 2] = [
    "CREATE TABLE accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL, note VARCHAR(40), amount DOUBLE)",
    "CREATE TABLE ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, account_id BIGINT NOT NULL, delta BIGINT NOT NULL, KEY (account_id))",
];

/// Runs `shardcat <args>`: (exit ok, stdout + stderr).
pub(crate) fn cli(args: &[&str], config: &std::path::Path) -> (bool, String) {
    cli_of(env!("CARGO_BIN_EXE_shardcat"), args, config)
}

/// Runs `<bin> <args>` (another shardcat build).
pub(crate) fn cli_of(bin: &str, args: &[&str], config: &std::path::Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run shardcat");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub(crate) fn move_args<'a>(slot: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "shards",
        "move",
        "--table",
        "accounts",
        "--shard",
        slot,
        "--to",
        "n2",
        "--repl-user",
        "repl",
        "--repl-password",
        "repl",
    ];
    args.extend_from_slice(extra);
    args
}

/// Stops and removes the replication channels whose names start with
/// `prefix` (a move's or a split's, left by an earlier run).
pub(crate) async fn drop_channels(c: &mut mysql_async::Conn, prefix: &str) {
    let rows: Vec<mysql_async::Row> = c.query("SHOW ALL SLAVES STATUS").await.unwrap();
    for r in rows {
        let name: String = r.get("Connection_name").unwrap_or_default();
        if name.starts_with(prefix) {
            c.query_drop(format!("STOP SLAVE '{name}'")).await.unwrap();
            c.query_drop(format!("RESET SLAVE '{name}' ALL"))
                .await
                .unwrap();
        }
    }
}

/// Removes what an earlier run may have left on the servers.
pub(crate) async fn reset(topo: &Topology) {
    for node in ["n1p", "n2p", "ref"] {
        let mut c = direct_conn(topo, node, None).await;
        drop_channels(&mut c, "shardcat_move_").await;
        c.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
            .await
            .unwrap();
        c.disconnect().await.unwrap();
    }
}

pub(crate) async fn setup(topo: &Topology, proxy: &ProxyProcess) {
    reset(topo).await;
    let mut reference = direct_conn(topo, "ref", None).await;
    create_and_seed(&mut reference).await;
    reference.disconnect().await.unwrap();
    let mut c = proxy_conn(proxy, None).await;
    create_and_seed(&mut c).await;
    c.disconnect().await.unwrap();
}

/// The database, its tables and the seed rows (through the proxy or on
/// the reference server).
pub(crate) async fn create_and_seed(c: &mut mysql_async::Conn) {
    c.query_drop(format!("CREATE DATABASE {DB}")).await.unwrap();
    c.query_drop(format!("USE {DB}")).await.unwrap();
    for ddl in ACCOUNTS_DDL {
        c.query_drop(ddl).await.unwrap();
    }
    let values: Vec<String> = (0..SEED)
        .map(|i| format!("({i}, 100, 'seed ''{i}'' é\\\\', {})", i as f64 / 3.0))
        .collect();
    c.query_drop(format!("INSERT INTO accounts VALUES {}", values.join(",")))
        .await
        .unwrap();
}

/// A proxy known by its port only.
pub(crate) struct Port(pub(crate) u16);

impl util::ProxyLike for Port {
    fn port(&self) -> u16 {
        self.0
    }
    fn log(&self) -> String {
        String::new()
    }
    fn pid(&self) -> u32 {
        0
    }
}

/// Runs `stmts` through `c`, as one transaction when several, again (at
/// most three times) when InnoDB picks it as a deadlock's victim (1213:
/// rolled back), as applications do: that loses nothing.
pub(crate) async fn run_retrying(
    c: &mut mysql_async::Conn,
    stmts: &[String],
    retried: &mut usize,
) -> Result<(), mysql_async::Error> {
    let tx = stmts.len() > 1;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = async {
            if tx {
                c.query_drop("BEGIN").await?;
            }
            for s in stmts {
                c.query_drop(s).await?;
            }
            if tx {
                c.query_drop("COMMIT").await?;
            }
            Ok::<(), mysql_async::Error>(())
        }
        .await;
        match r {
            Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 3 => {
                let _ = c.query_drop("ROLLBACK").await;
                *retried += 1;
            }
            Err(e) => {
                let _ = c.query_drop("ROLLBACK").await;
                return Err(e);
            }
            Ok(()) => return Ok(()),
        }
    }
}

/// What mirrored writers did.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) acknowledged: usize,
    pub(crate) failures: Vec<String>,
    pub(crate) deadlocks_retried: usize,
    pub(crate) slowest: Duration,
}

impl Outcome {
    /// The writers' outcomes together.
    pub(crate) async fn gather(handles: Vec<tokio::task::JoinHandle<Outcome>>) -> Outcome {
        let mut out = Outcome::default();
        for h in handles {
            let r = h.await.unwrap();
            out.acknowledged += r.acknowledged;
            out.failures.extend(r.failures);
            out.deadlocks_retried += r.deadlocks_retried;
            out.slowest = out.slowest.max(r.slowest);
        }
        out
    }
}

/// The same statements through the proxy and on `ref`, in order: the
/// reference gets exactly the acknowledged writes.
pub(crate) struct Mirror {
    pub(crate) proxy: mysql_async::Conn,
    pub(crate) reference: mysql_async::Conn,
}

impl Mirror {
    /// Connections to the proxy at `port` and to `ref`, both in `db`.
    pub(crate) async fn open(port: u16, topo: &Topology, db: &str) -> Mirror {
        Mirror {
            proxy: proxy_conn(&Port(port), Some(db)).await,
            reference: direct_conn(topo, "ref", Some(db)).await,
        }
    }

    /// Runs `stmts` (one transaction when several) through the proxy
    /// ([`run_retrying`]); once acknowledged, on the reference. Whether
    /// it was acknowledged; its time in `out.slowest`.
    pub(crate) async fn write(&mut self, stmts: &[String], out: &mut Outcome) -> bool {
        let start = Instant::now();
        let r = run_retrying(&mut self.proxy, stmts, &mut out.deadlocks_retried).await;
        out.slowest = out.slowest.max(start.elapsed());
        if let Err(e) = r {
            out.failures.push(format!("{stmts:?}: {e}"));
            return false;
        }
        for s in stmts {
            self.reference.query_drop(s).await.expect("reference write");
        }
        out.acknowledged += 1;
        true
    }
}

/// The write pause a command printed: the milliseconds after `prefix`
/// (`write pause `, `switched: writes paused `) and its steps (`pause
/// (ms): …`).
pub(crate) fn reported_pause(text: &str, prefix: &str) -> (u64, String) {
    let ms = text
        .lines()
        .find_map(|l| l.split(prefix).nth(1))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pause reported:\n{text}"));
    let steps = text
        .lines()
        .find_map(|l| l.strip_prefix("pause (ms): "))
        .unwrap_or("-")
        .to_owned();
    (ms, steps)
}

/// What a writer did.
#[derive(Default)]
pub(crate) struct Written {
    pub(crate) ids: Vec<i64>,
    pub(crate) ledger: i64,
    pub(crate) failures: Vec<String>,
    /// The ids of `failures`: their rows may or may not exist (a write cut
    /// off mid-way, e.g. its proxy killed, is neither acknowledged nor
    /// known to have failed).
    pub(crate) failed_ids: Vec<i64>,
    pub(crate) slowest: Duration,
    pub(crate) read_mismatches: usize,
    /// Transactions rolled back by an InnoDB deadlock and run again.
    pub(crate) deadlocks_retried: usize,
}

/// Inserts accounts (autocommit) and, in a transaction, a ledger row with
/// its balance update; reads each new account back through the proxy.
pub(crate) async fn writer(
    proxy_port: u16,
    w: i64,
    stop: Arc<AtomicBool>,
    mirror: bool,
) -> Written {
    let mut c = proxy_conn(&Port(proxy_port), Some(DB)).await;
    // Each acknowledged write again on the reference server.
    let mut reference = match mirror {
        true => Some(direct_conn(&Topology::from_env(), "ref", Some(DB)).await),
        false => None,
    };
    let mut out = Written::default();
    let mut k = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let id = 10_000 + k * WRITERS + w;
        k += 1;
        let start = Instant::now();
        let r = async {
            c.exec_drop(
                "INSERT INTO accounts (id, balance, note, amount) VALUES (?, 0, 'w', 0.1)",
                (id,),
            )
            .await?;
            // A deadlock between the writers' transactions (1213: InnoDB
            // rolled the transaction back) is retried, as applications do;
            // it loses nothing.
            let mut attempt = 0;
            loop {
                attempt += 1;
                let tx = async {
                    c.query_drop("BEGIN").await?;
                    c.exec_drop(
                        "INSERT INTO ledger (account_id, delta) VALUES (?, 5)",
                        (id,),
                    )
                    .await?;
                    c.exec_drop(
                        "UPDATE accounts SET balance = balance + 5 WHERE id = ?",
                        (id,),
                    )
                    .await?;
                    c.query_drop("COMMIT").await
                }
                .await;
                match tx {
                    Err(mysql_async::Error::Server(e)) if e.code == 1213 && attempt < 3 => {
                        let _ = c.query_drop("ROLLBACK").await;
                        out.deadlocks_retried += 1;
                    }
                    other => break other,
                }
            }
        }
        .await;
        out.slowest = out.slowest.max(start.elapsed());
        match r {
            Ok(()) => {
                if let Some(r) = reference.as_mut() {
                    r.exec_drop(
                        "INSERT INTO accounts (id, balance, note, amount) VALUES (?, 5, 'w', 0.1)",
                        (id,),
                    )
                    .await
                    .unwrap();
                    r.exec_drop(
                        "INSERT INTO ledger (account_id, delta) VALUES (?, 5)",
                        (id,),
                    )
                    .await
                    .unwrap();
                }
                out.ids.push(id);
                out.ledger += 1;
                let back: Option<i64> = c
                    .exec_first("SELECT balance FROM accounts WHERE id = ?", (id,))
                    .await
                    .unwrap_or(None);
                if back != Some(5) {
                    out.read_mismatches += 1;
                }
            }
            Err(e) => {
                let _ = c.query_drop("ROLLBACK").await;
                out.failures.push(format!("id {id}: {e}"));
                out.failed_ids.push(id);
            }
        }
    }
    let _ = c.disconnect().await;
    out
}

/// Settles writes whose outcome is unknown (`Written::failed_ids`): their
/// rows are deleted through the proxy and on `ref`, so that both hold
/// only acknowledged writes.
pub(crate) async fn forget_unknown(topo: &Topology, proxy: &ProxyProcess, ids: &[i64]) {
    let mut c = proxy_conn(proxy, Some(DB)).await;
    let mut r = direct_conn(topo, "ref", Some(DB)).await;
    for id in ids {
        for sql in [
            "DELETE FROM ledger WHERE account_id = ?",
            "DELETE FROM accounts WHERE id = ?",
        ] {
            c.exec_drop(sql, (id,)).await.unwrap();
            r.exec_drop(sql, (id,)).await.unwrap();
        }
    }
    let _ = c.disconnect().await;
    let _ = r.disconnect().await;
}

/// Every row of `table` through the proxy, as sorted (id, balance) pairs.
pub(crate) async fn ids_through_proxy(proxy: &ProxyProcess) -> Vec<(i64, i64)> {
    let mut c = proxy_conn(proxy, Some(DB)).await;
    let rows: Vec<(i64, i64)> = c
        .query("SELECT id, balance FROM accounts ORDER BY id")
        .await
        .unwrap();
    c.disconnect().await.unwrap();
    rows
}

pub(crate) async fn count_on(topo: &Topology, node: &str, table: &str) -> Option<i64> {
    let mut c = direct_conn(topo, node, Some(DB)).await;
    let n: Result<Option<i64>, _> = c.query_first(format!("SELECT COUNT(*) FROM {table}")).await;
    c.disconnect().await.unwrap();
    n.ok().flatten()
}

/// The run's seed (`SHARDCAT_TEST_SEED` replays one).
pub(crate) fn seed() -> u64 {
    std::env::var("SHARDCAT_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// `SHOW SHARDCAT MOVES`'s row of the move of `accounts` slot 1, by
/// column name.
pub(crate) async fn move_row(
    admin: &mut mysql_async::Conn,
) -> Option<std::collections::HashMap<String, String>> {
    let rows: Vec<mysql_async::Row> = admin.query("SHOW SHARDCAT MOVES").await.unwrap();
    rows.into_iter().find_map(|r| {
        let state: String = r.get("state")?;
        let slot: String = r.get("slot")?;
        if state == "moved" || slot != "1" {
            return None;
        }
        Some(by_name(&r))
    })
}

/// A row's non-NULL values by column name.
pub(crate) fn by_name(r: &mysql_async::Row) -> std::collections::HashMap<String, String> {
    r.columns_ref()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let v: Option<String> = r.get::<Option<String>, _>(i)?;
            Some((c.name_str().into_owned(), v?))
        })
        .collect()
}

pub(crate) fn num(row: &std::collections::HashMap<String, String>, col: &str) -> i64 {
    row.get(col).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// Stops the writers when the test ends, also by a failed assertion.
pub(crate) struct StopOnDrop(pub(crate) Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
