//! Changing a sharded table's `tables_per_node` online (`shardcat shards
//! resplit`): 2 → 4, 4 → 8 (any integer factor) under `hash_mod`, while
//! applications keep reading and writing through shardcat.
//!
//! Every new slot draws from one old slot (`plan`), so every row stays on
//! its node: each node's old tables are divided into new tables on the
//! same server. MariaDB's replication channels cannot do that (a table
//! filter cannot split a table; the row filter is shardcat's own hash of
//! the canonical key, which SQL cannot compute for string keys), so:
//!
//! 1. **copy** (`copying`, `copy`): per node, a consistent snapshot, each
//!    old row routed in Rust by the placement code into its new table;
//! 2. **catch up** (`catching_up`, `binlog`): per node, a binary log reader
//!    from the snapshot's position replays the old tables' row changes into
//!    the new tables; its position is recorded about every second;
//! 3. **verify** (`verify`), while writes continue: each old table against
//!    its new tables chunk by chunk (the move's chunked verification), then
//!    the rows written since, by their keys, in rounds;
//! 4. **switch** (`switched`, `switch`): one write pause; each reader
//!    reaches its node's log end, what the verification left (chunks and
//!    keys written since its last round) compared, the placement file
//!    records the new `tables_per_node`, the new slots' nodes
//!    (`[[moved]]`) and the staging names, the proxies reload;
//!    The switch also records each node's log end: where the reverse
//!    replay (new tables → old tables, `reverse`) starts;
//! 5. **keep in step / reverse** (optional, `reverse`): `--follow` keeps
//!    the old tables in step until the operator decides; `--reverse`
//!    switches back (`reversing`, `reversed`) with no write lost;
//! 6. **cleanup** (`--cleanup`, the operator's confirmation, `cleaned`):
//!    the reverse replay ends, the old tables dropped (after a reverse: the
//!    new tables, and the record goes).
//!
//! Each phase is recorded (`[[resplit]]`) before the next starts: running
//! the command again resumes (an interrupted copy starts over, a catch-up
//! restarts from its recorded position — replaying is idempotent; a run
//! that died after the switch's placement write reloads every proxy);
//! `--abort` before the switch drops the new tables. A table's resplits
//! follow one another (2 → 4, cleaned, then 4 → 8): the records stay in
//! order and the configuration applies the switched ones in turn. The live figures
//! (step, rows, catch-up position and lag, verification, pause) go to
//! `[[progress]]` (`moves::progress`), shown by `SHOW SHARDCAT MOVES` and
//! the `shard_resplit_*` metrics.
//!
//! Owns: the order of the phases and their record. Must not: route
//! statements, change the move's steps (it calls `Steps::proxy_conns`).

pub(super) mod binlog;
mod copy;
mod plan;
mod reverse;
pub(super) mod rows;
pub(super) mod switch;
mod verify;
mod xa;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::progress::{forget_resplit, Progress};
use super::recovery::{self, stall};
use super::steps::{qualified, schema_of, Steps};
use super::{load_config, MoveRequest};
use crate::config::placement_file::{
    path_for, MovedShard, PlacementFile, ResplitRecord, ResplitSource,
};
use crate::config::Config;
use crate::ops::tables::live::connect;
use binlog::{Pos, Reader, Routes, Server};
use plan::Plan;
use rows::OldTable;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct ResplitRequest {
    /// The arguments shared with a move (`shard`, `to`, `reverse` unused).
    pub base: MoveRequest,
    /// The new `tables_per_node`.
    pub tables_per_node: usize,
    /// Print the plan, change nothing.
    pub dry_run: bool,
    /// After the switch, keep the old tables in step (the reverse replay)
    /// until stopped, or until `--reverse` or `--cleanup` takes over.
    pub follow: bool,
}

