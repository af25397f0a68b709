//! Compiling a configuration's rules into a [`ShardRouter`]: tables and
//! their layouts (co-location classes), slots, bound children, schema
//! nodes, period names and sequences. Runs once per load or reload.
//! Must not plan statements or touch I/O.

use super::names_hash::NameMap;
use std::collections::HashMap;
use std::num::NonZeroUsize;

use lru::LruCache;
use parking_lot::Mutex;

use super::{IdGenerator, SequenceInfo, ShardRouter, ShardedInfo, TableInfo, TableInfoKind};
use crate::config::Config;
use crate::placement::{ShardedTable, ShardingRules};

/// Physical name → (logical, "unit period", node) of every period table:
/// a `time_range` rule's, and a composite rule's (one per hash slot and
/// period), so a statement on one that does not exist gets an error naming
/// the period.
fn period_names(tables: &[TableInfo]) -> NameMap<String, (String, String, usize)> {
    let mut periods = NameMap::default();
    for t in tables {
        let Some(s) = t.sharded() else { continue };
        let Some(time) = s.root.time_periods() else {
            continue;
        };
        for (slot, (node, name)) in s.slots.iter().enumerate() {
            if let Some(period) = s.root.period_of_slot(slot) {
                let label = format!("{} {}", time.unit.name(), period.name());
                periods.insert(name.clone(), (t.name.clone(), label, *node));
            }
        }
    }
    periods
}

/// Physical name → rule table of every composite period table.
fn composite_periods(tables: &[TableInfo]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (i, t) in tables.iter().enumerate() {
        let Some(s) = t.sharded().filter(|s| s.root.composite().is_some()) else {
            continue;
        };
        for (_, name) in &s.slots {
            out.insert(name.clone(), i);
        }
    }
    out
}

/// Same algorithm, node grid, key type and collation: equal keys land in
/// the same slot on the same node.
pub(super) fn same_layout(a: &ShardedTable, b: &ShardedTable) -> bool {
    a.algorithm == b.algorithm
        && a.nodes == b.nodes
        && a.tables_per_node == b.tables_per_node
        && a.key_type == b.key_type
        && a.collation == b.collation
}

impl ShardRouter {
    /// Compiles the rules of a validated configuration.
    pub fn new(config: &Config) -> Result<ShardRouter, String> {
        let node_names = config.node_names();
        let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
        let node_index = |name: &str| -> Result<usize, String> {
            node_refs
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("node `{name}` is not defined"))
        };
        let rules = ShardingRules::new(config.tables.clone(), &node_refs).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let mut tables = Vec::new();
        let mut roots: Vec<ShardedTable> = Vec::new();
        for placement in rules.tables() {
            let rule = placement.rule();
            let kind = if let Some(root) = placement.root() {
                let layout = match roots.iter().position(|r| same_layout(r, root)) {
                    Some(i) => i,
                    None => {
                        roots.push(root.clone());
                        roots.len() - 1
                    }
                };
                let mut slots = Vec::new();
                for target in placement.physical_targets() {
                    slots.push((node_index(&target.node)?, target.table));
                }
                TableInfoKind::Sharded(Box::new(ShardedInfo {
                    layout,
                    root: root.clone(),
                    key: placement.key_column().unwrap_or_default().to_owned(),
                    key_type: root.key_type,
                    slots,
                    children: rules
                        .tables()
                        .filter_map(|p| match &p.rule().kind {
                            crate::placement::rules::TableKind::Bound(b)
                                if b.parent.eq_ignore_ascii_case(&rule.name)
                                    && p.rule().schema == rule.schema =>
                            {
                                Some(p.rule().name.clone())
                            }
                            _ => None,
                        })
                        .collect(),
                }))
            } else if let Some(node) = placement.single_node() {
                TableInfoKind::Single {
                    node: node_index(node)?,
                }
            } else {
                let nodes = placement
                    .broadcast_nodes()
                    .unwrap_or_default()
                    .iter()
                    .map(|n| node_index(n))
                    .collect::<Result<Vec<_>, _>>()?;
                TableInfoKind::Broadcast { nodes }
            };
            tables.push(TableInfo {
                name: rule.name.clone(),
                schema: rule.schema.clone(),
                kind,
            });
        }
        let names = tables.iter().map(|t| t.name.clone()).collect();
        let mut physical = NameMap::default();
        for t in &tables {
            if let Some(s) = t.sharded() {
                for (_, name) in &s.slots {
                    physical.entry(name.clone()).or_insert_with(|| {
                        super::LogicalNames::from(vec![(name.clone(), t.name.clone())])
                    });
                }
            }
        }
        let periods = period_names(&tables);
        let composite_periods = composite_periods(&tables);
        let mut schema_nodes = HashMap::new();
        for s in &config.schemas {
            schema_nodes.insert(
                s.name.get_ref().to_ascii_lowercase(),
                node_index(s.node.get_ref())?,
            );
        }
        let mut router = ShardRouter {
            tables,
            names,
            physical,
            no_names: super::LogicalNames::from(Vec::new()),
            periods,
            composite_periods,
            present: Mutex::new(Default::default()),
            node_names,
            schema_nodes,
            sequences: Vec::new(),
            ids: IdGenerator::new(config.id_generator.worker_id, config.id_generator.epoch_ms),
            refuse_unkeyed_writes: config.routing.refuse_unkeyed_writes,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(config.routing.plan_cache).unwrap_or(NonZeroUsize::MIN),
            )),
            generation: Default::default(),
            columns: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
        };
        for seq in &config.sequences {
            let Some(table) = router.find_table(seq.schema.as_deref(), seq.table.get_ref()) else {
                return Err(format!(
                    "[[sequence]] table {:?} has no [[table]] rule",
                    seq.table.get_ref()
                ));
            };
            let column = match &seq.column {
                Some(c) => c.clone(),
                None => router.tables[table]
                    .sharded()
                    .map(|s| s.key.clone())
                    .ok_or_else(|| {
                        format!("[[sequence]] for {:?} needs `column`", seq.table.get_ref())
                    })?,
            };
            router.sequences.push(SequenceInfo { table, column });
        }
        Ok(router)
    }
}
