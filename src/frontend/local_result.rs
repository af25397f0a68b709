//! Result sets the proxy answers itself (admin statements, EXPLAIN
//! SHARDCAT), in the text protocol, every column a VARCHAR.
//!
//! Owns: encoding such results for the client's capabilities. Must not
//! touch backends.

use mysql_common::constants::{CapabilityFlags, ColumnType};
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;

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

    pub async fn send(
        &self,
        client: &mut ClientStream,
        caps: CapabilityFlags,
        seq: &mut u8,
        status: u16,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        put_lenenc_int(&mut buf, self.columns.len() as u64);
        client.send(seq, &buf).await?;
        for name in &self.columns {
            let col = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
                .with_schema(b"")
                .with_table(b"")
                .with_org_table(b"")
                .with_name(name.as_bytes())
                .with_org_name(name.as_bytes())
                .with_character_set(45)
                .with_column_length(1024);
            buf.clear();
            col.serialize(&mut buf);
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
