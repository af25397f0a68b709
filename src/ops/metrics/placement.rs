//! The metrics of where rows live: the shard-move gauges
//! (`shard_move_phase`, `shard_move_rows_copied`, `shard_move_pause_ms`,
//! the copy's progress, `shards_moved`) and the resplit gauges
//! (`shard_resplit_*`: phase, rows, catch-up lag, verification, pause),
//! set from the placement file's move and resplit records and their
//! `[[progress]]` at each scrape, and the labels of the period tables'
//! families (`period_tables`, `period_tables_missing`, kept by the table
//! jobs through [`super::Metrics`]).
//!
//! Owns: those families, their labels and registration. Must not: read
//! the placement file itself, drive moves (that is `ops::moves`) or
//! create period tables (`ops::tables`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A `time_range` logical table and what the table jobs did to it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeriodTableLabels {
    pub table: String,
    /// `created`, `retired`, `failed` (counters); `missing` (gauge: the
    /// current or next period without a table).
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MoveLabels {
    /// `schema.table` of the moving shard's sharded table.
    pub table: String,
    pub slot: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MovePhaseLabels {
    pub table: String,
    pub slot: String,
    pub phase: &'static str,
}

/// A resplit: `schema.table` of its sharded table.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResplitLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResplitPhaseLabels {
    pub table: String,
    pub phase: &'static str,
}

/// The phases of a resplit, each reported by `shard_resplit_phase`.
pub const RESPLIT_PHASES: [&str; 6] = [
    "copying",
    "catching_up",
    "switched",
    "reversing",
    "reversed",
    "cleaned",
];

/// The phases of a shard move (`ops::moves`), each reported by
/// `shard_move_phase` (1 for the move's current phase, 0 for the others).
pub const MOVE_PHASES: [&str; 5] = ["copying", "catching_up", "switched", "reversed", "cleaned"];

/// The shard-move families of [`super::Metrics`].
#[derive(Default)]
pub(super) struct MoveFamilies {
    move_phase: Family<MovePhaseLabels, Gauge>,
    move_rows_copied: Family<MoveLabels, Gauge>,
    move_pause_ms: Family<MoveLabels, Gauge>,
    move_progress: crate::ops::moves::progress::MoveProgressGauges,
    shards_moved: Gauge,
    resplit_phase: Family<ResplitPhaseLabels, Gauge>,
    resplit: ResplitGauges,
}

/// The figures of a resplit (its record and its `[[progress]]`).
#[derive(Default)]
struct ResplitGauges {
    rows_copied: Family<ResplitLabels, Gauge>,
    rows_total: Family<ResplitLabels, Gauge>,
    lag_seconds: Family<ResplitLabels, Gauge>,
    lag_bytes: Family<ResplitLabels, Gauge>,
    chunks_total: Family<ResplitLabels, Gauge>,
    chunks_verified: Family<ResplitLabels, Gauge>,
    chunks_deferred: Family<ResplitLabels, Gauge>,
    keys_rechecked: Family<ResplitLabels, Gauge>,
    keys_deferred: Family<ResplitLabels, Gauge>,
    pause_ms: Family<ResplitLabels, Gauge>,
}

impl ResplitGauges {
    fn register(&self, r: &mut Registry) {
        let figures = [
            ("shard_resplit_rows_copied", "Rows a resplit copied from its snapshots (all its tables)", &self.rows_copied),
            ("shard_resplit_rows_total", "The old tables' estimate of a resplit's rows (InnoDB statistics)", &self.rows_total),
            ("shard_resplit_lag_seconds", "Seconds a resplit's catch-up is behind (age of the last replayed transaction while behind; -1 unknown)", &self.lag_seconds),
            ("shard_resplit_lag_bytes", "Bytes of binary log a resplit's readers are behind their nodes' log ends (-1 unknown)", &self.lag_bytes),
            ("shard_resplit_chunks_total", "Primary-key chunks a resplit's verification compares", &self.chunks_total),
            ("shard_resplit_chunks_verified", "Chunks compared so far by a resplit's verification (while writes continue)", &self.chunks_verified),
            ("shard_resplit_chunks_deferred", "Chunks written during every verification round, compared inside the write pause", &self.chunks_deferred),
            ("shard_resplit_keys_rechecked", "Keys written during a resplit's verification, compared while writes continue", &self.keys_rechecked),
            ("shard_resplit_keys_deferred", "Keys written since the last key round, compared inside the write pause", &self.keys_deferred),
            ("shard_resplit_pause_ms", "The write pause of a resplit's switch, milliseconds (0 before it)", &self.pause_ms),
        ];
        for (name, help, family) in figures {
            r.register(name, help, family.clone());
        }
    }

