//! Differential schemas, part 1: random schemas from a seed — tables with
//! columns of many types (integers signed and unsigned, DECIMAL, FLOAT,
//! DOUBLE, strings under several charsets and collations incl. `_nopad_`,
//! binary strings, ENUM/SET, temporal types with fractions, YEAR, BIT,
//! JSON), a sharding rule per table (hash on an int or string key with
//! 1–3 tables per node, time_range by month or day, broadcast, bound_to a
//! parent, one node), the rules TOML, the DDL and rows full of edge values
//! (NULLs, '', trailing spaces, case/accent variants, -0.0, extreme
//! integers, far dates, emoji, duplicated keys and non-keys).
//!
//! Owns: generating schemas, rules and rows. Must not: run anything (see
//! `tests/differential_schemas.rs`) or generate queries (see
//! `common/schema_queries.rs`).
#![allow(dead_code)]

use super::diff_data::{lit, Rng};

/// Charset and collation of a string column.
pub const COLLATIONS: &[(&str, &str)] = &[
    ("utf8mb4", "utf8mb4_unicode_ci"),
    ("utf8mb4", "utf8mb4_bin"),
    ("latin1", "latin1_swedish_ci"),
    ("utf8mb4", "utf8mb4_general_ci"),
    ("utf8mb4", "utf8mb4_general_nopad_ci"),
    ("utf8mb4", "utf8mb4_unicode_nopad_ci"),
    ("utf8mb4", "utf8mb4_nopad_bin"),
    ("latin1", "latin1_nopad_bin"),
];

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// (SQL name, unsigned)
    Int(&'static str, bool),
    Dec(u32, u32),
    Float,
    Double,
    /// (SQL type, charset, collation, max chars)
    Str(&'static str, &'static str, &'static str, usize),
    /// (SQL type, max bytes)
    Bin(&'static str, usize),
    Enum,
    Set,
    Date,
    DateTime(u32),
    Timestamp(u32),
    Time(u32),
    Year,
    Bit(u32),
    Json,
}

/// What predicates and expressions a column takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cat {
    Num,
    Str,
    Bin,
    Temporal,
    Other,
}

impl Ty {
    pub fn sql(&self) -> String {
        match self {
            Ty::Int(n, u) => format!("{n}{}", if *u { " UNSIGNED" } else { "" }),
            Ty::Dec(p, s) => format!("DECIMAL({p},{s})"),
            Ty::Float => "FLOAT".into(),
            Ty::Double => "DOUBLE".into(),
            Ty::Str(t, cs, coll, n) => {
                let len = if *t == "TEXT" {
                    String::new()
                } else {
                    format!("({n})")
                };
                format!("{t}{len} CHARACTER SET {cs} COLLATE {coll}")
            }
            Ty::Bin(t, n) => {
                if *t == "BLOB" {
                    "BLOB".into()
                } else {
                    format!("{t}({n})")
                }
            }
            Ty::Enum => "ENUM('x','b','a','c','ø')".into(),
            Ty::Set => "SET('c','a','b')".into(),
            Ty::Date => "DATE".into(),
            Ty::DateTime(n) => format!("DATETIME({n})"),
            Ty::Timestamp(n) => format!("TIMESTAMP({n})"),
            Ty::Time(n) => format!("TIME({n})"),
            Ty::Year => "YEAR".into(),
            Ty::Bit(n) => format!("BIT({n})"),
            Ty::Json => "JSON".into(),
        }
    }

    pub fn cat(&self) -> Cat {
        match self {
            Ty::Int(..) | Ty::Dec(..) | Ty::Float | Ty::Double | Ty::Year => Cat::Num,
            Ty::Str(..) => Cat::Str,
            Ty::Bin(..) => Cat::Bin,
            Ty::Date | Ty::DateTime(_) | Ty::Timestamp(_) | Ty::Time(_) => Cat::Temporal,
            Ty::Enum | Ty::Set | Ty::Bit(_) | Ty::Json => Cat::Other,
        }
    }

    /// (charset, collation) of a string column.
    pub fn collation(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Ty::Str(_, cs, coll, _) => Some((cs, coll)),
            _ => None,
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(self, Ty::Float | Ty::Double)
    }
}

/// Text values: case and accent variants, ß/ss, trailing spaces, emoji,
/// CJK, quotes, LIKE wildcards, the empty string.
const TEXTS: &[&str] = &[
    "", " ", "a", "A", "a ", "á", "Á", "ä", "Ä", "ß", "ss", "e", "é", "E", "ü", "y", "Ø", "o",
    "abc", "ABC", "abc  ", "Abc", "x'y", "b\\s", "%", "_", "a%b", "😀", "😁", "中文", "ǅ", "zz",
    "Zz", "ÿ", "åa", "aa",
];

fn latin1(s: &str) -> bool {
    s.chars().all(|c| (c as u32) < 0x100)
}

fn fixed(n: u32, v: f64) -> String {
    format!("{v:.*}", n as usize)
}

/// One random literal of type `t` (edge values most of the time).
pub fn value(rng: &mut Rng, t: &Ty) -> String {
    match t {
        Ty::Int(name, unsigned) => {
            let bits = match *name {
                "TINYINT" => 8,
                "SMALLINT" => 16,
                "MEDIUMINT" => 24,
                "INT" => 32,
                _ => 64,
            };
            let (lo, hi): (i128, i128) = if *unsigned {
                (0, (1i128 << bits) - 1)
            } else {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            };
            let edges = [lo, hi, 0, 1, lo + 1, hi - 1, 7, 42];
            if rng.chance(50) {
                rng.pick(&edges).to_string()
            } else {
                let span = (hi - lo).min(200);
                (lo.max(-100) + rng.below(span as u64) as i128)
                    .clamp(lo, hi)
                    .to_string()
            }
        }
        Ty::Dec(p, s) => {
            let int_digits = p - s;
            let max = "9".repeat(int_digits.max(1) as usize);
            let frac = "9".repeat(*s as usize);
            let maxv = if *s > 0 {
                format!("{}.{frac}", if int_digits == 0 { "0" } else { &max })
            } else {
                max.clone()
            };
            match rng.below(6) {
                0 => maxv,
                1 => format!("-{maxv}"),
                2 => "0".into(),
                3 => fixed(*s, 0.5),
                _ => {
                    let lim = 10f64.powi(int_digits.min(6) as i32);
                    fixed(*s, (rng.below(2000) as f64 / 2000.0 - 0.5) * lim)
                }
            }
        }
        Ty::Float => rng
            .pick(&[
                "-0.0", "0", "1.5", "-3.25", "3.4e38", "-1e-30", "0.1", "100", "2.5",
            ])
            .to_string(),
        Ty::Double => rng
            .pick(&[
                "-0.0",
                "0",
                // Not the maximum: MariaDB's SUM answers 0 when a sum of
                // DOUBLEs overflows, which a shard cannot tell the merge.
                "1e300",
                "-2.2250738585072014e-308",
                "0.1",
                "0.30000000000000004",
                "1e15",
                "-7.5",
                "2.5",
            ])
            .to_string(),
        Ty::Str(_, cs, _, n) => {
            let ok: Vec<&str> = TEXTS
                .iter()
                .copied()
                .filter(|s| s.chars().count() <= *n && (*cs != "latin1" || latin1(s)))
                .collect();
            lit(rng.pick(&ok))
        }
        Ty::Bin(t, n) => {
            let vals: &[&str] = &[
                "''", "'a'", "'A'", "X'00'", "X'FF00'", "'a '", "X'61'", "'ab'",
            ];
            let v = rng.pick(vals);
            if *t == "BINARY" && *n < 2 && (v.len() > 5) {
                "'a'".into()
            } else {
                v.to_string()
            }
        }
        Ty::Enum => rng.pick(&["'x'", "'b'", "'a'", "'c'", "'ø'"]).to_string(),
        Ty::Set => rng
            .pick(&["''", "'a'", "'c'", "'a,b'", "'b,c'", "'c,a,b'"])
            .to_string(),
        Ty::Date => rng
            .pick(&[
                "'1000-01-01'",
                "'9999-12-31'",
                "'1970-01-01'",
                "'2026-02-28'",
                "'2024-02-29'",
                "'2026-12-31'",
            ])
            .to_string(),
        Ty::DateTime(n) => {
            let base = rng.pick(&[
                "1000-01-01 00:00:00",
                "9999-12-31 23:59:59",
                "2026-01-01 00:00:00",
                "2026-06-30 23:59:59",
                "1999-12-31 12:00:00",
            ]);
            frac(rng, base, *n)
        }
        Ty::Timestamp(n) => {
            let base = rng.pick(&[
                "1980-01-01 00:00:00",
                "2037-12-31 23:59:59",
                "2026-03-29 02:30:00",
                "2000-02-29 12:00:00",
            ]);
            frac(rng, base, *n)
        }
        Ty::Time(n) => {
            let base = rng.pick(&[
                "-838:59:59",
                "838:59:59",
                "00:00:00",
                "12:34:56",
                "-00:00:01",
            ]);
            if base.contains("838") {
                lit(base)
            } else {
                frac(rng, base, *n)
            }
        }
        Ty::Year => rng.pick(&["1901", "2155", "2000", "0", "1970"]).to_string(),
        Ty::Bit(n) => {
            let max = if *n >= 63 { u64::MAX } else { (1u64 << n) - 1 };
            let v = *rng.pick(&[0, 1, max, max / 2]);
            format!("b'{v:b}'")
        }
        Ty::Json => rng
            .pick(&[
                "'{\"a\":1}'",
                "'[1,2]'",
                "'\"x\"'",
                "'null'",
                "'{\"b\":[true,null]}'",
                "'3.5'",
            ])
            .to_string(),
    }
}

fn frac(rng: &mut Rng, base: &str, n: u32) -> String {
    if n == 0 || rng.chance(50) {
        lit(base)
    } else {
        let digits: String = (0..n)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        lit(format!("{base}.{digits}"))
    }
}

pub fn random_ty(rng: &mut Rng) -> Ty {
    let ints = ["TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT"];
    match rng.below(16) {
        0 | 1 => Ty::Int(rng.pick::<&str>(&ints), rng.chance(30)),
        2 => {
            let p = rng.range(1, 30) as u32;
            Ty::Dec(p, rng.range(0, p.min(6) as i64) as u32)
        }
        3 => Ty::Float,
        4 => Ty::Double,
        5..=7 => {
            let t = *rng.pick(&["CHAR", "VARCHAR", "TEXT"]);
            // CHAR under a NO PAD collation: MariaDB's DISTINCT … ORDER BY
            // sorts its values padded to their byte length ('ä' before
            // 'A' though they are equal), which no merge can reproduce.
            let colls: Vec<(&str, &str)> = COLLATIONS
                .iter()
                .copied()
                .filter(|c| t != "CHAR" || !c.1.contains("nopad"))
                .collect();
            let (cs, coll) = *rng.pick(&colls);
            Ty::Str(t, cs, coll, rng.range(3, 12) as usize)
        }
        8 => Ty::Bin(rng.pick::<&str>(&["BINARY", "VARBINARY", "BLOB"]), 4),
        9 => {
            if rng.chance(50) {
                Ty::Enum
            } else {
                Ty::Set
            }
        }
        10 => Ty::Date,
        11 => Ty::DateTime(rng.range(0, 6) as u32),
        12 => Ty::Timestamp(rng.range(0, 6) as u32),
        13 => Ty::Time(rng.range(0, 6) as u32),
        14 => {
            if rng.chance(50) {
                Ty::Year
            } else {
                Ty::Bit(*rng.pick(&[1, 8, 64]))
            }
        }
        _ => Ty::Json,
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
    pub nullable: bool,
    /// Literals rows draw from (duplicates on purpose).
    pub pool: Vec<String>,
}

/// The sharding rule of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Hash {
        per_node: u32,
    },
    /// Day or month periods of a date key.
    Time {
        month: bool,
    },
    Broadcast,
    Single,
    /// Bound to table `0` by the key (same values as the parent's key).
    Bound,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    /// `id` first: unique over the table (the total tiebreaker).
    pub cols: Vec<Column>,
    pub rule: Rule,
    /// Index of the sharding key (or, for table 1.., the link to table 0).
    pub key: Option<usize>,
    /// For tables after the first: the column joined to table 0's
    /// `link_target`.
    pub link: Option<usize>,
    pub next_id: i64,
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub index: usize,
    pub tables: Vec<Table>,
    /// Table 0's column other tables join to.
    pub link_target: usize,
}

