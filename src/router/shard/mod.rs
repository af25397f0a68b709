//! The sharding router: from a statement on logical tables to a
//! [`ShardPlan`], the statements to run on physical tables and how to merge
//! their answers. Pure planning: no I/O.
//!
//! ```text
//! text ──lexical scan: any rule table named?──no──► Ok(None) (schema routing)
//!   │ yes
//!   ▼
//! Analysis (cached by shape + current schema; parameters not needed)
//!   refs: every table reference, its rule, name span, scope
//!   row sources: scopes whose rows the statement returns or changes,
//!     key-equality edges (joins, correlations), WHERE formulas (cond.rs)
//!   statement parts: INSERT rows, select-list/ORDER BY/LIMIT positions
//!   │ + parameters (+ generated ids)
//!   ▼
//! ShardPlan: targets (node, physical SQL by splicing, parameter map),
//!   kind, merge spec, generated id
//! ```
//!
//! Files: [`analyze`] (AST → Analysis), [`cond`] (key predicates and slot
//! sets), [`select`] (what a scattered SELECT needs: merge spec, hidden
//! columns, LIMIT), [`plan`] (Analysis + parameters → ShardPlan,
//! splicing), [`lex`] (byte positions), [`idgen`] (snowflake ids),
//! [`meta`] (DESCRIBE/SHOW/LOCK TABLES on logical tables, column lists),
//! [`cases`] (routing test cases run by `shardcat check`), [`load_data`]
//! (`LOAD DATA LOCAL INFILE` rows split by key).
//!
//! # Rules of placement
//!
//! - A statement may touch sharded tables of one *layout* in one slot per
//!   target: tables joined on their sharding keys (directly, through
//!   `bound_to`, or through another table with an identical layout) are
//!   pushed down together, each rewritten to the same slot's physical
//!   table. A join or subquery that would need rows from two slots is
//!   refused, unless every side is pinned to one slot on the same node.
//! - Broadcast tables are read from any node holding a copy (or, in a
//!   sharded statement, from the target's node) and written on all copies.
//! - Single-node tables (`node = "n2"`) and tables without a rule (which
//!   live on the node of their schema) are only combined with other tables
//!   on that node.

pub mod analyze;
pub mod cases;
pub mod cond;
pub mod idgen;
pub mod insert_select;
pub(crate) mod lex;
pub mod load_data;
pub mod meta;
pub mod plan;
pub mod pull_out;
pub mod select;
pub(crate) mod shape;
mod summary;
mod unique_keys;
pub use summary::RuleRow;

pub use summary::describe_merge;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;

use crate::config::Config;
use crate::placement::{KeyType, ParamValue, ShardedTable, ShardingRules};

pub use idgen::IdGenerator;

/// Where a statement runs and how the answers combine.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    /// The statements to run: one per physical table (slot) touched, or one
    /// per node holding a copy (broadcast writes, DDL on broadcast tables).
    /// Several targets may share a node; they are independent statements.
    pub targets: Vec<ShardTarget>,
    pub kind: PlanKind,
    /// For a SELECT sent to more than one target: how to merge. `None` for
    /// single-target plans and for writes (sum the affected-row counts).
    pub merge: Option<Box<MergeSpec>>,
    /// The first id generated for an INSERT that left a `[[sequence]]`
    /// column out (what `LAST_INSERT_ID()` should report), if any.
    pub generated_id: Option<u64>,
    /// True for statements that change data or schema (run on primaries).
    pub write: bool,
}

impl ShardPlan {
    /// The statement answers with rows: a read, including a locking read
    /// (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`), which runs on
    /// primaries (`write`) but is merged like any read.
    pub fn returns_rows(&self) -> bool {
        !self.write || self.merge.is_some()
    }
}

