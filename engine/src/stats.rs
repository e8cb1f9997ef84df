//! Counters a running job shares with its console and its summary.
//!
//! One `Stats` per process, shared by its workers; every counter only grows, so a reader
//! can turn two snapshots into rates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the window-close-to-commit latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A cumulative latency histogram in the Prometheus sense, lock-free.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS`] (not cumulative here).
    buckets: [AtomicU64; 12],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bound, the total count and the sum in seconds.
    pub fn read(&self) -> (Vec<u64>, u64, f64) {
        let mut running = 0;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, self.count.load(Ordering::Relaxed), sum)
    }

    /// The smallest bucket bound below which at least `quantile` of observations fall.
    pub fn quantile_bound(&self, quantile: f64) -> Option<f64> {
        let (cumulative, count, _) = self.read();
        let needed = (quantile * count as f64).ceil() as u64;
        (count > 0).then(|| {
            cumulative
                .iter()
                .position(|c| *c >= needed)
                .map_or(f64::INFINITY, |i| LATENCY_BUCKETS[i])
        })
    }
}

/// Longest the watermark may stand still while records keep arriving before the job reports
/// itself not ready: windows close every minute once the allowed lateness has passed, so five
/// minutes without one closing while input flows means the dataflow is stuck.
pub const WATERMARK_STALL: Duration = Duration::from_secs(300);

/// What readiness last saw of the watermark: the first open pane, since when, and the records
/// read by then.
#[derive(Debug, Clone, Copy)]
pub struct WatermarkSeen {
    /// `closed_before_pane` as last seen.
    pub pane: u64,
    /// When it last moved (or was first seen).
    pub since: std::time::Instant,
    /// Records read when it last moved.
    pub messages: u64,
}

impl WatermarkSeen {
    /// Updates with the current pane and record count at `now`; returns how long the
    /// watermark has stood still while records arrived, if longer than `bound`.
    pub fn stalled(
        &mut self,
        pane: u64,
        messages: u64,
        now: std::time::Instant,
        bound: Duration,
    ) -> Option<Duration> {
        if pane != self.pane {
            *self = WatermarkSeen {
                pane,
                since: now,
                messages,
            };
            return None;
        }
        let still = now.saturating_duration_since(self.since);
        (messages > self.messages && still > bound).then_some(still)
    }
}

/// Per Kafka partition: records consumed and the lag behind the partition's end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PartitionCounters {
    /// Records consumed.
    pub records: u64,
    /// High watermark minus the next offset to consume, as last seen.
    pub lag: i64,
}

