//! Generated cases for [`super::check`]: every statement kind × every grant
//! on the right and on the wrong table, read-only users, system schemas.

use super::*;
use crate::security::tables::analyze;
use crate::sql::{classify, LexOptions};

fn user(entries: &str, read_only: bool) -> UserConfig {
    let text = format!("name = \"u\"\npassword = \"p\"\nread_only = {read_only}\n{entries}");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn run(cfg: &UserConfig, sql: &str) -> Result<(), ProxyError> {
    let c = classify(sql);
    let objs = analyze(sql, &c, Some("shop"), LexOptions::default())
        .map_err(|e| ProxyError::Internal(format!("{e:?}")))?;
    check(
        cfg,
        Who {
            user: "u",
            host: "h",
        },
        &c,
        &objs,
    )
}

/// (statement, grants it needs on shop.t, other tables read)
const CASES: &[(&str, &[Grant])] = &[
    ("SELECT * FROM t", &[Grant::Select]),
    ("SELECT a FROM shop.t WHERE a = 1", &[Grant::Select]),
    ("EXPLAIN SELECT * FROM t", &[Grant::Select]),
    ("INSERT INTO t VALUES (1)", &[Grant::Insert]),
    (
        "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2",
        &[Grant::Insert, Grant::Update],
    ),
    ("REPLACE INTO t VALUES (1)", &[Grant::Insert, Grant::Delete]),
    ("UPDATE t SET a = 1 WHERE b = 2", &[Grant::Update]),
    ("DELETE FROM t WHERE a = 1", &[Grant::Delete]),
    ("CREATE TABLE t (a INT)", &[Grant::Create]),
    ("DROP TABLE t", &[Grant::Drop]),
    ("TRUNCATE TABLE t", &[Grant::Drop]),
    ("ALTER TABLE t ADD COLUMN b INT", &[Grant::Alter]),
    ("CREATE INDEX i ON t (a)", &[Grant::Index]),
    ("LOCK TABLES t READ", &[Grant::Select]),
    ("CALL t()", &[Grant::Execute]),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", &[Grant::Insert]),
];

/// A table's definition: SELECT, or any table grant on the table itself
/// (a database-wide grant other than SELECT does not show it, as MariaDB).
#[test]
fn definitions_need_select_or_a_grant_on_the_table() {
    for sql in ["DESCRIBE t", "SHOW COLUMNS FROM t", "SHOW CREATE TABLE t"] {
        for g in Grant::BASIC {
            let on_table = user(
                &format!(
                    "privileges = [{{ db = \"shop\", tables = [\"t\"], grants = [\"{g}\"] }}]"
                ),
                false,
            );
            let on_db = user(
                &format!("privileges = [{{ db = \"shop\", grants = [\"{g}\"] }}]"),
                false,
            );
            let other = user(
                &format!(
                    "privileges = [{{ db = \"shop\", tables = [\"x\"], grants = [\"{g}\"] }}]"
                ),
                false,
            );
            assert_eq!(
                run(&on_table, sql).is_ok(),
                g != Grant::Execute,
                "{sql} {g}"
            );
            assert_eq!(
                run(&on_db, sql).is_ok(),
                g == Grant::Select,
                "{sql} {g} on db"
            );
            assert!(run(&other, sql).is_err(), "{sql} {g} elsewhere");
        }
    }
}

#[test]
fn every_kind_times_every_grant() {
    for (sql, needed) in CASES {
        for g in Grant::BASIC {
            let right = user(
                &format!(
                    "privileges = [{{ db = \"shop\", tables = [\"t\"], grants = [\"{g}\"] }}]"
                ),
                false,
            );
            let wrong_table = user(
                &format!(
                    "privileges = [{{ db = \"shop\", tables = [\"other\"], grants = [\"{g}\"] }}]"
                ),
                false,
            );
            let wrong_db = user(
                &format!("privileges = [{{ db = \"crm\", grants = [\"{g}\"] }}]"),
                false,
            );
            let alone = needed.len() == 1 && needed[0] == g;
            assert_eq!(run(&right, sql).is_ok(), alone, "{sql} with {g}");
            assert!(
                run(&wrong_table, sql).is_err(),
                "{sql} with {g} on another table"
            );
            assert!(run(&wrong_db, sql).is_err(), "{sql} with {g} on another db");
        }
        // All the needed grants together suffice, on the table or on "*",
        // and through ALL / DDL shorthands.
        let list: Vec<String> = needed.iter().map(|g| format!("\"{g}\"")).collect();
        for tables in ["[\"t\"]", "[\"*\"]"] {
            for db in ["shop", "*"] {
                let u = user(
                    &format!(
                        "privileges = [{{ db = \"{db}\", tables = {tables}, grants = [{}] }}]",
                        list.join(",")
                    ),
                    false,
                );
                assert!(
                    run(&u, sql).is_ok(),
                    "{sql} with {list:?} on {db}.{tables}: {:?}",
                    run(&u, sql)
                );
            }
        }
        let all = user(
            "privileges = [{ db = \"shop\", grants = [\"ALL\"] }]",
            false,
        );
        assert!(run(&all, sql).is_ok(), "{sql} with ALL");
        // read_only keeps only SELECT.
        let ro = user("privileges = [{ db = \"shop\", grants = [\"ALL\"] }]", true);
        assert_eq!(
            run(&ro, sql).is_ok(),
            *needed == [Grant::Select],
            "{sql} read_only"
        );
    }
}

#[test]
fn errors_are_mysqls() {
    let u = user(
        "privileges = [{ db = \"shop\", grants = [\"SELECT\"] }]",
        false,
    );
    let e = run(&u, "INSERT INTO t VALUES (1)")
        .unwrap_err()
        .to_err_packet();
    assert_eq!((e.code, e.sql_state()), (1142, "42000"));
    assert_eq!(
        e.message,
        "INSERT command denied to user 'u'@'h' for table 't'"
    );
    let e = run(&u, "SELECT user, authentication_string FROM mysql.user")
        .unwrap_err()
        .to_err_packet();
    assert_eq!(
        e.message,
        "SELECT command denied to user 'u'@'h' for table 'user'"
    );
    let e = run(&u, "USE crm").unwrap_err().to_err_packet();
    assert_eq!(
        (e.code, e.message.as_str()),
        (1044, "Access denied for user 'u'@'h' to database 'crm'")
    );
    let e = run(&u, "CREATE VIEW v AS SELECT 1")
        .unwrap_err()
        .to_err_packet();
    assert_eq!(e.code, 1227);
}

#[test]
fn system_schemas_need_to_be_named() {
    let star = user("privileges = [{ db = \"*\", grants = [\"ALL\"] }]", false);
    for sql in [
        "SELECT * FROM mysql.user",
        "SELECT * FROM `mysql`.`user`",
        "SELECT * FROM performance_schema.threads",
        "SELECT * FROM sys.session",
        "SELECT * FROM t WHERE a IN (SELECT user FROM mysql.user)",
        "SELECT * FROM t /*!, mysql.user */",
        "INSERT INTO t SELECT * FROM mysql.user",
        "USE mysql",
        "SHOW TABLES FROM mysql",
    ] {
        assert!(run(&star, sql).is_err(), "{sql}");
    }
    assert!(run(&star, "SELECT * FROM crm.customers").is_ok());
    assert!(run(&star, "SELECT * FROM information_schema.tables").is_ok());
    let named = user(
        "privileges = [{ db = \"mysql\", tables = [\"time_zone\"], grants = [\"SELECT\"] }]",
        false,
    );
    assert!(run(&named, "SELECT * FROM mysql.time_zone").is_ok());
    assert!(run(&named, "SELECT * FROM mysql.user").is_err());
    // read_only without a list: SELECT on every non-system database.
    let ro = user("", true);
    assert!(run(&ro, "SELECT * FROM crm.x").is_ok());
    assert!(run(&ro, "SELECT * FROM mysql.user").is_err());
    assert!(run(&ro, "UPDATE crm.x SET a = 1").is_err());
}

#[test]
fn multi_table_writes_and_reads() {
    let u = user(
        "privileges = [{ db = \"shop\", tables = [\"t\"], grants = [\"UPDATE\", \"DELETE\", \"INSERT\"] }, { db = \"shop\", tables = [\"s\"], grants = [\"SELECT\"] }]",
        false,
    );
    assert!(run(&u, "INSERT INTO t SELECT * FROM s").is_ok());
    assert!(run(&u, "INSERT INTO s SELECT * FROM t").is_err());
    assert!(run(&u, "UPDATE t SET a = (SELECT max(a) FROM s)").is_ok());
    assert!(
        run(&u, "UPDATE t JOIN s ON t.a = s.a SET t.b = 1").is_err(),
        "s is an UPDATE target"
    );
    assert!(run(&u, "DELETE FROM t WHERE a IN (SELECT a FROM s)").is_ok());
    assert!(run(&u, "SELECT * FROM t").is_err(), "no SELECT on t");
}

#[test]
fn database_level_statements() {
    let u = user(
        "privileges = [{ db = \"shop\", grants = [\"CREATE\", \"SELECT\"] }]",
        false,
    );
    assert!(run(&u, "CREATE DATABASE shop").is_ok());
    assert!(run(&u, "CREATE DATABASE IF NOT EXISTS crm").is_err());
    assert!(run(&u, "DROP DATABASE shop").is_err());
    assert!(run(&u, "SHOW TABLES").is_ok());
    assert!(run(&u, "SHOW TABLE STATUS FROM crm").is_err());
    let none = user("privileges = []", false);
    assert!(run(&none, "SELECT 1").is_ok());
    assert!(run(&none, "SELECT @@version").is_ok());
    assert!(run(&none, "SELECT * FROM t").is_err());
    assert!(run(&none, "BEGIN").is_ok());
    assert!(run(&none, "SET NAMES utf8mb4").is_ok());
    assert!(run(&none, "SHOW PROCESSLIST").is_ok());
    assert!(run(&none, "SHOW CHARACTER SET").is_ok());
}

#[test]
fn no_database_selected() {
    let u = user(
        "privileges = [{ db = \"shop\", grants = [\"SELECT\"] }]",
        false,
    );
    let c = classify("SELECT * FROM t");
    assert_eq!(
        analyze("SELECT * FROM t", &c, None, LexOptions::default()),
        Err(crate::security::tables::Unknown::NoDatabase)
    );
    let _ = u;
}
