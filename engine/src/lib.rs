//! `aiops-engine`: the streaming half of the AIOps engine.
//!
//! OpenTelemetry spans and metrics come in from a [`source`] (the built-in [`sim`]ulator or
//! OTLP file replay), are decoded by [`otlp`], stamped with event time and watermarks by
//! [`time`], cut into one-minute panes and sliding windows by [`features`], and the resulting
//! per-(service, minute) feature rows leave through a [`sink`]. [`job`] wires these into a
//! timely-dataflow computation on any number of workers and processes.

pub mod config;
pub mod error;
pub mod eval;
pub mod features;
pub mod graph;
pub mod job;
pub mod metrics;
pub mod otlp;
pub mod record;
pub mod retry;
pub mod schema;
pub mod score;
pub mod sim;
pub mod sink;
pub mod source;
pub mod stats;
pub mod time;
pub mod train;

pub use error::{Error, Result};
