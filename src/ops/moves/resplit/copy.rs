//! A resplit's copy on one node: `START TRANSACTION WITH CONSISTENT
//! SNAPSHOT` (MariaDB gives the snapshot's binary log position in
//! `binlog_snapshot_file` / `_position`: where the catch-up starts) while
//! another session holds a read lock on the old tables (no transaction —
//! no prepared XA branch — half done on them at that moment:
//! `snapshot::locked_snapshot`), the
//! new tables created from the old table's `SHOW CREATE TABLE`, every old
//! row read once and inserted, in batches with binary parameters (values
//! exact), into the new table its key maps to.
//!
//! Owns: the copy's statements. Must not: decide the plan (`plan`), replay
//! later writes (`binlog`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

use super::rows::OldTable;
use crate::ops::moves::snapshot::{locked_snapshot, snapshot_coordinates};
use crate::ops::moves::steps::qualified;
use crate::ops::tables::ddl::{copy_ddl, quote};
use crate::placement::{KeyType, ShardedTable};

/// Rows per INSERT.
const BATCH_ROWS: usize = 500;

/// The old tables' estimate of their rows (InnoDB statistics).
pub(crate) async fn estimate(conn: &mut Conn, schema: &str, tables: &[OldTable]) -> u64 {
    let mut n = 0;
    for t in tables {
        let rows: Result<Option<Option<u64>>, _> = conn
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (schema, t.name.as_str()),
            )
            .await;
        n += rows.ok().flatten().flatten().unwrap_or(0);
    }
    n
}

fn sql_err(what: &'static str) -> impl Fn(mysql_async::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// What one node's copy needs.
pub(crate) struct NodeCopy<'a> {
    pub(crate) schema: &'a str,
    pub(crate) rule: &'a ShardedTable,
    pub(crate) key_type: KeyType,
    /// Rows per second at most (0: no limit).
    pub(crate) rate: u64,
}

/// Copies `tables` (old tables of one node) from a snapshot of `source`
/// into their new tables through `target` (same server); the snapshot's
/// `file:pos` and the rows copied. `tick` gets the rows copied so far
/// every 50 rows.
pub(crate) async fn copy_node(
    c: &NodeCopy<'_>,
    source: &mut Conn,
    target: &mut Conn,
    tables: &[OldTable],
    tick: &mut dyn FnMut(u64),
    say: &mut dyn FnMut(String),
) -> Result<(String, u64), String> {
    for t in tables {
        for name in t.new_tables.values() {
            target
                .query_drop(format!(
                    "DROP TABLE IF EXISTS {}",
                    qualified(c.schema, name)
                ))
                .await
                .map_err(sql_err("dropping an unfinished copy"))?;
        }
    }
    // No transaction half done on the old tables at the snapshot (a
    // prepared XA branch would be lost: `locked_snapshot`).
    let locked: Vec<String> = tables
        .iter()
        .map(|t| qualified(c.schema, &t.name))
        .collect();
    let (file, pos) = locked_snapshot(target, &locked, snapshot(source)).await?;
    let at = format!("{file}:{pos}");
    say(format!("snapshot at {at}"));
    target
        .query_drop("SET SESSION foreign_key_checks = 0")
        .await
        .map_err(sql_err("target"))?;
    let mut total = 0u64;
    let start = Instant::now();
    for t in tables {
        let old = qualified(c.schema, &t.name);
        let create: Option<(String, String)> = source
            .query_first(format!("SHOW CREATE TABLE {old}"))
            .await
            .map_err(sql_err("SHOW CREATE TABLE"))?;
        let (_, create) = create.ok_or_else(|| format!("{old}: no definition"))?;
        for name in t.new_tables.values() {
            let ddl = copy_ddl(&create, c.schema, name).map_err(|e| e.to_string())?;
            target
                .query_drop(ddl)
                .await
                .map_err(sql_err("creating a new table"))?;
        }
        let rows = copy_table(c, (source, target), t, &mut total, start, tick).await?;
        say(format!(
            "copied {old}: {rows} rows into {}",
            t.new_names().join(", ")
        ));
    }
    source
        .query_drop("COMMIT")
        .await
        .map_err(sql_err("source"))?;
    tick(total);
    Ok((at, total))
}

/// Starts the copy's consistent snapshot on `source`: its binary log
/// position.
async fn snapshot(source: &mut Conn) -> Result<(String, String), String> {
    source
        .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(sql_err("source"))?;
    source
        .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .map_err(sql_err("snapshot"))?;
    snapshot_coordinates(source)
        .await?
        .ok_or_else(|| "the node has no binary log (log_bin is off)".to_string())
}

/// One old table's rows, each into its new table.
async fn copy_table(
    c: &NodeCopy<'_>,
    (source, target): (&mut Conn, &mut Conn),
    t: &OldTable,
    total: &mut u64,
    start: Instant,
    tick: &mut dyn FnMut(u64),
) -> Result<u64, String> {
    let cols: Vec<String> = t.columns.iter().map(|n| quote(n)).collect();
    let mut result = source
        .exec_iter(
            format!(
                "SELECT {} FROM {}",
                cols.join(", "),
                qualified(c.schema, &t.name)
            ),
            (),
        )
        .await
        .map_err(sql_err("reading the old table"))?;
    // Rows of the result are buffered per new table; the result must be
    // read to its end before the source runs another statement, and the
    // target is another connection, so batches are written as they fill.
    let mut pending: HashMap<usize, Vec<Vec<Value>>> = HashMap::new();
    let mut rows = 0u64;
    while let Some(row) = result
        .next()
        .await
        .map_err(sql_err("reading the old table"))?
    {
        let values = row.unwrap();
        let key = values.get(t.key).ok_or("a row without its key column")?;
        let (slot, _) = t.route(c.rule, c.key_type, key)?;
        let batch = pending.entry(slot).or_default();
        batch.push(values);
        if batch.len() >= BATCH_ROWS {
            let batch = std::mem::take(batch);
            rows += insert(target, c.schema, &t.new_tables[&slot], &cols, batch).await?;
        }
        *total += 1;
        if total.is_multiple_of(50) {
            tick(*total);
            pace(c.rate, *total, start).await;
        }
    }
    for (slot, batch) in pending {
        rows += insert(target, c.schema, &t.new_tables[&slot], &cols, batch).await?;
    }
    Ok(rows)
}

/// Sleeps while the copy is ahead of `rate` rows per second.
async fn pace(rate: u64, rows: u64, start: Instant) {
    if rate > 0 {
        let due = Duration::from_secs_f64(rows as f64 / rate as f64);
        if let Some(ahead) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }
}

async fn insert(
    target: &mut Conn,
    schema: &str,
    table: &str,
    cols: &[String],
    batch: Vec<Vec<Value>>,
) -> Result<u64, String> {
    if batch.is_empty() {
        return Ok(0);
    }
    let marks = format!("({})", vec!["?"; cols.len()].join(","));
    let n = batch.len();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES {}",
        qualified(schema, table),
        cols.join(", "),
        vec![marks; n].join(",")
    );
    let params: Vec<Value> = batch.into_iter().flatten().collect();
    target
        .exec_drop(sql, Params::Positional(params))
        .await
        .map_err(sql_err("writing a new table"))?;
    Ok(n as u64)
}
