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

use crate::wire::packets::put_lenenc_bytes;

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
        if let Some(c) = Self::parse_fixed(&raw) {
            return Some(ColumnInfo { raw, ..c });
        }
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

    /// What [`ColumnInfo::parse`] reads, read straight from the fixed
    /// fields of a well-formed definition (every merge parses its columns:
    /// no `Column` with its names built); `None` for anything else, which
    /// `Column`'s parser then reads (or refuses) as before.
    fn parse_fixed(raw: &[u8]) -> Option<ColumnInfo> {
        if !raw.starts_with(b"\x03def") {
            return None;
        }
        let at = crate::wire::packets::column_fixed_offset(raw)?;
        let f = raw.get(at..at + 13)?;
        Some(ColumnInfo {
            column_type: ColumnType::try_from(f[7]).ok()?,
            flags: ColumnFlags::try_from(u16::from_le_bytes([f[8], f[9]])).ok()?,
            charset: u16::from_le_bytes([f[1], f[2]]),
            decimals: f[10],
            raw: Bytes::new(),
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

    #[inline]
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

    /// Becomes `spans` (a heap vector's allocation is reused).
    fn set_from(&mut self, spans: &[Span]) {
        match self {
            Spans::Heap(v) => {
                v.clear();
                v.extend_from_slice(spans);
            }
            _ if spans.len() <= INLINE => {
                let mut at = [Span::NULL; INLINE];
                at[..spans.len()].copy_from_slice(spans);
                *self = Spans::Inline {
                    len: spans.len() as u8,
                    at,
                };
            }
            _ => *self = Spans::Heap(spans.to_vec()),
        }
    }
}

/// Reads a row's values: a [`TextRow`], a [`RowView`] of a row read in
/// place, a [`RowBuf`] copy. What comparisons and keys are computed over.
pub trait RowValues {
    /// Value `i`'s bytes; `None` for NULL or past the row's end.
    fn value(&self, i: usize) -> Option<&[u8]>;
}

/// The spans of the values of a text row of `columns` values in
/// `packet`; `None` if the packet is malformed (or past 4 GiB, more than
/// any server's `max_allowed_packet`). Each value is NULL (`0xFB`) or a
/// length-encoded string, read here without a general reader: this runs
/// for every merged row.
fn decode_spans(packet: &[u8], columns: usize) -> Option<Spans> {
    u32::try_from(packet.len()).ok()?;
    let mut pos = 0usize;
    if columns <= INLINE {
        // Built in place: no `Spans::push` per value.
        let mut at = [Span::NULL; INLINE];
        for slot in at.iter_mut().take(columns) {
            *slot = next_span(packet, &mut pos)?;
        }
        return Some(Spans::Inline {
            len: columns as u8,
            at,
        });
    }
    let mut v = Vec::with_capacity(columns);
    for _ in 0..columns {
        v.push(next_span(packet, &mut pos)?);
    }
    Some(Spans::Heap(v))
}

/// The span of the value at `*pos` of `packet` (whose length fits in a
/// u32), `*pos` moved past it.
#[inline(always)]
fn next_span(packet: &[u8], pos: &mut usize) -> Option<Span> {
    let at = *pos;
    let (start, len) = match *packet.get(at)? {
        0xFB => {
            *pos = at + 1;
            return Some(Span::NULL);
        }
        b @ 0..=0xFA => (at + 1, usize::from(b)),
        0xFC => {
            let b = packet.get(at + 1..at + 3)?;
            (at + 3, usize::from(u16::from_le_bytes([b[0], b[1]])))
        }
        0xFD => {
            let b = packet.get(at + 1..at + 4)?;
            (at + 4, u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize)
        }
        0xFE => {
            let b: [u8; 8] = packet.get(at + 1..at + 9)?.try_into().ok()?;
            (at + 9, usize::try_from(u64::from_le_bytes(b)).ok()?)
        }
        0xFF => return None,
    };
    let end = start.checked_add(len).filter(|&e| e <= packet.len())?;
    *pos = end;
    // Both within the packet, whose length fits in a u32.
    Some(Span {
        start: start as u32,
        end: end as u32,
    })
}

/// Value `i` of the row whose values lie at `spans` in `packet`.
#[inline]
fn value_in<'p>(packet: &'p [u8], spans: &[Span], i: usize) -> Option<&'p [u8]> {
    let s = spans.get(i)?;
    if s.start == u32::MAX {
        return None;
    }
    packet.get(s.start as usize..s.end as usize)
}