/// One statement for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTarget {
    /// Index into `config.nodes`.
    pub node: usize,
    /// The physical statement (original text with names and lists spliced;
    /// comments, hints and literals kept byte for byte).
    pub sql: String,
    /// Physical tables the statement touches (sharded and bound tables
    /// only), in order of appearance.
    pub tables: Vec<String>,
    /// For a prepared statement: for each `?` left in `sql`, in order, the
    /// index of the client's parameter to bind (lists split per shard drop
    /// parameters; a pushed-down LIMIT is inlined). Empty when `sql` has no
    /// placeholder.
    pub params: Vec<usize>,
    /// For a `LOAD DATA LOCAL INFILE` split by shard: the rows this target
    /// loads, sent when its server asks for the file.
    pub local_file: Option<LocalFile>,
}

/// The file contents a shard's `LOAD DATA LOCAL INFILE` receives.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalFile(pub Arc<Vec<u8>>);

impl fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalFile({} bytes)", self.0.len())
    }
}

/// What kind of plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanKind {
    /// Only single-node tables (and broadcast copies on that node): one
    /// target, SQL unchanged.
    Unsharded { node: usize },
    /// One shard.
    Single,
    /// Several shards: reads are merged by [`ShardPlan::merge`], writes
    /// (split INSERT rows, unkeyed UPDATE/DELETE) add their counts.
    Scatter,
    /// A write to every copy of a broadcast table (one target per node).
    Broadcast,
    /// A read of broadcast tables only: `targets[0]` runs on `nodes[0]`;
    /// the executor may run the same SQL on any node of `nodes` instead.
    BroadcastRead { nodes: Vec<usize> },
    /// DDL fanned out to every physical table (or every broadcast copy).
    Ddl,
    /// An UPDATE assigning the sharding key: the targets run the UPDATE,
    /// then rows that now carry the new key move to its table.
    KeyMove(Box<KeyMove>),
}

/// Where the rows of a sharding-key UPDATE go (see `PlanKind::KeyMove`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    /// The key column.
    pub key: String,
    /// The schema the statement qualified the table with.
    pub schema: Option<String>,
    /// The new key's SQL text: a literal as written, or `?`.
    pub value: String,
    /// For `?`: the client's parameter.
    pub value_param: Option<usize>,
    /// The physical table rows with the new key belong in.
    pub dest: MoveTable,
    /// The other physical tables the UPDATE ran on: rows that now carry
    /// the new key leave them.
    pub sources: Vec<MoveTable>,
}

/// A physical table on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTable {
    pub node: usize,
    pub table: String,
}

/// How to merge the rows of a scattered SELECT so that the client sees what
/// one server holding all rows would answer.
///
/// Shard rows have the client's columns followed by `hidden_columns`
/// columns shardcat appended. The executor:
/// 1. if `aggregate` is set, groups rows by `aggregate.group_by` (values
///    compared with the column's collation) and combines each column by
///    its [`Combine`] (with no `group_by`, every row is one group and there
///    is exactly one output row), then keeps the groups `having` accepts
///    (a cross-shard HAVING, evaluated on the combined groups: shards do
///    not apply it to their partial groups);
/// 2. if `distinct`, removes duplicate rows (over the visible columns);
/// 3. sorts by `order_by` (MySQL order: NULL first ascending, strings by
///    the column's collation). Without `aggregate` every shard already
///    returns its rows in this order, so a k-way merge suffices;
/// 4. skips `offset` rows and keeps `limit`;
/// 5. drops the hidden columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeSpec {
    pub hidden_columns: usize,
    /// Condition on the combined groups (over the shard row's columns).
    pub having: Option<crate::merge::eval::MergeExpr>,
    pub order_by: Vec<SortKey>,
    pub offset: u64,
    pub limit: Option<u64>,
    pub distinct: bool,
    pub aggregate: Option<AggregateMerge>,
    /// Columns compared by the server's weights (sort, group, DISTINCT,
    /// MIN/MAX and COUNT(DISTINCT) keys): used by the merge when the
    /// shard's column definition says the value is a collated string.
    pub weights: Box<[WeightKey]>,
    /// ENUM/SET keys ordered by their members' positions: used by the
    /// merge when the shard's column definition flags the column ENUM/SET.
    pub enum_keys: Box<[EnumKey]>,
    /// `(physical, logical)` table names: the column definitions the
    /// client sees name the logical table in `table`/`org_table`, as one
    /// server holding it would. Filled by the session from the router's
    /// names (empty in the router's own plans).
    pub logical_tables: Vec<(String, String)>,
    /// A `time_range` period table of the plan is missing: the message
    /// of the 1146 (naming the logical table and period) a shard's 1146
    /// becomes. Filled by the session (`None` in the router's plans).
    pub missing_table_message: Option<String>,
}

