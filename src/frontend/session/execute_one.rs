//! Running one statement on one backend connection for the session, with
//! the one retry and fallback policy: a read outside a transaction that
//! fails before any byte reached the client is retried on another replica
//! of its node, then on the primary. Text statements and binary executes
//! take the same path; only their [`Command`] differs.
//!
//! Owns: `Session::execute` and the bookkeeping on the connection that
//! answered. Must not: choose servers (that is `connections`) or decide
//! what a statement is (that is `query`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mysql_common::constants::StatusFlags;

use super::answer_watch::{AnswerWatch, Stop};
use super::{Ran, Session};
use crate::backend::connection::read_small_result;
use crate::backend::stall::looks_frozen;
use crate::backend::Role;
use crate::backend::ServerPool;
use crate::error::{ProxyError, Result};
use crate::execute::cancel::killed;
use crate::execute::relay::FirstByte;
use crate::execute::{Command, Outcome, Relay, Shape};
use crate::frontend::{interrupt, prepared};
use crate::router::RoutePlan;
use crate::sql::{Classified, StatementKind};
use crate::wire::packets::SessionChange;

/// How many connections one statement may try.
const ATTEMPTS: usize = 4;

/// What preparing on a backend gave: the statement's metadata, `None` when
/// the server's error was forwarded, or a failure and whether anything
/// reached the client.
type PrepareResult = std::result::Result<Option<prepared::PreparedMeta>, (ProxyError, bool)>;

