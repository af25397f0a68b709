//! What a user may *see* of the servers' catalog: rows of
//! `information_schema` views, `SHOW TABLES` and `SHOW TABLE STATUS`
//! limited to the databases and tables the user's privilege list reaches
//! (as MySQL shows a user only the objects it holds some privilege on),
//! `information_schema.PROCESSLIST` replaced by the user's own shardcat
//! sessions, and `INNODB_*` views refused without the admin role (MySQL:
//! PROCESS privilege, 1227).
//!
//! How: every reference to a filtered view becomes a derived table, e.g.
//! `information_schema.TABLES` →
//! `(SELECT * FROM information_schema.TABLES WHERE <what the user may see>)
//! AS TABLES`, so any query shape (joins, subqueries, aggregates) keeps its
//! meaning on the visible rows; `SHOW TABLES` gains a `WHERE` on its name
//! column. Physical tables of a sharded logical table are named beside it,
//! so the sharded metadata paths (which map physical names back) still find
//! their rows.
//!
//! Owns: those rewrites. Must not decide statement privileges (that is
//! [`super::privileges`]), nor do I/O: the session's list and the router's
//! physical names come in as values.

use crate::config::{Grant, UserConfig};
use crate::error::ProxyError;
use crate::session_state::quote_str;
use crate::sql::search::contains_ignore_case;
use crate::sql::{self, Classified, LexOptions, Lexer, ShowKind, StatementKind, Token};

use super::processlist::{self, ProcessRow};
use super::tables::{is_information_schema, SYSTEM_SCHEMAS};

/// Physical table names standing for a logical table (sharded tables).
pub type PhysicalNames<'a> = &'a (dyn Fn(&str) -> Vec<String> + Sync);

/// How a view's rows name their object.
#[derive(Clone, Copy)]
enum Filter {
    /// Rows about tables: (schema column, table column).
    Table(&'static str, &'static str),
    /// Rows about columns (SELECT, INSERT or UPDATE needed: a table-level
    /// privilege such as DELETE shows no column).
    Column(&'static str, &'static str),
    /// Rows about databases: schema column.
    Schema(&'static str),
    /// Rows about stored routines (EXECUTE needed): (schema, name).
    Routine(&'static str, &'static str),
    /// Rows about the backend account's grants or roles: none shown.
    Nothing,
}

/// `information_schema` views filtered for users with a privilege list.
const VIEWS: &[(&str, Filter)] = &[
    ("SCHEMATA", Filter::Schema("SCHEMA_NAME")),
    ("TABLES", Filter::Table("TABLE_SCHEMA", "TABLE_NAME")),
    ("COLUMNS", Filter::Column("TABLE_SCHEMA", "TABLE_NAME")),
    ("STATISTICS", Filter::Table("TABLE_SCHEMA", "TABLE_NAME")),
    ("VIEWS", Filter::Table("TABLE_SCHEMA", "TABLE_NAME")),
    ("PARTITIONS", Filter::Table("TABLE_SCHEMA", "TABLE_NAME")),
    (
        "TABLE_CONSTRAINTS",
        Filter::Table("TABLE_SCHEMA", "TABLE_NAME"),
    ),
    (
        "KEY_COLUMN_USAGE",
        Filter::Table("TABLE_SCHEMA", "TABLE_NAME"),
    ),
    (
        "REFERENTIAL_CONSTRAINTS",
        Filter::Table("CONSTRAINT_SCHEMA", "TABLE_NAME"),
    ),
    (
        "CHECK_CONSTRAINTS",
        Filter::Table("CONSTRAINT_SCHEMA", "TABLE_NAME"),
    ),
    (
        "TRIGGERS",
        Filter::Table("EVENT_OBJECT_SCHEMA", "EVENT_OBJECT_TABLE"),
    ),
    ("EVENTS", Filter::Schema("EVENT_SCHEMA")),
    (
        "ROUTINES",
        Filter::Routine("ROUTINE_SCHEMA", "ROUTINE_NAME"),
    ),
    (
        "PARAMETERS",
        Filter::Routine("SPECIFIC_SCHEMA", "SPECIFIC_NAME"),
    ),
    // userstat: per-table rows need a privilege on the table; the
    // per-account and per-client rows need PROCESS on the servers (and
    // would show the backend account's traffic of every user).
    (
        "TABLE_STATISTICS",
        Filter::Table("TABLE_SCHEMA", "TABLE_NAME"),
    ),
    (
        "INDEX_STATISTICS",
        Filter::Table("TABLE_SCHEMA", "TABLE_NAME"),
    ),
    ("USER_STATISTICS", Filter::Nothing),
    ("CLIENT_STATISTICS", Filter::Nothing),
    ("USER_PRIVILEGES", Filter::Nothing),
    ("SCHEMA_PRIVILEGES", Filter::Nothing),
    ("TABLE_PRIVILEGES", Filter::Nothing),
    ("COLUMN_PRIVILEGES", Filter::Nothing),
    ("APPLICABLE_ROLES", Filter::Nothing),
    ("ENABLED_ROLES", Filter::Nothing),
];

/// What the rewrite knows about the user.
pub struct Viewer<'a> {
    /// The privilege list in force (`None`: an unrestricted user, whose
    /// catalog rows are not filtered).
    pub restricted: Option<&'a UserConfig>,
    pub is_admin: bool,
    pub physical: PhysicalNames<'a>,
    /// The shardcat sessions the user may see.
    pub processes: &'a (dyn Fn() -> Vec<ProcessRow> + Sync),
}

