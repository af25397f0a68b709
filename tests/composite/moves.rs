//! Writes into composite tables as one server would take them, against
//! `ref`: generated rows with edge dates (the first and last instant of a
//! month, the leap day 2028-02-29, a date literal into a DATETIME column,
//! NULL and out-of-range dates refused with 1105/HY000), multi-row and
//! prepared INSERTs, LOAD DATA LOCAL INFILE split by key and month, and
//! UPDATEs that change the key and/or the date column so rows move
//! across hash slots and periods (in and out of transactions, committed
//! and rolled back, prepared, 1062 on the destination; every other one
//! through a second proxy in `transactions = "xa"` mode), compared
//! statement by statement (affected rows, or error code and SQLSTATE)
//! and table by table, with every row checked to be in the physical table
//! of its (key, month). Then a period table dropped on its node: writes
//! into it fail with the named 1146/42S02 (INSERT, prepared, LOAD DATA, a
//! move into it), nothing is written, and reads of it find no rows.

use std::collections::BTreeMap;

use mysql_async::prelude::*;
use mysql_async::{Conn, Params};

use super::common::Topology;
use super::custom_proxy::CustomProxy;
use super::diff_data::{days_in, Rng};
use super::util::{direct_conn, rows_as_strings, server_error};

const DB: &str = "grow_composite_moves";
/// 2027-11 … 2028-06 (the rules' horizon): a leap February inside.
const FIRST: (i64, i64) = (2027, 11);
const MONTHS: i64 = 8;
const EVENTS: &str = "CREATE TABLE events (id BIGINT NOT NULL PRIMARY KEY, user_id INT NOT NULL, \
     created_at DATETIME(6) NULL, v INT NOT NULL, UNIQUE KEY uc (user_id, created_at)) ENGINE=InnoDB";
const DAYS: &str = "CREATE TABLE days (id BIGINT NOT NULL PRIMARY KEY, user_id INT NOT NULL, \
     d DATE NULL, v INT NOT NULL, UNIQUE KEY ud (user_id, d)) ENGINE=InnoDB";

fn config(topo: &Topology, port: u16) -> String {
    let rule = |name: &str, column: &str, key_type: &str| {
        format!(
            r#"
[[table]]
name = "{name}"
schema = "{DB}"
key = "user_id"
key_type = "int"
algorithm = {{ kind = "hash_mod" }}
nodes = ["n1", "n2"]
tables_per_node = 2
[table.period]
key = "{column}"
key_type = "{key_type}"
unit = "month"
start = "{}-{:02}"
horizon = {MONTHS}
"#,
            FIRST.0, FIRST.1
        )
    };
    let rules = format!(
        "{}{}",
        rule("events", "created_at", "datetime"),
        rule("days", "d", "date")
    );
    super::util::two_primaries_config(topo, port, &rules)
}

/// (year, month) of the rules' `i`th month.
fn month_at(i: i64) -> (i64, i64) {
    let m = FIRST.1 - 1 + i;
    (FIRST.0 + m.div_euclid(12), 1 + m.rem_euclid(12))
}

/// A generated date value of one of the two tables: `Some(literal text)`
/// (no quotes) or `None` for NULL; edge days and instants mostly.
fn date_value(rng: &mut Rng, datetime: bool) -> Option<String> {
    if rng.chance(4) {
        return None;
    }
    if rng.chance(4) {
        // Just outside the horizon.
        let (y, m) = month_at(if rng.chance(50) { -1 } else { MONTHS });
        let d = if m == FIRST.1 - 1 { days_in(y, m) } else { 1 };
        return Some(format!("{y}-{m:02}-{d:02}"));
    }
    let (y, m) = month_at(rng.below(MONTHS as u64) as i64);
    let last = days_in(y, m);
    let d = *rng.pick(&[1, last, last, 15, 28.min(last)]);
    if !datetime || rng.chance(15) {
        return Some(format!("{y}-{m:02}-{d:02}"));
    }
    let t = *rng.pick(&[
        "00:00:00",
        "23:59:59.999999",
        "12:00:00.5",
        "00:00:00.000001",
    ]);
    Some(format!("{y}-{m:02}-{d:02} {t}"))
}

