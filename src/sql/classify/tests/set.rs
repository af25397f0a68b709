//! Tests of SET kinds and [`set_assignments`].
//!
//! Owns: tests of `classify::set`. Must not test other statements.

use super::*;

#[test]
fn set_kinds() {
    let cases = [
        ("SET autocommit=0", SetKind::SystemOnly),
        ("SET @@SESSION.AUTOCOMMIT = OFF", SetKind::SystemOnly),
        (
            "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
            SetKind::SystemOnly,
        ),
        ("SET NAMES DEFAULT", SetKind::SystemOnly),
        ("SET CHARACTER SET utf8", SetKind::SystemOnly),
        ("SET CHARSET 'utf8'", SetKind::SystemOnly),
        ("SET a=1, @@session.b=2, NAMES x", SetKind::SystemOnly),
        (
            "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT'))",
            SetKind::SystemOnly,
        ),
        ("SET SQL_AUTO_IS_NULL = 0", SetKind::SystemOnly),
        ("SET character_set_results = NULL", SetKind::SystemOnly),
        ("SET LOCAL x = 1", SetKind::SystemOnly),
        ("SET SESSION TRANSACTION READ ONLY", SetKind::Transaction),
        (
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            SetKind::Transaction,
        ),
        ("SET GLOBAL TRANSACTION READ WRITE", SetKind::Transaction),
        ("SET @a := 1", SetKind::UserVariables),
        ("SET @`a b` = 1, autocommit = 1", SetKind::UserVariables),
        ("SET GLOBAL max_connections = 10", SetKind::Global),
        ("SET @@global.x = 1, @a = 2", SetKind::Global),
        ("SET PERSIST x = 1", SetKind::Global),
        ("SET @@persist_only.x = 1", SetKind::Global),
        ("SET PASSWORD = 'x'", SetKind::Password),
        ("SET PASSWORD FOR 'u'@'h' = 'x'", SetKind::Password),
        ("SET ROLE ALL", SetKind::Other),
        ("SET DEFAULT ROLE r TO u", SetKind::Other),
        ("SET RESOURCE GROUP g", SetKind::Other),
        (
            "SET STATEMENT max_statement_time=1 FOR SELECT 1",
            SetKind::Other,
        ),
        ("SET", SetKind::Other),
        ("SET x", SetKind::Other),
        ("SET x =", SetKind::Other),
        ("SET x = 1,", SetKind::Other),
        ("SET TRANSACTION", SetKind::Other),
        ("SET TRANSACTION ISOLATION LEVEL BOGUS", SetKind::Other),
        (
            "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
            SetKind::UserVariables,
        ),
        ("/*!40101 SET NAMES utf8mb4 */", SetKind::SystemOnly),
    ];
    for (sql, want) in cases {
        assert_eq!(kind(sql), K::Set(want), "{sql}");
    }
}

