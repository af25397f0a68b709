//! The proxy-enforced privilege check: may this user run this statement
//! on these objects?
//!
//! Owns: the mapping statement kind → grant needed on each object, and
//! matching it against a user's `privileges` list (`read_only`, `db = "*"`,
//! `tables = ["*"]`, system schemas, `information_schema`). A pure
//! function of its inputs, with MySQL's errors (1142, 1044, 1227, 1046).
//!
//! Must not: read SQL text (that is [`super::tables`]), do I/O, or apply to
//! users without a privilege list (the caller checks
//! [`UserConfig::is_restricted`]).

use crate::config::{Grant, PrivilegeEntry, UserConfig};
use crate::error::ProxyError;
use crate::sql::{Classified, ShowKind, StatementKind};

use super::tables::{is_information_schema, DdlVerb, StatementObjects, TableName, SYSTEM_SCHEMAS};

/// The client, as MySQL names it in errors.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub user: &'a str,
    pub host: &'a str,
}

/// The entries in force: the `privileges` list, or for a `read_only`
/// user without one, `SELECT` on every non-system database.
fn entries(cfg: &UserConfig) -> std::borrow::Cow<'_, [PrivilegeEntry]> {
    match &cfg.privileges {
        Some(list) => std::borrow::Cow::Borrowed(list.as_slice()),
        None => std::borrow::Cow::Owned(vec![PrivilegeEntry {
            db: "*".into(),
            tables: vec!["*".into()],
            grants: vec![Grant::Select],
        }]),
    }
}

fn db_matches(entry: &str, db: &str) -> bool {
    if entry == "*" {
        !SYSTEM_SCHEMAS.iter().any(|s| s.eq_ignore_ascii_case(db)) && !is_information_schema(db)
    } else {
        entry == db
    }
}

/// Whether the user holds `grant` on `table` of `db` (`None`: on the
/// database as a whole, i.e. an entry with `tables = ["*"]`).
pub fn holds(cfg: &UserConfig, db: &str, table: Option<&str>, grant: Grant) -> bool {
    if cfg.read_only && grant != Grant::Select {
        return false;
    }
    if is_information_schema(db) {
        return grant == Grant::Select;
    }
    entries(cfg).iter().any(|e| {
        db_matches(&e.db, db)
            && e.tables
                .iter()
                .any(|t| t == "*" || table.is_some_and(|name| t == name))
            && e.grants.iter().any(|g| g.covers(grant))
    })
}

/// Whether the user may use `db` at all (`USE`, `SHOW TABLES`): some
/// grant on something in it.
pub fn reaches(cfg: &UserConfig, db: &str) -> bool {
    is_information_schema(db)
        || entries(cfg).iter().any(|e| {
            db_matches(&e.db, db)
                && (!cfg.read_only || e.grants.iter().any(|g| g.covers(Grant::Select)))
        })
}

/// Whether the user may see table `t`'s definition without SELECT: some
/// privilege granted on the table itself (as MariaDB: database-level
/// INSERT/UPDATE… do not show it).
fn may_describe(cfg: &UserConfig, t: &TableName) -> bool {
    holds(cfg, &t.db, Some(&t.name), Grant::Select)
        || (!cfg.read_only
            && entries(cfg).iter().any(|e| {
                db_matches(&e.db, &t.db)
                    && e.tables.contains(&t.name)
                    && e.grants
                        .iter()
                        .any(|g| Grant::BASIC[..8].iter().any(|w| g.covers(*w)))
            }))
}

/// The privileges a DDL statement needs (on its database and tables);
/// `None`: an administrator's statement.
fn ddl_grants(verb: Option<DdlVerb>) -> Option<&'static [Grant]> {
    Some(match verb {
        Some(DdlVerb::AdminOnly(_)) | None => return None,
        Some(DdlVerb::Create) => &[Grant::Create],
        Some(DdlVerb::Drop) => &[Grant::Drop],
        Some(DdlVerb::Alter) => &[Grant::Alter],
        Some(DdlVerb::Index) => &[Grant::Index],
        Some(DdlVerb::Rename) => &[Grant::Alter, Grant::Drop, Grant::Create, Grant::Insert],
    })
}

