//! Text-protocol rows and column metadata as the merge sees them: a row is
//! its packet plus the byte ranges of its values, so values are compared in
//! place and rows that pass through unchanged are re-sent as they came.
//!
//! Owns: decoding and encoding rows. Must not compare or aggregate.

use std::ops::Range;

use bytes::Bytes;
use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::io::ParseBuf;
use mysql_common::packets::Column;

use crate::wire::packets::{put_lenenc_bytes, Reader};

/// What the merge needs to know about one result column.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    pub charset: u16,
    pub decimals: u8,
    /// The column definition packet as the shard sent it.
    pub raw: Bytes,
}

impl ColumnInfo {
    pub fn parse(raw: Bytes) -> Option<ColumnInfo> {
        // MariaDB's extended metadata (type names) is not in the classic
        // layout `Column` reads.
        let classic = crate::wire::packets::without_extended_metadata(&raw);
        let col: Column = ParseBuf(&classic).parse(()).ok()?;
        Some(ColumnInfo {
            column_type: col.column_type(),
            flags: col.flags(),
            charset: col.character_set(),
            decimals: col.decimals(),
            raw,
        })
    }

    /// The column's name (for error messages).
    pub fn name(&self) -> String {
        ParseBuf(&crate::wire::packets::without_extended_metadata(&self.raw))
            .parse::<Column>(())
            .map(|c| c.name_str().into_owned())
            .unwrap_or_default()
    }

    pub fn is_unsigned(&self) -> bool {
        self.flags.contains(ColumnFlags::UNSIGNED_FLAG)
    }

    /// Binary charset (63) or a binary column type: compare bytes.
    pub fn is_binary(&self) -> bool {
        self.charset == 63
    }
}

/// One text-protocol row.
#[derive(Debug, Clone)]
pub struct TextRow {
    pub packet: Bytes,
    /// `None` for SQL NULL.
    pub values: Vec<Option<Range<usize>>>,
}

impl TextRow {
    /// Decodes a row of `columns` values; `None` if the packet is malformed.
    pub fn decode(packet: Bytes, columns: usize) -> Option<TextRow> {
        let mut values = Vec::with_capacity(columns);
        let total = packet.len();
        let mut r = Reader::new(&packet);
        for _ in 0..columns {
            let at = total - r.remaining();
            if packet.get(at) == Some(&0xFB) {
                r.u8()?;
                values.push(None);
            } else {
                let v = r.lenenc_bytes()?;
                let end = total - r.remaining();
                values.push(Some(end - v.len()..end));
            }
        }
        Some(TextRow { packet, values })
    }

    pub fn value(&self, i: usize) -> Option<&[u8]> {
        self.values
            .get(i)?
            .as_ref()
            .map(|r| &self.packet[r.clone()])
    }

    /// Encodes the first `visible` values as a row packet payload.
    /// The encoding of the first `visible` values as a slice of the row's
    /// own packet, when it is one: a decoded row's values are contiguous
    /// from the packet's start (operators only cut values off the end), so
    /// the prefix ends after the last non-NULL value and one `0xFB` per
    /// NULL after it. `None` when the packet does not have that shape
    /// (the caller encodes with [`TextRow::encode_prefix`]). Saves the copy
    /// and re-encoding of every merged row that is sent as it came.
    pub fn prefix_packet(&self, visible: usize) -> Option<&[u8]> {
        let k = visible.min(self.values.len());
        let (start, trailing_nulls) = match self.values[..k].iter().rposition(Option::is_some) {
            Some(j) => (self.values[j].as_ref()?.end, k - 1 - j),
            None => (0, k),
        };
        let end = start.checked_add(trailing_nulls)?;
        let nulls = self.packet.get(start..end)?;
        nulls
            .iter()
            .all(|&b| b == 0xFB)
            .then(|| &self.packet[..end])
    }

    pub fn encode_prefix(&self, visible: usize, out: &mut Vec<u8>) {
        for i in 0..visible.min(self.values.len()) {
            match self.value(i) {
                Some(v) => put_lenenc_bytes(out, v),
                None => out.push(0xFB),
            }
        }
    }
}

/// Encodes a row from owned values.
pub fn encode_values(values: &[Option<Vec<u8>>], out: &mut Vec<u8>) {
    for v in values {
        match v {
            Some(v) => put_lenenc_bytes(out, v),
            None => out.push(0xFB),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_and_reencode() {
        let mut p = Vec::new();
        put_lenenc_bytes(&mut p, b"12");
        p.push(0xFB);
        put_lenenc_bytes(&mut p, &vec![b'x'; 300]);
        let row = TextRow::decode(Bytes::from(p.clone()), 3).unwrap();
        assert_eq!(row.value(0), Some(&b"12"[..]));
        assert_eq!(row.value(1), None);
        assert_eq!(row.value(2).map(|v| v.len()), Some(300));
        let mut out = Vec::new();
        row.encode_prefix(3, &mut out);
        assert_eq!(out, p);
        let mut out = Vec::new();
        row.encode_prefix(1, &mut out);
        assert_eq!(out, b"\x0212");
        assert!(TextRow::decode(Bytes::from(p[..p.len() - 1].to_vec()), 3).is_none());
    }

    /// The packet's prefix is the re-encoded prefix, for generated rows
    /// (NULLs and values of every length class) at every cut.
    #[test]
    fn prefix_packet_is_the_encoded_prefix() {
        let lens = [
            None,
            Some(0usize),
            Some(1),
            Some(250),
            Some(251),
            Some(70_000),
        ];
        let mut cases = 0;
        for a in lens {
            for b in lens {
                for c in lens {
                    let values = [a, b, c];
                    let mut p = Vec::new();
                    for v in values {
                        match v {
                            Some(n) => put_lenenc_bytes(&mut p, &vec![b'v'; n]),
                            None => p.push(0xFB),
                        }
                    }
                    let row = TextRow::decode(Bytes::from(p), 3).unwrap();
                    for visible in 0..=4 {
                        let mut want = Vec::new();
                        row.encode_prefix(visible, &mut want);
                        assert_eq!(
                            row.prefix_packet(visible),
                            Some(&want[..]),
                            "{values:?} {visible}"
                        );
                        let mut cut = row.clone();
                        cut.values.truncate(visible.min(2));
                        let mut want = Vec::new();
                        cut.encode_prefix(visible, &mut want);
                        assert_eq!(cut.prefix_packet(visible), Some(&want[..]));
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 6 * 6 * 6 * 5);
    }
}
