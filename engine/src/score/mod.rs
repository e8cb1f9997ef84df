//! Scoring: flag anomalous services per minute, rank root causes, raise incidents.
//!
//! [`detect`] scores every feature row against the service's own recent history (and, with
//! [`learned`], a trained model) and passes on the evidence; [`incidents`] gathers one
//! minute's evidence and call edges, asks a
//! [`RootCauseRanker`](aiops_models::rca::RootCauseRanker) for candidates when something is
//! anomalous, and emits an [`Incident`]; [`annotate`] writes the verdict back into the rows.

pub mod annotate;
pub mod detect;
pub mod edge_evidence;
pub mod fleet;
pub mod incidents;
pub mod inputs;
pub mod learned;
pub mod learned_ranker;
pub mod model_watch;

pub use annotate::AnnotateRows;
pub use detect::{DetectAnomalies, Detector};
pub use incidents::{Incident, IncidentTracker, RaiseIncidents};
pub use learned::ModelSlot;
