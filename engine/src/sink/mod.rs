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
    fn write(&mut self, rows: &mut Vec<FeatureRow>) -> Result<()> {
        (**self).write(rows)
    }

    fn wants_flush(&self) -> bool {
        (**self).wants_flush()
    }

    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
}

/// A destination for feature rows.
pub trait RowSink {
    /// Accepts rows (they may be buffered).
    fn write(&mut self, rows: &mut Vec<FeatureRow>) -> Result<()>;
    /// Whether buffered rows should be made durable now (size or age of the buffer).
    fn wants_flush(&self) -> bool;
    /// Makes everything accepted so far durable and visible to readers.
    fn flush(&mut self) -> Result<()>;
}