/// See [`TextRow::prefix_packet`].
fn prefix_in<'p>(packet: &'p [u8], spans: &[Span], visible: usize) -> Option<&'p [u8]> {
    let k = visible.min(spans.len());
    let (start, trailing_nulls) = match spans[..k].iter().rposition(|s| *s != Span::NULL) {
        Some(j) => (spans[j].end as usize, k - 1 - j),
        None => (0, k),
    };
    let end = start.checked_add(trailing_nulls)?;
    let nulls = packet.get(start..end)?;
    nulls.iter().all(|&b| b == 0xFB).then(|| &packet[..end])
}

/// See [`TextRow::encode_prefix`].
fn encode_prefix_in(packet: &[u8], spans: &[Span], visible: usize, out: &mut Vec<u8>) {
    for i in 0..visible.min(spans.len()) {
        match value_in(packet, spans, i) {
            Some(v) => put_lenenc_bytes(out, v),
            None => out.push(0xFB),
        }
    }
}

/// Where the values of a row lie in its payload, decoded once, for a row
/// read in place (its payload still in a connection's read buffer): see
/// [`RowShape::view`].
#[derive(Debug, Clone)]
pub struct RowShape {
    values: Spans,
}

impl RowShape {
    /// The shape of a text row of `columns` values; `None` if malformed
    /// (as [`TextRow::decode`]).
    #[inline]
    pub fn decode(packet: &[u8], columns: usize) -> Option<RowShape> {
        decode_spans(packet, columns).map(|values| RowShape { values })
    }

    /// The row these spans were decoded from, `packet` being its payload.
    #[inline]
    pub fn view<'a>(&'a self, packet: &'a [u8]) -> RowView<'a> {
        RowView {
            packet,
            values: self.values.as_slice(),
        }
    }
}

/// A row borrowed: its payload and where its values lie.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    packet: &'a [u8],
    values: &'a [Span],
}

impl<'a> RowView<'a> {
    /// How many values the row has.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The row's payload.
    pub fn packet(&self) -> &'a [u8] {
        self.packet
    }

    /// See [`TextRow::prefix_packet`].
    pub fn prefix_packet(&self, visible: usize) -> Option<&'a [u8]> {
        prefix_in(self.packet, self.values, visible)
    }

    /// See [`TextRow::encode_prefix`].
    pub fn encode_prefix(&self, visible: usize, out: &mut Vec<u8>) {
        encode_prefix_in(self.packet, self.values, visible, out)
    }
}

impl RowValues for RowView<'_> {
    #[inline]
    fn value(&self, i: usize) -> Option<&[u8]> {
        value_in(self.packet, self.values, i)
    }
}

/// A copy of a row in buffers reused from row to row (no allocation per
/// row once they are large enough): a row kept while the one it came from
/// is gone (the first row of a DISTINCT run).
#[derive(Debug, Clone)]
pub struct RowBuf {
    packet: Vec<u8>,
    values: Spans,
}

impl Default for RowBuf {
    fn default() -> Self {
        RowBuf {
            packet: Vec::new(),
            values: Spans::with_capacity(0),
        }
    }
}

impl RowBuf {
    /// Becomes a copy of `row`.
    pub fn set(&mut self, row: RowView<'_>) {
        self.packet.clear();
        self.packet.extend_from_slice(row.packet);
        self.values.set_from(row.values);
    }

    pub fn view(&self) -> RowView<'_> {
        RowView {
            packet: &self.packet,
            values: self.values.as_slice(),
        }
    }
}

impl RowValues for RowBuf {
    #[inline]
    fn value(&self, i: usize) -> Option<&[u8]> {
        value_in(&self.packet, self.values.as_slice(), i)
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
        let values = decode_spans(&packet, columns)?;
        Some(TextRow { packet, values })
    }

    /// The row borrowed.
    pub fn view(&self) -> RowView<'_> {
        RowView {
            packet: &self.packet,
            values: self.values.as_slice(),
        }
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
        value_in(&self.packet, self.values.as_slice(), i)
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
        prefix_in(&self.packet, self.values.as_slice(), visible)
    }

    /// Encodes the first `visible` values as a row packet payload.
    pub fn encode_prefix(&self, visible: usize, out: &mut Vec<u8>) {
        encode_prefix_in(&self.packet, self.values.as_slice(), visible, out)
    }
}

