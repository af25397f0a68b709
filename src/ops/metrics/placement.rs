//! The metrics of where rows live: the shard-move gauges
//! (`shard_move_phase`, `shard_move_rows_copied`, `shard_move_pause_ms`,
//! the copy's progress, `shards_moved`), set from the placement file's
//! move records at each scrape, and the labels of the period tables'
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
    }
}
