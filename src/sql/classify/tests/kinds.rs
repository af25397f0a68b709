//! Classification tests: statement kinds, EXPLAIN and SHOW kinds, flags,
//! route hints, statements sqlparser rejects, driver chatter, tricky
//! strings and comments, multi-statement texts and invalid UTF-8.
//!
//! Owns: tests of [`classify`]. Must not test SET parsing, splitting or
//! fingerprints (sibling files).

use super::*;

/// Cases of `statement_kinds`: SELECT, DML, DDL, transactions and SET.
fn data_statement_cases() -> Vec<(&'static str, StatementKind)> {
    vec![
        ("SELECT 1", K::Select),
        ("select * from t where id = ?", K::Select),
        ("  \n SELECT 1 ;  ", K::Select),
        ("WITH c AS (SELECT 1) SELECT * FROM c", K::Select),
        (
            "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c",
            K::Select,
        ),
        (
            "WITH c AS (SELECT id FROM s) UPDATE t JOIN c USING (id) SET x = 1",
            K::Update,
        ),
        (
            "WITH c AS (SELECT id FROM s) DELETE FROM t WHERE id IN (SELECT id FROM c)",
            K::Delete,
        ),
        ("WITH c AS (SELECT 1) (SELECT * FROM c)", K::Select),
        ("(SELECT 1) UNION (SELECT 2)", K::Select),
        ("((SELECT 1)) ORDER BY 1", K::Select),
        ("(WITH c AS (SELECT 1) SELECT * FROM c)", K::Select),
        ("TABLE t", K::Select),
        ("VALUES ROW(1, 2)", K::Select),
        ("/*!40101 SELECT 1 */", K::Select),
        ("/*+ SET_VAR(x=1) */ SELECT 1", K::Select),
        ("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t", K::Select),
        ("INSERT INTO t VALUES (1)", K::Insert),
        ("INSERT INTO t SELECT * FROM s", K::Insert),
        ("insert ignore into t set a = 1", K::Insert),
        ("REPLACE INTO t VALUES (1)", K::Replace),
        ("UPDATE t SET a = 1", K::Update),
        ("DELETE FROM t", K::Delete),
        ("LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t", K::LoadData),
        ("LOAD XML INFILE 'x' INTO TABLE t", K::LoadData),
        ("LOAD INDEX INTO CACHE t", K::Other),
        (
            "CREATE TABLE t (id INT) PARTITION BY HASH (id) PARTITIONS 4",
            K::Ddl,
        ),
        (
            "ALTER TABLE t ADD c INT, ALGORITHM=INPLACE, LOCK=NONE",
            K::Ddl,
        ),
        ("DROP TABLE t", K::Ddl),
        ("TRUNCATE TABLE t", K::Ddl),
        ("RENAME TABLE a TO b", K::Ddl),
        ("CREATE DATABASE d", K::Ddl),
        ("/*!40000 ALTER TABLE t DISABLE KEYS */", K::Ddl),
        ("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", K::Ddl),
        ("CREATE TEMPORARY TABLE tmp (id INT)", K::Other),
        ("DROP TEMPORARY TABLE IF EXISTS tmp", K::Other),
        ("BEGIN", BEGIN),
        ("begin work", BEGIN),
        ("BEGIN NOT ATOMIC SELECT 1; END", K::Other),
        ("START TRANSACTION", BEGIN),
        (
            "START TRANSACTION READ ONLY",
            K::Begin {
                read_only: true,
                read_write: false,
            },
        ),
        (
            "START TRANSACTION READ WRITE",
            K::Begin {
                read_only: false,
                read_write: true,
            },
        ),
        (
            "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
            K::Begin {
                read_only: true,
                read_write: false,
            },
        ),
        ("START TRANSACTION WITH CONSISTENT SNAPSHOT", BEGIN),
        ("START SLAVE", K::Other),
        ("COMMIT", K::Commit),
        ("COMMIT WORK AND NO CHAIN", K::Commit),
        ("ROLLBACK", K::Rollback),
        ("ROLLBACK WORK", K::Rollback),
        ("ROLLBACK TO SAVEPOINT s", K::Savepoint),
        ("ROLLBACK WORK TO s", K::Savepoint),
        ("SAVEPOINT s", K::Savepoint),
        ("RELEASE SAVEPOINT s", K::Savepoint),
        ("SET autocommit=0", K::Set(SetKind::SystemOnly)),
    ]
}

