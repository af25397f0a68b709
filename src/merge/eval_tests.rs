//! Tests of the merge expression evaluator (`eval`).

use super::*;
use bytes::Bytes;

fn col(t: ColumnType, charset: u16, flags: ColumnFlags) -> ColumnInfo {
    ColumnInfo {
        column_type: t,
        flags,
        charset,
        decimals: 0,
        raw: Bytes::new(),
    }
}

fn row(values: &[Option<&str>]) -> TextRow {
    let owned: Vec<Option<Vec<u8>>> = values
        .iter()
        .map(|v| v.map(|s| s.as_bytes().to_vec()))
        .collect();
    let mut p = Vec::new();
    crate::merge::row::encode_values(&owned, &mut p);
    TextRow::decode(Bytes::from(p), values.len()).unwrap()
}

fn c(i: usize) -> Box<MergeExpr> {
    Box::new(MergeExpr::Column(i))
}

fn lit(l: Literal) -> Box<MergeExpr> {
    Box::new(MergeExpr::Literal(l))
}

fn dec(s: &str) -> Literal {
    Literal::Decimal(Decimal::parse(s.as_bytes()).unwrap())
}

fn bin(op: BinOp, a: Box<MergeExpr>, b: Box<MergeExpr>) -> Box<MergeExpr> {
    Box::new(MergeExpr::Binary(op, a, b))
}

/// Columns: 0 BIGINT (COUNT), 1 DECIMAL (SUM), 2 DOUBLE, 3 VARCHAR
/// utf8mb4_general_ci, 4 DATETIME, 5 FLOAT, 6 BIGINT UNSIGNED.
fn columns() -> Vec<ColumnInfo> {
    vec![
        col(ColumnType::MYSQL_TYPE_LONGLONG, 63, ColumnFlags::empty()),
        col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, ColumnFlags::empty()),
        col(ColumnType::MYSQL_TYPE_DOUBLE, 63, ColumnFlags::empty()),
        col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, ColumnFlags::empty()),
        col(ColumnType::MYSQL_TYPE_DATETIME, 63, ColumnFlags::empty()),
        col(ColumnType::MYSQL_TYPE_FLOAT, 63, ColumnFlags::empty()),
        col(
            ColumnType::MYSQL_TYPE_LONGLONG,
            63,
            ColumnFlags::UNSIGNED_FLAG,
        ),
    ]
}

fn eval(e: &MergeExpr, r: &[Option<&str>]) -> EvalResult<Value> {
    let cols = columns();
    e.check(&cols)?;
    let orders: Vec<ValueOrder> = cols.iter().map(ValueOrder::for_column).collect();
    e.eval(&row(r), &cols, &orders)
}

fn truth(e: &MergeExpr, r: &[Option<&str>]) -> Option<bool> {
    eval(e, r).unwrap().truth()
}

fn text(v: Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i, _) => i.to_string(),
        Value::Decimal(d) => d.to_text(),
        Value::Double(f) => f.to_string(),
        Value::Str(s, _) => String::from_utf8_lossy(&s).into_owned(),
    }
}

const R: &[Option<&str>] = &[
    Some("3"),
    Some("10.50"),
    Some("2.5"),
    Some("abc"),
    Some("2026-01-01 00:00:00"),
    Some("1.1"),
    Some("18446744073709551615"),
];

#[test]
fn comparisons_of_numbers() {
    let gt = bin(BinOp::Gt, c(0), lit(Literal::Int(2)));
    assert_eq!(truth(&gt, R), Some(true));
    // Decimal vs int, exact.
    let e = bin(BinOp::Eq, c(1), lit(dec("10.5")));
    assert_eq!(truth(&e, R), Some(true));
    // Double vs decimal literal compares as double.
    let e = bin(BinOp::Lt, c(2), lit(dec("2.50001")));
    assert_eq!(truth(&e, R), Some(true));
    // FLOAT 1.1 is 1.100000023841858 as a double.
    let e = bin(BinOp::Gt, c(5), lit(dec("1.1")));
    assert_eq!(truth(&e, R), Some(true));
    // Unsigned max compares above any signed value.
    let e = bin(BinOp::Gt, c(6), lit(Literal::Int(i64::MAX as i128)));
    assert_eq!(truth(&e, R), Some(true));
}

