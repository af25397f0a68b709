//! SELECT / UPDATE / DELETE on sharded tables: the slots each key group
//! needs, one target per slot combination, and the merge recipe of a
//! scattered SELECT with its LIMIT resolved.
//!
//! Owns: [`sharded`] and [`scatter_merge`] (a scatter's plan is kept per
//! analysis by `memo`). Must not plan INSERT, DDL or
//! per-branch UNIONs (see `insert`, `ddl`, `union`).

use std::sync::Arc;

use super::*;

// ----- SELECT / UPDATE / DELETE on sharded tables -----

pub(super) fn sharded(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let mut global = UnionFind::new(a.refs.len());
    for &(x, y) in &a.edges {
        global.union(x, y);
    }
    let tops: Vec<&RowSource> = a.row_sources.iter().filter(|r| r.top).collect();
    let subs: Vec<&RowSource> = a.row_sources.iter().filter(|r| !r.top).collect();

    // Targets from the statement's own rows.
    let (top_groups, fixed_branch) = top_row_groups(ctx, sql, &tops)?;
    if let Some(plan) = union_parts(ctx, sql, &tops, &subs)? {
        return Ok(plan);
    }
    let branch_without_shards = tops.len() > 1
        && tops
            .iter()
            .any(|rs| rs.refs.iter().all(|&r| ctx.sharded(r).is_none()));
    let mut unkeyed = false;
    let mut assignments: Vec<Assignment> = Vec::new();
    if fixed_branch {
        assignments.extend(one_slot_per_side(ctx, sql, &top_groups)?);
    } else if !top_groups.is_empty() {
        (assignments, unkeyed) = keyed_slots(ctx, sql, &top_groups)?;
    }

    // Subqueries: tied to the outer rows by key equality, or in one slot.
    tie_subqueries(ctx, sql, &mut global, &top_groups, &subs, &mut assignments)?;
    if assignments.is_empty() {
        return err(format!("internal: no target for {}", quote_sql(sql)));
    }

    // Writes.
    if a.write && !a.explain && a.kind != StmtKind::Select {
        check_sharded_write(ctx, sql, assignments.len(), unkeyed)?;
    }

    // `IN` lists cut to each target's slot.
    let mut in_lists = Vec::with_capacity(assignments.len());
    for asg in &assignments {
        in_lists.push(in_list_edits(ctx, asg)?);
    }
    // A scatter planned before to the same slots (and LIMIT values): its
    // targets and merge, unless lists were cut per slot.
    let memo_key = (assignments.len() > 1 && in_lists.iter().all(Vec::is_empty))
        .then(|| scatter_limits(ctx).ok())
        .flatten();
    if let Some(limits) = memo_key {
        if let Some((targets, merge)) = memo_scatter(ctx, sql, limits, &assignments) {
            return Ok(ShardPlan {
                targets,
                kind: PlanKind::Scatter,
                merge,
                generated_id: None,
                write: a.write,
            });
        }
    }

    // Merge recipe for a scattered SELECT.
    let (merge, merge_edits) = scatter_recipe(ctx, sql, assignments.len(), branch_without_shards)?;

    let mut targets = Vec::with_capacity(assignments.len());
    for (asg, list_edits) in assignments.iter().zip(in_lists) {
        check_available(ctx, asg.node, sql)?;
        targets.push(if merge_edits.is_empty() && list_edits.is_empty() {
            memo_target(ctx, sql, asg)?
        } else {
            let mut edits = merge_edits.clone();
            edits.extend(list_edits);
            target(ctx, sql, asg, &[], &edits)?
        });
    }
    let merge = merge.map(|spec| named(ctx, spec, &targets));
    if let Some(limits) = memo_key {
        remember_scatter(ctx, sql, limits, &assignments, &targets, merge.as_ref());
    }
    let kind = if targets.len() > 1 {
        PlanKind::Scatter
    } else {
        PlanKind::Single
    };
    Ok(ShardPlan {
        targets,
        kind,
        merge,
        generated_id: None,
        write: a.write,
    })
}

