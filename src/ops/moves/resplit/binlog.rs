//! A resplit's catch-up on one node: a binary log reader (mysql_async's
//! binlog stream, registered as a replica with a server id of its own) from
//! the copy's snapshot position, replaying each row change of the old
//! tables into the new table its key maps to, one source transaction as one
//! target transaction (same server):
//!
//! - insert → `REPLACE` into the new table of the row's key;
//! - delete → `DELETE` by primary key from the new table of the row's key;
//! - update → `DELETE` of the before image (by its key's table and primary
//!   key) and `REPLACE` of the after image (a key change crossing new
//!   slots is a delete in one table and an insert in another).
//!
//! Each step sets rows to their logged image (`binlog_row_image = FULL`),
//! so replaying a stretch again (after a crash of the tool: it restarts from
//! the last recorded position) ends in the same state. MariaDB streams to a
//! replica that announces no capability the events of an old MySQL (GTID
//! and annotate events become dummies), which `mysql_common` decodes.
//!
//! An XA branch's rows are held from its `XA PREPARE` to its `XA COMMIT`
//! (applied then) or `XA ROLLBACK` (dropped): `xa`.
//!
//! Once the verification starts (`verify`), the reader also notes the
//! primary key of every row it replays (`Shared::dirty`, filled in the same
//! step that moves `applied`): the keys written after the online
//! verification are what is left to check.
//!
//! A lost server (a restart, a killed connection) is not the end: the
//! reader reconnects to the same address once a second, up to [`RETRIES`]
//! times in a row without progress, and reads on from its recorded
//! position (`Shared::resume_at`).
//!
//! Without a rule (a move's key watch, `moves::watch`) the reader applies
//! nothing: it notes the keys of the rows written from its start on, and
//! flags a write of the schema logged as a statement (`Shared::blind`).
//!
//! Owns: the reader task, the applied position, the keys written. Must
//! not: decide when to switch (`switch`), record the position (`mod` does,
//! from `applied`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn, Params, Value};
use parking_lot::Mutex;

use super::rows::OldTable;
use super::xa::{gtid_body, Branches};
use crate::config::Config;
use crate::ops::moves::steps::qualified;
use crate::ops::node_primary::connect_primary;
use crate::ops::tables::ddl::quote;
use crate::ops::tables::live::connect_addr;
use crate::placement::{KeyType, ShardedTable};

/// `MARIA_SLAVE_CAPABILITY_GTID`: the replica understands MariaDB's GTID
/// events.
const MARIA_SLAVE_CAPABILITY_GTID: u8 = 4;
/// MariaDB's `GTID_EVENT` type and its `FL_STANDALONE` flag (a statement
/// outside any transaction follows: DDL).
const MARIADB_GTID_EVENT: u8 = 162;
const FL_STANDALONE: u8 = 1;
/// The event ending an XA transaction's prepared part.
const XA_PREPARE_LOG_EVENT: u8 = 38;

/// A rotate event's file name without what follows its number: the
/// server's first (artificial) rotate comes before the format description,
/// so its checksum is still attached to the name.
fn log_name(raw: &str) -> String {
    match raw.rfind('.') {
        Some(dot) => {
            let digits = raw[dot + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            raw[..dot + 1 + digits].to_owned()
        }
        None => raw.to_owned(),
    }
}

/// A binary log position; orders like the log (file names have a fixed
/// width number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub(crate) file: String,
    pub(crate) pos: u64,
}

