//! `aiops train`: fit a model on stored feature rows and write it as a new model version.

use std::path::PathBuf;
use std::time::Instant;

use crate::console::counted_bar as bar;
use aiops_engine::score::inputs::{input_floors, model_inputs};
use aiops_engine::sink::stored::{is_database_url, load_rows};
use aiops_models::fit::{fit, ModelSpec, Progress, TrainingSet};
use aiops_models::iforest::IsolationForestConfig;
use aiops_models::lstm::LstmConfig;
use aiops_models::model_file::{self, ModelKind, ModelMetadata, TrainingInfo};
use aiops_models::neighbours::NeighbourConfig;
use aiops_models::sequence_model::SequenceModel;
use aiops_models::service_model::{service_count, ServiceModel, TrainingRow};
use aiops_models::threshold::{alarms_per_hour, ThresholdRule, DEFAULT_ALARMS_PER_HOUR};
use aiops_models::window_model::WindowModel;
use anyhow::{bail, Context};
use clap::Args;

use super::settings::micros;

/// Options of `aiops train`.
#[derive(Args, Debug)]
#[command(after_help = include_str!("help/train.txt"))]
pub struct TrainArgs {
    /// The model to fit.
    #[arg(long, value_enum, default_value = "isolation-forest")]
    model: ModelArg,
    /// A data directory of `aiops run` (Parquet) or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL", default_value = "data")]
    from: String,
    /// Minutes to train on, FROM..TO in RFC 3339 (TO exclusive; either side may be left open).
    #[arg(long, value_name = "FROM..TO", default_value = "..")]
    range: String,
    /// Model directory; the model is written as its next version.
    #[arg(long, value_name = "DIR", default_value = "models")]
    out: PathBuf,
    /// Trees of the forest.
    #[arg(long, default_value_t = 100)]
    trees: usize,
    /// Rows each tree is grown on.
    #[arg(long, default_value_t = 256)]
    subsample: usize,
    /// Expected share of anomalous rows in the training range (sets the threshold).
    #[arg(long, default_value_t = 0.01)]
    contamination: f64,
    /// LSTM and neighbours: false alarms an hour the threshold allows on a healthy fleet of
    /// the training range's services. The risk per row is this over 60 × services, and the
    /// threshold the score (LSTM: forecast error) a normal row exceeds with that probability,
    /// from a generalized Pareto fit of the training scores above their 98th percentile (with
    /// too few distinct scores there, the --contamination quantile).
    #[arg(long, value_name = "ALARMS", default_value_t = DEFAULT_ALARMS_PER_HOUR)]
    alarms_per_hour: f64,
    /// LSTM and neighbours: the risk per row itself, instead of --alarms-per-hour; 0 uses
    /// --contamination.
    #[arg(long, conflicts_with = "alarms_per_hour")]
    risk: Option<f64>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// LSTM: units per layer.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// LSTM: stacked layers.
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// LSTM: minutes per training window. Scoring restarts each service's state every this
    /// many minutes (within 12..=48), so a forecast never rests on more context than training
    /// gave and a restarted job rebuilds the state from its replayed hour.
    #[arg(long, default_value_t = 60)]
    window: usize,
    /// LSTM: passes over the training windows.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// LSTM: AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    learning_rate: f64,
    /// GNN: also train on this many seeds × both simulator topologies, simulated here with
    /// rankings recorded (each run: --hours of a 16-service fleet, a fault every 20 minutes).
    #[arg(long, value_name = "SEEDS", default_value_t = 0)]
    simulate: u64,
    /// GNN with --simulate: simulated hours per run.
    #[arg(long, default_value_t = 3)]
    hours: u64,
    /// GNN: passes over the training incidents.
    #[arg(long, default_value_t = 60)]
    gnn_epochs: usize,
    /// Train only if the newest model in --out sees input drift: some input's PSI on the range
    /// above this (0.2 if given without a value). Without a model in --out, train.
    #[arg(long, value_name = "PSI", num_args = 0..=1, default_missing_value = "0.2")]
    if_drifted: Option<f64>,
    /// No progress bar (the summary is still printed).
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// `--model`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ModelArg {
    /// IsolationForest over per-service scaled features.
    IsolationForest,
    /// LSTM forecaster of each service's next minute, scored by its forecast error.
    Lstm,
    /// Window neighbours: each service's (previous minute, minute) per input against every
    /// such pair in training (5th-nearest distance over its 99th percentile in training, mean
    /// over inputs; threshold for --alarms-per-hour, like the LSTM's). No randomness: --seed
    /// is not used.
    Neighbours,
    /// Graph network ranking root causes, trained on labelled incidents: data directories
    /// (--from, comma-separated) of runs with rca.record_inputs = true and a ground_truth.csv,
    /// and/or --simulate N.
    Gnn,
}