#[test]
fn three_valued_logic() {
    let null_row: &[Option<&str>] = &[None, None, None, None, None, None, None];
    let gt = bin(BinOp::Gt, c(1), lit(Literal::Int(0)));
    assert_eq!(truth(&gt, null_row), None);
    let and_false = bin(BinOp::And, gt.clone(), lit(Literal::Int(0)));
    assert_eq!(truth(&and_false, null_row), Some(false));
    let or_true = bin(BinOp::Or, gt.clone(), lit(Literal::Int(1)));
    assert_eq!(truth(&or_true, null_row), Some(true));
    let xor = bin(BinOp::Xor, gt.clone(), lit(Literal::Int(1)));
    assert_eq!(truth(&xor, null_row), None);
    let not = MergeExpr::Not(gt.clone());
    assert_eq!(truth(&not, null_row), None);
    let is_null = MergeExpr::IsNull {
        expr: c(4),
        negated: false,
    };
    assert_eq!(truth(&is_null, null_row), Some(true));
    assert_eq!(truth(&is_null, R), Some(false));
    let nse = bin(BinOp::NullSafeEq, c(1), lit(Literal::Null));
    assert_eq!(truth(&nse, null_row), Some(true));
    assert_eq!(truth(&nse, R), Some(false));
    // x IN (1, NULL) with no match: NULL; NOT IN likewise.
    let inl = MergeExpr::InList {
        expr: c(0),
        list: vec![
            MergeExpr::Literal(Literal::Int(1)),
            MergeExpr::Literal(Literal::Null),
        ],
        negated: true,
    };
    assert_eq!(truth(&inl, R), None);
    let inl = MergeExpr::InList {
        expr: c(0),
        list: vec![
            MergeExpr::Literal(Literal::Int(3)),
            MergeExpr::Literal(Literal::Null),
        ],
        negated: false,
    };
    assert_eq!(truth(&inl, R), Some(true));
    let between = MergeExpr::Between {
        expr: c(1),
        low: lit(Literal::Int(-100)),
        high: lit(dec("10.50")),
        negated: false,
    };
    assert_eq!(truth(&between, R), Some(true));
}

#[test]
fn arithmetic_types() {
    // COUNT + 1: BIGINT.
    let e = bin(BinOp::Add, c(0), lit(Literal::Int(1)));
    assert_eq!(text(eval(&e, R).unwrap()), "4");
    // SUM / COUNT: decimal, dividend scale + 4, rounded.
    let e = bin(BinOp::Div, c(1), c(0));
    assert_eq!(text(eval(&e, R).unwrap()), "3.500000");
    let e = bin(BinOp::Div, lit(Literal::Int(2)), c(0));
    assert_eq!(text(eval(&e, R).unwrap()), "0.6667");
    let e = bin(BinOp::Div, c(0), lit(Literal::Int(0)));
    assert_eq!(text(eval(&e, R).unwrap()), "NULL");
    let e = bin(BinOp::Mul, c(1), lit(dec("1.5")));
    assert_eq!(text(eval(&e, R).unwrap()), "15.750");
    let e = bin(BinOp::IntDiv, c(1), lit(Literal::Int(4)));
    assert_eq!(text(eval(&e, R).unwrap()), "2");
    let e = bin(BinOp::Mod, c(1), lit(Literal::Int(4)));
    assert_eq!(text(eval(&e, R).unwrap()), "2.50");
    let e = bin(
        BinOp::Mod,
        Box::new(MergeExpr::Neg(c(0))),
        lit(Literal::Int(2)),
    );
    assert_eq!(text(eval(&e, R).unwrap()), "-1");
    let e = bin(BinOp::Add, c(2), c(0));
    assert_eq!(text(eval(&e, R).unwrap()), "5.5");
    // Overflow is an error, as on the server...
    let e = bin(BinOp::Add, c(6), lit(Literal::Int(1)));
    assert!(eval(&e, R).is_err());
    // ...unless AND/OR are decided before reaching it.
    let and = bin(
        BinOp::And,
        lit(Literal::Int(0)),
        bin(BinOp::Gt, e.clone(), lit(Literal::Int(0))),
    );
    assert_eq!(truth(&and, R), Some(false));
    let or = bin(
        BinOp::Or,
        lit(Literal::Int(2)),
        bin(BinOp::Gt, e.clone(), lit(Literal::Int(0))),
    );
    assert_eq!(truth(&or, R), Some(true));
    // A HAVING's top-level AND also stops at NULL (the server's
    // abort_on_null); inside an expression it must go on.
    let and = bin(
        BinOp::And,
        lit(Literal::Null),
        bin(BinOp::Gt, e, lit(Literal::Int(0))),
    );
    let cols = columns();
    let orders: Vec<ValueOrder> = cols.iter().map(ValueOrder::for_column).collect();
    assert_eq!(and.accepts(&row(R), &cols, &orders), Ok(false));
    assert!(and.eval(&row(R), &cols, &orders).is_err());
}

