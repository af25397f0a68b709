//! The rendered physical statement of a target, kept with the cached
//! analysis it came from, so that a statement shape (or a prepared
//! statement) planned again for a slot it already went to does not
//! splice its text again: `WHERE id = ?` of sysbench's point select is
//! rendered once per physical table, then copied.
//!
//! A prepared statement keeps more: its analysis itself
//! ([`PreparedShape`], held by the client statement), so that an execute
//! neither scans the text for rule tables nor looks the analysis up in the
//! router's cache (a copy of the text hashed per execute); it is kept while
//! the router, the current schema and the router's analysis generation are
//! the same.
//!
//! A scattered read keeps more too: its whole plan (every target's text
//! with the merge's hidden columns and pushed-down LIMIT, the merge
//! spec), by the targets' assignments and the LIMIT values, so that
//! sysbench's `BETWEEN ? AND ?` selects over both nodes neither splice
//! their targets nor clone and edit the merge recipe per statement
//! ([`memo_scatter`]).
//!
//! The point plan of a point statement (`point`) and the kept plans of a
//! range scatter (`range`) are kept here too, as the third and fourth
//! parts of the memo, with the same lifetime.
//!
//! Owns: the memo ([`TargetMemo`], a field of the `Analysis`) and
//! [`memo_target`], which answers from it or renders through
//! `splice::target` and remembers; [`memo_scatter`] and
//! [`remember_scatter`]; [`PreparedShape`] and
//! [`ShardRouter::plan_prepared`]. Only targets without per-parameter
//! edits are kept (no `IN` lists cut per slot); what such a target's text
//! depends on is fixed by the analysis (its text, schema and rules) and
//! the key the memo compares: the node, the slot of every sharded
//! reference, `unaliased` and, for a scatter, the LIMIT values. The
//! memo lives and dies with its analysis: a reload (new router), a
//! placement change (new router) or learned column lists or kinds (the
//! router's cache cleared, prepared statements' kept analyses dropped by
//! the generation) start empty. Must not choose targets or change what
//! `splice::target` renders.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::*;

/// Targets kept per analysis: a shape usually goes to every physical
/// table of its table in time; past this many, the others are rendered
/// each time (a `time_range` table with years of periods).
const MAX_TARGETS: usize = 64;

/// Scatter plans kept per analysis (a shape usually scatters to one set
/// of slots: every slot of its table).
const MAX_SCATTERS: usize = 16;

/// Rendered targets of one analysis, by assignment, its scatter plans,
/// and its point plan (`point`).
#[derive(Default)]
pub(crate) struct TargetMemo(
    Mutex<Vec<Entry>>,
    Mutex<Vec<ScatterEntry>>,
    pub(super) super::PointMemo,
    pub(super) super::RangeMemo,
);

/// A scatter plan: its assignments (node, sorted slots) in order and the
/// LIMIT values it was planned with.
struct ScatterEntry {
    sql_len: usize,
    unaliased: bool,
    limits: Option<(u64, u64)>,
    assignments: Vec<(usize, Vec<(RefId, usize)>)>,
    targets: Vec<ShardTarget>,
    merge: Option<Arc<MergeSpec>>,
}

/// The slot of every reference of an assignment, sorted by reference.
fn sorted_slots(asg: &Assignment) -> Vec<(RefId, usize)> {
    let mut slots: Vec<(RefId, usize)> = asg.slot.iter().map(|(&r, &s)| (r, s)).collect();
    slots.sort_unstable();
    slots
}

/// Whether `asg` is the assignment `(node, slots)`.
fn same_assignment(node: usize, slots: &[(RefId, usize)], asg: &Assignment) -> bool {
    node == asg.node
        && slots.len() == asg.slot.len()
        && slots.iter().all(|(r, s)| asg.slot.get(r) == Some(s))
}

impl ScatterEntry {
    fn matches(
        &self,
        sql: &str,
        unaliased: bool,
        limits: Option<(u64, u64)>,
        assignments: &[Assignment],
    ) -> bool {
        self.sql_len == sql.len()
            && self.unaliased == unaliased
            && self.limits == limits
            && self.assignments.len() == assignments.len()
            && self
                .assignments
                .iter()
                .zip(assignments)
                .all(|((node, slots), asg)| same_assignment(*node, slots, asg))
    }
}

struct Entry {
    /// Length of the text rendered from (the analysis's own text; checked
    /// as a guard).
    sql_len: usize,
    unaliased: bool,
    node: usize,
    /// The slot of every reference, sorted by reference.
    slots: Vec<(RefId, usize)>,
    target: ShardTarget,
}

impl Entry {
    fn matches(&self, sql: &str, unaliased: bool, asg: &Assignment) -> bool {
        self.sql_len == sql.len()
            && self.unaliased == unaliased
            && same_assignment(self.node, &self.slots, asg)
    }
}

impl TargetMemo {
    /// How many scatter plans it keeps.
    #[cfg(test)]
    pub(crate) fn scatters(&self) -> usize {
        self.1.lock().len()
    }

    /// Whether the analysis was planned as a point statement.
    #[cfg(test)]
    pub(crate) fn is_point(&self) -> bool {
        self.2.is_point()
    }

    /// Whether the analysis was planned as a range scatter.
    #[cfg(test)]
    pub(crate) fn is_range(&self) -> bool {
        self.3.is_range()
    }
}

/// A clone of an analysis (it is cached behind an `Arc`; clones are made
/// only by tests) starts with an empty memo.
impl Clone for TargetMemo {
    fn clone(&self) -> Self {
        TargetMemo::default()
    }
}

