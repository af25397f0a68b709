//! A small evaluator of SQL expressions over merged rows, with MySQL's
//! semantics, for what must be computed after partial groups are combined:
//! `HAVING` on a cross-shard `GROUP BY` (shards cannot apply it to their
//! incomplete groups).
//!
//! Owns: the expression tree ([`MergeExpr`]), its type check against the
//! result columns ([`MergeExpr::check`], run before anything is sent to the
//! client) and its evaluation on one row ([`MergeExpr::eval`]). Must not
//! parse SQL (the router builds the tree) or buffer rows.
//!
//! Semantics follow MySQL/MariaDB: NULL propagates through arithmetic and
//! comparisons, AND/OR/XOR/NOT are three-valued; numbers compare as
//! integers when both are integers, exactly as decimals when neither is a
//! double, as doubles otherwise; `+ - *` of integers are BIGINT (out of
//! range is an error, as on the server), of exact values DECIMAL with the
//! larger (`+ -`) or summed (`*`) scale; `/` of exact values is a DECIMAL
//! with the dividend's scale plus `div_precision_increment` (4), rounded
//! half away from zero; `/`, `DIV` and `MOD` by zero are NULL. Strings
//! compare under the collation of the column they come from.
//!
//! What the evaluator could not reproduce exactly is refused by `check`:
//! temporal values (except under `IS [NOT] NULL`), strings mixed with
//! numbers (MySQL converts them with warnings), strings in arithmetic or
//! as truth values, two literals compared as strings (their collation is
//! the connection's), columns of different collations compared together.

use std::cmp::Ordering;

use mysql_common::constants::{ColumnFlags, ColumnType};

use super::compare::ValueOrder;
use super::decimal::Decimal;
use super::row::{ColumnInfo, TextRow};

/// MySQL's `div_precision_increment` default.
const DIV_PRECISION_INCREMENT: usize = 4;
/// MariaDB's largest DECIMAL scale.
const MAX_SCALE: usize = 38;

/// An expression over the columns of a merged row (visible and hidden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeExpr {
    /// 0-based column of the merged row.
    Column(usize),
    Literal(Literal),
    Not(Box<MergeExpr>),
    Neg(Box<MergeExpr>),
    Binary(BinOp, Box<MergeExpr>, Box<MergeExpr>),
    IsNull {
        expr: Box<MergeExpr>,
        negated: bool,
    },
    InList {
        expr: Box<MergeExpr>,
        list: Vec<MergeExpr>,
        negated: bool,
    },
    Between {
        expr: Box<MergeExpr>,
        low: Box<MergeExpr>,
        high: Box<MergeExpr>,
        negated: bool,
    },
    /// `ROUND(x, digits)` of an exact value, `digits >= 0`.
    Round(Box<MergeExpr>, u32),
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    /// An integer literal (BIGINT, or BIGINT UNSIGNED above i64::MAX).
    Int(i128),
    /// A literal with a point: exact, with its written scale.
    Decimal(Decimal),
    /// A literal with an exponent (`1e3`): DOUBLE, kept as its bits.
    Double(u64),
    /// A string literal (its collation is the other operand's).
    Str(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    And,
    Or,
    Xor,
    Eq,
    /// `<=>`: NULL-safe equality.
    NullSafeEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    /// `DIV`: integer division.
    IntDiv,
    Mod,
}

impl BinOp {
    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq
                | BinOp::NullSafeEq
                | BinOp::Ne
                | BinOp::Lt
                | BinOp::Le
                | BinOp::Gt
                | BinOp::Ge
        )
    }

    fn is_logic(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Xor)
    }
}

/// The static type of an expression, from the result's column definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Null,
    Int,
    Decimal,
    Double,
    /// A string; `Some(c)`: with the collation of column `c`.
    Str(Option<usize>),
    Temporal,
}

impl Ty {
    fn is_number(self) -> bool {
        matches!(self, Ty::Int | Ty::Decimal | Ty::Double)
    }
}

