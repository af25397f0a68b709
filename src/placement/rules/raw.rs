//! The serde form of a `[[table]]` entry and its sorting into a kind
//! (single-node, broadcast, bound, sharded): which fields each kind needs
//! and allows. Value checks come later ([`TableRule::validate`]).
//!
//! Owns: [`RawTableRule`] and `TryFrom<RawTableRule> for TableRule`. Must
//! not check values or other tables (see `validate`).

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTableRule {
    name: String,
    schema: Option<String>,
    key: Option<String>,
    key_type: Option<KeyType>,
    collation: Option<Collation>,
    algorithm: Option<Algorithm>,
    nodes: Option<Vec<String>>,
    tables_per_node: Option<usize>,
    physical_name: Option<NamePattern>,
    bound_to: Option<String>,
    broadcast: Option<bool>,
    node: Option<String>,
    /// Composite rules: the hash slots split again by a date column.
    period: Option<super::super::algorithm::PeriodSplit>,
}

impl TryFrom<RawTableRule> for TableRule {
    type Error = RuleError;

    /// Sorts the fields into a kind; checks only which fields are present.
    fn try_from(raw: RawTableRule) -> Result<Self, RuleError> {
        let broadcast = raw.broadcast.unwrap_or(false);
        if let Some(node) = &raw.node {
            return raw.single_node(node, broadcast);
        }
        let kind = match (broadcast, &raw.bound_to, &raw.algorithm) {
            (true, Some(_), _) => {
                return Err(raw.fail(RuleProblem::ConflictingKinds {
                    first: "broadcast",
                    second: "bound_to",
                }))
            }
            (true, None, Some(_)) => {
                return Err(raw.fail(RuleProblem::ConflictingKinds {
                    first: "broadcast",
                    second: "algorithm",
                }))
            }
            (false, Some(_), Some(_)) => {
                return Err(raw.fail(RuleProblem::ConflictingKinds {
                    first: "bound_to",
                    second: "algorithm",
                }))
            }
            (false, None, None) => return Err(raw.fail(RuleProblem::NoKind)),
            (true, None, None) => raw.broadcast_kind()?,
            (false, Some(parent), None) => raw.bound_kind(parent)?,
            (false, None, Some(algorithm)) => raw.sharded_kind(algorithm)?,
        };
        Ok(TableRule {
            name: raw.name,
            schema: raw.schema,
            kind,
        })
    }
}

impl RawTableRule {
    fn fail(&self, problem: RuleProblem) -> RuleError {
        RuleError {
            table: self.name.clone(),
            problem: Box::new(problem),
        }
    }

    fn not_allowed(
        &self,
        field: &'static str,
        kind: &'static str,
        hint: &'static str,
    ) -> RuleError {
        self.fail(RuleProblem::FieldNotAllowed { field, kind, hint })
    }

    /// `node = "…"`: a single-node table; no other kind or layout field.
    fn single_node(&self, node: &str, broadcast: bool) -> Result<TableRule, RuleError> {
        for (present, other) in [
            (broadcast, "broadcast"),
            (self.bound_to.is_some(), "bound_to"),
            (self.algorithm.is_some(), "algorithm"),
        ] {
            if present {
                return Err(self.fail(RuleProblem::ConflictingKinds {
                    first: "node",
                    second: other,
                }));
            }
        }
        for (present, field) in [
            (self.key.is_some(), "key"),
            (self.key_type.is_some(), "key_type"),
            (self.collation.is_some(), "collation"),
            (self.tables_per_node.is_some(), "tables_per_node"),
            (self.physical_name.is_some(), "physical_name"),
            (self.nodes.is_some(), "nodes"),
            (self.period.is_some(), "period"),
        ] {
            if present {
                return Err(self.not_allowed(
                    field,
                    "single-node",
                    "; a single-node table keeps its name and lives on `node`",
                ));
            }
        }
        Ok(TableRule {
            name: self.name.clone(),
            schema: self.schema.clone(),
            kind: TableKind::Single(SingleTable {
                node: node.to_owned(),
            }),
        })
    }

