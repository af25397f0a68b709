//! Tests of rule parsing, validation messages and physical layouts.
//!
//! Owns: tests only. Must not touch: production code.

use std::ops::Bound;

use super::*;

/// The shape a config loader might use around `[[table]]` entries.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    table: Vec<TableRule>,
}

const NODES: &[&str] = &["n1", "n2", "n3"];

const EXAMPLE: &str = r#"
[[table]]
name = "orders"
schema = "shop"
key = "user_id"
key_type = "int"
algorithm = { kind = "hash_mod", hash = "xxh3" }
nodes = ["n1", "n2"]
tables_per_node = 4
physical_name = "orders_{index}"

[[table]]
name = "order_items"
schema = "shop"
bound_to = "orders"
key = "order_user_id"

[[table]]
name = "item_notes"
schema = "shop"
bound_to = "order_items"
key = "user_id"
key_type = "int"
physical_name = "notes_{local_index}"

[[table]]
name = "regions"
broadcast = true

[[table]]
name = "customers"
key = "email"
key_type = "string"
collation = "utf8mb4_0900_ai_ci"
algorithm = { kind = "jump" }
nodes = ["n1", "n2", "n3"]

[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "range", bounds = [1000000, 2000000, 3000000] }
nodes = ["n1", "n2"]
tables_per_node = 2
physical_name = "accounts_{local_index}"

[[table]]
name = "sessions"
key = "token"
key_type = "string"
algorithm = { kind = "hash_range", hash = "murmur3", boundaries = ["40", "80", "c0"] }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "events"
key = "created_at"
key_type = "datetime"
physical_name = "events_{yyyymm}"
[table.algorithm]
kind = "time_range"
unit = "month"
periods = [
  { from = "2026-01", to = "2026-06", node = "n1" },
  { from = "2026-07", to = "2026-12", node = "n2" },
]
"#;

fn parse(text: &str) -> Vec<TableRule> {
    toml::from_str::<RuleFile>(text)
        .unwrap_or_else(|error| panic!("rule file should parse:\n{error}"))
        .table
}

fn rules() -> ShardingRules {
    ShardingRules::new(parse(EXAMPLE), NODES)
        .unwrap_or_else(|errors| panic!("example should validate: {errors:?}"))
}

fn target(node: &str, table: &str, slot: usize) -> PhysicalTarget {
    PhysicalTarget {
        node: node.to_owned(),
        table: table.to_owned(),
        slot,
    }
}

fn int(value: i64) -> ShardKey {
    ShardKey::Int(value)
}

#[test]
fn example_layout_follows_the_documented_formula() {
    let rules = rules();
    let orders = rules.table(Some("shop"), "orders").expect("orders");
    let expected: Vec<PhysicalTarget> = (0..8)
        .map(|slot| {
            target(
                if slot < 4 { "n1" } else { "n2" },
                &format!("orders_{slot}"),
                slot,
            )
        })
        .collect();
    assert_eq!(orders.physical_targets(), expected);
    assert_eq!(orders.key_column(), Some("user_id"));
    assert_eq!(
        orders.rule().physical_targets(),
        Some(expected),
        "TableRule::physical_targets agrees for sharded tables"
    );
}

#[test]
fn bound_tables_follow_their_root() {
    let rules = rules();
    let items = rules
        .table(Some("shop"), "order_items")
        .expect("order_items");
    assert_eq!(items.key_column(), Some("order_user_id"));
    assert_eq!(
        items.key_semantics().map(|(key_type, _)| key_type),
        Some(KeyType::Int)
    );
    assert_eq!(
        items.target_for_key(&int(13)),
        Ok(target("n2", "order_items_5", 5))
    );
    let orders = rules.table(Some("shop"), "orders").expect("orders");
    assert_eq!(
        orders.target_for_key(&int(13)),
        Ok(target("n2", "orders_5", 5))
    );
    // A chain: item_notes → order_items → orders.
    let notes = rules.table(Some("shop"), "item_notes").expect("item_notes");
    assert_eq!(
        notes.target_for_key(&int(13)),
        Ok(target("n2", "notes_1", 5))
    );
    assert_eq!(notes.physical_targets().len(), 8);
    assert!(items.rule().physical_targets().is_none());
}