fn column_ty(c: &ColumnInfo) -> Ty {
    use ColumnType::*;
    match c.column_type {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG | MYSQL_TYPE_YEAR => Ty::Int,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => Ty::Decimal,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => Ty::Double,
        MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
        | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET => Ty::Str(None),
        // Dates, times, bits, JSON, geometry: conversions not reproduced.
        _ => Ty::Temporal,
    }
}

/// A runtime value.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    /// An integer and whether its type is UNSIGNED.
    Int(i128, bool),
    Decimal(Decimal),
    Double(f64),
    /// String bytes and the column whose collation applies (if any).
    Str(Vec<u8>, Option<usize>),
}

impl Value {
    /// MySQL's truth value (`None` for NULL).
    pub fn truth(&self) -> Option<bool> {
        match self {
            Value::Null => None,
            Value::Int(v, _) => Some(*v != 0),
            Value::Decimal(d) => Some(!d.is_zero()),
            Value::Double(f) => Some(*f != 0.0),
            // Refused by `check`; a string's truth needs a conversion.
            Value::Str(..) => None,
        }
    }

    fn bool(b: Option<bool>) -> Value {
        match b {
            None => Value::Null,
            Some(b) => Value::Int(b as i128, false),
        }
    }

    fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(v, _) => Some(Decimal::from_i128(*v)),
            Value::Decimal(d) => Some(d.clone()),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v, _) => Some(*v as f64),
            Value::Decimal(d) => Some(d.to_f64()),
            Value::Double(f) => Some(*f),
            _ => None,
        }
    }
}

/// Why an expression cannot be evaluated (refused before the answer
/// starts) or failed on a row (as the server would fail).
pub type EvalResult<T> = Result<T, String>;

impl MergeExpr {
    /// Checks that every operation has a meaning the evaluator reproduces
    /// exactly for these result columns.
    pub fn check(&self, columns: &[ColumnInfo]) -> EvalResult<()> {
        let ty = self.ty(columns)?;
        match ty {
            Ty::Str(_) => {
                Err("a string used as a truth value cannot be evaluated by shardcat".into())
            }
            Ty::Temporal => {
                Err("a temporal value used as a truth value cannot be evaluated by shardcat".into())
            }
            _ => Ok(()),
        }
    }

    fn ty(&self, columns: &[ColumnInfo]) -> EvalResult<Ty> {
        Ok(match self {
            MergeExpr::Column(i) => {
                let c = columns
                    .get(*i)
                    .ok_or_else(|| format!("merge expression refers to missing column {i}"))?;
                match column_ty(c) {
                    Ty::Str(None) => Ty::Str(Some(*i)),
                    t => t,
                }
            }
            MergeExpr::Literal(l) => match l {
                Literal::Null => Ty::Null,
                Literal::Int(_) => Ty::Int,
                Literal::Decimal(_) => Ty::Decimal,
                Literal::Double(_) => Ty::Double,
                Literal::Str(_) => Ty::Str(None),
            },
            MergeExpr::Not(e) => {
                truth_operand(e.ty(columns)?)?;
                Ty::Int
            }
            MergeExpr::Neg(e) => {
                let t = e.ty(columns)?;
                if !(t.is_number() || t == Ty::Null) {
                    return Err(
                        "unary minus on a non-number cannot be evaluated by shardcat".into(),
                    );
                }
                t
            }
            MergeExpr::IsNull { expr, .. } => {
                expr.ty(columns)?;
                Ty::Int
            }
            MergeExpr::Binary(op, a, b) => {
                let (ta, tb) = (a.ty(columns)?, b.ty(columns)?);
                if op.is_logic() {
                    truth_operand(ta)?;
                    truth_operand(tb)?;
                    Ty::Int
                } else if op.is_comparison() {
                    comparable(ta, tb, columns)?;
                    Ty::Int
                } else {
                    arithmetic_ty(*op, ta, tb)?
                }
            }
            MergeExpr::Round(e, _) => match e.ty(columns)? {
                t @ (Ty::Int | Ty::Decimal | Ty::Null) => t,
                _ => {
                    return Err(
                        "ROUND of a floating-point or non-numeric value cannot be evaluated by shardcat"
                            .into(),
                    )
                }
            },
            MergeExpr::InList { expr, list, .. } => {
                let t = expr.ty(columns)?;
                for e in list {
                    comparable(t, e.ty(columns)?, columns)?;
                }
                Ty::Int
            }
            MergeExpr::Between {
                expr, low, high, ..
            } => {
                let t = expr.ty(columns)?;
                comparable(t, low.ty(columns)?, columns)?;
                comparable(t, high.ty(columns)?, columns)?;
                Ty::Int
            }
        })
    }