impl TrainArgs {
    fn gnn(&self) -> super::train_gnn::GnnArgs {
        super::train_gnn::GnnArgs {
            from: self.from.clone(),
            out: self.out.clone(),
            simulate: self.simulate,
            hours: self.hours,
            epochs: self.gnn_epochs,
            seed: self.seed,
            quiet: self.quiet,
        }
    }
}

fn parse_range(text: &str) -> anyhow::Result<(i64, i64)> {
    let Some((from, to)) = text.split_once("..") else {
        bail!("--range {text:?} is not FROM..TO");
    };
    let from = if from.is_empty() {
        i64::MIN
    } else {
        micros(from, "--range start")?
    };
    let to = if to.is_empty() {
        i64::MAX
    } else {
        micros(to, "--range end")?
    };
    if from >= to {
        bail!("--range {text:?} is empty: its start is not before its end");
    }
    Ok((from, to))
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map_or_else(|| us.to_string(), |t| t.to_rfc3339())
}

/// A URL without its password, for metadata and messages.
fn redact(from: &str) -> String {
    if !is_database_url(from) {
        return from.to_string();
    }
    match (from.find("://"), from.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &from[scheme + 3..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &from[..scheme + 3], &from[at + 1..])
        }
        _ => from.to_string(),
    }
}

/// Trains and writes the model.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let kind = match args.model {
        ModelArg::Lstm => ModelKind::Lstm,
        ModelArg::Gnn => return super::train_gnn::run(&args.gnn()),
        ModelArg::IsolationForest => ModelKind::IsolationForest,
        ModelArg::Neighbours => ModelKind::Neighbours,
    };
    let started = Instant::now();
    let (from, to) = parse_range(&args.range)?;
    let inputs: Vec<String> = model_inputs().into_iter().map(String::from).collect();
    let floors = input_floors(&inputs).context("model inputs without a spread floor")?;
    let loading = bar(args.quiet, 1, "reading rows");
    let stored = load_rows(&args.from, from..to, &inputs, &mut |done, total| {
        loading.set_length(total as u64);
        loading.set_position(done as u64);
    })
    .with_context(|| format!("reading training rows from {}", redact(&args.from)))?;
    loading.finish_and_clear();
    let rows = stored.rows;
    // An open side of the range is recorded as the data's own first or last minute.
    let (first, last) = stored.span.unwrap_or((from, to));
    let (from, to) = (from.max(first), to.min(last + 60_000_000));
    if let Some(threshold) = args.if_drifted {
        if !drifted(&args, kind, &inputs, &rows, threshold)? {
            return Ok(());
        }
    }
    let training = TrainingInfo::new(redact(&args.from), rfc3339(from), rfc3339(to));
    let spec = spec(&args, kind, &rows)?;
    let set = TrainingSet {
        inputs: &inputs,
        floors: &floors,
        rows: &rows,
    };
    let progress = match spec {
        ModelSpec::IsolationForest(config) => bar(args.quiet, config.trees as u64, "growing trees"),
        ModelSpec::Lstm(config, _) => bar(args.quiet, config.epochs as u64, "epochs"),
        ModelSpec::Neighbours(..) => bar(args.quiet, 1, "indexing windows"),
    };
    let mut model = fit(&spec, set, training, |step| {
        if let Progress::Epoch(loss) = step {
            progress.set_message(format!("loss {loss:.4}"));
        }
        progress.inc(1);
    })
    .with_context(|| format!("training on {} rows", rows.len()))?;
    progress.finish_and_clear();
    let path = model
        .save(&args.out, chrono::Utc::now().to_rfc3339())
        .context("writing the model")?;
    summary(model.metadata(), &path, started);
    Ok(())
}

/// What `--model` and its options ask to fit.
fn spec(args: &TrainArgs, kind: ModelKind, rows: &[TrainingRow]) -> anyhow::Result<ModelSpec> {
    Ok(match kind {
        ModelKind::Lstm => ModelSpec::Lstm(
            LstmConfig {
                hidden: args.hidden,
                layers: args.layers,
                window: args.window,
                epochs: args.epochs,
                learning_rate: args.learning_rate,
                seed: args.seed,
                ..Default::default()
            },
            threshold_rule(args, rows)?,
        ),
        ModelKind::Neighbours => {
            ModelSpec::Neighbours(NeighbourConfig::default(), threshold_rule(args, rows)?)
        }
        _ => ModelSpec::IsolationForest(IsolationForestConfig {
            trees: args.trees,
            subsample: args.subsample,
            contamination: args.contamination,
            seed: args.seed,
        }),
    })
}

