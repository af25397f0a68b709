//! The placement file: where `shardcat shards move` records the shards it
//! moved off their rule's node (`[[moved]]`, read by every configuration
//! load so the proxy routes them to their new node) and the progress of
//! moves under way (`[[move]]`, read and written only by the command).
//!
//! The file sits next to the configuration: `shop.toml` →
//! `shop.placement.toml`; absent means nothing was moved.
//!
//! Owns: the file's format, reading it, writing it atomically (temporary
//! file + rename), and applying `[[moved]]` to the rules. Must not touch:
//! the servers, the proxy, the order of a move's phases (`ops::moves`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::placement::{TableKind, TableRule};

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementFile {
    /// Shards routed to another node than their rule says.
    #[serde(default, rename = "moved", skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<MovedShard>,
    /// Moves under way (or finished and not yet cleaned up).
    #[serde(default, rename = "move", skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<MoveRecord>,
    /// The live progress of moves (`[[progress]]`, written by the command
    /// while it runs, shown by `SHOW SHARDCAT MOVES` and the metrics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<MoveProgress>,
    /// `tables_per_node` changes (`shardcat shards resplit`): under way, or
    /// switched (then applied to the rule at every load).
    #[serde(default, rename = "resplit", skip_serializing_if = "Vec::is_empty")]
    pub resplits: Vec<ResplitRecord>,
}

/// A change of a sharded table's `tables_per_node` (its slots split in
/// place: every row stays on its node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResplitRecord {
    /// The rule's schema, when it names one (as `[[moved]]` records it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_schema: Option<String>,
    /// The schema of the physical tables.
    pub schema: String,
    /// The sharded table's logical name.
    pub table: String,
    /// The rule's `tables_per_node` before and after.
    pub from_tables_per_node: usize,
    pub tables_per_node: usize,
    /// `copying`, `catching_up`, `switched`, `reversing` (a reverse
    /// switch under way: the new layout still in use), `reversed` (the old
    /// layout back, the new tables kept until `--cleanup`), `cleaned`.
    pub phase: String,
    /// Per source node, the binary log position (`file:pos`) the catch-up
    /// has applied up to (the copy's snapshot at first).
    #[serde(default)]
    pub sources: Vec<ResplitSource>,
    /// After the switch: per node, the binary log position the reverse
    /// replay (new tables → old tables) has applied up to (the switch's at
    /// first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverse: Vec<ResplitSource>,
    /// The table's `[[moved]]` entries before the switch (a reverse switch
    /// puts them back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved_before: Vec<MovedShard>,
    /// Every new physical table and the old one it draws from.
    #[serde(default)]
    pub tables: Vec<ResplitTable>,
    /// Rows copied (all tables).
    #[serde(default)]
    pub rows_copied: u64,
    /// Write pause of the switch, milliseconds (0 before it).
    #[serde(default)]
    pub pause_ms: u64,
}

/// A source node's catch-up position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResplitSource {
    pub node: String,
    /// `file:pos` of the node's primary binary log.
    pub binlog: String,
}

/// One new physical table of a resplit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResplitTable {
    /// The node holding the old and the new table.
    pub node: String,
    /// The logical table (the resplit table or one bound to it).
    pub logical: String,
    /// The new slot.
    pub slot: usize,
    /// The old physical table its rows come from.
    pub old: String,
    /// The name the new rule renders and the name the table has (a staging
    /// name when the rendered one is an old table of the same node).
    pub rendered: String,
    pub name: String,
}

/// One moved slot of a sharded (root) table; its bound tables follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovedShard {
    /// The rule's schema, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The sharded table's logical name.
    pub table: String,
    /// The slot (physical table index).
    pub slot: usize,
    /// The node the slot lives on now.
    pub node: String,
}

/// A move's progress, for resuming, aborting and `shards status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRecord {
    /// The schema of the physical tables.
    pub schema: String,
    /// The sharded table's logical name.
    pub table: String,
    /// The slot.
    pub slot: usize,
    /// The physical tables moving together (the slot's table and its
    /// bound tables').
    pub tables: Vec<String>,
    /// Source node.
    pub from: String,
    /// Target node.
    pub to: String,
    /// `copying`, `catching_up`, `switched`, `cleaned`.
    pub phase: String,
    /// The source's GTID position of the copy's snapshot.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gtid: String,
    /// The replication channel on the target.
    pub channel: String,
    /// Rows copied (all tables).
    #[serde(default)]
    pub rows_copied: u64,
    /// Write pause of the switch, milliseconds (0 before it).
    #[serde(default)]
    pub pause_ms: u64,
    /// The split this move is part of (`shardcat shards split`: its moves
    /// copy, catch up, switch and clean up together); empty for a move of
    /// one shard.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
}

