//! `[[user]]` accounts (password, admin role, proxy-enforced privileges)
//! and the `[security]` section (pre-authentication limits, brute-force
//! throttling).
//!
//! Owns: the shape, defaults and validation of these keys. Must not decide
//! whether a statement is allowed (that is `crate::security`), nor hold
//! runtime counters.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use super::{Consistency, TransactionMode};

/// `[[user]]`: an account clients log in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: Spanned<String>,
    /// The password in clear (or read from `password_env`).
    #[serde(default)]
    pub password: String,
    /// The `mysql_native_password` stored hash instead of the password:
    /// `"*"` and 40 hex digits (`SELECT PASSWORD('…')`). Clients are then
    /// authenticated with `mysql_native_password` only.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Name of an environment variable holding the password (read at
    /// start and reload).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Which account this user's statements run under on the servers:
    /// `"mapped"` (the `[backend]` account; the proxy enforces this
    /// user's rights) or `"passthrough"` (the user's own account of the
    /// same name on every server, logged in with the user's credentials,
    /// so the servers' grants apply).
    #[serde(default)]
    pub backend_auth: BackendAuth,
    /// Overrides `[routing] consistency` for this user.
    #[serde(default)]
    pub consistency: Option<Consistency>,
    /// May run the proxy's admin statements (`SHOW SHARDCAT …`) and the
    /// server-level ones (`SET GLOBAL`, `sql_log_bin`, `GRANT`, …).
    #[serde(default)]
    pub admin: bool,
    /// Only reads: with no `privileges` list, `SELECT` on every database
    /// except the system schemas; with one, every grant but `SELECT` is
    /// ignored.
    #[serde(default)]
    pub read_only: bool,
    /// Proxy-enforced privileges. Absent (and `read_only = false`): the
    /// user may do whatever the backend account may (except the admin-only
    /// statements). Present: only what is listed.
    #[serde(default)]
    pub privileges: Option<Vec<PrivilegeEntry>>,
    /// This user must connect over TLS (refused with error 3159 otherwise).
    #[serde(default)]
    pub require_tls: bool,
    /// This user must log in over TLS with a client certificate that
    /// verifies against `[server] tls_client_ca` (MySQL's `REQUIRE X509`);
    /// otherwise the login is refused with 1045, as MySQL refuses it.
    #[serde(default)]
    pub require_x509: bool,
    /// Overrides `[routing] transactions` for this user.
    #[serde(default)]
    pub transactions: Option<TransactionMode>,
    /// Sessions of this user logged in at once; more are refused with
    /// error 1203 (as MySQL's `max_user_connections`). 0: no limit.
    #[serde(default)]
    pub max_user_connections: u32,
}

/// `[[user]] backend_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendAuth {
    /// The `[backend]` account, for every user.
    #[default]
    Mapped,
    /// The user's own account on the servers.
    Passthrough,
}

impl UserConfig {
    /// Checks the privilege entries; the message names the user.
    pub fn validate(&self) -> Result<(), String> {
        let user = self.name.get_ref();
        if user.is_empty() || user.len() > 80 || user.chars().any(char::is_control) {
            return Err(format!(
                "user name {user:?} must be 1 to 80 characters without control characters"
            ));
        }
        let given = [
            !self.password.is_empty(),
            self.password_hash.is_some(),
            self.password_env.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(format!(
                "user {user:?}: give one of password, password_hash and password_env"
            ));
        }
        if let Some(h) = &self.password_hash {
            if crate::security::credentials::parse_native_hash(h).is_none() {
                return Err(format!(
                    "user {user:?}: password_hash must be \"*\" and 40 hex digits (the mysql_native_password hash, SELECT PASSWORD('...'))"
                ));
            }
        }
        for p in self.privileges.iter().flatten() {
            if p.db.is_empty() {
                return Err(format!("user {user:?}: a privilege entry has an empty db"));
            }
            if p.tables.is_empty() || p.tables.iter().any(String::is_empty) {
                return Err(format!(
                    "user {user:?}: privileges on {:?}: tables must list names or \"*\"",
                    p.db
                ));
            }
            if p.grants.is_empty() {
                return Err(format!(
                    "user {user:?}: privileges on {:?}: grants is empty (remove the entry instead)",
                    p.db
                ));
            }
        }
        Ok(())
    }

