//! Differential collation matrix, part 1: the generated schema variants
//! (one sharded string table per collation, one mixing column-level
//! collations, one table of typed sort keys), their rows and the queries.
//!
//! Owns: what is loaded and asked. Must not: run or compare (that is
//! `tests/differential_collations.rs`).
//!
//! Include with `#[path = "common/coll_data.rs"] mod coll_data;`.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const DB: &str = "shardcat_coll";

/// The collations of the string-table variants (charset, collation).
pub const COLLATIONS: &[(&str, &str)] = &[
    ("utf8mb4", "utf8mb4_general_ci"),
    ("utf8mb4", "utf8mb4_unicode_ci"),
    ("utf8mb4", "utf8mb4_unicode_520_ci"),
    ("utf8mb4", "utf8mb4_uca1400_ai_ci"),
    ("utf8mb4", "utf8mb4_bin"),
    ("utf8mb4", "utf8mb4_nopad_bin"),
    ("utf8mb4", "utf8mb4_general_nopad_ci"),
    ("latin1", "latin1_swedish_ci"),
];

/// The column collations of the mixed table (`m`): column name, charset,
/// collation.
pub const MIXED: &[(&str, &str, &str)] = &[
    ("a", "utf8mb4", "utf8mb4_unicode_ci"),
    ("b", "utf8mb4", "utf8mb4_bin"),
    ("c", "latin1", "latin1_swedish_ci"),
    ("d", "utf8mb4", "utf8mb4_uca1400_ai_ci"),
];

/// Strings with case and accent variants, ß/ss, æ/ae, leading and
/// trailing spaces and tabs, punctuation, digits, emoji, Hangul,
/// combining marks, the empty string.
pub const WORDS: &[&str] = &[
    "Straße",
    "STRASSE",
    "strasse",
    "straße",
    "ß",
    "ss",
    "SS",
    "æble",
    "AEble",
    "aeble",
    "Æble",
    "a_b%c",
    "alice",
    "Alice",
    "alice ",
    "alice  ",
    " alice",
    "alice\t",
    "a\tb",
    "a b",
    "é",
    "e",
    "E",
    "è",
    "café",
    "cafe",
    "CAFÉ",
    "cafe\u{301}",
    "résumé",
    "resume",
    "z",
    "Z",
    "zz",
    "0",
    "00",
    "9",
    "10",
    "-1",
    "!",
    "#",
    "$x",
    "~",
    "_",
    "😀",
    "😃",
    "🍕x",
    "한국",
    "한글",
    "가",
    "ø",
    "o",
    "Ö",
    "oe",
    "",
    " ",
    "İ",
    "ı",
    "i",
    "I",
    "ﬁ",
    "fi",
    "x  y",
    "o'neil",
    "back\\slash",
    "q\"uote",
];

/// Whether latin1 can hold `s`.
pub fn latin1_ok(s: &str) -> bool {
    s.chars().all(|c| (c as u32) < 0x100)
}

pub fn sql_str(s: &str) -> String {
    let mut o = String::from("'");
    for c in s.chars() {
        match c {
            '\'' => o.push_str("''"),
            '\\' => o.push_str("\\\\"),
            '\t' => o.push_str("\\t"),
            c => o.push(c),
        }
    }
    o.push('\'');
    o
}

pub fn table_of(collation: &str) -> String {
    format!("s_{collation}")
}

/// The sharding rules: every table hashed by `id` over both nodes.
pub fn rules() -> String {
    let mut names: Vec<String> = COLLATIONS.iter().map(|c| table_of(c.1)).collect();
    names.push("m".into());
    names.push("typed".into());
    names
        .iter()
        .map(|n| {
            format!(
                "[[table]]\nname = \"{n}\"\nkey = \"id\"\nkey_type = \"int\"\nalgorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\", \"n2\"]\ntables_per_node = 2\n\n"
            )
        })
        .collect()
}

