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

use super::algorithm::{Algorithm, KeyspaceBoundary, PlacementError, SlotSet, TimeRange};
use super::collation::Collation;
use super::key::{KeyType, ShardKey};
use super::naming::{
    invalid_table_name_reason, NamePattern, NameValues, DEFAULT_INDEXED_PATTERN,
    DEFAULT_PERIOD_PATTERN,
};

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTableRule {
    name: String,
    schema: Option<String>,
    key: Option<String>,
    key_type: Option<KeyType>,
    collation: Option<Collation>,
    algorithm: Option<Algorithm>,
    nodes: Option<Vec<String>>,
    tables_per_node: Option<usize>,
    physical_name: Option<NamePattern>,
    bound_to: Option<String>,
    broadcast: Option<bool>,
    node: Option<String>,
}

impl TryFrom<RawTableRule> for TableRule {
    type Error = RuleError;

    /// Sorts the fields into a kind; checks only which fields are present.
    fn try_from(raw: RawTableRule) -> Result<Self, RuleError> {
        let fail = |problem| RuleError {
            table: raw.name.clone(),
            problem: Box::new(problem),
        };
        let not_allowed =
            |field, kind, hint| fail(RuleProblem::FieldNotAllowed { field, kind, hint });
        let broadcast = raw.broadcast.unwrap_or(false);
        if let Some(node) = &raw.node {
            for (present, other) in [
                (broadcast, "broadcast"),
                (raw.bound_to.is_some(), "bound_to"),
                (raw.algorithm.is_some(), "algorithm"),
            ] {
                if present {
                    return Err(fail(RuleProblem::ConflictingKinds {
                        first: "node",
                        second: other,
                    }));
                }
            }
            for (present, field) in [
                (raw.key.is_some(), "key"),
                (raw.key_type.is_some(), "key_type"),
                (raw.collation.is_some(), "collation"),
                (raw.tables_per_node.is_some(), "tables_per_node"),
                (raw.physical_name.is_some(), "physical_name"),
                (raw.nodes.is_some(), "nodes"),
            ] {
                if present {
                    return Err(not_allowed(
                        field,
                        "single-node",
                        "; a single-node table keeps its name and lives on `node`",
                    ));
                }
            }
            return Ok(TableRule {
                name: raw.name.clone(),
                schema: raw.schema.clone(),
                kind: TableKind::Single(SingleTable { node: node.clone() }),
            });
        }
        let kind = match (broadcast, &raw.bound_to, &raw.algorithm) {
            (true, Some(_), _) => {
                return Err(fail(RuleProblem::ConflictingKinds {
                    first: "broadcast",
                    second: "bound_to",
                }))
            }
            (true, None, Some(_)) => {
                return Err(fail(RuleProblem::ConflictingKinds {
                    first: "broadcast",
                    second: "algorithm",
                }))
            }
            (false, Some(_), Some(_)) => {
                return Err(fail(RuleProblem::ConflictingKinds {
                    first: "bound_to",
                    second: "algorithm",
                }))
            }
            (false, None, None) => return Err(fail(RuleProblem::NoKind)),
            (true, None, None) => {
                let kind = "broadcast";
                for (present, field) in [
                    (raw.key.is_some(), "key"),
                    (raw.key_type.is_some(), "key_type"),
                    (raw.collation.is_some(), "collation"),
                    (raw.tables_per_node.is_some(), "tables_per_node"),
                    (raw.physical_name.is_some(), "physical_name"),
                ] {
                    if present {
                        return Err(not_allowed(
                            field,
                            kind,
                            "; a broadcast copy keeps the logical name",
                        ));
                    }
                }
                TableKind::Broadcast(BroadcastTable {
                    nodes: raw.nodes.clone().unwrap_or_default(),
                })
            }
            (false, Some(parent), None) => {
                let kind = "bound";
                let hint = "; a bound table uses the layout of the table it is bound to";
                if raw.nodes.is_some() {
                    return Err(not_allowed("nodes", kind, hint));
                }
                if raw.tables_per_node.is_some() {
                    return Err(not_allowed("tables_per_node", kind, hint));
                }
                let key = raw
                    .key
                    .clone()
                    .ok_or_else(|| fail(RuleProblem::MissingField { field: "key", kind }))?;
                TableKind::Bound(BoundTable {
                    parent: parent.clone(),
                    key,
                    key_type: raw.key_type,
                    collation: raw.collation.clone(),
                    physical_name: raw.physical_name.clone(),
                })
            }
            (false, None, Some(algorithm)) => {
                let kind = "sharded";
                let key = raw
                    .key
                    .clone()
                    .ok_or_else(|| fail(RuleProblem::MissingField { field: "key", kind }))?;
                let key_type = raw.key_type.ok_or_else(|| {
                    fail(RuleProblem::MissingField {
                        field: "key_type",
                        kind,
                    })
                })?;
                if raw.collation.is_some() && key_type != KeyType::String {
                    return Err(fail(RuleProblem::CollationWithoutStringKey { key_type }));
                }
                let (nodes, tables_per_node, default_pattern) = match algorithm {
                    Algorithm::TimeRange(_) => {
                        let kind = "time_range";
                        let hint = "; each period names its node";
                        if raw.nodes.is_some() {
                            return Err(not_allowed("nodes", kind, hint));
                        }
                        if raw.tables_per_node.is_some() {
                            return Err(not_allowed("tables_per_node", kind, hint));
                        }
                        (Vec::new(), 1, DEFAULT_PERIOD_PATTERN)
                    }
                    _ => (
                        raw.nodes.clone().ok_or_else(|| {
                            fail(RuleProblem::MissingField {
                                field: "nodes",
                                kind,
                            })
                        })?,
                        raw.tables_per_node.unwrap_or(1),
                        DEFAULT_INDEXED_PATTERN,
                    ),
                };
                let physical_name = match &raw.physical_name {
                    Some(pattern) => pattern.clone(),
                    None => NamePattern::parse(default_pattern).map_err(|_| {
                        fail(RuleProblem::EmptyField {
                            field: "physical_name",
                        })
                    })?,
                };
                TableKind::Sharded(ShardedTable {
                    key,
                    key_type,
                    collation: raw.collation.clone().unwrap_or_default(),
                    algorithm: algorithm.clone(),
                    nodes,
                    tables_per_node,
                    physical_name,
                })
            }
        };
        Ok(TableRule {
            name: raw.name,
            schema: raw.schema,
            kind,
        })
    }
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

fn check_node_list(nodes: &[String], required: bool) -> Result<(), RuleProblem> {
    if required && nodes.is_empty() {
        return Err(RuleProblem::NoNodes);
    }
    let mut seen = HashSet::new();
    for node in nodes {
        if node.trim().is_empty() {
            return Err(RuleProblem::EmptyField { field: "nodes" });
        }
        if !seen.insert(node.as_str()) {
            return Err(RuleProblem::DuplicateNode { node: node.clone() });
        }
    }
    Ok(())
}

impl ShardedTable {
    fn validate(&self, table: &str) -> Result<(), RuleProblem> {
        if self.key.trim().is_empty() {
            return Err(RuleProblem::EmptyField { field: "key" });
        }
        let key_type = self.key_type;
        let unsupported = |algorithm, needs| RuleProblem::KeyTypeNotSupported {
            algorithm,
            needs,
            key_type,
        };
        match &self.algorithm {
            Algorithm::Range { bounds } => {
                if key_type != KeyType::Int {
                    return Err(unsupported("range", "`int`"));
                }
                check_bounds(bounds)?;
            }
            Algorithm::HashRange { boundaries, .. } => check_boundaries(boundaries)?,
            Algorithm::TimeRange(time) => {
                if !matches!(key_type, KeyType::Date | KeyType::DateTime) {
                    return Err(unsupported("time_range", "`date` or `datetime`"));
                }
                check_periods(time)?;
            }
            Algorithm::HashMod { .. } | Algorithm::Jump { .. } => {}
        }
        if !matches!(self.algorithm, Algorithm::TimeRange(_)) {
            check_node_list(&self.nodes, true)?;
            if self.tables_per_node == 0 {
                return Err(RuleProblem::ZeroTablesPerNode);
            }
            let grid_slots = self.nodes.len().saturating_mul(self.tables_per_node);
            if let Some(algorithm_slots) = self.algorithm.own_slot_count() {
                if algorithm_slots != grid_slots {
                    let detail = match &self.algorithm {
                        Algorithm::Range { bounds } => format!("{} range bounds", bounds.len()),
                        Algorithm::HashRange { boundaries, .. } => {
                            format!("{} hash_range boundaries", boundaries.len())
                        }
                        other => format!("the {} algorithm", other.name()),
                    };
                    return Err(RuleProblem::SlotCountMismatch {
                        detail,
                        algorithm_slots,
                        node_count: self.nodes.len(),
                        tables_per_node: self.tables_per_node,
                        grid_slots,
                    });
                }
            }
        }
        let slot_count = self.slot_count();
        if slot_count > MAX_SLOTS {
            return Err(RuleProblem::TooManySlots {
                count: slot_count,
                max: MAX_SLOTS,
            });
        }
        self.check_names(table, &self.physical_name)
    }