/// A key column whose order and equality the server defines: hidden
/// column `weight` carries `WEIGHT_STRING(expr)`, hidden column `pad` the
/// weight of one space in expr's collation when that collation is PAD
/// SPACE (NULL for NO PAD), so the merge compares weights padded as the
/// server pads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightKey {
    pub column: ColumnRef,
    pub weight: ColumnRef,
    pub pad: ColumnRef,
    /// A UNION's keys: `COLLATION(item)` of the row's branch. The weights
    /// are the union column's only if every row's branch has one
    /// collation; the merge refuses otherwise.
    pub collation: Option<ColumnRef>,
}

/// An ENUM or SET key column: hidden column `index` carries `(expr)+0`
/// (the member's position, the SET's bitmask), the order the server sorts
/// and groups ENUM/SET values by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumKey {
    pub column: ColumnRef,
    pub index: ColumnRef,
}

/// One ORDER BY key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: ColumnRef,
    pub descending: bool,
}

/// A column of the shard rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRef {
    /// 0-based position from the start of the row.
    Index(usize),
    /// The i-th hidden column: position `row_len - hidden_columns + i`
    /// (used when `SELECT *` hides how many columns come first).
    Hidden(usize),
}

/// Combining partial groups (GROUP BY not on the sharding key, or
/// aggregates without GROUP BY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateMerge {
    /// Group key columns (hidden or visible).
    pub group_by: Vec<usize>,
    /// How to combine each shard column, visible and hidden, in order.
    pub columns: Vec<Combine>,
    /// The GROUP_CONCATs ([`Combine::GroupConcat`] indexes this).
    pub concats: Vec<crate::merge::group_concat::ConcatSpec>,
    /// Expressions on aggregates ([`Combine::Computed`] indexes this),
    /// over the combined row.
    pub computed: Vec<crate::merge::eval::MergeExpr>,
}

/// How one column of partial groups combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// A group key: equal within the group.
    Group,
    /// A column neither grouped nor aggregated (MySQL picks any row's
    /// value): the first row's.
    Any,
    /// Partial `COUNT(...)`: the sum (0 when no rows).
    Count,
    /// Partial `SUM(...)`: the sum of non-NULL partials (NULL if all NULL).
    Sum,
    Min,
    Max,
    /// `AVG(x)`: this column carries `SUM(x)` partials, column `count`
    /// carries `COUNT(x)` partials; the result is sum / count (NULL when
    /// count is 0) with the scale MySQL gives AVG (the argument's scale
    /// plus `div_precision_increment`, 4 by default).
    Avg {
        count: usize,
    },
    /// `COUNT(DISTINCT a, …)` not over the sharding key: the shards also
    /// group by the arguments (hidden columns `first..first + n`), so each
    /// value reaches the proxy; the merge counts the distinct tuples of
    /// non-NULL arguments per group (under the columns' collations).
    CountDistinct {
        first: usize,
        n: usize,
    },
    /// `SUM(DISTINCT x)`: shards group by x too (hidden column `arg`), so
    /// this column carries x per (group, x); the merge adds the values of
    /// distinct x.
    SumDistinct {
        arg: usize,
    },
    /// `AVG(DISTINCT x)`: as `SumDistinct`, divided by the number of
    /// distinct values with the column's scale.
    AvgDistinct {
        arg: usize,
    },
    /// `GROUP_CONCAT(…)`: rebuilt from the values of the shards' finer
    /// groups as `concats[index]` says.
    GroupConcat {
        index: usize,
    },
    /// An expression on aggregates (`SUM(a) / COUNT(*)`): the shards
    /// compute it too (so that its column definition is the server's),
    /// the merge recomputes it from the combined aggregates as
    /// `computed[index]` says.
    Computed {
        index: usize,
    },
}

