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
