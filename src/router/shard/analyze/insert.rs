//! INSERT / REPLACE: the target table, its column list, each VALUES row
//! (or the SET list) with the byte ranges and values of its columns, and
//! the `[[sequence]]` columns to generate.
//!
//! Owns: [`InsertInfo`] construction. Must not plan rows to shards (the
//! planner does).

use super::*;

impl<'a> Analyzer<'a> {
    pub(super) fn insert_statement(&mut self, ins: &ast::Insert) -> Result<(), RouteError> {
        self.kind = StmtKind::Insert;
        self.write = true;
        let top = self.new_scope(None, Role::Top);
        let TableObject::TableName(name) = &ins.table else {
            return Ok(());
        };
        let Some(target) = self.new_ref(name, None, Some(top)) else {
            return Ok(());
        };
        self.written.push(target);
        let columns: Vec<String> = ins
            .columns
            .iter()
            .filter_map(|c| {
                object_idents(c)
                    .last()
                    .map(|i| i.value.to_ascii_lowercase())
            })
            .collect();
        let table = match self.refs[target].table {
            RefTable::Rule(i) => Some(i),
            _ => None,
        };
        let key = table
            .and_then(|i| self.router.tables[i].sharded())
            .map(|s| s.key.to_ascii_lowercase());
        let mut info = InsertInfo {
            target,
            key_position: None,
            rows: Vec::new(),
            values_range: None,
            add_column_at: ins
                .columns
                .last()
                .and_then(|c| object_idents(c).last().and_then(|i| self.ident_range(i)))
                .map(|r| r.end),
            set_form: false,
            generated: Vec::new(),
            from_select: false,
            odku_refusal: None,
            columns: columns.clone(),
        };
        let mut row_columns = columns.clone();
        if !ins.assignments.is_empty() {
            row_columns = self.set_form_row(ins, top, target, &mut info);
        } else if let Some(source) = &ins.source {
            self.values_rows(source, top, target, &mut info)?;
        }
        if let Some(key) = &key {
            info.key_position = row_columns.iter().position(|c| c == key);
        }
        if let Some(t) = table {
            for seq in self.router.sequences.iter().filter(|s| s.table == t) {
                let column = seq.column.to_ascii_lowercase();
                info.generated.push(GeneratedColumn {
                    position: row_columns.iter().position(|c| *c == column),
                    column: seq.column.clone(),
                });
            }
        }
        self.refuse_key_update(ins, top, target, &key)?;
        if info.from_select {
            info.odku_refusal = odku_refusal(ins, &self.refs[target].name);
        }
        self.insert = Some(info);
        Ok(())
    }

    /// INSERT … SET a = 1, b = 2: one row; returns its column names.
    fn set_form_row(
        &mut self,
        ins: &ast::Insert,
        top: ScopeId,
        target: RefId,
        info: &mut InsertInfo,
    ) -> Vec<String> {
        // INSERT … SET a = 1, b = 2: one row.
        info.set_form = true;
        let row_columns: Vec<String> = ins
            .assignments
            .iter()
            .map(|a| match &a.target {
                AssignmentTarget::ColumnName(n) => object_idents(n)
                    .last()
                    .map(|i| i.value.to_ascii_lowercase())
                    .unwrap_or_default(),
                AssignmentTarget::Tuple(_) => String::new(),
            })
            .collect();
        info.columns = row_columns.clone();
        info.add_column_at = ins.assignments.first().and_then(|a| match &a.target {
            AssignmentTarget::ColumnName(n) => object_idents(n)
                .first()
                .and_then(|i| self.ident_range(i))
                .map(|r| r.start),
            AssignmentTarget::Tuple(_) => None,
        });
        let values = ins
            .assignments
            .iter()
            .map(|a| {
                self.subqueries_in(top, &a.value);
                let range = self.expr_range(&a.value);
                (range, self.value(target, &a.value), is_null(&a.value))
            })
            .collect();
        let period_values = self.period_values(target, ins.assignments.iter().map(|a| &a.value));
        info.rows.push(InsertRow {
            range: 0..0,
            close: 0,
            values,
            period_values,
        });
        row_columns
    }