impl Pos {
    pub(crate) fn parse(text: &str) -> Result<Pos, String> {
        let (file, pos) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("bad binary log position `{text}`"))?;
        Ok(Pos {
            file: file.to_owned(),
            pos: pos
                .parse()
                .map_err(|_| format!("bad binary log position `{text}`"))?,
        })
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// What the reader shares with the command.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Applied up to (a transaction boundary).
    pub(crate) applied: Option<Pos>,
    /// Row changes replayed.
    pub(crate) changes: u64,
    /// The error that stopped the reader.
    pub(crate) error: Option<String>,
    /// Unix time of the last transaction applied (its event's timestamp).
    pub(crate) applied_time: u32,
    /// From the start of the verification on: the keys of the rows
    /// replayed since (`verify` takes them).
    pub(crate) dirty: Option<Dirty>,
    /// The start of the earliest prepared XA branch held (`xa`): a
    /// restarted reader starts there at the latest.
    pub(crate) floor: Option<Pos>,
    /// Reconnections after a lost server.
    pub(crate) reconnects: u32,
    /// A noting reader (no rule): the first statement it read that wrote
    /// rows logged as text (their keys unknown).
    pub(crate) blind: Option<String>,
}

impl Shared {
    /// Where a restarted reader starts: `applied`, or the start of a held
    /// branch before it.
    pub(crate) fn resume_at(&self) -> Option<Pos> {
        match (&self.applied, &self.floor) {
            (Some(a), Some(f)) if f < a => Some(f.clone()),
            (a, _) => a.clone(),
        }
    }
}

/// Keys written: old table (lower case) → a key's text → its values.
pub(crate) type Dirty = BTreeMap<String, HashMap<String, Vec<Value>>>;

/// Adds `keys` to `dirty`.
pub(crate) fn note(dirty: &mut Dirty, keys: impl IntoIterator<Item = (String, Vec<Value>)>) {
    for (table, key) in keys {
        dirty
            .entry(table)
            .or_default()
            .insert(format!("{key:?}"), key);
    }
}

/// A running reader.
pub(crate) struct Reader {
    pub(crate) node: String,
    pub(crate) shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Reader {
    /// Stops the reader (between two events or two target transactions:
    /// the target connection is dropped, an open transaction rolls back).
    pub(crate) fn stop(self) {
        self.task.abort();
    }
}

impl Drop for Reader {
    /// A reader dropped (an error's early return) stops too.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the reader routes by.
pub(crate) struct Routes {
    pub(crate) schema: String,
    /// Old table name (lower case) → its shape and new tables.
    pub(crate) tables: HashMap<String, OldTable>,
    /// The new rule (a resplit); none: only the keys are noted (a move's
    /// verification).
    pub(crate) rule: Option<ShardedTable>,
    pub(crate) key_type: KeyType,
    /// What the operator can do when DDL on a source table stops the
    /// reader (the error's end).
    pub(crate) on_ddl: &'static str,
    /// The reverse replay's: several source tables merge into one target,
    /// so a row whose primary key lacks the sharding key is first looked
    /// up in the target (`Op::Guard`).
    pub(crate) merge: bool,
}

/// The source table a statement outside a transaction changes the shape
/// or rows of (`ALTER`, `DROP`, `RENAME`, `TRUNCATE`, `CREATE … INDEX …
/// ON`), if it names one of `tables` (lower case → table)
/// in `schema`: the reader replays rows, not DDL.
fn ddl_on(
    schema: &str,
    tables: &HashMap<String, OldTable>,
    default_schema: &str,
    text: &str,
) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$' || c == '.' || c == '`'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('`', "").to_ascii_lowercase())
        .collect();
    let first = words.first()?.as_str();
    let shaping = match first {
        "alter" | "drop" | "rename" | "truncate" => true,
        "create" => words.iter().any(|w| w == "index"),
        _ => false,
    };
    if !shaping {
        return None;
    }
    let in_schema = default_schema.eq_ignore_ascii_case(schema);
    let schema = schema.to_ascii_lowercase();
    words.iter().find_map(|w| {
        let name = match w.split_once('.') {
            Some((s, t)) if s == schema => t,
            Some(_) => return None,
            None if in_schema => w.as_str(),
            None => return None,
        };
        tables.get(name).map(|t| t.name.clone())
    })
}

/// One replayed change.
pub(super) enum Op {
    /// Before a merged row's `REPLACE`: a row of the target with its
    /// primary key must be absent or come from the same source table
    /// (its key's slot `slot`), else two new tables generated the same
    /// key (an `AUTO_INCREMENT` per table) and the merge would lose one.
    Guard {
        table: String,
        /// The key column, `pk1 = ? AND …`, the primary key's values.
        column: String,
        cond: String,
        key: Vec<Value>,
        slot: usize,
        source: String,
    },
    Replace {
        table: String,
        row: Vec<Value>,
    },
    Delete {
        table: String,
        /// `pk1 = ? AND pk2 = ?`.
        cond: String,
        key: Vec<Value>,
    },
}

/// Reconnections a reader makes after losing its server (a restart, a
/// dropped connection), one a second (as a move's channel,
/// `MASTER_CONNECT_RETRY = 1`), before it stops; the count starts again
/// once it has read on.
const RETRIES: u32 = 60;
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The server a reader reads: the node's primary as first found (a binary
/// log position means something on that server only: a reconnection never
/// goes to another).
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) addr: String,
    user: String,
    password: String,
    timeout_ms: u64,
}