/// Cases of `statement_kinds`: USE, SHOW, EXPLAIN, KILL, XA, prepared
/// statements, locks, administration and empty texts.
fn session_and_admin_cases() -> Vec<(&'static str, StatementKind)> {
    vec![
        (
            "USE db",
            K::Use {
                database: "db".into(),
            },
        ),
        (
            "use `my``db`;",
            K::Use {
                database: "my`db".into(),
            },
        ),
        ("USE", K::Other),
        ("SHOW WARNINGS", K::Show(ShowKind::Warnings)),
        ("DESCRIBE t", K::Describe),
        ("DESC db.t", K::Describe),
        ("EXPLAIN t", K::Describe),
        ("EXPLAIN SELECT 1", K::Explain),
        ("EXPLAIN FORMAT=JSON SELECT 1", K::Explain),
        ("EXPLAIN ANALYZE SELECT 1", K::Explain),
        ("DESCRIBE SELECT 1", K::Explain),
        ("EXPLAIN (SELECT 1)", K::Explain),
        ("EXPLAIN FOR CONNECTION 4", K::Explain),
        ("LOCK TABLES t READ, u WRITE", K::LockTables),
        ("LOCK TABLE t WRITE", K::LockTables),
        ("LOCK INSTANCE FOR BACKUP", K::Other),
        ("UNLOCK TABLES", K::UnlockTables),
        ("PREPARE s FROM 'SELECT ?'", K::SqlPrepare),
        ("EXECUTE s USING @a", K::SqlExecute),
        ("DEALLOCATE PREPARE s", K::SqlDeallocate),
        ("DROP PREPARE s", K::SqlDeallocate),
        ("CALL p(1)", K::Call),
        (
            "KILL 42",
            K::Kill {
                query_only: false,
                id: Some(42),
            },
        ),
        (
            "KILL CONNECTION 7",
            K::Kill {
                query_only: false,
                id: Some(7),
            },
        ),
        (
            "KILL QUERY 7",
            K::Kill {
                query_only: true,
                id: Some(7),
            },
        ),
        (
            "KILL HARD QUERY ID 7",
            K::Kill {
                query_only: true,
                id: Some(7),
            },
        ),
        (
            "KILL ?",
            K::Kill {
                query_only: false,
                id: None,
            },
        ),
        (
            "KILL 99999999999999999999999",
            K::Kill {
                query_only: false,
                id: None,
            },
        ),
        ("XA START 'x'", K::Xa),
        ("XA END 'x'", K::Xa),
        ("XA PREPARE 'x'", K::Xa),
        ("XA COMMIT 'x'", K::Xa),
        ("DO 1", K::Do),
        ("DO RELEASE_LOCK('x')", K::Do),
        ("HANDLER t OPEN", K::Handler),
        ("HANDLER t READ FIRST", K::Handler),
        ("FLUSH TABLES", K::Flush),
        ("ANALYZE TABLE t", K::Analyze),
        ("OPTIMIZE TABLE t", K::Optimize),
        ("CHECK TABLE t", K::Check),
        ("CHECKSUM TABLE t", K::Checksum),
        ("REPAIR TABLE t", K::Repair),
        ("GRANT SELECT ON db.* TO 'u'@'%'", K::Grant),
        ("REVOKE SELECT ON db.* FROM 'u'@'%'", K::Revoke),
        ("HELP 'contents'", K::Other),
        ("GET DIAGNOSTICS @n = NUMBER", K::Other),
        ("not sql at all", K::Other),
        ("42", K::Other),
        ("", K::Empty),
        ("   ", K::Empty),
        ("/* only a comment */", K::Empty),
        ("-- x\n# y\n;;", K::Empty),
        ("/*!40101 */", K::Empty),
    ]
}

#[test]
fn statement_kinds() {
    let cases = data_statement_cases()
        .into_iter()
        .chain(session_and_admin_cases());
    for (sql, want) in cases {
        assert_eq!(kind(sql), want, "{sql}");
    }
}