/// Checks one statement. `objs` comes from [`super::tables::analyze`].
pub fn check(
    cfg: &UserConfig,
    who: Who<'_>,
    c: &Classified,
    objs: &StatementObjects,
) -> Result<(), ProxyError> {
    use StatementKind as K;
    let admin = |privilege: &'static str| {
        if cfg.admin {
            Ok(())
        } else {
            Err(ProxyError::SpecificAccessDenied { privilege })
        }
    };
    if let Some(p) = objs.admin_only {
        return admin(p);
    }
    if objs.harmless {
        return Ok(());
    }
    let table = |t: &TableName, grant: Grant| -> Result<(), ProxyError> {
        if holds(cfg, &t.db, Some(&t.name), grant) {
            return Ok(());
        }
        Err(ProxyError::TableAccessDenied {
            command: grant.command(),
            user: who.user.to_string(),
            host: who.host.to_string(),
            table: t.name.clone(),
        })
    };
    let all = |list: &[TableName], grants: &[Grant]| -> Result<(), ProxyError> {
        for t in list {
            for &g in grants {
                table(t, g)?;
            }
        }
        Ok(())
    };
    let database = |grant: Option<Grant>| -> Result<(), ProxyError> {
        let Some(db) = &objs.database else {
            return Ok(());
        };
        let ok = match grant {
            Some(g) => holds(cfg, db, None, g),
            None => reaches(cfg, db),
        };
        if ok {
            return Ok(());
        }
        Err(ProxyError::DatabaseAccessDenied {
            user: who.user.to_string(),
            host: who.host.to_string(),
            db: db.clone(),
        })
    };
    let reads = || all(&objs.reads, &[Grant::Select]);
    // A table's definition: SELECT, or any privilege granted on the table
    // itself (as MariaDB: database-level INSERT/UPDATE… do not show it);
    // the error names SELECT.
    let described = |list: &[TableName]| -> Result<(), ProxyError> {
        for t in list {
            if !may_describe(cfg, t) {
                table(t, Grant::Select)?;
            }
        }
        Ok(())
    };
    match &c.kind {
        K::Describe | K::Show(ShowKind::CreateTable | ShowKind::Columns) => {
            described(&objs.targets)?;
            described(&objs.reads)
        }
        K::Select | K::Explain | K::Handler | K::Checksum | K::Check | K::LockTables | K::Do => {
            all(&objs.targets, &[Grant::Select])?;
            reads()
        }
        K::Show(ShowKind::Tables | ShowKind::Other) | K::Use { .. } => {
            all(&objs.targets, &[Grant::Select])?;
            reads()?;
            database(None)
        }
        K::Show(_) => Ok(()),
        K::Insert => {
            let g: &[Grant] = if objs.upsert {
                &[Grant::Insert, Grant::Update]
            } else {
                &[Grant::Insert]
            };
            all(&objs.targets, g)?;
            reads()
        }
        K::Replace => {
            all(&objs.targets, &[Grant::Insert, Grant::Delete])?;
            reads()
        }
        K::Update => {
            all(&objs.targets, &[Grant::Update])?;
            reads()
        }
        K::Delete => {
            all(&objs.targets, &[Grant::Delete])?;
            reads()
        }
        K::LoadData => all(&objs.targets, &[Grant::Insert]),
        K::Ddl => {
            let Some(grants) = ddl_grants(objs.ddl) else {
                return admin("SUPER");
            };
            for &g in grants {
                database(Some(g))?;
            }
            all(&objs.targets, grants)?;
            reads()
        }
        K::Other if c.flags.temporary_table => {
            all(&objs.targets, &[Grant::Create])?;
            reads()
        }
        K::Optimize | K::Repair | K::Analyze => {
            all(&objs.targets, &[Grant::Select, Grant::Insert])?;
            reads()
        }
        K::Call => match &objs.routine {
            Some(r) => table(r, Grant::Execute),
            None => admin("EXECUTE"),
        },
        K::Begin { .. }
        | K::Commit
        | K::Rollback
        | K::Savepoint
        | K::UnlockTables
        | K::SqlPrepare
        | K::SqlExecute
        | K::SqlDeallocate
        | K::Set(_)
        | K::Kill { .. }
        | K::Xa
        | K::ExplainShardcat { .. }
        | K::Empty => Ok(()),
        K::ShowShardcat { .. } | K::SetShardcat { .. } | K::Flush | K::Grant | K::Revoke => {
            admin("SUPER")
        }
        K::Other => Err(ProxyError::UnverifiableStatement {
            command: "this",
            user: who.user.to_string(),
            host: who.host.to_string(),
            reason: "statement kind not covered by the privilege model".into(),
        }),
    }
}

#[cfg(test)]
#[path = "privileges_tests.rs"]
mod tests;
