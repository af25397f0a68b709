//! COM_QUERY and the other text commands (COM_INIT_DB, COM_FIELD_LIST,
//! COM_STATISTICS, COM_SET_OPTION): what a statement is and which path
//! answers it: a proxy statement, a transaction end on several nodes, a
//! database switch, a statement about or on sharded tables, or the plain
//! read/write-split path.
//!
//! Owns: that decision for text commands. Must not: run statements on
//! connections itself (that is `execute_one` and `run_plan`).

use mysql_common::constants::CapabilityFlags;

use super::sharded::ShardedPath;
use super::transaction_end::MultiStatementEnd;
use super::{Ran, Session};
use crate::backend::Role;
use crate::error::ProxyError;
use crate::execute::{Command, Outcome, Shape};
use crate::router::shard::{PlanKind, ShardPlan};
use crate::router::{self};
use crate::sql::{self, Classified, SetKind, SetScope, StatementKind, TransactionScope};
use crate::wire::command;
use crate::wire::packets::{encode_eof, ErrPacket, OkPacket, Reader};

/// What answers a COM_QUERY.
enum QueryPath {
    /// An error the proxy answers at once.
    Refuse(ProxyError),
    /// `SHOW SHARDCAT …`.
    ShowShardcat(String),
    /// `SET SHARDCAT …`.
    SetShardcat(String),
    /// `EXPLAIN SHARDCAT …`.
    ExplainShardcat(String),
    /// `KILL [QUERY] id` of a shardcat session.
    Kill { id: u32, query_only: bool },
    /// `SET TRANSACTION …` for the next transaction, kept until it starts.
    DeferTransactionSettings { read_only: bool },
    /// `USE db`.
    UseDatabase(String),
    /// COMMIT/ROLLBACK of a transaction held on several nodes.
    EndTransactionEverywhere,
    /// A savepoint statement inside a transaction: on every node of it.
    SavepointEverywhere,
    /// A statement on or about sharded or broadcast tables.
    Sharded(ShardedPath),
    /// Everything else: read/write split on the session's node.
    Plain,
    /// Several statements, one naming a sharded or broadcast table: run
    /// one by one.
    Split(Vec<String>),
}

impl QueryPath {
    /// The metrics label of the path (a plan refines it in `run_plan`).
    fn label(&self) -> &'static str {
        match self {
            QueryPath::Refuse(_) | QueryPath::DeferTransactionSettings { .. } => "proxy",
            QueryPath::Split(_) => "multi_statement",
            QueryPath::ShowShardcat(_)
            | QueryPath::SetShardcat(_)
            | QueryPath::ExplainShardcat(_)
            | QueryPath::Kill { .. } => "admin",
            QueryPath::UseDatabase(_) | QueryPath::Plain => "plain",
            QueryPath::EndTransactionEverywhere => "multi_node_commit",
            QueryPath::SavepointEverywhere => "multi_node_savepoint",
            QueryPath::Sharded(p) => match *p {
                ShardedPath::Plan(_) => "single_shard",
                ShardedPath::Refused(_) => "proxy",
                _ => "metadata",
            },
        }
    }
}

/// The server's answer to several statements in one COM_QUERY from a
/// client that did not ask for CLIENT_MULTI_STATEMENTS.
fn multi_statement_refused(text: &str) -> ProxyError {
    let pieces = sql::split_statements(text);
    let near = pieces
        .get(1)
        .and_then(|r| text.get(r.clone()))
        .unwrap_or("");
    ProxyError::Backend(ErrPacket::new(
        1064,
        "42000",
        format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your \
             MariaDB server version for the right syntax to use near '{}' at line 1",
            near.chars().take(80).collect::<String>()
        ),
    ))
}