#[test]
fn explain_and_show_shardcat() {
    let sql = "EXPLAIN SHARDCAT  /* shardcat:replica */ SELECT * FROM t";
    let K::ExplainShardcat { inner_offset } = kind(sql) else {
        panic!("{:?}", kind(sql));
    };
    assert_eq!(
        &sql[inner_offset..],
        "/* shardcat:replica */ SELECT * FROM t"
    );
    assert_eq!(
        classify(&sql[inner_offset..]).hint,
        Some(RouteHint::Replica)
    );

    let sql = "show shardcat nodes like 'n%'";
    let K::ShowShardcat { rest_offset } = kind(sql) else {
        panic!("{:?}", kind(sql));
    };
    assert_eq!(&sql[rest_offset..], "nodes like 'n%'");
    assert_eq!(kind("SHOW SHARDCAT"), K::ShowShardcat { rest_offset: 13 });
    assert_eq!(
        kind("EXPLAIN SHARDCAT"),
        K::ExplainShardcat { inner_offset: 16 }
    );
}

#[test]
fn show_kinds() {
    let cases = [
        ("SHOW WARNINGS LIMIT 10", ShowKind::Warnings),
        ("SHOW ERRORS", ShowKind::Errors),
        ("SHOW COUNT(*) WARNINGS", ShowKind::CountWarnings),
        ("show count ( * ) errors", ShowKind::CountErrors),
        ("SHOW TABLES", ShowKind::Tables),
        ("SHOW FULL TABLES FROM db LIKE 'a%'", ShowKind::Tables),
        ("SHOW DATABASES", ShowKind::Databases),
        ("SHOW SCHEMAS", ShowKind::Databases),
        ("SHOW CREATE TABLE t", ShowKind::CreateTable),
        ("SHOW CREATE DATABASE d", ShowKind::Other),
        ("SHOW COLUMNS FROM t", ShowKind::Columns),
        ("SHOW FULL FIELDS FROM t", ShowKind::Columns),
        ("SHOW EXTENDED FULL COLUMNS IN t", ShowKind::Columns),
        ("SHOW VARIABLES LIKE 'sql_mode'", ShowKind::Variables),
        (
            "SHOW GLOBAL VARIABLES WHERE Variable_name = 'x'",
            ShowKind::Variables,
        ),
        ("SHOW SESSION STATUS", ShowKind::Status),
        ("SHOW STATUS", ShowKind::Status),
        ("SHOW TABLE STATUS", ShowKind::Other),
        ("SHOW PROCESSLIST", ShowKind::Other),
        ("SHOW COLLATION", ShowKind::Other),
        ("SHOW", ShowKind::Other),
    ];
    for (sql, want) in cases {
        assert_eq!(kind(sql), K::Show(want), "{sql}");
    }
}