/// `Err(why)` when shardcat refuses a row with this date (NULL, or a
/// month outside the horizon), else its month `YYYYMM`.
fn month_of(date: Option<&str>) -> Result<String, &'static str> {
    let Some(date) = date else {
        return Err("NULL");
    };
    let ym = format!("{}{}", &date[0..4], &date[5..7]);
    let (fy, fm) = month_at(0);
    let (ly, lm) = month_at(MONTHS - 1);
    if ym < format!("{fy}{fm:02}") || ym > format!("{ly}{lm:02}") {
        return Err("outside the horizon");
    }
    Ok(ym)
}

fn sql_value(date: Option<&str>) -> String {
    date.map_or_else(|| "NULL".to_owned(), |d| format!("'{d}'"))
}

/// Affected rows, or (code, SQLSTATE).
type Outcome = Result<u64, (u16, String)>;

async fn run(c: &mut Conn, sql: &str) -> Outcome {
    match c.query_iter(sql).await {
        Ok(r) => {
            let n = r.affected_rows();
            r.drop_result().await.map_err(|e| (0, e.to_string()))?;
            Ok(n)
        }
        Err(e) => {
            let (code, state, _) = server_error(e);
            Err((code, state))
        }
    }
}

async fn exec(c: &mut Conn, sql: &str, params: Params) -> Outcome {
    match c.exec_iter(sql, params).await {
        Ok(r) => {
            let n = r.affected_rows();
            r.drop_result().await.map_err(|e| (0, e.to_string()))?;
            Ok(n)
        }
        Err(e) => {
            let (code, state, _) = server_error(e);
            Err((code, state))
        }
    }
}

/// The same statement on both: equal outcomes.
async fn both(p: &mut Conn, r: &mut Conn, sql: &str) -> Outcome {
    let got = run(p, sql).await;
    let want = run(r, sql).await;
    assert_eq!(got, want, "{sql}");
    got
}

/// Refused by shardcat (1105/HY000) and not sent to ref.
async fn refused(p: &mut Conn, sql: &str) {
    assert_eq!(run(p, sql).await, Err((1105, "HY000".to_owned())), "{sql}");
}

struct Table {
    name: &'static str,
    column: &'static str,
    datetime: bool,
}

const TABLES: [Table; 2] = [
    Table {
        name: "events",
        column: "created_at",
        datetime: true,
    },
    Table {
        name: "days",
        column: "d",
        datetime: false,
    },
];

async fn same_rows(p: &mut Conn, r: &mut Conn, t: &Table) {
    let all = format!(
        "SELECT id, user_id, {}, v FROM {} ORDER BY id",
        t.column, t.name
    );
    assert_eq!(
        rows_as_strings(p, &all).await,
        rows_as_strings(r, &all).await,
        "{}",
        t.name
    );
}

/// Every row of every physical table of `t` is in its (key, month)'s
/// table; the row count.
async fn rows_in_place(topo: &Topology, t: &Table) -> usize {
    let mut n = 0;
    for (server, slots) in [("n1p", [0, 1]), ("n2p", [2, 3])] {
        let mut c = direct_conn(topo, server, Some(DB)).await;
        let names: Vec<String> = c
            .query(format!("SHOW TABLES LIKE '{}\\_%'", t.name))
            .await
            .expect("show tables");
        for table in names {
            let rows: Vec<(i64, String)> = c
                .query(format!(
                    "SELECT user_id, DATE_FORMAT({}, '%Y%m') FROM {table}",
                    t.column
                ))
                .await
                .expect("rows");
            for (u, ym) in rows {
                let slot = u.rem_euclid(4);
                assert!(slots.contains(&slot), "{table} on {server}: user {u}");
                assert_eq!(table, format!("{}_{slot}_{ym}", t.name), "user {u}");
                n += 1;
            }
        }
        c.disconnect().await.ok();
    }
    n
}

