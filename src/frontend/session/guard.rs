//! The session's security gate: every statement text (COM_QUERY,
//! COM_STMT_PREPARE, COM_INIT_DB, COM_FIELD_LIST) is checked by
//! [`crate::security::check_query`] before anything else sees it, and
//! failed COM_CHANGE_USER logins count toward the brute-force limits.
//!
//! Owns: building the [`crate::security::Subject`] from the session and
//! answering refusals. Must not decide what is allowed (that is
//! `crate::security`), nor route or run statements.

use std::net::IpAddr;

use bytes::Bytes;

use super::Session;
use crate::error::ProxyError;
use crate::security::{check_query, Subject, Verdict};
use crate::sql;
use crate::wire::command;

impl Session {
    /// Checks the command in `payload`: the payload to run (possibly
    /// rewritten), or `None` when it was refused (the error is sent).
    pub(super) async fn security_gate(&mut self, payload: Bytes, seq: &mut u8) -> Option<Bytes> {
        let cmd = *payload.first()?;
        let quote = |b: &[u8]| String::from_utf8_lossy(b).replace('`', "``");
        let text: std::borrow::Cow<'_, [u8]> = match cmd {
            command::QUERY | command::STMT_PREPARE => payload[1..].into(),
            command::INIT_DB => format!("USE `{}`", quote(&payload[1..]))
                .into_bytes()
                .into(),
            command::FIELD_LIST => {
                let table = payload[1..].split(|&b| b == 0).next().unwrap_or_default();
                format!("SHOW COLUMNS FROM `{}`", quote(table))
                    .into_bytes()
                    .into()
            }
            _ => return Some(payload),
        };
        let cfg = self.proxy.config.load();
        let user = cfg.user(&self.user);
        let is_admin = user.is_some_and(|u| u.admin);
        // Admins without a privilege list outside read-only transactions
        // may run anything: no second classification on their hot path
        // (only the identity and process-list answers).
        if is_admin
            && user.is_some_and(|u| !u.is_restricted())
            && !self.read_only_tx
            && !crate::security::admin_needs_check(&text)
        {
            return Some(payload);
        }
        let lex = self.lex_options_cached();
        let verdict = {
            // Borrowed, not cloned: the callbacks run only for the
            // statements that need them (no allocation per statement).
            let proxy = &self.proxy;
            let me = &self.user;
            let owns = |id: u64| proxy.owns_connection_id(id);
            let processes = || proxy.process_rows(me, is_admin);
            let physical = |t: &str| {
                proxy
                    .shard_router
                    .load()
                    .as_ref()
                    .map(|r| r.physical_names_of(t))
                    .unwrap_or_default()
            };
            let subject = Subject {
                user: &self.user,
                host: &self.peer_host,
                connection_id: self.id,
                config: user,
                schema: self.state.schema.as_deref(),
                read_only_tx: self.read_only_tx,
                lex,
                owns_thread: &owns,
                processes: &processes,
                physical_names: &physical,
            };
            let c = if cmd == command::QUERY {
                // (The tokens stay for the shape scan of the same text.)
                self.kept_tokens.classify(payload.slice(1..), subject.lex)
            } else {
                sql::classify_bytes(&text, subject.lex)
            };
            let verdict = check_query(&subject, &text, &c);
            // COM_QUERY classifies the same bytes with the same options:
            // it takes this classification instead of lexing again.
            if cmd == command::QUERY {
                self.pre_classified = Some(c);
            }
            verdict
        };
        drop(cfg);
        match verdict {
            Ok(Verdict::Allow) => Some(payload),
            Ok(Verdict::Rewrite(sql)) if matches!(cmd, command::QUERY | command::STMT_PREPARE) => {
                // The new text is classified again by its path.
                self.pre_classified = None;
                self.kept_tokens.clear();
                let mut p = Vec::with_capacity(sql.len() + 1);
                p.push(cmd);
                p.extend_from_slice(sql.as_bytes());
                Some(Bytes::from(p))
            }
            Ok(Verdict::Rewrite(_)) => Some(payload),
            Err(e) => {
                self.refuse(&e, seq).await;
                None
            }
        }
    }

    /// What the process list shows of this session: a command starting
    /// (`Some(payload)`) or done (`None`), `at` (the command's own clock
    /// reading: no reading of its own).
    pub(super) fn note_activity(&self, payload: Option<&Bytes>, at: std::time::Instant) {
        let db = self.state.schema.as_deref();
        match payload {
            None => self.handle.note(db, "Sleep", None, at),
            Some(p) => {
                let text = match p.first() {
                    Some(&command::QUERY) | Some(&command::STMT_PREPARE) => Some(p.slice(1..)),
                    _ => None,
                };
                let name = match p.first() {
                    Some(&command::QUERY) => "Query",
                    Some(&command::STMT_EXECUTE) => "Execute",
                    Some(&command::STMT_PREPARE) => "Prepare",
                    Some(&command::PING) => "Ping",
                    Some(&command::INIT_DB) => "Init DB",
                    _ => "Command",
                };
                self.handle.note(db, name, text, at)
            }
        }
    }

    async fn refuse(&mut self, e: &ProxyError, seq: &mut u8) {
        tracing::debug!(
            conn = self.id,
            user = %crate::logsafe::safe(&self.user),
            "statement refused: {}",
            crate::logsafe::safe(&e.to_string())
        );
        self.write_error_seq(e, seq).await;
    }

    /// COM_CHANGE_USER: throttled like a login; a failure is counted for
    /// the client's address. Returns `ok`.
    pub(super) async fn change_user_verdict(&mut self, ok: bool) -> bool {
        let Ok(ip) = self.peer_host.parse::<IpAddr>() else {
            return ok;
        };
        let cfg = self.proxy.config.load_full();
        let delay = self.proxy.auth_guard.delay_for(ip, &cfg.security);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if !ok {
            let failures = self.proxy.auth_guard.record_failure(ip, &cfg.security);
            tracing::warn!(conn = self.id, peer = %ip, failures, "change of user failed");
        }
        ok
    }
}
