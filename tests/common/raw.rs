//! A tiny raw MySQL client over `tokio::net::TcpStream`, for tests that
//! need control over the bytes on the wire (malformed packets, capability
//! flags, status flags, pipelined commands, `new_params_bound = 0`...).
//!
//! Include it from a test file with
//! `#[path = "common/raw.rs"] mod raw;` (it is self-contained).
#![allow(dead_code)]

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "raw_result.rs"]
mod result;
#[allow(unused_imports)]
pub use result::{read_n_rows, read_result_header, read_rows_to_end, ResultEnd};

// Capability flags (subset).
pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
pub const CLIENT_FOUND_ROWS: u32 = 0x0000_0002;
pub const CLIENT_LONG_FLAG: u32 = 0x0000_0004;
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub const CLIENT_SSL: u32 = 0x0000_0800;
pub const CLIENT_TRANSACTIONS: u32 = 0x0000_2000;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub const CLIENT_MULTI_STATEMENTS: u32 = 0x0001_0000;
pub const CLIENT_MULTI_RESULTS: u32 = 0x0002_0000;
pub const CLIENT_PS_MULTI_RESULTS: u32 = 0x0004_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// Default capabilities: 4.1 protocol, native auth, multi results, no
/// multi-statements, classic EOF packets.
pub const DEFAULT_CAPS: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH;

// Status flags.
pub const SERVER_STATUS_IN_TRANS: u16 = 0x0001;
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 0x0002;
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

// Commands.
pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_STATISTICS: u8 = 0x09;
pub const COM_PING: u8 = 0x0E;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1A;

// Column / parameter types.
pub const MYSQL_TYPE_LONGLONG: u8 = 0x08;
pub const MYSQL_TYPE_VAR_STRING: u8 = 0xFD;
pub const MYSQL_TYPE_BLOB: u8 = 0xFC;
pub const MYSQL_TYPE_STRING: u8 = 0xFE;

/// How long any single read waits before the test gives up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Greeting {
    pub protocol: u8,
    pub version: String,
    pub connection_id: u32,
    pub nonce: Vec<u8>,
    pub caps: u32,
    pub collation: u8,
    pub status: u16,
    pub plugin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkInfo {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrInfo {
    pub code: u16,
    pub state: String,
    pub message: String,
}

/// One result of a command: OK, ERR, or a text/binary result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok(OkInfo),
    Err(ErrInfo),
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Option<Vec<u8>>>>,
        /// Status flags of the terminator.
        status: u16,
        warnings: u16,
    },
}

impl Reply {
    pub fn ok(&self) -> &OkInfo {
        match self {
            Reply::Ok(o) => o,
            other => panic!("expected OK, got {other:?}"),
        }
    }
    pub fn err(&self) -> &ErrInfo {
        match self {
            Reply::Err(e) => e,
            other => panic!("expected ERR, got {other:?}"),
        }
    }
    pub fn rows(&self) -> &Vec<Vec<Option<Vec<u8>>>> {
        match self {
            Reply::Rows { rows, .. } => rows,
            other => panic!("expected a result set, got {other:?}"),
        }
    }
    /// The first column of the first row as a UTF-8 string (None = NULL).
    pub fn scalar(&self) -> Option<String> {
        let rows = self.rows();
        assert!(!rows.is_empty(), "no rows in {self:?}");
        rows[0][0]
            .as_ref()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
    /// Status flags of the OK or of the result set terminator.
    pub fn status(&self) -> u16 {
        match self {
            Reply::Ok(o) => o.status,
            Reply::Rows { status, .. } => *status,
            Reply::Err(e) => panic!("no status in an ERR: {e:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: u8,
}

pub fn parse_ok(p: &[u8]) -> OkInfo {
    let mut r = Rd(p);
    assert!(matches!(r.u8(), 0x00 | 0xFE), "not an OK: {p:?}");
    let affected_rows = r.lenenc();
    let last_insert_id = r.lenenc();
    let status = r.u16();
    let warnings = r.u16();
    let info = String::from_utf8_lossy(r.0).into_owned();
    OkInfo {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info,
    }
}

pub fn parse_err(p: &[u8]) -> ErrInfo {
    assert_eq!(p.first(), Some(&0xFF), "not an ERR: {p:?}");
    let code = u16::from_le_bytes([p[1], p[2]]);
    let (state, msg) = if p.get(3) == Some(&b'#') && p.len() >= 9 {
        (String::from_utf8_lossy(&p[4..9]).into_owned(), &p[9..])
    } else {
        (String::new(), &p[3..])
    };
    ErrInfo {
        code,
        state,
        message: String::from_utf8_lossy(msg).into_owned(),
    }
}

/// Minimal payload reader (panics on truncation: test code).
pub struct Rd<'a>(pub &'a [u8]);

impl<'a> Rd<'a> {
    pub fn u8(&mut self) -> u8 {
        let b = self.0[0];
        self.0 = &self.0[1..];
        b
    }
    pub fn u16(&mut self) -> u16 {
        let v = u16::from_le_bytes([self.0[0], self.0[1]]);
        self.0 = &self.0[2..];
        v
    }
    pub fn u32(&mut self) -> u32 {
        let v = u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]]);
        self.0 = &self.0[4..];
        v
    }
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    pub fn lenenc(&mut self) -> u64 {
        match self.u8() {
            b @ 0..=0xFA => b as u64,
            0xFC => self.u16() as u64,
            0xFD => {
                let b = self.take(3);
                u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64
            }
            0xFE => {
                let b = self.take(8);
                u64::from_le_bytes(b.try_into().unwrap())
            }
            b => panic!("bad lenenc prefix {b:#x}"),
        }
    }
    pub fn lenenc_bytes(&mut self) -> &'a [u8] {
        let n = self.lenenc() as usize;
        self.take(n)
    }
    pub fn null_terminated(&mut self) -> &'a [u8] {
        let pos = self.0.iter().position(|&b| b == 0).expect("NUL");
        let s = &self.0[..pos];
        self.0 = &self.0[pos + 1..];
        s
    }
}

