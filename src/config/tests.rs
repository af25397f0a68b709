//! Tests of the configuration parser and its checks.
//!
//! Owns: nothing but tests. Must not: be compiled outside `cargo test`.

use super::*;

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:6033"

[[user]]
name = "app"
password = "app"

[[node]]
name = "n1"
primary = "127.0.0.1:3310"
replicas = [{ addr = "127.0.0.1:3311", weight = 2 }, { addr = "127.0.0.1:3312" }]

[[node]]
name = "n2"
primary = "127.0.0.1:3313"

[[schema]]
name = "billing"
node = "n2"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("shardcat.toml"))
}

#[test]
fn good_config() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.nodes.len(), 2);
    assert_eq!(c.nodes[0].replicas[0].weight, 2);
    assert_eq!(c.nodes[0].replicas[1].weight, 1);
    assert_eq!(c.node_for_schema(Some("BILLING")), 1);
    assert_eq!(c.node_for_schema(Some("other")), 0);
    assert_eq!(c.routing.consistency, Consistency::Session);
}

#[test]
fn unknown_key_names_file_and_line() {
    let text = GOOD.replace(
        "primary = \"127.0.0.1:3313\"",
        "primray = \"127.0.0.1:3313\"",
    );
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.starts_with("shardcat.toml:16:"), "{e}");
    assert!(e.contains("unknown field `primray`"), "{e}");
}

#[test]
fn undefined_node_names_line() {
    let text = GOOD.replace("node = \"n2\"", "node = \"n9\"");
    let e = parse(&text).unwrap_err().to_string();
    assert!(e.starts_with("shardcat.toml:20:"), "{e}");
    assert!(e.contains("not defined"), "{e}");
}

const SHARDED: &str = r#"
[[table]]
name = "users"
key = "id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]

[[table]]
name = "orders"
bound_to = "users"
key = "user_id"

[[table]]
name = "settings"
node = "n2"

[[sequence]]
table = "users"
"#;

#[test]
fn sharding_rules_are_loaded_and_compiled() {
    let c = parse(&format!("{GOOD}{SHARDED}")).unwrap();
    assert_eq!(c.tables.len(), 3);
    assert_eq!(c.sequences.len(), 1);
    assert!(!c.sharding.is_empty());
    assert_eq!(
        c.sharding.logical_name_of("orders_1").as_deref(),
        Some("orders")
    );
    assert!(!c.routing.refuse_unkeyed_writes);
    // A configuration without rules plans nothing.
    assert!(parse(GOOD).unwrap().sharding.is_empty());
}

#[test]
fn sharding_rule_errors_name_the_entry_line() {
    let base = format!("{GOOD}{SHARDED}");
    let line_of_entry = |text: &str, name: &str| {
        table_entry_lines(text)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l)
            .unwrap()
    };
    // Cross-table problem (unknown parent), found after parsing.
    let text = base.replace("bound_to = \"users\"", "bound_to = \"customers\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, Some(line_of_entry(&text, "orders")), "{e}");
    assert!(e.message.contains("customers"), "{e}");
    // Undefined node.
    let text = base.replace(
        "node = \"n2\"\n\n[[sequence]]",
        "node = \"n9\"\n\n[[sequence]]",
    );
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, Some(line_of_entry(&text, "settings")), "{e}");
    assert!(e.message.contains("n9"), "{e}");
    // Duplicate rule: the second entry.
    let text = format!("{base}\n[[table]]\nname = \"users\"\nbroadcast = true\n");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("more than one rule"), "{e}");
    assert_eq!(e.line, Some(text.lines().count() - 2), "{e}");
    // Problems inside one entry are reported by the TOML parser at the entry.
    let text = base.replace("key_type = \"int\"", "key_type = \"int\"\nbroadcast = true");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("cannot be used together"), "{e}");
    assert!(e.line.is_some());
}

#[test]
fn sequence_and_id_generator_errors() {
    let base = format!("{GOOD}{SHARDED}");
    let e = parse(&base.replace(
        "[[sequence]]\ntable = \"users\"",
        "[[sequence]]\ntable = \"nope\"",
    ))
    .unwrap_err();
    assert!(e.message.contains("no [[table]] rule"), "{e}");
    assert!(e.line.is_some());
    let e = parse(&format!("{base}kind = \"segment\"\n")).unwrap_err();
    assert!(e.message.contains("not implemented"), "{e}");
    let e = parse(&format!("{base}\n[[sequence]]\ntable = \"settings\"\n")).unwrap_err();
    assert!(e.message.contains("name the `column`"), "{e}");
    let e = parse(&format!("{base}\n[id_generator]\nworker_id = 4096\n")).unwrap_err();
    assert!(e.message.contains("worker_id"), "{e}");
    assert_eq!(e.line, Some(base.lines().count() + 3));
    let ok = parse(&format!("{base}\n[id_generator]\nworker_id = 7\n")).unwrap();
    assert_eq!(ok.id_generator.worker_id, 7);
}