/// Runs (or resumes, aborts, cleans up, reverses) a resplit; `say` gets
/// progress.
pub async fn run(req: &ResplitRequest, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let base = &req.base;
    let cfg = load_config(&base.config)?;
    let path = path_for(&base.config);
    let file = PlacementFile::read(&path)?;
    // The table's last resplit (the earlier ones are cleaned up).
    let last = file
        .resplits
        .iter()
        .rev()
        .find(|r| r.table.eq_ignore_ascii_case(&base.table))
        .cloned();
    let record = match last {
        // A cleanup that died after recording `cleaned` finishes.
        Some(r) if r.phase == "cleaned" && base.cleanup => r,
        Some(r) if r.phase != "cleaned" => r,
        _ => {
            if base.abort || base.cleanup || base.reverse {
                return Err(format!(
                    "no resplit of `{}` is under way in {}",
                    base.table,
                    path.display()
                ));
            }
            return fresh(&cfg, req, &file, say).await;
        }
    };
    if record.tables_per_node != req.tables_per_node && !base.abort && !base.cleanup {
        return Err(format!(
            "a resplit of `{}` to tables_per_node = {} is recorded ({}): finish or abort it first",
            record.table, record.tables_per_node, record.phase
        ));
    }
    say(format!(
        "resplit of {}.{} {} → {} tables per node is recorded ({})",
        record.schema,
        record.table,
        record.from_tables_per_node,
        record.tables_per_node,
        record.phase
    ));
    if req.dry_run {
        print_plan(&record, say);
        return Ok(());
    }
    if base.abort {
        return abort(&cfg, &path, &record, say).await;
    }
    if base.cleanup {
        return reverse::cleanup(&cfg, &path, record, say).await;
    }
    if base.reverse {
        return reverse::run(&cfg, req, &path, record, say).await;
    }
    match record.phase.as_str() {
        "switched" | "reversed" => {
            // A run that died after the placement write: every proxy
            // reloads (one the switch left behind converges).
            let steps = Steps::new(&cfg, base);
            recovery::reload_proxies(steps.proxy_conns().await?, say).await?;
            if record.phase == "reversed" {
                say("reversed: the old tables are in use; --cleanup drops the new ones".into());
                return Ok(());
            }
            if req.follow {
                let mut progress = Progress::of_resplit(path.clone(), &record);
                return reverse::follow(&cfg, &path, &record, &mut progress, say).await;
            }
            say(
                "switched: the new tables are in use; --follow keeps the old ones in step, \
                 --reverse switches back, --cleanup drops the old ones"
                    .into(),
            );
            return Ok(());
        }
        "reversing" => {
            return Err(format!(
                "a reverse switch of `{}` is under way: run --reverse again to finish it, or \
                 --cleanup to keep the new tables",
                record.table
            ))
        }
        _ => {}
    }
    // The rule as it was (the record is not applied before the switch).
    let plan = plan::plan(
        &cfg,
        &record.table,
        record.rule_schema.as_deref(),
        &record.schema,
        record.tables_per_node,
        &|_, _| false,
    )?;
    let plan = Plan { record, ..plan };
    drive(&cfg, req, &path, plan, say).await
}

/// A new resplit: plan, refusals, record, then the phases.
async fn fresh(
    cfg: &Config,
    req: &ResplitRequest,
    file: &PlacementFile,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let base = &req.base;
    if let Some(m) = file
        .moves
        .iter()
        .find(|m| m.table.eq_ignore_ascii_case(&base.table) && m.phase != "cleaned")
    {
        return Err(format!(
            "`{}` has a move of slot {} under way ({}): finish it (--cleanup) or abort it first",
            base.table, m.slot, m.phase
        ));
    }
    // The schema: the rule's, the command's, or the first node's.
    let probe = plan::plan(
        cfg,
        &base.table,
        base.schema.as_deref(),
        "",
        req.tables_per_node,
        &|_, _| false,
    )?;
    let first = probe
        .record
        .tables
        .first()
        .ok_or("the table has no physical tables")?
        .clone();
    let schema = match probe.record.rule_schema.clone().or(base.schema.clone()) {
        Some(s) => s,
        None => schema_of(cfg, &first.node, &first.old).await?,
    };
    let mut taken: HashSet<(String, String)> = HashSet::new();
    let nodes: HashSet<&String> = probe.record.tables.iter().map(|t| &t.node).collect();
    for node in nodes {
        let mut c = connect(cfg, node).await?;
        let names: Vec<String> = c
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                (schema.as_str(),),
            )
            .await
            .map_err(|e| format!("tables of node `{node}`: {e}"))?;
        taken.extend(
            names
                .into_iter()
                .map(|n| (node.clone(), n.to_ascii_lowercase())),
        );
        let _ = c.disconnect().await;
    }
    let plan = plan::plan(
        cfg,
        &base.table,
        base.schema.as_deref(),
        &schema,
        req.tables_per_node,
        &|node, name| taken.contains(&(node.to_owned(), name.to_ascii_lowercase())),
    )?;
    print_plan(&plan.record, say);
    for (slot, node) in plan::moved_entries(&plan) {
        say(format!(
            "plan: slot {slot} stays on node {node} ([[moved]])"
        ));
    }
    // The refusals that need the servers (column types, primary key).
    describe_all(cfg, &plan).await?;
    if req.dry_run {
        return Ok(());
    }
    save(&path_for(&base.config), &plan.record)?;
    drive(cfg, req, &path_for(&base.config), plan, say).await
}

