//! A flat `UNION [ALL]` whose branches need different targets: each branch
//! planned on its own, the others neutralised as `(SELECT … LIMIT 0)` in
//! each target.
//!
//! Owns: [`union_parts`]. Must not plan a union that shares its targets
//! (the general path in `sharded` does).

use super::*;

// ----- UNION [ALL] whose branches need different targets -----

/// One statement of a per-branch UNION plan: a node, the slot of every
/// sharded reference there, which branches answer in it, and which
/// layouts (indices into the plan's list) it already serves.
struct Part {
    asg: Assignment,
    active: Vec<bool>,
    layouts: Vec<usize>,
}

/// A flat `UNION [ALL]` whose branches cannot share one set of targets (a
/// branch without sharded tables next to a scattered one, or sharded
/// tables of different layouts): each branch is planned on its own — a
/// sharded branch on the slots its WHERE allows, a branch without sharded
/// tables once — and every target gets the whole union with the branches
/// that do not answer there neutralised as `(SELECT … LIMIT 0)`. Every
/// target thus returns the column definitions the server gives for the
/// whole union (names of the first branch, types widened over all
/// branches), each branch's rows come from exactly one target per slot,
/// and the scatter merge (concatenation, k-way merge on the union's ORDER
/// BY, LIMIT, DISTINCT across targets) gives the union's answer. Slots of
/// different layouts on one node share a target.
///
/// `Ok(None)` when the union can share its targets (the general path
/// plans it) or when it has a form the general path refuses with its own
/// explanation (subqueries on sharded tables not tied to their branch,
/// derived tables that aggregate).
pub(super) fn union_parts(
    ctx: &Ctx<'_>,
    sql: &str,
    tops: &[&RowSource],
    subs: &[&RowSource],
) -> Result<Option<ShardPlan>, RouteError> {
    let a = ctx.a;
    if a.kind != StmtKind::Select || a.explain || a.write || tops.len() < 2 {
        return Ok(None);
    }
    // Is this a union the general path cannot plan? Branches with sharded
    // tables of several layouts, or a branch without sharded tables next
    // to sharded ones on several slots.
    let (layouts, needed) = branch_layouts(ctx, tops);
    if !needed || !a.scatter_blockers.is_empty() {
        return Ok(None);
    }
    let m = match &a.select {
        Some(Ok(m)) if m.branches.len() >= 2 => m,
        Some(Ok(_)) => {
            return err(format!(
                "the branches of this UNION need different shards, which is supported for a flat \
                 UNION of plain SELECTs only (no parenthesised or nested branches, no WITH); run \
                 the branches separately: {}",
                quote_sql(sql)
            ))
        }
        Some(Err(why)) => {
            return err(format!(
                "the branches of this UNION need different shards and {why}; pin the sharding key \
                 or run the branches separately: {}",
                quote_sql(sql)
            ))
        }
        None => return Ok(None),
    };
    let branch_of = |r: RefId| {
        let at = a.refs[r].name_span.start;
        m.branches.iter().position(|b| b.contains(&at))
    };
    // The sharded group (at most one) of each branch.
    let Some(branch_group) = branch_groups(ctx, sql, tops, &branch_of, m.branches.len())? else {
        return Ok(None);
    };
    // Subqueries on sharded tables must be tied by the key to their
    // branch's tables (they then take the same slot).
    let Some(tied) = tied_subqueries(ctx, subs, &branch_of, &branch_group) else {
        return Ok(None);
    };
    let mut parts = layout_parts(ctx, sql, &layouts, &branch_group, &tied, m.branches.len())?;
    // Branches without sharded tables answer once, in the first part.
    if let Some(first) = parts.first_mut() {
        for (b, g) in branch_group.iter().enumerate() {
            if g.is_none() {
                first.active[b] = true;
            }
        }
    }
    // Sharded tables of the neutralised branches still have to name a
    // physical table on the part's node: any of theirs there.
    name_tables_on_part_nodes(ctx, sql, &mut parts)?;
    let (spec, merge_edits) = scatter_merge(ctx, m)?;
    let targets = part_targets(ctx, sql, m, &parts, &merge_edits)?;
    Ok(Some(ShardPlan {
        kind: if targets.len() > 1 {
            PlanKind::Scatter
        } else {
            PlanKind::Single
        },
        merge: Some(super::sharded::named(ctx, spec, &targets)),
        targets,
        generated_id: None,
        write: false,
    }))
}

