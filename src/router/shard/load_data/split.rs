//! Splitting a `LOAD DATA` file into rows exactly where the server would,
//! so each row's bytes can be sent to the shard that holds it and parsed
//! there again the same way.
//!
//! This follows MariaDB's `READ_INFO` (`sql/sql_load.cc`): `read_field`
//! (enclosures, doubled quotes, escapes, `\N`), `next_line` (the rest of a
//! row with more fields than columns: escapes honoured, enclosures not),
//! `find_start_of_fields` (`LINES STARTING BY`) and `IGNORE n LINES`
//! (`next_line` from the start). A row's chunk runs from where the previous
//! row ended to where this one ended, so a shard receiving any sequence of
//! chunks, in file order, reads exactly these rows again. Bytes are
//! scanned one by one: the caller refuses character sets whose multi-byte
//! characters may contain ASCII bytes and delimiters that are not ASCII.
//!
//! Owns: row boundaries and the value of one field (or two) per row. Must not
//! convert values to keys, route, or do I/O.

use std::ops::Range;

/// The `FIELDS` / `LINES` options of a statement, as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub field_term: Vec<u8>,
    pub enclosed: Option<u8>,
    pub escape: Option<u8>,
    pub line_start: Vec<u8>,
    pub line_term: Vec<u8>,
}

impl Default for Format {
    fn default() -> Self {
        Format {
            field_term: b"\t".to_vec(),
            enclosed: None,
            escape: Some(b'\\'),
            line_start: Vec::new(),
            line_term: b"\n".to_vec(),
        }
    }
}

/// One field of a row as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// SQL NULL (`\N`, or unenclosed `NULL` when fields may be enclosed).
    Null,
    /// The value (escapes resolved, enclosing quotes removed).
    Value(Vec<u8>),
}

/// One row: its bytes in the file and the field the caller asked for
/// (`None` when the row has fewer fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub chunk: Range<usize>,
    pub field: Option<Field>,
    /// The second field asked for ([`split_rows_with`]: a composite
    /// table's period column), if any.
    pub second: Option<Field>,
}

/// The rows of `data` after `ignore` lines, each with field `want` of
/// `fields` (the number of columns and variables the statement lists).
/// Also returns the byte range of the ignored head.
pub fn split_rows(
    data: &[u8],
    format: &Format,
    ignore: u64,
    fields: usize,
    want: usize,
) -> (Range<usize>, Vec<Row>) {
    split_rows_with(data, format, ignore, fields, want, None)
}

/// [`split_rows`], also reading field `second` of each row into
/// [`Row::second`].
pub fn split_rows_with(
    data: &[u8],
    format: &Format,
    ignore: u64,
    fields: usize,
    want: usize,
    second: Option<usize>,
) -> (Range<usize>, Vec<Row>) {
    let mut r = ReadInfo::new(data, format);
    for _ in 0..ignore {
        if r.next_line() {
            break;
        }
    }
    let head = 0..r.pos;
    let mut rows = Vec::new();
    loop {
        let start = r.pos;
        let mut field = None;
        let mut other = None;
        let mut read = 0;
        while read < fields.max(1) {
            let Some(value) = r.read_field() else {
                break;
            };
            if Some(read) == second {
                other = Some(value.clone());
            }
            if read == want {
                field = Some(value);
            }
            read += 1;
        }
        if read == 0 {
            break;
        }
        let eof = r.next_line();
        rows.push(Row {
            chunk: start..r.pos,
            field,
            second: other,
        });
        if eof {
            break;
        }
    }
    (head, rows)
}

/// `READ_INFO`'s state over an in-memory file.
struct ReadInfo<'a> {
    data: &'a [u8],
    pos: usize,
    field_term: &'a [u8],
    line_term: &'a [u8],
    line_start: &'a [u8],
    enclosed: Option<u8>,
    escape: Option<u8>,
    found_end_of_line: bool,
    start_of_line: bool,
    eof: bool,
}

impl<'a> ReadInfo<'a> {
    fn new(data: &'a [u8], f: &'a Format) -> Self {
        // As the server: a line terminator equal to the field terminator
        // is not used.
        let line_term: &[u8] = if f.line_term == f.field_term {
            &[]
        } else {
            &f.line_term
        };
        ReadInfo {
            data,
            pos: 0,
            field_term: &f.field_term,
            line_term,
            line_start: &f.line_start,
            enclosed: f.enclosed,
            escape: f.escape,
            found_end_of_line: false,
            start_of_line: !f.line_start.is_empty(),
            eof: false,
        }
    }

    fn get(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        b
    }