/// What makes an object visible.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Any grant (databases: EXECUTE on it counts).
    Any,
    /// A grant on tables (not EXECUTE).
    Table,
    /// A grant on columns: SELECT, INSERT or UPDATE.
    Column,
    /// EXECUTE (routines).
    Execute,
}

/// The entries making objects visible: `(db, tables)` (`tables` empty:
/// the whole database), honouring `read_only` (only SELECT counts).
fn visible(cfg: &UserConfig, need: Need) -> Vec<(&str, &[String])> {
    let everything: &[String] = &[];
    let Some(list) = &cfg.privileges else {
        // read_only without a list: SELECT on every non-system database.
        return if need == Need::Execute {
            Vec::new()
        } else {
            vec![("*", everything)]
        };
    };
    let wanted: &[Grant] = match (need, cfg.read_only) {
        (Need::Execute, true) => &[],
        (Need::Execute, false) => &[Grant::Execute],
        (_, true) => &[Grant::Select],
        (Need::Column, false) => &[Grant::Select, Grant::Insert, Grant::Update],
        (Need::Any, false) => &Grant::BASIC,
        (Need::Table, false) => &Grant::BASIC[..8],
    };
    list.iter()
        .filter(|e| e.grants.iter().any(|g| wanted.iter().any(|w| g.covers(*w))))
        .map(|e| {
            let tables: &[String] = if e.tables.iter().any(|t| t == "*") {
                everything
            } else {
                &e.tables
            };
            (e.db.as_str(), tables)
        })
        .collect()
}

