//! Tests of [`split_statements`].
//!
//! Owns: tests of statement boundaries. Must not test classification.

use super::*;

#[test]
fn splitting() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("SELECT 1", vec!["SELECT 1"]),
        ("SELECT 1;", vec!["SELECT 1"]),
        ("  SELECT 1 ;\n SELECT 2 ; ", vec!["SELECT 1", "SELECT 2"]),
        (";; ;", vec![]),
        ("", vec![]),
        ("-- only\n", vec![]),
        ("SELECT 1; -- done", vec!["SELECT 1"]),
        ("SELECT ';'; SELECT \";\"", vec!["SELECT ';'", "SELECT \";\""]),
        (
            "SELECT 1; /* shardcat:primary */ SELECT 2",
            vec!["SELECT 1", "/* shardcat:primary */ SELECT 2"],
        ),
        ("SELECT 1 /* ; */; SELECT 2 # ;\n", vec!["SELECT 1 /* ; */", "SELECT 2 # ;"]),
        (
            "/*!40101 SET NAMES utf8 */;\n/*!40103 SET TIME_ZONE='+00:00' */;",
            vec!["/*!40101 SET NAMES utf8 */", "/*!40103 SET TIME_ZONE='+00:00' */"],
        ),
        (
            "CREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END; CALL p()",
            vec!["CREATE PROCEDURE p() BEGIN SELECT 1; IF 1 THEN SELECT 2; END IF; END", "CALL p()"],
        ),
        (
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = CASE WHEN 1 THEN 2 END; END; SELECT 1",
            vec!["CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = CASE WHEN 1 THEN 2 END; END", "SELECT 1"],
        ),
        (
            "CREATE FUNCTION f() RETURNS INT RETURN 1; SELECT f()",
            vec!["CREATE FUNCTION f() RETURNS INT RETURN 1", "SELECT f()"],
        ),
        (
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN CASE WHEN 1 THEN DELETE FROM t; END CASE; END; SELECT 2",
            vec!["CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN CASE WHEN 1 THEN DELETE FROM t; END CASE; END", "SELECT 2"],
        ),
        (
            "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END; SELECT 3",
            vec!["BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"],
        ),
        ("BEGIN; SELECT 1; COMMIT", vec!["BEGIN", "SELECT 1", "COMMIT"]),
        (
            "CREATE TABLE event (begin INT, end INT); SELECT 1",
            vec!["CREATE TABLE event (begin INT, end INT)", "SELECT 1"],
        ),
        ("SELECT CASE WHEN a THEN 1 END; SELECT 2", vec!["SELECT CASE WHEN a THEN 1 END", "SELECT 2"]),
        ("SELECT (1; SELECT 2", vec!["SELECT (1", "SELECT 2"]),
    ];
    for (sql, want) in cases {
        let got: Vec<&str> = split_statements(sql).into_iter().map(|r| &sql[r]).collect();
        assert_eq!(got, want, "{sql}");
    }
}