#[test]
fn statement_flags() {
    let cases: Vec<(&str, &[&str])> = vec![
        ("SELECT * FROM t WHERE id = 1", &[]),
        ("SELECT * FROM t WHERE id = 1 FOR UPDATE", &["locking_read"]),
        ("SELECT * FROM t FOR UPDATE SKIP LOCKED", &["locking_read"]),
        ("SELECT * FROM t FOR SHARE NOWAIT", &["locking_read"]),
        ("SELECT * FROM t LOCK IN SHARE MODE", &["locking_read"]),
        (
            "SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)",
            &["locking_read"],
        ),
        ("SELECT 'FOR UPDATE', `for` FROM t -- FOR UPDATE", &[]),
        (
            "SELECT a INTO @x FROM t",
            &["select_into", "assigns_user_variable"],
        ),
        (
            "SELECT a, b FROM t INTO @x, @y",
            &["select_into", "assigns_user_variable"],
        ),
        ("SELECT * INTO OUTFILE '/tmp/x' FROM t", &["select_into"]),
        ("SELECT * FROM t INTO DUMPFILE '/tmp/x'", &["select_into"]),
        ("INSERT INTO t VALUES (1)", &[]),
        ("SELECT @r := @r + 1 FROM t", &["assigns_user_variable"]),
        ("SELECT @r = 1", &[]),
        ("SET @a := 1", &["assigns_user_variable"]),
        ("SET @a = 1, @@session.x = 2", &["assigns_user_variable"]),
        (
            "SELECT GET_LOCK('x', 10)",
            &["named_lock", "side_effect_function"],
        ),
        (
            "SELECT get_lock ('x', 10)",
            &["named_lock", "side_effect_function"],
        ),
        (
            "SELECT RELEASE_LOCK('x')",
            &["releases_named_lock", "side_effect_function"],
        ),
        (
            "DO RELEASE_ALL_LOCKS()",
            &["releases_named_lock", "side_effect_function"],
        ),
        ("SELECT IS_FREE_LOCK('x'), IS_USED_LOCK('x')", &[]),
        ("SELECT get_lock FROM t", &[]),
        ("SELECT db.get_lock('x')", &[]),
        ("SELECT NEXTVAL(s)", &["side_effect_function"]),
        ("SELECT SETVAL(s, 10)", &["side_effect_function"]),
        ("SELECT NEXT VALUE FOR s", &["side_effect_function"]),
        ("SELECT LASTVAL(s)", &[]),
        ("SELECT LAST_INSERT_ID()", &["uses_last_insert_id"]),
        ("SELECT last_insert_id( )", &["uses_last_insert_id"]),
        (
            "UPDATE t SET id = LAST_INSERT_ID(id + 1)",
            &["uses_last_insert_id", "side_effect_function"],
        ),
        ("SELECT FOUND_ROWS()", &["uses_found_rows"]),
        ("SELECT ROW_COUNT()", &["uses_row_count"]),
        (
            "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10",
            &["calc_found_rows"],
        ),
        ("SHOW WARNINGS", &["reads_diagnostics"]),
        ("SHOW ERRORS", &["reads_diagnostics"]),
        ("SHOW COUNT(*) WARNINGS", &["reads_diagnostics"]),
        ("SELECT @@warning_count", &["reads_diagnostics"]),
        ("SELECT @@session.error_count", &["reads_diagnostics"]),
        (
            "SELECT @@`warning_count`, @@session.`x`",
            &["reads_diagnostics"],
        ),
        ("SELECT @@warning_counts, @warning_count", &[]),
        ("GET DIAGNOSTICS @n = NUMBER", &["reads_diagnostics"]),
        (
            "GET CURRENT DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
            &["reads_diagnostics"],
        ),
        ("CREATE TEMPORARY TABLE tmp (id INT)", &["temporary_table"]),
        (
            "CREATE OR REPLACE TEMPORARY TABLE tmp (id INT)",
            &["temporary_table"],
        ),
        ("DROP TEMPORARY TABLE tmp", &["temporary_table"]),
        ("CREATE TABLE t (id INT)", &[]),
        ("SELECT 1; SELECT 2", &["multi_statement"]),
        ("SELECT 1;", &[]),
        ("SELECT 1; -- trailing\n", &[]),
        (
            "SELECT 1; SELECT LAST_INSERT_ID()",
            &["multi_statement", "uses_last_insert_id"],
        ),
        (
            "UPDATE t SET a = 1; SELECT ROW_COUNT()",
            &["multi_statement", "uses_row_count"],
        ),
        ("SELECT 'a;b', \"c;d\", `e;f` /* ; */ -- ;\n FROM t", &[]),
    ];
    for (sql, want) in cases {
        assert_eq!(classify(sql).flags, flags(want), "{sql}");
    }
}

#[test]
fn route_hints() {
    let node = |n: &str| Some(RouteHint::Node(n.to_owned()));
    let cases: Vec<(&str, Option<RouteHint>)> = vec![
        ("/* shardcat:primary */ SELECT 1", Some(RouteHint::Primary)),
        ("/*shardcat:replica*/SELECT 1", Some(RouteHint::Replica)),
        (
            "/*  SHARDCAT : Primary  */ SELECT 1",
            Some(RouteHint::Primary),
        ),
        ("/* shardcat:node=n1 */ SELECT 1", node("n1")),
        (
            "/* shardcat: node = shard-01.a */ SELECT 1",
            node("shard-01.a"),
        ),
        (
            "/* other */ /* shardcat:replica */ SELECT 1",
            Some(RouteHint::Replica),
        ),
        (
            "/* shardcat:replica */ /* shardcat:primary */ SELECT 1",
            Some(RouteHint::Replica),
        ),
        (
            "/* shardcat:bogus */ /* shardcat:primary */ SELECT 1",
            Some(RouteHint::Primary),
        ),
        ("/* shardcat:primary */", Some(RouteHint::Primary)),
        ("SELECT /* shardcat:primary */ 1", None),
        ("-- shardcat:primary\nSELECT 1", None),
        ("# shardcat:primary\nSELECT 1", None),
        ("/*+ shardcat:primary */ SELECT 1", None),
        ("/* shardcat:node= */ SELECT 1", None),
        ("/* shardcat:node=a b */ SELECT 1", None),
        ("/* shardcat:primaryx */ SELECT 1", None),
        ("/* shardcatprimary */ SELECT 1", None),
        ("/* shardcat:primary SELECT 1", None),
        ("/* mysql-connector-java-8.0.33 */SELECT 1", None),
    ];
    for (sql, want) in cases {
        assert_eq!(classify(sql).hint, want, "{sql}");
    }
}