/// The statement uses no table, so that one server keeps the previous
/// statement's warnings through it (MariaDB 10.11 resets the list for a
/// statement with tables, or one that raises a condition): a `SET`, `DO`,
/// `SELECT`, transaction control, `USE` or `DEALLOCATE` without `FROM`
/// (but `FROM DUAL`), and `PREPARE`. Checked against the server by
/// `tests/clients/test_shard_warnings.py` (`run_between`).
fn uses_no_table(text: &str, c: &Classified, kept: Option<&[sql::Token]>) -> bool {
    let kind_keeps = matches!(
        c.kind,
        StatementKind::Select
            | StatementKind::Set(
                SetKind::SystemOnly
                    | SetKind::Transaction
                    | SetKind::UserVariables
                    | SetKind::Global
                    | SetKind::Other
            )
            | StatementKind::Do
            | StatementKind::Begin { .. }
            | StatementKind::Commit
            | StatementKind::Rollback
            | StatementKind::Savepoint
            | StatementKind::Use { .. }
            | StatementKind::SqlPrepare
            | StatementKind::SqlDeallocate
    );
    if !kind_keeps || c.flags.multi_statement {
        return false;
    }
    if c.kind == StatementKind::SqlPrepare {
        // `PREPARE s FROM '…'`: the statement is only parsed.
        return true;
    }
    let src = text.as_bytes();
    // The classification's tokens when kept for this text (the same
    // default lexer pass): no second pass over it.
    let lexed: Vec<_>;
    let tokens = match kept {
        Some(tokens) => tokens,
        None => {
            lexed = sql::lexer::tokenize(text)
                .into_iter()
                .filter(|t| !t.is_trivia())
                .collect();
            &lexed
        }
    };
    !tokens.iter().enumerate().any(|(i, t)| {
        t.is_keyword(src, "FROM") && !tokens.get(i + 1).is_some_and(|n| n.is_keyword(src, "DUAL"))
    })
}