#[test]
fn broadcast_tables_cover_every_node() {
    let rules = rules();
    let regions = rules.table(None, "regions").expect("regions");
    assert!(regions.is_broadcast());
    assert_eq!(
        regions.physical_targets(),
        vec![
            target("n1", "regions", 0),
            target("n2", "regions", 0),
            target("n3", "regions", 0)
        ]
    );
    assert!(matches!(
        regions.target_for_key(&int(1)),
        Err(PlacementError::NotSharded { .. })
    ));
    assert_eq!(
        regions.slots_for_range(Bound::Unbounded, Bound::Unbounded),
        SlotSet::All
    );
}

#[test]
fn range_table_layout_and_pruning() {
    let rules = rules();
    let accounts = rules.table(None, "accounts").expect("accounts");
    assert_eq!(
        accounts.target_for_key(&int(999_999)),
        Ok(target("n1", "accounts_0", 0))
    );
    assert_eq!(
        accounts.target_for_key(&int(2_500_000)),
        Ok(target("n2", "accounts_0", 2))
    );
    assert_eq!(
        accounts.target_for_key(&int(7_000_000)),
        Ok(target("n2", "accounts_1", 3))
    );
    let (low, high) = (int(1_500_000), int(2_500_000));
    let slots = accounts.slots_for_range(Bound::Included(&low), Bound::Included(&high));
    assert_eq!(slots, SlotSet::Slots(vec![1, 2]));
    assert_eq!(
        accounts.targets_for_slots(&slots),
        vec![target("n1", "accounts_1", 1), target("n2", "accounts_0", 2)]
    );
}

#[test]
fn time_table_names_periods() {
    let rules = rules();
    let events = rules.table(None, "events").expect("events");
    let targets = events.physical_targets();
    assert_eq!(targets.len(), 12);
    assert_eq!(targets[0], target("n1", "events_202601", 0));
    assert_eq!(targets[11], target("n2", "events_202612", 11));
    let key = ShardKey::from_literal(
        "2026-03-15 10:00:00",
        LiteralKind::String,
        KeyType::DateTime,
    )
    .expect("datetime");
    assert_eq!(
        events.target_for_key(&key),
        Ok(target("n1", "events_202603", 2))
    );
    let late = ShardKey::from_literal("2027-01-01", LiteralKind::String, KeyType::DateTime)
        .expect("datetime");
    let error = events.target_for_key(&late).expect_err("outside");
    assert_eq!(
        error.to_string(),
        "no shard holds the key TIMESTAMP '2027-01-01 00:00:00': month 202701 is outside every \
         configured period"
    );
    let june = ShardKey::from_literal("2026-06-30", LiteralKind::String, KeyType::DateTime)
        .expect("datetime");
    let slots = events.slots_for_range(Bound::Included(&june), Bound::Unbounded);
    let names: Vec<String> = events
        .targets_for_slots(&slots)
        .into_iter()
        .map(|target| target.table)
        .collect();
    assert_eq!(names.first().map(String::as_str), Some("events_202606"));
    assert_eq!(names.len(), 7);
}

#[test]
fn string_keys_fold_case_and_trailing_spaces() {
    let rules = rules();
    let customers = rules.table(None, "customers").expect("customers");
    let place = |text: &str| {
        customers
            .target_for_key(&ShardKey::Str(text.to_owned()))
            .expect("placeable")
    };
    assert_eq!(place("Ann@Example.com"), place("ann@example.com  "));
    assert_eq!(place("José@example.com"), place("jose@EXAMPLE.com"));
}

