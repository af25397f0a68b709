//! A resplit after its switch: the old tables kept in step, the reverse
//! switch (`--reverse`), the cleanup (`--cleanup`, the operator's
//! confirmation).
//!
//! At the switch (inside the pause) each node's binary log end is recorded
//! (`ResplitRecord::reverse`): every change replayed into the new tables is
//! before it, every write the proxies send them after it. From there the
//! **reverse replay** — the catch-up's reader (`binlog`) with the direction
//! reversed: it reads the new tables' row changes and replays each into the
//! old table its new table draws from — brings the old tables to the new
//! tables' state. Like the catch-up it runs in a `shardcat` process and
//! records its position about every second (in `reverse`), so it resumes
//! where it stopped:
//!
//! - `--follow` (after the switch, or with the resplit itself) keeps the
//!   old tables in step until stopped (killed: run it again), or until a
//!   `--reverse` or `--cleanup` run takes over (it sees the phase change
//!   and ends);
//! - `--reverse` replays from the recorded position to the log end while
//!   writes continue, then switches back in one write pause (`switch`, the
//!   other way: the new tables paused and locked, the readers at the log
//!   ends, the old tables' row counts against their new tables', the
//!   placement written back with the `[[moved]]` entries of before): phase
//!   `reversing`, then `reversed`;
//! - `--cleanup` records `cleaned` (a follower ends), then drops the old
//!   tables; after a reverse switch it drops the new tables and forgets the
//!   resplit.
//!
//! One replay at a time: each holds a named lock (`GET_LOCK`) on every
//! node; `--reverse` and `--cleanup` wait for a follower's. Without a
//! follower the binary logs from the recorded position must be kept until
//! `--reverse` (a purged one is refused with its name).
//!
//! Owns: the reverse replay's routes, locks and loop, the reverse switch's
//! order, the cleanup. Must not: decode or apply events (`binlog`), pause
//! proxies (`switch`, `moves::pause`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::binlog::{self, Pos, Reader, Routes, Server};
use super::switch::{self, master_pos, ByNode, Switch};
use super::verify::NodeCheck;
use super::{
    caught_up, current, plan, put, record_positions, rows, save, show_lag, write_checked,
    ResplitRequest,
};
use crate::config::placement_file::{PlacementFile, ResplitRecord};
use crate::config::Config;
use crate::ops::moves::progress::{forget_resplit, Progress};
use crate::ops::moves::recovery::{self, stall};
use crate::ops::moves::steps::{qualified, Steps};
use crate::ops::tables::live::connect;

/// How long `--reverse` and `--cleanup` wait for a follower to stop.
const TAKE_OVER: Duration = Duration::from_secs(30);

/// The named lock of `record`'s reverse replay (at most 64 characters).
fn lock_name(record: &ResplitRecord) -> String {
    format!("shardcat_resplit {}.{}", record.schema, record.table)
        .chars()
        .take(64)
        .collect()
}

fn nodes(record: &ResplitRecord) -> Vec<String> {
    switch::by_node(record).into_keys().collect()
}

/// Takes the replay's lock on every node, waiting up to `wait` on each;
/// the connections holding it.
async fn lock(cfg: &Config, record: &ResplitRecord, wait: Duration) -> Result<Vec<Conn>, String> {
    let mut held = Vec::new();
    for node in nodes(record) {
        let mut c = connect(cfg, &node).await?;
        let got: Option<Option<i64>> = c
            .exec_first(
                "SELECT GET_LOCK(?, ?)",
                (lock_name(record), wait.as_secs_f64()),
            )
            .await
            .map_err(|e| format!("node `{node}`: GET_LOCK: {e}"))?;
        if got.flatten() != Some(1) {
            return Err(format!(
                "node `{node}`: another shardcat replays into the old tables of `{}` (a --follow \
                 run; lock `{}`)",
                record.table,
                lock_name(record)
            ));
        }
        held.push(c);
    }
    Ok(held)
}

async fn release(held: Vec<Conn>) {
    for c in held {
        let _ = c.disconnect().await;
    }
}

