//! Property tests (proptest, stable toolchain) of everything that decodes
//! client input: the packet codec, the handshake response and auth
//! verification, COM_STMT_EXECUTE parameter decoding, and the SQL
//! classifier, security gate and shard router. Inputs are arbitrary bytes,
//! valid packets with mutations, and SQL assembled from a vocabulary of the
//! statements the router understands. Properties: nothing panics, the
//! codec never buffers or returns more than `max_payload`, and a decoded
//! execute never points outside its packet.
//!
//! No topology needed. Cases per property: `PROPTEST_CASES` (default 256;
//! `.ci/run` keeps the default, a longer run is e.g.
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_decoders`).
//! Failures found are kept as regression cases in
//! `tests/fuzz_decoders.proptest-regressions` (proptest writes the file).

use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use mysql_common::io::ParseBuf;
use mysql_common::packets::HandshakeResponse;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tokio_util::codec::Decoder;

use shardcat::config::Config;
use shardcat::frontend::prepared::ClientStatement;
use shardcat::router::shard::ShardRouter;
use shardcat::sql::classify::split_statements_bytes;
use shardcat::sql::{self, LexOptions};
use shardcat::wire::auth;
use shardcat::wire::PacketCodec;

/// Frames `payload` as one physical packet.
fn frame(payload: &[u8], seq: u8) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// A byte mutation of `base`: flips, truncation, insertion, length-like
/// 0xFB..0xFF bytes (lenenc markers) at random places.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len().max(1);
    (
        proptest::collection::vec((0..n, any::<u8>(), 0u8..5), 1..8),
        0..=n,
    )
        .prop_map(move |(edits, cut)| {
            let mut b = base.clone();
            for (at, v, how) in edits {
                let at = at.min(b.len().saturating_sub(1));
                match how {
                    0 if !b.is_empty() => b[at] = v,
                    1 if !b.is_empty() => b[at] = 0xFB + v % 5,
                    2 => b.insert(at.min(b.len()), v),
                    3 if !b.is_empty() => {
                        b.remove(at);
                    }
                    _ => b.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
                }
            }
            if cut < b.len() && cut % 3 == 0 {
                b.truncate(cut);
            }
            b
        })
}

/// A well-formed execute packet for a statement with `types.len()` params.
fn execute_packet(id: u32, types: &[u8], values: &[u8], nulls: u8) -> Vec<u8> {
    let mut p = vec![0x17];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&1u32.to_le_bytes());
    if !types.is_empty() {
        let mut bitmap = vec![0u8; types.len().div_ceil(8)];
        bitmap[0] = nulls;
        p.extend_from_slice(&bitmap);
        p.push(1);
        for t in types {
            p.push(*t);
            p.push(0);
        }
        p.extend_from_slice(values);
    }
    p
}

const TYPES: [u8; 14] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x0A, 0x0B, 0x0C, 0xF6, 0xFC, 0xFD, 0xFE,
];

fn router() -> &'static (Config, ShardRouter) {
    static R: OnceLock<(Config, ShardRouter)> = OnceLock::new();
    R.get_or_init(|| {
        let text = include_str!("../rules/shop.toml");
        let cfg = Config::parse(text, std::path::Path::new("shop.toml")).expect("shop.toml");
        let r = ShardRouter::new(&cfg).expect("router");
        (cfg, r)
    })
}

/// SQL from pieces the classifier and router give meaning to.
fn sql_text() -> impl Strategy<Value = String> {
    let words = prop_oneof![
        Just("SELECT"),
        Just("INSERT INTO"),
        Just("UPDATE"),
        Just("DELETE FROM"),
        Just("users"),
        Just("orders"),
        Just("order_items"),
        Just("events"),
        Just("regions"),
        Just("settings"),
        Just("WHERE"),
        Just("id"),
        Just("user_id"),
        Just("="),
        Just("IN ("),
        Just(")"),
        Just("("),
        Just(","),
        Just("?"),
        Just("1"),
        Just("'x'"),
        Just("\"q\""),
        Just("`users`"),
        Just("ORDER BY"),
        Just("GROUP BY"),
        Just("LIMIT"),
        Just("UNION"),
        Just("JOIN"),
        Just("ON"),
        Just("AND"),
        Just("OR"),
        Just("COUNT(*)"),
        Just("SUM(id)"),
        Just("*"),
        Just("VALUES"),
        Just("SET"),
        Just("FOR UPDATE"),
        Just(";"),
        Just("/*"),
        Just("*/"),
        Just("-- c\n"),
        Just("#"),
        Just("\\"),
        Just("'"),
        Just("BETWEEN"),
        Just("created_at"),
        Just("'2026-03-01'"),
        Just("AS"),
        Just("t"),
        Just("EXISTS"),
        Just("NOT"),
        Just("NULL"),
        Just("HAVING"),
        Just("DISTINCT"),
        Just("WITH"),
        Just("x"),
        Just("0x1F"),
        Just("-9223372036854775809"),
        Just("1e309"),
        Just("@v"),
        Just("LOCK TABLES"),
        Just("SHOW CREATE TABLE"),
        Just("DESCRIBE"),
        Just("information_schema.tables"),
        Just("LOAD_FILE"),
    ];
    proptest::collection::vec(words, 0..24).prop_map(|w| w.join(" "))
}

proptest! {
    #[test]
    fn codec_never_panics_or_overallocates(
        input in proptest::collection::vec(any::<u8>(), 0..4096),
        max in 0usize..2048,
    ) {
        let mut codec = PacketCodec::new(max);
        let mut buf = BytesMut::from(&input[..]);
        for _ in 0..64 {
            match codec.decode(&mut buf) {
                Ok(Some(p)) => prop_assert!(p.payload.len() <= max),
                Ok(None) | Err(_) => break,
            }
            // Reserved room: never more than one packet's header + limit
            // beyond what was given.
            prop_assert!(buf.capacity() <= input.len() + max + 8);
        }
    }

    #[test]
    fn codec_joins_what_it_was_given(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        seq in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut bytes = frame(&payload, seq);
        bytes.extend_from_slice(&tail);
        let mut codec = PacketCodec::new(4096);
        let mut buf = BytesMut::from(&bytes[..]);
        let p = codec.decode(&mut buf).expect("valid frame").expect("complete");
        prop_assert_eq!(&p.payload[..], &payload[..]);
        prop_assert_eq!(p.seq, seq);
        prop_assert_eq!(buf.len(), tail.len());
    }

    #[test]
    fn handshake_response_parsing_never_panics(
        input in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            mutated(valid_handshake()),
        ],
        nonce in any::<[u8; 20]>(),
    ) {
        // What frontend::handshake does with a response.
        let parsed: Result<HandshakeResponse<'_>, _> = ParseBuf(&input).parse(());
        if let Ok(hs) = parsed {
            let _ = (hs.capabilities(), hs.user(), hs.db_name(), hs.collation());
            let _ = hs.auth_plugin().map(|p| p.as_bytes().to_vec());
            let _ = hs.connect_attributes();
            let scramble = hs.scramble_buf().to_vec();
            for plugin in [auth::NATIVE_PASSWORD, auth::CACHING_SHA2_PASSWORD, "other"] {
                let _ = auth::verify(plugin, &nonce, "pw", &scramble);
            }
        }
    }

    #[test]
    fn execute_decoding_stays_inside_the_packet(
        params in 0u16..20,
        types in proptest::collection::vec(proptest::sample::select(&TYPES[..]), 0..20),
        values in proptest::collection::vec(any::<u8>(), 0..200),
        nulls in any::<u8>(),
        mutate in any::<bool>(),
        long in proptest::collection::vec((0u16..24, proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
        seed in any::<u64>(),
    ) {
        let packet = execute_packet(1, &types, &values, nulls);
        let packet = if mutate {
            let mut runner = proptest::test_runner::TestRunner::new_with_rng(
                Default::default(),
                proptest::test_runner::TestRng::from_seed(
                    proptest::test_runner::RngAlgorithm::ChaCha,
                    &{
                        let mut s = [0u8; 32];
                        s[..8].copy_from_slice(&seed.to_le_bytes());
                        s
                    },
                ),
            );
            mutated(packet).new_tree(&mut runner).expect("tree").current()
        } else {
            packet
        };
        let mut st = ClientStatement::new(Arc::from("SELECT ?"), sql::classify("SELECT ?"), params, 0);
        for (p, d) in &long {
            st.append_long_data(*p, d, 64);
        }
        let long_data = st.take_long_data();
        prop_assert!(long_data.iter().map(|(_, d)| d.len()).sum::<usize>() <= 64);
        if let Ok(req) = st.parse_execute(&bytes::Bytes::from(packet)) {
            if let Ok(bound) = req.bound_params(&long_data) {
                let _ = req.param_values(&bound, &long_data);
                for map in [vec![], vec![0], (0..bound.len()).rev().collect::<Vec<_>>()] {
                    if map.iter().all(|&i| i < bound.len()) {
                        let _ = req.remapped_packets(&bound, &map, 7, &long_data);
                    }
                }
                let _ = req.backend_packets(7, &long_data);
            }
        }
    }

    #[test]
    fn classifier_and_router_never_panic_on_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        ansi in any::<bool>(),
        nbe in any::<bool>(),
    ) {
        let opts = LexOptions { ansi_quotes: ansi, no_backslash_escapes: nbe };
        let c = sql::classify_bytes(&input, opts);
        let _ = split_statements_bytes(&input, opts);
        let text = String::from_utf8_lossy(&input);
        let (_, r) = router();
        let _ = r.plan(&text, Some("shop"), &[]);
        let _ = c;
    }

    #[test]
    fn classifier_and_router_never_panic_on_sql(
        text in sql_text(),
        nparams in 0usize..4,
    ) {
        let c = sql::classify(&text);
        let _ = sql::classify::fingerprint(&text);
        let (_, r) = router();
        let params: Vec<shardcat::placement::ParamValue<'_>> = (0..nparams)
            .map(|i| match i % 3 {
                0 => shardcat::placement::ParamValue::Int(i as i64),
                1 => shardcat::placement::ParamValue::Null,
                _ => shardcat::placement::ParamValue::Bytes(b"k"),
            })
            .collect();
        let _ = r.plan(&text, Some("shop"), &params);
        let _ = r.plan_with(&text, None, &[], true);
        let _ = c;
    }
}

/// A valid 4.1 handshake response with a database and attributes.
fn valid_handshake() -> Vec<u8> {
    let caps: u32 =
        0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_0008 | 0x0010_0000 | 0x0020_0000;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(b"app\0");
    p.push(20);
    p.extend_from_slice(&[7u8; 20]);
    p.extend_from_slice(b"shop\0");
    p.extend_from_slice(b"mysql_native_password\0");
    let attrs = b"\x04_pid\x0312\x0c_client_name\x07libmysql";
    p.push(attrs.len() as u8);
    p.extend_from_slice(attrs);
    p
}
