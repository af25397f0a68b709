//! `LOAD DATA LOCAL INFILE` into sharded and broadcast tables: asking the
//! client for its file (only a client that announced `CLIENT_LOCAL_FILES`,
//! and only the file its statement names: the proxy never opens a file),
//! receiving it, and running the router's per-shard plan, each shard's
//! server being sent its rows when it asks for its file. Single-node rule
//! tables take the relayed path (the server's request goes to the client).
//!
//! Owns: the file exchange with the client. Must not split rows or choose
//! shards (`router::shard::load_data`) or write to backends directly
//! (`run_plan`, `execute::write`).

use std::sync::Arc;

use mysql_common::constants::CapabilityFlags;

use super::sharded::{ShardedPath, WriteGate};
use super::Session;
use crate::error::{ProxyError, Result};
use crate::execute::relay::{client_gone, local_infile_disabled};
use crate::execute::Encoding;
use crate::router::shard::load_data::LoadRequest;
use crate::router::shard::{PlanKind, ShardPlan, ShardRouter, ShardTarget};
use crate::sql::{Classified, StatementKind};

/// The largest file a split load holds in memory (the rows are sorted by
/// shard before any shard loads them).
const MAX_SPLIT_FILE: usize = 512 << 20;

impl Session {
    /// `LOAD DATA` naming a table with a rule: its path (`None` for other
    /// statements and tables).
    pub(super) fn load_data_path(&self, text: &str, c: &Classified) -> Option<ShardedPath> {
        if c.kind != StatementKind::LoadData {
            return None;
        }
        let router = if self.pins.transaction {
            self.tx_router
                .clone()
                .or_else(|| self.proxy.shard_router.load_full())
        } else {
            self.proxy.shard_router.load_full()
        }?;
        match router.load_data(text, self.state.schema.as_deref()) {
            Ok(None) => None,
            Ok(Some(req)) => Some(ShardedPath::LoadData(router, Box::new(req))),
            Err(e) => Some(ShardedPath::Refused(ProxyError::from(e))),
        }
    }

    pub(super) async fn run_load_data(
        &mut self,
        router: Arc<ShardRouter>,
        req: &LoadRequest,
        text: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        if let Some(node) = req.single_node {
            let plan = ShardPlan {
                targets: vec![ShardTarget {
                    node,
                    sql: text.to_owned(),
                    tables: Default::default(),
                    params: Default::default(),
                    local_file: None,
                    rows: None,
                }],
                kind: PlanKind::Unsharded { node },
                merge: None,
                generated_id: None,
                write: true,
            };
            return self.run_plan(&plan, c, Encoding::Text, seq).await;
        }
        if !self.caps.contains(CapabilityFlags::CLIENT_LOCAL_FILES) {
            return self
                .write_error_seq(&ProxyError::Backend(local_infile_disabled()), seq)
                .await;
        }
        let (columns, data) = match self.load_data_file(&router, req, text, seq).await {
            Ok(received) => received,
            Err(ProxyError::ClientGone) => return,
            Err(e) => return self.write_error_seq(&e, seq).await,
        };
        // Like other writes, the split rows wait while a shard move pauses
        // writes to their tables, then are split again under the rules in
        // force (the tables may have moved).
        let mut router = router;
        loop {
            let columns = columns.as_deref().map(Vec::as_slice);
            let plan = match router.plan_load_data(req, text, columns, &data) {
                Ok(plan) => plan,
                Err(e) => return self.write_error_seq(&ProxyError::from(e), seq).await,
            };
            match self.write_gate(&plan).await {
                WriteGate::Pass(in_flight) => {
                    self.run_scatter_write(&plan, c, Encoding::Text, seq).await;
                    return self.keep_for_transaction(in_flight);
                }
                WriteGate::Waited => {
                    let current = if self.pins.transaction {
                        self.tx_router.clone()
                    } else {
                        None
                    };
                    match current.or_else(|| self.proxy.shard_router.load_full()) {
                        Some(r) => router = r,
                        None => {
                            let e = ProxyError::Internal("the sharding rules are gone".into());
                            return self.write_error_seq(&e, seq).await;
                        }
                    }
                }
            }
        }
    }

    /// Checks what can be checked and receives the file: the table's
    /// columns (if fetched) and the file's bytes.
    async fn load_data_file(
        &mut self,
        router: &ShardRouter,
        req: &LoadRequest,
        text: &str,
        seq: &mut u8,
    ) -> Result<(Option<Arc<Vec<String>>>, Vec<u8>)> {
        let columns = match &req.columns_from {
            Some((node, physical)) => {
                let cols = self
                    .fetch_columns(&req.schema, &req.name, *node, physical)
                    .await?;
                router.remember_columns(&req.schema, &req.name, cols.clone());
                Some(Arc::new(cols))
            }
            None => router.known_columns(&req.schema, &req.name),
        };
        // The statement itself must be loadable before the client sends
        // anything (an empty file plans every check but the rows').
        router.plan_load_data(req, text, columns.as_deref().map(Vec::as_slice), &[])?;
        let data = self.receive_local_file(&req.stmt.file_name, seq).await?;
        Ok((columns, data))
    }

    /// Sends the client the request for `name` and reads the file up to
    /// its empty packet. A file over [`MAX_SPLIT_FILE`] is read to its end
    /// (the connection stays in step) and refused.
    async fn receive_local_file(&mut self, name: &[u8], seq: &mut u8) -> Result<Vec<u8>> {
        let mut request = Vec::with_capacity(name.len() + 1);
        request.push(0xFB);
        request.extend_from_slice(name);
        self.client.send(seq, &request).await.map_err(client_gone)?;
        self.client.flush().await.map_err(client_gone)?;
        let mut data = Vec::new();
        let mut too_large = false;
        loop {
            let p = self.client.read_packet().await.map_err(client_gone)?;
            *seq = p.seq.wrapping_add(1);
            if p.payload.is_empty() {
                break;
            }
            if data.len() + p.payload.len() > MAX_SPLIT_FILE {
                too_large = true;
                data = Vec::new();
            }
            if !too_large {
                data.extend_from_slice(&p.payload);
            }
        }
        if too_large {
            return Err(ProxyError::Routing(format!(
                "LOAD DATA into a sharded table: the file is larger than the {} MiB shardcat \
                 splits in memory; split the file",
                MAX_SPLIT_FILE >> 20
            )));
        }
        Ok(data)
    }
}