/// The locks, taken from a follower: it ends once it sees the phase
/// `record` has (recorded again if the follower's last write put
/// `switched` back). Refused if another run changed the phase meanwhile.
async fn take_over(
    cfg: &Config,
    path: &Path,
    record: &ResplitRecord,
    say: &mut dyn FnMut(String),
) -> Result<Vec<Conn>, String> {
    let deadline = Instant::now() + TAKE_OVER;
    loop {
        match lock(cfg, record, Duration::from_secs(2)).await {
            Ok(held) => {
                let now = current(path, record)?;
                if now.phase != record.phase {
                    release(held).await;
                    return Err(format!(
                        "the resplit of `{}` went to phase {} meanwhile (another shardcat run): \
                         nothing done",
                        record.table, now.phase
                    ));
                }
                return Ok(held);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("{e}: it did not stop; stop it and run again"))
            }
            Err(_) => {
                let now = current(path, record)?;
                if now.phase == "switched" && record.phase != "switched" {
                    save(
                        path,
                        &ResplitRecord {
                            phase: record.phase.clone(),
                            ..now
                        },
                    )?;
                }
                say("waiting for the --follow run to stop".into());
            }
        }
    }
}

/// Per node, the reverse replay's routes: each new table's row changes to
/// the old table it draws from.
async fn routes(cfg: &Config, record: &ResplitRecord) -> Result<BTreeMap<String, Routes>, String> {
    let (logicals, key_type, rule) =
        plan::family(cfg, &record.table, record.rule_schema.as_deref())?;
    let mut out: BTreeMap<String, Routes> = BTreeMap::new();
    for node in nodes(record) {
        let mut c = connect(cfg, &node).await?;
        let mut tables = HashMap::new();
        for t in record.tables.iter().filter(|t| t.node == node) {
            let key = &logicals
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(&t.logical))
                .ok_or_else(|| format!("`{}` has no rule", t.logical))?
                .key;
            // One target: every row of a new table belongs to its old one.
            let to_old = HashMap::from([(t.slot, t.old.clone())]);
            let d = rows::describe(&mut c, &record.schema, &t.name, key, to_old).await?;
            tables.insert(t.name.to_ascii_lowercase(), d);
        }
        let _ = c.disconnect().await;
        out.insert(
            node,
            Routes {
                schema: record.schema.clone(),
                tables,
                rule: Some(rule.clone()),
                key_type,
                on_ddl: "the reverse replay replays rows, not DDL: the old tables can no longer \
                         be brought in step; --cleanup keeps the new tables",
                merge: true,
            },
        );
    }
    Ok(out)
}

/// Starts the reverse readers from the recorded positions.
async fn start(cfg: &Config, record: &ResplitRecord) -> Result<Vec<Reader>, String> {
    let mut readers = Vec::new();
    for (node, routes) in routes(cfg, record).await? {
        let from = record
            .reverse
            .iter()
            .find(|s| s.node == node)
            .ok_or_else(|| {
                format!(
                    "no reverse position is recorded for node `{node}` (switched by an older \
                     shardcat): the old tables cannot be brought in step"
                )
            })?;
        let from = Pos::parse(&from.binlog)?;
        let mut apply = connect(cfg, &node).await?;
        let logs: Vec<mysql_async::Row> = apply
            .query("SHOW BINARY LOGS")
            .await
            .map_err(|e| format!("node `{node}`: SHOW BINARY LOGS: {e}"))?;
        if !logs
            .iter()
            .any(|r| r.get::<String, _>(0).as_deref() == Some(from.file.as_str()))
        {
            return Err(format!(
                "node `{node}`: the binary log {} the reverse replay starts from was purged: the \
                 old tables can no longer be brought in step (--cleanup keeps the new layout)",
                from.file
            ));
        }
        let _ = apply.disconnect().await;
        let server = Server::of(cfg, &node).await?;
        readers.push(binlog::start(&node, server, from, routes).await?);
    }
    Ok(readers)
}

fn stop(readers: Vec<Reader>) {
    for r in readers {
        r.stop();
    }
}