fn print_plan(record: &ResplitRecord, say: &mut dyn FnMut(String)) {
    for t in &record.tables {
        let staging = if t.name != t.rendered {
            format!(" (staging name for {})", t.rendered)
        } else {
            String::new()
        };
        say(format!(
            "plan: {}.{} slot {} on {}: {} ← rows of {}{staging}",
            record.schema, t.logical, t.slot, t.node, t.name, t.old
        ));
    }
}

/// The old tables of each node, described.
async fn describe_all(
    cfg: &Config,
    plan: &Plan,
) -> Result<BTreeMap<String, Vec<OldTable>>, String> {
    let mut out: BTreeMap<String, Vec<OldTable>> = BTreeMap::new();
    let by_node = switch::by_node(&plan.record);
    for (node, olds) in &by_node {
        let mut c = connect(cfg, node).await?;
        for old in olds.keys() {
            let t = plan
                .record
                .tables
                .iter()
                .find(|t| &t.old == old && &t.node == node)
                .ok_or("no new table")?;
            let key = &plan
                .logicals
                .iter()
                .find(|l| l.name == t.logical)
                .ok_or("no logical table")?
                .key;
            let new_tables: HashMap<usize, String> = plan
                .record
                .tables
                .iter()
                .filter(|n| &n.old == old && &n.node == node)
                .map(|n| (n.slot, n.name.clone()))
                .collect();
            let d = rows::describe(&mut c, &plan.record.schema, old, key, new_tables).await?;
            out.entry(node.clone()).or_default().push(d);
        }
        let _ = c.disconnect().await;
    }
    Ok(out)
}

/// Records `record` (in place of its earlier state; a table's resplits
/// stay in their order: the configuration applies them in turn).
fn save(path: &Path, record: &ResplitRecord) -> Result<(), String> {
    let mut file = PlacementFile::read(path)?;
    put(&mut file, record.clone());
    file.write(path)
}

fn put(file: &mut PlacementFile, record: ResplitRecord) {
    match file.resplits.iter_mut().find(|r| r.same(&record)) {
        Some(r) => *r = record,
        None => file.resplits.push(record),
    }
}

/// The recorded state of `record`.
fn current(path: &Path, record: &ResplitRecord) -> Result<ResplitRecord, String> {
    PlacementFile::read(path)?
        .resplits
        .into_iter()
        .find(|r| r.same(record))
        .ok_or_else(|| format!("the resplit of `{}` is no longer recorded", record.table))
}

/// The phases from the recorded one on.
async fn drive(
    cfg: &Config,
    req: &ResplitRequest,
    path: &Path,
    plan: Plan,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let mut progress = Progress::of_resplit(path.to_path_buf(), &plan.record);
    let done = phases(cfg, req, path, plan, &mut progress, say).await;
    if let Err(e) = &done {
        progress.failed(e);
    }
    done
}