fn pool(rng: &mut Rng, ty: &Ty, n: usize) -> Vec<String> {
    let mut p: Vec<String> = (0..n).map(|_| value(rng, ty)).collect();
    p.sort();
    p.dedup();
    p
}

fn time_key(rng: &mut Rng, month: bool, ty: &Ty) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..8 {
        let (m, d) = if month {
            (rng.range(1, 12), rng.range(1, 28))
        } else {
            (3, rng.range(1, 10))
        };
        let day = format!("2026-{m:02}-{d:02}");
        out.push(match ty {
            Ty::Date => lit(day),
            _ => lit(format!(
                "{day} {}",
                rng.pick(&["00:00:00", "23:59:59", "12:30:00"])
            )),
        });
    }
    if month {
        out.push(lit("2026-12-31"));
        out.push(lit("2026-01-01"));
    }
    out.sort();
    out.dedup();
    out
}

impl Schema {
    pub fn generate(rng: &mut Rng, index: usize) -> Schema {
        let n_tables = rng.range(1, 3) as usize;
        let mut tables: Vec<Table> = Vec::new();
        for j in 0..n_tables {
            let name = format!("g{index}_t{j}");
            let rule = if j > 0 && matches!(tables[0].rule, Rule::Hash { .. }) && rng.chance(60) {
                Rule::Bound
            } else {
                match rng.below(8) {
                    0..=2 => Rule::Hash {
                        per_node: rng.range(1, 3) as u32,
                    },
                    3 | 4 => Rule::Time {
                        month: rng.chance(60),
                    },
                    5 | 6 => Rule::Broadcast,
                    _ => Rule::Single,
                }
            };
            let mut cols = vec![Column {
                name: "id".into(),
                ty: Ty::Int("BIGINT", false),
                nullable: false,
                // Probes and links to ids hit rows.
                pool: (1..=40)
                    .map(|i| (i + (j as i64) * 100_000).to_string())
                    .collect(),
            }];
            let n_cols = rng.range(3, 8) as usize;
            for c in 1..n_cols {
                let ty = random_ty(rng);
                let p = pool(rng, &ty, 8);
                cols.push(Column {
                    name: format!("c{c}"),
                    ty,
                    nullable: rng.chance(70),
                    pool: p,
                });
            }
            // The key (or link) column.
            let mut key = None;
            let mut link = None;
            let key_ty = match &rule {
                Rule::Hash { .. } => Some(if rng.chance(55) {
                    Ty::Int(
                        rng.pick::<&str>(&["INT", "BIGINT", "SMALLINT"]),
                        rng.chance(30),
                    )
                } else {
                    let (cs, coll) = *rng.pick(COLLATIONS);
                    Ty::Str("VARCHAR", cs, coll, 12)
                }),
                Rule::Time { .. } => Some(if rng.chance(50) {
                    Ty::Date
                } else {
                    Ty::DateTime(rng.range(0, 3) as u32)
                }),
                Rule::Bound => Some(tables[0].cols[tables[0].key.unwrap_or(0)].ty.clone()),
                _ => None,
            };
            if let Some(ty) = key_ty {
                let p = match (&rule, &ty) {
                    (Rule::Time { month }, _) => time_key(rng, *month, &ty),
                    (Rule::Bound, _) => tables[0].cols[tables[0].key.unwrap_or(0)].pool.clone(),
                    _ => pool(rng, &ty, 10),
                };
                cols.push(Column {
                    name: "k".into(),
                    ty,
                    nullable: false,
                    pool: p,
                });
                key = Some(cols.len() - 1);
                if rule == Rule::Bound {
                    link = key;
                }
            }
            if j > 0 && link.is_none() {
                let target = tables[0].key.unwrap_or(0);
                let t = &tables[0].cols[target];
                cols.push(Column {
                    name: "l".into(),
                    ty: t.ty.clone(),
                    nullable: true,
                    pool: t.pool.clone(),
                });
                link = Some(cols.len() - 1);
            }
            tables.push(Table {
                name,
                cols,
                rule,
                key,
                link,
                next_id: 1 + (j as i64) * 100_000,
            });
        }
        let link_target = tables[0].key.unwrap_or(0);
        Schema {
            index,
            tables,
            link_target,
        }
    }

