//! `aiops eval`: quality figures on labelled data, beside the published baselines. The
//! evaluations themselves are the benchmark crate's; this command parses, runs one, prints its
//! tables and writes its JSON.

use std::path::PathBuf;

use aiops_bench::eval::anomaly::{self, AnomalyDataset, AnomalyOptions};
use aiops_bench::eval::rca::{self, RcaDataset, RcaOptions};
use aiops_bench::eval::Report;
use aiops_models::rca::gnn::GnnConfig;
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::console::Bar;

/// Options of `aiops eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalCommand,
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Root-cause ranking: AC@1/3/5 and Avg@5 per method, beside published figures.
    Rca(RcaArgs),
    /// Anomaly detection: NAB score or F1 per detector, beside published figures.
    Anomaly(AnomalyArgs),
}

/// Datasets `aiops eval rca` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
enum RcaDatasetArg {
    /// The built-in simulator: every fault type, several seeds and both topologies.
    Simulator,
    /// Nezha's TrainTicket traces, metrics and logs with 45 labelled faults.
    NezhaTrainticket,
}

/// Options of `aiops eval rca`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/eval_rca.txt"))]
struct RcaArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    dataset: RcaDatasetArg,
    #[command(flatten)]
    data: super::settings::DataRoot,
    /// Also rank with the GNN of this model directory (written by `aiops train --model gnn`).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// nezha-trainticket: also judge a GNN by K-fold cross-validation on the dataset's own
    /// faults (folds stratified by fault type; each fault ranked by a network trained on the
    /// other folds), as the `gnn (K-fold)` row.
    #[arg(long, value_name = "K")]
    cross_validate: Option<usize>,
    /// With --cross-validate: add the labelled incidents of N simulator seeds per topology
    /// (seeds 1001.., as `aiops train --model gnn --simulate N`) to every fold's training set.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "cross_validate"
    )]
    cv_simulate: u64,
    /// With --cross-validate: training passes per fold.
    #[arg(long, default_value_t = GnnConfig::default().epochs, requires = "cross_validate")]
    cv_epochs: usize,
    /// Drop the spans and logs: metrics-only operation (no traced graph; see
    /// graph.static_edges).
    #[arg(long)]
    metrics_only: bool,
    /// Drop the log records: traces and metrics only (the published "without logs" setting).
    #[arg(long, conflicts_with = "metrics_only")]
    without_logs: bool,
    /// nezha-trainticket: the live protocol, as the simulator is always judged: no ranking is
    /// triggered at the known fault time; each fault is judged by the first incident the
    /// detector raised itself within 5 minutes, and the report adds each fault type's detection
    /// delay and the false incidents per hour without a fault
    #[arg(long, conflicts_with = "cross_validate")]
    live: bool,
    /// Simulator: seeds per topology.
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// Simulator: simulated hours per run (a fault every 20 minutes).
    #[arg(long, default_value_t = 3)]
    hours: u64,
    /// Simulator: services per topology.
    #[arg(long, default_value_t = 16)]
    services: usize,
    /// Simulator: the fault kinds to rotate through, comma-separated (default: the five of
    /// `aiops run`; `exception,early-return` judges faults inside one operation).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KINDS")]
    fault_kinds: Option<Vec<super::settings::FaultKindArg>>,
    /// Write the tables and per-case outcomes here as JSON.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Keep the job's output (rows, edges, incidents) under this directory, one folder per
    /// run, for inspection with `aiops query` / `aiops graph`; by default it is deleted.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Datasets `aiops eval anomaly` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
enum AnomalyDatasetArg {
    /// Numenta Anomaly Benchmark: 58 univariate series, NAB scoring.
    Nab,
    /// InterFusion's ASD: 6 servers × 19 metrics, F1 and point-adjusted F1.
    Asd,
    /// The built-in simulator: minute-level F1 and detection delay per fault type.
    Simulator,
}

/// Options of `aiops eval anomaly`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/eval_anomaly.txt"))]
struct AnomalyArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    dataset: AnomalyDatasetArg,
    #[command(flatten)]
    data: super::settings::DataRoot,
    /// Seed of the forests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// ASD: judge the machines of this folder instead of `<data-root>/asd`; any folder in its
    /// layout (`<name>_train.csv`, `<name>_test.csv` with a label column, optional
    /// `<name>_interpretation.txt`).
    #[arg(long, value_name = "DIR")]
    asd_dir: Option<PathBuf>,
    /// Simulator: seeds per topology.
    #[arg(long, default_value_t = 2)]
    seeds: u64,
    /// Simulator: simulated hours evaluated per run (a fault every 20 minutes), after as many
    /// fault-free hours of history the model is trained on.
    #[arg(long, default_value_t = 3)]
    hours: u64,
    /// Simulator: services per topology.
    #[arg(long, default_value_t = 16)]
    services: usize,
    /// Write the results here as JSON (default `eval-anomaly-<dataset>.json`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Runs an evaluation, prints its tables and writes its JSON.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let (report, out, prefix) = match args.what {
        EvalCommand::Rca(args) => {
            let report = rca::run(&rca_options(&args), &Bar::new(args.quiet))?;
            (report, args.out, "eval-rca")
        }
        EvalCommand::Anomaly(args) => {
            let report = anomaly::run(&anomaly_options(&args), &Bar::new(args.quiet))?;
            (report, args.out, "eval-anomaly")
        }
    };
    write(&report, out, prefix)
}

fn rca_options(args: &RcaArgs) -> RcaOptions {
    RcaOptions {
        dataset: match args.dataset {
            RcaDatasetArg::Simulator => RcaDataset::Simulator,
            RcaDatasetArg::NezhaTrainticket => RcaDataset::NezhaTrainticket,
        },
        data_root: args.data.root.clone(),
        models: args.models.clone(),
        cross_validate: args.cross_validate,
        cv_simulate: args.cv_simulate,
        cv_epochs: args.cv_epochs,
        metrics_only: args.metrics_only,
        without_logs: args.without_logs,
        live: args.live,
        seeds: args.seeds,
        hours: args.hours,
        services: args.services,
        fault_kinds: args
            .fault_kinds
            .as_ref()
            .map(|kinds| kinds.iter().map(|&k| k.into()).collect()),
        keep: args.keep.clone(),
    }
}

fn anomaly_options(args: &AnomalyArgs) -> AnomalyOptions {
    AnomalyOptions {
        dataset: match args.dataset {
            AnomalyDatasetArg::Nab => AnomalyDataset::Nab,
            AnomalyDatasetArg::Asd => AnomalyDataset::Asd,
            AnomalyDatasetArg::Simulator => AnomalyDataset::Simulator,
        },
        data_root: args.data.root.clone(),
        asd_dir: args.asd_dir.clone(),
        seed: args.seed,
        seeds: args.seeds,
        hours: args.hours,
        services: args.services,
    }
}

/// Prints the report's tables and writes its JSON to `out` (default `<prefix>-<name>.json`).
fn write(report: &Report, out: Option<PathBuf>, prefix: &str) -> anyhow::Result<()> {
    print!("{}", report.text);
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{prefix}-{}.json", report.name)));
    std::fs::write(&out, serde_json::to_string_pretty(&report.json)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    println!("written to {}", out.display());
    Ok(())
}
