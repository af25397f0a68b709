//! `DESCRIBE`/`SHOW COLUMNS`-style answers and COM_FIELD_LIST on logical
//! tables: the slot-0 physical table's answer with the logical name.
//!
//! Owns: those answers. Must not: plan or run DML.

use super::listing::logical_error;
use super::*;

impl Session {
    pub(super) async fn run_describe(&mut self, d: Describe, c: &Classified, seq: &mut u8) {
        let fetched = match self.metadata_conn(d.node, c).await {
            Ok(i) => self.fetch_on(i, &d.sql).await,
            Err(e) => Err(e),
        };
        let mut f = match fetched {
            Ok(f) => f,
            Err(e) => {
                let e = logical_error(e, &d.physical, &d.logical);
                self.fail_metadata(c, d.node, e, seq).await;
                return;
            }
        };
        let names = column_names(&f.columns);
        let table_col = names.iter().position(|n| n == "Table");
        let create_col = names.iter().position(|n| n == "Create Table");
        for row in &mut f.rows {
            if matches!(d.kind, DescribeKind::Index | DescribeKind::CreateTable) {
                if let Some(v) = table_col.and_then(|i| row.get_mut(i)) {
                    if v.as_deref() == Some(d.physical.as_bytes()) {
                        *v = Some(d.logical.clone().into_bytes());
                    }
                }
            }
            if d.kind == DescribeKind::CreateTable {
                if let Some(Some(v)) = create_col.and_then(|i| row.get_mut(i)) {
                    let text = String::from_utf8_lossy(v).into_owned();
                    *v = logical_create_table(&text, &d.physical, &d.logical).into_bytes();
                }
            }
        }
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, d.node, outcome);
    }

    /// COM_FIELD_LIST of a sharded table: the slot-0 physical table's
    /// columns, with the logical name in their definitions. `false`: not a
    /// sharded table, forward as usual.
    pub(in crate::frontend::session) async fn try_field_list(
        &mut self,
        payload: &[u8],
        seq: &mut u8,
    ) -> bool {
        let Some(router) = self.metadata_router() else {
            return false;
        };
        let mut r = Reader::new(payload.get(1..).unwrap_or_default());
        let Some(table) = r.null_terminated() else {
            return false;
        };
        let wildcard = r.rest().to_vec();
        let table = String::from_utf8_lossy(table).into_owned();
        let Some(MetaStatement::Describe(d)) = router.metadata(
            &format!(
                "DESCRIBE {}",
                crate::router::shard::meta::quote_ident(&table)
            ),
            self.state.schema.as_deref(),
        ) else {
            return false;
        };
        let mut forward = vec![command::FIELD_LIST];
        forward.extend_from_slice(d.physical.as_bytes());
        forward.push(0);
        forward.extend_from_slice(&wildcard);
        let c = crate::sql::classify("SELECT 1");
        let answer = match self.metadata_conn(d.node, &c).await {
            Ok(i) => {
                let conn = &mut self.held[i].conn;
                match conn.send_command(&forward).await {
                    Ok(()) => read_field_list(conn).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((defs, status)) => {
                let deprecate_eof = self.caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
                let mut ok = true;
                for def in &defs {
                    let def = rename_column_table(def, &d.physical, &d.logical);
                    ok &= self.client.send(seq, &def).await.is_ok();
                }
                let mut buf = Vec::new();
                if deprecate_eof {
                    OkPacket {
                        status,
                        ..OkPacket::default()
                    }
                    .encode(self.caps, 0xFE, &mut buf);
                } else {
                    encode_eof(&mut buf, 0, status);
                }
                if ok {
                    let _ = self.client.send(seq, &buf).await;
                }
            }
            Err(e) => {
                let e = logical_error(e, &d.physical, &d.logical);
                self.write_error_seq(&e, seq).await;
            }
        }
        self.held.retain(|h| !h.conn.broken);
        self.release_unpinned();
        true
    }
}

/// COM_FIELD_LIST's answer: column definitions up to the terminator.
pub(super) async fn read_field_list(conn: &mut BackendConn) -> Result<(Vec<Bytes>, u16)> {
    let mut defs = Vec::new();
    loop {
        let p = conn.read_packet().await?;
        if is_err(&p.payload) {
            return Err(backend_error(&p.payload));
        }
        if is_terminator(&p.payload) {
            let status = conn
                .absorb_ok(&p.payload)
                .map_or(conn.status, |ok| ok.status);
            return Ok((defs, status));
        }
        defs.push(p.payload);
    }
}

/// A column definition with its `table` and `org_table` shown as the
/// logical table when they name the physical one.
pub(super) fn rename_column_table(def: &[u8], physical: &str, logical: &str) -> Vec<u8> {
    let mut r = Reader::new(def);
    let (Some(catalog), Some(schema), Some(table), Some(org_table)) = (
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
    ) else {
        return def.to_vec();
    };
    let rename = |t: &[u8]| -> Vec<u8> {
        if t == physical.as_bytes() {
            logical.as_bytes().to_vec()
        } else {
            t.to_vec()
        }
    };
    let mut out = Vec::with_capacity(def.len() + 8);
    put_lenenc_bytes(&mut out, catalog);
    put_lenenc_bytes(&mut out, schema);
    put_lenenc_bytes(&mut out, &rename(table));
    put_lenenc_bytes(&mut out, &rename(org_table));
    out.extend_from_slice(r.rest());
    out
}
