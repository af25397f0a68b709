//! Who the client is, as the client asks it: `CURRENT_USER()`, `USER()`,
//! `SESSION_USER()`, `SYSTEM_USER()` and `SHOW GRANTS` answer for the
//! shardcat user (`'app'@'%'`, the privileges configured for it), not for
//! the backend account the statement runs under; `CONNECTION_ID()` is the
//! shardcat session id (the handshake's, the one `KILL` takes), not the
//! thread id of whichever backend connection runs the statement.
//!
//! Owns: the text rewrites doing that and the rendering of a user's
//! configured privileges as MySQL `GRANT` statements. Must not decide
//! what is allowed (that is [`super::privileges`]).

use crate::config::{Grant, UserConfig};
use crate::session_state::quote_str;
use crate::sql::{Classified, LexOptions, Lexer, StatementKind, Token, TokenKind};

/// The account as MySQL writes it in `SHOW GRANTS`: `` `u`@`%` ``.
fn account(user: &str) -> String {
    format!("`{}`@`%`", user.replace('`', "``"))
}

/// Grants in MySQL's order, shorthands expanded.
fn privilege_list(grants: &[Grant], read_only: bool) -> Option<String> {
    if read_only {
        return grants
            .iter()
            .any(|g| g.covers(Grant::Select))
            .then(|| "SELECT".to_string());
    }
    if grants.contains(&Grant::All) {
        return Some("ALL PRIVILEGES".into());
    }
    const ORDER: [(Grant, &str); 9] = [
        (Grant::Select, "SELECT"),
        (Grant::Insert, "INSERT"),
        (Grant::Update, "UPDATE"),
        (Grant::Delete, "DELETE"),
        (Grant::Create, "CREATE"),
        (Grant::Drop, "DROP"),
        (Grant::Index, "INDEX"),
        (Grant::Alter, "ALTER"),
        (Grant::Execute, "EXECUTE"),
    ];
    let names: Vec<&str> = ORDER
        .iter()
        .filter(|(g, _)| grants.iter().any(|h| h.covers(*g)))
        .map(|(_, n)| *n)
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// The configured privileges of `user` as `GRANT` statements.
pub fn grants(cfg: &UserConfig, user: &str) -> Vec<String> {
    let to = account(user);
    if !cfg.is_restricted() {
        if cfg.admin {
            return vec![format!(
                "GRANT ALL PRIVILEGES ON *.* TO {to} WITH GRANT OPTION"
            )];
        }
        // What a user without a list may do: everything on tables and
        // routines, nothing server-level (and, by shardcat, nothing on
        // the system schemas).
        return vec![format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, REFERENCES, INDEX, ALTER, \
             CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, \
             CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER ON *.* TO {to}"
        )];
    }
    let Some(list) = &cfg.privileges else {
        return vec![format!("GRANT SELECT ON *.* TO {to}")];
    };
    // One line per object, its grants merged (as the server shows them).
    let mut objects: Vec<(String, Vec<Grant>)> = Vec::new();
    for e in list {
        let all_tables = e.tables.iter().any(|t| t == "*");
        let db = if e.db == "*" {
            "*".to_string()
        } else {
            format!("`{}`", e.db.replace('`', "``"))
        };
        let targets: Vec<String> = if all_tables {
            vec![format!("{db}.*")]
        } else {
            e.tables
                .iter()
                .map(|t| format!("{db}.`{}`", t.replace('`', "``")))
                .collect()
        };
        for target in targets {
            match objects.iter_mut().find(|(o, _)| *o == target) {
                Some((_, grants)) => grants.extend(e.grants.iter().copied()),
                None => objects.push((target, e.grants.clone())),
            }
        }
    }
    let mut global = "USAGE".to_string();
    let mut lines = Vec::new();
    for (target, grants) in objects {
        let Some(privs) = privilege_list(&grants, cfg.read_only) else {
            continue;
        };
        if target == "*.*" {
            global = privs;
        } else {
            lines.push(format!("GRANT {privs} ON {target} TO {to}"));
        }
    }
    let mut out = vec![format!("GRANT {global} ON *.* TO {to}")];
    out.extend(lines);
    out
}