/// A move's live progress and what its reverse switch needs; keyed by the
/// move's schema, table and slot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoveProgress {
    /// `resplit` for a resplit's progress (keyed by its schema and table,
    /// slot 0); empty for a move's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub schema: String,
    pub table: String,
    pub slot: usize,
    /// What runs now: `copying`, `catching_up`, `verifying`, `switching`,
    /// `switched`, `reversing`, `reversed`, or a failure's step.
    pub step: String,
    /// Rows copied so far and the source's estimate of the total.
    pub rows_copied: u64,
    pub rows_total: u64,
    /// The target's channel: seconds behind the source (as the channel
    /// reports it) and transactions behind (GTID sequence difference).
    pub lag_seconds: Option<u64>,
    pub lag_transactions: Option<u64>,
    /// Verification: chunks compared, their number, chunks found different
    /// (re-checked), chunks left for the write pause.
    pub chunks_checked: u64,
    pub chunks_total: u64,
    pub chunks_differing: u64,
    pub chunks_deferred: u64,
    /// A resplit's catch-up: each node's applied binary log position
    /// (`node file:pos, …`) and the bytes its readers are behind their
    /// logs' ends (none when a log was rotated since).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub position: String,
    pub lag_bytes: Option<u64>,
    /// A resplit's verification: keys written during it compared while
    /// writes continued, and keys left for the write pause.
    pub keys_rechecked: u64,
    pub keys_deferred: u64,
    /// The reverse channel (target → source) set up at the switch and the
    /// target's GTID position it starts from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reverse_channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reverse_gtid: String,
    /// The slot's `[[moved]]` node before the switch (none: its rule's).
    pub moved_before: Option<String>,
    /// The last error of the command, if it stopped on one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Unix time of the last update.
    pub updated: u64,
}

impl MoveProgress {
    /// Whether this is the progress of `record`.
    pub fn is_of(&self, record: &MoveRecord) -> bool {
        self.kind.is_empty()
            && self.schema == record.schema
            && self.table == record.table
            && self.slot == record.slot
    }

    /// Whether this is the progress of the resplit `record`.
    pub fn is_of_resplit(&self, record: &ResplitRecord) -> bool {
        self.kind == RESPLIT && self.schema == record.schema && self.table == record.table
    }
}

/// [`MoveProgress::kind`] of a resplit.
pub const RESPLIT: &str = "resplit";

impl ResplitRecord {
    /// Whether the proxies route by the new layout.
    pub fn switched(&self) -> bool {
        matches!(self.phase.as_str(), "switched" | "reversing" | "cleaned")
    }

    /// Whether `other` records the same resplit (a table's resplits follow
    /// one another: 2 → 4, then 4 → 8).
    pub fn same(&self, other: &ResplitRecord) -> bool {
        self.table.eq_ignore_ascii_case(&other.table)
            && self.rule_schema == other.rule_schema
            && self.from_tables_per_node == other.from_tables_per_node
            && self.tables_per_node == other.tables_per_node
    }
}

impl PlacementFile {
    /// The progress of `record`, if any.
    pub fn progress_of(&self, record: &MoveRecord) -> Option<&MoveProgress> {
        self.progress.iter().find(|p| p.is_of(record))
    }

    /// The progress of the resplit `record`, if any.
    pub fn resplit_progress(&self, record: &ResplitRecord) -> Option<&MoveProgress> {
        self.progress.iter().find(|p| p.is_of_resplit(record))
    }
}

/// The placement file of the configuration at `config`.
pub fn path_for(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "shardcat".into());
    config.with_file_name(format!("{stem}.placement.toml"))
}