async fn setup(topo: &Topology) {
    super::util::recreate_database(topo, &["n1p", "n2p", "ref"], DB).await;
}

async fn conn(port: u16) -> Conn {
    super::util::app_conn(port, DB).await
}

fn set_file(c: &mut Conn, data: Vec<u8>) {
    c.set_infile_handler(async move {
        use futures::StreamExt;
        Ok(futures::stream::once(async move { Ok(bytes::Bytes::from(data)) }).boxed())
    });
}

/// A generated row `(id, user, date)`.
fn row(rng: &mut Rng, id: i64, datetime: bool) -> (i64, i64, Option<String>) {
    (id, rng.below(13) as i64, date_value(rng, datetime))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_writes_moves_and_loads_match_ref() {
    let topo = Topology::from_env();
    setup(&topo).await;
    let proxy = CustomProxy::start(|port| config(&topo, port));
    let mut p = conn(proxy.port).await;
    let mut r = direct_conn(&topo, "ref", Some(DB)).await;
    for ddl in [EVENTS, DAYS] {
        p.query_drop(ddl)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {e}\n{}", proxy.log()));
        r.query_drop(ddl).await.expect("ref table");
    }
    let proxy_xa = CustomProxy::start(|port| {
        config(&topo, port).replace("[server]", "[routing]\ntransactions = \"xa\"\n\n[server]")
    });
    let mut px = conn(proxy_xa.port).await;
    let mut rng = Rng::new(2028);
    let mut id = 0i64;

    inserts(&mut p, &mut r, &mut rng, &mut id).await;
    let counts = loads(&topo, &mut p, &mut r, &mut rng, &mut id).await;
    let (moved, tally) = moves(&mut p, &mut px, &mut r, &mut rng).await;
    for t in &TABLES {
        same_rows(&mut p, &mut r, t).await;
        rows_in_place(&topo, t).await;
    }
    px.disconnect().await.ok();
    missing_period(&topo, &mut p, &mut r, &mut id).await;
    eprintln!(
        "composite moves: {id} ids, {moved} rows updated {tally:?}, rows loaded and placed {counts:?}"
    );
    p.disconnect().await.ok();
    r.disconnect().await.ok();
}

/// INSERTs: multi-row (split across tables) and prepared, rows with edge
/// dates; refused rows (NULL or out-of-horizon dates) refuse the statement.
async fn inserts(p: &mut Conn, r: &mut Conn, rng: &mut Rng, id: &mut i64) {
    for t in &TABLES {
        for _ in 0..10 {
            let rows: Vec<_> = (0..8)
                .map(|_| {
                    *id += 1;
                    row(rng, *id, t.datetime)
                })
                .collect();
            let values: Vec<String> = rows
                .iter()
                .map(|(i, u, d)| format!("({i}, {u}, {}, {})", sql_value(d.as_deref()), i % 7))
                .collect();
            let sql = format!(
                "INSERT INTO {} (id, user_id, {}, v) VALUES {}",
                t.name,
                t.column,
                values.join(", ")
            );
            if rows.iter().any(|(_, _, d)| month_of(d.as_deref()).is_err()) {
                refused(p, &sql).await;
            } else {
                both(p, r, &sql).await.ok();
            }
        }
        for _ in 0..12 {
            *id += 1;
            let (i, u, d) = row(rng, *id, t.datetime);
            let sql = format!(
                "INSERT INTO {} (id, user_id, {}, v) VALUES (?, ?, ?, 1)",
                t.name, t.column
            );
            let params = Params::from((i, u, d.clone()));
            let got = exec(p, &sql, params.clone()).await;
            if month_of(d.as_deref()).is_err() {
                assert_eq!(got, Err((1105, "HY000".to_owned())), "{sql} {d:?}");
            } else {
                assert_eq!(got, exec(r, &sql, params).await, "{sql} {d:?}");
            }
        }
        same_rows(p, r, t).await;
    }
}

/// LOAD DATA LOCAL INFILE, split by key and month; the rows placed per
/// table.
async fn loads(
    topo: &Topology,
    p: &mut Conn,
    r: &mut Conn,
    rng: &mut Rng,
    id: &mut i64,
) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for t in &TABLES {
        for round in 0..3 {
            let mut file = String::new();
            let mut refuse = false;
            for _ in 0..25 {
                *id += 1;
                let (i, u, d) = row(rng, *id, t.datetime);
                if round < 2 && month_of(d.as_deref()).is_err() {
                    continue;
                }
                refuse |= month_of(d.as_deref()).is_err();
                let d = d.unwrap_or_else(|| "\\N".to_owned());
                file.push_str(&format!("{i}\t{u}\t{d}\t{}\n", i % 5));
            }
            let sql = format!(
                "LOAD DATA LOCAL INFILE 'rows.tsv' INTO TABLE {} (id, user_id, {}, v)",
                t.name, t.column
            );
            set_file(p, file.clone().into_bytes());
            if refuse {
                refused(p, &sql).await;
            } else {
                set_file(r, file.into_bytes());
                both(p, r, &sql).await.ok();
            }
        }
        same_rows(p, r, t).await;
        counts.insert(t.name, rows_in_place(topo, t).await);
    }

    counts
}

