//! Running the same statement through shardcat and on `ref` (the server
//! holding all the data) and comparing the outcomes: error code, or
//! affected rows and info text; rows read in the binary protocol.
//!
//! Include it with `#[path = "common/vs_ref.rs"] mod vs_ref;` next to
//! `mod common;` and `#[path = "common/util.rs"] mod util;`.
#![allow(dead_code)]

use std::time::Duration;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

use super::util;

/// Statements a test runs are bounded: a hang fails the test.
pub async fn q(c: &mut Conn, sql: &str) -> Result<(), mysql_async::Error> {
    tokio::time::timeout(Duration::from_secs(20), c.query_drop(sql))
        .await
        .unwrap_or_else(|_| panic!("{sql}: hung"))
}

/// Every row `sql` answers, in the binary protocol (floats exact).
pub async fn rows_of(c: &mut Conn, sql: &str) -> Vec<Vec<Value>> {
    let rows: Vec<Row> = c
        .exec(sql, ())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(Row::unwrap).collect()
}

/// Runs `sql` on both (shardcat `p`, `ref` `r`); the same outcome (error
/// code, or affected rows and info). The error code, if any.
pub async fn both(p: &mut Conn, r: &mut Conn, sql: &str) -> Option<u16> {
    let want = q(r, sql)
        .await
        .map(|_| (r.affected_rows(), r.info().to_string()));
    let got = q(p, sql)
        .await
        .map(|_| (p.affected_rows(), p.info().to_string()));
    match (want, got) {
        (Ok(w), Ok(g)) => {
            assert_eq!(g, w, "{sql}");
            None
        }
        (Err(w), Err(g)) => {
            let (w, g) = (util::server_error(w), util::server_error(g));
            assert_eq!(g.0, w.0, "{sql}: shardcat {g:?} vs ref {w:?}");
            Some(w.0)
        }
        (w, g) => panic!("{sql}: shardcat {g:?} vs ref {w:?}"),
    }
}

/// A fresh database `db` through shardcat and on `ref`, with `ddl` run
/// on both; the two connections, using it.
pub async fn fresh_db(
    proxy: &crate::common::proxy::ProxyProcess,
    topo: &crate::common::Topology,
    db: &str,
    ddl: &[String],
) -> (Conn, Conn) {
    let mut p = util::proxy_conn(proxy, None).await;
    let mut r = util::direct_conn(topo, "ref", None).await;
    for c in [&mut p, &mut r] {
        q(c, &format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
        q(c, &format!("CREATE DATABASE {db}")).await.unwrap();
        q(c, &format!("USE {db}")).await.unwrap();
        for sql in ddl {
            q(c, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    (p, r)
}

/// The rows of the physical tables `(server, table, slot)` of `db` on the
/// primaries, after checking, with `modulo`, that each holds only keys
/// `k` of its slot (`MOD(k, modulo) = slot`).
pub async fn rows_on_primaries(
    topo: &crate::common::Topology,
    db: &str,
    physical: &[(&str, String, usize)],
    modulo: Option<usize>,
    what: &str,
) -> usize {
    let mut total = 0;
    for (server, phys, slot) in physical {
        let mut c = util::direct_conn(topo, server, Some(db)).await;
        if let Some(m) = modulo {
            let bad: Vec<Row> = c
                .exec(
                    format!("SELECT k FROM {phys} WHERE MOD(k, {m}) <> {slot}"),
                    (),
                )
                .await
                .unwrap();
            assert!(
                bad.is_empty(),
                "{what}: {phys} holds keys of other slots: {bad:?}"
            );
        }
        let n: Option<i64> = c
            .query_first(format!("SELECT COUNT(*) FROM {phys}"))
            .await
            .unwrap();
        total += n.unwrap_or(0) as usize;
        c.disconnect().await.ok();
    }
    total
}
