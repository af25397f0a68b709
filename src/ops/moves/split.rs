//! Splitting a layout online (`shardcat shards split`): several slots of a
//! sharded table (with their bound tables) move to new nodes as one
//! operation — 2 nodes become 4 — with the single move's machinery:
//!
//! - one plan (`plan`: balanced over the new nodes, or given slot by slot),
//!   recorded as one `[[move]]` per slot sharing a `group`, always written
//!   together (one atomic write of the placement file per phase), so the
//!   whole split resumes, aborts and cleans up as one;
//! - **copy**: per (source, target) pair, one consistent snapshot of the
//!   source copies all the pair's tables; its GTID position starts the
//!   pair's one channel (filtered to the pair's tables);
//! - **switch**: one write pause for every moving table (one `PAUSE WRITES`
//!   per source node on each proxy), every source locked, every target
//!   waits for its source's last GTID, counts and checksums per slot, one
//!   placement write moving every slot, the proxies reload, every channel
//!   stops, writes resume.
//!
//! Owns: resolving a split's plan into records, the order of its phases
//! over all its moves, the group switch. Must not: route statements,
//! decide placement rules, change the single move's statements (it calls
//! them from `steps`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::pause::Pause;
use super::plan::{self, SlotMove};
use super::progress::Progress;
use super::recovery;
use super::steps::{literal, qualified, source_position, sql_err, Steps};
use super::verify::Verified;
use super::{load_config, resolve, rule_schema, MoveRequest};
use crate::config::placement_file::{path_for, MoveRecord, PlacementFile};
use crate::config::Config;
use crate::ops::tables::live::connect;

/// What the operator asked for.
#[derive(Debug, Clone)]
pub struct SplitRequest {
    /// The arguments shared with a single move (`shard` and `to` unused).
    pub base: MoveRequest,
    /// The new nodes to spread the slots over (a balanced plan).
    pub to: Vec<String>,
    /// Or the moves one by one: (slot number or physical table, node).
    pub assign: Vec<(String, String)>,
    /// Print the plan, change nothing.
    pub dry_run: bool,
}

/// A split's moves and where they are recorded.
struct Group {
    placement_path: PathBuf,
    name: String,
    rule_schema: Option<String>,
    records: Vec<MoveRecord>,
}

/// Runs (or resumes, aborts, cleans up) a split; `say` gets progress lines.
pub async fn run(req: &SplitRequest, say: &mut dyn FnMut(String)) -> Result<(), String> {
    let base = &req.base;
    let cfg = load_config(&base.config)?;
    let placement_path = path_for(&base.config);
    let file = PlacementFile::read(&placement_path)?;
    let name = format!("split_{}", base.table.to_ascii_lowercase());
    let recorded: Vec<MoveRecord> = file
        .moves
        .iter()
        .filter(|m| m.group == name)
        .cloned()
        .collect();
    let fresh = recorded.is_empty();
    let mut group = if fresh {
        if base.abort || base.cleanup {
            return Err(format!(
                "no split of `{}` is recorded in {}",
                base.table,
                placement_path.display()
            ));
        }
        plan_group(&cfg, req, &file, placement_path, name).await?
    } else {
        if !req.to.is_empty() || !req.assign.is_empty() {
            say(format!(
                "{name} is recorded: resuming its plan (--abort to drop it)"
            ));
        }
        Group {
            placement_path,
            rule_schema: rule_schema(&cfg, &base.table),
            name,
            records: recorded,
        }
    };
    for r in &group.records {
        say(format!(
            "plan: {}.{} slot {} ({}) {} → {}",
            r.schema,
            r.table,
            r.slot,
            r.tables.join(","),
            r.from,
            r.to
        ));
    }
    if req.dry_run {
        return Ok(());
    }
    let steps = Steps::new(&cfg, base);
    if fresh {
        for r in &group.records {
            steps.refuse_existing(r).await?;
        }
    }
    if base.abort || base.cleanup {
        if base.abort {
            for r in &group.records {
                steps.abort(r, say).await?;
            }
        } else {
            if let Some(r) = group.records.iter().find(|r| r.phase != "switched") {
                return Err(format!(
                    "the split is in phase {}: --cleanup only follows its switch",
                    r.phase
                ));
            }
            for r in &group.records {
                steps.cleanup(r, say).await?;
            }
        }
        let mut file = PlacementFile::read(&group.placement_path)?;
        file.moves.retain(|m| m.group != group.name);
        file.write(&group.placement_path)?;
        say(if base.abort {
            "aborted: the targets' tables and channels are gone; the sources were not changed"
        } else {
            "cleaned up: the sources' old tables are dropped"
        }
        .into());
        return Ok(());
    }
    drive(&cfg, &steps, &mut group, say).await
}

