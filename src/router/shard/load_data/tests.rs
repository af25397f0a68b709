//! The clauses of `LOAD DATA` statements and the per-shard SQL.

use super::*;

#[test]
fn clauses_are_read() {
    let sql = "LOAD DATA LOCAL INFILE '/tmp/o.csv' IGNORE INTO TABLE shop.`orders` \
               CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' \
               ESCAPED BY '\\\\' LINES STARTING BY 'x' TERMINATED BY '\\r\\n' IGNORE 2 LINES \
               (id, @v, note) SET amount = @v * 2, t.note2 = CONCAT(@v, ',')";
    let s = parse(sql).unwrap();
    assert!(s.local);
    assert_eq!(s.file_name, b"/tmp/o.csv");
    assert_eq!(s.qualifier.as_deref(), Some("shop"));
    assert_eq!(s.table, "orders");
    assert_eq!(&sql[s.table_span.clone()], "shop.`orders`");
    assert_eq!(s.format.field_term, b",");
    assert_eq!(s.format.enclosed, Some(b'"'));
    assert_eq!(s.format.escape, Some(b'\\'));
    assert_eq!(s.format.line_start, b"x");
    assert_eq!(s.format.line_term, b"\r\n");
    assert_eq!(s.ignore, 2);
    assert_eq!(
        s.items,
        Some(vec![Some("id".into()), None, Some("note".into())])
    );
    assert_eq!(s.set_columns, vec!["amount".to_owned(), "note2".to_owned()]);
    assert_eq!(s.charset.as_deref(), Some("utf8mb4"));
    let shard = shard_sql(sql, &s, "orders_3");
    assert!(shard.contains("INTO TABLE `shop`.`orders_3` CHARACTER SET"));
    assert!(!shard.contains("IGNORE 2 LINES"));
    assert!(shard.contains("'\\r\\n'  (id, @v, note)"));
}

#[test]
fn defaults_and_hex_terminators() {
    let s = parse("load data local infile 'f' into table t lines terminated by 0x0d0a").unwrap();
    assert_eq!(s.format.field_term, b"\t");
    assert_eq!(s.format.escape, Some(b'\\'));
    assert_eq!(s.format.line_term, b"\r\n");
    assert!(s.items.is_none());
    let s = parse("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS ESCAPED BY ''").unwrap();
    assert_eq!(s.format.escape, None);
    assert!(parse("LOAD DATA LOCAL INFILE 'f' INTO TABLE t FIELDS ENCLOSED BY 'ab'").is_err());
    assert!(parse("LOAD DATA LOCAL INFILE 'f' INTO TABLE t garbage").is_err());
}

#[test]
fn integer_keys_convert_like_the_server() {
    let k = |s: &str| key_of_field(s.as_bytes(), KeyType::Int);
    assert_eq!(k("12"), Ok(ShardKey::Int(12)));
    assert_eq!(k(" 12abc"), Ok(ShardKey::Int(12)));
    assert_eq!(k("x"), Ok(ShardKey::Int(0)));
    assert_eq!(k(""), Ok(ShardKey::Int(0)));
    assert_eq!(k("-3.6e1z"), Ok(ShardKey::Int(-36)));
    assert_eq!(k("2.5x"), Ok(ShardKey::Int(3)));
    assert_eq!(k("+.5"), Ok(ShardKey::Int(1)));
    assert_eq!(k("1e"), Ok(ShardKey::Int(1)));
    assert!(k("99999999999999999999999").is_err());
}
