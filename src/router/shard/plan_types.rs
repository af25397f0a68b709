//! The plan types the router produces and the executor runs: where a
//! statement runs ([`ShardPlan`], [`ShardTarget`], [`PlanKind`]) and where a
//! sharding-key move sends rows. Data only: no planning, no I/O.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::{LogicalNames, MergeSpec};

/// Where a statement runs and how the answers combine.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    /// The statements to run: one per physical table (slot) touched, or one
    /// per node holding a copy (broadcast writes, DDL on broadcast tables).
    /// Several targets may share a node; they are independent statements.
    pub targets: Vec<ShardTarget>,
    pub kind: PlanKind,
    /// For a SELECT sent to more than one target: how to merge. `None` for
    /// single-target plans and for writes (sum the affected-row counts).
    /// Shared: a kept scatter plan hands out the same recipe to every
    /// statement (`plan::memo`, `plan::range`).
    pub merge: Option<Arc<MergeSpec>>,
    /// The first id generated for an INSERT that left a `[[sequence]]`
    /// column out (what `LAST_INSERT_ID()` should report), if any.
    pub generated_id: Option<u64>,
    /// True for statements that change data or schema (run on primaries).
    pub write: bool,
}

impl ShardPlan {
    /// The statement answers with rows: a read, including a locking read
    /// (`FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`), which runs on
    /// primaries (`write`) but is merged like any read.
    pub fn returns_rows(&self) -> bool {
        !self.write || self.merge.is_some()
    }
}

/// One statement for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTarget {
    /// Index into `config.nodes`.
    pub node: usize,
    /// The physical statement (original text with names and lists spliced;
    /// comments, hints and literals kept byte for byte).
    pub sql: String,
    /// Physical tables the statement touches (sharded and bound tables
    /// only), in order of appearance.
    pub tables: TargetTables,
    /// For a prepared statement: for each `?` left in `sql`, in order, the
    /// index of the client's parameter to bind (lists split per shard drop
    /// parameters; a pushed-down LIMIT is inlined). Empty when `sql` has no
    /// placeholder.
    pub params: TargetParams,
    /// For a `LOAD DATA LOCAL INFILE` split by shard: the rows this target
    /// loads, sent when its server asks for the file.
    pub local_file: Option<LocalFile>,
    /// For a multi-row INSERT split by shard: the number (from 1) in the
    /// client's statement of each row this target inserts, in order, so
    /// that its warnings' `at row N` are the client's rows. `None` when
    /// the target's rows are the statement's.
    pub rows: Option<Arc<[u32]>>,
}

/// The file contents a shard's `LOAD DATA LOCAL INFILE` receives.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalFile(pub Arc<Vec<u8>>);

impl fmt::Debug for LocalFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalFile({} bytes)", self.0.len())
    }
}

/// What kind of plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanKind {
    /// Only single-node tables (and broadcast copies on that node): one
    /// target, SQL unchanged.
    Unsharded { node: usize },
    /// One shard.
    Single,
    /// Several shards: reads are merged by [`ShardPlan::merge`], writes
    /// (split INSERT rows, unkeyed UPDATE/DELETE) add their counts.
    Scatter,
    /// A write to every copy of a broadcast table (one target per node).
    Broadcast,
    /// A read of broadcast tables only: `targets[0]` runs on `nodes[0]`;
    /// the executor may run the same SQL on any node of `nodes` instead.
    BroadcastRead { nodes: Vec<usize> },
    /// DDL fanned out to every physical table (or every broadcast copy).
    Ddl,
    /// An UPDATE assigning the sharding key: the targets run the UPDATE,
    /// then rows that now carry the new key move to its table.
    KeyMove(Box<KeyMove>),
}

