//! A resplit's plan: which new physical tables a `tables_per_node`
//! increase creates, on which node, from which old table, under which name,
//! and the placement the switch records.
//!
//! With `hash_mod` over `S` slots becoming `k·S`, a row of old slot `s`
//! goes to new slot `t` with `t mod S = s`: every new slot draws from
//! exactly one old slot, so each new table is put on its old slot's node
//! (nothing crosses nodes; the new slots off their rule's node are recorded
//! as `[[moved]]`, to rebalance later with `shards move`).
//!
//! Owns: the plan and the refusals of what a resplit does not support.
//! Must not: talk to the servers (but for the names already taken, given
//! by the caller), run the phases (`resplit::mod`).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::placement_file::{ResplitRecord, ResplitTable};
use crate::config::Config;
use crate::placement::{Algorithm, KeyType, ShardedTable, ShardingRules};

/// One logical table of the resplit (the root or a table bound to it).
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    pub(crate) name: String,
    /// Its key column.
    pub(crate) key: String,
}

/// What the resplit needs besides its record.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) record: ResplitRecord,
    pub(crate) logicals: Vec<Logical>,
    /// The root's rule with the new `tables_per_node` (slot of a key).
    pub(crate) new_rule: ShardedTable,
    /// The key type (the root's).
    pub(crate) key_type: KeyType,
    /// Every new slot's node (the nodes of its old slot).
    pub(crate) nodes_of_new_slots: BTreeMap<usize, String>,
}

/// Builds the plan; `taken(node, name)` says whether a table of that name
/// exists on the node's server.
pub(crate) fn plan(
    cfg: &Config,
    table: &str,
    schema_hint: Option<&str>,
    schema: &str,
    tables_per_node: usize,
    taken: &dyn Fn(&str, &str) -> bool,
) -> Result<Plan, String> {
    let node_names = cfg.node_names();
    let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
    let rules = ShardingRules::new(cfg.tables.clone(), &node_refs)
        .map_err(|e| format!("the rules do not load: {}", e[0]))?;
    let placed = rules
        .table(schema_hint, table)
        .or_else(|| {
            rules
                .tables()
                .find(|t| t.rule().name.eq_ignore_ascii_case(table))
        })
        .ok_or_else(|| format!("`{table}` has no [[table]] rule"))?;
    let Some(root) = placed.root() else {
        return Err(format!("`{table}` is not a sharded table"));
    };
    if placed.rule().sharded().is_none() {
        return Err(format!(
            "`{table}` is bound to another table: resplit the table it is bound to"
        ));
    }
    refuse_rule(table, root, tables_per_node)?;
    let old_slots = root.slot_count();
    let mut new_rule = root.clone();
    new_rule.tables_per_node = tables_per_node;
    new_rule.moved.clear();
    new_rule.renamed.clear();
    let new_slots = new_rule.slot_count();
    let mut logicals = Vec::new();
    let mut tables = Vec::new();
    let mut nodes_of_new_slots = BTreeMap::new();
    for other in rules.tables() {
        let same_root = other.root().is_some_and(|r| std::ptr::eq(r, root));
        if !same_root {
            continue;
        }
        let (Some(key), Some(pattern)) = (other.key_column(), other.pattern()) else {
            continue;
        };
        let name = other.rule().name.clone();
        logicals.push(Logical {
            name: name.clone(),
            key: key.to_owned(),
        });
        let old = other.physical_targets();
        let old_names: BTreeSet<(String, String)> = old
            .iter()
            .map(|t| (t.node.clone(), t.table.to_ascii_lowercase()))
            .collect();
        for slot in 0..new_slots {
            let from = old
                .iter()
                .find(|t| t.slot == slot % old_slots)
                .ok_or_else(|| format!("`{name}` has no slot {}", slot % old_slots))?;
            let rendered = new_rule
                .physical_target(&name, pattern, slot)
                .ok_or_else(|| format!("`{name}`: no name for slot {slot}"))?
                .table;
            let clash = old_names.contains(&(from.node.clone(), rendered.to_ascii_lowercase()))
                || taken(&from.node, &rendered);
            let actual = if clash {
                let staging = format!("{rendered}_rs{tables_per_node}");
                if taken(&from.node, &staging) {
                    return Err(format!(
                        "`{schema}`.`{staging}` already exists on node `{}`: drop or rename it first",
                        from.node
                    ));
                }
                staging
            } else {
                rendered.clone()
            };
            nodes_of_new_slots.insert(slot, from.node.clone());
            tables.push(ResplitTable {
                node: from.node.clone(),
                logical: name.clone(),
                slot,
                old: from.table.clone(),
                rendered,
                name: actual,
            });
        }
    }
    Ok(Plan {
        record: ResplitRecord {
            rule_schema: placed.rule().schema.clone(),
            schema: schema.to_owned(),
            table: placed.rule().name.clone(),
            from_tables_per_node: root.tables_per_node,
            tables_per_node,
            phase: "copying".into(),
            sources: Vec::new(),
            reverse: Vec::new(),
            moved_before: Vec::new(),
            tables,
            rows_copied: 0,
            pause_ms: 0,
        },
        logicals,
        key_type: root.key_type,
        new_rule,
        nodes_of_new_slots,
    })
}

