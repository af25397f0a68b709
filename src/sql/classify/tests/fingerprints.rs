//! Tests of [`fingerprint`].
//!
//! Owns: tests of plan-cache keys. Must not test classification.

use super::*;

#[test]
fn fingerprints() {
    let cases: Vec<(&str, &str, &[&str])> = vec![
        (
            "SELECT * FROM t WHERE id = 1",
            "SELECT * FROM t WHERE id = ?",
            &["1"],
        ),
        (
            "select  *\n from t where id=42 and name = 'bob'  ",
            "select * from t where id=? and name = ?",
            &["42", "'bob'"],
        ),
        (
            "SELECT /* c */ a -- x\n FROM t # y\n WHERE b IN (1, 2.5, -3e2)",
            "SELECT a FROM t WHERE b IN (?, ?, -?)",
            &["1", "2.5", "3e2"],
        ),
        (
            "SELECT _utf8mb4'ü', N'x', 0x1F, X'aa', b'01', 0b1",
            "SELECT ?, ?, ?, ?, ?, ?",
            &["_utf8mb4'ü'", "N'x'", "0x1F", "X'aa'", "b'01'", "0b1"],
        ),
        (
            "SELECT * FROM t WHERE id = ?",
            "SELECT * FROM t WHERE id = ?",
            &[],
        ),
        (
            "SELECT a.b, t1.c2 FROM t1 a",
            "SELECT a.b, t1.c2 FROM t1 a",
            &[],
        ),
        (
            "/* shardcat:replica */ SELECT /*+ BKA(t) */ 1",
            "/* shardcat:replica */ SELECT /*+ BKA(t) */ ?",
            &["1"],
        ),
        ("/*!40101 SET x = 1 */", "/*!40101 SET x = ? */", &["1"]),
        (
            "SELECT 1 LIMIT 10 OFFSET 5",
            "SELECT ? LIMIT ? OFFSET ?",
            &["1", "10", "5"],
        ),
        ("", "", &[]),
    ];
    for (sql, text, literals) in cases {
        let fp = fingerprint(sql);
        assert_eq!(fp.text, text, "{sql}");
        let got: Vec<&str> = fp.literals.iter().map(|l| l.text(sql)).collect();
        assert_eq!(got, literals, "{sql}");
    }
    assert_eq!(
        fingerprint("SELECT 'a' FROM t WHERE x = 2").text,
        fingerprint("SELECT   'zzz'  FROM t  WHERE x = 99999 -- c").text
    );
    let kinds: Vec<LiteralKind> = fingerprint("SELECT 'a', 1, 0x1, b'1'")
        .literals
        .iter()
        .map(|l| l.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            LiteralKind::String,
            LiteralKind::Number,
            LiteralKind::Hex,
            LiteralKind::Bit
        ]
    );
}

/// The digest hash is the hash of the fingerprint text: equal texts give
/// equal hashes, different texts (over a generated set) different ones.
#[test]
fn digest_hash_follows_the_fingerprint_text() {
    let shapes = [
        "SELECT {} FROM t WHERE id = {}",
        "SELECT  {}  FROM t WHERE id={} -- c",
        "UPDATE t SET v = {} WHERE k IN ({}, 3)",
        "INSERT INTO t VALUES ({}, {})/* x */",
        "SELECT /*+ MAX_EXECUTION_TIME(1) */ {} , {}",
    ];
    let literals = ["1", "'a'", "0x1F", "b'101'", "2.5e3", "_utf8mb4'x'", "?"];
    let mut seen = std::collections::HashMap::new();
    for shape in shapes {
        for a in literals {
            for b in literals {
                let sql = shape.replacen("{}", a, 1).replacen("{}", b, 1);
                let fp = fingerprint(&sql).text;
                let h = digest_hash(&sql);
                let expected = xxhash_rust::xxh3::xxh3_64(fp.as_bytes());
                assert_eq!(h, expected, "{sql}");
                if let Some(prev) = seen.insert(h, fp.clone()) {
                    assert_eq!(prev, fp, "hash collision");
                }
            }
        }
    }
}

/// The digest from a classification's kept tokens equals the digest of the
/// text (generated texts: literals, spacing, comments of every kind,
/// strings holding comment openers); texts whose kept tokens cannot give
/// it (a `/*` anywhere) fall back, and nothing else does.
#[test]
fn digest_from_kept_tokens_equals_the_text_digest() {
    let pieces = [
        "SELECT c FROM t WHERE id = ",
        "5",
        "'a/*b'",
        " ",
        "-- x\n",
        "# y\n",
        "/* c */",
        "/*+ NO_ICP(t) */",
        "/* shardcat: primary */",
        "/*!50000 1 */",
        "0x1F",
        "b'1'",
        "`q`",
        "?",
        ",",
    ];
    let mut kept = KeptTokens::default();
    let mut buf = Vec::new();
    let (mut fast, mut fallback) = (0, 0);
    for a in pieces {
        for b in pieces {
            for c in pieces {
                let text = format!("{a}{b}{c}");
                kept.classify(bytes::Bytes::from(text.clone()), LexOptions::default());
                let Some(tokens) = kept.for_text(&text) else {
                    continue;
                };
                match digest_hash_of_tokens(&text, tokens, &mut buf) {
                    Some(h) => {
                        fast += 1;
                        assert_eq!(h, digest_hash(&text), "{text}");
                    }
                    None => {
                        fallback += 1;
                        assert!(text.contains("/*"), "{text}");
                    }
                }
            }
        }
    }
    assert!(fast >= 1000 && fallback > 500, "{fast} {fallback}");
}
