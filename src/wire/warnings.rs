//! The warnings of one statement that ran on several backend connections,
//! as the servers listed them (`SHOW WARNINGS`): the column definitions
//! and text rows exactly as sent, merged in shard order, so that the proxy
//! can answer `SHOW WARNINGS`/`SHOW ERRORS` as one server would. When
//! every row is known to belong to a client's row (a split INSERT or LOAD
//! DATA, [`WarningList::append_keyed`]) the merged list is put in the
//! client's row order, as one server lists them ([`WarningList::in_row_order`]).
//!
//! Owns: holding, merging and bounding such lists, and encoding them as a
//! result set. Must not do I/O on backends (reading them is
//! `execute::warnings`).

use bytes::Bytes;
use mysql_common::constants::CapabilityFlags;

use super::packets::{encode_eof, put_lenenc_bytes, put_lenenc_int, OkPacket, Reader};

/// Warnings gathered from several connections for one statement.
#[derive(Debug, Clone, Default)]
pub struct WarningList {
    /// The column definitions of the first `SHOW WARNINGS` read (Level,
    /// Code, Message), byte for byte.
    pub defs: Vec<Bytes>,
    /// Text rows (`Level`, `Code`, `Message`), in shard order.
    pub rows: Vec<Bytes>,
    /// Every warning the statement raised (`@@warning_count`): the sum of
    /// the shards' counts, which may exceed the rows kept.
    pub count: u64,
    /// The client's row of each of `rows` while every part appended was
    /// keyed (rows then kept past the limit until [`Self::in_row_order`]).
    keys: Vec<u32>,
    /// A part without keys was appended: shard order it is.
    unordered: bool,
    /// Every part was keyed when [`Self::in_row_order`] ordered them: the
    /// rows naming a row (`at row N`) name the client's row, as one server
    /// given the whole statement would (a split INSERT or LOAD DATA).
    pub client_rows: bool,
}

/// Which rows a `SHOW WARNINGS`/`SHOW ERRORS` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Warnings,
    Errors,
}

impl WarningList {
    /// Appends one connection's list (its `count` warnings, `rows` of them
    /// listed), keeping at most `limit` rows (`max_error_count`).
    pub fn append(&mut self, defs: Vec<Bytes>, rows: Vec<Bytes>, count: u64, limit: usize) {
        if !rows.is_empty() && !self.unordered {
            self.unordered = true;
            // Rows kept past the limit while keyed: the first ones stay.
            self.rows.truncate(limit);
            self.keys = Vec::new();
        }
        if self.defs.is_empty() {
            self.defs = defs;
        }
        let room = limit.saturating_sub(self.rows.len());
        self.rows.extend(rows.into_iter().take(room));
        self.count += count;
    }

    /// [`Self::append`] of rows each of which belongs to the client's row
    /// `keys[i]` (one connection's rows, in its order, at most its own
    /// `max_error_count`). While every part is keyed, all rows are kept:
    /// [`Self::in_row_order`] orders them and applies the limit.
    pub fn append_keyed(&mut self, defs: Vec<Bytes>, rows: Vec<Bytes>, keys: Vec<u32>, count: u64) {
        if self.unordered || keys.len() != rows.len() {
            return self.append(defs, rows, count, usize::MAX);
        }
        if self.defs.is_empty() {
            self.defs = defs;
        }
        self.rows.extend(rows);
        self.keys.extend(keys);
        self.count += count;
    }

    /// Adds another list after this one (shard order), bounded by `limit`.
    pub fn extend(&mut self, other: WarningList, limit: usize) {
        if other.unordered || other.keys.len() != other.rows.len() {
            self.append(other.defs, other.rows, other.count, limit);
        } else {
            self.append_keyed(other.defs, other.rows, other.keys, other.count);
        }
        // Bounded now unless every part so far is keyed.
        if self.unordered {
            self.rows.truncate(limit);
        }
    }

    /// The list as one server lists it: keyed rows in the client's row
    /// order (a row's warnings in the order its shard listed them), at most
    /// `limit` of them. Each shard kept its first rows, so the first
    /// `limit` of the merge are the first `limit` of the whole statement.
    pub fn in_row_order(mut self, limit: usize) -> WarningList {
        if !self.unordered && self.keys.len() == self.rows.len() {
            let mut keyed: Vec<(u32, Bytes)> = std::mem::take(&mut self.keys)
                .into_iter()
                .zip(std::mem::take(&mut self.rows))
                .collect();
            keyed.sort_by_key(|(k, _)| *k);
            self.rows = keyed.into_iter().map(|(_, r)| r).collect();
            self.client_rows = true;
        }
        self.keys = Vec::new();
        self.unordered = true;
        self.rows.truncate(limit);
        self
    }

    /// Rewrites each row's `Message` that `f` changes (e.g. a physical
    /// table's name shown as its logical table's).
    pub fn map_messages(&mut self, f: impl Fn(&str) -> Option<String>) {
        for row in &mut self.rows {
            let mut r = Reader::new(row);
            let (Some(level), Some(code), Some(message)) =
                (r.lenenc_bytes(), r.lenenc_bytes(), r.lenenc_bytes())
            else {
                continue;
            };
            let Some(shown) = std::str::from_utf8(message).ok().and_then(&f) else {
                continue;
            };
            let mut out = Vec::with_capacity(row.len() + 8);
            put_lenenc_bytes(&mut out, level);
            put_lenenc_bytes(&mut out, code);
            put_lenenc_bytes(&mut out, shown.as_bytes());
            *row = out.into();
        }
    }