/// Parses one `[[table]]` entry and returns the first error message from
/// serde, `validate` or `validate_tables` (against `EXAMPLE`'s tables).
fn first_error(entry: &str) -> String {
    let text = format!("{EXAMPLE}\n[[table]]\n{entry}");
    let tables = match toml::from_str::<RuleFile>(&text) {
        Ok(file) => file.table,
        Err(error) => return error.message().to_owned(),
    };
    match ShardingRules::new(tables, NODES) {
        Ok(_) => String::from("<no error>"),
        Err(errors) => errors.first().map(ToString::to_string).unwrap_or_default(),
    }
}

#[test]
fn bad_rules_explain_themselves() {
    let sharded = |extra: &str| {
        format!("name = \"t\"\nkey = \"id\"\nkey_type = \"int\"\nalgorithm = {{ kind = \"hash_mod\" }}\n{extra}")
    };
    let time = |periods: &str, extra: &str| {
        format!(
            "name = \"t\"\nkey = \"d\"\nkey_type = \"date\"\n{extra}\n\
             algorithm = {{ kind = \"time_range\", unit = \"month\", periods = [{periods}] }}\n"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        (
            sharded("nodes = [\"n1\"]\ntables_per_node = 0"),
            "table `t`: `tables_per_node` must be at least 1",
        ),
        (sharded("nodes = []"), "table `t`: `nodes` is empty; list at least one node"),
        (sharded("nodes = [\"n1\", \"n1\"]"), "table `t`: node `n1` is listed twice in `nodes`"),
        (sharded(""), "table `t`: `nodes` is required for sharded tables"),
        (
            "name = \"t\"\nkey = \"id\"\nkey_type = \"int\"\nnodes = [\"n1\", \"n2\"]\n\
             algorithm = { kind = \"range\", bounds = [2000, 1000, 3000] }"
                .to_owned(),
            "table `t`: range bounds must be strictly increasing, but bound #2 (1000) is not \
             greater than bound #1 (2000)",
        ),
        (
            "name = \"t\"\nkey = \"id\"\nkey_type = \"int\"\nnodes = [\"n1\", \"n2\"]\n\
             tables_per_node = 4\nalgorithm = { kind = \"range\", bounds = [1000, 2000] }"
                .to_owned(),
            "table `t`: 2 range bounds define 3 physical tables, but 2 nodes × 4 tables_per_node = 8",
        ),
        (
            "name = \"t\"\nkey = \"id\"\nkey_type = \"string\"\nnodes = [\"n1\", \"n2\"]\n\
             algorithm = { kind = \"range\", bounds = [1000] }"
                .to_owned(),
            "table `t`: algorithm `range` needs key_type `int`, not `string`",
        ),
        (
            "name = \"t\"\nkey = \"id\"\nkey_type = \"string\"\nnodes = [\"n1\", \"n2\", \"n3\"]\n\
             algorithm = { kind = \"hash_range\", boundaries = [\"80\", \"40\"] }"
                .to_owned(),
            "table `t`: hash_range boundaries must be strictly increasing and above 0, but \
             boundary #2 (4000000000000000) is not",
        ),
        (
            sharded("nodes = [\"n1\"]\ncollation = \"utf8mb4_bin\""),
            "table `t`: `collation` only applies to string keys, but key_type is `int`",
        ),
        (
            time("{ from = \"2026-06\", to = \"2026-01\", node = \"n1\" }", ""),
            "table `t`: time period from 202606 to 202601 ends before it starts",
        ),
        (
            time("{ from = \"2026-01\", to = \"2026-06\", node = \"\" }", ""),
            "table `t`: time period from 202601 to 202606 has no node; set `node`",
        ),
        (
            time(
                "{ from = \"2026-01\", to = \"2026-06\", node = \"n1\" }, \
                 { from = \"2026-06\", to = \"2026-12\", node = \"n2\" }",
                "",
            ),
            "table `t`: time periods must be listed in order without overlap, but \
             202606..202612 does not start after 202601..202606",
        ),
        (time("", ""), "table `t`: time_range needs at least one entry in `periods`"),
        (
            time("{ from = \"2026-01\", to = \"2026-06\", node = \"n1\" }", "nodes = [\"n1\"]"),
            "table `t`: `nodes` does not apply to time_range tables; each period names its node",
        ),
        (
            time("{ from = \"2026-01\", to = \"2026-06\", node = \"n1\" }", "physical_name = \"t_{yyyy}\""),
            "table `t`: physical_name `t_{yyyy}` names two physical tables `t_2026` on node `n1` \
             (slots 0 and 1); add {period}",
        ),
        (
            "name = \"t\"\nkey = \"d\"\nkey_type = \"date\"\nalgorithm = { kind = \"time_range\", \
             unit = \"day\", periods = [{ from = \"1000-01-01\", to = \"9999-12-31\", node = \"n1\" }] }"
                .to_owned(),
            "table `t`: the rule describes 3287182 physical tables; the limit is 65536",
        ),
        (
            "name = \"t\"\nkey = \"d\"\nkey_type = \"int\"\nalgorithm = { kind = \"time_range\", \
             unit = \"year\", periods = [{ from = \"2026\", to = \"2027\", node = \"n1\" }] }"
                .to_owned(),
            "table `t`: algorithm `time_range` needs key_type `date` or `datetime`, not `int`",
        ),
        (
            sharded("nodes = [\"n1\"]\ntables_per_node = 4\nphysical_name = \"t\""),
            "table `t`: physical_name `t` names two physical tables `t` on node `n1` (slots 0 \
             and 1); add {index} or {local_index}",
        ),
        (
            sharded("nodes = [\"n1\"]\nphysical_name = \"t_{yyyymm}\""),
            "table `t`: physical_name `t_{yyyymm}` uses `{yyyymm}`, which only time_range tables have",
        ),
        (
            sharded("nodes = [\"n1\"]\nphysical_name = \"db.t_{index}\""),
            "table `t`: physical_name `db.t_{index}` gives `db.t_0`, which is not a valid table \
             name: it contains `.`, `/`, `\\`, a backtick or NUL",
        ),
        (
            "name = \"t\"\nkey = \"id\"\nalgorithm = { kind = \"hash_mod\" }\nnodes = [\"n1\"]".to_owned(),
            "table `t`: `key_type` is required for sharded tables",
        ),
        ("name = \"t\"".to_owned(), "table `t`: say what kind of table this is: set `algorithm` \
             (sharded), `bound_to = \"<parent table>\"` (bound) or `broadcast = true`"),
        (
            "name = \"t\"\nbroadcast = true\nbound_to = \"orders\"".to_owned(),
            "table `t`: `broadcast` and `bound_to` cannot be used together",
        ),
        (
            "name = \"t\"\nbound_to = \"orders\"\nkey = \"id\"\nnodes = [\"n1\"]".to_owned(),
            "table `t`: `nodes` does not apply to bound tables; a bound table uses the layout of \
             the table it is bound to",
        ),
        // Cross-table problems.
        (sharded("nodes = [\"n1\", \"n9\"]"), "table `t`: node `n9` is not defined"),
        (
            "name = \"t\"\nbroadcast = true\nnodes = [\"n4\"]".to_owned(),
            "table `t`: node `n4` is not defined",
        ),
        (
            "name = \"t\"\nbound_to = \"nope\"\nkey = \"id\"".to_owned(),
            "table `t`: `bound_to = \"nope\"` names a table that has no rule in this schema",
        ),
        (
            "name = \"t\"\nbound_to = \"regions\"\nkey = \"id\"".to_owned(),
            "table `t`: `bound_to = \"regions\"` names a broadcast table; bind to a sharded table",
        ),
        (
            "name = \"t\"\nbound_to = \"t\"\nkey = \"id\"".to_owned(),
            "table `t`: `bound_to` goes round in a circle: t → t",
        ),
        (
            "name = \"t\"\nschema = \"shop\"\nbound_to = \"orders\"\nkey = \"id\"\nkey_type = \"string\"".to_owned(),
            "table `t`: key_type `string` differs from `int`, the key_type of `orders` it is bound to",
        ),
        (
            "name = \"t\"\nschema = \"shop\"\nbound_to = \"orders\"\nkey = \"id\"\nphysical_name = \"t_x\""
                .to_owned(),
            "table `t`: physical_name `t_x` names two physical tables `t_x` on node `n1` (slots 0 \
             and 1); add {index} or {local_index}",
        ),
        (
            "name = \"orders\"\nbroadcast = true".to_owned(),
            "table `orders`: the table has more than one rule",
        ),
    ];
    let mut failures = Vec::new();
    for (entry, expected) in &cases {
        let actual = first_error(entry);
        if actual.trim() != *expected {
            failures.push(format!(
                "rule:\n{entry}\nexpected: {expected}\nactual:   {actual}\n"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn binding_cycles_are_reported_with_their_chain() {
    let text = r#"
        [[table]]
        name = "a"
        bound_to = "b"
        key = "id"
        [[table]]
        name = "b"
        bound_to = "a"
        key = "id"
    "#;
    let errors = validate_tables(&parse(text), NODES);
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "table `a`: `bound_to` goes round in a circle: a → b → a",
            "table `b`: `bound_to` goes round in a circle: b → a → b",
        ]
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let text = "[[table]]\nname = \"orders\"\nkey = \"id\"\nkey_type = \"int\"\n\
                algorithm = { kind = \"hash_mod\" }\nnodes = [\"n1\"]\ncolum = \"id\"\n";
    let error = toml::from_str::<RuleFile>(text)
        .err()
        .expect("unknown field");
    let shown = error.to_string();
    assert!(shown.contains("line 7"), "{shown}");
    assert!(shown.contains("unknown field `colum`"), "{shown}");

    let nested =
        "[[table]]\nname = \"orders\"\nkey = \"id\"\nkey_type = \"int\"\nnodes = [\"n1\"]\n\
                  algorithm = { kind = \"hash_mod\", hsh = \"xxh3\" }\n";
    let shown = toml::from_str::<RuleFile>(nested)
        .err()
        .expect("unknown field")
        .to_string();
    assert!(shown.contains("line 6"), "{shown}");
    assert!(
        shown.contains("unknown field `hsh`, expected `hash`"),
        "{shown}"
    );

    let period = "[[table]]\nname = \"e\"\nkey = \"d\"\nkey_type = \"date\"\n[table.algorithm]\n\
                  kind = \"time_range\"\nunit = \"month\"\n\
                  periods = [{ from = \"2026-01\", to = \"2026-02\", nod = \"n1\" }]\n";
    let shown = toml::from_str::<RuleFile>(period)
        .err()
        .expect("unknown field")
        .to_string();
    assert!(shown.contains("line 5"), "{shown}");
    assert!(shown.contains("unknown field `nod`"), "{shown}");
}

#[test]
fn malformed_values_are_rejected_with_their_line() {
    let cases = [
        ("physical_name = \"o_{idx}\"", "unknown placeholder `{idx}`"),
        (
            "collation = \"latin1_swedish_ci\"",
            "`latin1_swedish_ci` is not supported",
        ),
    ];
    for (line, expected) in cases {
        let text = format!(
            "[[table]]\nname = \"o\"\nkey = \"id\"\nkey_type = \"string\"\n\
             algorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\"]\n{line}\n"
        );
        let shown = toml::from_str::<RuleFile>(&text)
            .err()
            .expect("malformed")
            .to_string();
        assert!(shown.contains("line 7"), "{shown}");
        assert!(shown.contains(expected), "{shown}");
    }
    let month = "[[table]]\nname = \"e\"\nkey = \"d\"\nkey_type = \"date\"\n\
                 algorithm = { kind = \"time_range\", unit = \"month\", periods = [\
                 { from = \"2026-13\", to = \"2027-01\", node = \"n1\" }] }\n";
    let shown = toml::from_str::<RuleFile>(month)
        .err()
        .expect("bad month")
        .to_string();
    assert!(shown.contains("line 5"), "{shown}");
    assert!(
        shown.contains("`2026-13` is not a valid month (write it as YYYY-MM)"),
        "{shown}"
    );
}

#[test]
fn all_errors_are_collected_at_once() {
    let text = r#"
        [[table]]
        name = "a"
        key = "id"
        key_type = "int"
        algorithm = { kind = "hash_mod" }
        nodes = ["n1"]
        tables_per_node = 0
        [[table]]
        name = "b"
        key = "id"
        key_type = "int"
        algorithm = { kind = "hash_mod" }
        nodes = ["x"]
    "#;
    let errors = ShardingRules::new(parse(text), NODES).expect_err("two bad rules");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].table, "a");
    assert_eq!(
        *errors[1].problem,
        RuleProblem::UnknownNode { node: "x".into() }
    );
}

#[test]
fn periods_can_be_written_as_arrays_of_tables() {
    let text = r#"
        [[table]]
        name = "events"
        key = "day"
        key_type = "date"
        [table.algorithm]
        kind = "time_range"
        unit = "day"
        [[table.algorithm.periods]]
        from = "2026-11-27"
        to = "2026-11-28"
        node = "n1"
        [[table.algorithm.periods]]
        from = "2026-11-29"
        to = "2026-11-29"
        node = "n2"
    "#;
    let rules = ShardingRules::new(parse(text), NODES).expect("valid");
    let names: Vec<PhysicalTarget> = rules
        .table(None, "events")
        .expect("events")
        .physical_targets();
    assert_eq!(
        names,
        vec![
            target("n1", "events_20261127", 0),
            target("n1", "events_20261128", 1),
            target("n2", "events_20261129", 2),
        ]
    );
}

#[test]
fn bound_rules_alone_cannot_place_keys() {
    let rules = parse(EXAMPLE);
    let items = rules
        .iter()
        .find(|rule| rule.name == "order_items")
        .expect("present");
    let error = items.target_for_key(&int(1)).expect_err("needs parent");
    assert_eq!(
        error.to_string(),
        "table `order_items` is bound to `orders`; place it through `ShardingRules`"
    );
}

#[test]
fn single_node_tables() {
    let file: RuleFile = toml::from_str(
        "[[table]]\nname = \"settings\"\nnode = \"n2\"\n\n[[table]]\nname = \"orders\"\nkey = \"id\"\nkey_type = \"int\"\nalgorithm = { kind = \"hash_mod\" }\nnodes = [\"n1\"]\n",
    )
    .expect("parses");
    let rules = ShardingRules::new(file.table, NODES).expect("valid");
    let settings = rules.table(None, "settings").expect("rule");
    assert_eq!(settings.single_node(), Some("n2"));
    assert!(
        settings.root().is_none() && settings.key_column().is_none() && !settings.is_broadcast()
    );
    assert_eq!(settings.physical_targets()[0].table, "settings");
    assert!(rules.table(None, "orders").unwrap().root().is_some());
    for (extra, message) in [
        ("broadcast = true", "cannot be used together"),
        ("key = \"id\"", "does not apply to single-node tables"),
        ("nodes = [\"n1\"]", "does not apply"),
    ] {
        let text = format!("[[table]]\nname = \"s\"\nnode = \"n1\"\n{extra}\n");
        let e = toml::from_str::<RuleFile>(&text)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains(message), "{extra}: {e}");
    }
    let file: RuleFile = toml::from_str("[[table]]\nname = \"s\"\nnode = \"n9\"\n\n[[table]]\nname = \"b\"\nbound_to = \"s\"\nkey = \"k\"\n").unwrap();
    let errors = ShardingRules::new(file.table, NODES).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter().any(|e| e.contains("node `n9` is not defined")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("single-node table")),
        "{text:?}"
    );
}
