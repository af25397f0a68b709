//! Differential test, part 1: the e-commerce schema, its sharding rules and
//! a deterministic data generator.
//!
//! The same statements load the reference server (directly, logical tables)
//! and the shards (through shardcat, which splits the rows). The data is
//! chosen to stress the merge: NULLs in ordered and aggregated columns,
//! many ties, mixed-case / accented / non-Latin strings whose order and
//! equality under `utf8mb4_general_ci` differ from naive folding, extreme
//! DECIMAL values and timestamps on month (and node) boundaries.
//!
//! Include with `#[path = "common/diff_data.rs"] mod diff_data;`.
#![allow(dead_code)]

use std::fmt::Write;

/// Database created on the reference server and (through shardcat) on
/// every node.
pub const DB: &str = "diffshop";

/// `[[table]]` rules appended to the proxy configuration: the layout of
/// `rules/shop.toml`.
pub const RULES: &str = r#"
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "orders"
bound_to = "users"
key = "user_id"

[[table]]
name = "order_items"
bound_to = "orders"
key = "user_id"

[[table]]
name = "events"
key = "created_at"
key_type = "datetime"

[table.algorithm]
kind = "time_range"
unit = "month"
periods = [
  { from = "2026-01", to = "2026-06", node = "n1" },
  { from = "2026-07", to = "2026-12", node = "n2" },
]

[[table]]
name = "regions"
broadcast = true

[[table]]
name = "settings"
node = "n2"
"#;

