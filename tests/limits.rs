//! Connection limits, generated over several values: `[server]
//! max_connections` (alias of `max_client_connections`) refuses the
//! connection past the limit with 1040/08004 in place of the greeting, as
//! MySQL; a user's `max_user_connections` refuses that user's login past
//! its limit with 1203/42000 while other users still log in; a slot freed
//! by a disconnect is usable again at once.
//!
//! Run (after `scripts/topology.sh up`):
//!
//! ```text
//! SHARDCAT_TOPOLOGY_ENV=.topology/topology.env cargo test --test limits
//! ```

mod common;
#[path = "common/custom_proxy.rs"]
mod custom_proxy;
#[path = "common/raw.rs"]
mod raw;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

use common::proxy::{ProxyOptions, ProxyProcess};
use common::Topology;
use custom_proxy::CustomProxy;
use raw::RawConn;

fn proxy(topo: &Topology, max_connections: usize, user_limit: u32) -> CustomProxy {
    CustomProxy::start(|port| {
        let o = ProxyOptions {
            server: format!("max_connections = {max_connections}"),
            ..Default::default()
        };
        let text = ProxyProcess::config_text(topo, port, &o);
        let other = "name = \"other\"\npassword = \"other-pw\"";
        assert!(text.contains(other));
        text.replace(
            other,
            &format!("{other}\nmax_user_connections = {user_limit}"),
        )
    })
}

async fn login(port: u16, user: &str, pw: &str) -> Result<RawConn, String> {
    match RawConn::login(port, user, pw, None, raw::DEFAULT_CAPS).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("{} {} {}", e.code, e.state, e.message)),
        Err(e) => Err(e.to_string()),
    }
}

/// Waits until a login of `user` succeeds (a closed session's slot is
/// given back when its task ends).
async fn login_soon(port: u16, user: &str, pw: &str) -> RawConn {
    for _ in 0..50 {
        if let Ok(c) = login(port, user, pw).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{user} could not log in again after a slot was freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_refuse_with_mysqls_errors() {
    let topo = Topology::from_env();
    for (max_connections, user_limit) in [(2usize, 1u32), (4, 1), (4, 3), (6, 2)] {
        let p = proxy(&topo, max_connections, user_limit);
        let case = format!("max_connections {max_connections}, max_user_connections {user_limit}");

        // The user limit: `other` logs in user_limit times, then 1203.
        let mut others = Vec::new();
        for _ in 0..user_limit {
            others.push(login(p.port, "other", "other-pw").await.expect(&case));
        }
        // Connections that closed (the start-up probe) count until their
        // task ends: let them.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let refused = login(p.port, "other", "other-pw").await.err();
        let refused = refused.unwrap_or_else(|| panic!("{case}: user limit not enforced"));
        assert!(
            refused
                .starts_with("1203 42000 User other already has more than 'max_user_connections'"),
            "{case}: {refused}"
        );
        // A refused login took no slot; the other sessions work.
        let pong = others[0].ping().await.expect("ping");
        assert!(matches!(pong, raw::Reply::Ok(_)), "{case}");

        // The global limit: fill it with `app`, then 1040 in the greeting.
        let mut apps = Vec::new();
        // (A refused connection counts until its task has closed it.)
        while others.len() + apps.len() < max_connections {
            apps.push(login_soon(p.port, "app", "app").await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let refused = login(p.port, "app", "app").await.err();
        let refused = refused.unwrap_or_else(|| panic!("{case}: max_connections not enforced"));
        assert!(
            refused.contains("1040") && refused.contains("Too many connections"),
            "{case}: {refused}"
        );

        // Freed slots are given back.
        drop(others.pop());
        let mut again = login_soon(p.port, "other", "other-pw").await;
        let one = again.query("SELECT 1").await.expect("query");
        assert_eq!(one.scalar().as_deref(), Some("1"), "{case}");
        drop(apps);
        drop(others);
        drop(again);
        let _ = login_soon(p.port, "app", "app").await;
        assert!(!p.log().contains("panicked"));
    }
}

/// COM_CHANGE_USER moves a session's count: changing to a user at its
/// limit is refused with 1203, and a session changed to a user counts for
/// that user (its new logins are refused) until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_moves_the_count() {
    use mysql_async::prelude::*;
    let topo = Topology::from_env();
    let p = proxy(&topo, 50, 1);
    let to_other = || {
        mysql_async::ChangeUserOpts::default()
            .with_user(Some("other".into()))
            .with_pass(Some("other-pw".into()))
    };
    let other = login(p.port, "other", "other-pw").await.expect("other");
    let mut app = mysql_async::Conn::new(util::proxy_opts(&p, "app", "app", None))
        .await
        .unwrap();
    let refused = app.change_user(to_other()).await.expect_err("refused");
    let (code, state, _) = util::server_error(refused);
    assert_eq!((code, state.as_str()), (1203, "42000"));
    drop(other);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut app = mysql_async::Conn::new(util::proxy_opts(&p, "app", "app", None))
        .await
        .unwrap();
    app.change_user(to_other())
        .await
        .expect("other's slot is free");
    let v: Option<i64> = app.query_first("SELECT 7").await.unwrap();
    assert_eq!(v, Some(7));
    let refused = login(p.port, "other", "other-pw").await.err();
    assert!(
        refused.as_deref().is_some_and(|e| e.starts_with("1203")),
        "{refused:?}"
    );
    app.disconnect().await.unwrap();
    let _ = login_soon(p.port, "other", "other-pw").await;
}