/// Process-wide job counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// OTLP records (requests) read from sources.
    pub messages: AtomicU64,
    /// Spans decoded and accepted.
    pub spans: AtomicU64,
    /// Spans whose parent never arrived within the pairing wait.
    pub unpaired_spans: AtomicU64,
    /// Calls attributed to the overflow node because a worker's minute hit the edge cap.
    pub overflow_calls: AtomicU64,
    /// Incidents raised.
    pub incidents: AtomicU64,
    /// Metric points decoded and accepted.
    pub metric_points: AtomicU64,
    /// Log records decoded and accepted.
    pub log_records: AtomicU64,
    /// Decoded metric points of metrics no feature reads (see `features::metric_map`).
    pub unmapped_points: AtomicU64,
    /// Spans and points of environments the job does not process (`[identity] environments`).
    pub other_environments: AtomicU64,
    /// Workers in their loop now: the job is ready (`/readyz`) while this is above zero.
    pub workers_running: AtomicU64,
    /// Requests to the OTLP receivers.
    pub receiver_requests: AtomicU64,
    /// Receiver requests refused because the job was behind or stopping (HTTP 429/503, gRPC
    /// RESOURCE_EXHAUSTED/UNAVAILABLE).
    pub receiver_refused: AtomicU64,
    /// Whole records that could not be framed or decoded.
    pub bad_messages: AtomicU64,
    /// Individual spans or points rejected inside otherwise readable records.
    pub bad_records: AtomicU64,
    /// Spans or points that arrived after their window closed.
    pub late_records: AtomicU64,
    /// Records dropped as exact copies of a record just seen on the same partition.
    pub duplicates: AtomicU64,
    /// Records written to the dead letters (undecodable, or holding rejected spans/points).
    pub dead_letters: AtomicU64,
    /// Feature rows emitted (closed (service, minute) windows).
    pub rows: AtomicU64,
    /// Parquet files completed.
    pub files: AtomicU64,
    /// Latest event time any source reported, ns.
    pub event_clock_ns: AtomicU64,
    /// The latest event time when the input ended, ns (0 while it runs): a minute ending
    /// after it was closed before the input covered it (see `score::detect::closed_early`).
    pub input_end_ns: AtomicU64,
    /// Workers of this process that started their loop, and those whose input ended: the
    /// input has ended when all have.
    pub inputs_started: AtomicU64,
    /// See [`Stats::inputs_started`].
    pub inputs_ended: AtomicU64,
    /// Latest closed minute (pane index + 1 = first open pane), over all workers.
    pub closed_before_pane: AtomicU64,
    /// Feature rows made durable by the sinks.
    pub rows_written: AtomicU64,
    /// Operation rows of kept minutes handed to their store (see
    /// [`crate::features::operations`]); overflow rows included.
    pub operation_rows: AtomicU64,
    /// Feature rows not written because their minute lies before the sink's retention
    /// horizon (retention would drop them; see [`crate::sink::RowSink::horizon_us`]).
    pub rows_expired: AtomicU64,
    /// Rows dropped by retention runs (whole partitions past the horizon).
    pub retention_dropped_rows: AtomicU64,
    /// Seconds from a window's rows reaching the sink (the window closing) to their commit.
    pub commit_latency: LatencyHistogram,
    /// Kafka partitions by (topic, partition).
    pub partitions: Mutex<BTreeMap<(String, i32), PartitionCounters>>,
    /// Failed sink writes that will be retried (database unreachable).
    pub sink_retries: AtomicU64,
    /// The first permanent sink error, if any: the job reports it and exits non-zero.
    pub sink_error: Mutex<Option<String>>,
    /// The error of the current sink outage, while writes are being retried.
    pub sink_outage: Mutex<Option<String>>,
    /// Version of the newest learned model of each kind loaded by any worker.
    pub model_versions: Mutex<BTreeMap<String, u64>>,
    /// Model versions that could not be loaded (the job kept its previous model).
    pub model_load_errors: AtomicU64,
    /// Input drift of the loaded model: PSI per (worker, input) over the drift window.
    pub drift: Mutex<BTreeMap<(usize, String), f64>>,
    /// Alert batches and webhook messages delivered.
    pub alerts_sent: AtomicU64,
    /// Deliveries that failed (receiver unreachable or refusing); retried with backoff.
    pub alert_send_failures: AtomicU64,
    /// Incident updates or alerts dropped: the notifier's channel or queue was full.
    pub alerts_dropped: AtomicU64,
    /// The watermark as readiness last saw it.
    pub watermark_seen: Mutex<Option<WatermarkSeen>>,
    /// Results published as Prometheus series (service graph, per-service gauges).
    pub published: crate::published::Published,
}

