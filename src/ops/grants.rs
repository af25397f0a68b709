//! `shardcat check --live` for `backend_auth = "passthrough"` users: the
//! servers' grants decide what such a user may do, and a sharded table is
//! several physical tables on several nodes, so a grant given on some of
//! them and not on others makes the same statement work on some shards
//! and fail (1142) on others. For each pass-through user and node this
//! reads the user's global, database and table privileges from the
//! primary's `information_schema` (as the `[backend]` account, which must
//! be able to read `mysql`), and reports: a missing account, privileges
//! held on some physical tables of a logical table but not on the others,
//! and (with `[routing] transactions = "xa"`) a user who may write sharded
//! tables without `INSERT` on `shardcat.xa_log` (the decision row of a
//! multi-node commit is written on the user's own connection).
//!
//! Owns: reading those grants and comparing them. Must not change grants.
//! Roles and wildcard database names in grants are not expanded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::{BackendAuth, Config, TransactionMode};

/// The table privileges compared.
const PRIVILEGES: [&str; 8] = [
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
];
const WRITES: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

/// One user's privileges on one node.
#[derive(Debug, Default, Clone)]
pub struct Held {
    /// The account exists (it has a `USAGE` row at least).
    pub exists: bool,
    pub global: BTreeSet<String>,
    pub schemas: HashMap<String, BTreeSet<String>>,
    pub tables: HashMap<(String, String), BTreeSet<String>>,
}

impl Held {
    /// The compared privileges on `schema`.`table`.
    pub fn on(&self, schema: &str, table: &str) -> BTreeSet<String> {
        let mut all = self.global.clone();
        all.extend(self.schemas.get(schema).into_iter().flatten().cloned());
        let key = (schema.to_owned(), table.to_owned());
        all.extend(self.tables.get(&key).into_iter().flatten().cloned());
        all.retain(|p| PRIVILEGES.contains(&p.as_str()));
        all
    }
}

/// A physical table of a sharded logical table on a node.
#[derive(Debug, Clone)]
pub struct Physical {
    pub node: String,
    pub schema: String,
    pub table: String,
    pub logical: String,
}

/// The warnings for `user`, given its privileges per node and the
/// physical tables; `xa`: multi-node commits write `shardcat.xa_log`.
pub fn compare(
    user: &str,
    held: &BTreeMap<String, Held>,
    physical: &[Physical],
    xa: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for node in held.iter().filter(|(_, h)| !h.exists).map(|(n, _)| n) {
        out.push(format!(
            "WARN user {user:?} (passthrough) has no account on node `{node}`"
        ));
    }
    // (schema, logical) → its physical tables with what the user holds.
    type Tables<'a> = Vec<(&'a Physical, BTreeSet<String>)>;
    let mut groups: BTreeMap<(&str, &str), Tables<'_>> = BTreeMap::new();
    for p in physical {
        let Some(h) = held.get(&p.node).filter(|h| h.exists) else {
            continue;
        };
        groups
            .entry((&p.schema, &p.logical))
            .or_default()
            .push((p, h.on(&p.schema, &p.table)));
    }
    let mut writes = false;
    for ((schema, logical), tables) in &groups {
        let union: BTreeSet<String> = tables.iter().flat_map(|(_, s)| s.clone()).collect();
        writes |= WRITES.iter().any(|w| union.contains(*w));
        for (p, has) in tables {
            let missing: Vec<&str> = union.difference(has).map(String::as_str).collect();
            if !missing.is_empty() {
                out.push(format!(
                    "WARN user {user:?} (passthrough): {} missing on {schema}.{} on node `{}` (held on other physical tables of {schema}.{logical}: GRANT {} ON `{schema}`.`{}` there)",
                    missing.join(", "),
                    p.table,
                    p.node,
                    missing.join(", "),
                    p.table
                ));
            }
        }
    }
    if xa && writes {
        for (node, h) in held.iter().filter(|(_, h)| h.exists) {
            if !h.on("shardcat", "xa_log").contains("INSERT") {
                out.push(format!(
                    "WARN user {user:?} (passthrough) writes sharded tables but lacks INSERT on shardcat.xa_log on node `{node}` (multi-node commits would be rolled back)"
                ));
            }
        }
    }
    out
}

/// `'user'@'host'` → `user`.
fn grantee_user(grantee: &str) -> Option<&str> {
    grantee
        .strip_prefix('\'')?
        .rsplit_once("'@'")
        .map(|(u, _)| u)
}

