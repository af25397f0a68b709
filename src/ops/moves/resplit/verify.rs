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
//! Owns: the key rounds and the in-pause comparison. Must not: replay rows
//! (`binlog`), pause or switch (`switch`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use super::binlog::{note, Dirty, Reader};
use super::rows::OldTable;
use super::switch::{master_pos, wait_applied};
use crate::ops::moves::progress::Progress;
use crate::ops::moves::steps::qualified;
use crate::ops::moves::verify::{row_hash, union_figure, CatchUp, Job, Pair, Verified};
use crate::ops::tables::ddl::quote;

/// Keys per compared batch.
const BATCH_KEYS: usize = 200;
/// Rounds of key checks while writes continue.
const KEY_ROUNDS: usize = 8;
/// Keys few enough to leave for the pause.
const FEW_KEYS: usize = 200;
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

/// An old table as the key checks read it.
#[derive(Debug, Clone)]
struct KeyTable {
    old: String,
    /// Its new tables (qualified).
    copies: Vec<String>,
    pk: Vec<String>,
    hash: String,
}

/// One node's verification: what its pause must still compare.
pub(crate) struct NodeCheck {
    verified: Verified,
    /// Old table (lower case) → how to read it by key.
    tables: HashMap<String, KeyTable>,
    /// A reverse switch's: each old table's row count against its new
    /// tables' together (no keys, no chunks).
    counts: bool,
}

/// The figures of the online verification, for the report.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Checked {
    /// Keys compared while writes continued.
    pub(crate) keys_online: u64,
}

impl NodeCheck {
    fn new(schema: &str, olds: &[OldTable]) -> NodeCheck {
        let tables = olds
            .iter()
            .map(|t| {
                let kt = KeyTable {
                    old: qualified(schema, &t.name),
                    copies: t.new_names().iter().map(|n| qualified(schema, n)).collect(),
                    pk: t.pk.iter().map(|i| t.columns[*i].clone()).collect(),
                    hash: row_hash(&t.columns),
                };
                (t.name.to_ascii_lowercase(), kt)
            })
            .collect();
        NodeCheck {
            verified: Verified::default(),
            tables,
            counts: false,
        }
    }

    /// A reverse switch's check of one node: `olds` (old table → its new
    /// tables) by row counts, inside the pause (the move's reverse checks
    /// as much).
    pub(crate) fn counts_only(schema: &str, olds: &BTreeMap<String, Vec<String>>) -> NodeCheck {
        let tables = olds
            .iter()
            .map(|(old, news)| {
                let kt = KeyTable {
                    old: qualified(schema, old),
                    copies: news.iter().map(|n| qualified(schema, n)).collect(),
                    pk: Vec::new(),
                    hash: String::new(),
                };
                (old.to_ascii_lowercase(), kt)
            })
            .collect();
        NodeCheck {
            verified: Verified::default(),
            tables,
            counts: true,
        }
    }

    /// Row counts of each old table and its new tables together (through
    /// `conn`, which holds no table lock); the tables compared.
    async fn compare_counts(&self, conn: &mut Conn, node: &str) -> Result<u64, String> {
        for t in self.tables.values() {
            let mut n = Vec::new();
            for table in std::iter::once(&t.old).chain(&t.copies) {
                let c: Option<u64> = conn
                    .query_first(format!("SELECT COUNT(*) FROM {table}"))
                    .await
                    .map_err(|e| format!("counting {table}: {e}"))?;
                n.push(c.unwrap_or(0));
            }
            let copies: u64 = n[1..].iter().sum();
            if n[0] != copies {
                return Err(format!(
                    "verification failed on node `{node}`: {} has {} rows, its new tables {copies}; \
                     nothing switched",
                    t.old, n[0]
                ));
            }
        }
        Ok(self.tables.len() as u64)
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
        let mut check = NodeCheck::new(schema, tables);
        check.verified =
            Verified::online_with(source, target, &job, &mut reach, progress, say).await?;
        checks.insert(r.node.clone(), check);
    }
    let mut figures = Checked::default();
    for round in 0..KEY_ROUNDS {
        let mut taken = 0;
        for r in readers {
            let keys = take(r);
            let n: usize = keys.values().map(HashMap::len).sum();
            taken += n;
            let (Some(check), Some((source, target))) =
                (checks.get(&r.node), conns.get_mut(&r.node))
            else {
                continue;
            };
            let differing = check.keys_online(source, target, r, &keys, say).await?;
            if let Some(dirty) = r.shared.lock().dirty.as_mut() {
                note(dirty, differing);
            }
            figures.keys_online += n as u64;
        }
        let left: usize = readers.iter().map(pending).sum();
        progress.update(|p| {
            p.keys_rechecked = figures.keys_online;
            p.keys_deferred = left as u64;
        });
        say(format!(
            "key round {}: {taken} keys written during the verification compared, {left} since",
            round + 1
        ));
        if left <= FEW_KEYS {
            break;
        }
    }
    Ok((checks, figures))
}

/// The keys a reader noted so far (it goes on noting).
fn take(r: &Reader) -> Dirty {
    r.shared
        .lock()
        .dirty
        .as_mut()
        .map(std::mem::take)
        .unwrap_or_default()
}

fn pending(r: &Reader) -> usize {
    r.shared
        .lock()
        .dirty
        .as_ref()
        .map_or(0, |d| d.values().map(HashMap::len).sum())
}