/// The LSTM's and the window-neighbour model's threshold rule from --alarms-per-hour or
/// --risk, and --contamination, for the services of the training `rows`; a budget the tail
/// fit cannot serve is named.
fn threshold_rule(args: &TrainArgs, rows: &[TrainingRow]) -> anyhow::Result<ThresholdRule> {
    let rule = match args.risk {
        Some(0.0) => ThresholdRule::Contamination(args.contamination),
        Some(risk) => ThresholdRule::Tail {
            risk,
            fallback: args.contamination,
        },
        None => {
            let services = service_count(rows);
            let rule =
                ThresholdRule::for_alarm_budget(args.alarms_per_hour, services, args.contamination);
            rule.validate().map_err(|e| {
                anyhow::anyhow!(
                    "--alarms-per-hour {} over {services} services: {e}; allow fewer alarms or \
                     give --risk",
                    args.alarms_per_hour
                )
            })?;
            rule
        }
    };
    Ok(rule)
}

/// Whether the newest model in `--out` sees drift above `threshold` on `rows` (prints why).
fn drifted(
    args: &TrainArgs,
    kind: ModelKind,
    inputs: &[String],
    rows: &[TrainingRow],
    threshold: f64,
) -> anyhow::Result<bool> {
    let newest = match model_file::versions(&args.out, kind) {
        Ok(versions) => versions.into_iter().last(),
        Err(_) => None,
    };
    let Some((version, path)) = newest else {
        println!("no model in {} yet: training one", args.out.display());
        return Ok(true);
    };
    let names: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let drift = match kind {
        ModelKind::Lstm => aiops_models::service_model::drift_of(
            SequenceModel::load(&path, &names)?.metadata(),
            rows,
        ),
        ModelKind::Neighbours => aiops_models::service_model::drift_of(
            WindowModel::load(&path, &names)?.metadata(),
            rows,
        ),
        _ => ServiceModel::load(&path, &names)?.drift(rows),
    };
    let Some((input, psi)) = drift.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
        bail!(
            "no row in the range belongs to a service model v{version} knows: nothing to compare"
        );
    };
    if *psi <= threshold {
        println!(
            "no drift: largest input PSI {psi:.3} ({input}) <= {threshold}; keeping v{version}"
        );
        return Ok(false);
    }
    println!("drift: input PSI {psi:.3} ({input}) > {threshold} against v{version}: retraining");
    Ok(true)
}

/// How the threshold was chosen, for the summary: a tail fit at the risk, or the
/// contamination quantile (said to be a fallback when a tail fit was asked for).
fn threshold_origin(meta: &ModelMetadata) -> String {
    let share = meta
        .params
        .get("contamination")
        .copied()
        .unwrap_or_default();
    match (
        meta.params.get("risk"),
        meta.evaluation.get("threshold_from_tail"),
    ) {
        (Some(risk), Some(tail)) if *tail == 1.0 => format!(
            " (tail fit, risk {risk:.2e}: about {:.1} false alarms an hour on these {} services)",
            alarms_per_hour(*risk, meta.scalers.len()),
            meta.scalers.len()
        ),
        (Some(_), _) => format!(
            " ({}th percentile: too few distinct training errors for a tail fit)",
            100.0 * (1.0 - share)
        ),
        (None, _) => format!(" ({}th percentile)", 100.0 * (1.0 - share)),
    }
}

fn summary(meta: &ModelMetadata, path: &std::path::Path, started: Instant) {
    println!(
        "trained {} v{} on {} rows of {} services ({} .. {}) in {:.1}s",
        meta.kind.name(),
        meta.version,
        meta.training.rows,
        meta.scalers.len(),
        meta.training.from,
        meta.training.to,
        started.elapsed().as_secs_f64()
    );
    let figures: Vec<String> = meta
        .evaluation
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect();
    println!(
        "threshold {:.4}{}; {}; data hash {}",
        meta.threshold,
        threshold_origin(meta),
        figures.join(", "),
        meta.training.data_hash
    );
    println!("wrote {}", path.display());
}
