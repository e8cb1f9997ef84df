//! Sinks, the seventh stage: where feature rows, edges, incidents and side outputs go, and
//! where stored outputs are read back.
//!
//! [`RowSink`] is the seam: the dataflow's [`WriteRows`] operator hands closed rows to any
//! implementation: the embedded default, [`parquet::ParquetSink`] (rows to Arrow batches in
//! `batch`), or [`postgres::PostgresSink`]. Beside them: [`PersistClosed`] (closed panes,
//! graph records and operation rows to a store; [`OperationSink`] picks Parquet or PostgreSQL
//! for the latter), JSON lines and side outputs (edges, incidents, late records, dead
//! letters), Kafka [`alerts`] and [`dead_letter`]s, the job's own metrics in [`prometheus`]
//! format with the [`results`] it publishes (service graph, per-service gauges), and [`stored`]
//! and [`parquet_read`], which read stored rows and recorded rankings back for training.

pub mod alerts;
mod batch;
mod buffer;
pub mod dead_letter;
mod json_lines;
pub mod notify;
mod operations;
mod operator;
pub mod parquet;
pub mod parquet_read;
mod persist;
pub mod postgres;
pub mod prometheus;
pub mod results;
mod side;
pub mod stored;

pub use batch::{arrow_type, feature_schema, rows_to_batch};
pub use buffer::RowBuffer;
pub use dead_letter::{DeadLetters, KafkaDeadLetters};
pub use json_lines::{read_json_lines, JsonLines};
pub use operations::{
    operation_schema, operations_to_batch, read_operation_rows, OperationFiles, OperationSink,
};
pub use operator::WriteRows;
pub use persist::{ClosedStore, PersistClosed};
pub use side::SideOutput;

use crate::error::Result;
use crate::features::FeatureRow;

impl RowSink for Box<dyn RowSink> {
    fn max_rows_per_write(&self) -> usize {
        (**self).max_rows_per_write()
    }

    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()> {
        (**self).persist(rows)
    }

    fn commits_each_window(&self) -> bool {
        (**self).commits_each_window()
    }

    fn horizon_us(&self) -> Option<i64> {
        (**self).horizon_us()
    }
}

/// A destination for feature rows. Buffering and when to flush are the [`WriteRows`]
/// operator's business; a sink only makes one batch durable, all or nothing.
pub trait RowSink {
    /// Most rows one [`RowSink::persist`] call accepts (a file, a transaction).
    fn max_rows_per_write(&self) -> usize;
    /// Makes `rows` durable and visible to readers, or fails having written none of them.
    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()>;
    /// Whether to persist as soon as windows close rather than on the flush interval: cheap
    /// transactions (a database) commit each window for latency; files batch for size.
    fn commits_each_window(&self) -> bool {
        false
    }
    /// The retention horizon now (wall clock): rows of minutes before it are not
    /// written but counted as expired, because retention would drop them (at once, or at its
    /// next run). Refusing them, rather than writing and dropping, keeps a restarted or
    /// replayed job's table equal to an undisturbed one's, and the written-rows count true.
    /// `None`: the sink keeps everything.
    fn horizon_us(&self) -> Option<i64> {
        None
    }
}