/// A scatter's merge recipe with the logical names of its targets'
/// physical tables (for the column definitions the client sees), shared.
pub(super) fn named(ctx: &Ctx<'_>, mut spec: MergeSpec, targets: &[ShardTarget]) -> Arc<MergeSpec> {
    spec.logical_tables = ctx
        .router
        .logical_names(targets.iter().flat_map(|t| &t.tables))
        .to_vec();
    Arc::new(spec)
}

/// The `(limit, offset)` a scattered SELECT's merge applies, resolved
/// from literals or parameters; `None` when it has no LIMIT (or is not a
/// merged SELECT). The part of a scatter plan that depends on the values
/// beyond the slots (see `memo_scatter`).
pub(super) fn scatter_limits(ctx: &Ctx<'_>) -> Result<Option<(u64, u64)>, RouteError> {
    let a = ctx.a;
    if a.kind != StmtKind::Select || a.explain {
        return Ok(None);
    }
    let Some(Ok(m)) = &a.select else {
        return Ok(None);
    };
    let Some(l) = &m.limit else {
        return Ok(None);
    };
    let limit = limit_value(ctx, l.limit)?;
    let offset = l.offset.map(|v| limit_value(ctx, v)).transpose()?;
    Ok(Some((limit, offset.unwrap_or(0))))
}

/// A LIMIT or OFFSET value: a literal, or the statement's parameter.
fn limit_value(ctx: &Ctx<'_>, v: LimitVal) -> Result<u64, RouteError> {
    match v {
        LimitVal::Lit(n) => Ok(n),
        LimitVal::Param(i) if !ctx.literals.is_empty() => ctx
            .literals
            .get(i)
            .and_then(|l| l.value.parse().ok())
            .ok_or_else(|| RouteError("LIMIT value is not a number".into())),
        LimitVal::Param(i) => match ctx.params.get(i) {
            Some(ParamValue::Int(n)) if *n >= 0 => Ok(*n as u64),
            Some(ParamValue::UInt(n)) => Ok(*n),
            Some(ParamValue::Bytes(b)) => std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| RouteError("LIMIT parameter is not a number".into())),
            _ => err("LIMIT parameter has no integer value"),
        },
    }
}

/// The key groups of the statement's own rows (UNION branches), and
/// whether a branch joins tables not tied by their keys.
fn top_row_groups(
    ctx: &Ctx<'_>,
    sql: &str,
    tops: &[&RowSource],
) -> Result<(Vec<Group>, bool), RouteError> {
    let mut top_groups: Vec<Group> = Vec::new();
    let mut fixed_branch = false;
    for rs in tops {
        let gs = groups(ctx, rs);
        if gs.len() > 1 {
            if tops.len() > 1 {
                return err(format!(
                "a UNION branch joins sharded tables that are not joined on their sharding keys: {}",
                quote_sql(sql)
            ));
            }
            fixed_branch = true;
        }
        top_groups.extend(gs);
    }
    Ok((top_groups, fixed_branch))
}

/// A join of tables not tied by their keys: every side must be in one
/// slot, all on one node.
fn one_slot_per_side(
    ctx: &Ctx<'_>,
    sql: &str,
    top_groups: &[Group],
) -> Result<Option<Assignment>, RouteError> {
    let router = ctx.router;
    let mut node = None;
    let mut slot = HashMap::new();
    for g in top_groups {
        let names: Vec<&str> = g.refs.iter().map(|&r| ctx.name(r)).collect();
        let [s] = g.slots.as_slice() else {
            let others: Vec<&str> = top_groups
                .iter()
                .filter(|o| !std::ptr::eq(*o, g))
                .flat_map(|o| o.refs.iter().map(|&r| ctx.name(r)))
                .collect();
            return err(format!(
                "this statement joins `{}` with `{}` without equating their sharding keys, so it \
                 would need rows from several shards at once; join on the sharding key or pin \
                 each table to one key value: {}",
                names.join("`, `"),
                others.join("`, `"),
                quote_sql(sql)
            ));
        };
        let n = ctx.sharded(g.refs[0]).map(|i| i.slots[*s].0).unwrap_or(0);
        if node.is_some_and(|m| m != n) {
            return err(format!(
                "this statement joins tables whose rows are on different nodes (`{}` is on node {}); \
                 such a join cannot be pushed down: {}",
                names.join("`, `"),
                router.node_name(n),
                quote_sql(sql)
            ));
        }
        node = Some(n);
        for &r in &g.refs {
            slot.insert(r, *s);
        }
    }
    Ok(node.map(|node| Assignment { node, slot }))
}