    /// Checks that `pattern` gives valid, per-node unique names for every
    /// slot of this layout.
    fn check_names(&self, table: &str, pattern: &NamePattern) -> Result<(), RuleProblem> {
        let time_range = matches!(self.algorithm, Algorithm::TimeRange(_));
        if let (false, Some(placeholder)) = (time_range, pattern.period_placeholder()) {
            return Err(RuleProblem::PeriodPlaceholderWithoutTimeRange {
                pattern: pattern.to_string(),
                placeholder,
            });
        }
        let slot_count = self.slot_count();
        if slot_count > MAX_SLOTS {
            return Err(RuleProblem::TooManySlots {
                count: slot_count,
                max: MAX_SLOTS,
            });
        }
        let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
        for slot in 0..slot_count {
            let Some(target) = self.physical_target(table, pattern, slot) else {
                continue;
            };
            if let Some(reason) = invalid_table_name_reason(&target.table) {
                return Err(RuleProblem::InvalidPhysicalName {
                    pattern: pattern.to_string(),
                    name: target.table,
                    reason,
                });
            }
            if let Some(first_slot) = seen.insert((target.node.clone(), target.table.clone()), slot)
            {
                return Err(RuleProblem::DuplicatePhysicalName {
                    pattern: pattern.to_string(),
                    name: target.table,
                    node: target.node,
                    first_slot,
                    second_slot: slot,
                    hint: if time_range {
                        "{period}"
                    } else {
                        "{index} or {local_index}"
                    },
                });
            }
        }
        Ok(())
    }

