//! Per-partition watermarks with bounded out-of-orderness, idleness and allowed lateness.
//!
//! Each input partition (a Kafka partition, a replayed file, a simulator shard) tracks the
//! largest event time it has delivered. Its watermark trails that by the out-of-orderness
//! bound; the source's watermark is the minimum over partitions that are neither finished nor
//! idle (no record for `idle_timeout` of wall-clock time), so a quiet partition does not hold
//! every window open. The watermark never moves backwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{pane_of, Pane};
use crate::config::WatermarkConfig;

#[derive(Debug)]
struct Partition {
    max_event_ns: Option<u64>,
    last_record: Instant,
    finished: bool,
}

/// Watermark state of one worker's partitions.
#[derive(Debug)]
pub struct Watermarks {
    config: WatermarkConfig,
    partitions: BTreeMap<u32, Partition>,
    watermark_ns: u64,
}

impl Watermarks {
    /// A tracker for the given partitions; each holds the watermark until it delivers data,
    /// finishes, or goes idle.
    pub fn new(
        config: WatermarkConfig,
        partitions: impl IntoIterator<Item = u32>,
        now: Instant,
    ) -> Self {
        let partitions = partitions
            .into_iter()
            .map(|id| {
                (
                    id,
                    Partition {
                        max_event_ns: None,
                        last_record: now,
                        finished: false,
                    },
                )
            })
            .collect();
        Watermarks {
            config,
            partitions,
            watermark_ns: 0,
        }
    }

    /// Records that `partition` delivered an event at `event_ns`.
    pub fn observe(&mut self, partition: u32, event_ns: u64, now: Instant) {
        let entry = self.partitions.entry(partition).or_insert(Partition {
            max_event_ns: None,
            last_record: now,
            finished: false,
        });
        entry.max_event_ns = Some(entry.max_event_ns.map_or(event_ns, |max| max.max(event_ns)));
        entry.last_record = now;
    }

    /// The latest event time any partition delivered, ns.
    pub fn max_event_ns(&self) -> Option<u64> {
        self.partitions
            .values()
            .filter_map(|p| p.max_event_ns)
            .max()
    }

    /// Marks a partition as exhausted: it no longer holds the watermark.
    pub fn finish(&mut self, partition: u32) {
        if let Some(entry) = self.partitions.get_mut(&partition) {
            entry.finished = true;
        }
    }

    /// The current watermark (ns); monotone.
    pub fn watermark_ns(&mut self, now: Instant) -> u64 {
        let bound = self.config.max_out_of_orderness_ms * 1_000_000;
        let idle = Duration::from_millis(self.config.idle_timeout_ms);
        let active = self
            .partitions
            .values()
            .filter(|p| !p.finished && now.duration_since(p.last_record) < idle);
        let mut candidate: Option<u64> = None;
        for partition in active {
            // A live partition that has delivered nothing yet holds everything back.
            let mark = partition
                .max_event_ns
                .map_or(0, |max| max.saturating_sub(bound));
            candidate = Some(candidate.map_or(mark, |c| c.min(mark)));
        }
        if let Some(mark) = candidate {
            self.watermark_ns = self.watermark_ns.max(mark);
        }
        self.watermark_ns
    }

    /// The earliest pane that may still receive records: windows before it are closed.
    pub fn open_pane(&mut self, now: Instant) -> Pane {
        let lateness = self.config.allowed_lateness_ms * 1_000_000;
        pane_of(self.watermark_ns(now).saturating_sub(lateness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn config() -> WatermarkConfig {
        WatermarkConfig {
            max_out_of_orderness_ms: 5_000,
            allowed_lateness_ms: 10_000,
            idle_timeout_ms: 1_000,
        }
    }

    #[test]
    fn slowest_partition_holds_the_watermark() {
        let now = Instant::now();
        let mut marks = Watermarks::new(config(), [0, 1], now);
        marks.observe(0, 1_000 * S, now);
        assert_eq!(
            marks.watermark_ns(now),
            0,
            "partition 1 has delivered nothing yet"
        );
        marks.observe(1, 500 * S, now);
        assert_eq!(marks.watermark_ns(now), 495 * S);
    }

    #[test]
    fn idle_and_finished_partitions_stop_holding_it() {
        let start = Instant::now();
        let mut marks = Watermarks::new(config(), [0, 1, 2], start);
        let later = start + Duration::from_millis(1_500);
        marks.observe(0, 1_000 * S, later);
        marks.observe(1, 100 * S, start);
        marks.finish(2);
        assert_eq!(
            marks.watermark_ns(later),
            995 * S,
            "partition 1 is idle, 2 finished"
        );
    }

    #[test]
    fn watermark_never_goes_back_and_lateness_delays_closing() {
        let now = Instant::now();
        let mut marks = Watermarks::new(config(), [0], now);
        marks.observe(0, 185 * S, now);
        // watermark 180 s, minus 10 s lateness = 170 s: pane 2 (120..180 s) still open.
        assert_eq!(marks.open_pane(now), 2);
        marks.observe(0, 100 * S, now);
        assert_eq!(marks.watermark_ns(now), 180 * S);
        marks.observe(0, 195 * S, now);
        assert_eq!(marks.open_pane(now), 3);
    }
}
