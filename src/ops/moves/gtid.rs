//! GTID position arithmetic for a move's replication channel (pure).
//!
//! Owns: parsing `domain-server-seq` lists and building the target's
//! `gtid_slave_pos`. Must not talk to servers.

use std::collections::BTreeMap;

/// A GTID position: domain → (server id, sequence number).
pub type Position = BTreeMap<u32, (u32, u64)>;

/// Parses `1-10-5,2-20-7` (empty text: empty position).
pub fn parse(text: &str) -> Result<Position, String> {
    let mut pos = Position::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = part.split('-');
        let (Some(d), Some(s), Some(n), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(format!("not a GTID: `{part}`"));
        };
        let bad = |_| format!("not a GTID: `{part}`");
        pos.insert(
            d.parse().map_err(bad)?,
            (s.parse().map_err(bad)?, n.parse().map_err(bad)?),
        );
    }
    Ok(pos)
}

/// Formats a position as the servers write it.
pub fn format(pos: &Position) -> String {
    pos.iter()
        .map(|(d, (s, n))| format!("{d}-{s}-{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The target's `gtid_slave_pos` for a channel starting at the source's
/// `snapshot`: the source's position in each of its domains, and the
/// target's own binlog position in the domains the source has not written
/// (the server refuses a slave position that leaves out a domain of its
/// binary log).
pub fn slave_pos(snapshot: &Position, target_binlog: &Position) -> Position {
    let mut pos = target_binlog.clone();
    pos.extend(snapshot.iter().map(|(d, v)| (*d, *v)));
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_merges() {
        let src = parse("1-23600-4").unwrap();
        let tgt = parse("2-23603-3, 1-23600-2").unwrap();
        assert_eq!(format(&slave_pos(&src, &tgt)), "1-23600-4,2-23603-3");
        assert_eq!(
            format(&slave_pos(&Position::new(), &tgt)),
            "1-23600-2,2-23603-3"
        );
        assert!(parse("").unwrap().is_empty());
        for bad in ["1-2", "1-2-3-4", "a-1-2", "1-2-x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Generated: every split of domains between the two sides.
        for mask in 0u32..16 {
            let mut s = Position::new();
            let mut t = Position::new();
            for d in 0..4u32 {
                if mask & (1 << d) != 0 {
                    s.insert(d, (10, u64::from(d) + 100));
                } else {
                    t.insert(d, (20, u64::from(d)));
                }
                t.entry(d).or_insert((20, 1));
            }
            let merged = slave_pos(&s, &t);
            assert_eq!(merged.len(), 4);
            for d in 0..4u32 {
                let want = s.get(&d).or_else(|| t.get(&d)).copied();
                assert_eq!(merged.get(&d).copied(), want);
            }
            assert_eq!(parse(&format(&merged)).unwrap(), merged);
        }
    }
}