/// The logical tables of `table`'s family with their key columns, the
/// key type and the root's rule as loaded (for a resplit that has
/// switched: the reverse replay routes by it).
pub(crate) fn family(
    cfg: &Config,
    table: &str,
    schema_hint: Option<&str>,
) -> Result<(Vec<Logical>, KeyType, ShardedTable), String> {
    let node_names = cfg.node_names();
    let node_refs: Vec<&str> = node_names.iter().map(String::as_str).collect();
    let rules = ShardingRules::new(cfg.tables.clone(), &node_refs)
        .map_err(|e| format!("the rules do not load: {}", e[0]))?;
    let placed = rules
        .table(schema_hint, table)
        .or_else(|| {
            rules
                .tables()
                .find(|t| t.rule().name.eq_ignore_ascii_case(table))
        })
        .ok_or_else(|| format!("`{table}` has no [[table]] rule"))?;
    let root = placed
        .root()
        .ok_or_else(|| format!("`{table}` is not a sharded table"))?;
    let logicals = rules
        .tables()
        .filter(|o| o.root().is_some_and(|r| std::ptr::eq(r, root)))
        .filter_map(|o| {
            Some(Logical {
                name: o.rule().name.clone(),
                key: o.key_column()?.to_owned(),
            })
        })
        .collect();
    Ok((logicals, root.key_type, root.clone()))
}

/// What a resplit does not support, with the reason.
fn refuse_rule(table: &str, root: &ShardedTable, tables_per_node: usize) -> Result<(), String> {
    if !matches!(root.algorithm, Algorithm::HashMod { .. }) {
        return Err(format!(
            "`{table}`: only `hash_mod` tables can be resplit (under other algorithms a new \
             slot draws rows from several old slots, on several nodes)"
        ));
    }
    if root.composite().is_some() || root.time_periods().is_some() {
        return Err(format!(
            "`{table}`: composite and time_range rules cannot be resplit"
        ));
    }
    let from = root.tables_per_node;
    if tables_per_node <= from || !tables_per_node.is_multiple_of(from) {
        return Err(format!(
            "`{table}`: tables_per_node can only grow by an integer factor ({from} → {}, {}, …); \
             {from} → {tables_per_node} would move rows between old slots",
            from * 2,
            from * 3
        ));
    }
    Ok(())
}

/// The `[[moved]]` entries of the new layout: each new slot off its rule's
/// node (`nodes[slot / tables_per_node]`).
pub(crate) fn moved_entries(plan: &Plan) -> Vec<(usize, String)> {
    let per = plan.new_rule.tables_per_node;
    plan.nodes_of_new_slots
        .iter()
        .filter(|(slot, node)| {
            plan.new_rule
                .nodes
                .get(**slot / per)
                .is_none_or(|n| n != *node)
        })
        .map(|(slot, node)| (*slot, node.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::placement::{Algorithm, Collation, HashFunction, ShardKey};
    use rand::{Rng, SeedableRng};

    /// The property the resplit rests on: under `hash_mod`, a key's slot
    /// among k·S slots is congruent to its slot among S, for integer and
    /// string keys and every hash (generated keys).
    #[test]
    fn a_new_slot_draws_from_exactly_one_old_slot() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(15);
        let collation = Collation::default();
        for hash in [
            HashFunction::Xxh3,
            HashFunction::Murmur3,
            HashFunction::Crc32,
        ] {
            let algo = Algorithm::HashMod { hash };
            for _ in 0..2000 {
                let key = if rng.random_bool(0.5) {
                    ShardKey::Int(rng.random_range(-1_000_000i64..1_000_000_000))
                } else {
                    let len = rng.random_range(0..20);
                    ShardKey::Str(
                        (0..len)
                            .map(|_| char::from(rng.random_range(b'0'..=b'z')))
                            .collect(),
                    )
                };
                let old_slots = rng.random_range(1..9usize) * 2;
                let factor = rng.random_range(2..5usize);
                let old = algo.slot_for_key(&key, old_slots, &collation).unwrap();
                let new = algo
                    .slot_for_key(&key, old_slots * factor, &collation)
                    .unwrap();
                assert_eq!(new % old_slots, old, "{key:?} {old_slots}×{factor}");
            }
        }
    }
}