    /// Evaluates on one merged row. `columns` and `orders` describe the
    /// row's columns; call [`MergeExpr::check`] first.
    pub fn eval(
        &self,
        row: &TextRow,
        columns: &[ColumnInfo],
        orders: &[ValueOrder],
    ) -> EvalResult<Value> {
        Ok(match self {
            MergeExpr::Column(i) => {
                let Some(v) = row.value(*i) else {
                    return Ok(Value::Null);
                };
                let c = columns
                    .get(*i)
                    .ok_or_else(|| format!("merge expression refers to missing column {i}"))?;
                parse_value(v, c, *i)?
            }
            MergeExpr::Literal(l) => match l {
                Literal::Null => Value::Null,
                Literal::Int(v) => Value::Int(*v, *v > i64::MAX as i128),
                Literal::Decimal(d) => Value::Decimal(d.clone()),
                Literal::Double(bits) => Value::Double(f64::from_bits(*bits)),
                Literal::Str(s) => Value::Str(s.clone(), None),
            },
            MergeExpr::Not(e) => Value::bool(e.eval(row, columns, orders)?.truth().map(|b| !b)),
            MergeExpr::Neg(e) => match e.eval(row, columns, orders)? {
                Value::Int(v, _) => int_result(-v, false, "-")?,
                Value::Decimal(d) => Value::Decimal(d.neg()),
                Value::Double(f) => Value::Double(-f),
                _ => Value::Null,
            },
            MergeExpr::Round(e, digits) => match e.eval(row, columns, orders)? {
                // Half away from zero, as the server rounds exact values.
                Value::Decimal(d) if d.scale() > *digits as usize => {
                    Value::Decimal(d.round(*digits as usize))
                }
                v => v,
            },
            MergeExpr::IsNull { expr, negated } => {
                let null = matches!(expr.eval(row, columns, orders)?, Value::Null);
                Value::bool(Some(null != *negated))
            }
            MergeExpr::Binary(op, a, b) => {
                let x = a.eval(row, columns, orders)?;
                // AND/OR stop at a deciding left side, as the server does:
                // the right side's errors (an overflow) must not surface.
                match (op, x.truth()) {
                    (BinOp::And, Some(false)) => return Ok(Value::bool(Some(false))),
                    (BinOp::Or, Some(true)) => return Ok(Value::bool(Some(true))),
                    _ => {}
                }
                let y = b.eval(row, columns, orders)?;
                binary(*op, &x, &y, orders)?
            }
            MergeExpr::InList {
                expr,
                list,
                negated,
            } => {
                let x = expr.eval(row, columns, orders)?;
                if matches!(x, Value::Null) {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                let mut found = false;
                for e in list {
                    let y = e.eval(row, columns, orders)?;
                    match compare(&x, &y, orders) {
                        None => saw_null = true,
                        Some(Ordering::Equal) => {
                            found = true;
                            break;
                        }
                        Some(_) => {}
                    }
                }
                let r = if found {
                    Some(true)
                } else if saw_null {
                    None
                } else {
                    Some(false)
                };
                Value::bool(r.map(|b| b != *negated))
            }
            MergeExpr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let x = expr.eval(row, columns, orders)?;
                let lo = low.eval(row, columns, orders)?;
                let hi = high.eval(row, columns, orders)?;
                let ge = compare(&x, &lo, orders).map(|o| o != Ordering::Less);
                let le = compare(&x, &hi, orders).map(|o| o != Ordering::Greater);
                Value::bool(and(ge, le).map(|b| b != *negated))
            }
        })
    }

