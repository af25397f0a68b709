//! Payload formats of the generic packets both sides exchange: OK, ERR, EOF,
//! the server greeting, length-encoded primitives, and the layout of a
//! column definition with or without MariaDB's extended metadata.
//!
//! Owns: bytes of one payload ⇄ typed values, for the capability flags in
//! force. Must not do I/O or keep state; handshake *flow* lives in
//! `frontend::handshake` and `backend::connection`.

use mysql_common::constants::{CapabilityFlags, StatusFlags};

/// Reads MySQL primitives from a payload; every read is bounds-checked and
/// returns `None` on truncated input instead of panicking.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }
    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
    /// Length-encoded integer; `None` for the NULL marker 0xFB and for 0xFF.
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            b @ 0..=0xFA => Some(b as u64),
            0xFC => self.u16().map(u64::from),
            0xFD => {
                let b = self.take(3)?;
                Some(u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64)
            }
            0xFE => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Some(u64::from_le_bytes(a))
            }
            _ => None,
        }
    }
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.lenenc_int()?;
        self.take(usize::try_from(n).ok()?)
    }
    pub fn null_terminated(&mut self) -> Option<&'a [u8]> {
        let pos = self.buf.iter().position(|&b| b == 0)?;
        let s = &self.buf[..pos];
        self.buf = &self.buf[pos + 1..];
        Some(s)
    }
}

pub fn put_lenenc_int(out: &mut Vec<u8>, v: u64) {
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
    put_lenenc_int(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One entry of the session-state information a backend attaches to OK
/// packets when `CLIENT_SESSION_TRACK` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    SystemVariable {
        name: String,
        value: String,
    },
    Schema(String),
    /// Something not replayable changed (user variable, temporary table,
    /// prepared statement...).
    StateChanged,
    Other(u8),
}

/// A decoded OK packet (or the OK-style terminator of a result set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: Vec<u8>,
    pub changes: Vec<SessionChange>,
}

impl OkPacket {
    pub fn status_flags(&self) -> StatusFlags {
        StatusFlags::from_bits_truncate(self.status)
    }

    /// Parses an OK payload (header 0x00 or 0xFE) sent under `caps`.
    pub fn parse(payload: &[u8], caps: CapabilityFlags) -> Option<OkPacket> {
        let mut r = Reader::new(payload);
        let header = r.u8()?;
        if header != 0x00 && header != 0xFE {
            return None;
        }
        let affected_rows = r.lenenc_int()?;
        let last_insert_id = r.lenenc_int()?;
        let status = r.u16()?;
        let warnings = r.u16()?;
        let mut ok = OkPacket {
            affected_rows,
            last_insert_id,
            status,
            warnings,
            ..OkPacket::default()
        };
        if caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK) {
            if !r.is_empty() {
                ok.info = r.lenenc_bytes().unwrap_or_default().to_vec();
            }
            if status & StatusFlags::SERVER_SESSION_STATE_CHANGED.bits() != 0 {
                if let Some(state) = r.lenenc_bytes() {
                    ok.changes = parse_session_state(state);
                }
            }
        } else if !r.is_empty() {
            // Servers send the info length-encoded even without session
            // tracking (the documented string<EOF> starts with its length).
            let rest = r.rest();
            ok.info = Reader::new(rest)
                .lenenc_bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| rest.to_vec());
        }
        Some(ok)
    }

    /// Encodes this OK for a client with `caps`, as a MariaDB server does.
    /// `header` is 0x00 for an OK and 0xFE for the terminator of a result
    /// set under DEPRECATE_EOF.
    ///
    /// The info text is length-encoded whatever the capabilities (servers
    /// do so, and libmysqlclient/libmariadb read it so; drivers that read
    /// it as `string<EOF>` do that only when the greeting lacks
    /// `CLIENT_SESSION_TRACK`, which shardcat advertises). For a client
    /// with `CLIENT_SESSION_TRACK` the session changes a server tracks by
    /// default (the schema and [`CLIENT_TRACKED_VARIABLES`]) are passed on;
    /// the rest describes the backend connection, not the client session.
    pub fn encode(&self, caps: CapabilityFlags, header: u8, out: &mut Vec<u8>) {
        let tracking = caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK);
        let state = if tracking {
            encode_client_state(&self.changes)
        } else {
            Vec::new()
        };
        out.push(header);
        put_lenenc_int(out, self.affected_rows);
        put_lenenc_int(out, self.last_insert_id);
        let changed = StatusFlags::SERVER_SESSION_STATE_CHANGED.bits();
        let mut status = self.status & !changed;
        if !state.is_empty() {
            status |= changed;
        }
        out.extend_from_slice(&status.to_le_bytes());
        out.extend_from_slice(&self.warnings.to_le_bytes());
        if !self.info.is_empty() || !state.is_empty() {
            put_lenenc_bytes(out, &self.info);
        }
        if !state.is_empty() {
            put_lenenc_bytes(out, &state);
        }
    }
}

