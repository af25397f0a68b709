//! Aggregate select items of a grouped SELECT: how each combines (`AVG` as
//! `SUM` + hidden `COUNT`), DISTINCT aggregates and their arguments, and
//! `GROUP_CONCAT` read into its value, order keys and separator.
//!
//! Owns: [`aggregate_combine`], [`group_concat`], [`hidden_distinct`].
//! Must not build the merge spec (see `groups`).

use super::*;

/// A `COUNT|SUM|AVG(DISTINCT …)` select item not over the sharding key.
pub(super) struct DistinctAgg {
    pub(super) item: usize,
    pub(super) kind: &'static str,
    /// Source ranges of the arguments.
    pub(super) args: Vec<Range<usize>>,
}

/// A `GROUP_CONCAT` select item: its value and ORDER BY keys (source
/// ranges), separator and DISTINCT.
pub(super) struct ConcatAgg {
    pub(super) item: usize,
    pub(super) arg: Range<usize>,
    pub(super) order: Vec<(Range<usize>, bool)>,
    pub(super) separator: Vec<u8>,
    pub(super) distinct: bool,
}

impl ConcatAgg {
    fn with_item(mut self, item: usize) -> Self {
        self.item = item;
        self
    }
}

/// Reads `GROUP_CONCAT([DISTINCT] x [ORDER BY k [ASC|DESC], …] [SEPARATOR
/// 's'])`; other forms (several values, LIMIT, positions) are refused.
fn group_concat(ctx: &Ctx<'_>, f: &ast::Function) -> Result<ConcatAgg, String> {
    let refuse = |why: &str| Err(format!("GROUP_CONCAT {why} cannot be merged across shards"));
    let FunctionArguments::List(list) = &f.args else {
        return refuse("without arguments");
    };
    let distinct = matches!(
        list.duplicate_treatment,
        Some(ast::DuplicateTreatment::Distinct)
    );
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg_expr))] = list.args.as_slice() else {
        return refuse("of several values");
    };
    let mut order_exprs: &[ast::OrderByExpr] = &[];
    let mut separator = b",".to_vec();
    for c in &list.clauses {
        match c {
            ast::FunctionArgumentClause::OrderBy(v) => order_exprs = v,
            ast::FunctionArgumentClause::Separator(v) => match &v.value {
                Value::SingleQuotedString(t) => separator = unescape_string(t, '\'').into_bytes(),
                Value::DoubleQuotedString(t) => separator = unescape_string(t, '"').into_bytes(),
                _ => return refuse("with this SEPARATOR"),
            },
            _ => return refuse("with LIMIT or other clauses"),
        }
    }
    for o in order_exprs {
        if matches!(&o.expr, Expr::Value(_)) {
            return refuse("ordered by a position");
        }
        if distinct && !same_expr(&o.expr, arg_expr) {
            // Which duplicate's key would sort is not defined.
            return refuse("(DISTINCT …) ordered by another expression");
        }
    }
    let missing = || "cannot locate the arguments of GROUP_CONCAT".to_owned();
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    if !ctx.toks.is_punct(open, "(") {
        return Err(missing());
    }
    let start = if ctx.toks.is_kw(open + 1, "DISTINCT") {
        open + 2
    } else {
        open + 1
    };
    let ends_value = |t: &Tokens<'_>, i: usize| {
        t.is_kw(i, "ORDER") || t.is_kw(i, "SEPARATOR") || t.is_kw(i, "LIMIT")
    };
    let (items, stop) = ctx.toks.split_list(start, ends_value);
    let [item] = items.as_slice() else {
        return Err(missing());
    };
    let arg = ctx.toks.byte_range(item).ok_or_else(missing)?;
    let mut order = Vec::new();
    if !order_exprs.is_empty() {
        if !(ctx.toks.is_kw(stop, "ORDER") && ctx.toks.is_kw(stop + 1, "BY")) {
            return Err(missing());
        }
        let (keys, _) = ctx.toks.split_list(stop + 2, |t, i| {
            t.is_kw(i, "SEPARATOR") || t.is_kw(i, "LIMIT")
        });
        if keys.len() != order_exprs.len() {
            return Err(missing());
        }
        for (k, o) in keys.iter().zip(order_exprs) {
            let r = ctx.toks.byte_range(k).ok_or_else(missing)?;
            order.push((ctx.strip_direction(r), descending(o)));
        }
    }
    Ok(ConcatAgg {
        item: 0,
        arg,
        order,
        separator,
        distinct,
    })
}

/// A DISTINCT aggregate met in HAVING or ORDER BY.
pub(super) struct HiddenDistinct {
    pub(super) text: String,
    pub(super) kind: &'static str,
    /// The whole call (what the shards compute in the hidden column).
    pub(super) whole: Range<usize>,
    pub(super) args: Vec<Range<usize>>,
    /// `COUNT(DISTINCT key)`: adds up unless the shards group finer.
    pub(super) key: bool,
}

pub(super) fn hidden_distinct(
    ctx: &Ctx<'_>,
    f: &ast::Function,
    is_key: &dyn Fn(&Expr) -> bool,
) -> Result<HiddenDistinct, String> {
    let name = function_name(f);
    let args = distinct_arg_ranges(ctx, f)?;
    if args.is_empty() || (name != "COUNT" && args.len() != 1) {
        return Err(format!(
            "{name}(DISTINCT …) has an unexpected argument list"
        ));
    }
    let single_key = match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 => {
            matches!(&l.args[0], FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if is_key(e))
        }
        _ => false,
    };
    let missing = || format!("cannot locate {name}(DISTINCT …)");
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    let close = ctx.toks.matching_paren(open).ok_or_else(missing)?;
    Ok(HiddenDistinct {
        text: f.to_string(),
        kind: match name.as_str() {
            "COUNT" => "COUNT",
            "SUM" => "SUM",
            _ => "AVG",
        },
        whole: name_at.start..ctx.toks.toks[close].end,
        args,
        key: name == "COUNT" && single_key,
    })
}

