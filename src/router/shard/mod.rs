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
//! (`LOAD DATA LOCAL INFILE` rows split by key), `text_shapes` (a
//! session's kept text shapes: a text sent again with other literals
//! planned from its shape's analysis), [`plan_types`] and
//! [`merge_spec`] (the plan and merge data the executor reads),
//! `build` (rules → router), `describe` (explain text).
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
mod build;
pub mod cases;
pub mod cond;
mod describe;
pub mod idgen;
pub mod insert_select;
pub(crate) mod lex;
pub mod load_data;
mod merge_spec;
pub mod meta;
mod names_hash;
pub mod node_union;
mod period_tables;
pub mod plan;
mod plan_types;
pub mod pull_out;
pub mod select;
pub(crate) mod shape;
mod summary;
mod text_shapes;
mod unique_keys;
pub use merge_spec::{AggregateMerge, ColumnRef, Combine, EnumKey, MergeSpec, SortKey, WeightKey};
pub use plan::PreparedShape;
pub use plan_types::{
    KeyMove, LocalFile, MoveSource, MoveTable, MoveValue, PlanKind, ShardPlan, ShardTarget,
    TargetTables,
};
pub use summary::RuleRow;
pub use text_shapes::{KeepShape, TextShapes};

pub use summary::describe_merge;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;

use crate::placement::{KeyType, ParamValue, ShardedTable};

pub use idgen::IdGenerator;

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

/// The rules' logical table names, looked up for every word of every
/// statement (the lexical pre-check): a word is hashed only when some
/// name has its length, so most words (`SELECT`, `c`, `WHERE`) cost a
/// bit test.
#[derive(Debug, Default)]
pub(crate) struct RuleNames {
    set: HashSet<String>,
    /// Bit `n`: a name of `n` bytes (bit 127: 127 bytes or more).
    lengths: u128,
}

impl RuleNames {
    fn length_bit(len: usize) -> u128 {
        1u128 << len.min(127)
    }

    /// Whether `word` is a rule's table name.
    pub(crate) fn contains(&self, word: &str) -> bool {
        self.lengths & Self::length_bit(word.len()) != 0 && self.set.contains(word)
    }
}

impl FromIterator<String> for RuleNames {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Self {
        let mut out = RuleNames::default();
        for name in names {
            out.lengths |= Self::length_bit(name.len());
            out.set.insert(name);
        }
        out
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
    /// Columns a UNION types otherwise than the table (ENUM/SET, TEXT/BLOB,
    /// JSON, geometry): a read naming them stays out of `node_union`.
    pub retyped: Vec<String>,
}

/// Statements longer than this are planned but not cached.
const MAX_CACHED_SQL: usize = 16 * 1024;
type CachedAnalysis = Arc<Result<analyze::Analysis, RouteError>>;

/// `(physical, logical)` table names: what the session renames in column
/// definitions ([`ShardRouter::logical_names`]).
pub type LogicalNames = Arc<[(String, String)]>;

/// The compiled sharding rules of one configuration, with the plan cache
/// and the id generator. Build one per configuration (load and reload);
/// [`crate::config::Config::parse`] does and keeps it in `config.sharding`.
pub struct ShardRouter {
    pub(crate) tables: Vec<TableInfo>,
    /// Logical names (for the lexical pre-check).
    names: RuleNames,
    /// Physical name → `[(physical, logical)]`: the names a plan of that
    /// table alone hands the session for its column definitions
    /// ([`ShardRouter::logical_names`]), shared rather than built per
    /// statement.
    physical: names_hash::NameMap<String, LogicalNames>,
    /// Physical name of a `time_range` or composite period table →
    /// (logical, "month 202611", node index): for naming the period when
    /// its table is missing.
    periods: names_hash::NameMap<String, (String, String, usize)>,
    /// An empty [`LogicalNames`] to hand out.
    no_names: LogicalNames,
    /// Physical name of a composite period table → its rule table.
    composite_periods: HashMap<String, usize>,
    /// Composite period tables known to exist ([`period_tables`]).
    present: Mutex<period_tables::PresentTables>,
    pub(crate) node_names: Vec<String>,
    /// Schema (lower case) → node, for tables without a rule.
    schema_nodes: HashMap<String, usize>,
    pub(crate) sequences: Vec<SequenceInfo>,
    pub(crate) ids: IdGenerator,
    pub(crate) refuse_unkeyed_writes: bool,
    cache: Mutex<LruCache<CacheKey, CachedAnalysis>>,
    /// Bumped whenever `cache` is cleared (learned column lists or kinds
    /// change analyses): prepared statements keep their analysis while it
    /// is unchanged ([`PreparedShape`]).
    generation: std::sync::atomic::AtomicU64,
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
            names: RuleNames::default(),
            physical: Default::default(),
            no_names: LogicalNames::from(Vec::new()),
            periods: Default::default(),
            composite_periods: HashMap::new(),
            present: Mutex::new(Default::default()),
            node_names: Vec::new(),
            schema_nodes: HashMap::new(),
            sequences: Vec::new(),
            ids: IdGenerator::new(0, idgen::DEFAULT_EPOCH_MS),
            refuse_unkeyed_writes: false,
            cache: Mutex::new(LruCache::new(NonZeroUsize::MIN)),
            generation: Default::default(),
            columns: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
        }
    }
}

