//! The SQLSTATE a MariaDB server gives a condition it raised itself, by the
//! condition's code: what `GET DIAGNOSTICS CONDITION n @s =
//! RETURNED_SQLSTATE` reads. `SHOW WARNINGS` lists level, code and message
//! but no SQLSTATE, so the proxy answering for warnings gathered from
//! several shards needs the server's mapping; the server falls back to
//! `HY000` for a code it gives no standard state, as this does.
//!
//! Only codes that can end up in a diagnostics area after a statement that
//! succeeded (warnings and notes, and errors that `IGNORE` turns into
//! warnings) are listed; compared with a server by
//! `tests/clients/test_shard_warnings.py`.
//!
//! Owns: that mapping. Must not know about sessions or I/O.

/// The SQLSTATE of the server condition `code`.
pub fn of_code(code: u32) -> &'static str {
    match code {
        // Warnings proper (class 01).
        1261 | 1262 | 1265 => "01000",
        // No data.
        1329 | 1643 => "02000",
        // Cardinality violation.
        1241 | 1242 => "21000",
        // Data exceptions.
        1406 => "22001",
        1264 | 1690 | 1916 | 1917 => "22003",
        1263 => "22004",
        1292 | 1366 | 1367 | 1918 => "22007",
        1441 => "22008",
        1365 => "22012",
        // Integrity constraint violations.
        1022 | 1048 | 1062 | 1169 | 1451 | 1452 | 1557 | 1586 | 1761 | 1762 | 1859 | 4025 => {
            "23000"
        }
        // Transaction rollback.
        1213 => "40001",
        // Syntax or access rule violations.
        1050 => "42S01",
        1051 | 1146 | 1109 => "42S02",
        1054 => "42S22",
        1091 | 1064 | 1235 | 1149 | 1044 | 1142 | 1143 => "42000",
        1317 => "70100",
        _ => "HY000",
    }
}

/// `CLASS_ORIGIN` / `SUBCLASS_ORIGIN` and the other name items of a
/// condition the server raised itself (not by `SIGNAL`): MariaDB leaves
/// them empty.
pub const EMPTY_CONDITION_ITEMS: &[&str] = &[
    "CLASS_ORIGIN",
    "SUBCLASS_ORIGIN",
    "CONSTRAINT_CATALOG",
    "CONSTRAINT_SCHEMA",
    "CONSTRAINT_NAME",
    "CATALOG_NAME",
    "SCHEMA_NAME",
    "TABLE_NAME",
    "COLUMN_NAME",
    "CURSOR_NAME",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_warnings() {
        assert_eq!(of_code(1265), "01000");
        assert_eq!(of_code(1264), "22003");
        assert_eq!(of_code(1292), "22007");
        assert_eq!(of_code(1366), "22007");
        assert_eq!(of_code(1062), "23000");
        assert_eq!(of_code(1411), "HY000");
        assert_eq!(of_code(1105), "HY000");
    }
}
