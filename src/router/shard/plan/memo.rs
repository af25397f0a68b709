//! The rendered physical statement of a target, kept with the cached
//! analysis it came from, so that a statement shape (or a prepared
//! statement) planned again for a slot it already went to does not
//! splice its text again: `WHERE id = ?` of sysbench's point select is
//! rendered once per physical table, then copied.
//!
//! Owns: the memo ([`TargetMemo`], a field of the `Analysis`) and
//! [`memo_target`], which answers from it or renders through
//! `splice::target` and remembers. Only targets without edits are kept
//! (no merge columns, no `IN` lists cut per slot: those depend on the
//! parameters); what such a target's text depends on is fixed by the
//! analysis (its text, schema and rules) and the key the memo compares:
//! the node, the slot of every sharded reference and `unaliased`. Must
//! not choose targets or change what `splice::target` renders.

use std::fmt;

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