    /// Reads `password_env` into `password`.
    pub fn resolve_secrets(&mut self) -> Result<(), String> {
        if let Some(var) = &self.password_env {
            self.password =
                env_secret(var).map_err(|e| format!("user {:?}: {e}", self.name.get_ref()))?;
        }
        Ok(())
    }

    /// Whether statements of this user are checked against a privilege
    /// list (a `privileges` list or `read_only = true`).
    pub fn is_restricted(&self) -> bool {
        self.privileges.is_some() || self.read_only
    }
}

/// The value of environment variable `var` (a password): it must be set
/// and not empty.
pub fn env_secret(var: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(format!("password_env = {var:?}: the variable is empty")),
        Err(_) => Err(format!(
            "password_env = {var:?}: the variable is not set (or not UTF-8)"
        )),
    }
}

/// A warning when the configuration file holds a password in clear and
/// can be read by its group or by others (`chmod 600` it, or use
/// `password_hash` / `password_env`). `None` elsewhere (and on systems
/// without Unix modes).
pub fn cleartext_warning(
    path: &std::path::Path,
    users: &[UserConfig],
    backend_password_in_file: bool,
) -> Option<String> {
    let mut holders: Vec<String> = users
        .iter()
        .filter(|u| u.password_env.is_none() && !u.password.is_empty())
        .map(|u| format!("user {:?}", u.name.get_ref()))
        .collect();
    if backend_password_in_file {
        holders.insert(0, "[backend] password".into());
    }
    if holders.is_empty() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        Some(format!(
            "{} holds cleartext passwords ({}) and is readable by group or others (mode {mode:03o}): \
             chmod 600 it, or use password_hash / password_env",
            path.display(),
            holders.join(", ")
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// One entry of a user's `privileges`: grants on tables of one database.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivilegeEntry {
    /// A database name (compared exactly), or `"*"`: every database except
    /// the system schemas `mysql`, `performance_schema` and `sys`, which
    /// must be named to be granted.
    pub db: String,
    /// Logical table names (compared exactly), or `["*"]` (the default):
    /// every table of `db`, and database-level statements
    /// (`CREATE`/`DROP DATABASE` with the matching grant, `SHOW TABLES`).
    #[serde(default = "all_tables")]
    pub tables: Vec<String>,
    /// What may be done: `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `CREATE`,
    /// `DROP`, `ALTER`, `INDEX`, `DDL` (the four before), `EXECUTE`
    /// (`CALL`), `ALL`. Case-insensitive.
    pub grants: Vec<Grant>,
}

fn all_tables() -> Vec<String> {
    vec!["*".to_string()]
}

/// A privilege on a table or database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Grant {
    Select,
    Insert,
    Update,
    Delete,
    Create,
    Drop,
    Alter,
    Index,
    /// `CREATE`, `DROP`, `ALTER` and `INDEX`.
    Ddl,
    /// `CALL` of stored procedures.
    Execute,
    /// Everything above.
    All,
}

impl Grant {
    /// Every grant that is not a shorthand (the table grants first, then
    /// EXECUTE), for generated tests.
    pub const BASIC: [Grant; 9] = [
        Grant::Select,
        Grant::Insert,
        Grant::Update,
        Grant::Delete,
        Grant::Create,
        Grant::Drop,
        Grant::Alter,
        Grant::Index,
        Grant::Execute,
    ];

    /// Whether holding `self` gives `wanted` (a basic grant).
    pub fn covers(self, wanted: Grant) -> bool {
        match self {
            Grant::All => true,
            Grant::Ddl => matches!(
                wanted,
                Grant::Create | Grant::Drop | Grant::Alter | Grant::Index | Grant::Ddl
            ),
            g => g == wanted,
        }
    }

    /// The command name MySQL puts in error 1142 (`SELECT command denied …`).
    pub fn command(self) -> &'static str {
        match self {
            Grant::Select => "SELECT",
            Grant::Insert => "INSERT",
            Grant::Update => "UPDATE",
            Grant::Delete => "DELETE",
            Grant::Create => "CREATE",
            Grant::Drop => "DROP",
            Grant::Alter => "ALTER",
            Grant::Index => "INDEX",
            Grant::Ddl => "DDL",
            Grant::Execute => "EXECUTE",
            Grant::All => "ALL",
        }
    }
}

