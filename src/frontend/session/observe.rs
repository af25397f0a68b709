//! What each client statement did, as operators see it: the path that
//! answered it, how many backend statements it ran, whether it failed;
//! recorded in the metrics and, when slow, in the slow query log.
//!
//! Owns: `Session::stat` and its recording once per statement. Must not:
//! change how a statement runs.

use std::time::Duration;

use super::Session;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;

use crate::error::ProxyError;
use crate::ops::metrics::UserLabels;
use crate::ops::slow_log::SlowStatement;
use crate::wire::command;
use crate::wire::packets::Reader;

/// The running statement's observations.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stat {
    /// How it was answered (a fixed list: a metrics label).
    pub path: &'static str,
    /// Backend statements it ran.
    pub targets: usize,
    /// The class of the error it was answered with.
    pub error: Option<&'static str>,
}

impl Default for Stat {
    fn default() -> Self {
        Stat {
            path: "plain",
            targets: 1,
            error: None,
        }
    }
}

/// The session user's counters, taken from their families once.
#[derive(Default)]
pub(super) struct UserMetrics {
    handles: Option<(Counter, Counter)>,
    /// Per path label (a `&'static str` of a fixed list, compared by
    /// address first): `shardcat_statements_total` and the statement time.
    paths: Vec<(&'static str, Counter, Histogram)>,
    /// Per server (keyed by its pool's address): statements, errors,
    /// statement time.
    pub servers: Vec<(usize, (Counter, Counter, Histogram))>,
    /// Per physical table and plan path: the logical table's name and its
    /// statement counter (bounded; forgotten when the router changes).
    pub tables: TableCounters,
}

/// A session's cache of `shardcat_table_statements_total` counters, so that
/// a statement on a table seen before costs no label hashing or `String`s.
#[derive(Default)]
pub(super) struct TableCounters {
    /// The router the names were resolved with (its address).
    router: usize,
    entries: Vec<TableCounter>,
}

struct TableCounter {
    physical: String,
    path: &'static str,
    logical: String,
    counter: Counter,
}

/// Tables one session keeps counters for; more are looked up each time.
/// At most 64: a statement's entries to count are the bits of a `u64`.
const MAX_TABLE_COUNTERS: usize = 64;

/// The indices of the set bits of `word`, ascending.
fn bits(word: u64) -> impl Iterator<Item = usize> {
    let mut rest = word;
    std::iter::from_fn(move || {
        (rest != 0).then(|| {
            let at = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            at
        })
    })
}

impl TableCounters {
    /// Counts one statement of plan path `path` on each logical table of
    /// `physical` (each logical table once).
    pub fn count(
        &mut self,
        router: &crate::router::shard::ShardRouter,
        metrics: &crate::ops::metrics::Metrics,
        physical: &mut dyn Iterator<Item = &str>,
        path: &'static str,
    ) {
        let key = router as *const _ as usize;
        if self.router != key {
            self.entries.clear();
            self.router = key;
        }
        // Entries only grow within a call, so indices stay valid; at most
        // MAX_TABLE_COUNTERS (64) of them: the ones to count are bits of
        // one word, not a vector allocated per statement.
        let mut counted: u64 = 0;
        let mut uncached: Vec<(String, Counter)> = Vec::new();
        for table in physical {
            let found = self
                .entries
                .iter()
                .position(|e| e.path == path && e.physical == table);
            let at = match found {
                Some(at) => at,
                None => {
                    let Some(logical) = router.logical_name_of(table) else {
                        continue;
                    };
                    let labels = crate::ops::metrics::TableLabels {
                        table: logical.clone(),
                        plan: path,
                    };
                    let counter = metrics.table_statements.get_or_create(&labels).clone();
                    if self.entries.len() >= MAX_TABLE_COUNTERS {
                        if uncached.iter().all(|(l, _)| *l != logical) {
                            uncached.push((logical, counter));
                        }
                        continue;
                    }
                    self.entries.push(TableCounter {
                        physical: table.to_owned(),
                        path,
                        logical,
                        counter,
                    });
                    self.entries.len() - 1
                }
            };
            let logical = &self.entries[at].logical;
            if bits(counted).all(|c| self.entries[c].logical != *logical) {
                counted |= 1 << at;
            }
        }
        for at in bits(counted) {
            self.entries[at].counter.inc();
        }
        for (logical, counter) in uncached {
            if bits(counted).all(|c| self.entries[c].logical != logical) {
                counter.inc();
            }
        }
    }
}

/// The metrics label of an error.
fn error_class(e: &ProxyError) -> &'static str {
    match e {
        ProxyError::Backend(_) => "backend",
        ProxyError::AccessDenied { .. } | ProxyError::UnknownDatabase(_) => "denied",
        ProxyError::BackendConnect { .. }
        | ProxyError::BackendLost { .. }
        | ProxyError::BackendTimeout { .. }
        | ProxyError::PoolExhausted { .. }
        | ProxyError::NoServerAvailable { .. }
        | ProxyError::CommitIncomplete { .. } => "unavailable",
        ProxyError::Unsupported(_) | ProxyError::Routing(_) | ProxyError::Parse(_) => "refused",
        ProxyError::ClientGone => "client",
        _ => "proxy",
    }
}

