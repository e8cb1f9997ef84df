//! The `write_rows` operator: hands closed feature rows to a [`RowSink`].

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Operator;
use timely::dataflow::StreamVec;

use super::RowSink;
use crate::features::FeatureRow;
use crate::stats::Stats;
use crate::time::Pane;

/// Extension trait: terminate a feature-row stream in a sink.
pub trait WriteRows {
    /// Passes every row to `sink` on the worker that produced it, and flushes the sink when it
    /// asks to and when the input is exhausted, so the last rows are durable before the
    /// dataflow completes. Counts rows and the latest closed pane in `stats`. A sink error is
    /// recorded in `stats` and the rows stay buffered for the next flush.
    fn write_rows<S: RowSink + 'static>(self, sink: S, stats: Arc<Stats>);
}

impl WriteRows for StreamVec<'_, Pane, FeatureRow> {
    fn write_rows<S: RowSink + 'static>(self, mut sink: S, stats: Arc<Stats>) {
        self.sink(Pipeline, "WriteRows", move |(input, frontier)| {
            input.for_each(|_capability, rows| {
                Stats::add(&stats.rows, rows.len() as u64);
                if let Err(error) = sink.write(rows) {
                    stats.record_sink_error(error.to_string());
                }
            });
            if let Some(open) = frontier.frontier().first() {
                Stats::raise(&stats.closed_before_pane, *open);
            }
            if sink.wants_flush() || frontier.is_empty() {
                if let Err(error) = sink.flush() {
                    tracing::error!(%error, "feature sink flush failed; rows stay buffered");
                    stats.record_sink_error(error.to_string());
                }
            }
        });
    }
}
