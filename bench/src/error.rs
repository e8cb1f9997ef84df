//! The benchmark crate's one error type.

use std::path::PathBuf;

/// Why an evaluation cannot run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A dataset file holds something other than its format (named with its file and line).
    #[error("{0}")]
    Data(String),
    /// An evaluation setting is out of range.
    #[error("invalid settings: {0}")]
    Config(String),
    /// The job (run over a dataset or the simulator) failed.
    #[error(transparent)]
    Engine(#[from] aiops_engine::Error),
    /// A model could not be fitted, saved or loaded.
    #[error(transparent)]
    Model(#[from] aiops_models::Error),
    /// A neural network (the GNN of a cross-validation fold) failed.
    #[error(transparent)]
    Network(#[from] aiops_models::error::NetworkError),
    /// A model could not be fitted.
    #[error(transparent)]
    Fit(#[from] aiops_models::error::FitError),
    /// A model file could not be written.
    #[error(transparent)]
    ModelFile(#[from] aiops_models::error::ModelFileError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
