//! The crate's errors, a leaf every module may use. Each concern has its own enum (why a
//! model cannot be fitted: [`FitError`]; a window-neighbour model: [`NeighbourError`]; a model
//! file: [`ModelFileError`]; a neural network: [`NetworkError`]), and [`Error`] holds any of
//! them for callers that handle all alike.

use std::path::{Path, PathBuf};

/// Why a model cannot be fitted.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// No rows, or no columns.
    #[error("cannot fit on an empty matrix ({rows} rows, {columns} columns)")]
    Empty {
        /// Rows given.
        rows: usize,
        /// Columns given.
        columns: usize,
    },
    /// A value is NaN or infinite.
    #[error("value at row {row}, column {column} is not finite")]
    NotFinite {
        /// Row.
        row: usize,
        /// Column.
        column: usize,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The neural network could not be built or trained.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

/// Why a [`crate::neighbours::Neighbours`] model could not be fitted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NeighbourError {
    /// Settings out of their range.
    #[error("window-neighbour detector: {0}")]
    Config(String),
    /// Not enough training rows for one window plus `k` neighbours.
    #[error(
        "window-neighbour detector: {rows} training rows, needs at least {needed} (a window of \
         {window} and {neighbours} neighbours)"
    )]
    TooFewRows {
        /// Rows given.
        rows: usize,
        /// Rows needed.
        needed: usize,
        /// The window's length in rows.
        window: usize,
        /// The neighbours each window is judged by.
        neighbours: usize,
    },
    /// A training row's width differs from the first row's.
    #[error(
        "window-neighbour detector: training row {row} has {found} values, row 0 has {expected}"
    )]
    Ragged {
        /// The row.
        row: usize,
        /// Its width.
        found: usize,
        /// The first row's width.
        expected: usize,
    },
}

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not what it should be (bad JSON, bad safetensors, wrong checksum).
    #[error("{path}: {message}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is well formed but does not fit this build or this use.
    #[error("{path}: {message}")]
    Mismatch {
        /// File.
        path: PathBuf,
        /// What does not match, with both sides.
        message: String,
    },
}

impl ModelFileError {
    pub(crate) fn corrupt(path: &Path, message: impl std::fmt::Display) -> Self {
        ModelFileError::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn mismatch(path: &Path, message: impl Into<String>) -> Self {
        ModelFileError::Mismatch {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// Why a neural network (the LSTM forecaster, the GNN ranker) cannot be built, trained or
/// run.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A tensor operation failed (candle).
    #[error("tensor operation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Named weights lack one the network needs.
    #[error("no weight `{0}`")]
    MissingWeight(String),
    /// A weight has another shape than the network's.
    #[error("weight `{name}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The weight.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The network's.
        expected: Vec<usize>,
    },
    /// A row is not as wide as the network's input.
    #[error("a row of {found} values for {expected} features")]
    RowWidth {
        /// Values given.
        found: usize,
        /// Features the network reads.
        expected: usize,
    },
    /// Settings out of range, or data the network cannot learn from; the message says which.
    #[error("{0}")]
    Settings(String),
    /// A thread panicked while holding the weights' lock.
    #[error("the weights' lock was poisoned by a panic")]
    Poisoned,
}

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model cannot be fitted.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// A window-neighbour model cannot be fitted.
    #[error(transparent)]
    Neighbours(#[from] NeighbourError),
    /// A model file cannot be used.
    #[error(transparent)]
    ModelFile(#[from] ModelFileError),
    /// A neural network failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
