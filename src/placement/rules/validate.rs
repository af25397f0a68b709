//! Rule validation: rule-local value checks of a sharded table (nodes,
//! slot counts, bounds, boundaries, periods, physical names) and
//! cross-table checks ([`validate_tables`]: duplicates, bindings and their
//! roots, node names).
//!
//! Owns: every [`RuleProblem`] found after the fields are sorted into a
//! kind. Must not build the router's view (see `placement`).

use super::*;

pub(super) fn check_node_list(nodes: &[String], required: bool) -> Result<(), RuleProblem> {
    if required && nodes.is_empty() {
        return Err(RuleProblem::NoNodes);
    }
    let mut seen = HashSet::new();
    for node in nodes {
        if node.trim().is_empty() {
            return Err(RuleProblem::EmptyField { field: "nodes" });
        }
        if !seen.insert(node.as_str()) {
            return Err(RuleProblem::DuplicateNode { node: node.clone() });
        }
    }
    Ok(())
}

impl ShardedTable {
    pub(super) fn validate(&self, table: &str) -> Result<(), RuleProblem> {
        if self.key.trim().is_empty() {
            return Err(RuleProblem::EmptyField { field: "key" });
        }
        let key_type = self.key_type;
        let unsupported = |algorithm, needs| RuleProblem::KeyTypeNotSupported {
            algorithm,
            needs,
            key_type,
        };
        match &self.algorithm {
            Algorithm::Range { bounds } => {
                if key_type != KeyType::Int {
                    return Err(unsupported("range", "`int`"));
                }
                check_bounds(bounds)?;
            }
            Algorithm::HashRange { boundaries, .. } => check_boundaries(boundaries)?,
            Algorithm::TimeRange(time) => {
                if !matches!(key_type, KeyType::Date | KeyType::DateTime) {
                    return Err(unsupported("time_range", "`date` or `datetime`"));
                }
                check_periods(time)?;
            }
            Algorithm::HashMod { .. } | Algorithm::Jump { .. } => {}
            Algorithm::Composite(composite) => {
                if let Algorithm::Range { bounds } = &composite.hash {
                    if key_type != KeyType::Int {
                        return Err(unsupported("range", "`int`"));
                    }
                    check_bounds(bounds)?;
                }
                if let Algorithm::HashRange { boundaries, .. } = &composite.hash {
                    check_boundaries(boundaries)?;
                }
                if matches!(
                    composite.hash,
                    Algorithm::TimeRange(_) | Algorithm::Composite(_)
                ) {
                    return Err(RuleProblem::PeriodOverTimeRange);
                }
                // The periods are one span built from `start` and `horizon`
                // (never reversed); the hash slot names the node.
            }
        }
        if !matches!(self.algorithm, Algorithm::TimeRange(_)) {
            check_node_list(&self.nodes, true)?;
            if self.tables_per_node == 0 {
                return Err(RuleProblem::ZeroTablesPerNode);
            }
            let grid_slots = self.nodes.len().saturating_mul(self.tables_per_node);
            let hash = self.composite().map_or(&self.algorithm, |c| &c.hash);
            if let Some(algorithm_slots) = hash.own_slot_count() {
                if algorithm_slots != grid_slots {
                    let detail = match hash {
                        Algorithm::Range { bounds } => format!("{} range bounds", bounds.len()),
                        Algorithm::HashRange { boundaries, .. } => {
                            format!("{} hash_range boundaries", boundaries.len())
                        }
                        other => format!("the {} algorithm", other.name()),
                    };
                    return Err(RuleProblem::SlotCountMismatch {
                        detail,
                        algorithm_slots,
                        node_count: self.nodes.len(),
                        tables_per_node: self.tables_per_node,
                        grid_slots,
                    });
                }
            }
        }
        let slot_count = self.slot_count();
        if slot_count > MAX_SLOTS {
            return Err(RuleProblem::TooManySlots {
                count: slot_count,
                max: MAX_SLOTS,
            });
        }
        self.check_names(table, &self.physical_name)
    }

