//! The plan of a *point statement*: a SELECT, UPDATE or DELETE of one
//! sharded table whose WHERE pins the key to one value (`WHERE id = ?`:
//! sysbench's point select, a prepared statement's parameter or a text
//! shape's literal). Whether an analysis is one is decided once, and its
//! target is rendered once per slot; planning it is then converting the
//! value to the key type, placing the key in a slot and copying that
//! slot's target (for a text shape, with the literal spliced back in),
//! instead of grouping references, evaluating formulas into slot sets and
//! building assignment maps per statement.
//!
//! Owns: recognising a point analysis ([`point_of`]), its per-slot
//! targets ([`PointMemo`], a part of the analysis's `TargetMemo`) and
//! [`point_plan`] / [`point_text_plan`]. Whatever the general planning
//! (`sharded`) would not answer with exactly one live slot of that table
//! (a value that converts to no key, a key no slot holds, a retired
//! period, a composite table) is left to it (`None`): the point plan is
//! always the general one (tests compare both over generated statements
//! and values). Must not render SQL itself (`splice::target` does, once
//! per slot) or choose targets any other way than `groups` would.

use std::sync::OnceLock;

use parking_lot::Mutex;

use super::super::cond::Cond;
use super::*;

/// Slots whose targets are kept (past it, targets are rendered each time).
const MAX_SLOTS: usize = 256;

/// A point analysis: the rule table of its one reference and the
/// placeholder its key is equal to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    table: usize,
    param: usize,
}

/// Whether an analysis is a point statement (decided at its first plan)
/// and its targets by slot: index `2 * slot + unaliased`.
#[derive(Default)]
pub(crate) struct PointMemo {
    point: OnceLock<Option<Point>>,
    targets: Mutex<Vec<Option<Kept>>>,
}

/// A slot's target, with the offsets of the `?` in its text (for a text
/// shape's literals: `shape::restore_at`).
#[derive(Clone)]
struct Kept {
    target: ShardTarget,
    offsets: Vec<usize>,
}

impl PointMemo {
    /// Whether the analysis was found to be a point statement.
    #[cfg(test)]
    pub(crate) fn is_point(&self) -> bool {
        matches!(self.point.get(), Some(Some(_)))
    }
}

/// The point of the analysis, if it is one: a SELECT, UPDATE or DELETE
/// (no EXPLAIN, no key or period assignment) of exactly one reference, a
/// sharded table without a period column, whose one row source's formulas
/// are `key = ?` (directly or in an AND) and otherwise unconstrained;
/// no IN list, no join, no subquery.
fn point_of(ctx: &Ctx<'_>) -> Option<Point> {
    let a = ctx.a;
    let simple = matches!(
        a.kind,
        StmtKind::Select | StmtKind::Update | StmtKind::Delete
    ) && !a.explain
        && a.key_assignment.is_none()
        && a.period_assignment.is_none()
        && a.in_lists.is_empty()
        && a.edges.is_empty()
        && a.refs.len() == 1;
    if !simple {
        return None;
    }
    let RefTable::Rule(table) = a.refs[0].table else {
        return None;
    };
    let info = ctx.router.tables.get(table)?.sharded()?;
    if info.root.composite().is_some() {
        return None;
    }
    let [rs] = a.row_sources.as_slice() else {
        return None;
    };
    if !rs.top || rs.refs != [0] || !rs.edges.is_empty() {
        return None;
    }
    let mut param = None;
    for pin in &rs.pins {
        pin_param(pin, &mut param)?;
    }
    Some(Point {
        table,
        param: param?,
    })
}

/// Adds what `c` says to `param`: `None` when it says more than
/// "the key of reference 0 equals one placeholder" (and nothing else).
fn pin_param(c: &Cond, param: &mut Option<usize>) -> Option<()> {
    match c {
        Cond::All => Some(()),
        Cond::Eq(0, Val::Param(p)) if param.is_none() => {
            *param = Some(*p);
            Some(())
        }
        Cond::And(parts) => parts.iter().try_for_each(|part| pin_param(part, param)),
        _ => None,
    }
}

/// The slot and node of a point statement's value, when the general
/// planning would choose exactly that one slot.
fn point_slot(ctx: &Ctx<'_>) -> Option<(usize, usize)> {
    let memo = &ctx.a.targets.2;
    let p = (*memo.point.get_or_init(|| point_of(ctx)))?;
    let info = ctx.router.tables.get(p.table)?.sharded()?;
    let key = ctx.convert(info.key_type, &Val::Param(p.param)).ok()??;
    let slot = ctx.slot_of(0, &key).ok()??;
    if slot >= info.slots.len() || !info.root.slot_is_live(slot) {
        return None;
    }
    Some((slot, info.slots[slot].0))
}

/// Calls `f` with the target of `slot` (rendered and kept at its first
/// use).
fn with_target<T>(
    ctx: &Ctx<'_>,
    sql: &str,
    slot: usize,
    node: usize,
    f: impl FnOnce(&Kept) -> T,
) -> Result<T, RouteError> {
    let render = || {
        let asg = Assignment {
            node,
            slot: HashMap::from([(0, slot)]),
        };
        let target = target(ctx, sql, &asg, &[], &[])?;
        let offsets = super::super::shape::placeholder_offsets(&target.sql);
        Ok::<_, RouteError>(Kept { target, offsets })
    };
    if slot >= MAX_SLOTS {
        return Ok(f(&render()?));
    }
    let at = 2 * slot + usize::from(ctx.unaliased);
    let kept = &ctx.a.targets.2.targets;
    if let Some(Some(t)) = kept.lock().get(at) {
        return Ok(f(t));
    }
    let fresh = render()?;
    let out = f(&fresh);
    let mut kept = kept.lock();
    if kept.len() <= at {
        kept.resize(at + 1, None);
    }
    kept[at] = Some(fresh);
    Ok(out)
}

fn single(ctx: &Ctx<'_>, target: ShardTarget) -> ShardPlan {
    ShardPlan {
        targets: vec![target],
        kind: PlanKind::Single,
        merge: None,
        generated_id: None,
        write: ctx.a.write,
    }
}

/// The plan of a point statement (`None`: not one, or its value needs the
/// general planning).
pub(super) fn point_plan(ctx: &Ctx<'_>, sql: &str) -> Result<Option<ShardPlan>, RouteError> {
    let Some((slot, node)) = point_slot(ctx) else {
        return Ok(None);
    };
    let target = with_target(ctx, sql, slot, node, |k| k.target.clone())?;
    Ok(Some(single(ctx, target)))
}

/// [`point_plan`] of a text statement planned through its shape
/// (`shape_sql`, with `literals` of `original`): the target's text with
/// the literals put back, as `ShardRouter::plan_shape` does to every
/// target. `None`: not a point statement, or anything failed (the caller
/// plans it the general way, which reports the same).
pub(crate) fn point_text_plan(
    router: &ShardRouter,
    a: &Analysis,
    shape_sql: &str,
    original: &str,
    literals: &[ShapeLiteral],
    unaliased: bool,
) -> Option<ShardPlan> {
    let ctx = Ctx::of_shape(router, a, literals, unaliased)?;
    let (slot, node) = point_slot(&ctx)?;
    let target = with_target(&ctx, shape_sql, slot, node, |k| {
        let t = &k.target;
        let sql =
            super::super::shape::restore_at(&t.sql, &k.offsets, &t.params, original, literals)?;
        Some(ShardTarget {
            node: t.node,
            sql,
            tables: t.tables.clone(),
            params: Default::default(),
            local_file: None,
            rows: None,
        })
    })
    .ok()??;
    Some(single(&ctx, target))
}
