//! The `write_rows` operator: buffers closed feature rows and persists them through a
//! [`RowSink`], and tells downstream (a probe) which panes are durable.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::{Capability, Operator};
use timely::dataflow::StreamVec;

use super::{RowBuffer, RowSink};
use crate::features::FeatureRow;
use crate::retry::Backoff;
use crate::stats::Stats;
use crate::time::Pane;

/// Extension trait: terminate a feature-row stream in a sink.
pub trait WriteRows<'scope> {
    /// Buffers the rows of the worker that produced them whose time lies in `keep` (µs; rows
    /// outside are dropped: already durable from an earlier run, or outside a backfill's
    /// range) and not before the sink's retention horizon (counted as expired) and persists
    /// them through `sink` in
    /// batches of at most `sink.max_rows_per_write()`: when the oldest buffered row is
    /// `flush_interval` old, when a full batch is buffered, and when the input is exhausted, so
    /// the last rows are durable before the dataflow completes. Counts rows and the latest
    /// closed pane in `stats`. A failed batch is recorded in `stats` and stays buffered, with
    /// everything after it, for the next attempt.
    ///
    /// Progress guarantee: the returned stream carries no data, and its frontier is at or
    /// before the pane of every row not yet durable. A probe on it, across all workers, tells
    /// which panes' rows are durable everywhere: what Kafka resume offsets may be based on.
    fn write_rows<S: RowSink + 'static>(
        self,
        sink: S,
        flush_interval: Duration,
        keep: Range<i64>,
        stats: Arc<Stats>,
    ) -> StreamVec<'scope, Pane, ()>;
}

/// What became of a flush.
enum Flushed {
    /// The buffer is empty.
    All,
    /// A write failed in a way that may pass (connection lost, server restarting).
    Retry,
    /// A write failed for good (rows refused, disk error).
    Failed,
}

/// Persists the buffer batch by batch, stopping at the first failure.
fn flush<S: RowSink>(sink: &mut S, buffer: &mut RowBuffer, stats: &Stats) -> Flushed {
    while !buffer.rows.is_empty() {
        let end = buffer.rows.len().min(sink.max_rows_per_write().max(1));
        if let Err(error) = sink.persist(&buffer.rows[..end]) {
            return if error.is_retryable() {
                stats.set_sink_outage(Some(error.to_string()));
                Flushed::Retry
            } else {
                tracing::error!(%error, "feature sink write failed; rows stay buffered");
                stats.record_sink_error(error.to_string());
                Flushed::Failed
            };
        }
        buffer.written(end);
        Stats::add(&stats.rows_written, end as u64);
    }
    stats.set_sink_outage(None);
    Flushed::All
}

impl<'scope> WriteRows<'scope> for StreamVec<'scope, Pane, FeatureRow> {
    fn write_rows<S: RowSink + 'static>(
        self,
        mut sink: S,
        flush_interval: Duration,
        keep: Range<i64>,
        stats: Arc<Stats>,
    ) -> StreamVec<'scope, Pane, ()> {
        let mut buffer = RowBuffer::new(flush_interval, sink.max_rows_per_write());
        // Held while rows are buffered: the least pane among them.
        let mut oldest: Option<Capability<Pane>> = None;
        // When each buffered pane's rows arrived, i.e. when its window closed.
        let mut arrivals: BTreeMap<Pane, Instant> = BTreeMap::new();
        let mut last_frontier: Option<Pane> = None;
        let eager = sink.commits_each_window();
        let mut backoff = Backoff::for_writes();
        let scope = self.scope();
        self.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Pipeline,
            "WriteRows",
            move |_capability, info| {
                let activator = scope.activator_for(info.address);
                move |(input, frontier), _output| {
                    let horizon = sink.horizon_us();
                    input.for_each(|capability, rows| {
                        Stats::add(&stats.rows, rows.len() as u64);
                        rows.retain(|row| keep.contains(&row.time_us));
                        if let Some(horizon) = horizon {
                            let before = rows.len();
                            rows.retain(|row| row.time_us >= horizon);
                            Stats::add(&stats.rows_expired, (before - rows.len()) as u64);
                        }
                        if rows.is_empty() {
                            return;
                        }
                        buffer.push(rows);
                        if let Some(time) = capability.least() {
                            arrivals.entry(*time).or_insert_with(Instant::now);
                            if oldest.as_ref().is_none_or(|held| time < held.time()) {
                                oldest = Some(capability.delayed(time, 0));
                            }
                        }
                    });
                    let current = frontier.frontier().first().copied();
                    if let Some(open) = current {
                        Stats::raise(&stats.closed_before_pane, open);
                    }
                    let closed = eager && current != last_frontier && !buffer.rows.is_empty();
                    last_frontier = current;
                    let due =
                        buffer.is_due() || closed || backoff.retrying() || frontier.is_empty();
                    if due && !backoff.waiting() {
                        match flush(&mut sink, &mut buffer, &stats) {
                            Flushed::All => {
                                backoff.succeeded();
                                for (_, arrived) in std::mem::take(&mut arrivals) {
                                    stats.commit_latency.observe(arrived.elapsed());
                                }
                            }
                            Flushed::Retry => {
                                let wait = backoff.failed();
                                tracing::warn!(
                                    error = stats.sink_outage().unwrap_or_default(),
                                    retry_in = ?wait,
                                    buffered = buffer.rows.len(),
                                    "feature sink unavailable; retrying"
                                );
                                Stats::add(&stats.sink_retries, 1);
                                activator.activate_after(wait);
                            }
                            // Nothing will change on retry: keep the rows, let the job end.
                            Flushed::Failed if frontier.is_empty() => {
                                buffer.abandon();
                                arrivals.clear();
                            }
                            Flushed::Failed => {}
                        }
                    }
                    if buffer.rows.is_empty() {
                        oldest = None;
                    }
                }
            },
        )
    }
}