/// The system variables a MariaDB server reports to a client by default
/// (`session_track_system_variables`).
pub const CLIENT_TRACKED_VARIABLES: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "time_zone",
];

/// The session-state block of an OK for a client with default tracking:
/// schema changes and the default tracked variables, each once (its last
/// value), in the order the backend reported them.
fn encode_client_state(changes: &[SessionChange]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let later = |pred: &dyn Fn(&SessionChange) -> bool| changes[i + 1..].iter().any(pred);
        let mut entry = Vec::new();
        let kind = match c {
            SessionChange::SystemVariable { name, value }
                if CLIENT_TRACKED_VARIABLES.contains(&name.as_str())
                    && !seen.contains(&name.as_str()) =>
            {
                seen.push(name);
                let name = name.as_str();
                let last = changes[i..]
                    .iter()
                    .rev()
                    .find_map(|c| match c {
                        SessionChange::SystemVariable { name: n, value } if n == name => {
                            Some(value)
                        }
                        _ => None,
                    })
                    .unwrap_or(value);
                put_lenenc_bytes(&mut entry, name.as_bytes());
                put_lenenc_bytes(&mut entry, last.as_bytes());
                0u8
            }
            SessionChange::Schema(s)
                if !later(&|c: &SessionChange| matches!(c, SessionChange::Schema(_))) =>
            {
                put_lenenc_bytes(&mut entry, s.as_bytes());
                1u8
            }
            _ => continue,
        };
        out.push(kind);
        put_lenenc_bytes(&mut out, &entry);
    }
    out
}

fn parse_session_state(data: &[u8]) -> Vec<SessionChange> {
    let mut out = Vec::new();
    let mut r = Reader::new(data);
    while !r.is_empty() {
        let Some(kind) = r.u8() else { break };
        let Some(entry) = r.lenenc_bytes() else { break };
        let mut e = Reader::new(entry);
        match kind {
            0 => {
                let name = e.lenenc_bytes().unwrap_or_default();
                let value = e.lenenc_bytes().unwrap_or_default();
                out.push(SessionChange::SystemVariable {
                    name: String::from_utf8_lossy(name).to_ascii_lowercase(),
                    value: String::from_utf8_lossy(value).into_owned(),
                });
            }
            1 => {
                let name = e.lenenc_bytes().unwrap_or_default();
                out.push(SessionChange::Schema(
                    String::from_utf8_lossy(name).into_owned(),
                ));
            }
            2 => out.push(SessionChange::StateChanged),
            other => out.push(SessionChange::Other(other)),
        }
    }
    out
}

/// An ERR packet's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub state: [u8; 5],
    pub message: String,
}

impl ErrPacket {
    pub fn new(code: u16, state: &str, message: impl Into<String>) -> Self {
        let mut s = [b'H', b'Y', b'0', b'0', b'0'];
        if state.len() == 5 {
            s.copy_from_slice(state.as_bytes());
        }
        ErrPacket {
            code,
            state: s,
            message: message.into(),
        }
    }

    pub fn parse(payload: &[u8]) -> Option<ErrPacket> {
        let mut r = Reader::new(payload);
        if r.u8()? != 0xFF {
            return None;
        }
        let code = r.u16()?;
        let mut state = *b"HY000";
        if r.remaining() >= 6 && payload.get(3) == Some(&b'#') {
            r.u8()?;
            state.copy_from_slice(r.take(5)?);
        }
        Some(ErrPacket {
            code,
            state,
            message: String::from_utf8_lossy(r.rest()).into_owned(),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0xFF);
        out.extend_from_slice(&self.code.to_le_bytes());
        out.push(b'#');
        out.extend_from_slice(&self.state);
        out.extend_from_slice(self.message.as_bytes());
    }

    pub fn to_payload(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(9 + self.message.len());
        self.encode(&mut v);
        v
    }

    pub fn sql_state(&self) -> &str {
        std::str::from_utf8(&self.state).unwrap_or("HY000")
    }
}

/// Encodes a classic EOF packet (clients without DEPRECATE_EOF).
pub fn encode_eof(out: &mut Vec<u8>, warnings: u16, status: u16) {
    out.push(0xFE);
    out.extend_from_slice(&warnings.to_le_bytes());
    let status = status & !StatusFlags::SERVER_SESSION_STATE_CHANGED.bits();
    out.extend_from_slice(&status.to_le_bytes());
}

/// Parses a classic EOF packet: (warnings, status).
pub fn parse_eof(payload: &[u8]) -> Option<(u16, u16)> {
    let mut r = Reader::new(payload);
    if r.u8()? != 0xFE {
        return None;
    }
    Some((r.u16().unwrap_or(0), r.u16().unwrap_or(0)))
}

/// True for an EOF/OK-style terminator (0xFE header in a short packet): a row
/// can only start with 0xFE when it is at least 16 MiB long.
#[inline]
pub fn is_terminator(payload: &[u8]) -> bool {
    payload.first() == Some(&0xFE) && payload.len() < 0xFF_FFFF
}

#[inline]
pub fn is_err(payload: &[u8]) -> bool {
    payload.first() == Some(&0xFF)
}

pub fn is_ok(payload: &[u8]) -> bool {
    payload.first() == Some(&0x00)
}

/// The server greeting (protocol version 10).
pub struct Greeting<'a> {
    pub server_version: &'a str,
    pub connection_id: u32,
    pub scramble: &'a [u8; 20],
    pub capabilities: CapabilityFlags,
    pub collation: u8,
    pub status: u16,
    pub auth_plugin: &'a str,
    /// MariaDB's extended capabilities (the last 4 of the 10 reserved
    /// bytes; read by clients when `CLIENT_MYSQL`, bit 0, is not set).
    pub mariadb_ext: u32,
}