    /// `broadcast = true`: no key or naming field.
    fn broadcast_kind(&self) -> Result<TableKind, RuleError> {
        let kind = "broadcast";
        for (present, field) in [
            (self.key.is_some(), "key"),
            (self.key_type.is_some(), "key_type"),
            (self.collation.is_some(), "collation"),
            (self.tables_per_node.is_some(), "tables_per_node"),
            (self.physical_name.is_some(), "physical_name"),
            (self.period.is_some(), "period"),
        ] {
            if present {
                return Err(self.not_allowed(
                    field,
                    kind,
                    "; a broadcast copy keeps the logical name",
                ));
            }
        }
        Ok(TableKind::Broadcast(BroadcastTable {
            nodes: self.nodes.clone().unwrap_or_default(),
        }))
    }

    /// `bound_to = "parent"`: the parent's layout; a key column is needed.
    fn bound_kind(&self, parent: &str) -> Result<TableKind, RuleError> {
        let kind = "bound";
        let hint = "; a bound table uses the layout of the table it is bound to";
        if self.nodes.is_some() {
            return Err(self.not_allowed("nodes", kind, hint));
        }
        if self.tables_per_node.is_some() {
            return Err(self.not_allowed("tables_per_node", kind, hint));
        }
        if self.period.is_some() {
            return Err(self.not_allowed("period", kind, hint));
        }
        let key = self
            .key
            .clone()
            .ok_or_else(|| self.fail(RuleProblem::MissingField { field: "key", kind }))?;
        Ok(TableKind::Bound(BoundTable {
            parent: parent.to_owned(),
            key,
            key_type: self.key_type,
            collation: self.collation.clone(),
            physical_name: self.physical_name.clone(),
        }))
    }

    /// `algorithm = …`: key, key type, nodes (but for `time_range`) and
    /// the physical name pattern.
    fn sharded_kind(&self, algorithm: &Algorithm) -> Result<TableKind, RuleError> {
        let kind = "sharded";
        let algorithm = &match (&self.period, algorithm) {
            (Some(_), Algorithm::TimeRange(_)) => {
                return Err(self.fail(RuleProblem::PeriodOverTimeRange))
            }
            (Some(period), hash) => Algorithm::Composite(Box::new(Composite {
                hash: hash.clone(),
                period: period.clone(),
            })),
            (None, algorithm) => algorithm.clone(),
        };
        let key = self
            .key
            .clone()
            .ok_or_else(|| self.fail(RuleProblem::MissingField { field: "key", kind }))?;
        let key_type = self.key_type.ok_or_else(|| {
            self.fail(RuleProblem::MissingField {
                field: "key_type",
                kind,
            })
        })?;
        if self.collation.is_some() && key_type != KeyType::String {
            return Err(self.fail(RuleProblem::CollationWithoutStringKey { key_type }));
        }
        let (nodes, tables_per_node, default_pattern) = match algorithm {
            Algorithm::TimeRange(_) => {
                let kind = "time_range";
                let hint = "; each period names its node";
                if self.nodes.is_some() {
                    return Err(self.not_allowed("nodes", kind, hint));
                }
                if self.tables_per_node.is_some() {
                    return Err(self.not_allowed("tables_per_node", kind, hint));
                }
                (Vec::new(), 1, DEFAULT_PERIOD_PATTERN)
            }
            _ => (
                self.nodes.clone().ok_or_else(|| {
                    self.fail(RuleProblem::MissingField {
                        field: "nodes",
                        kind,
                    })
                })?,
                self.tables_per_node.unwrap_or(1),
                if self.period.is_some() {
                    DEFAULT_COMPOSITE_PATTERN
                } else {
                    DEFAULT_INDEXED_PATTERN
                },
            ),
        };
        let physical_name = match &self.physical_name {
            Some(pattern) => pattern.clone(),
            None => NamePattern::parse(default_pattern).map_err(|_| {
                self.fail(RuleProblem::EmptyField {
                    field: "physical_name",
                })
            })?,
        };
        Ok(TableKind::Sharded(ShardedTable {
            key,
            key_type,
            collation: self.collation.clone().unwrap_or_default(),
            algorithm: algorithm.clone(),
            nodes,
            tables_per_node,
            physical_name,
            moved: Default::default(),
            renamed: Default::default(),
        }))
    }
}