async fn phases(
    cfg: &Config,
    req: &ResplitRequest,
    path: &Path,
    mut plan: Plan,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let olds = describe_all(cfg, &plan).await?;
    if plan.record.phase == "copying" {
        progress.step("copying")?;
        let started = Instant::now();
        let mut sources = Vec::new();
        let mut total = 0;
        for (node, tables) in &olds {
            let mut source = connect(cfg, node).await?;
            let mut target = connect(cfg, node).await?;
            let estimate = copy::estimate(&mut source, &plan.record.schema, tables).await;
            progress.update(|p| p.rows_total = p.rows_total.max(total) + estimate);
            let c = copy::NodeCopy {
                schema: &plan.record.schema,
                rule: &plan.new_rule,
                key_type: plan.key_type,
                rate: req.base.copy_rate,
            };
            let mut tick = |n: u64| progress.update(|p| p.rows_copied = total + n);
            let (at, rows) =
                copy::copy_node(&c, &mut source, &mut target, tables, &mut tick, say).await?;
            total += rows;
            sources.push(ResplitSource {
                node: node.clone(),
                binlog: at,
            });
            let _ = source.disconnect().await;
            let _ = target.disconnect().await;
        }
        plan.record.sources = sources;
        plan.record.rows_copied = total;
        plan.record.phase = "catching_up".into();
        save(path, &plan.record)?;
        say(format!(
            "copied {total} rows in {} ms",
            started.elapsed().as_millis()
        ));
    }
    catch_up_and_switch(cfg, req, path, plan, olds, progress, say).await
}

/// Starts the readers, waits for them to catch up, verifies, switches.
async fn catch_up_and_switch(
    cfg: &Config,
    req: &ResplitRequest,
    path: &Path,
    mut plan: Plan,
    olds: BTreeMap<String, Vec<OldTable>>,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    progress.step("catching_up")?;
    let schema = plan.record.schema.clone();
    let mut readers = Vec::new();
    for (node, tables) in &olds {
        let from = plan
            .record
            .sources
            .iter()
            .find(|s| &s.node == node)
            .ok_or_else(|| format!("no catch-up position for node `{node}`"))?;
        let routes = Routes {
            schema: schema.clone(),
            tables: tables
                .iter()
                .map(|t| (t.name.to_ascii_lowercase(), t.clone()))
                .collect(),
            rule: Some(plan.new_rule.clone()),
            key_type: plan.key_type,
            on_ddl: "the catch-up replays rows, not DDL: run the command with --abort (the new \
                     tables are dropped, the old ones keep the change) and start the resplit again",
            merge: false,
        };
        let server = Server::of(cfg, node).await?;
        readers.push(binlog::start(node, server, Pos::parse(&from.binlog)?, routes).await?);
    }
    let outcome = async {
        stall("catch_up", say).await;
        let timeout = req.base.catch_up_timeout;
        let mut record = |r: &[Reader]| {
            record_positions(&mut plan.record.sources, r);
            save(path, &plan.record)
        };
        caught_up(cfg, timeout, &readers, progress, &mut record, say).await?;
        stall("verify", say).await;
        let by_node = switch::by_node(&plan.record);
        let mut conns = BTreeMap::new();
        for node in by_node.keys() {
            conns.insert(
                node.clone(),
                (connect(cfg, node).await?, connect(cfg, node).await?),
            );
        }
        let rows = req.base.chunk_rows;
        let (checks, online) =
            verify::online(&schema, &olds, &readers, &mut conns, rows, progress, say).await?;
        record_positions(&mut plan.record.sources, &readers);
        save(path, &plan.record)?;
        progress.step("switching")?;
        let steps = Steps::new(cfg, &req.base);
        let sw = switch::Switch {
            steps: &steps,
            schema: &schema,
            by_node: &by_node,
            max_pause: req.base.max_pause,
            stall_paused: "paused",
            stall_placed: "placed",
        };
        let record = plan.record.clone();
        let moved = plan::moved_entries(&plan);
        let config = req.base.config.clone();
        let mut write =
            |at: &BTreeMap<String, Pos>| write_placement(path, &config, &record, &moved, at);
        let done = sw
            .run(&mut conns, &mut readers, &checks, &mut write, say)
            .await?;
        say(format!(
            "verified: {} keys written during the verification compared while writes continued; \
             in the pause {} keys and {} chunks",
            online.keys_online, done.keys, done.chunks
        ));
        stall("switched", say).await;
        Ok::<switch::Switched, String>(done)
    }
    .await;
    record_positions(&mut plan.record.sources, &readers);
    for r in readers {
        r.stop();
    }
    match outcome {
        Ok(done) => {
            // As the switch recorded it (the reverse replay's start, the
            // `[[moved]]` entries before).
            plan.record = ResplitRecord {
                sources: plan.record.sources.clone(),
                ..current(path, &plan.record)?
            };
            plan.record.phase = "switched".into();
            plan.record.pause_ms = done.pause.as_millis() as u64;
            save(path, &plan.record)?;
            progress.now.keys_deferred = done.keys;
            let _ = progress.step("switched");
            say(format!(
                "switched: {} tables per node, write pause {} ms; --cleanup drops the old tables",
                plan.record.tables_per_node,
                done.pause.as_millis()
            ));
            if !done.failed.is_empty() {
                return Err(recovery::unswitched_error(&done.failed, req.base.max_pause));
            }
            if req.follow {
                return reverse::follow(cfg, path, &plan.record, progress, say).await;
            }
            Ok(())
        }
        Err(e) => {
            // Keep the catch-up's progress; the placement is unchanged.
            let _ = save(path, &plan.record);
            if e.contains("not DDL") {
                return Err(e);
            }
            Err(format!(
                "{e}; the resplit stays in catch-up: run the command again"
            ))
        }
    }
}

