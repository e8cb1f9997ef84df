//! `aiops eval`: quality figures on labelled data, beside the published baselines.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use aiops_engine::config::{JobConfig, SourceKind};
use aiops_engine::eval::cross_validation;
use aiops_engine::eval::rca::{self, Case, Outcome, Pick};
use aiops_engine::job::{self, ClusterOptions, JobOptions};
use aiops_engine::score::incidents::RankingInput;
use aiops_engine::score::Incident;
use aiops_engine::sim::topology::Shape;
use aiops_engine::sink::read_json_lines;
use aiops_engine::stats::Stats;
use aiops_models::rca::gnn::GnnConfig;
use aiops_models::rca::{AccuracyTable, METHODS};
use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

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
    Anomaly(super::eval_anomaly::AnomalyArgs),
}

/// Datasets `aiops eval rca` knows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
enum RcaDataset {
    /// The built-in simulator: every fault type, several seeds and both topologies.
    Simulator,
    /// Nezha's TrainTicket traces and metrics with 45 labelled faults.
    NezhaTrainticket,
}

/// Options of `aiops eval rca`.
#[derive(Args, Debug)]
#[command(
    after_help = "How a fault is judged:\n  simulator: the first incident raised within the fault's first 5 minutes \
(no incident: a miss), i.e. what an operator would have seen live.\n  nezha-trainticket: RCA is triggered at the minute after \
the labelled injection minute (the published protocol assumes the fault time is known); the dataset has traces only \
around faults.\n\nThe job runs unchanged (decode -> features -> graph -> detection -> RCA) on a temporary data directory; \
every method's top 5 is read from the incidents it wrote. Tables are printed and written as JSON."
)]
struct RcaArgs {
    /// The dataset.
    #[arg(long, value_enum)]
    dataset: RcaDataset,
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
    /// Drop the spans: metrics-only operation (no traced graph; see graph.static_edges).
    #[arg(long)]
    metrics_only: bool,
    /// Simulator: seeds per topology.
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// Simulator: simulated hours per run (a fault every 20 minutes).
    #[arg(long, default_value_t = 3)]
    hours: u64,
    /// Simulator: services per topology.
    #[arg(long, default_value_t = 16)]
    services: usize,
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

impl RcaArgs {
    /// The methods judged: the built-in ones, and the GNN with --models.
    fn methods(&self) -> Vec<String> {
        let mut methods: Vec<String> = METHODS.iter().map(|m| m.to_string()).collect();
        if self.models.is_some() {
            methods.push("gnn".into());
        }
        if let Some(folds) = self.cross_validate {
            methods.push(cross_validated(folds));
        }
        methods
    }

    fn use_models(&self, config: &mut JobConfig) {
        if let Some(dir) = &self.models {
            config.models.dir = dir.display().to_string();
        }
    }
}

/// Runs an evaluation.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    match args.what {
        EvalCommand::Rca(args) => rca_eval(args),
        EvalCommand::Anomaly(args) => super::eval_anomaly::run(args),
    }
}

fn rca_eval(args: RcaArgs) -> anyhow::Result<()> {
    if args.cross_validate.is_some() && args.dataset != RcaDataset::NezhaTrainticket {
        anyhow::bail!(
            "--cross-validate needs a dataset with its own labelled faults (nezha-trainticket); \
             on the simulator, train on other seeds with `aiops train --model gnn --simulate N`"
        );
    }
    let (dataset, outcomes) = match args.dataset {
        RcaDataset::Simulator => ("simulator", simulator_outcomes(&args)?),
        RcaDataset::NezhaTrainticket => ("nezha-trainticket", nezha_outcomes(&args)?),
    };
    // Published figures are for traces + metrics (+ logs); none apply to our simulator.
    let published: &[rca::Published] = match (args.dataset, args.metrics_only) {
        (RcaDataset::NezhaTrainticket, false) => &rca::NEZHA_PUBLISHED,
        _ => &[],
    };
    let name = match args.metrics_only {
        true => format!("{dataset}-metrics-only"),
        false => dataset.to_string(),
    };
    let name = name.as_str();
    let methods = args.methods();
    let tables = rca::tables(name, &outcomes, &as_strs(&methods), published);
    for table in &tables {
        println!("{}", table.render());
    }
    print_detection(&outcomes);
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("eval-rca-{name}.json")));
    write_json(&out, name, &tables, &outcomes)?;
    println!("written to {}", out.display());
    Ok(())
}