fn quoted_list(names: impl IntoIterator<Item = String>) -> String {
    names
        .into_iter()
        .map(|n| quote_str(&n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names to accept for logical `tables`: each, and its physical tables.
fn with_physical(tables: &[String], physical: PhysicalNames<'_>) -> Vec<String> {
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        out.push(t.clone());
        out.extend(physical(t));
    }
    out
}

/// The SQL condition keeping the rows of `filter` the user may see.
fn predicate(cfg: &UserConfig, filter: Filter, physical: PhysicalNames<'_>) -> String {
    let (schema, name, need) = match filter {
        Filter::Nothing => return "FALSE".into(),
        Filter::Schema(s) => (s, None, Need::Any),
        Filter::Table(s, n) => (s, Some(n), Need::Table),
        Filter::Column(s, n) => (s, Some(n), Need::Column),
        Filter::Routine(s, n) => (s, Some(n), Need::Execute),
    };
    let mut terms = Vec::new();
    if need != Need::Execute {
        // (Written with IN: `= 'literal'` would be read as the schema
        // the query is about by the sharded metadata path.)
        terms.push(format!("{schema} IN ('information_schema')"));
    }
    for (db, tables) in visible(cfg, need) {
        let db_term = if db == "*" {
            let system = quoted_list(
                SYSTEM_SCHEMAS
                    .iter()
                    .chain(&["information_schema"])
                    .map(|s| s.to_string()),
            );
            format!("{schema} NOT IN ({system})")
        } else {
            format!("BINARY {schema} IN ({})", quote_str(db))
        };
        match name {
            Some(n) if !tables.is_empty() => terms.push(format!(
                "({db_term} AND BINARY {n} IN ({}))",
                quoted_list(with_physical(tables, physical))
            )),
            _ => terms.push(db_term),
        }
    }
    if terms.is_empty() {
        return "FALSE".into();
    }
    format!("({})", terms.join(" OR "))
}

/// Statement kinds whose `information_schema` references are rewritten
/// (those that read rows; `DESCRIBE`/`SHOW COLUMNS` of a view show only
/// its definition).
fn reads_rows(c: &Classified) -> bool {
    matches!(
        c.kind,
        StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Replace
            | StatementKind::Update
            | StatementKind::Delete
            | StatementKind::Do
            | StatementKind::Set(_)
            | StatementKind::Ddl
    )
}

/// Rewrites the `information_schema` references of `text`: `Ok(None)`
/// when nothing changes.
pub fn information_schema(
    v: &Viewer<'_>,
    text: &str,
    c: &Classified,
    current_db: Option<&str>,
    opts: LexOptions,
) -> Result<Option<String>, ProxyError> {
    let in_is = current_db.is_some_and(is_information_schema);
    if !reads_rows(c) || !(in_is || contains_ignore_case(text.as_bytes(), b"information_schema")) {
        return Ok(None);
    }
    let plain = super::tables::blank_exec_comment_markers(text, opts);
    let Ok(stmts) = sql::parse(&plain) else {
        return unparsed(v, text);
    };
    let [stmt] = stmts.as_slice() else {
        return unparsed(v, text);
    };
    let mut splices = Vec::new();
    for r in sql::table_references(&plain, stmt) {
        let db_is = match &r.schema {
            Some(s) => is_information_schema(s),
            None => in_is,
        };
        if !db_is {
            continue;
        }
        let view = r.name.to_ascii_uppercase();
        let derived = if view == "PROCESSLIST" {
            processlist::derived(&(v.processes)())
        } else if view.starts_with("INNODB_") && !v.is_admin {
            return Err(ProxyError::SpecificAccessDenied {
                privilege: "PROCESS",
            });
        } else {
            let Some(cfg) = v.restricted else { continue };
            let Some(&(_, filter)) = VIEWS.iter().find(|(n, _)| *n == view) else {
                continue;
            };
            format!(
                "SELECT * FROM information_schema.{view} WHERE {}",
                predicate(cfg, filter, v.physical)
            )
        };
        let replacement = match r.alias {
            Some(_) => format!("({derived})"),
            None => format!(
                "({derived}) AS {}",
                text.get(r.name_span.clone()).unwrap_or("t")
            ),
        };
        splices.push(sql::Splice {
            range: r.span.clone(),
            replacement,
        });
    }
    if splices.is_empty() {
        return Ok(None);
    }
    sql::apply_splices(text, &mut splices)
        .map(Some)
        .map_err(|e| unverifiable(v, &e.to_string()))
}

/// Text that mentions a rewritten view but cannot be parsed: refused
/// where a rewrite would be needed.
fn unparsed(v: &Viewer<'_>, text: &str) -> Result<Option<String>, ProxyError> {
    let b = text.as_bytes();
    if contains_ignore_case(b, b"processlist") {
        return Err(ProxyError::SpecificAccessDenied {
            privilege: "PROCESS",
        });
    }
    if v.restricted.is_some() {
        return Err(unverifiable(
            v,
            "an information_schema read shardcat cannot parse",
        ));
    }
    Ok(None)
}

fn unverifiable(_v: &Viewer<'_>, reason: &str) -> ProxyError {
    ProxyError::Unsupported(format!(
        "{reason}: shardcat must filter it to the user's privileges"
    ))
}

/// `SHOW [FULL] TABLES` / `SHOW TABLE STATUS` of a database the user
/// reaches only some tables of: the same statement with a `WHERE` on the
/// name column keeping those tables. `None`: nothing to filter.
pub fn show_tables(
    cfg: &UserConfig,
    text: &str,
    c: &Classified,
    current_db: Option<&str>,
    physical: PhysicalNames<'_>,
    opts: LexOptions,
) -> Option<String> {
    let src = text.as_bytes();
    let toks: Vec<Token> = Lexer::with_options(src, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    let mut i = 1;
    if kw(i, "FULL") {
        i += 1;
    }
    let status = match c.kind {
        StatementKind::Show(ShowKind::Tables) if kw(i, "TABLES") => false,
        StatementKind::Show(ShowKind::Other) if kw(i, "TABLE") && kw(i + 1, "STATUS") => {
            i += 1;
            true
        }
        _ => return None,
    };
    i += 1;
    let mut db = current_db.map(str::to_string);
    if kw(i, "FROM") || kw(i, "IN") {
        db = Some(sql::lexer::unquote(toks.get(i + 1)?.bytes(src)).into_owned());
        i += 2;
    }
    let db = db?;
    if is_information_schema(&db) {
        return None;
    }
    let entries = visible(cfg, Need::Table);
    let db_matches = |e: &str| {
        if e == "*" {
            !SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(&db))
        } else {
            e == db
        }
    };
    if entries.iter().any(|(e, t)| db_matches(e) && t.is_empty()) {
        return None;
    }
    let mut names = Vec::new();
    for (_, tables) in entries.iter().filter(|(e, _)| db_matches(e)) {
        names.extend(with_physical(tables, physical));
    }
    let column = if status {
        "`Name`".to_string()
    } else {
        crate::session_state::quote_ident(&format!("Tables_in_{db}"))
    };
    let end = toks
        .iter()
        .rposition(|t| !t.is_punct(src, ";"))
        .map(|k| toks[k].end)?;
    let head_end = toks.get(i).map_or(end, |t| t.start);
    let head = text.get(..head_end)?.trim_end();
    let allowed = if names.is_empty() {
        "FALSE".to_string()
    } else {
        format!("BINARY {column} IN ({})", quoted_list(names))
    };
    let rest = |k: usize| text.get(toks.get(k)?.start..end);
    let user_filter = if toks.get(i).is_none_or(|t| t.is_punct(src, ";")) {
        None
    } else if kw(i, "LIKE") {
        Some(format!("{column} LIKE {}", rest(i + 1)?))
    } else if kw(i, "WHERE") {
        Some(format!("({})", rest(i + 1)?))
    } else {
        return None;
    };
    Some(match user_filter {
        Some(f) => format!("{head} WHERE {allowed} AND {f}"),
        None => format!("{head} WHERE {allowed}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrivilegeEntry;

    fn user(entries: &[(&str, &[&str], &[Grant])], read_only: bool) -> UserConfig {
        let list = entries
            .iter()
            .map(|(db, tables, grants)| PrivilegeEntry {
                db: db.to_string(),
                tables: tables.iter().map(|t| t.to_string()).collect(),
                grants: grants.to_vec(),
            })
            .collect();
        let mut u: UserConfig = toml::from_str("name = \"u\"").unwrap();
        u.privileges = Some(list);
        u.read_only = read_only;
        u
    }

    fn none(_: &str) -> Vec<String> {
        Vec::new()
    }

    #[test]
    fn predicates_follow_the_entries() {
        let u = user(
            &[
                ("shop", &["*"], &[Grant::Select]),
                ("crm", &["a", "b"], &[Grant::Insert]),
            ],
            false,
        );
        let p = predicate(&u, Filter::Table("TABLE_SCHEMA", "TABLE_NAME"), &none);
        assert_eq!(
            p,
            "(TABLE_SCHEMA IN ('information_schema') OR BINARY TABLE_SCHEMA IN ('shop') OR \
             (BINARY TABLE_SCHEMA IN ('crm') AND BINARY TABLE_NAME IN ('a', 'b')))"
        );
        // read_only keeps SELECT entries only; no EXECUTE: no routines.
        let ro = user(
            &[
                ("shop", &["*"], &[Grant::Select]),
                ("crm", &["*"], &[Grant::All]),
            ],
            true,
        );
        let p = predicate(&ro, Filter::Schema("SCHEMA_NAME"), &none);
        assert!(p.contains("'shop'") && p.contains("'crm'"), "{p}");
        let ro2 = user(&[("crm", &["*"], &[Grant::Insert])], true);
        let p = predicate(&ro2, Filter::Schema("SCHEMA_NAME"), &none);
        assert_eq!(p, "(SCHEMA_NAME IN ('information_schema'))");
        assert_eq!(
            predicate(&u, Filter::Routine("ROUTINE_SCHEMA", "ROUTINE_NAME"), &none),
            "FALSE"
        );
        let star = user(&[("*", &["*"], &[Grant::Execute])], false);
        let p = predicate(
            &star,
            Filter::Routine("ROUTINE_SCHEMA", "ROUTINE_NAME"),
            &none,
        );
        assert!(
            p.contains(
                "NOT IN ('mysql', 'performance_schema', 'sys', 'shardcat', 'information_schema')"
            ),
            "{p}"
        );
    }

    #[test]
    fn show_tables_gains_a_filter_only_for_partial_databases() {
        let u = user(
            &[
                ("shop", &["*"], &[Grant::Select]),
                ("crm", &["a"], &[Grant::Select]),
            ],
            false,
        );
        let phys = |t: &str| {
            if t == "a" {
                vec!["a_0".to_string()]
            } else {
                Vec::new()
            }
        };
        let run = |sql: &str, db: Option<&str>| {
            let c = sql::classify(sql);
            show_tables(&u, sql, &c, db, &phys, LexOptions::default())
        };
        assert_eq!(run("SHOW TABLES", Some("shop")), None);
        assert_eq!(
            run("SHOW FULL TABLES FROM crm LIKE 'a%';", Some("shop")).as_deref(),
            Some("SHOW FULL TABLES FROM crm WHERE BINARY `Tables_in_crm` IN ('a', 'a_0') AND `Tables_in_crm` LIKE 'a%'")
        );
        assert_eq!(
            run("SHOW TABLE STATUS WHERE Rows > 1", Some("crm")).as_deref(),
            Some("SHOW TABLE STATUS WHERE BINARY `Name` IN ('a', 'a_0') AND (Rows > 1)")
        );
    }
}