    fn set(
        &self,
        labels: &ResplitLabels,
        r: &crate::config::placement_file::ResplitRecord,
        p: Option<&crate::config::placement_file::MoveProgress>,
    ) {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let p = p.cloned().unwrap_or_default();
        let set = |f: &Family<ResplitLabels, Gauge>, v: i64| {
            f.get_or_create(labels).set(v);
        };
        set(&self.rows_copied, n(r.rows_copied.max(p.rows_copied)));
        set(&self.rows_total, n(p.rows_total));
        set(&self.lag_seconds, p.lag_seconds.map_or(-1, n));
        set(&self.lag_bytes, p.lag_bytes.map_or(-1, n));
        set(&self.chunks_total, n(p.chunks_total));
        set(&self.chunks_verified, n(p.chunks_checked));
        set(&self.chunks_deferred, n(p.chunks_deferred));
        set(&self.keys_rechecked, n(p.keys_rechecked));
        set(&self.keys_deferred, n(p.keys_deferred));
        set(&self.pause_ms, n(r.pause_ms));
    }
}

impl MoveFamilies {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "shard_move_phase",
            "Shard moves under way (placement file): 1 for the move's phase (copying, catching_up, switched, reversed, cleaned)",
            self.move_phase.clone(),
        );
        r.register(
            "shard_move_rows_copied",
            "Rows a shard move copied from its snapshot (all its tables)",
            self.move_rows_copied.clone(),
        );
        r.register(
            "shard_move_pause_ms",
            "The write pause of a shard move's switch, milliseconds (0 before it)",
            self.move_pause_ms.clone(),
        );
        self.move_progress.register(r);
        r.register(
            "shards_moved",
            "Shards placed off their rule's node by moves (placement file)",
            self.shards_moved.clone(),
        );
        r.register(
            "shard_resplit_phase",
            "Resplits (tables_per_node changes) recorded in the placement file: 1 for the resplit's phase (copying, catching_up, switched, reversing, reversed, cleaned)",
            self.resplit_phase.clone(),
        );
        self.resplit.register(r);
    }

    /// Sets the gauges from the placement file's records.
    pub(super) fn set(&self, file: &crate::config::placement_file::PlacementFile) {
        self.shards_moved.set(file.moved.len() as i64);
        for m in &file.moves {
            let table = format!("{}.{}", m.schema, m.table);
            let slot = m.slot.to_string();
            for phase in MOVE_PHASES {
                self.move_phase
                    .get_or_create(&MovePhaseLabels {
                        table: table.clone(),
                        slot: slot.clone(),
                        phase,
                    })
                    .set(i64::from(m.phase == phase));
            }
            let labels = MoveLabels { table, slot };
            // While the copy runs its progress has the rows copied so far.
            let progress = file.progress_of(m);
            let copied = progress.map_or(0, |p| p.rows_copied).max(m.rows_copied);
            self.move_rows_copied
                .get_or_create(&labels)
                .set(i64::try_from(copied).unwrap_or(i64::MAX));
            if let Some(p) = progress {
                self.move_progress.set(&labels, p);
            }
            self.move_pause_ms
                .get_or_create(&labels)
                .set(i64::try_from(m.pause_ms).unwrap_or(i64::MAX));
        }
        for r in &file.resplits {
            let table = format!("{}.{}", r.schema, r.table);
            for phase in RESPLIT_PHASES {
                self.resplit_phase
                    .get_or_create(&ResplitPhaseLabels {
                        table: table.clone(),
                        phase,
                    })
                    .set(i64::from(r.phase == phase));
            }
            let labels = ResplitLabels { table };
            self.resplit.set(&labels, r, file.resplit_progress(r));
        }
    }
}