#[test]
fn set_assignment_lists() {
    use SetScope as S;
    use TransactionScope as T;
    type Expected<'a> = Vec<(SetScope, &'a str, &'a str)>;
    let cases: Vec<(&str, Expected)> = vec![
        ("SET autocommit=0", vec![(S::Session, "autocommit", "0")]),
        ("SET @@SESSION.AUTOCOMMIT = OFF", vec![(S::Session, "autocommit", "OFF")]),
        (
            "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci",
            vec![(S::Names, "names", "utf8mb4 COLLATE utf8mb4_general_ci")],
        ),
        ("SET CHARACTER SET utf8", vec![(S::CharacterSet, "character_set", "utf8")]),
        ("SET CHARSET DEFAULT", vec![(S::CharacterSet, "character_set", "DEFAULT")]),
        (
            "SET sql_mode=(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT')), time_zone='+00:00', NAMES utf8mb4 COLLATE utf8mb4_bin",
            vec![
                (S::Session, "sql_mode", "(SELECT CONCAT(@@sql_mode,',PIPES_AS_CONCAT'))"),
                (S::Session, "time_zone", "'+00:00'"),
                (S::Names, "names", "utf8mb4 COLLATE utf8mb4_bin"),
            ],
        ),
        (
            "SET @@SESSION.sql_auto_is_null = 0, @@SESSION.wait_timeout = 2147483, @@SESSION.sql_mode = CONCAT(REPLACE(@@sql_mode, 'X', ''), ',Y')",
            vec![
                (S::Session, "sql_auto_is_null", "0"),
                (S::Session, "wait_timeout", "2147483"),
                (S::Session, "sql_mode", "CONCAT(REPLACE(@@sql_mode, 'X', ''), ',Y')"),
            ],
        ),
        (
            "SET GLOBAL a = 1, b = 2, SESSION c = 3, @@global.d = 4, e = 5",
            vec![
                (S::Global, "a", "1"),
                (S::Global, "b", "2"),
                (S::Session, "c", "3"),
                (S::Global, "d", "4"),
                (S::Session, "e", "5"),
            ],
        ),
        (
            "SET @A := 1, @`Odd``Name` = 'x', @'q' = @a + 1",
            vec![
                (S::User, "a", "1"),
                (S::User, "odd`name", "'x'"),
                (S::User, "q", "@a + 1"),
            ],
        ),
        ("SET `AutoCommit` = 1", vec![(S::Session, "autocommit", "1")]),
        ("SET GLOBAL keycache1.key_buffer_size = 1", vec![(S::Global, "keycache1.key_buffer_size", "1")]),
        ("SET x = CASE WHEN 1 THEN 2 ELSE 3 END", vec![(S::Session, "x", "CASE WHEN 1 THEN 2 ELSE 3 END")]),
        (
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            vec![(S::Transaction(T::Session), "transaction_isolation", "READ COMMITTED")],
        ),
        (
            "SET TRANSACTION READ ONLY, ISOLATION LEVEL REPEATABLE READ",
            vec![
                (S::Transaction(T::Next), "transaction_read_only", "READ ONLY"),
                (S::Transaction(T::Next), "transaction_isolation", "REPEATABLE READ"),
            ],
        ),
        (
            "SET GLOBAL TRANSACTION READ WRITE",
            vec![(S::Transaction(T::Global), "transaction_read_only", "READ WRITE")],
        ),
        (
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
            vec![(S::User, "old_sql_mode", "@@SQL_MODE"), (S::Session, "sql_mode", "'NO_AUTO_VALUE_ON_ZERO'")],
        ),
        ("SET a = 1; SET b = 2", vec![(S::Session, "a", "1")]),
        ("SET PASSWORD = 'x'", vec![]),
        ("SET ROLE r", vec![]),
        ("SET a = 1, garbage", vec![]),
        ("SELECT 1", vec![]),
        ("", vec![]),
    ];
    for (sql, want) in cases {
        let got: Vec<(SetScope, String, &str)> = set_assignments(sql)
            .into_iter()
            .map(|a| (a.scope, a.name, &sql[a.value_text]))
            .collect();
        let want: Vec<(SetScope, String, &str)> = want
            .into_iter()
            .map(|(s, n, v)| (s, n.to_owned(), v))
            .collect();
        assert_eq!(got, want, "{sql}");
    }
}

/// `SET STATEMENT … FOR` (alone or in a multi-statement) is flagged: its
/// variables last for the statement only; other SETs are not.
#[test]
fn set_statement_is_flagged_as_scoped() {
    for (sql, scoped) in [
        ("SET STATEMENT max_statement_time=1 FOR SELECT 1", true),
        (
            "set statement sql_select_limit = 1 for select * from t",
            true,
        ),
        ("/* c */ SET STATEMENT a=1 FOR UPDATE t SET x = 1", true),
        ("SELECT 1; SET STATEMENT a=1 FOR SELECT 2", true),
        ("SET sql_select_limit = 1", false),
        ("SET @statement = 1", false),
        ("SELECT 'SET STATEMENT a=1 FOR'", false),
    ] {
        assert_eq!(
            classify(sql).flags.statement_scoped_variables,
            scoped,
            "{sql}"
        );
        assert_eq!(
            crate::backend::connection::sets_variables_for_statement(sql.as_bytes()),
            scoped && !sql.starts_with("SELECT 1;"),
            "{sql}"
        );
    }
}

/// The backend's `SET STATEMENT` check answers without the lexer when the
/// first byte rules it out: generated prefixes (blanks, each comment form)
/// before statements that are or are not `SET STATEMENT` agree with a
/// lexer-only reading.
#[test]
fn set_statement_prefix_check_agrees_with_the_lexer() {
    let lexed = |sql: &[u8]| {
        let mut words = crate::sql::Lexer::new(sql).filter(|t| !t.is_trivia());
        let mut is = |word: &str| words.next().is_some_and(|t| t.is_keyword(sql, word));
        is("SET") && is("STATEMENT")
    };
    let prefixes = [
        "",
        " ",
        "\t\n",
        "\r\x0b\x0c ",
        "/* x */",
        "/*!50000 */ ",
        "-- c\n",
        "#c\n",
        "--\n",
        "-1 ",
        "/",
        "#",
        "(",
        "\u{a0}",
    ];
    let bodies = [
        "SET STATEMENT a=1 FOR SELECT 1",
        "set statement a=1 for select 1",
        "SeT/**/StAtEmEnT a=1 FOR SELECT 1",
        "SET a = 1",
        "SELECT 1",
        "STATEMENT",
        "S",
        "",
        "UPDATE t SET a = 1",
        "select 'SET STATEMENT'",
    ];
    for p in prefixes {
        for b in bodies {
            for q in prefixes {
                let sql = format!("{p}{q}{b}");
                assert_eq!(
                    crate::backend::connection::sets_variables_for_statement(sql.as_bytes()),
                    lexed(sql.as_bytes()),
                    "{sql:?}"
                );
            }
        }
    }
}
