//! Connection limits, generated over several values: `[server]
//! max_connections` (alias of `max_client_connections`) refuses the
//! connection past the limit with 1040/08004 in place of the greeting, as
//! MySQL; a user's `max_user_connections` refuses that user's login past
//! its limit with 1203/42000 while other users still log in; a slot freed
//! by a disconnect is usable again at once. `[server]
//! max_prepared_statements` refuses the statement past it with the error
//! the server gives at the same `max_prepared_stmt_count` (1461/42000);
//! COM_STMT_CLOSE and COM_RESET_CONNECTION free slots.
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

/// Prepares `sql` on `c` until refused (at most `cap` times); returns the
/// ids prepared and the refusal.
async fn prepare_until_refused(
    c: &mut RawConn,
    sql: &str,
    cap: usize,
) -> (Vec<u32>, Option<raw::ErrInfo>) {
    let mut ids = Vec::new();
    for _ in 0..cap {
        match c.prepare(sql).await.expect("prepare answered") {
            Ok(st) => ids.push(st.id),
            Err(e) => return (ids, Some(e)),
        }
    }
    (ids, None)
}

/// `[server] max_prepared_statements`, generated over limits and
/// statement texts: the statement past the limit gets the error the `ref`
/// server gives with the same `max_prepared_stmt_count` (code, SQLSTATE
/// and message); COM_STMT_CLOSE frees one slot, COM_RESET_CONNECTION all of
/// them; the statements kept still execute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statement_limit_per_connection() {
    let topo = Topology::from_env();
    let mut reference = RawConn::connect(
        topo.port("ref"),
        &topo.user,
        &topo.password,
        None,
        raw::DEFAULT_CAPS,
    )
    .await;
    let before = reference
        .query("SELECT @@GLOBAL.max_prepared_stmt_count")
        .await
        .expect("ref")
        .scalar()
        .expect("a value");
    for limit in [1usize, 2, 5, 9] {
        let p = CustomProxy::start(|port| {
            let o = ProxyOptions {
                server: format!("max_prepared_statements = {limit}"),
                ..Default::default()
            };
            ProxyProcess::config_text(&topo, port, &o)
        });
        for sql in ["SELECT ? + 1", "SELECT 1 FROM DUAL WHERE 1 = ?"] {
            let case = format!("limit {limit}, {sql}");
            // What the server says at the same limit.
            let set = format!("SET GLOBAL max_prepared_stmt_count = {limit}");
            reference.query(&set).await.expect("set");
            let mut r = RawConn::connect(
                topo.port("ref"),
                &topo.user,
                &topo.password,
                None,
                raw::DEFAULT_CAPS,
            )
            .await;
            let (_, server_says) = prepare_until_refused(&mut r, sql, limit + 1).await;
            drop(r);
            let server_says = server_says.unwrap_or_else(|| panic!("{case}: ref took all"));

            let mut c = RawConn::connect(p.port, "app", "app", None, raw::DEFAULT_CAPS).await;
            let (mut ids, refused) = prepare_until_refused(&mut c, sql, limit + 1).await;
            assert_eq!(ids.len(), limit, "{case}");
            let refused = refused.unwrap_or_else(|| panic!("{case}: no limit"));
            assert_eq!(
                (refused.code, &refused.state, &refused.message),
                (server_says.code, &server_says.state, &server_says.message),
                "{case}"
            );
            assert_eq!((refused.code, refused.state.as_str()), (1461, "42000"));
            // A kept statement still executes.
            let v = c
                .execute(
                    ids[0],
                    1,
                    &[false],
                    Some(&[(raw::MYSQL_TYPE_LONGLONG, false)]),
                    &1i64.to_le_bytes(),
                )
                .await
                .expect("execute");
            assert!(matches!(v, raw::Reply::Rows { .. }), "{case}: {v:?}");
            // COM_STMT_CLOSE frees one slot (no reply).
            let mut close = vec![raw::COM_STMT_CLOSE];
            close.extend_from_slice(&ids.pop().expect("one").to_le_bytes());
            c.send_command(&close).await.unwrap();
            let (again, refused) = prepare_until_refused(&mut c, sql, 2).await;
            assert_eq!(again.len(), 1, "{case}: after a close");
            assert!(refused.is_some(), "{case}: one slot only");
            // COM_RESET_CONNECTION frees them all.
            c.send_command(&[0x1f]).await.unwrap();
            let reset = c.read_reply(false).await.expect("reset");
            assert!(matches!(reset, raw::Reply::Ok(_)), "{case}: {reset:?}");
            let (after, refused) = prepare_until_refused(&mut c, sql, limit + 1).await;
            assert_eq!(after.len(), limit, "{case}: after a reset");
            assert!(refused.is_some(), "{case}");
        }
        assert!(!p.log().contains("panicked"));
    }
    reference
        .query(&format!("SET GLOBAL max_prepared_stmt_count = {before}"))
        .await
        .expect("restore");
}
