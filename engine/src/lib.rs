//! `aiops-engine`: the streaming job of the AIOps engine, from OpenTelemetry records to
//! feature rows, a service graph and incidents.
//!
//! The stages, in the order data flows through them (a module imports only from the stages
//! before it and from the leaves; `tests/run.sh` checks that):
//!
//! 1. [`source`]: where still-encoded OTLP records come from (the built-in simulator, OTLP
//!    files, Kafka, or a source another crate plugs in).
//! 2. [`otlp`]: decoding them into compact records.
//! 3. [`time`]: event time — panes, watermarks, joins of pane streams.
//! 4. [`features`]: per-(service, minute) panes, sliding windows and the feature row.
//! 5. [`graph`]: call edges from trace pairs, the live dependency graph.
//! 6. [`score`]: anomaly detection (robust and learned) and incidents with ranked root causes.
//! 7. [`sink`]: Parquet, PostgreSQL/TimescaleDB, Kafka, JSON lines, the metrics endpoint, and
//!    reading stored outputs back for training.
//! 8. [`job`]: the stages wired into a timely dataflow on any number of workers and processes,
//!    with effectively-once Kafka offsets.
//! 9. [`ui`]: the web console over what the sinks stored (the live service map, incidents,
//!    service features) and its JSON API.
//!
//! The leaves every stage may use: [`error`], [`config`], [`record`], [`stats`], [`retry`],
//! [`published`].
//! The numeric models themselves (forest, LSTM, GNN, ranking algorithms) are the
//! `aiops-models` crate; evaluation on public datasets is the `aiops-bench` crate, which
//! nothing here depends on.

// Leaves.
pub mod config;
pub mod error;
pub mod published;
pub mod record;
pub mod retry;
pub mod stats;

// Stages, in flow order (one per group, so rustfmt keeps the order).
pub mod source;
// 2.
pub mod otlp;
// 3.
pub mod time;
// 4.
pub mod features;
// 5.
pub mod graph;
// 6.
pub mod score;
// 7.
pub mod sink;
// 8.
pub mod job;
// 9.
pub mod ui;

pub use error::{Error, Result};