    /// Whether the row passes (a HAVING condition): true, not false or NULL.
    ///
    /// A condition's top-level AND/OR are evaluated as the server does for
    /// WHERE/HAVING (`abort_on_null`): an AND stops at its first false *or
    /// NULL* operand, so what follows (an overflow) is never evaluated.
    pub fn accepts(
        &self,
        row: &TextRow,
        columns: &[ColumnInfo],
        orders: &[ValueOrder],
    ) -> EvalResult<bool> {
        Ok(self.top_level(row, columns, orders)? == Some(true))
    }

    fn top_level(
        &self,
        row: &TextRow,
        columns: &[ColumnInfo],
        orders: &[ValueOrder],
    ) -> EvalResult<Option<bool>> {
        match self {
            MergeExpr::Binary(BinOp::And, a, b) => {
                if a.top_level(row, columns, orders)? != Some(true) {
                    return Ok(Some(false));
                }
                Ok(Some(b.top_level(row, columns, orders)? == Some(true)))
            }
            MergeExpr::Binary(BinOp::Or, a, b) => {
                let l = a.top_level(row, columns, orders)?;
                if l == Some(true) {
                    return Ok(l);
                }
                Ok(or(l, b.top_level(row, columns, orders)?))
            }
            e => Ok(e.eval(row, columns, orders)?.truth()),
        }
    }
}

impl MergeExpr {
    /// Checks that the value can be shown as `column` (the definition the
    /// shards sent for the same expression): integers as an integer type,
    /// exact values as DECIMAL. Doubles and strings are refused (their
    /// text form is not reproduced).
    pub fn check_output(&self, columns: &[ColumnInfo], column: &ColumnInfo) -> EvalResult<()> {
        let ty = self.ty(columns)?;
        let shown = column_ty(column);
        match (ty, shown) {
            (Ty::Int, Ty::Int) | (Ty::Decimal | Ty::Int, Ty::Decimal) | (Ty::Null, _) => Ok(()),
            _ => Err(format!(
                "an expression on aggregates of type {:?} shown as {:?} cannot be computed by shardcat",
                ty, column.column_type
            )),
        }
    }

    /// The text of the value as the server sends it for `column`
    /// (`None`: NULL).
    pub fn output(
        &self,
        row: &TextRow,
        columns: &[ColumnInfo],
        orders: &[ValueOrder],
        column: &ColumnInfo,
    ) -> EvalResult<Option<Vec<u8>>> {
        Ok(match self.eval(row, columns, orders)? {
            Value::Null => None,
            Value::Int(v, _) if column_ty(column) == Ty::Int => Some(v.to_string().into_bytes()),
            v => {
                let d = v
                    .as_decimal()
                    .ok_or("an expression on aggregates gave a value shardcat cannot show")?;
                Some(d.round(column.decimals as usize).to_text().into_bytes())
            }
        })
    }
}

fn truth_operand(t: Ty) -> EvalResult<()> {
    match t {
        Ty::Str(_) => Err("a string used as a truth value cannot be evaluated by shardcat".into()),
        Ty::Temporal => {
            Err("a temporal value used as a truth value cannot be evaluated by shardcat".into())
        }
        _ => Ok(()),
    }
}

/// A string column the evaluator compares exactly: a binary string. A
/// collated one is not: the column definition reports the connection's
/// collation rather than the column's (a `utf8mb4_unicode_ci` column
/// arrives as `utf8mb4_general_ci`), so only the server's weights order
/// it, and the evaluator has none.
fn exactly_ordered(column: usize, columns: &[ColumnInfo]) -> EvalResult<()> {
    match columns.get(column) {
        Some(c) if c.charset != 63 => Err(
            "comparing a collated string (whose collation only the server applies exactly) cannot be evaluated by shardcat"
                .into(),
        ),
        _ => Ok(()),
    }
}

