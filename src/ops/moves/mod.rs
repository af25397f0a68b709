//! Moving one shard (a slot of a sharded table: its physical table and
//! those of the tables bound to it) from its node to another node while
//! applications keep writing, with the servers' own replication:
//!
//! 1. **copy** (`copying`): a consistent snapshot of the source (`START
//!    TRANSACTION WITH CONSISTENT SNAPSHOT`, its binlog position turned
//!    into a GTID position by `BINLOG_GTID_POS`), the tables created on the
//!    target from `SHOW CREATE TABLE` and their rows copied in batches
//!    (optionally at a bounded rate);
//! 2. **catch up** (`catching_up`): a MariaDB multi-source channel on the
//!    target replicates the source from that GTID position, filtered to
//!    the moving tables (`replicate_do_table`); then the copy is
//!    **verified** chunk by chunk of the primary key while writes continue
//!    (`verify.rs`): a chunk that differs for good stops the move;
//! 3. **switch** (`switched`): each proxy pauses the writes to the moving
//!    tables (`SET SHARDCAT PAUSE WRITES`), the source tables are locked
//!    for reading, the target waits for the source's last GTID, the keys
//!    written since the verification's last key round (`watch.rs`,
//!    `keys.rs`) and its chunks left over are compared, the
//!    target's GTID position is recorded for the reverse channel, the
//!    placement file records the new node and each proxy reloads it (`SET
//!    SHARDCAT SWITCH`); the channel stops, writes resume (to the new
//!    node), the lock is released; a reverse channel (target → source)
//!    starts on the source (`reverse.rs`);
//! 4. **reverse** (`--reverse`, `reversed`), optional: the traffic goes
//!    back to the source, kept in step by the reverse channel;
//! 5. **cleanup** (`--cleanup`, later): the reverse channel and the old
//!    tables (the source's; the target's after a reverse) dropped.
//!
//! Each phase is recorded in the placement file (`[[move]]`) before the
//! next starts: running the command again resumes, `--abort` undoes a
//! move that has not switched. Nothing on the source is changed before
//! `--cleanup`. The command's live figures (rows, lag, chunks, step) go to
//! `[[progress]]` (`progress.rs`), which the proxies show.
//!
//! Owns: the order of the phases and their record. Must not: route
//! statements (the proxy does, through its admin statements), decide
//! placement rules (`placement`).

mod copy;
mod gtid;
mod keys;
mod pause;
mod plan;
pub mod progress;
mod recovery;
mod resplit;
mod reverse;
mod snapshot;
mod split;
mod steps;
mod verify;
mod watch;

pub use verify::CHUNK_ROWS;

pub use resplit::{run as run_resplit, ResplitRequest};
pub use split::{run as run_split, SplitRequest};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::placement_file::{path_for, MoveRecord, PlacementFile};
use crate::config::Config;
use crate::placement::{ShardingRules, SlotSet};

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct MoveRequest {
    /// The configuration file.
    pub config: PathBuf,
    /// The sharded (root) table's logical name.
    pub table: String,
    /// Its schema, when the rule names none.
    pub schema: Option<String>,
    /// The slot: its number or its physical table's name.
    pub shard: String,
    /// The node to move to.
    pub to: String,
    /// The proxies to pause and switch (`host:port`); default: the
    /// configuration's listener.
    pub proxies: Vec<String>,
    /// An admin user of the proxies and its password.
    pub proxy_user: Option<String>,
    pub proxy_password: Option<String>,
    /// The user the target's channel connects to the source as
    /// (REPLICATION SLAVE); default: the backend user.
    pub repl_user: Option<String>,
    pub repl_password: Option<String>,
    /// The longest write pause of the switch.
    pub max_pause: Duration,
    /// How long the catch-up may take before the switch.
    pub catch_up_timeout: Duration,
    /// Undo a move that has not switched.
    pub abort: bool,
    /// Drop the source's tables of a switched move.
    pub cleanup: bool,
    /// Send a switched move's traffic back to its source (`reverse.rs`).
    pub reverse: bool,
    /// Rows per second the copy writes at most (0: no limit).
    pub copy_rate: u64,
    /// Rows per chunk of the verification.
    pub chunk_rows: usize,
}

/// A move resolved against the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) placement_path: PathBuf,
    pub(crate) record: MoveRecord,
    /// The rule's schema as `[[moved]]` records it.
    pub(crate) rule_schema: Option<String>,
}