/// Why a statement cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouteError(pub String);

impl From<RouteError> for crate::error::ProxyError {
    fn from(e: RouteError) -> Self {
        crate::error::ProxyError::Routing(e.0)
    }
}

pub(crate) fn err<T>(message: impl Into<String>) -> Result<T, RouteError> {
    Err(RouteError(message.into()))
}

/// A statement quoted in an error message, shortened.
pub(crate) fn quote_sql(sql: &str) -> String {
    let one_line: String = sql
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut out: String = one_line.chars().take(120).collect();
    if out.len() < one_line.len() {
        out.push('…');
    }
    out
}

/// A logical table as the router sees it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub name: String,
    pub schema: Option<String>,
    pub kind: TableInfoKind,
}

#[derive(Debug, Clone)]
pub(crate) enum TableInfoKind {
    Sharded(Box<ShardedInfo>),
    Broadcast { nodes: Vec<usize> },
    Single { node: usize },
}

#[derive(Debug, Clone)]
pub(crate) struct ShardedInfo {
    /// Co-location class: tables with the same layout put equal keys in the
    /// same slot on the same node.
    pub layout: usize,
    /// The placement function (the root of a `bound_to` chain).
    pub root: ShardedTable,
    /// This table's key column.
    pub key: String,
    pub key_type: KeyType,
    /// Slot → (node index, physical table name).
    pub slots: Vec<(usize, String)>,
    /// The tables bound to this one (`bound_to`), by logical name.
    pub children: Vec<String>,
}

impl ShardRouter {
    /// The tables bound to table `i` (`bound_to`).
    pub(crate) fn bound_children(&self, i: usize) -> &[String] {
        self.tables[i].sharded().map_or(&[], |s| &s.children)
    }
}

impl TableInfo {
    pub fn sharded(&self) -> Option<&ShardedInfo> {
        match &self.kind {
            TableInfoKind::Sharded(s) => Some(s),
            _ => None,
        }
    }
}

/// A `[[sequence]]` column.
#[derive(Debug, Clone)]
pub(crate) struct SequenceInfo {
    pub table: usize,
    pub column: String,
}

type CacheKey = String;

/// (schema, logical table) → its column names in table order.
type ColumnCache = HashMap<(String, String), Arc<Vec<String>>>;
/// (schema, logical table) → the kinds of its columns that decide how a
/// cross-shard key compares.
type KindCache = HashMap<(String, String), Arc<TableKinds>>;

/// Column kinds of a logical table (names lower case): ENUM/SET columns
/// (sorted by member position) and *plain* ones (integer, DECIMAL,
/// temporal: compared natively, so a key on them needs no weight column).
#[derive(Debug, Default)]
pub(crate) struct TableKinds {
    pub enums: Vec<String>,
    pub plain: Vec<String>,
}

/// Statements longer than this are planned but not cached.
const MAX_CACHED_SQL: usize = 16 * 1024;
type CachedAnalysis = Arc<Result<analyze::Analysis, RouteError>>;

/// The compiled sharding rules of one configuration, with the plan cache
/// and the id generator. Build one per configuration (load and reload);
/// [`Config::parse`] does and keeps it in `config.sharding`.
pub struct ShardRouter {
    pub(crate) tables: Vec<TableInfo>,
    /// Logical names (for the lexical pre-check).
    names: HashSet<String>,
    /// Physical name → logical name.
    physical: HashMap<String, String>,
    /// Physical name of a `time_range` period → (logical, "month 202611",
    /// node index): for naming the period when its table is missing.
    periods: HashMap<String, (String, String, usize)>,
    pub(crate) node_names: Vec<String>,
    /// Schema (lower case) → node, for tables without a rule.
    schema_nodes: HashMap<String, usize>,
    pub(crate) sequences: Vec<SequenceInfo>,
    pub(crate) ids: IdGenerator,
    pub(crate) refuse_unkeyed_writes: bool,
    cache: Mutex<LruCache<CacheKey, CachedAnalysis>>,
    /// (schema, logical table) → column names in table order, for INSERT
    /// without a column list ([`meta`]). Belongs to one configuration: a
    /// reload starts empty; DDL through the proxy clears it.
    columns: Mutex<ColumnCache>,
    /// (schema, logical table) → ENUM/SET columns, for cross-shard keys
    /// that sort by member position ([`meta`]); same lifetime as `columns`.
    kinds: Mutex<KindCache>,
}

