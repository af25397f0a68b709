//! Table rules: the `[[table]]` entries of a rule file, their validation,
//! and the physical tables they describe.
//!
//! Owns: the serde types of one table rule, rule-local validation
//! ([`TableRule::validate`]), cross-table validation ([`validate_tables`]),
//! the slot → (node, physical table) layout, and [`ShardingRules`], the
//! validated set the router queries. Must not touch: reading files, schema
//! defaults and node definitions (the config loader owns those and passes
//! node names in), SQL, the network.
//!
//! Files: this one (types, layout), `raw` (the serde form sorted into a
//! kind), `validate` (rule and cross-table checks), `placement`
//! ([`ShardingRules`], [`TablePlacement`]).
//!
//! # Rule file format
//!
//! ```toml
//! [[table]]
//! name = "orders"                 # logical table name (required)
//! schema = "shop"                 # optional; the loader may fill a default
//! key = "user_id"                 # sharding key column
//! key_type = "int"                # int | string | date | datetime
//! collation = "utf8mb4_general_ci"  # string keys only; default utf8mb4_general_ci
//! algorithm = { kind = "hash_mod", hash = "xxh3" }
//! nodes = ["n1", "n2"]
//! tables_per_node = 4             # default 1
//! physical_name = "orders_{index}"  # default "{table}_{index}"
//!
//! [[table]]
//! name = "order_items"
//! bound_to = "orders"             # ER binding: the parent's layout and algorithm
//! key = "user_id"                 # this table's column holding the parent's key
//!
//! [[table]]
//! name = "regions"
//! broadcast = true                # a full copy on every node (or on `nodes`)
//!
//! [[table]]
//! name = "settings"
//! node = "n2"                     # not split: the whole table lives on one node
//! ```
//!
//! Algorithms (see `algorithm.rs` for the semantics):
//!
//! ```toml
//! algorithm = { kind = "hash_mod" }                 # hash defaults to "xxh3"
//! algorithm = { kind = "jump", hash = "murmur3" }
//! algorithm = { kind = "hash_range" }               # or boundaries = ["40", "80", "c0"]
//! algorithm = { kind = "range", bounds = [1000, 2000] }
//!
//! [table.algorithm]                                 # nodes come from the periods
//! kind = "time_range"
//! unit = "month"                                    # day | month | year
//! periods = [
//!   { from = "2026-01", to = "2026-06", node = "n1" },
//!   { from = "2026-07", to = "2026-12", node = "n2" },
//! ]
//! ```
//!
//! # Layout
//!
//! A sharded table has `slots` physical tables. For every algorithm but
//! `time_range`, `slots = len(nodes) × tables_per_node` and slot `i` lives on
//! node `nodes[i / tables_per_node]` (consecutive slots share a node: with 2
//! nodes × 4 tables, `orders_0..3` are on `n1` and `orders_4..7` on `n2`).
//! `range` bounds and explicit `hash_range` boundaries must define exactly
//! that many slots. For `time_range`, slot `i` is the `i`-th configured
//! period, on the node its period span names. A bound table has the same
//! slots on the same nodes as the root of its binding chain, named by its
//! own `physical_name`.

use std::collections::HashSet;
use std::ops::Bound;

use serde::Deserialize;

use super::algorithm::{
    Algorithm, Composite, KeyspaceBoundary, PlacementError, SlotSet, TimeRange,
};
use super::collation::Collation;
use super::key::{KeyType, ShardKey};
use super::naming::{
    invalid_table_name_reason, NamePattern, NameValues, DEFAULT_COMPOSITE_PATTERN,
    DEFAULT_INDEXED_PATTERN, DEFAULT_PERIOD_PATTERN,
};

mod placement;
mod raw;
mod validate;

pub use placement::{ShardingRules, TablePlacement};
use raw::RawTableRule;
pub use validate::validate_tables;
use validate::{bound_pattern, check_node_list, resolve_root, same_schema};

/// More physical tables than this per logical table is refused (it is
/// almost certainly a typo, such as daily periods over centuries).
pub const MAX_SLOTS: usize = 65_536;