/// Key moves: the key, the date or both, by id, by key or by a date
/// range; some prepared, some in transactions, every other one through
/// the `xa` proxy (`px`). The rows updated and a tally of outcomes.
async fn moves(
    p: &mut Conn,
    px: &mut Conn,
    r: &mut Conn,
    rng: &mut Rng,
) -> (u64, BTreeMap<String, usize>) {
    let mut moved = 0;
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let tally_key = |choice: u64, got: &Outcome| {
        let what = ["key", "date", "both", "prepared"][choice as usize];
        match got {
            Ok(0) => format!("{what} none"),
            Ok(_) => format!("{what} changed"),
            Err((code, _)) => format!("{what} {code}"),
        }
    };
    for step in 0..120 {
        let t = &TABLES[step % 2];
        let u = rng.below(13) as i64;
        // A new date: an edge one, or (fewer duplicates) any day, with a
        // time unique to the step in a DATETIME column.
        let d = if rng.chance(50) {
            date_value(rng, t.datetime)
        } else {
            let (y, m) = month_at(rng.below(MONTHS as u64) as i64);
            let day = 1 + rng.below(days_in(y, m) as u64);
            Some(match t.datetime {
                true => format!("{y}-{m:02}-{day:02} 10:00:00.{step:06}"),
                false => format!("{y}-{m:02}-{day:02}"),
            })
        };
        let ids: Vec<i64> = r
            .query(format!("SELECT id FROM {} ORDER BY id", t.name))
            .await
            .expect("ids");
        let target = *rng.pick(&ids);
        let other = *rng.pick(&ids);
        let (lo, hi) = (
            date_value(rng, false).unwrap_or_else(|| "2028-01-01".into()),
            date_value(rng, false).unwrap_or_else(|| "2028-03-01".into()),
        );
        let col = t.column;
        let choice = rng.below(3);
        let sets = match choice {
            0 => format!("user_id = {u}"),
            1 => format!("{col} = {}", sql_value(d.as_deref())),
            _ => format!(
                "user_id = {u}, {col} = {}, v = v + 1",
                sql_value(d.as_deref())
            ),
        };
        let filter = match rng.below(6) {
            0..=2 => format!("id = {target}"),
            3 => format!("id IN ({target}, {other})"),
            4 => format!("user_id = {}", rng.below(13)),
            _ => format!("{col} >= '{lo}' AND {col} < '{hi}'"),
        };
        let sql = format!("UPDATE {} SET {sets} WHERE {filter}", t.name);
        let bad_date = choice != 0 && month_of(d.as_deref()).is_err();
        // Every other step through the proxy in `xa` mode.
        let pc: &mut Conn = if step % 2 == 0 { &mut *p } else { &mut *px };
        let in_tx = step % 3 == 1;
        if in_tx {
            both(pc, r, "BEGIN").await.ok();
        }
        if bad_date {
            refused(pc, &sql).await;
        } else if step % 5 == 4 && filter.starts_with("id =") {
            // Prepared: the new values as parameters.
            let sql = format!("UPDATE {} SET user_id = ?, {col} = ? WHERE id = ?", t.name);
            let params = Params::from((u, d.clone(), target));
            let got = exec(pc, &sql, params.clone()).await;
            if month_of(d.as_deref()).is_err() {
                assert_eq!(got, Err((1105, "HY000".to_owned())), "{sql} {d:?}");
            } else {
                assert_eq!(got, exec(r, &sql, params).await, "{sql} {u} {d:?}");
                *tally.entry(tally_key(3, &got)).or_default() += 1;
            }
        } else {
            let got = both(pc, r, &sql).await;
            *tally.entry(tally_key(choice, &got)).or_default() += 1;
            moved += got.unwrap_or(0);
        }
        if in_tx {
            let end = if rng.chance(30) { "ROLLBACK" } else { "COMMIT" };
            both(pc, r, end).await.ok();
        }
        if step % 15 == 14 {
            same_rows(p, r, t).await;
        }
    }
    for what in [
        "key changed",
        "date changed",
        "both changed",
        "prepared changed",
    ] {
        assert!(
            tally.get(what).is_some_and(|n| *n >= 2),
            "{what}: {tally:?}"
        );
    }
    (moved, tally)
}