impl Session {
    /// Sends `command` per `plan` and relays the answer. Reads outside
    /// transactions that fail before any byte reached the client are
    /// retried on another replica, then the primary. `None`: an error was
    /// already sent to the client.
    pub(super) async fn execute(
        &mut self,
        plan: RoutePlan,
        c: &Classified,
        command: &Command<'_>,
        shape: Shape,
        seq: &mut u8,
    ) -> Option<Ran> {
        let retryable = plan.role == Role::Replica && !self.pins.transaction && !self.read_only_tx;
        let mut plan = plan;
        let mut excluded: Vec<usize> = Vec::new();
        for _attempt in 0..ATTEMPTS {
            let i = match self.connection_for(&plan, c, &mut excluded).await {
                Ok(i) => i,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return None;
                }
            };
            let node = self.held[i].node;
            let role = self.held[i].role;
            let pool = self.held[i].conn.pool().clone();
            let sent_at = std::time::Instant::now();
            let outcome = match command.send_on(&mut self.held[i].conn).await {
                Ok(()) => {
                    let watch = retryable && role == Role::Replica;
                    self.relay_answer(i, shape, seq, watch).await
                }
                // The server refused to prepare the statement (e.g. a table
                // was dropped): its own error; the connection is fine.
                Err(e @ ProxyError::Backend(_)) => {
                    self.write_error_seq(&e, seq).await;
                    self.release_unpinned();
                    return None;
                }
                Err(e) => Outcome {
                    failure: Some(e),
                    ..Outcome::default()
                },
            };
            self.observe_backend(&pool, &outcome, sent_at.elapsed());
            let Some(failure) = &outcome.failure else {
                return Some(Ran { outcome, node });
            };
            let retry = retryable && !outcome.sent_anything && failure.is_connection_failure();
            self.drop_held(i);
            if outcome.sent_anything || outcome.client_lost {
                self.after_failure();
                return Some(Ran { outcome, node });
            }
            if retry {
                if role != Role::Replica {
                    break;
                }
                let roles = self.proxy.cluster.nodes[node].roles();
                match roles.replicas.iter().position(|p| Arc::ptr_eq(p, &pool)) {
                    Some(idx) => excluded.push(idx),
                    None => plan.role = Role::Primary,
                }
                continue;
            }
            let in_tx = self.pins.transaction;
            self.after_failure();
            let e = match outcome.failure {
                Some(ProxyError::DeadlockVictim) => ProxyError::DeadlockVictim,
                Some(f) if in_tx => {
                    let why = match f {
                        ProxyError::BackendLost { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    // A COMMIT the server may have applied before it went
                    // silent: its outcome is not known.
                    let fate = match c.kind {
                        StatementKind::Commit => "the transaction's outcome is unknown",
                        _ => "the transaction was rolled back",
                    };
                    ProxyError::BackendLost {
                        server: pool.server.name.clone(),
                        reason: format!("{why}; {fate}"),
                    }
                }
                Some(f) => f,
                None => ProxyError::Internal("unknown failure".into()),
            };
            self.write_error_seq(&e, seq).await;
            return None;
        }
        self.write_error_seq(
            &ProxyError::NoServerAvailable {
                node: self.proxy.cluster.nodes[plan.node].name.clone(),
                role: "server",
                reason: "every attempt failed".into(),
            },
            seq,
        )
        .await;
        None
    }

    /// Records one statement on one server in the metrics.
    fn observe_backend(
        &mut self,
        pool: &crate::backend::ServerPool,
        outcome: &Outcome,
        took: std::time::Duration,
    ) {
        let key = pool as *const crate::backend::ServerPool as usize;
        let metrics = &self.proxy.metrics;
        let nodes = &self.proxy.cluster.nodes;
        let cached = &mut self.user_metrics.servers;
        let at = match cached.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let labels = crate::ops::metrics::ServerLabels {
                    server: pool.server.addr.clone(),
                    node: nodes[pool.server.node].name.clone(),
                    role: pool.server.role.as_str(),
                };
                let handles = (
                    metrics.backend_statements.get_or_create(&labels).clone(),
                    metrics.backend_errors.get_or_create(&labels).clone(),
                    metrics.backend_seconds.get_or_create(&labels).clone(),
                );
                cached.push((key, handles));
                cached.len() - 1
            }
        };
        let (statements, errors, seconds) = &cached[at].1;
        statements.inc();
        seconds.observe(took.as_secs_f64());
        if outcome.failure.is_some() || outcome.error.is_some() {
            errors.inc();
        }
    }

    /// The held connection that runs the next statement per `plan`, made
    /// fresh enough for the session (read-your-writes) and carrying a
    /// deferred `SET TRANSACTION`.
    async fn connection_for(
        &mut self,
        plan: &RoutePlan,
        c: &Classified,
        excluded: &mut Vec<usize>,
    ) -> Result<usize> {
        let (i, fresh) = self.acquire_moving(plan, c, excluded).await?;
        let reads_diagnostics =
            c.flags.reads_diagnostics || c.flags.uses_found_rows || c.flags.uses_row_count;
        let i = if fresh || !reads_diagnostics {
            self.ensure_fresh(i, c).await?
        } else {
            i
        };
        self.apply_pending_transaction(i).await?;
        Ok(i)
    }

    /// Prepares `sql` as client statement `id` on a connection for `plan`
    /// and forwards the server's answer. A replica that gives no first
    /// byte within its stall deadline (frozen) or fails before answering
    /// is left for the next replica, then the primary, as reads move (a
    /// prepare changes nothing, so moving is always safe). `None`: an error
    /// was already sent to the client; otherwise the connection used and
    /// what [`prepared::prepare_and_forward`] said.
    pub(super) async fn prepare_on_backend(
        &mut self,
        plan: &RoutePlan,
        c: &Classified,
        sql: &Arc<str>,
        id: u32,
        seq: &mut u8,
    ) -> Option<(usize, PrepareResult)> {
        let mut excluded = Vec::new();
        let stall_policy = self.proxy.config.load().routing.stall_policy();
        for _attempt in 0..ATTEMPTS {
            let i = match self.acquire_moving(plan, c, &mut excluded).await {
                Ok((i, _)) => i,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return None;
                }
            };
            let pool = self.held[i].conn.pool().clone();
            let watch = stall_policy
                .as_ref()
                .filter(|_| self.held[i].role == Role::Replica)
                .map(|p| pool.stats.stall.deadline(p));
            let first_byte = FirstByte::new();
            let held = &mut self.held[i];
            let result = tokio::select! {
                r = prepared::prepare_and_forward(
                    &mut held.conn,
                    &mut self.client,
                    self.caps,
                    seq,
                    sql,
                    id,
                    &first_byte,
                ) => r,
                waited = stalled(&pool, watch, &first_byte) => Err((
                    ProxyError::BackendTimeout {
                        server: pool.server.name.clone(),
                        millis: waited.as_millis() as u64,
                    },
                    false,
                )),
            };
            if let Some(took) = first_byte.took() {
                pool.stats.stall.record_first_byte(took);
            }
            let movable = match &result {
                Err((e, false)) if self.held[i].role == Role::Replica => e
                    .is_connection_failure()
                    .then(|| self.replica_index(self.held[i].node, e))
                    .flatten()
                    .filter(|idx| !excluded.contains(idx)),
                _ => None,
            };
            let Some(idx) = movable else {
                return Some((i, result));
            };
            self.drop_held(i);
            excluded.push(idx);
        }
        let e = ProxyError::NoServerAvailable {
            node: self.proxy.cluster.nodes[plan.node].name.clone(),
            role: "server",
            reason: "every attempt failed".into(),
        };
        self.write_error_seq(&e, seq).await;
        None
    }

    /// Relays the answer to the command just sent on held connection `i`,
    /// while watching the session's interrupt (the server marked down, KILL
    /// of this session, a deadlock victim choice) and the query timeout
    /// (`answer_watch`); publishes the running backend for KILL QUERY and
    /// keeps the in-flight count. With `watch_stall` (a retryable read), an
    /// answer that has not started within the server's stall deadline on a
    /// server that looks frozen gives up with a timeout, so the read is
    /// retried elsewhere.
    pub(super) async fn relay_answer(
        &mut self,
        i: usize,
        shape: Shape,
        seq: &mut u8,
        watch_stall: bool,
    ) -> Outcome {
        let cfg = self.proxy.config.load();
        let timeout = match cfg.backend.query_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let stall_policy = cfg.routing.stall_policy().filter(|_| watch_stall);
        drop(cfg);
        let last_insert_id = self.override_last_insert_id;
        let pool = self.held[i].conn.pool().clone();
        pool.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let thread = self.held[i].conn.connection_id;
        let handle = &*self.handle;
        {
            // In place: the list keeps its capacity between statements.
            let mut backends = handle.backends.lock();
            backends.clear();
            backends.push((pool.clone(), thread));
            // A mark-down or victim choice seen by an earlier statement
            // (raised under this lock: none is lost for this one).
            handle
                .interrupt
                .clear(interrupt::DOWN | interrupt::DEADLOCK);
        }
        let wait = handle.deadlock.begin_wait(&pool, thread);
        let first_byte = FirstByte::new();
        let watch = AnswerWatch {
            handle,
            pool: &pool,
            wait,
            first_byte: &first_byte,
            timeout,
            stall: stall_policy.map(|p| pool.stats.stall.deadline(&p)),
            timer: self.timer.as_mut(),
        };
        let held = &mut self.held[i];
        let mut relay = Relay {
            conn: &mut held.conn,
            client: &mut self.client,
            client_caps: self.caps,
            seq,
            // The query timeout is the watch's (one timer for both).
            timeout: None,
            last_insert_id,
            first_byte: Some(&first_byte),
            table_names: self
                .column_tables
                .as_ref()
                .map(|n| (n, &mut self.renamed_defs)),
            client_extended: self.extended_metadata,
            missing_table: self.missing_table.as_ref(),
        };
        // Biased, the relay first: when the answer is complete, the watch
        // is not polled again (it only matters while the relay waits, and
        // every poll of a pending relay still reaches it).
        let mut outcome = tokio::select! {
            biased;
            o = relay.forward(shape) => o,
            stop = watch.stop() => {
                let server = || pool.server.name.clone();
                let failure = match stop {
                    Stop::Killed => killed(),
                    Stop::Down => ProxyError::BackendLost {
                        server: server(),
                        reason: "server marked down by the health checker".into(),
                    },
                    Stop::Victim => {
                        // A deadlock victim (`frontend::deadlock`): nothing
                        // of the answer came; the server's statement still
                        // waits for its lock, so its connection is ended
                        // there.
                        crate::frontend::cancel_on_servers(vec![(pool.clone(), thread)]);
                        ProxyError::DeadlockVictim
                    }
                    Stop::Timeout(d) | Stop::Stalled(d) => ProxyError::BackendTimeout {
                        server: server(),
                        millis: d.as_millis() as u64,
                    },
                };
                // Killed: the session ends, the connection is not reused
                // (as before: dropped by the caller).
                if stop != Stop::Killed && stop != Stop::Down {
                    relay.conn.broken = true;
                }
                Outcome {
                    failure: Some(failure),
                    client_lost: stop == Stop::Killed,
                    ..Outcome::default()
                }
            },
        };
        handle.deadlock.end_wait();
        pool.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(took) = first_byte.took() {
            pool.stats.stall.record_first_byte(took);
        }
        handle.backends.lock().clear();
        if outcome.failure.is_none() {
            self.after_relay(i, &mut outcome).await;
        }
        outcome
    }

    /// Runs a deferred `SET TRANSACTION` on the connection about to run the
    /// next statement.
    pub(super) async fn apply_pending_transaction(&mut self, i: usize) -> Result<()> {
        let Some((sql, _)) = self.pending_transaction.take() else {
            return Ok(());
        };
        self.held[i].conn.query_drop(&sql).await
    }

    /// Bookkeeping on the connection that just answered: a dirty
    /// diagnostics area, and the collation `SET NAMES ... COLLATE` chose
    /// (MariaDB's session tracking reports the character sets only).
    pub(super) async fn after_relay(&mut self, i: usize, outcome: &mut Outcome) {
        let conn = &mut self.held[i].conn;
        if outcome.warnings > 0 || outcome.error.is_some() {
            conn.diagnostics_dirty = true;
        }
        let mut charset_changed = false;
        let mut collation_reported = false;
        for c in &outcome.changes {
            if let SessionChange::SystemVariable { name, .. } = c {
                charset_changed |=
                    name == "character_set_connection" || name == "character_set_client";
                collation_reported |= name == "collation_connection";
            }
        }
        if charset_changed && !collation_reported {
            let asked = async {
                conn.send_command(b"\x03SELECT @@collation_connection")
                    .await?;
                read_small_result(conn).await
            }
            .await;
            match asked {
                Ok(rows) => {
                    if let Some(v) = rows.first().and_then(|r| r.first()).cloned().flatten() {
                        let value = String::from_utf8_lossy(&v).into_owned();
                        conn.state.record_var("collation_connection", &value);
                        outcome.changes.push(SessionChange::SystemVariable {
                            name: "collation_connection".into(),
                            value,
                        });
                    }
                }
                Err(e) => outcome.failure = Some(e),
            }
        }
    }

    /// A backend connection broke under the session: whatever it held
    /// (transaction, unreplayable state) is gone.
    pub(super) fn after_failure(&mut self) {
        self.pins.transaction = false;
        self.tx_in_flight = None;
        self.transaction_start.clear();
        self.forget_multi_node_tx();
        self.pins.diagnostics = false;
        self.read_only_tx = false;
        self.cursor_statement = None;
        self.status &= !StatusFlags::SERVER_STATUS_IN_TRANS.bits();
        if self.held.is_empty() {
            self.pins.session_state = false;
        }
        self.release_unpinned();
    }
}

/// Completes (with how long the answer was awaited) when no byte of the
/// answer arrived within `deadline` and the server looks frozen; never
/// completes without a deadline, once the answer started, or while the
/// server shows it is alive (the statement is merely slow).
async fn stalled(
    pool: &Arc<ServerPool>,
    deadline: Option<Duration>,
    first: &FirstByte,
) -> Duration {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    tokio::time::sleep(deadline).await;
    loop {
        if first.took().is_some() {
            return std::future::pending().await;
        }
        if looks_frozen(pool, deadline).await && first.took().is_none() {
            return first.sent.elapsed();
        }
        tokio::time::sleep(deadline / 2).await;
    }
}
