//! Per-(service, minute) features, the fourth stage: panes, sliding windows, the span/metric
//! join, and the feature row they produce.
//!
//! Spans, metric points and log records are keyed by service and cut into one-minute panes
//! ([`span_pane`], with its latency [`sketch`]; [`metric_pane`], whose metric names are mapped
//! in [`metric_map`] and whose server-duration histograms become requests in [`served`] for
//! services without spans; [`log_pane`], whose lines are mined into [`templates`]);
//! [`operations`] counts each service's requests by operation beside its span pane, and
//! [`structure`] which calls each operation makes;
//! [`windows`] joins the pane streams by (service, pane) as an outer
//! join and derives the 5m/15m/1h windows, which slide by one minute, by merging the last
//! panes, with the [`calendar`] features of the minute. [`row::FeatureRow`] is the result, one
//! per (service, minute), and [`row`] is also the one definition of its columns.

pub mod calendar;
pub mod log_pane;
pub mod metric_map;
pub mod metric_pane;
pub mod operations;
pub mod row;
pub mod served;
pub mod sketch;
pub mod span_pane;
pub mod structure;
pub mod templates;
pub mod windows;

pub use log_pane::{LogPane, LogPanes};
pub use metric_pane::{MetricPane, MetricPanes};
pub use operations::OperationRow;
pub use row::FeatureRow;
pub use sketch::LatencySketch;
pub use span_pane::{SpanPane, SpanPanes};
pub use windows::{FeatureWindows, HISTORY_PANES};

/// Stable hash of a service name (FNV-1a), used to route a service to a worker.
///
/// It must not depend on the process (no random seed), or two processes of a cluster would
/// route one service to different workers.
pub fn service_hash(service: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in service.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