pub fn put_lenenc(out: &mut Vec<u8>, v: u64) {
    if v < 251 {
        out.push(v as u8);
    } else if v < 1 << 16 {
        out.push(0xFC);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        out.push(0xFD);
        out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        out.push(0xFE);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_lenenc(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Frames `payload` as one logical packet starting at `seq` (splitting at
/// 16 MiB - 1 like the protocol requires).
pub fn frame(payload: &[u8], seq: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    let mut seq = seq;
    let mut rest = payload;
    loop {
        let n = rest.len().min(0xFF_FFFF);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        seq = seq.wrapping_add(1);
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if n < 0xFF_FFFF {
            break;
        }
    }
    out
}

pub fn parse_greeting(p: &[u8]) -> Greeting {
    let mut r = Rd(p);
    let protocol = r.u8();
    let version = String::from_utf8_lossy(r.null_terminated()).into_owned();
    let connection_id = r.u32();
    let mut nonce = r.take(8).to_vec();
    r.u8();
    let caps_lo = r.u16() as u32;
    let collation = r.u8();
    let status = r.u16();
    let caps_hi = r.u16() as u32;
    let caps = caps_lo | (caps_hi << 16);
    let auth_len = r.u8() as usize;
    r.take(10);
    let rest_len = auth_len.saturating_sub(8).max(13);
    let part2 = r.take(rest_len.min(r.0.len()));
    // part2 ends with a NUL.
    let part2 = part2.strip_suffix(&[0]).unwrap_or(part2);
    nonce.extend_from_slice(part2);
    let plugin = if !r.0.is_empty() {
        String::from_utf8_lossy(r.0.strip_suffix(&[0]).unwrap_or(r.0)).into_owned()
    } else {
        String::new()
    };
    Greeting {
        protocol,
        version,
        connection_id,
        nonce,
        caps,
        collation,
        status,
        plugin,
    }
}

/// The handshake response payload for `user`/`password`.
pub fn handshake_response(
    caps: u32,
    nonce: &[u8],
    user: &str,
    password: &str,
    db: Option<&str>,
) -> Vec<u8> {
    let mut caps = caps;
    if db.is_some() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(64u32 * 1024 * 1024).to_le_bytes());
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    let scramble: Vec<u8> = if password.is_empty() {
        Vec::new()
    } else {
        mysql_common::scramble::scramble_native(nonce, password.as_bytes())
            .map(|s| s.to_vec())
            .unwrap_or_default()
    };
    p.push(scramble.len() as u8);
    p.extend_from_slice(&scramble);
    if let Some(db) = db {
        p.extend_from_slice(db.as_bytes());
        p.push(0);
    }
    p.extend_from_slice(b"mysql_native_password");
    p.push(0);
    p
}

/// Result of a prepare.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: u32,
    pub columns: u16,
    pub params: u16,
}

pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub caps: u32,
    pub greeting: Greeting,
    /// Sequence id expected for the next packet we write within a command.
    pub seq: u8,
}

impl RawConn {
    /// Connects and reads the greeting (no login).
    pub async fn open(port: u16) -> io::Result<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let mut c = RawConn {
            stream,
            buf: Vec::new(),
            caps: 0,
            greeting: Greeting {
                protocol: 0,
                version: String::new(),
                connection_id: 0,
                nonce: Vec::new(),
                caps: 0,
                collation: 0,
                status: 0,
                plugin: String::new(),
            },
            seq: 0,
        };
        let (_, p) = c.read_packet().await?;
        if p.first() == Some(&0xFF) {
            return Err(io::Error::other(format!(
                "greeting is an error: {:?}",
                parse_err(&p)
            )));
        }
        c.greeting = parse_greeting(&p);
        Ok(c)
    }

    /// Connects and logs in. `Ok(Err(..))`: the server refused.
    pub async fn login(
        port: u16,
        user: &str,
        password: &str,
        db: Option<&str>,
        caps: u32,
    ) -> io::Result<Result<RawConn, ErrInfo>> {
        let mut c = RawConn::open(port).await?;
        let resp = handshake_response(caps, &c.greeting.nonce, user, password, db);
        c.write_packet(1, &resp).await?;
        loop {
            let (seq, p) = c.read_packet().await?;
            match p.first() {
                Some(0x00) => break,
                Some(0xFF) => return Ok(Err(parse_err(&p))),
                Some(0xFE) => {
                    // Auth switch to mysql_native_password.
                    let mut r = Rd(&p[1..]);
                    let _name = r.null_terminated();
                    let data = r.0.strip_suffix(&[0]).unwrap_or(r.0);
                    let s = mysql_common::scramble::scramble_native(data, password.as_bytes())
                        .map(|s| s.to_vec())
                        .unwrap_or_default();
                    c.write_packet(seq.wrapping_add(1), &s).await?;
                }
                Some(0x01) => continue,
                _ => return Err(io::Error::other(format!("unexpected login packet {p:?}"))),
            }
        }
        c.caps = caps;
        Ok(Ok(c))
    }

    /// `login` that must succeed.
    pub async fn connect(
        port: u16,
        user: &str,
        password: &str,
        db: Option<&str>,
        caps: u32,
    ) -> RawConn {
        RawConn::login(port, user, password, db, caps)
            .await
            .expect("raw connect")
            .unwrap_or_else(|e| panic!("raw login refused: {e:?}"))
    }

    /// Writes raw bytes as they are.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Writes one logical packet with sequence id `seq`.
    pub async fn write_packet(&mut self, seq: u8, payload: &[u8]) -> io::Result<()> {
        let f = frame(payload, seq);
        self.write_raw(&f).await
    }

    /// Starts a command: packet with sequence id 0.
    pub async fn send_command(&mut self, payload: &[u8]) -> io::Result<()> {
        self.write_packet(0, payload).await
    }

    async fn fill(&mut self, need: usize) -> io::Result<()> {
        while self.buf.len() < need {
            let mut tmp = vec![0u8; (need - self.buf.len()).clamp(4096, 1 << 20)];
            let n = tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut tmp))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "raw read timed out"))??;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed by peer",
                ));
            }
            self.buf.extend_from_slice(&tmp[..n]);
        }
        Ok(())
    }

    /// Reads one logical packet (joining 16 MiB continuations): (seq, payload).
    pub async fn read_packet(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut payload = Vec::new();
        let mut first_seq = None;
        loop {
            self.fill(4).await?;
            let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], 0]) as usize;
            let seq = self.buf[3];
            self.fill(4 + len).await?;
            first_seq.get_or_insert(seq);
            payload.extend_from_slice(&self.buf[4..4 + len]);
            self.buf.drain(..4 + len);
            self.seq = seq.wrapping_add(1);
            if len < 0xFF_FFFF {
                break;
            }
        }
        Ok((first_seq.unwrap_or(0), payload))
    }

    /// True when the peer closes the connection within `within` (any
    /// packets sent before the close are returned).
    pub async fn wait_closed(&mut self, within: Duration) -> (bool, Vec<Vec<u8>>) {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return (false, got);
            }
            match tokio::time::timeout(left, self.read_packet()).await {
                Err(_) => return (false, got),
                Ok(Ok((_, p))) => got.push(p),
                Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => return (false, got),
                Ok(Err(_)) => return (true, got),
            }
        }
    }

    pub fn deprecate_eof(&self) -> bool {
        self.caps & CLIENT_DEPRECATE_EOF != 0
    }

    /// Reads one reply (OK, ERR or a whole result set) to a command.
    /// `binary`: rows are in the binary protocol.
    pub async fn read_reply(&mut self, binary: bool) -> io::Result<Reply> {
        let (_, p) = self.read_packet().await?;
        match p.first() {
            Some(0x00) => return Ok(Reply::Ok(parse_ok(&p))),
            Some(0xFF) => return Ok(Reply::Err(parse_err(&p))),
            _ => {}
        }
        let ncols = Rd(&p).lenenc() as usize;
        let mut columns = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            let (_, c) = self.read_packet().await?;
            columns.push(parse_column(&c));
        }
        if !self.deprecate_eof() {
            let (_, eof) = self.read_packet().await?;
            assert_eq!(
                eof.first(),
                Some(&0xFE),
                "expected EOF after columns, got {eof:?}"
            );
        }
        let mut rows = Vec::new();
        loop {
            let (_, r) = self.read_packet().await?;
            let is_term = r.first() == Some(&0xFE)
                && if self.deprecate_eof() {
                    r.len() < 0xFF_FFFF
                } else {
                    r.len() < 9
                };
            if is_term {
                let (status, warnings) = if self.deprecate_eof() {
                    let ok = parse_ok(&r);
                    (ok.status, ok.warnings)
                } else {
                    (
                        u16::from_le_bytes([r[3], r[4]]),
                        u16::from_le_bytes([r[1], r[2]]),
                    )
                };
                return Ok(Reply::Rows {
                    columns,
                    rows,
                    status,
                    warnings,
                });
            }
            if r.first() == Some(&0xFF) {
                return Ok(Reply::Err(parse_err(&r)));
            }
            rows.push(if binary {
                parse_binary_row(&r, &columns)
            } else {
                parse_text_row(&r, ncols)
            });
        }
    }

    /// Reads every result of a command (following MORE_RESULTS_EXISTS).
    pub async fn read_replies(&mut self, binary: bool) -> io::Result<Vec<Reply>> {
        let mut out = Vec::new();
        loop {
            let r = self.read_reply(binary).await?;
            let more = match &r {
                Reply::Err(_) => false,
                other => other.status() & SERVER_MORE_RESULTS_EXISTS != 0,
            };
            out.push(r);
            if !more {
                return Ok(out);
            }
        }
    }

    /// COM_QUERY, first (or only) reply.
    pub async fn query(&mut self, sql: &str) -> io::Result<Reply> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        self.send_command(&p).await?;
        let mut all = self.read_replies(false).await?;
        Ok(all.remove(0))
    }

    /// COM_QUERY with arbitrary bytes (e.g. latin1 text), first reply.
    pub async fn query_bytes(&mut self, sql: &[u8]) -> io::Result<Reply> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(sql);
        self.send_command(&p).await?;
        let mut all = self.read_replies(false).await?;
        Ok(all.remove(0))
    }

    /// COM_QUERY, all replies.
    pub async fn query_all(&mut self, sql: &str) -> io::Result<Vec<Reply>> {
        let mut p = vec![COM_QUERY];
        p.extend_from_slice(sql.as_bytes());
        self.send_command(&p).await?;
        self.read_replies(false).await
    }

    /// COM_STMT_PREPARE. `Err` reply as `Err(ErrInfo)`.
    pub async fn prepare(&mut self, sql: &str) -> io::Result<Result<Prepared, ErrInfo>> {
        let mut p = vec![COM_STMT_PREPARE];
        p.extend_from_slice(sql.as_bytes());
        self.send_command(&p).await?;
        let (_, first) = self.read_packet().await?;
        if first.first() == Some(&0xFF) {
            return Ok(Err(parse_err(&first)));
        }
        let mut r = Rd(&first);
        assert_eq!(r.u8(), 0);
        let id = r.u32();
        let columns = r.u16();
        let params = r.u16();
        for count in [params, columns] {
            for _ in 0..count {
                self.read_packet().await?;
            }
            if count > 0 && !self.deprecate_eof() {
                let (_, eof) = self.read_packet().await?;
                assert_eq!(eof.first(), Some(&0xFE), "EOF after prepare definitions");
            }
        }
        Ok(Ok(Prepared {
            id,
            columns,
            params,
        }))
    }

    /// Sends COM_STMT_EXECUTE. `types`: `Some` → new_params_bound = 1 with
    /// those (type, unsigned flag) pairs; `None` → new_params_bound = 0.
    /// `values`: already-encoded binary values of non-NULL params; `nulls`:
    /// which params are NULL.
    pub async fn execute(
        &mut self,
        id: u32,
        nparams: usize,
        nulls: &[bool],
        types: Option<&[(u8, bool)]>,
        values: &[u8],
    ) -> io::Result<Reply> {
        let p = execute_packet(id, nparams, nulls, types, values);
        self.send_command(&p).await?;
        let mut all = self.read_replies(true).await?;
        Ok(all.remove(0))
    }

    pub async fn ping(&mut self) -> io::Result<Reply> {
        self.send_command(&[COM_PING]).await?;
        self.read_reply(false).await
    }
}