    /// `[[table]]` rules for the proxy configuration.
    pub fn rules(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let key = t.key.map(|k| &t.cols[k]);
            out.push_str(&format!("[[table]]\nname = \"{}\"\n", t.name));
            match (&t.rule, key) {
                (Rule::Hash { per_node }, Some(k)) => {
                    let kt = if k.ty.cat() == Cat::Str {
                        "string"
                    } else {
                        "int"
                    };
                    out.push_str(&format!(
                        "key = \"k\"\nkey_type = \"{kt}\"\nalgorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\", \"n2\"]\ntables_per_node = {per_node}\n"
                    ));
                }
                (Rule::Time { month }, Some(k)) => {
                    let kt = if k.ty == Ty::Date { "date" } else { "datetime" };
                    let (unit, start, horizon) = if *month {
                        ("month", "2026-01", 12)
                    } else {
                        ("day", "2026-03-01", 10)
                    };
                    out.push_str(&format!(
                        "key = \"k\"\nkey_type = \"{kt}\"\n[table.algorithm]\nkind = \"time_range\"\nunit = \"{unit}\"\nstart = \"{start}\"\nnodes = [\"n1\", \"n2\"]\nhorizon = {horizon}\n"
                    ));
                }
                (Rule::Bound, _) => {
                    out.push_str("bound_to = \"");
                    out.push_str(&self.tables[0].name);
                    out.push_str("\"\nkey = \"k\"\n");
                }
                (Rule::Broadcast, _) => out.push_str("broadcast = true\n"),
                _ => out.push_str("node = \"n2\"\n"),
            }
            out.push('\n');
        }
        out
    }

    pub fn ddl(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| {
                let cols: Vec<String> = t
                    .cols
                    .iter()
                    .map(|c| {
                        let null = match (&c.ty, c.nullable) {
                            (Ty::Timestamp(_), _) if c.nullable => "NULL DEFAULT NULL",
                            (_, true) => "NULL",
                            (_, false) => "NOT NULL",
                        };
                        format!("{} {} {null}", c.name, c.ty.sql())
                    })
                    .collect();
                format!(
                    "CREATE TABLE {} ({}, PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
                    t.name,
                    cols.join(", ")
                )
            })
            .collect()
    }

    pub fn describe(&self) -> String {
        self.tables
            .iter()
            .map(|t| {
                let cols: Vec<String> = t
                    .cols
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.ty.sql()))
                    .collect();
                format!("{} {:?}: {}", t.name, t.rule, cols.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n  ")
    }
}