/// One `[[table]]` entry of a rule file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawTableRule")]
pub struct TableRule {
    /// Logical table name.
    pub name: String,
    /// Schema, if the rule names one.
    pub schema: Option<String>,
    /// Sharded, bound or broadcast.
    pub kind: TableKind,
}

/// The three kinds of table a rule can describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// Split across physical tables by a key.
    Sharded(ShardedTable),
    /// Placed like its parent (ER binding), row by row with the parent's
    /// rows that share its key.
    Bound(BoundTable),
    /// A full copy on each node: reads go to any node, writes to all.
    Broadcast(BroadcastTable),
    /// Not split: the whole table lives on one node (`node = "n2"`).
    Single(SingleTable),
}

/// A table that lives whole on one node (vertical placement of one table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleTable {
    /// The node holding the table.
    pub node: String,
}

/// A table split across slots by `algorithm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardedTable {
    /// The key column.
    pub key: String,
    /// The key column's type; drives literal conversion.
    pub key_type: KeyType,
    /// The key column's collation (meaningful for string keys only).
    pub collation: Collation,
    /// The placement function.
    pub algorithm: Algorithm,
    /// The node grid (empty for `time_range`, whose periods name nodes).
    pub nodes: Vec<String>,
    /// Physical tables per node (1 for `time_range`).
    pub tables_per_node: usize,
    /// Physical table names, default applied.
    pub physical_name: NamePattern,
    /// Slots moved off their rule's node by `shardcat shards move`: slot →
    /// node (read from the configuration's placement file, never from the
    /// rule itself).
    pub moved: std::collections::BTreeMap<usize, String>,
    /// Physical tables under another name than their pattern renders
    /// (rendered name → actual name): the new tables `shardcat shards
    /// resplit` built under a staging name because the rendered one was an
    /// old table on the same node (read from the placement file).
    pub renamed: std::collections::BTreeMap<String, String>,
}

/// A table bound to a parent (`bound_to`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundTable {
    /// The parent's logical name (same schema).
    pub parent: String,
    /// This table's column holding the parent's key value.
    pub key: String,
    /// If given, must equal the root's `key_type`.
    pub key_type: Option<KeyType>,
    /// If given, must equal the root's collation.
    pub collation: Option<Collation>,
    /// Physical names; default `{table}_{index}` (`{table}_{period}` under a
    /// `time_range` root).
    pub physical_name: Option<NamePattern>,
}

/// A table copied to every node (or to `nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastTable {
    /// The nodes holding a copy; empty means every node.
    pub nodes: Vec<String>,
}

/// One physical table of a layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhysicalTarget {
    /// Node (replication group) name.
    pub node: String,
    /// Physical table name on that node.
    pub table: String,
    /// Slot number (0 for broadcast copies).
    pub slot: usize,
}

/// A problem with a rule, naming the table; the caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table `{table}`: {problem}")]
pub struct RuleError {
    /// The logical table the problem is about.
    pub table: String,
    /// What is wrong (boxed to keep `Result<_, RuleError>` small).
    pub problem: Box<RuleProblem>,
}