/// Where the rows of a sharding-key UPDATE go (see `PlanKind::KeyMove`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    /// The schema the statement qualified the table with.
    pub schema: Option<String>,
    /// The assigned columns that place a row, with their new values: the
    /// sharding key, and under a composite rule the period column (either
    /// or both). A row of a source table carrying all of them is a moved
    /// one (no row with them lived there before).
    pub values: Vec<MoveValue>,
    /// The physical table rows with the new key belong in (under a
    /// composite rule, that of the first table the UPDATE runs on: the
    /// destination may differ by source, see `sources`).
    pub dest: MoveTable,
    /// The other physical tables the UPDATE ran on, each with the table
    /// its rows that now carry the new values go to.
    pub sources: Vec<MoveSource>,
}

/// A column a key move assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveValue {
    /// The column.
    pub column: String,
    /// The new value's SQL text: a literal as written, or `?`.
    pub value: String,
    /// For `?`: the client's parameter.
    pub param: Option<usize>,
}

/// A table rows leave, and the table they go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveSource {
    pub from: MoveTable,
    pub to: MoveTable,
}

/// A physical table on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveTable {
    pub node: usize,
    pub table: String,
}

/// A target's parameter map ([`ShardTarget::params`]): inline up to two
/// (a kept point target is copied to each statement without allocating).
pub type TargetParams = smallvec::SmallVec<[usize; 2]>;

/// The physical tables of a [`ShardTarget`]: shared, so that a kept
/// target (a point or range plan's, rendered once per slot) is handed to
/// each statement without copying its names; none without an allocation.
/// With the `(physical, logical)` names of its column definitions, found
/// once per router ([`TargetTables::logical_names`]).
#[derive(Clone, Default)]
pub struct TargetTables(Option<Arc<Named>>);

struct Named {
    physical: Box<[String]>,
    /// The router (its address) the logical names were found with, and
    /// them.
    logical: OnceLock<(usize, LogicalNames)>,
}

impl TargetTables {
    /// The logical names `find` gives for these tables with `router`:
    /// found once per target and router (a kept target lives in its
    /// router's analyses; with another router they are found again).
    pub fn logical_names<R>(
        &self,
        router: &R,
        find: impl FnOnce() -> LogicalNames,
    ) -> LogicalNames {
        let key = router as *const R as usize;
        let Some(named) = &self.0 else {
            return find();
        };
        match named.logical.get() {
            Some((at, names)) if *at == key => names.clone(),
            Some(_) => find(),
            None => named.logical.get_or_init(|| (key, find())).1.clone(),
        }
    }
}

impl fmt::Debug for TargetTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for TargetTables {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for TargetTables {}

impl std::ops::Deref for TargetTables {
    type Target = [String];
    fn deref(&self) -> &[String] {
        self.0.as_ref().map_or(&[], |n| &n.physical)
    }
}

impl From<Vec<String>> for TargetTables {
    fn from(names: Vec<String>) -> Self {
        match names.is_empty() {
            true => TargetTables(None),
            false => TargetTables(Some(Arc::new(Named {
                physical: names.into_boxed_slice(),
                logical: OnceLock::new(),
            }))),
        }
    }
}

impl<'a> IntoIterator for &'a TargetTables {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target's logical names are found once per router, and found
    /// again (not taken from the first) with another router.
    #[test]
    fn logical_names_are_kept_per_router() {
        let names = |l: &str| -> LogicalNames { Arc::from(vec![("t_1".to_owned(), l.to_owned())]) };
        let tables = TargetTables::from(vec!["t_1".to_owned()]);
        let shared = tables.clone();
        let (a, b) = (1u8, 2u8);
        let mut found = 0;
        for _ in 0..3 {
            let got = tables.logical_names(&a, || {
                found += 1;
                names("t")
            });
            assert_eq!(got[0].1, "t");
        }
        assert_eq!(found, 1);
        // A copy (a plan handed a kept target) shares what was found.
        assert_eq!(shared.logical_names(&a, || names("other"))[0].1, "t");
        assert_eq!(shared.logical_names(&b, || names("u"))[0].1, "u");
        let none = TargetTables::default();
        assert!(none.is_empty());
        assert_eq!(none.logical_names(&a, || names("v"))[0].1, "v");
        assert_eq!(tables, TargetTables::from(vec!["t_1".to_owned()]));
        assert_eq!(format!("{tables:?}"), r#"["t_1"]"#);
    }
}