/// Runs (or resumes, aborts, cleans up) a move; `say` gets progress lines.
pub async fn run(req: &MoveRequest, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let cfg = load_config(&req.config)?;
    let placement_path = path_for(&req.config);
    let mut file = PlacementFile::read(&placement_path)?;
    let existing = file
        .moves
        .iter()
        .position(|m| m.table.eq_ignore_ascii_case(&req.table) && shard_matches(m, &req.shard));
    let mut resolved = match existing {
        Some(i) => Resolved {
            placement_path,
            rule_schema: rule_schema(&cfg, &req.table),
            record: file.moves[i].clone(),
        },
        None if req.abort || req.cleanup => {
            return Err(format!(
                "no move of `{}` shard `{}` is recorded in {}",
                req.table,
                req.shard,
                placement_path.display()
            ))
        }
        None => resolve(&cfg, req, placement_path).await?,
    };
    if !resolved.record.group.is_empty() {
        return Err(format!(
            "this shard is part of {} (`shardcat shards split`): run, abort or clean up the split",
            resolved.record.group
        ));
    }
    if existing.is_some() && !req.abort && !req.cleanup && resolved.record.to != req.to {
        return Err(format!(
            "a move of this shard to `{}` is recorded (phase {}): finish it, or --abort it",
            resolved.record.to, resolved.record.phase
        ));
    }
    let steps = steps::Steps::new(&cfg, req);
    if existing.is_none() {
        steps.refuse_existing(&resolved.record).await?;
    }
    if req.abort {
        steps.abort(&resolved.record, say).await?;
        file.moves.retain(|m| *m != resolved.record);
        progress::forget(&mut file, &resolved.record);
        file.write(&resolved.placement_path)?;
        say("aborted: the target's tables and channel are gone; the source was not changed".into());
        return Ok(());
    }
    if req.cleanup {
        if resolved.record.phase != "switched" && resolved.record.phase != "reversed" {
            return Err(format!(
                "the move is in phase {}: --cleanup only follows a switch (or a reverse switch)",
                resolved.record.phase
            ));
        }
        steps.cleanup(&resolved.record, say).await?;
        file.moves.retain(|m| *m != resolved.record);
        progress::forget(&mut file, &resolved.record);
        file.write(&resolved.placement_path)?;
        say("cleaned up: the old tables are dropped".into());
        return Ok(());
    }
    let mut progress = progress::Progress::load(resolved.placement_path.clone(), &resolved.record);
    let done = if req.reverse {
        reverse::run(&steps, &mut resolved, &mut progress, say).await
    } else {
        drive(&steps, &mut resolved, &mut progress, say).await
    };
    if let Err(e) = &done {
        progress.failed(e);
    }
    done
}

/// The configuration, refused when nodes share a server.
fn load_config(path: &Path) -> Result<Config, String> {
    let cfg = Config::load(path).map_err(|e| e.to_string())?;
    if let Some(n) = cfg.nodes.iter().find(|n| !n.databases().is_identity()) {
        return Err(format!(
            "node {:?} has a `database` pattern: moving shards of nodes that share a server is not supported yet",
            n.name.get_ref()
        ));
    }
    Ok(cfg)
}