/// A period table dropped on its node (`events_1_202803`, users ≡ 1 mod
/// 4 in March 2028): the named 1146/42S02 for every write into it,
/// nothing written; reads of it find no rows, as on one server.
async fn missing_period(topo: &Topology, p: &mut Conn, r: &mut Conn, id: &mut i64) {
    let mut n1 = direct_conn(topo, "n1p", Some(DB)).await;
    n1.query_drop("DROP TABLE events_1_202803")
        .await
        .expect("drop");
    r.query_drop(
        "DELETE FROM events WHERE MOD(user_id, 4) = 1 \
         AND created_at >= '2028-03-01' AND created_at < '2028-04-01'",
    )
    .await
    .expect("ref delete");
    let named = |e: mysql_async::Error, what: &str| {
        let (code, state, message) = server_error(e);
        assert_eq!((code, state.as_str()), (1146, "42S02"), "{what}: {message}");
        assert!(
            message.starts_with("Table 'events' has no physical table for month 202803")
                && message.contains("events_1_202803"),
            "{what}: {message}"
        );
    };
    // Reads before the drop remembered the table: the first statement on
    // it fails, named, and makes shardcat look it up again.
    let e = p
        .query_drop("SELECT COUNT(*) FROM events")
        .await
        .expect_err("stale read");
    let (code, state, message) = server_error(e);
    assert!(
        code == 1146
            && state == "42S02"
            && message.starts_with("Table 'events' has no physical table for month"),
        "{code} {state} {message}"
    );
    let before = rows_as_strings(r, "SELECT COUNT(*) FROM events").await;
    *id += 1;
    let e = p
        .query_drop(format!(
            "INSERT INTO events (id, user_id, created_at, v) VALUES ({id}, 5, '2028-03-10', 1)"
        ))
        .await
        .expect_err("insert");
    named(e, "insert");
    let e = p
        .exec_drop(
            "INSERT INTO events (id, user_id, created_at, v) VALUES (?, ?, ?, 1)",
            (*id, 9, "2028-03-31 23:59:59.999999"),
        )
        .await
        .expect_err("prepared insert");
    named(e, "prepared insert");
    let e = p
        .query_drop(format!(
            "INSERT INTO events (id, user_id, created_at, v) VALUES ({}, 2, '2028-03-10', 1), \
             ({id}, 1, '2028-03-01', 1)",
            *id + 1
        ))
        .await
        .expect_err("split insert");
    named(e, "split insert");
    set_file(
        p,
        format!("{}\t2\t2028-03-03\t1\n{id}\t13\t2028-03-04\t1\n", *id + 1).into_bytes(),
    );
    let e = p
        .query_drop("LOAD DATA LOCAL INFILE 'f' INTO TABLE events (id, user_id, created_at, v)")
        .await
        .expect_err("load");
    named(e, "load data");
    // A move into it: the date of a row of a user ≡ 1 mod 4, the key of a
    // March row of another user.
    let a: Option<i64> = p
        .query_first(
            "SELECT id FROM events WHERE user_id = 5 AND created_at >= '2028-04-01' LIMIT 1",
        )
        .await
        .expect("pick");
    if let Some(a) = a {
        let e = p
            .query_drop(format!(
                "UPDATE events SET created_at = '2028-03-15' WHERE id = {a}"
            ))
            .await
            .expect_err("period move");
        named(e, "period move");
    }
    let b: Option<i64> = p
        .query_first(
            "SELECT id FROM events WHERE user_id = 2 AND created_at >= '2028-03-01' \
             AND created_at < '2028-04-01' LIMIT 1",
        )
        .await
        .expect("pick");
    if let Some(b) = b {
        p.query_drop("BEGIN").await.expect("begin");
        let e = p
            .query_drop(format!("UPDATE events SET user_id = 9 WHERE id = {b}"))
            .await
            .expect_err("key move");
        named(e, "key move in a transaction");
        p.query_drop("COMMIT").await.expect("commit");
    }
    assert_eq!(
        rows_as_strings(p, "SELECT COUNT(*) FROM events").await,
        before
    );
    // Reads: the missing table holds no rows, like ref.
    for sql in [
        "SELECT id, user_id, created_at FROM events WHERE user_id = 1 \
         AND created_at >= '2028-03-01' AND created_at < '2028-04-01' ORDER BY id",
        "SELECT COUNT(*), MAX(created_at) FROM events WHERE user_id IN (1, 5) \
         AND created_at BETWEEN '2028-03-01' AND '2028-03-31 23:59:59'",
        "SELECT user_id, COUNT(*) FROM events WHERE created_at >= '2028-02-15' \
         AND created_at < '2028-04-15' GROUP BY user_id ORDER BY user_id",
        "SELECT e.id, e.v FROM events e WHERE e.created_at = '2028-03-01' ORDER BY e.id",
        "SELECT id, user_id, created_at, v FROM events ORDER BY id",
    ] {
        let got = rows_as_strings(p, sql).await;
        assert_eq!(got, rows_as_strings(r, sql).await, "{sql}");
    }
    n1.query_drop("CREATE TABLE events_1_202803 LIKE events_0_202803")
        .await
        .expect("recreate");
    n1.disconnect().await.ok();
}

/// A table `bound_to` a composite table: `shardcat check` refuses the
/// rules, naming why.
#[test]
fn binding_to_a_composite_table_is_refused() {
    let topo = Topology::from_env();
    let text = format!(
        "{}\n[[table]]\nname = \"notes\"\nschema = \"{DB}\"\nkey = \"user_id\"\nbound_to = \"events\"\n",
        config(&topo, 1)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bound.toml");
    std::fs::write(&path, text).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardcat"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run shardcat check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("`bound_to = \"events\"` names a table split by key and period")
            && text.contains("its own rule"),
        "{text}"
    );
}
