//! Comparing rows by primary key: the keys a binary log reader
//! (`resplit::binlog`) noted as written after a chunked verification
//! (`verify`) began. With them a switch's pause compares what was written
//! since the last round, never whole tables. Shared by a resplit (an old
//! table against its new tables on one server, the reader replaying) and a
//! move or split (a source table against its copy on the target, kept in
//! step by the channel; the reader only notes keys: `watch`).
//!
//! Why it holds: the reader notes every key written after its start, which
//! comes before the chunks are read; a row no noted write touched after
//! its chunk compared equal stays equal (the copy side changes only by
//! replaying the source's writes). The keys noted are compared in batches
//! (count and `BIT_XOR` of the row hashes, as a chunk) while writes
//! continue, in rounds; a batch that differs is noted again (written
//! meanwhile); inside the pause (source locked, copy and reader caught up)
//! the keys noted since the last round are compared exactly.
//!
//! Owns: the key batches, the rounds, the exact comparison. Must not:
//! read the binary log (`binlog`), chunk tables (`verify`), pause.

use std::collections::HashMap;

use mysql_async::{Conn, Value};

use super::progress::Progress;
use super::resplit::binlog::{note, Dirty, Reader};
use super::resplit::rows::OldTable;
use super::steps::qualified;
use super::verify::{row_hash, union_figure, CatchUp};
use crate::ops::tables::ddl::quote;

/// Keys per compared batch.
const BATCH_KEYS: usize = 200;
/// Rounds of key checks while writes continue.
const KEY_ROUNDS: usize = 8;
/// Keys few enough to leave for the pause.
const FEW_KEYS: usize = 200;

/// A table as the key checks read it.
#[derive(Debug, Clone)]
struct KeyTable {
    /// The source side (qualified).
    old: String,
    /// The copy side's tables (qualified): their union.
    copies: Vec<String>,
    pk: Vec<String>,
    hash: String,
}

/// The tables whose noted keys are compared.
#[derive(Debug, Default)]
pub(crate) struct KeyCheck {
    /// Source table (lower case) → how to read it by key.
    tables: HashMap<String, KeyTable>,
}

impl KeyCheck {
    /// `olds` against their copies: `copies(t)` (unqualified, in `schema`).
    pub(crate) fn new(
        schema: &str,
        olds: &[OldTable],
        copies: impl Fn(&OldTable) -> Vec<String>,
    ) -> KeyCheck {
        let tables = olds
            .iter()
            .map(|t| {
                let kt = KeyTable {
                    old: qualified(schema, &t.name),
                    copies: copies(t).iter().map(|n| qualified(schema, n)).collect(),
                    pk: t.pk.iter().map(|i| t.columns[*i].clone()).collect(),
                    hash: row_hash(&t.columns),
                };
                (t.name.to_ascii_lowercase(), kt)
            })
            .collect();
        KeyCheck { tables }
    }

    fn table(&self, name: &str) -> Result<&KeyTable, String> {
        self.tables
            .get(name)
            .ok_or_else(|| format!("verification: no table `{name}` to check by key"))
    }

    /// Compares `keys` while writes continue; the keys of the batches that
    /// differ (written meanwhile: the next round, or the pause, decides).
    async fn online<C: CatchUp>(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        keys: &Dirty,
        catch: &mut C,
        say: &mut dyn FnMut(String),
    ) -> Result<Vec<(String, Vec<Value>)>, String> {
        let mut differing = Vec::new();
        for (table, batch) in batches(keys) {
            let t = self.table(table)?;
            let (cond, params) = key_condition(&t.pk, &batch);
            let old = std::slice::from_ref(&t.old);
            let a = union_figure(source, old, &t.hash, &cond, &params).await?;
            catch.reach(source, target, say).await?;
            let b = union_figure(target, &t.copies, &t.hash, &cond, &params).await?;
            if a != b {
                differing.extend(batch.into_iter().map(|k| (table.clone(), k.clone())));
            }
        }
        Ok(differing)
    }

    /// Inside the pause (the source's tables locked, the copy and the
    /// reader caught up): `keys` compared exactly; how many. An error
    /// naming the keys that differ (`place`: "on node `n1`", …).
    pub(crate) async fn exact(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        keys: &Dirty,
        place: &str,
    ) -> Result<u64, String> {
        let mut n = 0u64;
        for (table, batch) in batches(keys) {
            let t = self.table(table)?;
            let (cond, params) = key_condition(&t.pk, &batch);
            let old = std::slice::from_ref(&t.old);
            let a = union_figure(source, old, &t.hash, &cond, &params).await?;
            let b = union_figure(target, &t.copies, &t.hash, &cond, &params).await?;
            if a != b {
                let which = differing_keys(source, target, t, &batch).await?;
                return Err(format!(
                    "verification failed {place}: {} and its copy differ at ({}) = {}; \
                     nothing switched",
                    t.old,
                    t.pk.join(", "),
                    which.join(", ")
                ));
            }
            n += batch.len() as u64;
        }
        Ok(n)
    }
}

/// The keys of `batch` whose rows differ (for the error), at most 5.
async fn differing_keys(
    source: &mut Conn,
    target: &mut Conn,
    t: &KeyTable,
    batch: &[&Vec<Value>],
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for key in batch {
        let (cond, params) = key_condition(&t.pk, &[*key]);
        let old = std::slice::from_ref(&t.old);
        let a = union_figure(source, old, &t.hash, &cond, &params).await?;
        let b = union_figure(target, &t.copies, &t.hash, &cond, &params).await?;
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

/// One reader's side of the key rounds: its tables, the two sides'
/// connections and how the copy catches up.
pub(crate) struct Side<'a, C> {
    pub(crate) check: &'a KeyCheck,
    pub(crate) source: &'a mut Conn,
    pub(crate) target: &'a mut Conn,
    pub(crate) reader: &'a Reader,
    pub(crate) catch: C,
}

/// The key rounds while writes continue (see the module doc), until few
/// keys are left for the pause; the keys compared.
pub(crate) async fn rounds<C: CatchUp>(
    sides: &mut [Side<'_, C>],
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<u64, String> {
    let mut compared = 0u64;
    for round in 0..KEY_ROUNDS {
        let mut taken = 0;
        for side in sides.iter_mut() {
            let keys = take(side.reader);
            let n: usize = keys.values().map(HashMap::len).sum();
            taken += n;
            let differing = side
                .check
                .online(side.source, side.target, &keys, &mut side.catch, say)
                .await?;
            if let Some(dirty) = side.reader.shared.lock().dirty.as_mut() {
                note(dirty, differing);
            }
            compared += n as u64;
        }
        let left: usize = sides.iter().map(|s| pending(s.reader)).sum();
        progress.update(|p| {
            p.keys_rechecked = compared;
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
    Ok(compared)
}

/// The keys a reader noted so far (it goes on noting).
pub(crate) fn take(r: &Reader) -> Dirty {
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
