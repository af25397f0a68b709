//! The physical SQL of one target: renames of sharded references and
//! qualifiers, `key IN (…)` lists reduced to the target's slot, and
//! [`render`], which applies edits and splices and maps placeholders.
//!
//! Owns: text splicing. Must not choose targets (see `sharded`, `insert`,
//! `union`).

use super::*;

/// `key IN (…)` lists reduced to the values of each target's slot.
pub(super) fn in_list_edits(ctx: &Ctx<'_>, asg: &Assignment) -> Result<Vec<Edit>, RouteError> {
    let mut edits = Vec::new();
    for list in &ctx.a.in_lists {
        let Some(&slot) = asg.slot.get(&list.r) else {
            continue;
        };
        let mut kept = Vec::new();
        for (range, val) in &list.items {
            let keep = match ctx.resolve(list.r, val) {
                Ok(Some(key)) => match ctx.slot_of(list.r, &key) {
                    Ok(Some(s)) => s == slot,
                    Ok(None) => false,
                    Err(_) => true,
                },
                _ => true,
            };
            if keep {
                kept.push(range.clone());
            }
        }
        if kept.len() == list.items.len() {
            continue;
        }
        let mut pieces = Vec::new();
        for (i, r) in kept.iter().enumerate() {
            if i > 0 {
                pieces.push(Piece::Text(", ".to_owned()));
            }
            pieces.push(Piece::Src(r.clone()));
        }
        if let (true, Some((first, _))) = (pieces.is_empty(), list.items.first()) {
            // No item lives here: keep the first one (it matches no row of
            // this shard) rather than `NULL`, so that the shard plans the
            // statement as the client wrote it (an `IN (NULL)` changes the
            // server's plan and with it result metadata: MIN of a JSON
            // column came back as BLOB instead of LONG_BLOB).
            pieces.push(Piece::Src(first.clone()));
        }
        edits.push(Edit {
            range: list.range.clone(),
            pieces,
        });
    }
    Ok(edits)
}

/// The physical name of a sharded reference in a target.
fn physical<'a>(ctx: &Ctx<'a>, r: RefId, asg: &Assignment) -> Option<(usize, &'a str)> {
    let info = ctx.sharded(r)?;
    let slot = *asg.slot.get(&r)?;
    info.slots.get(slot).map(|(n, name)| (*n, name.as_str()))
}

