//! A resplit reader's XA branches, replayed as the source resolves them:
//! MariaDB logs a branch's rows at its `XA PREPARE` (a group whose GTID
//! event carries the XA id, ended by an `XA_PREPARE_LOG_EVENT`) and its
//! `XA COMMIT` / `XA ROLLBACK` later as a group of its own (GTID event
//! flagged completed-XA with the same id, then the statement). The rows of
//! a prepared branch are held here until then: applied at its commit,
//! dropped at its rollback. The position the command records never passes
//! the start of a branch still held (`floor`), so a restarted reader reads
//! its rows again.
//!
//! Owns: the held branches and reading the XA id of a GTID event. Must
//! not: apply rows (`binlog::flush`).

use std::collections::HashMap;

use mysql_async::Value;

use super::binlog::{Op, Pos};

/// MariaDB's GTID event flags: a commit id follows; the group is an XA
/// branch's prepared part, or its `XA COMMIT` / `XA ROLLBACK`.
const FL_GROUP_COMMIT_ID: u8 = 2;
const FL_PREPARED_XA: u8 = 64;
const FL_COMPLETED_XA: u8 = 128;

/// A prepared branch's rows and keys, and where its group starts.
struct Held {
    ops: Vec<Op>,
    keys: Vec<(String, Vec<Value>)>,
    start: Pos,
}

/// The branches of one reader.
#[derive(Default)]
pub(super) struct Branches {
    /// The XA id of the group being read, and whether it completes one.
    current: Option<Vec<u8>>,
    completing: bool,
    held: HashMap<Vec<u8>, Held>,
}

/// (flags, XA id) of a MariaDB GTID event's body: seq_no (8), domain_id
/// (4), flags (1), [commit id (8)], [format id (4), gtrid length (1),
/// bqual length (1), gtrid and bqual].
pub(super) fn gtid_body(data: &[u8]) -> (u8, Option<Vec<u8>>) {
    let flags = data.get(12).copied().unwrap_or(0);
    if flags & (FL_PREPARED_XA | FL_COMPLETED_XA) == 0 {
        return (flags, None);
    }
    let at = if flags & FL_GROUP_COMMIT_ID != 0 {
        21
    } else {
        13
    };
    let lengths = data.get(at + 4..at + 6);
    let xid = lengths.and_then(|l| {
        let end = at + 6 + usize::from(l[0]) + usize::from(l[1]);
        data.get(at..end).map(<[u8]>::to_vec)
    });
    (flags, xid)
}

impl Branches {
    /// A group starts (its GTID event's flags and XA id).
    pub(super) fn group(&mut self, flags: u8, xid: Option<Vec<u8>>) {
        self.completing = flags & FL_COMPLETED_XA != 0;
        self.current = xid;
    }

    /// Whether the group being read completes a branch.
    pub(super) fn completing(&self) -> bool {
        self.completing
    }

    /// `XA PREPARE` ends the group: its rows are held (true), or, without
    /// an XA id, left to be applied (false).
    pub(super) fn prepare(
        &mut self,
        ops: &mut Vec<Op>,
        keys: &mut Vec<(String, Vec<Value>)>,
        start: &Pos,
    ) -> bool {
        let Some(xid) = self.current.take() else {
            return false;
        };
        let held = Held {
            ops: std::mem::take(ops),
            keys: std::mem::take(keys),
            start: start.clone(),
        };
        self.held.insert(xid, held);
        true
    }

    /// `XA COMMIT` (`commit`) or `XA ROLLBACK` of the group's branch: a
    /// held branch's rows join `ops` (commit) or go; a branch this reader
    /// did not hold leaves `ops` (the group's own rows, if any) alone.
    pub(super) fn complete(
        &mut self,
        commit: bool,
        ops: &mut Vec<Op>,
        keys: &mut Vec<(String, Vec<Value>)>,
    ) {
        let held = self.current.take().and_then(|x| self.held.remove(&x));
        match (held, commit) {
            (Some(h), true) => {
                ops.extend(h.ops);
                keys.extend(h.keys);
            }
            (Some(_), false) => {}
            (None, true) => {}
            (None, false) => {
                ops.clear();
                keys.clear();
            }
        }
    }

    /// Where a restarted reader must start to read every held branch
    /// again: the earliest held group's start.
    pub(super) fn floor(&self) -> Option<Pos> {
        self.held.values().map(|h| h.start.clone()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(flags: u8, commit_id: bool, xid: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.push(flags);
        if commit_id {
            b.extend([9u8; 8]);
        }
        b.extend(xid);
        b
    }

    #[test]
    fn xa_ids_of_gtid_events_and_held_branches() {
        let xid = [1u8, 0, 0, 0, 2, 1, b'a', b'b', b'c'];
        assert_eq!(gtid_body(&body(1, false, &[])), (1, None));
        assert_eq!(
            gtid_body(&body(FL_PREPARED_XA, false, &xid)),
            (FL_PREPARED_XA, Some(xid.to_vec()))
        );
        let flags = FL_COMPLETED_XA | FL_GROUP_COMMIT_ID;
        assert_eq!(
            gtid_body(&body(flags, true, &xid)),
            (flags, Some(xid.to_vec()))
        );
        // Cut short: no id rather than a wrong one.
        assert_eq!(gtid_body(&body(FL_PREPARED_XA, false, &xid[..7])).1, None);

        let mut b = Branches::default();
        let row = |k: i64| Op::Delete {
            table: "t".into(),
            cond: "k = ?".into(),
            key: vec![Value::Int(k)],
        };
        let at = |p: u64| Pos {
            file: "f.000001".into(),
            pos: p,
        };
        // Prepared, held; committed: its rows come back.
        b.group(FL_PREPARED_XA, Some(xid.to_vec()));
        let (mut ops, mut keys) = (vec![row(1)], vec![("t".into(), vec![Value::Int(1)])]);
        assert!(b.prepare(&mut ops, &mut keys, &at(100)));
        assert!(ops.is_empty() && b.floor() == Some(at(100)));
        b.group(FL_COMPLETED_XA, Some(xid.to_vec()));
        assert!(b.completing());
        b.complete(true, &mut ops, &mut keys);
        assert_eq!((ops.len(), keys.len(), b.floor()), (1, 1, None));
        // Prepared then rolled back: nothing.
        let mut ops = vec![row(2)];
        b.group(FL_PREPARED_XA, Some(xid.to_vec()));
        b.prepare(&mut ops, &mut Vec::new(), &at(200));
        b.group(FL_COMPLETED_XA, Some(xid.to_vec()));
        b.complete(false, &mut ops, &mut Vec::new());
        assert!(ops.is_empty() && b.floor().is_none());
        // A commit of a branch never held keeps the group's own rows.
        let mut ops = vec![row(3)];
        b.group(FL_COMPLETED_XA, Some(b"zz".to_vec()));
        b.complete(true, &mut ops, &mut Vec::new());
        assert_eq!(ops.len(), 1);
        // No XA id: not held.
        b.group(0, None);
        assert!(!b.prepare(&mut ops, &mut Vec::new(), &at(300)));
    }
}