    /// The rows of `VALUES (…), (…)` with their byte ranges, or the
    /// query of INSERT … SELECT.
    fn values_rows(
        &mut self,
        source: &Query,
        top: ScopeId,
        target: RefId,
        info: &mut InsertInfo,
    ) -> Result<(), RouteError> {
        match source.body.as_ref() {
            SetExpr::Values(values) if source.with.is_none() => {
                let mut first = None;
                let mut last = None;
                for row in &values.rows {
                    let (Some(open), Some(close)) = (
                        self.lines.range(row.opening_token.0.span),
                        self.lines.range(row.closing_token.0.span),
                    ) else {
                        return super::super::err(format!(
                            "shardcat cannot locate the rows of this INSERT: {}",
                            quote_sql(self.sql)
                        ));
                    };
                    first.get_or_insert(open.start);
                    last = Some(close.end);
                    let vals = row
                        .content
                        .iter()
                        .map(|e| {
                            self.subqueries_in(top, e);
                            (self.expr_range(e), self.value(target, e), is_null(e))
                        })
                        .collect();
                    info.rows.push(InsertRow {
                        range: open.start..close.end,
                        close: close.start,
                        values: vals,
                        period_values: self.period_values(target, row.content.iter()),
                    });
                }
                if let (Some(a), Some(b)) = (first, last) {
                    info.values_range = Some(a..b);
                }
            }
            _ => {
                info.from_select = true;
                self.query(source, Role::Sub, Some(top));
            }
        }
        Ok(())
    }

    /// ON DUPLICATE KEY UPDATE may not change the sharding key (the row
    /// would have to move to another shard).
    fn refuse_key_update(
        &mut self,
        ins: &ast::Insert,
        top: ScopeId,
        target: RefId,
        key: &Option<String>,
    ) -> Result<(), RouteError> {
        if let Some(ast::OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on {
            for a in assignments {
                self.subqueries_in(top, &a.value);
                if let AssignmentTarget::ColumnName(n) = &a.target {
                    let col = object_idents(n)
                        .last()
                        .map(|i| i.value.to_ascii_lowercase());
                    let period = self
                        .period_of(target)
                        .map(|(column, _)| column.to_ascii_lowercase());
                    if col.is_some() && (col == *key || col == period) {
                        return super::super::err(format!(
                            "ON DUPLICATE KEY UPDATE changes `{}`, the sharding key of `{}`: the row would \
                             have to move to another shard: {}",
                            col.clone().unwrap_or_default(),
                            self.refs[target].name,
                            quote_sql(self.sql)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why the ON DUPLICATE KEY UPDATE of an `INSERT … SELECT` into `target`
/// cannot run per shard as the ODKU of an `INSERT … VALUES` (see
/// [`InsertInfo::odku_refusal`]).
fn odku_refusal(ins: &ast::Insert, target: &str) -> Option<String> {
    let Some(ast::OnInsert::DuplicateKeyUpdate(assignments)) = &ins.on else {
        return None;
    };
    let mut check = OdkuCheck {
        target,
        in_values: 0,
        refusal: None,
    };
    for a in assignments {
        let _ = a.value.visit(&mut check);
    }
    check.refusal
}

/// Walks ODKU values: columns must name the target or sit in `VALUES()`.
struct OdkuCheck<'t> {
    target: &'t str,
    in_values: usize,
    refusal: Option<String>,
}

fn is_values_call(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("values"))
}

impl Visitor for OdkuCheck<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if is_values_call(e) {
            self.in_values += 1;
            return ControlFlow::Continue(());
        }
        if self.in_values > 0 {
            return ControlFlow::Continue(());
        }
        let why = match e {
            Expr::Identifier(i) => Some(format!(
                "`{}` is not qualified: the server resolves it against the SELECT's tables too; \
                 write `{}.{}` (the row in the table) or `VALUES({})` (the row inserted)",
                i.value, self.target, i.value, i.value
            )),
            Expr::CompoundIdentifier(parts) => {
                let n = parts.len();
                let qualifier = (n >= 2).then(|| &parts[n - 2].value);
                if qualifier.is_some_and(|q| q.eq_ignore_ascii_case(self.target)) {
                    None
                } else {
                    Some(format!(
                        "`{}` names a column of another table than `{}`",
                        e, self.target
                    ))
                }
            }
            _ => None,
        };
        if let Some(why) = why {
            self.refusal.get_or_insert(why);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.refusal.get_or_insert("it has a subquery".to_owned());
        ControlFlow::Break(())
    }

    fn post_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if is_values_call(e) {
            self.in_values -= 1;
        }
        ControlFlow::Continue(())
    }
}

pub(super) fn is_null(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Null))
}
