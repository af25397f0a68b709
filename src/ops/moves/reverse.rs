//! Sending a switched move's traffic back to its source without a new
//! copy (`shardcat shards move … --reverse`, before `--cleanup`).
//!
//! At the switch the target's GTID position is recorded (while the writes
//! are paused: nothing was written to the moved tables there since); right
//! after it a reverse channel on the source (`<channel>_reverse`, target →
//! source, filtered to the moved tables) starts from that position, so the
//! source keeps every write made on the target. The reverse switch is the
//! forward one the other way: pause the writes of the moved tables (now on
//! the target), lock them there, wait until the source has the target's
//! last GTID, compare row counts, put back the slot's `[[moved]]` entry as
//! it was before the move, switch the proxies, stop the channel, resume.
//! The move's phase becomes `reversed`; `--cleanup` then drops the
//! target's stale copy.
//!
//! Owns: the reverse channel and the order of the reverse switch. Must
//! not: copy rows or verify chunks (`steps.rs`, `verify.rs`).

use super::progress::Progress;
use super::steps::{reverse_channel, Cutover, Steps};
use super::verify::Verified;
use super::{save, Resolved};
use crate::config::placement_file::MoveRecord;

/// Starts (or restarts, with its filter) the reverse channel of a switched
/// move from the position recorded at the switch.
pub(super) async fn open(
    steps: &Steps<'_>,
    record: &MoveRecord,
    progress: &Progress,
) -> Result<(), String> {
    if progress.now.reverse_gtid.is_empty() {
        return Err(format!(
            "no reverse position is recorded for {}.{} slot {} (switched by an older shardcat): \
             it cannot be reversed without a new move",
            record.schema, record.table, record.slot
        ));
    }
    steps
        .open_channel(
            &record.from,
            &record.to,
            &reverse_channel(record),
            &progress.now.reverse_gtid,
            record,
        )
        .await
}

/// The reverse switch (see the module doc).
pub(super) async fn run(
    steps: &Steps<'_>,
    resolved: &mut Resolved,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let record = resolved.record.clone();
    if record.phase != "switched" {
        return Err(format!(
            "the move is in phase {}: --reverse only follows a switch (before --cleanup)",
            record.phase
        ));
    }
    if finish_if_reversed(steps, resolved, progress, say).await? {
        return Ok(());
    }
    open(steps, &record, progress).await?;
    progress.step("reversing")?;
    let channel = reverse_channel(&record);
    let filter = super::recovery::filter_of(&record);
    steps
        .wait_caught_up(&record.to, &record.from, &channel, &filter, progress, say)
        .await?;
    let check = Verified::counts_only(&record);
    let cut = Cutover {
        old: record.to.clone(),
        new: record.from.clone(),
        channel,
        check: &check,
        placement: progress.now.moved_before.clone(),
        reversible: false,
    };
    let (pause, unswitched) = steps.cutover(resolved, &cut, progress, say).await?;
    resolved.record.phase = "reversed".into();
    resolved.record.pause_ms = pause.as_millis() as u64;
    save(resolved)?;
    progress.step("reversed")?;
    say(format!(
        "reversed: writes paused {} ms; the shard is back on `{}`, the copy on `{}` stays until --cleanup",
        pause.as_millis(),
        record.from,
        record.to
    ));
    if !unswitched.is_empty() {
        return Err(super::recovery::unswitched_error(
            &unswitched,
            steps.request().max_pause,
        ));
    }
    Ok(())
}

/// A reverse switch that passed its point of no return (the placement
/// file no longer names the target) before the command died: finished
/// (`recovery::finish_switch`), the phase recorded `reversed`; true if so.
pub(super) async fn finish_if_reversed(
    steps: &Steps<'_>,
    resolved: &mut Resolved,
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<bool, String> {
    let file = crate::config::placement_file::PlacementFile::read(&resolved.placement_path)?;
    let record = &resolved.record;
    if record.phase != "switched" || super::recovery::placed(&file, &resolved.rule_schema, record) {
        return Ok(false);
    }
    let channel = (
        record.to.clone(),
        record.from.clone(),
        reverse_channel(record),
        super::recovery::filter_of(record),
    );
    super::recovery::finish_switch(steps, &[channel], progress, say).await?;
    resolved.record.phase = "reversed".into();
    save(resolved)?;
    progress.step("reversed")?;
    say(format!(
        "reversed (finished): the shard is back on `{}`",
        resolved.record.from
    ));
    Ok(true)
}
