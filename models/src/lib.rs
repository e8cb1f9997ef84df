//! `aiops-models`: the numeric half of the AIOps engine.
//!
//! Plain data in, scores out. Nothing here knows about timely, Kafka or databases, so the
//! same code serves the streaming job, offline training and the benchmark crate's
//! evaluations.
//!
//! Modules, from the building blocks to what uses them:
//!
//! - [`error`]: the crate's errors.
//! - [`detect`]: robust per-series scoring (median/MAD), the job's always-on detector.
//! - [`scaler`]: per-service standard scaling, the input of every learned detector.
//! - [`iforest`], [`lstm`], [`neighbours`]: the IsolationForest, the LSTM forecaster and the
//!   window-neighbour detector themselves.
//! - [`spot`], [`threshold`]: extreme-value tails and the rules that set a model's threshold.
//! - [`drift`]: input drift (PSI) against the training data.
//! - [`model_file`]: models on disk (safetensors weights, JSON metadata).
//! - [`service_model`], [`sequence_model`], [`window_model`]: each detector over per-service
//!   feature rows, as a model file.
//! - [`fit`]: fitting any of them on training rows, written once.
//! - [`rca`]: root-cause ranking over a call graph (rules and the GNN).

pub mod detect;
pub mod drift;
pub mod error;
pub mod fit;
pub mod iforest;
pub mod live_bar;
pub mod lstm;
pub mod model_file;
pub mod neighbours;
pub mod rca;
pub mod scaler;
pub mod sequence_model;
pub mod service_model;
pub mod spot;
pub mod threshold;
pub mod window_model;

pub use error::{Error, Result};