impl RowValues for TextRow {
    #[inline]
    fn value(&self, i: usize) -> Option<&[u8]> {
        TextRow::value(self, i)
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
    use crate::wire::packets::Reader;

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

    /// The fixed fields read in place are those `Column`'s parser reads,
    /// for generated definitions: names of every length class, with and
    /// without MariaDB's extended metadata, every type byte, known and
    /// unknown flags, other catalogs, fixed parts of other lengths.
    #[test]
    fn fixed_fields_are_the_parsers() {
        let slow = |raw: &Bytes| {
            let classic = crate::wire::packets::without_extended_metadata(raw);
            let col: Column = ParseBuf(&classic).parse(()).ok()?;
            Some((
                col.column_type(),
                col.flags(),
                col.character_set(),
                col.decimals(),
            ))
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut fast_hits, mut cases) = (0, 0);
        for _ in 0..20_000 {
            let mut p = Vec::new();
            let catalog: &[u8] = match next() % 8 {
                0 => b"xyz",
                1 => b"de",
                _ => b"def",
            };
            put_lenenc_bytes(&mut p, catalog);
            for _ in 0..5 {
                let n = [0usize, 1, 5, 250, 251, 300][(next() % 6) as usize];
                put_lenenc_bytes(&mut p, &vec![b'n'; n]);
            }
            if next() % 3 == 0 {
                put_lenenc_bytes(&mut p, b"\x00\x04json");
            }
            let fixed_len = [0x0c, 0x0c, 0x0c, 0x0b, 0x0d][(next() % 5) as usize];
            p.push(fixed_len);
            p.extend_from_slice(&(next() as u16).to_le_bytes()[..]);
            p.extend_from_slice(&(next() as u32).to_le_bytes()[..]);
            let known = [1u8, 3, 8, 12, 15, 246, 252, 253, 254];
            p.push(match next() % 4 {
                0 => next() as u8,
                _ => known[(next() % known.len() as u64) as usize],
            });
            let flags = match next() % 3 {
                0 => next() as u16,
                _ => (next() as u16) & 0x7fff & !(1 << 14) & !(1 << 13),
            };
            p.extend_from_slice(&flags.to_le_bytes());
            p.push(next() as u8);
            let tail = [2usize, 2, 2, 1, 3, 6][(next() % 6) as usize];
            p.extend(std::iter::repeat_n(0u8, tail));
            let raw = Bytes::from(p);
            let got = ColumnInfo::parse(raw.clone())
                .map(|c| (c.column_type, c.flags, c.charset, c.decimals));
            assert_eq!(got, slow(&raw), "{raw:?}");
            fast_hits += usize::from(ColumnInfo::parse_fixed(&raw).is_some());
            cases += 1;
        }
        assert!(fast_hits > cases / 10, "{fast_hits} of {cases}");
    }

    /// The spans as the general reader finds them (the decoder before it
    /// was written out by hand), for generated packets: well-formed rows
    /// of every length class, cut ones, random bytes.
    #[test]
    fn decoded_spans_are_the_readers() {
        fn reference(packet: &[u8], columns: usize) -> Option<Vec<Option<Range<usize>>>> {
            let total = u32::try_from(packet.len()).ok()?;
            let mut r = Reader::new(packet);
            let mut out = Vec::new();
            for _ in 0..columns {
                let at = total - r.remaining() as u32;
                if packet.get(at as usize) == Some(&0xFB) {
                    r.u8()?;
                    out.push(None);
                } else {
                    let v = r.lenenc_bytes()?;
                    let end = (total - r.remaining() as u32) as usize;
                    out.push(Some(end - v.len()..end));
                }
            }
            Some(out)
        }
        let decoded = |packet: &[u8], columns: usize| {
            decode_spans(packet, columns).map(|s| s.as_slice().iter().map(|x| x.range()).collect())
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let lens = [0usize, 1, 7, 250, 251, 252, 300, 65_535, 65_536, 70_000];
        let mut checked = 0;
        for _ in 0..3000 {
            let columns = (next() % 9) as usize;
            let mut p = Vec::new();
            for _ in 0..columns {
                match next() % 4 {
                    0 => p.push(0xFB),
                    _ => put_lenenc_bytes(&mut p, &vec![b'x'; lens[(next() % 10) as usize]]),
                }
            }
            for cut in [0, 1, 2, 3, 9] {
                let q = &p[..p.len().saturating_sub(cut)];
                for c in [columns, columns + 1, columns.saturating_sub(1)] {
                    assert_eq!(decoded(q, c), reference(q, c), "{columns} {cut} {c}");
                    checked += 1;
                }
            }
            let noise: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
            for c in 0..6 {
                assert_eq!(decoded(&noise, c), reference(&noise, c), "{noise:?}");
                checked += 1;
            }
        }
        // 8-byte lengths, one past the packet.
        let mut big = vec![0xFE];
        big.extend_from_slice(&3u64.to_le_bytes());
        big.extend_from_slice(b"abc");
        assert_eq!(decoded(&big, 1), reference(&big, 1));
        assert_eq!(decoded(&big[..big.len() - 1], 1), None);
        assert!(checked > 50_000);
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