/// Runs the phases from the recorded one on.
async fn drive(
    steps: &steps::Steps<'_>,
    resolved: &mut Resolved,
    progress: &mut progress::Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    loop {
        let record = &mut resolved.record;
        say(format!(
            "{}.{} slot {} ({}): {} → {}: phase {}",
            record.schema,
            record.table,
            record.slot,
            record.tables.join(","),
            record.from,
            record.to,
            record.phase
        ));
        match record.phase.as_str() {
            "copying" => {
                save(resolved)?;
                progress.step("copying")?;
                let record = &mut resolved.record;
                let (gtid, rows) = steps.copy(record, progress, say).await?;
                record.gtid = gtid;
                record.rows_copied = rows;
                record.phase = "catching_up".into();
                save(resolved)?;
            }
            "catching_up" => {
                let file = PlacementFile::read(&resolved.placement_path)?;
                if recovery::placed(&file, &resolved.rule_schema, record) {
                    return finish_interrupted(steps, resolved, progress, say).await;
                }
                steps.start_channel(record).await?;
                progress.step("catching_up")?;
                steps.catch_up(record, progress, say).await?;
                recovery::stall("verify", say).await;
                let check = steps.verify(record, progress, say).await?;
                recovery::stall("verified", say).await;
                progress.step("switching")?;
                let cut = steps::Cutover {
                    old: record.from.clone(),
                    new: record.to.clone(),
                    channel: record.channel.clone(),
                    check: &check,
                    placement: Some(record.to.clone()),
                    reversible: true,
                };
                let (pause, unswitched) = steps.cutover(resolved, &cut, progress, say).await?;
                recovery::stall("switched", say).await;
                let record = &mut resolved.record;
                record.pause_ms = pause.as_millis() as u64;
                record.phase = "switched".into();
                save(resolved)?;
                progress.step("switched")?;
                say(format!(
                    "switched: writes paused {} ms; the source's tables stay until --cleanup",
                    pause.as_millis()
                ));
                reverse::open(steps, &resolved.record, progress)
                    .await
                    .map_err(|e| {
                        format!("switched, but the reverse channel did not start: {e}; run again")
                    })?;
                say(format!(
                    "reverse channel {} on `{}` keeps the source in step (--reverse switches back)",
                    steps::reverse_channel(&resolved.record),
                    resolved.record.from
                ));
                if !unswitched.is_empty() {
                    return Err(recovery::unswitched_error(
                        &unswitched,
                        steps.request().max_pause,
                    ));
                }
                return Ok(());
            }
            // Run again after a switch: every proxy reloads (one that a
            // switch left behind converges), the reverse channel runs
            // (again, with its filter: a restart of the source loses it).
            "switched" => {
                if reverse::finish_if_reversed(steps, resolved, progress, say).await? {
                    return Ok(());
                }
                recovery::reload_proxies(steps.proxy_conns().await?, say).await?;
                return reverse::open(steps, &resolved.record, progress).await;
            }
            "reversed" => return Ok(()),
            other => return Err(format!("unknown phase `{other}` in the placement file")),
        }
    }
}

/// Finishes a switch that passed its point of no return (the placement
/// file names the target) before the command died (`recovery`).
async fn finish_interrupted(
    steps: &steps::Steps<'_>,
    resolved: &mut Resolved,
    progress: &mut progress::Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let record = &resolved.record;
    let channel = (
        record.from.clone(),
        record.to.clone(),
        record.channel.clone(),
        recovery::filter_of(record),
    );
    recovery::finish_switch(steps, &[channel], progress, say).await?;
    resolved.record.phase = "switched".into();
    save(resolved)?;
    progress.step("switched")?;
    reverse::open(steps, &resolved.record, progress)
        .await
        .map_err(|e| format!("switched, but the reverse channel did not start: {e}; run again"))?;
    say(format!(
        "switched (finished); reverse channel {} on `{}` keeps the source in step",
        steps::reverse_channel(&resolved.record),
        resolved.record.from
    ));
    Ok(())
}

/// Writes the record (replacing the same move's earlier record).
pub(crate) fn save(resolved: &Resolved) -> Result<(), String> {
    let mut file = PlacementFile::read(&resolved.placement_path)?;
    let r = &resolved.record;
    file.moves
        .retain(|m| !(m.table == r.table && m.slot == r.slot && m.schema == r.schema));
    file.moves.push(r.clone());
    file.write(&resolved.placement_path)
}

fn shard_matches(m: &MoveRecord, shard: &str) -> bool {
    shard.parse::<usize>().ok() == Some(m.slot)
        || m.tables
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case(shard))
}

fn rule_schema(cfg: &Config, table: &str) -> Option<String> {
    cfg.tables
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(table))
        .and_then(|r| r.schema.clone())
}