impl Server {
    /// `node`'s primary.
    pub(crate) async fn of(cfg: &Config, node: &str) -> Result<Server, String> {
        let (conn, addr) = connect_primary(cfg, node).await?;
        let _ = conn.disconnect().await;
        Ok(Server {
            addr,
            user: cfg.backend.user.clone(),
            password: cfg.backend.password.clone(),
            timeout_ms: cfg.backend.connect_timeout_ms,
        })
    }

    async fn connect(&self) -> Result<Conn, Stop> {
        connect_addr(&self.addr, &self.user, &self.password, self.timeout_ms)
            .await
            .map_err(Stop::Lost)
    }
}

/// Why a reading stopped: the server went away (read again from the
/// recorded position after a reconnection), or for good.
#[derive(Debug)]
enum Stop {
    Lost(String),
    Fatal(String),
}

/// A driver error: a lost connection or server (shutdown, killed, gone) is
/// [`Stop::Lost`].
fn stop(what: &'static str) -> impl Fn(mysql_async::Error) -> Stop {
    move |e| {
        let lost = match &e {
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
            // Shutdown in progress, connection killed, server gone / lost,
            // network read/write errors.
            mysql_async::Error::Server(s) => {
                [1053, 1927, 2006, 2013, 1158, 1159, 1160, 1161].contains(&s.code)
            }
            _ => false,
        };
        match lost {
            true => Stop::Lost(format!("{what}: {e}")),
            false => Stop::Fatal(format!("{what}: {e}")),
        }
    }
}

/// Starts reading `server`'s binary log from `from`, applying (a resplit:
/// `routes.rule` set) or only noting the keys written (a move: no rule;
/// noting from the start).
pub(crate) async fn start(
    node: &str,
    server: Server,
    from: Pos,
    routes: Routes,
) -> Result<Reader, String> {
    // A server id no replica of the topology uses (the registration of an
    // equal id would cut that replica off).
    let server_id = 0x5C00_0000u32 | (rand::random::<u32>() & 0x00FF_FFFF);
    let dirty = routes.rule.is_none().then(Dirty::new);
    let shared = Arc::new(Mutex::new(Shared {
        applied: Some(from.clone()),
        dirty,
        ..Shared::default()
    }));
    let s2 = shared.clone();
    let task = tokio::spawn(async move {
        let e = keep_reading(&server, &routes, from, server_id, &s2).await;
        s2.lock().error = Some(e);
    });
    Ok(Reader {
        node: node.to_owned(),
        shared,
        task,
    })
}

