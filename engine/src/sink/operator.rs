//! The `write_rows` operator: buffers closed feature rows and persists them through a
//! [`RowSink`].

use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Operator;
use timely::dataflow::StreamVec;

use super::{RowBuffer, RowSink};
use crate::features::FeatureRow;
use crate::stats::Stats;
use crate::time::Pane;

/// Extension trait: terminate a feature-row stream in a sink.
pub trait WriteRows {
    /// Buffers the rows of the worker that produced them and persists them through `sink` in
    /// batches of at most `sink.max_rows_per_write()`: when the oldest buffered row is
    /// `flush_interval` old, when a full batch is buffered, and when the input is exhausted, so
    /// the last rows are durable before the dataflow completes. Counts rows and the latest
    /// closed pane in `stats`. A failed batch is recorded in `stats` and stays buffered, with
    /// everything after it, for the next attempt.
    fn write_rows<S: RowSink + 'static>(self, sink: S, flush_interval: Duration, stats: Arc<Stats>);
}

/// Persists the buffer batch by batch, stopping at the first failure.
fn flush<S: RowSink>(sink: &mut S, buffer: &mut RowBuffer, stats: &Stats) {
    while !buffer.rows.is_empty() {
        let end = buffer.rows.len().min(sink.max_rows_per_write().max(1));
        if let Err(error) = sink.persist(&buffer.rows[..end]) {
            tracing::error!(%error, "feature sink write failed; rows stay buffered");
            stats.record_sink_error(error.to_string());
            return;
        }
        buffer.written(end);
    }
}

impl WriteRows for StreamVec<'_, Pane, FeatureRow> {
    fn write_rows<S: RowSink + 'static>(
        self,
        mut sink: S,
        flush_interval: Duration,
        stats: Arc<Stats>,
    ) {
        let mut buffer = RowBuffer::new(flush_interval, sink.max_rows_per_write());
        self.sink(Pipeline, "WriteRows", move |(input, frontier)| {
            input.for_each(|_capability, rows| {
                Stats::add(&stats.rows, rows.len() as u64);
                buffer.push(rows);
            });
            if let Some(open) = frontier.frontier().first() {
                Stats::raise(&stats.closed_before_pane, *open);
            }
            if buffer.is_due() || frontier.is_empty() {
                flush(&mut sink, &mut buffer, &stats);
            }
        });
    }
}
