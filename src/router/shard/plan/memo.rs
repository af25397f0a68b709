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
//! Owns: the memo ([`TargetMemo`], a field of the `Analysis`) and
//! [`memo_target`], which answers from it or renders through
//! `splice::target` and remembers; [`PreparedShape`] and
//! [`ShardRouter::plan_prepared`]. Only targets without edits are kept
//! (no merge columns, no `IN` lists cut per slot: those depend on the
//! parameters); what such a target's text depends on is fixed by the
//! analysis (its text, schema and rules) and the key the memo compares:
//! the node, the slot of every sharded reference and `unaliased`. Must
//! not choose targets or change what `splice::target` renders.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::*;

/// Targets kept per analysis: a shape usually goes to every physical
/// table of its table in time; past this many, the others are rendered
/// each time (a `time_range` table with years of periods).
const MAX_TARGETS: usize = 64;

/// Rendered targets of one analysis, by assignment.
#[derive(Default)]
pub(crate) struct TargetMemo(Mutex<Vec<Entry>>);

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
            && self.node == asg.node
            && self.slots.len() == asg.slot.len()
            && self.slots.iter().all(|(r, s)| asg.slot.get(r) == Some(s))
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
        write!(f, "TargetMemo({} targets)", self.0.lock().len())
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
        let mut slots: Vec<(RefId, usize)> = asg.slot.iter().map(|(&r, &s)| (r, s)).collect();
        slots.sort_unstable();
        entries.push(Entry {
            sql_len: sql.len(),
            unaliased: ctx.unaliased,
            node: asg.node,
            slots,
            target: fresh.clone(),
        });
    }
    Ok(fresh)
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
            };
        }
        match kept.analysis.as_deref() {
            None => Ok(None),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(a)) => materialize(self, a, sql, current_schema, params, &[], false),
        }
    }
}