/// `SHOW GRANTS` / `SHOW GRANTS FOR CURRENT_USER[()]` as a `SELECT` of the
/// configured grants. `None`: not that statement (`FOR someone`: the
/// admin gate decides).
pub fn show_grants(text: &str, cfg: &UserConfig, user: &str, opts: LexOptions) -> Option<String> {
    let src = text.as_bytes();
    let toks: Vec<Token> = Lexer::with_options(src, opts)
        .filter(|t| !t.is_trivia() && !t.is_punct(src, ";"))
        .collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    if !(kw(0, "SHOW") && kw(1, "GRANTS")) {
        return None;
    }
    let tail_ok = match toks.len() {
        2 => true,
        4 => kw(2, "FOR") && kw(3, "CURRENT_USER"),
        6 => {
            kw(2, "FOR")
                && kw(3, "CURRENT_USER")
                && toks[4].is_punct(src, "(")
                && toks[5].is_punct(src, ")")
        }
        _ => false,
    };
    if !tail_ok {
        return None;
    }
    let header = format!("Grants for {user}@%").replace('`', "``");
    let rows: Vec<String> = grants(cfg, user)
        .iter()
        .enumerate()
        .map(|(i, g)| {
            if i == 0 {
                format!("SELECT {} AS `{header}`", quote_str(g))
            } else {
                format!("SELECT {}", quote_str(g))
            }
        })
        .collect();
    Some(rows.join(" UNION ALL "))
}

/// Statements whose `CURRENT_USER()`/`USER()` calls are values.
fn evaluates(c: &Classified) -> bool {
    matches!(
        c.kind,
        StatementKind::Select
            | StatementKind::Insert
            | StatementKind::Replace
            | StatementKind::Update
            | StatementKind::Delete
            | StatementKind::Do
    )
}