/// The statements sqlparser 0.64 rejects (notes, section c) are all
/// classified.
#[test]
fn statements_sqlparser_rejects() {
    let cases: Vec<(&str, StatementKind, &[&str])> = vec![
        ("SET @a := 1", K::Set(SetKind::UserVariables), &["assigns_user_variable"]),
        ("SELECT * FROM t WHERE id = 1 LOCK IN SHARE MODE", K::Select, &["locking_read"]),
        ("START TRANSACTION WITH CONSISTENT SNAPSHOT", BEGIN, &[]),
        ("XA START 'xid'", K::Xa, &[]),
        ("XA END 'xid'", K::Xa, &[]),
        ("XA PREPARE 'xid'", K::Xa, &[]),
        ("XA COMMIT 'xid'", K::Xa, &[]),
        ("PREPARE s FROM 'SELECT * FROM t WHERE id = ?'", K::SqlPrepare, &[]),
        ("CREATE TABLE t (id INT) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (10))", K::Ddl, &[]),
        ("LOAD DATA LOCAL INFILE '/tmp/x.csv' INTO TABLE t FIELDS TERMINATED BY ';'", K::LoadData, &[]),
        ("OPTIMIZE TABLE t", K::Optimize, &[]),
        ("CHECKSUM TABLE t", K::Checksum, &[]),
        ("DO 1", K::Do, &[]),
        ("SHOW CREATE DATABASE d", K::Show(ShowKind::Other), &[]),
        ("SELECT * FROM t INTO OUTFILE '/tmp/t.txt'", K::Select, &["select_into"]),
        ("/*!40000 ALTER TABLE `t` DISABLE KEYS */", K::Ddl, &[]),
        (
            "CREATE DEFINER=`root`@`%` PROCEDURE p(IN x INT)\nBEGIN\n  DECLARE n INT;\n  IF x > 0 THEN SELECT 1; ELSE SELECT 2; END IF;\n  CASE x WHEN 1 THEN SELECT 3; END CASE;\n  lbl: LOOP LEAVE lbl; END LOOP lbl;\n  SET n = (SELECT CASE WHEN x THEN 1 END);\nEND",
            K::Ddl,
            &[],
        ),
        ("HANDLER t OPEN AS h", K::Handler, &[]),
    ];
    for (sql, want_kind, want_flags) in cases {
        let c = classify(sql);
        assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
    }
}

#[test]
fn driver_startup_chatter() {
    let cases: Vec<(&str, StatementKind, &[&str])> = vec![
        (
            "/* mysql-connector-java-8.0.33 (Revision: 7d6b0800528b6b25c68b52dc10d6c1c8429c100c) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@character_set_results AS character_set_results, @@character_set_server AS character_set_server, @@collation_server AS collation_server, @@collation_connection AS collation_connection, @@init_connect AS init_connect, @@interactive_timeout AS interactive_timeout, @@license AS license, @@lower_case_table_names AS lower_case_table_names, @@max_allowed_packet AS max_allowed_packet, @@net_write_timeout AS net_write_timeout, @@performance_schema AS performance_schema, @@sql_mode AS sql_mode, @@system_time_zone AS system_time_zone, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation, @@wait_timeout AS wait_timeout",
            K::Select,
            &[],
        ),
        ("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", K::Set(SetKind::SystemOnly), &[]),
        ("SET character_set_results = NULL", K::Set(SetKind::SystemOnly), &[]),
        ("SET autocommit=0", K::Set(SetKind::SystemOnly), &[]),
        ("SET @@SESSION.AUTOCOMMIT = OFF", K::Set(SetKind::SystemOnly), &[]),
        ("SET SESSION TRANSACTION READ ONLY", K::Set(SetKind::Transaction), &[]),
        ("SET SESSION TRANSACTION READ WRITE", K::Set(SetKind::Transaction), &[]),
        ("SELECT @@session.tx_read_only", K::Select, &[]),
        ("SELECT @@transaction_isolation", K::Select, &[]),
        (
            "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT')), time_zone='+00:00', NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
            K::Set(SetKind::SystemOnly),
            &[],
        ),
        ("select @@version_comment limit 1", K::Select, &[]),
        ("SELECT DATABASE()", K::Select, &[]),
        ("SHOW VARIABLES LIKE 'sql_mode'", K::Show(ShowKind::Variables), &[]),
        (
            "SET SQL_AUTO_IS_NULL = 0; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            K::Set(SetKind::SystemOnly),
            &["multi_statement"],
        ),
        (
            "SHOW VARIABLES LIKE 'lower_case_%'; SHOW VARIABLES LIKE 'sql_mode'; SELECT COUNT(*) AS support_ndb FROM information_schema.ENGINES WHERE Engine = 'ndbcluster'",
            K::Show(ShowKind::Variables),
            &["multi_statement"],
        ),
        ("BEGIN;", BEGIN, &[]),
        ("INSERT INTO t (a) VALUES (1); SELECT ROW_COUNT()", K::Insert, &["multi_statement", "uses_row_count"]),
        ("/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */", K::Set(SetKind::UserVariables), &["assigns_user_variable"]),
        ("/*!40103 SET TIME_ZONE='+00:00' */", K::Set(SetKind::SystemOnly), &[]),
        ("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", K::Select, &[]),
    ];
    for (sql, want_kind, want_flags) in cases {
        let c = classify(sql);
        assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
    }
}

