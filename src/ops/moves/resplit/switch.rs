//! A resplit's switch, inside one write pause: each proxy pauses the
//! writes to the old tables (`SET SHARDCAT PAUSE WRITES`, per node), the
//! old tables are locked for reading (against writers that bypass
//! shardcat), each node's binary log end (`SHOW MASTER STATUS`) is waited
//! for by its reader, each old table's row count and `BIT_XOR` of a row
//! hash are compared with those of its new tables together (the XOR of the
//! new tables' figures is the figure of their union), the placement file
//! records the new `tables_per_node` with the new slots' nodes, each proxy
//! reloads (`SET SHARDCAT SWITCH`), the readers stop, writes resume (planned
//! again: to the new tables), the locks go.
//!
//! No table is renamed: a new table whose rendered name is taken by an old
//! one is built under a staging name the placement file records (the rule
//! maps the rendered name to it), so reads planned before or after the
//! reload each see a complete layout.
//!
//! Owns: the pause's order and the comparison. Must not: copy or replay
//! rows (`copy`, `binlog`), decide the plan (`plan`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::binlog::{Pos, Reader};
use crate::config::placement_file::ResplitRecord;
use crate::ops::moves::steps::{qualified, Steps};
use crate::ops::tables::ddl::quote;

/// Each node's old tables and, per old table, its new tables.
pub(crate) type ByNode = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// The old and new tables of `record`, by node.
pub(crate) fn by_node(record: &ResplitRecord) -> ByNode {
    let mut out: ByNode = BTreeMap::new();
    for t in &record.tables {
        out.entry(t.node.clone())
            .or_default()
            .entry(t.old.clone())
            .or_default()
            .push(t.name.clone());
    }
    out
}

/// A node's binary log end.
pub(crate) async fn master_pos(conn: &mut Conn) -> Result<Pos, String> {
    let row: Option<mysql_async::Row> = conn
        .query_first("SHOW MASTER STATUS")
        .await
        .map_err(|e| format!("SHOW MASTER STATUS: {e}"))?;
    let row = row.ok_or("the node has no binary log")?;
    let file: String = row.get(0).ok_or("SHOW MASTER STATUS: no file")?;
    let pos: u64 = row.get(1).ok_or("SHOW MASTER STATUS: no position")?;
    Ok(Pos { file, pos })
}