pub const ENUM_MEMBERS: &[&str] = &["pending", "active", "closed", "archived", "Bravo"];
pub const SET_MEMBERS: &[&str] = &["x", "b", "a"];
/// A second ENUM (utf8mb4_bin: case variants are distinct members) and
/// SET (latin1), whose text order differs from their position order.
pub const ENUM2_MEMBERS: &[&str] = &["zeta", "Alpha", "alpha", "Mid", "beta", "é"];
pub const SET2_MEMBERS: &[&str] = &["z", "y", "a", "B", "ø"];
/// The ENUM/SET columns of `typed`.
pub const ENUM_KEYS: &[&str] = &["e", "st", "e2", "st2"];

pub fn ddl() -> Vec<String> {
    let mut v = Vec::new();
    for (cs, coll) in COLLATIONS {
        v.push(format!(
            "CREATE TABLE {} (id INT PRIMARY KEY, s VARCHAR(40), g INT) CHARACTER SET {cs} COLLATE {coll}",
            table_of(coll)
        ));
    }
    let cols: Vec<String> = MIXED
        .iter()
        .map(|(n, cs, coll)| format!("{n} VARCHAR(40) CHARACTER SET {cs} COLLATE {coll}"))
        .collect();
    v.push(format!(
        "CREATE TABLE m (id INT PRIMARY KEY, g INT, {}) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        cols.join(", ")
    ));
    let members = |m: &[&str]| m.iter().map(|x| sql_str(x)).collect::<Vec<_>>().join(",");
    v.push(format!(
        "CREATE TABLE typed (id INT PRIMARY KEY, e ENUM({}), st SET({}), bt BIT(10), \
         f FLOAT, dbl DOUBLE, d3 DECIMAL(12,3), d0 DECIMAL(20,0), dt DATE, dtm DATETIME(2), \
         ts TIMESTAMP NULL, y YEAR, vb VARBINARY(12), bn BINARY(4), u BIGINT UNSIGNED, \
         e2 ENUM({}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, \
         st2 SET({}) CHARACTER SET latin1 COLLATE latin1_swedish_ci) \
         CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        members(ENUM_MEMBERS),
        members(SET_MEMBERS),
        members(ENUM2_MEMBERS),
        members(SET2_MEMBERS)
    ));
    v
}

/// The typed sort keys of `typed`.
pub const TYPED_KEYS: &[&str] = &[
    "e", "st", "bt", "f", "dbl", "d3", "d0", "dt", "dtm", "ts", "y", "vb", "bn", "u", "e2", "st2",
];

fn pick<'a>(r: &mut StdRng, words: &[&'a str]) -> Option<&'a str> {
    if r.random_range(0..12) == 0 {
        None
    } else {
        Some(words[r.random_range(0..words.len())])
    }
}

fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "NULL".into())
}

/// INSERT statements (batches of 50 rows) for every table.
pub fn inserts(seed: u64, rows: usize) -> Vec<String> {
    let mut r = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let latin: Vec<&str> = WORDS.iter().copied().filter(|w| latin1_ok(w)).collect();
    let batch = |table: &str, cols: &str, values: Vec<String>, out: &mut Vec<String>| {
        for chunk in values.chunks(50) {
            out.push(format!(
                "INSERT INTO {table} ({cols}) VALUES {}",
                chunk.join(",")
            ));
        }
    };
    for (cs, coll) in COLLATIONS {
        let words = if *cs == "latin1" { &latin } else { WORDS };
        let values = (1..=rows)
            .map(|id| {
                let s = pick(&mut r, words).map(sql_str);
                format!("({id}, {}, {})", opt(s), r.random_range(0..4))
            })
            .collect();
        batch(&table_of(coll), "id, s, g", values, &mut out);
    }
    let values = (1..=rows)
        .map(|id| {
            let mut v = vec![id.to_string(), r.random_range(0..4).to_string()];
            for (_, cs, _) in MIXED {
                let words = if *cs == "latin1" { &latin } else { WORDS };
                v.push(opt(pick(&mut r, words).map(sql_str)));
            }
            format!("({})", v.join(", "))
        })
        .collect();
    batch("m", "id, g, a, b, c, d", values, &mut out);
    let values = (1..=rows).map(|id| typed_row(&mut r, id)).collect();
    batch(
        "typed",
        &format!("id, {}", TYPED_KEYS.join(", ")),
        values,
        &mut out,
    );
    out
}

