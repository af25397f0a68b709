//! Result sets the proxy answers itself (admin statements, EXPLAIN
//! SHARDCAT), in the text protocol, every column a VARCHAR.
//!
//! Owns: encoding such results for the client's capabilities. Must not
//! touch backends.

use mysql_common::constants::{CapabilityFlags, ColumnType};

use crate::execute::ClientStream;
use crate::wire::packets::{encode_eof, put_lenenc_bytes, put_lenenc_int, OkPacket};

pub struct TextResult {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl TextResult {
    pub fn new(columns: &[&str]) -> Self {
        TextResult {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, values: Vec<Option<String>>) {
        self.rows.push(values);
    }

    /// The column names (the status page renders the same results).
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    pub fn rows(&self) -> &[Vec<Option<String>>] {
        &self.rows
    }

    pub async fn send(
        &self,
        client: &mut ClientStream,
        caps: CapabilityFlags,
        extended_metadata: bool,
        seq: &mut u8,
        status: u16,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        put_lenenc_int(&mut buf, self.columns.len() as u64);
        client.send(seq, &buf).await?;
        for name in &self.columns {
            buf.clear();
            column_definition(&mut buf, name, extended_metadata);
            client.send(seq, &buf).await?;
        }
        let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        if !deprecate_eof {
            buf.clear();
            encode_eof(&mut buf, 0, status);
            client.send(seq, &buf).await?;
        }
        for row in &self.rows {
            buf.clear();
            for v in row {
                match v {
                    Some(s) => put_lenenc_bytes(&mut buf, s.as_bytes()),
                    None => buf.push(0xFB),
                }
            }
            client.send(seq, &buf).await?;
        }
        buf.clear();
        if deprecate_eof {
            OkPacket {
                status,
                ..OkPacket::default()
            }
            .encode(caps, 0xFE, &mut buf);
        } else {
            encode_eof(&mut buf, 0, status);
        }
        client.send(seq, &buf).await
    }
}

/// A VARCHAR(1024) utf8mb4 column named `name` (the fixed part in
/// protocol order: charset, length, type, flags, decimals), with an empty
/// MariaDB extended metadata string when the client negotiated it.
fn column_definition(out: &mut Vec<u8>, name: &str, extended_metadata: bool) {
    for s in [&b"def"[..], b"", b"", b"", name.as_bytes(), name.as_bytes()] {
        put_lenenc_bytes(out, s);
    }
    if extended_metadata {
        out.push(0);
    }
    out.push(0x0c);
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&(1024u32 * 4).to_le_bytes());
    out.push(ColumnType::MYSQL_TYPE_VAR_STRING as u8);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_common::io::ParseBuf;
    use mysql_common::packets::Column;

    #[test]
    fn definitions_parse_back() {
        let mut buf = Vec::new();
        column_definition(&mut buf, "Tables_in_x", false);
        let c: Column = ParseBuf(&buf).parse(()).unwrap();
        assert_eq!(c.name_str(), "Tables_in_x");
        assert_eq!(c.character_set(), 45);
        assert_eq!(c.column_length(), 4096);
        assert_eq!(c.column_type(), ColumnType::MYSQL_TYPE_VAR_STRING);
        let mut ext = Vec::new();
        column_definition(&mut ext, "Tables_in_x", true);
        assert_eq!(
            crate::wire::packets::without_extended_metadata(&ext.into()),
            buf
        );
    }
}