fn comparable(a: Ty, b: Ty, columns: &[ColumnInfo]) -> EvalResult<()> {
    match (a, b) {
        (Ty::Null, _) | (_, Ty::Null) => Ok(()),
        (x, y) if x.is_number() && y.is_number() => Ok(()),
        (Ty::Str(None), Ty::Str(None)) => {
            Err("comparing two string literals cannot be evaluated by shardcat".into())
        }
        (Ty::Str(Some(x)), Ty::Str(Some(y))) => {
            exactly_ordered(x, columns)?;
            let cx = columns
                .get(x)
                .map(|c| (c.charset, c.flags.contains(ColumnFlags::BINARY_FLAG)));
            let cy = columns
                .get(y)
                .map(|c| (c.charset, c.flags.contains(ColumnFlags::BINARY_FLAG)));
            if cx == cy {
                Ok(())
            } else {
                Err(
                    "comparing strings of different collations cannot be evaluated by shardcat"
                        .into(),
                )
            }
        }
        (Ty::Str(Some(x)), Ty::Str(_)) | (Ty::Str(_), Ty::Str(Some(x))) => {
            exactly_ordered(x, columns)
        }
        (Ty::Temporal, _) | (_, Ty::Temporal) => {
            Err("comparing dates or times cannot be evaluated by shardcat".into())
        }
        _ => Err("comparing a string with a number cannot be evaluated by shardcat".into()),
    }
}

fn arithmetic_ty(op: BinOp, a: Ty, b: Ty) -> EvalResult<Ty> {
    for t in [a, b] {
        if !(t.is_number() || t == Ty::Null) {
            return Err(
                "arithmetic on strings, dates or times cannot be evaluated by shardcat".into(),
            );
        }
    }
    Ok(match (op, a, b) {
        (BinOp::IntDiv, _, _) => Ty::Int,
        (_, Ty::Double, _) | (_, _, Ty::Double) => Ty::Double,
        (BinOp::Div, _, _) => Ty::Decimal,
        (_, Ty::Decimal, _) | (_, _, Ty::Decimal) => Ty::Decimal,
        (_, Ty::Null, _) | (_, _, Ty::Null) => Ty::Null,
        _ => Ty::Int,
    })
}

/// A column's text value as a typed value.
fn parse_value(v: &[u8], c: &ColumnInfo, index: usize) -> EvalResult<Value> {
    let bad = || format!("cannot read value of column {index} as a number");
    Ok(match column_ty(c) {
        Ty::Int => {
            let s = std::str::from_utf8(v).map_err(|_| bad())?;
            Value::Int(s.parse::<i128>().map_err(|_| bad())?, c.is_unsigned())
        }
        Ty::Decimal => Value::Decimal(Decimal::parse(v).ok_or_else(bad)?),
        Ty::Double => {
            let s = std::str::from_utf8(v).map_err(|_| bad())?;
            // A FLOAT's value is the single-precision number its text
            // names; MySQL widens that to double for comparisons.
            if c.column_type == ColumnType::MYSQL_TYPE_FLOAT {
                Value::Double(s.parse::<f32>().map_err(|_| bad())? as f64)
            } else {
                Value::Double(s.parse::<f64>().map_err(|_| bad())?)
            }
        }
        Ty::Str(_) => Value::Str(v.to_vec(), Some(index)),
        // Refused by `check`; only IS NULL looks at these.
        Ty::Null | Ty::Temporal => Value::Str(v.to_vec(), Some(index)),
    })
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

/// MySQL comparison of two values (`None` when either is NULL).
fn compare(a: &Value, b: &Value, orders: &[ValueOrder]) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(x, _), Value::Int(y, _)) => Some(x.cmp(y)),
        (Value::Str(x, cx), Value::Str(y, cy)) => {
            let order = cx.or(*cy).and_then(|c| orders.get(c))?;
            Some(order.compare(x, y))
        }
        (Value::Double(_), _) | (_, Value::Double(_)) => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            Some(x.partial_cmp(&y).unwrap_or(Ordering::Equal))
        }
        _ => Some(a.as_decimal()?.compare(&b.as_decimal()?)),
    }
}

/// An integer result, in BIGINT (or BIGINT UNSIGNED) range as MySQL
/// requires.
fn int_result(v: i128, unsigned: bool, op: &str) -> EvalResult<Value> {
    let ok = if unsigned {
        (0..=u64::MAX as i128).contains(&v)
    } else {
        (i64::MIN as i128..=i64::MAX as i128).contains(&v)
    };
    if ok {
        Ok(Value::Int(v, unsigned))
    } else {
        Err(format!(
            "BIGINT{} value is out of range in `{op}`",
            if unsigned { " UNSIGNED" } else { "" }
        ))
    }
}