impl fmt::Debug for TargetMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TargetMemo({} targets, {} scatters)",
            self.0.lock().len(),
            self.1.lock().len()
        )
    }
}

/// `splice::target(ctx, sql, asg, &[], &[])`, from the analysis's memo
/// when this assignment was rendered before.
pub(super) fn memo_target(
    ctx: &Ctx<'_>,
    sql: &str,
    asg: &Assignment,
) -> Result<ShardTarget, RouteError> {
    let memo = &ctx.a.targets;
    if let Some(e) = memo
        .0
        .lock()
        .iter()
        .find(|e| e.matches(sql, ctx.unaliased, asg))
    {
        return Ok(e.target.clone());
    }
    let fresh = target(ctx, sql, asg, &[], &[])?;
    let mut entries = memo.0.lock();
    if entries.len() < MAX_TARGETS && !entries.iter().any(|e| e.matches(sql, ctx.unaliased, asg)) {
        entries.push(Entry {
            sql_len: sql.len(),
            unaliased: ctx.unaliased,
            node: asg.node,
            slots: sorted_slots(asg),
            target: fresh.clone(),
        });
    }
    Ok(fresh)
}

/// The targets and merge spec of a scatter planned before from this
/// analysis with these assignments (in this order) and LIMIT values
/// (`limits`: `(limit, offset)` as resolved, `None` without a LIMIT).
pub(super) fn memo_scatter(
    ctx: &Ctx<'_>,
    sql: &str,
    limits: Option<(u64, u64)>,
    assignments: &[Assignment],
) -> Option<(Vec<ShardTarget>, Option<Arc<MergeSpec>>)> {
    let memo = ctx.a.targets.1.lock();
    let e = memo
        .iter()
        .find(|e| e.matches(sql, ctx.unaliased, limits, assignments))?;
    Some((e.targets.clone(), e.merge.clone()))
}

/// Keeps a scatter plan for [`memo_scatter`].
pub(super) fn remember_scatter(
    ctx: &Ctx<'_>,
    sql: &str,
    limits: Option<(u64, u64)>,
    assignments: &[Assignment],
    targets: &[ShardTarget],
    merge: Option<&Arc<MergeSpec>>,
) {
    let mut memo = ctx.a.targets.1.lock();
    if memo.len() >= MAX_SCATTERS
        || memo
            .iter()
            .any(|e| e.matches(sql, ctx.unaliased, limits, assignments))
    {
        return;
    }
    memo.push(ScatterEntry {
        sql_len: sql.len(),
        unaliased: ctx.unaliased,
        limits,
        assignments: assignments
            .iter()
            .map(|a| (a.node, sorted_slots(a)))
            .collect(),
        targets: targets.to_vec(),
        merge: merge.cloned(),
    });
}

/// What a prepared statement keeps of its planning between executes: the
/// analysis of its text under one router, schema and analysis generation
/// (`None`: the text names no rule table). Empty until the first execute.
#[derive(Default)]
pub struct PreparedShape {
    router: Weak<ShardRouter>,
    generation: u64,
    schema: Option<String>,
    analysis: Option<super::super::CachedAnalysis>,
    /// The text has none of the words after which a merge may compare
    /// ENUM/SET columns (`ORDER`, `GROUP`, `DISTINCT`): executes need no
    /// column kinds (`ShardRouter::kinds_needed` would find none).
    sortless: bool,
}

impl fmt::Debug for PreparedShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedShape")
            .field("schema", &self.schema)
            .field("kept", &self.analysis.is_some())
            .finish()
    }
}

impl PreparedShape {
    /// Whether the statement's text was seen to have no `ORDER`, `GROUP`
    /// or `DISTINCT` (false until the first execute planned it).
    pub fn is_sortless(&self) -> bool {
        self.sortless
    }

    /// Whether it was made under `router`, its current generation and
    /// `schema`. (A `Weak` keeps the router's allocation, so another
    /// router never reuses its address while this one is held.)
    fn is_for(&self, router: &Arc<ShardRouter>, generation: u64, schema: Option<&str>) -> bool {
        std::ptr::eq(self.router.as_ptr(), Arc::as_ptr(router))
            && self.generation == generation
            && self.schema.as_deref() == schema
    }
}

impl ShardRouter {
    /// [`ShardRouter::plan`] of a prepared statement's text with its
    /// parameter values, the text's analysis taken from (or put into)
    /// `kept`: the same plan, without the scan and the cache lookup per
    /// execute. Statements without parameters are planned as texts (their
    /// shape is the text's).
    pub fn plan_prepared(
        self: &Arc<Self>,
        kept: &mut PreparedShape,
        sql: &str,
        current_schema: Option<&str>,
        params: &[ParamValue<'_>],
    ) -> Result<Option<ShardPlan>, RouteError> {
        if params.is_empty() {
            return self.plan(sql, current_schema, params);
        }
        // Read before the analysis is made: a clear after it is seen.
        let generation = self.generation.load(Ordering::Acquire);
        if !kept.is_for(self, generation, current_schema) {
            let mentions = !self.tables.is_empty()
                && super::super::shape::scan(sql, |word| self.names.contains(word))
                    .mentions_rule_table;
            *kept = PreparedShape {
                router: Arc::downgrade(self),
                generation,
                schema: current_schema.map(str::to_owned),
                analysis: mentions.then(|| self.analysis(sql, current_schema)),
                sortless: !["order", "group", "distinct"].iter().any(|k| {
                    crate::sql::search::contains_ignore_case(sql.as_bytes(), k.as_bytes())
                }),
            };
        }
        match kept.analysis.as_deref() {
            None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(a)) => materialize(self, a, sql, current_schema, params, &[], false),
        }
    }
}
