//! A resplit's switch, inside one write pause: each proxy pauses the
//! writes to the old tables (`SET SHARDCAT PAUSE WRITES`, per node), the
//! old tables are locked for reading (against writers that bypass
//! shardcat), each node's binary log end (`SHOW MASTER STATUS`) is waited
//! for by its reader, no XA branch may be left prepared (its rows wait in
//! the reader for an `XA COMMIT` that would come to the old tables after
//! the switch), what the online verification
//! left is compared
//! (`verify`: the chunks written during every round and the keys written
//! since the last key round — bounded by the writes of the last moments,
//! not by the tables), the placement file records the new
//! `tables_per_node` with the new slots' nodes (the point of no return:
//! `recovery`), each proxy reloads (`SET SHARDCAT SWITCH`; one that
//! refuses is reloaded or reported and left paused), the readers stop,
//! writes resume (planned again: to the new tables), the locks go.
//!
//! The reverse switch (`reverse`) is the same pause the other way: the
//! new tables paused and locked, the reverse readers at the log ends, the
//! old layout written back.
//!
//! No table is renamed: a new table whose rendered name is taken by an old
//! one is built under a staging name the placement file records (the rule
//! maps the rendered name to it), so reads planned before or after the
//! reload each see a complete layout.
//!
//! Owns: the pause's order. Must not: copy or replay rows (`copy`,
//! `binlog`), decide the plan (`plan`), compare rows (`verify`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::binlog::{Pos, Reader};
use super::verify::{NodeCheck, NodeConns};
use crate::config::placement_file::ResplitRecord;
use crate::ops::moves::pause::Pause;
use crate::ops::moves::recovery::stall;
use crate::ops::moves::steps::{qualified, Steps};

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

/// The switch's placement write, given each node's log end at the switch.
pub(crate) type WritePlacement<'a> = dyn FnMut(&BTreeMap<String, Pos>) -> Result<(), String> + 'a;

/// What the switch needs.
pub(crate) struct Switch<'a> {
    pub(crate) steps: &'a Steps<'a>,
    pub(crate) schema: &'a str,
    pub(crate) by_node: &'a ByNode,
    pub(crate) max_pause: Duration,
    /// The test stalls' names inside the pause (`recovery::stall`).
    pub(crate) stall_paused: &'static str,
    pub(crate) stall_placed: &'static str,
}

/// How long the pause waits for prepared XA branches to end, and the
/// time it keeps for the rest of the switch.
const XA_WAIT: Duration = Duration::from_millis(300);
const XA_MARGIN: Duration = Duration::from_millis(200);

/// Refuses the switch while an XA branch is prepared on the node: the
/// reader holds a prepared branch's rows until its `XA COMMIT` (`xa`),
/// which after the switch would commit them to the old tables only. Waits
/// up to `left` for such branches to end (no branch can write the old
/// tables once they are locked).
async fn no_prepared_xa(conn: &mut Conn, node: &str, left: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let rows: Vec<mysql_async::Row> = conn.query("XA RECOVER").await.map_err(|e| {
            format!("node `{node}`: XA RECOVER (a resplit looks for prepared XA branches): {e}")
        })?;
        if rows.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= left {
            let ids: Vec<String> = rows
                .iter()
                .filter_map(|r| r.get::<Vec<u8>, _>("data"))
                .take(3)
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .collect();
            return Err(format!(
                "node `{node}`: {} XA branch(es) prepared ({}): a resplit does not switch \
                 until they are committed or rolled back (XA RECOVER); nothing switched",
                rows.len(),
                ids.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a switch did.
pub(crate) struct Switched {
    pub(crate) pause: Duration,
    /// Proxies that took neither the switch nor a reload.
    pub(crate) failed: Vec<String>,
    /// Keys and chunks compared inside the pause.
    pub(crate) keys: u64,
    pub(crate) chunks: u64,
}

impl Switch<'_> {
    /// Runs the switch; `write_placement` records the new layout (inside
    /// the pause), given each node's log end at the switch. The readers are stopped once the placement file has the
    /// new layout.
    pub(crate) async fn run(
        &self,
        conns: &mut BTreeMap<String, NodeConns>,
        readers: &mut Vec<Reader>,
        checks: &BTreeMap<String, NodeCheck>,
        write_placement: &mut WritePlacement<'_>,
        say: &mut dyn FnMut(String),
    ) -> Result<Switched, String> {
        let tables: BTreeMap<String, Vec<String>> = self
            .by_node
            .iter()
            .map(|(node, olds)| (node.clone(), olds.keys().cloned().collect()))
            .collect();
        let mut pause = Pause::new(self.steps.proxy_conns().await?, tables, self.max_pause);
        let hold_ms = self.max_pause.as_millis() as u64;
        let mut done = Switched {
            pause: Duration::ZERO,
            failed: Vec::new(),
            keys: 0,
            chunks: 0,
        };
        let outcome = async {
            pause.pause_all().await?;
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
            pause.mark("lock");
            for r in readers.iter() {
                let left = self.max_pause.saturating_sub(pause.elapsed());
                wait_applied(r, &ends[&r.node], left).await?;
            }
            pause.mark("catch-up");
            for (node, (_, check)) in conns.iter_mut() {
                let left = self.max_pause.saturating_sub(pause.elapsed() + XA_MARGIN);
                no_prepared_xa(check, node, left.min(XA_WAIT)).await?;
            }
            for r in readers.iter() {
                let (Some((lock, check)), Some(c)) = (conns.get_mut(&r.node), checks.get(&r.node))
                else {
                    return Err(format!("no verification of node `{}`", r.node));
                };
                let (keys, chunks) = c.in_pause(lock, check, r, &r.node).await?;
                done.keys += keys;
                done.chunks += chunks;
            }
            pause.mark("verify");
            // Where the replay the other way starts (`reverse`): each
            // node's log end now — every replayed change is before it,
            // every write of the tables switched to after it.
            let mut switched_at = BTreeMap::new();
            for (node, (lock, _)) in conns.iter_mut() {
                switched_at.insert(node.clone(), master_pos(lock).await?);
            }
            stall(self.stall_paused, say).await;
            if pause.elapsed() + Duration::from_millis(100) > self.max_pause {
                return Err("the pause would end before the switch".to_string());
            }
            write_placement(&switched_at)?;
            // The point of no return (`recovery`): nothing is left to
            // replay (the old tables are locked and their writes paused),
            // the readers stop before the writes resume on the new tables.
            for r in readers.drain(..) {
                r.stop();
            }
            stall(self.stall_placed, say).await;
            done.failed = pause.switch_all().await;
            Ok::<(), String>(())
        }
        .await;
        done.pause = pause.resume("resume", say).await;
        for (lock, _) in conns.values_mut() {
            let _ = lock.query_drop("UNLOCK TABLES").await;
        }
        pause.close().await;
        outcome.map(|()| done)
    }
}
