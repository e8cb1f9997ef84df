//! `aiops eval anomaly`: detection quality of our detectors on the public benchmarks (NAB,
//! ASD) and on simulated fleets, beside the published figures.

mod asd;
mod held_out;
mod nab;
mod simulator;

use std::path::PathBuf;

use super::Report;
use crate::error::Result;
use crate::progress::Progress;

/// Datasets `aiops eval anomaly` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyDataset {
    /// Numenta Anomaly Benchmark: 58 univariate series, NAB scoring.
    Nab,
    /// InterFusion's ASD: 6 servers × 19 metrics, F1 and point-adjusted F1.
    Asd,
    /// The built-in simulator: minute-level F1 and detection delay per fault type.
    Simulator,
}

/// What an anomaly evaluation runs.
#[derive(Debug, Clone)]
pub struct AnomalyOptions {
    /// The dataset.
    pub dataset: AnomalyDataset,
    /// Folder of the public datasets.
    pub data_root: PathBuf,
    /// ASD: a folder in its layout (`<name>_train.csv`, `<name>_test.csv`, optional
    /// `<name>_interpretation.txt`) instead of `<data_root>/asd`.
    pub asd_dir: Option<PathBuf>,
    /// Seed of the forests (and the LSTM).
    pub seed: u64,
    /// Simulator: seeds per topology.
    pub seeds: u64,
    /// Simulator: simulated hours evaluated per run, after as many fault-free hours of history
    /// the models are trained on.
    pub hours: u64,
    /// Simulator: services per topology.
    pub services: usize,
}

/// Runs the evaluation.
pub fn run(options: &AnomalyOptions, progress: &dyn Progress) -> Result<Report> {
    match options.dataset {
        AnomalyDataset::Nab => nab::run(options, progress),
        AnomalyDataset::Asd => asd::run(options, progress),
        AnomalyDataset::Simulator => simulator::run(options, progress),
    }
}