/// Waits until `reader` has applied `target`, at most `left`.
pub(crate) async fn wait_applied(
    reader: &Reader,
    target: &Pos,
    left: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        {
            let s = reader.shared.lock();
            if let Some(e) = &s.error {
                return Err(format!("node `{}`: catch-up stopped: {e}", reader.node));
            }
            if s.applied.as_ref().is_some_and(|a| a >= target) {
                return Ok(());
            }
        }
        if start.elapsed() >= left {
            let at = reader.shared.lock().applied.clone();
            return Err(format!(
                "node `{}`: the catch-up did not reach {target} in time (at {})",
                reader.node,
                at.map(|p| p.to_string()).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// (rows, BIT_XOR of row hashes) of `table`.
async fn figure(
    conn: &mut Conn,
    schema: &str,
    table: &str,
    hash: &str,
) -> Result<(u64, u64), String> {
    let row: Option<(u64, Option<u64>)> = conn
        .query_first(format!(
            "SELECT COUNT(*), BIT_XOR({hash}) FROM {}",
            qualified(schema, table)
        ))
        .await
        .map_err(|e| format!("checksum of `{table}`: {e}"))?;
    let (n, x) = row.unwrap_or((0, None));
    Ok((n, x.unwrap_or(0)))
}

/// A row's 64-bit hash over `columns` (as the move's verification does).
pub(crate) fn row_hash(columns: &[String]) -> String {
    let values: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST({} AS BINARY)", quote(c)))
        .collect();
    let nulls: Vec<String> = columns
        .iter()
        .map(|c| format!("ISNULL({})", quote(c)))
        .collect();
    format!(
        "CAST(CONV(LEFT(MD5(CONCAT_WS('#', {}, CONCAT({}))), 16), 16, 10) AS UNSIGNED)",
        values.join(", "),
        nulls.join(", ")
    )
}

/// Compares each old table with its new tables on `conn`.
pub(crate) async fn compare(
    conn: &mut Conn,
    schema: &str,
    node: &str,
    tables: &BTreeMap<String, Vec<String>>,
    columns: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    for (old, new) in tables {
        let cols = columns
            .get(&old.to_ascii_lowercase())
            .ok_or_else(|| format!("no columns of `{old}`"))?;
        let hash = row_hash(cols);
        let a = figure(conn, schema, old, &hash).await?;
        let mut b = (0u64, 0u64);
        for t in new {
            let f = figure(conn, schema, t, &hash).await?;
            b = (b.0 + f.0, b.1 ^ f.1);
        }
        if a != b {
            return Err(format!(
                "verification failed on node `{node}`: `{old}` has {} rows (checksum {:016x}), \
                 its new tables {} together {} rows (checksum {:016x}); nothing switched",
                a.0,
                a.1,
                new.join(", "),
                b.0,
                b.1
            ));
        }
    }
    Ok(())
}

/// What the switch needs.
pub(crate) struct Switch<'a> {
    pub(crate) steps: &'a Steps<'a>,
    pub(crate) schema: &'a str,
    pub(crate) by_node: &'a ByNode,
    /// Old table (lower case) → columns.
    pub(crate) columns: &'a BTreeMap<String, Vec<String>>,
    pub(crate) max_pause: Duration,
}

impl Switch<'_> {
    /// Runs the switch; `write_placement` records the new layout (inside
    /// the pause). The readers are stopped on success. The write pause.
    pub(crate) async fn run(
        &self,
        conns: &mut BTreeMap<String, (Conn, Conn)>,
        readers: &mut Vec<Reader>,
        write_placement: &mut dyn FnMut() -> Result<(), String>,
        say: &mut dyn FnMut(String),
    ) -> Result<Duration, String> {
        let mut proxies = self.steps.proxy_conns().await?;
        let hold_ms = self.max_pause.as_millis() as u64;
        let list = |node: &str| -> String {
            self.by_node
                .get(node)
                .map(|t| t.keys().cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_default()
        };
        let start = Instant::now();
        let mut paused: Vec<(usize, String)> = Vec::new();
        let mut marks: Vec<(&str, Duration)> = Vec::new();
        let outcome = async {
            for (p, (addr, conn)) in proxies.iter_mut().enumerate() {
                for node in self.by_node.keys() {
                    conn.query_drop(format!(
                        "SET SHARDCAT PAUSE WRITES {node} {} FOR {hold_ms}",
                        list(node)
                    ))
                    .await
                    .map_err(|e| format!("proxy {addr}: {e}"))?;
                    paused.push((p, node.clone()));
                }
            }
            marks.push(("drain", start.elapsed()));
            let lock_s = (hold_ms / 2000).max(1);
            let mut ends = BTreeMap::new();
            for (node, (lock, _)) in conns.iter_mut() {
                lock.query_drop(format!("SET SESSION lock_wait_timeout = {lock_s}"))
                    .await
                    .map_err(|e| format!("node `{node}`: {e}"))?;
                let locks: Vec<String> = self.by_node[node]
                    .keys()
                    .map(|t| format!("{} READ", qualified(self.schema, t)))
                    .collect();
                lock.query_drop(format!("LOCK TABLES {}", locks.join(", ")))
                    .await
                    .map_err(|e| format!("LOCK TABLES on node `{node}`: {e}"))?;
                ends.insert(node.clone(), master_pos(lock).await?);
            }
            marks.push(("lock", start.elapsed()));
            for r in readers.iter() {
                let left = self.max_pause.saturating_sub(start.elapsed());
                wait_applied(r, &ends[&r.node], left).await?;
            }
            marks.push(("catch-up", start.elapsed()));
            for (node, (_, check)) in conns.iter_mut() {
                compare(check, self.schema, node, &self.by_node[node], self.columns).await?;
            }
            marks.push(("verify", start.elapsed()));
            if start.elapsed() + Duration::from_millis(100) > self.max_pause {
                return Err("the pause would end before the switch".to_string());
            }
            write_placement()?;
            for (addr, conn) in proxies.iter_mut() {
                for node in self.by_node.keys() {
                    if let Err(e) = conn
                        .query_drop(format!("SET SHARDCAT SWITCH {node} {}", list(node)))
                        .await
                    {
                        return Err(format!(
                            "proxy {addr}: {e}; the placement file has the new layout now: \
                             reload that proxy (SHOW SHARDCAT RELOAD) before its pause ends"
                        ));
                    }
                }
            }
            marks.push(("switch", start.elapsed()));
            Ok::<(), String>(())
        }
        .await;
        if outcome.is_ok() {
            // Nothing is left to replay (the old tables are locked and
            // their writes paused): the readers stop before the writes
            // resume on the new tables.
            for r in readers.drain(..) {
                r.stop();
            }
        }
        for (p, node) in &paused {
            let (addr, conn) = &mut proxies[*p];
            let resumed = conn
                .query_drop(format!("SET SHARDCAT RESUME WRITES {node} {}", list(node)))
                .await;
            if let Err(e) = resumed {
                say(format!(
                    "proxy {addr}: resume failed ({e}); its pause ends by itself"
                ));
            }
        }
        let pause = start.elapsed();
        let mut last = Duration::ZERO;
        let steps_ms: Vec<String> = marks
            .iter()
            .chain([("resume", pause)].iter())
            .map(|(what, at)| {
                let ms = at.saturating_sub(last).as_millis();
                last = *at;
                format!("{what} {ms}")
            })
            .collect();
        say(format!("pause (ms): {}", steps_ms.join(", ")));
        for (lock, _) in conns.values_mut() {
            let _ = lock.query_drop("UNLOCK TABLES").await;
        }
        for (_, conn) in proxies {
            let _ = conn.disconnect().await;
        }
        outcome.map(|()| pause)
    }
}
