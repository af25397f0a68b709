//! The fast path of classification against the full path, on generated
//! statement texts: whenever the fast scan takes a text, its tokens are
//! the full lexer's and its classification is the full path's.

use super::*;
use crate::sql::lexer::Lexer;

/// Statement beginnings: every kind the sessions treat apart, in several
/// cases and spacings, with hints, comments and side-effect functions.
const HEADS: &[&str] = &[
    "SELECT c FROM sbtest1 WHERE id=",
    "select c from t where id = ",
    "SeLeCt DISTINCT c FROM t WHERE id BETWEEN ",
    "  SELECT SUM(k) FROM t WHERE id IN (",
    "SELECT c FROM t WHERE id BETWEEN 1 AND 5 ORDER BY c, ",
    "INSERT INTO t (a, b) VALUES (",
    "REPLACE t VALUES (",
    "UPDATE t SET c = ",
    "DELETE FROM t WHERE id = ",
    "SELECT GET_LOCK(",
    "SELECT get_lock (",
    "SELECT db.get_lock(",
    "SELECT LAST_INSERT_ID(",
    "SELECT last_insert_id() + ",
    "SELECT SLEEP(",
    "SELECT RELEASE_ALL_LOCKS() + ",
    "DO RELEASE_LOCK(",
    "SELECT NEXTVAL(s) + ",
    "SELECT SETVAL(s, ",
    "SELECT NEXT VALUE FOR s, ",
    "SELECT FOUND_ROWS(), ROW_COUNT(), ",
    "SELECT SQL_CALC_FOUND_ROWS c FROM t LIMIT ",
    "/*+ MAX_EXECUTION_TIME(1) */ SELECT ",
    "SELECT /*+ NO_ICP(t) */ c FROM t WHERE a.b = ",
    "/* shardcat:primary */ SELECT ",
    "/*!40101 SELECT */ ",
    "BEGIN",
    "begin work ",
    "COMMIT",
    "ROLLBACK ",
    "START TRANSACTION READ ONLY",
    "WITH x AS (SELECT 1) SELECT ",
    "WITH x AS (SELECT 1) UPDATE t SET a = ",
    "(SELECT ",
    "TABLE t LIMIT ",
    "SHOW WARNINGS LIMIT ",
    "SHOW TABLES LIKE ",
    "SET @a = ",
    "SET autocommit = ",
    "SET SESSION TRANSACTION READ ONLY",
    "CREATE TEMPORARY TABLE t (a INT) SELECT ",
    "CREATE PROCEDURE p() BEGIN SELECT ",
    "KILL ",
    "USE `db` ",
    "USE db",
    "LOCK TABLES t READ ",
    "LOCK TABLE t WRITE",
    "SELECT @@warning_count + ",
    "SELECT a FROM t FOR ",
    "SELECT a FROM t LOCK ",
    "SELECT a INTO ",
    "EXPLAIN SELECT ",
    "EXPLAIN SHARDCAT SELECT ",
    "SHOW SHARDCAT STATUS ",
    "PREPARE s FROM ",
    "EXECUTE s USING ",
    "GET DIAGNOSTICS @n = NUMBER",
    "",
];

/// Literals and other operands of every kind.
const MIDDLES: &[&str] = &[
    "5",
    "5001",
    "1.5",
    "1.",
    ".5",
    "1e3",
    "1.5e3",
    "1.5x",
    "0x1F",
    "X'1F'",
    "x'1f'",
    "b'01'",
    "0b1",
    "'a'",
    "'a''b'",
    "'a\\'b'",
    "'a\"b'",
    "\"q\"",
    "N'x'",
    "_utf8mb4'x'",
    "_latin1 'x'",
    "?",
    "@v",
    "@`v`",
    "@@x",
    "@@session.sql_mode",
    "NULL",
    "`c`",
    "`a``b`",
    "t.c",
    "t.`c`",
    "t.5",
    "1abc",
    "$x",
    "-1",
    "+1",
    "'é'",
    "é",
    "''",
    "'",
    "`",
    "a*b",
    "a<=b",
    "a<>b",
    "'a' 'b'",
    "1.2.3",
    "",
];

