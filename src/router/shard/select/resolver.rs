//! HAVING conditions and expressions on aggregates turned into
//! [`MergeExpr`]s over the combined row: select aliases and items, group
//! keys, and aggregates added as hidden columns when not selected;
//! comparisons of group keys alone evaluated by the shards (hidden
//! columns), so that the server's collation decides them.
//!
//! Owns: [`Resolver`] and merge literals. Must not edit the shard SQL other
//! than by adding hidden columns.

use super::*;

/// Turns a HAVING condition into a [`MergeExpr`] over the combined row:
/// select-list aliases and items, group keys, and aggregates (added as
/// hidden columns when not selected).
pub(super) struct Resolver<'a, 'q> {
    pub(super) ctx: &'a Ctx<'q>,
    pub(super) s: &'a Select,
    pub(super) is_key: &'a dyn Fn(&Expr) -> bool,
    pub(super) columns: &'a mut Vec<Combine>,
    pub(super) hidden: &'a mut Vec<Hidden>,
    pub(super) visible: usize,
    pub(super) group_exprs: &'a [&'a Expr],
    pub(super) group_by: &'a [usize],
    /// The shards also group by DISTINCT arguments: a hidden
    /// `COUNT(DISTINCT key)` would no longer add up.
    pub(super) fine_groups: bool,
    /// DISTINCT aggregates of HAVING/ORDER BY already placed as hidden
    /// columns: (text, column).
    pub(super) hidden_distincts: &'a [(String, usize)],
}

impl Resolver<'_, '_> {
    /// A visible column whose merged value is well defined (a group key
    /// or an aggregate, not a `Combine::Any` pick).
    fn usable(&self, i: usize) -> Result<MergeExpr, String> {
        match self.columns.get(i) {
            Some(Combine::Any) => Err(format!(
                "uses select item {} which is neither grouped nor an aggregate",
                i + 1
            )),
            Some(_) => Ok(MergeExpr::Column(i)),
            None => Err("refers to a missing column".to_owned()),
        }
    }