#[test]
fn output_with_the_column_scale() {
    let cols = columns();
    let orders: Vec<ValueOrder> = cols.iter().map(ValueOrder::for_column).collect();
    let mut shown = col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, ColumnFlags::empty());
    shown.decimals = 6;
    // SUM / COUNT: 10.50 / 3 = 3.500000.
    let e = bin(BinOp::Div, c(1), c(0));
    e.check_output(&cols, &shown).unwrap();
    let out = e.output(&row(R), &cols, &orders, &shown).unwrap();
    assert_eq!(out.as_deref(), Some(&b"3.500000"[..]));
    // ROUND(SUM / COUNT, 1) shown with 1 decimal.
    shown.decimals = 1;
    let e = MergeExpr::Round(bin(BinOp::Div, c(1), lit(Literal::Int(4))), 1);
    let out = e.output(&row(R), &cols, &orders, &shown).unwrap();
    assert_eq!(out.as_deref(), Some(&b"2.6"[..]));
    // COUNT + 1 as BIGINT; a double is refused.
    let bigint = col(ColumnType::MYSQL_TYPE_LONGLONG, 63, ColumnFlags::empty());
    let e = bin(BinOp::Add, c(0), lit(Literal::Int(1)));
    assert_eq!(
        e.output(&row(R), &cols, &orders, &bigint)
            .unwrap()
            .as_deref(),
        Some(&b"4"[..])
    );
    let double = col(ColumnType::MYSQL_TYPE_DOUBLE, 63, ColumnFlags::empty());
    assert!(bin(BinOp::Add, c(2), c(0))
        .check_output(&cols, &double)
        .is_err());
    assert!(MergeExpr::Round(c(2), 1)
        .check_output(&cols, &double)
        .is_err());
}

#[test]
fn strings_under_the_column_collation() {
    // Evaluated locally the comparisons follow the column's fold, but the
    // check refuses them: the definition may name the connection's
    // collation, not the column's.
    let orders: Vec<ValueOrder> = columns().iter().map(ValueOrder::for_column).collect();
    let local = |e: &MergeExpr| e.eval(&row(R), &columns(), &orders).unwrap().truth();
    let e = bin(BinOp::Eq, c(3), lit(Literal::Str(b"ABC ".to_vec())));
    assert_eq!(local(&e), Some(true));
    assert!(e.check(&columns()).is_err());
    let e = bin(BinOp::Lt, lit(Literal::Str(b"ab".to_vec())), c(3));
    assert_eq!(local(&e), Some(true));
    assert!(e.check(&columns()).is_err());
    let inl = MergeExpr::InList {
        expr: c(3),
        list: vec![
            MergeExpr::Literal(Literal::Str(b"x".to_vec())),
            MergeExpr::Literal(Literal::Str("ÀBC".as_bytes().to_vec())),
        ],
        negated: false,
    };
    assert_eq!(local(&inl), Some(true));
    assert!(inl.check(&columns()).is_err());
}

#[test]
fn refusals() {
    let cols = columns();
    let refused = |e: &MergeExpr| e.check(&cols).is_err();
    assert!(refused(&bin(
        BinOp::Gt,
        c(4),
        lit(Literal::Str(b"2026".to_vec()))
    )));
    assert!(refused(&bin(BinOp::Gt, c(3), lit(Literal::Int(1)))));
    assert!(refused(&bin(BinOp::Add, c(3), lit(Literal::Int(1)))));
    assert!(refused(&MergeExpr::Column(3)));
    assert!(refused(&bin(
        BinOp::Eq,
        lit(Literal::Str(b"a".to_vec())),
        lit(Literal::Str(b"A".to_vec()))
    )));
    assert!(!refused(&MergeExpr::IsNull {
        expr: c(4),
        negated: true
    }));
    assert!(refused(&MergeExpr::Column(9)));
}

#[test]
fn collated_strings_are_not_compared_locally() {
    // utf8mb4_unicode_ci (224): only the server orders it exactly.
    let mut cols = columns();
    cols.push(col(
        ColumnType::MYSQL_TYPE_VAR_STRING,
        224,
        ColumnFlags::empty(),
    ));
    let gt = bin(BinOp::Gt, c(7), lit(Literal::Str(b"b".to_vec())));
    assert!(gt.check(&cols).is_err());
    // Nor general_ci (45): the definition may carry the connection's
    // collation instead of the column's. Binary strings (63) are bytes.
    let gt = bin(BinOp::Gt, c(3), lit(Literal::Str(b"b".to_vec())));
    assert!(gt.check(&cols).is_err());
    cols.push(col(
        ColumnType::MYSQL_TYPE_VAR_STRING,
        63,
        ColumnFlags::BINARY_FLAG,
    ));
    let gt = bin(BinOp::Gt, c(8), lit(Literal::Str(b"b".to_vec())));
    assert!(gt.check(&cols).is_ok());
}
