//! Evaluation against labelled data: root-cause ranking ([`rca`]) and anomaly detection on
//! the public benchmarks ([`nab`], [`asd`], with [`univariate`] adapting our detectors to
//! single series, and [`interpretation`] judging which metrics a detector blames).
//!
//! The job runs unchanged over a labelled input (the simulator, or a public dataset replayed
//! by its source) and writes incidents; [`rca`] matches each labelled fault with the incident
//! of the right minute and scores every method's ranking as AC@k; [`cross_validation`] judges
//! the GNN on a dataset's own faults, each ranked by a network trained without it.

pub mod asd;
pub mod cross_validation;
pub mod detection;
pub mod interpretation;
pub mod nab;
pub mod rca;
pub mod univariate;
