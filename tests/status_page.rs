//! The status page in a real browser: headless Chromium loads `GET /` of a
//! running shardcat (servers, sessions, digests, rules) and `/?sql=…` (the
//! route of a statement typed into the box), runs the page's script, and
//! logs no console message (no JS error); text from clients is escaped (a
//! statement carrying `<script>` shows as text and runs nothing).
//!
//! Needs `SHARDCAT_TOPOLOGY_ENV` and `chromium` on PATH (`scripts/test.sh`
//! installs it with apt-get); without chromium the test is skipped with a
//! message.

mod common;
#[path = "common/util.rs"]
mod util;

use std::process::Command;

use common::proxy::{free_port, ProxyOptions, ProxyProcess};
use common::Topology;
use mysql_async::prelude::*;

/// The DOM after Chromium ran the page's scripts, and the console lines
/// Chromium logged while loading it.
fn browse(url: &str) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("60")
        .arg("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

/// `s` as a query-string value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_in_headless_chromium() {
    if Command::new("chromium").arg("--version").output().is_err() {
        eprintln!(
            "SKIPPED: chromium is not installed (scripts/test.sh installs it: apt-get install chromium)"
        );
        return;
    }
    let topo = Topology::from_env();
    let http = free_port();
    let proxy = ProxyProcess::start_with(
        &topo,
        ProxyOptions {
            extra: format!(
                "{}\n[id_generator]\nworker_id = 7\n\n[admin]\nhttp_listen = \"127.0.0.1:{http}\"\n",
                util::ITEMS_RULES
            ),
            ..Default::default()
        },
    );
    let db = util::db_name("page");
    let mut c = util::proxy_conn(&proxy, None).await;
    c.query_drop(format!("CREATE DATABASE {db}")).await.unwrap();
    c.query_drop(format!("USE {db}")).await.unwrap();
    c.query_drop("CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20))")
        .await
        .unwrap();
    c.query_drop("INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .await
        .unwrap();
    let _: Vec<i64> = c.query("SELECT id FROM items ORDER BY id").await.unwrap();
    // A session inside a transaction, still open while the page loads.
    let mut held = util::proxy_conn(&proxy, Some(&db)).await;
    held.query_drop("BEGIN").await.unwrap();
    held.query_drop("SELECT v FROM items WHERE id = 2 AND v <> 'secret-value'")
        .await
        .unwrap();

    let (dom, console) = browse(&format!("http://127.0.0.1:{http}/"));
    assert!(console.is_empty(), "console messages: {console:?}");
    for id in ["backends", "sessions", "digests", "rules"] {
        assert!(
            dom.contains(&format!("<table id=\"{id}\">")),
            "{id}:\n{dom}"
        );
    }
    for server in ["n1p", "n1r1", "n1r2", "n2p", "n2r1"] {
        assert!(
            dom.contains(&format!("<td>127.0.0.1:{}</td>", topo.port(server))),
            "{server} missing:\n{dom}"
        );
    }
    assert!(dom.contains("worker 7"), "{dom}");
    assert!(dom.contains(&format!("<td>{db}</td>")), "sessions:\n{dom}");
    // The held session's statement shows as its digest, without values.
    assert!(
        dom.contains("SELECT v FROM items WHERE id = ? AND v &lt;&gt; ?"),
        "sessions:\n{dom}"
    );
    assert!(!dom.contains("secret-value"), "a value on the page:\n{dom}");
    assert!(
        dom.contains("SELECT id FROM items ORDER BY id"),
        "digests:\n{dom}"
    );
    assert!(dom.contains("<td>items</td>"), "rules:\n{dom}");
    // The page's script ran (it fills in the load time).
    assert!(
        !dom.contains("<span id=\"loaded\"></span>"),
        "script did not run:\n{dom}"
    );

    // The route of a statement typed into the box, and a hostile one.
    let sql = "SELECT v FROM items WHERE id = 3";
    let url = format!("http://127.0.0.1:{http}/?sql={}&db={db}", form_encode(sql));
    let (dom, console) = browse(&url);
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains("<table id=\"explain\">"), "{dom}");
    assert!(dom.contains("items_"), "a physical table:\n{dom}");
    let hostile = "SELECT '\"><script>console.error(1)</script>' FROM items";
    let url = format!(
        "http://127.0.0.1:{http}/?sql={}&db={db}",
        form_encode(hostile)
    );
    let (dom, console) = browse(&url);
    assert!(console.is_empty(), "escaped text ran: {console:?}");
    assert!(dom.contains("&lt;script&gt;"), "{dom}");

    held.query_drop("ROLLBACK").await.unwrap();
    drop(held);
    c.query_drop(format!("DROP DATABASE {db}")).await.unwrap();
}
