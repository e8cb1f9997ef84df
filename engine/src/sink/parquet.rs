//! The embedded default sink: feature rows as Parquet files under `<data_dir>/features/`.
//!
//! Each worker writes its own files, `<run>-w<worker>-<seq>.parquet`, and completes one at
//! least every `flush_interval` while rows arrive. A file is written under a hidden temporary
//! name and renamed when complete, so a reader (or a Ctrl-C) never sees half a file; the
//! directory as a whole is one table for DataFusion (`aiops query`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::{rows_to_batch, RowBuffer, RowSink};
use crate::error::{Error, Result};
use crate::features::FeatureRow;
use crate::stats::Stats;

/// Writes feature rows to Parquet files.
pub struct ParquetSink {
    dir: PathBuf,
    prefix: String,
    sequence: u64,
    buffer: RowBuffer,
    stats: Option<Arc<Stats>>,
}

impl ParquetSink {
    /// A sink writing `dir/<prefix>-<seq>.parquet`; creates `dir`.
    pub fn create(
        dir: &Path,
        prefix: String,
        flush_interval: Duration,
        max_rows: usize,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(ParquetSink {
            dir: dir.to_path_buf(),
            prefix,
            sequence: 0,
            buffer: RowBuffer::new(flush_interval, max_rows),
            stats: None,
        })
    }

    /// Counts completed files in `stats`.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    fn write_file(&self, path: &Path, rows: &[FeatureRow]) -> Result<()> {
        let parquet_error = |e: &dyn std::fmt::Display| Error::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let batch = rows_to_batch(rows)?;
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
            .map_err(|e| parquet_error(&e))?;
        writer.write(&batch).map_err(|e| parquet_error(&e))?;
        writer.close().map_err(|e| parquet_error(&e))?;
        Ok(())
    }
}

impl RowSink for ParquetSink {
    fn write(&mut self, rows: &mut Vec<FeatureRow>) -> Result<()> {
        self.buffer.push(rows);
        Ok(())
    }

    fn wants_flush(&self) -> bool {
        self.buffer.is_due()
    }

    fn flush(&mut self) -> Result<()> {
        let mut start = 0;
        while start < self.buffer.rows.len() {
            let end = self.buffer.rows.len().min(start + self.buffer.max_rows());
            let name = format!("{}-{:06}.parquet", self.prefix, self.sequence);
            let temporary = self.dir.join(format!(".{name}.tmp"));
            let path = self.dir.join(&name);
            let written = self
                .write_file(&temporary, &self.buffer.rows[start..end])
                .and_then(|()| std::fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e)));
            if let Err(error) = written {
                self.buffer.rows.drain(..start); // keep only the rows no file holds yet
                return Err(error);
            }
            start = end;
            self.sequence += 1;
            if let Some(stats) = &self.stats {
                Stats::add(&stats.files, 1);
            }
        }
        self.buffer.written();
        Ok(())
    }
}
