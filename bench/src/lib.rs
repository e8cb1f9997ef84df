//! `aiops-bench`: evaluation of the AIOps engine on labelled data — the harness behind
//! `aiops eval`, kept out of the product crates.
//!
//! Nothing in `aiops-engine` or `aiops-models` depends on this crate (`tests/run.sh` checks
//! it); it depends on both, and runs the unchanged job over datasets through the job's
//! source factory. Modules, in the order an evaluation uses them (each imports only from
//! those before it and from the leaves [`error`] and [`progress`]):
//!
//! 1. [`datasets`]: readers of the public datasets (NAB, ASD, the Nezha replay) and the
//!    simulator's ground truth.
//! 2. [`detectors`]: benchmark-only detectors and adapters of the job's detectors to the
//!    benchmarks' shapes.
//! 3. [`scoring`]: NAB's scorer, point-adjusted F1, AC@k.
//! 4. [`cross_validation`]: judging a learned ranker on a dataset's own faults.
//! 5. [`eval`]: the evaluations `aiops eval` prints.

// Leaves.
pub mod error;
pub mod progress;

// Stages, in the order an evaluation uses them (one per group, so rustfmt keeps the order).
pub mod datasets;
// 2.
pub mod detectors;
// 3.
pub mod scoring;
// 4.
pub mod cross_validation;
// 5.
pub mod eval;

pub use error::{Error, Result};
