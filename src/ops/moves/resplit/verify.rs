//! A resplit's verification, out of the write pause: each old table
//! against the union of its new tables (same server), chunk by chunk of the
//! primary key while writes continue (the move's `moves::verify`, the
//! catch-up being the node's binary log reader), then the rows written
//! since, by their keys:
//!
//! - before the chunks are read, each reader starts noting the primary key
//!   of every row it replays (`binlog::Shared::dirty`); a row no replayed
//!   event touches after that point is the same in its old and new table
//!   from its chunk's comparison to the switch (only the reader writes the
//!   new tables, and it writes a key only when the old table's row of that
//!   key changed);
//! - the keys noted are taken and compared in batches (count and `BIT_XOR`
//!   of the row hashes of the batch's keys, old table vs new tables
//!   together) while writes continue, in rounds, until few are left; a
//!   batch that differs goes back to the next round (written meanwhile);
//! - inside the pause (old tables locked, each reader at its node's log
//!   end): the chunks the online rounds left over and the keys noted since
//!   the last round, compared exactly. The pause's work grows with the
//!   writes of the last round, not with the tables.
//!
//! The key batches and rounds are `moves::keys`' (shared with a move's key
//! watch).
//!
//! Owns: a node's verification and its in-pause comparison. Must not:
//! replay rows (`binlog`), pause or switch (`switch`).

use std::collections::BTreeMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::binlog::{Dirty, Reader};
use super::rows::OldTable;
use super::switch::{master_pos, wait_applied};
use crate::ops::moves::keys::{self, KeyCheck, Side};
use crate::ops::moves::progress::Progress;
use crate::ops::moves::steps::qualified;
use crate::ops::moves::verify::{CatchUp, Job, Pair, Verified};

/// How long a reader may take to reach a position read during the
/// verification.
const WAIT: Duration = Duration::from_secs(30);

/// A node's reader, as the chunk comparison's catch-up.
struct Reach<'r> {
    reader: &'r Reader,
}

impl CatchUp for Reach<'_> {
    const EXACT: bool = false;

    async fn reach(
        &mut self,
        source: &mut Conn,
        _target: &mut Conn,
        _say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let end = master_pos(source).await?;
        wait_applied(self.reader, &end, WAIT).await
    }
}

/// One node's verification: what its pause must still compare.
pub(crate) struct NodeCheck {
    verified: Verified,
    keys: KeyCheck,
    /// A reverse switch's: each old table (qualified) with its new tables,
    /// compared by row counts inside the pause (no keys, no chunks).
    counts: Vec<(String, Vec<String>)>,
}

/// The figures of the online verification, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Checked {
    /// Keys compared while writes continued.
    pub(crate) keys_online: u64,
}

impl NodeCheck {
    /// A reverse switch's check of one node: `olds` (old table → its new
    /// tables) by row counts, inside the pause (the move's reverse checks
    /// as much).
    pub(crate) fn counts_only(schema: &str, olds: &BTreeMap<String, Vec<String>>) -> NodeCheck {
        let counts = olds
            .iter()
            .map(|(old, news)| {
                let copies = news.iter().map(|n| qualified(schema, n)).collect();
                (qualified(schema, old), copies)
            })
            .collect();
        NodeCheck {
            verified: Verified::default(),
            keys: KeyCheck::new(schema, &[], OldTable::new_names),
            counts,
        }
    }

    /// Row counts of each old table and its new tables together (through
    /// `conn`, which holds no table lock); the tables compared.
    async fn compare_counts(&self, conn: &mut Conn, node: &str) -> Result<u64, String> {
        for (old, copies) in &self.counts {
            let mut n = Vec::new();
            for table in std::iter::once(old).chain(copies) {
                let c: Option<u64> = conn
                    .query_first(format!("SELECT COUNT(*) FROM {table}"))
                    .await
                    .map_err(|e| format!("counting {table}: {e}"))?;
                n.push(c.unwrap_or(0));
            }
            let together: u64 = n[1..].iter().sum();
            if n[0] != together {
                return Err(format!(
                    "verification failed on node `{node}`: {old} has {} rows, its new tables \
                     {together}; nothing switched",
                    n[0]
                ));
            }
        }
        Ok(self.counts.len() as u64)
    }
}

/// Two connections to one node: the old tables' side and the new tables'.
pub(crate) type NodeConns = (Conn, Conn);

/// The online verification of every node (see the module doc): each
/// node's chunks, then the key rounds.
pub(crate) async fn online(
    schema: &str,
    olds: &BTreeMap<String, Vec<OldTable>>,
    readers: &[Reader],
    conns: &mut BTreeMap<String, NodeConns>,
    chunk_rows: usize,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(BTreeMap<String, NodeCheck>, Checked), String> {
    for r in readers {
        r.shared.lock().dirty = Some(Dirty::new());
    }
    let mut checks = BTreeMap::new();
    for r in readers {
        let tables = olds.get(&r.node).map(Vec::as_slice).unwrap_or_default();
        let (source, target) = conns
            .get_mut(&r.node)
            .ok_or_else(|| format!("no connection to node `{}`", r.node))?;
        let pairs: Vec<Pair> = tables
            .iter()
            .map(|t| Pair {
                source: t.name.clone(),
                copies: t.new_names(),
            })
            .collect();
        let job = Job {
            schema,
            pairs: &pairs,
            chunk_rows,
        };
        say(format!(
            "node `{}`: verifying while writes continue",
            r.node
        ));
        let mut reach = Reach { reader: r };
        let verified =
            Verified::online_with(source, target, &job, &mut reach, progress, say).await?;
        let keys = KeyCheck::new(schema, tables, OldTable::new_names);
        checks.insert(
            r.node.clone(),
            NodeCheck {
                verified,
                keys,
                counts: Vec::new(),
            },
        );
    }
    let mut sides = Vec::new();
    for (node, (source, target)) in conns.iter_mut() {
        let (Some(reader), Some(check)) =
            (readers.iter().find(|r| &r.node == node), checks.get(node))
        else {
            continue;
        };
        sides.push(Side {
            check: &check.keys,
            source,
            target,
            reader,
            catch: Reach { reader },
        });
    }
    let keys_online = keys::rounds(&mut sides, progress, say).await?;
    drop(sides);
    Ok((checks, Checked { keys_online }))
}

impl NodeCheck {
    /// Inside the pause (old tables locked through `lock`, the reader at
    /// the node's log end): the chunks left over and every key noted since
    /// the last round, exactly. Keys and chunks compared.
    pub(crate) async fn in_pause(
        &self,
        lock: &mut Conn,
        check: &mut Conn,
        reader: &Reader,
        node: &str,
    ) -> Result<(u64, u64), String> {
        if !self.counts.is_empty() {
            return Ok((0, self.compare_counts(check, node).await?));
        }
        self.verified.deferred_in_pause(lock, check).await?;
        let keys = keys::take(reader);
        let place = format!("on node `{node}`");
        let n = self.keys.exact(lock, check, &keys, &place).await?;
        Ok((n, self.verified.deferred.len() as u64))
    }
}