#[test]
fn tricky_strings_and_comments() {
    let cases: Vec<(&str, StatementKind, &[&str])> = vec![
        ("SELECT ';' FROM t", K::Select, &[]),
        ("SELECT 'x; DROP TABLE t' FROM t", K::Select, &[]),
        (r"SELECT 'it\'s; FOR UPDATE' FROM t", K::Select, &[]),
        ("SELECT 'it''s; -- ' FROM t", K::Select, &[]),
        ("SELECT \"a;\" , '--' , '/*' FROM t", K::Select, &[]),
        ("SELECT 1 -- ; DELETE FROM t", K::Select, &[]),
        ("SELECT 1 # ; DELETE FROM t", K::Select, &[]),
        ("SELECT 1 /* ; DELETE FROM t */", K::Select, &[]),
        (
            "SELECT 1 /*! ; DELETE FROM t */",
            K::Select,
            &["multi_statement"],
        ),
        ("SELECT 1--1", K::Select, &[]),
        ("SELECT `select`, `;` FROM `update`", K::Select, &[]),
        ("/* UPDATE */ SELECT 1", K::Select, &[]),
        ("-- DELETE\nSELECT 1", K::Select, &[]),
        ("SELECT 'unterminated; DELETE FROM t", K::Select, &[]),
        ("SELECT 1 /* unterminated; DELETE FROM t", K::Select, &[]),
        (
            "SELECT _utf8mb4';' , N';', X'3B'; DELETE FROM t",
            K::Select,
            &["multi_statement"],
        ),
    ];
    for (sql, want_kind, want_flags) in cases {
        let c = classify(sql);
        assert_eq!((c.kind, c.flags), (want_kind, flags(want_flags)), "{sql}");
    }
}

#[test]
fn multi_statement_kind_and_flags_union() {
    let c = classify("/* shardcat:replica */ SELECT 1; UPDATE t SET a = GET_LOCK('x', 1)");
    assert_eq!(c.kind, K::Select);
    assert_eq!(c.hint, Some(RouteHint::Replica));
    assert_eq!(
        c.flags,
        flags(&["multi_statement", "named_lock", "side_effect_function"])
    );
}

#[test]
fn no_backslash_escapes_changes_statement_boundaries() {
    let sql = br"SELECT 'a\'; DELETE FROM t; -- '";
    let default = classify_bytes(sql, LexOptions::default());
    assert!(!default.flags.multi_statement);
    let nbe = LexOptions {
        no_backslash_escapes: true,
        ..LexOptions::default()
    };
    let c = classify_bytes(sql, nbe);
    assert!(c.flags.multi_statement);
    assert_eq!(split_statements_bytes(sql, nbe).len(), 2);
}

#[test]
fn classify_bytes_accepts_invalid_utf8() {
    let sql = b"INSERT INTO t VALUES (_binary'\xff\xfe;\x00'); SELECT 1";
    let c = classify_bytes(sql, LexOptions::default());
    assert_eq!(c.kind, K::Insert);
    assert!(c.flags.multi_statement);
    assert_eq!(
        split_statements_bytes(sql, LexOptions::default()),
        [0..36, 38..46]
    );
}