impl fmt::Debug for ShardRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardRouter")
            .field("tables", &self.tables.len())
            .field("nodes", &self.node_names)
            .finish()
    }
}

impl Default for ShardRouter {
    fn default() -> Self {
        ShardRouter {
            tables: Vec::new(),
            names: HashSet::new(),
            physical: HashMap::new(),
            periods: HashMap::new(),
            node_names: Vec::new(),
            schema_nodes: HashMap::new(),
            sequences: Vec::new(),
            ids: IdGenerator::new(0, idgen::DEFAULT_EPOCH_MS),
            refuse_unkeyed_writes: false,
            cache: Mutex::new(LruCache::new(NonZeroUsize::MIN)),
            columns: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
        }
    }
}

/// Physical name → (logical, "unit period", node) of every `time_range`
/// period table.
fn period_names(tables: &[TableInfo]) -> HashMap<String, (String, String, usize)> {
    let mut periods = HashMap::new();
    for t in tables {
        let Some(s) = t.sharded() else { continue };
        let crate::placement::Algorithm::TimeRange(time) = &s.root.algorithm else {
            continue;
        };
        for (slot, (node, name)) in s.slots.iter().enumerate() {
            if let Some((period, _)) = time.slot(slot) {
                let label = format!("{} {}", time.unit.name(), period.name());
                periods.insert(name.clone(), (t.name.clone(), label, *node));
            }
        }
    }
    periods
}