/// A plain copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Stats::messages`].
    pub messages: u64,
    /// See [`Stats::spans`].
    pub spans: u64,
    /// See [`Stats::metric_points`].
    pub metric_points: u64,
    /// See [`Stats::log_records`].
    pub log_records: u64,
    /// See [`Stats::unmapped_points`].
    pub unmapped_points: u64,
    /// See [`Stats::other_environments`].
    pub other_environments: u64,
    /// See [`Stats::duplicates`].
    pub duplicates: u64,
    /// See [`Stats::workers_running`].
    pub workers_running: u64,
    /// See [`Stats::receiver_requests`].
    pub receiver_requests: u64,
    /// See [`Stats::receiver_refused`].
    pub receiver_refused: u64,
    /// See [`Stats::bad_messages`].
    pub bad_messages: u64,
    /// See [`Stats::bad_records`].
    pub bad_records: u64,
    /// See [`Stats::late_records`].
    pub late_records: u64,
    /// See [`Stats::rows`].
    pub rows: u64,
    /// See [`Stats::files`].
    pub files: u64,
    /// See [`Stats::event_clock_ns`].
    pub event_clock_ns: u64,
    /// See [`Stats::closed_before_pane`].
    pub closed_before_pane: u64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises a high-water mark.
    pub fn raise(counter: &AtomicU64, value: u64) {
        counter.fetch_max(value, Ordering::Relaxed);
    }

    /// Keeps the first sink error.
    pub fn record_sink_error(&self, message: String) {
        if let Ok(mut slot) = self.sink_error.lock() {
            slot.get_or_insert(message);
        }
    }

    /// The first sink error, if any.
    pub fn sink_error(&self) -> Option<String> {
        self.sink_error.lock().ok().and_then(|slot| slot.clone())
    }

    /// Sets (`Some`) or ends (`None`) the current sink outage.
    pub fn set_sink_outage(&self, error: Option<String>) {
        if let Ok(mut slot) = self.sink_outage.lock() {
            *slot = error;
        }
    }

    /// Records that a worker loaded version `version` of model `kind`.
    pub fn set_model_version(&self, kind: &str, version: u64) {
        let mut map = self
            .model_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let slot = map.entry(kind.to_string()).or_default();
        *slot = (*slot).max(version);
    }

    /// The loaded model versions by kind.
    pub fn model_versions(&self) -> BTreeMap<String, u64> {
        self.model_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces `worker`'s input drift figures.
    pub fn set_drift(&self, worker: usize, drift: Vec<(String, f64)>) {
        let mut map = self.drift.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|(w, _), _| *w != worker);
        map.extend(drift.into_iter().map(|(input, psi)| ((worker, input), psi)));
    }

    /// The largest input PSI of any worker, with its input, if a model is scoring.
    pub fn max_drift(&self) -> Option<(String, f64)> {
        let map = self.drift.lock().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|((_, input), psi)| (input.clone(), *psi))
    }

    /// The error of the current sink outage, if writes are being retried.
    pub fn sink_outage(&self) -> Option<String> {
        self.sink_outage.lock().ok().and_then(|slot| slot.clone())
    }

    /// Updates one Kafka partition's counters.
    pub fn partition(&self, topic: &str, partition: i32, records: u64, lag: Option<i64>) {
        if let Ok(mut all) = self.partitions.lock() {
            let entry = all.entry((topic.to_string(), partition)).or_default();
            entry.records += records;
            if let Some(lag) = lag {
                entry.lag = lag;
            }
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            messages: get(&self.messages),
            spans: get(&self.spans),
            metric_points: get(&self.metric_points),
            log_records: get(&self.log_records),
            unmapped_points: get(&self.unmapped_points),
            other_environments: get(&self.other_environments),
            duplicates: get(&self.duplicates),
            workers_running: get(&self.workers_running),
            receiver_requests: get(&self.receiver_requests),
            receiver_refused: get(&self.receiver_refused),
            bad_messages: get(&self.bad_messages),
            bad_records: get(&self.bad_records),
            late_records: get(&self.late_records),
            rows: get(&self.rows),
            files: get(&self.files),
            event_clock_ns: get(&self.event_clock_ns),
            closed_before_pane: get(&self.closed_before_pane),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_watermark_stalls_only_while_records_arrive() {
        let start = Instant::now();
        let bound = Duration::from_secs(300);
        let mut seen = WatermarkSeen {
            pane: 10,
            since: start,
            messages: 100,
        };
        let later = start + Duration::from_secs(301);
        assert_eq!(seen.stalled(10, 100, later, bound), None, "idle, not stuck");
        assert_eq!(
            seen.stalled(10, 101, later, bound),
            Some(Duration::from_secs(301))
        );
        assert_eq!(seen.stalled(11, 101, later, bound), None, "it moved");
        let within = later + Duration::from_secs(299);
        assert_eq!(
            seen.stalled(11, 500, within, bound),
            None,
            "within the bound"
        );
    }
}