    /// An empty list with this one's column definitions (the area after
    /// a statement that raised nothing).
    pub fn emptied(self) -> WarningList {
        WarningList {
            defs: self.defs,
            ..WarningList::default()
        }
    }

    /// `@@error_count`: the listed rows of level `Error`.
    pub fn errors(&self) -> u64 {
        self.rows.iter().filter(|r| is_error(r)).count() as u64
    }

    /// The rows `listing` shows, after `offset`, at most `limit`.
    fn listed(&self, listing: Listing, offset: u64, limit: Option<u64>) -> Vec<&Bytes> {
        self.rows
            .iter()
            .filter(|r| listing == Listing::Warnings || is_error(r))
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
            .collect()
    }

    /// The packets of the result set `SHOW WARNINGS`/`SHOW ERRORS [LIMIT
    /// [offset,] n]` would send (column count, definitions, rows and
    /// terminators for `caps`; rows in the binary protocol for a prepared
    /// statement), none when no definitions were read.
    pub fn result_packets(
        &self,
        listing: Listing,
        (offset, limit): (u64, Option<u64>),
        binary: bool,
        caps: CapabilityFlags,
        status: u16,
    ) -> Vec<Vec<u8>> {
        if self.defs.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut count = Vec::new();
        put_lenenc_int(&mut count, self.defs.len() as u64);
        out.push(count);
        out.extend(self.defs.iter().map(|d| d.to_vec()));
        let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        if !deprecate_eof {
            let mut eof = Vec::new();
            encode_eof(&mut eof, 0, status);
            out.push(eof);
        }
        for r in self.listed(listing, offset, limit) {
            match binary {
                true => out.push(binary_row(r)),
                false => out.push(r.to_vec()),
            }
        }
        let mut end = Vec::new();
        if deprecate_eof {
            OkPacket {
                status,
                warnings: self.count.min(u64::from(u16::MAX)) as u16,
                ..OkPacket::default()
            }
            .encode(caps, 0xFE, &mut end);
        } else {
            encode_eof(&mut end, self.count.min(u64::from(u16::MAX)) as u16, status);
        }
        out.push(end);
        out
    }
}

/// A `SHOW WARNINGS` text row (`Level`, `Code`, `Message`) in the binary
/// protocol: no NULLs, `Code` a 4-byte `LONG`.
fn binary_row(row: &[u8]) -> Vec<u8> {
    let mut r = Reader::new(row);
    let level = r.lenenc_bytes().unwrap_or_default();
    let code: u32 = r
        .lenenc_bytes()
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let message = r.lenenc_bytes().unwrap_or_default();
    // Header, then a NULL bitmap of (3 + 7 + 2) / 8 = 1 byte.
    let mut out = vec![0x00, 0x00];
    put_lenenc_bytes(&mut out, level);
    out.extend_from_slice(&code.to_le_bytes());
    put_lenenc_bytes(&mut out, message);
    out
}

/// A row whose `Level` is `Error`.
fn is_error(row: &[u8]) -> bool {
    Reader::new(row)
        .lenenc_bytes()
        .is_some_and(|l| l.eq_ignore_ascii_case(b"Error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(level: &str, code: u16, message: &str) -> Bytes {
        let mut b = Vec::new();
        put_lenenc_bytes(&mut b, level.as_bytes());
        put_lenenc_bytes(&mut b, code.to_string().as_bytes());
        put_lenenc_bytes(&mut b, message.as_bytes());
        Bytes::from(b)
    }

    #[test]
    fn merged_in_order_and_bounded_by_the_limit() {
        // Every split of 0..n rows over three shards, every limit.
        for limit in 0..8usize {
            for a in 0..4usize {
                for b in 0..4usize {
                    let mut list = WarningList::default();
                    let mut n = 0;
                    for (shard, k) in [a, b, 2].into_iter().enumerate() {
                        let rows = (0..k)
                            .map(|i| row("Warning", 1265, &format!("s{shard} r{i}")))
                            .collect();
                        list.append(vec![Bytes::from_static(b"def")], rows, k as u64 + 1, limit);
                        n += k;
                    }
                    assert_eq!(list.rows.len(), n.min(limit));
                    assert_eq!(list.count, (a + b + 2 + 3) as u64);
                    let mut expect = Vec::new();
                    for (shard, k) in [a, b, 2].into_iter().enumerate() {
                        for i in 0..k {
                            expect.push(row("Warning", 1265, &format!("s{shard} r{i}")));
                        }
                    }
                    expect.truncate(limit);
                    assert_eq!(list.rows, expect);
                }
            }
        }
    }

    #[test]
    fn errors_listed_apart_with_offset_and_limit() {
        let mut list = WarningList::default();
        let rows = vec![
            row("Warning", 1265, "a"),
            row("Error", 1062, "b"),
            row("Note", 1051, "c"),
            row("Error", 1062, "d"),
        ];
        list.append(vec![Bytes::from_static(b"def")], rows, 4, 64);
        assert_eq!(list.errors(), 2);
        assert_eq!(list.listed(Listing::Errors, 0, None).len(), 2);
        assert_eq!(list.listed(Listing::Warnings, 1, Some(2)).len(), 2);
        assert_eq!(list.listed(Listing::Warnings, 3, Some(9)).len(), 1);
        let caps = CapabilityFlags::CLIENT_PROTOCOL_41;
        // count, 1 def, EOF, 4 rows, EOF.
        assert_eq!(
            list.result_packets(Listing::Warnings, (0, None), false, caps, 2)
                .len(),
            8
        );
        let binary = list.result_packets(Listing::Errors, (0, None), true, caps, 2);
        assert_eq!(binary[3], b"\x00\x00\x05Error\x26\x04\x00\x00\x01b");
    }
}