/// A subquery's references tied by key to a branch's reference:
/// (branch, anchor, references).
type Tied = (usize, RefId, Vec<RefId>);

/// The layouts of the branches' sharded tables, and whether the branches
/// need different targets (several layouts, or a branch without sharded
/// tables next to sharded ones on several slots).
fn branch_layouts(ctx: &Ctx<'_>, tops: &[&RowSource]) -> (Vec<usize>, bool) {
    let mut layouts: Vec<usize> = Vec::new();
    let mut all_slots: Vec<usize> = Vec::new();
    let mut unsharded_branch = false;
    for rs in tops {
        let gs = groups(ctx, rs);
        unsharded_branch |= gs.is_empty();
        for g in gs {
            if let Some(info) = ctx.sharded(g.refs[0]) {
                if !layouts.contains(&info.layout) {
                    layouts.push(info.layout);
                }
            }
            all_slots.extend(g.slots);
        }
    }
    all_slots.sort_unstable();
    all_slots.dedup();
    let needed = layouts.len() > 1 || (unsharded_branch && all_slots.len() > 1);
    (layouts, needed)
}

/// The sharded group (at most one) of each branch; `None` when a row
/// source is not inside one branch.
fn branch_groups(
    ctx: &Ctx<'_>,
    sql: &str,
    tops: &[&RowSource],
    branch_of: &dyn Fn(RefId) -> Option<usize>,
    branches: usize,
) -> Result<Option<Vec<Option<Group>>>, RouteError> {
    let mut branch_group: Vec<Option<Group>> = (0..branches).map(|_| None).collect();
    for rs in tops {
        let Some(b) = rs.refs.first().and_then(|&r| branch_of(r)) else {
            if rs.refs.is_empty() {
                continue;
            }
            return Ok(None);
        };
        for g in groups(ctx, rs) {
            if branch_group[b].is_some() {
                return err(format!(
                    "a UNION branch joins sharded tables that are not joined on their sharding keys: {}",
                    quote_sql(sql)
                ));
            }
            branch_group[b] = Some(g);
        }
    }
    Ok(Some(branch_group))
}

/// Each subquery group tied by key to its branch's tables; `None` when one
/// is not (the general path explains the refusal).
fn tied_subqueries(
    ctx: &Ctx<'_>,
    subs: &[&RowSource],
    branch_of: &dyn Fn(RefId) -> Option<usize>,
    branch_group: &[Option<Group>],
) -> Option<Vec<Tied>> {
    let a = ctx.a;
    let mut global = UnionFind::new(a.refs.len());
    for &(x, y) in &a.edges {
        global.union(x, y);
    }
    let mut tied: Vec<Tied> = Vec::new();
    for rs in subs {
        for g in groups(ctx, rs) {
            let root = global.find(g.refs[0]);
            let anchor = branch_of(g.refs[0]).and_then(|b| {
                let top = branch_group[b].as_ref()?;
                let anchor = top.refs.iter().copied().find(|&t| global.find(t) == root)?;
                Some((b, anchor))
            });
            let (b, anchor) = anchor?;
            tied.push((b, anchor, g.refs));
        }
    }
    Some(tied)
}

