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
//! Roles are expanded as a session of the user has them: its default role
//! and the roles granted to that role (`mysql.roles_mapping`,
//! `mysql.user.default_role`); roles a session would enable with `SET
//! ROLE` are not counted. Database grants with wildcards (`app\_%`)
//! apply to the databases they match, the most specific entry winning as
//! on the server ([`Held::schemas`]).
//!
//! Owns: reading those grants and comparing them. Must not change grants.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::{BackendAuth, Config, TransactionMode};

/// The table privileges compared.
const PRIVILEGES: [&str; 8] = [
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
];
const WRITES: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

/// One user's (or role's) privileges on one node.
#[derive(Debug, Default, Clone)]
pub struct Held {
    /// The account exists (it has a `USAGE` row at least).
    pub exists: bool,
    pub global: BTreeSet<String>,
    /// Database-level grants by database name as granted: a name with
    /// `%`/`_` wildcards (`\_`, `\%` literal) applies to every database it
    /// matches; of several matching entries the server uses the most
    /// specific one (an exact name, else the longest text before the
    /// first wildcard), not their union.
    pub schemas: HashMap<String, BTreeSet<String>>,
    pub tables: HashMap<(String, String), BTreeSet<String>>,
    /// The privileges of the user's default role and of the roles granted
    /// to it (what a session of the user holds without `SET ROLE`).
    pub roles: Vec<Held>,
}

impl Held {
    /// The compared privileges on `schema`.`table`, roles included.
    pub fn on(&self, schema: &str, table: &str) -> BTreeSet<String> {
        let mut all = self.own(schema, table);
        for r in &self.roles {
            all.extend(r.own(schema, table));
        }
        all.retain(|p| PRIVILEGES.contains(&p.as_str()));
        all
    }

    /// This grantee's own privileges on `schema`.`table`.
    fn own(&self, schema: &str, table: &str) -> BTreeSet<String> {
        let mut all = self.global.clone();
        let best = self
            .schemas
            .iter()
            .filter_map(|(pattern, p)| db_match(pattern, schema).map(|rank| (rank, p)))
            .max_by_key(|(rank, _)| *rank);
        all.extend(best.into_iter().flat_map(|(_, p)| p.iter().cloned()));
        let key = (schema.to_owned(), table.to_owned());
        all.extend(self.tables.get(&key).into_iter().flatten().cloned());
        all
    }
}

/// Whether the database grant `pattern` covers `db`, and how specific it
/// is (higher wins): `usize::MAX` for an exact name, else the number of
/// characters before the first wildcard. A grant naming the database as
/// it is spelled (`GRANT … ON \`app_1\`.*`, whose `_` is a wildcard to the
/// server) counts as exact: the servers prefer it to any pattern (checked
/// against MariaDB by `tests/grants_live.rs`).
fn db_match(pattern: &str, db: &str) -> Option<usize> {
    let p: Vec<char> = pattern.chars().collect();
    let d: Vec<char> = db.chars().collect();
    let mut literal = Vec::with_capacity(p.len());
    let mut k = 0;
    while k < p.len() {
        if p[k] == '\\' && k + 1 < p.len() {
            k += 1;
        }
        literal.push(p[k]);
        k += 1;
    }
    if literal == d {
        return Some(usize::MAX);
    }
    let mut prefix = 0;
    let mut i = 0;
    let mut wild = false;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 2,
            '%' | '_' => {
                wild = true;
                break;
            }
            _ => i += 1,
        }
        prefix += 1;
    }
    like(&p, &d).then_some(if wild { prefix } else { usize::MAX })
}