/// Replaces `CURRENT_USER[()]`, `USER()`, `SESSION_USER()`,
/// `SYSTEM_USER()` by the shardcat user's values (`u@%`, `u@host`) and
/// `CONNECTION_ID()` by the session id; a call that is a whole select-list
/// item without an alias keeps its column name. `None`: none found.
pub fn functions(
    text: &str,
    c: &Classified,
    user: &str,
    host: &str,
    connection_id: u32,
    opts: LexOptions,
) -> Option<String> {
    if !evaluates(c) {
        return None;
    }
    let src = text.as_bytes();
    let toks: Vec<Token> = Lexer::with_options(src, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    let mut splices = Vec::new();
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct(src, "(") {
            depth += 1;
        } else if t.is_punct(src, ")") {
            depth = depth.saturating_sub(1);
        }
        if t.kind != TokenKind::Word {
            continue;
        }
        let after_dot = i > 0 && toks[i - 1].is_punct(src, ".");
        let called = toks.get(i + 1).is_some_and(|n| n.is_punct(src, "("))
            && toks.get(i + 2).is_some_and(|n| n.is_punct(src, ")"));
        let value = if t.is_keyword(src, "CURRENT_USER") {
            quote_str(&format!("{user}@%"))
        } else if ["USER", "SESSION_USER", "SYSTEM_USER"]
            .iter()
            .any(|k| t.is_keyword(src, k))
            && called
        {
            quote_str(&format!("{user}@{host}"))
        } else if t.is_keyword(src, "CONNECTION_ID") && called {
            // BIGINT UNSIGNED, as the function's own result.
            format!("CAST({connection_id} AS UNSIGNED)")
        } else {
            continue;
        };
        if after_dot {
            continue;
        }
        let last = if called { i + 2 } else { i };
        let end = toks[last].end;
        let prev_ok = i == 0
            || toks[i - 1].is_punct(src, ",")
            || ["SELECT", "DISTINCT", "ALL"]
                .iter()
                .any(|k| toks[i - 1].is_keyword(src, k));
        let next_ok = toks.get(last + 1).is_none_or(|n| {
            n.is_punct(src, ",")
                || n.is_punct(src, ";")
                || [
                    "FROM", "INTO", "UNION", "LIMIT", "ORDER", "GROUP", "WHERE", "HAVING",
                ]
                .iter()
                .any(|k| n.is_keyword(src, k))
        });
        let mut replacement = value;
        if depth == 0 && prev_ok && next_ok && c.kind == StatementKind::Select {
            let name = text.get(t.start..end).unwrap_or("CURRENT_USER()");
            replacement = format!("{replacement} AS `{}`", name.replace('`', "``"));
        }
        splices.push(crate::sql::Splice {
            range: t.start..end,
            replacement,
        });
    }
    if splices.is_empty() {
        return None;
    }
    crate::sql::apply_splices(text, &mut splices).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PrivilegeEntry;
    use crate::sql::classify;

    #[test]
    fn functions_answer_for_the_shardcat_user() {
        let run = |sql: &str| {
            functions(
                sql,
                &classify(sql),
                "app",
                "10.0.0.9",
                77,
                LexOptions::default(),
            )
        };
        assert_eq!(
            run("SELECT CONNECTION_ID(), connection_id() + 1 AS n, t.connection_id() FROM t")
                .as_deref(),
            Some("SELECT CAST(77 AS UNSIGNED) AS `CONNECTION_ID()`, CAST(77 AS UNSIGNED) + 1 AS n, t.connection_id() FROM t")
        );
        assert_eq!(run("SELECT connection_id FROM t"), None);
        assert_eq!(
            run("SELECT CURRENT_USER(), user() AS u, t.user FROM t").as_deref(),
            Some("SELECT 'app@%' AS `CURRENT_USER()`, 'app@10.0.0.9' AS u, t.user FROM t")
        );
        assert_eq!(
            run("SELECT CONCAT(CURRENT_USER, '!')").as_deref(),
            Some("SELECT CONCAT('app@%', '!')")
        );
        assert_eq!(run("SELECT user FROM users"), None);
        assert_eq!(run("SET PASSWORD FOR CURRENT_USER() = 'x'"), None);
    }

    #[test]
    fn grants_render_the_configured_privileges() {
        let mut u: UserConfig = toml::from_str("name = \"r\"").unwrap();
        u.privileges = Some(vec![
            PrivilegeEntry {
                db: "shop".into(),
                tables: vec!["*".into()],
                grants: vec![Grant::Select, Grant::Ddl],
            },
            PrivilegeEntry {
                db: "crm".into(),
                tables: vec!["a".into()],
                grants: vec![Grant::Insert],
            },
        ]);
        assert_eq!(
            grants(&u, "r"),
            vec![
                "GRANT USAGE ON *.* TO `r`@`%`",
                "GRANT SELECT, CREATE, DROP, INDEX, ALTER ON `shop`.* TO `r`@`%`",
                "GRANT INSERT ON `crm`.`a` TO `r`@`%`",
            ]
        );
        u.read_only = true;
        assert_eq!(grants(&u, "r").len(), 2);
        let sql = show_grants(
            "show grants for current_user();",
            &u,
            "r",
            LexOptions::default(),
        );
        assert_eq!(
            sql.as_deref(),
            Some("SELECT 'GRANT USAGE ON *.* TO `r`@`%`' AS `Grants for r@%` UNION ALL SELECT 'GRANT SELECT ON `shop`.* TO `r`@`%`'")
        );
        assert_eq!(
            show_grants("SHOW GRANTS FOR bob", &u, "r", LexOptions::default()),
            None
        );
    }
}