/// Resolves the plan (balanced or given) into one record per slot.
async fn plan_group(
    cfg: &Config,
    req: &SplitRequest,
    file: &PlacementFile,
    placement_path: PathBuf,
    name: String,
) -> Result<Group, String> {
    let base = &req.base;
    let wanted: Vec<(String, String)> = if req.assign.is_empty() {
        let layout = layout(cfg, base)?;
        plan::balance(&layout, &req.to)?
            .into_iter()
            .map(|(slot, _, to)| (slot.to_string(), to))
            .collect()
    } else if req.to.is_empty() {
        req.assign.clone()
    } else {
        return Err("give either --to (a balanced plan) or --slot (moves one by one)".into());
    };
    let mut records: Vec<MoveRecord> = Vec::new();
    let mut schema = None;
    for (shard, to) in wanted {
        let one = MoveRequest {
            shard,
            to,
            ..base.clone()
        };
        let resolved = resolve(cfg, &one, placement_path.clone()).await?;
        let r = resolved.record;
        if records.iter().any(|o| o.slot == r.slot) {
            return Err(format!("slot {} is named twice", r.slot));
        }
        if let Some(m) = file
            .moves
            .iter()
            .find(|m| m.table == r.table && m.slot == r.slot)
        {
            return Err(format!(
                "slot {} has a move under way (phase {}): finish or --abort it first",
                r.slot, m.phase
            ));
        }
        schema = resolved.rule_schema;
        records.push(r);
    }
    let moves: Vec<SlotMove> = records
        .iter()
        .map(|r| (r.slot, r.from.clone(), r.to.clone()))
        .collect();
    plan::check_sources(&moves)?;
    for r in &mut records {
        r.group = name.clone();
        // A connection name has at most 64 characters: the table's name
        // is cut (one split per table, one channel per node pair).
        let nodes = format!("_{}_{}", r.from, r.to);
        let room = 64usize.saturating_sub("shardcat_split_".len() + nodes.len());
        let table: String = r.table.to_ascii_lowercase().chars().take(room).collect();
        r.channel = format!("shardcat_split_{table}{nodes}");
    }
    Ok(Group {
        placement_path,
        name,
        rule_schema: schema,
        records,
    })
}

/// Every slot of the table and the node holding it now.
fn layout(cfg: &Config, base: &MoveRequest) -> Result<Vec<(usize, String)>, String> {
    let rule = cfg
        .tables
        .iter()
        .find(|r| {
            r.name.eq_ignore_ascii_case(&base.table)
                && (base.schema.is_none() || r.schema.is_none() || r.schema == base.schema)
        })
        .ok_or_else(|| format!("`{}` has no [[table]] rule", base.table))?;
    let targets = rule
        .physical_targets()
        .ok_or_else(|| format!("`{}` is not a sharded table", base.table))?;
    Ok(targets.into_iter().map(|t| (t.slot, t.node)).collect())
}

/// Writes the group's records (one write: the split's phase is one).
fn save(group: &Group) -> Result<(), String> {
    let mut file = PlacementFile::read(&group.placement_path)?;
    file.moves.retain(|m| m.group != group.name);
    file.moves.extend(group.records.iter().cloned());
    file.write(&group.placement_path)
}

/// The group's moves by (source, target): indexes into its records.
fn pairs(group: &Group) -> BTreeMap<(String, String), Vec<usize>> {
    plan::pairs(
        group
            .records
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str())),
    )
}

/// One record standing for a pair's moves: their tables, one channel.
fn combined(group: &Group, indexes: &[usize]) -> MoveRecord {
    let mut one = group.records[indexes[0]].clone();
    one.tables = indexes
        .iter()
        .flat_map(|i| group.records[*i].tables.iter().cloned())
        .collect();
    one
}

