//! How the rows of a scattered SELECT merge ([`MergeSpec`] and its keys and
//! combiners): what the router decides and the merge operators follow.
//! Data only: no planning, no row handling.

/// How to merge the rows of a scattered SELECT so that the client sees what
/// one server holding all rows would answer.
///
/// Shard rows have the client's columns followed by `hidden_columns`
/// columns shardcat appended. The executor:
/// 1. if `aggregate` is set, groups rows by `aggregate.group_by` (values
///    compared with the column's collation) and combines each column by
///    its [`Combine`] (with no `group_by`, every row is one group and there
///    is exactly one output row), then keeps the groups `having` accepts
///    (a cross-shard HAVING, evaluated on the combined groups: shards do
///    not apply it to their partial groups);
/// 2. if `distinct`, removes duplicate rows (over the visible columns);
/// 3. sorts by `order_by` (MySQL order: NULL first ascending, strings by
///    the column's collation). Without `aggregate` every shard already
///    returns its rows in this order, so a k-way merge suffices;
/// 4. skips `offset` rows and keeps `limit`;
/// 5. drops the hidden columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MergeSpec {
    pub hidden_columns: usize,
    /// Condition on the combined groups (over the shard row's columns).
    pub having: Option<crate::merge::eval::MergeExpr>,
    pub order_by: Vec<SortKey>,
    pub offset: u64,
    pub limit: Option<u64>,
    pub distinct: bool,
    pub aggregate: Option<AggregateMerge>,
    /// Columns compared by the server's weights (sort, group, DISTINCT,
    /// MIN/MAX and COUNT(DISTINCT) keys): used by the merge when the
    /// shard's column definition says the value is a collated string.
    pub weights: Box<[WeightKey]>,
    /// ENUM/SET keys ordered by their members' positions: used by the
    /// merge when the shard's column definition flags the column ENUM/SET.
    pub enum_keys: Box<[EnumKey]>,
    /// `(physical, logical)` table names: the column definitions the
    /// client sees name the logical table in `table`/`org_table`, as one
    /// server holding it would. Filled by the router when it plans a
    /// scatter (`plan::sharded::named`), else by the session.
    pub logical_tables: Vec<(String, String)>,
    /// A `time_range` period table of the plan is missing: the message
    /// of the 1146 (naming the logical table and period) a shard's 1146
    /// becomes. Filled by the session (`None` in the router's plans).
    pub missing_table_message: Option<String>,
}

/// A key column whose order and equality the server defines: hidden
/// column `weight` carries `WEIGHT_STRING(expr)`, hidden column `pad` the
/// weight of one space in expr's collation when that collation is PAD
/// SPACE (NULL for NO PAD), so the merge compares weights padded as the
/// server pads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightKey {
    pub column: ColumnRef,
    pub weight: ColumnRef,
    pub pad: ColumnRef,
    /// A UNION's keys: `COLLATION(item)` of the row's branch. The weights
    /// are the union column's only if every row's branch has one
    /// collation; the merge refuses otherwise.
    pub collation: Option<ColumnRef>,
}

/// An ENUM or SET key column: hidden column `index` carries `(expr)+0`
/// (the member's position, the SET's bitmask), the order the server sorts
/// and groups ENUM/SET values by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumKey {
    pub column: ColumnRef,
    pub index: ColumnRef,
}

/// One ORDER BY key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: ColumnRef,
    pub descending: bool,
}

/// A column of the shard rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRef {
    /// 0-based position from the start of the row.
    Index(usize),
    /// The i-th hidden column: position `row_len - hidden_columns + i`
    /// (used when `SELECT *` hides how many columns come first).
    Hidden(usize),
}

/// Combining partial groups (GROUP BY not on the sharding key, or
/// aggregates without GROUP BY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateMerge {
    /// Group key columns (hidden or visible).
    pub group_by: Vec<usize>,
    /// How to combine each shard column, visible and hidden, in order.
    pub columns: Vec<Combine>,
    /// The GROUP_CONCATs ([`Combine::GroupConcat`] indexes this).
    pub concats: Vec<crate::merge::group_concat::ConcatSpec>,
    /// Expressions on aggregates ([`Combine::Computed`] indexes this),
    /// over the combined row.
    pub computed: Vec<crate::merge::eval::MergeExpr>,
}

/// How one column of partial groups combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// A group key: equal within the group.
    Group,
    /// A column neither grouped nor aggregated (MySQL picks any row's
    /// value): the first row's.
    Any,
    /// Partial `COUNT(...)`: the sum (0 when no rows).
    Count,
    /// Partial `SUM(...)`: the sum of non-NULL partials (NULL if all NULL).
    Sum,
    Min,
    Max,
    /// `AVG(x)`: this column carries `SUM(x)` partials, column `count`
    /// carries `COUNT(x)` partials; the result is sum / count (NULL when
    /// count is 0) with the scale MySQL gives AVG (the argument's scale
    /// plus `div_precision_increment`, 4 by default).
    Avg {
        count: usize,
    },
    /// `COUNT(DISTINCT a, …)` not over the sharding key: the shards also
    /// group by the arguments (hidden columns `first..first + n`), so each
    /// value reaches the proxy; the merge counts the distinct tuples of
    /// non-NULL arguments per group (under the columns' collations).
    CountDistinct {
        first: usize,
        n: usize,
    },
    /// `SUM(DISTINCT x)`: shards group by x too (hidden column `arg`), so
    /// this column carries x per (group, x); the merge adds the values of
    /// distinct x.
    SumDistinct {
        arg: usize,
    },
    /// `AVG(DISTINCT x)`: as `SumDistinct`, divided by the number of
    /// distinct values with the column's scale.
    AvgDistinct {
        arg: usize,
    },
    /// `GROUP_CONCAT(…)`: rebuilt from the values of the shards' finer
    /// groups as `concats[index]` says.
    GroupConcat {
        index: usize,
    },
    /// An expression on aggregates (`SUM(a) / COUNT(*)`): the shards
    /// compute it too (so that its column definition is the server's),
    /// the merge recomputes it from the combined aggregates as
    /// `computed[index]` says.
    Computed {
        index: usize,
    },
}
