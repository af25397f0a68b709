//! The configuration file (TOML): listener, client users, backend nodes
//! (replication groups), routing policy, schema placement, sharding rules
//! (`[[table]]`, see [`crate::placement::rules`]), global id sequences
//! (`[[sequence]]`, `[id_generator]`) and routing test cases (`[[case]]`).
//!
//! Owns: reading, validating and describing configuration, with errors that
//! name the file, the line and what was expected. Must not open sockets or
//! hold runtime state; the running proxy keeps the loaded value in an
//! `ArcSwap` and swaps it whole on reload.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub mod placement_file;
mod sections;
pub mod shown;
mod users;

pub use sections::*;
pub use users::{
    BackendAuth, Grant, PrivilegeEntry, SecurityConfig, UserConfig, PRE_AUTH_MAX_PACKET,
};

/// A configuration error located in its file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub backend: BackendDefaults,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default, rename = "user")]
    pub users: Vec<UserConfig>,
    /// `[security]`: pre-authentication limits and brute-force throttling.
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeConfig>,
    #[serde(default, rename = "schema")]
    pub schemas: Vec<SchemaConfig>,
    /// `[[table]]`: sharding rules (sharded, bound, broadcast, single-node).
    #[serde(default, rename = "table")]
    pub tables: Vec<crate::placement::TableRule>,
    /// `[[sequence]]`: columns filled by the global id generator when an
    /// INSERT leaves them out (or gives NULL).
    #[serde(default, rename = "sequence")]
    pub sequences: Vec<SequenceConfig>,
    /// `[id_generator]`: this proxy instance's snowflake worker id.
    #[serde(default)]
    pub id_generator: IdGeneratorConfig,
    /// `[[case]]`: routing test cases run by `shardcat check` (ignored by
    /// `serve`). Cases may also live in `<config>.cases.toml`.
    #[serde(default, rename = "case")]
    pub cases: Vec<crate::router::shard::cases::Case>,
    /// Where the file was read from (not a TOML key).
    #[serde(skip)]
    pub source: PathBuf,
    /// The file's settings as `SHOW SHARDCAT CONFIG` shows them (secrets
    /// masked); not a TOML key.
    #[serde(skip)]
    pub shown: Vec<(String, String)>,
    /// The day `time_range` windows (`create_ahead`, `retain`) were
    /// computed for (not a TOML key).
    #[serde(skip)]
    pub loaded_on: Option<crate::placement::CalendarDate>,
    /// The compiled sharding router (rules, layouts, plan cache, id
    /// generator), built by [`Config::parse`]; not a TOML key.
    #[serde(skip)]
    pub sharding: std::sync::Arc<crate::router::shard::ShardRouter>,
}

/// `[[sequence]]`: a column whose value the proxy generates when an INSERT
/// leaves it out or gives NULL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    /// Logical table (must have a `[[table]]` rule).
    pub table: Spanned<String>,
    /// Schema of the table, when the rule names one.
    #[serde(default)]
    pub schema: Option<String>,
    /// The column; default: the table's sharding key column.
    #[serde(default)]
    pub column: Option<String>,
    /// Generator kind: `snowflake` (the only one implemented).
    #[serde(default = "default_sequence_kind")]
    pub kind: Spanned<String>,
}

fn default_sequence_kind() -> Spanned<String> {
    Spanned::new(0..0, "snowflake".to_owned())
}

/// `[id_generator]`: snowflake ids (41 bits of milliseconds since `epoch_ms`,
/// 10 bits of worker id, 12 bits of sequence).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdGeneratorConfig {
    /// 0..=1023, different on every proxy instance writing to the same
    /// tables (two instances with the same worker id can generate the same
    /// id).
    pub worker_id: u16,
    /// The generator's epoch, in Unix milliseconds (default 2026-01-01).
    pub epoch_ms: u64,
}