#[test]
fn bad_values() {
    let e = parse(&GOOD.replace("127.0.0.1:3311", "localhost")).unwrap_err();
    assert_eq!(e.line, Some(12));
    let e = parse(&GOOD.replace("weight = 2", "weight = -2")).unwrap_err();
    assert!(e.to_string().contains("shardcat.toml:12"), "{e}");
    let e = parse(&GOOD.replace("[server]", "[server]\nauth_plugin = \"x\"")).unwrap_err();
    assert!(e.to_string().contains("auth_plugin"), "{e}");
}

#[test]
fn tls_keys_go_together_and_errors_name_files_only() {
    let with = |server: &str| {
        let text = GOOD.replace(
            "listen = \"127.0.0.1:6033\"",
            &format!("listen = \"127.0.0.1:6033\"\n{server}"),
        );
        parse(&text).map(|_| ()).unwrap_err().message
    };
    assert!(with("tls_cert = \"a.pem\"").contains("go together"));
    assert!(with("require_secure_transport = true").contains("needs tls_cert"));
    assert!(with("tls_client_ca = \"ca.pem\"").contains("needs tls_cert"));
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n").unwrap();
    let cert = dir.path().join("missing.pem");
    let m = with(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    ));
    assert!(m.contains("missing.pem"), "{m}");
    assert!(!m.contains("c2VjcmV0"), "{m}");
}

#[test]
fn transactions_mode_per_user() {
    let users = "\n[[user]]\nname = \"be\"\npassword = \"x\"\ntransactions = \"best_effort\"\n\
                 \n[[user]]\nname = \"plain\"\npassword = \"y\"\n";
    let c = parse(&format!("{GOOD}{users}")).unwrap();
    assert_eq!(c.transactions_for("be"), TransactionMode::BestEffort);
    assert_eq!(c.transactions_for("plain"), TransactionMode::Xa);
    assert_eq!(c.transactions_for("nobody"), TransactionMode::Xa);
    assert!(c.uses_xa());
    let routing = "\n[routing]\ntransactions = \"best_effort\"\n";
    let c = parse(&format!("{GOOD}{users}{routing}")).unwrap();
    assert_eq!(c.transactions_for("plain"), TransactionMode::BestEffort);
    assert!(!c.uses_xa());
    let xa_user = users.replace("\"best_effort\"", "\"xa\"");
    let c = parse(&format!("{GOOD}{xa_user}{routing}")).unwrap();
    assert_eq!(c.transactions_for("be"), TransactionMode::Xa);
    assert_eq!(c.transactions_for("plain"), TransactionMode::BestEffort);
    assert!(c.uses_xa());
}

#[test]
fn require_x509_needs_a_client_ca() {
    let text =
        format!("{GOOD}\n[[user]]\nname = \"certuser\"\npassword = \"x\"\nrequire_x509 = true\n");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("tls_client_ca"), "{e}");
}

/// A table's resplits apply in turn: the last switched one sets
/// `tables_per_node` and the staging names; a reversed one is skipped.
#[test]
fn successive_resplits_apply_in_turn() {
    use placement_file::{PlacementFile, ResplitRecord, ResplitTable};
    let record = |from: usize, to: usize, phase: &str, staged: &str| ResplitRecord {
        rule_schema: None,
        schema: "shop".into(),
        table: "users".into(),
        from_tables_per_node: from,
        tables_per_node: to,
        phase: phase.into(),
        sources: Vec::new(),
        reverse: Vec::new(),
        moved_before: Vec::new(),
        tables: vec![ResplitTable {
            node: "n1".into(),
            logical: "users".into(),
            slot: 0,
            old: "users_0".into(),
            rendered: staged.into(),
            name: format!("{staged}_rs{to}"),
        }],
        rows_copied: 0,
        pause_ms: 0,
    };
    let layout = |file: &PlacementFile| {
        let mut tables = parse(&format!("{GOOD}{SHARDED}")).unwrap().tables;
        file.apply(&mut tables)?;
        match &tables[0].kind {
            crate::placement::TableKind::Sharded(s) => Ok::<_, String>((
                s.tables_per_node,
                s.renamed.values().cloned().collect::<Vec<_>>(),
            )),
            _ => Err("not sharded".into()),
        }
    };
    let mut file = PlacementFile::default();
    file.resplits.push(record(1, 2, "cleaned", "users_0"));
    file.resplits.push(record(2, 4, "switched", "users_1"));
    assert_eq!(layout(&file), Ok((4, vec!["users_1_rs4".to_string()])));
    file.resplits[1].phase = "reversed".into();
    assert_eq!(layout(&file), Ok((2, vec!["users_0_rs2".to_string()])));
    file.resplits[1].phase = "copying".into();
    assert_eq!(layout(&file), Ok((2, vec!["users_0_rs2".to_string()])));
    file.resplits[0].phase = "reversed".into();
    file.resplits[1].phase = "switched".into();
    assert!(layout(&file).is_err(), "2 → 4 without 1 → 2");
}