/// Runs the phases from the recorded one on, for every move at once.
async fn drive(
    cfg: &Config,
    steps: &Steps<'_>,
    group: &mut Group,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    loop {
        let phase = group.records[0].phase.clone();
        if let Some(r) = group.records.iter().find(|r| r.phase != phase) {
            return Err(format!(
                "{}: slot {} is in phase {}, slot {} in {phase}: the placement file was edited",
                group.name, r.slot, r.phase, group.records[0].slot
            ));
        }
        say(format!(
            "{}: {} slots: phase {phase}",
            group.name,
            group.records.len()
        ));
        match phase.as_str() {
            "copying" => {
                save(group)?;
                for ((_, to), indexes) in pairs(group) {
                    let one = combined(group, &indexes);
                    let mut progress = Progress::load(group.placement_path.clone(), &one);
                    let (gtid, _) = steps.copy(&one, &mut progress, say).await?;
                    let mut target = connect(cfg, &to).await?;
                    for i in indexes {
                        let r = &mut group.records[i];
                        r.gtid = gtid.clone();
                        r.rows_copied = count_rows(&mut target, r).await?;
                    }
                    let _ = target.disconnect().await;
                }
                group
                    .records
                    .iter_mut()
                    .for_each(|r| r.phase = "catching_up".into());
                save(group)?;
            }
            "catching_up" => {
                let pairs = pairs(group);
                let file = PlacementFile::read(&group.placement_path)?;
                if group
                    .records
                    .iter()
                    .all(|r| recovery::placed(&file, &group.rule_schema, r))
                {
                    // The command died after the switch's placement write.
                    let mut channels = Vec::new();
                    for ((from, to), indexes) in &pairs {
                        let one = combined(group, indexes);
                        let filter = recovery::filter_of(&one);
                        channels.push((from.clone(), to.clone(), one.channel, filter));
                    }
                    let one = combined(group, &[0]);
                    let mut progress = Progress::load(group.placement_path.clone(), &one);
                    recovery::finish_switch(steps, &channels, &mut progress, say).await?;
                    group
                        .records
                        .iter_mut()
                        .for_each(|r| r.phase = "switched".into());
                    save(group)?;
                    say("switched (finished)".into());
                    continue;
                }
                for indexes in pairs.values() {
                    steps.start_channel(&combined(group, indexes)).await?;
                }
                // Caught up, then verified chunk by chunk while writes
                // continue: the pause compares only counts and the chunks
                // that were being written.
                let mut checks = BTreeMap::new();
                for (pair, indexes) in &pairs {
                    let one = combined(group, indexes);
                    let mut progress = Progress::load(group.placement_path.clone(), &one);
                    steps.catch_up(&one, &mut progress, say).await?;
                    recovery::stall("verify", say).await;
                    checks.insert(pair.clone(), steps.verify(&one, &mut progress, say).await?);
                }
                let (pause, unswitched) = switch(cfg, steps, group, &checks, say).await?;
                recovery::stall("switched", say).await;
                for r in &mut group.records {
                    r.pause_ms = pause.as_millis() as u64;
                    r.phase = "switched".into();
                }
                save(group)?;
                say(format!(
                    "switched: writes paused {} ms; the sources' tables stay until --cleanup",
                    pause.as_millis()
                ));
                if !unswitched.is_empty() {
                    return Err(recovery::unswitched_error(
                        &unswitched,
                        steps.request().max_pause,
                    ));
                }
            }
            // Run again after the switch: every proxy reloads (one that
            // the switch left behind converges).
            "switched" => {
                return recovery::reload_proxies(steps.proxy_conns().await?, say).await;
            }
            other => return Err(format!("unknown phase `{other}` in the placement file")),
        }
    }
}

/// The rows of a record's tables on the target (after its copy).
async fn count_rows(target: &mut Conn, r: &MoveRecord) -> Result<u64, String> {
    let mut total = 0;
    for t in &r.tables {
        let n: Option<u64> = target
            .query_first(format!("SELECT COUNT(*) FROM {}", qualified(&r.schema, t)))
            .await
            .map_err(sql_err("counting the copy"))?;
        total += n.unwrap_or(0);
    }
    Ok(total)
}

/// Connections to each of `nodes`' primaries.
async fn connect_all<'n>(
    cfg: &Config,
    nodes: impl Iterator<Item = &'n String>,
) -> Result<BTreeMap<String, Conn>, String> {
    let mut conns = BTreeMap::new();
    for node in nodes {
        if !conns.contains_key(node) {
            conns.insert(node.clone(), connect(cfg, node).await?);
        }
    }
    Ok(conns)
}