    /// A column standing for `e`: a select alias (for a bare name), a
    /// select item written the same way, or a group key. Only names and
    /// aggregates are looked up: like the server, a HAVING expression such
    /// as `DATE(created)` is resolved through its columns, not matched to
    /// a select item as a whole.
    fn column_for(&self, e: &Expr) -> Option<Result<MergeExpr, String>> {
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {}
            Expr::Function(f) if is_aggregate(f) => {}
            _ => return None,
        }
        // HAVING names a GROUP BY column before a select alias (the
        // server searches the FROM columns first).
        if let Some(g) = self.group_exprs.iter().position(|g| same_expr(g, e)) {
            return Some(Ok(MergeExpr::Column(self.group_by[g])));
        }
        if let Expr::Identifier(id) = e {
            let by_alias = self.s.projection.iter().position(|item| {
                matches!(item, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(&id.value))
            });
            if let Some(i) = by_alias.filter(|&i| i < self.visible) {
                return Some(self.usable(i));
            }
        }
        if let Some(i) = self
            .s
            .projection
            .iter()
            .position(|item| item_expr(item).is_some_and(|(x, _)| same_expr(x, e)))
            .filter(|&i| i < self.visible)
        {
            if !matches!(self.columns.get(i), Some(Combine::Any)) {
                return Some(Ok(MergeExpr::Column(i)));
            }
        }
        self.group_exprs
            .iter()
            .position(|g| same_expr(g, e))
            .map(|g| Ok(MergeExpr::Column(self.group_by[g])))
    }

    /// A comparison of group keys alone (no aggregate, no subquery, no
    /// select alias): the shards evaluate it for each group, as a hidden
    /// column, under the collation the server applies; every shard's
    /// partial group has keys equal under that collation, so any shard's
    /// answer is the group's. `None` for anything else.
    fn shard_condition(&mut self, e: &Expr) -> Option<MergeExpr> {
        use ast::BinaryOperator as B;
        let comparison = match e {
            Expr::BinaryOp { op, .. } => matches!(
                op,
                B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::Spaceship
            ),
            Expr::In {
                target: ast::InTarget::List(_),
                ..
            }
            | Expr::Between { .. }
            | Expr::Like { .. } => true,
            _ => false,
        };
        if !comparison || find_aggregates(e).0 {
            return None;
        }
        let is_alias = |name: &str| {
            self.s.projection.iter().any(|item| {
                matches!(item, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(name))
            })
        };
        let (mut keys_only, mut names) = (true, 0usize);
        let _ = ast::visit_expressions(e, |x| {
            match x {
                Expr::Identifier(id) => {
                    names += 1;
                    keys_only &=
                        !is_alias(&id.value) && self.group_exprs.iter().any(|g| same_expr(g, x));
                }
                Expr::CompoundIdentifier(_) => {
                    names += 1;
                    keys_only &= self.group_exprs.iter().any(|g| same_expr(g, x));
                }
                Expr::Subquery(_) | Expr::Exists { .. } => keys_only = false,
                Expr::In { target, .. } if !matches!(target, ast::InTarget::List(_)) => {
                    keys_only = false
                }
                _ => {}
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        // The AST's text of the condition (the parser keeps literals as
        // written: quotes read back the same); with a backslash, kept
        // local (refused for strings) rather than trusted.
        let text = e.to_string();
        if !keys_only || names == 0 || text.contains('\\') {
            return None;
        }
        let at = push_hidden(
            self.columns,
            self.hidden,
            Combine::Any,
            vec![Piece::Text(format!("({text})"))],
        );
        Some(MergeExpr::Column(at))
    }

    pub(super) fn expr(&mut self, e: &Expr) -> Result<MergeExpr, String> {
        use crate::merge::eval::BinOp;
        use MergeExpr as M;
        if let Some(c) = self.column_for(e) {
            return c;
        }
        if let Some(c) = self.shard_condition(e) {
            return Ok(c);
        }
        let b = |x: M| Box::new(x);
        Ok(match e {
            Expr::Nested(inner) => self.expr(inner)?,
            Expr::Function(f) if is_aggregate(f) => M::Column(self.hidden_aggregate(f)?),
            Expr::Function(f) if function_name(f) == "ROUND" => {
                let args = match &f.args {
                    FunctionArguments::List(l) if l.clauses.is_empty() => &l.args,
                    _ => return Err("uses ROUND in a form shardcat cannot evaluate".to_owned()),
                };
                fn arg(a: &FunctionArg) -> Option<&Expr> {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                        _ => None,
                    }
                }
                match args.as_slice() {
                    [x] => M::Round(b(self.expr(arg(x).ok_or("uses ROUND(*)")?)?), 0),
                    [x, d] => {
                        let digits = match arg(d) {
                            Some(Expr::Value(ast::ValueWithSpan {
                                value: Value::Number(n, _),
                                ..
                            })) => n.parse::<u32>().ok().filter(|&d| d <= 38),
                            _ => None,
                        }
                        .ok_or("uses ROUND with digits that are not a small non-negative number")?;
                        M::Round(b(self.expr(arg(x).ok_or("uses ROUND(*)")?)?), digits)
                    }
                    _ => return Err("uses ROUND with unexpected arguments".to_owned()),
                }
            }
            Expr::Value(v) => M::Literal(literal(&v.value)?),
            Expr::UnaryOp { op, expr } => match op {
                ast::UnaryOperator::Not => M::Not(b(self.expr(expr)?)),
                ast::UnaryOperator::Minus => M::Neg(b(self.expr(expr)?)),
                ast::UnaryOperator::Plus => self.expr(expr)?,
                other => {
                    return Err(format!(
                        "operator `{other}` cannot be evaluated by shardcat"
                    ))
                }
            },
            Expr::BinaryOp { left, op, right } => {
                use ast::BinaryOperator as O;
                let op = match op {
                    O::And => BinOp::And,
                    O::Or => BinOp::Or,
                    // The parser binds XOR tighter than comparisons
                    // (MySQL: between AND and OR): its tree is not the
                    // server's.
                    O::Xor => {
                        return Err(
                            "uses XOR, which shardcat cannot evaluate across shards".to_owned()
                        )
                    }
                    O::Eq => BinOp::Eq,
                    O::Spaceship => BinOp::NullSafeEq,
                    O::NotEq => BinOp::Ne,
                    O::Lt => BinOp::Lt,
                    O::LtEq => BinOp::Le,
                    O::Gt => BinOp::Gt,
                    O::GtEq => BinOp::Ge,
                    O::Plus => BinOp::Add,
                    O::Minus => BinOp::Sub,
                    O::Multiply => BinOp::Mul,
                    O::Divide => BinOp::Div,
                    O::MyIntegerDivide => BinOp::IntDiv,
                    O::Modulo => BinOp::Mod,
                    other => {
                        return Err(format!(
                            "operator `{other}` cannot be evaluated by shardcat"
                        ))
                    }
                };
                M::Binary(op, b(self.expr(left)?), b(self.expr(right)?))
            }
            Expr::IsNull(x) => M::IsNull {
                expr: b(self.expr(x)?),
                negated: false,
            },
            Expr::IsNotNull(x) => M::IsNull {
                expr: b(self.expr(x)?),
                negated: true,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => M::InList {
                expr: b(self.expr(expr)?),
                list: list
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => M::Between {
                expr: b(self.expr(expr)?),
                low: b(self.expr(low)?),
                high: b(self.expr(high)?),
                negated: *negated,
            },
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                return Err(format!(
                    "refers to `{e}`, which is neither selected, grouped nor an aggregate"
                ))
            }
            other => return Err(format!("`{other}` cannot be evaluated by shardcat")),
        })
    }

    /// The column of an aggregate computed by the shards as a hidden
    /// column (partials combined like the select list's).
    pub(super) fn hidden_aggregate(&mut self, f: &ast::Function) -> Result<usize, String> {
        let name = function_name(f);
        let distinct = distinct_args(f);
        if distinct {
            let text = f.to_string();
            if let Some((_, at)) = self.hidden_distincts.iter().find(|(t, _)| *t == text) {
                return Ok(*at);
            }
        }
        let name_ident = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .ok_or("cannot locate an aggregate")?;
        let name_at = self
            .ctx
            .lines
            .range(name_ident.span)
            .ok_or("cannot locate an aggregate")?;
        let open = self.ctx.toks.index_at(name_at.end);
        if !self.ctx.toks.is_punct(open, "(") {
            return Err("cannot locate the arguments of an aggregate".to_owned());
        }
        let close = self
            .ctx
            .toks
            .matching_paren(open)
            .ok_or("cannot locate the arguments of an aggregate")?;
        let whole = name_at.start..self.ctx.toks.toks[close].end;
        let args = self.ctx.toks.toks[open].end..self.ctx.toks.toks[close].start;
        let single_arg = match &f.args {
            FunctionArguments::List(l) if l.args.len() == 1 && l.clauses.is_empty() => {
                match &l.args[0] {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                }
            }
            _ => None,
        };
        let combine = match (name.as_str(), distinct) {
            ("COUNT", false) => Combine::Count,
            ("COUNT", true)
                if !self.fine_groups && single_arg.is_some_and(|e| (self.is_key)(e)) =>
            {
                Combine::Count
            }
            ("SUM", false) => Combine::Sum,
            ("MIN", _) => Combine::Min,
            ("MAX", _) => Combine::Max,
            ("AVG", false) => {
                // A hidden SUM carrying the AVG and a hidden COUNT.
                let sum = push_hidden(
                    self.columns,
                    self.hidden,
                    Combine::Sum,
                    vec![
                        Piece::Text("SUM(".to_owned()),
                        Piece::Src(args.clone()),
                        Piece::Text(")".to_owned()),
                    ],
                );
                let count = push_hidden(
                    self.columns,
                    self.hidden,
                    Combine::Count,
                    vec![
                        Piece::Text("COUNT(".to_owned()),
                        Piece::Src(args),
                        Piece::Text(")".to_owned()),
                    ],
                );
                self.columns[sum] = Combine::Avg { count };
                return Ok(sum);
            }
            (other, _) => {
                return Err(format!(
                    "uses {other}{}, which cannot be merged across shards",
                    if distinct { "(DISTINCT …)" } else { "()" }
                ))
            }
        };
        Ok(push_hidden(
            self.columns,
            self.hidden,
            combine,
            vec![Piece::Src(whole)],
        ))
    }
}

/// A literal of a merge expression.
fn literal(v: &Value) -> Result<crate::merge::eval::Literal, String> {
    use crate::merge::decimal::Decimal;
    use crate::merge::eval::Literal;
    Ok(match v {
        Value::Null => Literal::Null,
        Value::Boolean(b) => Literal::Int(*b as i128),
        Value::Number(n, _) => {
            if n.contains(['e', 'E']) {
                Literal::Double(
                    n.parse::<f64>()
                        .map_err(|_| format!("number `{n}` cannot be read"))?
                        .to_bits(),
                )
            } else if n.contains('.') {
                Literal::Decimal(
                    Decimal::parse(n.as_bytes()).ok_or(format!("number `{n}` cannot be read"))?,
                )
            } else {
                match n.parse::<i128>() {
                    Ok(i) if i <= u64::MAX as i128 => Literal::Int(i),
                    // Beyond BIGINT UNSIGNED MySQL reads a DECIMAL.
                    _ => Literal::Decimal(
                        Decimal::parse(n.as_bytes())
                            .ok_or(format!("number `{n}` cannot be read"))?,
                    ),
                }
            }
        }
        // The parser keeps literals as written: MySQL's escapes apply.
        Value::SingleQuotedString(t) => Literal::Str(unescape_string(t, '\'').into_bytes()),
        Value::DoubleQuotedString(t) => Literal::Str(unescape_string(t, '"').into_bytes()),
        other => return Err(format!("literal `{other}` cannot be evaluated by shardcat")),
    })
}
