//! Sinks: where feature rows and side outputs go.
//!
//! [`RowSink`] is the seam: the dataflow's [`WriteRows`] operator hands closed rows to any
//! implementation. This crate ships the embedded default, [`parquet::ParquetSink`]; the
//! PostgreSQL sink plugs in the same way.

mod batch;
mod buffer;
mod operator;
pub mod parquet;
pub mod postgres;
mod side;

pub use batch::rows_to_batch;
pub use buffer::RowBuffer;
pub use operator::WriteRows;
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
}

/// A destination for feature rows. Buffering and when to flush are the [`WriteRows`]
/// operator's business; a sink only makes one batch durable, all or nothing.
pub trait RowSink {
    /// Most rows one [`RowSink::persist`] call accepts (a file, a transaction).
    fn max_rows_per_write(&self) -> usize;
    /// Makes `rows` durable and visible to readers, or fails having written none of them.
    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()>;
}
