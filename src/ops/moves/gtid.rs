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

/// The `gtid_slave_pos` of a channel on a server whose binary log is at
/// `own`, replicating from a server at `start` (a position of that
/// server's binary log: the copy's snapshot, or the target's position at
/// a switch for a reverse channel): `start` in each of its domains (the
/// master finds those GTIDs in its binary log; a later one of the
/// server's own would not be there), the server's own position in the
/// domains `start` lacks (the server refuses a slave position that leaves
/// out a domain of its binary log; the master ignores domains it has
/// not).
pub fn slave_pos(start: &Position, own: &Position) -> Position {
    let mut pos = own.clone();
    pos.extend(start.iter().map(|(d, v)| (*d, *v)));
    pos
}

/// Whether `start` is behind `own` in a domain both have (the server
/// wrote that domain past what the master has, e.g. what a reverse channel
/// brought back): under `gtid_strict_mode` the server refuses such a slave
/// position (1947) although the channel needs it.
pub fn behind_own(start: &Position, own: &Position) -> bool {
    start
        .iter()
        .any(|(d, (_, n))| own.get(d).is_some_and(|(_, m)| m > n))
}

/// Transactions `applied` lacks of `source`: per domain of the source,
/// the difference of sequence numbers.
pub fn behind(source: &Position, applied: &Position) -> u64 {
    source
        .iter()
        .map(|(d, (_, n))| n.saturating_sub(applied.get(d).map_or(0, |(_, m)| *m)))
        .sum()
}

/// `pos` without the domain `domain` (a wait for what a server itself
/// wrote elsewhere would never end: its own transactions come back to it
/// filtered away).
pub fn without(pos: &Position, domain: u32) -> Position {
    let mut pos = pos.clone();
    pos.remove(&domain);
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

    #[test]
    fn a_domain_written_on_both_sides_starts_where_the_master_has_it() {
        // After a reverse switch the source has the target's domain 2 up
        // to 7 in its binlog; the target itself is at 9: a new forward
        // channel asks for 2-20-7 (in the source's binlog; its 8 and 9 come
        // back with the target's own server id and are skipped).
        let snapshot = parse("1-10-12,2-20-7").unwrap();
        let target = parse("1-10-5,2-20-9").unwrap();
        assert_eq!(format(&slave_pos(&snapshot, &target)), "1-10-12,2-20-7");
        assert!(behind_own(&snapshot, &target));
        assert!(!behind_own(&parse("1-10-12").unwrap(), &target));
        assert_eq!(behind(&snapshot, &target), 7);
        assert_eq!(behind(&target, &snapshot), 2);
        assert_eq!(format(&without(&target, 1)), "2-20-9");
    }
}