/// Batches of one table's keys: (table, keys).
fn batches(keys: &Dirty) -> Vec<(&String, Vec<&Vec<Value>>)> {
    let mut out = Vec::new();
    for (table, ks) in keys {
        let all: Vec<&Vec<Value>> = ks.values().collect();
        for b in all.chunks(BATCH_KEYS) {
            out.push((table, b.to_vec()));
        }
    }
    out
}

impl NodeCheck {
    /// Compares `keys` while writes continue; the keys of the batches that
    /// differ (written meanwhile: the next round, or the pause, decides).
    async fn keys_online(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        reader: &Reader,
        keys: &Dirty,
        say: &mut dyn FnMut(String),
    ) -> Result<Vec<(String, Vec<Value>)>, String> {
        let mut differing = Vec::new();
        let mut reach = Reach { reader };
        for (table, batch) in batches(keys) {
            let t = self.table(table)?;
            let (cond, params) = key_condition(&t.pk, &batch);
            let a = union_figure(
                source,
                std::slice::from_ref(&t.old),
                &t.hash,
                &cond,
                &params,
            )
            .await?;
            reach.reach(source, target, say).await?;
            let b = union_figure(target, &t.copies, &t.hash, &cond, &params).await?;
            if a != b {
                differing.extend(batch.into_iter().map(|k| (table.clone(), k.clone())));
            }
        }
        Ok(differing)
    }

    fn table(&self, name: &str) -> Result<&KeyTable, String> {
        self.tables
            .get(name)
            .ok_or_else(|| format!("verification: no old table `{name}`"))
    }

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
        if self.counts {
            return Ok((0, self.compare_counts(check, node).await?));
        }
        self.verified.deferred_in_pause(lock, check).await?;
        let keys = take(reader);
        let mut n = 0u64;
        for (table, batch) in batches(&keys) {
            let t = self.table(table)?;
            let (cond, params) = key_condition(&t.pk, &batch);
            let a =
                union_figure(check, std::slice::from_ref(&t.old), &t.hash, &cond, &params).await?;
            let b = union_figure(check, &t.copies, &t.hash, &cond, &params).await?;
            if a != b {
                let which = self.differing_keys(check, t, &batch).await?;
                return Err(format!(
                    "verification failed on node `{node}`: `{}` and its new tables differ at \
                     ({}) = {}; nothing switched",
                    t.old,
                    t.pk.join(", "),
                    which.join(", ")
                ));
            }
            n += batch.len() as u64;
        }
        Ok((n, self.verified.deferred.len() as u64))
    }

    /// The keys of `batch` whose rows differ (for the error), at most 5.
    async fn differing_keys(
        &self,
        conn: &mut Conn,
        t: &KeyTable,
        batch: &[&Vec<Value>],
    ) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for key in batch {
            let (cond, params) = key_condition(&t.pk, &[*key]);
            let a =
                union_figure(conn, std::slice::from_ref(&t.old), &t.hash, &cond, &params).await?;
            let b = union_figure(conn, &t.copies, &t.hash, &cond, &params).await?;
            if a != b {
                let shown: Vec<String> = key.iter().map(|v| v.as_sql(false)).collect();
                out.push(format!("({})", shown.join(", ")));
                if out.len() == 5 {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// `pk IN (?, …)` (one column) or `(a = ? AND b = ?) OR …`, and its
/// parameters.
fn key_condition(pk: &[String], keys: &[&Vec<Value>]) -> (String, Vec<Value>) {
    let params: Vec<Value> = keys.iter().flat_map(|k| k.iter().cloned()).collect();
    if let [col] = pk {
        let marks = vec!["?"; keys.len()].join(", ");
        return (format!("{} IN ({marks})", quote(col)), params);
    }
    let one = pk
        .iter()
        .map(|c| format!("{} = ?", quote(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let cond = vec![format!("({one})"); keys.len()].join(" OR ");
    (cond, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_conditions_and_batches() {
        let a = vec![Value::Int(1)];
        let b = vec![Value::Int(2)];
        let (c, p) = key_condition(&["id".into()], &[&a, &b]);
        assert_eq!((c.as_str(), p.len()), ("`id` IN (?, ?)", 2));
        let ab = vec![Value::Int(1), Value::Bytes(b"x".to_vec())];
        let (c, p) = key_condition(&["a".into(), "b".into()], &[&ab, &ab]);
        assert_eq!(
            (c.as_str(), p.len()),
            ("(`a` = ? AND `b` = ?) OR (`a` = ? AND `b` = ?)", 4)
        );
        let mut dirty = Dirty::new();
        note(
            &mut dirty,
            (0..(BATCH_KEYS as i64 * 2 + 1)).map(|i| ("t".to_string(), vec![Value::Int(i)])),
        );
        note(&mut dirty, [("t".to_string(), vec![Value::Int(0)])]);
        note(&mut dirty, [("u".to_string(), vec![Value::Int(0)])]);
        let sizes: Vec<(String, usize)> = batches(&dirty)
            .into_iter()
            .map(|(t, b)| (t.clone(), b.len()))
            .collect();
        let want = [("t", BATCH_KEYS), ("t", BATCH_KEYS), ("t", 1), ("u", 1)];
        assert_eq!(
            sizes,
            want.map(|(t, n)| (t.to_string(), n)).to_vec(),
            "keys noted twice count once"
        );
    }
}