fn typed_row(r: &mut StdRng, id: usize) -> String {
    let null = |r: &mut StdRng| r.random_range(0..10) == 0;
    let mut v = vec![id.to_string()];
    let mut push = |r: &mut StdRng, f: &dyn Fn(&mut StdRng) -> String| {
        let x = if null(r) { "NULL".to_owned() } else { f(r) };
        v.push(x);
    };
    push(r, &|r| {
        sql_str(ENUM_MEMBERS[r.random_range(0..ENUM_MEMBERS.len())])
    });
    push(r, &|r| {
        let m: Vec<&str> = SET_MEMBERS
            .iter()
            .copied()
            .filter(|_| r.random_bool(0.5))
            .collect();
        sql_str(&m.join(","))
    });
    push(r, &|r| format!("b'{:b}'", r.random_range(0..1024u32)));
    let floats = [
        "-0.0", "0", "1.5", "-2.25", "1e10", "3.4e38", "-1e-5", "0.1", "100",
    ];
    push(r, &|r| floats[r.random_range(0..floats.len())].to_owned());
    let doubles = [
        "-0e0",
        "0e0",
        "1.5",
        "-2.25",
        "1e300",
        "-1e-300",
        "0.1",
        "0.30000000000000004",
        "7",
    ];
    push(r, &|r| doubles[r.random_range(0..doubles.len())].to_owned());
    let decs = ["1.5", "1.50", "-0.001", "12345.678", "0", "-7", "99.9"];
    push(r, &|r| decs[r.random_range(0..decs.len())].to_owned());
    let big = [
        "99999999999999999999",
        "-99999999999999999999",
        "0",
        "10",
        "9",
    ];
    push(r, &|r| big[r.random_range(0..big.len())].to_owned());
    push(r, &|r| {
        format!(
            "'{}-{:02}-{:02}'",
            r.random_range(1999..2031),
            r.random_range(1..13),
            r.random_range(1..29)
        )
    });
    push(r, &|r| {
        format!(
            "'2026-{:02}-01 {:02}:{:02}:00.{:02}'",
            r.random_range(1..13),
            r.random_range(0..24),
            r.random_range(0..2) * 30,
            r.random_range(0..3) * 25
        )
    });
    push(r, &|r| {
        format!(
            "'2026-03-{:02} {:02}:30:00'",
            r.random_range(1..31),
            r.random_range(0..24)
        )
    });
    push(r, &|r| r.random_range(1901..2156).to_string());
    let bins = [
        "x'00'", "x'0000'", "x'FF'", "'a'", "'A'", "'a '", "''", "x'61'",
    ];
    push(r, &|r| bins[r.random_range(0..bins.len())].to_owned());
    push(r, &|r| bins[r.random_range(0..bins.len())].to_owned());
    let us = [
        "18446744073709551615",
        "9223372036854775808",
        "0",
        "1",
        "42",
    ];
    push(r, &|r| us[r.random_range(0..us.len())].to_owned());
    push(r, &|r| {
        sql_str(ENUM2_MEMBERS[r.random_range(0..ENUM2_MEMBERS.len())])
    });
    push(r, &|r| {
        let m: Vec<&str> = SET2_MEMBERS
            .iter()
            .copied()
            .filter(|_| r.random_bool(0.4))
            .collect();
        sql_str(&m.join(","))
    });
    format!("({})", v.join(", "))
}

/// How a query's answer is compared.
#[derive(Debug, Clone)]
pub enum Check {
    /// The row sequence (values canonical where open).
    Total,
    /// The sequence of the first `n` columns, and the row multiset.
    Keys(usize),
    /// The row multiset.
    Multiset,
}

/// One generated query: its SQL, the family it counts under, how it is
/// compared and, per output column, the collation under which a value
/// is only one member of its class (`None`: compared byte for byte).
#[derive(Debug, Clone)]
pub struct CollQuery {
    pub family: String,
    pub sql: String,
    pub check: Check,
    pub open: Vec<Option<Open>>,
}

/// An output column whose value is any member of an equality class.
#[derive(Debug, Clone)]
pub enum Open {
    Collation(String, String),
    /// FLOAT/DOUBLE: `-0` and `0` are one value.
    Float,
}

