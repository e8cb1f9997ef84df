//! The job over a bounded input into a directory: what training runs and evaluations need.
//!
//! `aiops train --model gnn --simulate N` and the benchmark crate's evaluations run the
//! unchanged job (decode → features → graph → detection → RCA) on the simulator or a replayed
//! dataset, with its output in a data directory of Parquet and JSON lines and no servers,
//! then read what it wrote.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use aiops_models::rca::gnn::LabelledIncident;

use super::{run, simulator, JobOptions};
use crate::config::{JobConfig, Shape, SourceKind};
use crate::error::{Error, Result};
use crate::sink::stored::labelled_incidents;
use crate::stats::Stats;
use crate::time::Pane;

/// The simulator as the job's source: `shape` with `services` services and `seed`, from
/// `start` (RFC 3339) for `hours`, as fast as possible.
pub fn simulation(
    shape: Shape,
    seed: u64,
    services: usize,
    start: &str,
    hours: u64,
) -> Result<JobConfig> {
    let mut config = JobConfig::load(None, Vec::new())?;
    config.source.kind = SourceKind::Simulator;
    let sim = &mut config.simulator;
    (sim.topology, sim.seed, sim.services, sim.speed) = (shape, seed, services, 0.0);
    sim.start = start.into();
    sim.duration = Some(format!("{hours}h"));
    Ok(config)
}

/// Runs `options` (its configuration's data directory set to `dir`, no database, no metrics
/// endpoint) to the end of its input.
pub fn run_into(mut options: JobOptions, dir: &Path) -> Result<()> {
    let config = &mut options.config;
    config.sink.data_dir = dir.to_path_buf();
    config.metrics.addr = None;
    config.postgres.url = None;
    let (stats, stop) = (Arc::new(Stats::default()), Arc::new(AtomicBool::new(false)));
    run(options, stats, stop)
}

/// Runs `config` with RCA also triggered at `triggers`, into `dir` (see [`run_into`]).
pub fn run_config_into(config: JobConfig, triggers: BTreeSet<Pane>, dir: &Path) -> Result<()> {
    run_into(JobOptions::new(config, "eval").triggered_at(triggers), dir)
}

/// The simulated runs `aiops train --model gnn --simulate seeds` trains on: both topologies
/// × seeds 1001..=1000 + `seeds`, away from the evaluations' seeds (1..=4), so `aiops eval
/// rca --dataset simulator` judges a model on fleets it was not trained on.
pub fn gnn_training_runs(seeds: u64) -> Vec<(Shape, u64)> {
    [Shape::Shop, Shape::Trainticket]
        .into_iter()
        .flat_map(|shape| (1..=seeds).map(move |seed| (shape, 1000 + seed)))
        .collect()
}

/// Labelled incidents of one simulated run of `hours` (16 services, a fault every 20
/// minutes) with its output in `dir`, rankings recorded: each fault's first ranking,
/// labelled with its service.
pub fn simulated_incidents(
    (shape, seed): (Shape, u64),
    hours: u64,
    dir: &Path,
) -> Result<Vec<LabelledIncident>> {
    let mut config = simulation(shape, seed, 16, "2026-01-05T08:00:00Z", hours)?;
    config.rca.record_inputs = true;
    let truth = dir.join("ground_truth.csv");
    let csv = simulator(&config, 0)?.ground_truth_csv();
    std::fs::write(&truth, csv).map_err(|e| Error::io(&truth, e))?;
    run_config_into(config, BTreeSet::new(), dir)?;
    labelled_incidents(dir)
}
