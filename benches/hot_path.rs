//! Micro-benchmarks of the per-statement hot path, without network:
//! classification (the lexical router input), packet framing, OK encoding
//! and session-state diffing. Run with `cargo bench --bench hot_path`.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use mysql_common::constants::CapabilityFlags;
use shardcat::router::{self, SessionView};
use shardcat::session_state::SessionState;
use shardcat::wire::codec::{encode_packet, PacketCodec};
use shardcat::wire::packets::OkPacket;
use std::hint::black_box;
use tokio_util::codec::Decoder;

const POINT_SELECT: &str = "SELECT c FROM sbtest1 WHERE id=4711";
const INSERT_3: &str = "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, '68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574-28203206787-41238978918-19503783441', '22195207048-70116052123-74140395089-76317954521-98694025897'), (2, 3, 'x', 'y'), (3, 4, 'z', 'w')";
const SCATTER: &str = "SELECT user_id, COUNT(*), SUM(amount) FROM orders WHERE created_at >= '2026-01-01' GROUP BY user_id ORDER BY 2 DESC LIMIT 10";

fn view() -> SessionView {
    SessionView {
        node: 0,
        in_transaction: false,
        read_only_transaction: false,
        autocommit: true,
        read_write_split: true,
        consistency: shardcat::config::Consistency::Session,
        pinned_to_primary: false,
    }
}

fn classify_and_route(c: &mut Criterion) {
    let v = view();
    for (name, sql) in [
        ("point_select", POINT_SELECT),
        ("insert_3_rows", INSERT_3),
        ("scatter_select", SCATTER),
    ] {
        c.bench_function(&format!("classify+route/{name}"), |b| {
            b.iter(|| {
                let cl = shardcat::sql::classify(black_box(sql));
                black_box(router::route(&cl, &v))
            })
        });
    }
}

/// Sharded planning of a point select (rules/shop.toml): the same text
/// again (a plan-cache hit), and a new key literal every time, as sysbench
/// and most applications send text queries.
fn shard_plan(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/shop.toml");
    let cfg = match shardcat::config::Config::load(&path) {
        Ok(cfg) => cfg,
        Err(e) => panic!("rules/shop.toml: {e}"),
    };
    let router = cfg.sharding.clone();
    let same = "SELECT name, city FROM users WHERE id = 4711";
    c.bench_function("shard_plan/point_select_same_text", |b| {
        b.iter(|| black_box(router.plan(black_box(same), Some("shop"), &[])))
    });
    let mut n = 0u64;
    c.bench_function("shard_plan/point_select_new_literal", |b| {
        b.iter(|| {
            n += 1;
            let sql = format!("SELECT name, city FROM users WHERE id = {n}");
            black_box(router.plan(&sql, Some("shop"), &[]))
        })
    });
    let mut m = 0u64;
    c.bench_function("shard_plan/insert_3_rows_new_literals", |b| {
        b.iter(|| {
            m += 3;
            let sql = format!(
                "INSERT INTO users (id, name, city) VALUES ({m}, 'a', 'b'), ({}, 'c', 'd'), ({}, 'e', 'f')",
                m + 1,
                m + 2
            );
            black_box(router.plan(&sql, Some("shop"), &[]))
        })
    });
}

fn framing(c: &mut Criterion) {
    // A 100-row result of ~120-byte rows, framed, then decoded packet by packet.
    let mut wire = Vec::new();
    let mut seq = 1u8;
    let row = vec![b'x'; 120];
    for _ in 0..100 {
        encode_packet(&mut wire, &mut seq, &row);
    }
    c.bench_function("codec/decode_100_rows", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut codec = PacketCodec::new(64 << 20);
            let mut n = 0;
            while let Ok(Some(p)) = codec.decode(&mut buf) {
                n += p.payload.len();
            }
            black_box(n)
        })
    });
    c.bench_function("codec/encode_100_rows", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            let mut seq = 1u8;
            for _ in 0..100 {
                encode_packet(&mut out, &mut seq, black_box(&row));
            }
            black_box(out.len())
        })
    });
    let ok = OkPacket {
        affected_rows: 1,
        last_insert_id: 42,
        status: 2,
        ..OkPacket::default()
    };
    c.bench_function("packets/ok_encode", |b| {
        let mut out = Vec::with_capacity(32);
        b.iter(|| {
            out.clear();
            black_box(&ok).encode(CapabilityFlags::CLIENT_PROTOCOL_41, 0, &mut out);
            black_box(out.len())
        })
    });
}