pub(crate) fn q(family: &str, sql: String, check: Check, open: Vec<Option<Open>>) -> CollQuery {
    CollQuery {
        family: family.to_owned(),
        sql,
        check,
        open,
    }
}

/// The string-key queries on column `k` (charset, collation) of `t`.
pub fn string_queries(t: &str, k: &str, cs: &str, coll: &str) -> Vec<CollQuery> {
    let fam = coll.to_string();
    let o = || Some(Open::Collation(cs.to_owned(), coll.to_owned()));
    let other = if cs == "latin1" {
        "latin1_general_cs"
    } else {
        "utf8mb4_unicode_ci"
    };
    // DISTINCT windows (values equal under PAD SPACE but not byte-equal,
    // like 'alice' and 'alice ', must not take a shard's LIMIT slots
    // twice).
    let mut windows: Vec<CollQuery> = [0, 7, 14, 21, 28]
        .iter()
        .flat_map(|off| {
            ["", " DESC"].map(|dir| {
                q(
                    &fam,
                    format!("SELECT DISTINCT {k} FROM {t} ORDER BY {k}{dir} LIMIT 3 OFFSET {off}"),
                    Check::Keys(1),
                    vec![o()],
                )
            })
        })
        .collect();
    windows.push(q(
        &fam,
        format!("SELECT DISTINCT {k} FROM {t} WHERE {k} LIKE 'a%' ORDER BY {k} DESC LIMIT 2"),
        Check::Keys(1),
        vec![o()],
    ));
    let mut v = vec![
        q(
            &fam,
            format!("SELECT {k}, id FROM {t} ORDER BY {k}, id"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM {t} ORDER BY {k} DESC, id DESC LIMIT 9 OFFSET 4"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT id FROM {t} ORDER BY {k}, id LIMIT 12"),
            Check::Total,
            vec![None],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} ORDER BY {k} LIMIT 15"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM {t} ORDER BY {k} COLLATE {other}, id"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT {k}, COUNT(*), MIN(id), MAX(id) FROM {t} GROUP BY {k}"),
            Check::Total,
            vec![o(), None, None, None],
        ),
        q(
            &fam,
            format!("SELECT {k}, COUNT(*) FROM {t} GROUP BY {k} ORDER BY {k} DESC LIMIT 6"),
            Check::Total,
            vec![o(), None],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM {t}"),
            Check::Multiset,
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM {t} ORDER BY {k}"),
            Check::Total,
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM {t} ORDER BY {k} LIMIT 12"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM {t} ORDER BY {k} DESC LIMIT 8 OFFSET 3"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT COUNT(DISTINCT {k}) FROM {t}"),
            Check::Total,
            vec![None],
        ),
        q(
            &fam,
            format!("SELECT MIN({k}), MAX({k}) FROM {t}"),
            Check::Total,
            vec![o(), o()],
        ),
        q(
            &fam,
            format!("SELECT g, MIN({k}), MAX({k}), COUNT(DISTINCT {k}) FROM {t} GROUP BY g"),
            Check::Total,
            vec![None, o(), o(), None],
        ),
        q(
            &fam,
            format!("SELECT LOWER({k}) AS l, COUNT(*) FROM {t} GROUP BY LOWER({k})"),
            Check::Total,
            vec![o(), None],
        ),
    ];
    v.append(&mut windows);
    // A selected or grouped column named under its qualifier elsewhere.
    v.push(q(
        &fam,
        format!("SELECT DISTINCT x.{k} FROM {t} x ORDER BY {k} DESC LIMIT 7"),
        Check::Keys(1),
        vec![o()],
    ));
    v.push(q(
        &fam,
        format!("SELECT COUNT(*) FROM {t} x GROUP BY x.{k} ORDER BY {k} LIMIT 9"),
        Check::Total,
        vec![None],
    ));
    v.push(q(
        &fam,
        format!("SELECT x.{k}, x.id FROM {t} x ORDER BY {k}, id LIMIT 11"),
        Check::Total,
        vec![None, None],
    ));
    // HAVING comparing strings, GROUP_CONCAT ordered by strings.
    let lits = if cs == "latin1" {
        ["'b'", "'cafe'"]
    } else {
        ["'b'", "'résumé'"]
    };
    for lit in lits {
        v.push(q(
            &fam,
            format!("SELECT {k}, COUNT(*) FROM {t} GROUP BY {k} HAVING {k} > {lit} ORDER BY {k}"),
            Check::Total,
            vec![o(), None],
        ));
        v.push(q(
            &fam,
            format!("SELECT g, MAX({k}) FROM {t} GROUP BY g HAVING MAX({k}) >= {lit} OR MIN({k}) = {lit}"),
            Check::Total,
            vec![None, o()],
        ));
    }
    v.push(q(
        &fam,
        format!("SELECT g, GROUP_CONCAT({k} ORDER BY {k}, id SEPARATOR '|') FROM {t} GROUP BY g"),
        Check::Total,
        vec![None, None],
    ));
    v.push(q(
        &fam,
        format!(
            "SELECT g, GROUP_CONCAT(id ORDER BY {k} DESC, id) FROM {t} WHERE id < 80 GROUP BY g"
        ),
        Check::Total,
        vec![None, None],
    ));
    v.push(q(
        &fam,
        format!("SELECT g, COUNT(*), LENGTH(GROUP_CONCAT(DISTINCT {k})) FROM {t} GROUP BY g"),
        Check::Total,
        vec![None, None, None],
    ));
    v.push(q(
        &fam,
        format!("SELECT g, GROUP_CONCAT(DISTINCT id ORDER BY {k} DESC, id) FROM {t} WHERE id < 80 GROUP BY g"),
        Check::Total,
        vec![None, None],
    ));
    v
}