impl Column {
    /// A value for a new row: NULL sometimes, mostly from the pool.
    pub fn row_value(&self, rng: &mut Rng) -> String {
        if self.nullable && rng.chance(15) {
            return "NULL".into();
        }
        if !self.pool.is_empty() && rng.chance(80) {
            return rng.pick(&self.pool).clone();
        }
        if self.name == "k" || self.name == "l" {
            // Keys stay in the pool (time ranges, parents' keys).
            return rng.pick(&self.pool).clone();
        }
        value(rng, &self.ty)
    }

    /// A literal to compare with: a pool value or a fresh one.
    pub fn probe(&self, rng: &mut Rng) -> String {
        // Keys stay in the pool (time ranges, parents' keys).
        if !self.pool.is_empty() && (self.name == "k" || rng.chance(75)) {
            rng.pick(&self.pool).clone()
        } else {
            value(rng, &self.ty)
        }
    }
}

impl Table {
    /// `INSERT` statements for `n` new rows, `batch` rows each.
    pub fn inserts(&mut self, rng: &mut Rng, n: usize, batch: usize) -> Vec<String> {
        let names: Vec<&str> = self.cols.iter().map(|c| c.name.as_str()).collect();
        let head = format!("INSERT INTO {} ({}) VALUES ", self.name, names.join(", "));
        let mut out = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..n {
            let id = self.next_id;
            self.next_id += 1;
            let mut vals = vec![id.to_string()];
            for c in &self.cols[1..] {
                vals.push(c.row_value(rng));
            }
            rows.push(format!("({})", vals.join(", ")));
            if rows.len() == batch {
                out.push(format!("{head}{}", rows.join(", ")));
                rows.clear();
            }
        }
        if !rows.is_empty() {
            out.push(format!("{head}{}", rows.join(", ")));
        }
        out
    }
}
