//! What operators see: the Prometheus metrics move under load, `/health`
//! answers, the status page lists the servers, and the slow query log
//! writes one JSON line (a digest, never the values) for a slow statement.
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV`.

mod common;
#[path = "common/util.rs"]
mod util;

use std::time::Duration;

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_page_and_slow_log() {
    let topo = Topology::from_env();
    let http = free_port();
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.log");
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!(
                "{}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\nslow_query_ms = 500\nslow_log = \"{}\"\n",
                util::ITEMS_RULES,
                slow.display()
            ),
            ..Default::default()
        },
    );
    let db = util::db_name("ops");
    let mut c = util::proxy_conn(&proxy, None).await;
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!("USE {db}")).await.unwrap();
    c.query_drop("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let (status, before) = util::http_get(http, "/metrics");
    assert!(status.contains("200"), "{status}");
    let values: Vec<String> = (1..=40).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO items VALUES {}", values.join(",")))
        .await
        .unwrap();
    for i in 1..=20 {
        let _: Option<i64> = c
            .query_first(format!("SELECT v FROM items WHERE id = {i}"))
            .await
            .unwrap();
        let _: Vec<i64> = c
            .query("SELECT id FROM items ORDER BY id LIMIT 3")
            .await
            .unwrap();
    }
    let _ = c.query_drop("SELECT * FROM no_such_table").await;
    let _: Option<i64> = c.query_first("SELECT SLEEP(0.6) + 41").await.unwrap();
    let (_, after) = util::http_get(http, "/metrics");
    for family in [
        "shardcat_statements_total",
        "shardcat_statement_duration_seconds_bucket",
        "shardcat_user_statements_total",
        "shardcat_table_statements_total",
        "shardcat_shards_touched_count",
        "shardcat_backend_statements_total",
        "shardcat_pool_connections",
        "shardcat_backend_up",
        "shardcat_replication_lag_seconds",
        "shardcat_build_info",
        "shardcat_uptime_seconds",
        "shardcat_client_connections",
    ] {
        assert!(after.contains(family), "{family} missing:\n{after}");
    }
    let grew = |family: &str, with: &str| {
        util::metric_sum(&after, family, with) - util::metric_sum(&before, family, with)
    };
    assert!(
        grew("shardcat_statements_total", "single_shard") >= 20.0,
        "{after}"
    );
    assert!(grew("shardcat_statements_total", "multi_shard_read") >= 20.0);
    assert!(grew("shardcat_statement_errors_total", "backend") >= 1.0);
    assert!(grew("shardcat_user_statements_total", "user=\"app\"") >= 42.0);
    assert!(grew("shardcat_table_statements_total", "table=\"items\"") >= 41.0);
    assert!(util::metric_sum(&after, "shardcat_slow_statements_total", "") >= 1.0);
    assert!(
        !after.contains("SLEEP") && !after.contains("no_such_table"),
        "SQL in labels"
    );

    let (status, body) = util::http_get(http, "/health");
    assert!(status.contains("200") && body.starts_with("ok"));
    let (status, page) = util::http_get(http, "/");
    assert!(status.contains("200"));
    assert!(
        page.contains(&format!("127.0.0.1:{}", topo.port("n2r1"))),
        "{page}"
    );
    assert!(page.contains("<td>items</td>"), "{page}");
    let (status, _) = util::http_get(http, "/nope");
    assert!(status.contains("404"));
    dashboard_names_exported_metrics(&after);
    assert!(
        docker_healthcheck(http),
        "the image's HEALTHCHECK fails on a serving proxy"
    );
    assert!(
        !docker_healthcheck(free_port()),
        "HEALTHCHECK passes with nothing listening"
    );

    let log = std::fs::read_to_string(&slow).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "one slow statement: {log}");
    let line = lines[0];
    assert!(
        line.contains("\"digest\":\"SELECT SLEEP(?) + ?\""),
        "{line}"
    );
    assert!(
        line.contains("\"user\":\"app\"") && line.contains("\"path\":\"plain\""),
        "{line}"
    );
    // (Not a bare "41": the timestamp and the time taken may hold it.)
    assert!(
        !line.contains("+ 41") && !line.contains("SLEEP(0.6"),
        "values in the slow log: {line}"
    );
    c.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}

/// The event families, each driven once through a live proxy: a
/// read-your-writes GTID wait, a plan cache hit, a cross-shard merge and
/// a merge over its budget (a refusal), a pinned session, and a checkout
/// that times out behind it (pool of one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_metrics_gtid_plan_cache_merge_refusals_pinned_pool() {
    let topo = Topology::from_env();
    let http = free_port();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            routing: "consistency = \"session\"\nmerge_max_groups = 5".into(),
            backend: "pool_max = 1\ncheckout_timeout_ms = 300".into(),
            extra: format!(
                "{}\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n",
                util::ITEMS_RULES
            ),
            ..Default::default()
        },
    );
    let db = util::db_name("opsev");
    let mut c = util::proxy_conn(&proxy, None).await;
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!("USE {db}")).await.unwrap();
    c.query_drop("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    let values: Vec<String> = (1..=20).map(|i| format!("({i}, {i})")).collect();
    c.query_drop(format!("INSERT INTO items VALUES {}", values.join(",")))
        .await
        .unwrap();
    // Read-your-writes after the write; the same text twice: a cache hit.
    for _ in 0..2 {
        let v: Option<i64> = c
            .query_first("SELECT v FROM items WHERE id = 7")
            .await
            .unwrap();
        assert_eq!(v, Some(7));
    }
    let ids: Vec<i64> = c.query("SELECT id FROM items ORDER BY id").await.unwrap();
    assert_eq!(ids.len(), 20);
    let over = c
        .query_drop("SELECT v, COUNT(*) FROM items GROUP BY v")
        .await
        .expect_err("20 groups over a budget of 5");
    assert!(over.to_string().contains("merge_max_groups"), "{over}");
    // A session pinned by its transaction holds the only connection to
    // the primary of id 100's node: another write there times out.
    let mut pinned = util::proxy_conn(&proxy, None).await;
    pinned.query_drop(format!("USE {db}")).await.unwrap();
    pinned.query_drop("BEGIN").await.unwrap();
    pinned
        .query_drop("INSERT INTO items VALUES (100, 100)")
        .await
        .unwrap();
    let (_, during) = util::http_get(http, "/metrics");
    let busy = c
        .query_drop("UPDATE items SET v = 1 WHERE id = 100")
        .await
        .expect_err("pool of one held by the transaction");
    assert!(busy.to_string().contains("1040"), "{busy}");
    pinned.query_drop("ROLLBACK").await.unwrap();
    let (_, after) = util::http_get(http, "/metrics");
    let sum = |text: &str, family: &str, with: &str| util::metric_sum(text, family, with);
    assert!(
        sum(
            &during,
            "shardcat_sessions_pinned",
            "reason=\"transaction\""
        ) >= 1.0,
        "{during}"
    );
    for (family, with) in [
        ("shardcat_gtid_waits_total", "result=\"caught_up\""),
        ("shardcat_gtid_wait_duration_seconds_count", ""),
        ("shardcat_plan_cache_lookups_total", "result=\"hit\""),
        ("shardcat_plan_cache_lookups_total", "result=\"miss\""),
        ("shardcat_merge_rows_total", ""),
        ("shardcat_merge_budget_hits_total", ""),
        ("shardcat_refusals_total", "reason=\"routing\""),
        ("shardcat_pool_checkout_wait_seconds_count", ""),
        ("shardcat_pool_checkout_timeouts_total", ""),
    ] {
        assert!(
            sum(&after, family, with) >= 1.0,
            "{family} {with}:\n{after}"
        );
    }
    assert!(
        sum(&after, "shardcat_merge_rows_total", "") >= 20.0,
        "{after}"
    );
}

/// Every sample name `metrics` can carry: the names of its samples and,
/// from each `# TYPE` line, those of the family's kind (a family without
/// samples yet still names them).
fn exported_names(metrics: &str) -> std::collections::HashSet<String> {
    let mut names = std::collections::HashSet::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffixes: &[&str] = match kind {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

/// Every metric the Grafana dashboard (`ops/grafana/shardcat.json`) queries
/// is one shardcat exports.
fn dashboard_names_exported_metrics(metrics: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/grafana/shardcat.json");
    let dashboard = std::fs::read_to_string(path).expect("dashboard JSON");
    let exported = exported_names(metrics);
    let mut used = std::collections::BTreeSet::new();
    let mut rest = dashboard.as_str();
    while let Some(at) = rest.find("shardcat_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        used.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    assert!(used.len() >= 20, "dashboard queries: {used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics shardcat does not export: {missing:?}"
    );
}

/// Runs `docker/Dockerfile`'s HEALTHCHECK command (bash, no curl) against
/// the HTTP listener at `port` instead of the image's 9104; also checks
/// that the image's ports are the ones `rules/docker.toml` listens on.
fn docker_healthcheck(port: u16) -> bool {
    let root = env!("CARGO_MANIFEST_DIR");
    let dockerfile = std::fs::read_to_string(format!("{root}/docker/Dockerfile")).unwrap();
    let config = std::fs::read_to_string(format!("{root}/rules/docker.toml")).unwrap();
    assert!(
        config.contains("http_listen = \"0.0.0.0:9104\""),
        "{config}"
    );
    assert!(config.contains("listen = \"0.0.0.0:6033\""), "{config}");
    assert!(dockerfile.contains("EXPOSE 6033 9104") && dockerfile.contains("USER shardcat"));
    assert!(dockerfile.contains("cargo build --locked"));
    let (_, cmd) = dockerfile
        .split_once("CMD [\"bash\", \"-c\", \"")
        .expect("HEALTHCHECK CMD [\"bash\", \"-c\", …]");
    let cmd = cmd.split_once("\"]").expect("end of the CMD").0;
    // The exec form is JSON: unescape, then point it at the test's port.
    let cmd = cmd
        .replace("\\\\", "\\")
        .replace("/9104", &format!("/{port}"));
    std::process::Command::new("bash")
        .args(["-c", &cmd])
        .status()
        .is_ok_and(|s| s.success())
}

/// `routed` of one server in SHOW SHARDCAT BACKENDS.
async fn routed(c: &mut mysql_async::Conn, addr: &str) -> u64 {
    let rows = util::rows_as_strings(c, "SHOW SHARDCAT BACKENDS").await;
    let row = rows.iter().find(|r| r[2] == addr).expect("server listed");
    row[7].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_statements_sessions_digests_rules_config_and_drain() {
    let topo = Topology::from_env();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: util::ITEMS_RULES.to_string(),
            ..Default::default()
        },
    );
    let db = util::db_name("admin");
    let mut admin = util::proxy_conn(&proxy, None).await;
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    admin.query_drop(format!("USE {db}")).await.unwrap();
    admin
        .query_drop("CREATE TABLE items (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    admin
        .query_drop("CREATE TABLE plain_t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    util::sync_replicas(&topo).await;
    let other_opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(proxy.port)
        .user(Some("other"))
        .pass(Some("other-pw"))
        .db_name(Some(db.clone()));
    let mut other = mysql_async::Conn::new(other_opts).await.unwrap();
    let other_id = other.id();
    for i in 0..20 {
        let _: Option<i64> = other
            .query_first(format!("SELECT v FROM items WHERE id = {i}"))
            .await
            .unwrap();
    }
    // A statement that is running shows with its text and command.
    let mut sleeper = util::proxy_conn(&proxy, Some(&db)).await;
    let sleeping = tokio::spawn(async move {
        let _: Option<i64> = sleeper.query_first("SELECT SLEEP(1)").await.unwrap();
        sleeper
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sessions = util::rows_as_strings(&mut admin, "SHOW SHARDCAT SESSIONS").await;
    assert!(
        sessions.iter().any(|r| r[0] == other_id.to_string()
            && r[1] == "other"
            && r[3] == db
            && r[4] == "Sleep"),
        "{sessions:?}"
    );
    assert!(
        sessions
            .iter()
            .any(|r| r[4] == "Query" && r[8] == "SELECT SLEEP(1)"),
        "{sessions:?}"
    );
    drop(sleeping.await.unwrap());

    let digests = util::rows_as_strings(&mut admin, "SHOW SHARDCAT DIGESTS").await;
    let d = digests
        .iter()
        .find(|r| r[8] == "SELECT v FROM items WHERE id = ?")
        .unwrap_or_else(|| panic!("{digests:?}"));
    assert_eq!(d[1], "20", "{d:?}");
    assert!(!digests.iter().any(|r| r[8].contains("= 7")), "values kept");

    let stats = util::rows_as_strings(&mut admin, "SHOW SHARDCAT STATS").await;
    assert!(stats.iter().any(|r| r[0] == "shardcat_statements_total"));
    let rules = util::rows_as_strings(&mut admin, "SHOW SHARDCAT RULES").await;
    let items = rules.iter().find(|r| r[0] == "items").expect("items rule");
    assert_eq!(items[1], "sharded");
    assert_eq!(items[3], "n1,n2");
    assert_eq!(items[4].split(',').count(), 4, "{items:?}");
    let config = util::rows_as_strings(&mut admin, "SHOW SHARDCAT CONFIG").await;
    assert!(config
        .iter()
        .any(|r| r[0] == "backend.password" && r[1] == "***"));
    for r in config.iter().filter(|r| r[0].contains("password")) {
        assert!(r[1] == "***" || r[1] == "\"\"", "password shown: {r:?}");
    }

    // Drain a replica: reads leave it, and come back when it is online.
    let r1 = format!("127.0.0.1:{}", topo.port("n1r1"));
    admin
        .query_drop(format!("SET SHARDCAT BACKEND '{r1}' OFFLINE"))
        .await
        .unwrap();
    let before = routed(&mut admin, &r1).await;
    for _ in 0..20 {
        let _: Vec<i64> = other.query("SELECT id FROM plain_t").await.unwrap();
    }
    assert_eq!(
        routed(&mut admin, &r1).await,
        before,
        "reads reached a drained replica"
    );
    let state = util::rows_as_strings(&mut admin, "SHOW SHARDCAT BACKENDS").await;
    assert!(state.iter().any(|r| r[2] == r1 && r[11] == "offline"));
    admin
        .query_drop(format!("SET SHARDCAT BACKEND {r1} ONLINE"))
        .await
        .unwrap();
    for _ in 0..20 {
        let _: Vec<i64> = other.query("SELECT id FROM plain_t").await.unwrap();
    }
    assert!(routed(&mut admin, &r1).await > before, "back online");
    let bad = admin
        .query_drop("SET SHARDCAT BACKEND 127.0.0.1:1 OFFLINE")
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("no server"), "{bad}");

    // Non-admins: every admin statement is refused with 1227.
    for sql in [
        "SHOW SHARDCAT SESSIONS",
        "SHOW SHARDCAT DIGESTS",
        "SHOW SHARDCAT STATS",
        "SHOW SHARDCAT RULES",
        "SHOW SHARDCAT CONFIG",
        &format!("SET SHARDCAT BACKEND {r1} OFFLINE"),
    ] {
        let e = other.query_drop(sql).await.unwrap_err();
        let (code, _, _) = util::server_error(e);
        assert_eq!(code, 1227, "{sql}");
    }
    // The admin may end another user's session.
    admin.query_drop(format!("KILL {other_id}")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        other.query_drop("SELECT 1").await.is_err(),
        "killed session"
    );
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .unwrap();
}
