//! [`ShardingRules`], the validated set of table rules the router queries,
//! and [`TablePlacement`], one table's view: its key, layout root, naming,
//! nodes and physical targets.
//!
//! Owns: lookups by (schema, name) and the placement of keys and slot sets.
//! Must not validate rules itself beyond calling [`validate_tables`].

use super::*;

/// A validated rule set with bindings resolved: what the router asks.
#[derive(Debug, Clone)]
pub struct ShardingRules {
    tables: Vec<TableRule>,
    nodes: Vec<String>,
}

/// How one logical table is placed, bindings resolved.
#[derive(Debug, Clone)]
pub struct TablePlacement<'a> {
    rule: &'a TableRule,
    layout: Layout<'a>,
}

#[derive(Debug, Clone)]
enum Layout<'a> {
    Sharded {
        root: &'a ShardedTable,
        key: &'a str,
        pattern: NamePattern,
    },
    Broadcast {
        nodes: Vec<&'a str>,
    },
    Single {
        node: &'a str,
    },
}

impl ShardingRules {
    /// Validates every rule (locally and across rules) against the defined
    /// nodes; all problems are returned at once.
    pub fn new(tables: Vec<TableRule>, node_names: &[&str]) -> Result<Self, Vec<RuleError>> {
        let mut errors: Vec<RuleError> = tables
            .iter()
            .filter_map(|rule| rule.validate().err())
            .collect();
        errors.extend(validate_tables(&tables, node_names));
        if errors.is_empty() {
            Ok(ShardingRules {
                tables,
                nodes: node_names.iter().map(|node| (*node).to_owned()).collect(),
            })
        } else {
            Err(errors)
        }
    }

    /// The placement of `name` in `schema` (a rule without a schema matches
    /// any schema; names are compared exactly, as with
    /// `lower_case_table_names = 0`).
    pub fn table(&self, schema: Option<&str>, name: &str) -> Option<TablePlacement<'_>> {
        let schema = schema.map(str::to_owned);
        let rule = self
            .tables
            .iter()
            .find(|rule| rule.name == name && same_schema(&rule.schema, &schema))?;
        self.placement(rule)
    }

    /// Every rule's placement, in file order.
    pub fn tables(&self) -> impl Iterator<Item = TablePlacement<'_>> {
        self.tables.iter().filter_map(|rule| self.placement(rule))
    }

    pub(super) fn placement<'a>(&'a self, rule: &'a TableRule) -> Option<TablePlacement<'a>> {
        let layout = match &rule.kind {
            TableKind::Sharded(sharded) => Layout::Sharded {
                root: sharded,
                key: &sharded.key,
                pattern: sharded.physical_name.clone(),
            },
            TableKind::Bound(bound) => {
                let (_, root) = resolve_root(rule, &self.tables).ok()?;
                Layout::Sharded {
                    root,
                    key: &bound.key,
                    pattern: bound_pattern(bound, root),
                }
            }
            TableKind::Broadcast(broadcast) => Layout::Broadcast {
                nodes: if broadcast.nodes.is_empty() {
                    self.nodes.iter().map(String::as_str).collect()
                } else {
                    broadcast.nodes.iter().map(String::as_str).collect()
                },
            },
            TableKind::Single(single) => Layout::Single { node: &single.node },
        };
        Some(TablePlacement { rule, layout })
    }
}

impl<'a> TablePlacement<'a> {
    /// The rule as written.
    pub fn rule(&self) -> &'a TableRule {
        self.rule
    }

    /// The key column of this table (its own column for bound tables);
    /// `None` for broadcast tables.
    pub fn key_column(&self) -> Option<&'a str> {
        match &self.layout {
            Layout::Sharded { key, .. } => Some(key),
            Layout::Broadcast { .. } | Layout::Single { .. } => None,
        }
    }

    /// The key type and collation that govern this table's key (the root's
    /// for bound tables); `None` for broadcast tables.
    pub fn key_semantics(&self) -> Option<(KeyType, &'a Collation)> {
        match &self.layout {
            Layout::Sharded { root, .. } => Some((root.key_type, &root.collation)),
            Layout::Broadcast { .. } | Layout::Single { .. } => None,
        }
    }

    /// The sharded table whose layout this table follows (itself, or the
    /// root of its `bound_to` chain); `None` for broadcast and single-node
    /// tables. Two tables whose roots have equal algorithm, node grid, key
    /// type and collation put equal keys in the same slot on the same node.
    pub fn root(&self) -> Option<&'a ShardedTable> {
        match &self.layout {
            Layout::Sharded { root, .. } => Some(root),
            _ => None,
        }
    }

    /// The physical name pattern (sharded and bound tables).
    pub fn pattern(&self) -> Option<&NamePattern> {
        match &self.layout {
            Layout::Sharded { pattern, .. } => Some(pattern),
            _ => None,
        }
    }

    /// The node of a single-node table.
    pub fn single_node(&self) -> Option<&'a str> {
        match &self.layout {
            Layout::Single { node } => Some(node),
            _ => None,
        }
    }

    /// The nodes holding a broadcast copy.
    pub fn broadcast_nodes(&self) -> Option<&[&'a str]> {
        match &self.layout {
            Layout::Broadcast { nodes } => Some(nodes),
            _ => None,
        }
    }

    /// True for broadcast tables.
    pub fn is_broadcast(&self) -> bool {
        matches!(self.layout, Layout::Broadcast { .. })
    }

    /// Every physical table (for DDL fan-out); one per node for broadcast.
    pub fn physical_targets(&self) -> Vec<PhysicalTarget> {
        match &self.layout {
            Layout::Sharded { root, pattern, .. } => {
                root.physical_targets(&self.rule.name, pattern)
            }
            Layout::Broadcast { nodes } => nodes
                .iter()
                .map(|node| PhysicalTarget {
                    node: (*node).to_owned(),
                    table: self.rule.name.clone(),
                    slot: 0,
                })
                .collect(),
            Layout::Single { node } => vec![PhysicalTarget {
                node: (*node).to_owned(),
                table: self.rule.name.clone(),
                slot: 0,
            }],
        }
    }

    /// The physical table holding `key`.
    pub fn target_for_key(&self, key: &ShardKey) -> Result<PhysicalTarget, PlacementError> {
        match &self.layout {
            Layout::Sharded { root, pattern, .. } => {
                root.target_for_key(&self.rule.name, pattern, key)
            }
            Layout::Broadcast { .. } | Layout::Single { .. } => Err(PlacementError::NotSharded {
                table: self.rule.name.clone(),
            }),
        }
    }

    /// The slots a key range can touch; `All` for broadcast tables.
    pub fn slots_for_range(&self, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> SlotSet {
        match &self.layout {
            Layout::Sharded { root, .. } => root.slots_for_range(low, high),
            Layout::Broadcast { .. } | Layout::Single { .. } => SlotSet::All,
        }
    }

    /// The physical tables of `slots`.
    pub fn targets_for_slots(&self, slots: &SlotSet) -> Vec<PhysicalTarget> {
        match &self.layout {
            Layout::Sharded { root, pattern, .. } => slots
                .to_vec(root.slot_count())
                .into_iter()
                .filter_map(|slot| root.physical_target(&self.rule.name, pattern, slot))
                .collect(),
            Layout::Broadcast { .. } | Layout::Single { .. } => self.physical_targets(),
        }
    }
}
