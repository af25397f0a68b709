//! The plan of a split (pure): which slots of a sharded table move to which
//! new node, and how the moves group into replication channels.
//!
//! A balanced plan gives every node (the current ones, then the new ones)
//! the same number of slots, give or take one, and moves as few as it can:
//! each new node takes the highest-numbered slots of the one node with the
//! most slots above its share. Every target takes from one source only: a
//! target's channel replicates one primary (two channels into one server
//! would share its `gtid_slave_pos`).
//!
//! Owns: the plan's arithmetic. Must not talk to servers or read files.

use std::collections::BTreeMap;

/// One slot's move: (slot, from node, to node).
pub type SlotMove = (usize, String, String);

/// The moves spreading `layout` (slot → node, every slot of the table)
/// over its nodes and `new_nodes`.
pub fn balance(layout: &[(usize, String)], new_nodes: &[String]) -> Result<Vec<SlotMove>, String> {
    if new_nodes.is_empty() {
        return Err("name the new nodes (--to)".into());
    }
    let mut old: Vec<String> = Vec::new();
    for (_, node) in layout {
        if !old.contains(node) {
            old.push(node.clone());
        }
    }
    for (i, n) in new_nodes.iter().enumerate() {
        if old.contains(n) {
            return Err(format!("node `{n}` already holds slots of this table"));
        }
        if new_nodes[..i].contains(n) {
            return Err(format!("node `{n}` is named twice"));
        }
    }
    let total = layout.len();
    let count = old.len() + new_nodes.len();
    // The remainder's extra slots stay on the current nodes (fewer moves).
    let share = |i: usize| total / count + usize::from(i < total % count);
    // Each current node's slots, highest first (they move first).
    let mut held: Vec<Vec<usize>> = old
        .iter()
        .map(|n| {
            let mut s: Vec<usize> = layout
                .iter()
                .filter(|(_, m)| m == n)
                .map(|(s, _)| *s)
                .collect();
            s.sort_unstable_by(|a, b| b.cmp(a));
            s
        })
        .collect();
    let mut moves = Vec::new();
    for (j, target) in new_nodes.iter().enumerate() {
        let want = share(old.len() + j);
        let excess = |i: usize, h: &Vec<usize>| h.len().saturating_sub(share(i));
        let Some(from) = (0..old.len()).max_by(|a, b| {
            excess(*a, &held[*a])
                .cmp(&excess(*b, &held[*b]))
                .then(b.cmp(a))
        }) else {
            break;
        };
        let take = want.min(excess(from, &held[from]));
        for slot in held[from].drain(..take) {
            moves.push((slot, old[from].clone(), target.clone()));
        }
    }
    if moves.is_empty() {
        return Err(format!("{total} slots over {count} nodes: nothing to move"));
    }
    moves.sort();
    Ok(moves)
}

/// Refuses a plan whose target takes slots from several sources, or whose
/// source is also a target.
pub fn check_sources(moves: &[SlotMove]) -> Result<(), String> {
    let mut source_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (slot, from, to) in moves {
        if moves.iter().any(|(_, f, _)| f == to) {
            return Err(format!(
                "node `{to}` both gives and takes slots: split in two steps"
            ));
        }
        if let Some(other) = source_of.insert(to, from) {
            if other != from {
                return Err(format!(
                    "node `{to}` would take slots from `{other}` and `{from}` (slot {slot}): \
                     a target replicates one source; split in two steps"
                ));
            }
        }
    }
    Ok(())
}

/// The moves grouped by (from, to), one channel each: the indexes of the
/// moves, in input order.
pub fn pairs<'a>(
    moves: impl Iterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<(String, String), Vec<usize>> {
    let mut out: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, (from, to)) in moves.enumerate() {
        out.entry((from.to_owned(), to.to_owned()))
            .or_default()
            .push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(nodes: &[&str], per_node: usize) -> Vec<(usize, String)> {
        (0..nodes.len() * per_node)
            .map(|s| (s, nodes[s / per_node].to_string()))
            .collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn two_nodes_become_four() {
        let m = balance(&grid(&["n1", "n2"], 2), &names(&["n3", "n4"])).unwrap();
        assert_eq!(
            m,
            vec![(1, "n1".into(), "n3".into()), (3, "n2".into(), "n4".into())]
        );
        let m = balance(&grid(&["n1", "n2"], 4), &names(&["n3", "n4"])).unwrap();
        let got: Vec<(usize, &str)> = m.iter().map(|(s, _, t)| (*s, t.as_str())).collect();
        assert_eq!(got, vec![(2, "n3"), (3, "n3"), (6, "n4"), (7, "n4")]);
    }

    /// Generated layouts: every node ends within one slot of the others,
    /// each target has one source, no slot moves twice.
    #[test]
    fn balanced_over_generated_layouts() {
        let pool = ["a", "b", "c", "d", "e", "f"];
        for old in 1..=3usize {
            for new in 1..=3usize {
                for per_node in 1..=5usize {
                    let layout = grid(&pool[..old], per_node);
                    let new_nodes = names(&pool[old..old + new]);
                    let Ok(moves) = balance(&layout, &new_nodes) else {
                        // Only when there is nothing to move.
                        assert!(layout.len() < old + new || old * per_node <= old);
                        continue;
                    };
                    check_sources(&moves).unwrap();
                    let mut after: BTreeMap<usize, String> = layout.iter().cloned().collect();
                    for (slot, from, to) in &moves {
                        assert_eq!(&after[slot], from);
                        after.insert(*slot, to.clone());
                    }
                    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
                    for n in after.values() {
                        *load.entry(n.as_str()).or_default() += 1;
                    }
                    let total = layout.len();
                    let count = old + new;
                    let (lo, hi) = (
                        load.values().min().copied().unwrap_or(0),
                        load.values().max().copied().unwrap_or(0),
                    );
                    // One source per target may leave a node short, never
                    // more than the targets' share apart.
                    assert!(hi - lo <= total.div_ceil(count), "{layout:?} {moves:?}");
                    // Doubling (2 → 4, 3 → 6): exact.
                    if new == old {
                        assert!(hi - lo <= 1, "{layout:?} → {moves:?}: {load:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn refusals() {
        let layout = grid(&["n1", "n2"], 2);
        assert!(balance(&layout, &[]).is_err());
        assert!(balance(&layout, &names(&["n1"])).is_err());
        assert!(balance(&layout, &names(&["n3", "n3"])).is_err());
        let mixed = vec![(0, "n1".into(), "n3".into()), (2, "n2".into(), "n3".into())];
        assert!(check_sources(&mixed).is_err());
        let chain = vec![(0, "n1".into(), "n2".into()), (2, "n2".into(), "n3".into())];
        assert!(check_sources(&chain).is_err());
        let ok = vec![(0, "n1".into(), "n3".into()), (1, "n1".into(), "n3".into())];
        check_sources(&ok).unwrap();
        let p = pairs(ok.iter().map(|(_, f, t)| (f.as_str(), t.as_str())));
        assert_eq!(p.len(), 1);
        assert_eq!(p[&("n1".to_string(), "n3".to_string())], vec![0, 1]);
    }
}