/// What is wrong with a rule, in a DBA's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    /// None of `algorithm`, `bound_to`, `broadcast = true`.
    #[error(
        "say what kind of table this is: set `algorithm` (sharded), \
         `bound_to = \"<parent table>\"` (bound) or `broadcast = true`"
    )]
    NoKind,
    /// Two kinds at once.
    #[error("`{first}` and `{second}` cannot be used together")]
    ConflictingKinds {
        /// One field.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// A required field is absent.
    #[error("`{field}` is required for {kind} tables")]
    MissingField {
        /// The field.
        field: &'static str,
        /// sharded, bound or broadcast.
        kind: &'static str,
    },
    /// A field that does not apply.
    #[error("`{field}` does not apply to {kind} tables{hint}")]
    FieldNotAllowed {
        /// The field.
        field: &'static str,
        /// The kind of table.
        kind: &'static str,
        /// Extra advice, starting with "; " or empty.
        hint: &'static str,
    },
    /// A name or column is empty.
    #[error("`{field}` is empty")]
    EmptyField {
        /// The field.
        field: &'static str,
    },
    /// `tables_per_node = 0`.
    #[error("`tables_per_node` must be at least 1")]
    ZeroTablesPerNode,
    /// `nodes = []`.
    #[error("`nodes` is empty; list at least one node")]
    NoNodes,
    /// A node twice in `nodes`.
    #[error("node `{node}` is listed twice in `nodes`")]
    DuplicateNode {
        /// The node.
        node: String,
    },
    /// Collation on a non-string key.
    #[error("`collation` only applies to string keys, but key_type is `{key_type}`")]
    CollationWithoutStringKey {
        /// The declared key type.
        key_type: KeyType,
    },
    /// The algorithm cannot place keys of this type.
    #[error("algorithm `{algorithm}` needs key_type {needs}, not `{key_type}`")]
    KeyTypeNotSupported {
        /// Algorithm name.
        algorithm: &'static str,
        /// Acceptable key types.
        needs: &'static str,
        /// The declared key type.
        key_type: KeyType,
    },
    /// Range bounds not strictly increasing.
    #[error(
        "range bounds must be strictly increasing, but bound #{position} ({bound}) \
         is not greater than bound #{previous_position} ({previous})"
    )]
    BoundsNotIncreasing {
        /// 1-based position of the offending bound.
        position: usize,
        /// Its value.
        bound: i64,
        /// 1-based position of the bound before it.
        previous_position: usize,
        /// That bound's value.
        previous: i64,
    },
    /// hash_range boundaries not strictly increasing or starting at 0.
    #[error(
        "hash_range boundaries must be strictly increasing and above 0, but boundary \
         #{position} ({boundary}) is not"
    )]
    BoundariesNotIncreasing {
        /// 1-based position.
        position: usize,
        /// The boundary as 16 hex digits.
        boundary: String,
    },
    /// The algorithm's own slot count disagrees with the node grid.
    #[error(
        "{detail} define {algorithm_slots} physical tables, but {node_count} nodes × \
         {tables_per_node} tables_per_node = {grid_slots}"
    )]
    SlotCountMismatch {
        /// What defines the algorithm's count ("3 range bounds").
        detail: String,
        /// Slots from the algorithm.
        algorithm_slots: usize,
        /// Nodes listed.
        node_count: usize,
        /// tables_per_node.
        tables_per_node: usize,
        /// Their product.
        grid_slots: usize,
    },
    /// Too many physical tables.
    #[error("the rule describes {count} physical tables; the limit is {max}")]
    TooManySlots {
        /// The count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// time_range without periods.
    #[error("time_range needs at least one entry in `periods`")]
    NoPeriods,
    /// A period span ending before it starts.
    #[error("time period from {from} to {to} ends before it starts")]
    PeriodReversed {
        /// First period name.
        from: String,
        /// Last period name.
        to: String,
    },
    /// A period span without a node.
    #[error("time period from {from} to {to} has no node; set `node`")]
    PeriodWithoutNode {
        /// First period name.
        from: String,
        /// Last period name.
        to: String,
    },
    /// Period spans overlapping or out of order.
    #[error(
        "time periods must be listed in order without overlap, but {later_from}..{later_to} \
         does not start after {earlier_from}..{earlier_to}"
    )]
    PeriodsOutOfOrder {
        /// Earlier span start.
        earlier_from: String,
        /// Earlier span end.
        earlier_to: String,
        /// Later span start.
        later_from: String,
        /// Later span end.
        later_to: String,
    },
    /// A composite rule over a `time_range` algorithm.
    #[error("`period` splits the slots of a hash or range algorithm, not of `time_range`")]
    PeriodOverTimeRange,
    /// A binding to a composite table.
    #[error("`bound_to = \"{parent}\"` names a table split by key and period; binding to it is not supported (a bound table would have to follow both the key and the period column, in inserts and key moves): give the table its own rule")]
    BoundToComposite {
        /// The parent name.
        parent: String,
    },
    /// A period placeholder without a time_range algorithm.
    #[error(
        "physical_name `{pattern}` uses `{{{placeholder}}}`, which only time_range tables have"
    )]
    PeriodPlaceholderWithoutTimeRange {
        /// The pattern.
        pattern: String,
        /// The placeholder's name.
        placeholder: &'static str,
    },
    /// Two slots on one node get the same physical name.
    #[error(
        "physical_name `{pattern}` names two physical tables `{name}` on node `{node}` \
         (slots {first_slot} and {second_slot}); add {hint}"
    )]
    DuplicatePhysicalName {
        /// The pattern.
        pattern: String,
        /// The clashing name.
        name: String,
        /// The node.
        node: String,
        /// First slot.
        first_slot: usize,
        /// Second slot.
        second_slot: usize,
        /// Which placeholder would help.
        hint: &'static str,
    },
    /// A rendered name is not a valid table name.
    #[error("physical_name `{pattern}` gives `{name}`, which is not a valid table name: {reason}")]
    InvalidPhysicalName {
        /// The pattern.
        pattern: String,
        /// The rendered name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Two rules for one table.
    #[error("the table has more than one rule")]
    DuplicateTable,
    /// A node that is not defined.
    #[error("node `{node}` is not defined")]
    UnknownNode {
        /// The node.
        node: String,
    },
    /// `bound_to` names no rule.
    #[error("`bound_to = \"{parent}\"` names a table that has no rule in this schema")]
    UnknownParent {
        /// The parent name.
        parent: String,
    },
    /// A binding cycle.
    #[error("`bound_to` goes round in a circle: {chain}")]
    BindingCycle {
        /// `a → b → a`.
        chain: String,
    },
    /// Bound to a broadcast table.
    #[error("`bound_to = \"{parent}\"` names a broadcast table; bind to a sharded table")]
    BoundToBroadcast {
        /// The parent name.
        parent: String,
    },
    /// Bound to a single-node table.
    #[error("`bound_to = \"{parent}\"` names a single-node table; bind to a sharded table")]
    BoundToSingle {
        /// The parent name.
        parent: String,
    },
    /// key_type differs from the root's.
    #[error(
        "key_type `{own}` differs from `{root}`, the key_type of `{root_table}` it is bound to"
    )]
    BoundKeyTypeMismatch {
        /// This table's declared type.
        own: KeyType,
        /// The root's type.
        root: KeyType,
        /// The root table.
        root_table: String,
    },
    /// collation differs from the root's.
    #[error(
        "collation `{own}` differs from `{root}`, the collation of `{root_table}` it is bound to"
    )]
    BoundCollationMismatch {
        /// This table's collation.
        own: String,
        /// The root's collation.
        root: String,
        /// The root table.
        root_table: String,
    },
}

