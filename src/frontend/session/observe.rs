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
    /// Per server (keyed by its pool's address): statements, errors,
    /// statement time.
    pub servers: Vec<(usize, (Counter, Counter, Histogram))>,
}

/// The metrics label of an error.
pub(super) fn error_class(e: &ProxyError) -> &'static str {
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

impl Session {
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
        metrics.statement(stat.path, took, stat.error);
        let admin = &self.proxy.config.load().admin;
        let slow = admin.slow_query_ms > 0 && took >= Duration::from_millis(admin.slow_query_ms);
        if !slow && !admin.digests {
            return;
        }
        let prepared;
        let text = if cmd == command::QUERY {
            String::from_utf8_lossy(payload.get(1..).unwrap_or_default())
        } else {
            let id = Reader::new(payload.get(1..).unwrap_or_default()).u32();
            prepared = id
                .and_then(|id| self.statements.get(&id))
                .map(|s| s.sql.clone());
            std::borrow::Cow::Borrowed(prepared.as_deref().unwrap_or(""))
        };
        if admin.digests {
            self.proxy.digests.record(&text, took, stat.error.is_some());
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
