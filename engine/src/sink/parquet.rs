//! The embedded default sink: feature rows as Parquet files under `<data_dir>/features/`.
//!
//! Each worker writes its own files, `<run>-w<worker>-<seq>.parquet`, and completes one at
//! least every `flush_interval` while rows arrive. A file is written under a hidden temporary
//! name and renamed when complete, so a reader (or a Ctrl-C) never sees half a file; the
//! directory as a whole is one table for DataFusion (`aiops query`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{rows_to_batch, RowSink};
use crate::error::{Error, Result};
use crate::features::FeatureRow;
use crate::stats::Stats;

/// Writes feature rows to Parquet files.
pub struct ParquetSink {
    dir: PathBuf,
    prefix: String,
    sequence: u64,
    max_rows: usize,
    stats: Option<Arc<Stats>>,
}

impl ParquetSink {
    /// A sink writing `dir/<prefix>-<seq>.parquet`; creates `dir`.
    pub fn create(dir: &Path, prefix: String, max_rows: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(ParquetSink {
            dir: dir.to_path_buf(),
            prefix,
            sequence: 0,
            max_rows: max_rows.max(1),
            stats: None,
        })
    }

    /// Counts completed files in `stats`.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    fn write_file(&self, path: &Path, rows: &[FeatureRow]) -> Result<()> {
        write_batch(path, &rows_to_batch(rows)?)
    }
}

/// Writes `batch` as one Snappy-compressed Parquet file at `path`.
pub fn write_batch(path: &Path, batch: &arrow::record_batch::RecordBatch) -> Result<()> {
    let parquet_error = |e: &dyn std::fmt::Display| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|e| parquet_error(&e))?;
    writer.write(batch).map_err(|e| parquet_error(&e))?;
    writer.close().map_err(|e| parquet_error(&e))?;
    Ok(())
}

impl RowSink for ParquetSink {
    fn max_rows_per_write(&self) -> usize {
        self.max_rows
    }

    /// Writes one file under a hidden temporary name and renames it when complete.
    fn persist(&mut self, rows: &[FeatureRow]) -> Result<()> {
        let name = format!("{}-{:06}.parquet", self.prefix, self.sequence);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);
        self.write_file(&temporary, rows)?;
        std::fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e))?;
        self.sequence += 1;
        if let Some(stats) = &self.stats {
            Stats::add(&stats.files, 1);
        }
        Ok(())
    }
}