    /// Checks that `pattern` gives valid, per-node unique names for every
    /// slot of this layout.
    pub(super) fn check_names(
        &self,
        table: &str,
        pattern: &NamePattern,
    ) -> Result<(), RuleProblem> {
        let time_range = matches!(
            self.algorithm,
            Algorithm::TimeRange(_) | Algorithm::Composite(_)
        );
        if let (false, Some(placeholder)) = (time_range, pattern.period_placeholder()) {
            return Err(RuleProblem::PeriodPlaceholderWithoutTimeRange {
                pattern: pattern.to_string(),
                placeholder,
            });
        }
        let slot_count = self.slot_count();
        if slot_count > MAX_SLOTS {
            return Err(RuleProblem::TooManySlots {
                count: slot_count,
                max: MAX_SLOTS,
            });
        }
        let mut seen: std::collections::HashMap<(String, String), usize> = Default::default();
        for slot in 0..slot_count {
            let Some(target) = self.physical_target(table, pattern, slot) else {
                continue;
            };
            if let Some(reason) = invalid_table_name_reason(&target.table) {
                return Err(RuleProblem::InvalidPhysicalName {
                    pattern: pattern.to_string(),
                    name: target.table,
                    reason,
                });
            }
            if let Some(first_slot) = seen.insert((target.node.clone(), target.table.clone()), slot)
            {
                return Err(RuleProblem::DuplicatePhysicalName {
                    pattern: pattern.to_string(),
                    name: target.table,
                    node: target.node,
                    first_slot,
                    second_slot: slot,
                    hint: if self.composite().is_some() {
                        "{index} and {period}"
                    } else if time_range {
                        "{period}"
                    } else {
                        "{index} or {local_index}"
                    },
                });
            }
        }
        Ok(())
    }
}

fn check_bounds(bounds: &[i64]) -> Result<(), RuleProblem> {
    for (index, pair) in bounds.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(RuleProblem::BoundsNotIncreasing {
                position: index + 2,
                bound: pair[1],
                previous_position: index + 1,
                previous: pair[0],
            });
        }
    }
    Ok(())
}

fn check_boundaries(boundaries: &[KeyspaceBoundary]) -> Result<(), RuleProblem> {
    let mut previous: Option<u64> = None;
    for (index, boundary) in boundaries.iter().enumerate() {
        let increasing = previous.map_or(boundary.0 > 0, |previous| boundary.0 > previous);
        if !increasing {
            return Err(RuleProblem::BoundariesNotIncreasing {
                position: index + 1,
                boundary: String::from(*boundary),
            });
        }
        previous = Some(boundary.0);
    }
    Ok(())
}

fn check_periods(time: &TimeRange) -> Result<(), RuleProblem> {
    if time.periods.is_empty() {
        return Err(RuleProblem::NoPeriods);
    }
    for span in &time.periods {
        if span.to < span.from {
            return Err(RuleProblem::PeriodReversed {
                from: span.from.name(),
                to: span.to.name(),
            });
        }
        if span.node.trim().is_empty() {
            return Err(RuleProblem::PeriodWithoutNode {
                from: span.from.name(),
                to: span.to.name(),
            });
        }
    }
    for pair in time.periods.windows(2) {
        if pair[1].from <= pair[0].to {
            return Err(RuleProblem::PeriodsOutOfOrder {
                earlier_from: pair[0].from.name(),
                earlier_to: pair[0].to.name(),
                later_from: pair[1].from.name(),
                later_to: pair[1].to.name(),
            });
        }
    }
    Ok(())
}

pub(super) fn same_schema(first: &Option<String>, second: &Option<String>) -> bool {
    match (first, second) {
        (Some(first), Some(second)) => first == second,
        _ => true,
    }
}

