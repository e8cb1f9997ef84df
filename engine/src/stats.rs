//! Counters a running job shares with its console and its summary.
//!
//! One `Stats` per process, shared by its workers; every counter only grows, so a reader
//! can turn two snapshots into rates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Process-wide job counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// OTLP records (requests) read from sources.
    pub messages: AtomicU64,
    /// Spans decoded and accepted.
    pub spans: AtomicU64,
    /// Metric points decoded and accepted.
    pub metric_points: AtomicU64,
    /// Whole records that could not be framed or decoded.
    pub bad_messages: AtomicU64,
    /// Individual spans or points rejected inside otherwise readable records.
    pub bad_records: AtomicU64,
    /// Spans or points that arrived after their window closed.
    pub late_records: AtomicU64,
    /// Feature rows emitted (closed (service, minute) windows).
    pub rows: AtomicU64,
    /// Parquet files completed.
    pub files: AtomicU64,
    /// Latest event time any source reported, ns.
    pub event_clock_ns: AtomicU64,
    /// Latest closed minute (pane index + 1 = first open pane), over all workers.
    pub closed_before_pane: AtomicU64,
    /// The first sink error, if any: the job reports it and exits non-zero.
    pub sink_error: Mutex<Option<String>>,
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

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            messages: get(&self.messages),
            spans: get(&self.spans),
            metric_points: get(&self.metric_points),
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
