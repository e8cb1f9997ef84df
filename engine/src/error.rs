//! The engine's one error type: every fallible library call returns [`Result`].
//!
//! Variants say where the fault lies (the user's input or configuration, an external
//! system, or a bug of ours) so callers can decide whether retrying can help.

use std::path::PathBuf;

/// Errors raised by the engine library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid: a file, a key or a value the user must fix.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Arrow or Parquet refused a batch or a file.
    #[error("parquet {path}: {message}")]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The schema files under `schemas/` are malformed (a bug of ours).
    #[error("schema: {0}")]
    Schema(String),
    /// PostgreSQL refused a statement or could not be reached (an external system's fault;
    /// retrying can help when `retryable`).
    #[error("postgres ({context}): {message}")]
    Database {
        /// What the engine was doing, with the server address.
        context: String,
        /// The server's or the driver's message.
        message: String,
        /// Whether the same call may succeed later (connection lost, server starting).
        retryable: bool,
    },
    /// The Kafka cluster refused a request or could not be reached, or a topic is missing.
    #[error("{0}")]
    Source(String),
    /// Timely could not start its workers or connect the processes of a cluster.
    #[error("dataflow: {0}")]
    Dataflow(String),
}

impl Error {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