impl TableRule {
    /// Rule-local checks: everything that can be judged from this entry
    /// alone. Cross-table checks are in [`validate_tables`].
    pub fn validate(&self) -> Result<(), RuleError> {
        let fail = |problem| RuleError {
            table: self.name.clone(),
            problem: Box::new(problem),
        };
        if self.name.trim().is_empty() {
            return Err(fail(RuleProblem::EmptyField { field: "name" }));
        }
        match &self.kind {
            TableKind::Sharded(sharded) => sharded.validate(&self.name).map_err(fail),
            TableKind::Bound(bound) => {
                if bound.key.trim().is_empty() {
                    return Err(fail(RuleProblem::EmptyField { field: "key" }));
                }
                if bound.parent.trim().is_empty() {
                    return Err(fail(RuleProblem::EmptyField { field: "bound_to" }));
                }
                Ok(())
            }
            TableKind::Broadcast(broadcast) => {
                check_node_list(&broadcast.nodes, false).map_err(fail)
            }
            TableKind::Single(single) => {
                if single.node.trim().is_empty() {
                    return Err(fail(RuleProblem::EmptyField { field: "node" }));
                }
                Ok(())
            }
        }
    }

    /// The sharded description, if this is a sharded table.
    pub fn sharded(&self) -> Option<&ShardedTable> {
        match &self.kind {
            TableKind::Sharded(sharded) => Some(sharded),
            _ => None,
        }
    }