    /// The first byte of `term` was just read: consumes the rest of it
    /// when it follows.
    fn terminator(&mut self, term: &[u8]) -> bool {
        let rest = term.get(1..).unwrap_or_default();
        if self
            .data
            .get(self.pos..)
            .is_some_and(|d| d.starts_with(rest))
        {
            self.pos += rest.len();
            true
        } else {
            false
        }
    }

    fn is_first(term: &[u8], b: u8) -> bool {
        term.first() == Some(&b)
    }

    fn find_start_of_fields(&mut self) -> bool {
        let found = self
            .data
            .get(self.pos..)
            .and_then(|d| find(d, self.line_start));
        match found {
            Some(at) => {
                self.pos += at + self.line_start.len();
                false
            }
            None => {
                self.pos = self.data.len();
                self.found_end_of_line = true;
                self.eof = true;
                true
            }
        }
    }

    /// `read_field`: `None` at the end of the line or file.
    fn read_field(&mut self) -> Option<Field> {
        if self.found_end_of_line {
            return None;
        }
        if self.start_of_line {
            self.start_of_line = false;
            if self.find_start_of_fields() {
                return None;
            }
        }
        let Some(first) = self.get() else {
            self.found_end_of_line = true;
            self.eof = true;
            return None;
        };
        let mut data: Vec<u8> = Vec::new();
        let mut found_null = false;
        let quote = match self.enclosed {
            Some(q) if q == first => {
                data.push(first);
                Some(q)
            }
            _ => {
                self.pos -= 1;
                None
            }
        };
        let has_enclosure = self.enclosed.is_some();
        let null_word =
            move |enclosed: bool, value: &[u8]| !enclosed && has_enclosure && value == b"NULL";
        let done = |data: Vec<u8>, enclosed: bool, null: bool| -> Field {
            let value = if enclosed {
                data.get(1..).unwrap_or_default().to_vec()
            } else {
                data
            };
            if null_word(enclosed, &value) || (value.len() == 1 && null) {
                Field::Null
            } else {
                Field::Value(value)
            }
        };
        loop {
            let Some(mut chr) = self.get() else {
                // found_eof
                self.found_end_of_line = true;
                self.eof = true;
                return Some(done(data, false, found_null));
            };
            if Some(chr) == self.escape {
                let Some(next) = self.get() else {
                    data.push(chr);
                    self.found_end_of_line = true;
                    self.eof = true;
                    return Some(done(data, false, found_null));
                };
                if self.escape != self.enclosed || Some(next) == self.escape {
                    data.push(unescape(next, &mut found_null));
                    continue;
                }
                self.pos -= 1;
            }
            if Self::is_first(self.line_term, chr) && quote.is_none() && {
                let term = self.line_term;
                self.terminator(term)
            } {
                self.found_end_of_line = true;
                return Some(done(data, false, found_null));
            }
            if Some(chr) == quote {
                match self.get() {
                    Some(next) if Some(next) == quote => {
                        data.push(next);
                        continue;
                    }
                    None => {
                        self.found_end_of_line = true;
                        return Some(done(data, true, found_null));
                    }
                    Some(next) => {
                        if Self::is_first(self.line_term, next) && {
                            let term = self.line_term;
                            self.terminator(term)
                        } {
                            self.found_end_of_line = true;
                            return Some(done(data, true, found_null));
                        }
                        if Self::is_first(self.field_term, next) && {
                            let term = self.field_term;
                            self.terminator(term)
                        } {
                            return Some(done(data, true, found_null));
                        }
                        self.pos -= 1;
                        chr = quote.unwrap_or(chr);
                    }
                }
            } else if Self::is_first(self.field_term, chr) && quote.is_none() && {
                let term = self.field_term;
                self.terminator(term)
            } {
                return Some(done(data, false, found_null));
            }
            data.push(chr);
        }
    }

    /// `next_line`: skips the rest of the line; true at the end of the
    /// file.
    fn next_line(&mut self) -> bool {
        self.start_of_line = !self.line_start.is_empty();
        if self.found_end_of_line || self.eof {
            self.found_end_of_line = false;
            return self.eof;
        }
        loop {
            let Some(b) = self.get() else {
                self.eof = true;
                return true;
            };
            if Some(b) == self.escape {
                if self.get().is_none() {
                    self.eof = true;
                    return true;
                }
                continue;
            }
            if Self::is_first(self.line_term, b) && {
                let term = self.line_term;
                self.terminator(term)
            } {
                return false;
            }
        }
    }
}

fn unescape(chr: u8, found_null: &mut bool) -> u8 {
    match chr {
        b'n' => b'\n',
        b't' => b'\t',
        b'r' => b'\r',
        b'b' => 8,
        b'0' => 0,
        b'Z' => 26,
        b'N' => {
            *found_null = true;
            b'N'
        }
        other => other,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