/// Follows `bound_to` from `rule` to the sharded root; the chain of names
/// walked is returned with the error.
pub(super) fn resolve_root<'a>(
    rule: &'a TableRule,
    tables: &'a [TableRule],
) -> Result<(&'a TableRule, &'a ShardedTable), RuleProblem> {
    let mut chain: Vec<&str> = vec![&rule.name];
    let mut current = rule;
    loop {
        match &current.kind {
            TableKind::Sharded(sharded) => return Ok((current, sharded)),
            TableKind::Broadcast(_) => {
                return Err(RuleProblem::BoundToBroadcast {
                    parent: current.name.clone(),
                })
            }
            TableKind::Single(_) => {
                return Err(RuleProblem::BoundToSingle {
                    parent: current.name.clone(),
                })
            }
            TableKind::Bound(bound) => {
                let parent = tables
                    .iter()
                    .find(|candidate| {
                        candidate.name == bound.parent
                            && same_schema(&candidate.schema, &current.schema)
                    })
                    .ok_or_else(|| RuleProblem::UnknownParent {
                        parent: bound.parent.clone(),
                    })?;
                if chain.contains(&parent.name.as_str()) || chain.len() > tables.len() {
                    chain.push(&parent.name);
                    return Err(RuleProblem::BindingCycle {
                        chain: chain.join(" → "),
                    });
                }
                chain.push(&parent.name);
                current = parent;
            }
        }
    }
}

/// The physical name pattern of a bound table under its root.
pub(super) fn bound_pattern(bound: &BoundTable, root: &ShardedTable) -> NamePattern {
    bound.physical_name.clone().unwrap_or_else(|| {
        let default = match root.algorithm {
            Algorithm::TimeRange(_) => DEFAULT_PERIOD_PATTERN,
            _ => DEFAULT_INDEXED_PATTERN,
        };
        // The defaults are valid patterns; fall back to the root's pattern
        // rather than panic should that ever change.
        NamePattern::parse(default).unwrap_or_else(|_| root.physical_name.clone())
    })
}

/// Checks that need the whole rule set: duplicate rules, undefined nodes,
/// `bound_to` targets (existence, cycles, key type and collation agreement,
/// physical names under the parent's layout). Rule-local problems are
/// [`TableRule::validate`]'s job and are not repeated here.
pub fn validate_tables(tables: &[TableRule], node_names: &[&str]) -> Vec<RuleError> {
    let mut errors = Vec::new();
    let known_nodes: HashSet<&str> = node_names.iter().copied().collect();
    for (index, rule) in tables.iter().enumerate() {
        let mut fail = |problem| {
            errors.push(RuleError {
                table: rule.name.clone(),
                problem: Box::new(problem),
            })
        };
        let duplicate = tables[..index]
            .iter()
            .any(|earlier| earlier.name == rule.name && same_schema(&earlier.schema, &rule.schema));
        if duplicate {
            fail(RuleProblem::DuplicateTable);
        }
        let used_nodes: Vec<&str> = match &rule.kind {
            TableKind::Sharded(sharded) => sharded.node_names(),
            TableKind::Broadcast(broadcast) => broadcast.nodes.iter().map(String::as_str).collect(),
            TableKind::Single(single) => vec![single.node.as_str()],
            TableKind::Bound(_) => Vec::new(),
        };
        for node in used_nodes {
            if !known_nodes.contains(node) {
                fail(RuleProblem::UnknownNode {
                    node: node.to_owned(),
                });
            }
        }
        let TableKind::Bound(bound) = &rule.kind else {
            continue;
        };
        let (root_rule, root) = match resolve_root(rule, tables) {
            Ok(found) => found,
            Err(problem) => {
                fail(problem);
                continue;
            }
        };
        if root.composite().is_some() {
            fail(RuleProblem::BoundToComposite {
                parent: root_rule.name.clone(),
            });
            continue;
        }
        if let Some(own) = bound.key_type {
            if own != root.key_type {
                fail(RuleProblem::BoundKeyTypeMismatch {
                    own,
                    root: root.key_type,
                    root_table: root_rule.name.clone(),
                });
            }
        }
        if let Some(own) = &bound.collation {
            if own != &root.collation {
                fail(RuleProblem::BoundCollationMismatch {
                    own: own.to_string(),
                    root: root.collation.to_string(),
                    root_table: root_rule.name.clone(),
                });
            }
        }
        if let Err(problem) = root.check_names(&rule.name, &bound_pattern(bound, root)) {
            fail(problem);
        }
    }
    errors
}