/// Same algorithm, node grid, key type and collation: equal keys land in
/// the same slot on the same node.
fn same_layout(a: &ShardedTable, b: &ShardedTable) -> bool {
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
        let mut physical = HashMap::new();
        for t in &tables {
            if let Some(s) = t.sharded() {
                for (_, name) in &s.slots {
                    physical
                        .entry(name.clone())
                        .or_insert_with(|| t.name.clone());
                }
            }
        }
        let periods = period_names(&tables);
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
            periods,
            node_names,
            schema_nodes,
            sequences: Vec::new(),
            ids: IdGenerator::new(config.id_generator.worker_id, config.id_generator.epoch_ms),
            refuse_unkeyed_writes: config.routing.refuse_unkeyed_writes,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(config.routing.plan_cache).unwrap_or(NonZeroUsize::MIN),
            )),
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

    /// The message of 1146 for a statement on `physical` tables when one of
    /// them is a `time_range` period table: names the logical table and the
    /// period instead of the physical name. `None` for other tables.
    pub fn missing_period_message(&self, physical: &[String]) -> Option<String> {
        let (name, (logical, period, node)) = physical
            .iter()
            .find_map(|name| self.periods.get(name).map(|p| (name, p)))?;
        Some(format!(
            "Table '{logical}' has no physical table for {period} yet ({name} on node {}): \
             run `shardcat tables ensure` (it creates the current and next periods' tables) \
             or create it",
            self.node_name(*node)
        ))
    }

    /// Replaces the id generator (tests, or a worker id from elsewhere).
    pub fn with_id_generator(mut self, ids: IdGenerator) -> Self {
        self.ids = ids;
        self
    }

    /// True when there are no rules at all (every statement is `Ok(None)`).
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Node names, by index.
    pub fn node_name(&self, node: usize) -> &str {
        self.node_names.get(node).map(String::as_str).unwrap_or("?")
    }

    /// The rule of `name` as seen from `schema` (a rule without a schema
    /// matches any schema; names compare exactly).
    pub(crate) fn find_table(&self, schema: Option<&str>, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| {
            t.name == name
                && match (&t.schema, schema) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
    }

    /// The node of a schema's unlisted tables (`[[schema]]`, else the first
    /// node).
    pub(crate) fn schema_node(&self, schema: Option<&str>) -> usize {
        schema
            .and_then(|s| self.schema_nodes.get(&s.to_ascii_lowercase()))
            .copied()
            .unwrap_or(0)
    }

    /// The logical table a physical table belongs to, for rewriting `SHOW
    /// TABLES` and similar answers: `orders_3` → `orders`. `None` for names
    /// that are not physical tables of a sharded or bound table (broadcast
    /// and single-node tables keep their logical names).
    pub fn logical_name_of(&self, physical: &str) -> Option<String> {
        self.physical.get(physical).cloned()
    }

    /// The physical tables of logical table `logical` (empty: not sharded).
    pub fn physical_names_of(&self, logical: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .physical
            .iter()
            .filter(|(_, l)| l.as_str() == logical)
            .map(|(p, _)| p.clone())
            .collect();
        names.sort();
        names
    }

    /// Plans `sql` for a session whose current database is
    /// `current_schema`, with `params` the values of its `?` placeholders
    /// (empty for text queries).
    ///
    /// `Ok(None)`: the statement names no table with a rule; route it as
    /// before (by schema). Errors explain what could not be routed.
    pub fn plan(
        &self,
        sql: &str,
        current_schema: Option<&str>,
        params: &[ParamValue<'_>],
    ) -> Result<Option<ShardPlan>, RouteError> {
        self.plan_with(sql, current_schema, params, false)
    }

    /// [`ShardRouter::plan`]; with `unaliased`, physical tables in a
    /// SELECT keep no logical alias (`users_0`, not `users_0 AS users`):
    /// for a session under LOCK TABLES, whose connections may use only the
    /// names they locked. Qualifiers are then renamed to the physical
    /// table.
    pub fn plan_with(
        &self,
        sql: &str,
        current_schema: Option<&str>,
        params: &[ParamValue<'_>],
        unaliased: bool,
    ) -> Result<Option<ShardPlan>, RouteError> {
        if self.tables.is_empty() {
            return Ok(None);
        }
        let scan = shape::scan(sql, |word| self.names.contains(word));
        if !scan.mentions_rule_table {
            return Ok(None);
        }
        if params.is_empty() {
            if let Some((text, literals)) = &scan.shape {
                if let Some(plan) = self.plan_shape(sql, text, literals, current_schema, unaliased)
                {
                    return Ok(plan);
                }
            }
        }
        let analysis = self.analysis(sql, current_schema);
        match analysis.as_ref() {
            Err(e) => Err(e.clone()),
            Ok(a) => plan::materialize(self, a, sql, current_schema, params, &[], unaliased),
        }
    }

    /// Plans a text statement through its shape (see [`shape`]): the
    /// cached analysis of the shape, the literals bound where the shape has
    /// placeholders, and the literals' text put back into every shard
    /// statement. `None` when that does not give a plan, including every
    /// error: the original text is then planned, so that messages quote it.
    fn plan_shape(
        &self,
        sql: &str,
        shape_text: &str,
        literals: &[shape::ShapeLiteral],
        current_schema: Option<&str>,
        unaliased: bool,
    ) -> Option<Option<ShardPlan>> {
        let analysis = self.analysis(shape_text, current_schema);
        let a = analysis.as_ref().as_ref().ok()?;
        let mut plan = plan::materialize(
            self,
            a,
            shape_text,
            current_schema,
            &[],
            literals,
            unaliased,
        )
        .ok()?;
        if let Some(plan) = &mut plan {
            for t in &mut plan.targets {
                t.sql = shape::restore(&t.sql, &t.params, sql, literals)?;
                t.params.clear();
            }
        }
        Some(plan)
    }

    /// [`ShardRouter::plan`] of a text statement without its shape: what
    /// the shape path must agree with.
    #[cfg(test)]
    pub(crate) fn plan_exact(
        &self,
        sql: &str,
        current_schema: Option<&str>,
    ) -> Result<Option<ShardPlan>, RouteError> {
        let scan = shape::scan(sql, |word| self.names.contains(word));
        if self.tables.is_empty() || !scan.mentions_rule_table {
            return Ok(None);
        }
        match self.analysis(sql, current_schema).as_ref() {
            Err(e) => Err(e.clone()),
            Ok(a) => plan::materialize(self, a, sql, current_schema, &[], &[], false),
        }
    }

    fn analysis(&self, sql: &str, current_schema: Option<&str>) -> CachedAnalysis {
        // Huge texts (bulk INSERTs) rarely repeat: not worth the memory, so
        // they are never cached, and not looked up either (the key would be
        // a copy of the whole text, up to max_allowed_packet).
        if sql.len() > MAX_CACHED_SQL {
            return Arc::new(analyze::analyze(self, sql, current_schema));
        }
        // One string key so that a lookup borrows it: `-text` without a
        // schema, `len:schema text` with one (unambiguous for any names).
        let mut key = String::with_capacity(sql.len() + 24);
        match current_schema {
            None => key.push('-'),
            Some(schema) => {
                use std::fmt::Write;
                let _ = write!(key, "{}:{schema}", schema.len());
            }
        }
        key.push_str(sql);
        use crate::ops::event_stats::{EventStats, EVENTS};
        if let Some(hit) = self.cache.lock().get(key.as_str()) {
            EventStats::bump(&EVENTS.plan_cache_hits);
            return hit.clone();
        }
        EventStats::bump(&EVENTS.plan_cache_misses);
        let fresh = Arc::new(analyze::analyze(self, sql, current_schema));
        self.cache.lock().put(key, fresh.clone());
        fresh
    }

    /// Whether any word of the text is a rule's table name.
    fn mentions_rule_table(&self, sql: &str) -> bool {
        use crate::sql::TokenKind;
        let src = sql.as_bytes();
        crate::sql::Lexer::new(src).any(|t| match t.kind {
            TokenKind::Word => self.names.contains(t.text(sql)),
            TokenKind::QuotedIdent => self
                .names
                .contains(crate::sql::lexer::unquote(t.bytes(src)).as_ref()),
            _ => false,
        })
    }

    /// A human-readable description of a plan (for `shardcat explain`).
    pub fn describe(&self, plan: &ShardPlan) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let kind = match &plan.kind {
            PlanKind::Unsharded { node } => format!("unsharded (node {})", self.node_name(*node)),
            PlanKind::Single => "single shard".to_owned(),
            PlanKind::Scatter => format!("scatter ({} targets)", plan.targets.len()),
            PlanKind::Broadcast => "broadcast write (every copy)".to_owned(),
            PlanKind::BroadcastRead { nodes } => format!(
                "broadcast read (any of {})",
                nodes
                    .iter()
                    .map(|n| self.node_name(*n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PlanKind::Ddl => format!("DDL fan-out ({} targets)", plan.targets.len()),
            PlanKind::KeyMove(m) => format!(
                "sharding-key move ({} UPDATE targets; rows with the new key go to {} on {}, \
                 leaving {})",
                plan.targets.len(),
                m.dest.table,
                self.node_name(m.dest.node),
                m.sources
                    .iter()
                    .map(|s| format!("{} on {}", s.table, self.node_name(s.node)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "kind:   {kind}{}",
            if plan.write { ", write" } else { "" }
        );
        if let Some(id) = plan.generated_id {
            let _ = writeln!(out, "generated id: {id}");
        }
        for (i, t) in plan.targets.iter().enumerate() {
            let _ = writeln!(
                out,
                "target {}: node {}{}",
                i + 1,
                self.node_name(t.node),
                if t.tables.is_empty() {
                    String::new()
                } else {
                    format!(", tables {}", t.tables.join(", "))
                }
            );
            let _ = writeln!(out, "  sql:    {}", t.sql.trim());
            if !t.params.is_empty() {
                let _ = writeln!(out, "  params: {:?}", t.params);
            }
        }
        if let Some(m) = &plan.merge {
            let _ = writeln!(out, "merge:  {}", describe_merge(m));
        }
        out
    }
}

/// [`ShardRouter::plan`] as a free function.
pub fn plan(
    sql: &str,
    current_schema: Option<&str>,
    router: &ShardRouter,
    params: &[ParamValue<'_>],
) -> Result<Option<ShardPlan>, RouteError> {
    router.plan(sql, current_schema, params)
}
