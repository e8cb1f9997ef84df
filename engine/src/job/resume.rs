//! Resume offsets: per Kafka partition, the first offset whose records may still be needed.
//!
//! A restarted job must reproduce every row that was not yet durable, and a row depends on
//! the records of its last [`HISTORY_PANES`] panes. Records of one pane are spread over a
//! partition (out-of-order producers), so the tracker remembers, per partition and event-time
//! pane, the first offset that carried a record of that pane. The resume offset for "rows
//! from pane `F` on are not durable" is the smallest such offset over panes
//! `>= F + 1 - HISTORY_PANES`, or the next unread offset when none of the consumed records
//! is needed any more. Topics whose panes are persisted as state (the span topics of a Kafka
//! job, see `sink::postgres::PaneStore`) need their records only from `F - context` on, where
//! the context is the trace-assembly wait: the call edges of minute `F` pair spans of minutes
//! `F - context ..= F`.

use std::collections::{BTreeMap, HashSet};

use crate::features::HISTORY_PANES;
use crate::sink::postgres::ResumeOffset;
use crate::time::Pane;

#[derive(Debug, Default)]
struct PartitionProgress {
    next: i64,
    first_by_pane: BTreeMap<Pane, i64>,
}

/// Per-partition progress of one worker's Kafka partitions.
#[derive(Debug, Default)]
pub struct ResumeTracker {
    partitions: BTreeMap<(String, i32), PartitionProgress>,
    /// Topics whose closed panes are persisted: no history needs replaying for them.
    persisted: HashSet<String>,
    /// Panes before the first non-durable one that persisted topics still replay: trace
    /// assembly pairs spans up to this many minutes apart.
    context: Pane,
}

/// The first pane whose records rows from `not_durable_from` on depend on.
pub fn needed_from(not_durable_from: Pane) -> Pane {
    (not_durable_from + 1).saturating_sub(HISTORY_PANES)
}

impl ResumeTracker {
    /// A tracker for which the closed panes of `persisted` topics are kept as state; those
    /// topics replay only `context` panes before the first non-durable one.
    pub fn with_persisted_topics(
        persisted: impl IntoIterator<Item = String>,
        context: Pane,
    ) -> Self {
        ResumeTracker {
            partitions: BTreeMap::new(),
            persisted: persisted.into_iter().collect(),
            context,
        }
    }

    /// Records that the record at `offset` was consumed and carried data of `panes`
    /// (none for a record that was dead-lettered or late).
    pub fn consumed(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        panes: impl IntoIterator<Item = Pane>,
    ) {
        let key = (topic.to_string(), partition);
        let progress = self.partitions.entry(key).or_default();
        progress.next = progress.next.max(offset + 1);
        for pane in panes {
            // Offsets grow within a partition, so the first one seen for a pane is its least.
            progress.first_by_pane.entry(pane).or_insert(offset);
        }
    }

    /// Resume offsets for "rows of panes before `not_durable_from` are durable"
    /// (`Pane::MAX`: all are); forgets the panes no longer needed.
    pub fn resume_offsets(&mut self, not_durable_from: Pane) -> Vec<ResumeOffset> {
        let history = if not_durable_from == Pane::MAX {
            Pane::MAX
        } else {
            needed_from(not_durable_from)
        };
        let persisted = &self.persisted;
        let context = self.context;
        self.partitions
            .iter_mut()
            .map(|((topic, partition), progress)| {
                let needed = match persisted.contains(topic) {
                    true => not_durable_from.saturating_sub(context),
                    false => history,
                };
                progress.first_by_pane = progress.first_by_pane.split_off(&needed);
                let offset = progress
                    .first_by_pane
                    .values()
                    .copied()
                    .min()
                    .unwrap_or(progress.next);
                ResumeOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    offset,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(tracker: &mut ResumeTracker, durable_before: Pane) -> Vec<i64> {
        tracker
            .resume_offsets(durable_before)
            .into_iter()
            .map(|o| o.offset)
            .collect()
    }

    #[test]
    fn resume_at_the_first_record_of_the_oldest_needed_pane() {
        let mut tracker = ResumeTracker::default();
        // Offsets 10..20 carry pane 100, 20..30 pane 101; offset 25 also a straggler of 100.
        for offset in 10..30 {
            let pane = if offset < 20 { 100 } else { 101 };
            tracker.consumed("t", 0, offset, [pane]);
        }
        tracker.consumed("t", 0, 25, [100]);
        // Rows before 100 + HISTORY_PANES are durable: pane 100's records are still needed.
        assert_eq!(offsets(&mut tracker, 100 + HISTORY_PANES - 1), vec![10]);
        // Pane 100 no longer needed: resume at pane 101's first record.
        assert_eq!(offsets(&mut tracker, 100 + HISTORY_PANES), vec![20]);
        // Nothing needed: the next unread offset.
        assert_eq!(offsets(&mut tracker, Pane::MAX), vec![30]);
    }

    #[test]
    fn persisted_topics_resume_at_the_trace_context_before_the_first_pane_not_durable() {
        let mut tracker = ResumeTracker::with_persisted_topics(["spans".to_string()], 1);
        for (offset, pane) in [(0, 100), (1, 101), (2, 102)] {
            tracker.consumed("spans", 0, offset, [pane]);
            tracker.consumed("metrics", 0, offset, [pane]);
        }
        let resume: Vec<(String, i64)> = tracker
            .resume_offsets(102)
            .into_iter()
            .map(|o| (o.topic, o.offset))
            .collect();
        assert_eq!(
            resume,
            vec![("metrics".to_string(), 0), ("spans".to_string(), 1)],
            "metrics keep the hour of history, spans start one pane of context before 102"
        );
    }

    #[test]
    fn records_without_usable_data_only_advance_the_next_offset() {
        let mut tracker = ResumeTracker::default();
        tracker.consumed("t", 3, 7, []);
        tracker.consumed("u", 0, 1, [5]);
        let all = tracker.resume_offsets(Pane::MAX);
        assert_eq!(
            all.iter()
                .map(|o| (o.topic.as_str(), o.partition, o.offset))
                .collect::<Vec<_>>(),
            vec![("t", 3, 8), ("u", 0, 2)]
        );
    }
}