/// The typed-key queries on column `k` of `typed`.
pub fn typed_queries(k: &str) -> Vec<CollQuery> {
    let fam = format!("type {k}");
    let open = || {
        if k == "f" || k == "dbl" {
            Some(Open::Float)
        } else {
            None
        }
    };
    vec![
        q(
            &fam,
            format!("SELECT {k}, id FROM typed ORDER BY {k}, id"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM typed ORDER BY {k} DESC, id DESC LIMIT 9 OFFSET 4"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT id FROM typed ORDER BY {k}, id LIMIT 12"),
            Check::Total,
            vec![None],
        ),
        q(
            &fam,
            format!("SELECT {k}, COUNT(*) FROM typed GROUP BY {k}"),
            Check::Total,
            vec![open(), None],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM typed"),
            Check::Multiset,
            vec![open()],
        ),
        q(
            &fam,
            format!("SELECT id % 3 AS m, GROUP_CONCAT(id ORDER BY {k} DESC, id) FROM typed WHERE id < 90 GROUP BY m"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT DISTINCT {k} FROM typed ORDER BY {k} LIMIT 4 OFFSET 1"),
            Check::Keys(1),
            vec![open()],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM typed WHERE id % 2 = 0 UNION SELECT {k} FROM typed WHERE id % 2 = 1 ORDER BY 1 DESC LIMIT 4"),
            Check::Keys(1),
            vec![open()],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM typed WHERE id < 50 UNION ALL SELECT {k}, id FROM typed WHERE id > 150 ORDER BY {k}, id LIMIT 30"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT COUNT(DISTINCT {k}) FROM typed"),
            Check::Total,
            vec![None],
        ),
        q(
            &fam,
            format!("SELECT MIN({k}), MAX({k}) FROM typed"),
            Check::Total,
            vec![open(), open()],
        ),
    ]
}

