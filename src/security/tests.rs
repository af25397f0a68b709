//! Tests of [`super::check_query`]: admin-only statements, nested
//! statements, read-only transactions, the `SHOW DATABASES` rewrite.

use super::*;
use crate::sql::classify_bytes;

fn user(extra: &str) -> UserConfig {
    let text = format!("name = \"u\"\npassword = \"p\"\n{extra}");
    toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn check(cfg: &UserConfig, sql: &str) -> Result<Verdict, ProxyError> {
    check_ro(cfg, sql, false)
}

fn check_ro(cfg: &UserConfig, sql: &str, read_only_tx: bool) -> Result<Verdict, ProxyError> {
    let owns = |id: u64| id == 7;
    let procs = || {
        vec![processlist::ProcessRow {
            id: 7,
            user: "u".into(),
            host: "h:1".into(),
            db: None,
            command: "Query",
            time_ms: 0,
            info: None,
        }]
    };
    let physical = |t: &str| {
        if t == "orders" {
            vec!["orders_0".to_string(), "orders_1".to_string()]
        } else {
            Vec::new()
        }
    };
    let s = Subject {
        user: "u",
        host: "h",
        connection_id: 9,
        config: Some(cfg),
        schema: Some("shop"),
        read_only_tx,
        lex: LexOptions::default(),
        owns_thread: &owns,
        processes: &procs,
        physical_names: &physical,
    };
    let c = classify_bytes(sql.as_bytes(), s.lex);
    check_query(&s, sql.as_bytes(), &c)
}

fn code(r: Result<Verdict, ProxyError>) -> u16 {
    r.map_or_else(|e| e.to_err_packet().code, |_| 0)
}

const ADMIN_ONLY: &[&str] = &[
    "SHOW SHARDCAT BACKENDS",
    "SHOW SHARDCAT RELOAD",
    "show shardcat auth",
    "SET GLOBAL read_only = 0",
    "SET @@global.max_connections = 1",
    "SET sql_log_bin = 0",
    "SET SESSION sql_log_bin=0",
    "SET @@session.sql_log_bin = 0",
    "SET @@sql_log_bin = 0",
    "SET gtid_domain_id = 5",
    "SET gtid_seq_no = 100",
    "SET server_id = 9",
    "SET @a = 1, sql_log_bin = 0",
    "SET STATEMENT sql_log_bin = 0 FOR INSERT INTO t VALUES (1)",
    "SET PASSWORD = PASSWORD('x')",
    "GRANT ALL ON *.* TO x",
    "REVOKE ALL ON *.* FROM x",
    "CREATE USER x IDENTIFIED BY 'y'",
    "DROP USER x",
    "ALTER USER x IDENTIFIED BY 'z'",
    "RENAME USER a TO b",
    "CREATE ROLE r",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT * FROM t INTO OUTFILE '/tmp/x'",
    "SELECT * FROM t INTO DUMPFILE '/tmp/x'",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
    "SELECT * FROM information_schema.INNODB_TRX",
    "SHOW MASTER STATUS",
    "SHOW SLAVE STATUS",
    "SHOW GRANTS FOR root",
    "FLUSH PRIVILEGES",
    "KILL 12345",
    "KILL QUERY 12345",
    "SHUTDOWN",
    "INSTALL SONAME 'x'",
    "CHANGE MASTER TO master_host = 'x'",
    "STOP SLAVE",
    "RESET MASTER",
    "PURGE BINARY LOGS BEFORE NOW()",
    "BINLOG 'abc'",
    "PREPARE s FROM 'SET GLOBAL x = 1'",
    "PREPARE s FROM @q",
    "EXECUTE IMMEDIATE 'SET sql_log_bin = 0'",
    "EXECUTE IMMEDIATE @q",
    "SELECT 1; SET GLOBAL x = 1",
];

#[test]
fn admin_only_statements() {
    let plain = user("");
    let admin = user("admin = true");
    for sql in ADMIN_ONLY {
        let c = code(check(&plain, sql));
        assert!(matches!(c, 1227 | 1094 | 1235), "{sql}: {c}");
        assert_eq!(code(check(&admin, sql)), 0, "{sql} as admin");
    }
    for sql in [
        "EXPLAIN SHARDCAT SELECT * FROM t",
        "SET NAMES utf8mb4",
        "SET sql_mode = ''",
        "SET @x = 1",
        "SET autocommit = 0",
        "SELECT @@sql_log_bin, @@server_id",
        "KILL 7",
        "LOAD DATA LOCAL INFILE 'x' INTO TABLE t",
        "SELECT a INTO @x FROM t",
        "PREPARE s FROM 'SELECT 1'",
        "EXECUTE s",
        "SET STATEMENT max_statement_time = 1 FOR SELECT 1",
        "INSERT INTO t VALUES (1)",
        "SHOW VARIABLES LIKE 'sql_log_bin'",
        "SELECT 'load_file(', 'outfile'",
    ] {
        assert_eq!(code(check(&plain, sql)), 0, "{sql}");
    }
    assert_eq!(code(check(&plain, "SET sql_log_bin = 0")), 1227);
    let e = check(&plain, "SHOW SHARDCAT BACKENDS")
        .unwrap_err()
        .to_err_packet();
    assert_eq!(
        (e.code, e.sql_state(), e.message.as_str()),
        (
            1227,
            "42000",
            "Access denied; you need (at least one of) the SUPER privilege(s) for this operation"
        )
    );
}

#[test]
fn nested_statements_are_checked_against_privileges() {
    let ro = user("read_only = true");
    assert_eq!(code(check(&ro, "PREPARE s FROM 'SELECT * FROM t'")), 0);
    assert_eq!(code(check(&ro, "PREPARE s FROM 'DELETE FROM t'")), 1142);
    assert_eq!(
        code(check(
            &ro,
            "SET STATEMENT max_statement_time = 1 FOR DELETE FROM t"
        )),
        1142
    );
    assert_eq!(code(check(&ro, "SELECT 1; DELETE FROM t")), 1142);
    assert_eq!(code(check(&ro, "SELECT * FROM mysql.user")), 1142);
    assert_eq!(code(check(&ro, "BEGIN NOT ATOMIC SELECT 1; END")), 1142);
}

#[test]
fn read_only_transactions_refuse_writes() {
    let admin = user("admin = true");
    for sql in [
        "INSERT INTO t VALUES (1)",
        "CREATE TABLE x (a INT)",
        "DROP TABLE t",
        "LOCK TABLES t WRITE",
    ] {
        assert_eq!(code(check_ro(&admin, sql, true)), 1792, "{sql}");
    }
    assert_eq!(code(check_ro(&admin, "SELECT * FROM t", true)), 0);
    assert_eq!(code(check_ro(&admin, "COMMIT", true)), 0);
}

#[test]
fn show_databases_is_filtered() {
    let u = user("privileges = [{ db = \"shop\", grants = [\"SELECT\"] }]");
    assert_eq!(
        check(&u, "SHOW DATABASES").unwrap(),
        Verdict::Rewrite(
            "SHOW DATABASES WHERE `Database` IN ('information_schema', 'shop')".into()
        )
    );
    assert_eq!(
        check(&u, "show schemas like 's%';").unwrap(),
        Verdict::Rewrite("SHOW DATABASES WHERE `Database` IN ('information_schema', 'shop') AND `Database` LIKE 's%'".into())
    );
    let ro = user("read_only = true");
    let Verdict::Rewrite(sql) = check(&ro, "SHOW DATABASES WHERE `Database` <> 'x'").unwrap()
    else {
        panic!()
    };
    assert!(
        sql.contains("NOT IN ('mysql', 'performance_schema', 'sys', 'shardcat')")
            && sql.ends_with("AND (`Database` <> 'x')"),
        "{sql}"
    );
    assert_eq!(check(&user(""), "SHOW DATABASES").unwrap(), Verdict::Allow);
}

fn rewritten(r: Result<Verdict, ProxyError>) -> String {
    match r {
        Ok(Verdict::Rewrite(sql)) => sql,
        other => panic!("not rewritten: {other:?}"),
    }
}

#[test]
fn process_list_shows_shardcat_sessions() {
    for cfg in [user(""), user("admin = true"), user("read_only = true")] {
        for sql in [
            "SHOW PROCESSLIST",
            "show full processlist",
            "SELECT * FROM information_schema.PROCESSLIST",
            "SELECT ID FROM information_schema.processlist p WHERE p.ID = 7",
        ] {
            let q = rewritten(check(&cfg, sql));
            assert!(
                q.contains("UNION ALL SELECT 7, _utf8mb4 X'75'") && q.contains("WHERE 0"),
                "{sql}: {q}"
            );
        }
    }
    let q = rewritten(check(
        &user(""),
        "SELECT ID FROM information_schema.processlist p",
    ));
    assert!(q.ends_with(") p"), "{q}");
}

#[test]
fn system_schemas_need_a_privilege_entry() {
    let plain = user("");
    for sql in [
        "SELECT user, password FROM mysql.user",
        "SELECT * FROM `performance_schema`.threads",
        "DELETE FROM mysql.db",
        "SELECT * FROM sys.session",
        "SELECT * FROM t JOIN mysql.user u ON 1",
    ] {
        assert_eq!(code(check(&plain, sql)), 1142, "{sql}");
    }
    assert_eq!(code(check(&plain, "USE mysql")), 1044);
    assert_eq!(code(check(&plain, "SELECT sysdate(), 'mysql.user'")), 0);
    let listed = user("privileges = [{ db = \"mysql\", grants = [\"SELECT\"] }]");
    assert_eq!(code(check(&listed, "SELECT * FROM mysql.user")), 0);
    assert_eq!(
        code(check(&user("admin = true"), "SELECT * FROM mysql.user")),
        0
    );
}

#[test]
fn catalog_rows_are_filtered_to_the_privileges() {
    let u = user("privileges = [{ db = \"shop\", tables = [\"orders\"], grants = [\"SELECT\"] }]");
    let q = rewritten(check(
        &u,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'",
    ));
    assert_eq!(
        q,
        "SELECT TABLE_NAME FROM (SELECT * FROM information_schema.TABLES WHERE \
         (TABLE_SCHEMA IN ('information_schema') OR (BINARY TABLE_SCHEMA IN ('shop') AND \
         BINARY TABLE_NAME IN ('orders', 'orders_0', 'orders_1')))) AS TABLES WHERE TABLE_SCHEMA = 'shop'"
    );
    let q = rewritten(check(
        &u,
        "SELECT * FROM information_schema.user_privileges",
    ));
    assert!(q.contains("WHERE FALSE"), "{q}");
    for view in ["USER_STATISTICS", "CLIENT_STATISTICS"] {
        let q = rewritten(check(
            &u,
            &format!("SELECT * FROM information_schema.{view}"),
        ));
        assert!(q.contains("WHERE FALSE"), "{q}");
    }
    let q = rewritten(check(
        &u,
        "SELECT TABLE_SCHEMA FROM information_schema.TABLE_STATISTICS",
    ));
    assert!(q.contains("BINARY TABLE_NAME IN ('orders'"), "{q}");
    let q = rewritten(check(&u, "SHOW TABLES"));
    assert_eq!(
        q,
        "SHOW TABLES WHERE BINARY `Tables_in_shop` IN ('orders', 'orders_0', 'orders_1')"
    );
    // Unrestricted users see the catalog as the backend account does.
    assert_eq!(
        check(&user(""), "SELECT * FROM information_schema.TABLES").unwrap(),
        Verdict::Allow
    );
}

#[test]
fn identity_is_the_shardcat_user() {
    let plain = user("");
    assert_eq!(
        rewritten(check(&plain, "SELECT CURRENT_USER()")),
        "SELECT 'u@%' AS `CURRENT_USER()`"
    );
    assert_eq!(
        rewritten(check(&plain, "SELECT USER()")),
        "SELECT 'u@h' AS `USER()`"
    );
    let q = rewritten(check(&user("admin = true"), "SHOW GRANTS"));
    assert_eq!(
        q,
        "SELECT 'GRANT ALL PRIVILEGES ON *.* TO `u`@`%` WITH GRANT OPTION' AS `Grants for u@%`"
    );
    assert!(admin_needs_check(b"select current_user()"));
    assert!(!admin_needs_check(b"SELECT * FROM t WHERE id = 1"));
}