fn binary(op: BinOp, x: &Value, y: &Value, orders: &[ValueOrder]) -> EvalResult<Value> {
    if op.is_logic() {
        let (a, b) = (x.truth(), y.truth());
        return Ok(Value::bool(match op {
            BinOp::And => and(a, b),
            BinOp::Or => or(a, b),
            _ => a.zip(b).map(|(a, b)| a != b),
        }));
    }
    if op == BinOp::NullSafeEq {
        return Ok(Value::bool(Some(match (x, y) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            _ => compare(x, y, orders) == Some(Ordering::Equal),
        })));
    }
    if op.is_comparison() {
        return Ok(Value::bool(compare(x, y, orders).map(|o| match op {
            BinOp::Eq => o == Ordering::Equal,
            BinOp::Ne => o != Ordering::Equal,
            BinOp::Lt => o == Ordering::Less,
            BinOp::Le => o != Ordering::Greater,
            BinOp::Gt => o == Ordering::Greater,
            _ => o != Ordering::Less,
        })));
    }
    if matches!(x, Value::Null) || matches!(y, Value::Null) {
        return Ok(Value::Null);
    }
    let name = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::IntDiv => "DIV",
        _ => "MOD",
    };
    // Doubles: binary floating point, as the server computes.
    if matches!(x, Value::Double(_)) || matches!(y, Value::Double(_)) {
        let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
        return Ok(match op {
            BinOp::Add => Value::Double(a + b),
            BinOp::Sub => Value::Double(a - b),
            BinOp::Mul => Value::Double(a * b),
            BinOp::Div if b == 0.0 => Value::Null,
            BinOp::Div => Value::Double(a / b),
            BinOp::IntDiv if b == 0.0 => Value::Null,
            BinOp::IntDiv => {
                let q = (a / b).trunc();
                if !(i64::MIN as f64..=i64::MAX as f64).contains(&q) {
                    return Err(format!("BIGINT value is out of range in `{name}`"));
                }
                Value::Int(q as i128, false)
            }
            _ if b == 0.0 => Value::Null,
            _ => Value::Double(a % b),
        });
    }
    if let (Value::Int(a, ua), Value::Int(b, ub)) = (x, y) {
        let unsigned = *ua || *ub;
        return match op {
            BinOp::Add => int_result(a + b, unsigned, name),
            BinOp::Sub => int_result(a - b, unsigned, name),
            BinOp::Mul => match a.checked_mul(*b) {
                Some(v) => int_result(v, unsigned, name),
                None => Err(format!("BIGINT value is out of range in `{name}`")),
            },
            BinOp::IntDiv if *b == 0 => Ok(Value::Null),
            BinOp::IntDiv => int_result(a / b, unsigned, name),
            BinOp::Mod if *b == 0 => Ok(Value::Null),
            // The sign of the dividend, as Rust's `%`; unsignedness of the
            // dividend only.
            BinOp::Mod => Ok(Value::Int(a % b, *ua)),
            _ => Ok(Decimal::from_i128(*a)
                .div(&Decimal::from_i128(*b), DIV_PRECISION_INCREMENT)
                .map_or(Value::Null, Value::Decimal)),
        };
    }
    let (Some(a), Some(b)) = (x.as_decimal(), y.as_decimal()) else {
        return Ok(Value::Null);
    };
    Ok(match op {
        BinOp::Add => Value::Decimal(a.add(&b)),
        BinOp::Sub => Value::Decimal(a.sub(&b)),
        BinOp::Mul => Value::Decimal(a.mul(&b)),
        BinOp::Div => a
            .div(&b, (a.scale() + DIV_PRECISION_INCREMENT).min(MAX_SCALE))
            .map_or(Value::Null, Value::Decimal),
        BinOp::IntDiv => match a.div_trunc(&b) {
            None => Value::Null,
            Some(q) => match q.to_i128() {
                Some(v) => int_result(v, false, name)?,
                None => return Err(format!("BIGINT value is out of range in `{name}`")),
            },
        },
        _ => a.rem(&b).map_or(Value::Null, Value::Decimal),
    })
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
