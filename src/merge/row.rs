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

/// Where one value lies in its row's packet: `start..end`, or SQL NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const NULL: Span = Span {
        start: u32::MAX,
        end: 0,
    };

    fn range(self) -> Option<Range<usize>> {
        (self.start != u32::MAX).then_some(self.start as usize..self.end as usize)
    }
}

/// Value spans kept in the row itself up to this many columns (a merged
/// row is usually a few visible columns plus its weight columns): no
/// allocation per row below it.
const INLINE: usize = 6;

/// The spans of a row's values: inline for narrow rows, on the heap for
/// wide ones.
#[derive(Debug, Clone)]
enum Spans {
    Inline { len: u8, at: [Span; INLINE] },
    Heap(Vec<Span>),
}

impl Spans {
    fn with_capacity(n: usize) -> Spans {
        if n <= INLINE {
            Spans::Inline {
                len: 0,
                at: [Span::NULL; INLINE],
            }
        } else {
            Spans::Heap(Vec::with_capacity(n))
        }
    }

    fn push(&mut self, s: Span) {
        match self {
            Spans::Inline { len, at } if (*len as usize) < INLINE => {
                at[*len as usize] = s;
                *len += 1;
            }
            Spans::Inline { len, at } => {
                let mut v = at[..*len as usize].to_vec();
                v.push(s);
                *self = Spans::Heap(v);
            }
            Spans::Heap(v) => v.push(s),
        }
    }

    fn as_slice(&self) -> &[Span] {
        match self {
            Spans::Inline { len, at } => &at[..*len as usize],
            Spans::Heap(v) => v,
        }
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Spans::Inline { len, .. } => *len = (*len).min(n.min(INLINE) as u8),
            Spans::Heap(v) => v.truncate(n),
        }
    }
}

/// One text-protocol row: its packet as the shard sent it and where each
/// value lies in it (computed once, by [`TextRow::decode`]).
#[derive(Debug, Clone)]
pub struct TextRow {
    pub packet: Bytes,
    values: Spans,
}

impl TextRow {
    /// Decodes a row of `columns` values; `None` if the packet is malformed
    /// (or past 4 GiB, more than any server's `max_allowed_packet`).
    pub fn decode(packet: Bytes, columns: usize) -> Option<TextRow> {
        let total = u32::try_from(packet.len()).ok()?;
        let mut values = Spans::with_capacity(columns);
        let mut r = Reader::new(&packet);
        for _ in 0..columns {
            let at = total - r.remaining() as u32;
            if packet.get(at as usize) == Some(&0xFB) {
                r.u8()?;
                values.push(Span::NULL);
            } else {
                let v = r.lenenc_bytes()?;
                let end = total - r.remaining() as u32;
                values.push(Span {
                    start: end - v.len() as u32,
                    end,
                });
            }
        }
        Some(TextRow { packet, values })
    }

    /// How many values the row has.
    pub fn len(&self) -> usize {
        self.values.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `n` values (the packet is left as it is: see
    /// [`TextRow::prefix_packet`]).
    pub fn truncate(&mut self, n: usize) {
        self.values.truncate(n);
    }

    /// Value `i`'s bytes; `None` for NULL or past the row's end.
    #[inline]
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        let s = self.values.as_slice().get(i)?;
        if s.start == u32::MAX {
            return None;
        }
        self.packet.get(s.start as usize..s.end as usize)
    }

    /// The byte range of value `i` in the packet; `None` for NULL.
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        self.values.as_slice().get(i)?.range()
    }

    /// The encoding of the first `visible` values as a slice of the row's
    /// own packet, when it is one: a decoded row's values are contiguous
    /// from the packet's start (operators only cut values off the end), so
    /// the prefix ends after the last non-NULL value and one `0xFB` per
    /// NULL after it. `None` when the packet does not have that shape
    /// (the caller encodes with [`TextRow::encode_prefix`]). Saves the copy
    /// and re-encoding of every merged row that is sent as it came.
    pub fn prefix_packet(&self, visible: usize) -> Option<&[u8]> {
        let spans = self.values.as_slice();
        let k = visible.min(spans.len());
        let (start, trailing_nulls) = match spans[..k].iter().rposition(|s| *s != Span::NULL) {
            Some(j) => (spans[j].end as usize, k - 1 - j),
            None => (0, k),
        };
        let end = start.checked_add(trailing_nulls)?;
        let nulls = self.packet.get(start..end)?;
        nulls
            .iter()
            .all(|&b| b == 0xFB)
            .then(|| &self.packet[..end])
    }

    /// Encodes the first `visible` values as a row packet payload.
    pub fn encode_prefix(&self, visible: usize, out: &mut Vec<u8>) {
        for i in 0..visible.min(self.len()) {
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
                        cut.truncate(visible.min(2));
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