/// Statement endings: locking clauses, `INTO`, comments, terminators and
/// further statements.
const TAILS: &[&str] = &[
    "",
    " ",
    ")",
    " FOR UPDATE",
    " for share",
    " FOR UPDATE SKIP LOCKED",
    " LOCK IN SHARE MODE",
    " lock in share mode",
    " INTO @v",
    " INTO OUTFILE '/tmp/x'",
    " into dumpfile 'f'",
    " INTO `v`",
    "; SELECT 1",
    ";",
    " -- c\n",
    " # c",
    " /* c */",
    "\t\n",
    " ORDER BY c",
    " AND 10",
    ") ORDER BY c LIMIT 1",
    ", SLEEP(1)",
    " := 1",
    ", GET_LOCK('a', 1)",
    ", LAST_INSERT_ID(5)",
    " END",
    "\r\n",
    "\u{b}",
    "\0",
];

/// Spellings of one text: as generated, upper case, lower case, and with
/// every blank doubled into a tab and a space.
fn spellings(text: &str) -> [String; 4] {
    [
        text.to_string(),
        text.to_ascii_uppercase(),
        text.to_ascii_lowercase(),
        text.replace(' ', "\t "),
    ]
}

#[test]
fn fast_path_equals_the_full_path() {
    let mut fast_tokens = Vec::new();
    let mut full_tokens = Vec::new();
    let (mut taken, mut total) = (0usize, 0usize);
    for head in HEADS {
        for middle in MIDDLES {
            for tail in TAILS {
                for text in spellings(&format!("{head}{middle}{tail}")) {
                    let src = text.as_bytes();
                    total += 1;
                    let lexed: Vec<Token> = Lexer::new(src).filter(|t| !t.is_trivia()).collect();
                    for opts in [
                        LexOptions::default(),
                        LexOptions {
                            ansi_quotes: true,
                            no_backslash_escapes: true,
                        },
                    ] {
                        let full = classify_full_into(src, opts, &mut full_tokens);
                        let got = classify_into(src, opts, &mut Vec::new());
                        assert_eq!(got, full, "{text:?} {opts:?}");
                        if !fast::scan(src, &mut fast_tokens) {
                            continue;
                        }
                        taken += 1;
                        assert_eq!(fast_tokens, lexed, "{text:?}");
                        assert_eq!(fast_tokens, full_tokens, "{text:?}");
                        assert!(!full.1, "{text:?}");
                    }
                }
            }
        }
    }
    // Both paths are exercised.
    assert!(taken * 5 > total, "{taken} of {total}");
    assert!(taken < total, "{taken} of {total}");
}

/// The statements of sysbench's point select and read-only workloads (and
/// a few common application shapes) take the fast path.
#[test]
fn common_statements_take_the_fast_path() {
    let mut tokens = Vec::new();
    for text in [
        "SELECT c FROM sbtest1 WHERE id=5001",
        "SELECT c FROM sbtest1 WHERE id=?",
        "SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 109",
        "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 10 AND 109",
        "SELECT c FROM sbtest1 WHERE id BETWEEN 10 AND 109 ORDER BY c",
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 10 AND 109 ORDER BY c",
        "BEGIN",
        "COMMIT",
        "UPDATE sbtest1 SET k=k+1 WHERE id=17",
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 7, '123-456', 'x y')",
        "SELECT `t`.`c` FROM `db`.`t` WHERE `t`.`id` = 1.5",
    ] {
        assert!(fast::scan(text.as_bytes(), &mut tokens), "{text}");
    }
}

/// The filter in front of the flag words lets every flag word through,
/// in any case.
#[test]
fn flag_word_filter_keeps_every_flag_word() {
    for word in FLAG_WORDS {
        let lower = word.to_ascii_lowercase();
        assert!(may_be_flag_word(word) && may_be_flag_word(&lower));
    }
    for other in [&b"SELECT_"[..], b"FROM", b"c", b"", b"sbtest1", b"\xff"] {
        assert!(!may_be_flag_word(other));
    }
}