/// `--follow`: keeps the old tables in step until the resplit leaves
/// `switched` (or the process is stopped).
pub(super) async fn follow(
    cfg: &Config,
    path: &Path,
    record: &ResplitRecord,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let held = lock(cfg, record, Duration::ZERO).await?;
    // The positions as recorded once the lock is ours.
    let record = current(path, record)?;
    if record.phase != "switched" {
        release(held).await;
        return Err(format!(
            "the resplit is in phase {}: --follow only follows a switch",
            record.phase
        ));
    }
    let readers = start(cfg, &record).await?;
    progress.step("following")?;
    say(
        "following: the old tables are kept in step from the new tables (stop it at any \
         time, run it again to resume; --reverse or --cleanup ends it)"
            .into(),
    );
    let outcome = keep(cfg, path, record, &readers, progress, say).await;
    stop(readers);
    release(held).await;
    if let Err(e) = &outcome {
        progress.failed(e);
    }
    outcome
}

/// The follower's loop: every second the readers' errors, lag and
/// positions (recorded while the phase is still `switched`).
async fn keep(
    cfg: &Config,
    path: &Path,
    mut record: ResplitRecord,
    readers: &[Reader],
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let mut conns = Vec::new();
    for r in readers {
        conns.push(connect(cfg, &r.node).await?);
    }
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for r in readers {
            if let Some(e) = r.shared.lock().error.clone() {
                return Err(format!(
                    "node `{}`: the reverse replay stopped: {e}; run --follow again (it resumes)",
                    r.node
                ));
            }
        }
        let mut ends = Vec::new();
        for c in conns.iter_mut() {
            ends.push(master_pos(c).await?);
        }
        show_lag(progress, readers, &ends);
        let mut file = PlacementFile::read(path)?;
        let now = file.resplits.iter().find(|r| r.same(&record)).cloned();
        match now {
            Some(now) if now.phase == "switched" => {
                record = now;
                record_positions(&mut record.reverse, readers);
                put(&mut file, record.clone());
                file.write(path)?;
            }
            now => {
                say(format!(
                    "the resplit is now {}: the reverse replay stops",
                    now.map_or("gone".into(), |r| r.phase)
                ));
                return Ok(());
            }
        }
    }
}

/// `--reverse`: the traffic back to the old tables (see the module doc).
pub(super) async fn run(
    cfg: &Config,
    req: &ResplitRequest,
    path: &Path,
    record: ResplitRecord,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let mut progress = Progress::of_resplit(path.to_path_buf(), &record);
    let done = switch_back(cfg, req, path, record, &mut progress, say).await;
    if let Err(e) = &done {
        progress.failed(e);
    }
    done
}

async fn switch_back(
    cfg: &Config,
    req: &ResplitRequest,
    path: &Path,
    mut record: ResplitRecord,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let steps = Steps::new(cfg, &req.base);
    match record.phase.as_str() {
        "reversed" => {
            // A run that died after the placement write.
            recovery::reload_proxies(steps.proxy_conns().await?, say).await?;
            progress.step("reversed")?;
            say("reversed: the old tables are in use; --cleanup drops the new ones".into());
            return Ok(());
        }
        "switched" | "reversing" => {}
        p => {
            return Err(format!(
                "the resplit is in phase {p}: --reverse only follows a switch (before --cleanup)"
            ))
        }
    }
    record.phase = "reversing".into();
    save(path, &record)?;
    progress.step("reversing")?;
    let held = take_over(cfg, path, &record, say).await?;
    let mut record = current(path, &record)?;
    let mut readers = start(cfg, &record).await?;
    say("reversing: replaying the new tables' writes into the old tables".into());
    let outcome = async {
        stall("reverse_catch_up", say).await;
        let mut note = |r: &[Reader]| {
            record_positions(&mut record.reverse, r);
            save(path, &record)
        };
        caught_up(
            cfg,
            req.base.catch_up_timeout,
            &readers,
            progress,
            &mut note,
            say,
        )
        .await?;
        progress.step("reverse_switching")?;
        let forward = switch::by_node(&record);
        let back = reversed(&forward);
        let mut conns = BTreeMap::new();
        let mut checks = BTreeMap::new();
        for (node, olds) in &forward {
            conns.insert(
                node.clone(),
                (connect(cfg, node).await?, connect(cfg, node).await?),
            );
            checks.insert(node.clone(), NodeCheck::counts_only(&record.schema, olds));
        }
        let sw = Switch {
            steps: &steps,
            schema: &record.schema,
            by_node: &back,
            max_pause: req.base.max_pause,
            stall_paused: "reverse_paused",
            stall_placed: "reverse_placed",
        };
        let config = req.base.config.clone();
        let snapshot = record.clone();
        let mut write = |_: &BTreeMap<String, Pos>| write_reversed(path, &config, &snapshot);
        sw.run(&mut conns, &mut readers, &checks, &mut write, say)
            .await
    }
    .await;
    record_positions(&mut record.reverse, &readers);
    stop(readers);
    release(held).await;
    match outcome {
        Ok(done) => {
            record.phase = "reversed".into();
            record.pause_ms = done.pause.as_millis() as u64;
            save(path, &record)?;
            let _ = progress.step("reversed");
            say(format!(
                "reversed: {} tables per node again, write pause {} ms; --cleanup drops the new \
                 tables",
                record.from_tables_per_node,
                done.pause.as_millis()
            ));
            if !done.failed.is_empty() {
                return Err(recovery::unswitched_error(&done.failed, req.base.max_pause));
            }
            Ok(())
        }
        Err(e) => {
            let _ = save(path, &record);
            Err(format!(
                "{e}; the new tables stay in use (phase reversing): run --reverse again, or \
                 --cleanup to keep them"
            ))
        }
    }
}