/// Source ranges of the arguments of `F(DISTINCT a, b, …)`.
pub(super) fn distinct_arg_ranges(
    ctx: &Ctx<'_>,
    f: &ast::Function,
) -> Result<Vec<Range<usize>>, String> {
    let name = function_name(f);
    let missing = || format!("cannot locate the arguments of {name}(DISTINCT …)");
    let name_ident = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .ok_or_else(missing)?;
    let name_at = ctx.lines.range(name_ident.span).ok_or_else(missing)?;
    let open = ctx.toks.index_at(name_at.end);
    if !ctx.toks.is_punct(open, "(") || !ctx.toks.is_kw(open + 1, "DISTINCT") {
        return Err(missing());
    }
    let (items, stop) = ctx.toks.split_list(open + 2, |_, _| false);
    if !ctx.toks.is_punct(stop, ")") {
        return Err(missing());
    }
    items
        .iter()
        .map(|r| ctx.toks.byte_range(r))
        .collect::<Option<_>>()
        .ok_or_else(missing)
}

/// The combine rule of an aggregate select item; `AVG` is rewritten to
/// `SUM` (keeping the client's column name) with a hidden `COUNT`.
#[allow(clippy::too_many_arguments)]
pub(super) fn aggregate_combine(
    ctx: &Ctx<'_>,
    f: &ast::Function,
    is_key: &dyn Fn(&Expr) -> bool,
    item: &Range<usize>,
    alias: Option<&ast::Ident>,
    edits: &mut Vec<Edit>,
    avg_counts: &mut Vec<(usize, Vec<Piece>)>,
    distincts: &mut Vec<DistinctAgg>,
    key_distincts: &mut Vec<usize>,
    concats: &mut Vec<ConcatAgg>,
    index: usize,
) -> Result<Combine, String> {
    let name = function_name(f);
    let distinct = distinct_args(f);
    let single_arg = match &f.args {
        FunctionArguments::List(l) if l.args.len() == 1 && l.clauses.is_empty() => match &l.args[0]
        {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        },
        _ => None,
    };
    match (name.as_str(), distinct) {
        ("COUNT", false) => Ok(Combine::Count),
        ("COUNT", true) if single_arg.is_some_and(is_key) => {
            // Each key value lives in one shard: the counts add up, unless
            // another DISTINCT aggregate makes the shards group finer.
            key_distincts.push(index);
            Ok(Combine::Count)
        }
        ("SUM", false) => Ok(Combine::Sum),
        ("MIN", _) => Ok(Combine::Min),
        ("MAX", _) => Ok(Combine::Max),
        ("AVG", false) => {
            let name_ident = f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .ok_or("cannot locate AVG")?;
            let name_at = ctx.lines.range(name_ident.span).ok_or("cannot locate AVG")?;
            let open = ctx.toks.index_at(name_at.end);
            if !ctx.toks.is_punct(open, "(") {
                return Err("cannot locate the arguments of AVG".to_owned());
            }
            let close = ctx.toks.matching_paren(open).ok_or("cannot locate the arguments of AVG")?;
            let args = ctx.toks.toks[open].end..ctx.toks.toks[close].start;
            let fn_end = ctx.toks.toks[close].end;
            edits.push(Edit {
                range: name_at,
                pieces: vec![Piece::Text("SUM".to_owned())],
            });
            if alias.is_none() {
                // Keep the client's column name: the item as written.
                let text = ctx.sql.get(item.start..fn_end).unwrap_or("AVG");
                edits.push(Edit {
                    range: fn_end..fn_end,
                    pieces: vec![Piece::Text(format!(" AS `{}`", text.replace('`', "``")))],
                });
            }
            avg_counts.push((
                index,
                vec![
                    Piece::Text("COUNT(".to_owned()),
                    Piece::Src(args),
                    Piece::Text(")".to_owned()),
                ],
            ));
            Ok(Combine::Sum)
        }
        ("COUNT" | "SUM" | "AVG", true) => {
            let args = distinct_arg_ranges(ctx, f)?;
            if args.is_empty() || (name != "COUNT" && args.len() != 1) {
                return Err(format!("{name}(DISTINCT …) has an unexpected argument list"));
            }
            distincts.push(DistinctAgg {
                item: index,
                kind: match name.as_str() {
                    "COUNT" => "COUNT",
                    "SUM" => "SUM",
                    _ => "AVG",
                },
                args,
            });
            // Replaced once the hidden argument columns are placed.
            Ok(Combine::Any)
        }
        ("GROUP_CONCAT", _) => {
            concats.push(group_concat(ctx, f)?.with_item(index));
            // Replaced once the hidden columns are placed.
            Ok(Combine::Any)
        }
        (other, true) => Err(format!(
            "{other}(DISTINCT …) cannot be merged across shards unless GROUP BY includes the sharding key"
        )),
        (other, false) => Err(format!(
            "{other}() cannot be merged across shards (COUNT, SUM, MIN, MAX, AVG, their DISTINCT forms and GROUP_CONCAT can) unless GROUP BY includes the sharding key"
        )),
    }
}