/// SQL LIKE with `\` escapes, case-sensitive (database names are, on
/// the servers this runs against).
fn like(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('%') => (0..=s.len()).any(|k| like(&p[1..], &s[k..])),
        Some('_') => !s.is_empty() && like(&p[1..], &s[1..]),
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && like(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && like(&p[1..], &s[1..]),
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

/// The privileges of every user in `users` on the server of `conn`, with
/// their default roles expanded.
async fn read_held(
    conn: &mut Conn,
    users: &[String],
) -> Result<HashMap<String, Held>, mysql_async::Error> {
    // Every grantee (users and roles, by name).
    let mut all: HashMap<String, Held> = HashMap::new();
    let global: Vec<(String, String)> = conn
        .query("SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES")
        .await?;
    for (grantee, p) in global {
        if let Some(u) = grantee_user(&grantee) {
            let h = all.entry(u.to_owned()).or_default();
            h.exists = true;
            h.global.insert(p);
        }
    }
    let schema: Vec<(String, String, String)> = conn
        .query("SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES")
        .await?;
    for (grantee, db, p) in schema {
        if let Some(u) = grantee_user(&grantee) {
            let h = all.entry(u.to_owned()).or_default();
            h.schemas.entry(db).or_default().insert(p);
        }
    }
    let table: Vec<(String, String, String, String)> = conn
        .query("SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES")
        .await?;
    for (grantee, db, t, p) in table {
        if let Some(u) = grantee_user(&grantee) {
            let h = all.entry(u.to_owned()).or_default();
            h.tables.entry((db, t)).or_default().insert(p);
        }
    }
    // Role grants (to users and to roles) and the users' default roles.
    let mapping: Vec<(String, String)> = conn
        .query("SELECT User, Role FROM mysql.roles_mapping")
        .await?;
    let mut granted: HashMap<String, Vec<String>> = HashMap::new();
    for (grantee, role) in mapping {
        granted.entry(grantee).or_default().push(role);
    }
    let defaults: Vec<(String, String)> = conn
        .query("SELECT User, default_role FROM mysql.user WHERE default_role <> ''")
        .await?;
    let defaults: HashMap<String, String> = defaults.into_iter().collect();
    let mut out = HashMap::new();
    for u in users {
        let mut held = all.get(u).cloned().unwrap_or_default();
        held.exists = all.get(u).is_some_and(|h| h.exists);
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = defaults.get(u).cloned().into_iter().collect();
        while let Some(role) = todo.pop() {
            if !seen.insert(role.clone()) {
                continue;
            }
            if let Some(r) = all.get(&role) {
                held.roles.push(Held {
                    roles: Vec::new(),
                    ..r.clone()
                });
            }
            todo.extend(granted.get(&role).into_iter().flatten().cloned());
        }
        out.insert(u.clone(), held);
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
        assert_eq!(grantee_user("'role'@''"), Some("role"));
        assert_eq!(grantee_user("'u'@'10.0.0.%'"), Some("u"));
    }

    #[test]
    fn wildcard_database_grants_and_roles() {
        assert_eq!(db_match("app", "app"), Some(usize::MAX));
        assert_eq!(db_match("app", "apq"), None);
        assert_eq!(db_match("app\\_%", "app_1"), Some(4));
        assert_eq!(db_match("app\\_%", "appx1"), None);
        assert_eq!(db_match("app_%", "appx1"), Some(3));
        assert_eq!(db_match("%", "anything"), Some(0));
        assert_eq!(db_match("a%b", "ab"), Some(1));
        assert_eq!(db_match("a%b", "ac"), None);
        let mut h = Held {
            exists: true,
            ..Default::default()
        };
        h.schemas.insert("shop\\_%".into(), set(&["SELECT"]));
        h.schemas.insert("shop\\_eu".into(), set(&["INSERT"]));
        // The exact entry wins over the pattern, as on the server.
        assert_eq!(h.on("shop_eu", "t"), set(&["INSERT"]));
        assert_eq!(h.on("shop_us", "t"), set(&["SELECT"]));
        assert_eq!(h.on("shopxus", "t"), set(&[]));
        let mut role = Held::default();
        role.schemas.insert("shop\\_eu".into(), set(&["SELECT"]));
        role.tables
            .insert(("x".into(), "t".into()), set(&["DELETE"]));
        h.roles.push(role);
        assert_eq!(h.on("shop_eu", "t"), set(&["INSERT", "SELECT"]));
        assert_eq!(h.on("x", "t"), set(&["DELETE"]));
    }
}