/// Tables joined on their keys: one target per slot their WHERE allows,
/// and whether a group is unkeyed (every slot).
fn keyed_slots(
    ctx: &Ctx<'_>,
    sql: &str,
    top_groups: &[Group],
) -> Result<(Vec<Assignment>, bool), RouteError> {
    let mut assignments: Vec<Assignment> = Vec::new();
    let layout = ctx.sharded(top_groups[0].refs[0]).map(|i| i.layout);
    if top_groups
        .iter()
        .any(|g| ctx.sharded(g.refs[0]).map(|i| i.layout) != layout)
    {
        return err(format!(
            "the branches of this UNION read sharded tables with different layouts: {}",
            quote_sql(sql)
        ));
    }
    let mut slots: Vec<usize> = top_groups
        .iter()
        .flat_map(|g| g.slots.iter().copied())
        .collect();
    slots.sort_unstable();
    slots.dedup();
    let unkeyed = top_groups.iter().any(|g| g.all);
    let info = ctx
        .sharded(top_groups[0].refs[0])
        .ok_or_else(|| RouteError("internal: no layout".into()))?;
    for s in slots {
        let mut slot = HashMap::new();
        for g in top_groups {
            for &r in &g.refs {
                slot.insert(r, s);
            }
        }
        assignments.push(Assignment {
            node: info.slots[s].0,
            slot,
        });
    }
    Ok((assignments, unkeyed))
}

/// Subqueries: tied to the outer rows by key equality (same slot as their
/// anchor in every target), or pinned to one slot on the statement's node.
fn tie_subqueries(
    ctx: &Ctx<'_>,
    sql: &str,
    global: &mut UnionFind,
    top_groups: &[Group],
    subs: &[&RowSource],
    assignments: &mut Vec<Assignment>,
) -> Result<(), RouteError> {
    let router = ctx.router;
    let top_refs: Vec<RefId> = top_groups
        .iter()
        .flat_map(|g| g.refs.iter().copied())
        .collect();
    let mut pinned: BTreeMap<usize, (Slots, Vec<RefId>)> = BTreeMap::new();
    for rs in subs {
        for g in groups(ctx, rs) {
            let root = global.find(g.refs[0]);
            if let Some(&anchor) = top_refs.iter().find(|&&t| global.find(t) == root) {
                for a in assignments.iter_mut() {
                    if let Some(&s) = a.slot.get(&anchor) {
                        for &r in &g.refs {
                            a.slot.insert(r, s);
                        }
                    }
                }
                continue;
            }
            let slots = if g.all {
                Slots::All
            } else {
                Slots::Set(g.slots.iter().copied().collect())
            };
            let entry = pinned.entry(root).or_insert((Slots::All, Vec::new()));
            entry.0 = std::mem::replace(&mut entry.0, Slots::All).intersect(slots);
            entry.1.extend(g.refs);
        }
    }
    for (slots, refs) in pinned.values() {
        let names: Vec<&str> = refs.iter().map(|&r| ctx.name(r)).collect();
        let single = match slots {
            Slots::Set(set) if set.len() == 1 => set.iter().next().copied(),
            _ => None,
        };
        let Some(s) = single else {
            return err(format!(
                "a subquery reads `{}` without being tied to the outer query by the sharding key, so it \
                 would need rows from several shards; correlate it on the sharding key or pin it to \
                 one key value: {}",
                names.join("`, `"),
                quote_sql(sql)
            ));
        };
        let n = ctx.sharded(refs[0]).map(|i| i.slots[s].0).unwrap_or(0);
        if assignments.is_empty() {
            assignments.push(Assignment {
                node: n,
                slot: HashMap::new(),
            });
        }
        for a in assignments.iter_mut() {
            if a.node != n {
                return err(format!(
                    "a subquery needs `{}` in a shard on node {}, but the statement runs on node {}: {}",
                    names.join("`, `"),
                    router.node_name(n),
                    router.node_name(a.node),
                    quote_sql(sql)
                ));
            }
            for &r in refs {
                a.slot.insert(r, s);
            }
        }
    }
    Ok(())
}