impl FromStr for Grant {
    type Err = String;
    fn from_str(s: &str) -> Result<Grant, String> {
        let g = match s.trim().to_ascii_uppercase().as_str() {
            "SELECT" => Grant::Select,
            "INSERT" => Grant::Insert,
            "UPDATE" => Grant::Update,
            "DELETE" => Grant::Delete,
            "CREATE" => Grant::Create,
            "DROP" => Grant::Drop,
            "ALTER" => Grant::Alter,
            "INDEX" => Grant::Index,
            "DDL" => Grant::Ddl,
            "EXECUTE" => Grant::Execute,
            "ALL" | "ALL PRIVILEGES" => Grant::All,
            _ => {
                return Err(format!(
                    "unknown grant {s:?}: expected SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, DDL, EXECUTE or ALL"
                ))
            }
        };
        Ok(g)
    }
}

impl TryFrom<String> for Grant {
    type Error = String;
    fn try_from(s: String) -> Result<Grant, String> {
        s.parse()
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

/// Largest packet a client may send before it has authenticated. A
/// handshake response is a few hundred bytes (user, scramble, database,
/// plugin name, connection attributes of a few KB at most); anything
/// bigger is refused with error 1153 and the connection is closed, so
/// unauthenticated clients cannot make the proxy buffer `max_allowed_packet`
/// bytes each.
pub const PRE_AUTH_MAX_PACKET: usize = 64 * 1024;

/// `[security]`: limits on clients that have not logged in yet and on
/// password guessing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Connections from one source address (IPv4 address, IPv6 /64) that
    /// may be in the handshake at the same time; more are refused with
    /// 1040. 0 = no limit.
    pub max_unauthenticated_per_host: usize,
    /// Failed logins are counted per source address over this window.
    pub auth_failure_window_s: u64,
    /// After this many failures in the window, every further login
    /// attempt from the address waits `auth_failure_delay_ms` before it is
    /// answered (success or not). 0 = never delay.
    pub auth_failures_before_delay: u32,
    /// The wait of a delayed attempt.
    pub auth_failure_delay_ms: u64,
    /// After this many failures in the window, connections from the
    /// address are refused at once with 1129 until the window passes.
    /// 0 = never block.
    pub auth_failures_before_block: u32,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            max_unauthenticated_per_host: 256,
            auth_failure_window_s: 300,
            auth_failures_before_delay: 5,
            auth_failure_delay_ms: 1000,
            auth_failures_before_block: 100,
        }
    }
}

impl SecurityConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.auth_failure_window_s == 0 {
            return Err("[security] auth_failure_window_s must be at least 1".into());
        }
        if self.auth_failure_delay_ms > 60_000 {
            return Err("[security] auth_failure_delay_ms must be at most 60000".into());
        }
        if self.auth_failures_before_block != 0
            && self.auth_failures_before_delay != 0
            && self.auth_failures_before_block < self.auth_failures_before_delay
        {
            return Err(
                "[security] auth_failures_before_block must not be below auth_failures_before_delay"
                    .into(),
            );
        }
        Ok(())
    }
}