/// Waits (at most `timeout`) until every reader has reached its node's
/// log end, recording their positions (`record`) about every second and
/// the lag in the progress. The forward catch-up's and the reverse
/// replay's.
async fn caught_up(
    cfg: &Config,
    timeout: Duration,
    readers: &[Reader],
    progress: &mut Progress,
    record: &mut dyn FnMut(&[Reader]) -> Result<(), String>,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let start = Instant::now();
    let mut conns = Vec::new();
    for r in readers {
        conns.push(connect(cfg, &r.node).await?);
    }
    let mut caught = vec![false; readers.len()];
    let mut reconnects = vec![0; readers.len()];
    while caught.contains(&false) {
        let mut ends = Vec::new();
        for (c, r) in conns.iter_mut().zip(readers) {
            ends.push(log_end(cfg, &r.node, c).await?);
        }
        for (i, r) in readers.iter().enumerate() {
            let n = r.shared.lock().reconnects;
            if n > reconnects[i] {
                reconnects[i] = n;
                say(format!(
                    "node `{}`: the binary log reader lost its server and reconnected ({n} tries so far)",
                    r.node
                ));
            }
        }
        show_lag(progress, readers, &ends);
        for (i, r) in readers.iter().enumerate() {
            if caught[i] {
                continue;
            }
            let left = timeout.saturating_sub(start.elapsed());
            match switch::wait_applied(r, &ends[i], left.min(Duration::from_secs(1))).await {
                Ok(()) => {
                    caught[i] = true;
                    let changes = r.shared.lock().changes;
                    say(format!(
                        "node `{}`: caught up ({changes} row changes replayed)",
                        r.node
                    ));
                }
                Err(e) if left <= Duration::from_secs(1) => return Err(e),
                Err(e) if r.shared.lock().error.is_some() => return Err(e),
                Err(_) => {}
            }
        }
        record(readers)?;
    }
    for c in conns {
        let _ = c.disconnect().await;
    }
    Ok(())
}

/// Tries to reach a node's primary again after a lost connection (a
/// restart), once a second: as the readers' (`binlog::RETRIES`).
const RECONNECT_TRIES: u32 = 60;