/// The group switch (see the module doc); the write pause.
async fn switch(
    cfg: &Config,
    steps: &Steps<'_>,
    group: &Group,
    checks: &BTreeMap<(String, String), Verified>,
    say: &mut dyn FnMut(String),
) -> Result<(Duration, Vec<String>), String> {
    let req = steps.request();
    let pairs = pairs(group);
    // Each source node's moving tables.
    let mut by_source: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &group.records {
        by_source
            .entry(r.from.clone())
            .or_default()
            .extend(r.tables.iter().cloned());
    }
    let mut sources = connect_all(cfg, by_source.keys()).await?;
    let mut targets = connect_all(cfg, group.records.iter().map(|r| &r.to)).await?;
    let hold_ms = req.max_pause.as_millis() as u64;
    let mut pause = Pause::new(steps.proxy_conns().await?, by_source.clone(), req.max_pause);
    let mut failed = Vec::new();
    let outcome = async {
        pause.pause_all().await?;
        let lock_s = (hold_ms / 2000).max(1);
        let mut positions = BTreeMap::new();
        for (node, source) in sources.iter_mut() {
            source
                .query_drop(format!("SET SESSION lock_wait_timeout = {lock_s}"))
                .await
                .map_err(sql_err("source"))?;
            let locks: Vec<String> = by_source[node]
                .iter()
                .map(|t| format!("{} READ", qualified(&group.records[0].schema, t)))
                .collect();
            source
                .query_drop(format!("LOCK TABLES {}", locks.join(", ")))
                .await
                .map_err(sql_err("LOCK TABLES on a source"))?;
            positions.insert(node.clone(), source_position(source).await?);
        }
        pause.mark("lock");
        for ((from, to), indexes) in &pairs {
            let left = req.max_pause.saturating_sub(pause.elapsed());
            let target = targets.get_mut(to).ok_or("no target connection")?;
            let one = combined(group, indexes);
            let filter = recovery::filter_of(&one);
            let pos = &positions[from];
            if !recovery::wait_applied(target, &one.channel, &filter, pos, left, say).await? {
                return Err(format!(
                    "node `{to}` did not reach {from}'s {} within the pause",
                    positions[from]
                ));
            }
        }
        pause.mark("gtid wait");
        for ((from, to), check) in checks {
            let (Some(source), Some(target)) = (sources.get_mut(from), targets.get_mut(to)) else {
                return Err("no connection for a move".into());
            };
            let left = req.max_pause.saturating_sub(pause.elapsed());
            check.in_pause(source, target, left, say).await?;
        }
        pause.mark("verify");
        recovery::stall("paused", say).await;
        if pause.elapsed() + Duration::from_millis(100) > req.max_pause {
            return Err("the pause would end before the switch".to_string());
        }
        write_placement(group, &req.config)?;
        // The point of no return (`recovery`).
        recovery::stall("placed", say).await;
        failed = pause.switch_all().await;
        for ((_, to), indexes) in &pairs {
            let channel = &group.records[indexes[0]].channel;
            if let Some(target) = targets.get_mut(to) {
                target
                    .query_drop(format!("STOP SLAVE {}", literal(channel)))
                    .await
                    .map_err(sql_err("STOP SLAVE"))?;
            }
        }
        Ok::<(), String>(())
    }
    .await;
    let paused = pause.resume("stop+resume", say).await;
    for source in sources.values_mut() {
        let _ = source.query_drop("UNLOCK TABLES").await;
    }
    outcome?;
    for ((_, to), indexes) in &pairs {
        let channel = &group.records[indexes[0]].channel;
        if let Some(target) = targets.get_mut(to) {
            target
                .query_drop(format!("RESET SLAVE {} ALL", literal(channel)))
                .await
                .map_err(sql_err("RESET SLAVE"))?;
        }
    }
    pause.close().await;
    Ok((paused, failed))
}

/// Records every slot's new node in the placement file (one write); puts
/// the old file back if the configuration does not load with it.
fn write_placement(group: &Group, config: &std::path::Path) -> Result<(), String> {
    let mut file = PlacementFile::read(&group.placement_path)?;
    let before = file.clone();
    for r in &group.records {
        file.set_moved(group.rule_schema.clone(), &r.table, r.slot, &r.to);
    }
    file.write(&group.placement_path)?;
    if let Err(e) = Config::load(config) {
        before.write(&group.placement_path)?;
        return Err(format!(
            "the configuration does not load with the split: {e}"
        ));
    }
    Ok(())
}
