//! `aiops train --model gnn`: learn root-cause ranking from incidents whose cause is known.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aiops_engine::job::offline::{gnn_training_runs, simulated_incidents};
use aiops_engine::sink::stored::labelled_incidents;
use aiops_models::model_file::TrainingInfo;
use aiops_models::rca::gnn::{Gnn, GnnConfig, LabelledIncident};
use aiops_models::rca::{CallGraph, RootCauseRanker};
use anyhow::{bail, Context};

/// What the GNN training needs from `aiops train`'s options.
pub struct GnnArgs {
    /// Comma-separated data directories with `rca_inputs/` and `ground_truth.csv`.
    pub from: String,
    /// Model directory.
    pub out: PathBuf,
    /// Seeds × both topologies to simulate here.
    pub simulate: u64,
    /// Simulated hours per run.
    pub hours: u64,
    /// Training passes.
    pub epochs: usize,
    /// Seed.
    pub seed: u64,
    /// No progress bars.
    pub quiet: bool,
}

/// Collects labelled incidents, trains, and writes the next `gnn` version.
pub fn run(args: &GnnArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut incidents = Vec::new();
    let mut sources = Vec::new();
    for dir in args.from.split(',').map(Path::new) {
        if dir.join("rca_inputs").is_dir() {
            incidents.extend(
                labelled_incidents(dir).with_context(|| format!("reading {}", dir.display()))?,
            );
            sources.push(dir.display().to_string());
        } else if args.simulate == 0 {
            bail!(
                "{} has no rca_inputs/: run the job with rca.record_inputs = true (and a ground_truth.csv, \
                 which simulator runs write), or pass --simulate N",
                dir.display()
            );
        }
    }
    if args.simulate > 0 {
        incidents.extend(simulated(args.simulate, args.hours, args.quiet)?);
        sources.push(format!(
            "simulator: shop and trainticket x seeds 1..={}, {} h each",
            args.simulate, args.hours
        ));
    }
    if incidents.is_empty() {
        bail!("no labelled incident to train on (faults that raised no incident are skipped)");
    }
    let config = GnnConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..Default::default()
    };
    let gnn = Gnn::new(config.hidden, config.layers, config.seed)?;
    let bar = crate::console::counted_bar(args.quiet, config.epochs as u64, "epochs");
    let used = gnn.train(&incidents, &config, |_, loss| {
        bar.set_message(format!("loss {loss:.4}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let accuracy = training_accuracy(&gnn, &incidents);
    let training = TrainingInfo {
        source: sources.join("; "),
        from: String::new(),
        to: String::new(),
        rows: used,
        data_hash: String::new(),
    };
    let evaluation = [
        ("training_incidents".to_string(), used as f64),
        ("training_ac1".to_string(), accuracy),
    ]
    .into_iter()
    .collect();
    let path = gnn
        .save(
            &args.out,
            &config,
            training,
            evaluation,
            chrono::Utc::now().to_rfc3339(),
        )
        .context("writing the model")?;
    println!(
        "trained gnn on {used} labelled incidents in {:.1}s; AC@1 on them {:.1}%",
        started.elapsed().as_secs_f64(),
        100.0 * accuracy
    );
    println!("wrote {}", path.display());
    Ok(())
}

fn training_accuracy(gnn: &Gnn, incidents: &[LabelledIncident]) -> f64 {
    let hits = incidents
        .iter()
        .filter(|incident| {
            let graph = CallGraph::new(&incident.edges, std::iter::empty());
            gnn.rank(&graph, &incident.evidence)
                .first()
                .is_some_and(|c| c.service == incident.cause)
        })
        .count();
    hits as f64 / incidents.len().max(1) as f64
}

/// Runs the simulator over both topologies and `seeds` seeds (`hours` each) with rankings
/// recorded, and labels each fault's first ranking with its service.
fn simulated(seeds: u64, hours: u64, quiet: bool) -> anyhow::Result<Vec<LabelledIncident>> {
    let runs = gnn_training_runs(seeds);
    let bar = crate::console::counted_bar(quiet, runs.len() as u64, "simulating");
    let mut incidents = Vec::new();
    for run in runs {
        bar.set_message(format!("simulating {:?} seed {}", run.0, run.1));
        let dir = tempfile::tempdir()?;
        incidents.extend(simulated_incidents(run, hours, dir.path())?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(incidents)
}
