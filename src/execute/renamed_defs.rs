//! A session's column definitions renamed from physical to logical table
//! names ([`RenamedDefs`]): a statement on one shard of a sharded table
//! answers with the same definitions each time it runs (`sbtest1_0` where
//! the client must see `sbtest1`), so each definition is renamed once and
//! the renamed bytes are copied afterwards, instead of parsing and
//! re-encoding it on every statement.
//!
//! Owns: the memo and its lookups. The renaming itself is
//! `merge::write_logical_table_names`; a definition found here is always
//! what that function gives for the same bytes and names (the memo is
//! keyed by both, compared whole). Must not touch the client stream other
//! than appending to the buffer it is handed.

use crate::router::shard::LogicalNames;

/// Definitions kept (a session's recent statements' columns).
const MAX_DEFS: usize = 32;

struct Renamed {
    names: LogicalNames,
    def: Vec<u8>,
    /// `None`: the definition names none of the tables (sent as it is).
    renamed: Option<Vec<u8>>,
}

/// Recently renamed column definitions (see the module docs).
#[derive(Default)]
pub struct RenamedDefs {
    kept: Vec<Renamed>,
    /// The entry replaced next when full.
    next: usize,
}

impl std::fmt::Debug for RenamedDefs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RenamedDefs({} kept)", self.kept.len())
    }
}

impl RenamedDefs {
    /// Appends to `out` the definition `def` with the logical names of
    /// `names` (`write_logical_table_names`, or `def` itself when it names
    /// none of them).
    pub fn write(&mut self, def: &[u8], names: &LogicalNames, out: &mut Vec<u8>) {
        let same_names = |e: &Renamed| std::sync::Arc::ptr_eq(&e.names, names) || e.names == *names;
        if let Some(e) = self.kept.iter().find(|e| e.def == def && same_names(e)) {
            out.extend_from_slice(e.renamed.as_deref().unwrap_or(def));
            return;
        }
        let start = out.len();
        let renamed = match crate::execute::merge::write_logical_table_names(def, names, out) {
            true => Some(out[start..].to_vec()),
            false => {
                out.extend_from_slice(def);
                None
            }
        };
        let fresh = Renamed {
            names: names.clone(),
            def: def.to_vec(),
            renamed,
        };
        if self.kept.len() < MAX_DEFS {
            self.kept.push(fresh);
        } else {
            self.next %= MAX_DEFS;
            self.kept[self.next] = fresh;
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::packets::put_lenenc_bytes;

    fn def(table: &str, org: &str, column: &str) -> Vec<u8> {
        let mut d = Vec::new();
        for part in ["def", "db", table, org, column, column] {
            put_lenenc_bytes(&mut d, part.as_bytes());
        }
        d.extend_from_slice(&[0x0c, 0x21, 0, 0x78, 0, 0, 0, 0xfe, 0, 0, 0, 0, 0]);
        d
    }

    /// Over generated definitions and name lists, asked again and again
    /// (past the memo's size, with equal names in other allocations), the
    /// memo appends exactly what the renaming function appends.
    #[test]
    fn the_memo_writes_what_the_renaming_writes() {
        let tables = ["t_0", "t_1", "u_0", "t", "T_0", "t_0x", ""];
        let lists: Vec<LogicalNames> = vec![
            std::sync::Arc::from(vec![("t_0".to_owned(), "t".to_owned())]),
            std::sync::Arc::from(vec![("t_1".to_owned(), "t".to_owned())]),
            std::sync::Arc::from(vec![
                ("t_0".to_owned(), "t".to_owned()),
                ("u_0".to_owned(), "u".to_owned()),
            ]),
            std::sync::Arc::from(vec![("t_0".to_owned(), "t".to_owned())]),
            std::sync::Arc::from(Vec::<(String, String)>::new()),
        ];
        let mut memo = RenamedDefs::default();
        let mut seed = 7u64;
        let mut pick = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for round in 0..4000 {
            let d = def(
                tables[pick(tables.len())],
                tables[pick(tables.len())],
                ["c", "id", "k"][pick(3)],
            );
            let names = &lists[pick(lists.len())];
            let prefix = vec![round as u8; pick(3)];
            let (mut want, mut got) = (prefix.clone(), prefix);
            if !crate::execute::merge::write_logical_table_names(&d, names, &mut want) {
                want.extend_from_slice(&d);
            }
            memo.write(&d, names, &mut got);
            assert_eq!(got, want, "round {round}");
        }
        assert_eq!(memo.kept.len(), MAX_DEFS);
    }
}