    /// For sharded tables, the physical tables (for DDL fan-out). Bound and
    /// broadcast tables need the other rules: use [`ShardingRules`].
    pub fn physical_targets(&self) -> Option<Vec<PhysicalTarget>> {
        self.sharded()
            .map(|sharded| sharded.physical_targets(&self.name, &sharded.physical_name))
    }

    /// For sharded tables, where `key` lives. See [`ShardingRules`] for
    /// bound tables.
    pub fn target_for_key(&self, key: &ShardKey) -> Result<PhysicalTarget, PlacementError> {
        match &self.kind {
            TableKind::Sharded(sharded) => {
                sharded.target_for_key(&self.name, &sharded.physical_name, key)
            }
            TableKind::Bound(bound) => Err(PlacementError::NeedsParent {
                table: self.name.clone(),
                parent: bound.parent.clone(),
            }),
            TableKind::Broadcast(_) | TableKind::Single(_) => Err(PlacementError::NotSharded {
                table: self.name.clone(),
            }),
        }
    }
}

impl ShardedTable {
    /// Number of physical tables.
    pub fn slot_count(&self) -> usize {
        let grid = self.nodes.len().saturating_mul(self.tables_per_node);
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot_count(),
            Algorithm::Composite(composite) => grid.saturating_mul(composite.period_count()),
            _ => grid,
        }
    }

    /// The composite rule's second level (`period = { … }`), if any.
    pub fn composite(&self) -> Option<&Composite> {
        match &self.algorithm {
            Algorithm::Composite(composite) => Some(composite),
            _ => None,
        }
    }

    /// The period of `slot` under a `time_range` or composite rule.
    pub fn period_of_slot(&self, slot: usize) -> Option<crate::placement::Period> {
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot(slot).map(|(period, _)| period),
            Algorithm::Composite(composite) if slot < self.slot_count() => {
                composite.period_of_slot(slot)
            }
            _ => None,
        }
    }

    /// The periods' rule (`time_range`, or a composite rule's `period`).
    pub fn time_periods(&self) -> Option<&TimeRange> {
        match &self.algorithm {
            Algorithm::TimeRange(time) => Some(time),
            Algorithm::Composite(composite) => Some(&composite.period.time),
            _ => None,
        }
    }

    /// True if `slot` is routed today: always, but for a `time_range`
    /// period retired by `retain` or beyond `create_ahead`.
    pub fn slot_is_live(&self, slot: usize) -> bool {
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot_is_live(slot),
            Algorithm::Composite(composite) => composite.slot_is_live(slot),
            _ => true,
        }
    }

    /// The first routed slot (slot 0 unless retention retired it).
    pub fn first_live_slot(&self) -> usize {
        (0..self.slot_count())
            .find(|slot| self.slot_is_live(*slot))
            .unwrap_or(0)
    }

    /// Computes a `time_range` rule's routed periods for `today`.
    pub fn apply_clock(&mut self, today: crate::placement::CalendarDate) {
        match &mut self.algorithm {
            Algorithm::TimeRange(time) => time.apply_clock(today),
            Algorithm::Composite(composite) => composite.period.time.apply_clock(today),
            _ => {}
        }
    }

    /// The node holding `slot` (a moved slot's new node).
    pub fn node_of_slot(&self, slot: usize) -> Option<&str> {
        if let Some(node) = self.moved.get(&slot) {
            return (slot < self.slot_count()).then_some(node.as_str());
        }
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot(slot).map(|(_, node)| node),
            _ if slot < self.slot_count() => self
                .nodes
                .get(self.hash_slot(slot).checked_div(self.tables_per_node)?)
                .map(String::as_str),
            _ => None,
        }
    }

    /// The node and name of `slot`, under `pattern`.
    pub fn physical_target(
        &self,
        table: &str,
        pattern: &NamePattern,
        slot: usize,
    ) -> Option<PhysicalTarget> {
        let (node, period) = match &self.algorithm {
            Algorithm::TimeRange(time) => {
                let (period, node) = time.slot(slot)?;
                let node = self.moved.get(&slot).map_or(node, String::as_str);
                (node, Some(period))
            }
            _ => (self.node_of_slot(slot)?, self.period_of_slot(slot)),
        };
        let index = self.hash_slot(slot);
        let name = pattern.render(&NameValues {
            table,
            index,
            local_index: index.checked_rem(self.tables_per_node).unwrap_or(0),
            period,
        })?;
        let name = self.renamed.get(&name).cloned().unwrap_or(name);
        Some(PhysicalTarget {
            node: node.to_owned(),
            table: name,
            slot,
        })
    }

    /// Every physical table, in slot order.
    pub fn physical_targets(&self, table: &str, pattern: &NamePattern) -> Vec<PhysicalTarget> {
        (0..self.slot_count().min(MAX_SLOTS))
            .filter_map(|slot| self.physical_target(table, pattern, slot))
            .collect()
    }

    /// The hash slot of `slot` (the slot itself but under a composite
    /// rule): `{index}` in physical names.
    pub fn hash_slot(&self, slot: usize) -> usize {
        self.composite()
            .map_or(slot, |composite| composite.split(slot).0)
    }

    /// The slot of `key` (a composite rule needs [`Self::slot_for_keys`]).
    pub fn slot_for_key(&self, key: &ShardKey) -> Result<usize, PlacementError> {
        self.algorithm
            .slot_for_key(key, self.slot_count(), &self.collation)
    }

    /// The slot of a row with `key` and, under a composite rule, the period
    /// column's value `period_key` (ignored by other rules).
    pub fn slot_for_keys(
        &self,
        key: &ShardKey,
        period_key: Option<&ShardKey>,
    ) -> Result<usize, PlacementError> {
        match (self.composite(), period_key) {
            (Some(composite), Some(period_key)) => {
                composite.slot_for_keys(key, period_key, self.slot_count(), &self.collation)
            }
            (Some(_), None) => Err(PlacementError::NeedsPeriodKey),
            (None, _) => self.slot_for_key(key),
        }
    }

    /// The slot a row of `slot` belongs in once its key becomes `key` and,
    /// under a composite rule, its period column `period_key` (`None`:
    /// unchanged): a key move's destination.
    pub fn moved_slot(
        &self,
        slot: usize,
        key: Option<&ShardKey>,
        period_key: Option<&ShardKey>,
    ) -> Result<usize, PlacementError> {
        match (self.composite(), key) {
            (Some(composite), _) => {
                composite.moved_slot(slot, key, period_key, self.slot_count(), &self.collation)
            }
            (None, Some(key)) => self.slot_for_key(key),
            (None, None) => Ok(slot),
        }
    }

    /// Under a composite rule, the slots that can hold period-column values
    /// in the range; every slot otherwise.
    pub fn slots_for_period_range(&self, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> SlotSet {
        match self.composite() {
            Some(composite) => composite.slots_for_period_range(low, high, self.slot_count()),
            None => SlotSet::All,
        }
    }

    /// The slots that can hold keys in the range (see
    /// [`Algorithm::slots_for_range`]).
    pub fn slots_for_range(&self, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> SlotSet {
        self.algorithm
            .slots_for_range(low, high, self.slot_count(), &self.collation)
    }

    /// The physical table holding `key`.
    pub fn target_for_key(
        &self,
        table: &str,
        pattern: &NamePattern,
        key: &ShardKey,
    ) -> Result<PhysicalTarget, PlacementError> {
        let slot = self.slot_for_key(key)?;
        self.physical_target(table, pattern, slot)
            .ok_or_else(|| PlacementError::InconsistentRule {
                table: table.to_owned(),
                slot,
                slot_count: self.slot_count(),
            })
    }

    /// The nodes this table uses, in slot order, without duplicates.
    pub fn node_names(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = match &self.algorithm {
            Algorithm::TimeRange(time) => {
                time.periods.iter().map(|span| span.node.as_str()).collect()
            }
            _ => self.nodes.iter().map(String::as_str).collect(),
        };
        nodes.extend(self.moved.values().map(String::as_str));
        let mut seen = HashSet::new();
        nodes.retain(|node| seen.insert(*node));
        nodes
    }
}