    /// Number of physical tables.
    pub fn slot_count(&self) -> usize {
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot_count(),
            _ => self.nodes.len().saturating_mul(self.tables_per_node),
        }
    }

    /// The node holding `slot`.
    pub fn node_of_slot(&self, slot: usize) -> Option<&str> {
        match &self.algorithm {
            Algorithm::TimeRange(time) => time.slot(slot).map(|(_, node)| node),
            _ if slot < self.slot_count() => self
                .nodes
                .get(slot.checked_div(self.tables_per_node)?)
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
                (node, Some(period))
            }
            _ => (self.node_of_slot(slot)?, None),
        };
        let name = pattern.render(&NameValues {
            table,
            index: slot,
            local_index: slot.checked_rem(self.tables_per_node).unwrap_or(0),
            period,
        })?;
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

    /// The slot of `key`.
    pub fn slot_for_key(&self, key: &ShardKey) -> Result<usize, PlacementError> {
        self.algorithm
            .slot_for_key(key, self.slot_count(), &self.collation)
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
        let mut seen = HashSet::new();
        nodes.retain(|node| seen.insert(*node));
        nodes
    }
}

fn check_bounds(bounds: &[i64]) -> Result<(), RuleProblem> {
    for (index, pair) in bounds.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(RuleProblem::BoundsNotIncreasing {
                position: index + 2,
                bound: pair[1],
                previous_position: index + 1,
                previous: pair[0],
            });
        }
    }
    Ok(())
}

fn check_boundaries(boundaries: &[KeyspaceBoundary]) -> Result<(), RuleProblem> {
    let mut previous: Option<u64> = None;
    for (index, boundary) in boundaries.iter().enumerate() {
        let increasing = previous.map_or(boundary.0 > 0, |previous| boundary.0 > previous);
        if !increasing {
            return Err(RuleProblem::BoundariesNotIncreasing {
                position: index + 1,
                boundary: String::from(*boundary),
            });
        }
        previous = Some(boundary.0);
    }
    Ok(())
}

fn check_periods(time: &TimeRange) -> Result<(), RuleProblem> {
    if time.periods.is_empty() {
        return Err(RuleProblem::NoPeriods);
    }
    for span in &time.periods {
        if span.to < span.from {
            return Err(RuleProblem::PeriodReversed {
                from: span.from.name(),
                to: span.to.name(),
            });
        }
        if span.node.trim().is_empty() {
            return Err(RuleProblem::PeriodWithoutNode {
                from: span.from.name(),
                to: span.to.name(),
            });
        }
    }
    for pair in time.periods.windows(2) {
        if pair[1].from <= pair[0].to {
            return Err(RuleProblem::PeriodsOutOfOrder {
                earlier_from: pair[0].from.name(),
                earlier_to: pair[0].to.name(),
                later_from: pair[1].from.name(),
                later_to: pair[1].to.name(),
            });
        }
    }
    Ok(())
}