impl Session {
    pub(super) async fn com_query(&mut self, payload: &[u8], seq: &mut u8) {
        // Valid UTF-8 (nearly always) is checked at the validator's speed,
        // not decoded character by character; decoded once per statement.
        let text = match std::str::from_utf8(&payload[1..]) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&payload[1..]),
        };
        let mut c = match self.pre_classified.take() {
            Some(c) => c,
            None => sql::classify_bytes(&payload[1..], self.lex_options()),
        };
        self.keeps_diagnostics = uses_no_table(&text, &c, self.kept_tokens.for_text(&text));
        self.tableless_read =
            self.pins.diagnostics && c.kind == StatementKind::Select && self.keeps_diagnostics;
        if c.flags.reads_diagnostics
            && !c.flags.multi_statement
            && self.has_shard_diagnostics()
            && self.answer_shard_diagnostics(&text, &c, false, seq).await
        {
            return;
        }
        let mut commit_first = self.implicitly_commits(&text, &c);
        if c.flags.multi_statement
            && self.caps.contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS)
            && self.transaction_held()
        {
            match self.multi_statement_end(&text) {
                MultiStatementEnd::Nothing => {}
                MultiStatementEnd::CommitFirst => commit_first = true,
                MultiStatementEnd::Refuse(e) => {
                    self.write_error_seq(&e, seq).await;
                    return;
                }
            }
        }
        if commit_first && self.transaction_held() {
            // Every node of the transaction commits before the statement.
            if let Err(e) = self.commit_before().await {
                self.write_error_seq(&e, seq).await;
                self.after_failure();
                return;
            }
        }
        let path = self.decide(&text, &mut c).await;
        self.stat.path = path.label();
        match path {
            QueryPath::Refuse(e) => self.write_error_seq(&e, seq).await,
            QueryPath::Split(pieces) => self.run_split(pieces, seq).await,
            QueryPath::ShowShardcat(rest) => self.show_shardcat(&rest, seq).await,
            QueryPath::SetShardcat(rest) => self.set_shardcat(&rest, seq).await,
            QueryPath::ExplainShardcat(inner) => self.explain_shardcat(&inner, seq).await,
            QueryPath::Kill { id, query_only } => self.kill(id, query_only, seq).await,
            QueryPath::DeferTransactionSettings { read_only } => {
                self.pending_transaction = Some((text.into_owned(), read_only));
                self.write_ok(seq, 0, 0, self.status, 0).await;
            }
            QueryPath::UseDatabase(db) => self.switch_database(db, &c, payload, seq).await,
            QueryPath::EndTransactionEverywhere => {
                self.end_transaction_everywhere(&text, &c, seq).await
            }
            QueryPath::SavepointEverywhere => self.savepoint_everywhere(&text, &c, seq).await,
            QueryPath::Sharded(path) => {
                self.run_sharded_path(path, &text, &c, seq).await;
                self.forget_columns_after(&c);
            }
            QueryPath::Plain => {
                let node = self.node_for_session();
                let plan = router::route(&c, &self.view(node));
                let command = Command::Packet(payload.into());
                if let Some(ran) = self.execute(plan, &c, &command, Shape::Results, seq).await {
                    self.after_statement(&c, &ran);
                }
                self.forget_columns_after(&c);
            }
        }
    }

    /// Which path answers a COM_QUERY (decided before anything runs; the
    /// sharded paths may read a table's columns first). Also records how a
    /// transaction the statement begins was started.
    async fn decide(&mut self, text: &str, c: &mut Classified) -> QueryPath {
        match &c.kind {
            StatementKind::Empty => {
                let e = ErrPacket::new(1065, "42000", "Query was empty");
                return QueryPath::Refuse(ProxyError::Backend(e));
            }
            StatementKind::ShowShardcat { rest_offset } => {
                let rest = text.get(*rest_offset..).unwrap_or("").trim();
                return QueryPath::ShowShardcat(rest.to_string());
            }
            StatementKind::SetShardcat { rest_offset } => {
                let rest = text.get(*rest_offset..).unwrap_or("").trim();
                return QueryPath::SetShardcat(rest.to_string());
            }
            StatementKind::ExplainShardcat { inner_offset } => {
                let inner = text.get(*inner_offset..).unwrap_or("");
                return QueryPath::ExplainShardcat(inner.to_string());
            }
            StatementKind::Kill {
                query_only,
                id: Some(id),
            } if self.proxy.owns_connection_id(*id) => {
                return QueryPath::Kill {
                    id: *id as u32,
                    query_only: *query_only,
                };
            }
            _ => {}
        }
        if c.flags.multi_statement {
            if !self.caps.contains(CapabilityFlags::CLIENT_MULTI_STATEMENTS) {
                return QueryPath::Refuse(multi_statement_refused(text));
            }
            *c = self.classify_multi(text, c.clone());
            if let Some(pieces) = self.multi_statement_on_rule_tables(text) {
                return QueryPath::Split(pieces);
            }
        }
        if let Some(read_only) = self.next_transaction_settings(text, c) {
            return QueryPath::DeferTransactionSettings { read_only };
        }
        self.note_transaction_start(text, c);
        if let StatementKind::Use { database } = &c.kind {
            return QueryPath::UseDatabase(database.clone());
        }
        if matches!(c.kind, StatementKind::Commit | StatementKind::Rollback) && self.held.len() > 1
        {
            return QueryPath::EndTransactionEverywhere;
        }
        if c.kind == StatementKind::Savepoint
            && !c.flags.multi_statement
            && (self.transaction_held() || !self.state.autocommit())
        {
            return QueryPath::SavepointEverywhere;
        }
        if !c.flags.multi_statement {
            if let Some(path) = self.sharded_path(text, c).await {
                return QueryPath::Sharded(path);
            }
        }
        QueryPath::Plain
    }

    /// `SET TRANSACTION …` for the next transaction only, outside one: kept
    /// for the connection that runs the next statement. `Some(read_only)`
    /// when `text` is one.
    fn next_transaction_settings(&self, text: &str, c: &Classified) -> Option<bool> {
        if !matches!(c.kind, StatementKind::Set(SetKind::Transaction)) || self.pins.transaction {
            return None;
        }
        let assigns = sql::set_assignments(text);
        let next_only = !assigns.is_empty()
            && assigns
                .iter()
                .all(|a| a.scope == SetScope::Transaction(TransactionScope::Next));
        if !next_only {
            return None;
        }
        Some(assigns.iter().any(|a| {
            a.name == "transaction_read_only"
                && text
                    .get(a.value_text.clone())
                    .is_some_and(|v| v.to_ascii_uppercase().contains("ONLY"))
        }))
    }

    /// A `BEGIN`/`START TRANSACTION`: remembers its text (replayed on every
    /// node the transaction reaches) and whether a deferred `SET
    /// TRANSACTION READ ONLY` makes it read-only.
    fn note_transaction_start(&mut self, text: &str, c: &mut Classified) {
        if matches!(c.kind, StatementKind::Begin { .. }) && !c.flags.multi_statement {
            self.transaction_start = self
                .pending_transaction
                .iter()
                .map(|(sql, _)| sql.clone())
                .chain(std::iter::once(text.to_string()))
                .collect();
        }
        if let StatementKind::Begin {
            read_only: false,
            read_write: false,
        } = c.kind
        {
            if self.pending_transaction.as_ref().is_some_and(|(_, ro)| *ro) {
                c.kind = StatementKind::Begin {
                    read_only: true,
                    read_write: false,
                };
            }
        }
    }

    /// COMMIT or ROLLBACK of a transaction that touched several nodes: on
    /// every node's connection (see `transaction_end::end_held`).
    pub(super) async fn end_transaction_everywhere(
        &mut self,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        let commit = matches!(c.kind, StatementKind::Commit);
        let (status, failure) = match self.end_held(commit, text).await {
            Ok(status) => (status, None),
            Err(e) => (self.status, Some(e)),
        };
        let outcome = Outcome {
            status,
            error: failure.as_ref().map(|e| e.to_err_packet()),
            ..Outcome::default()
        };
        match &failure {
            Some(e) => self.write_error_seq(e, seq).await,
            None => self.write_ok(seq, 0, 0, status, 0).await,
        }
        self.held.retain(|h| !h.conn.broken);
        let node = self.node_for_session();
        self.after_statement(c, &Ran { outcome, node });
    }

    /// `USE db` and COM_INIT_DB: run on the node that holds `db`. When that
    /// is another node, the connection there is synced to `db` directly
    /// (the current database may not exist on it); on failure the session
    /// keeps its database, as MySQL does.
    pub(super) async fn switch_database(
        &mut self,
        db: String,
        c: &Classified,
        payload: &[u8],
        seq: &mut u8,
    ) {
        let node = self.proxy.config.load().node_for_schema(Some(&db));
        let previous = self.state.schema.clone();
        if node != self.node_for_session() {
            self.state.schema = Some(db.clone());
        }
        let mut plan = router::route(c, &self.view(node));
        // USE only validates the name (the proxy replays the current database
        // on every connection it later uses), and the primary is the authority
        // on which databases exist: a lagging replica would answer 1049 for a
        // database created a moment ago. Replicas answer while it is down.
        if plan.role == Role::Replica
            && !self.pins.transaction
            && !self.read_only_tx
            && self.primary_is_healthy(node)
        {
            plan.role = Role::Primary;
            plan.reason = "current database is checked on the primary";
        }
        match self
            .execute(
                plan,
                c,
                &Command::Packet(payload.into()),
                Shape::Results,
                seq,
            )
            .await
        {
            Some(ran) => {
                if ran.outcome.error.is_none() && ran.outcome.failure.is_none() {
                    self.state.schema = Some(db);
                } else {
                    self.state.schema = previous;
                }
                self.after_statement(c, &ran);
            }
            None => self.state.schema = previous,
        }
    }

    /// A multi-statement runs as one unit: on the primary unless every part
    /// is a plain read, with the flags of all parts.
    /// Several statements in one COM_QUERY where one of them is the
    /// sharding router's: the statements, to run one by one (one server
    /// would run them in order too). `None`: the backend runs them all.
    fn multi_statement_on_rule_tables(&self, text: &str) -> Option<Vec<String>> {
        let router = self.proxy.shard_router.load_full()?;
        let schema = self.state.schema.as_deref();
        let pieces: Vec<String> = sql::split_statements(text)
            .into_iter()
            .filter_map(|r| text.get(r))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let routed = |piece: &str| {
            !matches!(
                router.plan_with(piece, schema, &[], false),
                Ok(None)
                    | Ok(Some(ShardPlan {
                        kind: PlanKind::Unsharded { .. },
                        ..
                    }))
            )
        };
        pieces.iter().any(|p| routed(p)).then_some(pieces)
    }

    /// Runs the statements of a split multi-statement query one by one as
    /// one answer: every result but the last says more follow
    /// (`SERVER_MORE_RESULTS_EXISTS`, set in its final packet, which the
    /// client stream holds back until then); an error ends the answer.
    async fn run_split(&mut self, pieces: Vec<String>, seq: &mut u8) {
        let n = pieces.len();
        for (i, piece) in pieces.into_iter().enumerate() {
            let last = i + 1 == n;
            self.client.hold_last(!last);
            let mut payload = Vec::with_capacity(piece.len() + 1);
            payload.push(command::QUERY);
            payload.extend_from_slice(piece.as_bytes());
            Box::pin(self.com_query(&payload, seq)).await;
            if last {
                break;
            }
            self.client.hold_last(false);
            let more = self
                .client
                .last_payload_mut()
                .is_some_and(crate::wire::packets::set_more_results);
            if !more {
                // An ERR (or a lost client): the answer ends here.
                break;
            }
        }
        self.client.hold_last(false);
    }

    pub(super) fn classify_multi(&self, text: &str, mut whole: Classified) -> Classified {
        let mut all_reads = true;
        for r in sql::split_statements(text) {
            let part = sql::classify(text.get(r).unwrap_or(""));
            all_reads &= router::is_plain_read(&part) || router::is_session_only(&part);
            let f = &mut whole.flags;
            let p = &part.flags;
            f.locking_read |= p.locking_read;
            f.assigns_user_variable |= p.assigns_user_variable;
            f.temporary_table |= p.temporary_table;
            f.named_lock |= p.named_lock;
            f.side_effect_function |= p.side_effect_function;
            f.calc_found_rows |= p.calc_found_rows;
            if !matches!(
                part.kind,
                StatementKind::Select
                    | StatementKind::Set(SetKind::SystemOnly)
                    | StatementKind::Use { .. }
            ) {
                whole.kind = part.kind.clone();
            }
        }
        if !all_reads && router::is_plain_read(&whole) {
            whole.kind = StatementKind::Other;
        }
        whole
    }

    pub(super) async fn com_init_db(&mut self, payload: &[u8], seq: &mut u8) {
        let db = String::from_utf8_lossy(&payload[1..]).into_owned();
        let c = sql::classify(&format!("USE `{}`", db.replace('`', "``")));
        self.switch_database(db, &c, payload, seq).await;
    }

    /// COM_FIELD_LIST and COM_STATISTICS: answered by a server of the
    /// session's node.
    pub(super) async fn forward_simple(&mut self, payload: &[u8], seq: &mut u8, cmd: u8) {
        let c = sql::classify("SELECT 1");
        let node = self.node_for_session();
        let plan = router::route(&c, &self.view(node));
        if cmd == command::STATISTICS {
            // One plain string packet comes back.
            match self.acquire(&plan, &c).await {
                Ok(i) => {
                    let conn = &mut self.held[i].conn;
                    let res = async {
                        conn.send_command(payload).await?;
                        conn.read_packet().await
                    }
                    .await;
                    match res {
                        Ok(p) => {
                            let _ = self.client.send(seq, &p.payload).await;
                        }
                        Err(e) => {
                            self.drop_held(i);
                            self.write_error_seq(&e, seq).await;
                        }
                    }
                    self.release_unpinned();
                }
                Err(e) => self.write_error_seq(&e, seq).await,
            }
            return;
        }
        if let Some(ran) = self
            .execute(
                plan,
                &c,
                &Command::Packet(payload.into()),
                Shape::FieldList,
                seq,
            )
            .await
        {
            let _ = ran;
            self.release_unpinned();
        }
    }

    pub(super) async fn com_set_option(&mut self, payload: &[u8], seq: &mut u8) {
        match Reader::new(&payload[1..]).u16() {
            Some(0) => self.caps |= CapabilityFlags::CLIENT_MULTI_STATEMENTS,
            Some(1) => self.caps &= !CapabilityFlags::CLIENT_MULTI_STATEMENTS,
            _ => {
                self.write_error_seq(&ProxyError::UnknownCommand(command::SET_OPTION), seq)
                    .await;
                return;
            }
        }
        let mut buf = Vec::new();
        if self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
            OkPacket {
                status: self.status,
                ..OkPacket::default()
            }
            .encode(self.caps, 0xFE, &mut buf);
        } else {
            encode_eof(&mut buf, 0, self.status);
        }
        let _ = self.client.send(seq, &buf).await;
    }
}