/// ENUM/SET keys (sorted and grouped by member position; MIN/MAX and
/// expressions over them compare text) through aliases, qualifiers,
/// positions, GROUP BY, DISTINCT and expressions, on column `k` of
/// `typed`.
pub fn enum_queries(k: &str) -> Vec<CollQuery> {
    let fam = format!("enum {k}");
    let mut v = Vec::new();
    let mut add = |sql: String, check: Check, n: usize| {
        v.push(q(&fam, sql, check, vec![None; n]));
    };
    add(
        format!("SELECT {k} AS x, id FROM typed ORDER BY x, id"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT t.{k}, t.id FROM typed t ORDER BY t.{k} DESC, t.id LIMIT 20"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT id, {k} FROM typed ORDER BY 2, 1 LIMIT 15 OFFSET 3"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT id FROM typed ORDER BY {k} DESC, id LIMIT 10"),
        Check::Total,
        1,
    );
    add(
        format!("SELECT DISTINCT {k} FROM typed ORDER BY {k} DESC"),
        Check::Total,
        1,
    );
    add(
        format!("SELECT DISTINCT {k} FROM typed ORDER BY {k} LIMIT 3"),
        Check::Total,
        1,
    );
    add(
        format!("SELECT {k}, COUNT(*) FROM typed GROUP BY {k} ORDER BY {k} DESC"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT COUNT(*), {k} AS x FROM typed GROUP BY x"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT COUNT(*) FROM typed GROUP BY {k}"),
        Check::Total,
        1,
    );
    add(
        format!("SELECT {k}, y % 3 AS m, COUNT(*) FROM typed GROUP BY {k}, m"),
        Check::Total,
        3,
    );
    add(
        format!("SELECT {k}, id FROM typed GROUP BY id, {k} ORDER BY {k}, id"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT CONCAT({k}) AS c, id FROM typed ORDER BY c, id"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT CAST({k} AS CHAR) AS c, id FROM typed ORDER BY c, id"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT id, {k} FROM typed ORDER BY {k}+0, id"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT y % 3 AS m, MIN({k}), MAX({k}) FROM typed GROUP BY m"),
        Check::Total,
        3,
    );
    add(
        format!("SELECT MIN({k}), MAX({k}), COUNT(DISTINCT {k}) FROM typed"),
        Check::Total,
        3,
    );
    add(
        format!("SELECT {k}, MAX(id) AS hi FROM typed GROUP BY {k} ORDER BY hi"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT y % 2 AS m, GROUP_CONCAT({k} ORDER BY {k}, id) FROM typed GROUP BY m"),
        Check::Total,
        2,
    );
    add(
        format!("SELECT {k}, COUNT(*) FROM typed GROUP BY {k} HAVING {k} > 'b'"),
        Check::Total,
        2,
    );
    v
}

/// Cross-shard UNION [ALL] / UNION DISTINCT on column `k` of `t`: the
/// duplicate removal and the ORDER BY over the union, branches sharing
/// the shards or needing different ones, a branch without a table.
pub fn union_queries(t: &str, k: &str, cs: &str, coll: &str) -> Vec<CollQuery> {
    let fam = format!("union {coll}");
    let o = || Some(Open::Collation(cs.to_owned(), coll.to_owned()));
    let lit = format!("CONVERT('zz' USING {cs}) COLLATE {coll}");
    vec![
        q(
            &fam,
            format!("SELECT {k} FROM {t} WHERE g = 0 UNION SELECT {k} FROM {t} WHERE g = 1"),
            Check::Multiset,
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} WHERE g < 2 UNION SELECT {k} FROM {t} WHERE g > 0 ORDER BY 1"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k} AS x FROM {t} UNION DISTINCT SELECT {k} FROM {t} WHERE g = 3 ORDER BY x DESC LIMIT 6 OFFSET 2"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM {t} WHERE g < 2 UNION ALL SELECT {k}, id FROM {t} WHERE g >= 2 ORDER BY {k}, id"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT {k}, id FROM {t} WHERE g = 1 UNION ALL SELECT {k}, id FROM {t} WHERE g = 2 ORDER BY 1 DESC, 2 LIMIT 10"),
            Check::Total,
            vec![None, None],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} WHERE id IN (1, 2, 3, 4) UNION SELECT {k} FROM {t} WHERE id > 100 ORDER BY 1 LIMIT 8"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} UNION SELECT {lit} ORDER BY 1 DESC LIMIT 4"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} WHERE g = 2 UNION ALL SELECT {lit} ORDER BY 1 LIMIT 5"),
            Check::Keys(1),
            vec![o()],
        ),
        q(
            &fam,
            format!("SELECT {k} FROM {t} WHERE g = 0 UNION SELECT {k} FROM {t} WHERE g = 3 ORDER BY {k} LIMIT 3 OFFSET 9"),
            Check::Keys(1),
            vec![o()],
        ),
    ]
}

