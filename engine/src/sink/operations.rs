//! Operation rows as Parquet files under `<data_dir>/operations/`, the embedded default beside
//! the feature files (PostgreSQL has its [`OperationStore`](super::postgres::OperationStore)).
//!
//! Rows of closed minutes are buffered and written as one file, `<run>-w<worker>-<seq>.parquet`
//! under a hidden temporary name renamed when complete, once `max_rows` are buffered, the
//! oldest has waited `flush_interval`, or the store is dropped at the end of the job. A file
//! job keeps no resume offsets, so buffering here holds back nothing a restart would need.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::parquet::write_batch;
use super::parquet_read::{column, parquet_files, read_columns};
use super::postgres::OperationStore;
use super::ClosedStore;
use crate::error::{Error, Result};
use crate::features::OperationRow;
use crate::record::{key_parts, service_key};
use crate::time::{pane_start_ns, Pane};
use arrow::array::{
    Array, ArrayRef, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

/// The Arrow schema of operation rows: the columns of `operation_features`.
pub fn operation_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    let fields = || {
        let time = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let mut fields = vec![Field::new("time", time, false)];
        for name in ["service_name", "environment", "operation"] {
            fields.push(Field::new(name, DataType::Utf8, false));
        }
        for name in ["calls", "errors", "p50_ms", "p95_ms", "p99_ms"] {
            fields.push(Field::new(name, DataType::Float64, false));
        }
        fields.push(Field::new("merged_operations", DataType::Int32, false));
        Arc::new(Schema::new(fields))
    };
    Arc::clone(SCHEMA.get_or_init(fields))
}

/// Operation rows as one Arrow batch of [`operation_schema`].
pub fn operations_to_batch(rows: &[OperationRow]) -> Result<RecordBatch> {
    let text = |get: fn(&OperationRow) -> &str| -> ArrayRef {
        Arc::new(rows.iter().map(get).map(Some).collect::<StringArray>())
    };
    let number = |get: fn(&OperationRow) -> f64| -> ArrayRef {
        Arc::new(rows.iter().map(get).map(Some).collect::<Float64Array>())
    };
    let times = rows
        .iter()
        .map(|r| Some((pane_start_ns(r.pane) / 1_000) as i64))
        .collect::<TimestampMicrosecondArray>()
        .with_timezone("UTC");
    let merged = rows.iter().map(|r| Some(r.merged_operations as i32));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(times),
        text(|r| key_parts(&r.service).0),
        text(|r| key_parts(&r.service).1),
        text(|r| &r.operation),
        number(|r| r.calls),
        number(|r| r.errors),
        number(|r| r.p50_ms),
        number(|r| r.p95_ms),
        number(|r| r.p99_ms),
        Arc::new(merged.collect::<Int32Array>()),
    ];
    RecordBatch::try_new(operation_schema(), columns)
        .map_err(|e| Error::Schema(format!("operation rows to Arrow: {e}")))
}

/// The operation rows of `<data_dir>/operations/` in the minutes `minutes` whose service key
/// is `service`, oldest first. A directory without files reads as none.
pub fn read_operation_rows(
    data_dir: &Path,
    service: &str,
    minutes: std::ops::Range<Pane>,
) -> Result<Vec<OperationRow>> {
    let dir = data_dir.join("operations");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let files = parquet_files(&dir)?;
    let mut rows = Vec::new();
    let names = operation_schema();
    let names = names.fields().iter().map(|f| f.name().as_str());
    let names: Vec<&str> = names.collect();
    for path in &files {
        read_columns(path, names.iter().copied(), &mut |batch| {
            rows_of_batch(path, batch, (service, &minutes), &mut rows)
        })?;
    }
    rows.sort_by_key(|r| r.pane);
    Ok(rows)
}

fn rows_of_batch(
    path: &Path,
    batch: &RecordBatch,
    (service, minutes): (&str, &std::ops::Range<Pane>),
    rows: &mut Vec<OperationRow>,
) -> Result<()> {
    let time = column::<TimestampMicrosecondArray>(path, batch, "time")?;
    let text = |name| column::<StringArray>(path, batch, name);
    let (names, environments, operations) = (
        text("service_name")?,
        text("environment")?,
        text("operation")?,
    );
    let number = |name| column::<Float64Array>(path, batch, name);
    let (calls, errors) = (number("calls")?, number("errors")?);
    let (p50, p95, p99) = (number("p50_ms")?, number("p95_ms")?, number("p99_ms")?);
    let merged = column::<Int32Array>(path, batch, "merged_operations")?;
    for i in 0..batch.num_rows() {
        let pane = (time.value(i).max(0) / 60_000_000) as Pane;
        let key = service_key(names.value(i), environments.value(i));
        if !minutes.contains(&pane) || key != service || operations.is_null(i) {
            continue;
        }
        rows.push(OperationRow {
            service: key,
            pane,
            operation: operations.value(i).to_string(),
            calls: calls.value(i),
            errors: errors.value(i),
            p50_ms: p50.value(i),
            p95_ms: p95.value(i),
            p99_ms: p99.value(i),
            merged_operations: merged.value(i).max(0) as u32,
        });
    }
    Ok(())
}

/// Buffers operation rows and writes them as Parquet files.
pub struct OperationFiles {
    dir: PathBuf,
    prefix: String,
    sequence: u64,
    max_rows: usize,
    flush_interval: Duration,
    buffered: Vec<OperationRow>,
    oldest: Option<Instant>,
}

impl OperationFiles {
    /// Writes `dir/<prefix>-<seq>.parquet`; creates `dir`.
    pub fn create(dir: &Path, prefix: String, max_rows: usize, flush: Duration) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(OperationFiles {
            dir: dir.to_path_buf(),
            prefix,
            sequence: 0,
            max_rows: max_rows.max(1),
            flush_interval: flush,
            buffered: Vec::new(),
            oldest: None,
        })
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let name = format!("{}-{:06}.parquet", self.prefix, self.sequence);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);
        write_batch(&temporary, &operations_to_batch(&self.buffered)?)?;
        std::fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e))?;
        self.sequence += 1;
        self.buffered.clear();
        self.oldest = None;
        Ok(())
    }
}

impl ClosedStore<OperationRow> for OperationFiles {
    const WHAT: &'static str = "operation rows";

    fn write(&mut self, _panes: &[Pane], rows: &[OperationRow]) -> Result<()> {
        if !rows.is_empty() {
            self.oldest.get_or_insert_with(Instant::now);
            self.buffered.extend_from_slice(rows);
        }
        let waited = self
            .oldest
            .is_some_and(|t| t.elapsed() >= self.flush_interval);
        if self.buffered.len() >= self.max_rows || waited {
            self.flush()?;
        }
        Ok(())
    }
}

/// Where operation rows go: beside the feature rows.
pub enum OperationSink {
    /// `<data_dir>/operations/`.
    Files(OperationFiles),
    /// `operation_features`.
    Postgres(Box<OperationStore>),
}

impl ClosedStore<OperationRow> for OperationSink {
    const WHAT: &'static str = "operation rows";

    fn write(&mut self, panes: &[Pane], rows: &[OperationRow]) -> Result<()> {
        match self {
            OperationSink::Files(files) => files.write(panes, rows),
            OperationSink::Postgres(store) => store.write(panes, rows),
        }
    }
}

impl Drop for OperationFiles {
    fn drop(&mut self) {
        if let Err(error) = self.flush() {
            tracing::error!(%error, rows = self.buffered.len(), "operation rows not written");
        }
    }
}
