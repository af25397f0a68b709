//! INSERT into sharded tables: rows split by the slot of their key, ids
//! generated for `[[sequence]]` columns left out, and `INSERT … VALUES`
//! without a column list completed from the cached column list.
//!
//! Owns: [`insert`]. Must not plan reads or DDL.

use super::*;

// ----- INSERT -----

/// `INSERT INTO t VALUES …` without a column list into a sharded table:
/// the values are in table column order, known from the column list the
/// session fetched and cached ([`ShardRouter::remember_columns`]). `None`
/// when the statement names its columns or the list is not known.
fn with_known_columns(
    ctx: &Ctx<'_>,
    info: &crate::router::shard::analyze::InsertInfo,
    schema: Option<&str>,
) -> Option<crate::router::shard::analyze::InsertInfo> {
    if !info.columns.is_empty() || info.set_form || info.from_select {
        return None;
    }
    let r = ctx.a.refs.get(info.target)?;
    let RefTable::Rule(i) = r.table else {
        return None;
    };
    let key = ctx.router.tables[i].sharded()?.key.to_ascii_lowercase();
    let schema = r.schema.as_deref().or(schema)?;
    let known = ctx
        .router
        .known_columns(schema, &ctx.router.tables[i].name)?;
    let columns: Vec<String> = known.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut out = info.clone();
    out.key_position = columns.iter().position(|c| *c == key);
    for g in &mut out.generated {
        g.position = columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&g.column));
    }
    out.columns = columns;
    Some(out)
}

pub(super) fn insert(
    ctx: &Ctx<'_>,
    sql: &str,
    schema: Option<&str>,
) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let Some(info) = &a.insert else {
        return unsharded(ctx, sql);
    };
    let positional = with_known_columns(ctx, info, schema);
    if let Some(p) = &positional {
        // What the server would answer (1136), before a row with too few
        // values is routed by the wrong column.
        if let Some(i) = p
            .rows
            .iter()
            .position(|r| r.values.len() != p.columns.len())
        {
            return err(format!(
                "Column count doesn't match value count at row {}",
                i + 1
            ));
        }
    }
    let info = positional.as_ref().unwrap_or(info);
    let t = info.target;
    let GeneratedValues {
        generated_id,
        mut inner,
        row_inner,
        row_generated,
    } = generated_values(ctx, sql, info)?;
    let Some(key_info) = ctx.sharded(t) else {
        // Broadcast, single-node or unlisted target: the same rows
        // everywhere it lives.
        let mut plan = unsharded(ctx, sql)?;
        inner.extend(row_inner.into_iter().flatten());
        for target in &mut plan.targets {
            let (text, params) = render(sql, &inner, &[], &a.placeholders)?;
            target.sql = text;
            target.params = params.into();
        }
        plan.generated_id = generated_id;
        return Ok(plan);
    };
    refuse_unsplittable_insert(ctx, sql, info, key_info)?;
    let by_slot = rows_by_slot(ctx, sql, info, key_info, &row_generated)?;
    let targets = insert_targets(ctx, sql, info, key_info, &by_slot, &inner, &row_inner)?;
    Ok(ShardPlan {
        kind: if targets.len() > 1 {
            PlanKind::Scatter
        } else {
            PlanKind::Single
        },
        targets,
        merge: None,
        generated_id,
        write: true,
    })
}

/// Generated values, per row and column.
struct GeneratedValues {
    /// The first id generated.
    generated_id: Option<u64>,
    /// Splices outside the rows (the added column name).
    inner: Vec<(Range<usize>, String)>,
    /// The splices of each row, kept apart so that a shard's statement is
    /// rendered with its own rows' splices only (all of them for every
    /// shard made the rendering quadratic in the rows). Within each list
    /// the order is the order of the generated columns, which `render`
    /// keeps for splices at one spot.
    row_inner: Vec<Vec<(Range<usize>, String)>>,
    /// Per row: generated column index → id.
    row_generated: Vec<HashMap<usize, u64>>,
}