impl ShardRouter {
    /// The message of 1146 for a statement on `physical` tables when one of
    /// them is a `time_range` period table: names the logical table and the
    /// period instead of the physical name. `None` for other tables.
    pub fn missing_period_message(&self, physical: &[String]) -> Option<String> {
        if self.periods.is_empty() {
            return None;
        }
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

    /// The named message of a server's 1146 (`Table 'db.events_1_202603'
    /// doesn't exist`) when the table it names is a period table; `None`
    /// otherwise.
    pub fn missing_period_in_error(&self, server_message: &str) -> Option<String> {
        let quoted = server_message.split('\'').nth(1)?;
        let table = quoted.rsplit('.').next()?;
        self.missing_period_message(&[table.to_owned()])
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
        self.physical.get(physical).map(|n| n[0].1.clone())
    }

    /// `(physical, logical)` names of the physical tables among `tables`
    /// whose logical name differs, each once, in order of appearance; for
    /// one such table (a point statement's), the router's shared list.
    pub fn logical_names<'t>(&self, tables: impl IntoIterator<Item = &'t String>) -> LogicalNames {
        let mut first: Option<&LogicalNames> = None;
        let mut more: Vec<(String, String)> = Vec::new();
        for physical in tables {
            let Some(pair) = self.physical.get(physical.as_str()) else {
                continue;
            };
            let (p, l) = &pair[0];
            if p == l || first.is_some_and(|f| f[0].0 == *p) || more.iter().any(|(m, _)| m == p) {
                continue;
            }
            match first {
                None => first = Some(pair),
                Some(f) => {
                    if more.is_empty() {
                        more.push(f[0].clone());
                    }
                    more.push(pair[0].clone());
                }
            }
        }
        match first {
            _ if !more.is_empty() => more.into(),
            Some(one) => one.clone(),
            None => self.no_names.clone(),
        }
    }

    /// The physical tables of logical table `logical` (empty: not sharded).
    pub fn physical_names_of(&self, logical: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .physical
            .iter()
            .filter(|(_, n)| n[0].1 == logical)
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
        self.plan_with_tokens(sql, None, current_schema, params, unaliased)
    }

    /// [`ShardRouter::plan_with`], given the text's significant tokens
    /// from a default-mode lexer pass when the caller has them
    /// ([`KeptTokens`](crate::sql::classify::KeptTokens)): the shape scan
    /// then does not lex the text again.
    pub fn plan_with_tokens(
        &self,
        sql: &str,
        tokens: Option<&[crate::sql::Token]>,
        current_schema: Option<&str>,
        params: &[ParamValue<'_>],
        unaliased: bool,
    ) -> Result<Option<ShardPlan>, RouteError> {
        if self.tables.is_empty() {
            return Ok(None);
        }
        let is_rule_table = |word: &str| self.names.contains(word);
        let scan = match tokens {
            Some(tokens) => shape::scan_tokens(sql, tokens, is_rule_table),
            None => shape::scan(sql, is_rule_table),
        };
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
        self.plan_shape_with(a, sql, shape_text, literals, current_schema, unaliased)
    }

    /// [`ShardRouter::plan_shape`] with the shape's analysis `a`.
    fn plan_shape_with(
        &self,
        a: &analyze::Analysis,
        sql: &str,
        shape_text: &str,
        literals: &[shape::ShapeLiteral],
        current_schema: Option<&str>,
        unaliased: bool,
    ) -> Option<Option<ShardPlan>> {
        // A point statement: its slot's target with the literal put back.
        if let Some(plan) = plan::point_text_plan(self, a, shape_text, sql, literals, unaliased) {
            return Some(Some(plan));
        }
        // A range scatter: its slots' kept targets with the literals put
        // back.
        if let Some(plan) = plan::range_text_plan(self, a, shape_text, sql, literals, unaliased) {
            return Some(Some(plan));
        }
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
        // schema, `len:schema text` with one (unambiguous for any names),
        // built in a per-thread buffer (copied only to be kept).
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let hit = KEY.with(|key| {
            let mut key = key.borrow_mut();
            key.clear();
            match current_schema {
                None => key.push('-'),
                Some(schema) => {
                    use std::fmt::Write;
                    let _ = write!(key, "{}:{schema}", schema.len());
                }
            }
            key.push_str(sql);
            match self.cache.lock().get(key.as_str()) {
                Some(hit) => Ok(hit.clone()),
                None => Err(key.clone()),
            }
        });
        use crate::ops::event_stats::{EventStats, EVENTS};
        let key = match hit {
            Ok(hit) => {
                EventStats::bump(&EVENTS.plan_cache_hits);
                return hit;
            }
            Err(key) => key,
        };
        EventStats::bump(&EVENTS.plan_cache_misses);
        let fresh = Arc::new(analyze::analyze(self, sql, current_schema));
        self.cache.lock().put(key, fresh.clone());
        fresh
    }

    /// Drops every cached analysis (they were made with column lists or
    /// kinds that changed), and tells prepared statements so.
    fn forget_analyses(&self) {
        self.cache.lock().clear();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
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
