//! A first end-to-end check: a client logs in through shardcat and runs
//! statements against the real topology.

mod common;

use common::proxy::ProxyProcess;
use common::Topology;
use mysql_async::prelude::*;

#[tokio::test]
async fn login_query_and_wrong_password() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start(&topo);
    let mut conn = mysql_async::Conn::from_url(proxy.url("app", "app", None))
        .await
        .expect("login");
    let one: Option<i64> = conn.query_first("SELECT 1").await.expect("select");
    assert_eq!(one, Some(1));
    let Err(err) = mysql_async::Conn::from_url(proxy.url("app", "wrong", None)).await else {
        panic!("login with a wrong password must fail");
    };
    match err {
        mysql_async::Error::Server(e) => {
            assert_eq!(e.code, 1045);
            assert_eq!(e.state, "28000");
        }
        other => panic!("unexpected error {other:?}"),
    }
    conn.disconnect().await.expect("disconnect");
}