/// A write of sharded tables: no unsharded table written with them, no
/// LIMIT on several shards, no unkeyed write when refused by config.
fn check_sharded_write(
    ctx: &Ctx<'_>,
    sql: &str,
    targets: usize,
    unkeyed: bool,
) -> Result<(), RouteError> {
    let a = ctx.a;
    let router = ctx.router;
    for &w in &a.written {
        if ctx.sharded(w).is_none() {
            return err(format!(
                "this statement writes `{}`, which is not sharded, together with sharded tables; \
                 write them in separate statements: {}",
                ctx.name(w),
                quote_sql(sql)
            ));
        }
    }
    if targets > 1 && a.write_limit {
        return err(format!(
            "{} with LIMIT on several shards would change up to LIMIT rows on each; pin the \
             sharding key in WHERE or drop the LIMIT: {}",
            a.verb,
            quote_sql(sql)
        ));
    }
    if unkeyed && targets > 1 && router.refuse_unkeyed_writes {
        return err(format!(
            "{} without the sharding key in WHERE would run on every shard, and \
             [routing] refuse_unkeyed_writes is on: {}",
            a.verb,
            quote_sql(sql)
        ));
    }
    Ok(())
}

/// The merge recipe and shard edits of a SELECT run on `targets` targets
/// (none for one target), or why it cannot be scattered.
fn scatter_recipe(
    ctx: &Ctx<'_>,
    sql: &str,
    targets: usize,
    branch_without_shards: bool,
) -> Result<(Option<MergeSpec>, Vec<Edit>), RouteError> {
    let a = ctx.a;
    let scatter = targets > 1;
    if scatter && branch_without_shards {
        return err(format!(
            "a UNION branch without sharded tables would be answered once per shard ({} shards); \
             pin the sharding key or run the branches separately: {}",
            targets,
            quote_sql(sql)
        ));
    }
    if scatter && !a.outer_copies.is_empty() {
        return err(format!(
            "this statement needs rows from {targets} shards, and its outer join keeps every row \
             of `{}`, which each shard holds in full: its unmatched rows would come once per \
             shard; put the sharded table on the preserved side or pin its sharding key: {}",
            a.outer_copies.join("`, `"),
            quote_sql(sql)
        ));
    }
    if scatter {
        if let Some(why) = a.scatter_blockers.first() {
            return err(format!(
                "this statement needs rows from {} shards, and a derived table or CTE in it uses {why},                  which would be computed per shard; add the sharding key to its WHERE: {}",
                targets,
                quote_sql(sql)
            ));
        }
    }
    let mut merge = None;
    let mut merge_edits: Vec<Edit> = Vec::new();
    if scatter && a.kind == StmtKind::Select && !a.explain {
        match &a.select {
            Some(Ok(m)) => {
                let (spec, edits) = scatter_merge(ctx, m)?;
                merge = Some(spec);
                merge_edits = edits;
            }
            Some(Err(why)) => {
                return err(format!(
                    "this SELECT needs rows from {} shards and {why}; add the sharding key to WHERE: {}",
                    targets,
                    quote_sql(sql)
                ))
            }
            None => {}
        }
    }
    Ok((merge, merge_edits))
}

/// The merge recipe of a scattered SELECT with its LIMIT values resolved,
/// and the edits every target's SQL gets (hidden columns, the LIMIT each
/// shard applies).
pub(super) fn scatter_merge(
    ctx: &Ctx<'_>,
    m: &SelectMerge,
) -> Result<(MergeSpec, Vec<Edit>), RouteError> {
    let value = |v: LimitVal| limit_value(ctx, v);
    let mut spec = m.spec.clone();
    let mut edits = m.edits.clone();
    if let Some(l) = &m.limit {
        let limit = value(l.limit)?;
        let offset = l.offset.map(value).transpose()?.unwrap_or(0);
        spec.limit = Some(limit);
        spec.offset = offset;
        let text = if m.push_limit {
            format!(" LIMIT {}", limit.saturating_add(offset))
        } else {
            String::new()
        };
        edits.push(Edit {
            range: l.range.clone(),
            pieces: vec![Piece::Text(text)],
        });
    }
    Ok((spec, edits))
}
