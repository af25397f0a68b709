//! Commands about the proxy and the session itself: `KILL` of shardcat
//! sessions, `SHOW SHARDCAT …`, `EXPLAIN SHARDCAT …`, COM_RESET_CONNECTION
//! and COM_CHANGE_USER.
//!
//! Owns: those answers. Must not: route or run client statements.

use mysql_common::constants::StatusFlags;

use super::{metadata, Session};
use crate::error::ProxyError;
use crate::frontend::local_result::TextResult;
use crate::router::{self};
use crate::session_state::{Pins, SessionState};
use crate::sql::{self};
use crate::wire::packets::Reader;

impl Session {
    /// Forgets all session state (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub(super) fn reset(&mut self) {
        // Held connections may carry unreplayable state: close them.
        self.held.clear();
        self.merged_cursors.clear();
        self.shard_warnings = None;
        self.shard_row_count = None;
        let schema = self.state.schema.take();
        self.state = SessionState::for_collation(self.collation);
        self.state.schema = schema;
        self.pins = Pins::default();
        self.table_locks = metadata::TableLocks::default();
        self.read_only_tx = false;
        self.transaction_start.clear();
        self.pending_transaction = None;
        self.status = StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits();
        self.last_insert_id = 0;
        self.statements.clear();
        self.cursor_statement = None;
    }

    pub(super) async fn com_change_user(&mut self, payload: &[u8], seq: &mut u8) -> bool {
        let mut r = Reader::new(&payload[1..]);
        let parsed = (|| {
            let user = String::from_utf8_lossy(r.null_terminated()?).into_owned();
            let len = r.u8()? as usize;
            let auth = r.take(len)?.to_vec();
            let db = String::from_utf8_lossy(r.null_terminated().unwrap_or_default()).into_owned();
            let collation = r.u16();
            let plugin = r
                .null_terminated()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            Some((user, auth, db, collation, plugin))
        })();
        let Some((user, auth_data, db, collation, plugin)) = parsed else {
            self.write_error_seq(&ProxyError::MalformedPacket("COM_CHANGE_USER".into()), seq)
                .await;
            return false;
        };
        let plugin = plugin.unwrap_or_else(|| crate::wire::auth::NATIVE_PASSWORD.into());
        let cfg = self.proxy.config.load_full();
        let nonce = self.nonce;
        let cache = self.proxy.sha2_cache.clone();
        let verdict = crate::frontend::auth_exchange::Exchange {
            client: &mut self.client,
            seq,
            config: &cfg,
            cache: &cache,
            nonce: &nonce,
        }
        .run(&user, &plugin, auth_data)
        .await;
        let Ok(verdict) = verdict else {
            return false;
        };
        let secret = verdict.secret;
        let login = cfg
            .user(&user)
            .zip(secret.clone())
            .and_then(|(u, s)| crate::frontend::handshake::passthrough_login(u, s));
        if !self.change_user_verdict(secret.is_some()).await {
            let e = ProxyError::AccessDenied {
                user,
                host: self.peer_host.clone(),
                using_password: verdict.using_password,
            };
            self.write_error_seq(&e, seq).await;
            // MySQL closes the connection after a failed change of user.
            return false;
        }
        if cfg.user(&user).is_some_and(|u| u.require_tls) && !self.client.get_ref().is_tls() {
            // The login's TLS rule holds for a change of user too.
            self.write_error_seq(&ProxyError::InsecureTransport, seq)
                .await;
            return false;
        }
        if cfg.user(&user).is_some_and(|u| u.require_x509)
            && !self.client.get_ref().has_verified_certificate()
        {
            let e = ProxyError::AccessDenied {
                user,
                host: self.peer_host.clone(),
                using_password: verdict.using_password,
            };
            self.write_error_seq(&e, seq).await;
            return false;
        }
        let limit = cfg.user(&user).map_or(0, |u| u.max_user_connections);
        if !self.proxy.change_user_count(&self.user, &user, limit) {
            let e = ProxyError::TooManyUserConnections(user);
            self.write_error_seq(&e, seq).await;
            return false;
        }
        *self.handle.user.lock() = user.clone();
        self.user = user;
        self.login = login;
        if let Some(c) = collation.filter(|c| *c != 0) {
            self.collation = c;
        }
        self.reset();
        self.state.schema = if db.is_empty() { None } else { Some(db) };
        self.write_ok(seq, 0, 0, self.status, 0).await;
        true
    }

    pub(super) async fn kill(&mut self, id: u32, query_only: bool, seq: &mut u8) {
        match self.proxy.kill(id, query_only, self.id).await {
            Ok(()) => self.write_ok(seq, 0, 0, self.status, 0).await,
            Err(e) => self.write_error_seq(&e, seq).await,
        }
    }

    pub(super) async fn show_shardcat(&mut self, what: &str, seq: &mut u8) {
        let what = what.trim_end_matches(';').trim().to_ascii_lowercase();
        if what == "reload" {
            match self.proxy.reload() {
                Ok(msg) => {
                    tracing::info!("{msg} (SHOW SHARDCAT RELOAD)");
                    self.write_ok(seq, 0, 0, self.status, 0).await;
                }
                Err(e) => {
                    let e = crate::logsafe::escape(&e);
                    tracing::error!("reload refused, keeping the running configuration: {e}");
                    let e = ProxyError::Config(format!(
                        "reload refused, the running configuration stays: {e}"
                    ));
                    self.write_error_seq(&e, seq).await;
                }
            }
            return;
        }
        let result = match what.as_str() {
            "backends" | "servers" => self.proxy.backends_result(),
            "auth" => self.proxy.auth_result(),
            "sessions" | "processlist" => self.proxy.sessions_result(),
            "stats" => self.proxy.stats_result(),
            "digests" => self.proxy.digests_result(),
            "digests reset" => {
                let r = self.proxy.digests_result();
                self.proxy.digests.reset();
                r
            }
            "rules" => self.proxy.rules_result(),
            "pauses" => self.pauses_result(),
            "moves" => match self.moves_result() {
                Ok(r) => r,
                Err(e) => {
                    self.write_error_seq(&e, seq).await;
                    return;
                }
            },
            "config" => self.proxy.config_result(),
            "xa" => {
                let mut r = TextResult::new(&["name", "value"]);
                for (name, value) in crate::ops::xa_stats::XA.rows() {
                    r.row(vec![Some(name), Some(value)]);
                }
                r
            }
            _ => {
                let e = ProxyError::Unsupported(format!(
                    "SHOW SHARDCAT {what}: known forms are SHOW SHARDCAT BACKENDS, SESSIONS, STATS, \
                     DIGESTS [RESET], RULES, CONFIG, XA, AUTH, PAUSES, MOVES and RELOAD"
                ));
                self.write_error_seq(&e, seq).await;
                return;
            }
        };
        self.send_text_result(&result, seq).await;
    }

    /// `SET SHARDCAT BACKEND <address or name> OFFLINE | ONLINE`.
    pub(super) async fn set_shardcat(&mut self, rest: &str, seq: &mut u8) {
        let words: Vec<&str> = rest.trim_end_matches(';').split_whitespace().collect();
        if let Some(statement) = super::admin_gates::parse(&words) {
            return self.run_gate_statement(statement, seq).await;
        }
        let state = words.get(2).map(|w| w.to_ascii_uppercase());
        let result = match (words.first(), words.get(1), state.as_deref(), words.len()) {
            (Some(b), Some(which), Some(s @ ("OFFLINE" | "ONLINE")), 3)
                if b.eq_ignore_ascii_case("backend") =>
            {
                self.proxy.set_backend_offline(which, s == "OFFLINE")
            }
            _ => Err(ProxyError::Unsupported(format!(
                "SET SHARDCAT {rest}: the known forms are SET SHARDCAT BACKEND <address or name> OFFLINE | ONLINE, \
                 PAUSE WRITES <node> <tables> FOR <ms>, SWITCH <node> <tables>, RESUME WRITES <node> <tables>"
            ))),
        };
        match result {
            Ok(changed) => self.write_ok(seq, changed as u64, 0, self.status, 0).await,
            Err(e) => self.write_error_seq(&e, seq).await,
        }
    }

    pub(super) async fn explain_shardcat(&mut self, inner: &str, seq: &mut u8) {
        let r = match self
            .proxy
            .shard_explain(inner, self.state.schema.as_deref())
        {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                self.write_error_seq(&e, seq).await;
                return;
            }
            None => {
                let c = sql::classify(inner);
                let node = self.node_for_session();
                let plan = router::route(&c, &self.view(node));
                let node_name = self.proxy.cluster.nodes[plan.node].name.clone();
                let mut r = TextResult::new(&["node", "role", "reason", "sql"]);
                r.row(vec![
                    Some(node_name),
                    Some(plan.role.as_str().to_string()),
                    Some(plan.reason.to_string()),
                    Some(inner.trim().to_string()),
                ]);
                r
            }
        };
        self.send_text_result(&r, seq).await;
    }

    /// Sends a result the proxy answers itself (write errors end the
    /// session on its next read).
    pub(super) async fn send_text_result(&mut self, r: &TextResult, seq: &mut u8) {
        let _ = r
            .send(
                &mut self.client,
                self.caps,
                self.extended_metadata,
                seq,
                self.status,
            )
            .await;
    }
}