/// `node`'s binary log end through `conn`, connecting again when the
/// connection was lost (the server restarted: its readers reconnect by
/// themselves).
async fn log_end(cfg: &Config, node: &str, conn: &mut Conn) -> Result<Pos, String> {
    let mut tries = 0;
    loop {
        let e = match switch::master_pos(conn).await {
            Ok(end) => return Ok(end),
            Err(e) => e,
        };
        tries += 1;
        if tries > RECONNECT_TRIES || conn.ping().await.is_ok() {
            return Err(format!("node `{node}`: {e}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Ok(c) = connect(cfg, node).await {
            *conn = c;
        }
    }
}

/// The readers' positions and lag behind `ends` (each node's log end), in
/// the progress.
fn show_lag(progress: &mut Progress, readers: &[Reader], ends: &[Pos]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut at = Vec::new();
    let mut bytes = Some(0u64);
    let mut seconds = Some(0u64);
    for (r, end) in readers.iter().zip(ends) {
        let s = r.shared.lock();
        let applied = s.applied.clone();
        at.push(format!(
            "{} {}",
            r.node,
            applied.as_ref().map(Pos::to_string).unwrap_or_default()
        ));
        bytes = match &applied {
            Some(a) if a.file == end.file => bytes.map(|b| b + end.pos.saturating_sub(a.pos)),
            _ => None,
        };
        if applied.as_ref().is_some_and(|a| a < end) {
            seconds = match s.applied_time {
                0 => None,
                t => seconds.map(|x| x.max(now.saturating_sub(u64::from(t)))),
            };
        }
    }
    progress.update(|p| {
        p.position = at.join(", ");
        p.lag_bytes = bytes;
        p.lag_seconds = seconds;
    });
}

/// The readers' restart positions into `sources` (the record's forward
/// or reverse positions).
fn record_positions(sources: &mut [ResplitSource], readers: &[Reader]) {
    for r in readers {
        if let Some(at) = r.shared.lock().resume_at() {
            if let Some(s) = sources.iter_mut().find(|s| s.node == r.node) {
                s.binlog = at.to_string();
            }
        }
    }
}

/// The switch's one write of the placement file: the record switched
/// (with where the reverse replay starts, `at`, and the table's
/// `[[moved]]` entries before), the table's `[[moved]]` entries those of
/// the new layout; the old file put back if the configuration does not
/// load with it.
fn write_placement(
    path: &Path,
    config: &Path,
    record: &ResplitRecord,
    moved: &[(usize, String)],
    at: &BTreeMap<String, Pos>,
) -> Result<(), String> {
    let mut file = PlacementFile::read(path)?;
    let before = file.clone();
    let mut switched = record.clone();
    switched.phase = "switched".into();
    switched.reverse = at
        .iter()
        .map(|(node, pos)| ResplitSource {
            node: node.clone(),
            binlog: pos.to_string(),
        })
        .collect();
    let of_table = |m: &MovedShard| {
        m.table.eq_ignore_ascii_case(&record.table) && m.schema == record.rule_schema
    };
    switched.moved_before = file.moved.iter().filter(|m| of_table(m)).cloned().collect();
    put(&mut file, switched);
    file.moved.retain(|m| !of_table(m));
    for (slot, node) in moved {
        file.set_moved(record.rule_schema.clone(), &record.table, *slot, node);
    }
    write_checked(path, config, &file, &before)
}

/// Writes `file`; puts `before` back if the configuration does not load
/// with it.
fn write_checked(
    path: &Path,
    config: &Path,
    file: &PlacementFile,
    before: &PlacementFile,
) -> Result<(), String> {
    file.write(path)?;
    if let Err(e) = Config::load(config) {
        before.write(path)?;
        return Err(format!(
            "the configuration does not load with the new layout: {e}"
        ));
    }
    Ok(())
}

/// `--abort`: drops the new tables of a resplit that has not switched.
async fn abort(
    cfg: &Config,
    path: &Path,
    record: &ResplitRecord,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    if record.switched() {
        return Err(format!(
            "the resplit of `{}` has switched: it cannot be aborted",
            record.table
        ));
    }
    for t in &record.tables {
        let mut c = connect(cfg, &t.node).await?;
        c.query_drop(format!(
            "DROP TABLE IF EXISTS {}",
            qualified(&record.schema, &t.name)
        ))
        .await
        .map_err(|e| format!("dropping `{}`: {e}", t.name))?;
        let _ = c.disconnect().await;
    }
    let mut file = PlacementFile::read(path)?;
    file.resplits.retain(|r| !r.same(record));
    forget_resplit(&mut file, record);
    file.write(path)?;
    say(format!(
        "aborted: {} new tables dropped, the old layout is unchanged",
        record.tables.len()
    ));
    Ok(())
}