/// Node → new table → its old table (what the reverse switch pauses and
/// locks: the new tables).
fn reversed(forward: &ByNode) -> ByNode {
    forward
        .iter()
        .map(|(node, olds)| {
            let news = olds
                .iter()
                .flat_map(|(old, news)| news.iter().map(move |n| (n.clone(), vec![old.clone()])))
                .collect();
            (node.clone(), news)
        })
        .collect()
}

/// The reverse switch's one write of the placement file: the record
/// `reversed` (no longer applied: the rule's layout before), the table's
/// `[[moved]]` entries those of before the switch.
fn write_reversed(path: &Path, config: &Path, record: &ResplitRecord) -> Result<(), String> {
    let mut file = PlacementFile::read(path)?;
    let before = file.clone();
    put(
        &mut file,
        ResplitRecord {
            phase: "reversed".into(),
            ..record.clone()
        },
    );
    file.moved.retain(|m| {
        !(m.table.eq_ignore_ascii_case(&record.table) && m.schema == record.rule_schema)
    });
    file.moved.extend(record.moved_before.iter().cloned());
    write_checked(path, config, &file, &before)
}

/// `--cleanup`: after a switch, the reverse replay stopped and the old
/// tables dropped; after a reverse switch, the new tables dropped and the
/// resplit forgotten.
pub(super) async fn cleanup(
    cfg: &Config,
    path: &Path,
    mut record: ResplitRecord,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let reversed = match record.phase.as_str() {
        "reversed" => true,
        "switched" | "reversing" | "cleaned" => false,
        p => {
            return Err(format!(
                "the resplit of `{}` has not switched ({p}): nothing to clean up",
                record.table
            ))
        }
    };
    if !reversed && record.phase != "cleaned" {
        // The confirmation: a follower sees it and ends.
        record.phase = "cleaned".into();
        save(path, &record)?;
    }
    release(take_over(cfg, path, &record, say).await?).await;
    let by_node = switch::by_node(&record);
    for (node, olds) in &by_node {
        let mut c = connect(cfg, node).await?;
        let gone: Vec<&String> = if reversed {
            olds.values().flatten().collect()
        } else {
            olds.keys().collect()
        };
        for name in gone {
            // Never a table of the layout in use.
            let in_use = if reversed {
                olds.contains_key(name)
            } else {
                olds.values()
                    .flatten()
                    .any(|n| n.eq_ignore_ascii_case(name))
            };
            if in_use {
                continue;
            }
            c.query_drop(format!(
                "DROP TABLE IF EXISTS {}",
                qualified(&record.schema, name)
            ))
            .await
            .map_err(|e| format!("dropping `{name}`: {e}"))?;
            say(format!("dropped {}.{name} on {node}", record.schema));
        }
        let _ = c.disconnect().await;
    }
    let mut file = PlacementFile::read(path)?;
    if reversed {
        file.resplits.retain(|r| !r.same(&record));
        say(format!(
            "cleaned up: the new tables are dropped; `{}` has {} tables per node",
            record.table, record.from_tables_per_node
        ));
    } else {
        say("cleaned up: the old tables are dropped".into());
    }
    forget_resplit(&mut file, &record);
    file.write(path)
}