/// The `refusals_total` reason of an error the proxy itself refused a
/// statement with; `None` for the others (backend errors, outages).
fn refusal_reason(e: &ProxyError) -> Option<&'static str> {
    Some(match e {
        ProxyError::Unsupported(_) => "unsupported",
        ProxyError::Routing(_) => "routing",
        ProxyError::Parse(_) => "parse",
        ProxyError::SpecificAccessDenied { .. }
        | ProxyError::TableAccessDenied { .. }
        | ProxyError::DatabaseAccessDenied { .. }
        | ProxyError::UnverifiableStatement { .. } => "privilege",
        ProxyError::PacketTooLarge | ProxyError::LongDataTooLong => "limit",
        ProxyError::ReadOnlyTransaction => "read_only",
        _ => return None,
    })
}

impl Session {
    /// Records the error the statement ends with: its class, and the
    /// refusal when the proxy refused it.
    pub(super) fn note_error(&mut self, e: &ProxyError) {
        self.stat.error = Some(error_class(e));
        if let Some(reason) = refusal_reason(e) {
            self.proxy.metrics.refusal(reason);
        }
    }

    /// Records the statement that just ended (COM_QUERY or
    /// COM_STMT_EXECUTE) in the metrics and, when slow, the slow log.
    pub(super) fn observe(&mut self, cmd: u8, payload: &[u8], took: Duration) {
        let stat = self.stat;
        let metrics = &self.proxy.metrics;
        let (statements, errors) = self.user_metrics.handles.get_or_insert_with(|| {
            let user = UserLabels {
                user: self.user.clone(),
            };
            (
                metrics.user_statements.get_or_create(&user).clone(),
                metrics.user_errors.get_or_create(&user).clone(),
            )
        });
        statements.inc();
        if stat.error.is_some() {
            errors.inc();
        }
        // The path's handles, taken from their families once per session
        // (no label hashing per statement).
        let paths = &mut self.user_metrics.paths;
        let at = match paths
            .iter()
            .position(|(p, ..)| std::ptr::eq(*p, stat.path) || *p == stat.path)
        {
            Some(at) => at,
            None => {
                let (count, time) = metrics.statement_handles(stat.path);
                paths.push((stat.path, count, time));
                paths.len() - 1
            }
        };
        let (_, count, time) = &paths[at];
        metrics.statement_with(count, time, stat.path, took, stat.error);
        let admin = &self.proxy.config.load().admin;
        let slow = admin.slow_query_ms > 0 && took >= Duration::from_millis(admin.slow_query_ms);
        if !slow && !admin.digests {
            return;
        }
        let prepared;
        // The digest without lexing the text again: from the tokens its
        // classification kept, or kept with the prepared statement.
        let mut known_hash = None;
        let text = if cmd == command::QUERY {
            let bytes = payload.get(1..).unwrap_or_default();
            // Valid UTF-8 (nearly always) is checked at the validator's
            // speed, not decoded character by character.
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(bytes),
            };
            if admin.digests {
                known_hash = self.kept_tokens.for_text(&text).and_then(|tokens| {
                    crate::sql::classify::digest_hash_of_tokens(&text, tokens, &mut self.digest_buf)
                });
            }
            text
        } else {
            let id = Reader::new(payload.get(1..).unwrap_or_default()).u32();
            let statement = id.and_then(|id| self.statements.get_mut(&id));
            if admin.digests {
                known_hash = statement.as_ref().map(|s| s.digest_hash());
            }
            prepared = statement.map(|s| s.sql.clone());
            std::borrow::Cow::Borrowed(prepared.as_deref().unwrap_or(""))
        };
        if admin.digests {
            let failed = stat.error.is_some();
            let hash = known_hash.unwrap_or_else(|| crate::sql::classify::digest_hash(&text));
            self.proxy.digests.record_hashed(hash, &text, took, failed);
        }
        if !slow {
            return;
        }
        self.proxy.metrics.slow_statements.inc();
        self.proxy.slow_log.write(&SlowStatement {
            connection: self.id,
            user: &self.user,
            database: self.state.schema.as_deref(),
            text: &text,
            path: stat.path,
            targets: stat.targets,
            took,
            error: stat.error,
        });
    }

    /// `SHOW SHARDCAT SESSIONS`: idle again, with the state the command left.
    pub(super) fn show_idle(&self) {
        let in_tx = self.pins.transaction;
        let held = self
            .held
            .iter()
            .filter(move |h| in_tx && h.role == crate::backend::Role::Primary)
            .map(|h| (h.node, h.conn.connection_id));
        self.handle.deadlock.set_held(held);
        let mut a = self.handle.activity.lock();
        a.in_transaction = self.pins.transaction;
        a.pinned = if self.pins.transaction {
            "transaction"
        } else if self.pins.session_state {
            "session_state"
        } else if self.cursor_statement.is_some() {
            "cursor"
        } else if self.pins.diagnostics {
            "diagnostics"
        } else {
            ""
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ops::metrics::{Metrics, TableLabels};

    /// Refusals carry one of a few fixed reasons; errors that are not the
    /// proxy's refusal (the server's own, outages, the client leaving)
    /// count none.
    #[test]
    fn refusal_reasons_are_a_fixed_set() {
        let refused = [
            (ProxyError::Unsupported("x".into()), "unsupported"),
            (ProxyError::Routing("x".into()), "routing"),
            (ProxyError::Parse("x".into()), "parse"),
            (
                ProxyError::SpecificAccessDenied { privilege: "SUPER" },
                "privilege",
            ),
            (ProxyError::PacketTooLarge, "limit"),
            (ProxyError::ReadOnlyTransaction, "read_only"),
        ];
        for (e, reason) in refused {
            assert_eq!(refusal_reason(&e), Some(reason), "{e:?}");
            assert!(
                matches!(error_class(&e), "refused" | "denied" | "proxy"),
                "{e:?}"
            );
        }
        let not_refused = [
            ProxyError::Backend(crate::wire::packets::ErrPacket::new(1146, "42S02", "x")),
            ProxyError::BackendTimeout {
                server: "s".into(),
                millis: 1,
            },
            ProxyError::PoolExhausted {
                server: "s".into(),
                millis: 1,
                max: 1,
            },
            ProxyError::ClientGone,
        ];
        for e in not_refused {
            assert_eq!(refusal_reason(&e), None, "{e:?}");
        }
    }

    fn value(m: &Metrics, table: &str, plan: &'static str) -> u64 {
        let labels = TableLabels {
            table: table.to_owned(),
            plan,
        };
        m.table_statements.get_or_create(&labels).get()
    }

    /// Each logical table counts once per statement however many of its
    /// physical tables the plan names, cached or not (past the cache's
    /// bound), and the counts equal the uncached lookup's.
    #[test]
    fn table_counters_count_each_logical_table_once() {
        let text = include_str!("../../../rules/shop.toml");
        let cfg = Config::parse(text, std::path::Path::new("shop.toml")).expect("shop.toml");
        let router = &cfg.sharding;
        let users = router.physical_names_of("users");
        let orders = router.physical_names_of("orders");
        assert!(users.len() > 1 && !orders.is_empty());
        let m = Metrics::new(1);
        let mut counters = TableCounters::default();
        let mut want_users = 0;
        let mut want_orders = 0;
        for round in 0..200usize {
            // Past 64 entries (200 rounds × 2 paths), new pairs are not cached.
            let path = if round % 2 == 0 {
                "single_shard"
            } else {
                "multi_shard_read"
            };
            let mut names: Vec<&str> = users.iter().map(String::as_str).collect();
            if round % 3 == 0 {
                names.extend(orders.iter().map(String::as_str));
                want_orders += 1;
            }
            names.push("not_a_sharded_table");
            counters.count(router, &m, &mut names.into_iter(), path);
            want_users += 1;
            if round == 10 {
                counters.entries.truncate(0);
                counters
                    .entries
                    .extend((0..MAX_TABLE_COUNTERS).map(|i| TableCounter {
                        physical: format!("filler_{i}"),
                        path: "ddl",
                        logical: format!("filler_{i}"),
                        counter: Counter::default(),
                    }));
            }
        }
        let got_users = value(&m, "users", "single_shard") + value(&m, "users", "multi_shard_read");
        let got_orders =
            value(&m, "orders", "single_shard") + value(&m, "orders", "multi_shard_read");
        assert_eq!((got_users, got_orders), (want_users, want_orders));
        assert_eq!(counters.entries.len(), MAX_TABLE_COUNTERS);
    }
}