/// MariaDB's `MARIADB_CLIENT_EXTENDED_METADATA` (extended type info:
/// column definitions carry the data type name and format, e.g.
/// `json`, `uuid`, `inet6`).
pub const MARIADB_EXTENDED_METADATA: u32 = 0x0000_0008;

/// Where the fixed-length part of a column definition starts (its `0x0c`
/// length byte), after the six strings and, on a connection with
/// extended metadata, the extended metadata string. `None` when malformed.
pub fn column_fixed_offset(def: &[u8]) -> Option<usize> {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        r.lenenc_bytes()?;
    }
    let at = def.len() - r.remaining();
    if def.get(at) == Some(&0x0c) && def.len() - at == 13 {
        return Some(at);
    }
    // Extended metadata: one more length-encoded string, then the fixed
    // part (exactly 13 bytes in a result set).
    let mut ext = Reader::new(def.get(at..)?);
    if ext.lenenc_bytes().is_some() {
        let after = def.len() - ext.remaining();
        if def.get(after) == Some(&0x0c) && def.len() - after == 13 {
            return Some(after);
        }
    }
    (def.get(at) == Some(&0x0c)).then_some(at)
}

/// A column definition without its extended metadata string (what
/// parsers of the classic layout read); `def` itself when it has none.
pub fn without_extended_metadata(def: &bytes::Bytes) -> bytes::Bytes {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return def.clone();
        }
    }
    let at = def.len() - r.remaining();
    match column_fixed_offset(def) {
        Some(fixed) if fixed > at => {
            let mut out = Vec::with_capacity(def.len());
            out.extend_from_slice(&def[..at]);
            out.extend_from_slice(&def[fixed..]);
            bytes::Bytes::from(out)
        }
        _ => def.clone(),
    }
}

/// Sets `SERVER_MORE_RESULTS_EXISTS` in a final OK or EOF payload; false
/// for any other packet (an ERR ends a multi-result answer).
pub fn set_more_results(payload: &mut [u8]) -> bool {
    let more = StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits().to_le_bytes();
    let at = match payload.first() {
        Some(0xFE) if payload.len() == 5 => 3,
        Some(0x00 | 0xFE) if payload.len() >= 7 => {
            let mut r = Reader::new(&payload[1..]);
            if r.lenenc_int().is_none() || r.lenenc_int().is_none() {
                return false;
            }
            payload.len() - r.remaining()
        }
        _ => return false,
    };
    match payload.get_mut(at..at + 2) {
        Some(s) => {
            s[0] |= more[0];
            s[1] |= more[1];
            true
        }
        None => false,
    }
}

/// Adds an empty extended metadata string to a classic column definition
/// (for a client that negotiated extended metadata).
pub fn with_empty_extended_metadata(def: &[u8]) -> Vec<u8> {
    let mut r = Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return def.to_vec();
        }
    }
    let at = def.len() - r.remaining();
    let mut out = Vec::with_capacity(def.len() + 1);
    out.extend_from_slice(&def[..at]);
    out.push(0);
    out.extend_from_slice(&def[at..]);
    out
}