/// The privileges of every user in `users` on the server of `conn`.
async fn read_held(
    conn: &mut Conn,
    users: &[String],
) -> Result<HashMap<String, Held>, mysql_async::Error> {
    let mut out: HashMap<String, Held> =
        users.iter().map(|u| (u.clone(), Held::default())).collect();
    let global: Vec<(String, String)> = conn
        .query("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        .await?;
    for (grantee, p) in global {
        if let Some(h) = grantee_user(&grantee).and_then(|u| out.get_mut(u)) {
            h.exists = true;
            h.global.insert(p);
        }
    }
    let schema: Vec<(String, String, String)> = conn
        .query("SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES")
        .await?;
    for (grantee, db, p) in schema {
        if let Some(h) = grantee_user(&grantee).and_then(|u| out.get_mut(u)) {
            h.schemas.entry(db).or_default().insert(p);
        }
    }
    let table: Vec<(String, String, String, String)> = conn
        .query("SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES")
        .await?;
    for (grantee, db, t, p) in table {
        if let Some(h) = grantee_user(&grantee).and_then(|u| out.get_mut(u)) {
            h.tables.entry((db, t)).or_default().insert(p);
        }
    }
    Ok(out)
}

/// `check --live` for the pass-through users: lines and warning count.
pub async fn check_live(cfg: &Config) -> (Vec<String>, usize) {
    let users: Vec<String> = cfg
        .users
        .iter()
        .filter(|u| u.backend_auth == BackendAuth::Passthrough)
        .map(|u| u.name.get_ref().clone())
        .collect();
    if users.is_empty() {
        return (Vec::new(), 0);
    }
    let mut held: HashMap<String, BTreeMap<String, Held>> = HashMap::new();
    let mut physical = Vec::new();
    let mut lines = Vec::new();
    for node in &cfg.nodes {
        let node = node.name.get_ref();
        let mut conn = match super::tables::connect(cfg, node).await {
            Ok(c) => c,
            Err(e) => return (vec![format!("FAIL {e}")], 1),
        };
        let read = async {
            let tables = super::tables::user_tables(&mut conn).await?;
            let per_user = read_held(&mut conn, &users).await?;
            Ok::<_, mysql_async::Error>((tables, per_user))
        };
        let (tables, per_user) = match read.await {
            Ok(r) => r,
            Err(e) => return (vec![format!("FAIL node `{node}`: reading grants: {e}")], 1),
        };
        let _ = conn.disconnect().await;
        for (schema, table) in tables {
            if let Some(logical) = cfg.sharding.logical_name_of(&table) {
                physical.push(Physical {
                    node: node.clone(),
                    schema,
                    table,
                    logical,
                });
            }
        }
        for (u, h) in per_user {
            held.entry(u).or_default().insert(node.clone(), h);
        }
    }
    let xa = cfg.routing.transactions == TransactionMode::Xa;
    let mut warnings = 0;
    for u in &users {
        let found = compare(u, &held.remove(u).unwrap_or_default(), &physical, xa);
        if found.is_empty() {
            lines.push(format!(
                "ok   user {u:?} (passthrough): grants agree on the {} physical table(s)",
                physical.len()
            ));
        }
        warnings += found.len();
        lines.extend(found);
    }
    (lines, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(p: &[&str]) -> BTreeSet<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn missing_grants_on_some_physical_tables_are_named() {
        let phys = |node: &str, t: &str| Physical {
            node: node.into(),
            schema: "db".into(),
            table: t.into(),
            logical: "s".into(),
        };
        let physical = vec![
            phys("n1", "s_0"),
            phys("n1", "s_1"),
            phys("n2", "s_2"),
            phys("n2", "s_3"),
        ];
        let mut n1 = Held {
            exists: true,
            ..Default::default()
        };
        n1.schemas.insert("db".into(), set(&["SELECT", "INSERT"]));
        n1.tables
            .insert(("shardcat".into(), "xa_log".into()), set(&["INSERT"]));
        let mut n2 = Held {
            exists: true,
            ..Default::default()
        };
        n2.tables
            .insert(("db".into(), "s_2".into()), set(&["SELECT", "INSERT"]));
        n2.tables
            .insert(("db".into(), "s_3".into()), set(&["SELECT"]));
        let held: BTreeMap<String, Held> = [("n1".into(), n1.clone()), ("n2".into(), n2)].into();
        let w = compare("u", &held, &physical, true);
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].contains("INSERT missing on db.s_3 on node `n2`"),
            "{w:#?}"
        );
        assert!(w[1].contains("shardcat.xa_log on node `n2`"), "{w:#?}");
        assert!(compare("u", &held, &physical, false).len() == 1);
        // Everything agrees; an account missing on a node is named.
        let held: BTreeMap<String, Held> =
            [("n1".into(), n1), ("n2".into(), Held::default())].into();
        let w = compare("u", &held, &physical[..2], true);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(w[0].contains("no account on node `n2`"));
        assert_eq!(grantee_user("'a''b'@'%'"), Some("a''b"));
        assert_eq!(grantee_user("'u'@'10.0.0.%'"), Some("u"));
    }
}
