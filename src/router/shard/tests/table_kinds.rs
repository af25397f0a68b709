//! Broadcast and single-node tables, texts left to schema routing
//! (unparseable, multi-statement), and EXPLAIN routed like its statement.
//!
//! Owns: tests of plans for non-sharded table kinds and passthrough texts.
//! Must not test sharded merge specs (see `merge_specs`).

use super::*;

// ----- broadcast, single-node, passthrough -----

#[test]
fn broadcast_and_single_node_tables() {
    let p = plan("SELECT * FROM regions WHERE id = 1");
    assert_eq!(p.kind, PlanKind::BroadcastRead { nodes: vec![0, 1] });
    assert_eq!(p.targets.len(), 1);
    let p = plan("INSERT INTO regions (id, name) VALUES (1, 'eu')");
    assert_eq!((p.kind.clone(), p.targets.len()), (PlanKind::Broadcast, 2));
    let p = plan("DELETE FROM regions WHERE id = 1");
    assert_eq!(p.kind, PlanKind::Broadcast);
    // A broadcast copy is read beside a single-node table.
    let p = plan("SELECT * FROM settings s JOIN regions r ON r.id = s.region_id");
    assert_eq!(p.kind, PlanKind::Unsharded { node: 1 });
    assert_eq!(
        p.targets[0].sql,
        "SELECT * FROM settings s JOIN regions r ON r.id = s.region_id"
    );
    assert!(
        error("UPDATE regions r JOIN settings s ON s.k = r.name SET r.name = 'x'")
            .contains("not on node n1")
    );
    assert!(error("LOCK TABLES orders WRITE").contains("not supported"));
    assert_eq!(
        plan("LOCK TABLES settings READ").kind,
        PlanKind::Unsharded { node: 1 }
    );
    assert_eq!(plan("DESCRIBE orders").targets[0].sql, "DESCRIBE orders_0");
    assert_eq!(
        plan("SHOW CREATE TABLE regions").kind,
        PlanKind::BroadcastRead { nodes: vec![0, 1] }
    );
    // Statements without a rule table.
    let cfg = shop();
    for sql in [
        "SELECT 1",
        "SELECT * FROM audit",
        "SHOW TABLES",
        "SELECT orders FROM t",
        "INSERT INTO log VALUES (1)",
    ] {
        assert_eq!(plan_with(&cfg, sql, &[]), Ok(None), "{sql}");
    }
    // information_schema lives everywhere.
    assert_eq!(
        plan("SELECT * FROM orders o JOIN information_schema.tables t ON 1 WHERE o.user_id = 1")
            .targets
            .len(),
        1
    );
}

#[test]
fn unparseable_and_multi_statement_texts() {
    assert!(error("LOAD DATA INFILE 'x' INTO TABLE orders").contains("cannot parse this statement"));
    // A keyword or function name that is also a rule's table name is not
    // blamed; the table written as a name is.
    let cfg = config(|t| {
        format!("{t}\n[[table]]\nname = \"select\"\nkey = \"id\"\nkey_type = \"int\"\nalgorithm = {{ kind = \"hash_mod\" }}\nnodes = [\"n1\", \"n2\"]\n")
    });
    let unparsed = "SELECT INTERVAL(5, 1, 10) FROM orders PARTITION BY x";
    match cfg.sharding.plan(unparsed, Some("shop"), &[]) {
        Err(e) => assert!(e.0.contains("the sharded table `orders`"), "{}", e.0),
        other => panic!("{other:?}"),
    }
    match cfg
        .sharding
        .plan("SELECT * FROM `select` PARTITION BY x", Some("shop"), &[])
    {
        Err(e) => assert!(e.0.contains("the sharded table `select`"), "{}", e.0),
        other => panic!("{other:?}"),
    }
    assert!(error("HANDLER regions OPEN").contains("broadcast"));
    // Single-node tables are routed to their node even unparsed.
    assert_eq!(
        plan("OPTIMIZE TABLE settings").kind,
        PlanKind::Unsharded { node: 1 }
    );
    assert!(error("SELECT * FROM orders; SELECT 1").contains("one at a time"));
    assert_eq!(plan_with(&shop(), "SELECT 1; SELECT 2", &[]), Ok(None));
}

#[test]
fn explain_statements_route_like_their_statement() {
    let p = plan("EXPLAIN SELECT * FROM orders WHERE user_id IN (1, 2)");
    assert_eq!(
        targets(&p),
        [
            t(
                "n1",
                "EXPLAIN SELECT * FROM orders_1 AS `orders` WHERE user_id IN (1)"
            ),
            t(
                "n2",
                "EXPLAIN SELECT * FROM orders_2 AS `orders` WHERE user_id IN (2)"
            ),
        ]
    );
    assert!(p.merge.is_none() && !p.write);
}
