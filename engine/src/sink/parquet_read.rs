//! Reading the Parquet feature store back: training reads its rows, evaluation its flags.
//!
//! Both want a few columns of every file of a data directory, with errors naming the file;
//! this module is that one loop, so column projection and type checks live in one place.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};

/// The Parquet files of a data directory's `features/` folder (or of `dir` itself when it
/// has none), sorted by name; possibly none.
pub fn feature_files(dir: &Path) -> Result<(PathBuf, Vec<PathBuf>)> {
    let features = dir.join("features");
    let dir = if features.is_dir() {
        features
    } else {
        dir.to_path_buf()
    };
    let files = parquet_files(&dir)?;
    Ok((dir, files))
}

/// The `*.parquet` files of `dir`, sorted by name (files still being written are hidden
/// `.tmp` files and not listed).
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// A Parquet error about `path`.
pub fn parquet_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Calls `visit` with each record batch of `path`, holding only `columns`.
pub fn read_columns<'a>(
    path: &Path,
    columns: impl IntoIterator<Item = &'a str>,
    visit: &mut dyn FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| parquet_error(path, e))?;
    for batch in reader {
        visit(&batch.map_err(|e| parquet_error(path, e))?)?;
    }
    Ok(())
}

/// Column `name` of `batch` as array type `T`, or an error naming the file and column.
pub fn column<'a, T: 'static>(path: &Path, batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            parquet_error(
                path,
                format!("column {name} is missing or not of the feature row's type"),
            )
        })
}