/// Finds the slot, its node, its physical tables (the table's and its
/// bound tables') and their schema.
async fn resolve(
    cfg: &Config,
    req: &MoveRequest,
    placement_path: PathBuf,
) -> Result<Resolved, String> {
    // A resplit not cleaned up may switch its table back (`--reverse`): a
    // slot moved meanwhile would be lost.
    if let Some(r) = PlacementFile::read(&placement_path)?
        .resplits
        .iter()
        .find(|r| r.table.eq_ignore_ascii_case(&req.table) && r.phase != "cleaned")
    {
        return Err(format!(
            "`{}` has a resplit to tables_per_node = {} under way ({}): finish it (--cleanup) or \
             abort it first",
            r.table, r.tables_per_node, r.phase
        ));
    }
    let node_names = cfg.node_names();
    if !node_names.contains(&req.to) {
        return Err(format!("node `{}` is not defined", req.to));
    }
    let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
    let rules = ShardingRules::new(cfg.tables.clone(), &node_refs)
        .map_err(|e| format!("the rules do not load: {}", e[0]))?;
    let schema_hint = req.schema.as_deref();
    let table = rules
        .table(schema_hint, &req.table)
        .or_else(|| {
            rules
                .tables()
                .find(|t| t.rule().name.eq_ignore_ascii_case(&req.table))
        })
        .ok_or_else(|| format!("`{}` has no [[table]] rule", req.table))?;
    let Some(root) = table.root() else {
        return Err(format!("`{}` is not a sharded table", req.table));
    };
    if table.rule().sharded().is_none() {
        return Err(format!(
            "`{}` is bound to another table: move the shard of the table it is bound to",
            req.table
        ));
    }
    let targets = table.physical_targets();
    let slot = match req.shard.parse::<usize>() {
        Ok(slot) => slot,
        Err(_) => targets
            .iter()
            .find(|t| t.table.eq_ignore_ascii_case(&req.shard))
            .map(|t| t.slot)
            .ok_or_else(|| format!("`{}` is not a physical table of `{}`", req.shard, req.table))?,
    };
    let own = targets
        .iter()
        .find(|t| t.slot == slot)
        .ok_or_else(|| format!("`{}` has no slot {slot}", req.table))?;
    if own.node == req.to {
        return Err(format!("{} is already on node `{}`", own.table, req.to));
    }
    let slots = SlotSet::Slots(vec![slot]);
    let mut tables = vec![own.table.clone()];
    for other in rules.tables() {
        let same_root = other.root().is_some_and(|r| std::ptr::eq(r, root));
        if same_root && !std::ptr::eq(other.rule(), table.rule()) {
            tables.extend(other.targets_for_slots(&slots).into_iter().map(|t| t.table));
        }
    }
    let rule_schema = table.rule().schema.clone();
    let schema = match rule_schema.clone().or_else(|| req.schema.clone()) {
        Some(s) => s,
        None => steps::schema_of(cfg, &own.node, &own.table).await?,
    };
    let channel = format!("shardcat_move_{}_{slot}", req.table.to_ascii_lowercase());
    Ok(Resolved {
        placement_path,
        rule_schema,
        record: MoveRecord {
            schema,
            table: table.rule().name.clone(),
            slot,
            tables,
            from: own.node.clone(),
            to: req.to.clone(),
            phase: "copying".into(),
            gtid: String::new(),
            channel,
            rows_copied: 0,
            pause_ms: 0,
            group: String::new(),
        },
    })
}

/// `shardcat shards status`: the moved shards and the moves recorded.
pub fn status(config: &Path) -> Result<Vec<String>, String> {
    let path = path_for(config);
    let file = PlacementFile::read(&path)?;
    let mut lines = vec![format!("placement file: {}", path.display())];
    for m in &file.moved {
        lines.push(format!(
            "moved: {}{} slot {} → node {}",
            m.schema
                .as_deref()
                .map(|s| format!("{s}."))
                .unwrap_or_default(),
            m.table,
            m.slot,
            m.node
        ));
    }
    for m in &file.moves {
        lines.push(format!(
            "move: {}{}.{} slot {} ({}) {} → {}: phase {}, gtid {}, {} rows copied, pause {} ms, channel {}",
            if m.group.is_empty() {
                String::new()
            } else {
                format!("[{}] ", m.group)
            },
            m.schema,
            m.table,
            m.slot,
            m.tables.join(","),
            m.from,
            m.to,
            m.phase,
            if m.gtid.is_empty() { "-" } else { &m.gtid },
            m.rows_copied,
            m.pause_ms,
            m.channel
        ));
    }
    for r in &file.resplits {
        let sources: Vec<String> = r
            .sources
            .iter()
            .map(|s| format!("{} {}", s.node, s.binlog))
            .collect();
        lines.push(format!(
            "resplit: {}.{} tables_per_node {} → {}: phase {}, {} new tables, {} rows copied, \
             pause {} ms, catch-up at {}",
            r.schema,
            r.table,
            r.from_tables_per_node,
            r.tables_per_node,
            r.phase,
            r.tables.len(),
            r.rows_copied,
            r.pause_ms,
            if sources.is_empty() {
                "-".to_owned()
            } else {
                sources.join(", ")
            }
        ));
        if !r.reverse.is_empty() && r.phase != "cleaned" {
            let at: Vec<String> = r
                .reverse
                .iter()
                .map(|s| format!("{} {}", s.node, s.binlog))
                .collect();
            lines.push(format!(
                "resplit: {}.{}: reverse replay at {}",
                r.schema,
                r.table,
                at.join(", ")
            ));
        }
    }
    if file.moved.is_empty() && file.moves.is_empty() && file.resplits.is_empty() {
        lines.push("nothing moved".into());
    }
    Ok(lines)
}