/// Ids for the `[[sequence]]` columns each row leaves out or gives as
/// NULL, and the splices that put them in the text.
fn generated_values(
    ctx: &Ctx<'_>,
    sql: &str,
    info: &crate::router::shard::analyze::InsertInfo,
) -> Result<GeneratedValues, RouteError> {
    let mut generated_id = None;
    let mut inner: Vec<(Range<usize>, String)> = Vec::new();
    let mut row_inner: Vec<Vec<(Range<usize>, String)>> = vec![Vec::new(); info.rows.len()];
    let mut row_generated: Vec<HashMap<usize, u64>> = vec![HashMap::new(); info.rows.len()];
    for (g, column) in info.generated.iter().enumerate() {
        if column.position.is_none() && !info.set_form && info.add_column_at.is_none() {
            // No column list: the values are positional and shardcat
            // cannot add one; the server applies its own default.
            continue;
        }
        if column.position.is_none() {
            if let Some(at) = info.add_column_at {
                if !info.set_form {
                    inner.push((at..at, format!(", {}", ident(&column.column, false))));
                }
            }
        }
        for (i, row) in info.rows.iter().enumerate() {
            let needs = match column.position {
                None => true,
                Some(p) => row.values.get(p).is_some_and(|v| v.2),
            };
            if !needs {
                continue;
            }
            let id = ctx.router.ids.next_id();
            generated_id.get_or_insert(id);
            row_generated[i].insert(g, id);
            match column.position {
                None if info.set_form => {
                    if let Some(at) = info.add_column_at {
                        row_inner[i]
                            .push((at..at, format!("{} = {id}, ", ident(&column.column, false))));
                    }
                }
                None => row_inner[i].push((row.close..row.close, format!(", {id}"))),
                Some(p) => match row.values.get(p).and_then(|v| v.0.clone()) {
                    Some(range) => row_inner[i].push((range, id.to_string())),
                    None => {
                        return err(format!(
                            "cannot locate the NULL of `{}` in row {} to fill it: {}",
                            column.column,
                            i + 1,
                            quote_sql(sql)
                        ))
                    }
                },
            }
        }
    }
    Ok(GeneratedValues {
        generated_id,
        inner,
        row_inner,
        row_generated,
    })
}

/// INSERT … SELECT, an INSERT reading other sharded tables, and an INSERT
/// without a column list cannot be split by key.
fn refuse_unsplittable_insert(
    ctx: &Ctx<'_>,
    sql: &str,
    info: &crate::router::shard::analyze::InsertInfo,
    key_info: &ShardedInfo,
) -> Result<(), RouteError> {
    let t = info.target;
    let table_name = ctx.name(t);
    if info.from_select {
        // Text statements run as routed writes (`insert_select`); what
        // reaches the planner has parameters.
        return err(format!(
            "INSERT … SELECT into the sharded table `{table_name}` as a prepared statement is \
             not supported (its rows are split by `{}`); send it as text: {}",
            key_info.key,
            quote_sql(sql)
        ));
    }
    for r in 0..ctx.a.refs.len() {
        if r != t && ctx.sharded(r).is_some() {
            return err(format!(
                "an INSERT into `{table_name}` that reads the sharded table `{}` is not supported: {}",
                ctx.name(r),
                quote_sql(sql)
            ));
        }
    }
    if info.columns.is_empty() && !info.set_form {
        return err(format!(
            "INSERT into the sharded table `{table_name}` must name its columns, so shardcat can find \
             the sharding key `{}`: INSERT INTO {table_name} ({}, …) VALUES …: {}",
            key_info.key,
            key_info.key,
            quote_sql(sql)
        ));
    }
    Ok(())
}

/// The rows of each slot (row indices in text order), from each row's key
/// value or generated id.
fn rows_by_slot(
    ctx: &Ctx<'_>,
    sql: &str,
    info: &crate::router::shard::analyze::InsertInfo,
    key_info: &ShardedInfo,
    row_generated: &[HashMap<usize, u64>],
) -> Result<BTreeMap<usize, Vec<usize>>, RouteError> {
    let t = info.target;
    let table_name = ctx.name(t);
    let key_generated = info
        .generated
        .iter()
        .position(|g| g.column.eq_ignore_ascii_case(&key_info.key));
    let mut by_slot: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, row) in info.rows.iter().enumerate() {
        let key = match key_generated.and_then(|g| row_generated[i].get(&g)) {
            Some(&id) => ShardKey::from_u64(id),
            None => {
                let Some(p) = info.key_position else {
                    return err(format!(
                        "INSERT into the sharded table `{table_name}` must give the sharding key `{}` \
                         (or configure a [[sequence]] for it): {}",
                        key_info.key,
                        quote_sql(sql)
                    ));
                };
                let val = row.values.get(p).map(|v| v.1.clone()).unwrap_or(Val::Expr);
                match ctx.resolve(t, &val) {
                    Ok(Some(ShardKey::Null)) => {
                        return err(format!(
                            "row {}: the sharding key `{}` of `{table_name}` is NULL: {}",
                            i + 1,
                            key_info.key,
                            quote_sql(sql)
                        ))
                    }
                    Ok(Some(k)) => k,
                    Ok(None) => {
                        return err(format!(
                        "row {}: the sharding key `{}` of `{table_name}` is {}, which shardcat \
                             cannot evaluate; give a literal value: {}",
                        i + 1,
                        key_info.key,
                        if matches!(val, Val::Param(_)) {
                            "a parameter without a value"
                        } else {
                            "an expression"
                        },
                        quote_sql(sql)
                    ))
                    }
                    Err(why) => {
                        return err(format!(
                            "row {}: the sharding key `{}` of `{table_name}`: {why}: {}",
                            i + 1,
                            key_info.key,
                            quote_sql(sql)
                        ))
                    }
                }
            }
        };
        let period_key = period_key_of_row(ctx, sql, info, key_info, i)?;
        let slot = match key_info.root.slot_for_keys(&key, period_key.as_ref()) {
            Ok(s) => s,
            Err(e) => {
                return err(format!(
                    "row {}: `{table_name}`: {e}: {}",
                    i + 1,
                    quote_sql(sql)
                ))
            }
        };
        by_slot.entry(slot).or_default().push(i);
    }
    Ok(by_slot)
}