/// Every query of the matrix.
pub fn all_queries() -> Vec<CollQuery> {
    let mut v = Vec::new();
    for (_, coll) in COLLATIONS {
        let t = table_of(coll);
        v.extend(crate::coll_subqueries::subquery_queries(
            &format!("subquery {coll}"),
            &t,
            &t,
            "s",
            "g",
        ));
    }
    // Across character sets (the server converts to the Unicode side).
    // (Two collations of one character set fail with 1271 through
    // shardcat where the server says 1267: see the README.)
    for (outer, inner) in [
        ("s_latin1_swedish_ci", "s_utf8mb4_unicode_ci"),
        ("s_utf8mb4_uca1400_ai_ci", "s_latin1_swedish_ci"),
    ] {
        v.extend(crate::coll_subqueries::subquery_queries(
            "subquery cross",
            outer,
            inner,
            "s",
            "g",
        ));
    }
    for k in [
        "d3", "d0", "dt", "dtm", "ts", "y", "vb", "bn", "u", "bt", "e", "st2", "dbl", "f",
    ] {
        let fam = format!("subquery type {k}");
        v.extend(crate::coll_subqueries::subquery_queries(
            &fam, "typed", "typed", k, "(id % 4)",
        ));
    }
    for (cs, coll) in COLLATIONS {
        v.extend(string_queries(&table_of(coll), "s", cs, coll));
    }
    for (cs, coll) in COLLATIONS {
        v.extend(union_queries(&table_of(coll), "s", cs, coll));
    }
    for (n, cs, coll) in MIXED {
        for mut x in string_queries("m", n, cs, coll) {
            x.family = format!("mixed {n} {coll}");
            v.push(x);
        }
    }
    // Branches of two tables whose columns share a collation; a branch
    // mixing collations (the union column compares under one of them).
    v.push(q(
        "union mixed",
        "SELECT s FROM s_utf8mb4_unicode_ci UNION SELECT a FROM m ORDER BY 1 LIMIT 30".into(),
        Check::Keys(1),
        vec![Some(Open::Collation(
            "utf8mb4".into(),
            "utf8mb4_unicode_ci".into(),
        ))],
    ));
    v.push(q(
        "union mixed",
        "SELECT a, b FROM m WHERE g = 0 UNION SELECT a, b FROM m WHERE g > 1 ORDER BY 2, 1".into(),
        Check::Keys(2),
        vec![
            Some(Open::Collation(
                "utf8mb4".into(),
                "utf8mb4_unicode_ci".into(),
            )),
            Some(Open::Collation("utf8mb4".into(), "utf8mb4_bin".into())),
        ],
    ));
    // Branches of different types: the union column's type decides.
    for (a, b) in [
        ("dt", "dtm"),
        ("d3", "d0"),
        ("f", "dbl"),
        ("u", "d0"),
        ("y", "d0"),
    ] {
        v.push(q(
            "union types",
            format!("SELECT {a} FROM typed WHERE id % 3 = 0 UNION SELECT {b} FROM typed WHERE id % 3 > 0 ORDER BY 1 LIMIT 6"),
            Check::Keys(1),
            vec![None],
        ));
    }
    v.push(q(
        "union mixed",
        "SELECT e FROM typed UNION SELECT e2 FROM typed ORDER BY 1".into(),
        Check::Keys(1),
        vec![None],
    ));
    v.push(q(
        "union mixed",
        "SELECT s FROM s_utf8mb4_unicode_ci UNION SELECT s FROM s_utf8mb4_general_ci ORDER BY 1"
            .into(),
        Check::Keys(1),
        vec![None],
    ));
    v.push(q(
        "mixed",
        "SELECT a, b, COUNT(*) FROM m GROUP BY a, b".into(),
        Check::Total,
        vec![
            Some(Open::Collation(
                "utf8mb4".into(),
                "utf8mb4_unicode_ci".into(),
            )),
            Some(Open::Collation("utf8mb4".into(), "utf8mb4_bin".into())),
            None,
        ],
    ));
    for k in TYPED_KEYS {
        v.extend(typed_queries(k));
    }
    for k in ENUM_KEYS {
        v.extend(enum_queries(k));
    }
    v
}
