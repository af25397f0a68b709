//! The plan of a *range scatter*: a SELECT of one sharded table whose
//! WHERE constrains only that table's key (sysbench's `id BETWEEN ? AND
//! ?+99`, with or without SUM, ORDER BY, DISTINCT, LIMIT) and whose
//! values reach several slots. Whether an analysis is one is decided
//! once; its plans are kept per set of slots, `unaliased` and LIMIT
//! values — the only things the general planning's answer depends on
//! for such a statement — with the targets' placeholder offsets and one
//! shared merge recipe. Planning it is then evaluating the key formula
//! into slots and copying the kept targets (for a text shape, with the
//! literals spliced back in), instead of grouping references, building
//! an assignment map per slot and matching them against the scatter
//! memo per statement.
//!
//! Owns: recognising a range analysis ([`range_of`]), its kept plans
//! ([`RangeMemo`], a part of the analysis's `TargetMemo`), and
//! [`range_plan`] / [`range_text_plan`]. A plan is kept only as the
//! general planning (`sharded`) made it, at its first use for those slots
//! and values; values reaching fewer than two live slots, errors and
//! other statements are left to the general planning (`None`). Tests
//! compare both over generated statements and values.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::sharded::{scatter_limits, sharded};
use super::*;

/// Plans kept per analysis (a shape usually scatters to one set of
/// slots: every slot of its table).
const MAX_KEPT: usize = 16;

/// Whether an analysis is a range scatter (decided at its first plan) and
/// its kept plans.
#[derive(Default)]
pub(crate) struct RangeMemo {
    range: OnceLock<Option<usize>>,
    kept: Mutex<Vec<Kept>>,
}

impl RangeMemo {
    /// Whether the analysis was found to be a range scatter.
    #[cfg(test)]
    pub(crate) fn is_range(&self) -> bool {
        matches!(self.range.get(), Some(Some(_)))
    }
}

/// A plan kept for one set of slots, `unaliased` and LIMIT values.
struct Kept {
    slots: Vec<usize>,
    unaliased: bool,
    limits: Option<(u64, u64)>,
    plan: Arc<KeptPlan>,
}

/// The general planning's scatter, with each target's `?` offsets.
struct KeptPlan {
    targets: Vec<ShardTarget>,
    offsets: Vec<Vec<usize>>,
    merge: Option<Arc<MergeSpec>>,
}

/// The rule table of a range analysis: a SELECT (no EXPLAIN) of exactly
/// one reference, a sharded table without a period column, in one row
/// source whose formulas name only it; no IN list (cut per slot), join,
/// subquery, outer-join copy or scatter blocker.
fn range_of(ctx: &Ctx<'_>) -> Option<usize> {
    let a = ctx.a;
    let simple = a.kind == StmtKind::Select
        && !a.explain
        && a.key_assignment.is_none()
        && a.period_assignment.is_none()
        && a.in_lists.is_empty()
        && a.edges.is_empty()
        && a.outer_copies.is_empty()
        && a.scatter_blockers.is_empty()
        && a.refs.len() == 1
        && matches!(a.select, Some(Ok(_)));
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
    (rs.top && rs.refs == [0] && rs.edges.is_empty()).then_some(table)
}

/// The live slots the statement's values reach, as `groups` finds them
/// for its one reference (`None`: not a range analysis).
fn range_slots(ctx: &Ctx<'_>) -> Option<Vec<usize>> {
    let memo = &ctx.a.targets.3;
    let table = (*memo.range.get_or_init(|| range_of(ctx)))?;
    let info = ctx.router.tables.get(table)?.sharded()?;
    let rs = ctx.a.row_sources.first()?;
    let member = |r: RefId| r == 0;
    let mut slots = Slots::All;
    for pin in &rs.pins {
        slots = slots.intersect(pin.eval(ctx, &member));
    }
    let count = info.slots.len();
    let mut list = slots.to_vec(count);
    list.retain(|slot| info.root.slot_is_live(*slot));
    if list.is_empty() && count > 0 {
        list.push(info.root.first_live_slot());
    }
    Some(list)
}

/// The kept plan for the statement's slots and LIMIT values, planned the
/// general way and kept at its first use. `None`: not a range scatter
/// (fewer than two slots, an error, another kind of plan).
fn kept_plan(ctx: &Ctx<'_>, sql: &str) -> Option<Arc<KeptPlan>> {
    let slots = range_slots(ctx)?;
    if slots.len() < 2 {
        return None;
    }
    let limits = scatter_limits(ctx).ok()?;
    let memo = &ctx.a.targets.3.kept;
    let found = |k: &&Kept| k.unaliased == ctx.unaliased && k.limits == limits && k.slots == slots;
    if let Some(k) = memo.lock().iter().find(found) {
        return Some(k.plan.clone());
    }
    let plan = sharded(ctx, sql).ok()?;
    if plan.kind != PlanKind::Scatter || plan.targets.len() != slots.len() {
        return None;
    }
    let offsets = plan
        .targets
        .iter()
        .map(|t| super::super::shape::placeholder_offsets(&t.sql))
        .collect();
    let kept = Arc::new(KeptPlan {
        targets: plan.targets,
        offsets,
        merge: plan.merge,
    });
    let mut memo = memo.lock();
    if memo.len() < MAX_KEPT && !memo.iter().any(|k| found(&k)) {
        memo.push(Kept {
            slots,
            unaliased: ctx.unaliased,
            limits,
            plan: kept.clone(),
        });
    }
    Some(kept)
}

fn scatter(ctx: &Ctx<'_>, targets: Vec<ShardTarget>, kept: &KeptPlan) -> ShardPlan {
    ShardPlan {
        targets,
        kind: PlanKind::Scatter,
        merge: kept.merge.clone(),
        generated_id: None,
        write: ctx.a.write,
    }
}

/// The plan of a range scatter (`None`: not one; the caller plans it the
/// general way).
pub(super) fn range_plan(ctx: &Ctx<'_>, sql: &str) -> Option<ShardPlan> {
    let kept = kept_plan(ctx, sql)?;
    Some(scatter(ctx, kept.targets.clone(), &kept))
}

/// [`range_plan`] of a text statement planned through its shape
/// (`shape_sql`, with `literals` of `original`): every target's text with
/// the literals put back, as `ShardRouter::plan_shape` does. `None`: not a
/// range scatter, or anything failed (the caller plans it the general
/// way, which reports the same).
pub(crate) fn range_text_plan(
    router: &ShardRouter,
    a: &Analysis,
    shape_sql: &str,
    original: &str,
    literals: &[ShapeLiteral],
    unaliased: bool,
) -> Option<ShardPlan> {
    let ctx = Ctx::of_shape(router, a, literals, unaliased)?;
    let kept = kept_plan(&ctx, shape_sql)?;
    let mut targets = Vec::with_capacity(kept.targets.len());
    for (t, offsets) in kept.targets.iter().zip(&kept.offsets) {
        let sql = super::super::shape::restore_at(&t.sql, offsets, &t.params, original, literals)?;
        targets.push(ShardTarget {
            node: t.node,
            sql,
            tables: t.tables.clone(),
            params: Default::default(),
            local_file: t.local_file.clone(),
            rows: t.rows.clone(),
        });
    }
    Some(scatter(&ctx, targets, &kept))
}