impl PlacementFile {
    /// Reads the file; an absent file is an empty one.
    pub fn read(path: &Path) -> Result<PlacementFile, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PlacementFile::default()),
            Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
        }
    }

    /// Writes the file atomically (a crash leaves the old or the new one).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut text = String::from(
            "# Written by `shardcat shards move`: shards moved off their rule's node\n\
             # ([[moved]], read by the proxy at every load) and moves under way.\n",
        );
        text.push_str(&toml::to_string(self).map_err(|e| e.to_string())?);
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    }

    /// Applies `[[moved]]` to the rules: each entry must name a sharded
    /// table's existing slot.
    pub fn apply(&self, tables: &mut [TableRule]) -> Result<(), String> {
        let switched: Vec<&ResplitRecord> = self.resplits.iter().filter(|r| r.switched()).collect();
        for (i, r) in switched.iter().enumerate() {
            let rule = tables.iter_mut().find(|t| {
                t.name.eq_ignore_ascii_case(&r.table)
                    && (r.rule_schema.is_none() || t.schema.as_deref() == r.rule_schema.as_deref())
            });
            let Some(TableKind::Sharded(sharded)) = rule.map(|t| &mut t.kind) else {
                return Err(format!(
                    "[[resplit]] table `{}` has no sharded [[table]] rule",
                    r.table
                ));
            };
            let current = sharded.tables_per_node;
            if ![r.from_tables_per_node, r.tables_per_node].contains(&current) {
                // A rule already set to a later resplit's layout.
                let later = switched[i + 1..].iter().any(|l| {
                    l.table.eq_ignore_ascii_case(&r.table)
                        && l.rule_schema == r.rule_schema
                        && [l.from_tables_per_node, l.tables_per_node].contains(&current)
                });
                if later {
                    continue;
                }
                return Err(format!(
                    "[[resplit]] table `{}`: the rule has tables_per_node = {}, the resplit went {} → {}",
                    r.table, sharded.tables_per_node, r.from_tables_per_node, r.tables_per_node
                ));
            }
            sharded.tables_per_node = r.tables_per_node;
            // Each resplit names every table of its layout (an earlier
            // one's staging names are its old tables).
            sharded.renamed.clear();
            for t in r.tables.iter().filter(|t| t.rendered != t.name) {
                sharded.renamed.insert(t.rendered.clone(), t.name.clone());
            }
        }
        for m in &self.moved {
            let rule = tables.iter_mut().find(|r| {
                r.name.eq_ignore_ascii_case(&m.table)
                    && (m.schema.is_none() || r.schema.as_deref() == m.schema.as_deref())
            });
            let Some(TableKind::Sharded(sharded)) = rule.map(|r| &mut r.kind) else {
                return Err(format!(
                    "[[moved]] table `{}` has no sharded [[table]] rule",
                    m.table
                ));
            };
            if m.slot >= sharded.slot_count() {
                return Err(format!(
                    "[[moved]] table `{}` has no slot {} ({} slots)",
                    m.table,
                    m.slot,
                    sharded.slot_count()
                ));
            }
            sharded.moved.insert(m.slot, m.node.clone());
        }
        Ok(())
    }

    /// The moved slots, as (schema, table, slot) → node.
    pub fn moved_map(&self) -> BTreeMap<(Option<String>, String, usize), String> {
        self.moved
            .iter()
            .map(|m| ((m.schema.clone(), m.table.clone(), m.slot), m.node.clone()))
            .collect()
    }

    /// Records that a slot now lives on `node` (replacing an earlier move
    /// of the same slot).
    pub fn set_moved(&mut self, schema: Option<String>, table: &str, slot: usize, node: &str) {
        self.moved
            .retain(|m| !(m.table == table && m.slot == slot && m.schema == schema));
        self.moved.push(MovedShard {
            schema,
            table: table.to_owned(),
            slot,
            node: node.to_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_next_to_the_configuration() {
        assert_eq!(
            path_for(Path::new("/etc/shardcat/shop.toml")),
            PathBuf::from("/etc/shardcat/shop.placement.toml")
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let mut f = PlacementFile::default();
        f.set_moved(None, "users", 1, "n2");
        f.set_moved(None, "users", 1, "n1");
        f.moves.push(MoveRecord {
            schema: "shop".into(),
            table: "users".into(),
            slot: 1,
            tables: vec!["users_1".into(), "orders_1".into()],
            from: "n1".into(),
            to: "n2".into(),
            phase: "catching_up".into(),
            gtid: "1-10-5".into(),
            channel: "shardcat_move_users_1".into(),
            rows_copied: 10,
            pause_ms: 0,
            group: String::new(),
        });
        f.progress.push(MoveProgress {
            schema: "shop".into(),
            table: "users".into(),
            slot: 1,
            step: "verifying".into(),
            lag_transactions: Some(0),
            reverse_gtid: "2-20-9".into(),
            ..MoveProgress::default()
        });
        let text = toml::to_string(&f).unwrap();
        let back: PlacementFile = toml::from_str(&text).unwrap();
        assert_eq!(back, f);
        assert_eq!(
            back.progress_of(&back.moves[0]).map(|p| p.step.as_str()),
            Some("verifying")
        );
        assert_eq!(back.moved.len(), 1);
        assert_eq!(back.moved[0].node, "n1");
    }
}
