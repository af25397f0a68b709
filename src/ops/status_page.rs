//! The status page (`GET /` on the HTTP listener): servers with health,
//! lag and traffic, client sessions (statements as digests: the page has
//! no login, so no application values), the statements that took the most
//! time (digests), the sharding rules, and the route of a statement typed
//! into a box (`/?sql=…&db=…`, the answer of `EXPLAIN SHARDCAT`). Rendered
//! on the server as plain HTML, with a few lines of JS for auto-refresh.
//!
//! Owns: the page's HTML and the query-string decoding it needs. Must not:
//! change any state or compute figures of its own (it renders the admin
//! views' results: `SHOW SHARDCAT BACKENDS | SESSIONS | DIGESTS | RULES`).

use std::fmt::Write as _;

use crate::frontend::local_result::TextResult;
use crate::frontend::Proxy;

/// Digests shown (most total time first).
const TOP_DIGESTS: usize = 10;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The value of `key` in an `application/x-www-form-urlencoded` query.
pub fn form_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match b.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (b[i], escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (c, None) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A result set as an HTML table with an `id`; `row_class` picks a CSS
/// class per row.
fn table(
    html: &mut String,
    id: &str,
    r: &TextResult,
    limit: usize,
    row_class: impl Fn(&[Option<String>]) -> &'static str,
) {
    let _ = write!(html, "<table id=\"{id}\"><tr>");
    for c in r.columns() {
        let _ = write!(html, "<th>{}</th>", escape(c));
    }
    html.push_str("</tr>");
    for row in r.rows().iter().take(limit) {
        let _ = write!(html, "<tr class=\"{}\">", row_class(row));
        for v in row {
            let _ = write!(html, "<td>{}</td>", escape(v.as_deref().unwrap_or("")));
        }
        html.push_str("</tr>");
    }
    if r.rows().is_empty() {
        let _ = write!(
            html,
            "<tr><td colspan=\"{}\">none</td></tr>",
            r.columns().len()
        );
    }
    html.push_str("</table>");
}

/// `SHOW SHARDCAT SESSIONS` with each statement as its digest: the page
/// has no login, so it shows no application values (the admin statement,
/// for admins only, shows the text).
fn digested(sessions: TextResult) -> TextResult {
    let columns: Vec<&str> = sessions.columns().iter().map(String::as_str).collect();
    let at = columns.iter().position(|c| *c == "statement");
    let mut r = TextResult::new(&columns);
    for row in sessions.rows() {
        let mut row = row.clone();
        if let Some(v) = at.and_then(|i| row.get_mut(i)).and_then(Option::as_mut) {
            *v = crate::sql::classify::fingerprint(v).text;
        }
        r.row(row);
    }
    r
}

const HEAD: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>shardcat</title>\
<style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}\
.down{color:#b00}.offline{color:#888}input[name=sql]{width:40em}</style></head><body>";

const SCRIPT: &str = "<script>\
(function(){var box=document.getElementById('refresh');\
box.checked=localStorage.getItem('shardcat-refresh')==='1';\
box.addEventListener('change',function(){localStorage.setItem('shardcat-refresh',box.checked?'1':'0');});\
setInterval(function(){if(box.checked&&!location.search){location.reload();}},5000);\
document.getElementById('loaded').textContent=new Date().toLocaleTimeString();})();\
</script>";

/// The page; `query` is the request's query string (maybe empty).
pub fn render(proxy: &Proxy, query: &str) -> String {
    let mut html = String::from(HEAD);
    let _ = write!(
        html,
        "<h1>shardcat</h1><p id=\"summary\">version {} — worker {} — {} client connection(s) — \
         <a href=\"/metrics\">metrics</a> — <a href=\"/health\">health</a> — \
         loaded <span id=\"loaded\"></span> — \
         <label><input type=\"checkbox\" id=\"refresh\"> refresh every 5 s</label></p>",
        escape(&proxy.server_version),
        proxy.config.load().id_generator.worker_id,
        proxy.client_count()
    );
    html.push_str("<h2>Servers</h2>");
    table(
        &mut html,
        "backends",
        &proxy.backends_result(),
        usize::MAX,
        |row| {
            // Columns of SHOW SHARDCAT BACKENDS: healthy (4), admin_state (11).
            match (
                row.get(4).and_then(|v| v.as_deref()),
                row.get(11).and_then(|v| v.as_deref()),
            ) {
                (_, Some("offline")) => "offline",
                (Some("no"), _) => "down",
                _ => "up",
            }
        },
    );
    html.push_str("<h2>Sessions</h2>");
    table(
        &mut html,
        "sessions",
        &digested(proxy.sessions_result()),
        usize::MAX,
        |_| "",
    );
    let _ = write!(
        html,
        "<h2>Digests (most total time first, top {TOP_DIGESTS})</h2>"
    );
    table(
        &mut html,
        "digests",
        &proxy.digests_result(),
        TOP_DIGESTS,
        |_| "",
    );
    explain_box(&mut html, proxy, query);
    if proxy.shard_router.load().is_some() {
        html.push_str("<h2>Sharding rules</h2>");
        table(
            &mut html,
            "rules",
            &proxy.rules_result(),
            usize::MAX,
            |_| "",
        );
    }
    html.push_str(SCRIPT);
    html.push_str("</body></html>\n");
    html
}

/// The form and, when a statement was given, its route.
fn explain_box(html: &mut String, proxy: &Proxy, query: &str) {
    let sql = form_value(query, "sql").unwrap_or_default();
    let db = form_value(query, "db").unwrap_or_default();
    let _ = write!(
        html,
        "<h2>Route of a statement</h2><form method=\"get\" action=\"/\">\
         <input name=\"sql\" value=\"{}\" placeholder=\"SELECT … (EXPLAIN SHARDCAT)\"> \
         database <input name=\"db\" value=\"{}\" size=\"12\"> <button>explain</button></form>",
        escape(&sql),
        escape(&db)
    );
    if sql.trim().is_empty() {
        return;
    }
    let schema = (!db.is_empty()).then_some(db.as_str());
    match proxy.shard_explain(&sql, schema) {
        Some(Ok(r)) => table(html, "explain", &r, usize::MAX, |_| ""),
        Some(Err(e)) => {
            let _ = write!(
                html,
                "<p id=\"explain\" class=\"down\">{}</p>",
                escape(&e.to_string())
            );
        }
        None => html.push_str(
            "<p id=\"explain\">no sharding rule applies: read/write splitting routes it \
             (<code>EXPLAIN SHARDCAT</code> in a session shows the server)</p>",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_decoded() {
        let q = "sql=SELECT+*+FROM+t+WHERE+a%3D%271%27%20AND+b%3C2&db=shop&x";
        assert_eq!(
            form_value(q, "sql").as_deref(),
            Some("SELECT * FROM t WHERE a='1' AND b<2")
        );
        assert_eq!(form_value(q, "db").as_deref(), Some("shop"));
        assert_eq!(form_value(q, "x").as_deref(), Some(""));
        assert_eq!(form_value(q, "y"), None);
        // Broken escapes stay as they are; UTF-8 is decoded.
        assert_eq!(form_value("v=%zz%4", "v").as_deref(), Some("%zz%4"));
        assert_eq!(form_value("v=%C3%A9", "v").as_deref(), Some("é"));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