/// One target per slot: its rows (when the INSERT is split) and its rows'
/// splices.
fn insert_targets(
    ctx: &Ctx<'_>,
    sql: &str,
    info: &crate::router::shard::analyze::InsertInfo,
    key_info: &ShardedInfo,
    by_slot: &BTreeMap<usize, Vec<usize>>,
    inner: &[(Range<usize>, String)],
    row_inner: &[Vec<(Range<usize>, String)>],
) -> Result<Vec<ShardTarget>, RouteError> {
    let t = info.target;
    let split = by_slot.len() > 1;
    let mut targets = Vec::new();
    for (slot, rows) in by_slot {
        let node = key_info.slots[*slot].0;
        check_available(ctx, node, sql)?;
        let asg = Assignment {
            node,
            slot: HashMap::from([(t, *slot)]),
        };
        let mut edits = Vec::new();
        // This shard's splices: those outside the rows and its rows' own.
        let mut splices = inner.to_vec();
        for &i in rows {
            if let Some(own) = row_inner.get(i) {
                splices.extend(own.iter().cloned());
            }
        }
        if split {
            let Some(range) = &info.values_range else {
                return err(format!("internal: rows not located in {}", quote_sql(sql)));
            };
            let mut pieces = Vec::new();
            for (k, &i) in rows.iter().enumerate() {
                if k > 0 {
                    pieces.push(Piece::Text(", ".to_owned()));
                }
                pieces.push(Piece::Src(info.rows[i].range.clone()));
            }
            edits.push(Edit {
                range: range.clone(),
                pieces,
            });
        }
        let mut built = target(ctx, sql, &asg, &splices, &edits)?;
        if split {
            // The client's row numbers of this part's rows (warnings).
            let numbers = rows
                .iter()
                .map(|&i| u32::try_from(i + 1).unwrap_or(u32::MAX));
            built.rows = Some(numbers.collect());
        }
        targets.push(built);
    }
    Ok(targets)
}

/// Under a composite rule, the period column's value of row `i` (refused
/// when missing, NULL or not a literal); `None` for other rules.
fn period_key_of_row(
    ctx: &Ctx<'_>,
    sql: &str,
    info: &crate::router::shard::analyze::InsertInfo,
    key_info: &ShardedInfo,
    i: usize,
) -> Result<Option<ShardKey>, RouteError> {
    let Some(composite) = key_info.root.composite() else {
        return Ok(None);
    };
    let column = &composite.period.key;
    let table_name = ctx.name(info.target);
    let position = info
        .columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(column));
    let val = position
        .and_then(|p| info.rows.get(i)?.period_values.get(p).cloned())
        .unwrap_or(Val::Expr);
    let refuse = |why: String| {
        err(format!(
            "row {}: the period column `{column}` of `{table_name}` {why}: {}",
            i + 1,
            quote_sql(sql)
        ))
    };
    if position.is_none() {
        return refuse(
            "is not given; an INSERT into a table split by key and period names both columns"
                .into(),
        );
    }
    match ctx.convert(composite.period.key_type, &val) {
        Ok(Some(ShardKey::Null)) => refuse("is NULL".into()),
        Ok(Some(key)) => Ok(Some(key)),
        Ok(None) => refuse("is not a literal or a parameter shardcat can evaluate".into()),
        Err(why) => refuse(why),
    }
}