impl Default for IdGeneratorConfig {
    fn default() -> Self {
        IdGeneratorConfig {
            worker_id: 0,
            epoch_ms: crate::router::shard::idgen::DEFAULT_EPOCH_MS,
        }
    }
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        cfg.source = path.to_path_buf();
        let placement = placement_file::path_for(path);
        placement_file::PlacementFile::read(&placement)
            .and_then(|file| file.apply(&mut cfg.tables))
            .map_err(|message| ConfigError {
                file: placement.clone(),
                line: None,
                message,
            })?;
        cfg.validate(text)?;
        cfg.resolve_secrets().map_err(|message| ConfigError {
            file: path.to_path_buf(),
            line: None,
            message,
        })?;
        cfg.shown = shown::settings(text);
        let today = crate::ops::tables::today();
        for rule in &mut cfg.tables {
            if let crate::placement::TableKind::Sharded(sharded) = &mut rule.kind {
                sharded.apply_clock(today);
            }
        }
        cfg.loaded_on = Some(today);
        let router =
            crate::router::shard::ShardRouter::new(&cfg).map_err(|message| ConfigError {
                file: path.to_path_buf(),
                line: None,
                message,
            })?;
        cfg.sharding = std::sync::Arc::new(router);
        cfg.server.tls = cfg.load_tls()?;
        cfg.load_backend_tls()?;
        Ok(cfg)
    }

    /// Reads `password_env` variables (backend and users).
    fn resolve_secrets(&mut self) -> Result<(), String> {
        if !self.backend.password_env.is_empty() {
            if !self.backend.password.is_empty() {
                return Err("[backend] give password or password_env, not both".into());
            }
            self.backend.password = users::env_secret(&self.backend.password_env)
                .map_err(|e| format!("[backend] {e}"))?;
        }
        self.users
            .iter_mut()
            .try_for_each(UserConfig::resolve_secrets)
    }

    /// The warning about cleartext passwords in a file others can read.
    pub fn cleartext_warning(&self) -> Option<String> {
        let backend_in_file =
            self.backend.password_env.is_empty() && !self.backend.password.is_empty();
        users::cleartext_warning(&self.source, &self.users, backend_in_file)
    }

    /// Builds `[backend] tls` (reading `tls_ca` and the client
    /// certificate) and each `[[node]]`'s override.
    fn load_backend_tls(&mut self) -> Result<(), ConfigError> {
        use crate::wire::backend_tls::{load_backend_tls, BackendTls, TlsMode};
        let err = |message: String| ConfigError {
            file: self.source.clone(),
            line: None,
            message,
        };
        let dir = self.source.parent().unwrap_or(Path::new(".")).to_path_buf();
        let path = |p: &str| (!p.is_empty()).then(|| dir.join(p));
        let b = &self.backend;
        let client = match (path(&b.tls_cert), path(&b.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(err(
                    "[backend] tls_cert and tls_key: give both or neither".into()
                ))
            }
        };
        let build = |mode: &str, ca: &str| -> Result<BackendTls, String> {
            let mode: TlsMode = mode.parse()?;
            let client = client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
            load_backend_tls(mode, path(ca).as_deref(), client)
        };
        let all = build(&b.tls, &b.tls_ca).map_err(err)?;
        let mut per_node = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            if n.tls.is_none() && n.tls_ca.is_none() {
                per_node.push(None);
                continue;
            }
            let mode = n.tls.as_deref().unwrap_or(&b.tls);
            let ca = n.tls_ca.as_deref().unwrap_or(&b.tls_ca);
            let built = build(mode, ca)
                .map_err(|e| err(format!("[[node]] {:?}: {e}", n.name.get_ref())))?;
            per_node.push(Some(built));
        }
        self.backend.tls_client = all;
        for (n, tls) in self.nodes.iter_mut().zip(per_node) {
            n.tls_client = tls;
        }
        Ok(())
    }

    /// The TLS settings of the servers' connections as written (a reload
    /// must not change them).
    pub fn backend_tls_settings(&self) -> Vec<Option<String>> {
        let b = &self.backend;
        let mut out: Vec<Option<String>> = [&b.tls, &b.tls_ca, &b.tls_cert, &b.tls_key]
            .into_iter()
            .map(|s| Some(s.clone()))
            .collect();
        for n in &self.nodes {
            out.push(n.tls.clone());
            out.push(n.tls_ca.clone());
        }
        out
    }

    /// Reads `[server] tls_cert`/`tls_key` (both or neither).
    fn load_tls(&self) -> Result<Option<crate::wire::tls::ServerTls>, ConfigError> {
        let err = |message: String| ConfigError {
            file: self.source.clone(),
            line: None,
            message,
        };
        let s = &self.server;
        match (s.tls_cert.is_empty(), s.tls_key.is_empty()) {
            (true, true) if s.require_secure_transport => Err(err(
                "[server] require_secure_transport needs tls_cert and tls_key".into(),
            )),
            (true, true) if !s.tls_client_ca.is_empty() => Err(err(
                "[server] tls_client_ca needs tls_cert and tls_key".into(),
            )),
            (true, true) => Ok(None),
            (false, false) => {
                let dir = self.source.parent().unwrap_or(Path::new(""));
                let client_ca = (!s.tls_client_ca.is_empty()).then(|| dir.join(&s.tls_client_ca));
                crate::wire::tls::load_server_tls(
                    &dir.join(&s.tls_cert),
                    &dir.join(&s.tls_key),
                    client_ca.as_deref(),
                )
                .map(Some)
                .map_err(err)
            }
            _ => Err(err("[server] tls_cert and tls_key go together".into())),
        }
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, message: String| ConfigError {
            file: self.source.clone(),
            line: Some(line_of(text, span.start)),
            message,
        };
        if self.nodes.is_empty() {
            return Err(ConfigError {
                file: self.source.clone(),
                line: None,
                message: "no [[node]] defined: at least one backend node is required".into(),
            });
        }
        if self.users.is_empty() {
            return Err(ConfigError {
                file: self.source.clone(),
                line: None,
                message: "no [[user]] defined: clients could not log in".into(),
            });
        }
        if let Some(u) = self.users.iter().find(|u| u.require_x509) {
            if self.server.tls_client_ca.is_empty() {
                return Err(ConfigError {
                    file: self.source.clone(),
                    line: find_key_line(text, "require_x509"),
                    message: format!(
                        "user {:?} has require_x509 but [server] tls_client_ca is not set: \
                         no client certificate could be verified",
                        u.name.get_ref()
                    ),
                });
            }
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError {
                file: self.source.clone(),
                line: find_key_line(text, "listen"),
                message: format!(
                    "[server] listen = {:?} is not an address: expected \"host:port\" such as \"127.0.0.1:6033\"",
                    self.server.listen
                ),
            });
        }
        if !matches!(
            self.server.auth_plugin.as_str(),
            crate::wire::auth::NATIVE_PASSWORD | crate::wire::auth::CACHING_SHA2_PASSWORD
        ) {
            return Err(ConfigError {
                file: self.source.clone(),
                line: find_key_line(text, "auth_plugin"),
                message: format!(
                    "[server] auth_plugin = {:?}: expected \"mysql_native_password\" or \"caching_sha2_password\"",
                    self.server.auth_plugin
                ),
            });
        }
        if self.backend.pool_max == 0 {
            return Err(ConfigError {
                file: self.source.clone(),
                line: find_key_line(text, "pool_max"),
                message: "[backend] pool_max must be at least 1".into(),
            });
        }
        let mut names = HashSet::new();
        for n in &self.nodes {
            if !names.insert(n.name.get_ref().as_str()) {
                return Err(err(
                    n.name.span(),
                    format!("node {:?} is defined twice", n.name.get_ref()),
                ));
            }
            check_addr(&n.primary).map_err(|m| err(n.primary.span(), m))?;
            for r in &n.replicas {
                check_addr(&r.addr).map_err(|m| err(r.addr.span(), m))?;
                if r.weight == 0 {
                    return Err(err(
                        r.addr.span(),
                        format!(
                            "replica {} of node {:?} has weight 0: use a weight of at least 1, or remove it",
                            r.addr.get_ref(),
                            n.name.get_ref()
                        ),
                    ));
                }
            }
        }
        let mut users = HashSet::new();
        for u in &self.users {
            if !users.insert(u.name.get_ref().as_str()) {
                return Err(err(
                    u.name.span(),
                    format!("user {:?} is defined twice", u.name.get_ref()),
                ));
            }
            u.validate().map_err(|m| err(u.name.span(), m))?;
        }
        self.security.validate().map_err(|message| ConfigError {
            file: self.source.clone(),
            line: None,
            message,
        })?;
        let mut schemas = HashSet::new();
        for s in &self.schemas {
            if !schemas.insert(s.name.get_ref().to_ascii_lowercase()) {
                return Err(err(
                    s.name.span(),
                    format!("schema {:?} is placed twice", s.name.get_ref()),
                ));
            }
            if !names.contains(s.node.get_ref().as_str()) {
                return Err(err(
                    s.node.span(),
                    format!(
                        "schema {:?} is placed on node {:?}, which is not defined (defined nodes: {})",
                        s.name.get_ref(),
                        s.node.get_ref(),
                        self.node_names().join(", ")
                    ),
                ));
            }
        }
        self.validate_sharding(text)
    }

    /// `[[table]]` rules (locally and across tables, against the defined
    /// nodes) and `[[sequence]]` entries, each error on the line of its
    /// entry.
    fn validate_sharding(&self, text: &str) -> Result<(), ConfigError> {
        let node_names = self.node_names();
        let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
        let rules = match crate::placement::ShardingRules::new(self.tables.clone(), &node_refs) {
            Ok(rules) => rules,
            Err(errors) => {
                let entries = table_entry_lines(text);
                let first = &errors[0];
                let candidates: Vec<usize> = entries
                    .iter()
                    .filter(|(name, _)| *name == first.table)
                    .map(|(_, line)| *line)
                    .collect();
                let line = match *first.problem {
                    crate::placement::RuleProblem::DuplicateTable => {
                        candidates.get(1).or(candidates.first())
                    }
                    _ => candidates.first(),
                }
                .copied();
                let more = if errors.len() > 1 {
                    format!(
                        " (and {} more problem(s) in [[table]] rules)",
                        errors.len() - 1
                    )
                } else {
                    String::new()
                };
                return Err(ConfigError {
                    file: self.source.clone(),
                    line,
                    message: format!("[[table]] {first}{more}"),
                });
            }
        };
        let err = |span: std::ops::Range<usize>, message: String| ConfigError {
            file: self.source.clone(),
            line: Some(line_of(text, span.start)),
            message,
        };
        if self.id_generator.worker_id > crate::router::shard::idgen::MAX_WORKER_ID {
            return Err(ConfigError {
                file: self.source.clone(),
                line: find_key_line(text, "worker_id"),
                message: format!(
                    "[id_generator] worker_id = {} is too large: snowflake ids have 10 bits of worker id (0..={})",
                    self.id_generator.worker_id,
                    crate::router::shard::idgen::MAX_WORKER_ID
                ),
            });
        }
        let mut seen = HashSet::new();
        for seq in &self.sequences {
            let table = seq.table.get_ref();
            let Some(placement) = rules.table(seq.schema.as_deref(), table) else {
                return Err(err(
                    seq.table.span(),
                    format!("[[sequence]] table {table:?} has no [[table]] rule"),
                ));
            };
            match seq.kind.get_ref().as_str() {
                "snowflake" => {}
                "segment" => {
                    return Err(err(
                        seq.kind.span(),
                        "[[sequence]] kind \"segment\" (ids reserved in blocks from a table) is not implemented yet; use \"snowflake\"".into(),
                    ))
                }
                other => {
                    return Err(err(
                        seq.kind.span(),
                        format!("[[sequence]] kind {other:?}: expected \"snowflake\""),
                    ))
                }
            }
            let column = match (&seq.column, placement.key_column()) {
                (Some(column), _) if !column.trim().is_empty() => column.clone(),
                (Some(_), _) => {
                    return Err(err(seq.table.span(), "[[sequence]] column is empty".into()))
                }
                (None, Some(key)) => key.to_owned(),
                (None, None) => {
                    return Err(err(
                        seq.table.span(),
                        format!("[[sequence]] for {table:?}: the table has no sharding key; name the `column` to fill"),
                    ))
                }
            };
            if !seen.insert((
                seq.schema.clone(),
                table.clone(),
                column.to_ascii_lowercase(),
            )) {
                return Err(err(
                    seq.table.span(),
                    format!("[[sequence]] for {table:?} column {column:?} is defined twice"),
                ));
            }
        }
        Ok(())
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| n.name.get_ref().clone())
            .collect()
    }

    pub fn user(&self, name: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.name.get_ref() == name)
    }

    /// How `user`'s multi-node transactions commit (its own
    /// `transactions`, else `[routing]`'s).
    pub fn transactions_for(&self, user: &str) -> TransactionMode {
        self.user(user)
            .and_then(|u| u.transactions)
            .unwrap_or(self.routing.transactions)
    }

    /// Whether any user commits with XA (recovery must run).
    pub fn uses_xa(&self) -> bool {
        self.routing.transactions == TransactionMode::Xa
            || self
                .users
                .iter()
                .any(|u| u.transactions == Some(TransactionMode::Xa))
    }

    /// Index of the node holding `schema` (the first node when unlisted).
    pub fn node_for_schema(&self, schema: Option<&str>) -> usize {
        let Some(schema) = schema else { return 0 };
        self.schemas
            .iter()
            .find(|s| s.name.get_ref().eq_ignore_ascii_case(schema))
            .and_then(|s| {
                self.nodes
                    .iter()
                    .position(|n| n.name.get_ref() == s.node.get_ref())
            })
            .unwrap_or(0)
    }
}

/// `(name, line)` of every `[[table]]` entry, from the text (the rule types
/// do not keep spans): the line is that of the `[[table]]` header.
pub fn table_entry_lines(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut in_table: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            in_table = (line.replace(' ', "") == "[[table]]").then_some(index + 1);
            continue;
        }
        let Some(header) = in_table else { continue };
        let Some(rest) = line.strip_prefix("name") else {
            continue;
        };
        let Some(value) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.split('#').next().unwrap_or("").trim();
        let name = value.trim_matches(|c| c == '"' || c == '\'');
        out.push((name.to_owned(), header));
        in_table = None;
    }
    out
}

fn check_addr(addr: &Spanned<String>) -> Result<(), String> {
    let a = addr.get_ref();
    match a.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!(
            "{a:?} is not a server address: expected \"host:port\" such as \"127.0.0.1:3306\""
        )),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests;