/// Sharded branches: one part per slot of their layout; a slot of
/// another layout on a node already used joins that part.
fn layout_parts(
    ctx: &Ctx<'_>,
    sql: &str,
    layouts: &[usize],
    branch_group: &[Option<Group>],
    tied: &[Tied],
    branches: usize,
) -> Result<Vec<Part>, RouteError> {
    let layout_of = |g: &Group| ctx.sharded(g.refs[0]).map(|i| i.layout);

    let mut parts: Vec<Part> = Vec::new();
    for (li, layout) in layouts.iter().enumerate() {
        let members: Vec<usize> = (0..branch_group.len())
            .filter(|&b| {
                branch_group[b]
                    .as_ref()
                    .is_some_and(|g| layout_of(g) == Some(*layout))
            })
            .collect();
        let Some(info) = members
            .first()
            .and_then(|&b| branch_group[b].as_ref())
            .and_then(|g| ctx.sharded(g.refs[0]))
        else {
            return err(format!("internal: no layout for {}", quote_sql(sql)));
        };
        let mut slots: Vec<usize> = members
            .iter()
            .filter_map(|&b| branch_group[b].as_ref())
            .flat_map(|g| g.slots.iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        for s in slots {
            let Some(&(node, _)) = info.slots.get(s) else {
                return err(format!("internal: no slot {s} for {}", quote_sql(sql)));
            };
            let at = match parts
                .iter()
                .position(|p| p.asg.node == node && !p.layouts.contains(&li))
            {
                Some(i) => i,
                None => {
                    parts.push(Part {
                        asg: Assignment {
                            node,
                            slot: HashMap::new(),
                        },
                        active: vec![false; branches],
                        layouts: Vec::new(),
                    });
                    parts.len() - 1
                }
            };
            let part = &mut parts[at];
            part.layouts.push(li);
            for &b in &members {
                let Some(g) = &branch_group[b] else {
                    continue;
                };
                if !g.slots.contains(&s) {
                    continue;
                }
                part.active[b] = true;
                for &r in &g.refs {
                    part.asg.slot.insert(r, s);
                }
                for (tb, anchor, refs) in tied {
                    if *tb == b {
                        if let Some(&slot) = part.asg.slot.get(anchor) {
                            for &r in refs {
                                part.asg.slot.insert(r, slot);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(parts)
}

/// Sharded tables of the neutralised branches still have to name a
/// physical table on the part's node: any of theirs there.
fn name_tables_on_part_nodes(
    ctx: &Ctx<'_>,
    sql: &str,
    parts: &mut [Part],
) -> Result<(), RouteError> {
    let a = ctx.a;
    for part in parts.iter_mut() {
        for r in 0..a.refs.len() {
            let Some(info) = ctx.sharded(r) else {
                continue;
            };
            if part.asg.slot.contains_key(&r) {
                continue;
            }
            let Some(s) = info.slots.iter().position(|(n, _)| *n == part.asg.node) else {
                return err(format!(
                    "the branches of this UNION run on different nodes, and `{}` has no shard on node {}, \
                     where another branch runs; run the branches separately: {}",
                    ctx.name(r),
                    ctx.router.node_name(part.asg.node),
                    quote_sql(sql)
                ));
            };
            part.asg.slot.insert(r, s);
        }
    }
    Ok(())
}

/// One target per part: the whole union with the branches that do not
/// answer there neutralised as `(SELECT … LIMIT 0)`.
fn part_targets(
    ctx: &Ctx<'_>,
    sql: &str,
    m: &SelectMerge,
    parts: &[Part],
    merge_edits: &[Edit],
) -> Result<Vec<ShardTarget>, RouteError> {
    let mut targets = Vec::with_capacity(parts.len());
    for part in parts {
        check_available(ctx, part.asg.node, sql)?;
        let mut edits = merge_edits.to_vec();
        for (b, range) in m.branches.iter().enumerate() {
            if !part.active[b] {
                edits.push(Edit {
                    range: range.start..range.start,
                    pieces: vec![Piece::Text("(".to_owned())],
                });
                edits.push(Edit {
                    range: range.end..range.end,
                    pieces: vec![Piece::Text(" LIMIT 0)".to_owned())],
                });
            }
        }
        edits.extend(in_list_edits(ctx, &part.asg)?);
        targets.push(target(ctx, sql, &part.asg, &[], &edits)?);
    }
    Ok(targets)
}