impl Greeting<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let caps = self.capabilities.bits();
        out.push(10);
        out.extend_from_slice(self.server_version.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        out.extend_from_slice(&self.scramble[..8]);
        out.push(0);
        out.extend_from_slice(&(caps as u16).to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        out.push(21);
        out.extend_from_slice(&[0u8; 6]);
        out.extend_from_slice(&self.mariadb_ext.to_le_bytes());
        out.extend_from_slice(&self.scramble[8..]);
        out.push(0);
        out.extend_from_slice(self.auth_plugin.as_bytes());
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_results_flag_is_set_in_final_packets() {
        let more = StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits();
        let mut eof = vec![0xFE, 0, 0, 2, 0];
        assert!(set_more_results(&mut eof));
        assert_eq!(u16::from_le_bytes([eof[3], eof[4]]), 2 | more);
        // OK with 300 affected rows (3-byte length-encoded) and id 1.
        let mut ok = vec![0x00, 0xFC, 0x2C, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00];
        assert!(set_more_results(&mut ok));
        assert_eq!(u16::from_le_bytes([ok[5], ok[6]]), 2 | more);
        let mut ok_fe = vec![0xFE, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00];
        assert!(set_more_results(&mut ok_fe));
        assert_eq!(u16::from_le_bytes([ok_fe[3], ok_fe[4]]), 0x22 | more);
        assert!(!set_more_results(&mut [0xFF, 0x7A, 0x04, b'#']));
    }

    #[test]
    fn extended_metadata_is_found_and_removed() {
        let mut classic = Vec::new();
        for f in [&b"def"[..], b"db", b"t", b"t", b"j", b"j"] {
            put_lenenc_bytes(&mut classic, f);
        }
        let fixed = classic.len();
        classic.push(0x0c);
        classic.extend_from_slice(&[33, 0, 255, 255, 255, 255, 252, 0x90, 0, 0, 0, 0]);
        assert_eq!(column_fixed_offset(&classic), Some(fixed));
        // `format=json`: type 1, then a 12-byte block (the ambiguous length).
        for ext in [&b"\x01\x04json"[..], b"\x00\x0ajson_array"] {
            let mut with = classic[..fixed].to_vec();
            put_lenenc_bytes(&mut with, ext);
            with.extend_from_slice(&classic[fixed..]);
            assert_eq!(column_fixed_offset(&with), Some(fixed + 1 + ext.len()));
            let bytes = bytes::Bytes::from(with);
            assert_eq!(without_extended_metadata(&bytes), classic);
        }
        let empty = with_empty_extended_metadata(&classic);
        assert_eq!(column_fixed_offset(&empty), Some(fixed + 1));
    }

    #[test]
    fn lenenc_roundtrip() {
        for v in [
            0u64,
            250,
            251,
            65535,
            65536,
            (1 << 24) - 1,
            1 << 24,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc_int(&mut out, v);
            assert_eq!(Reader::new(&out).lenenc_int(), Some(v));
        }
    }

    #[test]
    fn ok_with_info_and_session_state() {
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        let mut payload = vec![0x00, 3, 42];
        let status =
            StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_SESSION_STATE_CHANGED;
        payload.extend_from_slice(&status.bits().to_le_bytes());
        payload.extend_from_slice(&1u16.to_le_bytes());
        put_lenenc_bytes(&mut payload, b"Rows matched: 3");
        let mut state = Vec::new();
        let mut entry = Vec::new();
        put_lenenc_bytes(&mut entry, b"autocommit");
        put_lenenc_bytes(&mut entry, b"OFF");
        state.push(0);
        put_lenenc_bytes(&mut state, &entry);
        let mut entry = Vec::new();
        put_lenenc_bytes(&mut entry, b"shop");
        state.push(1);
        put_lenenc_bytes(&mut state, &entry);
        put_lenenc_bytes(&mut payload, &state);
        let ok = OkPacket::parse(&payload, caps).unwrap();
        assert_eq!(ok.affected_rows, 3);
        assert_eq!(ok.last_insert_id, 42);
        assert_eq!(ok.warnings, 1);
        assert_eq!(ok.info, b"Rows matched: 3");
        assert_eq!(
            ok.changes,
            vec![
                SessionChange::SystemVariable {
                    name: "autocommit".into(),
                    value: "OFF".into()
                },
                SessionChange::Schema("shop".into())
            ]
        );
        // Re-encoded for a client without session tracking: info still
        // length-encoded, no state-changed flag.
        let mut out = Vec::new();
        ok.encode(CapabilityFlags::CLIENT_PROTOCOL_41, 0, &mut out);
        let back = OkPacket::parse(&out, CapabilityFlags::CLIENT_PROTOCOL_41).unwrap();
        assert_eq!(back.info, b"Rows matched: 3");
        assert_eq!(back.status, StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits());
    }

    #[test]
    fn err_roundtrip_and_truncation() {
        let e = ErrPacket::new(3024, "HY000", "Query execution was interrupted");
        let p = e.to_payload();
        assert_eq!(ErrPacket::parse(&p), Some(e));
        for n in 0..p.len() {
            let _ = ErrPacket::parse(&p[..n]);
            let _ = OkPacket::parse(&p[..n], CapabilityFlags::CLIENT_SESSION_TRACK);
        }
    }
}
