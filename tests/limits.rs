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