/// Reads until a fatal error or [`RETRIES`] reconnections in a row; each
/// reconnection reads from the recorded position on (`Shared::resume_at`:
/// a stretch read again ends in the same state). The error.
async fn keep_reading(
    server: &Server,
    routes: &Routes,
    from: Pos,
    server_id: u32,
    shared: &Mutex<Shared>,
) -> String {
    let mut lost = 0;
    loop {
        let at = shared.lock().resume_at().unwrap_or_else(|| from.clone());
        let e = match run(server, routes, at.clone(), server_id, shared).await {
            Stop::Fatal(e) => return e,
            Stop::Lost(e) => e,
        };
        if shared.lock().resume_at().is_some_and(|now| now > at) {
            lost = 0;
        }
        lost += 1;
        if lost > RETRIES {
            return format!("{e} (no reconnection in {RETRIES} tries)");
        }
        shared.lock().reconnects += 1;
        tracing::warn!(
            "binary log reader of {}: {e}; reconnecting from {at}",
            server.addr
        );
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// One connection's reading from `from` (see the module doc); why it
/// stopped.
async fn run(
    server: &Server,
    routes: &Routes,
    from: Pos,
    server_id: u32,
    shared: &Mutex<Shared>,
) -> Stop {
    let mut stream_conn = match server.connect().await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(from.file.as_bytes())
        .with_pos(from.pos);
    // MariaDB's own events (GTID = transaction start, GTID list, binlog
    // checkpoint) as they are: a replica announcing no capability gets
    // them converted, which MariaDB refuses for some GTID events (1236
    // "Failed to replace GTID event with backwards-compatible event").
    let announced = stream_conn
        .query_drop(format!(
            "SET @mariadb_slave_capability = {MARIA_SLAVE_CAPABILITY_GTID}"
        ))
        .await
        .map_err(stop("announcing the reader's capability"));
    if let Err(e) = announced {
        return e;
    }
    let stream = match stream_conn.get_binlog_stream(request).await {
        Ok(s) => s,
        Err(e) => return stop("binlog stream")(e),
    };
    let apply = match routes.rule {
        Some(_) => {
            let mut apply = match server.connect().await {
                Ok(c) => c,
                Err(e) => return e,
            };
            let fk = apply.query_drop("SET SESSION foreign_key_checks = 0").await;
            if let Err(e) = fk {
                return stop("applier")(e);
            }
            Some(apply)
        }
        None => None,
    };
    match read(stream, apply, from, routes, shared).await {
        Ok(()) => Stop::Lost("the binary log stream ended".into()),
        Err(e) => e,
    }
}

/// Reads and replays `stream` (see the module doc).
async fn read(
    mut stream: BinlogStream,
    mut apply: Option<Conn>,
    from: Pos,
    routes: &Routes,
    shared: &Mutex<Shared>,
) -> Result<(), Stop> {
    let mut current = from.file.clone();
    // The server's first, artificial rotate names the file asked for; its
    // name still carries the checksum (before the format description), and
    // a checksum byte that is a digit would lengthen the number.
    let mut first_rotate = true;
    let mut pending: Vec<Op> = Vec::new();
    let mut xa = Branches::default();
    // Where the group being read starts (the last boundary).
    let mut group_start = from.clone();
    // (old table, primary key) of each pending op.
    let mut keys: Vec<(String, Vec<Value>)> = Vec::new();
    let mut in_tx = false;
    let trace = std::env::var_os("SHARDCAT_RESPLIT_TRACE").is_some();
    while let Some(event) = stream.next().await {
        let event = event.map_err(stop("reading the binary log"))?;
        let log_pos = u64::from(event.header().log_pos());
        let data = event
            .read_data()
            .map_err(|e| Stop::Fatal(format!("decoding a binary log event: {e}")))?;
        let mut boundary = false;
        if trace {
            tracing::info!(
                "binlog {current}:{log_pos} type {} in_tx {in_tx} pending {}",
                event.header().event_type_raw(),
                pending.len()
            );
        }
        match data {
            Some(EventData::RotateEvent(r)) => {
                if !std::mem::take(&mut first_rotate) {
                    current = log_name(&r.name());
                }
                let at = Some(Pos {
                    file: current.clone(),
                    pos: r.position(),
                });
                let mut s = shared.lock();
                if !in_tx && at > s.applied {
                    s.applied = at;
                }
                continue;
            }
            Some(EventData::QueryEvent(q)) => {
                let text = q.query();
                let word = text.trim().to_ascii_uppercase();
                if word == "BEGIN" {
                    in_tx = true;
                } else if xa.completing() && word.starts_with("XA ") {
                    xa.complete(word.starts_with("XA COMMIT"), &mut pending, &mut keys);
                    boundary = true;
                } else if word == "COMMIT" || word == "ROLLBACK" {
                    if word == "ROLLBACK" {
                        pending.clear();
                        keys.clear();
                    }
                    boundary = true;
                } else if !in_tx {
                    if let Some(table) = ddl_on(&routes.schema, &routes.tables, &q.schema(), &text)
                    {
                        return Err(Stop::Fatal(format!(
                            "DDL on `{}`.`{table}` at {current}:{log_pos}: `{}` — {}",
                            routes.schema,
                            text.chars().take(200).collect::<String>(),
                            routes.on_ddl
                        )));
                    }
                    boundary = true;
                }
                // A write of the schema logged as a statement (not as
                // rows): its rows' keys are unknown.
                let schema = routes.schema.to_ascii_uppercase();
                let ours =
                    q.schema().eq_ignore_ascii_case(&routes.schema) || word.contains(&schema);
                if routes.rule.is_none() && ours && statement_writes(&word) {
                    shared.lock().blind.get_or_insert(text.into_owned());
                }
            }
            Some(EventData::XidEvent(_)) => boundary = true,
            // An XA branch's prepared part ends here: held until its `XA
            // COMMIT` or `XA ROLLBACK` (`xa`).
            _ if event.header().event_type_raw() == XA_PREPARE_LOG_EVENT => {
                xa.prepare(&mut pending, &mut keys, &group_start);
                boundary = true;
            }
            Some(EventData::RowsEvent(rows)) => {
                let Some(tme) = stream.get_tme(rows.table_id()) else {
                    return Err(Stop::Fatal("a rows event without its table map".into()));
                };
                if trace {
                    tracing::info!("rows of {}.{}", tme.database_name(), tme.table_name());
                }
                if tme.database_name() == routes.schema.as_str() {
                    let name = tme.table_name().to_ascii_lowercase();
                    if let Some(t) = routes.tables.get(&name) {
                        changes(routes, t, &rows, tme, &mut pending, &mut keys)
                            .map_err(Stop::Fatal)?;
                    }
                }
                if !in_tx {
                    // Rows outside BEGIN … COMMIT (a non-transactional
                    // table): each statement's events end it.
                    boundary = true;
                }
            }
            _ if event.header().event_type_raw() == MARIADB_GTID_EVENT => {
                let (flags, xid) = gtid_body(event.data());
                in_tx = flags & FL_STANDALONE == 0;
                xa.group(flags, xid);
                continue;
            }
            _ => {
                if !in_tx {
                    boundary = true;
                }
            }
        }
        if boundary {
            in_tx = false;
            let n = pending.len() as u64;
            if let Some(apply) = apply.as_mut() {
                flush(apply, routes, &mut pending).await?;
            }
            let mut s = shared.lock();
            s.changes += n;
            s.applied_time = event.header().timestamp();
            match s.dirty.as_mut() {
                Some(dirty) => note(dirty, keys.drain(..)),
                None => keys.clear(),
            }
            let at = Some(Pos {
                file: current.clone(),
                pos: log_pos,
            });
            // Artificial events (position 0, or the format description
            // re-sent from the file's start) never move it back.
            if log_pos > 0 && at > s.applied {
                s.applied = at.clone();
            }
            if let Some(at) = at.filter(|_| log_pos > 0) {
                group_start = at;
            }
            s.floor = xa.floor();
        }
    }
    Ok(())
}

/// Whether a statement logged as text writes rows (or a table's shape).
fn statement_writes(word: &str) -> bool {
    [
        "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD", "TRUNCATE", "ALTER", "DROP", "RENAME",
    ]
    .iter()
    .any(|w| word.starts_with(w))
}

/// The ops of one rows event.
fn changes(
    routes: &Routes,
    t: &OldTable,
    rows: &RowsEventData<'_>,
    tme: &mysql_async::binlog::events::TableMapEvent<'_>,
    out: &mut Vec<Op>,
    keys: &mut Vec<(String, Vec<Value>)>,
) -> Result<(), String> {
    let table = t.name.to_ascii_lowercase();
    let Some(rule) = &routes.rule else {
        for pair in rows.rows(tme) {
            let (before, after) =
                pair.map_err(|e| format!("decoding rows of `{}`: {e}", t.name))?;
            for image in [before, after].iter().flatten() {
                keys.push((table.clone(), key_of(t, image)?));
            }
        }
        return Ok(());
    };
    for pair in rows.rows(tme) {
        let (before, after) = pair.map_err(|e| format!("decoding rows of `{}`: {e}", t.name))?;
        if let Some(before) = before {
            let row = values(t, &before)?;
            let target = t.route_logged(rule, routes.key_type, &row[t.key])?;
            let key: Vec<Value> = t.pk.iter().map(|i| row[*i].clone()).collect();
            keys.push((table.clone(), key.clone()));
            out.push(Op::Delete {
                table: target.to_owned(),
                cond: pk_condition(t),
                key,
            });
        }
        if let Some(after) = after {
            let row = values(t, &after)?;
            let target = t.route_logged(rule, routes.key_type, &row[t.key])?;
            keys.push((
                table.clone(),
                t.pk.iter().map(|i| row[*i].clone()).collect(),
            ));
            if routes.merge && !t.pk.contains(&t.key) {
                out.push(Op::Guard {
                    table: target.to_owned(),
                    column: t.columns[t.key].clone(),
                    cond: pk_condition(t),
                    key: t.pk.iter().map(|i| row[*i].clone()).collect(),
                    slot: t.new_tables.keys().copied().next().unwrap_or_default(),
                    source: t.name.clone(),
                });
            }
            out.push(Op::Replace {
                table: target.to_owned(),
                row,
            });
        }
    }
    Ok(())
}

/// A logged row's primary key (an image without it is refused).
fn key_of(t: &OldTable, row: &mysql_async::binlog::row::BinlogRow) -> Result<Vec<Value>, String> {
    t.pk.iter()
        .map(|i| match row.as_ref(*i) {
            Some(BinlogValue::Value(v)) if row.len() == t.columns.len() => Ok(t.fix(*i, v.clone())),
            _ => Err(format!(
                "a logged row of `{}` lacks its primary key `{}` (binlog_row_image = FULL \
                 and the table unchanged during the move are needed)",
                t.name,
                t.columns.get(*i).map_or("?", String::as_str)
            )),
        })
        .collect()
}

/// `pk1 = ? AND pk2 = ?`.
fn pk_condition(t: &OldTable) -> String {
    t.pk.iter()
        .map(|i| format!("{} = ?", quote(&t.columns[*i])))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// A logged row's values, all columns (a partial image is refused).
fn values(t: &OldTable, row: &mysql_async::binlog::row::BinlogRow) -> Result<Vec<Value>, String> {
    if row.len() != t.columns.len() {
        return Err(format!(
            "a logged row of `{}` has {} columns, the table {}: the table changed during the resplit",
            t.name,
            row.len(),
            t.columns.len()
        ));
    }
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            Some(BinlogValue::Value(v)) => Ok(t.fix(i, v.clone())),
            Some(_) => Err(format!(
                "`{}`.`{}`: a JSON value in MySQL's binary form",
                t.name, t.columns[i]
            )),
            None => Err(format!(
                "a logged row of `{}` lacks `{}`: set binlog_row_image = FULL",
                t.name, t.columns[i]
            )),
        })
        .collect()
}

/// Applies a source transaction's ops as one transaction.
async fn flush(apply: &mut Conn, routes: &Routes, pending: &mut Vec<Op>) -> Result<(), Stop> {
    if pending.is_empty() {
        return Ok(());
    }
    let schema = routes.schema.as_str();
    let err = stop("replaying into a new table");
    apply.query_drop("BEGIN").await.map_err(&err)?;
    for op in pending.drain(..) {
        match op {
            Op::Guard {
                table,
                column,
                cond,
                key,
                slot,
                source,
            } => {
                let sql = format!(
                    "SELECT {} FROM {} WHERE {cond}",
                    quote(&column),
                    qualified(schema, &table)
                );
                let held: Option<Value> = apply
                    .exec_first(sql, Params::Positional(key.clone()))
                    .await
                    .map_err(&err)?;
                let Some(held) = held else { continue };
                let Some(rule) = &routes.rule else { continue };
                if super::rows::slot_of(rule, routes.key_type, &held).map_err(Stop::Fatal)? != slot
                {
                    let shown: Vec<String> = key.iter().map(|v| v.as_sql(false)).collect();
                    return Err(Stop::Fatal(format!(
                        "`{table}` already holds the primary key ({}) from another new table \
                         than `{source}`: its new tables generated the same key (a primary key \
                         without the sharding key, numbered per table), which the old table \
                         cannot hold twice; the traffic cannot go back to the old tables \
                         (--cleanup keeps the new ones; ids unique across tables — a \
                         [[sequence]], or the sharding key in the primary key — allow it)",
                        shown.join(", ")
                    )));
                }
            }
            Op::Replace { table, row } => {
                let marks = vec!["?"; row.len()].join(",");
                apply
                    .exec_drop(
                        format!(
                            "REPLACE INTO {} VALUES ({marks})",
                            qualified(schema, &table)
                        ),
                        Params::Positional(row),
                    )
                    .await
                    .map_err(&err)?;
            }
            Op::Delete { table, cond, key } => {
                apply
                    .exec_drop(
                        format!("DELETE FROM {} WHERE {cond}", qualified(schema, &table)),
                        Params::Positional(key),
                    )
                    .await
                    .map_err(&err)?;
            }
        }
    }
    apply.query_drop("COMMIT").await.map_err(&err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_on_a_source_table_is_named() {
        let t = OldTable {
            name: "Accounts_0".into(),
            columns: vec!["k".into()],
            unsigned_bits: vec![None],
            pk: vec![0],
            key: 0,
            new_tables: HashMap::new(),
        };
        let tables = HashMap::from([("accounts_0".to_string(), t)]);
        let on = |db: &str, sql: &str| ddl_on("shop", &tables, db, sql);
        assert_eq!(
            on("shop", "ALTER TABLE `accounts_0` ADD COLUMN x INT").as_deref(),
            Some("Accounts_0")
        );
        assert_eq!(
            on("other", "alter table shop.accounts_0 add index (k)").as_deref(),
            Some("Accounts_0")
        );
        assert_eq!(on("other", "ALTER TABLE accounts_0 ADD x INT"), None);
        assert_eq!(on("shop", "ALTER TABLE accounts_0_rs4 ADD x INT"), None);
        assert_eq!(on("shop", "INSERT INTO accounts_0 VALUES (1)"), None);
        assert_eq!(on("shop", "CREATE TABLE t2 LIKE accounts_0"), None);
        assert_eq!(
            on("shop", "CREATE INDEX i ON accounts_0 (k)").as_deref(),
            Some("Accounts_0")
        );
    }

    #[test]
    fn log_names_and_positions() {
        assert_eq!(
            log_name("mysql-bin.000001<\u{fffd}\u{fffd}"),
            "mysql-bin.000001"
        );
        assert_eq!(log_name("mysql-bin.000012"), "mysql-bin.000012");
        let a = Pos::parse("mysql-bin.000001:900").unwrap();
        let b = Pos::parse("mysql-bin.000002:4").unwrap();
        assert!(a < b && a.to_string() == "mysql-bin.000001:900");
        assert!(Pos::parse("nope").is_err());
    }
}