fn print_detection(outcomes: &[Outcome]) {
    let delays: Vec<i64> = outcomes.iter().filter_map(|o| o.delay_minutes).collect();
    let mean = delays.iter().sum::<i64>() as f64 / delays.len().max(1) as f64;
    println!(
        "incidents found for {} of {} faults; mean minutes from the fault's minute to the ranking used: {mean:.2}",
        delays.len(),
        outcomes.len()
    );
}

fn write_json(
    path: &Path,
    dataset: &str,
    tables: &[AccuracyTable],
    outcomes: &[Outcome],
) -> anyhow::Result<()> {
    let document =
        serde_json::json!({ "dataset": dataset, "tables": tables, "outcomes": outcomes });
    std::fs::write(path, serde_json::to_string_pretty(&document)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// Runs the job on `config` into `keep/<name>` or a temporary directory and returns its
/// incidents, and its ranking inputs when `rca.record_inputs` asked for them.
fn incidents_of(
    mut config: JobConfig,
    triggers: std::collections::BTreeSet<u64>,
    keep: Option<&Path>,
    name: &str,
) -> anyhow::Result<(Vec<Incident>, Vec<RankingInput>)> {
    // Deleted when dropped at the end of this function, unless the output is kept.
    let temporary;
    let dir = match keep {
        Some(keep) => {
            let dir = keep.join(name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("clearing {}", dir.display()))?;
            }
            dir
        }
        None => {
            temporary = tempfile::tempdir().context("creating a temporary data directory")?;
            temporary.path().to_path_buf()
        }
    };
    let recorded = config.rca.record_inputs;
    run_job(&mut config, triggers, &dir)?;
    let inputs = match recorded {
        true => read_json_lines(&dir.join("rca_inputs"))?,
        false => Vec::new(),
    };
    Ok((read_json_lines(&dir.join("incidents"))?, inputs))
}

fn as_strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Simulated hours per run of the incidents `--cv-simulate` adds (`aiops train`'s default).
const GNN_TRAINING_HOURS: u64 = 3;

/// The method name of the cross-validated GNN.
fn cross_validated(folds: usize) -> String {
    format!("gnn ({folds}-fold)")
}

/// Ranks of each case's service by the cross-validated GNN (see
/// [`aiops_engine::eval::cross_validation`]), judged on the same update as the other methods.
fn cross_validate(
    args: &RcaArgs,
    folds: usize,
    cases: &[Case],
    inputs: &[RankingInput],
    depth: usize,
) -> anyhow::Result<Vec<Option<usize>>> {
    let extra = match args.cv_simulate {
        0 => Vec::new(),
        seeds => super::train_gnn::simulated(seeds, GNN_TRAINING_HOURS, args.quiet)?,
    };
    let chosen = cross_validation::inputs_of(cases, inputs, NEZHA_RANKING_MINUTE);
    let bar = progress(folds as u64, args.quiet);
    bar.set_message(format!("cross-validating the gnn over {folds} folds"));
    let ranks = cross_validation::cross_validated_ranks(
        cases,
        &chosen,
        folds,
        &extra,
        &GnnConfig {
            epochs: args.cv_epochs,
            ..GnnConfig::default()
        },
        |_, _| bar.inc(1),
    )?;
    bar.finish_and_clear();
    // As deep as the other methods' rankings go (the incidents keep their top `depth`), so
    // the outcomes of every method mean the same.
    Ok(ranks
        .into_iter()
        .map(|rank| rank.filter(|r| *r <= depth))
        .collect())
}

/// The simulator as the job's source: `shape` with `services` services and `seed`, from
/// `start` for `hours`, as fast as possible.
pub(super) fn sim_config(
    shape: Shape,
    seed: u64,
    services: usize,
    start: &str,
    hours: u64,
) -> anyhow::Result<JobConfig> {
    let mut config = JobConfig::load(None, Vec::new())?;
    config.source.kind = SourceKind::Simulator;
    let sim = &mut config.simulator;
    (sim.topology, sim.seed, sim.services, sim.speed) = (shape, seed, services, 0.0);
    sim.start = start.into();
    sim.duration = format!("{hours}h");
    Ok(config)
}

/// Runs the job on `config` with its output in `dir` (Parquet and JSON lines, no servers).
pub(super) fn run_job(
    config: &mut JobConfig,
    triggers: std::collections::BTreeSet<u64>,
    dir: &Path,
) -> anyhow::Result<()> {
    config.sink.data_dir = dir.to_path_buf();
    config.metrics.addr = String::new();
    config.postgres.url = String::new();
    let options = JobOptions {
        config: config.clone(),
        cluster: ClusterOptions::default(),
        run_id: "eval".into(),
        backfill: None,
        rca_triggers: triggers,
    };
    job::run(
        options,
        Arc::new(Stats::default()),
        Arc::new(AtomicBool::new(false)),
    )
    .context("the job failed")
}

pub(super) fn progress(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} runs, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn simulator_outcomes(args: &RcaArgs) -> anyhow::Result<Vec<Outcome>> {
    let runs: Vec<(Shape, u64)> = [Shape::Shop, Shape::Trainticket]
        .into_iter()
        .flat_map(|shape| (1..=args.seeds).map(move |seed| (shape, seed)))
        .collect();
    let bar = progress(runs.len() as u64, args.quiet);
    let mut outcomes = Vec::new();
    for (shape, seed) in runs {
        bar.set_message(format!("{shape:?} seed {seed}"));
        let mut config = sim_config(
            shape,
            seed,
            args.services,
            "2026-01-05T08:00:00Z",
            args.hours,
        )?;
        config.source.traces = !args.metrics_only;
        args.use_models(&mut config);
        let cases: Vec<Case> = rca::simulator_cases(&job::simulator(&config, 0)?);
        let duration = config.simulator.fault_duration_minutes as i64;
        let name = format!("{shape:?}-seed{seed}").to_lowercase();
        let (incidents, _) = incidents_of(config, Default::default(), args.keep.as_deref(), &name)?;
        outcomes.extend(rca::judge(
            &cases,
            &incidents,
            &as_strs(&args.methods()),
            Pick::FirstWithin(duration),
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(outcomes)
}

/// Nezha is judged by the ranking of the minute after the fault's (the published protocol).
const NEZHA_RANKING_MINUTE: i64 = 1;

fn nezha_outcomes(args: &RcaArgs) -> anyhow::Result<Vec<Outcome>> {
    let root = args.data.root.join("nezha-trainticket");
    let cases = rca::nezha_cases(&root).with_context(|| {
        format!(
            "reading the Nezha fault lists under {} (see --data-root)",
            root.display()
        )
    })?;
    let triggers = cases
        .iter()
        .map(|c| (c.start_minute_us() / 60_000_000) as u64 + 1)
        .collect();
    let mut config = JobConfig::load(None, Vec::new())?;
    config.source.kind = SourceKind::Nezha;
    config.source.traces = !args.metrics_only;
    args.use_models(&mut config);
    config.source.path = root;
    // A trace file holds a minute of spans in no order, and metric rows lag their minute.
    config.watermark.max_out_of_orderness_ms = 120_000;
    let bar = progress(1, args.quiet);
    bar.set_message("replaying nezha-trainticket");
    config.rca.record_inputs = args.cross_validate.is_some();
    let depth = config.rca.top_k;
    let (incidents, inputs) =
        incidents_of(config, triggers, args.keep.as_deref(), "nezha-trainticket")?;
    bar.finish_and_clear();
    let methods = args.methods();
    let pick = Pick::At(NEZHA_RANKING_MINUTE);
    let mut outcomes = rca::judge(&cases, &incidents, &as_strs(&methods), pick);
    if let Some(folds) = args.cross_validate {
        let ranks = cross_validate(args, folds, &cases, &inputs, depth)?;
        for (outcome, rank) in outcomes.iter_mut().zip(ranks) {
            outcome.ranks.insert(cross_validated(folds), rank);
        }
    }
    Ok(outcomes)
}