fn same_schema(first: &Option<String>, second: &Option<String>) -> bool {
    match (first, second) {
        (Some(first), Some(second)) => first == second,
        _ => true,
    }
}

/// Follows `bound_to` from `rule` to the sharded root; the chain of names
/// walked is returned with the error.
fn resolve_root<'a>(
    rule: &'a TableRule,
    tables: &'a [TableRule],
) -> Result<(&'a TableRule, &'a ShardedTable), RuleProblem> {
    let mut chain: Vec<&str> = vec![&rule.name];
    let mut current = rule;
    loop {
        match &current.kind {
            TableKind::Sharded(sharded) => return Ok((current, sharded)),
            TableKind::Broadcast(_) => {
                return Err(RuleProblem::BoundToBroadcast {
                    parent: current.name.clone(),
                })
            }
            TableKind::Single(_) => {
                return Err(RuleProblem::BoundToSingle {
                    parent: current.name.clone(),
                })
            }
            TableKind::Bound(bound) => {
                let parent = tables
                    .iter()
                    .find(|candidate| {
                        candidate.name == bound.parent
                            && same_schema(&candidate.schema, &current.schema)
                    })
                    .ok_or_else(|| RuleProblem::UnknownParent {
                        parent: bound.parent.clone(),
                    })?;
                if chain.contains(&parent.name.as_str()) || chain.len() > tables.len() {
                    chain.push(&parent.name);
                    return Err(RuleProblem::BindingCycle {
                        chain: chain.join(" → "),
                    });
                }
                chain.push(&parent.name);
                current = parent;
            }
        }
    }
}

/// The physical name pattern of a bound table under its root.
fn bound_pattern(bound: &BoundTable, root: &ShardedTable) -> NamePattern {
    bound.physical_name.clone().unwrap_or_else(|| {
        let default = match root.algorithm {
            Algorithm::TimeRange(_) => DEFAULT_PERIOD_PATTERN,
            _ => DEFAULT_INDEXED_PATTERN,
        };
        // The defaults are valid patterns; fall back to the root's pattern
        // rather than panic should that ever change.
        NamePattern::parse(default).unwrap_or_else(|_| root.physical_name.clone())
    })
}

/// Checks that need the whole rule set: duplicate rules, undefined nodes,
/// `bound_to` targets (existence, cycles, key type and collation agreement,
/// physical names under the parent's layout). Rule-local problems are
/// [`TableRule::validate`]'s job and are not repeated here.
pub fn validate_tables(tables: &[TableRule], node_names: &[&str]) -> Vec<RuleError> {
    let mut errors = Vec::new();
    let known_nodes: HashSet<&str> = node_names.iter().copied().collect();
    for (index, rule) in tables.iter().enumerate() {
        let mut fail = |problem| {
            errors.push(RuleError {
                table: rule.name.clone(),
                problem: Box::new(problem),
            })
        };
        let duplicate = tables[..index]
            .iter()
            .any(|earlier| earlier.name == rule.name && same_schema(&earlier.schema, &rule.schema));
        if duplicate {
            fail(RuleProblem::DuplicateTable);
        }
        let used_nodes: Vec<&str> = match &rule.kind {
            TableKind::Sharded(sharded) => sharded.node_names(),
            TableKind::Broadcast(broadcast) => broadcast.nodes.iter().map(String::as_str).collect(),
            TableKind::Single(single) => vec![single.node.as_str()],
            TableKind::Bound(_) => Vec::new(),
        };
        for node in used_nodes {
            if !known_nodes.contains(node) {
                fail(RuleProblem::UnknownNode {
                    node: node.to_owned(),
                });
            }
        }
        let TableKind::Bound(bound) = &rule.kind else {
            continue;
        };
        let (root_rule, root) = match resolve_root(rule, tables) {
            Ok(found) => found,
            Err(problem) => {
                fail(problem);
                continue;
            }
        };
        if let Some(own) = bound.key_type {
            if own != root.key_type {
                fail(RuleProblem::BoundKeyTypeMismatch {
                    own,
                    root: root.key_type,
                    root_table: root_rule.name.clone(),
                });
            }
        }
        if let Some(own) = &bound.collation {
            if own != &root.collation {
                fail(RuleProblem::BoundCollationMismatch {
                    own: own.to_string(),
                    root: root.collation.to_string(),
                    root_table: root_rule.name.clone(),
                });
            }
        }
        if let Err(problem) = root.check_names(&rule.name, &bound_pattern(bound, root)) {
            fail(problem);
        }
    }
    errors
}

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

    fn placement<'a>(&'a self, rule: &'a TableRule) -> Option<TablePlacement<'a>> {
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