fn session_sync(c: &mut Criterion) {
    let a = SessionState::for_collation(45);
    let mut b2 = a.clone();
    b2.record_var("sql_mode", "STRICT_TRANS_TABLES");
    c.bench_function("session/sync_sql_equal", |b| {
        b.iter(|| black_box(a.sync_sql(black_box(&a))))
    });
    c.bench_function("session/sync_sql_one_var", |b| {
        b.iter(|| black_box(b2.sync_sql(black_box(&a))))
    });
}

/// A mysqldump-style extended INSERT of `n` rows of about 200 bytes (5000
/// rows: about 1 MB), spread over every shard. `generated`: the rows leave
/// out `orders.id`, which a `[[sequence]]` fills, so every row also gets a
/// splice of its own.
fn bulk_insert(n: usize, generated: bool) -> String {
    let mut sql = if generated {
        String::from("INSERT INTO `orders` (`user_id`, `total`, `note`) VALUES ")
    } else {
        String::from("INSERT INTO `users` (`id`, `name`, `city`) VALUES ")
    };
    for i in 0..n {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "({},'user-{i}-{:0>150}','Z\u{fc}rich \\'{i}\\'')",
            i * 7 + 1,
            i
        ));
    }
    sql
}

/// Planning cost of one multi-row INSERT by its number of rows: must grow
/// linearly (restoring a dump sends thousands of rows per statement).
/// Texts above 16 KiB are not cached, so from 100 rows on every iteration
/// also parses; 10 rows measures planning on a cached analysis.
fn shard_plan_bulk_insert(c: &mut Criterion) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/shop.toml");
    let cfg = match shardcat::config::Config::load(&path) {
        Ok(cfg) => cfg,
        Err(e) => panic!("rules/shop.toml: {e}"),
    };
    let router = cfg.sharding.clone();
    for generated in [false, true] {
        for n in [10, 100, 1000, 5000] {
            let sql = bulk_insert(n, generated);
            match router.plan(&sql, Some("shop"), &[]) {
                Ok(Some(p)) if p.targets.len() > 1 || n < 4 => {}
                other => panic!("{n} rows: {other:?}"),
            }
            let name = if generated {
                format!("shard_plan/insert_rows_generated_id/{n}")
            } else {
                format!("shard_plan/insert_rows/{n}")
            };
            c.bench_function(&name, |b| {
                b.iter(|| black_box(router.plan(black_box(&sql), Some("shop"), &[])))
            });
        }
    }
}

/// What operations add to every statement: the metrics of one statement
/// (counter + histogram by path), and the query digest (one normalizing
/// lexer pass + xxh3, then a sharded-map update), for a point select with a
/// new literal each time (a digest already in the table) and a new digest
/// each time (bounded by `MAX_DIGESTS`: past it, the overflow counter).
fn ops_per_statement(c: &mut Criterion) {
    let metrics = shardcat::ops::metrics::Metrics::new(0);
    let took = std::time::Duration::from_micros(180);
    c.bench_function("ops/metrics_statement", |b| {
        b.iter(|| metrics.statement(black_box("single_shard"), black_box(took), None))
    });
    let digests = shardcat::ops::digests::Digests::default();
    let mut n = 0u64;
    c.bench_function("ops/digest_record/point_select_new_literal", |b| {
        b.iter(|| {
            n += 1;
            let sql = format!("SELECT c FROM sbtest1 WHERE id={n}");
            digests.record(black_box(&sql), took, false)
        })
    });
    let mut m = 0u64;
    c.bench_function("ops/format_only/point_select_new_literal", |b| {
        b.iter(|| {
            m += 1;
            black_box(format!("SELECT c FROM sbtest1 WHERE id={m}"))
        })
    });
    c.bench_function("ops/digest_hash/oltp_range_select", |b| {
        b.iter(|| {
            shardcat::sql::classify::digest_hash(black_box(
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 4711 AND 4810 ORDER BY c",
            ))
        })
    });
}

criterion_group!(
    benches,
    ops_per_statement,
    classify_and_route,
    shard_plan,
    shard_plan_bulk_insert,
    framing,
    session_sync
);
criterion_main!(benches);