/// CREATE TABLE statements, run as they are on the reference and through
/// the proxy (which creates every physical table).
pub const DDL: &[&str] = &[
    "CREATE TABLE users (
        id BIGINT NOT NULL PRIMARY KEY,
        name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        city VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        score DECIMAL(12,2) NULL,
        created DATE NOT NULL,
        region_id INT NULL,
        KEY (city)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE orders (
        id BIGINT NOT NULL PRIMARY KEY,
        user_id BIGINT NOT NULL,
        amount DECIMAL(14,4) NOT NULL,
        status VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        created DATETIME NOT NULL,
        note VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        KEY (user_id)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE order_items (
        id BIGINT NOT NULL PRIMARY KEY,
        user_id BIGINT NOT NULL,
        order_id BIGINT NOT NULL,
        sku VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
        qty INT NOT NULL,
        price DECIMAL(10,2) NULL,
        KEY (user_id, order_id)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE events (
        id BIGINT NOT NULL PRIMARY KEY,
        created_at DATETIME NOT NULL,
        user_id BIGINT NULL,
        kind VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        points INT NULL,
        KEY (created_at)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE regions (
        id INT NOT NULL PRIMARY KEY,
        name VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
        code CHAR(2) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
    "CREATE TABLE settings (
        k VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL PRIMARY KEY,
        v VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL,
        n INT NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
];

/// A small deterministic PRNG (SplitMix64): the same seed gives the same
/// data and queries on every machine and every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `k` distinct items (fewer if there are not enough), in random order.
    pub fn sample<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        let mut out = Vec::new();
        for _ in 0..k.min(items.len()) {
            let i = self.below(idx.len() as u64) as usize;
            out.push(items[idx.swap_remove(i)].clone());
        }
        out
    }
}

/// Names: case variants, accents, letters `utf8mb4_general_ci` does *not*
/// fold (Æ, Ø, Đ, Ł, ǅ, fullwidth, ligatures), `ß` (= `s`, not `ss`),
/// supplementary characters (all equal), trailing spaces (PAD SPACE),
/// punctuation, CJK, the empty string.
pub const NAMES: &[&str] = &[
    "alice",
    "Alice",
    "ALICE",
    "Álice",
    "alice ",
    "Alicia",
    "bob",
    "Bob",
    "BOB",
    "Bøb",
    "Zoë",
    "zoe",
    "ZOE",
    "Zoe",
    "Ross",
    "Roß",
    "Ros",
    "Rosa",
    "ross",
    "Rossa",
    "ßen",
    "Sen",
    "Æsir",
    "aesir",
    "Aesir",
    "Af",
    "Øystein",
    "oystein",
    "Oz",
    "Ozzy",
    "Łukasz",
    "lukasz",
    "Lz",
    "Đorđe",
    "dorde",
    "Dz",
    "ǅemal",
    "Dzemal",
    "DŽemal",
    "Dzf",
    "Émile",
    "emile",
    "EMILE",
    "Émilie",
    "Ａbc",
    "abc",
    "ABC",
    "abd",
    "ﬁne",
    "fine",
    "FINE",
    "fj",
    "😀 smile",
    "😃 smile",
    "🙂",
    "_under",
    "-dash",
    " lead",
    "Zed",
    "zed",
    "李雷",
    "韩梅梅",
    "ıdil",
    "Idil",
    "İstanbul",
    "istanbul",
    "straße",
    "strasse",
    "STRASSE",
    "Ångström",
    "angstrom",
    "ñandú",
    "Nandu",
    "Çelik",
    "celik",
    "œuvre",
    "oeuvre",
    "µ",
    "μ",
    "O'Brien",
    "o'brien",
    "",
    "a",
    "A",
    "á",
    "b",
    "zz",
    "ZZ",
    "Ω",
    "ω",
    "2nd",
    "10th",
    "9th",
];

pub const CITIES: &[&str] = &[
    "Paris",
    "paris",
    "PARIS",
    "Zürich",
    "zurich",
    "Zurich",
    "München",
    "Munchen",
    "Köln",
    "Koln",
    "São Paulo",
    "Sao Paulo",
    "Łódź",
    "Lodz",
    "Malmö",
    "Malmo",
    "Aarhus",
    "Århus",
    "Oslo",
    "OSLO",
    "Tromsø",
    "Tromso",
    "Kraków",
    "krakow",
    "東京",
    "Berlin",
];

pub const STATUSES: &[&str] = &[
    "paid",
    "PAID",
    "Paid",
    "shipped",
    "Shipped",
    "cancelled",
    "pending",
    "pendíng",
    "returned",
];

pub const SKUS: &[&str] = &[
    "SKU-1", "sku-1", "SKU-2", "sku-2 ", "SKU-10", "Ä-1", "a-1", "ß-9", "s-9", "Ø-3", "o-3", "X",
    "x", "ＸＬ", "XL",
];

pub const KINDS: &[&str] = &[
    "click", "Click", "CLICK", "view", "View", "buy", "refund", "ṽiew",
];

pub const NOTES: &[&str] = &[
    "gift",
    "Gift",
    "GIFT 🎁",
    "fragile",
    "Fragile ",
    "ça va",
    "ca va",
    "ÇA VA",
    "urgent!",
    "leave at door",
    "Leave At Door",
    "日本語",
    "",
    "null",
    "NULL",
];

/// Extreme and tied scores (DECIMAL(12,2)).
pub const SCORE_EDGES: &[&str] = &[
    "9999999999.99",
    "-9999999999.99",
    "0.01",
    "-0.01",
    "0.00",
    "0.50",
    "-0.50",
    "1234567.89",
];
pub const SCORE_TIES: &[&str] = &["50.00", "50.00", "99.99", "100.00", "-1.00"];

/// Extreme and tied amounts (DECIMAL(14,4)).
pub const AMOUNT_EDGES: &[&str] = &[
    "9999999999.9999",
    "-9999999999.9999",
    "0.0001",
    "-0.0001",
    "0.0000",
    "0.5000",
    "-0.5000",
    "1234567890.1234",
    "0.0005",
    "0.0015",
];
pub const AMOUNT_TIES: &[&str] = &["10.0000", "10.0000", "99.9900", "19.9500", "-5.0000"];

pub const DATE_EDGES: &[&str] = &[
    "2026-01-01",
    "2026-01-31",
    "2026-02-01",
    "2026-02-28",
    "2026-03-01",
    "2024-02-29",
    "2025-12-31",
    "2026-06-30",
    "2026-07-01",
    "2026-12-31",
    "1970-01-01",
    "1000-01-01",
    "9999-12-31",
];

pub const DATETIME_EDGES: &[&str] = &[
    "2026-01-31 23:59:59",
    "2026-02-01 00:00:00",
    "2026-02-28 23:59:59",
    "2026-03-01 00:00:00",
    "2024-02-29 12:00:00",
    "2025-12-31 23:59:59",
    "2026-06-30 23:59:59",
    "2026-07-01 00:00:00",
    "2026-12-31 23:59:59",
    "2000-01-01 00:00:00",
];

/// Region ids 1..=8 exist; users also point at 9 (missing) and NULL.
pub const REGIONS: &[(i64, &str, Option<&str>)] = &[
    (1, "Europe", Some("EU")),
    (2, "europe-west", Some("ew")),
    (3, "Asia", Some("AS")),
    (4, "ásia pacific", None),
    (5, "Africa", Some("AF")),
    (6, "North America", Some("NA")),
    (7, "Øresund", Some("OE")),
    (8, "Oceania", Some("OC")),
];

/// User ids beyond `1..=n`: negatives, zero, the BIGINT extremes.
pub const SPECIAL_USER_IDS: &[i64] = &[
    -1,
    -2,
    -7,
    -8,
    0,
    9_223_372_036_854_775_807,
    9_223_372_036_854_775_806,
    -9_223_372_036_854_775_807,
    4_611_686_018_427_387_904,
    1_000_003,
    1_000_004,
];

/// Days in a month of 2026 (and of other years for the DATE columns).
pub fn days_in(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A SQL string literal (backslash and quote escaped).
pub fn lit(s: impl AsRef<str>) -> String {
    let s = s.as_ref();
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub fn opt_lit(s: Option<&str>) -> String {
    s.map(lit).unwrap_or_else(|| "NULL".to_owned())
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: Option<String>,
    pub city: Option<String>,
    pub score: Option<String>,
    pub created: String,
    pub region_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub user_id: i64,
    pub amount: String,
    pub status: Option<String>,
    pub created: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Item {
    pub id: i64,
    pub user_id: i64,
    pub order_id: i64,
    pub sku: String,
    pub qty: i64,
    pub price: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
    pub user_id: Option<i64>,
    pub kind: Option<String>,
    pub points: Option<i64>,
}

/// The whole data set.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub users: Vec<User>,
    pub orders: Vec<Order>,
    pub items: Vec<Item>,
    pub events: Vec<Event>,
    pub settings: Vec<(String, Option<String>, Option<i64>)>,
}

fn cents(rng: &mut Rng, max_units: i64, scale: u32) -> String {
    let units = rng.range(-max_units, max_units);
    let frac = rng.below(10u64.pow(scale));
    let neg = units < 0 || (units == 0 && rng.chance(30));
    let s = format!(
        "{}{}.{:0width$}",
        if neg { "-" } else { "" },
        units.abs(),
        frac,
        width = scale as usize
    );
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_owned()
    } else {
        s
    }
}

fn random_date(rng: &mut Rng) -> String {
    if rng.chance(35) {
        return rng.pick(DATE_EDGES).to_string();
    }
    let y = rng.range(2024, 2027);
    let m = rng.range(1, 12);
    let d = rng.range(1, days_in(y, m));
    format!("{y:04}-{m:02}-{d:02}")
}

fn random_datetime(rng: &mut Rng) -> String {
    if rng.chance(30) {
        return rng.pick(DATETIME_EDGES).to_string();
    }
    let y = rng.range(2025, 2026);
    let m = rng.range(1, 12);
    let d = rng.range(1, days_in(y, m));
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

/// A timestamp of 2026 (events are split by month of 2026): 45% on a month
/// edge (first or last second, noon of the last day), else anywhere.
pub fn event_time(rng: &mut Rng) -> String {
    let m = rng.range(1, 12);
    let last = days_in(2026, m);
    match rng.below(20) {
        0..=2 => format!("2026-{m:02}-01 00:00:00"),
        3..=5 => format!("2026-{m:02}-{last:02} 23:59:59"),
        6 => format!("2026-{m:02}-{last:02} 12:00:00"),
        7 => format!("2026-{m:02}-01 00:00:01"),
        8 => "2026-06-30 23:59:59".to_owned(),
        _ => format!(
            "2026-{m:02}-{:02} {:02}:{:02}:{:02}",
            rng.range(1, last),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        ),
    }
}

impl Data {
    /// Generates the data set for `seed`; `scale` multiplies the row counts
    /// (1 = ~200 users, ~700 orders, ~1400 items, ~900 events).
    pub fn generate(seed: u64, scale: usize) -> Data {
        let mut rng = Rng::new(seed);
        let mut d = Data::default();
        let n_users = 190 * scale as i64;
        let mut ids: Vec<i64> = (1..=n_users).collect();
        ids.extend_from_slice(SPECIAL_USER_IDS);
        for id in ids {
            let city = if rng.chance(10) {
                None
            } else {
                Some(rng.pick(CITIES).to_string())
            };
            let score = if rng.chance(15)
                // A city whose rows in the first slot carry no score: the
                // partial SUM of the first shard of that group is NULL.
                || (id.rem_euclid(4) == 0 && matches!(city.as_deref(), Some("Malmö" | "Malmo")))
            {
                None
            } else if rng.chance(10) {
                Some(rng.pick(SCORE_EDGES).to_string())
            } else if rng.chance(25) {
                Some(rng.pick(SCORE_TIES).to_string())
            } else {
                Some(cents(&mut rng, 99_999, 2))
            };
            d.users.push(User {
                id,
                name: if rng.chance(5) {
                    None
                } else {
                    Some(rng.pick(NAMES).to_string())
                },
                city,
                score,
                created: random_date(&mut rng),
                region_id: if rng.chance(10) {
                    None
                } else {
                    Some(rng.range(1, 9))
                },
            });
        }
        let mut order_id = 1000;
        let mut item_id = 50_000;
        let user_ids: Vec<i64> = d.users.iter().map(|u| u.id).collect();
        for &uid in &user_ids {
            let n = match rng.below(10) {
                0 | 1 => 0,
                2..=6 => rng.range(1, 3),
                _ => rng.range(4, 9),
            };
            for _ in 0..n {
                order_id += rng.range(1, 3);
                let amount = if rng.chance(12) {
                    rng.pick(AMOUNT_EDGES).to_string()
                } else if rng.chance(25) {
                    rng.pick(AMOUNT_TIES).to_string()
                } else {
                    cents(&mut rng, 50_000, 4)
                };
                d.orders.push(Order {
                    id: order_id,
                    user_id: uid,
                    amount,
                    status: if rng.chance(4) {
                        None
                    } else {
                        Some(rng.pick(STATUSES).to_string())
                    },
                    created: random_datetime(&mut rng),
                    note: if rng.chance(40) {
                        None
                    } else {
                        Some(rng.pick(NOTES).to_string())
                    },
                });
                for _ in 0..rng.range(0, 4) {
                    item_id += 1;
                    d.items.push(Item {
                        id: item_id,
                        user_id: uid,
                        order_id,
                        sku: rng.pick(SKUS).to_string(),
                        qty: rng.range(0, 6),
                        price: if rng.chance(10) {
                            None
                        } else if rng.chance(20) {
                            Some(
                                rng.pick(&["0.00", "99999999.99", "-99999999.99", "9.99"])
                                    .to_string(),
                            )
                        } else {
                            Some(cents(&mut rng, 999, 2))
                        },
                    });
                }
            }
        }
        let n_events = 900 * scale as i64;
        for i in 0..n_events {
            d.events.push(Event {
                id: 7_000_000 + i * 3 + rng.range(0, 2),
                created_at: event_time(&mut rng),
                user_id: if rng.chance(10) {
                    None
                } else {
                    Some(*rng.pick(&user_ids))
                },
                kind: if rng.chance(6) {
                    None
                } else {
                    Some(rng.pick(KINDS).to_string())
                },
                points: if rng.chance(20) {
                    None
                } else {
                    Some(rng.range(-5, 100))
                },
            });
        }
        for i in 0..20 {
            d.settings.push((
                format!(
                    "{}{}",
                    rng.pick(&["theme", "Theme", "lang", "LANG", "ß", "æ"]),
                    i
                ),
                if rng.chance(15) {
                    None
                } else {
                    Some(rng.pick(NAMES).to_string())
                },
                if rng.chance(20) {
                    None
                } else {
                    Some(rng.range(-3, 30))
                },
            ));
        }
        d
    }

    /// INSERT statements (batches of `batch` rows), each naming its
    /// columns; the same text is run on the reference and through shardcat.
    pub fn inserts(&self, batch: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |head: &str, rows: Vec<String>| {
            for chunk in rows.chunks(batch.max(1)) {
                out.push(format!("{head} VALUES {}", chunk.join(", ")));
            }
        };
        push(
            "INSERT INTO regions (id, name, code)",
            REGIONS
                .iter()
                .map(|(id, name, code)| format!("({id}, {}, {})", lit(name), opt_lit(*code)))
                .collect(),
        );
        push(
            "INSERT INTO settings (k, v, n)",
            self.settings
                .iter()
                .map(|(k, v, n)| {
                    format!(
                        "({}, {}, {})",
                        lit(k),
                        opt_lit(v.as_deref()),
                        n.map_or("NULL".to_owned(), |n| n.to_string())
                    )
                })
                .collect(),
        );
        push(
            "INSERT INTO users (id, name, city, score, created, region_id)",
            self.users
                .iter()
                .map(|u| {
                    format!(
                        "({}, {}, {}, {}, '{}', {})",
                        u.id,
                        opt_lit(u.name.as_deref()),
                        opt_lit(u.city.as_deref()),
                        u.score.as_deref().unwrap_or("NULL"),
                        u.created,
                        u.region_id.map_or("NULL".to_owned(), |r| r.to_string())
                    )
                })
                .collect(),
        );
        push(
            "INSERT INTO orders (id, user_id, amount, status, created, note)",
            self.orders
                .iter()
                .map(|o| {
                    format!(
                        "({}, {}, {}, {}, '{}', {})",
                        o.id,
                        o.user_id,
                        o.amount,
                        opt_lit(o.status.as_deref()),
                        o.created,
                        opt_lit(o.note.as_deref())
                    )
                })
                .collect(),
        );
        push(
            "INSERT INTO order_items (id, user_id, order_id, sku, qty, price)",
            self.items
                .iter()
                .map(|i| {
                    format!(
                        "({}, {}, {}, {}, {}, {})",
                        i.id,
                        i.user_id,
                        i.order_id,
                        lit(&i.sku),
                        i.qty,
                        i.price.as_deref().unwrap_or("NULL")
                    )
                })
                .collect(),
        );
        push(
            "INSERT INTO events (id, created_at, user_id, kind, points)",
            self.events
                .iter()
                .map(|e| {
                    format!(
                        "({}, '{}', {}, {}, {})",
                        e.id,
                        e.created_at,
                        e.user_id.map_or("NULL".to_owned(), |u| u.to_string()),
                        opt_lit(e.kind.as_deref()),
                        e.points.map_or("NULL".to_owned(), |p| p.to_string())
                    )
                })
                .collect(),
        );
        out
    }

    /// One line of row counts, for the report.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "users={} orders={} order_items={} events={} regions={} settings={}",
            self.users.len(),
            self.orders.len(),
            self.items.len(),
            self.events.len(),
            REGIONS.len(),
            self.settings.len()
        );
        s
    }
}