/// One target: renames of every sharded reference and qualifier, plus
/// `extra` inner splices and `edits`.
pub(super) fn target(
    ctx: &Ctx<'_>,
    sql: &str,
    asg: &Assignment,
    extra: &[(Range<usize>, String)],
    edits: &[Edit],
) -> Result<ShardTarget, RouteError> {
    let a = ctx.a;
    let mut inner: Vec<(Range<usize>, String)> = extra.to_vec();
    let mut tables: Vec<String> = Vec::new();
    let mut order: Vec<(usize, String)> = Vec::new();
    for r in 0..a.refs.len() {
        if ctx.sharded(r).is_none() {
            continue;
        }
        let Some((node, name)) = physical(ctx, r, asg) else {
            return err(format!(
                "internal: no shard chosen for `{}` in {}",
                ctx.name(r),
                quote_sql(sql)
            ));
        };
        if node != asg.node {
            return err(format!(
                "`{}` would be read from node {} while the statement runs on node {}: {}",
                ctx.name(r),
                ctx.router.node_name(node),
                ctx.router.node_name(asg.node),
                quote_sql(sql)
            ));
        }
        let info = &a.refs[r];
        // In a SELECT, an unaliased table keeps its logical name as an
        // alias (`users_0 AS users`), so qualifiers stay as written and
        // result column names (`MAX(users.score)`) are what one server
        // holding `users` would return.
        let replacement = if keep_logical_alias(ctx, r) {
            format!(
                "{} AS {}",
                ident(name, info.quoted),
                ident(&info.name, true)
            )
        } else {
            ident(name, info.quoted)
        };
        inner.push((info.name_span.clone(), replacement));
        order.push((info.name_span.start, name.to_owned()));
    }
    for n in &a.names {
        let qualifies_aliased_logical = match &n.target {
            NameTarget::Ref(r) => keep_logical_alias(ctx, *r),
            NameTarget::Logical(_) => a.kind == StmtKind::Select && !ctx.unaliased,
        };
        if qualifies_aliased_logical {
            continue;
        }
        let name = match &n.target {
            NameTarget::Ref(r) => physical(ctx, *r, asg).map(|(_, p)| p.to_owned()),
            NameTarget::Logical(logical) => {
                let mut found: Option<String> = None;
                for r in 0..a.refs.len() {
                    if a.refs[r].alias.is_none() && a.refs[r].name == *logical {
                        if let Some((_, p)) = physical(ctx, r, asg) {
                            if found.as_deref().is_some_and(|f| f != p) {
                                return err(format!(
                                    "`{logical}.…` is ambiguous: `{logical}` appears more than once \
                                     without an alias; give each an alias: {}",
                                    quote_sql(sql)
                                ));
                            }
                            found = Some(p.to_owned());
                        }
                    }
                }
                found
            }
        };
        if let Some(name) = name {
            inner.push((n.range.clone(), ident(&name, n.quoted)));
        }
    }
    order.sort();
    for (_, t) in order {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    let (sql, params) = render(sql, &inner, edits, &a.placeholders)?;
    Ok(ShardTarget {
        node: asg.node,
        sql,
        tables: tables.into(),
        params: params.into(),
        local_file: None,
        rows: None,
    })
}

/// True when reference `r` is an unaliased table of a SELECT, rewritten as
/// `physical AS logical`.
fn keep_logical_alias(ctx: &Ctx<'_>, r: usize) -> bool {
    let a = ctx.a;
    !ctx.unaliased
        && a.kind == StmtKind::Select
        && a.refs.get(r).is_some_and(|info| info.alias.is_none())
}

/// Applies `edits` (which may copy source ranges) and `inner` splices
/// (renames and insertions, applied wherever their range is copied) to
/// `sql`; returns the text and, for each placeholder in it, the original
/// placeholder index.
pub(crate) fn render(
    sql: &str,
    inner: &[(Range<usize>, String)],
    edits: &[Edit],
    placeholders: &[usize],
) -> Result<(String, Vec<usize>), RouteError> {
    let mut inner: Vec<&(Range<usize>, String)> = inner.iter().collect();
    inner.sort_by_key(|(r, _)| (r.start, r.end));
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let internal = |what: &str| {
        RouteError(format!(
            "internal: {what} while rewriting {}",
            quote_sql(sql)
        ))
    };
    for w in edits.windows(2) {
        if w[0].range.end > w[1].range.start {
            return Err(internal("overlapping edits"));
        }
    }
    // `emit` runs once per copied range: one per row of a split INSERT,
    // while `inner` holds a splice per generated value. Scanning all of
    // `inner` for each range was quadratic in the rows; instead it visits
    // only the splices starting within the range (binary search), and
    // finds one straddling the range's start from the largest end among
    // the splices before it. Same checks, same order, same errors.
    // `max_end[k]`: the largest end of a non-empty splice among the first
    // `k` (0 when none).
    let mut max_end = Vec::with_capacity(inner.len() + 1);
    max_end.push(0usize);
    for (r, _) in &inner {
        let last = max_end.last().copied().unwrap_or(0);
        max_end.push(if r.start != r.end {
            last.max(r.end)
        } else {
            last
        });
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut params = Vec::new();
    let emit = |range: Range<usize>,
                out: &mut String,
                params: &mut Vec<usize>|
     -> Result<(), RouteError> {
        // Splices starting before the range only matter when they reach
        // into it (those starting at or after `range.end` cannot).
        let before = inner.partition_point(|(r, _)| r.start < range.start.min(range.end));
        if max_end.get(before).is_some_and(|&end| end > range.start) {
            return Err(internal("a rename straddles an edit"));
        }
        let first = inner.partition_point(|(r, _)| r.start < range.start);
        // Those starting after `range.end` end after it too and cannot
        // straddle it: skipped without a look.
        let within = inner[first..]
            .iter()
            .take_while(|(r, _)| r.start <= range.end);
        let mut at = range.start;
        for (r, text) in within.map(|x| (&x.0, &x.1)) {
            let zero_width_at_end =
                r.start == r.end && r.start == range.end && range.end < sql.len();
            if r.start < range.start || r.end > range.end || zero_width_at_end {
                if r.start < range.end && r.end > range.start && r.start != r.end {
                    return Err(internal("a rename straddles an edit"));
                }
                continue;
            }
            if r.start < at {
                return Err(internal("overlapping renames"));
            }
            push_src(sql, at..r.start, placeholders, out, params)
                .ok_or_else(|| internal("bad range"))?;
            out.push_str(text);
            at = r.end;
        }
        push_src(sql, at..range.end, placeholders, out, params)
            .ok_or_else(|| internal("bad range"))?;
        Ok(())
    };
    let mut at = 0;
    for e in &edits {
        emit(at..e.range.start, &mut out, &mut params)?;
        for p in &e.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Src(r) => emit(r.clone(), &mut out, &mut params)?,
            }
        }
        at = e.range.end;
    }
    emit(at..sql.len(), &mut out, &mut params)?;
    Ok((out, params))
}

fn push_src(
    sql: &str,
    range: Range<usize>,
    placeholders: &[usize],
    out: &mut String,
    params: &mut Vec<usize>,
) -> Option<()> {
    out.push_str(sql.get(range.clone())?);
    let first = placeholders.partition_point(|&p| p < range.start);
    for (i, &p) in placeholders.iter().enumerate().skip(first) {
        if p >= range.end {
            break;
        }
        params.push(i);
    }
    Some(())
}