/// Builds a COM_STMT_EXECUTE payload.
pub fn execute_packet(
    id: u32,
    nparams: usize,
    nulls: &[bool],
    types: Option<&[(u8, bool)]>,
    values: &[u8],
) -> Vec<u8> {
    let mut p = vec![COM_STMT_EXECUTE];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0); // CURSOR_TYPE_NO_CURSOR
    p.extend_from_slice(&1u32.to_le_bytes());
    if nparams > 0 {
        let mut bitmap = vec![0u8; nparams.div_ceil(8)];
        for (i, &n) in nulls.iter().enumerate() {
            if n {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        p.extend_from_slice(&bitmap);
        match types {
            Some(t) => {
                p.push(1);
                for &(ty, unsigned) in t {
                    p.push(ty);
                    p.push(if unsigned { 0x80 } else { 0 });
                }
            }
            None => p.push(0),
        }
        p.extend_from_slice(values);
    }
    p
}

pub fn parse_column(c: &[u8]) -> Column {
    let mut r = Rd(c);
    let _catalog = r.lenenc_bytes();
    let _schema = r.lenenc_bytes();
    let _table = r.lenenc_bytes();
    let _org_table = r.lenenc_bytes();
    let name = String::from_utf8_lossy(r.lenenc_bytes()).into_owned();
    let _org_name = r.lenenc_bytes();
    let _fixed = r.lenenc();
    let _charset = r.u16();
    let _len = r.u32();
    let column_type = r.u8();
    Column { name, column_type }
}

pub fn parse_text_row(r: &[u8], ncols: usize) -> Vec<Option<Vec<u8>>> {
    let mut rd = Rd(r);
    let mut row = Vec::with_capacity(ncols);
    for _ in 0..ncols {
        if rd.0.first() == Some(&0xFB) {
            rd.u8();
            row.push(None);
        } else {
            row.push(Some(rd.lenenc_bytes().to_vec()));
        }
    }
    row
}

/// Binary rows, decoding only string-like and integer columns (others are
/// returned raw); enough for these tests.
pub fn parse_binary_row(r: &[u8], columns: &[Column]) -> Vec<Option<Vec<u8>>> {
    let mut rd = Rd(r);
    assert_eq!(rd.u8(), 0x00, "binary row header");
    let bitmap = rd.take((columns.len() + 7 + 2) / 8).to_vec();
    let mut row = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            row.push(None);
            continue;
        }
        let v = match c.column_type {
            0x01 => vec![rd.u8()],                     // TINY
            0x02 | 0x0D => rd.take(2).to_vec(),        // SHORT, YEAR
            0x03 | 0x09 | 0x04 => rd.take(4).to_vec(), // LONG, INT24, FLOAT
            0x08 | 0x05 => rd.take(8).to_vec(),        // LONGLONG, DOUBLE
            0x07 | 0x0A | 0x0B | 0x0C => {
                let n = rd.u8() as usize;
                rd.take(n).to_vec()
            }
            _ => rd.lenenc_bytes().to_vec(),
        };
        row.push(Some(v));
    }
    row
}
